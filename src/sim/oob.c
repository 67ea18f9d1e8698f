/* oob: the out-of-box dictionary and roles, from public sources, seeded once per data dir. */
#include "sim/oob.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sim_meta's row recording which version of this seed a data dir has. Raise the version when
 * the lists below grow, so older data dirs get what is new (and only that) on their next
 * start. */
#define META_OOB_SEED    "oob_seed"
#define OOB_SEED_VERSION "1"

typedef struct oob_table {
    const char *name, *label;
    const char *super_class; /* a table earlier in the list, or NULL */
    const char *sys_id;      /* as seen on a real instance, or NULL for snowsim's own */
} oob_table;

/* Tables: every table snowsim models, and the base tables update sets commonly extend; parents
 * before children. Labels are the ones ServiceNow's documentation gives ("Label [name]"). A
 * super_class is set where the documentation or real exports show it (an export's records of
 * sys_metadata's children carry sys_metadata's fields: sys_update_name, sys_package,
 * sys_scope); elsewhere it is empty. Tables have no common sys_id: each instance has its own
 * (docs/snowsim.md), so update sets name their super_class and references to sys_db_object
 * are matched by name (sim_oob_by_name). The two sys_ids given were seen on real instances. */
static const oob_table oob_tables[] = {
    {"sys_metadata", "Application File", NULL, NULL},
    {"sys_db_object", "Table", "sys_metadata", NULL},
    {"sys_user_role", "Role", "sys_metadata", NULL},
    {"sys_user_role_contains", "Contained Role", "sys_metadata", NULL},
    {"sys_security_acl", "Access Control", "sys_metadata", NULL},
    {"sys_security_acl_role", "Access Roles", "sys_metadata", NULL},
    {"sys_properties", "System Property", "sys_metadata", NULL},
    {"sys_script", "Business Rule", "sys_metadata", NULL},
    {"sys_ws_definition", "Scripted REST Service", "sys_metadata", NULL},
    {"sys_ws_operation", "Scripted REST Resource", "sys_metadata", NULL},
    {"sys_user", "User", NULL, NULL},
    {"sys_user_group", "Group", NULL, NULL},
    {"sys_user_grmember", "Group Member", NULL, NULL},
    {"sys_user_has_role", "User Role", NULL, NULL},
    {"sys_group_has_role", "Group Role", NULL, NULL},
    {"sys_rate_limit_rules", "Rate Limit Rules", NULL, NULL},
    {"oauth_entity", "Application Registries", NULL, NULL},
    {"oauth_credential", "OAuth Credentials", NULL, NULL},
    {"sc_catalog", "Catalog", NULL, NULL},
    {"sc_category", "Category", NULL, NULL},
    {"sc_cat_item", "Catalog Item", NULL, NULL},
    {"sc_cat_item_category", "Catalog Item Category", NULL, NULL},
    {"item_option_new", "Variables", NULL, NULL},
    {"sc_item_option", "Options", NULL, NULL},
    {"sc_item_option_mtom", "Variable Ownership", NULL, NULL},
    /* e3f033c4...: task's sys_id on dev57744 (getint.io's list of the REST calls it makes). */
    {"task", "Task", NULL, "e3f033c4c923101091f9f06464832716"},
    {"sc_request", "Request", "task", NULL},
    {"sc_req_item", "Requested Item", "task", NULL},
    {"sc_task", "Catalog Task", "task", NULL},
    {"incident", "Incident", "task", NULL},
    {"problem", "Problem", "task", NULL},
    {"change_request", "Change Request", "task", NULL},
    {"sysapproval_approver", "Approval", NULL, NULL},
    {"sys_journal_field", "Journal Entry", NULL, NULL},
    {"sys_remote_update_set", "Retrieved Update Set", NULL, NULL},
    {"sys_update_xml", "Customer Update", NULL, NULL},
    {"sys_update_preview_problem", "Update Set Preview Problem", NULL, NULL},
    {"sys_execution_tracker", "Execution Tracker", NULL, NULL},
    {"sys_import_set", "Import Set", NULL, NULL},
    /* 3437eb45...: the super_class of the tables in fixture ToneyTime (2017). */
    {"sys_import_set_row", "Import Set Row", NULL, "3437eb45dd2003003399d83d70be02e5"},
    {"cmdb", "Base Configuration Item", NULL, NULL},
    {"cmdb_ci", "Configuration Item", "cmdb", NULL},
    {"cmdb_ci_hardware", "Hardware", "cmdb_ci", NULL},
    {"cmdb_ci_computer", "Computer", "cmdb_ci_hardware", NULL},
    {"cmdb_ci_server", "Server", "cmdb_ci_computer", NULL},
    {"cmdb_ci_linux_server", "Linux Server", "cmdb_ci_server", NULL},
    {"cmdb_ci_win_server", "Windows Server", "cmdb_ci_server", NULL},
    {"cmdb_ci_appl", "Application", "cmdb_ci", NULL},
    {"cmdb_ci_service", "Service", "cmdb_ci", NULL},
};

