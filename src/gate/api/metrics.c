/* metrics: GET /metrics in the Prometheus text format. The process's own counters (HTTP,
 * webhooks, jobs, ServiceNow calls), then gauges read from the store at scrape time, which
 * are the same on every replica (jobs, requests, grants, the integration). Reachable on the
 * main listener with `Authorization: Bearer <metrics.token>`, or without a token on the
 * metrics.listen address (bind it to an internal interface). */
#include "gate/api/api.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"
#include "core/metrics.h"
#include "core/str.h"
#include "gate/governance/requests.h"
#include "gate/servicenow/integration.h"
#include "gate/worker.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const struct {
    const char *name, *help;
} helps[] = {
    {"snowgate_http_requests_total", "HTTP requests answered, by method, route and status"},
    {"snowgate_http_request_duration_seconds", "time to answer an HTTP request, by route"},
    {"snowgate_webhooks_total",
     "ServiceNow webhooks received, by outcome (accepted, duplicate, rejected) and reason"},
    {"snowgate_webhooks_previous_secret_total",
     "webhooks accepted with the previous signing secret during a rotation's grace period"},
    {"snowgate_webhook_secret_reads_total",
     "reads of the webhook signing secrets from the store by the receiver, which otherwise "
     "verifies with its cache, by result (loaded, unchanged, not_configured)"},
    {"snowgate_jobs_run_total", "background jobs run by this process, by kind and outcome"},
    {"snowgate_job_duration_seconds", "time a background job ran, by kind"},
    {"snowgate_job_wait_seconds",
     "time a background job waited from due (queued, or its retry time) until it started"},
    {"snowgate_job_retries_total", "job runs that failed and were scheduled again, by kind"},
    {"snowgate_servicenow_calls_total",
     "calls to ServiceNow, by endpoint (ids replaced), method and status (error: no answer)"},
    {"snowgate_reconciler_runs_total", "reconciler runs on this process, by outcome"},
};

static const char *help_of(const char *name)
{
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
        if (strcmp(helps[i].name, name) == 0)
            return helps[i].help;
    return NULL;
}

typedef struct scrape {
    sg_buf *out;
    int64_t now;
} scrape;

/* One gauge family over job kind x state. */
static void family(sg_buf *out, const char *name, const char *help, const char *const *kinds,
                   size_t nk, const char *const states[3], int64_t v[][3])
{
    for (size_t k = 0; k < nk && k < 16; k++)
        for (size_t st = 0; st < 3; st++) {
            char labels[160];
            sg_metrics_labels(labels, sizeof(labels), "kind", kinds[k], "state", states[st],
                              (const char *)NULL);
            sg_metrics_gauge(out, name, k == 0 && st == 0 ? help : NULL, labels, (double)v[k][st]);
        }
}

