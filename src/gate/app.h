/* app: the one application context that main() builds and passes down. */
#ifndef SG_GATE_APP_H
#define SG_GATE_APP_H

#include "core/cidr.h"
#include "gate/config.h"
#include "gate/secrets.h"
#include "http/client.h"
#include "http/server.h"
#include "store/store.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct sg_app {
    sg_gate_config cfg; /* immutable once serving starts */
    sg_store *store;
    sg_http_server *http;
    sg_http_server *metrics_http;    /* metrics.listen, or NULL */
    atomic_bool leading;             /* runs the reconciler and expiry (sg_store_leader) */
    _Atomic int64_t reconcile_ok_at; /* unix seconds of the last completed reconciler run */
    sg_secrets secrets;
    /* The webhook receiver's cache of the decrypted signing secrets (servicenow/webhook_keys.c),
     * made by sg_app_open; NULL (commands, tests): every delivery reads them from the store. */
    struct sg_webhook_keys *webhook_keys;
    char public_url[256];         /* without a trailing slash */
    sg_cidr_list trusted_proxies; /* http.trusted_proxies, parsed by sg_app_open */
    /* The ServiceNow client's shared state (servicenow/client.c): kept-alive connections;
     * until when every call waits, after ServiceNow answered 429 with Retry-After; and whether
     * the last call failed (no answer, 5xx or 429), so that the next answer wakes waiting jobs. */
    sg_http_pool *sn_pool;
    /* The service account's access token, reused until near its expiry
     * (servicenow/token_cache.c), made by sg_app_open; NULL: a token per session. */
    struct sg_sn_token_cache *sn_tokens;
    /* The catalog item's sys_id once looked up (servicenow/mirror.c), made by sg_app_open;
     * NULL: every mirror job looks it up. */
    struct sg_mirror_item_cache *sn_item;
    /* Each connector kind's app-wide state (connectors/connectors.c: e.g. postgres's idle
     * connections), made by sg_app_open and freed by sg_app_close; NULL (commands, tests):
     * connectors keep nothing between calls. */
    struct sg_connector_states *connectors;
    _Atomic int64_t sn_paused_until_ms;
    atomic_bool sn_down;
    atomic_bool sn_wake; /* set by that success; the worker makes the waiting jobs due */
} sg_app;

/* The route table of every snowgate endpoint (api/routes.c), and the metrics listener's. */
extern const sg_http_route sg_gate_routes[];
extern const sg_http_route sg_gate_metrics_routes[];

/* Opens the data dir and the store (migrating it unless store.migrate is false, and then
 * refusing a schema older than this binary's) and the master key, gives the store the audit
 * chain's key and keys an audit chain written before it had one (sg_audit_key_chain). */
int sg_app_open(sg_app *app);
/* Derives the audit chain's key from app->secrets and sets it on app->store. */
int sg_app_set_audit_key(sg_app *app);
/* Only the store, as configured: for commands that need no keys (snowgate migrate). With
 * migrate, pending migrations are applied; with current, a schema older than this binary's
 * is refused. A newer one always is. */
int sg_app_open_store(sg_app *app, bool migrate, bool current);
/* Starts the HTTP server on cfg.listen. */
int sg_app_listen(sg_app *app);
/* Stops the HTTP servers (graceful: sg_http_server_stop with shutdown_grace). Idempotent. */
void sg_app_stop_http(sg_app *app);
/* Stops the server (graceful), closes the store, frees the config. */
void sg_app_close(sg_app *app);

#endif
