/* dictionary: snowsim's tables and their typed fields, with task-family inheritance. */
#ifndef SG_SIM_DICTIONARY_H
#define SG_SIM_DICTIONARY_H

#include <stdbool.h>
#include <stddef.h>

typedef enum sim_ftype {
    SIM_STRING,
    SIM_INTEGER,
    SIM_BOOLEAN,
    SIM_REFERENCE,
    SIM_CHOICE,
    SIM_DATETIME,
    SIM_PASSWORD, /* password2: stored hashed, never returned */
    SIM_JOURNAL,  /* work_notes, comments: writes append to sys_journal_field; reads are "" */
} sim_ftype;

typedef struct sim_field {
    const char *name;
    sim_ftype type;
    const char *ref; /* referenced table, for SIM_REFERENCE */
    const char *def; /* default on insert, or NULL for "" */
    /* Equality queries (=, IN) on it take their candidates from an index (records.h): true
     * for sys_id, for references, and for the fields the table spec marks with '!'. */
    bool indexed;
} sim_field;

typedef struct sim_table {
    const char *name;
    const char *parent;        /* the table it extends, or NULL */
    const char *number_prefix; /* "REQ" etc., or NULL */
    const char *display;       /* the field that is the record's display value */
    sim_field *fields;         /* this table's own fields (not the parent's) */
    size_t nfields;
    bool dynamic; /* created at run time (from an update set): any field name is a string */
} sim_table;

/* Builds the dictionary. Call once at start; read-only afterwards. */
void sim_dict_init(void);
void sim_dict_free(void);

/* Registers a table created at run time (a committed sys_db_object, or records of a table
 * snowsim does not model). Its fields are strings, whatever their name. Idempotent; returns
 * the table, or NULL for a name that is not a valid table name or when the dictionary is
 * full. Callers serialize registration (the db write lock); lookups may run concurrently. */
const sim_table *sim_dict_dynamic(const char *name);

/* A table by name, or NULL for an unknown table. Borrowed. */
const sim_table *sim_dict_table(const char *name);
/* The parent table, or NULL. */
const sim_table *sim_dict_parent(const sim_table *t);
/* True when t is `ancestor` or extends it, directly or not. */
bool sim_dict_is_a(const sim_table *t, const sim_table *ancestor);
/* A field of t or of any table it extends, or NULL. Borrowed. */
const sim_field *sim_dict_field(const sim_table *t, const char *name);
/* Calls fn for every field of t, parents' fields first. */
void sim_dict_each_field(const sim_table *t, void (*fn)(void *ctx, const sim_field *f), void *ctx);
/* Calls fn for t and every table that extends it. */
void sim_dict_each_descendant(const sim_table *t, void (*fn)(void *ctx, const sim_table *d),
                              void *ctx);
/* Every table, in definition order (NULL-terminated, borrowed). */
const sim_table *const *sim_dict_tables(void);
/* True for the system fields every record has (sys_id, sys_created_on, ...). */
bool sim_dict_is_sys_field(const char *name);

#endif
