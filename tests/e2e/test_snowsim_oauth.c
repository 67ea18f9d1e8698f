/* End to end: snowsim as an OAuth server: every grant, the error bodies, the login and consent
 * pages driven through real form posts, PKCE, state, redirect checks, revocation and expiry. */
#include "e2e/harness.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "http/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REDIRECT "https://snowgate.example.com/oauth-callback"
#define DENIED   "{\"error_description\":\"access_denied\",\"error\":\"server_error\"}"

static h_sim sim;
static char client_id[64];

/* Registers an OAuth application through the Table API, as an admin would. */
static void make_client(const char *extra_json, char *out)
{
    const char *admin[] = {sim.admin_auth, NULL};
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"name\":\"snowgate OAuth App\",\"client_secret\":\"Cl1ent-Secret\","
             "\"redirect_url\":\"%s,https://other.example.com/cb\"%s%s}",
             REDIRECT, extra_json ? "," : "", extra_json ? extra_json : "");
    sg_json *j = NULL;
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/now/table/oauth_entity", admin, body, &j, NULL), 201);
    sg_json *res = sg_json_get(j, "result");
    assert_string_equal(sg_json_get_str(res, "client_secret"), ""); /* never shown */
    sg_strlcpy(out, sg_json_get_str(res, "client_id"), 64);
    assert_int_equal(strlen(out), 32);
    sg_json_decref(j);
}

static int start(void **state)
{
    (void)state;
    h_sim_start(&sim, NULL, NULL);
    make_client(NULL, client_id);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    h_sim_stop(&sim);
    return 0;
}

static long token(const char *form, sg_json **j, sg_http_response *keep)
{
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    char *url = sg_xasprintf("%s/oauth_token.do", sim.p.url);
    sg_http_response r;
    assert_int_equal(h_http("POST", url, hdrs, form, &r), SG_OK);
    free(url);
    *j = NULL;
    sg_json_parse(sg_buf_str(&r.body), r.body.len, 0, 0, j);
    long status = r.status;
    if (keep)
        *keep = r;
    else
        sg_http_response_free(&r);
    return status;
}

static void expect_denied(const char *form)
{
    sg_json *j = NULL;
    sg_http_response r;
    if (token(form, &j, &r) != 401)
        fail_msg("expected 401 for %s, got %ld: %s", form, r.status, sg_buf_str(&r.body));
    assert_string_equal(sg_buf_str(&r.body), DENIED);
    sg_http_response_free(&r);
    sg_json_decref(j);
}

static char *password_grant_form(const char *secret, const char *user, const char *pw)
{
    return sg_xasprintf("grant_type=password&client_id=%s&client_secret=%s&username=%s&password=%s",
                        client_id, secret, user, pw);
}

