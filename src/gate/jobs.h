/* jobs: the durable queue behind every background step. Jobs are claimed with a lease, so a
 * worker that dies mid-job loses nothing: its lease runs out and another worker takes the job.
 * Failures retry with exponential backoff and jitter (or the server's Retry-After); a job that
 * keeps failing becomes dead, visible to admins and replayable. Handlers must be idempotent:
 * delivery is at least once. */
#ifndef SG_GATE_JOBS_H
#define SG_GATE_JOBS_H

#include "core/json.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

#define SG_JOBS_MAX_ATTEMPTS 10
#define SG_JOBS_BACKOFF_MAX  3600
/* A handler sets *retry_after to this when retrying cannot help: the job is dead at once. */
#define SG_JOBS_NO_RETRY (-2)

typedef struct sg_job {
    char id[33];
    char kind[64];
    char *payload; /* owned; free with sg_job_clear() */
    int64_t attempts;
    int64_t run_at;    /* unix seconds: when it became due */
    int64_t queued_ms; /* unix milliseconds: when it was queued; 0 when not known */
    char owner[64];    /* the lease owner that claimed it (sg_jobs_claim) */
} sg_job;

/* A handler's return value (besides SG_OK and errors): it succeeded and already marked the
 * job done inside its own last transaction (sg_jobs_done_in), so the worker does not. */
#define SG_JOB_FINISHED 1

void sg_job_clear(sg_job *j);

/* Enqueues a job inside the caller's transaction. A non-NULL dedup_key makes it idempotent:
 * a second enqueue with the same key is a no-op (SG_OK, *created false). */
int sg_jobs_enqueue(sg_conn *c, const char *kind, const char *payload, int64_t run_at,
                    const char *dedup_key, bool *created);
/* The same, for a job of a serial: jobs sharing `serial` run one at a time, in serial_seq
 * order, ties broken by job id (an earlier one that is waiting to retry holds the later ones
 * back; a dead one does not). */
int sg_jobs_enqueue_serial(sg_conn *c, const char *kind, const char *payload, int64_t run_at,
                           const char *dedup_key, const char *serial, int64_t serial_seq,
                           bool *created);

/* The same, unless a job of the same kind and payload is already queued, due no later than
 * run_at, has not started and never failed: that one absorbs this one (SG_OK, *created
 * false). Only for jobs whose handler reads the whole current state when it runs (a re-read
 * of a request), so that one run does the work of both. */
int sg_jobs_enqueue_coalesced(sg_conn *c, const char *kind, const char *payload, int64_t run_at,
                              const char *dedup_key, bool *created);

/* True when this thread enqueued a job since the last call (clears it). Checked after a
 * commit to wake the worker at once instead of at its next tick. */
bool sg_jobs_take_enqueued(void);

/* Claims the oldest ready job (queued and due, or running with an expired lease) for owner,
 * leased for lease_s seconds. SG_ENOTFOUND when none is ready. `now` is unix seconds. */
int sg_jobs_claim(sg_store *st, const char *owner, int64_t lease_s, int64_t now, sg_job *out);

/* Keeps a running job's lease: lease_until becomes `until` while owner still holds it.
 * SG_ECONFLICT when the lease was already lost. The worker pool calls it for every job that
 * runs longer than a third of its lease, so a slow job is never run twice at once. */
int sg_jobs_extend(sg_store *st, const char *id, const char *owner, int64_t until);

/* Marks a claimed job done. SG_ECONFLICT when the lease was lost to another worker. */
int sg_jobs_done(sg_store *st, const sg_job *j, const char *owner);
/* The same inside the caller's transaction, for the job's owner (j->owner): a handler records
 * its outcome and the job's end in one commit, and returns SG_JOB_FINISHED once it committed.
 * *lost tells that the lease was lost to another worker (the job row is then left alone, as
 * sg_jobs_done would). */
int sg_jobs_done_in(sg_conn *c, const sg_job *j, bool *lost);

/* Records a failure: the job runs again after a backoff (2^attempts s, jittered, capped;
 * at least retry_after s when >= 0), or becomes dead after SG_JOBS_MAX_ATTEMPTS or at once
 * when retry_after is SG_JOBS_NO_RETRY. */
int sg_jobs_fail(sg_store *st, const sg_job *j, const char *owner, const char *error,
                 int64_t retry_after, int64_t now);

/* Puts a dead job back in the queue, attempts reset. SG_ENOTFOUND unless it is dead. */
int sg_jobs_replay(sg_store *st, const char *id, int64_t now);

/* Jobs in a state (queued, running, done, dead), newest first, at most 500, as
 * {"id","kind","state","attempts","last_error","run_at","updated_at","subject"}. Payloads are
 * not shown: they may name people and assets, and admins see those through the requests API.
 * subject is only the id of what the job concerns, {"type":"request"|"connection","id"}, or
 * null. */
int sg_jobs_list(sg_store *st, const char *state, sg_json **out);

/* How many jobs are in each state: {"total", "by_state": {queued, running, done, dead}},
 * every state present, zero included. */
int sg_jobs_summary(sg_store *st, sg_json **out);

/* Makes every queued ServiceNow job (kind servicenow.*) due now: ServiceNow answers again,
 * so jobs that failed while it did not need not wait out their backoff. */
int sg_jobs_wake_servicenow(sg_store *st, int64_t now);

/* The delay before attempt n+1 (exposed for tests): 2^n seconds, jittered to 50..100%, capped
 * at SG_JOBS_BACKOFF_MAX, and never less than retry_after when that is >= 0. */
int64_t sg_jobs_backoff(int64_t attempts, int64_t retry_after);

#endif
