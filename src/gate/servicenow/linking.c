/* linking: account links and the pending-authorization states. */
#include "gate/servicenow/linking.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/str.h"
#include "core/log.h"
#include "core/mem.h"
#include "gate/governance/audit.h"
#include "gate/secrets.h"
#include "gate/servicenow/client.h"
#include "gate/servicenow/integration.h"
#include "gate/servicenow/updateset.h"
#include "http/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct start_ctx {
    const char *state, *user_id, *verifier_sealed, *browser_hash;
} start_ctx;

/* The stored form of a browser nonce: SHA-256, lowercase hex (64 characters). */
static void browser_hash(const char *nonce, char out[2 * SG_SHA256_LEN + 1])
{
    uint8_t d[SG_SHA256_LEN];
    sg_sha256(nonce, strlen(nonce), d);
    sg_hex_encode(d, sizeof(d), out);
}

static int start_tx(sg_conn *c, void *ctx)
{
    start_ctx *s = ctx;
    sg_val old[] = {SG_VINT((int64_t)time(NULL))};
    int rc = sg_conn_exec(c, "DELETE FROM oauth_states WHERE expires_at < ?1", old, 1, NULL);
    if (rc != SG_OK)
        return rc;
    sg_val v[] = {SG_VTEXT(s->state), SG_VTEXT(s->user_id), SG_VTEXT(s->verifier_sealed),
                  SG_VINT((int64_t)time(NULL) + SG_LINK_STATE_TTL), SG_VTEXT(s->browser_hash)};
    return sg_conn_exec(c,
                        "INSERT INTO oauth_states (state, user_id, code_verifier, expires_at, "
                        "browser_hash) VALUES (?1, ?2, ?3, ?4, ?5)",
                        v, 5, NULL);
}

int sg_link_start(sg_app *app, const sg_user *u, char nonce[SG_LINK_NONCE_LEN + 1], char **url)
{
    sg_integration in;
    *url = NULL;
    nonce[0] = '\0';
    int rc = sg_integration_get(app, &in);
    if (rc != SG_OK)
        return rc;
    if (!in.configured)
        return sg_err_set(SG_ECONFLICT, "ServiceNow is not set up yet; ask an admin to connect it");
    char state[65];
    uint8_t raw[32], d[SG_SHA256_LEN];
    sg_random_hex(state, 32);
    sg_buf verifier = SG_BUF_INIT(0), challenge = SG_BUF_INIT(0);
    sg_random(raw, sizeof(raw));
    sg_base64_encode(raw, sizeof(raw), true, &verifier);
    sg_wipe(raw, sizeof(raw));
    sg_sha256(verifier.data, verifier.len, d);
    sg_base64_encode(d, sizeof(d), true, &challenge);
    char *sealed = NULL;
    char binding[96];
    snprintf(binding, sizeof(binding), "oauth_states:%s:code_verifier", state);
    rc = sg_secrets_seal(&app->secrets, binding, sg_buf_str(&verifier), &sealed);
    sg_buf_wipe(&verifier);
    char bhash[2 * SG_SHA256_LEN + 1];
    sg_random_hex(nonce, SG_LINK_NONCE_LEN / 2);
    browser_hash(nonce, bhash);
    if (rc == SG_OK) {
        start_ctx s = {state, u->id, sealed, bhash};
        rc = sg_store_tx(app->store, start_tx, &s);
    }
    if (rc != SG_OK)
        sg_wipe(nonce, SG_LINK_NONCE_LEN + 1);
    free(sealed);
    if (rc == SG_OK) {
        char redirect[400];
        snprintf(redirect, sizeof(redirect), "%s/oauth-callback", app->public_url);
        char *r = sg_http_escape(redirect), *cid = sg_http_escape(in.client_id);
        *url = sg_xasprintf("%s/oauth_auth.do?response_type=code&client_id=%s&redirect_uri=%s"
                            "&state=%s&code_challenge=%s&code_challenge_method=S256",
                            in.instance_url, cid, r, state, sg_buf_str(&challenge));
        free(r);
        free(cid);
    }
    sg_buf_free(&challenge);
    return rc;
}

typedef struct take_ctx {
    const char *state;
    char user_id[33];
    char *sealed;
    int64_t expires;
    char browser_hash[2 * SG_SHA256_LEN + 1]; /* "" when the row has none */
} take_ctx;

