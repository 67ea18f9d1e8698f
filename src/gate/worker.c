/* worker: claims jobs and dispatches them by kind; runs the reconciler on its interval. */
#include "gate/worker.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
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

static void run_one(sg_app *app, const char *owner, sg_job *job)
{
    size_t h = 0;
    while (h < sizeof(handlers) / sizeof(handlers[0]) && strcmp(handlers[h].kind, job->kind) != 0)
        h++;
    int64_t retry_after = -1;
    int rc = h < sizeof(handlers) / sizeof(handlers[0])
                 ? handlers[h].run(app, job, &retry_after)
                 : sg_err_set(SG_EINTERNAL, "no handler for job kind '%s'", job->kind);
    if (rc == SG_OK) {
        if (sg_jobs_done(app->store, job, owner) != SG_OK)
            sg_log_warn("job finished after its lease was lost", "job", job->id);
        return;
    }
    char reason[512];
    snprintf(reason, sizeof(reason), "%s", sg_err_msg());
    sg_log_warn("job failed", "job", job->id, "kind", job->kind, "reason", reason);
    int64_t now = (int64_t)time(NULL);
    if (sg_jobs_fail(app->store, job, owner, reason, retry_after, now) != SG_OK)
        return;
    bool dead = job->attempts + 1 >= SG_JOBS_MAX_ATTEMPTS || retry_after == SG_JOBS_NO_RETRY;
    if (dead && h < sizeof(handlers) / sizeof(handlers[0]) && handlers[h].gave_up)
        handlers[h].gave_up(app, job, reason);
}

int sg_worker_pass(sg_app *app, const char *owner, int max)
{
    int64_t now = (int64_t)time(NULL);
    if (sg_expiry_sweep(app, now) != SG_OK)
        sg_log_warn("expiry sweep failed", "reason", sg_err_msg());
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

struct sg_worker {
    sg_app *app;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    char owner[64];
};

static void *loop(void *arg)
{
    sg_worker *w = arg;
    int64_t last_reconcile = 0;
    for (;;) {
        int64_t now = (int64_t)time(NULL);
        int64_t every = w->app->cfg.reconcile_interval;
        if (every > 0 && now - last_reconcile >= every) {
            last_reconcile = now;
            if (sg_reconcile(w->app) != SG_OK)
                sg_log_warn("reconciler run failed", "reason", sg_err_msg());
        }
        sg_worker_pass(w->app, w->owner, 100);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_mutex_lock(&w->mu);
        int rc = 0;
        while (!w->stop && rc != ETIMEDOUT)
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
    char rnd[17];
    sg_random_hex(rnd, 8);
    snprintf(w->owner, sizeof(w->owner), "worker-%ld-%s", (long)getpid(), rnd);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_create(&w->th, NULL, loop, w);
    return w;
}

void sg_worker_stop(sg_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
