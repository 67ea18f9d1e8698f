/* main: the snowgate command line: global flags, then one command. */
#include "core/proc.h"
#include "gate/commands.h"
#include "gate/serve.h"
#include "http/client.h"

#include <stdio.h>
#include <string.h>

extern char **environ;

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv, char **envp);
    const char *summary;
} command;

static const command commands[] = {
    {"serve", sg_cmd_serve, "run the service (API, web UI, webhooks, workers)"},
    {"user", sg_cmd_user, "manage users: user add|set|passwd|disable|enable|token NAME ..."},
    {"audit", sg_cmd_audit, "audit verify: check the audit log's hash chain"},
    {"doctor", sg_cmd_doctor, "check this installation; prints a fix for every failure"},
    {"config", sg_cmd_config, "config example: print an example INI file with every setting"},
    {"migrate", sg_cmd_migrate, "apply schema migrations and report the schema version"},
    {"store", sg_cmd_store, "store copy: move an installation to another store, verified"},
    {"servicenow", sg_cmd_servicenow,
     "servicenow provision: set up a ServiceNow instance end to end"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: snowgate [--help] [--version] <command> [options]\n\n"
                 "snowgate governs access to data: requests, approvals (in snowgate or\n"
                 "ServiceNow), grants and their expiry, all on record.\n\nCommands:\n");
    for (const command *c = commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'snowgate <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SG_EXIT_USAGE;
    }
    const char *arg = argv[1];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0) {
        usage(stdout);
        return SG_EXIT_OK;
    }
    if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
        printf("snowgate %s\n", SG_VERSION);
        return SG_EXIT_OK;
    }
    for (const command *c = commands; c->name; c++) {
        if (strcmp(arg, c->name) == 0) {
            sg_http_client_global_init();
            return c->run(argc - 1, argv + 1, environ);
        }
    }
    if (arg[0] == '-')
        fprintf(stderr, "snowgate: unknown option '%s'\n\n", arg);
    else
        fprintf(stderr, "snowgate: unknown command '%s'\n\n", arg);
    usage(stderr);
    return SG_EXIT_USAGE;
}
