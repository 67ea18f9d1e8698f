/* store: the one storage interface, over SQLite (one machine) or PostgreSQL (replicas).
 * SQL is written once, portable: parameters are ?1, ?2, ... (translated per backend). */
#ifndef SG_STORE_H
#define SG_STORE_H

#include "core/embed.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sg_store sg_store;
typedef struct sg_conn sg_conn; /* one connection, lent for the duration of a callback */
typedef struct sg_rows sg_rows;

typedef enum sg_val_type { SG_V_NULL, SG_V_INT, SG_V_TEXT, SG_V_BLOB } sg_val_type;

/* A query parameter. Text and blobs are copied by the call: they need not outlive it. */
typedef struct sg_val {
    sg_val_type type;
    int64_t i;
    const void *p;
    size_t len;
} sg_val;

static inline sg_val sg_vtext(const char *s)
{
    /* NULL text binds SQL NULL. */
    return (sg_val){s ? SG_V_TEXT : SG_V_NULL, 0, s, 0};
}

#define SG_VNULL         ((sg_val){SG_V_NULL, 0, NULL, 0})
#define SG_VINT(x)       ((sg_val){SG_V_INT, (int64_t)(x), NULL, 0})
#define SG_VTEXT(x)      sg_vtext(x)
#define SG_VBLOB(ptr, n) ((sg_val){SG_V_BLOB, 0, (ptr), (n)})

typedef struct sg_store_opts {
    const char *url; /* "sqlite:/path/file.db", a plain path, or "postgres://user@host/db" */
    const sg_embed_file *migrations; /* "NNNN_name.sql" files; NULL: open as is, unchecked */
    unsigned pool_size;              /* connections kept open */
    unsigned busy_timeout_ms;        /* how long a writer waits for the lock */
    bool migrate;                    /* apply pending migrations on open */
    unsigned statement_timeout_ms;   /* PostgreSQL: longest statement (0: 30 s) */
    /* SQLite: commit without waiting for the disk (synchronous=NORMAL): a commit survives
     * the process crashing, not the machine losing power. For snowsim only, whose records
     * stand in for an instance's and are not snowgate's state; snowgate's store keeps
     * synchronous=FULL (its jobs, claims and accepted events must survive both). */
    bool process_durable_only;
} sg_store_opts;

#define SG_STORE_OPTS_INIT                                                                         \
    {                                                                                              \
        NULL, NULL, 4, 5000, true, 0, false                                                        \
    }

/* Opens the store, and with opts.migrate applies pending migrations in order, each in its own
 * transaction. A database whose schema is newer than this binary knows is refused.
 * A migration may hold lines for one backend only: after a line "-- @sqlite" or
 * "-- @postgres", up to "-- @all". *out is
 * the caller's: close it with sg_store_close(). */
int sg_store_open(const sg_store_opts *opts, sg_store **out);
void sg_store_close(sg_store *st);

/* The schema version in the database and the newest one this binary carries. */
int sg_store_schema(sg_store *st, int *current, int *latest);

typedef int (*sg_store_fn)(sg_conn *c, void *ctx);

/* Runs fn inside a write transaction: commits when fn returns SG_OK, rolls back otherwise and
 * returns fn's error. Thread-safe; concurrent writers are serialized by the backend. On
 * SQLite, whose writers take turns anyway, it goes through sg_store_tx_group's queue: writers
 * that come while a commit is in progress share the next one (each still durable before it
 * returns), and fn runs on the store's committer thread; fn must not open another write
 * transaction. Unlike sg_store_tx_group it gives up (SG_EUNAVAIL, busy) when its work was not
 * taken into a batch within the busy timeout. */
int sg_store_tx(sg_store *st, sg_store_fn fn, void *ctx);
/* Like sg_store_tx, for many small writes from concurrent callers (webhook ingest): callers
 * that arrive while a commit is in progress share the next one, so one fsync makes a whole
 * batch durable. Each fn runs in its own savepoint: one that fails rolls back only its own
 * work and gets its own error. Returns only once the caller's work is committed (or not). */
