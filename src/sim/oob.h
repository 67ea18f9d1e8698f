/* oob: the out-of-box records every ServiceNow instance has (its tables in sys_db_object, the
 * roles integrations use, and how those roles contain one another), and the rule by which an
 * update set's references to them are found. Sources of every sys_id: docs/snowsim.md. */
#ifndef SG_SIM_OOB_H
#define SG_SIM_OOB_H

#include "sim/records.h"

struct sg_sim;

/* Seeds the out-of-box records a data dir does not have yet: into a fresh instance, and once
 * into the data dir of an older snowsim, whose roles had snowsim's own sys_ids. A role snowsim
 * seeded under its own sys_id gets the real one, and every reference to it follows (a user's or
 * group's role grant, an ACL's role, a contained role). Records someone else created are never
 * changed: a role or table of an out-of-box name that a user or an update set created stays as
 * it is, and the out-of-box one is then left out. Also registers a table for every
 * sys_db_object record, so tables defined by committed update sets survive a restart. The
 * caller holds the write lock. */
int sim_oob_seed(struct sg_sim *sim);

/* The local record a reference names by its `name` attribute (update set exports write
 * `<super_class display_value="Import Set Row" name="sys_import_set_row">sys_id</...>`), for
 * the records an instance matches by name rather than by sys_id: any table (sys_db_object),
 * and the out-of-box roles (sys_user_role). NULL for other tables, other roles, and names no
 * local record has. Borrowed; hold the lock. */
sim_rec *sim_oob_by_name(sim_db *db, const char *table, const char *name);

#endif
