/* client: HTTP calls to a ServiceNow instance. */
#include "gate/servicenow/client.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/str.h"
#include "gate/servicenow/token_cache.h"
#include "http/client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sn_tokens_free(sn_tokens *t)
{
    if (t->access_token)
        sg_wipe(t->access_token, strlen(t->access_token));
    if (t->refresh_token)
        sg_wipe(t->refresh_token, strlen(t->refresh_token));
    free(t->access_token);
    free(t->refresh_token);
    memset(t, 0, sizeof(*t));
}

static sg_http_client_opts opts(const sg_app *app)
{
    sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
    o.allow_insecure_loopback = app->cfg.allow_insecure_loopback;
    o.timeout_ms = 20000;
    o.pool = app->sn_pool;
    return o;
}

/* A pause is relative (Retry-After seconds): a monotonic clock keeps a wall-clock step from
 * stretching or cutting it. */
static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The longest a call waits for a rate-limit pause to end; a longer pause fails the call
 * (SG_EUNAVAIL), and its job is retried when the pause ends. */
#define PAUSE_WAIT_MS 2000
/* The longest pause a Retry-After may impose. */
#define PAUSE_MAX_MS (300 * 1000)

int64_t sn_paused_for(sg_app *app)
{
    int64_t left = atomic_load(&app->sn_paused_until_ms) - now_ms();
    return left > 0 ? (left + 999) / 1000 : 0;
}

/* Every call waits out a pause that one call's 429 started: ServiceNow's limit is per user
 * (the service account), so all workers share it. */
static int wait_budget(sg_app *app)
{
    int64_t left = atomic_load(&app->sn_paused_until_ms) - now_ms();
    if (left <= 0)
        return SG_OK;
    if (left > PAUSE_WAIT_MS)
        return sg_err_set(SG_EUNAVAIL,
                          "ServiceNow's rate limit: calls are paused for %lld s more (Retry-After)",
                          (long long)(left + 999) / 1000);
    struct timespec t = {(time_t)(left / 1000), (long)(left % 1000) * 1000000};
    nanosleep(&t, NULL);
    return SG_OK;
}

/* Learns from an answer: a 429's Retry-After pauses every call; no answer, or a 5xx, marks
 * ServiceNow as down, and the first answer after that wakes the jobs that wait on it. */
static void note_answer(sg_app *app, int rc, const sg_http_response *r)
{
    bool answered = rc == SG_OK && r->status < 500;
    if (rc == SG_OK && r->status == 429) {
        const char *ra = sg_http_response_header(r, "Retry-After");
        int64_t secs = 0;
        if (!ra || sg_parse_i64(ra, 0, PAUSE_MAX_MS / 1000, "Retry-After", &secs) != SG_OK)
            secs = 1;
        int64_t until = now_ms() + secs * 1000;
        int64_t cur = atomic_load(&app->sn_paused_until_ms);
        while (cur < until && !atomic_compare_exchange_weak(&app->sn_paused_until_ms, &cur, until))
            ;
        answered = false;
    }
    if (!answered) {
        atomic_store(&app->sn_down, true);
        return;
    }
    bool was_down = true;
    if (atomic_compare_exchange_strong(&app->sn_down, &was_down, false))
        atomic_store(&app->sn_wake, true);
}

/* Counts a call in snowgate_servicenow_calls_total, and logs its time at debug (a hop of a
 * decision's path, see bench/README.md). The endpoint is the path without its query, with
 * record ids (32 hex digits) as {sys_id}, so it names a handful of series. */
