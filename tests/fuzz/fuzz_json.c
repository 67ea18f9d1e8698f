/* Fuzz target: core/json parsing, then serializing what parsed. */
#include "core/json.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_json *j = NULL;
    if (sg_json_parse((const char *)data, size, 0, 0, &j) == 0) {
        char *s = sg_json_dump(j);
        sg_json *again = NULL;
        /* What we write, we can read back. */
        if (sg_json_parse(s, __builtin_strlen(s), 0, 0, &again) != 0)
            abort();
        sg_json_decref(again);
        free(s);
        sg_json_decref(j);
    }
    return 0;
}
