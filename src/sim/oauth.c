/* oauth: tokens are random 64-byte values (86 base64url characters, like real instances),
 * stored only as SHA-256 hashes in oauth_credential. Authorization codes and login sessions
 * are short-lived and kept in memory. */
#include "sim/oauth.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "http/client.h"
#include "http/form.h"
#include "sim/faults.h"
#include "sim/sim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CODES    256
#define MAX_SESSIONS 256
#define SESSION_TTL  1800

typedef struct auth_code {
    char code[48];
    char client_id[128];
    char redirect_uri[512];
    char user_id[33];
    char challenge[128];
    time_t expires;
} auth_code;

struct sim_oauth {
    pthread_mutex_t mu;
    auth_code codes[MAX_CODES];
    sim_session sessions[MAX_SESSIONS];
};

sim_oauth *sim_oauth_new(void)
{
    sim_oauth *o = sg_xcalloc(1, sizeof(*o));
    pthread_mutex_init(&o->mu, NULL);
    return o;
}

void sim_oauth_free(sim_oauth *o)
{
    if (!o)
        return;
    sg_wipe(o->codes, sizeof(o->codes));
    pthread_mutex_destroy(&o->mu);
    free(o);
}

/* ---- the token endpoint ---- */

static int token_error(sg_http_req *req)
{
    /* Real instances answer nearly every failure alike; the reason goes to the log only. */
    static const char body[] =
        "{\"error_description\":\"access_denied\",\"error\":\"server_error\"}";
    sg_log_info("oauth token refused", "reason", sg_err_msg());
    return sg_http_reply(req, 401, "application/json;charset=UTF-8", body, sizeof(body) - 1);
}

static void hash_hex(const char *token, char out[65])
{
    uint8_t d[SG_SHA256_LEN];
    sg_sha256(token, strlen(token), d);
    sg_hex_encode(d, sizeof(d), out);
}

static char *new_token(void)
{
    uint8_t raw[64];
    sg_buf b = SG_BUF_INIT(0);
    sg_random(raw, sizeof(raw));
    sg_base64_encode(raw, sizeof(raw), true, &b);
    sg_wipe(raw, sizeof(raw));
    return sg_buf_detach(&b, NULL);
}

/* Stores a credential; caller holds the write lock. */
static int store_token(sg_sim *sim, const char *token, const char *type, const char *user_id,
                       const char *entity_id, int64_t lifespan, const char *peer_hash)
{
    char h[65], exp[20];
    hash_hex(token, h);
    sim_time_format((int64_t)time(NULL) + lifespan, exp);
    sg_json *v = sg_json_object();
    sg_json_set_str(v, "token_hash", h);
    sg_json_set_str(v, "type", type);
    sg_json_set_str(v, "user", user_id);
    sg_json_set_str(v, "oauth_entity", entity_id);
    sg_json_set_str(v, "expires", exp);
    sg_json_set_str(v, "peer", peer_hash ? peer_hash : "");
    int rc = sim_db_insert(sim->db, sim_dict_table("oauth_credential"), v, "system", NULL);
    sg_json_decref(v);
    return rc;
}

static int64_t entity_int(const sim_rec *e, const char *field, int64_t def)
{
    int64_t v = def;
    if (sg_parse_i64(sim_rec_get(e, field), 1, INT32_MAX, field, &v) != SG_OK)
        v = def;
    return v;
}

