/* fulfilment: applying a decided request to its data source, and taking time-bound grants
 * back when they expire. Both run as jobs (kinds "request.fulfil" and "request.expire",
 * payload: the request id) and are idempotent: a request that already moved on is left alone.
 *
 * The connectors themselves are in gate/connectors/ (postgres, webhook); a manual connection
 * has none: a person applies the change and marks it done (sg_fulfil_mark_done), and its
 * expiry marks the grant expired and says who must remove it. */
#ifndef SG_GATE_FULFILMENT_H
#define SG_GATE_FULFILMENT_H
#include "gate/app.h"
#include "gate/governance/users.h"
#include "gate/jobs.h"

/* Enqueues fulfilment of request id inside the caller's transaction (idempotent). */
int sg_fulfil_enqueue(sg_conn *c, const char *id);
/* The job handlers. A failure may set *retry_after (seconds) from the receiver. */
int sg_fulfil_job(sg_app *app, const sg_job *job, int64_t *retry_after);
int sg_expire_job(sg_app *app, const sg_job *job, int64_t *retry_after);
/* Called when a fulfil job is dead: the request becomes failed with the reason. */
void sg_fulfil_gave_up(sg_app *app, const sg_job *job, const char *reason);
/* Called when an expire job is dead: the grant stays, and the failure is flagged on the
 * request for a person to act on. */
void sg_expire_gave_up(sg_app *app, const sg_job *job, const char *reason);
/* Enqueues an expire job for every fulfilled grant whose time is up (now: unix seconds),
 * including those that fell due while snowgate was down. */
int sg_expiry_sweep(sg_app *app, int64_t now);
/* A person reports that they applied an approved request on a manual connection: the asset's
 * owners, stewards and admins may. *out is the request afterwards. */
int sg_fulfil_mark_done(sg_app *app, const sg_user *caller, const char *id, const char *comment,
                        sg_json **out);
#endif
