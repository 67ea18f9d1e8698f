/* query: encoded query strings. A query is an OR of groups (^NQ); a group is an AND of
 * clauses (^); a clause is an OR of terms (^OR). ORDERBY/ORDERBYDESC clauses sort. */
#include "sim/query.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef enum op {
    OP_EQ,
    OP_NE,
    OP_LIKE,
    OP_NOTLIKE,
    OP_STARTSWITH,
    OP_ENDSWITH,
    OP_IN,
    OP_NOTIN,
    OP_ISEMPTY,
    OP_ISNOTEMPTY,
    OP_ANYTHING,
    OP_EMPTYSTRING,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_BETWEEN,
    OP_SAMEAS,
    OP_NSAMEAS,
    OP_GT_FIELD,
    OP_LT_FIELD,
    OP_GE_FIELD,
    OP_LE_FIELD,
    OP_VALCHANGES,
    OP_CHANGESFROM,
    OP_CHANGESTO,
    OP_INSTANCEOF,
} op;

static const struct {
    const char *text;
    op op;
} ops[] = {
    /* Longest first, so that "NOT LIKE" wins over "NOT IN" prefixes and "<=" over "<". */
    {"GT_OR_EQUALS_FIELD", OP_GE_FIELD},
    {"LT_OR_EQUALS_FIELD", OP_LE_FIELD},
    {"CHANGESFROM", OP_CHANGESFROM},
    {"EMPTYSTRING", OP_EMPTYSTRING},
    {"ISNOTEMPTY", OP_ISNOTEMPTY},
    {"STARTSWITH", OP_STARTSWITH},
    {"VALCHANGES", OP_VALCHANGES},
    {"INSTANCEOF", OP_INSTANCEOF},
    {"CHANGESTO", OP_CHANGESTO},
    {"ENDSWITH", OP_ENDSWITH},
    {"NOT LIKE", OP_NOTLIKE},
    {"ANYTHING", OP_ANYTHING},
    {"GT_FIELD", OP_GT_FIELD},
    {"LT_FIELD", OP_LT_FIELD},
    {"ISEMPTY", OP_ISEMPTY},
    {"BETWEEN", OP_BETWEEN},
    {"NSAMEAS", OP_NSAMEAS},
    {"NOT IN", OP_NOTIN},
    {"SAMEAS", OP_SAMEAS},
    {"LIKE", OP_LIKE},
    {"IN", OP_IN},
    {"!=", OP_NE},
    {"<=", OP_LE},
    {">=", OP_GE},
    {"=", OP_EQ},
    {"<", OP_LT},
    {">", OP_GT},
};

typedef struct term {
    char *field;
    op op;
    char *value;
    const sim_field *fd;
} term;

typedef struct clause {
    term *terms; /* OR-ed */
    size_t n;
} clause;

typedef struct group {
    clause *clauses; /* AND-ed */
    size_t n;
} group;

typedef struct order {
    char *field;
    bool desc;
    const sim_field *fd;
} order;

struct sim_query {
    const sim_table *t;
    group *groups; /* OR-ed (^NQ) */
    size_t ngroups;
    order *orders;
    size_t norders;
    size_t nterms;
};

const sim_field *sim_field_resolve(const sim_table *t, const char *path)
{
    const char *p = path;
    const sim_field *fd = NULL;
    while (t) {
        const char *dot = strchr(p, '.');
        char name[128];
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n >= sizeof(name))
            return NULL;
        memcpy(name, p, n);
        name[n] = '\0';
        fd = sim_dict_field(t, name);
        if (!fd)
            return NULL;
        if (!dot)
            return fd;
        if (fd->type != SIM_REFERENCE)
            return NULL;
        t = sim_dict_table(fd->ref);
        p = dot + 1;
    }
    return NULL;
}

