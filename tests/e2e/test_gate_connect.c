/* End to end: the whole admin path to CONNECTED against snowsim, with snowsim running the
 * generated update set's business rule and Scripted REST API; then every failure mode of
 * Connect and test, Run test, and needs_reconnect. */
#include "e2e/gate_env.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "store/store.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METRICS_TOKEN "metrics-Connect-4b1d9e0f"

static const char *fix_of(sg_json *result, const char *name)
{
    sg_json *checks = sg_json_get(result, "checks");
    for (size_t i = 0; i < sg_json_array_size(checks); i++)
        if (strcmp(sg_json_get_str(sg_json_array_get(checks, i), "name"), name) == 0)
            return sg_json_get_str(sg_json_array_get(checks, i), "fix");
    return NULL;
}

/* Waits (polling, up to `seconds`, generous for a loaded 2-core machine under the sanitizers)
 * until the integration's status is `want`. On a timeout, prints what snowgate logged about
 * its Run tests, reconciler runs and status changes, so that a failure can be read. */
static bool wait_status(const char *want, int seconds)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (strcmp(g_status(), want) == 0)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= seconds)
            break;
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    fprintf(stderr, "status is still %s, not %s, after %d s; snowgate logged:\n", g_status(), want,
            seconds);
    sg_buf log = SG_BUF_INIT(0);
    if (h_read_file(G.gate.log_path, &log) == SG_OK && log.data) {
        char *save = NULL;
        for (char *l = strtok_r(log.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
            if (strstr(l, "Run test") || strstr(l, "reconciler") || strstr(l, "status") ||
                strstr(l, "busy") || strstr(l, "\"level\":\"error\""))
                fprintf(stderr, "  %s\n", l);
    }
    sg_buf_free(&log);
    return false;
}

/* Whether, within `seconds`, ServiceNow holds sample requests (Connect and test's, and the
 * scheduled Run tests') and every one of them is closed_cancelled at once. */
static bool samples_closed(int seconds)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t n = 0, open = 0;
    for (;;) {
        sg_json *j =
            g_sim_call("GET",
                       "/api/now/table/sc_request?sysparm_query=correlation_"
                       "idSTARTSWITHsnowgate%3Aconnection-test&sysparm_fields=request_state",
                       NULL, 200);
        sg_json *list = sg_json_get(j, "result");
        n = sg_json_array_size(list);
        open = 0;
        for (size_t i = 0; i < n; i++)
            if (strcmp(sg_json_get_str(sg_json_array_get(list, i), "request_state"),
                       "closed_cancelled") != 0)
                open++;
        sg_json_decref(j);
        if (n > 0 && open == 0)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= seconds)
            break;
        struct timespec t = {0, 20 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    fprintf(stderr, "%zu sample requests in ServiceNow, %zu of them still open after %d s\n", n,
            open, seconds);
    return false;
}

static void test_admin_path_to_connected(void **state)
{
    (void)state;
    g_steps_1_2(CLIENT_SECRET);
    assert_string_equal(g_status(), "awaiting_connection");
    g_step_3();
    g_step_4(true);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(g_connect(SVC_PASSWORD, &res, &failed), 200);
    assert_null(failed);
    assert_string_equal(sg_json_get_str(res, "status"), "connected");
    sg_json_decref(res);
    assert_string_equal(g_status(), "connected");
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "service_user"), "snowgate.service");
    bool ok = false;
    assert_true(sg_json_get_bool(sg_json_get(j, "last_test"), "ok", &ok));
    assert_true(ok);
    sg_json_decref(j);
    /* The sample request was closed again. The scheduled Run test (every second here) makes
     * sample requests of its own from now on, and one may be open at any moment: so wait for
     * a moment when every sample request there is has been closed. */
    assert_true(samples_closed(90));
    /* Run test works with the stored refresh token alone. */
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "status"), "connected");
    sg_json_decref(j);
    /* The Overview counts snowgate's requests in ServiceNow by state (not the test request). */
    sg_json_decref(
        g_sim_call("POST", "/api/now/table/sc_request",
                   "{\"correlation_id\":\"snowgate:r1\",\"request_state\":\"in_process\"}", 201));
    sg_json_decref(g_sim_call("POST", "/api/now/table/sc_request",
                              "{\"correlation_id\":\"snowgate:r2\"}", 201));
    sg_json_decref(
        g_sim_call("POST", "/api/now/table/sc_request", "{\"correlation_id\":\"other\"}", 201));
    assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow/overview", NULL, &j), 200);
    int64_t n = 0;
    assert_true(sg_json_get_int(j, "linked_requests", &n));
    assert_int_equal(n, 2);
    assert_true(sg_json_get_int(sg_json_get(j, "by_state"), "in_process", &n));
    assert_int_equal(n, 1);
    assert_true(sg_json_get_int(sg_json_get(j, "by_state"), "requested", &n));
    assert_int_equal(n, 1);
    assert_non_null(strstr(sg_json_get_str(sg_json_array_get(sg_json_get(j, "latest"), 0), "url"),
                           "/sc_request.do?sys_id="));
    sg_json_decref(j);
    /* The status shows the count as of the last test. */
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    sg_json_decref(j);
    assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    assert_true(sg_json_get_int(j, "linked_issues", &n));
    assert_int_equal(n, 2);
    assert_string_equal(sg_json_get_str(j, "grant_type"), "password");
    assert_non_null(sg_json_get_str(j, "refresh_token_expires_at"));
    sg_json_decref(j);
    /* The password is used, then forgotten: it is nowhere in the data dir. */
    const char *argv[] = {"/bin/grep", "-rlaF",       "-e",  SVC_PASSWORD,
                          "-e",        CLIENT_SECRET, G.dir, NULL};
    assert_int_equal(h_run(argv, NULL, 20000, NULL, NULL), 1);
    /* Revoking the tokens in ServiceNow makes Run test ask for a reconnect. */
    j = g_sim_call("GET", "/api/now/table/oauth_credential?sysparm_fields=sys_id", NULL, 200);
    sg_json *list = sg_json_get(j, "result");
    for (size_t i = 0; i < sg_json_array_size(list); i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/now/table/oauth_credential/%s",
                 sg_json_get_str(sg_json_array_get(list, i), "sys_id"));
        g_sim_call("DELETE", path, NULL, 204);
    }
    sg_json_decref(j);
    /* The scheduled Run test or the reconciler (each every second here) notices on its own,
     * and logs it. */
    assert_true(wait_status("needs_reconnect", 90));
    sg_buf log = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(G.gate.log_path, &log), SG_OK);
    bool logged = strstr(sg_buf_str(&log), "\"msg\":\"scheduled Run test failed\"") ||
                  strstr(sg_buf_str(&log), "\"msg\":\"reconciler run failed\"");
    sg_buf_free(&log);
    assert_true(logged);
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 422);
    sg_json_decref(j);
    /* A scheduled test (every second here) that began before the switch may still finish
     * after, as connected; the next one after it stops the calls for good. */
    assert_true(wait_status("needs_reconnect", 90));
    assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow/overview", NULL, &j), 409);
    sg_json_decref(j);
}

static int count_credentials(void)
{
    sg_json *j =
        g_sim_call("GET", "/api/now/table/oauth_credential?sysparm_fields=type", NULL, 200);
    int n = 0;
    sg_json *list = sg_json_get(j, "result");
    for (size_t i = 0; i < sg_json_array_size(list); i++)
        n += strcmp(sg_json_get_str(sg_json_array_get(list, i), "type"), "refresh_token") == 0;
    sg_json_decref(j);
    return n;
}

/* A request is mirrored: one sc_request and one sc_req_item from the catalog item, both with
 * correlation_id snowgate:<id>, an approver-ready description, and a link back. */
