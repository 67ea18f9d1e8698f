/* Tests for sim/query: encoded query parsing, matching (with dot-walks) and sorting. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/mem.h"
#include "sim/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const sg_embed_file sg_sim_migrations[];

typedef struct fx {
    char *dir;
    sg_store *st;
    sim_db *db;
    char user_a[33], user_b[33];
} fx;

static void add(fx *f, const char *table, const char *json, char *id_out)
{
    sg_json *v = NULL;
    assert_int_equal(sg_json_parse(json, strlen(json), 0, 0, &v), SG_OK);
    sim_rec *r = NULL;
    assert_int_equal(sim_db_insert(f->db, sim_dict_table(table), v, "test", &r), SG_OK);
    if (id_out)
        memcpy(id_out, r->sys_id, 33);
    sg_json_decref(v);
}

static int setup(void **state)
{
    fx *f = sg_xcalloc(1, sizeof(*f));
    sim_dict_init();
    f->dir = h_tmpdir("simq");
    char *url = sg_xasprintf("sqlite:%s/s.db", f->dir);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrations = sg_sim_migrations;
    assert_int_equal(sg_store_open(&o, &f->st), SG_OK);
    free(url);
    uint8_t key[SG_AEAD_KEY_LEN] = {0}; /* no password2 properties here */
    assert_int_equal(sim_db_open(f->st, key, &f->db), SG_OK);
    add(f, "sys_user", "{\"user_name\":\"alice\",\"first_name\":\"Alice\",\"last_name\":\"Ng\"}",
        f->user_a);
    add(f, "sys_user", "{\"user_name\":\"bob\",\"first_name\":\"Bob\",\"last_name\":\"Ray\"}",
        f->user_b);
    char buf[512];
    snprintf(buf, sizeof(buf),
             "{\"short_description\":\"Access to orders\",\"priority\":2,\"requested_for\":\"%s\","
             "\"correlation_id\":\"snowgate:1\",\"approval\":\"requested\"}",
             f->user_a);
    add(f, "sc_request", buf, NULL); /* REQ0010001 */
    snprintf(buf, sizeof(buf),
             "{\"short_description\":\"SAP outage\",\"priority\":\"1\",\"requested_for\":\"%s\","
             "\"correlation_id\":\"other\",\"active\":false}",
             f->user_b);
    add(f, "sc_request", buf, NULL);                                            /* REQ0010002 */
    add(f, "sc_request", "{\"short_description\":\"\",\"priority\":10}", NULL); /* REQ0010003 */
    add(f, "incident", "{\"short_description\":\"Printer on fire\",\"priority\":3}", NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sim_db_free(f->db);
    sg_store_close(f->st);
    h_rmdir(f->dir);
    free(f->dir);
    free(f);
    sim_dict_free();
    return 0;
}

typedef struct collect {
    sim_query *q;
    sim_qctx *ctx;
    char out[256];
} collect;

static bool each(void *ctx, sim_rec *r)
{
    collect *c = ctx;
    if (sim_query_match(c->q, c->ctx, r)) {
        if (c->out[0])
            strncat(c->out, ",", sizeof(c->out) - strlen(c->out) - 1);
        strncat(c->out, sim_rec_get(r, "number"), sizeof(c->out) - strlen(c->out) - 1);
    }
    return true;
}

static void expect(fx *f, const char *table, const char *query, const char *want)
{
    sim_qctx ctx = {f->db, f->user_a, "alice", NULL};
    collect c = {NULL, &ctx, ""};
    sim_query_parse(query, sim_dict_table(table), &c.q);
    sim_db_each(f->db, sim_dict_table(table), each, &c);
    if (strcmp(c.out, want) != 0)
        fail_msg("%s?%s: got [%s], want [%s]", table, query, c.out, want);
    sim_query_free(c.q);
}

