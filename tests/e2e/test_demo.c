/* End to end: `scripts/demo.sh` brings up PostgreSQL, snowsim and snowgate, provisions snowsim
 * through the real setup path and registers users and assets; one request then goes all the
 * way to a real grant in the demo's PostgreSQL after a steward approves it in the inbox, and
 * another after the ServiceNow approver approves it on snowsim's My approvals page. Stopping the
 * demo leaves no process behind; a second run reuses the data; --reset removes it all.
 * The data directory sits in a folder other users cannot enter (the test's own, mode 700, like
 * a checkout in /root): run as root, the demo keeps the cluster where the postgres user can
 * reach it and links demo-data/pg to it. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/str.h"

#include <libpq-fe.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool can(const char *dir, const char *role, const char *table, const char *priv)
{
    char conninfo[700], sql[256];
    snprintf(sql, sizeof(sql), "SELECT has_table_privilege('%s', '%s', '%s')", role, table, priv);
    snprintf(conninfo, sizeof(conninfo), "host=%s/data/pg/sock user=postgres dbname=analytics",
             dir);
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("demo PostgreSQL: %s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    bool has = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    PQfinish(c);
    return has;
}

static bool bob_can_select(const char *dir)
{
    return can(dir, "bob_db", "sales.orders", "SELECT");
}

/* Polls until check(dir) is true (at most a minute). */
static bool eventually(const char *dir, bool (*check)(const char *dir))
{
    for (int i = 0; i < 600; i++) {
        if (check(dir))
            return true;
        struct timespec t = {0, 100 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    return false;
}

static bool dana_can_insert(const char *dir)
{
    return can(dir, "dana_db", "sales.refunds", "INSERT");
}

static char sim_url[64], carol[64];

/* Finds the card of request `number` on carol's My approvals page in snowsim: its approval
 * sys_id and the page's CSRF token. False when it is not there (yet). */
static bool approval_for(const char *number, char approval_id[33], char ck[33])
{
    char ch[128];
    snprintf(ch, sizeof(ch), "Cookie: glide_session_store=%s", carol);
    const char *h[] = {ch, NULL};
    sg_http_response r;
    assert_int_equal(h_call("GET", sim_url, "/navpage.do", h, NULL, NULL, &r), 200);
    const char *body = sg_buf_str(&r.body);
    const char *m = strstr(body, "<meta name=\"sysparm_ck\" content=\"");
    assert_non_null(m);
    snprintf(ck, 33, "%s", m + strlen("<meta name=\"sysparm_ck\" content=\""));
    /* Each card: <section class="card approval" data-sys-id="ID"><h2><a ...>REQ...</a> */
    bool found = false;
    for (const char *p = strstr(body, "data-sys-id=\""); p && !found;
         p = strstr(p + 1, "data-sys-id=\"")) {
        const char *end = strstr(p, "</h2>");
        const char *num = strstr(p, number);
        if (end && num && num < end) {
            snprintf(approval_id, 33, "%s", p + strlen("data-sys-id=\""));
            found = true;
        }
    }
    sg_http_response_free(&r);
    return found;
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
    assert_int_equal(chmod(dir, 0700), 0); /* the postgres user cannot enter it */
    char e_gate[64], e_sim[64], e_data[600];
    snprintf(e_gate, sizeof(e_gate), "DEMO_GATE_PORT=%d", h_free_port());
    int sim_port = h_free_port();
    snprintf(e_sim, sizeof(e_sim), "DEMO_SIM_PORT=%d", sim_port);
    snprintf(sim_url, sizeof(sim_url), "http://127.0.0.1:%d", sim_port);
    snprintf(e_data, sizeof(e_data), "DEMO_DATA=%s/data", dir);
    const char *env[] = {e_gate, e_sim, e_data, "DEMO_BUILD=" SG_BUILD_DIR, NULL};
    const char *argv[] = {SG_SOURCE_DIR "/scripts/demo.sh", NULL};
    assert_int_equal(h_spawn_server(argv, env, "demo", 240000, &demo), SG_OK);
    running = true;

    /* As root, the cluster is in a directory of the postgres user's, mode 700, that
     * data/pg links to; otherwise it runs as the user, in data/pg itself. */
    char path[700], token[128] = "", cluster[PATH_MAX] = "";
    snprintf(path, sizeof(path), "%s/data/pg", dir);
    if (geteuid() == 0) {
        ssize_t n = readlink(path, cluster, sizeof(cluster) - 1);
        assert_true(n > 0);
        cluster[n] = '\0';
        struct stat sb;
        assert_int_equal(lstat(cluster, &sb), 0);
        assert_true(S_ISDIR(sb.st_mode));
        assert_int_equal(sb.st_mode & 0777, 0700);
        const struct passwd *pw = getpwnam("postgres");
        assert_non_null(pw);
        assert_int_equal(sb.st_uid, pw->pw_uid);
    }

    /* Provisioned and connected. */
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

    /* The ServiceNow side: carol approves dana's request on snowsim's My approvals page. */
    assert_int_equal(h_call("POST", demo.url, "/api/v1/requests", admin,
                            "{\"asset\":\"analytics.sales.refunds\",\"privilege\":\"write\","
                            "\"justification\":\"refund clean-up\",\"for\":\"dana\"}",
                            &j, NULL),
                     201);
    snprintf(path, sizeof(path), "/api/v1/requests/%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    char number[40] = "";
    for (int i = 0; i < 600 && !number[0]; i++) {
        assert_int_equal(h_call("GET", demo.url, path, admin, NULL, &j, NULL), 200);
        const char *n = sg_json_get_str(sg_json_get(j, "servicenow"), "number");
        snprintf(number, sizeof(number), "%s", n ? n : "");
        sg_json_decref(j);
        struct timespec t = {0, 100 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(sg_str_startswith(number, "REQ"));
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    assert_int_equal(h_call("POST", sim_url, "/login.do", form,
                            "user_name=carol&user_password=carol-Demo-Pw1", NULL, &r),
                     303);
    set = sg_http_response_header(&r, "Set-Cookie");
    snprintf(carol, sizeof(carol), "%.32s", set + strlen("glide_session_store="));
    sg_http_response_free(&r);
    char approval_id[33] = "", ck[33];
    for (int i = 0; i < 300 && !approval_for(number, approval_id, ck); i++) {
        struct timespec t = {0, 100 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_int_equal(strlen(approval_id), 32);
    char decide[256], ch[128];
    snprintf(decide, sizeof(decide),
             "sys_id=%s&sysparm_ck=%s&sysparm_goto=%%2Fnavpage.do&sys_action=approve&"
             "comments=OK+for+the+clean-up",
             approval_id, ck);
    snprintf(ch, sizeof(ch), "Cookie: glide_session_store=%s", carol);
    const char *carol_form[] = {ch, form[0], NULL};
    assert_int_equal(
        h_call("POST", sim_url, "/sysapproval_approver.do", carol_form, decide, NULL, NULL), 303);
    assert_true(eventually(dir, dana_can_insert));
    for (int i = 0; i < 600; i++) {
        assert_int_equal(h_call("GET", demo.url, path, admin, NULL, &j, NULL), 200);
        bool done = strcmp(sg_json_get_str(j, "state"), "fulfilled") == 0;
        sg_json_decref(j);
        if (done)
            break;
        struct timespec t = {0, 100 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_int_equal(h_call("GET", demo.url, path, admin, NULL, &j, NULL), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "fulfilled");
    sg_json_decref(j);

    /* Ctrl-C stops everything: nothing of the demo keeps running. */
    running = false;
    assert_int_equal(h_stop(&demo, SIGINT, 60000), 0);
    char cmd[PATH_MAX + 800];
    /* "dat[a]": the pattern must not match the shell that runs pgrep. */
    snprintf(cmd, sizeof(cmd), "pgrep -f '%s/dat[a]' >/dev/null", dir);
    const char *sh[] = {"/bin/sh", "-c", cmd, NULL};
    assert_int_not_equal(h_run(sh, NULL, 10000, NULL, NULL), 0);
    if (cluster[0]) {
        snprintf(cmd, sizeof(cmd), "pgrep -f '%s/dat[a]' >/dev/null", cluster);
        assert_int_not_equal(h_run(sh, NULL, 10000, NULL, NULL), 0);
    }

    /* Run again: the data is reused (no new cluster, no second setup), and it stops. */
    const char *again[] = {SG_SOURCE_DIR "/scripts/demo.sh", "--no-wait", NULL};
    sg_buf out = SG_BUF_INIT(0), err = SG_BUF_INIT(0);
    if (h_run(again, env, 120000, &out, &err) != 0)
        fail_msg("the second run failed: %s", sg_buf_str(&err));
    assert_non_null(strstr(sg_buf_str(&out), "snowgate is running"));
    assert_null(strstr(sg_buf_str(&out), "creating"));
    assert_null(strstr(sg_buf_str(&out), "provision"));
    sg_buf_free(&out);
    sg_buf_free(&err);
    if (cluster[0]) {
        snprintf(cmd, sizeof(cmd), "pgrep -f '%s/dat[a]' >/dev/null", cluster);
        assert_int_not_equal(h_run(sh, NULL, 10000, NULL, NULL), 0);
    }

    /* make demo-reset: the data and the cluster, wherever it was, are gone. */
    const char *reset[] = {SG_SOURCE_DIR "/scripts/demo.sh", "--reset", NULL};
    assert_int_equal(h_run(reset, env, 60000, NULL, NULL), 0);
    struct stat sb;
    snprintf(path, sizeof(path), "%s/data", dir);
    assert_int_not_equal(lstat(path, &sb), 0);
    if (cluster[0])
        assert_int_not_equal(lstat(cluster, &sb), 0);
    h_rmdir(dir);
    free(dir);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {cmocka_unit_test_teardown(test_demo, stop_demo)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
