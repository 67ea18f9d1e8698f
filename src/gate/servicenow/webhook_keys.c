/* webhook_keys: the receiver's cache of the decrypted webhook signing secrets. */
#include "gate/servicenow/webhook_keys.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"
#include "core/webhook_sig.h"
#include "gate/secrets.h"
#include "gate/servicenow/integration.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One reading of the secrets, immutable once built and shared by reference: a delivery takes
 * a reference under the lock and hashes without it. The last reference wipes the secrets. */
typedef struct keyset {
    atomic_uint refs;
    char *sealed_current, *sealed_previous; /* as stored: a change in the store shows here */
    int64_t previous_until;
    char *current;  /* decrypted */
    char *previous; /* decrypted; NULL when none, past its grace when read, or undecryptable */
} keyset;

struct sg_webhook_keys {
    pthread_mutex_t mu;
    uint64_t generation; /* moved by every forget: a reading begun before it is not kept */
    keyset *ks;          /* NULL: nothing cached */
    int64_t checked_at;  /* unix seconds ks was last found equal to the store */
};

static void release(keyset *ks)
{
    if (!ks || atomic_fetch_sub(&ks->refs, 1) != 1)
        return;
    sg_secrets_free_plain(ks->current);
    sg_secrets_free_plain(ks->previous);
    free(ks->sealed_current);
    free(ks->sealed_previous);
    free(ks);
}

sg_webhook_keys *sg_webhook_keys_new(void)
{
    sg_webhook_keys *k = sg_xcalloc(1, sizeof(*k));
    pthread_mutex_init(&k->mu, NULL);
    return k;
}

