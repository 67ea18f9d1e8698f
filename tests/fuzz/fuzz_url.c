/* Fuzz target: core/url parsing and the outbound guard. */
#include "core/mem.h"
#include "core/url.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = sg_xstrndup((const char *)data, size);
    sg_url u;
    if (sg_url_parse(s, &u) == 0)
        sg_url_clear(&u);
    sg_url_guard(s, false);
    sg_url_guard(s, true);
    sg_addr_class cls;
    sg_addr_literal_class(s, &cls);
    free(s);
    return 0;
}