static void count_call(const char *method, const char *path, int rc, long status,
                       const struct timespec *t0)
{
    char endpoint[160];
    size_t n = 0;
    for (const char *p = path; *p && *p != '?' && n + 10 < sizeof(endpoint);) {
        size_t seg = strcspn(p + 1, "/?") + 1; /* "/segment" */
        bool hex = seg == 33;
        for (size_t i = 1; hex && i < seg; i++)
            hex = isxdigit((unsigned char)p[i]) != 0;
        if (hex) {
            memcpy(endpoint + n, "/{sys_id}", 9);
            n += 9;
        } else {
            size_t k = seg < sizeof(endpoint) - n - 10 ? seg : sizeof(endpoint) - n - 10;
            memcpy(endpoint + n, p, k);
            n += k;
        }
        p += seg;
    }
    endpoint[n] = '\0';
    char st[16], labels[256];
    if (rc == SG_OK)
        snprintf(st, sizeof(st), "%ld", status);
    else
        snprintf(st, sizeof(st), "error");
    sg_metrics_labels(labels, sizeof(labels), "endpoint", endpoint, "method", method, "status", st,
                      (const char *)NULL);
    sg_metrics_inc("snowgate_servicenow_calls_total", labels, 1);
    char ms[32];
    if (sg_log_enabled(SG_LOG_DEBUG))
        sg_log_debug("servicenow call", "endpoint", endpoint, "method", method, "status", st, "ms",
                     sg_ms_since(t0, ms));
}

static int token_request(sg_app *app, bool service, const char *base, const char *form,
                         sn_tokens *out)
{
    memset(out, 0, sizeof(*out));
    char *url = sg_xasprintf("%s/oauth_token.do", base);
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded",
                          "Accept: application/json", NULL};
    sg_http_client_opts o = opts(app);
    sg_http_response r;
    int rc = service ? wait_budget(app) : SG_OK;
    if (rc != SG_OK) {
        free(url);
        return rc;
    }
    struct timespec t0 = sg_mono_now();
    rc = sg_http_request(&o, "POST", url, hdrs, form, strlen(form), &r);
    free(url);
    count_call("POST", "/oauth_token.do", rc, rc == SG_OK ? r.status : 0, &t0);
    if (service)
        note_answer(app, rc, &r);
    if (rc != SG_OK)
        return rc;
    sg_json *j = NULL;
    if (r.status == 200 && sg_json_parse(sg_buf_str(&r.body), r.body.len, 0, 0, &j) == SG_OK &&
        sg_json_get_str(j, "access_token")) {
        out->access_token = sg_xstrdup(sg_json_get_str(j, "access_token"));
        out->refresh_token = sg_xstrdup(sg_json_get_str(j, "refresh_token"));
        sg_json_get_int(j, "expires_in", &out->expires_in);
    } else if (r.status == 401 || r.status == 400) {
        rc = sg_err_set(SG_EAUTH, "ServiceNow refused the token request (HTTP %ld)", r.status);
    } else {
        rc = sg_err_set(SG_ENET, "ServiceNow's token endpoint answered HTTP %ld", r.status);
    }
    sg_json_decref(j);
    sg_buf_wipe(&r.body);
    sg_http_response_free(&r);
    return rc;
}

static void add_param(sg_buf *b, const char *k, const char *v)
{
    char *e = sg_http_escape(v ? v : "");
    sg_buf_printf(b, "%s%s=%s", b->len ? "&" : "", k, e);
    sg_wipe(e, strlen(e));
    free(e);
}

int sn_token_password(sg_app *app, const char *base, const char *client_id,
                      const char *client_secret, const char *user, const char *password,
                      sn_tokens *out)
{
    sg_buf form = SG_BUF_INIT(0);
    add_param(&form, "grant_type", "password");
    add_param(&form, "client_id", client_id);
    add_param(&form, "client_secret", client_secret);
    add_param(&form, "username", user);
    add_param(&form, "password", password);
    int rc = token_request(app, true, base, sg_buf_str(&form), out);
    sg_buf_wipe(&form);
    return rc;
}