/* Issues tokens; the caller holds the write lock. */
static int issue(sg_sim *sim, sg_http_req *req, const sim_rec *entity, const char *user_id,
                 bool with_refresh, const char *existing_refresh)
{
    int64_t access_life = entity_int(entity, "access_token_lifespan", 1800);
    int64_t refresh_life = entity_int(entity, "refresh_token_lifespan", 8640000);
    char *access = new_token();
    char *refresh = NULL;
    char rh[65] = "";
    int rc = SG_OK;
    if (with_refresh && existing_refresh) {
        refresh = sg_xstrdup(existing_refresh);
        hash_hex(refresh, rh);
    } else if (with_refresh) {
        refresh = new_token();
        hash_hex(refresh, rh);
        rc =
            store_token(sim, refresh, "refresh_token", user_id, entity->sys_id, refresh_life, NULL);
    }
    if (rc == SG_OK)
        rc = store_token(sim, access, "access_token", user_id, entity->sys_id, access_life,
                         rh[0] ? rh : NULL);
    if (rc == SG_OK) {
        sg_json *j = sg_json_object();
        sg_json_set_str(j, "access_token", access);
        if (refresh)
            sg_json_set_str(j, "refresh_token", refresh);
        sg_json_set_str(j, "scope", "useraccount");
        sg_json_set_str(j, "token_type", "Bearer");
        sg_json_set_int(j, "expires_in", access_life - 1);
        sg_http_set_header(req, "Cache-Control", "no-store");
        char *text = sg_json_dump(j);
        sg_json_decref(j);
        rc = sg_http_reply(req, 200, "application/json;charset=UTF-8", text, strlen(text));
        sg_wipe(text, strlen(text));
        free(text);
    }
    sg_wipe(access, strlen(access));
    free(access);
    if (refresh) {
        sg_wipe(refresh, strlen(refresh));
        free(refresh);
    }
    return rc;
}

/* Finds an active client and checks its secret (a public client needs none, but then only
 * PKCE-protected flows may use it). Caller holds a db lock. */
static sim_rec *client(sg_sim *sim, const char *client_id, const char *secret, bool *is_public)
{
    if (!client_id || !*client_id) {
        sg_err_set(SG_EAUTH, "client_id missing");
        return NULL;
    }
    sim_rec *e = sim_db_find(sim->db, sim_dict_table("oauth_entity"), "client_id", client_id);
    if (!e || strcmp(sim_rec_get(e, "active"), "true") != 0) {
        sg_err_set(SG_EAUTH, "unknown or inactive client_id");
        return NULL;
    }
    *is_public = strcmp(sim_rec_get(e, "public_client"), "true") == 0;
    if (*is_public && (!secret || !*secret))
        return e;
    /* Through the credential cache: a service asks for a token per job, and a fresh PBKDF2
     * each time, under the write lock its callers hold, stalled every other call. */
    if (!sim_auth_secret_ok(sim->auth, e->sys_id, sim_rec_get(e, "client_secret"), secret)) {
        sg_err_set(SG_EAUTH, "wrong client_secret");
        return NULL;
    }
    return e;
}

static bool property_true(sg_sim *sim, const char *name)
{
    char *v = sim_property_value(sim->db, name);
    bool yes = v && strcmp(v, "true") == 0;
    sim_property_free(v);
    return yes;
}

static const char *param(const sg_form *f, sg_http_req *req, const char *name)
{
    const char *v = sg_form_get(f, name);
    return v ? v : sg_http_query(req, name);
}

static int grant_password(sg_sim *sim, sg_http_req *req, const sg_form *f)
{
    const char *user = param(f, req, "username"), *pw = param(f, req, "password");
    sim_user u;
    if (!user || !pw || sim_auth_password(sim->auth, user, pw, &u) != SG_OK)
        return token_error(req);
    bool pub = false;
    int rc;
    sim_db_wrlock(sim->db);
    sim_rec *e = client(sim, param(f, req, "client_id"), param(f, req, "client_secret"), &pub);
    if (!e || pub)
        rc = token_error(req);
    else
        rc = issue(sim, req, e, u.sys_id, true, NULL);
    sim_db_unlock(sim->db);
    return rc;
}

