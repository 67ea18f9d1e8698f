/* client: libcurl easy handles with the outbound guard hooked into socket opening, so the
 * check applies to the address actually connected to, after DNS. */
#include "http/client.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/url.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RESP_HEADERS 100

typedef struct call {
    const sg_http_client_opts *opts;
    sg_http_response *res;
    bool denied;
    bool too_big;
    char denied_msg[256];
} call;

void sg_http_client_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sg_http_pool {
    CURLSH *share;
    long max_idle;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

static void pool_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
    (void)h;
    (void)access;
    sg_http_pool *p = userp;
    pthread_mutex_lock(&p->locks[data]);
}

static void pool_unlock(CURL *h, curl_lock_data data, void *userp)
{
    (void)h;
    sg_http_pool *p = userp;
    pthread_mutex_unlock(&p->locks[data]);
}

sg_http_pool *sg_http_pool_new(long max_idle)
{
    sg_http_pool *p = sg_xcalloc(1, sizeof(*p));
    p->max_idle = max_idle > 0 ? max_idle : 4;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&p->locks[i], NULL);
    p->share = curl_share_init();
    if (!p->share)
        abort();
    curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, pool_lock);
    curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, pool_unlock);
    curl_share_setopt(p->share, CURLSHOPT_USERDATA, p);
    /* The connections themselves, and what makes a new one cheaper: TLS sessions to resume
     * and DNS answers. Each outbound address was checked by the guard when it was opened. */
    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    return p;
}

void sg_http_pool_free(sg_http_pool *p)
{
    if (!p)
        return;
    curl_share_cleanup(p->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&p->locks[i]);
    free(p);
}

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    call *c = clientp;
    (void)purpose;
    if (sg_url_guard_addr(&addr->addr, c->opts->allow_insecure_loopback) != SG_OK) {
        c->denied = true;
        snprintf(c->denied_msg, sizeof(c->denied_msg), "%s", sg_err_msg());
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    call *c = userp;
    size_t n = size * nmemb;
    if (sg_buf_append(&c->res->body, data, n) != SG_OK) {
        c->too_big = true;
        return 0;
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    call *c = userp;
    size_t n = size * nmemb;
    sg_http_response *res = c->res;
    /* A new status line (e.g. after 100 Continue) starts a new header block. */
    if (n > 5 && strncmp(data, "HTTP/", 5) == 0) {
        for (size_t i = 0; i < res->nheaders; i++) {
            free(res->headers[i].name);
            free(res->headers[i].value);
        }
        res->nheaders = 0;
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon || res->nheaders >= MAX_RESP_HEADERS)
        return n;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1;
    const char *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    if (!res->headers)
        res->headers = sg_xcalloc(MAX_RESP_HEADERS, sizeof(sg_http_resp_header));
    res->headers[res->nheaders].name = sg_xstrndup(data, nl);
    res->headers[res->nheaders].value = sg_xstrndup(v, (size_t)(end - v));
    res->nheaders++;
    return n;
}

int sg_http_request(const sg_http_client_opts *opts, const char *method, const char *url,
                    const char *const *headers, const void *body, size_t len, sg_http_response *res)
{
    int rc = SG_OK;
    CURL *h = NULL;
    struct curl_slist *hl = NULL;
    memset(res, 0, sizeof(*res));
    call c = {opts, res, false, false, ""};
    res->body.max = opts->max_response;

    rc = sg_url_guard(url, opts->allow_insecure_loopback);
    if (rc != SG_OK)
        return rc;
    h = curl_easy_init();
    if (!h)
        return sg_err_set(SG_EINTERNAL, "curl_easy_init failed");
    for (const char *const *p = headers; p && *p; p++)
        hl = curl_slist_append(hl, *p);
    /* libcurl adds "Expect: 100-continue" to large POSTs; it only costs a round trip. */
    hl = curl_slist_append(hl, "Expect:");

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (body || len) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
                     opts->allow_insecure_loopback ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (opts->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, opts->ca_file);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, opts->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, opts->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "snowgate/" SG_VERSION);
    if (opts->max_response)
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opts->max_response);
    if (opts->pool) {
        curl_easy_setopt(h, CURLOPT_SHARE, opts->pool->share);
        curl_easy_setopt(h, CURLOPT_MAXCONNECTS, opts->pool->max_idle);
    } else {
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    }

    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &res->new_connections);
    if (c.denied) {
        rc = sg_err_set(SG_EDENIED, "%s", c.denied_msg);
    } else if (c.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = sg_err_set(SG_ETOOBIG, "response from %s is larger than %zu bytes", url,
                        opts->max_response);
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        rc = sg_err_set(SG_ETIMEOUT, "request to %s timed out", url);
    } else if (cc != CURLE_OK) {
        rc = sg_err_set(SG_ENET, "request to %s failed: %s", url, curl_easy_strerror(cc));
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    if (rc != SG_OK)
        sg_http_response_free(res);
    return rc;
}

void sg_http_response_free(sg_http_response *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    free(res->headers);
    sg_buf_free(&res->body);
    res->headers = NULL;
    res->nheaders = 0;
}

const char *sg_http_response_header(const sg_http_response *res, const char *name)
{
    const char *found = NULL;
    for (size_t i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            found = res->headers[i].value;
    return found;
}

char *sg_http_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, (int)strlen(s));
    if (!e)
        abort();
    char *copy = sg_xstrdup(e);
    curl_free(e);
    return copy;
}
