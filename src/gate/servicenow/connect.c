/* connect: the checks of Connect and test, in the order of the setup guide. */
#include "gate/servicenow/connect.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/secrets.h"
#include "gate/servicenow/client.h"
#include "gate/servicenow/mirror.h"
#include "gate/servicenow/token_cache.h"
#include "gate/servicenow/integration.h"
#include "gate/servicenow/updateset.h"
#include "gate/servicenow/webhook_secret.h"
#include "http/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

typedef struct checks {
    sg_json *list;
    bool ok;
    /* The only check that failed is the webhook round trip itself: ServiceNow answers and
     * takes snowgate's writes, but its events do not reach snowgate. */
    bool webhook_only;
    /* ServiceNow refused the token, or it acts as someone other than the service account:
     * calls must stop (needs_reconnect), not carry on as another user. */
    bool refused;
    char reason[512];
    sg_app *live; /* when set, each result is published as it comes (Connect and test) */
} checks;

static void publish(checks *c, bool running)
{
    if (!c->live)
        return;
    sg_json *p = sg_json_object();
    sg_json_set_bool(p, "running", running);
    sg_json_set(p, "checks", sg_json_incref(c->list));
    char *text = sg_json_dump(p);
    sg_json_decref(p);
    if (sg_integration_set_progress(c->live, text) != SG_OK)
        sg_log_warn("could not record Connect and test progress", "reason", sg_err_msg());
    free(text);
}

static bool check(checks *c, const char *name, bool ok, const char *message, const char *fix)
{
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "name", name);
    sg_json_set_bool(o, "ok", ok);
    sg_json_set_str(o, "message", message);
    if (!ok && fix)
        sg_json_set_str(o, "fix", fix);
    sg_json_append(c->list, o);
    if (!ok && c->ok) {
        c->ok = false;
        snprintf(c->reason, sizeof(c->reason), "%s: %s", name, message);
    }
    publish(c, true);
    return ok;
}

static void skip_rest(checks *c, const char *const *names)
{
    for (const char *const *n = names; *n; n++) {
        sg_json *o = sg_json_object();
        sg_json_set_str(o, "name", *n);
        sg_json_set(o, "ok", sg_json_null());
        sg_json_set_str(o, "message", "not run: an earlier check failed");
        sg_json_append(c->list, o);
    }
}

static const char *const order[] = {
    "instance_reachable", "token_obtained",     "update_set_committed", "role_assigned",
    "catalog_present",    "webhook_secret_set", "webhook_roundtrip",    NULL};

static const char *const *after(const char *name)
{
    for (const char *const *n = order; *n; n++)
        if (strcmp(*n, name) == 0)
            return n + 1;
    return order + sizeof(order) / sizeof(order[0]) - 1;
}

typedef struct count_ctx {
    char pattern[64];
    int64_t n;
} count_ctx;

static int count_tx(sg_conn *c, void *ctx)
{
    count_ctx *cc = ctx;
    sg_val p[] = {SG_VTEXT(cc->pattern)};
    return sg_conn_query_int(c, "SELECT COUNT(*) FROM webhook_events WHERE body LIKE ?1", p, 1,
                             &cc->n);
}

