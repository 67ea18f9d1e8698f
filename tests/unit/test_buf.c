/* Tests for core/buf, core/arena, core/str and core/err. */
#include "e2e/harness.h"

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

static void test_buf_cap(void **state)
{
    (void)state;
    sg_buf b = SG_BUF_INIT(10);
    assert_string_equal(sg_buf_str(&b), "");
    assert_int_equal(sg_buf_puts(&b, "12345"), SG_OK);
    assert_int_equal(sg_buf_printf(&b, "%d", 6789), SG_OK);
    assert_string_equal(sg_buf_str(&b), "123456789");
    /* One byte fits, two do not; a refused append leaves the contents unchanged. */
    assert_int_equal(sg_buf_puts(&b, "ab"), SG_ETOOBIG);
    assert_string_equal(sg_buf_str(&b), "123456789");
    assert_int_equal(sg_buf_putc(&b, 'x'), SG_OK);
    assert_int_equal(b.len, 10);
    assert_int_equal(sg_buf_putc(&b, 'y'), SG_ETOOBIG);
    assert_int_equal(sg_buf_printf(&b, "%s", "z"), SG_ETOOBIG);
    assert_int_equal(b.len, 10);
    size_t len = 0;
    char *s = sg_buf_detach(&b, &len);
    assert_int_equal(len, 10);
    assert_string_equal(s, "123456789x");
    free(s);
    assert_int_equal(b.len, 0);
    assert_null(b.data);
    /* A huge append cannot overflow the length arithmetic. */
    assert_int_equal(sg_buf_append(&b, "", SIZE_MAX), SG_ETOOBIG);
    sg_buf_free(&b);
    sg_buf_free(&b);
}

static void test_buf_grows(void **state)
{
    (void)state;
    sg_buf b = SG_BUF_INIT(0);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(sg_buf_putc(&b, (char)('a' + i % 26)), SG_OK);
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[9999], 'a' + 9999 % 26);
    assert_int_equal(b.data[10000], '\0');
    sg_buf_wipe(&b);
}

static void test_arena(void **state)
{
    (void)state;
    sg_arena *a = sg_arena_new(64 * 1024);
    char *s = sg_arena_strdup(a, "hello");
    assert_string_equal(s, "hello");
    char *p = sg_arena_printf(a, "%s-%d", s, 7);
    assert_string_equal(p, "hello-7");
    assert_null(sg_arena_strdup(a, NULL));
    for (int i = 0; i < 100; i++) {
        void *m = sg_arena_alloc(a, 100);
        assert_non_null(m);
        assert_int_equal(((uintptr_t)m) % _Alignof(max_align_t), 0);
    }
    assert_null(sg_arena_alloc(a, 128 * 1024));
    assert_int_equal(sg_arena_alloc(a, 60 * 1024) == NULL, true);
    assert_true(sg_arena_used(a) <= 64 * 1024);
    sg_arena_free(a);
    sg_arena_free(NULL);
}

