/* integration: the integrations table row for ServiceNow. */
#include "gate/servicenow/integration.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/mem.h"
#include "core/url.h"
#include "gate/secrets.h"
#include "gate/servicenow/webhook_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME "servicenow"

int sg_instance_url_check(const char *url, bool allow_loopback)
{
    static const char *const hint = "use https://<instance>.service-now.com";
    sg_url u;
    if (!url || !*url)
        return sg_err_set(SG_EINVAL, "instance_url is required; %s", hint);
    if (sg_url_parse(url, &u) != SG_OK)
        return sg_err_set(SG_EINVAL, "instance_url '%s' is not a URL; %s", url, hint);
    int rc = SG_OK;
    sg_addr_class cls = SG_ADDR_PUBLIC;
    bool literal = sg_addr_literal_class(u.host, &cls);
    bool loopback_ok = allow_loopback && literal && cls == SG_ADDR_LOOPBACK;
    if (u.user)
        rc = sg_err_set(SG_EINVAL, "instance_url must not contain credentials; %s", hint);
    else if (strcmp(u.scheme, "https") != 0 && !(loopback_ok && strcmp(u.scheme, "http") == 0))
        rc = sg_err_set(SG_EINVAL, "instance_url must use https; %s", hint);
    else if (strcmp(u.path, "/") != 0 || u.query || u.fragment)
        rc = sg_err_set(SG_EINVAL, "instance_url must have no path, query or fragment; %s", hint);
    else if (literal && !loopback_ok)
        rc = sg_err_set(SG_EINVAL, "instance_url must name a host, not an IP address; %s", hint);
    else if (!literal && !strchr(u.host, '.'))
        rc = sg_err_set(SG_EINVAL, "instance_url host '%s' is not a full host name; %s", u.host,
                        hint);
    else if (!loopback_ok)
        rc = sg_url_guard(url, allow_loopback);
    sg_url_clear(&u);
    return rc;
}

#define PROGRESS_KEY "servicenow.connect_progress"

static int get_tx(sg_conn *c, void *ctx)
{
    sg_integration *out = ctx;
    sg_rows *r = NULL;
    sg_val p[] = {SG_VTEXT(NAME)};
    int rc = sg_conn_query(c,
                           "SELECT instance_url, client_id, status, status_reason, sn_user, "
                           "last_test, grant_type, refresh_expires, linked_count, "
                           "webhook_secret_rotated_at, webhook_secret_previous_until "
                           "FROM integrations WHERE name = ?1",
                           p, 1, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    if (step == 1) {
        out->configured = true;
        snprintf(out->instance_url, sizeof(out->instance_url), "%s", sg_rows_text(r, 0));
        snprintf(out->client_id, sizeof(out->client_id), "%s", sg_rows_text(r, 1));
        snprintf(out->status, sizeof(out->status), "%s", sg_rows_text(r, 2));
        snprintf(out->status_reason, sizeof(out->status_reason), "%s", sg_rows_text(r, 3));
        snprintf(out->sn_user, sizeof(out->sn_user), "%s", sg_rows_text(r, 4));
        snprintf(out->last_test, sizeof(out->last_test), "%s", sg_rows_text(r, 5));
        snprintf(out->grant_type, sizeof(out->grant_type), "%s", sg_rows_text(r, 6));
        out->refresh_expires = sg_rows_null(r, 7) ? 0 : sg_rows_int(r, 7);
        out->linked_count = sg_rows_null(r, 8) ? -1 : sg_rows_int(r, 8);
        snprintf(out->secret_rotated_at, sizeof(out->secret_rotated_at), "%s", sg_rows_text(r, 9));
        out->previous_secret_until = sg_rows_null(r, 10) ? 0 : sg_rows_int(r, 10);
    }
    sg_rows_free(r);
    if (step < 0)
        return step;
    sg_val k[] = {SG_VTEXT(PROGRESS_KEY)};
    rc = sg_conn_query(c, "SELECT value FROM settings WHERE key = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1)
        sg_strlcpy(out->progress, sg_rows_text(r, 0), sizeof(out->progress));
    sg_rows_free(r);
    return SG_OK;
}

static int progress_tx(sg_conn *c, void *ctx)
{
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(PROGRESS_KEY), SG_VTEXT((const char *)ctx), SG_VTEXT(now)};
    return sg_conn_exec(c,
                        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) ON "
                        "CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = "
                        "excluded.updated_at",
                        v, 3, NULL);
}

int sg_integration_set_progress(sg_app *app, const char *json)
{
    return sg_store_tx(app->store, progress_tx, (void *)json);
}

