/* sim: snowsim's lifecycle and its route table. */
#include "sim/sim.h"

#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/proc.h"
#include "core/str.h"

#include <stdlib.h>

extern const sg_embed_file sg_sim_migrations[];

void sim_error(sg_http_req *req, int status, const char *code, const char *message)
{
    (void)code;
    sg_json *err = sg_json_object();
    sg_json_set_str(err, "message", message);
    sg_json_set(err, "detail", sg_json_null());
    sg_json *root = sg_json_object();
    sg_json_set(root, "error", err);
    sg_json_set_str(root, "status", "failure");
    sg_http_reply_json(req, status, root);
}

static int api_sim_health(sg_http_req *req, void *simv)
{
    (void)simv;
    sg_json *j = sg_json_object();
    sg_json_set_str(j, "status", "ok");
    sg_json_set_str(j, "version", SG_VERSION);
    return sg_http_reply_json(req, 200, j);
}

const sg_http_route sg_sim_routes[] = {
    {"GET", "/api/x_snowsim/health", api_sim_health},
    {0, 0, 0},
};

int sg_sim_open(sg_sim *sim)
{
    int rc = sg_proc_data_dir(sim->cfg.data_dir);
    if (rc != SG_OK)
        return rc;
    char *url = sg_xasprintf("sqlite:%s/snowsim.db", sim->cfg.data_dir);
    sg_store_opts so = SG_STORE_OPTS_INIT;
    so.url = url;
    so.migrations = sg_sim_migrations;
    so.pool_size = (unsigned)sim->cfg.http_threads + 2;
    rc = sg_store_open(&so, &sim->store);
    free(url);
    return rc;
}

int sg_sim_listen(sg_sim *sim)
{
    char *host = NULL;
    uint16_t port = 0;
    int rc = sg_parse_listen(sim->cfg.listen, &host, &port);
    if (rc != SG_OK)
        return rc;
    sg_http_server_opts o = SG_HTTP_SERVER_OPTS_INIT;
    o.host = host;
    o.port = port;
    o.threads = (unsigned)sim->cfg.http_threads;
    o.max_body = sim->cfg.http_max_body;
    o.timeout_s = (unsigned)sim->cfg.http_timeout;
    o.routes = sg_sim_routes;
    o.error_fn = sim_error;
    o.app = sim;
    rc = sg_http_server_start(&o, &sim->http);
    free(host);
    return rc;
}

void sg_sim_close(sg_sim *sim)
{
    sg_http_server_stop(sim->http, (unsigned)sim->cfg.shutdown_grace * 1000u);
    sim->http = NULL;
    sg_store_close(sim->store);
    sim->store = NULL;
    sg_cfg_free(sg_sim_config_keys, &sim->cfg);
}
