/* server: libmicrohttpd behind a route table. One sg_http_req per HTTP request, owning an
 * arena that everything request-scoped is allocated from.
 *
 * Threads: an acceptor owns the listening socket and hands each connection to libmicrohttpd
 * (MHD_add_connection), whose few I/O threads serve every connection with epoll. A request for
 * a route not marked SG_HTTP_QUICK is handed to the handler pool with its connection suspended
 * (MHD_suspend_connection), and resumed once its handler has replied.
 *
 * Why snowgate, not libmicrohttpd, listens: libmicrohttpd 0.9.75 stops a listening epoll
 * daemon with MHD_quiesce_daemon, which removes the listening socket from each I/O thread's
 * epoll set from the calling thread, while that I/O thread may remove it too (its "connection
 * limit reached or quiesced" branch in MHD_epoll). Neither side holds a lock and the flags they
 * test are plain fields: the loser's epoll_ctl(EPOLL_CTL_DEL) fails with ENOENT, and both
 * places answer that with MHD_PANIC, which aborts the process. This is what made graceful
 * stops under load abort. With MHD_USE_NO_LISTEN_SOCKET, no listening socket is ever in an
 * epoll set, MHD_quiesce_daemon is never called, and stopping to accept is closing our own
 * socket. */
#include "http/server.h"

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mem.h"
#include "core/str.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARAMS       8
#define MAX_RESP_HEADERS 32
#define REQID_MAX        64
#define INNER_MAX_QUERY  256 /* query arguments of an inner request (as SG_FORM_MAX_FIELDS) */
#define MAX_CONNECTIONS  1000
#define ACCEPT_BURST     64    /* connections taken per wake-up of the acceptor */
#define HANDOFF_STALE_MS 10000 /* a handed-off connection libmicrohttpd never started */
#define REPLY_DRAIN_MS   5000  /* at stop, for replies of requests resumed during the stop */
/* libmicrohttpd's memory per connection: the request head and its buffers. It clears all of
 * it for every request on a kept-alive connection, so this is also a memset per request: 32 KB
 * (its default) holds heads far beyond what browsers and ServiceNow send. */
#define CONN_MEMORY (32 * 1024)

/* An open connection, from accept to close: its address (for the per-client limit) and when
 * it began waiting for a request head (for the head deadline). The acceptor records it when it
 * hands the socket to libmicrohttpd; it is `started` once libmicrohttpd serves it. */
typedef struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    char ip[INET6_ADDRSTRLEN];
    bool started;
    bool waiting;       /* no complete request head yet (or idle between requests) */
    int64_t waiting_ms; /* since when (or since the hand-off, before started), CLOCK_MONOTONIC */
    bool reaped;
} conn_track;

struct sg_http_server {
    struct MHD_Daemon *daemon;
    sg_http_server_opts opts;
    uint16_t port;
    int listen_fd;
    int wake[2]; /* wakes the acceptor to stop */
    pthread_t acceptor;
    bool acceptor_started;
    /* Open connections, under conns_mu; read by the accept policy and the reaper. */
    pthread_mutex_t conns_mu;
    pthread_cond_t reaper_cv;
    conn_track *conns;
    bool stopping;
    pthread_t reaper;
    bool reaper_started;
    /* The handler pool, under pool_mu: requests queued for it, and how many connections are
     * suspended (queued, running in the pool, or handed off by sg_http_suspend). */
    pthread_mutex_t pool_mu;
    pthread_cond_t pool_cv;    /* work was queued, or the pool stops */
    pthread_cond_t resumed_cv; /* a suspended connection was resumed */
    struct sg_http_req *qhead, *qtail;
    pthread_t *workers;
    unsigned nworkers;
    bool pool_stopping;
    unsigned suspended;
    atomic_bool closing; /* sg_http_server_stop has begun: replies say Connection: close */
    atomic_uint inflight;
    atomic_bool xff_warned;    /* the X-Forwarded-For-without-trusted-proxies warning was logged */
    atomic_bool limit_warned;  /* the per-client limit warning was logged */
    atomic_bool accept_warned; /* an accept failure (out of descriptors) was logged */
};

typedef struct kv {
    const char *key;
    const char *value;
} kv;

struct sg_http_req {
    sg_http_server *srv;
    struct MHD_Connection *conn;
    sg_arena *arena;
    const char *method;
    const char *path;
    sg_buf body;
    bool too_big;
    bool too_many_headers;
    bool started;    /* the first handler call has passed */
    bool dispatched; /* routed (and run, queued or suspended): the next call sends the reply */
    bool in_pool;    /* running in the handler pool, its connection suspended */
    bool drop;       /* close the connection without replying */
    sg_http_handler handler;  /* the route's, while queued for the pool */
    struct sg_http_req *next; /* the pool's queue */
    char reqid[REQID_MAX + 1];
    char client_ip[INET6_ADDRSTRLEN];
    char peer_ip[INET6_ADDRSTRLEN];
    kv params[MAX_PARAMS];
    size_t nparams;
    kv resp_headers[MAX_RESP_HEADERS];
    size_t nresp_headers;
    struct MHD_Response *response;
    int status;
    const char *route; /* the matched pattern, for metrics */
    struct timespec t0;
    /* An inner request (sg_http_run_inner) has no connection: its headers and query arguments
     * live here (in the arena), and its reply is captured instead of sent. */
    bool inner;
    void *inner_ctx;
    kv *in_headers;
    size_t n_in_headers;
    kv *in_query;
    size_t n_in_query;
    bool replied;           /* inner: a reply was captured */
    const char *reply_type; /* inner: the reply's Content-Type (arena), NULL for none */
    sg_buf reply_body;      /* inner: the reply's body */
};

/* Whether the request has its reply: queued for the connection, or captured (inner). */
static bool has_reply(const sg_http_req *req)
{
    return req->response != NULL || req->replied;
}

/* ---- request accessors ---- */

const char *sg_http_method(const sg_http_req *req)
{
    return req->method;
}

const char *sg_http_path(const sg_http_req *req)
{
    return req->path;
}

/* The first value of name among an inner request's pairs; names compare without regard to
 * case, as libmicrohttpd compares them for a request from a client. */
static const char *inner_lookup(const kv *pairs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(pairs[i].key, name) == 0)
            return pairs[i].value;
    return NULL;
}

