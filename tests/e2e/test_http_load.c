/* End to end: snowgate's HTTP server under load, as its clients see it (issue #20): a few I/O
 * threads serve every connection, and the handlers that wait on ServiceNow run in a pool with
 * their connection suspended. Nothing here asserts how long anything takes: the deadlines only
 * keep a broken server from hanging the test.
 * 1. 100 slow clients trickle request heads and bodies in a byte at a time while another client
 *    is answered, correctly, again and again (/healthz, GET /api/v1/session, sign-in).
 * 2. Run test calls wait on a stalled ServiceNow (snowsim's delay fault); /healthz and other
 *    cheap calls answer meanwhile, and the stalled calls end with their checks.
 * 3. SIGTERM with such calls in flight: exit 0 (cleanly, under ASan), each in-flight client gets
 *    an answer or a closed connection, and once snowgate says it stopped accepting, no new
 *    connection is served.
 * 4. kill -9 under a load of signed webhooks on keep-alive connections: every event answered
 *    2xx is in webhook_events, and no event is there twice. */
#include "e2e/gate_env.h"

#include "core/err.h"
#include "core/mem.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ALICE_PW "alice-Load-Pw1"
/* Liveness only: a server that has not answered by then is hanging. */
#define DEADLINE_MS 60000

/* snowgate's config for the whole file, each line for the test named. */
static const char ini[] =
    "[http]\n"
    /* 1: the slow clients must stay connected for the whole test, so that it measures whether
     * others are served beside them (that a head which never completes is cut off is
     * e2e/test_gate_connections). http.max_connections_per_client keeps its default: each slow
     * client has an address of its own, as many slow clients would. */
    "header_timeout = 300\n"
    "[servicenow]\n"
    /* 2, 3: no scheduled Run test or reconciler shares the stall with the calls under test,
     * or takes the tokens that tell when they have reached it (tokens_issued). */
    "test_interval = 0\n"
    "reconcile_interval = 0\n";

/* How long snowsim stalls every oauth_userinfo call (the first call Run test makes after
 * obtaining its token), in 2 and 3. Under snowgate's 20 s per call, so the calls succeed. */
#define STALL_MS 5000
/* Run test calls in flight at once. */
#define STALLED 4

static char *webhook_secret;
static char run_tag[24]; /* webhook ids of this run: msg_<test>_<run_tag>_... */

static int group_start(void **state)
{
    (void)state;
    /* A delay rule sleeps on one of snowsim's handler threads (http.threads, default 8): with
     * more of them, the stalled calls leave the rest of snowsim answering. */
    setenv("SNOWSIM_HTTP_THREADS", "16", 1);
    /* 3: shorter than the stall, so the grace runs out with handlers still waiting on
     * ServiceNow: the hard case of a stop. (A top-level setting, which the lines g_start
     * appends to the config, after its sections, cannot hold.) */
    setenv("SNOWGATE_SHUTDOWN_GRACE", "2", 1);
    g_start_with("httpload", ini);
    g_connected();
    g_set_password("alice", ALICE_PW);
    webhook_secret = g_webhook_secret();
    snprintf(run_tag, sizeof(run_tag), "%lx", (long)time(NULL));
    return 0;
}

static int group_stop(void **state)
{
    (void)state;
    g_stop();
    free(webhook_secret);
    return 0;
}

static void pause_ms(int ms)
{
    poll(NULL, 0, ms);
}

/* A ServiceNow event about a record that is none of snowgate's requests: stored and
 * deduplicated, with nothing to re-read. */
static void event_body(char *out, size_t n, unsigned long long seq)
{
    snprintf(out, n,
             "{\"type\":\"sc_request.updated\",\"table\":\"sc_request\",\"sys_id\":\"%032llx\","
             "\"number\":\"REQ%07llu\",\"correlation_id\":\"snowgate:load-elsewhere\","
             "\"approval\":\"requested\",\"request_state\":\"requested\"}",
             seq, seq % 10000000);
}

/* ---- cheap calls, and whether their answers are right ---- */

