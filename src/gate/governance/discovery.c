/* discovery: discovery runs (start, the job, the schedule) and how what they find becomes
 * assets. */
#include "gate/governance/discovery.h"

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/connectors/connectors.h"
#include "gate/connectors/shared.h"
#include "gate/governance/assets.h"
#include "gate/governance/audit.h"
#include "gate/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 500 /* assets written per transaction */

/* ---- settings ---------------------------------------------------------------------------- */

/* The shape of the names a kind's discovery makes, for messages: what patterns match. Told
 * by the kind's name_parts, so a new kind needs nothing here. */
static const char *name_shape(const char *kind)
{
    const sg_connector *k = kind ? sg_connector_find(kind) : NULL;
    if (k && k->name_parts == 2)
        return "database.table (a database: its name alone)";
    if (k && k->name_parts == 3)
        return "database.schema.table (a schema: database.schema)";
    return "the asset's name: database.schema.table, or database.table where the source has no "
           "schemas";
}

/* Whether every [ in the pattern has its ] (as sg_discover_match reads a set: after an
 * optional ! or ^, the first character is always in the set, even a ]). */
static bool sets_closed(const char *p)
{
    for (; *p; p++) {
        if (*p != '[')
            continue;
        p++;
        if (*p == '!' || *p == '^')
            p++;
        if (!*p)
            return false;
        const char *close = strchr(p + 1, ']');
        if (!close)
            return false;
        p = close;
    }
    return true;
}

static int pattern_list(const sg_json *in, const char *key, const char *kind, sg_json *out)
{
    sg_json *list = sg_json_get(in, key);
    if (!list)
        return SG_OK;
    if (sg_json_typeof(list) != SG_JSON_ARRAY)
        return sg_err_set(SG_EINVAL,
                          "\"%s\" must be a list of name patterns, e.g. [\"analytics.sales.*\"], "
                          "matched against %s",
                          key, name_shape(kind));
    if (sg_json_array_size(list) > SG_DISCOVERY_MAX_PATTERNS)
        return sg_err_set(SG_EINVAL, "\"%s\" lists %zu patterns; the most is %d", key,
                          sg_json_array_size(list), SG_DISCOVERY_MAX_PATTERNS);
    sg_json *copy = sg_json_array();
    for (size_t i = 0; i < sg_json_array_size(list); i++) {
        const char *p = sg_json_str(sg_json_array_get(list, i));
        size_t n = p ? strlen(p) : 0;
        if (n == 0 || n > SG_DISCOVERY_MAX_PATTERN) {
            sg_json_decref(copy);
            return sg_err_set(SG_EINVAL,
                              "\"%s\"[%zu] must be a pattern of 1 to %d bytes (* any run, ? any "
                              "one byte, [abc] a set), matched against %s",
                              key, i, SG_DISCOVERY_MAX_PATTERN, name_shape(kind));
        }
        if (!sets_closed(p)) {
            sg_json_decref(copy);
            return sg_err_set(SG_EINVAL,
                              "\"%s\"[%zu] '%s' opens a set with [ but never closes it with ]; "
                              "close it ([abc], [a-z], [!x]), or match a [ with [[]",
                              key, i, p);
        }
        sg_json_append(copy, sg_json_string(p));
    }
    sg_json_set(out, key, copy);
    return SG_OK;
}

int sg_discovery_options_of(const sg_json *in, const char *kind, bool with_interval, sg_json **out,
                            int64_t *interval)
{
    *out = NULL;
    if (interval)
        *interval = 0;
    sg_json *o = sg_json_object();
    int rc = pattern_list(in, "include", kind, o);
    if (rc == SG_OK)
        rc = pattern_list(in, "exclude", kind, o);
    sg_json *owner = sg_json_get(in, "default_owner");
    if (rc == SG_OK && owner && sg_json_typeof(owner) != SG_JSON_NULL) {
        const char *name = sg_json_str(owner);
        if (!name || !*name || strlen(name) > SG_MAX_USER_NAME)
            rc = sg_err_set(SG_EINVAL, "\"default_owner\" must be a snowgate user name");
        else
            sg_json_set_str(o, "default_owner", name);
    }
    sg_json *iv = sg_json_get(in, "discovery_interval");
    if (rc == SG_OK && iv && !with_interval)
        rc = sg_err_set(SG_EINVAL, "\"discovery_interval\" is a connection's setting; give it "
                                   "when the connection is created");
    if (rc == SG_OK && iv) {
        int64_t v = -1;
        if (!sg_json_int(iv, &v) ||
            (v != 0 && (v < SG_DISCOVERY_MIN_INTERVAL || v > SG_DISCOVERY_MAX_INTERVAL)))
            rc = sg_err_set(SG_EINVAL,
                            "\"discovery_interval\" must be 0 (only when asked) or %d to %d "
                            "seconds",
                            SG_DISCOVERY_MIN_INTERVAL, SG_DISCOVERY_MAX_INTERVAL);
        else if (interval)
            *interval = v;
    }
    if (rc != SG_OK || sg_json_object_size(o) == 0) {
        sg_json_decref(o);
        return rc;
    }
    *out = o;
    return SG_OK;
}

