/* updateset: the life cycle of a retrieved update set: loaded, previewed, committed. */
#include "sim/updateset.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/xml.h"
#include "sim/oob.h"
#include "sim/query.h"
#include "sim/rules.h"
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPDATESET_MAX ((size_t)64 * 1024 * 1024)

static const char *const header_fields[] = {"name",
                                            "description",
                                            "application",
                                            "application_name",
                                            "application_scope",
                                            "application_version",
                                            "remote_sys_id",
                                            "origin_sys_id",
                                            "release_date",
                                            "summary",
                                            "parent",
                                            "remote_base_update_set",
                                            "remote_parent_id",
                                            "update_source",
                                            NULL};

static const char *const row_fields[] = {"action",
                                         "name",
                                         "payload",
                                         "payload_hash",
                                         "type",
                                         "target_name",
                                         "table",
                                         "category",
                                         "comments",
                                         "application",
                                         "replace_on_upgrade",
                                         "update_domain",
                                         "update_guid",
                                         "update_guid_history",
                                         "view",
                                         "sys_recorded_at",
                                         NULL};

static void copy_children(sg_xml_node *n, const char *const *fields, sg_json *into)
{
    for (const char *const *f = fields; *f; f++) {
        sg_xml_node *c = sg_xml_child(n, *f);
        if (!c)
            continue;
        char *t = sg_xml_text(c);
        sg_json_set_str(into, *f, t);
        free(t);
    }
}

int sim_updateset_parse(const char *xml, size_t len, sg_json **header,
                        void (*row_fn)(void *ctx, const sg_json *row), void *ctx)
{
    sg_xml_doc *doc = NULL;
    *header = NULL;
    int rc = sg_xml_parse(xml, len, UPDATESET_MAX, &doc);
    if (rc != SG_OK)
        return sg_err_wrap(rc, "update set");
    sg_xml_node *root = sg_xml_root(doc);
    sg_xml_node *head = sg_xml_child(root, "sys_remote_update_set");
    if (strcmp(sg_xml_name(root), "unload") != 0 || !head) {
        sg_xml_free(doc);
        return sg_err_set(SG_EINVAL, "not an update set: expected <unload> with a "
                                     "<sys_remote_update_set>");
    }
    sg_json *hv = sg_json_object();
    copy_children(head, header_fields, hv);
    for (sg_xml_node *c = sg_xml_first(root); c; c = sg_xml_next(c)) {
        if (strcmp(sg_xml_name(c), "sys_update_xml") != 0)
            continue;
        sg_json *rv = sg_json_object();
        copy_children(c, row_fields, rv);
        row_fn(ctx, rv);
        sg_json_decref(rv);
    }
    sg_xml_free(doc);
    *header = hv;
    return SG_OK;
}

typedef struct load_ctx {
    sg_sim *sim;
    const sim_user *u;
    const char *set_id;
    int rows;
    int rc;
} load_ctx;

static void load_row(void *ctx, const sg_json *row)
{
    load_ctx *c = ctx;
    if (c->rc != SG_OK)
        return;
    sg_json *rv = sg_json_object();
    for (void *it = sg_json_iter((sg_json *)row); it; it = sg_json_iter_next((sg_json *)row, it))
        sg_json_set(rv, sg_json_iter_key(it), sg_json_incref(sg_json_iter_value(it)));
    sg_json_set_str(rv, "remote_update_set", c->set_id);
    c->rc = sim_db_insert(c->sim->db, sim_dict_table("sys_update_xml"), rv, c->u->user_name, NULL);
    sg_json_decref(rv);
    c->rows++;
}

typedef struct rows_buf {
    sg_json *rows;
} rows_buf;

static void keep_row(void *ctx, const sg_json *row)
{
    rows_buf *b = ctx;
    sg_json_append(b->rows, sg_json_incref((sg_json *)row));
}

