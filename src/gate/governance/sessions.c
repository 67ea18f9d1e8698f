/* sessions: web UI sign-in, sessions and the sign-in rate limit, all in the store so that
 * every replica sees them. */
#include "gate/governance/sessions.h"

#include "core/cidr.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"
#include "core/str.h"
#include "gate/governance/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct login_ctx {
    const char *name, *password, *client;
    int64_t now;
    sg_session *out;
    char name_key[160], addr_key[96];
    char attempt[33]; /* this attempt's id in login_failures */
    char stored[256]; /* the password hash, or "" */
    bool disabled;    /* the user is disabled (told only to someone with the right password) */
    int64_t retry_after;
    bool limited, ok;
} login_ctx;

static int count_failures(sg_conn *c, const char *key, int64_t since, int64_t *n, int64_t *oldest)
{
    sg_val v[] = {SG_VTEXT(key), SG_VINT(since)};
    int rc = sg_conn_query_int(c, "SELECT COUNT(*) FROM login_failures WHERE key = ?1 AND at >= ?2",
                               v, 2, n);
    if (rc == SG_OK && *n > 0)
        rc = sg_conn_query_int(c, "SELECT MIN(at) FROM login_failures WHERE key = ?1 AND at >= ?2",
                               v, 2, oldest);
    return rc;
}

/* Whether this attempt is over the limit; sets the wait until the oldest failure ages out. */
static int check_limit(sg_conn *c, login_ctx *x)
{
    const char *keys[] = {x->name_key, x->addr_key};
    const int64_t max[] = {SG_LOGIN_MAX_PER_NAME, SG_LOGIN_MAX_PER_ADDR};
    for (int i = 0; i < 2; i++) {
        int64_t n = 0, oldest = x->now;
        int rc = count_failures(c, keys[i], x->now - SG_LOGIN_WINDOW, &n, &oldest);
        if (rc != SG_OK)
            return rc;
        if (n >= max[i]) {
            x->limited = true;
            x->retry_after = oldest + SG_LOGIN_WINDOW - x->now;
            return SG_OK;
        }
    }
    return SG_OK;
}

/* The limit alone, in a read: a client already over it is refused without taking the store's
 * write lock, so a flood of refused attempts does not hold up anyone's writes. */
static int precheck_tx(sg_conn *c, void *ctx)
{
    return check_limit(c, ctx);
}

/* First the limit, and the attempt counted as a failure before its password is checked (under
 * the store's write lock, so parallel guesses see each other and at most the limit pass); then
 * the stored hash. The slow hash is checked outside any transaction, so a sign-in never holds
 * the store; a success takes its own rows back (record_tx). */
static int lookup_tx(sg_conn *c, void *ctx)
{
    login_ctx *x = ctx;
    sg_val old[] = {SG_VINT(x->now - SG_LOGIN_WINDOW)};
    int rc = sg_conn_exec(c, "DELETE FROM login_failures WHERE at < ?1", old, 1, NULL);
    if (rc == SG_OK)
        rc = check_limit(c, x);
    if (rc != SG_OK || x->limited)
        return rc;
    const char *keys[] = {x->name_key, x->addr_key};
    for (int i = 0; i < 2 && rc == SG_OK; i++) {
        sg_val f[] = {SG_VTEXT(keys[i]), SG_VINT(x->now), SG_VTEXT(x->attempt)};
        rc = sg_conn_exec(c, "INSERT INTO login_failures (key, at, attempt) VALUES (?1, ?2, ?3)", f,
                          3, NULL);
    }
    if (rc != SG_OK)
        return rc;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(x->name)};
    rc = sg_conn_query(
        c, "SELECT id, name, role, password_hash, disabled_at FROM users WHERE name = ?1", k, 1,
        &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1) {
        sg_strlcpy(x->out->user.id, sg_rows_text(r, 0), sizeof(x->out->user.id));
        sg_strlcpy(x->out->user.name, sg_rows_text(r, 1), sizeof(x->out->user.name));
        sg_role_parse(sg_rows_text(r, 2), &x->out->user.role);
        if (!sg_rows_null(r, 3))
            sg_strlcpy(x->stored, sg_rows_text(r, 3), sizeof(x->stored));
        x->disabled = !sg_rows_null(r, 4);
    }
    sg_rows_free(r);
    return SG_OK;
}

/* A success: the session, and the attempt's rows and the name's earlier failures gone. (A
 * failure is already counted by lookup_tx.) */
static int record_tx(sg_conn *c, void *ctx)
{
    login_ctx *x = ctx;
    char hash[65];
    sg_users_token_hash(x->out->token, hash);
    sg_val s[] = {SG_VTEXT(hash), SG_VTEXT(x->out->user.id), SG_VTEXT(x->out->csrf),
                  SG_VINT(x->now), SG_VINT(x->out->expires_at)};
    int rc =
        sg_conn_exec(c,
                     "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
                     s, 5, NULL);
    sg_val clear[] = {SG_VTEXT(x->name_key), SG_VTEXT(x->attempt)};
    if (rc == SG_OK)
        rc = sg_conn_exec(c, "DELETE FROM login_failures WHERE key = ?1 OR attempt = ?2", clear, 2,
                          NULL);
    sg_val gone[] = {SG_VINT(x->now)};
    if (rc == SG_OK)
        rc = sg_conn_exec(c, "DELETE FROM sessions WHERE expires_at < ?1", gone, 1, NULL);
    /* Where from: the client address (behind trusted proxies, the one they report). */
    sg_json *d = sg_json_object();
    sg_json_set_str(d, "client", x->client ? x->client : "");
    char *detail = sg_json_dump(d);
    sg_json_decref(d);
    if (rc == SG_OK)
        rc = sg_audit_append(c, x->out->user.name, "user.signed_in", x->out->user.name, detail);
    free(detail);
    return rc;
}

