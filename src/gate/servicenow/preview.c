/* preview: the verdict on each preview problem of snowgate's update set. A problem is judged by
 * the payload the instance holds, compared with the XML snowgate generated itself, never by
 * the names or tables the instance reports for the row. */
#include "gate/servicenow/preview.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/xml.h"
#include "gate/servicenow/client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 80 /* a table or column name */

typedef struct our_row {
    char *payload;
    char table[NAME_MAX_LEN + 1];
    char sys_id[33];
    /* The row's own fields, as snowgate wrote them. */
    char *action, *name, *row_table, *type;
} our_row;

struct sg_preview_ours {
    our_row rows[SG_PREVIEW_MAX_ROWS];
    size_t n;
};

/* A table or column name as ServiceNow spells them: 1 to NAME_MAX_LEN of [a-z0-9_]. */
static bool is_name(const char *s, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* The record element of a payload (<record_update><TABLE ...>), or NULL; *doc is the caller's
 * to free with sg_xml_free() (NULL on failure). */
static sg_xml_node *payload_record(const char *payload, sg_xml_doc **doc)
{
    *doc = NULL;
    if (sg_xml_parse(payload, strlen(payload), 0, doc) != SG_OK)
        return NULL;
    sg_xml_node *root = sg_xml_root(*doc);
    if (root && strcmp(sg_xml_name(root), "record_update") == 0 && sg_xml_first(root))
        return sg_xml_first(root);
    sg_xml_free(*doc);
    *doc = NULL;
    return NULL;
}

/* A child's text, "" when the row has no such child; the caller frees it. */
static char *child_text(sg_xml_node *row, const char *name)
{
    sg_xml_node *c = sg_xml_child(row, name);
    return c ? sg_xml_text(c) : sg_xstrdup("");
}

/* Fills r from one <sys_update_xml> row of snowgate's XML. */
static int read_row(sg_xml_node *row, our_row *r)
{
    sg_xml_node *pl = sg_xml_child(row, "payload");
    if (!pl)
        return sg_err_set(SG_EINVAL, "a row of snowgate's update set has no payload");
    r->payload = sg_xml_text(pl);
    r->action = child_text(row, "action");
    r->name = child_text(row, "name");
    r->row_table = child_text(row, "table");
    r->type = child_text(row, "type");
    sg_xml_doc *doc = NULL;
    sg_xml_node *rec = payload_record(r->payload, &doc);
    sg_xml_node *sid = rec ? sg_xml_child(rec, "sys_id") : NULL;
    char *id = sid ? sg_xml_text(sid) : NULL;
    const char *table = rec ? sg_xml_name(rec) : "";
    int rc = SG_OK;
    if (!rec || !is_name(table, strlen(table)) || !sn_is_sys_id(id))
        rc = sg_err_set(SG_EINVAL, "a payload of snowgate's update set has no record with a "
                                   "table and a sys_id");
    else {
        snprintf(r->table, sizeof(r->table), "%s", table);
        memcpy(r->sys_id, id, sizeof(r->sys_id));
    }
    free(id);
    sg_xml_free(doc);
    return rc;
}

int sg_preview_ours_parse(const char *xml, size_t len, sg_preview_ours **out)
{
    *out = NULL;
    sg_xml_doc *doc = NULL;
    int rc = sg_xml_parse(xml, len, 0, &doc);
    if (rc != SG_OK)
        return rc;
    sg_preview_ours *o = sg_xcalloc(1, sizeof(*o));
    sg_xml_node *root = sg_xml_root(doc);
    if (!root || strcmp(sg_xml_name(root), "unload") != 0)
        rc = sg_err_set(SG_EINVAL, "snowgate's update set is not an <unload> document");
    for (sg_xml_node *n = root ? sg_xml_first(root) : NULL; n && rc == SG_OK; n = sg_xml_next(n)) {
        if (strcmp(sg_xml_name(n), "sys_update_xml") != 0)
            continue;
        if (o->n == SG_PREVIEW_MAX_ROWS)
            rc = sg_err_set(SG_ETOOBIG, "snowgate's update set has over %d rows",
                            SG_PREVIEW_MAX_ROWS);
        else
            rc = read_row(n, &o->rows[o->n++]);
    }
    sg_xml_free(doc);
    if (rc != SG_OK) {
        sg_preview_ours_free(o);
        return rc;
    }
    *out = o;
    return SG_OK;
}

void sg_preview_ours_free(sg_preview_ours *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        free(o->rows[i].payload);
        free(o->rows[i].action);
        free(o->rows[i].name);
        free(o->rows[i].row_table);
        free(o->rows[i].type);
    }
    free(o);
}

