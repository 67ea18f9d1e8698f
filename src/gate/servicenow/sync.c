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
    /* A re-read already waiting reads what this change did too: one re-read, not one per
     * webhook and reconciler sighting. */
    return sg_jobs_enqueue_coalesced(c, "servicenow.sync", id, (int64_t)time(NULL), key, NULL);
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
                       const char *approver, char comment[1024])
{
    char path[400];
    snprintf(path, sizeof(path),
             "/api/now/table/sys_journal_field?sysparm_query=name%%3Dsysapproval_approver"
             "%%5Eelement%%3Dcomments%%5Eelement_id%%3D%s%%5EORDERBYDESCsys_created_on&"
             "sysparm_fields=value,element_id,sys_created_by&sysparm_limit=1",
             approval_id);
    long st = 0;
    sg_json *j = NULL;
    comment[0] = '\0';
    if (sn_call(app, base, token, "GET", path, NULL, &st, &j) == SG_OK && st == 200) {
        sg_json *e = sg_json_array_get(sg_json_get(j, "result"), 0);
        /* An instance that ignored part of the query could answer another record's entry;
         * and only the approver's own words are their comment, not a later one by someone
         * else who may comment on the approval. */
        const char *v = sg_json_get_str(e, "value");
        if (v && eq(sg_json_get_str(e, "element_id"), approval_id) &&
            eq(sg_json_get_str(e, "sys_created_by"), approver))
            sg_strlcpy(comment, v, 1024);
    }
    sg_json_decref(j);
}

/* What ServiceNow's records say of a request. */
typedef struct sn_view {
    const char *decision; /* "approved", "rejected", "cancelled" or NULL */
    char updated_by[128]; /* sc_request.sys_updated_by (read for a cancellation) */
    sg_sync_verdict a;    /* what its approvals say: the approver, or a refusal */
    int calls;
} sn_view;

static int http_error(long st, const char *what)
{
    return sg_err_set(sn_status_error(st), "ServiceNow answered HTTP %ld reading %s", st, what);
}

static const char *str_or(const sg_json *o, const char *key, const char *dflt)
{
    const char *s = sg_json_get_str(o, key);
    return s && *s ? s : dflt;
}

/* Whether approval record a was set by someone other than its approver: ServiceNow stamps
 * every write with the user who made it (sys_updated_by), and an itil user or an admin may
 * write anyone's approval. Unknown on either side counts as someone else. */
static bool set_by_other(const sg_json *a)
{
    const char *by = sg_json_get_str(a, "sys_updated_by");
    const char *approver = sg_json_get_str(a, "approver.user_name");
    return !by || !*by || !eq(by, approver);
}

static void refuse_set_by_other(sg_sync_verdict *out, const sg_json *a, const char *state)
{
    snprintf(out->refused, sizeof(out->refused),
             "decision in ServiceNow refused: the approval of %.100s was set to %s by %.100s, "
             "not by the approver",
             str_or(a, "approver.user_name", "an unnamed approver"), state,
             str_or(a, "sys_updated_by", "an unnamed user"));
    const char *by = sg_json_get_str(a, "sys_updated_by");
    snprintf(out->actor, sizeof(out->actor), "servicenow%s%.100s", by && *by ? ":" : "",
             by ? by : "");
}

