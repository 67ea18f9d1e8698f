/* jobs: the queue in the store. On SQLite a claim is one IMMEDIATE transaction (a single
 * writer); PostgreSQL will use FOR UPDATE SKIP LOCKED behind the same calls. */
#include "gate/jobs.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sg_job_clear(sg_job *j)
{
    free(j->payload);
    memset(j, 0, sizeof(*j));
}

/* Set when this thread enqueued a job; read after its transaction commits (serve.c's on_commit
 * hook). Per thread, and that holds on SQLite too, where transactions run on the store's
 * committer thread: the hook runs there as well, right after the commit. */
static _Thread_local bool enqueued;

int sg_jobs_enqueue(sg_conn *c, const char *kind, const char *payload, int64_t run_at,
                    const char *dedup_key, bool *created)
{
    return sg_jobs_enqueue_serial(c, kind, payload, run_at, dedup_key, NULL, 0, created);
}

int sg_jobs_enqueue_serial(sg_conn *c, const char *kind, const char *payload, int64_t run_at,
                           const char *dedup_key, const char *serial, int64_t serial_seq,
                           bool *created)
{
    char id[33], now[32];
    sg_random_hex(id, 16);
    sg_now_iso(now);
    if (created)
        *created = false;
    if (dedup_key) {
        int64_t n = 0;
        sg_val k[] = {SG_VTEXT(dedup_key)};
        int rc = sg_conn_query_int(c, "SELECT COUNT(*) FROM jobs WHERE dedup_key = ?1", k, 1, &n);
        if (rc != SG_OK || n > 0)
            return rc;
    }
    sg_val v[] = {SG_VTEXT(id),
                  SG_VTEXT(kind),
                  SG_VTEXT(payload ? payload : "{}"),
                  SG_VINT(run_at),
                  SG_VTEXT(dedup_key),
                  SG_VTEXT(now),
                  SG_VTEXT(serial),
                  serial ? SG_VINT(serial_seq) : SG_VNULL,
                  SG_VINT(sg_now_ms())};
    int rc = sg_conn_exec(c,
                          "INSERT INTO jobs (id, kind, payload, state, run_at, attempts, "
                          "dedup_key, created_at, updated_at, serial, serial_seq, queued_ms) "
                          "VALUES (?1, ?2, ?3, 'queued', ?4, 0, ?5, ?6, ?6, ?7, ?8, ?9)",
                          v, 9, NULL);
    if (rc == SG_OK && created)
        *created = true;
    if (rc == SG_OK)
        enqueued = true;
    return rc;
}

int sg_jobs_enqueue_coalesced(sg_conn *c, const char *kind, const char *payload, int64_t run_at,
                              const char *dedup_key, bool *created)
{
    if (created)
        *created = false;
    /* Only into a job that has not started (queued, not running) and never failed (attempts
     * 0): it reads everything when it runs, so it does this one's work too; a job that
     * failed before may be near its last attempt, and this work must not die with it. */
    /* The fold is a write on the job it folds into, not a read: on PostgreSQL a worker may
     * claim that job between a read and this transaction's commit, and the job would run
     * without this work. The UPDATE waits for such a claim's row lock and then checks the
     * state again (it is `running` by then: nothing is folded, a job is queued), and a claim
     * that comes after it skips the row until this transaction commits. On SQLite writers
     * take turns, so the same statement is simply exact. */
    char now[32];
    sg_now_iso(now);
    int64_t n = 0;
    sg_val k[] = {SG_VTEXT(kind), SG_VTEXT(payload ? payload : "{}"), SG_VINT(run_at),
                  SG_VTEXT(now)};
    /* Answered from the index on (kind, payload, run_at) of queued jobs (migration 0022). */
    int rc = sg_conn_exec(c,
                          "UPDATE jobs SET updated_at = ?4 WHERE state = 'queued' AND attempts = 0 "
                          "AND id = (SELECT id FROM jobs WHERE kind = ?1 AND payload = ?2 AND "
                          "state = 'queued' AND attempts = 0 AND run_at <= ?3 LIMIT 1)",
                          k, 4, &n);
    if (rc != SG_OK || n > 0)
        return rc;
    return sg_jobs_enqueue(c, kind, payload, run_at, dedup_key, created);
}

