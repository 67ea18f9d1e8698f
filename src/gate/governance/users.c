/* users: user records and hashed API tokens. */
#include "gate/governance/users.h"

#include "gate/governance/audit.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/str.h"

#include <stdio.h>
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

static void token_hash(const char *token, char out[65])
{
    uint8_t d[SG_SHA256_LEN];
    sg_sha256(token, strlen(token), d);
    sg_hex_encode(d, sizeof(d), out);
}

typedef struct add_ctx {
    const char *name, *email;
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
                  SG_VTEXT(a->email), SG_VTEXT(now)};
    int rc = sg_conn_exec(c,
                          "INSERT INTO users (id, name, role, email, created_at) "
                          "VALUES (?1, ?2, ?3, ?4, ?5)",
                          u, 5, NULL);
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
    char detail[64];
    snprintf(detail, sizeof(detail), "{\"role\":\"%s\"}", sg_role_name(a->role));
    return sg_audit_append(c, "cli", "user.added", a->name, detail);
}

int sg_users_add(sg_store *st, const char *name, sg_role role, const char *email,
                 char token_out[65], sg_user *out)
{
    size_t nl = name ? strlen(name) : 0;
    if (nl == 0 || nl > 100 || !sg_str_printable(name, nl) || strchr(name, ' '))
        return sg_err_set(SG_EINVAL,
                          "user name must be 1 to 100 printable characters without spaces");
    memset(out, 0, sizeof(*out));
    sg_random_hex(out->id, 16);
    snprintf(out->name, sizeof(out->name), "%s", name);
    out->role = role;
    int rc = sg_random_hex(token_out, 32);
    if (rc != SG_OK)
        return rc;
    char hash[65];
    token_hash(token_out, hash);
    add_ctx a = {name, email, role, hash, out};
    rc = sg_store_tx(st, add_tx, &a);
    if (rc != SG_OK)
        sg_wipe(token_out, 65);
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
                           "ON u.id = t.user_id WHERE t.token_hash = ?1",
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
    token_hash(token, hash);
    memset(out, 0, sizeof(*out));
    find_ctx f = {hash, out, false};
    int rc = sg_store_read(st, find_tx, &f);
    if (rc != SG_OK)
        return rc;
    return f.found ? SG_OK : sg_err_set(SG_EAUTH, "invalid API token");
}
