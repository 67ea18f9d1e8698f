/* End to end: slow clients cannot exhaust snowgate's connections. One address holds at most
 * http.max_connections_per_client of them, and a request head that does not arrive within
 * http.header_timeout (however slowly it trickles in) is closed; meanwhile /healthz answers
 * everyone else. All on loopback: the attacker is 127.0.0.1, the others 127.0.0.2. */
#include "e2e/gate_env.h"

#include "core/err.h"
#include "core/str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOW      300
#define PER_ADDR  8
#define HEAD_SECS 3

static int gate_port(void)
{
    const char *colon = strrchr(G.gate.url, ':');
    assert_non_null(colon);
    int64_t port = 0;
    assert_int_equal(sg_parse_i64(colon + 1, 1, 65535, "port", &port), SG_OK);
    return (int)port;
}

/* A socket connected to snowgate from source address `from`; -1 when refused. */
static int connect_from(const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &src.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gate_port())};
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether the server has closed fd (EOF or reset), waiting up to ms. */
static bool closed_within(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return false;
    char b[256];
    ssize_t n = recv(fd, b, sizeof(b), 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* GET /healthz from `from`, the whole exchange within 10 s; returns the status or 0. */
static int healthz_from(const char *from)
{
    int fd = connect_from(from);
    if (fd < 0)
        return 0;
    const char *req = "GET /healthz HTTP/1.1\r\nHost: snowgate\r\nConnection: close\r\n\r\n";
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
        close(fd);
        return 0;
    }
    char buf[1024];
    size_t got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got < sizeof(buf) - 1 && poll(&p, 1, 10000) > 0) {
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    int status = 0;
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        return 0;
    return status;
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
        if (closed_within(fds[i], i < PER_ADDR ? 0 : 2000)) {
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
        closed = closed_within(trickling, 500);
    }
    assert_true(closed);
    /* Every slow connection is gone, and the slots are free again. */
    for (int i = 0; i < SLOW; i++) {
        if (fds[i] < 0)
            continue;
        if (fds[i] != trickling)
            assert_true(closed_within(fds[i], 4 * HEAD_SECS * 1000));
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
