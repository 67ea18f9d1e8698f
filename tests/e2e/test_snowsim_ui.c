/* End to end: snowsim's own pages over HTTP: signing in (and back to the page asked for, never
 * to another site), My approvals with Approve and Reject going through sysapproval_approver and
 * the approval engine, the ACLs on every page, the CSRF token, HTML escaping, and approvals a
 * decided or closed task no longer needs. The browser test drives the same pages in Chromium. */
#include "e2e/harness.h"

#include "core/mem.h"
#include "core/str.h"

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

static char *create(const char *table, const char *body)
{
    const char *admin[] = {sim.admin_auth, NULL};
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/%s", table);
    sg_json *j = NULL;
    long st = h_call("POST", sim.p.url, path, admin, body, &j, NULL);
    if (st != 201)
        fail_msg("create %s: %ld", table, st);
    char *id = sg_xstrdup(sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    return id;
}

/* A field of a record, read through the Table API as admin; the caller frees it. */
static char *field(const char *table, const char *sys_id, const char *name)
{
    const char *admin[] = {sim.admin_auth, NULL};
    char path[256];
    snprintf(path, sizeof(path), "/api/now/table/%s/%s?sysparm_fields=%s", table, sys_id, name);
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, path, admin, NULL, &j, NULL), 200);
    char *v = sg_xstrdup(sg_json_get_str(sg_json_get(j, "result"), name));
    sg_json_decref(j);
    return v;
}

static char *approver_user(const char *name, const char *password)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"user_name\":\"%s\",\"user_password\":\"%s\"}", name, password);
    char *id = create("sys_user", body);
    if (strcmp(name, "zed") != 0) {
        const char *admin[] = {sim.admin_auth, NULL};
        sg_json *j = NULL;
        assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sys_user_role?name=approver_user",
                                admin, NULL, &j, NULL),
                         200);
        snprintf(body, sizeof(body), "{\"user\":\"%s\",\"role\":\"%s\"}", id,
                 sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
        sg_json_decref(j);
        free(create("sys_user_has_role", body));
    }
    return id;
}

static char *approval(const char *approver, const char *task)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"approver\":\"%s\",\"sysapproval\":\"%s\",\"state\":\"requested\"}", approver,
             task);
    return create("sysapproval_approver", body);
}

/* Fetches a page with the session cookie (may be NULL); returns the body (caller frees). */
static char *page(const char *cookie, const char *method, const char *path, const char *form,
                  long *status, char *location, size_t loclen)
{
    char ch[128];
    snprintf(ch, sizeof(ch), "Cookie: glide_session_store=%s", cookie ? cookie : "");
    const char *h[] = {ch, "Content-Type: application/x-www-form-urlencoded", NULL};
    sg_http_response r;
    *status = h_call(method, sim.p.url, path, h, form, NULL, &r);
    if (location) {
        const char *l = sg_http_response_header(&r, "Location");
        snprintf(location, loclen, "%s", l ? l : "");
    }
    char *body = sg_xstrdup(sg_buf_str(&r.body));
    sg_http_response_free(&r);
    return body;
}

static void expect_page(const char *cookie, const char *path, long want, const char *needle)
{
    long st = 0;
    char *b = page(cookie, "GET", path, NULL, &st, NULL, 0);
    if (st != want || (needle && !strstr(b, needle)))
        fail_msg("GET %s: %ld (wanted %ld with \"%s\"):\n%.2000s", path, st, want,
                 needle ? needle : "", b);
    free(b);
}

/* Signs in through the login form; returns the session id in cookie. */
static void sign_in(const char *user, const char *password, char cookie[33])
{
    char form[256];
    snprintf(form, sizeof(form), "user_name=%s&user_password=%s&sysparm_goto=%%2Fnavpage.do", user,
             password);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    sg_http_response r;
    assert_int_equal(h_call("POST", sim.p.url, "/login.do", h, form, NULL, &r), 303);
    assert_string_equal(sg_http_response_header(&r, "Location"), "/navpage.do");
    const char *c = sg_http_response_header(&r, "Set-Cookie");
    assert_non_null(c);
    assert_true(sg_str_startswith(c, "glide_session_store="));
    assert_non_null(strstr(c, "HttpOnly"));
    snprintf(cookie, 33, "%s", c + strlen("glide_session_store="));
    sg_http_response_free(&r);
}

/* The CSRF token (sysparm_ck) of a signed-in page. */
static void ck_of(const char *cookie, char ck[33])
{
    long st = 0;
    char *b = page(cookie, "GET", "/navpage.do", NULL, &st, NULL, 0);
    assert_int_equal(st, 200);
    const char *p = strstr(b, "<meta name=\"sysparm_ck\" content=\"");
    if (!p)
        fail_msg("no sysparm_ck on My approvals:\n%.2000s", b);
    snprintf(ck, 33, "%s", p + strlen("<meta name=\"sysparm_ck\" content=\""));
    free(b);
}

