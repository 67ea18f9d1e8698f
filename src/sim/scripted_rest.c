/* scripted_rest: Scripted REST APIs: sys_ws_definition + sys_ws_operation route
 * /api/<namespace>[/<version>]/<service_id>/<relative_path> to the operation's script. */
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "sim/faults.h"
#include "sim/script.h"
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct def_ctx {
    const char *path;
    sim_rec *def;
    size_t rest_off; /* where the relative path starts */
} def_ctx;

static bool match_base(const char *path, const char *base, size_t *rest_off)
{
    size_t bl = strlen(base);
    if (!bl || strncmp(path, base, bl) != 0 || (path[bl] != '\0' && path[bl] != '/'))
        return false;
    *rest_off = bl;
    return true;
}

static bool each_def(void *ctx, sim_rec *r)
{
    def_ctx *c = ctx;
    if (strcmp(sim_rec_get(r, "active"), "true") != 0)
        return true;
    const char *base = sim_rec_get(r, "base_uri");
    size_t off = 0;
    char alt[512];
    if (!*base) {
        snprintf(alt, sizeof(alt), "/api/%s/%s", sim_rec_get(r, "namespace"),
                 sim_rec_get(r, "service_id"));
        base = alt;
    }
    if (match_base(c->path, base, &off)) {
        c->def = r;
        c->rest_off = off;
        return false;
    }
    /* The versioned form: /api/<namespace>/v1/<service_id>. */
    char versioned[512];
    const char *ns_end = strchr(base + 5, '/');
    if (sg_str_startswith(base, "/api/") && ns_end) {
        const char *p = c->path + (ns_end - base);
        if (strncmp(c->path, base, (size_t)(ns_end - base)) == 0 && p[0] == '/' && p[1] == 'v') {
            const char *slash = strchr(p + 1, '/');
            if (slash) {
                snprintf(versioned, sizeof(versioned), "%.*s%s", (int)(slash - c->path), c->path,
                         ns_end);
                if (match_base(c->path, versioned, &off)) {
                    c->def = r;
                    c->rest_off = off;
                    return false;
                }
            }
        }
    }
    return true;
}

/* Matches "/{id}/items" against "/42/items", binding params into obj. */
static bool match_template(const char *tmpl, const char *path, sg_json *params)
{
    if (!*tmpl)
        tmpl = "/";
    if (!*path)
        path = "/";
    while (*tmpl && *path) {
        if (*tmpl == '{') {
            const char *close = strchr(tmpl, '}');
            if (!close)
                return false;
            size_t sl = strcspn(path, "/");
            if (sl == 0)
                return false;
            char *name = sg_xstrndup(tmpl + 1, (size_t)(close - tmpl - 1));
            sg_json_set(params, name, sg_json_stringn(path, sl));
            free(name);
            tmpl = close + 1;
            path += sl;
            continue;
        }
        if (*tmpl != *path)
            return false;
        tmpl++;
        path++;
    }
    /* A trailing slash on either side is not significant. */
    if (*tmpl == '/' && !tmpl[1])
        tmpl++;
    if (*path == '/' && !path[1])
        path++;
    return !*tmpl && !*path;
}

typedef struct op_ctx {
    const char *def_id;
    const char *method;
    const char *rest;
    sim_rec *op;
    sg_json *params;
} op_ctx;

static bool each_op(void *ctx, sim_rec *r)
{
    op_ctx *c = ctx;
    if (strcmp(sim_rec_get(r, "active"), "true") != 0 ||
        strcasecmp(sim_rec_get(r, "http_method"), c->method) != 0)
        return true;
    sg_json *params = sg_json_object();
    if (match_template(sim_rec_get(r, "relative_path"), c->rest, params)) {
        c->op = r;
        c->params = params;
        return false;
    }
    sg_json_decref(params);
    return true;
}

