/* faults: injected failures for tests: delays, error statuses, 429s and dropped connections,
 * at chosen rates and paths. A snowsim-only extra. */
#ifndef SG_SIM_FAULTS_H
#define SG_SIM_FAULTS_H

#include "core/json.h"
#include "http/server.h"

#include <stdbool.h>

typedef struct sim_faults sim_faults;

sim_faults *sim_faults_new(void);
void sim_faults_free(sim_faults *f);

/* Replaces the rules with those in spec: {"rules":[{"path":"/api/now/table/","method":"GET",
 * "kind":"status|delay|drop|ratelimit","status":503,"delay_ms":200,"retry_after":2,
 * "rate":0.5,"count":3}]}. "path" is a prefix; "method", "rate" (default 1) and "count"
 * (default unlimited) are optional. An empty list clears. SG_EINVAL names the bad rule. */
int sim_faults_set(sim_faults *f, const sg_json *spec);
/* The current rules, as set (a new reference). */
sg_json *sim_faults_get(sim_faults *f);

/* Applies the first matching rule. Returns true when it answered or dropped the request. */
bool sim_faults_apply(sim_faults *f, sg_http_req *req);

#endif
