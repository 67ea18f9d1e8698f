/* sim: the snowsim instance context and its HTTP surface. */
#ifndef SG_SIM_H
#define SG_SIM_H

#include "http/server.h"
#include "sim/config.h"
#include "store/store.h"

typedef struct sg_sim {
    sg_sim_config cfg;
    sg_store *store;
    sg_http_server *http;
} sg_sim;

extern const sg_http_route sg_sim_routes[];

/* Opens the data dir and the store. */
int sg_sim_open(sg_sim *sim);
/* Starts serving on cfg.listen. */
int sg_sim_listen(sg_sim *sim);
/* Stops serving, closes the store and frees the config. */
void sg_sim_close(sg_sim *sim);

/* Answers in ServiceNow's error envelope: {"error":{"message","detail"},"status":"failure"}. */
void sim_error(sg_http_req *req, int status, const char *code, const char *message);

#endif
