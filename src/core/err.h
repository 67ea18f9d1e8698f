/* err: the one error type of the codebase, with the last message kept per thread. */
#ifndef SG_ERR_H
#define SG_ERR_H

/* Every fallible function returns SG_OK (0) or a negative sg_err, and sets the message
 * with sg_err_set(). Callers propagate the code and do not overwrite the message. */
typedef enum sg_err {
    SG_OK = 0,
    SG_EINVAL = -1,      /* bad input from a caller or a client (400) */
    SG_EAUTH = -2,       /* missing or wrong credentials (401) */
    SG_EFORBIDDEN = -3,  /* authenticated, not allowed (403) */
    SG_ENOTFOUND = -4,   /* no such thing (404) */
    SG_ECONFLICT = -5,   /* state conflict, duplicate (409) */
    SG_ETOOBIG = -6,     /* a cap was exceeded (413) */
    SG_EDENIED = -7,     /* refused by the outbound guard (policy) */
    SG_ENET = -8,        /* network failure talking to another system (502) */
    SG_ETIMEOUT = -9,    /* deadline passed (504) */
    SG_EUNAVAIL = -10,   /* temporarily unavailable, try again (503) */
    SG_ESTORE = -11,     /* the store failed (500) */
    SG_EIO = -12,        /* file or OS error (500) */
    SG_EINTERNAL = -13,  /* a bug or an unexpected library failure (500) */
    SG_EMEDIATYPE = -14, /* a request body of a type the route does not take (415) */
} sg_err;

/* Sets this thread's last error message (printf-style) and returns `code`, so that
 * `return sg_err_set(SG_EINVAL, "...")` reads naturally. Thread-safe. */
int sg_err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with "prefix: " and returns `code`. For adding context
 * while propagating without losing the lower-level reason. */
int sg_err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The longest message kept, with its NUL: a longer one is cut. Whoever carries a message to
 * another thread (the store's committer) keeps this much of it too. */
#define SG_ERR_MSG_MAX 1024

/* The last message set on this thread ("" when none). Borrowed: valid until the next set. */
const char *sg_err_msg(void);

/* Clears this thread's message. */
void sg_err_clear(void);

/* The HTTP status for an error code. The only place where errors become statuses. */
int sg_err_http_status(int code);

/* A short stable name for the code ("invalid", "not_found", ...), for JSON error bodies. */
const char *sg_err_name(int code);

#endif
