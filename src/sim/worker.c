/* worker: one thread and a FIFO of jobs. */
#include "sim/worker.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "http/client.h"
#include "sim/rules.h"
#include "sim/sim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKER_QUEUE_MAX 10000

typedef struct job {
    struct job *next;
    sg_json *http; /* an outbound call, or */
    char rule_id[33], table[80], sys_id[33], operation[16], user_id[33];
} job;

struct sim_worker {
    sg_sim *sim;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail;
    size_t n;
    bool stop;
};

void sim_worker_http_now(sg_sim *sim, const sg_json *req, sg_json *resp)
{
    sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
    o.allow_insecure_loopback = sim->cfg.allow_insecure_loopback;
    o.pool = sim->outbound;
    int64_t timeout = 0;
    if (sg_json_get_int(req, "timeout", &timeout) && timeout > 0 && timeout < 120000)
        o.timeout_ms = (long)timeout;
    const char *hdrs[34];
    char *owned[32];
    int n = 0;
    sg_json *h = sg_json_get(req, "headers");
    for (void *it = sg_json_iter(h); it && n < 32; it = sg_json_iter_next(h, it)) {
        const char *v = sg_json_str(sg_json_iter_value(it));
        owned[n] = sg_xasprintf("%s: %s", sg_json_iter_key(it), v ? v : "");
        hdrs[n] = owned[n];
        n++;
    }
    hdrs[n] = "User-Agent: ServiceNow/1.0";
    hdrs[n + 1] = NULL;
    const char *body = sg_json_get_str(req, "body");
    const char *method = sg_json_get_str(req, "method");
    const char *url = sg_json_get_str(req, "url");
    sg_http_response r;
    int rc = sg_http_request(&o, method && *method ? method : "GET", url ? url : "", hdrs,
                             body && *body ? body : NULL, body ? strlen(body) : 0, &r);
    if (rc == SG_OK) {
        sg_json_set_int(resp, "status", r.status);
        sg_json_set(resp, "body", sg_json_stringn(sg_buf_str(&r.body), r.body.len));
        sg_json *rh = sg_json_object();
        for (size_t i = 0; i < r.nheaders; i++)
            sg_json_set_str(rh, r.headers[i].name, r.headers[i].value);
        sg_json_set(resp, "headers", rh);
        sg_json_set_str(resp, "error", "");
        sg_http_response_free(&r);
    } else {
        sg_json_set_int(resp, "status", 0);
        sg_json_set_str(resp, "body", "");
        sg_json_set_str(resp, "error", sg_err_msg());
    }
    char st[16];
    snprintf(st, sizeof(st), "%d", rc == SG_OK ? (int)r.status : 0);
    sg_log_info("outbound call", "method", method ? method : "", "url", url ? url : "", "status",
                st);
    for (int i = 0; i < n; i++)
        free(owned[i]);
}

static void run_job(sim_worker *w, job *j)
{
    if (j->http) {
        sg_json *resp = sg_json_object();
        sim_worker_http_now(w->sim, j->http, resp);
        sg_json_decref(resp);
        return;
    }
    sim_db_wrlock(w->sim->db);
    sim_rules_run_async(w->sim, j->rule_id, j->table, j->sys_id, j->operation, j->user_id);
    sim_db_unlock(w->sim->db);
}

static void *loop(void *arg)
{
    sim_worker *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop) {
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        job *j = w->head;
        w->head = j->next;
        if (!w->head)
            w->tail = NULL;
        w->n--;
        pthread_mutex_unlock(&w->mu);
        run_job(w, j);
        sg_json_decref(j->http);
        free(j);
    }
}

sim_worker *sim_worker_start(sg_sim *sim)
{
    sim_worker *w = sg_xcalloc(1, sizeof(*w));
    w->sim = sim;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_create(&w->th, NULL, loop, w);
    return w;
}

static void push(sim_worker *w, job *j)
{
    pthread_mutex_lock(&w->mu);
    if (w->n >= WORKER_QUEUE_MAX) {
        pthread_mutex_unlock(&w->mu);
        sg_log_warn("background queue full; job dropped");
        sg_json_decref(j->http);
        free(j);
        return;
    }
    if (w->tail)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->n++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void sim_worker_http(sim_worker *w, const sg_json *req)
{
    job *j = sg_xcalloc(1, sizeof(*j));
    char *copy = sg_json_dump(req);
    sg_json_parse(copy, strlen(copy), 64 * 1024 * 1024, 0, &j->http);
    free(copy);
    push(w, j);
}

void sim_worker_rule(sim_worker *w, const char *rule_id, const char *table, const char *sys_id,
                     const char *operation, const char *user_id)
{
    job *j = sg_xcalloc(1, sizeof(*j));
    snprintf(j->rule_id, sizeof(j->rule_id), "%s", rule_id);
    snprintf(j->table, sizeof(j->table), "%s", table);
    snprintf(j->sys_id, sizeof(j->sys_id), "%s", sys_id);
    snprintf(j->operation, sizeof(j->operation), "%s", operation);
    snprintf(j->user_id, sizeof(j->user_id), "%s", user_id);
    push(w, j);
}

void sim_worker_stop(sim_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    size_t dropped = 0;
    for (job *j = w->head; j;) {
        job *next = j->next;
        sg_json_decref(j->http);
        free(j);
        dropped++;
        j = next;
    }
    if (dropped) {
        char n[24];
        snprintf(n, sizeof(n), "%zu", dropped);
        sg_log_warn("background jobs dropped at shutdown", "count", n);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
