/* users: user records and hashed API tokens. */
#include "gate/governance/users.h"
#include "gate/limits.h"

#include "gate/connectors/connectors.h"
#include "gate/governance/audit.h"
#include "gate/governance/requests.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/json.h"
#include "core/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const role_names[] = {"member", "steward", "admin"};

int sg_role_parse(const char *s, sg_role *out)
{
    for (int i = 0; i < 3; i++) {
        if (s && strcmp(s, role_names[i]) == 0) {
            *out = (sg_role)i;
            return SG_OK;
        }
    }
    return sg_err_set(SG_EINVAL, "role '%s' is unknown; use admin, steward or member", s ? s : "");
}

const char *sg_role_name(sg_role r)
{
    return role_names[r];
}

void sg_users_token_hash(const char *token, char out[65])
{
    uint8_t d[SG_SHA256_LEN];
    sg_sha256(token, strlen(token), d);
    sg_hex_encode(d, sizeof(d), out);
}

typedef struct add_ctx {
    const char *name, *email, *db_role;
    sg_role role;
    const char *hash;
    sg_user *u;
} add_ctx;

static int add_tx(sg_conn *c, void *ctx)
{
    add_ctx *a = ctx;
    char now[32];
    sg_now_iso(now);
    sg_val u[] = {SG_VTEXT(a->u->id), SG_VTEXT(a->name), SG_VTEXT(sg_role_name(a->role)),
                  SG_VTEXT(a->email), SG_VTEXT(now),     SG_VTEXT(a->db_role)};
    int rc = sg_conn_exec(c,
                          "INSERT INTO users (id, name, role, email, created_at, db_role) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                          u, 6, NULL);
    if (rc == SG_ECONFLICT)
        return sg_err_set(SG_ECONFLICT, "a user named '%s' already exists", a->name);
    if (rc != SG_OK)
        return rc;
    sg_val t[] = {SG_VTEXT(a->hash), SG_VTEXT(a->u->id), SG_VTEXT(now)};
    rc = sg_conn_exec(
        c, "INSERT INTO api_tokens (token_hash, user_id, created_at) VALUES (?1, ?2, ?3)", t, 3,
        NULL);
    if (rc != SG_OK)
        return rc;
    /* The new user and their record commit together. */
    sg_json *d = sg_json_object();
    sg_json_set_str(d, "role", sg_role_name(a->role));
    if (a->db_role)
        sg_json_set_str(d, "db_role", a->db_role);
    char *detail = sg_json_dump(d);
    sg_json_decref(d);
    rc = sg_audit_append(c, "cli", "user.added", a->name, detail);
    free(detail);
    return rc;
}

int sg_users_check_db_role(const char *db_role)
{
    size_t n = strlen(db_role);
    if (n == 0 || n > SG_MAX_DB_ROLE || !sg_str_printable(db_role, n))
        return sg_err_set(SG_EINVAL,
                          "a database role name is 1 to %d printable bytes (PostgreSQL's limit)",
                          SG_MAX_DB_ROLE);
    return SG_OK;
}

int sg_users_db_role_refusals(const char *db_role, char *out, size_t len)
{
    int n = 0;
    if (len)
        out[0] = '\0';
    if (!db_role || !*db_role)
        return 0;
    for (const char *const *kinds = sg_connector_kinds(); *kinds; kinds++) {
        const sg_connector *k = sg_connector_find(*kinds);
        if (!k || !k->check_account || k->check_account(db_role) == SG_OK)
            continue;
        if (n++)
            sg_strlcat(out, "; ", len);
        char line[400];
        snprintf(line, sizeof(line), "on %s connections: %s", k->kind, sg_err_msg());
        sg_strlcat(out, line, len);
    }
    return n;
}

typedef struct share_ctx {
    const char *name, *db_role;
    char *others;
    size_t len;
    int n;
} share_ctx;

static int share_tx(sg_conn *c, void *ctx)
{
    share_ctx *x = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(x->db_role), SG_VTEXT(x->name)};
    int rc = sg_conn_query(
        c, "SELECT name FROM users WHERE db_role = ?1 AND name <> ?2 ORDER BY name", k, 2, &r);
    if (rc != SG_OK)
        return rc;
    while ((rc = sg_rows_next(r)) == 1) {
        if (x->n++)
            sg_strlcat(x->others, ", ", x->len);
        sg_strlcat(x->others, sg_rows_text(r, 0), x->len);
    }
    sg_rows_free(r);
    return rc < 0 ? rc : SG_OK;
}

