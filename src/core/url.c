/* url: parsing through curl_url, and address classification for the outbound guard. */
#include "core/url.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define URL_MAX 8192

static char *url_part(CURLU *h, CURLUPart part, unsigned flags)
{
    char *v = NULL;
    if (curl_url_get(h, part, &v, flags) != CURLUE_OK || !v)
        return NULL;
    char *copy = sg_xstrdup(v);
    curl_free(v);
    return copy;
}

int sg_url_parse(const char *s, sg_url *out)
{
    int rc = SG_OK;
    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return sg_err_set(SG_EINVAL, "URL is empty");
    if (strlen(s) > URL_MAX)
        return sg_err_set(SG_EINVAL, "URL is longer than %d characters", URL_MAX);
    if (!sg_str_printable(s, strlen(s)) || strchr(s, ' '))
        return sg_err_set(SG_EINVAL, "URL contains spaces or control characters");
    CURLU *h = curl_url();
    if (!h)
        abort();
    CURLUcode uc = curl_url_set(h, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME);
    if (uc != CURLUE_OK) {
        rc = sg_err_set(SG_EINVAL, "'%s' is not a valid absolute URL (%s)", s,
                        curl_url_strerror(uc));
        goto cleanup;
    }
    out->scheme = url_part(h, CURLUPART_SCHEME, 0);
    out->host = url_part(h, CURLUPART_HOST, 0);
    out->user = url_part(h, CURLUPART_USER, 0);
    out->path = url_part(h, CURLUPART_PATH, 0);
    out->query = url_part(h, CURLUPART_QUERY, 0);
    out->fragment = url_part(h, CURLUPART_FRAGMENT, 0);
    char *port = url_part(h, CURLUPART_PORT, 0);
    out->explicit_port = port != NULL;
    if (!port)
        port = url_part(h, CURLUPART_PORT, CURLU_DEFAULT_PORT);
    int64_t p = 0;
    if (port)
        sg_parse_i64(port, 0, 65535, "port", &p);
    out->port = (int)p;
    free(port);
    if (!out->scheme || !out->host || !*out->host) {
        rc = sg_err_set(SG_EINVAL, "'%s' has no scheme or host", s);
        goto cleanup;
    }
    for (char *c = out->scheme; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    for (char *c = out->host; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    size_t hl = strlen(out->host);
    if (hl >= 2 && out->host[0] == '[' && out->host[hl - 1] == ']') {
        memmove(out->host, out->host + 1, hl - 2);
        out->host[hl - 2] = '\0';
    }
    if (!out->path)
        out->path = sg_xstrdup("/");
cleanup:
    curl_url_cleanup(h);
    if (rc != SG_OK)
        sg_url_clear(out);
    return rc;
}

void sg_url_clear(sg_url *u)
{
    free(u->scheme);
    free(u->host);
    free(u->user);
    free(u->path);
    free(u->query);
    free(u->fragment);
    memset(u, 0, sizeof(*u));
}

static bool v4_in(uint32_t a, uint32_t net, int bits)
{
    uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
    return (a & mask) == (net & mask);
}

static sg_addr_class classify_v4(uint32_t a)
{
    static const struct {
        uint32_t net;
        int bits;
    } priv[] = {
        {0x00000000u, 8},  /* "this network" */
        {0x0a000000u, 8},  /* 10/8 */
        {0x64400000u, 10}, /* 100.64/10 CGNAT */
        {0xa9fe0000u, 16}, /* 169.254/16 link-local, cloud metadata */
        {0xac100000u, 12}, /* 172.16/12 */
        {0xc0000000u, 24}, /* 192.0.0/24 IETF */
        {0xc0000200u, 24}, /* 192.0.2/24 documentation */
        {0xc0586300u, 24}, /* 192.88.99/24 6to4 relay */
        {0xc0a80000u, 16}, /* 192.168/16 */
        {0xc6120000u, 15}, /* 198.18/15 benchmarking */
        {0xc6336400u, 24}, /* 198.51.100/24 documentation */
        {0xcb007100u, 24}, /* 203.0.113/24 documentation */
        {0xe0000000u, 4},  /* multicast */
        {0xf0000000u, 4},  /* reserved, broadcast */
    };
    if (v4_in(a, 0x7f000000u, 8))
        return SG_ADDR_LOOPBACK;
    for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
        if (v4_in(a, priv[i].net, priv[i].bits))
            return SG_ADDR_PRIVATE;
    return SG_ADDR_PUBLIC;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static sg_addr_class classify_v6(const uint8_t *b)
{
    static const uint8_t zero[16] = {0};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(b, zero, 15) == 0 && b[15] == 1)
        return SG_ADDR_LOOPBACK;
    if (memcmp(b, zero, 12) == 0) /* ::, and deprecated IPv4-compatible ::a.b.c.d */
        return SG_ADDR_PRIVATE;
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
        return classify_v4(be32(b + 12));
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 embeds an IPv4 address */
        return classify_v4(be32(b + 2)) == SG_ADDR_PUBLIC ? SG_ADDR_PUBLIC : SG_ADDR_PRIVATE;
    if ((b[0] & 0xfe) == 0xfc) /* fc00::/7 unique local */
        return SG_ADDR_PRIVATE;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 link-local */
        return SG_ADDR_PRIVATE;
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10 site-local */
        return SG_ADDR_PRIVATE;
    if (b[0] == 0xff) /* multicast */
        return SG_ADDR_PRIVATE;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) /* documentation */
        return SG_ADDR_PRIVATE;
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) /* Teredo */
        return SG_ADDR_PRIVATE;
    if (b[0] == 0x01 && b[1] == 0 && memcmp(b + 2, zero, 6) == 0) /* 100::/64 discard */
        return SG_ADDR_PRIVATE;
    if ((b[0] & 0xe0) != 0x20) /* only 2000::/3 is global unicast */
        return SG_ADDR_PRIVATE;
    return SG_ADDR_PUBLIC;
}

