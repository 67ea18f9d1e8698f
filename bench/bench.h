/* bench: shared declarations of the benchmark program (bench.c runs the scenarios, one file
 * each; env.c brings up what they measure). */
#ifndef SG_BENCH_H
#define SG_BENCH_H

#include "core/err.h"
#include "e2e/gate_env.h"
#include "e2e/pg_server.h"
#include "load.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_opts {
    bool smoke;    /* tiny sizes */
    char out[512]; /* where results go */
} bench_opts;

extern bench_opts B;

/* Scenarios (each runs in its own process). */
void bench_ingest(void);
void bench_decision(void);
void bench_backlog(void);
void bench_footprint(void);
void bench_scale(void);
void bench_simquery(void);
void bench_discovery(void);

/* A goal that this run could not measure (its ceiling is missing): the report says skipped. */
#define BENCH_SKIPPED (-2)

/* One line of the report. met: 1 goal met, 0 missed, -1 no goal, BENCH_SKIPPED. */
void bench_row(const char *scenario, const char *measure, const char *goal, int met,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

typedef struct bench_series {
    const char *label;
    const load_result *r;
} bench_series;
/* DIR/<name>.png: latency by percentile, one curve per series. */
void bench_plot(const char *name, const char *title, const bench_series *s, int n);

/* ---- env.c ---- */

/* snowgate connected to snowsim (the tests' fixture G), restarted with production timers.
 * debug: its log at debug level (JSON lines, in G.gate.log_path), as with BENCH_DEBUG=1. */
void env_connected(const char *tag, bool debug);
/* The webhook signing secret from the update set snowgate offers. The caller frees it. */
char *env_webhook_secret(void);
/* A PostgreSQL server with database analytics, the grantor role snowgate_grantor (password
 * "bench-Grantor-Pw1"), `ntables` tables sales.t0... owned by it, and NOLOGIN roles
 * "u0_role"... for `nroles` users. */
void env_pg(h_pg *pg, int ntables, int nroles);
/* snowgate's postgres connection "warehouse" to it, and assets analytics.sales.t0.. */
void env_assets(const h_pg *pg, int ntables);
/* Fills a signed webhook delivery with a unique id (run + seq). */
void env_event(const char *secret, const char *run, uint64_t seq, const char *correlation_id,
               load_req *rq);
/* VmRSS of a process in KiB. */
long env_rss_kb(int pid);
/* Polls every 200 ms (up to limit_s) until count_fn returns at least want; returns the
 * seconds it took, or -1. */
double env_wait_count(int64_t (*count_fn)(void *ctx), void *ctx, int64_t want, double limit_s);
/* A single-value query on snowgate's own store. */
int64_t env_store_count(const char *sql);

/* nginx answering every request with 204: the machine's own ceiling for an HTTP server. */
typedef struct env_nginx {
    h_proc p;
    char *dir;      /* its prefix: config, pid file, error log, temp paths */
    char url[64];   /* "http://127.0.0.1:PORT" */
    char why[1024]; /* when env_nginx_start returned false: why, in one line */
} env_nginx;
/* Starts Debian's nginx (/usr/sbin/nginx, package nginx) as a child of this process, in the
 * foreground (`daemon off`), on a free loopback port, with a config of its own in a temporary
 * directory that serves nothing but `location / { return 204; }`. Needs no root. Returns false
 * with the reason in n->why when nginx is not installed or did not start; nothing is left
 * running then. */
bool env_nginx_start(env_nginx *n);
/* Stops it and removes its directory. */
void env_nginx_stop(env_nginx *n);
/* Milliseconds since an arbitrary point. */
double env_ms(void);

#endif
