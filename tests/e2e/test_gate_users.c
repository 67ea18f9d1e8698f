/* End to end: disabling a user (their token and session refused at once, their open requests
 * cancelled with a note, their grants kept, sign-in refused), enabling them again, rotating an
 * API token, who may do each, the last enabled admin, and the audit log. */
#include "e2e/harness.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static h_proc gate;
static char *dir;
static char *store;
/* alice: admin; sam: steward; bob, carol: members. */
static char alice[128], sam[128], bob[128], carol[128];

/* Runs `snowgate user ARGS... --data dir --store store`; returns the exit status, with
 * stdout and stderr in out and err when not NULL. */
static int user_cmd(const char *a1, const char *a2, const char *a3, const char *input, sg_buf *out,
                    sg_buf *err)
{
    const char *argv[] = {
        SG_BUILD_DIR "/snowgate", "user", a1, a2, "--data", dir, "--store", store, a3, NULL};
    return input ? h_run_input(argv, NULL, input, 30000, out, err)
                 : h_run(argv, NULL, 30000, out, err);
}

static void add_user(const char *name, const char *role, char *header)
{
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "user",
                          "add",
                          name,
                          "--role",
                          role,
                          "--data",
                          dir,
                          "--store",
                          store,
                          NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 20000, &out, NULL), 0);
    snprintf(header, 128, "Authorization: Bearer %.64s", sg_buf_str(&out));
    sg_buf_free(&out);
}

static long call(const char *who, const char *method, const char *path, const char *body,
                 sg_json **j)
{
    const char *h[] = {who, body ? "Content-Type: application/json" : NULL, NULL};
    return h_call(method, gate.url, path, h, body, j, NULL);
}

static const char *message(sg_json *j)
{
    const char *m = sg_json_get_str(sg_json_get(j, "error"), "message");
    return m ? m : "";
}

static void ok(const char *who, const char *method, const char *path, const char *body, long want)
{
    sg_json *j = NULL;
    long st = call(who, method, path, body, &j);
    if (st != want)
        fail_msg("%s %s: %ld, want %ld: %s", method, path, st, want, message(j));
    sg_json_decref(j);
}

static int start(void **state)
{
    (void)state;
    dir = h_tmpdir("users");
    store = h_store_url(dir, "snowgate");
    add_user("alice", "admin", alice);
    add_user("sam", "steward", sam);
    add_user("bob", "member", bob);
    add_user("carol", "member", carol);
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "serve",
                          "--listen",
                          "127.0.0.1:0",
                          "--data",
                          dir,
                          "--store",
                          store,
                          "--allow-insecure-loopback",
                          NULL};
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 30000, &gate), SG_OK);
    ok(alice, "POST", "/api/v1/connections", "{\"name\":\"desk\",\"kind\":\"manual\"}", 201);
    ok(alice, "POST", "/api/v1/assets",
       "{\"name\":\"crm.accounts\",\"type\":\"dataset\",\"connection\":\"desk\"}", 201);
    ok(alice, "POST", "/api/v1/assets",
       "{\"name\":\"crm.orders\",\"type\":\"dataset\",\"connection\":\"desk\"}", 201);
    ok(alice, "POST", "/api/v1/assets",
       "{\"name\":\"crm.leads\",\"type\":\"dataset\",\"connection\":\"desk\"}", 201);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    assert_int_equal(h_stop(&gate, SIGTERM, 30000), 0);
    h_rmdir(dir);
    free(dir);
    free(store);
    return 0;
}

/* A request by who; returns its id (owned). */
static char *create(const char *who, const char *body)
{
    sg_json *j = NULL;
    long st = call(who, "POST", "/api/v1/requests", body, &j);
    if (st != 201)
        fail_msg("create: %ld %s", st, message(j));
    char *id = sg_xstrdup(sg_json_get_str(j, "id"));
    sg_json_decref(j);
    return id;
}

static void request_path(char *out, size_t n, const char *id, const char *verb)
{
    snprintf(out, n, "/api/v1/requests/%s%s%s", id, verb ? "/" : "", verb ? verb : "");
}

/* The request's state, and whether its history has a note containing text. */
static void expect_request(const char *id, const char *state, const char *note)
{
    char path[128];
    request_path(path, sizeof(path), id, NULL);
    sg_json *j = NULL;
    assert_int_equal(call(alice, "GET", path, NULL, &j), 200);
    if (strcmp(sg_json_get_str(j, "state"), state) != 0)
        fail_msg("request %s is %s, want %s", id, sg_json_get_str(j, "state"), state);
    if (note) {
        char *text = sg_json_dump(j);
        if (!strstr(text, note))
            fail_msg("no note '%s' in %s", note, text);
        free(text);
    }
    sg_json_decref(j);
}

/* Signs in as name; the session cookie header ("Cookie: sg_session=...") into cookie. */
static long sign_in(const char *name, const char *password, char cookie[128], sg_json **j)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"name\":\"%s\",\"password\":\"%s\"}", name, password);
    const char *h[] = {"Content-Type: application/json", NULL};
    sg_http_response r;
    long st = h_call("POST", gate.url, "/api/v1/session", h, body, j, &r);
    const char *set = sg_http_response_header(&r, "Set-Cookie");
    if (cookie && set)
        snprintf(cookie, 128, "Cookie: %.75s", set);
    sg_http_response_free(&r);
    return st;
}

