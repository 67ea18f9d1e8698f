/* token_cache: one cached access token, under a mutex; wiped when replaced or dropped. */
#include "gate/servicenow/token_cache.h"

#include "core/mem.h"
#include "gate/secrets.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct sg_sn_token_cache {
    pthread_mutex_t mu;
    uint8_t key[SG_SHA256_LEN];
    char *access; /* NULL: empty */
    int64_t until;
};

sg_sn_token_cache *sg_sn_token_cache_new(void)
{
    sg_sn_token_cache *c = sg_xcalloc(1, sizeof(*c));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

/* Under the mutex. */
static void drop(sg_sn_token_cache *c)
{
    sg_secrets_free_plain(c->access);
    c->access = NULL;
    c->until = 0;
    sg_wipe(c->key, sizeof(c->key));
}

void sg_sn_token_cache_free(sg_sn_token_cache *c)
{
    if (!c)
        return;
    drop(c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

char *sg_sn_token_cache_get(sg_sn_token_cache *c, const uint8_t key[SG_SHA256_LEN], int64_t now)
{
    if (!c)
        return NULL;
    char *out = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->access && now < c->until && sg_ct_equal(c->key, key, SG_SHA256_LEN))
        out = sg_xstrdup(c->access);
    pthread_mutex_unlock(&c->mu);
    return out;
}

void sg_sn_token_cache_put(sg_sn_token_cache *c, const uint8_t key[SG_SHA256_LEN],
                           const char *access, int64_t expires_in, int64_t now)
{
    if (!c || !access || expires_in <= SG_SN_TOKEN_MARGIN)
        return;
    pthread_mutex_lock(&c->mu);
    drop(c);
    memcpy(c->key, key, SG_SHA256_LEN);
    c->access = sg_xstrdup(access);
    /* ServiceNow's lifetime, but never past a day: a huge expires_in neither overflows nor
     * keeps a token for ever. */
    c->until = now + (expires_in < 86400 ? expires_in : 86400) - SG_SN_TOKEN_MARGIN;
    pthread_mutex_unlock(&c->mu);
}

void sg_sn_token_cache_forget(sg_sn_token_cache *c, const char *access)
{
    if (!c || !access)
        return;
    size_t n = strlen(access);
    pthread_mutex_lock(&c->mu);
    if (c->access && strlen(c->access) == n && sg_ct_equal(c->access, access, n))
        drop(c);
    pthread_mutex_unlock(&c->mu);
}

void sg_sn_token_cache_clear(sg_sn_token_cache *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    drop(c);
    pthread_mutex_unlock(&c->mu);
}
