/* script: server-side JavaScript (Duktape, ES5) with ServiceNow's scripting API, run with a
 * memory cap and a time limit. Scripts run as the instance: ACLs do not apply to them. */
#ifndef SG_SIM_SCRIPT_H
#define SG_SIM_SCRIPT_H

#include "core/json.h"
#include "sim/auth.h"
#include "sim/dictionary.h"

#include <stdbool.h>

struct sg_sim;

#define SIM_SCRIPT_HEAP_MAX  ((size_t)64 * 1024 * 1024)
#define SIM_SCRIPT_TIME_MS   5000
#define SIM_SCRIPT_MAX_DEPTH 8

typedef struct sim_script_env {
    struct sg_sim *sim;
    const sim_user *user; /* gs.getUserID() and friends */
    const char *name;     /* for the log: "business rule 'x'", "scripted REST 'y'" */
    int depth;            /* nesting of rules triggered by scripts */
    /* A business rule's record: */
    const sim_table *table;
    const sg_json *current;  /* field values (borrowed) */
    const sg_json *previous; /* NULL on insert and in async rules */
    const char *operation;   /* "insert", "update", "delete" */
    /* A Scripted REST request (borrowed): {pathParams, queryParams, headers, body, ...} */
    const sg_json *request;
    /* Limits (0: the defaults above). */
    size_t heap_max;
    unsigned time_ms;
    /* Out: what the script left: {"current":{...}|null,"abort":bool,"response":{...}}. The
     * caller frees it. */
    sg_json *result;
} sim_script_env;

/* Runs code. SG_OK, or SG_EINVAL for a script error (logged with its line), SG_ETIMEOUT when
 * the time limit passed, SG_ETOOBIG when the heap cap was hit. The instance never goes down.
 * The caller holds the db write lock (scripts read and write records). Thread-safe otherwise. */
int sim_script_run(sim_script_env *env, const char *code);

/* Evaluates a condition expression (a business rule's `condition`); errors count as false. */
bool sim_script_condition(sim_script_env *env, const char *expr);

/* Called by Duktape's interrupt counter (see cmake/duktape.cmake). */
int sg_duk_timeout_check(void *udata);

#endif