int sg_users_db_role_shared(sg_store *st, const char *name, const char *db_role, char *others,
                            size_t len, int *n)
{
    *n = 0;
    if (len)
        others[0] = '\0';
    if (!db_role || !*db_role)
        return SG_OK;
    share_ctx x = {name, db_role, others, len, 0};
    int rc = sg_store_read(st, share_tx, &x);
    *n = x.n;
    if (rc == SG_OK && x.n > 0)
        sg_log_warn("users share a database role, and so each other's grants", "user", name,
                    "db_role", db_role, "also", others);
    return rc;
}

int sg_users_add(sg_store *st, const char *name, sg_role role, const char *email,
                 const char *db_role, char token_out[65], sg_user *out)
{
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl > SG_MAX_USER_NAME || !sg_str_printable(name, nl) || strchr(name, ' '))
        return sg_err_set(SG_EINVAL,
                          "user name must be 1 to %d printable characters without spaces",
                          SG_MAX_USER_NAME);
    if (db_role && sg_users_check_db_role(db_role) != SG_OK)
        return SG_EINVAL;
    memset(out, 0, sizeof(*out));
    sg_random_hex(out->id, 16);
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->role = role;
    int rc = sg_random_hex(token_out, 32);
    if (rc != SG_OK)
        return rc;
    char hash[65];
    sg_users_token_hash(token_out, hash);
    add_ctx a = {name, email, db_role, role, hash, out};
    rc = sg_store_tx(st, add_tx, &a);
    if (rc != SG_OK)
        sg_wipe(token_out, 65);
    return rc;
}

typedef struct set_ctx {
    const char *name, *db_role, *actor;
    const sg_role *role;
} set_ctx;

static int set_tx(sg_conn *c, void *ctx)
{
    set_ctx *x = ctx;
    sg_json *d = sg_json_object();
    int64_t changed = 0;
    int rc = SG_OK;
    if (x->role) {
        sg_val v[] = {SG_VTEXT(sg_role_name(*x->role)), SG_VTEXT(x->name)};
        rc = sg_conn_exec(c, "UPDATE users SET role = ?1 WHERE name = ?2", v, 2, &changed);
        sg_json_set_str(d, "role", sg_role_name(*x->role));
    }
    if (rc == SG_OK && x->db_role) {
        sg_val v[] = {*x->db_role ? SG_VTEXT(x->db_role) : SG_VNULL, SG_VTEXT(x->name)};
        rc = sg_conn_exec(c, "UPDATE users SET db_role = ?1 WHERE name = ?2", v, 2, &changed);
        sg_json_set(d, "db_role", *x->db_role ? sg_json_string(x->db_role) : sg_json_null());
    }
    if (rc == SG_OK && changed == 0)
        rc = sg_err_set(SG_ENOTFOUND, "no user named '%s'", x->name);
    char *detail = sg_json_dump(d);
    sg_json_decref(d);
    if (rc == SG_OK)
        rc = sg_audit_append(c, x->actor, "user.changed", x->name, detail);
    free(detail);
    return rc;
}