size_t sg_preview_ours_count(const sg_preview_ours *o)
{
    return o ? o->n : 0;
}

static bool same_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool sg_preview_rows_match(const sg_preview_ours *ours, const sg_preview_row *rows, size_t n,
                           sg_buf *diff)
{
    bool *used = sg_xcalloc(ours->n + 1, sizeof(*used));
    size_t before = diff->len;
    if (n != ours->n)
        sg_buf_printf(diff, "  the set holds %zu row(s); snowgate generated %zu\n", n, ours->n);
    for (size_t i = 0; i < n; i++) {
        const sg_preview_row *r = &rows[i];
        char id[33], name[81], shown[81];
        sg_str_sanitize(id, sizeof(id), r->sys_id);
        sg_str_sanitize(name, sizeof(name), r->name);
        size_t k = 0;
        while (k < ours->n && (used[k] || !r->payload || strcmp(ours->rows[k].payload, r->payload)))
            k++;
        if (k == ours->n) {
            /* A payload of ours that an earlier row already took, or none of ours. */
            size_t twice = 0;
            while (twice < ours->n &&
                   (!r->payload || strcmp(ours->rows[twice].payload, r->payload)))
                twice++;
            if (twice < ours->n)
                sg_buf_printf(diff,
                              "  sys_update_xml %s (%s): a second row with the payload of "
                              "snowgate's %s %s\n",
                              id, name, ours->rows[twice].table, ours->rows[twice].sys_id);
            else
                sg_buf_printf(diff,
                              "  sys_update_xml %s (%s): its payload is not one snowgate "
                              "generated (an added or changed row)\n",
                              id, name);
            continue;
        }
        used[k] = true;
        const our_row *o = &ours->rows[k];
        static const char *const what[] = {"action", "name", "table", "type"};
        const char *theirs[] = {r->action, r->name, r->table, r->type};
        const char *mine[] = {o->action, o->name, o->row_table, o->type};
        for (int f = 0; f < 4; f++)
            if (!same_str(theirs[f], mine[f]))
                sg_buf_printf(diff,
                              "  sys_update_xml %s (%s): snowgate's %s %s, but its %s is '%s', "
                              "not '%s'\n",
                              id, name, o->table, o->sys_id, what[f],
                              sg_str_sanitize(shown, sizeof(shown), theirs[f]), mine[f]);
    }
    for (size_t k = 0; k < ours->n; k++)
        if (!used[k])
            sg_buf_printf(diff, "  snowgate's %s %s (row %s) is not in the set\n",
                          ours->rows[k].table, ours->rows[k].sys_id, ours->rows[k].name);
    free(used);
    return diff->len == before;
}

const char *sg_preview_verdict_name(sg_preview_verdict v)
{
    switch (v) {
    case SG_PREVIEW_ACCEPTABLE:
        return "ACCEPTABLE";
    case SG_PREVIEW_COLLISION:
        return "COLLISION";
    case SG_PREVIEW_REFUSED:
        break;
    }
    return "REFUSED";
}

void sg_preview_accept_failed(sg_buf *b, const char *const *descs, const char *const *ids,
                              size_t done, size_t total)
{
    if (done == 0) {
        sg_buf_printf(b, "No problem was marked ignored before this failure (0 of %zu).\n", total);
        return;
    }
    sg_buf_printf(b, "Already marked ignored before this failure (%zu of %zu):\n", done, total);
    for (size_t i = 0; i < done; i++)
        sg_buf_printf(b, "  \"%s\" (sys_update_preview_problem %s)\n", descs[i], ids[i]);
    sg_buf_printf(b,
                  "They stay ignored on the instance; nothing was committed. A new run imports and "
                  "previews the set anew.\n");
}

