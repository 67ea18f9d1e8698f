/* End to end: scripts in snowsim: a business rule from an update set posts a signed webhook
 * (verified here), a Scripted REST API answers the caller, runaway scripts are contained, and
 * a catalog order goes through approval with the rules firing. */
#include "e2e/sim_helpers.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/webhook_sig.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

/* ---- a webhook receiver in this process ---- */

typedef struct hook {
    char id[128], ts[32], sig[512], path[64];
    char body[2048];
} hook;

static pthread_mutex_t hooks_mu = PTHREAD_MUTEX_INITIALIZER;
static hook hooks[32];
static int nhooks;

static int on_hook(sg_http_req *req, void *app)
{
    (void)app;
    pthread_mutex_lock(&hooks_mu);
    if (nhooks < 32) {
        hook *h = &hooks[nhooks++];
        const char *v;
        snprintf(h->id, sizeof(h->id), "%s", (v = sg_http_header(req, "webhook-id")) ? v : "");
        snprintf(h->ts, sizeof(h->ts), "%s",
                 (v = sg_http_header(req, "webhook-timestamp")) ? v : "");
        snprintf(h->sig, sizeof(h->sig), "%s",
                 (v = sg_http_header(req, "webhook-signature")) ? v : "");
        snprintf(h->path, sizeof(h->path), "%s", sg_http_path(req));
        size_t len = 0;
        const char *b = sg_http_body(req, &len);
        snprintf(h->body, sizeof(h->body), "%.*s", (int)len, b);
    }
    pthread_mutex_unlock(&hooks_mu);
    return sg_http_reply(req, 202, "application/json", "{}", 2);
}

static const sg_http_route hook_routes[] = {{"POST", "/hook/{name}", on_hook, 0}, {0}};

static int hooks_seen(void)
{
    pthread_mutex_lock(&hooks_mu);
    int n = nhooks;
    pthread_mutex_unlock(&hooks_mu);
    return n;
}

