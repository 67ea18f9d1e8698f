/* server: libmicrohttpd in thread-pool mode behind a route table. One sg_http_req per HTTP
 * request, owning an arena that everything request-scoped is allocated from. */
#include "http/server.h"

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/mem.h"
#include "core/str.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
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

/* An open connection, from accept to close: its address (for the per-client limit) and when
 * it began waiting for a request head (for the head deadline). */
typedef struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    char ip[INET6_ADDRSTRLEN];
    bool waiting;       /* no complete request head yet (or idle between requests) */
    int64_t waiting_ms; /* since when, CLOCK_MONOTONIC */
    bool reaped;
} conn_track;

struct sg_http_server {
    struct MHD_Daemon *daemon;
    sg_http_server_opts opts;
    uint16_t port;
    /* Open connections, under conns_mu; read by the accept policy and the reaper. */
    pthread_mutex_t conns_mu;
    pthread_cond_t reaper_cv;
    conn_track *conns;
    bool stopping;
    pthread_t reaper;
    bool reaper_started;
    atomic_uint inflight;
    atomic_bool xff_warned;   /* the X-Forwarded-For-without-trusted-proxies warning was logged */
    atomic_bool limit_warned; /* the per-client limit warning was logged */
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
    bool started; /* the first handler call has passed */
    bool drop;    /* close the connection without replying */
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

int sg_http_reply(sg_http_req *req, int status, const char *content_type, const void *body,
                  size_t len)
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
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return sg_err_set(SG_EINTERNAL, "could not create the response");
    if (content_type)
        MHD_add_response_header(r, "Content-Type", content_type);
    MHD_add_response_header(r, "X-Request-Id", req->reqid);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < req->nresp_headers; i++)
        MHD_add_response_header(r, req->resp_headers[i].key, req->resp_headers[i].value);
    req->response = r;
    req->status = status;
    return SG_OK;
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

