/* Tests for gate/jobs: leases and takeover, backoff, dead jobs and replay, idempotent enqueue,
 * and concurrent workers that never run a job twice at once. */
#include "e2e/harness.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/mem.h"
#include "gate/jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const sg_embed_file sg_gate_migrations[];

typedef h_store fx;

static int setup(void **state)
{
    fx *f = sg_xcalloc(1, sizeof(*f));
    h_store_fresh(f, "jobs", sg_gate_migrations);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    h_store_done(f);
    free(f);
    return 0;
}

typedef struct enq {
    const char *kind, *payload, *key;
    int64_t run_at;
    bool created;
} enq;

static int enq_tx(sg_conn *c, void *ctx)
{
    enq *e = ctx;
    return sg_jobs_enqueue(c, e->kind, e->payload, e->run_at, e->key, &e->created);
}

static bool enqueue(fx *f, const char *kind, const char *payload, int64_t run_at, const char *key)
{
    enq e = {kind, payload, key, run_at, false};
    assert_int_equal(sg_store_tx(f->st, enq_tx, &e), SG_OK);
    return e.created;
}

static void test_claim_done_and_dedup(void **state)
{
    fx *f = *state;
    assert_true(enqueue(f, "sn.create", "{\"request\":\"r1\"}", 100, "sn.create:r1"));
    assert_false(enqueue(f, "sn.create", "{\"request\":\"r1\"}", 100, "sn.create:r1"));
    assert_true(enqueue(f, "sn.create", "{\"request\":\"r2\"}", 200, NULL));
    sg_job j;
    /* Not due yet. */
    assert_int_equal(sg_jobs_claim(f->st, "w1", 30, 50, &j), SG_ENOTFOUND);
    assert_int_equal(sg_jobs_claim(f->st, "w1", 30, 150, &j), SG_OK);
    assert_string_equal(j.kind, "sn.create");
    assert_string_equal(j.payload, "{\"request\":\"r1\"}");
    /* While leased, nobody else gets it. */
    sg_job other;
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 160, &other), SG_ENOTFOUND);
    assert_int_equal(sg_jobs_done(f->st, &j, "w1"), SG_OK);
    sg_job_clear(&j);
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 250, &j), SG_OK);
    assert_string_equal(j.payload, "{\"request\":\"r2\"}");
    sg_job_clear(&j);
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 250, &j), SG_ENOTFOUND);
}

static void test_lease_takeover(void **state)
{
    fx *f = *state;
    enqueue(f, "fulfil", "{}", 0, NULL);
    sg_job a, b;
    assert_int_equal(sg_jobs_claim(f->st, "dies", 30, 10, &a), SG_OK);
    /* The worker died; after its lease another takes the job over. */
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 39, &b), SG_ENOTFOUND);
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 41, &b), SG_OK);
    assert_string_equal(a.id, b.id);
    /* The late worker cannot finish it any more. */
    assert_int_equal(sg_jobs_done(f->st, &a, "dies"), SG_ECONFLICT);
    assert_int_equal(sg_jobs_done(f->st, &b, "w2"), SG_OK);
    sg_job_clear(&a);
    sg_job_clear(&b);
}

typedef struct done_in {
    const sg_job *j;
    bool lost;
    bool fail_after; /* the handler's transaction fails after marking the job done */
} done_in;

static int done_in_tx(sg_conn *c, void *ctx)
{
    done_in *d = ctx;
    int rc = sg_jobs_done_in(c, d->j, &d->lost);
    return rc == SG_OK && d->fail_after ? sg_err_set(SG_EINTERNAL, "the handler failed") : rc;
}

/* A handler ends its job in its own transaction (sg_jobs_done_in, as the owner that claimed
 * it): only if that transaction commits, and not once the lease was lost. */
