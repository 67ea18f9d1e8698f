/* harness: process and file helpers for unit and end-to-end tests. */
#include "e2e/harness.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int h_read_file(const char *path, sg_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return sg_err_set(SG_EIO, "%s: %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    int rc = SG_OK;
    if (!out->max)
        out->max = 64 * 1024 * 1024;
    while (rc == SG_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = sg_buf_append(out, chunk, n);
    if (rc == SG_OK)
        rc = sg_buf_append(out, "", 0);
    fclose(f);
    return rc;
}

int h_write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return sg_err_set(SG_EIO, "%s: %s", path, strerror(errno));
    size_t n = fwrite(data, 1, len, f);
    fclose(f);
    return n == len ? SG_OK : SG_EIO;
}

char *h_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = sg_xasprintf("%s/sgtest-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "mkdtemp failed: %s\n", strerror(errno));
        abort();
    }
    return tmpl;
}

void h_rmdir(const char *path)
{
    const char *argv[] = {"/bin/rm", "-rf", path, NULL};
    h_run(argv, NULL, 30000, NULL, NULL);
}

static char **merged_env(const char *const env[])
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (env && env[m])
        m++;
    char **all = sg_xcalloc(n + m + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        all[k++] = (char *)env[i];
    for (size_t i = 0; i < n; i++) {
        bool overridden = false;
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        for (size_t j = 0; j < m; j++)
            if (strncmp(env[j], environ[i], klen) == 0 && env[j][klen] == '=')
                overridden = true;
        if (!overridden)
            all[k++] = environ[i];
    }
    return all;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int h_spawn_server(const char *const argv[], const char *const env[], const char *banner,
                   int timeout_ms, h_proc *p)
{
    int pipefd[2];
    memset(p, 0, sizeof(*p));
    char *dir = h_tmpdir("log");
    snprintf(p->log_path, sizeof(p->log_path), "%s/stderr.log", dir);
    free(dir);
    if (pipe(pipefd) != 0)
        return SG_EIO;
    char **envp = merged_env(env);
    pid_t pid = fork();
    if (pid == 0) {
        int logfd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(pipefd[1], 1);
        dup2(logfd, 2);
        close(pipefd[0]);
        close(pipefd[1]);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    free(envp);
    close(pipefd[1]);
    p->pid = pid;
    p->out_fd = pipefd[0];
    char line[1024];
    size_t len = 0;
    int64_t deadline = now_ms() + timeout_ms;
    char want[128];
    snprintf(want, sizeof(want), "%s listening on ", banner);
    while (now_ms() < deadline) {
        struct pollfd pfd = {p->out_fd, POLLIN, 0};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t n = read(p->out_fd, line + len, 1);
        if (n <= 0)
            break;
        if (line[len] == '\n') {
            line[len] = '\0';
            if (sg_str_startswith(line, want)) {
                sg_strlcpy(p->url, line + strlen(want), sizeof(p->url));
                return SG_OK;
            }
            len = 0;
            continue;
        }
        if (++len >= sizeof(line) - 1)
            len = 0;
    }
    h_stop(p, SIGKILL, 5000);
    return sg_err_set(SG_ETIMEOUT, "%s did not print its listening line", argv[0]);
}

static int wait_status(pid_t pid, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec nap = {0, 10 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

int h_stop(h_proc *p, int sig, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    int st = wait_status(p->pid, timeout_ms);
    if (p->out_fd > 0)
        close(p->out_fd);
    p->pid = 0;
    p->out_fd = 0;
    return st;
}

static void drain(int fd, sg_buf *b, bool *open_)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) {
        *open_ = false;
        return;
    }
    if (b)
        sg_buf_append(b, chunk, (size_t)n);
}

int h_run(const char *const argv[], const char *const env[], int timeout_ms, sg_buf *out,
          sg_buf *err)
{
    return h_run_input(argv, env, NULL, timeout_ms, out, err);
}

int h_run_input(const char *const argv[], const char *const env[], const char *input,
                int timeout_ms, sg_buf *out, sg_buf *err)
{
    int po[2], pe[2], pi[2];
    /* Close-on-exec: the child gets them only as 0, 1 and 2, so a daemon it leaves behind
     * (pg_ctl's server) does not hold the pipes open and keep us waiting for their end. */
    if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0 || pipe2(pi, O_CLOEXEC) != 0)
        return -1;
    char **envp = merged_env(env);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pi[0], 0);
        close(pi[1]);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    free(envp);
    close(pi[0]);
    if (input && write(pi[1], input, strlen(input)) < 0)
        fprintf(stderr, "could not write the child's input\n");
    close(pi[1]);
    close(po[1]);
    close(pe[1]);
    bool oo = true, eo = true;
    int64_t deadline = now_ms() + timeout_ms;
    while ((oo || eo) && now_ms() < deadline) {
        struct pollfd pfd[2] = {{oo ? po[0] : -1, POLLIN, 0}, {eo ? pe[0] : -1, POLLIN, 0}};
        if (poll(pfd, 2, 100) <= 0)
            continue;
        if (pfd[0].revents)
            drain(po[0], out, &oo);
        if (pfd[1].revents)
            drain(pe[0], err, &eo);
    }
    close(po[0]);
    close(pe[0]);
    int64_t left = deadline - now_ms();
    return wait_status(pid, left > 0 ? (int)left : 1);
}

