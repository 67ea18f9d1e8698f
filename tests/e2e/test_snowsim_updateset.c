/* End to end: update sets in snowsim: each of the project's small sets (tests/data/updatesets)
 * through upload, preview (no problems: what they refer to outside themselves, an instance has
 * out of the box) and commit, with its records then read back through the Table API; preview
 * problems, and references found by name; bad uploads. With --corpus, the real exports from
 * the outside corpus, which preview without problems too. */
#include "e2e/sim_helpers.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/xml.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static h_sim sim;

static int start(void **state)
{
    (void)state;
    h_sim_start(&sim, NULL, NULL);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    h_sim_stop(&sim);
    return 0;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

typedef struct expected {
    char table[96];
    char sys_id[33];
    bool present;
} expected;

/* What the committed set should leave: the last action per record decides. */
static int expectations(const char *xml, size_t len, expected *out, int max)
{
    sg_xml_doc *doc = NULL;
    assert_int_equal(sg_xml_parse(xml, len, 0, &doc), SG_OK);
    int n = 0;
    for (sg_xml_node *row = sg_xml_first(sg_xml_root(doc)); row; row = sg_xml_next(row)) {
        if (strcmp(sg_xml_name(row), "sys_update_xml") != 0)
            continue;
        char *payload = sg_xml_text(sg_xml_child(row, "payload"));
        sg_xml_doc *pd = NULL;
        if (sg_xml_parse(payload, strlen(payload), 0, &pd) == SG_OK) {
            for (sg_xml_node *rec = sg_xml_first(sg_xml_root(pd)); rec; rec = sg_xml_next(rec)) {
                char *action = sg_xml_attr(rec, "action");
                sg_xml_node *sid = sg_xml_child(rec, "sys_id");
                char *id = sid ? sg_xml_text(sid) : NULL;
                if (action && id && sim_is_sys_id(id) &&
                    (strcmp(action, "INSERT_OR_UPDATE") == 0 || strcmp(action, "DELETE") == 0)) {
                    int k = 0;
                    while (k < n && !(strcmp(out[k].sys_id, id) == 0 &&
                                      strcmp(out[k].table, sg_xml_name(rec)) == 0))
                        k++;
                    if (k == n && n < max)
                        n++;
                    if (k < max) {
                        snprintf(out[k].table, sizeof(out[k].table), "%s", sg_xml_name(rec));
                        snprintf(out[k].sys_id, sizeof(out[k].sys_id), "%s", id);
                        out[k].present = strcmp(action, "DELETE") != 0;
                    }
                }
                free(action);
                free(id);
            }
            sg_xml_free(pd);
        }
        free(payload);
    }
    sg_xml_free(doc);
    return n;
}

/* The preview problems of set id, ordered by description (caller frees). */
static sg_json *problems_of(const char *id)
{
    const char *admin[] = {sim.admin_auth, NULL};
    char q[512];
    snprintf(q, sizeof(q),
             "/api/now/table/sys_update_preview_problem?sysparm_query=remote_update_set%%3D%s"
             "^ORDERBYdescription&sysparm_fields=description,missing_item,missing_item_table",
             id);
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
    sg_json *list = sg_json_incref(sg_json_get(j, "result"));
    sg_json_decref(j);
    return list;
}

/* One field of the record table/sys_id (a reference as its sys_id); the caller frees. */
static char *field_of(const char *table, const char *sys_id, const char *field)
{
    const char *admin[] = {sim.admin_auth, NULL};
    char q[256];
    snprintf(q, sizeof(q),
             "/api/now/table/%s/%s?sysparm_fields=%s&sysparm_exclude_reference_link=true", table,
             sys_id, field);
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
    char *v = sg_xstrdup(sg_json_get_str(sg_json_get(j, "result"), field));
    sg_json_decref(j);
    return v;
}

/* The sys_id of the one record of table whose name is name; the caller frees. */
static char *id_by_name(const char *table, const char *name)
{
    const char *admin[] = {sim.admin_auth, NULL};
    char q[256];
    snprintf(q, sizeof(q), "/api/now/table/%s?name=%s&sysparm_fields=sys_id", table, name);
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
    sg_json *list = sg_json_get(j, "result");
    assert_int_equal(sg_json_array_size(list), 1);
    char *v = sg_xstrdup(sg_json_get_str(sg_json_array_get(list, 0), "sys_id"));
    sg_json_decref(j);
    return v;
}

/* Every update set in the folder *state. */
static void test_sets(void **state)
{
    const char *dir = *state;
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("%s: %s", dir, strerror(errno));
    const char *admin[] = {sim.admin_auth, NULL};
    int done = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 4 || strcmp(e->d_name + nl - 4, ".xml") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        sg_buf xml = SG_BUF_INIT(0);
        assert_int_equal(h_read_file(path, &xml), SG_OK);
        long status = 0;
        char *id = us_upload(&sim, xml.data, xml.len, &status);
        assert_int_equal(status, 302);
        assert_non_null(id);

        /* A client written for a real instance finds it as the newest retrieved set. */
        sg_json *j = NULL;
        assert_int_equal(h_call("GET", sim.p.url,
                                "/api/now/table/sys_remote_update_set?sysparm_query="
                                "ORDERBYDESCsys_created_on&sysparm_limit=1",
                                admin, NULL, &j, NULL),
                         200);
        sg_json *set = sg_json_array_get(sg_json_get(j, "result"), 0);
        assert_string_equal(sg_json_get_str(set, "sys_id"), id);
        assert_string_equal(sg_json_get_str(set, "state"), "loaded");
        sg_json_decref(j);
        char q[256];
        snprintf(q, sizeof(q),
                 "/api/now/table/sys_update_xml?sysparm_query=remote_update_set%%3D%s&"
                 "sysparm_fields=sys_id&sysparm_limit=1",
                 id);
        sg_http_response r;
        assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, &r), 200);
        int64_t rows = 0;
        sg_parse_i64(sg_http_response_header(&r, "X-Total-Count"), 0, 100000, "n", &rows);
        assert_int_equal(rows, count(xml.data, "<sys_update_xml "));
        sg_http_response_free(&r);
        sg_json_decref(j);

        char *label = us_cicd(&sim, "preview", id, NULL);
        assert_string_equal(label, "Successful");
        free(label);
        /* Every record outside the set that these sets refer to is one a real instance has
         * out of the box: nothing to resolve. */
        sg_json *found = problems_of(id);
        if (sg_json_array_size(found) > 0)
            fail_msg("%s: %zu preview problem(s), the first: %s (%s %s)", e->d_name,
                     sg_json_array_size(found),
                     sg_json_get_str(sg_json_array_get(found, 0), "description"),
                     sg_json_get_str(sg_json_array_get(found, 0), "missing_item_table"),
                     sg_json_get_str(sg_json_array_get(found, 0), "missing_item"));
        sg_json_decref(found);
        label = us_cicd(&sim, "commit", id, NULL);
        if (strcmp(label, "Successful") != 0)
            fail_msg("%s: commit %s", e->d_name, label);
        free(label);
        snprintf(q, sizeof(q), "/api/now/table/sys_remote_update_set/%s", id);
        assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
        assert_string_equal(sg_json_get_str(sg_json_get(j, "result"), "state"), "committed");
        sg_json_decref(j);
        /* access.xml carries a password2 property in clear: committed, it is stored sealed. */
        if (strcmp(e->d_name, "access.xml") == 0 && strstr(xml.data, "x_tundra.signing_key")) {
            sg_http_response pr;
            assert_int_equal(h_call("GET", sim.p.url,
                                    "/api/now/table/sys_properties?name=x_tundra.signing_key",
                                    admin, NULL, &j, &pr),
                             200);
            sg_json *p = sg_json_array_get(sg_json_get(j, "result"), 0);
            assert_string_equal(sg_json_get_str(p, "type"), "password2");
            assert_true(*sg_json_get_str(p, "value"));
            assert_string_not_equal(sg_json_get_str(p, "value"), "not-a-real-key");
            assert_null(memmem(pr.body.data, pr.body.len, "not-a-real-key", 14));
            sg_http_response_free(&pr);
            sg_json_decref(j);
        }

        /* import-set.xml names sys_import_set_row by the sys_id of another instance: the
         * committed table extends the local one. Its role contains rest_service. */
        if (strcmp(e->d_name, "import-set.xml") == 0) {
            char *local = id_by_name("sys_db_object", "sys_import_set_row");
            char *late = id_by_name("sys_db_object", "u_hr_feed_import_late");
            char *sc = field_of("sys_db_object", late, "super_class");
            assert_string_equal(sc, local);
            free(sc);
            free(late);
            free(local);
            char *role = id_by_name("sys_user_role", "u_hr_feed_integration");
            snprintf(q, sizeof(q),
                     "/api/now/table/sys_user_role_contains?role=%s&sysparm_fields=contains.name",
                     role);
            free(role);
            assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
            assert_string_equal(
                sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "contains.name"),
                "rest_service");
            sg_json_decref(j);
        }

        /* Every record the set defines can now be read; every one it deletes is gone. */
        expected *exp = sg_xcalloc(4096, sizeof(expected));
        int n = expectations(xml.data, xml.len, exp, 4096);
        assert_true(n > 0);
        for (int i = 0; i < n; i++) {
            snprintf(q, sizeof(q), "/api/now/table/%s/%s", exp[i].table, exp[i].sys_id);
            long st = h_call("GET", sim.p.url, q, admin, NULL, &j, NULL);
            if (st != (exp[i].present ? 200 : 404))
                fail_msg("%s: %s/%s answered %ld", e->d_name, exp[i].table, exp[i].sys_id, st);
            sg_json_decref(j);
        }
        free(exp);
        free(id);
        sg_buf_free(&xml);
        done++;
    }
    closedir(d);
    assert_true(done >= 4);
    /* Business rules and Scripted REST APIs from the sets are now active records. */
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sys_script?sysparm_limit=1", admin,
                            NULL, &j, NULL),
                     200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
}

