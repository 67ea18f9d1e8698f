/* client: snowgate's ServiceNow REST client (OAuth tokens, Table API, Scripted REST), through
 * the outbound guard. */
#ifndef SG_GATE_SN_CLIENT_H
#define SG_GATE_SN_CLIENT_H

#include "core/json.h"
#include "gate/app.h"

typedef struct sn_tokens {
    char *access_token;
    char *refresh_token; /* NULL when the grant gives none */
    int64_t expires_in;
} sn_tokens;

void sn_tokens_free(sn_tokens *t);

/* POST /oauth_token.do. On a refusal (401) the error is SG_EAUTH. */
int sn_token_password(sg_app *app, const char *base, const char *client_id,
                      const char *client_secret, const char *user, const char *password,
                      sn_tokens *out);
int sn_token_refresh(sg_app *app, const char *base, const char *client_id,
                     const char *client_secret, const char *refresh_token, sn_tokens *out);

/* The client_credentials grant (tokens for the OAuth app's application user). */
int sn_token_client_credentials(sg_app *app, const char *base, const char *client_id,
                                const char *client_secret, sn_tokens *out);

/* The authorization_code grant with PKCE. */
int sn_token_code(sg_app *app, const char *base, const char *client_id, const char *client_secret,
                  const char *code, const char *redirect_uri, const char *verifier, sn_tokens *out);

/* Seconds left of a pause that ServiceNow's 429 Retry-After imposed on every call (0: none). */
int64_t sn_paused_for(sg_app *app);
/* The error a ServiceNow answer that is not the expected status maps to: SG_EUNAVAIL for a 429
 * or a 5xx (the job retries within the rate limit), SG_ENET otherwise. */
int sn_status_error(long status);
/* True when s is a ServiceNow sys_id: exactly 32 lowercase hex digits. Check every sys_id an
 * instance hands out before it goes into a URL path or a query. */
bool sn_is_sys_id(const char *s);

/* One REST call with a bearer token. Connections are kept alive (app->sn_pool). After a 429,
 * every call waits out its Retry-After (failing with SG_EUNAVAIL when that is more than two
 * seconds away). *status gets the HTTP status; *json the parsed body
 * (NULL when empty or not JSON; caller frees). Transport failures are errors. */
int sn_call(sg_app *app, const char *base, const char *token, const char *method, const char *path,
            const sg_json *body, long *status, sg_json **json);
/* The same with a person's token (account linking): it neither waits on nor starts the
 * service account's rate-limit pause. */
int sn_call_as_user(sg_app *app, const char *base, const char *token, const char *method,
                    const char *path, const sg_json *body, long *status, sg_json **json);

#endif
