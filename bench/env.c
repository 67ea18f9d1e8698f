/* env: what the scenarios measure, brought up the way the end-to-end tests do (the G fixture),
 * but with production timers. */
#include "bench.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/webhook_sig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GRANTOR_PW "bench-Grantor-Pw1"
#define NGINX_BIN  "/usr/sbin/nginx"

double env_ms(void)
{
    return load_now_ms();
}

void env_connected(const char *tag, bool debug)
{
    g_start(tag, NULL);
    g_connected();
    /* The tests' fixture runs the scheduled Run test and the reconciler every second; a real
     * installation does not. The load comes from one address, as it would from a reverse
     * proxy: trusted, so the per-client connection limit does not apply. */
    assert_int_equal(h_stop(&G.gate, SIGTERM, 30000), 0);
    char ini[512];
    snprintf(ini, sizeof(ini), "%s/snowgate.ini", G.dir);
    const char *cfg =
        debug || getenv("BENCH_DEBUG")
            ? "[log]\nlevel = debug\n[servicenow]\nwebhook_timeout = 5\n"
              "[http]\ntrusted_proxies = 127.0.0.1/32\n"
            : "[servicenow]\nwebhook_timeout = 5\n[http]\ntrusted_proxies = 127.0.0.1/32\n";
    assert_int_equal(h_write_file(ini, cfg, strlen(cfg)), SG_OK);
    g_spawn_gate();
}

char *env_webhook_secret(void)
{
    return g_webhook_secret();
}

void env_pg(h_pg *pg, int ntables, int nroles)
{
    h_pg_start(pg);
    h_pg_exec(pg, "postgres", "CREATE DATABASE analytics");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "CREATE ROLE snowgate_grantor LOGIN PASSWORD '" GRANTOR_PW "'; "
             "DO $$ BEGIN FOR i IN 0..%d LOOP EXECUTE format('CREATE ROLE u%%s_role NOLOGIN', i); "
             "END LOOP; END $$;",
             nroles - 1);
    h_pg_exec(pg, "postgres", sql);
    snprintf(sql, sizeof(sql),
             "CREATE SCHEMA sales AUTHORIZATION snowgate_grantor; "
             "SET ROLE snowgate_grantor; "
             "DO $$ BEGIN FOR i IN 0..%d LOOP EXECUTE format('CREATE TABLE sales.t%%s (id int)', "
             "i); END LOOP; END $$; RESET ROLE;",
             ntables - 1);
    h_pg_exec(pg, "analytics", sql);
    snprintf(sql, sizeof(sql),
             "DO $$ BEGIN FOR i IN 0..%d LOOP EXECUTE format('GRANT USAGE ON SCHEMA sales TO "
             "u%%s_role', i); END LOOP; END $$;",
             nroles - 1);
    h_pg_exec(pg, "analytics", sql);
}

void env_assets(const h_pg *pg, int ntables)
{
    char body[512];
    snprintf(body, sizeof(body),
             "{\"name\":\"warehouse\",\"kind\":\"postgres\",\"dsn\":\"host=127.0.0.1 port=%d "
             "dbname=analytics user=snowgate_grantor sslmode=disable\",\"password\":\"" GRANTOR_PW
             "\"}",
             pg->port);
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/connections", body, &j), 201);
    sg_json_decref(j);
    for (int i = 0; i < ntables; i++) {
        snprintf(body, sizeof(body),
                 "{\"name\":\"analytics.sales.t%d\",\"type\":\"table\",\"connection\":"
                 "\"warehouse\",\"owners\":[\"alice\"]}",
                 i);
        assert_int_equal(g_call("POST", "/api/v1/assets", body, &j), 201);
        sg_json_decref(j);
    }
}

void env_event(const char *secret, const char *run, uint64_t seq, const char *correlation_id,
               load_req *rq)
{
    char id[96];
    snprintf(id, sizeof(id), "msg_%s_%llu", run, (unsigned long long)seq);
    int64_t now = (int64_t)time(NULL);
    int n = snprintf(rq->body, sizeof(rq->body),
                     "{\"type\":\"sc_request.updated\",\"table\":\"sc_request\",\"sys_id\":"
                     "\"%032llx\",\"number\":\"REQ%07llu\",\"correlation_id\":\"%s\","
                     "\"approval\":\"requested\",\"request_state\":\"requested\"}",
                     (unsigned long long)seq, (unsigned long long)(seq % 10000000), correlation_id);
    rq->body_len = (size_t)n;
    sg_buf sig = SG_BUF_INIT(0);
    if (sg_webhook_sig_sign(secret, id, now, rq->body, rq->body_len, &sig) != SG_OK)
        abort();
    rq->method = "POST";
    snprintf(rq->path, sizeof(rq->path), "/webhooks/servicenow");
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "Content-Type: application/json");
    snprintf(rq->headers[1], sizeof(rq->headers[1]), "webhook-id: %s", id);
    snprintf(rq->headers[2], sizeof(rq->headers[2]), "webhook-timestamp: %lld", (long long)now);
    snprintf(rq->headers[3], sizeof(rq->headers[3]), "webhook-signature: %s", sg_buf_str(&sig));
    sg_buf_free(&sig);
}

/* Every path nginx writes is under its prefix, so it needs no root and touches nothing of a
 * system nginx. worker_processes auto (one per core, as Debian's own config has it): snowgate
 * may use every core, so its ceiling must too; on 2 cores the load generator takes its share
 * from both alike. keepalive_requests: each client keeps one connection for the whole run, as
 * against snowgate (nginx's default closes it after 1,000 requests). */