static void test_problems(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    /* A local property changed after the update set's copy: a collision. */
    char prop_id[33];
    sim_new_sys_id(prop_id);
    char body[256];
    snprintf(body, sizeof(body), "{\"sys_id\":\"%s\",\"name\":\"x.setting\",\"value\":\"local\"}",
             prop_id);
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/now/table/sys_properties", admin, body, &j, NULL), 201);
    sg_json_decref(j);
    char missing_user[33], role_id[33], grant_id[33];
    sim_new_sys_id(missing_user);
    sim_new_sys_id(role_id);
    sim_new_sys_id(grant_id);
    us_record recs[] = {
        {"sys_properties", prop_id, NULL, NULL, {"name", "x.setting", "value", "remote", NULL}},
        {"sys_user_role", role_id, NULL, NULL, {"name", "x_role", NULL}},
        /* Refers to the role in the set (fine) and to a user that exists nowhere. */
        {"sys_user_has_role", grant_id, NULL, NULL, {"user", missing_user, "role", role_id, NULL}},
        {"sys_properties",
         "0123456789abcdef0123456789abcdef",
         NULL,
         "<record_update><broken",
         {NULL}},
    };
    char *xml = us_build("Problems", recs, 4);
    long status = 0;
    char *id = us_upload(&sim, xml, strlen(xml), &status);
    assert_int_equal(status, 302);
    char *label = us_cicd(&sim, "preview", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    char q[512];
    snprintf(q, sizeof(q),
             "/api/now/table/sys_update_preview_problem?sysparm_query=remote_update_set%%3D%s"
             "^ORDERBYdescription",
             id);
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
    sg_json *list = sg_json_get(j, "result");
    assert_int_equal(sg_json_array_size(list), 3);
    assert_non_null(strstr(sg_json_get_str(sg_json_array_get(list, 0), "description"),
                           "Could not find a record in sys_user for column user"));
    assert_non_null(strstr(sg_json_get_str(sg_json_array_get(list, 1), "description"),
                           "Could not load the payload"));
    assert_non_null(
        strstr(sg_json_get_str(sg_json_array_get(list, 2), "description"), "newer than this one"));
    sg_json_decref(j);

    /* Commit refuses while problems are unresolved, and changes nothing. */
    snprintf(q, sizeof(q), "/api/sn_cicd/update_set/commit/%s", id);
    assert_int_equal(h_call("POST", sim.p.url, q, admin, NULL, &j, NULL), 200);
    sg_json *res = sg_json_get(j, "result");
    assert_string_equal(sg_json_get_str(res, "status_label"), "Failed");
    assert_non_null(strstr(sg_json_get_str(res, "error"), "3 preview problem(s) are unresolved"));
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sys_properties?name=x.setting", admin,
                            NULL, &j, NULL),
                     200);
    assert_string_equal(sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "value"),
                        "local");
    sg_json_decref(j);

    /* Accept the remote updates, then commit. */
    assert_int_equal(us_resolve(&sim, id, "ignored"), 3);
    label = us_cicd(&sim, "commit", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sys_properties?name=x.setting", admin,
                            NULL, &j, NULL),
                     200);
    assert_string_equal(sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "value"),
                        "remote");
    sg_json_decref(j);
    snprintf(q, sizeof(q), "/api/now/table/sys_user_role/%s", role_id);
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
    sg_json_decref(j);
    /* A second commit is refused. */
    label = us_cicd(&sim, "commit", id, NULL);
    assert_string_equal(label, "Failed");
    free(label);

    /* A DELETE row removes the record. */
    us_record del[] = {{"sys_user_role", role_id, "DELETE", NULL, {"name", "x_role", NULL}}};
    char *xml2 = us_build("Delete", del, 1);
    char *id2 = us_upload(&sim, xml2, strlen(xml2), &status);
    label = us_cicd(&sim, "commit", id2, NULL); /* previews implicitly */
    assert_string_equal(label, "Successful");
    free(label);
    snprintf(q, sizeof(q), "/api/now/table/sys_user_role/%s", role_id);
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 404);
    sg_json_decref(j);
    free(xml2);
    free(id2);
    free(xml);
    free(id);
}

