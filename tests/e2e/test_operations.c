/* End to end: what operators see. One access request goes the whole way (API, ServiceNow,
 * decision, GRANT in PostgreSQL, expiry) on a snowgate with metrics on; then:
 * - /metrics: the token, the metrics listener, the format (promtool check metrics, Debian's
 *   prometheus package) and the numbers the run produced;
 * - the log: one JSON object per line, the request followed from its API call to its GRANT by
 *   grepping its id, and no secret of the run anywhere in it;
 * - snowgate doctor: all green here, and the right failing line with its fix when broken;
 * - make install: the tree, man pages that groff accepts, the unit, the example config (each
 *   section and setting once, every setting, loads as it is and uncommented). */
#include "e2e/config_example.h"
#include "e2e/gate_env.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/webhook_sig.h"
#include "gate/config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DB_PASSWORD   "Ops-Grantor-Pw-5"
#define METRICS_TOKEN "metrics-Tok-9f8e7d6c5b4a"

static h_pg pg;
static char bob_h[128];
static char metrics_url[64];
static char req_id[33], sys_id[33];
static char *webhook_secret;

static int group_start(void **state)
{
    (void)state;
    h_pg_start(&pg);
    static const char *const tables[] = {"orders", NULL}, *roles[] = {"bob_role", NULL};
    h_pg_analytics(&pg, DB_PASSWORD, tables, roles);
    static char extra[256];
    snprintf(metrics_url, sizeof(metrics_url), "http://127.0.0.1:%d", h_free_port());
    snprintf(extra, sizeof(extra), "[metrics]\ntoken = " METRICS_TOKEN "\nlisten = %s\n",
             metrics_url + 7);
    g_extra_ini = extra;
    g_start("ops", NULL);
    g_add_user("bob", "member", "bob_role", bob_h);
    g_connected();
    g_add_warehouse(pg.port, DB_PASSWORD);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/assets",
                            "{\"name\":\"analytics.sales.orders\",\"type\":\"table\","
                            "\"connection\":\"warehouse\"}",
                            &j),
                     201);
    sg_json_decref(j);
    /* One request the whole way: mirrored, approved in ServiceNow, granted, expired. */
    char admin_id[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.orders\",\"privilege\":\"read\","
                       "\"justification\":\"ops run\",\"for\":\"bob\",\"duration\":\"PT3S\"}",
                       req_id, sys_id);
    g_sn_admin_decides(sys_id, "approved", "ok", admin_id);
    sg_json_decref(g_wait_state(req_id, "fulfilled"));
    sg_json_decref(g_wait_state(req_id, "expired"));
    /* And a grant still in force, ending within the day. */
    char id2[33], sys2[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.orders\",\"privilege\":\"read\","
                       "\"justification\":\"ops run, again\",\"for\":\"bob\",\"duration\":"
                       "\"PT12H\"}",
                       id2, sys2);
    g_sn_admin_decides(sys2, "approved", "ok", admin_id);
    sg_json_decref(g_wait_state(id2, "fulfilled"));
    webhook_secret = g_webhook_secret();
    return 0;
}

static int group_stop(void **state)
{
    (void)state;
    g_stop();
    g_extra_ini = NULL;
    h_pg_stop(&pg);
    free(webhook_secret);
    return 0;
}

static char *get_metrics(const char *base, const char *auth, long want)
{
    const char *h[] = {auth, NULL};
    sg_http_response r;
    char url[256];
    snprintf(url, sizeof(url), "%s/metrics", base);
    assert_int_equal(h_http("GET", url, auth ? h : NULL, NULL, &r), SG_OK);
    if (r.status != want)
        fail_msg("GET %s: %ld, want %ld", url, r.status, want);
    char *text = sg_xstrdup(sg_buf_str(&r.body));
    sg_http_response_free(&r);
    return text;
}