int sim_updateset_load(sg_sim *sim, const sim_user *u, const char *xml, size_t len, char id_out[33])
{
    /* Parse everything first, so a bad file leaves no half-loaded set behind. */
    rows_buf b = {sg_json_array()};
    sg_json *hv = NULL;
    int rc = sim_updateset_parse(xml, len, &hv, keep_row, &b);
    if (rc != SG_OK) {
        sg_json_decref(b.rows);
        return rc;
    }
    if (!sg_json_get_str(hv, "name") || !*sg_json_get_str(hv, "name"))
        sg_json_set_str(hv, "name", "Imported update set");
    sg_json_set_str(hv, "state", "loaded");
    sim_rec *set = NULL;
    rc = sim_db_insert(sim->db, sim_dict_table("sys_remote_update_set"), hv, u->user_name, &set);
    sg_json_decref(hv);
    if (rc != SG_OK) {
        sg_json_decref(b.rows);
        return rc;
    }
    memcpy(id_out, set->sys_id, 33);
    load_ctx lc = {sim, u, id_out, 0, SG_OK};
    for (size_t i = 0; i < sg_json_array_size(b.rows); i++)
        load_row(&lc, sg_json_array_get(b.rows, i));
    sg_json_decref(b.rows);
    char n[16];
    snprintf(n, sizeof(n), "%d", lc.rows);
    sg_log_info("update set loaded", "sys_id", id_out, "rows", n);
    return lc.rc;
}

/* ---- rows and payloads ---- */

typedef struct rows_ctx {
    const char *set_id;
    sim_rec **r;
    size_t n, cap;
} rows_ctx;

static bool each_row(void *ctx, sim_rec *r)
{
    rows_ctx *c = ctx;
    if (strcmp(sim_rec_get(r, "remote_update_set"), c->set_id) != 0)
        return true;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->r = sg_xrealloc(c->r, c->cap * sizeof(*c->r));
    }
    c->r[c->n++] = r;
    return true;
}

static void rows_of(sg_sim *sim, const char *set_id, rows_ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->set_id = set_id;
    sim_db_each(sim->db, sim_dict_table("sys_update_xml"), each_row, c);
}

/* The record elements of a payload (children of <record_update>). */
static sg_xml_node *payload_records(const char *payload, sg_xml_doc **doc)
{
    *doc = NULL;
    if (sg_xml_parse(payload, strlen(payload), UPDATESET_MAX, doc) != SG_OK)
        return NULL;
    sg_xml_node *root = sg_xml_root(*doc);
    if (!root || strcmp(sg_xml_name(root), "record_update") != 0) {
        sg_err_set(SG_EINVAL, "the payload's root is not <record_update>");
        sg_xml_free(*doc);
        *doc = NULL;
        return NULL;
    }
    return root;
}

int sim_updateset_payload_check(const char *payload)
{
    sg_xml_doc *doc = NULL;
    sg_xml_node *root = payload_records(payload, &doc);
    sg_xml_free(doc);
    return root ? SG_OK : SG_EINVAL;
}

static int problem(sg_sim *sim, const sim_user *u, sim_rec *set, sim_rec *row, const char *type,
                   const char *desc, const char *missing, const char *missing_table)
{
    sg_json *v = sg_json_object();
    sg_json_set_str(v, "description", desc);
    sg_json_set_str(v, "type", type);
    sg_json_set_str(v, "status", "");
    sg_json_set_str(v, "remote_update", row->sys_id);
    sg_json_set_str(v, "remote_update_set", set->sys_id);
    sg_json_set_str(v, "missing_item", missing ? missing : "");
    sg_json_set_str(v, "missing_item_table", missing_table ? missing_table : "");
    int rc =
        sim_db_insert(sim->db, sim_dict_table("sys_update_preview_problem"), v, u->user_name, NULL);
    sg_json_decref(v);
    return rc;
}

typedef struct problems_ctx {
    const char *set_id;
    sim_rec *list[4096];
    int n;
    int unresolved;
} problems_ctx;

static bool each_problem(void *ctx, sim_rec *r)
{
    problems_ctx *c = ctx;
    if (strcmp(sim_rec_get(r, "remote_update_set"), c->set_id) != 0)
        return true;
    if (c->n < 4096)
        c->list[c->n++] = r;
    if (!*sim_rec_get(r, "status"))
        c->unresolved++;
    return true;
}