typedef struct oob_role {
    const char *name;
    const char *sys_id; /* the same on every instance, or NULL: not found in public sources */
} oob_role;

/* Roles integrations use. Out-of-box roles have the same sys_id on every instance; the source
 * of each is in docs/snowsim.md: [A] the fixture anurampalli (an ACL's role) and ServiceNow
 * KB0687701; [T] the fixture ToneyTime (a contained role); [L] lerwine/SetupAndConfig
 * xml/sys_group_has_role.xml, an export of a real instance's group roles; [F]
 * modesty/fluent-mcp res/snippet/fluent_snippet_acl_0004.md (an ACL "Only security admin role
 * can read"). */
static const oob_role oob_roles[] = {
    {"admin", "2831a114c611228501d4ea6c309d626d"},           /* [A] */
    {"security_admin", "b2d8f7130a0a0baa5bf52498ecaadeb4"},  /* [F] */
    {"itil", "282bf1fac6112285017366cb5f867469"},            /* [L] */
    {"approver_user", "debab85bff02110053ccffffffffffb6"},   /* [L] */
    {"catalog", "e098ecf6c0a80165002aaec84d906014"},         /* [L] */
    {"catalog_admin", "e09d16f2c0a8016501281264b989e1db"},   /* [L] */
    {"catalog_editor", "d2b8c44a5f2111001c9b2572f2b47748"},  /* [L] */
    {"catalog_manager", "2ea71c5a5f2111001c9b2572f2b4773c"}, /* [L] */
    {"user_admin", "049d55090a0a0a660162aa57a266b241"},      /* [L] */
    {"rest_service", "3dfd67229f22110041a496fcc67fcf6c"},    /* [T] */
    {"snc_internal", NULL},
    {"web_service_admin", NULL},
    {"import_admin", NULL},
    {"import_set_loader", NULL},
    {"import_transformer", NULL},
    {"import_scheduler", NULL},
};

/* Contained roles, as ServiceNow's "Base system roles" page lists them (Yokohama), among the
 * roles above. */