#define NGINX_CONF                                                                                 \
    "worker_processes auto;\n"                                                                     \
    "daemon off;\n"                                                                                \
    "pid \"%1$s/nginx.pid\";\n"                                                                    \
    "error_log \"%1$s/error.log\" warn;\n"                                                         \
    "events {}\n"                                                                                  \
    "http {\n"                                                                                     \
    "    access_log off;\n"                                                                        \
    "    client_body_temp_path \"%1$s/body\";\n"                                                   \
    "    proxy_temp_path \"%1$s/proxy\";\n"                                                        \
    "    fastcgi_temp_path \"%1$s/fastcgi\";\n"                                                    \
    "    uwsgi_temp_path \"%1$s/uwsgi\";\n"                                                        \
    "    scgi_temp_path \"%1$s/scgi\";\n"                                                          \
    "    keepalive_requests 100000000;\n"                                                          \
    "    server {\n"                                                                               \
    "        listen 127.0.0.1:%2$d;\n"                                                             \
    "        location / { return 204; }\n"                                                         \
    "    }\n"                                                                                      \
    "}\n"

/* The last line nginx wrote to its error log, for a reason in one line. */
static void nginx_last_error(env_nginx *n, const char *what)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/error.log", n->dir);
    sg_buf log = SG_BUF_INIT(0);
    const char *last = "";
    if (h_read_file(path, &log) == SG_OK && log.len) {
        char *text = log.data;
        size_t len = strlen(text);
        while (len && text[len - 1] == '\n')
            text[--len] = '\0';
        char *nl = strrchr(text, '\n');
        last = nl ? nl + 1 : text;
    }
    snprintf(n->why, sizeof(n->why), "%.60s: %.300s (%.400s)", what, *last ? last : "no message",
             path);
    sg_buf_free(&log);
}

bool env_nginx_start(env_nginx *n)
{
    memset(n, 0, sizeof(*n));
    if (access(NGINX_BIN, X_OK) != 0) {
        snprintf(n->why, sizeof(n->why),
                 "no nginx at " NGINX_BIN " (Debian package nginx; scripts/install-deps.sh)");
        return false;
    }
    n->dir = h_tmpdir("nginx");
    int port = h_free_port();
    char conf[2048], conf_path[600], log_path[600], prefix[600];
    int len = snprintf(conf, sizeof(conf), NGINX_CONF, n->dir, port);
    snprintf(conf_path, sizeof(conf_path), "%s/nginx.conf", n->dir);
    snprintf(log_path, sizeof(log_path), "%s/error.log", n->dir);
    snprintf(prefix, sizeof(prefix), "%s/", n->dir);
    snprintf(n->p.log_path, sizeof(n->p.log_path), "%s/stderr.log", n->dir);
    assert_int_equal(h_write_file(conf_path, conf, (size_t)len), SG_OK);
    /* -e: the log for what it says before it reads the config. */
    const char *argv[] = {NGINX_BIN, "-p", prefix, "-c", conf_path, "-e", log_path, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(n->p.log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (pid < 0) {
        snprintf(n->why, sizeof(n->why), "could not fork nginx");
        goto fail;
    }
    n->p.pid = pid;
    snprintf(n->url, sizeof(n->url), "http://127.0.0.1:%d", port);
    /* It prints nothing when ready: ask until it answers, or has gone. */
    char url[96];
    snprintf(url, sizeof(url), "%s/", n->url);
    double t0 = env_ms();
    while (env_ms() - t0 < 10000) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            n->p.pid = 0;
            nginx_last_error(n, "nginx exited as it started");
            goto fail;
        }
        sg_http_response r;
        int rc = h_http("GET", url, NULL, NULL, &r);
        long status = r.status;
        sg_http_response_free(&r);
        if (rc == SG_OK) {
            if (status == 204)
                return true;
            snprintf(n->why, sizeof(n->why), "nginx answered %ld, not 204, at %s", status, url);
            goto fail;
        }
        struct timespec t = {0, 20 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    nginx_last_error(n, "nginx did not answer within 10 s");
fail:
    if (n->p.pid) /* SIGTERM, so that its workers go too; SIGKILL only if it hangs */
        h_stop(&n->p, SIGTERM, 5000);
    free(n->dir); /* left on disk: the reason names its log */
    n->dir = NULL;
    return false;
}

void env_nginx_stop(env_nginx *n)
{
    /* SIGTERM: nginx's fast shutdown; the master takes its workers with it. */
    if (n->p.pid && h_stop(&n->p, SIGTERM, 10000) != 0)
        fprintf(stderr, "bench: nginx did not stop cleanly (its log: %s)\n", n->dir);
    else if (n->dir)
        h_rmdir(n->dir);
    free(n->dir);
    n->dir = NULL;
}

long env_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

double env_wait_count(int64_t (*count_fn)(void *ctx), void *ctx, int64_t want, double limit_s)
{
    double t0 = env_ms();
    for (;;) {
        if (count_fn(ctx) >= want)
            return (env_ms() - t0) / 1e3;
        if (env_ms() - t0 > limit_s * 1e3)
            return -1;
        struct timespec t = {0, 200 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
}

typedef struct count_ctx {
    const char *sql;
    int64_t n;
} count_ctx;

static int count_tx(sg_conn *c, void *ctx)
{
    count_ctx *x = ctx;
    return sg_conn_query_int(c, x->sql, NULL, 0, &x->n);
}

int64_t env_store_count(const char *sql)
{
    sg_store *st = g_store_open();
    count_ctx x = {sql, 0};
    assert_int_equal(sg_store_read(st, count_tx, &x), SG_OK);
    sg_store_close(st);
    return x.n;
}
