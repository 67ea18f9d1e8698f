/* postgres: the PostgreSQL connector. GRANT and REVOKE on a table or view, to the person's
 * database role, then a check in the catalog that the change is really there.
 *
 * Every name reaches SQL through PQescapeIdentifier, and every value as a parameter. The
 * server's address passes the same outbound guard as HTTP (every address the host resolves to,
 * by sg_connector_pin; the first is then pinned with hostaddr), and TLS must verify the server
 * unless the loopback test flag is on and the address is loopback (or a local socket). */
#include "gate/connectors/connectors.h"
#include "gate/connectors/shared.h"

#include "gate/governance/privileges.h"
#include "gate/limits.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/url.h"
#include "gate/secrets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#define CONNECT_TIMEOUT_S  "10"
#define CONNECT_TIMEOUT_MS 10000
#define SESSION_OPTIONS    "-c statement_timeout=15000 -c lock_timeout=10000"
#define SYSTEM_CA_BUNDLE   "/etc/ssl/certs/ca-certificates.crt"

/* DSN keys snowgate sets itself, or refuses, whatever the DSN says. */
static bool key_is_ours(const char *k)
{
    static const char *const ours[] = {"password", "passfile",         "dbname",  "hostaddr",
                                       "options",  "connect_timeout",  "sslmode", "host",
                                       "port",     "application_name", NULL};
    for (size_t i = 0; ours[i]; i++)
        if (strcmp(ours[i], k) == 0)
            return true;
    return false;
}

static const char *opt(const PQconninfoOption *o, const char *key)
{
    for (; o && o->keyword; o++)
        if (strcmp(o->keyword, key) == 0)
            return o->val && *o->val ? o->val : NULL;
    return NULL;
}

static bool verifying(const char *sslmode)
{
    return sslmode && (strcmp(sslmode, "verify-full") == 0 || strcmp(sslmode, "verify-ca") == 0);
}

static int parse_dsn(const char *dsn, PQconninfoOption **out)
{
    char *why = NULL;
    *out = PQconninfoParse(dsn, &why);
    if (!*out) {
        int rc = sg_err_set(SG_EINVAL, "\"dsn\" is not a libpq connection string: %s",
                            why ? why : "out of memory");
        PQfreemem(why);
        return rc;
    }
    return SG_OK;
}

static int check_options(const PQconninfoOption *o, bool insecure)
{
    if (opt(o, "password") || opt(o, "passfile"))
        return sg_err_set(SG_EINVAL, "keep the password out of \"dsn\": send it as \"password\", "
                                     "which is stored encrypted");
    if (opt(o, "hostaddr"))
        return sg_err_set(SG_EINVAL, "give \"host\" in the dsn, not \"hostaddr\": snowgate "
                                     "resolves and checks the address itself");
    const char *host = opt(o, "host"), *port = opt(o, "port");
    if ((host && strchr(host, ',')) || (port && strchr(port, ',')))
        return sg_err_set(SG_EINVAL, "the dsn names several hosts; give one host per connection");
    if (!insecure && (!host || host[0] == '/' || host[0] == '@'))
        return sg_err_set(SG_EDENIED, "the dsn connects through a local socket; give the "
                                      "database server's host name");
    const char *mode = opt(o, "sslmode");
    if (!insecure && mode && !verifying(mode))
        return sg_err_set(SG_EDENIED,
                          "sslmode=%s does not verify the database server; use verify-full "
                          "(the default when sslmode is left out)",
                          mode);
    return SG_OK;
}

static int check_dsn(const char *dsn, bool allow_insecure_loopback)
{
    PQconninfoOption *o = NULL;
    int rc = parse_dsn(dsn, &o);
    if (rc == SG_OK)
        rc = check_options(o, allow_insecure_loopback);
    PQconninfoFree(o);
    return rc;
}

/* The qualified name: database.schema.name, or schema.name on the DSN's database. */
typedef struct pg_name {
    char db[256], schema[256], rel[256];
} pg_name;