static void add_query(void *ctx, const char *key, const char *value)
{
    sg_json *q = ctx;
    sg_json *arr = sg_json_get(q, key);
    if (!arr) {
        arr = sg_json_array();
        sg_json_set(q, key, arr);
    }
    sg_json_append(arr, sg_json_string(value));
}

typedef struct acl_role_ctx {
    sim_db *db;
    const sim_user *u;
    bool any;
    bool has;
} acl_role_ctx;

static bool each_acl_role(void *ctx, sim_rec *r)
{
    acl_role_ctx *c = ctx;
    c->any = true;
    sim_rec *role =
        sim_db_get(c->db, sim_dict_table("sys_user_role"), sim_rec_get(r, "sys_user_role"));
    if (role && sim_user_has_role(c->u, sim_rec_get(role, "name")))
        c->has = true;
    return !c->has;
}

/* REST_Endpoint ACLs listed (comma-separated sys_ids) on the operation or the API: the caller
 * passes when one active ACL lists none of roles or one the caller holds. No list: any
 * authenticated caller passes. admin always passes. */
static bool rest_acls_pass(sg_sim *sim, const sim_user *u, const char *list)
{
    if (!list || !*list || sim_user_is_admin(u))
        return true;
    bool pass = false, found = false;
    sim_db_rdlock(sim->db);
    const char *p = list;
    while (*p && !pass) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char id[33];
        snprintf(id, sizeof(id), "%.*s", (int)(n < 32 ? n : 32), p);
        sim_rec *acl = sim_db_get(sim->db, sim_dict_table("sys_security_acl"), id);
        if (acl && strcmp(sim_rec_get(acl, "active"), "true") == 0) {
            found = true;
            acl_role_ctx rc = {sim->db, u, false, false};
            sim_db_each_eq(sim->db, sim_dict_table("sys_security_acl_role"), "sys_security_acl",
                           acl->sys_id, each_acl_role, &rc);
            pass = !rc.any || rc.has;
        }
        if (!c)
            break;
        p = c + 1;
    }
    sim_db_unlock(sim->db);
    return pass || !found;
}

static const char *const passed_headers[] = {"accept",       "content-type",  "user-agent",
                                             "x-request-id", "authorization", NULL};

