/* assets: connections and assets in the store. */
#include "gate/governance/assets.h"
#include "gate/limits.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/governance/audit.h"
#include "gate/governance/discovery.h"
#include "gate/connectors/connectors.h"
#include "gate/secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool utf8_printable(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        int n = *p < 0x80             ? 0
                : (*p & 0xe0) == 0xc0 ? 1
                : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3
                                      : -1;
        if (n < 0 || (n == 1 && *p < 0xc2))
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return false;
    }
    return true;
}

int sg_asset_name_check(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SG_MAX_ASSET_NAME)
        return sg_err_set(SG_EINVAL,
                          "asset name must be 1 to %d bytes, e.g. analytics.public.orders",
                          SG_MAX_ASSET_NAME);
    if (!utf8_printable(name))
        return sg_err_set(SG_EINVAL, "asset name must be valid UTF-8 without control characters");
    int parts = 1;
    for (const char *p = name; *p; p++) {
        if (*p == '.') {
            if (p == name || p[1] == '.' || p[1] == '\0')
                return sg_err_set(SG_EINVAL,
                                  "asset name '%s' has an empty part; use database.schema.table",
                                  name);
            parts++;
        }
    }
    if (parts > 3)
        return sg_err_set(SG_EINVAL,
                          "asset name '%s' has more than 3 parts; use database.schema.table", name);
    return SG_OK;
}

static int simple_name_check(const char *what, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > SG_MAX_CONNECTION_NAME || !utf8_printable(name))
        return sg_err_set(SG_EINVAL, "%s name must be 1 to %d printable characters", what,
                          SG_MAX_CONNECTION_NAME);
    return SG_OK;
}

typedef struct conn_ctx {
    const char *id, *name, *kind, *config, *secret, *actor;
    int64_t discovery_interval;
    const char *default_owner; /* discovery's, or NULL */
} conn_ctx;

static int conn_tx(sg_conn *c, void *ctx)
{
    conn_ctx *x = ctx;
    char now[32];
    sg_now_iso(now);
    int rc = sg_discovery_owner_check(c, x->default_owner);
    if (rc != SG_OK)
        return rc;
    sg_val v[] = {SG_VTEXT(x->id),
                  SG_VTEXT(x->name),
                  SG_VTEXT(x->kind),
                  SG_VTEXT(x->config),
                  SG_VTEXT(x->secret),
                  SG_VTEXT(now),
                  SG_VINT(x->discovery_interval)};
    rc = sg_conn_exec(c,
                      "INSERT INTO connections (id, name, kind, config, secret, created_at, "
                      "discovery_interval) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      v, 7, NULL);
    if (rc == SG_ECONFLICT)
        return sg_err_set(SG_ECONFLICT, "a connection named '%s' already exists", x->name);
    if (rc != SG_OK)
        return rc;
    char detail[128];
    snprintf(detail, sizeof(detail), "{\"kind\":\"%s\"}", x->kind);
    return sg_audit_append(c, x->actor, "connection.created", x->name, detail);
}

/* The connection as the API shows it: never its secret. discovery is the JSON of its last
 * discovery run (or "" / NULL), discovered_at unix seconds (<= 0: never). */
static sg_json *connection_json(const char *id, const char *name, const char *kind,
                                const char *config, const char *discovery, int64_t interval,
                                int64_t discovered_at)
{
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "id", id);
    sg_json_set_str(o, "name", name);
    sg_json_set_str(o, "kind", kind);
    sg_json *cfg = NULL;
    if (config && sg_json_parse(config, strlen(config), 0, 0, &cfg) == SG_OK)
        sg_json_set(o, "config", cfg);
    const sg_connector *k = sg_connector_find(kind);
    sg_json_set_bool(o, "discoverable", k && k->discover);
    sg_json_set_int(o, "discovery_interval", interval);
    sg_json *d = NULL;
    if (discovery && *discovery && sg_json_parse(discovery, strlen(discovery), 0, 0, &d) == SG_OK)
        sg_json_set(o, "discovery", d);
    else
        sg_json_set(o, "discovery", sg_json_null());
    if (discovered_at > 0) {
        char at[32];
        sg_iso_from_unix(discovered_at, at);
        sg_json_set_str(o, "discovered_at", at);
    } else {
        sg_json_set(o, "discovered_at", sg_json_null());
    }
    return o;
}

