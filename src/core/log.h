/* log: structured logs (JSON lines or logfmt) with levels and request ids, never secrets. */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdbool.h>

typedef enum sg_log_level { SG_LOG_DEBUG, SG_LOG_INFO, SG_LOG_WARN, SG_LOG_ERROR } sg_log_level;
typedef enum sg_log_format { SG_LOG_JSON, SG_LOG_LOGFMT } sg_log_format;

/* Sets the process-wide sink. Call once from main() before any thread starts; the settings are
 * read-only afterwards, so logging itself is thread-safe. The default is INFO, JSON, stderr. */
void sg_log_init(sg_log_level level, sg_log_format format, int fd);

int sg_log_parse_level(const char *s, sg_log_level *out);
int sg_log_parse_format(const char *s, sg_log_format *out);

/* Sets this thread's request id (copied), added to every line as "req". NULL clears it, and
 * the context (sg_log_set_context) with it. */
void sg_log_set_request_id(const char *id);
/* What this thread is working on, added to every line as "access_request" and "job" (NULL
 * clears each), so one access request can be followed from its API call to its GRANT with
 * one grep. */
void sg_log_set_context(const char *access_request, const char *job);
/* This thread's request id, or NULL. Borrowed. */
const char *sg_log_request_id(void);

/* A thread's request id and context, to carry to another thread that works on its behalf (the
 * store's committer runs a caller's transaction: its lines name the caller's request). */
typedef struct sg_log_ctx {
    char reqid[64], access[40], job[40];
} sg_log_ctx;
void sg_log_ctx_save(sg_log_ctx *out);
/* Makes ctx this thread's; NULL clears it. */
void sg_log_ctx_restore(const sg_log_ctx *ctx);

/* True when a line at `level` would be written. */
bool sg_log_enabled(sg_log_level level);

/* Writes one line: the message, then string key/value pairs, ended by a NULL key.
 * Values under keys that name a secret (token, secret, password, authorization, cookie,
 * ...) are written as "[redacted]", whatever the caller passed. */
void sg_log_kv(sg_log_level level, const char *msg, ...);

/* As sg_log_kv, for lines that may reach the sink a little late: the HTTP access lines, one
 * per request. Once sg_log_batch_start() has run they are gathered and written together, at
 * most `ms` milliseconds after they were made (one write() for many lines instead of one
 * each); a line from sg_log_kv writes them first, so the order holds. Without batching, or
 * after sg_log_batch_stop(), they are written at once. A crash loses at most the last `ms`. */
void sg_log_kv_batched(sg_log_level level, const char *msg, ...);
/* How late the servers let a batched line be. */
#define SG_LOG_BATCH_MS 50

/* Starts the thread that writes batched lines (named log-flush). Call after signals are
 * blocked, from the thread that will call sg_log_batch_stop(). */
int sg_log_batch_start(int ms);
/* Writes what is pending and stops the thread; safe to call when batching never started. */
void sg_log_batch_stop(void);

#define sg_log_debug(...) sg_log_kv(SG_LOG_DEBUG, __VA_ARGS__, (const char *)0)
#define sg_log_info(...)  sg_log_kv(SG_LOG_INFO, __VA_ARGS__, (const char *)0)
#define sg_log_warn(...)  sg_log_kv(SG_LOG_WARN, __VA_ARGS__, (const char *)0)
#define sg_log_error(...) sg_log_kv(SG_LOG_ERROR, __VA_ARGS__, (const char *)0)

/* True when a key names a secret that must never be logged. Exposed for tests. */
bool sg_log_key_is_secret(const char *key);

#endif
