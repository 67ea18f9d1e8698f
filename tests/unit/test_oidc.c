/* Tests for gate/sso/oidc: discovery documents, the JWKS cache and its refetch limit, ID token
 * verification against crafted tokens (keys made here, tokens signed with cjose), the
 * authorization URL and the token exchange, against a provider played in process. */
#include "e2e/harness.h"

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"
#include "core/mem.h"
#include "gate/sso/oidc.h"
#include "http/server.h"

#include <cjose/cjose.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ISSUER "https://idp.example.com"
#define CLIENT "snowgate"
#define NOW    1800000000

/* ---------------------------------------------------------------- the provider, in process */

typedef struct fake_idp {
    char *discovery;
    char *jwks;
    long jwks_status;
    int discovery_fetches, jwks_fetches;
    long token_status;
    char *token_body;
    int token_rc; /* a transport failure of the token endpoint */
    char *last_form, *last_auth;
    pthread_mutex_t mu;
} fake_idp;

static void answer(sg_http_response *res, long status, const char *body)
{
    res->status = status;
    sg_buf_puts(&res->body, body ? body : "");
}

static int fake_http(void *ctx, const sg_http_client_opts *opts, const char *method,
                     const char *url, const char *const *headers, const void *body, size_t len,
                     sg_http_response *res)
{
    fake_idp *f = ctx;
    memset(res, 0, sizeof(*res));
    res->body.max = opts->max_response;
    pthread_mutex_lock(&f->mu);
    int rc = SG_OK;
    if (strcmp(url, ISSUER "/.well-known/openid-configuration") == 0) {
        f->discovery_fetches++;
        answer(res, 200, f->discovery);
    } else if (strcmp(url, ISSUER "/jwks") == 0) {
        f->jwks_fetches++;
        answer(res, f->jwks_status, f->jwks);
    } else if (strcmp(url, ISSUER "/token") == 0 && strcmp(method, "POST") == 0) {
        free(f->last_form);
        free(f->last_auth);
        f->last_form = sg_xstrndup(body, len);
        f->last_auth = NULL;
        for (size_t i = 0; headers && headers[i]; i++)
            if (strncmp(headers[i], "Authorization: ", 15) == 0)
                f->last_auth = sg_xstrdup(headers[i] + 15);
        rc = f->token_rc;
        if (rc == SG_OK)
            answer(res, f->token_status, f->token_body);
        else
            sg_err_set(rc, "connection refused");
    } else {
        answer(res, 404, "{}");
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static const char *DISCOVERY = "{\"issuer\":\"" ISSUER "\","
                               "\"authorization_endpoint\":\"" ISSUER "/authorize?tenant=a\","
                               "\"token_endpoint\":\"" ISSUER "/token\","
                               "\"userinfo_endpoint\":\"" ISSUER "/userinfo\","
                               "\"jwks_uri\":\"" ISSUER "/jwks\"}";

/* ---------------------------------------------------------------- keys and tokens */

static cjose_jwk_t *rsa1, *rsa2, *ec1;

static cjose_jwk_t *with_kid(cjose_jwk_t *k, const char *kid)
{
    assert_non_null(k);
    assert_true(cjose_jwk_set_kid(k, kid, strlen(kid), NULL));
    return k;
}

static int keys_setup(void **state)
{
    (void)state;
    static const uint8_t e[] = {1, 0, 1};
    rsa1 = with_kid(cjose_jwk_create_RSA_random(2048, e, sizeof(e), NULL), "k1");
    rsa2 = with_kid(cjose_jwk_create_RSA_random(2048, e, sizeof(e), NULL), "k2");
    ec1 = with_kid(cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, NULL), "e1");
    return 0;
}

static int keys_teardown(void **state)
{
    (void)state;
    cjose_jwk_release(rsa1);
    cjose_jwk_release(rsa2);
    cjose_jwk_release(ec1);
    return 0;
}

/* A JWKS of the public halves of the keys given (NULL-terminated). The caller frees it. */
static char *jwks_of(cjose_jwk_t *first, ...)
{
    sg_buf b = SG_BUF_INIT(0);
    sg_buf_puts(&b, "{\"keys\":[");
    va_list ap;
    va_start(ap, first);
    for (cjose_jwk_t *k = first; k; k = va_arg(ap, cjose_jwk_t *)) {
        char *pub = cjose_jwk_to_json(k, false, NULL);
        assert_non_null(pub);
        sg_buf_printf(&b, "%s%s", k == first ? "" : ",", pub);
        free(pub);
    }
    va_end(ap);
    sg_buf_puts(&b, "]}");
    return sg_buf_detach(&b, NULL);
}

static char *b64url(const char *s)
{
    sg_buf b = SG_BUF_INIT(0);
    sg_base64_encode(s, strlen(s), true, &b);
    return sg_buf_detach(&b, NULL);
}

/* The claims of a good token at NOW; tests change them. */
static sg_json *good_claims(void)
{
    sg_json *c = sg_json_object();
    sg_json_set_str(c, "iss", ISSUER);
    sg_json_set_str(c, "sub", "user-123");
    sg_json_set_str(c, "aud", CLIENT);
    sg_json_set_int(c, "iat", NOW - 10);
    sg_json_set_int(c, "exp", NOW + 300);
    sg_json_set_str(c, "nonce", "n-0S6_WzA2Mj");
    sg_json_set_str(c, "email", "ada@example.com");
    sg_json_set_bool(c, "email_verified", true);
    sg_json_set_str(c, "name", "Ada Lovelace");
    sg_json_set_str(c, "preferred_username", "ada");
    sg_json *g = sg_json_array();
    sg_json_append(g, sg_json_string("data-stewards"));
    sg_json_append(g, sg_json_string("everyone"));
    sg_json_set(c, "groups", g);
    return c;
}

/* Signs claims (consumed) with key under alg, header kid `kid` (NULL: none). Caller frees. */
static char *sign(cjose_jwk_t *key, const char *alg, const char *kid, sg_json *claims)
{
    char *payload = sg_json_dump(claims);
    sg_json_decref(claims);
    cjose_err err;
    cjose_header_t *h = cjose_header_new(&err);
    assert_true(cjose_header_set(h, CJOSE_HDR_ALG, alg, &err));
    assert_true(cjose_header_set(h, "typ", "JWT", &err));
    if (kid)
        assert_true(cjose_header_set(h, CJOSE_HDR_KID, kid, &err));
    cjose_jws_t *jws = cjose_jws_sign(key, h, (const uint8_t *)payload, strlen(payload), &err);
    if (!jws)
        fail_msg("cjose_jws_sign(%s): %s", alg, err.message);
    const char *ser = NULL;
    assert_true(cjose_jws_export(jws, &ser, &err));
    char *out = sg_xstrdup(ser);
    cjose_jws_release(jws);
    cjose_header_release(h);
    free(payload);
    return out;
}

/* ---------------------------------------------------------------- fixtures */

typedef struct fixture {
    fake_idp idp;
    sg_oidc_provider *p;
} fixture;

static void fixture_init(fixture *fx, char *jwks)
{
    memset(fx, 0, sizeof(*fx));
    pthread_mutex_init(&fx->idp.mu, NULL);
    fx->idp.discovery = sg_xstrdup(DISCOVERY);
    fx->idp.jwks = jwks;
    fx->idp.jwks_status = 200;
    sg_oidc_config cfg = SG_OIDC_CONFIG_INIT;
    cfg.issuer = ISSUER;
    cfg.client_id = CLIENT;
    cfg.client_secret = "s3cret:+/";
    cfg.redirect_uri = "https://gate.example.com/auth/oidc/callback";
    cfg.http = fake_http;
    cfg.http_ctx = &fx->idp;
    assert_int_equal(sg_oidc_provider_new(&cfg, &fx->p), SG_OK);
}

static void fixture_free(fixture *fx)
{
    sg_oidc_provider_free(fx->p);
    free(fx->idp.discovery);
    free(fx->idp.jwks);
    free(fx->idp.token_body);
    free(fx->idp.last_form);
    free(fx->idp.last_auth);
    pthread_mutex_destroy(&fx->idp.mu);
}

static void set_jwks(fixture *fx, char *jwks)
{
    free(fx->idp.jwks);
    fx->idp.jwks = jwks;
}

/* Verifies token (consumed) at `now`; expects a refusal whose message contains `why`, or
 * success when why is NULL. */
static void expect_at(fixture *fx, char *token, const char *nonce, int64_t now, const char *why)
{
    sg_oidc_claims c;
    int rc = sg_oidc_verify_id_token(fx->p, token, nonce, now, &c);
    free(token);
    if (!why) {
        if (rc != SG_OK)
            fail_msg("refused: %s", sg_err_msg());
        sg_oidc_claims_clear(&c);
        return;
    }
    if (rc != SG_EAUTH || !strstr(sg_err_msg(), why))
        fail_msg("wanted a refusal with \"%s\", got %d: %s", why, rc, sg_err_msg());
    assert_non_null(strstr(sg_err_msg(), "ID token refused: "));
    assert_null(c.sub);
}

static void expect(fixture *fx, char *token, const char *why)
{
    expect_at(fx, token, "n-0S6_WzA2Mj", NOW, why);
}

/* ---------------------------------------------------------------- ID tokens */

static void test_good_tokens(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx, jwks_of(rsa1, ec1, NULL));
    sg_oidc_claims c;
    char *t = sign(rsa1, "RS256", "k1", good_claims());
    assert_int_equal(sg_oidc_verify_id_token(fx.p, t, "n-0S6_WzA2Mj", NOW, &c), SG_OK);
    free(t);
    assert_string_equal(c.sub, "user-123");
    assert_string_equal(c.email, "ada@example.com");
    assert_true(c.email_verified);
    assert_string_equal(c.name, "Ada Lovelace");
    assert_string_equal(c.preferred_username, "ada");
    assert_int_equal(c.ngroups, 2);
    assert_string_equal(c.groups[0], "data-stewards");
    assert_string_equal(c.groups[1], "everyone");
    sg_oidc_claims_clear(&c);
    assert_int_equal(fx.idp.discovery_fetches, 1);
    assert_int_equal(fx.idp.jwks_fetches, 1);

    expect(&fx, sign(rsa1, "PS256", "k1", good_claims()), NULL);
    expect(&fx, sign(ec1, "ES256", "e1", good_claims()), NULL);
    /* Without a kid, the one key that fits the alg. */
    expect(&fx, sign(ec1, "ES256", NULL, good_claims()), NULL);
    /* Several audiences with azp naming us. */
    sg_json *cl = good_claims();
    sg_json *aud = sg_json_array();
    sg_json_append(aud, sg_json_string("other-app"));
    sg_json_append(aud, sg_json_string(CLIENT));
    sg_json_set(cl, "aud", aud);
    sg_json_set_str(cl, "azp", CLIENT);
    expect(&fx, sign(rsa1, "RS256", "k1", cl), NULL);
    /* Within the clock skew either way. */
    cl = good_claims();
    sg_json_set_int(cl, "exp", NOW - 119);
    sg_json_set_int(cl, "nbf", NOW + 119);
    sg_json_set_int(cl, "iat", NOW + 119);
    expect(&fx, sign(rsa1, "RS256", "k1", cl), NULL);
    /* The keys were fetched once for all of these. */
    assert_int_equal(fx.idp.jwks_fetches, 1);
    fixture_free(&fx);
}