char *sim_field_value(const sim_qctx *ctx, const sim_rec *r, const char *path)
{
    const char *p = path;
    while (r) {
        const char *dot = strchr(p, '.');
        char name[128];
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n >= sizeof(name))
            return sg_xstrdup("");
        memcpy(name, p, n);
        name[n] = '\0';
        const char *v = sim_rec_get(r, name);
        if (!dot)
            return sg_xstrdup(v);
        const sim_field *fd = sim_dict_field(r->t, name);
        if (!fd || fd->type != SIM_REFERENCE || !*v || !ctx || !ctx->db)
            return sg_xstrdup("");
        r = sim_db_get(ctx->db, sim_dict_table(fd->ref), v);
        p = dot + 1;
    }
    return sg_xstrdup("");
}

/* ---- javascript: values ---- */

static void day_bound(int days_ago, bool end, char out[20])
{
    time_t now = time(NULL) - (time_t)days_ago * 86400;
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 20, end ? "%Y-%m-%d 23:59:59" : "%Y-%m-%d 00:00:00", &tm);
}

static int js_int_arg(const char *s, const char *fn)
{
    const char *p = s + strlen(fn);
    int64_t v = 0;
    char num[16];
    size_t i = 0;
    while (*p && *p != ')' && i < sizeof(num) - 1)
        num[i++] = *p++;
    num[i] = '\0';
    sg_parse_i64(num, -100000, 100000, "arg", &v);
    return (int)v;
}

/* The few GlideSystem helpers condition strings use; anything else stays literal. */
static char *eval_js(const char *v, const sim_qctx *ctx)
{
    const char *s = v + strlen("javascript:");
    char out[64];
    while (*s == ' ')
        s++;
    if (strcmp(s, "gs.getUserID()") == 0)
        return sg_xstrdup(ctx && ctx->user_id ? ctx->user_id : "");
    if (strcmp(s, "gs.getUserName()") == 0)
        return sg_xstrdup(ctx && ctx->user_name ? ctx->user_name : "");
    if (strcmp(s, "gs.beginningOfToday()") == 0) {
        day_bound(0, false, out);
        return sg_xstrdup(out);
    }
    if (strcmp(s, "gs.endOfToday()") == 0) {
        day_bound(0, true, out);
        return sg_xstrdup(out);
    }
    if (sg_str_startswith(s, "gs.daysAgoStart(")) {
        day_bound(js_int_arg(s, "gs.daysAgoStart("), false, out);
        return sg_xstrdup(out);
    }
    if (sg_str_startswith(s, "gs.daysAgoEnd(")) {
        day_bound(js_int_arg(s, "gs.daysAgoEnd("), true, out);
        return sg_xstrdup(out);
    }
    if (sg_str_startswith(s, "gs.daysAgo(") || sg_str_startswith(s, "gs.hoursAgo(") ||
        sg_str_startswith(s, "gs.minutesAgo(")) {
        int unit = s[3] == 'd' ? 86400 : s[3] == 'h' ? 3600 : 60;
        const char *fn = unit == 86400  ? "gs.daysAgo("
                         : unit == 3600 ? "gs.hoursAgo("
                                        : "gs.minutesAgo(";
        char buf[20];
        sim_time_format((int64_t)time(NULL) - (int64_t)js_int_arg(s, fn) * unit, buf);
        return sg_xstrdup(buf);
    }
    if (strcmp(s, "gs.nowDateTime()") == 0) {
        char buf[20];
        sim_now(buf);
        return sg_xstrdup(buf);
    }
    if (sg_str_startswith(s, "gs.dateGenerate(")) {
        char d[16] = "", t[16] = "";
        if (sscanf(s, "gs.dateGenerate('%10[0-9-]','%8[0-9:]')", d, t) == 2 ||
            sscanf(s, "gs.dateGenerate(\"%10[0-9-]\",\"%8[0-9:]\")", d, t) == 2) {
            snprintf(out, sizeof(out), "%s %s", d, t);
            return sg_xstrdup(out);
        }
    }
    return sg_xstrdup(v);
}

/* ---- parsing ---- */

static bool is_field_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

