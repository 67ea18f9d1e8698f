/* serve: the `snowgate serve` command. */
#ifndef SG_GATE_SERVE_H
#define SG_GATE_SERVE_H

#include "core/cli.h"

extern const sg_cli_spec sg_serve_spec;

/* Runs `snowgate serve`; argv[0] is "serve". Returns the process exit status. */
int sg_cmd_serve(int argc, char **argv, char **envp);

#endif