static void test_claims_refused(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx, jwks_of(rsa1, NULL));
    sg_json *c = good_claims();
    sg_json_set_str(c, "iss", ISSUER "/");
    expect(&fx, sign(rsa1, "RS256", "k1", c), "iss \"" ISSUER "/\" is not the issuer");
    c = good_claims();
    sg_json_set_str(c, "aud", "other-app");
    expect(&fx, sign(rsa1, "RS256", "k1", c), "aud does not contain the client id");
    c = good_claims();
    sg_json *aud = sg_json_array();
    sg_json_append(aud, sg_json_string(CLIENT));
    sg_json_append(aud, sg_json_string("other-app"));
    sg_json_set(c, "aud", aud);
    expect(&fx, sign(rsa1, "RS256", "k1", sg_json_incref(c)), "there is no azp claim");
    sg_json_set_str(c, "azp", "other-app");
    expect(&fx, sign(rsa1, "RS256", "k1", c), "azp is not the client id");
    c = good_claims();
    sg_json_set_int(c, "exp", NOW - 121);
    expect(&fx, sign(rsa1, "RS256", "k1", c), "expired 121 s ago");
    c = good_claims();
    sg_json_set_int(c, "nbf", NOW + 121);
    expect(&fx, sign(rsa1, "RS256", "k1", c), "not valid before 121 s from now");
    c = good_claims();
    sg_json_set_int(c, "iat", NOW + 600);
    expect(&fx, sign(rsa1, "RS256", "k1", c), "issued 600 s in the future");
    expect(&fx, sign(rsa1, "RS256", "k1", good_claims()), NULL);
    expect_at(&fx, sign(rsa1, "RS256", "k1", good_claims()), "another-nonce", NOW,
              "the nonce is not the one this sign-in sent");
    expect_at(&fx, sign(rsa1, "RS256", "k1", good_claims()), NULL, NOW,
              "the nonce is not the one this sign-in sent");
    /* An empty expected nonce never matches, not even an empty claim. */
    c = good_claims();
    sg_json_set_str(c, "nonce", "");
    expect_at(&fx, sign(rsa1, "RS256", "k1", c), "", NOW,
              "the nonce is not the one this sign-in sent");
    c = good_claims();
    sg_json_set(c, "nonce", sg_json_null());
    expect(&fx, sign(rsa1, "RS256", "k1", c), "no nonce claim");
    c = good_claims();
    sg_json_set_str(c, "groups", "data-stewards");
    expect(&fx, sign(rsa1, "RS256", "k1", c), "the groups claim \"groups\" is not an array");
    c = good_claims();
    sg_json *g = sg_json_array();
    sg_json_append(g, sg_json_integer(7));
    sg_json_set(c, "groups", g);
    expect(&fx, sign(rsa1, "RS256", "k1", c), "not an array of strings");
    c = good_claims();
    sg_json_set_str(c, "sub", "");
    expect(&fx, sign(rsa1, "RS256", "k1", c), "no sub claim");
    fixture_free(&fx);
}