static bool parse_term(const char *s, size_t len, const sim_table *t, term *out)
{
    size_t i = 0;
    while (i < len && is_field_char(s[i]))
        i++;
    if (i == 0)
        return false;
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
        size_t ol = strlen(ops[k].text);
        if (i + ol <= len && strncmp(s + i, ops[k].text, ol) == 0) {
            char *field = sg_xstrndup(s, i);
            const sim_field *fd = t ? sim_field_resolve(t, field) : NULL;
            if (t && !fd) {
                free(field);
                return false; /* unknown field: ignored */
            }
            out->field = field;
            out->op = ops[k].op;
            out->value = sg_xstrndup(s + i + ol, len - i - ol);
            out->fd = fd;
            return true;
        }
    }
    return false;
}

static void add_term(group *g, const term *tm, bool or_with_previous)
{
    if (or_with_previous && g->n > 0) {
        clause *c = &g->clauses[g->n - 1];
        c->terms = sg_xrealloc(c->terms, (c->n + 1) * sizeof(term));
        c->terms[c->n++] = *tm;
        return;
    }
    g->clauses = sg_xrealloc(g->clauses, (g->n + 1) * sizeof(clause));
    clause *c = &g->clauses[g->n++];
    c->terms = sg_xmalloc(sizeof(term));
    c->terms[0] = *tm;
    c->n = 1;
}