static void test_password_and_refresh(void **state)
{
    (void)state;
    sg_json *j = NULL;
    sg_http_response r;
    char *form = password_grant_form("Cl1ent-Secret", "admin", "admin-Pw1");
    assert_int_equal(token(form, &j, &r), 200);
    free(form);
    /* The shape and key order of a real instance's answer. */
    const char *body = sg_buf_str(&r.body);
    const char *a = strstr(body, "\"access_token\""), *rf = strstr(body, "\"refresh_token\"");
    const char *sc = strstr(body, "\"scope\""), *tt = strstr(body, "\"token_type\"");
    const char *ei = strstr(body, "\"expires_in\"");
    assert_true(a && rf && sc && tt && ei && a < rf && rf < sc && sc < tt && tt < ei);
    sg_http_response_free(&r);
    char *access = sg_xstrdup(sg_json_get_str(j, "access_token"));
    assert_int_equal(strlen(access), 86);
    assert_string_equal(sg_json_get_str(j, "scope"), "useraccount");
    assert_string_equal(sg_json_get_str(j, "token_type"), "Bearer");
    int64_t exp = 0;
    assert_true(sg_json_get_int(j, "expires_in", &exp));
    assert_int_equal(exp, 1799);
    char *bearer = sg_xasprintf("Authorization: Bearer %s", access);
    char *refresh = sg_xstrdup(sg_json_get_str(j, "refresh_token"));
    sg_json_decref(j);

    const char *hb[] = {bearer, NULL};
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/sys_user?user_name=admin", hb, NULL, &j, NULL),
        200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    /* The documented query form works too. */
    char *q = sg_xasprintf("/api/now/table/sys_user?sysparm_limit=1&access_token=%s", access);
    assert_int_equal(h_call("GET", sim.p.url, q, NULL, NULL, &j, NULL), 200);
    sg_json_decref(j);
    free(q);

    char *rform = sg_xasprintf("grant_type=refresh_token&client_id=%s&client_secret=Cl1ent-Secret&"
                               "refresh_token=%s",
                               client_id, refresh);
    assert_int_equal(token(rform, &j, NULL), 200);
    assert_string_equal(sg_json_get_str(j, "refresh_token"), refresh);
    assert_string_not_equal(sg_json_get_str(j, "access_token"), access);
    sg_json_decref(j);
    free(rform);

    /* Failures all look alike, as on a real instance. */
    char *f1 = password_grant_form("wrong", "admin", "admin-Pw1");
    char *f2 = password_grant_form("Cl1ent-Secret", "admin", "wrong");
    char *f3 = sg_xasprintf("grant_type=refresh_token&client_id=%s&client_secret=Cl1ent-Secret&"
                            "refresh_token=bogus",
                            client_id);
    char *f4 = sg_xasprintf("grant_type=password&client_id=%s&username=admin&password=admin-Pw1",
                            client_id);
    expect_denied(f1);
    expect_denied(f2);
    expect_denied(f3);
    expect_denied(f4);
    expect_denied("grant_type=password&client_id=nope&client_secret=x&username=admin&password=x");
    expect_denied("grant_type=implicit");
    expect_denied("");
    expect_denied("%zz=%");
    free(f1);
    free(f2);
    free(f3);
    free(f4);
    /* A JSON body is an error too. */
    const char *jh[] = {"Content-Type: application/json", NULL};
    char *url = sg_xasprintf("%s/oauth_token.do", sim.p.url);
    assert_int_equal(h_http("POST", url, jh, "{\"grant_type\":\"password\"}", &r), SG_OK);
    assert_int_equal(r.status, 401);
    sg_http_response_free(&r);

    /* Revoking the refresh token ends it and the access tokens made with it. */
    char *rev = sg_xasprintf("%s/oauth_revoke_token.do?token=%s", sim.p.url, refresh);
    assert_int_equal(h_http("POST", rev, NULL, "", &r), SG_OK);
    assert_int_equal(r.status, 200);
    sg_http_response_free(&r);
    free(rev);
    char *again = sg_xasprintf("grant_type=refresh_token&client_id=%s&client_secret=Cl1ent-Secret&"
                               "refresh_token=%s",
                               client_id, refresh);
    expect_denied(again);
    free(again);
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sys_user", hb, NULL, &j, NULL), 401);
    sg_json_decref(j);
    free(url);
    free(bearer);
    free(refresh);
    free(access);
}

static void test_client_credentials(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    char *form = sg_xasprintf(
        "grant_type=client_credentials&client_id=%s&client_secret=Cl1ent-Secret", client_id);
    /* Off unless the instance enables it and the app has a user. */
    expect_denied(form);
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/now/table/sys_properties", admin,
               "{\"name\":\"glide.oauth.inbound.client.credential.grant_type.enabled\","
               "\"value\":\"true\",\"type\":\"boolean\"}",
               &j, NULL),
        201);
    sg_json_decref(j);
    expect_denied(form);
    char cc_client[64];
    make_client("\"user\":\"6816f79cc0a8016401c5a33be04be441\"", cc_client);
    char *form2 = sg_xasprintf(
        "grant_type=client_credentials&client_id=%s&client_secret=Cl1ent-Secret", cc_client);
    assert_int_equal(token(form2, &j, NULL), 200);
    assert_non_null(sg_json_get_str(j, "access_token"));
    assert_null(sg_json_get(j, "refresh_token"));
    sg_json_decref(j);
    free(form);
    free(form2);
}

/* PATCHes the OAuth application at path (as admin) with body. */
static void patch_client(const char *path, const char *body)
{
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("PATCH", sim.p.url, path, admin, body, &j, NULL), 200);
    sg_json_decref(j);
}

/* A verified client secret is remembered (each token request would otherwise pay for a
 * PBKDF2), but never past a change of the secret or the client's deactivation. */
