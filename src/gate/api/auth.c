/* auth: who is calling the API (Bearer API tokens) and what they may do. */
#include "gate/api/api.h"

#include "core/err.h"

#include <string.h>
#include <strings.h>

int api_authenticate(sg_app *app, sg_http_req *req, sg_user *out)
{
    const char *h = sg_http_header(req, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        sg_http_set_header(req, "WWW-Authenticate", "Bearer realm=\"snowgate\"");
        return sg_err_set(SG_EAUTH, "authentication required: send Authorization: Bearer <token>");
    }
    int rc = sg_users_by_token(app->store, h + 7, out);
    if (rc == SG_EAUTH)
        sg_http_set_header(req, "WWW-Authenticate",
                           "Bearer realm=\"snowgate\", error=\"invalid_token\"");
    return rc;
}

int api_require_admin(sg_app *app, sg_http_req *req, sg_user *out)
{
    int rc = api_authenticate(app, req, out);
    if (rc != SG_OK)
        return rc;
    if (out->role != SG_ROLE_ADMIN)
        return sg_err_set(SG_EFORBIDDEN, "this needs the admin role; '%s' is a %s", out->name,
                          sg_role_name(out->role));
    return SG_OK;
}
