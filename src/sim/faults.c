/* faults: a mutex-guarded rule list consulted at the start of every API request. */
#include "sim/faults.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "sim/sim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum kind { K_STATUS, K_DELAY, K_DROP, K_RATELIMIT } kind;

typedef struct rule {
    char *path;
    char *method;
    kind kind;
    int status;
    int delay_ms;
    int retry_after;
    double rate;
    long count;    /* -1: unlimited */
    bool outbound; /* applies to calls scripts make, not to requests snowsim answers */
} rule;

struct sim_faults {
    pthread_mutex_t mu;
    rule *rules;
    size_t n;
    sg_json *spec;
};

sim_faults *sim_faults_new(void)
{
    sim_faults *f = sg_xcalloc(1, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    f->spec = sg_json_object();
    sg_json_set(f->spec, "rules", sg_json_array());
    return f;
}

static void clear(rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rules[i].path);
        free(rules[i].method);
    }
    free(rules);
}

void sim_faults_free(sim_faults *f)
{
    if (!f)
        return;
    clear(f->rules, f->n);
    sg_json_decref(f->spec);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static double num(const sg_json *o, const char *key, double def)
{
    sg_json *v = sg_json_get(o, key);
    int64_t i = 0;
    if (sg_json_int(v, &i))
        return (double)i;
    if (v && sg_json_typeof(v) == SG_JSON_REAL) {
        char *s = sg_json_dump(v);
        double d = strtod(s, NULL);
        free(s);
        return d;
    }
    return def;
}

int sim_faults_set(sim_faults *f, const sg_json *spec)
{
    sg_json *list = sg_json_get(spec, "rules");
    if (!list || sg_json_typeof(list) != SG_JSON_ARRAY)
        return sg_err_set(SG_EINVAL, "faults: expected {\"rules\": [...]}");
    size_t n = sg_json_array_size(list);
    rule *rules = sg_xcalloc(n ? n : 1, sizeof(rule));
    for (size_t i = 0; i < n; i++) {
        sg_json *r = sg_json_array_get(list, i);
        const char *k = sg_json_get_str(r, "kind");
        rule *x = &rules[i];
        x->path = sg_xstrdup(sg_json_get_str(r, "path") ? sg_json_get_str(r, "path") : "/");
        x->method = sg_xstrdup(sg_json_get_str(r, "method"));
        x->status = (int)num(r, "status", 503);
        x->delay_ms = (int)num(r, "delay_ms", 0);
        x->retry_after = (int)num(r, "retry_after", 1);
        x->rate = num(r, "rate", 1.0);
        x->count = (long)num(r, "count", -1);
        sg_json_get_bool(r, "outbound", &x->outbound);
        if (!k || (strcmp(k, "status") && strcmp(k, "delay") && strcmp(k, "drop") &&
                   strcmp(k, "ratelimit"))) {
            clear(rules, n);
            return sg_err_set(SG_EINVAL,
                              "faults: rule %zu: kind must be status, delay, drop or ratelimit", i);
        }
        x->kind = strcmp(k, "status") == 0  ? K_STATUS
                  : strcmp(k, "delay") == 0 ? K_DELAY
                  : strcmp(k, "drop") == 0  ? K_DROP
                                            : K_RATELIMIT;
        if (x->outbound && x->kind == K_RATELIMIT) {
            clear(rules, n);
            return sg_err_set(SG_EINVAL,
                              "faults: rule %zu: an outbound rule is status, delay or drop", i);
        }
        if (x->rate < 0 || x->rate > 1 || x->status < 400 || x->status > 599 || x->delay_ms < 0 ||
            x->delay_ms > 60000 || x->retry_after < 0) {
            clear(rules, n);
            return sg_err_set(SG_EINVAL,
                              "faults: rule %zu: rate must be 0..1, status 400..599, delay_ms "
                              "0..60000",
                              i);
        }
    }
    pthread_mutex_lock(&f->mu);
    clear(f->rules, f->n);
    f->rules = rules;
    f->n = n;
    sg_json_decref(f->spec);
    f->spec = sg_json_incref((sg_json *)spec);
    pthread_mutex_unlock(&f->mu);
    return SG_OK;
}

sg_json *sim_faults_get(sim_faults *f)
{
    pthread_mutex_lock(&f->mu);
    sg_json *s = sg_json_incref(f->spec);
    pthread_mutex_unlock(&f->mu);
    return s;
}

static double roll(void)
{
    uint32_t v = 0;
    sg_random(&v, sizeof(v));
    return (double)v / 4294967296.0;
}

/* The first rule (inbound or outbound) matching path and method, counted as used. */
static bool match(sim_faults *f, bool outbound, const char *path, const char *method, rule *hit)
{
    bool found = false;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->n && !found; i++) {
        rule *x = &f->rules[i];
        if (x->outbound != outbound || !sg_str_startswith(path, x->path) ||
            (x->method && strcmp(x->method, method) != 0) || x->count == 0)
            continue;
        if (x->rate < 1.0 && roll() >= x->rate)
            continue;
        if (x->count > 0)
            x->count--;
        *hit = *x;
        found = true;
    }
    pthread_mutex_unlock(&f->mu);
    return found;
}

static void pause_for(const rule *hit)
{
    struct timespec t = {hit->delay_ms / 1000, (long)(hit->delay_ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

bool sim_faults_outbound(sim_faults *f, const char *method, const char *url, int *status)
{
    const char *host = strstr(url, "://");
    const char *path = host ? strchr(host + 3, '/') : NULL;
    rule hit;
    if (!match(f, true, path ? path : "/", method ? method : "GET", &hit))
        return false;
    if (hit.kind == K_DELAY) {
        pause_for(&hit);
        return false;
    }
    *status = hit.kind == K_DROP ? 0 : hit.status;
    return true;
}

bool sim_faults_apply(sim_faults *f, sg_http_req *req)
{
    const char *path = sg_http_path(req);
    const char *method = sg_http_method(req);
    /* The control endpoint itself is never faulted, so tests can always switch faults off. */
    if (sg_str_startswith(path, "/api/x_snowsim/"))
        return false;
    rule hit;
    if (!match(f, false, path, method, &hit))
        return false;
    switch (hit.kind) {
    case K_DELAY:
        pause_for(&hit);
        return false;
    case K_DROP:
        sg_http_drop(req);
        return true;
    case K_RATELIMIT: {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", hit.retry_after);
        sg_http_set_header(req, "Retry-After", ra);
        sim_reply_error(req, 429, "Rate limit exceeded", "Injected fault: rate limit exceeded");
        return true;
    }
    case K_STATUS:
    default:
        sim_reply_error(req, hit.status, "Injected fault", "snowsim fault injection");
        return true;
    }
}
