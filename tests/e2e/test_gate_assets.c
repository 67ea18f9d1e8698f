/* End to end: connections and assets through the API: roles, validation, secrets at rest, and
 * hostile names kept as data. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_PASSWORD "db-Pa55word-for-grants"

static h_proc gate;
static char *dir;
static char admin_h[128], member_h[128];

static void add_user(const char *name, const char *role, char *header)
{
    const char *argv[] = {
        SG_BUILD_DIR "/snowgate", "user", "add", name, "--role", role, "--data", dir, NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 20000, &out, NULL), 0);
    snprintf(header, 128, "Authorization: Bearer %.64s", sg_buf_str(&out));
    sg_buf_free(&out);
}

static int start(void **state)
{
    (void)state;
    dir = h_tmpdir("assets");
    add_user("alice", "admin", admin_h);
    add_user("bob", "member", member_h);
    const char *argv[] = {
        SG_BUILD_DIR "/snowgate", "serve", "--listen", "127.0.0.1:0", "--data", dir, NULL};
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 30000, &gate), SG_OK);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    assert_int_equal(h_stop(&gate, SIGTERM, 30000), 0);
    h_rmdir(dir);
    free(dir);
    return 0;
}

static long call(const char *who, const char *method, const char *path, const char *body,
                 sg_json **j)
{
    const char *h[] = {who, NULL};
    return h_call(method, gate.url, path, h, body, j, NULL);
}

static const char *message(sg_json *j)
{
    return sg_json_get_str(sg_json_get(j, "error"), "message");
}

static void test_connections(void **state)
{
    (void)state;
    sg_json *j = NULL;
    assert_int_equal(
        call(member_h, "POST", "/api/v1/connections", "{\"name\":\"x\",\"kind\":\"manual\"}", &j),
        403);
    sg_json_decref(j);
    assert_int_equal(call(member_h, "GET", "/api/v1/connections", NULL, &j), 403);
    sg_json_decref(j);
    assert_int_equal(call(admin_h, "POST", "/api/v1/connections",
                          "{\"name\":\"analytics\",\"kind\":\"postgres\",\"dsn\":\"host=db "
                          "dbname=analytics user=snowgate\",\"password\":\"" DB_PASSWORD "\"}",
                          &j),
                     201);
    char *text = sg_json_dump(j);
    assert_null(strstr(text, DB_PASSWORD));
    free(text);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "config"), "dsn"),
                        "host=db dbname=analytics user=snowgate");
    sg_json_decref(j);
    static const struct {
        const char *body, *msg;
        long status;
    } bad[] = {
        {"{\"name\":\"a2\",\"kind\":\"postgres\",\"dsn\":\"host=db password=x\"}",
         "keep the password out", 400},
        {"{\"name\":\"a3\",\"kind\":\"postgres\",\"dsn\":\"postgresql://u:p@db/x\"}",
         "keep the password out", 400},
        {"{\"name\":\"a4\",\"kind\":\"postgres\"}", "needs \"dsn\"", 400},
        {"{\"name\":\"a5\",\"kind\":\"postgres\",\"dsn\":\"host=db sslmode=require\"}",
         "does not verify the database server", 400},
        {"{\"name\":\"a6\",\"kind\":\"postgres\",\"dsn\":\"host=/run/postgresql\"}", "local socket",
         400},
        {"{\"name\":\"a7\",\"kind\":\"postgres\",\"dsn\":\"host=a,b dbname=x\"}", "several hosts",
         400},
        {"{\"name\":\"a8\",\"kind\":\"postgres\",\"dsn\":\"host=db hostaddr=10.0.0.1\"}",
         "not \"hostaddr\"", 400},
        {"{\"name\":\"a9\",\"kind\":\"postgres\",\"dsn\":\"host=db dbname='x\"}",
         "not a libpq connection string", 400},
        {"{\"name\":\"a10\",\"kind\":\"postgres\",\"dsn\":\"host=db passfile=/x\"}",
         "keep the password out", 400},
        {"{\"name\":\"h1\",\"kind\":\"webhook\",\"url\":\"https://10.0.0.1/"
         "hook\",\"secret\":\"0123456789abcdef\"}",
         "public host", 400},
        {"{\"name\":\"h2\",\"kind\":\"webhook\",\"url\":\"http://example.com/"
         "hook\",\"secret\":\"0123456789abcdef\"}",
         "https", 400},
        {"{\"name\":\"h3\",\"kind\":\"webhook\",\"url\":\"https://example.com/"
         "hook\",\"secret\":\"short\"}",
         "Standard Webhooks", 400},
        {"{\"name\":\"m\",\"kind\":\"ftp\"}", "kind must be", 400},
        {"{\"kind\":\"manual\"}", "connection name", 400},
        {"{\"name\":\"analytics\",\"kind\":\"manual\"}", "already exists", 409},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long st = call(admin_h, "POST", "/api/v1/connections", bad[i].body, &j);
        if (st != bad[i].status || !strstr(message(j), bad[i].msg))
            fail_msg("case %zu: %ld %s", i, st, message(j));
        sg_json_decref(j);
    }
    assert_int_equal(
        call(admin_h, "POST", "/api/v1/connections",
             "{\"name\":\"tickets\",\"kind\":\"webhook\",\"url\":\"https://example.com/"
             "grant\",\"secret\":\"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM=\"}",
             &j),
        201);
    sg_json_decref(j);
    assert_int_equal(call(admin_h, "GET", "/api/v1/connections", NULL, &j), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "items")), 2);
    sg_json_decref(j);
    /* The secrets are encrypted at rest. */
    const char *argv[] = {
        "/bin/grep", "-rlaF", "-e", DB_PASSWORD, "-e", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM", dir, NULL};
    assert_int_equal(h_run(argv, NULL, 20000, NULL, NULL), 1);
}