/* The value of the sample whose line starts with `series ` ("" when absent: -1). */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static void test_metrics(void **state)
{
    (void)state;
    /* A webhook with a bad signature, to be counted as rejected. */
    const char *bad[] = {"webhook-id: msg_ops_bad", "webhook-timestamp: 1",
                         "webhook-signature: v1,AAAA", NULL};
    assert_int_equal(h_call("POST", G.gate.url, "/webhooks/servicenow", bad, "{}", NULL, NULL),
                     401);
    /* Main listener: only with the token. */
    free(get_metrics(G.gate.url, NULL, 401));
    free(get_metrics(G.gate.url, "Authorization: Bearer wrong", 401));
    free(get_metrics(G.gate.url, G.admin_h, 401)); /* an API token is not the metrics token */
    char *text = get_metrics(G.gate.url, "Authorization: Bearer " METRICS_TOKEN, 200);
    /* The metrics listener: no token, and nothing else is served there. */
    char *open = get_metrics(metrics_url, NULL, 200);
    sg_http_response r;
    char url[128];
    snprintf(url, sizeof(url), "%s/api/v1/requests", metrics_url);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 404);
    sg_http_response_free(&r);

    /* A real parser accepts the format. */
    const char *promtool[] = {"/usr/bin/promtool", "check", "metrics", NULL};
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    int st = h_run_input(promtool, NULL, text, 30000, &out, &err);
    if (st != 0)
        fail_msg("promtool check metrics: %d: %s%s", st, sg_buf_str(&out), sg_buf_str(&err));
    sg_buf_reset(&out);
    sg_buf_reset(&err);
    assert_int_equal(h_run_input(promtool, NULL, open, 30000, &out, &err), 0);
    sg_buf_free(&out);
    sg_buf_free(&err);

    /* What the run did. */
    assert_true(sample(text, "snowgate_http_requests_total{method=\"POST\",route=\"/api/v1/"
                             "requests\",status=\"201\"}") >= 1);
    assert_true(sample(text, "snowgate_http_request_duration_seconds_count{route=\"/api/v1/"
                             "requests\"}") >= 1);
    assert_true(sample(text, "snowgate_webhooks_total{outcome=\"accepted\",reason=\"\"}") >= 1);
    assert_true(
        sample(text, "snowgate_webhooks_total{outcome=\"rejected\",reason=\"timestamp\"}") >= 1);
    assert_true(sample(text, "snowgate_servicenow_calls_total{endpoint=\"/api/now/table/"
                             "sc_request\",method=\"POST\",status=\"201\"}") >= 1);
    assert_true(sample(text, "snowgate_servicenow_calls_total{endpoint=\"/oauth_token.do\","
                             "method=\"POST\",status=\"200\"}") >= 1);
    assert_true(sample(text, "snowgate_jobs_run_total{kind=\"request.fulfil\",outcome=\"ok\"}") >=
                1);
    assert_true(sample(text, "snowgate_job_duration_seconds_count{kind=\"servicenow.mirror\"}") >=
                1);
    assert_true(sample(text, "snowgate_jobs{kind=\"request.fulfil\",state=\"dead\"}") == 0);
    assert_true(sample(text, "snowgate_requests{state=\"expired\"}") == 1);
    assert_true(sample(text, "snowgate_requests{state=\"fulfilled\"}") == 1);
    assert_true(sample(text, "snowgate_requests_linked") == 2);
    assert_true(sample(text, "snowgate_grants_active") == 1);
    assert_true(sample(text, "snowgate_grants_expiring_24h") == 1);
    assert_true(sample(text, "snowgate_servicenow_status{status=\"connected\"}") == 1);
    assert_true(sample(text, "snowgate_servicenow_last_test_ok") == 1);
    assert_true(sample(text, "snowgate_servicenow_token_expiry_timestamp_seconds") >
                (double)time(NULL));
    assert_true(sample(text, "snowgate_leader") == 1);
    assert_true(sample(text, "snowgate_reconciler_lag_seconds") >= 0);
    /* The contract is served, as the document in the repository says it. */
    sg_json *doc = NULL;
    assert_int_equal(h_call("GET", G.gate.url, "/api/openapi.json", NULL, NULL, &doc, NULL), 200);
    assert_string_equal(sg_json_get_str(doc, "openapi"), "3.1.0");
    assert_non_null(sg_json_get(sg_json_get(doc, "paths"), "/api/v1/requests/{id}/approve"));
    assert_non_null(sg_json_get(sg_json_get(doc, "paths"), "/metrics"));
    sg_json_decref(doc);
    /* No raw path became a label: routes are patterns. */
    assert_null(strstr(text, req_id));
    free(text);
    free(open);
}

