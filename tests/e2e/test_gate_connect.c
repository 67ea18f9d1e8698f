/* End to end: the whole admin path to CONNECTED against snowsim, with snowsim running the
 * generated update set's business rule and Scripted REST API; then every failure mode of
 * Connect and test, Run test, and needs_reconnect. */
#include "e2e/sim_helpers.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SVC_PASSWORD  "Svc-Pa55word!"
#define CLIENT_SECRET "snowgate-client-secret"

static h_sim sim;
static h_proc gate;
static char *gate_dir;
static char admin_h[128];
static char client_id[64];
static char role_id[33], svc_id[33];

static void spawn_gate(void)
{
    char ini[512];
    snprintf(ini, sizeof(ini), "%s/snowgate.ini", gate_dir);
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "serve",
                          "--listen",
                          "127.0.0.1:0",
                          "--data",
                          gate_dir,
                          "--config",
                          ini,
                          "--allow-insecure-loopback",
                          NULL};
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 30000, &gate), SG_OK);
}

static int start(void **state)
{
    (void)state;
    const char *extra[] = {"--allow-insecure-loopback", NULL};
    h_sim_start(&sim, NULL, extra);
    gate_dir = h_tmpdir("gateconnect");
    const char *add[] = {SG_BUILD_DIR "/snowgate",
                         "user",
                         "add",
                         "alice",
                         "--role",
                         "admin",
                         "--data",
                         gate_dir,
                         NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(add, NULL, 20000, &out, NULL), 0);
    snprintf(admin_h, sizeof(admin_h), "Authorization: Bearer %.64s", sg_buf_str(&out));
    sg_buf_free(&out);
    char ini[512];
    snprintf(ini, sizeof(ini), "%s/snowgate.ini", gate_dir);
    const char *cfg =
        "[servicenow]\nwebhook_timeout = 5\ntest_interval = 1\nreconcile_interval = 1\n"
        "[jobs]\nlease = 3\n";
    assert_int_equal(h_write_file(ini, cfg, strlen(cfg)), SG_OK);
    spawn_gate();
    return 0;
}

static int stop(void **state)
{
    (void)state;
    assert_int_equal(h_stop(&gate, SIGTERM, 30000), 0);
    h_sim_stop(&sim);
    h_rmdir(gate_dir);
    free(gate_dir);
    return 0;
}

static sg_json *sim_call(const char *method, const char *path, const char *body, long want)
{
    const char *sa[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    long st = h_call(method, sim.p.url, path, sa, body, &j, NULL);
    if (st != want)
        fail_msg("snowsim %s %s: %ld", method, path, st);
    return j;
}

static long gate_call(const char *method, const char *path, const char *body, sg_json **j)
{
    const char *h[] = {admin_h, NULL};
    return h_call(method, gate.url, path, h, body, j, NULL);
}

/* Steps 1 and 2: the OAuth app in ServiceNow, then instance and client in snowgate. */
static void steps_1_2(const char *secret_in_snowgate)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"snowgate OAuth App\",\"client_secret\":\"%s\",\"redirect_url\":"
             "\"%s/oauth-callback\"}",
             CLIENT_SECRET, gate.url);
    sg_json *j = sim_call("POST", "/api/now/table/oauth_entity", body, 201);
    snprintf(client_id, sizeof(client_id), "%s",
             sg_json_get_str(sg_json_get(j, "result"), "client_id"));
    sg_json_decref(j);
    snprintf(body, sizeof(body),
             "{\"instance_url\":\"%s\",\"client_id\":\"%s\",\"client_secret\":\"%s\"}", sim.p.url,
             client_id, secret_in_snowgate);
    assert_int_equal(gate_call("PUT", "/api/v1/integrations/servicenow", body, &j), 200);
    sg_json_decref(j);
}