static long decide(const char *cookie, const char *ck, const char *approval_id, const char *action,
                   const char *comments, char *body_out, size_t n)
{
    char form[512], loc[256];
    snprintf(form, sizeof(form),
             "sys_id=%s&sysparm_ck=%s&sysparm_goto=%%2Fnavpage.do&sys_action=%s&comments=%s",
             approval_id, ck, action, comments);
    long st = 0;
    char *b = page(cookie, "POST", "/sysapproval_approver.do", form, &st, loc, sizeof(loc));
    snprintf(body_out, n, "%s", st == 303 ? loc : b);
    free(b);
    return st;
}

static void test_sign_in(void **state)
{
    (void)state;
    long st = 0;
    char loc[512];
    /* Signed out, a page sends the browser to the login page and back afterwards. */
    free(page(NULL, "GET", "/sys_user_list.do?sysparm_query=active%3Dtrue", NULL, &st, loc,
              sizeof(loc)));
    assert_int_equal(st, 303);
    assert_string_equal(
        loc, "/login.do?sysparm_goto=%2Fsys_user_list.do%3Fsysparm_query%3Dactive%253Dtrue");
    free(page(NULL, "GET", "/", NULL, &st, loc, sizeof(loc)));
    assert_int_equal(st, 303);
    assert_string_equal(loc, "/navpage.do");
    /* Never back to another site. */
    char *b =
        page(NULL, "GET", "/login.do?sysparm_goto=%2F%2Fevil.example%2Fx", NULL, &st, NULL, 0);
    assert_int_equal(st, 200);
    assert_non_null(strstr(b, "name=\"sysparm_goto\" value=\"/navpage.do\""));
    assert_null(strstr(b, "evil.example"));
    free(b);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    sg_http_response r;
    assert_int_equal(h_call("POST", sim.p.url, "/login.do", h,
                            "user_name=admin&user_password=admin-Pw1&sysparm_goto=https%3A%2F%2F"
                            "evil.example",
                            NULL, &r),
                     303);
    assert_string_equal(sg_http_response_header(&r, "Location"), "/navpage.do");
    sg_http_response_free(&r);
    /* A wrong password: the form again, with ServiceNow's message. */
    assert_int_equal(
        h_call("POST", sim.p.url, "/login.do", h, "user_name=admin&user_password=wrong", NULL, &r),
        401);
    assert_non_null(strstr(sg_buf_str(&r.body), "User name or password invalid"));
    assert_null(sg_http_response_header(&r, "Set-Cookie"));
    sg_http_response_free(&r);

    char cookie[33];
    sign_in("admin", "admin-Pw1", cookie);
    expect_page(cookie, "/navpage.do", 200, "Nothing awaits your approval.");
    expect_page(cookie, "/sys_user_list.do", 200, ">admin<");
    expect_page(cookie, "/sys_user_list.do?sysparm_query=user_name%3Dnobody", 200,
                "No records to display");
    expect_page(cookie, "/no_such_table_list.do", 404, "No table has this name");
    expect_page(cookie, "/sys_user.do?sys_id=0123456789abcdef0123456789abcdef", 404,
                "Record not found");
    expect_page(cookie, "/favicon.ico", 404, NULL);
    /* The pages change nothing but approvals. */
    free(page(cookie, "POST", "/sys_user.do", "x=1", &st, NULL, 0));
    assert_int_equal(st, 405);
    /* Password hashes never show. */
    b = page(cookie, "GET", "/sys_user.do?sys_id=6816f79cc0a8016401c5a33be04be441", NULL, &st, NULL,
             0);
    assert_int_equal(st, 200);
    assert_non_null(strstr(b, "data-field=\"user_name\">admin<"));
    assert_null(strstr(b, "pbkdf2"));
    free(b);
    /* Signing out ends the session. */
    free(page(cookie, "GET", "/logout.do", NULL, &st, loc, sizeof(loc)));
    assert_int_equal(st, 303);
    free(page(cookie, "GET", "/navpage.do", NULL, &st, loc, sizeof(loc)));
    assert_int_equal(st, 303);
    assert_true(sg_str_startswith(loc, "/login.do"));
}