static int grant_refresh(sg_sim *sim, sg_http_req *req, const sg_form *f)
{
    const char *rt = param(f, req, "refresh_token");
    char h[65], now[20];
    int rc;
    if (!rt || !*rt) {
        sg_err_set(SG_EAUTH, "refresh_token missing");
        return token_error(req);
    }
    hash_hex(rt, h);
    sim_now(now);
    bool pub = false;
    sim_db_wrlock(sim->db);
    sim_rec *e = client(sim, param(f, req, "client_id"), param(f, req, "client_secret"), &pub);
    sim_rec *cred = sim_db_find(sim->db, sim_dict_table("oauth_credential"), "token_hash", h);
    sim_user u;
    if (!e) {
        rc = token_error(req);
    } else if (!cred || strcmp(sim_rec_get(cred, "type"), "refresh_token") != 0 ||
               strcmp(sim_rec_get(cred, "oauth_entity"), e->sys_id) != 0) {
        sg_err_set(SG_EAUTH, "unknown refresh token for this client");
        rc = token_error(req);
    } else if (strcmp(sim_rec_get(cred, "expires"), now) < 0) {
        sg_err_set(SG_EAUTH, "refresh token expired");
        rc = token_error(req);
    } else if (sim_auth_load_user(sim->db, sim_rec_get(cred, "user"), &u) != SG_OK) {
        rc = token_error(req);
    } else {
        rc = issue(sim, req, e, u.sys_id, true, rt);
    }
    sim_db_unlock(sim->db);
    return rc;
}

static int grant_client_credentials(sg_sim *sim, sg_http_req *req, const sg_form *f)
{
    bool pub = false;
    int rc;
    sim_db_wrlock(sim->db);
    sim_rec *e = client(sim, param(f, req, "client_id"), param(f, req, "client_secret"), &pub);
    sim_user u;
    if (!e || pub) {
        rc = token_error(req);
    } else if (!property_true(sim, "glide.oauth.inbound.client.credential.grant_type.enabled")) {
        sg_err_set(SG_EAUTH, "client_credentials grant is not enabled on this instance");
        rc = token_error(req);
    } else if (sim_auth_load_user(sim->db, sim_rec_get(e, "user"), &u) != SG_OK) {
        sg_err_set(SG_EAUTH, "the OAuth application user is not set or inactive");
        rc = token_error(req);
    } else {
        rc = issue(sim, req, e, u.sys_id, false, NULL);
    }
    sim_db_unlock(sim->db);
    return rc;
}

static bool pkce_ok(const char *challenge, const char *verifier)
{
    if (!*challenge)
        return true;
    if (!verifier || strlen(verifier) < 43 || strlen(verifier) > 128)
        return false;
    uint8_t d[SG_SHA256_LEN];
    sg_buf b = SG_BUF_INIT(0);
    sg_sha256(verifier, strlen(verifier), d);
    sg_base64_encode(d, sizeof(d), true, &b);
    bool ok = b.len == strlen(challenge) && sg_ct_equal(b.data, challenge, b.len);
    sg_buf_free(&b);
    return ok;
}

static int grant_code(sg_sim *sim, sg_http_req *req, const sg_form *f)
{
    const char *code = param(f, req, "code");
    const char *redirect = param(f, req, "redirect_uri");
    const char *client_id = param(f, req, "client_id");
    auth_code c;
    bool found = false;
    pthread_mutex_lock(&sim->oauth->mu);
    for (int i = 0; code && i < MAX_CODES && !found; i++) {
        auth_code *x = &sim->oauth->codes[i];
        if (x->code[0] && strlen(code) == strlen(x->code) &&
            sg_ct_equal(code, x->code, strlen(code))) {
            c = *x;
            memset(x, 0, sizeof(*x)); /* single use, whatever happens next */
            found = true;
        }
    }
    pthread_mutex_unlock(&sim->oauth->mu);
    if (!found) {
        sg_err_set(SG_EAUTH, "unknown or used authorization code");
        return token_error(req);
    }
    if (c.expires < time(NULL)) {
        sg_err_set(SG_EAUTH, "authorization code expired");
        return token_error(req);
    }
    if (!client_id || strcmp(client_id, c.client_id) != 0 || !redirect ||
        strcmp(redirect, c.redirect_uri) != 0) {
        sg_err_set(SG_EAUTH, "client_id or redirect_uri differ from the authorize request");
        return token_error(req);
    }
    if (!pkce_ok(c.challenge, param(f, req, "code_verifier"))) {
        sg_err_set(SG_EAUTH, "PKCE code_verifier does not match the code_challenge");
        return token_error(req);
    }
    bool pub = false;
    int rc;
    sim_db_wrlock(sim->db);
    sim_rec *e = client(sim, client_id, param(f, req, "client_secret"), &pub);
    if (!e || (pub && !c.challenge[0])) {
        if (e)
            sg_err_set(SG_EAUTH, "a public client must use PKCE");
        rc = token_error(req);
    } else {
        rc = issue(sim, req, e, c.user_id, true, NULL);
    }
    sim_db_unlock(sim->db);
    return rc;
}

