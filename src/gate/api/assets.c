/* assets: /api/v1/connections (admin), its discovery (admin), and /api/v1/assets (create:
 * admin; list: any user). */
#include "gate/api/api.h"

#include "core/err.h"
#include "core/json.h"
#include "gate/governance/assets.h"
#include "gate/governance/discovery.h"

static sg_json *wrap(sg_json *list)
{
    sg_json *root = sg_json_object();
    sg_json_set(root, "items", list);
    return root;
}

/* An admin's change: the body is a JSON object, given to fn (with the {id} of the path when
 * with_ref) as the admin's; answered with status and what fn made. */
static int admin_change(sg_http_req *req, sg_app *app, bool with_ref, int status,
                        int (*fn)(sg_app *, const char *, const char *, const sg_json *,
                                  sg_json **))
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
        rc = fn(app, u.name, with_ref ? sg_http_param(req, "id") : NULL, body, &out);
    sg_json_decref(body);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, status, out);
}

static int connection_create(sg_app *app, const char *actor, const char *ref, const sg_json *in,
                             sg_json **out)
{
    (void)ref;
    return sg_connection_create(app, actor, in, out);
}

static int asset_create(sg_app *app, const char *actor, const char *ref, const sg_json *in,
                        sg_json **out)
{
    (void)ref;
    return sg_asset_create(app, actor, in, out);
}

int api_connections_create(sg_http_req *req, void *app)
{
    return admin_change(req, app, false, 201, connection_create);
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

int api_connections_get(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    sg_json *out = NULL;
    if (rc == SG_OK)
        rc = sg_connection_get(app, sg_http_param(req, "id"), &out);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, out);
}

/* Changes the connection's discovery settings (admin). */
int api_connections_update(sg_http_req *req, void *app)
{
    return admin_change(req, app, true, 200, sg_connection_update);
}

/* Starts a discovery run; the body (optional) overrides the connection's patterns and default
 * owner for this run. 202: follow it with GET on the connection. */
int api_connections_discover(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    size_t len = 0;
    sg_http_body(req, &len);
    sg_json *body = NULL, *out = NULL;
    if (len > 0) {
        rc = sg_http_body_json(req, &body);
        if (rc != SG_OK)
            return rc;
        if (sg_json_typeof(body) != SG_JSON_OBJECT)
            rc = sg_err_set(SG_EINVAL, "send a JSON object, or no body");
    }
    if (rc == SG_OK)
        rc = sg_discovery_start(app, u.name, sg_http_param(req, "id"), body, &out);
    sg_json_decref(body);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 202, out);
}

int api_assets_create(sg_http_req *req, void *app)
{
    return admin_change(req, app, false, 201, asset_create);
}

int api_assets_list(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_authenticate(app, req, &u);
    sg_json *out = NULL;
    if (rc == SG_OK)
        rc = sg_asset_list(app, sg_http_query(req, "q"), sg_http_query(req, "state"), &out);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, wrap(out));
}
