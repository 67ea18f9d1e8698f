/* load: keep-alive HTTP load with libcurl, one easy handle (one connection) per thread. */
#include "load.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double load_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

typedef struct shared {
    const load_opts *o;
    atomic_uint_fast64_t next;
    double deadline;
} shared;

typedef struct worker {
    shared *s;
    pthread_t th;
    double *lat;
    size_t n, cap;
    uint64_t ok, failed;
    long bad;
} worker;

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static void *run(void *arg)
{
    worker *w = arg;
    const load_opts *o = w->s->o;
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    load_req *rq = calloc(1, sizeof(*rq));
    char url[1024];
    for (;;) {
        if (o->seconds > 0 && load_now_ms() >= w->s->deadline)
            break;
        uint64_t seq = atomic_fetch_add(&w->s->next, 1);
        if (o->requests && seq >= o->requests)
            break;
        memset(rq, 0, sizeof(*rq));
        if (o->make) {
            o->make(o->ctx, seq, rq);
        } else {
            rq->method = "GET";
            snprintf(rq->path, sizeof(rq->path), "%s", o->path);
        }
        snprintf(url, sizeof(url), "%s%s", o->base, rq->path);
        struct curl_slist *hl = NULL;
        for (int i = 0; i < 6; i++)
            if (rq->headers[i][0])
                hl = curl_slist_append(hl, rq->headers[i]);
        hl = curl_slist_append(hl, "Expect:");
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
        if (strcmp(rq->method, "GET") == 0) {
            curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        } else {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)rq->body_len);
        }
        double t0 = load_now_ms();
        CURLcode cc = curl_easy_perform(h);
        double t1 = load_now_ms();
        curl_slist_free_all(hl);
        long status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        long lo = o->ok_min ? o->ok_min : 200, hi = o->ok_max ? o->ok_max : 299;
        if (cc == CURLE_OK && status >= lo && status <= hi) {
            w->ok++;
            if (w->n == w->cap) {
                w->cap = w->cap ? w->cap * 2 : 4096;
                w->lat = realloc(w->lat, w->cap * sizeof(double));
            }
            w->lat[w->n++] = t1 - t0;
        } else {
            w->failed++;
            w->bad = cc == CURLE_OK ? status : -(long)cc;
        }
    }
    free(rq);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int load_run(const load_opts *o, load_result *out)
{
    memset(out, 0, sizeof(*out));
    int nc = o->connections > 0 ? o->connections : 1;
    shared s = {o, 0, load_now_ms() + o->seconds * 1e3};
    worker *ws = calloc((size_t)nc, sizeof(*ws));
    double t0 = load_now_ms();
    int started = 0;
    for (int i = 0; i < nc; i++) {
        ws[i].s = &s;
        if (pthread_create(&ws[i].th, NULL, run, &ws[i]) != 0)
            break;
        started++;
    }
    size_t total = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(ws[i].th, NULL);
        total += ws[i].n;
    }
    out->seconds = (load_now_ms() - t0) / 1e3;
    out->lat_ms = malloc((total ? total : 1) * sizeof(double));
    for (int i = 0; i < started; i++) {
        if (ws[i].n)
            memcpy(out->lat_ms + out->n, ws[i].lat, ws[i].n * sizeof(double));
        out->n += ws[i].n;
        out->ok += ws[i].ok;
        out->failed += ws[i].failed;
        if (ws[i].bad)
            out->last_bad_status = ws[i].bad;
        free(ws[i].lat);
    }
    free(ws);
    load_sort(out);
    return started == nc ? 0 : -1;
}

void load_sort(load_result *r)
{
    qsort(r->lat_ms, r->n, sizeof(double), cmp_double);
}

void load_result_free(load_result *r)
{
    free(r->lat_ms);
    memset(r, 0, sizeof(*r));
}

double load_pct(const load_result *r, double p)
{
    if (!r->n)
        return 0;
    size_t i = (size_t)((p / 100.0) * (double)(r->n - 1) + 0.5);
    return r->lat_ms[i < r->n ? i : r->n - 1];
}

double load_rate(const load_result *r)
{
    return r->seconds > 0 ? (double)r->ok / r->seconds : 0;
}
