/* table_api: ServiceNow's Table API: /api/now[/v1|/v2]/table/{table}[/{sys_id}]. */
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "http/client.h"
#include "sim/acl.h"
#include "sim/query.h"
#include "sim/rules.h"
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_LIMIT 10000

typedef enum dv_mode { DV_FALSE, DV_TRUE, DV_ALL } dv_mode;

typedef struct render_ctx {
    sg_sim *sim;
    const sim_user *u;
    dv_mode dv;
    bool exclude_links;
    char link_prefix[300]; /* base + "/api/now[/vN]/table/" */
    char **fields;         /* sysparm_fields, or NULL for all */
    size_t nfields;
    bool field_acls; /* does any field-level read ACL apply to this table? */
    const sim_table *t;
} render_ctx;

static const char *const NO_RECORD = "No Record found";
static const char *const NO_RECORD_DETAIL =
    "Record doesn't exist or ACL restricts the record retrieval";

/* ---- request parameters ---- */

static bool qbool(sg_http_req *req, const char *name)
{
    const char *v = sg_http_query(req, name);
    bool b = false;
    return v && sg_parse_bool(v, name, &b) == SG_OK && b;
}

static dv_mode display_mode(sg_http_req *req)
{
    const char *v = sg_http_query(req, "sysparm_display_value");
    if (v && strcasecmp(v, "all") == 0)
        return DV_ALL;
    bool b = false;
    if (v && sg_parse_bool(v, "sysparm_display_value", &b) == SG_OK && b)
        return DV_TRUE;
    return DV_FALSE;
}

typedef struct acl_names_ctx {
    const sim_table *t;
    const char *op;
    bool found;
} acl_names_ctx;

static bool each_acl_name(void *ctx, sim_rec *r)
{
    acl_names_ctx *c = ctx;
    const char *name = sim_rec_get(r, "name");
    const char *dot = strchr(name, '.');
    if (!dot || strcmp(sim_rec_get(r, "operation"), c->op) != 0 ||
        strcmp(sim_rec_get(r, "active"), "true") != 0)
        return true;
    size_t tl = (size_t)(dot - name);
    for (const sim_table *x = c->t; x; x = sim_dict_parent(x))
        if (strlen(x->name) == tl && strncmp(name, x->name, tl) == 0)
            c->found = true;
    if (tl == 1 && name[0] == '*')
        c->found = true;
    return !c->found;
}

static bool has_field_acls(sg_sim *sim, const sim_table *t, const char *op)
{
    acl_names_ctx c = {t, op, false};
    sim_db_each(sim->db, sim_dict_table("sys_security_acl"), each_acl_name, &c);
    return c.found;
}

static void render_init(render_ctx *rc, sg_sim *sim, sg_http_req *req, const sim_user *u,
                        const sim_table *t)
{
    memset(rc, 0, sizeof(*rc));
    rc->sim = sim;
    rc->u = u;
    rc->t = t;
    rc->dv = display_mode(req);
    rc->exclude_links = qbool(req, "sysparm_exclude_reference_link");
    const char *ver = sg_http_param(req, "version");
    snprintf(rc->link_prefix, sizeof(rc->link_prefix), "%s/api/now/%s%stable/", sim->base_url,
             ver ? ver : "", ver ? "/" : "");
    const char *fields = sg_http_query(req, "sysparm_fields");
    if (fields && *fields) {
        size_t n = 1;
        for (const char *p = fields; *p; p++)
            n += *p == ',';
        rc->fields = sg_xcalloc(n, sizeof(char *));
        const char *p = fields;
        while (*p) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            while (len && *p == ' ') {
                p++;
                len--;
            }
            while (len && p[len - 1] == ' ')
                len--;
            char *name = sg_xstrndup(p, len);
            /* "Invalid fields are ignored." */
            if (len && sim_field_resolve(t, name))
                rc->fields[rc->nfields++] = name;
            else
                free(name);
            if (!c)
                break;
            p = c + 1;
        }
    }
    rc->field_acls = has_field_acls(sim, t, "read");
}

static void render_free(render_ctx *rc)
{
    for (size_t i = 0; i < rc->nfields; i++)
        free(rc->fields[i]);
    free(rc->fields);
}

/* ---- rendering ---- */

