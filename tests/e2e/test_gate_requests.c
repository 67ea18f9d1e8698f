/* End to end: access requests through the API: validation, visibility, the inbox, decisions
 * (self-approval, first decision wins, conflicts on record), cancellation, the audit log and
 * the jobs endpoints. */
#include "e2e/harness.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/webhook_sig.h"
#include "http/server.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static h_proc gate;
static char *dir;
static char *store; /* SQLite in dir, or PostgreSQL under SG_TEST_STORE=postgres */
/* alice: admin; sam: steward; bob, dave: members; carol: member who owns the orders table.
 * All but dave have a database role (their name). */
static char alice[128], sam[128], bob[128], carol[128], dave[128];

static void add_user(const char *name, const char *role, char *header)
{
    bool db = strcmp(name, "dave") != 0;
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "user",
                          "add",
                          name,
                          "--role",
                          role,
                          "--data",
                          dir,
                          "--store",
                          store,
                          db ? "--db-role" : NULL,
                          name,
                          NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 20000, &out, NULL), 0);
    snprintf(header, 128, "Authorization: Bearer %.64s", sg_buf_str(&out));
    sg_buf_free(&out);
}

static long call(const char *who, const char *method, const char *path, const char *body,
                 sg_json **j)
{
    const char *h[] = {who, NULL};
    return h_call(method, gate.url, path, h, body, j, NULL);
}

static void ok(const char *who, const char *method, const char *path, const char *body, long want)
{
    sg_json *j = NULL;
    long st = call(who, method, path, body, &j);
    if (st != want) {
        char *t = sg_json_dump(j);
        fail_msg("%s %s: %ld, want %ld: %s", method, path, st, want, t);
    }
    sg_json_decref(j);
}

static const char *message(sg_json *j)
{
    const char *m = sg_json_get_str(sg_json_get(j, "error"), "message");
    return m ? m : "";
}

static void spawn(void)
{
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "serve",
                          "--listen",
                          "127.0.0.1:0",
                          "--data",
                          dir,
                          "--store",
                          store,
                          "--allow-insecure-loopback",
                          NULL};
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 30000, &gate), SG_OK);
}

static int start(void **state)
{
    (void)state;
    dir = h_tmpdir("requests");
    store = h_store_url(dir, "snowgate");
    add_user("alice", "admin", alice);
    add_user("sam", "steward", sam);
    add_user("bob", "member", bob);
    add_user("carol", "member", carol);
    add_user("dave", "member", dave);
    spawn();
    ok(alice, "POST", "/api/v1/connections",
       "{\"name\":\"analytics\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 port=9 "
       "dbname=analytics user=snowgate\",\"password\":\"pw-for-db\"}",
       201);
    ok(alice, "POST", "/api/v1/connections", "{\"name\":\"desk\",\"kind\":\"manual\"}", 201);
    ok(alice, "POST", "/api/v1/assets",
       "{\"name\":\"analytics.public.orders\",\"type\":\"table\",\"connection\":\"analytics\","
       "\"owners\":[\"carol\"]}",
       201);
    ok(alice, "POST", "/api/v1/assets",
       "{\"name\":\"analytics.public.v_orders\",\"type\":\"view\",\"connection\":\"analytics\"}",
       201);
    ok(alice, "POST", "/api/v1/assets",
       "{\"name\":\"analytics.public\",\"type\":\"schema\",\"connection\":\"analytics\"}", 201);
    ok(alice, "POST", "/api/v1/assets",
       "{\"name\":\"crm.accounts\",\"type\":\"dataset\",\"connection\":\"desk\"}", 201);
    ok(alice, "POST", "/api/v1/assets",
       "{\"name\":\"crm.orders\",\"type\":\"dataset\",\"connection\":\"desk\","
       "\"owners\":[\"carol\"]}",
       201);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    assert_int_equal(h_stop(&gate, SIGTERM, 30000), 0);
    h_rmdir(dir);
    free(dir);
    free(store);
    return 0;
}

/* Creates a request as who and returns its id (owned). */
static char *create(const char *who, const char *body)
{
    sg_json *j = NULL;
    long st = call(who, "POST", "/api/v1/requests", body, &j);
    if (st != 201)
        fail_msg("create: %ld %s", st, message(j));
    assert_string_equal(sg_json_get_str(j, "state"), "pending");
    char *id = sg_xstrdup(sg_json_get_str(j, "id"));
    sg_json_decref(j);
    return id;
}

static bool listed(sg_json *j, const char *id)
{
    sg_json *items = sg_json_get(j, "items");
    for (size_t i = 0; i < sg_json_array_size(items); i++)
        if (strcmp(sg_json_get_str(sg_json_array_get(items, i), "id"), id) == 0)
            return true;
    return false;
}

