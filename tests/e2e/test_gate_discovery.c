/* End to end: discovery of a real PostgreSQL database's schemas, tables and views as assets
 * (POST /api/v1/connections/{id}/discover): thousands of tables, descriptions from COMMENT ON,
 * owners mapped from the table owner's role, name patterns, vanished tables marked gone (and
 * never deleted, even with a live grant), the schedule, bad input and the admin check. */
#include "e2e/gate_env.h"
#include "e2e/pg_server.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_PASSWORD "pg-Grantor-Pw1"
#define BULK        3000

static h_pg pg;
static char bob_h[128], carol_h[128], sam_h[128];

static int group_start(void **state)
{
    (void)state;
    h_pg_start(&pg);
    static const char *const tables[] = {"orders", "refunds", "tmp_scratch", NULL},
                             *roles[] = {"bob_role", "carol_role", NULL};
    h_pg_analytics(&pg, DB_PASSWORD, tables, roles);
    /* Thousands of tables in one batch, a view, comments, and a table carol's role owns. */
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "CREATE SCHEMA bulk; COMMENT ON SCHEMA sales IS 'Sales data'; "
             "DO $$ BEGIN FOR i IN 1..%d LOOP EXECUTE format('CREATE TABLE bulk.t%%s (id int)', "
             "i); END LOOP; END $$; "
             "COMMENT ON TABLE sales.orders IS 'Customer orders, one row per order'; "
             "CREATE VIEW sales.v_orders AS SELECT id FROM sales.orders; "
             "ALTER VIEW sales.v_orders OWNER TO snowgate_grantor; "
             "CREATE TABLE sales.team (id int); ALTER TABLE sales.team OWNER TO carol_role;",
             BULK);
    h_pg_exec(&pg, "analytics", sql);
    return 0;
}

static int group_stop(void **state)
{
    (void)state;
    h_pg_stop(&pg);
    return 0;
}

static void add_connection(const char *name, const char *extra)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"name\":\"%s\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 port=%d "
             "dbname=analytics user=snowgate_grantor sslmode=disable\",\"password\":\"%s\"%s}",
             name, pg.port, DB_PASSWORD, extra ? extra : "");
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections", body, &j), 201);
    sg_json_decref(j);
}

static int start(void **state)
{
    (void)state;
    g_start("gatedisc", NULL);
    g_add_user("bob", "member", "bob_role", bob_h);
    g_add_user("carol", "member", "carol_role", carol_h);
    g_add_user("sam", "steward", NULL, sam_h);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    g_stop();
    return 0;
}

static long call_as(const char *who, const char *method, const char *path, const char *body,
                    sg_json **j)
{
    const char *h[] = {who, NULL};
    return h_call(method, G.gate.url, path, h, body, j, NULL);
}

static const char *err_of(const sg_json *j)
{
    const char *m = j ? sg_json_get_str(sg_json_get(j, "error"), "message") : NULL;
    return m ? m : "";
}

/* Starts a discovery of conn (body may be NULL) and waits until it is done; returns the
 * connection as GET shows it then (the caller frees it). */
static sg_json *discover(const char *conn, const char *body)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/connections/%s/discover", conn);
    sg_json *j = NULL;
    long st = g_call("POST", path, body, &j);
    if (st != 202)
        fail_msg("discover answered %ld: %s", st, err_of(j));
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/connections/%s", conn);
    for (int i = 0; i < 1200; i++) {
        j = NULL;
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        const sg_json *d = sg_json_get(j, "discovery");
        const char *s = sg_json_get_str(d, "state");
        if (s && strcmp(s, "done") == 0)
            return j;
        if (s && strcmp(s, "failed") == 0)
            fail_msg("discovery failed: %s", sg_json_get_str(d, "error"));
        sg_json_decref(j);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("discovery of %s never finished", conn);
    return NULL;
}

static int64_t count(const sg_json *conn, const char *what)
{
    int64_t v = -1;
    sg_json_get_int(sg_json_get(sg_json_get(conn, "discovery"), "counts"), what, &v);
    return v;
}

/* The asset named name (state: active, gone or all), or NULL. */
static sg_json *asset(const char *name, const char *state)
{
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/assets?state=%s&q=%s", state, name);
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", path, NULL, &j), 200);
    const sg_json *items = sg_json_get(j, "items");
    sg_json *hit = NULL;
    for (size_t i = 0; i < sg_json_array_size(items); i++) {
        sg_json *a = sg_json_array_get(items, i);
        if (strcmp(sg_json_get_str(a, "name"), name) == 0)
            hit = sg_json_incref(a);
    }
    sg_json_decref(j);
    return hit;
}

static const char *first_owner(const sg_json *a)
{
    return sg_json_str(sg_json_array_get(sg_json_get(a, "owners"), 0));
}

