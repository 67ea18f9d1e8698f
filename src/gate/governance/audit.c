/* audit: entries chained by HMAC-SHA256 (under a key derived from the master key) over the
 * previous hash and the entry's fields; entries written before the chain was keyed keep their
 * plain SHA-256 up to the link entry that keyed it. */
#include "gate/governance/audit.h"

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"

#include <stdio.h>
#include <string.h>

#define GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

int sg_audit_derive_key(const sg_secrets *s, uint8_t out[SG_STORE_MAC_KEY_LEN])
{
    return sg_hkdf_sha256(s->key, sizeof(s->key), SG_AUDIT_KEY_LABEL, out, SG_STORE_MAC_KEY_LEN);
}

/* The hash of one entry: HMAC-SHA256 under key, or (key NULL) the plain SHA-256 that entries
 * written before the chain was keyed carry. Fields are length-prefixed so no two entries can
 * collide by moving text from one field to the next. */
static int entry_hash(const uint8_t *key, const char *prev, int64_t seq, const char *at,
                      const char *actor, const char *action, const char *subject,
                      const char *detail, char out[65])
{
    sg_buf b = SG_BUF_INIT(0);
    const char *fields[] = {prev, at, actor, action, subject, detail};
    sg_buf_printf(&b, "%lld", (long long)seq);
    for (size_t i = 0; i < 6; i++)
        sg_buf_printf(&b, "\n%zu:%s", strlen(fields[i]), fields[i]);
    uint8_t d[SG_SHA256_LEN];
    int rc = SG_OK;
    if (key)
        rc = sg_hmac_sha256(key, SG_STORE_MAC_KEY_LEN, b.data, b.len, d);
    else
        sg_sha256(b.data, b.len, d);
    if (rc == SG_OK)
        sg_hex_encode(d, sizeof(d), out);
    sg_buf_free(&b);
    return rc;
}

static const uint8_t *chain_key(sg_conn *c)
{
    const uint8_t *key = sg_conn_mac_key(c);
    if (!key)
        sg_err_set(SG_EINTERNAL, "the audit chain's key is not set on the store");
    return key;
}

