/* oidc: the OpenID Connect relying party: discovery, the JWKS cache, ID tokens, PKCE. */
#include "gate/sso/oidc.h"

#include "core/buf.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/url.h"

#include <cjose/cjose.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- algorithms and keys */

/* The signature algorithms an ID token may use: asymmetric only, so that nobody who holds a
 * public key can sign. "none" and HS* are refused before any key is looked at: with HS256 a
 * library that took "the key" as an HMAC secret would accept a token MACed with the public
 * key's bytes. */
typedef struct alg_spec {
    const char *name;
    cjose_jwk_kty_t kty;
    cjose_jwk_ec_curve crv; /* EC only */
} alg_spec;

static const alg_spec ALGS[] = {
    {"RS256", CJOSE_JWK_KTY_RSA, 0},
    {"RS384", CJOSE_JWK_KTY_RSA, 0},
    {"RS512", CJOSE_JWK_KTY_RSA, 0},
    {"PS256", CJOSE_JWK_KTY_RSA, 0},
    {"PS384", CJOSE_JWK_KTY_RSA, 0},
    {"PS512", CJOSE_JWK_KTY_RSA, 0},
    {"ES256", CJOSE_JWK_KTY_EC, CJOSE_JWK_EC_P_256},
    {"ES384", CJOSE_JWK_KTY_EC, CJOSE_JWK_EC_P_384},
    {"ES512", CJOSE_JWK_KTY_EC, CJOSE_JWK_EC_P_521},
};

/* RSA keys shorter than this are refused (NIST SP 800-131A). */
#define MIN_RSA_BITS 2048

static const alg_spec *alg_find(const char *name)
{
    for (size_t i = 0; i < sizeof(ALGS) / sizeof(ALGS[0]); i++)
        if (strcmp(ALGS[i].name, name) == 0)
            return &ALGS[i];
    return NULL;
}

typedef struct jwks_key {
    cjose_jwk_t *jwk;
    char *kid; /* NULL when the key has none */
    char *alg; /* the key's own "alg", NULL when absent */
    cjose_jwk_kty_t kty;
    cjose_jwk_ec_curve crv;
} jwks_key;

struct sg_oidc_jwks {
    jwks_key *keys;
    size_t n;
};

void sg_oidc_jwks_free(sg_oidc_jwks *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++) {
        cjose_jwk_release(k->keys[i].jwk);
        free(k->keys[i].kid);
        free(k->keys[i].alg);
    }
    free(k->keys);
    free(k);
}

size_t sg_oidc_jwks_count(const sg_oidc_jwks *k)
{
    return k ? k->n : 0;
}

/* Whether s is unpadded base64url that cjose can decode. cjose 0.6.2's decoder asserts (aborts
 * the process) on a length of 4k+1, so every base64url text it would decode is checked here
 * first: the key members of a JWK and the three parts of a token. */