/* Thousands of tables, with descriptions and owners; a second run changes nothing. */
static void test_discover_thousands(void **state)
{
    (void)state;
    add_connection("warehouse", ",\"default_owner\":\"sam\"");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    sg_json *c = discover("warehouse", NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("discovered %lld objects in %.2f s\n", (long long)count(c, "found"), secs);
    /* public, sales, bulk; orders, refunds, tmp_scratch, team, v_orders; the bulk tables. */
    assert_int_equal(count(c, "found"), 3 + 5 + BULK);
    assert_int_equal(count(c, "added"), 3 + 5 + BULK);
    assert_int_equal(count(c, "gone"), 0);
    const sg_json *d = sg_json_get(c, "discovery");
    int64_t pct = 0;
    assert_true(sg_json_get_int(d, "percent", &pct));
    assert_int_equal(pct, 100);
    assert_string_equal(sg_json_get_str(d, "requested_by"), "alice");
    assert_non_null(sg_json_get_str(c, "discovered_at"));
    sg_json_decref(c);

    sg_json *a = asset("analytics.sales.orders", "active");
    assert_non_null(a);
    assert_string_equal(sg_json_get_str(a, "type"), "table");
    assert_string_equal(sg_json_get_str(a, "description"), "Customer orders, one row per order");
    assert_string_equal(first_owner(a), "sam"); /* snowgate_grantor is nobody's db_role */
    sg_json_decref(a);
    a = asset("analytics.sales.team", "active");
    assert_string_equal(first_owner(a), "carol"); /* carol_role owns it */
    sg_json_decref(a);
    a = asset("analytics.sales.v_orders", "active");
    assert_string_equal(sg_json_get_str(a, "type"), "view");
    sg_json_decref(a);
    a = asset("analytics.sales", "active");
    assert_string_equal(sg_json_get_str(a, "type"), "schema");
    assert_string_equal(sg_json_get_str(a, "description"), "Sales data");
    sg_json_decref(a);
    a = asset("analytics.bulk.t2999", "active");
    assert_non_null(a);
    sg_json_decref(a);

    /* Again: nothing new, nothing changed, nothing gone. */
    c = discover("warehouse", NULL);
    assert_int_equal(count(c, "added"), 0);
    assert_int_equal(count(c, "updated"), 0);
    assert_int_equal(count(c, "gone"), 0);
    sg_json_decref(c);
    /* A discovered view is requested like any asset. */
    sg_json *j = NULL;
    assert_int_equal(call_as(bob_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"analytics.sales.v_orders\",\"privilege\":\"read\","
                             "\"justification\":\"report\"}",
                             &j),
                     201);
    sg_json_decref(j);
}

/* include and exclude, from the request body or the connection. */
static void test_patterns(void **state)
{
    (void)state;
    add_connection("wh2", ",\"include\":[\"analytics.sales*\"],\"exclude\":[\"*.tmp_*\"]");
    sg_json *c = discover("wh2", NULL);
    /* the schema sales, orders, refunds, team, v_orders (tmp_scratch excluded) */
    assert_int_equal(count(c, "found"), 5);
    sg_json_decref(c);
    sg_json *a = asset("analytics.sales.tmp_scratch", "all");
    assert_null(a);
    a = asset("analytics.bulk.t1", "all");
    assert_null(a);
    /* The body overrides the connection's patterns for one run. */
    c = discover("wh2", "{\"include\":[\"analytics.bulk.t1?\"]}");
    assert_int_equal(count(c, "found"), 10); /* t10 .. t19 */
    /* What is outside this run's patterns is not gone: it was not looked at. */
    assert_int_equal(count(c, "gone"), 0);
    sg_json_decref(c);
    a = asset("analytics.bulk.t15", "active");
    assert_non_null(a);
    sg_json_decref(a);
    a = asset("analytics.sales.orders", "active");
    assert_non_null(a);
    sg_json_decref(a);
}

static void approve(const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    sg_json *j = NULL;
    assert_int_equal(call_as(sam_h, "POST", path, "{\"comment\":\"ok\"}", &j), 200);
    sg_json_decref(j);
}

/* A table dropped while bob holds a grant on it: the asset becomes gone, keeps its grant and
 * its request, refuses new grant requests, and comes back when the table does. */
static void test_dropped_tables_are_gone_never_deleted(void **state)
{
    (void)state;
    g_connected();
    add_connection("warehouse", NULL);
    sg_json *c = discover("warehouse", "{\"include\":[\"analytics.sales.*\"]}");
    sg_json_decref(c);
    sg_json *j = NULL;
    assert_int_equal(call_as(bob_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"analytics.sales.refunds\",\"privilege\":\"read\","
                             "\"justification\":\"audit\"}",
                             &j),
                     201);
    char id[33];
    snprintf(id, sizeof(id), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    approve(id);
    sg_json_decref(g_wait_state(id, "fulfilled"));
    assert_true(h_pg_has(&pg, "analytics", "bob_role", "sales.refunds", "SELECT"));

    h_pg_exec(&pg, "analytics", "DROP TABLE sales.refunds; DROP TABLE sales.tmp_scratch");
    c = discover("warehouse", "{\"include\":[\"analytics.sales.*\"]}");
    assert_int_equal(count(c, "gone"), 2);
    sg_json_decref(c);
    sg_json *a = asset("analytics.sales.refunds", "gone");
    assert_non_null(a);
    assert_string_equal(sg_json_get_str(a, "state"), "gone");
    sg_json_decref(a);
    assert_null(asset("analytics.sales.refunds", "active"));
    /* Its request and grant are still there. */
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    assert_int_equal(g_call("GET", path, NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "fulfilled");
    sg_json_decref(j);
    /* No new grant on what is gone. */
    assert_int_equal(call_as(carol_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"analytics.sales.refunds\",\"privilege\":\"read\","
                             "\"justification\":\"audit\"}",
                             &j),
                     409);
    assert_non_null(strstr(err_of(j), "gone"));
    sg_json_decref(j);

    /* Back again. */
    h_pg_exec(&pg, "analytics",
              "CREATE TABLE sales.refunds (id int); ALTER TABLE sales.refunds OWNER TO "
              "snowgate_grantor; CREATE TABLE sales.tmp_scratch (id int); ALTER TABLE "
              "sales.tmp_scratch OWNER TO snowgate_grantor;");
    c = discover("warehouse", "{\"include\":[\"analytics.sales.*\"]}");
    assert_int_equal(count(c, "returned"), 2);
    assert_int_equal(count(c, "gone"), 0);
    sg_json_decref(c);
    a = asset("analytics.sales.refunds", "active");
    assert_non_null(a);
    sg_json_decref(a);
}

/* Assets an admin registered: one named schema.table (on the DSN's database) is the same
 * table, updated and never doubled, its owners kept; a name another connection holds stays
 * theirs. */
static void test_admin_registered_assets(void **state)
{
    (void)state;
    add_connection("warehouse", NULL);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/assets",
                            "{\"name\":\"sales.orders\",\"type\":\"table\",\"connection\":"
                            "\"warehouse\",\"owners\":[\"bob\"]}",
                            &j),
                     201);
    sg_json_decref(j);
    assert_int_equal(
        g_call("POST", "/api/v1/connections", "{\"name\":\"desk\",\"kind\":\"manual\"}", &j), 201);
    sg_json_decref(j);
    assert_int_equal(g_call("POST", "/api/v1/assets",
                            "{\"name\":\"analytics.sales.refunds\",\"type\":\"table\","
                            "\"connection\":\"desk\"}",
                            &j),
                     201);
    sg_json_decref(j);
    sg_json *c = discover("warehouse", "{\"include\":[\"analytics.sales.*\"]}");
    /* orders, refunds, tmp_scratch, team, v_orders */
    assert_int_equal(count(c, "found"), 5);
    assert_int_equal(count(c, "added"), 3);
    assert_int_equal(count(c, "updated"), 1);
    assert_int_equal(count(c, "conflicts"), 1);
    assert_int_equal(count(c, "gone"), 0);
    sg_json_decref(c);
    sg_json *a = asset("sales.orders", "active");
    assert_non_null(a);
    assert_string_equal(sg_json_get_str(a, "description"), "Customer orders, one row per order");
    assert_string_equal(first_owner(a), "bob");
    sg_json_decref(a);
    assert_null(asset("analytics.sales.orders", "all"));
    a = asset("analytics.sales.refunds", "active");
    assert_string_equal(sg_json_get_str(a, "connection"), "desk");
    sg_json_decref(a);
}

/* discovery_interval: a connection with one is discovered without being asked. */
static void test_scheduled(void **state)
{
    (void)state;
    add_connection("sched", ",\"discovery_interval\":3600,\"include\":[\"analytics.sales\"]");
    for (int i = 0; i < 600; i++) {
        sg_json *j = NULL;
        assert_int_equal(g_call("GET", "/api/v1/connections/sched", NULL, &j), 200);
        const char *s = sg_json_get_str(sg_json_get(j, "discovery"), "state");
        bool done = s && strcmp(s, "done") == 0;
        if (done) {
            int64_t iv = 0;
            assert_true(sg_json_get_int(j, "discovery_interval", &iv));
            assert_int_equal(iv, 3600);
            assert_string_equal(sg_json_get_str(sg_json_get(j, "discovery"), "requested_by"),
                                "snowgate");
            assert_int_equal(count(j, "found"), 1);
        }
        sg_json_decref(j);
        if (done)
            return;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("the scheduled discovery never ran");
}

static void expect(const char *who, const char *method, const char *path, const char *body,
                   long status, const char *words)
{
    sg_json *j = NULL;
    long st = who ? call_as(who, method, path, body, &j) : g_call(method, path, body, &j);
    const char *err = err_of(j);
    if (st != status || (words && !strstr(err, words)))
        fail_msg("%s %s %s: %ld, %s (wanted %ld, \"%s\")", method, path, body ? body : "", st, err,
                 status, words ? words : "");
    sg_json_decref(j);
}

static void test_bad_input_and_roles(void **state)
{
    (void)state;
    add_connection("warehouse", NULL);
    sg_json *j = NULL;
    assert_int_equal(
        g_call("POST", "/api/v1/connections", "{\"name\":\"desk\",\"kind\":\"manual\"}", &j), 201);
    sg_json_decref(j);
    expect(NULL, "POST", "/api/v1/connections/nope/discover", NULL, 404, "not found");
    expect(NULL, "GET", "/api/v1/connections/nope", NULL, 404, "not found");
    expect(NULL, "POST", "/api/v1/connections/desk/discover", NULL, 409, "cannot be discovered");
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "{\"include\":\"sales\"}", 400,
           "\"include\" must be a list");
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "{\"exclude\":[\"\"]}", 400,
           "\"exclude\"[0]");
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "{\"default_owner\":\"nobody\"}",
           400, "not a snowgate user");
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "{\"discovery_interval\":60}",
           400, "give it when the connection is created");
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "[1]", 400, "JSON object");
    expect(NULL, "POST", "/api/v1/connections",
           "{\"name\":\"w3\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 sslmode=disable\","
           "\"discovery_interval\":5}",
           400, "discovery_interval");
    expect(NULL, "POST", "/api/v1/connections",
           "{\"name\":\"d2\",\"kind\":\"manual\",\"include\":[\"x\"]}", 400,
           "cannot be discovered");
    expect(NULL, "POST", "/api/v1/connections",
           "{\"name\":\"w4\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 sslmode=disable\","
           "\"default_owner\":\"ghost\"}",
           400, "not a snowgate user");
    expect(NULL, "GET", "/api/v1/assets?state=maybe", NULL, 400, "state must be");
    /* Admins only. */
    expect(bob_h, "POST", "/api/v1/connections/warehouse/discover", NULL, 403, NULL);
    expect(sam_h, "POST", "/api/v1/connections/warehouse/discover", NULL, 403, NULL);
    expect(bob_h, "GET", "/api/v1/connections/warehouse", NULL, 403, NULL);
    /* Nothing ran. */
    assert_int_equal(g_call("GET", "/api/v1/connections/warehouse", NULL, &j), 200);
    assert_true(sg_json_typeof(sg_json_get(j, "discovery")) == SG_JSON_NULL);
    sg_json_decref(j);
}