static void test_secret_change(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    char *form = password_grant_form("Cl1ent-Secret", "admin", "admin-Pw1");
    char *form_new = password_grant_form("N3w-Secret", "admin", "admin-Pw1");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(token(form, &j, NULL), 200);
        sg_json_decref(j);
    }
    expect_denied(form_new);
    char *q =
        sg_xasprintf("/api/now/table/oauth_entity?client_id=%s&sysparm_fields=sys_id", client_id);
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
    char *path =
        sg_xasprintf("/api/now/table/oauth_entity/%s",
                     sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    patch_client(path, "{\"client_secret\":\"N3w-Secret\"}");
    expect_denied(form);
    assert_int_equal(token(form_new, &j, NULL), 200);
    sg_json_decref(j);
    /* Back to the first secret: a new hash, so the old success does not count either way. */
    patch_client(path, "{\"client_secret\":\"Cl1ent-Secret\"}");
    expect_denied(form_new);
    assert_int_equal(token(form, &j, NULL), 200);
    sg_json_decref(j);
    patch_client(path, "{\"active\":\"false\"}");
    expect_denied(form);
    free(path);
    free(q);
    free(form);
    free(form_new);
}

/* ---- the browser flow ---- */

static char *between(const char *s, const char *start, const char *end)
{
    const char *a = strstr(s, start);
    if (!a)
        return NULL;
    a += strlen(start);
    const char *b = strstr(a, end);
    return b ? sg_xstrndup(a, (size_t)(b - a)) : NULL;
}

static char *query_param(const char *url, const char *name)
{
    char key[64];
    snprintf(key, sizeof(key), "%s=", name);
    const char *p = strstr(url, key);
    if (!p)
        return NULL;
    p += strlen(key);
    return sg_xstrndup(p, strcspn(p, "&"));
}

typedef struct pkce {
    char verifier[64];
    char challenge[64];
} pkce;

static void make_pkce(pkce *p)
{
    uint8_t raw[32], d[SG_SHA256_LEN];
    sg_buf b = SG_BUF_INIT(0), c = SG_BUF_INIT(0);
    sg_random(raw, sizeof(raw));
    sg_base64_encode(raw, sizeof(raw), true, &b);
    sg_strlcpy(p->verifier, sg_buf_str(&b), sizeof(p->verifier));
    sg_sha256(p->verifier, strlen(p->verifier), d);
    sg_base64_encode(d, sizeof(d), true, &c);
    sg_strlcpy(p->challenge, sg_buf_str(&c), sizeof(p->challenge));
    sg_buf_free(&b);
    sg_buf_free(&c);
}

/* Logs in through the pages; returns the consent page's cookie and CSRF token. */
static void login(const char *authz_query, const char *user, const char *pw, char **cookie,
                  char **ck, char **page_out)
{
    sg_http_response r;
    char *url = sg_xasprintf("%s/oauth_auth.do?%s", sim.p.url, authz_query);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    free(url);
    assert_int_equal(r.status, 200);
    assert_true(sg_str_startswith(sg_http_response_header(&r, "Content-Type"), "text/html"));
    const char *html = sg_buf_str(&r.body);
    assert_non_null(strstr(html, "<form method=\"post\" action=\"/login.do\">"));
    assert_non_null(strstr(html, "name=\"user_password\""));
    sg_http_response_free(&r);
    /* Post the login form with the continuation fields the page carried. */
    char *form = sg_xasprintf("%s&user_name=%s&user_password=%s", authz_query, user, pw);
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    url = sg_xasprintf("%s/login.do", sim.p.url);
    assert_int_equal(h_http("POST", url, hdrs, form, &r), SG_OK);
    free(url);
    free(form);
    if (page_out)
        *page_out = sg_xstrdup(sg_buf_str(&r.body));
    if (r.status != 200) {
        *cookie = NULL;
        *ck = NULL;
        sg_http_response_free(&r);
        return;
    }
    const char *set = sg_http_response_header(&r, "Set-Cookie");
    assert_non_null(set);
    assert_non_null(strstr(set, "HttpOnly"));
    *cookie = sg_xstrndup(set, strcspn(set, ";"));
    *ck = between(sg_buf_str(&r.body), "name=\"sysparm_ck\" value=\"", "\"");
    assert_non_null(*ck);
    assert_non_null(strstr(sg_buf_str(&r.body), "id=\"allow\""));
    assert_non_null(strstr(sg_buf_str(&r.body), "id=\"deny\""));
    sg_http_response_free(&r);
}

