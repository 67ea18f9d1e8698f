/* log: one line per event, written with a single write() so lines from threads never mix. */
#include "core/log.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX  (16 * 1024)
#define LOG_REQID_MAX 64

/* Set once by sg_log_init() before threads start; read-only afterwards. */
static sg_log_level log_level = SG_LOG_INFO;
static sg_log_format log_format = SG_LOG_JSON;
static int log_fd = 2;

static _Thread_local char log_reqid[LOG_REQID_MAX];
/* What this thread works on: an access request and a job (sg_log_set_context). */
static _Thread_local char log_access[40], log_job[40];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sg_log_init(sg_log_level level, sg_log_format format, int fd)
{
    log_level = level;
    log_format = format;
    log_fd = fd;
}

int sg_log_parse_level(const char *s, sg_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (sg_str_ieq(s, level_names[i])) {
            *out = (sg_log_level)i;
            return SG_OK;
        }
    }
    return sg_err_set(SG_EINVAL, "log level '%s' is unknown; use debug, info, warn or error",
                      s ? s : "");
}

int sg_log_parse_format(const char *s, sg_log_format *out)
{
    if (sg_str_ieq(s, "json")) {
        *out = SG_LOG_JSON;
        return SG_OK;
    }
    if (sg_str_ieq(s, "logfmt")) {
        *out = SG_LOG_LOGFMT;
        return SG_OK;
    }
    return sg_err_set(SG_EINVAL, "log format '%s' is unknown; use json or logfmt", s ? s : "");
}

void sg_log_set_request_id(const char *id)
{
    if (id) {
        sg_strlcpy(log_reqid, id, sizeof(log_reqid));
    } else {
        /* The request is done, and with it whatever it worked on. */
        log_reqid[0] = '\0';
        log_access[0] = log_job[0] = '\0';
    }
}

void sg_log_set_context(const char *access_request, const char *job)
{
    sg_strlcpy(log_access, access_request ? access_request : "", sizeof(log_access));
    sg_strlcpy(log_job, job ? job : "", sizeof(log_job));
}

const char *sg_log_request_id(void)
{
    return log_reqid[0] ? log_reqid : NULL;
}

bool sg_log_enabled(sg_log_level level)
{
    return level >= log_level;
}

bool sg_log_key_is_secret(const char *key)
{
    static const char *const words[] = {"secret",        "token",     "password", "passwd",
                                        "authorization", "cookie",    "apikey",   "api_key",
                                        "signature",     "credential"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(key, words[i]))
            return true;
    return false;
}

static void put_json_str(sg_buf *b, const char *s)
{
    sg_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            sg_buf_puts(b, "\\\"");
            break;
        case '\\':
            sg_buf_puts(b, "\\\\");
            break;
        case '\n':
            sg_buf_puts(b, "\\n");
            break;
        case '\r':
            sg_buf_puts(b, "\\r");
            break;
        case '\t':
            sg_buf_puts(b, "\\t");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                sg_buf_printf(b, "\\u%04x", *p);
            else
                sg_buf_putc(b, (char)*p);
        }
    }
    sg_buf_putc(b, '"');
}

static void put_logfmt_val(sg_buf *b, const char *s)
{
    bool quote = !*s || strpbrk(s, " =\"\t\n\r") != NULL;
    if (!quote) {
        for (const unsigned char *p = (const unsigned char *)s; *p; p++)
            sg_buf_putc(b, (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p);
        return;
    }
    put_json_str(b, s);
}

static void put_field(sg_buf *b, const char *key, const char *val, bool first)
{
    if (log_format == SG_LOG_JSON) {
        if (!first)
            sg_buf_putc(b, ',');
        put_json_str(b, key);
        sg_buf_putc(b, ':');
        put_json_str(b, val);
    } else {
        if (!first)
            sg_buf_putc(b, ' ');
        sg_buf_puts(b, key);
        sg_buf_putc(b, '=');
        put_logfmt_val(b, val);
    }
}

void sg_log_kv(sg_log_level level, const char *msg, ...)
{
    if (level < log_level)
        return;
    char ts[48], date[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts, sizeof(ts), "%s.%03dZ", date, (int)(now.tv_nsec / 1000000) % 1000);

    sg_buf b = SG_BUF_INIT(LOG_LINE_MAX);
    if (log_format == SG_LOG_JSON)
        sg_buf_putc(&b, '{');
    put_field(&b, "ts", ts, true);
    put_field(&b, "level", level_names[level], false);
    put_field(&b, "msg", msg, false);
    if (log_reqid[0])
        put_field(&b, "req", log_reqid, false);
    if (log_access[0])
        put_field(&b, "access_request", log_access, false);
    if (log_job[0])
        put_field(&b, "job", log_job, false);

    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        const char *val = va_arg(ap, const char *);
        if (sg_log_key_is_secret(key))
            val = "[redacted]";
        put_field(&b, key, val ? val : "", false);
    }
    va_end(ap);
    if (log_format == SG_LOG_JSON)
        sg_buf_putc(&b, '}');
    if (sg_buf_putc(&b, '\n') != SG_OK) {
        /* The line hit the cap: end it cleanly rather than writing half an object. */
        sg_buf_free(&b);
        sg_buf trunc = SG_BUF_INIT(1024);
        if (log_format == SG_LOG_JSON)
            sg_buf_printf(&trunc,
                          "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"log line too long\"}\n", ts,
                          level_names[level]);
        else
            sg_buf_printf(&trunc, "ts=%s level=%s msg=\"log line too long\"\n", ts,
                          level_names[level]);
        b = trunc;
    }
    const char *p = sg_buf_str(&b);
    size_t left = b.len;
    while (left > 0) {
        ssize_t n = write(log_fd, p, left);
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    sg_buf_free(&b);
}
