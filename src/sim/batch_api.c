/* batch_api: ServiceNow's Batch API, POST /api/now[/v1|/v2]/batch: several REST requests in
 * one call, each run through snowsim's own routes as the caller (docs/snowsim.md, Batch API). */
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ServiceNow documents no cap on the number of requests in a batch; this one is snowsim's. */
#define BATCH_MAX_REQUESTS 1000
/* "Each item in the request: 5 MB ... glide.rest.batch.max.inputSize ... Maximum value: 10 MB";
 * "Each item in the response: 10 MB ... glide.rest.batch.max.outputSize". */
#define BATCH_INPUT_DEFAULT  ((size_t)5 * 1024 * 1024)
#define BATCH_INPUT_MAX      ((size_t)10 * 1024 * 1024)
#define BATCH_OUTPUT_DEFAULT ((size_t)10 * 1024 * 1024)
/* "If a request runs longer than 30 seconds, the REST Batch API request timeout transaction
 * quota rule ends the transaction." */
#define BATCH_TIME_LIMIT_MS 30000
/* snowsim's own: the base64 bodies one answer may hold; past it the rest is unserviced. */
#define BATCH_MAX_ANSWER ((size_t)64 * 1024 * 1024)
#define BATCH_METHOD_MAX 16

static const char *const READING = "Exception while reading request";

typedef struct batch_item {
    const char *id; /* borrowed from the request document, or id_num */
    char id_num[24];
    const char *method;
    const char *url;
    sg_http_field *headers;
    size_t nheaders;
    sg_buf body; /* decoded */
    bool exclude_headers;
} batch_item;

typedef struct batch {
    sg_json *doc;
    const char *id; /* NULL when the request gave none */
    char id_num[24];
    batch_item *items;
    size_t n;
} batch;

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].headers);
        sg_buf_free(&b->items[i].body);
    }
    free(b->items);
    sg_json_decref(b->doc);
}

/* A string, or an integer written as one (PySNC sends batch_request_id as a number and expects
 * the string back). NULL for anything else. */
static const char *id_text(const sg_json *v, char num[24])
{
    int64_t i = 0;
    if (sg_json_str(v))
        return sg_json_str(v);
    if (sg_json_int(v, &i)) {
        snprintf(num, 24, "%lld", (long long)i);
        return num;
    }
    return NULL;
}