void sg_webhook_keys_free(sg_webhook_keys *k)
{
    if (!k)
        return;
    release(k->ks);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

void sg_webhook_keys_forget(sg_webhook_keys *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    keyset *old = k->ks;
    k->ks = NULL;
    k->generation++;
    pthread_mutex_unlock(&k->mu);
    release(old);
}

/* The cached set with a reference for the caller (NULL: none), the generation it belongs to,
 * and whether it was checked against the store recently enough to be used without it. */
static keyset *take(sg_webhook_keys *k, int64_t now, uint64_t *gen, bool *fresh)
{
    *gen = 0;
    *fresh = false;
    if (!k)
        return NULL;
    pthread_mutex_lock(&k->mu);
    keyset *ks = k->ks;
    if (ks) {
        atomic_fetch_add(&ks->refs, 1);
        /* Either way: a clock set back does not stretch the trust. */
        *fresh = now - k->checked_at < SG_WEBHOOK_KEYS_RECHECK &&
                 k->checked_at - now < SG_WEBHOOK_KEYS_RECHECK;
    }
    *gen = k->generation;
    pthread_mutex_unlock(&k->mu);
    return ks;
}

/* Caches ks (NULL: nothing), checked against the store at `now`, in place of `was` (what take
 * returned), unless the secrets were forgotten since (the reading may predate a write) or
 * another delivery replaced `was` meanwhile (its reading is as recent as this one). */
static void keep(sg_webhook_keys *k, uint64_t gen, keyset *was, keyset *ks, int64_t now)
{
    if (!k)
        return;
    keyset *old = NULL;
    pthread_mutex_lock(&k->mu);
    if (k->generation == gen && k->ks == was) {
        if (ks != was) {
            old = was;
            if (ks)
                atomic_fetch_add(&ks->refs, 1);
            k->ks = ks;
        }
        k->checked_at = now;
    }
    pthread_mutex_unlock(&k->mu);
    release(old);
}

static bool same_sealed(const keyset *ks, const sg_integration_sealed *s)
{
    if (strcmp(ks->sealed_current, s->current) != 0)
        return false;
    if (!ks->sealed_previous || !s->previous)
        return !ks->sealed_previous && !s->previous;
    return strcmp(ks->sealed_previous, s->previous) == 0 && ks->previous_until == s->previous_until;
}

/* Decrypts what the store holds into a new set (one reference, the caller's); takes the
 * sealed strings from s. A previous secret past its grace at `now` is not decrypted. */
static int open_set(sg_app *app, sg_integration_sealed *s, int64_t now, keyset **out)
{
    keyset *ks = sg_xcalloc(1, sizeof(*ks));
    atomic_init(&ks->refs, 1);
    ks->sealed_current = s->current;
    ks->sealed_previous = s->previous;
    ks->previous_until = s->previous_until;
    s->current = s->previous = NULL;
    *out = NULL;
    int rc = sg_secrets_open_value(&app->secrets, SG_INTEGRATION_SECRET_BINDING, ks->sealed_current,
                                   &ks->current);
    if (rc != SG_OK) {
        release(ks);
        /* Not the sender's doing: this process holds another master key, or the row is bad. */
        return sg_err_wrap(SG_EINTERNAL, "cannot verify webhooks");
    }
    if (ks->sealed_previous && now < ks->previous_until &&
        sg_secrets_open_value(&app->secrets, SG_INTEGRATION_SECRET_BINDING, ks->sealed_previous,
                              &ks->previous) != SG_OK)
        sg_log_warn("the previous webhook secret does not decrypt; only the current one is "
                    "accepted",
                    "reason", sg_err_msg());
    *out = ks;
    return SG_OK;
}

typedef struct delivery {
    const char *id, *timestamp, *signature;
    const void *body;
    size_t len;
    int64_t now;
} delivery;

enum { MATCH_NONE, MATCH_CURRENT, MATCH_PREVIOUS };

/* Which secret of ks signed d. The previous one counts only before its grace ends at d->now,
 * however long ago ks was read. */
static int match(const keyset *ks, const delivery *d)
{
    if (sg_webhook_sig_verify(ks->current, d->id, d->timestamp, d->signature, d->body, d->len,
                              d->now) == SG_OK)
        return MATCH_CURRENT;
    if (ks->previous && d->now < ks->previous_until &&
        sg_webhook_sig_verify(ks->previous, d->id, d->timestamp, d->signature, d->body, d->len,
                              d->now) == SG_OK)
        return MATCH_PREVIOUS;
    return MATCH_NONE;
}

static void count_read(const char *result)
{
    char labels[64];
    sg_metrics_labels(labels, sizeof(labels), "result", result, (const char *)NULL);
    sg_metrics_inc("snowgate_webhook_secret_reads_total", labels, 1);
}

bool sg_webhook_keys_match_cached(sg_app *app, const char *id, const char *timestamp,
                                  const char *signature, const void *body, size_t len, int64_t now)
{
    delivery d = {id, timestamp, signature, body, len, now};
    uint64_t gen = 0;
    bool fresh = false;
    keyset *have = take(app->webhook_keys, now, &gen, &fresh);
    bool ok = have && fresh && match(have, &d) == MATCH_CURRENT;
    release(have);
    return ok;
}

int sg_webhook_keys_verify(sg_app *app, const char *id, const char *timestamp,
                           const char *signature, const void *body, size_t len, int64_t now,
                           bool *by_previous)
{
    delivery d = {id, timestamp, signature, body, len, now};
    sg_webhook_keys *k = app->webhook_keys;
    sg_integration_sealed s;
    memset(&s, 0, sizeof(s));
    keyset *fresh_set = NULL;
    uint64_t gen = 0;
    bool fresh = false;
    int m = MATCH_NONE;
    int rc = SG_OK;
    *by_previous = false;

    keyset *have = take(k, now, &gen, &fresh);
    if (have && fresh) {
        m = match(have, &d);
        if (m == MATCH_CURRENT) /* the common path: the store is not touched */
            goto cleanup;
    }
    /* No match, the previous secret, or a cache due for its check: the store, once. */
    rc = sg_integration_webhook_sealed(app, &s);
    if (rc != SG_OK)
        goto cleanup;
    if (!s.current) {
        count_read("not_configured");
        keep(k, gen, have, NULL, now);
        rc = sg_err_set(SG_ENOTFOUND, "the ServiceNow integration is not configured");
        goto cleanup;
    }
    if (have && same_sealed(have, &s)) {
        count_read("unchanged");
        keep(k, gen, have, have, now);
        if (!fresh)
            m = match(have, &d);
    } else {
        count_read("loaded");
        rc = open_set(app, &s, now, &fresh_set);
        if (rc != SG_OK)
            goto cleanup;
        keep(k, gen, have, fresh_set, now);
        if (have)
            sg_log_debug("the webhook secrets changed in the store; verifying with them");
        m = match(fresh_set, &d);
    }
    if (m == MATCH_NONE)
        rc = sg_err_set(SG_EAUTH, "no matching v1 signature");
cleanup:
    if (rc == SG_OK)
        *by_previous = m == MATCH_PREVIOUS;
    sg_integration_sealed_clear(&s);
    release(fresh_set);
    release(have);
    return rc;
}