static void expect_healthz(void)
{
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", G.gate.url, "/healthz", NULL, NULL, &j, NULL), 200);
    assert_string_equal(sg_json_get_str(j, "status"), "ok");
    sg_json_decref(j);
}

static void expect_session(void)
{
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", "/api/v1/session", NULL, &j), 200);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "user"), "name"), "alice");
    assert_string_equal(sg_json_get_str(sg_json_get(j, "user"), "role"), "admin");
    sg_json_decref(j);
}

static void expect_sign_in(void)
{
    sg_http_response r;
    assert_int_equal(g_sign_in("alice", ALICE_PW, NULL, &r), 200);
    sg_json *j = NULL;
    assert_int_equal(sg_json_parse(r.body.data, r.body.len, 0, 0, &j), SG_OK);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "user"), "name"), "alice");
    assert_non_null(sg_json_get_str(j, "csrf"));
    assert_non_null(sg_http_response_header(&r, "Set-Cookie"));
    sg_json_decref(j);
    sg_http_response_free(&r);
}

/* ---- 1. many slow clients while others are served ---- */

#define SLOW 100

static void send_all(int fd, const char *p, size_t n)
{
    /* A failure shows later, as a connection without an answer. */
    if (send(fd, p, n, MSG_NOSIGNAL) != (ssize_t)n)
        fprintf(stderr, "send on a slow connection failed\n");
}

