/* my_server: a real MariaDB server for end-to-end tests (tests/e2e/mariadb-server.sh), and
 * root access to it over its local socket. */
#ifndef SG_TEST_MY_SERVER_H
#define SG_TEST_MY_SERVER_H

#include <stdbool.h>

typedef struct h_my {
    char *dir;
    int port;
    char sock[512]; /* the socket's path */
} h_my;

/* mariadb-install-db and start on a free loopback port; fails the test when it cannot. */
void h_my_start(h_my *my);
/* Stops the server (no process is left behind) and removes its directory. */
void h_my_stop(h_my *my);
/* Stops the server and starts it again on the same data and port (h_my_down, h_my_up). */
void h_my_down(h_my *my);
void h_my_up(h_my *my);
/* Runs one SQL statement as root; fails the test on an error. */
void h_my_exec(const h_my *my, const char *sql);
/* The first column of the first row of a query, or "" when there is no row; the caller frees
 * it. */
char *h_my_value(const h_my *my, const char *sql);
/* Whether information_schema.TABLE_PRIVILEGES has privilege for 'user'@'%' on db.table. */
bool h_my_has(const h_my *my, const char *user, const char *db, const char *table,
              const char *privilege);
/* The same in SCHEMA_PRIVILEGES, for db as a grant names it (wildcards escaped). */
bool h_my_has_schema(const h_my *my, const char *user, const char *db, const char *privilege);

#endif
