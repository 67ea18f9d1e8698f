/* health: liveness (/healthz) and readiness (/readyz) probes, and the API contract
 * (/api/openapi.json, docs/openapi.yaml as JSON). */
#include "gate/api/api.h"

#include "core/err.h"
#include "core/embed.h"
#include "core/json.h"
#include "core/log.h"

int api_health_get(sg_http_req *req, void *appv)
{
    (void)appv;
    sg_json *j = sg_json_object();
    sg_json_set_str(j, "status", "ok");
    sg_json_set_str(j, "version", SG_VERSION);
    return sg_http_reply_json(req, 200, j);
}

/* Anyone may ask (load balancers do, without a token), so the answer is the state alone. The
 * store's own error text can name internal hosts, addresses and users: it goes to the log,
 * and `snowgate doctor` shows it to an operator. */
int api_ready_get(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    int current = 0, latest = 0;
    int rc = sg_store_schema(app->store, &current, &latest);
    sg_json *j = sg_json_object();
    sg_json *checks = sg_json_object();
    bool ready = rc == SG_OK && current == latest;
    sg_json *store = sg_json_object();
    sg_json_set_str(store, "backend", sg_store_backend(app->store));
    sg_json_set_int(store, "schema_version", current);
    sg_json_set_int(store, "schema_latest", latest);
    sg_json_set_bool(store, "ok", ready);
    if (rc != SG_OK)
        sg_log_warn("not ready: the store failed", "error", sg_err_msg());
    else if (current != latest)
        sg_log_warn("not ready: the store's schema is not current; run snowgate migrate");
    sg_json_set(checks, "store", store);
    sg_json_set_str(j, "status", ready ? "ready" : "not_ready");
    sg_json_set(j, "checks", checks);
    return sg_http_reply_json(req, ready ? 200 : 503, j);
}

extern const sg_embed_file sg_gate_openapi[];

int api_openapi_get(sg_http_req *req, void *appv)
{
    (void)appv;
    const sg_embed_file *f = sg_embed_find(sg_gate_openapi, "openapi.json");
    if (!f)
        return sg_err_set(SG_EINTERNAL, "this build carries no OpenAPI document");
    sg_http_set_header(req, "Cache-Control", "no-cache");
    return sg_http_reply(req, 200, "application/json", f->data, f->len);
}
