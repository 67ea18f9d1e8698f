/* server: the HTTP server with a route table, request ids, body and header caps, timeouts,
 * JSON errors and graceful shutdown. A few I/O threads (libmicrohttpd, epoll) serve every
 * connection; handlers that may wait (on the store, on ServiceNow) run in a handler pool while
 * their connection is suspended, so a slow handler never holds an I/O thread. */
#ifndef SG_HTTP_SERVER_H
#define SG_HTTP_SERVER_H

#include "core/arena.h"
#include "core/cidr.h"
#include "core/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sg_http_server sg_http_server;
typedef struct sg_http_req sg_http_req;

/* A handler replies with one of the sg_http_reply* calls and returns SG_OK, or returns an
 * sg_err (with its message set) and the server replies with the error. It runs in the handler
 * pool, or on an I/O thread for a route marked SG_HTTP_QUICK (or on a server without a pool);
 * `app` is the opts.app pointer. A handler may also hand its reply to another thread:
 * sg_http_suspend. */
typedef int (*sg_http_handler)(sg_http_req *req, void *app);

/* Patterns are matched segment by segment: "/api/v1/requests/{id}" binds "id"; a last
 * segment "{name*}" binds the rest of the path (possibly empty). A table ends with {0}. */
typedef struct sg_http_route {
    const char *method; /* "GET", "POST", ...; "*" matches any. GET routes also answer HEAD. */
    const char *pattern;
    sg_http_handler handler;
    unsigned flags; /* SG_HTTP_QUICK */
} sg_http_route;

/* The handler answers from memory and never waits on anything outside the process (a store,
 * a socket, a lock held across I/O): it runs on the I/O thread that read the request, and
 * skips the hop to the handler pool. Every other route runs in the pool (when there is one).
 * A quick handler that finds it must wait after all moves on with sg_http_run_in_pool. */
#define SG_HTTP_QUICK 1u

/* Formats an error reply: lets snowsim answer in ServiceNow's envelope. */
typedef void (*sg_http_error_fn)(sg_http_req *req, int status, const char *code,
                                 const char *message);

typedef struct sg_http_server_opts {
    const char *host;    /* bind address, e.g. "127.0.0.1", "::1", "0.0.0.0" */
    uint16_t port;       /* 0 picks a free port; see sg_http_server_port() */
    unsigned io_threads; /* I/O threads, each serving many connections (epoll); 0 or 1: one */
    /* Threads of the handler pool: routes not marked SG_HTTP_QUICK run there, with their
     * connection suspended meanwhile. 0: every handler runs on its I/O thread. */
    unsigned handler_threads;
    size_t max_body;      /* request body cap in bytes (413 beyond it) */
    unsigned max_headers; /* header count cap (431 beyond it) */
    unsigned timeout_s;   /* idle connection timeout */
    size_t arena_max;     /* per-request memory cap */
    const sg_http_route *routes;
    sg_http_handler fallback;  /* called when no route matches; NULL answers 404 */
    sg_http_error_fn error_fn; /* NULL: {"error":{"code","message","request_id"}} */
    void *app;
    /* When set ("snowgate"), every request counts in <prefix>_http_requests_total{method,
     * route,status} and <prefix>_http_request_duration_seconds{route} (core/metrics.h). */
    const char *metrics_prefix;
    /* Peers whose X-Forwarded-For names the client (borrowed; NULL or empty: none). */
    const sg_cidr_list *trusted_proxies;
    /* Open connections one client address may hold; more are refused at accept (0: no
     * limit). Trusted proxies are exempt. */
    unsigned max_per_client;
    /* Seconds a connection may take to send a whole request head, and may sit idle between
     * requests, before it is closed (0: only timeout_s applies). */
    unsigned head_timeout_s;
} sg_http_server_opts;

#define SG_HTTP_SERVER_OPTS_INIT                                                                   \
    {                                                                                              \
        "127.0.0.1", 0, 1, 0, 1024 * 1024, 100, 30, 16 * 1024 * 1024, NULL, NULL, NULL, NULL,      \
            NULL, NULL, 0, 0                                                                       \
    }

/* Binds and starts serving. *out is the caller's; stop it with sg_http_server_stop(). */
int sg_http_server_start(const sg_http_server_opts *opts, sg_http_server **out);
/* The bound port (useful after port 0). */
uint16_t sg_http_server_port(const sg_http_server *srv);
/* Stops accepting (the listening socket is closed at once), lets in-flight requests finish for
 * up to grace_ms, answers 503 to requests still queued for the handler pool, waits for the
 * handlers already running, then closes every connection and frees the server. NULL is a
 * no-op. */
void sg_http_server_stop(sg_http_server *srv, unsigned grace_ms);
/* Requests being handled right now. */
unsigned sg_http_server_inflight(const sg_http_server *srv);

/* Request accessors. All results are borrowed and live as long as the request. */
const char *sg_http_method(const sg_http_req *req);
const char *sg_http_path(const sg_http_req *req);
const char *sg_http_header(const sg_http_req *req, const char *name); /* case-insensitive */
const char *sg_http_query(const sg_http_req *req, const char *name);  /* decoded */
const char *sg_http_param(const sg_http_req *req, const char *name);  /* from the pattern */
const char *sg_http_body(const sg_http_req *req, size_t *len);        /* NUL-terminated */
const char *sg_http_request_id(const sg_http_req *req);
/* The client's address: the socket's peer, or, when the peer is a trusted proxy, the nearest
 * address in X-Forwarded-For that is not one (read from the right, as each proxy appends). */
