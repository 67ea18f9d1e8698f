/* sqlite: the embedded store backend. WAL, a busy timeout, foreign keys, synchronous=FULL
 * (a committed transaction survives power loss; snowsim alone asks for NORMAL), and a small pool of
 * connections, each keeping its prepared statements for reuse (SQL is compiled once, not on every
 * call). */
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "store/backend.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STMT_CACHE 96
/* The WAL is copied back into the database once it holds this many pages (SQLite's own
 * default). snowgate does it itself, after the process's write lock is handed on: SQLite's
 * automatic checkpoint runs inside the commit, which here would keep every other writer of the
 * process waiting through the copy and its fsync. */
#define WAL_CHECKPOINT_PAGES 1000

/* A prepared statement kept by its SQL text. `busy` while a caller holds it (a query's rows
 * being stepped), so a nested use of the same SQL gets a statement of its own. */
typedef struct sq_cached {
    char *sql;
    uint32_t hash;
    sqlite3_stmt *st;
    bool busy;
    uint64_t used;
} sq_cached;

struct sq_db;

typedef struct sq_conn {
    sg_conn_base base;
    sqlite3 *db;
    struct sq_db *owner;
    bool in_use;
    bool writing;  /* holds owner->write_mu: a write transaction is open */
    int wal_pages; /* pages in the WAL after this connection's last commit */
    sq_cached cache[STMT_CACHE];
    uint64_t tick;
} sq_conn;

typedef struct sq_rows {
    sg_conn_base base;
    sqlite3_stmt *stmt;
    sq_conn *conn;
    int slot; /* in conn->cache, or -1 for a statement of its own */
} sq_rows;

/* write_mu: one writer at a time in this process, handed over the moment the last commits.
 * SQLite allows one writer anyway, but a connection that finds the lock taken waits in the
 * busy handler, which sleeps 1, 2, 5, 10 ... up to 100 ms between tries and is not woken when
 * the lock frees: under a steady stream of commits a writer could wait 100 to 250 ms for a
 * lock that was free most of that time. The busy handler still serves other processes (a
 * command beside the server). */
typedef struct sq_db {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t write_mu;
    unsigned busy_ms; /* how long a writer waits for write_mu, as for SQLite's own lock */
    sq_conn *conns;
    unsigned n;
} sq_db;

static int sq_error(sqlite3 *db, int src, const char *what)
{
    int ext = sqlite3_extended_errcode(db);
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(src);
    if ((ext & 0xff) == SQLITE_CONSTRAINT &&
        (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY ||
         ext == SQLITE_CONSTRAINT_FOREIGNKEY))
        return sg_err_set(SG_ECONFLICT, "%s: %s", what, msg);
    if ((src & 0xff) == SQLITE_BUSY || (src & 0xff) == SQLITE_LOCKED)
        return sg_err_set(SG_EUNAVAIL, "%s: database is busy: %s", what, msg);
    return sg_err_set(SG_ESTORE, "%s: %s", what, msg);
}

static const char *path_of(const char *url)
{
    return sg_str_startswith(url, "sqlite:") ? url + 7 : url;
}

/* The value of PRAGMA synchronous on db, or -1 when it could not be read. */
static int synchronous_of(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int open_one(const char *path, unsigned busy_ms, bool normal, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int src = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        int rc = sg_err_set(SG_ESTORE, "cannot open database '%s': %s", path,
                            db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, (int)busy_ms);
    sqlite3_extended_result_codes(db, 1);
    const char *pragmas = normal ? "PRAGMA journal_mode=WAL;"
                                   "PRAGMA synchronous=NORMAL;"
                                   "PRAGMA foreign_keys=ON;"
                                 : "PRAGMA journal_mode=WAL;"
                                   "PRAGMA synchronous=FULL;"
                                   "PRAGMA foreign_keys=ON;";
    char *err = NULL;
    src = sqlite3_exec(db, pragmas, NULL, NULL, &err);
    /* SQLite ignores a PRAGMA it cannot apply: read the level back (1 NORMAL, 2 FULL). */
    int want = normal ? 1 : 2, got = src == SQLITE_OK ? synchronous_of(db) : -1;
    if (src == SQLITE_OK && got != want) {
        int rc = sg_err_set(SG_ESTORE,
                            "cannot set up database '%s': PRAGMA synchronous reads %d, not %d",
                            path, got, want);
        sqlite3_close(db);
        return rc;
    }
    if (src != SQLITE_OK) {
        int rc = sg_err_set(SG_ESTORE, "cannot set up database '%s': %s", path,
                            err ? err : sqlite3_errstr(src));
        sqlite3_free(err);
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return SG_OK;
}

static void sq_close(void *p)
{
    sq_db *d = p;
    if (!d)
        return;
    for (unsigned i = 0; i < d->n; i++) {
        for (int k = 0; k < STMT_CACHE; k++) {
            sqlite3_finalize(d->conns[i].cache[k].st);
            free(d->conns[i].cache[k].sql);
        }
        sqlite3_close_v2(d->conns[i].db);
    }
    free(d->conns);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->write_mu);
    free(d);
}

static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages);

