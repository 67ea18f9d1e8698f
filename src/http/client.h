/* client: the outbound HTTP client (libcurl). Every call passes the outbound guard, verifies
 * TLS, follows no redirects, and has timeouts and a response size cap. */
#ifndef SG_HTTP_CLIENT_H
#define SG_HTTP_CLIENT_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

/* A keep-alive pool: open connections, TLS sessions and DNS answers, shared by every request
 * that names it, from any thread. Requests without a pool open a connection each. The outbound
 * guard checks each address when a connection is opened, so every request on one pool must use
 * the same allow_insecure_loopback. */
typedef struct sg_http_pool sg_http_pool;

/* max_idle bounds the connections kept open between requests. */
sg_http_pool *sg_http_pool_new(long max_idle);
/* Closes the pool's connections. Call after every request that used it has returned. */
void sg_http_pool_free(sg_http_pool *p);

typedef struct sg_http_client_opts {
    long timeout_ms; /* whole request */
    long connect_timeout_ms;
    size_t max_response;          /* body cap; SG_ETOOBIG beyond it */
    bool allow_insecure_loopback; /* tests and the demo only */
    const char *ca_file;          /* extra CA bundle, NULL for the system store */
    sg_http_pool *pool;           /* reuse connections from it, or NULL */
} sg_http_client_opts;

#define SG_HTTP_CLIENT_OPTS_INIT                                                                   \
    {                                                                                              \
        30000, 10000, 8 * 1024 * 1024, false, NULL, NULL                                           \
    }

typedef struct sg_http_resp_header {
    char *name;
    char *value;
} sg_http_resp_header;

typedef struct sg_http_response {
    long status;
    long new_connections; /* connections this request opened (0: it reused a pooled one) */
    sg_buf body;
    sg_http_resp_header *headers;
    size_t nheaders;
} sg_http_response;

/* One request. headers is a NULL-terminated list of "Name: value" lines (may be NULL).
 * Transport failures (DNS, connect, TLS, timeout) are SG_ENET/SG_ETIMEOUT; a URL or address
 * the guard refuses is SG_EDENIED. Any HTTP status is SG_OK: check res->status.
 * *res is the caller's: free it with sg_http_response_free(). Thread-safe. */
int sg_http_request(const sg_http_client_opts *opts, const char *method, const char *url,
                    const char *const *headers, const void *body, size_t len,
                    sg_http_response *res);
void sg_http_response_free(sg_http_response *res);
/* A response header (case-insensitive; the last one wins), or NULL. Borrowed. */
const char *sg_http_response_header(const sg_http_response *res, const char *name);

/* Percent-encodes s for use in a query string or form body. The caller frees the result. */
char *sg_http_escape(const char *s);

/* Call once from main() before threads start (curl_global_init). */
void sg_http_client_global_init(void);

#endif
