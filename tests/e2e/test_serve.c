/* End to end: the real snowgate and snowsim binaries: start, probes, signals, bad input. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/json.h"
#include "core/str.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNOWGATE SG_BUILD_DIR "/snowgate"
#define SNOWSIM  SG_BUILD_DIR "/snowsim"

static sg_json *get_json(const char *base, const char *path, long want_status)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base, path);
    sg_http_response r;
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, want_status);
    assert_true(sg_str_startswith(sg_http_response_header(&r, "Content-Type"), "application/json"));
    sg_json *j = NULL;
    assert_int_equal(sg_json_parse(sg_buf_str(&r.body), r.body.len, 0, 0, &j), SG_OK);
    sg_http_response_free(&r);
    return j;
}

static void test_serve_lifecycle(void **state)
{
    (void)state;
    char *dir = h_tmpdir("serve");
    char data[512];
    snprintf(data, sizeof(data), "%s/data/nested", dir);
    const char *argv[] = {SNOWGATE, "serve", "--listen", "127.0.0.1:0", "--data", data, NULL};
    h_proc p;
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 20000, &p), SG_OK);
    assert_true(strncmp(p.url, "http://127.0.0.1:", 17) == 0);

    sg_json *j = get_json(p.url, "/healthz", 200);
    assert_string_equal(sg_json_get_str(j, "status"), "ok");
    sg_json_decref(j);
    j = get_json(p.url, "/readyz", 200);
    assert_string_equal(sg_json_get_str(j, "status"), "ready");
    bool ok = false;
    assert_true(sg_json_get_bool(sg_json_get(sg_json_get(j, "checks"), "store"), "ok", &ok));
    assert_true(ok);
    sg_json_decref(j);
    j = get_json(p.url, "/no/such/thing", 404);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "error"), "code"), "not_found");
    sg_json_decref(j);

    assert_int_equal(h_stop(&p, SIGTERM, 20000), 0);
    /* The log is JSON lines and says it stopped. */
    sg_buf log = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(p.log_path, &log), SG_OK);
    assert_non_null(strstr(sg_buf_str(&log), "\"msg\":\"snowgate stopped\""));
    sg_buf_free(&log);

    /* A restart on the same data dir reuses the migrated store; SIGINT works too. */
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 20000, &p), SG_OK);
    j = get_json(p.url, "/readyz", 200);
    sg_json_decref(j);
    assert_int_equal(h_stop(&p, SIGINT, 20000), 0);
    h_rmdir(dir);
    free(dir);
}

/* Lines that are not structured log lines. */
static int plain_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (*p != '{')
            n++;
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

/* Runs snowgate with args; checks the exit status and that stderr has exactly one plain line
 * (besides JSON log lines; plus the usage when `usage` is set) containing `want`. */
static void expect_failure(const char *const argv[], const char *const env[], int want_status,
                           const char *want, bool usage)
{
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    int st = h_run(argv, env, 20000, &out, &err);
    if (st != want_status)
        fail_msg("%s %s: exit %d, want %d; stderr: %s", argv[1], argv[2] ? argv[2] : "", st,
                 want_status, sg_buf_str(&err));
    const char *e = sg_buf_str(&err);
    if (!strstr(e, want))
        fail_msg("stderr lacks '%s': %s", want, e);
    if (usage)
        assert_non_null(strstr(e, "Usage: "));
    else
        assert_int_equal(plain_lines(e), 1);
    assert_null(strstr(e, "AddressSanitizer"));
    sg_buf_free(&out);
    sg_buf_free(&err);
}

