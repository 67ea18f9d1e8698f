/* postgres: the shared store backend, for several snowgate replicas on one PostgreSQL (libpq).
 *
 * - A pool of connections, opened on first use and reopened when one breaks; every session
 *   carries a statement timeout.
 * - Write transactions are serialized across every replica by a transaction-scoped advisory
 *   lock, the same single-writer guarantee SQLite gives, so read-then-write code (the audit
 *   chain, request transitions, dedup checks) is correct however many replicas run. Row-locked
 *   transactions (job claims: FOR UPDATE SKIP LOCKED) skip that lock.
 * - Reads run in REPEATABLE READ: one consistent snapshot per callback.
 * - SQL arrives with ?N parameters and leaves with $N; values go as text and PostgreSQL infers
 *   their types from the statement. Migrations say INTEGER for a 64-bit integer (SQLite's
 *   meaning); here it becomes BIGINT.
 * - A failed statement aborts a PostgreSQL transaction, where SQLite carries on. INSERTs inside
 *   a transaction therefore run in a savepoint, so a caller that handles a conflict (a webhook
 *   id already stored) can go on as it would on SQLite. */
#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "store/backend.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Advisory lock keys: the write lock ("sgwrite" in ASCII) and the leader's ("sglead"). */
#define WRITE_LOCK_KEY  "32488543744845157"
#define LEADER_LOCK_KEY "126909227739492"
#define MAX_PARAMS      64

static void trim_end(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

typedef struct pg_db pg_db;

typedef struct pg_conn {
    sg_conn_base base;
    pg_db *db;
    PGconn *pg;
    bool in_use;
    bool in_tx;
} pg_conn;

typedef struct pg_rows {
    sg_conn_base base;
    PGresult *res;
    int row; /* -1 before the first sg_rows_next */
    int rows;
    unsigned char *blob; /* the last unescaped bytea */
} pg_rows;

struct pg_db {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pg_conn *conns;
    unsigned n;
    char *url;
    char options[96];
    bool verify;   /* add sslmode=verify-full (the URL gave no sslmode, the host is remote) */
    bool rootcert; /* and sslrootcert=the system CA bundle */
    /* Leadership: a session advisory lock on a connection of its own. It lasts as long as
     * that session, so a replica that dies (or loses its connection) hands it on. */
    pthread_mutex_t lmu;
    PGconn *lead;
    bool leading;
};

static bool is_url(const char *url)
{
    return sg_str_startswith(url, "postgres://") || sg_str_startswith(url, "postgresql://");
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Connects one pool slot (or reconnects a broken one). */
static int connect_slot(pg_db *d, pg_conn *c)
{
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
        return SG_OK;
    if (c->pg)
        PQfinish(c->pg);
    const char *kw[] = {"dbname", "options", "application_name", "connect_timeout", NULL,
                        NULL,     NULL};
    const char *val[] = {d->url, d->options, "snowgate", "10", NULL, NULL, NULL};
    size_t n = 4;
    if (d->verify) {
        kw[n] = "sslmode";
        val[n++] = "verify-full";
    }
    if (d->rootcert) {
        kw[n] = "sslrootcert";
        val[n++] = "/etc/ssl/certs/ca-certificates.crt";
    }
    c->pg = PQconnectdbParams(kw, val, 1);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        char why[256] = "out of memory";
        if (c->pg)
            sg_strlcpy(why, PQerrorMessage(c->pg), sizeof(why));
        trim_end(why);
        PQfinish(c->pg);
        c->pg = NULL;
        /* The message names host and database, never the password. */
        return sg_err_set(SG_EUNAVAIL, "cannot connect to the PostgreSQL store: %s", why);
    }
    /* Server notices ("already exists, skipping") are not errors; do not print them. */
    PQsetNoticeProcessor(c->pg, quiet, NULL);
    c->in_tx = false;
    return SG_OK;
}

static int pg_error(pg_conn *c, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char why[300];
    sg_strlcpy(why, msg ? msg : (c->pg ? PQerrorMessage(c->pg) : "no connection"), sizeof(why));
    trim_end(why);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK)
        return sg_err_set(SG_EUNAVAIL, "%s: the PostgreSQL store connection broke: %s", what, why);
    if (state && (strcmp(state, "23505") == 0 || strcmp(state, "23503") == 0))
        return sg_err_set(SG_ECONFLICT, "%s: %s", what, why);
    if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
                  strcmp(state, "55P03") == 0 || sg_str_startswith(state, "08")))
        return sg_err_set(SG_EUNAVAIL, "%s: database is busy: %s", what, why);
    if (state && strcmp(state, "57014") == 0)
        return sg_err_set(SG_ETIMEOUT, "%s: the statement timed out: %s", what, why);
    return sg_err_set(SG_ESTORE, "%s: %s", what, why);
}

