/* Fuzz target: gate/sso/oidc's parsers. The first byte picks one: '0' a discovery document,
 * '1' a JWKS document, '2' a compact ID token (its header and structure), '3' an ID token whose
 * payload is the input, signed with the provider's key (the claims checks). */
#include "core/log.h"
#include "core/mem.h"
#include "gate/sso/oidc.h"

#include <cjose/cjose.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ISSUER "https://idp.example.com"

static cjose_jwk_t *key;
static char *jwks;
static sg_oidc_provider *provider;

static int serve(void *ctx, const sg_http_client_opts *opts, const char *method, const char *url,
                 const char *const *headers, const void *body, size_t len, sg_http_response *res)
{
    (void)ctx, (void)opts, (void)method, (void)headers, (void)body, (void)len;
    memset(res, 0, sizeof(*res));
    res->status = 200;
    if (strstr(url, "openid-configuration"))
        sg_buf_puts(&res->body,
                    "{\"issuer\":\"" ISSUER "\",\"authorization_endpoint\":\"" ISSUER
                    "/a\",\"token_endpoint\":\"" ISSUER "/t\",\"jwks_uri\":\"" ISSUER "/j\"}");
    else
        sg_buf_puts(&res->body, jwks);
    return 0;
}

static void setup(void)
{
    sg_log_init(SG_LOG_ERROR, SG_LOG_JSON, STDERR_FILENO);
    key = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, NULL);
    cjose_jwk_set_kid(key, "k1", 2, NULL);
    char *pub = cjose_jwk_to_json(key, false, NULL);
    jwks = sg_xasprintf("{\"keys\":[%s]}", pub);
    free(pub);
    sg_oidc_config cfg = SG_OIDC_CONFIG_INIT;
    cfg.issuer = ISSUER;
    cfg.client_id = "snowgate";
    cfg.client_secret = "secret";
    cfg.redirect_uri = "https://gate.example.com/cb";
    cfg.http = serve;
    if (sg_oidc_provider_new(&cfg, &provider) != 0 || sg_oidc_provider_discover(provider, 0) != 0)
        abort();
}

/* An ES256 token with `payload` as its claims. The caller frees it. */
static char *sign(const uint8_t *payload, size_t len)
{
    cjose_header_t *h = cjose_header_new(NULL);
    cjose_header_set(h, CJOSE_HDR_ALG, "ES256", NULL);
    cjose_header_set(h, CJOSE_HDR_KID, "k1", NULL);
    cjose_jws_t *jws = cjose_jws_sign(key, h, payload, len, NULL);
    const char *ser = NULL;
    char *out = jws && cjose_jws_export(jws, &ser, NULL) ? sg_xstrdup(ser) : NULL;
    cjose_jws_release(jws);
    cjose_header_release(h);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!provider)
        setup();
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    char *token = NULL;
    switch (data[0]) {
    case '0': {
        sg_oidc_discovery d;
        if (sg_oidc_discovery_parse(text, n, ISSUER, false, &d) == 0)
            sg_oidc_discovery_clear(&d);
        break;
    }
    case '1': {
        sg_oidc_jwks *k = NULL;
        sg_oidc_jwks_parse(text, n, &k);
        sg_oidc_jwks_free(k);
        break;
    }
    case '2':
        token = sg_xstrndup(text, n);
        break;
    case '3':
        token = sign(data + 1, n);
        break;
    default:
        break;
    }
    if (token) {
        sg_oidc_claims c;
        if (sg_oidc_verify_id_token(provider, token, "nonce", 1800000000, &c) == 0)
            sg_oidc_claims_clear(&c);
        free(token);
    }
    return 0;
}