static void test_approve_and_reject(void **state)
{
    (void)state;
    char *abel = approver_user("abel", "Abel-pw-1");
    char *bea = approver_user("bea", "Bea-pw-1");
    free(approver_user("zed", "Zed-pw-1"));
    char *req =
        create("sc_request", "{\"short_description\":\"Read access to analytics.sales.orders\","
                             "\"description\":\"Justification: <script>alert(1)</script>\"}");
    char *number = field("sc_request", req, "number");
    char *a1 = approval(abel, req), *a2 = approval(bea, req);

    char ca[33], cb[33], cz[33], cka[33], ckb[33], ckz[33], out[16384];
    sign_in("abel", "Abel-pw-1", ca);
    sign_in("bea", "Bea-pw-1", cb);
    sign_in("zed", "Zed-pw-1", cz);
    ck_of(ca, cka);
    ck_of(cb, ckb);
    ck_of(cz, ckz);

    /* abel's approvals: the request, its description escaped. */
    long st = 0;
    char *b = page(ca, "GET", "/navpage.do", NULL, &st, NULL, 0);
    assert_int_equal(st, 200);
    assert_non_null(strstr(b, number));
    assert_non_null(strstr(b, "Justification: &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_null(strstr(b, "<script>"));
    assert_non_null(strstr(b, a1));
    assert_null(strstr(b, a2)); /* bea's is not his */
    free(b);
    /* Others' approvals are not shown, and cannot be decided. */
    char path[128];
    snprintf(path, sizeof(path), "/sysapproval_approver.do?sys_id=%s", a1);
    expect_page(cz, path, 404, "Record not found");
    expect_page(cb, path, 404, "Record not found");
    expect_page(ca, path, 200, "Approve");
    assert_int_equal(decide(cz, ckz, a1, "approve", "", out, sizeof(out)), 409);
    assert_non_null(strstr(out, "No such approval"));
    /* The CSRF token is the session's own. */
    assert_int_equal(decide(ca, ckb, a1, "approve", "", out, sizeof(out)), 403);
    /* Rejecting needs a comment; an unknown action is refused. */
    assert_int_equal(decide(ca, cka, a1, "reject", "", out, sizeof(out)), 400);
    assert_non_null(strstr(out, "Comments are required when rejecting"));
    assert_int_equal(decide(ca, cka, a1, "delete", "", out, sizeof(out)), 400);
    char *state_now = field("sysapproval_approver", a1, "state");
    assert_string_equal(state_now, "requested");
    free(state_now);

    /* abel approves: the request waits for bea. */
    assert_int_equal(decide(ca, cka, a1, "approve", "Fine+by+abel", out, sizeof(out)), 303);
    char want[128];
    snprintf(want, sizeof(want), "/navpage.do?sysparm_done=%s", a1);
    assert_string_equal(out, want);
    char msg[128];
    snprintf(msg, sizeof(msg), "%s approved.", number);
    expect_page(ca, want, 200, msg);
    expect_page(ca, "/navpage.do", 200, "Nothing awaits your approval.");
    char *v = field("sc_request", req, "approval");
    assert_string_equal(v, "not requested");
    free(v);
    assert_int_equal(decide(ca, cka, a1, "reject", "changed+my+mind", out, sizeof(out)), 409);
    assert_non_null(strstr(out, "already decided"));
    /* The approver's comment is in the approval's journal. */
    expect_page(ca, path, 200, "Fine by abel");

    /* bea rejects: the request is rejected and closed. */
    assert_int_equal(decide(cb, ckb, a2, "reject", "Not+this+quarter", out, sizeof(out)), 303);
    v = field("sc_request", req, "approval");
    assert_string_equal(v, "rejected");
    free(v);
    v = field("sc_request", req, "request_state");
    assert_string_equal(v, "closed_rejected");
    free(v);
    /* The request's page shows both approvals (to admin: approvers may not read tasks). */
    snprintf(path, sizeof(path), "/sc_request.do?sys_id=%s", req);
    expect_page(ca, path, 404, "Record not found");
    char cadm[33];
    sign_in("admin", "admin-Pw1", cadm);
    b = page(cadm, "GET", path, NULL, &st, NULL, 0);
    assert_int_equal(st, 200);
    assert_non_null(strstr(b, "<h2>Approvers</h2>"));
    assert_non_null(strstr(b, "approved"));
    free(b);

    /* A request decided in ServiceNow directly (or closed) no longer needs its approvals. */
    char *req2 = create("sc_request", "{\"short_description\":\"second\"}");
    char *a3 = approval(abel, req2), *a4 = approval(bea, req2);
    const char *admin[] = {sim.admin_auth, NULL};
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s", req2);
    sg_json *j = NULL;
    assert_int_equal(
        h_call("PATCH", sim.p.url, path, admin, "{\"approval\":\"approved\"}", &j, NULL), 200);
    sg_json_decref(j);
    v = field("sysapproval_approver", a3, "state");
    assert_string_equal(v, "not_required");
    free(v);
    v = field("sysapproval_approver", a4, "state");
    assert_string_equal(v, "not_required");
    free(v);
    v = field("sc_request", req2, "approval");
    assert_string_equal(v, "approved");
    free(v);
    expect_page(cb, "/navpage.do", 200, "Nothing awaits your approval.");

    /* Lists are read-only views of any table, with the same ACLs: bea sees only her own
     * approvals, and is told that others were left out. */
    b = page(cb, "GET", "/sysapproval_approver_list.do", NULL, &st, NULL, 0);
    assert_int_equal(st, 200);
    assert_non_null(strstr(b, a2));
    assert_null(strstr(b, a1));
    assert_non_null(strstr(b, "removed from this list by Security constraints"));
    free(b);
    free(a1);
    free(a2);
    free(a3);
    free(a4);
    free(req);
    free(req2);
    free(number);
    free(abel);
    free(bea);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sign_in, start, stop),
        cmocka_unit_test_setup_teardown(test_approve_and_reject, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
