/* Tests for the secondary indexes of sim/records and the planner of sim/query: random records of
 * the task family (values from a small alphabet, so equality hits), inserted, updated and
 * deleted in random order, then many random queries answered twice, through the planner and
 * by a forced scan. The two answers must be the same records in the same order.
 *
 * The seed is random and printed; SG_TEST_SEED=N replays a run. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "sim/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern const sg_embed_file sg_sim_migrations[];

#define MAX_IDS 4096

typedef struct fx {
    char *dir;
    sg_store *st;
    sim_db *db;
    uint64_t rng;
    char users[4][33];
    /* sys_ids handed out so far, alive or deleted: queries ask for both. */
    char ids[MAX_IDS][33];
    size_t nids;
    /* what the planner did, over the whole test */
    size_t queries, indexed, indexed_hits;
} fx;

/* ---- randomness ---- */

static uint64_t next(fx *f)
{
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return f->rng;
}

static size_t pick(fx *f, size_t n)
{
    return (size_t)(next(f) % n);
}

static bool chance(fx *f, int percent)
{
    return (int)pick(f, 100) < percent;
}

static const char *const family[] = {"task", "sc_request", "sc_req_item", "incident", "sc_task"};
#define NFAMILY (sizeof(family) / sizeof(family[0]))

/* Short strings: equal often; "A" and "a" differ (= is case-sensitive in query.c). */
static const char *const words[] = {"a", "b", "A", "ab", "x y", ""};
#define NWORDS (sizeof(words) / sizeof(words[0]))

/* A reference value: a record seen so far (alive or not), a user, a sys_id nobody has, or "". */
static const char *ref_value(fx *f)
{
    switch (pick(f, 6)) {
    case 0:
    case 1:
        return f->nids ? f->ids[pick(f, f->nids)] : "";
    case 2:
        return f->users[pick(f, 4)];
    case 3:
        return "0123456789abcdef0123456789abcdef";
    case 4:
        return "fedcba9876543210fedcba9876543210";
    default:
        return "";
    }
}

typedef enum kind { K_WORD, K_REF, K_NUMBER, K_PRIORITY } kind;

typedef struct field_spec {
    const char *name;
    kind k;
} field_spec;

/* Fields of the family (some exist only in one table: a query on another drops them), and of
 * the two tables that point into it. */
static const field_spec task_fields[] = {
    {"sys_id", K_REF},
    {"number", K_NUMBER},
    {"correlation_id", K_WORD},
    {"parent", K_REF},
    {"assigned_to", K_REF},
    {"opened_by", K_REF},
    {"requested_for", K_REF},
    {"request", K_REF},
    {"request_item", K_REF},
    {"caller_id", K_REF},
    {"short_description", K_WORD},
    {"description", K_WORD},
    {"priority", K_PRIORITY},
    {"approval", K_WORD},
    {"correlation_display", K_WORD},
};
#define NTASK_FIELDS (sizeof(task_fields) / sizeof(task_fields[0]))

static const field_spec approval_fields[] = {
    {"sys_id", K_REF},      {"sysapproval", K_REF}, {"approver", K_REF},
    {"document_id", K_REF}, {"state", K_WORD},      {"source_table", K_WORD},
};
static const field_spec journal_fields[] = {
    {"sys_id", K_REF}, {"element_id", K_REF}, {"element", K_WORD},
    {"name", K_WORD},  {"value", K_WORD},
};

static const char *value_of(fx *f, kind k)
{
    static const char *const numbers[] = {"N1", "N2", "n1", "RITM0010001", "REQ0010002", ""};
    static const char *const priorities[] = {"1", "2", "3", "4", "10", ""};
    switch (k) {
    case K_REF:
        return ref_value(f);
    case K_NUMBER:
        return numbers[pick(f, 6)];
    case K_PRIORITY:
        return priorities[pick(f, 6)];
    default:
        return words[pick(f, NWORDS)];
    }
}

/* ---- the fixture ---- */

static void open_db(fx *f)
{
    uint8_t key[SG_AEAD_KEY_LEN] = {0};
    assert_int_equal(sim_db_open(f->st, key, &f->db), SG_OK);
}

