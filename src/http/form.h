/* form: application/x-www-form-urlencoded bodies and query strings. */
#ifndef SG_HTTP_FORM_H
#define SG_HTTP_FORM_H

#include <stddef.h>

typedef struct sg_form sg_form;

#define SG_FORM_MAX_FIELDS 256

/* Parses "a=1&b=x%20y+z". More than SG_FORM_MAX_FIELDS pairs, a NUL byte or a bad escape is
 * SG_EINVAL. *out is the caller's: free it with sg_form_free(). */
int sg_form_parse(const char *text, size_t len, sg_form **out);
void sg_form_free(sg_form *f);
/* The first value for key, or NULL. Borrowed. */
const char *sg_form_get(const sg_form *f, const char *key);
size_t sg_form_count(const sg_form *f);

#endif
