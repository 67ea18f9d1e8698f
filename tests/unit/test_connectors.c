/* connectors: the table lookup and discovery's name patterns. */
#include "gate/connectors/connectors.h"
#include "gate/connectors/shared.h"

#include "core/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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

/* Refused, with words in the message. */
#define REFUSED(call, words)                                                                       \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ == SG_OK || !strstr(sg_err_msg(), (words)))                                        \
            fail_msg("%s: %d '%s' (wanted \"%s\")", #call, rc_, sg_err_msg(), (words));            \
    } while (0)

/* A name with a dot inside a part is ambiguous (database a.b's table t and database a's table
 * b.t are both a.b.t): refused when the request is made, never granted on another object. */
static void test_dotted_names_refused(void **state)
{
    (void)state;
    const sg_connector *my = sg_connector_find("mysql"), *pg = sg_connector_find("postgres");
    sg_connection_ref ref = {"id", "my", "mysql", "{}", ""};
    REFUSED(my->check_request(&ref, "a.b.t", "table", "read"), "ambiguous");
    REFUSED(my->check_request(&ref, "a.b.t", "view", "read"), "ambiguous");
    REFUSED(my->check_request(&ref, "a.b", "schema", "read"), "has a dot");
    assert_int_equal(my->check_request(&ref, "a.b", "table", "read"), SG_OK);
    assert_int_equal(my->check_request(&ref, "a_b", "schema", "read"), SG_OK);
    ref.kind = "postgres";
    REFUSED(pg->check_request(&ref, "d.a.b.t", "table", "read"), "more than 3 parts");
    assert_int_equal(pg->check_request(&ref, "d.s.t", "table", "read"), SG_OK);
    assert_int_equal(pg->check_request(&ref, "s.t", "view", "read"), SG_OK);
    REFUSED(pg->check_request(&ref, "t", "table", "read"), "names no schema");
}

/* The system schemas are never granted on, whatever their case. */
static void test_mysql_system_schemas_refused(void **state)
{
    (void)state;
    const sg_connector *my = sg_connector_find("mysql");
    sg_connection_ref ref = {"id", "my", "mysql", "{}", ""};
    REFUSED(my->check_request(&ref, "mysql.user", "table", "read"), "system schema");
    REFUSED(my->check_request(&ref, "MySQL", "schema", "read"), "system schema");
    REFUSED(my->check_request(&ref, "sys.x", "view", "read"), "system schema");
    REFUSED(my->check_request(&ref, "SYS", "schema", "write"), "system schema");
    REFUSED(my->check_request(&ref, "information_schema.TABLES", "view", "read"), "system schema");
    REFUSED(my->check_request(&ref, "Performance_Schema", "schema", "read"), "system schema");
    assert_int_equal(my->check_request(&ref, "mysqlx.t", "table", "read"), SG_OK);
    assert_int_equal(my->check_request(&ref, "sysadmin", "schema", "read"), SG_OK);
}

/* The mysql DSN's messages say what is wrong, and with which key. */
static void test_mysql_dsn_messages(void **state)
{
    (void)state;
    REFUSED(sg_mysql_check_dsn("host=db.example.com user='u'", false), "user has a quote");
    REFUSED(sg_mysql_check_dsn("host=db.example.com user=u ssl_ca=/a\\b", false),
            "ssl_ca has a quote");
    REFUSED(sg_mysql_check_dsn("host= user=u", false), "host is empty");
    REFUSED(sg_mysql_check_dsn("host=db.example.com user=", false), "user is empty");
    REFUSED(sg_mysql_check_dsn("host=db.example.com user=u ssl_mode=off", false),
            "loopback test flag");
    REFUSED(sg_mysql_check_dsn("host=db.example.com user=u ssl_mode=disable", false),
            "loopback test flag");
    char dsn[700];
    snprintf(dsn, sizeof(dsn), "host=%0300d user=u", 0);
    REFUSED(sg_mysql_check_dsn(dsn, false), "host is longer than 255 bytes");
    snprintf(dsn, sizeof(dsn), "host=db user=%0200d", 0);
    REFUSED(sg_mysql_check_dsn(dsn, false), "user is longer than 128 bytes");
    assert_int_equal(sg_mysql_check_dsn("host=db.example.com user=u", false), SG_OK);
    assert_int_equal(sg_mysql_check_dsn("host=127.0.0.1 user=u ssl_mode=disable", true), SG_OK);
}

static struct addrinfo *ai4(struct addrinfo *ai, struct sockaddr_in *sa, const char *addr,
                            struct addrinfo *next)
{
    memset(ai, 0, sizeof(*ai));
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons(3306);
    assert_int_equal(inet_pton(AF_INET, addr, &sa->sin_addr), 1);
    ai->ai_family = AF_INET;
    ai->ai_socktype = SOCK_STREAM;
    ai->ai_addr = (struct sockaddr *)sa;
    ai->ai_addrlen = sizeof(*sa);
    ai->ai_next = next;
    return ai;
}

/* A database host is pinned only when every address it resolves to passes the outbound guard:
 * one private or loopback address refuses the host, whatever the resolver's order. */
static void test_pin_refuses_any_private_address(void **state)
{
    (void)state;
    struct addrinfo a[3];
    struct sockaddr_in sa[3];
    sg_pinned p;
    struct addrinfo *list =
        ai4(&a[0], &sa[0], "93.184.216.34", ai4(&a[1], &sa[1], "10.0.0.5", NULL));
    REFUSED(sg_connector_pin_list("db.example.com", list, false, &p), "10.0.0.5");
    assert_int_equal(sg_connector_pin_list("db.example.com", list, true, &p), SG_EDENIED);
    list = ai4(&a[0], &sa[0], "93.184.216.34", ai4(&a[1], &sa[1], "127.0.0.1", NULL));
    REFUSED(sg_connector_pin_list("db.example.com", list, false, &p), "loopback");
    /* The test flag admits loopback; the first address is the one connected to. */
    assert_int_equal(sg_connector_pin_list("db.example.com", list, true, &p), SG_OK);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.first, "93.184.216.34");
    assert_false(p.first_loopback);
    assert_true(sg_pinned_has(&p, (struct sockaddr_storage *)&sa[1]));
    struct addrinfo *lo = ai4(&a[2], &sa[2], "127.0.0.1", NULL);
    assert_int_equal(sg_connector_pin_list("localhost", lo, true, &p), SG_OK);
    assert_true(p.first_loopback);
    struct sockaddr_storage other;
    memset(&other, 0, sizeof(other));
    ((struct sockaddr_in *)&other)->sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.2", &((struct sockaddr_in *)&other)->sin_addr);
    assert_false(sg_pinned_has(&p, &other));
    REFUSED(sg_connector_pin_list("nothing", NULL, true, &p), "has no address");
    /* Resolved for real: a numeric host needs no DNS. */
    REFUSED(sg_connector_pin("127.0.0.1", "3306", false, &p), "loopback");
    assert_int_equal(sg_connector_pin("127.0.0.1", "3306", true, &p), SG_OK);
    assert_string_equal(p.first, "127.0.0.1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_dotted_names_refused),
        cmocka_unit_test(test_mysql_system_schemas_refused),
        cmocka_unit_test(test_mysql_dsn_messages),
        cmocka_unit_test(test_pin_refuses_any_private_address),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_admits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