static void test_bad_requests(void **state)
{
    (void)state;
    /* This suite runs on both store backends (tests/CMakeLists.txt): the one meant is used. */
    sg_json *ready = NULL;
    assert_int_equal(call(alice, "GET", "/readyz", NULL, &ready), 200);
    assert_string_equal(
        sg_json_get_str(sg_json_get(sg_json_get(ready, "checks"), "store"), "backend"),
        h_store_is_postgres() ? "postgres" : "sqlite");
    sg_json_decref(ready);
    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"{\"asset\":\"analytics.public.nope\",\"privilege\":\"read\",\"justification\":\"j\"}",
         "is not governed"},
        {"{\"asset\":\"x'; DROP TABLE requests;--\",\"privilege\":\"read\",\"justification\":"
         "\"j\"}",
         "is not governed"},
        {"{\"asset\":\"analytics.public.orders\",\"privilege\":\"read\",\"justification\":\"j\","
         "\"duration\":\"P1M\"}",
         "years or months"},
        {"{\"asset\":\"analytics.public.orders\",\"privilege\":\"read\",\"justification\":\"j\","
         "\"duration\":\"8 hours\"}",
         "not ISO 8601"},
        {"{\"asset\":\"analytics.public.orders\",\"privilege\":\"read\",\"justification\":\"j\","
         "\"duration\":\"P400D\"}",
         "limit"},
        {"{\"asset\":\"analytics.public.orders\",\"privilege\":\"read\",\"justification\":\"j\","
         "\"duration\":8}",
         "must be a string"},
        {"{\"asset\":\"analytics.public.orders\",\"privilege\":\"admin\",\"justification\":\"j\"}",
         "\"privilege\" must be"},
        {"{\"asset\":\"analytics.public.orders\",\"action\":\"steal\",\"privilege\":\"read\","
         "\"justification\":\"j\"}",
         "\"action\" must be"},
        {"{\"asset\":\"analytics.public.orders\",\"action\":\"revoke\",\"privilege\":\"read\","
         "\"justification\":\"j\",\"duration\":\"PT1H\"}",
         "grants only"},
        {"{\"asset\":\"analytics.public.orders\",\"privilege\":\"read\"}", "justification"},
        {"{\"asset\":\"analytics.public.v_orders\",\"privilege\":\"write\",\"justification\":"
         "\"j\"}",
         "view"},
        {"{\"asset\":\"analytics.public\",\"privilege\":\"read\",\"justification\":\"j\"}",
         "tables and views only"},
        {"{\"asset\":\"analytics.public.orders\",\"privilege\":\"read\",\"justification\":\"j\","
         "\"for\":\"mallory\"}",
         "not a snowgate user"},
        {"{\"asset\":\"analytics.public.orders\",\"privilege\":\"read\",\"justification\":\"j\","
         "\"for\":\"dave\"}",
         "snowgate user set dave --db-role"},
        {"{\"privilege\":\"read\",\"justification\":\"j\"}", "\"asset\" is required"},
        {"[1,2]", "JSON object"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sg_json *j = NULL;
        long st = call(bob, "POST", "/api/v1/requests", bad[i].body, &j);
        if (st != 400 || !strstr(message(j), bad[i].msg))
            fail_msg("case %zu: %ld %s", i, st, message(j));
        sg_json_decref(j);
    }
    sg_json *j = NULL;
    assert_int_equal(call(NULL, "POST", "/api/v1/requests", "{}", &j), 401);
    sg_json_decref(j);
    assert_int_equal(call(bob, "GET", "/api/v1/requests?state=bogus", NULL, &j), 400);
    sg_json_decref(j);
    assert_int_equal(call(bob, "GET", "/api/v1/requests/0123", NULL, &j), 404);
    sg_json_decref(j);
    /* Nothing was stored by any of the refusals. */
    assert_int_equal(call(alice, "GET", "/api/v1/requests", NULL, &j), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "items")), 0);
    sg_json_decref(j);
}

