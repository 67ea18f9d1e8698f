/* End to end: `snowgate servicenow provision` against snowsim: the whole setup to CONNECTED,
 * re-runs, and what happens when the update set's preview finds problems (listed with their
 * verdicts, nothing committed; with --accept-preview-problems, tampering is still refused),
 * and the check of every row of the set before the commit and after it.
 *
 * A problem in snowgate's own set is made as an instance could come to one: the preview is
 * held back (a snowsim delay fault) while the test changes the retrieved set on the instance,
 * e.g. deletes the row that carries the catalog category the catalog item refers to, or while
 * an admin edits one of snowgate's records on the instance (a collision). snowgate's own set
 * has no acceptable problem (every reference in it points at a record of the set); with
 * --catalog-category naming a category the instance lacks, the item's reference to it is the
 * one acceptable problem, which covers accepting, re-checking and committing. */
#include "e2e/gate_env.h"
#include "e2e/sim_helpers.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/servicenow/updateset.h"
#include "http/server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct run {
    bool accept;
    const char *category; /* --catalog-category (NULL: none) */
    const char *input;    /* the admin password line (NULL: the right one) */
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
                          NULL,
                          NULL,
                          NULL,
                          NULL};
    size_t n = 13;
    if (r->accept)
        argv[n++] = "--accept-preview-problems";
    if (r->category) {
        argv[n++] = "--catalog-category";
        argv[n++] = r->category;
    }
    r->status =
        h_run_input(argv, NULL, r->input ? r->input : "admin-Pw1\n", 120000, &r->out, &r->err);
    return NULL;
}

/* Changes the retrieved update set `set_id` on the instance, before its preview. */
typedef void meddle_fn(const char *set_id);

/* Runs provision, with --catalog-category when category is not NULL; with meddle, its preview
 * waits (8 s) while meddle changes the set that provision uploaded. */