const char *sg_http_client_ip(const sg_http_req *req);
sg_arena *sg_http_arena(sg_http_req *req);
/* Calls fn for every query argument, in order. */
void sg_http_query_each(const sg_http_req *req,
                        void (*fn)(void *ctx, const char *key, const char *value), void *ctx);

/* Parses the body as JSON (caps as sg_json_parse). *out is the caller's. The request must say
 * Content-Type: application/json (parameters allowed, any case): anything else is
 * SG_EMEDIATYPE (415), whatever the body holds. Every route that takes a JSON body parses it
 * here, so none can be reached by a cross-site form. */
int sg_http_body_json(const sg_http_req *req, sg_json **out);
/* Whether a Content-Type value is application/json (with or without parameters, any case). */
bool sg_http_is_json_type(const char *content_type);

/* Response. Headers are added before the reply call; one reply per request. */
int sg_http_set_header(sg_http_req *req, const char *name, const char *value);
int sg_http_reply(sg_http_req *req, int status, const char *content_type, const void *body,
                  size_t len);
/* As sg_http_reply, for a body in static storage (a string literal), which is sent without
 * being copied. */
int sg_http_reply_static(sg_http_req *req, int status, const char *content_type, const char *body);
/* Replies with a JSON document; steals the reference to j. */
int sg_http_reply_json(sg_http_req *req, int status, sg_json *j);
/* Replies with an error for an sg_err code and message, through the server's error_fn. */
int sg_http_reply_error(sg_http_req *req, int err, const char *message);
/* Replies with an explicit status and error code name. */
int sg_http_reply_status(sg_http_req *req, int status, const char *code, const char *message);
/* Closes the connection without any reply (fault injection in snowsim). */
void sg_http_drop(sg_http_req *req);
/* The status replied so far (0 before a reply). */
int sg_http_status(const sg_http_req *req);
/* ---- replying from another thread ----
 * A request belongs to one thread at a time. A handler that would otherwise wait (for a group
 * commit, say) may hand its request to another thread:
 *   1. it calls sg_http_suspend (true: the connection is suspended; false, for an inner
 *      request: reply now, as usual);
 *   2. it hands the request over (a queue, a callback) and returns SG_HTTP_SUSPENDED at once,
 *      touching nothing of the request after the hand-over: not its arena, headers or body;
 *   3. the thread that now owns it replies with the sg_http_reply* calls and calls
 *      sg_http_resume exactly once, after which the request is gone.
 * While suspended, the connection holds no thread and does not time out; the request, its
 * arena, headers and body stay valid for its owner. A request never resumed holds up
 * sg_http_server_stop forever, so the owner must resume on every path, errors included. */

/* What a handler returns after handing its request over (sg_http_suspend). */
#define SG_HTTP_SUSPENDED 1
/* Suspends the connection for a hand-over; false (and nothing changes) for an inner request
 * or once the server is stopping: then reply now, on this thread. */
bool sg_http_suspend(sg_http_req *req);
/* Replies (a 500 when no reply was made and the request was not dropped) and gives the
 * connection back to its I/O thread. */
void sg_http_resume(sg_http_req *req);
/* From a quick handler on an I/O thread that finds it must wait after all (the store): runs
 * handler in the handler pool instead, with the connection suspended, and returns
 * SG_HTTP_SUSPENDED, which the quick handler returns. Where there is no pool, or already in
 * it, runs handler here and returns what it returns. */
int sg_http_run_in_pool(sg_http_req *req, sg_http_handler handler);

/* The standard reason phrase of a status ("OK", "Not Found"); "" for one it does not know. */
const char *sg_http_reason(int status);

/* ---- inner requests ----
 * A handler may run a request it makes up through the server's own route table, as if a client
 * had sent it, and get the reply back instead of sending it: snowsim's Batch API runs each of
 * its sub-requests so. The inner request is a request of its own (its arena, headers, query,
 * body; the same caps: max_body gives 413, max_headers 431; the same error_fn), on the calling
 * thread, sharing the outer request's id and client address. It is not logged or counted in
 * metrics by itself. */

typedef struct sg_http_field {
    const char *name;
    const char *value;
} sg_http_field;

typedef struct sg_http_inner_req {
    const char *method; /* as a client would send it ("GET", "POST", ...) */
    const char *target; /* path and optional "?query", percent-encoded as on the wire */
    const sg_http_field *headers;
    size_t nheaders;
    const void *body;
    size_t body_len;
    void *ctx; /* handed to the inner request's handler: sg_http_inner_ctx() */
} sg_http_inner_req;

typedef struct sg_http_inner_reply {
    int status;             /* 0 when the handler dropped the connection (sg_http_drop) */
    sg_http_field *headers; /* Content-Type first (when there is one), then the handler's */
    size_t nheaders;
    char *body; /* NUL-terminated; empty for HEAD */
    size_t body_len;
} sg_http_inner_reply;

/* Runs `in` through the routes of the server that received `outer` and captures the reply in
 * *out, which the caller frees with sg_http_inner_reply_free (also after an error). SG_EINVAL
 * for a target that is not a path, a missing method, a header name or value that could not be
 * sent (line breaks; a name with ':' or blanks) or more than 256 query arguments. Thread-safe
 * as handlers are. */
int sg_http_run_inner(sg_http_req *outer, const sg_http_inner_req *in, sg_http_inner_reply *out);
/* NULL is a no-op. */
void sg_http_inner_reply_free(sg_http_inner_reply *r);
/* The ctx an inner request was run with; NULL for a request a client sent. */
void *sg_http_inner_ctx(const sg_http_req *req);

#endif
