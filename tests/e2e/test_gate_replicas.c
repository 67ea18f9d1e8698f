/* End to end: three snowgate replicas on one PostgreSQL store, behind no load balancer but
 * the test itself, which spreads API calls and signed webhooks across them.
 *
 * - One replica is killed with SIGKILL in the middle of a stream of requests, decisions and
 *   webhooks, and stays dead: every request still ends in its right state, every webhook is
 *   stored once, each request has one ServiceNow record and was fulfilled once, and the
 *   database holds exactly the privileges that should be there.
 * - The leader (reconciler, expiry) is killed: another replica takes over, and a decision
 *   whose webhook was lost still arrives through its reconciler.
 * - The webhook signing secret is rotated through one replica: the others, which keep the old
 *   one in memory, follow at once. */
#include "e2e/gate_env.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/webhook_sig.h"
#include "gate/secrets.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPLICAS    3
#define DB_PASSWORD "Grantor-Pw-9"

/* Replica 0 is gate_env's G.gate; 1 and 2 are started here with the same store and key. */
static h_proc reps[REPLICAS];
static char *rep_dirs[REPLICAS];
static bool alive[REPLICAS];
static char sam_h[128];
static char *webhook_secret;

static void pause_ms(unsigned ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000 * 1000};
    nanosleep(&t, NULL);
}

static void spawn_replica(int i)
{
    rep_dirs[i] = h_tmpdir("replica");
    char ini[512], key[512];
    snprintf(ini, sizeof(ini), "%s/snowgate.ini", G.dir);
    snprintf(key, sizeof(key), "%s/master.key", G.dir);
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "serve",
                          "--listen",
                          "127.0.0.1:0",
                          "--data",
                          rep_dirs[i],
                          "--config",
                          ini,
                          "--store",
                          G.store_url,
                          "--master-key",
                          key,
                          "--public-url",
                          G.gate.url,
                          "--allow-insecure-loopback",
                          NULL};
    assert_int_equal(h_spawn_server(argv, NULL, "snowgate", 30000, &reps[i]), SG_OK);
    alive[i] = true;
}

static const h_pg *pg(void)
{
    return h_store_pg();
}

/* The store's database name: the last part of its URL. */
static const char *store_db(void)
{
    return strrchr(G.store_url, '/') + 1;
}

static long call_on(int r, const char *who, const char *method, const char *path, const char *body,
                    sg_json **j)
{
    const char *h[] = {who, NULL};
    return h_call(method, reps[r].url, path, h, body, j, NULL);
}

/* The next live replica after r (round robin). */
static int live_after(int r)
{
    for (int k = 1; k <= REPLICAS; k++)
        if (alive[(r + k) % REPLICAS])
            return (r + k) % REPLICAS;
    fail_msg("no replica is alive");
    return -1;
}

static void kill_replica(int i)
{
    assert_int_equal(h_stop(&reps[i], SIGKILL, 30000), 128 + SIGKILL);
    alive[i] = false;
}

/* Three replicas (0 is G.gate), connected to snowsim, with the postgres connection
 * "warehouse" and asset analytics.sales.batch on the store's own PostgreSQL server; snowsim
 * drops its own webhooks, so the test delivers them. */
static int start(void **state)
{
    (void)state;
    g_start("replicas", NULL);
    g_add_user("sam", "steward", NULL, sam_h);
    g_connected();
    /* The store's server holds the governed database too; each test starts it afresh. */
    static const char *const tables[] = {"batch", NULL};
    h_pg_analytics(pg(), DB_PASSWORD, tables, NULL);
    g_add_warehouse(pg()->port, DB_PASSWORD);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/assets",
                            "{\"name\":\"analytics.sales.batch\",\"type\":\"table\","
                            "\"connection\":\"warehouse\"}",
                            &j),
                     201);
    sg_json_decref(j);
    webhook_secret = g_webhook_secret();
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults",
                              "{\"rules\":[{\"path\":\"/webhooks/\",\"kind\":\"drop\","
                              "\"outbound\":true}]}",
                              200));
    reps[0] = G.gate;
    alive[0] = true;
    for (int i = 1; i < REPLICAS; i++)
        spawn_replica(i);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    /* G.gate is whichever replica 0 was; g_stop stops it if it still runs. */
    for (int i = 1; i < REPLICAS; i++) {
        if (alive[i])
            assert_int_equal(h_stop(&reps[i], SIGTERM, 30000), 0);
        h_rmdir(rep_dirs[i]);
        free(rep_dirs[i]);
        rep_dirs[i] = NULL;
    }
    if (rep_dirs[0]) { /* a survivor took replica 0's place */
        h_rmdir(rep_dirs[0]);
        free(rep_dirs[0]);
        rep_dirs[0] = NULL;
    }
    if (alive[0]) {
        g_stop();
    } else {
        h_sim_stop(&G.sim);
        h_rmdir(G.dir);
        free(G.dir);
        free(G.store_url);
        G.dir = G.store_url = NULL;
    }
    free(webhook_secret);
    webhook_secret = NULL;
    memset(alive, 0, sizeof(alive));
    return 0;
}