/* A compact token from a header text and a claims object (consumed), with the signature part
 * given. The caller frees it. */
static char *unsigned_token(const char *header, sg_json *claims, const char *sig)
{
    char *payload = sg_json_dump(claims);
    sg_json_decref(claims);
    char *h = b64url(header), *b = b64url(payload);
    char *t = sg_xasprintf("%s.%s.%s", h, b, sig);
    free(h);
    free(b);
    free(payload);
    return t;
}

/* Tokens that must never reach the claims: unsigned, HMAC with the public key as the secret,
 * a key of another type, a payload changed after signing. */
static void test_signature_refused(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx, jwks_of(rsa1, ec1, NULL));
    expect(&fx, unsigned_token("{\"alg\":\"none\",\"kid\":\"k1\"}", good_claims(), ""),
           "alg \"none\" is not accepted");
    expect(&fx, unsigned_token("{\"kid\":\"k1\"}", good_claims(), "AAAA"),
           "alg \"(missing)\" is not accepted");
    /* The classic confusion: HS256 keyed with the bytes of the published RSA key. */
    char *pub = cjose_jwk_to_json(rsa1, false, NULL);
    cjose_jwk_t *hmac = cjose_jwk_create_oct_spec((const uint8_t *)pub, strlen(pub), NULL);
    assert_non_null(hmac);
    expect(&fx, sign(hmac, "HS256", "k1", good_claims()), "alg \"HS256\" is not accepted");
    cjose_jwk_release(hmac);
    free(pub);
    /* An EC signature under the RSA key's kid, and the other way round. */
    expect(&fx, sign(ec1, "ES256", "k1", good_claims()),
           "the key with this kid does not fit the alg");
    expect(&fx, sign(rsa1, "RS256", "e1", good_claims()),
           "the key with this kid does not fit the alg");
    /* A payload changed after signing. */
    char *t = sign(rsa1, "RS256", "k1", good_claims());
    sg_json *c = good_claims();
    sg_json_set_str(c, "sub", "admin");
    char *forged = unsigned_token("{\"alg\":\"RS256\",\"kid\":\"k1\"}", c, strrchr(t, '.') + 1);
    free(t);
    expect(&fx, forged, "the signature does not verify");
    /* Signed by a key the provider does not publish, under a kid it does. */
    expect(&fx, sign(rsa2, "RS256", "k1", good_claims()), "the signature does not verify");
    expect(&fx, sg_xstrdup("a.b"), "not a compact JWS");
    expect(&fx, sg_xstrdup("a.b.c.d.e"), "not a compact JWS");
    expect(&fx, sg_xstrdup("!!!.b.c"), "the header is not base64url JSON");
    /* cjose's decoder aborts on a base64url text of length 4k+1: such parts never reach it. */
    char *good = sign(rsa1, "RS256", "k1", good_claims());
    size_t slen = strlen(strrchr(good, '.') + 1);
    char *bad = sg_xasprintf("%s%.*s", good, (int)((5 - slen % 4) % 4), "AAA");
    assert_int_equal(strlen(strrchr(bad, '.') + 1) % 4, 1);
    expect(&fx, bad, "the payload or the signature is empty or not base64url");
    bad = sg_xstrdup(good);
    *strrchr(bad, '.') = '\0';
    char *bad2 = sg_xasprintf("%s.", bad);
    free(bad);
    expect(&fx, bad2, "the payload or the signature is empty or not base64url");
    bad = sg_xstrdup(good);
    memmove(strchr(bad, '.') + 1, strchr(bad, '.') + 2, strlen(strchr(bad, '.') + 2) + 1);
    expect(&fx, bad, "not base64url");
    free(good);
    expect(&fx,
           unsigned_token("{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}", good_claims(),
                          "AAAA"),
           "crit");
    fixture_free(&fx);
}

