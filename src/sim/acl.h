/* acl: ServiceNow's access control: table, field and record ACLs with roles and conditions. */
#ifndef SG_SIM_ACL_H
#define SG_SIM_ACL_H

#include "sim/auth.h"
#include "sim/records.h"

#include <stdbool.h>

/* Evaluates a script condition of an ACL: returns true to grant. Set by the script engine;
 * without one, an ACL that needs a script does not grant. */
typedef bool (*sim_acl_script_fn)(void *ctx, const char *script, const sim_user *u,
                                  const sim_rec *r);

/* May u perform `operation` ("read", "write", "create", "delete") on table t, and on record r
 * when given (its conditions apply)? With field set, the field-level ACLs are checked: a field
 * without field ACLs is allowed. The caller holds the db lock. */
bool sim_acl_can(sim_db *db, const sim_user *u, const sim_table *t, const char *operation,
                 const sim_rec *r, const char *field, sim_acl_script_fn script, void *sctx);

#endif
