/* embed: files compiled into the binary by cmake/embed.cmake. */
#ifndef SG_EMBED_H
#define SG_EMBED_H

#include <stddef.h>

typedef struct sg_embed_file {
    const char *path;          /* relative to the embedded folder; NULL ends the table */
    const unsigned char *data; /* NUL-terminated for convenience; `len` excludes the NUL */
    size_t len;
} sg_embed_file;

/* Finds a file by path in a NULL-terminated table. Borrowed; NULL when absent. */
const sg_embed_file *sg_embed_find(const sg_embed_file *table, const char *path);

#endif
