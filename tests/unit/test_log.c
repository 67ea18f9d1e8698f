/* Tests for core/log: redaction, formats, and batched lines (order, whole lines, flushing). */
#include "e2e/harness.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void capture_log(sg_log_format fmt, sg_buf *out)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    sg_log_init(SG_LOG_INFO, fmt, fds[1]);
    sg_log_set_request_id("req-1");
    sg_log_info("token refreshed", "client_secret", "s3cr3t", "access_token", "abc.def",
                "Authorization", "Bearer xyz", "user_password", "pw", "instance", "dev1", "note",
                "line\nbreak \"quoted\"");
    sg_log_debug("hidden", "k", "v");
    sg_log_set_request_id(NULL);
    sg_log_init(SG_LOG_INFO, SG_LOG_JSON, 2);
    close(fds[1]);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
        sg_buf_append(out, chunk, (size_t)n);
    close(fds[0]);
}

static void test_log_redacts(void **state)
{
    (void)state;
    sg_buf out = SG_BUF_INIT(0);
    capture_log(SG_LOG_JSON, &out);
    const char *s = sg_buf_str(&out);
    assert_int_equal(h_count_lines(s), 1);
    assert_null(strstr(s, "s3cr3t"));
    assert_null(strstr(s, "abc.def"));
    assert_null(strstr(s, "xyz"));
    assert_null(strstr(s, "\"pw\""));
    assert_null(strstr(s, "hidden"));
    assert_non_null(strstr(s, "\"instance\":\"dev1\""));
    assert_non_null(strstr(s, "\"req\":\"req-1\""));
    assert_non_null(strstr(s, "line\\nbreak \\\"quoted\\\""));
    assert_non_null(strstr(s, "\"level\":\"info\""));
    sg_buf_free(&out);

    sg_buf lf = SG_BUF_INIT(0);
    capture_log(SG_LOG_LOGFMT, &lf);
    s = sg_buf_str(&lf);
    assert_int_equal(h_count_lines(s), 1);
    assert_null(strstr(s, "s3cr3t"));
    assert_non_null(strstr(s, "level=info"));
    assert_non_null(strstr(s, "instance=dev1"));
    assert_non_null(strstr(s, "req=req-1"));
    sg_buf_free(&lf);
}

static void test_secret_keys(void **state)
{
    (void)state;
    static const char *const secret[] = {
        "secret",
        "client_secret",
        "SECRET_KEY",
        "access_token",
        "TOKEN",
        "refreshToken",
        "password",
        "user_password",
        "passwd",
        "Authorization",
        "proxy-authorization",
        "cookie",
        "Set-Cookie",
        "apikey",
        "X_API_KEY",
        "webhook-signature",
        "credential",
        "credentials",
        "my_secret_2",
        "ttoken",
        "sssecret",
        "aapikey",
        "ccookie",
    };
    static const char *const plain[] = {"",     "instance", "user",  "path",   "status", "ms",
                                        "tok",  "secre",    "passw", "cooki",  "api",    "signatur",
                                        "auth", "apike",    "key",   "credent"};
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        if (!sg_log_key_is_secret(secret[i]))
            fail_msg("'%s' names a secret", secret[i]);
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        if (sg_log_key_is_secret(plain[i]))
            fail_msg("'%s' names no secret", plain[i]);
}

/* A log file of the test's own, read back whole. */
static int open_log(char path[64])
{
    snprintf(path, 64, "/tmp/sgtest-log-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    return fd;
}

static void read_log(const char *path, sg_buf *out)
{
    sg_buf_reset(out);
    assert_int_equal(h_read_file(path, out), SG_OK);
}

static void test_batched_order(void **state)
{
    (void)state;
    char path[64];
    int fd = open_log(path);
    sg_log_init(SG_LOG_INFO, SG_LOG_JSON, fd);
    /* A minute: nothing but the calls below writes these lines. */
    assert_int_equal(sg_log_batch_start(60000), SG_OK);
    sg_log_kv_batched(SG_LOG_INFO, "first", "n", "1", (const char *)NULL);
    sg_log_kv_batched(SG_LOG_DEBUG, "below the level", (const char *)NULL);
    sg_buf log = SG_BUF_INIT(0);
    read_log(path, &log);
    assert_int_equal(log.len, 0); /* held */
    /* A line written at once writes what is held first. */
    sg_log_info("second");
    read_log(path, &log);
    assert_int_equal(h_count_lines(sg_buf_str(&log)), 2);
    const char *a = strstr(sg_buf_str(&log), "\"msg\":\"first\"");
    const char *b = strstr(sg_buf_str(&log), "\"msg\":\"second\"");
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a < b);
    assert_null(strstr(sg_buf_str(&log), "below the level"));
    /* Stopping writes what is held, and later lines go out at once. */
    sg_log_kv_batched(SG_LOG_WARN, "third", "token", "t0k3n", (const char *)NULL);
    sg_log_batch_stop();
    read_log(path, &log);
    assert_int_equal(h_count_lines(sg_buf_str(&log)), 3);
    assert_non_null(strstr(sg_buf_str(&log), "\"msg\":\"third\""));
    assert_null(strstr(sg_buf_str(&log), "t0k3n"));
    sg_log_kv_batched(SG_LOG_INFO, "fourth", (const char *)NULL);
    read_log(path, &log);
    assert_int_equal(h_count_lines(sg_buf_str(&log)), 4);
    sg_log_batch_stop(); /* twice: harmless */
    sg_log_init(SG_LOG_INFO, SG_LOG_JSON, 2);
    close(fd);
    unlink(path);
    sg_buf_free(&log);
}

