/* updateset: builds "snowgate Update Set.xml". Every record gets a sys_id derived from the
 * integration's seed, so downloading again yields the same records and re-importing updates
 * them instead of duplicating them. */
#include "gate/servicenow/updateset.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The business rule: Standard Webhooks signing with GlideCertificateEncryption.generateMac,
 * sent with executeAsync so the record's transaction never waits on snowgate. */
static const char rule_script[] =
    "(function executeRule(current, previous /*null when async*/) {\n"
    "\tvar url = gs.getProperty('" SG_SN_PROP_URL "');\n"
    "\tvar secret = gs.getProperty('" SG_SN_PROP_SECRET "');\n"
    "\tif (!url || !secret)\n"
    "\t\treturn;\n"
    "\tvar id = 'msg_' + gs.generateGUID();\n"
    "\tvar ts = '' + Math.floor(new Date().getTime() / 1000);\n"
    "\tvar body = JSON.stringify({\n"
    "\t\ttype: 'sc_request.updated',\n"
    "\t\ttable: current.getTableName(),\n"
    "\t\tsys_id: current.getUniqueValue(),\n"
    "\t\tnumber: current.getValue('number'),\n"
    "\t\tcorrelation_id: current.getValue('correlation_id'),\n"
    "\t\tapproval: current.getValue('approval'),\n"
    "\t\trequest_state: current.getValue('request_state'),\n"
    "\t\tupdated_on: current.getValue('sys_updated_on')\n"
    "\t});\n"
    "\tvar key = secret.indexOf('whsec_') === 0 ? secret.substring(6) : secret;\n"
    "\tvar mac = new GlideCertificateEncryption().generateMac(key, 'HmacSHA256', id + '.' + ts + "
    "'.' + body);\n"
    "\tvar r = new sn_ws.RESTMessageV2();\n"
    "\tr.setEndpoint(url);\n"
    "\tr.setHttpMethod('post');\n"
    "\tr.setRequestHeader('Content-Type', 'application/json');\n"
    "\tr.setRequestHeader('webhook-id', id);\n"
    "\tr.setRequestHeader('webhook-timestamp', ts);\n"
    "\tr.setRequestHeader('webhook-signature', 'v1,' + mac);\n"
    "\tr.setRequestBody(body);\n"
    "\tr.executeAsync();\n"
    "})(current, previous);";

static const char userinfo_script[] =
    "(function process(/*RESTAPIRequest*/ request, /*RESTAPIResponse*/ response) {\n"
    "\tresponse.setBody({ user_name: gs.getUserName(), sys_id: gs.getUserID() });\n"
    "})(request, response);";

/* The only way the service account touches the secret's property: GET says whether it is
 * password2 and set (never its value); PUT sets its value, and nothing else, to a Standard
 * Webhooks secret. A script rather than a sys_properties ACL, since a write ACL on the table
 * would let the account change the property's name or type too. */
/* Both scripts: only the service account's role (or admin) gets in, and both work on the one
 * property. */
#define SECRET_ROLE_CHECK                                                                          \
    "\tif (!gs.hasRole('" SG_SN_ROLE "')) {\n"                                                     \
    "\t\tresponse.setStatus(403);\n"                                                               \
    "\t\treturn;\n"                                                                                \
    "\t}\n"
#define SECRET_FIND                                                                                \
    "\tvar gr = new GlideRecord('sys_properties');\n"                                              \
    "\tgr.addQuery('name', '" SG_SN_PROP_SECRET "');\n"                                            \
    "\tgr.query();\n"                                                                              \
    "\tif (!gr.next()) {\n"                                                                        \
    "\t\tresponse.setStatus(404);\n"                                                               \
    "\t\treturn;\n"                                                                                \
    "\t}\n"

static const char secret_get_script[] =
    "(function process(/*RESTAPIRequest*/ request, /*RESTAPIResponse*/ response) "
    "{\n" SECRET_ROLE_CHECK SECRET_FIND
    "\tresponse.setBody({ type: gr.getValue('type'), set: !!gr.getValue('value') });\n"
    "})(request, response);";