static void test_slow_clients(void **state)
{
    (void)state;
    int port = h_url_port(G.gate.url);
    /* Even ones trickle the rest of a request head, odd ones the body of a signed webhook; one
     * byte per round each. */
    static const char head_rest[] = "X-Slowly: one byte at a time, for a while\r\n";
    const size_t rounds = sizeof(head_rest) - 1;
    int fds[SLOW];
    char *bodies[SLOW] = {0};
    for (int i = 0; i < SLOW; i++) {
        char from[32];
        snprintf(from, sizeof(from), "127.0.1.%d", i + 1);
        fds[i] = h_connect_from(port, from);
        if (fds[i] < 0)
            fail_msg("slow client %d (%s): connection refused", i, from);
        sg_buf head = SG_BUF_INIT(0);
        if (i % 2 == 0) {
            sg_buf_puts(&head, "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        } else {
            char id[96], body[512];
            snprintf(id, sizeof(id), "msg_slow_%s_%d", run_tag, i);
            event_body(body, sizeof(body), (unsigned long long)i);
            assert_true(strlen(body) > rounds);
            g_webhook_headers w;
            assert_int_equal(g_webhook_sign(webhook_secret, id, body, &w), SG_OK);
            sg_buf_printf(&head,
                          "POST /webhooks/servicenow HTTP/1.1\r\nHost: test\r\n"
                          "Connection: close\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n%s\r\n%s\r\n%s\r\n\r\n",
                          strlen(body), w.id, w.timestamp, w.signature);
            bodies[i] = sg_xstrdup(body);
        }
        send_all(fds[i], head.data, head.len);
        sg_buf_free(&head);
    }
    /* Each round, every slow client sends one more byte, and the client in a hurry is served:
     * with the right answers, every time. */
    for (size_t r = 0; r < rounds; r++) {
        for (int i = 0; i < SLOW; i++)
            send_all(fds[i], i % 2 == 0 ? head_rest + r : bodies[i] + r, 1);
        expect_healthz();
        expect_session();
        if (r % 10 == 0)
            expect_sign_in();
    }
    /* None of the slow clients was dropped: each finishes its request and is answered. */
    for (int i = 0; i < SLOW; i++) {
        if (i % 2 == 0)
            send_all(fds[i], "\r\n", 2);
        else
            send_all(fds[i], bodies[i] + rounds, strlen(bodies[i]) - rounds);
    }
    for (int i = 0; i < SLOW; i++) {
        sg_buf answer = SG_BUF_INIT(0);
        int st = h_raw_answer(fds[i], DEADLINE_MS, &answer);
        int want = i % 2 == 0 ? 200 : 202;
        if (st != want)
            fail_msg("slow client %d: %d, want %d: %s", i, st, want, sg_buf_str(&answer));
        assert_non_null(strstr(sg_buf_str(&answer), i % 2 == 0 ? "\"ok\"" : "\"accepted\""));
        sg_buf_free(&answer);
        close(fds[i]);
        free(bodies[i]);
    }
    expect_healthz();
}

/* ---- 2. handlers waiting on a stalled ServiceNow while /healthz answers ---- */

static void stall_servicenow(bool on)
{
    char body[256];
    snprintf(body, sizeof(body),
             on ? "{\"rules\":[{\"path\":\"/api/snc/oauth_userinfo\",\"kind\":\"delay\","
                  "\"delay_ms\":%d}]}"
                : "{\"rules\":[]}",
             STALL_MS);
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults", body, 200));
}

/* Access tokens snowsim has issued. A Run test obtains one, then calls oauth_userinfo at once:
 * with the stall on, a call whose token was issued is waiting on ServiceNow. */
static int tokens_issued(void)
{
    return g_count_in_sn("oauth_credential", "type%3Daccess_token");
}

/* Waits until `more` tokens have been issued since `before` were: that many calls are in the
 * stall (nothing else here asks for tokens: no scheduled Run test, no reconciler, no events
 * about snowgate's requests). Not every call need be (a pool may run fewer slow handlers at
 * once), but two are. */
static void wait_stalled(int before, int more)
{
    for (int i = 0; i < DEADLINE_MS / 50 && tokens_issued() < before + more; i++)
        pause_ms(50);
    if (tokens_issued() < before + more)
        fail_msg("no %d Run test calls reached ServiceNow", more);
}

typedef struct run_test_call {
    pthread_t th;
    int rc;
    sg_http_response res;
    atomic_bool done;
} run_test_call;

static void *run_test_in_thread(void *arg)
{
    run_test_call *c = arg;
    char url[300];
    snprintf(url, sizeof(url), "%s/api/v1/integrations/servicenow/test", G.gate.url);
    const char *h[] = {G.admin_h, "Accept: application/json", NULL};
    c->rc = h_http("POST", url, h, NULL, &c->res);
    atomic_store(&c->done, true);
    return NULL;
}

static int calls_done(run_test_call *calls, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += atomic_load(&calls[i].done);
    return k;
}

/* A Run test's answer: its checks, passed (200) or with the failing one named (422). */
static void expect_checks(long status, const char *text, size_t len)
{
    if (status != 200 && status != 422)
        fail_msg("Run test: %ld: %.*s", status, (int)len, text);
    sg_json *j = NULL;
    assert_int_equal(sg_json_parse(text, len, 0, 0, &j), SG_OK);
    assert_non_null(sg_json_get_str(j, "status"));
    assert_int_equal(sg_json_array_size(sg_json_get(j, "checks")), 7);
    sg_json_decref(j);
}

static void test_stalled_servicenow(void **state)
{
    (void)state;
    int before = tokens_issued();
    stall_servicenow(true);
    /* On the heap, and freed only when every thread is joined: a failing check ends the test
     * with the threads still running. */
    run_test_call *calls = sg_xcalloc(STALLED, sizeof(*calls));
    for (int i = 0; i < STALLED; i++) {
        atomic_init(&calls[i].done, false);
        assert_int_equal(pthread_create(&calls[i].th, NULL, run_test_in_thread, &calls[i]), 0);
    }
    wait_stalled(before, 2);
    /* Cheap calls answer, right, while the Run tests wait: at least one round completes while
     * none of them has its answer yet (most rounds do, a round being far quicker than the
     * stall, but how many is a matter of time and not asserted). */
    int rounds_while_stalled = 0;
    for (int r = 0; r < 20; r++) {
        expect_healthz();
        expect_session();
        sg_json *j = NULL;
        assert_int_equal(g_call("GET", "/api/v1/integrations/servicenow", NULL, &j), 200);
        assert_non_null(sg_json_get_str(j, "status"));
        sg_json_decref(j);
        sg_json *ready = NULL;
        assert_int_equal(h_call("GET", G.gate.url, "/readyz", NULL, NULL, &ready, NULL), 200);
        sg_json_decref(ready);
        if (calls_done(calls, STALLED) == 0)
            rounds_while_stalled++;
    }
    print_message("rounds answered while every Run test waited: %d of 20\n", rounds_while_stalled);
    assert_true(rounds_while_stalled >= 1);
    /* ServiceNow answers again: the stalled calls end with their checks. */
    stall_servicenow(false);
    for (int i = 0; i < STALLED; i++) {
        pthread_join(calls[i].th, NULL);
        if (calls[i].rc != SG_OK)
            fail_msg("Run test call %d got no answer", i);
        expect_checks(calls[i].res.status, calls[i].res.body.data, calls[i].res.body.len);
        sg_http_response_free(&calls[i].res);
    }
    free(calls);
    /* And the integration still works. */
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/integrations/servicenow/test", NULL, &j), 200);
    assert_string_equal(sg_json_get_str(j, "status"), "connected");
    sg_json_decref(j);
}

/* ---- 3. SIGTERM with slow handlers in flight ---- */

/* Waits (up to DEADLINE_MS) for the log at path to hold needle. */
static bool log_says(const char *path, const char *needle)
{
    for (int waited = 0; waited < DEADLINE_MS; waited += 20) {
        sg_buf log = SG_BUF_INIT(0);
        bool found = h_read_file(path, &log) == SG_OK && strstr(sg_buf_str(&log), needle);
        sg_buf_free(&log);
        if (found)
            return true;
        pause_ms(20);
    }
    return false;
}

static void expect_clean_log(const char *path)
{
    sg_buf log = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(path, &log), SG_OK);
    const char *text = sg_buf_str(&log);
    if (strstr(text, "Sanitizer") || strstr(text, "runtime error:"))
        fail_msg("snowgate's stop was not clean:\n%s", text);
    assert_non_null(strstr(text, "\"msg\":\"snowgate stopped\""));
    sg_buf_free(&log);
}

