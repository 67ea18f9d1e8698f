/* pg_server: a real PostgreSQL server for end-to-end tests (tests/e2e/pg-server.sh), and
 * superuser access to it over its local socket. */
#ifndef SG_TEST_PG_SERVER_H
#define SG_TEST_PG_SERVER_H

#include "store/store.h"

#include <stdbool.h>

typedef struct h_pg {
    char *dir;
    int port;
    char sock[512]; /* the socket directory */
} h_pg;

/* initdb and start on a free loopback port; fails the test when it cannot. */
void h_pg_start(h_pg *pg);
void h_pg_stop(h_pg *pg);
/* Runs SQL as the superuser in database db; fails the test on an error. */
void h_pg_exec(const h_pg *pg, const char *db, const char *sql);
/* The first column of the first row of a query ("t"/"f" for booleans), or "" when there is no
 * row; params are $1..$n. The caller frees it. */
char *h_pg_value(const h_pg *pg, const char *db, const char *sql, int nparams,
                 const char *const *params);
/* A superuser session in db kept open, e.g. to hold a session-level lock: h_pg_hold runs sql
 * in it (failing the test on an error); h_pg_release ends the session and what it held. */
typedef struct h_pg_session h_pg_session;
h_pg_session *h_pg_hold(const h_pg *pg, const char *db, const char *sql);
void h_pg_release(h_pg_session *s);
/* has_table_privilege(role, table, privilege) */
bool h_pg_has(const h_pg *pg, const char *db, const char *role, const char *table,
              const char *privilege);

/* The governed database the connector tests grant on: database analytics with schema sales,
 * the tables (SQL identifiers, quoted where they need it) owned by the login role
 * snowgate_grantor (password), and NOLOGIN roles that may use the schema (NULL-terminated; the
 * list may be NULL). A database and grantor of the same names from an earlier test go first. */
void h_pg_analytics(const h_pg *pg, const char *password, const char *const *tables,
                    const char *const *roles);

/* Whether the store suites run against PostgreSQL (SG_TEST_STORE=postgres, see
 * tests/CMakeLists.txt) rather than SQLite. */
bool h_store_is_postgres(void);
/* A fresh, empty store for a test (the caller frees the URL): a SQLite file `name`.db in dir,
 * or under SG_TEST_STORE=postgres a new database on this process's PostgreSQL server, which
 * starts on first use and stops at exit. The URL logs in over TCP with a password, as a
 * deployment's would. */
char *h_store_url(const char *dir, const char *name);
/* A fresh store with migrations applied, on the backend under test (h_store_url), in a new
 * temporary directory: for the unit tests' fixtures. h_store_done closes and removes it. */
typedef struct h_store {
    char *dir;
    sg_store *st;
} h_store;
void h_store_fresh(h_store *s, const char *tag, const sg_embed_file *migrations);
void h_store_done(h_store *s);

/* The PostgreSQL server behind h_store_url (NULL before its first use). */
const h_pg *h_store_pg(void);

#endif
