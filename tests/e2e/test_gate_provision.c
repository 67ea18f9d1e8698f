/* End to end: `snowgate servicenow provision` against snowsim: the whole setup to CONNECTED,
 * re-runs, and what happens when the update set's preview finds problems (listed with their
 * verdicts, nothing committed; accepted with --accept-preview-problems only when each is a
 * reference, in a row snowgate generated, to a record snowgate does not need).
 *
 * A problem in snowgate's own set is made as an instance could come to one: the preview is
 * held back (a snowsim delay fault) while the test changes the retrieved set on the instance,
 * e.g. deletes the row that carries the catalog category the catalog item refers to, or while
 * an admin edits one of snowgate's records on the instance (a collision). */
#include "e2e/gate_env.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/servicenow/updateset.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct run {
    bool accept;
    const char *input; /* the admin password line (NULL: the right one) */
    int status;
    sg_buf out, err;
} run;

static void *run_provision(void *arg)
{
    run *r = arg;
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "servicenow",
                          "provision",
                          "--instance",
                          G.sim.p.url,
                          "--admin-user",
                          "admin",
                          "--admin-password-stdin",
                          "--snowgate",
                          G.gate.url,
                          "--token",
                          G.admin_h + strlen("Authorization: Bearer "),
                          "--allow-insecure-loopback",
                          r->accept ? "--accept-preview-problems" : NULL,
                          NULL};
    r->status =
        h_run_input(argv, NULL, r->input ? r->input : "admin-Pw1\n", 120000, &r->out, &r->err);
    return NULL;
}

/* Changes the retrieved update set `set_id` on the instance, before its preview. */
typedef void meddle_fn(const char *set_id);

/* Runs provision; with meddle, its preview waits (8 s) while meddle changes the set that
 * provision uploaded. */
static void provision(bool accept, meddle_fn *meddle, run *r)
{
    memset(r, 0, sizeof(*r));
    r->accept = accept;
    r->out = (sg_buf)SG_BUF_INIT(0);
    r->err = (sg_buf)SG_BUF_INIT(0);
    if (!meddle) {
        run_provision(r);
        return;
    }
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults",
                              "{\"rules\":[{\"path\":\"/api/sn_cicd/update_set/preview/\","
                              "\"method\":\"POST\",\"kind\":\"delay\",\"delay_ms\":8000,"
                              "\"count\":1}]}",
                              200));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_provision, r), 0);
    /* The set provision uploads is the one in state loaded (earlier ones were previewed). */
    char set_id[33] = "";
    for (int i = 0; i < 600 && !set_id[0]; i++) {
        sg_json *j = g_sim_call("GET",
                                "/api/now/table/sys_remote_update_set?sysparm_query=name%3Dsnowgate"
                                "%5Estate%3Dloaded&sysparm_fields=sys_id",
                                NULL, 200);
        const char *id = sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id");
        if (id)
            snprintf(set_id, sizeof(set_id), "%s", id);
        sg_json_decref(j);
        if (!set_id[0]) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (set_id[0])
        meddle(set_id);
    pthread_join(t, NULL);
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults", "{\"rules\":[]}", 200));
    assert_true(set_id[0]);
}

static void run_free(run *r)
{
    sg_buf_free(&r->out);
    sg_buf_free(&r->err);
}

/* The rows of the set whose name (TABLE_SYSID) starts with prefix. */
static sg_json *rows_named(const char *set_id, const char *prefix)
{
    char q[300];
    snprintf(q, sizeof(q),
             "/api/now/table/sys_update_xml?sysparm_query=remote_update_set%%3D%s"
             "%%5EnameSTARTSWITH%s&sysparm_fields=sys_id,name,payload",
             set_id, prefix);
    return g_sim_call("GET", q, NULL, 200);
}

