/* records: snowsim's records, kept in memory for querying and written through to SQLite, so a
 * restart keeps every record. One lock guards all of it: readers share, writers exclude. */
#ifndef SG_SIM_RECORDS_H
#define SG_SIM_RECORDS_H

#include "core/crypto.h"
#include "core/json.h"
#include "sim/dictionary.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>

typedef struct sim_rec {
    char sys_id[33];
    const sim_table *t; /* its class: the most specific table */
    sg_json *f;         /* field name -> string value; owned */
    uint64_t seq;
    UT_hash_handle hh;
} sim_rec;

typedef struct sim_db sim_db;

/* Loads every record from the store. `key` (copied) is the instance key that seals password2
 * system properties (see sim_property_value); password2 properties still stored in clear (data
 * of an older snowsim) are sealed and written back here, once. *out is the caller's. */
int sim_db_open(sg_store *st, const uint8_t key[SG_AEAD_KEY_LEN], sim_db **out);
/* Frees every record and wipes the instance key. NULL is a no-op. */
void sim_db_free(sim_db *db);

void sim_db_rdlock(sim_db *db);
void sim_db_wrlock(sim_db *db);
void sim_db_unlock(sim_db *db);

/* The record with sys_id in table t or any table extending it, or NULL. Borrowed; valid while
 * the lock is held. */
sim_rec *sim_db_get(sim_db *db, const sim_table *t, const char *sys_id);
/* The first record (in insertion order) of t's family whose field equals value exactly, or
 * NULL. Uses the field's index when it has one (see sim_db_lookup), else scans. Borrowed. */
sim_rec *sim_db_find(sim_db *db, const sim_table *t, const char *field, const char *value);

/* Calls fn for every record of t and the tables extending it, in insertion order. fn returns
 * false to stop. */
void sim_db_each(sim_db *db, const sim_table *t, bool (*fn)(void *ctx, sim_rec *r), void *ctx);

/* Calls fn, in insertion order, for every record of t's family whose field equals value
 * exactly (strcmp), as sim_db_each with that test would, through the index when there is one.
 * fn returns false to stop; it must not write to the db. */
void sim_db_each_eq(sim_db *db, const sim_table *t, const char *field, const char *value,
                    bool (*fn)(void *ctx, sim_rec *r), void *ctx);

/* Secondary indexes. Every table keeps, for sys_id and for each field the dictionary marks
 * `indexed`, the map value -> records holding it, kept up to date by insert, update, delete
 * and sim_db_open. Empty values are not indexed.
 *
 * Looks up the records of t's family whose `field` is exactly one of values[0..nvalues), each
 * once, in insertion order (the order sim_db_each gives). Returns false when the indexes cannot
 * answer (a table of the family has no index on field, or a value is ""): the caller scans.
 * With out NULL only *count is set: the number of hits, duplicates in values counted again (the
 * planner's cost estimate). Otherwise *out (caller frees; NULL when none) and *count are set.
 * Hold a lock (read or write). */
bool sim_db_lookup(sim_db *db, const sim_table *t, const char *field, const char *const *values,
                   size_t nvalues, sim_rec ***out, size_t *count);

/* Inserts a record of table t. `values` (borrowed) holds field -> JSON value; values are
 * coerced to ServiceNow's strings; defaults, system fields and the number are filled in.
 * A sys_properties record of type password2 keeps its value sealed under the instance key:
 * a clear value is stored as its ciphertext, one that already opens under the key is kept
 * as given (so does sim_db_update, also when the type becomes password2).
 * A given sys_id (32 hex) is used if free (SG_ECONFLICT if taken). Hold the write lock. */
int sim_db_insert(sim_db *db, const sim_table *t, const sg_json *values, const char *user,
                  sim_rec **out);
/* Applies `values` (borrowed) to r, bumping sys_mod_count and sys_updated_*. Hold the write
 * lock. *changed (may be NULL) tells whether any field changed. */
int sim_db_update(sim_db *db, sim_rec *r, const sg_json *values, const char *user, bool *changed);
/* Deletes r (freed). Hold the write lock. */
int sim_db_delete(sim_db *db, sim_rec *r);

/* The value of a field ("" when unset). Borrowed. */
const char *sim_rec_get(const sim_rec *r, const char *field);

/* The value of the system property `name` as server-side scripts see it (gs.getProperty): a
 * password2 property's clear text, any other's value as stored. NULL when no sys_properties
 * record has that name. A password2 value that does not open under the instance key is
 * returned as stored, with a warning in the log. Hold a lock (read or write). The caller owns
 * the result and releases it with sim_property_free, as it may be a secret. */
char *sim_property_value(sim_db *db, const char *name);
/* Wipes and frees a value from sim_property_value. NULL is a no-op. */
void sim_property_free(char *value);

/* The current time as ServiceNow writes it: "YYYY-MM-DD HH:MM:SS" UTC. */
void sim_now(char out[20]);
/* Formats a unix time the same way. */
void sim_time_format(int64_t t, char out[20]);
/* A new 32-hex sys_id. */
void sim_new_sys_id(char out[33]);
/* True for a well-formed sys_id (32 lowercase hex). */
bool sim_is_sys_id(const char *s);

/* Hashes a password for storage ("pbkdf2-sha256$iter$salt$hash"); the caller frees it. */
char *sim_password_hash(const char *password);
bool sim_password_check(const char *stored, const char *password);

#endif
