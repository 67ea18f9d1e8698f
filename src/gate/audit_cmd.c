/* audit_cmd: `snowgate audit verify`: checks the audit log's hash chain. */
#include "core/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/proc.h"
#include "gate/app.h"
#include "gate/commands.h"
#include "gate/governance/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const sg_cli_flag verify_flags[] = {
    {"data", "data_dir", "DIR", "data directory (as for serve)"},
    {"store", "store.url", "URL", "store location (as for serve)"},
    {"master-key", "master_key_file", "FILE", "the master key file (as for serve)"},
    {"config", NULL, "FILE", "INI config file"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec verify_spec = {
    "snowgate",
    "audit verify",
    "Check that no audit log entry was edited, removed or reordered, and that the chain's "
    "HMACs were made with this master key. Prints the head hash: keep it elsewhere to detect "
    "a truncated log later. Read-only: it never creates a key nor writes the log.",
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
    char *key = app.cfg.master_key_file && *app.cfg.master_key_file
                    ? sg_xstrdup(app.cfg.master_key_file)
                    : sg_xasprintf("%s/master.key", app.cfg.data_dir);
    int rc = SG_OK;
    /* sg_secrets_open would create a missing key, and a new key verifies nothing. */
    if (access(key, F_OK) != 0)
        rc = sg_err_set(SG_EINVAL,
                        "master key '%s' does not exist; give the one snowgate serve "
                        "uses (--master-key FILE)",
                        key);
    if (rc == SG_OK)
        rc = sg_proc_data_dir(app.cfg.data_dir);
    if (rc == SG_OK)
        rc = sg_app_open_store(&app, app.cfg.store_migrate, true);
    if (rc == SG_OK)
        rc = sg_secrets_open(key, &app.secrets);
    free(key);
    if (rc == SG_OK)
        rc = sg_app_set_audit_key(&app);
    sg_audit_report rep;
    if (rc == SG_OK)
        rc = sg_audit_verify(app.store, &rep);
    if (rc == SG_OK) {
        printf("audit log intact: %lld entries, head %s\n", (long long)rep.entries, rep.head);
        if (rep.keyed_from > 1)
            printf("entries 1-%lld have plain SHA-256 hashes from before the chain was keyed; "
                   "entry %lld keyed them (check its date: it should be your upgrade's)\n",
                   (long long)rep.keyed_from - 1, (long long)rep.keyed_from);
    } else {
        fprintf(stderr, "snowgate audit verify: %s\n", sg_err_msg());
    }
    sg_app_close(&app);
    return rc == SG_OK ? SG_EXIT_OK : SG_EXIT_FAIL;
}

int sg_cmd_audit(int argc, char **argv, char **envp)
{
    if (argc >= 2 && strcmp(argv[1], "verify") == 0)
        return verify(argc - 1, argv + 1, envp);
    fprintf(stderr, "Usage: snowgate audit verify [--data DIR] [--master-key FILE]\n");
    return argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
               ? SG_EXIT_OK
               : SG_EXIT_USAGE;
}
