/* Tests for gate/governance/audit: the hash chain catches edits, removals and forgeries. */
#include "e2e/harness.h"
#include "e2e/pg_server.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_intact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removal_detected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rechained_forgery_detected, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
