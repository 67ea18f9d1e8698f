/* linking: a user links their own ServiceNow account (OAuth authorization code with PKCE and
 * state, through /oauth-callback), so requests they raise are opened for them. */
#ifndef SG_GATE_SN_LINKING_H
#define SG_GATE_SN_LINKING_H

#include "core/json.h"
#include "gate/app.h"
#include "gate/governance/users.h"

#define SG_LINK_STATE_TTL 600
/* The browser nonce: 32 random bytes as hex. */
#define SG_LINK_NONCE_LEN 64

/* Starts a link: stores a fresh state, PKCE verifier and the hash of a fresh browser nonce,
 * and returns the authorization URL to send the browser to. The nonce goes to the browser
 * that asked (a cookie only /oauth-callback sees), which binds the flow to it. *url is the
 * caller's. */
int sg_link_start(sg_app *app, const sg_user *u, char nonce[SG_LINK_NONCE_LEN + 1], char **url);
/* Completes it from the callback's code and state, and the nonce the browser presented
 * (NULL when it had none): takes the state (it is single-use whatever follows), refuses a
 * browser whose nonce does not match with SG_EFORBIDDEN, exchanges the code, asks
 * oauth_userinfo who the user is, and stores the link. *sn_user gets the ServiceNow user
 * name (caller frees). A missing, unknown, used or expired state is SG_EINVAL; a refused
 * exchange SG_EAUTH. */
int sg_link_finish(sg_app *app, const char *code, const char *state, const char *browser_nonce,
                   char **sn_user);
/* Forgets a pending authorization (the user denied it). */
void sg_link_cancel(sg_app *app, const char *state);
/* The user's link: {"linked":bool,"user_name","sys_id","linked_at"}. */
int sg_link_get(sg_app *app, const sg_user *u, sg_json **out);

#endif
