/* me: the calling user's own things: their ServiceNow account link. And /oauth-callback,
 * where the browser comes back from ServiceNow's consent page. */
#include "gate/api/api.h"

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"
#include "gate/servicenow/linking.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The cookie that binds a pending link to the browser that started it. SameSite=Lax, because
 * the browser comes back from ServiceNow by a cross-site top-level GET, which Strict would
 * strip; scoped to the callback's path, so no other request carries it. */
#define LINK_COOKIE "sg_link"

static void set_link_cookie(sg_app *app, sg_http_req *req, const char *value, int max_age)
{
    char c[256];
    bool https = app->cfg.public_url && strncmp(app->cfg.public_url, "https://", 8) == 0;
    snprintf(c, sizeof(c),
             LINK_COOKIE "=%s; Path=/oauth-callback; HttpOnly; SameSite=Lax; "
                         "Max-Age=%d%s",
             value, max_age, https ? "; Secure" : "");
    sg_http_set_header(req, "Set-Cookie", c);
    sg_wipe(c, sizeof(c));
}

int api_me_servicenow_link(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_authenticate(app, req, &u);
    if (rc != SG_OK)
        return rc;
    char *url = NULL, nonce[SG_LINK_NONCE_LEN + 1];
    rc = sg_link_start(app, &u, nonce, &url);
    if (rc != SG_OK)
        return rc;
    /* One flow per browser at a time: starting again replaces the cookie of the last one. */
    set_link_cookie(app, req, nonce, SG_LINK_STATE_TTL);
    sg_wipe(nonce, sizeof(nonce));
    sg_http_set_header(req, "Cache-Control", "no-store");
    sg_json *j = sg_json_object();
    sg_json_set_str(j, "authorization_url", url);
    free(url);
    return sg_http_reply_json(req, 200, j);
}

int api_me_servicenow_get(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_authenticate(app, req, &u);
    if (rc != SG_OK)
        return rc;
    sg_json *out = NULL;
    rc = sg_link_get(app, &u, &out);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, out);
}

static int page(sg_http_req *req, int status, const char *title, const char *text)
{
    sg_buf b = SG_BUF_INIT(0);
    sg_buf_puts(&b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta "
                    "name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link "
                    "rel=\"stylesheet\" href=\"/ui/style.css\"><title>");
    sg_buf_html(&b, title);
    sg_buf_puts(&b, "</title></head><body><main><section class=\"panel narrow\"><h1>");
    sg_buf_html(&b, title);
    sg_buf_puts(&b, "</h1><p>");
    sg_buf_html(&b, text);
    sg_buf_puts(&b, "</p><p><a class=\"button primary\" href=\"/#/profile\">Back to your "
                    "profile</a></p></section></main></body></html>");
    sg_http_set_header(req, "Content-Security-Policy",
                       "default-src 'none'; style-src 'self'; img-src 'self'; "
                       "frame-ancestors 'none'; base-uri 'none'");
    sg_http_set_header(req, "Cache-Control", "no-store");
    sg_http_set_header(req, "Referrer-Policy", "no-referrer");
    int rc = sg_http_reply(req, status, "text/html;charset=UTF-8", b.data, b.len);
    sg_buf_free(&b);
    return rc;
}

int api_oauth_callback(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    /* The nonce is spent whatever happens next. */
    set_link_cookie(app, req, "", 0);
    const char *error = sg_http_query(req, "error");
    if (error) {
        /* The state is spent either way. */
        sg_link_cancel(app, sg_http_query(req, "state"));
        return page(req, 400, "ServiceNow account not linked",
                    strcmp(error, "access_denied") == 0
                        ? "You chose Deny in ServiceNow, so nothing was linked. Start again from "
                          "your profile to link your account."
                        : "ServiceNow did not allow the link. Start again from your profile.");
    }
    char *user = NULL, nonce[SG_LINK_NONCE_LEN + 1];
    int rc = sg_link_finish(app, sg_http_query(req, "code"), sg_http_query(req, "state"),
                            api_cookie64(req, LINK_COOKIE, nonce), &user);
    sg_wipe(nonce, sizeof(nonce));
    if (rc != SG_OK)
        return page(req,
                    rc == SG_EINVAL       ? 400
                    : rc == SG_EFORBIDDEN ? 403
                                          : 502,
                    "ServiceNow account not linked", sg_err_msg());
    sg_buf msg = SG_BUF_INIT(0);
    sg_buf_printf(&msg,
                  "Your snowgate account is now linked to the ServiceNow user %s. Requests "
                  "you raise are opened for that user.",
                  user);
    rc = page(req, 200, "ServiceNow account linked", sg_buf_str(&msg));
    sg_buf_free(&msg);
    free(user);
    return rc;
}
