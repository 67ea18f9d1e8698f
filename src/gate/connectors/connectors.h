/* connectors: how an approved change reaches a data source. One function per connection kind;
 * each applies one change and is idempotent, because a job may run it more than once.
 *   postgres - GRANT/REVOKE on a table or view, checked afterwards in the catalog
 *   mysql    - GRANT/REVOKE on a MariaDB/MySQL table, view or database, checked afterwards
 *              in information_schema ("mariadb" is accepted as its other name)
 *   webhook  - a Standard Webhooks-signed POST for any other system
 *   (manual  - nothing to run: a person applies it and marks the request done) */
#ifndef SG_GATE_CONNECTORS_H
#define SG_GATE_CONNECTORS_H

#include "gate/app.h"
#include "gate/jobs.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sg_access_change {
    const char *request_id;
    const char *step;      /* "fulfil" or "expire"; with request_id, the idempotency key */
    bool grant;            /* grant, or revoke */
    const char *privilege; /* the request's privilege: read or write */
    /* The SQL privileges to grant or revoke, NULL-terminated (for an expiry, those no other
     * live grant of the same person still needs). */
    const char *const *privileges;
    const char *asset, *asset_type; /* qualified name; table or view */
    const char *beneficiary;        /* snowgate user name */
    const char *db_role;            /* their database role, or NULL */
    int64_t duration_s;             /* 0: no expiry */
    const char *connection, *connection_id;
    const char *config; /* the connection's JSON config */
    const char *sealed; /* the connection's sealed secret, or "" */
} sg_access_change;

/* Applies the change on a postgres connection. note (may be NULL) receives a remark worth
 * recording, e.g. that the person still has the privilege through PUBLIC. Transient failures
 * (the server unreachable, a lock timeout) are SG_EUNAVAIL; others set *retry_after to
 * SG_JOBS_NO_RETRY (a missing role, a refused privilege: the job is dead at once, for an admin
 * to fix and replay). */
int sg_postgres_apply(sg_app *app, const sg_access_change *ch, char *note, size_t note_len,
                      int64_t *retry_after);

/* Checks a postgres DSN when a connection is created: libpq syntax, no password or password
 * file in it, one host, and an sslmode that verifies the server (allow_insecure_loopback, for
 * tests and the demo, also admits local sockets and unverified TLS). */
int sg_postgres_check_dsn(const char *dsn, bool allow_insecure_loopback);

/* Logs in to a postgres connection's database (as its GRANT would) and runs SELECT 1: for
 * snowgate doctor. name, id, config and sealed are the connection's. */
int sg_postgres_login(sg_app *app, const char *name, const char *id, const char *config,
                      const char *sealed);

/* ---- mysql (MariaDB and MySQL; src/gate/connectors/mysql.c) ----
 * Assets are database.table (the table may contain dots: all after the first one), or the
 * database alone as a schema asset (a database-level grant, `db`.*). The person's db_role is
 * their account: "user@host", or "user" for 'user'@'%'. */

/* Checks a mysql DSN when a connection is created: "host=H [port=P] user=U
 * [ssl_mode=verify-full|disable] [ssl_ca=/path]", one host, no password, no socket; ssl_mode
 * disable only with allow_insecure_loopback. SG_EINVAL or SG_EDENIED with the reason. */
int sg_mysql_check_dsn(const char *dsn, bool allow_insecure_loopback);

/* Applies the change on a mysql connection: GRANT or REVOKE, then the check in
 * information_schema (TABLE_PRIVILEGES, SCHEMA_PRIVILEGES). Idempotent; a revoke of what is not
 * held succeeds. note (may be NULL) receives a remark worth recording (the account still holds
 * the privilege through a wider grant). Transient failures (the server unreachable, a lock
 * timeout) are SG_EUNAVAIL; a missing account or table, a refused statement or a bad
 * configuration set *retry_after to SG_JOBS_NO_RETRY. Thread-safe. */
int sg_mysql_apply(sg_app *app, const sg_access_change *ch, char *note, size_t note_len,
                   int64_t *retry_after);

/* Logs in to a mysql connection's server (as its GRANT would) and runs SELECT 1: for snowgate
 * doctor. name, id, config and sealed are the connection's. */
int sg_mysql_login(sg_app *app, const char *name, const char *id, const char *config,
                   const char *sealed);

/* What a source's catalog holds, as assets would name it. */
typedef struct sg_mysql_discovered {
    char *name;        /* the asset name: db.table, or db for a database */
    const char *type;  /* "schema", "table" or "view" (static) */
    char *description; /* the comment (TABLE_COMMENT), or "" */
} sg_mysql_discovered;
/* The most entries one discovery returns; beyond it, SG_ETOOBIG. */
#define SG_MYSQL_DISCOVER_MAX 100000

/* Lists the databases, tables and views a mysql connection's grantor can see (never the
 * system schemas), in name order, with their comments; names longer than an asset name may be
 * are skipped with a warning. *out (n entries) is the caller's: free it with
 * sg_mysql_discovered_free. Registers nothing. Thread-safe. */
int sg_mysql_discover(sg_app *app, const char *name, const char *id, const char *config,
                      const char *sealed, sg_mysql_discovered **out, size_t *n);
void sg_mysql_discovered_free(sg_mysql_discovered *items, size_t n);

/* Posts the change to a webhook connection. 2xx is success; 429 and 5xx are SG_EUNAVAIL with
 * the server's Retry-After; other answers are permanent. */
int sg_webhook_apply(sg_app *app, const sg_access_change *ch, int64_t *retry_after);

#endif
