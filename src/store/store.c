/* store: backend selection, transactions and migrations, shared by every backend. */
#include "store/store.h"

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "store/backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Work queued for the group commit: a caller waiting in sg_store_tx_group (on its cv), or
 * one that left a callback (sg_store_tx_group_async, allocated here). */
typedef struct group_item {
    sg_store_fn fn;
    void *ctx;
    sg_store_done_fn done_fn; /* async: called once committed (or not) */
    void *done_ud;
    int rc;
    char msg[SG_ERR_MSG_MAX]; /* fn's error, set again on the caller's thread */
    bool done;
    bool taken;        /* in the batch being committed: past the point of giving up */
    sg_log_ctx log;    /* the caller's, for the lines its fn logs on the committer */
    pthread_cond_t cv; /* sync: each waits on its own, so a commit wakes exactly its batch */
    struct group_item *next;
} group_item;

#define GROUP_MAX 256

static int run(sg_store *st, sg_store_fn fn, void *ctx, sg_tx_mode mode);

struct sg_store {
    const sg_store_ops *be;
    void *db;
    int latest;
    pthread_mutex_t hmu; /* guards the hook: once it is unset, no call is in progress */
    void (*on_commit)(void *ud);
    void *on_commit_ud;
    /* Group commit: callers queue; the committer thread (started with the first of them)
     * commits whatever has queued as one batch, while the next batch queues. */
    pthread_mutex_t gmu;
    pthread_cond_t gcv; /* work was queued, or the store closes */
    group_item *ghead, *gtail;
    pthread_t committer;
    bool committer_started;
    bool gstop;
    bool group_writes; /* sg_store_tx is sg_store_tx_group (SQLite, see group_writes()) */
    unsigned busy_ms;  /* how long sg_store_tx waits for its turn there */
    bool has_mac_key;
    uint8_t mac_key[SG_STORE_MAC_KEY_LEN]; /* sg_store_set_mac_key */
};

/* Backends' connections and row sets start with an sg_conn_base. */
#define BE(x) (((const sg_conn_base *)(const void *)(x))->be)

static int migration_version(const char *path, int *out)
{
    int64_t v = 0;
    char num[16];
    size_t i = 0;
    while (path[i] >= '0' && path[i] <= '9' && i < sizeof(num) - 1) {
        num[i] = path[i];
        i++;
    }
    num[i] = '\0';
    if (i == 0 || path[i] != '_' || sg_parse_i64(num, 1, 1000000, "migration", &v) != SG_OK)
        return sg_err_set(SG_EINTERNAL, "migration file '%s' is not named NNNN_name.sql", path);
    *out = (int)v;
    return SG_OK;
}

static int latest_version(const sg_embed_file *m, int *out)
{
    int latest = 0;
    for (const sg_embed_file *f = m; f && f->path; f++) {
        int v = 0;
        int rc = migration_version(f->path, &v);
        if (rc != SG_OK)
            return rc;
        if (v != latest + 1)
            return sg_err_set(SG_EINTERNAL, "migration %s is out of sequence (expected %d)",
                              f->path, latest + 1);
        latest = v;
    }
    *out = latest;
    return SG_OK;
}

typedef struct migrate_ctx {
    const sg_embed_file *file;
    int version;
} migrate_ctx;

static int current_version(sg_conn *c, int *out)
{
    int64_t v = 0;
    int rc = sg_conn_query_int(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL,
                               0, &v);
    *out = (int)v;
    return rc;
}

/* The lines of a migration meant for backend `be` (see sg_store_open). */
static char *for_backend(const char *sql, const char *be)
{
    sg_buf out = SG_BUF_INIT(0);
    bool on = true;
    for (const char *p = sql; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (sg_str_startswith(p, "-- @")) {
            const char *w = p + 4;
            size_t wn = strcspn(w, " \r\n");
            on = (wn == 3 && strncmp(w, "all", 3) == 0) ||
                 (wn == strlen(be) && strncmp(w, be, wn) == 0);
        } else if (on) {
            sg_buf_append(&out, p, n);
        }
        p += n;
    }
    return sg_buf_detach(&out, NULL);
}

