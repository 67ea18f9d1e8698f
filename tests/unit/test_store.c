/* Tests for store/: migrations, transactions, conflicts, and concurrent writers. */
#include "e2e/harness.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Portable SQL, as the real migrations: this suite runs on SQLite and on PostgreSQL. */
static const unsigned char m1[] = "CREATE TABLE t (name TEXT PRIMARY KEY, n INTEGER);";
static const unsigned char m2[] = "ALTER TABLE t ADD COLUMN note TEXT;";
static const sg_embed_file migs_v1[] = {{"0001_t.sql", m1, sizeof(m1) - 1}, {0, 0, 0}};
static const sg_embed_file migs_v2[] = {
    {"0001_t.sql", m1, sizeof(m1) - 1}, {"0002_note.sql", m2, sizeof(m2) - 1}, {0, 0, 0}};

typedef struct fixture {
    char *dir;
    char *url;
} fixture;

static int setup(void **state)
{
    fixture *f = sg_xcalloc(1, sizeof(*f));
    f->dir = h_tmpdir("store");
    f->url = h_store_url(f->dir, "t");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    h_rmdir(f->dir);
    free(f->dir);
    free(f->url);
    free(f);
    return 0;
}

static sg_store *open_with(fixture *f, const sg_embed_file *m, int expect)
{
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = f->url;
    o.migrations = m;
    sg_store *st = NULL;
    int rc = sg_store_open(&o, &st);
    if (rc != expect)
        fail_msg("open gave %d: %s", rc, sg_err_msg());
    return st;
}

static int insert_two(sg_conn *c, void *ctx)
{
    const char *second = ctx;
    sg_val a[] = {SG_VTEXT("alpha"), SG_VINT(1)};
    int rc = sg_conn_exec(c, "INSERT INTO t (name, n) VALUES (?1, ?2)", a, 2, NULL);
    if (rc != SG_OK)
        return rc;
    sg_val b[] = {SG_VTEXT(second), SG_VINT(2)};
    return sg_conn_exec(c, "INSERT INTO t (name, n) VALUES (?1, ?2)", b, 2, NULL);
}

static int count_rows(sg_conn *c, void *ctx)
{
    return sg_conn_query_int(c, "SELECT COUNT(*) FROM t", NULL, 0, ctx);
}

static void test_migrate_and_tx(void **state)
{
    fixture *f = *state;
    sg_store *st = open_with(f, migs_v1, SG_OK);
    int cur = 0, latest = 0;
    assert_int_equal(sg_store_schema(st, &cur, &latest), SG_OK);
    assert_int_equal(cur, 1);
    assert_int_equal(latest, 1);
    assert_string_equal(sg_store_backend(st), h_store_is_postgres() ? "postgres" : "sqlite");

    /* A failing transaction leaves nothing behind: "alpha" twice breaks UNIQUE. */
    assert_int_equal(sg_store_tx(st, insert_two, "alpha"), SG_ECONFLICT);
    int64_t n = -1;
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sg_store_tx(st, insert_two, "beta"), SG_OK);
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
    assert_int_equal(n, 2);
    sg_store_close(st);

    /* Reopening with a newer binary applies only the new migration; data stays. */
    st = open_with(f, migs_v2, SG_OK);
    assert_int_equal(sg_store_schema(st, &cur, &latest), SG_OK);
    assert_int_equal(cur, 2);
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
    assert_int_equal(n, 2);
    sg_store_close(st);

    /* An older binary refuses a newer schema rather than corrupting it. */
    open_with(f, migs_v1, SG_ECONFLICT);
    assert_non_null(strstr(sg_err_msg(), "newer"));
}

typedef struct rows_ctx {
    int seen;
    char names[2][16];
} rows_ctx;

static int read_rows(sg_conn *c, void *ctx)
{
    rows_ctx *r = ctx;
    sg_rows *rows = NULL;
    sg_val p[] = {SG_VINT(0)};
    int rc = sg_conn_query(c, "SELECT name, n, NULL FROM t WHERE n > ?1 ORDER BY n", p, 1, &rows);
    if (rc != SG_OK)
        return rc;
    int step;
    while ((step = sg_rows_next(rows)) == 1) {
        assert_int_equal(sg_rows_columns(rows), 3);
        assert_true(sg_rows_null(rows, 2));
        assert_false(sg_rows_null(rows, 0));
        snprintf(r->names[r->seen], 16, "%s:%lld", sg_rows_text(rows, 0),
                 (long long)sg_rows_int(rows, 1));
        r->seen++;
    }
    sg_rows_free(rows);
    return step < 0 ? step : SG_OK;
}

