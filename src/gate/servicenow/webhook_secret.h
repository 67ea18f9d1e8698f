/* webhook_secret: the signing secret on ServiceNow's side, where the snowgate Business Rule
 * reads it: the password2 (encrypted) system property x_snowgate.webhook_secret, which the
 * update set creates without a value and snowgate fills in as the service account. And its
 * rotation, without losing the events in flight. */
#ifndef SG_GATE_SN_WEBHOOK_SECRET_H
#define SG_GATE_SN_WEBHOOK_SECRET_H

#include "core/json.h"
#include "gate/app.h"

#include <stddef.h>

/* Checks, as the service account, that the property exists, is password2 and holds a value
 * (Run test). msg says what was found, or what is wrong; the error's message is the same. */
int sg_sn_secret_check(sg_app *app, const char *base, const char *token, char *msg, size_t msg_len);
/* Stores snowgate's current secret as the property's value (Connect and test), after checking
 * the property is password2; writes again if a rotation changed the secret meanwhile. */
int sg_sn_secret_store(sg_app *app, const char *base, const char *token, char *msg, size_t msg_len);

/* Rotates the secret: a new one becomes current in snowgate (the old one stays accepted for
 * servicenow.webhook_secret_grace seconds), then goes to ServiceNow. When ServiceNow does not
 * take it, the old secret stays current, and the error says so. *out (caller frees) is
 * {"rotated_at","previous_accepted_until","grace"}. */
int sg_sn_secret_rotate(sg_app *app, sg_json **out);

#endif
