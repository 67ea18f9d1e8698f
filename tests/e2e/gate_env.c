/* gate_env: a snowgate connected to a snowsim, for end-to-end tests of the ServiceNow path:
 * both servers, the admin setup (steps 1 to 5 of docs/servicenow-setup.md), and helpers to
 * raise requests and decide them in ServiceNow. */
#include "e2e/gate_env.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/webhook_sig.h"
#include "core/xml.h"
#include "gate/secrets.h"
#include "gate/servicenow/integration.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

g_env G;
const char *g_extra_ini;

void g_spawn_gate(void)
{
    char ini[512], listen[64] = "127.0.0.1:0";
    snprintf(ini, sizeof(ini), "%s/snowgate.ini", G.dir);
    /* A restart keeps the address, which the update set gave ServiceNow for its webhooks. */
    const char *port = strrchr(G.gate.url, ':');
    if (port && strncmp(G.gate.url, "http://127.0.0.1:", 17) == 0)
        snprintf(listen, sizeof(listen), "127.0.0.1:%s", port + 1);
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "serve",
                          "--listen",
                          listen,
                          "--data",
                          G.dir,
                          "--config",
                          ini,
                          "--store",
                          G.store_url,
                          "--allow-insecure-loopback",
                          NULL};
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 30000, &G.gate), SG_OK);
}

void g_add_user(const char *name, const char *role, const char *db_role, char header[128])
{
    g_add_user_email(name, role, db_role, NULL, header);
}

void g_add_user_email(const char *name, const char *role, const char *db_role, const char *email,
                      char header[128])
{
    const char *argv[16] = {SG_BUILD_DIR "/snowgate",
                            "user",
                            "add",
                            name,
                            "--role",
                            role,
                            "--data",
                            G.dir,
                            "--store",
                            G.store_url};
    int n = 10;
    if (db_role) {
        argv[n++] = "--db-role";
        argv[n++] = db_role;
    }
    if (email) {
        argv[n++] = "--email";
        argv[n++] = email;
    }
    argv[n] = NULL;
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 20000, &out, NULL), 0);
    snprintf(header, 128, "Authorization: Bearer %.64s", sg_buf_str(&out));
    sg_buf_free(&out);
}

void g_set_password(const char *name, const char *password)
{
    const char *argv[] = {SG_BUILD_DIR "/snowgate", "user", "passwd", name, "--data", G.dir, NULL};
    char input[128];
    snprintf(input, sizeof(input), "%s\n", password);
    sg_buf err = SG_BUF_INIT(0);
    int st = h_run_input(argv, NULL, input, 30000, NULL, &err);
    if (st != 0)
        fail_msg("user passwd %s: %s", name, sg_buf_str(&err));
    sg_buf_free(&err);
}

long g_sign_in(const char *name, const char *password, const char *xff, sg_http_response *keep)
{
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "name", name);
    sg_json_set_str(body, "password", password);
    char *text = sg_json_dump(body);
    sg_json_decref(body);
    char fwd[160];
    snprintf(fwd, sizeof(fwd), "X-Forwarded-For: %s", xff ? xff : "");
    const char *h[] = {"Content-Type: application/json", xff ? fwd : NULL, NULL};
    long st = h_call("POST", G.gate.url, "/api/v1/session", h, text, NULL, keep);
    free(text);
    return st;
}

void g_start(const char *tag, const char *alice_db_role)
{
    memset(&G, 0, sizeof(G));
    const char *extra[] = {"--allow-insecure-loopback", NULL};
    h_sim_start(&G.sim, NULL, extra);
    G.dir = h_tmpdir(tag);
    G.store_url = h_store_url(G.dir, "snowgate");
    g_add_user("alice", "admin", alice_db_role, G.admin_h);
    char ini[512];
    snprintf(ini, sizeof(ini), "%s/snowgate.ini", G.dir);
    /* The extra lines come last, so that they may override the fast timers. */
    char *cfg = sg_xasprintf(
        "[servicenow]\nwebhook_timeout = 5\ntest_interval = 1\nreconcile_interval = 1\n"
        "[jobs]\nlease = 3\n%s\n",
        g_extra_ini ? g_extra_ini : "");
    assert_int_equal(h_write_file(ini, cfg, strlen(cfg)), SG_OK);
    free(cfg);
    g_spawn_gate();
    /* Suites run on both backends (tests/CMakeLists.txt): this one is on the one meant. */
    sg_json *ready = NULL;
    assert_int_equal(h_call("GET", G.gate.url, "/readyz", NULL, NULL, &ready, NULL), 200);
    assert_string_equal(
        sg_json_get_str(sg_json_get(sg_json_get(ready, "checks"), "store"), "backend"),
        h_store_is_postgres() ? "postgres" : "sqlite");
    sg_json_decref(ready);
}