int api_oauth_token(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    if (sim_faults_apply(sim->faults, req))
        return SG_OK;
    size_t len = 0;
    const char *body = sg_http_body(req, &len);
    const char *ct = sg_http_header(req, "Content-Type");
    sg_form *f = NULL;
    if (ct && !sg_str_startswith(ct, "application/x-www-form-urlencoded") && len > 0) {
        sg_err_set(SG_EINVAL, "token request with Content-Type %s", ct);
        return token_error(req);
    }
    if (sg_form_parse(body, len, &f) != SG_OK)
        return token_error(req);
    const char *grant = param(f, req, "grant_type");
    int rc;
    if (!grant) {
        sg_err_set(SG_EINVAL, "grant_type missing");
        rc = token_error(req);
    } else if (strcmp(grant, "password") == 0) {
        rc = grant_password(sim, req, f);
    } else if (strcmp(grant, "refresh_token") == 0) {
        rc = grant_refresh(sim, req, f);
    } else if (strcmp(grant, "client_credentials") == 0) {
        rc = grant_client_credentials(sim, req, f);
    } else if (strcmp(grant, "authorization_code") == 0) {
        rc = grant_code(sim, req, f);
    } else {
        sg_err_set(SG_EINVAL, "unsupported grant_type");
        rc = token_error(req);
    }
    sg_form_free(f);
    return rc;
}

/* ---- revocation ---- */

typedef struct revoke_ctx {
    sim_rec *hits[64];
    int n;
} revoke_ctx;

/* A credential whose token_hash or peer is the token's hash, once. */
static bool each_revoke(void *ctx, sim_rec *r)
{
    revoke_ctx *c = ctx;
    for (int i = 0; i < c->n; i++)
        if (c->hits[i] == r)
            return true;
    if (c->n < 64)
        c->hits[c->n++] = r;
    return true;
}

int api_oauth_revoke(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    size_t len = 0;
    const char *body = sg_http_body(req, &len);
    sg_form *f = NULL;
    sg_form_parse(body, len, &f);
    const char *token = param(f, req, "token");
    if (token && *token) {
        char h[65];
        hash_hex(token, h);
        revoke_ctx c = {{0}, 0};
        const sim_table *ct = sim_dict_table("oauth_credential");
        sim_db_wrlock(sim->db);
        sim_db_each_eq(sim->db, ct, "token_hash", h, each_revoke, &c);
        sim_db_each_eq(sim->db, ct, "peer", h, each_revoke, &c);
        for (int i = 0; i < c.n; i++)
            sim_db_delete(sim->db, c.hits[i]);
        sim_db_unlock(sim->db);
    }
    sg_form_free(f);
    return sg_http_reply(req, 200, "application/json;charset=UTF-8", "{}", 2);
}

/* ---- authorization: login and consent pages ---- */