static const char secret_put_script[] =
    "(function process(/*RESTAPIRequest*/ request, /*RESTAPIResponse*/ response) "
    "{\n" SECRET_ROLE_CHECK "\tvar body = request.body.data;\n"
    "\tvar v = body && body.value;\n"
    "\tif (typeof v !== 'string' || !/^whsec_[A-Za-z0-9+\\/=]{20,200}$/.test(v)) {\n"
    "\t\tresponse.setStatus(400);\n"
    "\t\treturn;\n"
    "\t}\n" SECRET_FIND "\tif (gr.getValue('type') !== 'password2') {\n"
    "\t\tresponse.setStatus(409);\n"
    "\t\tresponse.setBody({ type: gr.getValue('type') });\n"
    "\t\treturn;\n"
    "\t}\n"
    "\tgr.setValue('value', v);\n"
    "\tgr.update();\n"
    "\tresponse.setBody({ type: 'password2', set: true });\n"
    "})(request, response);";

static const char rule_filter[] =
    "approvalVALCHANGES^ORrequest_stateVALCHANGES^correlation_idSTARTSWITHsnowgate:^EQ";

/* A stable sys_id: the first 32 hex digits of sha256(seed ":" key). */
static void stable_id(const char *seed, const char *key, char out[33])
{
    char buf[512];
    uint8_t d[SG_SHA256_LEN];
    snprintf(buf, sizeof(buf), "%s:%s", seed, key);
    sg_sha256(buf, strlen(buf), d);
    sg_hex_encode(d, 16, out);
}

typedef struct field {
    const char *name;
    const char *value;
    const char *display; /* display_value attribute for references, or NULL */
    int kind;            /* 0 text, 1 CDATA (scripts) */
} field;

typedef struct record {
    const char *table;
    char sys_id[33];
    const char *target_name;
    const char *type;      /* the table's label, as exports write it */
    const char *row_table; /* <table> of the row */
    field fields[24];
    int nfields;
} record;

static int cmp_field(const void *a, const void *b)
{
    return strcmp(((const field *)a)->name, ((const field *)b)->name);
}

static void add(record *r, const char *name, const char *value)
{
    r->fields[r->nfields++] = (field){name, value, NULL, 0};
}

static void add_ref(record *r, const char *name, const char *value, const char *display)
{
    r->fields[r->nfields++] = (field){name, value, display, 0};
}

static void add_script(record *r, const char *name, const char *value)
{
    r->fields[r->nfields++] = (field){name, value, NULL, 1};
}

/* The inner <record_update> payload, fields in alphabetical order with the system fields. */
static char *payload(const record *r, const char *when)
{
    record c = *r;
    char update_name[128];
    snprintf(update_name, sizeof(update_name), "%s_%s", r->table, r->sys_id);
    add(&c, "sys_class_name", r->table);
    add(&c, "sys_created_by", "admin");
    add(&c, "sys_created_on", when);
    add(&c, "sys_id", r->sys_id);
    add(&c, "sys_mod_count", "0");
    add(&c, "sys_updated_by", "admin");
    add(&c, "sys_updated_on", when);
    add(&c, "sys_update_name", update_name);
    add_ref(&c, "sys_scope", "global", "Global");
    qsort(c.fields, (size_t)c.nfields, sizeof(field), cmp_field);
    sg_xml_writer *w = sg_xml_writer_new();
    sg_xml_start(w, "record_update");
    sg_xml_attribute(w, "table", r->table);
    sg_xml_start(w, r->table);
    sg_xml_attribute(w, "action", "INSERT_OR_UPDATE");
    for (int i = 0; i < c.nfields; i++) {
        const field *f = &c.fields[i];
        if (f->kind == 1) {
            sg_xml_start(w, f->name);
            sg_xml_write_cdata(w, f->value);
            sg_xml_end(w);
        } else if (f->display) {
            sg_xml_start(w, f->name);
            sg_xml_attribute(w, "display_value", f->display);
            sg_xml_write_text(w, f->value);
            sg_xml_end(w);
        } else {
            sg_xml_element(w, f->name, f->value && *f->value ? f->value : NULL);
        }
    }
    sg_xml_end(w);
    sg_xml_end(w);
    char *out = NULL;
    if (sg_xml_writer_finish(w, &out, NULL) != SG_OK)
        return NULL;
    return out;
}