static int sq_open(const sg_store_opts *opts, void **out)
{
    sq_db *d = sg_xcalloc(1, sizeof(*d));
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    pthread_mutex_init(&d->write_mu, NULL);
    d->busy_ms = opts->busy_timeout_ms;
    unsigned n = opts->pool_size ? opts->pool_size : 1;
    d->conns = sg_xcalloc(n, sizeof(sq_conn));
    for (unsigned i = 0; i < n; i++) {
        d->conns[i].base.be = &sg_store_sqlite;
        d->conns[i].owner = d;
        int rc = open_one(path_of(opts->url), opts->busy_timeout_ms, opts->process_durable_only,
                          &d->conns[i].db);
        if (rc != SG_OK) {
            d->n = i;
            sq_close(d);
            return rc;
        }
        sqlite3_wal_hook(d->conns[i].db, on_wal_commit, &d->conns[i]); /* replaces autocheckpoint */
        d->n = i + 1;
    }
    *out = d;
    return SG_OK;
}

static int sq_acquire(void *p, sg_conn **out)
{
    sq_db *d = p;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        for (unsigned i = 0; i < d->n; i++) {
            if (!d->conns[i].in_use) {
                d->conns[i].in_use = true;
                pthread_mutex_unlock(&d->mu);
                *out = (sg_conn *)(void *)&d->conns[i];
                return SG_OK;
            }
        }
        pthread_cond_wait(&d->cv, &d->mu);
    }
}