static void provision_in(bool accept, const char *category, meddle_fn *meddle, run *r)
{
    memset(r, 0, sizeof(*r));
    r->accept = accept;
    r->category = category;
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

static void provision(bool accept, meddle_fn *meddle, run *r)
{
    provision_in(accept, NULL, meddle, r);
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
        assert_has(&r.out, "[3] update set previewed: no problems");
        assert_has(&r.out, "[3] update set checked: its 38 rows are the ones snowgate generated");
        assert_has(&r.out, "[3] update set committed: Successful");
        assert_has(&r.out, "[4] snowgate.service holds snowgate_service_account_role");
        assert_has(&r.out, "[5] Connect and test: CONNECTED");
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
    assert_has(&r.err, "step 1 (the OAuth app) failed");
    assert_has(&r.err, "User Not Authenticated");
    run_free(&r);
}

/* snowgate's own category's row deleted from the set on the instance: the catalog item then
 * refers to a category the instance lacks, which is snowgate's own record, so the problem is a
 * row missing from the set (tampering), REFUSED without the flag and with it; nothing is
 * accepted or committed. (By default snowgate's set has no acceptable problem: every reference
 * in it points at a record of the set; test_catalog_category makes the acceptable one.) */
static void test_own_row_missing_refused(void **state)
{
    (void)state;
    for (int flag = 0; flag < 2; flag++) {
        run r;
        provision(flag == 1, drop_category, &r);
        assert_int_equal(r.status, 1);
        assert_has(&r.err,
                   "step 3 (the update set) failed: the update set's preview found 1 "
                   "problem(s), and not all of them can be accepted; nothing was committed");
        /* The advice names this run's retrieved set, left uncommitted. */
        assert_has(&r.err, "This run's retrieved set (sys_remote_update_set ");
        assert_has(&r.err, "problem 1 of 1: REFUSED \"Could not find a record in sc_category for "
                           "column category referenced in this update\" (status: none)");
        assert_has(&r.err, "the missing record is snowgate's own sc_category ");
        assert_has(&r.err, "its row is missing from the set on the instance");
        assert_has(&r.err, flag ? "not even with --accept-preview-problems"
                                : "and --accept-preview-problems does not change that");
        assert_null(strstr(sg_buf_str(&r.out), "previewed"));
        assert_null(strstr(sg_buf_str(&r.out), "update set committed"));
        run_free(&r);
        assert_untouched();
    }
}

/* ACL roles that refer to a role the instance lacks: refused, even with the flag, and nothing
 * is accepted or committed. */
static void test_security_problem_refused(void **state)
{
    (void)state;
    run r;
    provision(true, drop_role, &r);
    assert_int_equal(r.status, 1);
    assert_has(&r.err, "step 3 (the update set) failed: the update set's preview found 10 "
                       "problem(s), and not all of them can be accepted; nothing was committed");
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

/* snowgate's catalog item in a category of the instance's own (--catalog-category), which the
 * set does not carry. One the instance lacks is the one ACCEPTABLE problem: listed and refused
 * without --accept-preview-problems; with it, marked ignored, re-checked and committed, and the
 * setup goes on to CONNECTED. One the instance has previews clean. */
static void test_catalog_category(void **state)
{
    (void)state;
    static const char lacking[] = "c0ffee00c0ffee00c0ffee00c0ffee00";
    run r;
    provision_in(false, lacking, NULL, &r);
    assert_int_equal(r.status, 1);
    assert_has(&r.err, "step 3 (the update set) failed: the update set's preview found 1 "
                       "problem(s); nothing was committed");
    assert_has(&r.err, "problem 1 of 1: ACCEPTABLE \"Could not find a record in sc_category for "
                       "column category referenced in this update\" (status: none)");
    assert_has(&r.err, "refers (column category) to sc_category c0ffee00c0ffee00c0ffee00c0ffee00");
    assert_has(&r.err, "if accepted, the record is committed with that reference");
    assert_has(&r.err, "every problem above is ACCEPTABLE. Re-run with --accept-preview-problems");
    run_free(&r);
    assert_untouched();

    /* Marking it ignored fails: listed, with the set to delete, and nothing committed. */
    sg_json_decref(
        g_sim_call("PUT", "/api/x_snowsim/faults",
                   "{\"rules\":[{\"path\":\"/api/now/table/sys_update_preview_problem/\","
                   "\"method\":\"PATCH\",\"kind\":\"status\",\"status\":503}]}",
                   200));
    provision_in(true, lacking, NULL, &r);
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults", "{\"rules\":[]}", 200));
    assert_int_equal(r.status, 1);
    assert_has(&r.err, "marking preview problem 1 of 1 (");
    assert_has(&r.err, "No problem was marked ignored before this failure (0 of 1)");
    assert_has(&r.err, "This run's retrieved set (sys_remote_update_set ");
    assert_null(strstr(sg_buf_str(&r.out), "accepted:"));
    run_free(&r);
    assert_untouched();

    provision_in(true, lacking, NULL, &r);
    if (r.status != 0)
        fail_msg("provision: exit %d\n%s\n%s", r.status, sg_buf_str(&r.out), sg_buf_str(&r.err));
    assert_has(&r.out, "[3] update set previewed: 1 problem(s), each about a record snowgate does "
                       "not need; accepted:");
    assert_has(&r.out, "accepted: \"Could not find a record in sc_category for column category");
    assert_has(&r.out, "[3] update set checked: its 37 rows are the ones snowgate generated");
    assert_has(&r.out, "[3] update set committed: Successful");
    assert_has(&r.out, "[5] Connect and test: CONNECTED");
    run_free(&r);
    assert_int_equal(g_count_in_sn("sys_update_preview_problem", "status%3Dignored"), 1);
    assert_int_equal(g_count_in_sn("sc_cat_item", "category%3Dc0ffee00c0ffee00c0ffee00c0ffee00"),
                     1);
    assert_int_equal(g_count_in_sn("sc_category", "title%3DData%20access"), 0);
    assert_string_equal(g_status(), "connected");

    sg_json *j = g_sim_call("POST", "/api/now/table/sc_category", "{\"title\":\"Analytics\"}", 201);
    char has[33];
    snprintf(has, sizeof(has), "%s", sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    provision_in(false, has, NULL, &r);
    if (r.status != 0)
        fail_msg("provision: exit %d\n%s\n%s", r.status, sg_buf_str(&r.out), sg_buf_str(&r.err));
    assert_has(&r.out, "[3] update set previewed: no problems");
    run_free(&r);
    char q[80];
    snprintf(q, sizeof(q), "category%%3D%s", has);
    assert_int_equal(g_count_in_sn("sc_cat_item", q), 1);

    /* Not a sys_id: refused before anything is done, by provision and by the download. */
    provision_in(false, "../sys_user", NULL, &r);
    assert_int_equal(r.status, 2);
    assert_has(&r.err, "--catalog-category must be the sys_id");
    run_free(&r);
    sg_json *e = NULL;
    assert_int_equal(
        g_call("GET", "/api/v1/integrations/servicenow/update-set?category=x%27", NULL, &e), 400);
    assert_non_null(
        strstr(sg_json_get_str(sg_json_get(e, "error"), "message"), "category must be"));
    sg_json_decref(e);
}

/* A local change newer than snowgate's version: COLLISION, never accepted, nothing committed.
 * As the advice warns, the next run uploads snowgate's version anew, newer than the local
 * change, so it sees no collision and its commit overwrites the change. */
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
    assert_has(&r.err, "was changed on the instance after snowgate generated its version");
    assert_has(&r.err, "not even with --accept-preview-problems");
    assert_has(&r.err, "the commit overwrites the local change");
    run_free(&r);
    assert_int_equal(g_count_in_sn("sys_remote_update_set", "state%3Dcommitted"), 1);
    assert_int_equal(g_count_in_sn("sys_update_preview_problem", "status%3Dignored"), 0);
    assert_int_equal(g_count_in_sn("sc_category", "title%3DData%20access%20(ours)"), 1);
    provision(false, NULL, &r);
    assert_int_equal(r.status, 0);
    run_free(&r);
    assert_int_equal(g_count_in_sn("sys_remote_update_set", "state%3Dcommitted"), 2);
    assert_int_equal(g_count_in_sn("sc_category", "title%3DData%20access%20(ours)"), 0);
}

/* A row that adds a record snowgate did not generate, and that the preview finds nothing
 * wrong with: a system property that turns off output escaping. */
static void add_row(const char *set_id)
{
    char sys_id[33];
    sg_random_hex(sys_id, 16);
    char *payload = sg_xasprintf("<record_update "
                                 "table=\"sys_properties\"><sys_properties "
                                 "action=\"INSERT_OR_UPDATE\"><name>glide.ui.escape_text</name>"
                                 "<sys_id>%s</sys_id><type>boolean</type><value>false</value>"
                                 "</sys_properties></record_update>",
                                 sys_id);
    char *name = sg_xasprintf("sys_properties_%s", sys_id);
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "remote_update_set", set_id);
    sg_json_set_str(body, "action", "INSERT_OR_UPDATE");
    sg_json_set_str(body, "name", name);
    sg_json_set_str(body, "type", "System Property");
    sg_json_set_str(body, "payload", payload);
    char *text = sg_json_dump(body);
    sg_json_decref(g_sim_call("POST", "/api/now/table/sys_update_xml", text, 201));
    free(text);
    sg_json_decref(body);
    free(name);
    free(payload);
}