/* Waits (bounded) until n webhooks arrived; async delivery takes a moment. */
static bool wait_hooks(int n)
{
    for (int i = 0; i < 600 && hooks_seen() < n; i++) {
        struct timespec t = {0, 20 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    return hooks_seen() >= n;
}

/* The caller frees the result. */
static char *rule_script(const char *mode)
{
    char buf[4096];
    snprintf(buf, sizeof(buf),
             "(function executeRule(current, previous) {\n"
             "  var secret = gs.getProperty('x_snowgate.webhook_secret');\n"
             "  var id = gs.generateGUID();\n"
             "  var ts = '' + Math.floor(new Date().getTime() / 1000);\n"
             "  var body = JSON.stringify({table: current.getTableName(), sys_id: "
             "current.getUniqueValue(),\n"
             "    number: current.getValue('number'), approval: current.getValue('approval'),\n"
             "    was: previous ? previous.getValue('approval') : null});\n"
             "  var key = secret.replace(/^whsec_/, '');\n"
             "  var mac = new GlideCertificateEncryption().generateMac(key, 'HmacSHA256', id + '.' "
             "+ ts + '.' + body);\n"
             "  var r = new sn_ws.RESTMessageV2();\n"
             "  r.setEndpoint(gs.getProperty('x_snowgate.webhook_url') + '/%s');\n"
             "  r.setHttpMethod('post');\n"
             "  r.setRequestHeader('Content-Type', 'application/json');\n"
             "  r.setRequestHeader('webhook-id', id);\n"
             "  r.setRequestHeader('webhook-timestamp', ts);\n"
             "  r.setRequestHeader('webhook-signature', 'v1,' + mac);\n"
             "  r.setRequestBody(body);\n"
             "  var resp = r.%s();\n"
             "  gs.info('webhook sent: {0}', resp.getStatusCode());\n"
             "})(current, previous);",
             mode, strcmp(mode, "async") == 0 ? "executeAsync" : "execute");
    return sg_xstrdup(buf);
}

static h_sim sim;
static sg_http_server *receiver;
static char hook_url[128];

static int start(void **state)
{
    (void)state;
    sg_http_server_opts o = SG_HTTP_SERVER_OPTS_INIT;
    o.routes = hook_routes;
    assert_int_equal(sg_http_server_start(&o, &receiver), SG_OK);
    snprintf(hook_url, sizeof(hook_url), "http://127.0.0.1:%u/hook", sg_http_server_port(receiver));
    char *dir = h_tmpdir("scriptscfg");
    char ini[512];
    snprintf(ini, sizeof(ini), "%s/snowsim.ini", dir);
    const char *cfg = "[script]\ntime_ms = 400\nheap_max = 16M\n";
    assert_int_equal(h_write_file(ini, cfg, strlen(cfg)), SG_OK);
    const char *extra[] = {"--allow-insecure-loopback", "--config", ini, NULL};
    h_sim_start(&sim, NULL, extra);
    free(dir);
    pthread_mutex_lock(&hooks_mu);
    nhooks = 0;
    pthread_mutex_unlock(&hooks_mu);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    h_sim_stop(&sim);
    sg_http_server_stop(receiver, 1000);
    return 0;
}

static char *new_id(void)
{
    char *id = sg_xmalloc(33);
    sim_new_sys_id(id);
    return id;
}

static void commit_set(const char *name, const us_record *recs, int n)
{
    char *xml = us_build(name, recs, n);
    long status = 0;
    char *id = us_upload(&sim, xml, strlen(xml), &status);
    assert_int_equal(status, 302);
    char *label = us_cicd(&sim, "commit", id, NULL);
    assert_string_equal(label, "Successful");
    free(label);
    free(id);
    free(xml);
}

static char *create(const char *table, const char *body, const char *const *auth)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/%s", table);
    sg_json *j = NULL;
    long st = h_call("POST", sim.p.url, path, auth, body, &j, NULL);
    if (st != 201)
        fail_msg("create %s: %ld", table, st);
    char *id = sg_xstrdup(sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    return id;
}

static void test_business_rule_webhook(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    char *p1 = new_id(), *p2 = new_id(), *r1 = new_id(), *r2 = new_id();
    char *sync_script = rule_script("sync"), *async_script = rule_script("async");
    us_record recs[] = {
        {"sys_properties",
         p1,
         NULL,
         NULL,
         {"name", "x_snowgate.webhook_url", "value", hook_url, NULL}},
        {"sys_properties",
         p2,
         NULL,
         NULL,
         {"name", "x_snowgate.webhook_secret", "type", "password2", "value", SECRET, NULL}},
        {"sys_script",
         r1,
         NULL,
         NULL,
         {"name", "snowgate Business Rule", "collection", "sc_request", "when", "after",
          "action_update", "true", "active", "true", "advanced", "true", "order", "100",
          "filter_condition",
          "approvalVALCHANGES^ORrequest_stateVALCHANGES^correlation_idSTARTSWITHsnowgate:^EQ",
          "script", sync_script, NULL}},
        {"sys_script",
         r2,
         NULL,
         NULL,
         {"name", "snowgate async rule", "collection", "sc_request", "when", "async",
          "action_update", "true", "active", "true", "condition",
          "current.approval.changesTo('approved') || current.getValue('approval') == 'approved'",
          "script", async_script, NULL}},
    };
    commit_set("snowgate", recs, 4);

    char *req = create("sc_request",
                       "{\"short_description\":\"x\",\"correlation_id\":\"snowgate:7\"}", admin);
    char *other =
        create("sc_request", "{\"short_description\":\"y\",\"correlation_id\":\"other\"}", admin);
    char path[128];
    /* Not ours: no webhook. */
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s", other);
    sg_json *j = NULL;
    assert_int_equal(
        h_call("PATCH", sim.p.url, path, admin, "{\"approval\":\"approved\"}", &j, NULL), 200);
    sg_json_decref(j);
    /* Ours: a plain admin PATCH of approval fires the rule. */
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s", req);
    assert_int_equal(
        h_call("PATCH", sim.p.url, path, admin, "{\"approval\":\"approved\"}", &j, NULL), 200);
    sg_json_decref(j);
    /* Only description changes: the filter condition keeps the sync rule quiet. */
    assert_int_equal(h_call("PATCH", sim.p.url, path, admin, "{\"description\":\"d\"}", &j, NULL),
                     200);
    sg_json_decref(j);
    /* The async rule for "other" (approved), "ours" (approved) and ours again (still approved). */
    assert_true(wait_hooks(4));
    int sync = 0, async = 0;
    /* Copy out first: a failed assertion must not leave the lock held. */
    static hook seen[32];
    pthread_mutex_lock(&hooks_mu);
    int n = nhooks;
    memcpy(seen, hooks, sizeof(seen));
    pthread_mutex_unlock(&hooks_mu);
    for (int i = 0; i < n; i++) {
        hook *h = &seen[i];
        int64_t ts = 0;
        assert_int_equal(sg_parse_i64(h->ts, 0, INT64_MAX, "ts", &ts), SG_OK);
        /* The HMAC computed by generateMac in the script verifies here. */
        if (sg_webhook_sig_verify(SECRET, h->id, h->ts, h->sig, h->body, strlen(h->body), ts) !=
            SG_OK)
            fail_msg("hook %d does not verify: %s (%s)", i, sg_err_msg(), h->body);
        assert_true(sim_is_sys_id(h->id));
        if (strcmp(h->path, "/hook/sync") == 0) {
            sync++;
            assert_non_null(strstr(h->body, "\"approval\":\"approved\""));
            assert_non_null(strstr(h->body, "\"was\":\"not requested\""));
            assert_non_null(strstr(h->body, req));
        } else {
            async++;
            if (!strstr(h->body, "\"was\":null")) /* no previous in async rules */
                fail_msg("async hook %d (%s): %s", i, h->path, h->body);
        }
    }
    assert_int_equal(sync, 1);
    assert_int_equal(async, 3);
    free(req);
    free(other);
    free(sync_script);
    free(async_script);
    free(p1);
    free(p2);
    free(r1);
    free(r2);
}

/* ---- a bare HTTP/1.1 listener that counts the connections made to it ---- */

typedef struct counter {
    int fd, port;
    pthread_t th;
    atomic_bool stop;
    atomic_int conns, reqs;
} counter;

/* Serves one connection until the peer closes it or the counter stops: answers each request
 * (head, then a Content-Length body) with 202 and keeps the connection open. */
static void count_serve(counter *c, int s)
{
    char buf[16384];
    size_t have = 0;
    while (!atomic_load(&c->stop)) {
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        size_t need = 0;
        if (end) {
            *end = '\0';
            const char *cl = strcasestr(buf, "content-length:");
            int64_t len = 0;
            if (cl)
                sg_parse_i64(cl + 15 + strspn(cl + 15, " "), 0, 8192, "length", &len);
            *end = '\r';
            need = (size_t)(end - buf) + 4 + (size_t)len;
        }
        if (end && have >= need) {
            static const char ok[] = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
            if (send(s, ok, sizeof(ok) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(ok) - 1)
                return;
            atomic_fetch_add(&c->reqs, 1);
            memmove(buf, buf + need, have - need);
            have -= need;
            continue;
        }
        struct pollfd p = {s, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(s, buf + have, sizeof(buf) - 1 - have, 0);
        if (n <= 0)
            return;
        have += (size_t)n;
    }
}

static void *count_loop(void *arg)
{
    counter *c = arg;
    while (!atomic_load(&c->stop)) {
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int s = accept(c->fd, NULL, NULL);
        if (s < 0)
            continue;
        atomic_fetch_add(&c->conns, 1);
        count_serve(c, s);
        close(s);
    }
    return NULL;
}

static void counter_start(counter *c)
{
    memset(c, 0, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(c->fd, 16), 0);
    assert_int_equal(getsockname(c->fd, (struct sockaddr *)&a, &len), 0);
    c->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&c->th, NULL, count_loop, c), 0);
}

static void counter_stop(counter *c)
{
    atomic_store(&c->stop, true);
    pthread_join(c->th, NULL);
    close(c->fd);
}

/* snowsim keeps its outbound connections open, as an instance does: the REST calls of
 * business rules (here execute(), one per update) share one connection. */
static void test_outbound_keepalive(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    static counter c;
    counter_start(&c);
    char script[1024];
    snprintf(script, sizeof(script),
             "(function executeRule(current, previous) {\n"
             "  var r = new sn_ws.RESTMessageV2();\n"
             "  r.setEndpoint('http://127.0.0.1:%d/event');\n"
             "  r.setHttpMethod('post');\n"
             "  r.setRequestHeader('Content-Type', 'application/json');\n"
             "  r.setRequestBody(JSON.stringify({sys_id: current.getUniqueValue()}));\n"
             "  var resp = r.execute();\n"
             "  if (resp.getStatusCode() != 202) throw 'status ' + resp.getStatusCode();\n"
             "})(current, previous);",
             c.port);
    char *rule = new_id();
    us_record recs[] = {
        {"sys_script",
         rule,
         NULL,
         NULL,
         {"name", "post each update", "collection", "sc_request", "when", "after", "action_update",
          "true", "active", "true", "advanced", "true", "order", "100", "script", script, NULL}},
    };
    commit_set("keepalive", recs, 1);
    char *req = create("sc_request", "{\"short_description\":\"k\"}", admin);
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s", req);
    for (int i = 0; i < 3; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"description\":\"update %d\"}", i);
        sg_json *j = NULL;
        assert_int_equal(h_call("PATCH", sim.p.url, path, admin, body, &j, NULL), 200);
        sg_json_decref(j);
    }
    int reqs = atomic_load(&c.reqs), conns = atomic_load(&c.conns);
    counter_stop(&c);
    assert_int_equal(reqs, 3);
    assert_int_equal(conns, 1);
    free(req);
    free(rule);
}

static void test_scripted_rest(void **state)
{
    (void)state;
    char *d = new_id(), *o1 = new_id(), *o2 = new_id();
    us_record recs[] = {
        {"sys_ws_definition",
         d,
         NULL,
         NULL,
         {"name", "OAuth userinfo", "service_id", "oauth_userinfo", "namespace", "snc", "base_uri",
          "/api/snc/oauth_userinfo", "active", "true", NULL}},
        {"sys_ws_operation",
         o1,
         NULL,
         NULL,
         {"name", "userinfo", "web_service_definition", d, "http_method", "GET", "relative_path",
          "/", "active", "true", "requires_authentication", "true", "operation_script",
          "(function process(request, response) {\n"
          "  response.setBody({user_name: gs.getUserName(), sys_id: gs.getUserID()});\n"
          "})(request, response);",
          NULL}},
        {"sys_ws_operation",
         o2,
         NULL,
         NULL,
         {"name", "echo", "web_service_definition", d, "http_method", "POST", "relative_path",
          "/echo/{thing}", "active", "true", "operation_script",
          "(function process(request, response) {\n"
          "  if (request.pathParams.thing == 'missing') {\n"
          "    var e = new sn_ws_err.NotFoundError('no such thing'); response.setError(e); "
          "return;\n"
          "  }\n"
          "  if (request.pathParams.thing == 'boom') { undefinedFunction(); }\n"
          "  response.setStatus(201);\n"
          "  response.setHeader('X-Thing', request.pathParams.thing);\n"
          "  return {thing: request.pathParams.thing, q: request.queryParams.q, data: "
          "request.body.data};\n"
          "})(request, response);",
          NULL}},
    };
    commit_set("userinfo", recs, 3);
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, "/api/snc/oauth_userinfo", admin, NULL, &j, NULL),
                     200);
    sg_json *res = sg_json_get(j, "result");
    assert_string_equal(sg_json_get_str(res, "user_name"), "admin");
    assert_string_equal(sg_json_get_str(res, "sys_id"), "6816f79cc0a8016401c5a33be04be441");
    sg_json_decref(j);
    /* Another caller sees themselves. */
    char *uid = create(
        "sys_user", "{\"user_name\":\"snowgate.service\",\"user_password\":\"Svc-pw-1\"}", admin);
    char *svc = h_basic("snowgate.service", "Svc-pw-1");
    const char *as_svc[] = {svc, NULL};
    assert_int_equal(h_call("GET", sim.p.url, "/api/snc/oauth_userinfo", as_svc, NULL, &j, NULL),
                     200);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "result"), "user_name"), "snowgate.service");
    assert_string_equal(sg_json_get_str(sg_json_get(j, "result"), "sys_id"), uid);
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/snc/oauth_userinfo", NULL, NULL, &j, NULL),
                     401);
    sg_json_decref(j);
    /* The versioned form routes too. */
    assert_int_equal(h_call("GET", sim.p.url, "/api/snc/v1/oauth_userinfo", admin, NULL, &j, NULL),
                     200);
    sg_json_decref(j);
    sg_http_response r;
    assert_int_equal(h_call("POST", sim.p.url, "/api/snc/oauth_userinfo/echo/abc?q=1&q=2", admin,
                            "{\"k\":\"v\"}", &j, &r),
                     201);
    assert_string_equal(sg_http_response_header(&r, "X-Thing"), "abc");
    sg_http_response_free(&r);
    res = sg_json_get(j, "result");
    assert_string_equal(sg_json_get_str(res, "thing"), "abc");
    assert_int_equal(sg_json_array_size(sg_json_get(res, "q")), 2);
    assert_string_equal(sg_json_get_str(sg_json_get(res, "data"), "k"), "v");
    sg_json_decref(j);
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/snc/oauth_userinfo/echo/missing", admin, "{}", &j, NULL),
        404);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "error"), "message"), "no such thing");
    sg_json_decref(j);
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/snc/oauth_userinfo/echo/boom", admin, "{}", &j, NULL), 500);
    assert_non_null(strstr(sg_json_get_str(sg_json_get(j, "error"), "detail"), "line 5"));
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/snc/nothing_here", admin, NULL, &j, NULL), 400);
    sg_json_decref(j);

    /* An operation that requires a REST_Endpoint ACL: only holders of its role pass. */
    char *acl = create(
        "sys_security_acl",
        "{\"name\":\"userinfo acl\",\"type\":\"REST_Endpoint\",\"operation\":\"execute\"}", admin);
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/sys_user_role?name=itil", admin, NULL, &j, NULL),
        200);
    char acl_role[160];
    snprintf(acl_role, sizeof(acl_role), "{\"sys_security_acl\":\"%s\",\"sys_user_role\":\"%s\"}",
             acl, sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    free(create("sys_security_acl_role", acl_role, admin));
    char op_path[128], patch[128];
    snprintf(op_path, sizeof(op_path), "/api/now/table/sys_ws_operation/%s", o1);
    snprintf(patch, sizeof(patch), "{\"requires_acl_authorization\":true,\"enforce_acl\":\"%s\"}",
             acl);
    assert_int_equal(h_call("PATCH", sim.p.url, op_path, admin, patch, &j, NULL), 200);
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/snc/oauth_userinfo", as_svc, NULL, &j, NULL),
                     403);
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/snc/oauth_userinfo", admin, NULL, &j, NULL),
                     200);
    sg_json_decref(j);
    free(acl);
    free(svc);
    free(uid);
    free(d);
    free(o1);
    free(o2);
}

