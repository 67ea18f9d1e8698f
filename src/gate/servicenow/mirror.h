/* mirror: every access request gets an sc_request and an sc_req_item in ServiceNow, from the
 * "snowgate Data Access" catalog's item, with correlation_id "snowgate:<request id>" on both.
 * The job ("servicenow.mirror", payload: the request id) looks each record up by its
 * correlation_id before creating it, so a retry or a crash between the two calls never makes a
 * second record. requested_for is the beneficiary's linked ServiceNow user when they linked. */
#ifndef SG_GATE_MIRROR_H
#define SG_GATE_MIRROR_H
#include "gate/app.h"
#include "gate/jobs.h"

/* Enqueues the mirror job inside the caller's transaction when ServiceNow is set up. */
int sg_mirror_enqueue(sg_conn *c, const char *id);
int sg_mirror_job(sg_app *app, const sg_job *job, int64_t *retry_after);

/* Tells ServiceNow about a transition made in snowgate ("servicenow.update", payload
 * "<request id>:<history seq>"): approved/rejected set approval, cancelled, fulfilled and
 * failed close the request (closed_cancelled, closed_complete, closed_incomplete), and every
 * one adds a work note saying who did what. Transitions that came from ServiceNow are not
 * sent back. Enqueue inside the transaction of the transition. */
int sg_mirror_update_enqueue(sg_conn *c, const char *id, int64_t seq, const char *actor);
int sg_mirror_update_job(sg_app *app, const sg_job *job, int64_t *retry_after);
#endif
