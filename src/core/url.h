/* url: URL parsing (libcurl's URL API) and the outbound guard that every outgoing request
 * passes: https only, no credentials, no private, loopback or link-local address. */
#ifndef SG_URL_H
#define SG_URL_H

#include <stdbool.h>

struct sockaddr;

typedef struct sg_url {
    char *scheme; /* lower case */
    char *host;   /* without IPv6 brackets */
    char *user;   /* NULL when absent */
    char *path;   /* "/" when absent */
    char *query;  /* NULL when absent */
    char *fragment;
    int port; /* the explicit or default port */
    bool explicit_port;
} sg_url;

/* Parses an absolute URL. SG_EINVAL with the reason when it is not one. Free with
 * sg_url_clear(). */
int sg_url_parse(const char *s, sg_url *out);
void sg_url_clear(sg_url *u);

typedef enum sg_addr_class {
    SG_ADDR_PUBLIC,
    SG_ADDR_LOOPBACK,
    SG_ADDR_PRIVATE, /* private, link-local, unique-local, CGNAT, multicast, reserved, ... */
} sg_addr_class;

/* Classifies an IPv4 or IPv6 socket address, looking inside IPv4-mapped, NAT64 and 6to4
 * addresses. Anything unknown counts as private. */
sg_addr_class sg_addr_classify(const struct sockaddr *sa);

/* Classifies a literal address in any form inet_aton or inet_pton accept ("127.1",
 * "0x7f000001", "::ffff:10.0.0.1"). Returns false when s is not an address literal. */
bool sg_addr_literal_class(const char *s, sg_addr_class *out);

/* The outbound guard, before connecting: SG_EDENIED with the reason unless the URL is https
 * with no credentials, and its host is not a private or loopback literal nor "localhost".
 * allow_insecure_loopback (tests, the demo) also admits loopback hosts, over http too. */
int sg_url_guard(const char *url, bool allow_insecure_loopback);

/* The outbound guard on the address actually connected to (after DNS). */
int sg_url_guard_addr(const struct sockaddr *sa, bool allow_insecure_loopback);

#endif