int sg_discovery_options(const sg_json *in, bool with_interval, sg_json **out, int64_t *interval)
{
    /* A new connection's body says its kind. */
    return sg_discovery_options_of(in, sg_json_get_str(in, "kind"), with_interval, out, interval);
}

/* ---- start ------------------------------------------------------------------------------- */

static bool busy(const sg_json *status)
{
    const char *st = sg_json_get_str(status, "state");
    return st && (strcmp(st, "queued") == 0 || strcmp(st, "running") == 0);
}

typedef struct start_ctx {
    const char *actor, *ref;
    const sg_json *body; /* the run's settings, or NULL */
    bool scheduled;
    char id[33];
    bool skipped; /* scheduled: a run was already queued or running */
} start_ctx;

int sg_discovery_owner_check(sg_conn *c, const char *owner)
{
    if (!owner)
        return SG_OK;
    int64_t n = 0;
    sg_val u[] = {SG_VTEXT(owner)};
    int rc = sg_conn_query_int(c, "SELECT COUNT(*) FROM users WHERE name = ?1", u, 1, &n);
    if (rc == SG_OK && n == 0)
        return sg_err_set(SG_EINVAL, "\"default_owner\": '%s' is not a snowgate user", owner);
    /* A disabled user owns nothing new: nobody would decide the requests on what is found. */
    if (rc == SG_OK)
        rc = sg_conn_query_int(
            c, "SELECT COUNT(*) FROM users WHERE name = ?1 AND disabled_at IS NULL", u, 1, &n);
    if (rc == SG_OK && n == 0)
        rc = sg_err_set(SG_EINVAL,
                        "\"default_owner\": '%s' is disabled; name an active user, or enable "
                        "them first",
                        owner);
    return rc;
}

static int start_tx(sg_conn *c, void *ctx)
{
    start_ctx *x = ctx;
    sg_rows *r = NULL;
    int rc = sg_connection_row(c, x->ref, "COALESCE(discovery, '')", &r);
    if (rc != SG_OK)
        return rc;
    sg_strlcpy(x->id, sg_rows_text(r, 0), sizeof(x->id));
    char name[SG_MAX_CONNECTION_NAME + 1], kind[64];
    sg_strlcpy(name, sg_rows_text(r, 1), sizeof(name));
    sg_strlcpy(kind, sg_rows_text(r, 2), sizeof(kind));
    sg_json *config = NULL, *status = NULL;
    const char *cfg_text = sg_rows_text(r, 3), *st_text = sg_rows_text(r, 4);
    sg_json_parse(cfg_text, strlen(cfg_text), 0, 0, &config);
    if (*st_text)
        sg_json_parse(st_text, strlen(st_text), 0, 0, &status);
    sg_rows_free(r);
    const sg_connector *conn = sg_connector_find(kind);
    sg_json *opts = NULL;
    if (!conn || !conn->discover) {
        rc = sg_err_set(SG_ECONFLICT,
                        "connection '%s' is a %s connection, which cannot be discovered; "
                        "register its assets with POST /api/v1/assets",
                        name, kind);
    } else if (busy(status)) {
        if (x->scheduled)
            x->skipped = true;
        else
            rc = sg_err_set(SG_ECONFLICT,
                            "a discovery of connection '%s' is already %s; follow it with GET "
                            "/api/v1/connections/%s",
                            name, sg_json_get_str(status, "state"), x->id);
    } else {
        /* The run's settings: the connection's, each overridden by the request's. */
        opts = sg_json_object();
        const sg_json *saved = sg_json_get(config, "discovery");
        static const char *const keys[] = {"include", "exclude", "default_owner", NULL};
        for (size_t i = 0; keys[i]; i++) {
            sg_json *v = x->body ? sg_json_get(x->body, keys[i]) : NULL;
            if (!v)
                v = sg_json_get(saved, keys[i]);
            if (v)
                sg_json_set(opts, keys[i], sg_json_incref(v));
        }
        rc = sg_discovery_owner_check(c, sg_json_get_str(opts, "default_owner"));
    }
    if (rc == SG_OK && opts) {
        sg_json *st = sg_json_object();
        char now[32];
        sg_now_iso(now);
        sg_json_set_str(st, "state", "queued");
        sg_json_set_int(st, "percent", 0);
        sg_json_set_str(st, "requested_by", x->actor);
        sg_json_set_str(st, "queued_at", now);
        sg_json_set(st, "options", sg_json_incref(opts));
        char *text = sg_json_dump(st);
        sg_json_decref(st);
        sg_val v[] = {SG_VTEXT(text), SG_VTEXT(x->id)};
        rc = sg_conn_exec(c, "UPDATE connections SET discovery = ?1 WHERE id = ?2", v, 2, NULL);
        free(text);
        char key[80], nonce[17];
        sg_random_hex(nonce, 8);
        snprintf(key, sizeof(key), "discover:%s:%s", x->id, nonce);
        if (rc == SG_OK)
            rc = sg_jobs_enqueue(c, "connection.discover", x->id, (int64_t)time(NULL), key, NULL);
    }
    sg_json_decref(opts);
    sg_json_decref(config);
    sg_json_decref(status);
    return rc;
}

