/* scheduler: snowgate's periodic work. For now: Run test on a schedule while the integration
 * is connected or in error (servicenow.test_interval seconds; 0 turns it off). */
#ifndef SG_GATE_SCHEDULER_H
#define SG_GATE_SCHEDULER_H

#include "gate/app.h"

typedef struct sg_scheduler sg_scheduler;

/* Starts the scheduler thread; NULL when there is nothing to schedule. */
sg_scheduler *sg_scheduler_start(sg_app *app);
/* Stops it, waiting for a run in progress. NULL is a no-op. */
void sg_scheduler_stop(sg_scheduler *s);

#endif