/* The property names the operation answers with, read through gs.getProperty and GlideRecord. */
static const char *const prop_script =
    "(function process(request, response) {\n"
    "  var gr = new GlideRecord('sys_properties');\n"
    "  gr.addQuery('name', 'x_test.secret'); gr.query(); gr.next();\n"
    "  return {value: gs.getProperty('x_test.secret'), plain: gs.getProperty('x_test.plain'),\n"
    "    none: gs.getProperty('x_test.none', 'fallback'), stored: gr.getValue('value')};\n"
    "})(request, response);";

static sg_json *get_props(void)
{
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, "/api/x_test/props", admin, NULL, &j, NULL), 200);
    sg_json *res = sg_json_incref(sg_json_get(j, "result"));
    sg_json_decref(j);
    return res;
}

/* A password2 property written through the Table API: scripts read its clear text with
 * gs.getProperty (GlideRecord sees the stored ciphertext, as the Table API does), also after
 * a restart on the same data dir. */
static void test_password2_property(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    char *prop = create("sys_properties",
                        "{\"name\":\"x_test.secret\",\"type\":\"password2\","
                        "\"value\":\"s3cret-value\"}",
                        admin);
    free(create("sys_properties", "{\"name\":\"x_test.plain\",\"value\":\"plain-value\"}", admin));
    char *d = new_id(), *o = new_id();
    us_record recs[] = {
        {"sys_ws_definition",
         d,
         NULL,
         NULL,
         {"name", "props", "service_id", "props", "namespace", "x_test", "base_uri",
          "/api/x_test/props", "active", "true", NULL}},
        {"sys_ws_operation",
         o,
         NULL,
         NULL,
         {"name", "read", "web_service_definition", d, "http_method", "GET", "relative_path", "/",
          "active", "true", "operation_script", prop_script, NULL}},
    };
    commit_set("props", recs, 2);
    sg_json *res = get_props();
    assert_string_equal(sg_json_get_str(res, "value"), "s3cret-value");
    assert_string_equal(sg_json_get_str(res, "plain"), "plain-value");
    assert_string_equal(sg_json_get_str(res, "none"), "fallback");
    char *stored = sg_xstrdup(sg_json_get_str(res, "stored"));
    assert_true(*stored);
    assert_string_not_equal(stored, "s3cret-value");
    sg_json_decref(res);

    /* snowgate writes the secret as a service account would: a PATCH with the clear text. */
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sys_properties/%s", prop);
    sg_json *j = NULL;
    assert_int_equal(h_call("PATCH", sim.p.url, path, admin, "{\"value\":\"n3w-value\"}", &j, NULL),
                     200);
    sg_json_decref(j);
    res = get_props();
    assert_string_equal(sg_json_get_str(res, "value"), "n3w-value");
    free(stored);
    stored = sg_xstrdup(sg_json_get_str(res, "stored"));
    sg_json_decref(res);

    /* A restart on the same data dir: the same key, the same ciphertext, the same clear text. */
    char *dir = sg_xstrdup(sim.dir);
    sim.own_dir = false;
    h_sim_stop(&sim);
    h_sim_start(&sim, dir, NULL);
    sim.own_dir = true; /* the fixture's stop removes it */
    free(dir);
    res = get_props();
    assert_string_equal(sg_json_get_str(res, "value"), "n3w-value");
    assert_string_equal(sg_json_get_str(res, "stored"), stored);
    sg_json_decref(res);
    free(stored);
    free(prop);
    free(d);
    free(o);
}

