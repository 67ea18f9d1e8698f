/* End to end: access requests reaching a real MariaDB server. snowgate grants and revokes
 * through the mysql connector; the tests read the result in MariaDB's own information_schema
 * (TABLE_PRIVILEGES, SCHEMA_PRIVILEGES). One server per test program, on a unix socket (root,
 * for the tests) and 127.0.0.1 (snowgate's grantor, with a password). */
#include "e2e/gate_env.h"
#include "e2e/my_server.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/app.h"
#include "gate/connectors/connectors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_PASSWORD "my-Grantor-Pw1"
/* Table names that must reach SQL quoted: a quote, a backtick, Unicode, and all of them with a
 * semicolon. As written in JSON, and as they are. A table with a dot in its name (T_DOT) is
 * never granted on: analytics.q.3 could as well be table 3 of database analytics.q. */
#define T_QUOTE_JSON "it's"
#define T_QUOTE      "it's"
#define T_TICK       "back`tick"
#define T_DOT        "q.3"
#define T_UNI        "\xc3\xbcml\xc3\xa4ut\xe2\x82\xac"
#define T_ALL_JSON   "a'b`c d;\\\"\xc3\xa9"
#define T_ALL        "a'b`c d;\"\xc3\xa9"

static h_my my;
static char bob_h[128], sam_h[128];

static int group_start(void **state)
{
    (void)state;
    h_my_start(&my);
    h_my_exec(&my, "CREATE DATABASE analytics");
    h_my_exec(&my, "CREATE DATABASE sales_db");
    h_my_exec(&my, "CREATE DATABASE salesXdb");
    static const char *const tables[] = {
        "orders", "refunds",      "ledger", "holds",       "gone",
        "`it's`", "`back``tick`", "`q.3`",  "`" T_UNI "`", "`a'b``c d;\"\xc3\xa9`",
        NULL};
    for (size_t i = 0; tables[i]; i++) {
        char sql[200];
        snprintf(sql, sizeof(sql), "CREATE TABLE analytics.%s (id int)", tables[i]);
        h_my_exec(&my, sql);
    }
    h_my_exec(&my, "CREATE TABLE sales_db.t (id int)");
    h_my_exec(&my, "CREATE USER 'snowgate_grantor'@'%' IDENTIFIED BY '" DB_PASSWORD "'");
    h_my_exec(&my, "GRANT SELECT, INSERT, UPDATE, DELETE ON analytics.* TO "
                   "'snowgate_grantor'@'%' WITH GRANT OPTION");
    h_my_exec(&my, "GRANT SELECT, INSERT, UPDATE, DELETE ON `sales\\_db`.* TO "
                   "'snowgate_grantor'@'%' WITH GRANT OPTION");
    /* To read other accounts' rows in information_schema and mysql.user. */
    h_my_exec(&my, "GRANT SELECT ON mysql.* TO 'snowgate_grantor'@'%'");
    h_my_exec(&my, "CREATE USER 'bob'@'%'");
    h_my_exec(&my, "CREATE USER 'carol'@'%'");
    return 0;
}

static int group_stop(void **state)
{
    (void)state;
    h_my_stop(&my);
    return 0;
}

static void add_asset(const char *name, const char *type)
{
    sg_json *a = sg_json_object(), *j = NULL;
    sg_json_set_str(a, "name", name);
    sg_json_set_str(a, "type", type);
    sg_json_set_str(a, "connection", "mariadb");
    char *text = sg_json_dump(a);
    sg_json_decref(a);
    if (g_call("POST", "/api/v1/assets", text, &j) != 201)
        fail_msg("registering %s failed", name);
    sg_json_decref(j);
    free(text);
}

/* snowgate (not connected to ServiceNow: decisions are made in its inbox) with the mysql
 * connection "mariadb", assets on it, bob (member, account bob) and sam (steward). */
static int start(void **state)
{
    (void)state;
    g_start("gatemy", NULL);
    g_add_user("bob", "member", "bob", bob_h);
    g_add_user("sam", "steward", NULL, sam_h);
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"mariadb\",\"kind\":\"mariadb\",\"dsn\":\"host=127.0.0.1 port=%d "
             "user=snowgate_grantor ssl_mode=disable\",\"password\":\"%s\"}",
             my.port, DB_PASSWORD);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections", body, &j), 201);
    /* mariadb is the mysql connector's other name. */
    assert_string_equal(sg_json_get_str(j, "kind"), "mysql");
    sg_json_decref(j);
    static const char *const tables[] = {"orders", "refunds", "ledger", "holds", "gone", "missing",
                                         T_QUOTE,  T_TICK,    T_DOT,    T_UNI,   T_ALL};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char name[128];
        snprintf(name, sizeof(name), "analytics.%s", tables[i]);
        add_asset(name, "table");
    }
    add_asset("sales_db", "schema");
    add_asset("mysql.user", "table");
    add_asset("Performance_Schema", "schema");
    return 0;
}

