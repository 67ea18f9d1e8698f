/* webhooks: POST /webhooks/servicenow, ServiceNow's signed events. Anything unsigned or forged
 * gets a bare 401; a valid event is stored before the 2xx. */
#include "gate/api/api.h"

#include "core/err.h"
#include "gate/servicenow/webhook.h"

#include <time.h>

int api_webhooks_servicenow(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    size_t len = 0;
    const char *body = sg_http_body(req, &len);
    bool duplicate = false;
    int rc = sg_webhook_receive(
        app, sg_http_header(req, "webhook-id"), sg_http_header(req, "webhook-timestamp"),
        sg_http_header(req, "webhook-signature"), body, len, (int64_t)time(NULL), &duplicate);
    if (rc == SG_EAUTH || rc == SG_ENOTFOUND) /* reveal nothing, not even whether we are set up */
        return sg_http_reply_status(req, 401, "unauthorized", "invalid webhook signature");
    if (rc != SG_OK)
        return rc;
    sg_json *j = sg_json_object();
    sg_json_set_str(j, "status", duplicate ? "duplicate" : "accepted");
    return sg_http_reply_json(req, duplicate ? 200 : 202, j);
}
