/* jobs: GET /api/v1/jobs?state=dead, GET /api/v1/jobs/summary and POST
 * /api/v1/jobs/{id}/replay (admin). */
#include "gate/api/api.h"

#include "core/err.h"
#include "gate/governance/audit.h"
#include "gate/jobs.h"

#include <time.h>

int api_jobs_list(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    const char *state = sg_http_query(req, "state");
    sg_json *items = NULL;
    rc = sg_jobs_list(app->store, state ? state : "dead", &items);
    if (rc != SG_OK)
        return rc;
    sg_json *root = sg_json_object();
    sg_json_set(root, "items", items);
    return sg_http_reply_json(req, 200, root);
}

int api_jobs_summary(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    sg_json *out = NULL;
    int rc = api_require_admin(app, req, &u);
    if (rc == SG_OK)
        rc = sg_jobs_summary(app->store, &out);
    if (rc != SG_OK)
        return rc;
    return sg_http_reply_json(req, 200, out);
}

int api_jobs_replay(sg_http_req *req, void *appv)
{
    sg_app *app = appv;
    sg_user u;
    int rc = api_require_admin(app, req, &u);
    if (rc != SG_OK)
        return rc;
    const char *id = sg_http_param(req, "id");
    rc = sg_jobs_replay(app->store, id, (int64_t)time(NULL));
    if (rc == SG_ENOTFOUND)
        return sg_err_set(SG_ENOTFOUND,
                          "job %s is not dead (or does not exist); only dead jobs "
                          "are replayed",
                          id);
    if (rc == SG_OK)
        rc = sg_audit_record(app->store, u.name, "job.replayed", id, NULL);
    if (rc != SG_OK)
        return rc;
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "id", id);
    sg_json_set_str(o, "state", "queued");
    return sg_http_reply_json(req, 200, o);
}
