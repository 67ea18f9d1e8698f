/* connect: Connect and test, and Run test: the named checks that prove the ServiceNow side is
 * installed and working, each failure naming the setup step that fixes it. */
#ifndef SG_GATE_SN_CONNECT_H
#define SG_GATE_SN_CONNECT_H

#include "core/json.h"
#include "gate/app.h"

#include <stdbool.h>

/* Obtains tokens with the service account's password (then forgets it), runs every check,
 * creates and closes a sample request, and waits for its webhook. *result is
 * {"status","checks":[{"name","ok","message","fix"?}],"at"}; the caller frees it. Returns
 * SG_OK when every check passed; SG_ECONFLICT when one failed (result still filled). */
int sg_connect(sg_app *app, const char *username, const char *password, sg_json **result);
/* The same checks with the stored refresh token. */
int sg_connect_test(sg_app *app, sg_json **result);

/* An access token for the service account, from the stored refresh token, and the instance
 * URL. SG_ECONFLICT when not connected. *access is freed with sg_secrets_free_plain(). */
int sg_servicenow_session(sg_app *app, char base[256], char **access);

/* The Overview: snowgate's requests in ServiceNow, counted by request_state, with the latest
 * ones. The caller frees *out. */
int sg_servicenow_overview(sg_app *app, sg_json **out);

/* Disconnect: revokes the stored tokens in ServiceNow (best effort) and forgets the
 * integration and its secrets. */
int sg_servicenow_disconnect(sg_app *app);

#endif