static bool b64url_ok(const char *s, size_t n)
{
    if (n % 4 == 1)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* The JWK members cjose decodes from base64url (RFC 7518, section 6). */
static const char *const JWK_B64_MEMBERS[] = {"n", "e", "d", "p", "q", "dp", "dq", "qi", "x", "y"};

/* Imports one JWK of a JWKS; false (with nothing taken) when it is not a usable signing key. */
static bool jwk_import(sg_json *entry, jwks_key *out)
{
    const char *kty = sg_json_get_str(entry, "kty");
    const char *use = sg_json_get_str(entry, "use");
    if (!kty || (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0))
        return false; /* "oct" (symmetric) keys are never trusted for ID tokens */
    if (sg_json_get(entry, "use") && (!use || strcmp(use, "sig") != 0))
        return false;
    const char *alg = sg_json_get_str(entry, "alg");
    if (sg_json_get(entry, "alg") && (!alg || !alg_find(alg)))
        return false;
    for (size_t i = 0; i < sizeof(JWK_B64_MEMBERS) / sizeof(JWK_B64_MEMBERS[0]); i++) {
        sg_json *m = sg_json_get(entry, JWK_B64_MEMBERS[i]);
        if (m && (!sg_json_str(m) || !b64url_ok(sg_json_str(m), strlen(sg_json_str(m)))))
            return false;
    }
    /* cjose would import a private key too; only the public half is ever used. */
    char *text = sg_json_dump(entry);
    cjose_err err = {0};
    cjose_jwk_t *jwk = cjose_jwk_import(text, strlen(text), &err);
    sg_wipe(text, strlen(text));
    free(text);
    if (!jwk)
        return false;
    cjose_jwk_kty_t t = cjose_jwk_get_kty(jwk, &err);
    if ((t != CJOSE_JWK_KTY_RSA && t != CJOSE_JWK_KTY_EC) ||
        (t == CJOSE_JWK_KTY_RSA && cjose_jwk_get_keysize(jwk, &err) < MIN_RSA_BITS)) {
        cjose_jwk_release(jwk);
        return false;
    }
    out->jwk = jwk;
    out->kty = t;
    out->crv = t == CJOSE_JWK_KTY_EC ? cjose_jwk_EC_get_curve(jwk, &err) : 0;
    out->kid = sg_json_get_str(entry, "kid") ? sg_xstrdup(sg_json_get_str(entry, "kid")) : NULL;
    out->alg = alg ? sg_xstrdup(alg) : NULL;
    return true;
}

int sg_oidc_jwks_parse(const char *json, size_t len, sg_oidc_jwks **out)
{
    *out = NULL;
    sg_json *doc = NULL;
    int rc = sg_json_parse(json, len, SG_OIDC_MAX_DOC, 0, &doc);
    if (rc != SG_OK)
        return sg_err_wrap(rc, "the JWKS document is not JSON");
    sg_json *keys = sg_json_get(doc, "keys");
    if (!keys || sg_json_typeof(keys) != SG_JSON_ARRAY) {
        sg_json_decref(doc);
        return sg_err_set(SG_EINVAL, "the JWKS document has no \"keys\" array");
    }
    size_t n = sg_json_array_size(keys);
    if (n > SG_OIDC_MAX_KEYS) {
        sg_json_decref(doc);
        return sg_err_set(SG_ETOOBIG, "the JWKS document has %zu keys; at most %d are read", n,
                          SG_OIDC_MAX_KEYS);
    }
    sg_oidc_jwks *k = sg_xcalloc(1, sizeof(*k));
    k->keys = sg_xcalloc(n ? n : 1, sizeof(*k->keys));
    for (size_t i = 0; i < n; i++) {
        sg_json *e = sg_json_array_get(keys, i);
        if (sg_json_typeof(e) == SG_JSON_OBJECT && jwk_import(e, &k->keys[k->n]))
            k->n++;
    }
    sg_json_decref(doc);
    if (k->n == 0) {
        sg_oidc_jwks_free(k);
        return sg_err_set(SG_EINVAL, "the JWKS document has no RSA (2048 bits or more) or EC "
                                     "signing key");
    }
    *out = k;
    return SG_OK;
}

/* ---------------------------------------------------------------- discovery */

void sg_oidc_discovery_clear(sg_oidc_discovery *d)
{
    free(d->issuer);
    free(d->authorization_endpoint);
    free(d->token_endpoint);
    free(d->jwks_uri);
    free(d->userinfo_endpoint);
    memset(d, 0, sizeof(*d));
}

/* An endpoint of the document: a string that passes the outbound guard. */
static int endpoint(const sg_json *doc, const char *key, bool required, bool insecure, char **out)
{
    *out = NULL;
    sg_json *v = sg_json_get(doc, key);
    if (!v && !required)
        return SG_OK;
    const char *s = sg_json_str(v);
    if (!s || !*s)
        return sg_err_set(SG_EINVAL, "the discovery document has no \"%s\" (a URL string)", key);
    int rc = sg_url_guard(s, insecure);
    if (rc != SG_OK)
        return sg_err_wrap(SG_EINVAL, "the discovery document's \"%s\" is refused", key);
    *out = sg_xstrdup(s);
    return SG_OK;
}

int sg_oidc_discovery_parse(const char *json, size_t len, const char *issuer, bool insecure,
                            sg_oidc_discovery *out)
{
    memset(out, 0, sizeof(*out));
    sg_json *doc = NULL;
    int rc = sg_json_parse(json, len, SG_OIDC_MAX_DOC, 0, &doc);
    if (rc != SG_OK)
        return sg_err_wrap(rc, "the discovery document is not JSON");
    const char *iss = sg_json_get_str(doc, "issuer");
    if (sg_json_typeof(doc) != SG_JSON_OBJECT || !iss) {
        rc = sg_err_set(SG_EINVAL, "the discovery document has no \"issuer\"");
        goto cleanup;
    }
    /* OpenID Connect Discovery 1.0, section 4.3: exactly equal, or an attacker's document could
     * name another issuer's keys. */
    if (strcmp(iss, issuer) != 0) {
        char got[128];
        rc = sg_err_set(SG_EINVAL,
                        "the discovery document's issuer \"%s\" is not the configured issuer "
                        "\"%s\" (they must be exactly equal, trailing slash included)",
                        sg_str_sanitize(got, sizeof(got), iss), issuer);
        goto cleanup;
    }
    out->issuer = sg_xstrdup(iss);
    rc = endpoint(doc, "authorization_endpoint", true, insecure, &out->authorization_endpoint);
    if (rc == SG_OK)
        rc = endpoint(doc, "token_endpoint", true, insecure, &out->token_endpoint);
    if (rc == SG_OK)
        rc = endpoint(doc, "jwks_uri", true, insecure, &out->jwks_uri);
    if (rc == SG_OK)
        rc = endpoint(doc, "userinfo_endpoint", false, insecure, &out->userinfo_endpoint);
cleanup:
    sg_json_decref(doc);
    if (rc != SG_OK)
        sg_oidc_discovery_clear(out);
    return rc;
}

/* ---------------------------------------------------------------- the provider */

struct sg_oidc_provider {
    char *issuer, *client_id, *client_secret, *redirect_uri, *scopes, *groups_claim, *ca_file;
    int64_t skew, jwks_ttl, refetch_min;
    bool insecure;
    sg_oidc_http_fn http;
    void *http_ctx;

    pthread_mutex_t mu; /* guards what follows, and cjose's (non-atomic) key reference counts */
    bool discovered;
    sg_oidc_discovery disc;
    sg_oidc_jwks *jwks;
    int64_t jwks_fetched_at;   /* when jwks was fetched */
    int64_t jwks_attempted_at; /* the last fetch, successful or not */
    bool jwks_attempted;
};

static int default_http(void *ctx, const sg_http_client_opts *opts, const char *method,
                        const char *url, const char *const *headers, const void *body, size_t len,
                        sg_http_response *res)
{
    (void)ctx;
    return sg_http_request(opts, method, url, headers, body, len, res);
}

/* Whether the space-separated list has `word` as one of its items. */
static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && strncmp(p, word, n) == 0)
            return true;
        p += k;
        p += strspn(p, " ");
    }
    return false;
}

