/* config_cmd: `snowgate config example` prints an example INI file with every setting, made
 * from the settings table itself (make install ships it; contrib/ keeps a copy). */
#include "core/config.h"
#include "core/proc.h"
#include "gate/commands.h"
#include "gate/config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int sg_cmd_config(int argc, char **argv, char **envp)
{
    (void)envp;
    if (argc == 2 && strcmp(argv[1], "example") == 0) {
        printf("# snowgate configuration (INI). Every setting, with its default, commented out:\n"
               "# uncomment and edit what you change. Precedence, lowest first: defaults, this\n"
               "# file (--config), SNOWGATE_* environment variables, command-line flags.\n");
        sg_cfg_example(sg_gate_config_keys, "SNOWGATE_", stdout);
        return SG_EXIT_OK;
    }
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    fprintf(help ? stdout : stderr,
            "Usage: snowgate config example\n\n"
            "  example   print an example INI file with every setting, its help and default\n");
    return help ? SG_EXIT_OK : SG_EXIT_USAGE;
}