/* The kind of connection ref (id or name), for messages; "" when there is none. */
typedef struct kind_ctx {
    const char *ref;
    char kind[64];
} kind_ctx;

static int kind_tx(sg_conn *c, void *ctx)
{
    kind_ctx *x = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(x->ref)};
    int rc = sg_conn_query(c, "SELECT kind FROM connections WHERE id = ?1 OR name = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1)
        sg_strlcpy(x->kind, sg_rows_text(r, 0), sizeof(x->kind));
    sg_rows_free(r);
    return SG_OK;
}

int sg_discovery_start(sg_app *app, const char *actor, const char *ref, const sg_json *body,
                       sg_json **out)
{
    *out = NULL;
    sg_json *checked = NULL;
    kind_ctx kc = {.ref = ref, .kind = ""};
    int rc = body ? sg_store_read(app->store, kind_tx, &kc) : SG_OK;
    if (rc == SG_OK && body)
        rc = sg_discovery_options_of(body, kc.kind[0] ? kc.kind : NULL, false, &checked, NULL);
    if (rc != SG_OK)
        return rc;
    start_ctx x = {.actor = actor, .ref = ref, .body = checked};
    rc = sg_store_tx(app->store, start_tx, &x);
    sg_json_decref(checked);
    if (rc == SG_OK)
        rc = sg_connection_get(app, x.id, out);
    return rc;
}

/* ---- the run ----------------------------------------------------------------------------- */

typedef struct found {
    char *name, *type, *desc, *owner;
} found;

typedef struct existing {
    char *id, *name, *type, *desc, *owners, *state;
    bool seen;
    bool discovered; /* discovery created it; else an admin registered it */
} existing;

typedef struct role_user {
    char *role, *name;
} role_user;

typedef struct run {
    sg_app *app;
    char id[33], name[SG_MAX_CONNECTION_NAME + 1], kind[64];
    char *config, *sealed;
    sg_json *status; /* what connections.discovery holds; the run owns it while it runs */
    sg_json *include, *exclude;
    const char **inc, **exc; /* NULL-terminated views of include and exclude */
    const char *default_owner;
    found *f;
    size_t nf, capf;
    existing *e;
    size_t ne;
    role_user *ru;
    size_t nru;
    int parts;    /* the connector's name_parts: 3 (one database) or 2 (whole names) */
    char db[256]; /* parts 3: the database part of the names found ("" when none was found) */
    int64_t added, updated, returned, gone, skipped, conflicts;
    size_t done; /* of nf, written so far */
} run;

static void run_free(run *r)
{
    for (size_t i = 0; i < r->nf; i++) {
        free(r->f[i].name);
        free(r->f[i].type);
        free(r->f[i].desc);
        free(r->f[i].owner);
    }
    for (size_t i = 0; i < r->ne; i++) {
        free(r->e[i].id);
        free(r->e[i].name);
        free(r->e[i].type);
        free(r->e[i].desc);
        free(r->e[i].owners);
        free(r->e[i].state);
    }
    for (size_t i = 0; i < r->nru; i++) {
        free(r->ru[i].role);
        free(r->ru[i].name);
    }
    free(r->f);
    free(r->e);
    free(r->ru);
    free(r->inc);
    free(r->exc);
    free(r->config);
    free(r->sealed);
    sg_json_decref(r->status);
}

static const char **string_view(const sg_json *list)
{
    size_t n = sg_json_array_size(list);
    const char **v = sg_xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = sg_json_str(sg_json_array_get(list, i));
    return v;
}

static int write_status(sg_conn *c, run *r, bool finished)
{
    char *text = sg_json_dump(r->status);
    sg_val v[] = {SG_VTEXT(text), SG_VTEXT(r->id), SG_VINT((int64_t)time(NULL))};
    int rc = sg_conn_exec(c,
                          finished ? "UPDATE connections SET discovery = ?1, discovered_at = ?3 "
                                     "WHERE id = ?2"
                                   : "UPDATE connections SET discovery = ?1 WHERE id = ?2",
                          v, finished ? 3 : 2, NULL);
    free(text);
    return rc;
}

