/* sync: re-reads a request's ServiceNow record and applies the decision it carries. */
#include "gate/servicenow/sync.h"

#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "gate/governance/requests.h"
#include "gate/servicenow/client.h"
#include "gate/servicenow/connect.h"

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
} sn_id_ctx;

static int sn_id_tx(sg_conn *c, void *ctx)
{
    sn_id_ctx *x = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(x->id)};
    int rc = sg_conn_query(c, "SELECT sn_sys_id FROM requests WHERE id = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1 && !sg_rows_null(r, 0))
        sg_strlcpy(x->sys_id, sg_rows_text(r, 0), sizeof(x->sys_id));
    sg_rows_free(r);
    return SG_OK;
}

/* The approver (user name) and comment of the approval record in `state`, if any. */
static void approver_of(sg_app *app, const char *base, const char *token, const char *sys_id,
                        const char *state, char who[128], char comment[1024])
{
    char path[300];
    snprintf(path, sizeof(path),
             "/api/now/table/sysapproval_approver?sysparm_query=sysapproval%%3D%s%%5Estate%%3D%s"
             "%%5EORDERBYDESCsys_updated_on&sysparm_fields=approver.user_name,comments&"
             "sysparm_limit=1",
             sys_id, state);
    long st = 0;
    sg_json *j = NULL;
    who[0] = comment[0] = '\0';
    if (sn_call(app, base, token, "GET", path, NULL, &st, &j) == SG_OK && st == 200) {
        sg_json *a = sg_json_array_get(sg_json_get(j, "result"), 0);
        const char *u = sg_json_get_str(a, "approver.user_name");
        const char *cm = sg_json_get_str(a, "comments");
        if (u)
            sg_strlcpy(who, u, 128);
        if (cm)
            sg_strlcpy(comment, cm, 1024);
    }
    sg_json_decref(j);
}

int sg_sync_job(sg_app *app, const sg_job *job, int64_t *retry_after)
{
    (void)retry_after;
    sn_id_ctx x = {job->payload, ""};
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
             "/api/now/table/sc_request/%s?sysparm_fields=approval,request_state,correlation_id",
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
    if (decision) {
        char who[128], comment[1024];
        approver_of(app, base, token, x.sys_id, decision, who, comment);
        /* The decision is ServiceNow's: acted on as an admin named after the approver. */
        sg_user actor = {.role = SG_ROLE_ADMIN};
        if (who[0])
            snprintf(actor.name, sizeof(actor.name), "servicenow:%.100s", who);
        else
            snprintf(actor.name, sizeof(actor.name), "servicenow");
        sg_json *out = NULL;
        int d = strcmp(decision, "cancelled") == 0
                    ? sg_request_cancel(app, &actor, x.id, "cancelled in ServiceNow", &out)
                    : sg_request_decide(app, &actor, x.id, strcmp(decision, "approved") == 0,
                                        comment, &out);
        sg_json_decref(out);
        if (d == SG_ECONFLICT)
            sg_log_info("ServiceNow decision not applied", "request", x.id, "reason", sg_err_msg());
        else
            rc = d;
    }
    sg_json_decref(j);
    sg_secrets_free_plain(token);
    return rc;
}
