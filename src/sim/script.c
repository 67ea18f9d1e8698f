/* script: the Duktape wrapper. Each run gets a fresh heap whose allocator enforces the memory
 * cap and whose interrupt hook enforces the time limit; the prelude (js/prelude.js) builds the
 * Glide API on the __sn_* natives below. It is compiled once per process and loaded into each
 * heap as bytecode. */
#include "sim/script.h"
#include "sim/faults.h"

#include "core/crypto.h"
#include "core/embed.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/url.h"
#include "http/client.h"
#include "sim/query.h"
#include "sim/rules.h"
#include "sim/sim.h"
#include "sim/worker.h"

#include <duktape.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const sg_embed_file sg_sim_js[];

/* A run's small blocks come from chunks of its own, kept in free lists by size class, and
 * the chunks are freed when the run ends: a heap is created, used for one script and thrown
 * away, and allocating each of its many thousand small objects from malloc, then freeing
 * them one by one, was most of snowsim's time in a business rule (malloc_consolidate,
 * _int_malloc). Larger blocks use malloc as before. Every chunk counts against the heap cap
 * in full, so a run never holds more than the cap, whatever Duktape frees or keeps. */
#define SMALL_MAX     512
#define SMALL_CLASSES (SMALL_MAX / 16)
#define CHUNK_SIZE    ((size_t)64 * 1024)

/* Under AddressSanitizer every block is malloc'd on its own (still counted against the cap),
 * so that an overflow inside a run's memory is caught rather than landing in a neighbour in
 * the same chunk. */
#if defined(__SANITIZE_ADDRESS__)
#define SMALL_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMALL_POOL 0
#endif
#endif
#ifndef SMALL_POOL
#define SMALL_POOL 1
#endif

typedef union header {
    size_t size; /* what was asked for */
    max_align_t align;
} header;

typedef union chunk {
    union chunk *next;
    max_align_t align;
} chunk;

typedef struct run {
    sim_script_env *env;
    size_t used; /* chunks in full, plus the large blocks alive */
    size_t cap;
    bool over_cap;
    struct timespec deadline;
    bool timed_out;
    jmp_buf fatal_jmp;
    char *env_json;
    chunk *chunks;
    char *bump, *bump_end;
    header *free_small[SMALL_CLASSES]; /* each free block's first bytes link to the next */
} run;

/* Whether a block of size comes from the run's chunks. */
static bool is_small(size_t size)
{
    return SMALL_POOL && size <= SMALL_MAX;
}

static size_t class_of(size_t size)
{
    return size ? (size - 1) / 16 : 0;
}