static char *display_of(render_ctx *rc, const sim_field *fd, const char *v)
{
    if (fd->type == SIM_REFERENCE && *v) {
        const sim_table *rt = sim_dict_table(fd->ref);
        sim_rec *target = rt ? sim_db_get(rc->sim->db, rt, v) : NULL;
        if (!target)
            return sg_xstrdup("");
        return sg_xstrdup(rt->display ? sim_rec_get(target, rt->display) : target->sys_id);
    }
    return sg_xstrdup(v);
}

static sg_json *render_value(render_ctx *rc, const sim_field *fd, const char *raw)
{
    const char *v = (fd->type == SIM_PASSWORD || fd->type == SIM_JOURNAL) ? "" : raw;
    if (fd->type == SIM_REFERENCE && *v) {
        char *link = sg_xasprintf("%s%s/%s", rc->link_prefix, fd->ref, v);
        char *disp = rc->dv != DV_FALSE ? display_of(rc, fd, v) : NULL;
        sg_json *out;
        if (rc->dv == DV_FALSE && rc->exclude_links) {
            out = sg_json_string(v);
        } else if (rc->dv == DV_TRUE && rc->exclude_links) {
            out = sg_json_string(disp);
        } else {
            out = sg_json_object();
            if (rc->dv != DV_FALSE)
                sg_json_set_str(out, "display_value", disp);
            if (!rc->exclude_links)
                sg_json_set_str(out, "link", link);
            if (rc->dv != DV_TRUE)
                sg_json_set_str(out, "value", v);
        }
        free(link);
        free(disp);
        return out;
    }
    if (rc->dv == DV_ALL) {
        sg_json *o = sg_json_object();
        sg_json_set_str(o, "display_value", v);
        sg_json_set_str(o, "value", v);
        return o;
    }
    return sg_json_string(v);
}

typedef struct fields_ctx {
    render_ctx *rc;
    const sim_rec *r;
    sg_json *out;
} fields_ctx;

static bool field_readable(render_ctx *rc, const sim_rec *r, const char *field)
{
    return !rc->field_acls || sim_acl_can(rc->sim->db, rc->u, r->t, "read", r, field, NULL, NULL);
}

static void render_field(void *ctx, const sim_field *fd)
{
    fields_ctx *fc = ctx;
    if (!field_readable(fc->rc, fc->r, fd->name))
        return;
    sg_json_set(fc->out, fd->name, render_value(fc->rc, fd, sim_rec_get(fc->r, fd->name)));
}

static sg_json *render(render_ctx *rc, const sim_rec *r)
{
    sg_json *out = sg_json_object();
    if (rc->nfields) {
        sim_qctx qc = {rc->sim->db, rc->u->sys_id, rc->u->user_name, NULL};
        for (size_t i = 0; i < rc->nfields; i++) {
            const sim_field *fd = sim_field_resolve(r->t, rc->fields[i]);
            if (!fd) /* a field of a child table, asked of a parent-table record */
                continue;
            char *top = sg_xstrdup(rc->fields[i]);
            char *dot = strchr(top, '.');
            if (dot)
                *dot = '\0';
            bool ok = field_readable(rc, r, top);
            free(top);
            if (!ok)
                continue;
            char *v = sim_field_value(&qc, r, rc->fields[i]);
            sg_json_set(out, rc->fields[i], render_value(rc, fd, v));
            free(v);
        }
        return out;
    }
    fields_ctx fc = {rc, r, out};
    if (r->t->dynamic) {
        for (void *it = sg_json_iter(r->f); it; it = sg_json_iter_next(r->f, it))
            if (!sim_dict_is_sys_field(sg_json_iter_key(it)))
                sg_json_set(out, sg_json_iter_key(it),
                            render_value(rc, sim_dict_field(r->t, sg_json_iter_key(it)),
                                         sg_json_str(sg_json_iter_value(it))
                                             ? sg_json_str(sg_json_iter_value(it))
                                             : ""));
    }
    sim_dict_each_field(r->t, render_field, &fc);
    static const char *const sys[] = {"sys_id",         "sys_created_on", "sys_created_by",
                                      "sys_updated_on", "sys_updated_by", "sys_mod_count",
                                      "sys_class_name", "sys_tags",       NULL};
    for (const char *const *s = sys; *s; s++)
        render_field(&fc, sim_dict_field(r->t, *s));
    return out;
}