/* Key rotation: an unknown kid refetches the JWKS, at most once per refetch interval. */
static void test_unknown_kid(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx, jwks_of(rsa1, NULL));
    assert_int_equal(sg_oidc_provider_discover(fx.p, NOW), SG_OK);
    assert_int_equal(fx.idp.jwks_fetches, 1);
    /* Within the interval of the first fetch: no refetch, refused. */
    set_jwks(&fx, jwks_of(rsa1, rsa2, NULL));
    expect_at(&fx, sign(rsa2, "RS256", "k2", good_claims()), "n-0S6_WzA2Mj", NOW + 30,
              "unknown kid (kid \"k2\"");
    assert_int_equal(fx.idp.jwks_fetches, 1);
    /* After it: the provider rotated to k2, one refetch finds it. */
    sg_json *c = good_claims();
    sg_json_set_int(c, "exp", NOW + 5000);
    expect_at(&fx, sign(rsa2, "RS256", "k2", sg_json_incref(c)), "n-0S6_WzA2Mj", NOW + 60, NULL);
    assert_int_equal(fx.idp.jwks_fetches, 2);
    /* A kid nobody publishes: one refetch, then none within the interval. */
    expect_at(&fx, sign(rsa2, "RS256", "k9", sg_json_incref(c)), "n-0S6_WzA2Mj", NOW + 130,
              "unknown kid");
    assert_int_equal(fx.idp.jwks_fetches, 3);
    for (int i = 0; i < 5; i++)
        expect_at(&fx, sign(rsa2, "RS256", "k9", sg_json_incref(c)), "n-0S6_WzA2Mj",
                  NOW + 131 + i * 10, "fetched again at most every 60 s");
    assert_int_equal(fx.idp.jwks_fetches, 3);
    expect_at(&fx, sign(rsa2, "RS256", "k9", sg_json_incref(c)), "n-0S6_WzA2Mj", NOW + 190,
              "unknown kid");
    assert_int_equal(fx.idp.jwks_fetches, 4);
    /* A clock set back does not stop the refetches. */
    expect_at(&fx, sign(rsa2, "RS256", "k9", sg_json_incref(c)), "n-0S6_WzA2Mj", NOW + 100,
              "unknown kid");
    assert_int_equal(fx.idp.jwks_fetches, 5);
    expect_at(&fx, sign(rsa2, "RS256", "k9", sg_json_incref(c)), "n-0S6_WzA2Mj", NOW + 101,
              "fetched again at most every 60 s");
    assert_int_equal(fx.idp.jwks_fetches, 5);
    /* Past the JWKS lifetime the keys are fetched again; a failing provider leaves the cached
     * ones in use. */
    fx.idp.jwks_status = 503;
    expect_at(&fx, sign(rsa2, "RS256", "k2", sg_json_incref(c)), "n-0S6_WzA2Mj", NOW + 101 + 3600,
              NULL);
    assert_int_equal(fx.idp.jwks_fetches, 6);
    sg_json_decref(c);
    fixture_free(&fx);
}