/* Frees the run's chunks (every small block with them). */
static void chunks_free(run *r)
{
    for (chunk *c = r->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    r->chunks = NULL;
}

static void *small_alloc(run *r, size_t size)
{
    size_t k = class_of(size);
    header *h = r->free_small[k];
    if (h) {
        r->free_small[k] = *(header **)(void *)(h + 1);
    } else {
        size_t need = sizeof(header) + (k + 1) * 16;
        if (!r->bump || (size_t)(r->bump_end - r->bump) < need) {
            if (r->used + CHUNK_SIZE > r->cap) {
                r->over_cap = true;
                return NULL;
            }
            chunk *c = malloc(CHUNK_SIZE);
            if (!c)
                return NULL;
            c->next = r->chunks;
            r->chunks = c;
            r->used += CHUNK_SIZE;
            r->bump = (char *)(c + 1);
            r->bump_end = (char *)c + CHUNK_SIZE;
        }
        h = (header *)(void *)r->bump;
        r->bump += need;
    }
    h->size = size;
    return h + 1;
}

/* Once the cap is hit every later allocation fails too: otherwise Duktape's emergency
 * collections run on each allocation near the cap, and a native loop never ends. */
static void *a_alloc(void *udata, duk_size_t size)
{
    run *r = udata;
    if (r->over_cap)
        return NULL;
    if (is_small(size))
        return small_alloc(r, size);
    if (size > r->cap || r->used + size > r->cap) {
        r->over_cap = true;
        return NULL;
    }
    header *h = malloc(sizeof(header) + size);
    if (!h)
        return NULL;
    h->size = size;
    r->used += size;
    return h + 1;
}

static void a_free(void *udata, void *ptr)
{
    run *r = udata;
    if (!ptr)
        return;
    header *h = (header *)ptr - 1;
    if (is_small(h->size)) {
        size_t k = class_of(h->size);
        *(header **)ptr = r->free_small[k];
        r->free_small[k] = h;
        return;
    }
    r->used -= h->size;
    free(h);
}

static void *a_realloc(void *udata, void *ptr, duk_size_t size)
{
    run *r = udata;
    if (!ptr)
        return a_alloc(udata, size);
    if (size == 0) {
        a_free(udata, ptr);
        return NULL;
    }
    header *h = (header *)ptr - 1;
    size_t old = h->size;
    if (is_small(old) && is_small(size) && class_of(old) == class_of(size)) {
        h->size = size;
        return ptr;
    }
    if (is_small(old) || is_small(size)) {
        /* Between a chunk and malloc, or another size class: a copy. */
        void *n = a_alloc(udata, size);
        if (!n)
            return NULL;
        memcpy(n, ptr, old < size ? old : size);
        a_free(udata, ptr);
        return n;
    }
    if (r->over_cap || (size > old && (size - old > r->cap || r->used + (size - old) > r->cap))) {
        r->over_cap = true;
        return NULL;
    }
    header *n = realloc(h, sizeof(header) + size);
    if (!n)
        return NULL;
    r->used = r->used - old + size;
    n->size = size;
    return n + 1;
}

int sg_duk_timeout_check(void *udata)
{
    run *r = udata;
    if (!r)
        return 0;
    if (r->over_cap)
        return 1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > r->deadline.tv_sec ||
        (now.tv_sec == r->deadline.tv_sec && now.tv_nsec > r->deadline.tv_nsec)) {
        r->timed_out = true;
        return 1;
    }
    return 0;
}

static void on_fatal(void *udata, const char *msg)
{
    run *r = udata;
    sg_log_error("script engine fatal error", "script", r->env->name, "error", msg ? msg : "");
    longjmp(r->fatal_jmp, 1);
}

static run *run_of(duk_context *ctx)
{
    duk_memory_functions f;
    duk_get_memory_functions(ctx, &f);
    return f.udata;
}

/* ---- natives ---- */

static const sim_table *table_arg(duk_context *ctx, int idx)
{
    const sim_table *t = sim_dict_table(duk_safe_to_string(ctx, idx));
    if (!t)
        (void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "invalid table name: %s",
                        duk_safe_to_string(ctx, idx));
    return t;
}

static void push_json(duk_context *ctx, const sg_json *j)
{
    char *s = sg_json_dump(j);
    duk_push_string(ctx, s);
    free(s);
}

static int n_env(duk_context *ctx)
{
    duk_push_string(ctx, run_of(ctx)->env_json);
    return 1;
}

typedef struct qcollect {
    sim_query *q;
    sim_qctx qc;
    sim_rec **recs;
    size_t n, cap;
} qcollect;

static bool q_each(void *ctx, sim_rec *r)
{
    qcollect *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->recs = sg_xrealloc(c->recs, c->cap * sizeof(*c->recs));
    }
    c->recs[c->n++] = r;
    return true;
}

static int n_query(duk_context *ctx)
{
    run *r = run_of(ctx);
    const sim_table *t = table_arg(ctx, 0);
    const char *q = duk_safe_to_string(ctx, 1);
    duk_int_t limit = duk_get_int_default(ctx, 2, 0);
    qcollect c = {
        NULL, {r->env->sim->db, r->env->user->sys_id, r->env->user->user_name, NULL}, NULL, 0, 0};
    sim_query_parse(q, t, &c.q);
    sim_query_each(c.q, &c.qc, q_each, &c);
    sim_query_sort(c.q, &c.qc, c.recs, c.n);
    sg_json *arr = sg_json_array();
    for (size_t i = 0; i < c.n && (limit <= 0 || (duk_int_t)i < limit); i++)
        sg_json_append(arr, sg_json_incref(c.recs[i]->f));
    sim_query_free(c.q);
    free(c.recs);
    push_json(ctx, arr);
    sg_json_decref(arr);
    return 1;
}

