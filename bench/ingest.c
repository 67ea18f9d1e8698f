/* ingest: signed webhooks with unique ids against POST /webhooks/servicenow, each verified,
 * deduplicated and fsync'd before its 2xx; in the same run and with the same client, the
 * ceiling: GET /healthz, the cheapest thing snowgate answers. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ingest_ctx {
    char *secret;
    char run[24];
} ingest_ctx;

static void make_event(void *ctx, uint64_t seq, load_req *rq)
{
    ingest_ctx *x = ctx;
    /* Not one of snowgate's requests: stored and deduplicated, with nothing to re-read. */
    env_event(x->secret, x->run, seq, "snowgate:bench-elsewhere", rq);
}

void bench_ingest(void)
{
    env_connected("bench-ingest", false);
    ingest_ctx x = {env_webhook_secret(), ""};
    snprintf(x.run, sizeof(x.run), "%lx", (long)time(NULL));
    double secs = B.smoke ? 1 : 10;
    int conns = 16;

    load_opts o = {.base = G.gate.url, .connections = conns, .seconds = secs, .path = "/healthz"};
    load_result ceiling, ingest, wide;
    load_run(&o, &ceiling);
    o.make = make_event;
    o.ctx = &x;
    o.path = NULL;
    load_run(&o, &ingest);
    /* The same with four times the connections: more events share each commit, and each
     * waits longer in the queue. */
    o.connections = conns * 4;
    o.seconds = secs / 2;
    ingest_ctx xw = x; /* new webhook ids: the first run's would be duplicates */
    snprintf(xw.run, sizeof(xw.run), "%.20sw", x.run);
    o.ctx = &xw;
    load_run(&o, &wide);

    double rate = load_rate(&ingest), top = load_rate(&ceiling);
    double share = top > 0 ? 100.0 * rate / top : 0;
    bench_row("ingest", "ceiling: GET /healthz, same client", "", -1,
              "%.0f req/s (p50 %.2f ms, p99 %.2f ms), %d connections", top, load_pct(&ceiling, 50),
              load_pct(&ceiling, 99), conns);
    bench_row("ingest", "accepted events/s", "&ge; 50% of the ceiling", share >= 50,
              "%.0f /s (%.0f%% of the ceiling), %d connections", rate, share, conns);
    bench_row("ingest", "latency p50 / p99", "p99 &le; 5 ms", load_pct(&ingest, 99) <= 5.0,
              "%.2f ms / %.2f ms", load_pct(&ingest, 50), load_pct(&ingest, 99));
    bench_row("ingest", "with 4x the connections", "", -1,
              "%.0f /s (%.0f%% of the ceiling), p50 %.2f ms, p99 %.2f ms, %d connections",
              load_rate(&wide), top > 0 ? 100.0 * load_rate(&wide) / top : 0, load_pct(&wide, 50),
              load_pct(&wide, 99), conns * 4);
    /* What a 2xx promised: every accepted event is in the store. */
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM webhook_events WHERE id LIKE 'msg_%s%%'",
             x.run);
    int64_t stored = env_store_count(sql);
    uint64_t accepted = ingest.ok + wide.ok;
    bench_row("ingest", "accepted events found in the store", "all", stored == (int64_t)accepted,
              "%lld of %llu (%llu refused)", (long long)stored, (unsigned long long)accepted,
              (unsigned long long)(ingest.failed + wide.failed));
    bench_series s[] = {{"GET /healthz (ceiling), 16 connections", &ceiling},
                        {"signed webhook, stored, 16 connections", &ingest},
                        {"signed webhook, stored, 64 connections", &wide}};
    bench_plot("ingest", "ingest: latency by percentile", s, 3);
    load_result_free(&ceiling);
    load_result_free(&ingest);
    load_result_free(&wide);
    free(x.secret);
    g_stop();
}