bool sg_jobs_take_enqueued(void)
{
    bool was = enqueued;
    enqueued = false;
    return was;
}

typedef struct claim_ctx {
    const char *skip_locked; /* sg_store_skip_locked() */
    const char *owner;
    int64_t lease_s, now;
    sg_job *out;
    bool found;
} claim_ctx;

/* Reads the first job of one kind of ready job (see claim_tx) into *got; *has when found. */
static int claim_pick(sg_conn *c, claim_ctx *cl, const char *ready, sg_job *got, char created[40],
                      bool *has)
{
    sg_rows *r = NULL;
    sg_val p[] = {SG_VINT(cl->now)};
    /* Replicas claim at once: each locks the row it takes and skips rows others hold. */
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT id, kind, payload, attempts, run_at, queued_ms, created_at FROM jobs j "
             "WHERE %s AND "
             /* Of a serial, only the first, and not while another runs. */
             "(serial IS NULL OR NOT EXISTS (SELECT 1 FROM jobs e WHERE "
             "e.serial = j.serial AND e.id <> j.id AND ((e.state = 'running' AND "
             "e.lease_until >= ?1) OR (e.state IN ('queued', 'running') AND "
             "(e.serial_seq < j.serial_seq OR (e.serial_seq = j.serial_seq AND "
             "e.id < j.id)))))) "
             "ORDER BY run_at, created_at LIMIT 1%s",
             ready, cl->skip_locked);
    int rc = sg_conn_query(c, sql, p, 1, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    if (step == 1) {
        snprintf(got->id, sizeof(got->id), "%s", sg_rows_text(r, 0));
        snprintf(got->kind, sizeof(got->kind), "%s", sg_rows_text(r, 1));
        got->payload = sg_xstrdup(sg_rows_text(r, 2));
        got->attempts = sg_rows_int(r, 3);
        got->run_at = sg_rows_int(r, 4);
        got->queued_ms = sg_rows_null(r, 5) ? 0 : sg_rows_int(r, 5);
        snprintf(created, 40, "%s", sg_rows_text(r, 6));
        *has = true;
    }
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

static int claim_tx(sg_conn *c, void *ctx)
{
    claim_ctx *cl = ctx;
    /* Two reads, each walking the index (state, run_at, created_at) in order and stopping at
     * the first job it may take, rather than one with an OR that reads every due job and
     * sorts them on each claim: the older of the two is taken. */
    sg_job queued = {0}, expired = {0};
    char qc[40] = "", ec[40] = "";
    bool has_q = false, has_e = false;
    int rc = claim_pick(c, cl, "state = 'queued' AND run_at <= ?1", &queued, qc, &has_q);
    if (rc == SG_OK)
        rc = claim_pick(c, cl, "state = 'running' AND lease_until < ?1", &expired, ec, &has_e);
    bool take_e = has_e && (!has_q || expired.run_at < queued.run_at ||
                            (expired.run_at == queued.run_at && strcmp(ec, qc) < 0));
    if (rc == SG_OK && (has_q || has_e)) {
        *cl->out = take_e ? expired : queued;
        (take_e ? &expired : &queued)->payload = NULL; /* now the caller's */
        cl->found = true;
    }
    sg_job_clear(&queued);
    sg_job_clear(&expired);
    if (rc != SG_OK || !cl->found)
        return rc;
    char now[32];
    sg_now_iso(now);
    sg_val u[] = {SG_VTEXT(cl->out->id), SG_VTEXT(cl->owner), SG_VINT(cl->now + cl->lease_s),
                  SG_VTEXT(now)};
    return sg_conn_exec(c,
                        "UPDATE jobs SET state = 'running', lease_owner = ?2, lease_until = ?3, "
                        "updated_at = ?4 WHERE id = ?1",
                        u, 4, NULL);
}

int sg_jobs_claim(sg_store *st, const char *owner, int64_t lease_s, int64_t now, sg_job *out)
{
    memset(out, 0, sizeof(*out));
    claim_ctx cl = {sg_store_skip_locked(st), owner, lease_s, now, out, false};
    /* Durable before the job runs: a claim lost in a crash would let a second worker run
     * it. (On SQLite the claims of concurrent workers share a commit, sg_store_tx.) */
    int rc = sg_store_tx_rowlocked(st, claim_tx, &cl);
    if (rc != SG_OK) {
        sg_job_clear(out);
        return rc;
    }
    if (cl.found)
        sg_strlcpy(out->owner, owner, sizeof(out->owner));
    return cl.found ? SG_OK : SG_ENOTFOUND;
}

typedef struct finish_ctx {
    const sg_job *j;
    const char *owner, *state, *error;
    int64_t run_at, attempts;
    bool lost;
} finish_ctx;

static int finish_tx(sg_conn *c, void *ctx)
{
    finish_ctx *f = ctx;
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(f->j->id), SG_VTEXT(f->owner),   SG_VTEXT(f->state), SG_VTEXT(f->error),
                  SG_VINT(f->run_at), SG_VINT(f->attempts), SG_VTEXT(now)};
    int64_t changed = 0;
    int rc =
        sg_conn_exec(c,
                     "UPDATE jobs SET state = ?3, last_error = COALESCE(?4, last_error), "
                     "run_at = ?5, attempts = ?6, lease_owner = NULL, lease_until = NULL, "
                     "updated_at = ?7 WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
                     v, 7, &changed);
    if (rc == SG_OK && changed == 0)
        f->lost = true;
    return rc;
}

