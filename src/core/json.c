/* json: jansson behind caps. jansson's own depth limit is a compile-time 2048, so the depth
 * is checked first by a scan that only tracks strings and brackets. */
#include "core/json.h"

#include "core/err.h"
#include "core/mem.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int check_depth(const char *text, size_t len, int max_depth)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return sg_err_set(SG_ETOOBIG, "JSON nested deeper than %d levels", max_depth);
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return SG_OK;
}

/* jansson cannot hold a NUL inside an object key. RFC 8259 allows one, so such a text is read
 * again with every \u0000 escape as U+FFFD: no key or value can then alias a shorter one. */
static json_t *parse_nul_keys(const char *text, size_t len, json_error_t *error)
{
    char *copy = sg_xstrndup(text, len);
    size_t slashes = 0;
    for (size_t i = 0; i < len; i++) {
        if (copy[i] == '\\') {
            slashes++;
            continue;
        }
        if (slashes % 2 == 1 && copy[i] == 'u' && i + 4 < len &&
            memcmp(copy + i + 1, "0000", 4) == 0)
            memcpy(copy + i + 1, "FFFD", 4);
        slashes = 0;
    }
    json_t *j = json_loadb(copy, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, error);
    free(copy);
    return j;
}

int sg_json_parse(const char *text, size_t len, size_t max_size, int max_depth, sg_json **out)
{
    json_error_t error;
    *out = NULL;
    if (!max_size)
        max_size = SG_JSON_MAX_SIZE;
    if (!max_depth)
        max_depth = SG_JSON_MAX_DEPTH;
    if (len > max_size)
        return sg_err_set(SG_ETOOBIG, "JSON body is %zu bytes; the limit is %zu", len, max_size);
    if (memchr(text, '\0', len))
        return sg_err_set(SG_EINVAL, "invalid JSON: contains a NUL byte");
    int rc = check_depth(text, len, max_depth);
    if (rc != SG_OK)
        return rc;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (!j && strstr(error.text, "NUL byte in object key"))
        j = parse_nul_keys(text, len, &error);
    if (!j)
        return sg_err_set(SG_EINVAL, "invalid JSON at line %d, column %d: %s", error.line,
                          error.column, error.text);
    *out = j;
    return SG_OK;
}

void sg_json_decref(sg_json *j)
{
    json_decref(j);
}

sg_json *sg_json_incref(sg_json *j)
{
    return json_incref(j);
}

sg_json_type sg_json_typeof(const sg_json *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return SG_JSON_OBJECT;
    case JSON_ARRAY:
        return SG_JSON_ARRAY;
    case JSON_STRING:
        return SG_JSON_STRING;
    case JSON_INTEGER:
        return SG_JSON_INTEGER;
    case JSON_REAL:
        return SG_JSON_REAL;
    case JSON_TRUE:
        return SG_JSON_TRUE;
    case JSON_FALSE:
        return SG_JSON_FALSE;
    default:
        return SG_JSON_NULL;
    }
}

static sg_json *nonnull(json_t *j)
{
    if (!j) {
        /* jansson returns NULL on allocation failure or invalid UTF-8 input to a constructor. */
        return json_null();
    }
    return j;
}

sg_json *sg_json_object(void)
{
    json_t *j = json_object();
    if (!j)
        abort();
    return j;
}

sg_json *sg_json_array(void)
{
    json_t *j = json_array();
    if (!j)
        abort();
    return j;
}

sg_json *sg_json_string(const char *s)
{
    return s ? nonnull(json_string(s)) : json_null();
}

sg_json *sg_json_stringn(const char *s, size_t n)
{
    return s ? nonnull(json_stringn(s, n)) : json_null();
}

sg_json *sg_json_integer(int64_t v)
{
    return nonnull(json_integer((json_int_t)v));
}

sg_json *sg_json_real(double v)
{
    return nonnull(json_real(v));
}

sg_json *sg_json_bool(bool v)
{
    return json_boolean(v);
}

sg_json *sg_json_null(void)
{
    return json_null();
}

void sg_json_set(sg_json *obj, const char *key, sg_json *val)
{
    json_object_set_new(obj, key, val);
}

void sg_json_set_str(sg_json *obj, const char *key, const char *s)
{
    json_object_set_new(obj, key, sg_json_string(s));
}

void sg_json_set_int(sg_json *obj, const char *key, int64_t v)
{
    json_object_set_new(obj, key, sg_json_integer(v));
}

void sg_json_set_bool(sg_json *obj, const char *key, bool v)
{
    json_object_set_new(obj, key, json_boolean(v));
}

void sg_json_append(sg_json *arr, sg_json *val)
{
    json_array_append_new(arr, val);
}

sg_json *sg_json_get(const sg_json *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

const char *sg_json_str(const sg_json *j)
{
    if (!json_is_string(j))
        return NULL;
    const char *s = json_string_value(j);
    if (strlen(s) != json_string_length(j))
        return NULL;
    return s;
}

bool sg_json_int(const sg_json *j, int64_t *out)
{
    if (!json_is_integer(j))
        return false;
    *out = (int64_t)json_integer_value(j);
    return true;
}

const char *sg_json_get_str(const sg_json *obj, const char *key)
{
    return sg_json_str(sg_json_get(obj, key));
}

bool sg_json_get_int(const sg_json *obj, const char *key, int64_t *out)
{
    json_t *v = sg_json_get(obj, key);
    if (!json_is_integer(v))
        return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

bool sg_json_get_bool(const sg_json *obj, const char *key, bool *out)
{
    json_t *v = sg_json_get(obj, key);
    if (!json_is_boolean(v))
        return false;
    *out = json_is_true(v);
    return true;
}

size_t sg_json_array_size(const sg_json *arr)
{
    return json_array_size(arr);
}

sg_json *sg_json_array_get(const sg_json *arr, size_t i)
{
    return json_array_get(arr, i);
}

size_t sg_json_object_size(const sg_json *obj)
{
    return json_object_size(obj);
}

void *sg_json_iter(sg_json *obj)
{
    return json_object_iter(obj);
}

void *sg_json_iter_next(sg_json *obj, void *it)
{
    return json_object_iter_next(obj, it);
}

const char *sg_json_iter_key(void *it)
{
    return json_object_iter_key(it);
}

sg_json *sg_json_iter_value(void *it)
{
    return json_object_iter_value(it);
}

char *sg_json_dump(const sg_json *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    return s ? s : sg_xstrdup("null");
}

char *sg_json_dump_pretty(const sg_json *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    return s ? s : sg_xstrdup("null");
}
