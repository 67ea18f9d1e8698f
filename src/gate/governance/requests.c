/* requests: access requests, their state machine, the inbox and decisions. */
#include "gate/governance/privileges.h"
#include "gate/governance/requests.h"
#include "gate/limits.h"

#include "core/log.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/str.h"
#include "gate/connectors/connectors.h"
#include "gate/governance/audit.h"
#include "gate/governance/fulfilment.h"
#include "gate/servicenow/integration.h"
#include "gate/servicenow/mirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* approved -> fulfilling is fulfilment's claim: from then on the connector may have run, so
 * the request can no longer be cancelled (only failed or fulfilled). approved -> fulfilled
 * directly is a person marking a manual request done. */
static const struct {
    const char *from, *to;
} moves[] = {
    {"pending", "approved"},   {"pending", "rejected"},    {"pending", "cancelled"},
    {"pending", "failed"},     {"approved", "fulfilling"}, {"approved", "fulfilled"},
    {"approved", "cancelled"}, {"approved", "failed"},     {"fulfilling", "fulfilled"},
    {"fulfilling", "failed"},  {"fulfilled", "expired"},   {"fulfilled", "revoked"},
};

const char *const sg_request_states[SG_REQUEST_NSTATES] = {"pending",   "approved",  "fulfilling",
                                                           "fulfilled", "expired",   "revoked",
                                                           "rejected",  "cancelled", "failed"};

bool sg_request_can_move(const char *from, const char *to)
{
    for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
        if (strcmp(moves[i].from, from) == 0 && strcmp(moves[i].to, to) == 0)
            return true;
    return false;
}

bool sg_request_state_valid(const char *s)
{
    for (size_t i = 0; s && i < SG_REQUEST_NSTATES; i++)
        if (strcmp(sg_request_states[i], s) == 0)
            return true;
    return false;
}

/* The columns every reader selects, in this order (see request_json). */
#define REQ_COLS                                                                                   \
    "r.id, r.state, r.action, r.privilege, a.name, r.justification, r.duration, r.requester, "     \
    "r.beneficiary, r.decided_by, r.decision_comment, r.decided_at, r.reason, r.expires_at, "      \
    "r.sn_sys_id, r.sn_number, r.created_at, r.updated_at, a.owners, r.granted_account"
#define REQ_FROM " FROM requests r JOIN assets a ON a.id = r.asset_id "
enum {
    C_ID,
    C_STATE,
    C_ACTION,
    C_PRIV,
    C_ASSET,
    C_JUST,
    C_DUR,
    C_REQUESTER,
    C_FOR,
    C_DECIDER,
    C_COMMENT,
    C_DECIDED_AT,
    C_REASON,
    C_EXPIRES,
    C_SN_SYS_ID,
    C_SN_NUMBER,
    C_CREATED,
    C_UPDATED,
    C_OWNERS,
    C_GRANTED_ACCOUNT
};

static bool is_owner(const char *owners, const char *name)
{
    sg_json *o = NULL;
    bool found = false;
    if (owners && sg_json_parse(owners, strlen(owners), 0, 0, &o) == SG_OK)
        for (size_t i = 0; !found && i < sg_json_array_size(o); i++) {
            const char *s = sg_json_str(sg_json_array_get(o, i));
            found = s && strcmp(s, name) == 0;
        }
    sg_json_decref(o);
    return found;
}

bool sg_request_may_decide(const sg_user *u, const char *owners)
{
    return u->role == SG_ROLE_ADMIN || u->role == SG_ROLE_STEWARD || is_owner(owners, u->name);
}

static bool may_see(const sg_user *u, const sg_rows *r)
{
    return strcmp(sg_rows_text(r, C_REQUESTER), u->name) == 0 ||
           strcmp(sg_rows_text(r, C_FOR), u->name) == 0 ||
           sg_request_may_decide(u, sg_rows_text(r, C_OWNERS));
}

static void set_opt(sg_json *o, const char *key, const sg_rows *r, int col)
{
    if (sg_rows_null(r, col))
        sg_json_set(o, key, sg_json_null());
    else
        sg_json_set_str(o, key, sg_rows_text(r, col));
}

sg_json *sg_request_privileges(const char *privilege)
{
    return sg_privs_json(sg_privs_of_level(privilege));
}

static sg_json *request_json(const sg_rows *r, const char *sn_base)
{
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "id", sg_rows_text(r, C_ID));
    sg_json_set_str(o, "state", sg_rows_text(r, C_STATE));
    sg_json_set_str(o, "action", sg_rows_text(r, C_ACTION));
    sg_json_set_str(o, "privilege", sg_rows_text(r, C_PRIV));
    sg_json_set(o, "privileges", sg_request_privileges(sg_rows_text(r, C_PRIV)));
    sg_json_set_str(o, "asset", sg_rows_text(r, C_ASSET));
    sg_json_set_str(o, "justification", sg_rows_text(r, C_JUST));
    set_opt(o, "duration", r, C_DUR);
    sg_json_set_str(o, "requester", sg_rows_text(r, C_REQUESTER));
    sg_json_set_str(o, "for", sg_rows_text(r, C_FOR));
    set_opt(o, "decided_by", r, C_DECIDER);
    set_opt(o, "decision_comment", r, C_COMMENT);
    set_opt(o, "decided_at", r, C_DECIDED_AT);
    set_opt(o, "reason", r, C_REASON);
    set_opt(o, "expires_at", r, C_EXPIRES);
    set_opt(o, "granted_account", r, C_GRANTED_ACCOUNT);
    sg_json_set_str(o, "created_at", sg_rows_text(r, C_CREATED));
    sg_json_set_str(o, "updated_at", sg_rows_text(r, C_UPDATED));
    const char *state = sg_rows_text(r, C_STATE);
    if (strcmp(sg_rows_text(r, C_ACTION), "grant") == 0 && strcmp(state, "fulfilled") == 0) {
        sg_json *g = sg_json_object();
        sg_json_set_str(g, "asset", sg_rows_text(r, C_ASSET));
        sg_json_set_str(g, "for", sg_rows_text(r, C_FOR));
        sg_json_set(g, "privileges", sg_request_privileges(sg_rows_text(r, C_PRIV)));
        set_opt(g, "expires_at", r, C_EXPIRES);
        sg_json_set(o, "grant", g);
    } else {
        sg_json_set(o, "grant", sg_json_null());
    }
    if (sg_rows_null(r, C_SN_SYS_ID)) {
        sg_json_set(o, "servicenow", sg_json_null());
    } else {
        sg_json *sn = sg_json_object();
        sg_json_set_str(sn, "sys_id", sg_rows_text(r, C_SN_SYS_ID));
        set_opt(sn, "number", r, C_SN_NUMBER);
        if (sn_base && *sn_base) {
            char url[400];
            snprintf(url, sizeof(url), "%s/sc_request.do?sys_id=%s", sn_base,
                     sg_rows_text(r, C_SN_SYS_ID));
            sg_json_set_str(sn, "url", url);
        }
        sg_json_set(o, "servicenow", sn);
    }
    return o;
}

