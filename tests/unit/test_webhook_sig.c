/* Tests for core/webhook_sig against every Standard Webhooks vector of the project's own
 * (tests/data/webhook-vectors.json); with --corpus, the published ones in the outside corpus. */
#include "e2e/harness.h"

#include "core/err.h"
#include "core/json.h"
#include "core/webhook_sig.h"

#include <string.h>
#include <strings.h>

static const char *header(sg_json *headers, const char *name)
{
    for (void *it = sg_json_iter(headers); it; it = sg_json_iter_next(headers, it))
        if (strcasecmp(sg_json_iter_key(it), name) == 0)
            return sg_json_str(sg_json_iter_value(it));
    return NULL;
}

/* Every standard-webhooks-v1 vector in the file at path (*state). */
static void test_vectors(void **state)
{
    sg_buf b = SG_BUF_INIT(0);
    if (h_read_file(*state, &b) != SG_OK)
        fail_msg("%s", sg_err_msg());
    sg_json *root = NULL;
    assert_int_equal(sg_json_parse(b.data, b.len, 4 * 1024 * 1024, 0, &root), SG_OK);
    sg_json *vectors = sg_json_get(root, "vectors");
    int checked = 0;
    for (size_t i = 0; i < sg_json_array_size(vectors); i++) {
        sg_json *v = sg_json_array_get(vectors, i);
        if (strcmp(sg_json_get_str(v, "scheme"), "standard-webhooks-v1") != 0)
            continue;
        sg_json *h = sg_json_get(v, "headers");
        const char *payload = sg_json_get_str(v, "payload");
        int64_t at = 0;
        assert_true(sg_json_get_int(v, "verify_at", &at));
        int rc = sg_webhook_sig_verify(
            sg_json_get_str(v, "secret"), header(h, "webhook-id"), header(h, "webhook-timestamp"),
            header(h, "webhook-signature"), payload, strlen(payload), at);
        bool want_valid = strcmp(sg_json_get_str(v, "expect"), "valid") == 0;
        if ((rc == SG_OK) != want_valid)
            fail_msg("vector %s: expected %s, got %s (%s)", sg_json_get_str(v, "id"),
                     want_valid ? "valid" : "invalid", rc == SG_OK ? "valid" : "invalid",
                     sg_err_msg());
        checked++;
    }
    assert_true(checked >= 20);
    sg_json_decref(root);
    sg_buf_free(&b);
}

static void test_sign_then_verify(void **state)
{
    (void)state;
    const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const char *body = "{\"event\":\"approval.changed\"}";
    sg_buf sig = SG_BUF_INIT(0);
    assert_int_equal(sg_webhook_sig_sign(secret, "msg_1", 1700000000, body, strlen(body), &sig),
                     SG_OK);
    assert_true(strncmp(sg_buf_str(&sig), "v1,", 3) == 0);
    assert_int_equal(sg_webhook_sig_verify(secret, "msg_1", "1700000000", sig.data, body,
                                           strlen(body), 1700000100),
                     SG_OK);
    /* Another id, another body, or another secret fails. */
    assert_int_equal(sg_webhook_sig_verify(secret, "msg_2", "1700000000", sig.data, body,
                                           strlen(body), 1700000100),
                     SG_EAUTH);
    assert_int_equal(
        sg_webhook_sig_verify(secret, "msg_1", "1700000000", sig.data, "{}", 2, 1700000100),
        SG_EAUTH);
    assert_int_equal(sg_webhook_sig_verify("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "msg_1",
                                           "1700000000", sig.data, body, strlen(body), 1700000100),
                     SG_EAUTH);
    /* Garbage in every header is refused without crashing. */
    assert_int_equal(
        sg_webhook_sig_verify(secret, "msg_1", "17e8", sig.data, body, strlen(body), 1700000100),
        SG_EAUTH);
    assert_int_equal(sg_webhook_sig_verify(secret, "msg_1", "-5", "v1,", body, strlen(body), 0),
                     SG_EAUTH);
    assert_int_equal(sg_webhook_sig_verify("not base64!", "msg_1", "1700000000", sig.data, body,
                                           strlen(body), 1700000000),
                     SG_EINVAL);
    sg_buf_free(&sig);
}

int main(int argc, char **argv)
{
    if (h_corpus_mode(argc, argv)) {
        static char path[1024];
        h_corpus_path("webhook-vectors.json", "published Standard Webhooks vectors", path,
                      sizeof(path));
        const struct CMUnitTest corpus[] = {cmocka_unit_test_prestate(test_vectors, path)};
        return cmocka_run_group_tests(corpus, NULL, NULL);
    }
    static char own[] = H_DATA_DIR "/webhook-vectors.json";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_vectors, own),
        cmocka_unit_test(test_sign_then_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
