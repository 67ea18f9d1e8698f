/* shared: what the database connectors (postgres.c, mysql.c) have in common, defined in
 * connectors.c: the server's address, resolved and checked once and then pinned, and the
 * longest comment discovery reads. Internal to the connectors. */
#ifndef SG_GATE_CONNECTORS_SHARED_H
#define SG_GATE_CONNECTORS_SHARED_H

#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <sys/socket.h>

/* Characters of a source's comment that discovery reads (the rest is cut off in SQL). */
#define SG_DISCOVER_MAX_COMMENT 4096

#define SG_PIN_MAX 16 /* addresses of one host kept from its resolution */

/* A database host's addresses, every one admitted by the outbound guard. */
typedef struct sg_pinned {
    struct sockaddr_storage addr[SG_PIN_MAX];
    socklen_t len[SG_PIN_MAX];
    int n;
    char first[INET6_ADDRSTRLEN]; /* the first, as text: the one to connect to */
    bool first_loopback;          /* it is a loopback address */
} sg_pinned;

/* Resolves host (port: a number, as text) and checks every address it resolves to with the
 * outbound guard (sg_url_guard_addr): one private, reserved or (without
 * allow_insecure_loopback) loopback address refuses the whole host (SG_EDENIED), so that
 * which address is reached never depends on the resolver's order. SG_EUNAVAIL when the name
 * does not resolve. */
int sg_connector_pin(const char *host, const char *port, bool allow_insecure_loopback,
                     sg_pinned *out);
/* The same check over a resolution already made (exposed for the tests). */
int sg_connector_pin_list(const char *host, const struct addrinfo *res,
                          bool allow_insecure_loopback, sg_pinned *out);
/* Whether addr (an address connected to) is one of p's. */
bool sg_pinned_has(const sg_pinned *p, const struct sockaddr_storage *addr);

#endif
