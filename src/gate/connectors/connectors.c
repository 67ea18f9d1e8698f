/* connectors: the table of connector kinds, their app-wide state, and discovery's name
 * patterns. */
#include "gate/connectors/connectors.h"
#include "gate/connectors/shared.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every kind snowgate knows. Adding one: see the list at the top of connectors.h. */
static const sg_connector *const table[] = {
    &sg_connector_postgres,
    &sg_connector_mysql,
    &sg_connector_webhook,
    &sg_connector_manual,
};
#define NKINDS (sizeof(table) / sizeof(table[0]))

struct sg_connector_states {
    void *state[NKINDS];
};

const sg_connector *sg_connector_find(const char *kind)
{
    for (size_t i = 0; kind && i < NKINDS; i++)
        if (strcmp(table[i]->kind, kind) == 0 ||
            (table[i]->alias && strcmp(table[i]->alias, kind) == 0))
            return table[i];
    sg_err_set(SG_EINVAL, "kind must be %s", sg_connector_kinds_text());
    return NULL;
}

const char *const *sg_connector_kinds(void)
{
    static const char *kinds[NKINDS + 1];
    for (size_t i = 0; i < NKINDS; i++)
        kinds[i] = table[i]->kind;
    return kinds;
}

const char *sg_connector_kinds_text(void)
{
    /* Built from the table on every call into a buffer that always holds the same text, so
     * concurrent callers never see it half written. */
    static _Thread_local char text[256];
    text[0] = '\0';
    for (size_t i = 0; i < NKINDS; i++) {
        if (i > 0)
            sg_strlcat(text, i + 1 == NKINDS ? " or " : ", ", sizeof(text));
        sg_strlcat(text, table[i]->kind, sizeof(text));
        if (table[i]->alias) {
            sg_strlcat(text, " (or ", sizeof(text));
            sg_strlcat(text, table[i]->alias, sizeof(text));
            sg_strlcat(text, ")", sizeof(text));
        }
    }
    return text;
}

void sg_connectors_open(sg_app *app)
{
    if (app->connectors)
        return;
    app->connectors = sg_xcalloc(1, sizeof(*app->connectors));
    for (size_t i = 0; i < NKINDS; i++)
        if (table[i]->state_new)
            app->connectors->state[i] = table[i]->state_new(app);
}

void sg_connectors_close(sg_app *app)
{
    if (!app->connectors)
        return;
    for (size_t i = 0; i < NKINDS; i++)
        if (table[i]->state_free)
            table[i]->state_free(app->connectors->state[i]);
    free(app->connectors);
    app->connectors = NULL;
}

void *sg_connector_state(sg_app *app, const sg_connector *k)
{
    if (!app || !app->connectors)
        return NULL;
    for (size_t i = 0; i < NKINDS; i++)
        if (table[i] == k)
            return app->connectors->state[i];
    return NULL;
}

/* ---- the database server's address ---- */

int sg_connector_pin_list(const char *host, const struct addrinfo *res,
                          bool allow_insecure_loopback, sg_pinned *out)
{
    memset(out, 0, sizeof(*out));
    for (const struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
            continue;
        if (sg_url_guard_addr(a->ai_addr, allow_insecure_loopback) != SG_OK) {
            char why[200];
            sg_strlcpy(why, sg_err_msg(), sizeof(why));
            return sg_err_set(SG_EDENIED,
                              "database host %s: %s; every address of the host must "
                              "be public",
                              host, why);
        }
        if (out->n == SG_PIN_MAX || a->ai_addrlen > sizeof(out->addr[0]))
            continue;
        memcpy(&out->addr[out->n], a->ai_addr, a->ai_addrlen);
        out->len[out->n] = a->ai_addrlen;
        if (out->n == 0) {
            const void *src = a->ai_family == AF_INET6
                                  ? (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr
                                  : (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr;
            if (!inet_ntop(a->ai_family, src, out->first, sizeof(out->first)))
                return sg_err_set(SG_EINTERNAL, "cannot format the address of %s", host);
            out->first_loopback = sg_addr_classify(a->ai_addr) == SG_ADDR_LOOPBACK;
        }
        out->n++;
    }
    if (out->n == 0)
        return sg_err_set(SG_EDENIED, "database host %s has no address", host);
    return SG_OK;
}

int sg_connector_pin(const char *host, const char *port, bool allow_insecure_loopback,
                     sg_pinned *out)
{
    memset(out, 0, sizeof(*out));
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0)
        return sg_err_set(SG_EUNAVAIL, "cannot resolve database host %s: %s", host,
                          gai_strerror(g));
    int rc = sg_connector_pin_list(host, res, allow_insecure_loopback, out);
    freeaddrinfo(res);
    return rc;
}

bool sg_pinned_has(const sg_pinned *p, const struct sockaddr_storage *addr)
{
    for (int i = 0; i < p->n; i++) {
        const struct sockaddr_storage *b = &p->addr[i];
        if (addr->ss_family != b->ss_family)
            continue;
        if (addr->ss_family == AF_INET &&
            memcmp(&((const struct sockaddr_in *)addr)->sin_addr,
                   &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr)) == 0)
            return true;
        if (addr->ss_family == AF_INET6 &&
            memcmp(&((const struct sockaddr_in6 *)addr)->sin6_addr,
                   &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0)
            return true;
    }
    return false;
}

/* ---- discovery's name patterns ---- */

/* [set] at p (after the '['): whether c is in it; *end is set past the ']'. A '[' without its
 * ']' is no set (the caller matches it literally). */
static bool in_set(const char *p, unsigned char c, const char **end, bool *valid)
{
    bool neg = *p == '!' || *p == '^';
    if (neg)
        p++;
    bool hit = false, first = true;
    for (; *p && (first || *p != ']'); first = false) {
        unsigned char lo = (unsigned char)*p, hi = lo;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            hi = (unsigned char)p[2];
            p += 3;
        } else {
            p++;
        }
        if (c >= lo && c <= hi)
            hit = true;
    }
    *valid = *p == ']';
    *end = *p ? p + 1 : p;
    return hit != neg;
}

bool sg_discover_match(const char *pattern, const char *name)
{
    /* Iterative, with one backtrack point for the last '*': linear in practice, never
     * exponential, whatever the pattern. */
    const char *p = pattern, *n = name, *star = NULL, *star_n = NULL;
    while (*n) {
        if (*p == '*') {
            star = ++p;
            star_n = n;
            continue;
        }
        if (*p == '[') {
            const char *end = NULL;
            bool valid = false;
            bool hit = in_set(p + 1, (unsigned char)*n, &end, &valid);
            if (valid && hit) {
                p = end;
                n++;
                continue;
            }
            if (!valid && *n == '[') {
                p++;
                n++;
                continue;
            }
        } else if (*p && (*p == '?' || *p == *n)) {
            p++;
            n++;
            continue;
        }
        if (!star)
            return false;
        p = star;
        n = ++star_n;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool sg_discover_admits(const sg_discover_opts *opts, const char *name)
{
    if (!opts)
        return true;
    bool in = !opts->include || !opts->include[0];
    for (size_t i = 0; !in && opts->include[i]; i++)
        in = sg_discover_match(opts->include[i], name);
    for (size_t i = 0; in && opts->exclude && opts->exclude[i]; i++)
        if (sg_discover_match(opts->exclude[i], name))
            in = false;
    return in;
}