typedef struct extend_ctx {
    const char *id, *owner;
    int64_t until;
    bool lost;
} extend_ctx;

static int extend_tx(sg_conn *c, void *ctx)
{
    extend_ctx *e = ctx;
    sg_val v[] = {SG_VTEXT(e->id), SG_VTEXT(e->owner), SG_VINT(e->until)};
    int64_t changed = 0;
    int rc = sg_conn_exec(c,
                          "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND state = 'running' "
                          "AND lease_owner = ?2",
                          v, 3, &changed);
    if (rc == SG_OK && changed == 0)
        e->lost = true;
    return rc;
}

/* A job's end and its lease renewals must not give up on a busy store: a worker that could
 * not record a finished job leaves it `running` until its lease runs out, and then another
 * worker runs it again (a ServiceNow update posted twice); one that could not renew lets a
 * long job be taken over while it runs. So they retry while the store answers busy or
 * unavailable (SG_EUNAVAIL: the write lock or the group commit's queue was not had in time, a
 * PostgreSQL server away), for up to PERSIST_S, well inside the shortest lease. Both
 * transactions are conditional UPDATEs, so trying one again is harmless: one that committed
 * after all finds the lease changed and says lost. */
#define PERSIST_S 30

static int tx_persist(sg_store *st, sg_store_fn fn, void *ctx)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long wait_ms = 20;
    for (;;) {
        int rc = sg_store_tx(st, fn, ctx);
        if (rc != SG_EUNAVAIL)
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= PERSIST_S)
            return rc;
        struct timespec t = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
        nanosleep(&t, NULL);
        wait_ms = wait_ms * 2 > 1000 ? 1000 : wait_ms * 2;
    }
}

int sg_jobs_extend(sg_store *st, const char *id, const char *owner, int64_t until)
{
    extend_ctx e = {id, owner, until, false};
    int rc = tx_persist(st, extend_tx, &e);
    if (rc == SG_OK && e.lost)
        return sg_err_set(SG_ECONFLICT, "job %s: the lease was lost to another worker", id);
    return rc;
}

static int finish(sg_store *st, finish_ctx *f)
{
    int rc = tx_persist(st, finish_tx, f);
    if (rc == SG_OK && f->lost)
        return sg_err_set(SG_ECONFLICT, "job %s: the lease was lost to another worker", f->j->id);
    return rc;
}