/* Delivers a signed sc_request.updated event for the ServiceNow request to replica r, as the
 * business rule would; returns the HTTP status. */
static long deliver(int r, const char *msg_id, const char *sys_id, const char *id)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"type\":\"sc_request.updated\",\"table\":\"sc_request\",\"sys_id\":\"%s\","
             "\"correlation_id\":\"snowgate:%s\"}",
             sys_id, id);
    long st = g_deliver_webhook(reps[r].url, webhook_secret, msg_id, body);
    return st;
}

static char *store_value(const char *sql, const char *param)
{
    const char *p[] = {param};
    return h_pg_value(pg(), store_db(), sql, param ? 1 : 0, p);
}

#define N 12

typedef struct item {
    char user[16], role[32], id[33], sys_id[33], msg[40];
    bool reject, in_servicenow, decided;
} item;

static void test_kill9_one_replica_mid_stream(void **state)
{
    (void)state;
    item it[N];
    memset(it, 0, sizeof(it));
    for (int i = 0; i < N; i++) {
        snprintf(it[i].user, sizeof(it[i].user), "u%d", i);
        snprintf(it[i].role, sizeof(it[i].role), "rep_u%d", i);
        char sql[128], tok[128];
        snprintf(sql, sizeof(sql), "CREATE ROLE %s NOLOGIN; GRANT USAGE ON SCHEMA sales TO %s",
                 it[i].role, it[i].role);
        h_pg_exec(pg(), "analytics", sql);
        g_add_user(it[i].user, "member", it[i].role, tok);
        it[i].reject = i % 4 == 1;
        it[i].in_servicenow = i % 3 != 2;
    }
    /* Requests spread across the replicas; the third dies half-way and stays dead. */
    int r = 0;
    pid_t dead_pid = reps[2].pid;
    for (int i = 0; i < N; i++) {
        if (i == N / 2)
            kill_replica(2);
        r = live_after(r);
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"asset\":\"analytics.sales.batch\",\"privilege\":\"read\",\"justification\":"
                 "\"replicas %d\",\"for\":\"%s\"}",
                 i, it[i].user);
        sg_json *j = NULL;
        assert_int_equal(call_on(r, G.admin_h, "POST", "/api/v1/requests", body, &j), 201);
        snprintf(it[i].id, sizeof(it[i].id), "%s", sg_json_get_str(j, "id"));
        sg_json_decref(j);
    }
    /* Decisions as the records are mirrored: in ServiceNow (its event then delivered to two
     * replicas at once, the same webhook-id twice) or in snowgate's inbox. */
    int undecided = N;
    for (int round = 0; undecided > 0 && round < 2400; round++) {
        for (int i = 0; i < N; i++) {
            item *b = &it[i];
            if (b->decided)
                continue;
            char path[128];
            snprintf(path, sizeof(path), "/api/v1/requests/%s", b->id);
            sg_json *j = NULL;
            r = live_after(r);
            assert_int_equal(call_on(r, G.admin_h, "GET", path, NULL, &j), 200);
            const char *s = sg_json_get_str(sg_json_get(j, "servicenow"), "sys_id");
            if (s)
                snprintf(b->sys_id, sizeof(b->sys_id), "%s", s);
            sg_json_decref(j);
            if (!b->sys_id[0])
                continue;
            if (b->in_servicenow) {
                char admin_id[33];
                g_sn_admin_decides(b->sys_id, b->reject ? "rejected" : "approved", "replicas",
                                   admin_id);
                snprintf(b->msg, sizeof(b->msg), "msg_replicas_%d", i);
                int a = live_after(r), c = live_after(a);
                long s1 = deliver(a, b->msg, b->sys_id, b->id);
                long s2 = deliver(c, b->msg, b->sys_id, b->id);
                /* Accepted by both; stored once (202 for the first, 200 for the copy). */
                assert_true((s1 == 202 && s2 == 200) || (s1 == 200 && s2 == 202) ||
                            (s1 == 202 && s2 == 202 && a == c));
            } else {
                snprintf(path, sizeof(path), "/api/v1/requests/%s/%s", b->id,
                         b->reject ? "reject" : "approve");
                assert_int_equal(
                    call_on(live_after(r), sam_h, "POST", path, "{\"comment\":\"inbox\"}", &j),
                    200);
                sg_json_decref(j);
            }
            b->decided = true;
            undecided--;
        }
        pause_ms(50);
    }
    assert_int_equal(undecided, 0);
    /* The outcome, read through a surviving replica. */
    for (int i = 0; i < N; i++) {
        item *b = &it[i];
        sg_json *j = g_wait_state(b->id, b->reject ? "rejected" : "fulfilled");
        int fulfilled = 0, decided = 0;
        sg_json *h = sg_json_get(j, "history");
        for (size_t k = 0; k < sg_json_array_size(h); k++) {
            const char *to = sg_json_get_str(sg_json_array_get(h, k), "to");
            fulfilled += to && strcmp(to, "fulfilled") == 0;
            decided += to && (strcmp(to, "approved") == 0 || strcmp(to, "rejected") == 0);
        }
        sg_json_decref(j);
        assert_int_equal(fulfilled, b->reject ? 0 : 1);
        assert_int_equal(decided, 1);
        char q[200];
        snprintf(q, sizeof(q), "correlation_id%%3Dsnowgate%%3A%s", b->id);
        assert_int_equal(g_count_in_sn("sc_request", q), 1);
        snprintf(q, sizeof(q), "request%%3D%s", b->sys_id);
        assert_int_equal(g_count_in_sn("sc_req_item", q), 1);
        assert_int_equal(h_pg_has(pg(), "analytics", b->role, "sales.batch", "SELECT"), !b->reject);
        if (b->msg[0]) {
            char *n = store_value("SELECT COUNT(*) FROM webhook_events WHERE id = $1", b->msg);
            assert_string_equal(n, "1");
            free(n);
        }
    }
    /* Nothing left half-done by the dead replica: its leases ran out and were taken over. */
    char *left = NULL, owner[48];
    snprintf(owner, sizeof(owner), "worker-%ld-%%", (long)dead_pid);
    for (int i = 0; i < 600; i++) {
        free(left);
        left = store_value("SELECT COUNT(*) FROM jobs WHERE state = 'running' AND lease_owner "
                           "LIKE $1",
                           owner);
        if (strcmp(left, "0") == 0)
            break;
        pause_ms(100);
    }
    assert_string_equal(left, "0");
    free(left);
    char *dead = store_value("SELECT COUNT(*) FROM jobs WHERE state = 'dead'", NULL);
    assert_string_equal(dead, "0");
    free(dead);
    /* The audit chain is whole, written by three processes. */
    const char *argv[] = {
        SG_BUILD_DIR "/snowgate", "audit", "verify", "--data", G.dir, "--store", G.store_url, NULL};
    sg_buf out = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 30000, &out, NULL), 0);
    assert_non_null(strstr(sg_buf_str(&out), "audit log intact"));
    sg_buf_free(&out);
}

