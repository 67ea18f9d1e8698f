/* webhook: verify, deduplicate and store ServiceNow events. */
#include "gate/servicenow/webhook.h"

#include "core/metrics.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/webhook_sig.h"
#include "gate/servicenow/sync.h"
#include "gate/servicenow/webhook_keys.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct store_ctx {
    const char *id;
    const char *body;
    size_t len;
    bool duplicate;
} store_ctx;

static int store_tx(sg_conn *c, void *ctx)
{
    store_ctx *s = ctx;
    char now[32];
    sg_now_iso(now);
    int64_t seen = 0;
    sg_val k[] = {SG_VTEXT(s->id)};
    int rc = sg_conn_query_int(c, "SELECT COUNT(*) FROM webhook_events WHERE id = ?1", k, 1, &seen);
    if (rc != SG_OK)
        return rc;
    if (seen) {
        s->duplicate = true;
        return SG_OK;
    }
    sg_val v[] = {SG_VTEXT(s->id), SG_VTEXT("servicenow"), SG_VTEXT(now),
                  (sg_val){SG_V_TEXT, 0, s->body, s->len}};
    rc = sg_conn_exec(c,
                      "INSERT INTO webhook_events (id, source, received_at, body) "
                      "VALUES (?1, ?2, ?3, ?4)",
                      v, 4, NULL);
    if (rc == SG_ECONFLICT) { /* a concurrent delivery of the same id won */
        s->duplicate = true;
        return SG_OK;
    }
    if (rc != SG_OK)
        return rc;
    /* The re-read is queued in the same transaction: an accepted event is never lost. */
    sg_json *ev = NULL;
    if (sg_json_parse(s->body, s->len, 0, 0, &ev) == SG_OK)
        rc = sg_sync_enqueue(c, sg_json_get_str(ev, "correlation_id"), s->id);
    sg_json_decref(ev);
    return rc;
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

int sg_webhook_receive(sg_app *app, const char *id, const char *timestamp, const char *signature,
                       const char *body, size_t len, int64_t now, bool *duplicate)
{
    *duplicate = false;
    /* What no secret can make valid is refused before the secrets are looked at. */
    int rc = sg_webhook_sig_check_headers(id, timestamp, signature, now);
    if (rc != SG_OK) {
        refused(strstr(sg_err_msg(), "missing") ? "missing_header" : "timestamp");
        return sg_err_set(SG_EAUTH, "invalid webhook signature");
    }
    /* The cached secrets (webhook_keys); after a rotation, events ServiceNow signed with the old
     * secret still count for the grace period (servicenow.webhook_secret_grace). */
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
    if (!sg_str_printable(id, strlen(id))) {
        count("rejected", "bad_id");
        return sg_err_set(SG_EAUTH, "invalid webhook id");
    }
    store_ctx s = {id, body, len, false};
    /* Group commit: concurrent deliveries share one fsync; each is durable before its 2xx. */
    rc = sg_store_tx_group(app->store, store_tx, &s);
    if (rc != SG_OK) {
        count("rejected", "store");
        return rc;
    }
    count(s.duplicate ? "duplicate" : "accepted", "");
    *duplicate = s.duplicate;
    /* Debug: at full rate this would be thousands of lines a second; the re-read it queues
     * logs what matters. */
    sg_log_debug(s.duplicate ? "webhook redelivered" : "webhook accepted", "webhook_id", id);
    return SG_OK;
}