/* Takes the state: read and delete in one transaction, so it is used once. */
static int take_tx(sg_conn *c, void *ctx)
{
    take_ctx *t = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(t->state)};
    int rc = sg_conn_query(c,
                           "SELECT user_id, code_verifier, expires_at, browser_hash "
                           "FROM oauth_states WHERE state = ?1",
                           k, 1, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    if (step == 1) {
        snprintf(t->user_id, sizeof(t->user_id), "%s", sg_rows_text(r, 0));
        t->sealed = sg_xstrdup(sg_rows_text(r, 1));
        t->expires = sg_rows_int(r, 2);
        const char *bh = sg_rows_text(r, 3);
        if (bh && strlen(bh) == 2 * SG_SHA256_LEN)
            memcpy(t->browser_hash, bh, 2 * SG_SHA256_LEN + 1);
    }
    sg_rows_free(r);
    if (step < 0)
        return step;
    return sg_conn_exec(c, "DELETE FROM oauth_states WHERE state = ?1", k, 1, NULL);
}

typedef struct link_ctx {
    const char *user_id, *name, *sys_id, *refresh_sealed;
} link_ctx;

static int link_tx(sg_conn *c, void *ctx)
{
    link_ctx *l = ctx;
    char now[32];
    sg_now_iso(now);
    sg_val k[] = {SG_VTEXT(l->user_id)};
    /* A flow started before its user was disabled does not finish after. */
    int64_t enabled = 0;
    int rc = sg_conn_query_int(
        c, "SELECT COUNT(*) FROM users WHERE id = ?1 AND disabled_at IS NULL", k, 1, &enabled);
    if (rc == SG_OK && enabled == 0)
        rc = sg_err_set(SG_EFORBIDDEN, "this snowgate account is disabled; nothing was linked");
    if (rc == SG_OK)
        rc = sg_conn_exec(c, "DELETE FROM account_links WHERE user_id = ?1", k, 1, NULL);
    if (rc != SG_OK)
        return rc;
    sg_val v[] = {SG_VTEXT(l->user_id), SG_VTEXT(l->name), SG_VTEXT(l->sys_id),
                  SG_VTEXT(l->refresh_sealed), SG_VTEXT(now)};
    return sg_conn_exec(c,
                        "INSERT INTO account_links (user_id, sn_user_name, sn_user_id, "
                        "refresh_token, linked_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                        v, 5, NULL);
}

/* Whether the browser's nonce hashes to the one stored with the state, in constant time. */
static bool same_browser(const take_ctx *t, const char *nonce)
{
    if (!nonce || strlen(nonce) != SG_LINK_NONCE_LEN || !t->browser_hash[0])
        return false;
    char got[2 * SG_SHA256_LEN + 1];
    browser_hash(nonce, got);
    return sg_ct_equal(got, t->browser_hash, 2 * SG_SHA256_LEN);
}

int sg_link_finish(sg_app *app, const char *code, const char *state, const char *browser_nonce,
                   char **sn_user)
{
    *sn_user = NULL;
    if (!state || strlen(state) != 64 || !code || !*code || strlen(code) > 1024)
        return sg_err_set(SG_EINVAL,
                          "the sign-in link is incomplete; start linking again from snowgate");
    take_ctx t = {state, "", NULL, 0, ""};
    int rc = sg_store_tx(app->store, take_tx, &t);
    if (rc != SG_OK)
        return rc;
    if (!t.sealed)
        return sg_err_set(SG_EINVAL, "this sign-in link was already used or is unknown; start "
                                     "linking again from snowgate");
    /* The state is spent by now: a link someone else started cannot be finished by a retry
     * either, and the code is never exchanged, so no identity is learnt or linked. */
    if (!same_browser(&t, browser_nonce)) {
        free(t.sealed);
        sg_log_warn("servicenow account link refused: finished in another browser", "user_id",
                    t.user_id);
        return sg_err_set(SG_EFORBIDDEN,
                          "this link to ServiceNow was started in another browser, so nothing "
                          "was linked. If you meant to link your own account, start again from "
                          "your profile in snowgate, in this browser. If someone sent you this "
                          "link, they were trying to link your ServiceNow account to theirs.");
    }
    char *verifier = NULL, *secret = NULL;
    char binding[96];
    snprintf(binding, sizeof(binding), "oauth_states:%s:code_verifier", state);
    rc = sg_secrets_open_value(&app->secrets, binding, t.sealed, &verifier);
    free(t.sealed);
    if (rc == SG_OK && t.expires < (int64_t)time(NULL))
        rc = sg_err_set(SG_EINVAL, "this sign-in link expired; start linking again from snowgate");
    sg_integration in;
    if (rc == SG_OK)
        rc = sg_integration_get(app, &in);
    if (rc == SG_OK)
        rc = sg_integration_client_secret(app, &secret);
    sn_tokens tok = {0};
    if (rc == SG_OK) {
        char redirect[400];
        snprintf(redirect, sizeof(redirect), "%s/oauth-callback", app->public_url);
        rc = sn_token_code(app, in.instance_url, in.client_id, secret, code, redirect, verifier,
                           &tok);
    }
    long st = 0;
    sg_json *who = NULL;
    if (rc == SG_OK)
        rc = sn_call_as_user(app, in.instance_url, tok.access_token, "GET", SG_SN_USERINFO_PATH,
                             NULL, &st, &who);
    const char *name = sg_json_get_str(sg_json_get(who, "result"), "user_name");
    const char *id = sg_json_get_str(sg_json_get(who, "result"), "sys_id");
    if (rc == SG_OK && (st != 200 || !name || !id))
        rc = sg_err_set(SG_ENET,
                        "ServiceNow's oauth_userinfo answered HTTP %ld; ask an admin to "
                        "check the integration",
                        st);
    char *sealed = NULL;
    if (rc == SG_OK && tok.refresh_token) {
        char rb[96];
        snprintf(rb, sizeof(rb), "account_links:%s:refresh_token", t.user_id);
        rc = sg_secrets_seal(&app->secrets, rb, tok.refresh_token, &sealed);
    }
    if (rc == SG_OK) {
        link_ctx l = {t.user_id, name, id, sealed};
        rc = sg_store_tx(app->store, link_tx, &l);
    }
    if (rc == SG_OK) {
        char detail[256];
        snprintf(detail, sizeof(detail), "{\"servicenow_user\":\"%s\"}", id);
        rc = sg_audit_record(app->store, t.user_id, "servicenow.account_linked", name, detail);
    }
    if (rc == SG_OK) {
        *sn_user = sg_xstrdup(name);
        sg_log_info("servicenow account linked", "user_id", t.user_id, "sn_user", name);
    }
    free(sealed);
    sg_json_decref(who);
    sn_tokens_free(&tok);
    sg_secrets_free_plain(secret);
    sg_secrets_free_plain(verifier);
    return rc;
}

static int cancel_tx(sg_conn *c, void *ctx)
{
    sg_val k[] = {SG_VTEXT(ctx)};
    return sg_conn_exec(c, "DELETE FROM oauth_states WHERE state = ?1", k, 1, NULL);
}

void sg_link_cancel(sg_app *app, const char *state)
{
    if (state && strlen(state) == 64)
        sg_store_tx(app->store, cancel_tx, (void *)state);
}

typedef struct get_ctx {
    const char *user_id;
    sg_json *out;
} get_ctx;

static int get_tx(sg_conn *c, void *ctx)
{
    get_ctx *g = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(g->user_id)};
    int rc = sg_conn_query(c,
                           "SELECT sn_user_name, sn_user_id, linked_at FROM account_links "
                           "WHERE user_id = ?1",
                           k, 1, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    g->out = sg_json_object();
    sg_json_set_bool(g->out, "linked", step == 1);
    if (step == 1) {
        sg_json_set_str(g->out, "user_name", sg_rows_text(r, 0));
        sg_json_set_str(g->out, "sys_id", sg_rows_text(r, 1));
        sg_json_set_str(g->out, "linked_at", sg_rows_text(r, 2));
    }
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

int sg_link_get(sg_app *app, const sg_user *u, sg_json **out)
{
    get_ctx g = {u->id, NULL};
    int rc = sg_store_read(app->store, get_tx, &g);
    if (rc != SG_OK) {
        sg_json_decref(g.out);
        return rc;
    }
    *out = g.out;
    return SG_OK;
}