static char *consent(const char *authz_query, const char *cookie, const char *ck,
                     const char *action, long *status)
{
    char *form = sg_xasprintf("%s&sysparm_ck=%s&action=%s", authz_query, ck, action);
    char *cookie_h = sg_xasprintf("Cookie: %s", cookie);
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded", cookie_h, NULL};
    char *url = sg_xasprintf("%s/oauth_auth.do", sim.p.url);
    sg_http_response r;
    assert_int_equal(h_http("POST", url, hdrs, form, &r), SG_OK);
    *status = r.status;
    char *loc = sg_xstrdup(sg_http_response_header(&r, "Location"));
    sg_http_response_free(&r);
    free(url);
    free(form);
    free(cookie_h);
    return loc;
}

static void test_authorization_code_pkce(void **state)
{
    (void)state;
    pkce p;
    make_pkce(&p);
    char *redirect = sg_http_escape(REDIRECT);
    char *authz = sg_xasprintf("response_type=code&client_id=%s&redirect_uri=%s&state=st%%3D1"
                               "&code_challenge=%s&code_challenge_method=S256",
                               client_id, redirect, p.challenge);
    char *cookie = NULL, *ck = NULL, *page = NULL;
    /* A wrong password stays on the login page. */
    login(authz, "admin", "wrong", &cookie, &ck, &page);
    assert_null(cookie);
    assert_non_null(strstr(page, "User name or password invalid"));
    free(page);
    login(authz, "admin", "admin-Pw1", &cookie, &ck, NULL);
    long status = 0;
    /* Without the CSRF token the consent is not taken. */
    char *loc = consent(authz, cookie, "00000000000000000000000000000000", "allow", &status);
    assert_int_equal(status, 401);
    free(loc);
    loc = consent(authz, cookie, ck, "allow", &status);
    assert_int_equal(status, 302);
    assert_true(sg_str_startswith(loc, REDIRECT "?code="));
    char *state_back = query_param(loc, "state");
    assert_string_equal(state_back, "st%3D1"); /* unchanged */
    char *code = query_param(loc, "code");

    /* A wrong verifier fails and burns the code. */
    char *bad =
        sg_xasprintf("grant_type=authorization_code&client_id=%s&client_secret=Cl1ent-Secret"
                     "&code=%s&redirect_uri=%s&code_verifier=%s",
                     client_id, code, redirect, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    expect_denied(bad);
    free(bad);
    free(loc);
    free(code);
    free(state_back);
    loc = consent(authz, cookie, ck, "allow", &status);
    code = query_param(loc, "code");
    char *good =
        sg_xasprintf("grant_type=authorization_code&client_id=%s&client_secret=Cl1ent-Secret"
                     "&code=%s&redirect_uri=%s&code_verifier=%s",
                     client_id, code, redirect, p.verifier);
    sg_json *j = NULL;
    assert_int_equal(token(good, &j, NULL), 200);
    assert_non_null(sg_json_get_str(j, "refresh_token"));
    char *bearer = sg_xasprintf("Authorization: Bearer %s", sg_json_get_str(j, "access_token"));
    sg_json_decref(j);
    /* The code is single-use. */
    expect_denied(good);
    const char *hb[] = {bearer, NULL};
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/sys_user?user_name=admin", hb, NULL, &j, NULL),
        200);
    sg_json_decref(j);
    free(good);
    free(code);
    free(loc);

    /* Deny goes back with error=access_denied and the state. */
    loc = consent(authz, cookie, ck, "deny", &status);
    assert_int_equal(status, 302);
    assert_true(sg_str_startswith(loc, REDIRECT "?error=access_denied&state=st%3D1"));
    free(loc);
    free(bearer);
    free(cookie);
    free(ck);
    free(authz);
    free(redirect);
}

static long authorize_status(const char *query, sg_http_response *keep)
{
    char *url = sg_xasprintf("%s/oauth_auth.do?%s", sim.p.url, query);
    sg_http_response r;
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    free(url);
    long s = r.status;
    if (keep)
        *keep = r;
    else
        sg_http_response_free(&r);
    return s;
}