static int split_name(const char *asset, pg_name *n)
{
    memset(n, 0, sizeof(*n));
    char parts[3][256];
    size_t np = 0;
    const char *p = asset;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (np == 3)
            return sg_err_set(SG_EINVAL,
                              "asset '%s' has more than 3 parts: a name with a dot inside a "
                              "schema or table name is ambiguous, and the postgres connector "
                              "grants only on database.schema.table (or schema.table)",
                              asset);
        if (len == 0 || len >= sizeof(parts[0]))
            return sg_err_set(SG_EINVAL,
                              "asset '%s' is not database.schema.table (or schema.table) as the "
                              "postgres connector needs",
                              asset);
        memcpy(parts[np], p, len);
        parts[np++][len] = '\0';
        if (!dot)
            break;
        p = dot + 1;
    }
    if (np < 2)
        return sg_err_set(SG_EINVAL,
                          "asset '%s' names no schema; postgres assets are database.schema.table",
                          asset);
    if (np == 3)
        sg_strlcpy(n->db, parts[0], sizeof(n->db));
    sg_strlcpy(n->schema, parts[np - 2], sizeof(n->schema));
    sg_strlcpy(n->rel, parts[np - 1], sizeof(n->rel));
    return SG_OK;
}

/* PQconnectdbParams, but with verbose errors from the start, so that a refused login's
 * message carries its SQLSTATE (libpq offers no other way to read it for a connection that
 * failed), and with the connect timeout kept here: PQconnectPoll ignores connect_timeout. */
static PGconn *connect_params(const char *const *kw, const char *const *val)
{
    PGconn *conn = PQconnectStartParams(kw, val, 0);
    if (!conn || PQstatus(conn) == CONNECTION_BAD)
        return conn;
    PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = CONNECT_TIMEOUT_MS -
                    ((now.tv_sec - t0.tv_sec) * 1000L + (now.tv_nsec - t0.tv_nsec) / 1000000L);
        struct pollfd p = {PQsocket(conn), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, 0};
        int n = left > 0 && p.fd >= 0 ? poll(&p, 1, (int)left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* timed out (or poll failed): PQstatus is not CONNECTION_OK */
        st = PQconnectPoll(conn);
    }
    /* Timed out: the status is not CONNECTION_OK, and the message may be empty. */
    if (PQstatus(conn) == CONNECTION_OK)
        PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
    return conn;
}

/* Whether a failed connection's (verbose) message is the server refusing the login. */
static bool login_refused(const char *why)
{
    return strstr(why, "  28P01: ") || strstr(why, "  28000: ");
}

