/* assets: /api/v1/connections (admin) and /api/v1/assets (create: admin; list: any user). */
#include "gate/api/api.h"

#include "core/err.h"
#include "core/json.h"
#include "gate/governance/assets.h"

static sg_json *wrap(sg_json *list)
{
    sg_json *root = sg_json_object();
    sg_json_set(root, "items", list);
    return root;
}

static int create(sg_http_req *req, sg_app *app,
                  int (*fn)(sg_app *, const char *, const sg_json *, sg_json **))
{
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    sg_json *body = NULL, *out = NULL;
    rc = sg_http_body_json(req, &body);
    if (rc != SG_OK)
        return rc;
    if (sg_json_typeof(body) != SG_JSON_OBJECT)
        rc = sg_err_set(SG_EINVAL, "send a JSON object");
    else
        rc = fn(app, u.name, body, &out);
    sg_json_decref(body);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 201, out);
}

int api_connections_create(sg_http_req *req, void *app)
{
    return create(req, app, sg_connection_create);
}

int api_connections_list(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    sg_json *out = NULL;
    if (rc == SG_OK)
        rc = sg_connection_list(app, &out);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, wrap(out));
}

int api_assets_create(sg_http_req *req, void *app)
{
    return create(req, app, sg_asset_create);
}

int api_assets_list(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_authenticate(app, req, &u);
    sg_json *out = NULL;
    if (rc == SG_OK)
        rc = sg_asset_list(app, sg_http_query(req, "q"), &out);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, wrap(out));
}