/* Appends to the request's history; *seq_out (may be NULL) gets the entry's number. */
static int history_add(sg_conn *c, const char *id, const char *actor, const char *origin,
                       const char *event, const char *from, const char *to, const char *note,
                       int64_t *seq_out)
{
    int64_t seq = 0;
    sg_val k[] = {SG_VTEXT(id)};
    int rc = sg_conn_query_int(
        c, "SELECT COALESCE(MAX(seq), 0) + 1 FROM request_history WHERE request_id = ?1", k, 1,
        &seq);
    if (rc != SG_OK)
        return rc;
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(id),    SG_VINT(seq),   SG_VTEXT(now), SG_VTEXT(actor),
                  SG_VTEXT(event), SG_VTEXT(from), SG_VTEXT(to),  SG_VTEXT(note ? note : ""),
                  SG_VTEXT(origin)};
    rc = sg_conn_exec(c,
                      "INSERT INTO request_history (request_id, seq, at, actor, event, "
                      "from_state, to_state, note, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
                      "?8, ?9)",
                      v, 9, NULL);
    if (rc == SG_OK && seq_out)
        *seq_out = seq;
    return rc;
}

/* Audit detail: {"from","to","note"} as JSON text (owned by the caller). */
static char *move_detail(const char *from, const char *to, const char *note)
{
    sg_json *d = sg_json_object();
    if (from)
        sg_json_set_str(d, "from", from);
    sg_json_set_str(d, "to", to);
    if (note && *note)
        sg_json_set_str(d, "note", note);
    char *s = sg_json_dump(d);
    sg_json_decref(d);
    return s;
}

static int state_of(sg_conn *c, const char *id, char out[16])
{
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(id)};
    int rc = sg_conn_query(c, "SELECT state FROM requests WHERE id = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    rc = sg_rows_next(r) == 1 ? SG_OK : sg_err_set(SG_ENOTFOUND, "request %s not found", id);
    if (rc == SG_OK)
        sg_strlcpy(out, sg_rows_text(r, 0), 16);
    sg_rows_free(r);
    return rc;
}

int sg_request_move(sg_conn *c, const char *id, const char *to, const char *actor,
                    const char *origin, const char *note)
{
    char from[16];
    int rc = state_of(c, id, from);
    if (rc != SG_OK)
        return rc;
    if (!sg_request_can_move(from, to))
        return sg_err_set(SG_ECONFLICT, "request %s is %s and cannot become %s", id, from, to);
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(to), SG_VTEXT(now), SG_VTEXT(id), SG_VTEXT(from)};
    int64_t changed = 0, seq = 0;
    rc = sg_conn_exec(c,
                      "UPDATE requests SET state = ?1, updated_at = ?2 WHERE id = ?3 AND "
                      "state = ?4",
                      v, 4, &changed);
    if (rc == SG_OK && changed != 1)
        rc = sg_err_set(SG_ECONFLICT, "request %s changed meanwhile; try again", id);
    if (rc == SG_OK)
        rc = history_add(c, id, actor, origin, "transition", from, to, note, &seq);
    if (rc == SG_OK)
        sg_log_info("request state change", "request", id, "from", from, "to", to, "by", actor);
    if (rc == SG_OK)
        rc = sg_mirror_update_enqueue(c, id, seq, origin);
    if (rc != SG_OK)
        return rc;
    char action[32];
    snprintf(action, sizeof(action), "request.%s", to);
    char *detail = move_detail(from, to, note);
    rc = sg_audit_append(c, actor, action, id, detail);
    free(detail);
    return rc;
}

/* ---- create ------------------------------------------------------------------------------ */

typedef struct create_ctx {
    const sg_user *caller;
    const char *id, *asset, *action, *privilege, *justification, *duration, *beneficiary;
    int64_t duration_s;
} create_ctx;

/* The asset's id, its connector (*conn) and its connection's name (conn_name). */
static int check_asset(sg_conn *c, create_ctx *x, char asset_id[33], const sg_connector **conn_out,
                       char conn_name[SG_MAX_CONNECTION_NAME + 1])
{
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(x->asset)};
    int rc = sg_conn_query(c,
                           "SELECT a.id, a.type, c.kind, c.name, c.id, a.state FROM assets a JOIN "
                           "connections c ON c.id = a.connection_id WHERE a.name = ?1",
                           k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) != 1) {
        sg_rows_free(r);
        return sg_err_set(SG_EINVAL,
                          "asset '%s' is not governed by snowgate; find its name with GET "
                          "/api/v1/assets?q=",
                          x->asset);
    }
    sg_strlcpy(asset_id, sg_rows_text(r, 0), 33);
    const char *type = sg_rows_text(r, 1), *kind = sg_rows_text(r, 2);
    const sg_connector *conn = sg_connector_find(kind);
    sg_connection_ref ref = {sg_rows_text(r, 4), sg_rows_text(r, 3), kind, "", ""};
    if (strcmp(sg_rows_text(r, 5), "active") != 0 && strcmp(x->action, "grant") == 0)
        rc = sg_err_set(SG_ECONFLICT,
                        "asset '%s' is gone from its data source (discovery of connection '%s' "
                        "no longer finds it); nothing can be granted on it",
                        x->asset, ref.name);
    else if (!conn)
        rc = sg_err_set(SG_EINTERNAL,
                        "connection '%s' is of kind '%s', which snowgate does not "
                        "know",
                        ref.name, kind);
    else if (conn->check_request)
        rc = conn->check_request(&ref, x->asset, type, x->privilege);
    *conn_out = conn;
    sg_strlcpy(conn_name, ref.name, SG_MAX_CONNECTION_NAME + 1);
    sg_rows_free(r);
    return rc;
}