static void test_request_mirrored(void **state)
{
    (void)state;
    g_connected_with_asset("crm.accounts");
    char id[33], mirrored[33], path[128];
    g_request_mirrored("{\"asset\":\"crm.accounts\",\"privilege\":\"read\","
                       "\"justification\":\"quarterly churn review\",\"duration\":\"P7D\"}",
                       id, mirrored);
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    sg_json *j = NULL, *sn = NULL;
    assert_int_equal(g_call("GET", path, NULL, &sn), 200);
    const char *sys_id = sg_json_get_str(sg_json_get(sn, "servicenow"), "sys_id");
    assert_non_null(strstr(sg_json_get_str(sg_json_get(sn, "servicenow"), "number"), "REQ"));
    assert_non_null(strstr(sg_json_get_str(sg_json_get(sn, "servicenow"), "url"), sys_id));
    /* Exactly one of each in ServiceNow, found by correlation_id. */
    char q[256];
    snprintf(q, sizeof(q),
             "/api/now/table/sc_request?sysparm_query=correlation_id%%3Dsnowgate%%3A%s"
             "&sysparm_fields=sys_id,short_description,description",
             id);
    j = g_sim_call("GET", q, NULL, 200);
    sg_json *list = sg_json_get(j, "result");
    assert_int_equal(sg_json_array_size(list), 1);
    sg_json *rec = sg_json_array_get(list, 0);
    assert_string_equal(sg_json_get_str(rec, "sys_id"), sys_id);
    assert_string_equal(sg_json_get_str(rec, "short_description"),
                        "Data access: grant read on crm.accounts for alice");
    const char *desc = sg_json_get_str(rec, "description");
    assert_non_null(strstr(desc, "Justification: quarterly churn review"));
    assert_non_null(strstr(desc, "Duration: P7D"));
    assert_non_null(strstr(desc, id));
    sg_json_decref(j);
    snprintf(q, sizeof(q),
             "/api/now/table/sc_req_item?sysparm_query=request%%3D%s&sysparm_fields=cat_item."
             "name,correlation_id",
             sys_id);
    j = g_sim_call("GET", q, NULL, 200);
    list = sg_json_get(j, "result");
    assert_int_equal(sg_json_array_size(list), 1);
    assert_string_equal(sg_json_get_str(sg_json_array_get(list, 0), "cat_item.name"),
                        "Data access request");
    sg_json_decref(j);
    /* The approver approves in ServiceNow: the business rule's event makes snowgate re-read the
     * request and apply the decision, naming the ServiceNow approver. */
    char admin_id[33];
    g_sn_admin_decides(sys_id, "approved", NULL, admin_id);
    sg_json *done = g_wait_decided(path);
    assert_string_equal(sg_json_get_str(done, "state"), "approved");
    assert_string_equal(sg_json_get_str(done, "decided_by"), "servicenow:admin");
    sg_json_decref(done);
    /* Stored as ServiceNow's, not guessed from the name. */
    assert_int_equal(g_call("GET", path, NULL, &j), 200);
    sg_json *hist = sg_json_get(j, "history");
    sg_json *decided = sg_json_array_get(hist, sg_json_array_size(hist) - 1);
    assert_string_equal(sg_json_get_str(decided, "to"), "approved");
    assert_string_equal(sg_json_get_str(decided, "origin"), "servicenow");
    assert_string_equal(sg_json_get_str(sg_json_array_get(hist, 0), "origin"), "snowgate");
    sg_json_decref(j);
    /* Applied by hand (manual connection): the ServiceNow request closes with a work note. */
    snprintf(q, sizeof(q), "/api/v1/requests/%s/done", id);
    assert_int_equal(g_call("POST", q, "{\"comment\":\"added to the CRM group\"}", &j), 200);
    sg_json_decref(j);
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s?sysparm_fields=request_state", sys_id);
    bool closed = false;
    for (int i = 0; i < 1200 && !closed; i++) {
        j = g_sim_call("GET", q, NULL, 200);
        closed = strcmp(sg_json_get_str(sg_json_get(j, "result"), "request_state"),
                        "closed_complete") == 0;
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(closed);
    snprintf(q, sizeof(q),
             "/api/now/table/sys_journal_field?sysparm_query=element_id%%3D%s%%5Eelement%%3Dwork_"
             "notes&sysparm_fields=value",
             sys_id);
    j = g_sim_call("GET", q, NULL, 200);
    list = sg_json_get(j, "result");
    bool noted = false;
    for (size_t i = 0; i < sg_json_array_size(list); i++)
        noted = noted || strstr(sg_json_get_str(sg_json_array_get(list, i), "value"),
                                "snowgate: Access applied by alice: applied by hand: added to the "
                                "CRM group");
    assert_true(noted);
    sg_json_decref(j);
    sg_json_decref(sn);

    /* A decision in snowgate's inbox is written to ServiceNow: approval, and who made it. */
    const char *add[] = {
        SG_BUILD_DIR "/snowgate", "user", "add", "sam", "--role", "steward", "--data", G.dir, NULL};
    sg_buf tok = SG_BUF_INIT(0);
    assert_int_equal(h_run(add, NULL, 20000, &tok, NULL), 0);
    char sam_h[128];
    snprintf(sam_h, sizeof(sam_h), "Authorization: Bearer %.64s", sg_buf_str(&tok));
    sg_buf_free(&tok);
    assert_int_equal(g_call("POST", "/api/v1/requests",
                            "{\"asset\":\"crm.accounts\",\"privilege\":\"write\","
                            "\"justification\":\"fix owners\"}",
                            &j),
                     201);
    char id2[33];
    snprintf(id2, sizeof(id2), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id2);
    const char *hs[] = {sam_h, NULL};
    assert_int_equal(h_call("POST", G.gate.url, path, hs, "{\"comment\":\"ok\"}", &j, NULL), 200);
    sg_json_decref(j);
    snprintf(q, sizeof(q),
             "/api/now/table/sc_request?sysparm_query=correlation_id%%3Dsnowgate%%3A%s"
             "&sysparm_fields=approval",
             id2);
    bool approved = false;
    for (int i = 0; i < 1200 && !approved; i++) {
        j = g_sim_call("GET", q, NULL, 200);
        const char *a = sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "approval");
        approved = a && strcmp(a, "approved") == 0;
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(approved);
    /* The echo of that change (webhook, re-read) leaves the request as it is. */
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id2);
    assert_int_equal(g_call("GET", path, NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "approved");
    assert_string_equal(sg_json_get_str(j, "decided_by"), "sam");
    sg_json_decref(j);
}

/* A local steward whose user name starts with "servicenow" decides in snowgate's inbox: the
 * decision is snowgate's and is written to ServiceNow like anyone else's (it used to be taken
 * for ServiceNow's own, from the name, and never sent). */
static void test_servicenow_named_local_approver(void **state)
{
    (void)state;
    g_connected_with_asset("crm.accounts");
    char ops_h[128], id[33], sys_id[33], path[128];
    g_add_user("servicenow_ops", "steward", NULL, ops_h);
    g_request_mirrored("{\"asset\":\"crm.accounts\",\"privilege\":\"read\","
                       "\"justification\":\"churn review\"}",
                       id, sys_id);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    const char *hs[] = {ops_h, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("POST", G.gate.url, path, hs, "{\"comment\":\"fine\"}", &j, NULL), 200);
    sg_json *hist = sg_json_get(j, "history");
    sg_json *last = sg_json_array_get(hist, sg_json_array_size(hist) - 1);
    assert_string_equal(sg_json_get_str(last, "actor"), "servicenow_ops");
    assert_string_equal(sg_json_get_str(last, "origin"), "snowgate");
    sg_json_decref(j);
    g_wait_sn_field(sys_id, "approval", "approved");
    assert_true(g_sn_work_note(sys_id, "servicenow_ops"));
}

/* Whether s holds a ServiceNow code tag ("[code" or "[/code", any case). */
static bool has_code_tag(const char *s)
{
    return s && (strcasestr(s, "[code") || strcasestr(s, "[/code"));
}

/* ServiceNow renders HTML between [code] and [/code] in journal fields: what people write in
 * snowgate (a justification, a comment) reaches ServiceNow as text, never as markup. */
/* The name of the catalog item of the request item mirrored for ServiceNow request sys_id. */
static void item_of(const char *sys_id, char cat_item[33], char name[64])
{
    char q[256];
    snprintf(q, sizeof(q),
             "/api/now/table/"
             "sc_req_item?sysparm_exclude_reference_link=true&sysparm_query=request%%3D%s&sysparm_"
             "fields=cat_item,"
             "cat_item.name",
             sys_id);
    sg_json *j = g_sim_call("GET", q, NULL, 200);
    sg_json *first = sg_json_array_get(sg_json_get(j, "result"), 0);
    assert_non_null(first);
    snprintf(cat_item, 33, "%s",
             sg_json_get_str(first, "cat_item") ? sg_json_get_str(first, "cat_item") : "");
    snprintf(name, 64, "%s",
             sg_json_get_str(first, "cat_item.name") ? sg_json_get_str(first, "cat_item.name")
                                                     : "");
    sg_json_decref(j);
}

/* Mirror jobs keep the catalog item's sys_id once looked up; Run test forgets it, so items made
 * after the item was made again in ServiceNow (a new sys_id) refer to the new one, never to a
 * record that is gone (ServiceNow would take a dangling reference without a word). */
static void test_catalog_item_followed_after_run_test(void **state)
{
    (void)state;
    g_connected_with_asset("crm.accounts");
    char id[33], first[33], second[33], cat[33], name[64];
    g_request_mirrored("{\"asset\":\"crm.accounts\",\"privilege\":\"read\","
                       "\"justification\":\"first\"}",
                       id, first);
    item_of(first, cat, name);
    assert_string_equal(name, "Data access request");
    /* The ServiceNow admin makes the item again: same name, new sys_id. */
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sc_cat_item/%s", cat);
    sg_json *old = g_sim_call("GET", path, NULL, 200);
    sg_json *copy = sg_json_object();
    static const char *const fields[] = {"name", "short_description", "sc_catalogs", "category",
                                         "active"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        sg_json_set_str(copy, fields[i], sg_json_get_str(sg_json_get(old, "result"), fields[i]));
    sg_json_decref(old);
    char *body = sg_json_dump(copy);
    sg_json_decref(copy);
    sg_json_decref(g_sim_call("DELETE", path, NULL, 204));
    sg_json *made = g_sim_call("POST", "/api/now/table/sc_cat_item", body, 201);
    free(body);
    char new_cat[33];
    snprintf(new_cat, sizeof(new_cat), "%s",
             sg_json_get_str(sg_json_get(made, "result"), "sys_id"));
    sg_json_decref(made);
    assert_string_not_equal(new_cat, cat);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    sg_json_decref(j);
    g_request_mirrored("{\"asset\":\"crm.accounts\",\"privilege\":\"write\","
                       "\"justification\":\"second\"}",
                       id, second);
    item_of(second, cat, name);
    assert_string_equal(cat, new_cat);
    assert_string_equal(name, "Data access request");
}

static void test_servicenow_markup_defused(void **state)
{
    (void)state;
    g_connected_with_asset("crm.accounts");
    char id[33], sys_id[33];
    g_request_mirrored("{\"asset\":\"crm.accounts\",\"privilege\":\"read\",\"justification\":"
                       "\"[code]<img src=x onerror=alert(1)>[/code] and [ CoDe ]x[/ code]\"}",
                       id, sys_id);
    static const char *const tables[] = {"sc_request", "sc_req_item"};
    for (size_t i = 0; i < 2; i++) {
        char q[256];
        snprintf(q, sizeof(q),
                 "/api/now/table/%s?sysparm_query=correlation_id%%3Dsnowgate%%3A%s"
                 "&sysparm_fields=short_description,description",
                 tables[i], id);
        sg_json *j = g_sim_call("GET", q, NULL, 200);
        sg_json *rec = sg_json_array_get(sg_json_get(j, "result"), 0);
        const char *desc = sg_json_get_str(rec, "description");
        assert_non_null(desc);
        /* The text is all there, as text. */
        assert_non_null(strstr(desc, "<img src=x onerror=alert(1)>"));
        if (has_code_tag(desc) || has_code_tag(sg_json_get_str(rec, "short_description")))
            fail_msg("%s keeps a [code] tag: %s", tables[i], desc);
        sg_json_decref(j);
    }
    /* A comment goes into the work notes (a journal field, where [code] is rendered). */
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s/cancel", id);
    sg_json *j = NULL;
    assert_int_equal(
        g_call("POST", path, "{\"comment\":\"[code]<img src=x onerror=alert(1)>[/code]\"}", &j),
        200);
    sg_json_decref(j);
    assert_true(g_sn_work_note(sys_id, "<img src=x onerror=alert(1)>"));
    char q[256];
    snprintf(q, sizeof(q),
             "/api/now/table/sys_journal_field?sysparm_query=element_id%%3D%s"
             "&sysparm_fields=element,value",
             sys_id);
    j = g_sim_call("GET", q, NULL, 200);
    sg_json *list = sg_json_get(j, "result");
    assert_true(sg_json_array_size(list) > 0);
    for (size_t k = 0; k < sg_json_array_size(list); k++) {
        const char *v = sg_json_get_str(sg_json_array_get(list, k), "value");
        if (has_code_tag(v))
            fail_msg("a journal entry keeps a [code] tag: %s", v);
    }
    sg_json_decref(j);
}

/* A lost webhook delays a decision made in ServiceNow, never loses it: the reconciler finds
 * the changed record and the same re-read applies it. */
static void test_reconciler_finds_decision(void **state)
{
    (void)state;
    g_connected_with_asset("hr.salaries");
    char id[33], sys_id[33], path[128], q[256];
    g_request_mirrored("{\"asset\":\"hr.salaries\",\"privilege\":\"read\","
                       "\"justification\":\"pay equity audit\"}",
                       id, sys_id);
    /* The rule is switched off, so no event is sent for the rejection. */
    sg_json *j =
        g_sim_call("GET", "/api/now/table/sys_script?name=snowgate%20Business%20Rule", NULL, 200);
    snprintf(q, sizeof(q), "/api/now/table/sys_script/%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    sg_json_decref(g_sim_call("PATCH", q, "{\"active\":false}", 200));
    char admin_id[33];
    g_sn_admin_decides(sys_id, "rejected", "no business need", admin_id);
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    j = g_wait_decided(path);
    assert_string_equal(sg_json_get_str(j, "state"), "rejected");
    assert_string_equal(sg_json_get_str(j, "decided_by"), "servicenow:admin");
    sg_json_decref(j);
    /* The approver's comment, from the approval's journal, read after the decision. */
    sg_json_decref(g_wait_comment(id, "no business need"));
}

/* The webhook path dies after setup (a firewall, a proxy change: snowsim drops every outbound
 * event). Run test says so as degraded, in the API and in /metrics; ServiceNow is still
 * called: a new request is mirrored, and a decision made in ServiceNow arrives through the
 * reconciler. Once the path works again, Run test heals the status. */
static void test_webhook_path_dead(void **state)
{
    (void)state;
    g_connected_with_asset("hr.salaries");
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults",
                              "{\"rules\":[{\"path\":\"/webhooks/\",\"kind\":\"drop\","
                              "\"outbound\":true}]}",
                              200));
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 422);
    sg_json_decref(j);
    assert_string_equal(g_status(), "degraded");
    assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    assert_non_null(strstr(sg_json_get_str(j, "status_reason"), "webhook_roundtrip"));
    int64_t every = 0;
    assert_true(sg_json_get_int(j, "reconcile_interval", &every));
    assert_int_equal(every, 1);
    sg_json_decref(j);
    char auth[96];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", METRICS_TOKEN);
    const char *hdrs[] = {auth, NULL};
    sg_http_response r = {0};
    assert_int_equal(h_call("GET", G.gate.url, "/metrics", hdrs, NULL, NULL, &r), 200);
    assert_non_null(
        strstr(sg_buf_str(&r.body), "snowgate_servicenow_status{status=\"degraded\"} 1"));
    assert_non_null(
        strstr(sg_buf_str(&r.body), "snowgate_servicenow_status{status=\"connected\"} 0"));
    sg_http_response_free(&r);

    /* Still mirrored, and the ServiceNow decision still applied. */
    char id[33], sys_id[33], path[128];
    g_request_mirrored("{\"asset\":\"hr.salaries\",\"privilege\":\"read\","
                       "\"justification\":\"quarterly close\"}",
                       id, sys_id);
    char admin_id[33];
    g_sn_admin_decides(sys_id, "rejected", "not this quarter", admin_id);
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    j = g_wait_decided(path);
    assert_string_equal(sg_json_get_str(j, "state"), "rejected");
    assert_string_equal(sg_json_get_str(j, "decided_by"), "servicenow:admin");
    sg_json_decref(j);
    /* No event arrived: the reconciler carried it. */
    assert_string_equal(g_status(), "degraded");

    /* The path works again: Run test passes, and the status heals (a scheduled test that
     * began while events were still dropped may finish after it, so wait for the next). */
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults", "{\"rules\":[]}", 200));
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    sg_json_decref(j);
    bool healed = false;
    for (int i = 0; i < 600 && !healed; i++) {
        healed = strcmp(g_status(), "connected") == 0;
        if (!healed) {
            struct timespec t = {0, 100 * 1000 * 1000};
            nanosleep(&t, NULL);
        }
    }
    assert_true(healed);
}