/* ?N becomes $N outside quotes and comments. */
static void translate(const char *sql, sg_buf *out)
{
    for (const char *p = sql; *p; p++) {
        if (*p == '\'' || *p == '"') {
            char q = *p;
            sg_buf_putc(out, *p++);
            while (*p && *p != q)
                sg_buf_putc(out, *p++);
            if (!*p)
                break;
            sg_buf_putc(out, *p);
        } else if (*p == '?' && isdigit((unsigned char)p[1])) {
            sg_buf_putc(out, '$');
        } else {
            sg_buf_putc(out, *p);
        }
    }
}

/* A migration in PostgreSQL's words: INTEGER (64-bit in SQLite) becomes BIGINT. */
static void dialect(const char *sql, sg_buf *out)
{
    for (const char *p = sql; *p;) {
        if (*p == '\'' || (p[0] == '-' && p[1] == '-')) {
            const char *end = *p == '\'' ? strchr(p + 1, '\'') : strchr(p, '\n');
            size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
            sg_buf_append(out, p, n);
            p += n;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            const char *w = p;
            while (isalnum((unsigned char)*p) || *p == '_')
                p++;
            size_t n = (size_t)(p - w);
            if (n == 7 && strncasecmp(w, "INTEGER", 7) == 0)
                sg_buf_puts(out, "BIGINT");
            else
                sg_buf_append(out, w, n);
        } else {
            sg_buf_putc(out, *p++);
        }
    }
}

static void pg_close(void *p)
{
    pg_db *d = p;
    if (!d)
        return;
    for (unsigned i = 0; i < d->n; i++)
        PQfinish(d->conns[i].pg);
    free(d->conns);
    PQfinish(d->lead);
    pthread_mutex_destroy(&d->lmu);
    if (d->url) /* it may carry a password */
        sg_wipe(d->url, strlen(d->url));
    free(d->url);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}

static int pg_open(const sg_store_opts *opts, void **out)
{
    if (!is_url(opts->url))
        return sg_err_set(SG_EINVAL, "not a PostgreSQL URL (postgres://user@host/db)");
    char *why = NULL;
    PQconninfoOption *ci = PQconninfoParse(opts->url, &why);
    if (!ci) {
        int rc = sg_err_set(SG_EINVAL, "store URL is not a valid PostgreSQL URL: %s",
                            why ? why : "out of memory");
        PQfreemem(why);
        return rc;
    }
    /* TLS: a server reached over the network is verified (verify-full against the system CAs)
     * unless the URL says otherwise; a URL that weakens it is obeyed, with a warning. */
    const char *host = NULL, *sslmode = NULL, *rootcert = NULL;
    for (const PQconninfoOption *o = ci; o->keyword; o++) {
        const char *v = o->val && *o->val ? o->val : NULL;
        if (strcmp(o->keyword, "host") == 0)
            host = v;
        else if (strcmp(o->keyword, "sslmode") == 0)
            sslmode = v;
        else if (strcmp(o->keyword, "sslrootcert") == 0)
            rootcert = v;
    }
    bool local = !host || host[0] == '/' || strcmp(host, "localhost") == 0 ||
                 sg_str_startswith(host, "127.") || strcmp(host, "::1") == 0;
    bool verify_default = !sslmode && !local;
    if (sslmode && !local && strcmp(sslmode, "verify-full") != 0 &&
        strcmp(sslmode, "verify-ca") != 0)
        sg_log_warn("the PostgreSQL store's TLS is not verified (sslmode in store.url); use "
                    "sslmode=verify-full",
                    "host", host, "sslmode", sslmode);
    PQconninfoFree(ci);
    pg_db *d = sg_xcalloc(1, sizeof(*d));
    d->verify = verify_default;
    d->rootcert = verify_default && !rootcert;
    pthread_mutex_init(&d->mu, NULL);
    pthread_mutex_init(&d->lmu, NULL);
    pthread_cond_init(&d->cv, NULL);
    d->url = sg_xstrdup(opts->url);
    unsigned timeout = opts->statement_timeout_ms ? opts->statement_timeout_ms : 30000;
    snprintf(d->options, sizeof(d->options), "-c statement_timeout=%u -c lock_timeout=%u", timeout,
             opts->busy_timeout_ms ? opts->busy_timeout_ms : timeout);
    d->n = opts->pool_size ? opts->pool_size : 1;
    d->conns = sg_xcalloc(d->n, sizeof(pg_conn));
    for (unsigned i = 0; i < d->n; i++) {
        d->conns[i].base.be = &sg_store_postgres;
        d->conns[i].db = d;
    }
    /* One connection now, so a wrong URL or password fails at start, not on first use. */
    int rc = connect_slot(d, &d->conns[0]);
    if (rc != SG_OK) {
        pg_close(d);
        return rc;
    }
    *out = d;
    return SG_OK;
}

