/* Fuzz target: snowsim's encoded query parser and matcher. */
#include "core/mem.h"
#include "sim/query.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sim_dict_init();
    char *s = sg_xstrndup((const char *)data, size);
    sim_query *q = NULL;
    sim_query_parse(s, sim_dict_table("sc_request"), &q);
    /* Match against a record with no store behind it (dot-walks resolve to ""). */
    sim_rec r = {{0}, sim_dict_table("sc_request"), sg_json_object(), 1, {0}};
    sg_json_set_str(r.f, "number", "REQ0010001");
    sg_json_set_str(r.f, "active", "true");
    sg_json_set_str(r.f, "priority", "4");
    sim_qctx ctx = {NULL, "6816f79cc0a8016401c5a33be04be441", "admin", r.f};
    sim_query_match(q, &ctx, &r);
    sim_rec *one = &r;
    sim_query_sort(q, &ctx, &one, 1);
    sg_json_decref(r.f);
    sim_query_free(q);
    free(s);
    return 0;
}
