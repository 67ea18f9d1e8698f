/* privileges: the one model of what access means. A request asks for a level (read or write);
 * a level is a set of SQL privileges; sets are added up and taken from each other, so that
 * ending one grant removes only what no other live grant on the same database account still
 * gives (a person's or, for a shared role, another's: fulfilment.c). Requests,
 * fulfilment, the ServiceNow mirror and every connector use this and nothing else. */
#ifndef SG_GATE_GOVERNANCE_PRIVILEGES_H
#define SG_GATE_GOVERNANCE_PRIVILEGES_H

#include "core/json.h"

#include <stdbool.h>
#include <stddef.h>

/* A set of SQL privileges, as bits. */
typedef unsigned sg_privs;
enum {
    SG_PRIV_SELECT = 1u << 0,
    SG_PRIV_INSERT = 1u << 1,
    SG_PRIV_UPDATE = 1u << 2,
    SG_PRIV_DELETE = 1u << 3,
};
#define SG_PRIVS_MAX 4 /* privileges in the model; a name list needs SG_PRIVS_MAX + 1 slots */

/* Whether level is one a request may ask for ("read" or "write"). */
bool sg_privs_level_known(const char *level);
/* The set a level gives: read -> SELECT; write -> SELECT, INSERT, UPDATE, DELETE. An unknown
 * level gives the empty set. */
sg_privs sg_privs_of_level(const char *level);
/* The names of the set, in the model's order, NULL-terminated (borrowed strings). */
void sg_privs_names(sg_privs set, const char *out[SG_PRIVS_MAX + 1]);
/* The set of the NULL-terminated names; false when a name is not a privilege of the model. */
bool sg_privs_parse(const char *const *names, sg_privs *out);
/* The names as a JSON array (the caller's). */
sg_json *sg_privs_json(sg_privs set);
/* The names as text, "SELECT, INSERT" ("" for the empty set). */
void sg_privs_text(sg_privs set, char out[64]);

#endif
