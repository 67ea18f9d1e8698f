/* Tests for core/url: parsing and the outbound guard, from a table of good and bad URLs. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static void test_parse(void **state)
{
    (void)state;
    sg_url u;
    assert_int_equal(sg_url_parse("HTTPS://Dev1234.service-now.com/api/now/table/x?a=1#f", &u),
                     SG_OK);
    assert_string_equal(u.scheme, "https");
    assert_string_equal(u.host, "dev1234.service-now.com");
    assert_string_equal(u.path, "/api/now/table/x");
    assert_string_equal(u.query, "a=1");
    assert_int_equal(u.port, 443);
    assert_false(u.explicit_port);
    sg_url_clear(&u);
    assert_int_equal(sg_url_parse("http://[::1]:8080", &u), SG_OK);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/");
    sg_url_clear(&u);
    static const char *const bad[] = {"",
                                      "not a url",
                                      "/relative",
                                      "https://",
                                      "https://a b.com",
                                      "https://x.com/\n",
                                      "https://x.com:99999/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sg_url_parse(bad[i], &u) == SG_OK)
            fail_msg("'%s' must not parse", bad[i]);
}

typedef struct guard_case {
    const char *url;
    bool ok_strict;   /* allowed without the test flag */
    bool ok_loopback; /* allowed with --allow-insecure-loopback */
} guard_case;

static const guard_case cases[] = {
    {"https://dev1234.service-now.com", true, true},
    {"https://dev1234.service-now.com:443/oauth_token.do", true, true},
    {"https://8.8.8.8/", true, true},
    {"https://[2606:4700::1111]/", true, true},
    {"http://dev1234.service-now.com", false, false}, /* plain http to a real host */
    {"ftp://dev1234.service-now.com", false, false},
    {"file:///etc/passwd", false, false},
    {"gopher://x.com", false, false},
    {"https://user:pw@dev1234.service-now.com", false, false},
    {"https://127.0.0.1/", false, true},
    {"http://127.0.0.1:8080/", false, true},
    {"https://127.1/", false, true},
    {"https://2130706433/", false, true},
    {"https://0x7f000001/", false, true},
    {"https://localhost/", false, true},
    {"http://localhost.:80/", false, true},
    {"https://foo.localhost/", false, true},
    {"https://[::1]/", false, true},
    {"https://[::ffff:127.0.0.1]/", false, true},
    {"https://10.0.0.1/", false, false},
    {"https://172.16.5.4/", false, false},
    {"https://172.31.255.255/", false, false},
    {"https://192.168.1.1/", false, false},
    {"https://169.254.169.254/latest/meta-data", false, false},
    {"https://100.64.0.1/", false, false},
    {"https://0.0.0.0/", false, false},
    {"https://224.0.0.1/", false, false},
    {"https://255.255.255.255/", false, false},
    {"https://[fe80::1]/", false, false},
    {"https://[fc00::1]/", false, false},
    {"https://[fd12:3456::1]/", false, false},
    {"https://[::]/", false, false},
    {"https://[::ffff:10.0.0.1]/", false, false},
    {"https://[::ffff:169.254.169.254]/", false, false},
    {"https://[64:ff9b::a00:1]/", false, false},
    {"https://[2002:a00:1::]/", false, false},
    {"https://[ff02::1]/", false, false},
    {"http://10.0.0.1/", false, false},
    {"https://172.32.0.1/", true, true}, /* just outside 172.16/12 */
    {"https://11.0.0.1/", true, true},
};

static void test_guard_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int strict = sg_url_guard(cases[i].url, false);
        int loose = sg_url_guard(cases[i].url, true);
        if ((strict == SG_OK) != cases[i].ok_strict)
            fail_msg("%s: strict guard gave %d (%s)", cases[i].url, strict, sg_err_msg());
        if ((loose == SG_OK) != cases[i].ok_loopback)
            fail_msg("%s: loopback-allowed guard gave %d (%s)", cases[i].url, loose, sg_err_msg());
        if (strict != SG_OK)
            assert_int_equal(strict, SG_EDENIED);
    }
}

static void test_guard_addr(void **state)
{
    (void)state;
    struct sockaddr_in in4 = {0};
    in4.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &in4.sin_addr);
    assert_int_equal(sg_url_guard_addr((struct sockaddr *)&in4, false), SG_EDENIED);
    assert_int_equal(sg_url_guard_addr((struct sockaddr *)&in4, true), SG_OK);
    inet_pton(AF_INET, "10.1.2.3", &in4.sin_addr);
    assert_int_equal(sg_url_guard_addr((struct sockaddr *)&in4, true), SG_EDENIED);
    assert_non_null(strstr(sg_err_msg(), "10.1.2.3"));
    inet_pton(AF_INET, "93.184.216.34", &in4.sin_addr);
    assert_int_equal(sg_url_guard_addr((struct sockaddr *)&in4, false), SG_OK);
    struct sockaddr_in6 in6 = {0};
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.168.0.1", &in6.sin6_addr);
    assert_int_equal(sg_url_guard_addr((struct sockaddr *)&in6, true), SG_EDENIED);
    inet_pton(AF_INET6, "2a00:1450:4001::1", &in6.sin6_addr);
    assert_int_equal(sg_url_guard_addr((struct sockaddr *)&in6, false), SG_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_guard_table),
        cmocka_unit_test(test_guard_addr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