int sg_sync_weigh_approvals(const sg_json *list, const char *sys_id, const char *corr,
                            sg_sync_verdict *out)
{
    memset(out, 0, sizeof(*out));
    size_t n = sg_json_array_size(list);
    const char *approval = sg_json_get_str(sg_json_array_get(list, 0), "sysapproval.approval");
    for (size_t i = 0; i < n; i++) {
        const sg_json *a = sg_json_array_get(list, i);
        /* ServiceNow ignores query parts it does not understand: never take another record's
         * approval for this one's, nor a record that is not the one we mirrored. */
        if (!eq(sg_json_get_str(a, "sysapproval"), sys_id) ||
            !eq(sg_json_get_str(a, "sysapproval.correlation_id"), corr))
            return sg_err_set(SG_EINVAL, "ServiceNow answered approvals that are not of record %s",
                              sys_id);
        const char *ai = sg_json_get_str(a, "sysapproval.approval");
        bool same = ai && approval ? strcmp(ai, approval) == 0 : ai == approval;
        if (!same)
            return sg_err_set(SG_EINVAL,
                              "ServiceNow answered approvals of record %s that disagree on its "
                              "approval",
                              sys_id);
    }
    const char *decision = eq(approval, "approved")   ? "approved"
                           : eq(approval, "rejected") ? "rejected"
                                                      : NULL;
    const sg_json *credited = NULL;
    for (size_t i = 0; decision && !credited && i < n; i++)
        if (eq(sg_json_get_str(sg_json_array_get(list, i), "state"), decision))
            credited = sg_json_array_get(list, i);
    if (!credited)
        return SG_OK; /* no approval names the approver: the record itself is read */
    out->decision = decision;
    sg_strlcpy(out->who, str_or(credited, "approver.user_name", ""), sizeof(out->who));
    sg_strlcpy(out->who_id, str_or(credited, "approver", ""), sizeof(out->who_id));
    sg_strlcpy(out->who_email, str_or(credited, "approver.email", ""), sizeof(out->who_email));
    if (sn_is_sys_id(sg_json_get_str(credited, "sys_id")))
        sg_strlcpy(out->approval_id, sg_json_get_str(credited, "sys_id"), sizeof(out->approval_id));
    snprintf(out->actor, sizeof(out->actor), "servicenow%s%.100s", out->who[0] ? ":" : "",
             out->who);
    if (strcmp(decision, "rejected") == 0) {
        /* One rejection rejects: the one credited must be its approver's own. */
        if (set_by_other(credited))
            refuse_set_by_other(out, credited, decision);
        return SG_OK;
    }
    /* An approval rests on every approval of the request: each approved one must be its
     * approver's own, and none may be rejected or still awaited (ServiceNow's aggregate says
     * approved only when all approved; a request that reads approved anyway was set so by
     * hand, or its approvals changed since). */
    for (size_t i = 0; i < n; i++) {
        const sg_json *a = sg_json_array_get(list, i);
        if (eq(sg_json_get_str(a, "state"), "approved") && set_by_other(a)) {
            refuse_set_by_other(out, a, "approved");
            return SG_OK;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const sg_json *a = sg_json_array_get(list, i);
        const char *st = sg_json_get_str(a, "state");
        if (eq(st, "rejected") || eq(st, "requested")) {
            snprintf(out->refused, sizeof(out->refused),
                     "approval in ServiceNow refused: the request reads approved, but the "
                     "approval of %.100s is %s",
                     str_or(a, "approver.user_name", "an unnamed approver"), st);
            return SG_OK;
        }
    }
    if (n >= SG_SYNC_APPROVALS_MAX)
        snprintf(out->refused, sizeof(out->refused),
                 "approval in ServiceNow refused: the request has %d approvals or more, more "
                 "than snowgate reads; it is decided in snowgate",
                 SG_SYNC_APPROVALS_MAX);
    return SG_OK;
}

/* The decision and its approver in one call: every approval record of the request, newest
 * first, each with the request's own approval and correlation_id dot-walked, weighed by
 * sg_sync_weigh_approvals. *found is false when they do not settle it (no approval in the
 * state the request's approval is in, or that is neither approved nor rejected): then the
 * record itself is read (read_record). */
static int read_approvals(sg_app *app, const char *base, const char *token, const sn_id_ctx *x,
                          const char *corr, sn_view *v, bool *found)
{
    *found = false;
    char path[600];
    snprintf(path, sizeof(path),
             "/api/now/table/sysapproval_approver?sysparm_query=sysapproval%%3D%s"
             "%%5EORDERBYDESCsys_updated_on&sysparm_fields=sys_id,state,sys_updated_by,"
             "sysapproval,approver,approver.user_name,approver.email,sysapproval.approval,"
             "sysapproval.correlation_id&sysparm_exclude_reference_link=true&sysparm_limit=%d",
             x->sys_id, SG_SYNC_APPROVALS_MAX);
    long st = 0;
    sg_json *j = NULL;
    v->calls++;
    int rc = sn_call(app, base, token, "GET", path, NULL, &st, &j);
    if (rc == SG_OK && (st == 401 || st == 403)) {
        /* Approvals the service account may not read: the record still tells a
         * cancellation (a decision then names no approver, and is refused). */
        sg_log_warn("ServiceNow refused reading the request's approvals; reading the request",
                    "status", st == 401 ? "401" : "403");
        sg_json_decref(j);
        return SG_OK;
    }
    if (rc == SG_OK && st != 200)
        rc = http_error(st, "the request's approvals");
    if (rc == SG_OK)
        rc = sg_sync_weigh_approvals(sg_json_get(j, "result"), x->sys_id, corr, &v->a);
    if (rc == SG_OK && v->a.decision) {
        v->decision = v->a.decision;
        *found = true;
    }
    sg_json_decref(j);
    return rc;
}

/* The request's record itself: its approval (with no approver named: a decision set on the
 * record, not through an approval) or its cancellation. */
static int read_record(sg_app *app, const char *base, const char *token, const sn_id_ctx *x,
                       const char *corr, sn_view *v)
{
    char path[200];
    snprintf(path, sizeof(path),
             "/api/now/table/sc_request/%s?sysparm_fields=approval,request_state,correlation_id,"
             "sys_updated_by",
             x->sys_id);
    long st = 0;
    sg_json *j = NULL;
    v->calls++;
    int rc = sn_call(app, base, token, "GET", path, NULL, &st, &j);
    if (rc == SG_OK && st != 200)
        rc = http_error(st, "the request");
    sg_json *rec = sg_json_get(j, "result");
    const char *approval = sg_json_get_str(rec, "approval");
    const char *state = sg_json_get_str(rec, "request_state");
    const char *by = sg_json_get_str(rec, "sys_updated_by");
    /* Never act on a record that is not the one we mirrored. */
    if (rc == SG_OK && !eq(sg_json_get_str(rec, "correlation_id"), corr))
        rc = sg_err_set(SG_EINVAL, "ServiceNow record %s is not snowgate request %s", x->sys_id,
                        x->id);
    if (rc == SG_OK && eq(approval, "approved"))
        v->decision = "approved";
    else if (rc == SG_OK && eq(approval, "rejected"))
        v->decision = "rejected";
    else if (rc == SG_OK && eq(state, "closed_cancelled"))
        v->decision = "cancelled";
    sg_strlcpy(v->updated_by, by ? by : "", sizeof(v->updated_by));
    sg_json_decref(j);
    return rc;
}

/* Applies an approval or rejection made in ServiceNow. The approver's comment is read after
 * the decision is applied (and the grant queued), so that it never delays the grant. */
static int apply_decision(sg_app *app, const char *base, const char *token, const sn_id_ctx *x,
                          const sn_view *v)
{
    /* The decision is ServiceNow's, named after whoever made it; governance checks what
     * applies to it (a refusal found in the approvals, who the approver is in snowgate) and
     * records it with origin servicenow. */
    const char *actor = v->a.actor[0] ? v->a.actor : "servicenow";
    sg_sn_decision sd = {.to = v->decision,
                         .actor = actor,
                         .approver_sys_id = v->a.who_id,
                         .approver_email = v->a.who_email,
                         .refused = v->a.refused,
                         .comment = NULL};
    sg_json *out = NULL;
    struct timespec t0 = sg_mono_now();
    char ms[32];
    int rc = sg_request_decide_from_servicenow(app, x->id, &sd, &out);
    sg_json_decref(out);
    sg_log_debug("decision applied", "decision", v->decision, "ms", sg_ms_since(&t0, ms));
    if (rc == SG_ECONFLICT || rc == SG_EFORBIDDEN) {
        sg_log_info("ServiceNow decision not applied", "request", x->id, "reason", sg_err_msg());
        return SG_OK;
    }
    if (rc != SG_OK || !v->a.approval_id[0] || !v->a.who[0])
        return rc;
    char comment[1024];
    comment_of(app, base, token, v->a.approval_id, v->a.who, comment);
    if (comment[0] &&
        sg_request_comment_from_servicenow(app, x->id, v->decision, actor, comment) != SG_OK)
        sg_log_warn("could not record the approver's comment", "request", x->id, "reason",
                    sg_err_msg());
    return SG_OK;
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
    char corr[64];
    snprintf(corr, sizeof(corr), CORR_PREFIX "%s", x.id);
    sn_view v = {0};
    bool found = false;
    struct timespec t0 = sg_mono_now();
    char ms[32], calls[16];
    rc = read_approvals(app, base, token, &x, corr, &v, &found);
    if (rc == SG_OK && !found) {
        rc = read_record(app, base, token, &x, corr, &v);
        /* An approval decided between the two reads: the record says so, and its approver
         * is named now (otherwise the decision would be refused as naming no approver). */
        if (rc == SG_OK && v.decision && strcmp(v.decision, "cancelled") != 0) {
            sn_view again = {.calls = v.calls};
            rc = read_approvals(app, base, token, &x, corr, &again, &found);
            if (rc == SG_OK && found)
                v = again;
            else
                v.calls = again.calls;
        }
    }
    snprintf(calls, sizeof(calls), "%d", v.calls);
    sg_log_debug("decision read", "decision", v.decision ? v.decision : "none", "calls", calls,
                 "ms", sg_ms_since(&t0, ms));
    if (rc == SG_OK && eq(v.decision, "cancelled")) {
        sg_json *out = NULL;
        int d = apply_cancel(app, &x, v.updated_by, &out);
        sg_json_decref(out);
        if (d == SG_ECONFLICT || d == SG_EFORBIDDEN)
            sg_log_info("ServiceNow cancellation not applied", "request", x.id, "reason",
                        sg_err_msg());
        else
            rc = d;
    } else if (rc == SG_OK && v.decision) {
        rc = apply_decision(app, base, token, &x, &v);
    }
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
    bool advance; /* move the watermark to the newest change seen */
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
    if (rc != SG_OK || !q->newest[0] || !q->advance)
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

/* Records per page, and pages per run: a run reads up to 10,000 changes; more wait for the
 * next run, which starts where this one left off. */
#define RECONCILE_PAGE  500
#define RECONCILE_PAGES 20

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
     * per-change dedup key keeps that from queueing a second sync. Only the first page moves
     * the watermark: it is one consistent answer, so every change before its newest is in it.
     * The later pages (offsets into a set that may change between calls, where a record can
     * slip past a page boundary) only queue syncs early; what they miss, the next run, which
     * starts from the first page's newest, sees again. */
    char *esc = sg_http_escape(wm);
    size_t n = RECONCILE_PAGE;
    for (int page = 0; rc == SG_OK && n == RECONCILE_PAGE && page < RECONCILE_PAGES; page++) {
        char path[600];
        snprintf(path, sizeof(path),
                 "/api/now/table/sc_request?sysparm_query=correlation_idSTARTSWITHsnowgate%%3A"
                 "%%5Esys_updated_on%%3E%%3D%s%%5EORDERBYsys_updated_on%%5EORDERBYsys_id&"
                 "sysparm_fields=correlation_id,sys_updated_on,sys_mod_count&"
                 "sysparm_limit=%d&sysparm_offset=%d&sysparm_no_count=true",
                 esc, RECONCILE_PAGE, page * RECONCILE_PAGE);
        long st = 0;
        sg_json *j = NULL;
        rc = sn_call(app, base, token, "GET", path, NULL, &st, &j);
        if (rc == SG_OK && st != 200)
            rc = sg_err_set(SG_ENET, "ServiceNow answered HTTP %ld to the reconciler", st);
        n = sg_json_array_size(sg_json_get(j, "result"));
        if (rc == SG_OK) {
            queue_ctx q = {sg_json_get(j, "result"), "", page == 0};
            rc = sg_store_tx(app->store, queue_tx, &q);
        }
        sg_json_decref(j);
    }
    free(esc);
    sg_secrets_free_plain(token);
    return rc;
}