int sn_token_refresh(sg_app *app, const char *base, const char *client_id,
                     const char *client_secret, const char *refresh_token, sn_tokens *out)
{
    sg_buf form = SG_BUF_INIT(0);
    add_param(&form, "grant_type", "refresh_token");
    add_param(&form, "client_id", client_id);
    add_param(&form, "client_secret", client_secret);
    add_param(&form, "refresh_token", refresh_token);
    int rc = token_request(app, true, base, sg_buf_str(&form), out);
    sg_buf_wipe(&form);
    return rc;
}

int sn_token_client_credentials(sg_app *app, const char *base, const char *client_id,
                                const char *client_secret, sn_tokens *out)
{
    sg_buf form = SG_BUF_INIT(0);
    add_param(&form, "grant_type", "client_credentials");
    add_param(&form, "client_id", client_id);
    add_param(&form, "client_secret", client_secret);
    int rc = token_request(app, true, base, sg_buf_str(&form), out);
    sg_buf_wipe(&form);
    return rc;
}

int sn_token_code(sg_app *app, const char *base, const char *client_id, const char *client_secret,
                  const char *code, const char *redirect_uri, const char *verifier, sn_tokens *out)
{
    sg_buf form = SG_BUF_INIT(0);
    add_param(&form, "grant_type", "authorization_code");
    add_param(&form, "client_id", client_id);
    add_param(&form, "client_secret", client_secret);
    add_param(&form, "code", code);
    add_param(&form, "redirect_uri", redirect_uri);
    add_param(&form, "code_verifier", verifier);
    int rc = token_request(app, false, base, sg_buf_str(&form), out);
    sg_buf_wipe(&form);
    return rc;
}

static int call(sg_app *app, bool service, const char *base, const char *token, const char *method,
                const char *path, const sg_json *body, long *status, sg_json **json)
{
    *json = NULL;
    *status = 0;
    char *url = sg_xasprintf("%s%s", base, path);
    char *auth = token ? sg_xasprintf("Authorization: Bearer %s", token) : NULL;
    const char *hdrs[4] = {"Accept: application/json", "Content-Type: application/json", NULL,
                           NULL};
    if (auth)
        hdrs[2] = auth;
    char *text = body ? sg_json_dump(body) : NULL;
    sg_http_client_opts o = opts(app);
    sg_http_response r;
    /* Only the service account's calls share its rate-limit budget: a 429 that a person's own
     * token earns (account linking) must not pause everyone. */
    int rc = service ? wait_budget(app) : SG_OK;
    if (rc == SG_OK) {
        struct timespec t0 = sg_mono_now();
        rc = sg_http_request(&o, method, url, hdrs, text, text ? strlen(text) : 0, &r);
        count_call(method, path, rc, rc == SG_OK ? r.status : 0, &t0);
        if (service)
            note_answer(app, rc, &r);
    }
    free(url);
    free(text);
    if (auth) {
        sg_wipe(auth, strlen(auth));
        free(auth);
    }
    if (rc != SG_OK)
        return rc;
    *status = r.status;
    /* A refused service token is not handed out again: the next session asks for a new one. */
    if (service && r.status == 401)
        sg_sn_token_cache_forget(app->sn_tokens, token);
    if (r.body.len)
        sg_json_parse(sg_buf_str(&r.body), r.body.len, 16 * 1024 * 1024, 0, json);
    sg_http_response_free(&r);
    return SG_OK;
}

int sn_status_error(long status)
{
    return status == 429 || status >= 500 ? SG_EUNAVAIL : SG_ENET;
}

bool sn_is_sys_id(const char *s)
{
    return s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

int sn_call(sg_app *app, const char *base, const char *token, const char *method, const char *path,
            const sg_json *body, long *status, sg_json **json)
{
    return call(app, true, base, token, method, path, body, status, json);
}

int sn_call_as_user(sg_app *app, const char *base, const char *token, const char *method,
                    const char *path, const sg_json *body, long *status, sg_json **json)
{
    return call(app, false, base, token, method, path, body, status, json);
}
