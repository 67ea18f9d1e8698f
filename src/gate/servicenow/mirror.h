/* mirror: every access request gets an sc_request and an sc_req_item in ServiceNow, from the
 * "snowgate Data Access" catalog's item, with correlation_id "snowgate:<request id>" on both.
 * The job ("servicenow.mirror", payload: the request id) looks each record up by its
 * correlation_id before creating it, so a retry or a crash between the two calls never makes a
 * second record. requested_for is the beneficiary's linked ServiceNow user when they linked. */
#ifndef SG_GATE_MIRROR_H
#define SG_GATE_MIRROR_H
#include "gate/app.h"
#include "gate/jobs.h"

/* The sys_id of the catalog item every request's item is made from, looked up once and kept
 * for the instance it was looked up on (sg_app_open makes app->sn_item; NULL: every job looks
 * it up). Connect, Run test and Disconnect clear it, as they do the token cache: after a reset
 * the item may be another record, and ServiceNow would take an item made from a sys_id that no
 * longer exists without a word. */
typedef struct sg_mirror_item_cache sg_mirror_item_cache;
sg_mirror_item_cache *sg_mirror_item_cache_new(void);
void sg_mirror_item_cache_free(sg_mirror_item_cache *c);  /* NULL: no-op */
void sg_mirror_item_cache_clear(sg_mirror_item_cache *c); /* NULL: no-op */

/* Enqueues the mirror job inside the caller's transaction when ServiceNow is set up. */
int sg_mirror_enqueue(sg_conn *c, const char *id);
int sg_mirror_job(sg_app *app, const sg_job *job, int64_t *retry_after);

/* Tells ServiceNow about a transition made in snowgate ("servicenow.update", payload
 * "<request id>:<history seq>"): approved/rejected set approval, cancelled, fulfilled and
 * failed close the request (closed_cancelled, closed_complete, closed_incomplete), and every
 * one adds a work note saying who did what. Transitions that came from ServiceNow are not
 * sent back: origin is the history entry's (SG_ORIGIN_*), never guessed from the actor's name.
 * Enqueue inside the transaction of the transition. */
int sg_mirror_update_enqueue(sg_conn *c, const char *id, int64_t seq, const char *origin);
int sg_mirror_update_job(sg_app *app, const sg_job *job, int64_t *retry_after);

/* Text for a ServiceNow field, with its markup defused. ServiceNow renders what a journal
 * field (work_notes, comments) holds between [code] and [/code] as HTML, so a justification or
 * comment written in snowgate could otherwise run script in an approver's browser. Every '['
 * that opens something ServiceNow could read as a code tag ('[', then optional whitespace, an
 * optional '/' and whitespace, then "code" in any case) gets a zero-width space (U+200B) after
 * it: the text reads the same and no tag remains, whatever the input (one pass suffices,
 * since the insertion cannot complete a new tag). NULL gives "". The result is the caller's.
 * Thread-safe. */
char *sg_mirror_defuse_markup(const char *text);
#endif
