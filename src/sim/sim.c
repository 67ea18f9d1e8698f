/* sim: snowsim's lifecycle, its route table, and the gate every API request passes. */
#include "sim/sim.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"
#include "core/keyfile.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/proc.h"
#include "core/str.h"
#include "sim/faults.h"
#include "sim/oauth.h"
#include "sim/ratelimit.h"
#include "sim/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const sg_embed_file sg_sim_migrations[];

char *sim_error_body(const char *message, const char *detail)
{
    sg_json *err = sg_json_object();
    sg_json_set_str(err, "message", message);
    sg_json_set(err, "detail", detail ? sg_json_string(detail) : sg_json_null());
    sg_json *root = sg_json_object();
    sg_json_set(root, "error", err);
    sg_json_set_str(root, "status", "failure");
    char *text = sg_json_dump(root);
    sg_json_decref(root);
    return text;
}

void sim_reply_error(sg_http_req *req, int status, const char *message, const char *detail)
{
    char *text = sim_error_body(message, detail);
    sg_http_reply(req, status, "application/json;charset=UTF-8", text, strlen(text));
    free(text);
}

void sim_error(sg_http_req *req, int status, const char *code, const char *message)
{
    (void)code;
    if (status == 404)
        sim_reply_error(req, 400, "Requested URI does not represent any resource", NULL);
    else
        sim_reply_error(req, status, message, NULL);
}

bool sim_api_enter(sg_sim *sim, sg_http_req *req, sim_user *user)
{
    if (sim_faults_apply(sim->faults, req))
        return false;
    /* A Batch API sub-request carries no credentials: it runs as the batch's caller, loaded
     * afresh as a direct call's user would be (roles granted earlier in the batch count). */
    const sim_batch_caller *caller = sg_http_inner_ctx(req);
    int rc;
    if (caller) {
        sim_db_rdlock(sim->db);
        rc = sim_auth_load_user(sim->db, caller->user_id, user);
        sim_db_unlock(sim->db);
    } else {
        rc = sim_auth_request(sim->auth, req, user);
    }
    if (rc != SG_OK) {
        sg_http_set_header(req, "WWW-Authenticate", "BASIC realm=\"Service-now\"");
        sim_reply_error(req, 401, "User Not Authenticated", "Required to provide Auth information");
        return false;
    }
    return sim_ratelimit_check(sim->rl, sim->db, user, req);
}

static int api_sim_health(sg_http_req *req, void *simv)
{
    (void)simv;
    sg_json *j = sg_json_object();
    sg_json_set_str(j, "status", "ok");
    sg_json_set_str(j, "version", SG_VERSION);
    return sg_http_reply_json(req, 200, j);
}

static bool admin_only(sg_sim *sim, sg_http_req *req)
{
    sim_user u;
    if (!sim_api_enter(sim, req, &u))
        return false;
    if (!sim_user_is_admin(&u)) {
        sim_reply_error(req, 403, "Operation Failed", "This snowsim extra needs the admin role");
        return false;
    }
    return true;
}

int api_faults_get(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    if (!admin_only(sim, req))
        return SG_OK;
    sg_json *root = sg_json_object();
    sg_json_set(root, "result", sim_faults_get(sim->faults));
    return sg_http_reply_json(req, 200, root);
}

int api_faults_put(sg_http_req *req, void *simv)
{
    sg_sim *sim = simv;
    if (!admin_only(sim, req))
        return SG_OK;
    sg_json *spec = NULL;
    size_t len = 0;
    const char *body = sg_http_body(req, &len);
    if (sg_json_parse(body, len, 0, 0, &spec) != SG_OK) {
        sim_reply_error(req, 400, "Exception while reading request",
                        "The payload is not valid JSON.");
        return SG_OK;
    }
    int rc = sim_faults_set(sim->faults, spec);
    if (rc != SG_OK) {
        sg_json_decref(spec);
        sim_reply_error(req, 400, "Invalid fault rules", sg_err_msg());
        return SG_OK;
    }
    sg_json *root = sg_json_object();
    sg_json_set(root, "result", spec);
    return sg_http_reply_json(req, 200, root);
}

