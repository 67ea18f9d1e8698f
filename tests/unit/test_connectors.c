/* connectors: the table lookup, the invariants every row of the table keeps (and the other
 * places that name the kinds), the account checks, and discovery's name patterns. */
#include "gate/connectors/connectors.h"
#include "gate/connectors/shared.h"

#include "core/err.h"
#include "core/str.h"
#include "gate/governance/users.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Whether name is a kind or another row's alias, counted over the table. */
static int named(const char *name)
{
    int n = 0;
    for (const char *const *k = sg_connector_kinds(); *k; k++) {
        const sg_connector *c = sg_connector_find(*k);
        n += strcmp(c->kind, name) == 0;
        n += c->alias && strcmp(c->alias, name) == 0;
    }
    return n;
}

/* What every row of the table must be, so that a new kind cannot be half added. */
static void test_every_row(void **state)
{
    (void)state;
    size_t rows = 0;
    for (const char *const *k = sg_connector_kinds(); *k; k++, rows++) {
        const sg_connector *c = sg_connector_find(*k);
        assert_non_null(c);
        const char *kind = c->kind;
        /* Stored in connections.kind and read into 16-byte buffers (fulfilment.c): short,
         * lower case, one word. */
        if (!*kind || strlen(kind) > 15)
            fail_msg("kind '%s' is empty or longer than 15 bytes", kind);
        for (const char *p = kind; *p; p++)
            if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
                fail_msg("kind '%s' is not lower-case letters, digits and _", kind);
        if (named(kind) != 1)
            fail_msg("kind '%s' names more than one row", kind);
        if (c->alias) {
            assert_true(*c->alias);
            if (named(c->alias) != 1)
                fail_msg("alias '%s' of %s names more than one row", c->alias, kind);
            assert_ptr_equal(sg_connector_find(c->alias), c);
        }
        /* Grants to an account: applied by snowgate, and the account is checked. */
        if (c->needs_db_role && (!c->apply || !c->check_account))
            fail_msg("%s needs a db_role but lacks apply or check_account", kind);
        if (c->check_account && !c->needs_db_role)
            fail_msg("%s checks accounts but takes none (needs_db_role)", kind);
        if (c->verify && !c->apply)
            fail_msg("%s verifies what it never applies", kind);
        if (c->discover && c->name_parts != 2 && c->name_parts != 3)
            fail_msg("%s discovers, with name_parts %d (2 or 3)", kind, c->name_parts);
        if (!c->discover && c->name_parts != 0)
            fail_msg("%s has name_parts but no discover", kind);
        if (c->secret_field && !c->check_config)
            fail_msg("%s seals a secret but checks no config", kind);
        if (!c->state_new != !c->state_free)
            fail_msg("%s makes state it never frees, or frees what it never made", kind);
    }
    assert_true(rows >= 1);
    assert_null(sg_connector_kinds()[rows]);
}

/* The whole text of a file under the source tree (the caller frees it). */
static char *source_file(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", SG_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Outside the code, the kinds are named in the OpenAPI spec and in the store's CHECK on
 * connections.kind: both must list the table's kinds, in its order. */
static void test_kinds_named_elsewhere(void **state)
{
    (void)state;
    char plain[256] = "[", aliased[256] = "[", check[256] = "(";
    for (const char *const *k = sg_connector_kinds(); *k; k++) {
        const sg_connector *c = sg_connector_find(*k);
        const char *sep = k == sg_connector_kinds() ? "" : ", ";
        sg_strlcat(plain, sep, sizeof(plain));
        sg_strlcat(plain, c->kind, sizeof(plain));
        sg_strlcat(aliased, sep, sizeof(aliased));
        sg_strlcat(aliased, c->kind, sizeof(aliased));
        if (c->alias) {
            sg_strlcat(aliased, ", ", sizeof(aliased));
            sg_strlcat(aliased, c->alias, sizeof(aliased));
        }
        sg_strlcat(check, sep, sizeof(check));
        sg_strlcat(check, "'", sizeof(check));
        sg_strlcat(check, c->kind, sizeof(check));
        sg_strlcat(check, "'", sizeof(check));
    }
    sg_strlcat(plain, "]", sizeof(plain));
    sg_strlcat(aliased, "]", sizeof(aliased));
    sg_strlcat(check, ")", sizeof(check));
    /* openapi: every "enum: [postgres, ..." is the kinds (a Connection's kind), or the kinds
     * with their aliases (the kind a new connection may be given). */
    char *spec = source_file("docs/openapi.yaml");
    int seen_plain = 0, seen_aliased = 0;
    for (char *p = spec; (p = strstr(p, "enum: [")) != NULL; p++) {
        char *list = p + 6, *end = strchr(list, ']');
        assert_non_null(end);
        size_t n = (size_t)(end - list) + 1;
        const char *first = sg_connector_kinds()[0];
        if (strncmp(list + 1, first, strlen(first)) != 0 || list[1 + strlen(first)] != ',')
            continue; /* another enum */
        if (n == strlen(plain) && strncmp(list, plain, n) == 0)
            seen_plain++;
        else if (n == strlen(aliased) && strncmp(list, aliased, n) == 0)
            seen_aliased++;
        else
            fail_msg("docs/openapi.yaml lists kinds %.*s; the table has %s (or with aliases %s)",
                     (int)n, list, plain, aliased);
    }
    free(spec);
    assert_true(seen_plain >= 1);
    assert_true(seen_aliased >= 1);
    /* The last migration that sets the CHECK on connections.kind lists the kinds. */
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/src/store/migrations", SG_SOURCE_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[256];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < 256;)
        if (strstr(e->d_name, ".sql"))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof(names[0]), by_name);
    /* The last migration with a CHECK on the kind column ("CHECK (kind IN (" or, as 0020's
     * SQLite section makes the column again, "CHECK (kind_new IN ("). */
    char *last = NULL;
    for (size_t i = 0; i < n; i++) {
        char rel[600];
        snprintf(rel, sizeof(rel), "src/store/migrations/%s", names[i]);
        char *text = source_file(rel);
        if (strstr(text, "CHECK (kind IN (") || strstr(text, "CHECK (kind_new IN (")) {
            free(last);
            last = text;
        } else {
            free(text);
        }
        free(names[i]);
    }
    assert_non_null(last);
    /* Every such CHECK in it lists the kinds, and each dialect's section has one: a kind
     * added to one section only fails here. */
    const char *sqlite_at = strstr(last, "-- @sqlite"), *pg_at = strstr(last, "-- @postgres");
    int in_sqlite = 0, in_pg = 0, checks = 0;
    for (char *p = last; (p = strstr(p, "CHECK (kind")) != NULL; p++) {
        char *list = strstr(p, " IN (");
        assert_non_null(list);
        list += 4;
        char *end = strchr(list, ')');
        assert_non_null(end);
        size_t len = (size_t)(end - list) + 1;
        if (len != strlen(check) || strncmp(list, check, len) != 0)
            fail_msg("the last migration's CHECK lists kinds %.*s; the table has %s", (int)len,
                     list, check);
        checks++;
        /* Which section it stands in: the nearer of the two markers before it. */
        const char *sq = sqlite_at && sqlite_at < p ? sqlite_at : NULL;
        const char *g = pg_at && pg_at < p ? pg_at : NULL;
        if (sq && (!g || sq > g))
            in_sqlite++;
        else if (g)
            in_pg++;
    }
    if (sqlite_at || pg_at) {
        assert_true(in_sqlite >= 1);
        assert_true(in_pg >= 1);
    } else {
        assert_true(checks >= 1);
    }
    free(last);
}

