/* Tests for http/server and http/client, talking to each other over loopback. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/mem.h"
#include "http/client.h"
#include "http/server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void add_arg(void *ctx, const char *key, const char *value)
{
    sg_json *pair = sg_json_array();
    sg_json_append(pair, sg_json_string(key));
    sg_json_append(pair, sg_json_string(value));
    sg_json_append(ctx, pair);
}

static int h_echo(sg_http_req *req, void *app)
{
    (void)app;
    size_t len = 0;
    const char *body = sg_http_body(req, &len);
    sg_json *j = sg_json_object();
    sg_json *args = sg_json_array();
    sg_http_query_each(req, add_arg, args);
    sg_json_set(j, "args", args);
    sg_json_set_str(j, "path", sg_http_path(req));
    sg_json_set(j, "inner", sg_json_string(sg_http_inner_ctx(req)));
    sg_json_set_str(j, "method", sg_http_method(req));
    sg_json_set_str(j, "id", sg_http_param(req, "id"));
    sg_json_set_str(j, "q", sg_http_query(req, "q"));
    sg_json_set_str(j, "hdr", sg_http_header(req, "x-test"));
    sg_json_set_int(j, "len", (int64_t)len);
    sg_json_set(j, "body", sg_json_stringn(body, len));
    sg_http_set_header(req, "X-Echo", "1");
    return sg_http_reply_json(req, 200, j);
}

static int h_rest(sg_http_req *req, void *app)
{
    (void)app;
    const char *rest = sg_http_param(req, "rest");
    return sg_http_reply(req, 200, "text/plain", rest, strlen(rest));
}

static int h_fail400(sg_http_req *req, void *app)
{
    (void)req;
    (void)app;
    return sg_err_set(SG_EINVAL, "field 'asset' is required");
}

static int h_fail500(sg_http_req *req, void *app)
{
    (void)req;
    (void)app;
    return sg_err_set(SG_ESTORE, "disk on fire at /secret/path");
}

static int h_big(sg_http_req *req, void *app)
{
    (void)app;
    char *big = sg_xmalloc(100000);
    memset(big, 'x', 100000);
    int rc = sg_http_reply(req, 200, "text/plain", big, 100000);
    free(big);
    return rc;
}

static int h_slow(sg_http_req *req, void *app)
{
    (void)app;
    struct timespec t = {1, 500 * 1000 * 1000};
    nanosleep(&t, NULL);
    return sg_http_reply(req, 200, "text/plain", "slow", 4);
}

static int h_drop(sg_http_req *req, void *app)
{
    (void)app;
    sg_http_drop(req);
    return SG_OK;
}

/* Runs the request described by the JSON body ({"method","target","headers":[[n,v]...],
 * "body"} or "fill": N for a body of N x's) as an inner request, and answers what it
 * captured. */
static int h_inner(sg_http_req *req, void *app)
{
    (void)app;
    sg_json *in = NULL;
    if (sg_http_body_json(req, &in) != SG_OK)
        return SG_EINVAL;
    sg_json *hl = sg_json_get(in, "headers");
    size_t nh = sg_json_array_size(hl);
    sg_http_field *fields = sg_xcalloc(nh ? nh : 1, sizeof(*fields));
    for (size_t i = 0; i < nh; i++) {
        fields[i].name = sg_json_str(sg_json_array_get(sg_json_array_get(hl, i), 0));
        fields[i].value = sg_json_str(sg_json_array_get(sg_json_array_get(hl, i), 1));
    }
    const char *body = sg_json_get_str(in, "body");
    int64_t fill = 0;
    char *filled = NULL;
    if (sg_json_get_int(in, "fill", &fill) && fill > 0 && fill < 100000) {
        filled = sg_xmalloc((size_t)fill + 1);
        memset(filled, 'x', (size_t)fill);
        filled[fill] = '\0';
        body = filled;
    }
    sg_http_inner_req ir = {
        sg_json_get_str(in, "method"), sg_json_get_str(in, "target"), fields, nh, body,
        body ? strlen(body) : 0,       (void *)"ctx-marker"};
    sg_http_inner_reply rep;
    int rc = sg_http_run_inner(req, &ir, &rep);
    free(filled);
    free(fields);
    sg_json_decref(in);
    if (rc != SG_OK) {
        sg_http_inner_reply_free(&rep);
        return rc;
    }
    sg_json *out = sg_json_object();
    sg_json_set_int(out, "status", rep.status);
    sg_json *headers = sg_json_array();
    for (size_t i = 0; i < rep.nheaders; i++)
        add_arg(headers, rep.headers[i].name, rep.headers[i].value);
    sg_json_set(out, "headers", headers);
    sg_json_set(out, "body", rep.body ? sg_json_stringn(rep.body, rep.body_len) : sg_json_null());
    sg_http_inner_reply_free(&rep);
    return sg_http_reply_json(req, 200, out);
}

