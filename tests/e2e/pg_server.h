/* pg_server: a real PostgreSQL server for end-to-end tests (tests/e2e/pg-server.sh), and
 * superuser access to it over its local socket. */
#ifndef SG_TEST_PG_SERVER_H
#define SG_TEST_PG_SERVER_H

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
/* has_table_privilege(role, table, privilege) */
bool h_pg_has(const h_pg *pg, const char *db, const char *role, const char *table,
              const char *privilege);

/* Whether the store suites run against PostgreSQL (SG_TEST_STORE=postgres, see
 * tests/CMakeLists.txt) rather than SQLite. */
bool h_store_is_postgres(void);
/* A fresh, empty store for a test (the caller frees the URL): a SQLite file `name`.db in dir,
 * or under SG_TEST_STORE=postgres a new database on this process's PostgreSQL server, which
 * starts on first use and stops at exit. The URL logs in over TCP with a password, as a
 * deployment's would. */
char *h_store_url(const char *dir, const char *name);
/* The PostgreSQL server behind h_store_url (NULL before its first use). */
const h_pg *h_store_pg(void);

#endif