void g_start_with(const char *tag, const char *ini)
{
    g_extra_ini = ini;
    g_start(tag, NULL);
    g_extra_ini = NULL;
}

void g_stop(void)
{
    assert_int_equal(h_stop(&G.gate, SIGTERM, 30000), 0);
    h_sim_stop(&G.sim);
    h_rmdir(G.dir);
    free(G.dir);
    G.dir = NULL;
    free(G.store_url);
    G.store_url = NULL;
}

sg_json *g_sim_call(const char *method, const char *path, const char *body, long want)
{
    const char *sa[] = {G.sim.admin_auth, NULL};
    sg_json *j = NULL;
    long st = h_call(method, G.sim.p.url, path, sa, body, &j, NULL);
    if (st != want)
        fail_msg("snowsim %s %s: %ld", method, path, st);
    return j;
}

long g_call(const char *method, const char *path, const char *body, sg_json **j)
{
    const char *h[] = {G.admin_h, NULL};
    return h_call(method, G.gate.url, path, h, body, j, NULL);
}

const char *g_status(void)
{
    static char s[64];
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    snprintf(s, sizeof(s), "%s", sg_json_get_str(j, "status"));
    sg_json_decref(j);
    return s;
}

/* Steps 1 and 2: the OAuth app in ServiceNow, then instance and client in snowgate. */
void g_steps_1_2(const char *secret_in_snowgate)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"snowgate OAuth App\",\"client_secret\":\"%s\",\"redirect_url\":"
             "\"%s/oauth-callback\"}",
             CLIENT_SECRET, G.gate.url);
    sg_json *j = g_sim_call("POST", "/api/now/table/oauth_entity", body, 201);
    snprintf(G.client_id, sizeof(G.client_id), "%s",
             sg_json_get_str(sg_json_get(j, "result"), "client_id"));
    sg_json_decref(j);
    snprintf(body, sizeof(body),
             "{\"instance_url\":\"%s\",\"client_id\":\"%s\",\"client_secret\":\"%s\"}", G.sim.p.url,
             G.client_id, secret_in_snowgate);
    assert_int_equal(g_call("PUT", "/api/v1/integrations/servicenow", body, &j), 200);
    sg_json_decref(j);
}

