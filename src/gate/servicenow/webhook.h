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

#endif