int sg_oidc_provider_new(const sg_oidc_config *cfg, sg_oidc_provider **out)
{
    *out = NULL;
    const char *missing = !cfg->issuer || !*cfg->issuer                 ? "issuer"
                          : !cfg->client_id || !*cfg->client_id         ? "client_id"
                          : !cfg->client_secret || !*cfg->client_secret ? "client_secret"
                          : !cfg->redirect_uri || !*cfg->redirect_uri   ? "redirect_uri"
                                                                        : NULL;
    if (missing)
        return sg_err_set(SG_EINVAL, "OpenID Connect needs a %s", missing);
    if (cfg->clock_skew_s < 0 || cfg->clock_skew_s > 3600 || cfg->jwks_ttl_s < 1 ||
        cfg->jwks_refetch_min_s < 0)
        return sg_err_set(SG_EINVAL,
                          "OpenID Connect: the clock skew must be 0 to 3600 s, the "
                          "JWKS lifetime at least 1 s, the refetch interval 0 s or more");
    int rc = sg_url_guard(cfg->issuer, cfg->allow_insecure_loopback);
    if (rc != SG_OK)
        return sg_err_wrap(SG_EINVAL, "OpenID Connect issuer");
    if (cfg->scopes && !has_word(cfg->scopes, "openid"))
        return sg_err_set(SG_EINVAL,
                          "OpenID Connect: the scopes \"%s\" must include \"openid\" "
                          "(without it the provider sends no ID token)",
                          cfg->scopes);
    sg_oidc_provider *p = sg_xcalloc(1, sizeof(*p));
    p->issuer = sg_xstrdup(cfg->issuer);
    p->client_id = sg_xstrdup(cfg->client_id);
    p->client_secret = sg_xstrdup(cfg->client_secret);
    p->redirect_uri = sg_xstrdup(cfg->redirect_uri);
    p->scopes = sg_xstrdup(cfg->scopes ? cfg->scopes : "openid email profile");
    p->groups_claim =
        cfg->groups_claim && *cfg->groups_claim ? sg_xstrdup(cfg->groups_claim) : NULL;
    p->ca_file = cfg->ca_file ? sg_xstrdup(cfg->ca_file) : NULL;
    p->skew = cfg->clock_skew_s;
    p->jwks_ttl = cfg->jwks_ttl_s;
    p->refetch_min = cfg->jwks_refetch_min_s;
    p->insecure = cfg->allow_insecure_loopback;
    p->http = cfg->http ? cfg->http : default_http;
    p->http_ctx = cfg->http_ctx;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return SG_OK;
}

