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
#endif