static void test_done_in_handler_tx(void **state)
{
    fx *f = *state;
    enqueue(f, "fulfil", "{}", 0, NULL);
    sg_job a, b;
    assert_int_equal(sg_jobs_claim(f->st, "w1", 30, 10, &a), SG_OK);
    assert_string_equal(a.owner, "w1");
    /* Rolled back with the handler's transaction: the job is still w1's, running. */
    done_in d = {&a, false, true};
    assert_int_equal(sg_store_tx(f->st, done_in_tx, &d), SG_EINTERNAL);
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 20, &b), SG_ENOTFOUND);
    d.fail_after = false;
    assert_int_equal(sg_store_tx(f->st, done_in_tx, &d), SG_OK);
    assert_false(d.lost);
    /* Done: nobody gets it again, not even after the lease would have run out. */
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 100, &b), SG_ENOTFOUND);
    assert_int_equal(sg_jobs_done(f->st, &a, "w1"), SG_ECONFLICT);
    sg_job_clear(&a);
    /* Taken over after the lease ran out: the late owner's transaction leaves the row to the
     * new one, and says so. */
    enqueue(f, "fulfil", "{}", 0, NULL);
    assert_int_equal(sg_jobs_claim(f->st, "dies", 30, 200, &a), SG_OK);
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 231, &b), SG_OK);
    done_in late = {&a, false, false};
    assert_int_equal(sg_store_tx(f->st, done_in_tx, &late), SG_OK);
    assert_true(late.lost);
    assert_int_equal(sg_jobs_done(f->st, &b, "w2"), SG_OK);
    sg_job_clear(&a);
    sg_job_clear(&b);
}

/* A job that runs long keeps its lease while its worker renews it; once the worker stops
 * renewing (it died), the job is taken over as before, and the old owner cannot renew it. */
static void test_lease_extended(void **state)
{
    fx *f = *state;
    enqueue(f, "fulfil", "{}", 0, NULL);
    sg_job a, b;
    assert_int_equal(sg_jobs_claim(f->st, "slow", 30, 10, &a), SG_OK);
    assert_int_equal(sg_jobs_extend(f->st, a.id, "slow", 70), SG_OK);
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 41, &b), SG_ENOTFOUND);
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 69, &b), SG_ENOTFOUND);
    /* Only the owner renews. */
    assert_int_equal(sg_jobs_extend(f->st, a.id, "w2", 500), SG_ECONFLICT);
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 71, &b), SG_OK);
    assert_string_equal(a.id, b.id);
    assert_int_equal(sg_jobs_extend(f->st, a.id, "slow", 500), SG_ECONFLICT);
    assert_int_equal(sg_jobs_done(f->st, &b, "w2"), SG_OK);
    /* A finished job is not renewed. */
    assert_int_equal(sg_jobs_extend(f->st, b.id, "w2", 500), SG_ECONFLICT);
    sg_job_clear(&a);
    sg_job_clear(&b);
}

static int dead_id_tx(sg_conn *c, void *ctx)
{
    sg_rows *r = NULL;
    int rc = sg_conn_query(c, "SELECT id, last_error FROM jobs WHERE state = 'dead'", NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1) {
        snprintf(ctx, 33, "%s", sg_rows_text(r, 0));
        assert_string_equal(sg_rows_text(r, 1), "ServiceNow answered 503");
    }
    sg_rows_free(r);
    return SG_OK;
}

static void test_backoff_dead_replay(void **state)
{
    fx *f = *state;
    for (int n = 1; n < 20; n++) {
        int64_t d = sg_jobs_backoff(n, -1);
        int64_t base = n >= 12 ? SG_JOBS_BACKOFF_MAX : (int64_t)1 << n;
        if (base > SG_JOBS_BACKOFF_MAX)
            base = SG_JOBS_BACKOFF_MAX;
        assert_true(d >= base / 2 && d <= base);
    }
    assert_true(sg_jobs_backoff(1, 120) >= 120); /* Retry-After wins */
    enqueue(f, "sn.update", "{}", 0, NULL);
    int64_t now = 1000;
    sg_job j;
    for (int i = 0; i < SG_JOBS_MAX_ATTEMPTS; i++) {
        assert_int_equal(sg_jobs_claim(f->st, "w", 30, now, &j), SG_OK);
        assert_int_equal(j.attempts, i);
        assert_int_equal(sg_jobs_fail(f->st, &j, "w", "ServiceNow answered 503", 5, now), SG_OK);
        sg_job_clear(&j);
        /* Not before the backoff (at least the Retry-After of 5 s). */
        assert_int_equal(sg_jobs_claim(f->st, "w", 30, now + 4, &j), SG_ENOTFOUND);
        now += SG_JOBS_BACKOFF_MAX + 1;
    }
    /* Dead now: never claimed again until replayed. */
    assert_int_equal(sg_jobs_claim(f->st, "w", 30, now + 100000, &j), SG_ENOTFOUND);
    char id[33] = "";
    assert_int_equal(sg_store_read(f->st, dead_id_tx, id), SG_OK);
    assert_int_equal(strlen(id), 32);
    assert_int_equal(sg_jobs_replay(f->st, id, now), SG_OK);
    assert_int_equal(sg_jobs_replay(f->st, id, now), SG_ENOTFOUND);
    assert_int_equal(sg_jobs_claim(f->st, "w", 30, now, &j), SG_OK);
    assert_int_equal(j.attempts, 0);
    sg_job_clear(&j);
}

