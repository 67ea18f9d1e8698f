/* auth: credentials to users, with a small cache so that Basic auth and the OAuth token
 * endpoint do not pay for a slow password hash on every request. */
#include "sim/auth.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_SLOTS 64

typedef struct cached {
    uint8_t key[SG_SHA256_LEN]; /* sha256(sys_id \0 secret) */
    char *stored_hash;          /* the record's hash of the secret when it was verified */
    char id[33];                /* the record's sys_id: a user's, or an OAuth client's */
    bool used;
} cached;

struct sim_auth {
    sim_db *db;
    pthread_mutex_t mu;
    cached cache[CACHE_SLOTS];
    unsigned next;
};

sim_auth *sim_auth_new(sim_db *db)
{
    sim_auth *a = sg_xcalloc(1, sizeof(*a));
    a->db = db;
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void sim_auth_invalidate(sim_auth *a)
{
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        free(a->cache[i].stored_hash);
        memset(&a->cache[i], 0, sizeof(a->cache[i]));
    }
    pthread_mutex_unlock(&a->mu);
}

void sim_auth_free(sim_auth *a)
{
    if (!a)
        return;
    sim_auth_invalidate(a);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

bool sim_user_has_role(const sim_user *u, const char *role)
{
    for (int i = 0; i < u->nroles; i++)
        if (strcmp(u->roles[i], role) == 0)
            return true;
    return false;
}

bool sim_user_is_admin(const sim_user *u)
{
    return sim_user_has_role(u, "admin");
}

static void add_role(sim_db *db, sim_user *u, const char *role_id, int depth)
{
    const sim_table *rt = sim_dict_table("sys_user_role");
    sim_rec *role = sim_db_get(db, rt, role_id);
    if (!role || depth > 16)
        return;
    const char *name = sim_rec_get(role, "name");
    if (!*name || sim_user_has_role(u, name) || u->nroles >= SIM_MAX_ROLES)
        return;
    sg_strlcpy(u->roles[u->nroles++], name, sizeof(u->roles[0]));
}

typedef struct contains_ctx {
    sim_db *db;
    sim_user *u;
    int depth;
} contains_ctx;

static void add_role_tree(sim_db *db, sim_user *u, const char *role_id, int depth);

static bool each_contains(void *ctx, sim_rec *r)
{
    contains_ctx *c = ctx;
    add_role_tree(c->db, c->u, sim_rec_get(r, "contains"), c->depth + 1);
    return true;
}

/* Adds a role and, transitively, the roles it contains. A role already held stops the walk,
 * so cycles end. */
static void add_role_tree(sim_db *db, sim_user *u, const char *role_id, int depth)
{
    int before = u->nroles;
    add_role(db, u, role_id, depth);
    if (u->nroles == before)
        return;
    contains_ctx c = {db, u, depth};
    sim_db_each_eq(db, sim_dict_table("sys_user_role_contains"), "role", role_id, each_contains,
                   &c);
}

typedef struct user_ctx {
    sim_db *db;
    sim_user *u;
    char groups[32][33];
    int ngroups;
} user_ctx;

static bool each_has_role(void *ctx, sim_rec *r)
{
    user_ctx *c = ctx;
    if (strcmp(sim_rec_get(r, "state"), "active") == 0)
        add_role_tree(c->db, c->u, sim_rec_get(r, "role"), 0);
    return true;
}

static bool each_member(void *ctx, sim_rec *r)
{
    user_ctx *c = ctx;
    if (c->ngroups < 32)
        sg_strlcpy(c->groups[c->ngroups++], sim_rec_get(r, "group"), 33);
    return true;
}

static bool each_group_role(void *ctx, sim_rec *r)
{
    user_ctx *c = ctx;
    for (int i = 0; i < c->ngroups; i++)
        if (strcmp(sim_rec_get(r, "group"), c->groups[i]) == 0)
            add_role_tree(c->db, c->u, sim_rec_get(r, "role"), 0);
    return true;
}

int sim_auth_load_user(sim_db *db, const char *sys_id, sim_user *out)
{
    memset(out, 0, sizeof(*out));
    sim_rec *r = sim_db_get(db, sim_dict_table("sys_user"), sys_id);
    if (!r)
        return sg_err_set(SG_EAUTH, "no such user");
    if (strcmp(sim_rec_get(r, "active"), "true") != 0 ||
        strcmp(sim_rec_get(r, "locked_out"), "true") == 0)
        return sg_err_set(SG_EAUTH, "user is inactive or locked out");
    sg_strlcpy(out->sys_id, r->sys_id, sizeof(out->sys_id));
    sg_strlcpy(out->user_name, sim_rec_get(r, "user_name"), sizeof(out->user_name));
    user_ctx c = {db, out, {{0}}, 0};
    sim_db_each_eq(db, sim_dict_table("sys_user_has_role"), "user", out->sys_id, each_has_role, &c);
    sim_db_each_eq(db, sim_dict_table("sys_user_grmember"), "user", out->sys_id, each_member, &c);
    if (c.ngroups) {
        const sim_table *gt = sim_dict_table("sys_group_has_role");
        const char *ids[32];
        for (int i = 0; i < c.ngroups; i++)
            ids[i] = c.groups[i];
        sim_rec **hits = NULL;
        size_t n = 0;
        if (sim_db_lookup(db, gt, "group", ids, (size_t)c.ngroups, &hits, &n))
            for (size_t i = 0; i < n; i++)
                each_group_role(&c, hits[i]);
        else
            sim_db_each(db, gt, each_group_role, &c);
        free(hits);
    }
    return SG_OK;
}

static void cred_key(const char *id, const char *secret, uint8_t out[SG_SHA256_LEN])
{
    sg_buf b = SG_BUF_INIT(0);
    sg_buf_puts(&b, id);
    sg_buf_putc(&b, '\0');
    sg_buf_puts(&b, secret);
    sg_sha256(b.data, b.len, out);
    sg_buf_wipe(&b);
}

bool sim_auth_secret_ok(sim_auth *a, const char *id, const char *stored, const char *secret)
{
    if (!*stored || !secret)
        return false;
    uint8_t key[SG_SHA256_LEN];
    cred_key(id, secret, key);
    bool ok = false;
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < CACHE_SLOTS && !ok; i++)
        ok = a->cache[i].used && sg_ct_equal(a->cache[i].key, key, sizeof(key)) &&
             strcmp(a->cache[i].stored_hash, stored) == 0 && strcmp(a->cache[i].id, id) == 0;
    pthread_mutex_unlock(&a->mu);
    if (!ok && sim_password_check(stored, secret)) {
        ok = true;
        pthread_mutex_lock(&a->mu);
        cached *c = &a->cache[a->next++ % CACHE_SLOTS];
        free(c->stored_hash);
        memcpy(c->key, key, sizeof(key));
        c->stored_hash = sg_xstrdup(stored);
        sg_strlcpy(c->id, id, sizeof(c->id));
        c->used = true;
        pthread_mutex_unlock(&a->mu);
    }
    sg_wipe(key, sizeof(key));
    return ok;
}