static int64_t int_of(const sg_json *j, const char *key)
{
    int64_t v = -1;
    assert_true(sg_json_get_int(j, key, &v));
    return v;
}

/* How many audit entries have this action and subject. */
static int audited(const char *action, const char *subject)
{
    sg_json *j = NULL;
    assert_int_equal(call(alice, "GET", "/api/v1/audit?limit=500", NULL, &j), 200);
    sg_json *items = sg_json_get(j, "items");
    int n = 0;
    for (size_t i = 0; i < sg_json_array_size(items); i++) {
        sg_json *e = sg_json_array_get(items, i);
        const char *a = sg_json_get_str(e, "action"), *s = sg_json_get_str(e, "subject");
        n += a && s && strcmp(a, action) == 0 && strcmp(s, subject) == 0;
    }
    sg_json_decref(j);
    return n;
}

static void test_disable_and_enable(void **state)
{
    (void)state;
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    assert_int_equal(user_cmd("passwd", "bob", NULL, "bob-Password1\n", NULL, NULL), 0);
    char cookie[128];
    assert_int_equal(sign_in("bob", "bob-Password1", cookie, NULL), 200);
    assert_non_null(strstr(cookie, "sg_session="));
    /* A grant in force (fulfilled by hand), one approved, one pending, and a revoke of bob's
     * access made by alice. */
    char *granted = create(bob, "{\"asset\":\"crm.accounts\",\"privilege\":\"read\","
                                "\"justification\":\"report\"}");
    char path[128];
    request_path(path, sizeof(path), granted, "approve");
    ok(sam, "POST", path, NULL, 200);
    request_path(path, sizeof(path), granted, "done");
    ok(sam, "POST", path, NULL, 200);
    char *approved = create(bob, "{\"asset\":\"crm.orders\",\"privilege\":\"read\","
                                 "\"justification\":\"report\"}");
    request_path(path, sizeof(path), approved, "approve");
    ok(sam, "POST", path, NULL, 200);
    char *pending = create(bob, "{\"asset\":\"crm.leads\",\"privilege\":\"read\","
                                "\"justification\":\"report\"}");
    char *revoke = create(alice, "{\"asset\":\"crm.accounts\",\"action\":\"revoke\","
                                 "\"privilege\":\"read\",\"for\":\"bob\",\"justification\":"
                                 "\"leaving\"}");
    ok(bob, "GET", "/api/v1/requests", NULL, 200);
    ok(cookie, "GET", "/api/v1/session", NULL, 200);

    assert_int_equal(user_cmd("disable", "bob", NULL, NULL, &out, &err), 0);
    assert_non_null(strstr(sg_buf_str(&err), "2 open requests cancelled"));
    assert_non_null(strstr(sg_buf_str(&err), "1 grant in force for 'bob' is KEPT"));
    /* At once, with no restart: the server reads the store on every call. */
    ok(bob, "GET", "/api/v1/requests", NULL, 401);
    ok(cookie, "GET", "/api/v1/session", NULL, 401);
    expect_request(pending, "cancelled", "user disabled by cli");
    expect_request(approved, "cancelled", "user disabled by cli");
    expect_request(granted, "fulfilled", NULL);
    expect_request(revoke, "pending", NULL);
    /* Sign-in: the right password learns the account is disabled, a wrong one does not. */
    sg_json *j = NULL;
    assert_int_equal(sign_in("bob", "bob-Password1", NULL, &j), 403);
    assert_non_null(strstr(message(j), "disabled"));
    sg_json_decref(j);
    j = NULL;
    assert_int_equal(sign_in("bob", "wrong-Password1", NULL, &j), 401);
    assert_null(strstr(message(j), "disabled"));
    sg_json_decref(j);
    /* Twice is a conflict. */
    sg_buf_reset(&err);
    assert_int_not_equal(user_cmd("disable", "bob", NULL, NULL, NULL, &err), 0);
    assert_non_null(strstr(sg_buf_str(&err), "already disabled"));

    sg_buf_reset(&err);
    assert_int_equal(user_cmd("enable", "bob", NULL, NULL, NULL, &err), 0);
    assert_non_null(strstr(sg_buf_str(&err), "old sessions stay ended"));
    ok(bob, "GET", "/api/v1/requests", NULL, 200);
    ok(cookie, "GET", "/api/v1/session", NULL, 401); /* the old session stays dead */
    char fresh[128];
    assert_int_equal(sign_in("bob", "bob-Password1", fresh, NULL), 200);
    ok(fresh, "GET", "/api/v1/session", NULL, 200);
    expect_request(pending, "cancelled", NULL); /* cancellations stand */
    assert_int_equal(audited("user.disabled", "bob"), 1);
    assert_int_equal(audited("user.enabled", "bob"), 1);
    assert_int_equal(audited("request.cancelled", pending), 1);
    free(granted);
    free(approved);
    free(pending);
    free(revoke);
    sg_buf_free(&out);
    sg_buf_free(&err);
}

