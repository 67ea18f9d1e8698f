/* Tests for gate/servicenow/mirror: ServiceNow's [code] markup never survives into a field. */
#include "e2e/harness.h"

#include "gate/servicenow/mirror.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ZWSP "\xe2\x80\x8b"

/* Whether s still holds something ServiceNow could read as a code tag: '[', optional
 * whitespace (ASCII or U+00A0), an optional '/' and whitespace, then "code" in any case. Written
 * separately from the code under test, as a naive scan of every '['. */
static bool has_tag(const char *s)
{
    for (const char *p = strchr(s, '['); p; p = strchr(p + 1, '[')) {
        const char *q = p + 1;
        bool slash = false;
        for (;;) {
            if (strchr(" \t\r\n\f\v", *q) && *q)
                q++;
            else if (strncmp(q, "\xc2\xa0", 2) == 0)
                q += 2;
            else if (*q == '/' && !slash) {
                slash = true;
                q++;
            } else {
                break;
            }
        }
        if (strncasecmp(q, "code", 4) == 0)
            return true;
    }
    return false;
}

/* The text with every zero-width space taken out: what a reader sees. */
static char *visible(const char *s)
{
    char *out = calloc(1, strlen(s) + 1), *o = out;
    for (const char *p = s; *p;) {
        if (strncmp(p, ZWSP, 3) == 0) {
            p += 3;
            continue;
        }
        *o++ = *p++;
    }
    return out;
}

static void check(const char *in, const char *want)
{
    char *got = sg_mirror_defuse_markup(in);
    if (want && strcmp(got, want) != 0)
        fail_msg("'%s': got '%s', want '%s'", in, got, want);
    if (has_tag(got))
        fail_msg("'%s': a tag survives in '%s'", in, got);
    /* Nothing else changes: the reader sees the text as written. */
    char *seen = visible(got), *orig = visible(in);
    assert_string_equal(seen, orig);
    free(seen);
    free(orig);
    free(got);
}

static void test_defuse_markup(void **state)
{
    (void)state;
    /* The attack, and its variants. */
    check("[code]<img src=x onerror=alert(1)>[/code]",
          "[" ZWSP "code]<img src=x onerror=alert(1)>[" ZWSP "/code]");
    check("[CODE]<b>x</b>[/CoDe]", "[" ZWSP "CODE]<b>x</b>[" ZWSP "/CoDe]");
    check("[ code ]x[ / code ]", "[" ZWSP " code ]x[" ZWSP " / code ]");
    check("[\tcode\n]x[/\r\ncode]", NULL);
    check("[\xc2\xa0"
          "code]x",
          "[" ZWSP "\xc2\xa0"
          "code]x");
    check("[code attr=1]x[/code", NULL);
    /* Nested and split attempts: removing one tag must not leave another behind. */
    check("[co[code]de]x[/co[/code]de]", NULL);
    check("[[code]code]]", "[[" ZWSP "code]code]]");
    check("[[[code]]]", NULL);
    check("[" ZWSP "code]", "[" ZWSP "code]"); /* already defused: unchanged */
    check("[/[code]code]", NULL);
    check("[code][code][code]", NULL);
    /* A '[' at the very end, and text with nothing to do. */
    check("[", "[");
    check("[/", "[/");
    check("[cod", "[cod");
    check("plain text, [1] and [docs] and a [codec]", NULL);
    check("", "");
    char *none = sg_mirror_defuse_markup(NULL);
    assert_string_equal(none, "");
    free(none);
    /* Non-ASCII text passes through. */
    check("Begründung: Quartalsbericht 📊", "Begründung: Quartalsbericht 📊");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defuse_markup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
