/* catalog_api: the Service Catalog API: list and read items, and order one (order_now),
 * which creates the request, the requested item, its variables and the approvals. */
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "sim/acl.h"
#include "sim/rules.h"
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sg_json *item_json(sg_sim *sim, const sim_rec *item, bool with_variables);

typedef struct vars_ctx {
    const char *item_id;
    sg_json *out;
} vars_ctx;

static bool each_var(void *ctx, sim_rec *r)
{
    vars_ctx *c = ctx;
    if (strcmp(sim_rec_get(r, "active"), "true") != 0)
        return true;
    sg_json *v = sg_json_object();
    sg_json_set_str(v, "id", r->sys_id);
    sg_json_set_str(v, "name", sim_rec_get(r, "name"));
    sg_json_set_str(v, "label", sim_rec_get(r, "question_text"));
    sg_json_set_str(v, "type", sim_rec_get(r, "type"));
    sg_json_set_bool(v, "mandatory", strcmp(sim_rec_get(r, "mandatory"), "true") == 0);
    sg_json_set_str(v, "value", sim_rec_get(r, "default_value"));
    sg_json_set_str(v, "displayvalue", sim_rec_get(r, "default_value"));
    sg_json_set_str(v, "help_text", sim_rec_get(r, "help_text"));
    sg_json_set_bool(v, "active", true);
    sg_json_append(c->out, v);
    return true;
}

/* The active variables of item vc->item_id, in insertion order. */
static void each_variable(sg_sim *sim, vars_ctx *vc)
{
    sim_db_each_eq(sim->db, sim_dict_table("item_option_new"), "cat_item", vc->item_id, each_var,
                   vc);
}

static sg_json *item_json(sg_sim *sim, const sim_rec *item, bool with_variables)
{
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "sys_id", item->sys_id);
    sg_json_set_str(o, "name", sim_rec_get(item, "name"));
    sg_json_set_str(o, "short_description", sim_rec_get(item, "short_description"));
    sg_json_set_str(o, "description", sim_rec_get(item, "description"));
    sg_json_set_str(o, "price", sim_rec_get(item, "price"));
    sg_json_set_str(o, "type", sim_rec_get(item, "type"));
    sg_json_set_str(o, "sys_class_name", item->t->name);
    sg_json_set_str(o, "order", sim_rec_get(item, "order"));
    sim_rec *cat =
        sim_db_get(sim->db, sim_dict_table("sc_category"), sim_rec_get(item, "category"));
    sg_json *category = sg_json_object();
    sg_json_set_str(category, "sys_id", cat ? cat->sys_id : "");
    sg_json_set_str(category, "title", cat ? sim_rec_get(cat, "title") : "");
    sg_json_set(o, "category", category);
    sg_json *catalogs = sg_json_array();
    sim_rec *catalog =
        cat ? sim_db_get(sim->db, sim_dict_table("sc_catalog"), sim_rec_get(cat, "sc_catalog"))
            : NULL;
    if (catalog) {
        sg_json *c = sg_json_object();
        sg_json_set_str(c, "sys_id", catalog->sys_id);
        sg_json_set_str(c, "title", sim_rec_get(catalog, "title"));
        sg_json_set_bool(c, "active", strcmp(sim_rec_get(catalog, "active"), "true") == 0);
        sg_json_append(catalogs, c);
    }
    sg_json_set(o, "catalogs", catalogs);
    if (with_variables) {
        vars_ctx vc = {item->sys_id, sg_json_array()};
        each_variable(sim, &vc);
        sg_json_set(o, "variables", vc.out);
    }
    return o;
}

typedef struct list_ctx {
    sg_sim *sim;
    const sim_user *u;
    const char *text;
    const char *category;
    sg_json *out;
    int64_t offset, limit, seen;
} list_ctx;

static bool each_item(void *ctx, sim_rec *r)
{
    list_ctx *c = ctx;
    if (strcmp(sim_rec_get(r, "active"), "true") != 0 ||
        !sim_acl_can(c->sim->db, c->u, r->t, "read", r, NULL, NULL, NULL))
        return true;
    if (c->category && *c->category && strcmp(sim_rec_get(r, "category"), c->category) != 0)
        return true;
    if (c->text && *c->text && !strcasestr(sim_rec_get(r, "name"), c->text) &&
        !strcasestr(sim_rec_get(r, "short_description"), c->text))
        return true;
    if (c->seen++ < c->offset)
        return true;
    if ((int64_t)sg_json_array_size(c->out) >= c->limit)
        return false;
    sg_json_append(c->out, item_json(c->sim, r, false));
    return true;
}

