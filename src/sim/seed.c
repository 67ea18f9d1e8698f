/* seed: what a fresh instance has: the admin user and roles, the Service Catalog, system
 * properties, and the ACLs that keep non-admin users to their job. */
#include "core/err.h"
#include "core/log.h"
#include "sim/sim.h"

#include <string.h>

#define ADMIN_USER_ID      "6816f79cc0a8016401c5a33be04be441"
#define ADMIN_ROLE_ID      "2831a114c611228501d4ea6c309d626d"
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

static int role(sg_sim *sim, const char *name, const char *sys_id, char out[33])
{
    sg_json *v = sg_json_object();
    sg_json_set_str(v, "name", name);
    sg_json_set_str(v, "suffix", name);
    if (sys_id)
        sg_json_set_str(v, "sys_id", sys_id);
    return insert(sim, "sys_user_role", v, out);
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
    char admin_role[33], security_admin[33], itil[33], approver[33], catalog_admin[33];
    char internal[33];
    int rc = role(sim, "admin", ADMIN_ROLE_ID, admin_role);
    if (rc == SG_OK)
        rc = role(sim, "security_admin", NULL, security_admin);
    if (rc == SG_OK)
        rc = role(sim, "itil", NULL, itil);
    if (rc == SG_OK)
        rc = role(sim, "approver_user", NULL, approver);
    if (rc == SG_OK)
        rc = role(sim, "catalog_admin", NULL, catalog_admin);
    if (rc == SG_OK)
        rc = role(sim, "snc_internal", NULL, internal);
    if (rc == SG_OK)
        rc = role(sim, "rest_service", NULL, NULL);
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
    sim_rec *admin = sim_db_get(sim->db, sim_dict_table("sys_user"), ADMIN_USER_ID);
    if (!admin) {
        if (!sim->cfg.admin_password || !*sim->cfg.admin_password) {
            sim_db_unlock(sim->db);
            return sg_err_set(SG_EINVAL, "a new instance needs the admin password: pass "
                                         "--admin-password PW or set SNOWSIM_ADMIN_PASSWORD");
        }
        rc = seed_fresh(sim);
        if (rc == SG_OK)
            sg_log_info("seeded a fresh instance");
    } else if (sim->cfg.admin_password && *sim->cfg.admin_password &&
               !sim_password_check(sim_rec_get(admin, "user_password"), sim->cfg.admin_password)) {
        /* The flag is the source of truth for the admin password. */
        sg_json *v = sg_json_object();
        sg_json_set_str(v, "user_password", sim->cfg.admin_password);
        rc = sim_db_update(sim->db, admin, v, "system", NULL);
        sg_json_decref(v);
    }
    sim_db_unlock(sim->db);
    return rc;
}
