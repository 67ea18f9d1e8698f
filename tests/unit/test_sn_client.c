/* Tests for gate/servicenow/client: ServiceNow's 429 pauses every caller until its Retry-After,
 * and the first answer after a failure asks the worker to wake the waiting jobs. A local server
 * stands in for the instance; no timing is asserted, only the order of events it sees. */
#include "e2e/harness.h"

#include "core/err.h"
#include "gate/secrets.h"
#include "gate/servicenow/client.h"
#include "gate/servicenow/token_cache.h"
#include "http/server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int calls;
static int early;           /* calls that arrived before the advertised Retry-After ended */
static int64_t open_at_ms;  /* when the pause the server asked for ends (server's clock) */
static const char *limited; /* "1": Retry-After 1 on the first call; "30": always */

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int h_table(sg_http_req *req, void *app)
{
    (void)app;
    pthread_mutex_lock(&mu);
    int n = ++calls;
    int64_t now = now_ms();
    if (open_at_ms && now < open_at_ms)
        early++;
    bool refuse = strcmp(limited, "30") == 0 || n == 1;
    if (refuse)
        open_at_ms = now + (strcmp(limited, "30") == 0 ? 30000 : 1000);
    pthread_mutex_unlock(&mu);
    if (refuse) {
        sg_http_set_header(req, "Retry-After", limited);
        static const char body[] = "{\"error\":{\"message\":\"Rate limit exceeded\"},"
                                   "\"status\":\"failure\"}";
        return sg_http_reply(req, 429, "application/json", body, sizeof(body) - 1);
    }
    static const char ok[] = "{\"result\":[]}";
    return sg_http_reply(req, 200, "application/json", ok, sizeof(ok) - 1);
}

/* Refuses the bearer token "revoked" (401), as ServiceNow does a token it revoked. */
static int h_user(sg_http_req *req, void *app)
{
    (void)app;
    const char *auth = sg_http_header(req, "Authorization");
    if (auth && strcmp(auth, "Bearer revoked") == 0)
        return sg_http_reply(req, 401, "application/json", "{}", 2);
    return sg_http_reply(req, 200, "application/json", "{\"result\":[]}", 13);
}

static const sg_http_route routes[] = {{"GET", "/api/now/table/sc_request", h_table, 0},
                                       {"GET", "/api/now/table/sys_user", h_user, 0},
                                       {0}};

typedef struct caller {
    sg_app *app;
    const char *base;
    int rc;
    long status;
} caller;

static void *call(void *arg)
{
    caller *c = arg;
    sg_json *j = NULL;
    c->rc =
        sn_call(c->app, c->base, "token", "GET", "/api/now/table/sc_request", NULL, &c->status, &j);
    sg_json_decref(j);
    return NULL;
}

static sg_http_server *start(char *base, size_t n)
{
    sg_http_server_opts o = SG_HTTP_SERVER_OPTS_INIT;
    o.routes = routes;
    sg_http_server *srv = NULL;
    assert_int_equal(sg_http_server_start(&o, &srv), SG_OK);
    snprintf(base, n, "http://127.0.0.1:%u", sg_http_server_port(srv));
    calls = early = 0;
    open_at_ms = 0;
    return srv;
}

/* The local instance, and an app with just what sn_call uses: the loopback allowance for it,
 * a pool and a token cache. */
typedef struct env {
    char base[64];
    sg_http_server *srv;
    sg_app app;
} env;

static void env_start(env *e, const char *limit)
{
    limited = limit;
    e->srv = start(e->base, sizeof(e->base));
    memset(&e->app, 0, sizeof(e->app));
    e->app.cfg.allow_insecure_loopback = true;
    e->app.sn_pool = sg_http_pool_new(4);
    e->app.sn_tokens = sg_sn_token_cache_new();
}

static void env_stop(env *e)
{
    sg_http_server_stop(e->srv, 1000);
    sg_http_pool_free(e->app.sn_pool);
    sg_sn_token_cache_free(e->app.sn_tokens);
}