/* The webhook URL property's row, changed to send snowgate's events elsewhere: no preview
 * problem, just another payload. */
static void redirect_webhooks(const char *set_id)
{
    sg_json *j = rows_named(set_id, "sys_properties_");
    sg_json *res = sg_json_get(j, "result");
    bool done = false;
    for (size_t i = 0; i < sg_json_array_size(res) && !done; i++) {
        sg_json *row = sg_json_array_get(res, i);
        const char *payload = sg_json_get_str(row, "payload");
        const char *at = strstr(payload, "/webhooks/servicenow");
        if (!at)
            continue;
        char *changed = sg_xasprintf("%.*s/elsewhere%s", (int)(at - payload), payload,
                                     at + strlen("/webhooks/servicenow"));
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
        done = true;
    }
    sg_json_decref(j);
    assert_true(done);
}

/* Without the business rule's row: nothing refers to it, so the preview finds nothing. */
static void drop_rule(const char *set_id)
{
    delete_rows(set_id, "sys_script_");
}

/* A row added, a row's payload changed, a row deleted between the upload and the commit, none
 * of which the preview reports: the row check before the commit refuses each, even with the
 * flag, and nothing is committed. */
static void test_changed_rows_refused(void **state)
{
    (void)state;
    static const struct {
        meddle_fn *meddle;
        const char *detail;
    } cases[] = {
        {add_row, "its payload is not one snowgate generated (an added or changed row)"},
        {redirect_webhooks, "its payload is not one snowgate generated (an added or changed row)"},
        {drop_rule, " is not in the set"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run r;
        provision(true, cases[i].meddle, &r);
        if (r.status != 1 ||
            !strstr(sg_buf_str(&r.err), "step 3 (the update set) failed: the update set on the "
                                        "instance is not the one snowgate "
                                        "uploaded"))
            fail_msg("case %zu: exit %d\n%s\n%s", i, r.status, sg_buf_str(&r.out),
                     sg_buf_str(&r.err));
        assert_has(&r.err, cases[i].detail);
        assert_has(&r.err, "delete the retrieved set and run provision again");
        assert_has(&r.err, "Nothing was committed");
        assert_has(&r.out, "[3] update set previewed: no problems");
        assert_null(strstr(sg_buf_str(&r.out), "update set committed"));
        run_free(&r);
        assert_untouched();
    }
}

/* Another set named snowgate, uploaded just after provision's (so it is the newest loaded
 * one) while provision looks for its own: provision commits the one it uploaded, and the
 * decoy stays as it was loaded. */
static void test_decoy_set_not_picked(void **state)
{
    (void)state;
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults",
                              "{\"rules\":[{\"path\":\"/api/now/table/sys_remote_update_set\","
                              "\"method\":\"GET\",\"kind\":\"delay\",\"delay_ms\":6000,"
                              "\"count\":1}]}",
                              200));
    run r = {.accept = false, .out = SG_BUF_INIT(0), .err = SG_BUF_INIT(0)};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_provision, &r), 0);
    /* provision's set is loaded once its rows are there. */
    bool loaded = false;
    for (int i = 0; i < 600 && !loaded; i++) {
        loaded = g_count_in_sn("sys_update_xml", "nameSTARTSWITHsys_user_role_") > 0;
        if (!loaded) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    assert_true(loaded);
    us_record decoy = {.table = "sys_properties",
                       .sys_id = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0",
                       .fields = {"name", "glide.ui.escape_text", "value", "false", NULL}};
    char *xml = us_build("snowgate", &decoy, 1);
    long st = 0;
    char *decoy_id = us_upload(&G.sim, xml, strlen(xml), &st);
    free(xml);
    assert_int_equal(st, 302);
    assert_non_null(decoy_id);
    pthread_join(t, NULL);
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults", "{\"rules\":[]}", 200));
    if (r.status != 0)
        fail_msg("provision: exit %d\n%s\n%s", r.status, sg_buf_str(&r.out), sg_buf_str(&r.err));
    assert_null(strstr(sg_buf_str(&r.out), decoy_id));
    run_free(&r);
    char q[128];
    snprintf(q, sizeof(q), "sys_id%%3D%s%%5Estate%%3Dloaded", decoy_id);
    assert_int_equal(g_count_in_sn("sys_remote_update_set", q), 1);
    assert_int_equal(g_count_in_sn("sys_remote_update_set", "state%3Dcommitted"), 1);
    assert_int_equal(g_count_in_sn("sys_properties", "name%3Dglide.ui.escape_text"), 0);
    free(decoy_id);
}

