/* bench: `make bench`. Runs each scenario against the optimised snowgate and snowsim (and a
 * real PostgreSQL where grants are involved), each in a child process of its own so that a
 * failing scenario cannot take the others down and leaves no server behind. Writes
 * DIR/latest.md (the goals beside the measurements, and the machine) and PNG plots of the
 * latency distributions (gnuplot), and prints the table.
 *
 *   snowgate-bench [--out DIR] [--scenario NAME] [--smoke]
 *
 * --smoke runs every scenario at a tiny size (seconds): `make check` uses it to keep the bench
 * working; it asserts nothing about time. */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bench_opts B;

static const struct {
    const char *name;
    void (*run)(void);
    const char *what;
} scenarios[] = {
    {"ingest", bench_ingest, "signed webhooks, verified, deduplicated and fsync'd before the 2xx"},
    {"decision", bench_decision, "approval in ServiceNow to grant in PostgreSQL"},
    {"backlog", bench_backlog, "requests raised while ServiceNow is down, then approved at once"},
    {"footprint", bench_footprint, "memory, start-up time, binary size"},
    {"scale", bench_scale, "a store of a million requests"},
    {"simquery", bench_simquery,
     "snowsim's Table API over 100,000 items: indexed equality queries"},
    {"discovery", bench_discovery, "a PostgreSQL database of 10,000 tables discovered as assets"},
};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

/* ---- results ---- */

static FILE *rows_file(const char *scenario, const char *mode)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/.rows-%s.tsv", B.out, scenario);
    return fopen(path, mode);
}

void bench_row(const char *scenario, const char *measure, const char *goal, int met,
               const char *fmt, ...)
{
    char value[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    FILE *f = rows_file(scenario, "a");
    if (!f)
        return;
    fprintf(f, "%s\t%s\t%s\t%d\n", measure, *goal ? goal : "-", value, met);
    fclose(f);
    printf("  %-10s %-44s %s\n", scenario, measure, value); /* into the scenario's log */
    fflush(stdout);
}

void bench_plot(const char *name, const char *title, const bench_series *s, int n)
{
    char gp[700], png[700];
    snprintf(gp, sizeof(gp), "%s/%s.gp", B.out, name);
    snprintf(png, sizeof(png), "%s/%s.png", B.out, name);
    FILE *g = fopen(gp, "w");
    if (!g)
        return;
    fprintf(g,
            "set terminal pngcairo size 900,500 font 'sans,10' noenhanced\nset output '%s'\n"
            "set title '%s'\nset xlabel 'percentile'\nset ylabel 'latency (ms)'\n"
            "set logscale y\nset grid\nset key left top\nplot ",
            png, title);
    for (int i = 0; i < n; i++) {
        char dat[700];
        snprintf(dat, sizeof(dat), "%s/%s-%d.dat", B.out, name, i);
        FILE *d = fopen(dat, "w");
        if (!d)
            continue;
        /* At most ~2,000 points per curve, denser in the tail. */
        size_t cnt = s[i].r->n;
        for (size_t k = 0; k < cnt; k++) {
            double p = cnt > 1 ? 100.0 * (double)k / (double)(cnt - 1) : 100.0;
            bool keep = cnt <= 2000 || k % (cnt / 1000 + 1) == 0 || p >= 99.0 || k == cnt - 1;
            if (keep)
                fprintf(d, "%.4f %.4f\n", p, s[i].r->lat_ms[k] > 0.001 ? s[i].r->lat_ms[k] : 0.001);
        }
        fclose(d);
        fprintf(g, "%s'%s' using 1:2 with lines lw 2 title '%s'", i ? ", " : "", dat, s[i].label);
    }
    fprintf(g, "\n");
    fclose(g);
    char cmd[1600];
    snprintf(cmd, sizeof(cmd), "gnuplot '%s' 2>'%s/%s.gnuplot.log'", gp, B.out, name);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: gnuplot could not draw %s (see %s/%s.gnuplot.log)\n", png, B.out,
                name);
}

/* ---- the report ---- */

