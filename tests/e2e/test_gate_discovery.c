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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
    /* The admin made sales.team a read-only view, with a description of their own. */
    assert_int_equal(
        g_call("POST", "/api/v1/assets",
               "{\"name\":\"analytics.sales.team\",\"type\":\"view\",\"connection\":"
               "\"warehouse\",\"description\":\"Team list, read only\",\"owners\":[\"carol\"]}",
               &j),
        201);
    sg_json_decref(j);
    h_pg_exec(&pg, "analytics", "COMMENT ON TABLE sales.team IS 'the owner''s own words'");
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
    assert_int_equal(count(c, "added"), 2);
    assert_int_equal(count(c, "updated"), 1); /* orders' empty description filled in */
    assert_int_equal(count(c, "conflicts"), 1);
    assert_int_equal(count(c, "gone"), 0);
    sg_json_decref(c);
    /* The admin's view stays a view with their description, and refuses write requests. */
    c = discover("warehouse", "{\"include\":[\"analytics.sales.*\"]}");
    assert_int_equal(count(c, "updated"), 0);
    sg_json_decref(c);
    h_pg_exec(&pg, "analytics", "COMMENT ON TABLE sales.team IS NULL");
    sg_json *a = asset("analytics.sales.team", "active");
    assert_non_null(a);
    assert_string_equal(sg_json_get_str(a, "type"), "view");
    assert_string_equal(sg_json_get_str(a, "description"), "Team list, read only");
    sg_json_decref(a);
    assert_int_equal(call_as(bob_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"analytics.sales.team\",\"privilege\":\"write\","
                             "\"justification\":\"edit\"}",
                             &j),
                     400);
    assert_non_null(strstr(err_of(j), "cannot be written"));
    sg_json_decref(j);
    a = asset("sales.orders", "active");
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
    /* The messages say what patterns match for this kind, and that ? is one byte. */
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "{\"exclude\":[\"\"]}", 400,
           "? any one byte");
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "{\"exclude\":[\"\"]}", 400,
           "matched against database.schema.table (a schema: database.schema)");
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "{\"include\":\"x\"}", 400,
           "database.schema.table");
    /* An unclosed [ is refused, not matched as itself. */
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover",
           "{\"include\":[\"analytics.[sales\"]}", 400, "never closes it");
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "{\"exclude\":[\"*\",\"a[!]\"]}",
           400, "\"exclude\"[1] 'a[!]' opens a set");
    expect(NULL, "POST", "/api/v1/connections",
           "{\"name\":\"w5\",\"kind\":\"mysql\",\"dsn\":\"host=127.0.0.1 user=u "
           "ssl_mode=disable\",\"include\":[\"\"]}",
           400, "database.table (a database: its name alone)");
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "{\"default_owner\":\"nobody\"}",
           400, "not a snowgate user");
    /* A disabled user is no owner. */
    j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/users/carol/disable", "{}", &j), 200);
    sg_json_decref(j);
    expect(NULL, "POST", "/api/v1/connections/warehouse/discover", "{\"default_owner\":\"carol\"}",
           400, "is disabled");
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

/* The connection's discovery settings, as GET shows them, as compact JSON. */
static char *settings_of(const char *conn)
{
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/connections/%s", conn);
    sg_json *j = NULL, *o = sg_json_object();
    assert_int_equal(g_call("GET", path, NULL, &j), 200);
    sg_json *d = sg_json_get(sg_json_get(j, "config"), "discovery");
    sg_json_set(o, "discovery", d ? sg_json_incref(d) : sg_json_null());
    int64_t iv = -1;
    assert_true(sg_json_get_int(j, "discovery_interval", &iv));
    sg_json_set_int(o, "interval", iv);
    char *text = sg_json_dump(o);
    sg_json_decref(o);
    sg_json_decref(j);
    return text;
}

static void expect_settings(const char *conn, const char *want)
{
    char *got = settings_of(conn);
    if (strcmp(got, want) != 0)
        fail_msg("%s's settings are %s, wanted %s", conn, got, want);
    free(got);
}

/* The largest discovery settings PATCH accepts (two lists of 100 patterns of 255 bytes) make
 * a config far larger than a DSN: grants on the connection still work (fulfilment reads the
 * config whole). */