/* A set that refers to a record of the customer's own data that the instance lacks (a
 * category) gets exactly that one problem, naming the record; skipping it leaves the row out. */
static void test_missing_category(void **state)
{
    (void)state;
    char item[33], category[33];
    sim_new_sys_id(item);
    sim_new_sys_id(category);
    us_record recs[] = {
        {"sc_cat_item", item, NULL, NULL, {"name", "Laptop", "category", category, NULL}},
    };
    char *xml = us_build("Own category", recs, 1);
    long status = 0;
    char *id = us_upload(&sim, xml, strlen(xml), &status);
    assert_int_equal(status, 302);
    char *label = us_cicd(&sim, "preview", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    sg_json *list = problems_of(id);
    assert_int_equal(sg_json_array_size(list), 1);
    sg_json *p = sg_json_array_get(list, 0);
    assert_string_equal(sg_json_get_str(p, "description"),
                        "Could not find a record in sc_category for column category referenced in "
                        "this update");
    assert_string_equal(sg_json_get_str(p, "missing_item"), category);
    assert_string_equal(sg_json_get_str(p, "missing_item_table"), "sc_category");
    sg_json_decref(list);
    label = us_cicd(&sim, "commit", id, NULL);
    assert_string_equal(label, "Failed");
    free(label);
    assert_int_equal(us_resolve(&sim, id, "skipped"), 1);
    label = us_cicd(&sim, "commit", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    const char *admin[] = {sim.admin_auth, NULL};
    char q[128];
    snprintf(q, sizeof(q), "/api/now/table/sc_cat_item/%s", item);
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 404);
    sg_json_decref(j);
    free(id);
    free(xml);
}

/* A payload of one record with the given fields (already XML) around its sys_id. */
static char *payload(const char *table, const char *sys_id, const char *fields)
{
    return sg_xasprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?><record_update table=\"%s\">"
                        "<%s action=\"INSERT_OR_UPDATE\">%s<sys_id>%s</sys_id></%s>"
                        "</record_update>",
                        table, table, fields, sys_id, table);
}

