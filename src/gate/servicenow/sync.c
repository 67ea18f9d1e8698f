/* sync: re-reads a request's ServiceNow record and applies the decision it carries. */
#include "gate/servicenow/sync.h"

#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "gate/governance/requests.h"
#include "gate/servicenow/client.h"
#include "gate/servicenow/connect.h"
#include "gate/servicenow/integration.h"
#include "http/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CORR_PREFIX "snowgate:"

static bool eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

int sg_sync_enqueue(sg_conn *c, const char *correlation_id, const char *cause)
{
    if (!correlation_id || !sg_str_startswith(correlation_id, CORR_PREFIX))
        return SG_OK;
    const char *id = correlation_id + strlen(CORR_PREFIX);
    int64_t n = 0;
    sg_val k[] = {SG_VTEXT(id)};
    int rc = sg_conn_query_int(c, "SELECT COUNT(*) FROM requests WHERE id = ?1", k, 1, &n);
    if (rc != SG_OK || n == 0)
        return rc; /* the connection test's sample request, or not ours */
    char key[256];
    snprintf(key, sizeof(key), "sync:%s:%.200s", id, cause);
    return sg_jobs_enqueue(c, "servicenow.sync", id, (int64_t)time(NULL), key, NULL);
}

typedef struct sn_id_ctx {
    const char *id;
    char sys_id[33];
    bool revoke;
} sn_id_ctx;

static int sn_id_tx(sg_conn *c, void *ctx)
{
    sn_id_ctx *x = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(x->id)};
    int rc = sg_conn_query(c, "SELECT sn_sys_id, action FROM requests WHERE id = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1) {
        if (!sg_rows_null(r, 0))
            sg_strlcpy(x->sys_id, sg_rows_text(r, 0), sizeof(x->sys_id));
        x->revoke = strcmp(sg_rows_text(r, 1), "revoke") == 0;
    }
    sg_rows_free(r);
    return SG_OK;
}

#define CANCEL_REFUSED                                                                             \
    "cancellation in ServiceNow refused: a revoke is cancelled in snowgate, by its requester or "  \
    "an admin (ServiceNow's record names only the user who changed it last, not who closed it, "   \
    "so the person losing the access could have closed it)"

/* Applies a cancellation made in ServiceNow. A grant's is taken as ServiceNow's (its
 * beneficiary may withdraw it: that only costs them their own access). A revoke's never is:
 * sys_updated_by names whoever touched the record last, so a later edit by the requester or an
 * admin would pass off the beneficiary's cancellation as theirs. It is refused, recorded once
 * in the request's history and the audit log, and the revoke goes on; its requester or an
 * admin cancels it in snowgate if it must stop. */
static int apply_cancel(sg_app *app, const sn_id_ctx *x, const char *updated_by, sg_json **out)
{
    const char *who = updated_by ? updated_by : "";
    char actor[128];
    snprintf(actor, sizeof(actor), "servicenow%s%.100s", who[0] ? ":" : "", who);
    sg_sn_decision d = {.to = "cancelled", .actor = actor, .comment = "cancelled in ServiceNow"};
    if (!x->revoke)
        return sg_request_decide_from_servicenow(app, x->id, &d, out);
    sg_log_warn("ServiceNow cancellation of a revoke refused", "request", x->id, "by", who);
    return sg_request_flag_once(app, x->id, actor, SG_ORIGIN_SERVICENOW, "cancelled",
                                CANCEL_REFUSED);
}

/* The approver's latest comment on approval record approval_id: comments is a journal field,
 * which the Table API reads as empty on the record itself, so it comes from sys_journal_field. */
static void comment_of(sg_app *app, const char *base, const char *token, const char *approval_id,
                       char comment[1024])
{
    char path[400];
    snprintf(path, sizeof(path),
             "/api/now/table/sys_journal_field?sysparm_query=name%%3Dsysapproval_approver"
             "%%5Eelement%%3Dcomments%%5Eelement_id%%3D%s%%5EORDERBYDESCsys_created_on&"
             "sysparm_fields=value&sysparm_limit=1",
             approval_id);
    long st = 0;
    sg_json *j = NULL;
    if (sn_call(app, base, token, "GET", path, NULL, &st, &j) == SG_OK && st == 200) {
        const char *v = sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "value");
        if (v)
            sg_strlcpy(comment, v, 1024);
    }
    sg_json_decref(j);
}

