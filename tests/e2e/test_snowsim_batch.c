/* End to end: snowsim's Batch API (POST /api/now[/v1|/v2]/batch) over HTTP: sub-requests run
 * through the Table API as the caller, with its ACLs, rate limits and faults, in order; bad
 * batches are refused whole; size limits leave the rest unserviced. */
#include "e2e/harness.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "sim/records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* ---- building a batch ---- */

static char *b64(const char *s)
{
    sg_buf b = SG_BUF_INIT(0);
    assert_int_equal(sg_base64_encode(s, strlen(s), false, &b), SG_OK);
    return sg_buf_detach(&b, NULL);
}

/* One rest_requests entry with JSON Accept/Content-Type headers; body is JSON text or NULL. */
static sg_json *item(const char *id, const char *method, const char *url, const char *body)
{
    sg_json *r = sg_json_object();
    sg_json_set_str(r, "id", id);
    sg_json_set_str(r, "method", method);
    sg_json_set_str(r, "url", url);
    sg_json *headers = sg_json_array();
    const char *pairs[][2] = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
    for (size_t i = 0; i < 2; i++) {
        sg_json *h = sg_json_object();
        sg_json_set_str(h, "name", pairs[i][0]);
        sg_json_set_str(h, "value", pairs[i][1]);
        sg_json_append(headers, h);
    }
    sg_json_set(r, "headers", headers);
    if (body) {
        char *enc = b64(body);
        sg_json_set_str(r, "body", enc);
        free(enc);
    }
    return r;
}

static sg_json *batch_of(const char *id)
{
    sg_json *b = sg_json_object();
    if (id)
        sg_json_set_str(b, "batch_request_id", id);
    sg_json_set(b, "rest_requests", sg_json_array());
    return b;
}

static void add(sg_json *batch, sg_json *it)
{
    sg_json_append(sg_json_get(batch, "rest_requests"), it);
}

/* POSTs the batch (its reference is taken) to path as the user of auth; returns the status. */
static long send_batch(const char *path, const char *auth, sg_json *batch, sg_json **out,
                       sg_http_response *keep)
{
    const char *hdrs[] = {auth, NULL};
    char *text = sg_json_dump(batch);
    sg_json_decref(batch);
    long st = h_call("POST", sim.p.url, path, hdrs, text, out, keep);
    free(text);
    return st;
}

/* ---- reading the answer ---- */

static sg_json *serviced(sg_json *resp, size_t i)
{
    return sg_json_array_get(sg_json_get(resp, "serviced_requests"), i);
}

static int64_t status_of(sg_json *e)
{
    int64_t st = -1;
    assert_true(sg_json_get_int(e, "status_code", &st));
    return st;
}

/* The decoded body of a serviced request, parsed (NULL when empty). */
static sg_json *body_of(sg_json *e)
{
    const char *enc = sg_json_get_str(e, "body");
    assert_non_null(enc);
    sg_buf dec = SG_BUF_INIT(0);
    assert_int_equal(sg_base64_decode(enc, strlen(enc), false, &dec), SG_OK);
    sg_json *j = NULL;
    if (dec.len)
        assert_int_equal(sg_json_parse(dec.data, dec.len, 0, 0, &j), SG_OK);
    sg_buf_free(&dec);
    return j;
}

static const char *header_of(sg_json *e, const char *name)
{
    sg_json *hl = sg_json_get(e, "headers");
    for (size_t i = 0; i < sg_json_array_size(hl); i++) {
        sg_json *h = sg_json_array_get(hl, i);
        if (strcasecmp(sg_json_get_str(h, "name"), name) == 0)
            return sg_json_get_str(h, "value");
    }
    return NULL;
}

static void expect_envelope(sg_json *j, const char *message, const char *detail)
{
    assert_non_null(j);
    assert_string_equal(sg_json_get_str(j, "status"), "failure");
    sg_json *e = sg_json_get(j, "error");
    assert_string_equal(sg_json_get_str(e, "message"), message);
    if (detail)
        assert_string_equal(sg_json_get_str(e, "detail"), detail);
}