#define CONNECTION_COLUMNS                                                                         \
    "id, name, kind, config, COALESCE(discovery, ''), discovery_interval, "                        \
    "COALESCE(discovered_at, 0)"

static sg_json *connection_row(sg_rows *r)
{
    return connection_json(sg_rows_text(r, 0), sg_rows_text(r, 1), sg_rows_text(r, 2),
                           sg_rows_text(r, 3), sg_rows_text(r, 4), sg_rows_int(r, 5),
                           sg_rows_int(r, 6));
}

int sg_connection_create(sg_app *app, const char *actor, const sg_json *in, sg_json **out)
{
    *out = NULL;
    const char *name = sg_json_get_str(in, "name");
    const char *kind = sg_json_get_str(in, "kind");
    int rc = simple_name_check("connection", name);
    if (rc != SG_OK)
        return rc;
    const sg_connector *k = sg_connector_find(kind);
    if (!k)
        return SG_EINVAL;
    kind = k->kind; /* an alias (mariadb) is stored as its kind */
    sg_json *cfg = sg_json_object();
    const char *secret = NULL;
    if (k->check_config)
        rc = k->check_config(app, in, cfg, &secret);
    /* Discovery's settings, for a kind that discovers. */
    sg_json *discovery = NULL;
    int64_t interval = 0;
    if (rc == SG_OK)
        rc = sg_discovery_options(in, true, &discovery, &interval);
    if (rc == SG_OK && !k->discover && (discovery || interval))
        rc = sg_err_set(SG_EINVAL,
                        "a %s connection cannot be discovered: leave out \"include\", "
                        "\"exclude\", \"default_owner\" and \"discovery_interval\"",
                        k->kind);
    if (rc == SG_OK && discovery)
        sg_json_set(cfg, "discovery", sg_json_incref(discovery));
    sg_json_decref(discovery);
    const char *downer =
        rc == SG_OK ? sg_json_get_str(sg_json_get(cfg, "discovery"), "default_owner") : NULL;
    if (rc == SG_OK && secret && strlen(secret) > SG_MAX_SECRET)
        rc =
            sg_err_set(SG_EINVAL, "\"%s\" is %zu bytes; the most is %d",
                       k->secret_field ? k->secret_field : "secret", strlen(secret), SG_MAX_SECRET);
    if (rc != SG_OK) {
        sg_json_decref(cfg);
        return rc;
    }
    char id[33];
    sg_random_hex(id, 16);
    char *sealed = NULL;
    if (secret && *secret) {
        char binding[96];
        snprintf(binding, sizeof(binding), "connections:%s:secret", id);
        rc = sg_secrets_seal(&app->secrets, binding, secret, &sealed);
    }
    char *config = sg_json_dump(cfg);
    if (rc == SG_OK) {
        conn_ctx x = {id, name, kind, config, sealed, actor, interval, downer};
        rc = sg_store_tx(app->store, conn_tx, &x);
    }
    sg_json_decref(cfg); /* after the transaction: downer is borrowed from it */
    if (rc == SG_OK)
        *out = connection_json(id, name, kind, config, NULL, interval, 0);
    free(config);
    free(sealed);
    return rc;
}

static int list_conn_tx(sg_conn *c, void *ctx)
{
    sg_json *arr = ctx;
    sg_rows *r = NULL;
    int rc = sg_conn_query(c, "SELECT " CONNECTION_COLUMNS " FROM connections ORDER BY name", NULL,
                           0, &r);
    if (rc != SG_OK)
        return rc;
    int step;
    while ((step = sg_rows_next(r)) == 1)
        sg_json_append(arr, connection_row(r));
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

int sg_connection_list(sg_app *app, sg_json **out)
{
    sg_json *arr = sg_json_array();
    int rc = sg_store_read(app->store, list_conn_tx, arr);
    if (rc != SG_OK) {
        sg_json_decref(arr);
        return rc;
    }
    *out = arr;
    return SG_OK;
}

typedef struct get_conn_ctx {
    const char *ref;
    sg_json *out;
} get_conn_ctx;

static int get_conn_tx(sg_conn *c, void *ctx)
{
    get_conn_ctx *g = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(g->ref)};
    int rc = sg_conn_query(c,
                           "SELECT " CONNECTION_COLUMNS " FROM connections WHERE id = ?1 OR "
                           "name = ?1",
                           k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1)
        g->out = connection_row(r);
    sg_rows_free(r);
    return g->out ? SG_OK : sg_err_set(SG_ENOTFOUND, "connection '%s' not found", g->ref);
}

