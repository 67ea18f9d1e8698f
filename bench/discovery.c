/* discovery: a PostgreSQL database of 10,000 tables discovered as assets through the API
 * (POST /api/v1/connections/{id}/discover, then GET until done), first into an empty store,
 * then again when nothing changed. Goal: the first run in 10 s or less. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GRANTOR_PW "bench-Grantor-Pw1"

/* One run: the seconds from the POST to the state done, and its counts in *added. */
static double run_once(int64_t *added, int64_t *found)
{
    sg_json *j = NULL;
    double t0 = env_ms();
    assert_int_equal(g_call("POST", "/api/v1/connections/warehouse/discover", NULL, &j), 202);
    sg_json_decref(j);
    for (;;) {
        j = NULL;
        assert_int_equal(g_call("GET", "/api/v1/connections/warehouse", NULL, &j), 200);
        const sg_json *d = sg_json_get(j, "discovery");
        const char *s = sg_json_get_str(d, "state");
        if (s && strcmp(s, "failed") == 0)
            fail_msg("discovery failed: %s", sg_json_get_str(d, "error"));
        if (s && strcmp(s, "done") == 0) {
            double secs = (env_ms() - t0) / 1000.0;
            sg_json_get_int(sg_json_get(d, "counts"), "added", added);
            sg_json_get_int(sg_json_get(d, "counts"), "found", found);
            sg_json_decref(j);
            return secs;
        }
        sg_json_decref(j);
        if (env_ms() - t0 > 600000)
            fail_msg("discovery did not finish in 10 minutes");
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void bench_discovery(void)
{
    int n = B.smoke ? 20 : 10000;
    h_pg pg;
    env_pg(&pg, n, 1);
    env_connected("bench-discovery", false);
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"warehouse\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 port=%d "
             "dbname=analytics user=snowgate_grantor sslmode=disable\",\"password\":\"" GRANTOR_PW
             "\",\"default_owner\":\"alice\"}",
             pg.port);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections", body, &j), 201);
    sg_json_decref(j);
    int64_t added = 0, found = 0;
    double first = run_once(&added, &found);
    bench_row("discovery", "first run, into an empty store", "&le; 10 s", first <= 10.0,
              "%.2f s for %lld objects (%lld assets added)", first, (long long)found,
              (long long)added);
    double again = run_once(&added, &found);
    bench_row("discovery", "again, nothing changed", "-", -1, "%.2f s for %lld objects", again,
              (long long)found);
    g_stop();
    h_pg_stop(&pg);
}
