/* ingest: signed webhooks with unique ids against POST /webhooks/servicenow, each verified,
 * deduplicated and fsync'd before its 2xx, at 16 and at 50 connections; in the same run and
 * with the same client, the machine's own ceiling (nginx answering `return 204`) beside
 * GET /healthz, the cheapest thing snowgate answers. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The connections of the goals (nginx, /healthz and the wider ingest run), and of the
 * narrower ingest run. */
#define WIDE   50
#define NARROW 16

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

/* "p50 A ms, p99 B ms" */
static const char *pcts(const load_result *r, char *out, size_t n)
{
    snprintf(out, n, "p50 %.2f ms, p99 %.2f ms", load_pct(r, 50), load_pct(r, 99));
    return out;
}

void bench_ingest(void)
{
    env_connected("bench-ingest", false);
    ingest_ctx x = {env_webhook_secret(), ""};
    snprintf(x.run, sizeof(x.run), "%lx", (long)time(NULL));
    double secs = B.smoke ? 1 : 10;
    char p[64];

    /* The ceiling right before snowgate's own runs, so that both see the same machine: nginx
     * is stopped again before snowgate is measured. */
    env_nginx ng;
    load_result top = {0}, health, narrow, wide;
    bool have_nginx = env_nginx_start(&ng);
    if (have_nginx) {
        load_opts on = {.base = ng.url, .connections = WIDE, .seconds = secs, .path = "/"};
        load_run(&on, &top);
        env_nginx_stop(&ng);
    }
    load_opts o = {.base = G.gate.url, .connections = WIDE, .seconds = secs, .path = "/healthz"};
    load_run(&o, &health);
    o.make = make_event;
    o.ctx = &x;
    o.path = NULL;
    o.connections = NARROW;
    load_run(&o, &narrow);
    /* More events share each commit, and each waits longer in the queue. */
    o.connections = WIDE;
    ingest_ctx xw = x; /* new webhook ids: the first run's would be duplicates */
    snprintf(xw.run, sizeof(xw.run), "%.20sw", x.run);
    o.ctx = &xw;
    load_run(&o, &wide);

    /* Each goal is a ratio to nginx measured in this run; without nginx it is not measured. */
    double ceiling = load_rate(&top);
    bool ratios = ceiling > 0;
    const char *ceiling_row = "ceiling: nginx `return 204`, same client";
    if (ratios)
        bench_row("ingest", ceiling_row, "", -1, "%.0f req/s (%s), %d connections", ceiling,
                  pcts(&top, p, sizeof(p)), WIDE);
    else if (have_nginx)
        bench_row("ingest", ceiling_row, "", BENCH_SKIPPED,
                  "not measured: nginx answered no request (%llu failed, last status %ld)",
                  (unsigned long long)top.failed, top.last_bad_status);
    else
        bench_row("ingest", ceiling_row, "", BENCH_SKIPPED, "not measured: %s", ng.why);
    char vs[64] = "no nginx to compare with";
    if (ratios)
        snprintf(vs, sizeof(vs), "%.2fx nginx", load_rate(&health) / ceiling);
    bench_row("ingest", "GET /healthz", "&ge; 0.9x nginx",
              ratios ? load_rate(&health) >= 0.9 * ceiling : BENCH_SKIPPED,
              "%.0f req/s (%s), %d connections; %s", load_rate(&health),
              pcts(&health, p, sizeof(p)), WIDE, vs);
    if (ratios)
        snprintf(vs, sizeof(vs), "%.0f%% of nginx", 100.0 * load_rate(&narrow) / ceiling);
    bench_row("ingest", "webhook ingest, 16 connections", "p99 &le; 5 ms",
              load_pct(&narrow, 99) <= 5.0, "%.0f events/s (%s); %s", load_rate(&narrow),
              pcts(&narrow, p, sizeof(p)), vs);
    if (ratios)
        snprintf(vs, sizeof(vs), "%.0f%% of nginx", 100.0 * load_rate(&wide) / ceiling);
    bench_row("ingest", "webhook ingest, 50 connections: events/s", "&ge; 50% of nginx",
              ratios ? load_rate(&wide) >= 0.5 * ceiling : BENCH_SKIPPED, "%.0f events/s; %s",
              load_rate(&wide), vs);
    bench_row("ingest", "webhook ingest, 50 connections: latency", "p99 &le; 5 ms",
              load_pct(&wide, 99) <= 5.0, "%s", pcts(&wide, p, sizeof(p)));
    /* What a 2xx promised: every accepted event is in the store. */
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM webhook_events WHERE id LIKE 'msg_%s%%'",
             x.run);
    int64_t stored = env_store_count(sql);
    uint64_t accepted = narrow.ok + wide.ok;
    bench_row("ingest", "accepted events found in the store", "all", stored == (int64_t)accepted,
              "%lld of %llu (%llu refused)", (long long)stored, (unsigned long long)accepted,
              (unsigned long long)(narrow.failed + wide.failed));
    bench_series s[4];
    int ns = 0;
    if (have_nginx)
        s[ns++] = (bench_series){"nginx return 204 (ceiling), 50 connections", &top};
    s[ns++] = (bench_series){"GET /healthz, 50 connections", &health};
    s[ns++] = (bench_series){"signed webhook, stored, 16 connections", &narrow};
    s[ns++] = (bench_series){"signed webhook, stored, 50 connections", &wide};
    bench_plot("ingest", "ingest: latency by percentile", s, ns);
    load_result_free(&top);
    load_result_free(&health);
    load_result_free(&narrow);
    load_result_free(&wide);
    free(x.secret);
    g_stop();
}