/* A provider whose JWKS cannot be had: SG_EUNAVAIL, not a refusal of the token. */
static void test_jwks_unavailable(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx, jwks_of(rsa1, NULL));
    fx.idp.jwks_status = 502;
    sg_oidc_claims c;
    char *t = sign(rsa1, "RS256", "k1", good_claims());
    assert_int_equal(sg_oidc_verify_id_token(fx.p, t, "n-0S6_WzA2Mj", NOW, &c), SG_EUNAVAIL);
    assert_non_null(strstr(sg_err_msg(), "JWKS"));
    /* Not fetched again within the refetch interval, and still the provider's fault. */
    fx.idp.jwks_status = 200;
    assert_int_equal(sg_oidc_verify_id_token(fx.p, t, "n-0S6_WzA2Mj", NOW + 59, &c), SG_EUNAVAIL);
    assert_non_null(strstr(sg_err_msg(), "could not be fetched 59 s ago"));
    assert_int_equal(fx.idp.jwks_fetches, 1);
    assert_int_equal(sg_oidc_verify_id_token(fx.p, t, "n-0S6_WzA2Mj", NOW + 60, &c), SG_OK);
    assert_int_equal(fx.idp.jwks_fetches, 2);
    sg_oidc_claims_clear(&c);
    free(t);
    fixture_free(&fx);
}

typedef struct worker_arg {
    fixture *fx;
    char *token;
    int ok;
} worker_arg;

static void *verify_worker(void *arg)
{
    worker_arg *w = arg;
    for (int i = 0; i < 20; i++) {
        sg_oidc_claims c;
        if (sg_oidc_verify_id_token(w->fx->p, w->token, "n-0S6_WzA2Mj", NOW + 60 * i, &c) == SG_OK)
            w->ok++;
        sg_oidc_claims_clear(&c);
    }
    return NULL;
}

/* Threads share one provider while unknown kids make it refetch. */
static void test_threads(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx, jwks_of(rsa1, ec1, NULL));
    sg_json *c = good_claims();
    sg_json_set_int(c, "exp", NOW + 3600);
    worker_arg w[4] = {{&fx, sign(rsa1, "RS256", "k1", sg_json_incref(c)), 0},
                       {&fx, sign(ec1, "ES256", "e1", sg_json_incref(c)), 0},
                       {&fx, sign(rsa2, "RS256", "k2", sg_json_incref(c)), 0},
                       {&fx, sign(rsa1, "PS256", "k1", sg_json_incref(c)), 0}};
    sg_json_decref(c);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, verify_worker, &w[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        free(w[i].token);
    }
    assert_int_equal(w[0].ok, 20);
    assert_int_equal(w[1].ok, 20);
    assert_int_equal(w[2].ok, 0);
    assert_int_equal(w[3].ok, 20);
    fixture_free(&fx);
}

/* ---------------------------------------------------------------- documents */

static void expect_discovery(const char *doc, bool insecure, const char *why)
{
    sg_oidc_discovery d;
    int rc = sg_oidc_discovery_parse(doc, strlen(doc), ISSUER, insecure, &d);
    if (!why) {
        if (rc != SG_OK)
            fail_msg("refused: %s", sg_err_msg());
        sg_oidc_discovery_clear(&d);
        return;
    }
    if (rc != SG_EINVAL || !strstr(sg_err_msg(), why))
        fail_msg("wanted SG_EINVAL with \"%s\", got %d: %s", why, rc, sg_err_msg());
    assert_null(d.issuer);
}

