/* secrets: master key handling and AES-256-GCM sealing of stored secrets. */
#include "gate/secrets.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sg_secrets_open(const char *path, sg_secrets *out)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        uint8_t key[SG_AEAD_KEY_LEN];
        int rc = sg_random(key, sizeof(key));
        if (rc != SG_OK)
            return rc;
        int w = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (w < 0)
            return sg_err_set(SG_EIO, "master key '%s': cannot create it (%s)", path,
                              strerror(errno));
        ssize_t n = write(w, key, sizeof(key));
        int sync = fsync(w);
        close(w);
        sg_wipe(key, sizeof(key));
        if (n != (ssize_t)sizeof(key) || sync != 0)
            return sg_err_set(SG_EIO, "master key '%s': cannot write it", path);
        sg_log_info("created a new master key", "path", path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return sg_err_set(SG_EIO, "master key '%s': %s", path, strerror(errno));
    struct stat st;
    int rc = SG_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = sg_err_set(SG_EIO, "master key '%s' is not a regular file", path);
    } else if (st.st_mode & 077) {
        rc =
            sg_err_set(SG_EFORBIDDEN,
                       "master key '%s' is readable by other users; run: chmod 600 %s", path, path);
    } else if (st.st_size != SG_AEAD_KEY_LEN ||
               read(fd, out->key, SG_AEAD_KEY_LEN) != SG_AEAD_KEY_LEN) {
        rc = sg_err_set(SG_EINVAL, "master key '%s' must be exactly %d bytes", path,
                        SG_AEAD_KEY_LEN);
    }
    close(fd);
    if (rc != SG_OK)
        sg_wipe(out->key, sizeof(out->key));
    return rc;
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