static int n_get(duk_context *ctx)
{
    run *r = run_of(ctx);
    const sim_table *t = table_arg(ctx, 0);
    sim_rec *rec = sim_db_get(r->env->sim->db, t, duk_safe_to_string(ctx, 1));
    if (!rec) {
        duk_push_null(ctx);
        return 1;
    }
    push_json(ctx, rec->f);
    return 1;
}

static sg_json *json_arg(duk_context *ctx, int idx)
{
    const char *s = duk_safe_to_string(ctx, idx);
    sg_json *j = NULL;
    if (sg_json_parse(s, strlen(s), 16 * 1024 * 1024, 0, &j) != SG_OK)
        (void)duk_error(ctx, DUK_ERR_TYPE_ERROR, "bad JSON from the prelude");
    return j;
}

static int n_insert(duk_context *ctx)
{
    run *r = run_of(ctx);
    const sim_table *t = table_arg(ctx, 0);
    sg_json *values = json_arg(ctx, 1);
    sim_rec *rec = NULL;
    int rc = sim_rules_insert(r->env->sim, r->env->user, t, values, &rec, r->env->depth + 1);
    sg_json_decref(values);
    if (rc != SG_OK) {
        sg_log_warn("script insert failed", "script", r->env->name, "table", t->name, "error",
                    sg_err_msg());
        duk_push_string(ctx, "");
        return 1;
    }
    duk_push_string(ctx, rec->sys_id);
    return 1;
}

static int n_update(duk_context *ctx)
{
    run *r = run_of(ctx);
    const sim_table *t = table_arg(ctx, 0);
    sim_rec *rec = sim_db_get(r->env->sim->db, t, duk_safe_to_string(ctx, 1));
    if (!rec) {
        duk_push_false(ctx);
        return 1;
    }
    sg_json *values = json_arg(ctx, 2);
    int rc = sim_rules_update(r->env->sim, r->env->user, rec, values, r->env->depth + 1);
    sg_json_decref(values);
    if (rc != SG_OK)
        sg_log_warn("script update failed", "script", r->env->name, "table", t->name, "error",
                    sg_err_msg());
    duk_push_boolean(ctx, rc == SG_OK);
    return 1;
}

static int n_delete(duk_context *ctx)
{
    run *r = run_of(ctx);
    const sim_table *t = table_arg(ctx, 0);
    sim_rec *rec = sim_db_get(r->env->sim->db, t, duk_safe_to_string(ctx, 1));
    int rc =
        rec ? sim_rules_delete(r->env->sim, r->env->user, rec, r->env->depth + 1) : SG_ENOTFOUND;
    duk_push_boolean(ctx, rc == SG_OK);
    return 1;
}

static const char *type_name(sim_ftype t)
{
    switch (t) {
    case SIM_INTEGER:
        return "integer";
    case SIM_BOOLEAN:
        return "boolean";
    case SIM_REFERENCE:
        return "reference";
    case SIM_CHOICE:
        return "choice";
    case SIM_DATETIME:
        return "glide_date_time";
    case SIM_PASSWORD:
        return "password2";
    case SIM_JOURNAL:
        return "journal";
    default:
        return "string";
    }
}

static void add_field(void *ctx, const sim_field *f)
{
    sg_json *arr = ctx;
    sg_json *o = sg_json_object();
    sg_json_set_str(o, "name", f->name);
    sg_json_set_str(o, "type", type_name(f->type));
    if (f->ref)
        sg_json_set_str(o, "ref", f->ref);
    sg_json_append(arr, o);
}