static int stop(void **state)
{
    (void)state;
    g_stop();
    return 0;
}

static bool has(const char *table, const char *privilege)
{
    return h_my_has(&my, "bob", "analytics", table, privilege);
}

static long call_as(const char *who, const char *method, const char *path, const char *body,
                    sg_json **j)
{
    const char *h[] = {who, NULL};
    return h_call(method, G.gate.url, path, h, body, j, NULL);
}

/* bob (or `body`'s "for") asks; sam approves in the inbox; returns the request's id. */
static void request_approved(const char *body, char id[33])
{
    sg_json *j = NULL;
    if (call_as(bob_h, "POST", "/api/v1/requests", body, &j) != 201)
        fail_msg("request %s refused: %s", body,
                 sg_json_get_str(sg_json_get(j, "error"), "message"));
    snprintf(id, 33, "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    assert_int_equal(call_as(sam_h, "POST", path, "{\"comment\":\"ok\"}", &j), 200);
    sg_json_decref(j);
}

static void pause_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000 * 1000};
    nanosleep(&t, NULL);
}

/* Waits until the request is in a final or decided state other than approved/fulfilling;
 * returns it. */
static sg_json *wait_settled(const char *id)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    for (int i = 0; i < 1200; i++) {
        sg_json *j = NULL;
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        const char *st = sg_json_get_str(j, "state");
        if (strcmp(st, "approved") != 0 && strcmp(st, "fulfilling") != 0)
            return j;
        sg_json_decref(j);
        pause_ms(50);
    }
    fail_msg("request %s never settled", id);
    return NULL;
}

/* Bad DSNs are refused with a 400 that says what is wrong. */
static void test_bad_dsns(void **state)
{
    (void)state;
    static const struct {
        const char *dsn, *msg;
    } bad[] = {
        {"host=db.example.com user=u password=x", "keep the password out"},
        {"host=db.example.com user=u pwd=x", "keep the password out"},
        {"user=u", "needs host="},
        {"host=db.example.com", "needs user="},
        {"host=a.example.com,b.example.com user=u", "one host name"},
        {"host=db.example.com user=u socket=/run/mysqld/mysqld.sock", "local socket"},
        {"host=db.example.com user=u port=0", "port must be"},
        {"host=db.example.com user=u port=99999", "port must be"},
        {"host=db.example.com user=u port=33x", "port must be"},
        {"host=db.example.com user=u sslmode=disable", "is unknown"},
        {"host=db.example.com user=u ssl_mode=prefer", "ssl_mode is verify-full"},
        {"host=db.example.com user=u ssl_mode=prefer", "only with the loopback test flag"},
        {"host= user=u", "the dsn's host is empty"},
        {"host=db.example.com user=u ssl_ca=relative.pem", "absolute path"},
        {"host=db.example.com user=u host=other", "twice"},
        {"host=db.example.com user='u'", "the dsn's user has a quote"},
        {"host=db.example.com user", "key=value"},
        {"", "a mysql connection needs"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[400];
        snprintf(body, sizeof(body),
                 "{\"name\":\"bad%zu\",\"kind\":\"mysql\",\"dsn\":\"%s\",\"password\":\"pw\"}", i,
                 bad[i].dsn);
        sg_json *j = NULL;
        long st = g_call("POST", "/api/v1/connections", body, &j);
        const char *msg = sg_json_get_str(sg_json_get(j, "error"), "message");
        if (st != 400 || !msg || !strstr(msg, bad[i].msg))
            fail_msg("dsn case %zu (%s): %ld %s", i, bad[i].dsn, st, msg ? msg : "(no message)");
        sg_json_decref(j);
    }
    /* Nothing was created. */
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", "/api/v1/connections", NULL, &j), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "items")), 1);
    sg_json_decref(j);
}

/* What the connector could never apply is refused when the request is made: a person without
 * a database account, and an asset kind it does not grant on. */
static void test_refused_at_request(void **state)
{
    (void)state;
    add_asset("analytics.export", "dataset");
    /* An account the server keeps for itself: set with a warning, refused at request. */
    char tok[128];
    g_add_user("rooty", "member", "Root@localhost", tok);
    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"{\"asset\":\"analytics.orders\",\"privilege\":\"read\",\"justification\":\"x\","
         "\"for\":\"sam\"}",
         "sam has no database role"},
        {"{\"asset\":\"analytics.export\",\"privilege\":\"read\",\"justification\":\"x\","
         "\"for\":\"bob\"}",
         "grants on tables, views and schemas"},
        {"{\"asset\":\"analytics.orders\",\"privilege\":\"read\",\"justification\":\"x\","
         "\"for\":\"rooty\"}",
         "rooty's database role cannot receive grants on the mysql connection 'mariadb': "
         "database account 'Root@localhost' is root"},
        /* A dot inside a name: which database and which table is ambiguous. */
        {"{\"asset\":\"analytics." T_DOT "\",\"privilege\":\"read\",\"justification\":\"x\","
         "\"for\":\"bob\"}",
         "is ambiguous"},
        /* The system schemas, whatever their case. */
        {"{\"asset\":\"mysql.user\",\"privilege\":\"read\",\"justification\":\"x\","
         "\"for\":\"bob\"}",
         "system schema mysql"},
        {"{\"asset\":\"Performance_Schema\",\"privilege\":\"read\",\"justification\":\"x\","
         "\"for\":\"bob\"}",
         "system schema Performance_Schema"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sg_json *j = NULL;
        long st = g_call("POST", "/api/v1/requests", bad[i].body, &j);
        const char *msg = sg_json_get_str(sg_json_get(j, "error"), "message");
        if (st != 400 || !msg || !strstr(msg, bad[i].msg))
            fail_msg("case %zu: %ld %s", i, st, msg ? msg : "(no message)");
        sg_json_decref(j);
    }
}

