/* doctor_cmd: `snowgate doctor` checks an installation from where it runs and prints a table,
 * with a fix under every failure. Exits 1 when any check fails. It changes nothing: no key is
 * created, no migration applied. */
#include "core/cidr.h"
#include "core/cli.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/proc.h"
#include "core/str.h"
#include "gate/app.h"
#include "gate/commands.h"
#include "gate/connectors/connectors.h"
#include "gate/servicenow/connect.h"
#include "gate/servicenow/integration.h"
#include "http/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SKEW_S 60

static const sg_cli_flag doctor_flags[] = {
    {"data", "data_dir", "DIR", "data directory (as for serve)"},
    {"store", "store.url", "URL", "store location (as for serve)"},
    {"config", NULL, "FILE", "INI config file (as for serve)"},
    {"master-key", "master_key_file", "FILE", "the master key file (as for serve)"},
    {"public-url", "public_url", "URL", "the URL ServiceNow sends webhooks to (as for serve)"},
    {"allow-insecure-loopback", "allow_insecure_loopback", NULL, "tests and demo only"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec doctor_spec = {
    "snowgate",
    "doctor",
    "Check this installation with the settings serve would use: config, data dir, master key, "
    "store schema, ServiceNow (reachable, TLS, clock, token), the webhook URL, and every "
    "data source connection's login (PostgreSQL, MariaDB/MySQL). Prints a table with a fix for "
    "each failure; "
    "exits 1 if any "
    "check fails.",
    NULL,
    doctor_flags,
    sg_gate_config_keys,
    "SNOWGATE_",
};

typedef struct doctor {
    int failed;
} doctor;

__attribute__((format(printf, 5, 6))) static void
row(doctor *d, const char *status, const char *check, const char *fix, const char *fmt, ...)
{
    char detail[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    printf("  %-5s %-24s %s\n", status, check, detail);
    bool failed = strcmp(status, "FAIL") == 0;
    if (failed)
        d->failed++;
    if ((failed || strcmp(status, "WARN") == 0) && fix)
        printf("  %-5s %-24s fix: %s\n", "", "", fix);
}

/* A proxy in front (snowgate speaks plain HTTP, so an https public URL means something
 * terminates TLS before it) with none trusted: every sign-in seems to come from the proxy. */
static void check_proxies(doctor *d, const sg_gate_config *cfg)
{
    sg_cidr_list list;
    if (sg_cidr_parse(cfg->http_trusted_proxies, "http.trusted_proxies", &list) != SG_OK) {
        row(d, "FAIL", "trusted proxies", "correct the range, or remove it", "%s", sg_err_msg());
        return;
    }
    bool behind = cfg->public_url && strncmp(cfg->public_url, "https://", 8) == 0;
    if (list.n > 0)
        row(d, "ok", "trusted proxies", NULL, "X-Forwarded-For is read from %zu range%s: %s",
            list.n, list.n == 1 ? "" : "s", cfg->http_trusted_proxies);
    else if (behind)
        row(d, "WARN", "trusted proxies",
            "set http.trusted_proxies to the proxy's address (e.g. 127.0.0.1/32 when it runs "
            "on this host); see docs/operations.md, 'TLS and the public URL'",
            "public_url is https, so a proxy is in front, but http.trusted_proxies is unset: "
            "every sign-in counts against the proxy's address, and 20 failures lock everyone "
            "out for 15 minutes");
    else
        row(d, "ok", "trusted proxies", NULL, "none: clients connect directly");
}

static bool check_data_dir(doctor *d, const char *dir)
{
    struct stat st;
    int found = stat(dir, &st);
    if (found != 0 || !S_ISDIR(st.st_mode)) {
        row(d, "FAIL", "data dir", "create it, owned by the service user, mode 0700", "%s: %s", dir,
            found != 0 ? strerror(errno) : "not a directory");
        return false;
    }
    char *probe = sg_xasprintf("%s/.doctor-XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0) {
        row(d, "FAIL", "data dir", "give the service user write access (chown, chmod 0700)",
            "%s is not writable: %s", dir, strerror(errno));
        free(probe);
        return false;
    }
    close(fd);
    unlink(probe);
    free(probe);
    row(d, "ok", "data dir", NULL, "%s (writable%s)", dir,
        (st.st_mode & 077) ? "; others can read it: chmod 700 is better" : "");
    return true;
}

static bool check_master_key(doctor *d, sg_app *app, const char *path)
{
    struct stat st;
    char fix[600];
    if (stat(path, &st) != 0) {
        row(d, "FAIL", "master key",
            "a new installation: start snowgate once and it creates the key; an existing one: "
            "restore the key from its backup (without it, stored secrets cannot be read)",
            "%s: %s", path, strerror(errno));
        return false;
    }
    if (st.st_mode & 077) {
        snprintf(fix, sizeof(fix), "chmod 600 %s", path);
        row(d, "FAIL", "master key", fix, "%s is readable by other users (mode %04o)", path,
            (unsigned)(st.st_mode & 07777));
        return false;
    }
    if (st.st_uid != geteuid()) {
        snprintf(fix, sizeof(fix), "chown the key to the user snowgate runs as (uid %u)",
                 (unsigned)geteuid());
        row(d, "FAIL", "master key", fix, "%s belongs to uid %u", path, (unsigned)st.st_uid);
        return false;
    }
    if (sg_secrets_open(path, &app->secrets) != SG_OK) {
        row(d, "FAIL", "master key", "restore the key from its backup", "%s", sg_err_msg());
        return false;
    }
    row(d, "ok", "master key", NULL, "%s (mode 0600, readable only by its owner)", path);
    return true;
}

static bool check_store(doctor *d, sg_app *app)
{
    if (sg_app_open_store(app, false, false) != SG_OK) {
        row(d, "FAIL", "store",
            "check store.url, and that the database is up and the user may log in", "%s",
            sg_err_msg());
        return false;
    }
    int cur = 0, latest = 0;
    if (sg_store_schema(app->store, &cur, &latest) != SG_OK) {
        row(d, "FAIL", "store schema", "run: snowgate migrate", "%s", sg_err_msg());
        return false;
    }
    if (cur < latest) {
        row(d, "FAIL", "store schema", "run: snowgate migrate (or start snowgate once)",
            "%s schema version %d, this snowgate needs %d", sg_store_backend(app->store), cur,
            latest);
        return false;
    }
    if (cur > latest) {
        row(d, "FAIL", "store schema", "run the newer snowgate that migrated it",
            "%s schema version %d is newer than this snowgate (%d)", sg_store_backend(app->store),
            cur, latest);
        return false;
    }
    row(d, "ok", "store schema", NULL, "%s, version %d (current)", sg_store_backend(app->store),
        cur);
    return true;
}

/* The Date header as unix seconds; 0 when absent or unreadable. */
static int64_t http_date(const char *v)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (!v || !strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

static bool check_servicenow(doctor *d, sg_app *app)
{
    sg_integration in;
    if (sg_integration_get(app, &in) != SG_OK || !in.configured) {
        row(d, "skip", "ServiceNow", NULL, "not configured (Integrations, step 1)");
        return false;
    }
    sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
    o.allow_insecure_loopback = app->cfg.allow_insecure_loopback;
    o.timeout_ms = 15000;
    char *url = sg_xasprintf("%s/api/now/table/sys_user?sysparm_limit=1", in.instance_url);
    const char *hdrs[] = {"Accept: application/json", NULL};
    sg_http_response r;
    int rc = sg_http_request(&o, "GET", url, hdrs, NULL, 0, &r);
    free(url);
    if (rc != SG_OK) {
        row(d, "FAIL", "ServiceNow reachable",
            "check DNS, firewall and proxy from this host; the instance's certificate must "
            "verify against the system CA store",
            "%s: %s", in.instance_url, sg_err_msg());
        row(d, "skip", "clock skew", NULL, "ServiceNow did not answer");
    } else {
        row(d, "ok", "ServiceNow reachable", NULL, "%s answered HTTP %ld%s", in.instance_url,
            r.status, strncmp(in.instance_url, "https://", 8) == 0 ? " over verified TLS" : "");
        int64_t remote = http_date(sg_http_response_header(&r, "Date"));
        int64_t skew = (int64_t)time(NULL) - remote;
        if (!remote)
            row(d, "skip", "clock skew", NULL, "ServiceNow sent no Date header");
        else if (skew > MAX_SKEW_S || skew < -MAX_SKEW_S)
            row(d, "FAIL", "clock skew",
                "synchronize this host's clock (chrony or systemd-timesyncd): webhook "
                "signatures are refused beyond 5 minutes",
                "%+lld s against ServiceNow's Date header", (long long)skew);
        else
            row(d, "ok", "clock skew", NULL, "%+lld s against ServiceNow's Date header",
                (long long)skew);
        sg_http_response_free(&r);
    }
    int64_t now = (int64_t)time(NULL);
    if (!sg_integration_callable(&in)) {
        row(d, "FAIL", "ServiceNow token", "run Connect and test (Integrations, step 5)",
            "the integration is %s%s%s", in.status, in.status_reason[0] ? ": " : "",
            in.status_reason);
        return true;
    }
    if (strcmp(in.status, "degraded") == 0)
        row(d, app->cfg.reconcile_interval > 0 ? "WARN" : "FAIL", "ServiceNow events",
            "check that the snowgate Business Rule is active, that x_snowgate.webhook_url is "
            "this snowgate's public URL, and that ServiceNow can reach it; then Run test",
            "the last Run test's webhook did not arrive (%s); %s", in.status_reason,
            app->cfg.reconcile_interval > 0
                ? "decisions arrive through the reconciler meanwhile"
                : "the reconciler is off (servicenow.reconcile_interval = 0), so decisions made "
                  "in ServiceNow do not arrive at all");
    else if (strcmp(in.status, "error") == 0)
        row(d, "FAIL", "ServiceNow test",
            "see Integrations > ServiceNow, fix the failed check, "
            "then Run test",
            "the last Run test failed: %s", in.status_reason);
    char base[256], *token = NULL;
    if (sg_servicenow_session(app, base, &token) != SG_OK) {
        row(d, "FAIL", "ServiceNow token",
            "run Connect and test again (Integrations, step 5) with the service account's "
            "password",
            "no access token: %s", sg_err_msg());
        return true;
    }
    sg_secrets_free_plain(token);
    if (in.refresh_expires > 0 && in.refresh_expires - now < 7 * 86400)
        row(d, "FAIL", "ServiceNow token",
            "run Connect and test again before it expires, or raise the OAuth app's refresh "
            "token lifespan",
            "works, but the refresh token expires in %lld h",
            (long long)((in.refresh_expires - now) / 3600));
    else
        row(d, "ok", "ServiceNow token", NULL, "an access token was issued just now%s",
            in.refresh_expires > 0 ? "; the refresh token is good for over a week" : "");
    return true;
}

/* The webhook URL answers from here: an unsigned POST must come back 401 from snowgate. */
static void check_webhook_url(doctor *d, sg_app *app)
{
    const char *pub = app->cfg.public_url;
    if (!pub || !*pub) {
        row(d, "FAIL", "webhook URL",
            "set public_url to the https address ServiceNow reaches, then download and commit "
            "the update set again",
            "public_url is not set");
        return;
    }
    size_t n = strlen(pub);
    while (n && pub[n - 1] == '/')
        n--;
    char *url = sg_xasprintf("%.*s/webhooks/servicenow", (int)n, pub);
    sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
    o.allow_insecure_loopback = app->cfg.allow_insecure_loopback;
    o.timeout_ms = 15000;
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    sg_http_response r;
    int rc = sg_http_request(&o, "POST", url, hdrs, "{}", 2, &r);
    if (rc != SG_OK) {
        row(d, "FAIL", "webhook URL",
            "make public_url reach snowgate (reverse proxy, DNS, firewall, TLS certificate)",
            "%s: %s", url, sg_err_msg());
    } else {
        bool ours = r.status == 401 && strstr(sg_buf_str(&r.body), "invalid webhook signature");
        if (ours)
            row(d, "ok", "webhook URL", NULL, "%s answers (unsigned POST refused, as it must be)",
                url);
        else
            row(d, "FAIL", "webhook URL",
                "public_url must lead to this snowgate's /webhooks/servicenow (check the "
                "reverse proxy's routes)",
                "%s answered HTTP %ld, not snowgate's 401", url, r.status);
        sg_http_response_free(&r);
    }
    free(url);
}

typedef struct conn_row {
    char id[64], name[128], kind[64];
    char *config, *secret;
} conn_row;

typedef struct conns_ctx {
    conn_row rows[64];
    int n;
} conns_ctx;

static int list_conns(sg_conn *c, void *ctx)
{
    conns_ctx *x = ctx;
    sg_rows *r = NULL;
    int rc = sg_conn_query(c,
                           "SELECT id, name, config, COALESCE(secret, ''), kind FROM connections "
                           "ORDER BY name",
                           NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    while (x->n < 64 && sg_rows_next(r) == 1) {
        /* Only kinds with a login to test. */
        const sg_connector *k = sg_connector_find(sg_rows_text(r, 4));
        if (!k || !k->test_login)
            continue;
        conn_row *w = &x->rows[x->n++];
        sg_strlcpy(w->kind, sg_rows_text(r, 4), sizeof(w->kind));
        sg_strlcpy(w->id, sg_rows_text(r, 0), sizeof(w->id));
        sg_strlcpy(w->name, sg_rows_text(r, 1), sizeof(w->name));
        w->config = sg_xstrdup(sg_rows_text(r, 2));
        w->secret = sg_xstrdup(sg_rows_text(r, 3));
    }
    sg_rows_free(r);
    return SG_OK;
}

static void check_connections(doctor *d, sg_app *app)
{
    conns_ctx x = {.n = 0};
    if (sg_store_read(app->store, list_conns, &x) != SG_OK) {
        row(d, "FAIL", "data source logins", "see the store check", "%s", sg_err_msg());
        return;
    }
    if (x.n == 0)
        row(d, "skip", "data source logins", NULL, "no connection with a login configured");
    for (int i = 0; i < x.n; i++) {
        char check[200];
        snprintf(check, sizeof(check), "%s '%s'", x.rows[i].kind, x.rows[i].name);
        const sg_connector *k = sg_connector_find(x.rows[i].kind);
        sg_connection_ref ref = {x.rows[i].id, x.rows[i].name, x.rows[i].kind, x.rows[i].config,
                                 x.rows[i].secret};
        if (k && k->test_login(app, &ref) == SG_OK)
            row(d, "ok", check, NULL, "logged in and ran SELECT 1");
        else
            row(d, "FAIL", check,
                "check the server, the DSN and the password (POST /api/v1/connections with the "
                "same name replaces nothing: fix it on the database side, or add a new "
                "connection)",
                "%s", sg_err_msg());
        free(x.rows[i].config);
        free(x.rows[i].secret);
    }
}

int sg_cmd_doctor(int argc, char **argv, char **envp)
{
    sg_app app;
    sg_cli_result cli;
    memset(&app, 0, sizeof(app));
    printf("snowgate doctor\n");
    int status = sg_cli_parse(&doctor_spec, argc, argv, envp, &app.cfg, &cli);
    if (status == 0)
        return 0; /* --help */
    doctor d = {0};
    if (status > 0) {
        row(&d, "FAIL", "config", "fix the setting named above (see snowgate serve --help)",
            "the settings do not load");
        printf("\n1 check failed.\n");
        return SG_EXIT_FAIL;
    }
    sg_log_init(SG_LOG_ERROR, SG_LOG_JSON, 2);
    const char *cfgfile = sg_cli_get(&cli, "config");
    row(&d, "ok", "config", NULL, "%s%s", cfgfile ? cfgfile : "defaults",
        " + SNOWGATE_* environment + flags");
    check_proxies(&d, &app.cfg);
    bool dir_ok = check_data_dir(&d, app.cfg.data_dir);
    char *key = app.cfg.master_key_file && *app.cfg.master_key_file
                    ? sg_xstrdup(app.cfg.master_key_file)
                    : sg_xasprintf("%s/master.key", app.cfg.data_dir);
    bool key_ok = check_master_key(&d, &app, key);
    free(key);
    bool store_ok = (dir_ok || (app.cfg.store_url && *app.cfg.store_url)) && check_store(&d, &app);
    if (store_ok && key_ok) {
        if (check_servicenow(&d, &app))
            check_webhook_url(&d, &app);
        check_connections(&d, &app);
    } else {
        row(&d, "skip", "ServiceNow", NULL, "needs the store and the master key");
        row(&d, "skip", "data source logins", NULL, "needs the store and the master key");
    }
    if (d.failed)
        printf("\n%d check%s failed.\n", d.failed, d.failed == 1 ? "" : "s");
    else
        printf("\nall checks passed.\n");
    sg_store_close(app.store);
    app.store = NULL;
    sg_secrets_close(&app.secrets);
    sg_cfg_free(sg_gate_config_keys, &app.cfg);
    return d.failed ? SG_EXIT_FAIL : SG_EXIT_OK;
}