static void delete_rows(const char *set_id, const char *prefix)
{
    sg_json *j = rows_named(set_id, prefix);
    sg_json *res = sg_json_get(j, "result");
    assert_true(sg_json_array_size(res) > 0);
    for (size_t i = 0; i < sg_json_array_size(res); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/now/table/sys_update_xml/%s",
                 sg_json_get_str(sg_json_array_get(res, i), "sys_id"));
        sg_json_decref(g_sim_call("DELETE", path, NULL, 204));
    }
    sg_json_decref(j);
}

/* Without its category's row, the catalog item refers to a category the instance lacks. */
static void drop_category(const char *set_id)
{
    delete_rows(set_id, "sc_category_");
}

/* Without the role's row, every ACL role refers to a role the instance lacks. */
static void drop_role(const char *set_id)
{
    delete_rows(set_id, "sys_user_role_");
}

/* Someone changes the catalog item's row on the instance so that its category is one the
 * instance lacks: the same kind of problem, but in a payload snowgate did not generate. */
static void retarget_item(const char *set_id)
{
    sg_json *j = rows_named(set_id, "sc_cat_item_");
    sg_json *row = sg_json_array_get(sg_json_get(j, "result"), 0);
    const char *payload = sg_json_get_str(row, "payload");
    const char *cat = strstr(payload, "<category display_value=\"Data access\">");
    assert_non_null(cat);
    cat = strchr(cat, '>') + 1;
    char other[33];
    sg_random_hex(other, 16);
    char *changed = sg_xasprintf("%.*s%s%s", (int)(cat - payload), payload, other, cat + 32);
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "payload", changed);
    char *text = sg_json_dump(body);
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sys_update_xml/%s",
             sg_json_get_str(row, "sys_id"));
    sg_json_decref(g_sim_call("PATCH", path, text, 200));
    free(text);
    sg_json_decref(body);
    free(changed);
    sg_json_decref(j);
}

/* An admin edits snowgate's category on the instance after snowgate made its update set (a
 * second later, so the local change is newer). */
static void touch_category(const char *set_id)
{
    (void)set_id;
    struct timespec ts = {1, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    sg_json *j = g_sim_call("GET",
                            "/api/now/table/sc_category?sysparm_query=title%3DData%20access"
                            "&sysparm_fields=sys_id",
                            NULL, 200);
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sc_category/%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    sg_json_decref(g_sim_call("PATCH", path, "{\"title\":\"Data access (ours)\"}", 200));
}

static void assert_has(const sg_buf *b, const char *what)
{
    if (!strstr(sg_buf_str(b), what))
        fail_msg("missing '%s' in:\n%s", what, sg_buf_str(b));
}

/* Nothing committed, nothing accepted. */
static void assert_untouched(void)
{
    assert_int_equal(g_count_in_sn("sys_remote_update_set", "state%3Dcommitted"), 0);
    assert_int_equal(g_count_in_sn("sys_update_preview_problem", "status%3Dignored"), 0);
    assert_int_equal(g_count_in_sn("sys_user_role", "name%3D" SG_SN_ROLE), 0);
    assert_string_not_equal(g_status(), "connected");
}

static void test_provision(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) { /* safe to re-run */
        run r;
        provision(false, NULL, &r);
        if (r.status != 0)
            fail_msg("provision run %d: exit %d\n%s\n%s", i, r.status, sg_buf_str(&r.out),
                     sg_buf_str(&r.err));
        assert_has(&r.out,
                   i == 0 ? "'snowgate OAuth App' created" : "'snowgate OAuth App' updated");
        assert_has(&r.out, "[5] update set previewed: no problems");
        assert_has(&r.out, "[6] update set committed: Successful");
        assert_has(&r.out, "Connect and test: CONNECTED");
        assert_null(strstr(sg_buf_str(&r.out), "admin-Pw1"));
        run_free(&r);
        assert_string_equal(g_status(), "connected");
    }
    /* One OAuth app, one service user, whatever the number of runs. */
    assert_int_equal(g_count_in_sn("oauth_entity", "name%3Dsnowgate%20OAuth%20App"), 1);
    assert_int_equal(g_count_in_sn("sys_user", "user_name%3Dsnowgate.service"), 1);
    /* A wrong admin password stops at the first step, with the reason. */
    run r = {.input = "wrong\n", .out = SG_BUF_INIT(0), .err = SG_BUF_INIT(0)};
    run_provision(&r);
    assert_int_equal(r.status, 1);
    assert_has(&r.err, "step 1 failed");
    assert_has(&r.err, "User Not Authenticated");
    run_free(&r);
}

