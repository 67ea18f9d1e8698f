/* webhook_secret: the signing secret's ServiceNow side and its rotation. */
#include "gate/servicenow/webhook_secret.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/secrets.h"
#include "gate/servicenow/client.h"
#include "gate/servicenow/connect.h"
#include "gate/servicenow/integration.h"
#include "gate/servicenow/updateset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The property's sys_id and type, as the service account sees it. */
static int find_property(sg_app *app, const char *base, const char *token, char sys_id[33],
                         char *type, size_t type_len, bool *has_value)
{
    long st = 0;
    sg_json *j = NULL;
    int rc = sn_call(app, base, token, "GET",
                     "/api/now/table/sys_properties?sysparm_query=name%3D" SG_SN_PROP_SECRET
                     "&sysparm_fields=sys_id,type,value&sysparm_limit=1",
                     NULL, &st, &j);
    if (rc != SG_OK) {
        sg_json_decref(j);
        return rc;
    }
    sg_json *row = sg_json_array_get(sg_json_get(j, "result"), 0);
    const char *id = sg_json_get_str(row, "sys_id");
    if (st != 200 || !id || strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32) {
        sg_json_decref(j);
        return sg_err_set(SG_ENOTFOUND,
                          "the system property " SG_SN_PROP_SECRET " is missing, or the service "
                          "account cannot read it (HTTP %ld): import and commit the current "
                          "snowgate update set",
                          st);
    }
    snprintf(sys_id, 33, "%s", id);
    const char *t = sg_json_get_str(row, "type");
    snprintf(type, type_len, "%s", t ? t : "");
    const char *v = sg_json_get_str(row, "value");
    *has_value = v && *v;
    sg_json_decref(j);
    return SG_OK;
}

/* Finds the property and checks its type; *has_value says whether it holds a secret. */
static int password2_property(sg_app *app, const char *base, const char *token, char sys_id[33],
                              bool *has_value)
{
    char type[32];
    int rc = find_property(app, base, token, sys_id, type, sizeof(type), has_value);
    if (rc == SG_OK && strcmp(type, "password2") != 0)
        rc = sg_err_set(SG_ECONFLICT,
                        "the system property " SG_SN_PROP_SECRET " is of type '%s', readable by "
                        "every admin of the instance: import and commit the current snowgate "
                        "update set, which makes it password2 (encrypted)",
                        type);
    return rc;
}

static int write_value(sg_app *app, const char *base, const char *token, const char *sys_id,
                       const char *secret)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sys_properties/%s", sys_id);
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "value", secret);
    long st = 0;
    sg_json *j = NULL;
    int rc = sn_call(app, base, token, "PATCH", path, body, &st, &j);
    sg_json_decref(body);
    sg_json_decref(j);
    if (rc == SG_OK && st != 200)
        rc = sg_err_set(st == 429 || st >= 500 ? SG_EUNAVAIL : SG_ENET,
                        "ServiceNow refused to store the signing secret in " SG_SN_PROP_SECRET
                        " (HTTP %ld): the update set's ACLs let " SG_SN_ROLE " write it; "
                        "commit the current update set",
                        st);
    return rc;
}

int sg_sn_secret_check(sg_app *app, const char *base, const char *token, char *msg, size_t msg_len)
{
    char sys_id[33];
    bool has_value = false;
    int rc = password2_property(app, base, token, sys_id, &has_value);
    if (rc == SG_OK && !has_value)
        rc = sg_err_set(SG_ECONFLICT, "the system property " SG_SN_PROP_SECRET
                                      " holds no secret: run Connect and test, which stores it");
    snprintf(msg, msg_len, "%s",
             rc == SG_OK ? SG_SN_PROP_SECRET " holds the signing secret (password2)"
                         : sg_err_msg());
    return rc;
}

int sg_sn_secret_store(sg_app *app, const char *base, const char *token, char *msg, size_t msg_len)
{
    char sys_id[33];
    bool has_value = false;
    char *written = NULL;
    int rc = password2_property(app, base, token, sys_id, &has_value);
    /* A rotation that began after the read below and wrote before this write would be undone:
     * read again after writing, and write the newer secret if it changed meanwhile. */
    for (int round = 0; rc == SG_OK && round < 3; round++) {
        char *current = NULL;
        rc = sg_integration_webhook_secret(app, &current);
        if (rc != SG_OK)
            break;
        bool same = written && strcmp(written, current) == 0;
        sg_secrets_free_plain(written);
        written = current;
        if (same)
            break;
        rc = write_value(app, base, token, sys_id, written);
    }
    sg_secrets_free_plain(written);
    snprintf(msg, msg_len, "%s",
             rc == SG_OK ? "the signing secret is stored in " SG_SN_PROP_SECRET " (password2)"
                         : sg_err_msg());
    return rc;
}

int sg_sn_secret_rotate(sg_app *app, sg_json **out)
{
    char base[256], msg[600] = "";
    char *access = NULL, *fresh = NULL;
    *out = NULL;
    int rc = sg_servicenow_session(app, base, &access);
    if (rc != SG_OK)
        return rc;
    /* Check the ServiceNow side before changing anything here. */
    char sys_id[33];
    bool has_value = false;
    rc = password2_property(app, base, access, sys_id, &has_value);
    int64_t grace = app->cfg.webhook_secret_grace;
    if (rc == SG_OK)
        rc = sg_integration_rotate_begin(app, (int64_t)time(NULL), grace, &fresh);
    if (rc != SG_OK) {
        sg_secrets_free_plain(access);
        return rc;
    }
    rc = write_value(app, base, access, sys_id, fresh);
    if (rc != SG_OK)
        snprintf(msg, sizeof(msg), "%s", sg_err_msg());
    sg_secrets_free_plain(fresh);
    sg_secrets_free_plain(access);
    int end = sg_integration_rotate_end(app, rc == SG_OK, (int64_t)time(NULL), grace);
    if (rc != SG_OK) {
        sg_log_warn("webhook secret rotation failed; the old secret stays in use", "reason", msg);
        /* A conflict (409), not a 5xx: the admin needs the reason, which names nothing
         * internal. */
        return sg_err_set(SG_ECONFLICT,
                          "the rotation did not finish, and the old secret stays in use: %s", msg);
    }
    if (end != SG_OK)
        return end;
    sg_integration in;
    rc = sg_integration_get(app, &in);
    if (rc != SG_OK)
        return rc;
    sg_json *j = sg_integration_json(app, &in);
    *out = sg_json_incref(sg_json_get(j, "webhook_secret"));
    sg_json_decref(j);
    sg_log_info("webhook secret rotated");
    return SG_OK;
}
