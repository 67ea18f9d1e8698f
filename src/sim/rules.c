/* rules: sys_script evaluation around sim_db writes. */
#include "sim/rules.h"

#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "sim/query.h"
#include "sim/script.h"
#include "sim/sim.h"
#include "sim/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rule_list {
    sim_rec **r;
    size_t n, cap;
    const sim_table *t;
    const char *when;
    const char *action; /* "action_insert", ... */
} rule_list;

static bool each_rule(void *ctx, sim_rec *r)
{
    rule_list *l = ctx;
    if (strcmp(sim_rec_get(r, "active"), "true") != 0 ||
        strcmp(sim_rec_get(r, l->action), "true") != 0)
        return true;
    const char *when = sim_rec_get(r, "when");
    if (strcmp(when, l->when) != 0 &&
        !(strcmp(l->when, "async") == 0 && strcmp(when, "async_always") == 0))
        return true;
    const sim_table *on = sim_dict_table(sim_rec_get(r, "collection"));
    if (!on || !sim_dict_is_a(l->t, on))
        return true;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->r = sg_xrealloc(l->r, l->cap * sizeof(*l->r));
    }
    l->r[l->n++] = r;
    return true;
}

static int64_t order_of(const sim_rec *r)
{
    int64_t o = 100;
    sg_parse_i64(sim_rec_get(r, "order"), INT32_MIN, INT32_MAX, "order", &o);
    return o;
}