static void test_discovery(void **state)
{
    (void)state;
    sg_oidc_discovery d;
    assert_int_equal(sg_oidc_discovery_parse(DISCOVERY, strlen(DISCOVERY), ISSUER, false, &d),
                     SG_OK);
    assert_string_equal(d.token_endpoint, ISSUER "/token");
    assert_string_equal(d.jwks_uri, ISSUER "/jwks");
    assert_string_equal(d.userinfo_endpoint, ISSUER "/userinfo");
    sg_oidc_discovery_clear(&d);
#define DOC(iss, tok)                                                                              \
    "{\"issuer\":\"" iss "\",\"authorization_endpoint\":\"https://idp.example.com/a\","            \
    "\"token_endpoint\":\"" tok "\",\"jwks_uri\":\"https://idp.example.com/j\"}"
    expect_discovery(DOC(ISSUER, "https://idp.example.com/t"), false, NULL);
    expect_discovery(DOC(ISSUER "/", "https://idp.example.com/t"), false,
                     "is not the configured issuer");
    expect_discovery(DOC("https://IDP.example.com", "https://idp.example.com/t"), false,
                     "is not the configured issuer");
    expect_discovery(DOC(ISSUER, "http://idp.example.com/t"), false,
                     "\"token_endpoint\" is refused");
    expect_discovery(DOC(ISSUER, "https://10.1.2.3/t"), false, "\"token_endpoint\" is refused");
    expect_discovery(DOC(ISSUER, "https://localhost/t"), false, "\"token_endpoint\" is refused");
    expect_discovery(DOC(ISSUER, "http://127.0.0.1:8080/t"), false,
                     "\"token_endpoint\" is refused");
    /* Loopback over http only with the tests' and the demo's flag. */
    expect_discovery(DOC(ISSUER, "http://127.0.0.1:8080/t"), true, NULL);
    expect_discovery(DOC(ISSUER, "http://10.1.2.3/t"), true, "\"token_endpoint\" is refused");
    expect_discovery("{\"issuer\":\"" ISSUER "\",\"authorization_endpoint\":\"https://i/a\","
                     "\"token_endpoint\":\"https://i/t\"}",
                     false, "no \"jwks_uri\"");
    expect_discovery("{\"issuer\":\"" ISSUER "\",\"authorization_endpoint\":\"https://i/a\","
                     "\"token_endpoint\":\"https://i/t\",\"jwks_uri\":7}",
                     false, "no \"jwks_uri\"");
    expect_discovery("[1]", false, "no \"issuer\"");
    expect_discovery("{", false, "not JSON");
#undef DOC
}

static void test_jwks_parse(void **state)
{
    (void)state;
    sg_oidc_jwks *k = NULL;
    char *doc = jwks_of(rsa1, ec1, NULL);
    assert_int_equal(sg_oidc_jwks_parse(doc, strlen(doc), &k), SG_OK);
    assert_int_equal(sg_oidc_jwks_count(k), 2);
    sg_oidc_jwks_free(k);
    free(doc);
    /* Symmetric keys, encryption keys and unknown types are skipped. */
    const char *skip = "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},"
                       "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"},\"x\",7]}";
    assert_int_equal(sg_oidc_jwks_parse(skip, strlen(skip), &k), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "no RSA"));
    char *pub = cjose_jwk_to_json(rsa1, false, NULL);
    char *enc = sg_xasprintf("{\"keys\":[%.*s,\"use\":\"enc\"}]}", (int)strlen(pub) - 1, pub);
    assert_int_equal(sg_oidc_jwks_parse(enc, strlen(enc), &k), SG_EINVAL);
    free(enc);
    free(pub);
    /* A member cjose's decoder would abort on (length 4k+1) skips the key, not the process. */
    pub = cjose_jwk_to_json(ec1, false, NULL);
    char *bad = sg_xasprintf("{\"keys\":[%.*s,\"x\":\"AAAAA\"}]}", (int)strlen(pub) - 1, pub);
    assert_int_equal(sg_oidc_jwks_parse(bad, strlen(bad), &k), SG_EINVAL);
    free(bad);
    free(pub);
    assert_int_equal(sg_oidc_jwks_parse("{}", 2, &k), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "no \"keys\" array"));
    /* RSA keys under 2048 bits are refused. */
    static const uint8_t e[] = {1, 0, 1};
    cjose_jwk_t *small = cjose_jwk_create_RSA_random(1024, e, sizeof(e), NULL);
    doc = jwks_of(small, NULL);
    assert_int_equal(sg_oidc_jwks_parse(doc, strlen(doc), &k), SG_EINVAL);
    free(doc);
    cjose_jwk_release(small);
    assert_null(k);
}

/* ---------------------------------------------------------------- the authorization request */