const char *sg_http_header(const sg_http_req *req, const char *name)
{
    if (req->inner)
        return inner_lookup(req->in_headers, req->n_in_headers, name);
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *sg_http_query(const sg_http_req *req, const char *name)
{
    if (req->inner)
        return inner_lookup(req->in_query, req->n_in_query, name);
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *sg_http_param(const sg_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].key, name) == 0)
            return req->params[i].value;
    return NULL;
}

const char *sg_http_body(const sg_http_req *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return sg_buf_str(&req->body);
}

const char *sg_http_request_id(const sg_http_req *req)
{
    return req->reqid;
}

const char *sg_http_client_ip(const sg_http_req *req)
{
    return req->client_ip;
}

typedef struct xff_ctx {
    sg_buf all; /* every X-Forwarded-For line, joined with commas, in order */
    bool overflow;
} xff_ctx;

static enum MHD_Result xff_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
    (void)kind;
    xff_ctx *x = cls;
    if (key && value && strcasecmp(key, "X-Forwarded-For") == 0) {
        if ((x->all.len && sg_buf_append(&x->all, ",", 1) != SG_OK) ||
            sg_buf_append(&x->all, value, strlen(value)) != SG_OK)
            x->overflow = true;
    }
    return MHD_YES;
}

/* The client behind trusted proxies: walk X-Forwarded-For from the right (each proxy appends
 * the address it saw) past every trusted hop; the first untrusted address is the client. A
 * malformed entry ends the walk at the last good one, so a client cannot pass a made-up
 * address through a proxy that appends. */
static void resolve_client(sg_http_req *req, const sg_cidr_list *trusted)
{
    sg_strlcpy(req->client_ip, req->peer_ip, sizeof(req->client_ip));
    if (!trusted || trusted->n == 0 || !sg_cidr_contains(trusted, req->peer_ip)) {
        /* Said once: a proxy is likely in front, and nobody told snowgate to trust it. */
        if ((!trusted || trusted->n == 0) &&
            MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Forwarded-For") &&
            !atomic_exchange(&req->srv->xff_warned, true))
            sg_log_warn("a request carries X-Forwarded-For, but http.trusted_proxies is unset: "
                        "the header is ignored, and clients are known by the proxy's address "
                        "(sign-in throttling then locks out everyone at once); set "
                        "http.trusted_proxies to the proxy's address",
                        "peer", req->peer_ip);
        return;
    }
    xff_ctx x = {SG_BUF_INIT(16 * 1024), false};
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, xff_cb, &x);
    /* Cut short, the list's right end (what the proxy wrote) might be missing. */
    char *s = x.all.len && !x.overflow ? x.all.data : NULL;
    size_t end = s ? strlen(s) : 0;
    while (s && end > 0) {
        size_t start = end;
        while (start > 0 && s[start - 1] != ',')
            start--;
        char *entry = s + start;
        s[end] = '\0';
        while (*entry == ' ' || *entry == '\t')
            entry++;
        size_t n = strlen(entry);
        while (n && (entry[n - 1] == ' ' || entry[n - 1] == '\t'))
            entry[--n] = '\0';
        char canon[46];
        if (!sg_cidr_addr_canonical(entry, canon))
            break;
        sg_strlcpy(req->client_ip, canon, sizeof(req->client_ip));
        if (!sg_cidr_contains(trusted, canon))
            break;
        end = start > 0 ? start - 1 : 0;
    }
    sg_buf_free(&x.all);
}

sg_arena *sg_http_arena(sg_http_req *req)
{
    return req->arena;
}

typedef struct query_iter {
    void (*fn)(void *ctx, const char *key, const char *value);
    void *ctx;
} query_iter;

static enum MHD_Result query_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    query_iter *it = cls;
    it->fn(it->ctx, key, value ? value : "");
    return MHD_YES;
}

void sg_http_query_each(const sg_http_req *req,
                        void (*fn)(void *ctx, const char *key, const char *value), void *ctx)
{
    if (req->inner) {
        for (size_t i = 0; i < req->n_in_query; i++)
            fn(ctx, req->in_query[i].key, req->in_query[i].value ? req->in_query[i].value : "");
        return;
    }
    query_iter it = {fn, ctx};
    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_cb, &it);
}

bool sg_http_is_json_type(const char *content_type)
{
    static const char want[] = "application/json";
    const char *p = content_type;
    if (!p)
        return false;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, want, sizeof(want) - 1) != 0)
        return false;
    p += sizeof(want) - 1;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '\0' || *p == ';';
}

int sg_http_body_json(const sg_http_req *req, sg_json **out)
{
    /* A JSON body must say so. Browsers let any page send a cross-site form (text/plain,
     * urlencoded, multipart) without asking, but not application/json: so this is what keeps
     * another site from submitting JSON-shaped forms, such as a sign-in as the attacker. */
    if (!sg_http_is_json_type(sg_http_header(req, "Content-Type")))
        return sg_err_set(SG_EMEDIATYPE,
                          "send the request body as JSON with \"Content-Type: application/json\"");
    if (req->body.len == 0)
        return sg_err_set(SG_EINVAL, "request body is empty; send a JSON document");
    int rc = sg_json_parse(req->body.data, req->body.len, req->srv->opts.max_body, 0, out);
    if (rc != SG_OK)
        return sg_err_wrap(rc, "request body");
    return SG_OK;
}

/* ---- responses ---- */

int sg_http_set_header(sg_http_req *req, const char *name, const char *value)
{
    if (req->nresp_headers >= MAX_RESP_HEADERS)
        return sg_err_set(SG_EINTERNAL, "too many response headers");
    if (strpbrk(value, "\r\n") || strpbrk(name, "\r\n:"))
        return sg_err_set(SG_EINTERNAL, "refused a response header with a line break");
    kv *h = &req->resp_headers[req->nresp_headers++];
    h->key = sg_arena_strdup(req->arena, name);
    h->value = sg_arena_strdup(req->arena, value);
    if (!h->key || !h->value) {
        req->nresp_headers--;
        return SG_ETOOBIG;
    }
    return SG_OK;
}