static int apply_one(sg_conn *c, void *ctx)
{
    migrate_ctx *m = ctx;
    int cur = 0;
    int rc = current_version(c, &cur);
    if (rc != SG_OK || cur >= m->version)
        return rc; /* another process applied it meanwhile */
    char *sql = for_backend((const char *)m->file->data, BE(c)->name);
    rc = BE(c)->exec_script(c, sql);
    free(sql);
    if (rc != SG_OK)
        return sg_err_wrap(rc, "migration %s", m->file->path);
    sg_val p[] = {SG_VINT(m->version), SG_VTEXT(m->file->path)};
    return sg_conn_exec(c,
                        "INSERT INTO schema_migrations (version, name, applied_at) "
                        "VALUES (?1, ?2, CURRENT_TIMESTAMP)",
                        p, 2, NULL);
}

static int create_meta(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                        " applied_at TEXT NOT NULL)",
                        NULL, 0, NULL);
}

static int read_version(sg_conn *c, void *ctx)
{
    return current_version(c, ctx);
}

/* Creates the version table if need be, and refuses a schema newer than this binary's. With
 * apply, then applies the pending migrations. */
static int migrate(sg_store *st, const sg_embed_file *migs, bool apply)
{
    /* Read first: a store that has its version table (every one after its first start) opens
     * without a write transaction. A command run beside a busy server could otherwise wait out
     * the busy timeout for the write lock just to read the version, and fail. */
    int cur = 0;
    int rc = sg_store_read(st, read_version, &cur);
    if (rc != SG_OK) {
        rc = run(st, create_meta, NULL, SG_TX_WRITE);
        if (rc == SG_OK)
            rc = sg_store_read(st, read_version, &cur);
    }
    if (rc != SG_OK)
        return rc;
    if (migs && cur > st->latest)
        return sg_err_set(SG_ECONFLICT,
                          "the database schema is version %d, newer than this binary knows "
                          "(%d); run a newer snowgate",
                          cur, st->latest);
    for (const sg_embed_file *f = migs; apply && f && f->path; f++) {
        migrate_ctx m = {f, 0};
        migration_version(f->path, &m.version);
        if (m.version <= cur)
            continue;
        rc = run(st, apply_one, &m, SG_TX_WRITE);
        if (rc != SG_OK)
            return rc;
        sg_log_info("store migrated", "migration", f->path);
    }
    return SG_OK;
}

int sg_store_open(const sg_store_opts *opts, sg_store **out)
{
    *out = NULL;
    const sg_store_ops *be = NULL;
    if (!opts->url || !*opts->url)
        return sg_err_set(SG_EINVAL, "store URL is empty");
    if (sg_str_startswith(opts->url, "postgres://") ||
        sg_str_startswith(opts->url, "postgresql://"))
        be = &sg_store_postgres;
    else if (strstr(opts->url, "://"))
        return sg_err_set(SG_EINVAL, "store URL must be sqlite:PATH or postgres://user@host/db");
    else
        be = &sg_store_sqlite;

    sg_store *st = sg_xcalloc(1, sizeof(*st));
    st->be = be;
    /* Not for a store that does not wait for the disk (snowsim's): there is no fsync to
     * share, and handing each write to another thread would only add a wait. */
    st->group_writes = be == &sg_store_sqlite && !opts->process_durable_only;
    st->busy_ms = opts->busy_timeout_ms;
    pthread_mutex_init(&st->gmu, NULL);
    pthread_cond_init(&st->gcv, NULL);
    pthread_mutex_init(&st->hmu, NULL);
    int rc = latest_version(opts->migrations, &st->latest);
    if (rc == SG_OK)
        rc = be->open(opts, &st->db);
    if (rc == SG_OK)
        rc = migrate(st, opts->migrations, opts->migrate);
    if (rc != SG_OK) {
        sg_store_close(st);
        return rc;
    }
    *out = st;
    return SG_OK;
}

