/* Tests for gate/servicenow/preview: the verdict on each preview problem of snowgate's own
 * update set, as a table of cases over the XML sg_updateset_generate makes; and the
 * sanitizing of text from the instance (core/str's sg_str_sanitize). */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/xml.h"
#include "gate/servicenow/preview.h"
#include "gate/servicenow/updateset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBLEM_ID "0123456789abcdef0123456789abcdef"
#define ROW_ID     "fedcba9876543210fedcba9876543210"
#define OTHER_ID   "00000000000000000000000000000001"

#define CATEGORY_ID "c0ffee00c0ffee00c0ffee00c0ffee00"

/* snowgate's set for the integration `seed`; category: the item's category of the instance's
 * own (--catalog-category), or NULL. */
static char *xml_of(const char *seed, const char *category)
{
    sg_updateset_opts o = {"https://gate.example.com/webhooks/servicenow", seed,
                           "2026-12-05 18:00:00", category};
    char *xml = NULL;
    size_t len = 0;
    assert_int_equal(sg_updateset_generate(&o, &xml, &len), SG_OK);
    return xml;
}

/* The payload of the first row whose record is of `table` (caller frees), and in field_value
 * (when field is not NULL) that record's field. */
static char *payload_of(const char *xml, const char *table, const char *field, char field_value[64])
{
    sg_xml_doc *doc = NULL;
    assert_int_equal(sg_xml_parse(xml, strlen(xml), 0, &doc), SG_OK);
    char *found = NULL;
    for (sg_xml_node *n = sg_xml_first(sg_xml_root(doc)); n && !found; n = sg_xml_next(n)) {
        sg_xml_node *pl = sg_xml_child(n, "payload");
        if (!pl)
            continue;
        char *payload = sg_xml_text(pl);
        sg_xml_doc *pd = NULL;
        assert_int_equal(sg_xml_parse(payload, strlen(payload), 0, &pd), SG_OK);
        sg_xml_node *rec = sg_xml_first(sg_xml_root(pd));
        if (strcmp(sg_xml_name(rec), table) == 0) {
            found = payload;
            if (field) {
                char *v = sg_xml_text(sg_xml_child(rec, field));
                snprintf(field_value, 64, "%s", v);
                free(v);
            }
        } else {
            free(payload);
        }
        sg_xml_free(pd);
    }
    sg_xml_free(doc);
    assert_non_null(found);
    return found;
}

typedef struct judge_case {
    const char *name;
    const char *sys_id, *remote_update;
    const char *payload_table; /* whose row the payload is (from the "ours" XML) */
    const char *ref_field;     /* that record's field whose value is the missing_item */
    bool other_seed;           /* the payload comes from another integration's XML */
    bool synthetic;            /* from and judged against the set generated with a category of
                                * the instance's own (CATEGORY_ID), which the set does not carry */
    const char *tamper;        /* appended to the payload ("" or NULL: none) */
    const char *description;
    const char *missing_item; /* NULL: the ref_field's value */
    const char *missing_item_table;
    sg_preview_verdict want;
    const char *why_has;
} judge_case;

#define MISSING(table, col)                                                                        \
    "Could not find a record in " table " for column " col " referenced in this update"

