/* sim: the snowsim instance context, its lifecycle and its HTTP surface. */
#ifndef SG_SIM_H
#define SG_SIM_H

#include "http/client.h"
#include "http/server.h"
#include "sim/auth.h"
#include "sim/config.h"
#include "sim/records.h"
#include "store/store.h"

typedef struct sim_faults sim_faults;
typedef struct sim_ratelimit sim_ratelimit;
typedef struct sim_oauth sim_oauth;
typedef struct sim_worker sim_worker;

typedef struct sg_sim {
    sg_sim_config cfg;
    sg_store *store;
    sg_http_server *http;
    sim_db *db;
    sim_auth *auth;
    sim_faults *faults;
    sim_ratelimit *rl;
    sim_oauth *oauth;
    sim_worker *worker;
    sg_http_pool *outbound; /* kept-alive connections of scripts' REST calls (RESTMessageV2) */
    char base_url[256];     /* the instance URL, without a trailing slash */
} sg_sim;

extern const sg_http_route sg_sim_routes[];

/* Opens the data dir and the store, loads the records, seeds a fresh instance. */
int sg_sim_open(sg_sim *sim);
/* Starts serving on cfg.listen and fixes base_url. */
int sg_sim_listen(sg_sim *sim);
/* Stops serving, closes everything and frees the config. */
void sg_sim_close(sg_sim *sim);

/* ServiceNow's error envelope: {"error":{"message","detail"},"status":"failure"}.
 * A NULL detail is written as null. */
void sim_reply_error(sg_http_req *req, int status, const char *message, const char *detail);
/* The same envelope as JSON text, for a reply made without a request; the caller frees it. */
char *sim_error_body(const char *message, const char *detail);

/* The ctx of every inner request snowsim runs (sg_http_run_inner): a Batch API sub-request
 * (batch_api.c), which acts as the user who called the batch. */
typedef struct sim_batch_caller {
    char user_id[33]; /* sys_user.sys_id */
} sim_batch_caller;
/* The server's error_fn: framework errors (404, 405, 413) in ServiceNow's envelope. */
void sim_error(sg_http_req *req, int status, const char *code, const char *message);

/* The gate every API request passes: injected faults, then authentication (401 in
 * ServiceNow's envelope; a Batch API sub-request is its batch's caller), then rate limits
 * (429). Returns true to go on; false when a reply (or a dropped connection) has been made. */
bool sim_api_enter(sg_sim *sim, sg_http_req *req, sim_user *user);

/* Seeds a fresh instance: the out-of-box tables and roles, the admin user, the Service
 * Catalog, ACLs. On an existing data dir, adds the out-of-box records it lacks (sim_oob_seed)
 * and resets the admin password when the flag gives another one. */
int sim_seed(sg_sim *sim);

/* Handlers (one file per API). */
int api_table_list(sg_http_req *req, void *sim);
int api_table_get(sg_http_req *req, void *sim);
int api_table_create(sg_http_req *req, void *sim);
int api_table_update(sg_http_req *req, void *sim);
int api_table_delete(sg_http_req *req, void *sim);
int api_batch(sg_http_req *req, void *sim);
int api_oauth_token(sg_http_req *req, void *sim);
int api_oauth_auth(sg_http_req *req, void *sim);
int api_oauth_login(sg_http_req *req, void *sim);
int api_oauth_consent(sg_http_req *req, void *sim);
int api_oauth_revoke(sg_http_req *req, void *sim);
int api_faults_put(sg_http_req *req, void *sim);
int api_upload(sg_http_req *req, void *sim);
int api_cicd_preview(sg_http_req *req, void *sim);
int api_cicd_commit(sg_http_req *req, void *sim);
int api_cicd_progress(sg_http_req *req, void *sim);
int api_catalog_items(sg_http_req *req, void *sim);
int api_catalog_item(sg_http_req *req, void *sim);
int api_catalog_order(sg_http_req *req, void *sim);
int api_scripted_rest(sg_http_req *req, void *sim);
int api_faults_get(sg_http_req *req, void *sim);
int api_ui_home(sg_http_req *req, void *sim);
int api_ui_login_page(sg_http_req *req, void *sim);
int api_ui_logout(sg_http_req *req, void *sim);
int api_ui_navpage(sg_http_req *req, void *sim);
int api_ui_page(sg_http_req *req, void *sim);
int api_ui_action(sg_http_req *req, void *sim);

#endif