static void rule(const char *name, const char *when, const char *script)
{
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "name", name);
    sg_json_set_str(body, "collection", "incident");
    sg_json_set_str(body, "when", when);
    sg_json_set_str(body, "action_insert", "true");
    sg_json_set_str(body, "script", script);
    char *text = sg_json_dump(body);
    sg_json_decref(body);
    free(create("sys_script", text, admin));
    free(text);
}

static void test_containment(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    rule("loops", "before", "while (true) {}");
    rule("syntax", "before", "var x = ;");
    rule("throws", "after", "var a = 1;\nnull.property;");
    rule("hungry", "before", "var s = 'x'; while (true) { s = s + s; }");
    rule("sets", "before", "current.short_description = 'survived';");
    sg_json *j = NULL;
    /* Every broken rule is stopped and logged; the insert itself goes through. */
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/incident", admin, "{}", &j, NULL),
                     201);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "result"), "short_description"), "survived");
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/incident", admin, NULL, &j, NULL),
                     200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    sg_buf log = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(sim.p.log_path, &log), SG_OK);
    const char *l = sg_buf_str(&log);
    assert_non_null(strstr(l, "\"msg\":\"script stopped: time limit\",\"req\""));
    assert_non_null(strstr(l, "\"script\":\"business rule 'loops'\""));
    assert_non_null(strstr(l, "\"script\":\"business rule 'syntax'\",\"phase\":\"compile\""));
    assert_non_null(
        strstr(l, "\"script\":\"business rule 'throws'\",\"phase\":\"run\",\"line\":\"2\""));
    assert_non_null(strstr(l, "\"msg\":\"script stopped: memory limit\""));
    sg_buf_free(&log);
}

