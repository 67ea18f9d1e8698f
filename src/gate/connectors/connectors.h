/* connectors: how snowgate reaches a data source, as one table of operations (like the store's
 * backends, src/store/backend.h). The domain (fulfilment, assets, requests, doctor, the API)
 * looks a connection's kind up with sg_connector_find and calls what the entry offers; it never
 * asks which kind it holds. Each kind is one file:
 *   postgres - GRANT/REVOKE on a table or view, checked afterwards in the catalog; discovery
 *   mysql    - GRANT/REVOKE on a MariaDB/MySQL table, view or database, checked afterwards in
 *              information_schema; discovery ("mariadb" is accepted as its other name)
 *   webhook  - a Standard Webhooks-signed POST for any other system
 *   manual   - nothing to run: a person applies it and marks the request done
 *
 * Adding a connector. The code:
 *   1. src/gate/connectors/KIND.c, defining `const sg_connector sg_connector_KIND` (CMake
 *      finds it: sggate's sources are src/gate/ globbed); its apply calls its own
 *      check_account on the account before any statement (as postgres.c and mysql.c do in
 *      prepare), since that is the last guard against a grant to PUBLIC or root;
 *   2. its row in the table in connectors.c, and its extern at the end of this file;
 *   3. a migration of its own widening the store's CHECK on connections.kind (set by 0006,
 *      widened by 0020), in both its -- @sqlite and -- @postgres sections;
 *   4. the kind enums in docs/openapi.yaml: Connection's kind (the kinds) and the create
 *      body's kind (the kinds with their aliases); and the per-kind words there (the create
 *      body's fields such as dsn and password, `discoverable`);
 *   5. its client library: pkg_check_modules in CMakeLists.txt and the package in
 *      scripts/install-deps.sh;
 *   6. its tests: tests/unit/test_connectors.c, and an e2e test against a real server where
 *      one can run here (a server helper like tests/e2e/my_server.c goes into the sgtest
 *      source list in tests/CMakeLists.txt); a fuzz target for a config parser of its own
 *      (tests/fuzz, scripts/fuzz.sh), as mysql's DSN has.
 * The words: a line in the list above; the help of `snowgate doctor` (doctor_cmd.c) and of
 * `--db-role` (user_cmd.c) where the kind takes accounts; README.md's "Data sources";
 * docs/architecture.md (the file list, a section on the kind); docs/operations.md where it
 * speaks TLS; the Connections page's introduction (web/view_connections.js).
 * test_connectors checks every row of the table (kind short, lower case and unique; aliases
 * unique; needs_db_role with apply and check_account; discover with name_parts 2 or 3; ...) and
 * that 3 and 4 list exactly the table's kinds, in table order, so a half-added kind fails the
 * build's tests. Messages name the kinds through sg_connector_kinds_text, and the web UI shows
 * the kind the API answers.
 * Operations a kind lacks are NULL; what NULL means is said at each one. Every operation is
 * thread-safe (jobs and handlers call them from many threads at once); state a kind keeps between
 * calls (an idle-connection pool) lives in the app (state_new/state_free, sg_connector_state),
 * never in a global. */
#ifndef SG_GATE_CONNECTORS_H
#define SG_GATE_CONNECTORS_H

#include "core/json.h"
#include "gate/app.h"
#include "gate/jobs.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One stored connection, as the operations see it. All borrowed. */
typedef struct sg_connection_ref {
    const char *id, *name, *kind;
    const char *config; /* the connection's JSON config */
    const char *sealed; /* its sealed secret, or "" */
} sg_connection_ref;