int sg_jobs_done(sg_store *st, const sg_job *j, const char *owner)
{
    finish_ctx f = {j, owner, "done", NULL, 0, j->attempts + 1, false};
    return finish(st, &f);
}

int sg_jobs_done_in(sg_conn *c, const sg_job *j, bool *lost)
{
    finish_ctx f = {j, j->owner, "done", NULL, 0, j->attempts + 1, false};
    int rc = finish_tx(c, &f);
    *lost = f.lost;
    return rc;
}

int64_t sg_jobs_backoff(int64_t attempts, int64_t retry_after)
{
    int64_t base = attempts >= 12 ? SG_JOBS_BACKOFF_MAX : (int64_t)1 << attempts;
    if (base > SG_JOBS_BACKOFF_MAX)
        base = SG_JOBS_BACKOFF_MAX;
    uint32_t r = 0;
    sg_random(&r, sizeof(r));
    /* Full jitter would let a herd retry at once; 50..100% keeps the spread and the floor. */
    int64_t delay = base / 2 + (int64_t)(r % (uint32_t)(base / 2 + 1));
    if (delay < 1)
        delay = 1;
    if (retry_after >= 0 && delay < retry_after)
        delay = retry_after;
    return delay;
}

int sg_jobs_fail(sg_store *st, const sg_job *j, const char *owner, const char *error,
                 int64_t retry_after, int64_t now)
{
    int64_t attempts = j->attempts + 1;
    bool dead = attempts >= SG_JOBS_MAX_ATTEMPTS || retry_after == SG_JOBS_NO_RETRY;
    finish_ctx f = {j,
                    owner,
                    dead ? "dead" : "queued",
                    error ? error : "failed",
                    dead ? now : now + sg_jobs_backoff(attempts, retry_after),
                    attempts,
                    false};
    return finish(st, &f);
}

typedef struct replay_ctx {
    const char *id;
    int64_t now;
    bool found;
} replay_ctx;

static int replay_tx(sg_conn *c, void *ctx)
{
    replay_ctx *r = ctx;
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(r->id), SG_VINT(r->now), SG_VTEXT(now)};
    int64_t changed = 0;
    int rc = sg_conn_exec(c,
                          "UPDATE jobs SET state = 'queued', attempts = 0, run_at = ?2, "
                          "updated_at = ?3 WHERE id = ?1 AND state = 'dead'",
                          v, 3, &changed);
    r->found = changed > 0;
    return rc;
}

int sg_jobs_replay(sg_store *st, const char *id, int64_t now)
{
    replay_ctx r = {id, now, false};
    int rc = sg_store_tx(st, replay_tx, &r);
    if (rc == SG_OK && !r.found)
        return sg_err_set(SG_ENOTFOUND, "job %s is not dead; only dead jobs can be replayed", id);
    return rc;
}

typedef struct list_ctx {
    const char *state;
    sg_json *arr;
} list_ctx;

/* What a job concerns, from its kind and payload: {"type":"request"|"connection","id"}, or
 * JSON null for a kind whose payload names nothing an admin has a page for. Only the id leaves
 * the payload. The request jobs' payload is the request id (servicenow.update's is
 * "ID:SEQ"); connection.discover's is the connection id. */
static sg_json *subject_of(const char *kind, const char *payload)
{
    static const char *const request_kinds[] = {"request.fulfil", "request.expire",
                                                "servicenow.mirror", "servicenow.sync",
                                                "servicenow.update"};
    const char *type = NULL;
    for (size_t i = 0; i < sizeof(request_kinds) / sizeof(request_kinds[0]); i++)
        if (strcmp(kind, request_kinds[i]) == 0)
            type = "request";
    if (strcmp(kind, "connection.discover") == 0)
        type = "connection";
    size_t n = strcspn(payload, ":");
    if (!type || n == 0 || n >= 64)
        return sg_json_null();
    char id[64];
    memcpy(id, payload, n);
    id[n] = '\0';
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "type", type);
    sg_json_set_str(o, "id", id);
    return o;
}