static int page(sg_http_req *req, int status, const char *title, const char *body_html)
{
    sg_buf b = SG_BUF_INIT(0);
    sg_buf_puts(&b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    sg_buf_html(&b, title);
    sg_buf_puts(&b, "</title><style>body{font-family:sans-serif;background:#f4f6f8;margin:0}"
                    "main{max-width:360px;margin:10vh auto;background:#fff;padding:24px;"
                    "border-radius:8px;box-shadow:0 1px 4px #0002}label{display:block;margin:"
                    "12px 0 4px}input[type=text],input[type=password]{width:100%;padding:8px;"
                    "box-sizing:border-box}button{margin-top:16px;padding:8px 16px}"
                    ".err{color:#b00}</style></head><body><main><h1>");
    sg_buf_html(&b, title);
    sg_buf_puts(&b, "</h1>");
    sg_buf_puts(&b, body_html);
    sg_buf_puts(&b, "</main></body></html>");
    sg_http_set_header(req, "Content-Security-Policy",
                       "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' *");
    sg_http_set_header(req, "X-Frame-Options", "DENY");
    sg_http_set_header(req, "Cache-Control", "no-store");
    int rc = sg_http_reply(req, status, "text/html;charset=UTF-8", b.data, b.len);
    sg_buf_free(&b);
    return rc;
}

static int error_page(sg_http_req *req, int status, const char *message)
{
    sg_buf b = SG_BUF_INIT(0);
    sg_buf_puts(&b, "<p class=\"err\">");
    sg_buf_html(&b, message);
    sg_buf_puts(&b, "</p>");
    int rc = page(req, status, "OAuth error", sg_buf_str(&b));
    sg_buf_free(&b);
    return rc;
}

/* The authorize request, validated. */
typedef struct authz {
    char client_id[128];
    char redirect_uri[512]; /* as requested (may be empty) */
    char effective[512];    /* where the browser will go */
    char state[512];
    char challenge[128];
    char scope[256];
    char entity_name[128];
} authz;

static const char *from(const sg_form *f, sg_http_req *req, const char *name)
{
    const char *v = f ? sg_form_get(f, name) : NULL;
    if (!v)
        v = sg_http_query(req, name);
    return v ? v : "";
}

/* Validates the authorize parameters (from the query, or a posted form). Answers with an
 * error page and returns false on failure. */
static bool authz_check(sg_sim *sim, sg_http_req *req, const sg_form *f, authz *a)
{
    memset(a, 0, sizeof(*a));
    if (strcmp(from(f, req, "response_type"), "code") != 0) {
        error_page(req, 400, "response_type must be code.");
        return false;
    }
    sg_strlcpy(a->client_id, from(f, req, "client_id"), sizeof(a->client_id));
    sg_strlcpy(a->redirect_uri, from(f, req, "redirect_uri"), sizeof(a->redirect_uri));
    sg_strlcpy(a->state, from(f, req, "state"), sizeof(a->state));
    sg_strlcpy(a->scope, from(f, req, "scope"), sizeof(a->scope));
    const char *method = from(f, req, "code_challenge_method");
    const char *challenge = from(f, req, "code_challenge");
    if (*challenge && strcmp(method, "S256") != 0) {
        error_page(req, 400, "code_challenge_method must be S256.");
        return false;
    }
    sg_strlcpy(a->challenge, challenge, sizeof(a->challenge));
    if (!a->state[0]) {
        error_page(req, 400, "Missing State parameter in request.");
        return false;
    }
    bool ok = true, pub = false;
    sim_db_rdlock(sim->db);
    sim_rec *e = sim_db_find(sim->db, sim_dict_table("oauth_entity"), "client_id", a->client_id);
    if (!e || !a->client_id[0] || strcmp(sim_rec_get(e, "active"), "true") != 0) {
        ok = false;
    } else {
        sg_strlcpy(a->entity_name, sim_rec_get(e, "name"), sizeof(a->entity_name));
        pub = strcmp(sim_rec_get(e, "public_client"), "true") == 0;
        /* redirect_url may list several URLs, comma-separated. A request URL that matches none
         * is replaced by the first registered one: the browser never goes anywhere else. */
        const char *list = sim_rec_get(e, "redirect_url");
        const char *p = list;
        char first[512] = "";
        while (*p) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            while (n && *p == ' ') {
                p++;
                n--;
            }
            char one[512];
            snprintf(one, sizeof(one), "%.*s", (int)n, p);
            if (!first[0])
                sg_strlcpy(first, one, sizeof(first));
            if (a->redirect_uri[0] && strcmp(one, a->redirect_uri) == 0)
                sg_strlcpy(a->effective, one, sizeof(a->effective));
            if (!c)
                break;
            p = c + 1;
        }
        if (!a->effective[0])
            sg_strlcpy(a->effective, first, sizeof(a->effective));
        if (!a->redirect_uri[0])
            sg_strlcpy(a->redirect_uri, a->effective, sizeof(a->redirect_uri));
    }
    sim_db_unlock(sim->db);
    if (!ok) {
        error_page(req, 400, "Invalid client_id: no active OAuth application has this ID.");
        return false;
    }
    if (pub && !a->challenge[0]) {
        error_page(req, 400, "This public client must use PKCE (code_challenge).");
        return false;
    }
    if (!a->effective[0]) {
        error_page(req, 400, "The OAuth application has no redirect URL.");
        return false;
    }
    return true;
}