/* read is SELECT only, granted and visible in information_schema; at expiry it is revoked. */
static void test_grant_then_expires(void **state)
{
    (void)state;
    char id[33];
    assert_false(has("orders", "SELECT"));
    request_approved("{\"asset\":\"analytics.orders\",\"privilege\":\"read\","
                     "\"justification\":\"churn model\",\"duration\":\"PT4S\"}",
                     id);
    sg_json *j = g_wait_state(id, "fulfilled");
    assert_non_null(sg_json_get_str(j, "expires_at"));
    sg_json_decref(j);
    assert_true(has("orders", "SELECT"));
    assert_false(has("orders", "INSERT"));
    assert_false(has("refunds", "SELECT"));
    sg_json_decref(g_wait_state(id, "expired"));
    assert_false(has("orders", "SELECT"));
}

/* write is SELECT, INSERT, UPDATE and DELETE, on tables whose names need quoting; a revoke
 * request takes it all back. A job run twice changes nothing (GRANT is idempotent). */
static void test_write_on_tricky_names_then_revoke(void **state)
{
    (void)state;
    static const char *const json[] = {T_QUOTE_JSON, T_TICK, T_UNI, T_ALL_JSON};
    static const char *const names[] = {T_QUOTE, T_TICK, T_UNI, T_ALL};
    static const char *const all[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
    for (size_t t = 0; t < 4; t++) {
        char body[300], grant[33], revoke[33];
        snprintf(body, sizeof(body),
                 "{\"asset\":\"analytics.%s\",\"privilege\":\"write\",\"justification\":"
                 "\"fix rows\"}",
                 json[t]);
        request_approved(body, grant);
        sg_json_decref(g_wait_state(grant, "fulfilled"));
        for (size_t i = 0; i < 4; i++)
            if (!has(names[t], all[i]))
                fail_msg("bob lacks %s on %s", all[i], names[t]);
        assert_false(has("orders", "SELECT"));
        snprintf(body, sizeof(body),
                 "{\"asset\":\"analytics.%s\",\"action\":\"revoke\",\"privilege\":\"read\","
                 "\"justification\":\"done\"}",
                 json[t]);
        request_approved(body, revoke);
        sg_json_decref(g_wait_state(revoke, "fulfilled"));
        for (size_t i = 0; i < 4; i++)
            if (has(names[t], all[i]))
                fail_msg("bob still has %s on %s", all[i], names[t]);
        sg_json_decref(g_wait_state(grant, "revoked"));
    }
}

/* A schema asset is a database-level grant; the _ in sales_db is escaped, so that the grant
 * does not also reach salesXdb. */
static void test_schema_grant_escapes_wildcards(void **state)
{
    (void)state;
    char id[33];
    request_approved("{\"asset\":\"sales_db\",\"privilege\":\"read\",\"justification\":"
                     "\"whole schema\",\"duration\":\"PT4S\"}",
                     id);
    sg_json_decref(g_wait_state(id, "fulfilled"));
    assert_true(h_my_has_schema(&my, "bob", "sales\\_db", "SELECT"));
    assert_false(h_my_has_schema(&my, "bob", "sales_db", "SELECT"));
    assert_false(h_my_has_schema(&my, "bob", "sales\\_db", "INSERT"));
    sg_json_decref(g_wait_state(id, "expired"));
    assert_false(h_my_has_schema(&my, "bob", "sales\\_db", "SELECT"));
}

/* Two grants on one table: the read one expires, and SELECT stays, because the write grant
 * still needs it. */
static void test_expiry_keeps_what_another_grant_needs(void **state)
{
    (void)state;
    char w[33], r[33];
    request_approved("{\"asset\":\"analytics.refunds\",\"privilege\":\"write\","
                     "\"justification\":\"refund fixes\"}",
                     w);
    sg_json_decref(g_wait_state(w, "fulfilled"));
    request_approved("{\"asset\":\"analytics.refunds\",\"privilege\":\"read\","
                     "\"justification\":\"report\",\"duration\":\"PT2S\"}",
                     r);
    sg_json_decref(g_wait_state(r, "fulfilled"));
    sg_json_decref(g_wait_state(r, "expired"));
    assert_true(has("refunds", "SELECT"));
    assert_true(has("refunds", "INSERT"));
    h_my_exec(&my, "REVOKE ALL ON analytics.refunds FROM 'bob'@'%'");
}

static int bob_is_carol_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE users SET db_role = 'carol' WHERE name = 'bob'", NULL, 0, NULL);
}

