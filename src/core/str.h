/* str: checked number parsing and small string helpers (instead of atoi, strcpy and friends). */
#ifndef SG_STR_H
#define SG_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Parses a whole decimal integer within [min, max]. Leading/trailing spaces, signs beyond
 * one '-', empty strings and overflow are SG_EINVAL with a message naming `what`. */
int sg_parse_i64(const char *s, int64_t min, int64_t max, const char *what, int64_t *out);

/* Parses "true/false/yes/no/on/off/1/0" (any case). */
int sg_parse_bool(const char *s, const char *what, bool *out);

/* Parses a size like "1048576", "64k", "10M", "1G" into bytes within [min, max]. */
int sg_parse_size(const char *s, size_t min, size_t max, const char *what, size_t *out);

/* Parses "HOST:PORT" (IPv6 as "[::1]:8080"); port 0 is allowed. host_out is malloc'd. */
int sg_parse_listen(const char *s, char **host_out, uint16_t *port_out);

/* Parses an ISO 8601 duration such as "PT8H", "P1DT12H", "P2W" or "PT90M" into seconds
 * within [1, max_s]. Years and months are refused (their length varies); fractions too. */
int sg_parse_iso_duration(const char *s, int64_t max_s, int64_t *out);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SSZ". */
void sg_now_iso(char out[32]);
/* The wall clock in unix milliseconds (for durations across processes and restarts; use
 * CLOCK_MONOTONIC within one). */
int64_t sg_now_ms(void);
/* The monotonic clock, and the milliseconds since an earlier reading of it, formatted "%.3f"
 * into out (for the debug log's per-hop times). */
struct timespec sg_mono_now(void);
const char *sg_ms_since(const struct timespec *t0, char out[32]);
/* A unix time as "YYYY-MM-DDTHH:MM:SSZ" (these sort as text in time order). */
void sg_iso_from_unix(int64_t unix_s, char out[32]);

/* Copies with truncation, always NUL-terminating. Returns the length of src. */
size_t sg_strlcpy(char *dst, const char *src, size_t size);
/* Appends with truncation, always NUL-terminating a dst that was terminated. Returns the
 * length it tried to make. */
size_t sg_strlcat(char *dst, const char *src, size_t size);

/* ASCII case-insensitive equality. */
bool sg_str_ieq(const char *a, const char *b);
/* True when s starts with prefix. */
bool sg_str_startswith(const char *s, const char *prefix);
/* True when every byte of s is printable ASCII (no control characters). */
bool sg_str_printable(const char *s, size_t n);
/* Copies text that came from elsewhere (another system's answer) for a terminal or a log line:
 * every byte that is not printable ASCII (control characters, escape sequences, any non-ASCII
 * byte) becomes '?', and a src longer than size - 1 bytes is cut and ends in "...". dst is
 * always terminated (size >= 4); a NULL src copies as "". Returns dst. */
char *sg_str_sanitize(char *dst, size_t size, const char *src);

#endif
