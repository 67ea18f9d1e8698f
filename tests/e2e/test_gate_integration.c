/* End to end: snowgate's ServiceNow integration setup against snowsim: admin-only routes,
 * configuration and its validation, the generated update set (structure, and running it in
 * snowsim), the signed webhook receiver, and secrets at rest. */
#include "e2e/gate_env.h"
#include "e2e/sim_helpers.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/webhook_sig.h"
#include "core/xml.h"
#include "gate/secrets.h"
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#undef CLIENT_SECRET /* this file sets up its own OAuth app */
#define CLIENT_SECRET "cl1ent-S3cret-value"

static h_sim sim;
static h_proc gate;
static char *gate_dir;
static char admin_h[128], member_h[128];

static char *add_user(const char *name, const char *role)
{
    const char *argv[] = {
        SG_BUILD_DIR "/snowgate", "user", "add", name, "--role", role, "--data", gate_dir, NULL};
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 20000, &out, &err), 0);
    char *tok = sg_xstrndup(sg_buf_str(&out), 64);
    assert_int_equal(strlen(tok), 64);
    sg_buf_free(&out);
    sg_buf_free(&err);
    return tok;
}

static int start(void **state)
{
    (void)state;
    const char *extra[] = {"--allow-insecure-loopback", NULL};
    h_sim_start(&sim, NULL, extra);
    gate_dir = h_tmpdir("gate");
    char *a = add_user("alice", "admin"), *m = add_user("bob", "member");
    snprintf(admin_h, sizeof(admin_h), "Authorization: Bearer %s", a);
    snprintf(member_h, sizeof(member_h), "Authorization: Bearer %s", m);
    free(a);
    free(m);
    const char *argv[] = {
        SG_BUILD_DIR "/snowgate",    "serve", "--listen", "127.0.0.1:0", "--data", gate_dir,
        "--allow-insecure-loopback", NULL};
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 30000, &gate), SG_OK);
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

/* The store snowgate serve uses by default. */
static const char *store_url(void)
{
    static char url[600];
    snprintf(url, sizeof(url), "sqlite:%s/snowgate.db", gate_dir);
    return url;
}

static long put_config(const char *body, sg_json **j)
{
    const char *h[] = {admin_h, NULL};
    return h_call("PUT", gate.url, "/api/v1/integrations/servicenow", h, body, j, NULL);
}

static void configure(void)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"instance_url\":\"%s\",\"client_id\":\"snowgate-client\",\"client_secret\":\"%s\"}",
             sim.p.url, CLIENT_SECRET);
    sg_json *j = NULL;
    assert_int_equal(put_config(body, &j), 200);
    sg_json_decref(j);
}

static void test_admin_only(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path;
    } routes[] = {{"GET", "/api/v1/integrations/servicenow"},
                  {"PUT", "/api/v1/integrations/servicenow"},
                  {"DELETE", "/api/v1/integrations/servicenow"},
                  {"GET", "/api/v1/integrations/servicenow/update-set"},
                  {"GET", "/api/v1/integrations/servicenow/overview"},
                  {"POST", "/api/v1/integrations/servicenow/connect"},
                  {"POST", "/api/v1/integrations/servicenow/test"},
                  {"POST", "/api/v1/integrations/servicenow/rotate-webhook-secret"}};
    const char *member[] = {member_h, NULL};
    const char *bogus[] = {
        "Authorization: Bearer 0000000000000000000000000000000000000000000000000000000000000000",
        NULL};
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        sg_json *j = NULL;
        const char *body =
            strcmp(routes[i].method, "GET") != 0 && strcmp(routes[i].method, "DELETE") != 0 ? "{}"
                                                                                            : NULL;
        assert_int_equal(h_call(routes[i].method, gate.url, routes[i].path, NULL, body, &j, NULL),
                         401);
        sg_json_decref(j);
        assert_int_equal(h_call(routes[i].method, gate.url, routes[i].path, bogus, body, &j, NULL),
                         401);
        sg_json_decref(j);
        assert_int_equal(h_call(routes[i].method, gate.url, routes[i].path, member, body, &j, NULL),
                         403);
        assert_string_equal(sg_json_get_str(sg_json_get(j, "error"), "code"), "forbidden");
        sg_json_decref(j);
    }
}

