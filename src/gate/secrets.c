/* secrets: master key handling and AES-256-GCM sealing of stored secrets. */
#include "gate/secrets.h"

#include "core/err.h"
#include "core/keyfile.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

int sg_secrets_open(const char *path, sg_secrets *out)
{
    memset(out, 0, sizeof(*out));
    return sg_keyfile_open("master key", path, out->key);
}

void sg_secrets_close(sg_secrets *s)
{
    sg_wipe(s->key, sizeof(s->key));
}

int sg_secrets_seal(const sg_secrets *s, const char *binding, const char *plaintext, char **out)
{
    sg_buf ct = SG_BUF_INIT(0), b64 = SG_BUF_INIT(0);
    int rc = sg_aead_seal(s->key, binding, strlen(binding), plaintext, strlen(plaintext), &ct);
    if (rc == SG_OK)
        rc = sg_base64_encode(ct.data, ct.len, false, &b64);
    sg_buf_free(&ct);
    if (rc != SG_OK) {
        sg_buf_free(&b64);
        return rc;
    }
    *out = sg_buf_detach(&b64, NULL);
    return SG_OK;
}

int sg_secrets_open_value(const sg_secrets *s, const char *binding, const char *sealed, char **out)
{
    sg_buf ct = SG_BUF_INIT(0), pt = SG_BUF_INIT(0);
    *out = NULL;
    int rc = sg_base64_decode(sealed, strlen(sealed), false, &ct);
    if (rc == SG_OK)
        rc = sg_aead_open(s->key, binding, strlen(binding), ct.data, ct.len, &pt);
    sg_buf_free(&ct);
    if (rc != SG_OK) {
        sg_buf_wipe(&pt);
        return sg_err_set(SG_EAUTH, "stored secret for %s cannot be decrypted (wrong master key?)",
                          binding);
    }
    sg_buf_append(&pt, "", 0);
    *out = sg_buf_detach(&pt, NULL);
    return SG_OK;
}

void sg_secrets_free_plain(char *p)
{
    if (p) {
        sg_wipe(p, strlen(p));
        free(p);
    }
}