/* Every line of the log is one JSON object with ts, level and msg. */
static void check_json_lines(const char *log)
{
    for (const char *p = log; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n) {
            sg_json *j = NULL;
            if (sg_json_parse(p, n, 0, 0, &j) != SG_OK)
                fail_msg("not a JSON line: %.*s", (int)n, p);
            assert_non_null(sg_json_get_str(j, "ts"));
            assert_non_null(sg_json_get_str(j, "level"));
            assert_non_null(sg_json_get_str(j, "msg"));
            sg_json_decref(j);
        }
        p += n + (nl ? 1 : 0);
    }
}

static void test_logs(void **state)
{
    (void)state;
    sg_buf log = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(G.gate.log_path, &log), SG_OK);
    const char *text = sg_buf_str(&log);
    check_json_lines(text);
    /* One grep for the request's id follows it from the API call to the GRANT and back. */
    sg_buf mine = SG_BUF_INIT(0);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        char line[4096];
        snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), p);
        if (strstr(line, req_id))
            sg_buf_append(&mine, p, n);
        p += n;
    }
    static const char *const steps[] = {
        "\"msg\":\"request created\"", "\"msg\":\"mirrored to ServiceNow\"",
        "\"to\":\"approved\"",         "\"msg\":\"GRANT applied and verified\"",
        "\"to\":\"fulfilled\"",        "\"msg\":\"REVOKE applied and verified\"",
        "\"to\":\"expired\"",          "\"job\":\"",
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (!strstr(sg_buf_str(&mine), steps[i]))
            fail_msg("grep %s finds no %s in:\n%s", req_id, steps[i], sg_buf_str(&mine));
    /* The creation line carries the HTTP request id of the API call that made it. */
    const char *created = strstr(sg_buf_str(&mine), "\"msg\":\"request created\"");
    const char *eol = strchr(created, '\n');
    char line[2048];
    snprintf(line, sizeof(line), "%.*s", (int)(eol - created), created);
    assert_non_null(strstr(line, "\"req\":\""));
    sg_buf_free(&mine);
    /* No secret of the run, anywhere. */
    const char *secrets[] = {CLIENT_SECRET,
                             SVC_PASSWORD,
                             DB_PASSWORD,
                             METRICS_TOKEN,
                             G.admin_h + strlen("Authorization: Bearer "),
                             bob_h + 22,
                             webhook_secret};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        assert_non_null(secrets[i]);
        assert_true(strlen(secrets[i]) >= 10);
        if (strstr(text, secrets[i]))
            fail_msg("the log holds secret #%zu", i);
    }
    sg_buf_free(&log);
}

static int doctor(const char *public_url, sg_buf *out)
{
    char ini[512];
    snprintf(ini, sizeof(ini), "%s/snowgate.ini", G.dir);
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "doctor",
                          "--data",
                          G.dir,
                          "--config",
                          ini,
                          "--store",
                          G.store_url,
                          "--public-url",
                          public_url,
                          "--allow-insecure-loopback",
                          NULL};
    sg_buf_reset(out);
    return h_run(argv, NULL, 60000, out, NULL);
}