static int status_tx(sg_conn *c, void *ctx)
{
    return write_status(c, ctx, false);
}

static void set_percent(run *r, int64_t pct)
{
    sg_json_set_int(r->status, "percent", pct);
}

/* Loads the connection and moves its run to running. *go false: no run is waiting. */
typedef struct begin_ctx {
    run *r;
    bool go;
} begin_ctx;

static int begin_tx(sg_conn *c, void *ctx)
{
    begin_ctx *b = ctx;
    run *r = b->r;
    sg_rows *q = NULL;
    sg_val k[] = {SG_VTEXT(r->id)};
    int rc = sg_conn_query(c,
                           "SELECT name, kind, config, COALESCE(secret, ''), "
                           "COALESCE(discovery, '') FROM connections WHERE id = ?1",
                           k, 1, &q);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(q) != 1) {
        sg_rows_free(q);
        return SG_OK;
    }
    sg_strlcpy(r->name, sg_rows_text(q, 0), sizeof(r->name));
    sg_strlcpy(r->kind, sg_rows_text(q, 1), sizeof(r->kind));
    free(r->config);
    free(r->sealed);
    r->config = sg_xstrdup(sg_rows_text(q, 2));
    r->sealed = sg_xstrdup(sg_rows_text(q, 3));
    const char *st = sg_rows_text(q, 4);
    sg_json_decref(r->status);
    r->status = NULL;
    if (*st)
        sg_json_parse(st, strlen(st), 0, 0, &r->status);
    sg_rows_free(q);
    if (!busy(r->status))
        return SG_OK;
    b->go = true;
    char now[32];
    sg_now_iso(now);
    sg_json_set_str(r->status, "state", "running");
    if (!sg_json_get(r->status, "started_at"))
        sg_json_set_str(r->status, "started_at", now);
    set_percent(r, 0);
    return write_status(c, r, false);
}

static bool is_relation(const char *type)
{
    return strcmp(type, "schema") != 0;
}

/* A source's comment as a description: at most SG_DISCOVER_MAX_COMMENT characters, valid
 * UTF-8 (a byte that is not becomes U+FFFD) without control characters (each becomes a
 * space). A new string. */
static char *clean_text(const char *s)
{
    sg_buf b = SG_BUF_INIT(0);
    const unsigned char *p = (const unsigned char *)s;
    for (size_t chars = 0; *p && chars < SG_DISCOVER_MAX_COMMENT; chars++) {
        int n = *p < 0x80             ? 0
                : (*p & 0xe0) == 0xc0 ? 1
                : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3
                                      : -1;
        bool ok = n >= 0 && !(n == 1 && *p < 0xc2) && !(n == 3 && *p > 0xf4);
        for (int i = 1; ok && i <= n; i++)
            ok = (p[i] & 0xc0) == 0x80;
        /* Overlong three- and four-byte forms, surrogates, and beyond U+10FFFF. */
        if (ok && n == 2 && ((*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] >= 0xa0)))
            ok = false;
        if (ok && n == 3 && ((*p == 0xf0 && p[1] < 0x90) || (*p == 0xf4 && p[1] >= 0x90)))
            ok = false;
        if (!ok) {
            sg_buf_puts(&b, "\xef\xbf\xbd");
            p++;
            continue;
        }
        /* C0 controls, DEL, and the C1 controls (U+0080 to U+009F). */
        if ((n == 0 && (*p < 0x20 || *p == 0x7f)) || (n == 1 && *p == 0xc2 && p[1] < 0xa0)) {
            sg_buf_putc(&b, ' ');
            p += n + 1;
            continue;
        }
        sg_buf_append(&b, (const char *)p, (size_t)n + 1);
        p += n + 1;
    }
    char *out = sg_xstrdup(sg_buf_str(&b));
    sg_buf_free(&b);
    return out;
}

/* Whether a name has the parts the connector's names have (name_parts for a table or view,
 * one fewer for a schema): more means a dot inside a part, and such a name is ambiguous
 * (database a.b's table t and database a's table b.t are both a.b.t). */
static bool parts_fit(const run *r, const sg_discovered *d)
{
    int parts = 1;
    for (const char *p = d->name; *p; p++)
        parts += *p == '.';
    return parts == (is_relation(d->type) ? r->parts : r->parts - 1);
}

