/* linking: a user links their own ServiceNow account (OAuth authorization code with PKCE and
 * state, through /oauth-callback), so requests they raise are opened for them. */
#ifndef SG_GATE_SN_LINKING_H
#define SG_GATE_SN_LINKING_H

#include "core/json.h"
#include "gate/app.h"
#include "gate/governance/users.h"

#define SG_LINK_STATE_TTL 600

/* Starts a link: stores a fresh state and PKCE verifier, and returns the authorization URL to
 * send the browser to. *url is the caller's. */
int sg_link_start(sg_app *app, const sg_user *u, char **url);
/* Completes it from the callback's code and state: exchanges the code, asks oauth_userinfo
 * who the user is, and stores the link. *sn_user gets the ServiceNow user name (caller frees).
 * A missing, unknown, used or expired state is SG_EINVAL; a refused exchange SG_EAUTH. */
int sg_link_finish(sg_app *app, const char *code, const char *state, char **sn_user);
/* Forgets a pending authorization (the user denied it). */
void sg_link_cancel(sg_app *app, const char *state);
/* The user's link: {"linked":bool,"user_name","sys_id","linked_at"}. */
int sg_link_get(sg_app *app, const sg_user *u, sg_json **out);

#endif