static void common_headers(sg_http_req *req)
{
    sg_http_set_header(req, "Cache-Control", "no-cache,no-store,must-revalidate,max-age=-1");
    sg_http_set_header(req, "Pragma", "no-store,no-cache");
    sg_http_set_header(req, "Expires", "0");
    sg_http_set_header(req, "X-Is-Logged-In", "true");
}

static int reply_result(sg_http_req *req, int status, sg_json *result)
{
    common_headers(req);
    const char *nobody = sg_http_header(req, "X-no-response-body");
    bool b = false;
    if (nobody && sg_parse_bool(nobody, "X-no-response-body", &b) == SG_OK && b) {
        sg_json_decref(result);
        return sg_http_reply(req, status, "application/json;charset=UTF-8", "", 0);
    }
    sg_json *root = sg_json_object();
    sg_json_set(root, "result", result);
    char *text = sg_json_dump(root);
    sg_json_decref(root);
    int rc = sg_http_reply(req, status, "application/json;charset=UTF-8", text, strlen(text));
    free(text);
    return rc;
}

static const sim_table *table_or_400(sg_http_req *req)
{
    const char *ver = sg_http_param(req, "version");
    if (ver && strcmp(ver, "v1") != 0 && strcmp(ver, "v2") != 0) {
        sim_reply_error(req, 400, "Requested URI does not represent any resource", NULL);
        return NULL;
    }
    const char *name = sg_http_param(req, "table");
    const sim_table *t = sim_dict_table(name);
    if (!t) {
        char msg[200];
        snprintf(msg, sizeof(msg), "Invalid table %.150s", name ? name : "");
        sim_reply_error(req, 400, msg, NULL);
    }
    return t;
}

/* ---- list ---- */

typedef struct collect_ctx {
    sg_sim *sim;
    const sim_user *u;
    sim_query *q;
    sim_qctx qc;
    sim_rec **recs;
    size_t n, cap;
} collect_ctx;

static bool collect(void *ctx, sim_rec *r)
{
    collect_ctx *c = ctx;
    if (!sim_acl_can(c->sim->db, c->u, r->t, "read", r, NULL, NULL, NULL))
        return true;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->recs = sg_xrealloc(c->recs, c->cap * sizeof(*c->recs));
    }
    c->recs[c->n++] = r;
    return true;
}

typedef struct qs_ctx {
    sg_buf *b;
    sg_buf *pairs; /* name=value conditions from plain parameters */
    const sim_table *t;
} qs_ctx;

static void echo_param(void *ctx, const char *key, const char *value)
{
    qs_ctx *c = ctx;
    if (strcmp(key, "sysparm_offset") == 0 || strcmp(key, "sysparm_limit") == 0)
        return;
    char *k = sg_http_escape(key), *v = sg_http_escape(value);
    sg_buf_printf(c->b, "%s=%s&", k, v);
    free(k);
    free(v);
}

static void pair_param(void *ctx, const char *key, const char *value)
{
    qs_ctx *c = ctx;
    if (sg_str_startswith(key, "sysparm_") || strcmp(key, "access_token") == 0 ||
        !sim_dict_field(c->t, key))
        return;
    sg_buf_printf(c->pairs, "%s%s=%s", c->pairs->len ? "^" : "", key, value);
}

static void link_header(sg_http_req *req, const char *base, int64_t offset, int64_t limit,
                        int64_t total, const sim_table *t)
{
    sg_buf echo = SG_BUF_INIT(0), link = SG_BUF_INIT(0);
    qs_ctx c = {&echo, NULL, t};
    sg_http_query_each(req, echo_param, &c);
    int64_t last = total > 0 ? ((total - 1) / limit) * limit : 0;
    const char *path = sg_http_path(req);
    sg_buf_printf(&link, "<%s%s?%ssysparm_limit=%lld&sysparm_offset=0>;rel=\"first\"", base, path,
                  sg_buf_str(&echo), (long long)limit);
    sg_buf_printf(&link, ",<%s%s?%ssysparm_limit=%lld&sysparm_offset=%lld>;rel=\"prev\"", base,
                  path, sg_buf_str(&echo), (long long)limit, (long long)(offset - limit));
    if (offset + limit < total)
        sg_buf_printf(&link, ",<%s%s?%ssysparm_limit=%lld&sysparm_offset=%lld>;rel=\"next\"", base,
                      path, sg_buf_str(&echo), (long long)limit, (long long)(offset + limit));
    sg_buf_printf(&link, ",<%s%s?%ssysparm_limit=%lld&sysparm_offset=%lld>;rel=\"last\"", base,
                  path, sg_buf_str(&echo), (long long)limit, (long long)last);
    sg_http_set_header(req, "Link", sg_buf_str(&link));
    sg_buf_free(&echo);
    sg_buf_free(&link);
}

