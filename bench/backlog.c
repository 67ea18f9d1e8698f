/* backlog: requests raised while ServiceNow answers every API call with 503; after it
 * recovers, the time until every one is mirrored; then every one approved at once in
 * ServiceNow, and the time until all are fulfilled (granted in PostgreSQL) and closed there. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS 10

typedef struct backlog_ctx {
    int tables;
    char (*sys)[33];  /* the ServiceNow requests */
    char (*appr)[33]; /* an approval record of each, as its approver decides it */
    char admin[33];   /* the approver: ServiceNow's admin */
} backlog_ctx;

static void make_request(void *ctx, uint64_t seq, load_req *rq)
{
    backlog_ctx *x = ctx;
    rq->method = "POST";
    snprintf(rq->path, sizeof(rq->path), "/api/v1/requests");
    rq->body_len = (size_t)snprintf(rq->body, sizeof(rq->body),
                                    "{\"asset\":\"analytics.sales.t%llu\",\"privilege\":\"read\","
                                    "\"justification\":\"backlog\",\"for\":\"u%llu\"}",
                                    (unsigned long long)(seq % (uint64_t)x->tables),
                                    (unsigned long long)(seq / (uint64_t)x->tables));
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "%s", G.admin_h);
    snprintf(rq->headers[1], sizeof(rq->headers[1]), "Content-Type: application/json");
}

/* An approval record asked of the admin (setup, not timed). */
static void make_approver(void *ctx, uint64_t seq, load_req *rq)
{
    backlog_ctx *x = ctx;
    rq->method = "POST";
    snprintf(rq->path, sizeof(rq->path), "/api/now/table/sysapproval_approver");
    rq->body_len =
        (size_t)snprintf(rq->body, sizeof(rq->body),
                         "{\"approver\":\"%s\",\"sysapproval\":\"%s\",\"state\":\"requested\"}",
                         x->admin, x->sys[seq]);
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "%s", G.sim.admin_auth);
    snprintf(rq->headers[1], sizeof(rq->headers[1]), "Content-Type: application/json");
    snprintf(rq->headers[2], sizeof(rq->headers[2]), "Accept: application/json");
}

/* The approver approves, as on ServiceNow's My approvals page: snowgate counts a decision only
 * when it names an approver (a bare edit of sc_request.approval is refused). */
static void make_approval(void *ctx, uint64_t seq, load_req *rq)
{
    backlog_ctx *x = ctx;
    rq->method = "PATCH";
    snprintf(rq->path, sizeof(rq->path), "/api/now/table/sysapproval_approver/%s", x->appr[seq]);
    rq->body_len = (size_t)snprintf(rq->body, sizeof(rq->body), "{\"state\":\"approved\"}");
    snprintf(rq->headers[0], sizeof(rq->headers[0]), "%s", G.sim.admin_auth);
    snprintf(rq->headers[1], sizeof(rq->headers[1]), "Content-Type: application/json");
    snprintf(rq->headers[2], sizeof(rq->headers[2]), "Accept: application/json");
}

static int64_t mirrored(void *ctx)
{
    (void)ctx;
    return env_store_count("SELECT COUNT(*) FROM requests WHERE sn_sys_id IS NOT NULL");
}

static int64_t fulfilled(void *ctx)
{
    (void)ctx;
    return env_store_count("SELECT COUNT(*) FROM requests WHERE state = 'fulfilled'");
}

static int64_t closed(void *ctx)
{
    (void)ctx;
    const char *sa[] = {G.sim.admin_auth, NULL};
    sg_http_response r;
    h_call("GET", G.sim.p.url,
           "/api/now/table/sc_request?sysparm_query=request_state%3Dclosed_complete%5E"
           "correlation_idSTARTSWITHsnowgate%3A%5Ecorrelation_idNOT%20LIKEconnection-test"
           "&sysparm_fields=sys_id&sysparm_limit=1",
           sa, NULL, NULL, &r);
    const char *total = sg_http_response_header(&r, "X-Total-Count");
    int64_t n = total ? atoll(total) : 0;
    sg_http_response_free(&r);
    return n;
}

typedef struct ids_ctx {
    backlog_ctx *x;
    int n;
} ids_ctx;

