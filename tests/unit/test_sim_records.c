/* Tests for sim/records: password2 system properties are sealed under the instance key on every
 * write and on the first open of an older data dir, read in clear only through
 * sim_property_value, and a data dir refuses a key other than the one that sealed it. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/mem.h"
#include "sim/records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const sg_embed_file sg_sim_migrations[];

typedef struct fx {
    char *dir;
    sg_store *st;
    sim_db *db;
    uint8_t key[SG_AEAD_KEY_LEN];
} fx;

static void open_db(fx *f, const uint8_t key[SG_AEAD_KEY_LEN], int want)
{
    assert_int_equal(sim_db_open(f->st, key, &f->db), want);
    if (want != SG_OK)
        f->db = NULL;
}

static int setup(void **state)
{
    fx *f = sg_xcalloc(1, sizeof(*f));
    sim_dict_init();
    f->dir = h_tmpdir("simrec");
    char *url = sg_xasprintf("sqlite:%s/s.db", f->dir);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrations = sg_sim_migrations;
    assert_int_equal(sg_store_open(&o, &f->st), SG_OK);
    free(url);
    assert_int_equal(sg_random(f->key, sizeof(f->key)), SG_OK);
    open_db(f, f->key, SG_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    sim_db_free(f->db);
    sg_store_close(f->st);
    h_rmdir(f->dir);
    free(f->dir);
    free(f);
    sim_dict_free();
    return 0;
}

static sim_rec *add(fx *f, const char *json)
{
    sg_json *v = NULL;
    assert_int_equal(sg_json_parse(json, strlen(json), 0, 0, &v), SG_OK);
    sim_rec *r = NULL;
    assert_int_equal(sim_db_insert(f->db, sim_dict_table("sys_properties"), v, "test", &r), SG_OK);
    sg_json_decref(v);
    return r;
}

static bool update(fx *f, sim_rec *r, const char *json)
{
    sg_json *v = NULL;
    assert_int_equal(sg_json_parse(json, strlen(json), 0, 0, &v), SG_OK);
    bool changed = false;
    assert_int_equal(sim_db_update(f->db, r, v, "test", &changed), SG_OK);
    sg_json_decref(v);
    return changed;
}

static void expect_prop(fx *f, const char *name, const char *want)
{
    char *v = sim_property_value(f->db, name);
    if (!v || strcmp(v, want) != 0)
        fail_msg("property %s: got %s, want %s", name, v ? v : "(none)", want);
    sim_property_free(v);
}

static void test_sealed_on_write(void **state)
{
    fx *f = *state;
    sim_rec *r =
        add(f, "{\"name\":\"x.secret\",\"type\":\"password2\",\"value\":\"s3cret-value\"}");
    char *sealed = sg_xstrdup(sim_rec_get(r, "value"));
    assert_true(*sealed);
    assert_string_not_equal(sealed, "s3cret-value");
    expect_prop(f, "x.secret", "s3cret-value");
    /* Writing back the ciphertext read changes nothing. */
    char body[512];
    snprintf(body, sizeof(body), "{\"value\":\"%s\"}", sealed);
    assert_false(update(f, r, body));
    assert_string_equal(sim_rec_get(r, "value"), sealed);
    /* A new clear text is sealed again. */
    assert_true(update(f, r, "{\"value\":\"n3w-value\"}"));
    assert_string_not_equal(sim_rec_get(r, "value"), "n3w-value");
    assert_string_not_equal(sim_rec_get(r, "value"), sealed);
    expect_prop(f, "x.secret", "n3w-value");
    /* The binding is the sys_id: a renamed property still opens. */
    assert_true(update(f, r, "{\"name\":\"x.renamed\"}"));
    expect_prop(f, "x.renamed", "n3w-value");
    /* A ciphertext copied into another property is that property's clear text, sealed. */
    free(sealed);
    sealed = sg_xstrdup(sim_rec_get(r, "value"));
    snprintf(body, sizeof(body), "{\"name\":\"x.copy\",\"type\":\"password2\",\"value\":\"%s\"}",
             sealed);
    sim_rec *copy = add(f, body);
    assert_string_not_equal(sim_rec_get(copy, "value"), sealed);
    expect_prop(f, "x.copy", sealed);
    free(sealed);

    /* A string property stays in clear; a type change to password2 seals its value. */
    sim_rec *s = add(f, "{\"name\":\"x.plain\",\"value\":\"plain-value\"}");
    assert_string_equal(sim_rec_get(s, "value"), "plain-value");
    expect_prop(f, "x.plain", "plain-value");
    assert_true(update(f, s, "{\"type\":\"password2\"}"));
    assert_string_not_equal(sim_rec_get(s, "value"), "plain-value");
    expect_prop(f, "x.plain", "plain-value");
    /* An empty password2 value stays empty; no such property is NULL. */
    sim_rec *e = add(f, "{\"name\":\"x.empty\",\"type\":\"password2\"}");
    assert_string_equal(sim_rec_get(e, "value"), "");
    expect_prop(f, "x.empty", "");
    assert_null(sim_property_value(f->db, "x.none"));
    sim_property_free(NULL);

    /* Nothing of the clear texts reaches the store. */
    char *path = sg_xasprintf("%s/s.db", f->dir);
    sg_buf raw = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(path, &raw), SG_OK);
    assert_null(memmem(raw.data, raw.len, "s3cret-value", 12));
    assert_null(memmem(raw.data, raw.len, "n3w-value", 9));
    sg_buf_free(&raw);
    free(path);
}