const char *const sg_integration_statuses[] = {
    "not_configured", "awaiting_connection", "connected", "degraded",
    "error",          "needs_reconnect",     NULL};

bool sg_integration_callable(const sg_integration *in)
{
    return in->configured &&
           (strcmp(in->status, "connected") == 0 || strcmp(in->status, "degraded") == 0 ||
            strcmp(in->status, "error") == 0);
}

int sg_integration_get(sg_app *app, sg_integration *out)
{
    memset(out, 0, sizeof(*out));
    out->linked_count = -1;
    snprintf(out->status, sizeof(out->status), "not_configured");
    return sg_store_read(app->store, get_tx, out);
}

static int new_secret(const sg_app *app, char **plain, char **sealed);

/* Every write that may change the webhook secrets goes through here: the receiver's cache of
 * them (webhook_keys) is dropped once the transaction is over, whatever its outcome, so that
 * this process's next delivery reads them again. Other replicas find out on their own (see
 * webhook_keys.h). */
static int secrets_tx(sg_app *app, sg_store_fn fn, void *ctx)
{
    int rc = sg_store_tx(app->store, fn, ctx);
    sg_webhook_keys_forget(app->webhook_keys);
    return rc;
}

typedef struct put_ctx {
    sg_app *app;
    const char *url, *client_id, *secret_sealed;
} put_ctx;

static int put_tx(sg_conn *c, void *ctx)
{
    put_ctx *p = ctx;
    char now[32];
    sg_now_iso(now);
    int64_t exists = 0;
    sg_val k[] = {SG_VTEXT(NAME)};
    int rc =
        sg_conn_query_int(c, "SELECT COUNT(*) FROM integrations WHERE name = ?1", k, 1, &exists);
    if (rc != SG_OK)
        return rc;
    if (exists) {
        /* A new instance or client invalidates any connection made with the old ones. */
        sg_val v[] = {SG_VTEXT(NAME), SG_VTEXT(p->url), SG_VTEXT(p->client_id),
                      SG_VTEXT(p->secret_sealed), SG_VTEXT(now)};
        return sg_conn_exec(c,
                            "UPDATE integrations SET instance_url = ?2, client_id = ?3, "
                            "client_secret = ?4, refresh_token = NULL, refresh_expires_at = NULL, "
                            "grant_type = NULL, refresh_expires = NULL, linked_count = NULL, "
                            "sn_user = NULL, sn_user_id = NULL, status = 'awaiting_connection', "
                            "status_reason = NULL, updated_at = ?5 WHERE name = ?1",
                            v, 5, NULL);
    }
    /* A fresh integration gets its own webhook signing secret. */
    char *plain = NULL, *sealed = NULL;
    rc = new_secret(p->app, &plain, &sealed);
    sg_secrets_free_plain(plain);
    if (rc != SG_OK)
        return rc;
    sg_val v[] = {SG_VTEXT(NAME),         SG_VTEXT(p->url),
                  SG_VTEXT(p->client_id), SG_VTEXT(p->secret_sealed),
                  SG_VTEXT(sealed),       SG_VTEXT(now)};
    rc = sg_conn_exec(c,
                      "INSERT INTO integrations (name, instance_url, client_id, client_secret, "
                      "webhook_secret, status, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, "
                      "'awaiting_connection', ?6)",
                      v, 6, NULL);
    free(sealed);
    return rc;
}

int sg_integration_put(sg_app *app, const char *instance_url, const char *client_id,
                       const char *client_secret)
{
    int rc = sg_instance_url_check(instance_url, app->cfg.allow_insecure_loopback);
    if (rc != SG_OK)
        return rc;
    if (!client_id || !*client_id || strlen(client_id) > 200)
        return sg_err_set(SG_EINVAL, "client_id is required: copy it from the OAuth application "
                                     "registry record in ServiceNow");
    if (!client_secret || !*client_secret || strlen(client_secret) > 500)
        return sg_err_set(SG_EINVAL, "client_secret is required: copy it from the OAuth "
                                     "application registry record in ServiceNow");
    char url[256];
    snprintf(url, sizeof(url), "%s", instance_url);
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        url[--n] = '\0';
    char *sealed = NULL;
    rc = sg_secrets_seal(&app->secrets, "integrations:servicenow:client_secret", client_secret,
                         &sealed);
    if (rc != SG_OK)
        return rc;
    put_ctx p = {app, url, client_id, sealed};
    rc = secrets_tx(app, put_tx, &p);
    free(sealed);
    return rc;
}

