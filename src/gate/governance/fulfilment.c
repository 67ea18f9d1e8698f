/* fulfilment: the fulfil and expire jobs, the expiry sweep and manual completion. */
#include "gate/governance/fulfilment.h"

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/webhook_sig.h"
#include "gate/secrets.h"
#include "http/client.h"
#include "core/str.h"
#include "gate/governance/audit.h"
#include "gate/governance/requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sg_fulfil_enqueue(sg_conn *c, const char *id)
{
    char key[64];
    snprintf(key, sizeof(key), "fulfil:%s", id);
    return sg_jobs_enqueue(c, "request.fulfil", id, (int64_t)time(NULL), key, NULL);
}

typedef struct req_info {
    char state[16], action[16], kind[16], asset[256], beneficiary[128], connection[128];
    char asset_id[33];
    int64_t duration_s; /* 0: no expiry */
    char owners[1024];
    char privilege[16], connection_id[33];
    char config[1100]; /* the connection's JSON config */
    char sealed[1024]; /* the connection's sealed secret, or "" */
} req_info;

static int load(sg_conn *c, const char *id, req_info *out)
{
    memset(out, 0, sizeof(*out));
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(id)};
    int rc = sg_conn_query(c,
                           "SELECT r.state, r.action, c.kind, a.name, r.beneficiary, c.name, "
                           "a.id, r.duration_s, a.owners, r.privilege, c.id, c.config, c.secret "
                           "FROM requests r JOIN assets a ON a.id "
                           "= r.asset_id JOIN connections c ON c.id = a.connection_id WHERE "
                           "r.id = ?1",
                           k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) != 1) {
        sg_rows_free(r);
        return sg_err_set(SG_ENOTFOUND, "request %s not found", id);
    }
    sg_strlcpy(out->state, sg_rows_text(r, 0), sizeof(out->state));
    sg_strlcpy(out->action, sg_rows_text(r, 1), sizeof(out->action));
    sg_strlcpy(out->kind, sg_rows_text(r, 2), sizeof(out->kind));
    sg_strlcpy(out->asset, sg_rows_text(r, 3), sizeof(out->asset));
    sg_strlcpy(out->beneficiary, sg_rows_text(r, 4), sizeof(out->beneficiary));
    sg_strlcpy(out->connection, sg_rows_text(r, 5), sizeof(out->connection));
    sg_strlcpy(out->asset_id, sg_rows_text(r, 6), sizeof(out->asset_id));
    out->duration_s = sg_rows_null(r, 7) ? 0 : sg_rows_int(r, 7);
    sg_strlcpy(out->owners, sg_rows_text(r, 8), sizeof(out->owners));
    sg_strlcpy(out->privilege, sg_rows_text(r, 9), sizeof(out->privilege));
    sg_strlcpy(out->connection_id, sg_rows_text(r, 10), sizeof(out->connection_id));
    sg_strlcpy(out->config, sg_rows_text(r, 11), sizeof(out->config));
    if (!sg_rows_null(r, 12))
        sg_strlcpy(out->sealed, sg_rows_text(r, 12), sizeof(out->sealed));
    sg_rows_free(r);
    return SG_OK;
}

/* approved -> fulfilled, with the expiry time for a time-bound grant; a fulfilled revoke also
 * ends the person's grants on that asset. One transaction. */
typedef struct done_ctx {
    const char *id, *actor, *note;
    bool skipped; /* the request had already moved on */
} done_ctx;

