/* sim_helpers: building and importing update sets in snowsim tests. */
#ifndef SG_TEST_SIM_HELPERS_H
#define SG_TEST_SIM_HELPERS_H

#include "e2e/harness.h"
#include "sim/records.h"

/* One record for an update set: table, sys_id, and "field", "value" pairs ending in NULL. */
typedef struct us_record {
    const char *table;
    const char *sys_id;
    const char *action;      /* INSERT_OR_UPDATE (default) or DELETE */
    const char *raw_payload; /* used as is instead of a built payload (for broken ones) */
    const char *fields[40];
} us_record;

/* An update set XML document with the structure of real exports. The caller frees it. */
char *us_build(const char *name, const us_record *records, int n);
/* Uploads through /sys_upload.do; returns the new sys_remote_update_set sys_id (caller frees). */
char *us_upload(const h_sim *s, const char *xml, size_t len, long *status);
/* Runs preview or commit through the CI/CD API; returns status_label (caller frees). */
char *us_cicd(const h_sim *s, const char *what, const char *id, const char *query);
/* Marks every preview problem of the set with status (e.g. "ignored"); returns how many. */
int us_resolve(const h_sim *s, const char *id, const char *status);

#endif
