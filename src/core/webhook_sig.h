/* webhook_sig: Standard Webhooks v1 signatures (HMAC-SHA256 over "id.timestamp.body"). */
#ifndef SG_WEBHOOK_SIG_H
#define SG_WEBHOOK_SIG_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Seconds a timestamp may differ from now, in either direction (inclusive). */
#define SG_WEBHOOK_SIG_TOLERANCE 300

/* Decodes a secret as Standard Webhooks configures it: base64, with an optional "whsec_"
 * prefix; missing base64 padding is tolerated. The key bytes go to key_out. */
int sg_webhook_sig_key(const char *secret, sg_buf *key_out);

/* Appends the header value "v1,<base64 mac>" for (id, timestamp, body) to out. */
int sg_webhook_sig_sign(const char *secret, const char *id, int64_t timestamp, const void *body,
                        size_t len, sg_buf *out);

/* What verification checks before any secret: the three header values are present and within
 * their caps, and the timestamp is unix seconds within the tolerance of `now`. SG_EAUTH
 * otherwise, with the reason in sg_err_msg(). No secret can make such a request valid, so a
 * receiver may refuse it before looking its secrets up. */
int sg_webhook_sig_check_headers(const char *id, const char *timestamp, const char *signature,
                                 int64_t now);

/* Verifies the three header values against body at time `now`. Any of id, timestamp or
 * signature may be NULL (a missing header). SG_OK when one "v1," entry of the space-separated
 * signature list matches (compared in constant time) and the timestamp is within the
 * tolerance; SG_EAUTH otherwise, with the reason in sg_err_msg() for the logs (never for the
 * client). */
int sg_webhook_sig_verify(const char *secret, const char *id, const char *timestamp,
                          const char *signature, const void *body, size_t len, int64_t now);

#endif