static int connect_db(sg_app *app, const sg_connection_ref *ch, const char *db, PGconn **out)
{
    *out = NULL;
    bool insecure = app->cfg.allow_insecure_loopback;
    sg_json *cfg = NULL;
    const char *dsn = NULL;
    if (sg_json_parse(ch->config, strlen(ch->config), 0, 0, &cfg) == SG_OK)
        dsn = sg_json_get_str(cfg, "dsn");
    PQconninfoOption *o = NULL;
    int rc =
        dsn ? parse_dsn(dsn, &o) : sg_err_set(SG_EINVAL, "connection '%s' has no dsn", ch->name);
    if (rc == SG_OK)
        rc = check_options(o, insecure);
    const char *host = rc == SG_OK ? opt(o, "host") : NULL;
    char addr[INET6_ADDRSTRLEN] = "";
    bool local = true; /* a local socket (only with the test flag) or a loopback address */
    if (rc == SG_OK && host && host[0] != '/' && host[0] != '@') {
        sg_pinned pin;
        rc = sg_connector_pin(host, opt(o, "port") ? opt(o, "port") : "5432", insecure, &pin);
        if (rc == SG_OK) {
            sg_strlcpy(addr, pin.first, sizeof(addr));
            local = pin.first_loopback;
        }
    }
    /* Without TLS verification (the test flag is on: check_options said so), only to a
     * loopback address or a local socket. */
    const char *mode = rc == SG_OK ? opt(o, "sslmode") : NULL;
    if (rc == SG_OK && mode && !verifying(mode) && !local)
        rc = sg_err_set(SG_EDENIED,
                        "sslmode=%s is only for a loopback address, and database host %s is %s; "
                        "use verify-full",
                        mode, host, addr);
    char *password = NULL, binding[96];
    snprintf(binding, sizeof(binding), "connections:%s:secret", ch->id);
    if (rc == SG_OK && ch->sealed && *ch->sealed)
        rc = sg_secrets_open_value(&app->secrets, binding, ch->sealed, &password);
    if (rc != SG_OK) {
        PQconninfoFree(o);
        sg_json_decref(cfg);
        return rc;
    }
    const char *kw[64], *val[64];
    size_t n = 0;
    for (const PQconninfoOption *p = o; p->keyword && n < 50; p++)
        if (p->val && *p->val && !key_is_ours(p->keyword)) {
            kw[n] = p->keyword;
            val[n++] = p->val;
        }
#define SET(k, v)                                                                                  \
    do {                                                                                           \
        kw[n] = (k);                                                                               \
        val[n++] = (v);                                                                            \
    } while (0)
    if (host)
        SET("host", host);
    if (addr[0])
        SET("hostaddr", addr);
    if (opt(o, "port"))
        SET("port", opt(o, "port"));
    if (db && *db)
        SET("dbname", db);
    else if (opt(o, "dbname"))
        SET("dbname", opt(o, "dbname"));
    if (password)
        SET("password", password);
    SET("passfile", "/dev/null");
    SET("connect_timeout", CONNECT_TIMEOUT_S);
    SET("options", SESSION_OPTIONS);
    SET("application_name", "snowgate");
    if (!mode && !(insecure && local))
        mode = "verify-full";
    if (mode)
        SET("sslmode", mode);
    if (verifying(mode) && !opt(o, "sslrootcert"))
        SET("sslrootcert", SYSTEM_CA_BUNDLE);
#undef SET
    kw[n] = NULL;
    val[n] = NULL;
    PGconn *conn = connect_params(kw, val);
    sg_secrets_free_plain(password);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        char why[400];
        sg_strlcpy(why, conn ? PQerrorMessage(conn) : "out of memory", sizeof(why));
        why[strcspn(why, "\n")] = '\0';
        if (!why[0])
            sg_strlcpy(why, "timeout expired", sizeof(why));
        /* A wrong password (28P01) or a login the server refuses (28000: no such role, no
         * pg_hba.conf entry) stays wrong until an admin fixes it: final, never retried. */
        if (login_refused(why))
            rc = sg_err_set(SG_EINVAL,
                            "the database of connection '%s' refused the login: %s; check the "
                            "dsn's user and the connection's password",
                            ch->name, why);
        else
            rc = sg_err_set(SG_EUNAVAIL, "cannot connect to the database of connection '%s': %s",
                            ch->name, why);
        PQfinish(conn);
    } else {
        *out = conn;
    }
    PQconninfoFree(o);
    sg_json_decref(cfg);
    return rc;
}

/* ---- idle connections, kept for the next grant ----
 * A new connection costs a TCP (and TLS) handshake and SCRAM authentication: most of a grant's
 * time. An idle one is kept for POOL_IDLE_S, keyed by everything it was opened with (the
 * connection's config, its sealed password, the database), so a changed DSN or password never
 * reuses an old one. A connection comes back only when it is healthy and outside any
 * transaction. */
#define POOL_SIZE   8
#define POOL_IDLE_S 60

typedef struct pooled {
    char key[2 * SG_SHA256_LEN + 1];
    PGconn *conn;
    time_t since;
} pooled;

/* The connector's state in the app (sg_connector_state). */
typedef struct pg_pool {
    pthread_mutex_t mu;
    pooled slot[POOL_SIZE];
} pg_pool;