static sim_rec *insert(fx *f, const char *table, sg_json *v)
{
    sim_rec *r = NULL;
    int rc = sim_db_insert(f->db, sim_dict_table(table), v, "test", &r);
    if (rc != SG_OK)
        fail_msg("insert into %s: %s", table, sg_err_msg());
    sg_json_decref(v);
    if (f->nids < MAX_IDS)
        memcpy(f->ids[f->nids++], r->sys_id, 33);
    return r;
}

static int setup(void **state)
{
    fx *f = sg_xcalloc(1, sizeof(*f));
    sim_dict_init();
    f->dir = h_tmpdir("simidx");
    char *url = sg_xasprintf("sqlite:%s/s.db", f->dir);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrations = sg_sim_migrations;
    assert_int_equal(sg_store_open(&o, &f->st), SG_OK);
    free(url);
    open_db(f);
    const char *seed = getenv("SG_TEST_SEED");
    int64_t s = 0;
    if (seed && *seed && sg_parse_i64(seed, 1, INT64_MAX, "SG_TEST_SEED", &s) == SG_OK)
        f->rng = (uint64_t)s;
    else
        f->rng = (((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ULL) >> 1;
    print_message("seed: SG_TEST_SEED=%llu\n", (unsigned long long)f->rng);
    for (int i = 0; i < 4; i++) {
        sg_json *v = sg_json_object();
        char name[16];
        snprintf(name, sizeof(name), "user%d", i);
        sg_json_set_str(v, "user_name", name);
        memcpy(f->users[i], insert(f, "sys_user", v)->sys_id, 33);
    }
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

/* ---- random writes ---- */

static void random_values(fx *f, const field_spec *fields, size_t nfields, int nset, sg_json *v)
{
    for (int i = 0; i < nset; i++) {
        const field_spec *fs = &fields[pick(f, nfields)];
        if (strcmp(fs->name, "sys_id") == 0)
            continue;
        sg_json_set_str(v, fs->name, value_of(f, fs->k));
    }
}

typedef struct alive {
    sim_rec *recs[MAX_IDS];
    size_t n;
} alive;

static bool gather(void *ctx, sim_rec *r)
{
    alive *a = ctx;
    if (a->n < MAX_IDS)
        a->recs[a->n++] = r;
    return true;
}

static sim_rec *random_record(fx *f, const char *table)
{
    static alive a;
    a.n = 0;
    sim_db_each(f->db, sim_dict_table(table), gather, &a);
    return a.n ? a.recs[pick(f, a.n)] : NULL;
}

static void random_write(fx *f)
{
    int what = (int)pick(f, 100);
    bool approval = chance(f, 15);
    const char *table = approval ? "sysapproval_approver" : family[pick(f, NFAMILY)];
    const field_spec *fields = approval ? approval_fields : task_fields;
    size_t nfields = approval ? sizeof(approval_fields) / sizeof(approval_fields[0]) : NTASK_FIELDS;
    if (what < 50) {
        sg_json *v = sg_json_object();
        random_values(f, fields, nfields, 1 + (int)pick(f, 6), v);
        insert(f, table, v);
        return;
    }
    sim_rec *r = random_record(f, approval ? table : "task");
    if (!r)
        return;
    if (what < 85) {
        sg_json *v = sg_json_object();
        if (approval) {
            random_values(f, approval_fields, nfields, 1 + (int)pick(f, 3), v);
        } else {
            /* Fields of r's own table; now and then a journal entry for sys_journal_field. */
            random_values(f, task_fields, NTASK_FIELDS, 1 + (int)pick(f, 3), v);
            if (chance(f, 30))
                sg_json_set_str(v, chance(f, 50) ? "work_notes" : "comments",
                                words[pick(f, NWORDS - 1)]);
        }
        assert_int_equal(sim_db_update(f->db, r, v, "test", NULL), SG_OK);
        sg_json_decref(v);
        return;
    }
    assert_int_equal(sim_db_delete(f->db, r), SG_OK);
}

/* ---- random queries ---- */

static void random_term(fx *f, const field_spec *fields, size_t nfields, sg_buf *q)
{
    const field_spec *fs = &fields[pick(f, nfields)];
    int op = (int)pick(f, 20);
    if (op < 9) {
        sg_buf_printf(q, "%s=%s", fs->name, value_of(f, fs->k));
    } else if (op < 14) {
        sg_buf_printf(q, "%sIN", fs->name);
        int n = 1 + (int)pick(f, 4);
        for (int i = 0; i < n; i++)
            sg_buf_printf(q, "%s%s", i ? "," : "", value_of(f, fs->k));
    } else if (op < 16) {
        sg_buf_printf(q, "%s!=%s", fs->name, value_of(f, fs->k));
    } else if (op < 17) {
        sg_buf_printf(q, "%sSTARTSWITH%s", fs->name, value_of(f, fs->k));
    } else if (op < 18) {
        sg_buf_printf(q, "%sISEMPTY", fs->name);
    } else if (op < 19) {
        /* a dot-walk: never from an index */
        sg_buf_printf(q, "parent.%s=%s", fs->name, value_of(f, fs->k));
    } else {
        sg_buf_printf(q, "%s=javascript:gs.getUserID()", fs->name);
    }
}

static void random_query(fx *f, const char **table, sg_buf *q)
{
    int which = (int)pick(f, 10);
    const field_spec *fields = task_fields;
    size_t nfields = NTASK_FIELDS;
    if (which == 0) {
        *table = "sysapproval_approver";
        fields = approval_fields;
        nfields = sizeof(approval_fields) / sizeof(approval_fields[0]);
    } else if (which == 1) {
        *table = "sys_journal_field";
        fields = journal_fields;
        nfields = sizeof(journal_fields) / sizeof(journal_fields[0]);
    } else {
        *table = family[pick(f, NFAMILY)];
    }
    int nterms = 1 + (int)pick(f, 3);
    for (int i = 0; i < nterms; i++) {
        if (i > 0) {
            int join = (int)pick(f, 10);
            sg_buf_puts(q, join < 7 ? "^" : join < 9 ? "^OR" : "^NQ");
        }
        random_term(f, fields, nfields, q);
    }
    if (chance(f, 30)) {
        static const char *const orders[] = {"number", "short_description", "priority", "sys_id",
                                             "sys_created_on"};
        sg_buf_printf(q, "^ORDERBY%s%s", chance(f, 50) ? "DESC" : "", orders[pick(f, 5)]);
    }
}

typedef struct hits {
    sim_rec **recs;
    size_t n, cap;
} hits;

static bool keep(void *ctx, sim_rec *r)
{
    hits *h = ctx;
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->recs = sg_xrealloc(h->recs, h->cap * sizeof(*h->recs));
    }
    h->recs[h->n++] = r;
    return true;
}

static void show(const hits *h, sg_buf *out)
{
    for (size_t i = 0; i < h->n && i < 20; i++)
        sg_buf_printf(out, "%s%.8s", i ? "," : "", h->recs[i]->sys_id);
    if (h->n > 20)
        sg_buf_puts(out, ",...");
}

/* The planner's answer against the scan's, before and after ORDERBY sorting. */
static void compare(fx *f, const char *table, const char *qs)
{
    sim_qctx ctx = {f->db, f->users[0], "user0", NULL};
    sim_query *q = NULL;
    sim_query_parse(qs, sim_dict_table(table), &q);
    hits planned = {0}, scanned = {0};
    sim_query_each(q, &ctx, keep, &planned);
    sim_query_each_scan(q, &ctx, keep, &scanned);
    bool same = planned.n == scanned.n &&
                (planned.n == 0 ||
                 memcmp(planned.recs, scanned.recs, planned.n * sizeof(*planned.recs)) == 0);
    if (same) {
        sim_query_sort(q, &ctx, planned.recs, planned.n);
        sim_query_sort(q, &ctx, scanned.recs, scanned.n);
        same = planned.n == 0 ||
               memcmp(planned.recs, scanned.recs, planned.n * sizeof(*planned.recs)) == 0;
    }
    bool indexed = sim_query_indexed(q, &ctx);
    f->queries++;
    if (indexed) {
        f->indexed++;
        if (planned.n > 0)
            f->indexed_hits++;
    }
    if (!same) {
        sg_buf a = SG_BUF_INIT(0), b = SG_BUF_INIT(0);
        show(&planned, &a);
        show(&scanned, &b);
        fail_msg("%s?%s (%s): the planner found %zu [%s], the scan %zu [%s]", table, qs,
                 indexed ? "indexed" : "scanned", planned.n, sg_buf_str(&a), scanned.n,
                 sg_buf_str(&b));
    }
    free(planned.recs);
    free(scanned.recs);
    sim_query_free(q);
}

typedef struct first_ctx {
    const char *field, *value;
    sim_rec *found;
} first_ctx;

static bool first_eq(void *ctx, sim_rec *r)
{
    first_ctx *c = ctx;
    if (strcmp(sim_rec_get(r, c->field), c->value) != 0)
        return true;
    c->found = r;
    return false;
}

/* sim_db_find (through the index) against a scan for the first equal value. */
static void compare_find(fx *f)
{
    const char *table = family[pick(f, NFAMILY)];
    const field_spec *fs = &task_fields[pick(f, 4)]; /* the indexed ones */
    const char *value = value_of(f, fs->k);
    first_ctx c = {fs->name, value, NULL};
    sim_db_each(f->db, sim_dict_table(table), first_eq, &c);
    sim_rec *got = sim_db_find(f->db, sim_dict_table(table), fs->name, value);
    if (got != c.found)
        fail_msg("sim_db_find(%s, %s, '%s'): %s, a scan finds %s", table, fs->name, value,
                 got ? got->sys_id : "none", c.found ? c.found->sys_id : "none");
}

static void queries(fx *f, int n)
{
    for (int i = 0; i < n; i++) {
        const char *table = NULL;
        sg_buf q = SG_BUF_INIT(0);
        random_query(f, &table, &q);
        compare(f, table, sg_buf_str(&q));
        sg_buf_free(&q);
        compare_find(f);
    }
}

static void test_planner_matches_scan(void **state)
{
    fx *f = *state;
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 200; i++)
            random_write(f);
        queries(f, 200);
    }
    /* The indexes are built again on load. */
    sim_db_free(f->db);
    f->db = NULL;
    open_db(f);
    queries(f, 200);
    print_message("%zu queries, %zu from an index (%zu of them with hits)\n", f->queries,
                  f->indexed, f->indexed_hits);
    /* Not vacuous: a good share of the queries went through the planner and found records. */
    assert_true(f->indexed * 5 >= f->queries);
    assert_true(f->indexed_hits * 20 >= f->queries);
}

