/* api: the HTTP handlers of snowgate, one file per resource, named api_<resource>_<verb>. */
#ifndef SG_GATE_API_H
#define SG_GATE_API_H

#include "gate/app.h"
#include "http/server.h"

/* health.c */
int api_health_get(sg_http_req *req, void *app);
int api_ready_get(sg_http_req *req, void *app);

#endif