void sg_oidc_provider_free(sg_oidc_provider *p)
{
    if (!p)
        return;
    free(p->issuer);
    free(p->client_id);
    if (p->client_secret)
        sg_wipe(p->client_secret, strlen(p->client_secret));
    free(p->client_secret);
    free(p->redirect_uri);
    free(p->scopes);
    free(p->groups_claim);
    free(p->ca_file);
    sg_oidc_discovery_clear(&p->disc);
    sg_oidc_jwks_free(p->jwks);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static sg_http_client_opts http_opts(const sg_oidc_provider *p)
{
    sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
    o.timeout_ms = 10000;
    o.connect_timeout_ms = 5000;
    o.max_response = SG_OIDC_MAX_DOC;
    o.allow_insecure_loopback = p->insecure;
    o.ca_file = p->ca_file;
    return o;
}

/* The error for a call that did not get an answer: the provider being unreachable is
 * temporary (SG_EUNAVAIL); the outbound guard's refusal stays what it is. */
static int transport_error(int rc, const char *what)
{
    if (rc == SG_ENET || rc == SG_ETIMEOUT)
        return sg_err_wrap(SG_EUNAVAIL, "the identity provider's %s is unreachable", what);
    return sg_err_wrap(rc, "the identity provider's %s", what);
}

static bool status_retryable(long status)
{
    return status == 429 || status >= 500;
}

/* GETs a document from the provider: *out gets the 200 answer's body (the caller's). */
static int fetch_doc(sg_oidc_provider *p, const char *what, const char *url, sg_buf *out)
{
    const char *hdrs[] = {"Accept: application/json", NULL};
    sg_http_client_opts o = http_opts(p);
    sg_http_response r;
    memset(&r, 0, sizeof(r));
    int rc = p->http(p->http_ctx, &o, "GET", url, hdrs, NULL, 0, &r);
    if (rc != SG_OK) {
        sg_http_response_free(&r);
        return transport_error(rc, what);
    }
    if (r.status == 200) {
        *out = r.body;
        memset(&r.body, 0, sizeof(r.body));
    } else {
        rc = sg_err_set(status_retryable(r.status) ? SG_EUNAVAIL : SG_EINVAL,
                        "the identity provider's %s (%s) answered HTTP %ld", what, url, r.status);
    }
    sg_http_response_free(&r);
    return rc;
}

/* Fetches the JWKS (p->mu held). On failure the keys already cached are kept. */
static int jwks_fetch_locked(sg_oidc_provider *p, int64_t now)
{
    p->jwks_attempted = true;
    p->jwks_attempted_at = now;
    sg_buf body = SG_BUF_INIT(0);
    int rc = fetch_doc(p, "JWKS", p->disc.jwks_uri, &body);
    if (rc != SG_OK)
        return rc;
    sg_oidc_jwks *k = NULL;
    rc = sg_oidc_jwks_parse(sg_buf_str(&body), body.len, &k);
    sg_buf_free(&body);
    if (rc != SG_OK)
        return sg_err_wrap(rc, "the identity provider's JWKS (%s)", p->disc.jwks_uri);
    sg_oidc_jwks_free(p->jwks);
    p->jwks = k;
    p->jwks_fetched_at = now;
    return SG_OK;
}

static int discover_locked(sg_oidc_provider *p, int64_t now)
{
    size_t n = strlen(p->issuer);
    while (n > 0 && p->issuer[n - 1] == '/')
        n--;
    char *url = sg_xasprintf("%.*s/.well-known/openid-configuration", (int)n, p->issuer);
    sg_buf body = SG_BUF_INIT(0);
    int rc = fetch_doc(p, "discovery document", url, &body);
    free(url);
    if (rc != SG_OK)
        return rc;
    sg_oidc_discovery d;
    rc = sg_oidc_discovery_parse(sg_buf_str(&body), body.len, p->issuer, p->insecure, &d);
    sg_buf_free(&body);
    if (rc != SG_OK)
        return rc;
    sg_oidc_discovery_clear(&p->disc);
    p->disc = d;
    p->discovered = true;
    return jwks_fetch_locked(p, now);
}

int sg_oidc_provider_discover(sg_oidc_provider *p, int64_t now)
{
    pthread_mutex_lock(&p->mu);
    int rc = discover_locked(p, now);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int ensure_discovered_locked(sg_oidc_provider *p, int64_t now)
{
    return p->discovered ? SG_OK : discover_locked(p, now);
}

/* ---------------------------------------------------------------- ID tokens */

static int refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* SG_EAUTH with "ID token refused: ...", logged. Never given the token. */
static int refuse(const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    sg_log_warn("OpenID Connect ID token refused", "reason", reason);
    return sg_err_set(SG_EAUTH, "ID token refused: %s", reason);
}

static bool key_fits(const jwks_key *k, const alg_spec *a)
{
    return k->kty == a->kty && (a->kty != CJOSE_JWK_KTY_EC || k->crv == a->crv) &&
           (!k->alg || strcmp(k->alg, a->name) == 0);
}

/* The key for (kid, alg) in the cached set, or NULL with *why set (p->mu held). */
static const jwks_key *key_lookup(const sg_oidc_provider *p, const char *kid, const alg_spec *a,
                                  const char **why)
{
    *why = "unknown kid";
    if (!p->jwks)
        return NULL;
    if (kid) {
        for (size_t i = 0; i < p->jwks->n; i++) {
            const jwks_key *k = &p->jwks->keys[i];
            if (!k->kid || strcmp(k->kid, kid) != 0)
                continue;
            if (key_fits(k, a))
                return k;
            *why = "the key with this kid does not fit the alg";
        }
        return NULL;
    }
    /* No kid: allowed when exactly one key can verify this alg. */
    const jwks_key *found = NULL;
    size_t n = 0;
    for (size_t i = 0; i < p->jwks->n; i++)
        if (key_fits(&p->jwks->keys[i], a)) {
            found = &p->jwks->keys[i];
            n++;
        }
    *why = n ? "the token has no kid and several keys fit its alg" : "no key fits its alg";
    return n == 1 ? found : NULL;
}

/* Finds and retains the key, fetching the JWKS when it is stale, or once per refetch interval
 * when the kid is unknown (key rotation). */
static int key_get(sg_oidc_provider *p, const char *kid, const alg_spec *a, int64_t now,
                   cjose_jwk_t **out)
{
    *out = NULL;
    pthread_mutex_lock(&p->mu);
    int rc = ensure_discovered_locked(p, now);
    if (rc != SG_OK)
        goto cleanup;
    /* A clock set back counts as time passed, so that it cannot stop the refetches. */
    bool may_fetch = !p->jwks_attempted || now < p->jwks_attempted_at ||
                     now - p->jwks_attempted_at >= p->refetch_min;
    bool stale = !p->jwks || now < p->jwks_fetched_at || now - p->jwks_fetched_at >= p->jwks_ttl;
    if (stale && may_fetch) {
        rc = jwks_fetch_locked(p, now);
        may_fetch = false;
        if (rc != SG_OK && !p->jwks)
            goto cleanup;
        if (rc != SG_OK)
            sg_log_warn("OpenID Connect: the JWKS could not be refreshed; the cached keys are used",
                        "error", sg_err_msg());
        rc = SG_OK;
    }
    if (!p->jwks) {
        /* The last fetch failed, within the refetch interval: the provider is the problem, not
         * the token. */
        rc = sg_err_set(SG_EUNAVAIL,
                        "the identity provider's keys (JWKS) could not be fetched %lld s ago; "
                        "they are fetched again at most every %lld s",
                        (long long)(now - p->jwks_attempted_at), (long long)p->refetch_min);
        goto cleanup;
    }
    const char *why = NULL;
    const jwks_key *k = key_lookup(p, kid, a, &why);
    if (!k && may_fetch) {
        rc = jwks_fetch_locked(p, now);
        if (rc != SG_OK)
            goto cleanup;
        k = key_lookup(p, kid, a, &why);
    }
    if (!k) {
        char safe[80];
        rc = refuse("%s (kid \"%s\", alg %s; the JWKS was fetched %lld s ago and is fetched again "
                    "at most every %lld s)",
                    why, kid ? sg_str_sanitize(safe, sizeof(safe), kid) : "", a->name,
                    (long long)(now - p->jwks_fetched_at), (long long)p->refetch_min);
        goto cleanup;
    }
    *out = cjose_jwk_retain(k->jwk, NULL);
cleanup:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static void key_put(sg_oidc_provider *p, cjose_jwk_t *jwk)
{
    pthread_mutex_lock(&p->mu);
    cjose_jwk_release(jwk);
    pthread_mutex_unlock(&p->mu);
}

/* The JOSE header, read by us so that alg and crit are checked before cjose sees the token. */
static int header_read(const char *token, size_t hlen, sg_json **out)
{
    *out = NULL;
    sg_buf raw = SG_BUF_INIT(0);
    int rc = sg_base64_decode(token, hlen, true, &raw);
    if (rc == SG_OK)
        rc = sg_json_parse(sg_buf_str(&raw), raw.len, 0, 0, out);
    sg_buf_free(&raw);
    if (rc != SG_OK || sg_json_typeof(*out) != SG_JSON_OBJECT) {
        sg_json_decref(*out);
        *out = NULL;
        return refuse("the header is not base64url JSON");
    }
    return SG_OK;
}

static char *claim_str(const sg_json *c, const char *key)
{
    const char *s = sg_json_get_str(c, key);
    return s ? sg_xstrdup(s) : NULL;
}

static int claims_check(const sg_oidc_provider *p, const sg_json *c, const char *nonce, int64_t now,
                        sg_oidc_claims *out)
{
    char safe[128];
    const char *iss = sg_json_get_str(c, "iss");
    if (!iss)
        return refuse("no iss claim");
    if (strcmp(iss, p->issuer) != 0)
        return refuse("iss \"%s\" is not the issuer \"%s\"",
                      sg_str_sanitize(safe, sizeof(safe), iss), p->issuer);

    sg_json *aud = sg_json_get(c, "aud");
    size_t naud = 0;
    bool ours = false;
    if (sg_json_str(aud)) {
        naud = 1;
        ours = strcmp(sg_json_str(aud), p->client_id) == 0;
    } else if (aud && sg_json_typeof(aud) == SG_JSON_ARRAY) {
        naud = sg_json_array_size(aud);
        for (size_t i = 0; i < naud; i++) {
            const char *s = sg_json_str(sg_json_array_get(aud, i));
            if (!s)
                return refuse("aud is not a string or an array of strings");
            ours = ours || strcmp(s, p->client_id) == 0;
        }
    } else {
        return refuse("no aud claim (a string or an array of strings)");
    }
    if (!ours)
        return refuse("aud does not contain the client id \"%s\"", p->client_id);
    const char *azp = sg_json_get_str(c, "azp");
    if (naud > 1 && !azp)
        return refuse("aud has %zu audiences and there is no azp claim", naud);
    if (sg_json_get(c, "azp") && (!azp || strcmp(azp, p->client_id) != 0))
        return refuse("azp is not the client id \"%s\"", p->client_id);

    int64_t exp = 0, iat = 0, nbf = 0;
    if (!sg_json_get_int(c, "exp", &exp))
        return refuse("no exp claim (an integer)");
    if (now > exp && now - exp > p->skew)
        return refuse("expired %lld s ago (clock skew allowed: %lld s)", (long long)(now - exp),
                      (long long)p->skew);
    if (sg_json_get(c, "nbf")) {
        if (!sg_json_get_int(c, "nbf", &nbf))
            return refuse("nbf is not an integer");
        if (nbf > now && nbf - now > p->skew)
            return refuse("not valid before %lld s from now (nbf; clock skew allowed: %lld s)",
                          (long long)(nbf - now), (long long)p->skew);
    }
    if (!sg_json_get_int(c, "iat", &iat))
        return refuse("no iat claim (an integer)");
    if (iat > now && iat - now > p->skew)
        return refuse("issued %lld s in the future (iat; clock skew allowed: %lld s)",
                      (long long)(iat - now), (long long)p->skew);

    const char *tn = sg_json_get_str(c, "nonce");
    if (!tn)
        return refuse("no nonce claim");
    if (!nonce || !*nonce || strlen(tn) != strlen(nonce) || !sg_ct_equal(tn, nonce, strlen(nonce)))
        return refuse("the nonce is not the one this sign-in sent");

    const char *sub = sg_json_get_str(c, "sub");
    if (!sub || !*sub || strlen(sub) > 255)
        return refuse("no sub claim (a string of 1 to 255 characters)");

    sg_json *groups = p->groups_claim ? sg_json_get(c, p->groups_claim) : NULL;
    if (groups) {
        size_t n = sg_json_typeof(groups) == SG_JSON_ARRAY ? sg_json_array_size(groups) : 0;
        if (sg_json_typeof(groups) != SG_JSON_ARRAY)
            return refuse("the groups claim \"%s\" is not an array of strings", p->groups_claim);
        if (n > SG_OIDC_MAX_GROUPS)
            return refuse("the groups claim \"%s\" has %zu groups (at most %d)", p->groups_claim, n,
                          SG_OIDC_MAX_GROUPS);
        for (size_t i = 0; i < n; i++)
            if (!sg_json_str(sg_json_array_get(groups, i)))
                return refuse("the groups claim \"%s\" is not an array of strings",
                              p->groups_claim);
        out->groups = sg_xcalloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            out->groups[out->ngroups++] = sg_xstrdup(sg_json_str(sg_json_array_get(groups, i)));
    }
    out->sub = sg_xstrdup(sub);
    out->email = claim_str(c, "email");
    sg_json_get_bool(c, "email_verified", &out->email_verified);
    out->name = claim_str(c, "name");
    out->preferred_username = claim_str(c, "preferred_username");
    return SG_OK;
}

void sg_oidc_claims_clear(sg_oidc_claims *c)
{
    free(c->sub);
    free(c->email);
    free(c->name);
    free(c->preferred_username);
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i]);
    free(c->groups);
    memset(c, 0, sizeof(*c));
}

int sg_oidc_verify_id_token(sg_oidc_provider *p, const char *token, const char *nonce, int64_t now,
                            sg_oidc_claims *out)
{
    memset(out, 0, sizeof(*out));
    sg_json *hdr = NULL, *claims = NULL;
    cjose_jws_t *jws = NULL;
    cjose_jwk_t *jwk = NULL;
    cjose_err err = {0};
    int rc = SG_OK;
    size_t len = token ? strlen(token) : 0;
    if (len == 0 || len > SG_OIDC_MAX_TOKEN)
        return refuse("empty or longer than %d bytes", SG_OIDC_MAX_TOKEN);
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2 || strchr(dot2 + 1, '.'))
        return refuse("not a compact JWS (three base64url parts; encrypted ID tokens are not "
                      "supported)");
    rc = header_read(token, (size_t)(dot1 - token), &hdr);
    if (rc != SG_OK)
        return rc;
    const char *alg_name = sg_json_get_str(hdr, "alg");
    const alg_spec *alg = alg_name ? alg_find(alg_name) : NULL;
    char safe[64];
    if (!alg) {
        rc = refuse("alg \"%s\" is not accepted: only asymmetric signatures (RS256, PS256, ES256 "
                    "and their 384 and 512 variants) are, never none nor HMAC",
                    alg_name ? sg_str_sanitize(safe, sizeof(safe), alg_name) : "(missing)");
        goto cleanup;
    }
    if (sg_json_get(hdr, "crit")) {
        rc = refuse("the header has crit extensions, which are not supported");
        goto cleanup;
    }
    if (sg_json_get(hdr, "kid") && !sg_json_get_str(hdr, "kid")) {
        rc = refuse("kid is not a string");
        goto cleanup;
    }
    size_t plen = (size_t)(dot2 - dot1 - 1), slen = len - (size_t)(dot2 - token) - 1;
    if (!b64url_ok(token, (size_t)(dot1 - token)) || plen == 0 || !b64url_ok(dot1 + 1, plen) ||
        slen == 0 || !b64url_ok(dot2 + 1, slen)) {
        rc = refuse("the payload or the signature is empty or not base64url");
        goto cleanup;
    }
    rc = key_get(p, sg_json_get_str(hdr, "kid"), alg, now, &jwk);
    if (rc != SG_OK)
        goto cleanup;
    jws = cjose_jws_import(token, len, &err);
    if (!jws) {
        rc = refuse("not a well-formed JWS (%s)", err.message ? err.message : "cjose");
        goto cleanup;
    }
    if (!cjose_jws_verify(jws, jwk, &err)) {
        rc = refuse("the signature does not verify with the provider's key (alg %s)", alg->name);
        goto cleanup;
    }
    uint8_t *payload = NULL;
    size_t paylen = 0;
    if (!cjose_jws_get_plaintext(jws, &payload, &paylen, &err) ||
        sg_json_parse((const char *)payload, paylen, 0, 0, &claims) != SG_OK ||
        sg_json_typeof(claims) != SG_JSON_OBJECT) {
        rc = refuse("the payload is not a JSON object");
        goto cleanup;
    }
    rc = claims_check(p, claims, nonce, now, out);
cleanup:
    if (rc != SG_OK)
        sg_oidc_claims_clear(out);
    if (jwk)
        key_put(p, jwk);
    cjose_jws_release(jws);
    sg_json_decref(claims);
    sg_json_decref(hdr);
    return rc;
}