bool sg_preview_security_table(const char *table)
{
    /* Roles and what they contain, ACLs and everything else of the security manager, scripted
     * REST APIs, scripts (business rules, script includes), application scopes, users and who
     * holds which role; also properties (snowgate's webhook URL and secret) and OAuth. */
    static const char *const prefixes[] = {
        "sys_user_role", "sys_security_",  "sys_ws_", "sys_script",
        "sys_scope",     "sys_properties", "oauth_",  NULL};
    static const char *const exact[] = {"sys_user", "sys_user_has_role", "sys_group_has_role",
                                        NULL};
    for (int i = 0; prefixes[i]; i++)
        if (sg_str_startswith(table, prefixes[i]))
            return true;
    for (int i = 0; exact[i]; i++)
        if (strcmp(table, exact[i]) == 0)
            return true;
    return false;
}

/* The references in snowgate's own records that may point at a record the set does not carry:
 * (the record's table, the column, the table referred to), exactly as sg_updateset_generate
 * writes them. Every other reference of snowgate's records points at another record of the
 * set (the role, an ACL, the catalog, the item, a Scripted REST API), so a problem about one is
 * never acceptable. Today the one allowed is the catalog item's category: the catalog item works
 * without one, and snowgate never reads it. (By default the generator's item refers to
 * snowgate's own category, which is in the set, and a problem about it is REFUSED in judge_own;
 * this applies when the set is generated with a category of the instance's own,
 * `--catalog-category`.) */
static const struct {
    const char *row_table, *column, *target;
} allowed_refs[] = {
    {"sc_cat_item", "category", "sc_category"},
};

static bool allowed_ref(const char *row_table, const char *column, const char *target)
{
    for (size_t i = 0; i < sizeof(allowed_refs) / sizeof(allowed_refs[0]); i++)
        if (strcmp(allowed_refs[i].row_table, row_table) == 0 &&
            strcmp(allowed_refs[i].column, column) == 0 &&
            strcmp(allowed_refs[i].target, target) == 0)
            return true;
    return false;
}

static const our_row *our_row_by_id(const sg_preview_ours *o, const char *sys_id)
{
    for (size_t i = 0; sys_id && i < o->n; i++)
        if (strcmp(o->rows[i].sys_id, sys_id) == 0)
            return &o->rows[i];
    return NULL;
}

static const our_row *our_row_with(const sg_preview_ours *o, const char *payload)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->rows[i].payload, payload) == 0)
            return &o->rows[i];
    return NULL;
}

/* Reads "Could not find a record in <table> for column <field>" (then the end, or a space and
 * more words) into table and field. */
static bool missing_reference(const char *desc, char table[NAME_MAX_LEN + 1],
                              char field[NAME_MAX_LEN + 1])
{
    static const char head[] = "Could not find a record in ", mid[] = " for column ";
    if (!desc || !sg_str_startswith(desc, head))
        return false;
    const char *t = desc + strlen(head);
    size_t tn = strspn(t, "abcdefghijklmnopqrstuvwxyz0123456789_");
    if (!is_name(t, tn) || !sg_str_startswith(t + tn, mid))
        return false;
    const char *f = t + tn + strlen(mid);
    size_t fn = strspn(f, "abcdefghijklmnopqrstuvwxyz0123456789_");
    if (!is_name(f, fn) || (f[fn] != '\0' && f[fn] != ' '))
        return false;
    memcpy(table, t, tn);
    table[tn] = '\0';
    memcpy(field, f, fn);
    field[fn] = '\0';
    return true;
}

/* Does the row's record have field = value (a reference element's text)? */
static bool field_holds(const our_row *r, const char *field, const char *value)
{
    sg_xml_doc *doc = NULL;
    sg_xml_node *rec = payload_record(r->payload, &doc);
    sg_xml_node *f = rec ? sg_xml_child(rec, field) : NULL;
    char *v = f ? sg_xml_text(f) : NULL;
    bool same = v && strcmp(v, value) == 0;
    free(v);
    sg_xml_free(doc);
    return same;
}