/* A mirror job that runs longer than its lease (ServiceNow takes 8 s to create the item;
 * jobs.lease is 3 s here) keeps its lease while it runs, so no other worker starts it again
 * and ServiceNow gets one item, not two. */
static void test_slow_mirror_runs_once(void **state)
{
    (void)state;
    g_connected_with_asset("hr.salaries");
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults",
                              "{\"rules\":[{\"path\":\"/api/now/table/sc_req_item\",\"method\":"
                              "\"POST\",\"kind\":\"delay\",\"delay_ms\":8000,\"count\":1}]}",
                              200));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char id[33], sys_id[33];
    g_request_mirrored("{\"asset\":\"hr.salaries\",\"privilege\":\"read\","
                       "\"justification\":\"year-end review\"}",
                       id, sys_id);
    /* Until the slow create has had time to land (a second worker that took the job over
     * would have finished long before it), and no job is left running or waiting. */
    bool idle = false;
    for (int i = 0; i < 600 && !idle; i++) {
        sg_json *running = NULL, *queued = NULL;
        assert_int_equal(g_call("GET", "/api/v1/jobs?state=running", NULL, &running), 200);
        assert_int_equal(g_call("GET", "/api/v1/jobs?state=queued", NULL, &queued), 200);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        idle = now.tv_sec - t0.tv_sec >= 12 &&
               sg_json_array_size(sg_json_get(running, "items")) == 0 &&
               sg_json_array_size(sg_json_get(queued, "items")) == 0;
        sg_json_decref(running);
        sg_json_decref(queued);
        if (!idle) {
            struct timespec t = {0, 100 * 1000 * 1000};
            nanosleep(&t, NULL);
        }
    }
    assert_true(idle);
    char q[128];
    snprintf(q, sizeof(q), "request%%3D%s", sys_id);
    assert_int_equal(g_count_in_sn("sc_req_item", q), 1);
    snprintf(q, sizeof(q), "correlation_id%%3Dsnowgate%%3A%s", id);
    assert_int_equal(g_count_in_sn("sc_request", q), 1);
}