/* ---------------------------------------------------------------- the authorization request */

static char *random_b64url(size_t nbytes)
{
    uint8_t raw[64];
    sg_buf b = SG_BUF_INIT(0);
    sg_random(raw, nbytes);
    sg_base64_encode(raw, nbytes, true, &b);
    sg_wipe(raw, sizeof(raw));
    return sg_buf_detach(&b, NULL);
}

char *sg_oidc_pkce_challenge(const char *verifier)
{
    uint8_t d[SG_SHA256_LEN];
    sg_sha256(verifier, strlen(verifier), d);
    sg_buf b = SG_BUF_INIT(0);
    sg_base64_encode(d, sizeof(d), true, &b);
    return sg_buf_detach(&b, NULL);
}

/* Appends "k=v" (v percent-encoded) after *sep, unless *sep is NUL; the next one gets '&'. */
static void add_param(sg_buf *b, char *sep, const char *k, const char *v)
{
    char *e = sg_http_escape(v);
    if (*sep)
        sg_buf_putc(b, *sep);
    sg_buf_printf(b, "%s=%s", k, e);
    *sep = '&';
    sg_wipe(e, strlen(e));
    free(e);
}

void sg_oidc_auth_request_clear(sg_oidc_auth_request *r)
{
    char *s[] = {r->state, r->nonce, r->code_verifier, r->url};
    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        if (s[i])
            sg_wipe(s[i], strlen(s[i]));
        free(s[i]);
    }
    memset(r, 0, sizeof(*r));
}