int api_table_list(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sim_user u;
    if (!sim_api_enter(sim, req, &u))
        return SG_OK;
    const sim_table *t = table_or_400(req);
    if (!t)
        return SG_OK;
    int64_t limit = DEFAULT_LIMIT, offset = 0;
    const char *ls = sg_http_query(req, "sysparm_limit");
    const char *os = sg_http_query(req, "sysparm_offset");
    if (ls && *ls && sg_parse_i64(ls, 1, 1000000000, "sysparm_limit", &limit) != SG_OK)
        limit = DEFAULT_LIMIT;
    if (os && *os && sg_parse_i64(os, 0, INT64_MAX / 2, "sysparm_offset", &offset) != SG_OK)
        offset = 0;

    const char *qs = sg_http_query(req, "sysparm_query");
    sg_buf pairs = SG_BUF_INIT(0);
    if (!qs || !*qs) {
        qs_ctx c = {NULL, &pairs, t};
        sg_http_query_each(req, pair_param, &c);
        qs = sg_buf_str(&pairs);
    }
    collect_ctx c = {sim, &u, NULL, {sim->db, u.sys_id, u.user_name, NULL}, NULL, 0, 0};
    sim_query_parse(qs, t, &c.q);
    render_ctx rc;
    sim_db_rdlock(sim->db);
    render_init(&rc, sim, req, &u, t);
    sim_query_each(c.q, &c.qc, collect, &c);
    sim_query_sort(c.q, &c.qc, c.recs, c.n);
    sg_json *result = sg_json_array();
    for (int64_t i = offset; i < (int64_t)c.n && i < offset + limit; i++)
        sg_json_append(result, render(&rc, c.recs[i]));
    sim_db_unlock(sim->db);
    render_free(&rc);
    sim_query_free(c.q);
    free(c.recs);
    sg_buf_free(&pairs);

    int64_t total = (int64_t)c.n;
    if (!qbool(req, "sysparm_no_count")) {
        char count[24];
        snprintf(count, sizeof(count), "%lld", (long long)total);
        sg_http_set_header(req, "X-Total-Count", count);
    }
    if (!qbool(req, "sysparm_suppress_pagination_header"))
        link_header(req, sim->base_url, offset, limit, total, t);
    const char *ver = sg_http_param(req, "version");
    if (ver && strcmp(ver, "v1") == 0 && total == 0) {
        sg_json_decref(result);
        sim_reply_error(req, 404, NO_RECORD,
                        "Records matching query not found. Check query parameter or offset "
                        "parameter");
        return SG_OK;
    }
    return reply_result(req, 200, result);
}

/* ---- one record ---- */

int api_table_get(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sim_user u;
    if (!sim_api_enter(sim, req, &u))
        return SG_OK;
    const sim_table *t = table_or_400(req);
    if (!t)
        return SG_OK;
    render_ctx rc;
    sg_json *out = NULL;
    sim_db_rdlock(sim->db);
    sim_rec *r = sim_db_get(sim->db, t, sg_http_param(req, "sys_id"));
    if (r && sim_acl_can(sim->db, &u, r->t, "read", r, NULL, NULL, NULL)) {
        render_init(&rc, sim, req, &u, t);
        out = render(&rc, r);
        render_free(&rc);
    }
    sim_db_unlock(sim->db);
    if (!out) {
        sim_reply_error(req, 404, NO_RECORD, NO_RECORD_DETAIL);
        return SG_OK;
    }
    return reply_result(req, 200, out);
}

/* ---- writes ---- */

