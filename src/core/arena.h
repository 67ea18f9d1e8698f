/* arena: a per-request bump allocator with a cap; everything is freed at once. */
#ifndef SG_ARENA_H
#define SG_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sg_arena sg_arena;

/* A new arena that will hand out at most `max_bytes` in total (0: 16 MiB). Never NULL. */
sg_arena *sg_arena_new(size_t max_bytes);
/* Frees every allocation made from the arena, then the arena. NULL is a no-op. */
void sg_arena_free(sg_arena *a);
/* n bytes aligned for any type, zeroed; NULL when the cap would be exceeded
 * (sg_err is set to SG_ETOOBIG). Owned by the arena. */
void *sg_arena_alloc(sg_arena *a, size_t n);
/* Copies into the arena; NULL in gives NULL out. */
char *sg_arena_strdup(sg_arena *a, const char *s);
char *sg_arena_strndup(sg_arena *a, const char *s, size_t n);
char *sg_arena_printf(sg_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Total bytes handed out so far. */
size_t sg_arena_used(const sg_arena *a);

#endif
