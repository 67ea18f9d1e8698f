/* buf: a growable byte buffer with a hard cap. Every growable thing in snowgate has one. */
#ifndef SG_BUF_H
#define SG_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sg_buf {
    char *data; /* always NUL-terminated once anything was appended; may be NULL when empty */
    size_t len;
    size_t cap;
    size_t max; /* the most bytes it may hold; 0 means SG_BUF_DEFAULT_MAX */
} sg_buf;

#define SG_BUF_DEFAULT_MAX ((size_t)64 * 1024 * 1024)
#define SG_BUF_INIT(max_bytes)                                                                     \
    {                                                                                              \
        NULL, 0, 0, (max_bytes)                                                                    \
    }

/* Appends n bytes. SG_ETOOBIG (and nothing appended) when the cap would be exceeded. */
int sg_buf_append(sg_buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. */
int sg_buf_puts(sg_buf *b, const char *s);
int sg_buf_putc(sg_buf *b, char c);
/* printf-style append. */
int sg_buf_printf(sg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sg_buf_vprintf(sg_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* The contents as a C string; "" for an empty buffer. Borrowed. */
const char *sg_buf_str(const sg_buf *b);
/* Hands the storage to the caller (who frees it) and empties the buffer. Never NULL. */
char *sg_buf_detach(sg_buf *b, size_t *len_out);
/* Appends s with the HTML special characters (< > & " ') escaped. */
int sg_buf_html(sg_buf *b, const char *s);
/* Empties the buffer, keeping its storage. */
void sg_buf_reset(sg_buf *b);
/* Frees the storage; the buffer can be reused. */
void sg_buf_free(sg_buf *b);
/* Frees the storage after overwriting it, for buffers that held secrets. */
void sg_buf_wipe(sg_buf *b);

#endif
