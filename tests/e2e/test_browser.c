/* End to end in a real browser: brings up snowsim, snowgate and PostgreSQL with users, then
 * runs tests/browser/ui.test.mjs (playwright-core driving Debian's Chromium) against them.
 * Before that, the sign-in API itself: sessions, the rate limit, and the UI's headers. */
#include "e2e/gate_env.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DB_PASSWORD "pg-Grantor-Pw1"

static h_pg pg;

static void test_sign_in_api(void **state)
{
    (void)state;
    char tok[128];
    g_add_user("carol", "member", NULL, tok);
    g_set_password("carol", "carol-Password1");
    /* A session: an HttpOnly, SameSite=Strict cookie and a CSRF token. */
    sg_http_response r;
    assert_int_equal(g_sign_in("carol", "carol-Password1", NULL, &r), 200);
    const char *cookie = sg_http_response_header(&r, "Set-Cookie");
    assert_non_null(cookie);
    assert_non_null(strstr(cookie, "HttpOnly"));
    assert_non_null(strstr(cookie, "SameSite=Strict"));
    sg_json *j = NULL;
    assert_int_equal(sg_json_parse(r.body.data, r.body.len, 0, 0, &j), SG_OK);
    assert_int_equal(strlen(sg_json_get_str(j, "csrf")), 64);
    sg_json_decref(j);
    sg_http_response_free(&r);
    /* Five wrong passwords, then even the right one waits: 429 with Retry-After. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(g_sign_in("carol", "wrong-password", NULL, NULL), 401);
    assert_int_equal(g_sign_in("carol", "carol-Password1", NULL, &r), 429);
    assert_non_null(sg_http_response_header(&r, "Retry-After"));
    sg_http_response_free(&r);
    /* An unknown user gets the same answer as a wrong password. */
    assert_int_equal(g_sign_in("nobody", "whatever-password", NULL, NULL), 401);
    /* The UI: a strict CSP and an ETag that revalidates. */
    assert_int_equal(h_call("GET", G.gate.url, "/", NULL, NULL, NULL, &r), 200);
    const char *csp = sg_http_response_header(&r, "Content-Security-Policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "script-src 'self'"));
    assert_null(strstr(csp, "unsafe-inline"));
    char inm[128];
    snprintf(inm, sizeof(inm), "If-None-Match: %s", sg_http_response_header(&r, "ETag"));
    sg_http_response_free(&r);
    const char *h[] = {inm, NULL};
    assert_int_equal(h_call("GET", G.gate.url, "/ui/app.js", NULL, NULL, NULL, &r), 200);
    sg_http_response_free(&r);
    assert_int_equal(h_call("GET", G.gate.url, "/", h, NULL, NULL, &r), 304);
    sg_http_response_free(&r);
    assert_int_equal(h_call("GET", G.gate.url, "/ui/..%2Fsnowgate.db", NULL, NULL, NULL, &r), 404);
    sg_http_response_free(&r);
}

static void test_in_browser(void **state)
{
    (void)state;
    char bob_h[128], sam_h[128];
    g_add_user("bob", "member", "bob_role", bob_h);
    g_add_user("sam", "steward", NULL, sam_h);
    /* The ServiceNow approver of ui.test.mjs: her decisions count because she decides here. */
    char carla_h[128];
    g_add_user_email("carla", "steward", NULL, "carla@example.com", carla_h);
    /* A member whose database role PostgreSQL does not have: a grant for her fails where
     * retrying cannot help, so its job is dead at once (the Jobs page's scenario). */
    char dora_h[128];
    g_add_user("dora", "member", "dora_role", dora_h);
    g_set_password("alice", "alice-Password1");
    g_set_password("bob", "bob-Password1");
    g_set_password("sam", "sam-Password1");
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"warehouse\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 port=%d "
             "dbname=analytics user=snowgate_grantor sslmode=disable\",\"password\":\"" DB_PASSWORD
             "\"}",
             pg.port);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections", body, &j), 201);
    sg_json_decref(j);
    /* A source registered by hand, whose name would be markup if the page ever made it HTML. */
    assert_int_equal(g_call("POST", "/api/v1/connections",
                            "{\"name\":\"<img src=x onerror=\\\"window.__xss = 3\\\">\","
                            "\"kind\":\"manual\"}",
                            &j),
                     201);
    sg_json_decref(j);
    assert_int_equal(g_call("POST", "/api/v1/assets",
                            "{\"name\":\"analytics.sales.orders\",\"type\":\"table\","
                            "\"connection\":\"warehouse\",\"description\":\"Every order since "
                            "2019, one row per order\"}",
                            &j),
                     201);
    sg_json_decref(j);
    assert_int_equal(g_call("POST", "/api/v1/assets",
                            "{\"name\":\"analytics.sales.refunds\",\"type\":\"table\","
                            "\"connection\":\"warehouse\"}",
                            &j),
                     201);
    sg_json_decref(j);
    const char *shots = getenv("SHOTS") ? getenv("SHOTS") : SG_BUILD_DIR "/screenshots";
    char mk[600];
    snprintf(mk, sizeof(mk), "mkdir -p '%s'", shots);
    const char *sh[] = {"/bin/sh", "-c", mk, NULL};
    assert_int_equal(h_run(sh, NULL, 10000, NULL, NULL), 0);
    char e_gate[300], e_sim[300], e_auth[300], e_shots[700], e_pghost[600], e_pgport[32];
    /* ui.test.mjs holds a lock in the governed database with psql (superuser postgres over the
     * socket) to catch a discovery run while it runs. */
    snprintf(e_pghost, sizeof(e_pghost), "PG_HOST=%s", pg.sock);
    snprintf(e_pgport, sizeof(e_pgport), "PG_PORT=%d", pg.port);
    snprintf(e_gate, sizeof(e_gate), "GATE_URL=%s", G.gate.url);
    snprintf(e_sim, sizeof(e_sim), "SIM_URL=%s", G.sim.p.url);
    snprintf(e_auth, sizeof(e_auth), "SIM_AUTH=%s", G.sim.admin_auth + strlen("Authorization: "));
    snprintf(e_shots, sizeof(e_shots), "SHOTS=%s", shots);
    const char *env[] = {e_gate,
                         e_sim,
                         e_auth,
                         e_shots,
                         e_pghost,
                         e_pgport,
                         "ALICE_PW=alice-Password1",
                         "BOB_PW=bob-Password1",
                         "SAM_PW=sam-Password1",
                         NULL};
    const char *argv[] = {"/usr/bin/env", "node", SG_SOURCE_DIR "/tests/browser/ui.test.mjs", NULL};
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    int st = h_run(argv, env, 600000, &out, &err);
    printf("%s%s", sg_buf_str(&out), sg_buf_str(&err));
    sg_buf_free(&out);
    sg_buf_free(&err);
    assert_int_equal(st, 0);
}