static void test_sigterm_in_flight(void **state)
{
    (void)state;
    int port = h_url_port(G.gate.url);
    int before = tokens_issued();
    stall_servicenow(true);
    char req[512];
    int len = snprintf(req, sizeof(req),
                       "POST /api/v1/integrations/servicenow/test HTTP/1.1\r\nHost: test\r\n%s\r\n"
                       "Accept: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                       G.admin_h);
    int fds[STALLED];
    for (int i = 0; i < STALLED; i++) {
        fds[i] = h_connect_from(port, "127.0.0.1");
        assert_true(fds[i] >= 0);
        assert_int_equal(send(fds[i], req, (size_t)len, MSG_NOSIGNAL), len);
    }
    wait_stalled(before, 2);
    assert_int_equal(h_raw_get(port, "127.0.0.1", "/healthz", DEADLINE_MS), 200);

    char log_path[sizeof(G.gate.log_path)];
    snprintf(log_path, sizeof(log_path), "%s", G.gate.log_path);
    assert_int_equal(kill(G.gate.pid, SIGTERM), 0);
    /* Once the server says it stopped accepting, no new connection is served, while the
     * stalled Run tests are still being waited for. */
    assert_true(log_says(log_path, "\"msg\":\"stopped accepting connections\""));
    int probes = 0;
    for (; probes < 20; probes++) {
        int st = h_raw_get(port, "127.0.0.2", "/healthz", DEADLINE_MS);
        if (st != 0)
            fail_msg("a connection made after the stop began got %d (-1: hung)", st);
        pause_ms(10);
    }
    /* Exit 0 (signal 0: only wait for it). */
    int exit_status = h_stop(&G.gate, 0, DEADLINE_MS);
    assert_int_equal(exit_status, 0);
    expect_clean_log(log_path);

    /* Each in-flight client got an answer or a closed connection. */
    int answered = 0;
    for (int i = 0; i < STALLED; i++) {
        sg_buf answer = SG_BUF_INIT(0);
        int st = h_raw_answer(fds[i], DEADLINE_MS, &answer);
        if (st < 0 || (st > 0 && st != 200 && st != 422 && st != 503))
            fail_msg("in-flight Run test %d: %d: %s", i, st, sg_buf_str(&answer));
        answered += st > 0;
        sg_buf_free(&answer);
        close(fds[i]);
    }
    print_message("in flight at SIGTERM: %d Run tests, %d answered, the others closed\n", STALLED,
                  answered);
    /* And after the exit, nobody listens. */
    assert_int_equal(h_raw_get(port, "127.0.0.2", "/healthz", DEADLINE_MS), 0);

    stall_servicenow(false);
    g_spawn_gate();
    expect_healthz();
}

/* ---- 4. every accepted event is in the store after kill -9 under load ---- */

#define POSTERS        4
#define PER_POSTER_MAX 20000
#define ACCEPTED_GOAL  400

typedef struct poster {
    pthread_t th;
    int index;
    int sent;
    char (*ids)[64]; /* every id sent, in order */
    bool *accepted;  /* answered 2xx */
    int refused;     /* answered otherwise, or not at all (may or may not be stored) */
    int reused;      /* requests that went on a kept-alive connection */
} poster;

static atomic_int accepted_total;
static atomic_bool killing;

static void *post_events(void *arg)
{
    poster *p = arg;
    sg_http_pool *pool = sg_http_pool_new(1);
    sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
    o.allow_insecure_loopback = true;
    o.pool = pool;
    o.timeout_ms = DEADLINE_MS;
    char url[300];
    snprintf(url, sizeof(url), "%s/webhooks/servicenow", G.gate.url);
    bool gone = false;
    while (!gone && p->sent < PER_POSTER_MAX) {
        int k = p->sent;
        snprintf(p->ids[k], sizeof(p->ids[k]), "msg_load_%s_%d_%d", run_tag, p->index, k);
        char body[512];
        event_body(body, sizeof(body), (unsigned long long)p->index * PER_POSTER_MAX + k);
        g_webhook_headers w;
        if (g_webhook_sign(webhook_secret, p->ids[k], body, &w) != SG_OK)
            break;
        const char *h[] = {"Content-Type: application/json", w.id, w.timestamp, w.signature, NULL};
        sg_http_response r;
        int rc = sg_http_request(&o, "POST", url, h, body, strlen(body), &r);
        p->sent++;
        if (rc == SG_OK && r.status >= 200 && r.status < 300) {
            p->accepted[k] = true;
            p->reused += r.new_connections == 0;
            atomic_fetch_add(&accepted_total, 1);
        } else {
            p->refused++;
        }
        /* After the kill, the first failed call means the server is gone. */
        gone = rc != SG_OK && atomic_load(&killing);
        if (rc == SG_OK)
            sg_http_response_free(&r);
    }
    sg_http_pool_free(pool);
    return NULL;
}

typedef struct stored {
    const char *like;
    char **ids; /* sorted */
    int n, cap;
    int twice; /* ids stored more than once */
} stored;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int stored_tx(sg_conn *c, void *ctx)
{
    stored *s = ctx;
    sg_rows *r = NULL;
    sg_val v[] = {SG_VTEXT(s->like)};
    int rc = sg_conn_query(
        c, "SELECT id, COUNT(*) FROM webhook_events WHERE id LIKE ?1 GROUP BY id ORDER BY id", v, 1,
        &r);
    if (rc != SG_OK)
        return rc;
    while (sg_rows_next(r) == 1) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 1024;
            s->ids = sg_xrealloc(s->ids, (size_t)s->cap * sizeof(char *));
        }
        s->ids[s->n++] = sg_xstrdup(sg_rows_text(r, 0));
        s->twice += sg_rows_int(r, 1) > 1;
    }
    sg_rows_free(r);
    return SG_OK;
}