static int done_tx(sg_conn *c, void *ctx)
{
    done_ctx *d = ctx;
    req_info ri;
    int rc = load(c, d->id, &ri);
    if (rc != SG_OK)
        return rc;
    if (strcmp(ri.state, "approved") != 0) {
        d->skipped = true;
        return SG_OK;
    }
    rc = sg_request_move(c, d->id, "fulfilled", d->actor, d->note);
    if (rc != SG_OK)
        return rc;
    if (ri.duration_s > 0) {
        char exp[32];
        sg_iso_from_unix((int64_t)time(NULL) + ri.duration_s, exp);
        sg_val v[] = {SG_VTEXT(exp), SG_VTEXT(d->id)};
        rc = sg_conn_exec(c, "UPDATE requests SET expires_at = ?1 WHERE id = ?2", v, 2, NULL);
        if (rc != SG_OK)
            return rc;
    }
    if (strcmp(ri.action, "revoke") != 0)
        return SG_OK;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(ri.asset_id), SG_VTEXT(ri.beneficiary)};
    rc = sg_conn_query(c,
                       "SELECT id FROM requests WHERE asset_id = ?1 AND beneficiary = ?2 AND "
                       "action = 'grant' AND state = 'fulfilled'",
                       k, 2, &r);
    if (rc != SG_OK)
        return rc;
    /* Collect first: the statement must be finished before the rows change. */
    char ids[64][33];
    size_t n = 0;
    while (n < 64 && sg_rows_next(r) == 1)
        sg_strlcpy(ids[n++], sg_rows_text(r, 0), 33);
    sg_rows_free(r);
    char note[96];
    snprintf(note, sizeof(note), "revoked by request %s", d->id);
    for (size_t i = 0; rc == SG_OK && i < n; i++)
        rc = sg_request_move(c, ids[i], "revoked", d->actor, note);
    return rc;
}

typedef struct read_ctx {
    const char *id;
    req_info ri;
} read_ctx;

static int read_tx(sg_conn *c, void *ctx)
{
    read_ctx *x = ctx;
    return load(c, x->id, &x->ri);
}

/* The request as it stands now, outside any transaction. */
static int read_info(sg_app *app, const char *id, req_info *out)
{
    read_ctx x = {.id = id};
    int rc = sg_store_read(app->store, read_tx, &x);
    *out = x.ri;
    return rc;
}

/* The webhook connector: a Standard Webhooks-signed POST of what to change. The message id
 * is stable per request and step, so a receiver can drop the redeliveries a retry causes.
 * 2xx is success; 429 and 5xx honour Retry-After. */
static int webhook_send(sg_app *app, const req_info *ri, const char *id, const char *step,
                        const char *type, int64_t *retry_after)
{
    sg_json *cfg = NULL;
    const char *url = NULL;
    if (sg_json_parse(ri->config, strlen(ri->config), 0, 0, &cfg) == SG_OK)
        url = sg_json_get_str(cfg, "url");
    char binding[96], *secret = NULL;
    snprintf(binding, sizeof(binding), "connections:%s:secret", ri->connection_id);
    int rc = !url ? sg_err_set(SG_EINVAL, "connection '%s' has no url", ri->connection)
             : !ri->sealed[0]
                 ? sg_err_set(SG_EINVAL, "connection '%s' has no secret", ri->connection)
                 : sg_secrets_open_value(&app->secrets, binding, ri->sealed, &secret);
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "type", type);
    sg_json_set_str(body, "request", id);
    sg_json_set_str(body, "asset", ri->asset);
    sg_json_set_str(body, "for", ri->beneficiary);
    sg_json_set_str(body, "privilege", ri->privilege);
    sg_json_set(body, "privileges", sg_request_privileges(ri->privilege));
    if (ri->duration_s > 0 && strcmp(type, "access.grant") == 0)
        sg_json_set_int(body, "duration_seconds", ri->duration_s);
    char *text = sg_json_dump(body);
    sg_json_decref(body);
    char msg_id[96];
    snprintf(msg_id, sizeof(msg_id), "%s:%s", id, step);
    int64_t ts = (int64_t)time(NULL);
    sg_buf sig = SG_BUF_INIT(0);
    if (rc == SG_OK)
        rc = sg_webhook_sig_sign(secret, msg_id, ts, text, strlen(text), &sig);
    sg_secrets_free_plain(secret);
    sg_http_response res = {0};
    if (rc == SG_OK) {
        char h_id[128], h_ts[64], h_sig[256];
        snprintf(h_id, sizeof(h_id), "webhook-id: %s", msg_id);
        snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %lld", (long long)ts);
        snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", sg_buf_str(&sig));
        const char *hdrs[] = {"Content-Type: application/json", h_id, h_ts, h_sig, NULL};
        sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
        o.allow_insecure_loopback = app->cfg.allow_insecure_loopback;
        o.timeout_ms = 20000;
        o.max_response = 64 * 1024;
        rc = sg_http_request(&o, "POST", url, hdrs, text, strlen(text), &res);
    }
    if (rc == SG_OK && (res.status < 200 || res.status > 299)) {
        const char *ra = sg_http_response_header(&res, "Retry-After");
        int64_t secs = 0;
        if (ra && sg_parse_i64(ra, 0, 86400, "Retry-After", &secs) == SG_OK)
            *retry_after = secs;
        rc = sg_err_set(res.status == 429 || res.status >= 500 ? SG_EUNAVAIL : SG_EINVAL,
                        "the webhook receiver of connection '%s' answered HTTP %ld", ri->connection,
                        res.status);
    }
    sg_http_response_free(&res);
    sg_buf_free(&sig);
    free(text);
    sg_json_decref(cfg);
    return rc;
}