static void machine(char *out, size_t n)
{
    char model[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *c = strchr(line, ':');
            snprintf(model, sizeof(model), "%.200s", c ? c + 2 : line);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
    long mem_kb = 0;
    f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemTotal: %ld kB", &mem_kb) == 1)
            break;
    if (f)
        fclose(f);
    struct utsname u;
    uname(&u);
    snprintf(out, n, "%s, %ld cores, %.1f GB RAM, Linux %s", model, sysconf(_SC_NPROCESSORS_ONLN),
             (double)mem_kb / 1048576.0, u.release);
}

static void report(const char *failed[], int nfailed)
{
    char path[700], when[64], host[512];
    snprintf(path, sizeof(path), "%s/latest.md", B.out);
    FILE *md = fopen(path, "w");
    if (!md) {
        fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
        return;
    }
    time_t now = time(NULL);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&now));
    machine(host, sizeof(host));
    fprintf(md, "# snowgate benchmark results\n\n");
    fprintf(md, "Run %s on %s. snowgate and snowsim built with `-O2`, no sanitizers%s.\n\n", when,
            host, B.smoke ? "; **smoke run** (tiny sizes: the numbers mean nothing)" : "");
    fprintf(md, "| scenario | measure | goal | result | |\n|---|---|---|---|---|\n");
    for (size_t i = 0; i < NSCEN; i++) {
        FILE *f = rows_file(scenarios[i].name, "r");
        char line[1024];
        while (f && fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = '\0';
            char *measure = strtok(line, "\t"), *goal = strtok(NULL, "\t");
            char *value = strtok(NULL, "\t"), *met = strtok(NULL, "\t");
            if (!measure || !goal || !value || !met)
                continue;
            int m = -1;
            if (sscanf(met, "%d", &m) != 1)
                m = -1;
            const char *verdict = m == 1               ? "met"
                                  : m == 0             ? "**missed**"
                                  : m == BENCH_SKIPPED ? "skipped"
                                                       : "";
            fprintf(md, "| %s | %s | %s | %s | %s |\n", scenarios[i].name, measure, goal, value,
                    verdict);
        }
        if (f)
            fclose(f);
    }
    for (int i = 0; i < nfailed; i++)
        fprintf(md, "| %s | the scenario did not finish | | see %s/%s.log | **failed** |\n",
                failed[i], B.out, failed[i]);
    fprintf(md, "\nPlots (latency by percentile):");
    for (size_t i = 0; i < NSCEN; i++) {
        char png[700];
        snprintf(png, sizeof(png), "%s/%s.png", B.out, scenarios[i].name);
        if (access(png, R_OK) == 0)
            fprintf(md, " [%s](%s.png)", scenarios[i].name, scenarios[i].name);
    }
    fprintf(md, "\n\nWhat each scenario does, and what stands in the way of a missed goal: "
                "`bench/README.md`.\n");
    fclose(md);
    char cmd[800];
    snprintf(cmd, sizeof(cmd), "cat '%s'", path);
    printf("\n");
    fflush(stdout);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not print %s\n", path);
}

/* ---- running ---- */

static int run_one(size_t i)
{
    char log[700];
    snprintf(log, sizeof(log), "%s/%s.log", B.out, scenarios[i].name);
    FILE *f = rows_file(scenarios[i].name, "w");
    if (f)
        fclose(f);
    printf("%s: %s\n", scenarios[i].name, scenarios[i].what);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* Its own process group: whatever it starts goes when it goes. */
        setpgid(0, 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { /* everything it says, failures included, goes to its log */
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        /* A failed check outside a cmocka test keeps its message in cmocka's buffer and
         * exits; with CMOCKA_TEST_ABORT it prints the message, then aborts. Line by line, so
         * that what it prints reaches the log and does not die in a buffer. */
        setenv("CMOCKA_TEST_ABORT", "1", 1);
        setvbuf(stdout, NULL, _IOLBF, 0);
        scenarios[i].run();
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    kill(-pid, SIGKILL); /* leftovers of a scenario that failed half way */
    bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    f = rows_file(scenarios[i].name, "r");
    char line[1024];
    while (f && fgets(line, sizeof(line), f)) {
        char *measure = strtok(line, "\t");
        strtok(NULL, "\t");
        char *value = strtok(NULL, "\t");
        if (measure && value)
            printf("  %-44s %s\n", measure, value);
    }
    if (f)
        fclose(f);
    if (!ok && WIFSIGNALED(st))
        fprintf(stderr, "bench: %s was killed by signal %d (%s); its log is %s\n",
                scenarios[i].name, WTERMSIG(st), strsignal(WTERMSIG(st)), log);
    else if (!ok)
        fprintf(stderr, "bench: %s failed; its log is %s\n", scenarios[i].name, log);
    fflush(stdout);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    snprintf(B.out, sizeof(B.out), "bench/results");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) {
            B.smoke = true;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            snprintf(B.out, sizeof(B.out), "%s", argv[++i]);
        } else if (strcmp(argv[i], "--scenario") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: snowgate-bench [--out DIR] [--scenario NAME] [--smoke]\n"
                    "scenarios: ingest decision backlog footprint scale simquery discovery\n");
            return 2;
        }
    }
    bool known = !only;
    for (size_t i = 0; i < NSCEN && only; i++)
        known = known || strcmp(only, scenarios[i].name) == 0;
    if (!known) {
        fprintf(stderr,
                "bench: no scenario '%s'; choose ingest, decision, backlog, footprint, "
                "scale or simquery\n",
                only);
        return 2;
    }
    char mk[800];
    snprintf(mk, sizeof(mk), "mkdir -p '%s'", B.out);
    if (system(mk) != 0) {
        fprintf(stderr, "bench: cannot create %s\n", B.out);
        return 1;
    }
    sg_http_client_global_init();
    const char *failed[NSCEN];
    int nfailed = 0;
    for (size_t i = 0; i < NSCEN; i++) {
        if (only && strcmp(only, scenarios[i].name) != 0)
            continue;
        if (run_one(i) != 0)
            failed[nfailed++] = scenarios[i].name;
    }
    report(failed, nfailed);
    return nfailed ? 1 : 0;
}