static int list_tx(sg_conn *c, void *ctx)
{
    list_ctx *l = ctx;
    sg_rows *r = NULL;
    sg_val v[] = {SG_VTEXT(l->state)};
    int rc = sg_conn_query(c,
                           "SELECT id, kind, state, attempts, last_error, run_at, updated_at, "
                           "payload FROM jobs WHERE state = ?1 ORDER BY updated_at DESC, id "
                           "LIMIT 500",
                           v, 1, &r);
    if (rc != SG_OK)
        return rc;
    int step;
    while ((step = sg_rows_next(r)) == 1) {
        sg_json *j = sg_json_object();
        sg_json_set_str(j, "id", sg_rows_text(r, 0));
        sg_json_set_str(j, "kind", sg_rows_text(r, 1));
        sg_json_set_str(j, "state", sg_rows_text(r, 2));
        sg_json_set_int(j, "attempts", sg_rows_int(r, 3));
        if (sg_rows_null(r, 4))
            sg_json_set(j, "last_error", sg_json_null());
        else
            sg_json_set_str(j, "last_error", sg_rows_text(r, 4));
        sg_json_set_int(j, "run_at", sg_rows_int(r, 5));
        sg_json_set_str(j, "updated_at", sg_rows_text(r, 6));
        sg_json_set(j, "subject", subject_of(sg_rows_text(r, 1), sg_rows_text(r, 7)));
        sg_json_append(l->arr, j);
    }
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

int sg_jobs_list(sg_store *st, const char *state, sg_json **out)
{
    *out = NULL;
    static const char *const known[] = {"queued", "running", "done", "dead"};
    bool ok = false;
    for (size_t i = 0; state && i < 4; i++)
        ok = ok || strcmp(state, known[i]) == 0;
    if (!ok)
        return sg_err_set(SG_EINVAL, "state must be queued, running, done or dead");
    list_ctx l = {state, sg_json_array()};
    int rc = sg_store_read(st, list_tx, &l);
    if (rc != SG_OK) {
        sg_json_decref(l.arr);
        return rc;
    }
    *out = l.arr;
    return SG_OK;
}

static int summary_tx(sg_conn *c, void *ctx)
{
    sg_json *by = ctx;
    sg_rows *r = NULL;
    int rc = sg_conn_query(c, "SELECT state, COUNT(*) FROM jobs GROUP BY state", NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    int step;
    while ((step = sg_rows_next(r)) == 1)
        sg_json_set_int(by, sg_rows_text(r, 0), sg_rows_int(r, 1));
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

int sg_jobs_summary(sg_store *st, sg_json **out)
{
    *out = NULL;
    sg_json *by = sg_json_object();
    static const char *const states[] = {"queued", "running", "done", "dead"};
    for (size_t i = 0; i < 4; i++)
        sg_json_set_int(by, states[i], 0);
    int rc = sg_store_read(st, summary_tx, by);
    if (rc != SG_OK) {
        sg_json_decref(by);
        return rc;
    }
    int64_t total = 0;
    for (size_t i = 0; i < 4; i++) {
        int64_t n = 0;
        sg_json_get_int(by, states[i], &n);
        total += n;
    }
    *out = sg_json_object();
    sg_json_set_int(*out, "total", total);
    sg_json_set(*out, "by_state", by);
    return SG_OK;
}

static int wake_tx(sg_conn *c, void *ctx)
{
    const int64_t *now = ctx;
    sg_val v[] = {SG_VINT(*now)};
    return sg_conn_exec(c,
                        "UPDATE jobs SET run_at = ?1 WHERE state = 'queued' AND run_at > ?1 "
                        "AND kind LIKE 'servicenow.%'",
                        v, 1, NULL);
}

int sg_jobs_wake_servicenow(sg_store *st, int64_t now)
{
    return sg_store_tx(st, wake_tx, &now);
}