typedef struct worker_arg {
    fx *f;
    char name[8];
    int done;
} worker_arg;

typedef struct serial_enq {
    const char *payload, *serial;
    int64_t seq, run_at;
} serial_enq;

static int serial_tx(sg_conn *c, void *ctx)
{
    serial_enq *e = ctx;
    return sg_jobs_enqueue_serial(c, "sn.update", e->payload, e->run_at, NULL, e->serial, e->seq,
                                  NULL);
}

/* Jobs of one serial run one at a time and in order, even with several workers claiming, and
 * one waiting to retry holds the later ones back; other serials are not held up. */
static void test_serial_order(void **state)
{
    fx *f = *state;
    /* Enqueued out of order on purpose: serial_seq decides, not arrival. */
    serial_enq e[] = {{"r1:3", "r1", 3, 10}, {"r1:2", "r1", 2, 10}, {"r2:2", "r2", 2, 10}};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(sg_store_tx(f->st, serial_tx, &e[i]), SG_OK);
    sg_job a, b, c;
    assert_int_equal(sg_jobs_claim(f->st, "w1", 30, 20, &a), SG_OK);
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 20, &b), SG_OK);
    /* r1:3 waits for r1:2, which is running. */
    assert_int_equal(sg_jobs_claim(f->st, "w3", 30, 20, &c), SG_ENOTFOUND);
    sg_job *r1 = strcmp(a.payload, "r1:2") == 0 ? &a : &b, *r2 = r1 == &a ? &b : &a;
    assert_string_equal(r1->payload, "r1:2");
    assert_string_equal(r2->payload, "r2:2");
    /* r1:2 fails and backs off: r1:3 still waits. */
    assert_int_equal(sg_jobs_fail(f->st, r1, r1 == &a ? "w1" : "w2", "503", 60, 20), SG_OK);
    assert_int_equal(sg_jobs_claim(f->st, "w3", 30, 21, &c), SG_ENOTFOUND);
    assert_int_equal(sg_jobs_done(f->st, r2, r2 == &a ? "w1" : "w2"), SG_OK);
    sg_job_clear(&a);
    sg_job_clear(&b);
    /* Its retry comes first, then the next. */
    assert_int_equal(sg_jobs_claim(f->st, "w3", 30, 200, &c), SG_OK);
    assert_string_equal(c.payload, "r1:2");
    assert_int_equal(sg_jobs_done(f->st, &c, "w3"), SG_OK);
    sg_job_clear(&c);
    assert_int_equal(sg_jobs_claim(f->st, "w3", 30, 200, &c), SG_OK);
    assert_string_equal(c.payload, "r1:3");
    assert_int_equal(sg_jobs_done(f->st, &c, "w3"), SG_OK);
    sg_job_clear(&c);
    assert_int_equal(sg_jobs_claim(f->st, "w3", 30, 200, &c), SG_ENOTFOUND);
}

static void *worker(void *arg)
{
    worker_arg *w = arg;
    sg_job j;
    while (sg_jobs_claim(w->f->st, w->name, 60, 1000, &j) == SG_OK) {
        if (sg_jobs_done(w->f->st, &j, w->name) == SG_OK)
            w->done++;
        sg_job_clear(&j);
    }
    return NULL;
}

static void test_concurrent_workers(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 60; i++)
        enqueue(f, "k", "{}", 0, NULL);
    pthread_t th[3];
    worker_arg a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (worker_arg){f, "", 0};
        snprintf(a[i].name, sizeof(a[i].name), "w%d", i);
        pthread_create(&th[i], NULL, worker, &a[i]);
    }
    int total = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        total += a[i].done;
    }
    /* Every job done exactly once. */
    assert_int_equal(total, 60);
}