int sg_connection_get(sg_app *app, const char *ref, sg_json **out)
{
    get_conn_ctx g = {ref, NULL};
    int rc = sg_store_read(app->store, get_conn_tx, &g);
    *out = g.out;
    return rc;
}

int sg_connection_row(sg_conn *c, const char *ref, const char *more, sg_rows **out)
{
    *out = NULL;
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT id, name, kind, config, %s FROM connections WHERE id = ?1 OR name = ?1", more);
    sg_val k[] = {SG_VTEXT(ref)};
    int rc = sg_conn_query(c, sql, k, 1, out);
    if (rc != SG_OK)
        return rc;
    rc = sg_rows_next(*out);
    if (rc == 1)
        return SG_OK;
    sg_rows_free(*out);
    *out = NULL;
    return rc < 0 ? rc : sg_err_set(SG_ENOTFOUND, "connection '%s' not found", ref);
}

/* ---- changing discovery settings ---- */

static const char *const settable[] = {"include", "exclude", "default_owner", "discovery_interval",
                                       NULL};

typedef struct update_ctx {
    const char *ref, *actor;
    const sg_json *in;
    sg_json *out;
} update_ctx;

/* cfg with its "discovery" replaced by disc (or removed when disc is empty): a new object. */
static sg_json *with_discovery(sg_json *cfg, sg_json *disc)
{
    sg_json *o = sg_json_object();
    for (void *it = sg_json_iter(cfg); it; it = sg_json_iter_next(cfg, it))
        if (strcmp(sg_json_iter_key(it), "discovery") != 0)
            sg_json_set(o, sg_json_iter_key(it), sg_json_incref(sg_json_iter_value(it)));
    if (sg_json_object_size(disc) > 0)
        sg_json_set(o, "discovery", sg_json_incref(disc));
    return o;
}

/* The new discovery settings: old's, with what the body gives (checked in `checked`) put in
 * place, and what it gives as null or [] removed. */
static sg_json *merged(const sg_json *old, const sg_json *in, const sg_json *checked)
{
    sg_json *d = sg_json_object();
    static const char *const keys[] = {"include", "exclude", "default_owner", NULL};
    for (size_t i = 0; keys[i]; i++) {
        const sg_json *given = sg_json_get(in, keys[i]);
        sg_json *v = given ? sg_json_get(checked, keys[i]) : sg_json_get(old, keys[i]);
        if (v && (sg_json_typeof(v) != SG_JSON_ARRAY || sg_json_array_size(v) > 0))
            sg_json_set(d, keys[i], sg_json_incref(v));
    }
    return d;
}