static int due_now_tx(sg_conn *c, void *ctx)
{
    sg_val v[] = {SG_VTEXT((const char *)ctx)};
    return sg_conn_exec(c, "UPDATE requests SET expires_at = '2000-01-01T00:00:00Z' WHERE id = ?1",
                        v, 1, NULL);
}

/* bob's account changes (to carol) while his grants are in force: the expiry of one and a
 * revoke of the other take the privileges back from 'bob'@'%', the account they went to. */
static void test_account_changed_while_granted(void **state)
{
    (void)state;
    char r[33], w[33], revoke[33];
    request_approved("{\"asset\":\"analytics.holds\",\"privilege\":\"read\","
                     "\"justification\":\"holds report\",\"duration\":\"PT1H\"}",
                     r);
    sg_json *j = g_wait_state(r, "fulfilled");
    assert_string_equal(sg_json_get_str(j, "granted_account"), "bob");
    sg_json_decref(j);
    request_approved("{\"asset\":\"analytics.ledger\",\"privilege\":\"write\","
                     "\"justification\":\"ledger fixes\"}",
                     w);
    sg_json_decref(g_wait_state(w, "fulfilled"));
    assert_true(has("holds", "SELECT"));
    assert_true(has("ledger", "INSERT"));
    g_in_store(bob_is_carol_tx, NULL);
    g_in_store(due_now_tx, r);
    sg_json_decref(g_wait_state(r, "expired"));
    assert_false(has("holds", "SELECT"));
    request_approved("{\"asset\":\"analytics.ledger\",\"action\":\"revoke\","
                     "\"privilege\":\"read\",\"justification\":\"done\"}",
                     revoke);
    sg_json_decref(g_wait_state(revoke, "fulfilled"));
    sg_json_decref(g_wait_state(w, "revoked"));
    static const char *const all[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
    for (size_t i = 0; i < 4; i++) {
        if (has("ledger", all[i]))
            fail_msg("bob still has %s on analytics.ledger", all[i]);
        assert_false(h_my_has(&my, "carol", "analytics", "ledger", all[i]));
    }
}

/* The number of dead jobs, and the attempts of the first. */
static size_t dead_jobs(int64_t *attempts)
{
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", "/api/v1/jobs?state=dead", NULL, &j), 200);
    sg_json *items = sg_json_get(j, "items");
    size_t n = sg_json_array_size(items);
    *attempts = 0;
    if (n)
        sg_json_get_int(sg_json_array_get(items, 0), "attempts", attempts);
    sg_json_decref(j);
    return n;
}

/* A person whose account does not exist, and a table that does not: retrying cannot help, so
 * the job is dead after one attempt and the request failed with the reason. GRANT never
 * creates the account. */
static void test_missing_account_and_table_fail_at_once(void **state)
{
    (void)state;
    char tok[128], id[33];
    g_add_user("ghost", "member", "ghost@%", tok);
    request_approved("{\"asset\":\"analytics.ledger\",\"privilege\":\"read\","
                     "\"justification\":\"books\",\"for\":\"ghost\"}",
                     id);
    sg_json *j = wait_settled(id);
    assert_string_equal(sg_json_get_str(j, "state"), "failed");
    assert_non_null(strstr(sg_json_get_str(j, "reason"), "'ghost'@'%' of ghost does not exist"));
    sg_json_decref(j);
    char *n = h_my_value(&my, "SELECT COUNT(*) FROM mysql.user WHERE User = 'ghost'");
    assert_string_equal(n, "0");
    free(n);
    int64_t attempts = 0;
    assert_int_equal(dead_jobs(&attempts), 1);
    assert_int_equal(attempts, 1);

    request_approved("{\"asset\":\"analytics.missing\",\"privilege\":\"read\","
                     "\"justification\":\"nothing there\"}",
                     id);
    j = wait_settled(id);
    assert_string_equal(sg_json_get_str(j, "state"), "failed");
    assert_non_null(strstr(sg_json_get_str(j, "reason"), "no table analytics.missing"));
    sg_json_decref(j);
    assert_int_equal(dead_jobs(&attempts), 2);
}

/* A table dropped while a grant on it is live: MariaDB keeps the grant's row, so the revoke at
 * expiry still runs, removes it and is checked; the table made again under the same name does
 * not bring the grant back. */
static void test_table_dropped_while_granted(void **state)
{
    (void)state;
    char id[33];
    request_approved("{\"asset\":\"analytics.gone\",\"privilege\":\"read\","
                     "\"justification\":\"last look\",\"duration\":\"PT4S\"}",
                     id);
    sg_json_decref(g_wait_state(id, "fulfilled"));
    assert_true(has("gone", "SELECT"));
    h_my_exec(&my, "DROP TABLE analytics.gone");
    assert_true(has("gone", "SELECT")); /* the row outlives the table */
    sg_json_decref(g_wait_state(id, "expired"));
    assert_false(has("gone", "SELECT"));
    h_my_exec(&my, "CREATE TABLE analytics.gone (id int)");
    assert_false(has("gone", "SELECT"));
}

/* Whether a queued (retrying) job's last error contains text. */
static bool job_error_seen(const char *text)
{
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", "/api/v1/jobs?state=queued", NULL, &j), 200);
    sg_json *items = sg_json_get(j, "items");
    bool found = false;
    for (size_t i = 0; !found && i < sg_json_array_size(items); i++) {
        const char *e = sg_json_get_str(sg_json_array_get(items, i), "last_error");
        found = e && strstr(e, text);
    }
    sg_json_decref(j);
    return found;
}

/* The server is down when a grant expires: the revoke fails visibly (the job's last error,
 * the request still fulfilled) and is retried until the server is back; nothing is lost. */
static void test_revoke_retried_while_server_down(void **state)
{
    (void)state;
    char id[33];
    request_approved("{\"asset\":\"analytics.ledger\",\"privilege\":\"read\","
                     "\"justification\":\"books\",\"duration\":\"PT3S\"}",
                     id);
    sg_json_decref(g_wait_state(id, "fulfilled"));
    assert_true(has("ledger", "SELECT"));
    h_my_down(&my);
    bool seen = false;
    for (int i = 0; i < 600 && !seen; i++) {
        seen = job_error_seen("cannot connect to the database of connection 'mariadb'");
        if (!seen)
            pause_ms(50);
    }
    assert_true(seen);
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", path, NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "fulfilled");
    sg_json_decref(j);
    h_my_up(&my);
    sg_json_decref(g_wait_state(id, "expired"));
    assert_false(has("ledger", "SELECT"));
    int64_t attempts = 0;
    assert_int_equal(dead_jobs(&attempts), 0);
}

/* snowgate doctor logs in to each mysql connection: ok for the test's, FAIL with the server's
 * reason for one with a wrong password. (ServiceNow is not connected here, so doctor as a
 * whole fails; only the connection rows are read.) */
static void test_doctor_logs_in(void **state)
{
    (void)state;
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"wrongpw\",\"kind\":\"mysql\",\"dsn\":\"host=127.0.0.1 port=%d "
             "user=snowgate_grantor ssl_mode=disable\",\"password\":\"not-it\"}",
             my.port);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections", body, &j), 201);
    sg_json_decref(j);
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
                          "--allow-insecure-loopback",
                          NULL};
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    h_run(argv, NULL, 60000, &out, &err);
    if (strstr(sg_buf_str(&err), "Sanitizer"))
        fail_msg("doctor under the sanitizers:\n%s", sg_buf_str(&err));
    sg_buf_free(&err);
    if (!strstr(sg_buf_str(&out), "ok    mysql 'mariadb'") ||
        !strstr(sg_buf_str(&out), "FAIL  mysql 'wrongpw'") ||
        !strstr(sg_buf_str(&out), "refused the login of snowgate_grantor"))
        fail_msg("doctor said:\n%s", sg_buf_str(&out));
    sg_buf_free(&out);
}