int api_catalog_items(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sim_user u;
    if (!sim_api_enter(sim, req, &u))
        return SG_OK;
    list_ctx c = {sim,
                  &u,
                  sg_http_query(req, "sysparm_text"),
                  sg_http_query(req, "sysparm_category"),
                  sg_json_array(),
                  0,
                  1000,
                  0};
    const char *l = sg_http_query(req, "sysparm_limit"), *o = sg_http_query(req, "sysparm_offset");
    if (l)
        sg_parse_i64(l, 1, 10000, "sysparm_limit", &c.limit);
    if (o)
        sg_parse_i64(o, 0, INT32_MAX, "sysparm_offset", &c.offset);
    sim_db_rdlock(sim->db);
    sim_db_each(sim->db, sim_dict_table("sc_cat_item"), each_item, &c);
    sim_db_unlock(sim->db);
    sg_json *root = sg_json_object();
    sg_json_set(root, "result", c.out);
    return sg_http_reply_json(req, 200, root);
}

int api_catalog_item(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sim_user u;
    if (!sim_api_enter(sim, req, &u))
        return SG_OK;
    sg_json *out = NULL;
    sim_db_rdlock(sim->db);
    sim_rec *item = sim_db_get(sim->db, sim_dict_table("sc_cat_item"), sg_http_param(req, "id"));
    if (item && sim_acl_can(sim->db, &u, item->t, "read", item, NULL, NULL, NULL))
        out = item_json(sim, item, true);
    sim_db_unlock(sim->db);
    if (!out) {
        sim_reply_error(req, 404, "No Record found", "Catalog item not found or not available");
        return SG_OK;
    }
    sg_json *root = sg_json_object();
    sg_json_set(root, "result", out);
    return sg_http_reply_json(req, 200, root);
}

typedef struct approver_ctx {
    sg_sim *sim;
    char ids[32][33];
    int n;
} approver_ctx;

static bool each_holder(void *ctx, sim_rec *r)
{
    approver_ctx *c = ctx;
    if (c->n < 32) {
        const char *uid = sim_rec_get(r, "user");
        for (int i = 0; i < c->n; i++)
            if (strcmp(c->ids[i], uid) == 0)
                return true;
        snprintf(c->ids[c->n++], 33, "%s", uid);
    }
    return true;
}

typedef struct order {
    const sim_user *u;
    sim_rec *item;
    sg_json *variables;
    const char *requested_for;
    int64_t quantity;
    char req_id[33], req_number[24];
} order;

static int check_variables(sg_sim *sim, order *o)
{
    vars_ctx vc = {o->item->sys_id, sg_json_array()};
    each_variable(sim, &vc);
    int rc = SG_OK;
    for (size_t i = 0; i < sg_json_array_size(vc.out) && rc == SG_OK; i++) {
        sg_json *v = sg_json_array_get(vc.out, i);
        bool mandatory = false;
        sg_json_get_bool(v, "mandatory", &mandatory);
        const char *given = sg_json_get_str(o->variables, sg_json_get_str(v, "name"));
        if (mandatory && (!given || !*given))
            rc = sg_err_set(SG_EINVAL, "Mandatory Variables are required: %s",
                            sg_json_get_str(v, "name"));
    }
    sg_json_decref(vc.out);
    return rc;
}