static const judge_case cases[] = {
    /* In snowgate's own set the category is one of its records: a problem about it means its
     * row is missing from the set. */
    {"a missing category that is snowgate's own", PROBLEM_ID, ROW_ID, "sc_cat_item", "category",
     false, false, NULL, MISSING("sc_category", "category"), NULL, "sc_category",
     SG_PREVIEW_REFUSED, "its row is missing from the set"},
    {"the catalog (snowgate's own) under another table's name", PROBLEM_ID, ROW_ID, "sc_cat_item",
     "sc_catalogs", false, false, NULL, MISSING("sc_category", "sc_catalogs"), NULL, "sc_category",
     SG_PREVIEW_REFUSED, "snowgate's own sc_catalog "},
    {"a record snowgate needs (the variables' catalog item)", PROBLEM_ID, ROW_ID, "item_option_new",
     "cat_item", false, false, NULL, MISSING("sc_cat_item", "cat_item"), NULL, "sc_cat_item",
     SG_PREVIEW_REFUSED, "snowgate's own sc_cat_item "},
    /* The acceptable case: the set generated with --catalog-category, whose item refers to a
     * category the set does not carry. */
    {"a missing category the set does not carry", PROBLEM_ID, ROW_ID, "sc_cat_item", "category",
     false, true, NULL, MISSING("sc_category", "category"), CATEGORY_ID, "sc_category",
     SG_PREVIEW_ACCEPTABLE, "snowgate does not need it"},
    {"the same with a description that ends after the column", PROBLEM_ID, ROW_ID, "sc_cat_item",
     "category", false, true, NULL, "Could not find a record in sc_category for column category",
     NULL, "sc_category", SG_PREVIEW_ACCEPTABLE, "column category"},
    {"a reference the generator does not write (catalogs as a category)", PROBLEM_ID, ROW_ID,
     "sc_cat_item", "sc_catalogs", false, true, NULL, MISSING("sc_category", "sc_catalogs"),
     OTHER_ID, "sc_category", SG_PREVIEW_REFUSED, "do not refer (column sc_catalogs)"},
    {"the category under another table's name", PROBLEM_ID, ROW_ID, "sc_cat_item", "category",
     false, true, NULL, MISSING("sc_catalog", "category"), NULL, "sc_catalog", SG_PREVIEW_REFUSED,
     "do not refer (column category) to sc_catalog"},
    {"a security table: an ACL's role", PROBLEM_ID, ROW_ID, "sys_security_acl_role",
     "sys_user_role", false, false, NULL, MISSING("sys_user_role", "sys_user_role"), NULL,
     "sys_user_role", SG_PREVIEW_REFUSED, "security-relevant"},
    {"a security table: a Scripted REST resource", PROBLEM_ID, ROW_ID, "sys_ws_operation",
     "web_service_definition", false, false, NULL,
     MISSING("sys_ws_definition", "web_service_definition"), NULL, "sys_ws_definition",
     SG_PREVIEW_REFUSED, "security-relevant"},
    {"a collision", PROBLEM_ID, ROW_ID, "sc_category", NULL, false, false, NULL,
     "Found a local update that is newer than this one (sc_category updated 2026-12-06 "
     "10:00:00)",
     OTHER_ID, "sc_category", SG_PREVIEW_COLLISION, "changed on the instance"},
    {"a collision on a security table is a collision", PROBLEM_ID, ROW_ID, "sys_user_role", NULL,
     false, false, NULL, "Found a local update that is newer than this one", OTHER_ID,
     "sys_user_role", SG_PREVIEW_COLLISION,
     "on a security-relevant table: find out who changed it"},
    {"missing_item_table differs from the description", PROBLEM_ID, ROW_ID, "sc_cat_item",
     "category", false, true, NULL, MISSING("sc_category", "category"), NULL, "sys_user_role",
     SG_PREVIEW_REFUSED, "missing_item_table 'sys_user_role'"},
    {"missing_item_table absent", PROBLEM_ID, ROW_ID, "sc_cat_item", "category", false, true, NULL,
     MISSING("sc_category", "category"), NULL, NULL, SG_PREVIEW_REFUSED, "missing_item_table"},
    {"missing_item is not what the column holds", PROBLEM_ID, ROW_ID, "sc_cat_item", "category",
     false, true, NULL, MISSING("sc_category", "category"), OTHER_ID, "sc_category",
     SG_PREVIEW_REFUSED, "not what column category"},
    {"a column the generator does not refer by", PROBLEM_ID, ROW_ID, "sc_cat_item", "category",
     false, true, NULL, MISSING("sc_category", "parent"), NULL, "sc_category", SG_PREVIEW_REFUSED,
     "do not refer (column parent)"},
    {"a row not from snowgate's XML (payload changed on the instance)", PROBLEM_ID, ROW_ID,
     "sc_cat_item", "category", false, true, " ", MISSING("sc_category", "category"), NULL,
     "sc_category", SG_PREVIEW_REFUSED, "not one snowgate generated"},
    {"a row from another integration's update set", PROBLEM_ID, ROW_ID, "sc_cat_item", "category",
     true, true, NULL, MISSING("sc_category", "category"), NULL, "sc_category", SG_PREVIEW_REFUSED,
     "not one snowgate generated"},
    {"a bad problem sys_id", "0123456789ABCDEF0123456789ABCDEF", ROW_ID, "sc_cat_item", "category",
     false, true, NULL, MISSING("sc_category", "category"), NULL, "sc_category", SG_PREVIEW_REFUSED,
     "not a sys_id"},
    {"a bad remote_update", PROBLEM_ID, "../sys_user/" ROW_ID, "sc_cat_item", "category", false,
     true, NULL, MISSING("sc_category", "category"), NULL, "sc_category", SG_PREVIEW_REFUSED,
     "not a sys_id"},
    {"a bad missing_item", PROBLEM_ID, ROW_ID, "sc_cat_item", "category", false, true, NULL,
     MISSING("sc_category", "category"), "x", "sc_category", SG_PREVIEW_REFUSED, "not what column"},
    {"another kind of problem", PROBLEM_ID, ROW_ID, "sc_cat_item", "category", false, true, NULL,
     "Could not load the payload", NULL, "sc_category", SG_PREVIEW_REFUSED,
     "not a missing reference"},
    {"a description with a control character in the table", PROBLEM_ID, ROW_ID, "sc_cat_item",
     "category", false, true, NULL,
     "Could not find a record in sc_category\x1b[31m for column category", NULL, "sc_category",
     SG_PREVIEW_REFUSED, "not a missing reference"},
    {"a description with more after the column name", PROBLEM_ID, ROW_ID, "sc_cat_item", "category",
     false, true, NULL, "Could not find a record in sc_category for column category;x", NULL,
     "sc_category", SG_PREVIEW_REFUSED, "not a missing reference"},
};