/* What the discover operation found, in order. */
typedef struct found_list {
    char name[20][128], type[20][16], desc[20][128];
    size_t n;
} found_list;

static int keep_found(void *ctx, const sg_discovered *d)
{
    found_list *f = ctx;
    if (f->n == 20)
        return SG_ETOOBIG;
    snprintf(f->name[f->n], sizeof(f->name[0]), "%s", d->name);
    snprintf(f->type[f->n], sizeof(f->type[0]), "%s", d->type);
    snprintf(f->desc[f->n], sizeof(f->desc[0]), "%s", d->description);
    f->n++;
    return SG_OK;
}

/* The mysql row's discover operation lists databases, tables and views with their comments,
 * never the system schemas, and only what the account sees. Called in-process, as an account
 * without a password (so no sealed secret is needed). */
static void test_discover_lists_the_catalog(void **state)
{
    (void)state;
    h_my_exec(&my, "CREATE DATABASE disco");
    h_my_exec(&my, "CREATE TABLE disco.`tab``le.1` (id int) COMMENT 'the orders, \\'quoted\\''");
    h_my_exec(&my, "CREATE VIEW disco.v AS SELECT 1 AS one");
    h_my_exec(&my, "CREATE USER 'disco'@'%'");
    h_my_exec(&my, "GRANT SELECT ON disco.* TO 'disco'@'%'");
    sg_app app;
    memset(&app, 0, sizeof(app));
    app.cfg.allow_insecure_loopback = true;
    char cfg[200];
    snprintf(cfg, sizeof(cfg), "{\"dsn\":\"host=127.0.0.1 port=%d user=disco ssl_mode=disable\"}",
             my.port);
    const sg_connector *k = sg_connector_find("mariadb");
    assert_non_null(k);
    assert_non_null(k->discover);
    sg_connection_ref ref = {"0123", "disco", "mysql", cfg, ""};
    found_list f = {.n = 0};
    assert_int_equal(k->discover(&app, &ref, NULL, keep_found, &f), SG_OK);
    assert_int_equal(f.n, 3);
    assert_string_equal(f.name[0], "disco");
    assert_string_equal(f.type[0], "schema");
    assert_string_equal(f.name[1], "disco.tab`le.1");
    assert_string_equal(f.type[1], "table");
    assert_string_equal(f.desc[1], "the orders, 'quoted'");
    assert_string_equal(f.name[2], "disco.v");
    assert_string_equal(f.type[2], "view");
    assert_string_equal(f.desc[2], ""); /* not MariaDB's word VIEW */
    /* The callback stops it with its error. */
    f.n = 19;
    assert_int_equal(k->discover(&app, &ref, NULL, keep_found, &f), SG_ETOOBIG);
    /* Without TLS and off the test flag, refused before connecting. */
    f.n = 0;
    app.cfg.allow_insecure_loopback = false;
    assert_int_equal(k->discover(&app, &ref, NULL, keep_found, &f), SG_EDENIED);
    assert_int_equal(f.n, 0);
    /* TLS verification on (the default): off the test flag, the loopback address is refused
     * by the outbound guard before connecting; with it, the test server has no TLS, so the
     * login fails. */
    snprintf(cfg, sizeof(cfg), "{\"dsn\":\"host=127.0.0.1 port=%d user=disco\"}", my.port);
    assert_int_equal(k->discover(&app, &ref, NULL, keep_found, &f), SG_EDENIED);
    app.cfg.allow_insecure_loopback = true;
    assert_int_equal(k->discover(&app, &ref, NULL, keep_found, &f), SG_EUNAVAIL);
    assert_non_null(strstr(sg_err_msg(), "cannot connect"));
    /* "localhost" is reached over TCP too, never through a local socket. */
    snprintf(cfg, sizeof(cfg), "{\"dsn\":\"host=localhost port=%d user=disco\"}", my.port);
    assert_int_equal(k->discover(&app, &ref, NULL, keep_found, &f), SG_EUNAVAIL);
    if (strstr(sg_err_msg(), "socket"))
        fail_msg("connected through a socket: %s", sg_err_msg());
    /* Without TLS, even with the test flag, only to a loopback address: refused before
     * connecting. */
    snprintf(cfg, sizeof(cfg), "{\"dsn\":\"host=1.1.1.1 port=%d user=disco ssl_mode=disable\"}",
             my.port);
    assert_int_equal(k->discover(&app, &ref, NULL, keep_found, &f), SG_EDENIED);
    assert_non_null(strstr(sg_err_msg(), "only for a loopback address"));
    assert_int_equal(f.n, 0);
    h_my_exec(&my, "DROP USER 'disco'@'%'");
    h_my_exec(&my, "DROP DATABASE disco");
}

