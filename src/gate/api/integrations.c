/* integrations: the admin's ServiceNow integration: configure, read, download the update set,
 * remove. Every route here is admin-only and never returns a secret. */
#include "gate/api/api.h"

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "gate/governance/audit.h"
#include "gate/secrets.h"
#include "gate/servicenow/client.h"
#include "gate/servicenow/connect.h"
#include "gate/servicenow/integration.h"
#include "gate/servicenow/updateset.h"
#include "gate/servicenow/webhook_secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_integrations_get(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    sg_integration in;
    rc = sg_integration_get(app, &in);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, sg_integration_json(app, &in));
}

int api_integrations_put(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    sg_json *body = NULL;
    rc = sg_http_body_json(req, &body);
    if (rc != SG_OK)
        return rc;
    if (sg_json_typeof(body) != SG_JSON_OBJECT) {
        sg_json_decref(body);
        return sg_err_set(SG_EINVAL, "send {\"instance_url\",\"client_id\",\"client_secret\"}");
    }
    rc = sg_integration_put(app, sg_json_get_str(body, "instance_url"),
                            sg_json_get_str(body, "client_id"),
                            sg_json_get_str(body, "client_secret"));
    sg_json_decref(body);
    if (rc != SG_OK)
        return rc;
    sg_integration in;
    rc = sg_integration_get(app, &in);
    if (rc == SG_OK)
        rc = sg_audit_record(app->store, u.name, "servicenow.configured", in.instance_url, NULL);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, sg_integration_json(app, &in));
}

int api_integrations_delete(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    rc = sg_servicenow_disconnect(app);
    if (rc == SG_OK)
        rc = sg_audit_record(app->store, u.name, "servicenow.disconnected", "servicenow", NULL);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply(req, 204, NULL, "", 0);
}

int api_integrations_updateset(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    sg_integration in;
    rc = sg_integration_get(app, &in);
    if (rc != SG_OK)
        return rc;
    if (!in.configured)
        return sg_err_set(SG_ECONFLICT, "configure the integration first: PUT "
                                        "/api/v1/integrations/servicenow");
    char hook[400];
    snprintf(hook, sizeof(hook), "%s/webhooks/servicenow", app->public_url);
    /* ?category=<sys_id>: the item goes in a category the instance has. */
    const char *category = sg_http_query(req, "category");
    if (category && !sn_is_sys_id(category))
        return sg_err_set(SG_EINVAL, "category must be the sys_id (32 hex digits) of a catalog "
                                     "category on the instance (sc_category), or left out for "
                                     "snowgate's own 'Data access' category");
    sg_updateset_opts o = {hook, in.client_id, NULL, category};
    char *xml = NULL;
    size_t len = 0;
    rc = sg_updateset_generate(&o, &xml, &len);
    if (rc != SG_OK)
        return rc;
    sg_http_set_header(req, "Content-Disposition",
                       "attachment; filename=\"snowgate Update Set.xml\"");
    sg_http_set_header(req, "Cache-Control", "no-store");
    rc = sg_http_reply(req, 200, "application/xml", xml, len);
    free(xml);
    return rc;
}

/* Connect and test, and Run test: 200 with the checks when all pass, 422 with them when one
 * fails (the reply says which, and how to fix it). */
static int reply_checks(sg_http_req *req, int rc, sg_json *result)
{
    if (!result)
        return rc;
    return sg_http_reply_json(req, rc == SG_OK ? 200 : 422, result);
}

int api_integrations_connect(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    sg_json *body = NULL;
    rc = sg_http_body_json(req, &body);
    if (rc != SG_OK)
        return rc;
    sg_json *result = NULL;
    rc = sg_connect(app, sg_json_get_str(body, "username"), sg_json_get_str(body, "password"),
                    &result);
    sg_json_decref(body); /* the password goes with it */
    if (rc == SG_OK)
        sg_audit_record(app->store, u.name, "servicenow.connected", "servicenow", NULL);
    return reply_checks(req, rc, result);
}

int api_integrations_test(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    sg_json *result = NULL;
    rc = sg_connect_test(app, &result);
    return reply_checks(req, rc, result);
}

int api_integrations_overview(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    sg_json *out = NULL;
    rc = sg_servicenow_overview(app, &out);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, out);
}

/* Rotates the webhook signing secret on both sides; the previous one is accepted for
 * servicenow.webhook_secret_grace seconds. */
int api_integrations_rotate_secret(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    sg_json *out = NULL;
    rc = sg_sn_secret_rotate(app, &out);
    if (rc != SG_OK) {
        int keep = rc;
        char reason[600];
        snprintf(reason, sizeof(reason), "%s", sg_err_msg());
        sg_json *d = sg_json_object();
        sg_json_set_str(d, "error", reason);
        char *text = sg_json_dump(d);
        sg_json_decref(d);
        if (sg_audit_record(app->store, u.name, "servicenow.webhook_secret_rotation_failed",
                            "servicenow", text) != SG_OK)
            sg_log_warn("could not audit a failed rotation", "reason", sg_err_msg());
        free(text);
        return sg_err_set(keep, "%s", reason);
    }
    char *text = sg_json_dump(out);
    rc = sg_audit_record(app->store, u.name, "servicenow.webhook_secret_rotated", "servicenow",
                         text);
    free(text);
    if (rc != SG_OK) {
        sg_json_decref(out);
        return rc;
    }
    return sg_http_reply_json(req, 200, out);
}
