/* Tests for gate/governance/audit: the keyed hash chain catches edits, removals, forgeries and
 * rebuilds without the key; a plain chain from before is keyed once. */
#include "e2e/harness.h"
#include "e2e/pg_server.h"

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "gate/governance/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const sg_embed_file sg_gate_migrations[];

typedef h_store fx;

static int setup(void **state)
{
    fx *f = sg_xcalloc(1, sizeof(*f));
    h_store_fresh(f, "audit", sg_gate_migrations);
    for (int i = 0; i < 5; i++) {
        char subject[32];
        snprintf(subject, sizeof(subject), "request-%d", i);
        assert_int_equal(
            sg_audit_record(f->st, "alice", "request.approved", subject, "{\"comment\":\"ok\"}"),
            SG_OK);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    h_store_done(f);
    free(f);
    return 0;
}

static int run_sql(sg_conn *c, void *ctx)
{
    return sg_conn_exec(c, ctx, NULL, 0, NULL);
}

static void tamper(fx *f, const char *sql)
{
    assert_int_equal(sg_store_tx(f->st, run_sql, (void *)sql), SG_OK);
}

static int read_head(sg_conn *c, void *ctx)
{
    char **out = ctx;
    sg_rows *r = NULL;
    int rc = sg_conn_query(c, "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1", NULL, 0, &r);
    if (rc == SG_OK && sg_rows_next(r) == 1)
        *out = sg_xstrdup(sg_rows_text(r, 0));
    sg_rows_free(r);
    return rc;
}

static void test_intact(void **state)
{
    fx *f = *state;
    sg_audit_report rep;
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_OK);
    assert_int_equal(rep.entries, 5);
    assert_int_equal(strlen(rep.head), 64);
    char head[65];
    memcpy(head, rep.head, sizeof(head));
    assert_int_equal(sg_audit_record(f->st, "bob", "request.rejected", "request-9", NULL), SG_OK);
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_OK);
    assert_int_equal(rep.entries, 6);
    assert_string_not_equal(rep.head, head);
}

static void test_edit_detected(void **state)
{
    fx *f = *state;
    tamper(f, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3");
    sg_audit_report rep;
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_ECONFLICT);
    assert_int_equal(rep.bad_seq, 3);
    assert_non_null(strstr(sg_err_msg(), "entry 3 was edited"));
}

static void test_removal_detected(void **state)
{
    fx *f = *state;
    tamper(f, "DELETE FROM audit_log WHERE seq = 2");
    sg_audit_report rep;
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_ECONFLICT);
    assert_int_equal(rep.bad_seq, 2);
    assert_non_null(strstr(sg_err_msg(), "entry 2 is missing"));
}

static void test_rechained_forgery_detected(void **state)
{
    fx *f = *state;
    /* Replacing an entry's hash too (as if recomputed) breaks the link to the next one. */
    tamper(f, "UPDATE audit_log SET detail = '{}', hash = '"
              "1111111111111111111111111111111111111111111111111111111111111111' WHERE seq = 4");
    sg_audit_report rep;
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_ECONFLICT);
    assert_int_equal(rep.bad_seq, 4);
    tamper(f, "UPDATE audit_log SET seq = 10 WHERE seq = 5");
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_ECONFLICT);
}

/* Rewrites every entry's prev_hash and hash as an attacker without the chain's key can: plain
 * SHA-256 (as before the chain was keyed, key NULL) or an HMAC under a key of their own. */
typedef struct rebuild_ctx {
    const uint8_t *key;
} rebuild_ctx;