/* The oldest ready job is taken, whether it is queued or a running one whose lease ran out
 * (the claim reads the two kinds separately and takes the older). */
static void test_claim_takes_oldest_ready(void **state)
{
    fx *f = *state;
    enqueue(f, "k", "old", 10, NULL);
    sg_job a, b;
    assert_int_equal(sg_jobs_claim(f->st, "dies", 30, 10, &a), SG_OK);
    assert_string_equal(a.payload, "old");
    enqueue(f, "k", "new", 20, NULL);
    /* At 50 "old" (run_at 10) is expired and older than "new" (run_at 20). */
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 50, &b), SG_OK);
    assert_string_equal(b.payload, "old");
    assert_int_equal(sg_jobs_done(f->st, &b, "w2"), SG_OK);
    sg_job_clear(&a);
    sg_job_clear(&b);
    /* And a queued job older than an expired one goes first. */
    enqueue(f, "k", "later", 60, NULL);
    assert_int_equal(sg_jobs_claim(f->st, "w3", 30, 60, &a), SG_OK); /* "new" */
    assert_string_equal(a.payload, "new");
    enqueue(f, "k", "earliest", 5, NULL);
    assert_int_equal(sg_jobs_claim(f->st, "w4", 30, 100, &b), SG_OK);
    assert_string_equal(b.payload, "earliest");
    sg_job_clear(&b);
    assert_int_equal(sg_jobs_claim(f->st, "w4", 30, 100, &b), SG_OK);
    assert_string_equal(b.payload, "new"); /* run_at 20, its lease ran out at 90 */
    sg_job_clear(&b);
    assert_int_equal(sg_jobs_claim(f->st, "w4", 30, 100, &b), SG_OK);
    assert_string_equal(b.payload, "later");
    sg_job_clear(&b);
    sg_job_clear(&a);
}

typedef struct coal {
    const char *payload;
    int64_t run_at;
    bool created;
} coal;

static int coal_tx(sg_conn *c, void *ctx)
{
    coal *e = ctx;
    char key[64];
    snprintf(key, sizeof(key), "sync:%s:%lld", e->payload, (long long)e->run_at);
    return sg_jobs_enqueue_coalesced(c, "servicenow.sync", e->payload, e->run_at, key, &e->created);
}

static bool coalesce(fx *f, const char *payload, int64_t run_at)
{
    coal e = {payload, run_at, false};
    assert_int_equal(sg_store_tx(f->st, coal_tx, &e), SG_OK);
    return e.created;
}

/* A second re-read of a request folds into one that is queued, has not started and never
 * failed; never into a running one (it may have read already), one that failed before (it
 * could die with the folded work), or one not yet due. */
static void test_enqueue_coalesced(void **state)
{
    fx *f = *state;
    assert_true(coalesce(f, "r1", 10));
    assert_false(coalesce(f, "r1", 11));
    assert_true(coalesce(f, "r2", 11)); /* another request */
    sg_job a, b;
    assert_int_equal(sg_jobs_claim(f->st, "w1", 30, 20, &a), SG_OK);
    assert_string_equal(a.payload, "r1");
    /* Running: a change now may come after its read. */
    assert_true(coalesce(f, "r1", 21));
    assert_int_equal(sg_jobs_done(f->st, &a, "w1"), SG_OK);
    sg_job_clear(&a);
    assert_int_equal(sg_jobs_claim(f->st, "w1", 30, 22, &a), SG_OK);
    assert_string_equal(a.payload, "r2");
    assert_int_equal(sg_jobs_done(f->st, &a, "w1"), SG_OK);
    sg_job_clear(&a);
    assert_int_equal(sg_jobs_claim(f->st, "w1", 30, 22, &a), SG_OK);
    assert_string_equal(a.payload, "r1");
    /* It failed and waits to retry (attempts 1): a new change gets a job of its own. */
    assert_int_equal(sg_jobs_fail(f->st, &a, "w1", "503", 100, 22), SG_OK);
    sg_job_clear(&a);
    assert_true(coalesce(f, "r1", 23));
    /* A job due later than this one's run_at does not absorb it either. */
    assert_true(coalesce(f, "r3", 500));
    assert_true(coalesce(f, "r3", 30));
    assert_int_equal(sg_jobs_claim(f->st, "w1", 30, 30, &a), SG_OK);
    assert_string_equal(a.payload, "r1");
    assert_int_equal(a.attempts, 0);
    assert_int_equal(sg_jobs_claim(f->st, "w2", 30, 30, &b), SG_OK);
    assert_string_equal(b.payload, "r3");
    sg_job_clear(&a);
    sg_job_clear(&b);
}