static void test_large_settings_still_grant(void **state)
{
    (void)state;
    g_connected();
    add_connection("wh9", NULL);
    sg_json_decref(discover("wh9", "{\"include\":[\"analytics.sales.orders\"]}"));
    sg_buf body = SG_BUF_INIT(0);
    sg_buf_printf(&body, "{");
    for (int l = 0; l < 2; l++) {
        sg_buf_printf(&body, "%s\"%s\":[", l ? "," : "", l ? "exclude" : "include");
        for (int i = 0; i < 100; i++) {
            char p[256];
            int n = snprintf(p, sizeof(p), "analytics.%s.t%03d_", l ? "zz" : "sales", i);
            memset(p + n, 'x', 255 - (size_t)n);
            p[255] = '\0';
            sg_buf_printf(&body, "%s\"%s\"", i ? "," : "", p);
        }
        sg_buf_printf(&body, "]");
    }
    sg_buf_printf(&body, "}");
    sg_json *j = NULL;
    assert_int_equal(g_call("PATCH", "/api/v1/connections/wh9", sg_buf_str(&body), &j), 200);
    sg_json_decref(j);
    sg_buf_free(&body);
    assert_int_equal(call_as(carol_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"analytics.sales.orders\",\"privilege\":\"read\","
                             "\"justification\":\"audit\"}",
                             &j),
                     201);
    char id[33];
    snprintf(id, sizeof(id), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    approve(id);
    sg_json_decref(g_wait_state(id, "fulfilled"));
    assert_true(h_pg_has(&pg, "analytics", "carol_role", "sales.orders", "SELECT"));
}

/* PATCH changes the discovery settings a connection was created with; the next run uses
 * them; what is not given stays; bad input changes nothing. */
static void test_change_settings(void **state)
{
    (void)state;
    add_connection("wh3", ",\"include\":[\"analytics.sales*\"],\"exclude\":[\"*.tmp_*\"]");
    sg_json *j = NULL;
    assert_int_equal(
        g_call("POST", "/api/v1/connections", "{\"name\":\"desk\",\"kind\":\"manual\"}", &j), 201);
    sg_json_decref(j);
    assert_int_equal(g_call("PATCH", "/api/v1/connections/wh3",
                            "{\"include\":[\"analytics.bulk.t1?\"],\"exclude\":null,"
                            "\"default_owner\":\"carol\"}",
                            &j),
                     200);
    assert_string_equal(sg_json_get_str(j, "name"), "wh3");
    sg_json_decref(j);
    expect_settings("wh3", "{\"discovery\":{\"include\":[\"analytics.bulk.t1?\"],"
                           "\"default_owner\":\"carol\"},\"interval\":0}");
    /* The next run reads the new patterns, and owns what it finds to carol. */
    sg_json *c = discover("wh3", NULL);
    assert_int_equal(count(c, "found"), 10); /* t10 .. t19 */
    sg_json_decref(c);
    sg_json *a = asset("analytics.bulk.t15", "active");
    assert_non_null(a);
    assert_string_equal(first_owner(a), "carol");
    sg_json_decref(a);
    /* One setting at a time; what is not given stays. */
    assert_int_equal(
        g_call("PATCH", "/api/v1/connections/wh3", "{\"discovery_interval\":3600}", &j), 200);
    int64_t iv = 0;
    assert_true(sg_json_get_int(j, "discovery_interval", &iv));
    assert_int_equal(iv, 3600);
    sg_json_decref(j);
    assert_int_equal(g_call("PATCH", "/api/v1/connections/wh3",
                            "{\"include\":[],\"default_owner\":null,\"discovery_interval\":0}", &j),
                     200);
    sg_json_decref(j);
    expect_settings("wh3", "{\"discovery\":null,\"interval\":0}");
    assert_int_equal(g_call("PATCH", "/api/v1/connections/wh3", "{\"exclude\":[\"*.t1?\"]}", &j),
                     200);
    sg_json_decref(j);
    char *before = settings_of("wh3");
    assert_string_equal(before, "{\"discovery\":{\"exclude\":[\"*.t1?\"]},\"interval\":0}");
    /* Bad input: 400 (or 404, 403), and nothing changed. */
    expect(NULL, "PATCH", "/api/v1/connections/wh3", "{}", 400, "nothing to change");
    expect(NULL, "PATCH", "/api/v1/connections/wh3", "{\"name\":\"x\",\"include\":[\"a\"]}", 400,
           "\"name\" cannot be changed");
    expect(NULL, "PATCH", "/api/v1/connections/wh3", "{\"dsn\":\"host=x\"}", 400,
           "discovery settings only");
    expect(NULL, "PATCH", "/api/v1/connections/wh3", "{\"include\":\"x\",\"exclude\":[]}", 400,
           "\"include\" must be a list");
    expect(NULL, "PATCH", "/api/v1/connections/wh3", "{\"include\":[\"a[\"]}", 400,
           "never closes it");
    expect(NULL, "PATCH", "/api/v1/connections/wh3", "{\"exclude\":[],\"default_owner\":\"ghost\"}",
           400, "not a snowgate user");
    expect(NULL, "PATCH", "/api/v1/connections/wh3", "{\"discovery_interval\":5}", 400,
           "discovery_interval");
    expect(NULL, "PATCH", "/api/v1/connections/wh3", "{\"discovery_interval\":null}", 400,
           "not null");
    expect(NULL, "PATCH", "/api/v1/connections/wh3", "[1]", 400, "JSON object");
    expect(NULL, "PATCH", "/api/v1/connections/desk", "{\"include\":[\"x\"]}", 400,
           "cannot be discovered");
    expect(NULL, "PATCH", "/api/v1/connections/nope", "{\"include\":[\"x\"]}", 404, "not found");
    expect(bob_h, "PATCH", "/api/v1/connections/wh3", "{\"include\":[\"x\"]}", 403, NULL);
    expect(sam_h, "PATCH", "/api/v1/connections/wh3", "{\"include\":[\"x\"]}", 403, NULL);
    expect_settings("wh3", before);
    free(before);
    /* Each change is in the audit log, with what the settings became. */
    assert_int_equal(g_call("GET", "/api/v1/audit?limit=200", NULL, &j), 200);
    char *text = sg_json_dump(j);
    sg_json_decref(j);
    int changes = 0;
    for (const char *p = text; (p = strstr(p, "connection.changed")) != NULL; p++)
        changes++;
    free(text);
    assert_int_equal(changes, 4);
}

/* A source that refuses the login (a wrong password, SQLSTATE 28P01): retrying cannot fix it,
 * so the run fails at once and says why on the connection. */
static void test_wrong_password_is_final(void **state)
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
        const char *st = sg_json_get_str(d, "state");
        if (st && strcmp(st, "failed") == 0) {
            const char *err = sg_json_get_str(d, "error");
            assert_non_null(err);
            assert_non_null(strstr(err, "the database of connection 'badpw' refused the login"));
            assert_non_null(strstr(err, "28P01"));
            sg_json_decref(j);
            /* Over: a new run can start. */
            assert_int_equal(g_call("POST", "/api/v1/connections/badpw/discover", NULL, &j), 202);
            sg_json_decref(j);
            return;
        }
        if (sg_json_get_str(d, "error"))
            fail_msg("the refused login was retried: %s", sg_json_get_str(d, "error"));
        sg_json_decref(j);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("the refused login never failed the run");
}