static int n_fields(duk_context *ctx)
{
    const sim_table *t = sim_dict_table(duk_safe_to_string(ctx, 0));
    if (!t) {
        duk_push_null(ctx);
        return 1;
    }
    sg_json *arr = sg_json_array();
    sim_dict_each_field(t, add_field, arr);
    static const char *const sys[] = {
        "sys_id",         "sys_created_on", "sys_created_by", "sys_updated_on",
        "sys_updated_by", "sys_mod_count",  "sys_class_name", NULL};
    for (const char *const *s = sys; *s; s++)
        add_field(arr, sim_dict_field(t, *s));
    push_json(ctx, arr);
    sg_json_decref(arr);
    return 1;
}

static int n_display(duk_context *ctx)
{
    run *r = run_of(ctx);
    const sim_table *t = sim_dict_table(duk_safe_to_string(ctx, 0));
    sim_rec *rec = t ? sim_db_get(r->env->sim->db, t, duk_safe_to_string(ctx, 1)) : NULL;
    if (!rec) {
        duk_push_string(ctx, "");
        return 1;
    }
    duk_push_string(ctx, rec->t->display ? sim_rec_get(rec, rec->t->display) : rec->sys_id);
    return 1;
}

static duk_ret_t push_prop(duk_context *ctx, void *value)
{
    duk_push_string(ctx, value);
    return 1;
}

/* gs.getProperty: a password2 property's clear text. The copy is pushed in a protected call
 * so that an error (the heap cap) cannot skip wiping and freeing it. */
static int n_prop(duk_context *ctx)
{
    run *r = run_of(ctx);
    char *v = sim_property_value(r->env->sim->db, duk_safe_to_string(ctx, 0));
    if (!v) {
        duk_push_undefined(ctx);
        return 1;
    }
    duk_int_t rc = duk_safe_call(ctx, push_prop, v, 0, 1);
    sim_property_free(v);
    if (rc != DUK_EXEC_SUCCESS)
        return duk_throw(ctx);
    return 1;
}

static int n_log(duk_context *ctx)
{
    run *r = run_of(ctx);
    const char *level = duk_safe_to_string(ctx, 0);
    const char *msg = duk_safe_to_string(ctx, 1);
    sg_log_level l = SG_LOG_INFO;
    sg_log_parse_level(level, &l);
    sg_log_kv(l, "script log", "script", r->env->name, "message", msg, (const char *)NULL);
    return 0;
}

static int n_guid(duk_context *ctx)
{
    char id[33];
    sim_new_sys_id(id);
    duk_push_string(ctx, id);
    return 1;
}

static int n_now(duk_context *ctx)
{
    char now[20];
    sim_now(now);
    duk_push_string(ctx, now);
    return 1;
}

static int n_b64enc(duk_context *ctx)
{
    duk_size_t len = 0;
    const char *s = duk_safe_to_lstring(ctx, 0, &len);
    sg_buf b = SG_BUF_INIT(0);
    sg_base64_encode(s, len, false, &b);
    duk_push_lstring(ctx, sg_buf_str(&b), b.len);
    sg_buf_free(&b);
    return 1;
}

static int n_b64dec(duk_context *ctx)
{
    duk_size_t len = 0;
    const char *s = duk_safe_to_lstring(ctx, 0, &len);
    sg_buf b = SG_BUF_INIT(0);
    if (sg_base64_decode(s, len, false, &b) != SG_OK)
        duk_push_string(ctx, "");
    else
        duk_push_lstring(ctx, sg_buf_str(&b), b.len);
    sg_buf_free(&b);
    return 1;
}

static int n_hmac(duk_context *ctx)
{
    duk_size_t klen = 0, dlen = 0;
    const char *key_b64 = duk_safe_to_lstring(ctx, 0, &klen);
    const char *alg = duk_safe_to_string(ctx, 1);
    const char *data = duk_safe_to_lstring(ctx, 2, &dlen);
    if (strcmp(alg, "HmacSHA256") != 0)
        return duk_error(ctx, DUK_ERR_ERROR, "generateMac: unsupported algorithm %s", alg);
    sg_buf key = SG_BUF_INIT(0), out = SG_BUF_INIT(0);
    uint8_t mac[SG_SHA256_LEN];
    if (sg_base64_decode(key_b64, klen, false, &key) != SG_OK) {
        sg_buf_free(&key);
        return duk_error(ctx, DUK_ERR_ERROR, "generateMac: the key must be base64");
    }
    sg_hmac_sha256(key.data, key.len, data, dlen, mac);
    sg_base64_encode(mac, sizeof(mac), false, &out);
    duk_push_string(ctx, sg_buf_str(&out));
    sg_buf_wipe(&key);
    sg_buf_free(&out);
    return 1;
}