int sg_fulfil_job(sg_app *app, const sg_job *job, int64_t *retry_after)
{
    req_info ri;
    int rc = read_info(app, job->payload, &ri);
    if (rc == SG_ENOTFOUND)
        return SG_OK; /* nothing to do for a request that does not exist */
    if (rc != SG_OK)
        return rc;
    if (strcmp(ri.state, "approved") != 0)
        return SG_OK; /* already fulfilled, cancelled or failed: idempotent */
    if (strcmp(ri.kind, "manual") == 0) {
        sg_log_info("request approved; waiting for a person to apply it and mark it done",
                    "request", job->payload, "connection", ri.connection);
        return SG_OK;
    }
    if (strcmp(ri.kind, "webhook") != 0)
        return sg_err_set(SG_EUNAVAIL,
                          "the %s connector is not built yet; apply the change by hand", ri.kind);
    rc = webhook_send(app, &ri, job->payload, "fulfil",
                      strcmp(ri.action, "grant") == 0 ? "access.grant" : "access.revoke",
                      retry_after);
    if (rc != SG_OK)
        return rc;
    done_ctx d = {job->payload, "snowgate", "applied through the webhook connector", false};
    return sg_store_tx(app->store, done_tx, &d);
}

typedef struct fail_ctx {
    const char *id, *reason;
} fail_ctx;

static int fail_tx(sg_conn *c, void *ctx)
{
    fail_ctx *f = ctx;
    char state[16] = "";
    req_info ri;
    int rc = load(c, f->id, &ri);
    if (rc != SG_OK)
        return rc;
    sg_strlcpy(state, ri.state, sizeof(state));
    if (!sg_request_can_move(state, "failed"))
        return SG_OK;
    rc = sg_request_move(c, f->id, "failed", "snowgate", f->reason);
    if (rc != SG_OK)
        return rc;
    sg_val v[] = {SG_VTEXT(f->reason), SG_VTEXT(f->id)};
    return sg_conn_exec(c, "UPDATE requests SET reason = ?1 WHERE id = ?2", v, 2, NULL);
}

void sg_fulfil_gave_up(sg_app *app, const sg_job *job, const char *reason)
{
    fail_ctx f = {job->payload, reason};
    if (sg_store_tx(app->store, fail_tx, &f) != SG_OK)
        sg_log_error("could not mark the request failed", "request", job->payload, "reason",
                     sg_err_msg());
}

typedef struct expire_ctx {
    const char *id;
    bool by_hand;
} expire_ctx;

static int expire_tx(sg_conn *c, void *ctx)
{
    expire_ctx *x = ctx;
    req_info ri;
    int rc = load(c, x->id, &ri);
    if (rc == SG_ENOTFOUND)
        return SG_OK;
    if (rc != SG_OK || strcmp(ri.state, "fulfilled") != 0)
        return rc; /* already expired or revoked: idempotent */
    char note[640];
    if (x->by_hand)
        snprintf(note, sizeof(note),
                 "the grant's time is up; remove %s's access to %s in %s by hand (manual "
                 "connection)",
                 ri.beneficiary, ri.asset, ri.connection);
    else
        snprintf(note, sizeof(note), "the grant's time is up; revoked through %s", ri.connection);
    return sg_request_move(c, x->id, "expired", "snowgate", note);
}

