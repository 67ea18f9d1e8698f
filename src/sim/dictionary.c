/* dictionary: the tables a fresh instance has, declared compactly. A field spec is
 * "name[!][:type[:reference table]][=default]", types S I B R C D P J (see sim_ftype); '!' marks
 * a field that equality queries look up in an index, as a real instance's indexed columns
 * (references are indexed without it). */
#include "sim/dictionary.h"

#include "core/mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct table_spec {
    const char *name, *parent, *prefix, *display, *fields;
} table_spec;

static const table_spec specs[] = {
    {"sys_user", NULL, NULL, "name",
     "user_name! first_name last_name name email active:B=true locked_out:B=false "
     "password_needs_reset:B=false web_service_access_only:B=false "
     "internal_integration_user:B=false user_password:P manager:R:sys_user department company "
     "location title time_zone vip:B=false last_login_time:D failed_attempts:I=0 phone "
     "mobile_phone roles"},
    {"sys_user_group", NULL, NULL, "name",
     "name description manager:R:sys_user email active:B=true roles"},
    {"sys_user_grmember", NULL, NULL, NULL, "user:R:sys_user group:R:sys_user_group"},
    {"sys_user_role", NULL, NULL, "name",
     "name! suffix description assignable_by can_delegate:B=true elevated_privilege:B=false "
     "grantable:B=true includes_roles requires_subscription=-1 scoped_admin:B=false"},
    {"sys_user_role_contains", NULL, NULL, NULL, "role:R:sys_user_role contains:R:sys_user_role"},
    {"sys_user_has_role", NULL, NULL, NULL,
     "user:R:sys_user role:R:sys_user_role inherited:B=false granted_by:R:sys_user_group "
     "state=active included_in_role:R:sys_user_role"},
    {"sys_group_has_role", NULL, NULL, NULL,
     "group:R:sys_user_group role:R:sys_user_role inherits:B=true granted_by:R:sys_user_group"},
    {"sys_security_acl", NULL, NULL, "name",
     "name! operation:C=read type:C=record active:B=true admin_overrides:B=true "
     "advanced:B=false condition script description"},
    {"sys_security_acl_role", NULL, NULL, NULL,
     "sys_security_acl:R:sys_security_acl sys_user_role:R:sys_user_role"},
    {"sys_properties", NULL, NULL, "name",
     "name! value type=string description choices is_private:B=false ignore_cache:B=false "
     "read_roles write_roles suffix"},
    {"sys_rate_limit_rules", NULL, NULL, "name",
     "name active:B=true rate_limit:I=100 type:C=all_users user:R:sys_user role:R:sys_user_role "
     "rest_service description"},
    {"oauth_entity", NULL, NULL, "name",
     "name client_id! client_secret:P redirect_url access_token_lifespan:I=1800 "
     "refresh_token_lifespan:I=8640000 auth_code_lifespan:I=60 type=client active:B=true "
     "default_grant_type=password public_client:B=false logo_url comments user:R:sys_user"},
    {"oauth_credential", NULL, NULL, NULL,
     "token_hash! type user:R:sys_user oauth_entity:R:oauth_entity expires:D "
     "scope=useraccount peer!"},
    {"sc_catalog", NULL, NULL, "title",
     "title description active:B=true manager:R:sys_user editors background_color "
     "desktop_continue_shopping desktop_home_page desktop_image enable_wish_list:B=false"},
    {"sc_category", NULL, NULL, "title",
     "title description active:B=true sc_catalog:R:sc_catalog parent:R:sc_category order:I=0 "
     "icon roles header_icon homepage_image location module show_in_cms:B=true"},
    {"sc_cat_item", NULL, NULL, "name",
     "name short_description description active:B=true category:R:sc_category sc_catalogs "
     "price=0 order:I=0 roles type=item workflow flow_designer_flow no_order:B=false "
     "no_cart:B=false no_quantity:B=false owner:R:sys_user availability=on_desktop "
     "billable:B=false delivery_time"},
    {"sc_cat_item_category", NULL, NULL, NULL,
     "sc_cat_item:R:sc_cat_item sc_category:R:sc_category"},
    {"item_option_new", NULL, NULL, "question_text",
     "cat_item:R:sc_cat_item name question_text type:I=6 order:I=100 mandatory:B=false "
     "default_value reference active:B=true help_text"},
    {"task", NULL, "TASK", "number",
     "number! short_description description active:B=true approval:C=not~requested state:I=1 "
     "priority:I=4 impact:I=3 urgency:I=3 opened_by:R:sys_user opened_at:D "
     "assigned_to:R:sys_user assignment_group:R:sys_user_group correlation_id! "
     "correlation_display work_notes:J comments:J comments_and_work_notes close_notes "
     "closed_at:D closed_by:R:sys_user due_date:D parent:R:task sys_domain=global "
     "sys_domain_path=/ watch_list work_notes_list approval_set:D escalation:I=0 "
     "reassignment_count:I=0 upon_approval=proceed upon_reject=cancel contact_type company "
     "location made_sla:B=true order:I sla_due:D activity_due:D expected_start:D work_start:D "
     "work_end:D follow_up:D knowledge:B=false approval_history business_duration "
     "calendar_duration time_worked group_list additional_assignee_list cmdb_ci "
     "business_service service_offering universal_request task_effective_number route_reason "
     "user_input"},
    {"sc_request", "task", "REQ", "number",
     "requested_for:R:sys_user request_state:C=requested stage=requested price=0 "
     "special_instructions delivery_address requested_date:D calendar_stc delivery_plan "
     "delivery_task"},
    {"sc_req_item", "task", "RITM", "number",
     "request:R:sc_request cat_item:R:sc_cat_item quantity:I=1 requested_for:R:sys_user "
     "stage=request_approved price=0 recurring_price=0 configuration_item"},
    {"sc_task", "task", "SCTASK", "number", "request_item:R:sc_req_item request:R:sc_request"},
    {"incident", "task", "INC", "number",
     "caller_id:R:sys_user category=inquiry subcategory incident_state:I=1 severity:I=3 "
     "close_code resolved_at:D resolved_by:R:sys_user problem_id"},
    {"sc_item_option", NULL, NULL, "value", "item_option_new:R:item_option_new value order:I=0"},
    {"sc_item_option_mtom", NULL, NULL, NULL,
     "request_item:R:sc_req_item sc_item_option:R:sc_item_option"},
    {"sysapproval_approver", NULL, NULL, "approver",
     "approver:R:sys_user sysapproval:R:task document_id! source_table state:C=requested "
     "comments:J due_date:D expected_start:D group"},
    {"sys_journal_field", NULL, NULL, "value", "name element element_id! value"},
    {"sys_script", NULL, NULL, "name",
     "name collection when:C=before order:I=100 priority:I=100 active:B=true advanced:B=false "
     "action_insert:B=false action_update:B=false action_delete:B=false action_query:B=false "
     "filter_condition condition script description abort_action:B=false add_message:B=false "
     "message role_conditions access=package_private sys_name sys_package sys_scope"},
    {"sys_ws_definition", NULL, NULL, "name",
     "name service_id namespace base_uri active:B=true consumes produces default_version "
     "is_versioned:B=false short_description enforce_acl doc_link sys_package sys_scope"},
    {"sys_ws_operation", NULL, NULL, "name",
     "name web_service_definition:R:sys_ws_definition http_method:C=GET relative_path "
     "operation_uri default_operation_uri operation_script active:B=true "
     "requires_authentication:B=true requires_acl_authorization:B=true "
     "requires_snc_internal_role:B=false enforce_acl consumes produces short_description "
     "web_service_version request_example"},
    {"sys_remote_update_set", NULL, NULL, "name",
     "name description state=loaded application application_name application_scope "
     "application_version remote_sys_id origin_sys_id release_date commit_date:D collisions "
     "inserted updated deleted summary parent remote_base_update_set remote_parent_id "
     "update_set update_source"},
    {"sys_update_xml", NULL, NULL, "name",
     "name action type target_name payload payload_hash "
     "remote_update_set:R:sys_remote_update_set update_set category comments application "
     "replace_on_upgrade:B=false update_domain update_guid update_guid_history view table "
     "sys_recorded_at"},
    {"sys_update_preview_problem", NULL, NULL, "description",
     "description type=error status remote_update:R:sys_update_xml "
     "remote_update_set:R:sys_remote_update_set missing_item missing_item_table"},
    {"sys_execution_tracker", NULL, NULL, "name",
     "name state:I=0 percent_complete:I=0 message detailed_message result source source_table"},
    {"sys_db_object", NULL, NULL, "name", "name label super_class:R:sys_db_object is_extendable"},
    {NULL, NULL, NULL, NULL, NULL},
};

