/* users: snowgate's people, their roles, and their API tokens. */
#ifndef SG_GATE_USERS_H
#define SG_GATE_USERS_H

#include "store/store.h"

#include <stdbool.h>

typedef enum sg_role { SG_ROLE_MEMBER, SG_ROLE_STEWARD, SG_ROLE_ADMIN } sg_role;

typedef struct sg_user {
    char id[33];
    char name[128];
    sg_role role;
} sg_user;

int sg_role_parse(const char *s, sg_role *out);
const char *sg_role_name(sg_role r);

/* Creates a user and an API token; the token (64 hex characters) is written to token_out
 * once and stored only as its SHA-256. A taken name is SG_ECONFLICT. */
int sg_users_add(sg_store *st, const char *name, sg_role role, const char *email,
                 const char *db_role, char token_out[65], sg_user *out);
/* Changes a user's role (when role is not NULL) and database role (when db_role is not NULL;
 * "" clears it), recorded in the audit log as done by actor. SG_ENOTFOUND for no such user. */
int sg_users_set(sg_store *st, const char *name, const sg_role *role, const char *db_role,
                 const char *actor);
/* A database role name is 1 to 63 printable bytes (PostgreSQL's limit, the longest stored).
 * SG_EINVAL naming the problem otherwise. Only the form: whether a grant may go to it depends
 * on the connection's kind (its check_account, called for a request on one of its assets and
 * before every apply); see sg_users_db_role_refusals. */
int sg_users_check_db_role(const char *db_role);
/* The connector kinds that would refuse db_role as an account, with each one's reason, as
 * "on postgres connections: ...; on mysql connections: ..." in out (len bytes, cut to fit);
 * returns how many. For a warning where a role is set: no grant on a connection of those
 * kinds can go to it. */
int sg_users_db_role_refusals(const char *db_role, char *out, size_t len);
/* The other users (than name) whose database role is db_role, comma-separated into others
 * (len bytes, cut to fit), and how many in *n; logged as a warning when there are any, since
 * they share each other's grants. *n is 0 for a NULL or empty db_role. */
int sg_users_db_role_shared(sg_store *st, const char *name, const char *db_role, char *others,
                            size_t len, int *n);
/* Sets (or with NULL removes) a user's password for signing in to the web UI: at least 10
 * characters, stored as a slow salted hash. SG_ENOTFOUND for no such user. */
int sg_users_set_password(sg_store *st, const char *name, const char *password, const char *actor);
/* How tokens (API tokens, session cookies) are kept: hex SHA-256. */
void sg_users_token_hash(const char *token, char out[65]);
/* The user a bearer token belongs to; SG_EAUTH when none or when the user is disabled (read
 * from the store on every call, so a disable holds at once on every replica). */
int sg_users_by_token(sg_store *st, const char *token, sg_user *out);

/* What sg_users_disable did. */
typedef struct sg_user_disabled {
    int cancelled;       /* open requests cancelled */
    int64_t grants_kept; /* grants in force for the user, left in place */
} sg_user_disabled;
/* Disables a user, as actor, in one transaction: their sessions end, their API tokens are
 * refused from then on, and their open requests are cancelled through the state machine with
 * the note "user disabled by ACTOR" (so ServiceNow is told): pending and approved requests they
 * made, and pending and approved grants for them. Revokes of their access made by others go on;
 * grants in force are kept until an admin revokes them. SG_ENOTFOUND for no such user,
 * SG_ECONFLICT when already disabled or the last enabled admin. Audited as user.disabled. */
int sg_users_disable(sg_store *st, const char *name, const char *actor, sg_user_disabled *out);
/* Enables a disabled user again: their API tokens work again, sessions ended by the disable
 * stay ended. SG_ECONFLICT when not disabled. Audited as user.enabled. */
int sg_users_enable(sg_store *st, const char *name, const char *actor);
/* Replaces every API token of a user with a new one, written to token_out (shown once); the
 * old ones are refused at once. *revoked is how many were removed. Audited as
 * user.token_rotated. */
int sg_users_rotate_token(sg_store *st, const char *name, const char *actor, char token_out[65],
                          int64_t *revoked);

#endif