static const sg_http_route routes[] = {
    {"GET", "/echo/{id}", h_echo, 0},     {"POST", "/echo/{id}", h_echo, 0},
    {"GET", "/files/{rest*}", h_rest, 0}, {"GET", "/fail400", h_fail400, 0},
    {"GET", "/fail500", h_fail500, 0},    {"GET", "/big", h_big, 0},
    {"GET", "/slow", h_slow, 0},          {"GET", "/drop", h_drop, 0},
    {"POST", "/inner", h_inner, 0},       {0},
};

static sg_http_server *start_with(const sg_http_server_opts *o, char *base, size_t n)
{
    sg_http_server *srv = NULL;
    assert_int_equal(sg_http_server_start(o, &srv), SG_OK);
    snprintf(base, n, "http://127.0.0.1:%u", sg_http_server_port(srv));
    return srv;
}

/* Handler threads for start(): 0 runs every handler on the I/O thread; the *_in_pool tests
 * run the same tests again through the handler pool, as snowgate serves them. */
static unsigned start_handlers;

static sg_http_server *start(char *base, size_t n)
{
    sg_http_server_opts o = SG_HTTP_SERVER_OPTS_INIT;
    o.routes = routes;
    o.max_body = 1024;
    o.max_headers = 20;
    o.handler_threads = start_handlers;
    return start_with(&o, base, n);
}

static sg_json *json_of(sg_http_response *r)
{
    sg_json *j = NULL;
    assert_int_equal(sg_json_parse(sg_buf_str(&r->body), r->body.len, 0, 0, &j), SG_OK);
    return j;
}

static void test_routing(void **state)
{
    (void)state;
    char base[64], url[256];
    sg_http_server *srv = start(base, sizeof(base));
    sg_http_response r;

    snprintf(url, sizeof(url), "%s/echo/42?q=a%%20b%%5Ec", base);
    const char *hdrs[] = {"X-Test: yes", "X-Request-Id: my-req.1", NULL};
    assert_int_equal(h_http("GET", url, hdrs, NULL, &r), SG_OK);
    assert_int_equal(r.status, 200);
    sg_json *j = json_of(&r);
    assert_string_equal(sg_json_get_str(j, "id"), "42");
    assert_string_equal(sg_json_get_str(j, "q"), "a b^c");
    assert_string_equal(sg_json_get_str(j, "hdr"), "yes");
    assert_string_equal(sg_http_response_header(&r, "x-request-id"), "my-req.1");
    assert_string_equal(sg_http_response_header(&r, "X-Echo"), "1");
    assert_string_equal(sg_http_response_header(&r, "Content-Type"), "application/json");
    sg_json_decref(j);
    sg_http_response_free(&r);

    snprintf(url, sizeof(url), "%s/echo/7", base);
    assert_int_equal(h_http("POST", url, NULL, "{\"a\":1}", &r), SG_OK);
    j = json_of(&r);
    assert_string_equal(sg_json_get_str(j, "body"), "{\"a\":1}");
    assert_string_equal(sg_json_get_str(j, "method"), "POST");
    sg_json_decref(j);
    sg_http_response_free(&r);

    /* A hostile request id is replaced by a generated one. */
    const char *evil[] = {"X-Request-Id: a b\"<script>", NULL};
    assert_int_equal(h_http("GET", url, evil, NULL, &r), SG_OK);
    assert_int_equal(strlen(sg_http_response_header(&r, "X-Request-Id")), 16);
    sg_http_response_free(&r);

    snprintf(url, sizeof(url), "%s/files/a/b/c.txt", base);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    assert_string_equal(sg_buf_str(&r.body), "a/b/c.txt");
    sg_http_response_free(&r);
    snprintf(url, sizeof(url), "%s/files", base);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(sg_buf_str(&r.body), "");
    sg_http_response_free(&r);

    snprintf(url, sizeof(url), "%s/echo", base);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 404);
    j = json_of(&r);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "error"), "code"), "not_found");
    assert_non_null(sg_json_get_str(sg_json_get(j, "error"), "request_id"));
    sg_json_decref(j);
    sg_http_response_free(&r);

    snprintf(url, sizeof(url), "%s/echo/1", base);
    assert_int_equal(h_http("DELETE", url, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 405);
    assert_string_equal(sg_http_response_header(&r, "Allow"), "GET, POST");
    sg_http_response_free(&r);

    sg_http_server_stop(srv, 1000);
}

