/* audit_cmd: `snowgate audit verify`: checks the audit log's hash chain. */
#include "core/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "core/proc.h"
#include "gate/app.h"
#include "gate/commands.h"
#include "gate/governance/audit.h"

#include <stdio.h>
#include <string.h>

static const sg_cli_flag verify_flags[] = {
    {"data", "data_dir", "DIR", "data directory (as for serve)"},
    {"store", "store.url", "URL", "store location (as for serve)"},
    {"config", NULL, "FILE", "INI config file"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec verify_spec = {
    "snowgate",
    "audit verify",
    "Check that no audit log entry was edited, removed or reordered. Prints the head hash: keep "
    "it elsewhere to detect a truncated log later.",
    NULL,
    verify_flags,
    sg_gate_config_keys,
    "SNOWGATE_",
};

static int verify(int argc, char **argv, char **envp)
{
    sg_app app;
    sg_cli_result cli;
    memset(&app, 0, sizeof(app));
    int status = sg_cli_parse(&verify_spec, argc, argv, envp, &app.cfg, &cli);
    if (status >= 0)
        return status;
    sg_log_init(SG_LOG_WARN, SG_LOG_JSON, 2);
    int rc = sg_app_open(&app);
    sg_audit_report rep;
    if (rc == SG_OK)
        rc = sg_audit_verify(app.store, &rep);
    if (rc == SG_OK)
        printf("audit log intact: %lld entries, head %s\n", (long long)rep.entries, rep.head);
    else
        fprintf(stderr, "snowgate audit verify: %s\n", sg_err_msg());
    sg_app_close(&app);
    return rc == SG_OK ? SG_EXIT_OK : SG_EXIT_FAIL;
}

int sg_cmd_audit(int argc, char **argv, char **envp)
{
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return verify(argc - 1, argv + 1, envp);
    fprintf(stderr, "Usage: snowgate audit verify [--data DIR]\n");
    return argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
               ? SG_EXIT_OK
               : SG_EXIT_USAGE;
}