/* Waits for a webhook naming sys_id, up to the configured timeout. */
static bool wait_webhook(sg_app *app, const char *sys_id)
{
    count_ctx cc;
    snprintf(cc.pattern, sizeof(cc.pattern), "%%%s%%", sys_id);
    int64_t tenths = app->cfg.webhook_timeout * 10;
    for (int64_t i = 0; i <= tenths; i++) {
        cc.n = 0;
        if (sg_store_read(app->store, count_tx, &cc) == SG_OK && cc.n > 0)
            return true;
        struct timespec t = {0, 100 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    return false;
}

/* Checks 3 to 7, with a working access token. Connect and test stores the signing secret in
 * ServiceNow (push_secret); Run test only checks that it is there. */
static void run_checks(sg_app *app, const char *base, const char *token, const char *username,
                       bool push_secret, checks *c, char sn_user_id[33])
{
    char msg[512];
    long st = 0;
    sg_json *j = NULL;
    int rc = sn_call(app, base, token, "GET", SG_SN_USERINFO_PATH, NULL, &st, &j);
    const char *who = sg_json_get_str(sg_json_get(j, "result"), "user_name");
    const char *id = sg_json_get_str(sg_json_get(j, "result"), "sys_id");
    if (rc == SG_OK && st == 401)
        c->refused = true;
    if (rc != SG_OK || st != 200 || !who || !id) {
        snprintf(msg, sizeof(msg), "oauth_userinfo returned %s%ld: the update set is not committed",
                 rc != SG_OK ? "an error, HTTP " : "", st);
        check(c, "update_set_committed", false, msg,
              "Step 3: import, preview and commit 'snowgate Update Set.xml' in ServiceNow");
        sg_json_decref(j);
        skip_rest(c, after("update_set_committed"));
        return;
    }
    if (username && strcmp(who, username) != 0) {
        c->refused = true;
        snprintf(msg, sizeof(msg), "the token belongs to '%s', not '%s'", who, username);
        check(c, "update_set_committed", false, msg,
              "Step 4: connect with the snowgate.service user's password");
        sg_json_decref(j);
        skip_rest(c, after("update_set_committed"));
        return;
    }
    snprintf(msg, sizeof(msg), "oauth_userinfo answers as %s", who);
    check(c, "update_set_committed", true, msg, NULL);
    snprintf(sn_user_id, 33, "%s", id);
    sg_json_decref(j);

    char path[256];
    snprintf(path, sizeof(path),
             "/api/now/table/sys_user_has_role?sysparm_query=user%%3D%s%%5Erole.name%%3D%s"
             "&sysparm_fields=sys_id&sysparm_limit=1",
             sn_user_id, SG_SN_ROLE);
    rc = sn_call(app, base, token, "GET", path, NULL, &st, &j);
    bool has_role = rc == SG_OK && st == 200 && sg_json_array_size(sg_json_get(j, "result")) > 0;
    sg_json_decref(j);
    if (!check(c, "role_assigned", has_role,
               has_role ? "the service account holds " SG_SN_ROLE
                        : "the service account does not hold " SG_SN_ROLE,
               "Step 4: give snowgate.service the role " SG_SN_ROLE)) {
        skip_rest(c, after("role_assigned"));
        return;
    }

    char *title = sg_http_escape(SG_SN_CATALOG);
    snprintf(path, sizeof(path),
             "/api/now/table/sc_catalog?sysparm_query=title%%3D%s&sysparm_limit=1", title);
    free(title);
    rc = sn_call(app, base, token, "GET", path, NULL, &st, &j);
    bool catalog = rc == SG_OK && st == 200 && sg_json_array_size(sg_json_get(j, "result")) > 0;
    sg_json_decref(j);
    if (!check(c, "catalog_present", catalog,
               catalog ? "the '" SG_SN_CATALOG "' catalog exists"
                       : "the '" SG_SN_CATALOG "' catalog is missing",
               "Step 3: commit the update set again; it creates the catalog")) {
        skip_rest(c, after("catalog_present"));
        return;
    }

    /* The signing secret, in the encrypted property the business rule reads. */
    rc = push_secret ? sg_sn_secret_store(app, base, token, msg, sizeof(msg))
                     : sg_sn_secret_check(app, base, token, msg, sizeof(msg));
    /* A property that is missing, plain or empty stops the events, nothing else. */
    if ((rc == SG_ECONFLICT || rc == SG_ENOTFOUND) && c->ok)
        c->webhook_only = true;
    if (!check(c, "webhook_secret_set", rc == SG_OK, msg,
               "Step 3: import and commit the current update set, then Connect and test")) {
        skip_rest(c, after("webhook_secret_set"));
        return;
    }

    /* A sample request: created, changed (the rule fires), and closed again. */
    char corr[64], rnd[17];
    sg_random_hex(rnd, 8);
    snprintf(corr, sizeof(corr), "snowgate:connection-test-%s", rnd);
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "short_description", "snowgate connection test (closes itself)");
    sg_json_set_str(body, "correlation_id", corr);
    rc = sn_call(app, base, token, "POST", "/api/now/table/sc_request", body, &st, &j);
    sg_json_decref(body);
    const char *req_id = sg_json_get_str(sg_json_get(j, "result"), "sys_id");
    if (rc != SG_OK || st != 201 || !req_id) {
        snprintf(msg, sizeof(msg), "could not create a sample request (HTTP %ld)", st);
        check(c, "webhook_roundtrip", false, msg,
              "Step 3: the update set's ACLs let " SG_SN_ROLE " create sc_request; commit it");
        sg_json_decref(j);
        return;
    }
    char sample[33];
    snprintf(sample, sizeof(sample), "%s", req_id);
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s", sample);
    body = sg_json_object();
    sg_json_set_str(body, "request_state", "in_process");
    rc = sn_call(app, base, token, "PATCH", path, body, &st, &j);
    sg_json_decref(body);
    sg_json_decref(j);
    bool changed = rc == SG_OK && st == 200;
    bool arrived = changed && wait_webhook(app, sample);
    if (!changed && rc != SG_OK)
        snprintf(msg, sizeof(msg), "could not update the sample request: %s", sg_err_msg());
    else if (!changed)
        snprintf(msg, sizeof(msg), "could not update the sample request (HTTP %ld)", st);
    else if (arrived)
        snprintf(msg, sizeof(msg), "a signed webhook for the sample request arrived");
    else
        snprintf(msg, sizeof(msg), "no webhook for the sample request arrived within %lld s",
                 (long long)app->cfg.webhook_timeout);
    if (changed && !arrived && c->ok)
        c->webhook_only = true;
    check(c, "webhook_roundtrip", arrived, msg,
          "Check that the snowgate Business Rule is active, that x_snowgate.webhook_url is this "
          "snowgate's public URL, and that ServiceNow can reach it");
    body = sg_json_object();
    sg_json_set_str(body, "request_state", "closed_cancelled");
    sg_json_set_str(body, "active", "false");
    sn_call(app, base, token, "PATCH", path, body, &st, &j);
    sg_json_decref(body);
    sg_json_decref(j);
    if (c->ok) {
        /* The number of linked requests, for the status page. */
        rc =
            sn_call(app, base, token, "GET",
                    "/api/now/table/sc_request?sysparm_query=correlation_idSTARTSWITHsnowgate%3A%5E"
                    "correlation_idNOT%20LIKEconnection-test&sysparm_fields=sys_id&"
                    "sysparm_limit=100000",
                    NULL, &st, &j);
        if (rc == SG_OK && st == 200)
            sg_integration_save_linked(app, (int64_t)sg_json_array_size(sg_json_get(j, "result")));
        sg_json_decref(j);
    }
}

/* Stores the outcome. The status becomes connected when every check passed; otherwise
 * force_status when given; else, for a connection that was working, degraded when only the
 * webhook round trip failed and error for anything else; else (a setup not finished yet)
 * unchanged. */
static sg_json *finish(sg_app *app, checks *c, const char *refresh, const char *sn_user,
                       const char *sn_user_id, const char *force_status)
{
    char at[32];
    sg_now_iso(at);
    sg_json *last = sg_json_object();
    sg_json_set_str(last, "at", at);
    sg_json_set_bool(last, "ok", c->ok);
    sg_json_set(last, "checks", sg_json_incref(c->list));
    sg_integration in;
    sg_integration_get(app, &in);
    const char *status = c->ok                           ? "connected"
                         : force_status                  ? force_status
                         : !sg_integration_callable(&in) ? in.status
                         : c->webhook_only               ? "degraded"
                                                         : "error";
    /* Stored with the status it led to, as GET /api/v1/integrations/servicenow shows it. */
    sg_json_set_str(last, "status", status);
    char *text = sg_json_dump(last);
    sg_integration_save_test(app, status, c->ok ? NULL : c->reason, c->ok ? refresh : NULL,
                             c->ok ? sn_user : NULL, c->ok ? sn_user_id : NULL, text);
    free(text);
    sg_log_kv(c->ok ? SG_LOG_INFO : SG_LOG_WARN, "servicenow test", "ok", c->ok ? "true" : "false",
              "reason", c->reason, "status", status, (const char *)NULL);
    return last;
}

static int prepare(sg_app *app, sg_integration *in, char **client_secret, checks *c, bool live)
{
    c->list = sg_json_array();
    c->ok = true;
    c->webhook_only = false;
    c->refused = false;
    c->reason[0] = '\0';
    c->live = live ? app : NULL;
    int rc = sg_integration_get(app, in);
    if (rc == SG_OK && !in->configured)
        rc = sg_err_set(SG_ECONFLICT, "configure the integration first: PUT "
                                      "/api/v1/integrations/servicenow");
    if (rc == SG_OK)
        rc = sg_integration_client_secret(app, client_secret);
    if (rc != SG_OK) {
        sg_json_decref(c->list);
        return rc;
    }
    publish(c, true);
    /* 1. The instance answers over TLS (any HTTP answer will do). */
    long st = 0;
    sg_json *j = NULL;
    rc = sn_call(app, in->instance_url, NULL, "GET", "/api/now/table/sys_user?sysparm_limit=1",
                 NULL, &st, &j);
    sg_json_decref(j);
    char msg[600];
    if (rc != SG_OK)
        snprintf(msg, sizeof(msg), "%s", sg_err_msg());
    else
        snprintf(msg, sizeof(msg), "%s answers (HTTP %ld)", in->instance_url, st);
    check(c, "instance_reachable", rc == SG_OK, msg,
          "Step 2: check the instance URL and that snowgate can reach it over HTTPS");
    return SG_OK;
}

/* Drops what the calls of a session keep between jobs: the service token and the catalog
 * item's sys_id. */
static void forget_session(sg_app *app)
{
    sg_sn_token_cache_clear(app->sn_tokens);
    sg_mirror_item_cache_clear(app->sn_item);
}

int sg_connect(sg_app *app, const char *username, const char *password, sg_json **result)
{
    sg_integration in;
    forget_session(app); /* nothing from before goes on */
    char *secret = NULL;
    checks c;
    *result = NULL;
    if (!password || !*password)
        return sg_err_set(SG_EINVAL, "password is required: the snowgate.service user's password "
                                     "from step 4");
    if (!username || !*username)
        username = "snowgate.service";
    int rc = prepare(app, &in, &secret, &c, true);
    if (rc != SG_OK)
        return rc;
    sn_tokens tok = {0};
    char sn_user_id[33] = "";
    const char *grant = "password";
    if (c.ok) {
        /* Where the instance allows it, client_credentials needs no password and no refresh
         * token: use it when its application user is the service account. */
        if (sn_token_client_credentials(app, in.instance_url, in.client_id, secret, &tok) ==
            SG_OK) {
            long st = 0;
            sg_json *who = NULL;
            const char *name = NULL;
            if (sn_call(app, in.instance_url, tok.access_token, "GET", SG_SN_USERINFO_PATH, NULL,
                        &st, &who) == SG_OK &&
                st == 200)
                name = sg_json_get_str(sg_json_get(who, "result"), "user_name");
            if (name && strcmp(name, username) == 0)
                grant = "client_credentials";
            else
                sn_tokens_free(&tok);
            sg_json_decref(who);
        }
        rc = strcmp(grant, "client_credentials") == 0
                 ? SG_OK
                 : sn_token_password(app, in.instance_url, in.client_id, secret, username, password,
                                     &tok);
        char msg[600];
        snprintf(msg, sizeof(msg), rc == SG_OK ? "OAuth tokens obtained for %s (%s grant)" : "%s",
                 rc == SG_OK ? username : sg_err_msg(), grant);
        if (check(&c, "token_obtained", rc == SG_OK, msg,
                  rc == SG_EAUTH
                      ? "Steps 1, 2 and 4: check the client ID and secret of the 'snowgate "
                        "OAuth App' and the password of snowgate.service"
                      : "Step 2: check the instance URL"))
            run_checks(app, in.instance_url, tok.access_token, username, true, &c, sn_user_id);
        else
            skip_rest(&c, after("token_obtained"));
    } else {
        skip_rest(&c, after("instance_reachable"));
    }
    *result = finish(app, &c, tok.refresh_token, username, sn_user_id, NULL);
    publish(&c, false);
    if (c.ok)
        sg_integration_save_grant(
            app, grant,
            strcmp(grant, "password") == 0 ? (int64_t)time(NULL) + app->cfg.refresh_lifespan : 0);
    sn_tokens_free(&tok);
    sg_secrets_free_plain(secret);
    sg_json_decref(c.list);
    return c.ok ? SG_OK : sg_err_set(SG_ECONFLICT, "%s", c.reason);
}

/* The stored refresh token, when the grant Connect and test chose uses one (*refresh stays
 * NULL for client_credentials); refused once past its lifespan. */
static int service_refresh(sg_app *app, const sg_integration *in, char **refresh)
{
    *refresh = NULL;
    if (strcmp(in->grant_type, "client_credentials") == 0)
        return SG_OK;
    if (in->refresh_expires > 0 && (int64_t)time(NULL) > in->refresh_expires)
        return sg_err_set(SG_EAUTH, "the refresh token expired; connect again");
    int rc = sg_integration_refresh_token(app, refresh);
    if (rc == SG_OK && !*refresh)
        rc = sg_err_set(SG_EAUTH, "no stored token: connect first");
    return rc;
}

/* A new token for the service account by the grant Connect and test chose: client_credentials
 * again, or the refresh token from service_refresh. */
static int service_grant(sg_app *app, const sg_integration *in, const char *secret,
                         const char *refresh, sn_tokens *tok)
{
    if (!refresh)
        return sn_token_client_credentials(app, in->instance_url, in->client_id, secret, tok);
    return sn_token_refresh(app, in->instance_url, in->client_id, secret, refresh, tok);
}

static int service_token(sg_app *app, const sg_integration *in, const char *secret, sn_tokens *tok)
{
    char *refresh = NULL;
    int rc = service_refresh(app, in, &refresh);
    if (rc == SG_OK)
        rc = service_grant(app, in, secret, refresh, tok);
    sg_secrets_free_plain(refresh);
    return rc;
}

/* What a cached service token is keyed on: every credential it was obtained with, under an
 * HMAC with a key of this process's own, so that the key (kept as long as the token) is no
 * plain hash of the secret. The parts go into one buffer sized up front: no realloc leaves a
 * copy of the secret behind. */
static uint8_t token_mac_key[32];

static void new_token_mac_key(void)
{
    /* Without randomness the key stays zero: the digest is then a plain hash, still unique. */
    if (sg_random(token_mac_key, sizeof(token_mac_key)) != SG_OK)
        memset(token_mac_key, 0, sizeof(token_mac_key));
}

static void token_key(const sg_integration *in, const char *secret, const char *refresh,
                      uint8_t out[SG_SHA256_LEN])
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, new_token_mac_key);
    const char *parts[] = {in->instance_url, in->client_id,        in->grant_type,
                           in->sn_user,      secret ? secret : "", refresh ? refresh : ""};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        n += strlen(parts[i]) + 1;
    char *b = sg_xmalloc(n);
    size_t at = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t len = strlen(parts[i]) + 1;
        memcpy(b + at, parts[i], len);
        at += len;
    }
    sg_hmac_sha256(token_mac_key, sizeof(token_mac_key), b, n, out);
    sg_wipe(b, n);
    free(b);
}