static int collect(void *ctx, const sg_discovered *d)
{
    run *r = ctx;
    sg_discover_opts o = {r->inc, r->exc};
    if (!sg_discover_admits(&o, d->name))
        return SG_OK;
    /* A name that is no asset name (a control character in it), or one with a dot inside a
     * database, schema or table name: skipped, and counted. */
    if (sg_asset_name_check(d->name) != SG_OK || !parts_fit(r, d)) {
        r->skipped++;
        return SG_OK;
    }
    if (r->nf == SG_DISCOVERY_MAX_OBJECTS)
        return sg_err_set(SG_EINVAL,
                          "connection '%s' holds more than %d objects the patterns admit; "
                          "narrow them with \"include\" and \"exclude\"",
                          r->name, SG_DISCOVERY_MAX_OBJECTS);
    if (r->nf == r->capf) {
        r->capf = r->capf ? 2 * r->capf : 1024;
        r->f = sg_xrealloc(r->f, r->capf * sizeof(*r->f));
    }
    if (r->parts == 3 && !r->db[0]) {
        size_t n = strcspn(d->name, ".");
        snprintf(r->db, sizeof(r->db), "%.*s", (int)(n < sizeof(r->db) ? n : 0), d->name);
    }
    found *f = &r->f[r->nf++];
    f->name = sg_xstrdup(d->name);
    f->type = sg_xstrdup(d->type);
    f->desc = clean_text(d->description ? d->description : "");
    f->owner = sg_xstrdup(d->owner ? d->owner : "");
    return SG_OK;
}

static int cmp_existing(const void *a, const void *b)
{
    return strcmp(((const existing *)a)->name, ((const existing *)b)->name);
}

static int cmp_role(const void *a, const void *b)
{
    return strcmp(((const role_user *)a)->role, ((const role_user *)b)->role);
}

/* The connection's assets and the users' database roles, before anything is written. */
static int known_tx(sg_conn *c, void *ctx)
{
    run *r = ctx;
    sg_rows *q = NULL;
    sg_val k[] = {SG_VTEXT(r->id)};
    int rc = sg_conn_query(c,
                           "SELECT id, name, type, description, owners, state, discovered FROM "
                           "assets WHERE connection_id = ?1",
                           k, 1, &q);
    if (rc != SG_OK)
        return rc;
    size_t cap = 0;
    int step;
    while ((step = sg_rows_next(q)) == 1) {
        if (r->ne == cap) {
            cap = cap ? 2 * cap : 1024;
            r->e = sg_xrealloc(r->e, cap * sizeof(*r->e));
        }
        existing *e = &r->e[r->ne++];
        e->id = sg_xstrdup(sg_rows_text(q, 0));
        e->name = sg_xstrdup(sg_rows_text(q, 1));
        e->type = sg_xstrdup(sg_rows_text(q, 2));
        e->desc = sg_xstrdup(sg_rows_text(q, 3));
        e->owners = sg_xstrdup(sg_rows_text(q, 4));
        e->state = sg_xstrdup(sg_rows_text(q, 5));
        e->discovered = sg_rows_int(q, 6) != 0;
        e->seen = false;
    }
    sg_rows_free(q);
    if (step < 0)
        return step;
    rc = sg_conn_query(c,
                       "SELECT db_role, name FROM users WHERE db_role IS NOT NULL AND "
                       "disabled_at IS NULL ORDER BY name",
                       NULL, 0, &q);
    if (rc != SG_OK)
        return rc;
    cap = 0;
    while ((step = sg_rows_next(q)) == 1) {
        if (r->nru == cap) {
            cap = cap ? 2 * cap : 64;
            r->ru = sg_xrealloc(r->ru, cap * sizeof(*r->ru));
        }
        r->ru[r->nru].role = sg_xstrdup(sg_rows_text(q, 0));
        r->ru[r->nru++].name = sg_xstrdup(sg_rows_text(q, 1));
    }
    sg_rows_free(q);
    return step < 0 ? step : SG_OK;
}

static existing *lookup(run *r, const char *name)
{
    existing key = {.name = (char *)name};
    return r->ne ? bsearch(&key, r->e, r->ne, sizeof(*r->e), cmp_existing) : NULL;
}

/* The asset registered for f: by its name, or (parts 3) by schema.table (an admin's name on
 * the DSN's database, which is the one discovered). */
static existing *find_existing(run *r, const found *f)
{
    existing *e = lookup(r, f->name);
    if (r->parts != 3)
        return e;
    size_t n = strlen(r->db);
    if (!e && is_relation(f->type) && strncmp(f->name, r->db, n) == 0 && f->name[n] == '.') {
        e = lookup(r, f->name + n + 1);
        if (e && !is_relation(e->type))
            e = NULL;
    }
    return e;
}

/* An existing asset's name as discovery would write it (database.schema.table), into out;
 * false when it is not in the discovered database (not the run's to mark gone). With whole
 * names (parts 2), every asset of the connection is the run's, under its own name. */