/* The approver (user name) and comment of the approval record in `state`, if any. */
static void approver_of(sg_app *app, const char *base, const char *token, const char *sys_id,
                        const char *state, char who[128], char who_id[33], char who_email[256],
                        char comment[1024])
{
    char path[400];
    snprintf(path, sizeof(path),
             "/api/now/table/sysapproval_approver?sysparm_query=sysapproval%%3D%s%%5Estate%%3D%s"
             "%%5EORDERBYDESCsys_updated_on&sysparm_fields=sys_id,approver,approver.user_name,"
             "approver.email&"
             "sysparm_exclude_reference_link=true&sysparm_limit=1",
             sys_id, state);
    long st = 0;
    sg_json *j = NULL;
    who[0] = who_id[0] = who_email[0] = comment[0] = '\0';
    char approval_id[33] = "";
    if (sn_call(app, base, token, "GET", path, NULL, &st, &j) == SG_OK && st == 200) {
        sg_json *a = sg_json_array_get(sg_json_get(j, "result"), 0);
        const char *u = sg_json_get_str(a, "approver.user_name");
        const char *uid = sg_json_get_str(a, "approver");
        const char *mail = sg_json_get_str(a, "approver.email");
        if (mail)
            sg_strlcpy(who_email, mail, 256);
        const char *aid = sg_json_get_str(a, "sys_id");
        if (u)
            sg_strlcpy(who, u, 128);
        if (uid)
            sg_strlcpy(who_id, uid, 33);
        if (aid && strlen(aid) == 32 && strspn(aid, "0123456789abcdef") == 32)
            sg_strlcpy(approval_id, aid, sizeof(approval_id));
    }
    sg_json_decref(j);
    if (approval_id[0])
        comment_of(app, base, token, approval_id, comment);
}

int sg_sync_job(sg_app *app, const sg_job *job, int64_t *retry_after)
{
    (void)retry_after;
    sn_id_ctx x = {.id = job->payload};
    int rc = sg_store_read(app->store, sn_id_tx, &x);
    if (rc != SG_OK)
        return rc;
    if (!x.sys_id[0])
        return sg_err_set(SG_EUNAVAIL, "request %s is not mirrored to ServiceNow yet", x.id);
    char base[256], *token = NULL;
    rc = sg_servicenow_session(app, base, &token);
    if (rc != SG_OK)
        return rc;
    char path[200];
    snprintf(path, sizeof(path),
             "/api/now/table/sc_request/%s?sysparm_fields=approval,request_state,correlation_id,"
             "sys_updated_by",
             x.sys_id);
    long st = 0;
    sg_json *j = NULL;
    rc = sn_call(app, base, token, "GET", path, NULL, &st, &j);
    if (rc == SG_OK && st != 200)
        rc = sg_err_set(st == 429 || st >= 500 ? SG_EUNAVAIL : SG_ENET,
                        "ServiceNow answered HTTP %ld reading the request", st);
    sg_json *rec = sg_json_get(j, "result");
    char corr[64];
    snprintf(corr, sizeof(corr), CORR_PREFIX "%s", x.id);
    const char *approval = sg_json_get_str(rec, "approval");
    const char *state = sg_json_get_str(rec, "request_state");
    /* Never act on a record that is not the one we mirrored. */
    if (rc == SG_OK && !eq(sg_json_get_str(rec, "correlation_id"), corr))
        rc = sg_err_set(SG_EINVAL, "ServiceNow record %s is not snowgate request %s", x.sys_id,
                        x.id);
    const char *decision = NULL;
    if (rc == SG_OK && eq(approval, "approved"))
        decision = "approved";
    else if (rc == SG_OK && eq(approval, "rejected"))
        decision = "rejected";
    else if (rc == SG_OK && eq(state, "closed_cancelled"))
        decision = "cancelled";
    if (decision && strcmp(decision, "cancelled") == 0) {
        sg_json *out = NULL;
        int d = apply_cancel(app, &x, sg_json_get_str(rec, "sys_updated_by"), &out);
        sg_json_decref(out);
        if (d == SG_ECONFLICT || d == SG_EFORBIDDEN)
            sg_log_info("ServiceNow cancellation not applied", "request", x.id, "reason",
                        sg_err_msg());
        else
            rc = d;
        decision = NULL;
    }
    if (decision) {
        char who[128], who_id[33], who_email[256], comment[1024];
        approver_of(app, base, token, x.sys_id, decision, who, who_id, who_email, comment);
        /* The decision is ServiceNow's, named after the approver; governance checks what
         * applies to it (no self-approval) and records it with origin servicenow. */
        char actor[128];
        if (who[0])
            snprintf(actor, sizeof(actor), "servicenow:%.100s", who);
        else
            snprintf(actor, sizeof(actor), "servicenow");
        sg_sn_decision sd = {.to = decision,
                             .actor = actor,
                             .approver_sys_id = who_id,
                             .approver_email = who_email,
                             .comment = comment};
        sg_json *out = NULL;
        int d = sg_request_decide_from_servicenow(app, x.id, &sd, &out);
        sg_json_decref(out);
        if (d == SG_ECONFLICT || d == SG_EFORBIDDEN)
            sg_log_info("ServiceNow decision not applied", "request", x.id, "reason", sg_err_msg());
        else
            rc = d;
    }
    sg_json_decref(j);
    sg_secrets_free_plain(token);
    return rc;
}