/* kill -9 while the sc_req_item is being created (ServiceNow is slow to answer, so the record
 * is made after snowgate died): after a restart the job runs again, finds both records by
 * correlation_id, and creates no duplicate. */
static void test_crash_mid_mirror(void **state)
{
    (void)state;
    g_connected_with_asset("fin.ledger");
    sg_json *j = NULL;
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults",
                              "{\"rules\":[{\"path\":\"/api/now/table/sc_req_item\",\"method\":"
                              "\"POST\",\"kind\":\"delay\",\"delay_ms\":3000}]}",
                              200));
    assert_int_equal(g_call("POST", "/api/v1/requests",
                            "{\"asset\":\"fin.ledger\",\"privilege\":\"read\","
                            "\"justification\":\"month-end close\"}",
                            &j),
                     201);
    char id[33], q[256];
    snprintf(id, sizeof(id), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    snprintf(q, sizeof(q),
             "/api/now/table/sc_request?sysparm_query=correlation_id%%3Dsnowgate%%3A%s"
             "&sysparm_fields=sys_id",
             id);
    size_t n = 0;
    for (int i = 0; i < 1200 && n == 0; i++) {
        j = g_sim_call("GET", q, NULL, 200);
        n = sg_json_array_size(sg_json_get(j, "result"));
        sg_json_decref(j);
        struct timespec t = {0, 20 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_int_equal(n, 1);
    struct timespec t = {0, 500 * 1000 * 1000};
    nanosleep(&t, NULL);
    assert_int_equal(h_stop(&G.gate, SIGKILL, 30000), 128 + SIGKILL);
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults", "{\"rules\":[]}", 200));
    g_spawn_gate();
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    sg_json *sn = NULL;
    for (int i = 0; i < 1200 && !sn; i++) {
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        if (sg_json_typeof(sg_json_get(j, "servicenow")) == SG_JSON_OBJECT)
            sn = j;
        else
            sg_json_decref(j);
        struct timespec p = {0, 50 * 1000 * 1000};
        nanosleep(&p, NULL);
    }
    if (!sn)
        fail_msg("the request was never mirrored after the restart");
    j = g_sim_call("GET", q, NULL, 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    snprintf(q, sizeof(q),
             "/api/now/table/sc_req_item?sysparm_query=request%%3D%s&sysparm_fields=sys_id",
             sg_json_get_str(sg_json_get(sn, "servicenow"), "sys_id"));
    j = g_sim_call("GET", q, NULL, 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    sg_json_decref(sn);
}

typedef struct link_ctx {
    const char *sn_user_id;
} link_ctx;

static int link_tx(sg_conn *c, void *ctx)
{
    link_ctx *l = ctx;
    sg_val v[] = {SG_VTEXT(l->sn_user_id)};
    return sg_conn_exec(c,
                        "INSERT INTO account_links (user_id, sn_user_name, sn_user_id, linked_at) "
                        "SELECT id, 'admin', ?1, '2026-01-01T00:00:00Z' FROM users WHERE name = "
                        "'alice'",
                        v, 1, NULL);
}

/* ServiceNow answers 503 and 429 for a while: the jobs retry (honouring Retry-After), every
 * request ends up mirrored exactly once. */
static void test_outage_converges(void **state)
{
    (void)state;
    g_connected_with_asset("web.sessions");
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults",
                              "{\"rules\":[{\"path\":\"/api/now/table/sc_re\",\"kind\":"
                              "\"status\",\"status\":503,\"count\":4},{\"path\":\"/api/now/"
                              "table/\",\"kind\":\"ratelimit\",\"retry_after\":1,\"count\":3}]}",
                              200));
    static const char *const privs[] = {"read", "write"};
    char ids[2][33];
    for (int i = 0; i < 2; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"asset\":\"web.sessions\",\"privilege\":\"%s\",\"justification\":"
                 "\"capacity planning\"}",
                 privs[i]);
        sg_json *j = NULL;
        assert_int_equal(g_call("POST", "/api/v1/requests", body, &j), 201);
        snprintf(ids[i], 33, "%s", sg_json_get_str(j, "id"));
        sg_json_decref(j);
    }
    for (int i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/requests/%s", ids[i]);
        bool mirrored = false;
        for (int k = 0; k < 1200 && !mirrored; k++) {
            sg_json *j = NULL;
            assert_int_equal(g_call("GET", path, NULL, &j), 200);
            mirrored = sg_json_typeof(sg_json_get(j, "servicenow")) == SG_JSON_OBJECT;
            sg_json_decref(j);
            struct timespec t = {0, 50 * 1000 * 1000};
            nanosleep(&t, NULL);
        }
        assert_true(mirrored);
        char q[256];
        snprintf(q, sizeof(q),
                 "/api/now/table/sc_request?sysparm_query=correlation_id%%3Dsnowgate%%3A%s"
                 "&sysparm_fields=sys_id",
                 ids[i]);
        sg_json *j = g_sim_call("GET", q, NULL, 200);
        assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
        sg_json_decref(j);
    }
    /* The outage was real: the mirror jobs needed retries. */
    sg_json *jobs = NULL;
    assert_int_equal(g_call("GET", "/api/v1/jobs?state=done", NULL, &jobs), 200);
    int64_t retried = 0;
    sg_json *items = sg_json_get(jobs, "items");
    for (size_t k = 0; k < sg_json_array_size(items); k++) {
        sg_json *job = sg_json_array_get(items, k);
        int64_t attempts = 0;
        if (strcmp(sg_json_get_str(job, "kind"), "servicenow.mirror") == 0 &&
            sg_json_get_int(job, "attempts", &attempts))
            retried += attempts;
    }
    sg_json_decref(jobs);
    assert_true(retried >= 1);
}