sg_addr_class sg_addr_classify(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return classify_v4(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return classify_v6(in6->sin6_addr.s6_addr);
    }
    return SG_ADDR_PRIVATE;
}

bool sg_addr_literal_class(const char *s, sg_addr_class *out)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        *out = classify_v6(a6.s6_addr);
        return true;
    }
    /* inet_aton also takes the legacy forms ("127.1", "0x7f.1", "2130706433") that some
     * resolvers and URL parsers turn into addresses. */
    if (inet_aton(s, &a4) == 1) {
        *out = classify_v4(ntohl(a4.s_addr));
        return true;
    }
    return false;
}

static bool host_is_localhost_name(const char *host)
{
    size_t n = strlen(host);
    while (n > 0 && host[n - 1] == '.')
        n--;
    if (n == 9 && strncasecmp(host, "localhost", 9) == 0)
        return true;
    return n > 10 && strncasecmp(host + n - 10, ".localhost", 10) == 0;
}

int sg_url_guard(const char *url, bool allow_insecure_loopback)
{
    sg_url u;
    int rc = sg_url_parse(url, &u);
    if (rc != SG_OK)
        return sg_err_set(SG_EDENIED, "%s", sg_err_msg());
    sg_addr_class cls = SG_ADDR_PUBLIC;
    bool literal = sg_addr_literal_class(u.host, &cls);
    if (strchr(u.host, '%')) {
        rc = sg_err_set(SG_EDENIED, "URL host '%s' has a zone id; use a public host name", u.host);
        goto cleanup;
    }
    if (!literal && host_is_localhost_name(u.host))
        cls = SG_ADDR_LOOPBACK;
    if (u.user) {
        rc = sg_err_set(SG_EDENIED, "URL '%s' carries credentials; remove the user:password@ part",
                        url);
        goto cleanup;
    }
    if (cls == SG_ADDR_PRIVATE) {
        rc = sg_err_set(SG_EDENIED,
                        "URL host '%s' is a private, link-local or reserved address; outbound "
                        "calls go only to public hosts",
                        u.host);
        goto cleanup;
    }
    if (cls == SG_ADDR_LOOPBACK && !allow_insecure_loopback) {
        rc = sg_err_set(SG_EDENIED,
                        "URL host '%s' is a loopback address; outbound calls go only to public "
                        "hosts (tests may pass --allow-insecure-loopback)",
                        u.host);
        goto cleanup;
    }
    if (strcmp(u.scheme, "https") != 0 &&
        !(strcmp(u.scheme, "http") == 0 && cls == SG_ADDR_LOOPBACK && allow_insecure_loopback)) {
        rc = sg_err_set(SG_EDENIED, "URL '%s' must use https", url);
        goto cleanup;
    }
cleanup:
    sg_url_clear(&u);
    return rc;
}

int sg_url_guard_addr(const struct sockaddr *sa, bool allow_insecure_loopback)
{
    char text[INET6_ADDRSTRLEN] = "?";
    sg_addr_class cls = sg_addr_classify(sa);
    if (cls == SG_ADDR_PUBLIC || (cls == SG_ADDR_LOOPBACK && allow_insecure_loopback))
        return SG_OK;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof(text));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof(text));
    return sg_err_set(SG_EDENIED, "refused to connect to %s address %s",
                      cls == SG_ADDR_LOOPBACK ? "loopback" : "private or reserved", text);
}
