/* Tests for core/xml: the project's small update sets (tests/data/updatesets), hostile
 * documents, and the writer; with --corpus, the real exports from the outside corpus folder. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/xml.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every .xml file in dir is an update set whose rows' payloads are <record_update> documents;
 * returns how many sets. */
static int parse_sets(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("%s: %s", dir, strerror(errno));
    int parsed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".xml") != 0)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        sg_buf b = SG_BUF_INIT(0);
        assert_int_equal(h_read_file(path, &b), SG_OK);
        sg_xml_doc *doc = NULL;
        if (sg_xml_parse(b.data, b.len, 0, &doc) != SG_OK)
            fail_msg("%s: %s", e->d_name, sg_err_msg());
        sg_xml_node *root = sg_xml_root(doc);
        assert_string_equal(sg_xml_name(root), "unload");
        int updates = 0;
        for (sg_xml_node *c = sg_xml_first(root); c; c = sg_xml_next(c)) {
            if (strcmp(sg_xml_name(c), "sys_update_xml") != 0)
                continue;
            /* Each payload is itself a document, inside CDATA. */
            char *payload = sg_xml_text(sg_xml_child(c, "payload"));
            sg_xml_doc *inner = NULL;
            if (sg_xml_parse(payload, strlen(payload), 0, &inner) != SG_OK)
                fail_msg("%s payload: %s", e->d_name, sg_err_msg());
            assert_string_equal(sg_xml_name(sg_xml_root(inner)), "record_update");
            sg_xml_free(inner);
            free(payload);
            updates++;
        }
        assert_true(updates > 0);
        sg_xml_free(doc);
        sg_buf_free(&b);
        parsed++;
    }
    closedir(d);
    return parsed;
}

static void test_own_sets(void **state)
{
    (void)state;
    assert_true(parse_sets(H_DATA_DIR "/updatesets") >= 4);
}

/* The real exports; *state is their folder. */
static void test_real_exports(void **state)
{
    assert_true(parse_sets(*state) >= 4);
}

static void test_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        /* XXE */
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
        /* billion laughs */
        "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b "
        "\"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c "
        "\"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]><l>&c;</l>",
        /* external DTD */
        "<?xml version=\"1.0\"?><!DOCTYPE x SYSTEM \"http://127.0.0.1:1/x.dtd\"><x/>",
        /* a bare DOCTYPE is refused too */
        "<!DOCTYPE x><x/>",
        /* not well-formed */
        "<x><y></x>",
        "<x>&undefined;</x>",
        "",
        "just text",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sg_xml_doc *doc = NULL;
        int rc = sg_xml_parse(bad[i], strlen(bad[i]), 0, &doc);
        if (rc == SG_OK)
            fail_msg("case %zu must be refused", i);
        assert_null(doc);
    }
    sg_xml_doc *doc = NULL;
    assert_int_equal(sg_xml_parse("<x>1234567890</x>", 17, 10, &doc), SG_ETOOBIG);
    /* Predefined entities and character references are plain XML and fine. */
    assert_int_equal(sg_xml_parse("<x a=\"&lt;\">&amp;&#65;</x>", 26, 0, &doc), SG_OK);
    char *t = sg_xml_text(sg_xml_root(doc));
    assert_string_equal(t, "&A");
    char *a = sg_xml_attr(sg_xml_root(doc), "a");
    assert_string_equal(a, "<");
    assert_null(sg_xml_attr(sg_xml_root(doc), "missing"));
    free(t);
    free(a);
    sg_xml_free(doc);
}

static void test_writer_cdata_split(void **state)
{
    (void)state;
    sg_xml_writer *w = sg_xml_writer_new();
    sg_xml_start(w, "unload");
    sg_xml_attribute(w, "unload_date", "2026-01-01 00:00:00");
    sg_xml_start(w, "payload");
    const char *tricky = "a]]>b]]>]]>c <&> \"q\"";
    sg_xml_write_cdata(w, tricky);
    sg_xml_end(w);
    sg_xml_element(w, "empty", NULL);
    sg_xml_element(w, "name", "x < y & z");
    sg_xml_end(w);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(sg_xml_writer_finish(w, &out, &len), SG_OK);
    assert_non_null(strstr(out, "<![CDATA["));
    assert_non_null(strstr(out, "<empty/>"));
    /* Read it back: the CDATA text survives exactly. */
    sg_xml_doc *doc = NULL;
    assert_int_equal(sg_xml_parse(out, len, 0, &doc), SG_OK);
    char *text = sg_xml_text(sg_xml_child(sg_xml_root(doc), "payload"));
    assert_string_equal(text, tricky);
    char *name = sg_xml_text(sg_xml_child(sg_xml_root(doc), "name"));
    assert_string_equal(name, "x < y & z");
    free(text);
    free(name);
    sg_xml_free(doc);
    free(out);
}

int main(int argc, char **argv)
{
    if (h_corpus_mode(argc, argv)) {
        static char dir[1024];
        h_corpus_path("fixtures/updatesets", "real update set exports", dir, sizeof(dir));
        const struct CMUnitTest corpus[] = {cmocka_unit_test_prestate(test_real_exports, dir)};
        return cmocka_run_group_tests(corpus, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_sets),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_writer_cdata_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