static void test_approve_conflict_cancel(void **state)
{
    (void)state;
    /* On the manual connection, so nothing fulfils it meanwhile: a request being fulfilled
     * cannot be cancelled (test_gate_postgres covers that). */
    char *id = create(bob, "{\"asset\":\"crm.orders\",\"privilege\":\"read\","
                           "\"justification\":\"Q3 revenue report\",\"duration\":\"PT8H\"}");
    char path[128];
    sg_json *j = NULL;
    /* One open request per person, asset and access. */
    assert_int_equal(call(bob, "POST", "/api/v1/requests",
                          "{\"asset\":\"crm.orders\",\"privilege\":\"read\","
                          "\"justification\":\"again\"}",
                          &j),
                     409);
    assert_non_null(strstr(message(j), id));
    sg_json_decref(j);
    /* Visibility: requester, owner, steward, admin; not another member. */
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    assert_int_equal(call(bob, "GET", path, NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "duration"), "PT8H");
    assert_string_equal(sg_json_get_str(j, "for"), "bob");
    assert_int_equal(sg_json_array_size(sg_json_get(j, "privileges")), 1);
    assert_int_equal(sg_json_typeof(sg_json_get(j, "servicenow")), SG_JSON_NULL);
    sg_json_decref(j);
    ok(carol, "GET", path, NULL, 200);
    ok(sam, "GET", path, NULL, 200);
    ok(dave, "GET", path, NULL, 404);
    assert_int_equal(call(dave, "GET", "/api/v1/requests", NULL, &j), 200);
    assert_false(listed(j, id));
    sg_json_decref(j);
    assert_int_equal(call(dave, "GET", "/api/v1/inbox", NULL, &j), 200);
    assert_false(listed(j, id));
    sg_json_decref(j);
    assert_int_equal(call(bob, "GET", "/api/v1/inbox", NULL, &j), 200);
    assert_false(listed(j, id)); /* one's own request is never in one's inbox */
    sg_json_decref(j);
    assert_int_equal(call(carol, "GET", "/api/v1/inbox", NULL, &j), 200);
    assert_true(listed(j, id));
    sg_json_decref(j);
    /* Who may decide. */
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    assert_int_equal(call(bob, "POST", path, NULL, &j), 403);
    assert_non_null(strstr(message(j), "cannot decide a request you made"));
    sg_json_decref(j);
    ok(dave, "POST", path, NULL, 404);
    ok(carol, "POST", path, "{\"comment\":5}", 400);
    ok(carol, "POST", path, "not json", 400);
    /* The owner approves: the first decision. */
    assert_int_equal(call(carol, "POST", path, "{\"comment\":\"ok for Q3\"}", &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "approved");
    assert_string_equal(sg_json_get_str(j, "decided_by"), "carol");
    assert_string_equal(sg_json_get_str(j, "decision_comment"), "ok for Q3");
    sg_json_decref(j);
    /* A later, different decision is recorded and not applied. */
    snprintf(path, sizeof(path), "/api/v1/requests/%s/reject", id);
    assert_int_equal(call(sam, "POST", path, "{\"comment\":\"too broad\"}", &j), 409);
    assert_non_null(strstr(message(j), "recorded as a conflict"));
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    assert_int_equal(call(alice, "POST", path, NULL, &j), 409);
    assert_non_null(strstr(message(j), "already approved by carol"));
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    assert_int_equal(call(bob, "GET", path, NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "approved");
    sg_json *h = sg_json_get(j, "history");
    assert_int_equal(sg_json_array_size(h), 3);
    assert_string_equal(sg_json_get_str(sg_json_array_get(h, 0), "to"), "pending");
    assert_string_equal(sg_json_get_str(sg_json_array_get(h, 1), "to"), "approved");
    assert_string_equal(sg_json_get_str(sg_json_array_get(h, 2), "event"), "conflict");
    assert_string_equal(sg_json_get_str(sg_json_array_get(h, 2), "actor"), "sam");
    sg_json_decref(j);
    /* Cancellation: not by a stranger, yes by the requester, and only once. */
    snprintf(path, sizeof(path), "/api/v1/requests/%s/cancel", id);
    ok(carol, "POST", path, NULL, 403);
    ok(bob, "POST", path, "{\"comment\":\"report dropped\"}", 200);
    assert_int_equal(call(bob, "POST", path, NULL, &j), 409);
    assert_non_null(strstr(message(j), "is cancelled"));
    sg_json_decref(j);
    assert_int_equal(call(bob, "GET", "/api/v1/requests?state=cancelled", NULL, &j), 200);
    assert_true(listed(j, id));
    sg_json_decref(j);
    /* The audit log tells the story; only admins read it. */
    ok(bob, "GET", "/api/v1/audit", NULL, 403);
    ok(alice, "GET", "/api/v1/audit?limit=0", NULL, 400);
    assert_int_equal(call(alice, "GET", "/api/v1/audit?limit=5", NULL, &j), 200);
    sg_json *items = sg_json_get(j, "items");
    assert_int_equal(sg_json_array_size(items), 5);
    static const char *const want[] = {"request.cancelled", "request.decision_conflict",
                                       "request.approved", "request.created"};
    for (size_t i = 0; i < 4; i++) {
        sg_json *e = sg_json_array_get(items, i);
        assert_string_equal(sg_json_get_str(e, "action"), want[i]);
        assert_string_equal(sg_json_get_str(e, "subject"), id);
    }
    assert_string_equal(
        sg_json_get_str(sg_json_get(sg_json_array_get(items, 3), "detail"), "asset"), "crm.orders");
    sg_json_decref(j);
    /* A new request for the same access is allowed once the old one is closed. */
    free(create(bob, "{\"asset\":\"crm.orders\",\"privilege\":\"read\","
                     "\"justification\":\"Q3 revenue report, take two\"}"));
    free(id);
    /* The chain verifies. */
    const char *argv[] = {
        SG_BUILD_DIR "/snowgate", "audit", "verify", "--data", dir, "--store", store, NULL};
    assert_int_equal(h_run(argv, NULL, 20000, NULL, NULL), 0);
}

static void test_reject_and_for_someone_else(void **state)
{
    (void)state;
    char *id = create(bob, "{\"asset\":\"crm.accounts\",\"privilege\":\"write\","
                           "\"justification\":\"fix duplicates\"}");
    char path[128];
    sg_json *j = NULL;
    snprintf(path, sizeof(path), "/api/v1/requests/%s/reject", id);
    assert_int_equal(call(alice, "POST", path, "{\"comment\":\"use the dedupe tool\"}", &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "rejected");
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    assert_int_equal(call(sam, "POST", path, NULL, &j), 409);
    assert_non_null(strstr(message(j), "recorded as a conflict"));
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/cancel", id);
    ok(bob, "POST", path, NULL, 409);
    free(id);
    /* bob asks for carol; carol owns the asset but cannot approve access for herself. */
    id = create(bob, "{\"asset\":\"analytics.public.orders\",\"privilege\":\"write\","
                     "\"justification\":\"backfill\",\"for\":\"carol\"}");
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    ok(carol, "POST", path, NULL, 403);
    assert_int_equal(call(carol, "GET", "/api/v1/inbox", NULL, &j), 200);
    assert_false(listed(j, id));
    sg_json_decref(j);
    assert_int_equal(call(sam, "POST", path, NULL, &j), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "privileges")), 4);
    sg_json_decref(j);
    /* Nothing is fulfilled yet, so no grant is in force. */
    assert_int_equal(call(alice, "GET", "/api/v1/grants", NULL, &j), 200);
    assert_false(listed(j, id));
    sg_json_decref(j);
    free(id);
}

/* Polls GET path until state is want (the worker runs every second; the deadline is generous
 * for a slow machine and is not a timing assertion). */
static sg_json *wait_state(const char *who, const char *path, const char *want)
{
    for (int i = 0; i < 1200; i++) {
        sg_json *j = NULL;
        assert_int_equal(call(who, "GET", path, NULL, &j), 200);
        if (strcmp(sg_json_get_str(j, "state"), want) == 0)
            return j;
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    fail_msg("%s never became %s", path, want);
    return NULL;
}

static void test_manual_fulfilment_and_expiry(void **state)
{
    (void)state;
    char *id = create(bob, "{\"asset\":\"crm.accounts\",\"privilege\":\"read\","
                           "\"justification\":\"audit sample\",\"duration\":\"PT2S\"}");
    char path[128], get[128];
    snprintf(get, sizeof(get), "/api/v1/requests/%s", id);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/done", id);
    sg_json *j = NULL;
    /* Only approved requests are marked done, and only by those who decide. */
    assert_int_equal(call(sam, "POST", path, NULL, &j), 409);
    assert_non_null(strstr(message(j), "only approved requests"));
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    ok(sam, "POST", path, "{\"comment\":\"fine\"}", 200);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/done", id);
    ok(bob, "POST", path, NULL, 403);
    /* The fulfil job ran and left the request for a person (manual connection). */
    assert_int_equal(call(alice, "GET", "/api/v1/jobs?state=done", NULL, &j), 200);
    sg_json_decref(j);
    assert_int_equal(call(sam, "POST", path, "{\"comment\":\"added to the CRM group\"}", &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "fulfilled");
    assert_non_null(sg_json_get_str(j, "expires_at"));
    assert_string_equal(sg_json_get_str(sg_json_get(j, "grant"), "for"), "bob");
    sg_json_decref(j);
    ok(sam, "POST", path, NULL, 409); /* once */
    /* snowgate is down when the grant runs out; at start it applies the expiry and says who
     * must remove the access. */
    assert_int_equal(h_stop(&gate, SIGTERM, 30000), 0);
    struct timespec t = {2, 500 * 1000 * 1000};
    nanosleep(&t, NULL);
    spawn();
    j = wait_state(bob, get, "expired");
    sg_json *h = sg_json_get(j, "history");
    sg_json *last = sg_json_array_get(h, sg_json_array_size(h) - 1);
    assert_string_equal(sg_json_get_str(last, "actor"), "snowgate");
    assert_non_null(strstr(sg_json_get_str(last, "note"), "remove bob's access to crm.accounts"));
    assert_int_equal(sg_json_typeof(sg_json_get(j, "grant")), SG_JSON_NULL);
    sg_json_decref(j);
    assert_int_equal(call(bob, "GET", "/api/v1/grants", NULL, &j), 200);
    assert_false(listed(j, id));
    sg_json_decref(j);
    free(id);
}

static void test_revoke_ends_grants(void **state)
{
    (void)state;
    char path[128];
    char *grant = create(dave, "{\"asset\":\"crm.accounts\",\"privilege\":\"write\","
                               "\"justification\":\"cleanup\"}");
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", grant);
    ok(alice, "POST", path, NULL, 200);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/done", grant);
    ok(alice, "POST", path, NULL, 200);
    sg_json *j = NULL;
    assert_int_equal(call(dave, "GET", "/api/v1/grants", NULL, &j), 200);
    assert_true(listed(j, grant));
    sg_json_decref(j);
    /* Someone else cannot see dave's grants; an admin can. */
    assert_int_equal(call(bob, "GET", "/api/v1/grants", NULL, &j), 200);
    assert_false(listed(j, grant));
    sg_json_decref(j);
    char *revoke = create(sam, "{\"asset\":\"crm.accounts\",\"action\":\"revoke\","
                               "\"privilege\":\"write\",\"justification\":\"left the "
                               "team\",\"for\":\"dave\"}");
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", revoke);
    ok(alice, "POST", path, NULL, 200);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/done", revoke);
    ok(alice, "POST", path, NULL, 200);
    snprintf(path, sizeof(path), "/api/v1/requests/%s", grant);
    assert_int_equal(call(dave, "GET", path, NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "revoked");
    sg_json_decref(j);
    /* A fulfilled grant cannot be cancelled; it is revoked instead. */
    snprintf(path, sizeof(path), "/api/v1/requests/%s/cancel", revoke);
    assert_int_equal(call(sam, "POST", path, NULL, &j), 409);
    sg_json_decref(j);
    free(grant);
    free(revoke);
}

/* Who may cancel. A revoke: its requester or an admin, never the person losing the access
 * (who could otherwise cancel every revoke raised against him). A grant: also the person it
 * is for, who only gives up their own access. */
static void test_who_may_cancel(void **state)
{
    (void)state;
    char path[128];
    char *grant = create(alice, "{\"asset\":\"crm.accounts\",\"privilege\":\"read\","
                                "\"justification\":\"crm cleanup\",\"for\":\"dave\"}");
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", grant);
    ok(sam, "POST", path, NULL, 200);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/done", grant);
    ok(sam, "POST", path, NULL, 200);
    /* sam raises a revoke for dave; dave may see it, not cancel it, from either state. */
    char *revoke = create(sam, "{\"asset\":\"crm.accounts\",\"action\":\"revoke\","
                               "\"privilege\":\"read\",\"justification\":\"left the "
                               "team\",\"for\":\"dave\"}");
    char cancel[128], get[128];
    snprintf(cancel, sizeof(cancel), "/api/v1/requests/%s/cancel", revoke);
    snprintf(get, sizeof(get), "/api/v1/requests/%s", revoke);
    sg_json *j = NULL;
    assert_int_equal(call(dave, "POST", cancel, "{\"comment\":\"no\"}", &j), 403);
    assert_non_null(strstr(message(j), "only the requester or an admin can cancel a revoke"));
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", revoke);
    ok(alice, "POST", path, NULL, 200);
    ok(dave, "POST", cancel, NULL, 403);
    assert_int_equal(call(dave, "GET", get, NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "approved");
    sg_json_decref(j);
    /* Its requester may; so may an admin (another revoke). */
    ok(sam, "POST", cancel, NULL, 200);
    free(revoke);
    revoke = create(bob, "{\"asset\":\"crm.accounts\",\"action\":\"revoke\","
                         "\"privilege\":\"read\",\"justification\":\"audit finding\","
                         "\"for\":\"dave\"}");
    snprintf(cancel, sizeof(cancel), "/api/v1/requests/%s/cancel", revoke);
    ok(dave, "POST", cancel, NULL, 403);
    ok(alice, "POST", cancel, NULL, 200);
    /* A grant raised for dave: he may withdraw it. */
    char *other = create(bob, "{\"asset\":\"crm.accounts\",\"privilege\":\"write\","
                              "\"justification\":\"crm import\",\"for\":\"dave\"}");
    snprintf(cancel, sizeof(cancel), "/api/v1/requests/%s/cancel", other);
    ok(dave, "POST", cancel, NULL, 200);
    /* dave still holds his grant: nothing he did took it back or kept it. */
    snprintf(path, sizeof(path), "/api/v1/requests/%s", grant);
    assert_int_equal(call(dave, "GET", path, NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "fulfilled");
    sg_json_decref(j);
    free(grant);
    free(revoke);
    free(other);
}

/* The database is down: the fulfil job fails with the reason and waits to retry. */
static void test_unreachable_database_is_visible(void **state)
{
    (void)state;
    char *id = create(bob, "{\"asset\":\"analytics.public.orders\",\"privilege\":\"read\","
                           "\"justification\":\"report\"}");
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    ok(carol, "POST", path, NULL, 200);
    /* The fulfil job fails with the reason and waits to retry; admins see it queued. */
    for (int i = 0; i < 1200; i++) {
        sg_json *j = NULL;
        assert_int_equal(call(alice, "GET", "/api/v1/jobs?state=queued", NULL, &j), 200);
        sg_json *items = sg_json_get(j, "items");
        const char *err = sg_json_array_size(items)
                              ? sg_json_get_str(sg_json_array_get(items, 0), "last_error")
                              : NULL;
        bool seen = err && strstr(err, "cannot connect to the database of connection "
                                       "'analytics'");
        sg_json_decref(j);
        if (seen)
            break;
        if (i == 1199)
            fail_msg("the fulfil job never reported its reason");
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    /* Marking it done by hand is refused: snowgate owns postgres fulfilment. */
    snprintf(path, sizeof(path), "/api/v1/requests/%s/done", id);
    sg_json *j = NULL;
    assert_int_equal(call(carol, "POST", path, NULL, &j), 409);
    assert_non_null(strstr(message(j), "fulfils itself"));
    sg_json_decref(j);
    free(id);
}

/* ---- a webhook connector's receiver, in this process ---- */

#define HOOK_SECRET "whsec_c25vd2dhdGUtdGVzdC1yZWNlaXZlci1rZXk="

typedef struct hook {
    char id[128], body[2048];
    bool verified;
} hook;

static pthread_mutex_t hooks_mu = PTHREAD_MUTEX_INITIALIZER;
static hook hooks[16];
static int nhooks, fail_next; /* fail_next: answer 503 that many times first */

static int on_hook(sg_http_req *req, void *app)
{
    (void)app;
    size_t len = 0;
    const char *b = sg_http_body(req, &len);
    pthread_mutex_lock(&hooks_mu);
    if (fail_next > 0) {
        fail_next--;
        pthread_mutex_unlock(&hooks_mu);
        sg_http_set_header(req, "Retry-After", "1");
        return sg_http_reply(req, 503, "application/json", "{}", 2);
    }
    if (nhooks < 16) {
        hook *h = &hooks[nhooks++];
        const char *id = sg_http_header(req, "webhook-id");
        snprintf(h->id, sizeof(h->id), "%s", id ? id : "");
        snprintf(h->body, sizeof(h->body), "%.*s", (int)len, b);
        h->verified =
            sg_webhook_sig_verify(HOOK_SECRET, id, sg_http_header(req, "webhook-timestamp"),
                                  sg_http_header(req, "webhook-signature"), b, len,
                                  (int64_t)time(NULL)) == SG_OK;
    }
    pthread_mutex_unlock(&hooks_mu);
    return sg_http_reply(req, 204, NULL, NULL, 0);
}

static const sg_http_route hook_routes[] = {{"POST", "/grants", on_hook, 0}, {0}};

static void test_webhook_connector(void **state)
{
    (void)state;
    sg_http_server_opts o = SG_HTTP_SERVER_OPTS_INIT;
    o.routes = hook_routes;
    sg_http_server *receiver = NULL;
    assert_int_equal(sg_http_server_start(&o, &receiver), SG_OK);
    pthread_mutex_lock(&hooks_mu);
    nhooks = 0;
    fail_next = 1;
    pthread_mutex_unlock(&hooks_mu);
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"tickets\",\"kind\":\"webhook\",\"url\":\"http://127.0.0.1:%u/"
             "grants\",\"secret\":\"" HOOK_SECRET "\"}",
             sg_http_server_port(receiver));
    ok(alice, "POST", "/api/v1/connections", body, 201);
    ok(alice, "POST", "/api/v1/assets",
       "{\"name\":\"tickets.open\",\"type\":\"dataset\",\"connection\":\"tickets\"}", 201);
    /* bob reads the tickets for good; then writes for three seconds. */
    char path[128], get[128];
    char *read = create(bob, "{\"asset\":\"tickets.open\",\"privilege\":\"read\","
                             "\"justification\":\"on call\"}");
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", read);
    ok(sam, "POST", path, NULL, 200);
    snprintf(get, sizeof(get), "/api/v1/requests/%s", read);
    sg_json_decref(wait_state(bob, get, "fulfilled"));
    char *id = create(bob, "{\"asset\":\"tickets.open\",\"privilege\":\"write\","
                           "\"justification\":\"triage rota\",\"duration\":\"PT3S\"}");
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    ok(sam, "POST", path, NULL, 200);
    /* The receiver first answers 503 with Retry-After; the retry delivers it. */
    snprintf(get, sizeof(get), "/api/v1/requests/%s", id);
    sg_json *j = wait_state(bob, get, "fulfilled");
    assert_non_null(sg_json_get_str(j, "expires_at"));
    sg_json_decref(j);
    /* At expiry the receiver is told to revoke. */
    j = wait_state(bob, get, "expired");
    sg_json_decref(j);
    sg_http_server_stop(receiver, 1000);
    pthread_mutex_lock(&hooks_mu);
    assert_int_equal(nhooks, 3);
    char want[96];
    snprintf(want, sizeof(want), "%s:fulfil", id);
    assert_string_equal(hooks[1].id, want);
    assert_true(hooks[1].verified);
    sg_json *ev = NULL;
    assert_int_equal(sg_json_parse(hooks[1].body, strlen(hooks[1].body), 0, 0, &ev), SG_OK);
    assert_string_equal(sg_json_get_str(ev, "type"), "access.grant");
    assert_string_equal(sg_json_get_str(ev, "for"), "bob");
    assert_string_equal(sg_json_get_str(ev, "asset"), "tickets.open");
    assert_int_equal(sg_json_array_size(sg_json_get(ev, "privileges")), 4);
    sg_json_decref(ev);
    /* The expiry takes away only what the read grant does not still give: not SELECT. */
    snprintf(want, sizeof(want), "%s:expire", id);
    assert_string_equal(hooks[2].id, want);
    assert_true(hooks[2].verified);
    assert_int_equal(sg_json_parse(hooks[2].body, strlen(hooks[2].body), 0, 0, &ev), SG_OK);
    assert_string_equal(sg_json_get_str(ev, "type"), "access.revoke");
    sg_json *privs = sg_json_get(ev, "privileges");
    assert_int_equal(sg_json_array_size(privs), 3);
    for (size_t i = 0; i < sg_json_array_size(privs); i++)
        assert_string_not_equal(sg_json_str(sg_json_array_get(privs, i)), "SELECT");
    sg_json_decref(ev);
    pthread_mutex_unlock(&hooks_mu);
    free(id);
    free(read);
}

static void test_jobs_endpoints(void **state)
{
    (void)state;
    sg_json *j = NULL;
    ok(bob, "GET", "/api/v1/jobs?state=dead", NULL, 403);
    assert_int_equal(call(alice, "GET", "/api/v1/jobs?state=dead", NULL, &j), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "items")), 0);
    sg_json_decref(j);
    ok(alice, "GET", "/api/v1/jobs?state=zombie", NULL, 400);
    /* The counts by state: every state, zero included; admins only. */
    ok(bob, "GET", "/api/v1/jobs/summary", NULL, 403);
    assert_int_equal(call(alice, "GET", "/api/v1/jobs/summary", NULL, &j), 200);
    sg_json *by = sg_json_get(j, "by_state");
    int64_t n = -1, total = -1, sum = 0;
    static const char *const states[] = {"queued", "running", "done", "dead"};
    for (size_t i = 0; i < 4; i++) {
        assert_true(sg_json_get_int(by, states[i], &n));
        assert_true(n >= 0);
        sum += n;
    }
    assert_true(sg_json_get_int(by, "dead", &n));
    assert_int_equal(n, 0);
    assert_true(sg_json_get_int(j, "total", &total));
    assert_int_equal(total, sum);
    sg_json_decref(j);
    ok(bob, "POST", "/api/v1/jobs/abc/replay", NULL, 403);
    assert_int_equal(call(alice, "POST", "/api/v1/jobs/abc/replay", NULL, &j), 404);
    assert_non_null(strstr(message(j), "only dead jobs"));
    sg_json_decref(j);
}

static int64_t count_of(sg_json *summary, const char *state)
{
    int64_t n = -1;
    sg_json_get_int(sg_json_get(summary, "by_state"), state, &n);
    return n;
}

/* Pages: newest first, `next` until the last, nothing repeated or lost even when requests
 * arrive between pages (a new one shows up if it sorts after the cursor); `mine`; bad paging
 * parameters; and the summary's counts, kept by the store as requests move. */
static void test_pages_and_summary(void **state)
{
    (void)state;
    static const char *const made[7][4] = {
        /* by, asset, privilege, for */
        {"bob", "analytics.public.orders", "read", "bob"},
        {"bob", "analytics.public.orders", "write", "bob"},
        {"bob", "analytics.public.v_orders", "read", "bob"},
        {"bob", "crm.accounts", "read", "bob"},
        {"alice", "crm.accounts", "read", "carol"},
        {"alice", "crm.accounts", "write", "carol"},
        {"alice", "crm.accounts", "read", "dave"},
    };
    char *ids[7];
    for (int i = 0; i < 7; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"asset\":\"%s\",\"privilege\":\"%s\",\"justification\":\"page %d\","
                 "\"for\":\"%s\"}",
                 made[i][1], made[i][2], i, made[i][3]);
        ids[i] = create(strcmp(made[i][0], "bob") == 0 ? bob : alice, body);
    }
    /* sam (steward) pages through all seven, three at a time: each once, newest first by
     * (created_at, id). */
    char path[256] = "/api/v1/requests?limit=3";
    int seen = 0, pages = 0, hits[7] = {0};
    char prev[80] = "";
    for (;;) {
        sg_json *j = NULL;
        assert_int_equal(call(sam, "GET", path, NULL, &j), 200);
        sg_json *items = sg_json_get(j, "items");
        assert_true(sg_json_array_size(items) <= 3);
        for (size_t i = 0; i < sg_json_array_size(items); i++) {
            sg_json *it = sg_json_array_get(items, i);
            char key[80];
            snprintf(key, sizeof(key), "%s~%s", sg_json_get_str(it, "created_at"),
                     sg_json_get_str(it, "id"));
            assert_true(!prev[0] || strcmp(key, prev) < 0);
            snprintf(prev, sizeof(prev), "%s", key);
            for (int k = 0; k < 7; k++)
                hits[k] += strcmp(sg_json_get_str(it, "id"), ids[k]) == 0;
            seen++;
        }
        pages++;
        const char *next = sg_json_get_str(j, "next");
        if (pages == 1) /* one arriving between pages does not shift the next page */
            free(create(bob, "{\"asset\":\"crm.accounts\",\"privilege\":\"write\","
                             "\"justification\":\"late\"}"));
        if (!next) {
            sg_json_decref(j);
            break;
        }
        char *esc = sg_http_escape(next);
        snprintf(path, sizeof(path), "/api/v1/requests?limit=3&after=%s", esc);
        free(esc);
        sg_json_decref(j);
    }
    for (int k = 0; k < 7; k++)
        assert_int_equal(hits[k], 1);
    /* The late one sorts by its (created_at, id): after the cursor or before it. */
    assert_true(seen == 7 || seen == 8);
    assert_true(pages == 3);
    /* mine: what dave asked for or is for him, whoever the caller can see. */
    sg_json *j = NULL;
    assert_int_equal(call(dave, "GET", "/api/v1/requests?mine=true", NULL, &j), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "items")), 1);
    assert_true(sg_json_typeof(sg_json_get(j, "next")) == SG_JSON_NULL);
    sg_json_decref(j);
    /* Bad paging: clear errors. */
    assert_int_equal(call(sam, "GET", "/api/v1/requests?limit=0", NULL, &j), 400);
    assert_non_null(strstr(message(j), "limit must be a number from 1 to 500"));
    sg_json_decref(j);
    assert_int_equal(call(sam, "GET", "/api/v1/requests?after=x%27%3B--", NULL, &j), 400);
    assert_non_null(strstr(message(j), "after must be the \"next\" value"));
    sg_json_decref(j);
    assert_int_equal(call(sam, "GET", "/api/v1/requests?mine=perhaps", NULL, &j), 400);
    sg_json_decref(j);
    /* The summary: for stewards and admins; counts move with the requests. */
    ok(bob, "GET", "/api/v1/requests/summary", NULL, 403);
    assert_int_equal(call(sam, "GET", "/api/v1/requests/summary", NULL, &j), 200);
    int64_t pending = count_of(j, "pending"), total = 0;
    sg_json_get_int(j, "total", &total);
    assert_int_equal(pending, 8);
    assert_int_equal(total, 8);
    assert_int_equal(count_of(j, "fulfilled"), 0);
    int64_t linked = -1;
    sg_json_get_int(j, "linked_to_servicenow", &linked);
    assert_int_equal(linked, 0);
    sg_json_decref(j);
    char dp[128];
    snprintf(dp, sizeof(dp), "/api/v1/requests/%s/reject", ids[0]);
    ok(sam, "POST", dp, "{\"comment\":\"no\"}", 200);
    snprintf(dp, sizeof(dp), "/api/v1/requests/%s/cancel", ids[1]);
    ok(bob, "POST", dp, "{}", 200);
    assert_int_equal(call(alice, "GET", "/api/v1/requests/summary", NULL, &j), 200);
    assert_int_equal(count_of(j, "pending"), 6);
    assert_int_equal(count_of(j, "rejected"), 1);
    assert_int_equal(count_of(j, "cancelled"), 1);
    sg_json_get_int(j, "total", &total);
    assert_int_equal(total, 8);
    sg_json_decref(j);
    for (int i = 0; i < 7; i++)
        free(ids[i]);
}

/* Posts body to path with exactly the given Content-Type header line (NULL: none at all). */
static long post_as(const char *who, const char *path, const char *content_type, const char *body,
                    sg_http_response *r)
{
    char *url = sg_xasprintf("%s%s", gate.url, path);
    /* "Content-Type:" with no value stops libcurl from adding its form type. */
    const char *h[] = {content_type ? content_type : "Content-Type:", "Accept: application/json",
                       who, NULL};
    assert_int_equal(h_http("POST", url, h, body, r), SG_OK);
    free(url);
    return r->status;
}

/* Login CSRF: a page on any site can post a form to /api/v1/session (enctype text/plain
 * makes its body JSON-shaped) and sign the victim in as the attacker. Browsers cannot send
 * application/json cross-site without asking, so every JSON route insists on it: 415. */
static void test_json_routes_need_json_type(void **state)
{
    (void)state;
    const char *argv[] = {
        SG_BUILD_DIR "/snowgate", "user", "passwd", "bob", "--data", dir, "--store", store, NULL};
    assert_int_equal(h_run_input(argv, NULL, "bob-Password1\n", 30000, NULL, NULL), 0);
    /* What <form enctype="text/plain"> with an input named '{"name":"bob","password":"bob-
     * Password1","x":"' and the value '"}' sends. */
    const char *form = "{\"name\":\"bob\",\"password\":\"bob-Password1\",\"x\":\"=\"}";
    static const char *const refused[] = {
        "Content-Type: text/plain",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Type: application/x-www-form-urlencoded",
        "Content-Type: multipart/form-data; boundary=x",
        "Content-Type: application/jsonp",
        "Content-Type: application/json-seq",
        "Content-Type: text/json",
        NULL, /* none at all */
    };
    sg_http_response r;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        long st = post_as(NULL, "/api/v1/session", refused[i], form, &r);
        if (st != 415 || sg_http_response_header(&r, "Set-Cookie") ||
            !strstr(sg_buf_str(&r.body), "Content-Type: application/json") ||
            !strstr(sg_buf_str(&r.body), "unsupported_media_type"))
            fail_msg("case %zu (%s): %ld %s", i, refused[i] ? refused[i] : "none", st,
                     sg_buf_str(&r.body));
        sg_http_response_free(&r);
    }
    /* JSON, in any case and with parameters, signs in. */
    static const char *const accepted[] = {
        "Content-Type: application/json",
        "Content-Type: application/json; charset=utf-8",
        "Content-Type: Application/JSON;charset=UTF-8",
    };
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        long st = post_as(NULL, "/api/v1/session", accepted[i], form, &r);
        if (st != 200 || !sg_http_response_header(&r, "Set-Cookie"))
            fail_msg("case %s: %ld %s", accepted[i], st, sg_buf_str(&r.body));
        sg_http_response_free(&r);
    }
    /* Every other route that takes a JSON body, and nothing is stored. */
    static const char *const paths[] = {"/api/v1/requests", "/api/v1/assets",
                                        "/api/v1/connections"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        assert_int_equal(post_as(alice, paths[i], "Content-Type: text/plain",
                                 "{\"asset\":\"analytics.public.orders\",\"privilege\":"
                                 "\"read\",\"justification\":\"j\"}",
                                 &r),
                         415);
        sg_http_response_free(&r);
    }
    sg_json *j = NULL;
    assert_int_equal(call(alice, "GET", "/api/v1/requests", NULL, &j), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "items")), 0);
    sg_json_decref(j);
    /* A decision's body is optional: none at all is fine, a non-JSON one is not. */
    char *id = create(bob, "{\"asset\":\"analytics.public.orders\",\"privilege\":\"read\","
                           "\"justification\":\"j\"}");
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s/reject", id);
    assert_int_equal(post_as(sam, path, "Content-Type: text/plain", "{\"comment\":\"no\"}", &r),
                     415);
    sg_http_response_free(&r);
    assert_int_equal(post_as(sam, path, NULL, NULL, &r), 200);
    sg_http_response_free(&r);
    free(id);
}

