/* End to end: slow clients cannot exhaust snowgate's connections. One address holds at most
 * http.max_connections_per_client of them, and a request head that does not arrive within
 * http.header_timeout (however slowly it trickles in) is closed; meanwhile /healthz answers
 * everyone else. All on loopback: the attacker is 127.0.0.1, the others 127.0.0.2. */
#include "e2e/gate_env.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOW      300
#define PER_ADDR  8
#define HEAD_SECS 3

/* A socket connected to snowgate from source address `from`; -1 when refused. */
static int connect_from(const char *from)
{
    return h_connect_from(h_url_port(G.gate.url), from);
}

/* GET /healthz from `from`, the whole exchange within 10 s; returns the status or 0. */
static int healthz_from(const char *from)
{
    return h_raw_get(h_url_port(G.gate.url), from, "/healthz", 10000);
}

static void test_slow_clients(void **state)
{
    (void)state;
    /* 300 connections that start a request and never finish its head. */
    int fds[SLOW];
    int open_n = 0;
    const char *part = "GET /healthz HTTP/1.1\r\nHost: snowgate\r\n";
    for (int i = 0; i < SLOW; i++) {
        fds[i] = connect_from("127.0.0.1");
        if (fds[i] >= 0)
            send(fds[i], part, strlen(part), MSG_NOSIGNAL);
    }
    /* Beyond the per-address limit the server hangs up at once. */
    for (int i = 0; i < SLOW; i++) {
        if (fds[i] < 0)
            continue;
        if (h_closed_within(fds[i], i < PER_ADDR ? 0 : 2000)) {
            close(fds[i]);
            fds[i] = -1;
        } else {
            open_n++;
        }
    }
    assert_true(open_n <= PER_ADDR);
    assert_true(open_n > 0);
    /* Everyone else is served meanwhile. */
    assert_int_equal(healthz_from("127.0.0.2"), 200);
    /* A header byte every half second does not keep a connection: the head has a deadline,
     * not just an idle timeout. */
    int trickling = -1;
    for (int i = 0; i < SLOW && trickling < 0; i++)
        trickling = fds[i];
    bool closed = false;
    for (int k = 0; k < 4 * HEAD_SECS * 4 && !closed; k++) {
        send(trickling, "X", 1, MSG_NOSIGNAL);
        closed = h_closed_within(trickling, 500);
    }
    assert_true(closed);
    /* Every slow connection is gone, and the slots are free again. */
    for (int i = 0; i < SLOW; i++) {
        if (fds[i] < 0)
            continue;
        if (fds[i] != trickling)
            assert_true(h_closed_within(fds[i], 4 * HEAD_SECS * 1000));
        close(fds[i]);
    }
    /* The server's side of each closed connection ends on its own thread, soon after. */
    int st = 0;
    for (int i = 0; i < 100 && st != 200; i++) {
        st = healthz_from("127.0.0.1");
        if (st != 200)
            poll(NULL, 0, 100);
    }
    assert_int_equal(st, 200);
    assert_int_equal(healthz_from("127.0.0.2"), 200);
}

/* A client that sends whole requests on one kept-alive connection is served as before. */
static void test_keep_alive_unaffected(void **state)
{
    (void)state;
    for (int i = 0; i < 3 * PER_ADDR; i++)
        assert_int_equal(healthz_from("127.0.0.1"), 200);
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", "/api/v1/assets", NULL, &j), 200);
    sg_json_decref(j);
}

static int start(void **state)
{
    (void)state;
    g_start_with("conns", "[http]\nmax_connections_per_client = 8\nheader_timeout = 3\n");
    return 0;
}

static int stop(void **state)
{
    (void)state;
    g_stop();
    return 0;
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_clients, start, stop),
        cmocka_unit_test_setup_teardown(test_keep_alive_unaffected, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
