/* End to end: sign-in throttling holds under parallel guessing, and behind a reverse proxy
 * (http.trusted_proxies) it is keyed by the client the proxy reports, never by the proxy or by
 * what the client claims. */
#include "e2e/gate_env.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARALLEL 100

typedef struct tally {
    atomic_int checked, limited, other;
} tally;

static void *guess(void *arg)
{
    tally *t = arg;
    long st = g_sign_in("carol", "not-her-password", NULL, NULL);
    if (st == 401)
        atomic_fetch_add(&t->checked, 1);
    else if (st == 429)
        atomic_fetch_add(&t->limited, 1);
    else
        atomic_fetch_add(&t->other, 1);
    return NULL;
}

/* 100 wrong passwords for one name at once: at most the limit (5) are checked; every other
 * one is refused with 429 before its password is looked at. */
static void test_parallel_guesses(void **state)
{
    (void)state;
    char tok[128];
    g_add_user("carol", "member", NULL, tok);
    g_set_password("carol", "carol-Password1");
    tally t;
    atomic_init(&t.checked, 0);
    atomic_init(&t.limited, 0);
    atomic_init(&t.other, 0);
    pthread_t th[PARALLEL];
    for (int i = 0; i < PARALLEL; i++)
        assert_int_equal(pthread_create(&th[i], NULL, guess, &t), 0);
    for (int i = 0; i < PARALLEL; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&t.other), 0);
    assert_true(atomic_load(&t.checked) <= 5);
    assert_int_equal(atomic_load(&t.checked) + atomic_load(&t.limited), PARALLEL);
    /* Even the right password waits now. */
    assert_int_equal(g_sign_in("carol", "carol-Password1", NULL, NULL), 429);
}

/* Without trusted proxies, X-Forwarded-For is the client's own word and is ignored: 20
 * failures under 20 made-up addresses lock the one real address. */
static void test_forwarded_for_ignored_by_default(void **state)
{
    (void)state;
    char tok[128];
    g_add_user("dave", "member", NULL, tok);
    g_set_password("dave", "dave-Password1");
    for (int i = 0; i < 20; i++) {
        char name[32], xff[32];
        snprintf(name, sizeof(name), "nobody%d", i / 4);
        snprintf(xff, sizeof(xff), "198.51.100.%d", i + 1);
        assert_int_equal(g_sign_in(name, "wrong-password", xff, NULL), 401);
    }
    assert_int_equal(g_sign_in("dave", "dave-Password1", "192.0.2.200", NULL), 429);
    /* The log says once why the header is ignored and what to set. */
    sg_buf log = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(G.gate.log_path, &log), SG_OK);
    const char *first = strstr(sg_buf_str(&log), "http.trusted_proxies is unset");
    assert_non_null(first);
    assert_null(strstr(first + 1, "http.trusted_proxies is unset"));
    sg_buf_free(&log);
}

/* Behind the proxy (127.0.0.1, trusted): 20 failures from one client lock that client only;
 * another client signs in, and the audit records where from. A client that puts an address of
 * its own in front of the proxy's is still known by the proxy's. */
static void test_behind_trusted_proxy(void **state)
{
    (void)state;
    char tok[128];
    g_add_user("erin", "member", NULL, tok);
    g_set_password("erin", "erin-Password1");
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof(name), "nobody%d", i / 4);
        assert_int_equal(g_sign_in(name, "wrong-password", "203.0.113.5", NULL), 401);
    }
    assert_int_equal(g_sign_in("erin", "erin-Password1", "203.0.113.5", NULL), 429);
    /* The attacker claims another address; the proxy appends the one it saw. */
    assert_int_equal(g_sign_in("erin", "erin-Password1", "198.51.100.7, 203.0.113.5", NULL), 429);
    /* Chains of trusted hops are walked past; the first untrusted address is the client. */
    assert_int_equal(g_sign_in("erin", "erin-Password1", "203.0.113.5, 127.0.0.9", NULL), 429);
    /* Everyone else is unaffected. */
    assert_int_equal(g_sign_in("erin", "erin-Password1", "198.51.100.7", NULL), 200);
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", "/api/v1/audit?limit=20", NULL, &j), 200);
    const char *client = NULL;
    sg_json *entries = sg_json_get(j, "items");
    for (size_t i = 0; i < sg_json_array_size(entries) && !client; i++) {
        sg_json *e = sg_json_array_get(entries, i);
        if (strcmp(sg_json_get_str(e, "action"), "user.signed_in") == 0)
            client = sg_json_get_str(sg_json_get(e, "detail"), "client");
    }
    assert_non_null(client);
    assert_string_equal(client, "198.51.100.7");
    sg_json_decref(j);
}

/* A malformed trusted_proxies entry stops serve with the entry named. */
static void test_bad_trusted_proxies(void **state)
{
    (void)state;
    char *ini = sg_xasprintf("%s/bad.ini", G.dir);
    const char *text = "[http]\ntrusted_proxies = 10.0.0.0/8, 10.0.0.1/8\n";
    assert_int_equal(h_write_file(ini, text, strlen(text)), SG_OK);
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "serve",
                          "--listen",
                          "127.0.0.1:0",
                          "--data",
                          G.dir,
                          "--config",
                          ini,
                          NULL};
    sg_buf err = SG_BUF_INIT(0);
    assert_int_not_equal(h_run(argv, NULL, 30000, NULL, &err), 0);
    assert_non_null(strstr(sg_buf_str(&err), "http.trusted_proxies"));
    assert_non_null(strstr(sg_buf_str(&err), "10.0.0.1/8"));
    sg_buf_free(&err);
    /* doctor names it too, and warns of a proxy in front that nobody trusts. */
    sg_buf out = SG_BUF_INIT(0);
    const char *doc[] = {
        SG_BUILD_DIR "/snowgate", "doctor", "--data", G.dir, "--config", ini, NULL};
    h_run(doc, NULL, 60000, &out, NULL);
    assert_non_null(strstr(sg_buf_str(&out), "FAIL  trusted proxies"));
    sg_buf_free(&out);
    const char *doc2[] = {SG_BUILD_DIR "/snowgate",       "doctor", "--data", G.dir, "--public-url",
                          "https://snowgate.example.com", NULL};
    h_run(doc2, NULL, 60000, &out, NULL);
    assert_non_null(strstr(sg_buf_str(&out), "WARN  trusted proxies"));
    assert_non_null(strstr(sg_buf_str(&out), "set http.trusted_proxies"));
    sg_buf_free(&out);
    free(ini);
}

static int start(void **state)
{
    (void)state;
    g_start("signin", NULL);
    return 0;
}

/* 100 sign-ins at once from one address: the connection limit per client (its own test is
 * e2e/test_gate_connections) is lifted, so that every attempt reaches the throttle. */
static int start_parallel(void **state)
{
    (void)state;
    g_start_with("signin-parallel", "[http]\nmax_connections_per_client = 0\n");
    return 0;
}

static int start_proxied(void **state)
{
    (void)state;
    g_start_with("signin-proxy", "[http]\ntrusted_proxies = 127.0.0.0/8, ::1\n");
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
        cmocka_unit_test_setup_teardown(test_parallel_guesses, start_parallel, stop),
        cmocka_unit_test_setup_teardown(test_forwarded_for_ignored_by_default, start, stop),
        cmocka_unit_test_setup_teardown(test_behind_trusted_proxy, start_proxied, stop),
        cmocka_unit_test_setup_teardown(test_bad_trusted_proxies, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