static int update_tx(sg_conn *c, void *ctx)
{
    update_ctx *x = ctx;
    sg_rows *r = NULL;
    int rc = sg_connection_row(c, x->ref, "discovery_interval", &r);
    if (rc != SG_OK)
        return rc;
    char id[33], name[SG_MAX_CONNECTION_NAME + 1], kind[16];
    sg_strlcpy(id, sg_rows_text(r, 0), sizeof(id));
    sg_strlcpy(name, sg_rows_text(r, 1), sizeof(name));
    sg_strlcpy(kind, sg_rows_text(r, 2), sizeof(kind));
    const char *config = sg_rows_text(r, 3);
    int64_t interval = sg_rows_int(r, 4), new_interval = 0;
    sg_json *cfg = NULL;
    if (sg_json_parse(config, strlen(config), 0, 0, &cfg) != SG_OK ||
        sg_json_typeof(cfg) != SG_JSON_OBJECT) {
        sg_json_decref(cfg);
        sg_rows_free(r);
        return sg_err_set(SG_EINTERNAL,
                          "connection '%s' has a stored config that is not a JSON "
                          "object; it was not written through snowgate",
                          x->ref);
    }
    sg_rows_free(r);
    const sg_connector *kc = sg_connector_find(kind);
    /* The body, less what it gives as null (which removes the setting): checked as at
     * creation, with the connection's kind for the messages. */
    sg_json *given = sg_json_object(), *checked = NULL;
    for (size_t i = 0; settable[i]; i++) {
        sg_json *v = sg_json_get(x->in, settable[i]);
        if (v && sg_json_typeof(v) != SG_JSON_NULL)
            sg_json_set(given, settable[i], sg_json_incref(v));
    }
    if (!kc || !kc->discover)
        rc = sg_err_set(SG_EINVAL,
                        "connection '%s' is of kind %s, which cannot be discovered: it has no "
                        "discovery settings to change",
                        name, kind);
    else if (sg_json_get(x->in, "discovery_interval") &&
             sg_json_typeof(sg_json_get(x->in, "discovery_interval")) == SG_JSON_NULL)
        rc = sg_err_set(SG_EINVAL, "\"discovery_interval\" must be 0 (only when asked) or a "
                                   "number of seconds, not null");
    else
        rc = sg_discovery_options_of(given, kind, true, &checked, &new_interval);
    if (rc == SG_OK && sg_json_get(x->in, "discovery_interval"))
        interval = new_interval; /* else unchanged */
    if (rc == SG_OK)
        rc = sg_discovery_owner_check(c, sg_json_get_str(checked, "default_owner"));
    sg_json *disc = NULL, *next = NULL;
    char *text = NULL, *detail = NULL;
    if (rc == SG_OK) {
        disc = merged(sg_json_get(cfg, "discovery"), x->in, checked);
        next = with_discovery(cfg, disc);
        text = sg_json_dump(next);
        sg_val v[] = {SG_VTEXT(text), SG_VINT(interval), SG_VTEXT(id)};
        rc = sg_conn_exec(c,
                          "UPDATE connections SET config = ?1, discovery_interval = ?2 WHERE id "
                          "= ?3",
                          v, 3, NULL);
    }
    if (rc == SG_OK) {
        /* What the connection's discovery is now, for the audit log. */
        sg_json *d = sg_json_object();
        sg_json_set(d, "discovery", sg_json_incref(disc));
        sg_json_set_int(d, "discovery_interval", interval);
        detail = sg_json_dump(d);
        sg_json_decref(d);
        rc = sg_audit_append(c, x->actor, "connection.changed", name, detail);
    }
    if (rc == SG_OK) {
        get_conn_ctx g = {id, NULL};
        rc = get_conn_tx(c, &g);
        x->out = g.out;
    }
    free(detail);
    free(text);
    sg_json_decref(next);
    sg_json_decref(disc);
    sg_json_decref(checked);
    sg_json_decref(given);
    sg_json_decref(cfg);
    return rc;
}

int sg_connection_update(sg_app *app, const char *actor, const char *ref, const sg_json *in,
                         sg_json **out)
{
    *out = NULL;
    size_t known = 0;
    for (void *it = sg_json_iter((sg_json *)in); it; it = sg_json_iter_next((sg_json *)in, it)) {
        const char *key = sg_json_iter_key(it);
        size_t i = 0;
        while (settable[i] && strcmp(settable[i], key) != 0)
            i++;
        if (!settable[i])
            return sg_err_set(SG_EINVAL,
                              "\"%s\" cannot be changed: PATCH changes a connection's discovery "
                              "settings only (\"include\", \"exclude\", \"default_owner\", "
                              "\"discovery_interval\"); to change anything else, create the "
                              "connection again",
                              key);
        known++;
    }
    if (known == 0)
        return sg_err_set(SG_EINVAL, "nothing to change: give \"include\", \"exclude\", "
                                     "\"default_owner\" or \"discovery_interval\"");
    update_ctx x = {ref, actor, in, NULL};
    int rc = sg_store_tx(app->store, update_tx, &x);
    if (rc != SG_OK) {
        sg_json_decref(x.out);
        return rc;
    }
    *out = x.out;
    return SG_OK;
}

