/* worker: claims jobs and dispatches them by kind; runs the reconciler on its interval. */
#include "gate/worker.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/governance/discovery.h"
#include "gate/governance/fulfilment.h"
#include "gate/jobs.h"
#include "gate/servicenow/client.h"
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
    {"connection.discover", sg_discovery_job, sg_discovery_gave_up},
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

typedef struct sg_worker_thread sg_worker_thread;
static int run_jobs(sg_app *app, const char *owner, int max, sg_worker_thread *t);

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
    /* How long it waited since it was due: since it was queued, or since its retry time. */
    int64_t due_ms = job->run_at * 1000 > job->queued_ms ? job->run_at * 1000 : job->queued_ms;
    int64_t waited_ms = sg_now_ms() - due_ms;
    if (waited_ms < 0)
        waited_ms = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = h < sizeof(handlers) / sizeof(handlers[0])
                 ? handlers[h].run(app, job, &retry_after)
                 : sg_err_set(SG_EINTERNAL, "no handler for job kind '%s'", job->kind);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    char ms[32], waited[32];
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    snprintf(ms, sizeof(ms), "%.3f", secs * 1e3);
    snprintf(waited, sizeof(waited), "%lld", (long long)waited_ms);
    /* Debug: at the ingest rate this is a line per event; the steps that matter log at info
     * themselves, and a failure logs "job failed" at warn. */
    /* Finished: it succeeded and marked itself done in its last transaction. */
    bool finished = rc == SG_JOB_FINISHED;
    if (finished)
        rc = SG_OK;
    sg_log_debug("job ran", "kind", job->kind, "ms", ms, "waited_ms", waited, "ok",
                 rc == SG_OK ? "true" : "false");
    char labels[128];
    sg_metrics_labels(labels, sizeof(labels), "kind", job->kind, (const char *)NULL);
    sg_metrics_observe("snowgate_job_duration_seconds", labels, secs);
    sg_metrics_observe("snowgate_job_wait_seconds", labels, (double)waited_ms / 1e3);
    sg_metrics_labels(labels, sizeof(labels), "kind", job->kind, "outcome",
                      rc == SG_OK ? "ok" : "failed", (const char *)NULL);
    sg_metrics_inc("snowgate_jobs_run_total", labels, 1);
    if (rc == SG_OK) {
        if (!finished && sg_jobs_done(app->store, job, owner) != SG_OK)
            sg_log_warn("job finished after its lease was lost");
        sg_log_set_context(NULL, NULL);
        return;
    }
    char reason[512];
    snprintf(reason, sizeof(reason), "%s", sg_err_msg());
    sg_log_warn("job failed", "kind", job->kind, "reason", reason);
    int64_t now = (int64_t)time(NULL);
    /* Paused by ServiceNow's rate limit: try again when the pause ends, not before. */
    int64_t paused = strncmp(job->kind, "servicenow.", 11) == 0 ? sn_paused_for(app) : 0;
    if (paused > 0 && retry_after != SG_JOBS_NO_RETRY && paused > retry_after)
        retry_after = paused;
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

static int pass(sg_app *app, const char *owner, int max, sg_worker_thread *t)
{
    int64_t now = (int64_t)time(NULL);
    /* ServiceNow answers again after failing: its waiting jobs run now. */
    if (atomic_exchange(&app->sn_wake, false) && sg_jobs_wake_servicenow(app->store, now) != SG_OK)
        sg_log_warn("could not wake the ServiceNow jobs", "reason", sg_err_msg());
    if (sg_expiry_sweep(app, now) != SG_OK)
        sg_log_warn("expiry sweep failed", "reason", sg_err_msg());
    if (sg_discovery_sweep(app, now) != SG_OK)
        sg_log_warn("discovery schedule failed", "reason", sg_err_msg());
    return run_jobs(app, owner, max, t);
}

static void set_current_job(sg_worker_thread *t, const char *job_id);