static int reply(sg_http_req *req, int status, const char *content_type, const void *body,
                 size_t len, enum MHD_ResponseMemoryMode mode)
{
    if (has_reply(req))
        return sg_err_set(SG_EINTERNAL, "a reply was already sent");
    if (req->inner) {
        sg_buf_reset(&req->reply_body);
        if (len && sg_buf_append(&req->reply_body, body, len) != SG_OK)
            return sg_err_set(SG_ETOOBIG, "the reply of an inner request is over %zu bytes",
                              req->reply_body.max);
        req->reply_type = content_type ? sg_arena_strdup(req->arena, content_type) : NULL;
        req->replied = true;
        req->status = status;
        return SG_OK;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!r)
        return sg_err_set(SG_EINTERNAL, "could not create the response");
    if (content_type)
        MHD_add_response_header(r, "Content-Type", content_type);
    MHD_add_response_header(r, "X-Request-Id", req->reqid);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < req->nresp_headers; i++)
        MHD_add_response_header(r, req->resp_headers[i].key, req->resp_headers[i].value);
    /* Stopping: a kept-alive client goes elsewhere for its next request. */
    if (atomic_load(&req->srv->closing))
        MHD_add_response_header(r, "Connection", "close");
    req->response = r;
    req->status = status;
    return SG_OK;
}

int sg_http_reply(sg_http_req *req, int status, const char *content_type, const void *body,
                  size_t len)
{
    return reply(req, status, content_type, body, len, MHD_RESPMEM_MUST_COPY);
}

int sg_http_reply_static(sg_http_req *req, int status, const char *content_type, const char *body)
{
    return reply(req, status, content_type, body, strlen(body), MHD_RESPMEM_PERSISTENT);
}

int sg_http_reply_json(sg_http_req *req, int status, sg_json *j)
{
    char *text = sg_json_dump(j);
    sg_json_decref(j);
    int rc = sg_http_reply(req, status, "application/json", text, strlen(text));
    free(text);
    return rc;
}

static void default_error(sg_http_req *req, int status, const char *code, const char *message)
{
    sg_json *err = sg_json_object();
    sg_json_set_str(err, "code", code);
    sg_json_set_str(err, "message", message);
    sg_json_set_str(err, "request_id", req->reqid);
    sg_json *root = sg_json_object();
    sg_json_set(root, "error", err);
    sg_http_reply_json(req, status, root);
}

int sg_http_reply_status(sg_http_req *req, int status, const char *code, const char *message)
{
    sg_http_error_fn fn = req->srv->opts.error_fn ? req->srv->opts.error_fn : default_error;
    fn(req, status, code, message && *message ? message : "error");
    return has_reply(req) ? SG_OK : SG_EINTERNAL;
}

int sg_http_reply_error(sg_http_req *req, int err, const char *message)
{
    return sg_http_reply_status(req, sg_err_http_status(err), sg_err_name(err), message);
}

void sg_http_drop(sg_http_req *req)
{
    req->drop = true;
}

int sg_http_status(const sg_http_req *req)
{
    return req->status;
}

/* ---- routing ---- */

/* Matches path against pattern, binding {params} into req. */
static bool route_match(sg_http_req *req, const char *pattern, const char *path)
{
    const char *p = pattern, *s = path;
    req->nparams = 0;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pe = strchr(p, '/');
        size_t plen = pe ? (size_t)(pe - p) : strlen(p);
        const char *se = strchr(s, '/');
        size_t slen = se ? (size_t)(se - s) : strlen(s);
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            bool rest = plen >= 3 && p[plen - 2] == '*';
            if (req->nparams >= MAX_PARAMS)
                return false;
            size_t klen = plen - 2 - (rest ? 1 : 0);
            kv *param = &req->params[req->nparams++];
            param->key = sg_arena_strndup(req->arena, p + 1, klen);
            if (rest) {
                param->value = sg_arena_strdup(req->arena, s);
                return param->key && param->value;
            }
            if (slen == 0)
                return false;
            param->value = sg_arena_strndup(req->arena, s, slen);
            if (!param->key || !param->value)
                return false;
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    if (*p == '/' && strncmp(p, "/{", 2) == 0 && strstr(p, "*}") && !*s) {
        /* "{rest*}" may match an empty remainder: "/a/{r*}" matches "/a". */
        const char *open = p + 2;
        const char *close = strstr(open, "*}");
        if (req->nparams < MAX_PARAMS && close[2] == '\0') {
            kv *param = &req->params[req->nparams++];
            param->key = sg_arena_strndup(req->arena, open, (size_t)(close - open));
            param->value = "";
            return param->key != NULL;
        }
    }
    return *p == '\0' && *s == '\0';
}

static bool method_match(const char *want, const char *got)
{
    return strcmp(want, "*") == 0 || strcmp(want, got) == 0 ||
           (strcmp(want, "GET") == 0 && strcmp(got, "HEAD") == 0);
}

/* Finds the request's handler and its route's flags. NULL when the request already has its
 * answer (405, or 404 without a fallback). */
static sg_http_handler route(sg_http_req *req, unsigned *flags)
{
    const sg_http_server_opts *o = &req->srv->opts;
    char allow[128] = "";
    *flags = 0;
    for (const sg_http_route *r = o->routes; r && r->method; r++) {
        if (!route_match(req, r->pattern, req->path))
            continue;
        if (method_match(r->method, req->method)) {
            req->route = r->pattern;
            *flags = r->flags;
            return r->handler;
        }
        if (!strstr(allow, r->method)) {
            if (allow[0])
                strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
            strncat(allow, r->method, sizeof(allow) - strlen(allow) - 1);
        }
    }
    req->nparams = 0;
    if (allow[0]) {
        sg_http_set_header(req, "Allow", allow);
        sg_http_reply_status(req, 405, "method_not_allowed",
                             "this method is not allowed here; see the Allow header");
        return NULL;
    }
    if (!o->fallback)
        sg_http_reply_status(req, 404, "not_found", "no such endpoint");
    return o->fallback;
}

/* Runs the handler and sees that the request ends with a reply (or is dropped). Returns
 * SG_HTTP_SUSPENDED when the handler handed its reply to another thread (sg_http_suspend):
 * the request is then no longer this thread's to touch. */
static int run_handler(sg_http_req *req, sg_http_handler handler)
{
    sg_err_clear();
    bool inner = req->inner; /* once handed off, req may be gone when the handler returns */
    int rc = handler(req, req->srv->opts.app);
    if (rc == SG_HTTP_SUSPENDED && !inner)
        return rc;
    if (req->drop)
        return SG_OK;
    if (rc != SG_OK && rc != SG_HTTP_SUSPENDED && !has_reply(req)) {
        int status = sg_err_http_status(rc);
        if (status >= 500)
            sg_log_error("handler failed", "path", req->path, "error", sg_err_msg());
        /* Internal details stay in the log; the client gets the reason only for 4xx. */
        sg_http_reply_error(req, rc,
                            status >= 500
                                ? "internal error; see the server log with this request_id"
                                : sg_err_msg());
    } else if (!has_reply(req)) {
        sg_log_error("handler returned without a reply", "path", req->path);
        sg_http_reply_status(req, 500, "internal", "the handler sent no reply");
    }
    return SG_OK;
}