static int create_tx(sg_conn *c, void *ctx)
{
    create_ctx *x = ctx;
    char asset_id[33], conn_name[SG_MAX_CONNECTION_NAME + 1] = "";
    const sg_connector *conn = NULL;
    int rc = check_asset(c, x, asset_id, &conn, conn_name);
    bool needs_db_role = conn && conn->needs_db_role;
    if (rc != SG_OK)
        return rc;
    sg_rows *r = NULL;
    /* A revoke of grants applied to recorded accounts takes them back from there: the person's
     * role now (none, after offboarding; or one the connector refuses) does not stop it, and
     * fulfilment skips it with a note. */
    if (needs_db_role && strcmp(x->action, "revoke") == 0) {
        int64_t n = 0;
        sg_val g[] = {SG_VTEXT(asset_id), SG_VTEXT(x->beneficiary)};
        rc = sg_conn_query_int(c,
                               "SELECT COUNT(*) FROM requests WHERE asset_id = ?1 AND "
                               "beneficiary = ?2 AND action = 'grant' AND state = 'fulfilled' "
                               "AND granted_account IS NOT NULL AND granted_account <> ''",
                               g, 2, &n);
        if (rc != SG_OK)
            return rc;
        if (n > 0)
            needs_db_role = false;
    }
    sg_val u[] = {SG_VTEXT(x->beneficiary)};
    rc = sg_conn_query(c, "SELECT db_role FROM users WHERE name = ?1", u, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) != 1)
        rc = sg_err_set(SG_EINVAL, "\"for\": '%s' is not a snowgate user", x->beneficiary);
    else if (needs_db_role && (sg_rows_null(r, 0) || !*sg_rows_text(r, 0)))
        rc = sg_err_set(SG_EINVAL,
                        "%s has no database role, so there is nothing to grant %s to; an admin "
                        "sets it with `snowgate user set %s --db-role ROLE`",
                        x->beneficiary, x->asset, x->beneficiary);
    else if (needs_db_role && conn->check_account &&
             conn->check_account(sg_rows_text(r, 0)) != SG_OK) {
        char why[400];
        sg_strlcpy(why, sg_err_msg(), sizeof(why));
        rc = sg_err_set(SG_EINVAL,
                        "%s's database role cannot receive grants on the %s connection '%s': %s; "
                        "an admin gives %s an account of their own with `snowgate user set %s "
                        "--db-role ROLE`",
                        x->beneficiary, conn->kind, conn_name, why, x->beneficiary, x->beneficiary);
    }
    sg_rows_free(r);
    if (rc != SG_OK)
        return rc;
    /* One open request per person, asset and access: a second one would only confuse. */
    sg_val d[] = {SG_VTEXT(asset_id), SG_VTEXT(x->beneficiary), SG_VTEXT(x->action),
                  SG_VTEXT(x->privilege)};
    rc = sg_conn_query(c,
                       "SELECT id, state FROM requests WHERE asset_id = ?1 AND beneficiary = ?2 "
                       "AND action = ?3 AND privilege = ?4 AND state IN ('pending', 'approved', "
                       "'fulfilling')",
                       d, 4, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1)
        rc = sg_err_set(SG_ECONFLICT,
                        "request %s for the same access is already %s; cancel it "
                        "first or wait for its decision",
                        sg_rows_text(r, 0), sg_rows_text(r, 1));
    sg_rows_free(r);
    if (rc != SG_OK)
        return rc;
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(x->id),
                  SG_VTEXT(asset_id),
                  SG_VTEXT(x->action),
                  SG_VTEXT(x->privilege),
                  SG_VTEXT(x->justification),
                  SG_VTEXT(x->duration),
                  x->duration ? SG_VINT(x->duration_s) : SG_VNULL,
                  SG_VTEXT(x->caller->name),
                  SG_VTEXT(x->beneficiary),
                  SG_VTEXT(now)};
    rc =
        sg_conn_exec(c,
                     "INSERT INTO requests (id, asset_id, action, privilege, justification, "
                     "duration, duration_s, requester, beneficiary, state, created_at, "
                     "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', ?10, ?10)",
                     v, 10, NULL);
    if (rc == SG_ECONFLICT) /* the unique index (0011): one that raced this one won */
        return sg_err_set(SG_ECONFLICT,
                          "a request for the same access is already pending or approved; cancel "
                          "it first or wait for its decision");
    if (rc == SG_OK)
        rc = history_add(c, x->id, x->caller->name, SG_ORIGIN_SNOWGATE, "transition", NULL,
                         "pending", x->justification, NULL);
    if (rc != SG_OK)
        return rc;
    sg_json *det = sg_json_object();
    sg_json_set_str(det, "asset", x->asset);
    sg_json_set_str(det, "action", x->action);
    sg_json_set_str(det, "privilege", x->privilege);
    sg_json_set_str(det, "for", x->beneficiary);
    if (x->duration)
        sg_json_set_str(det, "duration", x->duration);
    char *detail = sg_json_dump(det);
    sg_json_decref(det);
    rc = sg_audit_append(c, x->caller->name, "request.created", x->id, detail);
    free(detail);
    return rc == SG_OK ? sg_mirror_enqueue(c, x->id) : rc;
}

static bool one_of(const char *s, const char *a, const char *b)
{
    return s && (strcmp(s, a) == 0 || strcmp(s, b) == 0);
}

