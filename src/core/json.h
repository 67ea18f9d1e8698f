/* json: the jansson wrapper, with size and depth caps on everything parsed. */
#ifndef SG_JSON_H
#define SG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opaque to callers; a jansson json_t inside. Values are reference counted: a function that
 * returns a new value gives the caller one reference, freed with sg_json_decref(). */
typedef struct json_t sg_json;

#define SG_JSON_MAX_DEPTH 64
#define SG_JSON_MAX_SIZE  ((size_t)1024 * 1024)

typedef enum sg_json_type {
    SG_JSON_OBJECT,
    SG_JSON_ARRAY,
    SG_JSON_STRING,
    SG_JSON_INTEGER,
    SG_JSON_REAL,
    SG_JSON_TRUE,
    SG_JSON_FALSE,
    SG_JSON_NULL,
} sg_json_type;

/* Parses RFC 8259 JSON (any top-level value). Texts over max_size bytes or nested deeper
 * than max_depth are SG_ETOOBIG; malformed text is SG_EINVAL with line and column.
 * 0 for either cap means the default. *out is the caller's. */
int sg_json_parse(const char *text, size_t len, size_t max_size, int max_depth, sg_json **out);

void sg_json_decref(sg_json *j);
sg_json *sg_json_incref(sg_json *j);
sg_json_type sg_json_typeof(const sg_json *j);

/* Constructors: each returns a new reference. */
sg_json *sg_json_object(void);
sg_json *sg_json_array(void);
sg_json *sg_json_string(const char *s); /* NULL gives JSON null */
sg_json *sg_json_stringn(const char *s, size_t n);
sg_json *sg_json_integer(int64_t v);
sg_json *sg_json_real(double v);
sg_json *sg_json_bool(bool v);
sg_json *sg_json_null(void);

/* Setters steal the reference to `val`. */
void sg_json_set(sg_json *obj, const char *key, sg_json *val);
void sg_json_set_str(sg_json *obj, const char *key, const char *s);
void sg_json_set_int(sg_json *obj, const char *key, int64_t v);
void sg_json_set_bool(sg_json *obj, const char *key, bool v);
void sg_json_append(sg_json *arr, sg_json *val);

/* Getters: borrowed results, NULL (or false) when absent or of another type. A string with an
 * embedded NUL is treated as absent, so it can never be mistaken for a shorter one. */
sg_json *sg_json_get(const sg_json *obj, const char *key);
const char *sg_json_get_str(const sg_json *obj, const char *key);
bool sg_json_get_int(const sg_json *obj, const char *key, int64_t *out);
bool sg_json_get_bool(const sg_json *obj, const char *key, bool *out);
const char *sg_json_str(const sg_json *j);
bool sg_json_int(const sg_json *j, int64_t *out);
size_t sg_json_array_size(const sg_json *arr);
sg_json *sg_json_array_get(const sg_json *arr, size_t i);
size_t sg_json_object_size(const sg_json *obj);

/* Object iteration: for (void *it = sg_json_iter(o); it; it = sg_json_iter_next(o, it)). */
void *sg_json_iter(sg_json *obj);
void *sg_json_iter_next(sg_json *obj, void *it);
const char *sg_json_iter_key(void *it);
sg_json *sg_json_iter_value(void *it);

/* Serializes compactly (keys in insertion order). The caller frees the result with free(). */
char *sg_json_dump(const sg_json *j);
/* Serializes with two-space indentation. */
char *sg_json_dump_pretty(const sg_json *j);

#endif
