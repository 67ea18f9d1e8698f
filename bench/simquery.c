/* simquery: snowsim holding 100,000 requested items (and their requests), written into its
 * store while it is stopped and loaded (indexes built) when it starts again; then, one client
 * at a time (after a warm-up), the equality queries snowgate sends through the Table API: by
 * correlation_id, by a reference (request=<sys_id>) and by sys_idIN. The ceiling: the same
 * client reading one record by its sys_id path. A query no index can answer is timed too, for
 * contrast. */
#include "bench.h"

#include "core/mem.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sq_ctx {
    long n;
    const char *auth;
} sq_ctx;

/* Deterministic ids, so the queries can name records without asking for them first. */
static void item_id(long i, char out[33])
{
    snprintf(out, 33, "1%031lx", (unsigned long)i);
}

static void request_id(long i, char out[33])
{
    snprintf(out, 33, "2%031lx", (unsigned long)i);
}

/* A record number that spreads the queries over the whole table. */
static long spread(uint64_t seq, long n)
{
    return (long)((seq * 48271u + 11u) % (uint64_t)n);
}

/* One record of each kind through the Table API, so the written ones carry every field and
 * default a real insert gives (the templates). */
static void templates(const h_sim *s)
{
    const char *h[] = {s->admin_auth, NULL};
    sg_json *j = NULL;
    long st =
        h_call("POST", s->p.url, "/api/now/table/sc_request", h,
               "{\"short_description\":\"template\",\"correlation_id\":\"template\"}", &j, NULL);
    assert_int_equal(st, 201);
    const char *req = sg_json_get_str(sg_json_get(j, "result"), "sys_id");
    assert_non_null(req);
    char *body = sg_xasprintf("{\"short_description\":\"template\",\"correlation_id\":\"template\","
                              "\"request\":\"%s\",\"quantity\":1}",
                              req);
    sg_json_decref(j);
    st = h_call("POST", s->p.url, "/api/now/table/sc_req_item", h, body, NULL, NULL);
    free(body);
    assert_int_equal(st, 201);
}

static char *template_of(sqlite3 *db, const char *table)
{
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT data FROM records WHERE tbl = ?1 AND "
                                        "json_extract(data, '$.correlation_id') = 'template'",
                                        -1, &q, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(q, 1, table, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    char *data = sg_xstrdup((const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    return data;
}

/* n requests and n items (item i belongs to request i), after the records snowsim has. */
static void fill(const char *dir, long n)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/snowsim.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *treq = template_of(db, "sc_request"), *titem = template_of(db, "sc_req_item");
    sqlite3_stmt *q = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(seq), 0) FROM records", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    sqlite3_int64 seq = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_exec(db, "PRAGMA synchronous=OFF; BEGIN;", NULL, NULL, NULL),
                     SQLITE_OK);
    /* ?7: the item's request; a request has none, and json_set would add the field. */
    sqlite3_stmt *ins[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++)
        assert_int_equal(
            sqlite3_prepare_v2(db,
                               k ? "INSERT INTO records (tbl, sys_id, seq, data) VALUES "
                                   "('sc_req_item', ?1, ?2, json_set(?3, '$.sys_id', ?1, "
                                   "'$.number', ?4, '$.correlation_id', ?5, "
                                   "'$.short_description', ?6, '$.request', ?7))"
                                 : "INSERT INTO records (tbl, sys_id, seq, data) VALUES "
                                   "('sc_request', ?1, ?2, json_set(?3, '$.sys_id', ?1, "
                                   "'$.number', ?4, '$.correlation_id', ?5, "
                                   "'$.short_description', ?6))",
                               -1, &ins[k], NULL),
            SQLITE_OK);
    for (long i = 0; i < n; i++) {
        char rid[33], iid[33], num[24], corr[48], desc[64];
        request_id(i, rid);
        item_id(i, iid);
        snprintf(corr, sizeof(corr), "snowgate:%ld", i);
        snprintf(desc, sizeof(desc), "Access to warehouse.sales.t%ld", i % 1000);
        for (int k = 0; k < 2; k++) {
            sqlite3_stmt *st = ins[k];
            snprintf(num, sizeof(num), k ? "RITM%07ld" : "REQ%07ld", 100000 + i);
            sqlite3_bind_text(st, 1, k ? iid : rid, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 2, ++seq);
            sqlite3_bind_text(st, 3, k ? titem : treq, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, num, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 5, corr, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 6, desc, -1, SQLITE_TRANSIENT);
            if (k)
                sqlite3_bind_text(st, 7, rid, -1, SQLITE_TRANSIENT);
            assert_int_equal(sqlite3_step(st), SQLITE_DONE);
            sqlite3_reset(st);
        }
    }
    sqlite3_finalize(ins[0]);
    sqlite3_finalize(ins[1]);
    /* The number counters move past the written records, as inserts would have moved them. */
    char *sql = sg_xasprintf("UPDATE counters SET value = %ld WHERE name IN ('REQ', 'RITM'); "
                             "COMMIT;",
                             100000 + n);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    free(sql);
    free(treq);
    free(titem);
    sqlite3_close(db);
}