/* A port nothing listens on, on the loopback address. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* A source that is down: the run says why on the connection, and keeps retrying. */
static void test_unreachable_source_is_retried(void **state)
{
    (void)state;
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"down\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 port=%d "
             "dbname=analytics user=snowgate_grantor sslmode=disable\",\"password\":\"pw\"}",
             closed_port());
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections", body, &j), 201);
    sg_json_decref(j);
    assert_int_equal(g_call("POST", "/api/v1/connections/down/discover", NULL, &j), 202);
    sg_json_decref(j);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(g_call("GET", "/api/v1/connections/down", NULL, &j), 200);
        const sg_json *d = sg_json_get(j, "discovery");
        const char *err = sg_json_get_str(d, "error");
        if (err) {
            assert_non_null(strstr(err, "cannot connect to the database of connection 'down'"));
            assert_string_equal(sg_json_get_str(d, "state"), "running"); /* retried */
            sg_json_decref(j);
            /* One run at a time. */
            expect(NULL, "POST", "/api/v1/connections/down/discover", NULL, 409, "already running");
            return;
        }
        sg_json_decref(j);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("the failed connection never showed on the connection");
}

/* Without TLS verification (the test flag is on), only to a loopback address: a public host
 * with sslmode=disable is refused before connecting, and the run fails at once. */
