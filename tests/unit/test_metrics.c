/* Tests for core/metrics: the text format, label escaping, histograms, concurrent updates and
 * the cap on series. */
#include "e2e/harness.h"

#include "core/buf.h"
#include "core/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reset(void **state)
{
    (void)state;
    sg_metrics_reset();
    return 0;
}

static const char *help(const char *name)
{
    return strcmp(name, "t_requests_total") == 0 ? "requests seen" : NULL;
}

static void test_format_and_escaping(void **state)
{
    (void)state;
    char labels[128];
    sg_metrics_labels(labels, sizeof(labels), "route", "/a/{id}", "q", "say \"hi\"\\\n",
                      (const char *)NULL);
    assert_string_equal(labels, "route=\"/a/{id}\",q=\"say \\\"hi\\\"\\\\\\n\"");
    sg_metrics_inc("t_requests_total", labels, 1);
    sg_metrics_inc("t_requests_total", labels, 2);
    sg_metrics_inc("t_requests_total", "route=\"/b\"", 1);
    sg_metrics_observe("t_seconds", "", 0.003);
    sg_metrics_observe("t_seconds", "", 0.2);
    sg_metrics_observe("t_seconds", "", 30);
    sg_buf out = SG_BUF_INIT(0);
    sg_metrics_render(&out, help);
    sg_metrics_gauge(&out, "t_gauge", "a gauge", NULL, 1.5);
    const char *t = sg_buf_str(&out);
    assert_non_null(strstr(t, "# HELP t_requests_total requests seen\n# TYPE t_requests_total "
                              "counter\n"));
    assert_non_null(
        strstr(t, "t_requests_total{route=\"/a/{id}\",q=\"say \\\"hi\\\"\\\\\\n\"} 3\n"));
    assert_non_null(strstr(t, "t_requests_total{route=\"/b\"} 1\n"));
    /* One HELP per family, even with two series. */
    const char *type = strstr(t, "# TYPE t_requests_total");
    assert_null(strstr(type + 1, "# TYPE t_requests_total"));
    assert_non_null(strstr(t, "# TYPE t_seconds histogram\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{le=\"0.25\"} 2\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{le=\"10\"} 2\n"));
    assert_non_null(strstr(t, "t_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(t, "t_seconds_sum 30.203\n"));
    assert_non_null(strstr(t, "t_seconds_count 3\n"));
    assert_non_null(strstr(t, "# TYPE t_gauge gauge\nt_gauge 1.5\n"));
    sg_buf_free(&out);
}

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        sg_metrics_inc("t_hits_total", i % 2 ? "k=\"odd\"" : "k=\"even\"", 1);
        sg_metrics_observe("t_lat_seconds", "", (i % 100) / 1000.0);
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    (void)state;
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, hammer, NULL);
    /* Scrapes meanwhile see cumulative buckets. */
    for (int k = 0; k < 50; k++) {
        sg_buf out = SG_BUF_INIT(0);
        sg_metrics_render(&out, NULL);
        double prev = 0;
        for (const char *p = strstr(sg_buf_str(&out), "t_lat_seconds_bucket"); p;
             p = strstr(p + 1, "t_lat_seconds_bucket")) {
            double v = strtod(strchr(p, '}') + 2, NULL);
            assert_true(v >= prev);
            prev = v;
        }
        sg_buf_free(&out);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    sg_buf out = SG_BUF_INIT(0);
    sg_metrics_render(&out, NULL);
    assert_non_null(strstr(sg_buf_str(&out), "t_hits_total{k=\"odd\"} 80000\n"));
    assert_non_null(strstr(sg_buf_str(&out), "t_hits_total{k=\"even\"} 80000\n"));
    assert_non_null(strstr(sg_buf_str(&out), "t_lat_seconds_count 160000\n"));
    sg_buf_free(&out);
}

static void test_series_cap(void **state)
{
    (void)state;
    for (int i = 0; i < 1100; i++) {
        char l[32];
        snprintf(l, sizeof(l), "n=\"%d\"", i);
        sg_metrics_inc("t_many_total", l, 1);
    }
    sg_buf out = SG_BUF_INIT(0);
    sg_metrics_render(&out, NULL);
    /* Past the cap new series are dropped, and counted, not allocated. */
    assert_non_null(strstr(sg_buf_str(&out), "t_many_total{n=\"1023\"} 1\n"));
    assert_null(strstr(sg_buf_str(&out), "t_many_total{n=\"1024\"}"));
    assert_non_null(strstr(sg_buf_str(&out), "snowgate_metrics_series_dropped_total 76\n"));
    sg_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_format_and_escaping, reset),
        cmocka_unit_test_setup(test_concurrent_updates, reset),
        cmocka_unit_test_setup(test_series_cap, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