typedef struct asset_ctx {
    const char *id, *name, *type, *connection, *owners, *description, *actor;
    char connection_id[33];
    char missing_owner[128];
} asset_ctx;

static int asset_tx(sg_conn *c, void *ctx)
{
    asset_ctx *a = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(a->connection)};
    int rc = sg_conn_query(c, "SELECT id FROM connections WHERE name = ?1 OR id = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1)
        snprintf(a->connection_id, sizeof(a->connection_id), "%s", sg_rows_text(r, 0));
    sg_rows_free(r);
    if (!a->connection_id[0])
        return sg_err_set(SG_EINVAL,
                          "connection '%s' does not exist; create it first with POST "
                          "/api/v1/connections",
                          a->connection);
    /* Every owner must be a snowgate user. */
    sg_json *owners = NULL;
    sg_json_parse(a->owners, strlen(a->owners), 0, 0, &owners);
    for (size_t i = 0; i < sg_json_array_size(owners); i++) {
        int64_t n = 0;
        sg_val u[] = {SG_VTEXT(sg_json_str(sg_json_array_get(owners, i)))};
        rc = sg_conn_query_int(c, "SELECT COUNT(*) FROM users WHERE name = ?1", u, 1, &n);
        if (rc == SG_OK && n == 0) {
            rc = sg_err_set(SG_EINVAL, "owner '%s' is not a snowgate user",
                            sg_json_str(sg_json_array_get(owners, i)));
        }
        if (rc != SG_OK)
            break;
    }
    sg_json_decref(owners);
    if (rc != SG_OK)
        return rc;
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(a->id),     SG_VTEXT(a->name),
                  SG_VTEXT(a->type),   SG_VTEXT(a->connection_id),
                  SG_VTEXT(a->owners), SG_VTEXT(a->description),
                  SG_VTEXT(now)};
    rc = sg_conn_exec(c,
                      "INSERT INTO assets (id, name, type, connection_id, owners, description, "
                      "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      v, 7, NULL);
    if (rc == SG_ECONFLICT)
        return sg_err_set(SG_ECONFLICT, "an asset named '%s' already exists", a->name);
    if (rc != SG_OK)
        return rc;
    return sg_audit_append(c, a->actor, "asset.created", a->name, NULL);
}

static sg_json *asset_json(const char *id, const char *name, const char *type, const char *conn,
                           const char *owners, const char *description, const char *state)
{
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "id", id);
    sg_json_set_str(o, "name", name);
    sg_json_set_str(o, "type", type);
    sg_json_set_str(o, "connection", conn);
    sg_json *ow = NULL;
    if (sg_json_parse(owners, strlen(owners), 0, 0, &ow) != SG_OK)
        ow = sg_json_array();
    sg_json_set(o, "owners", ow);
    sg_json_set_str(o, "description", description);
    sg_json_set_str(o, "state", state);
    return o;
}