static void *pool_new(sg_app *app)
{
    (void)app;
    pg_pool *p = sg_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

static void pool_free(void *state)
{
    pg_pool *p = state;
    if (!p)
        return;
    for (int i = 0; i < POOL_SIZE; i++)
        PQfinish(p->slot[i].conn);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static void pool_key(const sg_access_change *ch, const char *db, char key[2 * SG_SHA256_LEN + 1])
{
    char *all = sg_xasprintf("%s\n%s\n%s\n%s", ch->connection_id, ch->config,
                             ch->sealed ? ch->sealed : "", db ? db : "");
    uint8_t h[SG_SHA256_LEN];
    sg_sha256(all, strlen(all), h);
    free(all);
    for (size_t i = 0; i < SG_SHA256_LEN; i++)
        snprintf(key + 2 * i, 3, "%02x", h[i]);
}

/* An idle connection opened with key, or NULL. p NULL (no app state): never one. */
static PGconn *pool_take(pg_pool *p, const char *key)
{
    if (!p)
        return NULL;
    PGconn *found = NULL, *stale[POOL_SIZE];
    int nstale = 0;
    time_t now = time(NULL);
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < POOL_SIZE; i++) {
        pooled *s = &p->slot[i];
        if (!s->conn)
            continue;
        if (now - s->since > POOL_IDLE_S) {
            stale[nstale++] = s->conn;
            s->conn = NULL;
        } else if (!found && strcmp(s->key, key) == 0) {
            found = s->conn;
            s->conn = NULL;
        }
    }
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < nstale; i++)
        PQfinish(stale[i]);
    if (found && PQstatus(found) != CONNECTION_OK) {
        PQfinish(found);
        found = NULL;
    }
    return found;
}

/* Keeps conn for the next call, or closes it (p NULL, broken, or inside a transaction). */
static void pool_give(pg_pool *p, const char *key, PGconn *conn)
{
    if (!p || PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PQfinish(conn);
        return;
    }
    PGconn *evicted = NULL;
    pthread_mutex_lock(&p->mu);
    int slot = 0;
    for (int i = 0; i < POOL_SIZE; i++) {
        if (!p->slot[i].conn) {
            slot = i;
            break;
        }
        if (p->slot[i].since < p->slot[slot].since)
            slot = i;
    }
    evicted = p->slot[slot].conn;
    snprintf(p->slot[slot].key, sizeof(p->slot[slot].key), "%s", key);
    p->slot[slot].conn = conn;
    p->slot[slot].since = time(NULL);
    pthread_mutex_unlock(&p->mu);
    PQfinish(evicted);
}

/* SQLSTATE classes worth retrying: connection, transaction rollback, resources, operator
 * intervention, system errors, and lock or statement timeouts. */
static bool transient(const char *state)
{
    if (!state || strlen(state) != 5)
        return true;
    static const char *const classes[] = {"08", "40", "53", "57", "58", NULL};
    for (size_t i = 0; classes[i]; i++)
        if (strncmp(state, classes[i], 2) == 0)
            return true;
    return strcmp(state, "55P03") == 0;
}

/* Runs sql; on failure sets the error with what was attempted. */
static int run(PGconn *conn, const char *what, const char *sql, int nparams,
               const char *const *params, PGresult **keep, int64_t *retry_after)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (keep)
            *keep = res;
        else
            PQclear(res);
        return SG_OK;
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    char why[400];
    sg_strlcpy(why, msg ? msg : PQerrorMessage(conn), sizeof(why));
    why[strcspn(why, "\n")] = '\0';
    int rc;
    /* Someone else's concurrent change to the same catalog row: try again. */
    bool raced = state && strcmp(state, "XX000") == 0 && msg &&
                 strstr(msg, "tuple concurrently updated") != NULL;
    if (raced || transient(state)) {
        rc = sg_err_set(SG_EUNAVAIL, "PostgreSQL failed %s: %s", what, why);
    } else {
        rc = sg_err_set(SG_EINVAL, "PostgreSQL refused %s: %s (SQLSTATE %s)", what, why, state);
        *retry_after = SG_JOBS_NO_RETRY;
    }
    PQclear(res);
    return rc;
}

/* "SELECT, INSERT" from the NULL-terminated list; only known keywords reach SQL. */
static int privilege_list(const char *const *privs, char *out, size_t len)
{
    out[0] = '\0';
    sg_privs set = 0;
    if (!sg_privs_parse(privs, &set))
        return sg_err_set(SG_EINTERNAL, "a privilege outside the model was asked for");
    char text[64];
    sg_privs_text(set, text);
    if (sg_strlcpy(out, text, len) >= len)
        return sg_err_set(SG_EINTERNAL, "privilege list too long");
    return SG_OK;
}

