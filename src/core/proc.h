/* proc: process plumbing shared by both programs: data directories, shutdown signals and
 * command-line option errors. */
#ifndef SG_PROC_H
#define SG_PROC_H

#include <signal.h>
#include <stdbool.h>

/* Creates dir (and parents) with mode 0700 if missing and proves it writable by creating and
 * removing a file. SG_EIO with a message that names the directory and the fix. */
int sg_proc_data_dir(const char *dir);

/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (call before starting threads, which
 * inherit the mask) and ignores SIGPIPE. */
void sg_proc_block_signals(void);
/* Waits for SIGINT or SIGTERM and returns the signal number. */
int sg_proc_wait_signal(void);

/* Exit statuses: 0 success, 1 runtime failure, 2 usage error (as getopt conventions). */
enum { SG_EXIT_OK = 0, SG_EXIT_FAIL = 1, SG_EXIT_USAGE = 2 };

#endif
