/* users: POST /api/v1/users/{name}/disable and /enable (admin), and /token, which rotates a
 * user's API token (admin, or the user for their own). */
#include "gate/api/api.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"

#include <string.h>

int api_users_disable(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    const char *name = sg_http_param(req, "name");
    sg_user_disabled d;
    rc = sg_users_disable(app->store, name, u.name, &d);
    if (rc != SG_OK)
        return rc;
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "name", name);
    sg_json_set_bool(o, "disabled", true);
    sg_json_set_int(o, "requests_cancelled", d.cancelled);
    /* Grants in force stay until an admin revokes them: said in the answer, not guessed. */
    sg_json_set_int(o, "grants_kept", d.grants_kept);
    return sg_http_reply_json(req, 200, o);
}

int api_users_enable(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    const char *name = sg_http_param(req, "name");
    rc = sg_users_enable(app->store, name, u.name);
    if (rc != SG_OK)
        return rc;
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "name", name);
    sg_json_set_bool(o, "disabled", false);
    return sg_http_reply_json(req, 200, o);
}

int api_users_token(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_authenticate(app, req, &u);
    if (rc != SG_OK)
        return rc;
    const char *name = sg_http_param(req, "name");
    if (u.role != SG_ROLE_ADMIN && strcmp(u.name, name) != 0)
        return sg_err_set(SG_EFORBIDDEN,
                          "only an admin can rotate another user's token; '%s' is a %s", u.name,
                          sg_role_name(u.role));
    char token[65];
    int64_t revoked = 0;
    rc = sg_users_rotate_token(app->store, name, u.name, token, &revoked);
    if (rc != SG_OK)
        return rc;
    sg_http_set_header(req, "Cache-Control", "no-store");
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "name", name);
    sg_json_set_str(o, "token", token);
    sg_json_set_int(o, "revoked", revoked);
    sg_wipe(token, sizeof(token));
    return sg_http_reply_json(req, 200, o);
}
