/* app: building and tearing down the snowgate application context. */
#include "gate/app.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/proc.h"
#include "core/str.h"
#include "gate/connectors/connectors.h"
#include "gate/governance/audit.h"
#include "gate/servicenow/mirror.h"
#include "gate/servicenow/token_cache.h"
#include "gate/servicenow/webhook_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const sg_embed_file sg_gate_migrations[];

int sg_app_open_store(sg_app *app, bool migrate, bool current)
{
    bool sqlite = !app->cfg.store_url || !*app->cfg.store_url;
    if (sqlite) {
        int rc = sg_proc_data_dir(app->cfg.data_dir);
        if (rc != SG_OK)
            return rc;
    }
    char *url = sqlite ? sg_xasprintf("sqlite:%s/snowgate.db", app->cfg.data_dir)
                       : sg_xstrdup(app->cfg.store_url);
    sg_store_opts so = SG_STORE_OPTS_INIT;
    so.url = url;
    so.migrations = sg_gate_migrations;
    so.migrate = migrate;
    so.pool_size = app->cfg.store_pool > 0
                       ? (unsigned)app->cfg.store_pool
                       : (unsigned)(app->cfg.http_threads + app->cfg.job_workers + 3);
    so.statement_timeout_ms = (unsigned)app->cfg.store_statement_timeout * 1000u;
    int rc = sg_store_open(&so, &app->store);
    free(url);
    if (rc != SG_OK)
        return rc;
    int cur = 0, latest = 0;
    rc = sg_store_schema(app->store, &cur, &latest);
    if (rc == SG_OK && cur > latest)
        rc = sg_err_set(SG_ECONFLICT,
                        "the store's schema is version %d, newer than this snowgate knows (%d); "
                        "run a newer snowgate",
                        cur, latest);
    else if (rc == SG_OK && current && cur < latest)
        rc = sg_err_set(SG_ECONFLICT,
                        "the store's schema is version %d and this snowgate needs %d; run "
                        "'snowgate migrate' (or set store.migrate = true)",
                        cur, latest);
    if (rc != SG_OK) {
        sg_store_close(app->store);
        app->store = NULL;
    }
    return rc;
}

int sg_app_open(sg_app *app)
{
    /* Settings that need more than their type's check are checked before anything is opened. */
    int rc =
        sg_cidr_parse(app->cfg.http_trusted_proxies, "http.trusted_proxies", &app->trusted_proxies);
    if (rc == SG_OK)
        rc = sg_proc_data_dir(app->cfg.data_dir);
    if (rc == SG_OK)
        rc = sg_app_open_store(app, app->cfg.store_migrate, true);
    if (rc != SG_OK)
        return rc;
    char *key = app->cfg.master_key_file && *app->cfg.master_key_file
                    ? sg_xstrdup(app->cfg.master_key_file)
                    : sg_xasprintf("%s/master.key", app->cfg.data_dir);
    rc = sg_secrets_open(key, &app->secrets);
    free(key);
    /* Up to one idle connection per job worker, plus the handlers' calls. */
    if (rc == SG_OK) {
        app->sn_pool = sg_http_pool_new(app->cfg.job_workers + 2);
        app->sn_tokens = sg_sn_token_cache_new();
        app->sn_item = sg_mirror_item_cache_new();
        app->webhook_keys = sg_webhook_keys_new();
        sg_connectors_open(app);
    }
    if (rc == SG_OK)
        rc = sg_app_set_audit_key(app);
    /* Before anything appends: a chain from before audit HMACs gets its link entry. */
    sg_audit_keying k;
    if (rc == SG_OK)
        rc = sg_audit_key_chain(app->store, &k);
    return rc;
}

int sg_app_set_audit_key(sg_app *app)
{
    uint8_t k[SG_STORE_MAC_KEY_LEN];
    int rc = sg_audit_derive_key(&app->secrets, k);
    if (rc == SG_OK)
        sg_store_set_mac_key(app->store, k);
    sg_wipe(k, sizeof(k));
    return rc;
}

