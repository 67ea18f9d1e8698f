/* preview: judges the problems a ServiceNow preview finds in snowgate's own update set, for
 * `snowgate servicenow provision --accept-preview-problems`. Pure functions, no I/O. */
#ifndef SG_GATE_SN_PREVIEW_H
#define SG_GATE_SN_PREVIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* The most rows snowgate's own update set has (it has about 40), and the most problems
 * provision reads for one set. */
#define SG_PREVIEW_MAX_ROWS     256
#define SG_PREVIEW_MAX_PROBLEMS 100

/* The rows of the update set XML snowgate generated and uploaded: each row's payload, with the
 * table and sys_id of the record in it. Opaque. */
typedef struct sg_preview_ours sg_preview_ours;

/* Reads the rows of the XML snowgate generated (sg_updateset_generate). SG_EINVAL when it is
 * not such a document; SG_ETOOBIG over SG_PREVIEW_MAX_ROWS rows. *out is the caller's. */
int sg_preview_ours_parse(const char *xml, size_t len, sg_preview_ours **out);
void sg_preview_ours_free(sg_preview_ours *o);

/* How many rows snowgate generated. */
size_t sg_preview_ours_count(const sg_preview_ours *o);

/* One sys_update_xml row of the set as the Table API gives it (string fields, NULL when
 * absent). All borrowed. */
typedef struct sg_preview_row {
    const char *sys_id;
    const char *action, *name, *table, *type;
    const char *payload;
} sg_preview_row;

/* Does the set on the instance hold exactly the rows snowgate generated? True when there are
 * as many rows as snowgate's, each payload is byte-equal to exactly one of snowgate's (each used
 * once), and that row's action, name, table and type are snowgate's too. Otherwise appends one
 * line per difference to diff, naming the record (instance text cut short, printable ASCII
 * only), and returns false. Thread-safe. */
bool sg_preview_rows_match(const sg_preview_ours *ours, const sg_preview_row *rows, size_t n,
                           sg_buf *diff);

/* One sys_update_preview_problem as the Table API gives it (string fields, NULL when absent),
 * with the payload of its `remote_update` (sys_update_xml) row as read from the instance. All
 * borrowed. */
typedef struct sg_preview_problem {
    const char *sys_id;
    const char *description;
    const char *remote_update;
    const char *missing_item;
    const char *missing_item_table;
    const char *payload; /* of the remote_update row; NULL when it could not be read */
} sg_preview_problem;

typedef enum sg_preview_verdict {
    SG_PREVIEW_ACCEPTABLE, /* a reference to a record snowgate does not need, on its own row */
    SG_PREVIEW_REFUSED,    /* anything else: never accepted automatically */
    SG_PREVIEW_COLLISION,  /* a newer local change to a record of the set: never accepted */
} sg_preview_verdict;

/* "ACCEPTABLE", "REFUSED", "COLLISION". */
const char *sg_preview_verdict_name(sg_preview_verdict v);

/* Judges one problem against snowgate's own rows. Only a "Could not find a record in <table>
 * for column <field>" problem whose payload is, to the byte, a row snowgate generated, on a
 * table that is not security-relevant, where (that row's table, <field>, <table>) is one of the
 * references the generator writes to records snowgate does not need (today only the catalog
 * item's category: sc_cat_item, category, sc_category), whose missing_item_table is <table>,
 * whose <field> in that payload holds missing_item, and whose missing_item is not one of
 * snowgate's own records (that would be a row missing from the set), is ACCEPTABLE; a collision
 * with a newer local change on one of snowgate's rows is COLLISION, on any table (checked
 * before the table); anything else is REFUSED. why (why_size bytes) gets one
 * sentence saying why, for people to read: its parts that come from the instance are cut short
 * and hold printable ASCII only. Thread-safe. */
sg_preview_verdict sg_preview_judge(const sg_preview_problem *p, const sg_preview_ours *ours,
                                    char *why, size_t why_size);

/* When marking problem `done` (0-based) of `total` ignored failed: appends to b which problems
 * were already marked ignored before it (descriptions and sys_ids, as given: the caller
 * sanitizes them), or that none was. */
void sg_preview_accept_failed(sg_buf *b, const char *const *descs, const char *const *ids,
                              size_t done, size_t total);

/* True for tables whose records grant or check access, run code, define users or hold
 * snowgate's settings: a problem there is never accepted, an extra guard besides the allowlist
 * of references (sys_user_role*, sys_security_*, sys_ws_*, sys_script*, sys_scope*,
 * sys_properties*, oauth_*, sys_user, sys_user_has_role, sys_group_has_role). */
bool sg_preview_security_table(const char *table);

#endif