/* Is this URL on the outbound allow-list (empty list: any URL the guard accepts)? */
static bool allowed(const sg_sim *sim, const char *url)
{
    const char *list = sim->cfg.outbound_allow;
    if (!list || !*list)
        return true;
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        while (n && *p == ' ') {
            p++;
            n--;
        }
        if (n && strncmp(url, p, n) == 0)
            return true;
        if (!c)
            break;
        p = c + 1;
    }
    return false;
}

static int n_http(duk_context *ctx)
{
    run *r = run_of(ctx);
    sg_sim *sim = r->env->sim;
    sg_json *req = json_arg(ctx, 0);
    sg_json *resp = sg_json_object();
    const char *url = sg_json_get_str(req, "url");
    bool async = false;
    sg_json_get_bool(req, "async", &async);
    int faulted = 0;
    if (!url || !allowed(sim, url)) {
        sg_json_set_int(resp, "status", 0);
        sg_json_set_str(resp, "error", "the endpoint is not on snowsim's outbound allow-list");
        sg_log_warn("outbound call refused", "script", r->env->name, "url", url ? url : "");
    } else if (sim_faults_outbound(sim->faults, sg_json_get_str(req, "method"), url, &faulted)) {
        sg_json_set_int(resp, "status", async ? 0 : faulted);
        sg_json_set_str(resp, "body", "");
        if (!faulted)
            sg_json_set_str(resp, "error", "injected fault: the call was dropped");
        sg_log_warn("outbound call faulted", "script", r->env->name, "url", url);
    } else if (async) {
        sim_worker_http(sim->worker, req);
        sg_json_set_int(resp, "status", 0);
        sg_json_set_str(resp, "body", "");
    } else {
        sim_worker_http_now(sim, req, resp);
    }
    push_json(ctx, resp);
    sg_json_decref(resp);
    sg_json_decref(req);
    return 1;
}

static const duk_function_list_entry natives[] = {
    {"__sn_env", n_env, 0},
    {"__sn_query", n_query, 3},
    {"__sn_get", n_get, 2},
    {"__sn_insert", n_insert, 2},
    {"__sn_update", n_update, 3},
    {"__sn_delete", n_delete, 2},
    {"__sn_fields", n_fields, 1},
    {"__sn_display", n_display, 2},
    {"__sn_prop", n_prop, 1},
    {"__sn_log", n_log, 2},
    {"__sn_guid", n_guid, 0},
    {"__sn_now", n_now, 0},
    {"__sn_b64enc", n_b64enc, 1},
    {"__sn_b64dec", n_b64dec, 1},
    {"__sn_hmac", n_hmac, 3},
    {"__sn_http", n_http, 1},
    {NULL, NULL, 0},
};

/* ---- running ---- */

static char *env_json(const sim_script_env *env)
{
    sg_json *e = sg_json_object();
    sg_json *u = sg_json_object();
    sg_json_set_str(u, "id", env->user->sys_id);
    sg_json_set_str(u, "name", env->user->user_name);
    sg_json *roles = sg_json_array();
    for (int i = 0; i < env->user->nroles; i++)
        sg_json_append(roles, sg_json_string(env->user->roles[i]));
    sg_json_set(u, "roles", roles);
    sg_json_set(e, "user", u);
    if (env->current && env->table) {
        sg_json *c = sg_json_object();
        sg_json_set_str(c, "table", env->table->name);
        sg_json_set(c, "values", sg_json_incref((sg_json *)env->current));
        sg_json_set(e, "current", c);
        sg_json_set(e, "previous",
                    env->previous ? sg_json_incref((sg_json *)env->previous) : sg_json_null());
        sg_json_set_str(e, "operation", env->operation ? env->operation : "");
    } else {
        sg_json_set(e, "current", sg_json_null());
    }
    sg_json_set(e, "request",
                env->request ? sg_json_incref((sg_json *)env->request) : sg_json_null());
    char *s = sg_json_dump(e);
    sg_json_decref(e);
    return s;
}

