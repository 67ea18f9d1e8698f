/* Fuzz target: snowsim's update set parser, then each row's payload. */
#include "sim/updateset.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void each_row(void *ctx, const sg_json *row)
{
    (void)ctx;
    const char *payload = sg_json_get_str(row, "payload");
    if (payload)
        sim_updateset_payload_check(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_json *header = NULL;
    if (sim_updateset_parse((const char *)data, size, &header, each_row, NULL) == 0)
        sg_json_decref(header);
    return 0;
}