static int by_sys(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Each request's approval record, read back from ServiceNow a page at a time. */
static void read_approvers(backlog_ctx *x, int n)
{
    /* The requests sorted (bsearch), each with its index after the sys_id. */
    char(*sorted)[40] = calloc((size_t)n, 40);
    for (int i = 0; i < n; i++) {
        memcpy(sorted[i], x->sys[i], 33);
        memcpy(sorted[i] + 33, &i, sizeof(int));
    }
    qsort(sorted, (size_t)n, 40, by_sys);
    int found = 0;
    for (int offset = 0; offset < n; offset += 1000) {
        char path[256];
        snprintf(path, sizeof(path),
                 "/api/now/table/sysapproval_approver?sysparm_fields=sys_id,sysapproval&"
                 "sysparm_exclude_reference_link=true&sysparm_limit=1000&sysparm_offset=%d",
                 offset);
        sg_json *j = g_sim_call("GET", path, NULL, 200);
        sg_json *list = sg_json_get(j, "result");
        for (size_t k = 0; k < sg_json_array_size(list); k++) {
            const char *task = sg_json_get_str(sg_json_array_get(list, k), "sysapproval");
            char key[40] = "";
            snprintf(key, 33, "%s", task ? task : "");
            const char *hit = bsearch(key, sorted, (size_t)n, 40, by_sys);
            if (!hit)
                continue;
            int i = 0;
            memcpy(&i, hit + 33, sizeof(int));
            snprintf(x->appr[i], 33, "%s", sg_json_get_str(sg_json_array_get(list, k), "sys_id"));
            found++;
        }
        sg_json_decref(j);
    }
    free(sorted);
    assert_int_equal(found, n);
}

static int read_ids(sg_conn *c, void *ctx)
{
    ids_ctx *ic = ctx;
    sg_rows *r = NULL;
    int rc =
        sg_conn_query(c, "SELECT sn_sys_id FROM requests WHERE sn_sys_id IS NOT NULL", NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    while (sg_rows_next(r) == 1)
        snprintf(ic->x->sys[ic->n++], 33, "%s", sg_rows_text(r, 0));
    sg_rows_free(r);
    return SG_OK;
}

void bench_backlog(void)
{
    /* SG_BENCH_BACKLOG_N sets the number of requests (a multiple of 10) for quicker iteration;
     * the goal is for the default 10,000. */
    int n = B.smoke ? 40 : 10000;
    const char *nv = getenv("SG_BENCH_BACKLOG_N");
    if (!B.smoke && nv && atoi(nv) >= USERS)
        n = atoi(nv) / USERS * USERS;
    backlog_ctx x = {n / USERS, calloc((size_t)n, 33), calloc((size_t)n, 33), ""};
    h_pg pg;
    env_pg(&pg, x.tables, USERS);
    env_connected("bench-backlog", false);
    for (int i = 0; i < USERS; i++) {
        char name[16], role[24], h[128];
        snprintf(name, sizeof(name), "u%d", i);
        snprintf(role, sizeof(role), "u%d_role", i);
        g_add_user(name, "member", role, h);
    }
    g_sn_admin_is_steward(); /* snowsim's admin approves below: a steward here, by email */
    env_assets(&pg, x.tables);

    /* ServiceNow goes down; people keep asking. */
    sg_json_decref(
        g_sim_call("PUT", "/api/x_snowsim/faults",
                   "{\"rules\":[{\"path\":\"/api/\",\"kind\":\"status\",\"status\":503}]}", 200));
    load_opts o = {.base = G.gate.url,
                   .connections = 8,
                   .requests = (uint64_t)n,
                   .make = make_request,
                   .ctx = &x};
    load_result created;
    load_run(&o, &created);
    assert_int_equal(created.ok, n);
    bench_row("backlog", "requests raised while ServiceNow is down", "-", -1,
              "%d in %.1f s (%.0f /s)", n, created.seconds, load_rate(&created));

    /* It recovers. */
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults", "{\"rules\":[]}", 200));
    double t = env_wait_count(mirrored, NULL, n, 600);
    bench_row("backlog", "after recovery, until all are mirrored", "&le; 60 s", t >= 0 && t <= 60,
              t >= 0 ? "%.1f s" : "not within 600 s (%.0f)", t);

    /* Everything approved at once in ServiceNow. */
    ids_ctx ic = {&x, 0};
    g_in_store(read_ids, &ic);
    assert_int_equal(ic.n, n);
    sg_json *admin = g_sim_call(
        "GET", "/api/now/table/sys_user?sysparm_query=user_name%3Dadmin&sysparm_fields=sys_id",
        NULL, 200);
    snprintf(x.admin, sizeof(x.admin), "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(admin, "result"), 0), "sys_id"));
    sg_json_decref(admin);
    o = (load_opts){.base = G.sim.p.url,
                    .connections = 8,
                    .requests = (uint64_t)n,
                    .make = make_approver,
                    .ctx = &x};
    load_result asked;
    load_run(&o, &asked);
    assert_int_equal(asked.ok, n);
    load_result_free(&asked);
    read_approvers(&x, n);
    double t0 = env_ms();
    o = (load_opts){.base = G.sim.p.url,
                    .connections = 8,
                    .requests = (uint64_t)n,
                    .make = make_approval,
                    .ctx = &x};
    load_result approved;
    load_run(&o, &approved);
    assert_int_equal(approved.ok, n);
    /* What people feel first: the grants; then ServiceNow's records closed. */
    double granted = env_wait_count(fulfilled, NULL, n, 600);
    double t_granted = granted >= 0 ? (env_ms() - t0) / 1e3 : -1;
    bench_row("backlog", "all approved at once, until all fulfilled (granted)", "&le; 60 s",
              t_granted >= 0 && t_granted <= 60,
              t_granted >= 0 ? "%.1f s (the approvals themselves took %.1f s)"
                             : "not within 600 s (%.0f; the approvals took %.1f s)",
              t_granted, approved.seconds);
    double rest = granted >= 0 ? env_wait_count(closed, NULL, n, 300) : -1;
    double t_closed = rest >= 0 ? (env_ms() - t0) / 1e3 : -1;
    bench_row("backlog", "... and all closed in ServiceNow", "&le; 60 s",
              t_closed >= 0 && t_closed <= 60,
              t_closed >= 0 ? "%.1f s" : "not within a further 300 s (%.0f)", t_closed);
    load_result_free(&created);
    load_result_free(&approved);
    free(x.sys);
    free(x.appr);
    g_stop();
    h_pg_stop(&pg);
}
