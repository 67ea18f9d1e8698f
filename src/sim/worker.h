/* worker: snowsim's background thread, the stand-in for the ECC queue and async business
 * rules: RESTMessageV2.executeAsync() calls and async rules run here, in order. */
#ifndef SG_SIM_WORKER_H
#define SG_SIM_WORKER_H

#include "core/json.h"

#include <stdbool.h>

struct sg_sim;
typedef struct sim_worker sim_worker;

sim_worker *sim_worker_start(struct sg_sim *sim);
/* Finishes the job in hand, drops the rest (logged), joins the thread. NULL is a no-op. */
void sim_worker_stop(sim_worker *w);

/* Queues an outbound call: {"method","url","headers":{},"body","timeout"} (copied). */
void sim_worker_http(sim_worker *w, const sg_json *req);
/* Queues an async business rule for a record. */
void sim_worker_rule(sim_worker *w, const char *rule_id, const char *table, const char *sys_id,
                     const char *operation, const char *user_id);

/* Makes an outbound call now, filling resp with {"status","body","headers","error"}. */
void sim_worker_http_now(struct sg_sim *sim, const sg_json *req, sg_json *resp);

#endif
