/* routes: every snowgate endpoint, in one table. */
#include "gate/api/api.h"

const sg_http_route sg_gate_routes[] = {
    {"GET", "/healthz", api_health_get},
    {"GET", "/readyz", api_ready_get},
    {0, 0, 0},
};
