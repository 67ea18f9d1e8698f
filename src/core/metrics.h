/* metrics: the process's counters and histograms, rendered in the Prometheus text format.
 * One registry per process, thread-safe. Labels are a preformatted `a="x",b="y"` string built
 * with sg_metrics_labels (which escapes values); keep their values to small sets (a route
 * pattern, never a raw path), as every distinct set is a series. */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include "core/buf.h"

#include <stddef.h>

/* Adds by to a counter. */
void sg_metrics_inc(const char *name, const char *labels, double by);
/* Records one observation in a histogram (seconds buckets from 5 ms to 10 s). */
void sg_metrics_observe(const char *name, const char *labels, double value);

/* Builds `k1="v1",k2="v2"` from NULL-terminated key/value pairs into out (escaped). */
void sg_metrics_labels(char *out, size_t size, ...);

/* Appends every counter and histogram, with its HELP and TYPE, to out. help_of(name) gives the
 * help line of a metric (NULL: the name). */
void sg_metrics_render(sg_buf *out, const char *(*help_of)(const char *name));

/* Appends a gauge sample `name{labels} value`, with HELP and TYPE when help is not NULL (the
 * first sample of a family). For values read at scrape time (from the store). */
void sg_metrics_gauge(sg_buf *out, const char *name, const char *help, const char *labels,
                      double value);

/* Forgets every series (tests), while no other thread updates metrics. */
void sg_metrics_reset(void);

#endif
