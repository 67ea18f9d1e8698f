/* Tests for http/form. */
#include "e2e/harness.h"

#include "core/err.h"
#include "http/form.h"

#include <stdio.h>
#include <string.h>

static void test_form(void **state)
{
    (void)state;
    sg_form *f = NULL;
    const char *t = "grant_type=password&client_id=a%2Bb&password=p+w%21&empty=&flag&x=1&x=2";
    assert_int_equal(sg_form_parse(t, strlen(t), &f), SG_OK);
    assert_string_equal(sg_form_get(f, "grant_type"), "password");
    assert_string_equal(sg_form_get(f, "client_id"), "a+b");
    assert_string_equal(sg_form_get(f, "password"), "p w!");
    assert_string_equal(sg_form_get(f, "empty"), "");
    assert_string_equal(sg_form_get(f, "flag"), "");
    assert_string_equal(sg_form_get(f, "x"), "1");
    assert_null(sg_form_get(f, "missing"));
    assert_int_equal(sg_form_count(f), 7);
    sg_form_free(f);
    assert_int_equal(sg_form_parse("", 0, &f), SG_OK);
    assert_int_equal(sg_form_count(f), 0);
    sg_form_free(f);
    assert_int_equal(sg_form_parse("a=%zz", 5, &f), SG_EINVAL);
    assert_int_equal(sg_form_parse("a=%4", 4, &f), SG_EINVAL);
    assert_int_equal(sg_form_parse("a=%00", 5, &f), SG_EINVAL);
    assert_int_equal(sg_form_parse("a=b\0c", 5, &f), SG_EINVAL);
    char many[4000];
    size_t n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "k%d=v&", i);
    assert_int_equal(sg_form_parse(many, n, &f), SG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_form)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
