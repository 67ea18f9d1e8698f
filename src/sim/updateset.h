/* updateset: update set XML import (sys_upload.do), preview and commit (also through the
 * CI/CD REST API), as a ServiceNow instance takes them. */
#ifndef SG_SIM_UPDATESET_H
#define SG_SIM_UPDATESET_H

#include "core/json.h"
#include "sim/auth.h"
#include "sim/records.h"

#include <stdbool.h>
#include <stddef.h>

struct sg_sim;

/* Parses an exported update set without touching any record: header fields go to *header
 * (caller's), and row_fn is called with each sys_update_xml row's fields (borrowed). */
int sim_updateset_parse(const char *xml, size_t len, sg_json **header,
                        void (*row_fn)(void *ctx, const sg_json *row), void *ctx);
/* Parses one row payload; SG_OK when it is a <record_update> document. */
int sim_updateset_payload_check(const char *payload);

/* Loads an exported update set into a new sys_remote_update_set (state "loaded") and its
 * sys_update_xml rows. The XML goes through the safe reader. The caller holds the write lock. */
int sim_updateset_load(struct sg_sim *sim, const sim_user *u, const char *xml, size_t len,
                       char id_out[33]);

/* Previews: records a sys_update_preview_problem for each malformed payload, reference to a
 * missing record, and collision with a newer local change; state becomes "previewed". A
 * reference to a table or an out-of-box role whose sys_id the instance does not have is found
 * by the name the export gives beside it (sim_oob_by_name), as on an instance; commit then
 * stores the local sys_id.
 * *problems gets the number of problems found. The caller holds the write lock. */
int sim_updateset_preview(struct sg_sim *sim, const sim_user *u, sim_rec *set, int *problems);

/* Commits: applies every row (inserts, updates and deletes) in order, unless unresolved
 * problems remain (SG_ECONFLICT) and force is false. Problems marked "skipped" skip their row;
 * "ignored" lets it through. State becomes "committed". The caller holds the write lock. */
int sim_updateset_commit(struct sg_sim *sim, const sim_user *u, sim_rec *set, bool force);

#endif
