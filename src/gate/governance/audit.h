/* audit: the append-only, hash-chained audit log. Entries are appended inside the transaction
 * of the change they record, so a change and its record commit together or not at all.
 * Each entry's hash is an HMAC-SHA256 under a key derived from the master key
 * (sg_audit_derive_key), set on the store with sg_store_set_mac_key: without the key nobody
 * can rebuild the chain. Entries written before that (plain SHA-256) stay as they are, up to
 * the SG_AUDIT_KEYED link entry whose HMAC covers the last plain hash
 * (sg_audit_key_chain). */
#ifndef SG_GATE_AUDIT_H
#define SG_GATE_AUDIT_H

#include "core/json.h"
#include "gate/secrets.h"
#include "store/store.h"

#include <stdint.h>

#define SG_AUDIT_KEY_LABEL "snowgate audit chain v1" /* the HKDF label of the chain's key */
#define SG_AUDIT_KEYED     "audit.chain_keyed"       /* the action of the link entry */

/* The chain's key: HKDF-SHA256 of the master key with SG_AUDIT_KEY_LABEL. Wipe it after use. */
int sg_audit_derive_key(const sg_secrets *s, uint8_t out[SG_STORE_MAC_KEY_LEN]);

/* Appends an entry (the store must have the chain's key). detail is JSON text (or NULL for "{}").
 * Call inside a write transaction. */
int sg_audit_append(sg_conn *c, const char *actor, const char *action, const char *subject,
                    const char *detail);

/* Appends in a transaction of its own. */
int sg_audit_record(sg_store *st, const char *actor, const char *action, const char *subject,
                    const char *detail);

/* Entries newest first, below seq `before` (0: from the newest), at most limit (1..500). Each
 * is {"seq","at","actor","action","subject","detail":{...},"hash"}. */
int sg_audit_list(sg_store *st, int64_t before, int64_t limit, sg_json **out);

typedef struct sg_audit_report {
    int64_t entries;
    int64_t bad_seq;    /* the first entry that does not verify; 0 when intact */
    char head[65];      /* the last entry's hash: record it elsewhere to detect truncation */
    int64_t keyed_from; /* the first entry under the HMAC (the link entry, or 1) */
    char problem[256];
} sg_audit_report;

/* Walks the chain under the store's key. SG_OK when intact; SG_ECONFLICT when an entry was
 * edited, removed or reordered, the chain was rebuilt without the key, the key is wrong or the
 * chain was never keyed (the report says which). Read-only. */
int sg_audit_verify(sg_store *st, sg_audit_report *out);

typedef struct sg_audit_keying {
    bool keyed;            /* a plain chain was keyed now */
    int64_t plain_entries; /* then: how many plain entries the link covers */
    char plain_head[65];   /* and the last plain hash */
    bool refused;          /* neither keyed nor an intact plain chain: left as it is */
    char problem[256];
} sg_audit_keying;

/* Keys a chain written before the audit chain had a key: when it has no link entry, its first
 * entry is not keyed and it verifies as plain SHA-256 throughout, appends the link entry
 * (detail: plain_entries, plain_head). An empty chain, a keyed one, or one that does not
 * verify (refused, logged) is left alone. In a write transaction, so replicas starting at
 * once key it once. Logs a warning when it keys. SG_OK unless the store fails. */
int sg_audit_key_chain(sg_store *st, sg_audit_keying *out);

#endif