/* Routes and runs a request on this thread (an inner request). */
static void dispatch(sg_http_req *req)
{
    unsigned flags = 0;
    sg_http_handler handler = route(req, &flags);
    if (handler)
        run_handler(req, handler);
}

/* ---- the handler pool, and suspended connections ---- */

/* Lets libmicrohttpd send the request's reply. The request may be gone when this returns. */
static void resume_conn(sg_http_req *req)
{
    sg_http_server *srv = req->srv;
    /* Resumed before it stops counting: the stop waits for the count, then stops the daemon,
     * which must find no connection still suspended. */
    MHD_resume_connection(req->conn);
    pthread_mutex_lock(&srv->pool_mu);
    srv->suspended--;
    pthread_cond_broadcast(&srv->resumed_cv);
    pthread_mutex_unlock(&srv->pool_mu);
}

static void reply_stopping(sg_http_req *req)
{
    sg_http_set_header(req, "Retry-After", "1");
    sg_http_reply_status(req, 503, "unavailable", "the server is stopping; try again");
}

/* Suspends the connection and queues the request for the pool; false when the pool has
 * stopped (the request then has a 503). Called from the access handler, the only place
 * libmicrohttpd allows a suspension. */
static bool queue_for_pool(sg_http_req *req, sg_http_handler handler)
{
    sg_http_server *srv = req->srv;
    req->handler = handler;
    pthread_mutex_lock(&srv->pool_mu);
    bool open = !srv->pool_stopping;
    if (open)
        srv->suspended++;
    pthread_mutex_unlock(&srv->pool_mu);
    if (!open) {
        reply_stopping(req);
        return false;
    }
    MHD_suspend_connection(req->conn);
    pthread_mutex_lock(&srv->pool_mu);
    open = !srv->pool_stopping;
    if (open) {
        req->next = NULL;
        if (srv->qtail)
            srv->qtail->next = req;
        else
            srv->qhead = req;
        srv->qtail = req;
        pthread_cond_signal(&srv->pool_cv);
    }
    pthread_mutex_unlock(&srv->pool_mu);
    if (!open) { /* the pool stopped in between: answer now */
        reply_stopping(req);
        resume_conn(req);
    }
    return true;
}

static void *pool_worker(void *arg)
{
    sg_http_server *srv = arg;
    pthread_setname_np(pthread_self(), "http-handler");
    pthread_mutex_lock(&srv->pool_mu);
    for (;;) {
        while (!srv->qhead && !srv->pool_stopping)
            pthread_cond_wait(&srv->pool_cv, &srv->pool_mu);
        sg_http_req *req = srv->qhead;
        if (!req)
            break;
        srv->qhead = req->next;
        if (!srv->qhead)
            srv->qtail = NULL;
        pthread_mutex_unlock(&srv->pool_mu);
        sg_log_set_request_id(req->reqid);
        req->in_pool = true;
        if (run_handler(req, req->handler) != SG_HTTP_SUSPENDED)
            resume_conn(req);
        sg_log_set_request_id(NULL);
        pthread_mutex_lock(&srv->pool_mu);
    }
    pthread_mutex_unlock(&srv->pool_mu);
    return NULL;
}

/* Routes the request and runs its handler here, or queues it for the pool. SG_HTTP_SUSPENDED:
 * the connection is suspended, and is resumed once the reply is ready. */
static int start_handler(sg_http_req *req)
{
    unsigned flags = 0;
    sg_http_handler handler = route(req, &flags);
    if (!handler)
        return SG_OK;
    if (req->srv->nworkers > 0 && !(flags & SG_HTTP_QUICK))
        return queue_for_pool(req, handler) ? SG_HTTP_SUSPENDED : SG_OK;
    return run_handler(req, handler);
}

int sg_http_run_in_pool(sg_http_req *req, sg_http_handler handler)
{
    if (req->inner || req->in_pool || req->srv->nworkers == 0)
        return handler(req, req->srv->opts.app);
    return queue_for_pool(req, handler) ? SG_HTTP_SUSPENDED : SG_OK;
}

bool sg_http_suspend(sg_http_req *req)
{
    if (req->inner)
        return false;
    if (req->in_pool) /* in the pool, the connection is suspended already */
        return true;
    /* Once the stop has waited for every suspended connection, none may be suspended again:
     * libmicrohttpd aborts when it is stopped with one. The handler then replies here. */
    sg_http_server *srv = req->srv;
    pthread_mutex_lock(&srv->pool_mu);
    bool open = !srv->pool_stopping;
    if (open)
        srv->suspended++;
    pthread_mutex_unlock(&srv->pool_mu);
    if (open)
        MHD_suspend_connection(req->conn);
    return open;
}

void sg_http_resume(sg_http_req *req)
{
    if (!has_reply(req) && !req->drop) {
        sg_log_error("a suspended request was resumed without a reply", "path", req->path);
        sg_http_reply_status(req, 500, "internal", "the handler sent no reply");
    }
    resume_conn(req);
}

/* ---- libmicrohttpd glue ---- */

static bool reqid_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > REQID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* ---- connections: a limit per client address, and a deadline for each request head ---- */

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void addr_text(const struct sockaddr *sa, char out[INET6_ADDRSTRLEN])
{
    out[0] = '\0';
    if (!sa)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, INET6_ADDRSTRLEN);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, INET6_ADDRSTRLEN);
}

/* Whether a new connection from ip may be opened: refused when the address already holds
 * max_per_client of them (trusted proxies carry many clients' connections and are exempt).
 * Connections handed to libmicrohttpd and not yet started count too, so a burst of connects
 * cannot slip past the limit. Called with conns_mu held. */
static bool admit_locked(sg_http_server *srv, const char *ip)
{
    if (srv->opts.max_per_client == 0 || !ip[0] || sg_cidr_contains(srv->opts.trusted_proxies, ip))
        return true;
    unsigned n = 0;
    for (conn_track *t = srv->conns; t; t = t->next)
        n += strcmp(t->ip, ip) == 0;
    if (n < srv->opts.max_per_client)
        return true;
    if (!atomic_exchange(&srv->limit_warned, true))
        sg_log_warn("a client holds http.max_connections_per_client connections; further ones "
                    "are refused (said once per server)",
                    "client", ip);
    return false;
}