static void sq_release(void *p, sg_conn *c)
{
    sq_db *d = p;
    pthread_mutex_lock(&d->mu);
    ((sq_conn *)(void *)c)->in_use = false;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static int sq_exec_script(sg_conn *c, const char *sql)
{
    sq_conn *sc = (sq_conn *)(void *)c;
    char *err = NULL;
    int src = sqlite3_exec(sc->db, sql, NULL, NULL, &err);
    if (src != SQLITE_OK) {
        int rc = sg_err_set(SG_ESTORE, "%s", err ? err : sqlite3_errstr(src));
        sqlite3_free(err);
        return rc;
    }
    return SG_OK;
}

static int sq_exec(sg_conn *c, const char *sql, const sg_val *params, size_t n, int64_t *changes);

/* Takes write_mu, waiting at most busy_ms (then "busy", as SQLite's own wait would end);
 * measured on the monotonic clock, so a change of the wall clock neither cuts nor stretches
 * the wait. */
static int take_writer(sq_conn *sc)
{
    sq_db *d = sc->owner;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += d->busy_ms / 1000;
    until.tv_nsec += (long)(d->busy_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_clocklock(&d->write_mu, CLOCK_MONOTONIC, &until) != 0)
        return sg_err_set(SG_EUNAVAIL,
                          "BEGIN IMMEDIATE: database is busy: another transaction of this "
                          "process kept the write lock for %u ms",
                          d->busy_ms);
    sc->writing = true;
    return SG_OK;
}

/* A passive checkpoint once the WAL is long enough: it copies what no reader still needs and
 * never waits for, nor blocks, a writer. Another connection checkpointing at the same time
 * makes it return at once; the next commit tries again. */
static void checkpoint_if_due(sq_conn *sc)
{
    if (sc->wal_pages < WAL_CHECKPOINT_PAGES)
        return;
    sc->wal_pages = 0;
    sqlite3_wal_checkpoint_v2(sc->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

/* SQLite's WAL hook, called after each commit once SQLite's own write lock is free. A commit
 * of a transaction holds the process's write_mu until give_writer, which checkpoints after
 * handing it on; a single statement outside a transaction holds none and checkpoints here. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void)db;
    (void)name;
    sq_conn *sc = arg;
    sc->wal_pages = pages;
    if (!sc->writing)
        checkpoint_if_due(sc);
    return SQLITE_OK;
}

static void give_writer(sq_conn *sc)
{
    if (!sc->writing)
        return;
    sc->writing = false;
    pthread_mutex_unlock(&sc->owner->write_mu);
    checkpoint_if_due(sc);
}

static int sq_begin(sg_conn *c, sg_tx_mode mode)
{
    /* IMMEDIATE takes the write lock up front, so a writer never fails half-way on upgrade.
     * SQLite has one writer at a time: a row-locked transaction is a plain write here. */
    sq_conn *sc = (sq_conn *)(void *)c;
    if (mode == SG_TX_READ)
        return sq_exec(c, "BEGIN", NULL, 0, NULL);
    int rc = take_writer(sc);
    if (rc == SG_OK)
        rc = sq_exec(c, "BEGIN IMMEDIATE", NULL, 0, NULL);
    if (rc != SG_OK)
        give_writer(sc);
    return rc;
}

static int sq_commit(sg_conn *c)
{
    sq_conn *sc = (sq_conn *)(void *)c;
    int rc = sq_exec(c, "COMMIT", NULL, 0, NULL);
    /* Never hand the lock on with the transaction still open (a failed COMMIT keeps it). */
    if (rc != SG_OK && !sqlite3_get_autocommit(sc->db))
        sqlite3_exec(sc->db, "ROLLBACK", NULL, NULL, NULL);
    give_writer(sc);
    return rc;
}

static void sq_rollback(sg_conn *c)
{
    sq_conn *sc = (sq_conn *)(void *)c;
    if (!sqlite3_get_autocommit(sc->db))
        sqlite3_exec(sc->db, "ROLLBACK", NULL, NULL, NULL);
    give_writer(sc);
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* A statement for sql: the connection's cached one when free, else a new one (cached when a
 * slot is free or can be evicted). *slot is its cache slot or -1. */
static int statement(sq_conn *sc, const char *sql, sqlite3_stmt **out, int *slot)
{
    uint32_t h = fnv1a(sql);
    int victim = -1;
    for (int i = 0; i < STMT_CACHE; i++) {
        sq_cached *e = &sc->cache[i];
        if (e->st && e->hash == h && !e->busy && strcmp(e->sql, sql) == 0) {
            e->busy = true;
            e->used = ++sc->tick;
            *out = e->st;
            *slot = i;
            return SG_OK;
        }
        if (!e->busy &&
            (victim < 0 || !e->st || (sc->cache[victim].st && e->used < sc->cache[victim].used)))
            victim = i;
    }
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v3(sc->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (src != SQLITE_OK)
        return sq_error(sc->db, src, "prepare");
    *out = st;
    *slot = victim;
    if (victim >= 0) {
        sq_cached *e = &sc->cache[victim];
        sqlite3_finalize(e->st);
        free(e->sql);
        *e = (sq_cached){sg_xstrdup(sql), h, st, true, ++sc->tick};
    }
    return SG_OK;
}

/* Gives a statement back: reset for its next use, or finalized if it was not cached. */
static void done_with(sq_conn *sc, sqlite3_stmt *st, int slot)
{
    if (slot < 0) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sc->cache[slot].busy = false;
}

/* copy: SQLite copies text and blob parameters (a query, whose rows are stepped after the
 * call); else it reads them where they are (sq_exec steps to the end and clears them before
 * it returns): no malloc and copy of every webhook event's body on the committer. */
static int prepare(sq_conn *sc, const char *sql, const sg_val *params, size_t n, bool copy,
                   sqlite3_stmt **out, int *slot)
{
    sqlite3_stmt *st = NULL;
    int rc = statement(sc, sql, &st, slot);
    if (rc != SG_OK)
        return rc;
    int src = SQLITE_OK;
    for (size_t i = 0; i < n; i++) {
        int idx = (int)i + 1;
        const sg_val *v = &params[i];
        switch (v->type) {
        case SG_V_NULL:
            src = sqlite3_bind_null(st, idx);
            break;
        case SG_V_INT:
            src = sqlite3_bind_int64(st, idx, v->i);
            break;
        case SG_V_TEXT:
            src = sqlite3_bind_text(st, idx, v->p, v->len ? (int)v->len : -1,
                                    copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
            break;
        case SG_V_BLOB:
            src = sqlite3_bind_blob(st, idx, v->p, (int)v->len,
                                    copy ? SQLITE_TRANSIENT : SQLITE_STATIC);
            break;
        }
        if (src != SQLITE_OK) {
            rc = sq_error(sc->db, src, "bind");
            done_with(sc, st, *slot);
            return rc;
        }
    }
    *out = st;
    return SG_OK;
}

static int sq_exec(sg_conn *c, const char *sql, const sg_val *params, size_t n, int64_t *changes)
{
    sq_conn *sc = (sq_conn *)(void *)c;
    sqlite3_stmt *st = NULL;
    int slot = -1;
    int rc = prepare(sc, sql, params, n, false, &st, &slot);
    if (rc != SG_OK)
        return rc;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        ;
    if (src != SQLITE_DONE)
        rc = sq_error(sc->db, src, "exec");
    else if (changes)
        *changes = sqlite3_changes64(sc->db);
    done_with(sc, st, slot);
    return rc;
}

static int sq_query(sg_conn *c, const char *sql, const sg_val *params, size_t n, sg_rows **out)
{
    sq_conn *sc = (sq_conn *)(void *)c;
    sqlite3_stmt *st = NULL;
    int slot = -1;
    int rc = prepare(sc, sql, params, n, true, &st, &slot);
    if (rc != SG_OK)
        return rc;
    sq_rows *r = sg_xcalloc(1, sizeof(*r));
    r->base.be = &sg_store_sqlite;
    r->stmt = st;
    r->conn = sc;
    r->slot = slot;
    *out = (sg_rows *)(void *)r;
    return SG_OK;
}

#define ROWS(r) ((const sq_rows *)(const void *)(r))

static int sq_next(sg_rows *r)
{
    sq_rows *q = (sq_rows *)(void *)r;
    int src = sqlite3_step(q->stmt);
    if (src == SQLITE_ROW)
        return 1;
    if (src == SQLITE_DONE)
        return 0;
    return sq_error(q->conn->db, src, "query");
}

static int sq_columns(const sg_rows *r)
{
    return sqlite3_column_count(ROWS(r)->stmt);
}

static const char *sq_column_name(const sg_rows *r, int col)
{
    const char *n = sqlite3_column_name(ROWS(r)->stmt, col);
    return n ? n : "";
}

/* One SQLite file has one machine's processes: each of them may lead. */
static bool sq_leader(void *db)
{
    (void)db;
    return true;
}

static bool sq_is_null(const sg_rows *r, int col)
{
    return sqlite3_column_type(ROWS(r)->stmt, col) == SQLITE_NULL;
}

static int64_t sq_get_int(const sg_rows *r, int col)
{
    return sqlite3_column_int64(ROWS(r)->stmt, col);
}

static const char *sq_get_text(const sg_rows *r, int col)
{
    const unsigned char *s = sqlite3_column_text(ROWS(r)->stmt, col);
    return s ? (const char *)s : "";
}

static const void *sq_get_blob(const sg_rows *r, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(ROWS(r)->stmt, col);
    *len = (size_t)sqlite3_column_bytes(ROWS(r)->stmt, col);
    return p;
}

static void sq_rows_free(sg_rows *r)
{
    sq_rows *q = (sq_rows *)(void *)r;
    done_with(q->conn, q->stmt, q->slot);
    free(q);
}

const sg_store_ops sg_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .acquire = sq_acquire,
    .release = sq_release,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .exec_script = sq_exec_script,
    .exec = sq_exec,
    .query = sq_query,
    .next = sq_next,
    .columns = sq_columns,
    .column_name = sq_column_name,
    .is_null = sq_is_null,
    .get_int = sq_get_int,
    .get_text = sq_get_text,
    .get_blob = sq_get_blob,
    .rows_free = sq_rows_free,
    .leader = sq_leader,
};