int sg_request_create(sg_app *app, const sg_user *caller, const sg_json *in, sg_json **out)
{
    *out = NULL;
    create_ctx x = {.caller = caller};
    x.asset = sg_json_get_str(in, "asset");
    x.action = sg_json_get_str(in, "action");
    x.privilege = sg_json_get_str(in, "privilege");
    x.justification = sg_json_get_str(in, "justification");
    x.duration = sg_json_get_str(in, "duration");
    x.beneficiary = sg_json_get_str(in, "for");
    if (!x.asset || !*x.asset)
        return sg_err_set(SG_EINVAL, "\"asset\" is required: the asset's name, e.g. "
                                     "analytics.public.orders");
    if (strlen(x.asset) > 255)
        return sg_err_set(SG_EINVAL, "\"asset\" is longer than 255 bytes");
    if (!x.action)
        x.action = "grant";
    if (!one_of(x.action, "grant", "revoke"))
        return sg_err_set(SG_EINVAL, "\"action\" must be grant or revoke");
    if (!sg_privs_level_known(x.privilege))
        return sg_err_set(SG_EINVAL, "\"privilege\" must be read (SELECT) or write (SELECT, "
                                     "INSERT, UPDATE, DELETE)");
    size_t jl = x.justification ? strlen(x.justification) : 0;
    if (jl == 0 || jl > 4000)
        return sg_err_set(SG_EINVAL, "\"justification\" is required (up to 4000 bytes): say why "
                                     "you need the access");
    if (sg_json_get(in, "duration") && !x.duration)
        return sg_err_set(SG_EINVAL, "\"duration\" must be a string such as \"PT8H\"");
    if (x.duration) {
        if (strcmp(x.action, "grant") != 0)
            return sg_err_set(SG_EINVAL, "\"duration\" applies to grants only");
        int rc = sg_parse_iso_duration(x.duration, SG_REQUEST_MAX_DURATION, &x.duration_s);
        if (rc != SG_OK)
            return rc;
    }
    if (sg_json_get(in, "for") && (!x.beneficiary || !*x.beneficiary))
        return sg_err_set(SG_EINVAL, "\"for\" must be a snowgate user name");
    if (!x.beneficiary)
        x.beneficiary = caller->name;
    char id[33];
    sg_random_hex(id, 16);
    x.id = id;
    sg_log_set_context(id, NULL); /* this HTTP request's lines now name it */
    int rc = sg_store_tx(app->store, create_tx, &x);
    if (rc == SG_OK)
        sg_log_info("request created", "requester", caller->name, "asset", x.asset, "action",
                    x.action ? x.action : "grant", "privilege", sg_json_get_str(in, "privilege"));
    if (rc != SG_OK)
        return rc;
    return sg_request_get(app, caller, id, out);
}

/* ---- read -------------------------------------------------------------------------------- */

typedef struct get_ctx {
    const sg_user *caller;
    const char *id;
    sg_json *out;
    char sn_base[256];
} get_ctx;

/* The instance URL for links to ServiceNow records, or "". */
static void sn_base_of(sg_app *app, char out[256])
{
    sg_integration in;
    out[0] = '\0';
    if (sg_integration_get(app, &in) == SG_OK && in.configured)
        sg_strlcpy(out, in.instance_url, 256);
}

static int history_json(sg_conn *c, const char *id, sg_json **out)
{
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(id)};
    int rc = sg_conn_query(c,
                           "SELECT seq, at, actor, event, from_state, to_state, note, origin FROM "
                           "request_history WHERE request_id = ?1 ORDER BY seq",
                           k, 1, &r);
    if (rc != SG_OK)
        return rc;
    sg_json *a = sg_json_array();
    int step;
    while ((step = sg_rows_next(r)) == 1) {
        sg_json *h = sg_json_object();
        sg_json_set_int(h, "seq", sg_rows_int(r, 0));
        sg_json_set_str(h, "at", sg_rows_text(r, 1));
        sg_json_set_str(h, "actor", sg_rows_text(r, 2));
        sg_json_set_str(h, "event", sg_rows_text(r, 3));
        set_opt(h, "from", r, 4);
        sg_json_set_str(h, "to", sg_rows_text(r, 5));
        sg_json_set_str(h, "note", sg_rows_text(r, 6));
        sg_json_set_str(h, "origin", sg_rows_text(r, 7));
        sg_json_append(a, h);
    }
    sg_rows_free(r);
    if (step < 0) {
        sg_json_decref(a);
        return step;
    }
    *out = a;
    return SG_OK;
}

static int get_tx(sg_conn *c, void *ctx)
{
    get_ctx *g = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(g->id)};
    int rc = sg_conn_query(c, "SELECT " REQ_COLS REQ_FROM "WHERE r.id = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) != 1 || !may_see(g->caller, r)) {
        sg_rows_free(r);
        return sg_err_set(SG_ENOTFOUND, "request %s not found", g->id);
    }
    g->out = request_json(r, g->sn_base);
    sg_rows_free(r);
    sg_json *h = NULL;
    rc = history_json(c, g->id, &h);
    if (rc == SG_OK)
        sg_json_set(g->out, "history", h);
    return rc;
}

int sg_request_get(sg_app *app, const sg_user *caller, const char *id, sg_json **out)
{
    *out = NULL;
    get_ctx g = {caller, id, NULL, ""};
    sn_base_of(app, g.sn_base);
    int rc = sg_store_read(app->store, get_tx, &g);
    if (rc != SG_OK) {
        sg_json_decref(g.out);
        return rc;
    }
    *out = g.out;
    return SG_OK;
}

typedef enum list_kind { LIST_ALL, LIST_INBOX, LIST_GRANTS } list_kind;

int sg_page_parse(const char *limit, const char *after, sg_page *out)
{
    memset(out, 0, sizeof(*out));
    out->limit = SG_PAGE_DEFAULT;
    int64_t n = 0;
    if (limit && *limit) {
        if (sg_parse_i64(limit, 1, SG_PAGE_MAX, "limit", &n) != SG_OK)
            return sg_err_set(SG_EINVAL, "limit must be a number from 1 to %d", SG_PAGE_MAX);
        out->limit = (int)n;
    }
    if (after && *after) {
        /* "<created_at>~<id>", as the previous page's "next" gave it. */
        const char *tilde = strchr(after, '~');
        size_t tl = tilde ? (size_t)(tilde - after) : 0;
        bool ok = tilde && tl > 0 && tl < sizeof(out->after_at) && strlen(tilde + 1) == 32;
        for (const char *p = tilde ? tilde + 1 : ""; ok && *p; p++)
            ok = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
        for (size_t i = 0; ok && i < tl; i++)
            ok = strchr("0123456789-:.TZ+", after[i]) != NULL;
        if (!ok)
            return sg_err_set(SG_EINVAL, "after must be the \"next\" value of the previous page");
        memcpy(out->after_at, after, tl);
        out->after_at[tl] = '\0';
        memcpy(out->after_id, tilde + 1, 33);
    }
    return SG_OK;
}