/* Each kind checks the accounts grants go to; users.c only the form, and warns with the kinds
 * that refuse a name. */
static void test_check_account(void **state)
{
    (void)state;
    const sg_connector *pg = sg_connector_find("postgres"), *my = sg_connector_find("mysql");
    static const char *const pg_bad[] = {"public",       "PUBLIC",       "Public",
                                         "current_user", "session_user", "CURRENT_ROLE",
                                         "none",         "pg_monitor",   "PG_read_all_data"};
    for (size_t i = 0; i < sizeof(pg_bad) / sizeof(pg_bad[0]); i++) {
        REFUSED(pg->check_account(pg_bad[i]), pg_bad[i]);
        /* The form is fine: set with a warning, refused where the kind is known. */
        assert_int_equal(sg_users_check_db_role(pg_bad[i]), SG_OK);
    }
    REFUSED(pg->check_account("public"), "every role");
    REFUSED(pg->check_account("pg_monitor"), "reserves");
    assert_int_equal(pg->check_account("bob_role"), SG_OK);
    assert_int_equal(pg->check_account("bob@corp"), SG_OK);
    REFUSED(pg->check_account(""), "1 to 63");
    static const char *const my_bad[] = {"root",
                                         "ROOT@localhost",
                                         "root@%",
                                         "mysql.sys",
                                         "mysql.session@localhost",
                                         "mariadb.sys",
                                         "mysql.infoschema",
                                         "debian-sys-maint",
                                         "public",
                                         "current_user"};
    for (size_t i = 0; i < sizeof(my_bad) / sizeof(my_bad[0]); i++)
        REFUSED(my->check_account(my_bad[i]), "database account");
    REFUSED(my->check_account("root@localhost"), "holds every privilege");
    REFUSED(my->check_account("mariadb.sys@localhost"), "keeps for itself");
    REFUSED(my->check_account("@host"), "not a MariaDB account");
    REFUSED(my->check_account("bob@"), "not a MariaDB account");
    REFUSED(my->check_account("b\x01ob"), "control character");
    assert_int_equal(my->check_account("bob"), SG_OK);
    assert_int_equal(my->check_account("bob@10.0.0.%"), SG_OK);
    assert_int_equal(my->check_account("pg_reader"), SG_OK); /* PostgreSQL's rule, not MariaDB's */
    /* The warning where a role is set names each kind that refuses it, and why. */
    char why[1024];
    assert_int_equal(sg_users_db_role_refusals("public", why, sizeof(why)), 2);
    assert_non_null(strstr(why, "on postgres connections: database role 'public' is PUBLIC"));
    assert_non_null(strstr(why, "on mysql connections: database account 'public'"));
    assert_int_equal(sg_users_db_role_refusals("root", why, sizeof(why)), 1);
    assert_non_null(strstr(why, "on mysql connections"));
    assert_null(strstr(why, "postgres"));
    assert_int_equal(sg_users_db_role_refusals("bob_role", why, sizeof(why)), 0);
    assert_string_equal(why, "");
    assert_int_equal(sg_users_db_role_refusals(NULL, why, sizeof(why)), 0);
    /* The form users.c still checks. */
    assert_int_equal(sg_users_check_db_role(""), SG_EINVAL);
    assert_int_equal(sg_users_check_db_role("a\tb"), SG_EINVAL);
    char longer[80];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(sg_users_check_db_role(longer), SG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_every_row),
        cmocka_unit_test(test_kinds_named_elsewhere),
        cmocka_unit_test(test_check_account),
        cmocka_unit_test(test_dotted_names_refused),
        cmocka_unit_test(test_mysql_system_schemas_refused),
        cmocka_unit_test(test_mysql_dsn_messages),
        cmocka_unit_test(test_pin_refuses_any_private_address),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_admits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