/* Appends the entry after the last one, keyed. */
static int append(sg_conn *c, const uint8_t *key, const char *actor, const char *action,
                  const char *subject, const char *detail)
{
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
    rc = entry_hash(key, prev, seq, at, actor, action, subject, detail, hash);
    if (rc != SG_OK)
        return rc;
    sg_val v[] = {SG_VINT(seq),      SG_VTEXT(at),     SG_VTEXT(actor), SG_VTEXT(action),
                  SG_VTEXT(subject), SG_VTEXT(detail), SG_VTEXT(prev),  SG_VTEXT(hash)};
    return sg_conn_exec(
        c,
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, "
        "hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        v, 8, NULL);
}

int sg_audit_append(sg_conn *c, const char *actor, const char *action, const char *subject,
                    const char *detail)
{
    const uint8_t *key = chain_key(c);
    if (!key)
        return SG_EINTERNAL;
    return append(c, key, actor, action, subject, detail ? detail : "{}");
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

/* The seq of the link entry that keyed a chain of plain entries (the first entry whose action
 * is SG_AUDIT_KEYED), or 0: then every entry is keyed. A forged link fails its HMAC. */
static int link_seq(sg_conn *c, int64_t *out)
{
    sg_val v[] = {SG_VTEXT(SG_AUDIT_KEYED)};
    return sg_conn_query_int(c, "SELECT COALESCE(MIN(seq), 0) FROM audit_log WHERE action = ?1", v,
                             1, out);
}

/* Walks the chain: plain SHA-256 before the link entry, HMAC under key from it on (or from
 * entry 1 when there is none; key NULL: plain throughout, to check a chain not keyed yet). */
static int walk(sg_conn *c, const uint8_t *key, sg_audit_report *rep)
{
    int64_t link = 0;
    int rc = key ? link_seq(c, &link) : SG_OK;
    if (rc != SG_OK)
        return rc;
    rep->keyed_from = key ? (link ? link : 1) : 0;
    sg_rows *r = NULL;
    rc = sg_conn_query(c,
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
        bool keyed = key && seq >= rep->keyed_from;
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
        const char *f[] = {sg_rows_text(r, 1), sg_rows_text(r, 2), sg_rows_text(r, 3),
                           sg_rows_text(r, 4), sg_rows_text(r, 5)};
        rc = entry_hash(keyed ? key : NULL, prev, seq, f[0], f[1], f[2], f[3], f[4], hash);
        if (rc != SG_OK)
            break;
        if (strcmp(hash, sg_rows_text(r, 7)) != 0) {
            char plain[65] = "";
            if (keyed)
                rc = entry_hash(NULL, prev, seq, f[0], f[1], f[2], f[3], f[4], plain);
            rep->bad_seq = seq;
            if (keyed && link == 0 && strcmp(plain, sg_rows_text(r, 7)) == 0)
                snprintf(rep->problem, sizeof(rep->problem),
                         "entry %lld has a plain SHA-256 hash and no entry keys the chain: it "
                         "was written before the audit chain was keyed and snowgate serve has "
                         "not started since, or it was rebuilt without the key",
                         (long long)seq);
            else if (keyed && seq == rep->keyed_from)
                snprintf(rep->problem, sizeof(rep->problem),
                         "entry %lld fails its HMAC: the master key is not the one this log was "
                         "written with (check --master-key), or the log was rebuilt without it",
                         (long long)seq);
            else
                snprintf(rep->problem, sizeof(rep->problem), "entry %lld was edited",
                         (long long)seq);
            break;
        }
        memcpy(prev, hash, sizeof(prev));
        rep->entries++;
        expect++;
    }
    sg_rows_free(r);
    if (rc != SG_OK)
        return rc;
    if (step < 0)
        return step;
    snprintf(rep->head, sizeof(rep->head), "%s", prev);
    return SG_OK;
}

static int verify_tx(sg_conn *c, void *ctx)
{
    const uint8_t *key = chain_key(c);
    if (!key)
        return SG_EINTERNAL;
    return walk(c, key, ctx);
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

typedef struct key_ctx {
    sg_audit_keying *out;
    sg_audit_report plain;
} key_ctx;

/* Under the write lock, so replicas starting at once key the chain once: the second finds
 * the link (or a keyed entry 1) and does nothing. */
static int key_tx(sg_conn *c, void *ctx)
{
    key_ctx *k = ctx;
    const uint8_t *key = chain_key(c);
    if (!key)
        return SG_EINTERNAL;
    int64_t link = 0;
    int rc = link_seq(c, &link);
    if (rc != SG_OK || link != 0)
        return rc;
    sg_rows *r = NULL;
    rc = sg_conn_query(c,
                       "SELECT seq, at, actor, action, subject, detail, prev_hash, hash "
                       "FROM audit_log WHERE seq = 1",
                       NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    char hash[65] = "";
    if (step == 1)
        rc = entry_hash(key, GENESIS, 1, sg_rows_text(r, 1), sg_rows_text(r, 2), sg_rows_text(r, 3),
                        sg_rows_text(r, 4), sg_rows_text(r, 5), hash);
    bool keyed = step == 1 && rc == SG_OK && strcmp(hash, sg_rows_text(r, 7)) == 0;
    sg_rows_free(r);
    if (rc != SG_OK || step < 0)
        return rc != SG_OK ? rc : step;
    if (step == 0 || keyed)
        return SG_OK; /* empty, or keyed from its first entry */
    rc = walk(c, NULL, &k->plain);
    if (rc != SG_OK)
        return rc;
    if (k->plain.bad_seq) {
        k->out->refused = true;
        snprintf(k->out->problem, sizeof(k->out->problem), "%s", k->plain.problem);
        return SG_OK;
    }
    char detail[256];
    snprintf(detail, sizeof(detail), "{\"plain_entries\":%lld,\"plain_head\":\"%s\"}",
             (long long)k->plain.entries, k->plain.head);
    rc = append(c, key, "snowgate", SG_AUDIT_KEYED, "audit_log", detail);
    if (rc == SG_OK) {
        k->out->keyed = true;
        k->out->plain_entries = k->plain.entries;
        snprintf(k->out->plain_head, sizeof(k->out->plain_head), "%s", k->plain.head);
    }
    return rc;
}

int sg_audit_key_chain(sg_store *st, sg_audit_keying *out)
{
    memset(out, 0, sizeof(*out));
    key_ctx k = {out, {0}};
    int rc = sg_store_tx(st, key_tx, &k);
    if (rc != SG_OK)
        return rc;
    char n[24];
    snprintf(n, sizeof(n), "%lld", (long long)out->plain_entries);
    if (out->keyed)
        sg_log_warn("audit chain keyed: its plain SHA-256 entries are now covered by an HMAC "
                    "link entry; unless snowgate was just upgraded, the log was rebuilt",
                    "plain_entries", n, "plain_head", out->plain_head);
    else if (out->refused)
        sg_log_error("audit chain NOT keyed: it verifies neither under this master key nor as "
                     "an untouched plain SHA-256 chain; run snowgate audit verify",
                     "problem", out->problem);
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