static int cmp_order(const void *a, const void *b)
{
    const sim_rec *x = *(sim_rec *const *)a, *y = *(sim_rec *const *)b;
    int64_t ox = order_of(x), oy = order_of(y);
    if (ox != oy)
        return ox < oy ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The active rules for table t, phase `when`, operation op, in `order`. Free l.r. */
static void find_rules(sg_sim *sim, const sim_table *t, const char *when, const char *op,
                       rule_list *l)
{
    char action[32];
    snprintf(action, sizeof(action), "action_%s", op);
    memset(l, 0, sizeof(*l));
    l->t = t;
    l->when = when;
    l->action = action;
    sim_db_each(sim->db, sim_dict_table("sys_script"), each_rule, l);
    if (l->n > 1)
        qsort(l->r, l->n, sizeof(*l->r), cmp_order);
    l->action = NULL;
}

static sg_json *copy_fields(const sg_json *f)
{
    sg_json *c = sg_json_object();
    for (void *it = sg_json_iter((sg_json *)f); it; it = sg_json_iter_next((sg_json *)f, it))
        sg_json_set(c, sg_json_iter_key(it), sg_json_incref(sg_json_iter_value(it)));
    return c;
}

static void merge_strings(sg_json *into, const sg_json *values)
{
    for (void *it = sg_json_iter((sg_json *)values); it;
         it = sg_json_iter_next((sg_json *)values, it)) {
        sg_json *v = sg_json_iter_value(it);
        if (sg_json_typeof(v) == SG_JSON_STRING) {
            sg_json_set(into, sg_json_iter_key(it), sg_json_incref(v));
        } else if (sg_json_typeof(v) == SG_JSON_NULL) {
            sg_json_set_str(into, sg_json_iter_key(it), "");
        } else {
            char *s = sg_json_dump(v);
            sg_json_set_str(into, sg_json_iter_key(it), s);
            free(s);
        }
    }
}

typedef struct rule_ctx {
    sg_sim *sim;
    const sim_user *u;
    const sim_table *t;
    const char *op;
    int depth;
} rule_ctx;

/* Does the rule apply to these values? (filter_condition, then the condition script) */
static bool rule_applies(rule_ctx *c, sim_rec *rule, const sg_json *cur, const sg_json *prev)
{
    const char *filter = sim_rec_get(rule, "filter_condition");
    if (*filter) {
        sim_rec tmp;
        memset(&tmp, 0, sizeof(tmp));
        tmp.t = c->t;
        tmp.f = (sg_json *)cur;
        sim_query *q = NULL;
        sim_query_parse(filter, c->t, &q);
        sim_qctx qc = {c->sim->db, c->u->sys_id, c->u->user_name, prev};
        bool ok = sim_query_match(q, &qc, &tmp);
        sim_query_free(q);
        if (!ok)
            return false;
    }
    const char *cond = sim_rec_get(rule, "condition");
    if (*cond) {
        char *name = sg_xasprintf("business rule '%s' condition", sim_rec_get(rule, "name"));
        sim_script_env env = {c->sim, c->u,  name, c->depth, c->t, cur,
                              prev,   c->op, NULL, 0,        0,    NULL};
        bool ok = sim_script_condition(&env, cond);
        free(name);
        return ok;
    }
    return true;
}

/* Runs one rule's script; returns the current values it left (new ref) and its abort flag. */
static int run_rule(rule_ctx *c, sim_rec *rule, const sg_json *cur, const sg_json *prev,
                    sg_json **cur_out, bool *abort)
{
    const char *script = sim_rec_get(rule, "script");
    *abort = false;
    if (cur_out)
        *cur_out = NULL;
    if (!*script)
        return SG_OK;
    char *name = sg_xasprintf("business rule '%s'", sim_rec_get(rule, "name"));
    sim_script_env env = {c->sim, c->u, name, c->depth, c->t, cur, prev, c->op, NULL, 0, 0, NULL};
    int rc = sim_script_run(&env, script);
    free(name);
    if (rc == SG_OK && env.result) {
        sg_json_get_bool(env.result, "abort", abort);
        sg_json *nc = sg_json_get(env.result, "current");
        if (cur_out && nc && sg_json_typeof(nc) == SG_JSON_OBJECT)
            *cur_out = sg_json_incref(nc);
    }
    sg_json_decref(env.result);
    return rc;
}

/* Before rules: may change `proposed` (in place) or abort. */
static int before(rule_ctx *c, sg_json *proposed, const sg_json *prev)
{
    rule_list l;
    find_rules(c->sim, c->t, "before", c->op, &l);
    int rc = SG_OK;
    for (size_t i = 0; i < l.n && rc == SG_OK; i++) {
        if (!rule_applies(c, l.r[i], proposed, prev))
            continue;
        sg_json *after = NULL;
        bool abort = false;
        /* A failing script is logged and the operation goes on, as on a real instance. */
        run_rule(c, l.r[i], proposed, prev, &after, &abort);
        if (after) {
            merge_strings(proposed, after);
            sg_json_decref(after);
        }
        if (abort)
            rc = sg_err_set(SG_EFORBIDDEN,
                            "Operation against file '%s' was aborted by Business Rule '%s'",
                            c->t->name, sim_rec_get(l.r[i], "name"));
    }
    free(l.r);
    return rc;
}

static void after_and_async(rule_ctx *c, const sim_rec *r, const sg_json *cur, const sg_json *prev)
{
    rule_list l;
    find_rules(c->sim, c->t, "after", c->op, &l);
    for (size_t i = 0; i < l.n; i++) {
        if (!rule_applies(c, l.r[i], cur, prev))
            continue;
        bool abort = false;
        run_rule(c, l.r[i], cur, prev, NULL, &abort);
    }
    free(l.r);
    find_rules(c->sim, c->t, "async", c->op, &l);
    for (size_t i = 0; i < l.n; i++) {
        if (!rule_applies(c, l.r[i], cur, prev))
            continue;
        sim_worker_rule(c->sim->worker, l.r[i]->sys_id, c->t->name, r ? r->sys_id : "", c->op,
                        c->u->sys_id);
    }
    free(l.r);
}

/* The values to write: what the caller asked for plus what before rules changed. */
static sg_json *changes_between(const sg_json *base, const sg_json *proposed)
{
    sg_json *out = sg_json_object();
    for (void *it = sg_json_iter((sg_json *)proposed); it;
         it = sg_json_iter_next((sg_json *)proposed, it)) {
        const char *k = sg_json_iter_key(it);
        const char *nv = sg_json_str(sg_json_iter_value(it));
        const char *ov = base ? sg_json_get_str(base, k) : NULL;
        if (!ov || !nv || strcmp(ov, nv) != 0)
            sg_json_set(out, k, sg_json_incref(sg_json_iter_value(it)));
    }
    return out;
}

int sim_rules_insert(sg_sim *sim, const sim_user *u, const sim_table *t, const sg_json *values,
                     sim_rec **out, int depth)
{
    rule_ctx c = {sim, u, t, "insert", depth};
    sg_json *proposed = sg_json_object();
    merge_strings(proposed, values);
    int rc = before(&c, proposed, NULL);
    sim_rec *r = NULL;
    if (rc == SG_OK)
        rc = sim_db_insert(sim->db, t, proposed, u->user_name, &r);
    sg_json_decref(proposed);
    if (rc != SG_OK)
        return rc;
    char sys_id[33];
    memcpy(sys_id, r->sys_id, sizeof(sys_id));
    sg_json *cur = copy_fields(r->f);
    after_and_async(&c, r, cur, NULL);
    sg_json_decref(cur);
    /* An after rule may have changed (or even deleted) the record: look it up again. */
    sim_rec *now = sim_db_get(sim->db, t, sys_id);
    if (out)
        *out = now;
    if (!now)
        return sg_err_set(SG_ECONFLICT, "the new %s record was deleted by a business rule",
                          t->name);
    return SG_OK;
}

static void approval_engine(sg_sim *sim, const sim_user *u, const sim_rec *approval, int depth);
static void approvals_settled(sg_sim *sim, const sim_user *u, const char *task_id,
                              const sg_json *prev, const sg_json *cur, int depth);

int sim_rules_update(sg_sim *sim, const sim_user *u, sim_rec *r, const sg_json *values, int depth)
{
    rule_ctx c = {sim, u, r->t, "update", depth};
    char sys_id[33];
    memcpy(sys_id, r->sys_id, sizeof(sys_id));
    const sim_table *t = r->t;
    sg_json *prev = copy_fields(r->f);
    sg_json *proposed = copy_fields(r->f);
    merge_strings(proposed, values);
    int rc = before(&c, proposed, prev);
    bool changed = false;
    if (rc == SG_OK) {
        sg_json *delta = changes_between(prev, proposed);
        /* Journal fields are not stored on the record: pass them through as given. */
        for (void *it = sg_json_iter((sg_json *)values); it;
             it = sg_json_iter_next((sg_json *)values, it)) {
            const sim_field *fd = sim_dict_field(t, sg_json_iter_key(it));
            if (fd && fd->type == SIM_JOURNAL)
                sg_json_set(delta, sg_json_iter_key(it), sg_json_incref(sg_json_iter_value(it)));
        }
        rc = sim_db_update(sim->db, r, delta, u->user_name, &changed);
        sg_json_decref(delta);
    }
    sg_json_decref(proposed);
    if (rc == SG_OK && changed) {
        sim_rec *now = sim_db_get(sim->db, t, sys_id);
        if (now) {
            sg_json *cur = copy_fields(now->f);
            after_and_async(&c, now, cur, prev);
            if (strcmp(t->name, "sysapproval_approver") == 0 &&
                strcmp(sg_json_get_str(prev, "state") ? sg_json_get_str(prev, "state") : "",
                       sg_json_get_str(cur, "state") ? sg_json_get_str(cur, "state") : "") != 0)
                approval_engine(sim, u, now, depth);
            else if (sim_dict_is_a(t, sim_dict_table("task")))
                approvals_settled(sim, u, sys_id, prev, cur, depth);
            sg_json_decref(cur);
        }
    }
    sg_json_decref(prev);
    return rc;
}

int sim_rules_delete(sg_sim *sim, const sim_user *u, sim_rec *r, int depth)
{
    rule_ctx c = {sim, u, r->t, "delete", depth};
    sg_json *cur = copy_fields(r->f);
    int rc = before(&c, cur, cur);
    if (rc == SG_OK)
        rc = sim_db_delete(sim->db, r);
    if (rc == SG_OK)
        after_and_async(&c, NULL, cur, cur);
    sg_json_decref(cur);
    return rc;
}

void sim_rules_run_async(sg_sim *sim, const char *rule_id, const char *table, const char *sys_id,
                         const char *operation, const char *user_id)
{
    const sim_table *t = sim_dict_table(table);
    sim_rec *rule = sim_db_get(sim->db, sim_dict_table("sys_script"), rule_id);
    sim_user u;
    if (!t || !rule || sim_auth_load_user(sim->db, user_id, &u) != SG_OK)
        return;
    sim_rec *r = *sys_id ? sim_db_get(sim->db, t, sys_id) : NULL;
    if (!r && strcmp(operation, "delete") != 0)
        return;
    rule_ctx c = {sim, &u, t, operation, 0};
    sg_json *cur = r ? copy_fields(r->f) : sg_json_object();
    bool abort = false;
    /* Async rules have no previous record, as on a real instance. */
    run_rule(&c, rule, cur, NULL, NULL, &abort);
    sg_json_decref(cur);
}

/* ---- the approval engine ---- */

typedef struct tally {
    int requested, approved, rejected;
} tally;

static bool count_approval(void *ctx, sim_rec *r)
{
    tally *t = ctx;
    const char *s = sim_rec_get(r, "state");
    if (strcmp(s, "approved") == 0)
        t->approved++;
    else if (strcmp(s, "rejected") == 0)
        t->rejected++;
    else if (strcmp(s, "requested") == 0)
        t->requested++;
    return true;
}

/* Any rejection rejects the task; when nobody is left to decide and someone approved, it is
 * approved. The task's rules fire as for any update. */
static void approval_engine(sg_sim *sim, const sim_user *u, const sim_rec *approval, int depth)
{
    char task_id[33];
    snprintf(task_id, sizeof(task_id), "%s", sim_rec_get(approval, "sysapproval"));
    sim_rec *task = sim_db_get(sim->db, sim_dict_table("task"), task_id);
    if (!task)
        return;
    tally t = {0, 0, 0};
    sim_db_each_eq(sim->db, sim_dict_table("sysapproval_approver"), "sysapproval", task_id,
                   count_approval, &t);
    sg_json *v = sg_json_object();
    bool is_request = sim_dict_field(task->t, "request_state") != NULL;
    if (t.rejected > 0) {
        sg_json_set_str(v, "approval", "rejected");
        if (is_request) {
            sg_json_set_str(v, "request_state", "closed_rejected");
            sg_json_set_str(v, "active", "false");
        }
    } else if (t.requested == 0 && t.approved > 0) {
        sg_json_set_str(v, "approval", "approved");
        if (is_request) {
            sg_json_set_str(v, "request_state", "in_process");
            sg_json_set_str(v, "stage", "fulfillment");
        }
    }
    if (sg_json_object_size(v) > 0) {
        int rc = sim_rules_update(sim, u, task, v, depth + 1);
        if (rc != SG_OK)
            sg_log_warn("approval engine could not update the task", "task", task_id, "error",
                        sg_err_msg());
    }
    sg_json_decref(v);
}

/* A task decided (its approval set to approved or rejected, by the engine or by hand) or closed
 * (active false) no longer needs the approvals still waiting on it: they become
 * "No Longer Required" (not_required), as the approval workflow does on an instance. */
typedef struct pending {
    char ids[64][33];
    int n;
} pending;

static bool each_pending(void *ctx, sim_rec *r)
{
    pending *p = ctx;
    if (strcmp(sim_rec_get(r, "state"), "requested") == 0)
        memcpy(p->ids[p->n++], r->sys_id, 33);
    return p->n < 64;
}

static const char *field_of(const sg_json *o, const char *name)
{
    const char *v = sg_json_get_str(o, name);
    return v ? v : "";
}

static void approvals_settled(sg_sim *sim, const sim_user *u, const char *task_id,
                              const sg_json *prev, const sg_json *cur, int depth)
{
    const char *was = field_of(prev, "approval"), *now = field_of(cur, "approval");
    bool decided =
        strcmp(was, now) != 0 && (strcmp(now, "approved") == 0 || strcmp(now, "rejected") == 0);
    bool closed = strcmp(field_of(prev, "active"), "true") == 0 &&
                  strcmp(field_of(cur, "active"), "false") == 0;
    if (!decided && !closed)
        return;
    const sim_table *t = sim_dict_table("sysapproval_approver");
    pending p = {{{0}}, 0};
    sim_db_each_eq(sim->db, t, "sysapproval", task_id, each_pending, &p);
    for (int i = 0; i < p.n; i++) {
        sim_rec *a = sim_db_get(sim->db, t, p.ids[i]);
        if (!a || strcmp(sim_rec_get(a, "state"), "requested") != 0)
            continue;
        sg_json *v = sg_json_object();
        sg_json_set_str(v, "state", "not_required");
        if (sim_rules_update(sim, u, a, v, depth + 1) != SG_OK)
            sg_log_warn("could not settle an approval", "approval", p.ids[i], "error",
                        sg_err_msg());
        sg_json_decref(v);
    }
}