/* A category that is one of snowgate's own records is refused by the generator. */
static void test_category_not_ours(void **state)
{
    (void)state;
    char *xml = xml_of("client-1", NULL);
    char role_id[64] = "";
    free(payload_of(xml, "sys_user_role", "sys_id", role_id));
    free(xml);
    sg_updateset_opts o = {"https://gate.example.com/webhooks/servicenow", "client-1",
                           "2026-12-05 18:00:00", role_id};
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(sg_updateset_generate(&o, &out, &len), SG_EINVAL);
    assert_null(out);
    assert_non_null(strstr(sg_err_msg(), "one of snowgate's own records (sys_user_role)"));
}

static void test_verdicts(void **state)
{
    (void)state;
    char *xml = xml_of("client-1", NULL), *other = xml_of("client-2", NULL);
    char *nocat = xml_of("client-1", CATEGORY_ID);
    sg_preview_ours *ours = NULL, *synthetic = NULL;
    assert_int_equal(sg_preview_ours_parse(xml, strlen(xml), &ours), SG_OK);
    assert_int_equal(sg_preview_ours_parse(nocat, strlen(nocat), &synthetic), SG_OK);
    assert_int_equal(sg_preview_ours_count(synthetic) + 1, sg_preview_ours_count(ours));
    int failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const judge_case *c = &cases[i];
        char value[64] = "";
        char *payload = payload_of(c->other_seed  ? other
                                   : c->synthetic ? nocat
                                                  : xml,
                                   c->payload_table, c->ref_field, value);
        if (c->tamper && *c->tamper) {
            char *t = sg_xasprintf("%s%s", payload, c->tamper);
            free(payload);
            payload = t;
        }
        sg_preview_problem p = {.sys_id = c->sys_id,
                                .description = c->description,
                                .remote_update = c->remote_update,
                                .missing_item = c->missing_item ? c->missing_item : value,
                                .missing_item_table = c->missing_item_table,
                                .payload = payload};
        char why[512];
        sg_preview_verdict v =
            sg_preview_judge(&p, c->synthetic ? synthetic : ours, why, sizeof(why));
        if (v != c->want || !strstr(why, c->why_has)) {
            fprintf(stderr, "case '%s': %s (%s), want %s with '%s'\n", c->name,
                    sg_preview_verdict_name(v), why, sg_preview_verdict_name(c->want), c->why_has);
            failed++;
        }
        free(payload);
    }
    /* No payload read: refused. */
    sg_preview_problem none = {.sys_id = PROBLEM_ID,
                               .description = MISSING("sc_category", "category"),
                               .remote_update = ROW_ID,
                               .missing_item = OTHER_ID,
                               .missing_item_table = "sc_category",
                               .payload = NULL};
    char why[512];
    assert_int_equal(sg_preview_judge(&none, ours, why, sizeof(why)), SG_PREVIEW_REFUSED);
    sg_preview_ours_free(ours);
    sg_preview_ours_free(synthetic);
    free(xml);
    free(nocat);
    free(other);
    assert_int_equal(failed, 0);
}

