/* Tests for core/config: layering, validation messages, the example config. */
#include "e2e/config_example.h"
#include "e2e/harness.h"

#include "core/config.h"
#include "core/err.h"
#include "gate/config.h"
#include "sim/config.h"

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
    assert_int_equal(c.http_threads, 8);
    assert_int_equal(c.http_io_threads, 0); /* one per CPU */
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
    assert_int_equal(c.http_threads, 8);
    char *io[] = {"SNOWGATE_HTTP_IO_THREADS=65", NULL}; /* at most 64 */
    assert_int_equal(sg_cfg_load_env(sg_gate_config_keys, &c, "SNOWGATE_", io), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "SNOWGATE_HTTP_IO_THREADS"));

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

/* sg_cfg_example's text for a table (the caller frees it). */
static char *example(const sg_cfg_key *keys, const char *prefix)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    sg_cfg_example(keys, prefix, f);
    assert_int_equal(fclose(f), 0);
    return text;
}

/* Each section and key once, every key there, and uncommented it loads as the defaults: for
 * both programs' tables. */
static void test_example_tables(void **state)
{
    (void)state;
    char *gate = example(sg_gate_config_keys, "SNOWGATE_");
    h_cfg_example_check(gate, sg_gate_config_keys, sizeof(sg_gate_config), "SNOWGATE_");
    /* Sections interleave in the table (servicenow.*, jobs.*, servicenow.*): still one each. */
    assert_non_null(strstr(gate, "\n[servicenow]\n"));
    assert_null(strstr(strstr(gate, "\n[servicenow]\n") + 1, "\n[servicenow]\n"));
    assert_true(strstr(gate, ";reconcile_interval = 60") > strstr(gate, "[servicenow]"));
    assert_true(strstr(gate, ";reconcile_interval = 60") < strstr(gate, "[jobs]"));
    free(gate);
    char *sim = example(sg_sim_config_keys, "SNOWSIM_");
    h_cfg_example_check(sim, sg_sim_config_keys, sizeof(sg_sim_config), "SNOWSIM_");
    free(sim);
}

/* No limit on the number of sections or the length of a name: more sections than the old
 * 64-entry list, and an environment name longer than the old 128-byte buffer. */
#define MANY 80
static void test_example_no_caps(void **state)
{
    (void)state;
    static const char long_name[] =
        "long_section_name_xxxxxxxxxxxxxxxxxxxxxxx."
        "a_very_long_key_name_that_goes_past_the_old_buffer_yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
        "yyyyyyyyyyyyyyyyyy_end";
    static char names[MANY][16];
    sg_cfg_key keys[MANY + 2];
    memset(keys, 0, sizeof(keys));
    for (size_t i = 0; i <= MANY; i++) {
        if (i < MANY)
            snprintf(names[i], sizeof(names[i]), "s%02zu.k", i);
        keys[i].name = i < MANY ? names[i] : long_name;
        keys[i].type = SG_CFG_INT;
        keys[i].offset = i * sizeof(int64_t);
        keys[i].def = "7";
        keys[i].max = 9;
        keys[i].help = "a setting";
    }
    char *text = example(keys, "A_VERY_LONG_PROGRAM_PREFIX_");
    h_cfg_example_check(text, keys, (MANY + 1) * sizeof(int64_t), "A_VERY_LONG_PROGRAM_PREFIX_");
    assert_non_null(strstr(text, "YYYY_END; from 0 to 9\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_ini_env),
        cmocka_unit_test(test_example_tables),
        cmocka_unit_test(test_example_no_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
