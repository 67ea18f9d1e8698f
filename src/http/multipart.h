/* multipart: multipart/form-data bodies (file uploads). */
#ifndef SG_HTTP_MULTIPART_H
#define SG_HTTP_MULTIPART_H

#include <stddef.h>

#define SG_MULTIPART_MAX_PARTS 64

typedef struct sg_multipart_part {
    char *name;         /* the form field name */
    char *filename;     /* NULL for plain fields */
    char *content_type; /* NULL when not given */
    const char *data;   /* borrowed from the body passed to sg_multipart_parse() */
    size_t len;
} sg_multipart_part;

typedef struct sg_multipart sg_multipart;

/* Parses body according to the boundary in content_type ("multipart/form-data;
 * boundary=..."). SG_EINVAL with the reason for anything malformed. *out is the caller's;
 * parts point into body, which must outlive *out. */
int sg_multipart_parse(const char *content_type, const char *body, size_t len, sg_multipart **out);
void sg_multipart_free(sg_multipart *m);
/* The first part with this field name, or NULL. Borrowed. */
const sg_multipart_part *sg_multipart_get(const sg_multipart *m, const char *name);
size_t sg_multipart_count(const sg_multipart *m);

#endif
