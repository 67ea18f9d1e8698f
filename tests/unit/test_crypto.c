/* Tests for core/crypto: HMAC against the project's own vectors (tests/data), AES-256-GCM,
 * encodings, random; with --corpus, HMAC against RFC 4231 from the outside corpus folder. */
#include "e2e/harness.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"

#include <string.h>

static sg_json *load_vectors(const char *path)
{
    sg_buf b = SG_BUF_INIT(0);
    if (h_read_file(path, &b) != SG_OK)
        fail_msg("%s", sg_err_msg());
    sg_json *j = NULL;
    assert_int_equal(sg_json_parse(b.data, b.len, 4 * 1024 * 1024, 0, &j), SG_OK);
    sg_buf_free(&b);
    return j;
}

/* Every hmac-sha256 vector in the file at path (*state). */
static void test_hmac_vectors(void **state)
{
    sg_json *root = load_vectors(*state);
    sg_json *vectors = sg_json_get(root, "vectors");
    int checked = 0;
    for (size_t i = 0; i < sg_json_array_size(vectors); i++) {
        sg_json *v = sg_json_array_get(vectors, i);
        if (strcmp(sg_json_get_str(v, "scheme"), "hmac-sha256") != 0)
            continue;
        const char *kh = sg_json_get_str(v, "key_hex"), *dh = sg_json_get_str(v, "data_hex");
        sg_buf key = SG_BUF_INIT(0), data = SG_BUF_INIT(0);
        assert_int_equal(sg_hex_decode(kh, strlen(kh), &key), SG_OK);
        assert_int_equal(sg_hex_decode(dh, strlen(dh), &data), SG_OK);
        uint8_t mac[SG_SHA256_LEN];
        char hex[2 * SG_SHA256_LEN + 1];
        assert_int_equal(sg_hmac_sha256(key.data, key.len, data.data, data.len, mac), SG_OK);
        sg_hex_encode(mac, sizeof(mac), hex);
        assert_string_equal(hex, sg_json_get_str(v, "expected_hex"));
        sg_buf_free(&key);
        sg_buf_free(&data);
        checked++;
    }
    assert_true(checked >= 4);
    sg_json_decref(root);
}