int sg_store_tx_group(sg_store *st, sg_store_fn fn, void *ctx);
/* Called once the work handed to sg_store_tx_group_async is committed (rc SG_OK) or not (rc
 * and a message: the work's own error, or the commit's). */
typedef void (*sg_store_done_fn)(void *ud, int rc, const char *msg);
/* sg_store_tx_group without the wait: fn and done run later on the store's committer thread
 * (fn inside its batch's transaction, done after the commit), so the caller's thread is free
 * meanwhile. ctx and ud must stay valid until done is called; done must be quick (the next
 * batch waits for it). Fails (SG_EUNAVAIL, and done is never called) when the store is
 * closing. sg_store_close runs everything queued before it returns. */
int sg_store_tx_group_async(sg_store *st, sg_store_fn fn, void *ctx, sg_store_done_fn done,
                            void *ud);
/* Like sg_store_tx, for a transaction whose correctness rests on the row locks it takes itself
 * (SELECT ... FOR UPDATE SKIP LOCKED, see sg_store_skip_locked): on PostgreSQL it does not
 * wait for other writers. On SQLite it is sg_store_tx. */
int sg_store_tx_rowlocked(sg_store *st, sg_store_fn fn, void *ctx);
/* " FOR UPDATE SKIP LOCKED" on PostgreSQL, "" on SQLite (whose writers take turns). */
const char *sg_store_skip_locked(const sg_store *st);
/* Whether this process is the leader, the one that runs singleton work (the reconciler, the
 * expiry sweep). On PostgreSQL, a session advisory lock: when the leader dies or loses its
 * connection, the next process to ask takes over. On SQLite, always true. Call it before each
 * round of singleton work. */
bool sg_store_leader(sg_store *st);
#define SG_STORE_MAC_KEY_LEN 32
/* Gives the store a key for MACs computed inside its transactions (the audit chain's), copied
 * here and wiped by sg_store_close. Set it once, before the store is shared between threads. */
void sg_store_set_mac_key(sg_store *st, const uint8_t key[SG_STORE_MAC_KEY_LEN]);
/* The key set on the store that lent c, or NULL when none was set. Borrowed from the store. */
const uint8_t *sg_conn_mac_key(const sg_conn *c);
/* fn(ud) runs after every committed write transaction, on the committing thread. */
void sg_store_on_commit(sg_store *st, void (*fn)(void *ud), void *ud);
/* Runs fn with a connection for reads (a consistent snapshot). */
int sg_store_read(sg_store *st, sg_store_fn fn, void *ctx);

/* Executes a statement; *changes (may be NULL) gets the affected row count. A unique or
 * foreign key violation is SG_ECONFLICT. */
int sg_conn_exec(sg_conn *c, const char *sql, const sg_val *params, size_t n, int64_t *changes);
/* Runs a query. *out is the caller's: free it with sg_rows_free(). */
int sg_conn_query(sg_conn *c, const char *sql, const sg_val *params, size_t n, sg_rows **out);
/* First column of the first row as an integer; SG_ENOTFOUND when there is no row. */
int sg_conn_query_int(sg_conn *c, const char *sql, const sg_val *params, size_t n, int64_t *out);

/* Steps to the next row: 1 for a row, 0 at the end, a negative sg_err on failure. */
int sg_rows_next(sg_rows *r);
int sg_rows_columns(const sg_rows *r);
const char *sg_rows_name(const sg_rows *r, int col);
bool sg_rows_null(const sg_rows *r, int col);
int64_t sg_rows_int(const sg_rows *r, int col);
/* Text of a column ("" for NULL). Borrowed until the next sg_rows_next(). */
const char *sg_rows_text(const sg_rows *r, int col);
const void *sg_rows_blob(const sg_rows *r, int col, size_t *len);
void sg_rows_free(sg_rows *r);

/* The backend's name: "sqlite" or "postgres". */
const char *sg_store_backend(const sg_store *st);

#endif