void sg_store_close(sg_store *st)
{
    if (!st)
        return;
    /* The committer finishes what is queued first: nothing accepted is dropped. */
    pthread_mutex_lock(&st->gmu);
    st->gstop = true;
    pthread_cond_signal(&st->gcv);
    bool join = st->committer_started;
    pthread_mutex_unlock(&st->gmu);
    if (join)
        pthread_join(st->committer, NULL);
    if (st->db)
        st->be->close(st->db);
    sg_wipe(st->mac_key, sizeof(st->mac_key));
    pthread_cond_destroy(&st->gcv);
    pthread_mutex_destroy(&st->gmu);
    pthread_mutex_destroy(&st->hmu);
    free(st);
}

const char *sg_store_backend(const sg_store *st)
{
    return st->be->name;
}

int sg_store_schema(sg_store *st, int *current, int *latest)
{
    *latest = st->latest;
    *current = 0;
    return sg_store_read(st, read_version, current);
}

static int run(sg_store *st, sg_store_fn fn, void *ctx, sg_tx_mode mode)
{
    bool write = mode != SG_TX_READ;
    sg_conn *c = NULL;
    int rc = st->be->acquire(st->db, &c);
    if (rc != SG_OK)
        return rc;
    ((sg_conn_base *)(void *)c)->st = st;
    rc = st->be->begin(c, mode);
    if (rc == SG_OK) {
        rc = fn(c, ctx);
        if (rc == SG_OK)
            rc = st->be->commit(c);
        else
            st->be->rollback(c);
    }
    st->be->release(st->db, c);
    if (rc == SG_OK && write) {
        pthread_mutex_lock(&st->hmu);
        if (st->on_commit)
            st->on_commit(st->on_commit_ud);
        pthread_mutex_unlock(&st->hmu);
    }
    return rc;
}

void sg_store_set_mac_key(sg_store *st, const uint8_t key[SG_STORE_MAC_KEY_LEN])
{
    memcpy(st->mac_key, key, sizeof(st->mac_key));
    st->has_mac_key = true;
}

const uint8_t *sg_conn_mac_key(const sg_conn *c)
{
    const sg_store *st = ((const sg_conn_base *)(const void *)c)->st;
    return st && st->has_mac_key ? st->mac_key : NULL;
}

void sg_store_on_commit(sg_store *st, void (*fn)(void *ud), void *ud)
{
    pthread_mutex_lock(&st->hmu);
    st->on_commit = fn;
    st->on_commit_ud = ud;
    pthread_mutex_unlock(&st->hmu);
}

/* The leader's transaction: each caller's fn in its own savepoint. */
static int run_batch(sg_conn *c, void *ctx)
{
    for (group_item *it = ctx; it; it = it->next) {
        int rc = sg_conn_exec(c, "SAVEPOINT sg_group", NULL, 0, NULL);
        if (rc != SG_OK)
            return rc;
        sg_err_clear();
        sg_log_ctx_restore(&it->log);
        it->rc = it->fn(c, it->ctx);
        sg_log_ctx_restore(NULL);
        if (it->rc != SG_OK) {
            snprintf(it->msg, sizeof(it->msg), "%s", sg_err_msg());
            rc = sg_conn_exec(c, "ROLLBACK TO sg_group", NULL, 0, NULL);
            if (rc != SG_OK)
                return rc;
        }
        rc = sg_conn_exec(c, "RELEASE sg_group", NULL, 0, NULL);
        if (rc != SG_OK)
            return rc;
    }
    return SG_OK;
}

/* The committer: takes up to GROUP_MAX queued items, commits them as one transaction (one
 * fsync), tells each how it went, and goes again. Under load, what queues during one commit
 * is the next batch, so batches grow with the load. */
/* Set on the committer thread: a write transaction opened from inside one it runs would wait
 * for itself. */
static _Thread_local bool on_committer;

