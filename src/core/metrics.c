/* metrics: a small fixed-size registry of counters and histograms (no allocation after the
 * first use of a series; past MAX_SERIES new series are dropped and counted). */
#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
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
    uint32_t hash;
    bool histogram;
    /* Updated without the registry lock: a series, once made, never moves or goes away. */
    _Atomic uint64_t value; /* counter value, or histogram sum: a double's bits */
    _Atomic uint64_t count;
    _Atomic uint64_t bucket[NBUCKETS];
} series;

/* Taken alone to make a series, shared to render; finding one takes none (find()). */
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static series reg[MAX_SERIES];
static _Atomic size_t nreg;
static _Atomic uint64_t dropped;

static uint32_t hash_of(const char *name, const char *labels)
{
    uint32_t h = 2166136261u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0xffu) * 16777619u;
    for (const char *p = labels; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

static series *lookup(const char *name, const char *labels, uint32_t h, bool histogram)
{
    size_t n = atomic_load(&nreg);
    for (size_t i = 0; i < n; i++)
        if (reg[i].hash == h && reg[i].histogram == histogram && strcmp(reg[i].name, name) == 0 &&
            strcmp(reg[i].labels, labels) == 0)
            return &reg[i];
    return NULL;
}

/* The series (name, labels), made when missing; NULL when the registry is full. */
static series *find(const char *name, const char *labels, bool histogram)
{
    labels = labels ? labels : "";
    uint32_t h = hash_of(name, labels);
    /* No lock to find a series that exists (every HTTP request updates two): a series is
     * complete before nreg counts it, and never changes or moves afterwards. */
    series *s = lookup(name, labels, h, histogram);
    if (s)
        return s;
    pthread_rwlock_wrlock(&lock);
    s = lookup(name, labels, h, histogram);
    size_t n = atomic_load(&nreg);
    if (!s && n < MAX_SERIES && strlen(name) < NAME_MAX_ && strlen(labels) < LABELS_MAX) {
        s = &reg[n];
        snprintf(s->name, sizeof(s->name), "%s", name);
        snprintf(s->labels, sizeof(s->labels), "%s", labels);
        s->hash = h;
        s->histogram = histogram;
        atomic_store(&s->value, 0);
        atomic_store(&s->count, 0);
        for (size_t b = 0; b < NBUCKETS; b++)
            atomic_store(&s->bucket[b], 0);
        atomic_store(&nreg, n + 1); /* published once complete */
    } else if (!s) {
        atomic_fetch_add(&dropped, 1);
    }
    pthread_rwlock_unlock(&lock);
    return s;
}

static double as_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static void add_double(_Atomic uint64_t *slot, double by)
{
    uint64_t old = atomic_load(slot), want;
    do {
        double d = as_double(old) + by;
        memcpy(&want, &d, sizeof(want));
    } while (!atomic_compare_exchange_weak(slot, &old, want));
}

void sg_metrics_inc(const char *name, const char *labels, double by)
{
    series *s = find(name, labels, false);
    if (s)
        add_double(&s->value, by);
}

void sg_metrics_observe(const char *name, const char *labels, double value)
{
    series *s = find(name, labels, true);
    if (!s)
        return;
    add_double(&s->value, value);
    /* The count, then the buckets from the widest down; a reader goes the other way, so what
     * it renders is cumulative (each bucket no larger than the next, nor than the count). */
    atomic_fetch_add(&s->count, 1);
    for (size_t i = NBUCKETS; i-- > 0;)
        if (value <= buckets[i])
            atomic_fetch_add(&s->bucket[i], 1);
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
    pthread_rwlock_rdlock(&lock);
    size_t nreg_now = atomic_load(&nreg);
    /* Families in order of first use; each family's series together, HELP and TYPE once. */
    bool done[MAX_SERIES] = {false};
    for (size_t i = 0; i < nreg_now; i++) {
        if (done[i])
            continue;
        const series *f = &reg[i];
        const char *help = help_of ? help_of(f->name) : NULL;
        sg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, help ? help : f->name, f->name,
                      f->histogram ? "histogram" : "counter");
        for (size_t j = i; j < nreg_now; j++) {
            const series *s = &reg[j];
            if (done[j] || s->histogram != f->histogram || strcmp(s->name, f->name) != 0)
                continue;
            done[j] = true;
            double value = as_double(atomic_load(&s->value));
            if (!s->histogram) {
                sample(out, s->name, "", s->labels, NULL, value);
                continue;
            }
            /* Narrowest bucket first, the count last (see sg_metrics_observe). */
            for (size_t b = 0; b < NBUCKETS; b++) {
                char le[32];
                snprintf(le, sizeof(le), "le=\"%g\"", buckets[b]);
                sample(out, s->name, "_bucket", s->labels, le, (double)atomic_load(&s->bucket[b]));
            }
            uint64_t count = atomic_load(&s->count);
            sample(out, s->name, "_bucket", s->labels, "le=\"+Inf\"", (double)count);
            sample(out, s->name, "_sum", s->labels, NULL, value);
            sample(out, s->name, "_count", s->labels, NULL, (double)count);
        }
    }
    sg_buf_printf(out,
                  "# HELP snowgate_metrics_series_dropped_total series not kept because the "
                  "registry was full\n# TYPE snowgate_metrics_series_dropped_total counter\n"
                  "snowgate_metrics_series_dropped_total %llu\n",
                  (unsigned long long)atomic_load(&dropped));
    pthread_rwlock_unlock(&lock);
}

/* Only while no other thread updates metrics: a lookup takes no lock. */
void sg_metrics_reset(void)
{
    pthread_rwlock_wrlock(&lock);
    atomic_store(&nreg, 0);
    atomic_store(&dropped, 0);
    pthread_rwlock_unlock(&lock);
}