/* Runs an inner request through the test server's /inner route; returns its parsed capture. */
static sg_json *run_inner(const char *base, const char *spec)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/inner", base);
    const char *hdrs[] = {"Content-Type: application/json", NULL};
    sg_http_response r;
    assert_int_equal(h_http("POST", url, hdrs, spec, &r), SG_OK);
    if (r.status != 200) {
        sg_http_response_free(&r);
        return NULL;
    }
    sg_json *j = json_of(&r);
    sg_http_response_free(&r);
    return j;
}

static const char *captured_header(sg_json *cap, size_t i, int part)
{
    return sg_json_str(sg_json_array_get(sg_json_array_get(sg_json_get(cap, "headers"), i), part));
}

static void test_inner_requests(void **state)
{
    (void)state;
    char base[64], url[256];
    sg_http_server *srv = start(base, sizeof(base));
    sg_http_response r;

    /* The same target, sent by a client and run inside: the handler sees the same path, query
     * arguments (decoded by the same rules, repeated and valueless ones too) and headers. */
    const char *target = "/echo/7?q=a%20b%5Ec&q=second&flag&Sp=x+y&e=";
    snprintf(url, sizeof(url), "%s%s", base, target);
    const char *hdrs[] = {"X-Test: yes", NULL};
    assert_int_equal(h_http("GET", url, hdrs, NULL, &r), SG_OK);
    sg_json *direct = json_of(&r);
    sg_http_response_free(&r);
    char spec[1024];
    snprintf(spec, sizeof(spec),
             "{\"method\":\"GET\",\"target\":\"%s\",\"headers\":[[\"x-TEST\",\"yes\"]]}", target);
    sg_json *cap = run_inner(base, spec);
    assert_non_null(cap);
    int64_t st = 0;
    sg_json_get_int(cap, "status", &st);
    assert_int_equal(st, 200);
    assert_string_equal(captured_header(cap, 0, 0), "Content-Type");
    assert_string_equal(captured_header(cap, 0, 1), "application/json");
    assert_string_equal(captured_header(cap, 1, 0), "X-Echo");
    sg_json *inner = NULL;
    const char *ib = sg_json_get_str(cap, "body");
    assert_int_equal(sg_json_parse(ib, strlen(ib), 0, 0, &inner), SG_OK);
    char *want = sg_json_dump(sg_json_get(direct, "args"));
    char *got = sg_json_dump(sg_json_get(inner, "args"));
    assert_string_equal(got, want);
    free(want);
    free(got);
    assert_string_equal(sg_json_get_str(inner, "path"), sg_json_get_str(direct, "path"));
    assert_string_equal(sg_json_get_str(inner, "q"), "a b^c");
    assert_string_equal(sg_json_get_str(inner, "hdr"), "yes");
    assert_string_equal(sg_json_get_str(inner, "id"), "7");
    /* Only the inner request carries the ctx. */
    assert_string_equal(sg_json_get_str(inner, "inner"), "ctx-marker");
    assert_int_equal(sg_json_typeof(sg_json_get(direct, "inner")), SG_JSON_NULL);
    sg_json_decref(inner);
    sg_json_decref(direct);
    sg_json_decref(cap);

    /* The path is decoded as libmicrohttpd decodes it. */
    snprintf(url, sizeof(url), "%s/files/a%%20b+c%%2Fd", base);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    cap = run_inner(base, "{\"method\":\"GET\",\"target\":\"/files/a%20b+c%2Fd\"}");
    assert_string_equal(sg_json_get_str(cap, "body"), sg_buf_str(&r.body));
    sg_http_response_free(&r);
    sg_json_decref(cap);

    /* A body; the route table's 405, 404 and handler errors, in the server's error format. */
    cap = run_inner(base, "{\"method\":\"POST\",\"target\":\"/echo/9\",\"body\":\"hello\"}");
    assert_non_null(strstr(sg_json_get_str(cap, "body"), "\"body\":\"hello\""));
    sg_json_decref(cap);
    cap = run_inner(base, "{\"method\":\"DELETE\",\"target\":\"/echo/1\"}");
    sg_json_get_int(cap, "status", &st);
    assert_int_equal(st, 405);
    bool allow = false;
    for (size_t i = 0; i < sg_json_array_size(sg_json_get(cap, "headers")); i++)
        allow |= strcmp(captured_header(cap, i, 0), "Allow") == 0 &&
                 strcmp(captured_header(cap, i, 1), "GET, POST") == 0;
    assert_true(allow);
    sg_json_decref(cap);
    cap = run_inner(base, "{\"method\":\"GET\",\"target\":\"/nowhere\"}");
    sg_json_get_int(cap, "status", &st);
    assert_int_equal(st, 404);
    assert_non_null(strstr(sg_json_get_str(cap, "body"), "not_found"));
    sg_json_decref(cap);
    cap = run_inner(base, "{\"method\":\"GET\",\"target\":\"/fail400\"}");
    sg_json_get_int(cap, "status", &st);
    assert_int_equal(st, 400);
    assert_non_null(strstr(sg_json_get_str(cap, "body"), "field 'asset' is required"));
    sg_json_decref(cap);

    /* HEAD: GET's status and headers, no body. A dropped request: status 0. */
    cap = run_inner(base, "{\"method\":\"HEAD\",\"target\":\"/echo/1\"}");
    sg_json_get_int(cap, "status", &st);
    assert_int_equal(st, 200);
    assert_string_equal(sg_json_get_str(cap, "body"), "");
    sg_json_decref(cap);
    cap = run_inner(base, "{\"method\":\"GET\",\"target\":\"/drop\"}");
    sg_json_get_int(cap, "status", &st);
    assert_int_equal(st, 0);
    assert_int_equal(sg_json_typeof(sg_json_get(cap, "body")), SG_JSON_NULL);
    sg_json_decref(cap);

    /* The server's caps apply: 413 past max_body, 431 past max_headers. */
    cap = run_inner(base, "{\"method\":\"POST\",\"target\":\"/echo/1\",\"fill\":1024}");
    sg_json_get_int(cap, "status", &st);
    assert_int_equal(st, 200);
    sg_json_decref(cap);
    cap = run_inner(base, "{\"method\":\"POST\",\"target\":\"/echo/1\",\"fill\":1025}");
    sg_json_get_int(cap, "status", &st);
    assert_int_equal(st, 413);
    sg_json_decref(cap);
    sg_buf big = SG_BUF_INIT(0);
    sg_buf_puts(&big, "{\"method\":\"GET\",\"target\":\"/echo/1\",\"headers\":[");
    for (int i = 0; i < 21; i++)
        sg_buf_printf(&big, "%s[\"X-H%d\",\"v\"]", i ? "," : "", i);
    sg_buf_puts(&big, "]}");
    cap = run_inner(base, sg_buf_str(&big));
    sg_json_get_int(cap, "status", &st);
    assert_int_equal(st, 431);
    sg_json_decref(cap);
    sg_buf_free(&big);

    /* What cannot be a request is refused before anything runs. */
    assert_null(run_inner(base, "{\"method\":\"GET\",\"target\":\"http://x/echo/1\"}"));
    assert_null(run_inner(base, "{\"method\":\"GET\",\"target\":\"/echo/1\","
                                "\"headers\":[[\"X-A\",\"v\\r\\nX-B: w\"]]}"));
    assert_null(run_inner(base, "{\"target\":\"/echo/1\"}"));

    assert_string_equal(sg_http_reason(200), "OK");
    assert_string_equal(sg_http_reason(201), "Created");
    assert_string_equal(sg_http_reason(404), "Not Found");
    assert_string_equal(sg_http_reason(799), "");
    sg_http_server_stop(srv, 1000);
}

