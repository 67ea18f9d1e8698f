/* keyfile: a 32-byte secret key kept in a file of its own, outside any database. */
#ifndef SG_KEYFILE_H
#define SG_KEYFILE_H

#include "core/crypto.h"

#include <stdint.h>

/* Loads the key at path into key, creating the file (mode 0600, SG_AEAD_KEY_LEN random bytes)
 * when it does not exist. A file that other users can read (SG_EFORBIDDEN), that is not a
 * regular file (SG_EIO) or whose size is wrong (SG_EINVAL) is refused, and the message names the
 * fix. `what` names the key in messages and logs ("master key", "instance key"). On error key
 * is wiped. Thread-safe; two processes creating the same file at once: one of them fails. */
int sg_keyfile_open(const char *what, const char *path, uint8_t key[SG_AEAD_KEY_LEN]);

#endif
