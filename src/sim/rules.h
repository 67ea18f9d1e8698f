/* rules: the write path with business rules. Every record change made through an API or a
 * script goes through here, so before, after and async sys_script rules run as on a real
 * instance, and the approval engine moves a task's approval when its approvers decide. */
#ifndef SG_SIM_RULES_H
#define SG_SIM_RULES_H

#include "core/json.h"
#include "sim/auth.h"
#include "sim/records.h"

struct sg_sim;

/* The caller holds the db write lock. values are borrowed. A before rule that aborts gives
 * SG_EFORBIDDEN with "Operation against file '<table>' was aborted by Business Rule '<name>'". */
int sim_rules_insert(struct sg_sim *sim, const sim_user *u, const sim_table *t,
                     const sg_json *values, sim_rec **out, int depth);
int sim_rules_update(struct sg_sim *sim, const sim_user *u, sim_rec *r, const sg_json *values,
                     int depth);
int sim_rules_delete(struct sg_sim *sim, const sim_user *u, sim_rec *r, int depth);

/* Runs one async rule (from the background worker; the caller holds the write lock). */
void sim_rules_run_async(struct sg_sim *sim, const char *rule_id, const char *table,
                         const char *sys_id, const char *operation, const char *user_id);

#endif