static duk_ret_t export_result(duk_context *ctx, void *udata)
{
    (void)udata;
    /* stack: [ ret ] */
    duk_get_global_string(ctx, "__sn_export");
    duk_dup(ctx, -2);
    duk_call(ctx, 1);
    return 1;
}

static int script_error(run *r, duk_context *ctx, const char *phase)
{
    char line[32] = "?";
    if (duk_is_error(ctx, -1)) {
        duk_get_prop_string(ctx, -1, "lineNumber");
        snprintf(line, sizeof(line), "%ld", (long)duk_get_int_default(ctx, -1, 0));
        duk_pop(ctx);
    }
    const char *msg = duk_safe_to_string(ctx, -1);
    if (r->timed_out) {
        sg_log_warn("script stopped: time limit", "script", r->env->name);
        return sg_err_set(SG_ETIMEOUT, "%s: stopped after its time limit", r->env->name);
    }
    if (r->over_cap) {
        sg_log_warn("script stopped: memory limit", "script", r->env->name, "error", msg);
        return sg_err_set(SG_ETOOBIG, "%s: stopped at its memory limit", r->env->name);
    }
    sg_log_warn("script error", "script", r->env->name, "phase", phase, "line", line, "error", msg);
    return sg_err_set(SG_EINVAL, "%s: line %s: %s", r->env->name, line, msg);
}

/* The prelude's bytecode. Compiling its 20 KB of source took most of a business rule's run,
 * and every rule and condition runs in a fresh heap; loading the bytecode is a copy. Written
 * once (pthread_once) from the embedded source, read-only after: the same for every heap. A
 * dump that failed leaves it NULL, and the source is compiled each run as before. Bytecode is
 * only ever loaded from here (Duktape does not validate it), never from outside. */
static pthread_once_t prelude_once = PTHREAD_ONCE_INIT;
static uint8_t *prelude_bc;
static size_t prelude_bc_len;

static void prelude_dump(void)
{
    /* The default allocator and no udata: the timeout hook does nothing without a run, and
     * compiling runs no bytecode. */
    duk_context *ctx = duk_create_heap(NULL, NULL, NULL, NULL, NULL);
    if (!ctx)
        return;
    const sg_embed_file *prelude = sg_embed_find(sg_sim_js, "prelude.js");
    duk_push_lstring(ctx, (const char *)prelude->data, prelude->len);
    duk_push_string(ctx, "prelude.js");
    if (duk_pcompile(ctx, 0) == 0) {
        duk_dump_function(ctx);
        duk_size_t n = 0;
        const void *b = duk_get_buffer(ctx, -1, &n);
        prelude_bc = sg_xmalloc(n);
        memcpy(prelude_bc, b, n);
        prelude_bc_len = n;
    }
    duk_destroy_heap(ctx);
}

/* [ ] -> [ prelude function ], in a protected call: at a tiny heap cap the load fails like a
 * compile would (an error, not a fatal one). */
static duk_ret_t prelude_load(duk_context *ctx, void *udata)
{
    (void)udata;
    void *buf = duk_push_fixed_buffer(ctx, prelude_bc_len);
    memcpy(buf, prelude_bc, prelude_bc_len);
    duk_load_function(ctx);
    return 1;
}

/* Pushes the prelude as a function to call; non-zero (an error on the stack) if it failed. */
static int prelude_push(duk_context *ctx)
{
    pthread_once(&prelude_once, prelude_dump);
    if (prelude_bc)
        return duk_safe_call(ctx, prelude_load, NULL, 0, 1);
    const sg_embed_file *prelude = sg_embed_find(sg_sim_js, "prelude.js");
    duk_push_lstring(ctx, (const char *)prelude->data, prelude->len);
    duk_push_string(ctx, "prelude.js");
    return duk_pcompile(ctx, 0);
}