static int pg_acquire(void *p, sg_conn **out)
{
    pg_db *d = p;
    pg_conn *c = NULL;
    pthread_mutex_lock(&d->mu);
    while (!c) {
        /* An already connected free slot first, then any free one. */
        for (unsigned i = 0; i < d->n && !c; i++)
            if (!d->conns[i].in_use && d->conns[i].pg)
                c = &d->conns[i];
        for (unsigned i = 0; i < d->n && !c; i++)
            if (!d->conns[i].in_use)
                c = &d->conns[i];
        if (!c)
            pthread_cond_wait(&d->cv, &d->mu);
    }
    c->in_use = true;
    pthread_mutex_unlock(&d->mu);
    int rc = connect_slot(d, c);
    if (rc != SG_OK) {
        pthread_mutex_lock(&d->mu);
        c->in_use = false;
        pthread_cond_signal(&d->cv);
        pthread_mutex_unlock(&d->mu);
        return rc;
    }
    *out = (sg_conn *)(void *)c;
    return SG_OK;
}

static void pg_release(void *p, sg_conn *sc)
{
    pg_db *d = p;
    pg_conn *c = (pg_conn *)(void *)sc;
    /* A connection left inside a transaction (it broke half-way) is not lent again as is. */
    if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    pthread_mutex_lock(&d->mu);
    c->in_use = false;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static int run_plain(pg_conn *c, const char *sql, const char *what)
{
    PGresult *res = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? SG_OK : pg_error(c, res, what);
    PQclear(res);
    return rc;
}

static int pg_begin(sg_conn *sc, sg_tx_mode mode)
{
    pg_conn *c = (pg_conn *)(void *)sc;
    const char *sql = mode == SG_TX_READ  ? "BEGIN ISOLATION LEVEL REPEATABLE READ"
                      : mode == SG_TX_ROW ? "BEGIN"
                                          : "BEGIN; SELECT pg_advisory_xact_lock(" WRITE_LOCK_KEY
                                            ")";
    int rc = run_plain(c, sql, "begin");
    if (rc != SG_OK && PQstatus(c->pg) != CONNECTION_OK) {
        /* A pooled connection that broke while idle (server restart, failover, a killed
         * backend) is found here; nothing has happened yet, so reconnect and begin again. */
        rc = connect_slot(c->db, c);
        if (rc == SG_OK)
            rc = run_plain(c, sql, "begin");
    }
    if (rc != SG_OK) {
        run_plain(c, "ROLLBACK", "rollback");
        return rc;
    }
    c->in_tx = true;
    return SG_OK;
}

static int pg_commit(sg_conn *sc)
{
    pg_conn *c = (pg_conn *)(void *)sc;
    PGresult *res = PQexec(c->pg, "COMMIT");
    int rc = SG_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_error(c, res, "commit");
    /* COMMIT of a transaction that failed earlier answers ROLLBACK, and says so only here. */
    else if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
        rc = sg_err_set(SG_ESTORE, "commit: the transaction had failed and was rolled back");
    PQclear(res);
    c->in_tx = false;
    return rc;
}

static void pg_rollback(sg_conn *sc)
{
    pg_conn *c = (pg_conn *)(void *)sc;
    if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        PQclear(PQexec(c->pg, "ROLLBACK"));
    c->in_tx = false;
}

static int pg_exec_script(sg_conn *sc, const char *sql)
{
    pg_conn *c = (pg_conn *)(void *)sc;
    sg_buf b = SG_BUF_INIT(0);
    dialect(sql, &b);
    int rc = run_plain(c, sg_buf_str(&b), "script");
    sg_buf_free(&b);
    return rc;
}

/* Runs sql with params; *res is the caller's on success. */
static int run(pg_conn *c, const char *sql, const sg_val *params, size_t n, PGresult **res)
{
    if (n > MAX_PARAMS)
        return sg_err_set(SG_EINTERNAL, "too many parameters (%zu)", n);
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS], formats[MAX_PARAMS];
    Oid types[MAX_PARAMS];
    char ints[MAX_PARAMS][24];
    for (size_t i = 0; i < n; i++) {
        const sg_val *v = &params[i];
        types[i] = 0;
        lengths[i] = 0;
        formats[i] = 0;
        values[i] = NULL;
        switch (v->type) {
        case SG_V_NULL:
            break;
        case SG_V_INT:
            snprintf(ints[i], sizeof(ints[i]), "%lld", (long long)v->i);
            values[i] = ints[i];
            break;
        case SG_V_TEXT:
            values[i] = v->p;
            if (v->len) {
                /* Text with a length (not NUL-terminated) goes in binary form: its bytes. */
                if (memchr(v->p, '\0', v->len))
                    return sg_err_set(SG_EINVAL, "text with a NUL byte cannot be stored");
                formats[i] = 1;
                types[i] = 25; /* text */
                lengths[i] = (int)v->len;
            }
            break;
        case SG_V_BLOB:
            values[i] = v->p ? v->p : "";
            lengths[i] = (int)v->len;
            formats[i] = 1;
            types[i] = 17; /* bytea */
            break;
        }
    }
    sg_buf q = SG_BUF_INIT(0);
    translate(sql, &q);
    bool guard = c->in_tx && strncasecmp(sql, "INSERT", 6) == 0;
    if (guard) {
        int rc = run_plain(c, "SAVEPOINT sg_stmt", "savepoint");
        if (rc != SG_OK) {
            sg_buf_free(&q);
            return rc;
        }
    }
    PGresult *r = PQexecParams(c->pg, sg_buf_str(&q), (int)n, types, values, lengths, formats, 0);
    sg_buf_free(&q);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = pg_error(c, r, "query");
        PQclear(r);
        if (guard && c->pg && PQstatus(c->pg) == CONNECTION_OK)
            run_plain(c, "ROLLBACK TO sg_stmt", "rollback to savepoint");
        return rc;
    }
    if (guard) {
        int rc = run_plain(c, "RELEASE sg_stmt", "release savepoint");
        if (rc != SG_OK) {
            PQclear(r);
            return rc;
        }
    }
    *res = r;
    return SG_OK;
}

