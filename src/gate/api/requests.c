/* requests: /api/v1/requests, their decisions, /api/v1/inbox and /api/v1/grants. */
#include "gate/api/api.h"

#include "core/log.h"
#include "core/err.h"
#include "core/json.h"
#include "core/str.h"
#include "gate/governance/fulfilment.h"
#include "gate/governance/requests.h"

static int reply_list(sg_http_req *req, int rc, sg_json *list, const sg_page *page)
{
    if (rc != SG_OK)
        return rc;
    sg_json *root = sg_json_object();
    sg_json_set(root, "items", list);
    sg_json_set(root, "next", page->next[0] ? sg_json_string(page->next) : sg_json_null());
    return sg_http_reply_json(req, 200, root);
}

int api_requests_create(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_authenticate(app, req, &u);
    if (rc != SG_OK)
        return rc;
    sg_json *body = NULL, *out = NULL;
    rc = sg_http_body_json(req, &body);
    if (rc != SG_OK)
        return rc;
    if (sg_json_typeof(body) != SG_JSON_OBJECT)
        rc = sg_err_set(SG_EINVAL, "send a JSON object with asset, action, privilege and "
                                   "justification");
    else
        rc = sg_request_create(app, &u, body, &out);
    sg_json_decref(body);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 201, out);
}

int api_requests_get(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    sg_json *out = NULL;
    int rc = api_authenticate(app, req, &u);
    sg_log_set_context(sg_http_param(req, "id"), NULL);
    if (rc == SG_OK)
        rc = sg_request_get(app, &u, sg_http_param(req, "id"), &out);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, out);
}

/* The three lists: authenticated, paged by ?limit= and ?after=. */
typedef enum list_of { OF_REQUESTS, OF_INBOX, OF_GRANTS } list_of;

static int list_reply(sg_http_req *req, sg_app *app, list_of of)
{
    sg_user u;
    sg_json *out = NULL;
    sg_page page;
    int rc = api_authenticate(app, req, &u);
    if (rc == SG_OK)
        rc = sg_page_parse(sg_http_query(req, "limit"), sg_http_query(req, "after"), &page);
    bool mine = false;
    const char *m = sg_http_query(req, "mine");
    if (rc == SG_OK && m && *m)
        rc = sg_parse_bool(m, "mine", &mine);
    if (rc == SG_OK)
        rc = of == OF_REQUESTS
                 ? sg_request_list(app, &u, sg_http_query(req, "state"), mine, &page, &out)
             : of == OF_INBOX ? sg_request_inbox(app, &u, &page, &out)
                              : sg_request_grants(app, &u, &page, &out);
    return reply_list(req, rc, out, &page);
}

int api_requests_list(sg_http_req *req, void *appv)
{
    return list_reply(req, appv, OF_REQUESTS);
}

int api_inbox_list(sg_http_req *req, void *appv)
{
    return list_reply(req, appv, OF_INBOX);
}

int api_grants_list(sg_http_req *req, void *appv)
{
    return list_reply(req, appv, OF_GRANTS);
}

int api_requests_summary(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    sg_json *out = NULL;
    int rc = api_authenticate(app, req, &u);
    if (rc == SG_OK)
        rc = sg_request_summary(app, &u, &out);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, out);
}

typedef enum verb { APPROVE, REJECT, CANCEL, DONE } verb;

/* The body is optional: {"comment": "..."}. */
static int decision(sg_http_req *req, sg_app *app, verb v)
{
    sg_user u;
    int rc = api_authenticate(app, req, &u);
    if (rc != SG_OK)
        return rc;
    size_t len = 0;
    sg_http_body(req, &len);
    sg_json *body = NULL, *out = NULL;
    if (len > 0) {
        rc = sg_http_body_json(req, &body);
        if (rc != SG_OK)
            return rc;
    }
    sg_json *comment = sg_json_get(body, "comment");
    sg_log_set_context(sg_http_param(req, "id"), NULL);
    if (body && sg_json_typeof(body) != SG_JSON_OBJECT)
        rc = sg_err_set(SG_EINVAL, "send a JSON object such as {\"comment\": \"...\"}");
    else if (comment && !sg_json_str(comment))
        rc = sg_err_set(SG_EINVAL, "\"comment\" must be a string");
    else if (v == DONE)
        rc = sg_fulfil_mark_done(app, &u, sg_http_param(req, "id"), sg_json_str(comment), &out);
    else if (v == CANCEL)
        rc = sg_request_cancel(app, &u, sg_http_param(req, "id"), sg_json_str(comment), &out);
    else
        rc = sg_request_decide(app, &u, sg_http_param(req, "id"), v == APPROVE,
                               sg_json_str(comment), &out);
    sg_json_decref(body);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, out);
}

int api_requests_approve(sg_http_req *req, void *app)
{
    return decision(req, app, APPROVE);
}

int api_requests_reject(sg_http_req *req, void *app)
{
    return decision(req, app, REJECT);
}

int api_requests_cancel(sg_http_req *req, void *app)
{
    return decision(req, app, CANCEL);
}

int api_requests_done(sg_http_req *req, void *app)
{
    return decision(req, app, DONE);
}