static int place_order(sg_sim *sim, order *o)
{
    const sim_user *u = o->u;
    sim_rec *req = NULL, *ritm = NULL;
    sg_json *v = sg_json_object();
    sg_json_set_str(v, "requested_for", o->requested_for);
    sg_json_set_str(v, "opened_by", u->sys_id);
    sg_json_set_str(v, "short_description", sim_rec_get(o->item, "name"));
    sg_json_set_str(v, "approval", "requested");
    int rc = sim_rules_insert(sim, u, sim_dict_table("sc_request"), v, &req, 0);
    sg_json_decref(v);
    if (rc != SG_OK)
        return rc;
    snprintf(o->req_id, sizeof(o->req_id), "%s", req->sys_id);
    snprintf(o->req_number, sizeof(o->req_number), "%s", sim_rec_get(req, "number"));

    v = sg_json_object();
    sg_json_set_str(v, "request", o->req_id);
    sg_json_set_str(v, "cat_item", o->item->sys_id);
    sg_json_set_str(v, "requested_for", o->requested_for);
    sg_json_set_str(v, "opened_by", u->sys_id);
    sg_json_set_int(v, "quantity", o->quantity);
    sg_json_set_str(v, "short_description", sim_rec_get(o->item, "short_description"));
    sg_json_set_str(v, "approval", "requested");
    rc = sim_rules_insert(sim, u, sim_dict_table("sc_req_item"), v, &ritm, 0);
    sg_json_decref(v);
    if (rc != SG_OK)
        return rc;
    char ritm_id[33];
    snprintf(ritm_id, sizeof(ritm_id), "%s", ritm->sys_id);

    /* Variables become sc_item_option records linked to the item. */
    vars_ctx vc = {o->item->sys_id, sg_json_array()};
    each_variable(sim, &vc);
    for (size_t i = 0; i < sg_json_array_size(vc.out) && rc == SG_OK; i++) {
        sg_json *var = sg_json_array_get(vc.out, i);
        const char *given = sg_json_get_str(o->variables, sg_json_get_str(var, "name"));
        sim_rec *opt = NULL;
        v = sg_json_object();
        sg_json_set_str(v, "item_option_new", sg_json_get_str(var, "id"));
        sg_json_set_str(v, "value", given ? given : sg_json_get_str(var, "value"));
        rc = sim_rules_insert(sim, u, sim_dict_table("sc_item_option"), v, &opt, 0);
        sg_json_decref(v);
        if (rc == SG_OK) {
            v = sg_json_object();
            sg_json_set_str(v, "request_item", ritm_id);
            sg_json_set_str(v, "sc_item_option", opt->sys_id);
            rc = sim_rules_insert(sim, u, sim_dict_table("sc_item_option_mtom"), v, NULL, 0);
            sg_json_decref(v);
        }
    }
    sg_json_decref(vc.out);

    /* Approvals: one for each user who holds approver_user. */
    sim_rec *role = sim_db_find(sim->db, sim_dict_table("sys_user_role"), "name", "approver_user");
    approver_ctx ac = {sim, {{0}}, 0};
    if (role)
        sim_db_each_eq(sim->db, sim_dict_table("sys_user_has_role"), "role", role->sys_id,
                       each_holder, &ac);
    for (int i = 0; i < ac.n && rc == SG_OK; i++) {
        v = sg_json_object();
        sg_json_set_str(v, "approver", ac.ids[i]);
        sg_json_set_str(v, "sysapproval", o->req_id);
        sg_json_set_str(v, "document_id", o->req_id);
        sg_json_set_str(v, "source_table", "sc_request");
        sg_json_set_str(v, "state", "requested");
        rc = sim_rules_insert(sim, u, sim_dict_table("sysapproval_approver"), v, NULL, 0);
        sg_json_decref(v);
    }
    return rc;
}

int api_catalog_order(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sim_user u;
    if (!sim_api_enter(sim, req, &u))
        return SG_OK;
    sg_json *body = NULL;
    size_t len = 0;
    const char *text = sg_http_body(req, &len);
    if (len && sg_json_parse(text, len, 0, 0, &body) != SG_OK) {
        sim_reply_error(req, 400, "Exception while reading request",
                        "The payload is not valid JSON.");
        return SG_OK;
    }
    if (!body)
        body = sg_json_object();
    order o;
    memset(&o, 0, sizeof(o));
    o.u = &u;
    o.quantity = 1;
    sg_json *q = sg_json_get(body, "sysparm_quantity");
    int64_t qi = 0;
    if (sg_json_int(q, &qi) ||
        (sg_json_str(q) && sg_parse_i64(sg_json_str(q), 1, 1000, "q", &qi) == SG_OK))
        o.quantity = qi;
    o.variables = sg_json_get(body, "variables");
    o.requested_for = sg_json_get_str(body, "sysparm_requested_for");
    if (!o.requested_for || !*o.requested_for)
        o.requested_for = u.sys_id;
    int rc = SG_OK;
    int status = 200;
    sim_db_wrlock(sim->db);
    o.item = sim_db_get(sim->db, sim_dict_table("sc_cat_item"), sg_http_param(req, "id"));
    if (!o.item || strcmp(sim_rec_get(o.item, "active"), "true") != 0 ||
        !sim_acl_can(sim->db, &u, o.item->t, "read", o.item, NULL, NULL, NULL)) {
        rc = sg_err_set(SG_ENOTFOUND, "Catalog item not found or not available");
        status = 404;
    } else if (o.quantity < 1 || o.quantity > 1000) {
        rc = sg_err_set(SG_EINVAL, "sysparm_quantity must be 1 to 1000");
        status = 400;
    } else if (!sim_db_get(sim->db, sim_dict_table("sys_user"), o.requested_for)) {
        rc = sg_err_set(SG_EINVAL, "sysparm_requested_for is not a user");
        status = 400;
    } else if ((rc = check_variables(sim, &o)) != SG_OK) {
        status = 400;
    } else {
        rc = place_order(sim, &o);
        status = rc == SG_OK ? 200 : 500;
    }
    sim_db_unlock(sim->db);
    sg_json_decref(body);
    if (rc != SG_OK) {
        sim_reply_error(req, status, status == 404 ? "No Record found" : "Order failed",
                        sg_err_msg());
        return SG_OK;
    }
    sg_json *res = sg_json_object();
    sg_json_set_str(res, "sys_id", o.req_id);
    sg_json_set_str(res, "number", o.req_number);
    sg_json_set_str(res, "request_number", o.req_number);
    sg_json_set_str(res, "request_id", o.req_id);
    sg_json_set_str(res, "table", "sc_request");
    sg_json *root = sg_json_object();
    sg_json_set(root, "result", res);
    return sg_http_reply_json(req, 200, root);
}