static bool method_ok(const char *m)
{
    size_t n = m ? strlen(m) : 0;
    if (n == 0 || n > BATCH_METHOD_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z')))
            return false;
    return true;
}

static bool header_ok(const char *name, const char *value)
{
    return name && *name && value && !strpbrk(name, "\r\n: \t") && !strpbrk(value, "\r\n");
}

/* Credentials belong to the batch: its sub-requests run as its caller. */
static bool header_dropped(const char *name)
{
    return strcasecmp(name, "Authorization") == 0 || strcasecmp(name, "Cookie") == 0;
}

/* Decodes a base64 body; line breaks and blanks inside it are skipped (the documented example
 * wraps its bodies). */
static int decode_body(const char *b64, sg_buf *out)
{
    sg_buf clean = SG_BUF_INIT(0);
    int rc = SG_OK;
    for (const char *p = b64; *p && rc == SG_OK; p++)
        if (!strchr(" \t\r\n", *p))
            rc = sg_buf_putc(&clean, *p);
    if (rc == SG_OK && clean.len)
        rc = sg_base64_decode(clean.data, clean.len, false, out);
    sg_buf_free(&clean);
    return rc;
}

/* Parses one rest_requests entry. On a problem, writes the 400 detail into err. */
static bool parse_item(const sg_json *r, size_t i, batch_item *it, char *err, size_t errn)
{
    it->body = (sg_buf)SG_BUF_INIT(0); /* within the request body's cap; max_in applies later */
    if (!r || sg_json_typeof(r) != SG_JSON_OBJECT) {
        snprintf(err, errn, "rest_requests[%zu] must be an object", i);
        return false;
    }
    it->id = id_text(sg_json_get(r, "id"), it->id_num);
    it->method = sg_json_get_str(r, "method");
    it->url = sg_json_get_str(r, "url");
    if (!it->id) {
        snprintf(err, errn, "rest_requests[%zu].id is required (a string)", i);
        return false;
    }
    if (!method_ok(it->method)) {
        snprintf(err, errn, "rest_requests[%zu].method is required (such as GET or POST)", i);
        return false;
    }
    if (!it->url || !*it->url) {
        snprintf(err, errn, "rest_requests[%zu].url is required (a relative path)", i);
        return false;
    }
    sg_json *ex = sg_json_get(r, "exclude_response_headers");
    if (ex && sg_json_typeof(ex) != SG_JSON_NULL &&
        !sg_json_get_bool(r, "exclude_response_headers", &it->exclude_headers)) {
        snprintf(err, errn, "rest_requests[%zu].exclude_response_headers must be true or false", i);
        return false;
    }
    sg_json *hl = sg_json_get(r, "headers");
    if (hl && sg_json_typeof(hl) != SG_JSON_NULL) {
        if (sg_json_typeof(hl) != SG_JSON_ARRAY) {
            snprintf(err, errn, "rest_requests[%zu].headers must be a list of {name, value}", i);
            return false;
        }
        size_t n = sg_json_array_size(hl);
        it->headers = sg_xcalloc(n ? n : 1, sizeof(sg_http_field));
        for (size_t k = 0; k < n; k++) {
            sg_json *h = sg_json_array_get(hl, k);
            const char *name = sg_json_get_str(h, "name"), *value = sg_json_get_str(h, "value");
            if (!header_ok(name, value)) {
                snprintf(err, errn,
                         "rest_requests[%zu].headers[%zu] needs a name and a value, without "
                         "line breaks",
                         i, k);
                return false;
            }
            if (header_dropped(name))
                continue;
            it->headers[it->nheaders].name = name;
            it->headers[it->nheaders++].value = value;
        }
    }
    sg_json *body = sg_json_get(r, "body");
    if (body && sg_json_typeof(body) != SG_JSON_NULL) {
        if (!sg_json_str(body) || decode_body(sg_json_str(body), &it->body) != SG_OK) {
            snprintf(err, errn, "rest_requests[%zu].body is not valid base64", i);
            return false;
        }
    }
    return true;
}

/* Parses and checks the whole batch before anything runs, so a bad one changes nothing.
 * Answers the 400 itself and returns false on a problem. */
static bool parse_batch(sg_http_req *req, batch *b)
{
    char err[256] = "";
    size_t len = 0;
    const char *text = sg_http_body(req, &len);
    if (len == 0) {
        sim_reply_error(req, 400, READING, "No request body found");
        return false;
    }
    if (sg_json_parse(text, len, 0, 0, &b->doc) != SG_OK) {
        sim_reply_error(req, 400, READING, "The payload is not valid JSON.");
        return false;
    }
    if (sg_json_typeof(b->doc) != SG_JSON_OBJECT) {
        sim_reply_error(req, 400, READING, "The payload must be a JSON object.");
        return false;
    }
    sg_json *bid = sg_json_get(b->doc, "batch_request_id");
    b->id = id_text(bid, b->id_num);
    if (bid && sg_json_typeof(bid) != SG_JSON_NULL && !b->id) {
        sim_reply_error(req, 400, READING, "batch_request_id must be a string");
        return false;
    }
    sg_json *list = sg_json_get(b->doc, "rest_requests");
    if (!list || sg_json_typeof(list) != SG_JSON_ARRAY) {
        sim_reply_error(req, 400, READING,
                        "rest_requests is required: a list of requests, each with id, method "
                        "and url");
        return false;
    }
    size_t n = sg_json_array_size(list);
    if (n > BATCH_MAX_REQUESTS) {
        snprintf(err, sizeof(err),
                 "A batch holds at most %d rest_requests (a snowsim limit); this one has %zu",
                 BATCH_MAX_REQUESTS, n);
        sim_reply_error(req, 400, READING, err);
        return false;
    }
    b->items = sg_xcalloc(n ? n : 1, sizeof(batch_item));
    for (size_t i = 0; i < n; i++) {
        b->n = i + 1;
        if (!parse_item(sg_json_array_get(list, i), i, &b->items[i], err, sizeof(err))) {
            sim_reply_error(req, 400, READING, err);
            return false;
        }
    }
    return true;
}

/* A size system property (bytes; "10M" works too), or def when unset or unreadable. */
static size_t size_property(sg_sim *sim, const char *name, size_t def, size_t max)
{
    size_t v = def;
    sim_db_rdlock(sim->db);
    char *s = sim_property_value(sim->db, name);
    sim_db_unlock(sim->db);
    if (s && *s && sg_parse_size(s, 1, max, name, &v) != SG_OK) {
        sg_log_warn("a Batch API limit property is not a size; using the default", "property",
                    name);
        v = def;
    }
    sim_property_free(s);
    return v;
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static sg_json *base64_json(const char *data, size_t len)
{
    sg_buf b = SG_BUF_INIT(0);
    sg_base64_encode(data, len, false, &b);
    sg_json *j = sg_json_stringn(sg_buf_str(&b), b.len);
    sg_buf_free(&b);
    return j;
}

/* A sub-request answered without running it, in ServiceNow's error envelope. */
static void item_error(sg_http_inner_reply *rep, const char *message, const char *detail)
{
    static const char ctype[] = "application/json;charset=UTF-8";
    rep->status = 400;
    rep->body = sim_error_body(message, detail);
    rep->body_len = strlen(rep->body);
    rep->headers = sg_xcalloc(1, sizeof(sg_http_field));
    rep->headers[0].name = sg_xstrdup("Content-Type");
    rep->headers[0].value = sg_xstrdup(ctype);
    rep->nheaders = 1;
}

static sg_json *serviced(const batch_item *it, const sg_http_inner_reply *rep, int64_t ms)
{
    sg_json *e = sg_json_object();
    sg_json_set_str(e, "id", it->id);
    sg_json_set(e, "body", base64_json(rep->body, rep->body_len));
    sg_json_set_int(e, "status_code", rep->status);
    sg_json_set_str(e, "status_text", sg_http_reason(rep->status));
    sg_json *headers = sg_json_array();
    if (!it->exclude_headers) {
        for (size_t i = 0; i < rep->nheaders; i++) {
            sg_json *h = sg_json_object();
            sg_json_set_str(h, "name", rep->headers[i].name);
            sg_json_set_str(h, "value", rep->headers[i].value);
            sg_json_append(headers, h);
        }
        char n[24];
        snprintf(n, sizeof(n), "%zu", rep->body_len);
        sg_json *h = sg_json_object();
        sg_json_set_str(h, "name", "Content-Length");
        sg_json_set_str(h, "value", n);
        sg_json_append(headers, h);
    }
    sg_json_set(e, "headers", headers);
    sg_json_set_int(e, "execution_time", ms);
    return e;
}

/* An item that ran but whose answer is over the output limit: an error in its place. */
static sg_json *too_large(const batch_item *it, size_t len, size_t limit, int64_t ms)
{
    char detail[256], msg[200];
    snprintf(detail, sizeof(detail),
             "The response of this batch item is %zu bytes; the limit is %zu "
             "(glide.rest.batch.max.outputSize, X-BATCHREQUEST-MAX-OUTPUT-SIZE)",
             len, limit);
    snprintf(msg, sizeof(msg), "Batch item response exceeded the size limit of %zu bytes", limit);
    char *body = sim_error_body("Response size limit exceeded", detail);
    sg_json *e = sg_json_object();
    sg_json_set_str(e, "id", it->id);
    sg_json_set(e, "body", base64_json(body, strlen(body)));
    sg_json_set_int(e, "status_code", 500);
    sg_json_set_str(e, "status_text", sg_http_reason(500));
    sg_json_set(e, "headers", sg_json_array());
    sg_json_set_str(e, "error_message", msg);
    sg_json_set_int(e, "execution_time", ms);
    free(body);
    return e;
}

int api_batch(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    /* Batches do not nest: a sub-request may not call the Batch API. */
    if (sg_http_inner_ctx(req)) {
        sim_reply_error(req, 400, "Batch requests cannot be nested",
                        "A batch sub-request may not call the Batch API");
        return SG_OK;
    }
    sim_user u;
    if (!sim_api_enter(sim, req, &u))
        return SG_OK;
    const char *ver = sg_http_param(req, "version");
    if (ver && strcmp(ver, "v1") != 0 && strcmp(ver, "v2") != 0) {
        sim_reply_error(req, 400, "Requested URI does not represent any resource", NULL);
        return SG_OK;
    }
    int64_t t0 = mono_ms();
    batch b;
    memset(&b, 0, sizeof(b));
    if (!parse_batch(req, &b)) {
        batch_free(&b);
        return SG_OK;
    }
    size_t max_in =
        size_property(sim, "glide.rest.batch.max.inputSize", BATCH_INPUT_DEFAULT, BATCH_INPUT_MAX);
    size_t max_out =
        size_property(sim, "glide.rest.batch.max.outputSize", BATCH_OUTPUT_DEFAULT, SIZE_MAX);
    /* The header may lower the property's limit, never raise it. */
    size_t asked = 0;
    const char *h = sg_http_header(req, "X-BATCHREQUEST-MAX-OUTPUT-SIZE");
    if (h && sg_parse_size(h, 1, max_out, "X-BATCHREQUEST-MAX-OUTPUT-SIZE", &asked) == SG_OK)
        max_out = asked;

    sim_batch_caller caller;
    memset(&caller, 0, sizeof(caller));
    sg_strlcpy(caller.user_id, u.sys_id, sizeof(caller.user_id));
    sg_json *done = sg_json_array(), *left = sg_json_array();
    size_t answered = 0;
    bool stop = false;
    /* In the order given, one after another ("The Batch API is not intended for parallel
     * transaction processing"), so enforce_order, which some clients send, always holds. */
    for (size_t i = 0; i < b.n; i++) {
        batch_item *it = &b.items[i];
        /* A size or processing limit reached: the rest is returned unprocessed. */
        if (stop || it->body.len > max_in || mono_ms() - t0 >= BATCH_TIME_LIMIT_MS ||
            answered >= BATCH_MAX_ANSWER) {
            stop = true;
            sg_json_append(left, sg_json_string(it->id));
            continue;
        }
        int64_t start = mono_ms();
        sg_http_inner_reply rep;
        memset(&rep, 0, sizeof(rep));
        if (sg_str_startswith(it->url, "/api/")) {
            sg_http_inner_req in = {it->method,    it->url,      it->headers, it->nheaders,
                                    it->body.data, it->body.len, &caller};
            if (sg_http_run_inner(req, &in, &rep) != SG_OK) {
                sg_http_inner_reply_free(&rep);
                item_error(&rep, READING, sg_err_msg());
            }
        } else {
            /* Only the instance's REST APIs (relative paths under /api/) may be batched. */
            item_error(&rep, "Requested URI does not represent any resource", NULL);
        }
        int64_t ms = mono_ms() - start;
        if (rep.status == 0) {
            /* A fault dropped the sub-request: the batch's connection goes, as a direct
             * call's would. What ran before it stays done. */
            sg_http_inner_reply_free(&rep);
            sg_json_decref(done);
            sg_json_decref(left);
            batch_free(&b);
            sg_http_drop(req);
            return SG_OK;
        }
        char status[16], took[24];
        snprintf(status, sizeof(status), "%d", rep.status);
        snprintf(took, sizeof(took), "%lld", (long long)ms);
        const char *q = strchr(it->url, '?');
        char *path = sg_xstrndup(it->url, q ? (size_t)(q - it->url) : strlen(it->url));
        sg_log_info("batch item", "batch", b.id ? b.id : "", "item", it->id, "method", it->method,
                    "path", path, "status", status, "ms", took);
        free(path);
        if (rep.body_len > max_out) {
            sg_json_append(done, too_large(it, rep.body_len, max_out, ms));
            stop = true;
        } else {
            sg_json_append(done, serviced(it, &rep, ms));
            answered += (rep.body_len + 2) / 3 * 4;
        }
        sg_http_inner_reply_free(&rep);
    }
    sg_json *root = sg_json_object();
    sg_json_set(root, "batch_request_id", b.id ? sg_json_string(b.id) : sg_json_null());
    sg_json_set(root, "serviced_requests", done);
    sg_json_set(root, "unserviced_requests", left);
    batch_free(&b);
    char *text = sg_json_dump(root);
    sg_json_decref(root);
    int rc = sg_http_reply(req, 200, "application/json;charset=UTF-8", text, strlen(text));
    free(text);
    return rc;
}
