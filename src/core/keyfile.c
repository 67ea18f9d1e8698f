/* keyfile: load-or-create of a key file (snowgate's master key, snowsim's instance key). */
#include "core/keyfile.h"

#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Writes a new random key to path, which must not exist yet (O_EXCL: never overwrite a key). */
static int create_key(const char *what, const char *path)
{
    uint8_t key[SG_AEAD_KEY_LEN];
    int rc = sg_random(key, sizeof(key));
    if (rc != SG_OK)
        return rc;
    int w = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w < 0) {
        sg_wipe(key, sizeof(key));
        return sg_err_set(SG_EIO, "%s '%s': cannot create it (%s)", what, path, strerror(errno));
    }
    ssize_t n = write(w, key, sizeof(key));
    int sync = fsync(w);
    close(w);
    sg_wipe(key, sizeof(key));
    if (n != (ssize_t)sizeof(key) || sync != 0) {
        /* A short file would be refused on every later start: leave none behind. */
        unlink(path);
        return sg_err_set(SG_EIO, "%s '%s': cannot write it", what, path);
    }
    char msg[64];
    snprintf(msg, sizeof(msg), "created a new %s", what);
    sg_log_info(msg, "path", path);
    return SG_OK;
}

int sg_keyfile_open(const char *what, const char *path, uint8_t key[SG_AEAD_KEY_LEN])
{
    memset(key, 0, SG_AEAD_KEY_LEN);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        int rc = create_key(what, path);
        if (rc != SG_OK)
            return rc;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return sg_err_set(SG_EIO, "%s '%s': %s", what, path, strerror(errno));
    struct stat st;
    int rc = SG_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = sg_err_set(SG_EIO, "%s '%s' is not a regular file", what, path);
    } else if (st.st_mode & 077) {
        rc = sg_err_set(SG_EFORBIDDEN, "%s '%s' is readable by other users; run: chmod 600 %s",
                        what, path, path);
    } else if (st.st_size != SG_AEAD_KEY_LEN || read(fd, key, SG_AEAD_KEY_LEN) != SG_AEAD_KEY_LEN) {
        rc = sg_err_set(SG_EINVAL, "%s '%s' must be exactly %d bytes", what, path, SG_AEAD_KEY_LEN);
    }
    close(fd);
    if (rc != SG_OK)
        sg_wipe(key, SG_AEAD_KEY_LEN);
    return rc;
}