static void expect_item_error(sg_json *e, int64_t status, const char *message, const char *detail)
{
    assert_int_equal(status_of(e), status);
    sg_json *j = body_of(e);
    expect_envelope(j, message, detail);
    sg_json_decref(j);
}

static char *result_field(sg_json *e, const char *field)
{
    sg_json *j = body_of(e);
    const char *v = sg_json_get_str(sg_json_get(j, "result"), field);
    char *out = v ? sg_xstrdup(v) : NULL;
    sg_json_decref(j);
    return out;
}

static int64_t count_of(const char *table, const char *query)
{
    const char *admin[] = {sim.admin_auth, NULL};
    char path[256];
    char *q = sg_http_escape(query);
    snprintf(path, sizeof(path), "/api/now/table/%s?sysparm_query=%s", table, q);
    free(q);
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, path, admin, NULL, &j, NULL), 200);
    int64_t n = (int64_t)sg_json_array_size(sg_json_get(j, "result"));
    sg_json_decref(j);
    return n;
}

/* ---- tests ---- */

static void test_batch_crud(void **state)
{
    (void)state;
    /* The documented example's shape: two creates and a list, one without its headers. The
     * batch id may be a number (PySNC sends one) and comes back as a string. */
    sg_json *b = sg_json_object();
    sg_json_set_int(b, "batch_request_id", 7);
    sg_json_set(b, "rest_requests", sg_json_array());
    add(b, item("c1", "POST", "/api/now/table/incident", "{\"short_description\":\"first\"}"));
    add(b, item("c2", "POST", "/api/now/table/incident", "{\"short_description\":\"second\"}"));
    sg_json *list = item("l", "GET", "/api/now/table/incident?sysparm_limit=1", NULL);
    sg_json_set_bool(list, "exclude_response_headers", true);
    add(b, list);
    sg_json *resp = NULL;
    sg_http_response r;
    assert_int_equal(send_batch("/api/now/v1/batch", sim.admin_auth, b, &resp, &r), 200);
    assert_string_equal(sg_http_response_header(&r, "Content-Type"),
                        "application/json;charset=UTF-8");
    sg_http_response_free(&r);
    assert_string_equal(sg_json_get_str(resp, "batch_request_id"), "7");
    assert_int_equal(sg_json_array_size(sg_json_get(resp, "serviced_requests")), 3);
    assert_int_equal(sg_json_array_size(sg_json_get(resp, "unserviced_requests")), 0);

    sg_json *c1 = serviced(resp, 0), *c2 = serviced(resp, 1), *l = serviced(resp, 2);
    assert_string_equal(sg_json_get_str(c1, "id"), "c1");
    assert_int_equal(status_of(c1), 201);
    assert_string_equal(sg_json_get_str(c1, "status_text"), "Created");
    int64_t ms = -1;
    assert_true(sg_json_get_int(c1, "execution_time", &ms));
    assert_true(ms >= 0);
    /* Headers as a direct call gets them, plus Content-Length. */
    assert_string_equal(header_of(c1, "Content-Type"), "application/json;charset=UTF-8");
    char *a = result_field(c1, "sys_id");
    char *bb = result_field(c2, "sys_id");
    assert_true(sim_is_sys_id(a));
    assert_true(sim_is_sys_id(bb));
    char want[512];
    snprintf(want, sizeof(want), "%s/api/now/table/incident/%s", sim.p.url, a);
    assert_string_equal(header_of(c1, "Location"), want);
    int64_t len = 0;
    assert_int_equal(sg_parse_i64(header_of(c1, "Content-Length"), 1, INT64_MAX, "len", &len),
                     SG_OK);
    char *desc = result_field(c1, "short_description");
    assert_string_equal(desc, "first");
    free(desc);
    /* The caller made them. */
    char *by = result_field(c2, "sys_created_by");
    assert_string_equal(by, "admin");
    free(by);
    assert_int_equal(status_of(l), 200);
    assert_string_equal(sg_json_get_str(l, "status_text"), "OK");
    assert_int_equal(sg_json_array_size(sg_json_get(l, "headers")), 0);
    sg_json *lb = body_of(l);
    assert_int_equal(sg_json_array_size(sg_json_get(lb, "result")), 1);
    sg_json_decref(lb);
    sg_json_decref(resp);

    /* Read, change and delete them in a second batch (unversioned URL), with a 404 inside. */
    char pa[128], pb[128];
    snprintf(pa, sizeof(pa), "/api/now/table/incident/%s", a);
    snprintf(pb, sizeof(pb), "/api/now/v2/table/incident/%s", bb);
    b = batch_of("2");
    add(b, item("get", "GET", pa, NULL));
    add(b, item("patch", "PATCH", pa, "{\"short_description\":\"patched in a batch\"}"));
    add(b, item("delete", "DELETE", pb, NULL));
    add(b,
        item("missing", "GET", "/api/now/table/incident/0123456789abcdef0123456789abcdef", NULL));
    add(b, item("badtable", "GET", "/api/now/table/no_such_table", NULL));
    assert_int_equal(send_batch("/api/now/batch", sim.admin_auth, b, &resp, NULL), 200);
    assert_string_equal(sg_json_get_str(resp, "batch_request_id"), "2");
    assert_int_equal(status_of(serviced(resp, 0)), 200);
    desc = result_field(serviced(resp, 0), "short_description");
    assert_string_equal(desc, "first");
    free(desc);
    assert_int_equal(status_of(serviced(resp, 1)), 200);
    char *mod = result_field(serviced(resp, 1), "sys_mod_count");
    assert_string_equal(mod, "1");
    free(mod);
    sg_json *d = serviced(resp, 2);
    assert_int_equal(status_of(d), 204);
    assert_string_equal(sg_json_get_str(d, "status_text"), "No Content");
    assert_string_equal(sg_json_get_str(d, "body"), "");
    expect_item_error(serviced(resp, 3), 404, "No Record found",
                      "Record doesn't exist or ACL restricts the record retrieval");
    expect_item_error(serviced(resp, 4), 400, "Invalid table no_such_table", NULL);
    sg_json_decref(resp);

    /* The records really changed: read back with plain Table API calls. */
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, pa, admin, NULL, &j, NULL), 200);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "result"), "short_description"),
                        "patched in a batch");
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, pb, admin, NULL, &j, NULL), 404);
    sg_json_decref(j);
    free(a);
    free(bb);
}