#define MAX_TABLES 1024

static sim_table tables[MAX_TABLES];
static const sim_table *table_ptrs[MAX_TABLES + 1];
/* Published with release semantics after a table is fully built, so lookups need no lock. */
static _Atomic size_t ntables;

static sim_ftype type_of(char c)
{
    switch (c) {
    case 'I':
        return SIM_INTEGER;
    case 'B':
        return SIM_BOOLEAN;
    case 'R':
        return SIM_REFERENCE;
    case 'C':
        return SIM_CHOICE;
    case 'D':
        return SIM_DATETIME;
    case 'P':
        return SIM_PASSWORD;
    case 'J':
        return SIM_JOURNAL;
    default:
        return SIM_STRING;
    }
}

/* Parses "name[!][:T[:ref]][=default]" ('~' in a default stands for a space). */
static void parse_field(const char *spec, size_t len, sim_field *f)
{
    char *s = sg_xstrndup(spec, len);
    char *eq = strchr(s, '=');
    if (eq) {
        *eq = '\0';
        char *def = sg_xstrdup(eq + 1);
        for (char *c = def; *c; c++)
            if (*c == '~')
                *c = ' ';
        f->def = def;
    }
    char *c1 = strchr(s, ':');
    f->type = SIM_STRING;
    if (c1) {
        *c1 = '\0';
        f->type = type_of(c1[1]);
        char *c2 = strchr(c1 + 1, ':');
        if (c2)
            f->ref = sg_xstrdup(c2 + 1);
    }
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '!') {
        s[n - 1] = '\0';
        f->indexed = true;
    }
    /* Booleans compare loosely ("1" = "true"), so an exact-value index would miss. */
    if (f->type == SIM_REFERENCE)
        f->indexed = true;
    if (f->type == SIM_BOOLEAN)
        f->indexed = false;
    f->name = sg_xstrdup(s);
    free(s);
}

