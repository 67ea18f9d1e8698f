/* Tests for core/config and core/log: layering, validation messages, redaction. */
#include "e2e/harness.h"

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "gate/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_defaults_ini_env(void **state)
{
    (void)state;
    sg_gate_config c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(sg_cfg_defaults(sg_gate_config_keys, &c), SG_OK);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_int_equal(c.http_threads, 4);
    assert_int_equal(c.http_max_body, 1024 * 1024);

    char *dir = h_tmpdir("cfg");
    char path[512];
    snprintf(path, sizeof(path), "%s/snowgate.ini", dir);
    const char *ini = "# comment\nlisten = 127.0.0.1:9000\n\n[log]\nlevel = debug\n"
                      "[http]\nthreads = 8 ; not a comment inside values\n";
    assert_int_equal(h_write_file(path, ini, strlen(ini)), SG_OK);
    /* "8 ; ..." is not a number: the error names the file and line. */
    assert_int_equal(sg_cfg_load_ini(sg_gate_config_keys, &c, path), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "line 7"));
    assert_non_null(strstr(sg_err_msg(), "http.threads"));

    const char *ini2 = "listen = 127.0.0.1:9000\n[log]\nlevel = debug\n[http]\nmax_body = 2M\n";
    assert_int_equal(h_write_file(path, ini2, strlen(ini2)), SG_OK);
    assert_int_equal(sg_cfg_load_ini(sg_gate_config_keys, &c, path), SG_OK);
    assert_string_equal(c.listen, "127.0.0.1:9000");
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(c.http_max_body, 2 * 1024 * 1024);

    char *env[] = {"PATH=/bin", "SNOWGATE_LISTEN=127.0.0.1:9100", "SNOWGATE_LOG_LEVEL=warn", NULL};
    assert_int_equal(sg_cfg_load_env(sg_gate_config_keys, &c, "SNOWGATE_", env), SG_OK);
    assert_string_equal(c.listen, "127.0.0.1:9100");
    assert_string_equal(c.log_level, "warn");

    char *typo[] = {"SNOWGATE_LISTN=x", NULL};
    assert_int_equal(sg_cfg_load_env(sg_gate_config_keys, &c, "SNOWGATE_", typo), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "SNOWGATE_LISTN"));
    char *bad[] = {"SNOWGATE_HTTP_THREADS=0", NULL};
    assert_int_equal(sg_cfg_load_env(sg_gate_config_keys, &c, "SNOWGATE_", bad), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "SNOWGATE_HTTP_THREADS"));
    assert_int_equal(c.http_threads, 4);

    assert_int_equal(sg_cfg_set(sg_gate_config_keys, &c, "log.level", "loud", "--log-level"),
                     SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "debug, info, warn, error"));
    assert_int_equal(sg_cfg_set(sg_gate_config_keys, &c, "public_url", "ftp://x", "--public-url"),
                     SG_EINVAL);
    assert_int_equal(sg_cfg_set(sg_gate_config_keys, &c, "listen", "nohost", "--listen"),
                     SG_EINVAL);
    assert_int_equal(sg_cfg_set(sg_gate_config_keys, &c, "nope", "1", "--nope"), SG_EINVAL);
    assert_int_equal(sg_cfg_load_ini(sg_gate_config_keys, &c, "/nonexistent/x.ini"), SG_EIO);

    const char *ini3 = "[broken\n";
    assert_int_equal(h_write_file(path, ini3, strlen(ini3)), SG_OK);
    assert_int_equal(sg_cfg_load_ini(sg_gate_config_keys, &c, path), SG_EINVAL);
    const char *ini4 = "no equals sign\n";
    assert_int_equal(h_write_file(path, ini4, strlen(ini4)), SG_OK);
    assert_int_equal(sg_cfg_load_ini(sg_gate_config_keys, &c, path), SG_EINVAL);

    sg_cfg_free(sg_gate_config_keys, &c);
    h_rmdir(dir);
    free(dir);
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_ini_env),
        cmocka_unit_test(test_log_redacts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