typedef struct list_ctx {
    const sg_user *caller;
    const char *state;
    bool mine; /* only those the caller asked for or that are for them */
    list_kind kind;
    sg_page *page;
    sg_json *arr;
    char sn_base[256];
} list_ctx;

static int list_tx(sg_conn *c, void *ctx)
{
    list_ctx *l = ctx;
    sg_page *pg = l->page;
    sg_rows *r = NULL;
    /* Newest first, by (created_at, id): a page resumes strictly after the previous one's
     * last row, so rows arriving meanwhile neither repeat nor vanish. An unused parameter
     * is cast, so PostgreSQL knows its type. */
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT " REQ_COLS REQ_FROM "WHERE %s %s %s "
             "ORDER BY r.created_at DESC, r.id DESC",
             l->state ? "r.state = ?1" : "CAST(?1 AS TEXT) IS NULL",
             pg->after_at[0] ? "AND (r.created_at < ?2 OR (r.created_at = ?2 AND r.id < ?3))"
                             : "AND CAST(?2 AS TEXT) IS NULL AND CAST(?3 AS TEXT) IS NULL",
             l->mine ? "AND (r.requester = ?4 OR r.beneficiary = ?4)"
                     : "AND CAST(?4 AS TEXT) IS NULL");
    sg_val k[] = {SG_VTEXT(l->state), SG_VTEXT(pg->after_at[0] ? pg->after_at : NULL),
                  SG_VTEXT(pg->after_at[0] ? pg->after_id : NULL),
                  SG_VTEXT(l->mine ? l->caller->name : NULL)};
    int rc = sg_conn_query(c, sql, k, 4, &r);
    if (rc != SG_OK)
        return rc;
    int step;
    bool all = l->caller->role != SG_ROLE_MEMBER;
    char last_at[40] = "", last_id[33] = "";
    while ((step = sg_rows_next(r)) == 1) {
        bool mine = strcmp(sg_rows_text(r, C_REQUESTER), l->caller->name) == 0 ||
                    strcmp(sg_rows_text(r, C_FOR), l->caller->name) == 0;
        bool keep = l->kind == LIST_INBOX
                        ? !mine && sg_request_may_decide(l->caller, sg_rows_text(r, C_OWNERS))
                    : l->kind == LIST_GRANTS ? all || mine
                                             : may_see(l->caller, r);
        if (l->kind == LIST_GRANTS && strcmp(sg_rows_text(r, C_ACTION), "grant") != 0)
            keep = false;
        if (!keep)
            continue;
        if ((int)sg_json_array_size(l->arr) == pg->limit) {
            /* One more exists: the page has a successor. */
            snprintf(pg->next, sizeof(pg->next), "%s~%s", last_at, last_id);
            break;
        }
        sg_json_append(l->arr, request_json(r, l->sn_base));
        snprintf(last_at, sizeof(last_at), "%s", sg_rows_text(r, C_CREATED));
        snprintf(last_id, sizeof(last_id), "%s", sg_rows_text(r, C_ID));
    }
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

static int list(sg_app *app, const sg_user *caller, const char *state, bool mine, list_kind kind,
                sg_page *page, sg_json **out)
{
    *out = NULL;
    page->next[0] = '\0';
    list_ctx l = {caller, state, mine, kind, page, sg_json_array(), ""};
    sn_base_of(app, l.sn_base);
    int rc = sg_store_read(app->store, list_tx, &l);
    if (rc != SG_OK) {
        sg_json_decref(l.arr);
        return rc;
    }
    *out = l.arr;
    return SG_OK;
}

int sg_request_list(sg_app *app, const sg_user *caller, const char *state, bool mine, sg_page *page,
                    sg_json **out)
{
    if (state && !sg_request_state_valid(state)) {
        char known[160] = "";
        for (size_t i = 0; i < SG_REQUEST_NSTATES; i++) {
            if (i)
                sg_strlcat(known, i + 1 == SG_REQUEST_NSTATES ? " or " : ", ", sizeof(known));
            sg_strlcat(known, sg_request_states[i], sizeof(known));
        }
        return sg_err_set(SG_EINVAL, "state '%s' is unknown; use %s", state, known);
    }
    return list(app, caller, state, mine, LIST_ALL, page, out);
}

int sg_request_inbox(sg_app *app, const sg_user *caller, sg_page *page, sg_json **out)
{
    return list(app, caller, "pending", false, LIST_INBOX, page, out);
}

int sg_request_grants(sg_app *app, const sg_user *caller, sg_page *page, sg_json **out)
{
    return list(app, caller, "fulfilled", false, LIST_GRANTS, page, out);
}

