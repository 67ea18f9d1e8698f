/* oidc: the OpenID Connect relying party (authorization code + PKCE): provider discovery, the
 * JWKS cache, ID token verification, the authorization URL and the token exchange.
 *
 * Not wired yet: no route, setting or page uses this module (issue #24 builds sign-in on it),
 * so snowgate has no single sign-on today; it is built and tested on its own.
 *
 * JOSE (JWK import, JWS signature checks) is libcjose's, the library Apache's mod_auth_openidc
 * uses: Debian packages it (libcjose-dev), it is built on jansson and OpenSSL like snowgate, and
 * it imports JWKs straight from JSON. This module is the only one that includes it. Everything
 * around the signature (which algorithms, which key, the claims) is checked here, before and
 * after cjose, so that each refusal says which check failed. */
#ifndef SG_GATE_SSO_OIDC_H
#define SG_GATE_SSO_OIDC_H

#include "http/client.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps on what a provider or a browser hands us. */
#define SG_OIDC_MAX_TOKEN  (64 * 1024)  /* a compact ID token */
#define SG_OIDC_MAX_DOC    (512 * 1024) /* a discovery or JWKS document, a token response */
#define SG_OIDC_MAX_KEYS   64
#define SG_OIDC_MAX_GROUPS 1024

/* The HTTP call the module makes; the default is sg_http_request (guard, TLS verification,
 * timeouts, size cap). Tests replace it to play the provider. */
typedef int (*sg_oidc_http_fn)(void *ctx, const sg_http_client_opts *opts, const char *method,
                               const char *url, const char *const *headers, const void *body,
                               size_t len, sg_http_response *res);

typedef struct sg_oidc_config {
    const char *issuer; /* compared exactly with the discovery document's and the tokens' iss */
    const char *client_id;
    const char *client_secret;
    const char *redirect_uri;
    const char *scopes;           /* NULL: "openid email profile" */
    const char *groups_claim;     /* NULL or "": no groups */
    int64_t clock_skew_s;         /* allowed for exp, nbf and iat */
    int64_t jwks_ttl_s;           /* how long fetched keys are used before they are fetched again */
    int64_t jwks_refetch_min_s;   /* an unknown kid refetches the keys at most this often */
    bool allow_insecure_loopback; /* tests and the demo only, as everywhere else */
    const char *ca_file;          /* extra CA bundle, NULL for the system store */
    sg_oidc_http_fn http;         /* NULL: sg_http_request */
    void *http_ctx;
} sg_oidc_config;

#define SG_OIDC_CONFIG_INIT                                                                        \
    {                                                                                              \
        NULL, NULL, NULL, NULL, NULL, "groups", 120, 3600, 60, false, NULL, NULL, NULL             \
    }

/* A provider's discovery document, the parts we use. */
typedef struct sg_oidc_discovery {
    char *issuer;
    char *authorization_endpoint;
    char *token_endpoint;
    char *jwks_uri;
    char *userinfo_endpoint; /* NULL when the provider has none */
} sg_oidc_discovery;

/* Parses a .well-known/openid-configuration document. SG_EINVAL with the reason when it is not
 * JSON, its issuer is not exactly `issuer`, an endpoint is missing, or an endpoint fails the
 * outbound guard (https only, no private or loopback host; allow_insecure_loopback as in
 * sg_url_guard). *out is the caller's: free with sg_oidc_discovery_clear(). */
int sg_oidc_discovery_parse(const char *json, size_t len, const char *issuer,
                            bool allow_insecure_loopback, sg_oidc_discovery *out);
void sg_oidc_discovery_clear(sg_oidc_discovery *d);

/* A parsed JWKS: the asymmetric signing keys in it. */
typedef struct sg_oidc_jwks sg_oidc_jwks;

/* Parses a JWKS document. Keys that cannot sign ID tokens we accept are skipped: symmetric
 * ("oct") keys, "use" other than "sig", unknown key types. SG_EINVAL when the document is not a
 * JWKS or has no usable key; more than SG_OIDC_MAX_KEYS keys is SG_ETOOBIG. *out is the
 * caller's: free with sg_oidc_jwks_free(). */
int sg_oidc_jwks_parse(const char *json, size_t len, sg_oidc_jwks **out);
void sg_oidc_jwks_free(sg_oidc_jwks *k);
size_t sg_oidc_jwks_count(const sg_oidc_jwks *k);