typedef struct sg_access_change {
    const char *request_id;
    const char *step;      /* "fulfil" or "expire"; with request_id, the idempotency key */
    bool grant;            /* grant, or revoke */
    const char *privilege; /* the request's privilege: read or write */
    /* The SQL privileges to grant or revoke, NULL-terminated (for an expiry, those no other
     * live grant on the same account still needs; for a kind without accounts, no other live
     * grant of the same person). */
    const char *const *privileges;
    const char *asset, *asset_type; /* qualified name; table or view */
    const char *beneficiary;        /* snowgate user name */
    /* The database account to grant to or revoke from, or NULL: for a grant and its expiry,
     * the one recorded when fulfilment claimed it (requests.granted_account; the person's
     * db_role for grants made before that was recorded); for a revoke, the person's db_role
     * and each account the grants it ends went to, one call each. */
    const char *db_role;
    int64_t duration_s; /* 0: no expiry */
    const char *connection, *connection_id;
    const char *config; /* the connection's JSON config */
    const char *sealed; /* the connection's sealed secret, or "" */
} sg_access_change;

/* One object discovery found in a data source. All borrowed, valid during the callback. */
typedef struct sg_discovered {
    const char *name;        /* qualified asset name, e.g. analytics.sales.orders */
    const char *type;        /* schema, table or view */
    const char *description; /* the source's comment on it, or "" */
    const char *owner;       /* the database role that owns it, or "" */
} sg_discovered;

/* What discovery reads. Patterns are shell-style globs (* ? [...]) matched against the
 * qualified name (sg_discover_match); an object is kept when it matches an include pattern (or
 * there are none) and no exclude pattern. Borrowed, NULL-terminated lists (or NULL). */
typedef struct sg_discover_opts {
    const char *const *include;
    const char *const *exclude;
} sg_discover_opts;

/* Called once per object found; a non-SG_OK return stops discovery with that error. */
typedef int (*sg_discover_fn)(void *ctx, const sg_discovered *d);

typedef struct sg_connector {
    const char *kind; /* as stored in connections.kind */
    /* Another name sg_connector_find accepts for this kind (a connection created with it is
     * stored as kind), or NULL. */
    const char *alias;
    /* The request body field holding the secret that is sealed ("password", "secret"), or NULL
     * for a kind with none. */
    const char *secret_field;
    /* Grants go to the person's database role (users.db_role): a request is refused while
     * the beneficiary has none. */
    bool needs_db_role;
    /* Whether account (a snowgate user's db_role) is one this kind can grant to: in the form
     * the kind names accounts (mysql: user or user@host), and not a name the server reads as
     * someone else or keeps for itself (PostgreSQL's PUBLIC and pg_* roles, MariaDB's root and
     * system accounts). SG_EINVAL with the reason, naming the account and the kind; the caller
     * adds who fixes it and how. Called where the connection is known: a request on one of its
     * assets, and before every apply. `snowgate user set --db-role` only warns about a name
     * some kind refuses, since it does not know where the user's grants will go. NULL: any
     * account (a kind without needs_db_role). */
    int (*check_account)(const char *account);
    /* Checks a new connection's settings in `in` (the API body) and sets what is kept in cfg
     * (stored as the connection's JSON config). *secret (borrowed from in) is the secret to
     * seal, or NULL. Errors are SG_EINVAL/SG_EDENIED with a message naming the fix. NULL: the
     * kind takes no settings. */
    int (*check_config)(sg_app *app, const sg_json *in, sg_json *cfg, const char **secret);
    /* Whether a request for `privilege` (read or write) on an asset of `type` can be fulfilled
     * here; SG_EINVAL with the reason otherwise. NULL: any. */
    int (*check_request)(const sg_connection_ref *c, const char *asset, const char *type,
                         const char *privilege);
    /* Logs in as a grant would and runs a trivial query: for snowgate doctor. NULL: nothing to
     * log in to (the check is skipped). Errors as for discover: SG_EINVAL or SG_EDENIED when
     * only an admin can fix it (a refused login, e.g. a wrong password: PostgreSQL SQLSTATE
     * 28P01 or 28000, MariaDB error 1045, 1044 or 1698; a refused address; a bad DSN),
     * SG_EUNAVAIL when it may pass (the server unreachable or shutting down). */
    int (*test_login)(sg_app *app, const sg_connection_ref *c);
    /* How discovery's names are made, for a kind with discover:
     *   3 - database.schema.table (a schema: database.schema). The connection reaches one
     *       database, and an asset an admin registered as schema.table is the same object;
     *       discovery marks gone only assets of that database.
     *   2 - database.table (a schema: the database itself). The connection reaches every
     *       database its account sees, and names are always whole; discovery marks gone any
     *       asset of the connection it no longer finds. */
    int name_parts;
    /* Reads the source's catalog and calls fn for each schema, table and view opts admits,
     * with comments cut to SG_DISCOVER_MAX_COMMENT characters (connectors/shared.h); the
     * caller skips a name with more parts than name_parts says (a dot inside a part). Errors
     * end the run (failed) when SG_EINVAL or SG_EDENIED (a refused login such as a wrong
     * password, a refused address, a bad DSN, a catalog query the server refuses); any other
     * error (SG_EUNAVAIL: unreachable, a timeout) is retried by the job queue. NULL: the kind
     * cannot discover (the API answers 409). */
    int (*discover)(sg_app *app, const sg_connection_ref *c, const sg_discover_opts *opts,
                    sg_discover_fn fn, void *ctx);
    /* Applies one change; idempotent, since a job may run it more than once. Transient failures
     * (the server unreachable, a lock timeout, 429/5xx) are SG_EUNAVAIL, with *retry_after from
     * the server when it said; others set *retry_after to SG_JOBS_NO_RETRY (a missing role, a
     * refused privilege: the job is dead at once, for an admin to fix and replay). NULL: a
     * person applies the change and marks the request done (sg_fulfil_mark_done). */
    int (*apply)(sg_app *app, const sg_access_change *ch, int64_t *retry_after);
    /* Checks, after apply, that the change is really in place: a grant is effective, a revoke
     * left no direct grant behind. note (may be NULL) receives a remark worth recording, e.g.
     * that the person still has the privilege through PUBLIC. Errors as for apply. NULL: the
     * kind cannot tell (a webhook's 2xx is all there is). */
    int (*verify)(sg_app *app, const sg_access_change *ch, char *note, size_t note_len,
                  int64_t *retry_after);
    /* State kept between calls for the whole app (e.g. idle connections), made by
     * sg_connectors_open and freed by sg_connectors_close. NULL: none. An operation must work
     * without it (sg_connector_state NULL: a command that did not open the app). */
    void *(*state_new)(sg_app *app);
    void (*state_free)(void *state);
} sg_connector;