static void test_auth_request(void **state)
{
    (void)state;
    /* RFC 7636, appendix B. */
    char *ch = sg_oidc_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_string_equal(ch, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    free(ch);

    fixture fx;
    fixture_init(&fx, jwks_of(rsa1, NULL));
    sg_oidc_auth_request a, b;
    assert_int_equal(sg_oidc_auth_request_new(fx.p, NOW, &a), SG_OK);
    assert_int_equal(sg_oidc_auth_request_new(fx.p, NOW, &b), SG_OK);
    assert_int_equal(strlen(a.state), 43);
    assert_int_equal(strlen(a.nonce), 43);
    assert_int_equal(strlen(a.code_verifier), 43);
    assert_string_not_equal(a.state, b.state);
    assert_string_not_equal(a.nonce, b.nonce);
    assert_string_not_equal(a.code_verifier, b.code_verifier);
    ch = sg_oidc_pkce_challenge(a.code_verifier);
    char *want = sg_xasprintf(
        ISSUER "/authorize?tenant=a&response_type=code&client_id=" CLIENT
               "&redirect_uri=https%%3A%%2F%%2Fgate.example.com%%2Fauth%%2Foidc%%2Fcallback"
               "&scope=openid%%20email%%20profile&state=%s&nonce=%s&code_challenge=%s"
               "&code_challenge_method=S256",
        a.state, a.nonce, ch);
    assert_string_equal(a.url, want);
    free(want);
    free(ch);
    sg_oidc_auth_request_clear(&a);
    sg_oidc_auth_request_clear(&b);
    assert_null(a.url);
    fixture_free(&fx);
}

/* ---------------------------------------------------------------- the token exchange */

static int exchange(fixture *fx, long status, const char *body, sg_oidc_tokens *t)
{
    free(fx->idp.token_body);
    fx->idp.token_body = body ? sg_xstrdup(body) : NULL;
    fx->idp.token_status = status;
    return sg_oidc_exchange_code(fx->p, "c0de/+", "verifier-1", NOW, t);
}

static void test_exchange(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx, jwks_of(rsa1, NULL));
    sg_oidc_tokens t;
    assert_int_equal(
        exchange(&fx, 200,
                 "{\"id_token\":\"a.b.c\",\"access_token\":\"at\",\"token_type\":\"Bearer\","
                 "\"expires_in\":3600}",
                 &t),
        SG_OK);
    assert_string_equal(t.id_token, "a.b.c");
    assert_string_equal(t.access_token, "at");
    assert_int_equal(t.expires_in, 3600);
    sg_oidc_tokens_clear(&t);
    assert_string_equal(fx.idp.last_form,
                        "grant_type=authorization_code&code=c0de%2F%2B&redirect_uri="
                        "https%3A%2F%2Fgate.example.com%2Fauth%2Foidc%2Fcallback"
                        "&code_verifier=verifier-1");
    /* client_secret_basic: base64("snowgate:s3cret%3A%2B%2F"). */
    assert_string_equal(fx.idp.last_auth, "Basic c25vd2dhdGU6czNjcmV0JTNBJTJCJTJG");

    assert_int_equal(exchange(&fx, 400,
                              "{\"error\":\"invalid_grant\",\"error_description\":\"grant "
                              "request is invalid\"}",
                              &t),
                     SG_EDENIED);
    assert_non_null(strstr(sg_err_msg(), "(HTTP 400): invalid_grant: grant request is invalid"));
    assert_null(t.id_token);
    assert_int_equal(exchange(&fx, 401, "{\"error\":\"invalid_client\"}", &t), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "invalid_client"));
    assert_int_equal(exchange(&fx, 400, "<html>", &t), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "no error code"));
    assert_int_equal(exchange(&fx, 503, "", &t), SG_EUNAVAIL);
    assert_int_equal(exchange(&fx, 429, "", &t), SG_EUNAVAIL);
    assert_int_equal(exchange(&fx, 200, "{\"access_token\":\"at\"}", &t), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "no id_token"));
    fx.idp.token_rc = SG_ENET;
    assert_int_equal(exchange(&fx, 200, "{}", &t), SG_EUNAVAIL);
    assert_non_null(strstr(sg_err_msg(), "unreachable"));
    fx.idp.token_rc = SG_OK;
    assert_int_equal(sg_oidc_exchange_code(fx.p, "", "v", NOW, &t), SG_EINVAL);
    fixture_free(&fx);
}

static void test_config(void **state)
{
    (void)state;
    sg_oidc_provider *p = NULL;
    sg_oidc_config cfg = SG_OIDC_CONFIG_INIT;
    cfg.issuer = ISSUER;
    cfg.client_id = CLIENT;
    cfg.redirect_uri = "https://gate.example.com/cb";
    assert_int_equal(sg_oidc_provider_new(&cfg, &p), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "needs a client_secret"));
    cfg.client_secret = "s";
    cfg.issuer = "http://idp.example.com";
    assert_int_equal(sg_oidc_provider_new(&cfg, &p), SG_EINVAL);
    cfg.issuer = "http://127.0.0.1:9000";
    cfg.allow_insecure_loopback = true;
    cfg.scopes = "email openidx profile";
    assert_int_equal(sg_oidc_provider_new(&cfg, &p), SG_EINVAL);
    assert_non_null(strstr(sg_err_msg(), "must include \"openid\""));
    cfg.scopes = "email  openid";
    assert_int_equal(sg_oidc_provider_new(&cfg, &p), SG_OK);
    sg_oidc_provider_free(p);
    sg_oidc_provider_free(NULL);
}

/* ---------------------------------------------------------------- over real HTTP */