int api_scripted_rest(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    const char *path = sg_http_path(req);
    const char *method = sg_http_method(req);
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    if (sim_faults_apply(sim->faults, req))
        return SG_OK;
    char def_id[33] = "", *script = NULL, *op_name = NULL, *acls = NULL;
    bool needs_auth = true, needs_acl = false;
    sg_json *params = NULL;
    sim_db_rdlock(sim->db);
    def_ctx dc = {path, NULL, 0};
    sim_db_each(sim->db, sim_dict_table("sys_ws_definition"), each_def, &dc);
    if (dc.def) {
        snprintf(def_id, sizeof(def_id), "%s", dc.def->sys_id);
        op_ctx oc = {def_id, method, path + dc.rest_off, NULL, NULL};
        sim_db_each_eq(sim->db, sim_dict_table("sys_ws_operation"), "web_service_definition",
                       def_id, each_op, &oc);
        if (oc.op) {
            script = sg_xstrdup(sim_rec_get(oc.op, "operation_script"));
            op_name = sg_xstrdup(sim_rec_get(oc.op, "name"));
            needs_auth = strcmp(sim_rec_get(oc.op, "requires_authentication"), "false") != 0;
            needs_acl = strcmp(sim_rec_get(oc.op, "requires_acl_authorization"), "true") == 0;
            /* The operation's ACLs, else the API's. */
            const char *list = sim_rec_get(oc.op, "enforce_acl");
            acls = sg_xstrdup(*list ? list : sim_rec_get(dc.def, "enforce_acl"));
            params = oc.params;
        }
    }
    sim_db_unlock(sim->db);
    if (!script) {
        free(acls);
        sim_reply_error(req, 400, "Requested URI does not represent any resource", NULL);
        return SG_OK;
    }
    sim_user u;
    memset(&u, 0, sizeof(u));
    if (needs_auth) {
        bool ok = sim_api_enter(sim, req, &u);
        if (ok && needs_acl && !rest_acls_pass(sim, &u, acls)) {
            ok = false;
            sim_reply_error(req, 403, "Operation Failed",
                            "User does not have the role the REST endpoint's ACL requires");
        }
        if (!ok) {
            free(script);
            free(op_name);
            free(acls);
            sg_json_decref(params);
            return SG_OK;
        }
    } else {
        snprintf(u.user_name, sizeof(u.user_name), "guest");
    }
    sg_json *rq = sg_json_object();
    sg_json_set(rq, "pathParams", params);
    sg_json *q = sg_json_object();
    sg_http_query_each(req, add_query, q);
    sg_json_set(rq, "queryParams", q);
    sg_json *h = sg_json_object();
    for (const char *const *n = passed_headers; *n; n++) {
        const char *v = sg_http_header(req, *n);
        if (v)
            sg_json_set_str(h, *n, v);
    }
    sg_json_set(rq, "headers", h);
    size_t blen = 0;
    const char *body = sg_http_body(req, &blen);
    sg_json_set(rq, "body", sg_json_stringn(body, blen));
    sg_json_set_str(rq, "uri", path);
    char *url = sg_xasprintf("%s%s", sim->base_url, path);
    sg_json_set_str(rq, "url", url);
    free(url);
    const char *qs = strchr(path, '?');
    sg_json_set_str(rq, "queryString", qs ? qs + 1 : "");

    char *name = sg_xasprintf("scripted REST '%s'", op_name);
    sim_script_env env = {sim, &u, name, 0, NULL, NULL, NULL, NULL, rq, 0, 0, NULL};
    sim_db_wrlock(sim->db);
    int rc = sim_script_run(&env, script);
    sim_db_unlock(sim->db);
    free(name);
    free(script);
    free(op_name);
    free(acls);
    sg_json_decref(rq);
    if (rc != SG_OK) {
        sim_reply_error(req, 500, "Script Evaluation Exception", sg_err_msg());
        return SG_OK;
    }
    sg_json *resp = sg_json_get(env.result, "response");
    sg_json *err = sg_json_get(resp, "error");
    int64_t status = 200;
    sg_json_get_int(resp, "status", &status);
    if (status < 100 || status > 599)
        status = 200;
    sg_json *hdrs = sg_json_get(resp, "headers");
    for (void *it = sg_json_iter(hdrs); it; it = sg_json_iter_next(hdrs, it))
        if (sg_json_str(sg_json_iter_value(it)))
            sg_http_set_header(req, sg_json_iter_key(it), sg_json_str(sg_json_iter_value(it)));
    if (err && sg_json_typeof(err) == SG_JSON_OBJECT) {
        int64_t es = 500;
        sg_json_get_int(err, "status", &es);
        const char *detail = sg_json_get_str(err, "detail");
        sim_reply_error(req, (int)(es >= 400 && es <= 599 ? es : 500),
                        sg_json_get_str(err, "message") ? sg_json_get_str(err, "message") : "",
                        detail && *detail ? detail : NULL);
        sg_json_decref(env.result);
        return SG_OK;
    }
    const char *raw = sg_json_get_str(resp, "raw");
    const char *ctype = sg_json_get_str(resp, "contentType");
    if (raw) {
        rc = sg_http_reply(req, (int)status, ctype && *ctype ? ctype : "application/json", raw,
                           strlen(raw));
    } else {
        sg_json *root = sg_json_object();
        sg_json *b = sg_json_get(resp, "body");
        sg_json_set(root, "result", b ? sg_json_incref(b) : sg_json_null());
        char *text = sg_json_dump(root);
        sg_json_decref(root);
        rc = sg_http_reply(req, (int)status, "application/json;charset=UTF-8", text, strlen(text));
        free(text);
    }
    sg_json_decref(env.result);
    return rc;
}
