/* connectors: the table lookup and discovery's name patterns. */
#include "gate/connectors/connectors.h"

#include "core/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void test_find(void **state)
{
    (void)state;
    const sg_connector *k = sg_connector_find("postgres");
    assert_non_null(k);
    assert_non_null(k->apply);
    assert_non_null(k->discover);
    assert_true(k->needs_db_role);
    assert_int_equal(k->name_parts, 3);
    /* mysql is one row, found by its kind or its other name. */
    k = sg_connector_find("mysql");
    assert_non_null(k);
    assert_ptr_equal(sg_connector_find("mariadb"), k);
    assert_string_equal(k->kind, "mysql");
    assert_non_null(k->check_config);
    assert_non_null(k->test_login);
    assert_non_null(k->apply);
    assert_non_null(k->verify);
    assert_non_null(k->discover);
    assert_true(k->needs_db_role);
    assert_int_equal(k->name_parts, 2);
    sg_connection_ref ref = {"id", "my", "mysql", "{}", ""};
    assert_int_equal(k->check_request(&ref, "db.t", "table", "write"), SG_OK);
    assert_int_equal(k->check_request(&ref, "db", "schema", "write"), SG_OK);
    assert_int_equal(k->check_request(&ref, "db.v", "view", "read"), SG_OK);
    assert_int_equal(k->check_request(&ref, "db.v", "view", "write"), SG_EINVAL);
    assert_int_equal(k->check_request(&ref, "db.d", "dataset", "read"), SG_EINVAL);
    /* postgres grants on tables and views, not schemas. */
    ref.kind = "postgres";
    assert_int_equal(sg_connector_find("postgres")->check_request(&ref, "d.s", "schema", "read"),
                     SG_EINVAL);
    k = sg_connector_find("manual");
    assert_non_null(k);
    assert_null(k->apply); /* a person applies it */
    assert_null(sg_connector_find("oracle"));
    assert_non_null(strstr(sg_err_msg(), "postgres, mysql (or mariadb), webhook or manual"));
    assert_null(sg_connector_find(NULL));
    assert_string_equal(sg_connector_kinds_text(),
                        "postgres, mysql (or mariadb), webhook or manual");
    const char *const *kinds = sg_connector_kinds();
    assert_string_equal(kinds[0], "postgres");
    assert_string_equal(kinds[1], "mysql");
    assert_null(kinds[4]);
}

static void test_match(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *name;
        bool match;
    } cases[] = {
        {"*", "analytics.sales.orders", true},
        {"*", "", true},
        {"", "", true},
        {"", "a", false},
        {"analytics.sales.*", "analytics.sales.orders", true},
        {"analytics.sales.*", "analytics.sales", false},
        {"analytics.sales*", "analytics.sales", true},
        {"analytics.sales.*", "analytics.hr.people", false},
        {"*.tmp_*", "analytics.sales.tmp_scratch", true},
        {"*.tmp_*", "analytics.sales.temp", false},
        {"analytics.bulk.t1?", "analytics.bulk.t15", true},
        {"analytics.bulk.t1?", "analytics.bulk.t1", false},
        {"analytics.bulk.t1?", "analytics.bulk.t150", false},
        {"*.t[0-4]", "a.b.t3", true},
        {"*.t[0-4]", "a.b.t7", false},
        {"*.t[!0-4]", "a.b.t7", true},
        {"*.t[!0-4]", "a.b.t3", false},
        {"a[bc]d", "acd", true},
        {"a[]]d", "a]d", true},
        {"a[b", "a[b", true}, /* an unclosed [ is itself */
        {"a[b", "ab", false},
        {"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
        {"Orders", "orders", false}, /* case matters, as in the catalog */
        {"**", "x", true},
        {"a*", "a", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (sg_discover_match(cases[i].pattern, cases[i].name) != cases[i].match)
            fail_msg("'%s' against '%s': wanted %s", cases[i].pattern, cases[i].name,
                     cases[i].match ? "a match" : "none");
}

static void test_admits(void **state)
{
    (void)state;
    const char *inc[] = {"db.sales.*", "db.hr.*", NULL}, *exc[] = {"*.tmp_*", NULL},
               *none[] = {NULL};
    sg_discover_opts o = {inc, exc};
    assert_true(sg_discover_admits(&o, "db.sales.orders"));
    assert_true(sg_discover_admits(&o, "db.hr.people"));
    assert_false(sg_discover_admits(&o, "db.sales.tmp_x"));
    assert_false(sg_discover_admits(&o, "db.ops.jobs"));
    sg_discover_opts all = {none, exc};
    assert_true(sg_discover_admits(&all, "db.ops.jobs"));
    assert_false(sg_discover_admits(&all, "db.ops.tmp_jobs"));
    sg_discover_opts nothing = {NULL, NULL};
    assert_true(sg_discover_admits(&nothing, "anything"));
    assert_true(sg_discover_admits(NULL, "anything"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_admits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