/* Step 3: download the update set, import, preview and commit it in ServiceNow. */
void g_step_3(void)
{
    sg_json *j = NULL;
    sg_http_response r;
    const char *h[] = {G.admin_h, NULL};
    assert_int_equal(
        h_call("GET", G.gate.url, "/api/v1/integrations/servicenow/update-set", h, NULL, NULL, &r),
        200);
    long status = 0;
    char *id = us_upload(&G.sim, r.body.data, r.body.len, &status);
    sg_http_response_free(&r);
    assert_int_equal(status, 302);
    char *label = us_cicd(&G.sim, "preview", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    label = us_cicd(&G.sim, "commit", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    free(id);
    j = g_sim_call("GET", "/api/now/table/sys_user_role?name=snowgate_service_account_role", NULL,
                   200);
    snprintf(G.role_id, sizeof(G.role_id), "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
}

/* Step 4: the service user, optionally with its role. */
void g_step_4(bool with_role)
{
    sg_json *j = g_sim_call(
        "POST", "/api/now/table/sys_user",
        "{\"user_name\":\"snowgate.service\",\"user_password\":\"" SVC_PASSWORD "\"}", 201);
    snprintf(G.svc_id, sizeof(G.svc_id), "%s", sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    if (with_role) {
        char body[128];
        snprintf(body, sizeof(body), "{\"user\":\"%s\",\"role\":\"%s\"}", G.svc_id, G.role_id);
        sg_json_decref(g_sim_call("POST", "/api/now/table/sys_user_has_role", body, 201));
    }
}

/* Step 5: Connect and test. Returns the HTTP status; *failed the first failing check or NULL. */
long g_connect(const char *password, sg_json **result, const char **failed)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"password\":\"%s\"}", password);
    long st = g_call("POST", "/api/v1/integrations/servicenow/connect", body, result);
    *failed = NULL;
    sg_json *checks = sg_json_get(*result, "checks");
    assert_int_equal(sg_json_array_size(checks), 7);
    for (size_t i = 0; i < sg_json_array_size(checks) && !*failed; i++) {
        sg_json *c = sg_json_array_get(checks, i);
        bool ok = true;
        if (sg_json_get_bool(c, "ok", &ok) && !ok) {
            *failed = sg_json_get_str(c, "name");
            assert_non_null(sg_json_get_str(c, "fix"));
        }
    }
    return st;
}

/* Steps 1 to 4 and Connect and test, which must pass. */
void g_connected(void)
{
    g_steps_1_2(CLIENT_SECRET);
    g_step_3();
    g_step_4(true);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(g_connect(SVC_PASSWORD, &res, &failed), 200);
    sg_json_decref(res);
}

/* Runs fn in a transaction on snowgate's own database, behind the server's back. */
sg_store *g_store_open(void)
{
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = G.store_url;
    o.migrate = false;
    o.pool_size = 1;
    sg_store *st = NULL;
    if (sg_store_open(&o, &st) != SG_OK)
        fail_msg("cannot open snowgate's store: %s", sg_err_msg());
    return st;
}

void g_in_store(sg_store_fn fn, void *ctx)
{
    sg_store *st = g_store_open();
    assert_int_equal(sg_store_tx(st, fn, ctx), SG_OK);
    sg_store_close(st);
}

/* Connected, with a manual connection "desk" and the asset. */
void g_connected_with_asset(const char *asset)
{
    g_connected();
    sg_json *j = NULL;
    assert_int_equal(
        g_call("POST", "/api/v1/connections", "{\"name\":\"desk\",\"kind\":\"manual\"}", &j), 201);
    sg_json_decref(j);
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"type\":\"dataset\",\"connection\":\"desk\"}",
             asset);
    assert_int_equal(g_call("POST", "/api/v1/assets", body, &j), 201);
    sg_json_decref(j);
}

/* Creates a request as alice and waits until it is mirrored; fills its ids. */
void g_request_mirrored(const char *body, char id[33], char sys_id[33])
{
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/requests", body, &j), 201);
    snprintf(id, 33, "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    g_wait_mirrored(id, sys_id);
}

void g_wait_mirrored(const char *id, char sys_id[33])
{
    sg_json *j = NULL;
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    sys_id[0] = '\0';
    for (int i = 0; i < 1200 && !sys_id[0]; i++) {
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        const char *s = sg_json_get_str(sg_json_get(j, "servicenow"), "sys_id");
        if (s)
            snprintf(sys_id, 33, "%s", s);
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    if (!sys_id[0])
        fail_msg("request %s was never mirrored", id);
}

/* snowsim's admin decides the ServiceNow request through an approval record. */
void g_sn_admin_is_steward(void)
{
    if (G.sn_admin_steward)
        return;
    char h[128];
    g_add_user_email(SN_ADMIN_STEWARD, "steward", NULL, "admin@example.com", h);
    G.sn_admin_steward = true;
}

void g_sn_admin_decides(const char *sys_id, const char *state, const char *comment,
                        char admin_id[33])
{
    g_sn_admin_is_steward();
    sg_json *j = g_sim_call(
        "GET", "/api/now/table/sys_user?sysparm_query=user_name%3Dadmin&sysparm_fields=sys_id",
        NULL, 200);
    snprintf(admin_id, 33, "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    char body[256], q[128];
    snprintf(body, sizeof(body),
             "{\"approver\":\"%s\",\"sysapproval\":\"%s\",\"state\":\"requested\"}", admin_id,
             sys_id);
    j = g_sim_call("POST", "/api/now/table/sysapproval_approver", body, 201);
    snprintf(q, sizeof(q), "/api/now/table/sysapproval_approver/%s",
             sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    sg_json *patch = sg_json_object();
    sg_json_set_str(patch, "state", state);
    if (comment)
        sg_json_set_str(patch, "comments", comment);
    char *text = sg_json_dump(patch);
    sg_json_decref(patch);
    sg_json_decref(g_sim_call("PATCH", q, text, 200));
    free(text);
}

/* Waits until the request at path is no longer pending; returns it (the caller's). */
sg_json *g_wait_decided(const char *path)
{
    for (int i = 0; i < 1200; i++) {
        sg_json *j = NULL;
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        if (strcmp(sg_json_get_str(j, "state"), "pending") != 0)
            return j;
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    fail_msg("%s was never decided", path);
    return NULL;
}

static void pause_50ms(void)
{
    struct timespec t = {0, 50 * 1000 * 1000};
    nanosleep(&t, NULL);
}

sg_json *g_wait_state(const char *id, const char *want)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    const char *seen = "?";
    char last[32] = "";
    for (int i = 0; i < 2400; i++) {
        sg_json *j = NULL;
        if (g_call("GET", path, NULL, &j) == 200) {
            seen = sg_json_get_str(j, "state");
            if (seen && strcmp(seen, want) == 0)
                return j;
            snprintf(last, sizeof(last), "%s", seen ? seen : "?");
            if (strcmp(last, "failed") == 0) /* final, and never what a test waits through */
                fail_msg("request %s failed instead of becoming %s: %s", id, want,
                         sg_json_get_str(j, "reason"));
        }
        sg_json_decref(j);
        pause_50ms();
    }
    fail_msg("request %s never became %s (last seen: %s)", id, want, last);
    return NULL;
}

sg_json *g_wait_comment(const char *id, const char *want)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    for (int i = 0; i < 2400; i++) {
        sg_json *j = NULL;
        if (g_call("GET", path, NULL, &j) == 200) {
            const char *c = sg_json_get_str(j, "decision_comment");
            if (c && strcmp(c, want) == 0)
                return j;
        }
        sg_json_decref(j);
        pause_50ms();
    }
    fail_msg("request %s never got the decision comment '%s'", id, want);
    return NULL;
}

void g_wait_sn_field(const char *sys_id, const char *field, const char *want)
{
    char q[256], last[64] = "";
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s?sysparm_fields=%s", sys_id, field);
    for (int i = 0; i < 2400; i++) {
        sg_json *j = g_sim_call("GET", q, NULL, 200);
        const char *v = sg_json_get_str(sg_json_get(j, "result"), field);
        snprintf(last, sizeof(last), "%s", v ? v : "");
        sg_json_decref(j);
        if (strcmp(last, want) == 0)
            return;
        pause_50ms();
    }
    fail_msg("ServiceNow request %s: %s stayed '%s', never '%s'", sys_id, field, last, want);
}

bool g_sn_work_note(const char *sys_id, const char *text)
{
    char q[256];
    snprintf(q, sizeof(q),
             "/api/now/table/sys_journal_field?sysparm_query=element_id%%3D%s%%5Eelement%%3Dwork_"
             "notes&sysparm_fields=value",
             sys_id);
    for (int i = 0; i < 2400; i++) {
        sg_json *j = g_sim_call("GET", q, NULL, 200);
        sg_json *list = sg_json_get(j, "result");
        bool found = false;
        for (size_t k = 0; k < sg_json_array_size(list) && !found; k++)
            found = strstr(sg_json_get_str(sg_json_array_get(list, k), "value"), text) != NULL;
        sg_json_decref(j);
        if (found)
            return true;
        pause_50ms();
    }
    return false;
}

char *g_update_set_property(const char *xml, const char *name)
{
    sg_xml_doc *doc = NULL;
    assert_int_equal(sg_xml_parse(xml, strlen(xml), 0, &doc), SG_OK);
    char *found = NULL;
    for (sg_xml_node *row = sg_xml_first(sg_xml_root(doc)); row && !found; row = sg_xml_next(row)) {
        if (strcmp(sg_xml_name(row), "sys_update_xml") != 0)
            continue;
        char *payload = sg_xml_text(sg_xml_child(row, "payload"));
        sg_xml_doc *pd = NULL;
        assert_int_equal(sg_xml_parse(payload, strlen(payload), 0, &pd), SG_OK);
        sg_xml_node *rec = sg_xml_first(sg_xml_root(pd));
        if (strcmp(sg_xml_name(rec), "sys_properties") == 0) {
            char *n = sg_xml_text(sg_xml_child(rec, "name"));
            if (strcmp(n, name) == 0)
                found = sg_xml_text(sg_xml_child(rec, "value"));
            free(n);
        }
        sg_xml_free(pd);
        free(payload);
    }
    sg_xml_free(doc);
    return found;
}

void g_add_warehouse(int port, const char *password)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"warehouse\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 port=%d "
             "dbname=postgres user=snowgate_grantor sslmode=disable\",\"password\":\"%s\"}",
             port, password);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections", body, &j), 201);
    sg_json_decref(j);
}

int g_count_in_sn(const char *table, const char *query)
{
    char q[300];
    snprintf(q, sizeof(q), "/api/now/table/%s?sysparm_query=%s&sysparm_fields=sys_id", table,
             query);
    sg_json *j = g_sim_call("GET", q, NULL, 200);
    int n = (int)sg_json_array_size(sg_json_get(j, "result"));
    sg_json_decref(j);
    return n;
}

typedef struct sealed_ctx {
    char *sealed;
} sealed_ctx;

static int sealed_tx(sg_conn *c, void *ctx)
{
    sealed_ctx *s = ctx;
    sg_rows *r = NULL;
    int rc = sg_conn_query(c, "SELECT webhook_secret FROM integrations WHERE name = 'servicenow'",
                           NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1)
        s->sealed = sg_xstrdup(sg_rows_text(r, 0));
    sg_rows_free(r);
    return SG_OK;
}

char *g_stored_webhook_secret(const char *store_url, const char *data_dir)
{
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = store_url;
    o.migrate = false;
    o.pool_size = 1;
    sg_store *st = NULL;
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    sealed_ctx s = {NULL};
    assert_int_equal(sg_store_read(st, sealed_tx, &s), SG_OK);
    sg_store_close(st);
    assert_non_null(s.sealed);
    char key[512];
    snprintf(key, sizeof(key), "%s/master.key", data_dir);
    sg_secrets sec;
    assert_int_equal(sg_secrets_open(key, &sec), SG_OK);
    char *plain = NULL;
    assert_int_equal(sg_secrets_open_value(&sec, SG_INTEGRATION_SECRET_BINDING, s.sealed, &plain),
                     SG_OK);
    sg_secrets_close(&sec);
    free(s.sealed);
    return plain;
}

char *g_webhook_secret(void)
{
    return g_stored_webhook_secret(G.store_url, G.dir);
}

static int set_secret_tx(sg_conn *c, void *ctx)
{
    sg_val v[] = {SG_VTEXT((const char *)ctx)};
    return sg_conn_exec(c,
                        "UPDATE integrations SET webhook_secret = ?1, webhook_secret_previous = "
                        "NULL, webhook_secret_previous_until = NULL WHERE name = 'servicenow'",
                        v, 1, NULL);
}

void g_set_webhook_secret(const char *secret)
{
    char key[512];
    snprintf(key, sizeof(key), "%s/master.key", G.dir);
    sg_secrets sec;
    assert_int_equal(sg_secrets_open(key, &sec), SG_OK);
    char *sealed = NULL;
    assert_int_equal(sg_secrets_seal(&sec, SG_INTEGRATION_SECRET_BINDING, secret, &sealed), SG_OK);
    sg_secrets_close(&sec);
    g_in_store(set_secret_tx, sealed);
    free(sealed);
}

int g_webhook_sign(const char *secret, const char *msg_id, const char *body, g_webhook_headers *out)
{
    int64_t now = (int64_t)time(NULL);
    sg_buf sig = SG_BUF_INIT(0);
    int rc = sg_webhook_sig_sign(secret, msg_id, now, body, strlen(body), &sig);
    if (rc == SG_OK) {
        snprintf(out->id, sizeof(out->id), "webhook-id: %s", msg_id);
        snprintf(out->timestamp, sizeof(out->timestamp), "webhook-timestamp: %lld", (long long)now);
        snprintf(out->signature, sizeof(out->signature), "webhook-signature: %s", sg_buf_str(&sig));
    }
    sg_buf_free(&sig);
    return rc;
}

long g_deliver_webhook(const char *base, const char *secret, const char *msg_id, const char *body)
{
    g_webhook_headers w;
    assert_int_equal(g_webhook_sign(secret, msg_id, body, &w), SG_OK);
    const char *hdrs[] = {w.id, w.timestamp, w.signature, NULL};
    return h_call("POST", base, "/webhooks/servicenow", hdrs, body, NULL, NULL);
}