/* Makes the store look like an older snowsim's: a password2 value in clear, no key id. */
static int downgrade(sg_conn *c, void *ctx)
{
    sg_val v[] = {SG_VTEXT(ctx)};
    int rc = sg_conn_exec(
        c,
        "UPDATE records SET data = replace(data, '\"string\"', '\"password2\"') WHERE sys_id = ?1",
        v, 1, NULL);
    if (rc == SG_OK)
        rc = sg_conn_exec(c, "DELETE FROM sim_meta", NULL, 0, NULL);
    return rc;
}

static void test_sealed_on_open(void **state)
{
    fx *f = *state;
    sim_rec *r = add(f, "{\"name\":\"x.old\",\"type\":\"string\",\"value\":\"old-clear\"}");
    char id[33];
    memcpy(id, r->sys_id, sizeof(id));
    sim_db_free(f->db);
    assert_int_equal(sg_store_tx(f->st, downgrade, id), SG_OK);
    /* The first open seals it and writes it back. */
    open_db(f, f->key, SG_OK);
    r = sim_db_get(f->db, sim_dict_table("sys_properties"), id);
    assert_string_equal(sim_rec_get(r, "type"), "password2");
    char *sealed = sg_xstrdup(sim_rec_get(r, "value"));
    assert_string_not_equal(sealed, "old-clear");
    expect_prop(f, "x.old", "old-clear");
    /* Once: the next open finds the same ciphertext on disk. */
    sim_db_free(f->db);
    open_db(f, f->key, SG_OK);
    r = sim_db_get(f->db, sim_dict_table("sys_properties"), id);
    assert_string_equal(sim_rec_get(r, "value"), sealed);
    expect_prop(f, "x.old", "old-clear");
    free(sealed);

    /* Another key would take the sealed values for clear text: it is refused, saying why. */
    sim_db_free(f->db);
    uint8_t other[SG_AEAD_KEY_LEN];
    assert_int_equal(sg_random(other, sizeof(other)), SG_OK);
    open_db(f, other, SG_EAUTH);
    assert_non_null(strstr(sg_err_msg(), "1 password2 property in this data dir was sealed with "
                                         "another instance key; put back the instance.key"));
    /* The right key still opens it. */
    open_db(f, f->key, SG_OK);
    expect_prop(f, "x.old", "old-clear");
    /* With no sealed value left, a new key is taken, and from then on it is the one. */
    sim_rec *d = sim_db_get(f->db, sim_dict_table("sys_properties"), id);
    assert_int_equal(sim_db_delete(f->db, d), SG_OK);
    sim_db_free(f->db);
    open_db(f, other, SG_OK);
    add(f, "{\"name\":\"x.new\",\"type\":\"password2\",\"value\":\"new-secret\"}");
    sim_db_free(f->db);
    open_db(f, f->key, SG_EAUTH);
    open_db(f, other, SG_OK);
    expect_prop(f, "x.new", "new-secret");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sealed_on_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_on_open, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