static void *committer(void *arg)
{
    sg_store *st = arg;
    on_committer = true;
    pthread_setname_np(pthread_self(), "store-commit");
    pthread_mutex_lock(&st->gmu);
    for (;;) {
        while (!st->ghead && !st->gstop)
            pthread_cond_wait(&st->gcv, &st->gmu);
        if (!st->ghead)
            break;
        group_item *batch = st->ghead, *last = batch;
        batch->taken = true;
        for (int n = 1; n < GROUP_MAX && last->next; n++) {
            last = last->next;
            last->taken = true;
        }
        st->ghead = last->next;
        if (!st->ghead)
            st->gtail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&st->gmu);
        int rc = run(st, run_batch, batch, SG_TX_WRITE);
        char msg[SG_ERR_MSG_MAX] = "";
        if (rc != SG_OK)
            snprintf(msg, sizeof(msg), "%s", sg_err_msg());
        for (group_item *it = batch, *nx; it; it = nx) {
            nx = it->next;     /* a sync item's frame may be gone once it is told */
            if (rc != SG_OK) { /* nothing of the batch is durable */
                it->rc = rc;
                snprintf(it->msg, sizeof(it->msg), "%s", msg);
            }
            if (it->done_fn) {
                it->done_fn(it->done_ud, it->rc, it->msg);
                free(it);
                continue;
            }
            pthread_mutex_lock(&st->gmu);
            it->done = true;
            pthread_cond_signal(&it->cv);
            pthread_mutex_unlock(&st->gmu);
        }
        pthread_mutex_lock(&st->gmu);
    }
    pthread_mutex_unlock(&st->gmu);
    return NULL;
}

/* Queues an item for the committer (starting it the first time). Called with gmu held. */
static int group_queue_locked(sg_store *st, group_item *it)
{
    if (st->gstop)
        return sg_err_set(SG_EUNAVAIL, "the store is closing");
    if (!st->committer_started) {
        if (pthread_create(&st->committer, NULL, committer, st) != 0)
            return sg_err_set(SG_EINTERNAL, "could not start the store's committer thread");
        st->committer_started = true;
    }
    it->next = NULL;
    if (st->gtail)
        st->gtail->next = it;
    else
        st->ghead = it;
    st->gtail = it;
    pthread_cond_signal(&st->gcv);
    return SG_OK;
}

/* Takes `me`, not yet in a batch, off the queue. Called with gmu held. */
static void group_unlink_locked(sg_store *st, group_item *me)
{
    group_item *prev = NULL;
    for (group_item *it = st->ghead; it; prev = it, it = it->next) {
        if (it != me)
            continue;
        if (prev)
            prev->next = me->next;
        else
            st->ghead = me->next;
        if (st->gtail == me)
            st->gtail = prev;
        return;
    }
}

/* sg_store_tx_group, giving up (SG_EUNAVAIL, "busy") when its work is not in a batch within
 * timeout_ms (0: waits as long as it takes), as a writer waiting for SQLite's lock would. */
static int group_wait(sg_store *st, sg_store_fn fn, void *ctx, unsigned timeout_ms)
{
    if (on_committer)
        return sg_err_set(SG_EINTERNAL, "a write transaction was opened inside another one");
    group_item me = {.fn = fn, .ctx = ctx, .rc = SG_OK};
    sg_log_ctx_save(&me.log);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&me.cv, &ca);
    pthread_condattr_destroy(&ca);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    bool gave_up = false;
    pthread_mutex_lock(&st->gmu);
    /* `me` lives on this stack until the call returns, and the committer is done with it
     * before it is told so (or it left the queue before any batch took it), so the queue
     * never points at a dead frame. */
    int rc = group_queue_locked(st, &me); /* cppcheck-suppress autoVariables */
    while (rc == SG_OK && !me.done) {
        if (timeout_ms == 0) {
            pthread_cond_wait(&me.cv, &st->gmu);
        } else if (pthread_cond_timedwait(&me.cv, &st->gmu, &until) == ETIMEDOUT && !me.done) {
            if (!me.taken) {
                group_unlink_locked(st, &me);
                gave_up = true;
                break;
            }
            timeout_ms = 0; /* being committed: its outcome is a moment away */
        }
    }
    pthread_mutex_unlock(&st->gmu);
    pthread_cond_destroy(&me.cv);
    if (rc != SG_OK)
        return rc;
    if (gave_up)
        return sg_err_set(SG_EUNAVAIL,
                          "BEGIN IMMEDIATE: database is busy: another transaction of this "
                          "process kept the write lock for %u ms",
                          st->busy_ms);
    if (me.rc != SG_OK)
        return sg_err_set(me.rc, "%s", me.msg);
    return SG_OK;
}

