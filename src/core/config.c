/* config: a small typed settings loader shared by snowgate and snowsim. */
#include "core/config.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/url.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFG_FILE_MAX (1024 * 1024)
#define CFG_LINE_MAX 4096

static const sg_cfg_key *find_key(const sg_cfg_key *keys, const char *name)
{
    for (const sg_cfg_key *k = keys; k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

static void set_str(void *cfg, const sg_cfg_key *k, const char *v)
{
    char **slot = (char **)((char *)cfg + k->offset);
    free(*slot);
    *slot = v ? sg_xstrdup(v) : NULL;
}

static int validate_and_set(const sg_cfg_key *k, void *cfg, const char *value)
{
    char *field = (char *)cfg + k->offset;
    int rc = SG_OK;
    switch (k->type) {
    case SG_CFG_STR:
        set_str(cfg, k, value);
        break;
    case SG_CFG_INT: {
        int64_t v = 0;
        rc = sg_parse_i64(value, k->min, k->max, k->name, &v);
        if (rc == SG_OK)
            *(int64_t *)field = v;
        break;
    }
    case SG_CFG_BOOL:
        rc = sg_parse_bool(value, k->name, (bool *)field);
        break;
    case SG_CFG_SIZE: {
        size_t v = 0;
        rc = sg_parse_size(value, (size_t)k->min, (size_t)k->max, k->name, &v);
        if (rc == SG_OK)
            *(size_t *)field = v;
        break;
    }
    case SG_CFG_ENUM: {
        for (const char *const *c = k->choices; *c; c++) {
            if (strcmp(*c, value) == 0) {
                set_str(cfg, k, value);
                return SG_OK;
            }
        }
        char list[256] = "";
        for (const char *const *c = k->choices; *c; c++) {
            if (list[0])
                strncat(list, ", ", sizeof(list) - strlen(list) - 1);
            strncat(list, *c, sizeof(list) - strlen(list) - 1);
        }
        rc = sg_err_set(SG_EINVAL, "%s: '%s' is not one of %s", k->name, value, list);
        break;
    }
    case SG_CFG_LISTEN: {
        char *host = NULL;
        uint16_t port = 0;
        rc = sg_parse_listen(value, &host, &port);
        free(host);
        if (rc == SG_OK)
            set_str(cfg, k, value);
        else
            rc = sg_err_wrap(rc, "%s", k->name);
        break;
    }
    case SG_CFG_URL: {
        if (!*value) {
            set_str(cfg, k, NULL);
            break;
        }
        sg_url u;
        rc = sg_url_parse(value, &u);
        if (rc == SG_OK) {
            if (strcmp(u.scheme, "https") != 0 && strcmp(u.scheme, "http") != 0)
                rc = sg_err_set(SG_EINVAL, "%s: '%s' must be an http or https URL", k->name, value);
            else if (u.user)
                rc = sg_err_set(SG_EINVAL, "%s: '%s' must not carry credentials", k->name, value);
            sg_url_clear(&u);
        } else {
            rc = sg_err_wrap(rc, "%s", k->name);
        }
        if (rc == SG_OK)
            set_str(cfg, k, value);
        break;
    }
    }
    return rc;
}

int sg_cfg_defaults(const sg_cfg_key *keys, void *cfg)
{
    for (const sg_cfg_key *k = keys; k->name; k++) {
        if (!k->def)
            continue;
        int rc = validate_and_set(k, cfg, k->def);
        if (rc != SG_OK)
            return sg_err_wrap(rc, "built-in default");
    }
    return SG_OK;
}

int sg_cfg_set(const sg_cfg_key *keys, void *cfg, const char *name, const char *value,
               const char *origin)
{
    const sg_cfg_key *k = find_key(keys, name);
    if (!k)
        return sg_err_set(SG_EINVAL, "%s: unknown setting '%s'", origin, name);
    int rc = validate_and_set(k, cfg, value);
    if (rc != SG_OK)
        return sg_err_wrap(rc, "%s", origin);
    return SG_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

int sg_cfg_load_ini(const sg_cfg_key *keys, void *cfg, const char *path)
{
    int rc = SG_OK;
    char line[CFG_LINE_MAX];
    char section[128] = "";
    char origin[512];
    int lineno = 0;
    size_t total = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return sg_err_set(SG_EIO, "config file '%s': %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t n = strlen(line);
        total += n;
        snprintf(origin, sizeof(origin), "config file %s line %d", path, lineno);
        if (total > CFG_FILE_MAX) {
            rc = sg_err_set(SG_ETOOBIG, "%s: file is larger than %d bytes", origin, CFG_FILE_MAX);
            break;
        }
        if (n == sizeof(line) - 1 && line[n - 1] != '\n') {
            rc = sg_err_set(SG_EINVAL, "%s: line is longer than %d characters", origin,
                            CFG_LINE_MAX);
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *close = strchr(s, ']');
            if (!close || close[1] != '\0' || close == s + 1 ||
                (size_t)(close - s - 1) >= sizeof(section)) {
                rc = sg_err_set(SG_EINVAL, "%s: malformed section header '%s'", origin, s);
                break;
            }
            *close = '\0';
            sg_strlcpy(section, trim(s + 1), sizeof(section));
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = sg_err_set(SG_EINVAL, "%s: expected 'key = value', got '%s'", origin, s);
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        char name[256];
        int nlen = section[0] ? snprintf(name, sizeof(name), "%s.%s", section, key)
                              : snprintf(name, sizeof(name), "%s", key);
        if (nlen < 0 || (size_t)nlen >= sizeof(name)) {
            rc = sg_err_set(SG_EINVAL, "%s: setting name '%s' is too long", origin, key);
            break;
        }
        rc = sg_cfg_set(keys, cfg, name, value, origin);
        if (rc != SG_OK)
            break;
    }
    if (rc == SG_OK && ferror(f))
        rc = sg_err_set(SG_EIO, "config file '%s': read error", path);
    fclose(f);
    return rc;
}

/* The environment variable's spelling of one character of a key name: upper case, with '.'
 * and '-' as '_'. One place, so the example names exactly the variable sg_cfg_load_env reads. */
static char env_char(char c)
{
    return c == '.' || c == '-' ? '_' : (char)toupper((unsigned char)c);
}

/* Is `var` (without the prefix, `len` bytes) the environment name of key `name`? */
static bool env_is_key(const char *var, size_t len, const char *name)
{
    size_t i = 0;
    for (; name[i]; i++)
        if (i >= len || var[i] != env_char(name[i]))
            return false;
    return i == len;
}

int sg_cfg_load_env(const sg_cfg_key *keys, void *cfg, const char *prefix, char **envp)
{
    size_t plen = strlen(prefix);
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, prefix, plen) != 0)
            continue;
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        char var[256];
        size_t vlen = (size_t)(eq - *e);
        if (vlen >= sizeof(var))
            return sg_err_set(SG_EINVAL, "environment variable name too long");
        memcpy(var, *e, vlen);
        var[vlen] = '\0';
        const sg_cfg_key *match = NULL;
        for (const sg_cfg_key *k = keys; k->name && !match; k++)
            if (env_is_key(var + plen, vlen - plen, k->name))
                match = k;
        if (!match)
            return sg_err_set(SG_EINVAL, "environment variable %s is not a known setting", var);
        int rc = sg_cfg_set(keys, cfg, match->name, eq + 1, var);
        if (rc != SG_OK)
            return rc;
    }
    return SG_OK;
}

void sg_cfg_free(const sg_cfg_key *keys, void *cfg)
{
    for (const sg_cfg_key *k = keys; k->name; k++) {
        if (k->type == SG_CFG_STR || k->type == SG_CFG_ENUM || k->type == SG_CFG_LISTEN ||
            k->type == SG_CFG_URL)
            set_str(cfg, k, NULL);
    }
}

/* Writes text as comment lines of at most ~95 columns. */
static void comment(FILE *out, const char *text)
{
    const char *p = text;
    while (*p) {
        size_t n = strlen(p);
        if (n > 94) {
            n = 94;
            while (n > 40 && p[n] != ' ')
                n--;
        }
        fprintf(out, "# %.*s\n", (int)n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

/* The length of the section part of a key name ("http" of "http.threads"); 0 for a top-level
 * key. */
static size_t section_len(const char *name)
{
    const char *dot = strchr(name, '.');
    return dot ? (size_t)(dot - name) : 0;
}

static bool same_section(const char *a, const char *b)
{
    size_t n = section_len(a);
    return n == section_len(b) && strncmp(a, b, n) == 0;
}

static void example_key(const sg_cfg_key *m, const char *env_prefix, FILE *out)
{
    fputc('\n', out);
    comment(out, m->help);
    fprintf(out, "# environment: %s", env_prefix);
    for (const char *c = m->name; *c; c++)
        fputc(env_char(*c), out);
    if (m->type == SG_CFG_INT || m->type == SG_CFG_SIZE)
        fprintf(out, "; from %lld to %lld", (long long)m->min, (long long)m->max);
    if (m->choices) {
        fprintf(out, "; one of:");
        for (const char *const *c = m->choices; *c; c++)
            fprintf(out, " %s", *c);
    }
    fputc('\n', out);
    size_t slen = section_len(m->name);
    const char *key = slen ? m->name + slen + 1 : m->name;
    fprintf(out, ";%s =%s%s\n", key, m->def && *m->def ? " " : "", m->def ? m->def : "");
}

void sg_cfg_example(const sg_cfg_key *keys, const char *env_prefix, FILE *out)
{
    /* Top-level keys first (an INI key after a [section] header would belong to it), then each
     * section once, where it first appears, with all its keys. A section was printed already
     * when an earlier key has it: quadratic in the table's size, which is a few dozen keys,
     * and no bookkeeping array to outgrow. */
    for (const sg_cfg_key *k = keys; k->name; k++)
        if (section_len(k->name) == 0)
            example_key(k, env_prefix, out);
    for (const sg_cfg_key *k = keys; k->name; k++) {
        size_t slen = section_len(k->name);
        if (slen == 0)
            continue;
        bool seen = false;
        for (const sg_cfg_key *p = keys; p != k && !seen; p++)
            seen = same_section(p->name, k->name);
        if (seen)
            continue;
        fprintf(out, "\n[%.*s]\n", (int)slen, k->name);
        for (const sg_cfg_key *m = k; m->name; m++)
            if (same_section(m->name, k->name))
                example_key(m, env_prefix, out);
    }
}
