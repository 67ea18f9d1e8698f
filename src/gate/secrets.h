/* secrets: the master key (outside the database) and sealing secrets for storage. */
#ifndef SG_GATE_SECRETS_H
#define SG_GATE_SECRETS_H

#include "core/crypto.h"

#include <stdint.h>

typedef struct sg_secrets {
    uint8_t key[SG_AEAD_KEY_LEN];
} sg_secrets;

/* Loads the 32-byte master key from path (sg_keyfile_open), creating it (mode 0600, random)
 * when absent. A key file that other users can read, or of the wrong size, is refused with the
 * fix. */
int sg_secrets_open(const char *path, sg_secrets *out);
/* Wipes the key. */
void sg_secrets_close(sg_secrets *s);

/* Encrypts plaintext bound to `binding` ("integrations:servicenow:client_secret"); *out is a
 * base64 string the caller frees. */
int sg_secrets_seal(const sg_secrets *s, const char *binding, const char *plaintext, char **out);
/* Decrypts; SG_EAUTH when the key, the binding or the data is wrong. *out (caller frees with
 * sg_secrets_free_plain) is NUL-terminated. */
int sg_secrets_open_value(const sg_secrets *s, const char *binding, const char *sealed, char **out);
/* Wipes and frees a plaintext from sg_secrets_open_value. */
void sg_secrets_free_plain(char *p);

#endif
