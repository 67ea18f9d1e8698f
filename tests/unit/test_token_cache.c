/* Tests for gate/servicenow/token_cache: a token is handed out only for the credentials it was
 * kept for, only until its expiry less the margin, and never after ServiceNow refused it. */
#include "e2e/harness.h"

#include "core/crypto.h"
#include "gate/secrets.h"
#include "gate/servicenow/token_cache.h"

#include <stdint.h>
#include <string.h>

static void key_of(const char *s, uint8_t out[SG_SHA256_LEN])
{
    sg_sha256(s, strlen(s), out);
}

static void expect(sg_sn_token_cache *c, const uint8_t key[SG_SHA256_LEN], int64_t now,
                   const char *want)
{
    char *got = sg_sn_token_cache_get(c, key, now);
    if (want)
        assert_string_equal(got, want);
    else
        assert_null(got);
    sg_secrets_free_plain(got);
}

static void test_reuse_and_expiry(void **state)
{
    (void)state;
    sg_sn_token_cache *c = sg_sn_token_cache_new();
    uint8_t a[SG_SHA256_LEN], b[SG_SHA256_LEN];
    key_of("credentials a", a);
    key_of("credentials b", b);
    expect(c, a, 1000, NULL);
    sg_sn_token_cache_put(c, a, "tok-1", 1799, 1000);
    expect(c, a, 1000, "tok-1");
    expect(c, a, 1000 + 1799 - SG_SN_TOKEN_MARGIN - 1, "tok-1");
    /* Not within the margin of its expiry, nor after. */
    expect(c, a, 1000 + 1799 - SG_SN_TOKEN_MARGIN, NULL);
    expect(c, a, 5000, NULL);
    /* Other credentials (a reconnect, a new secret) never get it. */
    expect(c, b, 1000, NULL);
    /* A newer token replaces it; one that lives no longer than the margin is not kept. */
    sg_sn_token_cache_put(c, b, "tok-2", 1799, 1000);
    expect(c, a, 1000, NULL);
    expect(c, b, 1000, "tok-2");
    sg_sn_token_cache_put(c, a, "short", SG_SN_TOKEN_MARGIN, 1000);
    expect(c, a, 1000, NULL);
    sg_sn_token_cache_free(c);
    sg_sn_token_cache_free(NULL);
}

static void test_forget(void **state)
{
    (void)state;
    sg_sn_token_cache *c = sg_sn_token_cache_new();
    uint8_t a[SG_SHA256_LEN];
    key_of("credentials a", a);
    sg_sn_token_cache_put(c, a, "tok-1", 1799, 1000);
    /* Refusing another token (an older one still in a caller's hands) changes nothing. */
    sg_sn_token_cache_forget(c, "tok-0");
    sg_sn_token_cache_forget(c, "tok-10");
    expect(c, a, 1000, "tok-1");
    sg_sn_token_cache_forget(c, "tok-1");
    expect(c, a, 1000, NULL);
    sg_sn_token_cache_forget(c, "tok-1");
    sg_sn_token_cache_free(c);
    /* Without a cache (commands, tests): nothing is kept. */
    sg_sn_token_cache_put(NULL, a, "tok-1", 1799, 1000);
    expect(NULL, a, 1000, NULL);
    sg_sn_token_cache_forget(NULL, "tok-1");
}

/* Connect, Run test and Disconnect clear it, whatever the credentials; a lifetime past a day
 * is kept for a day. */
static void test_clear_and_cap(void **state)
{
    (void)state;
    sg_sn_token_cache *c = sg_sn_token_cache_new();
    uint8_t a[SG_SHA256_LEN];
    key_of("credentials a", a);
    sg_sn_token_cache_put(c, a, "tok-1", 1799, 1000);
    sg_sn_token_cache_clear(c);
    expect(c, a, 1000, NULL);
    sg_sn_token_cache_put(c, a, "tok-2", INT64_MAX, 1000);
    expect(c, a, 1000 + 86400 - SG_SN_TOKEN_MARGIN - 1, "tok-2");
    expect(c, a, 1000 + 86400 - SG_SN_TOKEN_MARGIN, NULL);
    sg_sn_token_cache_free(c);
    sg_sn_token_cache_clear(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_and_expiry),
        cmocka_unit_test(test_forget),
        cmocka_unit_test(test_clear_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
