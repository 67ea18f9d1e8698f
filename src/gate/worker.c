/* worker: claims jobs and dispatches them by kind; runs the reconciler on its interval. */
#include "gate/worker.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mem.h"
#include "gate/governance/fulfilment.h"
#include "gate/jobs.h"
#include "gate/servicenow/mirror.h"
#include "gate/servicenow/sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct {
    const char *kind;
    int (*run)(sg_app *app, const sg_job *job, int64_t *retry_after);
    void (*gave_up)(sg_app *app, const sg_job *job, const char *reason);
} handlers[] = {
    {"request.fulfil", sg_fulfil_job, sg_fulfil_gave_up},
    {"request.expire", sg_expire_job, sg_expire_gave_up},
    {"servicenow.mirror", sg_mirror_job, NULL},
    {"servicenow.sync", sg_sync_job, NULL},
    {"servicenow.update", sg_mirror_update_job, NULL},
};

const char *const *sg_worker_kinds(void)
{
    static const char *kinds[sizeof(handlers) / sizeof(handlers[0]) + 1];
    for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
        kinds[i] = handlers[i].kind;
    return kinds;
}

static int run_jobs(sg_app *app, const char *owner, int max);

static void run_one(sg_app *app, const char *owner, sg_job *job)
{
    size_t h = 0;
    while (h < sizeof(handlers) / sizeof(handlers[0]) && strcmp(handlers[h].kind, job->kind) != 0)
        h++;
    int64_t retry_after = -1;
    /* Every line logged while the job runs names the job and its access request (the
     * payload, or its part before ':'). */
    char request[33];
    size_t n = strcspn(job->payload, ":");
    snprintf(request, sizeof(request), "%.*s", (int)(n < 32 ? n : 32), job->payload);
    sg_log_set_context(request, job->id);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = h < sizeof(handlers) / sizeof(handlers[0])
                 ? handlers[h].run(app, job, &retry_after)
                 : sg_err_set(SG_EINTERNAL, "no handler for job kind '%s'", job->kind);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    char ms[32];
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    snprintf(ms, sizeof(ms), "%.3f", secs * 1e3);
    /* Debug: at the ingest rate this is a line per event; the steps that matter log at info
     * themselves, and a failure logs "job failed" at warn. */
    sg_log_debug("job ran", "kind", job->kind, "ms", ms, "ok", rc == SG_OK ? "true" : "false");
    char labels[128];
    sg_metrics_labels(labels, sizeof(labels), "kind", job->kind, (const char *)NULL);
    sg_metrics_observe("snowgate_job_duration_seconds", labels, secs);
    sg_metrics_labels(labels, sizeof(labels), "kind", job->kind, "outcome",
                      rc == SG_OK ? "ok" : "failed", (const char *)NULL);
    sg_metrics_inc("snowgate_jobs_run_total", labels, 1);
    if (rc == SG_OK) {
        if (sg_jobs_done(app->store, job, owner) != SG_OK)
            sg_log_warn("job finished after its lease was lost");
        sg_log_set_context(NULL, NULL);
        return;
    }
    char reason[512];
    snprintf(reason, sizeof(reason), "%s", sg_err_msg());
    sg_log_warn("job failed", "kind", job->kind, "reason", reason);
    int64_t now = (int64_t)time(NULL);
    if (sg_jobs_fail(app->store, job, owner, reason, retry_after, now) == SG_OK) {
        bool dead = job->attempts + 1 >= SG_JOBS_MAX_ATTEMPTS || retry_after == SG_JOBS_NO_RETRY;
        if (!dead) {
            sg_metrics_labels(labels, sizeof(labels), "kind", job->kind, (const char *)NULL);
            sg_metrics_inc("snowgate_job_retries_total", labels, 1);
        }
        if (dead && h < sizeof(handlers) / sizeof(handlers[0]) && handlers[h].gave_up)
            handlers[h].gave_up(app, job, reason);
    }
    sg_log_set_context(NULL, NULL);
}

int sg_worker_pass(sg_app *app, const char *owner, int max)
{
    int64_t now = (int64_t)time(NULL);
    if (sg_expiry_sweep(app, now) != SG_OK)
        sg_log_warn("expiry sweep failed", "reason", sg_err_msg());
    return run_jobs(app, owner, max);
}