/* Tables and out-of-box roles are found by the name an export gives beside a sys_id this
 * instance does not have (another instance's); other records are not. */
static void test_named_refs(void **state)
{
    (void)state;
    char tbl[33], bad_tbl[33], cont[33], bad_cont[33], role[33], other[33];
    char foreign_row[33], foreign_internal[33], foreign_other[33], foreign_tbl[33];
    char *ids[] = {tbl,         bad_tbl,          cont,          bad_cont,   role, other,
                   foreign_row, foreign_internal, foreign_other, foreign_tbl};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        sim_new_sys_id(ids[i]);
    char f_tbl[256], f_bad_tbl[256], f_role[128], f_cont[512], f_bad_cont[512];
    snprintf(f_tbl, sizeof(f_tbl),
             "<label>Feed</label><name>u_feed</name><super_class display_value=\"Import Set Row\" "
             "name=\"sys_import_set_row\">%s</super_class>",
             foreign_row);
    snprintf(f_bad_tbl, sizeof(f_bad_tbl),
             "<label>Odd</label><name>u_odd</name><super_class display_value=\"Nothing\" "
             "name=\"u_no_such_table\">%s</super_class>",
             foreign_tbl);
    snprintf(f_role, sizeof(f_role), "<name>u_feed_user</name><suffix>u_feed_user</suffix>");
    snprintf(f_cont, sizeof(f_cont),
             "<contains display_value=\"snc_internal\" name=\"snc_internal\">%s</contains>"
             "<role display_value=\"u_feed_user\" name=\"u_feed_user\">%s</role>",
             foreign_internal, role);
    snprintf(f_bad_cont, sizeof(f_bad_cont),
             "<contains display_value=\"x_other.user\" name=\"x_other.user\">%s</contains>"
             "<role display_value=\"u_feed_user\" name=\"u_feed_user\">%s</role>",
             foreign_other, role);
    char *p[5] = {
        payload("sys_db_object", tbl, f_tbl), payload("sys_db_object", bad_tbl, f_bad_tbl),
        payload("sys_user_role", role, f_role), payload("sys_user_role_contains", cont, f_cont),
        payload("sys_user_role_contains", bad_cont, f_bad_cont)};
    us_record recs[] = {
        {"sys_db_object", tbl, NULL, p[0], {NULL}},
        {"sys_db_object", bad_tbl, NULL, p[1], {NULL}},
        {"sys_user_role", role, NULL, p[2], {NULL}},
        {"sys_user_role_contains", cont, NULL, p[3], {NULL}},
        {"sys_user_role_contains", bad_cont, NULL, p[4], {NULL}},
    };
    char *xml = us_build("Named references", recs, 5);
    long status = 0;
    char *id = us_upload(&sim, xml, strlen(xml), &status);
    assert_int_equal(status, 302);
    char *label = us_cicd(&sim, "preview", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    /* Exactly the table and the role no instance has under those names. */
    sg_json *list = problems_of(id);
    assert_int_equal(sg_json_array_size(list), 2);
    assert_string_equal(sg_json_get_str(sg_json_array_get(list, 0), "missing_item"), foreign_tbl);
    assert_string_equal(sg_json_get_str(sg_json_array_get(list, 0), "missing_item_table"),
                        "sys_db_object");
    assert_string_equal(sg_json_get_str(sg_json_array_get(list, 1), "missing_item"), foreign_other);
    assert_string_equal(sg_json_get_str(sg_json_array_get(list, 1), "missing_item_table"),
                        "sys_user_role");
    sg_json_decref(list);
    assert_int_equal(us_resolve(&sim, id, "ignored"), 2);
    label = us_cicd(&sim, "commit", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    /* Committed, the references found by name lead to the local records; the accepted ones
     * keep the sys_id they came with. */
    char *local_row = id_by_name("sys_db_object", "sys_import_set_row");
    char *v = field_of("sys_db_object", tbl, "super_class");
    assert_string_equal(v, local_row);
    free(v);
    free(local_row);
    char *local_internal = id_by_name("sys_user_role", "snc_internal");
    v = field_of("sys_user_role_contains", cont, "contains");
    assert_string_equal(v, local_internal);
    free(v);
    free(local_internal);
    v = field_of("sys_user_role_contains", bad_cont, "contains");
    assert_string_equal(v, foreign_other);
    free(v);
    for (int i = 0; i < 5; i++)
        free(p[i]);
    free(xml);
    free(id);
}

static void test_bad_uploads(void **state)
{
    (void)state;
    long status = 0;
    const char *xxe =
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
        "<unload><sys_remote_update_set><name>&e;</name></sys_remote_update_set></unload>";
    char *id = us_upload(&sim, xxe, strlen(xxe), &status);
    assert_int_equal(status, 400);
    assert_null(id);
    id = us_upload(&sim, "<unload/>", 9, &status);
    assert_int_equal(status, 400);
    id = us_upload(&sim, "not xml at all", 14, &status);
    assert_int_equal(status, 400);
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("POST", sim.p.url, "/sys_upload.do", admin, "{}", &j, NULL), 400);
    sg_json_decref(j);
    assert_int_equal(h_call("POST", sim.p.url, "/sys_upload.do", NULL, "{}", &j, NULL), 401);
    sg_json_decref(j);
    assert_int_equal(h_call("POST", sim.p.url,
                            "/api/sn_cicd/update_set/preview/0123456789abcdef0123456789abcdef",
                            admin, NULL, &j, NULL),
                     404);
    sg_json_decref(j);
    /* Nothing was created by the refused uploads. */
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/sys_remote_update_set", admin, NULL, &j, NULL),
        200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 0);
    sg_json_decref(j);
    /* A non-admin may not import. */
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sys_user", admin,
                            "{\"user_name\":\"dev\",\"user_password\":\"Dev-pw-1\"}", &j, NULL),
                     201);
    sg_json_decref(j);
    char *dev = h_basic("dev", "Dev-pw-1");
    const char *as_dev[] = {dev, NULL};
    assert_int_equal(h_call("POST", sim.p.url,
                            "/api/sn_cicd/update_set/commit/0123456789abcdef0123456789abcdef",
                            as_dev, NULL, &j, NULL),
                     403);
    sg_json_decref(j);
    free(dev);
}

int main(int argc, char **argv)
{
    sg_http_client_global_init();
    if (h_corpus_mode(argc, argv)) {
        static char dir[1024];
        h_corpus_path("fixtures/updatesets", "real update set exports", dir, sizeof(dir));
        const struct CMUnitTest corpus[] = {
            cmocka_unit_test_prestate_setup_teardown(test_sets, start, stop, dir)};
        return cmocka_run_group_tests(corpus, NULL, NULL);
    }
    static char own[] = H_DATA_DIR "/updatesets";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(test_sets, start, stop, own),
        cmocka_unit_test_setup_teardown(test_problems, start, stop),
        cmocka_unit_test_setup_teardown(test_missing_category, start, stop),
        cmocka_unit_test_setup_teardown(test_named_refs, start, stop),
        cmocka_unit_test_setup_teardown(test_bad_uploads, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