static void row(sg_xml_writer *w, const record *r, const char *set_id, const char *set_name,
                const char *seed, const char *when)
{
    char row_id[33], guid[33], update_name[128], key[64];
    snprintf(key, sizeof(key), "row:%s", r->sys_id);
    stable_id(seed, key, row_id);
    snprintf(key, sizeof(key), "guid:%s", r->sys_id);
    stable_id(seed, key, guid);
    snprintf(update_name, sizeof(update_name), "%s_%s", r->table, r->sys_id);
    char *p = payload(r, when);
    sg_xml_start(w, "sys_update_xml");
    sg_xml_attribute(w, "action", "INSERT_OR_UPDATE");
    sg_xml_element(w, "action", "INSERT_OR_UPDATE");
    sg_xml_start(w, "application");
    sg_xml_attribute(w, "display_value", "Global");
    sg_xml_write_text(w, "global");
    sg_xml_end(w);
    sg_xml_element(w, "category", "customer");
    sg_xml_element(w, "comments", NULL);
    sg_xml_element(w, "name", update_name);
    /* CDATA unless the payload itself contains "]]>"; then entity-escaped, as exports do. */
    sg_xml_start(w, "payload");
    if (p && strstr(p, "]]>"))
        sg_xml_write_text(w, p);
    else
        sg_xml_write_cdata(w, p ? p : "");
    sg_xml_end(w);
    sg_xml_start(w, "remote_update_set");
    sg_xml_attribute(w, "display_value", set_name);
    sg_xml_write_text(w, set_id);
    sg_xml_end(w);
    sg_xml_element(w, "replace_on_upgrade", "false");
    sg_xml_element(w, "sys_created_by", "admin");
    sg_xml_element(w, "sys_created_on", when);
    sg_xml_element(w, "sys_id", row_id);
    sg_xml_element(w, "sys_mod_count", "0");
    sg_xml_element(w, "sys_updated_by", "admin");
    sg_xml_element(w, "sys_updated_on", when);
    sg_xml_element(w, "table", r->row_table && *r->row_table ? r->row_table : NULL);
    sg_xml_element(w, "target_name", r->target_name);
    sg_xml_element(w, "type", r->type);
    sg_xml_element(w, "update_domain", "global");
    sg_xml_element(w, "update_guid", guid);
    sg_xml_start(w, "update_set");
    sg_xml_attribute(w, "display_value", "");
    sg_xml_end(w);
    sg_xml_element(w, "view", NULL);
    sg_xml_end(w);
    free(p);
}

static record *new_rec(record *list, int *n, const char *seed, const char *table, const char *key,
                       const char *target, const char *type, const char *row_table)
{
    record *r = &list[(*n)++];
    memset(r, 0, sizeof(*r));
    r->table = table;
    stable_id(seed, key, r->sys_id);
    r->target_name = target;
    r->type = type;
    r->row_table = row_table;
    return r;
}