static void test_errors_and_caps(void **state)
{
    (void)state;
    char base[64], url[256];
    sg_http_server *srv = start(base, sizeof(base));
    sg_http_response r;

    snprintf(url, sizeof(url), "%s/fail400", base);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(sg_buf_str(&r.body), "field 'asset' is required"));
    sg_http_response_free(&r);

    /* Internal details stay in the server's log. */
    snprintf(url, sizeof(url), "%s/fail500", base);
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 500);
    assert_null(strstr(sg_buf_str(&r.body), "/secret/path"));
    sg_http_response_free(&r);

    snprintf(url, sizeof(url), "%s/echo/1", base);
    char *big = sg_xmalloc(5000);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    assert_int_equal(h_http("POST", url, NULL, big, &r), SG_OK);
    assert_int_equal(r.status, 413);
    sg_http_response_free(&r);
    free(big);

    const char *many[40];
    char lines[39][32];
    for (int i = 0; i < 39; i++) {
        snprintf(lines[i], sizeof(lines[i]), "X-H%d: %d", i, i);
        many[i] = lines[i];
    }
    many[39] = NULL;
    assert_int_equal(h_http("GET", url, many, NULL, &r), SG_OK);
    assert_int_equal(r.status, 431);
    sg_http_response_free(&r);

    /* The server still answers normally afterwards. */
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    assert_int_equal(r.status, 200);
    sg_http_response_free(&r);
    sg_http_server_stop(srv, 1000);
}