int sg_request_count(sg_conn *c, sg_request_counts *out)
{
    memset(out, 0, sizeof(*out));
    sg_rows *r = NULL;
    int rc =
        sg_conn_query(c, "SELECT state, linked, n FROM request_counts WHERE n > 0", NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    int step;
    while ((step = sg_rows_next(r)) == 1) {
        int64_t n = sg_rows_int(r, 2);
        for (size_t i = 0; i < SG_REQUEST_NSTATES; i++)
            if (strcmp(sg_rows_text(r, 0), sg_request_states[i]) == 0)
                out->by_state[i] += n;
        out->total += n;
        if (sg_rows_int(r, 1))
            out->linked += n;
    }
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

static int summary_tx(sg_conn *c, void *ctx)
{
    return sg_request_count(c, ctx);
}

int sg_request_summary(sg_app *app, const sg_user *caller, sg_json **out)
{
    *out = NULL;
    if (caller->role == SG_ROLE_MEMBER)
        return sg_err_set(SG_EFORBIDDEN, "the request counts are for stewards and admins");
    sg_request_counts n;
    int rc = sg_store_read(app->store, summary_tx, &n);
    if (rc != SG_OK)
        return rc;
    sg_json *by_state = sg_json_object();
    for (size_t i = 0; i < SG_REQUEST_NSTATES; i++)
        sg_json_set_int(by_state, sg_request_states[i], n.by_state[i]);
    sg_json *o = sg_json_object();
    sg_json_set_int(o, "total", n.total);
    sg_json_set_int(o, "linked_to_servicenow", n.linked);
    sg_json_set(o, "by_state", by_state);
    *out = o;
    return SG_OK;
}

/* ---- decisions --------------------------------------------------------------------------- */

typedef struct decide_ctx {
    const sg_user *caller; /* NULL for a decision from ServiceNow */
    const char *id, *comment;
    bool approve, cancel;
    const char *origin;
    const sg_sn_decision *sn; /* the ServiceNow decision, when caller is NULL */
    /* out: why the decision was not applied */
    bool conflict, repeated;
    const char *refused; /* why a decision from ServiceNow was refused */
    char state[16];
    char decided_by[128];
} decide_ctx;

/* The decision a state stands for: approved once approved, whatever happened after. */
static const char *standing(const char *state)
{
    if (strcmp(state, "rejected") == 0 || strcmp(state, "cancelled") == 0)
        return state;
    if (strcmp(state, "pending") == 0)
        return NULL;
    return "approved";
}

#define SN_SELF_APPROVAL                                                                           \
    "self-approval in ServiceNow refused: the approver is the requester or the person the "        \
    "access is for (by linked account, or by email when not linked)"
#define SN_NO_APPROVER "decision in ServiceNow refused: ServiceNow did not name the approver"
#define SN_NOT_A_USER                                                                              \
    "decision in ServiceNow refused: the approver is no snowgate user (matched by the ServiceNow " \
    "account linked to them, or by email for one who is not linked); an owner of the asset, a "    \
    "steward or an admin decides it in snowgate"
#define SN_AMBIGUOUS                                                                               \
    "decision in ServiceNow refused: the approver's ServiceNow account maps to more than one "     \
    "snowgate user (by link, or by email); they link their account, or the request is decided "    \
    "in snowgate"
#define SN_DISABLED "decision in ServiceNow refused: the approver's snowgate account is disabled"
#define SN_NOT_A_DECIDER                                                                           \
    "decision in ServiceNow refused: the approver is not an owner of the asset, a steward or an "  \
    "admin in snowgate"

const char *sg_request_sn_refusal(const sg_sn_match *m, size_t n, const char *requester,
                                  const char *beneficiary, const char *owners)
{
    /* Every match counts here, linked or not, enabled or not: the approver is the requester
     * or the beneficiary whichever way their account maps to them. */
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, requester) == 0 || strcmp(m[i].name, beneficiary) == 0)
            return SN_SELF_APPROVAL;
    /* A link (made through OAuth by the user themselves) says more than an email. */
    const sg_sn_match *who = NULL;
    size_t found = 0;
    for (int pass = 0; pass < 2 && found == 0; pass++)
        for (size_t i = 0; i < n; i++)
            if (m[i].linked == (pass == 0)) {
                who = &m[i];
                found++;
            }
    if (found == 0)
        return SN_NOT_A_USER;
    if (found > 1)
        return SN_AMBIGUOUS;
    if (who->disabled)
        return SN_DISABLED;
    sg_user u = {.role = who->role};
    sg_strlcpy(u.name, who->name, sizeof(u.name));
    return sg_request_may_decide(&u, owners) ? NULL : SN_NOT_A_DECIDER;
}

/* More users than this mapping to one ServiceNow account is a refusal either way. */
#define SN_MATCHES_MAX 8
#define SN_STR_(x)     #x
#define SN_STR(x)      SN_STR_(x)

/* What applies to a decision from ServiceNow (no snowgate caller): a revoke's cancellation
 * needs the linked snowgate user to be its requester or an admin; an approval or rejection
 * must carry no refusal from the caller, name its approver, and pass sg_request_sn_refusal
 * with the snowgate users that approver maps to. *refused is set to the reason for the
 * latter, which the caller records. */
static int sn_check(sg_conn *c, decide_ctx *x, sg_rows *r, const char **refused)
{
    const sg_sn_decision *d = x->sn;
    if (x->cancel) {
        if (strcmp(sg_rows_text(r, C_ACTION), "revoke") != 0)
            return SG_OK;
        if (!d->as || (strcmp(sg_rows_text(r, C_REQUESTER), d->as->name) != 0 &&
                       d->as->role != SG_ROLE_ADMIN))
            return sg_err_set(SG_EFORBIDDEN, "a revoke is cancelled in ServiceNow only by the "
                                             "linked account of its requester or an admin");
        return SG_OK;
    }
    if (d->refused && *d->refused) {
        *refused = d->refused;
        return SG_OK;
    }
    if (!d->approver_sys_id || !*d->approver_sys_id) {
        *refused = SN_NO_APPROVER;
        return SG_OK;
    }
    const char *email = d->approver_email ? d->approver_email : "";
    sg_val k[] = {SG_VTEXT(d->approver_sys_id), SG_VTEXT(email),
                  SG_VTEXT(sg_rows_text(r, C_REQUESTER)), SG_VTEXT(sg_rows_text(r, C_FOR))};
    sg_rows *m = NULL;
    /* The requester and the beneficiary first, then linked users: a cut list still decides
     * as the whole would (sg_request_sn_refusal). */
    int rc = sg_conn_query(
        c,
        "SELECT u.name, u.role, CASE WHEN l.user_id IS NULL THEN 0 ELSE 1 END, CASE WHEN "
        "u.disabled_at IS NULL THEN 0 ELSE 1 END FROM users u LEFT JOIN account_links l ON "
        "l.user_id = u.id WHERE l.sn_user_id = ?1 OR (l.user_id IS NULL AND ?2 <> '' AND "
        "LOWER(u.email) = LOWER(?2)) ORDER BY CASE WHEN u.name IN (?3, ?4) THEN 0 ELSE 1 END, "
        "CASE WHEN l.user_id IS NULL THEN 1 ELSE 0 END, u.name LIMIT " SN_STR(SN_MATCHES_MAX),
        k, 4, &m);
    if (rc != SG_OK)
        return rc;
    sg_sn_match found[SN_MATCHES_MAX];
    size_t n = 0;
    int step = 0;
    while (n < SN_MATCHES_MAX && (step = sg_rows_next(m)) == 1) {
        sg_sn_match *f = &found[n];
        memset(f, 0, sizeof(*f));
        sg_strlcpy(f->name, sg_rows_text(m, 0), sizeof(f->name));
        /* An unknown role decides nothing: member is the least. */
        if (sg_role_parse(sg_rows_text(m, 1), &f->role) != SG_OK)
            f->role = SG_ROLE_MEMBER;
        f->linked = sg_rows_int(m, 2) != 0;
        f->disabled = sg_rows_int(m, 3) != 0;
        n++;
    }
    sg_rows_free(m);
    if (step < 0)
        return step;
    *refused = sg_request_sn_refusal(found, n, sg_rows_text(r, C_REQUESTER), sg_rows_text(r, C_FOR),
                                     sg_rows_text(r, C_OWNERS));
    return SG_OK;
}