/* Which replica logs that it leads, or -1 while none does (waits up to a minute). */
static int leader(void)
{
    for (int t = 0; t < 600; t++) {
        int found = -1, n = 0;
        for (int i = 0; i < REPLICAS; i++) {
            if (!alive[i])
                continue;
            sg_buf log = SG_BUF_INIT(0);
            if (h_read_file(reps[i].log_path, &log) == SG_OK) {
                /* The last word on leadership in its log. */
                const char *s = sg_buf_str(&log);
                const char *gain = NULL, *loss = NULL;
                for (const char *p = s; (p = strstr(p, "\"leading: ")) != NULL; p++)
                    gain = p;
                for (const char *p = s; (p = strstr(p, "\"no longer leading")) != NULL; p++)
                    loss = p;
                if (gain && (!loss || loss < gain)) {
                    found = i;
                    n++;
                }
            }
            sg_buf_free(&log);
        }
        if (n > 1)
            fail_msg("%d replicas lead at once", n);
        if (found >= 0)
            return found;
        pause_ms(100);
    }
    return -1;
}

static void test_leader_dies_reconciler_moves(void **state)
{
    (void)state;
    char tok[128];
    h_pg_exec(pg(), "analytics",
              "CREATE ROLE lead_u NOLOGIN; GRANT USAGE ON SCHEMA sales TO "
              "lead_u");
    g_add_user("lu", "member", "lead_u", tok);
    int first = leader();
    assert_true(first >= 0);
    kill_replica(first);
    int next = leader();
    assert_true(next >= 0 && next != first);
    /* Replica 0's helpers (g_*) now talk to a survivor. */
    if (first == 0) {
        G.gate = reps[next];
        reps[0] = reps[next];
        alive[0] = true;
        alive[next] = false; /* one process, now known as 0 */
        rep_dirs[0] = rep_dirs[next];
        rep_dirs[next] = NULL;
    }
    /* A decision in ServiceNow whose webhook is lost (snowsim drops them all, and the test
     * delivers none): only the new leader's reconciler can bring it in. */
    char id[33], sys_id[33], admin_id[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.batch\",\"privilege\":\"read\","
                       "\"justification\":\"after the leader died\",\"for\":\"lu\"}",
                       id, sys_id);
    g_sn_admin_decides(sys_id, "approved", NULL, admin_id);
    sg_json_decref(g_wait_state(id, "fulfilled"));
    assert_true(h_pg_has(pg(), "analytics", "lead_u", "sales.batch", "SELECT"));
}

