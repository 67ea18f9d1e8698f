/* gate_env: a snowgate connected to a snowsim, for end-to-end tests of the ServiceNow path. */
#ifndef SG_TEST_GATE_ENV_H
#define SG_TEST_GATE_ENV_H

#include "e2e/pg_server.h"
#include "e2e/sim_helpers.h"
#include "store/store.h"

#define SVC_PASSWORD  "Svc-Pa55word!"
#define CLIENT_SECRET "snowgate-client-secret"

typedef struct g_env {
    h_sim sim;
    h_proc gate;
    char *dir;          /* snowgate's data directory */
    char *store_url;    /* its store: SQLite in dir, or PostgreSQL (SG_TEST_STORE) */
    char admin_h[128];  /* alice, admin: "Authorization: Bearer ..." */
    char client_id[64]; /* the OAuth app's, from step 1 */
    char role_id[33], svc_id[33];
    bool sn_admin_steward; /* g_sn_admin_is_steward ran */
} g_env;

extern g_env G;
/* INI lines g_start appends to snowgate's config (NULL: none), after its fast timers, which
 * they may override; set before g_start. Each starts with its [section]. */
extern const char *g_extra_ini;

/* Starts snowsim and snowgate (fast timers: webhook_timeout 5, test_interval 1,
 * reconcile_interval 1, jobs.lease 3) with admin alice, who gets alice_db_role when not NULL. */
void g_start(const char *tag, const char *alice_db_role);
/* g_start with these INI lines appended to snowgate's config for this start only. */
void g_start_with(const char *tag, const char *ini);
void g_stop(void);
/* (Re)starts snowgate on the same data directory (and on the same port, for a restart). */
void g_spawn_gate(void);
/* Adds a snowgate user through the CLI; header receives their Authorization header. */
void g_add_user(const char *name, const char *role, const char *db_role, char header[128]);
/* The same with an email (NULL: none), by which an unlinked user's ServiceNow account is known. */
void g_add_user_email(const char *name, const char *role, const char *db_role, const char *email,
                      char header[128]);

/* Sets a user's web sign-in password through the CLI. */
void g_set_password(const char *name, const char *password);
/* POST /api/v1/session as a browser would, with X-Forwarded-For when xff is not NULL; returns
 * the status, and the response in keep when not NULL (the caller frees it). */
long g_sign_in(const char *name, const char *password, const char *xff, sg_http_response *keep);

/* snowsim as its admin; fails the test unless the status is want. */
sg_json *g_sim_call(const char *method, const char *path, const char *body, long want);
/* snowgate as alice. */
long g_call(const char *method, const char *path, const char *body, sg_json **j);
/* The integration's status (GET /api/v1/integrations/servicenow), in a static buffer: one
 * thread only, and valid until the next call. */
const char *g_status(void);

/* The admin setup: the OAuth app and snowgate's settings (1, 2), the update set (3), the
 * service user (4), Connect and test (5: returns its HTTP status; *failed the first failing
 * check). g_connected runs them all and requires success. */
void g_steps_1_2(const char *secret_in_snowgate);
void g_step_3(void);
void g_step_4(bool with_role);
long g_connect(const char *password, sg_json **result, const char **failed);
void g_connected(void);
/* Connected, with a manual connection "desk" and the asset on it. */
void g_connected_with_asset(const char *asset);

/* The postgres connection "warehouse": the server on 127.0.0.1:port (database postgres, no
 * TLS), as snowgate_grantor with password. */
void g_add_warehouse(int port, const char *password);
/* How many records of a snowsim table match an encoded query (URL-escaped). */
int g_count_in_sn(const char *table, const char *query);

/* The webhook signing secret, read from snowgate's store with its master key
 * (DATA_DIR/master.key); free it with sg_secrets_free_plain(). The update set no longer holds
 * it: snowgate stores it in ServiceNow's encrypted property itself. */
char *g_stored_webhook_secret(const char *store_url, const char *data_dir);
/* The same for the G fixture. */
char *g_webhook_secret(void);
/* Makes secret the current signing secret in snowgate's store (no previous one), sealed with
 * its master key, behind the server's back: as another replica's rotation would. */
void g_set_webhook_secret(const char *secret);
/* The Standard Webhooks headers for body, signed with secret as the business rule signs, now:
 * "webhook-id: ...", "webhook-timestamp: ...", "webhook-signature: ..." lines. Returns SG_OK or
 * the signing error; thread-safe. */
typedef struct g_webhook_headers {
    char id[160], timestamp[64], signature[160];
} g_webhook_headers;
int g_webhook_sign(const char *secret, const char *msg_id, const char *body,
                   g_webhook_headers *out);
/* Posts body to base's /webhooks/servicenow, signed with secret as the business rule signs,
 * now; returns the HTTP status. */
long g_deliver_webhook(const char *base, const char *secret, const char *msg_id, const char *body);

/* The value of system property `name` in an update set XML (NULL if absent; caller frees). */
char *g_update_set_property(const char *xml, const char *name);

/* snowgate's own database, opened beside the server (not migrated); the caller closes it. */
sg_store *g_store_open(void);
/* Runs fn in a transaction on snowgate's own database, behind the server's back. */
void g_in_store(sg_store_fn fn, void *ctx);

/* Creates a request as alice and waits until it is mirrored; fills its ids. */
void g_request_mirrored(const char *body, char id[33], char sys_id[33]);
/* Waits until request id is mirrored; fills its ServiceNow sys_id. */
void g_wait_mirrored(const char *id, char sys_id[33]);
/* snowsim's admin is, to snowgate, the steward SN_ADMIN_STEWARD: a user with its email
 * (admin@example.com), not linked, made on the first call. A decision in ServiceNow counts only
 * when its approver is a snowgate user who may decide. */
#define SN_ADMIN_STEWARD "sn.admin"
void g_sn_admin_is_steward(void);
/* snowsim's admin decides the ServiceNow request through an approval record, with a comment
 * when not NULL (as the steward SN_ADMIN_STEWARD: g_sn_admin_is_steward); admin_id receives
 * the admin's sys_id. */
void g_sn_admin_decides(const char *sys_id, const char *state, const char *comment,
                        char admin_id[33]);
/* Waits until the request at path is no longer pending; returns it (the caller's). */
sg_json *g_wait_decided(const char *path);

/* Waits (up to two minutes) until request id is in state want; returns it (the caller's). */
sg_json *g_wait_state(const char *id, const char *want);
/* Waits until the request's decision_comment is `want` (a comment made in ServiceNow is read
 * after the decision is applied); returns the request. */
sg_json *g_wait_comment(const char *id, const char *want);
/* Waits until the ServiceNow request's field reads want. */
void g_wait_sn_field(const char *sys_id, const char *field, const char *want);
/* Whether a work note containing text appears on the ServiceNow request (waits for it). */
bool g_sn_work_note(const char *sys_id, const char *text);

#endif
