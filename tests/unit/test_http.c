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
    {"GET", "/echo/{id}", h_echo},     {"POST", "/echo/{id}", h_echo},
    {"GET", "/files/{rest*}", h_rest}, {"GET", "/fail400", h_fail400},
    {"GET", "/fail500", h_fail500},    {"GET", "/big", h_big},
    {"GET", "/slow", h_slow},          {"GET", "/drop", h_drop},
    {"POST", "/inner", h_inner},       {0, 0, 0},
};

static sg_http_server *start(char *base, size_t n)
{
    sg_http_server_opts o = SG_HTTP_SERVER_OPTS_INIT;
    o.routes = routes;
    o.max_body = 1024;
    o.max_headers = 20;
    sg_http_server *srv = NULL;
    assert_int_equal(sg_http_server_start(&o, &srv), SG_OK);
    snprintf(base, n, "http://127.0.0.1:%u", sg_http_server_port(srv));
    return srv;
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
        cmocka_unit_test(test_routing),         cmocka_unit_test(test_inner_requests),
        cmocka_unit_test(test_errors_and_caps), cmocka_unit_test(test_client_guard_and_caps),
        cmocka_unit_test(test_client_pool),     cmocka_unit_test(test_graceful_stop),
        cmocka_unit_test(test_json_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
