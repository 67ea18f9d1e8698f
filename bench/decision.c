/* decision: requests mirrored to ServiceNow; then, one at a time, an approval PATCHed in
 * snowsim, and the time until the grant is visible in PostgreSQL and the request is fulfilled
 * in snowgate. The path: snowsim's business rule, the signed webhook, the re-read, the
 * decision, the GRANT, the work note. */
#include "bench.h"

#include "core/str.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Webhook events snowgate has stored (read beside the server, from its own file). */
static int64_t events(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM webhook_events", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static bool fulfilled(const char *id)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    sg_json *j = NULL;
    long st = g_call("GET", path, NULL, &j);
    bool done = st == 200 && strcmp(sg_json_get_str(j, "state"), "fulfilled") == 0;
    sg_json_decref(j);
    return done;
}

static bool granted(PGconn *c, int table)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT has_table_privilege('u0_role', 'sales.t%d', 'SELECT')",
             table);
    PGresult *r = PQexec(c, sql);
    bool yes = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return yes;
}

/* The hops of a decision, from snowgate's debug log (JSON lines): the first of each per
 * request, so that the later sync run for ServiceNow's own echo of the close does not count. */
enum {
    HOP_SYNC_WAIT,
    HOP_READ,
    HOP_DECIDE,
    HOP_FULFIL_WAIT,
    HOP_CLAIM,
    HOP_GRANT,
    HOP_RECORD,
    HOP_COMMENT,
    NHOPS
};
static const char *const hop_names[NHOPS] = {"sync job waited",      "re-read in ServiceNow",
                                             "decision recorded",    "fulfil job waited",
                                             "claimed (fulfilling)", "GRANT",
                                             "fulfilled recorded",   "comment read (after)"};

static int hop_of(const sg_json *line, const char **value)
{
    const char *msg = sg_json_get_str(line, "msg"), *kind = sg_json_get_str(line, "kind");
    *value = sg_json_get_str(line, "ms");
    if (!msg)
        return -1;
    if (strcmp(msg, "job ran") == 0 && kind) {
        *value = sg_json_get_str(line, "waited_ms");
        return strcmp(kind, "servicenow.sync") == 0  ? HOP_SYNC_WAIT
               : strcmp(kind, "request.fulfil") == 0 ? HOP_FULFIL_WAIT
                                                     : -1;
    }
    if (strcmp(msg, "decision read") == 0)
        return HOP_READ;
    if (strcmp(msg, "decision applied") == 0)
        return HOP_DECIDE;
    if (strcmp(msg, "fulfilment claimed") == 0)
        return HOP_CLAIM;
    if (strcmp(msg, "connector ran") == 0)
        return HOP_GRANT;
    if (strcmp(msg, "fulfilment recorded") == 0)
        return HOP_RECORD;
    const char *ep = sg_json_get_str(line, "endpoint");
    if (strcmp(msg, "servicenow call") == 0 && ep &&
        strcmp(ep, "/api/now/table/sys_journal_field") == 0)
        return HOP_COMMENT;
    return -1;
}

/* Reads the log from `from` and reports the p50 of each hop over the n requests. */
static void hops(const char *log_path, long from, char (*ids)[33], int n)
{
    FILE *f = fopen(log_path, "r");
    if (!f || fseek(f, from, SEEK_SET) != 0) {
        if (f)
            fclose(f);
        bench_row("decision", "of which, per hop (p50)", "-", -1, "no debug log to read");
        return;
    }
    double *v = malloc(sizeof(double) * (size_t)n * NHOPS);
    for (int i = 0; i < n * NHOPS; i++)
        v[i] = -1;
    load_result webhook = {0};
    webhook.lat_ms = calloc((size_t)n * 4, sizeof(double));
    char line[8192];
    while (fgets(line, sizeof(line), f)) {
        sg_json *j = NULL;
        if (sg_json_parse(line, strlen(line), 0, 0, &j) != SG_OK)
            continue;
        const char *value = NULL, *path = sg_json_get_str(j, "path");
        if (path && strcmp(path, "/webhooks/servicenow") == 0 && webhook.n < (size_t)n * 4 &&
            (value = sg_json_get_str(j, "ms")))
            webhook.lat_ms[webhook.n++] = atof(value);
        int hop = hop_of(j, &value);
        const char *req = sg_json_get_str(j, "access_request");
        /* A read that found no decision (an earlier sync still retrying) is not the hop;
         * "job ran" follows the lines of its run, so the sync that decided logs its wait
         * after "decision applied". */
        const char *dec = sg_json_get_str(j, "decision");
        if (hop == HOP_READ && (!dec || strcmp(dec, "none") == 0))
            hop = -1;
        for (int i = 0; hop >= 0 && value && req && i < n; i++)
            if (strcmp(ids[i], req) == 0) {
                bool ready = hop != HOP_SYNC_WAIT || v[i * NHOPS + HOP_DECIDE] >= 0;
                if (ready && v[i * NHOPS + hop] < 0)
                    v[i * NHOPS + hop] = atof(value);
                break;
            }
        sg_json_decref(j);
    }
    fclose(f);
    char text[1024];
    size_t len = 0;
    load_sort(&webhook);
    len += (size_t)snprintf(text + len, sizeof(text) - len, "webhook answered %.2f ms",
                            webhook.n ? load_pct(&webhook, 50) : -1.0);
    for (int h = 0; h < NHOPS && len < sizeof(text); h++) {
        load_result r = {0};
        r.lat_ms = calloc((size_t)n, sizeof(double));
        for (int i = 0; i < n; i++)
            if (v[i * NHOPS + h] >= 0)
                r.lat_ms[r.n++] = v[i * NHOPS + h];
        load_sort(&r);
        len += (size_t)snprintf(text + len, sizeof(text) - len, "; %s %.2f ms", hop_names[h],
                                r.n ? load_pct(&r, 50) : -1.0);
        load_result_free(&r);
    }
    bench_row("decision", "of which, per hop in snowgate (p50, from its debug log)", "-", -1, "%s",
              text);
    load_result_free(&webhook);
    free(v);
}