int sg_users_set(sg_store *st, const char *name, const sg_role *role, const char *db_role,
                 const char *actor)
{
    if (!role && !db_role)
        return sg_err_set(SG_EINVAL, "nothing to change: give a role or a database role");
    if (db_role && *db_role && sg_users_check_db_role(db_role) != SG_OK)
        return SG_EINVAL;
    set_ctx x = {name, db_role, actor, role};
    return sg_store_tx(st, set_tx, &x);
}

#define PASSWORD_ITERATIONS 210000 /* OWASP's 2023 figure for PBKDF2-HMAC-SHA256 */

typedef struct pw_ctx {
    const char *name, *hash, *actor;
} pw_ctx;

static int pw_tx(sg_conn *c, void *ctx)
{
    pw_ctx *x = ctx;
    int64_t changed = 0;
    sg_val v[] = {x->hash ? SG_VTEXT(x->hash) : SG_VNULL, SG_VTEXT(x->name)};
    int rc = sg_conn_exec(c, "UPDATE users SET password_hash = ?1 WHERE name = ?2", v, 2, &changed);
    if (rc == SG_OK && changed == 0)
        rc = sg_err_set(SG_ENOTFOUND, "no user named '%s'", x->name);
    if (rc == SG_OK) /* a new password ends every session signed in with the old one */
        rc = sg_conn_exec(c,
                          "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE "
                          "name = ?1)",
                          &v[1], 1, NULL);
    if (rc == SG_OK)
        rc = sg_audit_append(c, x->actor, x->hash ? "user.password_set" : "user.password_removed",
                             x->name, NULL);
    return rc;
}

int sg_users_set_password(sg_store *st, const char *name, const char *password, const char *actor)
{
    char *hash = NULL;
    if (password) {
        size_t n = strlen(password);
        if (n < 10 || n > 200)
            return sg_err_set(SG_EINVAL, "a password is 10 to 200 characters");
        int rc = sg_password_hash(password, PASSWORD_ITERATIONS, &hash);
        if (rc != SG_OK)
            return rc;
    }
    pw_ctx x = {name, hash, actor};
    int rc = sg_store_tx(st, pw_tx, &x);
    free(hash);
    return rc;
}

typedef struct find_ctx {
    const char *hash;
    sg_user *u;
    bool found;
} find_ctx;

static int find_tx(sg_conn *c, void *ctx)
{
    find_ctx *f = ctx;
    sg_rows *r = NULL;
    sg_val p[] = {SG_VTEXT(f->hash)};
    int rc = sg_conn_query(c,
                           "SELECT u.id, u.name, u.role FROM api_tokens t JOIN users u "
                           "ON u.id = t.user_id WHERE t.token_hash = ?1 AND "
                           "u.disabled_at IS NULL",
                           p, 1, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    if (step == 1) {
        snprintf(f->u->id, sizeof(f->u->id), "%s", sg_rows_text(r, 0));
        snprintf(f->u->name, sizeof(f->u->name), "%s", sg_rows_text(r, 1));
        sg_role_parse(sg_rows_text(r, 2), &f->u->role);
        f->found = true;
    }
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

int sg_users_by_token(sg_store *st, const char *token, sg_user *out)
{
    if (!token || strlen(token) != 64)
        return sg_err_set(SG_EAUTH, "invalid API token");
    char hash[65];
    sg_users_token_hash(token, hash);
    memset(out, 0, sizeof(*out));
    find_ctx f = {hash, out, false};
    int rc = sg_store_read(st, find_tx, &f);
    if (rc != SG_OK)
        return rc;
    return f.found ? SG_OK : sg_err_set(SG_EAUTH, "invalid API token");
}

/* ---- disable, enable, token rotation ------------------------------------------------------ */

#define DISABLE_MAX_CANCEL 10000 /* open requests one disable cancels; more is a 409 to retry */

typedef struct disable_ctx {
    const char *name, *actor;
    sg_user_disabled *out;
} disable_ctx;

/* The user's id and role, and whether they are disabled; SG_ENOTFOUND for no such user. */
static int user_state(sg_conn *c, const char *name, char id[33], sg_role *role, bool *disabled)
{
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(name)};
    int rc = sg_conn_query(c, "SELECT id, role, disabled_at FROM users WHERE name = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1) {
        sg_strlcpy(id, sg_rows_text(r, 0), 33);
        sg_role_parse(sg_rows_text(r, 1), role);
        *disabled = !sg_rows_null(r, 2);
    } else {
        rc = sg_err_set(SG_ENOTFOUND, "no user named '%s'", name);
    }
    sg_rows_free(r);
    return rc;
}

/* The ids of the requests a disable cancels, into a JSON array. */
static int open_requests(sg_conn *c, const char *name, sg_json *ids)
{
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(name)};
    int rc = sg_conn_query(c,
                           "SELECT id FROM requests WHERE state IN ('pending', 'approved') AND "
                           "(requester = ?1 OR (beneficiary = ?1 AND action = 'grant')) "
                           "ORDER BY created_at, id",
                           k, 1, &r);
    if (rc != SG_OK)
        return rc;
    int n = 0;
    while ((rc = sg_rows_next(r)) == 1 && n++ < DISABLE_MAX_CANCEL)
        sg_json_append(ids, sg_json_string(sg_rows_text(r, 0)));
    sg_rows_free(r);
    if (rc < 0)
        return rc;
    return n > DISABLE_MAX_CANCEL ? sg_err_set(SG_ECONFLICT,
                                               "'%s' has more than %d open requests; "
                                               "cancel some first",
                                               name, DISABLE_MAX_CANCEL)
                                  : SG_OK;
}