/* A business rule changes a row of the set while the commit applies it (when the commit
 * inserts snowgate's role), after provision's row check: the set is committed, and provision
 * then finds the changed row, names it and fails. */
static void test_rows_changed_during_commit(void **state)
{
    (void)state;
    static const char script[] =
        "(function executeRule(current, previous) {\n"
        "  var gr = new GlideRecord('sys_update_xml');\n"
        "  gr.addQuery('name', 'STARTSWITH', 'sys_properties_');\n"
        "  gr.query();\n"
        "  while (gr.next()) {\n"
        "    var p = gr.getValue('payload');\n"
        "    if (p.indexOf('/webhooks/servicenow') >= 0) {\n"
        "      gr.setValue('payload', p.replace('/webhooks/servicenow', '/elsewhere'));\n"
        "      gr.update();\n"
        "    }\n"
        "  }\n"
        "})(current, previous);";
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "name", "change the set during its commit");
    sg_json_set_str(body, "collection", "sys_user_role");
    sg_json_set_str(body, "when", "after");
    sg_json_set_str(body, "active", "true");
    sg_json_set_str(body, "advanced", "true");
    sg_json_set_str(body, "action_insert", "true");
    sg_json_set_str(body, "action_update", "false");
    sg_json_set_str(body, "script", script);
    char *text = sg_json_dump(body);
    sg_json_decref(body);
    sg_json_decref(g_sim_call("POST", "/api/now/table/sys_script", text, 201));
    free(text);
    run r;
    provision(false, NULL, &r);
    if (r.status != 1)
        fail_msg("provision: exit %d\n%s\n%s", r.status, sg_buf_str(&r.out), sg_buf_str(&r.err));
    assert_has(&r.out, "[3] update set checked: its 38 rows are the ones snowgate generated");
    assert_has(&r.out, "[3] update set committed: Successful");
    assert_has(&r.err, "step 3 (the update set) failed: the update set's rows changed between "
                       "snowgate's check and "
                       "the commit (listed below); the set was committed");
    assert_has(&r.err, "(sys_properties_");
    assert_has(&r.err, "its payload is not one snowgate generated");
    assert_has(&r.err, "THE COMMIT MAY HAVE APPLIED RECORDS SNOWGATE DID NOT GENERATE");
    assert_null(strstr(sg_buf_str(&r.out), "Connect and test"));
    run_free(&r);
    assert_string_not_equal(g_status(), "connected");
}

