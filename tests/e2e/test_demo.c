/* End to end: `scripts/demo.sh` brings up PostgreSQL, snowsim and snowgate, provisions snowsim
 * through the real setup path and registers users and assets; one request then goes all the
 * way to a real grant in the demo's PostgreSQL. Stopping the demo leaves no process behind. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/str.h"

#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool bob_can_select(const char *dir)
{
    char conninfo[700];
    snprintf(conninfo, sizeof(conninfo), "host=%s/data/pg/sock user=postgres dbname=analytics",
             dir);
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("demo PostgreSQL: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, "SELECT has_table_privilege('bob_db', 'sales.orders', 'SELECT')");
    bool has = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    PQfinish(c);
    return has;
}

static h_proc demo;
static bool running;

/* On a failure, the demo must not outlive the test. */
static int stop_demo(void **state)
{
    (void)state;
    if (running)
        h_stop(&demo, SIGINT, 60000);
    running = false;
    return 0;
}

static void test_demo(void **state)
{
    (void)state;
    char *dir = h_tmpdir("demo");
    assert_int_equal(chmod(dir, 0755), 0); /* the postgres user runs the cluster under it */
    char e_gate[64], e_sim[64], e_data[600];
    snprintf(e_gate, sizeof(e_gate), "DEMO_GATE_PORT=%d", h_free_port());
    snprintf(e_sim, sizeof(e_sim), "DEMO_SIM_PORT=%d", h_free_port());
    snprintf(e_data, sizeof(e_data), "DEMO_DATA=%s/data", dir);
    const char *env[] = {e_gate, e_sim, e_data, "DEMO_BUILD=" SG_BUILD_DIR, NULL};
    const char *argv[] = {SG_SOURCE_DIR "/scripts/demo.sh", NULL};
    assert_int_equal(h_spawn_server(argv, env, "demo", 240000, &demo), SG_OK);
    running = true;

    /* Provisioned and connected. */
    char path[700], token[128] = "";
    snprintf(path, sizeof(path), "%s/data/admin.token", dir);
    sg_buf tok = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(path, &tok), SG_OK);
    snprintf(token, sizeof(token), "Authorization: Bearer %.64s", sg_buf_str(&tok));
    sg_buf_free(&tok);
    const char *admin[] = {token, NULL};
    sg_json *j = NULL;
    assert_int_equal(
        h_call("GET", demo.url, "/api/v1/integrations/servicenow", admin, NULL, &j, NULL), 200);
    assert_string_equal(sg_json_get_str(j, "status"), "connected");
    sg_json_decref(j);

    /* The tour: a request for bob, approved by sam in the inbox, granted in PostgreSQL. */
    assert_false(bob_can_select(dir));
    assert_int_equal(
        h_call("POST", demo.url, "/api/v1/requests", admin,
               "{\"asset\":\"analytics.sales.orders\",\"privilege\":\"read\","
               "\"justification\":\"demo tour\",\"for\":\"bob\",\"duration\":\"PT1H\"}",
               &j, NULL),
        201);
    char id[33];
    snprintf(id, sizeof(id), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    const char *json[] = {"Content-Type: application/json", NULL};
    sg_http_response r;
    assert_int_equal(h_call("POST", demo.url, "/api/v1/session", json,
                            "{\"name\":\"sam\",\"password\":\"sam-Demo-Pw1\"}", &j, &r),
                     200);
    char cookie[200], csrf[120];
    const char *set = sg_http_response_header(&r, "Set-Cookie");
    snprintf(cookie, sizeof(cookie), "Cookie: %.*s", (int)strcspn(set, ";"), set);
    snprintf(csrf, sizeof(csrf), "X-CSRF-Token: %s", sg_json_get_str(j, "csrf"));
    sg_json_decref(j);
    sg_http_response_free(&r);
    const char *sam[] = {cookie, csrf, "Content-Type: application/json", NULL};
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    assert_int_equal(h_call("POST", demo.url, path, sam, "{\"comment\":\"ok\"}", NULL, NULL), 200);
    bool granted = false;
    for (int i = 0; i < 600 && !granted; i++) {
        granted = bob_can_select(dir);
        struct timespec t = {0, 100 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(granted);

    /* Ctrl-C stops everything: nothing of the demo keeps running. */
    running = false;
    assert_int_equal(h_stop(&demo, SIGINT, 60000), 0);
    char cmd[800];
    /* "dat[a]": the pattern must not match the shell that runs pgrep. */
    snprintf(cmd, sizeof(cmd), "pgrep -f '%s/dat[a]' >/dev/null", dir);
    const char *sh[] = {"/bin/sh", "-c", cmd, NULL};
    assert_int_not_equal(h_run(sh, NULL, 10000, NULL, NULL), 0);
    h_rmdir(dir);
    free(dir);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(test_demo, stop_demo)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