static int delete_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    sg_val k[] = {SG_VTEXT(NAME)};
    return sg_conn_exec(c, "DELETE FROM integrations WHERE name = ?1", k, 1, NULL);
}

int sg_integration_delete(sg_app *app)
{
    return secrets_tx(app, delete_tx, NULL);
}

/* Seconds a rotation holds off another: longer than its three ServiceNow calls can take
 * (token, read, write; each at most 20 s, servicenow/client.c), so that a crashed one does not
 * block for long. */
#define ROTATION_LEASE 120

static int sealed_tx(sg_conn *c, void *ctx)
{
    sg_integration_sealed *s = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(NAME)};
    int rc = sg_conn_query(c,
                           "SELECT webhook_secret, webhook_secret_previous, "
                           "webhook_secret_previous_until FROM integrations WHERE name = ?1",
                           k, 1, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    if (step == 1 && !sg_rows_null(r, 0)) {
        s->current = sg_xstrdup(sg_rows_text(r, 0));
        if (!sg_rows_null(r, 1) && !sg_rows_null(r, 2)) {
            s->previous = sg_xstrdup(sg_rows_text(r, 1));
            s->previous_until = sg_rows_int(r, 2);
        }
    }
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

int sg_integration_webhook_sealed(sg_app *app, sg_integration_sealed *out)
{
    memset(out, 0, sizeof(*out));
    int rc = sg_store_read(app->store, sealed_tx, out);
    if (rc != SG_OK)
        sg_integration_sealed_clear(out);
    return rc;
}

void sg_integration_sealed_clear(sg_integration_sealed *s)
{
    free(s->current);
    free(s->previous);
    memset(s, 0, sizeof(*s));
}

int sg_integration_webhook_secret(sg_app *app, char **out)
{
    sg_integration_sealed s;
    *out = NULL;
    int rc = sg_integration_webhook_sealed(app, &s);
    if (rc == SG_OK && !s.current)
        rc = sg_err_set(SG_ENOTFOUND, "the ServiceNow integration is not configured");
    if (rc == SG_OK)
        rc = sg_secrets_open_value(&app->secrets, SG_INTEGRATION_SECRET_BINDING, s.current, out);
    sg_integration_sealed_clear(&s);
    return rc;
}

/* A new signing secret, "whsec_" and 32 random bytes in base64, sealed for storage. */
static int new_secret(const sg_app *app, char **plain, char **sealed)
{
    uint8_t raw[32];
    sg_buf b = SG_BUF_INIT(0);
    *plain = *sealed = NULL;
    int rc = sg_random(raw, sizeof(raw));
    if (rc == SG_OK) {
        sg_buf_puts(&b, "whsec_");
        rc = sg_base64_encode(raw, sizeof(raw), false, &b);
    }
    sg_wipe(raw, sizeof(raw));
    if (rc == SG_OK)
        rc = sg_secrets_seal(&app->secrets, SG_INTEGRATION_SECRET_BINDING, sg_buf_str(&b), sealed);
    if (rc == SG_OK)
        *plain = sg_buf_detach(&b, NULL);
    sg_buf_wipe(&b);
    return rc;
}

typedef struct rotate_ctx {
    int64_t now, grace;
    const char *sealed;
    bool ok;
} rotate_ctx;

static int rotate_begin_tx(sg_conn *c, void *ctx)
{
    rotate_ctx *r = ctx;
    sg_rows *rows = NULL;
    sg_val k[] = {SG_VTEXT(NAME)};
    int rc = sg_conn_query(c, "SELECT webhook_secret_rotating FROM integrations WHERE name = ?1", k,
                           1, &rows);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(rows);
    int64_t since = step == 1 && !sg_rows_null(rows, 0) ? sg_rows_int(rows, 0) : 0;
    sg_rows_free(rows);
    if (step < 0)
        return step;
    if (step == 0)
        return sg_err_set(SG_ENOTFOUND, "the ServiceNow integration is not configured");
    if (since && r->now - since < ROTATION_LEASE)
        return sg_err_set(SG_ECONFLICT, "another rotation of the webhook secret is running; try "
                                        "again in a minute");
    char at[32];
    sg_now_iso(at);
    sg_val v[] = {SG_VTEXT(NAME), SG_VTEXT(r->sealed), SG_VINT(r->now + r->grace), SG_VINT(r->now),
                  SG_VTEXT(at)};
    return sg_conn_exec(c,
                        "UPDATE integrations SET webhook_secret_previous = webhook_secret, "
                        "webhook_secret = ?2, webhook_secret_previous_until = ?3, "
                        "webhook_secret_rotating = ?4 WHERE name = ?1",
                        v, 4, NULL);
}

int sg_integration_rotate_begin(sg_app *app, int64_t now, int64_t grace, char **fresh)
{
    char *sealed = NULL;
    int rc = new_secret(app, fresh, &sealed);
    if (rc == SG_OK) {
        rotate_ctx r = {now, grace, sealed, false};
        rc = secrets_tx(app, rotate_begin_tx, &r);
    }
    free(sealed);
    if (rc != SG_OK) {
        sg_secrets_free_plain(*fresh);
        *fresh = NULL;
    }
    return rc;
}

static int rotate_end_tx(sg_conn *c, void *ctx)
{
    rotate_ctx *r = ctx;
    sg_val v[] = {SG_VTEXT(NAME), SG_VINT(r->now + r->grace)};
    if (r->ok) {
        char at[32];
        sg_now_iso(at);
        sg_val w[] = {SG_VTEXT(NAME), SG_VTEXT(at)};
        return sg_conn_exec(c,
                            "UPDATE integrations SET webhook_secret_rotating = NULL, "
                            "webhook_secret_rotated_at = ?2 WHERE name = ?1",
                            w, 2, NULL);
    }
    /* ServiceNow may have taken the new secret even though the answer did not say so: the
     * old one is current again, and the new one stays accepted for the grace period. */
    return sg_conn_exec(c,
                        "UPDATE integrations SET webhook_secret = webhook_secret_previous, "
                        "webhook_secret_previous = webhook_secret, "
                        "webhook_secret_previous_until = ?2, webhook_secret_rotating = NULL "
                        "WHERE name = ?1",
                        v, 2, NULL);
}

int sg_integration_rotate_end(sg_app *app, bool ok, int64_t now, int64_t grace)
{
    rotate_ctx r = {now, grace, NULL, ok};
    return secrets_tx(app, rotate_end_tx, &r);
}

static void iso_time(int64_t unix_s, char out[32])
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

sg_json *sg_integration_json(const sg_app *app, const sg_integration *in)
{
    sg_json *j = sg_json_object();
    sg_json_set_str(j, "status", in->status);
    if (in->status_reason[0])
        sg_json_set_str(j, "status_reason", in->status_reason);
    sg_json_set(j, "instance_url",
                in->configured ? sg_json_string(in->instance_url) : sg_json_null());
    sg_json_set(j, "client_id", in->configured ? sg_json_string(in->client_id) : sg_json_null());
    char url[400];
    snprintf(url, sizeof(url), "%s/oauth-callback", app->public_url);
    sg_json_set_str(j, "redirect_url", url);
    snprintf(url, sizeof(url), "%s/webhooks/servicenow", app->public_url);
    sg_json_set_str(j, "webhook_url", url);
    sg_json_set(j, "service_user", in->sn_user[0] ? sg_json_string(in->sn_user) : sg_json_null());
    sg_json_set_int(j, "test_interval", app->cfg.test_interval);
    sg_json_set_int(j, "reconcile_interval", app->cfg.reconcile_interval);
    sg_json_set(j, "linked_issues",
                in->linked_count >= 0 ? sg_json_integer(in->linked_count) : sg_json_null());
    sg_json_set(j, "grant_type",
                in->grant_type[0] ? sg_json_string(in->grant_type) : sg_json_null());
    char when[32];
    if (in->refresh_expires > 0) {
        iso_time(in->refresh_expires, when);
        sg_json_set_str(j, "refresh_token_expires_at", when);
    }
    if (in->configured) {
        /* When the signing secret last changed, and until when the one before is accepted. */
        sg_json *ws = sg_json_object();
        sg_json_set(ws, "rotated_at",
                    in->secret_rotated_at[0] ? sg_json_string(in->secret_rotated_at)
                                             : sg_json_null());
        if (in->previous_secret_until > (int64_t)time(NULL)) {
            iso_time(in->previous_secret_until, when);
            sg_json_set_str(ws, "previous_accepted_until", when);
        } else
            sg_json_set(ws, "previous_accepted_until", sg_json_null());
        sg_json_set_int(ws, "grace", app->cfg.webhook_secret_grace);
        sg_json_set(j, "webhook_secret", ws);
    }
    sg_json *progress = NULL;
    if (in->progress[0] &&
        sg_json_parse(in->progress, strlen(in->progress), 0, 0, &progress) == SG_OK)
        sg_json_set(j, "connect_progress", progress);
    sg_json *last = NULL;
    if (in->last_test[0] &&
        sg_json_parse(in->last_test, strlen(in->last_test), 0, 0, &last) == SG_OK) {
        /* Tests stored before their status was kept show the integration's. */
        if (!sg_json_get_str(last, "status"))
            sg_json_set_str(last, "status", in->status);
        sg_json_set(j, "last_test", last);
    } else
        sg_json_set(j, "last_test", sg_json_null());
    return j;
}

typedef struct col_ctx {
    const char *column;
    char *sealed;
} col_ctx;

static int col_tx(sg_conn *c, void *ctx)
{
    col_ctx *s = ctx;
    sg_rows *r = NULL;
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT %s FROM integrations WHERE name = ?1", s->column);
    sg_val k[] = {SG_VTEXT(NAME)};
    int rc = sg_conn_query(c, sql, k, 1, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    if (step == 1 && !sg_rows_null(r, 0))
        s->sealed = sg_xstrdup(sg_rows_text(r, 0));
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

static int open_column(sg_app *app, const char *column, char **out)
{
    col_ctx s = {column, NULL};
    *out = NULL;
    int rc = sg_store_read(app->store, col_tx, &s);
    if (rc != SG_OK || !s.sealed)
        return rc;
    char binding[96];
    snprintf(binding, sizeof(binding), "integrations:servicenow:%s", column);
    rc = sg_secrets_open_value(&app->secrets, binding, s.sealed, out);
    free(s.sealed);
    return rc;
}

int sg_integration_client_secret(sg_app *app, char **out)
{
    return open_column(app, "client_secret", out);
}

int sg_integration_refresh_token(sg_app *app, char **out)
{
    return open_column(app, "refresh_token", out);
}

typedef struct save_ctx {
    const char *status, *reason, *refresh_sealed, *sn_user, *sn_user_id, *last_test;
} save_ctx;

static int save_tx(sg_conn *c, void *ctx)
{
    save_ctx *s = ctx;
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(NAME),         SG_VTEXT(s->status),    SG_VTEXT(s->reason),
                  SG_VTEXT(s->last_test), SG_VTEXT(now),          SG_VTEXT(s->refresh_sealed),
                  SG_VTEXT(s->sn_user),   SG_VTEXT(s->sn_user_id)};
    return sg_conn_exec(c,
                        "UPDATE integrations SET status = ?2, status_reason = ?3, last_test = ?4, "
                        "updated_at = ?5, refresh_token = COALESCE(?6, refresh_token), "
                        "sn_user = COALESCE(?7, sn_user), sn_user_id = COALESCE(?8, sn_user_id) "
                        "WHERE name = ?1",
                        v, 8, NULL);
}

int sg_integration_save_test(sg_app *app, const char *status, const char *reason,
                             const char *refresh_token, const char *sn_user, const char *sn_user_id,
                             const char *last_test)
{
    char *sealed = NULL;
    if (refresh_token) {
        int rc = sg_secrets_seal(&app->secrets, "integrations:servicenow:refresh_token",
                                 refresh_token, &sealed);
        if (rc != SG_OK)
            return rc;
    }
    save_ctx s = {status, reason, sealed, sn_user, sn_user_id, last_test};
    int rc = sg_store_tx(app->store, save_tx, &s);
    free(sealed);
    return rc;
}

typedef struct grant_ctx {
    const char *grant;
    int64_t expires;
    int64_t linked;
    bool linked_only;
} grant_ctx;

static int grant_tx(sg_conn *c, void *ctx)
{
    grant_ctx *g = ctx;
    if (g->linked_only) {
        sg_val v[] = {SG_VTEXT(NAME), SG_VINT(g->linked)};
        return sg_conn_exec(c, "UPDATE integrations SET linked_count = ?2 WHERE name = ?1", v, 2,
                            NULL);
    }
    sg_val v[] = {SG_VTEXT(NAME), SG_VTEXT(g->grant), g->expires ? SG_VINT(g->expires) : SG_VNULL};
    return sg_conn_exec(c,
                        "UPDATE integrations SET grant_type = ?2, refresh_expires = ?3 "
                        "WHERE name = ?1",
                        v, 3, NULL);
}

int sg_integration_save_grant(sg_app *app, const char *grant_type, int64_t refresh_expires)
{
    grant_ctx g = {grant_type, refresh_expires, 0, false};
    return sg_store_tx(app->store, grant_tx, &g);
}

int sg_integration_save_linked(sg_app *app, int64_t count)
{
    grant_ctx g = {NULL, 0, count, true};
    return sg_store_tx(app->store, grant_tx, &g);
}
