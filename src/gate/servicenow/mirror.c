/* mirror: creates (or finds) the ServiceNow records of an access request. */
#include "gate/governance/privileges.h"
#include "gate/servicenow/mirror.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/governance/requests.h"
#include "gate/servicenow/client.h"
#include "gate/servicenow/connect.h"
#include "gate/servicenow/updateset.h"
#include "http/client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct sg_mirror_item_cache {
    pthread_mutex_t mu;
    char base[256]; /* the instance; "" when nothing is kept */
    char id[33];
};

sg_mirror_item_cache *sg_mirror_item_cache_new(void)
{
    sg_mirror_item_cache *c = sg_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void sg_mirror_item_cache_free(sg_mirror_item_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void sg_mirror_item_cache_clear(sg_mirror_item_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->base[0] = c->id[0] = '\0';
    pthread_mutex_unlock(&c->mu);
}

static bool item_cached(sg_mirror_item_cache *c, const char *base, char id[33])
{
    bool hit = false;
    if (!c)
        return false;
    pthread_mutex_lock(&c->mu);
    if (c->id[0] && strcmp(c->base, base) == 0) {
        memcpy(id, c->id, 33);
        hit = true;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

static void item_keep(sg_mirror_item_cache *c, const char *base, const char *id)
{
    if (!c || strlen(base) >= sizeof(c->base))
        return;
    pthread_mutex_lock(&c->mu);
    snprintf(c->base, sizeof(c->base), "%s", base);
    snprintf(c->id, sizeof(c->id), "%s", id);
    pthread_mutex_unlock(&c->mu);
}

/* Whether an integration is configured: without one there is nothing to tell ServiceNow. */
static int servicenow_set_up(sg_conn *c, bool *out)
{
    int64_t n = 0;
    int rc = sg_conn_query_int(c,
                               "SELECT COUNT(*) FROM integrations WHERE status <> "
                               "'not_configured'",
                               NULL, 0, &n);
    *out = n > 0;
    return rc;
}

int sg_mirror_enqueue(sg_conn *c, const char *id)
{
    bool set_up = false;
    int rc = servicenow_set_up(c, &set_up);
    if (rc != SG_OK || !set_up)
        return rc;
    char key[64];
    snprintf(key, sizeof(key), "mirror:%s", id);
    return sg_jobs_enqueue(c, "servicenow.mirror", id, (int64_t)time(NULL), key, NULL);
}

/* Whitespace a markup parser might skip inside a tag: ASCII, and U+00A0 (no-break space). */
static size_t skip_space(const char *p)
{
    size_t n = 0;
    for (;;) {
        if (p[n] == ' ' || p[n] == '\t' || p[n] == '\r' || p[n] == '\n' || p[n] == '\f' ||
            p[n] == '\v')
            n++;
        else if ((unsigned char)p[n] == 0xc2 && (unsigned char)p[n + 1] == 0xa0)
            n += 2;
        else
            return n;
    }
}

/* Whether p (just past a '[') continues as a code tag: [code, [/code, [ / CODE ... */
static bool opens_code_tag(const char *p)
{
    p += skip_space(p);
    if (*p == '/') {
        p++;
        p += skip_space(p);
    }
    return strncasecmp(p, "code", 4) == 0;
}

char *sg_mirror_defuse_markup(const char *text)
{
    /* Our texts are a few KiB, far below the default cap, so no append can fail. */
    sg_buf out = SG_BUF_INIT(0);
    for (const char *p = text ? text : ""; *p; p++) {
        sg_buf_putc(&out, *p);
        if (*p == '[' && opens_code_tag(p + 1))
            sg_buf_puts(&out, "\xe2\x80\x8b"); /* U+200B ZERO WIDTH SPACE */
    }
    return sg_buf_detach(&out, NULL);
}

/* Sets a text field of a ServiceNow record, with its markup defused. */
static void set_text(sg_json *body, const char *field, const char *text)
{
    char *safe = sg_mirror_defuse_markup(text);
    sg_json_set_str(body, field, safe);
    free(safe);
}

typedef struct req_row {
    const char *id;
    bool found;
    char action[16], privilege[16], asset[256], requester[128], beneficiary[128];
    char justification[4100], duration[64], sn_sys_id[33], sn_user_id[33];
} req_row;

static void copy_col(const sg_rows *r, int col, char *dst, size_t n)
{
    sg_strlcpy(dst, sg_rows_null(r, col) ? "" : sg_rows_text(r, col), n);
}

static int read_tx(sg_conn *c, void *ctx)
{
    req_row *x = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(x->id)};
    int rc = sg_conn_query(c,
                           "SELECT r.action, r.privilege, a.name, r.requester, r.beneficiary, "
                           "r.justification, r.duration, r.sn_sys_id, l.sn_user_id FROM requests "
                           "r JOIN assets a ON a.id = r.asset_id LEFT JOIN users u ON u.name = "
                           "r.beneficiary LEFT JOIN account_links l ON l.user_id = u.id WHERE "
                           "r.id = ?1",
                           k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1) {
        x->found = true;
        copy_col(r, 0, x->action, sizeof(x->action));
        copy_col(r, 1, x->privilege, sizeof(x->privilege));
        copy_col(r, 2, x->asset, sizeof(x->asset));
        copy_col(r, 3, x->requester, sizeof(x->requester));
        copy_col(r, 4, x->beneficiary, sizeof(x->beneficiary));
        copy_col(r, 5, x->justification, sizeof(x->justification));
        copy_col(r, 6, x->duration, sizeof(x->duration));
        copy_col(r, 7, x->sn_sys_id, sizeof(x->sn_sys_id));
        copy_col(r, 8, x->sn_user_id, sizeof(x->sn_user_id));
    }
    sg_rows_free(r);
    return SG_OK;
}

typedef struct save_ctx {
    const char *id, *sys_id, *number;
} save_ctx;

static int save_tx(sg_conn *c, void *ctx)
{
    save_ctx *s = ctx;
    sg_val v[] = {SG_VTEXT(s->sys_id), SG_VTEXT(s->number), SG_VTEXT(s->id)};
    return sg_conn_exec(c, "UPDATE requests SET sn_sys_id = ?1, sn_number = ?2 WHERE id = ?3", v, 3,
                        NULL);
}

/* GET the first record of table matching query (already encoded); *sys_id "" when none. */
static int find_one(sg_app *app, const char *base, const char *token, const char *table,
                    const char *query, char sys_id[33], char number[40])
{
    char path[512];
    snprintf(path, sizeof(path),
             "/api/now/table/%s?sysparm_query=%s&sysparm_fields=sys_id,number&sysparm_limit=1",
             table, query);
    long st = 0;
    sg_json *j = NULL;
    int rc = sn_call(app, base, token, "GET", path, NULL, &st, &j);
    if (rc == SG_OK && st != 200)
        rc = sg_err_set(sn_status_error(st), "ServiceNow answered HTTP %ld reading %s", st, table);
    sys_id[0] = number[0] = '\0';
    sg_json *first = sg_json_array_get(sg_json_get(j, "result"), 0);
    if (rc == SG_OK && first) {
        sg_strlcpy(sys_id, sg_json_get_str(first, "sys_id") ? sg_json_get_str(first, "sys_id") : "",
                   33);
        sg_strlcpy(number, sg_json_get_str(first, "number") ? sg_json_get_str(first, "number") : "",
                   40);
    }
    sg_json_decref(j);
    return rc;
}

static int create(sg_app *app, const char *base, const char *token, const char *table,
                  sg_json *body, char sys_id[33], char number[40])
{
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/%s", table);
    long st = 0;
    sg_json *j = NULL;
    int rc = sn_call(app, base, token, "POST", path, body, &st, &j);
    const char *sid = sg_json_get_str(sg_json_get(j, "result"), "sys_id");
    const char *num = sg_json_get_str(sg_json_get(j, "result"), "number");
    if (rc == SG_OK && (st != 201 || !sid))
        rc = sg_err_set(sn_status_error(st), "ServiceNow answered HTTP %ld creating %s", st, table);
    if (rc == SG_OK) {
        sg_strlcpy(sys_id, sid, 33);
        sg_strlcpy(number, num ? num : "", 40);
    }
    sg_json_decref(j);
    return rc;
}

static void describe(const req_row *x, const sg_app *app, sg_json *body)
{
    char raw[512];
    snprintf(raw, sizeof(raw), "Data access: %s %s on %s for %s", x->action, x->privilege, x->asset,
             x->beneficiary);
    /* Defused before the cut: cutting a suffix off and adding "..." cannot make a tag. */
    char *shortd = sg_mirror_defuse_markup(raw);
    /* short_description holds 160 characters: cut on a UTF-8 boundary. */
    size_t cut = strlen(shortd);
    if (cut > 160) {
        cut = 157;
        while (cut > 0 && ((unsigned char)shortd[cut] & 0xc0) == 0x80)
            cut--;
        memcpy(shortd + cut, "...", 4);
    }
    char privs[64];
    sg_privs_text(sg_privs_of_level(x->privilege), privs);
    sg_buf d = SG_BUF_INIT(0);
    sg_buf_printf(&d,
                  "Requested by: %s\nFor: %s\nAsset: %s\nAction: %s\nAccess: %s (%s)\n"
                  "Justification: %s\nDuration: %s\nIn snowgate: %s/api/v1/requests/%s\n",
                  x->requester, x->beneficiary, x->asset, x->action, x->privilege, privs,
                  x->justification, x->duration[0] ? x->duration : "until revoked", app->public_url,
                  x->id);
    sg_json_set_str(body, "short_description", shortd);
    free(shortd);
    set_text(body, "description", sg_buf_str(&d));
    sg_buf_free(&d);
    char corr[64];
    snprintf(corr, sizeof(corr), "snowgate:%s", x->id);
    sg_json_set_str(body, "correlation_id", corr);
    if (x->sn_user_id[0])
        sg_json_set_str(body, "requested_for", x->sn_user_id);
}

int sg_mirror_job(sg_app *app, const sg_job *job, int64_t *retry_after)
{
    (void)retry_after;
    req_row x = {.id = job->payload};
    int rc = sg_store_read(app->store, read_tx, &x);
    if (rc != SG_OK || !x.found)
        return rc;
    char base[256], *token = NULL;
    rc = sg_servicenow_session(app, base, &token);
    if (rc != SG_OK)
        return rc;
    char query[96], req_id[33], number[40], item_id[33], item_no[40];
    snprintf(query, sizeof(query), "correlation_id%%3Dsnowgate%%3A%s", x.id);
    rc = find_one(app, base, token, "sc_request", query, req_id, number);
    bool created = false;
    if (rc == SG_OK && !req_id[0]) {
        sg_json *body = sg_json_object();
        describe(&x, app, body);
        rc = create(app, base, token, "sc_request", body, req_id, number);
        sg_json_decref(body);
        created = rc == SG_OK;
    }
    /* An item is made only after its request, by this job: a request made just now has none
     * yet. One found (an earlier run that stopped half-way) may have its item already. */
    item_id[0] = item_no[0] = '\0';
    if (rc == SG_OK && !created)
        rc = find_one(app, base, token, "sc_req_item", query, item_id, item_no);
    if (rc == SG_OK && !item_id[0]) {
        char cat_id[33], unused[40];
        if (!item_cached(app->sn_item, base, cat_id)) {
            char *name = sg_http_escape("name=" SG_SN_ITEM);
            rc = find_one(app, base, token, "sc_cat_item", name, cat_id, unused);
            free(name);
            if (rc == SG_OK && !cat_id[0])
                rc = sg_err_set(SG_ENET,
                                "the catalog item '%s' is missing in ServiceNow; commit "
                                "the update set again",
                                SG_SN_ITEM);
            if (rc == SG_OK)
                item_keep(app->sn_item, base, cat_id);
        }
        sg_json *body = sg_json_object();
        describe(&x, app, body);
        sg_json_set_str(body, "request", req_id);
        sg_json_set_str(body, "cat_item", cat_id);
        if (rc == SG_OK)
            rc = create(app, base, token, "sc_req_item", body, item_id, item_no);
        sg_json_decref(body);
    }
    if (rc == SG_OK) {
        save_ctx s = {x.id, req_id, number};
        rc = sg_store_tx(app->store, save_tx, &s);
        if (rc == SG_OK)
            sg_log_info("mirrored to ServiceNow", "number", number, "sys_id", req_id);
    }
    if (token)
        sg_secrets_free_plain(token);
    return rc;
}

int sg_mirror_update_enqueue(sg_conn *c, const char *id, int64_t seq, const char *origin)
{
    if (strcmp(origin, SG_ORIGIN_SERVICENOW) == 0)
        return SG_OK;
    bool set_up = false;
    int rc = servicenow_set_up(c, &set_up);
    if (rc != SG_OK || !set_up)
        return rc;
    char payload[64], key[80];
    snprintf(payload, sizeof(payload), "%s:%lld", id, (long long)seq);
    snprintf(key, sizeof(key), "snupdate:%s", payload);
    /* In order: the work notes read as the history happened, and a later state is never
     * overwritten by an earlier one. */
    return sg_jobs_enqueue_serial(c, "servicenow.update", payload, (int64_t)time(NULL), key, id,
                                  seq, NULL);
}

typedef struct update_row {
    char id[33];
    int64_t seq;
    bool found;
    char sn_sys_id[33], to[16], actor[160], note[4200];
} update_row;

static int update_read_tx(sg_conn *c, void *ctx)
{
    update_row *u = ctx;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(u->id), SG_VINT(u->seq)};
    int rc = sg_conn_query(c,
                           "SELECT r.sn_sys_id, h.to_state, h.actor, h.note FROM requests r JOIN "
                           "request_history h ON h.request_id = r.id WHERE r.id = ?1 AND h.seq = "
                           "?2",
                           k, 2, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) == 1) {
        u->found = true;
        copy_col(r, 0, u->sn_sys_id, sizeof(u->sn_sys_id));
        copy_col(r, 1, u->to, sizeof(u->to));
        copy_col(r, 2, u->actor, sizeof(u->actor));
        copy_col(r, 3, u->note, sizeof(u->note));
    }
    sg_rows_free(r);
    return SG_OK;
}

int sg_mirror_update_job(sg_app *app, const sg_job *job, int64_t *retry_after)
{
    (void)retry_after;
    update_row u = {0};
    const char *colon = strchr(job->payload, ':');
    if (!colon || colon - job->payload != 32 ||
        sg_parse_i64(colon + 1, 1, INT64_MAX, "seq", &u.seq) != SG_OK)
        return SG_OK; /* not ours to retry */
    memcpy(u.id, job->payload, 32);
    int rc = sg_store_read(app->store, update_read_tx, &u);
    if (rc != SG_OK || !u.found)
        return rc;
    if (!u.sn_sys_id[0])
        return sg_err_set(SG_EUNAVAIL, "request %s is not mirrored to ServiceNow yet", u.id);
    sg_json *body = sg_json_object();
    static const struct {
        const char *to, *field, *value, *verb;
    } map[] = {
        {"approved", "approval", "approved", "Approved"},
        {"fulfilling", NULL, NULL, "Being applied (no longer cancellable)"},
        {"rejected", "approval", "rejected", "Rejected"},
        {"cancelled", "request_state", "closed_cancelled", "Cancelled"},
        {"fulfilled", "request_state", "closed_complete", "Access applied"},
        {"failed", "request_state", "closed_incomplete", "Failed"},
        {"expired", NULL, NULL, "Access expired and taken back"},
        {"revoked", NULL, NULL, "Access revoked"},
    };
    const char *verb = u.to;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].to, u.to) != 0)
            continue;
        verb = map[i].verb;
        if (map[i].field)
            sg_json_set_str(body, map[i].field, map[i].value);
        if (strcmp(u.to, "rejected") == 0)
            sg_json_set_str(body, "request_state", "closed_rejected");
        if (strcmp(u.to, "fulfilled") == 0 || strcmp(u.to, "cancelled") == 0 ||
            strcmp(u.to, "failed") == 0)
            sg_json_set_str(body, "active", "false");
    }
    sg_buf note = SG_BUF_INIT(0);
    sg_buf_printf(&note, "snowgate: %s by %s%s%s", verb, u.actor, u.note[0] ? ": " : "", u.note);
    set_text(body, "work_notes", sg_buf_str(&note));
    sg_buf_free(&note);
    char base[256], *token = NULL;
    rc = sg_servicenow_session(app, base, &token);
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s", u.sn_sys_id);
    long st = 0;
    sg_json *j = NULL;
    if (rc == SG_OK)
        rc = sn_call(app, base, token, "PATCH", path, body, &st, &j);
    if (rc == SG_OK && st != 200)
        rc = sg_err_set(sn_status_error(st), "ServiceNow answered HTTP %ld updating %s", st,
                        u.sn_sys_id);
    sg_json_decref(j);
    sg_json_decref(body);
    if (token)
        sg_secrets_free_plain(token);
    return rc;
}