/* A source that refuses the login: the run says why on the connection, and keeps retrying. */
static void test_unreachable_source_shows_why(void **state)
{
    (void)state;
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"badpw\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 port=%d "
             "dbname=analytics user=snowgate_grantor sslmode=disable\",\"password\":\"wrong\"}",
             pg.port);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections", body, &j), 201);
    sg_json_decref(j);
    assert_int_equal(g_call("POST", "/api/v1/connections/badpw/discover", NULL, &j), 202);
    sg_json_decref(j);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(g_call("GET", "/api/v1/connections/badpw", NULL, &j), 200);
        const sg_json *d = sg_json_get(j, "discovery");
        const char *err = sg_json_get_str(d, "error");
        if (err) {
            assert_non_null(strstr(err, "cannot connect to the database of connection 'badpw'"));
            assert_string_equal(sg_json_get_str(d, "state"), "running"); /* retried */
            sg_json_decref(j);
            /* One run at a time. */
            expect(NULL, "POST", "/api/v1/connections/badpw/discover", NULL, 409,
                   "already running");
            return;
        }
        sg_json_decref(j);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("the failed login never showed on the connection");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discover_thousands, start, stop),
        cmocka_unit_test_setup_teardown(test_patterns, start, stop),
        cmocka_unit_test_setup_teardown(test_dropped_tables_are_gone_never_deleted, start, stop),
        cmocka_unit_test_setup_teardown(test_admin_registered_assets, start, stop),
        cmocka_unit_test_setup_teardown(test_scheduled, start, stop),
        cmocka_unit_test_setup_teardown(test_bad_input_and_roles, start, stop),
        cmocka_unit_test_setup_teardown(test_unreachable_source_shows_why, start, stop),
    };
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_start, group_stop);
}