/* A provider on loopback, reached through the outbound HTTP client (the default transport). */
typedef struct loopback_idp {
    char issuer[64];
    char *jwks;
    char *id_token;
    char *form, *auth;
} loopback_idp;

static int h_discovery(sg_http_req *req, void *app)
{
    loopback_idp *l = app;
    sg_json *d = sg_json_object();
    sg_json_set_str(d, "issuer", l->issuer);
    char url[128];
    snprintf(url, sizeof(url), "%s/authorize", l->issuer);
    sg_json_set_str(d, "authorization_endpoint", url);
    snprintf(url, sizeof(url), "%s/token", l->issuer);
    sg_json_set_str(d, "token_endpoint", url);
    snprintf(url, sizeof(url), "%s/jwks", l->issuer);
    sg_json_set_str(d, "jwks_uri", url);
    return sg_http_reply_json(req, 200, d);
}

static int h_jwks(sg_http_req *req, void *app)
{
    loopback_idp *l = app;
    return sg_http_reply(req, 200, "application/json", l->jwks, strlen(l->jwks));
}

static int h_token(sg_http_req *req, void *app)
{
    loopback_idp *l = app;
    size_t n = 0;
    const char *body = sg_http_body(req, &n);
    l->form = sg_xstrndup(body, n);
    const char *auth = sg_http_header(req, "Authorization");
    l->auth = auth ? sg_xstrdup(auth) : NULL;
    sg_json *j = sg_json_object();
    sg_json_set_str(j, "id_token", l->id_token);
    sg_json_set_str(j, "access_token", "at-1");
    sg_json_set_str(j, "token_type", "Bearer");
    return sg_http_reply_json(req, 200, j);
}

static const sg_http_route loopback_routes[] = {
    {"GET", "/.well-known/openid-configuration", h_discovery, 0},
    {"GET", "/jwks", h_jwks, 0},
    {"POST", "/token", h_token, 0},
    {0},
};

static void test_loopback_provider(void **state)
{
    (void)state;
    loopback_idp l = {.jwks = jwks_of(rsa1, NULL)};
    sg_http_server_opts so = SG_HTTP_SERVER_OPTS_INIT;
    so.routes = loopback_routes;
    so.app = &l;
    sg_http_server *srv = NULL;
    assert_int_equal(sg_http_server_start(&so, &srv), SG_OK);
    snprintf(l.issuer, sizeof(l.issuer), "http://127.0.0.1:%u", sg_http_server_port(srv));

    sg_oidc_config cfg = SG_OIDC_CONFIG_INIT;
    cfg.issuer = l.issuer;
    cfg.client_id = CLIENT;
    cfg.client_secret = "s3cret";
    cfg.redirect_uri = "http://127.0.0.1/cb";
    sg_oidc_provider *p = NULL;
    /* The outbound guard: a loopback provider only with the tests' and the demo's flag. */
    assert_int_equal(sg_oidc_provider_new(&cfg, &p), SG_EINVAL);
    cfg.allow_insecure_loopback = true;
    assert_int_equal(sg_oidc_provider_new(&cfg, &p), SG_OK);

    sg_oidc_auth_request a;
    assert_int_equal(sg_oidc_auth_request_new(p, NOW, &a), SG_OK);
    char *prefix = sg_xasprintf("%s/authorize?response_type=code&", l.issuer);
    assert_true(strncmp(a.url, prefix, strlen(prefix)) == 0);
    free(prefix);
    sg_json *c = good_claims();
    sg_json_set_str(c, "iss", l.issuer);
    sg_json_set_str(c, "nonce", a.nonce);
    l.id_token = sign(rsa1, "RS256", "k1", c);

    sg_oidc_tokens t;
    assert_int_equal(sg_oidc_exchange_code(p, "the-code", a.code_verifier, NOW, &t), SG_OK);
    assert_string_equal(t.access_token, "at-1");
    char *want = sg_xasprintf("grant_type=authorization_code&code=the-code&redirect_uri="
                              "http%%3A%%2F%%2F127.0.0.1%%2Fcb&code_verifier=%s",
                              a.code_verifier);
    assert_string_equal(l.form, want);
    free(want);
    assert_string_equal(l.auth, "Basic c25vd2dhdGU6czNjcmV0"); /* snowgate:s3cret */
    sg_oidc_claims claims;
    assert_int_equal(sg_oidc_verify_id_token(p, t.id_token, a.nonce, NOW, &claims), SG_OK);
    assert_string_equal(claims.sub, "user-123");
    sg_oidc_claims_clear(&claims);
    sg_oidc_tokens_clear(&t);
    sg_oidc_auth_request_clear(&a);
    sg_oidc_provider_free(p);
    sg_http_server_stop(srv, 1000);
    free(l.jwks);
    free(l.id_token);
    free(l.form);
    free(l.auth);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_tokens),
        cmocka_unit_test(test_claims_refused),
        cmocka_unit_test(test_signature_refused),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_jwks_unavailable),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_discovery),
        cmocka_unit_test(test_jwks_parse),
        cmocka_unit_test(test_auth_request),
        cmocka_unit_test(test_exchange),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_loopback_provider),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
