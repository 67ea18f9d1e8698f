/* End to end: what snowsim knows out of the box (the tables of sys_db_object with their
 * super_class chain, the out-of-box roles with their real sys_ids, contained roles), and the
 * upgrade of a data dir an older snowsim left, whose roles had snowsim's own sys_ids. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "sim/records.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The out-of-box roles with a sys_id from public sources (docs/snowsim.md). */
static const struct {
    const char *name, *sys_id;
} real_roles[] = {
    {"admin", "2831a114c611228501d4ea6c309d626d"},
    {"security_admin", "b2d8f7130a0a0baa5bf52498ecaadeb4"},
    {"itil", "282bf1fac6112285017366cb5f867469"},
    {"approver_user", "debab85bff02110053ccffffffffffb6"},
    {"catalog", "e098ecf6c0a80165002aaec84d906014"},
    {"catalog_admin", "e09d16f2c0a8016501281264b989e1db"},
    {"catalog_editor", "d2b8c44a5f2111001c9b2572f2b47748"},
    {"catalog_manager", "2ea71c5a5f2111001c9b2572f2b4773c"},
    {"user_admin", "049d55090a0a0a660162aa57a266b241"},
    {"rest_service", "3dfd67229f22110041a496fcc67fcf6c"},
};

#define NROLES (sizeof(real_roles) / sizeof(real_roles[0]))

/* The snowsim a test runs, and its data dir when the test made its own: stopped and removed by
 * the teardown even when the test fails half way. */
static h_sim sim;
static char *sim_dir;

static int teardown(void **state)
{
    (void)state;
    if (sim.p.pid)
        h_sim_stop(&sim);
    if (sim_dir)
        h_rmdir(sim_dir);
    free(sim_dir);
    sim_dir = NULL;
    return 0;
}

/* The records of table matching query (fields: sysparm_fields); the caller frees. */
static sg_json *list(const h_sim *s, const char *table, const char *query, const char *fields)
{
    const char *admin[] = {s->admin_auth, NULL};
    char *path = sg_xasprintf("/api/now/table/%s?sysparm_query=%s&sysparm_fields=%s"
                              "&sysparm_exclude_reference_link=true",
                              table, query, fields);
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", s->p.url, path, admin, NULL, &j, NULL), 200);
    free(path);
    sg_json *res = sg_json_incref(sg_json_get(j, "result"));
    sg_json_decref(j);
    return res;
}

/* The sys_id of the one role named name ("" when there is none; fails when there are more). */
static void role_id(const h_sim *s, const char *name, char out[33])
{
    char q[128];
    snprintf(q, sizeof(q), "name=%s", name);
    sg_json *r = list(s, "sys_user_role", q, "sys_id");
    assert_true(sg_json_array_size(r) <= 1);
    snprintf(out, 33, "%s",
             sg_json_array_size(r) ? sg_json_get_str(sg_json_array_get(r, 0), "sys_id") : "");
    sg_json_decref(r);
}

/* Every role of real_roles has its real sys_id (but `except`, when given). */
static void expect_real_roles(const h_sim *s, const char *except)
{
    for (size_t i = 0; i < NROLES; i++) {
        char id[33];
        if (except && strcmp(real_roles[i].name, except) == 0)
            continue;
        role_id(s, real_roles[i].name, id);
        if (strcmp(id, real_roles[i].sys_id) != 0)
            fail_msg("role %s has sys_id '%s', not %s", real_roles[i].name, id,
                     real_roles[i].sys_id);
    }
}