int sg_expire_job(sg_app *app, const sg_job *job, int64_t *retry_after)
{
    req_info ri;
    int rc = read_info(app, job->payload, &ri);
    if (rc == SG_ENOTFOUND)
        return SG_OK;
    if (rc != SG_OK)
        return rc;
    if (strcmp(ri.state, "fulfilled") != 0)
        return SG_OK;
    if (strcmp(ri.kind, "postgres") == 0)
        return sg_err_set(SG_EUNAVAIL, "the %s connector is not built yet; revoke by hand",
                          ri.kind);
    if (strcmp(ri.kind, "webhook") == 0 &&
        (rc = webhook_send(app, &ri, job->payload, "expire", "access.revoke", retry_after)) !=
            SG_OK)
        return rc;
    expire_ctx x = {job->payload, strcmp(ri.kind, "manual") == 0};
    return sg_store_tx(app->store, expire_tx, &x);
}

typedef struct sweep_ctx {
    int64_t now;
} sweep_ctx;

static int sweep_tx(sg_conn *c, void *ctx)
{
    sweep_ctx *s = ctx;
    char now[32];
    sg_iso_from_unix(s->now, now);
    sg_rows *r = NULL;
    sg_val v[] = {SG_VTEXT(now)};
    int rc = sg_conn_query(c,
                           "SELECT id FROM requests WHERE state = 'fulfilled' AND expires_at IS "
                           "NOT NULL AND expires_at <= ?1 LIMIT 500",
                           v, 1, &r);
    if (rc != SG_OK)
        return rc;
    char ids[500][33];
    size_t n = 0;
    while (n < 500 && sg_rows_next(r) == 1)
        sg_strlcpy(ids[n++], sg_rows_text(r, 0), 33);
    sg_rows_free(r);
    for (size_t i = 0; rc == SG_OK && i < n; i++) {
        char key[64];
        snprintf(key, sizeof(key), "expire:%s", ids[i]);
        rc = sg_jobs_enqueue(c, "request.expire", ids[i], s->now, key, NULL);
    }
    return rc;
}

int sg_expiry_sweep(sg_app *app, int64_t now)
{
    sweep_ctx s = {now};
    return sg_store_tx(app->store, sweep_tx, &s);
}

typedef struct mark_ctx {
    const sg_user *caller;
    const char *id, *comment;
} mark_ctx;

static int mark_tx(sg_conn *c, void *ctx)
{
    mark_ctx *m = ctx;
    req_info ri;
    int rc = load(c, m->id, &ri);
    if (rc != SG_OK)
        return rc;
    if (!sg_request_may_decide(m->caller, ri.owners))
        return sg_err_set(SG_EFORBIDDEN,
                          "only the owners of %s, stewards and admins mark its "
                          "requests done",
                          ri.asset);
    if (strcmp(ri.kind, "manual") != 0)
        return sg_err_set(SG_ECONFLICT,
                          "%s is on the %s connection '%s', which snowgate "
                          "fulfils itself",
                          ri.asset, ri.kind, ri.connection);
    if (strcmp(ri.state, "approved") != 0)
        return sg_err_set(SG_ECONFLICT,
                          "request %s is %s; only approved requests are marked "
                          "done",
                          m->id, ri.state);
    char note[4200];
    snprintf(note, sizeof(note), "applied by hand%s%s", m->comment && *m->comment ? ": " : "",
             m->comment ? m->comment : "");
    done_ctx d = {m->id, m->caller->name, note, false};
    return done_tx(c, &d);
}

int sg_fulfil_mark_done(sg_app *app, const sg_user *caller, const char *id, const char *comment,
                        sg_json **out)
{
    *out = NULL;
    if (comment && strlen(comment) > 4000)
        return sg_err_set(SG_EINVAL, "\"comment\" is longer than 4000 bytes");
    mark_ctx m = {caller, id, comment};
    int rc = sg_store_tx(app->store, mark_tx, &m);
    if (rc == SG_ENOTFOUND)
        return sg_err_set(SG_ENOTFOUND, "request %s not found", id);
    if (rc != SG_OK)
        return rc;
    return sg_request_get(app, caller, id, out);
}
