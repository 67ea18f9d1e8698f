/* load: the benchmarks' load generator. Threads, each with one keep-alive connection (libcurl),
 * send requests built by the caller as fast as the server answers, for a time or a count, and
 * record every latency. The same client measures the ceiling (/healthz) and the real endpoint,
 * so the two numbers are comparable. */
#ifndef SG_BENCH_LOAD_H
#define SG_BENCH_LOAD_H

#include <stddef.h>
#include <stdint.h>

/* One request, filled by the caller's make function. Strings are the caller's until the next
 * call on the same slot; `body` may be NULL. */
typedef struct load_req {
    const char *method;
    char path[512];
    char body[2048];
    size_t body_len;
    char headers[6][512]; /* "Name: value" lines; unused ones empty */
} load_req;

/* Builds request number seq (0, 1, ...); called from many threads at once. */
typedef void (*load_make_fn)(void *ctx, uint64_t seq, load_req *out);

typedef struct load_opts {
    const char *base;  /* "http://127.0.0.1:PORT" */
    int connections;   /* threads, one connection each */
    double seconds;    /* run this long (0: no limit) */
    uint64_t requests; /* or this many requests (0: no limit) */
    load_make_fn make; /* NULL: GET path */
    const char *path;  /* for make == NULL */
    void *ctx;
    long ok_min, ok_max; /* statuses that count as success (default 200..299) */
} load_opts;

typedef struct load_result {
    uint64_t ok, failed; /* by status; transport errors count as failed */
    double seconds;      /* wall time of the run */
    double *lat_ms;      /* every successful request's latency, sorted; owned */
    size_t n;
    long last_bad_status; /* of a failure, for the report */
} load_result;

int load_run(const load_opts *o, load_result *out);
void load_result_free(load_result *r);
/* Sorts r->lat_ms (for results a scenario measured itself). */
void load_sort(load_result *r);

/* The p-th percentile (0..100) of sorted latencies; 0 when there are none. */
double load_pct(const load_result *r, double p);
/* Successful requests per second. */
double load_rate(const load_result *r);

/* Monotonic milliseconds. */
double load_now_ms(void);

#endif
