/* End to end: update sets in snowsim: each of the project's small sets (tests/data/updatesets)
 * through upload, preview and commit, with its records then read back through the Table API;
 * preview problems; bad uploads. With --corpus, the real exports from the outside corpus. */
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
        /* Problems on a fresh instance are real "missing objects"; the admin accepts them. */
        us_resolve(&sim, id, "ignored");
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
        cmocka_unit_test_setup_teardown(test_bad_uploads, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
