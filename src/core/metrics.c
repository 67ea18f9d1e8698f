/* metrics: a small fixed-size registry of counters and histograms (no allocation after the
 * first use of a series; past MAX_SERIES new series are dropped and counted). */
#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_SERIES 1024
#define NAME_MAX_  64
#define LABELS_MAX 192

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

typedef struct series {
    char name[NAME_MAX_];
    char labels[LABELS_MAX];
    bool histogram;
    double value; /* counter value, or histogram sum */
    unsigned long long count;
    unsigned long long bucket[NBUCKETS];
} series;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static series reg[MAX_SERIES];
static size_t nreg;
static unsigned long long dropped;

/* The series (name, labels), created when missing; NULL when the registry is full. */
static series *find(const char *name, const char *labels, bool histogram)
{
    labels = labels ? labels : "";
    for (size_t i = 0; i < nreg; i++)
        if (reg[i].histogram == histogram && strcmp(reg[i].name, name) == 0 &&
            strcmp(reg[i].labels, labels) == 0)
            return &reg[i];
    if (nreg == MAX_SERIES || strlen(name) >= NAME_MAX_ || strlen(labels) >= LABELS_MAX) {
        dropped++;
        return NULL;
    }
    series *s = &reg[nreg++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->labels, sizeof(s->labels), "%s", labels);
    s->histogram = histogram;
    return s;
}

void sg_metrics_inc(const char *name, const char *labels, double by)
{
    pthread_mutex_lock(&mu);
    series *s = find(name, labels, false);
    if (s)
        s->value += by;
    pthread_mutex_unlock(&mu);
}

void sg_metrics_observe(const char *name, const char *labels, double value)
{
    pthread_mutex_lock(&mu);
    series *s = find(name, labels, true);
    if (s) {
        s->value += value;
        s->count++;
        for (size_t i = 0; i < NBUCKETS; i++)
            if (value <= buckets[i])
                s->bucket[i]++;
    }
    pthread_mutex_unlock(&mu);
}

void sg_metrics_labels(char *out, size_t size, ...)
{
    va_list ap;
    va_start(ap, size);
    size_t n = 0;
    out[0] = '\0';
    const char *k;
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        if (!v)
            v = "";
        int w = snprintf(out + n, size - n, "%s%s=\"", n ? "," : "", k);
        if (w < 0 || (size_t)w >= size - n)
            break;
        n += (size_t)w;
        for (; *v && n + 3 < size; v++) {
            /* The exposition format escapes backslash, quote and newline in label values. */
            if (*v == '\\' || *v == '"') {
                out[n++] = '\\';
                out[n++] = *v;
            } else if (*v == '\n') {
                out[n++] = '\\';
                out[n++] = 'n';
            } else {
                out[n++] = *v;
            }
        }
        if (n + 2 > size)
            break;
        out[n++] = '"';
        out[n] = '\0';
    }
    va_end(ap);
}

static void number(sg_buf *out, double v)
{
    if (isinf(v))
        sg_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        sg_buf_printf(out, "%.0f", v);
    else
        sg_buf_printf(out, "%.9g", v);
}

static void sample(sg_buf *out, const char *name, const char *suffix, const char *labels,
                   const char *extra, double v)
{
    sg_buf_printf(out, "%s%s", name, suffix);
    bool any = (labels && *labels) || (extra && *extra);
    if (any)
        sg_buf_printf(out, "{%s%s%s}", labels ? labels : "",
                      labels && *labels && extra && *extra ? "," : "", extra ? extra : "");
    sg_buf_putc(out, ' ');
    number(out, v);
    sg_buf_putc(out, '\n');
}

void sg_metrics_gauge(sg_buf *out, const char *name, const char *help, const char *labels,
                      double value)
{
    if (help)
        sg_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    sample(out, name, "", labels, NULL, value);
}

void sg_metrics_render(sg_buf *out, const char *(*help_of)(const char *name))
{
    pthread_mutex_lock(&mu);
    /* Families in order of first use; each family's series together, HELP and TYPE once. */
    bool done[MAX_SERIES] = {false};
    for (size_t i = 0; i < nreg; i++) {
        if (done[i])
            continue;
        const series *f = &reg[i];
        const char *help = help_of ? help_of(f->name) : NULL;
        sg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, help ? help : f->name, f->name,
                      f->histogram ? "histogram" : "counter");
        for (size_t j = i; j < nreg; j++) {
            const series *s = &reg[j];
            if (done[j] || s->histogram != f->histogram || strcmp(s->name, f->name) != 0)
                continue;
            done[j] = true;
            if (!s->histogram) {
                sample(out, s->name, "", s->labels, NULL, s->value);
                continue;
            }
            for (size_t b = 0; b < NBUCKETS; b++) {
                char le[32];
                snprintf(le, sizeof(le), "le=\"%g\"", buckets[b]);
                sample(out, s->name, "_bucket", s->labels, le, (double)s->bucket[b]);
            }
            sample(out, s->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
            sample(out, s->name, "_sum", s->labels, NULL, s->value);
            sample(out, s->name, "_count", s->labels, NULL, (double)s->count);
        }
    }
    sg_buf_printf(out,
                  "# HELP snowgate_metrics_series_dropped_total series not kept because the "
                  "registry was full\n# TYPE snowgate_metrics_series_dropped_total counter\n"
                  "snowgate_metrics_series_dropped_total %llu\n",
                  dropped);
    pthread_mutex_unlock(&mu);
}

void sg_metrics_reset(void)
{
    pthread_mutex_lock(&mu);
    nreg = 0;
    dropped = 0;
    pthread_mutex_unlock(&mu);
}