static int disable_tx(sg_conn *c, void *ctx)
{
    disable_ctx *x = ctx;
    char id[33];
    sg_role role = SG_ROLE_MEMBER;
    bool disabled = false;
    sg_json *ids = NULL, *d = NULL;
    char *detail = NULL;
    int rc = user_state(c, x->name, id, &role, &disabled);
    if (rc == SG_OK && disabled)
        rc = sg_err_set(SG_ECONFLICT, "user '%s' is already disabled", x->name);
    if (rc == SG_OK && role == SG_ROLE_ADMIN) {
        /* Someone must be left to enable people again and to run the integration. */
        int64_t others = 0;
        sg_val k[] = {SG_VTEXT(id)};
        rc = sg_conn_query_int(c,
                               "SELECT COUNT(*) FROM users WHERE role = 'admin' AND "
                               "disabled_at IS NULL AND id <> ?1",
                               k, 1, &others);
        if (rc == SG_OK && others == 0)
            rc = sg_err_set(SG_ECONFLICT,
                            "'%s' is the last enabled admin and cannot be disabled; make "
                            "another user admin first",
                            x->name);
    }
    if (rc != SG_OK)
        goto cleanup;
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(now), SG_VTEXT(x->actor), SG_VTEXT(id)};
    rc = sg_conn_exec(c, "UPDATE users SET disabled_at = ?1, disabled_by = ?2 WHERE id = ?3", v, 3,
                      NULL);
    if (rc == SG_OK)
        rc = sg_conn_exec(c, "DELETE FROM sessions WHERE user_id = ?1", &v[2], 1, NULL);
    ids = sg_json_array();
    if (rc == SG_OK)
        rc = open_requests(c, x->name, ids);
    char note[200];
    snprintf(note, sizeof(note), "user disabled by %s", x->actor);
    for (size_t i = 0; rc == SG_OK && i < sg_json_array_size(ids); i++)
        rc = sg_request_move(c, sg_json_str(sg_json_array_get(ids, i)), "cancelled", x->actor,
                             SG_ORIGIN_SNOWGATE, note);
    x->out->cancelled = (int)sg_json_array_size(ids);
    sg_val b[] = {SG_VTEXT(x->name)};
    if (rc == SG_OK)
        rc = sg_conn_query_int(c,
                               "SELECT COUNT(*) FROM requests WHERE beneficiary = ?1 AND "
                               "action = 'grant' AND state = 'fulfilled'",
                               b, 1, &x->out->grants_kept);
    if (rc != SG_OK)
        goto cleanup;
    d = sg_json_object();
    sg_json_set(d, "cancelled", sg_json_incref(ids));
    sg_json_set_int(d, "grants_kept", x->out->grants_kept);
    detail = sg_json_dump(d);
    rc = sg_audit_append(c, x->actor, "user.disabled", x->name, detail);
