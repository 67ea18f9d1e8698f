/* ratelimit: sys_rate_limit_rules, counted per user per hour, with ServiceNow's headers. */
#ifndef SG_SIM_RATELIMIT_H
#define SG_SIM_RATELIMIT_H

#include "http/server.h"
#include "sim/auth.h"
#include "sim/records.h"

#include <stdbool.h>

typedef struct sim_ratelimit sim_ratelimit;

sim_ratelimit *sim_ratelimit_new(void);
void sim_ratelimit_free(sim_ratelimit *rl);

/* Counts the request against the rule that applies to u and this path (single user beats
 * role beats all users; among role rules the lowest limit wins). Sets X-RateLimit-* headers.
 * Returns false and answers 429 with Retry-After when the limit is exceeded. Takes the db
 * read lock itself. */
bool sim_ratelimit_check(sim_ratelimit *rl, sim_db *db, const sim_user *u, sg_http_req *req);

#endif
