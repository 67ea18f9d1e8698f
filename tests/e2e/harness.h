/* harness: helpers for tests: files, temporary dirs, and real processes driven over HTTP. */
#ifndef SG_TEST_HARNESS_H
#define SG_TEST_HARNESS_H

#include "core/buf.h"
#include "core/json.h"
#include "http/client.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <sys/types.h>

/* Reads a whole file into out (capped at 64 MiB). */
int h_read_file(const char *path, sg_buf *out);
/* Writes a file. */
int h_write_file(const char *path, const char *data, size_t len);
/* A fresh empty temporary directory; the caller frees the string (the dir is left behind
 * under $TMPDIR for inspection when a test fails, and removed by h_rmdir). */
char *h_tmpdir(const char *tag);
/* rm -rf */
void h_rmdir(const char *path);

typedef struct h_proc {
    pid_t pid;
    int out_fd;         /* the child's stdout */
    char log_path[512]; /* the child's stderr goes here */
    char url[256];      /* from the "... listening on URL" line */
} h_proc;

/* Starts argv[0] (a path) with extra environment entries ("K=V", NULL-terminated, may be NULL),
 * then waits up to timeout_ms for a stdout line "<banner> listening on URL". */
int h_spawn_server(const char *const argv[], const char *const env[], const char *banner,
                   int timeout_ms, h_proc *p);
/* Sends sig (0: none, only wait) and waits up to timeout_ms; returns the exit status,
 * 128+signal for a signal, or -1 after SIGKILL on timeout. */
int h_stop(h_proc *p, int sig, int timeout_ms);

/* Runs a program to completion, capturing stdout and stderr (each capped). Returns its exit
 * status, or -1 when it could not run or did not finish within timeout_ms. */
int h_run(const char *const argv[], const char *const env[], int timeout_ms, sg_buf *out,
          sg_buf *err);

/* Like h_run, with `input` written to the program's standard input. */
int h_run_input(const char *const argv[], const char *const env[], const char *input,
                int timeout_ms, sg_buf *out, sg_buf *err);

/* HTTP against a test server (loopback allowed). method GET/POST...; body may be NULL. */
int h_http(const char *method, const char *url, const char *const *headers, const char *body,
           sg_http_response *res);

/* A loopback TCP port that was free a moment ago (for servers that need it before starting). */
int h_free_port(void);

/* Raw TCP to a test server on 127.0.0.1, for what an HTTP library does not do: many
 * connections from many client addresses, requests that trickle in, answers that never come. */

/* The port of base ("http://127.0.0.1:PORT"); fails the test when it names none. */
int h_url_port(const char *base);
/* A socket connected to 127.0.0.1:port from source address `from` (every 127.x.y.z is loopback
 * on Linux, so one test can be many clients); -1 when the connection is refused. */
int h_connect_from(int port, const char *from);
/* Whether the peer has closed fd (EOF or reset), waiting up to ms. */
bool h_closed_within(int fd, int ms);
/* Reads what the server sends on fd until it closes the connection, for up to ms. Returns the
 * HTTP status of its answer, 0 when it closed without one, and -1 when it had not closed
 * within ms (a hang). The bytes read go to out when not NULL. Thread-safe. */
int h_raw_answer(int fd, int ms, sg_buf *out);
/* GET path from `from` with "Connection: close": the status as h_raw_answer gives it, or 0
 * when the connection is refused. Thread-safe. */
int h_raw_get(int port, const char *from, const char *path, int ms);

/* Counts lines in text. */
int h_count_lines(const char *text);

/* The project's own test data (fixtures, vectors, small corpora), always present. */
#define H_DATA_DIR SG_SOURCE_DIR "/tests/data"

/* ctest's SKIP_RETURN_CODE for the tests of outside corpora (tests/CMakeLists.txt). */
#define H_SKIPPED 77

/* True when the test program was started with --corpus: it then runs on an outside corpus
 * instead of the project's own data (the corpus/... entries in tests/CMakeLists.txt). */
bool h_corpus_mode(int argc, char **argv);

/* The path of rel inside the outside corpus folder: $SG_CORPUS_DIR when set at run time, else
 * the folder configured at build time (SG_CORPUS_DIR, by default ../shared beside the source).
 * When it does not exist, prints one line saying what is skipped and why, and exits with
 * H_SKIPPED. Writes the path into out (n bytes); a path that does not fit fails the test. */
void h_corpus_path(const char *rel, const char *what, char *out, size_t n);

#endif

/* "Authorization: Basic <base64(user:pw)>"; the caller frees it. */
char *h_basic(const char *user, const char *password);

/* A snowsim on a free port with a fresh data dir (unless dir is given) and admin password
 * "admin-Pw1". extra is a NULL-terminated list of more flags (may be NULL). */
typedef struct h_sim {
    h_proc p;
    char *dir;
    bool own_dir;
    char *admin_auth; /* Basic header for admin */
} h_sim;
void h_sim_start(h_sim *s, const char *dir, const char *const *extra);
void h_sim_stop(h_sim *s);

/* Sends a request and parses the JSON body (NULL when the body is empty or not JSON). */
long h_call(const char *method, const char *base, const char *path, const char *const *headers,
            const char *body, sg_json **json, sg_http_response *keep);
