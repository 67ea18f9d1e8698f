/* sessions: signing in to the web UI. A session is a random cookie value (stored as its hash)
 * with a CSRF token that every change must send back; failed sign-ins are rate-limited by user
 * name and by client address. */
#ifndef SG_GATE_SESSIONS_H
#define SG_GATE_SESSIONS_H

#include "gate/governance/users.h"
#include "store/store.h"

#include <stdint.h>

#define SG_SESSION_LIFETIME   (12 * 3600) /* seconds, from sign-in */
#define SG_LOGIN_WINDOW       900         /* seconds over which failures count */
#define SG_LOGIN_MAX_PER_NAME 5
#define SG_LOGIN_MAX_PER_ADDR 20

typedef struct sg_session {
    sg_user user;
    char token[65]; /* the cookie value: only set by sg_sessions_login */
    char csrf[65];
    int64_t expires_at;
} sg_session;

/* Checks name and password and opens a session. Wrong credentials are SG_EAUTH with one
 * message whatever was wrong; too many recent failures are SG_EUNAVAIL with *retry_after set
 * (seconds), before the password is even checked. A disabled user with the right password is
 * SG_EFORBIDDEN. */
int sg_sessions_login(sg_store *st, const char *name, const char *password, const char *client,
                      int64_t now, sg_session *out, int64_t *retry_after);
/* The live session for a cookie value; SG_EAUTH when none. */
int sg_sessions_find(sg_store *st, const char *token, int64_t now, sg_session *out);
/* Ends a session (signing out). */
int sg_sessions_end(sg_store *st, const char *token);

#endif
