/* session: POST /api/v1/session signs in to the web UI (a session cookie plus a CSRF token),
 * GET tells who is signed in, DELETE signs out. */
#include "gate/api/api.h"

#include "core/err.h"
#include "core/json.h"
#include "core/str.h"
#include "gate/governance/sessions.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static sg_json *session_json(const sg_user *u, const char *csrf, int64_t expires_at)
{
    sg_json *j = sg_json_object();
    sg_json *user = sg_json_object();
    sg_json_set_str(user, "name", u->name);
    sg_json_set_str(user, "role", sg_role_name(u->role));
    sg_json_set(j, "user", user);
    if (csrf)
        sg_json_set_str(j, "csrf", csrf);
    if (expires_at) {
        char iso[32];
        sg_iso_from_unix(expires_at, iso);
        sg_json_set_str(j, "expires_at", iso);
    }
    return j;
}

static void set_cookie(sg_app *app, sg_http_req *req, const char *value, int64_t max_age)
{
    char c[256];
    bool https = app->cfg.public_url && strncmp(app->cfg.public_url, "https://", 8) == 0;
    snprintf(c, sizeof(c),
             SG_SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", value,
             (long long)max_age, https ? "; Secure" : "");
    sg_http_set_header(req, "Set-Cookie", c);
}

int api_session_create(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_json *in = NULL;
    int rc = sg_http_body_json(req, &in);
    if (rc != SG_OK)
        return rc;
    sg_session s;
    int64_t retry_after = 0, now = (int64_t)time(NULL);
    rc = sg_sessions_login(app->store, sg_json_get_str(in, "name"), sg_json_get_str(in, "password"),
                           sg_http_client_ip(req), now, &s, &retry_after);
    sg_json_decref(in);
    if (rc == SG_EUNAVAIL && retry_after > 0) {
        char ra[24];
        snprintf(ra, sizeof(ra), "%lld", (long long)retry_after);
        sg_http_set_header(req, "Retry-After", ra);
        return sg_http_reply_status(req, 429, "too_many_attempts", sg_err_msg());
    }
    if (rc != SG_OK)
        return rc;
    set_cookie(app, req, s.token, SG_SESSION_LIFETIME);
    sg_json *j = session_json(&s.user, s.csrf, s.expires_at);
    sg_wipe(&s, sizeof(s));
    return sg_http_reply_json(req, 200, j);
}

int api_session_get(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    char cookie[65];
    if (!sg_http_header(req, "Authorization") && api_session_cookie(req, cookie)) {
        sg_session s;
        int rc = sg_sessions_find(app->store, cookie, (int64_t)time(NULL), &s);
        if (rc != SG_OK)
            return rc;
        return sg_http_reply_json(req, 200, session_json(&s.user, s.csrf, s.expires_at));
    }
    sg_user u;
    int rc = api_authenticate(app, req, &u);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, session_json(&u, NULL, 0));
}

int api_session_delete(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_authenticate(app, req, &u); /* with the CSRF token: no forced sign-out */
    if (rc != SG_OK)
        return rc;
    char cookie[65];
    if (api_session_cookie(req, cookie) && (rc = sg_sessions_end(app->store, cookie)) != SG_OK)
        return rc;
    set_cookie(app, req, "", 0);
    return sg_http_reply(req, 204, NULL, NULL, 0);
}