static void test_rotate_token(void **state)
{
    (void)state;
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    assert_int_equal(user_cmd("token", "bob", NULL, NULL, NULL, &err), 2); /* --rotate needed */
    assert_int_equal(user_cmd("token", "bob", "--rotate", NULL, &out, &err), 0);
    assert_int_equal(strcspn(sg_buf_str(&out), "\n"), 64);
    char fresh[128];
    snprintf(fresh, sizeof(fresh), "Authorization: Bearer %.64s", sg_buf_str(&out));
    ok(bob, "GET", "/api/v1/requests", NULL, 401);
    ok(fresh, "GET", "/api/v1/requests", NULL, 200);
    /* Through the API: an admin for anyone, a member for their own token only. */
    ok(carol, "POST", "/api/v1/users/bob/token", NULL, 403);
    sg_json *j = NULL;
    assert_int_equal(call(fresh, "POST", "/api/v1/users/bob/token", NULL, &j), 200);
    char own[128];
    snprintf(own, sizeof(own), "Authorization: Bearer %s", sg_json_get_str(j, "token"));
    assert_int_equal(int_of(j, "revoked"), 1);
    sg_json_decref(j);
    ok(fresh, "GET", "/api/v1/requests", NULL, 401);
    ok(own, "GET", "/api/v1/requests", NULL, 200);
    assert_int_equal(call(alice, "POST", "/api/v1/users/bob/token", NULL, &j), 200);
    snprintf(fresh, sizeof(fresh), "Authorization: Bearer %s", sg_json_get_str(j, "token"));
    sg_json_decref(j);
    ok(own, "GET", "/api/v1/requests", NULL, 401);
    ok(fresh, "GET", "/api/v1/requests", NULL, 200);
    ok(alice, "POST", "/api/v1/users/nobody/token", NULL, 404);
    assert_int_equal(audited("user.token_rotated", "bob"), 3);
    sg_buf_free(&out);
    sg_buf_free(&err);
}

static void test_api_needs_admin_and_keeps_an_admin(void **state)
{
    (void)state;
    ok(carol, "POST", "/api/v1/users/bob/disable", NULL, 403);
    ok(sam, "POST", "/api/v1/users/bob/disable", NULL, 403);
    ok(NULL, "POST", "/api/v1/users/bob/disable", NULL, 401);
    ok(carol, "POST", "/api/v1/users/bob/enable", NULL, 403);
    ok(alice, "POST", "/api/v1/users/nobody/disable", NULL, 404);
    char *pending = create(bob, "{\"asset\":\"crm.leads\",\"privilege\":\"read\","
                                "\"justification\":\"report\"}");
    sg_json *j = NULL;
    assert_int_equal(call(alice, "POST", "/api/v1/users/bob/disable", NULL, &j), 200);
    assert_int_equal(int_of(j, "requests_cancelled"), 1);
    assert_int_equal(int_of(j, "grants_kept"), 0);
    sg_json_decref(j);
    ok(bob, "GET", "/api/v1/requests", NULL, 401);
    expect_request(pending, "cancelled", "user disabled by alice");
    ok(alice, "POST", "/api/v1/users/bob/disable", NULL, 409);
    ok(alice, "POST", "/api/v1/users/carol/enable", NULL, 409);
    ok(alice, "POST", "/api/v1/users/bob/enable", NULL, 200);
    ok(bob, "GET", "/api/v1/requests", NULL, 200);
    /* The last enabled admin cannot disable themselves (nor be disabled from the CLI). */
    assert_int_equal(call(alice, "POST", "/api/v1/users/alice/disable", NULL, &j), 409);
    assert_non_null(strstr(message(j), "last enabled admin"));
    sg_json_decref(j);
    sg_buf err = SG_BUF_INIT(0);
    assert_int_not_equal(user_cmd("disable", "alice", NULL, NULL, NULL, &err), 0);
    assert_non_null(strstr(sg_buf_str(&err), "last enabled admin"));
    sg_buf_free(&err);
    ok(alice, "GET", "/api/v1/requests", NULL, 200);
    /* With a second admin, the first may go; the second is then the last. */
    char dora[128];
    add_user("dora", "admin", dora);
    ok(alice, "POST", "/api/v1/users/alice/disable", NULL, 200);
    ok(alice, "GET", "/api/v1/requests", NULL, 401);
    ok(dora, "POST", "/api/v1/users/dora/disable", NULL, 409);
    ok(dora, "POST", "/api/v1/users/alice/enable", NULL, 200);
    assert_int_equal(audited("user.disabled", "bob"), 1);
    assert_int_equal(audited("user.disabled", "alice"), 1);
    free(pending);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disable_and_enable, start, stop),
        cmocka_unit_test_setup_teardown(test_rotate_token, start, stop),
        cmocka_unit_test_setup_teardown(test_api_needs_admin_and_keeps_an_admin, start, stop),
    };
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
