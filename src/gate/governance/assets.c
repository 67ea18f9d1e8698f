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
    if (x->default_owner) {
        int64_t n = 0;
        sg_val u[] = {SG_VTEXT(x->default_owner)};
        int rc = sg_conn_query_int(c, "SELECT COUNT(*) FROM users WHERE name = ?1", u, 1, &n);
        if (rc != SG_OK)
            return rc;
        if (n == 0)
            return sg_err_set(SG_EINVAL, "\"default_owner\": '%s' is not a snowgate user",
                              x->default_owner);
    }
    sg_val v[] = {SG_VTEXT(x->id),
                  SG_VTEXT(x->name),
                  SG_VTEXT(x->kind),
                  SG_VTEXT(x->config),
                  SG_VTEXT(x->secret),
                  SG_VTEXT(now),
                  SG_VINT(x->discovery_interval)};
    int rc = sg_conn_exec(c,
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
