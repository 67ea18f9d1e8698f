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

/* What the update set's Scripted REST API says of the property: SG_OK when it is password2,
 * with whether it holds a value (never the value itself). */
static int property_status(sg_app *app, const char *base, const char *token, bool *has_value)
{
    long st = 0;
    sg_json *j = NULL;
    int rc = sn_call(app, base, token, "GET", SG_SN_SECRET_PATH, NULL, &st, &j);
    if (rc != SG_OK) {
        sg_json_decref(j);
        return rc;
    }
    sg_json *res = sg_json_get(j, "result");
    const char *type = sg_json_get_str(res, "type");
    bool set = false;
    sg_json_get_bool(res, "set", &set);
    *has_value = set;
    if (st == 200 && type && strcmp(type, "password2") == 0)
        rc = SG_OK;
    else if (st == 200 && type)
        rc = sg_err_set(SG_ECONFLICT,
                        "the system property " SG_SN_PROP_SECRET " is of type '%.30s', readable by "
                        "every admin of the instance: import and commit the current snowgate "
                        "update set, which makes it password2 (encrypted)",
                        type);
    else if (st == 404 || st == 400)
        rc = sg_err_set(SG_ENOTFOUND,
                        "ServiceNow has no " SG_SN_SECRET_PATH " API or no " SG_SN_PROP_SECRET
                        " property (HTTP %ld): import and commit the current snowgate update set",
                        st);
    else
        rc = sg_err_set(sn_status_error(st),
                        "ServiceNow answered HTTP %ld about " SG_SN_PROP_SECRET, st);
    sg_json_decref(j);
    return rc;
}

static int write_value(sg_app *app, const char *base, const char *token, const char *secret)
{
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "value", secret);
    long st = 0;
    sg_json *j = NULL;
    int rc = sn_call(app, base, token, "PUT", SG_SN_SECRET_PATH, body, &st, &j);
    sg_json_decref(body);
    sg_json_decref(j);
    if (rc == SG_OK && st != 200)
        rc = sg_err_set(sn_status_error(st),
                        "ServiceNow refused to store the signing secret in " SG_SN_PROP_SECRET
                        " (HTTP %ld): import and commit the current snowgate update set, and "
                        "check that snowgate.service holds " SG_SN_ROLE,
                        st);
    return rc;
}

int sg_sn_secret_check(sg_app *app, const char *base, const char *token, char *msg, size_t msg_len)
{
    bool has_value = false;
    int rc = property_status(app, base, token, &has_value);
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
    bool has_value = false;
    char *written = NULL;
    int rc = property_status(app, base, token, &has_value);
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
        rc = write_value(app, base, token, written);
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
    /* ServiceNow refusing snowgate's token is no reason to sign the admin out (401). */
    if (rc == SG_EAUTH) {
        char why[300];
        snprintf(why, sizeof(why), "%s", sg_err_msg());
        return sg_err_set(SG_ECONFLICT, "ServiceNow refused snowgate's token: %s", why);
    }
    if (rc != SG_OK)
        return rc;
    /* Check the ServiceNow side before changing anything here. */
    bool has_value = false;
    rc = property_status(app, base, access, &has_value);
    int64_t grace = app->cfg.webhook_secret_grace;
    if (rc == SG_OK)
        rc = sg_integration_rotate_begin(app, (int64_t)time(NULL), grace, &fresh);
    if (rc != SG_OK) {
        sg_secrets_free_plain(access);
        return rc;
    }
    rc = write_value(app, base, access, fresh);
    if (rc != SG_OK)
        snprintf(msg, sizeof(msg), "%s", sg_err_msg());
    sg_secrets_free_plain(fresh);
    sg_secrets_free_plain(access);
    int end = sg_integration_rotate_end(app, rc == SG_OK, (int64_t)time(NULL), grace);
    if (rc != SG_OK && end != SG_OK) {
        char why[300];
        snprintf(why, sizeof(why), "%s", sg_err_msg());
        sg_log_error("webhook secret rotation failed, and the old secret could not be made "
                     "current again",
                     "reason", msg, "store", why);
        return sg_err_set(SG_ECONFLICT,
                          "the rotation did not finish (%s), and snowgate could not go back to "
                          "the old secret (%s): both are accepted for the grace period; rotate "
                          "again once the cause is fixed",
                          msg, why);
    }
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