int sg_updateset_generate(const sg_updateset_opts *o, char **out, size_t *len)
{
    char when[32];
    if (o->export_time) {
        snprintf(when, sizeof(when), "%s", o->export_time);
    } else {
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    }
    const char *seed = o->seed ? o->seed : "snowgate";
    record recs[64];
    int n = 0;

    /* The role the service account holds. */
    record *role = new_rec(recs, &n, seed, "sys_user_role", "role", SG_SN_ROLE, "Role", "");
    add(role, "name", SG_SN_ROLE);
    add(role, "suffix", SG_SN_ROLE);
    add(role, "description",
        "snowgate's ServiceNow service account: creates and updates the "
        "data-access requests snowgate mirrors, and reads their approvals.");
    add(role, "assignable_by", NULL);
    add(role, "elevated_privilege", "false");
    add(role, "grantable", "true");
    add(role, "can_delegate", "true");

    /* ACLs: exactly what snowgate does, and only on snowgate's own records. */
    static const struct {
        const char *name, *op, *cond, *key;
    } acls[] = {
        {"sc_request", "create", NULL, "acl:sc_request:create"},
        {"sc_request", "read", "correlation_idSTARTSWITHsnowgate:^EQ", "acl:sc_request:read"},
        {"sc_request", "write", "correlation_idSTARTSWITHsnowgate:^EQ", "acl:sc_request:write"},
        {"sc_req_item", "create", NULL, "acl:sc_req_item:create"},
        {"sc_req_item", "read", "request.correlation_idSTARTSWITHsnowgate:^EQ",
         "acl:sc_req_item:read"},
        {"sysapproval_approver", "read", "sysapproval.correlation_idSTARTSWITHsnowgate:^EQ",
         "acl:sysapproval_approver:read"},
        /* The approver's comment: a journal entry on the approval record. */
        {"sys_journal_field", "read", "name=sysapproval_approver^element=comments^EQ",
         "acl:sys_journal_field:read"},
        {"sys_user_has_role", "read", "user=javascript:gs.getUserID()^EQ",
         "acl:sys_user_has_role:read"},
        {"sc_catalog", "read", NULL, "acl:sc_catalog:read"},
        {"sc_cat_item", "read", NULL, "acl:sc_cat_item:read"},
    };
    for (size_t i = 0; i < sizeof(acls) / sizeof(acls[0]); i++) {
        record *a = new_rec(recs, &n, seed, "sys_security_acl", acls[i].key, acls[i].name,
                            "Access Control", acls[i].name);
        add(a, "active", "true");
        add(a, "admin_overrides", "true");
        add(a, "advanced", "false");
        add(a, "condition", acls[i].cond);
        add(a, "description", "snowgate: least privilege for the service account");
        add(a, "name", acls[i].name);
        add_ref(a, "operation", acls[i].op, acls[i].op);
        add_ref(a, "type", "record", "record");
        char key[96];
        snprintf(key, sizeof(key), "%s:role", acls[i].key);
        record *ar = new_rec(recs, &n, seed, "sys_security_acl_role", key, acls[i].name,
                             "Access Roles", acls[i].name);
        add_ref(ar, "sys_security_acl", a->sys_id, acls[i].name);
        add_ref(ar, "sys_user_role", role->sys_id, SG_SN_ROLE);
    }

    /* System properties: where to send events, and the key that signs them. */
    record *pu = new_rec(recs, &n, seed, "sys_properties", "prop:url", SG_SN_PROP_URL,
                         "System Property", "");
    add(pu, "name", SG_SN_PROP_URL);
    add(pu, "value", o->webhook_url);
    add(pu, "type", "string");
    add(pu, "description", "snowgate: the URL the snowgate Business Rule posts events to");
    record *ps = new_rec(recs, &n, seed, "sys_properties", "prop:secret", SG_SN_PROP_SECRET,
                         "System Property", "");
    /* password2: encrypted by the instance, clear only to gs.getProperty. It ships without a
     * value (an update set file is no place for a secret, and a password2 value does not move
     * between instances): Connect and test stores it as the service account. */
    add(ps, "name", SG_SN_PROP_SECRET);
    add(ps, "type", "password2");
    add(ps, "is_private", "true");
    add(ps, "description",
        "snowgate: the Standard Webhooks signing secret, set by snowgate's "
        "Connect and test and its secret rotation");

    /* The catalog, its category and the item, with the item's variables. */
    record *cat = new_rec(recs, &n, seed, "sc_catalog", "catalog", SG_SN_CATALOG, "Catalog", "");
    add(cat, "title", SG_SN_CATALOG);
    add(cat, "description",
        "Requests for access to governed data, raised and fulfilled by snowgate.");
    add(cat, "active", "true");
    /* The item's category: snowgate's own, or one the instance has (the item works without
     * one, and snowgate never reads it; a preview that finds it missing reports a problem
     * provision may accept: see preview.c). */
    const char *category = o->category, *category_name = "";
    if (!category) {
        record *cg =
            new_rec(recs, &n, seed, "sc_category", "category", "Data access", "Category", "");
        add(cg, "title", "Data access");
        add_ref(cg, "sc_catalog", cat->sys_id, SG_SN_CATALOG);
        add(cg, "active", "true");
        category = cg->sys_id;
        category_name = "Data access";
    }
    record *item = new_rec(recs, &n, seed, "sc_cat_item", "item", SG_SN_ITEM, "Catalog Item", "");
    add(item, "name", SG_SN_ITEM);
    add(item, "short_description", "Access to a governed data asset, managed by snowgate");
    add(item, "description", "Raised by snowgate. Approve or reject it here or in snowgate.");
    add_ref(item, "category", category, category_name);
    add(item, "sc_catalogs", cat->sys_id);
    add(item, "active", "true");
    static const struct {
        const char *name, *label, *order;
    } vars[] = {{"asset", "Data asset", "100"},
                {"action", "Grant or revoke", "200"},
                {"privilege", "Access", "300"},
                {"justification", "Justification", "400"},
                {"duration", "Duration (ISO 8601)", "500"},
                {"snowgate_link", "snowgate request", "600"}};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        char key[64];
        snprintf(key, sizeof(key), "var:%s", vars[i].name);
        record *v = new_rec(recs, &n, seed, "item_option_new", key, vars[i].label, "Variable", "");
        add_ref(v, "cat_item", item->sys_id, SG_SN_ITEM);
        add(v, "name", vars[i].name);
        add(v, "question_text", vars[i].label);
        add(v, "type", "6");
        add(v, "order", vars[i].order);
        add(v, "mandatory", "false");
        add(v, "active", "true");
    }

    /* The business rule that tells snowgate about decisions. */
    record *br =
        new_rec(recs, &n, seed, "sys_script", "rule", SG_SN_RULE, "Business Rule", "sc_request");
    add(br, "name", SG_SN_RULE);
    add(br, "collection", "sc_request");
    add(br, "when", "after");
    add(br, "order", "100");
    add(br, "priority", "100");
    add(br, "active", "true");
    add(br, "advanced", "true");
    add(br, "action_insert", "false");
    add(br, "action_update", "true");
    add(br, "action_delete", "false");
    add(br, "action_query", "false");
    add(br, "filter_condition", rule_filter);
    add(br, "description",
        "snowgate: posts a signed event when a snowgate request's approval "
        "or state changes. The event is only a hint; snowgate re-reads the "
        "record before acting.");
    add_script(br, "script", rule_script);

    /* The Scripted REST API that tells a caller who they are. */
    record *def = new_rec(recs, &n, seed, "sys_ws_definition", "ws", "oauth_userinfo",
                          "Scripted REST API", "");
    add(def, "name", "oauth_userinfo");
    add(def, "service_id", "oauth_userinfo");
    add(def, "namespace", "snc");
    add(def, "base_uri", SG_SN_USERINFO_PATH);
    add(def, "active", "true");
    add(def, "consumes", "application/json");
    add(def, "produces", "application/json");
    add(def, "short_description", "snowgate: the user name and sys_id of the caller");
    record *op = new_rec(recs, &n, seed, "sys_ws_operation", "ws:get", "userinfo",
                         "Scripted REST Resource", "");
    add(op, "name", "userinfo");
    add_ref(op, "web_service_definition", def->sys_id, "oauth_userinfo");
    add(op, "http_method", "GET");
    add(op, "relative_path", "/");
    add(op, "operation_uri", SG_SN_USERINFO_PATH);
    add(op, "active", "true");
    add(op, "requires_authentication", "true");
    add(op, "requires_acl_authorization", "false");
    add(op, "produces", "application/json");
    add_script(op, "operation_script", userinfo_script);

    /* The Scripted REST API through which snowgate stores the signing secret. */
    record *sdef = new_rec(recs, &n, seed, "sys_ws_definition", "ws:secret",
                           "snowgate_webhook_secret", "Scripted REST API", "");
    add(sdef, "name", "snowgate_webhook_secret");
    add(sdef, "service_id", "snowgate_webhook_secret");
    add(sdef, "namespace", "snc");
    add(sdef, "base_uri", SG_SN_SECRET_PATH);
    add(sdef, "active", "true");
    add(sdef, "consumes", "application/json");
    add(sdef, "produces", "application/json");
    add(sdef, "short_description",
        "snowgate: sets the webhook signing secret's value (" SG_SN_ROLE " only)");
    static const struct {
        const char *key, *name, *method, *script;
    } sops[] = {{"ws:secret:get", "status", "GET", secret_get_script},
                {"ws:secret:put", "set", "PUT", secret_put_script}};
    for (size_t i = 0; i < 2; i++) {
        record *so = new_rec(recs, &n, seed, "sys_ws_operation", sops[i].key, sops[i].name,
                             "Scripted REST Resource", "");
        add(so, "name", sops[i].name);
        add_ref(so, "web_service_definition", sdef->sys_id, "snowgate_webhook_secret");
        add(so, "http_method", sops[i].method);
        add(so, "relative_path", "/");
        add(so, "operation_uri", SG_SN_SECRET_PATH);
        add(so, "active", "true");
        add(so, "requires_authentication", "true");
        add(so, "requires_acl_authorization", "false");
        add(so, "produces", "application/json");
        add_script(so, "operation_script", sops[i].script);
    }

    /* A category of the instance's own is not one of snowgate's records (the preview would
     * then report snowgate's own record missing, which reads as tampering). */
    for (int i = 0; o->category && i < n; i++)
        if (strcmp(recs[i].sys_id, o->category) == 0)
            return sg_err_set(SG_EINVAL,
                              "category %s is the sys_id of one of snowgate's own records (%s), "
                              "not a category of the instance: give an sc_category sys_id",
                              o->category, recs[i].table);

    /* The header, then one row per record. */
    const char *set_name = "snowgate";
    char set_id[33], remote_id[33];
    stable_id(seed, "set", set_id);
    stable_id(seed, "remote", remote_id);
    sg_xml_writer *w = sg_xml_writer_new();
    sg_xml_writer_newlines(w);
    sg_xml_start(w, "unload");
    sg_xml_attribute(w, "unload_date", when);
    sg_xml_start(w, "sys_remote_update_set");
    sg_xml_attribute(w, "action", "INSERT_OR_UPDATE");
    sg_xml_start(w, "application");
    sg_xml_attribute(w, "display_value", "Global");
    sg_xml_write_text(w, "global");
    sg_xml_end(w);
    sg_xml_element(w, "application_name", "Global");
    sg_xml_element(w, "application_scope", "global");
    sg_xml_element(w, "application_version", NULL);
    sg_xml_element(w, "collisions", NULL);
    sg_xml_element(w, "commit_date", NULL);
    sg_xml_element(w, "deleted", NULL);
    sg_xml_element(w, "description",
                   "Installs snowgate's ServiceNow side: the snowgate Data Access catalog, the "
                   "snowgate Business Rule, the service account role and its ACLs, and the "
                   "oauth_userinfo Scripted REST API.");
    sg_xml_element(w, "inserted", NULL);
    sg_xml_element(w, "name", set_name);
    sg_xml_element(w, "origin_sys_id", NULL);
    sg_xml_start(w, "parent");
    sg_xml_attribute(w, "display_value", "");
    sg_xml_end(w);
    sg_xml_element(w, "release_date", NULL);
    sg_xml_start(w, "remote_base_update_set");
    sg_xml_attribute(w, "display_value", "");
    sg_xml_end(w);
    sg_xml_element(w, "remote_parent_id", NULL);
    sg_xml_element(w, "remote_sys_id", remote_id);
    sg_xml_element(w, "state", "loaded");
    sg_xml_element(w, "summary", NULL);
    sg_xml_element(w, "sys_class_name", "sys_remote_update_set");
    sg_xml_element(w, "sys_created_by", "admin");
    sg_xml_element(w, "sys_created_on", when);
    sg_xml_element(w, "sys_id", set_id);
    sg_xml_element(w, "sys_mod_count", "0");
    sg_xml_element(w, "sys_updated_by", "admin");
    sg_xml_element(w, "sys_updated_on", when);
    sg_xml_start(w, "update_set");
    sg_xml_attribute(w, "display_value", "");
    sg_xml_end(w);
    sg_xml_start(w, "update_source");
    sg_xml_attribute(w, "display_value", "");
    sg_xml_end(w);
    sg_xml_element(w, "updated", NULL);
    sg_xml_end(w);
    for (int i = 0; i < n; i++)
        row(w, &recs[i], set_id, set_name, seed, when);
    sg_xml_end(w);
    return sg_xml_writer_finish(w, out, len);
}