/* Parses the body as ServiceNow does: one JSON object (the first, if an array). */
static sg_json *body_object(sg_http_req *req)
{
    size_t len = 0;
    const char *body = sg_http_body(req, &len);
    sg_json *j = NULL;
    if (len == 0) {
        sim_reply_error(req, 400, "Exception while reading request", "No request body found");
        return NULL;
    }
    if (sg_json_parse(body, len, 0, 0, &j) != SG_OK) {
        sim_reply_error(req, 400, "Exception while reading request",
                        "The payload is not valid JSON.");
        return NULL;
    }
    if (sg_json_typeof(j) == SG_JSON_ARRAY) {
        sg_json *first = sg_json_array_get(j, 0);
        sg_json *keep = first ? sg_json_incref(first) : NULL;
        sg_json_decref(j);
        j = keep;
    }
    if (!j || sg_json_typeof(j) != SG_JSON_OBJECT) {
        sg_json_decref(j);
        sim_reply_error(req, 400, "Exception while reading request",
                        "The payload must be a JSON object.");
        return NULL;
    }
    return j;
}

/* Drops fields the user may not write; with sysparm_input_display_value, turns reference
 * display values into sys_ids. Returns a new object. Caller holds the write lock. */
static sg_json *writable_values(sg_sim *sim, sg_http_req *req, const sim_user *u,
                                const sim_table *t, const sim_rec *r, sg_json *in)
{
    bool fields_acl = has_field_acls(sim, t, "write");
    bool input_dv = qbool(req, "sysparm_input_display_value");
    sg_json *out = sg_json_object();
    for (void *it = sg_json_iter(in); it; it = sg_json_iter_next(in, it)) {
        const char *k = sg_json_iter_key(it);
        sg_json *v = sg_json_iter_value(it);
        const sim_field *fd = sim_dict_field(t, k);
        if (!fd)
            continue;
        if (fields_acl && r && !sim_acl_can(sim->db, u, t, "write", r, k, NULL, NULL))
            continue;
        if (input_dv && fd->type == SIM_REFERENCE && sg_json_str(v) && *sg_json_str(v)) {
            const sim_table *rt = sim_dict_table(fd->ref);
            const char *s = sg_json_str(v);
            if (rt && !sim_db_get(sim->db, rt, s) && rt->display) {
                sim_rec *target = sim_db_find(sim->db, rt, rt->display, s);
                if (target) {
                    sg_json_set_str(out, k, target->sys_id);
                    continue;
                }
            }
        }
        sg_json_set(out, k, sg_json_incref(v));
    }
    return out;
}

static bool touches_auth(const sim_table *t)
{
    static const char *const names[] = {"sys_user",
                                        "sys_user_has_role",
                                        "sys_user_role",
                                        "sys_user_role_contains",
                                        "sys_user_grmember",
                                        "sys_group_has_role",
                                        NULL};
    for (const char *const *n = names; *n; n++)
        if (strcmp(t->name, *n) == 0)
            return true;
    return false;
}

static void acl_denied(sg_http_req *req, const char *what)
{
    char detail[128];
    snprintf(detail, sizeof(detail), "ACL Exception %s Failed due to security constraints", what);
    sim_reply_error(req, 403, "Operation Failed", detail);
}

int api_table_create(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sim_user u;
    if (!sim_api_enter(sim, req, &u))
        return SG_OK;
    const sim_table *t = table_or_400(req);
    if (!t)
        return SG_OK;
    sg_json *body = body_object(req);
    if (!body)
        return SG_OK;
    int rc = SG_OK;
    sg_json *out = NULL;
    char location[400] = "";
    sim_db_wrlock(sim->db);
    if (!sim_acl_can(sim->db, &u, t, "create", NULL, NULL, NULL, NULL)) {
        sim_db_unlock(sim->db);
        sg_json_decref(body);
        acl_denied(req, "Insert");
        return SG_OK;
    }
    sg_json *values = writable_values(sim, req, &u, t, NULL, body);
    /* Task records remember who opened them; requests are for their opener by default. */
    if (sim_dict_field(t, "opened_by") && !sg_json_get(values, "opened_by"))
        sg_json_set_str(values, "opened_by", u.sys_id);
    if (sim_dict_field(t, "requested_for") && !sg_json_get(values, "requested_for"))
        sg_json_set_str(values, "requested_for", u.sys_id);
    sim_rec *r = NULL;
    rc = sim_rules_insert(sim, &u, t, values, &r, 0);
    if (rc == SG_OK) {
        render_ctx rcx;
        render_init(&rcx, sim, req, &u, t);
        out = render(&rcx, r);
        snprintf(location, sizeof(location), "%s%s/%s", rcx.link_prefix, t->name, r->sys_id);
        render_free(&rcx);
    }
    sim_db_unlock(sim->db);
    sg_json_decref(values);
    sg_json_decref(body);
    if (touches_auth(t))
        sim_auth_invalidate(sim->auth);
    if (rc == SG_ECONFLICT || rc == SG_EINVAL) {
        sim_reply_error(req, 400, "Operation Failed", sg_err_msg());
        return SG_OK;
    }
    if (rc == SG_EFORBIDDEN) {
        sim_reply_error(req, 403, "Operation Failed", sg_err_msg());
        return SG_OK;
    }
    if (rc != SG_OK)
        return rc;
    sg_http_set_header(req, "Location", location);
    return reply_result(req, 201, out);
}