/* The planner's choices on fixed queries: which ones may use an index. */
static void test_plans(void **state)
{
    fx *f = *state;
    sim_qctx ctx = {f->db, NULL, NULL, NULL};
    static const struct {
        const char *table, *q;
        bool indexed;
    } cases[] = {
        {"sc_request", "correlation_id=snowgate:1", true},
        {"task", "number=REQ0010001^active=true", true},
        {"sc_req_item", "requestINa,b^ORDERBYnumber", true},
        {"sys_journal_field", "element_id=x^element=comments", true},
        {"sysapproval_approver", "sysapproval=x^state=requested", true},
        {"task", "sys_idINa,b,c", true},
        {"task", "short_description=x", false},         /* not indexed */
        {"task", "correlation_id=", false},             /* "" is not indexed */
        {"task", "sys_idINa,,b", false},                /* nor is an empty list item */
        {"task", "correlation_id=x^ORnumber=y", false}, /* an OR clause */
        {"task", "correlation_id=x^NQnumber=y", false}, /* two groups */
        {"task", "parent.number=x", false},             /* a dot-walk */
        {"task", "assigned_to=javascript:gs.getUserID()", false},
        {"task", "correlation_idSTARTSWITHx", false},
        {"task", "active=true", false}, /* a boolean compares loosely */
        {"task", "", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sim_query *q = NULL;
        sim_query_parse(cases[i].q, sim_dict_table(cases[i].table), &q);
        if (sim_query_indexed(q, &ctx) != cases[i].indexed)
            fail_msg("%s?%s: indexed should be %d", cases[i].table, cases[i].q, cases[i].indexed);
        sim_query_free(q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_planner_matches_scan, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
