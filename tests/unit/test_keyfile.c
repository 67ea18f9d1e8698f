/* Tests for core/keyfile: a key file is created 0600 and read back; one that other users can
 * read, of the wrong size or that cannot be created is refused with the fix; snowgate's master
 * key (gate/secrets) keeps its wording. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/keyfile.h"
#include "core/mem.h"
#include "gate/secrets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const uint8_t zero[SG_AEAD_KEY_LEN];

static void test_created_0600_and_read_back(void **state)
{
    (void)state;
    char *dir = h_tmpdir("keyfile");
    char *path = sg_xasprintf("%s/instance.key", dir);
    uint8_t k1[SG_AEAD_KEY_LEN], k2[SG_AEAD_KEY_LEN];
    assert_int_equal(sg_keyfile_open("instance key", path, k1), SG_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, SG_AEAD_KEY_LEN);
    assert_memory_not_equal(k1, zero, sizeof(k1));
    /* The second open reads the same key; it does not make a new one. */
    assert_int_equal(sg_keyfile_open("instance key", path, k2), SG_OK);
    assert_memory_equal(k1, k2, sizeof(k1));
    h_rmdir(dir);
    free(path);
    free(dir);
}

static void test_refused_with_the_fix(void **state)
{
    (void)state;
    char *dir = h_tmpdir("keyfile");
    char *path = sg_xasprintf("%s/instance.key", dir);
    uint8_t k[SG_AEAD_KEY_LEN];
    assert_int_equal(sg_keyfile_open("instance key", path, k), SG_OK);

    /* Readable by other users. */
    assert_int_equal(chmod(path, 0644), 0);
    memset(k, 0xaa, sizeof(k));
    assert_int_equal(sg_keyfile_open("instance key", path, k), SG_EFORBIDDEN);
    char want[512];
    snprintf(want, sizeof(want), "instance key '%s' is readable by other users; run: chmod 600 %s",
             path, path);
    assert_string_equal(sg_err_msg(), want);
    assert_memory_equal(k, zero, sizeof(k)); /* nothing of a refused key is left */
    /* snowgate's master key says the same in its own words. */
    sg_secrets s;
    assert_int_equal(sg_secrets_open(path, &s), SG_EFORBIDDEN);
    snprintf(want, sizeof(want), "master key '%s' is readable by other users; run: chmod 600 %s",
             path, path);
    assert_string_equal(sg_err_msg(), want);

    /* The wrong size. */
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(h_write_file(path, "short", 5), SG_OK);
    assert_int_equal(sg_keyfile_open("instance key", path, k), SG_EINVAL);
    snprintf(want, sizeof(want), "instance key '%s' must be exactly 32 bytes", path);
    assert_string_equal(sg_err_msg(), want);

    /* Not a regular file. */
    assert_int_equal(sg_keyfile_open("instance key", dir, k), SG_EIO);
    assert_non_null(strstr(sg_err_msg(), "is not a regular file"));

    /* A folder that does not exist: the key cannot be created. */
    char *missing = sg_xasprintf("%s/no/such/dir/instance.key", dir);
    assert_int_equal(sg_keyfile_open("instance key", missing, k), SG_EIO);
    snprintf(want, sizeof(want), "instance key '%s': cannot create it", missing);
    assert_non_null(strstr(sg_err_msg(), want));
    free(missing);

    h_rmdir(dir);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_created_0600_and_read_back),
        cmocka_unit_test(test_refused_with_the_fix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