static void test_catalog_and_approvals(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    /* The catalog, an item with a mandatory variable, and an approver. */
    char *cat = create("sc_catalog", "{\"title\":\"snowgate Data Access\"}", admin);
    char body[512];
    snprintf(body, sizeof(body), "{\"title\":\"Data\",\"sc_catalog\":\"%s\"}", cat);
    char *category = create("sc_category", body, admin);
    snprintf(body, sizeof(body),
             "{\"name\":\"Data access request\",\"short_description\":\"Access to a data asset\","
             "\"category\":\"%s\"}",
             category);
    char *item = create("sc_cat_item", body, admin);
    snprintf(
        body, sizeof(body),
        "{\"cat_item\":\"%s\",\"name\":\"asset\",\"question_text\":\"Asset\",\"mandatory\":true}",
        item);
    free(create("item_option_new", body, admin));
    char *approver =
        create("sys_user", "{\"user_name\":\"abel\",\"user_password\":\"Abel-pw-1\"}", admin);
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sys_user_role?name=approver_user",
                            admin, NULL, &j, NULL),
                     200);
    snprintf(body, sizeof(body), "{\"user\":\"%s\",\"role\":\"%s\"}", approver,
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    free(create("sys_user_has_role", body, admin));
    /* A rule that records each approval decision on a request. */
    sg_json *rb = sg_json_object();
    sg_json_set_str(rb, "name", "note decision");
    sg_json_set_str(rb, "collection", "sc_request");
    sg_json_set_str(rb, "when", "after");
    sg_json_set_str(rb, "action_update", "true");
    sg_json_set_str(rb, "condition", "current.approval.changes()");
    sg_json_set_str(rb, "script",
                    "var p = new GlideRecord('sys_properties'); p.initialize();"
                    "p.name = 'x.decision.' + current.number; p.value = current.approval + '/' +"
                    " current.request_state; p.insert();");
    char *rbt = sg_json_dump(rb);
    sg_json_decref(rb);
    free(create("sys_script", rbt, admin));
    free(rbt);

    assert_int_equal(h_call("GET", sim.p.url, "/api/sn_sc/servicecatalog/items?sysparm_text=data",
                            admin, NULL, &j, NULL),
                     200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    char path[256];
    snprintf(path, sizeof(path), "/api/sn_sc/servicecatalog/items/%s", item);
    assert_int_equal(h_call("GET", sim.p.url, path, admin, NULL, &j, NULL), 200);
    sg_json *vars = sg_json_get(sg_json_get(j, "result"), "variables");
    assert_int_equal(sg_json_array_size(vars), 1);
    assert_string_equal(sg_json_get_str(sg_json_array_get(vars, 0), "name"), "asset");
    sg_json_decref(j);

    snprintf(path, sizeof(path), "/api/sn_sc/servicecatalog/items/%s/order_now", item);
    assert_int_equal(h_call("POST", sim.p.url, path, admin, "{\"sysparm_quantity\":1}", &j, NULL),
                     400);
    assert_non_null(strstr(sg_json_get_str(sg_json_get(j, "error"), "detail"), "Mandatory"));
    sg_json_decref(j);
    char *decisions[2];
    const char *verdicts[2] = {"approved", "rejected"};
    for (int round = 0; round < 2; round++) {
        assert_int_equal(
            h_call("POST", sim.p.url, path, admin,
                   "{\"sysparm_quantity\":1,\"variables\":{\"asset\":\"analytics.orders\"}}", &j,
                   NULL),
            200);
        sg_json *res = sg_json_get(j, "result");
        assert_string_equal(sg_json_get_str(res, "table"), "sc_request");
        assert_true(sg_str_startswith(sg_json_get_str(res, "number"), "REQ00100"));
        assert_string_equal(sg_json_get_str(res, "request_number"), sg_json_get_str(res, "number"));
        char *req = sg_xstrdup(sg_json_get_str(res, "sys_id"));
        char *number = sg_xstrdup(sg_json_get_str(res, "number"));
        sg_json_decref(j);
        char q[256];
        snprintf(q, sizeof(q), "/api/now/table/sc_req_item?request=%s", req);
        assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
        sg_json *ritm = sg_json_array_get(sg_json_get(j, "result"), 0);
        assert_true(sg_str_startswith(sg_json_get_str(ritm, "number"), "RITM00100"));
        assert_string_equal(sg_json_get_str(sg_json_get(ritm, "cat_item"), "value"), item);
        sg_json_decref(j);
        snprintf(q, sizeof(q), "/api/now/table/sc_item_option?value=analytics.orders");
        assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
        assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), (size_t)round + 1);
        sg_json_decref(j);

        /* The approver decides through sysapproval_approver, seeing only their approvals. */
        char *abel = h_basic("abel", "Abel-pw-1");
        const char *as_abel[] = {abel, NULL};
        snprintf(q, sizeof(q), "/api/now/table/sysapproval_approver?sysapproval=%s&state=requested",
                 req);
        assert_int_equal(h_call("GET", sim.p.url, q, as_abel, NULL, &j, NULL), 200);
        assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
        char *appr =
            sg_xstrdup(sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
        sg_json_decref(j);
        snprintf(q, sizeof(q), "/api/now/table/sysapproval_approver/%s", appr);
        char decide[128];
        snprintf(decide, sizeof(decide), "{\"state\":\"%s\",\"comments\":\"ok by abel\"}",
                 verdicts[round]);
        assert_int_equal(h_call("PATCH", sim.p.url, q, as_abel, decide, &j, NULL), 200);
        sg_json_decref(j);
        snprintf(q, sizeof(q), "/api/now/table/sc_request/%s", req);
        assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
        assert_string_equal(sg_json_get_str(sg_json_get(j, "result"), "approval"), verdicts[round]);
        assert_string_equal(sg_json_get_str(sg_json_get(j, "result"), "request_state"),
                            round == 0 ? "in_process" : "closed_rejected");
        sg_json_decref(j);
        /* The request's rule fired. */
        snprintf(q, sizeof(q), "/api/now/table/sys_properties?name=x.decision.%s", number);
        assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
        decisions[round] =
            sg_xstrdup(sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "value"));
        sg_json_decref(j);
        free(appr);
        free(abel);
        free(req);
        free(number);
    }
    assert_string_equal(decisions[0], "approved/in_process");
    assert_string_equal(decisions[1], "rejected/closed_rejected");
    free(decisions[0]);
    free(decisions[1]);
    snprintf(path, sizeof(path), "/api/sn_sc/servicecatalog/items/%s/order_now",
             "0123456789abcdef0123456789abcdef");
    assert_int_equal(h_call("POST", sim.p.url, path, admin, "{}", &j, NULL), 404);
    sg_json_decref(j);
    free(cat);
    free(category);
    free(item);
    free(approver);
}