static void track_unlink_locked(sg_http_server *srv, conn_track *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        srv->conns = t->next;
    if (t->next)
        t->next->prev = t->prev;
}

/* Hands an accepted socket to libmicrohttpd, which owns (and closes) it from then on. */
static void hand_off(sg_http_server *srv, int fd, const struct sockaddr *sa, socklen_t len)
{
    conn_track *t = sg_xcalloc(1, sizeof(*t));
    addr_text(sa, t->ip);
    t->fd = fd;
    t->waiting_ms = mono_ms();
    pthread_mutex_lock(&srv->conns_mu);
    if (!admit_locked(srv, t->ip)) {
        pthread_mutex_unlock(&srv->conns_mu);
        close(fd);
        free(t);
        return;
    }
    t->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = t;
    srv->conns = t;
    pthread_mutex_unlock(&srv->conns_mu);
    if (MHD_add_connection(srv->daemon, fd, sa, len) == MHD_YES)
        return;
    /* Refused (out of memory, or at the connection limit) and closed: the record goes, unless
     * libmicrohttpd started the connection before giving up on it (then its close does). */
    pthread_mutex_lock(&srv->conns_mu);
    for (conn_track *x = srv->conns; x; x = x->next) {
        if (x == t && !x->started) {
            track_unlink_locked(srv, x);
            free(x);
            break;
        }
    }
    pthread_mutex_unlock(&srv->conns_mu);
}

/* The acceptor: takes connections off the listening socket until woken to stop. */
static void *acceptor(void *arg)
{
    sg_http_server *srv = arg;
    pthread_setname_np(pthread_self(), "http-accept");
    struct pollfd p[2] = {{srv->listen_fd, POLLIN, 0}, {srv->wake[0], POLLIN, 0}};
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            sg_log_error("http server: poll on the listening socket failed", "error",
                         strerror(errno));
            break;
        }
        if (p[1].revents)
            break;
        for (int i = 0; i < ACCEPT_BURST; i++) {
            struct sockaddr_storage ss;
            socklen_t len = sizeof(ss);
            int fd =
                accept4(srv->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0) {
                hand_off(srv, fd, (struct sockaddr *)&ss, len);
                continue;
            }
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors or memory: new connections wait in the backlog. */
                if (!atomic_exchange(&srv->accept_warned, true))
                    sg_log_warn("http server cannot accept connections (said once per server); "
                                "raise the open-file limit (ulimit -n) or lower the load",
                                "error", strerror(errno));
                struct timespec nap = {0, 50 * 1000 * 1000};
                nanosleep(&nap, NULL);
            }
            break; /* EAGAIN: taken all there were */
        }
    }
    return NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    sg_http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        char ip[INET6_ADDRSTRLEN];
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        addr_text(ci ? ci->client_addr : NULL, ip);
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        int fd = ci ? ci->connect_fd : -1;
        pthread_mutex_lock(&srv->conns_mu);
        conn_track *t = srv->conns;
        while (t && (t->started || t->fd != fd || strcmp(t->ip, ip) != 0))
            t = t->next;
        if (!t) { /* not ours (cannot happen): track it all the same */
            t = sg_xcalloc(1, sizeof(*t));
            t->fd = fd;
            sg_strlcpy(t->ip, ip, sizeof(t->ip));
            t->next = srv->conns;
            if (srv->conns)
                srv->conns->prev = t;
            srv->conns = t;
        }
        t->started = true;
        t->waiting = true;
        t->waiting_ms = mono_ms();
        pthread_mutex_unlock(&srv->conns_mu);
        *socket_context = t;
        return;
    }
    conn_track *t = *socket_context;
    if (!t)
        return;
    /* MHD closes the socket after this returns, so the reaper never touches a reused fd. */
    pthread_mutex_lock(&srv->conns_mu);
    track_unlink_locked(srv, t);
    pthread_mutex_unlock(&srv->conns_mu);
    free(t);
    *socket_context = NULL;
}

/* Marks the connection as waiting for a request head (true: since now) or not. */
static void set_waiting(sg_http_server *srv, struct MHD_Connection *conn, bool waiting)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_track *t = ci ? ci->socket_context : NULL;
    if (!t)
        return;
    pthread_mutex_lock(&srv->conns_mu);
    t->waiting = waiting;
    t->waiting_ms = mono_ms();
    pthread_mutex_unlock(&srv->conns_mu);
}

/* Closes connections whose request head has not arrived within head_timeout_s (a slow client
 * trickling a header byte at a time holds a connection slot for no longer). shutdown() wakes
 * the connection's I/O thread, which then closes it as usual. Also forgets hand-offs that
 * libmicrohttpd never started (it closed them), so they stop counting against their client. */
static void *reaper(void *arg)
{
    sg_http_server *srv = arg;
    pthread_setname_np(pthread_self(), "http-reaper");
    int64_t limit = (int64_t)srv->opts.head_timeout_s * 1000;
    pthread_mutex_lock(&srv->conns_mu);
    while (!srv->stopping) {
        int64_t now = mono_ms();
        unsigned reaped = 0;
        for (conn_track *t = srv->conns, *nx; t; t = nx) {
            nx = t->next;
            if (!t->started) {
                if (now - t->waiting_ms >= HANDOFF_STALE_MS) {
                    track_unlink_locked(srv, t);
                    free(t);
                }
                continue;
            }
            if (limit <= 0 || !t->waiting || t->reaped || t->fd < 0 || now - t->waiting_ms < limit)
                continue;
            shutdown(t->fd, SHUT_RDWR);
            t->reaped = true;
            reaped++;
        }
        if (reaped) {
            char n[16];
            snprintf(n, sizeof(n), "%u", reaped);
            sg_log_debug("closed connections whose request head did not arrive in time",
                         "connections", n);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&srv->reaper_cv, &srv->conns_mu, &until);
    }
    pthread_mutex_unlock(&srv->conns_mu);
    return NULL;
}

/* A fresh request id: 16 hex digits from a per-thread generator (splitmix64) seeded once from
 * the system's randomness. Ids need to be unique, not secret; drawing each from OpenSSL's
 * generator cost a system call per request (its fork check). */
static void new_reqid(char out[REQID_MAX + 1])
{
    static _Thread_local uint64_t state;
    static _Thread_local bool seeded;
    if (!seeded) {
        if (sg_random((uint8_t *)&state, sizeof(state)) != SG_OK)
            state = (uint64_t)mono_ms() ^ (uint64_t)(uintptr_t)&state;
        seeded = true;
    }
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    uint8_t raw[8];
    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)(z >> (8 * i));
    sg_hex_encode(raw, sizeof(raw), out);
}