/* With SG_API_RECORD set (a directory; tests/CMakeLists.txt sets it), every answer is
 * appended to DIR/<pid>.jsonl as {"method","url","status","content_type","body"} (body only
 * when JSON), for tests/openapi/check.mjs to hold against docs/openapi.yaml. */
static void record(const char *method, const char *url, const sg_http_response *res)
{
    const char *dir = getenv("SG_API_RECORD");
    if (!dir || !*dir)
        return;
    mkdir(dir, 0755);
    char path[600];
    snprintf(path, sizeof(path), "%s/%ld.jsonl", dir, (long)getpid());
    const char *ct = sg_http_response_header(res, "Content-Type");
    sg_json *j = sg_json_object();
    sg_json_set_str(j, "method", method);
    sg_json_set_str(j, "url", url);
    sg_json_set_int(j, "status", res->status);
    sg_json_set_str(j, "content_type", ct ? ct : "");
    sg_json *body = NULL;
    if (ct && sg_str_startswith(ct, "application/json") && res->body.len &&
        sg_json_parse(res->body.data, res->body.len, 16 * 1024 * 1024, 0, &body) == SG_OK)
        sg_json_set(j, "body", body);
    char *line = sg_json_dump(j);
    sg_json_decref(j);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
        sg_buf b = SG_BUF_INIT(0);
        sg_buf_printf(&b, "%s\n", line);
        if (write(fd, b.data, b.len) < 0)
            fprintf(stderr, "could not record an API answer\n");
        sg_buf_free(&b);
        close(fd);
    }
    free(line);
}

int h_http(const char *method, const char *url, const char *const *headers, const char *body,
           sg_http_response *res)
{
    sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
    o.allow_insecure_loopback = true;
    int rc = sg_http_request(&o, method, url, headers, body, body ? strlen(body) : 0, res);
    if (rc == SG_OK)
        record(method, url, res);
    return rc;
}

int h_url_port(const char *base)
{
    const char *colon = strrchr(base, ':');
    assert_non_null(colon);
    int64_t port = 0;
    assert_int_equal(sg_parse_i64(colon + 1, 1, 65535, "port", &port), SG_OK);
    return (int)port;
}

int h_connect_from(int port, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &src.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

bool h_closed_within(int fd, int ms)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0)
        return false;
    char b[256];
    ssize_t n = recv(fd, b, sizeof(b), 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

int h_raw_answer(int fd, int ms, sg_buf *out)
{
    sg_buf got = SG_BUF_INIT(1024 * 1024);
    int64_t deadline = now_ms() + ms;
    bool closed = false;
    while (!closed) {
        int64_t left = deadline - now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n > 0 && sg_buf_append(&got, chunk, (size_t)n) == SG_OK)
            continue;
        /* EOF or reset; an error other than those is taken as the end as well. */
        closed = n <= 0;
    }
    int status = 0;
    if (!closed)
        status = -1;
    else if (sscanf(sg_buf_str(&got), "HTTP/1.%*d %d", &status) != 1)
        status = 0;
    if (out)
        sg_buf_append(out, got.data ? got.data : "", got.len);
    sg_buf_free(&got);
    return status;
}