int sg_oidc_auth_request_new(sg_oidc_provider *p, int64_t now, sg_oidc_auth_request *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->mu);
    int rc = ensure_discovered_locked(p, now);
    char *endpoint_url = rc == SG_OK ? sg_xstrdup(p->disc.authorization_endpoint) : NULL;
    pthread_mutex_unlock(&p->mu);
    if (rc != SG_OK)
        return rc;
    out->state = random_b64url(32);
    out->nonce = random_b64url(32);
    out->code_verifier = random_b64url(32);
    char *challenge = sg_oidc_pkce_challenge(out->code_verifier);
    sg_buf u = SG_BUF_INIT(0);
    sg_buf_puts(&u, endpoint_url);
    char sep = strchr(endpoint_url, '?') ? '&' : '?';
    add_param(&u, &sep, "response_type", "code");
    add_param(&u, &sep, "client_id", p->client_id);
    add_param(&u, &sep, "redirect_uri", p->redirect_uri);
    add_param(&u, &sep, "scope", p->scopes);
    add_param(&u, &sep, "state", out->state);
    add_param(&u, &sep, "nonce", out->nonce);
    add_param(&u, &sep, "code_challenge", challenge);
    add_param(&u, &sep, "code_challenge_method", "S256");
    out->url = sg_buf_detach(&u, NULL);
    free(challenge);
    free(endpoint_url);
    return SG_OK;
}

