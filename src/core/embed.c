/* embed: lookup in the tables that cmake/embed.cmake generates. */
#include "core/embed.h"

#include <string.h>

const sg_embed_file *sg_embed_find(const sg_embed_file *table, const char *path)
{
    for (const sg_embed_file *f = table; f && f->path; f++)
        if (strcmp(f->path, path) == 0)
            return f;
    return NULL;
}
