/* webhook_keys: the webhook signing secrets, decrypted once and kept in memory, so that a
 * delivery is verified before the store is touched at all.
 *
 * The cache holds the current secret, and the previous one with the end of its grace period,
 * together with their sealed forms as read from the store. It is dropped (forget) by every
 * write of the secrets in this process (servicenow/integration.c), so a rotation here is seen
 * by the next delivery. Another replica's writes are found by reading the sealed secrets
 * again, once per delivery at most, and decrypting them only when they differ from what the
 * cache was built from:
 *   - when a signature matches no cached secret (ServiceNow took a secret another replica
 *     made); a forged request costs that one read, never a decryption unless the stored
 *     secrets changed, and is refused;
 *   - when it matches only the previous secret, which counts only while the store still says
 *     so (and never after its grace period at `now`, cached or not);
 *   - when the cache was last checked SG_WEBHOOK_KEYS_RECHECK seconds ago or more, so that a
 *     secret replaced or deleted through another replica stops counting here within that. */
#ifndef SG_GATE_SN_WEBHOOK_KEYS_H
#define SG_GATE_SN_WEBHOOK_KEYS_H

#include "gate/app.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds the cached secrets are used without asking the store whether they changed. */
#define SG_WEBHOOK_KEYS_RECHECK 10

typedef struct sg_webhook_keys sg_webhook_keys;

/* An empty cache (sg_app_open makes app->webhook_keys). */
sg_webhook_keys *sg_webhook_keys_new(void);
/* Wipes and frees it; NULL is a no-op. */
void sg_webhook_keys_free(sg_webhook_keys *k);
/* Drops what is cached: call after any write of the secrets, once it is committed (or
 * failed). Thread-safe; NULL is a no-op. A delivery that read the store before this call does
 * not cache what it read. */
void sg_webhook_keys_forget(sg_webhook_keys *k);

/* Verifies a delivery (Standard Webhooks, at `now`) against the secrets: the current one, or
 * the previous one while its grace lasts (*by_previous). SG_OK when one matches; SG_EAUTH when
 * none does (the reason in sg_err_msg(), for the log); SG_ENOTFOUND when no integration is
 * configured; SG_EINTERNAL when the stored secret does not decrypt (another master key); the
 * store's error when it fails. Uses app->webhook_keys
 * (without one, it reads and decrypts the secrets for each call). Thread-safe: no lock is held
 * while hashing or reading the store. */
int sg_webhook_keys_verify(sg_app *app, const char *id, const char *timestamp,
                           const char *signature, const void *body, size_t len, int64_t now,
                           bool *by_previous);
/* The common path of sg_webhook_keys_verify alone: true when the cached current secret, within
 * its recheck period, matches. Never touches the store; false means only that the cache cannot
 * settle it (sg_webhook_keys_verify then must). */
bool sg_webhook_keys_match_cached(sg_app *app, const char *id, const char *timestamp,
                                  const char *signature, const void *body, size_t len, int64_t now);

#endif
