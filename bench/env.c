/* env: what the scenarios measure, brought up the way the end-to-end tests do (the G fixture),
 * but with production timers. */
#include "bench.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/webhook_sig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GRANTOR_PW "bench-Grantor-Pw1"

double env_ms(void)
{
    return load_now_ms();
}

void env_connected(const char *tag, bool debug)
{
    g_start(tag, NULL);
    g_connected();
    /* The tests' fixture runs the scheduled Run test and the reconciler every second; a real
     * installation does not. The load comes from one address, as it would from a reverse
     * proxy: trusted, so the per-client connection limit does not apply. */
    assert_int_equal(h_stop(&G.gate, SIGTERM, 30000), 0);
    char ini[512];
    snprintf(ini, sizeof(ini), "%s/snowgate.ini", G.dir);
    const char *cfg =
        debug || getenv("BENCH_DEBUG")
            ? "[log]\nlevel = debug\n[servicenow]\nwebhook_timeout = 5\n"
              "[http]\ntrusted_proxies = 127.0.0.1/32\n"
            : "[servicenow]\nwebhook_timeout = 5\n[http]\ntrusted_proxies = 127.0.0.1/32\n";
    assert_int_equal(h_write_file(ini, cfg, strlen(cfg)), SG_OK);
    g_spawn_gate();
}

char *env_webhook_secret(void)
{
    return g_webhook_secret();
}

void env_pg(h_pg *pg, int ntables, int nroles)
{
    h_pg_start(pg);
    h_pg_exec(pg, "postgres", "CREATE DATABASE analytics");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "CREATE ROLE snowgate_grantor LOGIN PASSWORD '" GRANTOR_PW "'; "
             "DO $$ BEGIN FOR i IN 0..%d LOOP EXECUTE format('CREATE ROLE u%%s_role NOLOGIN', i); "
             "END LOOP; END $$;",
             nroles - 1);
    h_pg_exec(pg, "postgres", sql);
    snprintf(sql, sizeof(sql),
             "CREATE SCHEMA sales AUTHORIZATION snowgate_grantor; "
             "SET ROLE snowgate_grantor; "
             "DO $$ BEGIN FOR i IN 0..%d LOOP EXECUTE format('CREATE TABLE sales.t%%s (id int)', "
             "i); END LOOP; END $$; RESET ROLE;",
             ntables - 1);
    h_pg_exec(pg, "analytics", sql);
    snprintf(sql, sizeof(sql),
             "DO $$ BEGIN FOR i IN 0..%d LOOP EXECUTE format('GRANT USAGE ON SCHEMA sales TO "
             "u%%s_role', i); END LOOP; END $$;",
             nroles - 1);
    h_pg_exec(pg, "analytics", sql);
}

void env_assets(const h_pg *pg, int ntables)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"warehouse\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 port=%d "
             "dbname=analytics user=snowgate_grantor sslmode=disable\",\"password\":\"" GRANTOR_PW
             "\"}",
             pg->port);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections", body, &j), 201);
    sg_json_decref(j);
    for (int i = 0; i < ntables; i++) {
        snprintf(body, sizeof(body),
                 "{\"name\":\"analytics.sales.t%d\",\"type\":\"table\",\"connection\":"
                 "\"warehouse\",\"owners\":[\"alice\"]}",
                 i);
        assert_int_equal(g_call("POST", "/api/v1/assets", body, &j), 201);
        sg_json_decref(j);
    }
}

void env_event(const char *secret, const char *run, uint64_t seq, const char *correlation_id,
               load_req *rq)
{
    char id[96];
    snprintf(id, sizeof(id), "msg_%s_%llu", run, (unsigned long long)seq);
    int64_t now = (int64_t)time(NULL);
    int n = snprintf(rq->body, sizeof(rq->body),
                     "{\"type\":\"sc_request.updated\",\"table\":\"sc_request\",\"sys_id\":"
                     "\"%032llx\",\"number\":\"REQ%07llu\",\"correlation_id\":\"%s\","
                     "\"approval\":\"requested\",\"request_state\":\"requested\"}",
                     (unsigned long long)seq, (unsigned long long)(seq % 10000000), correlation_id);
    rq->body_len = (size_t)n;
    sg_buf sig = SG_BUF_INIT(0);
    if (sg_webhook_sig_sign(secret, id, now, rq->body, rq->body_len, &sig) != SG_OK)
        abort();
    rq->method = "POST";
    snprintf(rq->path, sizeof(rq->path), "/webhooks/servicenow");
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "Content-Type: application/json");
    snprintf(rq->headers[1], sizeof(rq->headers[1]), "webhook-id: %s", id);
    snprintf(rq->headers[2], sizeof(rq->headers[2]), "webhook-timestamp: %lld", (long long)now);
    snprintf(rq->headers[3], sizeof(rq->headers[3]), "webhook-signature: %s", sg_buf_str(&sig));
    sg_buf_free(&sig);
}

long env_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

double env_wait_count(int64_t (*count_fn)(void *ctx), void *ctx, int64_t want, double limit_s)
{
    double t0 = env_ms();
    for (;;) {
        if (count_fn(ctx) >= want)
            return (env_ms() - t0) / 1e3;
        if (env_ms() - t0 > limit_s * 1e3)
            return -1;
        struct timespec t = {0, 200 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
}

typedef struct count_ctx {
    const char *sql;
    int64_t n;
} count_ctx;

static int count_tx(sg_conn *c, void *ctx)
{
    count_ctx *x = ctx;
    return sg_conn_query_int(c, x->sql, NULL, 0, &x->n);
}

int64_t env_store_count(const char *sql)
{
    sg_store *st = g_store_open();
    count_ctx x = {sql, 0};
    assert_int_equal(sg_store_read(st, count_tx, &x), SG_OK);
    sg_store_close(st);
    return x.n;
}