static int pg_exec(sg_conn *sc, const char *sql, const sg_val *params, size_t n, int64_t *changes)
{
    PGresult *r = NULL;
    int rc = run((pg_conn *)(void *)sc, sql, params, n, &r);
    if (rc != SG_OK)
        return rc;
    if (changes) {
        const char *t = PQcmdTuples(r);
        *changes = t && *t ? strtoll(t, NULL, 10) : 0;
    }
    PQclear(r);
    return SG_OK;
}

static int pg_query(sg_conn *sc, const char *sql, const sg_val *params, size_t n, sg_rows **out)
{
    PGresult *r = NULL;
    int rc = run((pg_conn *)(void *)sc, sql, params, n, &r);
    if (rc != SG_OK)
        return rc;
    pg_rows *rows = sg_xcalloc(1, sizeof(*rows));
    rows->base.be = &sg_store_postgres;
    rows->res = r;
    rows->row = -1;
    rows->rows = PQntuples(r);
    *out = (sg_rows *)(void *)rows;
    return SG_OK;
}

#define ROWS(r) ((const pg_rows *)(const void *)(r))

static int pg_next(sg_rows *r)
{
    pg_rows *q = (pg_rows *)(void *)r;
    if (q->row + 1 >= q->rows) {
        q->row = q->rows;
        return 0;
    }
    q->row++;
    return 1;
}