void sim_dict_init(void)
{
    if (ntables)
        return;
    for (const table_spec *sp = specs; sp->name && ntables < MAX_TABLES; sp++) {
        sim_table *t = &tables[ntables];
        t->name = sp->name;
        t->parent = sp->parent;
        t->number_prefix = sp->prefix;
        t->display = sp->display;
        size_t n = 1;
        for (const char *p = sp->fields; *p; p++)
            if (*p == ' ')
                n++;
        t->fields = sg_xcalloc(n, sizeof(sim_field));
        const char *p = sp->fields;
        while (*p) {
            const char *end = strchr(p, ' ');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            if (len)
                parse_field(p, len, &t->fields[t->nfields++]);
            p += len;
            while (*p == ' ')
                p++;
        }
        table_ptrs[ntables] = t;
        ntables++;
    }
    table_ptrs[ntables] = NULL;
}

static char *dynamic_names[MAX_TABLES];

const sim_table *sim_dict_dynamic(const char *name)
{
    const sim_table *t = sim_dict_table(name);
    if (t)
        return t;
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > 80)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return NULL;
    }
    size_t n = atomic_load(&ntables);
    if (n >= MAX_TABLES)
        return NULL;
    sim_table *nt = &tables[n];
    dynamic_names[n] = sg_xstrdup(name);
    nt->name = dynamic_names[n];
    nt->display = "sys_id";
    nt->dynamic = true;
    nt->fields = NULL;
    nt->nfields = 0;
    table_ptrs[n] = nt;
    table_ptrs[n + 1] = NULL;
    atomic_store(&ntables, n + 1);
    return nt;
}