static int exec_tx(sg_conn *c, void *ctx)
{
    int rc = SG_OK;
    for (const char *const *sql = ctx; rc == SG_OK && *sql; sql++)
        rc = sg_conn_exec(c, *sql, NULL, 0, NULL);
    return rc;
}

/* Runs statements (NULL-terminated) in one transaction on snowgate's store, behind the
 * server's back. Opening a store makes an empty schema_migrations when there is none. */
static void in_store(const char *const *sql)
{
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = store;
    o.migrate = false;
    o.pool_size = 1;
    sg_store *st = NULL;
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    assert_int_equal(sg_store_tx(st, exec_tx, (void *)sql), SG_OK);
    sg_store_close(st);
}

static int count_tx(sg_conn *c, void *ctx)
{
    void **x = ctx;
    return sg_conn_query_int(c, x[0], NULL, 0, x[1]);
}

/* One number from snowgate's store, read behind the server's back. */
static int64_t count_in_store(const char *sql)
{
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = store;
    o.migrate = false;
    o.pool_size = 1;
    sg_store *st = NULL;
    assert_int_equal(sg_store_open(&o, &st), SG_OK);
    int64_t n = -1;
    void *x[] = {(void *)sql, &n};
    assert_int_equal(sg_store_read(st, count_tx, x), SG_OK);
    sg_store_close(st);
    return n;
}