static bool qualified(const run *r, const existing *e, sg_buf *out)
{
    sg_buf_reset(out);
    if (r->parts != 3) {
        sg_buf_puts(out, e->name);
        return true;
    }
    int dots = 0;
    for (const char *p = e->name; *p; p++)
        dots += *p == '.';
    if (dots == 1 && is_relation(e->type))
        sg_buf_printf(out, "%s.%s", r->db, e->name);
    else
        sg_buf_puts(out, e->name);
    size_t n = strlen(r->db);
    const char *q = sg_buf_str(out);
    return n > 0 && strncmp(q, r->db, n) == 0 && q[n] == '.';
}

/* The owners of an object owned by role: the users with that database role, or else the
 * default owner, as the JSON list assets.owners holds. */
static char *owners_for(run *r, const char *role)
{
    sg_json *list = sg_json_array();
    if (role && *role && r->nru) {
        role_user key = {.role = (char *)role};
        role_user *hit = bsearch(&key, r->ru, r->nru, sizeof(*r->ru), cmp_role);
        if (hit) {
            while (hit > r->ru && strcmp(hit[-1].role, role) == 0)
                hit--;
            for (size_t n = 0;
                 hit < r->ru + r->nru && strcmp(hit->role, role) == 0 && n < SG_MAX_OWNERS;
                 hit++, n++)
                sg_json_append(list, sg_json_string(hit->name));
        }
    }
    if (sg_json_array_size(list) == 0 && r->default_owner)
        sg_json_append(list, sg_json_string(r->default_owner));
    char *text = sg_json_dump(list);
    sg_json_decref(list);
    return text;
}

static int upsert(sg_conn *c, run *r, const found *f, const char *now)
{
    existing *e = find_existing(r, f);
    if (e) {
        e->seen = true;
        bool empty = strcmp(e->owners, "[]") == 0;
        char *owners = empty ? owners_for(r, f->owner) : NULL;
        bool owners_change = owners && strcmp(owners, "[]") != 0;
        bool back = strcmp(e->state, "active") != 0;
        /* An asset an admin registered keeps its type (a view made read-only stays one,
         * whatever the source says) and its description, unless it has none: the database's
         * owner does not rewrite what the admin decided. */
        const char *type = e->discovered ? f->type : e->type;
        const char *desc = e->discovered || !*e->desc ? f->desc : e->desc;
        if (!back && !owners_change && strcmp(e->type, type) == 0 && strcmp(e->desc, desc) == 0) {
            free(owners);
            return SG_OK;
        }
        sg_val v[] = {SG_VTEXT(e->id), SG_VTEXT(type), SG_VTEXT(desc),
                      SG_VTEXT(owners_change ? owners : e->owners)};
        int rc = sg_conn_exec(c,
                              "UPDATE assets SET type = ?2, description = ?3, owners = ?4, "
                              "state = 'active' WHERE id = ?1",
                              v, 4, NULL);
        free(owners);
        if (back)
            r->returned++;
        else
            r->updated++;
        return rc;
    }
    char id[33];
    sg_random_hex(id, 16);
    char *owners = owners_for(r, f->owner);
    sg_val v[] = {SG_VTEXT(id),     SG_VTEXT(f->name), SG_VTEXT(f->type), SG_VTEXT(r->id),
                  SG_VTEXT(owners), SG_VTEXT(f->desc), SG_VTEXT(now)};
    int64_t changes = 0;
    /* A name taken by another connection's asset stays theirs. */
    int rc = sg_conn_exec(c,
                          "INSERT INTO assets (id, name, type, connection_id, owners, "
                          "description, created_at, state, discovered) VALUES (?1, ?2, ?3, ?4, "
                          "?5, ?6, ?7, 'active', 1) ON CONFLICT (name) DO NOTHING",
                          v, 7, &changes);
    free(owners);
    if (rc == SG_OK && changes == 0)
        r->conflicts++;
    else if (rc == SG_OK)
        r->added++;
    return rc;
}

static int batch_tx(sg_conn *c, void *ctx)
{
    run *r = ctx;
    char now[32];
    sg_now_iso(now);
    size_t end = r->done + BATCH < r->nf ? r->done + BATCH : r->nf;
    int rc = SG_OK;
    for (size_t i = r->done; rc == SG_OK && i < end; i++)
        rc = upsert(c, r, &r->f[i], now);
    if (rc != SG_OK)
        return rc;
    set_percent(r, 10 + (int64_t)(85 * end / (r->nf ? r->nf : 1)));
    rc = write_status(c, r, false);
    if (rc == SG_OK)
        r->done = end;
    return rc;
}

/* Every active asset of the connection that the patterns admit and the run did not find
 * becomes gone; then the run's result, in the same transaction. */