/* Starts a discovery of the mariadb connection and waits until it is done; returns the
 * connection as GET shows it then. */
static sg_json *discover(const char *body)
{
    sg_json *j = NULL;
    long st = g_call("POST", "/api/v1/connections/mariadb/discover", body, &j);
    if (st != 202)
        fail_msg("discover answered %ld: %s", st,
                 sg_json_get_str(sg_json_get(j, "error"), "message"));
    bool discoverable = false;
    assert_true(sg_json_get_bool(j, "discoverable", &discoverable));
    assert_true(discoverable);
    sg_json_decref(j);
    for (int i = 0; i < 1200; i++) {
        j = NULL;
        assert_int_equal(g_call("GET", "/api/v1/connections/mariadb", NULL, &j), 200);
        const sg_json *d = sg_json_get(j, "discovery");
        const char *s = sg_json_get_str(d, "state");
        if (s && strcmp(s, "done") == 0)
            return j;
        if (s && strcmp(s, "failed") == 0)
            fail_msg("discovery failed: %s", sg_json_get_str(d, "error"));
        sg_json_decref(j);
        pause_ms(100);
    }
    fail_msg("discovery never finished");
    return NULL;
}

static int64_t count(const sg_json *conn, const char *what)
{
    int64_t v = -1;
    sg_json_get_int(sg_json_get(sg_json_get(conn, "discovery"), "counts"), what, &v);
    return v;
}

