/* Fuzz target: http/multipart. The first line of the input is the Content-Type. */
#include "core/mem.h"
#include "http/multipart.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    char *ct = sg_xstrndup((const char *)data, (size_t)(nl - (const char *)data));
    const char *body = nl + 1;
    size_t blen = size - (size_t)(body - (const char *)data);
    char *copy = sg_xmalloc(blen + 1);
    memcpy(copy, body, blen);
    sg_multipart *m = NULL;
    if (sg_multipart_parse(ct, copy, blen, &m) == 0) {
        const sg_multipart_part *p = sg_multipart_get(m, "attachFile");
        if (p && p->len)
            (void)p->data[p->len - 1];
        sg_multipart_free(m);
    }
    free(copy);
    free(ct);
    return 0;
}
