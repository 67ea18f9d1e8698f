/* cidr: address ranges, parsed once and matched per request. */
#include "core/cidr.h"

#include "core/err.h"
#include "core/str.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* text -> family and bytes; an IPv4-mapped IPv6 address becomes IPv4. */
static bool parse_addr(const char *text, int *family, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, addr) != 1)
        return false;
    if (memcmp(addr, v4_mapped, sizeof(v4_mapped)) == 0) {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        *family = AF_INET;
        return true;
    }
    *family = AF_INET6;
    return true;
}

static bool in_range(const sg_cidr *c, int family, const uint8_t addr[16])
{
    if (c->family != family)
        return false;
    unsigned full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (addr[full] & mask);
}

static int parse_one(const char *entry, const char *what, sg_cidr *out)
{
    char host[64];
    const char *slash = strchr(entry, '/');
    size_t hlen = slash ? (size_t)(slash - entry) : strlen(entry);
    if (hlen == 0 || hlen >= sizeof(host))
        return sg_err_set(SG_EINVAL,
                          "%s: '%s' is not an address range; write one like "
                          "10.0.0.0/8, 192.0.2.7 or fd00::/8",
                          what, entry);
    memcpy(host, entry, hlen);
    host[hlen] = '\0';
    memset(out, 0, sizeof(*out));
    bool mapped = strchr(host, ':') != NULL;
    if (!parse_addr(host, &out->family, out->addr))
        return sg_err_set(SG_EINVAL,
                          "%s: '%s' is not an IPv4 or IPv6 address; write one like "
                          "10.0.0.0/8, 192.0.2.7 or fd00::/8",
                          what, host);
    unsigned max = out->family == AF_INET ? 32 : 128;
    out->prefix = max;
    if (slash) {
        int64_t p = 0;
        if (sg_parse_i64(slash + 1, 0, mapped && out->family == AF_INET ? 128 : max, what, &p) !=
            SG_OK)
            return sg_err_set(SG_EINVAL,
                              "%s: the prefix length in '%s' must be a number from %u to %u", what,
                              entry, mapped && out->family == AF_INET ? 96u : 0u,
                              mapped && out->family == AF_INET ? 128u : max);
        /* ::ffff:10.0.0.0/104 is 10.0.0.0/8. */
        if (mapped && out->family == AF_INET) {
            if (p < 96)
                return sg_err_set(SG_EINVAL,
                                  "%s: '%s' covers more than IPv4-mapped addresses; "
                                  "write the IPv4 range instead",
                                  what, entry);
            p -= 96;
        }
        out->prefix = (unsigned)p;
    }
    /* Host bits set is almost always a typo (10.0.0.1/8): say so rather than guess. */
    sg_cidr net = *out;
    unsigned full = net.prefix / 8, rest = net.prefix % 8;
    if (rest)
        net.addr[full++] &= (uint8_t)(0xff << (8 - rest));
    memset(net.addr + full, 0, 16 - full);
    if (memcmp(net.addr, out->addr, 16) != 0)
        return sg_err_set(SG_EINVAL,
                          "%s: '%s' has host bits set; did you mean a network "
                          "address such as 10.0.0.0/8?",
                          what, entry);
    return SG_OK;
}

int sg_cidr_parse(const char *text, const char *what, sg_cidr_list *out)
{
    memset(out, 0, sizeof(*out));
    if (!text)
        return SG_OK;
    const char *p = text;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',' && !isspace((unsigned char)*p))
            p++;
        char entry[96];
        size_t len = (size_t)(p - start);
        if (len >= sizeof(entry)) {
            out->n = 0;
            return sg_err_set(SG_EINVAL,
                              "%s: the entry starting '%.20s' is too long to be an "
                              "address range",
                              what, start);
        }
        if (out->n == SG_CIDR_MAX) {
            out->n = 0;
            return sg_err_set(SG_EINVAL, "%s: more than %d ranges; merge them into wider ones",
                              what, SG_CIDR_MAX);
        }
        memcpy(entry, start, len);
        entry[len] = '\0';
        int rc = parse_one(entry, what, &out->items[out->n]);
        if (rc != SG_OK) {
            out->n = 0;
            return rc;
        }
        out->n++;
    }
    return SG_OK;
}

bool sg_cidr_contains(const sg_cidr_list *list, const char *ip)
{
    int family = 0;
    uint8_t addr[16];
    if (!list || !ip || !parse_addr(ip, &family, addr))
        return false;
    for (size_t i = 0; i < list->n; i++)
        if (in_range(&list->items[i], family, addr))
            return true;
    return false;
}

bool sg_cidr_addr_canonical(const char *text, char out[46])
{
    int family = 0;
    uint8_t addr[16];
    out[0] = '\0';
    if (!text || !parse_addr(text, &family, addr))
        return false;
    return inet_ntop(family, addr, out, 46) != NULL;
}

void sg_cidr_client_key(const char *ip, char out[64])
{
    int family = 0;
    uint8_t addr[16];
    out[0] = '\0';
    if (!ip)
        return;
    if (!parse_addr(ip, &family, addr)) {
        sg_strlcpy(out, ip, 64);
        return;
    }
    if (family == AF_INET6)
        memset(addr + 8, 0, 8);
    char text[46];
    if (!inet_ntop(family, addr, text, sizeof(text))) {
        sg_strlcpy(out, ip, 64);
        return;
    }
    snprintf(out, 64, "%s%s", text, family == AF_INET6 ? "/64" : "");
}
