/* crypto: the OpenSSL 3 wrapper (hashes, HMAC, AES-256-GCM, randomness, encodings). */
#ifndef SG_CRYPTO_H
#define SG_CRYPTO_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SG_SHA256_LEN     32
#define SG_AEAD_KEY_LEN   32
#define SG_AEAD_NONCE_LEN 12
#define SG_AEAD_TAG_LEN   16

/* Fills buf with n cryptographically secure random bytes. */
int sg_random(void *buf, size_t n);
/* A random identifier of `nbytes` bytes written as lowercase hex into out (2*nbytes+1). */
int sg_random_hex(char *out, size_t nbytes);

void sg_sha256(const void *data, size_t len, uint8_t out[SG_SHA256_LEN]);
int sg_hmac_sha256(const void *key, size_t klen, const void *data, size_t dlen,
                   uint8_t out[SG_SHA256_LEN]);
/* HKDF-SHA256 (RFC 5869, no salt): outlen bytes derived from key for the purpose named by
 * label (the HKDF "info"), so keys for different purposes are independent. */
int sg_hkdf_sha256(const void *key, size_t klen, const char *label, uint8_t *out, size_t outlen);

/* AES-256-GCM. seal appends nonce || ciphertext || tag to out; open checks the tag and the
 * associated data (bind the row, e.g. "table:id:column") and appends the plaintext.
 * A wrong key, tampered bytes or other associated data give SG_EAUTH. */
int sg_aead_seal(const uint8_t key[SG_AEAD_KEY_LEN], const void *ad, size_t adlen, const void *pt,
                 size_t ptlen, sg_buf *out);
int sg_aead_open(const uint8_t key[SG_AEAD_KEY_LEN], const void *ad, size_t adlen, const void *in,
                 size_t inlen, sg_buf *out);

/* Slow salted password hash (PBKDF2-HMAC-SHA256) for storage, written as
 * "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>". The caller frees *out. */
int sg_password_hash(const char *password, unsigned iterations, char **out);
/* True when password matches a stored hash. Constant-time in the comparison. */
bool sg_password_verify(const char *stored, const char *password);

/* Constant-time comparison of two equal-length byte strings. */
bool sg_ct_equal(const void *a, const void *b, size_t n);
/* Overwrites memory in a way the compiler cannot remove. */
void sg_wipe(void *p, size_t n);

/* Standard base64 (with padding) or base64url (without padding). */
int sg_base64_encode(const void *data, size_t len, bool url, sg_buf *out);
/* Decodes standard or url alphabet as asked; missing padding is accepted, anything
 * else that is not base64 is SG_EINVAL. */
int sg_base64_decode(const char *s, size_t len, bool url, sg_buf *out);

/* Lowercase hex. out must hold 2*len+1 bytes. */
void sg_hex_encode(const void *data, size_t len, char *out);
int sg_hex_decode(const char *s, size_t len, sg_buf *out);

#endif