static void make_one(void *ctx, uint64_t seq, load_req *rq)
{
    sq_ctx *x = ctx;
    char id[33];
    item_id(spread(seq, x->n), id);
    rq->method = "GET";
    snprintf(rq->path, sizeof(rq->path), "/api/now/table/sc_req_item/%s", id);
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "%s", x->auth);
}

static void make_correlation(void *ctx, uint64_t seq, load_req *rq)
{
    sq_ctx *x = ctx;
    rq->method = "GET";
    snprintf(rq->path, sizeof(rq->path),
             "/api/now/table/sc_req_item?sysparm_query=correlation_id%%3Dsnowgate%%3A%ld",
             spread(seq, x->n));
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "%s", x->auth);
}

static void make_reference(void *ctx, uint64_t seq, load_req *rq)
{
    sq_ctx *x = ctx;
    char id[33];
    request_id(spread(seq, x->n), id);
    rq->method = "GET";
    snprintf(rq->path, sizeof(rq->path), "/api/now/table/sc_req_item?sysparm_query=request%%3D%s",
             id);
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "%s", x->auth);
}

static void make_in(void *ctx, uint64_t seq, load_req *rq)
{
    sq_ctx *x = ctx;
    char a[33], b[33], c[33];
    item_id(spread(seq, x->n), a);
    item_id(spread(seq + 1, x->n), b);
    item_id(spread(seq + 2, x->n), c);
    rq->method = "GET";
    snprintf(rq->path, sizeof(rq->path),
             "/api/now/table/sc_req_item?sysparm_query=sys_idIN%s%%2C%s%%2C%s", a, b, c);
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "%s", x->auth);
}

/* short_description is not indexed: every item is matched. */
static void make_scan(void *ctx, uint64_t seq, load_req *rq)
{
    sq_ctx *x = ctx;
    rq->method = "GET";
    snprintf(rq->path, sizeof(rq->path),
             "/api/now/table/sc_req_item?sysparm_query=short_description%%3DAccess%%20to%%20"
             "warehouse.sales.t%ld&sysparm_limit=1",
             spread(seq, x->n) % 1000);
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "%s", x->auth);
}

/* The answer a query kind gives for record 0, checked once before it is timed. */
static void check(const h_sim *s, load_make_fn make, sq_ctx *x, size_t want)
{
    load_req rq;
    memset(&rq, 0, sizeof(rq));
    make(x, 0, &rq);
    const char *h[] = {x->auth, NULL};
    sg_json *j = NULL;
    long st = h_call("GET", s->p.url, rq.path, h, NULL, &j, NULL);
    if (st != 200)
        fail_msg("%s: status %ld", rq.path, st);
    sg_json *res = sg_json_get(j, "result");
    size_t got = sg_json_typeof(res) == SG_JSON_ARRAY ? sg_json_array_size(res) : 1;
    if (got != want)
        fail_msg("%s: %zu records, want %zu", rq.path, got, want);
    sg_json_decref(j);
}