static sg_preview_verdict say_why(sg_preview_verdict v, char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static sg_preview_verdict say_why(sg_preview_verdict v, char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return v;
}

/* The verdict once the row is known to be snowgate's own, not a collision and not on a
 * security-relevant table: what the description says. */
static sg_preview_verdict judge_own(const sg_preview_problem *p, const sg_preview_ours *ours,
                                    const our_row *row, char *why, size_t n)
{
    char table[NAME_MAX_LEN + 1], field[NAME_MAX_LEN + 1], shown[NAME_MAX_LEN + 1];
    if (!missing_reference(p->description, table, field))
        return say_why(SG_PREVIEW_REFUSED, why, n,
                       "on snowgate's %s %s, but not a missing reference, the one kind of problem "
                       "snowgate can judge",
                       row->table, row->sys_id);
    /* A record of snowgate's own set reported missing: its row is not in the set on the
     * instance, whatever table the description names. */
    const our_row *own = our_row_by_id(ours, p->missing_item);
    if (own)
        return say_why(SG_PREVIEW_REFUSED, why, n,
                       "the missing record is snowgate's own %s %s, which snowgate's update set "
                       "carries: its row is missing from the set on the instance, so the set was "
                       "changed after snowgate uploaded it",
                       own->table, own->sys_id);
    if (!allowed_ref(row->table, field, table))
        return say_why(SG_PREVIEW_REFUSED, why, n,
                       "snowgate's %s records do not refer (column %s) to %s records the set "
                       "may lack; only the references snowgate generates to records it does not "
                       "need are accepted",
                       row->table, field, table);
    if (!p->missing_item_table || strcmp(p->missing_item_table, table) != 0)
        return say_why(SG_PREVIEW_REFUSED, why, n,
                       "its missing_item_table '%s' is not the table the description names (%s)",
                       sg_str_sanitize(shown, sizeof(shown), p->missing_item_table), table);
    if (!sn_is_sys_id(p->missing_item) || !field_holds(row, field, p->missing_item))
        return say_why(SG_PREVIEW_REFUSED, why, n,
                       "its missing_item is not what column %s of snowgate's %s %s holds", field,
                       row->table, row->sys_id);
    return say_why(SG_PREVIEW_ACCEPTABLE, why, n,
                   "snowgate's %s %s refers (column %s) to %s %s, which the instance lacks; "
                   "snowgate does not need it; if accepted, the record is committed with that "
                   "reference pointing at nothing",
                   row->table, row->sys_id, field, table, p->missing_item);
}

sg_preview_verdict sg_preview_judge(const sg_preview_problem *p, const sg_preview_ours *ours,
                                    char *why, size_t why_size)
{
    if (!sn_is_sys_id(p->sys_id) || !sn_is_sys_id(p->remote_update))
        return say_why(SG_PREVIEW_REFUSED, why, why_size,
                       "the problem's sys_id or remote_update is not a sys_id");
    const our_row *row = p->payload ? our_row_with(ours, p->payload) : NULL;
    if (!row)
        return say_why(SG_PREVIEW_REFUSED, why, why_size,
                       "its row (sys_update_xml %s) is not one snowgate generated: the payload "
                       "is not one of those in snowgate's update set",
                       p->remote_update);
    /* A collision first, on any table: a newer local change is settled by people, and says
     * more than "security-relevant table" would. */
    if (sg_str_startswith(p->description ? p->description : "", "Found a local update"))
        return say_why(SG_PREVIEW_COLLISION, why, why_size,
                       "%s %s was changed on the instance after snowgate generated its version%s; "
                       "compare the two in ServiceNow (a new provision run would overwrite the "
                       "local change)",
                       row->table, row->sys_id,
                       sg_preview_security_table(row->table)
                           ? ", on a security-relevant table: find out who changed it before "
                             "running provision again"
                           : "");
    if (sg_preview_security_table(row->table))
        return say_why(SG_PREVIEW_REFUSED, why, why_size,
                       "it is about snowgate's %s %s, on a security-relevant table, where "
                       "snowgate accepts no problem",
                       row->table, row->sys_id);
    return judge_own(p, ours, row, why, why_size);
}