#define TABLE_ROUTES(prefix)                                                                       \
    {"GET", prefix "/table/{table}", api_table_list, 0},                                           \
        {"POST", prefix "/table/{table}", api_table_create, 0},                                    \
        {"GET", prefix "/table/{table}/{sys_id}", api_table_get, 0},                               \
        {"PUT", prefix "/table/{table}/{sys_id}", api_table_update, 0},                            \
        {"PATCH", prefix "/table/{table}/{sys_id}", api_table_update, 0},                          \
    {                                                                                              \
        "DELETE", prefix "/table/{table}/{sys_id}", api_table_delete, 0                            \
    }

const sg_http_route sg_sim_routes[] = {
    TABLE_ROUTES("/api/now"),
    TABLE_ROUTES("/api/now/{version}"),
    {"POST", "/api/now/batch", api_batch, 0},
    {"POST", "/api/now/{version}/batch", api_batch, 0},
    {"POST", "/oauth_token.do", api_oauth_token, 0},
    {"GET", "/oauth_auth.do", api_oauth_auth, 0},
    {"POST", "/oauth_auth.do", api_oauth_consent, 0},
    {"POST", "/login.do", api_oauth_login, 0},
    {"GET", "/oauth_revoke_token.do", api_oauth_revoke, 0},
    {"POST", "/oauth_revoke_token.do", api_oauth_revoke, 0},
    {"POST", "/sys_upload.do", api_upload, 0},
    {"POST", "/api/sn_cicd/update_set/preview/{id}", api_cicd_preview, 0},
    {"POST", "/api/sn_cicd/update_set/commit/{id}", api_cicd_commit, 0},
    {"POST", "/api/sn_cicd/{version}/update_set/preview/{id}", api_cicd_preview, 0},
    {"POST", "/api/sn_cicd/{version}/update_set/commit/{id}", api_cicd_commit, 0},
    {"GET", "/api/sn_cicd/progress/{id}", api_cicd_progress, 0},
    {"GET", "/api/sn_cicd/{version}/progress/{id}", api_cicd_progress, 0},
    {"GET", "/api/sn_sc/servicecatalog/items", api_catalog_items, 0},
    {"GET", "/api/sn_sc/servicecatalog/items/{id}", api_catalog_item, 0},
    {"POST", "/api/sn_sc/servicecatalog/items/{id}/order_now", api_catalog_order, 0},
    {"GET", "/api/sn_sc/{version}/servicecatalog/items", api_catalog_items, 0},
    {"GET", "/api/sn_sc/{version}/servicecatalog/items/{id}", api_catalog_item, 0},
    {"POST", "/api/sn_sc/{version}/servicecatalog/items/{id}/order_now", api_catalog_order, 0},
    {"GET", "/api/x_snowsim/health", api_sim_health, 0},
    {"GET", "/api/x_snowsim/faults", api_faults_get, 0},
    {"PUT", "/api/x_snowsim/faults", api_faults_put, 0},
    /* Everything else under /api/ may be a Scripted REST API. */
    {"*", "/api/{rest*}", api_scripted_rest, 0},
    /* The instance's own pages (ui.c). */
    {"GET", "/", api_ui_home, 0},
    {"GET", "/login.do", api_ui_login_page, 0},
    {"GET", "/logout.do", api_ui_logout, 0},
    {"GET", "/navpage.do", api_ui_navpage, 0},
    {"GET", "/{page}", api_ui_page, 0},
    {"POST", "/{page}", api_ui_action, 0},
    {0},
};