int sg_store_tx_group(sg_store *st, sg_store_fn fn, void *ctx)
{
    return group_wait(st, fn, ctx, 0);
}

int sg_store_tx_group_async(sg_store *st, sg_store_fn fn, void *ctx, sg_store_done_fn done,
                            void *ud)
{
    group_item *it = sg_xcalloc(1, sizeof(*it));
    sg_log_ctx_save(&it->log);
    it->fn = fn;
    it->ctx = ctx;
    it->done_fn = done;
    it->done_ud = ud;
    pthread_mutex_lock(&st->gmu);
    int rc = group_queue_locked(st, it);
    pthread_mutex_unlock(&st->gmu);
    if (rc != SG_OK)
        free(it);
    return rc;
}

/* SQLite has one writer at a time: each write transaction waited for the one before it and
 * then for its own fsync (jobs' claims and ends, decisions, fulfilments: a dozen per access
 * request). Through the committer, those that queue meanwhile share one commit and one fsync,
 * run on one connection whose page cache stays warm, and each is still durable before its
 * caller goes on. PostgreSQL takes concurrent writers as they come. */
static bool group_writes(const sg_store *st)
{
    return st->group_writes;
}

int sg_store_tx(sg_store *st, sg_store_fn fn, void *ctx)
{
    if (group_writes(st))
        return group_wait(st, fn, ctx, st->busy_ms ? st->busy_ms : 1);
    return run(st, fn, ctx, SG_TX_WRITE);
}

int sg_store_tx_rowlocked(sg_store *st, sg_store_fn fn, void *ctx)
{
    if (group_writes(st))
        return group_wait(st, fn, ctx, st->busy_ms ? st->busy_ms : 1);
    return run(st, fn, ctx, SG_TX_ROW);
}

const char *sg_store_skip_locked(const sg_store *st)
{
    return st->be == &sg_store_postgres ? " FOR UPDATE SKIP LOCKED" : "";
}

bool sg_store_leader(sg_store *st)
{
    return st->be->leader(st->db);
}

int sg_store_read(sg_store *st, sg_store_fn fn, void *ctx)
{
    return run(st, fn, ctx, SG_TX_READ);
}

int sg_conn_exec(sg_conn *c, const char *sql, const sg_val *params, size_t n, int64_t *changes)
{
    return BE(c)->exec(c, sql, params, n, changes);
}

int sg_conn_query(sg_conn *c, const char *sql, const sg_val *params, size_t n, sg_rows **out)
{
    return BE(c)->query(c, sql, params, n, out);
}

int sg_conn_query_int(sg_conn *c, const char *sql, const sg_val *params, size_t n, int64_t *out)
{
    sg_rows *r = NULL;
    int rc = sg_conn_query(c, sql, params, n, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    if (step == 1)
        *out = sg_rows_int(r, 0);
    else if (step == 0)
        rc = sg_err_set(SG_ENOTFOUND, "no row");
    else
        rc = step;
    sg_rows_free(r);
    return rc;
}

int sg_rows_next(sg_rows *r)
{
    return BE(r)->next(r);
}

int sg_rows_columns(const sg_rows *r)
{
    return BE(r)->columns(r);
}

const char *sg_rows_name(const sg_rows *r, int col)
{
    return BE(r)->column_name(r, col);
}

bool sg_rows_null(const sg_rows *r, int col)
{
    return BE(r)->is_null(r, col);
}

int64_t sg_rows_int(const sg_rows *r, int col)
{
    return BE(r)->get_int(r, col);
}

const char *sg_rows_text(const sg_rows *r, int col)
{
    return BE(r)->get_text(r, col);
}

const void *sg_rows_blob(const sg_rows *r, int col, size_t *len)
{
    return BE(r)->get_blob(r, col, len);
}

void sg_rows_free(sg_rows *r)
{
    if (r)
        BE(r)->rows_free(r);
}