/* h_sim_start, with time to load and index a large store (h_sim_start allows 30 s). */
static void start_loaded(h_sim *s, const char *dir)
{
    memset(s, 0, sizeof(*s));
    s->dir = sg_xstrdup(dir);
    const char *argv[] = {SG_BUILD_DIR "/snowsim", "--listen",  "127.0.0.1:0", "--data", dir,
                          "--admin-password",      "admin-Pw1", "--log-level", "warn",   NULL};
    if (h_spawn_server(argv, NULL, "snowsim", 600000, &s->p) != SG_OK)
        fail_msg("snowsim did not start: %s", sg_err_msg());
    s->admin_auth = h_basic("admin", "admin-Pw1");
}

static void measure(const char *url, const char *label, const char *goal, load_make_fn make,
                    sq_ctx *x, int samples, load_result *r)
{
    load_opts o = {
        .base = url, .connections = 1, .requests = (uint64_t)samples, .make = make, .ctx = x};
    load_run(&o, r);
    if (r->failed)
        fail_msg("%s: %llu requests failed (status %ld)", label, (unsigned long long)r->failed,
                 r->last_bad_status);
    bool has_goal = strcmp(goal, "-") != 0;
    bench_row("simquery", label, goal, has_goal ? load_pct(r, 99) <= 2.0 : -1,
              "p50 %.2f ms, p99 %.2f ms (%d queries)", load_pct(r, 50), load_pct(r, 99), samples);
}

void bench_simquery(void)
{
    long n = B.smoke ? 500 : 100000;
    int samples = B.smoke ? 20 : 1000, scans = B.smoke ? 5 : 20;
    char *dir = h_tmpdir("bench-simquery");
    h_sim s;
    h_sim_start(&s, dir, NULL);
    templates(&s);
    h_sim_stop(&s);
    double t0 = env_ms();
    fill(dir, n);
    double written = (env_ms() - t0) / 1e3;
    t0 = env_ms();
    start_loaded(&s, dir);
    double started = (env_ms() - t0) / 1e3;
    bench_row("simquery", "snowsim's store", "-", -1,
              "%ld sc_req_item and %ld sc_request (written in %.1f s); start-up with the "
              "indexes %.1f s, RSS %.0f MB",
              n, n, written, started, (double)env_rss_kb(s.p.pid) / 1024.0);

    sq_ctx x = {n, s.admin_auth};
    check(&s, make_one, &x, 1);
    check(&s, make_correlation, &x, 1);
    check(&s, make_reference, &x, 1);
    check(&s, make_in, &x, 3);
    check(&s, make_scan, &x, 1);
    /* Warm-up, not measured: the first calls of a fresh process (its heap growing, Basic
     * auth's password hash before the cache has it) are slower, whichever kind comes first. */
    load_result one, corr, ref, in, scan;
    load_opts warm = {.base = s.p.url,
                      .connections = 1,
                      .requests = (uint64_t)samples / 4,
                      .make = make_one,
                      .ctx = &x};
    load_run(&warm, &one);
    load_result_free(&one);
    measure(s.p.url, "ceiling: GET one record by its sys_id path", "-", make_one, &x, samples,
            &one);
    measure(s.p.url, "correlation_id=snowgate:N", "p99 &le; 2 ms", make_correlation, &x, samples,
            &corr);
    measure(s.p.url, "request=<sys_id> (a reference)", "p99 &le; 2 ms", make_reference, &x, samples,
            &ref);
    measure(s.p.url, "sys_idIN<three sys_ids>", "p99 &le; 2 ms", make_in, &x, samples, &in);
    measure(s.p.url, "for contrast: short_description=... (not indexed: a scan)", "-", make_scan,
            &x, scans, &scan);
    bench_series series[] = {{"ceiling: one record by sys_id", &one},
                             {"correlation_id=", &corr},
                             {"request= (reference)", &ref},
                             {"sys_idIN (3)", &in}};
    bench_plot("simquery", "simquery: snowsim Table API queries over 100,000 items, one client",
               series, 4);
    load_result_free(&one);
    load_result_free(&corr);
    load_result_free(&ref);
    load_result_free(&in);
    load_result_free(&scan);
    h_sim_stop(&s);
    h_rmdir(dir);
    free(dir);
}