int api_table_update(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sim_user u;
    if (!sim_api_enter(sim, req, &u))
        return SG_OK;
    const sim_table *t = table_or_400(req);
    if (!t)
        return SG_OK;
    sg_json *body = body_object(req);
    if (!body)
        return SG_OK;
    int rc = SG_OK;
    sg_json *out = NULL;
    bool found = false, allowed = false;
    sim_db_wrlock(sim->db);
    sim_rec *r = sim_db_get(sim->db, t, sg_http_param(req, "sys_id"));
    if (r && sim_acl_can(sim->db, &u, r->t, "read", r, NULL, NULL, NULL)) {
        found = true;
        allowed = sim_acl_can(sim->db, &u, r->t, "write", r, NULL, NULL, NULL);
    }
    if (found && allowed) {
        sg_json *values = writable_values(sim, req, &u, r->t, r, body);
        char id[33];
        memcpy(id, r->sys_id, sizeof(id));
        rc = sim_rules_update(sim, &u, r, values, 0);
        sg_json_decref(values);
        r = sim_db_get(sim->db, t, id);
        if (rc == SG_OK && r) {
            render_ctx rcx;
            render_init(&rcx, sim, req, &u, t);
            out = render(&rcx, r);
            render_free(&rcx);
        }
    }
    sim_db_unlock(sim->db);
    sg_json_decref(body);
    if (!found) {
        sim_reply_error(req, 404, NO_RECORD, NO_RECORD_DETAIL);
        return SG_OK;
    }
    if (!allowed) {
        acl_denied(req, "Update");
        return SG_OK;
    }
    if (touches_auth(t))
        sim_auth_invalidate(sim->auth);
    if (rc == SG_EFORBIDDEN) {
        sg_json_decref(out);
        sim_reply_error(req, 403, "Operation Failed", sg_err_msg());
        return SG_OK;
    }
    if (rc != SG_OK)
        return rc;
    return reply_result(req, 200, out);
}

int api_table_delete(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sim_user u;
    if (!sim_api_enter(sim, req, &u))
        return SG_OK;
    const sim_table *t = table_or_400(req);
    if (!t)
        return SG_OK;
    int rc = SG_OK;
    bool found = false, allowed = false;
    sim_db_wrlock(sim->db);
    sim_rec *r = sim_db_get(sim->db, t, sg_http_param(req, "sys_id"));
    if (r && sim_acl_can(sim->db, &u, r->t, "read", r, NULL, NULL, NULL)) {
        found = true;
        allowed = sim_acl_can(sim->db, &u, r->t, "delete", r, NULL, NULL, NULL);
        if (allowed)
            rc = sim_rules_delete(sim, &u, r, 0);
    }
    sim_db_unlock(sim->db);
    if (!found) {
        sim_reply_error(req, 404, NO_RECORD, NO_RECORD_DETAIL);
        return SG_OK;
    }
    if (!allowed) {
        acl_denied(req, "Delete");
        return SG_OK;
    }
    if (touches_auth(t))
        sim_auth_invalidate(sim->auth);
    if (rc == SG_EFORBIDDEN) {
        sim_reply_error(req, 403, "Operation Failed", sg_err_msg());
        return SG_OK;
    }
    if (rc != SG_OK)
        return rc;
    common_headers(req);
    return sg_http_reply(req, 204, NULL, "", 0);
}
