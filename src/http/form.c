/* form: urlencoded parsing; percent-decoding is libcurl's. */
#include "http/form.h"

#include "core/err.h"
#include "core/mem.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct sg_form {
    char **keys;
    char **values;
    size_t n;
};

static char *decode(const char *s, size_t len, int *ok)
{
    char *plus = sg_xstrndup(s, len);
    for (char *p = plus; *p; p++)
        if (*p == '+')
            *p = ' ';
    for (size_t i = 0; plus[i]; i++) {
        if (plus[i] == '%') {
            bool hex = plus[i + 1] && plus[i + 2] &&
                       strchr("0123456789abcdefABCDEF", plus[i + 1]) &&
                       strchr("0123456789abcdefABCDEF", plus[i + 2]);
            if (!hex)
                *ok = 0;
        }
    }
    int outlen = 0;
    char *d = curl_easy_unescape(NULL, plus, (int)strlen(plus), &outlen);
    free(plus);
    if (!d)
        abort();
    if (memchr(d, '\0', (size_t)outlen))
        *ok = 0;
    char *copy = sg_xstrndup(d, (size_t)outlen);
    curl_free(d);
    return copy;
}

int sg_form_parse(const char *text, size_t len, sg_form **out)
{
    sg_form *f = sg_xcalloc(1, sizeof(*f));
    *out = NULL;
    if (memchr(text, '\0', len)) {
        sg_form_free(f);
        return sg_err_set(SG_EINVAL, "form data contains a NUL byte");
    }
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(text + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - text) : len;
        if (end > i) {
            if (f->n >= SG_FORM_MAX_FIELDS) {
                sg_form_free(f);
                return sg_err_set(SG_EINVAL, "form has more than %d fields", SG_FORM_MAX_FIELDS);
            }
            const char *eq = memchr(text + i, '=', end - i);
            size_t kend = eq ? (size_t)(eq - text) : end;
            int ok = 1;
            f->keys = sg_xrealloc(f->keys, (f->n + 1) * sizeof(char *));
            f->values = sg_xrealloc(f->values, (f->n + 1) * sizeof(char *));
            f->keys[f->n] = decode(text + i, kend - i, &ok);
            f->values[f->n] = eq ? decode(eq + 1, end - kend - 1, &ok) : sg_xstrdup("");
            f->n++;
            if (!ok) {
                sg_form_free(f);
                return sg_err_set(SG_EINVAL, "form data has a malformed %%-escape");
            }
        }
        i = end + 1;
    }
    *out = f;
    return SG_OK;
}

void sg_form_free(sg_form *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->keys[i]);
        free(f->values[i]);
    }
    free(f->keys);
    free(f->values);
    free(f);
}

const char *sg_form_get(const sg_form *f, const char *key)
{
    for (size_t i = 0; f && i < f->n; i++)
        if (strcmp(f->keys[i], key) == 0)
            return f->values[i];
    return NULL;
}

size_t sg_form_count(const sg_form *f)
{
    return f ? f->n : 0;
}
