/* webhook: verify, deduplicate and store ServiceNow events. */
#include "gate/servicenow/webhook.h"

#include "core/metrics.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/webhook_sig.h"
#include "gate/servicenow/sync.h"
#include "gate/servicenow/webhook_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One event on its way into the store. id and body are the caller's; correlation_id is read
 * from the body before the event queues, so the committer's serial work stays SQL alone. */
typedef struct store_ctx {
    const char *id;
    const char *body;
    size_t len;
    char *correlation_id; /* owned; NULL when the body names none */
    bool duplicate;
    sg_webhook_stored_fn done; /* async only */
    void *ud;
} store_ctx;

static void store_ctx_init(store_ctx *s, const char *id, const char *body, size_t len)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->body = body;
    s->len = len;
    sg_json *ev = NULL;
    if (sg_json_parse(body, len, 0, 0, &ev) == SG_OK) {
        const char *corr = sg_json_get_str(ev, "correlation_id");
        s->correlation_id = corr ? sg_xstrdup(corr) : NULL;
    }
    sg_json_decref(ev);
}

static int store_tx(sg_conn *c, void *ctx)
{
    store_ctx *s = ctx;
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(s->id), SG_VTEXT("servicenow"), SG_VTEXT(now),
                  (sg_val){SG_V_TEXT, 0, s->body, s->len}};
    /* One statement: an id stored before (a redelivery) inserts nothing. */
    int64_t added = 0;
    int rc = sg_conn_exec(c,
                          "INSERT INTO webhook_events (id, source, received_at, body) "
                          "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
                          v, 4, &added);
    if (rc != SG_OK)
        return rc;
    if (added == 0) {
        s->duplicate = true;
        return SG_OK;
    }
    /* The re-read is queued in the same transaction: an accepted event is never lost. */
    return sg_sync_enqueue(c, s->correlation_id, s->id);
}

static void count(const char *outcome, const char *reason)
{
    char labels[96];
    sg_metrics_labels(labels, sizeof(labels), "outcome", outcome, "reason", reason,
                      (const char *)NULL);
    sg_metrics_inc("snowgate_webhooks_total", labels, 1);
}

static void refused(const char *reason)
{
    count("rejected", reason);
    sg_log_warn("webhook refused", "reason", sg_err_msg());
}

/* Both verifying halves. settled NULL: the full check (sg_webhook_verify), which may read the
 * store; else the cached secret alone (sg_webhook_verify_quick). */
static int verify(sg_app *app, const char *id, const char *timestamp, const char *signature,
                  const char *body, size_t len, int64_t now, bool *settled)
{
    if (settled)
        *settled = true;
    /* What no secret can make valid is refused before the secrets are looked at. */
    int rc = sg_webhook_sig_check_headers(id, timestamp, signature, now);
    if (rc != SG_OK) {
        refused(strstr(sg_err_msg(), "missing") ? "missing_header" : "timestamp");
        return sg_err_set(SG_EAUTH, "invalid webhook signature");
    }
    if (settled) {
        if (!sg_webhook_keys_match_cached(app, id, timestamp, signature, body, len, now)) {
            *settled = false;
            return SG_OK;
        }
    } else {
        /* The cached secrets (webhook_keys); after a rotation, events ServiceNow signed with
         * the old secret still count for the grace period (servicenow.webhook_secret_grace). */
        bool by_previous = false;
        rc = sg_webhook_keys_verify(app, id, timestamp, signature, body, len, now, &by_previous);
        if (rc == SG_EAUTH) {
            refused("signature");
            return sg_err_set(SG_EAUTH, "invalid webhook signature");
        }
        if (rc == SG_EINTERNAL) { /* refused as before, and the sender learns nothing of it */
            count("rejected", "error");
            sg_log_error("webhook refused", "reason", sg_err_msg());
            return sg_err_set(SG_EAUTH, "invalid webhook signature");
        }
        if (rc != SG_OK) {
            count("rejected", rc == SG_ENOTFOUND ? "not_configured" : "error");
            return rc;
        }
        if (by_previous)
            sg_metrics_inc("snowgate_webhooks_previous_secret_total", "", 1);
    }
    if (!sg_str_printable(id, strlen(id))) {
        count("rejected", "bad_id");
        return sg_err_set(SG_EAUTH, "invalid webhook id");
    }
    return SG_OK;
}

int sg_webhook_verify(sg_app *app, const char *id, const char *timestamp, const char *signature,
                      const char *body, size_t len, int64_t now)
{
    return verify(app, id, timestamp, signature, body, len, now, NULL);
}

int sg_webhook_verify_quick(sg_app *app, const char *id, const char *timestamp,
                            const char *signature, const char *body, size_t len, int64_t now,
                            bool *settled)
{
    return verify(app, id, timestamp, signature, body, len, now, settled);
}

/* Counts and logs a stored (or not) event. */
static void stored(const store_ctx *s, int rc)
{
    if (rc != SG_OK) {
        count("rejected", "store");
        return;
    }
    count(s->duplicate ? "duplicate" : "accepted", "");
    /* Debug: at full rate this would be thousands of lines a second; the re-read it queues
     * logs what matters. */
    sg_log_debug(s->duplicate ? "webhook redelivered" : "webhook accepted", "webhook_id", s->id);
}

int sg_webhook_store(sg_app *app, const char *id, const char *body, size_t len, bool *duplicate)
{
    store_ctx s;
    store_ctx_init(&s, id, body, len);
    /* Group commit: concurrent deliveries share one fsync; each is durable before its 2xx. */
    int rc = sg_store_tx_group(app->store, store_tx, &s);
    stored(&s, rc);
    *duplicate = s.duplicate;
    free(s.correlation_id);
    return rc;
}

static void store_done(void *ud, int rc, const char *msg)
{
    store_ctx *s = ud;
    if (rc != SG_OK)
        sg_err_set(rc, "%s", msg);
    stored(s, rc);
    s->done(s->ud, rc, s->duplicate);
    free(s->correlation_id);
    free(s);
}

int sg_webhook_store_async(sg_app *app, const char *id, const char *body, size_t len,
                           sg_webhook_stored_fn done, void *ud)
{
    store_ctx *s = sg_xmalloc(sizeof(*s));
    store_ctx_init(s, id, body, len);
    s->done = done;
    s->ud = ud;
    int rc = sg_store_tx_group_async(app->store, store_tx, s, store_done, s);
    if (rc != SG_OK) {
        count("rejected", "store");
        free(s->correlation_id);
        free(s);
    }
    return rc;
}

int sg_webhook_receive(sg_app *app, const char *id, const char *timestamp, const char *signature,
                       const char *body, size_t len, int64_t now, bool *duplicate)
{
    *duplicate = false;
    int rc = sg_webhook_verify(app, id, timestamp, signature, body, len, now);
    return rc == SG_OK ? sg_webhook_store(app, id, body, len, duplicate) : rc;
}