/* The connector for kind (or its alias), or NULL (SG_EINVAL set, listing the kinds there
 * are). */
const sg_connector *sg_connector_find(const char *kind);
/* The kinds, NULL-terminated, in table order. */
const char *const *sg_connector_kinds(void);
/* "postgres, mysql (or mariadb), webhook or manual": the kinds for a message. Static
 * storage. */
const char *sg_connector_kinds_text(void);

/* Makes (and frees) every connector's app-wide state; called by sg_app_open and sg_app_close.
 * Close is idempotent. */
void sg_connectors_open(sg_app *app);
void sg_connectors_close(sg_app *app);
/* The state of connector k in app, or NULL when it keeps none or the app has none. Borrowed. */
void *sg_connector_state(sg_app *app, const sg_connector *k);

/* A shell-style glob match (* any run, ? any one byte, [abc] [a-z] [!x] a set), over the
 * whole name, case-sensitive. Exposed for the tests. */
bool sg_discover_match(const char *pattern, const char *name);
/* Whether opts admits name (see sg_discover_opts). */
bool sg_discover_admits(const sg_discover_opts *opts, const char *name);

/* The rows of the table (in connectors.c), for kinds that are added. */
extern const sg_connector sg_connector_postgres;
extern const sg_connector sg_connector_mysql;
extern const sg_connector sg_connector_webhook;
extern const sg_connector sg_connector_manual;

/* Checks a mysql DSN as mysql's check_config does: "host=H [port=P] user=U
 * [ssl_mode=verify-full|disable] [ssl_ca=/path]", one host, no password, no socket; ssl_mode
 * disable only with allow_insecure_loopback. SG_EINVAL or SG_EDENIED with the reason. Exposed
 * for the fuzzer (tests/fuzz/fuzz_mysql_dsn.c). */
int sg_mysql_check_dsn(const char *dsn, bool allow_insecure_loopback);

#endif