int sg_app_listen(sg_app *app)
{
    char *host = NULL;
    uint16_t port = 0;
    int rc = sg_parse_listen(app->cfg.listen, &host, &port);
    if (rc != SG_OK)
        return rc;
    sg_http_server_opts o = SG_HTTP_SERVER_OPTS_INIT;
    o.host = host;
    o.trusted_proxies = &app->trusted_proxies;
    o.max_per_client = (unsigned)app->cfg.http_max_per_client;
    o.head_timeout_s = (unsigned)app->cfg.http_header_timeout;
    o.port = port;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o.io_threads = app->cfg.http_io_threads > 0 ? (unsigned)app->cfg.http_io_threads
                   : cpus > 0                   ? (unsigned)(cpus < 16 ? cpus : 16)
                                                : 1u;
    /* Handlers that wait (on the store, on ServiceNow: Connect and test, Run test, the
     * Overview, linking) run in the handler pool and never hold an I/O thread. */
    o.handler_threads = (unsigned)app->cfg.http_threads;
    o.max_body = app->cfg.http_max_body;
    o.timeout_s = (unsigned)app->cfg.http_timeout;
    o.routes = sg_gate_routes;
    o.app = app;
    o.metrics_prefix = "snowgate";
    rc = sg_http_server_start(&o, &app->http);
    if (rc == SG_OK && app->cfg.metrics_listen && *app->cfg.metrics_listen) {
        char *mhost = NULL;
        uint16_t mport = 0;
        rc = sg_parse_listen(app->cfg.metrics_listen, &mhost, &mport);
        if (rc == SG_OK) {
            sg_http_server_opts m = SG_HTTP_SERVER_OPTS_INIT;
            m.host = mhost;
            m.port = mport;
            m.io_threads = 1;
            m.routes = sg_gate_metrics_routes;
            m.app = app;
            rc = sg_http_server_start(&m, &app->metrics_http);
            if (rc != SG_OK)
                sg_err_wrap(rc, "metrics.listen %s", app->cfg.metrics_listen);
            else
                sg_log_info("metrics listening", "listen", app->cfg.metrics_listen);
        } else {
            sg_err_wrap(rc, "metrics.listen");
        }
        free(mhost);
    }
    if (rc == SG_OK) {
        if (app->cfg.public_url && *app->cfg.public_url)
            snprintf(app->public_url, sizeof(app->public_url), "%s", app->cfg.public_url);
        else
            snprintf(app->public_url, sizeof(app->public_url),
                     strchr(host, ':') ? "http://[%s]:%u" : "http://%s:%u", host,
                     sg_http_server_port(app->http));
        size_t n = strlen(app->public_url);
        while (n && app->public_url[n - 1] == '/')
            app->public_url[--n] = '\0';
    }
    free(host);
    return rc;
}

void sg_app_stop_http(sg_app *app)
{
    sg_http_server_stop(app->http, (unsigned)app->cfg.shutdown_grace * 1000u);
    app->http = NULL;
    if (app->metrics_http)
        sg_http_server_stop(app->metrics_http, 1000);
    app->metrics_http = NULL;
}

void sg_app_close(sg_app *app)
{
    sg_app_stop_http(app);
    sg_store_close(app->store);
    app->store = NULL;
    sg_http_pool_free(app->sn_pool);
    app->sn_pool = NULL;
    sg_sn_token_cache_free(app->sn_tokens);
    app->sn_tokens = NULL;
    sg_mirror_item_cache_free(app->sn_item);
    app->sn_item = NULL;
    sg_webhook_keys_free(app->webhook_keys);
    app->webhook_keys = NULL;
    sg_connectors_close(app);
    sg_secrets_close(&app->secrets);
    sg_cfg_free(sg_gate_config_keys, &app->cfg);
}
