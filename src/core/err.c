/* err: thread-local last error message and the mapping from errors to HTTP statuses. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[SG_ERR_MSG_MAX];

int sg_err_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
    va_end(ap);
    return code;
}

int sg_err_wrap(int code, const char *fmt, ...)
{
    char prefix[SG_ERR_MSG_MAX];
    char old[SG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, last_msg, sizeof(old));
    if (old[0])
        snprintf(last_msg, sizeof(last_msg), "%.400s: %.600s", prefix, old);
    else
        snprintf(last_msg, sizeof(last_msg), "%s", prefix);
    return code;
}

const char *sg_err_msg(void)
{
    return last_msg;
}

void sg_err_clear(void)
{
    last_msg[0] = '\0';
}

int sg_err_http_status(int code)
{
    switch (code) {
    case SG_OK:
        return 200;
    case SG_EINVAL:
        return 400;
    case SG_EAUTH:
        return 401;
    case SG_EFORBIDDEN:
        return 403;
    case SG_ENOTFOUND:
        return 404;
    case SG_ECONFLICT:
        return 409;
    case SG_ETOOBIG:
        return 413;
    case SG_EDENIED:
        return 400;
    case SG_ENET:
        return 502;
    case SG_ETIMEOUT:
        return 504;
    case SG_EUNAVAIL:
        return 503;
    case SG_EMEDIATYPE:
        return 415;
    default:
        return 500;
    }
}

const char *sg_err_name(int code)
{
    switch (code) {
    case SG_OK:
        return "ok";
    case SG_EINVAL:
        return "invalid";
    case SG_EAUTH:
        return "unauthorized";
    case SG_EFORBIDDEN:
        return "forbidden";
    case SG_ENOTFOUND:
        return "not_found";
    case SG_ECONFLICT:
        return "conflict";
    case SG_ETOOBIG:
        return "too_large";
    case SG_EDENIED:
        return "denied";
    case SG_ENET:
        return "bad_gateway";
    case SG_ETIMEOUT:
        return "timeout";
    case SG_EUNAVAIL:
        return "unavailable";
    case SG_ESTORE:
        return "store_error";
    case SG_EIO:
        return "io_error";
    case SG_EMEDIATYPE:
        return "unsupported_media_type";
    default:
        return "internal";
    }
}