#define WATERMARK "servicenow.reconcile_watermark"

static int watermark_tx(sg_conn *c, void *ctx)
{
    char *wm = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(WATERMARK)};
    int rc = sg_conn_query(c, "SELECT value FROM settings WHERE key = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1)
        sg_strlcpy(wm, sg_rows_text(r, 0), 32);
    sg_rows_free(r);
    return SG_OK;
}

typedef struct queue_ctx {
    sg_json *list;
    char newest[32];
} queue_ctx;

static int queue_tx(sg_conn *c, void *ctx)
{
    queue_ctx *q = ctx;
    int rc = SG_OK;
    for (size_t i = 0; rc == SG_OK && i < sg_json_array_size(q->list); i++) {
        sg_json *rec = sg_json_array_get(q->list, i);
        const char *upd = sg_json_get_str(rec, "sys_updated_on");
        if (!upd || strlen(upd) > 31)
            continue;
        /* sys_mod_count too: two changes within one second share sys_updated_on, and the
         * second must not be taken for the first (whose sync may have run before it). */
        const char *mods = sg_json_get_str(rec, "sys_mod_count");
        char cause[96];
        snprintf(cause, sizeof(cause), "reconcile:%s:%.20s", upd, mods ? mods : "");
        rc = sg_sync_enqueue(c, sg_json_get_str(rec, "correlation_id"), cause);
        if (strcmp(upd, q->newest) > 0)
            sg_strlcpy(q->newest, upd, sizeof(q->newest));
    }
    if (rc != SG_OK || !q->newest[0])
        return rc;
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(WATERMARK), SG_VTEXT(q->newest), SG_VTEXT(now)};
    return sg_conn_exec(c,
                        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) ON "
                        "CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = "
                        "excluded.updated_at",
                        v, 3, NULL);
}

int sg_reconcile(sg_app *app)
{
    sg_integration in;
    if (sg_integration_get(app, &in) != SG_OK || !sg_integration_callable(&in))
        return SG_OK;
    char wm[32] = "1970-01-01 00:00:00";
    int rc = sg_store_read(app->store, watermark_tx, wm);
    if (rc != SG_OK)
        return rc;
    char base[256], *token = NULL;
    rc = sg_servicenow_session(app, base, &token);
    if (rc != SG_OK)
        return rc;
    /* >= and not >: records changed within the watermark's second are seen again, and the
     * per-change dedup key keeps that from queueing a second sync. */
    char *esc = sg_http_escape(wm);
    char path[512];
    snprintf(path, sizeof(path),
             "/api/now/table/sc_request?sysparm_query=correlation_idSTARTSWITHsnowgate%%3A%%5E"
             "sys_updated_on%%3E%%3D%s%%5EORDERBYsys_updated_on&sysparm_fields=correlation_id,"
             "sys_updated_on,sys_mod_count&sysparm_limit=500",
             esc);
    free(esc);
    long st = 0;
    sg_json *j = NULL;
    rc = sn_call(app, base, token, "GET", path, NULL, &st, &j);
    sg_secrets_free_plain(token);
    if (rc == SG_OK && st != 200)
        rc = sg_err_set(SG_ENET, "ServiceNow answered HTTP %ld to the reconciler", st);
    if (rc == SG_OK) {
        queue_ctx q = {sg_json_get(j, "result"), ""};
        rc = sg_store_tx(app->store, queue_tx, &q);
    }
    sg_json_decref(j);
    return rc;
}