/* Whether role holds priv on rel: "effective" (has_table_privilege, through any route) or
 * only as a direct grant (the table's ACL). */
static int holds(PGconn *conn, const char *role, const char *rel, const char *priv, bool effective,
                 bool *out, int64_t *retry_after)
{
    const char *p[] = {role, rel, priv};
    const char *sql =
        effective ? "SELECT has_table_privilege($1, $2, $3)"
                  : "SELECT EXISTS (SELECT 1 FROM pg_class c CROSS JOIN LATERAL "
                    "aclexplode(c.relacl) a JOIN pg_roles r ON r.oid = a.grantee "
                    "WHERE c.oid = $2::regclass AND r.rolname = $1 AND a.privilege_type = $3)";
    PGresult *res = NULL;
    int rc = run(conn, "the privilege check", sql, 3, p, &res, retry_after);
    if (rc != SG_OK)
        return rc;
    *out = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return SG_OK;
}

/* "schema"."rel", quoted for SQL, into out. */
static int quote_rel(PGconn *conn, const sg_access_change *ch, const pg_name *n, sg_buf *out,
                     int64_t *retry_after)
{
    char *schema = PQescapeIdentifier(conn, n->schema, strlen(n->schema));
    char *rel = PQescapeIdentifier(conn, n->rel, strlen(n->rel));
    int rc = SG_OK;
    if (!schema || !rel) {
        rc = sg_err_set(SG_EINVAL, "cannot quote the names of %s: %s", ch->asset,
                        PQerrorMessage(conn));
        *retry_after = SG_JOBS_NO_RETRY;
    } else {
        sg_buf_printf(out, "%s.%s", schema, rel);
    }
    PQfreemem(schema);
    PQfreemem(rel);
    return rc;
}