static int run_jobs(sg_app *app, const char *owner, int max)
{
    int n = 0;
    while (n < max) {
        sg_job job = {0};
        int rc = sg_jobs_claim(app->store, owner, app->cfg.job_lease, (int64_t)time(NULL), &job);
        if (rc != SG_OK) {
            if (rc != SG_ENOTFOUND)
                sg_log_warn("could not claim a job", "reason", sg_err_msg());
            break;
        }
        run_one(app, owner, &job);
        sg_job_clear(&job);
        n++;
    }
    return n;
}

#define MAX_WORKERS 32

/* One thread of the pool: its own lease owner name. */
typedef struct sg_worker_thread {
    struct sg_worker *pool;
    int index;
    pthread_t th;
    char owner[64];
} sg_worker_thread;

struct sg_worker {
    sg_app *app;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    uint64_t kicks; /* bumped when a job is queued; each thread passes once it sees a change */
    int n;
    sg_worker_thread threads[MAX_WORKERS];
};

static void *loop(void *arg)
{
    sg_worker_thread *t = arg;
    sg_worker *w = t->pool;
    int64_t last_reconcile = 0, last_sweep = 0, last_lead = 0;
    uint64_t seen = 0;
    bool leading = false;
    for (;;) {
        int64_t now = (int64_t)time(NULL);
        int64_t every = w->app->cfg.reconcile_interval;
        /* One reconciler and one expiry sweep (once a second) for all replicas: the first
         * thread of the leader runs them (see sg_store_leader); every thread runs jobs. */
        if (t->index == 0 && now != last_lead) {
            last_lead = now;
            bool was = leading;
            leading = sg_store_leader(w->app->store);
            atomic_store(&w->app->leading, leading);
            if (leading != was)
                sg_log_info(leading ? "leading: this replica runs the reconciler and expiry"
                                    : "no longer leading: another replica runs the reconciler",
                            "store", sg_store_backend(w->app->store));
        }
        if (t->index == 0 && leading && every > 0 && now - last_reconcile >= every) {
            last_reconcile = now;
            bool ok = sg_reconcile(w->app) == SG_OK;
            if (ok)
                atomic_store(&w->app->reconcile_ok_at, (int64_t)time(NULL));
            else
                sg_log_warn("reconciler run failed", "reason", sg_err_msg());
            sg_metrics_inc("snowgate_reconciler_runs_total",
                           ok ? "outcome=\"ok\"" : "outcome=\"failed\"", 1);
        }
        pthread_mutex_lock(&w->mu);
        seen = w->kicks;
        pthread_mutex_unlock(&w->mu);
        if (t->index == 0 && leading && now != last_sweep) {
            last_sweep = now;
            sg_worker_pass(w->app, t->owner, 100);
        } else {
            run_jobs(w->app, t->owner, 100);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_mutex_lock(&w->mu);
        int rc = 0;
        while (!w->stop && w->kicks == seen && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
        bool stop = w->stop;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            return NULL;
    }
}

sg_worker *sg_worker_start(sg_app *app)
{
    sg_worker *w = sg_xcalloc(1, sizeof(*w));
    w->app = app;
    w->n = (int)app->cfg.job_workers;
    if (w->n < 1)
        w->n = 1;
    if (w->n > MAX_WORKERS)
        w->n = MAX_WORKERS;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    for (int i = 0; i < w->n; i++) {
        sg_worker_thread *t = &w->threads[i];
        char rnd[17];
        sg_random_hex(rnd, 8);
        t->pool = w;
        t->index = i;
        snprintf(t->owner, sizeof(t->owner), "worker-%ld-%d-%s", (long)getpid(), i, rnd);
        pthread_create(&t->th, NULL, loop, t);
    }
    return w;
}

void sg_worker_kick(sg_worker *w)
{
    /* One idle thread is enough: a busy one claims again before it waits. */
    pthread_mutex_lock(&w->mu);
    w->kicks++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void sg_worker_stop(sg_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->n; i++)
        pthread_join(w->threads[i].th, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