static void test_client_guard_and_caps(void **state)
{
    (void)state;
    char base[64], url[256];
    sg_http_server *srv = start(base, sizeof(base));
    sg_http_response r;
    sg_http_client_opts strict = SG_HTTP_CLIENT_OPTS_INIT;

    snprintf(url, sizeof(url), "%s/echo/1", base);
    assert_int_equal(sg_http_request(&strict, "GET", url, NULL, NULL, 0, &r), SG_EDENIED);
    /* https to loopback is refused too, before any connection. */
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/", sg_http_server_port(srv));
    assert_int_equal(sg_http_request(&strict, "GET", url, NULL, NULL, 0, &r), SG_EDENIED);
    /* A host name that resolves to loopback is caught at connect time. */
    snprintf(url, sizeof(url), "https://localhost.localdomain:%u/", sg_http_server_port(srv));
    int rc = sg_http_request(&strict, "GET", url, NULL, NULL, 0, &r);
    assert_true(rc == SG_EDENIED || rc == SG_ENET);

    sg_http_client_opts small = SG_HTTP_CLIENT_OPTS_INIT;
    small.allow_insecure_loopback = true;
    small.max_response = 1000;
    snprintf(url, sizeof(url), "%s/big", base);
    assert_int_equal(sg_http_request(&small, "GET", url, NULL, NULL, 0, &r), SG_ETOOBIG);

    sg_http_client_opts quick = SG_HTTP_CLIENT_OPTS_INIT;
    quick.allow_insecure_loopback = true;
    quick.timeout_ms = 300;
    snprintf(url, sizeof(url), "%s/slow", base);
    assert_int_equal(sg_http_request(&quick, "GET", url, NULL, NULL, 0, &r), SG_ETIMEOUT);
    sg_http_server_stop(srv, 3000);

    /* Nothing listens there any more. */
    assert_int_equal(sg_http_request(&quick, "GET", url, NULL, NULL, 0, &r), SG_ENET);
}

