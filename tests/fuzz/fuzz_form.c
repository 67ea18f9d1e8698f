/* Fuzz target: http/form urlencoded parsing. */
#include "http/form.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_form *f = NULL;
    if (sg_form_parse((const char *)data, size, &f) == 0) {
        sg_form_get(f, "grant_type");
        sg_form_free(f);
    }
    return 0;
}