static void test_authorize_errors(void **state)
{
    (void)state;
    sg_http_response r;
    char *q = sg_xasprintf("response_type=code&client_id=%s", client_id);
    assert_int_equal(authorize_status(q, &r), 400);
    assert_non_null(strstr(sg_buf_str(&r.body), "Missing State parameter in request."));
    sg_http_response_free(&r);
    free(q);
    assert_int_equal(authorize_status("response_type=code&client_id=nope&state=s", NULL), 400);
    q = sg_xasprintf("response_type=token&client_id=%s&state=s", client_id);
    assert_int_equal(authorize_status(q, NULL), 400);
    free(q);
    q = sg_xasprintf("response_type=code&client_id=%s&state=s&code_challenge=abc&"
                     "code_challenge_method=plain",
                     client_id);
    assert_int_equal(authorize_status(q, NULL), 400);
    free(q);
    /* Script in the state is escaped in the page, never run. */
    q = sg_xasprintf("response_type=code&client_id=%s&state=%%3Cscript%%3Ealert(1)%%3C/script%%3E",
                     client_id);
    assert_int_equal(authorize_status(q, &r), 200);
    assert_null(strstr(sg_buf_str(&r.body), "<script>"));
    assert_non_null(strstr(sg_buf_str(&r.body), "&lt;script&gt;"));
    sg_http_response_free(&r);
    free(q);

    /* An unregistered redirect_uri: the code goes to the first registered URL instead. */
    pkce p;
    make_pkce(&p);
    char *authz =
        sg_xasprintf("response_type=code&client_id=%s&redirect_uri=https%%3A%%2F%%2Fevil."
                     "example%%2Fcb&state=s1&code_challenge=%s&code_challenge_method=S256",
                     client_id, p.challenge);
    char *cookie = NULL, *ck = NULL;
    login(authz, "admin", "admin-Pw1", &cookie, &ck, NULL);
    long status = 0;
    char *loc = consent(authz, cookie, ck, "allow", &status);
    assert_int_equal(status, 302);
    assert_true(sg_str_startswith(loc, REDIRECT "?code="));
    free(loc);
    free(cookie);
    free(ck);
    free(authz);

    /* A public client must use PKCE. */
    char pub[64];
    make_client("\"public_client\":true", pub);
    q = sg_xasprintf("response_type=code&client_id=%s&state=s", pub);
    assert_int_equal(authorize_status(q, &r), 400);
    assert_non_null(strstr(sg_buf_str(&r.body), "PKCE"));
    sg_http_response_free(&r);
    free(q);
}

static void test_auto_consent_and_expiry(void **state)
{
    (void)state;
    h_sim_stop(&sim);
    const char *extra[] = {"--oauth-auto-consent", NULL};
    h_sim_start(&sim, NULL, extra);
    make_client("\"access_token_lifespan\":1", client_id);
    sg_http_response r;
    char *redirect = sg_http_escape(REDIRECT);
    char *q = sg_xasprintf("response_type=code&client_id=%s&redirect_uri=%s&state=auto", client_id,
                           redirect);
    assert_int_equal(authorize_status(q, &r), 302);
    char *code = query_param(sg_http_response_header(&r, "Location"), "code");
    sg_http_response_free(&r);
    char *form =
        sg_xasprintf("grant_type=authorization_code&client_id=%s&client_secret=Cl1ent-Secret"
                     "&code=%s&redirect_uri=%s",
                     client_id, code, redirect);
    sg_json *j = NULL;
    assert_int_equal(token(form, &j, NULL), 200);
    int64_t exp = 0;
    assert_true(sg_json_get_int(j, "expires_in", &exp));
    assert_int_equal(exp, 0);
    char *bearer = sg_xasprintf("Authorization: Bearer %s", sg_json_get_str(j, "access_token"));
    sg_json_decref(j);
    /* A token past its lifespan is refused. */
    struct timespec t = {2, 200 * 1000 * 1000};
    nanosleep(&t, NULL);
    const char *hb[] = {bearer, NULL};
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sys_user", hb, NULL, &j, NULL), 401);
    sg_json_decref(j);
    free(bearer);
    free(form);
    free(code);
    free(q);
    free(redirect);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_password_and_refresh, start, stop),
        cmocka_unit_test_setup_teardown(test_client_credentials, start, stop),
        cmocka_unit_test_setup_teardown(test_secret_change, start, stop),
        cmocka_unit_test_setup_teardown(test_authorization_code_pkce, start, stop),
        cmocka_unit_test_setup_teardown(test_authorize_errors, start, stop),
        cmocka_unit_test_setup_teardown(test_auto_consent_and_expiry, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