static void test_batch_order(void **state)
{
    (void)state;
    /* A record's whole life in one batch, with a sys_id the client chose: each step sees the
     * one before, and the answers come in the order asked. */
    const char *id = "b47c11e0b47c11e0b47c11e0b47c11e0";
    char path[128], body[128];
    snprintf(path, sizeof(path), "/api/now/table/incident/%s", id);
    snprintf(body, sizeof(body), "{\"sys_id\":\"%s\",\"short_description\":\"v1\"}", id);
    sg_json *b = batch_of("order");
    sg_json_set_bool(b, "enforce_order", true);
    add(b, item("1", "POST", "/api/now/table/incident", body));
    add(b, item("2", "PATCH", path, "{\"short_description\":\"v2\"}"));
    add(b, item("3", "GET", path, NULL));
    add(b, item("4", "PUT", path, "{\"short_description\":\"v3\"}"));
    add(b, item("5", "DELETE", path, NULL));
    add(b, item("6", "GET", path, NULL));
    sg_json *resp = NULL;
    assert_int_equal(send_batch("/api/now/v1/batch", sim.admin_auth, b, &resp, NULL), 200);
    const int64_t want[] = {201, 200, 200, 200, 204, 404};
    assert_int_equal(sg_json_array_size(sg_json_get(resp, "serviced_requests")), 6);
    for (size_t i = 0; i < 6; i++) {
        char n[4];
        snprintf(n, sizeof(n), "%zu", i + 1);
        assert_string_equal(sg_json_get_str(serviced(resp, i), "id"), n);
        assert_int_equal(status_of(serviced(resp, i)), want[i]);
    }
    char *v = result_field(serviced(resp, 2), "short_description");
    assert_string_equal(v, "v2");
    free(v);
    v = result_field(serviced(resp, 3), "sys_mod_count");
    assert_string_equal(v, "2");
    free(v);
    sg_json_decref(resp);
    assert_int_equal(count_of("incident", "sys_id=b47c11e0b47c11e0b47c11e0b47c11e0"), 0);
}

