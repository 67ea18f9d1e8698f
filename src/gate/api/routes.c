/* routes: every snowgate endpoint, in one table. */
#include "gate/api/api.h"

const sg_http_route sg_gate_routes[] = {
    {"GET", "/healthz", api_health_get},
    {"GET", "/readyz", api_ready_get},
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
    {"GET", "/api/v1/me/servicenow", api_me_servicenow_get},
    {"GET", "/api/v1/me/servicenow/link", api_me_servicenow_link},
    {"GET", "/oauth-callback", api_oauth_callback},
    {"POST", "/webhooks/servicenow", api_webhooks_servicenow},
    {0, 0, 0},
};