static void test_fresh(void **state)
{
    (void)state;
    h_sim_start(&sim, NULL, NULL);
    expect_real_roles(&sim, NULL);
    /* Roles with no public sys_id are there too, under snowsim's own. */
    static const char *const own[] = {"snc_internal",       "web_service_admin",
                                      "import_admin",       "import_set_loader",
                                      "import_transformer", "import_scheduler"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        char id[33];
        role_id(&sim, own[i], id);
        assert_int_equal(strlen(id), 32);
    }

    /* The dictionary: names, labels, the super_class chain; the sys_ids seen publicly. */
    static const struct {
        const char *name, *label, *parent;
    } tables[] = {
        {"task", "Task", ""},
        {"incident", "Incident", "task"},
        {"sc_request", "Request", "task"},
        {"sc_req_item", "Requested Item", "task"},
        {"sys_import_set_row", "Import Set Row", ""},
        {"sys_metadata", "Application File", ""},
        {"sys_script", "Business Rule", "sys_metadata"},
        {"cmdb_ci", "Configuration Item", "cmdb"},
        {"cmdb_ci_linux_server", "Linux Server", "cmdb_ci_server"},
        {"cmdb_ci_server", "Server", "cmdb_ci_computer"},
        {"sys_remote_update_set", "Retrieved Update Set", ""},
    };
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char q[128];
        snprintf(q, sizeof(q), "name=%s", tables[i].name);
        sg_json *r = list(&sim, "sys_db_object", q, "label,super_class.name");
        assert_int_equal(sg_json_array_size(r), 1);
        sg_json *t = sg_json_array_get(r, 0);
        assert_string_equal(sg_json_get_str(t, "label"), tables[i].label);
        assert_string_equal(sg_json_get_str(t, "super_class.name"), tables[i].parent);
        sg_json_decref(r);
    }
    sg_json *r = list(&sim, "sys_db_object", "sys_id=3437eb45dd2003003399d83d70be02e5", "name");
    assert_int_equal(sg_json_array_size(r), 1);
    assert_string_equal(sg_json_get_str(sg_json_array_get(r, 0), "name"), "sys_import_set_row");
    sg_json_decref(r);
    /* Every table snowsim models has its sys_db_object record. */
    r = list(&sim, "sys_db_object",
             "name=sysapproval_approver^ORname=sys_update_xml^ORname="
             "oauth_credential^ORname=item_option_new",
             "name");
    assert_int_equal(sg_json_array_size(r), 4);
    sg_json_decref(r);
    /* A base table snowsim does not model answers as a table, empty. */
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/cmdb_ci", admin, NULL, &j, NULL),
                     200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 0);
    sg_json_decref(j);

    /* Contained roles, as documented. */
    r = list(&sim, "sys_user_role_contains", "role.name=catalog_admin", "contains.name");
    assert_int_equal(sg_json_array_size(r), 1);
    assert_string_equal(sg_json_get_str(sg_json_array_get(r, 0), "contains.name"), "catalog");
    sg_json_decref(r);
    r = list(&sim, "sys_user_role_contains", "role.name=admin", "contains.name");
    assert_int_equal(sg_json_array_size(r), 6);
    sg_json_decref(r);
    h_sim_stop(&sim);
}

/* ---- a data dir an older snowsim left ---- */

typedef struct sql_ctx {
    const char *const *stmts;
} sql_ctx;

static int run_sql(sg_conn *c, void *ctx)
{
    int rc = SG_OK;
    for (const char *const *s = ((sql_ctx *)ctx)->stmts; *s && rc == SG_OK; s++)
        rc = sg_conn_exec(c, *s, NULL, 0, NULL);
    return rc;
}

static void sql(const char *dir, const char *const *stmts)
{
    char *url = sg_xasprintf("sqlite:%s/snowsim.db", dir);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrate = false;
    o.pool_size = 1;
    sg_store *st = NULL;
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    sql_ctx c = {stmts};
    if (sg_store_tx(st, run_sql, &c) != SG_OK)
        fail_msg("sql: %s", sg_err_msg());
    sg_store_close(st);
    free(url);
}