static void test_batch_acl(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sys_user", admin,
                            "{\"user_name\":\"lowly\",\"user_password\":\"Lowly-pw1\"}", &j, NULL),
                     201);
    char *lowly_id = sg_xstrdup(sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sc_request", admin,
                            "{\"short_description\":\"admin's\"}", &j, NULL),
                     201);
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s",
             sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    char *lowly = h_basic("lowly", "Lowly-pw1");

    /* The sub-requests act as the caller, whatever credentials an item carries. */
    sg_json *b = batch_of("acl");
    sg_json *post =
        item("insert", "POST", "/api/now/table/sc_request", "{\"short_description\":\"x\"}");
    sg_json *h = sg_json_object();
    sg_json_set_str(h, "name", "Authorization");
    sg_json_set_str(h, "value", sim.admin_auth + strlen("Authorization: "));
    sg_json_append(sg_json_get(post, "headers"), h);
    add(b, post);
    add(b, item("read", "GET", path, NULL));
    add(b, item("catalog", "GET", "/api/now/table/sc_catalog", NULL));
    add(b, item("delete", "DELETE", path, NULL));
    sg_json *resp = NULL;
    assert_int_equal(send_batch("/api/now/v1/batch", lowly, b, &resp, NULL), 200);
    expect_item_error(serviced(resp, 0), 403, "Operation Failed",
                      "ACL Exception Insert Failed due to security constraints");
    expect_item_error(serviced(resp, 1), 404, "No Record found", NULL);
    assert_int_equal(status_of(serviced(resp, 2)), 200);
    expect_item_error(serviced(resp, 3), 404, "No Record found", NULL);
    sg_json_decref(resp);
    assert_int_equal(count_of("sc_request", "short_description=x"), 0);
    assert_int_equal(h_call("GET", sim.p.url, path, admin, NULL, &j, NULL), 200);
    sg_json_decref(j);

    /* Each sub-request loads its user afresh: a role granted earlier in the batch counts. (An
     * ACL lets anyone signed in assign roles, for this test only.) */
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sys_security_acl", admin,
                            "{\"name\":\"sys_user_has_role\",\"operation\":\"create\","
                            "\"type\":\"record\"}",
                            &j, NULL),
                     201);
    sg_json_decref(j);
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/sys_user_role?name=itil", admin, NULL, &j, NULL),
        200);
    char grant[160];
    snprintf(grant, sizeof(grant), "{\"user\":\"%s\",\"role\":\"%s\"}", lowly_id,
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    b = batch_of("grant");
    add(b, item("before", "POST", "/api/now/table/sc_request",
                "{\"short_description\":\"before the grant\"}"));
    add(b, item("grant", "POST", "/api/now/table/sys_user_has_role", grant));
    add(b, item("after", "POST", "/api/now/table/sc_request",
                "{\"short_description\":\"after the grant\"}"));
    assert_int_equal(send_batch("/api/now/v1/batch", lowly, b, &resp, NULL), 200);
    assert_int_equal(status_of(serviced(resp, 0)), 403);
    assert_int_equal(status_of(serviced(resp, 1)), 201);
    assert_int_equal(status_of(serviced(resp, 2)), 201);
    char *by = result_field(serviced(resp, 2), "sys_created_by");
    assert_string_equal(by, "lowly");
    free(by);
    sg_json_decref(resp);
    assert_int_equal(count_of("sc_request", "short_description=after the grant"), 1);

    /* The batch itself needs credentials, like every API. */
    b = batch_of("anon");
    add(b, item("1", "GET", "/api/now/table/sc_catalog", NULL));
    assert_int_equal(send_batch("/api/now/v1/batch", NULL, b, &resp, NULL), 401);
    expect_envelope(resp, "User Not Authenticated", "Required to provide Auth information");
    sg_json_decref(resp);
    free(lowly);
    free(lowly_id);
}

