/* integration: the stored ServiceNow integration: instance, OAuth client, webhook secret and
 * connection status. Secrets are sealed with the master key and never leave this module in
 * plain text except to the code that uses them. */
#ifndef SG_GATE_SN_INTEGRATION_H
#define SG_GATE_SN_INTEGRATION_H

#include "core/json.h"
#include "gate/app.h"

#include <stdbool.h>

typedef struct sg_integration {
    bool configured;
    char instance_url[256];
    char client_id[256];
    /* not_configured, awaiting_connection: no working credentials yet.
     * connected: the last test passed.
     * degraded: working, but the last test's webhook round trip failed (events do not reach
     *   snowgate; the reconciler carries decisions meanwhile).
     * error: working before, but the last test failed another check.
     * needs_reconnect: ServiceNow refused the stored tokens; calls stop until the admin
     *   connects again. */
    char status[32];
    char status_reason[512];
    char sn_user[128];
    char last_test[8192];          /* JSON text, or "" */
    char grant_type[32];           /* "password" (refresh token) or "client_credentials" */
    int64_t refresh_expires;       /* unix seconds; 0 unknown */
    int64_t linked_count;          /* last known number of linked requests; -1 unknown */
    char progress[8192];           /* the Connect and test in progress or last run, JSON, or "" */
    char secret_rotated_at[32];    /* when the webhook secret was last rotated, or "" */
    int64_t previous_secret_until; /* unix seconds the previous secret is accepted to; 0 none */
} sg_integration;

/* Checks an instance URL as entered by an admin: https, a host name, no path, query,
 * fragment or credentials. allow_loopback (tests) also admits http://127.0.0.1:PORT.
 * The message says what was wrong and what to enter instead. */
int sg_instance_url_check(const char *url, bool allow_loopback);

int sg_integration_get(sg_app *app, sg_integration *out);
/* Every status above, NULL-terminated (for gauges and checks). */
extern const char *const sg_integration_statuses[];

/* Whether snowgate calls ServiceNow in this state: it holds credentials that were not
 * refused (connected, degraded, error). A failed check never stops the calls by itself: a
 * call that can succeed runs, and one that cannot fails on its own error. */
bool sg_integration_callable(const sg_integration *in);
/* Creates or updates the configuration. A new integration gets a fresh webhook secret; an
 * update keeps it. Stored state is unchanged on any error. */
int sg_integration_put(sg_app *app, const char *instance_url, const char *client_id,
                       const char *client_secret);
int sg_integration_delete(sg_app *app);
/* Records how far Connect and test has come ({"running","checks"}), so that the wizard can show
 * each check as it completes, whichever replica it asks. */
int sg_integration_set_progress(sg_app *app, const char *json);
/* What the webhook secrets (current and previous) are sealed to in the store. */
#define SG_INTEGRATION_SECRET_BINDING "integrations:servicenow:webhook_secret"

/* The webhook secrets as the store holds them, sealed: what the receiver's cache
 * (webhook_keys) compares to tell whether they changed, without decrypting anything. */
typedef struct sg_integration_sealed {
    char *current;          /* NULL: not configured */
    char *previous;         /* NULL: none */
    int64_t previous_until; /* unix seconds the previous one is accepted to (with previous) */
} sg_integration_sealed;
/* Reads them (one store read); *out is the caller's, released with sg_integration_sealed_clear. */
int sg_integration_webhook_sealed(sg_app *app, sg_integration_sealed *out);
void sg_integration_sealed_clear(sg_integration_sealed *s);

/* The current webhook signing secret ("whsec_<base64>"), read from the store (for ServiceNow;
 * the receiver uses webhook_keys); the caller frees it with sg_secrets_free_plain().
 * SG_ENOTFOUND when not configured. */
int sg_integration_webhook_secret(sg_app *app, char **out);
/* Rotation, first step: a new secret becomes current, and the old one stays accepted until
 * now + grace. SG_ECONFLICT while another rotation runs. *fresh (sg_secrets_free_plain) is the
 * new secret, for ServiceNow. */
int sg_integration_rotate_begin(sg_app *app, int64_t now, int64_t grace, char **fresh);
/* Last step. ok: ServiceNow took the new secret. !ok: the old secret is current again, and the
 * new one stays accepted until now + grace, since ServiceNow may have taken it all the same. */
int sg_integration_rotate_end(sg_app *app, bool ok, int64_t now, int64_t grace);
/* The OAuth client secret / stored refresh token (NULL when none); free with
 * sg_secrets_free_plain(). */
int sg_integration_client_secret(sg_app *app, char **out);
int sg_integration_refresh_token(sg_app *app, char **out);
/* Records the outcome of Connect and test or Run test. A NULL refresh_token keeps the stored
 * one; NULL sn_user keeps it; status and last_test (JSON text) are always written. */
int sg_integration_save_test(sg_app *app, const char *status, const char *reason,
                             const char *refresh_token, const char *sn_user, const char *sn_user_id,
                             const char *last_test);
/* Records how tokens are obtained (after a successful Connect and test) and, for the password
 * grant, when the refresh token runs out. */
int sg_integration_save_grant(sg_app *app, const char *grant_type, int64_t refresh_expires);
/* Records the last known number of linked requests. */
int sg_integration_save_linked(sg_app *app, int64_t count);

/* The integration as the API shows it (never a secret). */
sg_json *sg_integration_json(const sg_app *app, const sg_integration *in);

#endif