static void dispatch(sg_http_req *req)
{
    const sg_http_server_opts *o = &req->srv->opts;
    sg_http_handler handler = NULL;
    char allow[128] = "";
    for (const sg_http_route *r = o->routes; r && r->method; r++) {
        if (!route_match(req, r->pattern, req->path))
            continue;
        if (method_match(r->method, req->method)) {
            handler = r->handler;
            req->route = r->pattern;
            break;
        }
        if (!strstr(allow, r->method)) {
            if (allow[0])
                strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
            strncat(allow, r->method, sizeof(allow) - strlen(allow) - 1);
        }
    }
    if (!handler && allow[0]) {
        req->nparams = 0;
        sg_http_set_header(req, "Allow", allow);
        sg_http_reply_status(req, 405, "method_not_allowed",
                             "this method is not allowed here; see the Allow header");
        return;
    }
    if (!handler) {
        req->nparams = 0;
        if (o->fallback) {
            handler = o->fallback;
        } else {
            sg_http_reply_status(req, 404, "not_found", "no such endpoint");
            return;
        }
    }
    sg_err_clear();
    int rc = handler(req, o->app);
    if (req->drop)
        return;
    if (rc != SG_OK && !has_reply(req)) {
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

/* Refuses a new connection from an address that already holds max_per_client of them
 * (trusted proxies carry many clients' connections and are exempt). */
static enum MHD_Result accept_cb(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addrlen;
    sg_http_server *srv = cls;
    if (srv->opts.max_per_client == 0)
        return MHD_YES;
    char ip[INET6_ADDRSTRLEN];
    addr_text(addr, ip);
    if (!ip[0] || sg_cidr_contains(srv->opts.trusted_proxies, ip))
        return MHD_YES;
    unsigned n = 0;
    pthread_mutex_lock(&srv->conns_mu);
    for (conn_track *t = srv->conns; t; t = t->next)
        n += strcmp(t->ip, ip) == 0;
    pthread_mutex_unlock(&srv->conns_mu);
    if (n < srv->opts.max_per_client)
        return MHD_YES;
    if (!atomic_exchange(&srv->limit_warned, true))
        sg_log_warn("a client holds http.max_connections_per_client connections; further ones "
                    "are refused (said once per server)",
                    "client", ip);
    return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    sg_http_server *srv = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_track *t = sg_xcalloc(1, sizeof(*t));
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        addr_text(ci ? ci->client_addr : NULL, t->ip);
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        t->fd = ci ? ci->connect_fd : -1;
        t->waiting = true;
        t->waiting_ms = mono_ms();
        pthread_mutex_lock(&srv->conns_mu);
        t->next = srv->conns;
        if (srv->conns)
            srv->conns->prev = t;
        srv->conns = t;
        pthread_mutex_unlock(&srv->conns_mu);
        *socket_context = t;
        return;
    }
    conn_track *t = *socket_context;
    if (!t)
        return;
    /* MHD closes the socket after this returns, so the reaper never touches a reused fd. */
    pthread_mutex_lock(&srv->conns_mu);
    if (t->prev)
        t->prev->next = t->next;
    else
        srv->conns = t->next;
    if (t->next)
        t->next->prev = t->prev;
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
 * trickling a header byte at a time holds no thread for long). shutdown() wakes the
 * connection's own thread, which then closes it as usual. */
static void *reaper(void *arg)
{
    sg_http_server *srv = arg;
    int64_t limit = (int64_t)srv->opts.head_timeout_s * 1000;
    pthread_mutex_lock(&srv->conns_mu);
    while (!srv->stopping) {
        int64_t now = mono_ms();
        unsigned reaped = 0;
        for (conn_track *t = srv->conns; t; t = t->next) {
            if (!t->waiting || t->reaped || t->fd < 0 || now - t->waiting_ms < limit)
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
        sg_random_hex(req->reqid, 8);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->peer_ip,
                      sizeof(req->peer_ip));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->peer_ip,
                      sizeof(req->peer_ip));
    }
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
    if (!req->response) {
        if (req->too_big || req->too_many_headers)
            reply_too_big(req);
        else
            dispatch(req);
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
        sg_log_kv(toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? SG_LOG_INFO : SG_LOG_WARN, "http",
                  "method", req->method, "path", req->path, "status", status, "ms", dur, "client",
                  req->client_ip, "outcome",
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

int sg_http_server_start(const sg_http_server_opts *opts, sg_http_server **out)
{
    struct addrinfo hints, *ai = NULL;
    char port[8];
    *out = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof(port), "%u", opts->port);
    int gai = getaddrinfo(opts->host, port, &hints, &ai);
    if (gai != 0)
        return sg_err_set(SG_EINVAL, "cannot listen on '%s': %s", opts->host, gai_strerror(gai));

    sg_http_server *srv = sg_xcalloc(1, sizeof(*srv));
    srv->opts = *opts;
    /* poll(), not epoll: libmicrohttpd 0.9.75 can abort in MHD_quiesce_daemon with epoll
     * ("Failed to remove listen FD from epoll set") when a pool thread has just taken the
     * listen socket out of its own epoll set; seen under load during graceful stops. */
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (opts->thread_per_connection)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    pthread_mutex_init(&srv->conns_mu, NULL);
    pthread_cond_init(&srv->reaper_cv, NULL);
    srv->daemon = MHD_start_daemon(
        flags, opts->port, accept_cb, srv, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE,
        opts->thread_per_connection ? 0u : (unsigned)(opts->threads ? opts->threads : 1),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)opts->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_CONNECTION_LIMIT,
        opts->thread_per_connection ? 256u : 1000u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!srv->daemon) {
        pthread_mutex_destroy(&srv->conns_mu);
        pthread_cond_destroy(&srv->reaper_cv);
        free(srv);
        return sg_err_set(SG_EIO, "cannot listen on %s:%u (address in use or not permitted)",
                          opts->host, opts->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : opts->port;
    if (opts->head_timeout_s > 0)
        srv->reaper_started = pthread_create(&srv->reaper, NULL, reaper, srv) == 0;
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
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    struct timespec nap = {0, 10 * 1000 * 1000};
    for (unsigned waited = 0; waited < grace_ms && atomic_load(&srv->inflight) > 0; waited += 10)
        nanosleep(&nap, NULL);
    if (atomic_load(&srv->inflight) > 0)
        sg_log_warn("shutdown deadline passed with requests in flight");
    MHD_stop_daemon(srv->daemon);
    pthread_mutex_lock(&srv->conns_mu);
    srv->stopping = true;
    pthread_cond_signal(&srv->reaper_cv);
    pthread_mutex_unlock(&srv->conns_mu);
    if (srv->reaper_started)
        pthread_join(srv->reaper, NULL);
    pthread_mutex_destroy(&srv->conns_mu);
    pthread_cond_destroy(&srv->reaper_cv);
    free(srv);
}