int sg_asset_create(sg_app *app, const char *actor, const sg_json *in, sg_json **out)
{
    *out = NULL;
    const char *name = sg_json_get_str(in, "name");
    const char *type = sg_json_get_str(in, "type");
    const char *conn = sg_json_get_str(in, "connection");
    const char *desc = sg_json_get_str(in, "description");
    int rc = sg_asset_name_check(name);
    if (rc != SG_OK)
        return rc;
    if (!type || !*type)
        type = "table";
    if (strcmp(type, "table") != 0 && strcmp(type, "view") != 0 && strcmp(type, "schema") != 0 &&
        strcmp(type, "dataset") != 0)
        return sg_err_set(SG_EINVAL, "type must be table, view, schema or dataset");
    if (!conn || !*conn)
        return sg_err_set(SG_EINVAL, "\"connection\" (a connection name) is required");
    sg_json *ownin = sg_json_get(in, "owners");
    if (sg_json_array_size(ownin) > SG_MAX_OWNERS)
        return sg_err_set(SG_EINVAL,
                          "\"owners\" lists %zu users; the most is %d (give the rest "
                          "the steward role instead)",
                          sg_json_array_size(ownin), SG_MAX_OWNERS);
    sg_json *owners = sg_json_array();
    for (size_t i = 0; i < sg_json_array_size(ownin); i++) {
        const char *o = sg_json_str(sg_json_array_get(ownin, i));
        if (o && strlen(o) > SG_MAX_USER_NAME) {
            sg_json_decref(owners);
            return sg_err_set(SG_EINVAL, "an owner's name is longer than %d bytes: no such user",
                              SG_MAX_USER_NAME);
        }
        if (!o) {
            sg_json_decref(owners);
            return sg_err_set(SG_EINVAL, "\"owners\" must be a list of snowgate user names");
        }
        sg_json_append(owners, sg_json_string(o));
    }
    if (ownin && sg_json_typeof(ownin) != SG_JSON_ARRAY) {
        sg_json_decref(owners);
        return sg_err_set(SG_EINVAL, "\"owners\" must be a list of snowgate user names");
    }
    char *owners_text = sg_json_dump(owners);
    sg_json_decref(owners);
    char id[33];
    sg_random_hex(id, 16);
    asset_ctx a = {id, name, type, conn, owners_text, desc ? desc : "", actor, "", ""};
    rc = sg_store_tx(app->store, asset_tx, &a);
    if (rc == SG_OK)
        *out = asset_json(id, name, type, conn, owners_text, desc ? desc : "", "active");
    free(owners_text);
    return rc;
}

typedef struct list_ctx {
    const char *q, *state;
    sg_json *arr;
} list_ctx;

static int list_asset_tx(sg_conn *c, void *ctx)
{
    list_ctx *l = ctx;
    sg_rows *r = NULL;
    /* The filter is a bound parameter; names with quotes or % are data, never SQL. */
    char *pattern = NULL;
    if (l->q) {
        sg_buf b = SG_BUF_INIT(0);
        sg_buf_putc(&b, '%');
        for (const char *p = l->q; *p; p++) {
            if (*p == '%' || *p == '_' || *p == '\\')
                sg_buf_putc(&b, '\\');
            sg_buf_putc(&b, *p);
        }
        sg_buf_putc(&b, '%');
        pattern = sg_buf_detach(&b, NULL);
    }
    sg_val p[] = {SG_VTEXT(pattern), SG_VTEXT(l->state)};
    int rc = sg_conn_query(c,
                           "SELECT a.id, a.name, a.type, c.name, a.owners, a.description, a.state "
                           "FROM assets a JOIN connections c ON c.id = a.connection_id "
                           "WHERE (CAST(?1 AS TEXT) IS NULL OR LOWER(a.name) LIKE LOWER(?1) "
                           "ESCAPE '\\') AND (CAST(?2 AS TEXT) IS NULL OR a.state = ?2) "
                           "ORDER BY a.name LIMIT 1000",
                           p, 2, &r);
    free(pattern);
    if (rc != SG_OK)
        return rc;
    int step;
    while ((step = sg_rows_next(r)) == 1)
        sg_json_append(l->arr,
                       asset_json(sg_rows_text(r, 0), sg_rows_text(r, 1), sg_rows_text(r, 2),
                                  sg_rows_text(r, 3), sg_rows_text(r, 4), sg_rows_text(r, 5),
                                  sg_rows_text(r, 6)));
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

int sg_asset_list(sg_app *app, const char *q, const char *state, sg_json **out)
{
    if (!state || !*state)
        state = "active";
    if (strcmp(state, "active") != 0 && strcmp(state, "gone") != 0 && strcmp(state, "all") != 0)
        return sg_err_set(SG_EINVAL, "state must be active (the default), gone or all");
    list_ctx l = {q && *q ? q : NULL, strcmp(state, "all") == 0 ? NULL : state, sg_json_array()};
    int rc = sg_store_read(app->store, list_asset_tx, &l);
    if (rc != SG_OK) {
        sg_json_decref(l.arr);
        return rc;
    }
    *out = l.arr;
    return SG_OK;
}
