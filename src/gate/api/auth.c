/* auth: who is calling (a Bearer API token, or the web UI's session cookie) and what they may
 * do. A cookie-authenticated change must carry the session's CSRF token in X-CSRF-Token. */
#include "gate/api/api.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/str.h"
#include "gate/governance/sessions.h"

#include <string.h>
#include <strings.h>
#include <time.h>

const char *api_cookie64(const sg_http_req *req, const char *name, char out[65])
{
    const char *h = sg_http_header(req, "Cookie");
    size_t nl = strlen(name);
    out[0] = '\0';
    for (const char *p = h; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t n = strcspn(p, ";");
        if (n == nl + 1 + 64 && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            memcpy(out, p + nl + 1, 64);
            out[64] = '\0';
            return out;
        }
        p += n;
    }
    return NULL;
}

const char *api_session_cookie(const sg_http_req *req, char out[65])
{
    return api_cookie64(req, SG_SESSION_COOKIE, out);
}

static bool safe_method(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

int api_authenticate(sg_app *app, sg_http_req *req, sg_user *out)
{
    const char *h = sg_http_header(req, "Authorization");
    char cookie[65];
    if (!h && api_session_cookie(req, cookie)) {
        sg_session s;
        int rc = sg_sessions_find(app->store, cookie, (int64_t)time(NULL), &s);
        if (rc != SG_OK)
            return rc;
        const char *csrf = sg_http_header(req, "X-CSRF-Token");
        if (!safe_method(sg_http_method(req)) &&
            (!csrf || strlen(csrf) != 64 || !sg_ct_equal(csrf, s.csrf, 64)))
            return sg_err_set(SG_EFORBIDDEN, "missing or wrong X-CSRF-Token; reload the page");
        *out = s.user;
        return SG_OK;
    }
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        sg_http_set_header(req, "WWW-Authenticate", "Bearer realm=\"snowgate\"");
        return sg_err_set(SG_EAUTH, "authentication required: sign in, or send Authorization: "
                                    "Bearer <token>");
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