/* alice's ServiceNow account approving alice's request is a self-approval: refused, on record. */
static void test_self_approval_in_servicenow(void **state)
{
    (void)state;
    g_connected_with_asset("ops.incidents");
    sg_json *j = g_sim_call(
        "GET", "/api/now/table/sys_user?sysparm_query=user_name%3Dadmin&sysparm_fields=sys_id",
        NULL, 200);
    char admin_id[33];
    snprintf(admin_id, 33, "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    /* alice linked her ServiceNow account (snowsim's admin). */
    link_ctx l = {admin_id};
    g_in_store(link_tx, &l);
    char id[33], sys_id[33];
    g_request_mirrored("{\"asset\":\"ops.incidents\",\"privilege\":\"read\","
                       "\"justification\":\"on-call\"}",
                       id, sys_id);
    /* Raised on her behalf: requested_for is her ServiceNow user. */
    char q[256];
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s?sysparm_fields=requested_for", sys_id);
    j = g_sim_call("GET", q, NULL, 200);
    assert_string_equal(
        sg_json_get_str(sg_json_get(sg_json_get(j, "result"), "requested_for"), "value"), admin_id);
    sg_json_decref(j);
    g_sn_admin_decides(sys_id, "approved", NULL, admin_id);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    bool flagged = false;
    for (int i = 0; i < 1200 && !flagged; i++) {
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        sg_json *h = sg_json_get(j, "history");
        sg_json *last = sg_json_array_get(h, sg_json_array_size(h) - 1);
        flagged = strcmp(sg_json_get_str(last, "event"), "conflict") == 0;
        if (flagged) {
            assert_string_equal(sg_json_get_str(j, "state"), "pending");
            assert_non_null(strstr(sg_json_get_str(last, "note"), "self-approval"));
            assert_string_equal(sg_json_get_str(last, "actor"), "servicenow:admin");
        }
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(flagged);
}

static int email_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE users SET email = 'Admin@Example.com' WHERE name = 'alice'",
                        NULL, 0, NULL);
}

/* alice did not link her ServiceNow account, but snowsim's admin has her email: an approval by
 * that user is hers, refused and recorded (once) as a ServiceNow conflict. */