/* A field of a record, read as admin (the caller's copy). */
static char *field_of(const char *table, const char *sys_id, const char *field)
{
    const char *admin[] = {sim.admin_auth, NULL};
    char q[256];
    snprintf(q, sizeof(q), "/api/now/table/%s/%s?sysparm_fields=%s", table, sys_id, field);
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
    char *v = sg_xstrdup(sg_json_get_str(sg_json_get(j, "result"), field));
    sg_json_decref(j);
    return v;
}

static void set_approval(const char *approval, const char *body, const char *const *auth)
{
    char q[128];
    snprintf(q, sizeof(q), "/api/now/table/sysapproval_approver/%s", approval);
    sg_json *j = NULL;
    assert_int_equal(h_call("PATCH", sim.p.url, q, auth, body, &j, NULL), 200);
    sg_json_decref(j);
}

#define assert_field(table, id, field, want)                                                       \
    do {                                                                                           \
        char *v_ = field_of(table, id, field);                                                     \
        assert_string_equal(v_, want);                                                             \
        free(v_);                                                                                  \
    } while (0)

/* What snowgate relies on when it reads a decision, as on an instance: every write is stamped
 * with the user who made it (sys_updated_by; a value in the body does not change that), so an
 * admin who sets someone else's approval shows as the admin; and the task's approval is the
 * aggregate of its approvals: approved once all approved, rejected on any rejection (Classic
 * approvals, "Approval status" and "Multiple approvers"). */
