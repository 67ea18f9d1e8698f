/* user_cmd: `snowgate user add|set|passwd|disable|enable|token`: people, their roles, passwords,
 * whether they may act at all, and their API tokens. */
#include "core/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/crypto.h"
#include "core/proc.h"
#include "gate/app.h"
#include "gate/commands.h"
#include "gate/governance/users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sg_cli_flag add_flags[] = {
    {"role", NULL, "ROLE", "admin, steward or member"},
    {"email", NULL, "EMAIL", "the user's email address"},
    {"db-role", NULL, "ROLE",
     "the user's database account, where grants go (a PostgreSQL role, or a MariaDB user or "
     "user@host)"},
    {"password-stdin", NULL, NULL, "read a web UI password from the first line of stdin"},
    {"data", "data_dir", "DIR", "data directory (as for serve)"},
    {"store", "store.url", "URL", "store location (as for serve)"},
    {"config", NULL, "FILE", "INI config file"},
    {"master-key", "master_key_file", "FILE",
     "the master key file (as for serve): audit entries are keyed with it"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec add_spec = {
    "snowgate",
    "user add",
    "Create a user and print their API token (shown once; send it as Authorization: Bearer).",
    "NAME",
    add_flags,
    sg_gate_config_keys,
    "SNOWGATE_",
};

/* The first line of stdin, without its newline; NULL (with a message) when it is empty. */
static char *read_password(const char *cmd)
{
    char line[256];
    if (!fgets(line, sizeof(line), stdin)) {
        fprintf(stderr, "%s: no password on standard input\n", cmd);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    char *p = sg_xstrdup(line);
    sg_wipe(line, sizeof(line));
    return p;
}

static void free_password(char *p)
{
    if (p) {
        sg_wipe(p, strlen(p));
        free(p);
    }
}

/* Users sharing a database role share each other's grants, and a role some connector kind
 * refuses (PUBLIC on PostgreSQL, root on MariaDB) gets no grant on such a connection: say so
 * where the role is set. */
static void warn_shared(sg_app *app, const char *name, const char *db_role)
{
    char why[1024];
    if (sg_users_db_role_refusals(db_role, why, sizeof(why)) > 0)
        fprintf(stderr,
                "warning: database role '%s' is refused %s; requests for %s on such connections "
                "will be refused until the role is changed\n",
                db_role, why, name);
    char others[512];
    int n = 0;
    if (sg_users_db_role_shared(app->store, name, db_role, others, sizeof(others), &n) == SG_OK &&
        n > 0)
        fprintf(stderr,
                "warning: database role '%s' is also the role of %s; users sharing a role share "
                "each other's grants: give each user a role of their own\n",
                db_role, others);
}

static int user_add(int argc, char **argv, char **envp)
{
    sg_app app;
    sg_cli_result cli;
    memset(&app, 0, sizeof(app));
    int status = sg_cli_parse(&add_spec, argc, argv, envp, &app.cfg, &cli);
    if (status >= 0)
        return status;
    sg_role role = SG_ROLE_MEMBER;
    const char *role_s = sg_cli_get(&cli, "role");
    if (cli.npositional != 1 || !role_s || sg_role_parse(role_s, &role) != SG_OK) {
        fprintf(stderr, "snowgate user add: %s\n\n",
                cli.npositional != 1 ? "give exactly one user NAME"
                : !role_s            ? "--role is required"
                                     : sg_err_msg());
        sg_cli_usage(&add_spec, stderr);
        sg_cfg_free(sg_gate_config_keys, &app.cfg);
        return SG_EXIT_USAGE;
    }
    sg_log_init(SG_LOG_WARN, SG_LOG_JSON, 2);
    char *password = NULL;
    if (sg_cli_get(&cli, "password-stdin") && !(password = read_password("snowgate user add"))) {
        sg_cfg_free(sg_gate_config_keys, &app.cfg);
        return SG_EXIT_USAGE;
    }
    int rc = sg_app_open(&app);
    char token[65];
    sg_user u;
    if (rc == SG_OK)
        rc = sg_users_add(app.store, cli.positional[0], role, sg_cli_get(&cli, "email"),
                          sg_cli_get(&cli, "db-role"), token, &u);
    if (rc == SG_OK && password)
        rc = sg_users_set_password(app.store, u.name, password, "cli");
    free_password(password);
    if (rc != SG_OK) {
        fprintf(stderr, "snowgate user add: %s\n", sg_err_msg());
        sg_app_close(&app);
        return SG_EXIT_FAIL;
    }
    printf("%s\n", token);
    fflush(stdout);
    fprintf(stderr, "created %s user '%s'; the line above is their API token, shown only once\n",
            sg_role_name(role), u.name);
    warn_shared(&app, u.name, sg_cli_get(&cli, "db-role"));
    sg_app_close(&app);
    return SG_EXIT_OK;
}

static const sg_cli_flag set_flags[] = {
    {"role", NULL, "ROLE", "admin, steward or member"},
    {"db-role", NULL, "ROLE",
     "the user's database account (a PostgreSQL role, or a MariaDB user or user@host); \"\" "
     "removes it"},
    {"data", "data_dir", "DIR", "data directory (as for serve)"},
    {"store", "store.url", "URL", "store location (as for serve)"},
    {"config", NULL, "FILE", "INI config file"},
    {"master-key", "master_key_file", "FILE",
     "the master key file (as for serve): audit entries are keyed with it"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec set_spec = {
    "snowgate",
    "user set",
    "Change a user's role or database role. Grants already applied stay with the old database "
    "role until they expire or are revoked.",
    "NAME",
    set_flags,
    sg_gate_config_keys,
    "SNOWGATE_",
};

static int user_set(int argc, char **argv, char **envp)
{
    sg_app app;
    sg_cli_result cli;
    memset(&app, 0, sizeof(app));
    int status = sg_cli_parse(&set_spec, argc, argv, envp, &app.cfg, &cli);
    if (status >= 0)
        return status;
    sg_role role = SG_ROLE_MEMBER;
    const char *role_s = sg_cli_get(&cli, "role"), *db_role = sg_cli_get(&cli, "db-role");
    const char *why = cli.npositional != 1  ? "give exactly one user NAME"
                      : !role_s && !db_role ? "give --role, --db-role or both"
                      : role_s && sg_role_parse(role_s, &role) != SG_OK ? sg_err_msg()
                                                                        : NULL;
    if (why) {
        fprintf(stderr, "snowgate user set: %s\n\n", why);
        sg_cli_usage(&set_spec, stderr);
        sg_cfg_free(sg_gate_config_keys, &app.cfg);
        return SG_EXIT_USAGE;
    }
    sg_log_init(SG_LOG_WARN, SG_LOG_JSON, 2);
    int rc = sg_app_open(&app);
    if (rc == SG_OK)
        rc = sg_users_set(app.store, cli.positional[0], role_s ? &role : NULL, db_role, "cli");
    if (rc != SG_OK) {
        fprintf(stderr, "snowgate user set: %s\n", sg_err_msg());
        sg_app_close(&app);
        return SG_EXIT_FAIL;
    }
    fprintf(stderr, "changed user '%s'\n", cli.positional[0]);
    warn_shared(&app, cli.positional[0], db_role);
    sg_app_close(&app);
    return SG_EXIT_OK;
}

static const sg_cli_flag passwd_flags[] = {
    {"data", "data_dir", "DIR", "data directory (as for serve)"},
    {"store", "store.url", "URL", "store location (as for serve)"},
    {"config", NULL, "FILE", "INI config file"},
    {"master-key", "master_key_file", "FILE",
     "the master key file (as for serve): audit entries are keyed with it"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec passwd_spec = {
    "snowgate",
    "user passwd",
    "Set a user's web UI password from the first line of standard input (at least 10 "
    "characters). Their open sessions end.",
    "NAME",
    passwd_flags,
    sg_gate_config_keys,
    "SNOWGATE_",
};

static int user_passwd(int argc, char **argv, char **envp)
{
    sg_app app;
    sg_cli_result cli;
    memset(&app, 0, sizeof(app));
    int status = sg_cli_parse(&passwd_spec, argc, argv, envp, &app.cfg, &cli);
    if (status >= 0)
        return status;
    if (cli.npositional != 1) {
        fprintf(stderr, "snowgate user passwd: give exactly one user NAME\n\n");
        sg_cli_usage(&passwd_spec, stderr);
        sg_cfg_free(sg_gate_config_keys, &app.cfg);
        return SG_EXIT_USAGE;
    }
    sg_log_init(SG_LOG_WARN, SG_LOG_JSON, 2);
    char *password = read_password("snowgate user passwd");
    if (!password) {
        sg_cfg_free(sg_gate_config_keys, &app.cfg);
        return SG_EXIT_USAGE;
    }
    int rc = sg_app_open(&app);
    if (rc == SG_OK)
        rc = sg_users_set_password(app.store, cli.positional[0], password, "cli");
    free_password(password);
    if (rc != SG_OK) {
        fprintf(stderr, "snowgate user passwd: %s\n", sg_err_msg());
        sg_app_close(&app);
        return SG_EXIT_FAIL;
    }
    fprintf(stderr, "password set for '%s'\n", cli.positional[0]);
    sg_app_close(&app);
    return SG_EXIT_OK;
}

static const sg_cli_spec disable_spec = {
    "snowgate",
    "user disable",
    "Disable a user: their API tokens and sessions stop working at once, they cannot sign in, "
    "and their pending and approved requests are cancelled (ServiceNow is told). Grants in "
    "force are kept until an admin revokes them. The last enabled admin cannot be disabled.",
    "NAME",
    passwd_flags,
    sg_gate_config_keys,
    "SNOWGATE_",
};

static const sg_cli_spec enable_spec = {
    "snowgate",
    "user enable",
    "Enable a disabled user again: they can sign in, and their API token works again (rotate "
    "it with `snowgate user token NAME --rotate` if it may have leaked). Sessions ended by the "
    "disable stay ended; cancelled requests stay cancelled.",
    "NAME",
    passwd_flags,
    sg_gate_config_keys,
    "SNOWGATE_",
};

static const sg_cli_flag token_flags[] = {
    {"rotate", NULL, NULL, "replace the user's API token(s) with a new one (required)"},
    {"data", "data_dir", "DIR", "data directory (as for serve)"},
    {"store", "store.url", "URL", "store location (as for serve)"},
    {"config", NULL, "FILE", "INI config file"},
    {"master-key", "master_key_file", "FILE",
     "the master key file (as for serve): audit entries are keyed with it"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec token_spec = {
    "snowgate",
    "user token",
    "With --rotate: print a new API token for a user (shown once) and revoke their old one(s) "
    "at once, on every replica.",
    "NAME",
    token_flags,
    sg_gate_config_keys,
    "SNOWGATE_",
};

/* Parses NAME (and for `token`, --rotate) and opens the app; status >= 0 to return at once. */
static int open_for(const sg_cli_spec *spec, int argc, char **argv, char **envp, sg_app *app,
                    sg_cli_result *cli, const char *need_flag)
{
    memset(app, 0, sizeof(*app));
    int status = sg_cli_parse(spec, argc, argv, envp, &app->cfg, cli);
    if (status >= 0)
        return status;
    if (cli->npositional != 1 || (need_flag && !sg_cli_get(cli, need_flag))) {
        fprintf(stderr, "snowgate %s: %s\n\n", spec->command,
                cli->npositional != 1 ? "give exactly one user NAME" : "give --rotate");
        sg_cli_usage(spec, stderr);
        sg_cfg_free(sg_gate_config_keys, &app->cfg);
        return SG_EXIT_USAGE;
    }
    sg_log_init(SG_LOG_WARN, SG_LOG_JSON, 2);
    if (sg_app_open(app) != SG_OK) {
        fprintf(stderr, "snowgate %s: %s\n", spec->command, sg_err_msg());
        sg_app_close(app);
        return SG_EXIT_FAIL;
    }
    return -1;
}

static int user_disable(int argc, char **argv, char **envp)
{
    sg_app app;
    sg_cli_result cli;
    int status = open_for(&disable_spec, argc, argv, envp, &app, &cli, NULL);
    if (status >= 0)
        return status;
    const char *name = cli.positional[0];
    sg_user_disabled d;
    if (sg_users_disable(app.store, name, "cli", &d) != SG_OK) {
        fprintf(stderr, "snowgate user disable: %s\n", sg_err_msg());
        sg_app_close(&app);
        return SG_EXIT_FAIL;
    }
    fprintf(stderr,
            "disabled user '%s': API tokens and sessions no longer work; %d open request%s "
            "cancelled\n",
            name, d.cancelled, d.cancelled == 1 ? "" : "s");
    if (d.grants_kept > 0)
        fprintf(stderr,
                "%lld grant%s in force for '%s' %s KEPT until an admin acts: request a revoke for "
                "them if the access must end now (see docs/operations.md)\n",
                (long long)d.grants_kept, d.grants_kept == 1 ? "" : "s", name,
                d.grants_kept == 1 ? "is" : "are");
    sg_app_close(&app);
    return SG_EXIT_OK;
}

static int user_enable(int argc, char **argv, char **envp)
{
    sg_app app;
    sg_cli_result cli;
    int status = open_for(&enable_spec, argc, argv, envp, &app, &cli, NULL);
    if (status >= 0)
        return status;
    if (sg_users_enable(app.store, cli.positional[0], "cli") != SG_OK) {
        fprintf(stderr, "snowgate user enable: %s\n", sg_err_msg());
        sg_app_close(&app);
        return SG_EXIT_FAIL;
    }
    fprintf(stderr,
            "enabled user '%s'; their old sessions stay ended, and their API token works again "
            "(rotate it with `snowgate user token %s --rotate` if it may have leaked)\n",
            cli.positional[0], cli.positional[0]);
    sg_app_close(&app);
    return SG_EXIT_OK;
}

static int user_token(int argc, char **argv, char **envp)
{
    sg_app app;
    sg_cli_result cli;
    int status = open_for(&token_spec, argc, argv, envp, &app, &cli, "rotate");
    if (status >= 0)
        return status;
    char token[65];
    int64_t revoked = 0;
    if (sg_users_rotate_token(app.store, cli.positional[0], "cli", token, &revoked) != SG_OK) {
        fprintf(stderr, "snowgate user token: %s\n", sg_err_msg());
        sg_app_close(&app);
        return SG_EXIT_FAIL;
    }
    printf("%s\n", token);
    fflush(stdout);
    sg_wipe(token, sizeof(token));
    fprintf(stderr,
            "new API token for '%s' on the line above, shown only once; %lld old token%s "
            "revoked\n",
            cli.positional[0], (long long)revoked, revoked == 1 ? "" : "s");
    sg_app_close(&app);
    return SG_EXIT_OK;
}

#define USER_USAGE                                                                                 \
    "Usage: snowgate user add NAME --role admin|steward|member [--email E] [--db-role ROLE]\n"     \
    "       snowgate user set NAME [--role admin|steward|member] [--db-role ROLE]\n"               \
    "       snowgate user passwd NAME < password-file\n"                                           \
    "       snowgate user disable NAME\n"                                                          \
    "       snowgate user enable NAME\n"                                                           \
    "       snowgate user token NAME --rotate\n"

int sg_cmd_user(int argc, char **argv, char **envp)
{
    if (argc >= 2 && strcmp(argv[1], "add") == 0)
        return user_add(argc - 1, argv + 1, envp);
    if (argc >= 2 && strcmp(argv[1], "set") == 0)
        return user_set(argc - 1, argv + 1, envp);
    if (argc >= 2 && strcmp(argv[1], "passwd") == 0)
        return user_passwd(argc - 1, argv + 1, envp);
    if (argc >= 2 && strcmp(argv[1], "disable") == 0)
        return user_disable(argc - 1, argv + 1, envp);
    if (argc >= 2 && strcmp(argv[1], "enable") == 0)
        return user_enable(argc - 1, argv + 1, envp);
    if (argc >= 2 && strcmp(argv[1], "token") == 0)
        return user_token(argc - 1, argv + 1, envp);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf(USER_USAGE);
        return SG_EXIT_OK;
    }
    fprintf(stderr, "snowgate user: unknown subcommand '%s'\n\n" USER_USAGE,
            argc >= 2 ? argv[1] : "");
    return SG_EXIT_USAGE;
}