static int finish_tx(sg_conn *c, void *ctx)
{
    run *r = ctx;
    sg_discover_opts o = {r->inc, r->exc};
    int rc = SG_OK;
    sg_buf q = SG_BUF_INIT(0);
    for (size_t i = 0; rc == SG_OK && i < r->ne; i++) {
        existing *e = &r->e[i];
        if (e->seen || strcmp(e->state, "active") != 0 || !qualified(r, e, &q) ||
            !sg_discover_admits(&o, sg_buf_str(&q)))
            continue;
        sg_val v[] = {SG_VTEXT(e->id)};
        rc = sg_conn_exec(c, "UPDATE assets SET state = 'gone' WHERE id = ?1", v, 1, NULL);
        r->gone++;
    }
    sg_buf_free(&q);
    if (rc != SG_OK)
        return rc;
    char now[32];
    sg_now_iso(now);
    sg_json *counts = sg_json_object();
    sg_json_set_int(counts, "found", (int64_t)r->nf);
    sg_json_set_int(counts, "added", r->added);
    sg_json_set_int(counts, "updated", r->updated);
    sg_json_set_int(counts, "returned", r->returned);
    sg_json_set_int(counts, "gone", r->gone);
    sg_json_set_int(counts, "skipped", r->skipped);
    sg_json_set_int(counts, "conflicts", r->conflicts);
    char *detail = sg_json_dump(counts);
    sg_json_set_str(r->status, "state", "done");
    sg_json_set_str(r->status, "finished_at", now);
    sg_json_set(r->status, "counts", counts);
    sg_json_set(r->status, "error", sg_json_null());
    set_percent(r, 100);
    rc = write_status(c, r, true);
    const char *actor = sg_json_get_str(r->status, "requested_by");
    if (rc == SG_OK)
        rc = sg_audit_append(c, actor ? actor : "snowgate", "connection.discovered", r->name,
                             detail);
    free(detail);
    return rc;
}

typedef struct fail_ctx {
    const char *id, *reason;
    bool final; /* the run ends (failed), or is retried (running) */
} fail_ctx;

static int fail_tx(sg_conn *c, void *ctx)
{
    fail_ctx *f = ctx;
    sg_rows *q = NULL;
    sg_val k[] = {SG_VTEXT(f->id)};
    int rc =
        sg_conn_query(c, "SELECT COALESCE(discovery, '') FROM connections WHERE id = ?1", k, 1, &q);
    if (rc != SG_OK)
        return rc;
    sg_json *st = NULL;
    if (sg_rows_next(q) == 1) {
        const char *t = sg_rows_text(q, 0);
        if (*t)
            sg_json_parse(t, strlen(t), 0, 0, &st);
    }
    sg_rows_free(q);
    if (!busy(st)) {
        sg_json_decref(st);
        return SG_OK;
    }
    char now[32];
    sg_now_iso(now);
    sg_json_set_str(st, "error", f->reason);
    if (f->final) {
        sg_json_set_str(st, "state", "failed");
        sg_json_set_str(st, "finished_at", now);
    }
    char *text = sg_json_dump(st);
    sg_json_decref(st);
    sg_val v[] = {SG_VTEXT(text), SG_VTEXT(f->id), SG_VINT((int64_t)time(NULL))};
    rc = sg_conn_exec(c,
                      f->final ? "UPDATE connections SET discovery = ?1, discovered_at = ?3 "
                                 "WHERE id = ?2"
                               : "UPDATE connections SET discovery = ?1 WHERE id = ?2",
                      v, f->final ? 3 : 2, NULL);
    free(text);
    return rc;
}

static void record_failure(sg_app *app, const char *id, const char *reason, bool final)
{
    fail_ctx f = {id, reason, final};
    if (sg_store_tx(app->store, fail_tx, &f) != SG_OK)
        sg_log_error("could not record the discovery's failure", "connection", id, "reason",
                     sg_err_msg());
}