/* Step 3: download the update set, import, preview and commit it in ServiceNow. */
static void step_3(void)
{
    sg_json *j = NULL;
    sg_http_response r;
    const char *h[] = {admin_h, NULL};
    assert_int_equal(
        h_call("GET", gate.url, "/api/v1/integrations/servicenow/update-set", h, NULL, NULL, &r),
        200);
    long status = 0;
    char *id = us_upload(&sim, r.body.data, r.body.len, &status);
    sg_http_response_free(&r);
    assert_int_equal(status, 302);
    char *label = us_cicd(&sim, "preview", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    label = us_cicd(&sim, "commit", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    free(id);
    j = sim_call("GET", "/api/now/table/sys_user_role?name=snowgate_service_account_role", NULL,
                 200);
    snprintf(role_id, sizeof(role_id), "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
}

/* Step 4: the service user, optionally with its role. */
static void step_4(bool with_role)
{
    sg_json *j = sim_call(
        "POST", "/api/now/table/sys_user",
        "{\"user_name\":\"snowgate.service\",\"user_password\":\"" SVC_PASSWORD "\"}", 201);
    snprintf(svc_id, sizeof(svc_id), "%s", sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    if (with_role) {
        char body[128];
        snprintf(body, sizeof(body), "{\"user\":\"%s\",\"role\":\"%s\"}", svc_id, role_id);
        sg_json_decref(sim_call("POST", "/api/now/table/sys_user_has_role", body, 201));
    }
}

/* Step 5: Connect and test. Returns the HTTP status; *failed the first failing check or NULL. */
static long connect(const char *password, sg_json **result, const char **failed)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"password\":\"%s\"}", password);
    long st = gate_call("POST", "/api/v1/integrations/servicenow/connect", body, result);
    *failed = NULL;
    sg_json *checks = sg_json_get(*result, "checks");
    assert_int_equal(sg_json_array_size(checks), 6);
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
static void connected(void)
{
    steps_1_2(CLIENT_SECRET);
    step_3();
    step_4(true);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(connect(SVC_PASSWORD, &res, &failed), 200);
    sg_json_decref(res);
}

/* Runs fn in a transaction on snowgate's own database, behind the server's back. */
static void in_gate_store(sg_store_fn fn, void *ctx)
{
    char *url = sg_xasprintf("sqlite:%s/snowgate.db", gate_dir);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrate = false;
    o.pool_size = 1;
    sg_store *st = NULL;
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    assert_int_equal(sg_store_tx(st, fn, ctx), SG_OK);
    sg_store_close(st);
    free(url);
}

static const char *fix_of(sg_json *result, const char *name)
{
    sg_json *checks = sg_json_get(result, "checks");
    for (size_t i = 0; i < sg_json_array_size(checks); i++)
        if (strcmp(sg_json_get_str(sg_json_array_get(checks, i), "name"), name) == 0)
            return sg_json_get_str(sg_json_array_get(checks, i), "fix");
    return NULL;
}

static const char *status_of(void)
{
    static char s[64];
    sg_json *j = NULL;
    assert_int_equal(gate_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    snprintf(s, sizeof(s), "%s", sg_json_get_str(j, "status"));
    sg_json_decref(j);
    return s;
}

static void test_admin_path_to_connected(void **state)
{
    (void)state;
    steps_1_2(CLIENT_SECRET);
    assert_string_equal(status_of(), "awaiting_connection");
    step_3();
    step_4(true);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(connect(SVC_PASSWORD, &res, &failed), 200);
    assert_null(failed);
    assert_string_equal(sg_json_get_str(res, "status"), "connected");
    sg_json_decref(res);
    assert_string_equal(status_of(), "connected");
    sg_json *j = NULL;
    assert_int_equal(gate_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "service_user"), "snowgate.service");
    bool ok = false;
    assert_true(sg_json_get_bool(sg_json_get(j, "last_test"), "ok", &ok));
    assert_true(ok);
    sg_json_decref(j);
    /* The sample request was closed again. */
    j = sim_call("GET",
                 "/api/now/table/"
                 "sc_request?sysparm_query=correlation_idSTARTSWITHsnowgate%3Aconnection-test",
                 NULL, 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    assert_string_equal(
        sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "request_state"),
        "closed_cancelled");
    sg_json_decref(j);
    /* Run test works with the stored refresh token alone. */
    assert_int_equal(gate_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "status"), "connected");
    sg_json_decref(j);
    /* The Overview counts snowgate's requests in ServiceNow by state (not the test request). */
    sg_json_decref(sim_call("POST", "/api/now/table/sc_request",
                            "{\"correlation_id\":\"snowgate:r1\",\"request_state\":\"in_process\"}",
                            201));
    sg_json_decref(
        sim_call("POST", "/api/now/table/sc_request", "{\"correlation_id\":\"snowgate:r2\"}", 201));
    sg_json_decref(
        sim_call("POST", "/api/now/table/sc_request", "{\"correlation_id\":\"other\"}", 201));
    assert_int_equal(gate_call("GET", "/api/v1/integrations/servicenow/overview", NULL, &j), 200);
    int64_t n = 0;
    assert_true(sg_json_get_int(j, "linked_requests", &n));
    assert_int_equal(n, 2);
    assert_true(sg_json_get_int(sg_json_get(j, "by_state"), "in_process", &n));
    assert_int_equal(n, 1);
    assert_true(sg_json_get_int(sg_json_get(j, "by_state"), "requested", &n));
    assert_int_equal(n, 1);
    assert_non_null(strstr(sg_json_get_str(sg_json_array_get(sg_json_get(j, "latest"), 0), "url"),
                           "/sc_request.do?sys_id="));
    sg_json_decref(j);
    /* The status shows the count as of the last test. */
    assert_int_equal(gate_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    sg_json_decref(j);
    assert_int_equal(gate_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    assert_true(sg_json_get_int(j, "linked_issues", &n));
    assert_int_equal(n, 2);
    assert_string_equal(sg_json_get_str(j, "grant_type"), "password");
    assert_non_null(sg_json_get_str(j, "refresh_token_expires_at"));
    sg_json_decref(j);
    /* The password is used, then forgotten: it is nowhere in the data dir. */
    const char *argv[] = {"/bin/grep", "-rlaF",       "-e",     SVC_PASSWORD,
                          "-e",        CLIENT_SECRET, gate_dir, NULL};
    assert_int_equal(h_run(argv, NULL, 20000, NULL, NULL), 1);
    /* Revoking the tokens in ServiceNow makes Run test ask for a reconnect. */
    j = sim_call("GET", "/api/now/table/oauth_credential?sysparm_fields=sys_id", NULL, 200);
    sg_json *list = sg_json_get(j, "result");
    for (size_t i = 0; i < sg_json_array_size(list); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/now/table/oauth_credential/%s",
                 sg_json_get_str(sg_json_array_get(list, i), "sys_id"));
        sim_call("DELETE", path, NULL, 204);
    }
    sg_json_decref(j);
    /* The scheduled Run test or the reconciler (each every second here) notices on its own,
     * and logs it. */
    for (int i = 0; i < 300 && strcmp(status_of(), "needs_reconnect") != 0; i++) {
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_string_equal(status_of(), "needs_reconnect");
    sg_buf log = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(gate.log_path, &log), SG_OK);
    bool logged = strstr(sg_buf_str(&log), "\"msg\":\"scheduled Run test failed\"") ||
                  strstr(sg_buf_str(&log), "\"msg\":\"reconciler run failed\"");
    sg_buf_free(&log);
    assert_true(logged);
    assert_int_equal(gate_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 422);
    sg_json_decref(j);
    assert_string_equal(status_of(), "needs_reconnect");
    assert_int_equal(gate_call("GET", "/api/v1/integrations/servicenow/overview", NULL, &j), 409);
    sg_json_decref(j);
}

static int count_credentials(void)
{
    sg_json *j = sim_call("GET", "/api/now/table/oauth_credential?sysparm_fields=type", NULL, 200);
    int n = 0;
    sg_json *list = sg_json_get(j, "result");
    for (size_t i = 0; i < sg_json_array_size(list); i++)
        n += strcmp(sg_json_get_str(sg_json_array_get(list, i), "type"), "refresh_token") == 0;
    sg_json_decref(j);
    return n;
}

/* Connected, with a manual connection "desk" and the asset. */
static void connected_with_asset(const char *asset)
{
    connected();
    sg_json *j = NULL;
    assert_int_equal(
        gate_call("POST", "/api/v1/connections", "{\"name\":\"desk\",\"kind\":\"manual\"}", &j),
        201);
    sg_json_decref(j);
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"type\":\"dataset\",\"connection\":\"desk\"}",
             asset);
    assert_int_equal(gate_call("POST", "/api/v1/assets", body, &j), 201);
    sg_json_decref(j);
}

/* Creates a request as alice and waits until it is mirrored; fills its ids. */
static void request_mirrored(const char *body, char id[33], char sys_id[33])
{
    sg_json *j = NULL;
    assert_int_equal(gate_call("POST", "/api/v1/requests", body, &j), 201);
    snprintf(id, 33, "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    sys_id[0] = '\0';
    for (int i = 0; i < 1200 && !sys_id[0]; i++) {
        assert_int_equal(gate_call("GET", path, NULL, &j), 200);
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
static void sn_admin_decides(const char *sys_id, const char *state, char admin_id[33])
{
    sg_json *j = sim_call(
        "GET", "/api/now/table/sys_user?sysparm_query=user_name%3Dadmin&sysparm_fields=sys_id",
        NULL, 200);
    snprintf(admin_id, 33, "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    char body[256], q[128];
    snprintf(body, sizeof(body),
             "{\"approver\":\"%s\",\"sysapproval\":\"%s\",\"state\":\"requested\"}", admin_id,
             sys_id);
    j = sim_call("POST", "/api/now/table/sysapproval_approver", body, 201);
    snprintf(q, sizeof(q), "/api/now/table/sysapproval_approver/%s",
             sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    snprintf(body, sizeof(body), "{\"state\":\"%s\"}", state);
    sg_json_decref(sim_call("PATCH", q, body, 200));
}

/* Waits until the request at path is no longer pending; returns it (the caller's). */
static sg_json *wait_decided(const char *path)
{
    for (int i = 0; i < 1200; i++) {
        sg_json *j = NULL;
        assert_int_equal(gate_call("GET", path, NULL, &j), 200);
        if (strcmp(sg_json_get_str(j, "state"), "pending") != 0)
            return j;
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    fail_msg("%s was never decided", path);
    return NULL;
}

/* A request is mirrored: one sc_request and one sc_req_item from the catalog item, both with
 * correlation_id snowgate:<id>, an approver-ready description, and a link back. */
static void test_request_mirrored(void **state)
{
    (void)state;
    connected_with_asset("crm.accounts");
    char id[33], mirrored[33], path[128];
    request_mirrored("{\"asset\":\"crm.accounts\",\"privilege\":\"read\","
                     "\"justification\":\"quarterly churn review\",\"duration\":\"P7D\"}",
                     id, mirrored);
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    sg_json *j = NULL, *sn = NULL;
    assert_int_equal(gate_call("GET", path, NULL, &sn), 200);
    const char *sys_id = sg_json_get_str(sg_json_get(sn, "servicenow"), "sys_id");
    assert_non_null(strstr(sg_json_get_str(sg_json_get(sn, "servicenow"), "number"), "REQ"));
    assert_non_null(strstr(sg_json_get_str(sg_json_get(sn, "servicenow"), "url"), sys_id));
    /* Exactly one of each in ServiceNow, found by correlation_id. */
    char q[256];
    snprintf(q, sizeof(q),
             "/api/now/table/sc_request?sysparm_query=correlation_id%%3Dsnowgate%%3A%s"
             "&sysparm_fields=sys_id,short_description,description",
             id);
    j = sim_call("GET", q, NULL, 200);
    sg_json *list = sg_json_get(j, "result");
    assert_int_equal(sg_json_array_size(list), 1);
    sg_json *rec = sg_json_array_get(list, 0);
    assert_string_equal(sg_json_get_str(rec, "sys_id"), sys_id);
    assert_string_equal(sg_json_get_str(rec, "short_description"),
                        "Data access: grant read on crm.accounts for alice");
    const char *desc = sg_json_get_str(rec, "description");
    assert_non_null(strstr(desc, "Justification: quarterly churn review"));
    assert_non_null(strstr(desc, "Duration: P7D"));
    assert_non_null(strstr(desc, id));
    sg_json_decref(j);
    snprintf(q, sizeof(q),
             "/api/now/table/sc_req_item?sysparm_query=request%%3D%s&sysparm_fields=cat_item."
             "name,correlation_id",
             sys_id);
    j = sim_call("GET", q, NULL, 200);
    list = sg_json_get(j, "result");
    assert_int_equal(sg_json_array_size(list), 1);
    assert_string_equal(sg_json_get_str(sg_json_array_get(list, 0), "cat_item.name"),
                        "Data access request");
    sg_json_decref(j);
    /* The approver approves in ServiceNow: the business rule's event makes snowgate re-read the
     * request and apply the decision, naming the ServiceNow approver. */
    char admin_id[33];
    sn_admin_decides(sys_id, "approved", admin_id);
    sg_json *done = wait_decided(path);
    assert_string_equal(sg_json_get_str(done, "state"), "approved");
    assert_string_equal(sg_json_get_str(done, "decided_by"), "servicenow:admin");
    sg_json_decref(done);
    /* Applied by hand (manual connection): the ServiceNow request closes with a work note. */
    snprintf(q, sizeof(q), "/api/v1/requests/%s/done", id);
    assert_int_equal(gate_call("POST", q, "{\"comment\":\"added to the CRM group\"}", &j), 200);
    sg_json_decref(j);
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s?sysparm_fields=request_state", sys_id);
    bool closed = false;
    for (int i = 0; i < 1200 && !closed; i++) {
        j = sim_call("GET", q, NULL, 200);
        closed = strcmp(sg_json_get_str(sg_json_get(j, "result"), "request_state"),
                        "closed_complete") == 0;
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(closed);
    snprintf(q, sizeof(q),
             "/api/now/table/sys_journal_field?sysparm_query=element_id%%3D%s%%5Eelement%%3Dwork_"
             "notes&sysparm_fields=value",
             sys_id);
    j = sim_call("GET", q, NULL, 200);
    list = sg_json_get(j, "result");
    bool noted = false;
    for (size_t i = 0; i < sg_json_array_size(list); i++)
        noted = noted || strstr(sg_json_get_str(sg_json_array_get(list, i), "value"),
                                "snowgate: Access applied by alice: applied by hand: added to the "
                                "CRM group");
    assert_true(noted);
    sg_json_decref(j);
    sg_json_decref(sn);

    /* A decision in snowgate's inbox is written to ServiceNow: approval, and who made it. */
    const char *add[] = {SG_BUILD_DIR "/snowgate",
                         "user",
                         "add",
                         "sam",
                         "--role",
                         "steward",
                         "--data",
                         gate_dir,
                         NULL};
    sg_buf tok = SG_BUF_INIT(0);
    assert_int_equal(h_run(add, NULL, 20000, &tok, NULL), 0);
    char sam_h[128];
    snprintf(sam_h, sizeof(sam_h), "Authorization: Bearer %.64s", sg_buf_str(&tok));
    sg_buf_free(&tok);
    assert_int_equal(gate_call("POST", "/api/v1/requests",
                               "{\"asset\":\"crm.accounts\",\"privilege\":\"write\","
                               "\"justification\":\"fix owners\"}",
                               &j),
                     201);
    char id2[33];
    snprintf(id2, sizeof(id2), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id2);
    const char *hs[] = {sam_h, NULL};
    assert_int_equal(h_call("POST", gate.url, path, hs, "{\"comment\":\"ok\"}", &j, NULL), 200);
    sg_json_decref(j);
    snprintf(q, sizeof(q),
             "/api/now/table/sc_request?sysparm_query=correlation_id%%3Dsnowgate%%3A%s"
             "&sysparm_fields=approval",
             id2);
    bool approved = false;
    for (int i = 0; i < 1200 && !approved; i++) {
        j = sim_call("GET", q, NULL, 200);
        const char *a = sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "approval");
        approved = a && strcmp(a, "approved") == 0;
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(approved);
    /* The echo of that change (webhook, re-read) leaves the request as it is. */
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id2);
    assert_int_equal(gate_call("GET", path, NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "approved");
    assert_string_equal(sg_json_get_str(j, "decided_by"), "sam");
    sg_json_decref(j);
}

/* A lost webhook delays a decision made in ServiceNow, never loses it: the reconciler finds
 * the changed record and the same re-read applies it. */
static void test_reconciler_finds_decision(void **state)
{
    (void)state;
    connected_with_asset("hr.salaries");
    char id[33], sys_id[33], path[128], q[256];
    request_mirrored("{\"asset\":\"hr.salaries\",\"privilege\":\"read\","
                     "\"justification\":\"pay equity audit\"}",
                     id, sys_id);
    /* The rule is switched off, so no event is sent for the rejection. */
    sg_json *j =
        sim_call("GET", "/api/now/table/sys_script?name=snowgate%20Business%20Rule", NULL, 200);
    snprintf(q, sizeof(q), "/api/now/table/sys_script/%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    sg_json_decref(sim_call("PATCH", q, "{\"active\":false}", 200));
    char admin_id[33];
    sn_admin_decides(sys_id, "rejected", admin_id);
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    j = wait_decided(path);
    assert_string_equal(sg_json_get_str(j, "state"), "rejected");
    assert_string_equal(sg_json_get_str(j, "decided_by"), "servicenow:admin");
    sg_json_decref(j);
}

/* kill -9 while the sc_req_item is being created (ServiceNow is slow to answer, so the record
 * is made after snowgate died): after a restart the job runs again, finds both records by
 * correlation_id, and creates no duplicate. */
static void test_crash_mid_mirror(void **state)
{
    (void)state;
    connected_with_asset("fin.ledger");
    sg_json *j = NULL;
    sg_json_decref(sim_call("PUT", "/api/x_snowsim/faults",
                            "{\"rules\":[{\"path\":\"/api/now/table/sc_req_item\",\"method\":"
                            "\"POST\",\"kind\":\"delay\",\"delay_ms\":3000}]}",
                            200));
    assert_int_equal(gate_call("POST", "/api/v1/requests",
                               "{\"asset\":\"fin.ledger\",\"privilege\":\"read\","
                               "\"justification\":\"month-end close\"}",
                               &j),
                     201);
    char id[33], q[256];
    snprintf(id, sizeof(id), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    snprintf(q, sizeof(q),
             "/api/now/table/sc_request?sysparm_query=correlation_id%%3Dsnowgate%%3A%s"
             "&sysparm_fields=sys_id",
             id);
    size_t n = 0;
    for (int i = 0; i < 1200 && n == 0; i++) {
        j = sim_call("GET", q, NULL, 200);
        n = sg_json_array_size(sg_json_get(j, "result"));
        sg_json_decref(j);
        struct timespec t = {0, 20 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_int_equal(n, 1);
    struct timespec t = {0, 500 * 1000 * 1000};
    nanosleep(&t, NULL);
    assert_int_equal(h_stop(&gate, SIGKILL, 30000), 128 + SIGKILL);
    sg_json_decref(sim_call("PUT", "/api/x_snowsim/faults", "{\"rules\":[]}", 200));
    spawn_gate();
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    sg_json *sn = NULL;
    for (int i = 0; i < 1200 && !sn; i++) {
        assert_int_equal(gate_call("GET", path, NULL, &j), 200);
        if (sg_json_typeof(sg_json_get(j, "servicenow")) == SG_JSON_OBJECT)
            sn = j;
        else
            sg_json_decref(j);
        struct timespec p = {0, 50 * 1000 * 1000};
        nanosleep(&p, NULL);
    }
    if (!sn)
        fail_msg("the request was never mirrored after the restart");
    j = sim_call("GET", q, NULL, 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    snprintf(q, sizeof(q),
             "/api/now/table/sc_req_item?sysparm_query=request%%3D%s&sysparm_fields=sys_id",
             sg_json_get_str(sg_json_get(sn, "servicenow"), "sys_id"));
    j = sim_call("GET", q, NULL, 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    sg_json_decref(sn);
}

typedef struct link_ctx {
    const char *sn_user_id;
} link_ctx;

static int link_tx(sg_conn *c, void *ctx)
{
    link_ctx *l = ctx;
    sg_val v[] = {SG_VTEXT(l->sn_user_id)};
    return sg_conn_exec(c,
                        "INSERT INTO account_links (user_id, sn_user_name, sn_user_id, linked_at) "
                        "SELECT id, 'admin', ?1, '2026-01-01T00:00:00Z' FROM users WHERE name = "
                        "'alice'",
                        v, 1, NULL);
}

/* ServiceNow answers 503 and 429 for a while: the jobs retry (honouring Retry-After), every
 * request ends up mirrored exactly once. */
static void test_outage_converges(void **state)
{
    (void)state;
    connected_with_asset("web.sessions");
    sg_json_decref(sim_call("PUT", "/api/x_snowsim/faults",
                            "{\"rules\":[{\"path\":\"/api/now/table/sc_re\",\"kind\":"
                            "\"status\",\"status\":503,\"count\":4},{\"path\":\"/api/now/"
                            "table/\",\"kind\":\"ratelimit\",\"retry_after\":1,\"count\":3}]}",
                            200));
    static const char *const privs[] = {"read", "write"};
    char ids[2][33];
    for (int i = 0; i < 2; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"asset\":\"web.sessions\",\"privilege\":\"%s\",\"justification\":"
                 "\"capacity planning\"}",
                 privs[i]);
        sg_json *j = NULL;
        assert_int_equal(gate_call("POST", "/api/v1/requests", body, &j), 201);
        snprintf(ids[i], 33, "%s", sg_json_get_str(j, "id"));
        sg_json_decref(j);
    }
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/requests/%s", ids[i]);
        bool mirrored = false;
        for (int k = 0; k < 1200 && !mirrored; k++) {
            sg_json *j = NULL;
            assert_int_equal(gate_call("GET", path, NULL, &j), 200);
            mirrored = sg_json_typeof(sg_json_get(j, "servicenow")) == SG_JSON_OBJECT;
            sg_json_decref(j);
            struct timespec t = {0, 50 * 1000 * 1000};
            nanosleep(&t, NULL);
        }
        assert_true(mirrored);
        char q[256];
        snprintf(q, sizeof(q),
                 "/api/now/table/sc_request?sysparm_query=correlation_id%%3Dsnowgate%%3A%s"
                 "&sysparm_fields=sys_id",
                 ids[i]);
        sg_json *j = sim_call("GET", q, NULL, 200);
        assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
        sg_json_decref(j);
    }
    /* The outage was real: the mirror jobs needed retries. */
    sg_json *jobs = NULL;
    assert_int_equal(gate_call("GET", "/api/v1/jobs?state=done", NULL, &jobs), 200);
    int64_t retried = 0;
    sg_json *items = sg_json_get(jobs, "items");
    for (size_t k = 0; k < sg_json_array_size(items); k++) {
        sg_json *job = sg_json_array_get(items, k);
        int64_t attempts = 0;
        if (strcmp(sg_json_get_str(job, "kind"), "servicenow.mirror") == 0 &&
            sg_json_get_int(job, "attempts", &attempts))
            retried += attempts;
    }
    sg_json_decref(jobs);
    assert_true(retried >= 1);
}

/* alice's ServiceNow account approving alice's request is a self-approval: refused, on record. */
static void test_self_approval_in_servicenow(void **state)
{
    (void)state;
    connected_with_asset("ops.incidents");
    sg_json *j = sim_call(
        "GET", "/api/now/table/sys_user?sysparm_query=user_name%3Dadmin&sysparm_fields=sys_id",
        NULL, 200);
    char admin_id[33];
    snprintf(admin_id, 33, "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    /* alice linked her ServiceNow account (snowsim's admin). */
    link_ctx l = {admin_id};
    in_gate_store(link_tx, &l);
    char id[33], sys_id[33];
    request_mirrored("{\"asset\":\"ops.incidents\",\"privilege\":\"read\","
                     "\"justification\":\"on-call\"}",
                     id, sys_id);
    /* Raised on her behalf: requested_for is her ServiceNow user. */
    char q[256];
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s?sysparm_fields=requested_for", sys_id);
    j = sim_call("GET", q, NULL, 200);
    assert_string_equal(
        sg_json_get_str(sg_json_get(sg_json_get(j, "result"), "requested_for"), "value"), admin_id);
    sg_json_decref(j);
    sn_admin_decides(sys_id, "approved", admin_id);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    bool flagged = false;
    for (int i = 0; i < 1200 && !flagged; i++) {
        assert_int_equal(gate_call("GET", path, NULL, &j), 200);
        sg_json *h = sg_json_get(j, "history");
        sg_json *last = sg_json_array_get(h, sg_json_array_size(h) - 1);
        flagged = strcmp(sg_json_get_str(last, "event"), "conflict") == 0;
        if (flagged) {
            assert_string_equal(sg_json_get_str(j, "state"), "pending");
            assert_non_null(strstr(sg_json_get_str(last, "note"), "self-approval"));
            assert_string_equal(sg_json_get_str(last, "actor"), "servicenow:admin");
        }
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(flagged);
}

static void test_disconnect_revokes(void **state)
{
    (void)state;
    connected();
    assert_int_equal(count_credentials(), 1);
    sg_json *j = NULL;
    assert_int_equal(gate_call("DELETE", "/api/v1/integrations/servicenow", NULL, &j), 204);
    assert_int_equal(count_credentials(), 0);
    assert_string_equal(status_of(), "not_configured");
}

static void test_wrong_client_secret(void **state)
{
    (void)state;
    steps_1_2("not-the-secret");
    step_3();
    step_4(true);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(connect(SVC_PASSWORD, &res, &failed), 422);
    assert_string_equal(failed, "token_obtained");
    assert_non_null(strstr(fix_of(res, "token_obtained"), "client ID and secret"));
    sg_json_decref(res);
    assert_string_equal(status_of(), "awaiting_connection");
}

static void test_wrong_password(void **state)
{
    (void)state;
    steps_1_2(CLIENT_SECRET);
    step_3();
    step_4(true);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(connect("wrong-password", &res, &failed), 422);
    assert_string_equal(failed, "token_obtained");
    sg_json_decref(res);
    sg_json *j = NULL;
    assert_int_equal(gate_call("POST", "/api/v1/integrations/servicenow/connect", "{}", &j), 400);
    assert_non_null(
        strstr(sg_json_get_str(sg_json_get(j, "error"), "message"), "password is required"));
    sg_json_decref(j);
}

static void test_update_set_not_committed(void **state)
{
    (void)state;
    steps_1_2(CLIENT_SECRET);
    step_4(false);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(connect(SVC_PASSWORD, &res, &failed), 422);
    assert_string_equal(failed, "update_set_committed");
    sg_json *checks = sg_json_get(res, "checks");
    assert_non_null(strstr(sg_json_get_str(sg_json_array_get(checks, 2), "message"),
                           "the update set is not committed"));
    assert_non_null(strstr(fix_of(res, "update_set_committed"), "Step 3"));
    sg_json_decref(res);
}

static void test_missing_role(void **state)
{
    (void)state;
    steps_1_2(CLIENT_SECRET);
    step_3();
    step_4(false);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(connect(SVC_PASSWORD, &res, &failed), 422);
    assert_string_equal(failed, "role_assigned");
    assert_non_null(strstr(fix_of(res, "role_assigned"), "snowgate_service_account_role"));
    sg_json_decref(res);
}

static void test_webhook_never_arrives(void **state)
{
    (void)state;
    steps_1_2(CLIENT_SECRET);
    step_3();
    step_4(true);
    /* A ServiceNow admin switched the rule off. */
    sg_json *j =
        sim_call("GET", "/api/now/table/sys_script?name=snowgate%20Business%20Rule", NULL, 200);
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sys_script/%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    sg_json_decref(sim_call("PATCH", path, "{\"active\":false}", 200));
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(connect(SVC_PASSWORD, &res, &failed), 422);
    assert_string_equal(failed, "webhook_roundtrip");
    assert_non_null(strstr(fix_of(res, "webhook_roundtrip"), "snowgate Business Rule"));
    sg_json_decref(res);
}

static void test_unreachable_instance(void **state)
{
    (void)state;
    /* A port nothing listens on. */
    sg_json *j = NULL;
    assert_int_equal(gate_call("PUT", "/api/v1/integrations/servicenow",
                               "{\"instance_url\":\"http://127.0.0.1:9\",\"client_id\":\"x\","
                               "\"client_secret\":\"y\"}",
                               &j),
                     200);
    sg_json_decref(j);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(connect(SVC_PASSWORD, &res, &failed), 422);
    assert_string_equal(failed, "instance_reachable");
    sg_json_decref(res);
    assert_string_equal(status_of(), "awaiting_connection");
}

/* Drives snowsim's login and consent pages like a browser; returns the final redirect. */
static char *browser_authorize(const char *authorization_url, const char *user, const char *pw,
                               const char *action)
{
    const char *q = strchr(authorization_url, '?');
    assert_non_null(q);
    q++;
    sg_http_response r;
    assert_int_equal(h_http("GET", authorization_url, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(sg_buf_str(&r.body), "action=\"/login.do\""));
    sg_http_response_free(&r);
    char *form = sg_xasprintf("%s&user_name=%s&user_password=%s", q, user, pw);
    const char *fh[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    char *url = sg_xasprintf("%s/login.do", sim.p.url);
    assert_int_equal(h_http("POST", url, fh, form, &r), SG_OK);
    assert_int_equal(r.status, 200);
    free(url);
    free(form);
    const char *set = sg_http_response_header(&r, "Set-Cookie");
    char *cookie = sg_xasprintf("Cookie: %.*s", (int)strcspn(set, ";"), set);
    const char *ck = strstr(sg_buf_str(&r.body), "name=\"sysparm_ck\" value=\"");
    assert_non_null(ck);
    char *token = sg_xstrndup(ck + strlen("name=\"sysparm_ck\" value=\""), 32);
    sg_http_response_free(&r);
    form = sg_xasprintf("%s&sysparm_ck=%s&action=%s", q, token, action);
    const char *ch[] = {"Content-Type: application/x-www-form-urlencoded", cookie, NULL};
    url = sg_xasprintf("%s/oauth_auth.do", sim.p.url);
    assert_int_equal(h_http("POST", url, ch, form, &r), SG_OK);
    assert_int_equal(r.status, 302);
    char *loc = sg_xstrdup(sg_http_response_header(&r, "Location"));
    sg_http_response_free(&r);
    free(url);
    free(form);
    free(token);
    free(cookie);
    return loc;
}

static char *link_url(const char *auth_header)
{
    const char *h[] = {auth_header, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", gate.url, "/api/v1/me/servicenow/link", h, NULL, &j, NULL), 200);
    char *u = sg_xstrdup(sg_json_get_str(j, "authorization_url"));
    sg_json_decref(j);
    return u;
}

static void test_account_linking(void **state)
{
    (void)state;
    steps_1_2(CLIENT_SECRET);
    step_3();
    sg_json_decref(sim_call("POST", "/api/now/table/sys_user",
                            "{\"user_name\":\"maria\",\"user_password\":\"Maria-pw-1\"}", 201));
    const char *add[] = {SG_BUILD_DIR "/snowgate",
                         "user",
                         "add",
                         "bob",
                         "--role",
                         "member",
                         "--data",
                         gate_dir,
                         NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(add, NULL, 20000, &out, NULL), 0);
    char bob[128];
    snprintf(bob, sizeof(bob), "Authorization: Bearer %.64s", sg_buf_str(&out));
    sg_buf_free(&out);
    const char *as_bob[] = {bob, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", gate.url, "/api/v1/me/servicenow", as_bob, NULL, &j, NULL), 200);
    bool linked = true;
    assert_true(sg_json_get_bool(j, "linked", &linked));
    assert_false(linked);
    sg_json_decref(j);
    assert_int_equal(h_call("GET", gate.url, "/api/v1/me/servicenow/link", NULL, NULL, &j, NULL),
                     401);
    sg_json_decref(j);

    char *url = link_url(bob);
    assert_true(sg_str_startswith(url, sim.p.url));
    assert_non_null(strstr(url, "code_challenge_method=S256"));
    assert_non_null(strstr(url, "&state="));
    char *back = browser_authorize(url, "maria", "Maria-pw-1", "allow");
    char want[512];
    snprintf(want, sizeof(want), "%s/oauth-callback?code=", gate.url);
    assert_true(sg_str_startswith(back, want));
    sg_http_response r;
    assert_int_equal(h_http("GET", back, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(sg_buf_str(&r.body), "linked to the ServiceNow user maria"));
    sg_http_response_free(&r);
    assert_int_equal(h_call("GET", gate.url, "/api/v1/me/servicenow", as_bob, NULL, &j, NULL), 200);
    assert_true(sg_json_get_bool(j, "linked", &linked));
    assert_true(linked);
    assert_string_equal(sg_json_get_str(j, "user_name"), "maria");
    assert_true(sim_is_sys_id(sg_json_get_str(j, "sys_id")));
    sg_json_decref(j);
    /* The callback works once. */
    assert_int_equal(h_http("GET", back, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(sg_buf_str(&r.body), "already used"));
    sg_http_response_free(&r);
    free(back);
    free(url);

    /* Deny in ServiceNow: nothing is linked, and the page says why. */
    url = link_url(bob);
    back = browser_authorize(url, "maria", "Maria-pw-1", "deny");
    assert_non_null(strstr(back, "error=access_denied"));
    assert_int_equal(h_http("GET", back, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(sg_buf_str(&r.body), "You chose Deny"));
    sg_http_response_free(&r);
    free(back);
    free(url);

    /* A forged state is refused. */
    char *forged = sg_xasprintf("%s/oauth-callback?code=abc&state=%064d", gate.url, 7);
    assert_int_equal(h_http("GET", forged, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 400);
    sg_http_response_free(&r);
    free(forged);
}

static int expire_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE integrations SET refresh_expires = 1", NULL, 0, NULL);
}

static void test_refresh_expiry(void **state)
{
    (void)state;
    connected();
    /* Time passes beyond the refresh token's lifespan. */
    in_gate_store(expire_tx, NULL);
    sg_json *j = NULL;
    assert_int_equal(gate_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 422);
    assert_non_null(strstr(
        sg_json_get_str(sg_json_array_get(sg_json_get(j, "checks"), 1), "message"), "expired"));
    sg_json_decref(j);
    assert_string_equal(status_of(), "needs_reconnect");
}

static void test_client_credentials(void **state)
{
    (void)state;
    steps_1_2(CLIENT_SECRET);
    step_3();
    step_4(true);
    /* The instance allows client_credentials, with snowgate.service as the application user. */
    sg_json_decref(
        sim_call("POST", "/api/now/table/sys_properties",
                 "{\"name\":\"glide.oauth.inbound.client.credential.grant_type.enabled\","
                 "\"value\":\"true\"}",
                 201));
    sg_json *j =
        sim_call("GET", "/api/now/table/oauth_entity?name=snowgate%20OAuth%20App", NULL, 200);
    char path[128], body[96];
    snprintf(path, sizeof(path), "/api/now/table/oauth_entity/%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    snprintf(body, sizeof(body), "{\"user\":\"%s\"}", svc_id);
    sg_json_decref(sim_call("PATCH", path, body, 200));
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(connect(SVC_PASSWORD, &res, &failed), 200);
    assert_non_null(
        strstr(sg_json_get_str(sg_json_array_get(sg_json_get(res, "checks"), 1), "message"),
               "client_credentials grant"));
    sg_json_decref(res);
    assert_int_equal(gate_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "grant_type"), "client_credentials");
    assert_null(sg_json_get(j, "refresh_token_expires_at"));
    sg_json_decref(j);
    /* No refresh token exists in ServiceNow; Run test and the Overview still work. */
    j = sim_call("GET", "/api/now/table/oauth_credential?type=refresh_token", NULL, 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 0);
    sg_json_decref(j);
    assert_int_equal(gate_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    sg_json_decref(j);
    assert_int_equal(gate_call("GET", "/api/v1/integrations/servicenow/overview", NULL, &j), 200);
    sg_json_decref(j);
}

static int tamper_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", NULL, 0, NULL);
}

static void test_audit_verify(void **state)
{
    (void)state;
    connected();
    const char *argv[] = {SG_BUILD_DIR "/snowgate", "audit", "verify", "--data", gate_dir, NULL};
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 20000, &out, &err), 0);
    /* user.added, servicenow.configured, servicenow.connected */
    assert_non_null(strstr(sg_buf_str(&out), "audit log intact: 3 entries, head "));
    sg_buf_reset(&out);
    in_gate_store(tamper_tx, NULL);
    assert_int_equal(h_run(argv, NULL, 20000, &out, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "audit log tampered: entry 2 was edited"));
    sg_buf_free(&out);
    sg_buf_free(&err);
}

static void test_provision(void **state)
{
    (void)state;
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "servicenow",
                          "provision",
                          "--instance",
                          sim.p.url,
                          "--admin-user",
                          "admin",
                          "--admin-password-stdin",
                          "--snowgate",
                          gate.url,
                          "--token",
                          admin_h + strlen("Authorization: Bearer "),
                          "--allow-insecure-loopback",
                          NULL};
    for (int run = 0; run < 2; run++) { /* safe to re-run */
        sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
        int st = h_run_input(argv, NULL, "admin-Pw1\n", 120000, &out, &err);
        if (st != 0)
            fail_msg("provision run %d: exit %d\n%s\n%s", run, st, sg_buf_str(&out),
                     sg_buf_str(&err));
        const char *o = sg_buf_str(&out);
        assert_non_null(
            strstr(o, run == 0 ? "'snowgate OAuth App' created" : "'snowgate OAuth App' updated"));
        assert_non_null(strstr(o, "update set committed: Successful"));
        assert_non_null(strstr(o, "Connect and test: CONNECTED"));
        assert_null(strstr(o, "admin-Pw1"));
        sg_buf_free(&out);
        sg_buf_free(&err);
        assert_string_equal(status_of(), "connected");
    }
    /* One OAuth app, one service user, whatever the number of runs. */
    sg_json *j =
        sim_call("GET", "/api/now/table/oauth_entity?name=snowgate%20OAuth%20App", NULL, 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    j = sim_call("GET", "/api/now/table/sys_user?user_name=snowgate.service", NULL, 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    /* A wrong admin password stops at the first step, with the reason. */
    sg_buf err = SG_BUF_INIT(0);
    assert_int_equal(h_run_input(argv, NULL, "wrong\n", 60000, NULL, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "step 1 failed"));
    assert_non_null(strstr(sg_buf_str(&err), "User Not Authenticated"));
    sg_buf_free(&err);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_path_to_connected, start, stop),
        cmocka_unit_test_setup_teardown(test_disconnect_revokes, start, stop),
        cmocka_unit_test_setup_teardown(test_request_mirrored, start, stop),
        cmocka_unit_test_setup_teardown(test_reconciler_finds_decision, start, stop),
        cmocka_unit_test_setup_teardown(test_crash_mid_mirror, start, stop),
        cmocka_unit_test_setup_teardown(test_self_approval_in_servicenow, start, stop),
        cmocka_unit_test_setup_teardown(test_outage_converges, start, stop),
        cmocka_unit_test_setup_teardown(test_account_linking, start, stop),
        cmocka_unit_test_setup_teardown(test_provision, start, stop),
        cmocka_unit_test_setup_teardown(test_audit_verify, start, stop),
        cmocka_unit_test_setup_teardown(test_refresh_expiry, start, stop),
        cmocka_unit_test_setup_teardown(test_client_credentials, start, stop),
        cmocka_unit_test_setup_teardown(test_wrong_client_secret, start, stop),
        cmocka_unit_test_setup_teardown(test_wrong_password, start, stop),
        cmocka_unit_test_setup_teardown(test_update_set_not_committed, start, stop),
        cmocka_unit_test_setup_teardown(test_missing_role, start, stop),
        cmocka_unit_test_setup_teardown(test_webhook_never_arrives, start, stop),
        cmocka_unit_test_setup_teardown(test_unreachable_instance, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