static sg_http_req *req_new(sg_http_server *srv, struct MHD_Connection *conn, const char *url,
                            const char *method)
{
    sg_http_req *req = sg_xcalloc(1, sizeof(*req));
    req->srv = srv;
    req->conn = conn;
    clock_gettime(CLOCK_MONOTONIC, &req->t0);
    req->arena = sg_arena_new(srv->opts.arena_max);
    req->body.max = srv->opts.max_body;
    req->method = sg_arena_strdup(req->arena, method);
    req->path = sg_arena_strdup(req->arena, url);
    const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (reqid_ok(given))
        sg_strlcpy(req->reqid, given, sizeof(req->reqid));
    else
        new_reqid(req->reqid);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    addr_text(ci ? ci->client_addr : NULL, req->peer_ip);
    resolve_client(req, srv->opts.trusted_proxies);
    int nheaders = MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL);
    req->too_many_headers = nheaders < 0 || (unsigned)nheaders > srv->opts.max_headers;
    atomic_fetch_add(&srv->inflight, 1);
    return req;
}

static void req_free(sg_http_req *req)
{
    if (!req)
        return;
    if (req->response)
        MHD_destroy_response(req->response);
    sg_buf_free(&req->body);
    sg_arena_free(req->arena);
    free(req);
}

static enum MHD_Result send_reply(sg_http_req *req)
{
    enum MHD_Result r = MHD_queue_response(req->conn, (unsigned)req->status, req->response);
    return r;
}

static void reply_too_big(sg_http_req *req)
{
    char msg[128];
    if (req->too_many_headers) {
        snprintf(msg, sizeof(msg), "more than %u request headers", req->srv->opts.max_headers);
        sg_http_reply_status(req, 431, "too_many_headers", msg);
    } else {
        snprintf(msg, sizeof(msg), "request body is larger than %zu bytes",
                 req->srv->opts.max_body);
        sg_http_reply_status(req, 413, "too_large", msg);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    sg_http_server *srv = cls;
    sg_http_req *req = *con_cls;
    if (!req) {
        set_waiting(srv, conn, false);
        req = req_new(srv, conn, url, method);
        *con_cls = req;
        /* Refuse what is over a cap straight away (this closes the connection, which is what
         * we want for such a client). Otherwise queue nothing on the first call: doing so
         * would close keep-alive connections. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        int64_t clen = 0;
        if (req->too_many_headers ||
            (cl && sg_parse_i64(cl, 0, INT64_MAX, "length", &clen) == SG_OK &&
             (uint64_t)clen > srv->opts.max_body)) {
            reply_too_big(req);
            return send_reply(req);
        }
        return MHD_YES;
    }
    sg_log_set_request_id(req->reqid);
    if (*upload_data_size > 0) {
        /* Past the cap the rest of the body is read and dropped; 413 follows at the end. */
        if (!req->too_big && sg_buf_append(&req->body, upload_data, *upload_data_size) != SG_OK) {
            req->too_big = true;
            sg_buf_free(&req->body);
        }
        *upload_data_size = 0;
        sg_log_set_request_id(NULL);
        return MHD_YES;
    }
    if (!req->dispatched && !req->response) {
        req->dispatched = true;
        if (req->too_big || req->too_many_headers)
            reply_too_big(req);
        else if (start_handler(req) == SG_HTTP_SUSPENDED) {
            /* Called again once resumed, with the reply made. */
            sg_log_set_request_id(NULL);
            return MHD_YES;
        }
    }
    if (req->drop && !req->response) {
        sg_log_set_request_id(NULL);
        return MHD_NO; /* libmicrohttpd closes the connection */
    }
    enum MHD_Result r = send_reply(req);
    sg_log_set_request_id(NULL);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    sg_http_server *srv = cls;
    sg_http_req *req = *con_cls;
    if (!req)
        return;
    /* A kept-alive connection now waits for its next request head. */
    if (conn)
        set_waiting(srv, conn, true);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms =
        (double)(t1.tv_sec - req->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - req->t0.tv_nsec) / 1e6;
    if (sg_log_enabled(SG_LOG_INFO)) {
        char status[16], dur[32];
        snprintf(status, sizeof(status), "%d", req->status);
        snprintf(dur, sizeof(dur), "%.3f", ms);
        sg_log_set_request_id(req->reqid);
        sg_log_kv_batched(toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? SG_LOG_INFO : SG_LOG_WARN,
                          "http", "method", req->method, "path", req->path, "status", status, "ms",
                          dur, "client", req->client_ip, "outcome",
                          toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted",
                          (const char *)NULL);
        sg_log_set_request_id(NULL);
    }
    const char *prefix = srv->opts.metrics_prefix;
    if (prefix) {
        char name[96], labels[256], status[16];
        snprintf(status, sizeof(status), "%d", req->status);
        const char *route = req->route ? req->route : "(unmatched)";
        static const char *const known[] = {"GET",   "HEAD",   "POST",   "PUT",
                                            "PATCH", "DELETE", "OPTIONS"};
        const char *method = "other"; /* a client's invented method is not a new series */
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (req->method && strcmp(req->method, known[i]) == 0)
                method = known[i];
        sg_metrics_labels(labels, sizeof(labels), "method", method, "route", route, "status",
                          status, (const char *)NULL);
        snprintf(name, sizeof(name), "%s_http_requests_total", prefix);
        sg_metrics_inc(name, labels, 1);
        sg_metrics_labels(labels, sizeof(labels), "route", route, (const char *)NULL);
        snprintf(name, sizeof(name), "%s_http_request_duration_seconds", prefix);
        sg_metrics_observe(name, labels, ms / 1e3);
    }
    req_free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

/* ---- inner requests ---- */

/* Splits a query string into the request's arguments as libmicrohttpd does for a request from
 * a client: "&" between arguments, the first "=" between key and value (no "=": a NULL value),
 * "+" as a space, then percent-decoded by libmicrohttpd's own unescaper. */
static int inner_query(sg_http_req *req, const char *qs)
{
    if (!qs || !*qs)
        return SG_OK;
    size_t n = 1;
    for (const char *p = qs; *p; p++)
        n += *p == '&';
    if (n > INNER_MAX_QUERY)
        return sg_err_set(SG_EINVAL, "more than %d query arguments", INNER_MAX_QUERY);
    req->in_query = sg_arena_alloc(req->arena, n * sizeof(kv));
    if (!req->in_query)
        return SG_ETOOBIG;
    for (const char *p = qs; p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len) {
            char *key = sg_arena_strndup(req->arena, p, len);
            if (!key)
                return SG_ETOOBIG;
            for (char *c = key; *c; c++)
                if (*c == '+')
                    *c = ' ';
            char *eq = strchr(key, '=');
            if (eq) {
                *eq = '\0';
                MHD_http_unescape(eq + 1);
            }
            MHD_http_unescape(key);
            kv *arg = &req->in_query[req->n_in_query++];
            arg->key = key;
            arg->value = eq ? eq + 1 : NULL;
        }
        p = amp ? amp + 1 : NULL;
    }
    return SG_OK;
}

static int inner_headers(sg_http_req *req, const sg_http_field *h, size_t n)
{
    if (n > req->srv->opts.max_headers) {
        req->too_many_headers = true;
        return SG_OK;
    }
    req->in_headers = sg_arena_alloc(req->arena, (n ? n : 1) * sizeof(kv));
    if (!req->in_headers)
        return SG_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        const char *name = h[i].name, *value = h[i].value ? h[i].value : "";
        if (!name || !*name || strpbrk(name, "\r\n: \t") || strpbrk(value, "\r\n"))
            return sg_err_set(SG_EINVAL, "header %zu of an inner request is malformed", i);
        kv *x = &req->in_headers[req->n_in_headers++];
        x->key = sg_arena_strdup(req->arena, name);
        x->value = sg_arena_strdup(req->arena, value);
        if (!x->key || !x->value)
            return SG_ETOOBIG;
    }
    return SG_OK;
}

