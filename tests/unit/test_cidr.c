/* Tests for core/cidr: parsing address ranges, refusing bad ones with the entry named, and
 * matching IPv4, IPv6 and IPv4-mapped addresses. */
#include "e2e/harness.h"

#include "core/cidr.h"
#include "core/err.h"
#include "core/str.h"

#include <stdio.h>
#include <string.h>

static void test_matches(void **state)
{
    (void)state;
    sg_cidr_list l;
    assert_int_equal(sg_cidr_parse(" 10.0.0.0/8,192.168.1.7  fd00::/8\n::1, 0.0.0.0/0x", "t", &l),
                     SG_EINVAL);
    assert_int_equal(l.n, 0);
    assert_int_equal(sg_cidr_parse(" 10.0.0.0/8,192.168.1.7  fd00::/8\n::1", "t", &l), SG_OK);
    assert_int_equal(l.n, 4);
    assert_true(sg_cidr_contains(&l, "10.1.2.3"));
    assert_true(sg_cidr_contains(&l, "10.255.255.255"));
    assert_false(sg_cidr_contains(&l, "11.0.0.0"));
    assert_true(sg_cidr_contains(&l, "192.168.1.7"));
    assert_false(sg_cidr_contains(&l, "192.168.1.8"));
    assert_true(sg_cidr_contains(&l, "fd12:3456::1"));
    assert_false(sg_cidr_contains(&l, "fe80::1"));
    assert_true(sg_cidr_contains(&l, "::1"));
    assert_false(sg_cidr_contains(&l, "::2"));
    /* An IPv4-mapped IPv6 peer is its IPv4 address. */
    assert_true(sg_cidr_contains(&l, "::ffff:10.9.8.7"));
    assert_false(sg_cidr_contains(&l, "::ffff:11.9.8.7"));
    /* Not addresses. */
    assert_false(sg_cidr_contains(&l, ""));
    assert_false(sg_cidr_contains(&l, "10.0.0.1:80"));
    assert_false(sg_cidr_contains(&l, "unknown"));
    assert_false(sg_cidr_contains(&l, NULL));
}

static void test_prefix_edges(void **state)
{
    (void)state;
    sg_cidr_list l;
    assert_int_equal(sg_cidr_parse("172.16.0.0/12", "t", &l), SG_OK);
    assert_true(sg_cidr_contains(&l, "172.31.255.1"));
    assert_false(sg_cidr_contains(&l, "172.32.0.1"));
    assert_int_equal(sg_cidr_parse("0.0.0.0/0", "t", &l), SG_OK);
    assert_true(sg_cidr_contains(&l, "8.8.8.8"));
    assert_false(sg_cidr_contains(&l, "2001:db8::1"));
    assert_int_equal(sg_cidr_parse("::ffff:10.0.0.0/104", "t", &l), SG_OK);
    assert_true(sg_cidr_contains(&l, "10.2.3.4"));
    assert_int_equal(sg_cidr_parse("", "t", &l), SG_OK);
    assert_int_equal(l.n, 0);
    assert_false(sg_cidr_contains(&l, "127.0.0.1"));
    assert_int_equal(sg_cidr_parse(NULL, "t", &l), SG_OK);
    assert_int_equal(l.n, 0);
}

static void test_refusals_name_the_entry(void **state)
{
    (void)state;
    sg_cidr_list l;
    static const char *const bad[] = {"10.0.0.1/8", "10.0.0.0/33",  "10.0.0.0/-1",
                                      "10.0.0/8",   "host.example", "/8",
                                      "::/129",     "10.0.0.0/",    "::ffff:10.0.0.0/90"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sg_cidr_parse(bad[i], "http.trusted_proxies", &l), SG_EINVAL);
        assert_non_null(strstr(sg_err_msg(), "http.trusted_proxies"));
        assert_int_equal(l.n, 0);
    }
    /* More than the cap is refused, not cut. */
    char many[SG_CIDR_MAX * 16 + 32] = "";
    for (int i = 0; i <= SG_CIDR_MAX; i++) {
        char one[24];
        snprintf(one, sizeof(one), "10.0.%d.0/24,", i);
        sg_strlcat(many, one, sizeof(many));
    }
    assert_int_equal(sg_cidr_parse(many, "t", &l), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "more than"));
}

static void test_client_key(void **state)
{
    (void)state;
    char k[64];
    sg_cidr_client_key("192.0.2.7", k);
    assert_string_equal(k, "192.0.2.7");
    sg_cidr_client_key("2001:db8:1:2:aaaa::1", k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    sg_cidr_client_key("2001:db8:1:2:bbbb::9", k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    sg_cidr_client_key("::ffff:192.0.2.7", k);
    assert_string_equal(k, "192.0.2.7");
    sg_cidr_client_key("not-an-address", k);
    assert_string_equal(k, "not-an-address");
    sg_cidr_client_key(NULL, k);
    assert_string_equal(k, "");
}

static void test_canonical(void **state)
{
    (void)state;
    char out[46];
    assert_true(sg_cidr_addr_canonical("2001:DB8:0::1", out));
    assert_string_equal(out, "2001:db8::1");
    assert_true(sg_cidr_addr_canonical("::ffff:192.0.2.1", out));
    assert_string_equal(out, "192.0.2.1");
    assert_false(sg_cidr_addr_canonical("192.0.2.1 ", out));
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_prefix_edges),
        cmocka_unit_test(test_refusals_name_the_entry),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_client_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
