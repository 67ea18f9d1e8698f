/* proc: data directory checks and signal handling for the servers. */
#include "core/proc.h"

#include "core/err.h"
#include "core/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int mkdir_p(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return sg_err_set(SG_EINVAL, "data dir path is too long");
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return sg_err_set(
                SG_EIO, "data dir '%s': cannot create '%s' (%s); choose a writable --data DIR", dir,
                path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return sg_err_set(SG_EIO,
                          "data dir '%s': cannot create it (%s); choose a writable --data DIR", dir,
                          strerror(errno));
    return SG_OK;
}

int sg_proc_data_dir(const char *dir)
{
    struct stat sb;
    if (!dir || !*dir)
        return sg_err_set(SG_EINVAL, "no data dir given; pass --data DIR");
    int rc = mkdir_p(dir);
    if (rc != SG_OK)
        return rc;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return sg_err_set(SG_EIO, "data dir '%s' is not a directory; choose a writable --data DIR",
                          dir);
    char probe[PATH_MAX];
    snprintf(probe, sizeof(probe), "%s/.write-test-%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return sg_err_set(SG_EIO,
                          "data dir '%s' is not writable (%s); choose a writable --data DIR", dir,
                          strerror(errno));
    close(fd);
    unlink(probe);
    return SG_OK;
}

void sg_proc_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int sg_proc_wait_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    return sig;
}