/* A pool keeps the connection open: the second request, and one from another thread, reuse it;
 * without a pool every request opens its own. */
typedef struct pooled {
    sg_http_client_opts opts;
    const char *url;
    long opened;
} pooled;

static void *pooled_get(void *arg)
{
    pooled *p = arg;
    sg_http_response r;
    p->opened = -1;
    if (sg_http_request(&p->opts, "GET", p->url, NULL, NULL, 0, &r) == SG_OK) {
        p->opened = r.new_connections;
        sg_http_response_free(&r);
    }
    return NULL;
}

static void test_client_pool(void **state)
{
    (void)state;
    char base[64], url[256];
    sg_http_server *srv = start(base, sizeof(base));
    snprintf(url, sizeof(url), "%s/echo/1", base);
    sg_http_pool *pool = sg_http_pool_new(2);
    sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
    o.allow_insecure_loopback = true;
    o.pool = pool;
    sg_http_response r;
    assert_int_equal(sg_http_request(&o, "GET", url, NULL, NULL, 0, &r), SG_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.new_connections, 1);
    sg_http_response_free(&r);
    assert_int_equal(sg_http_request(&o, "GET", url, NULL, NULL, 0, &r), SG_OK);
    assert_int_equal(r.new_connections, 0);
    sg_http_response_free(&r);
    /* Another thread takes the same idle connection. */
    pooled p = {o, url, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pooled_get, &p), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.opened, 0);
    /* No pool: a connection each time. */
    sg_http_client_opts lone = SG_HTTP_CLIENT_OPTS_INIT;
    lone.allow_insecure_loopback = true;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(sg_http_request(&lone, "GET", url, NULL, NULL, 0, &r), SG_OK);
        assert_int_equal(r.new_connections, 1);
        sg_http_response_free(&r);
    }
    sg_http_server_stop(srv, 1000);
    sg_http_pool_free(pool);
}

typedef struct slow_call {
    char url[256];
    long status;
} slow_call;

static void *call_slow(void *arg)
{
    slow_call *c = arg;
    sg_http_response r;
    if (h_http("GET", c->url, NULL, NULL, &r) == SG_OK) {
        c->status = r.status;
        sg_http_response_free(&r);
    }
    return NULL;
}