static int pg_columns(const sg_rows *r)
{
    return PQnfields(ROWS(r)->res);
}

static const char *pg_column_name(const sg_rows *r, int col)
{
    const char *n = PQfname(ROWS(r)->res, col);
    return n ? n : "";
}

static bool valid(const pg_rows *q, int col)
{
    return q->row >= 0 && q->row < q->rows && col >= 0 && col < PQnfields(q->res);
}

static bool pg_is_null(const sg_rows *r, int col)
{
    const pg_rows *q = ROWS(r);
    return !valid(q, col) || PQgetisnull(q->res, q->row, col);
}

static const char *pg_get_text(const sg_rows *r, int col)
{
    const pg_rows *q = ROWS(r);
    return valid(q, col) ? PQgetvalue(q->res, q->row, col) : "";
}

static int64_t pg_get_int(const sg_rows *r, int col)
{
    const char *s = pg_get_text(r, col);
    /* Booleans (x IS NOT NULL) read as 1 and 0, as SQLite gives them. */
    if (strcmp(s, "t") == 0)
        return 1;
    if (strcmp(s, "f") == 0)
        return 0;
    return strtoll(s, NULL, 10);
}

static const void *pg_get_blob(const sg_rows *r, int col, size_t *len)
{
    pg_rows *q = (pg_rows *)(void *)r;
    *len = 0;
    if (pg_is_null(r, col))
        return NULL;
    PQfreemem(q->blob);
    q->blob = PQunescapeBytea((const unsigned char *)pg_get_text(r, col), len);
    return q->blob;
}

static void pg_rows_free(sg_rows *r)
{
    pg_rows *q = (pg_rows *)(void *)r;
    PQfreemem(q->blob);
    PQclear(q->res);
    free(q);
}

/* One query on the leader's connection: whether it answered "t". */
static bool lead_query(pg_db *d, const char *sql)
{
    PGresult *r = PQexec(d->lead, sql);
    bool t = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
             strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return t;
}

static bool pg_leader(void *p)
{
    pg_db *d = p;
    pthread_mutex_lock(&d->lmu);
    if (d->leading) {
        /* Still leading while the session that holds the lock is alive. */
        if (!lead_query(d, "SELECT true")) {
            d->leading = false;
            PQfinish(d->lead);
            d->lead = NULL;
        }
    } else {
        pg_conn c = {{&sg_store_postgres, NULL}, d, d->lead, false, false};
        if (connect_slot(d, &c) == SG_OK) {
            d->lead = c.pg;
            d->leading = lead_query(d, "SELECT pg_try_advisory_lock(" LEADER_LOCK_KEY ")");
        } else {
            d->lead = NULL;
        }
    }
    bool leading = d->leading;
    pthread_mutex_unlock(&d->lmu);
    return leading;
}

const sg_store_ops sg_store_postgres = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .acquire = pg_acquire,
    .release = pg_release,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec_script = pg_exec_script,
    .exec = pg_exec,
    .query = pg_query,
    .next = pg_next,
    .columns = pg_columns,
    .column_name = pg_column_name,
    .is_null = pg_is_null,
    .get_int = pg_get_int,
    .get_text = pg_get_text,
    .get_blob = pg_get_blob,
    .rows_free = pg_rows_free,
    .leader = pg_leader,
};
