/* auth: who is calling (Basic auth, Bearer tokens) and what roles they hold. */
#ifndef SG_SIM_AUTH_H
#define SG_SIM_AUTH_H

#include "http/server.h"
#include "sim/records.h"

#include <stdbool.h>

#define SIM_MAX_ROLES 64

typedef struct sim_user {
    char sys_id[33];
    char user_name[128];
    char roles[SIM_MAX_ROLES][64]; /* effective: direct, via groups, and contained roles */
    int nroles;
} sim_user;

typedef struct sim_auth sim_auth;

sim_auth *sim_auth_new(sim_db *db);
void sim_auth_free(sim_auth *a);

/* Authenticates a request by its Authorization header (Basic or Bearer) or its access_token
 * query parameter. SG_EAUTH when absent or wrong. Takes the db read lock itself. */
int sim_auth_request(sim_auth *a, sg_http_req *req, sim_user *out);
/* Checks a user name and password (Basic auth, the password grant, the login page).
 * Takes the db read lock itself. */
int sim_auth_password(sim_auth *a, const char *user_name, const char *password, sim_user *out);
/* Checks `secret` against `stored`, the sim_password_hash kept in record `id` (a user's
 * password, an OAuth client's secret). A success is remembered, keyed on the record, the
 * secret and the stored hash, so the same secret is not hashed again until the record's hash
 * changes (a new password or secret misses the cache) or sim_auth_invalidate; a failure is
 * never remembered. False when stored is empty. Thread-safe; the caller holds the db lock
 * that keeps `stored` alive. */
bool sim_auth_secret_ok(sim_auth *a, const char *id, const char *stored, const char *secret);
/* Loads a user and their roles by sys_id; the caller holds the db lock. */
int sim_auth_load_user(sim_db *db, const char *sys_id, sim_user *out);

bool sim_user_has_role(const sim_user *u, const char *role);
bool sim_user_is_admin(const sim_user *u);

/* Forgets cached credentials (after a password or role change). */
void sim_auth_invalidate(sim_auth *a);

#endif
