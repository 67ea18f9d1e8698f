/* buf: growable capped byte buffers. */
#include "core/buf.h"

#include "core/err.h"
#include "core/mem.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t buf_max(const sg_buf *b)
{
    return b->max ? b->max : SG_BUF_DEFAULT_MAX;
}

static int buf_reserve(sg_buf *b, size_t extra)
{
    size_t max = buf_max(b);
    if (extra > max || b->len > max - extra)
        return sg_err_set(SG_ETOOBIG, "buffer limit of %zu bytes exceeded", max);
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return SG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > max + 1)
        cap = max + 1;
    b->data = sg_xrealloc(b->data, cap);
    b->cap = cap;
    return SG_OK;
}

int sg_buf_append(sg_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc != SG_OK)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SG_OK;
}

int sg_buf_puts(sg_buf *b, const char *s)
{
    return sg_buf_append(b, s, strlen(s));
}

int sg_buf_putc(sg_buf *b, char c)
{
    return sg_buf_append(b, &c, 1);
}

int sg_buf_vprintf(sg_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return sg_err_set(SG_EINTERNAL, "format error");
    int rc = buf_reserve(b, (size_t)n);
    if (rc != SG_OK)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return SG_OK;
}

int sg_buf_printf(sg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sg_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int sg_buf_html(sg_buf *b, const char *s)
{
    int rc = SG_OK;
    for (; s && *s && rc == SG_OK; s++) {
        switch (*s) {
        case '<':
            rc = sg_buf_puts(b, "&lt;");
            break;
        case '>':
            rc = sg_buf_puts(b, "&gt;");
            break;
        case '&':
            rc = sg_buf_puts(b, "&amp;");
            break;
        case '"':
            rc = sg_buf_puts(b, "&quot;");
            break;
        case '\'':
            rc = sg_buf_puts(b, "&#39;");
            break;
        default:
            rc = sg_buf_putc(b, *s);
        }
    }
    return rc;
}

const char *sg_buf_str(const sg_buf *b)
{
    return b->data ? b->data : "";
}

char *sg_buf_detach(sg_buf *b, size_t *len_out)
{
    char *p = b->data ? b->data : sg_xstrdup("");
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void sg_buf_reset(sg_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void sg_buf_free(sg_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void sg_buf_wipe(sg_buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    sg_buf_free(b);
}