/* A category the instance lacks: listed as ACCEPTABLE, and refused without the flag; with it,
 * accepted and committed, and snowgate ends connected. */
static void test_acceptable_problem(void **state)
{
    (void)state;
    run r;
    provision(false, drop_category, &r);
    assert_int_equal(r.status, 1);
    assert_has(&r.err, "step 5 failed: the update set's preview found 1 problem(s); nothing was "
                       "committed");
    assert_has(&r.err, "problem 1 of 1: ACCEPTABLE \"Could not find a record in sc_category for "
                       "column category referenced in this update\" (status: none)");
    assert_has(&r.err, "snowgate does not need it");
    assert_has(&r.err, "Re-run with --accept-preview-problems");
    assert_has(&r.err, "stops at this same step");
    assert_null(strstr(sg_buf_str(&r.out), "previewed"));
    assert_null(strstr(sg_buf_str(&r.out), "update set committed"));
    run_free(&r);
    assert_untouched();

    provision(true, drop_category, &r);
    if (r.status != 0)
        fail_msg("provision with the flag: exit %d\n%s\n%s", r.status, sg_buf_str(&r.out),
                 sg_buf_str(&r.err));
    assert_has(&r.out, "[5] update set previewed: 1 problem(s), each about a record snowgate does "
                       "not need; accepted:\n      accepted: \"Could not find a record in "
                       "sc_category for column category");
    assert_has(&r.out, "[6] update set committed: Successful");
    assert_has(&r.out, "Connect and test: CONNECTED");
    run_free(&r);
    assert_string_equal(g_status(), "connected");
    assert_int_equal(g_count_in_sn("sys_update_preview_problem", "status%3Dignored"), 1);
    assert_int_equal(g_count_in_sn("sys_remote_update_set", "state%3Dcommitted"), 1);
}

/* ACL roles that refer to a role the instance lacks: refused, even with the flag, and nothing
 * is accepted or committed. */
static void test_security_problem_refused(void **state)
{
    (void)state;
    run r;
    provision(true, drop_role, &r);
    assert_int_equal(r.status, 1);
    assert_has(&r.err, "step 5 failed: the update set's preview found 10 problem(s), and not all "
                       "of them can be accepted; nothing was committed");
    assert_has(&r.err, "problem 1 of 10: REFUSED \"Could not find a record in sys_user_role for "
                       "column sys_user_role");
    assert_has(&r.err, "problem 10 of 10: REFUSED");
    assert_has(&r.err, "it is about snowgate's sys_security_acl_role ");
    assert_has(&r.err, "on a security-relevant table");
    assert_has(&r.err, "not even with --accept-preview-problems");
    assert_has(&r.err, "Nothing was committed");
    run_free(&r);
    assert_untouched();
}

/* The same kind of problem as the category's, but in a row changed on the instance: refused,
 * as it is not what snowgate generated. */
static void test_foreign_row_refused(void **state)
{
    (void)state;
    run r;
    provision(true, retarget_item, &r);
    assert_int_equal(r.status, 1);
    assert_has(&r.err, "problem 1 of 1: REFUSED \"Could not find a record in sc_category for "
                       "column category");
    assert_has(&r.err, "is not one snowgate generated");
    run_free(&r);
    assert_untouched();
}

