/* footprint: the binary's size, start-up time to /readyz (first start on an empty data
 * directory, then restarts), RSS when idle, and RSS under the ingest load. */
#include "bench.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* Starts snowgate on dir and returns the milliseconds until /readyz answers 200. */
static double start_ms(const char *dir, pid_t *pid)
{
    int port = h_free_port();
    char listen[32], url[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(url, sizeof(url), "http://%s/readyz", listen);
    char *argv[] = {SG_BUILD_DIR "/snowgate",    "serve", "--listen", listen, "--data", (char *)dir,
                    "--allow-insecure-loopback", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L);
    double t0 = env_ms();
    assert_int_equal(posix_spawn(pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    double took = -1;
    while (env_ms() - t0 < 30000) {
        long status = 0;
        if (curl_easy_perform(h) == CURLE_OK &&
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200) {
            took = env_ms() - t0;
            break;
        }
        struct timespec t = {0, 200 * 1000};
        nanosleep(&t, NULL);
    }
    curl_easy_cleanup(h);
    assert_true(took >= 0);
    return took;
}

static void stop(pid_t pid)
{
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
}

typedef struct sampler {
    int pid;
    volatile bool stop;
    long max_kb;
    pthread_t th;
} sampler;

static void *sample(void *arg)
{
    sampler *s = arg;
    while (!s->stop) {
        long kb = env_rss_kb(s->pid);
        if (kb > s->max_kb)
            s->max_kb = kb;
        struct timespec t = {0, 20 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    return NULL;
}

typedef struct ev_ctx {
    char *secret;
} ev_ctx;

static void make_event(void *ctx, uint64_t seq, load_req *rq)
{
    env_event(((ev_ctx *)ctx)->secret, "footprint", seq, "snowgate:bench-elsewhere", rq);
}

void bench_footprint(void)
{
    struct stat sb;
    assert_int_equal(stat(SG_BUILD_DIR "/snowgate", &sb), 0);
    bench_row("footprint", "binary size (snowgate, not stripped)", "-", -1, "%.2f MB",
              (double)sb.st_size / 1048576.0);

    char *dir = h_tmpdir("bench-start");
    pid_t pid;
    double first = start_ms(dir, &pid);
    stop(pid);
    int runs = B.smoke ? 2 : 9;
    double *t = calloc((size_t)runs, sizeof(double));
    for (int i = 0; i < runs; i++) {
        t[i] = start_ms(dir, &pid);
        if (i < runs - 1)
            stop(pid);
    }
    load_result sorted = {.lat_ms = t, .n = (size_t)runs};
    load_sort(&sorted);
    double median = load_pct(&sorted, 50);
    bench_row("footprint", "start-up to /readyz (restart, median)", "&le; 100 ms", median <= 100,
              "%.1f ms (first start on an empty directory: %.1f ms)", median, first);
    sleep(B.smoke ? 1 : 3);
    long idle = env_rss_kb(pid);
    bench_row("footprint", "RSS idle", "&le; 16 MB", idle > 0 && idle <= 16 * 1024, "%.1f MB",
              (double)idle / 1024.0);
    stop(pid);
    free(t);
    h_rmdir(dir);
    free(dir);

    /* Under the ingest load. */
    env_connected("bench-footprint", false);
    ev_ctx x = {env_webhook_secret()};
    sampler s = {G.gate.pid, false, 0, 0};
    pthread_create(&s.th, NULL, sample, &s);
    load_opts o = {.base = G.gate.url,
                   .connections = 16,
                   .seconds = B.smoke ? 1 : 5,
                   .make = make_event,
                   .ctx = &x};
    load_result r;
    load_run(&o, &r);
    s.stop = true;
    pthread_join(s.th, NULL);
    bench_row("footprint", "RSS under the ingest load (peak)", "-", -1, "%.1f MB (%.0f events/s)",
              (double)s.max_kb / 1024.0, load_rate(&r));
    load_result_free(&r);
    free(x.secret);
    g_stop();
}