/* A revoke ends every grant it covers, however many: here 70 fulfilled grants of dave's on one
 * asset (69 of them copied in behind the server's back), where it used to stop at 64. */
static void test_revoke_ends_every_grant(void **state)
{
    (void)state;
    char path[128];
    char *grant = create(dave, "{\"asset\":\"crm.accounts\",\"privilege\":\"read\","
                               "\"justification\":\"quarterly figures\"}");
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", grant);
    ok(alice, "POST", path, NULL, 200);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/done", grant);
    ok(alice, "POST", path, NULL, 200);
    char *sql[71];
    for (int i = 0; i < 69; i++)
        sql[i] = sg_xasprintf(
            "INSERT INTO requests (id, asset_id, action, privilege, justification, duration, "
            "duration_s, requester, beneficiary, state, created_at, updated_at) SELECT "
            "'copy%028d', asset_id, action, privilege, justification, duration, duration_s, "
            "requester, beneficiary, state, created_at, updated_at FROM requests WHERE id = '%s'",
            i, grant);
    sql[69] = NULL;
    in_store((const char *const *)sql);
    for (int i = 0; i < 69; i++)
        free(sql[i]);
    assert_int_equal(count_in_store("SELECT COUNT(*) FROM requests WHERE beneficiary = 'dave' "
                                    "AND action = 'grant' AND state = 'fulfilled'"),
                     70);
    char *revoke = create(sam, "{\"asset\":\"crm.accounts\",\"action\":\"revoke\","
                               "\"privilege\":\"read\",\"justification\":\"left the "
                               "team\",\"for\":\"dave\"}");
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", revoke);
    ok(alice, "POST", path, NULL, 200);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/done", revoke);
    ok(alice, "POST", path, NULL, 200);
    assert_int_equal(count_in_store("SELECT COUNT(*) FROM requests WHERE beneficiary = 'dave' "
                                    "AND action = 'grant' AND state = 'fulfilled'"),
                     0);
    assert_int_equal(count_in_store("SELECT COUNT(*) FROM requests WHERE beneficiary = 'dave' "
                                    "AND action = 'grant' AND state = 'revoked'"),
                     70);
    free(grant);
    free(revoke);
}