int sim_auth_password(sim_auth *a, const char *user_name, const char *password, sim_user *out)
{
    int rc = SG_OK;
    sim_db_rdlock(a->db);
    sim_rec *r = sim_db_find(a->db, sim_dict_table("sys_user"), "user_name", user_name);
    if (r && sim_auth_secret_ok(a, r->sys_id, sim_rec_get(r, "user_password"), password))
        rc = sim_auth_load_user(a->db, r->sys_id, out);
    else
        rc = sg_err_set(SG_EAUTH, "wrong user name or password");
    sim_db_unlock(a->db);
    return rc;
}

static int bearer(sim_auth *a, const char *token, sim_user *out)
{
    uint8_t d[SG_SHA256_LEN];
    char hex[2 * SG_SHA256_LEN + 1], now[20];
    sg_sha256(token, strlen(token), d);
    sg_hex_encode(d, sizeof(d), hex);
    sim_now(now);
    int rc;
    sim_db_rdlock(a->db);
    sim_rec *cred = sim_db_find(a->db, sim_dict_table("oauth_credential"), "token_hash", hex);
    if (!cred || strcmp(sim_rec_get(cred, "type"), "access_token") != 0)
        rc = sg_err_set(SG_EAUTH, "unknown access token");
    else if (strcmp(sim_rec_get(cred, "expires"), now) < 0)
        rc = sg_err_set(SG_EAUTH, "access token expired");
    else
        rc = sim_auth_load_user(a->db, sim_rec_get(cred, "user"), out);
    sim_db_unlock(a->db);
    return rc;
}

int sim_auth_request(sim_auth *a, sg_http_req *req, sim_user *out)
{
    const char *h = sg_http_header(req, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0)
        return bearer(a, h + 7, out);
    if (h && strncasecmp(h, "Basic ", 6) == 0) {
        sg_buf dec = SG_BUF_INIT(4096);
        const char *b64 = h + 6;
        while (*b64 == ' ')
            b64++;
        if (sg_base64_decode(b64, strlen(b64), false, &dec) != SG_OK || !dec.data ||
            memchr(dec.data, '\0', dec.len)) {
            sg_buf_wipe(&dec);
            return sg_err_set(SG_EAUTH, "malformed Basic credentials");
        }
        char *colon = strchr(dec.data, ':');
        int rc;
        if (!colon) {
            rc = sg_err_set(SG_EAUTH, "malformed Basic credentials");
        } else {
            *colon = '\0';
            rc = sim_auth_password(a, dec.data, colon + 1, out);
        }
        sg_buf_wipe(&dec);
        return rc;
    }
    const char *qt = sg_http_query(req, "access_token");
    if (qt && *qt)
        return bearer(a, qt, out);
    return sg_err_set(SG_EAUTH, "no credentials");
}