static void test_batch_bad_input(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    static const struct {
        const char *body, *detail;
    } bad[] = {
        {"{not json", "The payload is not valid JSON."},
        {"[]", "The payload must be a JSON object."},
        {"{\"batch_request_id\":\"1\"}", NULL},
        {"{\"rest_requests\":{}}", NULL},
        {"{\"rest_requests\":[{\"method\":\"GET\",\"url\":\"/api/now/table/incident\"}]}",
         "rest_requests[0].id is required (a string)"},
        {"{\"rest_requests\":[{\"id\":\"1\",\"url\":\"/api/now/table/incident\"}]}",
         "rest_requests[0].method is required (such as GET or POST)"},
        {"{\"rest_requests\":[{\"id\":\"1\",\"method\":\"GET\"}]}",
         "rest_requests[0].url is required (a relative path)"},
        {"{\"rest_requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/api/now/table/x\","
         "\"headers\":[{\"name\":\"X-A\",\"value\":\"a\\r\\nX-B: b\"}]}]}",
         "rest_requests[0].headers[0] needs a name and a value, without line breaks"},
        {"{\"rest_requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/api/now/table/x\","
         "\"exclude_response_headers\":\"yes\"}]}",
         "rest_requests[0].exclude_response_headers must be true or false"},
        {"{\"batch_request_id\":{},\"rest_requests\":[]}", "batch_request_id must be a string"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            h_call("POST", sim.p.url, "/api/now/v1/batch", admin, bad[i].body, &j, NULL), 400);
        expect_envelope(j, "Exception while reading request", bad[i].detail);
        sg_json_decref(j);
    }

    /* A body that is not base64 refuses the whole batch: the create before it does not run. */
    sg_json *b = batch_of("b64");
    add(b, item("ok", "POST", "/api/now/table/incident", "{\"short_description\":\"never\"}"));
    sg_json *broken = item("broken", "POST", "/api/now/table/incident", NULL);
    sg_json_set_str(broken, "body", "eyJhIjoxfQ==!!");
    add(b, broken);
    assert_int_equal(send_batch("/api/now/v1/batch", sim.admin_auth, b, &j, NULL), 400);
    expect_envelope(j, "Exception while reading request",
                    "rest_requests[1].body is not valid base64");
    sg_json_decref(j);
    assert_int_equal(count_of("incident", "short_description=never"), 0);

    /* Too many requests in one batch (a snowsim cap: ServiceNow documents none). */
    b = batch_of("big");
    for (int i = 0; i < 1001; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", i);
        sg_json *it = sg_json_object();
        sg_json_set_str(it, "id", id);
        sg_json_set_str(it, "method", "GET");
        sg_json_set_str(it, "url", "/api/now/table/incident?sysparm_limit=1");
        add(b, it);
    }
    assert_int_equal(send_batch("/api/now/v1/batch", sim.admin_auth, b, &j, NULL), 400);
    expect_envelope(
        j, "Exception while reading request",
        "A batch holds at most 1000 rest_requests (a snowsim limit); this one has 1001");
    sg_json_decref(j);

    /* An unknown version is no resource. */
    b = batch_of("v9");
    assert_int_equal(send_batch("/api/now/v9/batch", sim.admin_auth, b, &j, NULL), 400);
    expect_envelope(j, "Requested URI does not represent any resource", NULL);
    sg_json_decref(j);

    /* Items that are not requests to the instance's REST APIs answer 400 in their place; the
     * rest of the batch runs. Batches do not nest. An empty list is a batch too. */
    b = batch_of("odd");
    add(b, item("page", "GET", "/login.do", NULL));
    add(b, item("absolute", "GET", "https://elsewhere.example/api/now/table/incident", NULL));
    add(b, item("noapi", "GET", "/api/now/no_such_api", NULL));
    sg_json *nested = item("nested", "POST", "/api/now/v1/batch", "{\"rest_requests\":[]}");
    add(b, nested);
    add(b, item("fine", "GET", "/api/now/table/sc_catalog", NULL));
    assert_int_equal(send_batch("/api/now/v1/batch", sim.admin_auth, b, &j, NULL), 200);
    expect_item_error(serviced(j, 0), 400, "Requested URI does not represent any resource", NULL);
    expect_item_error(serviced(j, 1), 400, "Requested URI does not represent any resource", NULL);
    expect_item_error(serviced(j, 2), 400, "Requested URI does not represent any resource", NULL);
    expect_item_error(serviced(j, 3), 400, "Batch requests cannot be nested", NULL);
    assert_int_equal(status_of(serviced(j, 4)), 200);
    sg_json_decref(j);
    b = sg_json_object();
    sg_json_set(b, "rest_requests", sg_json_array());
    assert_int_equal(send_batch("/api/now/v1/batch", sim.admin_auth, b, &j, NULL), 200);
    assert_int_equal(sg_json_typeof(sg_json_get(j, "batch_request_id")), SG_JSON_NULL);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "serviced_requests")), 0);
    sg_json_decref(j);
}

