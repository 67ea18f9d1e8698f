/* oauth: the instance as an OAuth 2.0 authorization server: /oauth_token.do (password,
 * refresh_token, client_credentials, authorization_code with PKCE), /oauth_auth.do with real
 * login and consent pages, and /oauth_revoke_token.do. */
#ifndef SG_SIM_OAUTH_H
#define SG_SIM_OAUTH_H

#include "core/buf.h"
#include "http/form.h"
#include "http/server.h"

#include <stdbool.h>
#include <time.h>

typedef struct sim_oauth sim_oauth;
struct sg_sim;

sim_oauth *sim_oauth_new(void);
void sim_oauth_free(sim_oauth *o);

/* A signed-in browser (the glide_session_store cookie), shared by the consent page and the
 * instance's own pages. Kept in memory; a restart signs everyone out. */
typedef struct sim_session {
    char id[33];
    char user_id[33];
    char csrf[33]; /* sysparm_ck: every form that changes something carries it */
    time_t expires;
} sim_session;

/* The request's live session, if any. */
bool sim_session_of(struct sg_sim *sim, sg_http_req *req, sim_session *out);
/* Starts a session for user_id and sets its cookie on the reply. */
void sim_session_new(struct sg_sim *sim, sg_http_req *req, const char *user_id, sim_session *out);
/* Ends the request's session (if any) and clears the cookie. */
void sim_session_end(struct sg_sim *sim, sg_http_req *req);

/* Writes <input type="hidden" name=... value=...>, both escaped (ui.c). */
void sim_html_hidden(sg_buf *b, const char *name, const char *value);

/* POST /login.do without OAuth parameters: the sign-in of the instance's own pages (ui.c). */
int sim_ui_login(struct sg_sim *sim, sg_http_req *req, const sg_form *f);

#endif
