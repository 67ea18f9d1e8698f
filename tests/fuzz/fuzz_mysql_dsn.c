/* Fuzz target: the mysql connector's DSN parser (connectors/mysql.c), with and without the
 * loopback test flag. */
#include "core/mem.h"
#include "gate/connectors/connectors.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = sg_xstrndup((const char *)data, size);
    sg_mysql_check_dsn(s, false);
    sg_mysql_check_dsn(s, true);
    free(s);
    return 0;
}
