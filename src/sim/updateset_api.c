/* updateset_api: POST /sys_upload.do (the UI's XML import) and the CI/CD update set API:
 * POST /api/sn_cicd/update_set/preview|commit/{id}, GET /api/sn_cicd/progress/{id}. */
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "http/multipart.h"
#include "sim/sim.h"
#include "sim/updateset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool need_admin(sg_sim *sim, sg_http_req *req, sim_user *u)
{
    if (!sim_api_enter(sim, req, u))
        return false;
    if (!sim_user_is_admin(u)) {
        sim_reply_error(req, 403, "Operation Failed",
                        "Update sets need the admin role (or sn_cicd.sys_ci_automation)");
        return false;
    }
    return true;
}

int api_upload(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sim_user u;
    if (!need_admin(sim, req, &u))
        return SG_OK;
    size_t len = 0;
    const char *body = sg_http_body(req, &len);
    sg_multipart *m = NULL;
    if (sg_multipart_parse(sg_http_header(req, "Content-Type"), body, len, &m) != SG_OK) {
        sim_reply_error(req, 400, "Invalid upload", sg_err_msg());
        return SG_OK;
    }
    const sg_multipart_part *target = sg_multipart_get(m, "sysparm_target");
    const sg_multipart_part *file = sg_multipart_get(m, "attachFile");
    if (!target || target->len != strlen("sys_remote_update_set") ||
        memcmp(target->data, "sys_remote_update_set", target->len) != 0) {
        sg_multipart_free(m);
        sim_reply_error(req, 400, "Invalid upload", "sysparm_target must be sys_remote_update_set");
        return SG_OK;
    }
    if (!file || file->len == 0) {
        sg_multipart_free(m);
        sim_reply_error(req, 400, "Invalid upload", "attachFile is missing or empty");
        return SG_OK;
    }
    char id[33] = "";
    sim_db_wrlock(sim->db);
    int rc = sim_updateset_load(sim, &u, file->data, file->len, id);
    sim_db_unlock(sim->db);
    sg_multipart_free(m);
    if (rc != SG_OK) {
        sim_reply_error(req, 400, "Invalid update set", sg_err_msg());
        return SG_OK;
    }
    /* As the UI does: back to the retrieved update set's form. */
    char *loc = sg_xasprintf("%s/sys_remote_update_set.do?sys_id=%s", sim->base_url, id);
    sg_http_set_header(req, "Location", loc);
    free(loc);
    return sg_http_reply(req, 302, "text/html;charset=UTF-8", "", 0);
}

static const char *label_of(int64_t state)
{
    static const char *const labels[] = {"Pending", "Running", "Successful", "Failed", "Canceled"};
    return state >= 0 && state <= 4 ? labels[state] : "Pending";
}

static sg_json *progress_json(sg_sim *sim, const sim_rec *tr)
{
    int64_t state = 0, pct = 0;
    sg_parse_i64(sim_rec_get(tr, "state"), 0, 4, "state", &state);
    sg_parse_i64(sim_rec_get(tr, "percent_complete"), 0, 100, "pct", &pct);
    sg_json *res = sg_json_object();
    sg_json *links = sg_json_object();
    sg_json *prog = sg_json_object();
    char *url = sg_xasprintf("%s/api/sn_cicd/progress/%s", sim->base_url, tr->sys_id);
    sg_json_set_str(prog, "id", tr->sys_id);
    sg_json_set_str(prog, "url", url);
    free(url);
    sg_json_set(links, "progress", prog);
    const char *result = sim_rec_get(tr, "result");
    if (*result) {
        sg_json *rs = sg_json_object();
        char *rurl =
            sg_xasprintf("%s/api/now/table/sys_remote_update_set/%s", sim->base_url, result);
        sg_json_set_str(rs, "id", result);
        sg_json_set_str(rs, "url", rurl);
        free(rurl);
        sg_json_set(links, "results", rs);
    }
    sg_json_set(res, "links", links);
    char st[4];
    snprintf(st, sizeof(st), "%lld", (long long)state);
    sg_json_set_str(res, "status", st);
    sg_json_set_str(res, "status_label", label_of(state));
    sg_json_set_str(res, "status_message", sim_rec_get(tr, "message"));
    sg_json_set_str(res, "status_detail", sim_rec_get(tr, "detailed_message"));
    sg_json_set_str(res, "error", state == 3 ? sim_rec_get(tr, "detailed_message") : "");
    sg_json_set_int(res, "percent_complete", pct);
    sg_json *root = sg_json_object();
    sg_json_set(root, "result", res);
    return root;
}

