/* webhook_sig: sign and verify Standard Webhooks v1 (spec 1.0.0). */
#include "core/webhook_sig.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/str.h"

#include <stdio.h>
#include <string.h>

#define SIG_MAX_HEADER 4096
#define SIG_MAX_ID     256

int sg_webhook_sig_key(const char *secret, sg_buf *key_out)
{
    if (!secret || !*secret)
        return sg_err_set(SG_EINVAL, "webhook secret is empty");
    if (sg_str_startswith(secret, "whsec_"))
        secret += 6;
    int rc = sg_base64_decode(secret, strlen(secret), false, key_out);
    if (rc != SG_OK)
        return sg_err_wrap(rc, "webhook secret is not base64");
    return SG_OK;
}

static int compute_mac(const sg_buf *key, const char *id, const char *ts, const void *body,
                       size_t len, uint8_t mac[SG_SHA256_LEN])
{
    sg_buf content = SG_BUF_INIT(0);
    int rc = sg_buf_printf(&content, "%s.%s.", id, ts);
    if (rc == SG_OK)
        rc = sg_buf_append(&content, body, len);
    if (rc == SG_OK)
        rc = sg_hmac_sha256(key->data, key->len, content.data, content.len, mac);
    sg_buf_free(&content);
    return rc;
}

int sg_webhook_sig_sign(const char *secret, const char *id, int64_t timestamp, const void *body,
                        size_t len, sg_buf *out)
{
    sg_buf key = SG_BUF_INIT(1024);
    uint8_t mac[SG_SHA256_LEN];
    char ts[24];
    snprintf(ts, sizeof(ts), "%lld", (long long)timestamp);
    int rc = sg_webhook_sig_key(secret, &key);
    if (rc == SG_OK)
        rc = compute_mac(&key, id, ts, body, len, mac);
    if (rc == SG_OK)
        rc = sg_buf_puts(out, "v1,");
    if (rc == SG_OK)
        rc = sg_base64_encode(mac, sizeof(mac), false, out);
    sg_buf_wipe(&key);
    sg_wipe(mac, sizeof(mac));
    return rc;
}

int sg_webhook_sig_check_headers(const char *id, const char *timestamp, const char *signature,
                                 int64_t now)
{
    int64_t ts = 0;
    if (!id || !*id || strlen(id) > SIG_MAX_ID)
        return sg_err_set(SG_EAUTH, "webhook-id header missing or too long");
    if (!timestamp || !*timestamp)
        return sg_err_set(SG_EAUTH, "webhook-timestamp header missing");
    if (!signature || !*signature || strlen(signature) > SIG_MAX_HEADER)
        return sg_err_set(SG_EAUTH, "webhook-signature header missing or too long");
    if (sg_parse_i64(timestamp, 0, INT64_MAX / 2, "webhook-timestamp", &ts) != SG_OK)
        return sg_err_set(SG_EAUTH, "webhook-timestamp is not unix seconds");
    if (now - ts > SG_WEBHOOK_SIG_TOLERANCE)
        return sg_err_set(SG_EAUTH, "webhook-timestamp is too old (%lld s)", (long long)(now - ts));
    if (ts - now > SG_WEBHOOK_SIG_TOLERANCE)
        return sg_err_set(SG_EAUTH, "webhook-timestamp is in the future (%lld s)",
                          (long long)(ts - now));
    return SG_OK;
}

int sg_webhook_sig_verify(const char *secret, const char *id, const char *timestamp,
                          const char *signature, const void *body, size_t len, int64_t now)
{
    sg_buf key = SG_BUF_INIT(1024);
    sg_buf expected = SG_BUF_INIT(128);
    uint8_t mac[SG_SHA256_LEN];

    int rc = sg_webhook_sig_check_headers(id, timestamp, signature, now);
    if (rc != SG_OK)
        return rc;
    rc = sg_webhook_sig_key(secret, &key);
    if (rc != SG_OK)
        goto cleanup;
    rc = compute_mac(&key, id, timestamp, body, len, mac);
    if (rc != SG_OK)
        goto cleanup;
    rc = sg_base64_encode(mac, sizeof(mac), false, &expected);
    if (rc != SG_OK)
        goto cleanup;

    rc = sg_err_set(SG_EAUTH, "no matching v1 signature");
    /* The header is a space-separated list of "version,signature" entries (key rotation). */
    for (const char *p = signature; *p;) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 3 && memcmp(p, "v1,", 3) == 0 && n - 3 == expected.len &&
            sg_ct_equal(p + 3, expected.data, expected.len)) {
            rc = SG_OK;
            break;
        }
        p += n;
    }
cleanup:
    sg_buf_wipe(&key);
    sg_buf_free(&expected);
    sg_wipe(mac, sizeof(mac));
    return rc;
}
