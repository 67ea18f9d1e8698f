/* Tests for gate/servicenow/webhook_keys, through the receiver (sg_webhook_receive) on a real
 * store: the cached secrets verify without the store; a write here drops them at once; a
 * write by another replica is found by a delivery the cache refuses, or by the periodic
 * check; the previous secret ends with its grace even in the cache; a forged signature costs
 * one read and nothing more, and fails; concurrent deliveries while the cache is dropped. */
#include "e2e/harness.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/webhook_sig.h"
#include "gate/secrets.h"
#include "gate/servicenow/integration.h"
#include "gate/servicenow/webhook.h"
#include "gate/servicenow/webhook_keys.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const sg_embed_file sg_gate_migrations[];

#define GRACE  3600
#define FORGED "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define BODY   "{\"type\":\"sc_request.updated\",\"table\":\"sc_request\"}"

/* Two replicas on one store: the app under test, and `other`, with the same master key and
 * a cache of its own. */
typedef struct fx {
    h_store st;
    sg_app app, other;
    int64_t now;
    int seq;
} fx;

static void app_on(fx *f, sg_app *app)
{
    memset(app, 0, sizeof(*app));
    app->store = f->st.st;
    app->cfg.allow_insecure_loopback = true;
    char key[512];
    snprintf(key, sizeof(key), "%s/master.key", f->st.dir);
    assert_int_equal(sg_secrets_open(key, &app->secrets), SG_OK);
    app->webhook_keys = sg_webhook_keys_new();
}

static void app_done(sg_app *app)
{
    sg_webhook_keys_free(app->webhook_keys);
    sg_secrets_close(&app->secrets);
}

static int setup(void **state)
{
    fx *f = sg_xcalloc(1, sizeof(*f));
    h_store_fresh(&f->st, "whkeys", sg_gate_migrations);
    app_on(f, &f->app);
    app_on(f, &f->other);
    f->now = 1700000000;
    sg_metrics_reset();
    /* A new integration gets its signing secret. */
    assert_int_equal(sg_integration_put(&f->app, "http://127.0.0.1:9", "client", "cs"), SG_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    app_done(&f->app);
    app_done(&f->other);
    h_store_done(&f->st);
    free(f);
    return 0;
}

/* A delivery to app signed with secret at f->now + at (seconds), as ServiceNow signs. */
static int deliver_at(fx *f, sg_app *app, const char *secret, int64_t at)
{
    int64_t now = f->now + at;
    char id[32], ts[24];
    snprintf(id, sizeof(id), "msg_%d", ++f->seq);
    snprintf(ts, sizeof(ts), "%lld", (long long)now);
    sg_buf sig = SG_BUF_INIT(0);
    assert_int_equal(sg_webhook_sig_sign(secret, id, now, BODY, strlen(BODY), &sig), SG_OK);
    bool dup = true;
    int rc = sg_webhook_receive(app, id, ts, sg_buf_str(&sig), BODY, strlen(BODY), now, &dup);
    if (rc == SG_OK)
        assert_false(dup);
    sg_buf_free(&sig);
    return rc;
}

static int deliver(fx *f, const char *secret)
{
    return deliver_at(f, &f->app, secret, 0);
}

/* How many times the receivers read the secrets from the store, by result (loaded: decrypted;
 * unchanged; not_configured). */
static long reads(const char *result)
{
    sg_buf out = SG_BUF_INIT(0);
    sg_metrics_render(&out, NULL);
    char want[128];
    snprintf(want, sizeof(want), "snowgate_webhook_secret_reads_total{result=\"%s\"} ", result);
    const char *p = strstr(sg_buf_str(&out), want);
    long n = p ? strtol(p + strlen(want), NULL, 10) : 0;
    sg_buf_free(&out);
    return n;
}

static char *current_secret(fx *f)
{
    char *s = NULL;
    assert_int_equal(sg_integration_webhook_secret(&f->app, &s), SG_OK);
    return s;
}

/* The first delivery reads and decrypts; the next ones verify from the cache alone, until the
 * periodic check, which reads without decrypting. */
static void test_cached_path(void **state)
{
    fx *f = *state;
    char *secret = current_secret(f);
    assert_int_equal(deliver(f, secret), SG_OK);
    assert_int_equal(reads("loaded"), 1);
    for (int i = 0; i < 5; i++)
        assert_int_equal(deliver_at(f, &f->app, secret, i), SG_OK);
    assert_int_equal(reads("loaded"), 1);
    assert_int_equal(reads("unchanged"), 0);
    /* Missing headers and a stale timestamp are refused before any secret is looked at. */
    bool dup = false;
    assert_int_equal(
        sg_webhook_receive(&f->app, "msg_x", NULL, "v1,x", BODY, strlen(BODY), f->now, &dup),
        SG_EAUTH);
    assert_int_equal(
        sg_webhook_receive(&f->app, "msg_x", "1", "v1,x", BODY, strlen(BODY), f->now, &dup),
        SG_EAUTH);
    assert_int_equal(reads("unchanged"), 0);
    /* Due for its check: one read, nothing decrypted, and the cache holds again. */
    assert_int_equal(deliver_at(f, &f->app, secret, SG_WEBHOOK_KEYS_RECHECK), SG_OK);
    assert_int_equal(reads("unchanged"), 1);
    assert_int_equal(deliver_at(f, &f->app, secret, SG_WEBHOOK_KEYS_RECHECK + 1), SG_OK);
    assert_int_equal(reads("unchanged"), 1);
    assert_int_equal(reads("loaded"), 1);
    sg_secrets_free_plain(secret);
}

/* A forged signature is refused, at the cost of one read and no decryption, every time. */
static void test_forged(void **state)
{
    fx *f = *state;
    char *secret = current_secret(f);
    assert_int_equal(deliver(f, secret), SG_OK);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(deliver(f, FORGED), SG_EAUTH);
        assert_int_equal(reads("unchanged"), i);
        assert_int_equal(reads("loaded"), 1);
    }
    /* And on a cold cache: one read, one decryption. */
    sg_webhook_keys_forget(f->app.webhook_keys);
    assert_int_equal(deliver(f, FORGED), SG_EAUTH);
    assert_int_equal(reads("loaded"), 2);
    assert_int_equal(reads("unchanged"), 3);
    /* Tampered: the right secret over another body. */
    sg_buf sig = SG_BUF_INIT(0);
    char ts[24];
    snprintf(ts, sizeof(ts), "%lld", (long long)f->now);
    assert_int_equal(sg_webhook_sig_sign(secret, "msg_t", f->now, BODY, strlen(BODY), &sig), SG_OK);
    bool dup = false;
    assert_int_equal(
        sg_webhook_receive(&f->app, "msg_t", ts, sg_buf_str(&sig), "{}", 2, f->now, &dup),
        SG_EAUTH);
    sg_buf_free(&sig);
    sg_secrets_free_plain(secret);
}

