/* scale: a store holding a million requests and 100,000 assets (written straight into a
 * migrated SQLite file), then, one client at a time, the p99 of what people open most: the
 * inbox, a filtered page of the request list, one request, and the counts the Overview
 * shows. */
#include "bench.h"

#include "core/mem.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct scale_ctx {
    long nreq;
    char token[128];
} scale_ctx;

static void request_id(long i, char out[33])
{
    snprintf(out, 33, "%08lx%024lx",
             (unsigned long)((unsigned long)i * 2654435761UL & 0xffffffffUL), (unsigned long)i);
}

static void fill(const char *dir, long nreq, long nassets)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/snowgate.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA synchronous=OFF; BEGIN; INSERT INTO connections (id, "
                                  "name, kind, config, created_at) VALUES ('c0', 'desk', "
                                  "'manual', '{}', '2026-01-01T00:00:00Z');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_stmt *a = NULL, *r = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO assets (id, name, type, connection_id, "
                                        "owners, description, created_at) VALUES (?1, ?2, "
                                        "'table', 'c0', ?3, '', '2026-01-01T00:00:00Z')",
                                        -1, &a, NULL),
                     SQLITE_OK);
    for (long i = 0; i < nassets; i++) {
        char id[33], name[64];
        snprintf(id, sizeof(id), "a%031ld", i);
        snprintf(name, sizeof(name), "warehouse.s%ld.t%ld", i / 1000, i);
        sqlite3_bind_text(a, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(a, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(a, 3, i % 10 == 0 ? "[\"sam\"]" : "[\"alice\"]", -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(a), SQLITE_DONE);
        sqlite3_reset(a);
    }
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "INSERT INTO requests (id, asset_id, action, privilege, justification, "
                           "duration, duration_s, requester, beneficiary, state, decided_by, "
                           "decided_at, expires_at, sn_sys_id, sn_number, created_at, updated_at) "
                           "VALUES (?1, ?2, 'grant', 'read', 'quarterly report', NULL, NULL, ?3, "
                           "?3, ?4, ?5, ?6, NULL, ?7, ?8, ?6, ?6)",
                           -1, &r, NULL),
        SQLITE_OK);
    static const char *const states[] = {"fulfilled", "expired", "rejected", "revoked",
                                         "cancelled"};
    for (long i = 0; i < nreq; i++) {
        char id[33], asset[33], who[32], at[32], sys[33], num[16];
        request_id(i, id);
        snprintf(asset, sizeof(asset), "a%031ld", (i * 7919) % nassets);
        snprintf(who, sizeof(who), "user%ld", i % 5000);
        time_t t = 1735689600 + i * 30; /* one every 30 s since 2025 */
        strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        const char *state = i % 100 == 0 ? "pending" : states[i % 5];
        snprintf(sys, sizeof(sys), "%032lx", (unsigned long)i + 1);
        snprintf(num, sizeof(num), "REQ%07ld", i % 10000000);
        sqlite3_bind_text(r, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(r, 2, asset, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(r, 3, who, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(r, 4, state, -1, SQLITE_STATIC);
        if (strcmp(state, "pending") == 0)
            sqlite3_bind_null(r, 5);
        else
            sqlite3_bind_text(r, 5, "sam", -1, SQLITE_STATIC);
        sqlite3_bind_text(r, 6, at, -1, SQLITE_TRANSIENT);
        if (i % 10 == 9) { /* not mirrored (yet) */
            sqlite3_bind_null(r, 7);
            sqlite3_bind_null(r, 8);
        } else {
            sqlite3_bind_text(r, 7, sys, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(r, 8, num, -1, SQLITE_TRANSIENT);
        }
        assert_int_equal(sqlite3_step(r), SQLITE_DONE);
        sqlite3_reset(r);
    }
    sqlite3_finalize(a);
    sqlite3_finalize(r);
    assert_int_equal(sqlite3_exec(db, "COMMIT; ANALYZE;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void add_user(const char *dir, const char *name, const char *role, char header[128])
{
    const char *argv[] = {
        SG_BUILD_DIR "/snowgate", "user", "add", name, "--role", role, "--data", dir, NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 60000, &out, NULL), 0);
    snprintf(header, 128, "Authorization: Bearer %.64s", sg_buf_str(&out));
    sg_buf_free(&out);
}

typedef struct get_ctx {
    long nreq;
    const char *auth;
} get_ctx;

static void make_get(void *ctx, uint64_t seq, load_req *rq)
{
    get_ctx *x = ctx;
    char id[33];
    request_id((long)((seq * 48271) % (uint64_t)x->nreq), id);
    rq->method = "GET";
    snprintf(rq->path, sizeof(rq->path), "/api/v1/requests/%s", id);
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "%s", x->auth);
}

typedef struct path_ctx {
    const char *path;
    const char *auth;
} path_ctx;

static void make_path(void *ctx, uint64_t seq, load_req *rq)
{
    (void)seq;
    path_ctx *x = ctx;
    rq->method = "GET";
    snprintf(rq->path, sizeof(rq->path), "%s", x->path);
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "%s", x->auth);
}

static void measure(const char *url, const char *label, load_make_fn make, void *ctx, int samples,
                    load_result *r)
{
    load_opts o = {
        .base = url, .connections = 1, .requests = (uint64_t)samples, .make = make, .ctx = ctx};
    load_run(&o, r);
    if (r->failed)
        fail_msg("%s: %llu requests failed (status %ld)", label, (unsigned long long)r->failed,
                 r->last_bad_status);
    bench_row("scale", label, "p99 &le; 10 ms", load_pct(r, 99) <= 10, "p50 %.2f ms, p99 %.2f ms",
              load_pct(r, 50), load_pct(r, 99));
}

void bench_scale(void)
{
    long nreq = B.smoke ? 2000 : 1000000, nassets = B.smoke ? 200 : 100000;
    int samples = B.smoke ? 20 : 500;
    char *dir = h_tmpdir("bench-scale");
    char alice[128], sam[128];
    add_user(dir, "alice", "admin", alice);
    add_user(dir, "sam", "steward", sam);
    double t0 = env_ms();
    fill(dir, nreq, nassets);
    bench_row("scale", "the store", "-", -1, "%ld requests, %ld assets (written in %.1f s)", nreq,
              nassets, (env_ms() - t0) / 1e3);

    h_proc gate;
    const char *argv[] = {
        SG_BUILD_DIR "/snowgate",    "serve", "--listen", "127.0.0.1:0", "--data", dir,
        "--allow-insecure-loopback", NULL};
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 60000, &gate), SG_OK);

    load_result inbox, list, one, counts;
    path_ctx pi = {"/api/v1/inbox?limit=50", sam};
    measure(gate.url, "inbox (a steward's, first page)", make_path, &pi, samples, &inbox);
    path_ctx pl = {"/api/v1/requests?state=pending&limit=50", alice};
    measure(gate.url, "request list, filtered page (state=pending)", make_path, &pl, samples,
            &list);
    get_ctx pg = {nreq, alice};
    measure(gate.url, "one request", make_get, &pg, samples, &one);
    path_ctx pc = {"/api/v1/requests/summary", alice};
    measure(gate.url, "overview counts (requests by state, linked)", make_path, &pc, samples,
            &counts);
    bench_series s[] = {
        {"inbox", &inbox}, {"list page", &list}, {"one request", &one}, {"counts", &counts}};
    bench_plot("scale", "scale: latency by percentile, one client", s, 4);
    load_result_free(&inbox);
    load_result_free(&list);
    load_result_free(&one);
    load_result_free(&counts);
    h_stop(&gate, SIGTERM, 30000);
    h_rmdir(dir);
    free(dir);
}
