/* routes: every snowgate endpoint, in one table. */
#include "gate/api/api.h"

const sg_http_route sg_gate_routes[] = {
    {"GET", "/", api_ui_index},
    {"GET", "/ui/{file}", api_ui_file},
    {"POST", "/api/v1/session", api_session_create},
    {"GET", "/api/v1/session", api_session_get},
    {"DELETE", "/api/v1/session", api_session_delete},
    {"GET", "/healthz", api_health_get},
    {"GET", "/readyz", api_ready_get},
    {"GET", "/api/openapi.json", api_openapi_get},
    {"GET", "/api/v1/integrations/servicenow", api_integrations_get},
    {"PUT", "/api/v1/integrations/servicenow", api_integrations_put},
    {"DELETE", "/api/v1/integrations/servicenow", api_integrations_delete},
    {"GET", "/api/v1/integrations/servicenow/update-set", api_integrations_updateset},
    {"POST", "/api/v1/integrations/servicenow/connect", api_integrations_connect},
    {"POST", "/api/v1/integrations/servicenow/test", api_integrations_test},
    {"GET", "/api/v1/integrations/servicenow/overview", api_integrations_overview},
    {"POST", "/api/v1/connections", api_connections_create},
    {"GET", "/api/v1/connections", api_connections_list},
    {"POST", "/api/v1/assets", api_assets_create},
    {"GET", "/api/v1/assets", api_assets_list},
    {"POST", "/api/v1/requests", api_requests_create},
    {"GET", "/api/v1/requests", api_requests_list},
    {"GET", "/api/v1/requests/summary", api_requests_summary},
    {"GET", "/api/v1/requests/{id}", api_requests_get},
    {"POST", "/api/v1/requests/{id}/approve", api_requests_approve},
    {"POST", "/api/v1/requests/{id}/reject", api_requests_reject},
    {"POST", "/api/v1/requests/{id}/cancel", api_requests_cancel},
    {"POST", "/api/v1/requests/{id}/done", api_requests_done},
    {"GET", "/api/v1/inbox", api_inbox_list},
    {"GET", "/api/v1/grants", api_grants_list},
    {"GET", "/api/v1/audit", api_audit_list},
    {"GET", "/api/v1/jobs", api_jobs_list},
    {"POST", "/api/v1/jobs/{id}/replay", api_jobs_replay},
    {"GET", "/api/v1/me/servicenow", api_me_servicenow_get},
    {"GET", "/api/v1/me/servicenow/link", api_me_servicenow_link},
    {"GET", "/oauth-callback", api_oauth_callback},
    {"POST", "/webhooks/servicenow", api_webhooks_servicenow},
    {"GET", "/metrics", api_metrics_get},
    {0, 0, 0},
};

/* metrics.listen: an internal address that serves the metrics and nothing else. */
const sg_http_route sg_gate_metrics_routes[] = {
    {"GET", "/metrics", api_metrics_open},
    {0, 0, 0},
};