/* The asset named name in state (active, gone or all), or NULL. */
static sg_json *asset(const char *name, const char *state)
{
    char path[256];
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

/* POST /api/v1/connections/{id}/discover on a mysql connection, through the row's discover
 * operation: a small database becomes a schema asset, a table and a view (database.table, the
 * table comment as description, the default owner), a grant on a discovered table works, and
 * a dropped table turns gone on the next run while the patterns keep the connection's other
 * assets out of it. */
static void test_discover_through_the_api(void **state)
{
    (void)state;
    h_my_exec(&my, "CREATE DATABASE shop");
    h_my_exec(&my, "CREATE TABLE shop.items (id int) COMMENT 'what\\tis\\nsold\\r'");
    /* Database shop.x's table t and database shop's table x.t would both be shop.x.t. */
    h_my_exec(&my, "CREATE DATABASE `shop.x`");
    h_my_exec(&my, "CREATE TABLE `shop.x`.t (id int)");
    h_my_exec(&my, "CREATE TABLE shop.`x.t` (id int)");
    h_my_exec(&my, "GRANT SELECT ON `shop.x`.* TO 'snowgate_grantor'@'%'");
    h_my_exec(&my, "CREATE TABLE shop.tmp_load (id int)");
    h_my_exec(&my, "CREATE VIEW shop.cheap AS SELECT id FROM shop.items");
    h_my_exec(&my, "GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO 'snowgate_grantor'@'%' "
                   "WITH GRANT OPTION");
    const char *opts = "{\"include\":[\"shop\",\"shop.*\"],\"exclude\":[\"*.tmp_*\"],"
                       "\"default_owner\":\"sam\"}";
    sg_json *c = discover(opts);
    assert_int_equal(count(c, "found"), 3);
    assert_int_equal(count(c, "added"), 3);
    assert_int_equal(count(c, "gone"), 0);
    /* the database shop.x, its table t, and shop's table x.t */
    assert_int_equal(count(c, "skipped"), 3);
    assert_int_equal(count(c, "conflicts"), 0);
    sg_json_decref(c);
    assert_null(asset("shop.x.t", "all"));
    assert_null(asset("shop.x", "all"));
    /* The comment's control characters are spaces. */
    sg_json *a = asset("shop.items", "active");
    assert_non_null(a);
    assert_string_equal(sg_json_get_str(a, "type"), "table");
    assert_string_equal(sg_json_get_str(a, "description"), "what is sold ");
    assert_string_equal(sg_json_str(sg_json_array_get(sg_json_get(a, "owners"), 0)), "sam");
    sg_json_decref(a);
    a = asset("shop", "active");
    assert_non_null(a);
    assert_string_equal(sg_json_get_str(a, "type"), "schema");
    sg_json_decref(a);
    a = asset("shop.cheap", "active");
    assert_non_null(a);
    assert_string_equal(sg_json_get_str(a, "type"), "view");
    sg_json_decref(a);
    assert_null(asset("shop.tmp_load", "all"));
    /* A grant on what was discovered. */
    char id[33];
    request_approved("{\"asset\":\"shop.items\",\"privilege\":\"read\","
                     "\"justification\":\"stock check\"}",
                     id);
    sg_json *j = wait_settled(id);
    assert_string_equal(sg_json_get_str(j, "state"), "fulfilled");
    sg_json_decref(j);
    assert_true(h_my_has(&my, "bob", "shop", "items", "SELECT"));
    /* A second run changes nothing. */
    c = discover(opts);
    assert_int_equal(count(c, "added"), 0);
    assert_int_equal(count(c, "updated"), 0);
    assert_int_equal(count(c, "gone"), 0);
    sg_json_decref(c);
    /* The view is dropped: gone, never deleted; the admin's assets on analytics and sales_db
     * are outside the patterns and stay active. */
    h_my_exec(&my, "DROP VIEW shop.cheap");
    c = discover(opts);
    assert_int_equal(count(c, "gone"), 1);
    sg_json_decref(c);
    a = asset("shop.cheap", "gone");
    assert_non_null(a);
    sg_json_decref(a);
    a = asset("analytics.missing", "active");
    assert_non_null(a);
    sg_json_decref(a);
    a = asset("sales_db", "active");
    assert_non_null(a);
    sg_json_decref(a);
    /* No new grant on what is gone. */
    assert_int_equal(call_as(bob_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"shop.cheap\",\"privilege\":\"read\","
                             "\"justification\":\"x\"}",
                             &j),
                     409);
    sg_json_decref(j);
    h_my_exec(&my, "REVOKE SELECT ON shop.items FROM 'bob'@'%'");
    h_my_exec(&my, "REVOKE SELECT, INSERT, UPDATE, DELETE ON shop.* FROM 'snowgate_grantor'@'%'");
    h_my_exec(&my, "REVOKE SELECT ON `shop.x`.* FROM 'snowgate_grantor'@'%'");
    h_my_exec(&my, "DROP DATABASE `shop.x`");
    h_my_exec(&my, "DROP DATABASE shop");
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_dsns, start, stop),
        cmocka_unit_test_setup_teardown(test_refused_at_request, start, stop),
        cmocka_unit_test_setup_teardown(test_grant_then_expires, start, stop),
        cmocka_unit_test_setup_teardown(test_write_on_tricky_names_then_revoke, start, stop),
        cmocka_unit_test_setup_teardown(test_schema_grant_escapes_wildcards, start, stop),
        cmocka_unit_test_setup_teardown(test_expiry_keeps_what_another_grant_needs, start, stop),
        cmocka_unit_test_setup_teardown(test_account_changed_while_granted, start, stop),
        cmocka_unit_test_setup_teardown(test_missing_account_and_table_fail_at_once, start, stop),
        cmocka_unit_test_setup_teardown(test_table_dropped_while_granted, start, stop),
        cmocka_unit_test_setup_teardown(test_revoke_retried_while_server_down, start, stop),
        cmocka_unit_test_setup_teardown(test_doctor_logs_in, start, stop),
        cmocka_unit_test(test_discover_lists_the_catalog),
        cmocka_unit_test_setup_teardown(test_discover_through_the_api, start, stop),
    };
    /* SG_TEST_FILTER=test_name (cmocka's wildcards) runs only the cases it matches. */
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_start, group_stop);
}