static void test_graceful_stop(void **state)
{
    (void)state;
    char base[64];
    sg_http_server *srv = start(base, sizeof(base));
    slow_call c = {"", 0};
    snprintf(c.url, sizeof(c.url), "%s/slow", base);
    pthread_t th;
    pthread_create(&th, NULL, call_slow, &c);
    while (sg_http_server_inflight(srv) == 0) {
        struct timespec t = {0, 5 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    sg_http_server_stop(srv, 10000);
    pthread_join(th, NULL);
    assert_int_equal(c.status, 200);
}

/* ---- the handler pool and suspended connections ----
 * A gate that handlers wait on until the test opens it: "while a handler waits, another
 * request is answered" is then a fact, not a race against a timer. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int gate_waiting;

static void gate_set(bool open)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = open;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_pass(void)
{
    pthread_mutex_lock(&gate_mu);
    gate_waiting++;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    gate_waiting--;
    pthread_mutex_unlock(&gate_mu);
}

static void gate_wait_for(int n)
{
    pthread_mutex_lock(&gate_mu);
    while (gate_waiting < n)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static int h_gated(sg_http_req *req, void *app)
{
    (void)app;
    gate_pass();
    return sg_http_reply(req, 200, "text/plain", "gated", 5);
}

static int h_quick(sg_http_req *req, void *app)
{
    (void)app;
    return sg_http_reply(req, 200, "text/plain", "quick", 5);
}

/* Replies from a thread of its own once the gate opens, as the group commit does. */
static void *finish_later(void *arg)
{
    sg_http_req *req = arg;
    gate_pass();
    sg_http_reply(req, 202, "text/plain", "later", 5);
    sg_http_resume(req);
    return NULL;
}

static int h_suspend(sg_http_req *req, void *app)
{
    (void)app;
    if (!sg_http_suspend(req))
        return sg_http_reply(req, 200, "text/plain", "inline", 6);
    pthread_t th;
    if (pthread_create(&th, NULL, finish_later, req) != 0) {
        sg_http_reply(req, 500, "text/plain", "thread", 6);
        sg_http_resume(req);
        return SG_HTTP_SUSPENDED;
    }
    pthread_detach(th);
    return SG_HTTP_SUSPENDED;
}

/* Hands over and is resumed (by itself, here) before it returns: the request is gone by then
 * (the pause lets the I/O thread free it), and nothing may touch it after the handler returns.
 * Under AddressSanitizer, a read of it would be a use after free. */
static int h_resumed_early(sg_http_req *req, void *app)
{
    (void)app;
    if (!sg_http_suspend(req))
        return sg_http_reply(req, 200, "text/plain", "inline", 6);
    sg_http_reply(req, 203, "text/plain", "early", 5);
    sg_http_resume(req);
    struct timespec t = {0, 50 * 1000 * 1000};
    nanosleep(&t, NULL);
    return SG_HTTP_SUSPENDED;
}

static const sg_http_route pool_routes[] = {
    {"POST", "/resumed-early", h_resumed_early, 0},
    {"POST", "/resumed-early-quick", h_resumed_early, SG_HTTP_QUICK},
    {"GET", "/gated", h_gated, 0},
    {"GET", "/quick", h_quick, SG_HTTP_QUICK},
    {"POST", "/suspend", h_suspend, SG_HTTP_QUICK},
    {"POST", "/pool-suspend", h_suspend, 0},
    {"GET", "/pooled-quick", h_quick, 0},
    {0},
};

/* One I/O thread, so that anything holding it would hold every connection. */
static sg_http_server *start_pool(char *base, size_t n, unsigned handlers)
{
    sg_http_server_opts o = SG_HTTP_SERVER_OPTS_INIT;
    o.routes = pool_routes;
    o.io_threads = 1;
    o.handler_threads = handlers;
    return start_with(&o, base, n);
}

typedef struct call {
    char method[8];
    char url[256];
    long status;
    char body[16];
    bool failed;
} call;

static void *do_call(void *arg)
{
    call *c = arg;
    sg_http_response r;
    if (h_http(c->method, c->url, NULL, strcmp(c->method, "POST") == 0 ? "" : NULL, &r) == SG_OK) {
        c->status = r.status;
        snprintf(c->body, sizeof(c->body), "%s", sg_buf_str(&r.body));
        sg_http_response_free(&r);
    } else {
        c->failed = true;
    }
    return NULL;
}

static void call_start(call *c, pthread_t *th, const char *method, const char *base,
                       const char *path)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->method, sizeof(c->method), "%s", method);
    snprintf(c->url, sizeof(c->url), "%s%s", base, path);
    assert_int_equal(pthread_create(th, NULL, do_call, c), 0);
}

static long get_status(const char *base, const char *path, char *body, size_t n)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", base, path);
    sg_http_response r;
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    long st = r.status;
    if (body)
        snprintf(body, n, "%s", sg_buf_str(&r.body));
    sg_http_response_free(&r);
    return st;
}