cleanup:
    free(detail);
    sg_json_decref(d);
    sg_json_decref(ids);
    return rc;
}

int sg_users_disable(sg_store *st, const char *name, const char *actor, sg_user_disabled *out)
{
    memset(out, 0, sizeof(*out));
    disable_ctx x = {name, actor, out};
    return sg_store_tx(st, disable_tx, &x);
}

typedef struct enable_ctx {
    const char *name, *actor;
} enable_ctx;

static int enable_tx(sg_conn *c, void *ctx)
{
    enable_ctx *x = ctx;
    char id[33];
    sg_role role = SG_ROLE_MEMBER;
    bool disabled = false;
    int rc = user_state(c, x->name, id, &role, &disabled);
    if (rc == SG_OK && !disabled)
        rc = sg_err_set(SG_ECONFLICT, "user '%s' is not disabled", x->name);
    sg_val v[] = {SG_VTEXT(id)};
    if (rc == SG_OK)
        rc = sg_conn_exec(
            c, "UPDATE users SET disabled_at = NULL, disabled_by = NULL WHERE id = ?1", v, 1, NULL);
    if (rc == SG_OK)
        rc = sg_audit_append(c, x->actor, "user.enabled", x->name, NULL);
    return rc;
}

int sg_users_enable(sg_store *st, const char *name, const char *actor)
{
    enable_ctx x = {name, actor};
    return sg_store_tx(st, enable_tx, &x);
}

typedef struct rotate_ctx {
    const char *name, *actor, *hash;
    int64_t revoked;
} rotate_ctx;

static int rotate_tx(sg_conn *c, void *ctx)
{
    rotate_ctx *x = ctx;
    char id[33], now[32];
    sg_role role = SG_ROLE_MEMBER;
    bool disabled = false;
    int rc = user_state(c, x->name, id, &role, &disabled);
    if (rc != SG_OK)
        return rc;
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(id)};
    rc = sg_conn_exec(c, "DELETE FROM api_tokens WHERE user_id = ?1", v, 1, &x->revoked);
    sg_val t[] = {SG_VTEXT(x->hash), SG_VTEXT(id), SG_VTEXT(now)};
    if (rc == SG_OK)
        rc = sg_conn_exec(
            c, "INSERT INTO api_tokens (token_hash, user_id, created_at) VALUES (?1, ?2, ?3)", t, 3,
            NULL);
    if (rc != SG_OK)
        return rc;
    sg_json *d = sg_json_object();
    sg_json_set_int(d, "revoked", x->revoked);
    char *detail = sg_json_dump(d);
    sg_json_decref(d);
    rc = sg_audit_append(c, x->actor, "user.token_rotated", x->name, detail);
    free(detail);
    return rc;
}

int sg_users_rotate_token(sg_store *st, const char *name, const char *actor, char token_out[65],
                          int64_t *revoked)
{
    *revoked = 0;
    int rc = sg_random_hex(token_out, 32);
    if (rc != SG_OK)
        return rc;
    char hash[65];
    sg_users_token_hash(token_out, hash);
    rotate_ctx x = {name, actor, hash, 0};
    rc = sg_store_tx(st, rotate_tx, &x);
    if (rc != SG_OK)
        sg_wipe(token_out, 65);
    *revoked = x.revoked;
    return rc;
}