/* service_token for the calls of a session: the cached token while it lasts (a token request
 * per job, each a round trip and a write in ServiceNow, was a hop of every decision). Connect
 * and test always asks for a new one, since it tests that the credentials still work. */
static int session_token(sg_app *app, const sg_integration *in, const char *secret, char **access)
{
    char *refresh = NULL;
    uint8_t key[SG_SHA256_LEN];
    int64_t now = (int64_t)time(NULL);
    *access = NULL;
    int rc = service_refresh(app, in, &refresh);
    if (rc == SG_OK) {
        token_key(in, secret, refresh, key);
        *access = sg_sn_token_cache_get(app->sn_tokens, key, now);
    }
    sn_tokens tok = {0};
    if (rc == SG_OK && !*access)
        rc = service_grant(app, in, secret, refresh, &tok);
    if (rc == SG_OK && !*access) {
        sg_sn_token_cache_put(app->sn_tokens, key, tok.access_token, tok.expires_in, now);
        *access = tok.access_token;
        tok.access_token = NULL;
    }
    sn_tokens_free(&tok);
    sg_secrets_free_plain(refresh);
    sg_wipe(key, sizeof(key));
    return rc;
}

int sg_connect_test(sg_app *app, sg_json **result)
{
    sg_integration in;
    forget_session(app); /* nothing from before goes on */
    char *secret = NULL;
    checks c;
    *result = NULL;
    int rc = prepare(app, &in, &secret, &c, false);
    if (rc != SG_OK)
        return rc;
    sn_tokens tok = {0};
    char sn_user_id[33] = "";
    if (c.ok) {
        rc = service_token(app, &in, secret, &tok);
        if (check(&c, "token_obtained", rc == SG_OK,
                  rc == SG_OK ? "the stored credentials work" : sg_err_msg(),
                  "Connect again with the snowgate.service password (Connect and test)"))
            run_checks(app, in.instance_url, tok.access_token, in.sn_user[0] ? in.sn_user : NULL,
                       false, &c, sn_user_id);
        else
            skip_rest(&c, after("token_obtained"));
    } else {
        skip_rest(&c, after("instance_reachable"));
    }
    /* A missing, expired or refused refresh token, a token ServiceNow refuses, or one acting
     * as another user means the admin must connect again; until then no call is made. */
    bool reconnect = !c.ok && ((!tok.access_token && rc == SG_EAUTH) || c.refused);
    *result = finish(app, &c, tok.refresh_token, in.sn_user[0] ? in.sn_user : NULL,
                     sn_user_id[0] ? sn_user_id : NULL, reconnect ? "needs_reconnect" : NULL);
    publish(&c, false);
    sn_tokens_free(&tok);
    sg_secrets_free_plain(secret);
    sg_json_decref(c.list);
    return c.ok ? SG_OK : sg_err_set(SG_ECONFLICT, "%s", c.reason);
}