/* Checked when a user has no password (or does not exist), so that timing tells nothing. */
static const char dummy_hash[] = "pbkdf2-sha256$210000$c25vd2dhdGUtZHVtbXk=$"
                                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

int sg_sessions_login(sg_store *st, const char *name, const char *password, const char *client,
                      int64_t now, sg_session *out, int64_t *retry_after)
{
    memset(out, 0, sizeof(*out));
    *retry_after = 0;
    if (!name || !*name || strlen(name) > 100 || !password || strlen(password) > 200)
        return sg_err_set(SG_EINVAL, "send \"name\" and \"password\"");
    login_ctx x = {.name = name, .password = password, .client = client, .now = now, .out = out};
    snprintf(x.name_key, sizeof(x.name_key), "name:%s", name);
    /* An IPv6 client is counted by its /64: one host usually holds a whole /64. */
    char net[64];
    sg_cidr_client_key(client, net);
    snprintf(x.addr_key, sizeof(x.addr_key), "addr:%s", net);
    int rc = sg_random_hex(x.attempt, 16);
    if (rc == SG_OK)
        rc = sg_store_read(st, precheck_tx, &x);
    if (rc == SG_OK && !x.limited)
        rc = sg_store_tx(st, lookup_tx, &x);
    if (rc == SG_OK && x.limited) {
        *retry_after = x.retry_after > 0 ? x.retry_after : 1;
        return sg_err_set(SG_EUNAVAIL,
                          "too many failed sign-ins; try again in %lld seconds, or ask an admin "
                          "to reset your password",
                          (long long)*retry_after);
    }
    if (rc == SG_OK) {
        bool has = x.stored[0] != '\0';
        x.ok = sg_password_verify(has ? x.stored : dummy_hash, password) && has;
        sg_wipe(x.stored, sizeof(x.stored));
    }
    /* Only someone who knows the password learns that the account is disabled; for anyone
     * else it is a wrong password like any other. The attempt stays counted as a failure. */
    if (rc == SG_OK && x.ok && x.disabled) {
        sg_wipe(out, sizeof(*out));
        return sg_err_set(SG_EFORBIDDEN, "this account is disabled; ask an admin to enable it");
    }
    if (rc == SG_OK && x.ok) {
        rc = sg_random_hex(out->token, 32);
        if (rc == SG_OK)
            rc = sg_random_hex(out->csrf, 32);
        out->expires_at = now + SG_SESSION_LIFETIME;
    }
    if (rc == SG_OK && x.ok)
        rc = sg_store_tx(st, record_tx, &x);
    if (rc == SG_OK && !x.ok)
        rc = sg_err_set(SG_EAUTH, "wrong user name or password");
    if (rc != SG_OK)
        sg_wipe(out, sizeof(*out));
    return rc;
}

typedef struct find_ctx {
    const char *hash;
    int64_t now;
    sg_session *out;
    bool found;
} find_ctx;

static int find_tx(sg_conn *c, void *ctx)
{
    find_ctx *f = ctx;
    sg_rows *r = NULL;
    sg_val v[] = {SG_VTEXT(f->hash), SG_VINT(f->now)};
    int rc = sg_conn_query(c,
                           "SELECT u.id, u.name, u.role, s.csrf, s.expires_at FROM sessions s "
                           "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1 AND "
                           "s.expires_at > ?2 AND u.disabled_at IS NULL",
                           v, 2, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1) {
        sg_strlcpy(f->out->user.id, sg_rows_text(r, 0), sizeof(f->out->user.id));
        sg_strlcpy(f->out->user.name, sg_rows_text(r, 1), sizeof(f->out->user.name));
        sg_role_parse(sg_rows_text(r, 2), &f->out->user.role);
        sg_strlcpy(f->out->csrf, sg_rows_text(r, 3), sizeof(f->out->csrf));
        f->out->expires_at = sg_rows_int(r, 4);
        f->found = true;
    }
    sg_rows_free(r);
    return SG_OK;
}

int sg_sessions_find(sg_store *st, const char *token, int64_t now, sg_session *out)
{
    memset(out, 0, sizeof(*out));
    if (!token || strlen(token) != 64 || strspn(token, "0123456789abcdef") != 64)
        return sg_err_set(SG_EAUTH, "not signed in");
    char hash[65];
    sg_users_token_hash(token, hash);
    find_ctx f = {hash, now, out, false};
    int rc = sg_store_read(st, find_tx, &f);
    if (rc != SG_OK)
        return rc;
    return f.found ? SG_OK : sg_err_set(SG_EAUTH, "your session has ended; sign in again");
}

static int end_tx(sg_conn *c, void *ctx)
{
    sg_val v[] = {SG_VTEXT((const char *)ctx)};
    return sg_conn_exec(c, "DELETE FROM sessions WHERE token_hash = ?1", v, 1, NULL);
}

int sg_sessions_end(sg_store *st, const char *token)
{
    if (!token || strlen(token) != 64)
        return SG_OK;
    char hash[65];
    sg_users_token_hash(token, hash);
    return sg_store_tx(st, end_tx, hash);
}