/* Values longer than snowgate keeps are refused where they enter, with the limit named, and
 * nothing is stored: never cut short to fail later as "no url" or a decrypt error. */
static void test_values_too_long(void **state)
{
    (void)state;
    char *url = sg_xasprintf("https://hooks.example.com/%01000d", 7);
    char *body = sg_xasprintf("{\"name\":\"longhook\",\"kind\":\"webhook\",\"url\":\"%s\","
                              "\"secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}",
                              url);
    sg_json *j = NULL;
    assert_int_equal(call(alice, "POST", "/api/v1/connections", body, &j), 400);
    assert_non_null(
        strstr(sg_json_get_str(sg_json_get(j, "error"), "message"), "the most is 1000"));
    sg_json_decref(j);
    free(body);
    free(url);
    char *pw = sg_xasprintf("%01001d", 3);
    body = sg_xasprintf("{\"name\":\"longpw\",\"kind\":\"postgres\",\"dsn\":\"host=db.example.com "
                        "dbname=x user=snowgate\",\"password\":\"%s\"}",
                        pw);
    assert_int_equal(call(alice, "POST", "/api/v1/connections", body, &j), 400);
    assert_non_null(strstr(sg_json_get_str(sg_json_get(j, "error"), "message"), "\"password\""));
    sg_json_decref(j);
    free(body);
    free(pw);
    sg_buf owners = SG_BUF_INIT(0);
    for (int i = 0; i < 51; i++)
        sg_buf_printf(&owners, "%s\"u%d\"", i ? "," : "", i);
    body = sg_xasprintf("{\"name\":\"crm.many\",\"type\":\"dataset\",\"connection\":\"desk\","
                        "\"owners\":[%s]}",
                        sg_buf_str(&owners));
    assert_int_equal(call(alice, "POST", "/api/v1/assets", body, &j), 400);
    assert_non_null(strstr(sg_json_get_str(sg_json_get(j, "error"), "message"), "the most is 50"));
    sg_json_decref(j);
    free(body);
    sg_buf_free(&owners);
    assert_int_equal(count_in_store("SELECT COUNT(*) FROM connections WHERE name IN ('longhook', "
                                    "'longpw')"),
                     0);
}

