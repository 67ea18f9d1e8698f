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
        if (section[0])
            snprintf(name, sizeof(name), "%s.%s", section, key);
        else
            snprintf(name, sizeof(name), "%s", key);
        rc = sg_cfg_set(keys, cfg, name, value, origin);
        if (rc != SG_OK)
            break;
    }
    if (rc == SG_OK && ferror(f))
        rc = sg_err_set(SG_EIO, "config file '%s': read error", path);
    fclose(f);
    return rc;
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
        for (const sg_cfg_key *k = keys; k->name && !match; k++) {
            char want[256];
            size_t i = 0;
            for (const char *c = k->name; *c && i < sizeof(want) - 1; c++)
                want[i++] = *c == '.' || *c == '-' ? '_' : (char)toupper((unsigned char)*c);
            want[i] = '\0';
            if (strcmp(var + plen, want) == 0)
                match = k;
        }
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

void sg_cfg_example(const sg_cfg_key *keys, const char *env_prefix, FILE *out)
{
    /* Top-level keys first, then each section once, in the order it first appears. */
    const char *done[64];
    size_t ndone = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (const sg_cfg_key *k = keys; k->name; k++) {
            const char *dot = strchr(k->name, '.');
            if ((pass == 0) != (dot == NULL))
                continue;
            size_t slen = dot ? (size_t)(dot - k->name) : 0;
            if (dot) {
                bool seen = false;
                for (size_t i = 0; i < ndone; i++)
                    seen =
                        seen || (strlen(done[i]) == slen && strncmp(done[i], k->name, slen) == 0);
                if (seen)
                    continue;
                if (ndone < 64)
                    done[ndone++] = k->name;
                fprintf(out, "\n[%.*s]\n", (int)slen, k->name);
            }
            for (const sg_cfg_key *m = k; m->name; m++) {
                const char *mdot = strchr(m->name, '.');
                if (dot ? !(mdot && (size_t)(mdot - m->name) == slen &&
                            strncmp(m->name, k->name, slen) == 0)
                        : (mdot != NULL || m != k))
                    continue;
                fputc('\n', out);
                comment(out, m->help);
                char env[128];
                size_t e = 0;
                for (const char *c = env_prefix; *c && e < sizeof(env) - 1; c++)
                    env[e++] = *c;
                for (const char *c = m->name; *c && e < sizeof(env) - 1; c++)
                    env[e++] = *c == '.' ? '_' : (char)toupper((unsigned char)*c);
                env[e] = '\0';
                fprintf(out, "# environment: %s", env);
                if (m->type == SG_CFG_INT || m->type == SG_CFG_SIZE)
                    fprintf(out, "; from %lld to %lld", (long long)m->min, (long long)m->max);
                if (m->choices) {
                    fprintf(out, "; one of:");
                    for (const char *const *c = m->choices; *c; c++)
                        fprintf(out, " %s", *c);
                }
                fputc('\n', out);
                fprintf(out, ";%s =%s%s\n", mdot ? mdot + 1 : m->name, m->def && *m->def ? " " : "",
                        m->def ? m->def : "");
            }
        }
    }
}