/* Moves the captured reply into out: Content-Type first, then the handler's headers. */
static void inner_capture(sg_http_req *req, sg_http_inner_reply *out)
{
    if (req->drop && !req->replied)
        return; /* status 0: dropped, as a client would see a closed connection */
    out->status = req->status;
    size_t n = req->nresp_headers + (req->reply_type ? 1 : 0);
    out->headers = sg_xcalloc(n ? n : 1, sizeof(sg_http_field));
    if (req->reply_type) {
        out->headers[out->nheaders].name = sg_xstrdup("Content-Type");
        out->headers[out->nheaders++].value = sg_xstrdup(req->reply_type);
    }
    for (size_t i = 0; i < req->nresp_headers; i++) {
        out->headers[out->nheaders].name = sg_xstrdup(req->resp_headers[i].key);
        out->headers[out->nheaders++].value = sg_xstrdup(req->resp_headers[i].value);
    }
    /* HEAD answers like GET, without the body, as libmicrohttpd sends it to a client. */
    if (strcmp(req->method, "HEAD") == 0)
        sg_buf_reset(&req->reply_body);
    out->body = sg_buf_detach(&req->reply_body, &out->body_len);
}

int sg_http_run_inner(sg_http_req *outer, const sg_http_inner_req *in, sg_http_inner_reply *out)
{
    memset(out, 0, sizeof(*out));
    const char *target = in->target ? in->target : "";
    if (target[0] != '/')
        return sg_err_set(SG_EINVAL, "an inner request's target must be a path (\"/...\")");
    if (!in->method || !*in->method)
        return sg_err_set(SG_EINVAL, "an inner request needs a method");
    sg_http_server *srv = outer->srv;
    sg_http_req *req = sg_xcalloc(1, sizeof(*req));
    req->srv = srv;
    req->inner = true;
    req->inner_ctx = in->ctx;
    clock_gettime(CLOCK_MONOTONIC, &req->t0);
    req->arena = sg_arena_new(srv->opts.arena_max);
    req->body.max = srv->opts.max_body;
    memcpy(req->reqid, outer->reqid, sizeof(req->reqid));
    memcpy(req->client_ip, outer->client_ip, sizeof(req->client_ip));
    memcpy(req->peer_ip, outer->peer_ip, sizeof(req->peer_ip));
    int rc = SG_OK;
    const char *q = strchr(target, '?');
    char *path = sg_arena_strndup(req->arena, target, q ? (size_t)(q - target) : strlen(target));
    req->method = sg_arena_strdup(req->arena, in->method);
    if (!path || !req->method) {
        rc = SG_ETOOBIG;
        goto cleanup;
    }
    MHD_http_unescape(path); /* libmicrohttpd hands handlers the decoded path */
    req->path = path;
    rc = inner_query(req, q ? q + 1 : NULL);
    if (rc == SG_OK)
        rc = inner_headers(req, in->headers, in->nheaders);
    if (rc != SG_OK)
        goto cleanup;
    if (in->body_len > srv->opts.max_body)
        req->too_big = true;
    else if (in->body_len && sg_buf_append(&req->body, in->body, in->body_len) != SG_OK)
        req->too_big = true;
    if (req->too_big || req->too_many_headers)
        reply_too_big(req);
    else
        dispatch(req);
    inner_capture(req, out);
cleanup:
    sg_buf_free(&req->body);
    sg_buf_free(&req->reply_body);
    sg_arena_free(req->arena);
    free(req);
    return rc;
}

void sg_http_inner_reply_free(sg_http_inner_reply *r)
{
    if (!r)
        return;
    /* The strings were allocated here (inner_capture); const only for the readers. */
    for (size_t i = 0; i < r->nheaders; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

void *sg_http_inner_ctx(const sg_http_req *req)
{
    return req->inner ? req->inner_ctx : NULL;
}

const char *sg_http_reason(int status)
{
    const char *r = status > 0 ? MHD_get_reason_phrase_for((unsigned)status) : NULL;
    return r && strcmp(r, "Unknown") != 0 ? r : "";
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    sg_log_warn("http server", "detail", msg);
}

/* Opens the listening socket for host:port. */
static int listen_open(const sg_http_server_opts *opts, int *out, uint16_t *port_out)
{
    struct addrinfo hints, *ai = NULL;
    char port[8];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof(port), "%u", opts->port);
    int gai = getaddrinfo(opts->host, port, &hints, &ai);
    if (gai != 0)
        return sg_err_set(SG_EINVAL, "cannot listen on '%s': %s", opts->host, gai_strerror(gai));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == 0 &&
              (ai->ai_family != AF_INET6 ||
               setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) == 0) &&
              bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0;
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (ok)
        ok = getsockname(fd, (struct sockaddr *)&ss, &len) == 0;
    if (!ok) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return sg_err_set(SG_EIO, "cannot listen on %s:%u: %s", opts->host, opts->port,
                          strerror(e));
    }
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *out = fd;
    return SG_OK;
}

