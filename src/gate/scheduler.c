/* scheduler: one thread that wakes at intervals; stopping wakes it at once. */
#include "gate/scheduler.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "gate/servicenow/connect.h"
#include "gate/servicenow/integration.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sg_scheduler {
    sg_app *app;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

static void run_test(sg_app *app)
{
    sg_integration in;
    /* degraded and error may be passing (ServiceNow was down, a proxy dropped the webhooks,
     * tokens were revoked mid-test): keep testing, so the status heals or turns into
     * needs_reconnect on its own. needs_reconnect and an unfinished setup wait for the
     * admin. */
    if (sg_integration_get(app, &in) != SG_OK || !sg_integration_callable(&in))
        return;
    /* Warn a week ahead that the refresh token runs out. */
    int64_t left = in.refresh_expires - (int64_t)time(NULL);
    if (in.refresh_expires > 0 && left > 0 && left < 7 * 86400) {
        char days[24];
        snprintf(days, sizeof(days), "%lld", (long long)(left / 86400));
        sg_log_warn("the ServiceNow refresh token expires soon: run Connect and test again",
                    "days_left", days);
    }
    sg_json *result = NULL;
    int rc = sg_connect_test(app, &result);
    if (rc != SG_OK)
        sg_log_warn("scheduled Run test failed", "reason", sg_err_msg());
    else
        sg_log_info("scheduled Run test passed");
    sg_json_decref(result);
}

static void *loop(void *arg)
{
    sg_scheduler *s = arg;
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)s->app->cfg.test_interval;
        pthread_mutex_lock(&s->mu);
        int w = 0;
        while (!s->stop && w != ETIMEDOUT)
            w = pthread_cond_timedwait(&s->cv, &s->mu, &until);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            return NULL;
        run_test(s->app);
    }
}

sg_scheduler *sg_scheduler_start(sg_app *app)
{
    if (app->cfg.test_interval <= 0)
        return NULL;
    sg_scheduler *s = sg_xcalloc(1, sizeof(*s));
    s->app = app;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_create(&s->th, NULL, loop, s);
    return s;
}

void sg_scheduler_stop(sg_scheduler *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