static void test_upgrade(void **state)
{
    (void)state;
    sim_dir = h_tmpdir("snowsim-old");
    h_sim_start(&sim, sim_dir, NULL);
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    /* A user with itil (as a grant), an incident, and roles a user made that share an
     * out-of-box name: one the old seed lacked, one that has a real sys_id. */
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sys_user", admin,
                            "{\"user_name\":\"tech\",\"user_password\":\"Tech-pw-1\"}", &j, NULL),
                     201);
    char tech[33];
    snprintf(tech, sizeof(tech), "%s", sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    char body[256];
    snprintf(body, sizeof(body), "{\"user\":\"%s\",\"role\":\"282bf1fac6112285017366cb5f867469\"}",
             tech);
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/now/table/sys_user_has_role", admin, body, &j, NULL), 201);
    sg_json_decref(j);
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/incident", admin,
                            "{\"short_description\":\"printer\"}", &j, NULL),
                     201);
    sg_json_decref(j);
    char mine_wsa[33], mine_cm[33];
    sim_new_sys_id(mine_wsa);
    sim_new_sys_id(mine_cm);
    snprintf(body, sizeof(body), "{\"sys_id\":\"%s\",\"name\":\"web_service_admin_mine\"}",
             mine_wsa);
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/now/table/sys_user_role", admin, body, &j, NULL), 201);
    sg_json_decref(j);
    snprintf(body, sizeof(body), "{\"sys_id\":\"%s\",\"name\":\"catalog_manager_mine\"}", mine_cm);
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/now/table/sys_user_role", admin, body, &j, NULL), 201);
    sg_json_decref(j);
    h_sim_stop(&sim);

    /* Turn it into what an older snowsim left: its roles (admin aside) under snowsim's own
     * sys_ids, everywhere they are referred to; no tables in sys_db_object, no contained
     * roles, none of the roles it did not seed; the two roles the user made carry the
     * out-of-box names. */
    char old_itil[33], old_sa[33], old_appr[33], old_cat[33], old_rest[33];
    sim_new_sys_id(old_itil);
    sim_new_sys_id(old_sa);
    sim_new_sys_id(old_appr);
    sim_new_sys_id(old_cat);
    sim_new_sys_id(old_rest);
    char *rk[5][2] = {{"282bf1fac6112285017366cb5f867469", old_itil},
                      {"b2d8f7130a0a0baa5bf52498ecaadeb4", old_sa},
                      {"debab85bff02110053ccffffffffffb6", old_appr},
                      {"e09d16f2c0a8016501281264b989e1db", old_cat},
                      {"3dfd67229f22110041a496fcc67fcf6c", old_rest}};
    char *stmts[32];
    int n = 0;
    for (int i = 0; i < 5; i++) {
        stmts[n++] =
            sg_xasprintf("UPDATE records SET data = replace(data, '%s', '%s')", rk[i][0], rk[i][1]);
        stmts[n++] = sg_xasprintf("UPDATE records SET sys_id = '%s' WHERE sys_id = '%s'", rk[i][1],
                                  rk[i][0]);
    }
    stmts[n++] = sg_xstrdup(
        "DELETE FROM records WHERE tbl = 'sys_user_role' AND "
        "json_extract(data, '$.sys_created_by') = 'system' AND json_extract(data, '$.name') IN "
        "('catalog', 'catalog_editor', 'catalog_manager', 'user_admin', 'web_service_admin', "
        "'import_admin', 'import_set_loader', 'import_transformer', 'import_scheduler')");
    stmts[n++] = sg_xstrdup("DELETE FROM records WHERE tbl IN ('sys_db_object', "
                            "'sys_user_role_contains')");
    stmts[n++] = sg_xstrdup("DELETE FROM sim_meta WHERE key = 'oob_seed'");
    stmts[n++] = sg_xstrdup("UPDATE records SET data = replace(data, 'web_service_admin_mine', "
                            "'web_service_admin') WHERE tbl = 'sys_user_role'");
    stmts[n++] = sg_xstrdup("UPDATE records SET data = replace(data, 'catalog_manager_mine', "
                            "'catalog_manager') WHERE tbl = 'sys_user_role'");
    stmts[n] = NULL;
    sql(sim_dir, (const char *const *)stmts);
    for (int i = 0; i < n; i++)
        free(stmts[i]);

    /* The new snowsim on it. */
    h_sim_start(&sim, sim_dir, NULL);
    expect_real_roles(&sim, "catalog_manager"); /* the user's: below */
    /* The user's grant, and the ACL that lets itil read tasks, moved with the role. */
    char *q = sg_xasprintf("user=%s", tech);
    sg_json *r = list(&sim, "sys_user_has_role", q, "role");
    free(q);
    assert_int_equal(sg_json_array_size(r), 1);
    assert_string_equal(sg_json_get_str(sg_json_array_get(r, 0), "role"),
                        "282bf1fac6112285017366cb5f867469");
    sg_json_decref(r);
    char *as_tech_hdr = h_basic("tech", "Tech-pw-1");
    const char *as_tech[] = {as_tech_hdr, NULL};
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/incident", as_tech, NULL, &j, NULL),
                     200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    free(as_tech_hdr);
    /* No record still refers to an old sys_id. */
    for (int i = 0; i < 5; i++) {
        static const char *const tables[] = {"sys_user_role", "sys_user_has_role",
                                             "sys_security_acl_role", "sys_user_role_contains"};
        for (int k = 0; k < 4; k++) {
            const char *fields[] = {"sys_id", "role", "sys_user_role", "contains"};
            char *qq = sg_xasprintf("%s=%s", fields[k], rk[i][1]);
            sg_json *none = list(&sim, tables[k], qq, "sys_id");
            assert_int_equal(sg_json_array_size(none), 0);
            sg_json_decref(none);
            free(qq);
        }
    }
    /* The roles the user made keep their sys_ids, and are not doubled. */
    char id[33];
    role_id(&sim, "web_service_admin", id);
    assert_string_equal(id, mine_wsa);
    role_id(&sim, "catalog_manager", id);
    assert_string_equal(id, mine_cm);
    /* The dictionary and the contained roles arrived. */
    r = list(&sim, "sys_db_object", "name=incident", "super_class.name");
    assert_int_equal(sg_json_array_size(r), 1);
    assert_string_equal(sg_json_get_str(sg_json_array_get(r, 0), "super_class.name"), "task");
    sg_json_decref(r);
    r = list(&sim, "sys_user_role_contains", "role.name=catalog_admin", "contains.name");
    assert_int_equal(sg_json_array_size(r), 1);
    sg_json_decref(r);
    sg_json *roles = list(&sim, "sys_user_role", "", "sys_id");
    size_t nroles = sg_json_array_size(roles);
    sg_json_decref(roles);
    h_sim_stop(&sim);

    /* Once only: a later start changes nothing. */
    h_sim_start(&sim, sim_dir, NULL);
    roles = list(&sim, "sys_user_role", "", "sys_id");
    assert_int_equal(sg_json_array_size(roles), nroles);
    sg_json_decref(roles);
    h_sim_stop(&sim);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_fresh, teardown),
        cmocka_unit_test_teardown(test_upgrade, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