static void test_self_approval_by_email_in_servicenow(void **state)
{
    (void)state;
    g_connected_with_asset("ops.incidents");
    g_in_store(email_tx, NULL);
    char id[33], sys_id[33], admin_id[33], path[128];
    g_request_mirrored("{\"asset\":\"ops.incidents\",\"privilege\":\"read\","
                       "\"justification\":\"on-call\"}",
                       id, sys_id);
    g_sn_admin_decides(sys_id, "approved", NULL, admin_id);
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    bool flagged = false;
    sg_json *j = NULL;
    for (int i = 0; i < 1200 && !flagged; i++) {
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        sg_json *h = sg_json_get(j, "history");
        sg_json *last = sg_json_array_get(h, sg_json_array_size(h) - 1);
        flagged = strcmp(sg_json_get_str(last, "event"), "conflict") == 0;
        if (flagged) {
            assert_string_equal(sg_json_get_str(j, "state"), "pending");
            assert_non_null(strstr(sg_json_get_str(last, "note"), "self-approval"));
            assert_string_equal(sg_json_get_str(last, "actor"), "servicenow:admin");
            assert_string_equal(sg_json_get_str(last, "origin"), "servicenow");
        }
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(flagged);
}

static void test_disconnect_revokes(void **state)
{
    (void)state;
    g_connected();
    assert_int_equal(count_credentials(), 1);
    sg_json *j = NULL;
    assert_int_equal(g_call("DELETE", "/api/v1/integrations/servicenow", NULL, &j), 204);
    assert_int_equal(count_credentials(), 0);
    assert_string_equal(g_status(), "not_configured");
}

static void test_wrong_client_secret(void **state)
{
    (void)state;
    g_steps_1_2("not-the-secret");
    g_step_3();
    g_step_4(true);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(g_connect(SVC_PASSWORD, &res, &failed), 422);
    assert_string_equal(failed, "token_obtained");
    assert_non_null(strstr(fix_of(res, "token_obtained"), "client ID and secret"));
    sg_json_decref(res);
    assert_string_equal(g_status(), "awaiting_connection");
}

static void test_wrong_password(void **state)
{
    (void)state;
    g_steps_1_2(CLIENT_SECRET);
    g_step_3();
    g_step_4(true);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(g_connect("wrong-password", &res, &failed), 422);
    assert_string_equal(failed, "token_obtained");
    sg_json_decref(res);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/connect", "{}", &j), 400);
    assert_non_null(
        strstr(sg_json_get_str(sg_json_get(j, "error"), "message"), "password is required"));
    sg_json_decref(j);
}

static void test_update_set_not_committed(void **state)
{
    (void)state;
    g_steps_1_2(CLIENT_SECRET);
    g_step_4(false);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(g_connect(SVC_PASSWORD, &res, &failed), 422);
    assert_string_equal(failed, "update_set_committed");
    sg_json *checks = sg_json_get(res, "checks");
    assert_non_null(strstr(sg_json_get_str(sg_json_array_get(checks, 2), "message"),
                           "the update set is not committed"));
    assert_non_null(strstr(fix_of(res, "update_set_committed"), "Step 3"));
    sg_json_decref(res);
}

static void test_missing_role(void **state)
{
    (void)state;
    g_steps_1_2(CLIENT_SECRET);
    g_step_3();
    g_step_4(false);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(g_connect(SVC_PASSWORD, &res, &failed), 422);
    assert_string_equal(failed, "role_assigned");
    assert_non_null(strstr(fix_of(res, "role_assigned"), "snowgate_service_account_role"));
    sg_json_decref(res);
}

static void test_webhook_never_arrives(void **state)
{
    (void)state;
    g_steps_1_2(CLIENT_SECRET);
    g_step_3();
    g_step_4(true);
    /* A ServiceNow admin switched the rule off. */
    sg_json *j =
        g_sim_call("GET", "/api/now/table/sys_script?name=snowgate%20Business%20Rule", NULL, 200);
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sys_script/%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    sg_json_decref(g_sim_call("PATCH", path, "{\"active\":false}", 200));
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(g_connect(SVC_PASSWORD, &res, &failed), 422);
    assert_string_equal(failed, "webhook_roundtrip");
    assert_non_null(strstr(fix_of(res, "webhook_roundtrip"), "snowgate Business Rule"));
    sg_json_decref(res);
}

static void test_unreachable_instance(void **state)
{
    (void)state;
    /* A port nothing listens on. */
    sg_json *j = NULL;
    assert_int_equal(g_call("PUT", "/api/v1/integrations/servicenow",
                            "{\"instance_url\":\"http://127.0.0.1:9\",\"client_id\":\"x\","
                            "\"client_secret\":\"y\"}",
                            &j),
                     200);
    sg_json_decref(j);
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(g_connect(SVC_PASSWORD, &res, &failed), 422);
    assert_string_equal(failed, "instance_reachable");
    sg_json_decref(res);
    assert_string_equal(g_status(), "awaiting_connection");
}

/* Drives snowsim's login and consent pages like a browser; returns the final redirect. */
static char *browser_authorize(const char *authorization_url, const char *user, const char *pw,
                               const char *action)
{
    const char *q = strchr(authorization_url, '?');
    assert_non_null(q);
    q++;
    sg_http_response r;
    assert_int_equal(h_http("GET", authorization_url, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(sg_buf_str(&r.body), "action=\"/login.do\""));
    sg_http_response_free(&r);
    char *form = sg_xasprintf("%s&user_name=%s&user_password=%s", q, user, pw);
    const char *fh[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    char *url = sg_xasprintf("%s/login.do", G.sim.p.url);
    assert_int_equal(h_http("POST", url, fh, form, &r), SG_OK);
    assert_int_equal(r.status, 200);
    free(url);
    free(form);
    const char *set = sg_http_response_header(&r, "Set-Cookie");
    char *cookie = sg_xasprintf("Cookie: %.*s", (int)strcspn(set, ";"), set);
    const char *ck = strstr(sg_buf_str(&r.body), "name=\"sysparm_ck\" value=\"");
    assert_non_null(ck);
    char *token = sg_xstrndup(ck + strlen("name=\"sysparm_ck\" value=\""), 32);
    sg_http_response_free(&r);
    form = sg_xasprintf("%s&sysparm_ck=%s&action=%s", q, token, action);
    const char *ch[] = {"Content-Type: application/x-www-form-urlencoded", cookie, NULL};
    url = sg_xasprintf("%s/oauth_auth.do", G.sim.p.url);
    assert_int_equal(h_http("POST", url, ch, form, &r), SG_OK);
    assert_int_equal(r.status, 302);
    char *loc = sg_xstrdup(sg_http_response_header(&r, "Location"));
    sg_http_response_free(&r);
    free(url);
    free(form);
    free(token);
    free(cookie);
    return loc;
}

/* Starts linking as auth_header; *cookie receives the "Cookie: sg_link=..." header that the
 * browser which asked would send back to /oauth-callback (the caller frees it). */
static char *link_url(const char *auth_header, char **cookie)
{
    const char *h[] = {auth_header, NULL};
    sg_json *j = NULL;
    sg_http_response r;
    assert_int_equal(h_call("GET", G.gate.url, "/api/v1/me/servicenow/link", h, NULL, &j, &r), 200);
    const char *set = sg_http_response_header(&r, "Set-Cookie");
    assert_non_null(set);
    assert_true(sg_str_startswith(set, "sg_link="));
    assert_non_null(strstr(set, "HttpOnly"));
    assert_non_null(strstr(set, "SameSite=Lax"));
    assert_non_null(strstr(set, "Path=/oauth-callback"));
    *cookie = sg_xasprintf("Cookie: %.*s", (int)strcspn(set, ";"), set);
    sg_http_response_free(&r);
    char *u = sg_xstrdup(sg_json_get_str(j, "authorization_url"));
    sg_json_decref(j);
    return u;
}

/* Whether bob's snowgate account is linked to a ServiceNow user now. */
static bool bob_linked(const char *const *as_bob)
{
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", G.gate.url, "/api/v1/me/servicenow", as_bob, NULL, &j, NULL),
                     200);
    bool linked = true;
    assert_true(sg_json_get_bool(j, "linked", &linked));
    sg_json_decref(j);
    return linked;
}

static void test_account_linking(void **state)
{
    (void)state;
    g_steps_1_2(CLIENT_SECRET);
    g_step_3();
    sg_json_decref(g_sim_call("POST", "/api/now/table/sys_user",
                              "{\"user_name\":\"maria\",\"user_password\":\"Maria-pw-1\"}", 201));
    const char *add[] = {
        SG_BUILD_DIR "/snowgate", "user", "add", "bob", "--role", "member", "--data", G.dir, NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(add, NULL, 20000, &out, NULL), 0);
    char bob[128];
    snprintf(bob, sizeof(bob), "Authorization: Bearer %.64s", sg_buf_str(&out));
    sg_buf_free(&out);
    const char *as_bob[] = {bob, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", G.gate.url, "/api/v1/me/servicenow", as_bob, NULL, &j, NULL),
                     200);
    bool linked = true;
    assert_true(sg_json_get_bool(j, "linked", &linked));
    assert_false(linked);
    sg_json_decref(j);
    assert_int_equal(h_call("GET", G.gate.url, "/api/v1/me/servicenow/link", NULL, NULL, &j, NULL),
                     401);
    sg_json_decref(j);

    /* Forgery: bob starts linking, and the authorization URL is finished by someone else
     * (maria allows it in her own browser, which never saw bob's cookie). Refused, nothing is
     * linked, and the state is spent: bob's own browser cannot finish it afterwards either. */
    char *bob_cookie = NULL;
    char *url = link_url(bob, &bob_cookie);
    char *back = browser_authorize(url, "maria", "Maria-pw-1", "allow");
    sg_http_response r;
    assert_int_equal(h_http("GET", back, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(sg_buf_str(&r.body), "started in another browser"));
    sg_http_response_free(&r);
    assert_false(bob_linked(as_bob));
    const char *with_bob_cookie[] = {bob_cookie, NULL};
    assert_int_equal(h_http("GET", back, with_bob_cookie, NULL, &r), SG_OK);
    assert_int_equal(r.status, 400);
    sg_http_response_free(&r);
    assert_false(bob_linked(as_bob));
    free(back);
    free(url);
    free(bob_cookie);
    /* Nor with another flow's cookie (or a cookie of the right shape but made up). */
    char *other_cookie = NULL, *mine_cookie = NULL;
    free(link_url(bob, &other_cookie));
    url = link_url(bob, &mine_cookie);
    back = browser_authorize(url, "maria", "Maria-pw-1", "allow");
    const char *wrong[] = {other_cookie, NULL};
    assert_int_equal(h_http("GET", back, wrong, NULL, &r), SG_OK);
    assert_int_equal(r.status, 403);
    sg_http_response_free(&r);
    free(back);
    free(url);
    url = link_url(bob, &bob_cookie);
    back = browser_authorize(url, "maria", "Maria-pw-1", "allow");
    char made_up[128];
    snprintf(made_up, sizeof(made_up), "Cookie: sg_link=%064d", 0);
    const char *forged_cookie[] = {made_up, NULL};
    assert_int_equal(h_http("GET", back, forged_cookie, NULL, &r), SG_OK);
    assert_int_equal(r.status, 403);
    sg_http_response_free(&r);
    assert_false(bob_linked(as_bob));
    free(back);
    free(url);
    free(bob_cookie);
    free(other_cookie);
    free(mine_cookie);

    /* The browser that started it links. */
    char *cookie = NULL;
    url = link_url(bob, &cookie);
    assert_true(sg_str_startswith(url, G.sim.p.url));
    assert_non_null(strstr(url, "code_challenge_method=S256"));
    assert_non_null(strstr(url, "&state="));
    back = browser_authorize(url, "maria", "Maria-pw-1", "allow");
    char want[512];
    snprintf(want, sizeof(want), "%s/oauth-callback?code=", G.gate.url);
    assert_true(sg_str_startswith(back, want));
    const char *browser[] = {cookie, NULL};
    assert_int_equal(h_http("GET", back, browser, NULL, &r), SG_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(sg_buf_str(&r.body), "linked to the ServiceNow user maria"));
    /* The nonce is spent: the answer clears the cookie. */
    assert_non_null(strstr(sg_http_response_header(&r, "Set-Cookie"), "Max-Age=0"));
    sg_http_response_free(&r);
    assert_int_equal(h_call("GET", G.gate.url, "/api/v1/me/servicenow", as_bob, NULL, &j, NULL),
                     200);
    assert_true(sg_json_get_bool(j, "linked", &linked));
    assert_true(linked);
    assert_string_equal(sg_json_get_str(j, "user_name"), "maria");
    assert_true(sim_is_sys_id(sg_json_get_str(j, "sys_id")));
    sg_json_decref(j);
    /* The callback works once. */
    assert_int_equal(h_http("GET", back, browser, NULL, &r), SG_OK);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(sg_buf_str(&r.body), "already used"));
    sg_http_response_free(&r);
    free(back);
    free(url);
    free(cookie);

    /* Deny in ServiceNow: nothing is linked, and the page says why. */
    url = link_url(bob, &cookie);
    free(cookie);
    back = browser_authorize(url, "maria", "Maria-pw-1", "deny");
    assert_non_null(strstr(back, "error=access_denied"));
    assert_int_equal(h_http("GET", back, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(sg_buf_str(&r.body), "You chose Deny"));
    sg_http_response_free(&r);
    free(back);
    free(url);

    /* A forged state is refused. */
    char *forged = sg_xasprintf("%s/oauth-callback?code=abc&state=%064d", G.gate.url, 7);
    assert_int_equal(h_http("GET", forged, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 400);
    sg_http_response_free(&r);
    free(forged);
}

static int expire_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE integrations SET refresh_expires = 1", NULL, 0, NULL);
}

static void test_refresh_expiry(void **state)
{
    (void)state;
    g_connected();
    /* Time passes beyond the refresh token's lifespan. */
    g_in_store(expire_tx, NULL);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 422);
    assert_non_null(strstr(
        sg_json_get_str(sg_json_array_get(sg_json_get(j, "checks"), 1), "message"), "expired"));
    sg_json_decref(j);
    assert_string_equal(g_status(), "needs_reconnect");
}

static void test_client_credentials(void **state)
{
    (void)state;
    g_steps_1_2(CLIENT_SECRET);
    g_step_3();
    g_step_4(true);
    /* The instance allows client_credentials, with snowgate.service as the application user. */
    sg_json_decref(
        g_sim_call("POST", "/api/now/table/sys_properties",
                   "{\"name\":\"glide.oauth.inbound.client.credential.grant_type.enabled\","
                   "\"value\":\"true\"}",
                   201));
    sg_json *j =
        g_sim_call("GET", "/api/now/table/oauth_entity?name=snowgate%20OAuth%20App", NULL, 200);
    char path[128], body[96];
    snprintf(path, sizeof(path), "/api/now/table/oauth_entity/%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    snprintf(body, sizeof(body), "{\"user\":\"%s\"}", G.svc_id);
    sg_json_decref(g_sim_call("PATCH", path, body, 200));
    sg_json *res = NULL;
    const char *failed = NULL;
    assert_int_equal(g_connect(SVC_PASSWORD, &res, &failed), 200);
    assert_non_null(
        strstr(sg_json_get_str(sg_json_array_get(sg_json_get(res, "checks"), 1), "message"),
               "client_credentials grant"));
    sg_json_decref(res);
    assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "grant_type"), "client_credentials");
    assert_null(sg_json_get(j, "refresh_token_expires_at"));
    sg_json_decref(j);
    /* No refresh token exists in ServiceNow; Run test and the Overview still work. */
    j = g_sim_call("GET", "/api/now/table/oauth_credential?type=refresh_token", NULL, 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 0);
    sg_json_decref(j);
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    sg_json_decref(j);
    assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow/overview", NULL, &j), 200);
    sg_json_decref(j);
}

static int tamper_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", NULL, 0, NULL);
}

