/* api: the HTTP handlers of snowgate, one file per resource, named api_<resource>_<verb>. */
#ifndef SG_GATE_API_H
#define SG_GATE_API_H

#include "gate/app.h"
#include "gate/governance/users.h"
#include "http/server.h"

/* auth.c: SG_EAUTH (401) without a valid token or session, SG_EFORBIDDEN (403) without the
 * role or, for a change made with the session cookie, without its CSRF token. */
int api_authenticate(sg_app *app, sg_http_req *req, sg_user *out);
int api_require_admin(sg_app *app, sg_http_req *req, sg_user *out);
#define SG_SESSION_COOKIE "sg_session"
/* The session cookie's value (64 hex characters) copied into out, or NULL. */
const char *api_session_cookie(const sg_http_req *req, char out[65]);
/* The value of cookie `name` when it is 64 characters long, copied into out; else NULL. */
const char *api_cookie64(const sg_http_req *req, const char *name, char out[65]);

/* session.c: signing in and out of the web UI */
int api_session_create(sg_http_req *req, void *app);
int api_session_get(sg_http_req *req, void *app);
int api_session_delete(sg_http_req *req, void *app);

/* ui.c: the web UI's files, embedded at build time */
int api_ui_index(sg_http_req *req, void *app);
int api_ui_file(sg_http_req *req, void *app);
/* The Content-Security-Policy and the other security headers every page gets. */
void api_security_headers(sg_app *app, sg_http_req *req);

/* health.c */
int api_health_get(sg_http_req *req, void *app);
int api_ready_get(sg_http_req *req, void *app);
int api_openapi_get(sg_http_req *req, void *app);

/* integrations.c: /api/v1/integrations/servicenow (admin only) */
int api_integrations_get(sg_http_req *req, void *app);
int api_integrations_put(sg_http_req *req, void *app);
int api_integrations_delete(sg_http_req *req, void *app);
int api_integrations_updateset(sg_http_req *req, void *app);
int api_integrations_connect(sg_http_req *req, void *app);
int api_integrations_test(sg_http_req *req, void *app);
int api_integrations_overview(sg_http_req *req, void *app);
int api_integrations_rotate_secret(sg_http_req *req, void *app);

/* me.c: the caller's ServiceNow link, and the OAuth callback */
int api_me_servicenow_link(sg_http_req *req, void *app);
int api_me_servicenow_get(sg_http_req *req, void *app);
int api_oauth_callback(sg_http_req *req, void *app);

/* assets.c: connections (admin) and assets */
int api_connections_create(sg_http_req *req, void *app);
int api_connections_list(sg_http_req *req, void *app);
int api_connections_get(sg_http_req *req, void *app);
int api_connections_update(sg_http_req *req, void *app);
int api_connections_discover(sg_http_req *req, void *app);
int api_assets_create(sg_http_req *req, void *app);
int api_assets_list(sg_http_req *req, void *app);

/* requests.c: access requests, decisions, the inbox and grants (any user; the module checks
 * who may see and decide what) */
int api_requests_create(sg_http_req *req, void *app);
int api_requests_get(sg_http_req *req, void *app);
int api_requests_summary(sg_http_req *req, void *app);
int api_requests_list(sg_http_req *req, void *app);
int api_requests_approve(sg_http_req *req, void *app);
int api_requests_reject(sg_http_req *req, void *app);
int api_requests_cancel(sg_http_req *req, void *app);
int api_requests_done(sg_http_req *req, void *app);
int api_inbox_list(sg_http_req *req, void *app);
int api_grants_list(sg_http_req *req, void *app);

/* audit.c and jobs.c: the audit log, dead jobs and replay (admin only) */
int api_audit_list(sg_http_req *req, void *app);
int api_jobs_list(sg_http_req *req, void *app);
int api_jobs_summary(sg_http_req *req, void *app);
int api_jobs_replay(sg_http_req *req, void *app);

/* users.c: /api/v1/users/{name}/disable, /enable (admin) and /token (admin, or the user for
 * their own token) */
int api_users_disable(sg_http_req *req, void *app);
int api_users_enable(sg_http_req *req, void *app);
int api_users_token(sg_http_req *req, void *app);

/* webhooks.c: POST /webhooks/servicenow */
int api_webhooks_servicenow(sg_http_req *req, void *app);

/* metrics.c: GET /metrics with the metrics token (main listener), or open (metrics.listen). */
int api_metrics_get(sg_http_req *req, void *app);
int api_metrics_open(sg_http_req *req, void *app);

#endif
