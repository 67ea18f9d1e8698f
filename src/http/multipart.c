/* multipart: a strict RFC 7578 reader over a fully buffered body. */
#include "http/multipart.h"

#include "core/err.h"
#include "core/mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sg_multipart {
    sg_multipart_part parts[SG_MULTIPART_MAX_PARTS];
    size_t n;
};

void sg_multipart_free(sg_multipart *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->parts[i].name);
        free(m->parts[i].filename);
        free(m->parts[i].content_type);
    }
    free(m);
}

/* The value of a parameter such as name="x" in a header line (quoted or not); NULL if absent. */
static char *param(const char *line, size_t len, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 1 <= len; i++) {
        bool start = i == 0 || line[i - 1] == ';' || line[i - 1] == ' ';
        if (!start || strncasecmp(line + i, key, kl) != 0 || line[i + kl] != '=')
            continue;
        const char *v = line + i + kl + 1;
        const char *end = line + len;
        if (v < end && *v == '"') {
            v++;
            const char *q = memchr(v, '"', (size_t)(end - v));
            if (!q)
                return NULL;
            return sg_xstrndup(v, (size_t)(q - v));
        }
        const char *stop = v;
        while (stop < end && *stop != ';' && *stop != ' ')
            stop++;
        return sg_xstrndup(v, (size_t)(stop - v));
    }
    return NULL;
}

static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    return memmem(hay, hlen, needle, nlen);
}

int sg_multipart_parse(const char *content_type, const char *body, size_t len, sg_multipart **out)
{
    *out = NULL;
    if (!content_type || strncasecmp(content_type, "multipart/form-data", 19) != 0)
        return sg_err_set(SG_EINVAL, "expected a multipart/form-data body");
    char *boundary = param(content_type, strlen(content_type), "boundary");
    if (!boundary || !*boundary || strlen(boundary) > 70) {
        free(boundary);
        return sg_err_set(SG_EINVAL, "multipart body has no usable boundary");
    }
    char delim[80];
    size_t dl = (size_t)snprintf(delim, sizeof(delim), "--%s", boundary);
    free(boundary);
    sg_multipart *m = sg_xcalloc(1, sizeof(*m));
    int rc = SG_OK;
    const char *p = find(body, len, delim, dl);
    const char *end = body + len;
    if (!p) {
        rc = sg_err_set(SG_EINVAL, "multipart body does not contain its boundary");
        goto fail;
    }
    for (;;) {
        p += dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            break; /* closing delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            rc = sg_err_set(SG_EINVAL, "multipart delimiter is not followed by CRLF");
            goto fail;
        }
        p += 2;
        const char *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend) {
            rc = sg_err_set(SG_EINVAL, "multipart part has no end of headers");
            goto fail;
        }
        if (m->n >= SG_MULTIPART_MAX_PARTS) {
            rc = sg_err_set(SG_EINVAL, "multipart body has more than %d parts",
                            SG_MULTIPART_MAX_PARTS);
            goto fail;
        }
        sg_multipart_part *part = &m->parts[m->n++];
        for (const char *line = p; line < hend;) {
            const char *nl = find(line, (size_t)(hend - line), "\r\n", 2);
            size_t ll = nl ? (size_t)(nl - line) : (size_t)(hend - line);
            if (ll > 20 && strncasecmp(line, "Content-Disposition:", 20) == 0) {
                free(part->name);
                free(part->filename);
                part->name = param(line + 20, ll - 20, "name");
                part->filename = param(line + 20, ll - 20, "filename");
            } else if (ll > 13 && strncasecmp(line, "Content-Type:", 13) == 0) {
                const char *v = line + 13;
                while (v < line + ll && *v == ' ')
                    v++;
                free(part->content_type);
                part->content_type = sg_xstrndup(v, (size_t)(line + ll - v));
            }
            line += ll + 2;
        }
        if (!part->name) {
            rc = sg_err_set(SG_EINVAL, "multipart part has no form field name");
            goto fail;
        }
        const char *data = hend + 4;
        char next[84];
        size_t nl = (size_t)snprintf(next, sizeof(next), "\r\n%s", delim);
        const char *stop = find(data, (size_t)(end - data), next, nl);
        if (!stop) {
            rc = sg_err_set(SG_EINVAL, "multipart part '%s' is not terminated", part->name);
            goto fail;
        }
        part->data = data;
        part->len = (size_t)(stop - data);
        p = stop + 2;
    }
    *out = m;
    return SG_OK;
fail:
    sg_multipart_free(m);
    return rc;
}

const sg_multipart_part *sg_multipart_get(const sg_multipart *m, const char *name)
{
    for (size_t i = 0; m && i < m->n; i++)
        if (strcmp(m->parts[i].name, name) == 0)
            return &m->parts[i];
    return NULL;
}

size_t sg_multipart_count(const sg_multipart *m)
{
    return m ? m->n : 0;
}