void sim_dict_free(void)
{
    for (size_t i = 0; i < ntables; i++) {
        free(dynamic_names[i]);
        dynamic_names[i] = NULL;
        for (size_t j = 0; j < tables[i].nfields; j++) {
            free((char *)tables[i].fields[j].name);
            free((char *)tables[i].fields[j].ref);
            free((char *)tables[i].fields[j].def);
        }
        free(tables[i].fields);
    }
    memset(tables, 0, sizeof(tables));
    ntables = 0;
}

const sim_table *sim_dict_table(const char *name)
{
    size_t n = atomic_load(&ntables);
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(tables[i].name, name) == 0)
            return &tables[i];
    return NULL;
}

const sim_table *sim_dict_parent(const sim_table *t)
{
    return t && t->parent ? sim_dict_table(t->parent) : NULL;
}

bool sim_dict_is_a(const sim_table *t, const sim_table *ancestor)
{
    for (; t; t = sim_dict_parent(t))
        if (t == ancestor)
            return true;
    return false;
}

static const char *const sys_fields[] = {"sys_id",         "sys_created_on", "sys_created_by",
                                         "sys_updated_on", "sys_updated_by", "sys_mod_count",
                                         "sys_class_name", "sys_tags",       NULL};

bool sim_dict_is_sys_field(const char *name)
{
    for (const char *const *s = sys_fields; *s; s++)
        if (strcmp(*s, name) == 0)
            return true;
    return false;
}

const sim_field *sim_dict_field(const sim_table *t, const char *name)
{
    static const sim_field sys_defs[] = {
        {"sys_id", SIM_STRING, NULL, NULL, true},
        {"sys_created_on", SIM_DATETIME, NULL, NULL, false},
        {"sys_created_by", SIM_STRING, NULL, NULL, false},
        {"sys_updated_on", SIM_DATETIME, NULL, NULL, false},
        {"sys_updated_by", SIM_STRING, NULL, NULL, false},
        {"sys_mod_count", SIM_INTEGER, NULL, NULL, false},
        {"sys_class_name", SIM_STRING, NULL, NULL, false},
        {"sys_tags", SIM_STRING, NULL, NULL, false},
    };
    for (size_t i = 0; i < sizeof(sys_defs) / sizeof(sys_defs[0]); i++)
        if (strcmp(sys_defs[i].name, name) == 0)
            return &sys_defs[i];
    for (const sim_table *x = t; x; x = sim_dict_parent(x))
        for (size_t i = 0; i < x->nfields; i++)
            if (strcmp(x->fields[i].name, name) == 0)
                return &x->fields[i];
    if (t && t->dynamic) {
        /* Any well-formed name is a string field of a dynamic table. */
        static _Thread_local char gname[128];
        static _Thread_local sim_field g;
        size_t len = strlen(name);
        if (len == 0 || len >= sizeof(gname))
            return NULL;
        for (size_t i = 0; i < len; i++)
            if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
                  name[i] == '_'))
                return NULL;
        memcpy(gname, name, len + 1);
        g.name = gname;
        g.type = SIM_STRING;
        return &g;
    }
    return NULL;
}

static void each_field_rec(const sim_table *t, void (*fn)(void *, const sim_field *), void *ctx)
{
    if (!t)
        return;
    each_field_rec(sim_dict_parent(t), fn, ctx);
    for (size_t i = 0; i < t->nfields; i++)
        fn(ctx, &t->fields[i]);
}

void sim_dict_each_field(const sim_table *t, void (*fn)(void *ctx, const sim_field *f), void *ctx)
{
    each_field_rec(t, fn, ctx);
}

void sim_dict_each_descendant(const sim_table *t, void (*fn)(void *ctx, const sim_table *d),
                              void *ctx)
{
    size_t n = atomic_load(&ntables);
    for (size_t i = 0; i < n; i++)
        if (sim_dict_is_a(&tables[i], t))
            fn(ctx, &tables[i]);
}

const sim_table *const *sim_dict_tables(void)
{
    return table_ptrs;
}
