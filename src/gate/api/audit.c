/* audit: GET /api/v1/audit (admin), newest first, paged with ?before=SEQ&limit=N. */
#include "gate/api/api.h"

#include "core/err.h"
#include "core/str.h"
#include "gate/governance/audit.h"

int api_audit_list(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    int64_t before = 0, limit = 100;
    const char *b = sg_http_query(req, "before"), *l = sg_http_query(req, "limit");
    if (b && (rc = sg_parse_i64(b, 1, INT64_MAX, "before", &before)) != SG_OK)
        return rc;
    if (l && (rc = sg_parse_i64(l, 1, 500, "limit", &limit)) != SG_OK)
        return rc;
    sg_json *items = NULL;
    rc = sg_audit_list(app->store, before, limit, &items);
    if (rc != SG_OK)
        return rc;
    sg_json *root = sg_json_object();
    sg_json_set(root, "items", items);
    return sg_http_reply_json(req, 200, root);
}