static void test_security_tables(void **state)
{
    (void)state;
    static const char *const yes[] = {"sys_user_role",
                                      "sys_user_role_contains",
                                      "sys_security_acl",
                                      "sys_security_acl_role",
                                      "sys_security_attribute",
                                      "sys_ws_definition",
                                      "sys_ws_operation",
                                      "sys_script",
                                      "sys_script_include",
                                      "sys_scope",
                                      "sys_user",
                                      "sys_user_has_role",
                                      "sys_properties",
                                      NULL};
    static const char *const no[] = {"sc_cat_item", "sc_category",    "item_option_new",
                                     "sc_catalog",  "sys_user_group", NULL};
    for (int i = 0; yes[i]; i++)
        if (!sg_preview_security_table(yes[i]))
            fail_msg("%s is security-relevant", yes[i]);
    for (int i = 0; no[i]; i++)
        if (sg_preview_security_table(no[i]))
            fail_msg("%s is not security-relevant", no[i]);
}

static void test_ours_parse(void **state)
{
    (void)state;
    sg_preview_ours *o = NULL;
    assert_int_equal(sg_preview_ours_parse("<unload/>", 9, &o), SG_OK);
    sg_preview_ours_free(o);
    assert_int_equal(sg_preview_ours_parse("<other/>", 8, &o), SG_EINVAL);
    assert_null(o);
    static const char bad[] =
        "<unload><sys_update_xml><payload>&lt;record_update&gt;&lt;sc_cat_item&gt;"
        "&lt;sys_id&gt;nope&lt;/sys_id&gt;&lt;/sc_cat_item&gt;&lt;/record_update&gt;"
        "</payload></sys_update_xml></unload>";
    assert_int_equal(sg_preview_ours_parse(bad, strlen(bad), &o), SG_EINVAL);
    assert_null(o);
    sg_preview_ours_free(NULL);
}

/* The rows of an XML as the instance would list them (fields borrowed from rows_json). */
static size_t rows_of(const char *xml, sg_json *rows_json, sg_preview_row *rows, size_t max)
{
    sg_xml_doc *doc = NULL;
    assert_int_equal(sg_xml_parse(xml, strlen(xml), 0, &doc), SG_OK);
    static const char *const fields[] = {"sys_id", "action",  "name", "table",
                                         "type",   "payload", NULL};
    for (sg_xml_node *n = sg_xml_first(sg_xml_root(doc)); n; n = sg_xml_next(n)) {
        if (strcmp(sg_xml_name(n), "sys_update_xml") != 0)
            continue;
        sg_json *o = sg_json_object();
        for (int f = 0; fields[f]; f++) {
            char *t = sg_xml_text(sg_xml_child(n, fields[f]));
            sg_json_set_str(o, fields[f], t);
            free(t);
        }
        sg_json_append(rows_json, o);
    }
    sg_xml_free(doc);
    size_t n = sg_json_array_size(rows_json);
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++) {
        sg_json *o = sg_json_array_get(rows_json, i);
        rows[i] = (sg_preview_row){sg_json_get_str(o, "sys_id"), sg_json_get_str(o, "action"),
                                   sg_json_get_str(o, "name"),   sg_json_get_str(o, "table"),
                                   sg_json_get_str(o, "type"),   sg_json_get_str(o, "payload")};
    }
    return n;
}

static void expect_rows(const sg_preview_ours *ours, const sg_preview_row *rows, size_t n,
                        bool want, const char *has)
{
    sg_buf diff = SG_BUF_INIT(0);
    bool same = sg_preview_rows_match(ours, rows, n, &diff);
    if (same != want || (has && !strstr(sg_buf_str(&diff), has)))
        fail_msg("rows match %d, want %d with '%s':\n%s", same, want, has ? has : "",
                 sg_buf_str(&diff));
    sg_buf_free(&diff);
}