int h_raw_get(int port, const char *from, const char *path, int ms)
{
    int fd = h_connect_from(port, from);
    if (fd < 0)
        return 0;
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
                     path);
    int status = 0;
    if (n > 0 && (size_t)n < sizeof(req) && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n)
        status = h_raw_answer(fd, ms, NULL);
    close(fd);
    return status;
}

int h_count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        if (*p == '\n')
            n++;
    return n;
}

char *h_basic(const char *user, const char *password)
{
    sg_buf raw = SG_BUF_INIT(0), b64 = SG_BUF_INIT(0);
    sg_buf_printf(&raw, "%s:%s", user, password);
    sg_base64_encode(raw.data, raw.len, false, &b64);
    char *h = sg_xasprintf("Authorization: Basic %s", sg_buf_str(&b64));
    sg_buf_free(&raw);
    sg_buf_free(&b64);
    return h;
}

void h_sim_start(h_sim *s, const char *dir, const char *const *extra)
{
    memset(s, 0, sizeof(*s));
    s->own_dir = dir == NULL;
    s->dir = dir ? sg_xstrdup(dir) : h_tmpdir("snowsim");
    const char *argv[32] = {SG_BUILD_DIR "/snowsim", "--listen",  "127.0.0.1:0", "--data", s->dir,
                            "--admin-password",      "admin-Pw1", "--log-level", "warn"};
    int n = 9;
    for (const char *const *e = extra; e && *e && n < 30; e++)
        argv[n++] = *e;
    argv[n] = NULL;
    if (h_spawn_server(argv, NULL, "snowsim", 30000, &s->p) != SG_OK)
        fail_msg("snowsim did not start: %s", sg_err_msg());
    s->admin_auth = h_basic("admin", "admin-Pw1");
}

void h_sim_stop(h_sim *s)
{
    if (s->p.pid)
        assert_int_equal(h_stop(&s->p, SIGTERM, 30000), 0);
    if (s->own_dir)
        h_rmdir(s->dir);
    free(s->dir);
    free(s->admin_auth);
    memset(s, 0, sizeof(*s));
}

long h_call(const char *method, const char *base, const char *path, const char *const *headers,
            const char *body, sg_json **json, sg_http_response *keep)
{
    char *url = sg_xasprintf("%s%s", base, path);
    sg_http_response r;
    const char *hdrs[24];
    int n = 0;
    for (const char *const *h = headers; h && *h && n < 20; h++)
        hdrs[n++] = *h;
    if (body)
        hdrs[n++] = "Content-Type: application/json";
    hdrs[n++] = "Accept: application/json";
    hdrs[n] = NULL;
    int rc = h_http(method, url, hdrs, body, &r);
    free(url);
    if (rc != SG_OK)
        fail_msg("%s %s failed: %s", method, path, sg_err_msg());
    if (json) {
        *json = NULL;
        if (r.body.len)
            sg_json_parse(r.body.data, r.body.len, 16 * 1024 * 1024, 0, json);
    }
    long status = r.status;
    if (keep)
        *keep = r;
    else
        sg_http_response_free(&r);
    return status;
}

int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("no free port for PostgreSQL");
    close(fd);
    return ntohs(a.sin_port);
}

bool h_corpus_mode(int argc, char **argv)
{
    return argc > 1 && strcmp(argv[1], "--corpus") == 0;
}

void h_corpus_path(const char *rel, const char *what, char *out, size_t n)
{
    const char *env = getenv("SG_CORPUS_DIR");
    const char *dir = env && *env ? env : SG_CORPUS_DIR;
    int len = snprintf(out, n, "%s/%s", dir, rel);
    if (len < 0 || (size_t)len >= n) {
        fprintf(stderr, "corpus path too long: %s/%s\n", dir, rel);
        exit(1);
    }
    struct stat st;
    if (stat(out, &st) == 0)
        return;
    /* One line, read by scripts/test-summary.sh as the reason. */
    printf("skipped: %s: no %s (set SG_CORPUS_DIR to the outside corpus folder)\n", what, out);
    fflush(stdout);
    exit(H_SKIPPED);
}