static void test_doctor(void **state)
{
    (void)state;
    sg_buf out = SG_BUF_INIT(0);
    int st = doctor(G.gate.url, &out);
    if (st != 0)
        fail_msg("doctor on a healthy installation: %d\n%s", st, sg_buf_str(&out));
    static const char *const ok[] = {"ok    config",
                                     "ok    data dir",
                                     "ok    master key",
                                     "ok    store schema",
                                     "ok    ServiceNow reachable",
                                     "ok    clock skew",
                                     "ok    ServiceNow token",
                                     "ok    webhook URL",
                                     "ok    postgres 'warehouse'",
                                     "all checks passed"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!strstr(sg_buf_str(&out), ok[i]))
            fail_msg("no \"%s\" in:\n%s", ok[i], sg_buf_str(&out));

    /* A master key others can read. */
    char key[512];
    snprintf(key, sizeof(key), "%s/master.key", G.dir);
    assert_int_equal(chmod(key, 0644), 0);
    assert_int_equal(doctor(G.gate.url, &out), 1);
    assert_non_null(strstr(sg_buf_str(&out), "FAIL  master key"));
    char fix[600];
    snprintf(fix, sizeof(fix), "fix: chmod 600 %s", key);
    assert_non_null(strstr(sg_buf_str(&out), fix));
    assert_non_null(strstr(sg_buf_str(&out), "1 check failed."));
    assert_int_equal(chmod(key, 0600), 0);

    /* A public URL that leads nowhere, and a database that refuses the password. */
    char nowhere[64];
    snprintf(nowhere, sizeof(nowhere), "http://127.0.0.1:%d", h_free_port());
    h_pg_exec(&pg, "postgres", "ALTER ROLE snowgate_grantor PASSWORD 'changed-Pw-77'");
    assert_int_equal(doctor(nowhere, &out), 1);
    assert_non_null(strstr(sg_buf_str(&out), "FAIL  webhook URL"));
    assert_non_null(strstr(sg_buf_str(&out), "FAIL  postgres 'warehouse'"));
    assert_non_null(strstr(sg_buf_str(&out), "password authentication failed"));
    assert_non_null(strstr(sg_buf_str(&out), "2 checks failed."));
    assert_null(strstr(sg_buf_str(&out), DB_PASSWORD));
    h_pg_exec(&pg, "postgres", "ALTER ROLE snowgate_grantor PASSWORD '" DB_PASSWORD "'");
    sg_buf_free(&out);
}