int sg_discovery_job(sg_app *app, const sg_job *job, int64_t *retry_after)
{
    run r = {.app = app};
    sg_strlcpy(r.id, job->payload, sizeof(r.id));
    begin_ctx b = {&r, false};
    int rc = sg_store_tx(app->store, begin_tx, &b);
    if (rc != SG_OK || !b.go) {
        run_free(&r);
        return rc;
    }
    struct timespec t0 = sg_mono_now();
    const sg_json *opts = sg_json_get(r.status, "options");
    r.inc = string_view(sg_json_get(opts, "include"));
    r.exc = string_view(sg_json_get(opts, "exclude"));
    r.default_owner = sg_json_get_str(opts, "default_owner");
    const sg_connector *k = sg_connector_find(r.kind);
    r.parts = k && k->name_parts ? k->name_parts : 3;
    sg_connection_ref ref = {r.id, r.name, r.kind, r.config, r.sealed};
    sg_discover_opts o = {r.inc, r.exc};
    if (!k || !k->discover) {
        rc = sg_err_set(SG_EINVAL, "connection '%s' (%s) cannot be discovered", r.name, r.kind);
        *retry_after = SG_JOBS_NO_RETRY;
    } else {
        rc = k->discover(app, &ref, &o, collect, &r);
        if (rc == SG_EINVAL || rc == SG_EDENIED)
            *retry_after = SG_JOBS_NO_RETRY;
    }
    if (rc == SG_OK) {
        set_percent(&r, 10);
        rc = sg_store_tx(app->store, status_tx, &r);
    }
    if (rc == SG_OK)
        rc = sg_store_read(app->store, known_tx, &r);
    if (rc == SG_OK) {
        if (r.ne)
            qsort(r.e, r.ne, sizeof(*r.e), cmp_existing);
        if (r.nru)
            qsort(r.ru, r.nru, sizeof(*r.ru), cmp_role);
    }
    while (rc == SG_OK && r.done < r.nf)
        rc = sg_store_tx(app->store, batch_tx, &r);
    if (rc == SG_OK)
        rc = sg_store_tx(app->store, finish_tx, &r);
    char ms[32];
    if (rc == SG_OK) {
        char n[24];
        snprintf(n, sizeof(n), "%zu", r.nf);
        sg_log_info("discovery finished", "connection", r.name, "found", n, "ms",
                    sg_ms_since(&t0, ms));
    } else {
        char reason[600];
        sg_strlcpy(reason, sg_err_msg(), sizeof(reason));
        record_failure(app, r.id, reason, *retry_after == SG_JOBS_NO_RETRY);
        sg_err_set(rc, "%s", reason);
    }
    run_free(&r);
    return rc;
}

void sg_discovery_gave_up(sg_app *app, const sg_job *job, const char *reason)
{
    record_failure(app, job->payload, reason, true);
}

/* ---- the schedule ------------------------------------------------------------------------ */

typedef struct due_ctx {
    int64_t now;
    char ids[64][33];
    size_t n;
} due_ctx;

static int due_tx(sg_conn *c, void *ctx)
{
    due_ctx *d = ctx;
    sg_rows *q = NULL;
    sg_val v[] = {SG_VINT(d->now)};
    int rc = sg_conn_query(c,
                           "SELECT id FROM connections WHERE discovery_interval > 0 AND "
                           "(discovered_at IS NULL OR discovered_at + discovery_interval <= ?1) "
                           "ORDER BY discovered_at LIMIT 64",
                           v, 1, &q);
    if (rc != SG_OK)
        return rc;
    int step;
    while (d->n < 64 && (step = sg_rows_next(q)) == 1)
        sg_strlcpy(d->ids[d->n++], sg_rows_text(q, 0), 33);
    sg_rows_free(q);
    return SG_OK;
}

/* A scheduled run that could not even start (its default owner was deleted): recorded as a
 * failed run, with discovered_at, so that it is tried again after the interval, not every
 * second. */
typedef struct refused_ctx {
    const char *id, *reason;
    int64_t now;
} refused_ctx;

static int refused_tx(sg_conn *c, void *ctx)
{
    refused_ctx *x = ctx;
    char now[32];
    sg_now_iso(now);
    sg_json *st = sg_json_object();
    sg_json_set_str(st, "state", "failed");
    sg_json_set_int(st, "percent", 0);
    sg_json_set_str(st, "requested_by", "snowgate");
    sg_json_set_str(st, "finished_at", now);
    sg_json_set_str(st, "error", x->reason);
    char *text = sg_json_dump(st);
    sg_json_decref(st);
    sg_val v[] = {SG_VTEXT(text), SG_VTEXT(x->id), SG_VINT(x->now)};
    int rc = sg_conn_exec(
        c, "UPDATE connections SET discovery = ?1, discovered_at = ?3 WHERE id = ?2", v, 3, NULL);
    free(text);
    return rc;
}

int sg_discovery_sweep(sg_app *app, int64_t now)
{
    due_ctx d = {.now = now};
    int rc = sg_store_read(app->store, due_tx, &d);
    for (size_t i = 0; rc == SG_OK && i < d.n; i++) {
        start_ctx x = {.actor = "snowgate", .ref = d.ids[i], .scheduled = true};
        rc = sg_store_tx(app->store, start_tx, &x);
        if (rc == SG_OK && !x.skipped)
            sg_log_info("scheduled discovery queued", "connection", d.ids[i]);
        if (rc == SG_EINVAL || rc == SG_ECONFLICT) {
            char reason[600];
            sg_strlcpy(reason, sg_err_msg(), sizeof(reason));
            sg_log_warn("scheduled discovery refused", "connection", d.ids[i], "reason", reason);
            refused_ctx f = {d.ids[i], reason, now};
            rc = sg_store_tx(app->store, refused_tx, &f);
        }
    }
    return rc;
}