static void test_pool_keeps_io_free(void **state)
{
    (void)state;
    char base[64], body[16];
    sg_http_server *srv = start_pool(base, sizeof(base), 2);
    gate_set(false);
    /* Both pool threads wait, and a third request queues behind them. */
    call c[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        call_start(&c[i], &th[i], "GET", base, "/gated");
    gate_wait_for(2);
    /* The I/O thread is free: a quick route answers, many times over. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(get_status(base, "/quick", body, sizeof(body)), 200);
        assert_string_equal(body, "quick");
    }
    gate_set(true);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_false(c[i].failed);
        assert_int_equal(c[i].status, 200);
        assert_string_equal(c[i].body, "gated");
    }
    /* Pool routes still answer once it is free again. */
    assert_int_equal(get_status(base, "/pooled-quick", NULL, 0), 200);
    sg_http_server_stop(srv, 1000);
}

static void test_suspend_and_resume(void **state)
{
    (void)state;
    char base[64];
    sg_http_server *srv = start_pool(base, sizeof(base), 1);
    gate_set(false);
    /* Suspended from the I/O thread, and from a pool thread. */
    call a, b;
    pthread_t ta, tb;
    call_start(&a, &ta, "POST", base, "/suspend");
    call_start(&b, &tb, "POST", base, "/pool-suspend");
    gate_wait_for(2);
    /* Neither holds a thread: the one I/O thread and the one pool thread both answer. */
    assert_int_equal(get_status(base, "/quick", NULL, 0), 200);
    assert_int_equal(get_status(base, "/pooled-quick", NULL, 0), 200);
    gate_set(true);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.status, 202);
    assert_string_equal(a.body, "later");
    assert_int_equal(b.status, 202);
    /* Resumed before the handler returned, in the pool and on the I/O thread. */
    call_start(&a, &ta, "POST", base, "/resumed-early");
    call_start(&b, &tb, "POST", base, "/resumed-early-quick");
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.status, 203);
    assert_int_equal(b.status, 203);
    sg_http_server_stop(srv, 1000);
}

static void *stop_server(void *arg)
{
    sg_http_server_stop(arg, 0);
    return NULL;
}

static void test_stop_with_suspended(void **state)
{
    (void)state;
    char base[64];
    sg_http_server *srv = start_pool(base, sizeof(base), 1);
    gate_set(false);
    /* One handler runs in the pool, one request queues behind it, one is suspended. */
    call run, queued, susp;
    pthread_t tr, tq, ts;
    call_start(&run, &tr, "GET", base, "/gated");
    gate_wait_for(1);
    call_start(&susp, &ts, "POST", base, "/suspend");
    gate_wait_for(2);
    call_start(&queued, &tq, "GET", base, "/gated");
    while (sg_http_server_inflight(srv) < 3) {
        struct timespec t = {0, 5 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    /* No grace: the queued request is told to come back; the others finish first. */
    pthread_t stopper;
    assert_int_equal(pthread_create(&stopper, NULL, stop_server, srv), 0);
    pthread_join(tq, NULL);
    assert_int_equal(queued.status, 503);
    gate_set(true);
    pthread_join(stopper, NULL);
    pthread_join(tr, NULL);
    pthread_join(ts, NULL);
    assert_int_equal(run.status, 200);
    assert_int_equal(susp.status, 202);
    /* Stopped: nothing listens any more. */
    sg_http_response r;
    char url[256];
    snprintf(url, sizeof(url), "%s/quick", base);
    assert_int_not_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
}

static void test_in_pool(void **state)
{
    start_handlers = 2;
    test_routing(state);
    test_inner_requests(state);
    test_errors_and_caps(state);
    test_graceful_stop(state);
    start_handlers = 0;
}

static void test_json_type(void **state)
{
    (void)state;
    static const char *const yes[] = {"application/json", "application/json; charset=utf-8",
                                      "APPLICATION/JSON", " application/json ;charset=UTF-8",
                                      "Application/Json\t"};
    static const char *const no[] = {NULL,
                                     "",
                                     "text/plain",
                                     "application/jsonp",
                                     "application/json-patch+json",
                                     "application/x-www-form-urlencoded",
                                     "multipart/form-data; boundary=application/json",
                                     "text/plain; x=application/json",
                                     "application/js",
                                     "application/json,text/plain"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(sg_http_is_json_type(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(sg_http_is_json_type(no[i]));
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_inner_requests),
        cmocka_unit_test(test_errors_and_caps),
        cmocka_unit_test(test_client_guard_and_caps),
        cmocka_unit_test(test_client_pool),
        cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_json_type),
        cmocka_unit_test(test_pool_keeps_io_free),
        cmocka_unit_test(test_suspend_and_resume),
        cmocka_unit_test(test_stop_with_suspended),
        cmocka_unit_test(test_in_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
