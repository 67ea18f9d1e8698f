/* cidr: lists of address ranges ("10.0.0.0/8, ::1") and whether an address is in one; used
 * to decide which peers are trusted proxies. */
#ifndef SG_CORE_CIDR_H
#define SG_CORE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most ranges a list holds; a longer list is refused, not cut. */
#define SG_CIDR_MAX 64

typedef struct sg_cidr {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network bytes; 4 used for AF_INET */
    unsigned prefix;  /* 0..32 or 0..128 */
} sg_cidr;

typedef struct sg_cidr_list {
    sg_cidr items[SG_CIDR_MAX];
    size_t n;
} sg_cidr_list;

/* Parses ranges separated by commas or white space; an address without "/N" is one host.
 * An IPv4-mapped IPv6 address is taken as IPv4. NULL or "" gives an empty list. On error the
 * message names the entry and what is wrong with it, and *out is empty. */
int sg_cidr_parse(const char *text, const char *what, sg_cidr_list *out);

/* Whether the textual address ip (IPv4, IPv6 or IPv4-mapped IPv6) falls in one of the ranges.
 * False for anything that is not an address. */
bool sg_cidr_contains(const sg_cidr_list *list, const char *ip);

/* The key a client address is counted by: an IPv4 address as it is, an IPv6 address as its
 * /64 network ("2001:db8:1:2::/64"), since one host usually holds a whole /64; anything else
 * as given (cut to fit). NULL gives "". */
void sg_cidr_client_key(const char *ip, char out[64]);

/* Whether text is an IPv4 or IPv6 address; the canonical form goes to out (46 bytes). */
bool sg_cidr_addr_canonical(const char *text, char out[46]);

#endif
