/* sync: decisions made in ServiceNow. A webhook event (or the reconciler) only says that a
 * record changed; the "servicenow.sync" job (payload: the request id) re-reads the sc_request
 * with the service account's token and applies what it says: approval approved -> approved,
 * rejected -> rejected, request_state closed_cancelled -> cancelled. The approver and their
 * comment come from sysapproval_approver. The first decision wins as everywhere: a different
 * later one is recorded as a conflict. */
#ifndef SG_GATE_SYNC_H
#define SG_GATE_SYNC_H
#include "gate/app.h"
#include "gate/jobs.h"

/* Enqueues a sync for the request a correlation_id names ("snowgate:<id>"), inside the
 * caller's transaction; cause makes the job unique (the webhook id). Unknown ids are ignored. */
int sg_sync_enqueue(sg_conn *c, const char *correlation_id, const char *cause);
int sg_sync_job(sg_app *app, const sg_job *job, int64_t *retry_after);

/* The reconciler: asks ServiceNow for snowgate's sc_requests updated since the stored
 * watermark and queues a sync for each change (once per record and sys_updated_on). Does
 * nothing unless connected. */
int sg_reconcile(sg_app *app);
#endif