/* A stub instance whose answer to the OAuth app lookup names a "sys_id" that is a path: each
 * request it gets is logged. */
static sg_buf stub_log;
static pthread_mutex_t stub_mu = PTHREAD_MUTEX_INITIALIZER;

static int stub_instance(sg_http_req *req, void *app)
{
    (void)app;
    pthread_mutex_lock(&stub_mu);
    sg_buf_printf(&stub_log, "%s %s\n", sg_http_method(req), sg_http_path(req));
    pthread_mutex_unlock(&stub_mu);
    if (strcmp(sg_http_path(req), "/api/now/table/oauth_entity") == 0 &&
        strcmp(sg_http_method(req), "GET") == 0)
        return sg_http_reply_static(
            req, 200, "application/json",
            "{\"result\":[{\"sys_id\":\"../sys_user/0123456789abcdef0123456789abcdef\","
            "\"client_id\":\"x\"}]}");
    return sg_http_reply_static(req, 404, "application/json", "{\"error\":{}}");
}

/* What the instance answers is checked before it goes into a URL: an OAuth app "sys_id" that
 * is not one stops provision at step 1, and nothing is written. */
static void test_instance_ids_checked(void **state)
{
    (void)state;
    stub_log = (sg_buf)SG_BUF_INIT(0);
    sg_http_server_opts o = SG_HTTP_SERVER_OPTS_INIT;
    o.fallback = stub_instance;
    sg_http_server *srv = NULL;
    assert_int_equal(sg_http_server_start(&o, &srv), SG_OK);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)sg_http_server_port(srv));
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "servicenow",
                          "provision",
                          "--instance",
                          url,
                          "--admin-user",
                          "admin",
                          "--admin-password-stdin",
                          "--snowgate",
                          "http://127.0.0.1:9",
                          "--token",
                          "unused",
                          "--allow-insecure-loopback",
                          NULL};
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    int status = h_run_input(argv, NULL, "admin-Pw1\n", 60000, &out, &err);
    sg_http_server_stop(srv, 1000);
    if (status != 1)
        fail_msg("provision: exit %d\n%s\n%s", status, sg_buf_str(&out), sg_buf_str(&err));
    assert_has(
        &err,
        "step 1 (the OAuth app) failed: the instance answered an OAuth app sys_id that is not a "
        "sys_id");
    assert_string_equal(sg_buf_str(&stub_log), "GET /api/now/table/oauth_entity\n");
    sg_buf_free(&out);
    sg_buf_free(&err);
    sg_buf_free(&stub_log);
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
        cmocka_unit_test_setup_teardown(test_own_row_missing_refused, start, stop),
        cmocka_unit_test_setup_teardown(test_security_problem_refused, start, stop),
        cmocka_unit_test_setup_teardown(test_foreign_row_refused, start, stop),
        cmocka_unit_test_setup_teardown(test_catalog_category, start, stop),
        cmocka_unit_test_setup_teardown(test_collision_refused, start, stop),
        cmocka_unit_test_setup_teardown(test_changed_rows_refused, start, stop),
        cmocka_unit_test_setup_teardown(test_decoy_set_not_picked, start, stop),
        cmocka_unit_test_setup_teardown(test_rows_changed_during_commit, start, stop),
        cmocka_unit_test(test_instance_ids_checked),
    };
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