/* ---------------------------------------------------------------- the token exchange */

void sg_oidc_tokens_clear(sg_oidc_tokens *t)
{
    if (t->id_token)
        sg_wipe(t->id_token, strlen(t->id_token));
    if (t->access_token)
        sg_wipe(t->access_token, strlen(t->access_token));
    free(t->id_token);
    free(t->access_token);
    memset(t, 0, sizeof(*t));
}

/* The Authorization header of client_secret_basic (RFC 6749 section 2.3.1: both parts
 * form-encoded before base64). */
static char *basic_auth(const sg_oidc_provider *p)
{
    char *id = sg_http_escape(p->client_id);
    char *secret = sg_http_escape(p->client_secret);
    sg_buf pair = SG_BUF_INIT(0), b64 = SG_BUF_INIT(0);
    sg_buf_printf(&pair, "%s:%s", id, secret);
    sg_base64_encode(pair.data, pair.len, false, &b64);
    char *h = sg_xasprintf("Authorization: Basic %s", sg_buf_str(&b64));
    sg_wipe(secret, strlen(secret));
    free(id);
    free(secret);
    sg_buf_wipe(&pair);
    sg_buf_wipe(&b64);
    return h;
}

/* The refusal in a token endpoint's error answer (RFC 6749 section 5.2). */
static int token_refusal(const sg_http_response *r)
{
    sg_json *j = NULL;
    sg_json_parse(sg_buf_str(&r->body), r->body.len, 0, 0, &j);
    const char *error = sg_json_get_str(j, "error");
    const char *desc = sg_json_get_str(j, "error_description");
    char e[64], d[256];
    int code = error && (strcmp(error, "invalid_grant") == 0 || strcmp(error, "access_denied") == 0)
                   ? SG_EDENIED
                   : SG_EINVAL;
    int rc = sg_err_set(code, "the identity provider refused the code (HTTP %ld): %s%s%s",
                        r->status, error ? sg_str_sanitize(e, sizeof(e), error) : "no error code",
                        desc ? ": " : "", desc ? sg_str_sanitize(d, sizeof(d), desc) : "");
    sg_json_decref(j);
    return rc;
}