static int bad_sql(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "INSERT INTO nope VALUES (1)", NULL, 0, NULL);
}

static void test_query_and_errors(void **state)
{
    fixture *f = *state;
    sg_store *st = open_with(f, migs_v1, SG_OK);
    assert_int_equal(sg_store_tx(st, insert_two, "beta"), SG_OK);
    rows_ctx r = {0};
    assert_int_equal(sg_store_read(st, read_rows, &r), SG_OK);
    assert_int_equal(r.seen, 2);
    assert_string_equal(r.names[0], "alpha:1");
    assert_string_equal(r.names[1], "beta:2");
    assert_int_equal(sg_store_tx(st, bad_sql, NULL), SG_ESTORE);
    assert_non_null(strstr(sg_err_msg(), "nope"));
    /* Hostile text is data, never SQL. */
    sg_store_close(st);
}

typedef struct writer_arg {
    sg_store *st;
    int id;
} writer_arg;

static int insert_one(sg_conn *c, void *ctx)
{
    writer_arg *w = ctx;
    char name[32];
    snprintf(name, sizeof(name), "w%d'; DROP TABLE t; --", w->id);
    sg_val p[] = {SG_VTEXT(name), SG_VINT(w->id)};
    return sg_conn_exec(c, "INSERT INTO t (name, n) VALUES (?1, ?2)", p, 2, NULL);
}

