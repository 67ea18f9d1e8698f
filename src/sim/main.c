/* main: the snowsim command line. snowsim is a ServiceNow-compatible instance for tests,
 * the demo and development without a real instance. */
#include "core/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "core/proc.h"
#include "http/client.h"
#include "sim/sim.h"

#include <stdio.h>
#include <string.h>

extern char **environ;

static const sg_cli_flag sim_flags[] = {
    {"listen", "listen", "ADDR:PORT", "address to serve on; port 0 picks a free port"},
    {"data", "data_dir", "DIR", "data directory (the instance's records persist here)"},
    {"config", NULL, "FILE", "INI config file"},
    {"admin-password", "admin_password", "PW", "password of the 'admin' user"},
    {"base-url", "base_url", "URL", "the instance URL clients use"},
    {"log-level", "log.level", "LEVEL", "debug, info, warn or error"},
    {"log-format", "log.format", "FORMAT", "json or logfmt"},
    {"allow-insecure-loopback", "allow_insecure_loopback", NULL,
     "tests and demo only: scripts may call http and loopback URLs"},
    {"oauth-auto-consent", "oauth_auto_consent", NULL,
     "tests only: skip the OAuth login and consent pages for admin"},
    {"faults", "faults", "JSON", "fault injection rules (see docs/snowsim.md)"},
    {"outbound-allow", "outbound_allow", "URLS", "URL prefixes scripts may call, comma-separated"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec sim_spec = {
    "snowsim",
    "serve",
    "Run a ServiceNow-compatible instance (Table API, OAuth, Service Catalog, update sets).",
    NULL,
    sim_flags,
    sg_sim_config_keys,
    "SNOWSIM_",
};

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("snowsim %s\n", SG_VERSION);
        return SG_EXIT_OK;
    }
    /* snowsim has one command; "snowsim serve ..." and "snowsim ..." are the same. */
    if (argc >= 2 && strcmp(argv[1], "serve") == 0) {
        argc--;
        argv++;
    }
    sg_sim sim;
    sg_cli_result cli;
    memset(&sim, 0, sizeof(sim));
    int status = sg_cli_parse(&sim_spec, argc, argv, environ, &sim.cfg, &cli);
    if (status >= 0)
        return status;
    if (cli.npositional > 0) {
        fprintf(stderr, "snowsim: unexpected argument '%s'\n\n", cli.positional[0]);
        sg_cli_usage(&sim_spec, stderr);
        sg_cfg_free(sg_sim_config_keys, &sim.cfg);
        return SG_EXIT_USAGE;
    }
    sg_log_level level = SG_LOG_INFO;
    sg_log_format format = SG_LOG_JSON;
    sg_log_parse_level(sim.cfg.log_level, &level);
    sg_log_parse_format(sim.cfg.log_format, &format);
    sg_log_init(level, format, 2);
    sg_http_client_global_init();
    sg_proc_block_signals();
    sg_log_batch_start(SG_LOG_BATCH_MS);

    int rc = sg_sim_open(&sim);
    if (rc == SG_OK)
        rc = sg_sim_listen(&sim);
    if (rc != SG_OK) {
        fprintf(stderr, "snowsim: %s\n", sg_err_msg());
        sg_sim_close(&sim);
        sg_log_batch_stop();
        return SG_EXIT_FAIL;
    }
    char shown[300];
    snprintf(shown, sizeof(shown), "%s", sim.cfg.listen);
    char *colon = strrchr(shown, ':');
    if (colon)
        *colon = '\0';
    printf("snowsim listening on http://%s:%u\n", shown, sg_http_server_port(sim.http));
    fflush(stdout);
    sg_log_info("snowsim started", "version", SG_VERSION);
    sg_proc_wait_signal();
    sg_sim_close(&sim);
    sg_log_info("snowsim stopped");
    sg_log_batch_stop();
    return SG_EXIT_OK;
}