/* Runs preview or commit now, recording it in sys_execution_tracker as the instance does. */
static int cicd(sg_http_req *req, sg_sim *sim, bool commit)
{
    sim_user u;
    if (!need_admin(sim, req, &u))
        return SG_OK;
    const char *id = sg_http_param(req, "id");
    bool force = false;
    const char *f = sg_http_query(req, "force_commit");
    if (f)
        sg_parse_bool(f, "force_commit", &force);
    sg_json *out = NULL;
    sim_db_wrlock(sim->db);
    sim_rec *set = sim_db_get(sim->db, sim_dict_table("sys_remote_update_set"), id);
    if (!set) {
        sim_db_unlock(sim->db);
        sim_reply_error(req, 404, "No Record found",
                        "Update set with given sys_id does not exist or is not accessible");
        return SG_OK;
    }
    int problems = 0;
    int rc = commit ? sim_updateset_commit(sim, &u, set, force)
                    : sim_updateset_preview(sim, &u, set, &problems);
    char msg[256];
    if (rc == SG_OK && commit)
        snprintf(msg, sizeof(msg), "Update set committed");
    else if (rc == SG_OK)
        snprintf(msg, sizeof(msg), "Preview found %d problem(s)", problems);
    else
        snprintf(msg, sizeof(msg), "%s failed", commit ? "Commit" : "Preview");
    sg_json *tv = sg_json_object();
    sg_json_set_str(tv, "name", commit ? "Update Set Commit" : "Update Set Preview");
    sg_json_set_str(tv, "state", rc == SG_OK ? "2" : "3");
    sg_json_set_str(tv, "percent_complete", rc == SG_OK ? "100" : "0");
    sg_json_set_str(tv, "message", msg);
    sg_json_set_str(tv, "detailed_message", rc == SG_OK ? "" : sg_err_msg());
    sg_json_set_str(tv, "result", id);
    sg_json_set_str(tv, "source", id);
    sg_json_set_str(tv, "source_table", "sys_remote_update_set");
    sim_rec *tr = NULL;
    int trc = sim_db_insert(sim->db, sim_dict_table("sys_execution_tracker"), tv, u.user_name, &tr);
    sg_json_decref(tv);
    if (trc == SG_OK)
        out = progress_json(sim, tr);
    sim_db_unlock(sim->db);
    if (!out)
        return trc;
    return sg_http_reply_json(req, 200, out);
}

int api_cicd_preview(sg_http_req *req, void *sim)
{
    return cicd(req, sim, false);
}

int api_cicd_commit(sg_http_req *req, void *sim)
{
    return cicd(req, sim, true);
}

int api_cicd_progress(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sim_user u;
    if (!need_admin(sim, req, &u))
        return SG_OK;
    sg_json *out = NULL;
    sim_db_rdlock(sim->db);
    sim_rec *tr =
        sim_db_get(sim->db, sim_dict_table("sys_execution_tracker"), sg_http_param(req, "id"));
    if (tr)
        out = progress_json(sim, tr);
    sim_db_unlock(sim->db);
    if (!out) {
        sim_reply_error(req, 404, "No Record found", "Progress record does not exist");
        return SG_OK;
    }
    return sg_http_reply_json(req, 200, out);
}