static void authz_hidden(sg_buf *b, const authz *a)
{
    sim_html_hidden(b, "response_type", "code");
    sim_html_hidden(b, "client_id", a->client_id);
    sim_html_hidden(b, "redirect_uri", a->redirect_uri);
    sim_html_hidden(b, "state", a->state);
    if (a->challenge[0]) {
        sim_html_hidden(b, "code_challenge", a->challenge);
        sim_html_hidden(b, "code_challenge_method", "S256");
    }
    if (a->scope[0])
        sim_html_hidden(b, "scope", a->scope);
}

static int login_page(sg_http_req *req, const authz *a, const char *error)
{
    sg_buf b = SG_BUF_INIT(0);
    if (error) {
        sg_buf_puts(&b, "<p class=\"err\" role=\"alert\">");
        sg_buf_html(&b, error);
        sg_buf_puts(&b, "</p>");
    }
    sg_buf_puts(&b, "<form method=\"post\" action=\"/login.do\">");
    authz_hidden(&b, a);
    sg_buf_puts(&b, "<label for=\"user_name\">User name</label>"
                    "<input type=\"text\" id=\"user_name\" name=\"user_name\" autofocus "
                    "autocomplete=\"username\">"
                    "<label for=\"user_password\">Password</label>"
                    "<input type=\"password\" id=\"user_password\" name=\"user_password\" "
                    "autocomplete=\"current-password\">"
                    "<button type=\"submit\" id=\"sysverb_login\">Log in</button></form>");
    int rc = page(req, error ? 401 : 200, "Log in", sg_buf_str(&b));
    sg_buf_free(&b);
    return rc;
}

static int consent_page(sg_http_req *req, const authz *a, const sim_session *s, const char *user)
{
    sg_buf b = SG_BUF_INIT(0);
    sg_buf_puts(&b, "<p><strong>");
    sg_buf_html(&b, a->entity_name[0] ? a->entity_name : a->client_id);
    sg_buf_puts(&b, "</strong> would like to connect to your account <strong>");
    sg_buf_html(&b, user);
    sg_buf_puts(&b, "</strong>.</p><form method=\"post\" action=\"/oauth_auth.do\">");
    authz_hidden(&b, a);
    sim_html_hidden(&b, "sysparm_ck", s->csrf);
    sg_buf_puts(&b, "<button type=\"submit\" name=\"action\" value=\"allow\" id=\"allow\">Allow"
                    "</button> <button type=\"submit\" name=\"action\" value=\"deny\" "
                    "id=\"deny\">Deny</button></form>");
    int rc = page(req, 200, "Allow access?", sg_buf_str(&b));
    sg_buf_free(&b);
    return rc;
}

static int redirect_back(sg_http_req *req, const authz *a, const char *code, const char *error)
{
    char *st = sg_http_escape(a->state);
    char *loc = code ? sg_xasprintf("%s%scode=%s&state=%s", a->effective,
                                    strchr(a->effective, '?') ? "&" : "?", code, st)
                     : sg_xasprintf("%s%serror=%s&state=%s", a->effective,
                                    strchr(a->effective, '?') ? "&" : "?", error, st);
    sg_http_set_header(req, "Location", loc);
    sg_http_set_header(req, "Cache-Control", "no-store");
    int rc = sg_http_reply(req, 302, "text/plain", "", 0);
    free(st);
    free(loc);
    return rc;
}