/* Held lines reach the file without any other line or a stop: by time, and by size. */
static void test_batched_flushes(void **state)
{
    (void)state;
    char path[64];
    int fd = open_log(path);
    sg_log_init(SG_LOG_INFO, SG_LOG_JSON, fd);
    assert_int_equal(sg_log_batch_start(5), SG_OK);
    sg_log_kv_batched(SG_LOG_INFO, "by time", (const char *)NULL);
    sg_buf log = SG_BUF_INIT(0);
    for (int i = 0; i < 1000; i++) { /* up to 10 s; no time is asserted */
        read_log(path, &log);
        if (log.len)
            break;
        usleep(10000);
    }
    assert_non_null(strstr(sg_buf_str(&log), "\"msg\":\"by time\""));
    sg_log_batch_stop();

    assert_int_equal(sg_log_batch_start(60000), SG_OK);
    char pad[1024];
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < 80; i++) /* 80 KB: past the batch's size */
        sg_log_kv_batched(SG_LOG_INFO, "by size", "pad", pad, (const char *)NULL);
    read_log(path, &log);
    assert_true(h_count_lines(sg_buf_str(&log)) >= 60);
    sg_log_batch_stop();
    read_log(path, &log);
    assert_int_equal(h_count_lines(sg_buf_str(&log)), 81);
    sg_log_init(SG_LOG_INFO, SG_LOG_JSON, 2);
    close(fd);
    unlink(path);
    sg_buf_free(&log);
}

#define WRITERS    4
#define PER_WRITER 3000

static void *writer(void *arg)
{
    int w = (int)(intptr_t)arg;
    char n[16], id[16];
    snprintf(id, sizeof(id), "%d", w);
    for (int i = 0; i < PER_WRITER; i++) {
        snprintf(n, sizeof(n), "%d", i);
        if (i % 100 == 99)
            sg_log_info("direct", "writer", id, "n", n);
        else
            sg_log_kv_batched(SG_LOG_INFO, "batched", "writer", id, "n", n, (const char *)NULL);
    }
    return NULL;
}

/* Threads writing batched and direct lines at once: every line whole, none lost, and each
 * thread's lines in the order it made them. */
static void test_batched_threads(void **state)
{
    (void)state;
    char path[64];
    int fd = open_log(path);
    sg_log_init(SG_LOG_INFO, SG_LOG_LOGFMT, fd);
    assert_int_equal(sg_log_batch_start(1), SG_OK);
    pthread_t t[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    sg_log_batch_stop();
    sg_log_init(SG_LOG_INFO, SG_LOG_JSON, 2);
    sg_buf log = SG_BUF_INIT(0);
    read_log(path, &log);
    int next[WRITERS] = {0};
    int lines = 0;
    for (char *line = strtok(log.data, "\n"); line; line = strtok(NULL, "\n")) {
        int w = -1, n = -1;
        const char *p = strstr(line, " writer=");
        const char *q = strstr(line, " n=");
        if (!p || !q || sscanf(p, " writer=%d", &w) != 1 || sscanf(q, " n=%d", &n) != 1 || w < 0 ||
            w >= WRITERS)
            fail_msg("not a whole line: %s", line);
        if (n != next[w])
            fail_msg("writer %d: line %d where %d was due", w, n, next[w]);
        next[w]++;
        lines++;
    }
    assert_int_equal(lines, WRITERS * PER_WRITER);
    close(fd);
    unlink(path);
    sg_buf_free(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_redacts),     cmocka_unit_test(test_secret_keys),
        cmocka_unit_test(test_batched_order),   cmocka_unit_test(test_batched_flushes),
        cmocka_unit_test(test_batched_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
