/* Tests for core/json: the project's own y_/n_/i_ cases (tests/data/json), caps, and the
 * accessors; with --corpus, JSONTestSuite from the outside corpus folder instead. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/json.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct counts {
    int y, n, i;
} counts;

/* Every y_ file must parse and every n_ file must be rejected; i_ files may go either way. */
static counts check_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("%s: %s", dir, strerror(errno));
    int y = 0, n = 0, i = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        sg_buf b = SG_BUF_INIT(0);
        assert_int_equal(h_read_file(path, &b), SG_OK);
        sg_json *j = NULL;
        /* The corpus nests up to 100000 brackets; the default depth cap refuses those. */
        int rc = sg_json_parse(b.data ? b.data : "", b.len, 0, 0, &j);
        if (e->d_name[0] == 'y') {
            if (rc != SG_OK)
                fail_msg("%s must parse: %s", e->d_name, sg_err_msg());
            y++;
        } else if (e->d_name[0] == 'n') {
            if (rc == SG_OK)
                fail_msg("%s must be rejected", e->d_name);
            n++;
        } else {
            i++;
        }
        sg_json_decref(j);
        sg_buf_free(&b);
    }
    closedir(d);
    return (counts){y, n, i};
}

static void test_own_cases(void **state)
{
    (void)state;
    counts c = check_dir(H_DATA_DIR "/json");
    assert_true(c.y >= 15);
    assert_true(c.n >= 25);
    assert_true(c.i >= 5);
}

/* JSONTestSuite's test_parsing folder; *state is its path. */
static void test_jsontestsuite(void **state)
{
    counts c = check_dir(*state);
    assert_int_equal(c.y, 95);
    assert_int_equal(c.n, 188);
    assert_int_equal(c.i, 35);
}

static void test_caps(void **state)
{
    (void)state;
    sg_json *j = NULL;
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(sg_json_parse(deep, 200, 0, 64, &j), SG_ETOOBIG);
    assert_null(j);
    assert_int_equal(sg_json_parse(deep + 40, 120, 0, 64, &j), SG_OK);
    sg_json_decref(j);
    /* Brackets inside strings do not count towards depth. */
    const char *s = "[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]";
    assert_int_equal(sg_json_parse(s, strlen(s), 0, 4, &j), SG_OK);
    sg_json_decref(j);
    assert_int_equal(sg_json_parse("{\"a\":1}", 7, 5, 0, &j), SG_ETOOBIG);
    assert_int_equal(sg_json_parse("{\"a\":", 5, 0, 0, &j), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "line 1"));
}

static void test_accessors(void **state)
{
    (void)state;
    const char *text = "{\"s\":\"x\",\"i\":42,\"b\":true,\"nul\":\"ad\\u0000min\",\"a\":[1,2]}";
    sg_json *j = NULL;
    assert_int_equal(sg_json_parse(text, strlen(text), 0, 0, &j), SG_OK);
    assert_string_equal(sg_json_get_str(j, "s"), "x");
    assert_null(sg_json_get_str(j, "i"));
    assert_null(sg_json_get_str(j, "missing"));
    /* A string with an embedded NUL is never handed out as a shorter C string. */
    assert_null(sg_json_get_str(j, "nul"));
    int64_t v = 0;
    assert_true(sg_json_get_int(j, "i", &v));
    assert_int_equal(v, 42);
    assert_false(sg_json_get_int(j, "s", &v));
    bool b = false;
    assert_true(sg_json_get_bool(j, "b", &b));
    assert_true(b);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "a")), 2);
    sg_json_decref(j);

    /* jansson cannot hold NUL in a key: it becomes U+FFFD, never a shorter key. */
    const char *nulkey = "{\"a\\u0000b\":1,\"c\":\"\\\\u0000\"}";
    assert_int_equal(sg_json_parse(nulkey, strlen(nulkey), 0, 0, &j), SG_OK);
    assert_false(sg_json_get_int(j, "a", &v));
    assert_true(sg_json_get_int(j,
                                "a\xef\xbf\xbd"
                                "b",
                                &v));
    /* An escaped backslash followed by "u0000" is text, and stays as it was. */
    assert_string_equal(sg_json_get_str(j, "c"), "\\u0000");
    sg_json_decref(j);

    sg_json *o = sg_json_object();
    sg_json_set_str(o, "k", "v\"q");
    sg_json_set_int(o, "n", -3);
    sg_json_set(o, "arr", sg_json_array());
    char *out = sg_json_dump(o);
    assert_string_equal(out, "{\"k\":\"v\\\"q\",\"n\":-3,\"arr\":[]}");
    free(out);
    sg_json_decref(o);
}

int main(int argc, char **argv)
{
    if (h_corpus_mode(argc, argv)) {
        static char dir[1024];
        h_corpus_path("corpora/jsontestsuite/test_parsing", "JSONTestSuite", dir, sizeof(dir));
        const struct CMUnitTest corpus[] = {cmocka_unit_test_prestate(test_jsontestsuite, dir)};
        return cmocka_run_group_tests(corpus, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_cases),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_accessors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