static int issue_code(sg_sim *sim, sg_http_req *req, const authz *a, const char *user_id)
{
    char code[48];
    uint8_t raw[24];
    sg_buf b = SG_BUF_INIT(64);
    sg_random(raw, sizeof(raw));
    sg_base64_encode(raw, sizeof(raw), true, &b);
    sg_strlcpy(code, sg_buf_str(&b), sizeof(code));
    sg_buf_free(&b);
    int64_t life = 60;
    sim_db_rdlock(sim->db);
    sim_rec *e = sim_db_find(sim->db, sim_dict_table("oauth_entity"), "client_id", a->client_id);
    if (e)
        life = entity_int(e, "auth_code_lifespan", 60);
    sim_db_unlock(sim->db);
    pthread_mutex_lock(&sim->oauth->mu);
    auth_code *slot = &sim->oauth->codes[0];
    for (int i = 0; i < MAX_CODES; i++) {
        auth_code *x = &sim->oauth->codes[i];
        if (!x->code[0] || x->expires < time(NULL)) {
            slot = x;
            break;
        }
        if (x->expires < slot->expires)
            slot = x;
    }
    memset(slot, 0, sizeof(*slot));
    sg_strlcpy(slot->code, code, sizeof(slot->code));
    sg_strlcpy(slot->client_id, a->client_id, sizeof(slot->client_id));
    sg_strlcpy(slot->redirect_uri, a->redirect_uri, sizeof(slot->redirect_uri));
    sg_strlcpy(slot->user_id, user_id, sizeof(slot->user_id));
    sg_strlcpy(slot->challenge, a->challenge, sizeof(slot->challenge));
    slot->expires = time(NULL) + life;
    pthread_mutex_unlock(&sim->oauth->mu);
    return redirect_back(req, a, code, NULL);
}

bool sim_session_of(sg_sim *sim, sg_http_req *req, sim_session *out)
{
    const char *cookie = sg_http_header(req, "Cookie");
    const char *p = cookie ? strstr(cookie, "glide_session_store=") : NULL;
    if (!p)
        return false;
    p += strlen("glide_session_store=");
    char id[33];
    size_t n = strcspn(p, "; ");
    if (n != 32)
        return false;
    memcpy(id, p, 32);
    id[32] = '\0';
    bool found = false;
    pthread_mutex_lock(&sim->oauth->mu);
    for (int i = 0; i < MAX_SESSIONS && !found; i++) {
        sim_session *s = &sim->oauth->sessions[i];
        if (s->id[0] && sg_ct_equal(s->id, id, 32) && s->expires > time(NULL)) {
            *out = *s;
            found = true;
        }
    }
    pthread_mutex_unlock(&sim->oauth->mu);
    return found;
}

void sim_session_new(sg_sim *sim, sg_http_req *req, const char *user_id, sim_session *out)
{
    memset(out, 0, sizeof(*out));
    sg_random_hex(out->id, 16);
    sg_random_hex(out->csrf, 16);
    sg_strlcpy(out->user_id, user_id, sizeof(out->user_id));
    out->expires = time(NULL) + SESSION_TTL;
    pthread_mutex_lock(&sim->oauth->mu);
    sim_session *slot = &sim->oauth->sessions[0];
    for (int i = 0; i < MAX_SESSIONS; i++) {
        sim_session *s = &sim->oauth->sessions[i];
        if (!s->id[0] || s->expires < time(NULL)) {
            slot = s;
            break;
        }
        if (s->expires < slot->expires)
            slot = s;
    }
    *slot = *out;
    pthread_mutex_unlock(&sim->oauth->mu);
    char cookie[128];
    snprintf(cookie, sizeof(cookie),
             "glide_session_store=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%d", out->id,
             SESSION_TTL);
    sg_http_set_header(req, "Set-Cookie", cookie);
}