/* ServiceNow answers again: its jobs waiting out a backoff become due at once (their attempts
 * kept), and nothing else moves. */
static void test_wake_servicenow(void **state)
{
    fx *f = *state;
    enqueue(f, "servicenow.mirror", "m", 100, NULL);
    enqueue(f, "request.expire", "e", 5000, NULL);
    sg_job j;
    assert_int_equal(sg_jobs_claim(f->st, "w", 30, 100, &j), SG_OK);
    assert_int_equal(sg_jobs_fail(f->st, &j, "w", "ServiceNow answered 503", 600, 100), SG_OK);
    sg_job_clear(&j);
    assert_int_equal(sg_jobs_claim(f->st, "w", 30, 200, &j), SG_ENOTFOUND);
    assert_int_equal(sg_jobs_wake_servicenow(f->st, 200), SG_OK);
    assert_int_equal(sg_jobs_claim(f->st, "w", 30, 200, &j), SG_OK);
    assert_string_equal(j.kind, "servicenow.mirror");
    assert_int_equal(j.attempts, 1);
    sg_job_clear(&j);
    assert_int_equal(sg_jobs_claim(f->st, "w", 30, 200, &j), SG_ENOTFOUND);
}

/* A store busy for longer than the busy timeout (here: another store's transaction on the same
 * SQLite file) does not make a worker give up recording a finished job: a job left `running`
 * is run again by another worker once its lease runs out. */
typedef struct slow_hold {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool inside;
} slow_hold;

static int slow_tx(sg_conn *c, void *ctx)
{
    (void)c;
    slow_hold *h = ctx;
    pthread_mutex_lock(&h->mu);
    h->inside = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    struct timespec t = {0, 700 * 1000 * 1000}; /* seven busy timeouts of the other store */
    nanosleep(&t, NULL);
    return sg_conn_exec(c, "UPDATE jobs SET updated_at = updated_at WHERE 0", NULL, 0, NULL);
}

typedef struct slow_arg {
    sg_store *st;
    slow_hold *h;
    int rc;
} slow_arg;

static void *slow_thread(void *p)
{
    slow_arg *a = p;
    a->rc = sg_store_tx(a->st, slow_tx, a->h);
    return NULL;
}

static void test_done_outlasts_busy(void **state)
{
    fx *f = *state;
    if (strcmp(sg_store_backend(f->st), "sqlite") != 0)
        skip(); /* PostgreSQL locks rows: the finish never waits on another job's write */
    char *url = h_store_url(f->dir, "jobs");
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrations = sg_gate_migrations;
    o.busy_timeout_ms = 100;
    sg_store *st = NULL;
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    free(url);
    enq e = {"sn.update", "{\"request\":\"busy\"}", NULL, 100, false};
    assert_int_equal(sg_store_tx(st, enq_tx, &e), SG_OK);
    sg_job j;
    assert_int_equal(sg_jobs_claim(st, "w1", 30, 150, &j), SG_OK);
    slow_hold h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    slow_arg a = {f->st, &h, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, slow_thread, &a), 0);
    pthread_mutex_lock(&h.mu);
    while (!h.inside)
        pthread_cond_wait(&h.cv, &h.mu);
    pthread_mutex_unlock(&h.mu);
    int rc = sg_jobs_done(st, &j, "w1");
    if (rc != SG_OK)
        fail_msg("a finished job was not recorded beside a busy store: %s", sg_err_msg());
    pthread_join(th, NULL);
    assert_int_equal(a.rc, SG_OK);
    sg_job_clear(&j);
    /* It is done: nothing is left to claim, even after its lease would have run out. */
    assert_int_equal(sg_jobs_claim(st, "w2", 30, 1000, &j), SG_ENOTFOUND);
    sg_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim_done_and_dedup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_in_handler_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_extended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff_dead_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_workers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serial_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_takes_oldest_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enqueue_coalesced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wake_servicenow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_outlasts_busy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
