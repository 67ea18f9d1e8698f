/* End to end: `snowgate migrate` and `snowgate store copy`: a SQLite installation with users,
 * assets, decided requests and an audit log moves to PostgreSQL, is verified, and serves from
 * there; the commands refuse what would lose or corrupt data. */
#include "e2e/harness.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SNOWGATE SG_BUILD_DIR "/snowgate"

static char *dir, *sqlite_url;
static char alice[128], sam[128];
static char ids[3][33], states[3][16];

/* Edits an audit entry behind snowgate's back. */
static int tamper(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE audit_log SET detail = 'edited' WHERE seq = 2", NULL, 0, NULL);
}

static int run(const char *const argv[], sg_buf *out, sg_buf *err)
{
    return h_run(argv, NULL, 60000, out, err);
}

static void add_user(const char *store, const char *name, const char *role, char header[128])
{
    const char *argv[] = {SNOWGATE, "user", "add",     name,  "--role", role,
                          "--data", dir,    "--store", store, NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(run(argv, &out, NULL), 0);
    snprintf(header, 128, "Authorization: Bearer %.64s", sg_buf_str(&out));
    sg_buf_free(&out);
}

static void serve(const char *store, h_proc *p)
{
    const char *argv[] = {SNOWGATE, "serve",   "--listen", "127.0.0.1:0", "--data",
                          dir,      "--store", store,      NULL};
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 30000, p), SG_OK);
}

static long call(const h_proc *p, const char *who, const char *method, const char *path,
                 const char *body, sg_json **j)
{
    const char *h[] = {who, NULL};
    return h_call(method, p->url, path, h, body, j, NULL);
}

/* A SQLite installation: two users, a manual connection, an asset, three requests (one
 * approved, one rejected, one pending), so every kind of row and an audit chain exist. */
static int start(void **state)
{
    (void)state;
    dir = h_tmpdir("storecmd");
    sqlite_url = sg_xasprintf("sqlite:%s/snowgate.db", dir);
    add_user(sqlite_url, "alice", "admin", alice);
    add_user(sqlite_url, "sam", "steward", sam);
    for (int i = 0; i < 3; i++) {
        char name[8], h[128];
        snprintf(name, sizeof(name), "m%d", i);
        add_user(sqlite_url, name, "member", h);
    }
    h_proc p;
    serve(sqlite_url, &p);
    sg_json *j = NULL;
    assert_int_equal(call(&p, alice, "POST", "/api/v1/connections",
                          "{\"name\":\"desk\",\"kind\":\"manual\"}", &j),
                     201);
    sg_json_decref(j);
    assert_int_equal(call(&p, alice, "POST", "/api/v1/assets",
                          "{\"name\":\"crm.accounts\",\"type\":\"dataset\",\"connection\":"
                          "\"desk\"}",
                          &j),
                     201);
    sg_json_decref(j);
    for (int i = 0; i < 3; i++) {
        char body[160];
        snprintf(body, sizeof(body),
                 "{\"asset\":\"crm.accounts\",\"privilege\":\"read\",\"justification\":\"n%d\","
                 "\"for\":\"m%d\"}",
                 i, i);
        assert_int_equal(call(&p, alice, "POST", "/api/v1/requests", body, &j), 201);
        snprintf(ids[i], sizeof(ids[i]), "%s", sg_json_get_str(j, "id"));
        sg_json_decref(j);
    }
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", ids[0]);
    assert_int_equal(call(&p, sam, "POST", path, "{\"comment\":\"ok\"}", &j), 200);
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/reject", ids[1]);
    assert_int_equal(call(&p, sam, "POST", path, "{\"comment\":\"no\"}", &j), 200);
    sg_json_decref(j);
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/api/v1/requests/%s", ids[i]);
        assert_int_equal(call(&p, alice, "GET", path, NULL, &j), 200);
        snprintf(states[i], sizeof(states[i]), "%s", sg_json_get_str(j, "state"));
        sg_json_decref(j);
    }
    assert_string_equal(states[1], "rejected");
    assert_string_equal(states[2], "pending");
    assert_int_equal(h_stop(&p, SIGTERM, 30000), 0);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    h_rmdir(dir);
    free(dir);
    free(sqlite_url);
    return 0;
}

static void test_migrate_reports_and_refuses(void **state)
{
    (void)state;
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    const char *up[] = {SNOWGATE, "migrate", "--store", sqlite_url, NULL};
    assert_int_equal(run(up, &out, NULL), 0);
    assert_non_null(strstr(sg_buf_str(&out), "(sqlite): up to date"));
    /* An empty PostgreSQL database: serving without migrating is refused with the fix... */
    char *pg = h_store_url(dir, "fresh");
    const char *argv[] = {SNOWGATE, "serve",   "--listen", "127.0.0.1:0", "--data",
                          dir,      "--store", pg,         NULL};
    const char *no_migrate[] = {"SNOWGATE_STORE_MIGRATE=false", NULL};
    sg_buf_reset(&out);
    assert_int_equal(h_run(argv, no_migrate, 30000, &out, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "run 'snowgate migrate'"));
    assert_null(strstr(sg_buf_str(&err), "store-Pw-1")); /* the URL's password */
    /* ...then migrate creates the schema, and says so; a second run has nothing to do. */
    const char *mig[] = {SNOWGATE, "migrate", "--store", pg, NULL};
    sg_buf_reset(&out);
    assert_int_equal(run(mig, &out, NULL), 0);
    assert_non_null(strstr(sg_buf_str(&out), "(postgres): created"));
    sg_buf_reset(&out);
    assert_int_equal(run(mig, &out, NULL), 0);
    assert_non_null(strstr(sg_buf_str(&out), "(postgres): up to date"));
    h_proc p;
    assert_int_equal(h_spawn_server(argv, no_migrate, "snowgate", 30000, &p), SG_OK);
    assert_int_equal(h_stop(&p, SIGTERM, 30000), 0);
    /* A schema newer than this binary is refused by migrate and serve alike. */
    char *db = strrchr(pg, '/') + 1;
    h_pg_exec(h_store_pg(), db,
              "INSERT INTO schema_migrations VALUES (99, '0099_future.sql', 'now')");
    sg_buf_reset(&err);
    assert_int_equal(run(mig, NULL, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "newer than this binary"));
    sg_buf_reset(&err);
    assert_int_equal(h_run(argv, NULL, 30000, NULL, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "newer than this"));
    free(pg);
    sg_buf_free(&out);
    sg_buf_free(&err);
}

