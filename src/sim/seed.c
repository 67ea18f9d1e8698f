/* seed: what a fresh instance has: the out-of-box tables and roles (oob.c), the admin user, the
 * Service Catalog, system properties, and the ACLs that keep non-admin users to their job. */
#include "core/err.h"
#include "core/log.h"
#include "sim/oob.h"
#include "sim/sim.h"

#include <string.h>

#define ADMIN_USER_ID      "6816f79cc0a8016401c5a33be04be441"
#define SERVICE_CATALOG_ID "e0d08b13c3330100c8b837659bba8fb4"

static int insert(sg_sim *sim, const char *table, sg_json *values, char out_id[33])
{
    sim_rec *r = NULL;
    int rc = sim_db_insert(sim->db, sim_dict_table(table), values, "system", &r);
    sg_json_decref(values);
    if (rc == SG_OK && out_id)
        memcpy(out_id, r->sys_id, 33);
    return rc;
}

/* The sys_id of an out-of-box role (sim_oob_seed made them all). */
static int role(sg_sim *sim, const char *name, char out[33])
{
    sim_rec *r = sim_db_find(sim->db, sim_dict_table("sys_user_role"), "name", name);
    if (!r)
        return sg_err_set(SG_ENOTFOUND, "the out-of-box role %s is missing", name);
    memcpy(out, r->sys_id, 33);
    return SG_OK;
}

static int acl(sg_sim *sim, const char *name, const char *op, const char *role_id,
               const char *condition)
{
    char id[33];
    sg_json *v = sg_json_object();
    sg_json_set_str(v, "name", name);
    sg_json_set_str(v, "operation", op);
    sg_json_set_str(v, "type", "record");
    if (condition)
        sg_json_set_str(v, "condition", condition);
    int rc = insert(sim, "sys_security_acl", v, id);
    if (rc == SG_OK && role_id) {
        sg_json *r = sg_json_object();
        sg_json_set_str(r, "sys_security_acl", id);
        sg_json_set_str(r, "sys_user_role", role_id);
        rc = insert(sim, "sys_security_acl_role", r, NULL);
    }
    return rc;
}

static int property(sg_sim *sim, const char *name, const char *value, const char *type)
{
    sg_json *v = sg_json_object();
    sg_json_set_str(v, "name", name);
    sg_json_set_str(v, "value", value);
    sg_json_set_str(v, "type", type);
    return insert(sim, "sys_properties", v, NULL);
}

static int seed_fresh(sg_sim *sim)
{
    char admin_role[33], security_admin[33], itil[33], approver[33];
    int rc = role(sim, "admin", admin_role);
    if (rc == SG_OK)
        rc = role(sim, "security_admin", security_admin);
    if (rc == SG_OK)
        rc = role(sim, "itil", itil);
    if (rc == SG_OK)
        rc = role(sim, "approver_user", approver);
    if (rc != SG_OK)
        return rc;

    sg_json *u = sg_json_object();
    sg_json_set_str(u, "sys_id", ADMIN_USER_ID);
    sg_json_set_str(u, "user_name", "admin");
    sg_json_set_str(u, "first_name", "System");
    sg_json_set_str(u, "last_name", "Administrator");
    sg_json_set_str(u, "email", "admin@example.com");
    sg_json_set_str(u, "user_password", sim->cfg.admin_password);
    rc = insert(sim, "sys_user", u, NULL);
    const char *admin_roles[] = {admin_role, security_admin};
    for (int i = 0; i < 2 && rc == SG_OK; i++) {
        sg_json *hr = sg_json_object();
        sg_json_set_str(hr, "user", ADMIN_USER_ID);
        sg_json_set_str(hr, "role", admin_roles[i]);
        rc = insert(sim, "sys_user_has_role", hr, NULL);
    }
    if (rc != SG_OK)
        return rc;

    sg_json *cat = sg_json_object();
    sg_json_set_str(cat, "sys_id", SERVICE_CATALOG_ID);
    sg_json_set_str(cat, "title", "Service Catalog");
    sg_json_set_str(cat, "description", "Service Catalog - your source for goods and services");
    rc = insert(sim, "sc_catalog", cat, NULL);

    if (rc == SG_OK)
        rc = property(sim, "glide.oauth.state.parameter.required", "true", "boolean");
    if (rc == SG_OK)
        rc = property(sim, "com.snc.platform.security.oauth.is.active", "true", "boolean");
    if (rc == SG_OK)
        rc = property(sim, "glide.appcreator.company.code", "snc", "string");

    /* Task work for itil; catalog and users readable by anyone signed in; approvals for
     * approvers, on the approvals they are the approver of. */
    static const char *const task_ops[] = {"read", "write", "create"};
    for (int i = 0; i < 3 && rc == SG_OK; i++)
        rc = acl(sim, "task", task_ops[i], itil, NULL);
    static const char *const readable[] = {"sys_user",    "sys_user_role", "sc_catalog",
                                           "sc_category", "sc_cat_item",   "item_option_new",
                                           NULL};
    for (const char *const *t = readable; *t && rc == SG_OK; t++)
        rc = acl(sim, *t, "read", NULL, NULL);
    if (rc == SG_OK)
        rc = acl(sim, "sysapproval_approver", "read", approver,
                 "approver=javascript:gs.getUserID()");
    if (rc == SG_OK)
        rc = acl(sim, "sysapproval_approver", "write", approver,
                 "approver=javascript:gs.getUserID()");
    if (rc == SG_OK)
        rc = acl(sim, "sys_journal_field", "read", itil, NULL);
    if (rc == SG_OK)
        rc = acl(sim, "sys_user_has_role", "read", NULL, "user=javascript:gs.getUserID()");
    return rc;
}

int sim_seed(sg_sim *sim)
{
    int rc = SG_OK;
    sim_db_wrlock(sim->db);
    const sim_table *users = sim_dict_table("sys_user");
    bool fresh = sim_db_get(sim->db, users, ADMIN_USER_ID) == NULL;
    if (fresh && (!sim->cfg.admin_password || !*sim->cfg.admin_password)) {
        rc = sg_err_set(SG_EINVAL, "a new instance needs the admin password: pass "
                                   "--admin-password PW or set SNOWSIM_ADMIN_PASSWORD");
        goto cleanup;
    }
    /* The out-of-box records: all of them on a fresh instance; on a data dir of an older
     * snowsim, those it lacks. */
    rc = sim_oob_seed(sim);
    if (rc != SG_OK)
        goto cleanup;
    if (fresh) {
        rc = seed_fresh(sim);
        if (rc == SG_OK)
            sg_log_info("seeded a fresh instance");
        goto cleanup;
    }
    sim_rec *admin = sim_db_get(sim->db, users, ADMIN_USER_ID);
    if (admin && sim->cfg.admin_password && *sim->cfg.admin_password &&
        !sim_password_check(sim_rec_get(admin, "user_password"), sim->cfg.admin_password)) {
        /* The flag is the source of truth for the admin password. */
        sg_json *v = sg_json_object();
        sg_json_set_str(v, "user_password", sim->cfg.admin_password);
        rc = sim_db_update(sim->db, admin, v, "system", NULL);
        sg_json_decref(v);
    }
cleanup:
    sim_db_unlock(sim->db);
    return rc;
}