static int rebuild_tx(sg_conn *c, void *ctx)
{
    const rebuild_ctx *x = ctx;
    sg_rows *r = NULL;
    int rc = sg_conn_query(c,
                           "SELECT seq, at, actor, action, subject, detail FROM audit_log "
                           "ORDER BY seq",
                           NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    char prev[65] = "0000000000000000000000000000000000000000000000000000000000000000";
    while (rc == SG_OK && sg_rows_next(r) == 1) {
        int64_t seq = sg_rows_int(r, 0);
        sg_buf b = SG_BUF_INIT(0);
        sg_buf_printf(&b, "%lld", (long long)seq);
        const char *fields[] = {prev,
                                sg_rows_text(r, 1),
                                sg_rows_text(r, 2),
                                sg_rows_text(r, 3),
                                sg_rows_text(r, 4),
                                sg_rows_text(r, 5)};
        for (size_t i = 0; i < 6; i++)
            sg_buf_printf(&b, "\n%zu:%s", strlen(fields[i]), fields[i]);
        uint8_t d[SG_SHA256_LEN];
        if (x->key)
            rc = sg_hmac_sha256(x->key, SG_STORE_MAC_KEY_LEN, b.data, b.len, d);
        else
            sg_sha256(b.data, b.len, d);
        sg_buf_free(&b);
        char hash[65];
        sg_hex_encode(d, sizeof(d), hash);
        sg_val v[] = {SG_VTEXT(prev), SG_VTEXT(hash), SG_VINT(seq)};
        if (rc == SG_OK)
            rc = sg_conn_exec(c, "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3", v,
                              3, NULL);
        memcpy(prev, hash, sizeof(prev));
    }
    sg_rows_free(r);
    return rc;
}

static void rebuild(fx *f, const uint8_t *key)
{
    rebuild_ctx x = {key};
    assert_int_equal(sg_store_tx(f->st, rebuild_tx, &x), SG_OK);
}

static const uint8_t other_key[SG_STORE_MAC_KEY_LEN] = "not the master key's derivation";

/* An attacker who can write the database edits an entry and recomputes the whole chain, as
 * the plain SHA-256 code did: the chain is keyed, so it no longer verifies. */
static void test_plain_rebuild_detected(void **state)
{
    fx *f = *state;
    tamper(f, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3");
    rebuild(f, NULL);
    sg_audit_report rep;
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_ECONFLICT);
    assert_int_equal(rep.bad_seq, 1);
    assert_non_null(strstr(sg_err_msg(), "audit log tampered"));
    assert_non_null(strstr(sg_err_msg(), "rebuilt without the key"));
}

/* The same with an HMAC under a key of the attacker's. */
static void test_wrong_key_rebuild_detected(void **state)
{
    fx *f = *state;
    tamper(f, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3");
    rebuild(f, other_key);
    sg_audit_report rep;
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_ECONFLICT);
    assert_int_equal(rep.bad_seq, 1);
    assert_non_null(strstr(sg_err_msg(), "fails its HMAC"));
}

/* Verified under another master key, an intact chain fails, saying the key may be wrong. */
static void test_wrong_master_key(void **state)
{
    fx *f = *state;
    sg_store_set_mac_key(f->st, other_key);
    sg_audit_report rep;
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_ECONFLICT);
    assert_int_equal(rep.bad_seq, 1);
    assert_non_null(strstr(sg_err_msg(), "master key is not the one this log was written with"));
    /* and does not key it again under that key */
    sg_audit_keying k;
    assert_int_equal(sg_audit_key_chain(f->st, &k), SG_OK);
    assert_false(k.keyed);
    assert_true(k.refused);
}

/* A chain written before the chain was keyed (plain SHA-256, as the old code wrote it) is
 * keyed once by a link entry, verifies, and keeps verifying as it grows; its old hashes stay. */
static void test_plain_chain_migrated(void **state)
{
    fx *f = *state;
    rebuild(f, NULL); /* the five entries as the old code hashed them */
    sg_audit_report rep;
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_ECONFLICT);
    assert_non_null(strstr(sg_err_msg(), "plain SHA-256"));
    char *head = NULL;
    assert_int_equal(sg_store_read(f->st, read_head, &head), SG_OK);

    sg_audit_keying k;
    assert_int_equal(sg_audit_key_chain(f->st, &k), SG_OK);
    assert_true(k.keyed);
    assert_int_equal(k.plain_entries, 5);
    assert_string_equal(k.plain_head, head);
    assert_int_equal(sg_audit_key_chain(f->st, &k), SG_OK); /* idempotent */
    assert_false(k.keyed);
    assert_false(k.refused);
    assert_int_equal(sg_audit_record(f->st, "bob", "request.rejected", "request-9", NULL), SG_OK);
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_OK);
    assert_int_equal(rep.entries, 7);
    assert_int_equal(rep.keyed_from, 6);

    /* The plain part is covered by the link's HMAC: editing and re-hashing it is caught. */
    tamper(f, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2");
    rebuild_ctx x = {NULL};
    assert_int_equal(sg_store_tx(f->st, rebuild_tx, &x), SG_OK);
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_ECONFLICT);
    assert_int_equal(rep.bad_seq, 6);
    free(head);
}

/* A plain chain that was edited is not keyed: keying it would launder the edit. */
static void test_tampered_plain_chain_not_keyed(void **state)
{
    fx *f = *state;
    rebuild(f, NULL);
    tamper(f, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3");
    sg_audit_keying k;
    assert_int_equal(sg_audit_key_chain(f->st, &k), SG_OK);
    assert_false(k.keyed);
    assert_true(k.refused);
    assert_non_null(strstr(k.problem, "entry 3 was edited"));
    sg_audit_report rep;
    assert_int_equal(sg_audit_verify(f->st, &rep), SG_ECONFLICT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removal_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rechained_forgery_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_rebuild_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_rebuild_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_master_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_chain_migrated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_plain_chain_not_keyed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