static void test_install_tree(void **state)
{
    (void)state;
    char *dest = h_tmpdir("install");
    char destdir[600];
    snprintf(destdir, sizeof(destdir), "DESTDIR=%s", dest);
    const char *argv[] = {
        "/usr/bin/make",       "-s", "-C", SG_SOURCE_DIR, "install-files", destdir, "PREFIX=/usr",
        "BUILD=" SG_BUILD_DIR, NULL};
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    int st = h_run(argv, NULL, 120000, &out, &err);
    if (st != 0)
        fail_msg("make install-files: %d: %s", st, sg_buf_str(&err));
    static const char *const files[] = {"/usr/bin/snowgate",
                                        "/usr/bin/snowsim",
                                        "/usr/share/man/man1/snowgate.1",
                                        "/usr/share/man/man1/snowsim.1",
                                        "/usr/lib/systemd/system/snowgate.service",
                                        "/usr/share/doc/snowgate/snowgate.example.ini",
                                        "/usr/share/doc/snowgate/README.md",
                                        "/usr/share/doc/snowgate/operations.md",
                                        "/usr/share/doc/snowgate/openapi.yaml"};
    char path[900];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", dest, files[i]);
        struct stat sb;
        if (stat(path, &sb) != 0 || sb.st_size == 0)
            fail_msg("missing or empty: %s", files[i]);
        if (i < 2)
            assert_true((sb.st_mode & 0111) != 0);
    }
    /* The man pages: groff finds nothing to complain about, and they carry the help texts. */
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/usr/share/man/man1/%s.1", dest,
                 i == 0 ? "snowgate" : "snowsim");
        const char *groff[] = {"/usr/bin/groff", "-man", "-Tutf8", "-ww", "-z", path, NULL};
        sg_buf_reset(&err);
        assert_int_equal(h_run(groff, NULL, 30000, NULL, &err), 0);
        if (err.len)
            fail_msg("groff warns about %s: %s", path, sg_buf_str(&err));
    }
    sg_buf page = SG_BUF_INIT(0);
    snprintf(path, sizeof(path), "%s/usr/share/man/man1/snowgate.1", dest);
    assert_int_equal(h_read_file(path, &page), SG_OK);
    static const char *const in_page[] = {".SS serve", ".SS doctor",    ".SS migrate",
                                          ".SS store", "metrics.token", "SNOWGATE_STORE_URL"};
    for (size_t i = 0; i < sizeof(in_page) / sizeof(in_page[0]); i++)
        if (!strstr(sg_buf_str(&page), in_page[i]))
            fail_msg("snowgate.1 lacks %s", in_page[i]);
    sg_buf_free(&page);
    /* The unit is sandboxed and runs the installed binary. */
    sg_buf unit = SG_BUF_INIT(0);
    snprintf(path, sizeof(path), "%s/usr/lib/systemd/system/snowgate.service", dest);
    assert_int_equal(h_read_file(path, &unit), SG_OK);
    static const char *const in_unit[] = {"ExecStart=/usr/bin/snowgate serve",
                                          "ProtectSystem=strict",
                                          "NoNewPrivileges=yes",
                                          "PrivateTmp=yes",
                                          "CapabilityBoundingSet=",
                                          "SystemCallFilter=@system-service"};
    for (size_t i = 0; i < sizeof(in_unit) / sizeof(in_unit[0]); i++)
        if (!strstr(sg_buf_str(&unit), in_unit[i]))
            fail_msg("the unit lacks %s", in_unit[i]);
    sg_buf_free(&unit);
    /* The example config is what the binary generates (so contrib/ cannot drift), names every
     * setting, and loads as it is. */
    sg_buf ex = SG_BUF_INIT(0), committed = SG_BUF_INIT(0);
    snprintf(path, sizeof(path), "%s/usr/share/doc/snowgate/snowgate.example.ini", dest);
    assert_int_equal(h_read_file(path, &ex), SG_OK);
    assert_int_equal(h_read_file(SG_SOURCE_DIR "/contrib/snowgate.example.ini", &committed), SG_OK);
    if (strcmp(sg_buf_str(&ex), sg_buf_str(&committed)) != 0)
        fail_msg("contrib/snowgate.example.ini is stale: run build/snowgate config example > "
                 "contrib/snowgate.example.ini");
    /* Each section and key once, every setting there; uncommented, it gives the defaults. */
    h_cfg_example_check(sg_buf_str(&ex), sg_gate_config_keys, sizeof(sg_gate_config), "SNOWGATE_");
    char data[700];
    snprintf(data, sizeof(data), "%s/data", dest);
    const char *check[] = {
        SG_BUILD_DIR "/snowgate", "migrate", "--config", path, "--data", data, NULL};
    sg_buf_reset(&err);
    if (h_run(check, NULL, 30000, NULL, &err) != 0)
        fail_msg("the example config does not load: %s", sg_buf_str(&err));
    /* The real program reads it uncommented too. */
    sg_buf uncommented = SG_BUF_INIT(0);
    h_cfg_example_uncomment(sg_buf_str(&ex), &uncommented);
    snprintf(path, sizeof(path), "%s/uncommented.ini", dest);
    assert_int_equal(h_write_file(path, uncommented.data, uncommented.len), SG_OK);
    sg_buf_free(&uncommented);
    sg_buf_reset(&err);
    if (h_run(check, NULL, 30000, NULL, &err) != 0)
        fail_msg("the uncommented example config does not load: %s", sg_buf_str(&err));
    sg_buf_free(&ex);
    sg_buf_free(&committed);
    sg_buf_free(&out);
    sg_buf_free(&err);
    h_rmdir(dest);
    free(dest);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_logs),
        cmocka_unit_test(test_doctor),
        cmocka_unit_test(test_install_tree),
    };
    return cmocka_run_group_tests(tests, group_start, group_stop);
}