static const struct {
    const char *role, *contains;
} oob_contains[] = {
    {"admin", "catalog"},
    {"admin", "catalog_admin"},
    {"admin", "import_admin"},
    {"admin", "import_scheduler"},
    {"admin", "import_set_loader"},
    {"admin", "import_transformer"},
    {"catalog_admin", "catalog"},
    {"import_admin", "import_set_loader"},
    {"import_admin", "import_transformer"},
    {"import_admin", "import_scheduler"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static sim_rec *by_name(sim_db *db, const char *table, const char *name)
{
    return sim_db_find(db, sim_dict_table(table), "name", name);
}

sim_rec *sim_oob_by_name(sim_db *db, const char *table, const char *name)
{
    if (!table || !name || !*name)
        return NULL;
    if (strcmp(table, "sys_db_object") == 0)
        return by_name(db, table, name);
    if (strcmp(table, "sys_user_role") != 0)
        return NULL;
    for (size_t i = 0; i < NELEM(oob_roles); i++)
        if (strcmp(oob_roles[i].name, name) == 0)
            return by_name(db, table, name);
    return NULL;
}

/* ---- the seed's version, in sim_meta ---- */

typedef struct meta_ctx {
    char value[16];
} meta_ctx;

static int meta_read(sg_conn *c, void *ctx)
{
    meta_ctx *m = ctx;
    sg_rows *rows = NULL;
    sg_val k[] = {SG_VTEXT(META_OOB_SEED)};
    int rc = sg_conn_query(c, "SELECT value FROM sim_meta WHERE key = ?1", k, 1, &rows);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(rows);
    if (step == 1)
        sg_strlcpy(m->value, sg_rows_text(rows, 0), sizeof(m->value));
    sg_rows_free(rows);
    return step < 0 ? step : SG_OK;
}

static int meta_write(sg_conn *c, void *ctx)
{
    (void)ctx;
    sg_val v[] = {SG_VTEXT(META_OOB_SEED), SG_VTEXT(OOB_SEED_VERSION)};
    return sg_conn_exec(c,
                        "INSERT INTO sim_meta (key, value) VALUES (?1, ?2) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        v, 2, NULL);
}

/* ---- moving a role to its real sys_id ---- */

/* Is id the whole of value, or one item of a comma-separated list? */
static bool refers_to(const char *value, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = value; (p = strstr(p, id)) != NULL; p += n)
        if ((p == value || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
            return true;
    return false;
}

/* value with every item equal to from replaced by to (caller frees). */
static char *replace_ref(const char *value, const char *from, const char *to)
{
    sg_buf b = SG_BUF_INIT(0);
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == strlen(from) && strncmp(p, from, len) == 0)
            sg_buf_append(&b, to, strlen(to));
        else
            sg_buf_append(&b, p, len);
        if (!comma)
            break;
        sg_buf_append(&b, ",", 1);
        p = comma + 1;
    }
    char *out = sg_xstrdup(sg_buf_str(&b));
    sg_buf_free(&b);
    return out;
}

typedef struct refs_ctx {
    const sim_table *t;
    const char *id;
    sim_rec **hits;
    size_t n, cap;
} refs_ctx;

static bool collect_refs(void *ctx, sim_rec *r)
{
    refs_ctx *c = ctx;
    if (r->t != c->t || strcmp(r->sys_id, c->id) == 0)
        return true; /* each record once (sim_db_each includes extending tables) */
    for (void *it = sg_json_iter(r->f); it; it = sg_json_iter_next(r->f, it)) {
        const char *v = sg_json_str(sg_json_iter_value(it));
        if (!v || sim_dict_is_sys_field(sg_json_iter_key(it)) || !refers_to(v, c->id))
            continue;
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 16;
            c->hits = sg_xrealloc(c->hits, c->cap * sizeof(*c->hits));
        }
        c->hits[c->n++] = r;
        break;
    }
    return true;
}

/* Gives `old` (a role snowsim seeded under its own sys_id) the sys_id `id`: a copy under the
 * new sys_id, every reference moved to it (in any table: grants, ACL roles, contained roles,
 * rate limit rules, and records of tables snowsim does not model), then the old record goes. */
static int rekey(sg_sim *sim, sim_rec *old, const char *id)
{
    char old_id[33], name[128];
    memcpy(old_id, old->sys_id, sizeof(old_id));
    snprintf(name, sizeof(name), "%s", sim_rec_get(old, "name"));
    sg_json *v = sg_json_object();
    for (void *it = sg_json_iter(old->f); it; it = sg_json_iter_next(old->f, it))
        if (!sim_dict_is_sys_field(sg_json_iter_key(it)))
            sg_json_set(v, sg_json_iter_key(it), sg_json_incref(sg_json_iter_value(it)));
    sg_json_set_str(v, "sys_id", id);
    int rc = sim_db_insert(sim->db, old->t, v, "system", NULL);
    sg_json_decref(v);
    refs_ctx rc_ctx = {NULL, old_id, NULL, 0, 0};
    for (const sim_table *const *t = sim_dict_tables(); rc == SG_OK && *t; t++) {
        rc_ctx.t = *t;
        rc_ctx.n = 0;
        sim_db_each(sim->db, *t, collect_refs, &rc_ctx);
        for (size_t i = 0; i < rc_ctx.n && rc == SG_OK; i++) {
            sim_rec *r = rc_ctx.hits[i];
            sg_json *upd = sg_json_object();
            for (void *it = sg_json_iter(r->f); it; it = sg_json_iter_next(r->f, it)) {
                const char *val = sg_json_str(sg_json_iter_value(it));
                if (!val || sim_dict_is_sys_field(sg_json_iter_key(it)) || !refers_to(val, old_id))
                    continue;
                char *nv = replace_ref(val, old_id, id);
                sg_json_set_str(upd, sg_json_iter_key(it), nv);
                free(nv);
            }
            rc = sim_db_update(sim->db, r, upd, "system", NULL);
            sg_json_decref(upd);
        }
    }
    free(rc_ctx.hits);
    sim_rec *gone =
        rc == SG_OK ? sim_db_get(sim->db, sim_dict_table("sys_user_role"), old_id) : NULL;
    if (gone)
        rc = sim_db_delete(sim->db, gone);
    if (rc == SG_OK)
        sg_log_info("an out-of-box role now has its real sys_id", "role", name, "was", old_id,
                    "sys_id", id);
    return rc;
}

/* ---- the seed ---- */

static int seed_roles(sg_sim *sim)
{
    const sim_table *t = sim_dict_table("sys_user_role");
    int rc = SG_OK;
    for (size_t i = 0; i < NELEM(oob_roles) && rc == SG_OK; i++) {
        const oob_role *o = &oob_roles[i];
        sim_rec *have = by_name(sim->db, "sys_user_role", o->name);
        sim_rec *taken = o->sys_id ? sim_db_get(sim->db, t, o->sys_id) : NULL;
        if (have && (!o->sys_id || have == taken))
            continue;
        if (have) {
            /* Only snowsim's own seed is moved; a role someone else made keeps its sys_id. */
            if (taken || strcmp(sim_rec_get(have, "sys_created_by"), "system") != 0) {
                sg_log_warn("an out-of-box role keeps a sys_id of its own", "role", o->name,
                            "sys_id", have->sys_id, "out_of_box", o->sys_id);
                continue;
            }
            rc = rekey(sim, have, o->sys_id);
            continue;
        }
        if (taken) {
            sg_log_warn("out-of-box role left out: its sys_id is taken", "role", o->name, "sys_id",
                        o->sys_id);
            continue;
        }
        sg_json *v = sg_json_object();
        sg_json_set_str(v, "name", o->name);
        sg_json_set_str(v, "suffix", o->name);
        if (o->sys_id)
            sg_json_set_str(v, "sys_id", o->sys_id);
        rc = sim_db_insert(sim->db, t, v, "system", NULL);
        sg_json_decref(v);
    }
    return rc;
}

typedef struct pair_ctx {
    const char *role, *contains;
    bool found;
} pair_ctx;

static bool find_pair(void *ctx, sim_rec *r)
{
    pair_ctx *c = ctx;
    if (strcmp(sim_rec_get(r, "role"), c->role) == 0 &&
        strcmp(sim_rec_get(r, "contains"), c->contains) == 0)
        c->found = true;
    return !c->found;
}

static int seed_contains(sg_sim *sim)
{
    const sim_table *t = sim_dict_table("sys_user_role_contains");
    int rc = SG_OK;
    for (size_t i = 0; i < NELEM(oob_contains) && rc == SG_OK; i++) {
        sim_rec *role = by_name(sim->db, "sys_user_role", oob_contains[i].role);
        sim_rec *inner = by_name(sim->db, "sys_user_role", oob_contains[i].contains);
        if (!role || !inner)
            continue;
        pair_ctx pc = {role->sys_id, inner->sys_id, false};
        sim_db_each(sim->db, t, find_pair, &pc);
        if (pc.found)
            continue;
        sg_json *v = sg_json_object();
        sg_json_set_str(v, "role", role->sys_id);
        sg_json_set_str(v, "contains", inner->sys_id);
        rc = sim_db_insert(sim->db, t, v, "system", NULL);
        sg_json_decref(v);
    }
    return rc;
}

static bool is_parent(const char *name)
{
    for (size_t i = 0; i < NELEM(oob_tables); i++)
        if (oob_tables[i].super_class && strcmp(oob_tables[i].super_class, name) == 0)
            return true;
    return false;
}

static int seed_tables(sg_sim *sim)
{
    const sim_table *t = sim_dict_table("sys_db_object");
    int rc = SG_OK;
    for (size_t i = 0; i < NELEM(oob_tables) && rc == SG_OK; i++) {
        const oob_table *o = &oob_tables[i];
        if (by_name(sim->db, "sys_db_object", o->name))
            continue; /* defined already, by an earlier seed or an update set */
        sg_json *v = sg_json_object();
        sg_json_set_str(v, "name", o->name);
        sg_json_set_str(v, "label", o->label);
        if (o->super_class) {
            sim_rec *parent = by_name(sim->db, "sys_db_object", o->super_class);
            sg_json_set_str(v, "super_class", parent ? parent->sys_id : "");
        }
        if (is_parent(o->name))
            sg_json_set_str(v, "is_extendable", "true");
        if (o->sys_id && !sim_db_get(sim->db, t, o->sys_id))
            sg_json_set_str(v, "sys_id", o->sys_id);
        rc = sim_db_insert(sim->db, t, v, "system", NULL);
        sg_json_decref(v);
    }
    return rc;
}

static bool register_table(void *ctx, sim_rec *r)
{
    (void)ctx;
    const char *name = sim_rec_get(r, "name");
    if (*name && !sim_dict_dynamic(name))
        sg_log_warn("a table in sys_db_object cannot be used", "table", name);
    return true;
}

int sim_oob_seed(sg_sim *sim)
{
    meta_ctx m = {""};
    int rc = sg_store_read(sim->store, meta_read, &m);
    if (rc == SG_OK && strcmp(m.value, OOB_SEED_VERSION) != 0) {
        rc = seed_roles(sim);
        if (rc == SG_OK)
            rc = seed_contains(sim);
        if (rc == SG_OK)
            rc = seed_tables(sim);
        if (rc == SG_OK)
            rc = sg_store_tx(sim->store, meta_write, NULL);
        if (rc == SG_OK)
            sg_log_info("seeded the out-of-box records", "version", OOB_SEED_VERSION, "was",
                        *m.value ? m.value : "none");
    }
    if (rc == SG_OK)
        sim_db_each(sim->db, sim_dict_table("sys_db_object"), register_table, NULL);
    return rc;
}
