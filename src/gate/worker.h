/* worker: the threads that run jobs (jobs.workers of them; the first also runs the
 * reconciler). As soon as a job is queued (serve.c kicks them after the commit), and every
 * second (and at start, so expiries that fell due
 * while snowgate was down are applied at once) it sweeps for expired grants, then runs ready
 * jobs until none is left. Several replicas may run workers on one store: leases keep a job
 * with one worker at a time. A lease keeper thread renews the lease of any job still running
 * after a third of jobs.lease, so jobs.lease is how soon a dead worker's job is taken over,
 * not how long a job may run. */
#ifndef SG_GATE_WORKER_H
#define SG_GATE_WORKER_H

#include "gate/app.h"

typedef struct sg_worker sg_worker;

sg_worker *sg_worker_start(sg_app *app);
/* Runs a pass now rather than at the next tick (a job was queued). Thread-safe. */
void sg_worker_kick(sg_worker *w);
/* Stops it after the job in progress. NULL is a no-op. */
void sg_worker_stop(sg_worker *w);

/* The job kinds this build runs, NULL-terminated. */
const char *const *sg_worker_kinds(void);

#endif
