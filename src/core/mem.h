/* mem: allocation that aborts on out-of-memory. The caps elsewhere keep OOM an operator's
 * problem, never an attacker's, so callers never handle a NULL from these. */
#ifndef SG_MEM_H
#define SG_MEM_H

#include <stddef.h>

void *sg_xmalloc(size_t n);
void *sg_xcalloc(size_t count, size_t size);
void *sg_xrealloc(void *p, size_t n);
/* Copies a NUL-terminated string; NULL gives NULL. The caller owns the result. */
char *sg_xstrdup(const char *s);
/* Copies at most n bytes and NUL-terminates. The caller owns the result. */
char *sg_xstrndup(const char *s, size_t n);
/* printf into a new string. The caller owns the result. */
char *sg_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
