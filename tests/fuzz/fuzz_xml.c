/* Fuzz target: core/xml's safe reader, walking every element. */
#include "core/xml.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(sg_xml_node *n, int depth)
{
    for (sg_xml_node *c = sg_xml_first(n); c && depth < 64; c = sg_xml_next(c)) {
        char *t = sg_xml_text(c);
        char *a = sg_xml_attr(c, "action");
        free(t);
        free(a);
        walk(c, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_xml_doc *doc = NULL;
    if (sg_xml_parse((const char *)data, size, 0, &doc) == 0) {
        walk(sg_xml_root(doc), 0);
        sg_xml_free(doc);
    }
    return 0;
}
