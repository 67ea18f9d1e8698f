/* serve: `snowgate serve`, the long-running service. */
#include "gate/serve.h"

#include "core/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "core/proc.h"
#include "gate/app.h"
#include "gate/jobs.h"
#include "gate/scheduler.h"
#include "gate/worker.h"

#include <stdio.h>
#include <string.h>

/* After a commit: wake the worker if that transaction queued a job. */
static void kick_worker(void *worker)
{
    if (sg_jobs_take_enqueued())
        sg_worker_kick(worker);
}

static const sg_cli_flag serve_flags[] = {
    {"listen", "listen", "ADDR:PORT", "address to serve on; port 0 picks a free port"},
    {"data", "data_dir", "DIR", "data directory (database, keys)"},
    {"config", NULL, "FILE", "INI config file"},
    {"public-url", "public_url", "URL", "the URL that ServiceNow and browsers reach"},
    {"store", "store.url", "URL",
     "store: sqlite:PATH or postgres://USER:PASSWORD@HOST/DB (default sqlite:DIR/snowgate.db)"},
    {"log-level", "log.level", "LEVEL", "debug, info, warn or error"},
    {"log-format", "log.format", "FORMAT", "json or logfmt"},
    {"master-key", "master_key_file", "FILE", "the master key file (default DIR/master.key)"},
    {"allow-insecure-loopback", "allow_insecure_loopback", NULL,
     "tests and demo only: allow outbound http and loopback addresses"},
    {NULL, NULL, NULL, NULL},
};

const sg_cli_spec sg_serve_spec = {
    "snowgate",
    "serve",
    "Run the snowgate service: REST API, web UI, webhook receiver and background workers.",
    NULL,
    serve_flags,
    sg_gate_config_keys,
    "SNOWGATE_",
};

int sg_cmd_serve(int argc, char **argv, char **envp)
{
    sg_app app;
    sg_cli_result cli;
    memset(&app, 0, sizeof(app));
    int status = sg_cli_parse(&sg_serve_spec, argc, argv, envp, &app.cfg, &cli);
    if (status >= 0)
        return status;
    if (cli.npositional > 0) {
        fprintf(stderr, "snowgate serve: unexpected argument '%s'\n\n", cli.positional[0]);
        sg_cli_usage(&sg_serve_spec, stderr);
        sg_cfg_free(sg_gate_config_keys, &app.cfg);
        return SG_EXIT_USAGE;
    }
    sg_log_level level = SG_LOG_INFO;
    sg_log_format format = SG_LOG_JSON;
    sg_log_parse_level(app.cfg.log_level, &level);
    sg_log_parse_format(app.cfg.log_format, &format);
    sg_log_init(level, format, 2);
    sg_proc_block_signals();
    /* One write() for many access lines (docs/operations.md, "Logs"). */
    sg_log_batch_start(SG_LOG_BATCH_MS);

    int rc = sg_app_open(&app);
    if (rc == SG_OK)
        rc = sg_app_listen(&app);
    if (rc != SG_OK) {
        fprintf(stderr, "snowgate serve: %s\n", sg_err_msg());
        sg_app_close(&app);
        sg_log_batch_stop();
        return SG_EXIT_FAIL;
    }
    const char *host = app.cfg.listen;
    char shown[300];
    snprintf(shown, sizeof(shown), "%s", host);
    char *colon = strrchr(shown, ':');
    if (colon)
        *colon = '\0';
    printf("snowgate listening on http://%s:%u\n", shown, sg_http_server_port(app.http));
    fflush(stdout);
    sg_log_info("snowgate started", "version", SG_VERSION, "store", sg_store_backend(app.store));

    sg_scheduler *sched = sg_scheduler_start(&app);
    sg_worker *worker = sg_worker_start(&app);
    sg_store_on_commit(app.store, kick_worker, worker);
    int sig = sg_proc_wait_signal();
    sg_log_info("shutting down", "signal", sig == 15 ? "SIGTERM" : "SIGINT");
    /* Intake first: no connection is accepted from here on, and the requests in flight finish
     * while the workers can still take the jobs they queue. */
    sg_app_stop_http(&app);
    sg_store_on_commit(app.store, NULL, NULL);
    sg_worker_stop(worker);
    sg_scheduler_stop(sched);
    sg_app_close(&app);
    sg_log_info("snowgate stopped");
    sg_log_batch_stop();
    return SG_EXIT_OK;
}