static void test_copy_sqlite_to_postgres(void **state)
{
    (void)state;
    char *pg = h_store_url(dir, "copy");
    char *key = sg_xasprintf("%s/master.key", dir);
    const char *copy[] = {SNOWGATE, "store", "copy",         "--from", sqlite_url,
                          "--to",   pg,      "--master-key", key,      NULL};
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);

    /* The audit chain is keyed: without the installation's master key it cannot be checked,
     * and another key is refused before the target is touched. */
    const char *nokey[] = {SNOWGATE, "store", "copy", "--from", sqlite_url, "--to", pg, NULL};
    assert_int_equal(run(nokey, NULL, &err), 2);
    assert_non_null(strstr(sg_buf_str(&err), "--master-key"));
    char *other = sg_xasprintf("%s/other.key", dir);
    assert_int_equal(h_write_file(other, "0123456789abcdef0123456789abcdef", 32), SG_OK);
    assert_int_equal(chmod(other, 0600), 0);
    const char *wrong[] = {SNOWGATE, "store", "copy",         "--from", sqlite_url,
                           "--to",   pg,      "--master-key", other,    NULL};
    sg_buf_reset(&err);
    assert_int_equal(run(wrong, NULL, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "fails its HMAC"));
    assert_non_null(strstr(sg_buf_str(&err), "master key"));
    free(other);

    sg_buf_reset(&err);
    int st = run(copy, &out, &err);
    if (st != 0)
        fail_msg("store copy: %d: %s", st, sg_buf_str(&err));
    assert_non_null(strstr(sg_buf_str(&out), "verified: "));
    assert_non_null(strstr(sg_buf_str(&out), "audit chain intact"));
    /* Progress, table by table (not a terminal here: one line each). */
    assert_non_null(strstr(sg_buf_str(&err), "copied requests"));
    assert_non_null(strstr(sg_buf_str(&err), "3 rows"));
    assert_null(strstr(sg_buf_str(&err), "store-Pw-1"));

    /* snowgate serves the copy: same tokens, same requests in the same states, same counts,
     * and the audit chain verifies. */
    h_proc p;
    serve(pg, &p);
    sg_json *j = NULL;
    for (int i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/requests/%s", ids[i]);
        assert_int_equal(call(&p, alice, "GET", path, NULL, &j), 200);
        assert_string_equal(sg_json_get_str(j, "state"), states[i]);
        sg_json_decref(j);
    }
    assert_int_equal(call(&p, sam, "GET", "/api/v1/requests/summary", NULL, &j), 200);
    int64_t total = 0;
    assert_true(sg_json_get_int(j, "total", &total));
    assert_int_equal(total, 3);
    sg_json_decref(j);
    assert_int_equal(h_stop(&p, SIGTERM, 30000), 0);
    const char *verify[] = {SNOWGATE, "audit", "verify", "--data", dir, "--store", pg, NULL};
    sg_buf_reset(&out);
    assert_int_equal(run(verify, &out, NULL), 0);
    assert_non_null(strstr(sg_buf_str(&out), "audit log intact"));

    /* Copying into a database that holds data is refused, and changes nothing there. */
    sg_buf_reset(&err);
    assert_int_equal(run(copy, NULL, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "already holds data"));
    free(pg);

    /* A source whose audit chain was edited is not copied: the copy says why and fails. */
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = sqlite_url;
    o.migrate = false;
    o.pool_size = 1;
    sg_store *src = NULL;
    assert_int_equal(sg_store_open(&o, &src), SG_OK);
    assert_int_equal(sg_store_tx(src, tamper, NULL), SG_OK);
    sg_store_close(src);
    pg = h_store_url(dir, "tampered");
    const char *copy2[] = {SNOWGATE, "store", "copy",         "--from", sqlite_url,
                           "--to",   pg,      "--master-key", key,      NULL};
    sg_buf_reset(&err);
    assert_int_equal(run(copy2, NULL, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "audit log tampered"));
    /* checked before the target is touched */
    char *n = h_pg_value(h_store_pg(), strrchr(pg, '/') + 1,
                         "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'", 0, NULL);
    assert_string_equal(n, "0");
    free(n);
    free(pg);

    /* Usage errors. */
    const char *half[] = {SNOWGATE, "store", "copy", "--from", sqlite_url, NULL};
    assert_int_equal(run(half, NULL, NULL), 2);
    const char *same[] = {SNOWGATE,   "store", "copy",     "--from",
                          sqlite_url, "--to",  sqlite_url, NULL};
    assert_int_equal(run(same, NULL, NULL), 2);
    free(key);
    sg_buf_free(&out);
    sg_buf_free(&err);
}

int main(void)
{
    /* The target side is PostgreSQL whatever the suite's default. */
    setenv("SG_TEST_STORE", "postgres", 1);
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_reports_and_refuses),
        cmocka_unit_test(test_copy_sqlite_to_postgres),
    };
    return cmocka_run_group_tests(tests, start, stop);
}
