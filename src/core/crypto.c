/* crypto: thin, checked wrappers over OpenSSL 3's EVP interfaces. */
#include "core/crypto.h"

#include "core/err.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

int sg_random(void *buf, size_t n)
{
    if (n > INT32_MAX || RAND_bytes(buf, (int)n) != 1)
        return sg_err_set(SG_EINTERNAL, "random generator failed");
    return SG_OK;
}

int sg_random_hex(char *out, size_t nbytes)
{
    uint8_t raw[64];
    if (nbytes > sizeof(raw))
        return sg_err_set(SG_EINVAL, "random id too long");
    int rc = sg_random(raw, nbytes);
    if (rc != SG_OK)
        return rc;
    sg_hex_encode(raw, nbytes, out);
    return SG_OK;
}

void sg_sha256(const void *data, size_t len, uint8_t out[SG_SHA256_LEN])
{
    unsigned int n = 0;
    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

int sg_hmac_sha256(const void *key, size_t klen, const void *data, size_t dlen,
                   uint8_t out[SG_SHA256_LEN])
{
    unsigned int n = 0;
    static const uint8_t empty = 0;
    if (klen > INT32_MAX)
        return sg_err_set(SG_EINVAL, "HMAC key too long");
    if (!HMAC(EVP_sha256(), klen ? key : &empty, (int)klen, dlen ? data : &empty, dlen, out, &n) ||
        n != SG_SHA256_LEN)
        return sg_err_set(SG_EINTERNAL, "HMAC-SHA256 failed");
    return SG_OK;
}

int sg_hkdf_sha256(const void *key, size_t klen, const char *label, uint8_t *out, size_t outlen)
{
    int rc = SG_OK;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, klen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)label, strlen(label)),
        OSSL_PARAM_construct_end(),
    };
    if (!ctx || klen == 0 || EVP_KDF_derive(ctx, out, outlen, params) != 1)
        rc = sg_err_set(SG_EINTERNAL, "HKDF-SHA256 failed");
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

int sg_aead_seal(const uint8_t key[SG_AEAD_KEY_LEN], const void *ad, size_t adlen, const void *pt,
                 size_t ptlen, sg_buf *out)
{
    int rc = SG_OK;
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t nonce[SG_AEAD_NONCE_LEN];
    uint8_t tag[SG_AEAD_TAG_LEN];
    int n = 0;
    if (ptlen > INT32_MAX || adlen > INT32_MAX)
        return sg_err_set(SG_ETOOBIG, "value too large to encrypt");
    rc = sg_random(nonce, sizeof(nonce));
    if (rc != SG_OK)
        return rc;
    size_t start = out->len;
    rc = sg_buf_append(out, nonce, sizeof(nonce));
    if (rc != SG_OK)
        return rc;
    /* Reserve room for the ciphertext by appending the plaintext, then encrypt in place. */
    rc = sg_buf_append(out, pt, ptlen);
    if (rc != SG_OK)
        goto cleanup;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
        (adlen && EVP_EncryptUpdate(ctx, NULL, &n, ad, (int)adlen) != 1)) {
        rc = sg_err_set(SG_EINTERNAL, "AES-256-GCM init failed");
        goto cleanup;
    }
    uint8_t *ct = (uint8_t *)out->data + start + sizeof(nonce);
    if (ptlen && EVP_EncryptUpdate(ctx, ct, &n, ct, (int)ptlen) != 1) {
        rc = sg_err_set(SG_EINTERNAL, "AES-256-GCM encrypt failed");
        goto cleanup;
    }
    if (EVP_EncryptFinal_ex(ctx, ct + ptlen, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, sizeof(tag), tag) != 1) {
        rc = sg_err_set(SG_EINTERNAL, "AES-256-GCM finish failed");
        goto cleanup;
    }
    rc = sg_buf_append(out, tag, sizeof(tag));
cleanup:
    if (rc != SG_OK && out->len > start) {
        sg_wipe(out->data + start, out->len - start);
        out->len = start;
        out->data[start] = '\0';
    }
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int sg_aead_open(const uint8_t key[SG_AEAD_KEY_LEN], const void *ad, size_t adlen, const void *in,
                 size_t inlen, sg_buf *out)
{
    int rc = SG_OK;
    EVP_CIPHER_CTX *ctx = NULL;
    int n = 0;
    const uint8_t *p = in;
    if (inlen < SG_AEAD_NONCE_LEN + SG_AEAD_TAG_LEN || inlen > INT32_MAX || adlen > INT32_MAX)
        return sg_err_set(SG_EAUTH, "ciphertext is malformed");
    size_t ctlen = inlen - SG_AEAD_NONCE_LEN - SG_AEAD_TAG_LEN;
    size_t start = out->len;
    rc = sg_buf_append(out, p + SG_AEAD_NONCE_LEN, ctlen);
    if (rc != SG_OK)
        return rc;
    uint8_t *buf = (uint8_t *)out->data + start;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, p) != 1 ||
        (adlen && EVP_DecryptUpdate(ctx, NULL, &n, ad, (int)adlen) != 1) ||
        (ctlen && EVP_DecryptUpdate(ctx, buf, &n, buf, (int)ctlen) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SG_AEAD_TAG_LEN,
                            (void *)(p + inlen - SG_AEAD_TAG_LEN)) != 1 ||
        EVP_DecryptFinal_ex(ctx, buf + ctlen, &n) != 1) {
        rc = sg_err_set(SG_EAUTH, "decryption failed: wrong key, tampered data or wrong row");
        sg_wipe(buf, ctlen);
        out->len = start;
        out->data[start] = '\0';
    }
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