static void test_str(void **state)
{
    (void)state;
    int64_t v = 0;
    assert_int_equal(sg_parse_i64("42", 0, 100, "n", &v), SG_OK);
    assert_int_equal(v, 42);
    assert_int_equal(sg_parse_i64("-1", 0, 100, "n", &v), SG_EINVAL);
    assert_int_equal(sg_parse_i64("101", 0, 100, "n", &v), SG_EINVAL);
    assert_int_equal(sg_parse_i64("4x", 0, 100, "n", &v), SG_EINVAL);
    assert_int_equal(sg_parse_i64(" 4", 0, 100, "n", &v), SG_EINVAL);
    assert_int_equal(sg_parse_i64("", 0, 100, "n", &v), SG_EINVAL);
    assert_int_equal(sg_parse_i64("99999999999999999999999", 0, INT64_MAX, "n", &v), SG_EINVAL);
    size_t sz = 0;
    assert_int_equal(sg_parse_size("64k", 0, SIZE_MAX, "s", &sz), SG_OK);
    assert_int_equal(sz, 65536);
    assert_int_equal(sg_parse_size("2M", 0, SIZE_MAX, "s", &sz), SG_OK);
    assert_int_equal(sz, 2 * 1024 * 1024);
    assert_int_equal(sg_parse_size("2T", 0, SIZE_MAX, "s", &sz), SG_EINVAL);
    assert_int_equal(sg_parse_size("k", 0, SIZE_MAX, "s", &sz), SG_EINVAL);
    static const struct {
        const char *in;
        int64_t secs; /* 0: refused */
    } durations[] = {
        {"PT8H", 28800},
        {"P1DT12H", 129600},
        {"P2W", 1209600},
        {"PT90M", 5400},
        {"PT1S", 1},
        {"P1DT1H1M1S", 90061},
        {"P1Y", 0},
        {"P1M", 0},
        {"PT", 0},
        {"P", 0},
        {"8H", 0},
        {"PT8", 0},
        {"PT1.5H", 0},
        {"PT0S", 0},
        {"PH", 0},
        {"PT1H1D", 0},
        {"PT1M1H", 0},
        {"P400D", 0},
        {"P99999999999999999999D", 0},
        {"pt8h", 0},
        {"PT8H ", 0},
        {"P1D1D", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        int64_t d = -1;
        int rc = sg_parse_iso_duration(durations[i].in, 366 * 86400, &d);
        if (durations[i].secs) {
            assert_int_equal(rc, SG_OK);
            assert_int_equal(d, durations[i].secs);
        } else {
            assert_int_equal(rc, SG_EINVAL);
        }
    }
    bool b = false;
    assert_int_equal(sg_parse_bool("YES", "b", &b), SG_OK);
    assert_true(b);
    assert_int_equal(sg_parse_bool("maybe", "b", &b), SG_EINVAL);
    char *host = NULL;
    uint16_t port = 1;
    assert_int_equal(sg_parse_listen("127.0.0.1:0", &host, &port), SG_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 0);
    free(host);
    assert_int_equal(sg_parse_listen("[::1]:8080", &host, &port), SG_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8080);
    free(host);
    assert_int_equal(sg_parse_listen("localhost", &host, &port), SG_EINVAL);
    assert_int_equal(sg_parse_listen(":80", &host, &port), SG_EINVAL);
    assert_int_equal(sg_parse_listen("h:65536", &host, &port), SG_EINVAL);
    char small[4];
    assert_int_equal(sg_strlcpy(small, "abcdef", sizeof(small)), 6);
    assert_string_equal(small, "abc");
}

static void test_err(void **state)
{
    (void)state;
    assert_int_equal(sg_err_set(SG_ENOTFOUND, "no asset '%s'", "x"), SG_ENOTFOUND);
    assert_string_equal(sg_err_msg(), "no asset 'x'");
    assert_int_equal(sg_err_wrap(SG_ENOTFOUND, "request %d", 7), SG_ENOTFOUND);
    assert_string_equal(sg_err_msg(), "request 7: no asset 'x'");
    assert_int_equal(sg_err_http_status(SG_EINVAL), 400);
    assert_int_equal(sg_err_http_status(SG_EAUTH), 401);
    assert_int_equal(sg_err_http_status(SG_EFORBIDDEN), 403);
    assert_int_equal(sg_err_http_status(SG_ENOTFOUND), 404);
    assert_int_equal(sg_err_http_status(SG_ECONFLICT), 409);
    assert_int_equal(sg_err_http_status(SG_ETOOBIG), 413);
    assert_int_equal(sg_err_http_status(SG_EUNAVAIL), 503);
    assert_int_equal(sg_err_http_status(SG_ESTORE), 500);
    assert_string_equal(sg_err_name(SG_ENOTFOUND), "not_found");
    sg_err_clear();
    assert_string_equal(sg_err_msg(), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap), cmocka_unit_test(test_buf_grows),
        cmocka_unit_test(test_arena),   cmocka_unit_test(test_str),
        cmocka_unit_test(test_err),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