/* A rotation here is seen by the very next delivery, even one the stale cache would take:
 * with no grace, the old secret is refused at once. */
static void test_rotation_here(void **state)
{
    fx *f = *state;
    char *old = current_secret(f);
    assert_int_equal(deliver(f, old), SG_OK);
    char *fresh = NULL;
    assert_int_equal(sg_integration_rotate_begin(&f->app, f->now, 0, &fresh), SG_OK);
    assert_int_equal(deliver(f, old), SG_EAUTH);
    assert_int_equal(deliver(f, fresh), SG_OK);
    assert_int_equal(reads("loaded"), 2);
    /* ServiceNow did not take it: the old one is current again at once, the new one still
     * counts for the grace. */
    assert_int_equal(sg_integration_rotate_end(&f->app, false, f->now, GRACE), SG_OK);
    assert_int_equal(deliver(f, old), SG_OK);
    assert_int_equal(deliver(f, fresh), SG_OK);
    sg_secrets_free_plain(fresh);
    /* With a grace: both count. */
    assert_int_equal(sg_integration_rotate_begin(&f->app, f->now, GRACE, &fresh), SG_OK);
    assert_int_equal(sg_integration_rotate_end(&f->app, true, f->now, GRACE), SG_OK);
    assert_int_equal(deliver(f, fresh), SG_OK);
    assert_int_equal(deliver(f, old), SG_OK);
    assert_int_equal(deliver(f, FORGED), SG_EAUTH);
    /* Removed here: not configured, whatever was cached. */
    assert_int_equal(sg_integration_delete(&f->app), SG_OK);
    assert_int_equal(deliver(f, old), SG_ENOTFOUND);
    assert_int_equal(deliver(f, fresh), SG_ENOTFOUND);
    assert_int_equal(reads("not_configured"), 2);
    /* Configured again: a new secret, and only it. */
    assert_int_equal(sg_integration_put(&f->app, "http://127.0.0.1:9", "client", "cs"), SG_OK);
    char *again = current_secret(f);
    assert_int_equal(deliver(f, again), SG_OK);
    assert_int_equal(deliver(f, fresh), SG_EAUTH);
    sg_secrets_free_plain(again);
    sg_secrets_free_plain(fresh);
    sg_secrets_free_plain(old);
}

/* Another replica rotates: this one, whose cache holds the old secret, takes the first
 * delivery signed with the new one (after one read and decryption), and the old one for the
 * grace. */
