/* audit: the append-only, hash-chained audit log. Entries are appended inside the transaction
 * of the change they record, so a change and its record commit together or not at all. */
#ifndef SG_GATE_AUDIT_H
#define SG_GATE_AUDIT_H

#include "core/json.h"
#include "store/store.h"

#include <stdint.h>

/* Appends an entry. detail is JSON text (or NULL for "{}"). Call inside a write transaction. */
int sg_audit_append(sg_conn *c, const char *actor, const char *action, const char *subject,
                    const char *detail);

/* Appends in a transaction of its own. */
int sg_audit_record(sg_store *st, const char *actor, const char *action, const char *subject,
                    const char *detail);

/* Entries newest first, below seq `before` (0: from the newest), at most limit (1..500). Each
 * is {"seq","at","actor","action","subject","detail":{...},"hash"}. */
int sg_audit_list(sg_store *st, int64_t before, int64_t limit, sg_json **out);

typedef struct sg_audit_report {
    int64_t entries;
    int64_t bad_seq; /* the first entry that does not verify; 0 when intact */
    char head[65];   /* the last entry's hash: record it elsewhere to detect truncation */
    char problem[256];
} sg_audit_report;

/* Walks the chain. SG_OK when intact; SG_ECONFLICT when an entry was edited, removed or
 * reordered (the report says which and how). */
int sg_audit_verify(sg_store *st, sg_audit_report *out);

#endif
