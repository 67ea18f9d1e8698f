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
 * "rate":0.5,"count":3,"outbound":false}]}. "path" is a prefix; "method", "rate" (default 1)
 * and "count" (default unlimited) are optional. An outbound rule applies to the calls scripts
 * make (its path is matched against the URL's path) instead. An empty list clears. SG_EINVAL
 * names the bad rule. */
int sim_faults_set(sim_faults *f, const sg_json *spec);
/* The current rules, as set (a new reference). */
sg_json *sim_faults_get(sim_faults *f);

/* Applies the first matching rule. Returns true when it answered or dropped the request. */
bool sim_faults_apply(sim_faults *f, sg_http_req *req);

/* For an outbound call a script makes: true when a rule says not to send it, with *status
 * what the script sees (0 for drop, as for a connection that failed). A delay rule waits. */
bool sim_faults_outbound(sim_faults *f, const char *method, const char *url, int *status);

#endif
