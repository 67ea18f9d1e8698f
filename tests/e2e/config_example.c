/* config_example: parses an example INI file and holds it against its settings table. */
#include "e2e/config_example.h"

#include "e2e/harness.h"

#include "core/err.h"
#include "core/mem.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key line is ";name =" or ";name = value"; returns the length of name, 0 for other lines. */
static size_t key_line(const char *line, size_t len)
{
    if (len < 3 || line[0] != ';')
        return 0;
    const char *eq = memchr(line, '=', len);
    if (!eq || eq - line < 3 || eq[-1] != ' ')
        return 0;
    return (size_t)(eq - 1 - (line + 1));
}

void h_cfg_example_uncomment(const char *text, sg_buf *out)
{
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        bool key = key_line(p, len) > 0;
        assert_int_equal(sg_buf_append(out, key ? p + 1 : p, key ? len - 1 : len), SG_OK);
        if (p[len] == '\n')
            assert_int_equal(sg_buf_putc(out, '\n'), SG_OK);
        p += len + (p[len] == '\n');
    }
}

static void expect_env(const char *prev, size_t prev_len, const char *prefix, const char *name)
{
    sg_buf want = SG_BUF_INIT(0);
    assert_int_equal(sg_buf_printf(&want, "# environment: %s", prefix), SG_OK);
    for (const char *c = name; *c; c++)
        assert_int_equal(
            sg_buf_putc(&want, *c == '.' || *c == '-' ? '_' : (char)toupper((unsigned char)*c)),
            SG_OK);
    if (!prev || prev_len < want.len || memcmp(prev, want.data, want.len) != 0 ||
        (prev_len > want.len && prev[want.len] != ';'))
        fail_msg("the line above %s is '%.*s', not '%s'", name, (int)prev_len, prev ? prev : "",
                 sg_buf_str(&want));
    sg_buf_free(&want);
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void expect_default(const sg_cfg_key *k, const void *got, const void *def)
{
    const char *g = (const char *)got + k->offset, *d = (const char *)def + k->offset;
    bool same = false;
    switch (k->type) {
    case SG_CFG_STR:
    case SG_CFG_ENUM:
    case SG_CFG_LISTEN:
    case SG_CFG_URL:
        same = str_eq(*(char *const *)(const void *)g, *(char *const *)(const void *)d);
        break;
    case SG_CFG_INT:
        same = *(const int64_t *)(const void *)g == *(const int64_t *)(const void *)d;
        break;
    case SG_CFG_BOOL:
        same = *(const bool *)(const void *)g == *(const bool *)(const void *)d;
        break;
    case SG_CFG_SIZE:
        same = *(const size_t *)(const void *)g == *(const size_t *)(const void *)d;
        break;
    }
    if (!same)
        fail_msg("%s: the uncommented example does not give the default %s", k->name,
                 k->def ? k->def : "(none)");
}

void h_cfg_example_check(const char *text, const sg_cfg_key *keys, size_t cfg_size,
                         const char *env_prefix)
{
    size_t nkeys = 0;
    while (keys[nkeys].name)
        nkeys++;
    int *seen = sg_xcalloc(nkeys ? nkeys : 1, sizeof(int));
    /* Section headers seen so far, as pointers into text (after the '['). */
    const char **sections = sg_xcalloc(nkeys ? nkeys : 1, sizeof(char *));
    size_t *section_lens = sg_xcalloc(nkeys ? nkeys : 1, sizeof(size_t));
    size_t nsections = 0;
    const char *section = NULL, *prev = NULL;
    size_t section_len = 0, prev_len = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        size_t klen = key_line(p, len);
        if (len > 2 && p[0] == '[' && p[len - 1] == ']') {
            section = p + 1;
            section_len = len - 2;
            for (size_t i = 0; i < nsections; i++)
                if (section_lens[i] == section_len && memcmp(sections[i], section, len - 2) == 0)
                    fail_msg("[%.*s] appears more than once", (int)section_len, section);
            if (nsections == nkeys)
                fail_msg("more sections than keys: [%.*s]", (int)section_len, section);
            sections[nsections] = section;
            section_lens[nsections++] = section_len;
        } else if (klen) {
            sg_buf name = SG_BUF_INIT(0);
            if (section)
                assert_int_equal(sg_buf_printf(&name, "%.*s.", (int)section_len, section), SG_OK);
            assert_int_equal(sg_buf_append(&name, p + 1, klen), SG_OK);
            size_t i = 0;
            while (i < nkeys && strcmp(keys[i].name, sg_buf_str(&name)) != 0)
                i++;
            if (i == nkeys)
                fail_msg("%s is in the example, not in the table", sg_buf_str(&name));
            if (seen[i]++)
                fail_msg("%s appears more than once", keys[i].name);
            expect_env(prev, prev_len, env_prefix, keys[i].name);
            sg_buf_free(&name);
        } else if (len && p[0] != '#') {
            fail_msg("unexpected line in the example: '%.*s'", (int)len, p);
        }
        if (len) {
            prev = p;
            prev_len = len;
        }
        p += len + (p[len] == '\n');
    }
    for (size_t i = 0; i < nkeys; i++)
        if (!seen[i])
            fail_msg("%s is in the table, not in the example", keys[i].name);

    /* The environment variable the example names is the one the loader reads. */
    for (size_t i = 0; i < nkeys; i++) {
        if (!keys[i].def)
            continue;
        void *cfg = sg_xcalloc(1, cfg_size);
        sg_buf var = SG_BUF_INIT(0);
        assert_int_equal(sg_buf_puts(&var, env_prefix), SG_OK);
        for (const char *c = keys[i].name; *c; c++)
            assert_int_equal(
                sg_buf_putc(&var, *c == '.' || *c == '-' ? '_' : (char)toupper((unsigned char)*c)),
                SG_OK);
        assert_int_equal(sg_buf_printf(&var, "=%s", keys[i].def), SG_OK);
        char *env[] = {var.data, NULL};
        if (sg_cfg_load_env(keys, cfg, env_prefix, env) != SG_OK)
            fail_msg("%s: %s", var.data, sg_err_msg());
        sg_cfg_free(keys, cfg);
        free(cfg);
        sg_buf_free(&var);
    }

    /* Uncommented, the example loads and gives the defaults. */
    sg_buf ini = SG_BUF_INIT(0);
    h_cfg_example_uncomment(text, &ini);
    char *dir = h_tmpdir("cfgex");
    char path[600];
    snprintf(path, sizeof(path), "%s/example.ini", dir);
    assert_int_equal(h_write_file(path, ini.data ? ini.data : "", ini.len), SG_OK);
    void *got = sg_xcalloc(1, cfg_size), *def = sg_xcalloc(1, cfg_size);
    if (sg_cfg_load_ini(keys, got, path) != SG_OK)
        fail_msg("the uncommented example does not load: %s", sg_err_msg());
    assert_int_equal(sg_cfg_defaults(keys, def), SG_OK);
    for (size_t i = 0; i < nkeys; i++)
        expect_default(&keys[i], got, def);
    sg_cfg_free(keys, got);
    sg_cfg_free(keys, def);
    free(got);
    free(def);
    sg_buf_free(&ini);
    h_rmdir(dir);
    free(dir);
    free(seen);
    free(sections);
    free(section_lens);
}