static int decide_tx(sg_conn *c, void *ctx)
{
    decide_ctx *x = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(x->id)};
    int rc = sg_conn_query(c, "SELECT " REQ_COLS REQ_FROM "WHERE r.id = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) != 1 || (x->caller && !may_see(x->caller, r))) {
        sg_rows_free(r);
        return sg_err_set(SG_ENOTFOUND, "request %s not found", x->id);
    }
    /* From ServiceNow: named after the ServiceNow user, or after the linked snowgate user
     * who cancelled a revoke. */
    const char *name = x->caller ? x->caller->name : x->sn->as ? x->sn->as->name : x->sn->actor;
    bool requester = strcmp(sg_rows_text(r, C_REQUESTER), name) == 0;
    bool own = requester || strcmp(sg_rows_text(r, C_FOR), name) == 0;
    bool revoke = strcmp(sg_rows_text(r, C_ACTION), "revoke") == 0;
    const char *refused = NULL;
    if (!x->caller) {
        rc = sn_check(c, x, r, &refused);
    } else if (x->cancel) {
        /* Withdrawing a grant only costs its beneficiary their own access; withdrawing a
         * revoke would let the person losing the access keep it. */
        if (revoke && !requester && x->caller->role != SG_ROLE_ADMIN)
            rc = sg_err_set(SG_EFORBIDDEN, "only the requester or an admin can cancel a revoke; "
                                           "the person whose access it takes away cannot");
        else if (!own && x->caller->role != SG_ROLE_ADMIN)
            rc = sg_err_set(SG_EFORBIDDEN, "only the requester, the person the access is for, "
                                           "or an admin can cancel a request");
    } else if (own) {
        rc = sg_err_set(SG_EFORBIDDEN, "you cannot decide a request you made or that is for you; "
                                       "another approver must");
    } else if (!sg_request_may_decide(x->caller, sg_rows_text(r, C_OWNERS))) {
        rc = sg_err_set(SG_EFORBIDDEN,
                        "only the owners of %s, stewards and admins decide its "
                        "requests",
                        sg_rows_text(r, C_ASSET));
    }
    sg_strlcpy(x->state, sg_rows_text(r, C_STATE), sizeof(x->state));
    sg_strlcpy(x->decided_by, sg_rows_null(r, C_DECIDER) ? "" : sg_rows_text(r, C_DECIDER),
               sizeof(x->decided_by));
    sg_rows_free(r);
    if (rc != SG_OK)
        return rc;
    const char *to = x->cancel ? "cancelled" : x->approve ? "approved" : "rejected";
    /* A refusal matters only for a decision that would be applied: once the request is
     * decided, ServiceNow's record repeats snowgate's own decision (mirrored there by the
     * service account, with no approver) or conflicts with it, as below. */
    if (refused && strcmp(x->state, "pending") == 0) {
        /* Recorded once: every later re-read of the same record would repeat it. */
        x->refused = refused;
        int64_t n = 0;
        sg_val q[] = {SG_VTEXT(x->id), SG_VTEXT(to), SG_VTEXT(refused)};
        rc = sg_conn_query_int(c,
                               "SELECT COUNT(*) FROM request_history WHERE request_id = ?1 AND "
                               "event = 'conflict' AND to_state = ?2 AND note = ?3",
                               q, 3, &n);
        if (rc == SG_OK && n == 0)
            rc = history_add(c, x->id, name, x->origin, "conflict", x->state, to, refused, NULL);
        if (rc != SG_OK || n > 0)
            return rc;
        char *detail = move_detail(x->state, to, refused);
        rc = sg_audit_append(c, name, "request.decision_refused", x->id, detail);
        free(detail);
        return rc;
    }
    if (x->cancel && strcmp(x->state, "fulfilling") == 0)
        return sg_err_set(SG_ECONFLICT,
                          "request %s is being fulfilled and can no longer be cancelled; once it "
                          "is fulfilled, request a revoke",
                          x->id);
    if (x->cancel && !sg_request_can_move(x->state, to))
        return sg_err_set(SG_ECONFLICT,
                          "request %s is %s; only pending or approved requests can be "
                          "cancelled%s",
                          x->id, x->state,
                          strcmp(x->state, "fulfilled") == 0 ? " (request a revoke instead)" : "");
    if (!x->cancel && strcmp(x->state, "pending") != 0) {
        const char *stands = standing(x->state);
        if (stands && strcmp(stands, to) == 0) {
            x->repeated = true;
            return SG_OK;
        }
        /* A different decision after the first: kept on record, never applied. */
        x->conflict = true;
        rc = history_add(c, x->id, name, x->origin, "conflict", x->state, to, x->comment, NULL);
        if (rc != SG_OK)
            return rc;
        char *detail = move_detail(x->state, to, x->comment);
        rc = sg_audit_append(c, name, "request.decision_conflict", x->id, detail);
        free(detail);
        return rc;
    }
    rc = sg_request_move(c, x->id, to, name, x->origin, x->comment);
    if (rc != SG_OK || x->cancel)
        return rc;
    char now[32];
    sg_now_iso(now);
    sg_val v[] = {SG_VTEXT(name), SG_VTEXT(x->comment ? x->comment : ""), SG_VTEXT(now),
                  SG_VTEXT(x->id)};
    if (x->approve && (rc = sg_fulfil_enqueue(c, x->id)) != SG_OK)
        return rc;
    return sg_conn_exec(c,
                        "UPDATE requests SET decided_by = ?1, decision_comment = ?2, "
                        "decided_at = ?3 WHERE id = ?4",
                        v, 4, NULL);
}