int sim_script_run(sim_script_env *env, const char *code)
{
    run *r = sg_xcalloc(1, sizeof(*r));
    volatile int rc = SG_OK;
    duk_context *volatile ctx = NULL;
    env->result = NULL;
    if (env->depth > SIM_SCRIPT_MAX_DEPTH) {
        free(r);
        return sg_err_set(SG_ECONFLICT, "%s: business rules nested more than %d deep", env->name,
                          SIM_SCRIPT_MAX_DEPTH);
    }
    r->env = env;
    size_t cfg_heap = env->sim ? env->sim->cfg.script_heap_max : 0;
    unsigned cfg_ms = env->sim ? (unsigned)env->sim->cfg.script_time_ms : 0;
    r->cap = env->heap_max ? env->heap_max : cfg_heap ? cfg_heap : SIM_SCRIPT_HEAP_MAX;
    clock_gettime(CLOCK_MONOTONIC, &r->deadline);
    unsigned ms = env->time_ms ? env->time_ms : cfg_ms ? cfg_ms : SIM_SCRIPT_TIME_MS;
    r->deadline.tv_sec += ms / 1000;
    r->deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (r->deadline.tv_nsec >= 1000000000L) {
        r->deadline.tv_sec++;
        r->deadline.tv_nsec -= 1000000000L;
    }
    r->env_json = env_json(env);
    if (setjmp(r->fatal_jmp) != 0) {
        /* The heap is unusable after a fatal error; it is abandoned, not freed. */
        free(r->env_json);
        return sg_err_set(SG_EINTERNAL, "%s: the script engine failed", env->name);
    }
    ctx = duk_create_heap(a_alloc, a_realloc, a_free, r, on_fatal);
    if (!ctx) {
        free(r->env_json);
        chunks_free(r);
        free(r);
        return sg_err_set(SG_EINTERNAL, "could not start the script engine");
    }
    duk_push_global_object(ctx);
    duk_put_function_list(ctx, -1, natives);
    duk_pop(ctx);
    if (prelude_push(ctx) != 0 || duk_pcall(ctx, 0) != 0) {
        rc = script_error(r, ctx, "prelude");
        goto done;
    }
    duk_pop(ctx);
    duk_push_string(ctx, code);
    duk_push_string(ctx, env->name);
    if (duk_pcompile(ctx, DUK_COMPILE_EVAL) != 0) {
        rc = script_error(r, ctx, "compile");
        goto done;
    }
    if (duk_pcall(ctx, 0) != 0) {
        rc = script_error(r, ctx, "run");
        goto done;
    }
    if (duk_safe_call(ctx, export_result, NULL, 1, 1) != 0) {
        rc = script_error(r, ctx, "result");
        goto done;
    }
    {
        const char *out = duk_safe_to_string(ctx, -1);
        sg_json *res = NULL;
        if (sg_json_parse(out, strlen(out), 64 * 1024 * 1024, 0, &res) == SG_OK)
            env->result = res;
        else
            rc = sg_err_set(SG_EINVAL, "%s: the script's result is not serializable", env->name);
    }
done:
    duk_destroy_heap(ctx);
    chunks_free(r);
    free(r->env_json);
    free(r);
    return rc;
}

bool sim_script_condition(sim_script_env *env, const char *expr)
{
    char *code = sg_xasprintf("!!(%s);", expr);
    int rc = sim_script_run(env, code);
    free(code);
    if (rc != SG_OK)
        return false;
    /* The condition's value came back as the script's return value. */
    sg_json *resp = sg_json_get(env->result, "response");
    sg_json *body = sg_json_get(resp, "body");
    bool v = body && sg_json_typeof(body) == SG_JSON_TRUE;
    sg_json_decref(env->result);
    env->result = NULL;
    return v;
}