static void test_audit_verify(void **state)
{
    (void)state;
    g_connected();
    const char *argv[] = {SG_BUILD_DIR "/snowgate", "audit", "verify", "--data", G.dir, NULL};
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 20000, &out, &err), 0);
    /* user.added, servicenow.configured, servicenow.connected */
    assert_non_null(strstr(sg_buf_str(&out), "audit log intact: 3 entries, head "));
    sg_buf_reset(&out);
    g_in_store(tamper_tx, NULL);
    assert_int_equal(h_run(argv, NULL, 20000, &out, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "audit log tampered: entry 2 was edited"));
    sg_buf_free(&out);
    sg_buf_free(&err);
}

/* What ServiceNow's business rule reads: gs.getProperty on the password2 property, through a
 * Scripted REST API an instance admin adds (any admin can run a script; the Table API gives
 * only the ciphertext). */
static void add_peek(void)
{
    {
        sg_json *d = g_sim_call("POST", "/api/now/table/sys_ws_definition",
                                "{\"name\":\"peek\",\"service_id\":\"peek\",\"namespace\":"
                                "\"x_test\",\"base_uri\":\"/api/x_test/peek\",\"active\":"
                                "\"true\"}",
                                201);
        char body[1024];
        snprintf(body, sizeof(body),
                 "{\"name\":\"get\",\"web_service_definition\":\"%s\",\"http_method\":"
                 "\"GET\",\"relative_path\":\"/\",\"operation_uri\":\"/api/x_test/peek\","
                 "\"active\":\"true\",\"requires_authentication\":\"true\","
                 "\"requires_acl_authorization\":\"false\",\"operation_script\":\"(function "
                 "process(request, response) { response.setBody({ secret: "
                 "gs.getProperty('x_snowgate.webhook_secret') }); })(request, response);\"}",
                 sg_json_get_str(sg_json_get(d, "result"), "sys_id"));
        sg_json_decref(d);
        sg_json_decref(g_sim_call("POST", "/api/now/table/sys_ws_operation", body, 201));
    }
}

static char *secret_in_servicenow(void)
{
    sg_json *j = g_sim_call("GET", "/api/x_test/peek", NULL, 200);
    char *s = sg_xstrdup(sg_json_get_str(sg_json_get(j, "result"), "secret"));
    sg_json_decref(j);
    return s;
}

static long deliver(const char *secret, const char *msg_id)
{
    return g_deliver_webhook(G.gate.url, secret, msg_id,
                             "{\"type\":\"sc_request.updated\",\"table\":\"sc_request\","
                             "\"sys_id\":\"0123456789abcdef0123456789abcdef\"}");
}

static int expire_grace_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE integrations SET webhook_secret_previous_until = 1", NULL, 0,
                        NULL);
}

/* The signing secret lives in ServiceNow as a password2 property that snowgate fills in, and
 * rotates on both sides without losing events signed with the old one. */
static void test_webhook_secret_rotation(void **state)
{
    (void)state;
    g_connected();
    add_peek();
    char *first = g_webhook_secret();
    /* ServiceNow holds it encrypted: the Table API, even for its admin, shows no clear text;
     * the business rule's gs.getProperty reads it. */
    sg_json *j = g_sim_call("GET",
                            "/api/now/table/sys_properties?sysparm_query=name%3D"
                            "x_snowgate.webhook_secret",
                            NULL, 200);
    sg_json *prop = sg_json_array_get(sg_json_get(j, "result"), 0);
    assert_string_equal(sg_json_get_str(prop, "type"), "password2");
    const char *stored = sg_json_get_str(prop, "value");
    assert_true(stored && *stored);
    assert_null(strstr(stored, first + 6));
    sg_json_decref(j);
    char *seen = secret_in_servicenow();
    assert_string_equal(seen, first);
    free(seen);

    /* Rotation: ServiceNow gets the new secret; the old one still counts for the grace. */
    assert_int_equal(
        g_call("POST", "/api/v1/integrations/servicenow/rotate-webhook-secret", "{}", &j), 200);
    assert_non_null(sg_json_get_str(j, "rotated_at"));
    assert_non_null(sg_json_get_str(j, "previous_accepted_until"));
    sg_json_decref(j);
    char *second = g_webhook_secret();
    assert_string_not_equal(first, second);
    seen = secret_in_servicenow();
    assert_string_equal(seen, second);
    free(seen);
    assert_int_equal(deliver(first, "msg_rot_old"), 202);
    assert_int_equal(deliver(second, "msg_rot_new"), 202);
    assert_int_equal(deliver("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_rot_other"), 401);
    /* The business rule signs with the new one: the round trip passes. */
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    sg_json_decref(j);
    assert_int_equal(g_call("GET", "/api/v1/audit?limit=50", NULL, &j), 200);
    char *audit = sg_json_dump(j);
    assert_non_null(strstr(audit, "servicenow.webhook_secret_rotated"));
    free(audit);
    sg_json_decref(j);
    /* Once the grace period is over, the old secret is refused. */
    g_in_store(expire_grace_tx, NULL);
    assert_int_equal(deliver(first, "msg_rot_late"), 401);
    assert_int_equal(deliver(second, "msg_rot_new2"), 202);

    /* ServiceNow refuses the write: the rotation says so, and the secret in use stays. */
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults",
                              "{\"rules\":[{\"path\":\"/api/snc/snowgate_webhook_secret\","
                              "\"method\":\"PUT\",\"kind\":\"status\",\"status\":403}]}",
                              200));
    assert_int_equal(
        g_call("POST", "/api/v1/integrations/servicenow/rotate-webhook-secret", "{}", &j), 409);
    assert_non_null(
        strstr(sg_json_get_str(sg_json_get(j, "error"), "message"), "the old secret stays in use"));
    sg_json_decref(j);
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults", "{\"rules\":[]}", 200));
    /* The last successful rotation is still the one shown; the failure is audited. */
    assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    assert_non_null(sg_json_get_str(sg_json_get(j, "webhook_secret"), "rotated_at"));
    sg_json_decref(j);
    assert_int_equal(g_call("GET", "/api/v1/audit?limit=50", NULL, &j), 200);
    audit = sg_json_dump(j);
    assert_non_null(strstr(audit, "servicenow.webhook_secret_rotation_failed"));
    free(audit);
    sg_json_decref(j);
    char *third = g_webhook_secret();
    assert_string_equal(third, second);
    seen = secret_in_servicenow();
    assert_string_equal(seen, second);
    free(seen);
    assert_int_equal(deliver(second, "msg_rot_after"), 202);
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    sg_json_decref(j);

    /* Another replica's rotation, as the store shows it: snowgate, which keeps the second
     * secret in memory, takes the first event signed with the new one, and then no longer
     * the one it replaced. */
    static const char elsewhere[] = "whsec_c2VjcmV0LWZyb20tYW5vdGhlci1yZXBsaWNhLTEyMw==";
    assert_int_equal(deliver(second, "msg_rot_cached"), 202);
    g_set_webhook_secret(elsewhere);
    assert_int_equal(deliver(elsewhere, "msg_rot_elsewhere"), 202);
    assert_int_equal(deliver(second, "msg_rot_replaced"), 401);
    assert_int_equal(deliver("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_rot_forged"), 401);
    free(first);
    free(second);
    free(third);
}

