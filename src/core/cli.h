/* cli: command-line flags on top of config. One table per command gives getopt its options,
 * the --help text, and the config key each flag sets, so help and behaviour cannot drift. */
#ifndef SG_CLI_H
#define SG_CLI_H

#include "core/config.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct sg_cli_flag {
    const char *name;    /* long option without "--" */
    const char *cfg_key; /* the config key it sets; NULL for flags the command reads itself */
    const char *arg;     /* metavar ("ADDR:PORT"); NULL for a switch (sets "true") */
    const char *help;
} sg_cli_flag;

typedef struct sg_cli_spec {
    const char *prog;         /* "snowgate" */
    const char *command;      /* "serve" */
    const char *summary;      /* one line */
    const char *args;         /* positional arguments in the usage line, or NULL */
    const sg_cli_flag *flags; /* ends with {NULL} */
    const sg_cfg_key *keys;   /* the program's config keys, or NULL */
    const char *env_prefix;   /* "SNOWGATE_" */
} sg_cli_spec;

/* Values of flags without cfg_key, and positional arguments, for the command to read. */
typedef struct sg_cli_result {
    const char *extra_names[16];
    const char *extra_values[16];
    int nextra;
    char **positional;
    int npositional;
} sg_cli_result;

/* Parses argv (argv[0] is the command name). With spec->keys it then loads the config:
 * defaults, then the --config INI file, then environment variables, then flags.
 * Returns -1 to go on; otherwise the process exit status: 0 after --help, 2 after a usage
 * or config error (one line on stderr, then the usage for usage errors). */
int sg_cli_parse(const sg_cli_spec *spec, int argc, char **argv, char **envp, void *cfg,
                 sg_cli_result *res);

/* The value of a flag without cfg_key, or NULL. */
const char *sg_cli_get(const sg_cli_result *res, const char *name);

/* Prints the command's usage and options. */
void sg_cli_usage(const sg_cli_spec *spec, FILE *out);

#endif
