/* audit: entries chained by SHA-256 over the previous hash and the entry's fields. */
#include "gate/governance/audit.h"

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/str.h"

#include <stdio.h>
#include <string.h>

#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* The hash of one entry. Fields are length-prefixed so no two entries can collide by moving
 * text from one field to the next. */
static void entry_hash(const char *prev, int64_t seq, const char *at, const char *actor,
                       const char *action, const char *subject, const char *detail, char out[65])
{
    sg_buf b = SG_BUF_INIT(0);
    const char *fields[] = {prev, at, actor, action, subject, detail};
    sg_buf_printf(&b, "%lld", (long long)seq);
    for (size_t i = 0; i < 6; i++)
        sg_buf_printf(&b, "\n%zu:%s", strlen(fields[i]), fields[i]);
    uint8_t d[SG_SHA256_LEN];
    sg_sha256(b.data, b.len, d);
    sg_hex_encode(d, sizeof(d), out);
    sg_buf_free(&b);
}

int sg_audit_append(sg_conn *c, const char *actor, const char *action, const char *subject,
                    const char *detail)
{
    if (!detail)
        detail = "{}";
    sg_rows *r = NULL;
    int rc =
        sg_conn_query(c, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    int64_t seq = 1;
    char prev[65] = GENESIS;
    int step = sg_rows_next(r);
    if (step == 1) {
        seq = sg_rows_int(r, 0) + 1;
        snprintf(prev, sizeof(prev), "%s", sg_rows_text(r, 1));
    }
    sg_rows_free(r);
    if (step < 0)
        return step;
    char at[32], hash[65];
    sg_now_iso(at);
    entry_hash(prev, seq, at, actor, action, subject, detail, hash);
    sg_val v[] = {SG_VINT(seq),      SG_VTEXT(at),     SG_VTEXT(actor), SG_VTEXT(action),
                  SG_VTEXT(subject), SG_VTEXT(detail), SG_VTEXT(prev),  SG_VTEXT(hash)};
    return sg_conn_exec(
        c,
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, "
        "hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        v, 8, NULL);
}

typedef struct rec_ctx {
    const char *actor, *action, *subject, *detail;
} rec_ctx;

static int rec_tx(sg_conn *c, void *ctx)
{
    rec_ctx *r = ctx;
    return sg_audit_append(c, r->actor, r->action, r->subject, r->detail);
}

int sg_audit_record(sg_store *st, const char *actor, const char *action, const char *subject,
                    const char *detail)
{
    rec_ctx r = {actor, action, subject, detail};
    return sg_store_tx(st, rec_tx, &r);
}

static int verify_tx(sg_conn *c, void *ctx)
{
    sg_audit_report *rep = ctx;
    sg_rows *r = NULL;
    int rc = sg_conn_query(c,
                           "SELECT seq, at, actor, action, subject, detail, prev_hash, hash "
                           "FROM audit_log ORDER BY seq",
                           NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    char prev[65] = GENESIS;
    int64_t expect = 1;
    int step;
    while ((step = sg_rows_next(r)) == 1) {
        int64_t seq = sg_rows_int(r, 0);
        char hash[65];
        if (seq != expect) {
            rep->bad_seq = expect;
            snprintf(rep->problem, sizeof(rep->problem), "entry %lld is missing",
                     (long long)expect);
            break;
        }
        if (strcmp(sg_rows_text(r, 6), prev) != 0) {
            rep->bad_seq = seq;
            snprintf(rep->problem, sizeof(rep->problem),
                     "entry %lld does not follow entry %lld (its previous hash differs)",
                     (long long)seq, (long long)seq - 1);
            break;
        }
        entry_hash(prev, seq, sg_rows_text(r, 1), sg_rows_text(r, 2), sg_rows_text(r, 3),
                   sg_rows_text(r, 4), sg_rows_text(r, 5), hash);
        if (strcmp(hash, sg_rows_text(r, 7)) != 0) {
            rep->bad_seq = seq;
            snprintf(rep->problem, sizeof(rep->problem), "entry %lld was edited", (long long)seq);
            break;
        }
        memcpy(prev, hash, sizeof(prev));
        rep->entries++;
        expect++;
    }
    sg_rows_free(r);
    if (step < 0)
        return step;
    snprintf(rep->head, sizeof(rep->head), "%s", prev);
    return SG_OK;
}

int sg_audit_verify(sg_store *st, sg_audit_report *out)
{
    memset(out, 0, sizeof(*out));
    int rc = sg_store_read(st, verify_tx, out);
    if (rc != SG_OK)
        return rc;
    if (out->bad_seq)
        return sg_err_set(SG_ECONFLICT, "audit log tampered: %s", out->problem);
    return SG_OK;
}

typedef struct list_ctx {
    int64_t before, limit;
    sg_json *arr;
} list_ctx;

static int list_tx(sg_conn *c, void *ctx)
{
    list_ctx *l = ctx;
    sg_rows *r = NULL;
    sg_val v[] = {SG_VINT(l->before), SG_VINT(l->limit)};
    int rc = sg_conn_query(c,
                           "SELECT seq, at, actor, action, subject, detail, hash FROM audit_log "
                           "WHERE ?1 = 0 OR seq < ?1 ORDER BY seq DESC LIMIT ?2",
                           v, 2, &r);
    if (rc != SG_OK)
        return rc;
    int step;
    while ((step = sg_rows_next(r)) == 1) {
        sg_json *e = sg_json_object();
        sg_json_set_int(e, "seq", sg_rows_int(r, 0));
        sg_json_set_str(e, "at", sg_rows_text(r, 1));
        sg_json_set_str(e, "actor", sg_rows_text(r, 2));
        sg_json_set_str(e, "action", sg_rows_text(r, 3));
        sg_json_set_str(e, "subject", sg_rows_text(r, 4));
        const char *d = sg_rows_text(r, 5);
        sg_json *detail = NULL;
        if (sg_json_parse(d, strlen(d), 0, 0, &detail) != SG_OK)
            detail = sg_json_string(d);
        sg_json_set(e, "detail", detail);
        sg_json_set_str(e, "hash", sg_rows_text(r, 6));
        sg_json_append(l->arr, e);
    }
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

int sg_audit_list(sg_store *st, int64_t before, int64_t limit, sg_json **out)
{
    *out = NULL;
    list_ctx l = {before < 0 ? 0 : before,
                  limit < 1     ? 1
                  : limit > 500 ? 500
                                : limit,
                  sg_json_array()};
    int rc = sg_store_read(st, list_tx, &l);
    if (rc != SG_OK) {
        sg_json_decref(l.arr);
        return rc;
    }
    *out = l.arr;
    return SG_OK;
}