/* The claims of a verified ID token. Strings are the caller's; NULL when absent. */
typedef struct sg_oidc_claims {
    char *sub;
    char *email;
    bool email_verified;
    char *name;
    char *preferred_username;
    char **groups; /* the configured groups claim; empty when absent */
    size_t ngroups;
} sg_oidc_claims;

void sg_oidc_claims_clear(sg_oidc_claims *c);

/* A configured provider: its settings, its discovery document and its JWKS cache. Thread-safe:
 * one per process, shared by every request. */
typedef struct sg_oidc_provider sg_oidc_provider;

/* Copies cfg (issuer, client_id, client_secret and redirect_uri are required; SG_EINVAL
 * otherwise, or when the issuer fails the outbound guard). Fetches nothing yet. */
int sg_oidc_provider_new(const sg_oidc_config *cfg, sg_oidc_provider **out);
void sg_oidc_provider_free(sg_oidc_provider *p);

/* Fetches the discovery document (issuer + "/.well-known/openid-configuration") and then the
 * JWKS, and keeps both. An unreachable provider, a 429 or a 5xx is SG_EUNAVAIL; another status
 * or a bad document is SG_EINVAL. `now` is the Unix time (the JWKS lifetime starts there).
 * The other calls run it themselves when it has not succeeded yet. */
int sg_oidc_provider_discover(sg_oidc_provider *p, int64_t now);

/* Verifies a compact ID token at Unix time `now`: the header's alg is an asymmetric one (RS*,
 * PS*, ES*; never "none" nor HS*) that matches the key; the key is found by kid in the JWKS
 * (an unknown kid refetches the JWKS at most once per jwks_refetch_min_s); the signature; iss
 * exactly the issuer; aud contains client_id (and with several audiences azp is client_id); exp,
 * nbf and iat within the clock skew; nonce equal to `nonce` (constant-time); sub present; the
 * groups claim, when present, an array of strings. A refusal is SG_EAUTH with "ID token
 * refused: <which check>", also logged at warning; the token itself is never logged. A JWKS the
 * provider cannot serve is SG_EUNAVAIL. *out is the caller's: free with sg_oidc_claims_clear(). */
int sg_oidc_verify_id_token(sg_oidc_provider *p, const char *id_token, const char *nonce,
                            int64_t now, sg_oidc_claims *out);

/* What a sign-in keeps between the redirect to the provider and the callback: state (compare
 * with the callback's), nonce (pass to sg_oidc_verify_id_token) and the PKCE code_verifier
 * (pass to sg_oidc_exchange_code). Each is 32 random bytes in base64url. url is where to send
 * the browser. All the caller's: free with sg_oidc_auth_request_clear() (wipes them). */
typedef struct sg_oidc_auth_request {
    char *state;
    char *nonce;
    char *code_verifier;
    char *url;
} sg_oidc_auth_request;

int sg_oidc_auth_request_new(sg_oidc_provider *p, int64_t now, sg_oidc_auth_request *out);
void sg_oidc_auth_request_clear(sg_oidc_auth_request *r);

/* The S256 PKCE challenge of a code_verifier (RFC 7636): base64url(SHA-256(verifier)). The
 * caller frees the result. */
char *sg_oidc_pkce_challenge(const char *verifier);

/* The token endpoint's answer. Secrets: sg_oidc_tokens_clear() wipes them. */
typedef struct sg_oidc_tokens {
    char *id_token;
    char *access_token; /* NULL when absent */
    int64_t expires_in; /* 0 when absent */
} sg_oidc_tokens;

void sg_oidc_tokens_clear(sg_oidc_tokens *t);

/* Redeems an authorization code at the token endpoint (grant_type=authorization_code, with
 * redirect_uri and code_verifier; client_secret_basic authentication). Errors: SG_EUNAVAIL when
 * the provider is unreachable or answers 429 or 5xx; SG_EDENIED when it refuses the grant
 * (invalid_grant, access_denied: the user signs in again); SG_EINVAL for the other refusals
 * (invalid_client and the like: the configuration is wrong) and bad answers. Refusals carry the
 * provider's error and error_description. The ID token is not verified here. */
int sg_oidc_exchange_code(sg_oidc_provider *p, const char *code, const char *code_verifier,
                          int64_t now, sg_oidc_tokens *out);

#endif