/* Is sys_id defined by a record inside this update set? */
static bool in_set(char **ids, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

/* Every sys_id the set defines (that of the first record of each row's payload). The caller
 * frees the list with free_ids. */
static char **set_ids(const rows_ctx *rows, size_t *n)
{
    char **ids = sg_xcalloc(rows->n + 1, sizeof(char *));
    size_t nids = 0;
    for (size_t i = 0; i < rows->n; i++) {
        sg_xml_doc *doc = NULL;
        sg_xml_node *root = payload_records(sim_rec_get(rows->r[i], "payload"), &doc);
        sg_xml_node *rec = root ? sg_xml_first(root) : NULL;
        sg_xml_node *sid = rec ? sg_xml_child(rec, "sys_id") : NULL;
        if (sid)
            ids[nids++] = sg_xml_text(sid);
        sg_xml_free(doc);
    }
    *n = nids;
    return ids;
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* The local record a reference element names when its sys_id is found neither on the
 * instance nor in the set: instances match tables, and their out-of-box roles, by the name an
 * export writes beside the sys_id (`name="sys_import_set_row"`), as a table's sys_id differs
 * from one instance to the next. NULL when nothing matches. Borrowed. */
static sim_rec *named_ref(sg_sim *sim, const sim_field *fd, sg_xml_node *f)
{
    char *name = sg_xml_attr(f, "name");
    sim_rec *r = name ? sim_oob_by_name(sim->db, fd->ref, name) : NULL;
    free(name);
    return r;
}

/* Does a reference's value point at nothing the instance or the set has? */
static bool dangling(sg_sim *sim, const sim_field *fd, const char *v, char **ids, size_t nids)
{
    const sim_table *rt = sim_dict_table(fd->ref);
    return *v && sim_is_sys_id(v) && rt && !sim_db_get(sim->db, rt, v) && !in_set(ids, nids, v);
}

int sim_updateset_preview(sg_sim *sim, const sim_user *u, sim_rec *set, int *problems)
{
    char set_id[33];
    memcpy(set_id, set->sys_id, sizeof(set_id));
    *problems = 0;
    /* Drop the problems of an earlier preview. */
    problems_ctx *pc = sg_xcalloc(1, sizeof(*pc));
    pc->set_id = set_id;
    sim_db_each(sim->db, sim_dict_table("sys_update_preview_problem"), each_problem, pc);
    for (int i = 0; i < pc->n; i++)
        sim_db_delete(sim->db, pc->list[i]);
    free(pc);

    rows_ctx rows;
    rows_of(sim, set_id, &rows);
    /* First pass: every sys_id the set itself defines. */
    size_t nids = 0;
    char **ids = set_ids(&rows, &nids);
    int rc = SG_OK;
    for (size_t i = 0; i < rows.n && rc == SG_OK; i++) {
        sim_rec *row = rows.r[i];
        sg_xml_doc *doc = NULL;
        sg_xml_node *root = payload_records(sim_rec_get(row, "payload"), &doc);
        char desc[512];
        if (!root) {
            snprintf(desc, sizeof(desc), "Could not load the payload of %s: %s",
                     sim_rec_get(row, "name"), sg_err_msg());
            rc = problem(sim, u, set, row, "error", desc, NULL, NULL);
            (*problems)++;
            continue;
        }
        sg_xml_node *rec = sg_xml_first(root);
        char *action = rec ? sg_xml_attr(rec, "action") : NULL;
        const sim_table *t = rec ? sim_dict_table(sg_xml_name(rec)) : NULL;
        if (rec && t && action && strcmp(action, "DELETE") != 0) {
            /* References to records that exist neither here nor in the set (nor, for tables
             * and out-of-box roles, under the name the export gives). */
            for (sg_xml_node *f = sg_xml_first(rec); f && rc == SG_OK; f = sg_xml_next(f)) {
                const sim_field *fd = sim_dict_field(t, sg_xml_name(f));
                if (!fd || fd->type != SIM_REFERENCE || !fd->ref)
                    continue;
                char *v = sg_xml_text(f);
                if (dangling(sim, fd, v, ids, nids) && !named_ref(sim, fd, f)) {
                    snprintf(
                        desc, sizeof(desc),
                        "Could not find a record in %s for column %s referenced in this update",
                        fd->ref, fd->name);
                    rc = problem(sim, u, set, row, "error", desc, v, fd->ref);
                    (*problems)++;
                }
                free(v);
            }
            /* Collisions: the local record changed after the one in the update set. */
            sg_xml_node *sid = sg_xml_child(rec, "sys_id");
            sg_xml_node *upd = sg_xml_child(rec, "sys_updated_on");
            if (sid && upd && rc == SG_OK) {
                char *id = sg_xml_text(sid), *when = sg_xml_text(upd);
                sim_rec *local = sim_db_get(sim->db, t, id);
                if (local && *when && strcmp(sim_rec_get(local, "sys_updated_on"), when) > 0 &&
                    strcmp(sim_rec_get(local, "sys_updated_by"), "system") != 0) {
                    snprintf(desc, sizeof(desc),
                             "Found a local update that is newer than this one (%s updated %s)",
                             t->name, sim_rec_get(local, "sys_updated_on"));
                    rc = problem(sim, u, set, row, "error", desc, id, t->name);
                    (*problems)++;
                }
                free(id);
                free(when);
            }
        }
        free(action);
        sg_xml_free(doc);
    }
    free_ids(ids, nids);
    free(rows.r);
    if (rc != SG_OK)
        return rc;
    sim_rec *s = sim_db_get(sim->db, sim_dict_table("sys_remote_update_set"), set_id);
    if (!s)
        return sg_err_set(SG_ENOTFOUND, "the update set disappeared during preview");
    sg_json *v = sg_json_object();
    sg_json_set_str(v, "state", "previewed");
    rc = sim_db_update(sim->db, s, v, u->user_name, NULL);
    sg_json_decref(v);
    return rc;
}

typedef struct dm_ctx {
    sim_query *q;
    sim_qctx qc;
    sim_rec **hits;
    size_t n, cap;
} dm_ctx;

static bool dm_collect(void *ctx, sim_rec *r)
{
    dm_ctx *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->hits = sg_xrealloc(c->hits, c->cap * sizeof(*c->hits));
    }
    c->hits[c->n++] = r;
    return true;
}

/* Upserts, deletes or bulk-deletes one payload element. ids: the sys_ids the set defines. */
static int apply_element(sg_sim *sim, const sim_user *u, sg_xml_node *rec, char **ids, size_t nids)
{
    char *action = sg_xml_attr(rec, "action");
    const char *table = sg_xml_name(rec);
    int rc = SG_OK;
    const sim_table *t = sim_dict_dynamic(table);
    if (!t || !action) {
        free(action);
        return SG_OK; /* nothing snowsim can store */
    }
    if (strcmp(action, "delete_multiple") == 0) {
        char *q = sg_xml_attr(rec, "query");
        if (q && *q) {
            sim_query *query = NULL;
            sim_query_parse(q, t, &query);
            /* A query that kept no terms would match everything: never delete on that. */
            if (sim_query_terms(query) > 0) {
                dm_ctx dc = {query, {sim->db, u->sys_id, u->user_name, NULL}, NULL, 0, 0};
                sim_query_each(query, &dc.qc, dm_collect, &dc);
                for (size_t i = 0; i < dc.n && rc == SG_OK; i++)
                    rc = sim_rules_delete(sim, u, dc.hits[i], 0);
                free(dc.hits);
            }
            sim_query_free(query);
        }
        free(q);
        free(action);
        return rc;
    }
    char *sys_id = NULL;
    sg_xml_node *sid = sg_xml_child(rec, "sys_id");
    if (sid)
        sys_id = sg_xml_text(sid);
    if (strcmp(action, "DELETE") == 0) {
        sim_rec *r = sys_id ? sim_db_get(sim->db, t, sys_id) : NULL;
        if (r)
            rc = sim_rules_delete(sim, u, r, 0);
    } else {
        sg_json *v = sg_json_object();
        for (sg_xml_node *f = sg_xml_first(rec); f; f = sg_xml_next(f)) {
            const char *name = sg_xml_name(f);
            if (strcmp(name, "sys_mod_count") == 0 || strcmp(name, "sys_created_on") == 0 ||
                strcmp(name, "sys_updated_on") == 0)
                continue;
            char *text = sg_xml_text(f);
            /* A reference found by name (a table, an out-of-box role) is stored as the local
             * record's sys_id, so it leads somewhere on this instance. */
            const sim_field *fd = t->dynamic ? NULL : sim_dict_field(t, name);
            sim_rec *named =
                fd && fd->type == SIM_REFERENCE && fd->ref && dangling(sim, fd, text, ids, nids)
                    ? named_ref(sim, fd, f)
                    : NULL;
            sg_json_set_str(v, name, named ? named->sys_id : text);
            free(text);
        }
        sim_rec *r = sys_id && *sys_id ? sim_db_get(sim->db, t, sys_id) : NULL;
        if (r)
            rc = sim_rules_update(sim, u, r, v, 0);
        else
            rc = sim_rules_insert(sim, u, t, v, NULL, 0);
        /* A committed table definition makes the table exist, records or not. */
        if (rc == SG_OK && strcmp(table, "sys_db_object") == 0 && sg_json_get_str(v, "name"))
            sim_dict_dynamic(sg_json_get_str(v, "name"));
        sg_json_decref(v);
    }
    free(sys_id);
    free(action);
    return rc;
}

int sim_updateset_commit(sg_sim *sim, const sim_user *u, sim_rec *set, bool force)
{
    char set_id[33];
    memcpy(set_id, set->sys_id, sizeof(set_id));
    const char *state = sim_rec_get(set, "state");
    if (strcmp(state, "committed") == 0)
        return sg_err_set(SG_ECONFLICT, "the update set is already committed");
    int rc = SG_OK;
    if (strcmp(state, "loaded") == 0) {
        int found = 0;
        rc = sim_updateset_preview(sim, u, set, &found);
        if (rc != SG_OK)
            return rc;
    }
    problems_ctx *pc = sg_xcalloc(1, sizeof(*pc));
    pc->set_id = set_id;
    sim_db_each(sim->db, sim_dict_table("sys_update_preview_problem"), each_problem, pc);
    if (pc->unresolved > 0 && !force) {
        int n = pc->unresolved;
        free(pc);
        return sg_err_set(SG_ECONFLICT,
                          "commit refused: %d preview problem(s) are unresolved; accept or skip "
                          "them first",
                          n);
    }
    rows_ctx rows;
    rows_of(sim, set_id, &rows);
    size_t nids = 0;
    char **ids = set_ids(&rows, &nids);
    int applied = 0;
    for (size_t i = 0; i < rows.n && rc == SG_OK; i++) {
        bool skip = false;
        for (int k = 0; k < pc->n; k++)
            if (strcmp(sim_rec_get(pc->list[k], "remote_update"), rows.r[i]->sys_id) == 0 &&
                strcmp(sim_rec_get(pc->list[k], "status"), "skipped") == 0)
                skip = true;
        if (skip)
            continue;
        sg_xml_doc *doc = NULL;
        sg_xml_node *root = payload_records(sim_rec_get(rows.r[i], "payload"), &doc);
        if (!root) {
            /* Preview recorded this as a problem, and commit only gets here once it was
             * resolved (or forced): there is nothing in it to apply. */
            sg_log_warn("update set row skipped: payload does not parse", "row",
                        sim_rec_get(rows.r[i], "name"));
            continue;
        }
        for (sg_xml_node *rec = sg_xml_first(root); rec && rc == SG_OK; rec = sg_xml_next(rec))
            rc = apply_element(sim, u, rec, ids, nids);
        sg_xml_free(doc);
        applied++;
    }
    free_ids(ids, nids);
    free(rows.r);
    free(pc);
    if (rc != SG_OK)
        return rc;
    sim_rec *s = sim_db_get(sim->db, sim_dict_table("sys_remote_update_set"), set_id);
    if (!s)
        return sg_err_set(SG_ENOTFOUND, "the update set disappeared during commit");
    char now[20];
    sim_now(now);
    sg_json *v = sg_json_object();
    sg_json_set_str(v, "state", "committed");
    sg_json_set_str(v, "commit_date", now);
    rc = sim_db_update(sim->db, s, v, u->user_name, NULL);
    sg_json_decref(v);
    char n[16];
    snprintf(n, sizeof(n), "%d", applied);
    sg_log_info("update set committed", "sys_id", set_id, "rows", n);
    return rc;
}
