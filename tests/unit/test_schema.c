/* Tests for snowgate's schema (src/store/migrations) on both backends: it migrates from
 * nothing, and the constraints that keep things exactly once hold in the database itself,
 * whatever the code above them does. */
#include "e2e/harness.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/mem.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const sg_embed_file sg_gate_migrations[];

typedef h_store fixture;

static int setup(void **state)
{
    fixture *f = sg_xcalloc(1, sizeof(*f));
    h_store_fresh(f, "schema", sg_gate_migrations);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    h_store_done(f);
    free(f);
    return 0;
}

static int base_rows(sg_conn *c, void *ctx)
{
    (void)ctx;
    const char *sql[] = {
        "INSERT INTO users (id, name, role, created_at) VALUES ('u1', 'bob', 'member', 'now')",
        "INSERT INTO connections (id, name, kind, config, created_at) VALUES ('c1', 'desk', "
        "'manual', '{}', 'now')",
        "INSERT INTO assets (id, name, type, connection_id, owners, description, created_at) "
        "VALUES ('a1', 'crm.accounts', 'dataset', 'c1', '[]', '', 'now')",
    };
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        int rc = sg_conn_exec(c, sql[i], NULL, 0, NULL);
        if (rc != SG_OK)
            return rc;
    }
    return SG_OK;
}

typedef struct req_row {
    const char *id, *state, *sys_id;
} req_row;

static int insert_request(sg_conn *c, void *ctx)
{
    const req_row *r = ctx;
    sg_val v[] = {SG_VTEXT(r->id), SG_VTEXT(r->state), SG_VTEXT(r->sys_id)};
    return sg_conn_exec(c,
                        "INSERT INTO requests (id, asset_id, action, privilege, justification, "
                        "requester, beneficiary, state, sn_sys_id, created_at, updated_at) VALUES "
                        "(?1, 'a1', 'grant', 'read', 'j', 'bob', 'bob', ?2, ?3, 'now', 'now')",
                        v, 3, NULL);
}

static int close_request(sg_conn *c, void *ctx)
{
    sg_val v[] = {SG_VTEXT(ctx)};
    return sg_conn_exec(c, "UPDATE requests SET state = 'fulfilled' WHERE id = ?1", v, 1, NULL);
}

static int count_open(sg_conn *c, void *ctx)
{
    return sg_conn_query_int(
        c, "SELECT n FROM request_counts WHERE state = 'pending' AND linked = 1", NULL, 0, ctx);
}

static void test_one_open_request(void **state)
{
    fixture *f = *state;
    assert_int_equal(sg_store_tx(f->st, base_rows, NULL), SG_OK);
    req_row a = {"r1", "pending", "s1"}, b = {"r2", "pending", "s2"}, c = {"r3", "approved", "s3"};
    assert_int_equal(sg_store_tx(f->st, insert_request, &a), SG_OK);
    /* The same access again, pending or approved: refused by the index. */
    assert_int_equal(sg_store_tx(f->st, insert_request, &b), SG_ECONFLICT);
    assert_int_equal(sg_store_tx(f->st, insert_request, &c), SG_ECONFLICT);
    /* Once the first is no longer open, a new one may be. */
    assert_int_equal(sg_store_tx(f->st, close_request, "r1"), SG_OK);
    assert_int_equal(sg_store_tx(f->st, insert_request, &b), SG_OK);
    /* The trigger-kept counts follow on both backends. */
    int64_t n = -1;
    assert_int_equal(sg_store_read(f->st, count_open, &n), SG_OK);
    assert_int_equal(n, 1);
}

static void test_one_request_per_servicenow_record(void **state)
{
    fixture *f = *state;
    assert_int_equal(sg_store_tx(f->st, base_rows, NULL), SG_OK);
    req_row a = {"r1", "fulfilled", "s1"}, b = {"r2", "rejected", "s1"},
            c = {"r3", "rejected", NULL}, d = {"r4", "expired", NULL};
    assert_int_equal(sg_store_tx(f->st, insert_request, &a), SG_OK);
    assert_int_equal(sg_store_tx(f->st, insert_request, &b), SG_ECONFLICT);
    /* Not yet mirrored: no record, no clash. */
    assert_int_equal(sg_store_tx(f->st, insert_request, &c), SG_OK);
    assert_int_equal(sg_store_tx(f->st, insert_request, &d), SG_OK);
}

static int insert_event(sg_conn *c, void *ctx)
{
    sg_val v[] = {SG_VTEXT(ctx)};
    return sg_conn_exec(c,
                        "INSERT INTO webhook_events (id, source, received_at, body) VALUES (?1, "
                        "'servicenow', 'now', '{}')",
                        v, 1, NULL);
}

static int insert_job(sg_conn *c, void *ctx)
{
    sg_val v[] = {SG_VTEXT(ctx)};
    return sg_conn_exec(c,
                        "INSERT INTO jobs (id, kind, payload, state, run_at, attempts, dedup_key, "
                        "created_at, updated_at) VALUES (?1, 'k', 'p', 'queued', 0, 0, 'same', "
                        "'now', 'now')",
                        v, 1, NULL);
}

static void test_events_and_jobs_once(void **state)
{
    fixture *f = *state;
    assert_int_equal(sg_store_tx(f->st, insert_event, "msg_1"), SG_OK);
    assert_int_equal(sg_store_tx(f->st, insert_event, "msg_1"), SG_ECONFLICT);
    assert_int_equal(sg_store_tx(f->st, insert_job, "j1"), SG_OK);
    assert_int_equal(sg_store_tx(f->st, insert_job, "j2"), SG_ECONFLICT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_open_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_request_per_servicenow_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_and_jobs_once, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