static void test_rotation_elsewhere(void **state)
{
    fx *f = *state;
    char *old = current_secret(f);
    assert_int_equal(deliver(f, old), SG_OK);
    char *fresh = NULL;
    assert_int_equal(sg_integration_rotate_begin(&f->other, f->now, GRACE, &fresh), SG_OK);
    assert_int_equal(sg_integration_rotate_end(&f->other, true, f->now, GRACE), SG_OK);
    long loaded = reads("loaded");
    assert_int_equal(deliver(f, fresh), SG_OK);
    assert_int_equal(reads("loaded"), loaded + 1);
    /* From the cache now, both of them. */
    assert_int_equal(deliver(f, fresh), SG_OK);
    long unchanged = reads("unchanged");
    assert_int_equal(deliver(f, old), SG_OK);
    /* The previous secret is confirmed against the store (read, not decrypted). */
    assert_int_equal(reads("unchanged"), unchanged + 1);
    assert_int_equal(reads("loaded"), loaded + 1);
    /* Another replica goes back to the old secret with no grace for the new one (a failed
     * rotation's end): the old one, cached as previous, is confirmed against the store, which
     * has changed, so this replica reads the change and takes it as current; the new one then
     * no longer counts. */
    assert_int_equal(sg_integration_rotate_end(&f->other, false, f->now, 0), SG_OK);
    assert_int_equal(deliver(f, old), SG_OK);
    assert_int_equal(reads("loaded"), loaded + 2);
    assert_int_equal(deliver(f, fresh), SG_EAUTH);
    sg_secrets_free_plain(fresh);
    sg_secrets_free_plain(old);
}

static int set_secret_tx(sg_conn *c, void *ctx)
{
    sg_val v[] = {SG_VTEXT((const char *)ctx)};
    return sg_conn_exec(c,
                        "UPDATE integrations SET webhook_secret = ?1, "
                        "webhook_secret_previous = NULL, webhook_secret_previous_until = NULL",
                        v, 1, NULL);
}

/* A secret written straight into the store (another replica, a restore): the next delivery
 * signed with it is taken; the one it replaced stops at the periodic check at the latest. */
static void test_changed_in_store(void **state)
{
    fx *f = *state;
    char *old = current_secret(f);
    assert_int_equal(deliver(f, old), SG_OK);
    static const char *const next = "whsec_c2VjcmV0LWZyb20tYW5vdGhlci1yZXBsaWNhLTEyMw==";
    char *sealed = NULL;
    assert_int_equal(
        sg_secrets_seal(&f->other.secrets, SG_INTEGRATION_SECRET_BINDING, next, &sealed), SG_OK);
    assert_int_equal(sg_store_tx(f->st.st, set_secret_tx, sealed), SG_OK);
    free(sealed);
    /* Still cached, until the check. */
    assert_int_equal(deliver_at(f, &f->app, old, 1), SG_OK);
    assert_int_equal(deliver_at(f, &f->app, old, SG_WEBHOOK_KEYS_RECHECK), SG_EAUTH);
    /* From a cold start as well as from a stale cache. */
    assert_int_equal(deliver_at(f, &f->app, next, SG_WEBHOOK_KEYS_RECHECK), SG_OK);
    assert_int_equal(deliver_at(f, &f->other, next, 0), SG_OK);
    assert_int_equal(deliver_at(f, &f->other, old, 0), SG_EAUTH);
    /* Deleted by another replica: not configured here by the check at the latest. */
    assert_int_equal(sg_integration_delete(&f->other), SG_OK);
    assert_int_equal(deliver_at(f, &f->app, next, 2 * SG_WEBHOOK_KEYS_RECHECK), SG_ENOTFOUND);
    sg_secrets_free_plain(old);
}

/* The previous secret ends with its grace, even while the cache holding it is fresh. */
static void test_grace_ends_in_cache(void **state)
{
    fx *f = *state;
    char *old = current_secret(f);
    char *fresh = NULL;
    const int grace = 3; /* shorter than the check, so the cache is fresh when it ends */
    assert_int_equal(sg_integration_rotate_begin(&f->app, f->now, grace, &fresh), SG_OK);
    assert_int_equal(sg_integration_rotate_end(&f->app, true, f->now, grace), SG_OK);
    assert_int_equal(deliver_at(f, &f->app, old, 0), SG_OK);
    assert_int_equal(deliver_at(f, &f->app, fresh, 1), SG_OK);
    assert_int_equal(deliver_at(f, &f->app, old, grace - 1), SG_OK);
    long loaded = reads("loaded");
    assert_int_equal(deliver_at(f, &f->app, old, grace), SG_EAUTH);
    assert_int_equal(deliver_at(f, &f->app, old, grace + 1), SG_EAUTH);
    assert_int_equal(reads("loaded"), loaded);
    assert_int_equal(deliver_at(f, &f->app, fresh, grace + 1), SG_OK);
    /* A cache built after the grace never decrypts the previous one at all. */
    sg_webhook_keys_forget(f->app.webhook_keys);
    assert_int_equal(deliver_at(f, &f->app, old, grace + 2), SG_EAUTH);
    sg_secrets_free_plain(fresh);
    sg_secrets_free_plain(old);
}