int sg_password_hash(const char *password, unsigned iterations, char **out)
{
    uint8_t salt[16], dk[32];
    sg_buf b = SG_BUF_INIT(256);
    int rc = sg_random(salt, sizeof(salt));
    if (rc != SG_OK)
        return rc;
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), (int)iterations,
                          EVP_sha256(), sizeof(dk), dk) != 1)
        return sg_err_set(SG_EINTERNAL, "PBKDF2 failed");
    sg_buf_printf(&b, "pbkdf2-sha256$%u$", iterations);
    sg_base64_encode(salt, sizeof(salt), false, &b);
    sg_buf_putc(&b, '$');
    sg_base64_encode(dk, sizeof(dk), false, &b);
    sg_wipe(dk, sizeof(dk));
    *out = sg_buf_detach(&b, NULL);
    return SG_OK;
}

bool sg_password_verify(const char *stored, const char *password)
{
    unsigned iterations = 0;
    char salt_b64[64], hash_b64[128];
    if (!stored || !password ||
        sscanf(stored, "pbkdf2-sha256$%u$%63[^$]$%127s", &iterations, salt_b64, hash_b64) != 3 ||
        iterations == 0 || iterations > 10000000)
        return false;
    sg_buf salt = SG_BUF_INIT(64), want = SG_BUF_INIT(64);
    uint8_t dk[32];
    bool ok =
        sg_base64_decode(salt_b64, strlen(salt_b64), false, &salt) == SG_OK &&
        sg_base64_decode(hash_b64, strlen(hash_b64), false, &want) == SG_OK &&
        want.len == sizeof(dk) &&
        PKCS5_PBKDF2_HMAC(password, (int)strlen(password), (const uint8_t *)salt.data,
                          (int)salt.len, (int)iterations, EVP_sha256(), sizeof(dk), dk) == 1 &&
        CRYPTO_memcmp(dk, want.data, sizeof(dk)) == 0;
    sg_wipe(dk, sizeof(dk));
    sg_buf_free(&salt);
    sg_buf_free(&want);
    return ok;
}

bool sg_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void sg_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int sg_base64_encode(const void *data, size_t len, bool url, sg_buf *out)
{
    /* EVP_EncodeBlock has no url alphabet; the transform below is the whole of it. */
    const char *alpha = url ? b64_url : b64_std;
    const uint8_t *p = data;
    char q[4];
    int rc = SG_OK;
    for (size_t i = 0; i < len && rc == SG_OK; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t rem = len - i;
        if (rem > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (rem > 2)
            v |= p[i + 2];
        q[0] = alpha[(v >> 18) & 63];
        q[1] = alpha[(v >> 12) & 63];
        q[2] = rem > 1 ? alpha[(v >> 6) & 63] : '=';
        q[3] = rem > 2 ? alpha[v & 63] : '=';
        size_t n = 4;
        if (url)
            n = rem > 2 ? 4 : rem + 1;
        rc = sg_buf_append(out, q, n);
    }
    if (rc == SG_OK && len == 0)
        rc = sg_buf_append(out, "", 0);
    return rc;
}

static int b64_val(char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

int sg_base64_decode(const char *s, size_t len, bool url, sg_buf *out)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return sg_err_set(SG_EINVAL, "base64 value has an impossible length");
    size_t start = out->len;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_val(s[i], url);
        if (v < 0) {
            out->len = start;
            if (out->data)
                out->data[start] = '\0';
            return sg_err_set(SG_EINVAL, "base64 value has an invalid character at %zu", i);
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((acc >> bits) & 0xff);
            int rc = sg_buf_append(out, &c, 1);
            if (rc != SG_OK)
                return rc;
        }
    }
    if (len == 0)
        return sg_buf_append(out, "", 0);
    return SG_OK;
}

void sg_hex_encode(const void *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int sg_hex_decode(const char *s, size_t len, sg_buf *out)
{
    if (len % 2)
        return sg_err_set(SG_EINVAL, "hex value has an odd length");
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_val(s[i]), lo = hex_val(s[i + 1]);
        if (hi < 0 || lo < 0)
            return sg_err_set(SG_EINVAL, "hex value has an invalid character at %zu", i);
        char c = (char)(hi << 4 | lo);
        int rc = sg_buf_append(out, &c, 1);
        if (rc != SG_OK)
            return rc;
    }
    if (len == 0)
        return sg_buf_append(out, "", 0);
    return SG_OK;
}