static int apply_sql(PGconn *conn, const sg_access_change *ch, const pg_name *n,
                     int64_t *retry_after)
{
    char privs[64];
    int rc = privilege_list(ch->privileges, privs, sizeof(privs));
    if (rc != SG_OK || !privs[0])
        return rc; /* nothing left to revoke: other grants still need all of it */
    sg_buf qualified = SG_BUF_INIT(0), sql = SG_BUF_INIT(0);
    char *role = PQescapeIdentifier(conn, ch->db_role, strlen(ch->db_role));
    if (!role) {
        rc = sg_err_set(SG_EINVAL, "cannot quote the names of %s: %s", ch->asset,
                        PQerrorMessage(conn));
        *retry_after = SG_JOBS_NO_RETRY;
    }
    if (rc == SG_OK)
        rc = quote_rel(conn, ch, n, &qualified, retry_after);
    if (rc == SG_OK) {
        sg_buf_printf(&sql,
                      ch->grant ? "GRANT %s ON TABLE %s TO %s" : "REVOKE %s ON TABLE %s FROM %s",
                      privs, sg_buf_str(&qualified), role);
        char what[400];
        snprintf(what, sizeof(what), "%s %s on %s for role %s", ch->grant ? "GRANT" : "REVOKE",
                 privs, ch->asset, ch->db_role);
        /* Two GRANTs on one table at once (workers, replicas) make PostgreSQL fail one with
         * "tuple concurrently updated": an advisory lock on the table's name serializes ours. */
        const char *lock_params[] = {sg_buf_str(&qualified)};
        rc = run(conn, "BEGIN", "BEGIN", 0, NULL, NULL, retry_after);
        if (rc == SG_OK)
            rc = run(conn, "the grant lock", "SELECT pg_advisory_xact_lock(hashtext($1))", 1,
                     lock_params, NULL, retry_after);
        if (rc == SG_OK)
            rc = run(conn, what, sg_buf_str(&sql), 0, NULL, NULL, retry_after);
        if (rc == SG_OK)
            rc = run(conn, "COMMIT", "COMMIT", 0, NULL, NULL, retry_after);
        if (rc != SG_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
            PQclear(PQexec(conn, "ROLLBACK"));
    }
    sg_buf_free(&sql);
    sg_buf_free(&qualified);
    PQfreemem(role);
    return rc;
}

/* The check: a grant must be effective; a revoke must leave no direct grant behind, and what
 * still reaches the role another way is worth a note. */
static int verify_sql(PGconn *conn, const sg_access_change *ch, const pg_name *n, char *note,
                      size_t note_len, int64_t *retry_after)
{
    char privs[64];
    int rc = privilege_list(ch->privileges, privs, sizeof(privs));
    if (rc != SG_OK || !privs[0])
        return rc; /* nothing was changed */
    sg_buf qualified = SG_BUF_INIT(0);
    rc = quote_rel(conn, ch, n, &qualified, retry_after);
    char still[64] = "";
    for (size_t i = 0; rc == SG_OK && ch->privileges[i]; i++) {
        bool has = false;
        rc = holds(conn, ch->db_role, sg_buf_str(&qualified), ch->privileges[i], ch->grant, &has,
                   retry_after);
        if (rc == SG_OK && ch->grant && !has)
            rc = sg_err_set(SG_EUNAVAIL, "after GRANT, role %s still lacks %s on %s", ch->db_role,
                            ch->privileges[i], ch->asset);
        if (rc == SG_OK && !ch->grant && has) {
            rc = sg_err_set(SG_EINVAL,
                            "after REVOKE, role %s still holds a direct %s grant on %s, made by "
                            "another role; remove it as that role",
                            ch->db_role, ch->privileges[i], ch->asset);
            *retry_after = SG_JOBS_NO_RETRY;
        }
        if (rc == SG_OK && !ch->grant) {
            rc = holds(conn, ch->db_role, sg_buf_str(&qualified), ch->privileges[i], true, &has,
                       retry_after);
            if (rc == SG_OK && has) {
                if (still[0])
                    sg_strlcat(still, ", ", sizeof(still));
                sg_strlcat(still, ch->privileges[i], sizeof(still));
            }
        }
    }
    if (rc == SG_OK)
        sg_log_info(ch->grant ? "GRANT applied and verified" : "REVOKE applied and verified",
                    "privileges", privs, "asset", ch->asset, "role", ch->db_role);
    if (rc == SG_OK && still[0] && note)
        snprintf(note, note_len,
                 "role %s still has %s on %s through PUBLIC or a role it belongs to", ch->db_role,
                 still, ch->asset);
    sg_buf_free(&qualified);
    return rc;
}

static int pg_check_account(const char *role)
{
    /* PostgreSQL reads the quoted name "public" as PUBLIC, every role: a grant to it goes to
     * everyone, and the check after it passes. The others name whoever is connected, nobody,
     * or PostgreSQL's own predefined roles. Refused in any case, since a name that differs
     * only in case is a mistake waiting to happen. */
    size_t n = strlen(role);
    if (n == 0 || n > SG_MAX_DB_ROLE || !sg_str_printable(role, n))
        return sg_err_set(SG_EINVAL,
                          "a PostgreSQL role name is 1 to %d printable bytes; '%s' is not",
                          SG_MAX_DB_ROLE, role);
    if (strcasecmp(role, "public") == 0)
        return sg_err_set(SG_EINVAL,
                          "database role '%s' is PUBLIC, which PostgreSQL reads as every role: a "
                          "grant to it would go to everyone",
                          role);
    static const char *const reserved[] = {"current_role", "current_user", "session_user", "none"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(role, reserved[i]) == 0)
            return sg_err_set(SG_EINVAL,
                              "database role '%s' is a name PostgreSQL reserves, not a role of "
                              "a user's own",
                              role);
    if (strncasecmp(role, "pg_", 3) == 0)
        return sg_err_set(SG_EINVAL,
                          "database role '%s' starts with pg_, which PostgreSQL reserves for its "
                          "predefined roles",
                          role);
    return SG_OK;
}

static sg_connection_ref ref_of(const sg_access_change *ch)
{
    sg_connection_ref c = {ch->connection_id, ch->connection, "postgres", ch->config, ch->sealed};
    return c;
}

/* The checks before any SQL, the asset's name parts, and a connection to its database (from
 * the pool when one is idle); *key is the pool key to give it back under. */
static int prepare(sg_app *app, const sg_access_change *ch, pg_name *n, PGconn **conn,
                   char key[2 * SG_SHA256_LEN + 1], int64_t *retry_after)
{
    *conn = NULL;
    if (!ch->db_role || !*ch->db_role) {
        *retry_after = SG_JOBS_NO_RETRY;
        return sg_err_set(SG_EINVAL,
                          "%s has no database role; set it with `snowgate user set %s --db-role "
                          "ROLE`, then replay the job",
                          ch->beneficiary, ch->beneficiary);
    }
    /* The last guard, for a role stored before the check existed: never GRANT to PUBLIC. */
    if (pg_check_account(ch->db_role) != SG_OK) {
        char why[300];
        sg_strlcpy(why, sg_err_msg(), sizeof(why));
        *retry_after = SG_JOBS_NO_RETRY;
        return sg_err_set(SG_EINVAL,
                          "%s; nothing was granted to %s: set their role with `snowgate user "
                          "set %s --db-role ROLE`, then replay the job",
                          why, ch->beneficiary, ch->beneficiary);
    }
    int rc = split_name(ch->asset, n);
    if (rc != SG_OK) {
        *retry_after = SG_JOBS_NO_RETRY;
        return rc;
    }
    pool_key(ch, n->db, key);
    *conn = pool_take(sg_connector_state(app, &sg_connector_postgres), key);
    if (*conn)
        return SG_OK;
    sg_connection_ref c = ref_of(ch);
    rc = connect_db(app, &c, n->db, conn);
    if (rc == SG_EINVAL || rc == SG_EDENIED)
        *retry_after = SG_JOBS_NO_RETRY;
    return rc;
}

static int pg_apply(sg_app *app, const sg_access_change *ch, int64_t *retry_after)
{
    pg_name n;
    PGconn *conn = NULL;
    char key[2 * SG_SHA256_LEN + 1];
    int rc = prepare(app, ch, &n, &conn, key, retry_after);
    if (rc == SG_OK)
        rc = apply_sql(conn, ch, &n, retry_after);
    if (rc == SG_OK)
        pool_give(sg_connector_state(app, &sg_connector_postgres), key, conn);
    else
        PQfinish(conn);
    return rc;
}

static int pg_verify(sg_app *app, const sg_access_change *ch, char *note, size_t note_len,
                     int64_t *retry_after)
{
    if (note && note_len)
        note[0] = '\0';
    pg_name n;
    PGconn *conn = NULL;
    char key[2 * SG_SHA256_LEN + 1];
    int rc = prepare(app, ch, &n, &conn, key, retry_after);
    if (rc == SG_OK)
        rc = verify_sql(conn, ch, &n, note, note_len, retry_after);
    if (rc == SG_OK)
        pool_give(sg_connector_state(app, &sg_connector_postgres), key, conn);
    else
        PQfinish(conn);
    return rc;
}

static int pg_test_login(sg_app *app, const sg_connection_ref *c)
{
    PGconn *conn = NULL;
    int rc = connect_db(app, c, NULL, &conn);
    if (rc != SG_OK)
        return rc;
    PGresult *r = PQexec(conn, "SELECT 1");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = sg_err_set(SG_EUNAVAIL, "connection '%s' logged in but cannot query: %s", c->name,
                        PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(conn);
    return rc;
}

/* A new connection's settings: "dsn" (checked) and "password" (sealed). */
static int pg_check_config(sg_app *app, const sg_json *in, sg_json *cfg, const char **secret)
{
    const char *dsn = sg_json_get_str(in, "dsn");
    *secret = sg_json_get_str(in, "password");
    int rc = SG_OK;
    if (!dsn || !*dsn)
        rc =
            sg_err_set(SG_EINVAL, "a postgres connection needs \"dsn\", e.g. \"host=db.example.com "
                                  "dbname=analytics user=snowgate\"");
    else if (strlen(dsn) > SG_MAX_DSN)
        rc = sg_err_set(SG_EINVAL, "\"dsn\" is %zu bytes; the most is %d", strlen(dsn), SG_MAX_DSN);
    else if (strchr(dsn, '@'))
        rc = sg_err_set(SG_EINVAL, "keep the password out of the \"dsn\": no user@ in a "
                                   "URI; give ?user= and send \"password\", which is stored "
                                   "encrypted");
    else if ((rc = check_dsn(dsn, app->cfg.allow_insecure_loopback)) == SG_OK)
        sg_json_set_str(cfg, "dsn", dsn);
    return rc;
}

/* GRANT here is on tables and views, and a view cannot be written. */
static int pg_check_request(const sg_connection_ref *c, const char *asset, const char *type,
                            const char *privilege)
{
    if (strcmp(type, "table") != 0 && strcmp(type, "view") != 0)
        return sg_err_set(SG_EINVAL,
                          "asset '%s' is a %s; its postgres connection '%s' grants on tables and "
                          "views only",
                          asset, type, c->name);
    if (strcmp(type, "view") == 0 && strcmp(privilege, "write") == 0)
        return sg_err_set(SG_EINVAL, "asset '%s' is a view, which cannot be written; request read",
                          asset);
    pg_name n;
    return split_name(asset, &n);
}

/* ---- discovery ----
 * One query over the catalog of the DSN's database: its schemas (but PostgreSQL's own), their
 * tables (plain, partitioned parents, foreign) and views (plain, materialized), each with its
 * owner and its COMMENT ON. Partitions are left out: access goes through the parent. */
#define PG_STR(x)  #x
#define PG_XSTR(x) PG_STR(x)
#define PG_COMMENT PG_XSTR(SG_DISCOVER_MAX_COMMENT)
#define DISCOVER_SQL                                                                               \
    "SELECT current_database(), n.nspname, NULL, 'schema', pg_get_userbyid(n.nspowner), "          \
    "left(COALESCE(d.description, ''), " PG_COMMENT                                                \
    ") FROM pg_namespace n LEFT JOIN pg_description d ON "                                         \
    "d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0 "               \
    "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE "          \
    "'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "                                        \
    "UNION ALL "                                                                                   \
    "SELECT current_database(), n.nspname, c.relname, CASE WHEN c.relkind IN ('v', 'm') THEN "     \
    "'view' ELSE 'table' END, pg_get_userbyid(c.relowner), left(COALESCE(d.description, "          \
    "''), " PG_COMMENT ") FROM "                                                                   \
    "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_description d ON "      \
    "d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0 WHERE "             \
    "c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND n.nspname NOT IN "        \
    "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname "     \
    "NOT LIKE 'pg\\_temp\\_%' ORDER BY 2, 3 NULLS FIRST"

static int pg_discover(sg_app *app, const sg_connection_ref *c, const sg_discover_opts *opts,
                       sg_discover_fn fn, void *ctx)
{
    (void)opts; /* the caller filters: patterns are globs, not LIKE */
    PGconn *conn = NULL;
    int rc = connect_db(app, c, NULL, &conn);
    if (rc != SG_OK)
        return rc;
    PGresult *res = NULL;
    int64_t retry_after = 0;
    rc = run(conn, "the catalog query", DISCOVER_SQL, 0, NULL, &res, &retry_after);
    sg_buf name = SG_BUF_INIT(0);
    int rows = rc == SG_OK ? PQntuples(res) : 0;
    for (int i = 0; rc == SG_OK && i < rows; i++) {
        sg_buf_reset(&name);
        bool schema = PQgetisnull(res, i, 2);
        if (schema)
            sg_buf_printf(&name, "%s.%s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        else
            sg_buf_printf(&name, "%s.%s.%s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                          PQgetvalue(res, i, 2));
        sg_discovered d = {sg_buf_str(&name), PQgetvalue(res, i, 3), PQgetvalue(res, i, 5),
                           PQgetvalue(res, i, 4)};
        rc = fn(ctx, &d);
    }
    sg_buf_free(&name);
    PQclear(res);
    PQfinish(conn);
    return rc;
}

const sg_connector sg_connector_postgres = {
    .kind = "postgres",
    .secret_field = "password",
    .needs_db_role = true,
    .check_account = pg_check_account,
    .name_parts = 3,
    .check_config = pg_check_config,
    .check_request = pg_check_request,
    .test_login = pg_test_login,
    .discover = pg_discover,
    .apply = pg_apply,
    .verify = pg_verify,
    .state_new = pool_new,
    .state_free = pool_free,
};