static void test_batch_limits(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/incident", admin,
                                "{\"short_description\":\"padding for a large list\"}", &j, NULL),
                         201);
        sg_json_decref(j);
    }
    /* X-BATCHREQUEST-MAX-OUTPUT-SIZE lowers the item output limit: the item over it answers an
     * error in its place, and the rest is returned unprocessed. */
    sg_json *b = batch_of("out");
    add(b, item("small", "GET", "/api/now/table/incident?sysparm_limit=1&sysparm_fields=sys_id",
                NULL));
    add(b, item("large", "GET", "/api/now/table/incident", NULL));
    add(b, item("after", "GET", "/api/now/table/incident?sysparm_limit=1", NULL));
    char *text = sg_json_dump(b);
    sg_json_decref(b);
    const char *hdrs[] = {sim.admin_auth, "X-BATCHREQUEST-MAX-OUTPUT-SIZE: 200", NULL};
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/v1/batch", hdrs, text, &j, NULL), 200);
    free(text);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "serviced_requests")), 2);
    assert_int_equal(status_of(serviced(j, 0)), 200);
    sg_json *large = serviced(j, 1);
    expect_item_error(large, 500, "Response size limit exceeded", NULL);
    assert_non_null(sg_json_get_str(large, "error_message"));
    sg_json *left = sg_json_get(j, "unserviced_requests");
    assert_int_equal(sg_json_array_size(left), 1);
    assert_string_equal(sg_json_str(sg_json_array_get(left, 0)), "after");
    sg_json_decref(j);

    /* glide.rest.batch.max.inputSize: an item whose body is over it, and all after it, are
     * returned unprocessed; what came before ran. */
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sys_properties", admin,
                            "{\"name\":\"glide.rest.batch.max.inputSize\",\"value\":\"40\"}", &j,
                            NULL),
                     201);
    char prop[128];
    snprintf(prop, sizeof(prop), "/api/now/table/sys_properties/%s",
             sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    b = batch_of("in");
    add(b, item("fits", "POST", "/api/now/table/incident", "{\"short_description\":\"fits\"}"));
    add(b, item("over", "POST", "/api/now/table/incident",
                "{\"short_description\":\"this body is over forty bytes\"}"));
    add(b, item("later", "GET", "/api/now/table/incident?sysparm_limit=1", NULL));
    assert_int_equal(send_batch("/api/now/v1/batch", sim.admin_auth, b, &j, NULL), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "serviced_requests")), 1);
    assert_int_equal(status_of(serviced(j, 0)), 201);
    left = sg_json_get(j, "unserviced_requests");
    assert_int_equal(sg_json_array_size(left), 2);
    assert_string_equal(sg_json_str(sg_json_array_get(left, 0)), "over");
    assert_string_equal(sg_json_str(sg_json_array_get(left, 1)), "later");
    sg_json_decref(j);
    assert_int_equal(count_of("incident", "short_description=fits"), 1);
    assert_int_equal(count_of("incident", "short_descriptionSTARTSWITHthis body"), 0);
    assert_int_equal(h_call("DELETE", sim.p.url, prop, admin, NULL, NULL, NULL), 204);
}