static void test_assets(void **state)
{
    (void)state;
    sg_json *j = NULL;
    assert_int_equal(
        call(admin_h, "POST", "/api/v1/connections", "{\"name\":\"wh\",\"kind\":\"manual\"}", &j),
        201);
    sg_json_decref(j);
    /* Quotes, ^, ; and unicode are accepted as names, and come back exactly. */
    static const char *const names[] = {
        "analytics.public.orders",
        "analytics.public.\\\"odd\\\"name",
        "sales.q^1;drop",
        "finance.\\u00e9t\\u00e9.d\\u00e9penses",
        "wh.100%_done",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char body[256];
        snprintf(
            body, sizeof(body),
            "{\"name\":\"%s\",\"connection\":\"wh\",\"owners\":[\"alice\"],\"description\":\"d\"}",
            names[i]);
        long st = call(admin_h, "POST", "/api/v1/assets", body, &j);
        if (st != 201)
            fail_msg("%s: %ld %s", names[i], st, message(j));
        sg_json_decref(j);
    }
    static const struct {
        const char *body, *msg;
        long status;
    } bad[] = {
        {"{\"name\":\"a..b\",\"connection\":\"wh\"}", "empty part", 400},
        {"{\"name\":\".a\",\"connection\":\"wh\"}", "empty part", 400},
        {"{\"name\":\"a.b.c.d\",\"connection\":\"wh\"}", "more than 3 parts", 400},
        {"{\"name\":\"a\\u0001b\",\"connection\":\"wh\"}", "control characters", 400},
        {"{\"name\":\"ok.name\",\"connection\":\"nope\"}", "does not exist", 400},
        {"{\"name\":\"ok.name\",\"connection\":\"wh\",\"owners\":[\"ghost\"]}",
         "not a snowgate user", 400},
        {"{\"name\":\"ok.name\",\"connection\":\"wh\",\"owners\":\"alice\"}",
         "list of snowgate user names", 400},
        {"{\"name\":\"ok.name\",\"connection\":\"wh\",\"type\":\"spreadsheet\"}", "type must be",
         400},
        {"{\"name\":\"analytics.public.orders\",\"connection\":\"wh\"}", "already exists", 409},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long st = call(admin_h, "POST", "/api/v1/assets", bad[i].body, &j);
        if (st != bad[i].status || !strstr(message(j), bad[i].msg))
            fail_msg("case %zu: %ld %s", i, st, message(j));
        sg_json_decref(j);
    }
    assert_int_equal(
        call(member_h, "POST", "/api/v1/assets", "{\"name\":\"x.y\",\"connection\":\"wh\"}", &j),
        403);
    sg_json_decref(j);
    /* Anyone signed in can search; the search term is data. */
    assert_int_equal(call(member_h, "GET", "/api/v1/assets", NULL, &j), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "items")), 5);
    sg_json_decref(j);
    static const struct {
        const char *q;
        size_t n;
    } searches[] = {{"ORDERS", 1},   {"%25", 1}, {"%27", 0},           {"%22odd", 1},
                    {"q%5E1%3B", 1}, {"_", 1},   {"%C3%A9t%C3%A9", 1}, {"", 5}};
    for (size_t i = 0; i < sizeof(searches) / sizeof(searches[0]); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/assets?q=%s", searches[i].q);
        assert_int_equal(call(member_h, "GET", path, NULL, &j), 200);
        if (sg_json_array_size(sg_json_get(j, "items")) != searches[i].n)
            fail_msg("q=%s: %zu results", searches[i].q,
                     sg_json_array_size(sg_json_get(j, "items")));
        sg_json_decref(j);
    }
    assert_int_equal(call(member_h, "GET", "/api/v1/assets?q=odd", NULL, &j), 200);
    assert_string_equal(sg_json_get_str(sg_json_array_get(sg_json_get(j, "items"), 0), "name"),
                        "analytics.public.\"odd\"name");
    sg_json_decref(j);
    assert_int_equal(call(member_h, "GET", "/api/v1/assets?q=penses", NULL, &j), 200);
    assert_string_equal(sg_json_get_str(sg_json_array_get(sg_json_get(j, "items"), 0), "name"),
                        "finance.\xc3\xa9t\xc3\xa9.d\xc3\xa9penses");
    sg_json_decref(j);
    assert_int_equal(h_call("GET", gate.url, "/api/v1/assets", NULL, NULL, &j, NULL), 401);
    sg_json_decref(j);
    /* Every change is in the audit log, and the chain holds. */
    const char *argv[] = {SG_BUILD_DIR "/snowgate", "audit", "verify", "--data", dir, NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 20000, &out, NULL), 0);
    /* 2 users, 1 connection, 5 assets */
    assert_non_null(strstr(sg_buf_str(&out), "intact: 8 entries"));
    sg_buf_free(&out);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connections, start, stop),
        cmocka_unit_test_setup_teardown(test_assets, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