static int jobs_gauges(sg_conn *c, scrape *s)
{
    /* Every known kind in every state, zero when there is none, so alerts see a series. */
    static const char *const states[] = {"queued", "running", "dead"};
    const char *const *kinds = sg_worker_kinds();
    size_t nk = 0;
    while (kinds[nk])
        nk++;
    int64_t count[16][3] = {{0}}, oldest[16][3] = {{0}};
    sg_rows *r = NULL;
    int rc = sg_conn_query(c,
                           "SELECT kind, state, COUNT(*), MIN(run_at) FROM jobs WHERE state IN "
                           "('queued', 'running', 'dead') GROUP BY kind, state",
                           NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    int step;
    while ((step = sg_rows_next(r)) == 1) {
        for (size_t k = 0; k < nk && k < 16; k++)
            for (size_t st = 0; st < 3; st++)
                if (strcmp(sg_rows_text(r, 0), kinds[k]) == 0 &&
                    strcmp(sg_rows_text(r, 1), states[st]) == 0) {
                    count[k][st] = sg_rows_int(r, 2);
                    oldest[k][st] = sg_rows_int(r, 3);
                }
    }
    sg_rows_free(r);
    if (step < 0)
        return step;
    for (size_t k = 0; k < nk && k < 16; k++)
        for (size_t st = 0; st < 3; st++)
            oldest[k][st] = count[k][st] && s->now > oldest[k][st] ? s->now - oldest[k][st] : 0;
    family(s->out, "snowgate_jobs",
           "background jobs in the store (all replicas), by kind and state", kinds, nk, states,
           count);
    family(s->out, "snowgate_jobs_oldest_age_seconds",
           "seconds since the oldest job of the kind and state became due (0: none)", kinds, nk,
           states, oldest);
    return SG_OK;
}

static int request_gauges(sg_conn *c, scrape *s)
{
    sg_request_counts n;
    int rc = sg_request_count(c, &n);
    if (rc != SG_OK)
        return rc;
    for (size_t i = 0; i < SG_REQUEST_NSTATES; i++) {
        char labels[64];
        sg_metrics_labels(labels, sizeof(labels), "state", sg_request_states[i],
                          (const char *)NULL);
        sg_metrics_gauge(s->out, "snowgate_requests",
                         i == 0 ? "access requests in the store, by state" : NULL, labels,
                         (double)n.by_state[i]);
    }
    sg_metrics_gauge(s->out, "snowgate_requests_linked", "access requests with a ServiceNow record",
                     NULL, (double)n.linked);
    /* Grants in force, and those of them ending within a day, in one pass. */
    char soon[32];
    sg_iso_from_unix(s->now + 86400, soon);
    sg_val p[] = {SG_VTEXT(soon)};
    sg_rows *r = NULL;
    rc = sg_conn_query(c,
                       "SELECT COUNT(*), COALESCE(SUM(CASE WHEN expires_at <= ?1 THEN 1 ELSE 0 "
                       "END), 0) FROM requests WHERE state = 'fulfilled' AND action = 'grant'",
                       p, 1, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    if (step == 1) {
        sg_metrics_gauge(s->out, "snowgate_grants_active",
                         "grants in force (fulfilled grant requests)", NULL,
                         (double)sg_rows_int(r, 0));
        sg_metrics_gauge(s->out, "snowgate_grants_expiring_24h",
                         "grants in force that expire within 24 hours", NULL,
                         (double)sg_rows_int(r, 1));
    }
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

static int store_gauges(sg_conn *c, void *ctx)
{
    int rc = jobs_gauges(c, ctx);
    if (rc == SG_OK)
        rc = request_gauges(c, ctx);
    return rc;
}

/* "2026-11-29T12:00:00Z" as unix seconds; 0 when it is not that. */
static int64_t iso_seconds(const char *iso)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    return end ? (int64_t)timegm(&tm) : 0;
}

static void integration_gauges(sg_app *app, scrape *s)
{
    sg_integration in;
    if (sg_integration_get(app, &in) != SG_OK)
        return;
    for (size_t i = 0; sg_integration_statuses[i]; i++) {
        const char *st = sg_integration_statuses[i];
        char labels[64];
        sg_metrics_labels(labels, sizeof(labels), "status", st, (const char *)NULL);
        sg_metrics_gauge(s->out, "snowgate_servicenow_status",
                         i == 0 ? "1 for the ServiceNow integration's current status" : NULL,
                         labels, strcmp(in.status, st) == 0 ? 1 : 0);
    }
    if (in.refresh_expires > 0)
        sg_metrics_gauge(s->out, "snowgate_servicenow_token_expiry_timestamp_seconds",
                         "when the service account's refresh token expires (unix seconds)", NULL,
                         (double)in.refresh_expires);
    sg_json *last = NULL;
    if (in.last_test[0] &&
        sg_json_parse(in.last_test, strlen(in.last_test), 0, 0, &last) == SG_OK) {
        bool ok = false;
        sg_json_get_bool(last, "ok", &ok);
        sg_metrics_gauge(s->out, "snowgate_servicenow_last_test_ok",
                         "1 when the last Connect and test or Run test passed", NULL, ok ? 1 : 0);
        int64_t at = iso_seconds(sg_json_get_str(last, "at"));
        if (at)
            sg_metrics_gauge(s->out, "snowgate_servicenow_last_test_timestamp_seconds",
                             "when the last test ran (unix seconds)", NULL, (double)at);
    }
    sg_json_decref(last);
}

static int reply(sg_app *app, sg_http_req *req)
{
    sg_buf out = SG_BUF_INIT(0);
    sg_metrics_render(&out, help_of);
    scrape s = {&out, (int64_t)time(NULL)};
    int rc = sg_store_read(app->store, store_gauges, &s);
    if (rc != SG_OK) {
        sg_buf_free(&out);
        return rc;
    }
    integration_gauges(app, &s);
    bool leading = atomic_load(&app->leading);
    sg_metrics_gauge(&out, "snowgate_leader",
                     "1 on the replica that runs the reconciler and the expiry sweep", NULL,
                     leading ? 1 : 0);
    int64_t ok_at = atomic_load(&app->reconcile_ok_at);
    if (leading && ok_at > 0)
        sg_metrics_gauge(&out, "snowgate_reconciler_lag_seconds",
                         "seconds since the reconciler last completed (on the leader)", NULL,
                         (double)(s.now - ok_at));
    sg_http_set_header(req, "Cache-Control", "no-store");
    rc = sg_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    sg_buf_free(&out);
    return rc;
}

int api_metrics_get(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    const char *token = app->cfg.metrics_token;
    if (!token || !*token)
        return sg_http_reply_status(req, 404, "not_found",
                                    "metrics are not served here: set metrics.token (then send "
                                    "Authorization: Bearer <token>) or metrics.listen");
    const char *auth = sg_http_header(req, "Authorization");
    size_t n = strlen(token);
    bool ok = auth && sg_str_startswith(auth, "Bearer ") && strlen(auth + 7) == n &&
              sg_ct_equal(auth + 7, token, n);
    if (!ok) {
        sg_http_set_header(req, "WWW-Authenticate", "Bearer realm=\"snowgate metrics\"");
        return sg_http_reply_status(req, 401, "unauthorized",
                                    "send Authorization: Bearer <metrics.token>");
    }
    return reply(app, req);
}

int api_metrics_open(sg_http_req *req, void *appv)
{
    return reply(appv, req);
}
