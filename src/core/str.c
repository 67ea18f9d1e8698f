/* str: checked parsing and string helpers. */
#include "core/str.h"

#include "core/err.h"
#include "core/mem.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int sg_parse_i64(const char *s, int64_t min, int64_t max, const char *what, int64_t *out)
{
    if (!s || !*s)
        return sg_err_set(SG_EINVAL, "%s: empty value; expected a whole number", what);
    const char *p = s;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return sg_err_set(SG_EINVAL, "%s: '%s' is not a whole number", what, s);
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0')
        return sg_err_set(SG_EINVAL, "%s: '%s' is not a whole number", what, s);
    if (errno == ERANGE || v < min || v > max)
        return sg_err_set(SG_EINVAL, "%s: %s is out of range (%lld to %lld)", what, s,
                          (long long)min, (long long)max);
    *out = (int64_t)v;
    return SG_OK;
}

int sg_parse_iso_duration(const char *s, int64_t max_s, int64_t *out)
{
    static const char hint[] = "use ISO 8601 like PT8H, P1DT12H or P7D";
    if (!s || s[0] != 'P' || s[1] == '\0')
        return sg_err_set(SG_EINVAL, "duration '%s' is not ISO 8601; %s", s ? s : "", hint);
    /* Designators in the order they must appear, and their length in seconds. */
    static const struct {
        char c;
        bool time;
        int64_t secs;
    } units[] = {{'W', false, 604800},
                 {'D', false, 86400},
                 {'H', true, 3600},
                 {'M', true, 60},
                 {'S', true, 1}};
    const char *p = s + 1;
    bool in_time = false, any = false;
    size_t next = 0;
    int64_t total = 0;
    while (*p) {
        if (*p == 'T' && !in_time) {
            in_time = true;
            p++;
            if (!*p)
                return sg_err_set(SG_EINVAL, "duration '%s' ends after T; %s", s, hint);
            continue;
        }
        if (!isdigit((unsigned char)*p))
            return sg_err_set(SG_EINVAL, "duration '%s' is not ISO 8601; %s", s, hint);
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > max_s)
                return sg_err_set(SG_EINVAL, "duration '%s' is too long", s);
            n = n * 10 + (*p++ - '0');
        }
        if (*p == 'Y' || (*p == 'M' && !in_time))
            return sg_err_set(SG_EINVAL,
                              "duration '%s' uses years or months, whose length varies; use "
                              "days instead (P30D)",
                              s);
        size_t u = next;
        while (u < sizeof(units) / sizeof(units[0]) &&
               (units[u].c != *p || units[u].time != in_time))
            u++;
        if (u == sizeof(units) / sizeof(units[0]))
            return sg_err_set(SG_EINVAL, "duration '%s' is not ISO 8601; %s", s, hint);
        if (n > max_s / units[u].secs || total > max_s - n * units[u].secs)
            return sg_err_set(SG_EINVAL, "duration '%s' is longer than the %lld-day limit", s,
                              (long long)(max_s / 86400));
        total += n * units[u].secs;
        next = u + 1;
        any = true;
        p++;
    }
    if (!any || total < 1)
        return sg_err_set(SG_EINVAL, "duration '%s' must be at least one second; %s", s, hint);
    *out = total;
    return SG_OK;
}

int sg_parse_bool(const char *s, const char *what, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; s && i < 4; i++) {
        if (sg_str_ieq(s, yes[i])) {
            *out = true;
            return SG_OK;
        }
        if (sg_str_ieq(s, no[i])) {
            *out = false;
            return SG_OK;
        }
    }
    return sg_err_set(SG_EINVAL, "%s: '%s' is not a boolean; use true or false", what, s ? s : "");
}

int sg_parse_size(const char *s, size_t min, size_t max, const char *what, size_t *out)
{
    if (!s || !*s)
        return sg_err_set(SG_EINVAL, "%s: empty value; expected a size such as 1M", what);
    size_t n = strlen(s);
    uint64_t mult = 1;
    char unit = (char)toupper((unsigned char)s[n - 1]);
    if (unit == 'K' || unit == 'M' || unit == 'G') {
        mult = unit == 'K' ? 1024u : unit == 'M' ? 1024u * 1024u : 1024u * 1024u * 1024u;
        n--;
    }
    char num[32];
    if (n == 0 || n >= sizeof(num))
        return sg_err_set(SG_EINVAL, "%s: '%s' is not a size such as 65536, 64k or 1M", what, s);
    memcpy(num, s, n);
    num[n] = '\0';
    int64_t v = 0;
    if (sg_parse_i64(num, 0, INT64_MAX / 1024 / 1024 / 1024, what, &v) != SG_OK)
        return sg_err_set(SG_EINVAL, "%s: '%s' is not a size such as 65536, 64k or 1M", what, s);
    uint64_t bytes = (uint64_t)v * mult;
    if (bytes < min || bytes > max)
        return sg_err_set(SG_EINVAL, "%s: %s is out of range (%zu to %zu bytes)", what, s, min,
                          max);
    *out = (size_t)bytes;
    return SG_OK;
}

int sg_parse_listen(const char *s, char **host_out, uint16_t *port_out)
{
    const char *colon;
    const char *host;
    size_t hlen;
    if (!s || !*s)
        return sg_err_set(SG_EINVAL, "listen address is empty; use HOST:PORT, e.g. 127.0.0.1:8080");
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return sg_err_set(SG_EINVAL, "listen address '%s': use [IPv6]:PORT, e.g. [::1]:8080",
                              s);
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return sg_err_set(SG_EINVAL,
                              "listen address '%s' has no port; use HOST:PORT, e.g. 127.0.0.1:8080",
                              s);
        host = s;
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0)
        return sg_err_set(SG_EINVAL, "listen address '%s' has no host; use HOST:PORT", s);
    int64_t port = 0;
    if (sg_parse_i64(colon + 1, 0, 65535, "listen port", &port) != SG_OK)
        return sg_err_set(SG_EINVAL, "listen address '%s': port must be 0 to 65535", s);
    *host_out = sg_xstrndup(host, hlen);
    *port_out = (uint16_t)port;
    return SG_OK;
}

void sg_now_iso(char out[32])
{
    sg_iso_from_unix((int64_t)time(NULL), out);
}

int64_t sg_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct timespec sg_mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
}

const char *sg_ms_since(const struct timespec *t0, char out[32])
{
    struct timespec t = sg_mono_now();
    snprintf(out, 32, "%.3f",
             (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6);
    return out;
}

void sg_iso_from_unix(int64_t unix_s, char out[32])
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

size_t sg_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

size_t sg_strlcat(char *dst, const char *src, size_t size)
{
    size_t have = strnlen(dst, size);
    if (have == size)
        return size + strlen(src);
    return have + sg_strlcpy(dst + have, src, size - have);
}

bool sg_str_ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

bool sg_str_startswith(const char *s, const char *prefix)
{
    return s && prefix && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool sg_str_printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return false;
    return true;
}

char *sg_str_sanitize(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    dst[i] = '\0';
    if (src && src[i] && size >= 4)
        memcpy(dst + size - 4, "...", 4);
    return dst;
}