void sim_query_parse(const char *qs, const sim_table *t, sim_query **out)
{
    sim_query *q = sg_xcalloc(1, sizeof(*q));
    q->t = t;
    *out = q;
    if (!qs || !*qs)
        return;
    group *g = NULL;
    bool in_related = false;
    const char *p = qs;
    bool first = true;
    while (*p || first) {
        /* Next token: up to the next '^' (a '^' is never part of a value). */
        const char *end = strchr(p, '^');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *tok = p;
        bool new_group = false, or_prev = false;
        if (!first && strncmp(tok, "NQ", 2) == 0 && len >= 2) {
            new_group = true;
            tok += 2;
            len -= 2;
        } else if (!first && strncmp(tok, "OR", 2) == 0 && strncmp(tok, "ORDERBY", 7) != 0) {
            or_prev = true;
            tok += 2;
            len -= 2;
        }
        first = false;
        if (!g || new_group) {
            q->groups = sg_xrealloc(q->groups, (q->ngroups + 1) * sizeof(group));
            g = &q->groups[q->ngroups++];
            memset(g, 0, sizeof(*g));
        }
        if (len >= 7 && strncmp(tok, "RLQUERY", 7) == 0) {
            in_related = true;
        } else if (in_related) {
            if (len >= 10 && strncmp(tok, "ENDRLQUERY", 10) == 0)
                in_related = false;
        } else if (len == 2 && strncmp(tok, "EQ", 2) == 0) {
            /* end marker of stored conditions */
        } else if (len > 11 && strncmp(tok, "ORDERBYDESC", 11) == 0) {
            q->orders = sg_xrealloc(q->orders, (q->norders + 1) * sizeof(order));
            order *o = &q->orders[q->norders++];
            o->field = sg_xstrndup(tok + 11, len - 11);
            o->desc = true;
            o->fd = t ? sim_field_resolve(t, o->field) : NULL;
        } else if (len > 7 && strncmp(tok, "ORDERBY", 7) == 0) {
            q->orders = sg_xrealloc(q->orders, (q->norders + 1) * sizeof(order));
            order *o = &q->orders[q->norders++];
            o->field = sg_xstrndup(tok + 7, len - 7);
            o->desc = false;
            o->fd = t ? sim_field_resolve(t, o->field) : NULL;
        } else {
            term tm;
            if (parse_term(tok, len, t, &tm)) {
                add_term(g, &tm, or_prev);
                q->nterms++;
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    /* Groups that lost every term to invalid parts must not become match-alls of an OR. */
    size_t kept = 0;
    for (size_t i = 0; i < q->ngroups; i++)
        if (q->groups[i].n > 0 || q->ngroups == 1)
            q->groups[kept++] = q->groups[i];
    q->ngroups = kept;
}

void sim_query_free(sim_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->ngroups; i++) {
        for (size_t j = 0; j < q->groups[i].n; j++) {
            clause *c = &q->groups[i].clauses[j];
            for (size_t k = 0; k < c->n; k++) {
                free(c->terms[k].field);
                free(c->terms[k].value);
            }
            free(c->terms);
        }
        free(q->groups[i].clauses);
    }
    free(q->groups);
    for (size_t i = 0; i < q->norders; i++)
        free(q->orders[i].field);
    free(q->orders);
    free(q);
}

size_t sim_query_terms(const sim_query *q)
{
    return q->nterms;
}

/* ---- matching ---- */

static bool is_number(const char *s, double *out)
{
    if (!*s)
        return false;
    char *end = NULL;
    double d = strtod(s, &end);
    if (*end)
        return false;
    *out = d;
    return true;
}

/* <0, 0, >0 like strcmp; numeric for integer fields or when both sides are numbers. */
static int compare(const sim_field *fd, const char *a, const char *b)
{
    double x, y;
    if ((fd && fd->type == SIM_INTEGER) || (is_number(a, &x) && is_number(b, &y))) {
        if (is_number(a, &x) && is_number(b, &y))
            return x < y ? -1 : x > y;
    }
    return strcmp(a, b);
}

static bool bool_eq(const char *a, const char *b)
{
    bool x, y;
    if (sg_parse_bool(a, "a", &x) == SG_OK && sg_parse_bool(b, "b", &y) == SG_OK)
        return x == y;
    return strcmp(a, b) == 0;
}

static bool in_list(const char *v, const char *list)
{
    const char *p = list;
    size_t vl = strlen(v);
    for (;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == vl && strncmp(p, v, n) == 0)
            return true;
        if (!c)
            return false;
        p = c + 1;
    }
}

static bool match_term(const term *tm, const sim_qctx *ctx, const sim_rec *r)
{
    char *v = sim_field_value(ctx, r, tm->field);
    char *want = sg_str_startswith(tm->value, "javascript:") ? eval_js(tm->value, ctx)
                                                             : sg_xstrdup(tm->value);
    bool ok = false;
    const sim_field *fd = tm->fd;
    switch (tm->op) {
    case OP_EQ:
        ok = fd && fd->type == SIM_BOOLEAN ? bool_eq(v, want) : strcmp(v, want) == 0;
        break;
    case OP_NE:
        /* Like SQL on a real instance: an empty value is not "different from x". */
        ok = *v && (fd && fd->type == SIM_BOOLEAN ? !bool_eq(v, want) : strcmp(v, want) != 0);
        break;
    case OP_LIKE:
        ok = strcasestr(v, want) != NULL;
        break;
    case OP_NOTLIKE:
        ok = strcasestr(v, want) == NULL;
        break;
    case OP_STARTSWITH:
        ok = strncasecmp(v, want, strlen(want)) == 0;
        break;
    case OP_ENDSWITH: {
        size_t vl = strlen(v), wl = strlen(want);
        ok = vl >= wl && strcasecmp(v + vl - wl, want) == 0;
        break;
    }
    case OP_IN:
        ok = in_list(v, want);
        break;
    case OP_NOTIN:
        ok = !in_list(v, want);
        break;
    case OP_ISEMPTY:
    case OP_EMPTYSTRING:
        ok = *v == '\0';
        break;
    case OP_ISNOTEMPTY:
        ok = *v != '\0';
        break;
    case OP_ANYTHING:
        ok = true;
        break;
    case OP_LT:
        ok = *v && compare(fd, v, want) < 0;
        break;
    case OP_LE:
        ok = *v && compare(fd, v, want) <= 0;
        break;
    case OP_GT:
        ok = *v && compare(fd, v, want) > 0;
        break;
    case OP_GE:
        ok = *v && compare(fd, v, want) >= 0;
        break;
    case OP_BETWEEN: {
        char *at = strchr(want, '@');
        if (at && *v) {
            *at = '\0';
            char *lo =
                sg_str_startswith(want, "javascript:") ? eval_js(want, ctx) : sg_xstrdup(want);
            char *hi = sg_str_startswith(at + 1, "javascript:") ? eval_js(at + 1, ctx)
                                                                : sg_xstrdup(at + 1);
            ok = compare(fd, v, lo) >= 0 && compare(fd, v, hi) <= 0;
            free(lo);
            free(hi);
        }
        break;
    }
    case OP_SAMEAS:
    case OP_NSAMEAS:
    case OP_GT_FIELD:
    case OP_LT_FIELD:
    case OP_GE_FIELD:
    case OP_LE_FIELD: {
        char *other = sim_field_value(ctx, r, want);
        int c = compare(fd, v, other);
        ok = tm->op == OP_SAMEAS     ? c == 0
             : tm->op == OP_NSAMEAS  ? c != 0
             : tm->op == OP_GT_FIELD ? c > 0
             : tm->op == OP_LT_FIELD ? c < 0
             : tm->op == OP_GE_FIELD ? c >= 0
                                     : c <= 0;
        free(other);
        break;
    }
    case OP_VALCHANGES:
    case OP_CHANGESFROM:
    case OP_CHANGESTO: {
        const char *before = ctx && ctx->prev ? sg_json_get_str(ctx->prev, tm->field) : NULL;
        if (!before)
            break; /* no previous record (an insert, or outside a business rule) */
        bool changed = strcmp(before, v) != 0;
        ok = tm->op == OP_VALCHANGES    ? changed
             : tm->op == OP_CHANGESFROM ? changed && strcmp(before, want) == 0
                                        : changed && strcmp(v, want) == 0;
        break;
    }
    case OP_INSTANCEOF: {
        const sim_table *want_t = sim_dict_table(want);
        ok = want_t && sim_dict_is_a(r->t, want_t);
        break;
    }
    }
    free(v);
    free(want);
    return ok;
}

bool sim_query_match(const sim_query *q, const sim_qctx *ctx, const sim_rec *r)
{
    if (q->ngroups == 0)
        return true;
    for (size_t i = 0; i < q->ngroups; i++) {
        const group *g = &q->groups[i];
        bool all = true;
        for (size_t j = 0; j < g->n && all; j++) {
            const clause *c = &g->clauses[j];
            bool any = false;
            for (size_t k = 0; k < c->n && !any; k++)
                any = match_term(&c->terms[k], ctx, r);
            all = any;
        }
        if (all)
            return true;
    }
    return false;
}

/* ---- planning ----
 * Only a query that is one AND group can use an index: a record outside the candidates of one
 * of its single-term clauses cannot match. The candidates still go through sim_query_match. */

/* The values an indexable term looks up (one for =, the list items for IN), or 0 when the term
 * cannot use an index. *vals points into *buf, which the caller frees. */
static size_t term_values(const term *tm, char **buf, const char ***vals)
{
    *buf = NULL;
    *vals = NULL;
    if ((tm->op != OP_EQ && tm->op != OP_IN) || !tm->fd || !tm->fd->indexed ||
        strchr(tm->field, '.') || sg_str_startswith(tm->value, "javascript:"))
        return 0;
    size_t n = 1;
    if (tm->op == OP_IN)
        for (const char *p = tm->value; *p; p++)
            n += *p == ',';
    *buf = sg_xstrdup(tm->value);
    *vals = sg_xcalloc(n, sizeof(char *));
    if (tm->op == OP_EQ) {
        (*vals)[0] = *buf;
        return 1;
    }
    /* Split as in_list reads the list: on every comma, nothing trimmed. */
    char *p = *buf;
    for (size_t i = 0; i < n; i++) {
        (*vals)[i] = p;
        char *c = strchr(p, ',');
        if (c) {
            *c = '\0';
            p = c + 1;
        }
    }
    return n;
}

/* The term whose index yields the fewest candidates, or NULL when the query must scan. */
static const term *plan(const sim_query *q, const sim_qctx *ctx)
{
    if (!q->t || !ctx || !ctx->db || q->ngroups != 1)
        return NULL;
    const group *g = &q->groups[0];
    const term *best = NULL;
    size_t best_n = 0;
    for (size_t j = 0; j < g->n; j++) {
        if (g->clauses[j].n != 1)
            continue; /* an ^OR clause */
        const term *tm = &g->clauses[j].terms[0];
        char *buf = NULL;
        const char **vals = NULL;
        size_t nv = term_values(tm, &buf, &vals);
        size_t hits = 0;
        if (nv > 0 && sim_db_lookup(ctx->db, q->t, tm->field, vals, nv, NULL, &hits) &&
            (!best || hits < best_n)) {
            best = tm;
            best_n = hits;
        }
        free(vals);
        free(buf);
    }
    return best;
}

bool sim_query_indexed(const sim_query *q, const sim_qctx *ctx)
{
    return plan(q, ctx) != NULL;
}

typedef struct each_ctx {
    const sim_query *q;
    const sim_qctx *ctx;
    bool (*fn)(void *fctx, sim_rec *r);
    void *fctx;
} each_ctx;

static bool each_match(void *ctx, sim_rec *r)
{
    each_ctx *e = ctx;
    if (!sim_query_match(e->q, e->ctx, r))
        return true;
    return e->fn(e->fctx, r);
}

void sim_query_each(const sim_query *q, const sim_qctx *ctx, bool (*fn)(void *fctx, sim_rec *r),
                    void *fctx)
{
    if (!q->t || !ctx || !ctx->db)
        return;
    each_ctx e = {q, ctx, fn, fctx};
    const term *tm = plan(q, ctx);
    if (!tm) {
        sim_db_each(ctx->db, q->t, each_match, &e);
        return;
    }
    char *buf = NULL;
    const char **vals = NULL;
    size_t nv = term_values(tm, &buf, &vals);
    sim_rec **hits = NULL;
    size_t n = 0;
    if (sim_db_lookup(ctx->db, q->t, tm->field, vals, nv, &hits, &n)) {
        for (size_t i = 0; i < n; i++)
            if (!each_match(&e, hits[i]))
                break;
    } else {
        sim_db_each(ctx->db, q->t, each_match, &e); /* plan() saw it answer: not reached */
    }
    free(hits);
    free(vals);
    free(buf);
}

void sim_query_each_scan(const sim_query *q, const sim_qctx *ctx,
                         bool (*fn)(void *fctx, sim_rec *r), void *fctx)
{
    if (!q->t || !ctx || !ctx->db)
        return;
    each_ctx e = {q, ctx, fn, fctx};
    sim_db_each(ctx->db, q->t, each_match, &e);
}

/* ---- sorting ---- */

typedef struct sort_item {
    sim_rec *r;
    char **keys;
} sort_item;

static int cmp_items(const void *a, const void *b, void *arg)
{
    const sim_query *sort_q = arg;
    const sort_item *x = a, *y = b;
    for (size_t i = 0; i < sort_q->norders; i++) {
        int c = compare(sort_q->orders[i].fd, x->keys[i], y->keys[i]);
        if (c)
            return sort_q->orders[i].desc ? -c : c;
    }
    /* Ties keep insertion order, reversed when the last clause sorts descending, so that
     * "ORDERBYDESCsys_created_on" lists the newest first even within one second. */
    int s = x->r->seq < y->r->seq ? -1 : x->r->seq > y->r->seq;
    return sort_q->orders[sort_q->norders - 1].desc ? -s : s;
}

void sim_query_sort(const sim_query *q, const sim_qctx *ctx, sim_rec **recs, size_t n)
{
    if (!q || q->norders == 0 || n < 2)
        return;
    sort_item *items = sg_xcalloc(n, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        items[i].r = recs[i];
        items[i].keys = sg_xcalloc(q->norders, sizeof(char *));
        for (size_t k = 0; k < q->norders; k++)
            items[i].keys[k] = sim_field_value(ctx, recs[i], q->orders[k].field);
    }
    qsort_r(items, n, sizeof(*items), cmp_items, (void *)q);
    for (size_t i = 0; i < n; i++) {
        recs[i] = items[i].r;
        for (size_t k = 0; k < q->norders; k++)
            free(items[i].keys[k]);
        free(items[i].keys);
    }
    free(items);
}