static int start(void **state)
{
    (void)state;
    h_pg_start(&pg);
    static const char *const tables[] = {"orders", "refunds", "\"<b>x</b>\"",
                                         "\"it's \"\"quoted\"\" & <i>\"", NULL},
                             *roles[] = {"bob_role", NULL};
    h_pg_analytics(&pg, DB_PASSWORD, tables, roles);
    /* What the Connections page's discovery registers, COMMENT ON as the description: orders'
     * the same as registered by hand (re-running discovery must leave it be), and names and
     * comments that would be markup if the page ever treated them as HTML. */
    h_pg_exec(&pg, "analytics",
              "COMMENT ON TABLE sales.orders IS 'Every order since 2019, one row per order';"
              "COMMENT ON TABLE sales.\"<b>x</b>\" IS '<script>window.__xss = 1</script><img "
              "src=x onerror=\"window.__xss = 2\"> & more';"
              "COMMENT ON TABLE sales.\"it's \"\"quoted\"\" & <i>\" IS 'Said \"hi\" & "
              "left <!-- a comment -->';"
              "COMMENT ON SCHEMA sales IS 'Orders & refunds'");
    g_start("browser", NULL);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    g_stop();
    h_pg_stop(&pg);
    return 0;
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sign_in_api, start, stop),
        cmocka_unit_test_setup_teardown(test_in_browser, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