static void *writer(void *arg)
{
    writer_arg *w = arg;
    for (int i = 0; i < 25; i++) {
        writer_arg one = {w->st, w->id * 1000 + i};
        if (sg_store_tx(w->st, insert_one, &one) != SG_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    fixture *f = *state;
    sg_store *st = open_with(f, migs_v1, SG_OK);
    pthread_t th[4];
    writer_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (writer_arg){st, i + 1};
        pthread_create(&th[i], NULL, writer, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        void *ret = NULL;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    int64_t n = 0;
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
    assert_int_equal(n, 100);
    sg_store_close(st);
}

/* 64 KB of text in one row per transaction: 16 pages of WAL per commit. */
static int insert_big(sg_conn *c, void *ctx)
{
    int *i = ctx;
    char name[16];
    snprintf(name, sizeof(name), "big%d", *i);
    char *note = sg_xmalloc(64 * 1024 + 1);
    memset(note, 'a' + *i % 26, 64 * 1024);
    note[64 * 1024] = '\0';
    sg_val p[] = {SG_VTEXT(name), SG_VTEXT(note)};
    int rc = sg_conn_exec(c, "INSERT INTO t (name, n, note) VALUES (?1, 0, ?2)", p, 2, NULL);
    free(note);
    return rc;
}

/* snowgate checkpoints the WAL itself (SQLite's automatic checkpoint is off, since it would run
 * inside the commit with the process's write lock held). Without it the WAL would grow with
 * every commit: 400 commits of 16 pages are ~26 MB of WAL. With it, the WAL is reused from the
 * start once copied back, and stays near the 1000-page threshold (~4 MB). */
static void test_wal_is_checkpointed(void **state)
{
    fixture *f = *state;
    if (h_store_is_postgres())
        skip();
    sg_store *st = open_with(f, migs_v2, SG_OK);
    for (int i = 0; i < 400; i++)
        assert_int_equal(sg_store_tx(st, insert_big, &i), SG_OK);
    char *wal = sg_xasprintf("%s-wal", f->url + strlen("sqlite:"));
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0);
    assert_true(sb.st_size < 10 * 1024 * 1024);
    int64_t n = 0;
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
    assert_int_equal(n, 400);
    free(wal);
    sg_store_close(st);
}

/* A writer that holds the write lock inside its transaction until told to finish. */
typedef struct holder {
    sg_store *st;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool holding, finish, fail;
    int rc;
} holder;

static int hold_tx(sg_conn *c, void *ctx)
{
    holder *h = ctx;
    writer_arg w = {h->st, 7};
    int rc = insert_one(c, &w);
    pthread_mutex_lock(&h->mu);
    h->holding = true;
    pthread_cond_broadcast(&h->cv);
    while (!h->finish)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    return rc == SG_OK && h->fail ? sg_err_set(SG_EINVAL, "rolled back on purpose") : rc;
}

static void *hold(void *arg)
{
    holder *h = arg;
    h->rc = sg_store_tx(h->st, hold_tx, h);
    return NULL;
}

static void hold_start(holder *h, pthread_t *th)
{
    h->holding = h->finish = false;
    assert_int_equal(pthread_create(th, NULL, hold, h), 0);
    pthread_mutex_lock(&h->mu);
    while (!h->holding)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
}

static void hold_end(holder *h, pthread_t th)
{
    pthread_mutex_lock(&h->mu);
    h->finish = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    assert_int_equal(pthread_join(th, NULL), 0);
}

/* A command opening the store beside a server that is writing (here: a transaction holding
 * the write lock) reads the schema version without asking for the write lock, so it opens
 * at once instead of failing "busy" after the busy timeout. */
static void test_open_beside_a_writer(void **state)
{
    fixture *f = *state;
    sg_store *server = open_with(f, migs_v1, SG_OK);
    holder h = {.st = server, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t th;
    hold_start(&h, &th);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = f->url;
    o.migrations = migs_v1;
    o.busy_timeout_ms = 100;
    sg_store *command = NULL;
    if (sg_store_open(&o, &command) != SG_OK)
        fail_msg("open beside a writer: %s", sg_err_msg());
    int64_t n = -1;
    assert_int_equal(sg_store_read(command, count_rows, &n), SG_OK);
    assert_int_equal(n, 0); /* the holder's row is not committed yet */
    sg_store_close(command);
    hold_end(&h, th);
    assert_int_equal(h.rc, SG_OK);
    sg_store_close(server);
}

/* One writer at a time: another waits for the lock at most busy_timeout_ms, then is told the
 * store is busy; the lock is free again after a commit and after a rollback. */
static void test_writer_waits_then_busy(void **state)
{
    fixture *f = *state;
    sg_store *st = open_with(f, migs_v1, SG_OK);
    sg_store_close(st);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = f->url;
    o.migrations = migs_v1;
    o.busy_timeout_ms = 200;
    o.pool_size = 3;
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    holder h = {.st = st, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    pthread_t th;
    hold_start(&h, &th);
    writer_arg w = {st, 8};
    if (strcmp(sg_store_backend(st), "sqlite") == 0) {
        assert_int_equal(sg_store_tx(st, insert_one, &w), SG_EUNAVAIL);
        /* It waited for the process's writer lock, not in SQLite's busy handler. */
        assert_non_null(strstr(sg_err_msg(), "another transaction of this process"));
    }
    int64_t n = -1;
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK); /* readers never wait */
    assert_int_equal(n, 0);
    h.fail = true;
    hold_end(&h, th);
    assert_int_equal(h.rc, SG_EINVAL);
    assert_int_equal(sg_store_tx(st, insert_one, &w), SG_OK);
    h.fail = false;
    hold_start(&h, &th);
    hold_end(&h, th);
    assert_int_equal(h.rc, SG_OK);
    w.id = 9;
    assert_int_equal(sg_store_tx(st, insert_one, &w), SG_OK);
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
    assert_int_equal(n, 3);
    sg_store_close(st);
}

/* Group commit: 8 threads x 50 writes; every fifth write inserts and then fails, and must
 * leave nothing behind while its batch-mates commit. A name taken twice is a conflict for
 * the second writer only. */
static int insert_or_fail(sg_conn *c, void *ctx)
{
    writer_arg *w = ctx;
    int rc = insert_one(c, ctx);
    if (rc == SG_OK && w->id % 5 == 0)
        return sg_err_set(SG_EINVAL, "writer %d fails on purpose", w->id);
    return rc;
}

static void *group_writer(void *arg)
{
    writer_arg *w = arg;
    for (int i = 0; i < 50; i++) {
        writer_arg one = {w->st, w->id * 1000 + i};
        int rc = sg_store_tx_group(w->st, insert_or_fail, &one);
        if (one.id % 5 == 0) {
            char want[64];
            snprintf(want, sizeof(want), "writer %d fails on purpose", one.id);
            if (rc != SG_EINVAL || strcmp(sg_err_msg(), want) != 0)
                return (void *)1;
        } else if (rc != SG_OK) {
            return (void *)2;
        }
    }
    return NULL;
}

static void count_commit(void *ud)
{
    __atomic_add_fetch((int *)ud, 1, __ATOMIC_SEQ_CST);
}

static void test_group_commit(void **state)
{
    fixture *f = *state;
    sg_store *st = open_with(f, migs_v1, SG_OK);
    int commits = 0;
    sg_store_on_commit(st, count_commit, &commits);
    pthread_t th[8];
    writer_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (writer_arg){st, i + 1};
        pthread_create(&th[i], NULL, group_writer, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        void *ret = NULL;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    int64_t n = 0;
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
    assert_int_equal(n, 8 * 40); /* the failing fifth rolled back */
    /* Batches shared commits: never more commits than writes, at least one. */
    assert_true(commits >= 1 && commits <= 400);
    /* A duplicate in a group is the duplicate's error alone. */
    writer_arg dup = {st, 1001};
    assert_int_equal(sg_store_tx_group(st, insert_one, &dup), SG_ECONFLICT);
    sg_store_on_commit(st, NULL, NULL);
    sg_store_close(st);
}

/* Async group commit: 300 writes queued without waiting (every fifth fails on purpose), then
 * the store closed at once. Each done callback runs exactly once with its own outcome, and
 * close runs everything queued: nothing accepted is dropped. */
typedef struct async_w {
    writer_arg w;
    int rc;
    char msg[64];
    int calls;
} async_w;

static void async_done(void *ud, int rc, const char *msg)
{
    async_w *a = ud;
    a->rc = rc;
    snprintf(a->msg, sizeof(a->msg), "%s", msg);
    a->calls++;
}

static void test_group_commit_async(void **state)
{
    fixture *f = *state;
    sg_store *st = open_with(f, migs_v1, SG_OK);
    enum { N = 300 };
    async_w *a = calloc(N, sizeof(*a));
    for (int i = 0; i < N; i++) {
        a[i].w = (writer_arg){st, 5000 + i};
        a[i].rc = 99;
        assert_int_equal(sg_store_tx_group_async(st, insert_or_fail, &a[i].w, async_done, &a[i]),
                         SG_OK);
    }
    sg_store_close(st);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(a[i].calls, 1);
        if ((5000 + i) % 5 == 0) {
            assert_int_equal(a[i].rc, SG_EINVAL);
            assert_non_null(strstr(a[i].msg, "fails on purpose"));
        } else {
            assert_int_equal(a[i].rc, SG_OK);
            ok++;
        }
    }
    st = open_with(f, migs_v1, SG_OK);
    int64_t n = 0;
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
    assert_int_equal(n, ok);
    sg_store_close(st);
    free(a);
}

/* A query's parameters need not outlive the call (store.h): its rows are stepped after it
 * returns, so the backend copies them; the buffer is overwritten before the first row. */
static int blob_param(sg_conn *c, void *ctx)
{
    (void)ctx;
    char *buf = sg_xstrdup("abc\001def");
    sg_rows *r = NULL;
    sg_val v[] = {SG_VBLOB(buf, 7), SG_VTEXT(buf)};
    int rc = sg_conn_query(c, "SELECT ?1, ?2", v, 2, &r);
    memset(buf, 'x', 7);
    free(buf);
    if (rc != SG_OK)
        return rc;
    assert_int_equal(sg_rows_next(r), 1);
    size_t len = 0;
    const void *got = sg_rows_blob(r, 0, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(got, "abc\001def", 7);
    assert_string_equal(sg_rows_text(r, 1), "abc\001def");
    sg_rows_free(r);
    return SG_OK;
}

static void test_query_params_copied(void **state)
{
    fixture *f = *state;
    if (h_store_is_postgres())
        skip(); /* libpq sends them with the query, before sg_conn_query returns */
    sg_store *st = open_with(f, migs_v1, SG_OK);
    assert_int_equal(sg_store_read(st, blob_param, NULL), SG_OK);
    sg_store_close(st);
}

static void test_bad_locations(void **state)
{
    (void)state;
    sg_store_opts o = SG_STORE_OPTS_INIT;
    sg_store *st = NULL;
    o.url = "sqlite:/proc/nope/x.db";
    assert_int_equal(sg_store_open(&o, &st), SG_ESTORE);
    assert_null(st);
    /* Nothing listens on port 1: a clear error at open, not on first use. */
    o.url = "postgres://sg:secret-pw@127.0.0.1:1/x";
    assert_int_equal(sg_store_open(&o, &st), SG_EUNAVAIL);
    assert_non_null(strstr(sg_err_msg(), "cannot connect to the PostgreSQL store"));
    assert_null(strstr(sg_err_msg(), "secret-pw"));
    o.url = "postgres://sg@127.0.0.1:5432/x?nosuchoption=1";
    assert_int_equal(sg_store_open(&o, &st), SG_EINVAL);
    o.url = "mysql://localhost/x";
    assert_int_equal(sg_store_open(&o, &st), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "sqlite:PATH or postgres://"));
    o.url = "";
    assert_int_equal(sg_store_open(&o, &st), SG_EINVAL);
    assert_null(st);
}

/* A conflict handled inside a transaction does not spoil the rest of it (PostgreSQL aborts a
 * transaction on any error; the backend's statement savepoints keep SQLite's behaviour). */
static int conflict_then_more(sg_conn *c, void *ctx)
{
    (void)ctx;
    sg_val a[] = {SG_VTEXT("alpha"), SG_VINT(5000000000000LL)};
    int rc = sg_conn_exec(c, "INSERT INTO t (name, n) VALUES (?1, ?2)", a, 2, NULL);
    if (rc != SG_OK)
        return rc;
    if (sg_conn_exec(c, "INSERT INTO t (name, n) VALUES (?1, ?2)", a, 2, NULL) != SG_ECONFLICT)
        return sg_err_set(SG_EINTERNAL, "the duplicate was not a conflict");
    sg_val b[] = {SG_VTEXT("it's"), SG_VINT(-7)};
    int64_t changes = 0;
    rc = sg_conn_exec(c, "INSERT INTO t (name, n) VALUES (?1, ?2)", b, 2, &changes);
    if (rc == SG_OK && changes != 1)
        return sg_err_set(SG_EINTERNAL, "changes %lld", (long long)changes);
    return rc;
}

static int sum_rows(sg_conn *c, void *ctx)
{
    /* '?1' in a literal is text, not a parameter. */
    return sg_conn_query_int(c, "SELECT SUM(n) FROM t WHERE name <> '?1'", NULL, 0, ctx);
}

static void test_conflict_inside_tx(void **state)
{
    fixture *f = *state;
    sg_store *st = open_with(f, migs_v1, SG_OK);
    assert_int_equal(sg_store_tx(st, conflict_then_more, NULL), SG_OK);
    int64_t sum = 0;
    assert_int_equal(sg_store_read(st, sum_rows, &sum), SG_OK);
    assert_true(sum == 5000000000000LL - 7); /* 64-bit INTEGER on both backends */
    sg_store_close(st);
}

/* Leadership: one process of several on the same store leads; when it goes, another takes
 * over. (SQLite: every process may lead.) */
static void test_leader(void **state)
{
    fixture *f = *state;
    sg_store *a = open_with(f, migs_v1, SG_OK);
    sg_store *b = open_with(f, migs_v1, SG_OK);
    assert_true(sg_store_leader(a));
    assert_true(sg_store_leader(a)); /* still */
    if (h_store_is_postgres()) {
        assert_false(sg_store_leader(b));
        sg_store_close(a); /* the leader dies */
        /* Its server process lets go of the lock as it exits, a moment after the close. */
        bool took = false;
        for (int i = 0; i < 200 && !took; i++) {
            took = sg_store_leader(b);
            if (!took) {
                struct timespec t = {0, 50 * 1000 * 1000};
                nanosleep(&t, NULL);
            }
        }
        assert_true(took);
        a = open_with(f, migs_v1, SG_OK);
        assert_false(sg_store_leader(a));
    } else {
        assert_true(sg_store_leader(b));
    }
    sg_store_close(a);
    sg_store_close(b);
}

/* PostgreSQL: connections that break while pooled (a failover, a restarted server, a
 * terminated backend) are reopened, and the next transaction goes through. */
static void test_reconnect(void **state)
{
    fixture *f = *state;
    if (!h_store_is_postgres())
        skip();
    sg_store *st = open_with(f, migs_v1, SG_OK);
    assert_int_equal(sg_store_tx(st, insert_two, "beta"), SG_OK);
    char *v = h_pg_value(h_store_pg(), strrchr(f->url, '/') + 1,
                         "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                         "datname = current_database() AND pid <> pg_backend_pid()",
                         0, NULL);
    assert_string_not_equal(v, "0");
    free(v);
    int64_t n = 0;
    for (int i = 0; i < 4; i++) { /* every pooled connection, not just the first */
        assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
        assert_int_equal(n, 2);
    }
    sg_store_close(st);
}

/* PostgreSQL over the network: TLS verified unless the URL says otherwise. The test server has
 * no TLS, so a verified connection must fail, and say why. */
static void test_store_tls(void **state)
{
    fixture *f = *state;
    if (!h_store_is_postgres())
        skip();
    const char *db = strrchr(f->url, '/') + 1;
    char url[300];
    /* A remote name (reached at 127.0.0.1 through hostaddr), no sslmode: verify-full. */
    snprintf(url, sizeof(url),
             "postgres://sgstore:store-Pw-1@db.example.invalid:%d/%s?hostaddr=127.0.0.1",
             h_store_pg()->port, db);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrations = migs_v1;
    sg_store *st = NULL;
    assert_int_equal(sg_store_open(&o, &st), SG_EUNAVAIL);
    assert_non_null(strstr(sg_err_msg(), "SSL"));
    /* The operator may weaken it, explicitly (with a warning in the log). */
    snprintf(url, sizeof(url),
             "postgres://sgstore:store-Pw-1@db.example.invalid:%d/%s?hostaddr=127.0.0.1&"
             "sslmode=disable",
             h_store_pg()->port, db);
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    sg_store_close(st);
}

static int sleepy(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "SELECT pg_sleep(5)", NULL, 0, NULL);
}

/* PostgreSQL: a statement that runs past store.statement_timeout fails as a timeout. */
static void test_statement_timeout(void **state)
{
    fixture *f = *state;
    if (!h_store_is_postgres())
        skip();
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = f->url;
    o.migrations = migs_v1;
    o.statement_timeout_ms = 100;
    sg_store *st = NULL;
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    assert_int_equal(sg_store_read(st, sleepy, NULL), SG_ETIMEOUT);
    assert_non_null(strstr(sg_err_msg(), "timed out"));
    int64_t n = -1; /* the connection is usable afterwards */
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
    sg_store_close(st);
}

/* Row-locked claims: two transactions at once each take a different row, none waits. */
typedef struct claim_arg {
    sg_store *st;
    pthread_barrier_t *bar;
    char got[16];
} claim_arg;

static int claim_one(sg_conn *c, void *ctx)
{
    claim_arg *a = ctx;
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT name FROM t WHERE n > 0 ORDER BY name LIMIT 1%s",
             sg_store_skip_locked(a->st));
    sg_rows *r = NULL;
    int rc = sg_conn_query(c, sql, NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1)
        snprintf(a->got, sizeof(a->got), "%s", sg_rows_text(r, 0));
    sg_rows_free(r);
    sg_val p[] = {SG_VTEXT(a->got)};
    rc = sg_conn_exec(c, "UPDATE t SET n = 0 WHERE name = ?1", p, 1, NULL);
    /* Hold the row lock until the other claimer has chosen too (PostgreSQL only: SQLite's
     * writers take turns, so there the second simply sees the first's update). */
    if (h_store_is_postgres())
        pthread_barrier_wait(a->bar);
    return rc;
}

static void *claimer(void *arg)
{
    claim_arg *a = arg;
    return sg_store_tx_rowlocked(a->st, claim_one, a) == SG_OK ? NULL : (void *)1;
}

static void test_rowlocked_claims(void **state)
{
    fixture *f = *state;
    sg_store *st = open_with(f, migs_v1, SG_OK);
    assert_int_equal(sg_store_tx(st, insert_two, "beta"), SG_OK);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    claim_arg a[2] = {{st, &bar, ""}, {st, &bar, ""}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, claimer, &a[i]);
    for (int i = 0; i < 2; i++) {
        void *ret = NULL;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    pthread_barrier_destroy(&bar);
    assert_string_not_equal(a[0].got, a[1].got);
    assert_true(a[0].got[0] && a[1].got[0]);
    sg_store_close(st);
}

/* On SQLite a write transaction shares the group commit: a write opened from inside one is
 * refused at once (it would wait for itself), and the outer one still commits its own work. */
static int nested_tx(sg_conn *c, void *ctx)
{
    writer_arg *w = ctx;
    int rc = insert_one(c, w);
    if (rc != SG_OK)
        return rc;
    writer_arg inner = {w->st, w->id + 1};
    int nested = sg_store_tx(w->st, insert_one, &inner);
    if (nested != SG_EINTERNAL || !strstr(sg_err_msg(), "inside another one"))
        return sg_err_set(SG_EINVAL, "the nested write gave %d: %s", nested, sg_err_msg());
    return SG_OK;
}

static void test_nested_write_refused(void **state)
{
    fixture *f = *state;
    if (h_store_is_postgres())
        skip();
    sg_store *st = open_with(f, migs_v1, SG_OK);
    writer_arg w = {st, 40};
    if (sg_store_tx(st, nested_tx, &w) != SG_OK)
        fail_msg("%s", sg_err_msg());
    int64_t n = -1;
    assert_int_equal(sg_store_read(st, count_rows, &n), SG_OK);
    assert_int_equal(n, 1);
    sg_store_close(st);
}

/* A transaction's error reaches its caller whole, though on SQLite fn runs on the committer
 * thread: a long refusal keeps its end, where the fix usually is. */
static int long_refusal(sg_conn *c, void *ctx)
{
    (void)c;
    (void)ctx;
    char reason[701];
    memset(reason, 'x', 700);
    reason[700] = '\0';
    return sg_err_set(SG_EINVAL, "%s; the fix is at the end", reason);
}

static void test_tx_error_whole(void **state)
{
    fixture *f = *state;
    sg_store *st = open_with(f, migs_v1, SG_OK);
    assert_int_equal(sg_store_tx(st, long_refusal, NULL), SG_EINVAL);
    if (!strstr(sg_err_msg(), "; the fix is at the end"))
        fail_msg("the error was cut to %zu bytes", strlen(sg_err_msg()));
    sg_store_close(st);
}

/* A write transaction logs as its caller: on SQLite it runs on the committer thread, which
 * takes the caller's request id and context for it, and drops them after. */
static int logs_as_caller(sg_conn *c, void *ctx)
{
    (void)c;
    (void)ctx;
    const char *id = sg_log_request_id();
    if (!id || strcmp(id, "req-42") != 0)
        return sg_err_set(SG_EINVAL, "the transaction logs as '%s'", id ? id : "(none)");
    return SG_OK;
}

static int logs_as_nobody(sg_conn *c, void *ctx)
{
    (void)c;
    (void)ctx;
    const char *id = sg_log_request_id();
    return id ? sg_err_set(SG_EINVAL, "the transaction logs as '%s'", id) : SG_OK;
}

static void test_tx_logs_as_caller(void **state)
{
    fixture *f = *state;
    sg_store *st = open_with(f, migs_v1, SG_OK);
    sg_log_set_request_id("req-42");
    int rc = sg_store_tx(st, logs_as_caller, NULL);
    sg_log_set_request_id(NULL);
    if (rc != SG_OK)
        fail_msg("%s", sg_err_msg());
    if (sg_store_tx(st, logs_as_nobody, NULL) != SG_OK)
        fail_msg("%s", sg_err_msg());
    sg_store_close(st);
}

static int synchronous_of(sg_conn *c, void *ctx)
{
    return sg_conn_query_int(c, "PRAGMA synchronous", NULL, 0, ctx);
}

/* snowgate's store waits for the disk on every commit (synchronous=FULL, 2); snowsim's asks
 * for NORMAL (1), and the level is read back, not assumed. */
static void test_synchronous_levels(void **state)
{
    fixture *f = *state;
    if (h_store_is_postgres())
        skip();
    sg_store *st = open_with(f, migs_v1, SG_OK);
    int64_t level = -1;
    assert_int_equal(sg_store_read(st, synchronous_of, &level), SG_OK);
    assert_int_equal(level, 2);
    sg_store_close(st);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = f->url;
    o.migrations = migs_v1;
    o.process_durable_only = true;
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    assert_int_equal(sg_store_read(st, synchronous_of, &level), SG_OK);
    assert_int_equal(level, 1);
    writer_arg w = {st, 50};
    assert_int_equal(sg_store_tx(st, insert_one, &w), SG_OK);
    sg_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_and_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_params_copied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_waits_then_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_async, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_inside_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rowlocked_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_write_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_error_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_synchronous_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_logs_as_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_is_checkpointed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_beside_a_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_tls, setup, teardown),
        cmocka_unit_test(test_bad_locations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