static int run_jobs(sg_app *app, const char *owner, int max, sg_worker_thread *t)
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
        set_current_job(t, job.id);
        run_one(app, owner, &job);
        set_current_job(t, NULL);
        sg_job_clear(&job);
        n++;
    }
    return n;
}

#define MAX_WORKERS 32

/* One thread of the pool: its own lease owner name. */
struct sg_worker_thread {
    struct sg_worker *pool;
    int index;
    pthread_t th;
    char owner[64];
    /* The job this thread is running ("" when none) and when its lease was last set; under
     * the pool's mutex, read by the lease keeper. */
    char job[33];
    int64_t leased_at;
};

struct sg_worker {
    sg_app *app;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_cond_t stop_cv; /* wakes the lease keeper to stop */
    bool stop;
    uint64_t kicks; /* bumped when a job is queued; each thread passes once it sees a change */
    int n;
    pthread_t keeper; /* renews the leases of jobs that run long */
    bool keeper_started;
    sg_worker_thread threads[MAX_WORKERS];
};

/* Records the job thread t runs (NULL: none), for the lease keeper. */
static void set_current_job(sg_worker_thread *t, const char *job_id)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->pool->mu);
    snprintf(t->job, sizeof(t->job), "%s", job_id ? job_id : "");
    t->leased_at = (int64_t)time(NULL);
    pthread_mutex_unlock(&t->pool->mu);
}

/* The lease keeper: a job that outlives a third of its lease gets a renewed one, so another
 * worker (here or on another replica) never takes a job that is still running and does its
 * ServiceNow calls or its GRANT a second time. A worker that dies stops renewing, and its jobs
 * are taken over when the lease runs out, as before. */
static void *keep_leases(void *arg)
{
    sg_worker *w = arg;
    int64_t lease = w->app->cfg.job_lease;
    int64_t every = lease / 3 > 0 ? lease / 3 : 1;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        int64_t now = (int64_t)time(NULL);
        for (int i = 0; i < w->n; i++) {
            sg_worker_thread *t = &w->threads[i];
            if (!t->job[0] || now - t->leased_at < every)
                continue;
            char id[33];
            snprintf(id, sizeof(id), "%s", t->job);
            t->leased_at = now;
            /* The store call runs without the mutex; the job may finish meanwhile, which
             * the lease_owner and state checks in sg_jobs_extend make harmless. */
            pthread_mutex_unlock(&w->mu);
            int rc = sg_jobs_extend(w->app->store, id, t->owner, now + lease);
            char reason[512];
            snprintf(reason, sizeof(reason), "%s", rc != SG_OK ? sg_err_msg() : "");
            pthread_mutex_lock(&w->mu);
            /* Not worth a word when the job simply finished meanwhile. */
            if (rc != SG_OK && strcmp(t->job, id) == 0)
                sg_log_warn("could not renew a running job's lease; another worker may take "
                            "it over",
                            "job", id, "reason", reason);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        int rc = 0;
        while (!w->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&w->stop_cv, &w->mu, &until);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

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
            pass(w->app, t->owner, 100, t);
        } else {
            run_jobs(w->app, t->owner, 100, t);
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
    pthread_cond_init(&w->stop_cv, NULL);
    for (int i = 0; i < w->n; i++) {
        sg_worker_thread *t = &w->threads[i];
        char rnd[17];
        sg_random_hex(rnd, 8);
        t->pool = w;
        t->index = i;
        snprintf(t->owner, sizeof(t->owner), "worker-%ld-%d-%s", (long)getpid(), i, rnd);
        pthread_create(&t->th, NULL, loop, t);
    }
    w->keeper_started = pthread_create(&w->keeper, NULL, keep_leases, w) == 0;
    if (!w->keeper_started)
        sg_log_warn("could not start the lease keeper: a job running longer than jobs.lease "
                    "may be taken over by another worker");
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
    pthread_cond_broadcast(&w->stop_cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->n; i++)
        pthread_join(w->threads[i].th, NULL);
    if (w->keeper_started)
        pthread_join(w->keeper, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_cond_destroy(&w->stop_cv);
    free(w);
}
