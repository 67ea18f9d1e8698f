/* webhook: receiving ServiceNow's signed events. A valid event is stored durably, once per
 * webhook-id, before it is acknowledged; it is a hint that a record changed, nothing more. */
#ifndef SG_GATE_SN_WEBHOOK_H
#define SG_GATE_SN_WEBHOOK_H

#include "gate/app.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Verifies (Standard Webhooks, ±5 minutes at `now`) and stores the event. SG_EAUTH for any
 * signature problem (the reason is for the log only), SG_ENOTFOUND when no integration is
 * configured. *duplicate tells a redelivery of an event already stored. */
int sg_webhook_receive(sg_app *app, const char *id, const char *timestamp, const char *signature,
                       const char *body, size_t len, int64_t now, bool *duplicate);

/* sg_webhook_receive in two halves, so that the store's half need not hold a thread. */

/* The verifying half: SG_OK when the event may be stored; errors as sg_webhook_receive. It
 * touches the store only when the cached secrets do not settle it (webhook_keys). */
int sg_webhook_verify(sg_app *app, const char *id, const char *timestamp, const char *signature,
                      const char *body, size_t len, int64_t now);
/* The verifying half from the cached secret alone, for a thread that must not wait: *settled
 * true and SG_OK (verified) or SG_EAUTH (refused, as sg_webhook_verify would); *settled false
 * when only sg_webhook_verify can tell (it reads the store). Never touches the store. */
int sg_webhook_verify_quick(sg_app *app, const char *id, const char *timestamp,
                            const char *signature, const char *body, size_t len, int64_t now,
                            bool *settled);
/* The storing half, for a verified event: returns once it is durable (or not). */
int sg_webhook_store(sg_app *app, const char *id, const char *body, size_t len, bool *duplicate);
/* Called on the store's committer thread once the event is durable (rc SG_OK; duplicate: it
 * was stored before) or not (rc and sg_err_msg() say why). */
typedef void (*sg_webhook_stored_fn)(void *ud, int rc, bool duplicate);
/* The storing half without the wait: id and body must stay valid until done is called.
 * An error here (the store is closing) means done is never called. */
int sg_webhook_store_async(sg_app *app, const char *id, const char *body, size_t len,
                           sg_webhook_stored_fn done, void *ud);

#endif