int sg_servicenow_session(sg_app *app, char base[256], char **access)
{
    sg_integration in;
    char *secret = NULL;
    *access = NULL;
    int rc = sg_integration_get(app, &in);
    if (rc != SG_OK)
        return rc;
    /* Only a setup never finished and refused tokens stop the calls. A failed Run test
     * (degraded, error) does not: each call then succeeds or fails on its own error. */
    if (strcmp(in.status, "needs_reconnect") == 0)
        return sg_err_set(SG_ECONFLICT,
                          "ServiceNow refused snowgate's tokens (status needs_reconnect): run "
                          "Connect and test again with the snowgate.service password");
    if (!sg_integration_callable(&in))
        return sg_err_set(SG_ECONFLICT,
                          "ServiceNow is not connected (status %s): run Connect and "
                          "test first",
                          in.status);
    snprintf(base, 256, "%s", in.instance_url);
    rc = sg_integration_client_secret(app, &secret);
    if (rc == SG_OK)
        rc = session_token(app, &in, secret, access);
    if (rc == SG_EAUTH)
        sg_integration_save_test(app, "needs_reconnect", "ServiceNow refused the refresh token",
                                 NULL, NULL, NULL, in.last_test[0] ? in.last_test : NULL);
    sg_secrets_free_plain(secret);
    return rc;
}