static void test_bad_input(void **state)
{
    (void)state;
    char *dir = h_tmpdir("bad");
    char data[512], ini[512];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(ini, sizeof(ini), "%s/bad.ini", dir);
    const char *bad_ini = "[http]\nthreads = lots\n";
    assert_int_equal(h_write_file(ini, bad_ini, strlen(bad_ini)), SG_OK);

    const char *unknown_flag[] = {SNOWGATE, "serve", "--frobnicate", NULL};
    expect_failure(unknown_flag, NULL, 2, "unknown option '--frobnicate'", true);
    const char *missing_value[] = {SNOWGATE, "serve", "--listen", NULL};
    expect_failure(missing_value, NULL, 2, "option '--listen' needs a value", true);
    const char *unknown_cmd[] = {SNOWGATE, "frobnicate", NULL};
    expect_failure(unknown_cmd, NULL, 2, "unknown command 'frobnicate'", true);
    const char *unknown_global[] = {SNOWGATE, "--frobnicate", NULL};
    expect_failure(unknown_global, NULL, 2, "unknown option '--frobnicate'", true);
    const char *bad_listen[] = {SNOWGATE, "serve", "--listen", "127.0.0.1:99999",
                                "--data", data,    NULL};
    expect_failure(bad_listen, NULL, 2, "port must be 0 to 65535", false);
    const char *bad_config[] = {SNOWGATE, "serve", "--config", ini, "--data", data, NULL};
    expect_failure(bad_config, NULL, 2, "line 2: http.threads: 'lots' is not a whole number",
                   false);
    const char *missing_config[] = {SNOWGATE, "serve", "--config", "/nonexistent.ini", NULL};
    expect_failure(missing_config, NULL, 2, "No such file or directory", false);
    const char *bad_env_env[] = {"SNOWGATE_LOG_LEVEL=chatty", NULL};
    const char *plain[] = {SNOWGATE, "serve", "--data", data, "--listen", "127.0.0.1:0", NULL};
    expect_failure(plain, bad_env_env, 2, "SNOWGATE_LOG_LEVEL: log.level: 'chatty'", false);
    const char *bad_url[] = {SNOWGATE, "serve", "--public-url", "ftp://x", NULL};
    expect_failure(bad_url, NULL, 2, "must be an http or https URL", false);
    /* Even root cannot write under /proc. */
    const char *bad_dir[] = {SNOWGATE,   "serve",       "--data", "/proc/snowgate-test",
                             "--listen", "127.0.0.1:0", NULL};
    expect_failure(bad_dir, NULL, 1, "data dir '/proc/snowgate-test'", false);
    const char *file_dir[] = {SNOWGATE,   "serve",       "--data", "/etc/hostname",
                              "--listen", "127.0.0.1:0", NULL};
    expect_failure(file_dir, NULL, 1, "data dir '/etc/hostname'", false);
    const char *positional[] = {SNOWGATE, "serve", "extra", NULL};
    expect_failure(positional, NULL, 2, "unexpected argument 'extra'", true);

    /* A port already in use. */
    h_proc p;
    const char *first[] = {SNOWGATE, "serve", "--listen", "127.0.0.1:0", "--data", data, NULL};
    assert_int_equal(h_spawn_server(first, NULL, "snowgate", 20000, &p), SG_OK);
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%s", strrchr(p.url, ':') + 1);
    char data2[512];
    snprintf(data2, sizeof(data2), "%s/data2", dir);
    const char *busy[] = {SNOWGATE, "serve", "--listen", listen, "--data", data2, NULL};
    expect_failure(busy, NULL, 1, "cannot listen on 127.0.0.1", false);
    assert_int_equal(h_stop(&p, SIGTERM, 20000), 0);
    h_rmdir(dir);
    free(dir);
}

static void test_help_and_version(void **state)
{
    (void)state;
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    const char *version[] = {SNOWGATE, "--version", NULL};
    assert_int_equal(h_run(version, NULL, 10000, &out, &err), 0);
    assert_string_equal(sg_buf_str(&out), "snowgate " SG_VERSION "\n");
    sg_buf_reset(&out);
    const char *help[] = {SNOWGATE, "--help", NULL};
    assert_int_equal(h_run(help, NULL, 10000, &out, &err), 0);
    assert_non_null(strstr(sg_buf_str(&out), "Usage: snowgate"));
    assert_non_null(strstr(sg_buf_str(&out), "serve"));
    sg_buf_reset(&out);
    const char *serve_help[] = {SNOWGATE, "serve", "--help", NULL};
    assert_int_equal(h_run(serve_help, NULL, 10000, &out, &err), 0);
    assert_non_null(strstr(sg_buf_str(&out), "--listen ADDR:PORT"));
    assert_non_null(strstr(sg_buf_str(&out), "SNOWGATE_LISTEN"));
    sg_buf_reset(&out);
    const char *none[] = {SNOWGATE, NULL};
    assert_int_equal(h_run(none, NULL, 10000, &out, &err), 2);
    const char *sim_version[] = {SNOWSIM, "--version", NULL};
    sg_buf_reset(&out);
    assert_int_equal(h_run(sim_version, NULL, 10000, &out, &err), 0);
    assert_string_equal(sg_buf_str(&out), "snowsim " SG_VERSION "\n");
    sg_buf_free(&out);
    sg_buf_free(&err);
}

static void test_snowsim_lifecycle(void **state)
{
    (void)state;
    char *dir = h_tmpdir("sim");
    const char *argv[] = {SNOWSIM, "--listen",         "127.0.0.1:0", "--data",
                          dir,     "--admin-password", "pw",          NULL};
    h_proc p;
    assert_int_equal(h_spawn_server(argv, NULL, "snowsim", 20000, &p), SG_OK);
    sg_json *j = get_json(p.url, "/api/x_snowsim/health", 200);
    sg_json_decref(j);
    /* Unknown paths answer in ServiceNow's error envelope. */
    j = get_json(p.url, "/api/now/nothing", 400);
    assert_string_equal(sg_json_get_str(j, "status"), "failure");
    assert_non_null(sg_json_get_str(sg_json_get(j, "error"), "message"));
    sg_json_decref(j);
    assert_int_equal(h_stop(&p, SIGTERM, 20000), 0);
    const char *bad[] = {SNOWSIM, "--bogus", NULL};
    sg_buf err = SG_BUF_INIT(0);
    assert_int_equal(h_run(bad, NULL, 10000, NULL, &err), 2);
    assert_non_null(strstr(sg_buf_str(&err), "unknown option '--bogus'"));
    sg_buf_free(&err);
    h_rmdir(dir);
    free(dir);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve_lifecycle),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_snowsim_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