static void test_operators(void **state)
{
    fx *f = *state;
    static const struct {
        const char *q, *want;
    } cases[] = {
        {"", "REQ0010001,REQ0010002,REQ0010003"},
        {"number=REQ0010002", "REQ0010002"},
        {"number!=REQ0010002", "REQ0010001,REQ0010003"},
        {"short_descriptionLIKEsap", "REQ0010002"},
        {"short_descriptionNOT LIKEsap", "REQ0010001,REQ0010003"},
        {"short_descriptionSTARTSWITHaccess", "REQ0010001"},
        {"short_descriptionENDSWITHOUTAGE", "REQ0010002"},
        {"numberINREQ0010001,REQ0010003", "REQ0010001,REQ0010003"},
        {"numberNOT INREQ0010001,REQ0010003", "REQ0010002"},
        {"short_descriptionISEMPTY", "REQ0010003"},
        {"short_descriptionISNOTEMPTY", "REQ0010001,REQ0010002"},
        {"short_descriptionANYTHING", "REQ0010001,REQ0010002,REQ0010003"},
        {"priority<2", "REQ0010002"},
        {"priority<=2", "REQ0010001,REQ0010002"},
        {"priority>2", "REQ0010003"}, /* numeric: 10 > 2 */
        {"priority>=10", "REQ0010003"},
        {"priorityBETWEEN2@10", "REQ0010001,REQ0010003"},
        {"active=true", "REQ0010001,REQ0010003"},
        {"active=false", "REQ0010002"},
        {"active=1", "REQ0010001,REQ0010003"},
        {"priority=1^ORpriority=10", "REQ0010002,REQ0010003"},
        {"active=true^priority=2^ORpriority=10", "REQ0010001,REQ0010003"},
        {"number=REQ0010001^NQnumber=REQ0010003", "REQ0010001,REQ0010003"},
        {"requested_for.user_name=bob", "REQ0010002"},
        {"requested_for.first_nameSTARTSWITHAl", "REQ0010001"},
        {"requested_for=javascript:gs.getUserID()", "REQ0010001"},
        {"correlation_idSTARTSWITHsnowgate:", "REQ0010001"},
        {"sys_created_on>javascript:gs.daysAgoStart(1)", "REQ0010001,REQ0010002,REQ0010003"},
        {"sys_created_on<javascript:gs.dateGenerate('2001-01-01','00:00:00')", ""},
        {"sys_class_nameINSTANCEOFtask", "REQ0010001,REQ0010002,REQ0010003"},
        {"short_descriptionSAMEAScorrelation_id", "REQ0010003"}, /* both empty */
        {"short_descriptionNSAMEAScorrelation_id", "REQ0010001,REQ0010002"},
        /* Invalid parts are ignored, as ServiceNow does by default. */
        {"no_such_field=1", "REQ0010001,REQ0010002,REQ0010003"},
        {"no_such_field=1^number=REQ0010002", "REQ0010002"},
        {"numberBOGUSOPx", "REQ0010001,REQ0010002,REQ0010003"},
        {"number=REQ0010002^EQ", "REQ0010002"},
        /* ^ORDERBY is a sort clause, not an OR. */
        {"number=REQ0010002^ORDERBYnumber", "REQ0010002"},
        {"^^^", "REQ0010001,REQ0010002,REQ0010003"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect(f, "sc_request", cases[i].q, cases[i].want);
    /* The task table sees every task-family record. */
    expect(f, "task", "priority=3", "INC0010001");
    expect(f, "task", "sys_class_name=incident", "INC0010001");
}

typedef struct gather {
    sim_rec *recs[16];
    size_t n;
} gather;

static bool gather_cb(void *ctx, sim_rec *r)
{
    gather *g = ctx;
    g->recs[g->n++] = r;
    return true;
}

static void test_sort(void **state)
{
    fx *f = *state;
    sim_qctx ctx = {f->db, NULL, NULL, NULL};
    gather g = {{0}, 0};
    sim_db_each(f->db, sim_dict_table("sc_request"), gather_cb, &g);
    sim_query *q = NULL;
    sim_query_parse("ORDERBYDESCpriority", sim_dict_table("sc_request"), &q);
    sim_query_sort(q, &ctx, g.recs, g.n);
    assert_string_equal(sim_rec_get(g.recs[0], "number"), "REQ0010003");
    assert_string_equal(sim_rec_get(g.recs[2], "number"), "REQ0010002");
    sim_query_free(q);
    sim_query_parse("active=true^ORDERBYrequested_for.user_name^ORDERBYnumber",
                    sim_dict_table("sc_request"), &q);
    assert_int_equal(sim_query_terms(q), 1);
    sim_query_sort(q, &ctx, g.recs, g.n);
    /* Empty user name sorts first, then alice, then bob. */
    assert_string_equal(sim_rec_get(g.recs[0], "number"), "REQ0010003");
    assert_string_equal(sim_rec_get(g.recs[1], "number"), "REQ0010001");
    sim_query_free(q);
}

static void test_changes(void **state)
{
    fx *f = *state;
    sim_rec *r = sim_db_find(f->db, sim_dict_table("sc_request"), "number", "REQ0010001");
    sg_json *prev = sg_json_object();
    sg_json_set_str(prev, "approval", "not requested");
    sg_json_set_str(prev, "priority", "2");
    sim_qctx ctx = {f->db, NULL, NULL, prev};
    static const struct {
        const char *q;
        bool want;
    } cases[] = {
        {"approvalVALCHANGES", true},
        {"priorityVALCHANGES", false},
        {"approvalCHANGESTOrequested", true},
        {"approvalCHANGESTOapproved", false},
        {"approvalCHANGESFROMnot requested", true},
        {"approvalCHANGESFROMrejected", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sim_query *q = NULL;
        sim_query_parse(cases[i].q, r->t, &q);
        if (sim_query_match(q, &ctx, r) != cases[i].want)
            fail_msg("%s should be %d", cases[i].q, cases[i].want);
        sim_query_free(q);
    }
    /* Without a previous record nothing "changes". */
    sim_qctx none = {f->db, NULL, NULL, NULL};
    sim_query *q = NULL;
    sim_query_parse("approvalVALCHANGES", r->t, &q);
    assert_false(sim_query_match(q, &none, r));
    sim_query_free(q);
    sg_json_decref(prev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_operators, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