static int decide(sg_app *app, decide_ctx *x, sg_json **out)
{
    *out = NULL;
    if (x->comment && strlen(x->comment) > 4000)
        return sg_err_set(SG_EINVAL, "\"comment\" is longer than 4000 bytes");
    int rc = sg_store_tx(app->store, decide_tx, x);
    if (rc != SG_OK)
        return rc;
    if (x->refused)
        return sg_err_set(SG_EFORBIDDEN, "request %s: %s", x->id, x->refused);
    const char *verb = x->approve ? "approval" : "rejection";
    if (x->repeated)
        return sg_err_set(SG_ECONFLICT, "request %s is already %s%s%s", x->id, x->state,
                          x->decided_by[0] ? " by " : "", x->decided_by);
    if (x->conflict)
        return sg_err_set(SG_ECONFLICT,
                          "request %s is already %s%s%s; the first decision stands, and your "
                          "%s was recorded as a conflict",
                          x->id, x->state, x->decided_by[0] ? " by " : "", x->decided_by, verb);
    if (!x->caller)
        return SG_OK; /* from ServiceNow: nobody to show the request to */
    return sg_request_get(app, x->caller, x->id, out);
}

int sg_request_decide(sg_app *app, const sg_user *caller, const char *id, bool approve,
                      const char *comment, sg_json **out)
{
    decide_ctx x = {.caller = caller,
                    .id = id,
                    .comment = comment,
                    .approve = approve,
                    .origin = SG_ORIGIN_SNOWGATE};
    return decide(app, &x, out);
}

int sg_request_cancel(sg_app *app, const sg_user *caller, const char *id, const char *comment,
                      sg_json **out)
{
    decide_ctx x = {.caller = caller,
                    .id = id,
                    .comment = comment,
                    .cancel = true,
                    .origin = SG_ORIGIN_SNOWGATE};
    return decide(app, &x, out);
}

int sg_request_decide_from_servicenow(sg_app *app, const char *id, const sg_sn_decision *d,
                                      sg_json **out)
{
    decide_ctx x = {.id = id,
                    .comment = d->comment,
                    .approve = strcmp(d->to, "approved") == 0,
                    .cancel = strcmp(d->to, "cancelled") == 0,
                    .origin = SG_ORIGIN_SERVICENOW,
                    .sn = d};
    return decide(app, &x, out);
}

typedef struct comment_ctx {
    const char *id, *to, *actor, *comment;
} comment_ctx;

static int comment_tx(sg_conn *c, void *ctx)
{
    comment_ctx *x = ctx;
    int64_t changed = 0;
    sg_val v[] = {SG_VTEXT(x->id), SG_VTEXT(x->comment), SG_VTEXT(x->actor), SG_VTEXT(x->to)};
    int rc = sg_conn_exec(c,
                          "UPDATE requests SET decision_comment = ?2 WHERE id = ?1 AND "
                          "decided_by = ?3 AND COALESCE(decision_comment, '') = '' AND "
                          "EXISTS (SELECT 1 FROM request_history h WHERE h.request_id = ?1 AND "
                          "h.event = 'transition' AND h.to_state = ?4 AND h.actor = ?3 AND "
                          "h.origin = '" SG_ORIGIN_SERVICENOW "')",
                          v, 4, &changed);
    if (rc != SG_OK || changed == 0)
        return rc;
    rc = sg_conn_exec(c,
                      "UPDATE request_history SET note = ?2 WHERE request_id = ?1 AND note = '' "
                      "AND seq = (SELECT MAX(seq) FROM request_history WHERE request_id = ?1 AND "
                      "event = 'transition' AND to_state = ?4 AND actor = ?3 AND origin = "
                      "'" SG_ORIGIN_SERVICENOW "')",
                      v, 4, NULL);
    if (rc != SG_OK)
        return rc;
    sg_json *d = sg_json_object();
    sg_json_set_str(d, "decision", x->to);
    sg_json_set_str(d, "note", x->comment);
    char *detail = sg_json_dump(d);
    sg_json_decref(d);
    rc = sg_audit_append(c, x->actor, "request.decision_comment", x->id, detail);
    free(detail);
    return rc;
}

int sg_request_comment_from_servicenow(sg_app *app, const char *id, const char *to,
                                       const char *actor, const char *comment)
{
    if (strlen(comment) > 4000)
        return sg_err_set(SG_EINVAL, "the approver's comment is longer than 4000 bytes");
    comment_ctx x = {id, to, actor, comment};
    return sg_store_tx(app->store, comment_tx, &x);
}

typedef struct flag_ctx {
    const char *id, *actor, *origin, *attempted, *note;
    bool once;
} flag_ctx;

static int flag_tx(sg_conn *c, void *ctx)
{
    flag_ctx *f = ctx;
    char from[16];
    int rc = state_of(c, f->id, from);
    if (rc == SG_OK && f->once) {
        int64_t n = 0;
        sg_val k[] = {SG_VTEXT(f->id), SG_VTEXT(f->attempted), SG_VTEXT(f->note)};
        rc = sg_conn_query_int(c,
                               "SELECT COUNT(*) FROM request_history WHERE request_id = ?1 AND "
                               "event = 'conflict' AND to_state = ?2 AND note = ?3",
                               k, 3, &n);
        if (rc != SG_OK || n > 0)
            return rc;
    }
    if (rc == SG_OK)
        rc = history_add(c, f->id, f->actor, f->origin, "conflict", from, f->attempted, f->note,
                         NULL);
    if (rc != SG_OK)
        return rc;
    char *detail = move_detail(from, f->attempted, f->note);
    rc = sg_audit_append(c, f->actor, "request.decision_refused", f->id, detail);
    free(detail);
    return rc;
}

int sg_request_flag(sg_app *app, const char *id, const char *actor, const char *origin,
                    const char *attempted, const char *note)
{
    flag_ctx f = {id, actor, origin, attempted, note, false};
    return sg_store_tx(app->store, flag_tx, &f);
}

int sg_request_flag_once(sg_app *app, const char *id, const char *actor, const char *origin,
                         const char *attempted, const char *note)
{
    flag_ctx f = {id, actor, origin, attempted, note, true};
    return sg_store_tx(app->store, flag_tx, &f);
}
