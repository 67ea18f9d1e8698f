/* config: the table of snowgate settings. INI key "a.b" is [a] b = ..., env SNOWGATE_A_B. */
#include "gate/config.h"

#include <stddef.h>

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"json", "logfmt", NULL};

#define F(field) offsetof(sg_gate_config, field)

const sg_cfg_key sg_gate_config_keys[] = {
    {"listen", SG_CFG_LISTEN, F(listen), "127.0.0.1:8080", 0, 0, NULL,
     "address and port to serve on (port 0 picks a free one)"},
    {"data_dir", SG_CFG_STR, F(data_dir), "./data", 0, 0, NULL,
     "directory for the database and keys"},
    {"public_url", SG_CFG_URL, F(public_url), NULL, 0, 0, NULL,
     "the URL browsers and ServiceNow use to reach snowgate"},
    {"store.url", SG_CFG_STR, F(store_url), NULL, 0, 0, NULL,
     "store location: sqlite:PATH (default sqlite:DATA_DIR/snowgate.db) or "
     "postgres://USER:PASSWORD@HOST:PORT/DB (replicas share one PostgreSQL)"},
    {"store.pool", SG_CFG_INT, F(store_pool), "0", 0, 1000, NULL,
     "store connections this process keeps (0: http.threads + jobs.workers + 3); with "
     "PostgreSQL, keep the replicas' sum under the server's max_connections"},
    {"store.statement_timeout", SG_CFG_INT, F(store_statement_timeout), "30", 1, 3600, NULL,
     "PostgreSQL: seconds a statement (or a wait for a lock) may take before it fails"},
    {"store.migrate", SG_CFG_BOOL, F(store_migrate), "true", 0, 0, NULL,
     "apply pending schema migrations at start; set false for rolling upgrades, where "
     "'snowgate migrate' applies them once and older replicas keep running"},
    {"log.level", SG_CFG_ENUM, F(log_level), "info", 0, 0, log_levels,
     "debug, info, warn or error"},
    {"log.format", SG_CFG_ENUM, F(log_format), "json", 0, 0, log_formats, "json or logfmt"},
    {"http.threads", SG_CFG_INT, F(http_threads), "8", 1, 256, NULL,
     "handler threads: requests that wait on the store or on ServiceNow run here, at most this "
     "many at once (the others queue); each may hold a store connection"},
    {"http.io_threads", SG_CFG_INT, F(http_io_threads), "0", 0, 64, NULL,
     "threads that read and write every connection (epoll); 0: one per CPU, at most 16"},
    {"http.max_body", SG_CFG_SIZE, F(http_max_body), "1M", 1024, 64 * 1024 * 1024, NULL,
     "largest accepted request body"},
    {"http.timeout", SG_CFG_INT, F(http_timeout), "30", 1, 3600, NULL,
     "idle connection timeout in seconds"},
    {"http.max_connections_per_client", SG_CFG_INT, F(http_max_per_client), "32", 0, 10000, NULL,
     "open connections one client address may hold; more are refused (trusted proxies are "
     "exempt; 0: no limit). This keeps one client from taking every connection slot"},
    {"http.header_timeout", SG_CFG_INT, F(http_header_timeout), "10", 0, 3600, NULL,
     "seconds a client may take to send a request's headers, or leave a kept-alive connection "
     "idle, before it is closed (0: only http.timeout applies)"},
    {"http.trusted_proxies", SG_CFG_STR, F(http_trusted_proxies), NULL, 0, 0, NULL,
     "address ranges of the reverse proxies in front of snowgate (e.g. 127.0.0.1/32, "
     "10.0.0.0/8): only from these is X-Forwarded-For read, for the client address that "
     "sign-in throttling, logs and the audit use; unset: the socket's peer is the client"},
    {"shutdown_grace", SG_CFG_INT, F(shutdown_grace), "10", 0, 600, NULL,
     "seconds in-flight requests get to finish on shutdown"},
    {"allow_insecure_loopback", SG_CFG_BOOL, F(allow_insecure_loopback), "false", 0, 0, NULL,
     "tests and demo only: allow http and loopback addresses for outbound calls"},
    {"master_key_file", SG_CFG_STR, F(master_key_file), NULL, 0, 0, NULL,
     "file with the 32-byte key that encrypts stored secrets (default DATA_DIR/master.key)"},
    {"servicenow.webhook_timeout", SG_CFG_INT, F(webhook_timeout), "20", 1, 600, NULL,
     "seconds Connect and test waits for the sample request's webhook"},
    {"servicenow.webhook_secret_grace", SG_CFG_INT, F(webhook_secret_grace), "3600", 0, 604800,
     NULL,
     "seconds the previous webhook signing secret is still accepted after a rotation, for "
     "events ServiceNow signed before it took the new one"},
    {"servicenow.test_interval", SG_CFG_INT, F(test_interval), "3600", 0, 604800, NULL,
     "seconds between scheduled Run tests while connected, degraded or in error (0: off)"},
    {"jobs.lease", SG_CFG_INT, F(job_lease), "120", 2, 3600, NULL,
     "seconds before a dead worker's job is taken over by another; a live worker renews the "
     "lease while its job runs"},
    {"jobs.workers", SG_CFG_INT, F(job_workers), "4", 1, 32, NULL,
     "worker threads running jobs side by side (ServiceNow calls, grants), so one slow call "
     "holds up no other request"},
    {"servicenow.reconcile_interval", SG_CFG_INT, F(reconcile_interval), "60", 0, 86400, NULL,
     "seconds between reconciler runs, which re-read ServiceNow records changed since the last "
     "run, so a lost webhook delays a decision by at most this long (0: off)"},
    {"servicenow.refresh_lifespan", SG_CFG_INT, F(refresh_lifespan), "8640000", 3600,
     (int64_t)10 * 365 * 86400, NULL,
     "the OAuth app's refresh token lifespan in seconds (ServiceNow's default is 100 days)"},
    {"metrics.token", SG_CFG_STR, F(metrics_token), NULL, 0, 0, NULL,
     "a secret: GET /metrics on the main listener answers with Authorization: Bearer <token> "
     "(unset: not served there)"},
    {"metrics.listen", SG_CFG_STR, F(metrics_listen), NULL, 0, 0, NULL,
     "a second address serving only GET /metrics, without a token (bind it to an internal "
     "interface, e.g. 10.0.0.5:9464)"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL},
};
