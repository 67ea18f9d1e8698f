/* records: in-memory tables (uthash, one per table, with secondary indexes) written through to
 * the store. */
#include "sim/records.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PASSWORD_ITERATIONS 20000

/* One value of an indexed field and the records holding it, in seq order (the order a scan
 * gives). A single record (the common case: number, correlation_id) lives in `one`. */
typedef struct idx_entry {
    UT_hash_handle hh;
    sim_rec **recs; /* &one while cap <= 1 */
    sim_rec *one;
    size_t n, cap;
    char key[];
} idx_entry;

typedef struct field_index {
    const char *field;  /* the dictionary's name */
    idx_entry *entries; /* uthash head, keyed by value */
} field_index;

typedef struct table_slot {
    const sim_table *t;
    sim_rec *recs;    /* uthash head, keyed by sys_id (the sys_id index) */
    field_index *idx; /* one per indexed field of t (its own and inherited) */
    size_t nidx;
} table_slot;

typedef struct counter {
    char name[16];
    int64_t value;
} counter;

struct sim_db {
    pthread_rwlock_t lock;
    sg_store *st;
    table_slot slots[1024];
    size_t nslots;
    uint64_t next_seq;
    counter counters[32];
    size_t ncounters;
    uint8_t key[SG_AEAD_KEY_LEN]; /* the instance key: seals password2 properties */
    char sealed_with[33];         /* the id of the key the store's values were sealed with */
};

/* sim_meta's row naming the instance key that sealed the store's password2 values. */
#define META_KEY_ID "instance_key_id"

void sim_time_format(int64_t t, char out[20])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

void sim_now(char out[20])
{
    sim_time_format((int64_t)time(NULL), out);
}

void sim_new_sys_id(char out[33])
{
    sg_random_hex(out, 16);
}