/* The set on the instance must hold exactly snowgate's rows. */
static void test_rows_match(void **state)
{
    (void)state;
    char *xml = xml_of("client-1", NULL);
    sg_preview_ours *ours = NULL;
    assert_int_equal(sg_preview_ours_parse(xml, strlen(xml), &ours), SG_OK);
    sg_json *js = sg_json_array();
    sg_preview_row rows[SG_PREVIEW_MAX_ROWS + 1];
    size_t n = rows_of(xml, js, rows, SG_PREVIEW_MAX_ROWS);
    assert_int_equal(n, sg_preview_ours_count(ours));
    expect_rows(ours, rows, n, true, NULL);
    /* In another order: the same. */
    sg_preview_row t = rows[0];
    rows[0] = rows[n - 1];
    rows[n - 1] = t;
    expect_rows(ours, rows, n, true, NULL);
    /* A row missing. */
    expect_rows(ours, rows, n - 1, false, "the set holds 37 row(s); snowgate generated 38");
    /* A second copy of a row instead of another. */
    sg_preview_row saved = rows[1];
    rows[1] = rows[2];
    rows[1].sys_id = "11111111111111111111111111111111";
    expect_rows(ours, rows, n, false, "a second row with the payload of snowgate's");
    rows[1] = saved;
    /* A row whose payload is not snowgate's, one with another type, name or action. */
    saved = rows[3];
    rows[3].payload = "<record_update/>";
    expect_rows(ours, rows, n, false, "its payload is not one snowgate generated");
    rows[3] = saved;
    saved = rows[4];
    rows[4].type = "Business Rule";
    expect_rows(ours, rows, n, false, "but its type is 'Business Rule'");
    rows[4] = saved;
    rows[4].name = "sys_script_0123";
    expect_rows(ours, rows, n, false, "but its name is 'sys_script_0123'");
    rows[4] = saved;
    rows[4].action = NULL;
    expect_rows(ours, rows, n, false, "but its action is ''");
    rows[4] = saved;
    /* An extra row. */
    rows[n] = rows[0];
    rows[n].payload = "<record_update><sys_properties/></record_update>";
    expect_rows(ours, rows, n + 1, false, "the set holds 39 row(s)");
    expect_rows(ours, rows, n, true, NULL);
    sg_json_decref(js);
    sg_preview_ours_free(ours);
    free(xml);
}

/* A failed accept lists which problems were already marked ignored. */
static void test_accept_failed(void **state)
{
    (void)state;
    const char *descs[] = {"Could not find a record in sc_category for column category", "second"};
    const char *ids[] = {PROBLEM_ID, OTHER_ID};
    sg_buf b = SG_BUF_INIT(0);
    sg_preview_accept_failed(&b, descs, ids, 0, 2);
    assert_non_null(strstr(sg_buf_str(&b), "No problem was marked ignored before this failure"));
    sg_buf_free(&b);
    b = (sg_buf)SG_BUF_INIT(0);
    sg_preview_accept_failed(&b, descs, ids, 1, 2);
    assert_non_null(strstr(sg_buf_str(&b),
                           "Already marked ignored before this failure (1 of 2):\n"
                           "  \"Could not find a record in sc_category for column "
                           "category\" (sys_update_preview_problem " PROBLEM_ID ")\n"));
    assert_null(strstr(sg_buf_str(&b), "second"));
    sg_buf_free(&b);
}

static void test_sanitize(void **state)
{
    (void)state;
    char out[16];
    assert_string_equal(sg_str_sanitize(out, sizeof(out), "plain text"), "plain text");
    assert_string_equal(sg_str_sanitize(out, sizeof(out), "a\x1b[31mb\r\nc"), "a?[31mb??c");
    assert_string_equal(sg_str_sanitize(out, sizeof(out), "caf\xc3\xa9\x7f"), "caf???");
    assert_string_equal(sg_str_sanitize(out, sizeof(out), "0123456789abcdef"), "0123456789ab...");
    assert_string_equal(sg_str_sanitize(out, sizeof(out), "0123456789abcde"), "0123456789abcde");
    assert_string_equal(sg_str_sanitize(out, sizeof(out), NULL), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),        cmocka_unit_test(test_category_not_ours),
        cmocka_unit_test(test_security_tables), cmocka_unit_test(test_ours_parse),
        cmocka_unit_test(test_accept_failed),   cmocka_unit_test(test_rows_match),
        cmocka_unit_test(test_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