static void test_configure(void **state)
{
    (void)state;
    const char *admin[] = {admin_h, NULL};
    sg_json *j = NULL;
    assert_int_equal(
        h_call("GET", gate.url, "/api/v1/integrations/servicenow", admin, NULL, &j, NULL), 200);
    assert_string_equal(sg_json_get_str(j, "status"), "not_configured");
    char want[512];
    snprintf(want, sizeof(want), "%s/oauth-callback", gate.url);
    assert_string_equal(sg_json_get_str(j, "redirect_url"), want);
    sg_json_decref(j);
    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"{\"instance_url\":\"http://"
         "dev1.service-now.com\",\"client_id\":\"a\",\"client_secret\":\"b\"}",
         "must use https"},
        {"{\"instance_url\":\"https://dev1.service-now.com/"
         "nav\",\"client_id\":\"a\",\"client_secret\":\"b\"}",
         "no path"},
        {"{\"instance_url\":\"https://"
         "dev1.service-now.com?x=1\",\"client_id\":\"a\",\"client_secret\":\"b\"}",
         "no path, query"},
        {"{\"instance_url\":\"https://"
         "u:p@dev1.service-now.com\",\"client_id\":\"a\",\"client_secret\":\"b\"}",
         "credentials"},
        {"{\"instance_url\":\"https://10.1.2.3\",\"client_id\":\"a\",\"client_secret\":\"b\"}",
         "not an IP address"},
        {"{\"instance_url\":\"https://intranet\",\"client_id\":\"a\",\"client_secret\":\"b\"}",
         "full host name"},
        {"{\"instance_url\":\"nonsense\",\"client_id\":\"a\",\"client_secret\":\"b\"}",
         "is not a URL"},
        {"{\"instance_url\":\"https://dev1.service-now.com\",\"client_secret\":\"b\"}",
         "client_id is required"},
        {"{\"instance_url\":\"https://dev1.service-now.com\",\"client_id\":\"a\"}",
         "client_secret is required"},
        {"[1,2]", "send {"},
        {"{\"instance_url\":", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(put_config(bad[i].body, &j), 400);
        const char *m = sg_json_get_str(sg_json_get(j, "error"), "message");
        if (!strstr(m, bad[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, m, bad[i].msg);
        sg_json_decref(j);
    }
    /* Nothing was stored by the refused attempts. */
    assert_int_equal(
        h_call("GET", gate.url, "/api/v1/integrations/servicenow", admin, NULL, &j, NULL), 200);
    assert_string_equal(sg_json_get_str(j, "status"), "not_configured");
    sg_json_decref(j);
    configure();
    assert_int_equal(
        h_call("GET", gate.url, "/api/v1/integrations/servicenow", admin, NULL, &j, NULL), 200);
    assert_string_equal(sg_json_get_str(j, "status"), "awaiting_connection");
    assert_string_equal(sg_json_get_str(j, "instance_url"), sim.p.url);
    assert_string_equal(sg_json_get_str(j, "client_id"), "snowgate-client");
    char *text = sg_json_dump(j);
    assert_null(strstr(text, CLIENT_SECRET));
    assert_null(strstr(text, "whsec_"));
    free(text);
    sg_json_decref(j);
    /* Delete, and it is gone. */
    assert_int_equal(
        h_call("DELETE", gate.url, "/api/v1/integrations/servicenow", admin, NULL, &j, NULL), 204);
    assert_int_equal(
        h_call("GET", gate.url, "/api/v1/integrations/servicenow", admin, NULL, &j, NULL), 200);
    assert_string_equal(sg_json_get_str(j, "status"), "not_configured");
    sg_json_decref(j);
    assert_int_equal(h_call("GET", gate.url, "/api/v1/integrations/servicenow/update-set", admin,
                            NULL, &j, NULL),
                     409);
    sg_json_decref(j);
}

static char *download(void)
{
    const char *admin[] = {admin_h, NULL};
    sg_http_response r;
    assert_int_equal(h_call("GET", gate.url, "/api/v1/integrations/servicenow/update-set", admin,
                            NULL, NULL, &r),
                     200);
    assert_string_equal(sg_http_response_header(&r, "Content-Disposition"),
                        "attachment; filename=\"snowgate Update Set.xml\"");
    char *xml = sg_xstrdup(sg_buf_str(&r.body));
    sg_http_response_free(&r);
    return xml;
}

static bool alphabetical(sg_xml_node *n)
{
    const char *prev = "";
    for (sg_xml_node *c = sg_xml_first(n); c; c = sg_xml_next(c)) {
        if (strcmp(prev, sg_xml_name(c)) > 0)
            return false;
        prev = sg_xml_name(c);
    }
    return true;
}

/* The value of a property in the update set. The caller frees it. */
static void test_updateset_structure(void **state)
{
    (void)state;
    configure();
    char *xml = download();
    assert_true(sg_str_startswith(
        xml, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<unload unload_date=\""));
    assert_non_null(strstr(xml, "\n<sys_update_xml action=\"INSERT_OR_UPDATE\">\n"));
    assert_non_null(
        strstr(xml, "<![CDATA[<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<record_update"));
    sg_xml_doc *doc = NULL;
    assert_int_equal(sg_xml_parse(xml, strlen(xml), 0, &doc), SG_OK);
    sg_xml_node *root = sg_xml_root(doc);
    assert_string_equal(sg_xml_name(root), "unload");
    sg_xml_node *head = sg_xml_first(root);
    assert_string_equal(sg_xml_name(head), "sys_remote_update_set");
    assert_true(alphabetical(head));
    char *set_id = sg_xml_text(sg_xml_child(head, "sys_id"));
    assert_true(sim_is_sys_id(set_id));
    char *state_text = sg_xml_text(sg_xml_child(head, "state"));
    assert_string_equal(state_text, "loaded");
    free(state_text);
    int rows = 0, acls = 0;
    bool rule = false, userinfo = false, role = false, catalog = false, secret_api = false;
    for (sg_xml_node *row = sg_xml_next(head); row; row = sg_xml_next(row)) {
        assert_string_equal(sg_xml_name(row), "sys_update_xml");
        assert_true(alphabetical(row));
        char *rus = sg_xml_text(sg_xml_child(row, "remote_update_set"));
        assert_string_equal(rus, set_id);
        free(rus);
        char *cat = sg_xml_text(sg_xml_child(row, "category"));
        assert_string_equal(cat, "customer");
        free(cat);
        char *payload = sg_xml_text(sg_xml_child(row, "payload"));
        sg_xml_doc *pd = NULL;
        assert_int_equal(sg_xml_parse(payload, strlen(payload), 0, &pd), SG_OK);
        sg_xml_node *ru = sg_xml_root(pd);
        assert_string_equal(sg_xml_name(ru), "record_update");
        sg_xml_node *rec = sg_xml_first(ru);
        char *table_attr = sg_xml_attr(ru, "table");
        assert_string_equal(table_attr, sg_xml_name(rec));
        free(table_attr);
        assert_true(alphabetical(rec));
        char *sid = sg_xml_text(sg_xml_child(rec, "sys_id"));
        assert_true(sim_is_sys_id(sid));
        char *uname = sg_xml_text(sg_xml_child(rec, "sys_update_name"));
        char *rname = sg_xml_text(sg_xml_child(row, "name"));
        assert_string_equal(uname, rname);
        const char *t = sg_xml_name(rec);
        char *name =
            sg_xml_child(rec, "name") ? sg_xml_text(sg_xml_child(rec, "name")) : sg_xstrdup("");
        if (strcmp(t, "sys_script") == 0) {
            char *coll = sg_xml_text(sg_xml_child(rec, "collection"));
            char *filter = sg_xml_text(sg_xml_child(rec, "filter_condition"));
            rule = strcmp(name, "snowgate Business Rule") == 0 && strcmp(coll, "sc_request") == 0 &&
                   strstr(filter, "correlation_idSTARTSWITHsnowgate:") != NULL;
            free(coll);
            free(filter);
            assert_non_null(strstr(payload, "<script><![CDATA[(function executeRule"));
        }
        if (strcmp(t, "sys_ws_definition") == 0) {
            char *base = sg_xml_text(sg_xml_child(rec, "base_uri"));
            userinfo |= strcmp(base, "/api/snc/oauth_userinfo") == 0;
            secret_api |= strcmp(base, "/api/snc/snowgate_webhook_secret") == 0;
            free(base);
        }
        role |=
            strcmp(t, "sys_user_role") == 0 && strcmp(name, "snowgate_service_account_role") == 0;
        if (strcmp(t, "sc_catalog") == 0) {
            char *title = sg_xml_text(sg_xml_child(rec, "title"));
            catalog = strcmp(title, "snowgate Data Access") == 0;
            free(title);
        }
        acls += strcmp(t, "sys_security_acl") == 0;
        free(name);
        free(uname);
        free(rname);
        free(sid);
        sg_xml_free(pd);
        free(payload);
        rows++;
    }
    assert_true(rows > 20);
    assert_true(rule && userinfo && role && catalog && secret_api);
    assert_true(acls >= 8);
    char *url = g_update_set_property(xml, "x_snowgate.webhook_url");
    char want[512];
    snprintf(want, sizeof(want), "%s/webhooks/servicenow", gate.url);
    assert_string_equal(url, want);
    free(url);
    /* The signing secret's property is password2 (encrypted by the instance), and the file
     * holds no secret: Connect and test stores it in ServiceNow. */
    char *s1 = g_update_set_property(xml, "x_snowgate.webhook_secret");
    assert_non_null(s1);
    assert_string_equal(s1, "");
    assert_non_null(strstr(xml, "<type>password2</type>"));
    char *stored = g_stored_webhook_secret(store_url(), gate_dir);
    assert_null(strstr(xml, stored + 6));
    sg_secrets_free_plain(stored);
    /* Downloading again gives the same records. */
    char *again = download();
    sg_xml_doc *d2 = NULL;
    assert_int_equal(sg_xml_parse(again, strlen(again), 0, &d2), SG_OK);
    char *set2 = sg_xml_text(sg_xml_child(sg_xml_first(sg_xml_root(d2)), "sys_id"));
    assert_string_equal(set_id, set2);
    free(set2);
    sg_xml_free(d2);
    free(s1);
    free(again);
    free(set_id);
    sg_xml_free(doc);
    free(xml);
}

static int count_tx(sg_conn *c, void *ctx)
{
    return sg_conn_query_int(c, "SELECT COUNT(*) FROM webhook_events", NULL, 0, ctx);
}

static int count_events(void)
{
    char *url = sg_xasprintf("sqlite:%s/snowgate.db", gate_dir);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrate = false;
    o.pool_size = 1;
    sg_store *st = NULL;
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    free(url);
    int64_t n = -1;
    assert_int_equal(sg_store_read(st, count_tx, &n), SG_OK);
    sg_store_close(st);
    return (int)n;
}

static void test_updateset_runs_in_snowsim(void **state)
{
    (void)state;
    configure();
    char *xml = download();
    long status = 0;
    char *id = us_upload(&sim, xml, strlen(xml), &status);
    assert_int_equal(status, 302);
    char *label = us_cicd(&sim, "preview", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    /* Everything it references is in the set or on every instance: no problems to resolve. */
    assert_int_equal(us_resolve(&sim, id, "ignored"), 0);
    label = us_cicd(&sim, "commit", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    const char *sa[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    char path[128];
    assert_int_equal(h_call("GET", sim.p.url, "/api/snc/oauth_userinfo", sa, NULL, &j, NULL), 200);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "result"), "user_name"), "admin");
    sg_json_decref(j);
    /* Connect and test would store the signing secret; as the instance admin here. */
    assert_int_equal(h_call("GET", sim.p.url,
                            "/api/now/table/sys_properties?sysparm_query=name%3D"
                            "x_snowgate.webhook_secret&sysparm_fields=sys_id,type",
                            sa, NULL, &j, NULL),
                     200);
    sg_json *prop = sg_json_array_get(sg_json_get(j, "result"), 0);
    assert_string_equal(sg_json_get_str(prop, "type"), "password2");
    snprintf(path, sizeof(path), "/api/now/table/sys_properties/%s",
             sg_json_get_str(prop, "sys_id"));
    sg_json_decref(j);
    char *secret = g_stored_webhook_secret(store_url(), gate_dir);
    char body[256];
    snprintf(body, sizeof(body), "{\"value\":\"%s\"}", secret);
    sg_secrets_free_plain(secret);
    assert_int_equal(h_call("PATCH", sim.p.url, path, sa, body, &j, NULL), 200);
    sg_json_decref(j);
    /* A change to one of snowgate's requests makes the rule post a signed event to snowgate. */
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sc_request", sa,
                            "{\"short_description\":\"x\",\"correlation_id\":\"snowgate:42\"}", &j,
                            NULL),
                     201);
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s",
             sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    assert_int_equal(count_events(), 0);
    assert_int_equal(h_call("PATCH", sim.p.url, path, sa, "{\"approval\":\"approved\"}", &j, NULL),
                     200);
    sg_json_decref(j);
    for (int i = 0; i < 500 && count_events() < 1; i++) {
        struct timespec t = {0, 20 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_int_equal(count_events(), 1);
    free(id);
    free(xml);
}

static long post_hook(const char *id, const char *ts, const char *sig, const char *body)
{
    char h1[160], h2[64], h3[160];
    const char *hdrs[4];
    int n = 0;
    if (id) {
        snprintf(h1, sizeof(h1), "webhook-id: %s", id);
        hdrs[n++] = h1;
    }
    if (ts) {
        snprintf(h2, sizeof(h2), "webhook-timestamp: %s", ts);
        hdrs[n++] = h2;
    }
    if (sig) {
        snprintf(h3, sizeof(h3), "webhook-signature: %s", sig);
        hdrs[n++] = h3;
    }
    hdrs[n] = NULL;
    sg_json *j = NULL;
    sg_http_response r;
    long st = h_call("POST", gate.url, "/webhooks/servicenow", hdrs, body, &j, &r);
    if (st == 401) {
        /* Reveals nothing beyond "invalid". */
        assert_string_equal(sg_json_get_str(sg_json_get(j, "error"), "message"),
                            "invalid webhook signature");
    }
    sg_http_response_free(&r);
    sg_json_decref(j);
    return st;
}

static void test_webhook_receiver(void **state)
{
    (void)state;
    const char *body = "{\"type\":\"sc_request.updated\",\"sys_id\":\"x\"}";
    /* Not configured yet: unsigned and signed alike get 401. */
    assert_int_equal(post_hook("msg_1", "1", "v1,AAAA", body), 401);
    configure();
    char *secret = g_stored_webhook_secret(store_url(), gate_dir);
    char ts[24], old[24], future[24];
    int64_t now = (int64_t)time(NULL);
    snprintf(ts, sizeof(ts), "%lld", (long long)now);
    snprintf(old, sizeof(old), "%lld", (long long)(now - 301));
    /* Well past the 5 minute tolerance: the server checks a little later than `now`, which
     * brings a future timestamp closer (301 s passed as 300 on a loaded machine). */
    snprintf(future, sizeof(future), "%lld", (long long)(now + 600));
    sg_buf sig = SG_BUF_INIT(0), sig_old = SG_BUF_INIT(0), sig_future = SG_BUF_INIT(0);
    assert_int_equal(sg_webhook_sig_sign(secret, "msg_a", now, body, strlen(body), &sig), SG_OK);
    assert_int_equal(sg_webhook_sig_sign(secret, "msg_a", now - 301, body, strlen(body), &sig_old),
                     SG_OK);
    assert_int_equal(
        sg_webhook_sig_sign(secret, "msg_a", now + 600, body, strlen(body), &sig_future), SG_OK);
    assert_int_equal(post_hook("msg_a", ts, sig.data, body), 202);
    assert_int_equal(post_hook("msg_a", ts, sig.data, body), 200); /* redelivery: accepted once */
    assert_int_equal(count_events(), 1);
    assert_int_equal(post_hook("msg_a", old, sig_old.data, body), 401);       /* stale */
    assert_int_equal(post_hook("msg_a", future, sig_future.data, body), 401); /* future */
    assert_int_equal(post_hook("msg_b", ts, sig.data, body), 401); /* replayed under another id */
    assert_int_equal(post_hook("msg_a", ts, sig.data, "{\"type\":\"forged\"}"), 401); /* tampered */
    assert_int_equal(post_hook("msg_a", ts, "v1,bm90IGEgcmVhbCBzaWduYXR1cmUgYXQgYWxsIQ==", body),
                     401);
    assert_int_equal(post_hook(NULL, NULL, NULL, body), 401); /* unsigned */
    assert_int_equal(post_hook("msg_a", ts, NULL, body), 401);
    /* Signed with another secret. */
    sg_buf other = SG_BUF_INIT(0);
    assert_int_equal(sg_webhook_sig_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_c", now,
                                         body, strlen(body), &other),
                     SG_OK);
    assert_int_equal(post_hook("msg_c", ts, other.data, body), 401);
    assert_int_equal(count_events(), 1);

    /* Secrets at rest: neither the client secret nor the webhook secret is in clear text in
     * any file of the data dir, nor in the logs. */
    const char *argv[] = {"/bin/grep", "-rlaF", "-e", CLIENT_SECRET, "-e", secret, gate_dir, NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 20000, &out, NULL), 1); /* grep: no match */
    sg_buf log = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(gate.log_path, &log), SG_OK);
    assert_null(strstr(sg_buf_str(&log), CLIENT_SECRET));
    assert_null(strstr(sg_buf_str(&log), secret));
    sg_buf_free(&log);
    sg_buf_free(&out);
    sg_buf_free(&sig);
    sg_buf_free(&sig_old);
    sg_buf_free(&sig_future);
    sg_buf_free(&other);
    free(secret);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_only, start, stop),
        cmocka_unit_test_setup_teardown(test_configure, start, stop),
        cmocka_unit_test_setup_teardown(test_updateset_structure, start, stop),
        cmocka_unit_test_setup_teardown(test_updateset_runs_in_snowsim, start, stop),
        cmocka_unit_test_setup_teardown(test_webhook_receiver, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
