/* token_cache: the service account's ServiceNow access token, kept in memory and reused by
 * every call until shortly before it expires, instead of a token request per job.
 *
 * The entry is keyed on a digest of the credentials it was obtained with (instance, client,
 * grant, user, client secret and refresh token), so a reconnect, a new secret or another
 * replica's reconnect (read from the store on each session) misses it. ServiceNow refusing
 * it (401) drops it (sn_call does), and so does its lifetime running out: the next session
 * asks for a new one. */
#ifndef SG_GATE_SN_TOKEN_CACHE_H
#define SG_GATE_SN_TOKEN_CACHE_H

#include "core/crypto.h"

#include <stdint.h>

/* Seconds before its expiry that a token stops being handed out, so that a call made with it
 * does not reach ServiceNow after it expired. */
#define SG_SN_TOKEN_MARGIN 60

typedef struct sg_sn_token_cache sg_sn_token_cache;

/* An empty cache (sg_app_open makes app->sn_tokens). */
sg_sn_token_cache *sg_sn_token_cache_new(void);
/* Wipes and frees it; NULL is a no-op. */
void sg_sn_token_cache_free(sg_sn_token_cache *c);

/* A copy of the token cached for credentials `key` that is still good at `now` (unix
 * seconds), or NULL. The caller frees it with sg_secrets_free_plain. NULL cache: NULL. */
char *sg_sn_token_cache_get(sg_sn_token_cache *c, const uint8_t key[SG_SHA256_LEN], int64_t now);
/* Keeps `access` (copied) for key, good until now + expires_in - SG_SN_TOKEN_MARGIN; a token
 * that lives no longer than the margin is not kept. NULL cache: no-op. */
void sg_sn_token_cache_put(sg_sn_token_cache *c, const uint8_t key[SG_SHA256_LEN],
                           const char *access, int64_t expires_in, int64_t now);
/* Drops the cached token if it is `access` (ServiceNow refused it). NULL cache: no-op. */
void sg_sn_token_cache_forget(sg_sn_token_cache *c, const char *access);

/* Drops the cached token whatever it is: Connect, Run test and Disconnect call it, so that a
 * reset connection never goes on with a token from before (the credentials can be the same:
 * client_credentials keeps no refresh token). NULL cache: no-op. */
void sg_sn_token_cache_clear(sg_sn_token_cache *c);

#endif