static void server_free(sg_http_server *srv)
{
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    for (int i = 0; i < 2; i++)
        if (srv->wake[i] >= 0)
            close(srv->wake[i]);
    pthread_mutex_destroy(&srv->conns_mu);
    pthread_cond_destroy(&srv->reaper_cv);
    pthread_mutex_destroy(&srv->pool_mu);
    pthread_cond_destroy(&srv->pool_cv);
    pthread_cond_destroy(&srv->resumed_cv);
    for (conn_track *t = srv->conns, *nx; t; t = nx) { /* hand-offs never started */
        nx = t->next;
        free(t);
    }
    free(srv->workers);
    free(srv);
}

/* Stops the pool: requests still queued get a 503; handlers running finish first. */
static void pool_stop(sg_http_server *srv)
{
    pthread_mutex_lock(&srv->pool_mu);
    srv->pool_stopping = true;
    sg_http_req *q = srv->qhead;
    srv->qhead = srv->qtail = NULL;
    pthread_cond_broadcast(&srv->pool_cv);
    pthread_mutex_unlock(&srv->pool_mu);
    for (sg_http_req *req = q, *nx; req; req = nx) {
        nx = req->next;
        sg_log_set_request_id(req->reqid);
        reply_stopping(req);
        sg_log_set_request_id(NULL);
        resume_conn(req);
    }
    for (unsigned i = 0; i < srv->nworkers; i++)
        pthread_join(srv->workers[i], NULL);
    srv->nworkers = 0;
}

/* Waits up to ms for every request in flight to be answered. */
static void wait_idle(sg_http_server *srv, unsigned ms)
{
    struct timespec nap = {0, 10 * 1000 * 1000};
    for (unsigned waited = 0; waited < ms && atomic_load(&srv->inflight) > 0; waited += 10)
        nanosleep(&nap, NULL);
}

/* Waits until no connection is suspended: libmicrohttpd must not be stopped with one. */
static void wait_resumed(sg_http_server *srv)
{
    pthread_mutex_lock(&srv->pool_mu);
    while (srv->suspended > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        if (pthread_cond_timedwait(&srv->resumed_cv, &srv->pool_mu, &until) != 0 &&
            srv->suspended > 0) {
            char n[16];
            snprintf(n, sizeof(n), "%u", srv->suspended);
            sg_log_warn("stopping: waiting for suspended requests to be answered", "requests", n);
        }
    }
    pthread_mutex_unlock(&srv->pool_mu);
}

int sg_http_server_start(const sg_http_server_opts *opts, sg_http_server **out)
{
    *out = NULL;
    sg_http_server *srv = sg_xcalloc(1, sizeof(*srv));
    srv->opts = *opts;
    srv->listen_fd = srv->wake[0] = srv->wake[1] = -1;
    pthread_mutex_init(&srv->conns_mu, NULL);
    pthread_cond_init(&srv->reaper_cv, NULL);
    pthread_mutex_init(&srv->pool_mu, NULL);
    pthread_cond_init(&srv->pool_cv, NULL);
    pthread_cond_init(&srv->resumed_cv, NULL);
    int rc = listen_open(opts, &srv->listen_fd, &srv->port);
    if (rc != SG_OK) {
        server_free(srv);
        return rc;
    }
    if (pipe2(srv->wake, O_CLOEXEC) != 0) {
        server_free(srv);
        return sg_err_set(SG_EIO, "http server: pipe: %s", strerror(errno));
    }
    /* See the top of this file for why libmicrohttpd gets no listening socket. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME;
    /* One I/O thread is libmicrohttpd's own polling thread; more are its thread pool. */
    unsigned io = opts->io_threads > 1 ? opts->io_threads : 0;
    struct MHD_OptionItem pool[] = {
        {io ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, io, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)opts->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_ARRAY, pool, MHD_OPTION_END);
    if (!srv->daemon) {
        server_free(srv);
        return sg_err_set(SG_EINTERNAL, "could not start the HTTP server (libmicrohttpd)");
    }
    srv->workers = sg_xcalloc(opts->handler_threads ? opts->handler_threads : 1, sizeof(pthread_t));
    for (unsigned i = 0; i < opts->handler_threads; i++) {
        if (pthread_create(&srv->workers[srv->nworkers], NULL, pool_worker, srv) != 0)
            break;
        srv->nworkers++;
    }
    srv->reaper_started = pthread_create(&srv->reaper, NULL, reaper, srv) == 0;
    srv->acceptor_started = pthread_create(&srv->acceptor, NULL, acceptor, srv) == 0;
    if (!srv->acceptor_started || (opts->handler_threads && srv->nworkers == 0)) {
        sg_http_server_stop(srv, 0);
        return sg_err_set(SG_EINTERNAL, "could not start the HTTP server's threads");
    }
    *out = srv;
    return SG_OK;
}

uint16_t sg_http_server_port(const sg_http_server *srv)
{
    return srv->port;
}

unsigned sg_http_server_inflight(const sg_http_server *srv)
{
    return atomic_load(&((sg_http_server *)srv)->inflight);
}

void sg_http_server_stop(sg_http_server *srv, unsigned grace_ms)
{
    if (!srv)
        return;
    atomic_store(&srv->closing, true);
    /* Stop accepting: new connections are refused from here on. */
    if (srv->acceptor_started) {
        ssize_t w = write(srv->wake[1], "x", 1);
        (void)w;
        pthread_join(srv->acceptor, NULL);
    }
    close(srv->listen_fd);
    srv->listen_fd = -1;
    char port[8];
    snprintf(port, sizeof(port), "%u", srv->port);
    sg_log_info("stopped accepting connections", "port", port);
    wait_idle(srv, grace_ms);
    if (atomic_load(&srv->inflight) > 0)
        sg_log_warn("shutdown deadline passed with requests in flight");
    pool_stop(srv);
    wait_resumed(srv);
    /* Replies of requests resumed just now are still being written: stopping the daemon would
     * cut them off. They get a moment more. */
    wait_idle(srv, REPLY_DRAIN_MS);
    MHD_stop_daemon(srv->daemon);
    pthread_mutex_lock(&srv->conns_mu);
    srv->stopping = true;
    pthread_cond_signal(&srv->reaper_cv);
    pthread_mutex_unlock(&srv->conns_mu);
    if (srv->reaper_started)
        pthread_join(srv->reaper, NULL);
    server_free(srv);
}
