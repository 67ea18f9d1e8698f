/* acl: ACL evaluation as ServiceNow does it. ACLs are matched from the most specific name to
 * the least (table, then the tables it extends, then "*"); the first level with any active ACL
 * for the operation decides, and it grants when one of its ACLs passes. No ACL at any level
 * denies (the deny-by-default mode of current instances). admin passes every ACL. */
#include "sim/acl.h"

#include "core/mem.h"
#include "sim/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct level_ctx {
    sim_db *db;
    const sim_user *u;
    const char *name;
    const char *operation;
    const sim_rec *r;
    sim_acl_script_fn script;
    void *sctx;
    bool found;
    bool granted;
} level_ctx;

typedef struct role_ctx {
    sim_db *db;
    const sim_user *u;
    bool any_role;
    bool has;
} role_ctx;

static bool each_acl_role(void *ctx, sim_rec *r)
{
    role_ctx *c = ctx;
    c->any_role = true;
    sim_rec *role =
        sim_db_get(c->db, sim_dict_table("sys_user_role"), sim_rec_get(r, "sys_user_role"));
    if (role && sim_user_has_role(c->u, sim_rec_get(role, "name"))) {
        c->has = true;
        return false;
    }
    return true;
}

static bool acl_passes(level_ctx *c, sim_rec *acl)
{
    role_ctx rc = {c->db, c->u, false, false};
    sim_db_each_eq(c->db, sim_dict_table("sys_security_acl_role"), "sys_security_acl", acl->sys_id,
                   each_acl_role, &rc);
    if (rc.any_role && !rc.has)
        return false;
    const char *cond = sim_rec_get(acl, "condition");
    if (*cond && c->r) {
        sim_query *q = NULL;
        sim_query_parse(cond, c->r->t, &q);
        sim_qctx qc = {c->db, c->u->sys_id, c->u->user_name, NULL};
        bool ok = sim_query_match(q, &qc, c->r);
        sim_query_free(q);
        if (!ok)
            return false;
    }
    const char *script = sim_rec_get(acl, "script");
    if (*script && strcmp(sim_rec_get(acl, "advanced"), "true") == 0)
        return c->script && c->script(c->sctx, script, c->u, c->r);
    return true;
}

static bool each_acl(void *ctx, sim_rec *acl)
{
    level_ctx *c = ctx;
    if (strcmp(sim_rec_get(acl, "active"), "true") != 0 ||
        strcmp(sim_rec_get(acl, "operation"), c->operation) != 0)
        return true;
    const char *type = sim_rec_get(acl, "type");
    if (*type && strcmp(type, "record") != 0)
        return true;
    c->found = true;
    if (acl_passes(c, acl)) {
        c->granted = true;
        return false;
    }
    return true;
}

/* Evaluates one ACL name; returns true when ACLs exist at that name (and sets *granted). */
static bool level(sim_db *db, const sim_user *u, const char *name, const char *operation,
                  const sim_rec *r, sim_acl_script_fn script, void *sctx, bool *granted)
{
    level_ctx c = {db, u, name, operation, r, script, sctx, false, false};
    sim_db_each_eq(db, sim_dict_table("sys_security_acl"), "name", name, each_acl, &c);
    *granted = c.granted;
    return c.found;
}

bool sim_acl_can(sim_db *db, const sim_user *u, const sim_table *t, const char *operation,
                 const sim_rec *r, const char *field, sim_acl_script_fn script, void *sctx)
{
    if (sim_user_is_admin(u))
        return true;
    bool granted = false;
    char name[256];
    if (!field) {
        for (const sim_table *x = t; x; x = sim_dict_parent(x))
            if (level(db, u, x->name, operation, r, script, sctx, &granted))
                return granted;
        if (level(db, u, "*", operation, r, script, sctx, &granted))
            return granted;
        return false;
    }
    for (const sim_table *x = t; x; x = sim_dict_parent(x)) {
        snprintf(name, sizeof(name), "%s.%s", x->name, field);
        if (level(db, u, name, operation, r, script, sctx, &granted))
            return granted;
    }
    snprintf(name, sizeof(name), "*.%s", field);
    if (level(db, u, name, operation, r, script, sctx, &granted))
        return granted;
    for (const sim_table *x = t; x; x = sim_dict_parent(x)) {
        snprintf(name, sizeof(name), "%s.*", x->name);
        if (level(db, u, name, operation, r, script, sctx, &granted))
            return granted;
    }
    if (level(db, u, "*.*", operation, r, script, sctx, &granted))
        return granted;
    return true;
}