int sg_sim_open(sg_sim *sim)
{
    int rc = sg_proc_data_dir(sim->cfg.data_dir);
    if (rc != SG_OK)
        return rc;
    sim_dict_init();
    /* The instance key seals password2 system properties; it lives beside the records, in a
     * file of its own, as snowgate's master key does. */
    uint8_t key[SG_AEAD_KEY_LEN];
    char *key_path = sg_xasprintf("%s/instance.key", sim->cfg.data_dir);
    rc = sg_keyfile_open("instance key", key_path, key);
    if (rc != SG_OK) {
        free(key_path);
        return rc;
    }
    char *url = sg_xasprintf("sqlite:%s/snowsim.db", sim->cfg.data_dir);
    sg_store_opts so = SG_STORE_OPTS_INIT;
    so.url = url;
    so.migrations = sg_sim_migrations;
    so.pool_size = 2;
    /* Every record write commits under the instance's write lock; waiting for the disk on
     * each (two or three per approval) made that lock, not snowgate, the bench's bottleneck.
     * A write still survives snowsim being killed, which is what the tests do to it. */
    so.process_durable_only = true;
    rc = sg_store_open(&so, &sim->store);
    free(url);
    if (rc == SG_OK) {
        rc = sim_db_open(sim->store, key, &sim->db);
        if (rc == SG_EAUTH)
            rc = sg_err_wrap(rc, "instance key '%s'", key_path);
    }
    sg_wipe(key, sizeof(key));
    free(key_path);
    if (rc != SG_OK)
        return rc;
    sim->auth = sim_auth_new(sim->db);
    sim->faults = sim_faults_new();
    sim->rl = sim_ratelimit_new();
    sim->oauth = sim_oauth_new();
    /* An instance keeps its outbound connections open, as ServiceNow's HTTP client does: a
     * webhook per decision on a new connection cost a TCP (and TLS) handshake each. */
    sim->outbound = sg_http_pool_new(4);
    sim->worker = sim_worker_start(sim);
    if (sim->cfg.faults && *sim->cfg.faults) {
        sg_json *spec = NULL;
        rc = sg_json_parse(sim->cfg.faults, strlen(sim->cfg.faults), 0, 0, &spec);
        if (rc == SG_OK)
            rc = sim_faults_set(sim->faults, spec);
        sg_json_decref(spec);
        if (rc != SG_OK)
            return sg_err_wrap(rc, "--faults");
    }
    return sim_seed(sim);
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
    /* Handlers may wait (a delay fault, a business rule's outbound REST call): they run in the
     * handler pool, and two I/O threads serve the connections. */
    o.io_threads = 2;
    o.handler_threads = (unsigned)sim->cfg.http_threads;
    o.max_body = sim->cfg.http_max_body;
    o.timeout_s = (unsigned)sim->cfg.http_timeout;
    o.routes = sg_sim_routes;
    o.error_fn = sim_error;
    o.app = sim;
    rc = sg_http_server_start(&o, &sim->http);
    if (rc == SG_OK) {
        if (sim->cfg.base_url && *sim->cfg.base_url) {
            sg_strlcpy(sim->base_url, sim->cfg.base_url, sizeof(sim->base_url));
            size_t n = strlen(sim->base_url);
            while (n && sim->base_url[n - 1] == '/')
                sim->base_url[--n] = '\0';
        } else {
            snprintf(sim->base_url, sizeof(sim->base_url),
                     strchr(host, ':') ? "http://[%s]:%u" : "http://%s:%u", host,
                     sg_http_server_port(sim->http));
        }
    }
    free(host);
    return rc;
}

void sg_sim_close(sg_sim *sim)
{
    sg_http_server_stop(sim->http, (unsigned)sim->cfg.shutdown_grace * 1000u);
    sim->http = NULL;
    sim_worker_stop(sim->worker);
    sim->worker = NULL;
    sg_http_pool_free(sim->outbound); /* after the server and the worker: no call is left */
    sim->outbound = NULL;
    sim_oauth_free(sim->oauth);
    sim_ratelimit_free(sim->rl);
    sim_faults_free(sim->faults);
    sim_auth_free(sim->auth);
    sim_db_free(sim->db);
    sg_store_close(sim->store);
    sim->oauth = NULL;
    sim->rl = NULL;
    sim->faults = NULL;
    sim->auth = NULL;
    sim->db = NULL;
    sim->store = NULL;
    sim_dict_free();
    sg_cfg_free(sg_sim_config_keys, &sim->cfg);
}