static int cut_grace_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE integrations SET webhook_secret_previous_until = 1", NULL, 0,
                        NULL);
}

/* The webhook signing secret rotated through one replica: the others, which keep the old one
 * in memory, take events signed with the new one at once, and the old one for the grace; once
 * the grace is over in the store, no replica takes the old one, and none ever a forgery. */
static void test_secret_rotation_across_replicas(void **state)
{
    (void)state;
    static const char body[] = "{\"type\":\"sc_request.updated\",\"table\":\"sc_request\","
                               "\"sys_id\":\"0123456789abcdef0123456789abcdef\"}";
    static const char forged[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    char msg[40];
    for (int r = 0; r < REPLICAS; r++) {
        snprintf(msg, sizeof(msg), "msg_warm_%d", r);
        assert_int_equal(g_deliver_webhook(reps[r].url, webhook_secret, msg, body), 202);
    }
    sg_json *j = NULL;
    assert_int_equal(call_on(1, G.admin_h, "POST",
                             "/api/v1/integrations/servicenow/rotate-webhook-secret", "{}", &j),
                     200);
    sg_json_decref(j);
    char *fresh = g_webhook_secret();
    assert_string_not_equal(fresh, webhook_secret);
    for (int r = 0; r < REPLICAS; r++) {
        snprintf(msg, sizeof(msg), "msg_new_%d", r);
        assert_int_equal(g_deliver_webhook(reps[r].url, fresh, msg, body), 202);
        snprintf(msg, sizeof(msg), "msg_old_%d", r);
        assert_int_equal(g_deliver_webhook(reps[r].url, webhook_secret, msg, body), 202);
        snprintf(msg, sizeof(msg), "msg_forged_%d", r);
        assert_int_equal(g_deliver_webhook(reps[r].url, forged, msg, body), 401);
    }
    g_in_store(cut_grace_tx, NULL);
    for (int r = 0; r < REPLICAS; r++) {
        snprintf(msg, sizeof(msg), "msg_late_%d", r);
        assert_int_equal(g_deliver_webhook(reps[r].url, webhook_secret, msg, body), 401);
        snprintf(msg, sizeof(msg), "msg_new2_%d", r);
        assert_int_equal(g_deliver_webhook(reps[r].url, fresh, msg, body), 202);
    }
    sg_secrets_free_plain(fresh);
}

int main(void)
{
    /* Replicas share a PostgreSQL store, whatever the suite's default. */
    setenv("SG_TEST_STORE", "postgres", 1);
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_one_replica_mid_stream, start, stop),
        cmocka_unit_test_setup_teardown(test_leader_dies_reconciler_moves, start, stop),
        cmocka_unit_test_setup_teardown(test_secret_rotation_across_replicas, start, stop),
    };
    /* SG_TEST_FILTER=test_secret_rotation_across_replicas runs the matching tests only. */
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