int sg_oidc_exchange_code(sg_oidc_provider *p, const char *code, const char *code_verifier,
                          int64_t now, sg_oidc_tokens *out)
{
    memset(out, 0, sizeof(*out));
    if (!code || !*code || strlen(code) > 2048 || !code_verifier || !*code_verifier)
        return sg_err_set(SG_EINVAL, "the sign-in callback has no code (or one over 2048 bytes)");
    pthread_mutex_lock(&p->mu);
    int rc = ensure_discovered_locked(p, now);
    char *url = rc == SG_OK ? sg_xstrdup(p->disc.token_endpoint) : NULL;
    pthread_mutex_unlock(&p->mu);
    if (rc != SG_OK)
        return rc;
    sg_buf form = SG_BUF_INIT(0);
    char sep = '\0';
    add_param(&form, &sep, "grant_type", "authorization_code");
    add_param(&form, &sep, "code", code);
    add_param(&form, &sep, "redirect_uri", p->redirect_uri);
    add_param(&form, &sep, "code_verifier", code_verifier);
    char *auth = basic_auth(p);
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded",
                          "Accept: application/json", auth, NULL};
    sg_http_client_opts o = http_opts(p);
    sg_http_response r;
    memset(&r, 0, sizeof(r));
    sg_json *j = NULL;
    rc = p->http(p->http_ctx, &o, "POST", url, hdrs, form.data, form.len, &r);
    sg_buf_wipe(&form);
    sg_wipe(auth, strlen(auth));
    free(auth);
    if (rc != SG_OK) {
        rc = transport_error(rc, "token endpoint");
        goto cleanup;
    }
    if (status_retryable(r.status)) {
        rc = sg_err_set(SG_EUNAVAIL, "the identity provider's token endpoint answered HTTP %ld",
                        r.status);
        goto cleanup;
    }
    if (r.status != 200) {
        rc = token_refusal(&r);
        goto cleanup;
    }
    if (sg_json_parse(sg_buf_str(&r.body), r.body.len, SG_OIDC_MAX_DOC, 0, &j) != SG_OK ||
        !sg_json_get_str(j, "id_token")) {
        rc = sg_err_set(SG_EINVAL, "the identity provider's token answer has no id_token (is "
                                   "\"openid\" among the scopes?)");
        goto cleanup;
    }
    out->id_token = sg_xstrdup(sg_json_get_str(j, "id_token"));
    out->access_token = claim_str(j, "access_token");
    sg_json_get_int(j, "expires_in", &out->expires_in);
cleanup:
    sg_json_decref(j);
    free(url);
    sg_buf_wipe(&r.body);
    sg_http_response_free(&r);
    return rc;
}
