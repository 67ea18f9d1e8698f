/* discovery: registering what a data source holds (schemas, tables, views) as assets, through
 * its connector's discover operation (connectors/connectors.h). A run is a job (kind
 * "connection.discover", payload: the connection id) whose progress is kept on the connection
 * (connections.discovery, shown by GET /api/v1/connections/{id}):
 *   - a new object becomes an active asset, its owners mapped from the object's owner role
 *     (the snowgate users with that db_role) or else the run's default owner;
 *   - an existing asset discovery created has its type and description updated; one an admin
 *     registered (assets.discovered = 0) keeps its type, and its description unless it has
 *     none; either turns active again if it was gone, and keeps its owners unless it has none;
 *   - an object whose name has a dot inside a part (ambiguous: database a.b's table t and
 *     database a's table b.t are both a.b.t) is skipped and counted as skipped, as is a name
 *     that cannot be an asset name; descriptions are cut to SG_DISCOVER_MAX_COMMENT characters,
 *     invalid UTF-8 and control characters replaced;
 *   - an asset of the connection that the run's patterns admit and that was not found becomes
 *     gone. Nothing is ever deleted: grants and requests keep their asset.
 * Runs start from the API (sg_discovery_start) or on the connection's discovery_interval
 * (sg_discovery_sweep). One run per connection at a time. */
#ifndef SG_GATE_DISCOVERY_H
#define SG_GATE_DISCOVERY_H

#include "core/json.h"
#include "gate/app.h"
#include "gate/jobs.h"

#include <stdint.h>

/* Limits on discovery's settings. */
#define SG_DISCOVERY_MAX_PATTERNS 100
#define SG_DISCOVERY_MAX_PATTERN  255
#define SG_DISCOVERY_MIN_INTERVAL 60
#define SG_DISCOVERY_MAX_INTERVAL (30 * 86400)
#define SG_DISCOVERY_MAX_OBJECTS  200000 /* found in one run; more fails the run */

/* Checks discovery settings in `in` ("include", "exclude": lists of patterns, an unclosed [
 * refused; "default_owner": a user name; messages name the name shape of the kind `in` gives
 * as "kind", if any) and, when any is given, sets them in *out (a new object; NULL
 * when none is given). with_interval also admits "discovery_interval" (seconds; 0, or
 * SG_DISCOVERY_MIN_INTERVAL to SG_DISCOVERY_MAX_INTERVAL), returned in *interval. SG_EINVAL
 * with a message naming the field. */
int sg_discovery_options(const sg_json *in, bool with_interval, sg_json **out, int64_t *interval);
/* SG_OK when owner (a default owner; NULL: none) is a snowgate user; SG_EINVAL saying it is
 * not. */
int sg_discovery_owner_check(sg_conn *c, const char *owner);
/* The same as sg_discovery_options, with the connection's kind given (NULL: not known), for its
 * messages. */
int sg_discovery_options_of(const sg_json *in, const char *kind, bool with_interval, sg_json **out,
                            int64_t *interval);

/* Starts a discovery run of connection `ref` (its id or name) for actor, with the settings in
 * body (which override the connection's own; body may be NULL). SG_ENOTFOUND, SG_ECONFLICT (the
 * connection's kind cannot discover, or a run is already queued or running), SG_EINVAL (bad
 * settings). *out is the connection as GET shows it. */
int sg_discovery_start(sg_app *app, const char *actor, const char *ref, const sg_json *body,
                       sg_json **out);

/* The job handler, and its end when the job is dead (the run is marked failed). */
int sg_discovery_job(sg_app *app, const sg_job *job, int64_t *retry_after);
void sg_discovery_gave_up(sg_app *app, const sg_job *job, const char *reason);

/* Queues a run for every connection whose discovery_interval has passed since its last run
 * ended (now: unix seconds). Called by the leader's worker every second. */
int sg_discovery_sweep(sg_app *app, int64_t now);

#endif