static void test_kill9_under_load(void **state)
{
    (void)state;
    atomic_init(&accepted_total, 0);
    atomic_init(&killing, false);
    poster posters[POSTERS];
    memset(posters, 0, sizeof(posters));
    for (int i = 0; i < POSTERS; i++) {
        posters[i].index = i;
        posters[i].ids = sg_xcalloc(PER_POSTER_MAX, sizeof(*posters[i].ids));
        posters[i].accepted = sg_xcalloc(PER_POSTER_MAX, sizeof(bool));
        assert_int_equal(pthread_create(&posters[i].th, NULL, post_events, &posters[i]), 0);
    }
    /* Mid-load: once a good number of events were accepted, with the posters still going. */
    for (int i = 0; i < DEADLINE_MS / 20 && atomic_load(&accepted_total) < ACCEPTED_GOAL; i++)
        pause_ms(20);
    bool mid_load = atomic_load(&accepted_total) >= ACCEPTED_GOAL;
    atomic_store(&killing, true);
    int exit_status = h_stop(&G.gate, SIGKILL, DEADLINE_MS);
    for (int i = 0; i < POSTERS; i++)
        pthread_join(posters[i].th, NULL);
    assert_true(mid_load);
    assert_int_equal(exit_status, 128 + SIGKILL);

    /* What the store holds, read beside the dead server. */
    char like[64];
    snprintf(like, sizeof(like), "msg_load_%s_%%", run_tag);
    stored s = {like, NULL, 0, 0, 0};
    sg_store *st = g_store_open();
    assert_int_equal(sg_store_read(st, stored_tx, &s), SG_OK);
    sg_store_close(st);
    qsort(s.ids, (size_t)s.n, sizeof(char *), cmp_str);
    int accepted = 0, missing = 0, sent = 0, refused = 0, reused = 0;
    const char *first_accepted = NULL;
    for (int i = 0; i < POSTERS; i++) {
        poster *p = &posters[i];
        sent += p->sent;
        refused += p->refused;
        reused += p->reused;
        for (int k = 0; k < p->sent; k++) {
            if (!p->accepted[k])
                continue;
            accepted++;
            const char *id = p->ids[k];
            if (!first_accepted)
                first_accepted = id;
            if (!bsearch(&id, s.ids, (size_t)s.n, sizeof(char *), cmp_str)) {
                if (missing++ < 5)
                    print_message("accepted but not stored: %s\n", id);
            }
        }
    }
    print_message("kill -9: %d events sent, %d accepted, %d refused or unanswered, %d stored "
                  "(%d accepted on kept-alive connections)\n",
                  sent, accepted, refused, s.n, reused);
    assert_int_equal(missing, 0);
    assert_int_equal(s.twice, 0);
    /* Nothing is stored that was not sent. */
    size_t prefix = strlen(like) - 1;
    for (int i = 0; i < s.n; i++) {
        int who = -1, k = -1;
        if (sscanf(s.ids[i] + prefix, "%d_%d", &who, &k) != 2 || who < 0 || who >= POSTERS ||
            k < 0 || k >= posters[who].sent)
            fail_msg("stored, never sent: %s", s.ids[i]);
    }
    /* The load went over kept-alive connections, not one connection per event. */
    assert_true(reused > 0);

    /* Restarted, snowgate knows them: an accepted event delivered again is a duplicate. */
    g_spawn_gate();
    assert_int_equal(g_deliver_webhook(G.gate.url, webhook_secret, first_accepted,
                                       "{\"correlation_id\":\"snowgate:load-elsewhere\"}"),
                     200);
    for (int i = 0; i < s.n; i++)
        free(s.ids[i]);
    free(s.ids);
    for (int i = 0; i < POSTERS; i++) {
        free(posters[i].ids);
        free(posters[i].accepted);
    }
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_clients),
        cmocka_unit_test(test_stalled_servicenow),
        cmocka_unit_test(test_sigterm_in_flight),
        cmocka_unit_test(test_kill9_under_load),
    };
    return cmocka_run_group_tests(tests, group_start, group_stop);
}