static void test_retry_after_shared(void **state)
{
    (void)state;
    env e;
    env_start(&e, "1");
    sg_app *app = &e.app;
    const char *base = e.base;
    caller first = {app, base, 0, 0};
    call(&first);
    assert_int_equal(first.rc, SG_OK);
    assert_int_equal(first.status, 429);
    assert_true(sn_paused_for(app) > 0);
    assert_false(atomic_load(&app->sn_wake));
    /* Every other caller, on any thread, waits the pause out before calling. */
    caller c[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        c[i] = (caller){app, base, -1, 0};
        assert_int_equal(pthread_create(&th[i], NULL, call, &c[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(c[i].rc, SG_OK);
        assert_int_equal(c[i].status, 200);
    }
    assert_int_equal(calls, 4);
    assert_int_equal(early, 0);
    /* ServiceNow answers again after refusing: the worker is asked to wake waiting jobs. */
    assert_true(atomic_load(&app->sn_wake));
    env_stop(&e);
}

static void test_long_pause_fails_fast(void **state)
{
    (void)state;
    env e;
    env_start(&e, "30");
    sg_app *app = &e.app;
    const char *base = e.base;
    caller c = {app, base, 0, 0};
    call(&c);
    assert_int_equal(c.status, 429);
    int64_t left = sn_paused_for(app);
    assert_true(left > 2 && left <= 30);
    /* Beyond a short wait, the call fails at once and ServiceNow is not asked again; the
     * job's retry is set to the pause (worker.c). */
    call(&c);
    assert_int_equal(c.rc, SG_EUNAVAIL);
    assert_non_null(strstr(sg_err_msg(), "rate limit"));
    assert_int_equal(calls, 1);
    env_stop(&e);
}

/* A 429 or a 5xx is worth retrying (the job waits); any other unexpected status is not. */
static void test_status_error(void **state)
{
    (void)state;
    assert_int_equal(sn_status_error(429), SG_EUNAVAIL);
    assert_int_equal(sn_status_error(500), SG_EUNAVAIL);
    assert_int_equal(sn_status_error(503), SG_EUNAVAIL);
    assert_int_equal(sn_status_error(400), SG_ENET);
    assert_int_equal(sn_status_error(403), SG_ENET);
    assert_int_equal(sn_status_error(404), SG_ENET);
}

/* A service token ServiceNow refuses (401) is dropped from the token cache, so the next
 * session asks for a new one; a token it accepts stays. */
static void test_refused_token_forgotten(void **state)
{
    (void)state;
    env e;
    env_start(&e, "1");
    sg_app *app = &e.app;
    const char *base = e.base;
    uint8_t key[SG_SHA256_LEN] = {1};
    long status = 0;
    sg_json *j = NULL;
    sg_sn_token_cache_put(app->sn_tokens, key, "revoked", 1799, 1000);
    assert_int_equal(
        sn_call(app, base, "revoked", "GET", "/api/now/table/sys_user", NULL, &status, &j), SG_OK);
    sg_json_decref(j);
    assert_int_equal(status, 401);
    assert_null(sg_sn_token_cache_get(app->sn_tokens, key, 1000));
    sg_sn_token_cache_put(app->sn_tokens, key, "good", 1799, 1000);
    assert_int_equal(
        sn_call(app, base, "good", "GET", "/api/now/table/sys_user", NULL, &status, &j), SG_OK);
    sg_json_decref(j);
    assert_int_equal(status, 200);
    char *kept = sg_sn_token_cache_get(app->sn_tokens, key, 1000);
    assert_string_equal(kept, "good");
    sg_secrets_free_plain(kept);
    /* A person's own token (account linking) is not the service account's: never dropped. */
    sg_sn_token_cache_put(app->sn_tokens, key, "revoked", 1799, 1000);
    assert_int_equal(
        sn_call_as_user(app, base, "revoked", "GET", "/api/now/table/sys_user", NULL, &status, &j),
        SG_OK);
    sg_json_decref(j);
    assert_int_equal(status, 401);
    kept = sg_sn_token_cache_get(app->sn_tokens, key, 1000);
    assert_string_equal(kept, "revoked");
    sg_secrets_free_plain(kept);
    env_stop(&e);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_shared),
        cmocka_unit_test(test_long_pause_fails_fast),
        cmocka_unit_test(test_status_error),
        cmocka_unit_test(test_refused_token_forgotten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
