/* query: ServiceNow encoded queries (sysparm_query, addEncodedQuery, filter conditions):
 * parsing, matching a record, and ORDERBY sorting. */
#ifndef SG_SIM_QUERY_H
#define SG_SIM_QUERY_H

#include "sim/records.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct sim_query sim_query;

/* What a query is evaluated against. */
typedef struct sim_qctx {
    sim_db *db;
    const char *user_id;   /* for javascript:gs.getUserID() */
    const char *user_name; /* for javascript:gs.getUserName() */
    const sg_json *prev;   /* the previous field values, for VALCHANGES/CHANGESFROM/CHANGESTO */
} sim_qctx;

/* Parses an encoded query for table t (NULL or "" matches everything). Terms naming an unknown
 * field or operator are dropped, as ServiceNow ignores invalid parts. Never fails; *out is
 * the caller's. */
void sim_query_parse(const char *q, const sim_table *t, sim_query **out);
void sim_query_free(sim_query *q);

/* True when r matches. The caller holds the db read lock. */
bool sim_query_match(const sim_query *q, const sim_qctx *ctx, const sim_rec *r);

/* Calls fn, in insertion order, for every record of the query's table and the tables
 * extending it that matches q: exactly the records a scan with sim_query_match finds. When
 * the query is an AND (no top-level ^NQ) with a term `field=value` or `fieldINa,b` on an
 * indexed field (sim_field.indexed; no dot-walk, no javascript: value, no empty value), the
 * candidates come from the index with the fewest hits and each is still matched against the
 * whole query; otherwise every record is scanned. fn returns false to stop; it must not write
 * to the db. The caller holds the db lock. */
void sim_query_each(const sim_query *q, const sim_qctx *ctx, bool (*fn)(void *fctx, sim_rec *r),
                    void *fctx);

/* sim_query_each without the planner: every record of the family is matched. Tests compare
 * the two; nothing else needs it. */
void sim_query_each_scan(const sim_query *q, const sim_qctx *ctx,
                         bool (*fn)(void *fctx, sim_rec *r), void *fctx);

/* True when sim_query_each would take its candidates from an index (for tests and
 * diagnostics). The caller holds the db lock. */
bool sim_query_indexed(const sim_query *q, const sim_qctx *ctx);

/* Sorts records by the query's ORDERBY clauses (stable; insertion order otherwise). */
void sim_query_sort(const sim_query *q, const sim_qctx *ctx, sim_rec **recs, size_t n);

/* How many terms survived parsing (for tests and diagnostics). */
size_t sim_query_terms(const sim_query *q);

/* The value of a possibly dot-walked field ("caller_id.user_name"); "" when unset or when a
 * reference on the way is empty. The caller frees it. */
char *sim_field_value(const sim_qctx *ctx, const sim_rec *r, const char *path);

/* Resolves the field a dot-walked path ends at, or NULL if any step is unknown. */
const sim_field *sim_field_resolve(const sim_table *t, const char *path);

#endif