int sg_servicenow_overview(sg_app *app, sg_json **out)
{
    char base[256];
    char *access = NULL;
    *out = NULL;
    int rc = sg_servicenow_session(app, base, &access);
    if (rc != SG_OK)
        return rc;
    long st = 0;
    sg_json *j = NULL;
    rc = sn_call(app, base, access, "GET",
                 "/api/now/table/sc_request?sysparm_query=correlation_idSTARTSWITHsnowgate%3A%5E"
                 "correlation_idNOT%20LIKEconnection-test%5EORDERBYDESCsys_created_on&"
                 "sysparm_fields=sys_id,number,request_state,approval,correlation_id,"
                 "sys_updated_on&sysparm_limit=1000",
                 NULL, &st, &j);
    sg_secrets_free_plain(access);
    if (rc == SG_OK && st != 200)
        rc = sg_err_set(SG_ENET, "ServiceNow answered HTTP %ld to the request query", st);
    if (rc != SG_OK) {
        sg_json_decref(j);
        return rc;
    }
    sg_json *list = sg_json_get(j, "result");
    sg_json *by_state = sg_json_object();
    sg_json *latest = sg_json_array();
    size_t n = sg_json_array_size(list);
    for (size_t i = 0; i < n; i++) {
        sg_json *r = sg_json_array_get(list, i);
        const char *state = sg_json_get_str(r, "request_state");
        int64_t count = 0;
        sg_json_get_int(by_state, state ? state : "", &count);
        sg_json_set_int(by_state, state ? state : "", count + 1);
        if (i < 50) {
            sg_json *o = sg_json_object();
            sg_json_set_str(o, "number", sg_json_get_str(r, "number"));
            sg_json_set_str(o, "sys_id", sg_json_get_str(r, "sys_id"));
            sg_json_set_str(o, "request_state", state);
            sg_json_set_str(o, "approval", sg_json_get_str(r, "approval"));
            sg_json_set_str(o, "correlation_id", sg_json_get_str(r, "correlation_id"));
            char url[512];
            snprintf(url, sizeof(url), "%s/sc_request.do?sys_id=%s", base,
                     sg_json_get_str(r, "sys_id") ? sg_json_get_str(r, "sys_id") : "");
            sg_json_set_str(o, "url", url);
            sg_json_append(latest, o);
        }
    }
    sg_json *res = sg_json_object();
    sg_json_set_int(res, "linked_requests", (int64_t)n);
    sg_json_set(res, "by_state", by_state);
    sg_json_set(res, "latest", latest);
    sg_json_decref(j);
    *out = res;
    return SG_OK;
}

int sg_servicenow_disconnect(sg_app *app)
{
    sg_integration in;
    forget_session(app); /* nothing from before goes on */
    char *refresh = NULL;
    int rc = sg_integration_get(app, &in);
    if (rc != SG_OK)
        return rc;
    if (in.configured && sg_integration_refresh_token(app, &refresh) == SG_OK && refresh) {
        char *tok = sg_http_escape(refresh);
        char *path = sg_xasprintf("/oauth_revoke_token.do?token=%s", tok);
        long st = 0;
        sg_json *j = NULL;
        if (sn_call(app, in.instance_url, NULL, "POST", path, NULL, &st, &j) != SG_OK || st != 200)
            sg_log_warn("could not revoke the ServiceNow token; it expires on its own", "instance",
                        in.instance_url);
        sg_json_decref(j);
        sg_wipe(path, strlen(path));
        sg_wipe(tok, strlen(tok));
        free(path);
        free(tok);
    }
    sg_secrets_free_plain(refresh);
    return sg_integration_delete(app);
}