static void test_no_tls_only_to_loopback(void **state)
{
    (void)state;
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections",
                            "{\"name\":\"far\",\"kind\":\"postgres\",\"dsn\":\"host=1.1.1.1 "
                            "dbname=analytics user=snowgate_grantor sslmode=disable\"}",
                            &j),
                     201);
    sg_json_decref(j);
    assert_int_equal(g_call("POST", "/api/v1/connections/far/discover", NULL, &j), 202);
    sg_json_decref(j);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(g_call("GET", "/api/v1/connections/far", NULL, &j), 200);
        const sg_json *d = sg_json_get(j, "discovery");
        const char *st = sg_json_get_str(d, "state");
        if (st && strcmp(st, "failed") == 0) {
            assert_non_null(strstr(sg_json_get_str(d, "error"),
                                   "sslmode=disable is only for a loopback address"));
            sg_json_decref(j);
            return;
        }
        if (sg_json_get_str(d, "error"))
            fail_msg("retried: %s", sg_json_get_str(d, "error"));
        sg_json_decref(j);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail_msg("the run never failed");
}

/* A dot inside a schema or table name makes names collide: schema "dot.x" and table x of
 * schema dot would both be analytics.dot.x, and the schema would retype the table. Such
 * objects are skipped and counted, every run. Comments are cut to 4096 characters and
 * cleaned of control characters. */
static void test_dotted_names_skipped_comments_cleaned(void **state)
{
    (void)state;
    h_pg_exec(&pg, "analytics",
              "CREATE SCHEMA dot; CREATE TABLE dot.x (id int); CREATE SCHEMA \"dot.x\"; "
              "CREATE TABLE \"dot.x\".t (id int); CREATE TABLE dot.\"y.z\" (id int); "
              "CREATE TABLE dot.big (id int); "
              "COMMENT ON TABLE dot.x IS E'tab\\there\\nnew line\\x01bell\\x7f'; "
              "DO $$ BEGIN EXECUTE format('COMMENT ON TABLE dot.big IS %L', "
              "repeat('ab', 5000000)); END $$;");
    add_connection("warehouse", NULL);
    for (int run = 0; run < 2; run++) {
        sg_json *c = discover("warehouse", "{\"include\":[\"analytics.dot*\"]}");
        /* dot, dot.x, dot.big; skipped: the schema dot.x, dot.x.t and dot.y.z */
        assert_int_equal(count(c, "found"), 3);
        assert_int_equal(count(c, "skipped"), 3);
        assert_int_equal(count(c, "conflicts"), 0);
        sg_json_decref(c);
        sg_json *a = asset("analytics.dot.x", "active");
        assert_non_null(a);
        assert_string_equal(sg_json_get_str(a, "type"), "table");
        assert_string_equal(sg_json_get_str(a, "description"), "tab here new line bell ");
        sg_json_decref(a);
    }
    sg_json *a = asset("analytics.dot.big", "active");
    assert_non_null(a);
    const char *desc = sg_json_get_str(a, "description");
    assert_int_equal(strlen(desc), 4096);
    assert_int_equal(strncmp(desc, "abab", 4), 0);
    sg_json_decref(a);
    h_pg_exec(&pg, "analytics", "DROP SCHEMA dot CASCADE; DROP SCHEMA \"dot.x\" CASCADE");
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
        cmocka_unit_test_setup_teardown(test_change_settings, start, stop),
        cmocka_unit_test_setup_teardown(test_large_settings_still_grant, start, stop),
        cmocka_unit_test_setup_teardown(test_wrong_password_is_final, start, stop),
        cmocka_unit_test_setup_teardown(test_unreachable_source_is_retried, start, stop),
        cmocka_unit_test_setup_teardown(test_no_tls_only_to_loopback, start, stop),
        cmocka_unit_test_setup_teardown(test_dotted_names_skipped_comments_cleaned, start, stop),
    };
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_start, group_stop);
}