void sim_session_end(sg_sim *sim, sg_http_req *req)
{
    sim_session s;
    if (sim_session_of(sim, req, &s)) {
        pthread_mutex_lock(&sim->oauth->mu);
        for (int i = 0; i < MAX_SESSIONS; i++)
            if (strcmp(sim->oauth->sessions[i].id, s.id) == 0)
                memset(&sim->oauth->sessions[i], 0, sizeof(sim->oauth->sessions[i]));
        pthread_mutex_unlock(&sim->oauth->mu);
    }
    sg_http_set_header(req, "Set-Cookie",
                       "glide_session_store=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
}

int api_oauth_auth(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    sg_form *f = NULL;
    bool post = strcmp(sg_http_method(req), "POST") == 0;
    if (post) {
        size_t len = 0;
        const char *body = sg_http_body(req, &len);
        if (sg_form_parse(body, len, &f) != SG_OK)
            return error_page(req, 400, "Malformed form data.");
    }
    authz a;
    int rc = SG_OK;
    if (!authz_check(sim, req, f, &a))
        goto done;
    sim_session s;
    bool have = sim_session_of(sim, req, &s);
    if (!post) {
        if (sim->cfg.oauth_auto_consent) {
            /* Test mode: act as the admin user having logged in and clicked Allow. */
            sim_db_rdlock(sim->db);
            sim_rec *admin = sim_db_find(sim->db, sim_dict_table("sys_user"), "user_name", "admin");
            char id[33] = "";
            if (admin)
                sg_strlcpy(id, admin->sys_id, sizeof(id));
            sim_db_unlock(sim->db);
            rc = issue_code(sim, req, &a, id);
            goto done;
        }
        if (!have) {
            rc = login_page(req, &a, NULL);
            goto done;
        }
        sim_user u;
        sim_db_rdlock(sim->db);
        int lr = sim_auth_load_user(sim->db, s.user_id, &u);
        sim_db_unlock(sim->db);
        rc = lr == SG_OK ? consent_page(req, &a, &s, u.user_name) : login_page(req, &a, NULL);
        goto done;
    }
    /* The consent form: needs the session and its CSRF token. */
    const char *ck = sg_form_get(f, "sysparm_ck");
    if (!have || !ck || strlen(ck) != 32 || !sg_ct_equal(ck, s.csrf, 32)) {
        rc = login_page(req, &a, "Your session expired; log in again.");
        goto done;
    }
    const char *action = sg_form_get(f, "action");
    if (action && strcmp(action, "allow") == 0)
        rc = issue_code(sim, req, &a, s.user_id);
    else
        rc = redirect_back(req, &a, NULL, "access_denied");
done:
    sg_form_free(f);
    return rc;
}

int api_oauth_login(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    size_t len = 0;
    const char *body = sg_http_body(req, &len);
    sg_form *f = NULL;
    if (sg_form_parse(body, len, &f) != SG_OK)
        return error_page(req, 400, "Malformed form data.");
    authz a;
    int rc = SG_OK;
    if (!sg_form_get(f, "response_type")) {
        /* Not an OAuth authorization: a sign-in to the instance's own pages. */
        rc = sim_ui_login(sim, req, f);
        goto done;
    }
    if (!authz_check(sim, req, f, &a))
        goto done;
    const char *user = sg_form_get(f, "user_name"), *pw = sg_form_get(f, "user_password");
    sim_user u;
    if (!user || !pw || sim_auth_password(sim->auth, user, pw, &u) != SG_OK) {
        rc = login_page(req, &a, "User name or password invalid");
        goto done;
    }
    sim_session s;
    sim_session_new(sim, req, u.sys_id, &s);
    rc = consent_page(req, &a, &s, u.user_name);
done:
    sg_form_free(f);
    return rc;
}

int api_oauth_consent(sg_http_req *req, void *simv)
{
    return api_oauth_auth(req, simv);
}
