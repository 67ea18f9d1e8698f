/* sync: decisions made in ServiceNow. A webhook event (or the reconciler) only says that a
 * record changed; the "servicenow.sync" job (payload: the request id) re-reads the sc_request
 * with the service account's token and applies what it says: approval approved -> approved,
 * rejected -> rejected, request_state closed_cancelled -> cancelled. The approver and their
 * comment come from sysapproval_approver, and a decision counts only when its approver really
 * made it and may decide it in snowgate (sg_sync_weigh_approvals, then governance). The first
 * decision wins as everywhere: a different later one is recorded as a conflict. */
#ifndef SG_GATE_SYNC_H
#define SG_GATE_SYNC_H
#include "core/json.h"
#include "gate/app.h"
#include "gate/jobs.h"

/* Enqueues a sync for the request a correlation_id names ("snowgate:<id>"), inside the
 * caller's transaction; cause makes the job unique (the webhook id). Unknown ids are ignored. */
int sg_sync_enqueue(sg_conn *c, const char *correlation_id, const char *cause);
int sg_sync_job(sg_app *app, const sg_job *job, int64_t *retry_after);

/* How many approval records of one request the sync reads. An approval of a request with
 * more is refused: those not read could be pending or rejected. */
#define SG_SYNC_APPROVALS_MAX 100

/* What a request's approval records say (sg_sync_weigh_approvals). Strings are "" when
 * unknown. */
typedef struct sg_sync_verdict {
    const char *decision; /* "approved" or "rejected", when an approval in that state names
                           * its approver; NULL when the approvals do not settle it */
    char who[128], who_id[33], who_email[256]; /* the credited approver: user_name, sys_id */
    char approval_id[33];                      /* and their approval record */
    char actor[160];   /* "servicenow:<user_name>" of whoever made the decision */
    char refused[512]; /* why the decision must not be applied; "" when nothing says so */
} sg_sync_verdict;

/* Weighs a request's sysapproval_approver records: list is the Table API's result (newest
 * first; fields sys_id, state, sys_updated_by, sysapproval, approver, approver.user_name,
 * approver.email, sysapproval.approval, sysapproval.correlation_id), sys_id and corr the
 * mirrored sc_request's sys_id and correlation_id. Every row must name that record and carry
 * the same request approval, or SG_EINVAL (never act on another record's approvals).
 *
 * The decision is the request's own approval (ServiceNow's aggregate of its approvals) when it
 * is approved or rejected, credited to the newest approval in that state. It is refused when
 * an approval it rests on was set by someone other than its approver (sys_updated_by is not
 * approver.user_name: an itil user or admin can set anyone's approval), and an approval also
 * when any other approval of the request is rejected or still requested, or when list holds
 * SG_SYNC_APPROVALS_MAX rows (some were not read). Pure; thread-safe. */
int sg_sync_weigh_approvals(const sg_json *list, const char *sys_id, const char *corr,
                            sg_sync_verdict *out);

/* The reconciler: asks ServiceNow for snowgate's sc_requests updated since the stored
 * watermark and queues a sync for each change (once per record and sys_updated_on). Does
 * nothing unless connected. */
int sg_reconcile(sg_app *app);
#endif
