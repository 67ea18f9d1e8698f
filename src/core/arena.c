/* arena: chunked bump allocation for per-request memory. */
#include "core/arena.h"

#include "core/err.h"
#include "core/mem.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK       4096
#define ARENA_DEFAULT_MAX ((size_t)16 * 1024 * 1024)

typedef struct chunk {
    struct chunk *next;
    size_t size;
    size_t used;
    alignas(max_align_t) unsigned char data[];
} chunk;

struct sg_arena {
    chunk *head;
    size_t used;
    size_t max;
};

sg_arena *sg_arena_new(size_t max_bytes)
{
    sg_arena *a = sg_xcalloc(1, sizeof(*a));
    a->max = max_bytes ? max_bytes : ARENA_DEFAULT_MAX;
    return a;
}

void sg_arena_free(sg_arena *a)
{
    if (!a)
        return;
    chunk *c = a->head;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

void *sg_arena_alloc(sg_arena *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    if (n > a->max || n + align > a->max - a->used) {
        sg_err_set(SG_ETOOBIG, "request memory limit of %zu bytes exceeded", a->max);
        return NULL;
    }
    size_t rounded = (n + align - 1) & ~(align - 1);
    if (rounded == 0)
        rounded = align;
    chunk *c = a->head;
    if (!c || c->size - c->used < rounded) {
        size_t size = rounded > ARENA_CHUNK ? rounded : ARENA_CHUNK;
        c = sg_xmalloc(sizeof(chunk) + size);
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += rounded;
    a->used += rounded;
    memset(p, 0, n);
    return p;
}

char *sg_arena_strndup(sg_arena *a, const char *s, size_t n)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *p = sg_arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *sg_arena_strdup(sg_arena *a, const char *s)
{
    return s ? sg_arena_strndup(a, s, strlen(s)) : NULL;
}

char *sg_arena_printf(sg_arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n < 0 ? NULL : sg_arena_alloc(a, (size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

size_t sg_arena_used(const sg_arena *a)
{
    return a->used;
}