/* /readyz answers anyone, so it says whether the store is ready and no more: the store's error
 * text (which can name internal hosts and addresses) goes to the log only. */
static void test_readyz_keeps_store_errors_in_the_log(void **state)
{
    (void)state;
    const char *const hide[] = {"ALTER TABLE schema_migrations RENAME TO schema_migrations_gone",
                                NULL};
    in_store(hide);
    char *url = sg_xasprintf("%s/readyz", gate.url);
    sg_http_response r;
    assert_int_equal(h_http("GET", url, NULL, NULL, &r), SG_OK);
    free(url);
    assert_int_equal(r.status, 503);
    const char *body = sg_buf_str(&r.body);
    sg_json *j = NULL;
    assert_int_equal(sg_json_parse(r.body.data, r.body.len, 0, 0, &j), SG_OK);
    assert_string_equal(sg_json_get_str(j, "status"), "not_ready");
    sg_json *st = sg_json_get(sg_json_get(j, "checks"), "store");
    bool ok = true;
    assert_true(sg_json_get_bool(st, "ok", &ok));
    assert_false(ok);
    assert_non_null(sg_json_get_str(st, "backend"));
    assert_null(sg_json_get(st, "error"));
    if (strstr(body, "schema_migrations") || strstr(body, "relation") || strstr(body, "table"))
        fail_msg("/readyz shows the store's error: %s", body);
    sg_json_decref(j);
    sg_http_response_free(&r);
    /* The log has it, for the operator. */
    sg_buf log = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(gate.log_path, &log), SG_OK);
    const char *line = strstr(sg_buf_str(&log), "not ready: the store failed");
    assert_non_null(line);
    assert_non_null(strstr(line, "schema_migrations"));
    sg_buf_free(&log);
    const char *const restore[] = {"DROP TABLE schema_migrations",
                                   "ALTER TABLE schema_migrations_gone RENAME TO "
                                   "schema_migrations",
                                   NULL};
    in_store(restore);
    assert_int_equal(call(NULL, "GET", "/readyz", NULL, &j), 200);
    sg_json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bad_requests, start, stop),
        cmocka_unit_test_setup_teardown(test_json_routes_need_json_type, start, stop),
        cmocka_unit_test_setup_teardown(test_readyz_keeps_store_errors_in_the_log, start, stop),
        cmocka_unit_test_setup_teardown(test_approve_conflict_cancel, start, stop),
        cmocka_unit_test_setup_teardown(test_reject_and_for_someone_else, start, stop),
        cmocka_unit_test_setup_teardown(test_manual_fulfilment_and_expiry, start, stop),
        cmocka_unit_test_setup_teardown(test_revoke_ends_grants, start, stop),
        cmocka_unit_test_setup_teardown(test_revoke_ends_every_grant, start, stop),
        cmocka_unit_test_setup_teardown(test_values_too_long, start, stop),
        cmocka_unit_test_setup_teardown(test_who_may_cancel, start, stop),
        cmocka_unit_test_setup_teardown(test_unreachable_database_is_visible, start, stop),
        cmocka_unit_test_setup_teardown(test_webhook_connector, start, stop),
        cmocka_unit_test_setup_teardown(test_jobs_endpoints, start, stop),
        cmocka_unit_test_setup_teardown(test_pages_and_summary, start, stop),
    };
    /* SG_TEST_FILTER=test_name (cmocka's wildcards) runs only the cases it matches. */
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