static int cut_grace_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE integrations SET webhook_secret_previous_until = 1", NULL, 0,
                        NULL);
}

/* The grace cut short in the store (only the end changes): the previous secret, cached and
 * within its cached grace, is refused on its next use. */
static void test_grace_cut_in_store(void **state)
{
    fx *f = *state;
    char *old = current_secret(f);
    char *fresh = NULL;
    assert_int_equal(sg_integration_rotate_begin(&f->app, f->now, GRACE, &fresh), SG_OK);
    assert_int_equal(sg_integration_rotate_end(&f->app, true, f->now, GRACE), SG_OK);
    assert_int_equal(deliver(f, old), SG_OK);
    assert_int_equal(sg_store_tx(f->st.st, cut_grace_tx, NULL), SG_OK);
    assert_int_equal(deliver(f, old), SG_EAUTH);
    assert_int_equal(deliver(f, fresh), SG_OK);
    sg_secrets_free_plain(fresh);
    sg_secrets_free_plain(old);
}

/* A secret sealed under another master key (a replica started with the wrong key file): refused
 * as a bad signature would be, counted as an error, and nothing cached. */
static void test_wrong_master_key(void **state)
{
    fx *f = *state;
    char key[512];
    snprintf(key, sizeof(key), "%s/another.key", f->st.dir);
    sg_secrets other;
    assert_int_equal(sg_secrets_open(key, &other), SG_OK);
    char *sealed = NULL;
    assert_int_equal(sg_secrets_seal(&other, SG_INTEGRATION_SECRET_BINDING, FORGED, &sealed),
                     SG_OK);
    sg_secrets_close(&other);
    assert_int_equal(sg_store_tx(f->st.st, set_secret_tx, sealed), SG_OK);
    free(sealed);
    assert_int_equal(deliver(f, FORGED), SG_EAUTH);
    assert_int_equal(deliver(f, FORGED), SG_EAUTH);
    assert_int_equal(reads("loaded"), 2);
    sg_buf out = SG_BUF_INIT(0);
    sg_metrics_render(&out, NULL);
    assert_non_null(strstr(sg_buf_str(&out),
                           "snowgate_webhooks_total{outcome=\"rejected\",reason=\"error\"} 2"));
    sg_buf_free(&out);
}

/* Without a cache (commands, tests that build an app by hand): each delivery reads. */
static void test_no_cache(void **state)
{
    fx *f = *state;
    sg_webhook_keys_free(f->app.webhook_keys);
    f->app.webhook_keys = NULL;
    char *secret = current_secret(f);
    assert_int_equal(deliver(f, secret), SG_OK);
    assert_int_equal(deliver(f, secret), SG_OK);
    assert_int_equal(deliver(f, FORGED), SG_EAUTH);
    assert_int_equal(reads("loaded"), 3);
    sg_secrets_free_plain(secret);
}

typedef struct worker {
    fx *f;
    const char *secret;
    atomic_int *running;
    int ok, refused;
} worker;

static void *verify_many(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 300; i++) {
        bool forged = i % 10 == 9;
        const char *secret = forged ? FORGED : w->secret;
        char ts[24];
        snprintf(ts, sizeof(ts), "%lld", (long long)w->f->now);
        sg_buf sig = SG_BUF_INIT(0);
        sg_webhook_sig_sign(secret, "msg_c", w->f->now, BODY, strlen(BODY), &sig);
        bool prev = false;
        int rc = sg_webhook_keys_verify(&w->f->app, "msg_c", ts, sg_buf_str(&sig), BODY,
                                        strlen(BODY), w->f->now, &prev);
        sg_buf_free(&sig);
        if (rc == SG_OK && !forged)
            w->ok++;
        else if (rc == SG_EAUTH && forged)
            w->refused++;
    }
    atomic_fetch_sub(w->running, 1);
    return NULL;
}

/* Many threads verify while the cache is dropped over and over: every genuine signature
 * passes, every forged one fails (and ASan sees no secret freed while in use). */
static void test_concurrent(void **state)
{
    fx *f = *state;
    char *secret = current_secret(f);
    worker w[4];
    pthread_t th[4];
    atomic_int running = 4;
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){f, secret, &running, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, verify_many, &w[i]), 0);
    }
    while (atomic_load(&running) > 0) {
        sg_webhook_keys_forget(f->app.webhook_keys);
        sched_yield();
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].ok, 270);
        assert_int_equal(w[i].refused, 30);
    }
    sg_secrets_free_plain(secret);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cached_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_here, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_in_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grace_ends_in_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grace_cut_in_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_master_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