static void test_approval_aggregate_and_who_decided(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sys_user_role?name=approver_user",
                            admin, NULL, &j, NULL),
                     200);
    char role[33];
    snprintf(role, sizeof(role), "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    char *users[2];
    static const char *const names[2] = {"abel", "bea"};
    for (int i = 0; i < 2; i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"user_name\":\"%s\",\"user_password\":\"Appr-pw-1\"}",
                 names[i]);
        users[i] = create("sys_user", body, admin);
        snprintf(body, sizeof(body), "{\"user\":\"%s\",\"role\":\"%s\"}", users[i], role);
        free(create("sys_user_has_role", body, admin));
    }
    char *abel = h_basic("abel", "Appr-pw-1"), *bea = h_basic("bea", "Appr-pw-1");
    const char *as_abel[] = {abel, NULL}, *as_bea[] = {bea, NULL};
    for (int round = 0; round < 3; round++) {
        char *req = create("sc_request", "{\"approval\":\"requested\"}", admin);
        char *appr[2];
        for (int i = 0; i < 2; i++) {
            char body[160];
            snprintf(body, sizeof(body),
                     "{\"approver\":\"%s\",\"sysapproval\":\"%s\",\"state\":\"requested\"}",
                     users[i], req);
            appr[i] = create("sysapproval_approver", body, admin);
        }
        if (round == 0) {
            /* abel approves, naming bea as the writer: the record names abel. One of two
             * approved: the request is not approved. */
            set_approval(appr[0], "{\"state\":\"approved\",\"sys_updated_by\":\"bea\"}", as_abel);
            assert_field("sysapproval_approver", appr[0], "sys_updated_by", "abel");
            assert_field("sc_request", req, "approval", "requested");
            /* The admin sets bea's: allowed, and it shows as the admin's. Now all approved. */
            set_approval(appr[1], "{\"state\":\"approved\"}", admin);
            assert_field("sysapproval_approver", appr[1], "sys_updated_by", "admin");
            assert_field("sc_request", req, "approval", "approved");
        } else if (round == 1) {
            /* One approves, the other rejects: rejected. */
            set_approval(appr[0], "{\"state\":\"approved\"}", as_abel);
            set_approval(appr[1], "{\"state\":\"rejected\"}", as_bea);
            assert_field("sysapproval_approver", appr[1], "sys_updated_by", "bea");
            assert_field("sc_request", req, "approval", "rejected");
        } else {
            /* A rejection decides at once; the approval still awaited is no longer required. */
            set_approval(appr[1], "{\"state\":\"rejected\"}", as_bea);
            assert_field("sc_request", req, "approval", "rejected");
            assert_field("sysapproval_approver", appr[0], "state", "not_required");
        }
        free(appr[0]);
        free(appr[1]);
        free(req);
    }
    free(abel);
    free(bea);
    free(users[0]);
    free(users[1]);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_business_rule_webhook, start, stop),
        cmocka_unit_test_setup_teardown(test_outbound_keepalive, start, stop),
        cmocka_unit_test_setup_teardown(test_scripted_rest, start, stop),
        cmocka_unit_test_setup_teardown(test_password2_property, start, stop),
        cmocka_unit_test_setup_teardown(test_containment, start, stop),
        cmocka_unit_test_setup_teardown(test_catalog_and_approvals, start, stop),
        cmocka_unit_test_setup_teardown(test_approval_aggregate_and_who_decided, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