/* A local change newer than snowgate's version: COLLISION, never accepted, nothing committed. */
static void test_collision_refused(void **state)
{
    (void)state;
    run r;
    provision(false, NULL, &r);
    assert_int_equal(r.status, 0);
    run_free(&r);
    provision(true, touch_category, &r);
    assert_int_equal(r.status, 1);
    assert_has(&r.err, "problem 1 of 1: COLLISION \"Found a local update that is newer than this "
                       "one (sc_category updated ");
    assert_has(&r.err, "was changed on the instance after snowgate's version of it");
    assert_has(&r.err, "not even with --accept-preview-problems");
    run_free(&r);
    assert_int_equal(g_count_in_sn("sys_remote_update_set", "state%3Dcommitted"), 1);
    assert_int_equal(g_count_in_sn("sys_update_preview_problem", "status%3Dignored"), 0);
    assert_int_equal(g_count_in_sn("sc_category", "title%3DData%20access%20(ours)"), 1);
}

/* A business rule adds a problem to the set as soon as provision accepts the first: the
 * re-check before the commit finds it, and nothing is committed. */
static void test_recheck_finds_new_problem(void **state)
{
    (void)state;
    static const char script[] =
        "(function executeRule(current, previous) {\n"
        "  var gr = new GlideRecord('sys_update_preview_problem');\n"
        "  gr.initialize();\n"
        "  gr.setValue('description', 'Could not find a record in sys_user_role for column "
        "role referenced in this update');\n"
        "  gr.setValue('remote_update_set', current.getValue('remote_update_set'));\n"
        "  gr.setValue('remote_update', current.getValue('remote_update'));\n"
        "  gr.setValue('missing_item', current.getValue('missing_item'));\n"
        "  gr.setValue('missing_item_table', 'sys_user_role');\n"
        "  gr.insert();\n"
        "})(current, previous);";
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "name", "one more problem");
    sg_json_set_str(body, "collection", "sys_update_preview_problem");
    sg_json_set_str(body, "when", "after");
    sg_json_set_str(body, "active", "true");
    sg_json_set_str(body, "advanced", "true");
    sg_json_set_str(body, "action_insert", "false");
    sg_json_set_str(body, "action_update", "true");
    sg_json_set_str(body, "script", script);
    char *text = sg_json_dump(body);
    sg_json_decref(body);
    sg_json_decref(g_sim_call("POST", "/api/now/table/sys_script", text, 201));
    free(text);
    run r;
    provision(true, drop_category, &r);
    assert_int_equal(r.status, 1);
    assert_has(&r.out, "accepted: \"Could not find a record in sc_category");
    assert_has(&r.err, "step 6 failed: after accepting, a re-check found other problems: the "
                       "update set's preview found 2 problem(s), and not all of them can be "
                       "accepted; nothing was committed");
    assert_has(&r.err, "ACCEPTABLE \"Could not find a record in sc_category for column category "
                       "referenced in this update\" (status: ignored)");
    assert_has(&r.err, "REFUSED \"Could not find a record in sys_user_role for column role");
    assert_null(strstr(sg_buf_str(&r.out), "update set committed"));
    run_free(&r);
    assert_int_equal(g_count_in_sn("sys_remote_update_set", "state%3Dcommitted"), 0);
}

static int start(void **state)
{
    (void)state;
    g_start("gateprovision", NULL);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    g_stop();
    return 0;
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_provision, start, stop),
        cmocka_unit_test_setup_teardown(test_acceptable_problem, start, stop),
        cmocka_unit_test_setup_teardown(test_security_problem_refused, start, stop),
        cmocka_unit_test_setup_teardown(test_foreign_row_refused, start, stop),
        cmocka_unit_test_setup_teardown(test_collision_refused, start, stop),
        cmocka_unit_test_setup_teardown(test_recheck_finds_new_problem, start, stop),
    };
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
