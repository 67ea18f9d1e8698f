/* Tests for sim/auth roles and sim/acl evaluation. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/mem.h"
#include "sim/acl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const sg_embed_file sg_sim_migrations[];

typedef struct fx {
    char *dir;
    sg_store *st;
    sim_db *db;
} fx;

static void add(fx *f, const char *table, char *id_out, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(fx *f, const char *table, char *id_out, const char *fmt, ...)
{
    char json[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof(json), fmt, ap);
    va_end(ap);
    sg_json *v = NULL;
    assert_int_equal(sg_json_parse(json, strlen(json), 0, 0, &v), SG_OK);
    sim_rec *r = NULL;
    if (sim_db_insert(f->db, sim_dict_table(table), v, "test", &r) != SG_OK)
        fail_msg("insert %s: %s", table, sg_err_msg());
    if (id_out)
        memcpy(id_out, r->sys_id, 33);
    sg_json_decref(v);
}

static int setup(void **state)
{
    fx *f = sg_xcalloc(1, sizeof(*f));
    sim_dict_init();
    f->dir = h_tmpdir("simacl");
    char *url = sg_xasprintf("sqlite:%s/s.db", f->dir);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrations = sg_sim_migrations;
    assert_int_equal(sg_store_open(&o, &f->st), SG_OK);
    free(url);
    uint8_t key[SG_AEAD_KEY_LEN] = {0}; /* no password2 properties here */
    assert_int_equal(sim_db_open(f->st, key, &f->db), SG_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sim_db_free(f->db);
    sg_store_close(f->st);
    h_rmdir(f->dir);
    free(f->dir);
    free(f);
    sim_dict_free();
    return 0;
}

static void acl(fx *f, const char *name, const char *op, const char *role, const char *cond)
{
    char id[33];
    add(f, "sys_security_acl", id, "{\"name\":\"%s\",\"operation\":\"%s\",\"condition\":\"%s\"}",
        name, op, cond ? cond : "");
    if (role)
        add(f, "sys_security_acl_role", NULL,
            "{\"sys_security_acl\":\"%s\",\"sys_user_role\":\"%s\"}", id, role);
}

static void test_roles_and_acls(void **state)
{
    fx *f = *state;
    char admin[33], svc[33], reader[33], grp_role[33], u1[33], u2[33], grp[33];
    add(f, "sys_user_role", admin, "{\"name\":\"admin\"}");
    add(f, "sys_user_role", svc, "{\"name\":\"snowgate_service_account_role\"}");
    add(f, "sys_user_role", reader, "{\"name\":\"catalog_reader\"}");
    add(f, "sys_user_role", grp_role, "{\"name\":\"via_group\"}");
    /* The service role contains catalog_reader, which contains it back: cycles end. */
    add(f, "sys_user_role_contains", NULL, "{\"role\":\"%s\",\"contains\":\"%s\"}", svc, reader);
    add(f, "sys_user_role_contains", NULL, "{\"role\":\"%s\",\"contains\":\"%s\"}", reader, svc);
    add(f, "sys_user", u1, "{\"user_name\":\"snowgate.service\"}");
    add(f, "sys_user", u2, "{\"user_name\":\"nobody\"}");
    add(f, "sys_user_has_role", NULL, "{\"user\":\"%s\",\"role\":\"%s\"}", u1, svc);
    add(f, "sys_user_group", grp, "{\"name\":\"Approvers\"}");
    add(f, "sys_user_grmember", NULL, "{\"user\":\"%s\",\"group\":\"%s\"}", u1, grp);
    add(f, "sys_group_has_role", NULL, "{\"group\":\"%s\",\"role\":\"%s\"}", grp, grp_role);

    sim_user s, n;
    assert_int_equal(sim_auth_load_user(f->db, u1, &s), SG_OK);
    assert_true(sim_user_has_role(&s, "snowgate_service_account_role"));
    assert_true(sim_user_has_role(&s, "catalog_reader"));
    assert_true(sim_user_has_role(&s, "via_group"));
    assert_false(sim_user_is_admin(&s));
    assert_int_equal(sim_auth_load_user(f->db, u2, &n), SG_OK);
    assert_int_equal(n.nroles, 0);

    const sim_table *req = sim_dict_table("sc_request");
    const sim_table *task = sim_dict_table("task");
    /* No ACL at all: denied (deny by default). */
    assert_false(sim_acl_can(f->db, &s, req, "read", NULL, NULL, NULL, NULL));
    /* An ACL on the parent table applies to the child. */
    acl(f, "task", "read", reader, NULL);
    assert_true(sim_acl_can(f->db, &s, req, "read", NULL, NULL, NULL, NULL));
    assert_false(sim_acl_can(f->db, &n, req, "read", NULL, NULL, NULL, NULL));
    /* A more specific ACL wins over the parent's: now only the service role passes. */
    acl(f, "sc_request", "create", svc, NULL);
    assert_true(sim_acl_can(f->db, &s, req, "create", NULL, NULL, NULL, NULL));
    assert_false(sim_acl_can(f->db, &s, task, "create", NULL, NULL, NULL, NULL));
    /* An ACL without roles grants every authenticated user. */
    acl(f, "sc_catalog", "read", NULL, NULL);
    assert_true(
        sim_acl_can(f->db, &n, sim_dict_table("sc_catalog"), "read", NULL, NULL, NULL, NULL));
    /* Conditions apply to records. */
    acl(f, "sys_user_has_role", "read", NULL, "user=javascript:gs.getUserID()");
    sim_rec *mine = sim_db_find(f->db, sim_dict_table("sys_user_has_role"), "user", u1);
    assert_non_null(mine);
    assert_true(sim_acl_can(f->db, &s, mine->t, "read", mine, NULL, NULL, NULL));
    assert_false(sim_acl_can(f->db, &n, mine->t, "read", mine, NULL, NULL, NULL));
    /* Field ACLs: none means allowed; table.field beats table.*. */
    assert_true(sim_acl_can(f->db, &s, req, "write", NULL, "description", NULL, NULL));
    acl(f, "sc_request.*", "write", admin, NULL);
    acl(f, "sc_request.description", "write", svc, NULL);
    assert_true(sim_acl_can(f->db, &s, req, "write", NULL, "description", NULL, NULL));
    assert_false(sim_acl_can(f->db, &s, req, "write", NULL, "price", NULL, NULL));
    /* A scripted ACL grants only through the script engine. */
    char sid[33];
    add(f, "sys_security_acl", sid,
        "{\"name\":\"incident\",\"operation\":\"read\",\"advanced\":true,\"script\":\"answer="
        "true\"}");
    assert_false(
        sim_acl_can(f->db, &s, sim_dict_table("incident"), "read", NULL, NULL, NULL, NULL));
    /* admin passes everything. */
    sim_user a;
    memset(&a, 0, sizeof(a));
    memcpy(a.roles[0], "admin", 6);
    a.nroles = 1;
    assert_true(
        sim_acl_can(f->db, &a, sim_dict_table("sys_properties"), "delete", NULL, NULL, NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roles_and_acls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
