/* log: one line per event, written with a single write() so lines from threads never mix. */
#include "core/log.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
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

void sg_log_ctx_save(sg_log_ctx *out)
{
    sg_strlcpy(out->reqid, log_reqid, sizeof(out->reqid));
    sg_strlcpy(out->access, log_access, sizeof(out->access));
    sg_strlcpy(out->job, log_job, sizeof(out->job));
}

void sg_log_ctx_restore(const sg_log_ctx *ctx)
{
    sg_strlcpy(log_reqid, ctx ? ctx->reqid : "", sizeof(log_reqid));
    sg_strlcpy(log_access, ctx ? ctx->access : "", sizeof(log_access));
    sg_strlcpy(log_job, ctx ? ctx->job : "", sizeof(log_job));
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
    /* Every line asks this of each of its keys: one pass over the key, comparing a word only
     * where its first letter stands, rather than ten strcasestr() over the whole key. */
    for (const char *p = key; *p; p++) {
        char c = (char)tolower((unsigned char)*p);
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
            if (words[i][0] == c && strncasecmp(p, words[i], strlen(words[i])) == 0)
                return true;
    }
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

/* "2026-12-05T13:02:11.123Z". The date part is made once a second per thread: gmtime_r and
 * strftime cost more than the rest of an access line. */
static void timestamp(char out[48])
{
    static _Thread_local time_t shown_sec = (time_t)-1;
    static _Thread_local char shown[32];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != shown_sec) {
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        strftime(shown, sizeof(shown), "%Y-%m-%dT%H:%M:%S", &tm);
        shown_sec = now.tv_sec;
    }
    snprintf(out, 48, "%s.%03dZ", shown, (int)(now.tv_nsec / 1000000) % 1000);
}

/* One whole line, newline included, into b (which starts empty). */
static void format_line(sg_buf *b, sg_log_level level, const char *msg, va_list ap)
{
    char ts[48];
    timestamp(ts);
    if (log_format == SG_LOG_JSON)
        sg_buf_putc(b, '{');
    put_field(b, "ts", ts, true);
    put_field(b, "level", level_names[level], false);
    put_field(b, "msg", msg, false);
    if (log_reqid[0])
        put_field(b, "req", log_reqid, false);
    if (log_access[0])
        put_field(b, "access_request", log_access, false);
    if (log_job[0])
        put_field(b, "job", log_job, false);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        const char *val = va_arg(ap, const char *);
        if (sg_log_key_is_secret(key))
            val = "[redacted]";
        put_field(b, key, val ? val : "", false);
    }
    if (log_format == SG_LOG_JSON)
        sg_buf_putc(b, '}');
    if (sg_buf_putc(b, '\n') != SG_OK) {
        /* The line hit the cap: end it cleanly rather than writing half an object. */
        sg_buf_free(b);
        *b = (sg_buf)SG_BUF_INIT(1024);
        if (log_format == SG_LOG_JSON)
            sg_buf_printf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"log line too long\"}\n", ts,
                          level_names[level]);
        else
            sg_buf_printf(b, "ts=%s level=%s msg=\"log line too long\"\n", ts, level_names[level]);
    }
}

static void write_all(const char *p, size_t left)
{
    while (left > 0) {
        ssize_t n = write(log_fd, p, left);
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
}

/* ---- batched lines ----
 * sg_log_kv_batched appends its line to `pending` under pend_lock. The flusher thread writes
 * what is pending BATCH_MS after the first line arrives (and sleeps while nothing is), or an
 * appender does once pending passes BATCH_FLUSH. Whoever writes holds write_lock from taking
 * the pending lines until they are written, and a line written at once (sg_log_kv) first
 * writes what is pending: the file keeps the order in which lines were made. */
#define BATCH_FLUSH (64 * 1024)

static pthread_mutex_t pend_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pend_cond = PTHREAD_COND_INITIALIZER;
static sg_buf pending = SG_BUF_INIT(0);
static atomic_bool batching;
static bool batch_stopping; /* under pend_lock */
static int batch_ms;
static pthread_t flusher;

/* Writes what is pending, then `line` (may be NULL). Takes both locks itself. */
static void flush_pending(const sg_buf *line)
{
    pthread_mutex_lock(&write_lock);
    pthread_mutex_lock(&pend_lock);
    sg_buf out = pending;
    pending = (sg_buf)SG_BUF_INIT(0);
    pthread_mutex_unlock(&pend_lock);
    if (out.len)
        write_all(out.data, out.len);
    if (line)
        write_all(line->data, line->len);
    pthread_mutex_unlock(&write_lock);
    sg_buf_free(&out);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "log-flush");
    pthread_mutex_lock(&pend_lock);
    while (!batch_stopping) {
        if (pending.len == 0) {
            pthread_cond_wait(&pend_cond, &pend_lock);
            continue;
        }
        /* Lines are pending: give more of them BATCH_MS to arrive, then write them all. */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)batch_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!batch_stopping &&
               pthread_cond_timedwait(&pend_cond, &pend_lock, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&pend_lock);
        flush_pending(NULL);
        pthread_mutex_lock(&pend_lock);
    }
    pthread_mutex_unlock(&pend_lock);
    return NULL;
}

int sg_log_batch_start(int ms)
{
    if (atomic_load(&batching))
        return SG_OK;
    batch_ms = ms > 0 ? ms : 1;
    batch_stopping = false;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_destroy(&pend_cond);
    pthread_cond_init(&pend_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&flusher, NULL, flusher_main, NULL) != 0)
        return sg_err_set(SG_EINTERNAL, "cannot start the log writer thread");
    atomic_store(&batching, true);
    return SG_OK;
}

void sg_log_batch_stop(void)
{
    if (!atomic_exchange(&batching, false))
        return;
    pthread_mutex_lock(&pend_lock);
    batch_stopping = true;
    pthread_cond_signal(&pend_cond);
    pthread_mutex_unlock(&pend_lock);
    pthread_join(flusher, NULL);
    flush_pending(NULL);
    sg_buf_free(&pending);
}

void sg_log_kv(sg_log_level level, const char *msg, ...)
{
    if (level < log_level)
        return;
    sg_buf b = SG_BUF_INIT(LOG_LINE_MAX);
    va_list ap;
    va_start(ap, msg);
    format_line(&b, level, msg, ap);
    va_end(ap);
    if (atomic_load(&batching))
        flush_pending(&b);
    else
        write_all(b.data, b.len);
    sg_buf_free(&b);
}

void sg_log_kv_batched(sg_log_level level, const char *msg, ...)
{
    if (level < log_level)
        return;
    sg_buf b = SG_BUF_INIT(LOG_LINE_MAX);
    va_list ap;
    va_start(ap, msg);
    format_line(&b, level, msg, ap);
    va_end(ap);
    if (!atomic_load(&batching)) {
        write_all(b.data, b.len);
        sg_buf_free(&b);
        return;
    }
    pthread_mutex_lock(&pend_lock);
    bool first = pending.len == 0;
    bool appended = sg_buf_append(&pending, b.data, b.len) == SG_OK;
    bool full = pending.len >= BATCH_FLUSH;
    if (first)
        pthread_cond_signal(&pend_cond);
    pthread_mutex_unlock(&pend_lock);
    /* Out of memory for the batch: the line is written on its own rather than lost. */
    if (!appended || full)
        flush_pending(appended ? NULL : &b);
    sg_buf_free(&b);
}