bool sim_is_sys_id(const char *s)
{
    if (!s || strlen(s) != 32)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

char *sim_password_hash(const char *password)
{
    char *out = NULL;
    if (sg_password_hash(password, PASSWORD_ITERATIONS, &out) != SG_OK)
        abort();
    return out;
}

bool sim_password_check(const char *stored, const char *password)
{
    return sg_password_verify(stored, password);
}

/* ---- secondary indexes ----
 * Keys are exact values: the queries they serve (= and IN on non-boolean fields) compare with
 * strcmp. Empty values stay out, which keeps unset references from making one huge entry. */

static void add_index(void *ctx, const sim_field *f)
{
    table_slot *s = ctx;
    if (!f->indexed || strcmp(f->name, "sys_id") == 0)
        return;
    s->idx = sg_xrealloc(s->idx, (s->nidx + 1) * sizeof(*s->idx));
    s->idx[s->nidx].field = f->name;
    s->idx[s->nidx].entries = NULL;
    s->nidx++;
}

static field_index *slot_index(const table_slot *s, const char *field)
{
    for (size_t i = 0; i < s->nidx; i++)
        if (strcmp(s->idx[i].field, field) == 0)
            return &s->idx[i];
    return NULL;
}

/* The position of seq in e's records, or where it would go. */
static size_t entry_pos(const idx_entry *e, uint64_t seq)
{
    size_t lo = 0, hi = e->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->recs[mid]->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void idx_add(field_index *fi, sim_rec *r, const char *v)
{
    if (!*v)
        return;
    size_t len = strlen(v);
    idx_entry *e = NULL;
    HASH_FIND(hh, fi->entries, v, len, e);
    if (!e) {
        e = sg_xcalloc(1, sizeof(*e) + len + 1);
        memcpy(e->key, v, len + 1);
        e->recs = &e->one;
        e->cap = 1;
        HASH_ADD_KEYPTR(hh, fi->entries, e->key, len, e);
    }
    if (e->n == e->cap) {
        size_t cap = e->cap * 2;
        sim_rec **recs = sg_xmalloc(cap * sizeof(*recs));
        memcpy(recs, e->recs, e->n * sizeof(*recs));
        if (e->recs != &e->one)
            free(e->recs);
        e->recs = recs;
        e->cap = cap;
    }
    /* New records have the highest seq; an update may bring an older one in. */
    size_t at = e->n == 0 || e->recs[e->n - 1]->seq < r->seq ? e->n : entry_pos(e, r->seq);
    memmove(e->recs + at + 1, e->recs + at, (e->n - at) * sizeof(*e->recs));
    e->recs[at] = r;
    e->n++;
}

static void idx_remove(field_index *fi, const sim_rec *r, const char *v)
{
    if (!*v)
        return;
    idx_entry *e = NULL;
    HASH_FIND(hh, fi->entries, v, strlen(v), e);
    size_t at = e ? entry_pos(e, r->seq) : 0;
    if (!e || at >= e->n || e->recs[at] != r)
        abort(); /* the index lost track of a record: every later answer would be wrong */
    memmove(e->recs + at, e->recs + at + 1, (e->n - at - 1) * sizeof(*e->recs));
    e->n--;
    if (e->n == 0) {
        HASH_DEL(fi->entries, e);
        if (e->recs != &e->one)
            free(e->recs);
        free(e);
    }
}

static void index_record(table_slot *s, sim_rec *r)
{
    for (size_t i = 0; i < s->nidx; i++)
        idx_add(&s->idx[i], r, sim_rec_get(r, s->idx[i].field));
}

static void unindex_record(table_slot *s, const sim_rec *r)
{
    for (size_t i = 0; i < s->nidx; i++)
        idx_remove(&s->idx[i], r, sim_rec_get(r, s->idx[i].field));
}

/* Moves r between entries for the indexed fields whose value differs from `old`'s. */
static void reindex_record(table_slot *s, sim_rec *r, const sg_json *old)
{
    for (size_t i = 0; i < s->nidx; i++) {
        const char *was = sg_json_get_str(old, s->idx[i].field);
        const char *now = sim_rec_get(r, s->idx[i].field);
        if (!was)
            was = "";
        if (strcmp(was, now) == 0)
            continue;
        idx_remove(&s->idx[i], r, was);
        idx_add(&s->idx[i], r, now);
    }
}

static void free_indexes(table_slot *s)
{
    for (size_t i = 0; i < s->nidx; i++) {
        idx_entry *e, *tmp;
        HASH_ITER(hh, s->idx[i].entries, e, tmp)
        {
            HASH_DEL(s->idx[i].entries, e);
            if (e->recs != &e->one)
                free(e->recs);
            free(e);
        }
    }
    free(s->idx);
    s->idx = NULL;
    s->nidx = 0;
}

static table_slot *slot_for(sim_db *db, const sim_table *t)
{
    for (size_t i = 0; i < db->nslots; i++)
        if (db->slots[i].t == t)
            return &db->slots[i];
    if (db->nslots >= sizeof(db->slots) / sizeof(db->slots[0]))
        abort();
    table_slot *s = &db->slots[db->nslots++];
    s->t = t;
    s->recs = NULL;
    s->idx = NULL;
    s->nidx = 0;
    sim_dict_each_field(t, add_index, s);
    return s;
}

void sim_db_rdlock(sim_db *db)
{
    pthread_rwlock_rdlock(&db->lock);
}

void sim_db_wrlock(sim_db *db)
{
    pthread_rwlock_wrlock(&db->lock);
}

void sim_db_unlock(sim_db *db)
{
    pthread_rwlock_unlock(&db->lock);
}

typedef struct load_ctx {
    sim_db *db;
} load_ctx;

static int load_all(sg_conn *c, void *ctx)
{
    sim_db *db = ((load_ctx *)ctx)->db;
    sg_rows *rows = NULL;
    int rc =
        sg_conn_query(c, "SELECT tbl, sys_id, seq, data FROM records ORDER BY seq", NULL, 0, &rows);
    if (rc != SG_OK)
        return rc;
    int step;
    while ((step = sg_rows_next(rows)) == 1) {
        const sim_table *t = sim_dict_dynamic(sg_rows_text(rows, 0));
        if (!t) {
            sg_log_warn("skipping a record of an unusable table", "table", sg_rows_text(rows, 0));
            continue;
        }
        sg_json *f = NULL;
        const char *data = sg_rows_text(rows, 3);
        if (sg_json_parse(data, strlen(data), 64 * 1024 * 1024, 0, &f) != SG_OK) {
            sg_rows_free(rows);
            return sg_err_wrap(SG_ESTORE, "record %s is corrupt", sg_rows_text(rows, 1));
        }
        sim_rec *r = sg_xcalloc(1, sizeof(*r));
        sg_strlcpy(r->sys_id, sg_rows_text(rows, 1), sizeof(r->sys_id));
        r->t = t;
        r->f = f;
        r->seq = (uint64_t)sg_rows_int(rows, 2);
        if (r->seq >= db->next_seq)
            db->next_seq = r->seq + 1;
        table_slot *s = slot_for(db, t);
        HASH_ADD_STR(s->recs, sys_id, r);
        index_record(s, r);
    }
    sg_rows_free(rows);
    if (step < 0)
        return step;
    rc = sg_conn_query(c, "SELECT name, value FROM counters", NULL, 0, &rows);
    if (rc != SG_OK)
        return rc;
    while ((step = sg_rows_next(rows)) == 1 && db->ncounters < 32) {
        counter *k = &db->counters[db->ncounters++];
        sg_strlcpy(k->name, sg_rows_text(rows, 0), sizeof(k->name));
        k->value = sg_rows_int(rows, 1);
    }
    sg_rows_free(rows);
    if (step < 0)
        return step;
    sg_val mk[] = {SG_VTEXT(META_KEY_ID)};
    rc = sg_conn_query(c, "SELECT value FROM sim_meta WHERE key = ?1", mk, 1, &rows);
    if (rc != SG_OK)
        return rc;
    step = sg_rows_next(rows);
    if (step == 1)
        sg_strlcpy(db->sealed_with, sg_rows_text(rows, 0), sizeof(db->sealed_with));
    sg_rows_free(rows);
    return step < 0 ? step : SG_OK;
}

static int seal_loaded(sim_db *db);

int sim_db_open(sg_store *st, const uint8_t key[SG_AEAD_KEY_LEN], sim_db **out)
{
    sim_db *db = sg_xcalloc(1, sizeof(*db));
    pthread_rwlock_init(&db->lock, NULL);
    db->st = st;
    db->next_seq = 1;
    memcpy(db->key, key, SG_AEAD_KEY_LEN);
    load_ctx lc = {db};
    int rc = sg_store_read(st, load_all, &lc);
    if (rc == SG_OK)
        rc = seal_loaded(db);
    if (rc != SG_OK) {
        sim_db_free(db);
        return rc;
    }
    *out = db;
    return SG_OK;
}

void sim_db_free(sim_db *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->nslots; i++) {
        sim_rec *r, *tmp;
        HASH_ITER(hh, db->slots[i].recs, r, tmp)
        {
            HASH_DEL(db->slots[i].recs, r);
            sg_json_decref(r->f);
            free(r);
        }
        free_indexes(&db->slots[i]);
    }
    pthread_rwlock_destroy(&db->lock);
    sg_wipe(db->key, sizeof(db->key));
    free(db);
}

sim_rec *sim_db_get(sim_db *db, const sim_table *t, const char *sys_id)
{
    if (!sys_id)
        return NULL;
    for (size_t i = 0; i < db->nslots; i++) {
        if (!sim_dict_is_a(db->slots[i].t, t))
            continue;
        sim_rec *r = NULL;
        HASH_FIND_STR(db->slots[i].recs, sys_id, r);
        if (r)
            return r;
    }
    return NULL;
}

static int cmp_seq(const void *a, const void *b)
{
    const sim_rec *x = *(sim_rec *const *)a, *y = *(sim_rec *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

bool sim_db_lookup(sim_db *db, const sim_table *t, const char *field, const char *const *values,
                   size_t nvalues, sim_rec ***out, size_t *count)
{
    bool by_id = strcmp(field, "sys_id") == 0;
    for (size_t v = 0; v < nvalues; v++)
        if (!*values[v])
            return false;
    size_t nfamily = 0;
    for (size_t i = 0; i < db->nslots; i++) {
        if (!sim_dict_is_a(db->slots[i].t, t))
            continue;
        if (!by_id && !slot_index(&db->slots[i], field))
            return false;
        nfamily++;
    }
    size_t n = 0, cap = 0;
    sim_rec **hits = NULL;
    for (size_t i = 0; i < db->nslots; i++) {
        const table_slot *s = &db->slots[i];
        if (!sim_dict_is_a(s->t, t))
            continue;
        const field_index *fi = by_id ? NULL : slot_index(s, field);
        for (size_t v = 0; v < nvalues; v++) {
            sim_rec *one = NULL, **recs = NULL;
            size_t k = 0;
            if (by_id) {
                HASH_FIND_STR(s->recs, values[v], one);
                recs = &one;
                k = one ? 1 : 0;
            } else {
                idx_entry *e = NULL;
                HASH_FIND(hh, fi->entries, values[v], strlen(values[v]), e);
                recs = e ? e->recs : NULL;
                k = e ? e->n : 0;
            }
            if (out && k > 0) {
                if (n + k > cap) {
                    cap = (n + k) * 2;
                    hits = sg_xrealloc(hits, cap * sizeof(*hits));
                }
                memcpy(hits + n, recs, k * sizeof(*hits));
            }
            n += k;
        }
    }
    if (!out) {
        *count = n;
        return true;
    }
    /* One entry of one table is in seq order already; a union needs sorting and may hold a
     * record twice (a value repeated in an IN list). */
    if (n > 1 && (nfamily > 1 || nvalues > 1)) {
        qsort(hits, n, sizeof(*hits), cmp_seq);
        size_t kept = 1;
        for (size_t i = 1; i < n; i++)
            if (hits[i] != hits[kept - 1])
                hits[kept++] = hits[i];
        n = kept;
    }
    *out = hits;
    *count = n;
    return true;
}

typedef struct find_ctx {
    const char *field, *value;
    bool (*fn)(void *ctx, sim_rec *r);
    void *ctx;
} find_ctx;

static bool find_cb(void *ctx, sim_rec *r)
{
    find_ctx *fc = ctx;
    if (strcmp(sim_rec_get(r, fc->field), fc->value) != 0)
        return true;
    return fc->fn(fc->ctx, r);
}

void sim_db_each_eq(sim_db *db, const sim_table *t, const char *field, const char *value,
                    bool (*fn)(void *ctx, sim_rec *r), void *ctx)
{
    sim_rec **hits = NULL;
    size_t n = 0;
    if (sim_db_lookup(db, t, field, &value, 1, &hits, &n)) {
        for (size_t i = 0; i < n; i++)
            if (!fn(ctx, hits[i]))
                break;
        free(hits);
        return;
    }
    find_ctx fc = {field, value, fn, ctx};
    sim_db_each(db, t, find_cb, &fc);
}

static bool first_cb(void *ctx, sim_rec *r)
{
    *(sim_rec **)ctx = r;
    return false;
}

sim_rec *sim_db_find(sim_db *db, const sim_table *t, const char *field, const char *value)
{
    sim_rec *found = NULL;
    sim_db_each_eq(db, t, field, value, first_cb, &found);
    return found;
}

void sim_db_each(sim_db *db, const sim_table *t, bool (*fn)(void *ctx, sim_rec *r), void *ctx)
{
    size_t matching = 0, total = 0;
    table_slot *only = NULL;
    for (size_t i = 0; i < db->nslots; i++) {
        if (sim_dict_is_a(db->slots[i].t, t)) {
            matching++;
            only = &db->slots[i];
            total += HASH_COUNT(db->slots[i].recs);
        }
    }
    if (matching == 0)
        return;
    if (matching == 1) {
        /* uthash iterates in insertion order, which is seq order within one table. */
        for (sim_rec *r = only->recs; r; r = r->hh.next)
            if (!fn(ctx, r))
                return;
        return;
    }
    sim_rec **all = sg_xmalloc(total * sizeof(*all) + 1);
    size_t n = 0;
    for (size_t i = 0; i < db->nslots; i++)
        if (sim_dict_is_a(db->slots[i].t, t))
            for (sim_rec *r = db->slots[i].recs; r; r = r->hh.next)
                all[n++] = r;
    qsort(all, n, sizeof(*all), cmp_seq);
    for (size_t i = 0; i < n; i++)
        if (!fn(ctx, all[i]))
            break;
    free(all);
}

const char *sim_rec_get(const sim_rec *r, const char *field)
{
    const char *v = sg_json_get_str(r->f, field);
    return v ? v : "";
}

/* ---- writing ---- */

typedef struct persist_ctx {
    const sim_rec *r;
    bool del;
    const counter *k;
} persist_ctx;

static int persist(sg_conn *c, void *ctx)
{
    persist_ctx *p = ctx;
    int rc = SG_OK;
    if (p->del) {
        sg_val v[] = {SG_VTEXT(p->r->t->name), SG_VTEXT(p->r->sys_id)};
        return sg_conn_exec(c, "DELETE FROM records WHERE tbl = ?1 AND sys_id = ?2", v, 2, NULL);
    }
    char *data = sg_json_dump(p->r->f);
    sg_val v[] = {SG_VTEXT(p->r->t->name), SG_VTEXT(p->r->sys_id), SG_VINT(p->r->seq),
                  SG_VTEXT(data)};
    rc = sg_conn_exec(c,
                      "INSERT INTO records (tbl, sys_id, seq, data) VALUES (?1, ?2, ?3, ?4) "
                      "ON CONFLICT (tbl, sys_id) DO UPDATE SET data = excluded.data",
                      v, 4, NULL);
    free(data);
    if (rc == SG_OK && p->k) {
        sg_val kv[] = {SG_VTEXT(p->k->name), SG_VINT(p->k->value)};
        rc = sg_conn_exec(c,
                          "INSERT INTO counters (name, value) VALUES (?1, ?2) "
                          "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                          kv, 2, NULL);
    }
    return rc;
}

/* ---- password2 system properties ----
 * A sys_properties record whose type is password2 holds its value sealed, as on a real
 * instance: base64(nonce || AES-256-GCM ciphertext || tag) under the instance key, with
 * "sys_properties.value:<sys_id>" as associated data. The sys_id never changes, so a renamed
 * property stays readable; a ciphertext copied into another property does not open there and
 * is taken for clear text (sealed again) rather than passed off as that property's secret. */

#define PROPERTY_AD_LEN 64

static bool is_password2(const sim_rec *r)
{
    return sim_dict_is_a(r->t, sim_dict_table("sys_properties")) &&
           strcmp(sim_rec_get(r, "type"), "password2") == 0;
}

static void property_ad(const sim_rec *r, char ad[PROPERTY_AD_LEN])
{
    snprintf(ad, PROPERTY_AD_LEN, "sys_properties.value:%s", r->sys_id);
}

/* Appends the clear text of r's sealed value to pt (which the caller wipes). SG_EAUTH or
 * SG_EINVAL when the value is not a ciphertext of this record under the instance key. */
static int open_property(const sim_db *db, const sim_rec *r, const char *sealed, sg_buf *pt)
{
    char ad[PROPERTY_AD_LEN];
    property_ad(r, ad);
    sg_buf ct = SG_BUF_INIT(0);
    int rc = sg_base64_decode(sealed, strlen(sealed), false, &ct);
    if (rc == SG_OK)
        rc = sg_aead_open(db->key, ad, strlen(ad), ct.data, ct.len, pt);
    sg_buf_free(&ct);
    return rc;
}

/* Seals r's value when r is a password2 property holding clear text. *sealed tells whether
 * the value was replaced. A value that already opens under the key is left as it is, so a
 * client writing back the ciphertext it read changes nothing. */
static int seal_property(sim_db *db, sim_rec *r, bool *sealed)
{
    *sealed = false;
    if (!is_password2(r))
        return SG_OK;
    const char *v = sim_rec_get(r, "value");
    if (!*v)
        return SG_OK;
    sg_buf pt = SG_BUF_INIT(0);
    int rc = open_property(db, r, v, &pt);
    sg_buf_wipe(&pt);
    if (rc == SG_OK)
        return SG_OK;
    char ad[PROPERTY_AD_LEN];
    property_ad(r, ad);
    sg_buf ct = SG_BUF_INIT(0), b64 = SG_BUF_INIT(0);
    rc = sg_aead_seal(db->key, ad, strlen(ad), v, strlen(v), &ct);
    if (rc == SG_OK)
        rc = sg_base64_encode(ct.data, ct.len, false, &b64);
    if (rc == SG_OK) {
        sg_json_set_str(r->f, "value", sg_buf_str(&b64)); /* frees the clear text (v) */
        *sealed = true;
    }
    sg_buf_free(&ct);
    sg_buf_free(&b64);
    return rc;
}

typedef struct seal_ctx {
    sim_db *db;
    int rc;
    size_t sealed; /* password2 properties with a value */
} seal_ctx;

static bool count_sealed_cb(void *ctx, sim_rec *r)
{
    seal_ctx *c = ctx;
    if (is_password2(r) && *sim_rec_get(r, "value"))
        c->sealed++;
    return true;
}

static bool seal_loaded_cb(void *ctx, sim_rec *r)
{
    seal_ctx *c = ctx;
    bool sealed = false;
    table_slot *s = slot_for(c->db, r->t);
    unindex_record(s, r);
    c->rc = seal_property(c->db, r, &sealed);
    index_record(s, r);
    if (c->rc == SG_OK && sealed) {
        persist_ctx pc = {r, false, NULL};
        c->rc = sg_store_tx(c->db->st, persist, &pc);
        if (c->rc == SG_OK)
            sg_log_info("sealed a password2 property stored in clear", "property",
                        sim_rec_get(r, "name"));
    }
    return c->rc == SG_OK;
}

static int save_key_id(sg_conn *c, void *ctx)
{
    sg_val v[] = {SG_VTEXT(META_KEY_ID), SG_VTEXT(ctx)};
    return sg_conn_exec(c,
                        "INSERT INTO sim_meta (key, value) VALUES (?1, ?2) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        v, 2, NULL);
}

/* Checks the instance key against the one the store's values were sealed with, then seals
 * the values still in clear: all of them in a data dir of a snowsim before the instance key,
 * none afterwards. Without the check a replaced key would take every sealed value for clear
 * text and seal it again, and gs.getProperty would hand scripts the old ciphertext. */
static int seal_loaded(sim_db *db)
{
    const sim_table *props = sim_dict_table("sys_properties");
    uint8_t raw[16];
    char id[33];
    int rc = sg_hkdf_sha256(db->key, sizeof(db->key), "snowsim instance key id", raw, sizeof(raw));
    if (rc != SG_OK)
        return rc;
    sg_hex_encode(raw, sizeof(raw), id);
    seal_ctx c = {db, SG_OK, 0};
    if (strcmp(db->sealed_with, id) != 0) {
        if (db->sealed_with[0]) {
            sim_db_each(db, props, count_sealed_cb, &c);
            if (c.sealed > 0)
                return sg_err_set(SG_EAUTH,
                                  "%zu password2 propert%s in this data dir %s sealed with another "
                                  "instance key; put back the instance.key %s sealed with, or "
                                  "start on a fresh data dir",
                                  c.sealed, c.sealed == 1 ? "y" : "ies",
                                  c.sealed == 1 ? "was" : "were",
                                  c.sealed == 1 ? "it was" : "they were");
        }
        /* Saved first: a crash while sealing leaves values that the next start seals. */
        rc = sg_store_tx(db->st, save_key_id, id);
        if (rc != SG_OK)
            return rc;
        sg_strlcpy(db->sealed_with, id, sizeof(db->sealed_with));
    }
    sim_db_each(db, props, seal_loaded_cb, &c);
    return c.rc;
}

char *sim_property_value(sim_db *db, const char *name)
{
    sim_rec *p = sim_db_find(db, sim_dict_table("sys_properties"), "name", name);
    if (!p)
        return NULL;
    const char *v = sim_rec_get(p, "value");
    if (!*v || !is_password2(p))
        return sg_xstrdup(v);
    sg_buf pt = SG_BUF_INIT(0);
    if (open_property(db, p, v, &pt) != SG_OK) {
        sg_buf_wipe(&pt);
        sg_log_warn("a password2 property does not open under the instance key; using the value "
                    "as stored",
                    "property", name);
        return sg_xstrdup(v);
    }
    sg_buf_append(&pt, "", 0);
    return sg_buf_detach(&pt, NULL);
}

void sim_property_free(char *value)
{
    if (value) {
        sg_wipe(value, strlen(value));
        free(value);
    }
}

static const counter *next_number(sim_db *db, const char *prefix, char out[24])
{
    counter *k = NULL;
    for (size_t i = 0; i < db->ncounters; i++)
        if (strcmp(db->counters[i].name, prefix) == 0)
            k = &db->counters[i];
    if (!k) {
        if (db->ncounters >= 32)
            abort();
        k = &db->counters[db->ncounters++];
        sg_strlcpy(k->name, prefix, sizeof(k->name));
        k->value = 10000; /* a fresh instance's numbers start at 0010001 */
    }
    k->value++;
    snprintf(out, 24, "%s%07lld", prefix, (long long)k->value);
    return k;
}

/* ServiceNow stores every value as a string; JSON input is coerced. */
static char *coerce(const sim_field *fd, const sg_json *v)
{
    char buf[64];
    switch (sg_json_typeof(v)) {
    case SG_JSON_STRING: {
        const char *s = sg_json_str(v);
        if (!s)
            return sg_xstrdup("");
        if (fd && fd->type == SIM_BOOLEAN) {
            bool b = false;
            if (sg_parse_bool(s, "b", &b) == SG_OK)
                return sg_xstrdup(b ? "true" : "false");
        }
        return sg_xstrdup(s);
    }
    case SG_JSON_INTEGER: {
        int64_t i = 0;
        sg_json_int(v, &i);
        snprintf(buf, sizeof(buf), "%lld", (long long)i);
        return sg_xstrdup(buf);
    }
    case SG_JSON_REAL: {
        char *s = sg_json_dump(v);
        return s;
    }
    case SG_JSON_TRUE:
        return sg_xstrdup("true");
    case SG_JSON_FALSE:
        return sg_xstrdup("false");
    case SG_JSON_NULL:
        return sg_xstrdup("");
    case SG_JSON_OBJECT: {
        /* A reference given as {"value": ..., "link": ...}, as the API hands it out. */
        const char *s = sg_json_get_str(v, "value");
        return sg_xstrdup(s ? s : "");
    }
    default:
        return sg_xstrdup("");
    }
}

typedef struct journal {
    char *element;
    char *value;
} journal;

/* Sets one field from a JSON value, following the field's type. Journal entries are
 * collected for sys_journal_field. */
static void set_field(sim_rec *r, const char *name, const sg_json *v, journal *j, size_t *nj,
                      bool *changed)
{
    const sim_field *fd = sim_dict_field(r->t, name);
    if (!fd || strcmp(name, "sys_id") == 0 || strcmp(name, "sys_class_name") == 0 ||
        sim_dict_is_sys_field(name))
        return; /* unknown and system fields are ignored, as ServiceNow does */
    char *val = coerce(fd, v);
    if (fd->type == SIM_JOURNAL) {
        if (*val && *nj < 8) {
            j[*nj].element = sg_xstrdup(name);
            j[*nj].value = val;
            (*nj)++;
            if (changed)
                *changed = true;
            return;
        }
        free(val);
        return;
    }
    if (fd->type == SIM_PASSWORD && *val) {
        char *h = sim_password_hash(val);
        sg_wipe(val, strlen(val));
        free(val);
        val = h;
    }
    const char *old = sg_json_get_str(r->f, name);
    if (!old || strcmp(old, val) != 0) {
        sg_json_set_str(r->f, name, val);
        if (changed)
            *changed = true;
    }
    free(val);
}

typedef struct defaults_ctx {
    sim_rec *r;
} defaults_ctx;

static void fill_default(void *ctx, const sim_field *f)
{
    sim_rec *r = ((defaults_ctx *)ctx)->r;
    if (!sg_json_get(r->f, f->name))
        sg_json_set_str(r->f, f->name, f->def ? f->def : "");
}

static int write_journal(sim_db *db, sim_rec *r, journal *j, size_t nj, const char *user)
{
    const sim_table *jt = sim_dict_table("sys_journal_field");
    int rc = SG_OK;
    for (size_t i = 0; i < nj; i++) {
        if (rc == SG_OK) {
            sg_json *v = sg_json_object();
            sg_json_set_str(v, "name", r->t->name);
            sg_json_set_str(v, "element", j[i].element);
            sg_json_set_str(v, "element_id", r->sys_id);
            sg_json_set_str(v, "value", j[i].value);
            rc = sim_db_insert(db, jt, v, user, NULL);
            sg_json_decref(v);
        }
        free(j[i].element);
        free(j[i].value);
    }
    return rc;
}

static void derive_fields(sim_rec *r)
{
    /* An OAuth application gets a client_id when none is given, as on a real instance. */
    if (strcmp(r->t->name, "oauth_entity") == 0 && !*sim_rec_get(r, "client_id")) {
        char id[33];
        sim_new_sys_id(id);
        sg_json_set_str(r->f, "client_id", id);
    }
    /* sys_user.name is "first last" when not given. */
    if (strcmp(r->t->name, "sys_user") == 0 && !*sim_rec_get(r, "name")) {
        char *n =
            sg_xasprintf("%s%s%s", sim_rec_get(r, "first_name"),
                         *sim_rec_get(r, "first_name") && *sim_rec_get(r, "last_name") ? " " : "",
                         sim_rec_get(r, "last_name"));
        sg_json_set_str(r->f, "name", n);
        free(n);
    }
}

int sim_db_insert(sim_db *db, const sim_table *t, const sg_json *values, const char *user,
                  sim_rec **out)
{
    char now[20];
    journal j[8];
    size_t nj = 0;
    sim_now(now);
    sim_rec *r = sg_xcalloc(1, sizeof(*r));
    r->t = t;
    r->f = sg_json_object();
    const char *given = values ? sg_json_get_str(values, "sys_id") : NULL;
    if (given && *given) {
        if (!sim_is_sys_id(given)) {
            sg_json_decref(r->f);
            free(r);
            return sg_err_set(SG_EINVAL, "sys_id '%s' is not 32 lowercase hex characters", given);
        }
        if (sim_db_get(db, t, given)) {
            sg_json_decref(r->f);
            free(r);
            return sg_err_set(SG_ECONFLICT, "a record with sys_id %s already exists", given);
        }
        sg_strlcpy(r->sys_id, given, sizeof(r->sys_id));
    } else {
        sim_new_sys_id(r->sys_id);
    }
    if (values)
        for (void *it = sg_json_iter((sg_json *)values); it;
             it = sg_json_iter_next((sg_json *)values, it))
            set_field(r, sg_json_iter_key(it), sg_json_iter_value(it), j, &nj, NULL);
    defaults_ctx dc = {r};
    sim_dict_each_field(t, fill_default, &dc);
    derive_fields(r);
    const counter *k = NULL;
    if (t->number_prefix && !*sim_rec_get(r, "number")) {
        char num[24];
        k = next_number(db, t->number_prefix, num);
        sg_json_set_str(r->f, "number", num);
    }
    if (sim_dict_field(t, "opened_at") && !*sim_rec_get(r, "opened_at"))
        sg_json_set_str(r->f, "opened_at", now);
    sg_json_set_str(r->f, "sys_id", r->sys_id);
    sg_json_set_str(r->f, "sys_class_name", t->name);
    sg_json_set_str(r->f, "sys_created_on", now);
    sg_json_set_str(r->f, "sys_created_by", user ? user : "system");
    sg_json_set_str(r->f, "sys_updated_on", now);
    sg_json_set_str(r->f, "sys_updated_by", user ? user : "system");
    sg_json_set_str(r->f, "sys_mod_count", "0");
    if (!sg_json_get(r->f, "sys_tags"))
        sg_json_set_str(r->f, "sys_tags", "");
    bool sealed = false;
    int rc = seal_property(db, r, &sealed);
    if (rc != SG_OK) {
        for (size_t i = 0; i < nj; i++) {
            free(j[i].element);
            free(j[i].value);
        }
        sg_json_decref(r->f);
        free(r);
        return rc;
    }
    r->seq = db->next_seq++;

    persist_ctx pc = {r, false, k};
    rc = sg_store_tx(db->st, persist, &pc);
    if (rc != SG_OK) {
        for (size_t i = 0; i < nj; i++) {
            free(j[i].element);
            free(j[i].value);
        }
        sg_json_decref(r->f);
        free(r);
        return rc;
    }
    table_slot *s = slot_for(db, t);
    HASH_ADD_STR(s->recs, sys_id, r);
    index_record(s, r);
    rc = write_journal(db, r, j, nj, user);
    if (out)
        *out = r;
    return rc;
}

int sim_db_update(sim_db *db, sim_rec *r, const sg_json *values, const char *user, bool *changed)
{
    journal j[8];
    size_t nj = 0;
    bool any = false;
    sg_json *backup = sg_json_object();
    for (void *it = sg_json_iter(r->f); it; it = sg_json_iter_next(r->f, it))
        sg_json_set(backup, sg_json_iter_key(it), sg_json_incref(sg_json_iter_value(it)));
    for (void *it = sg_json_iter((sg_json *)values); it;
         it = sg_json_iter_next((sg_json *)values, it))
        set_field(r, sg_json_iter_key(it), sg_json_iter_value(it), j, &nj, &any);
    /* After every field: the type may have become password2 in the same write. */
    bool sealed = false;
    int rc = seal_property(db, r, &sealed);
    if (rc != SG_OK)
        goto restore;
    any = any || sealed;
    if (changed)
        *changed = any;
    if (!any) {
        reindex_record(slot_for(db, r->t), r, backup);
        sg_json_decref(backup);
        return SG_OK;
    }
    char now[20], count[24];
    sim_now(now);
    int64_t mods = 0;
    sg_parse_i64(sim_rec_get(r, "sys_mod_count"), 0, INT64_MAX - 1, "sys_mod_count", &mods);
    snprintf(count, sizeof(count), "%lld", (long long)mods + 1);
    sg_json_set_str(r->f, "sys_mod_count", count);
    sg_json_set_str(r->f, "sys_updated_on", now);
    sg_json_set_str(r->f, "sys_updated_by", user ? user : "system");
    persist_ctx pc = {r, false, NULL};
    rc = sg_store_tx(db->st, persist, &pc);
    if (rc != SG_OK)
        goto restore;
    reindex_record(slot_for(db, r->t), r, backup);
    sg_json_decref(backup);
    return write_journal(db, r, j, nj, user);

restore:
    /* Keep memory and disk in step: put the old values back. */
    sg_json_decref(r->f);
    r->f = backup;
    for (size_t i = 0; i < nj; i++) {
        free(j[i].element);
        free(j[i].value);
    }
    if (changed)
        *changed = false;
    return rc;
}

int sim_db_delete(sim_db *db, sim_rec *r)
{
    persist_ctx pc = {r, true, NULL};
    int rc = sg_store_tx(db->st, persist, &pc);
    if (rc != SG_OK)
        return rc;
    table_slot *s = slot_for(db, r->t);
    unindex_record(s, r);
    HASH_DEL(s->recs, r);
    sg_json_decref(r->f);
    free(r);
    return SG_OK;
}