static void test_batch_rate_limits_and_faults(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    /* Each sub-request counts against the rule for its own API, as a direct call does. */
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sys_rate_limit_rules", admin,
                            "{\"name\":\"incident\",\"rate_limit\":2,\"type\":\"all_users\","
                            "\"rest_service\":\"/api/now/table/incident\"}",
                            &j, NULL),
                     201);
    char *rule = sg_xstrdup(sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    sg_json *b = batch_of("rl");
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "r%d", i);
        add(b, item(id, "GET", "/api/now/table/incident?sysparm_limit=1", NULL));
    }
    add(b, item("other", "GET", "/api/now/table/sc_catalog", NULL));
    sg_http_response r;
    assert_int_equal(send_batch("/api/now/v1/batch", sim.admin_auth, b, &j, &r), 200);
    assert_null(sg_http_response_header(&r, "X-RateLimit-Rule")); /* the batch is no incident */
    sg_http_response_free(&r);
    assert_int_equal(status_of(serviced(j, 0)), 200);
    assert_string_equal(header_of(serviced(j, 0), "X-RateLimit-Limit"), "2");
    assert_string_equal(header_of(serviced(j, 0), "X-RateLimit-Rule"), rule);
    assert_int_equal(status_of(serviced(j, 1)), 200);
    expect_item_error(serviced(j, 2), 429, "Rate limit exceeded",
                      "Rate limit of 2 requests per hour for Table API exceeded");
    assert_non_null(header_of(serviced(j, 2), "Retry-After"));
    assert_int_equal(status_of(serviced(j, 3)), 200);
    sg_json_decref(j);
    /* The count is the user's, batch or not. */
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/incident?sysparm_limit=1", admin, NULL, &j, NULL),
        429);
    sg_json_decref(j);
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sys_rate_limit_rules/%s", rule);
    assert_int_equal(h_call("DELETE", sim.p.url, path, admin, NULL, NULL, NULL), 204);
    free(rule);

    /* Faults apply to sub-requests as to direct calls: a status in its place; a dropped one
     * drops the batch's connection, after what ran before it. */
    assert_int_equal(h_call("PUT", sim.p.url, "/api/x_snowsim/faults", admin,
                            "{\"rules\":[{\"path\":\"/api/now/table/sc_task\",\"kind\":\"status\","
                            "\"status\":503,\"count\":1},{\"path\":\"/api/now/table/sys_user_group"
                            "\",\"kind\":\"drop\",\"count\":1}]}",
                            &j, NULL),
                     200);
    sg_json_decref(j);
    b = batch_of("faults");
    add(b, item("t1", "GET", "/api/now/table/sc_task", NULL));
    add(b, item("t2", "GET", "/api/now/table/sc_task", NULL));
    assert_int_equal(send_batch("/api/now/v1/batch", sim.admin_auth, b, &j, NULL), 200);
    expect_item_error(serviced(j, 0), 503, "Injected fault", NULL);
    assert_int_equal(status_of(serviced(j, 1)), 200);
    sg_json_decref(j);
    b = batch_of("drop");
    add(b,
        item("made", "POST", "/api/now/table/incident", "{\"short_description\":\"before drop\"}"));
    add(b, item("dropped", "GET", "/api/now/table/sys_user_group", NULL));
    char *text = sg_json_dump(b);
    sg_json_decref(b);
    char *url = sg_xasprintf("%s/api/now/v1/batch", sim.p.url);
    const char *hdrs[] = {sim.admin_auth, "Content-Type: application/json", NULL};
    assert_int_equal(h_http("POST", url, hdrs, text, &r), SG_ENET);
    free(url);
    free(text);
    assert_int_equal(count_of("incident", "short_description=before drop"), 1);
    assert_int_equal(
        h_call("PUT", sim.p.url, "/api/x_snowsim/faults", admin, "{\"rules\":[]}", &j, NULL), 200);
    sg_json_decref(j);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_crud, start, stop),
        cmocka_unit_test_setup_teardown(test_batch_order, start, stop),
        cmocka_unit_test_setup_teardown(test_batch_acl, start, stop),
        cmocka_unit_test_setup_teardown(test_batch_bad_input, start, stop),
        cmocka_unit_test_setup_teardown(test_batch_limits, start, stop),
        cmocka_unit_test_setup_teardown(test_batch_rate_limits_and_faults, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