void bench_decision(void)
{
    int n = B.smoke ? 5 : 1000;
    h_pg pg;
    env_pg(&pg, n, 1);
    env_connected("bench-decision", true);
    char h[128];
    g_add_user("u0", "member", "u0_role", h);
    g_sn_admin_is_steward(); /* snowsim's admin approves below: a steward here, by email */
    env_assets(&pg, n);

    char(*ids)[33] = calloc((size_t)n, 33), (*sys)[33] = calloc((size_t)n, 33);
    char(*appr)[33] = calloc((size_t)n, 33);
    for (int i = 0; i < n; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"asset\":\"analytics.sales.t%d\",\"privilege\":\"read\",\"justification\":"
                 "\"bench\",\"for\":\"u0\"}",
                 i);
        sg_json *j = NULL;
        assert_int_equal(g_call("POST", "/api/v1/requests", body, &j), 201);
        snprintf(ids[i], 33, "%s", sg_json_get_str(j, "id"));
        sg_json_decref(j);
    }
    for (int i = 0; i < n; i++)
        g_wait_mirrored(ids[i], sys[i]);
    sg_json *j = g_sim_call(
        "GET", "/api/now/table/sys_user?sysparm_query=user_name%3Dadmin&sysparm_fields=sys_id",
        NULL, 200);
    char admin[33];
    snprintf(admin, sizeof(admin), "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    for (int i = 0; i < n; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"approver\":\"%s\",\"sysapproval\":\"%s\",\"state\":\"requested\"}", admin,
                 sys[i]);
        j = g_sim_call("POST", "/api/now/table/sysapproval_approver", body, 201);
        snprintf(appr[i], 33, "%s", sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
        sg_json_decref(j);
    }

    char conninfo[700];
    snprintf(conninfo, sizeof(conninfo), "host=%s port=%d user=postgres dbname=analytics", pg.sock,
             pg.port);
    PGconn *pc = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(pc), CONNECTION_OK);
    char dbpath[600];
    snprintf(dbpath, sizeof(dbpath), "%s/snowgate.db", G.dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    /* Only what the measured decisions log counts. */
    FILE *lf = fopen(G.gate.log_path, "r");
    long log_from = 0;
    if (lf && fseek(lf, 0, SEEK_END) == 0)
        log_from = ftell(lf);
    if (lf)
        fclose(lf);
    load_result r = {0}, sn = {0};
    r.lat_ms = calloc((size_t)n, sizeof(double));
    sn.lat_ms = calloc((size_t)n, sizeof(double));
    const char *sa[] = {G.sim.admin_auth, NULL};
    for (int i = 0; i < n; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/now/table/sysapproval_approver/%s", appr[i]);
        int64_t before = events(db);
        double t0 = env_ms(), t_event = -1;
        assert_int_equal(
            h_call("PATCH", G.sim.p.url, path, sa, "{\"state\":\"approved\"}", NULL, NULL), 200);
        bool done = false;
        while (!done && env_ms() - t0 < 120000) {
            if (t_event < 0 && events(db) > before)
                t_event = env_ms();
            done = granted(pc, i) && fulfilled(ids[i]);
            if (!done) {
                struct timespec t = {0, 200 * 1000};
                nanosleep(&t, NULL);
            }
        }
        if (!done)
            fail_msg("request %s was not fulfilled within two minutes", ids[i]);
        double t1 = env_ms();
        r.lat_ms[r.n++] = t1 - t0;
        sn.lat_ms[sn.n++] = (t_event < 0 ? t1 : t_event) - t0;
    }
    sqlite3_close(db);
    PQfinish(pc);
    load_sort(&r);
    load_sort(&sn);
    r.ok = r.n;
    sn.ok = sn.n;
    bench_row("decision", "approval PATCH to grant and fulfilled, p50", "&le; 20 ms",
              load_pct(&r, 50) <= 20, "%.1f ms (%d requests, one at a time)", load_pct(&r, 50), n);
    bench_row("decision", "approval PATCH to grant and fulfilled, p99", "&le; 100 ms",
              load_pct(&r, 99) <= 100, "%.1f ms (max %.1f ms)", load_pct(&r, 99),
              r.lat_ms[r.n - 1]);
    bench_row("decision", "of which: PATCH until the webhook is stored, p50 / p99", "-", -1,
              "%.1f ms / %.1f ms (ServiceNow's side: snowsim runs the business rule)",
              load_pct(&sn, 50), load_pct(&sn, 99));
    hops(G.gate.log_path, log_from, ids, n);
    bench_series s[] = {{"approval to grant and fulfilled", &r},
                        {"approval to webhook stored", &sn}};
    bench_plot("decision", "decision latency by percentile", s, 2);
    load_result_free(&r);
    load_result_free(&sn);
    free(ids);
    free(sys);
    free(appr);
    g_stop();
    h_pg_stop(&pg);
}