static void test_sha256(void **state)
{
    (void)state;
    uint8_t d[SG_SHA256_LEN];
    char hex[65];
    sg_sha256("abc", 3, d);
    sg_hex_encode(d, sizeof(d), hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_aead_roundtrip_and_binding(void **state)
{
    (void)state;
    uint8_t key[32], other[32];
    assert_int_equal(sg_random(key, sizeof(key)), SG_OK);
    assert_int_equal(sg_random(other, sizeof(other)), SG_OK);
    const char *pt = "client-secret-value";
    sg_buf ct = SG_BUF_INIT(0), out = SG_BUF_INIT(0);
    assert_int_equal(sg_aead_seal(key, "integrations:1:secret", 21, pt, strlen(pt), &ct), SG_OK);
    assert_int_equal(ct.len, strlen(pt) + SG_AEAD_NONCE_LEN + SG_AEAD_TAG_LEN);
    assert_null(memmem(ct.data, ct.len, pt, strlen(pt)));
    assert_int_equal(sg_aead_open(key, "integrations:1:secret", 21, ct.data, ct.len, &out), SG_OK);
    assert_string_equal(sg_buf_str(&out), pt);
    sg_buf_reset(&out);
    /* Another row's associated data, another key, or a flipped bit: all refused. */
    assert_int_equal(sg_aead_open(key, "integrations:2:secret", 21, ct.data, ct.len, &out),
                     SG_EAUTH);
    assert_int_equal(sg_aead_open(other, "integrations:1:secret", 21, ct.data, ct.len, &out),
                     SG_EAUTH);
    ct.data[SG_AEAD_NONCE_LEN] ^= 1;
    assert_int_equal(sg_aead_open(key, "integrations:1:secret", 21, ct.data, ct.len, &out),
                     SG_EAUTH);
    assert_int_equal(out.len, 0);
    assert_int_equal(sg_aead_open(key, "x", 1, "short", 5, &out), SG_EAUTH);
    /* Two seals of the same text differ (fresh nonce). */
    sg_buf ct2 = SG_BUF_INIT(0);
    ct.data[SG_AEAD_NONCE_LEN] ^= 1;
    assert_int_equal(sg_aead_seal(key, "integrations:1:secret", 21, pt, strlen(pt), &ct2), SG_OK);
    assert_int_equal(ct.len, ct2.len);
    assert_memory_not_equal(ct.data, ct2.data, ct.len);
    /* Empty plaintext works. */
    sg_buf e = SG_BUF_INIT(0), eo = SG_BUF_INIT(0);
    assert_int_equal(sg_aead_seal(key, NULL, 0, "", 0, &e), SG_OK);
    assert_int_equal(sg_aead_open(key, NULL, 0, e.data, e.len, &eo), SG_OK);
    assert_int_equal(eo.len, 0);
    sg_buf_free(&ct);
    sg_buf_free(&ct2);
    sg_buf_free(&out);
    sg_buf_free(&e);
    sg_buf_free(&eo);
}

static void test_base64(void **state)
{
    (void)state;
    static const struct {
        const char *in, *std, *url;
    } cases[] = {
        {"", "", ""},
        {"f", "Zg==", "Zg"},
        {"fo", "Zm8=", "Zm8"},
        {"foo", "Zm9v", "Zm9v"},
        {"foob", "Zm9vYg==", "Zm9vYg"},
        {"\xfb\xff", "+/8=", "-_8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg_buf a = SG_BUF_INIT(0), b = SG_BUF_INIT(0), c = SG_BUF_INIT(0);
        size_t n = strlen(cases[i].in);
        assert_int_equal(sg_base64_encode(cases[i].in, n, false, &a), SG_OK);
        assert_string_equal(sg_buf_str(&a), cases[i].std);
        assert_int_equal(sg_base64_encode(cases[i].in, n, true, &b), SG_OK);
        assert_string_equal(sg_buf_str(&b), cases[i].url);
        assert_int_equal(sg_base64_decode(a.data ? a.data : "", a.len, false, &c), SG_OK);
        assert_int_equal(c.len, n);
        assert_memory_equal(sg_buf_str(&c), cases[i].in, n);
        sg_buf_reset(&c);
        assert_int_equal(sg_base64_decode(b.data ? b.data : "", b.len, true, &c), SG_OK);
        assert_memory_equal(sg_buf_str(&c), cases[i].in, n);
        sg_buf_free(&a);
        sg_buf_free(&b);
        sg_buf_free(&c);
    }
    sg_buf bad = SG_BUF_INIT(0);
    assert_int_equal(sg_base64_decode("Zm9v!", 5, false, &bad), SG_EINVAL);
    assert_int_equal(sg_base64_decode("Z", 1, false, &bad), SG_EINVAL);
    assert_int_equal(sg_base64_decode("-_8", 3, false, &bad), SG_EINVAL);
    sg_buf_free(&bad);
}

static void test_hex_and_compare(void **state)
{
    (void)state;
    sg_buf b = SG_BUF_INIT(0);
    assert_int_equal(sg_hex_decode("00fFa0", 6, &b), SG_OK);
    assert_memory_equal(b.data, "\x00\xff\xa0", 3);
    assert_int_equal(sg_hex_decode("0g", 2, &b), SG_EINVAL);
    assert_int_equal(sg_hex_decode("abc", 3, &b), SG_EINVAL);
    sg_buf_free(&b);
    assert_true(sg_ct_equal("abcd", "abcd", 4));
    assert_false(sg_ct_equal("abcd", "abce", 4));
    char id1[33], id2[33];
    assert_int_equal(sg_random_hex(id1, 16), SG_OK);
    assert_int_equal(sg_random_hex(id2, 16), SG_OK);
    assert_int_equal(strlen(id1), 32);
    assert_string_not_equal(id1, id2);
}

int main(int argc, char **argv)
{
    if (h_corpus_mode(argc, argv)) {
        static char path[1024];
        h_corpus_path("webhook-vectors.json", "published HMAC vectors", path, sizeof(path));
        const struct CMUnitTest corpus[] = {cmocka_unit_test_prestate(test_hmac_vectors, path)};
        return cmocka_run_group_tests(corpus, NULL, NULL);
    }
    static char own[] = H_DATA_DIR "/webhook-vectors.json";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_hmac_vectors, own),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_aead_roundtrip_and_binding),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_hex_and_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