/* The Table API path of snowsim's x_snowgate.webhook_secret record. */
static void secret_property_path(char path[128])
{
    sg_json *j = g_sim_call("GET",
                            "/api/now/table/sys_properties?sysparm_query=name%3D"
                            "x_snowgate.webhook_secret&sysparm_fields=sys_id",
                            NULL, 200);
    snprintf(path, 128, "/api/now/table/sys_properties/%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
}

/* "Authorization: Basic ..." for a snowsim user. */
static void basic_auth(const char *user, const char *password, char out[160])
{
    char cred[96];
    snprintf(cred, sizeof(cred), "%s:%s", user, password);
    sg_buf b = SG_BUF_INIT(0);
    assert_int_equal(sg_base64_encode(cred, strlen(cred), false, &b), SG_OK);
    snprintf(out, 160, "Authorization: Basic %s", sg_buf_str(&b));
    sg_buf_free(&b);
}

/* A property still of type string (an update set from before password2) fails the check,
 * naming the fix, instead of leaving the secret readable by every ServiceNow admin. */
static void test_plain_secret_property(void **state)
{
    (void)state;
    g_connected();
    char path[128];
    secret_property_path(path);
    sg_json *j = NULL;
    sg_json_decref(g_sim_call("PATCH", path, "{\"type\":\"string\"}", 200));
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 422);
    assert_non_null(strstr(sg_json_get_str(j, "status"), "degraded"));
    assert_non_null(fix_of(j, "webhook_secret_set"));
    sg_json_decref(j);
    assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
    assert_non_null(strstr(sg_json_get_str(j, "status_reason"), "password2"));
    sg_json_decref(j);
    assert_int_equal(
        g_call("POST", "/api/v1/integrations/servicenow/rotate-webhook-secret", "{}", &j), 409);
    sg_json_decref(j);
}

/* The service account can set the secret's value and nothing else: not the property's name or
 * type through the Table API, not a value that is no signing secret. */
static void test_service_account_secret_reach(void **state)
{
    (void)state;
    g_connected();
    char path[128];
    secret_property_path(path);
    sg_json *j = NULL;
    char svc_auth[160], mal_auth[160];
    basic_auth("snowgate.service", SVC_PASSWORD, svc_auth);
    const char *svc[] = {svc_auth, NULL};
    long denied = h_call("PATCH", G.sim.p.url, path, svc,
                         "{\"name\":\"glide.oauth.inbound.client.credential.grant_type."
                         "enabled\",\"type\":\"string\",\"value\":\"true\"}",
                         &j, NULL);
    /* A record the account may not read is not found for it, as on ServiceNow. */
    assert_true(denied == 403 || denied == 404);
    sg_json_decref(j);
    assert_int_equal(h_call("PUT", G.sim.p.url, "/api/snc/snowgate_webhook_secret", svc,
                            "{\"value\":\"true\"}", &j, NULL),
                     400);
    sg_json_decref(j);
    /* Someone without the role gets nothing. */
    sg_json_decref(g_sim_call("POST", "/api/now/table/sys_user",
                              "{\"user_name\":\"mallory\",\"user_password\":\"Mallory-Pw-1234\"}",
                              201));
    basic_auth("mallory", "Mallory-Pw-1234", mal_auth);
    const char *mal[] = {mal_auth, NULL};
    assert_int_equal(h_call("PUT", G.sim.p.url, "/api/snc/snowgate_webhook_secret", mal,
                            "{\"value\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}", &j, NULL),
                     403);
    sg_json_decref(j);
    /* The property is as snowgate left it: password2, the round trip still passes. */
    j = g_sim_call("GET",
                   "/api/now/table/sys_properties?sysparm_query=name%3Dx_snowgate.webhook_secret",
                   NULL, 200);
    assert_string_equal(sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "type"),
                        "password2");
    sg_json_decref(j);
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    sg_json_decref(j);
}

static int start(void **state)
{
    (void)state;
    g_start_with("gateconnect", "[metrics]\ntoken = " METRICS_TOKEN "\n");
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
        cmocka_unit_test_setup_teardown(test_admin_path_to_connected, start, stop),
        cmocka_unit_test_setup_teardown(test_disconnect_revokes, start, stop),
        cmocka_unit_test_setup_teardown(test_webhook_secret_rotation, start, stop),
        cmocka_unit_test_setup_teardown(test_plain_secret_property, start, stop),
        cmocka_unit_test_setup_teardown(test_service_account_secret_reach, start, stop),
        cmocka_unit_test_setup_teardown(test_request_mirrored, start, stop),
        cmocka_unit_test_setup_teardown(test_catalog_item_followed_after_run_test, start, stop),
        cmocka_unit_test_setup_teardown(test_servicenow_markup_defused, start, stop),
        cmocka_unit_test_setup_teardown(test_reconciler_finds_decision, start, stop),
        cmocka_unit_test_setup_teardown(test_webhook_path_dead, start, stop),
        cmocka_unit_test_setup_teardown(test_slow_mirror_runs_once, start, stop),
        cmocka_unit_test_setup_teardown(test_crash_mid_mirror, start, stop),
        cmocka_unit_test_setup_teardown(test_self_approval_in_servicenow, start, stop),
        cmocka_unit_test_setup_teardown(test_servicenow_named_local_approver, start, stop),
        cmocka_unit_test_setup_teardown(test_self_approval_by_email_in_servicenow, start, stop),
        cmocka_unit_test_setup_teardown(test_outage_converges, start, stop),
        cmocka_unit_test_setup_teardown(test_account_linking, start, stop),
        cmocka_unit_test_setup_teardown(test_audit_verify, start, stop),
        cmocka_unit_test_setup_teardown(test_refresh_expiry, start, stop),
        cmocka_unit_test_setup_teardown(test_client_credentials, start, stop),
        cmocka_unit_test_setup_teardown(test_wrong_client_secret, start, stop),
        cmocka_unit_test_setup_teardown(test_wrong_password, start, stop),
        cmocka_unit_test_setup_teardown(test_update_set_not_committed, start, stop),
        cmocka_unit_test_setup_teardown(test_missing_role, start, stop),
        cmocka_unit_test_setup_teardown(test_webhook_never_arrives, start, stop),
        cmocka_unit_test_setup_teardown(test_unreachable_instance, start, stop),
    };
    /* SG_TEST_FILTER=test_account_linking runs the matching tests only (while working on one). */
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    /* SG_TEST_FILTER=test_name (cmocka's wildcards) runs only the matching tests. */
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
