/* End to end: access requests reaching a real PostgreSQL server. snowgate, connected to
 * snowsim, grants and revokes through the postgres connector; the tests read the result in
 * PostgreSQL's own catalog (has_table_privilege) and in ServiceNow. */
#include "e2e/gate_env.h"
#include "e2e/pg_server.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/secrets.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DB_PASSWORD "pg-Grantor-Pw1"
/* A table name with a quote, a semicolon, a caret and unicode: it must reach SQL quoted. As
 * written in JSON, and as it is. */
#define TRICKY_JSON "ord\\\"ers;^\xc3\xbc"
#define TRICKY      "ord\"ers;^\xc3\xbc"

static h_pg pg;
static char bob_h[128], sam_h[128];

static int group_start(void **state)
{
    (void)state;
    h_pg_start(&pg);
    static const char *const tables[] = {"orders",  "refunds", "returns",
                                         "ledger",  "batch",   "holds",
                                         "payouts", "audits",  "\"ord\"\"ers;^\xc3\xbc\"",
                                         NULL},
                             *roles[] = {"bob_role", "carol_role", NULL};
    h_pg_analytics(&pg, DB_PASSWORD, tables, roles);
    return 0;
}

static int group_stop(void **state)
{
    (void)state;
    h_pg_stop(&pg);
    return 0;
}

/* snowgate connected to snowsim, with the postgres connection "warehouse", assets on it, bob
 * (member, bob_role) and sam (steward). */
static int start(void **state)
{
    (void)state;
    g_start("gatepg", NULL);
    g_add_user("bob", "member", "bob_role", bob_h);
    g_add_user("sam", "steward", NULL, sam_h);
    g_connected();
    g_add_warehouse(pg.port, DB_PASSWORD);
    sg_json *j = NULL;
    static const char *const tables[] = {"orders", "refunds", "returns", "ledger", "batch",
                                         "holds",  "payouts", "audits",  TRICKY};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        sg_json *a = sg_json_object();
        char name[128];
        snprintf(name, sizeof(name), "analytics.sales.%s", tables[i]);
        sg_json_set_str(a, "name", name);
        sg_json_set_str(a, "type", "table");
        sg_json_set_str(a, "connection", "warehouse");
        char *text = sg_json_dump(a);
        sg_json_decref(a);
        assert_int_equal(g_call("POST", "/api/v1/assets", text, &j), 201);
        sg_json_decref(j);
        free(text);
    }
    return 0;
}

static int stop(void **state)
{
    (void)state;
    g_stop();
    return 0;
}

static bool has(const char *table, const char *privilege)
{
    return h_pg_has(&pg, "analytics", "bob_role", table, privilege);
}

static long call_as(const char *who, const char *method, const char *path, const char *body,
                    sg_json **j)
{
    const char *h[] = {who, NULL};
    return h_call(method, G.gate.url, path, h, body, j, NULL);
}

static void approve_in_inbox(const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s/approve", id);
    sg_json *j = NULL;
    assert_int_equal(call_as(sam_h, "POST", path, "{\"comment\":\"ok for the audit\"}", &j), 200);
    sg_json_decref(j);
}

/* The whole path: request, mirrored, approved in ServiceNow through sysapproval_approver
 * with a comment, granted in PostgreSQL, the ServiceNow request closed with a work note, and
 * at expiry revoked, with a work note. */
static void test_grant_approved_in_servicenow_then_expires(void **state)
{
    (void)state;
    char id[33], sys_id[33], admin_id[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.orders\",\"privilege\":\"read\","
                       "\"justification\":\"churn model\",\"for\":\"bob\",\"duration\":\"PT8S\"}",
                       id, sys_id);
    assert_false(has("sales.orders", "SELECT"));
    g_sn_admin_decides(sys_id, "approved", "fine for eight seconds", admin_id);
    sg_json *j = g_wait_state(id, "fulfilled");
    assert_string_equal(sg_json_get_str(j, "decided_by"), "servicenow:admin");
    assert_non_null(sg_json_get_str(j, "expires_at"));
    sg_json_decref(j);
    /* The approver's comment is read after the decision, and lands beside it in the history. */
    j = g_wait_comment(id, "fine for eight seconds");
    sg_json *h = sg_json_get(j, "history");
    bool noted = false;
    for (size_t i = 0; i < sg_json_array_size(h); i++) {
        sg_json *e = sg_json_array_get(h, i);
        if (strcmp(sg_json_get_str(e, "to"), "approved") == 0)
            noted = strcmp(sg_json_get_str(e, "note"), "fine for eight seconds") == 0;
    }
    assert_true(noted);
    sg_json_decref(j);
    /* Read is SELECT only. */
    assert_true(has("sales.orders", "SELECT"));
    assert_false(has("sales.orders", "INSERT"));
    g_wait_sn_field(sys_id, "request_state", "closed_complete");
    assert_true(g_sn_work_note(sys_id, "applied through the postgres connection 'warehouse'"));
    /* Time is up: revoked in PostgreSQL, noted in ServiceNow. */
    j = g_wait_state(id, "expired");
    sg_json_decref(j);
    assert_false(has("sales.orders", "SELECT"));
    assert_true(g_sn_work_note(sys_id, "revoked through warehouse"));
    /* The approver and the comment are in the audit log. */
    assert_int_equal(g_call("GET", "/api/v1/audit?limit=200", NULL, &j), 200);
    char *text = sg_json_dump(j);
    assert_non_null(strstr(text, "servicenow:admin"));
    assert_non_null(strstr(text, "fine for eight seconds"));
    free(text);
    sg_json_decref(j);
}

/* write is SELECT, INSERT, UPDATE and DELETE, on a table whose name needs quoting; nothing
 * else is touched. A revoke request takes it all back and ends the grant. */
static void test_write_on_tricky_name_then_revoke(void **state)
{
    (void)state;
    sg_json *j = NULL;
    assert_int_equal(call_as(bob_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"analytics.sales." TRICKY_JSON
                             "\",\"privilege\":\"write\","
                             "\"justification\":\"fix bad rows\"}",
                             &j),
                     201);
    char grant[33];
    snprintf(grant, sizeof(grant), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    approve_in_inbox(grant);
    sg_json_decref(g_wait_state(grant, "fulfilled"));
    const char *quoted = "sales.\"ord\"\"ers;^\xc3\xbc\"";
    static const char *const all[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
    for (size_t i = 0; i < 4; i++)
        assert_true(has(quoted, all[i]));
    assert_false(has("sales.orders", "SELECT"));
    assert_false(has("sales.refunds", "SELECT"));
    /* The name reached ServiceNow intact, as data. */
    char q[200], sys_id[33];
    g_wait_mirrored(grant, sys_id);
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s?sysparm_fields=short_description", sys_id);
    j = g_sim_call("GET", q, NULL, 200);
    assert_string_equal(sg_json_get_str(sg_json_get(j, "result"), "short_description"),
                        "Data access: grant write on analytics.sales." TRICKY " for bob");
    sg_json_decref(j);
    /* bob asks to give it back (read is enough to name the asset): everything goes. */
    assert_int_equal(call_as(bob_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"analytics.sales." TRICKY_JSON "\",\"action\":\"revoke\","
                             "\"privilege\":\"read\",\"justification\":\"done\"}",
                             &j),
                     201);
    char revoke[33];
    snprintf(revoke, sizeof(revoke), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    approve_in_inbox(revoke);
    sg_json_decref(g_wait_state(revoke, "fulfilled"));
    for (size_t i = 0; i < 4; i++)
        assert_false(has(quoted, all[i]));
    sg_json_decref(g_wait_state(grant, "revoked"));
}

/* Two grants on one table: the read one expires, and SELECT stays, because the write grant
 * still needs it. */
static void test_expiry_keeps_what_another_grant_needs(void **state)
{
    (void)state;
    sg_json *j = NULL;
    char ids[2][33];
    static const char *const bodies[] = {
        "{\"asset\":\"analytics.sales.refunds\",\"privilege\":\"write\",\"justification\":"
        "\"refund fixes\"}",
        "{\"asset\":\"analytics.sales.refunds\",\"privilege\":\"read\",\"justification\":"
        "\"report\",\"duration\":\"PT2S\"}",
    };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(call_as(bob_h, "POST", "/api/v1/requests", bodies[i], &j), 201);
        snprintf(ids[i], 33, "%s", sg_json_get_str(j, "id"));
        sg_json_decref(j);
        approve_in_inbox(ids[i]);
        sg_json_decref(g_wait_state(ids[i], "fulfilled"));
    }
    sg_json_decref(g_wait_state(ids[1], "expired"));
    assert_true(has("sales.refunds", "SELECT"));
    assert_true(has("sales.refunds", "INSERT"));
}

/* The person's database role does not exist: PostgreSQL refuses, retrying cannot help, so the
 * job is dead after one attempt and the request failed with the reason, on both sides. */
static void test_missing_role_fails_on_both_sides(void **state)
{
    (void)state;
    char tok[128];
    g_add_user("ghost", "member", "ghost_role", tok);
    char id[33], sys_id[33], admin_id[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.returns\",\"privilege\":\"read\","
                       "\"justification\":\"returns study\",\"for\":\"ghost\"}",
                       id, sys_id);
    g_sn_admin_decides(sys_id, "approved", NULL, admin_id);
    sg_json *j = g_wait_state(id, "failed");
    const char *reason = sg_json_get_str(j, "reason");
    assert_non_null(reason);
    assert_non_null(strstr(reason, "role \"ghost_role\" does not exist"));
    sg_json_decref(j);
    g_wait_sn_field(sys_id, "request_state", "closed_incomplete");
    assert_true(g_sn_work_note(sys_id, "ghost_role"));
    assert_int_equal(g_call("GET", "/api/v1/jobs?state=dead", NULL, &j), 200);
    sg_json *items = sg_json_get(j, "items");
    assert_int_equal(sg_json_array_size(items), 1);
    int64_t attempts = 0;
    assert_true(sg_json_get_int(sg_json_array_get(items, 0), "attempts", &attempts));
    assert_int_equal(attempts, 1);
    /* The job names the request it concerns (its id only, never the payload). */
    sg_json *subject = sg_json_get(sg_json_array_get(items, 0), "subject");
    assert_string_equal(sg_json_get_str(subject, "type"), "request");
    assert_string_equal(sg_json_get_str(subject, "id"), id);
    assert_null(sg_json_get(sg_json_array_get(items, 0), "payload"));
    sg_json_decref(j);
    assert_int_equal(g_call("GET", "/api/v1/jobs/summary", NULL, &j), 200);
    int64_t dead = 0;
    assert_true(sg_json_get_int(sg_json_get(j, "by_state"), "dead", &dead));
    assert_int_equal(dead, 1);
    sg_json_decref(j);
}

/* A cancellation made in ServiceNow cancels the request, and nothing is granted. */
static void test_cancelled_in_servicenow(void **state)
{
    (void)state;
    char id[33], sys_id[33], q[128];
    g_request_mirrored("{\"asset\":\"analytics.sales.ledger\",\"privilege\":\"read\","
                       "\"justification\":\"close the books\",\"for\":\"bob\"}",
                       id, sys_id);
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s", sys_id);
    sg_json_decref(g_sim_call("PATCH", q, "{\"request_state\":\"closed_cancelled\"}", 200));
    sg_json *j = g_wait_state(id, "cancelled");
    sg_json_decref(j);
    assert_false(has("sales.ledger", "SELECT"));
}

/* Whether request id's timeline has a conflict whose note contains text. */
static bool conflict_noted(const char *id, const char *text)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", path, NULL, &j), 200);
    sg_json *h = sg_json_get(j, "history");
    bool found = false;
    for (size_t i = 0; !found && i < sg_json_array_size(h); i++) {
        sg_json *e = sg_json_array_get(h, i);
        const char *note = sg_json_get_str(e, "note");
        found = strcmp(sg_json_get_str(e, "event"), "conflict") == 0 && note && strstr(note, text);
    }
    sg_json_decref(j);
    return found;
}

/* A queued (retrying) job's last error containing text, if any. */
static bool job_error_seen(const char *text)
{
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", "/api/v1/jobs?state=queued", NULL, &j), 200);
    sg_json *items = sg_json_get(j, "items");
    bool found = false;
    for (size_t i = 0; !found && i < sg_json_array_size(items); i++) {
        const char *e = sg_json_get_str(sg_json_array_get(items, i), "last_error");
        found = e && strstr(e, text);
    }
    sg_json_decref(j);
    return found;
}

static void pause_100ms(void)
{
    struct timespec t = {0, 100 * 1000 * 1000};
    nanosleep(&t, NULL);
}

/* snowgate acts only on what ServiceNow names. An approval set on the request's record itself,
 * with no approval record naming an approver, is refused and noted in the timeline. A record
 * whose correlation_id no longer names the request is never acted on, even with an approved
 * approval on it and an event naming the request. Nothing is granted either way. */
static void test_decision_needs_approver_and_our_record(void **state)
{
    (void)state;
    char id[33], sys_id[33], q[128], admin_id[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.orders\",\"privilege\":\"read\","
                       "\"justification\":\"churn model\",\"for\":\"bob\"}",
                       id, sys_id);
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s", sys_id);
    sg_json_decref(g_sim_call("PATCH", q, "{\"approval\":\"approved\"}", 200));
    for (int i = 0; i < 600 && !conflict_noted(id, "did not name the approver"); i++)
        pause_100ms();
    assert_true(conflict_noted(id, "did not name the approver"));
    sg_json *j = g_wait_state(id, "pending");
    sg_json_decref(j);
    assert_false(has("sales.orders", "SELECT"));

    char id2[33], sys2[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.ledger\",\"privilege\":\"read\","
                       "\"justification\":\"close the books\",\"for\":\"bob\"}",
                       id2, sys2);
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s", sys2);
    sg_json_decref(g_sim_call(
        "PATCH", q, "{\"correlation_id\":\"snowgate:0123456789abcdef0123456789abcdef\"}", 200));
    g_sn_admin_decides(sys2, "approved", NULL, admin_id);
    /* ServiceNow's own event names the new correlation_id; one that still names the request
     * (sent before the change, say) makes snowgate read the record again. */
    char *secret = g_webhook_secret();
    char body[256];
    snprintf(body, sizeof(body),
             "{\"type\":\"sc_request.updated\",\"table\":\"sc_request\",\"sys_id\":\"%s\","
             "\"correlation_id\":\"snowgate:%s\"}",
             sys2, id2);
    assert_int_equal(g_deliver_webhook(G.gate.url, secret, "guard-test-1", body), 202);
    sg_secrets_free_plain(secret);
    for (int i = 0; i < 600 && !job_error_seen("not of record"); i++)
        pause_100ms();
    assert_true(job_error_seen("not of record"));
    j = g_wait_state(id2, "pending");
    sg_json_decref(j);
    assert_false(has("sales.ledger", "SELECT"));
}

typedef struct link_ctx {
    const char *user, *sn_user_name, *sn_user_id;
} link_ctx;

static int link_tx(sg_conn *c, void *ctx)
{
    link_ctx *l = ctx;
    sg_val v[] = {SG_VTEXT(l->user), SG_VTEXT(l->sn_user_name), SG_VTEXT(l->sn_user_id)};
    return sg_conn_exec(c,
                        "INSERT INTO account_links (user_id, sn_user_name, sn_user_id, linked_at) "
                        "SELECT id, ?2, ?3, '2026-01-01T00:00:00Z' FROM users WHERE name = ?1",
                        v, 3, NULL);
}

/* Closes the ServiceNow request as cancelled, as the ServiceNow user given by auth. */
static void sn_cancel_as(const char *auth, const char *sys_id)
{
    char q[128];
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s", sys_id);
    const char *h[] = {auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(
        h_call("PATCH", G.sim.p.url, q, h, "{\"request_state\":\"closed_cancelled\"}", &j, NULL),
        200);
    sg_json_decref(j);
}

/* ---- who decided in ServiceNow ------------------------------------------------------ */

#define APPROVER_PW "Approver-Pw-1"

/* A ServiceNow user holding approver_user (snowsim's ACLs let them decide their own
 * approvals), with an email when not NULL; sys_id receives theirs. */
static void sn_approver(const char *user_name, const char *email, char sys_id[33])
{
    sg_json *j = g_sim_call(
        "GET", "/api/now/table/sys_user_role?sysparm_query=name%3Dapprover_user", NULL, 200);
    char role[33];
    snprintf(role, sizeof(role), "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    sg_json *u = sg_json_object();
    sg_json_set_str(u, "user_name", user_name);
    sg_json_set_str(u, "user_password", APPROVER_PW);
    if (email)
        sg_json_set_str(u, "email", email);
    char *text = sg_json_dump(u);
    sg_json_decref(u);
    j = g_sim_call("POST", "/api/now/table/sys_user", text, 201);
    free(text);
    snprintf(sys_id, 33, "%s", sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    char body[128];
    snprintf(body, sizeof(body), "{\"user\":\"%s\",\"role\":\"%s\"}", sys_id, role);
    sg_json_decref(g_sim_call("POST", "/api/now/table/sys_user_has_role", body, 201));
}

/* An approval of ServiceNow request sys_id awaiting approver (as the instance's approval flow
 * would add it); approval_id receives its sys_id. */
static void sn_approval(const char *sys_id, const char *approver, char approval_id[33])
{
    char body[200];
    snprintf(body, sizeof(body),
             "{\"approver\":\"%s\",\"sysapproval\":\"%s\",\"source_table\":\"sc_request\","
             "\"state\":\"requested\"}",
             approver, sys_id);
    sg_json *j = g_sim_call("POST", "/api/now/table/sysapproval_approver", body, 201);
    snprintf(approval_id, 33, "%s", sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
}

/* The ServiceNow user user_name sets approval approval_id to state (their own decision). */
static void sn_decide_as(const char *user_name, const char *approval_id, const char *state)
{
    char *auth = h_basic(user_name, APPROVER_PW);
    const char *h[] = {auth, NULL};
    char path[128], body[64];
    snprintf(path, sizeof(path), "/api/now/table/sysapproval_approver/%s", approval_id);
    snprintf(body, sizeof(body), "{\"state\":\"%s\"}", state);
    sg_json *j = NULL;
    assert_int_equal(h_call("PATCH", G.sim.p.url, path, h, body, &j, NULL), 200);
    sg_json_decref(j);
    free(auth);
}

/* Waits until request id's timeline records a refusal whose note contains text; then the
 * request must still be pending, and the refusal in the audit log. */
static void wait_refused(const char *id, const char *text)
{
    for (int i = 0; i < 600 && !conflict_noted(id, text); i++)
        pause_100ms();
    if (!conflict_noted(id, text))
        fail_msg("request %s: no refusal noting \"%s\"", id, text);
    sg_json_decref(g_wait_state(id, "pending"));
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", "/api/v1/audit?limit=200", NULL, &j), 200);
    sg_json *items = sg_json_get(j, "items");
    bool audited = false;
    for (size_t i = 0; !audited && i < sg_json_array_size(items); i++) {
        sg_json *e = sg_json_array_get(items, i);
        audited = strcmp(sg_json_get_str(e, "action"), "request.decision_refused") == 0 &&
                  strcmp(sg_json_get_str(e, "subject"), id) == 0;
    }
    sg_json_decref(j);
    assert_true(audited);
}

/* Until snowgate has no job queued or running (a sync just queued has run). */
static void wait_idle(void)
{
    for (int i = 0; i < 600; i++) {
        sg_json *queued = NULL, *running = NULL;
        assert_int_equal(g_call("GET", "/api/v1/jobs?state=queued", NULL, &queued), 200);
        assert_int_equal(g_call("GET", "/api/v1/jobs?state=running", NULL, &running), 200);
        bool idle = sg_json_array_size(sg_json_get(queued, "items")) == 0 &&
                    sg_json_array_size(sg_json_get(running, "items")) == 0;
        sg_json_decref(queued);
        sg_json_decref(running);
        if (idle)
            return;
        pause_100ms();
    }
    fail_msg("snowgate never went idle");
}

/* snowsim's admin sets carol's approval to approved (an admin, or any itil user, may write
 * anyone's approval), and ServiceNow's request reads approved. carol decides in snowgate, but
 * she did not decide this: refused, named after the admin, nothing granted. An admin sees the
 * refusal and decides in snowgate. */
static void test_approval_set_by_someone_else(void **state)
{
    (void)state;
    char carol_h[128], carol_sn[33], id[33], sys_id[33], approval[33], path[128];
    g_add_user_email("carol", "steward", NULL, "carol@example.com", carol_h);
    sn_approver("carol.sn", "carol@example.com", carol_sn);
    g_request_mirrored("{\"asset\":\"analytics.sales.audits\",\"privilege\":\"read\","
                       "\"justification\":\"control testing\",\"for\":\"bob\"}",
                       id, sys_id);
    sn_approval(sys_id, carol_sn, approval);
    snprintf(path, sizeof(path), "/api/now/table/sysapproval_approver/%s", approval);
    sg_json_decref(g_sim_call("PATCH", path, "{\"state\":\"approved\"}", 200));
    g_wait_sn_field(sys_id, "approval", "approved");
    wait_refused(id, "approval of carol.sn was set to approved by admin");
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", path, NULL, &j), 200);
    sg_json *h = sg_json_get(j, "history");
    sg_json *last = sg_json_array_get(h, sg_json_array_size(h) - 1);
    assert_string_equal(sg_json_get_str(last, "actor"), "servicenow:admin");
    assert_string_equal(sg_json_get_str(last, "origin"), "servicenow");
    sg_json_decref(j);
    assert_false(has("sales.audits", "SELECT"));
    approve_in_inbox(id);
    sg_json_decref(g_wait_state(id, "fulfilled"));
    assert_true(has("sales.audits", "SELECT"));
    h_pg_exec(&pg, "analytics", "REVOKE ALL ON sales.audits FROM bob_role");
}

/* Two approvers: carol approves, dave has not decided yet. ServiceNow's request does not read
 * approved, so a re-read (an event for it) changes nothing. Once dave approves too, the
 * request reads approved and the grant is applied, credited to the newest approval (dave's,
 * or carol's when both were made within the same second: sys_updated_on has seconds). */
static void test_one_of_two_approvals(void **state)
{
    (void)state;
    char h[128], carol_sn[33], dave_sn[33], id[33], sys_id[33], a_carol[33], a_dave[33];
    g_add_user_email("carol", "steward", NULL, "carol@example.com", h);
    g_add_user_email("dave", "steward", NULL, "dave@example.com", h);
    sn_approver("carol.sn", "carol@example.com", carol_sn);
    sn_approver("dave.sn", "dave@example.com", dave_sn);
    g_request_mirrored("{\"asset\":\"analytics.sales.audits\",\"privilege\":\"read\","
                       "\"justification\":\"sox sample\",\"for\":\"bob\"}",
                       id, sys_id);
    sn_approval(sys_id, carol_sn, a_carol);
    sn_approval(sys_id, dave_sn, a_dave);
    sn_decide_as("carol.sn", a_carol, "approved");
    char q[128];
    snprintf(q, sizeof(q), "/api/now/table/sc_request/%s?sysparm_fields=approval", sys_id);
    sg_json *j = g_sim_call("GET", q, NULL, 200);
    assert_string_not_equal(sg_json_get_str(sg_json_get(j, "result"), "approval"), "approved");
    sg_json_decref(j);
    char *secret = g_webhook_secret();
    char body[256];
    snprintf(body, sizeof(body),
             "{\"type\":\"sc_request.updated\",\"table\":\"sc_request\",\"sys_id\":\"%s\","
             "\"correlation_id\":\"snowgate:%s\"}",
             sys_id, id);
    assert_int_equal(g_deliver_webhook(G.gate.url, secret, "one-of-two-1", body), 202);
    sg_secrets_free_plain(secret);
    wait_idle();
    j = g_wait_state(id, "pending");
    sg_json_decref(j);
    assert_false(has("sales.audits", "SELECT"));
    sn_decide_as("dave.sn", a_dave, "approved");
    j = g_wait_state(id, "fulfilled");
    const char *by = sg_json_get_str(j, "decided_by");
    if (strcmp(by, "servicenow:dave.sn") != 0 && strcmp(by, "servicenow:carol.sn") != 0)
        fail_msg("decided by %s", by);
    sg_json_decref(j);
    assert_true(has("sales.audits", "SELECT"));
    h_pg_exec(&pg, "analytics", "REVOKE ALL ON sales.audits FROM bob_role");
}

/* sam (a steward, who may decide requests) raises one for bob, then approves it in ServiceNow
 * through his own linked account, as its approver: a self-approval, refused. */
static void test_requester_approves_in_servicenow(void **state)
{
    (void)state;
    char sam_sn[33], id[33], sys_id[33], approval[33];
    sn_approver("sam.sn", NULL, sam_sn);
    link_ctx l = {"sam", "sam.sn", sam_sn};
    g_in_store(link_tx, &l);
    sg_json *j = NULL;
    assert_int_equal(call_as(sam_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"analytics.sales.audits\",\"privilege\":\"read\","
                             "\"justification\":\"audit prep\",\"for\":\"bob\"}",
                             &j),
                     201);
    snprintf(id, sizeof(id), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    g_wait_mirrored(id, sys_id);
    sn_approval(sys_id, sam_sn, approval);
    sn_decide_as("sam.sn", approval, "approved");
    g_wait_sn_field(sys_id, "approval", "approved");
    wait_refused(id, "self-approval");
    assert_false(has("sales.audits", "SELECT"));
}

static int empty_email_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE users SET email = '' WHERE name = 'sam'", NULL, 0, NULL);
}

/* An approver who is nobody in snowgate decides nothing, either way. Their ServiceNow account
 * has no email and sam's email is empty: an empty email matches nobody. Their approval is
 * refused and nothing is granted; their rejection is refused too and the request stays
 * pending (for a revoke, a rejection is what keeps the access), for someone who may decide. */
static void test_approver_unknown_to_snowgate(void **state)
{
    (void)state;
    char stranger[33], id[33], sys_id[33], approval[33], id2[33], sys2[33], approval2[33];
    g_in_store(empty_email_tx, NULL);
    sn_approver("stranger.sn", NULL, stranger);
    g_request_mirrored("{\"asset\":\"analytics.sales.audits\",\"privilege\":\"read\","
                       "\"justification\":\"walkthrough\",\"for\":\"bob\"}",
                       id, sys_id);
    sn_approval(sys_id, stranger, approval);
    sn_decide_as("stranger.sn", approval, "approved");
    g_wait_sn_field(sys_id, "approval", "approved");
    wait_refused(id, "is no snowgate user");
    assert_false(has("sales.audits", "SELECT"));

    g_request_mirrored("{\"asset\":\"analytics.sales.audits\",\"privilege\":\"write\","
                       "\"justification\":\"walkthrough fixes\",\"for\":\"bob\"}",
                       id2, sys2);
    sn_approval(sys2, stranger, approval2);
    sn_decide_as("stranger.sn", approval2, "rejected");
    g_wait_sn_field(sys2, "approval", "rejected");
    wait_refused(id2, "is no snowgate user");
    /* Someone who may decide still can. */
    approve_in_inbox(id2);
    sg_json_decref(g_wait_state(id2, "fulfilled"));
    assert_true(has("sales.audits", "INSERT"));
    h_pg_exec(&pg, "analytics", "REVOKE ALL ON sales.audits FROM bob_role");
}

/* The person a revoke is for cannot cancel it from ServiceNow either: closing the ServiceNow
 * request as cancelled never cancels a revoke: it is refused and shows in the request's
 * timeline, and the revoke goes on (its requester or an admin cancels it in snowgate). */
static void test_revoke_cancelled_in_servicenow(void **state)
{
    (void)state;
    /* bob's ServiceNow account (allowed to write snowgate's records), linked to bob; alice
     * is linked to snowsim's admin. */
    char body[256], bob_sn[33], admin_sn[33];
    snprintf(body, sizeof(body), "{\"user_name\":\"bob.sn\",\"user_password\":\"Bob-sn-Pw1\"}");
    sg_json *j = g_sim_call("POST", "/api/now/table/sys_user", body, 201);
    snprintf(bob_sn, sizeof(bob_sn), "%s", sg_json_get_str(sg_json_get(j, "result"), "sys_id"));
    sg_json_decref(j);
    snprintf(body, sizeof(body), "{\"user\":\"%s\",\"role\":\"%s\"}", bob_sn, G.role_id);
    sg_json_decref(g_sim_call("POST", "/api/now/table/sys_user_has_role", body, 201));
    j = g_sim_call("GET",
                   "/api/now/table/sys_user?sysparm_query=user_name%3Dadmin&sysparm_fields=sys_id",
                   NULL, 200);
    snprintf(admin_sn, sizeof(admin_sn), "%s",
             sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    link_ctx lb = {"bob", "bob.sn", bob_sn}, la = {"alice", "admin", admin_sn};
    g_in_store(link_tx, &lb);
    g_in_store(link_tx, &la);
    char *bob_auth = h_basic("bob.sn", "Bob-sn-Pw1");
    /* bob holds a grant. */
    char grant[33], sys_id[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.payouts\",\"privilege\":\"read\","
                       "\"justification\":\"payout checks\",\"for\":\"bob\"}",
                       grant, sys_id);
    approve_in_inbox(grant);
    sg_json_decref(g_wait_state(grant, "fulfilled"));
    assert_true(has("sales.payouts", "SELECT"));
    /* alice raises a revoke; bob closes its ServiceNow request as cancelled. */
    char revoke[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.payouts\",\"action\":\"revoke\","
                       "\"privilege\":\"read\",\"justification\":\"moved teams\","
                       "\"for\":\"bob\"}",
                       revoke, sys_id);
    sn_cancel_as(bob_auth, sys_id);
    free(bob_auth);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", revoke);
    bool flagged = false;
    for (int i = 0; i < 1200 && !flagged; i++) {
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        const char *st = sg_json_get_str(j, "state");
        if (strcmp(st, "pending") != 0)
            fail_msg("bob cancelled the revoke of his own access in ServiceNow: it is %s", st);
        sg_json *h = sg_json_get(j, "history");
        for (size_t k = 0; k < sg_json_array_size(h); k++) {
            sg_json *e = sg_json_array_get(h, k);
            if (strcmp(sg_json_get_str(e, "event"), "conflict") == 0 &&
                strcmp(sg_json_get_str(e, "to"), "cancelled") == 0) {
                flagged = true;
                assert_string_equal(sg_json_get_str(e, "actor"), "servicenow:bob.sn");
                assert_non_null(strstr(sg_json_get_str(e, "note"), "refused"));
            }
        }
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(flagged);
    /* On record in the audit log too; and the revoke goes on. */
    assert_int_equal(g_call("GET", "/api/v1/audit?limit=200", NULL, &j), 200);
    char *text = sg_json_dump(j);
    assert_non_null(strstr(text, "request.decision_refused"));
    free(text);
    sg_json_decref(j);
    approve_in_inbox(revoke);
    sg_json_decref(g_wait_state(revoke, "fulfilled"));
    assert_false(has("sales.payouts", "SELECT"));
    sg_json_decref(g_wait_state(grant, "revoked"));
    /* Not even the requester's linked account (alice's: snowsim's admin) cancels one from
     * ServiceNow: its record names only whoever touched it last, so a later edit by alice
     * would otherwise pass off bob's cancellation as hers. alice cancels it in snowgate. */
    g_request_mirrored("{\"asset\":\"analytics.sales.payouts\",\"action\":\"revoke\","
                       "\"privilege\":\"read\",\"justification\":\"double check\","
                       "\"for\":\"bob\"}",
                       revoke, sys_id);
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s", sys_id);
    sg_json_decref(g_sim_call("PATCH", path, "{\"request_state\":\"closed_cancelled\"}", 200));
    snprintf(path, sizeof(path), "/api/v1/requests/%s", revoke);
    flagged = false;
    for (int i = 0; i < 1200 && !flagged; i++) {
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        assert_string_equal(sg_json_get_str(j, "state"), "pending");
        sg_json *h = sg_json_get(j, "history");
        for (size_t k = 0; k < sg_json_array_size(h); k++) {
            sg_json *e = sg_json_array_get(h, k);
            flagged = flagged || (strcmp(sg_json_get_str(e, "event"), "conflict") == 0 &&
                                  strcmp(sg_json_get_str(e, "actor"), "servicenow:admin") == 0);
        }
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(flagged);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/cancel", revoke);
    assert_int_equal(g_call("POST", path, "{\"comment\":\"not needed\"}", &j), 200);
    assert_string_equal(sg_json_get_str(j, "state"), "cancelled");
    sg_json_decref(j);
}

/* `snowgate user add|set NAME ... --db-role ROLE` as given; returns the exit status, err gets
 * standard error. */
static int user_cmd(const char *verb, const char *name, const char *db_role, sg_buf *err)
{
    const char *argv[] = {SG_BUILD_DIR "/snowgate",
                          "user",
                          verb,
                          name,
                          "--data",
                          G.dir,
                          "--store",
                          G.store_url,
                          "--db-role",
                          db_role,
                          strcmp(verb, "add") == 0 ? "--role" : NULL,
                          "member",
                          NULL};
    sg_buf out = SG_BUF_INIT(0);
    sg_buf_free(err);
    int st = h_run(argv, NULL, 20000, &out, err);
    sg_buf_free(&out);
    return st;
}

static int set_role_tx(sg_conn *c, void *ctx)
{
    (void)ctx;
    return sg_conn_exec(c, "UPDATE users SET db_role = 'public' WHERE name = 'erin'", NULL, 0,
                        NULL);
}

/* PostgreSQL reads the quoted role "public" as PUBLIC: a grant to it goes to every role, and
 * the check after it passes. Where a role is set, snowgate does not know which connections the
 * user's grants will go to, so such names are accepted with a warning naming the kinds that
 * refuse them; a request on a postgres connection is refused (400), and at grant time the
 * connector refuses as the last guard. A role shared by several users is warned about. */
static void test_reserved_db_roles(void **state)
{
    (void)state;
    sg_buf err = SG_BUF_INIT(0);
    static const char *const bad[] = {"public",       "PUBLIC",           "Public",
                                      "current_user", "session_user",     "CURRENT_ROLE",
                                      "none",         "pg_read_all_data", "PG_monitor"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (user_cmd("set", "bob", bad[i], &err) != 0)
            fail_msg("snowgate user set --db-role %s failed: %s", bad[i], sg_buf_str(&err));
        if (!strstr(sg_buf_str(&err), "warning") ||
            !strstr(sg_buf_str(&err), "on postgres connections") ||
            !strstr(sg_buf_str(&err), bad[i]))
            fail_msg("no warning for --db-role %s: %s", bad[i], sg_buf_str(&err));
    }
    assert_non_null(strstr(sg_buf_str(&err), "reserves"));
    assert_int_equal(user_cmd("set", "bob", "bob_role", &err), 0);
    assert_null(strstr(sg_buf_str(&err), "warning"));
    /* Not even a name: refused. */
    assert_int_not_equal(user_cmd("set", "bob", "bad\trole", &err), 0);
    assert_non_null(strstr(sg_buf_str(&err), "printable"));
    /* eve's role is PUBLIC: accepted with a warning, and a request for her refused at once. */
    assert_int_equal(user_cmd("add", "eve", "public", &err), 0);
    assert_non_null(strstr(sg_buf_str(&err), "every role"));
    sg_json *j = NULL;
    assert_int_equal(g_call("POST", "/api/v1/requests",
                            "{\"asset\":\"analytics.sales.audits\",\"privilege\":\"read\","
                            "\"justification\":\"audit\",\"for\":\"eve\"}",
                            &j),
                     400);
    const char *msg = sg_json_get_str(sg_json_get(j, "error"), "message");
    assert_non_null(msg);
    assert_non_null(strstr(msg, "postgres connection 'warehouse'"));
    assert_non_null(strstr(msg, "PUBLIC"));
    if (!strstr(msg, "snowgate user set eve --db-role"))
        fail_msg("the refusal does not say how to fix it: %s", msg);
    sg_json_decref(j);
    /* A role another user has: accepted, with a warning. */
    assert_int_equal(user_cmd("add", "mallory", "bob_role", &err), 0);
    assert_non_null(strstr(sg_buf_str(&err), "also the role of bob"));
    assert_int_equal(user_cmd("set", "mallory", "carol_role", &err), 0);
    assert_null(strstr(sg_buf_str(&err), "warning"));
    /* A role changed after the request was made (here: behind snowgate's back) is refused at
     * grant time, and nobody gains anything. */
    assert_int_equal(user_cmd("add", "erin", "erin_role", &err), 0);
    sg_buf_free(&err);
    assert_int_equal(g_call("POST", "/api/v1/requests",
                            "{\"asset\":\"analytics.sales.audits\",\"privilege\":\"read\","
                            "\"justification\":\"audit\",\"for\":\"erin\"}",
                            &j),
                     201);
    char id[33];
    snprintf(id, sizeof(id), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    g_in_store(set_role_tx, NULL);
    approve_in_inbox(id);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    const char *st = "";
    for (int i = 0; i < 1200; i++) {
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        st = sg_json_get_str(j, "state");
        if (strcmp(st, "failed") == 0 || strcmp(st, "fulfilled") == 0)
            break;
        sg_json_decref(j);
        j = NULL;
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_false(h_pg_has(&pg, "analytics", "carol_role", "sales.audits", "SELECT"));
    assert_string_equal(st, "failed");
    assert_non_null(strstr(sg_json_get_str(j, "reason"), "PUBLIC"));
    sg_json_decref(j);
}

/* Makes the fulfilled grant ctx (a request id) due for expiry now, behind the server's back:
 * the expiry sweep picks it up without a test waiting on a clock. */
static int due_now_tx(sg_conn *c, void *ctx)
{
    sg_val v[] = {SG_VTEXT((const char *)ctx)};
    return sg_conn_exec(c, "UPDATE requests SET expires_at = '2000-01-01T00:00:00Z' WHERE id = ?1",
                        v, 1, NULL);
}

/* bob asks for body, sam approves, and it is fulfilled; id receives the request's id; the
 * account it went to is checked. */
static void granted_to(const char *body, const char *account, char id[33])
{
    sg_json *j = NULL;
    assert_int_equal(call_as(bob_h, "POST", "/api/v1/requests", body, &j), 201);
    snprintf(id, 33, "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    approve_in_inbox(id);
    j = g_wait_state(id, "fulfilled");
    if (account)
        assert_string_equal(sg_json_get_str(j, "granted_account"), account);
    else
        assert_null(sg_json_get_str(j, "granted_account"));
    sg_json_decref(j);
}

/* An admin changes bob's database role while his grant is in force: at expiry the privilege
 * is taken back from the role it was granted to, not from his new one. His new grant on the
 * same table (to the new role) does not keep the old role's SELECT, and is itself left. */
static void test_expiry_revokes_from_the_account_granted(void **state)
{
    (void)state;
    sg_buf err = SG_BUF_INIT(0);
    char old_grant[33], new_grant[33];
    granted_to("{\"asset\":\"analytics.sales.holds\",\"privilege\":\"read\","
               "\"justification\":\"holds report\",\"duration\":\"PT1H\"}",
               "bob_role", old_grant);
    assert_true(h_pg_has(&pg, "analytics", "bob_role", "sales.holds", "SELECT"));
    assert_int_equal(user_cmd("set", "bob", "carol_role", &err), 0);
    granted_to("{\"asset\":\"analytics.sales.holds\",\"privilege\":\"read\","
               "\"justification\":\"holds report, again\"}",
               "carol_role", new_grant);
    assert_true(h_pg_has(&pg, "analytics", "carol_role", "sales.holds", "SELECT"));
    g_in_store(due_now_tx, old_grant);
    sg_json *j = g_wait_state(old_grant, "expired");
    assert_string_equal(sg_json_get_str(j, "granted_account"), "bob_role");
    sg_json_decref(j);
    assert_false(h_pg_has(&pg, "analytics", "bob_role", "sales.holds", "SELECT"));
    assert_true(h_pg_has(&pg, "analytics", "carol_role", "sales.holds", "SELECT"));
    sg_buf_free(&err);
}

/* The same for a revoke request: it ends the grant made to bob's old role, and takes the
 * privileges back from that role too (and from his role now). */
static void test_revoke_reaches_the_account_granted(void **state)
{
    (void)state;
    sg_buf err = SG_BUF_INIT(0);
    char grant[33], revoke[33];
    granted_to("{\"asset\":\"analytics.sales.payouts\",\"privilege\":\"write\","
               "\"justification\":\"payout fixes\"}",
               "bob_role", grant);
    assert_true(h_pg_has(&pg, "analytics", "bob_role", "sales.payouts", "INSERT"));
    assert_int_equal(user_cmd("set", "bob", "carol_role", &err), 0);
    sg_buf_free(&err);
    granted_to("{\"asset\":\"analytics.sales.payouts\",\"action\":\"revoke\","
               "\"privilege\":\"read\",\"justification\":\"done\"}",
               NULL, revoke);
    sg_json_decref(g_wait_state(grant, "revoked"));
    static const char *const all[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
    for (size_t i = 0; i < 4; i++) {
        if (h_pg_has(&pg, "analytics", "bob_role", "sales.payouts", all[i]))
            fail_msg("bob_role still has %s on sales.payouts", all[i]);
        assert_false(h_pg_has(&pg, "analytics", "carol_role", "sales.payouts", all[i]));
    }
}

typedef struct expire_job_ctx {
    const char *id;
    bool serial; /* out: its expiry job is queued in a serial */
} expire_job_ctx;

static int expire_job_tx(sg_conn *c, void *ctx)
{
    expire_job_ctx *x = ctx;
    int64_t n = 0;
    sg_val v[] = {SG_VTEXT(x->id)};
    int rc = sg_conn_query_int(c,
                               "SELECT COUNT(*) FROM jobs WHERE kind = 'request.expire' AND "
                               "payload = ?1 AND serial IS NOT NULL",
                               v, 1, &n);
    x->serial = n > 0;
    return rc;
}

/* Two people sharing a database role hold overlapping grants on one table: bob write, mia read
 * (both give SELECT). Their expiries come at once. bob's is made to wait inside its REVOKE (the
 * advisory lock the connector takes); mia's must not run meanwhile, reading bob's grant as
 * still live and leaving SELECT for it, while bob's leaves SELECT for hers: afterwards nothing
 * is left on the role. */
static void test_overlapping_expiries_on_a_shared_role(void **state)
{
    (void)state;
    char mia_h[128], write[33], read[33];
    g_add_user("mia", "member", "bob_role", mia_h);
    granted_to("{\"asset\":\"analytics.sales.returns\",\"privilege\":\"write\","
               "\"justification\":\"returns fixes\",\"duration\":\"PT1H\"}",
               "bob_role", write);
    sg_json *j = NULL;
    assert_int_equal(call_as(mia_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"analytics.sales.returns\",\"privilege\":\"read\","
                             "\"justification\":\"returns report\",\"duration\":\"PT1H\"}",
                             &j),
                     201);
    snprintf(read, sizeof(read), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    approve_in_inbox(read);
    sg_json_decref(g_wait_state(read, "fulfilled"));
    assert_true(has("sales.returns", "SELECT"));
    assert_true(has("sales.returns", "INSERT"));
    h_pg_session *lock =
        h_pg_hold(&pg, "analytics", "SELECT pg_advisory_lock(hashtext('\"sales\".\"returns\"'))");
    g_in_store(due_now_tx, write);
    bool waiting = false;
    for (int i = 0; i < 600 && !waiting; i++) {
        char *n = h_pg_value(&pg, "analytics",
                             "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                             "NOT granted",
                             0, NULL);
        waiting = strcmp(n, "0") != 0;
        free(n);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(waiting); /* bob's expiry is inside its REVOKE */
    g_in_store(due_now_tx, read);
    /* mia's expiry either ran (the bug: it read bob's grant as live) or waits its turn. */
    expire_job_ctx x = {read, false};
    for (int i = 0; i < 1200; i++) {
        g_in_store(expire_job_tx, &x);
        if (x.serial)
            break;
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/requests/%s", read);
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        bool expired = strcmp(sg_json_get_str(j, "state"), "expired") == 0;
        sg_json_decref(j);
        if (expired)
            break;
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    h_pg_release(lock);
    sg_json_decref(g_wait_state(write, "expired"));
    sg_json_decref(g_wait_state(read, "expired"));
    static const char *const all[] = {"SELECT", "INSERT", "UPDATE", "DELETE"};
    for (size_t i = 0; i < 4; i++)
        if (has("sales.returns", all[i]))
            fail_msg("bob_role still has %s on sales.returns after both grants expired", all[i]);
}

/* Offboarding: an admin clears bob's database role while his grant (to bob_role) is in force.
 * A revoke request is still accepted, and takes SELECT back from bob_role, the account the
 * grant went to; the empty role now is skipped with a note. */
static void test_revoke_after_role_cleared(void **state)
{
    (void)state;
    sg_buf err = SG_BUF_INIT(0);
    char grant[33], revoke[33];
    granted_to("{\"asset\":\"analytics.sales.returns\",\"privilege\":\"read\","
               "\"justification\":\"returns report\"}",
               "bob_role", grant);
    assert_true(has("sales.returns", "SELECT"));
    if (user_cmd("set", "bob", "", &err) != 0)
        fail_msg("snowgate user set bob --db-role '' failed: %s", sg_buf_str(&err));
    sg_buf_free(&err);
    granted_to("{\"asset\":\"analytics.sales.returns\",\"action\":\"revoke\","
               "\"privilege\":\"read\",\"justification\":\"left the team\"}",
               NULL, revoke);
    sg_json_decref(g_wait_state(grant, "revoked"));
    assert_false(has("sales.returns", "SELECT"));
}

/* Anyone with a login can hold the advisory lock fulfilment waits on, and so widen the window
 * between the approval and the GRANT. A cancel in that window must not leave a grant that
 * nothing accounts for: once fulfilment has claimed the request, the cancel is refused (409),
 * and the grant ends up fulfilled and expires on time. */
static void test_cancel_while_fulfilling(void **state)
{
    (void)state;
    h_pg_session *lock =
        h_pg_hold(&pg, "analytics", "SELECT pg_advisory_lock(hashtext('\"sales\".\"holds\"'))");
    sg_json *j = NULL;
    assert_int_equal(call_as(bob_h, "POST", "/api/v1/requests",
                             "{\"asset\":\"analytics.sales.holds\",\"privilege\":\"read\","
                             "\"justification\":\"hold review\",\"duration\":\"PT6S\"}",
                             &j),
                     201);
    char id[33], path[128];
    snprintf(id, sizeof(id), "%s", sg_json_get_str(j, "id"));
    sg_json_decref(j);
    approve_in_inbox(id);
    /* The connector is inside its transaction, waiting for the lock. */
    bool waiting = false;
    for (int i = 0; i < 160 && !waiting; i++) {
        char *n = h_pg_value(&pg, "analytics",
                             "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                             "NOT granted",
                             0, NULL);
        waiting = strcmp(n, "0") != 0;
        free(n);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(waiting);
    snprintf(path, sizeof(path), "/api/v1/requests/%s/cancel", id);
    long st = call_as(bob_h, "POST", path, "{}", &j);
    const char *msg = sg_json_get_str(sg_json_get(j, "error"), "message");
    char said[300];
    snprintf(said, sizeof(said), "%s", msg ? msg : "");
    sg_json_decref(j);
    h_pg_release(lock);
    /* Whatever the cancel answered, a grant in PostgreSQL must be a fulfilled request's. */
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    char seen[32] = "";
    bool granted = false;
    for (int i = 0; i < 300; i++) {
        assert_int_equal(call_as(bob_h, "GET", path, NULL, &j), 200);
        snprintf(seen, sizeof(seen), "%s", sg_json_get_str(j, "state"));
        sg_json_decref(j);
        granted = has("sales.holds", "SELECT");
        if (strcmp(seen, "fulfilled") == 0 || strcmp(seen, "failed") == 0 || (granted && i > 40))
            break;
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    if (granted && strcmp(seen, "fulfilled") != 0)
        fail_msg("bob_role holds SELECT on sales.holds, but request %s is %s (the cancel "
                 "answered %ld)",
                 id, seen, st);
    assert_int_equal(st, 409);
    assert_non_null(strstr(said, "being fulfilled"));
    assert_string_equal(seen, "fulfilled");
    j = g_wait_state(id, "fulfilled");
    assert_non_null(sg_json_get_str(j, "expires_at"));
    sg_json *h = sg_json_get(j, "history");
    bool claimed = false;
    for (size_t i = 0; i < sg_json_array_size(h); i++)
        claimed =
            claimed || strcmp(sg_json_get_str(sg_json_array_get(h, i), "to"), "fulfilling") == 0;
    assert_true(claimed);
    sg_json_decref(j);
    sg_json_decref(g_wait_state(id, "expired"));
    assert_false(has("sales.holds", "SELECT"));
}

/* A decision in snowgate's inbox and a conflicting one in ServiceNow afterwards: the first
 * stands (and is granted), the second is recorded as a conflict. */
static void test_conflicting_decisions(void **state)
{
    (void)state;
    char id[33], sys_id[33], admin_id[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.ledger\",\"privilege\":\"read\","
                       "\"justification\":\"variance check\",\"for\":\"bob\"}",
                       id, sys_id);
    approve_in_inbox(id);
    sg_json_decref(g_wait_state(id, "fulfilled"));
    g_wait_sn_field(sys_id, "approval", "approved");
    g_sn_admin_decides(sys_id, "rejected", "too broad", admin_id);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", id);
    bool flagged = false;
    for (int i = 0; i < 2400 && !flagged; i++) {
        sg_json *j = NULL;
        assert_int_equal(g_call("GET", path, NULL, &j), 200);
        sg_json *h = sg_json_get(j, "history");
        for (size_t k = 0; k < sg_json_array_size(h); k++)
            flagged = flagged ||
                      strcmp(sg_json_get_str(sg_json_array_get(h, k), "event"), "conflict") == 0;
        if (flagged)
            assert_string_equal(sg_json_get_str(j, "state"), "fulfilled");
        sg_json_decref(j);
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    assert_true(flagged);
    assert_true(has("sales.ledger", "SELECT"));
}

/* snowsim drops every webhook: decisions made in ServiceNow still arrive, through the
 * reconciler, and are applied. */
static void test_all_webhooks_dropped(void **state)
{
    (void)state;
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults",
                              "{\"rules\":[{\"path\":\"/webhooks/\",\"kind\":\"drop\","
                              "\"outbound\":true}]}",
                              200));
    char ids[2][33], sys_ids[2][33], admin_id[33];
    g_request_mirrored("{\"asset\":\"analytics.sales.orders\",\"privilege\":\"read\","
                       "\"justification\":\"weekly report\",\"for\":\"bob\"}",
                       ids[0], sys_ids[0]);
    g_request_mirrored("{\"asset\":\"analytics.sales.returns\",\"privilege\":\"read\","
                       "\"justification\":\"curiosity\",\"for\":\"bob\"}",
                       ids[1], sys_ids[1]);
    g_sn_admin_decides(sys_ids[0], "approved", NULL, admin_id);
    g_sn_admin_decides(sys_ids[1], "rejected", "not needed", admin_id);
    sg_json_decref(g_wait_state(ids[0], "fulfilled"));
    sg_json_decref(g_wait_state(ids[1], "rejected"));
    assert_true(has("sales.orders", "SELECT"));
    assert_false(has("sales.returns", "SELECT"));
    /* The webhooks really were dropped. */
    sg_buf log = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(G.sim.p.log_path, &log), SG_OK);
    assert_non_null(strstr(sg_buf_str(&log), "outbound call faulted"));
    sg_buf_free(&log);
    sg_json_decref(g_sim_call("PUT", "/api/x_snowsim/faults", "{\"rules\":[]}", 200));
    h_pg_exec(&pg, "analytics", "REVOKE ALL ON sales.orders FROM bob_role");
}

/* ---- kill -9 at random points during a batch ------------------------------------------- */

#define BATCH 6

static uint64_t rng;

static unsigned next_rand(unsigned below)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % below);
}

static void pause_ms(unsigned ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000 * 1000};
    nanosleep(&t, NULL);
}

static void kill_and_restart(void)
{
    assert_int_equal(h_stop(&G.gate, SIGKILL, 30000), 128 + SIGKILL);
    g_spawn_gate();
}

typedef struct batch_item {
    char user[32], role[32], id[33], sys_id[33];
    const char *privilege;
    bool timed, reject, in_servicenow, decided;
} batch_item;

/* The ServiceNow sys_id once the request is mirrored, else "". */
static void look_up_mirror(batch_item *b)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/requests/%s", b->id);
    sg_json *j = NULL;
    assert_int_equal(g_call("GET", path, NULL, &j), 200);
    const char *s = sg_json_get_str(sg_json_get(j, "servicenow"), "sys_id");
    if (s)
        snprintf(b->sys_id, sizeof(b->sys_id), "%s", s);
    sg_json_decref(j);
}

/* Six requests for six people, decided in ServiceNow and in the inbox, two of them time-bound
 * and one rejected, while snowgate is killed with SIGKILL at random moments and restarted.
 * Afterwards every request is in its right final state, each has one sc_request with one
 * sc_req_item, PostgreSQL holds exactly the privileges that should be left, and no request
 * was fulfilled twice. */
static void run_batch(uint64_t seed)
{
    rng = seed * 0x9E3779B97F4A7C15ull + 1;
    batch_item items[BATCH];
    memset(items, 0, sizeof(items));
    for (int i = 0; i < BATCH; i++) {
        batch_item *b = &items[i];
        snprintf(b->user, sizeof(b->user), "u%d", i);
        snprintf(b->role, sizeof(b->role), "batch_%llu_u%d", (unsigned long long)seed, i);
        char sql[128], tok[128];
        snprintf(sql, sizeof(sql), "CREATE ROLE %s NOLOGIN; GRANT USAGE ON SCHEMA sales TO %s",
                 b->role, b->role);
        h_pg_exec(&pg, "analytics", sql);
        g_add_user(b->user, "member", b->role, tok);
        b->privilege = i % 2 ? "write" : "read";
        b->timed = i == 1 || i == 4;
        b->reject = i == 2;
        b->in_servicenow = i % 3 != 1;
    }
    for (int i = 0; i < BATCH; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"asset\":\"analytics.sales.batch\",\"privilege\":\"%s\",\"justification\":"
                 "\"batch %d\",\"for\":\"%s\"%s}",
                 items[i].privilege, i, items[i].user,
                 items[i].timed ? ",\"duration\":\"PT2S\"" : "");
        sg_json *j = NULL;
        assert_int_equal(g_call("POST", "/api/v1/requests", body, &j), 201);
        snprintf(items[i].id, 33, "%s", sg_json_get_str(j, "id"));
        sg_json_decref(j);
        if (next_rand(2))
            kill_and_restart();
    }
    /* Decide each request once it is mirrored; kill snowgate now and then meanwhile. */
    int kills = 0, undecided = BATCH;
    for (int round = 0; undecided > 0 && round < 2400; round++) {
        for (int i = 0; i < BATCH; i++) {
            batch_item *b = &items[i];
            if (b->decided)
                continue;
            if (!b->sys_id[0])
                look_up_mirror(b);
            if (!b->sys_id[0])
                continue;
            if (b->in_servicenow) {
                char admin_id[33];
                g_sn_admin_decides(b->sys_id, b->reject ? "rejected" : "approved", "batch",
                                   admin_id);
            } else {
                approve_in_inbox(b->id);
            }
            b->decided = true;
            undecided--;
            if (kills < 6 && next_rand(3) == 0) {
                pause_ms(next_rand(700));
                kill_and_restart();
                kills++;
            }
        }
        pause_ms(50);
    }
    assert_int_equal(undecided, 0);
    for (; kills < 3; kills++) {
        pause_ms(next_rand(1500));
        kill_and_restart();
    }
    /* The outcome. */
    for (int i = 0; i < BATCH; i++) {
        batch_item *b = &items[i];
        const char *want = b->reject ? "rejected" : b->timed ? "expired" : "fulfilled";
        sg_json *j = g_wait_state(b->id, want);
        /* Fulfilled exactly once. */
        int fulfilled = 0;
        sg_json *h = sg_json_get(j, "history");
        for (size_t k = 0; k < sg_json_array_size(h); k++) {
            const char *to = sg_json_get_str(sg_json_array_get(h, k), "to");
            fulfilled += to && strcmp(to, "fulfilled") == 0;
        }
        assert_int_equal(fulfilled, b->reject ? 0 : 1);
        sg_json_decref(j);
        char q[200];
        snprintf(q, sizeof(q), "correlation_id%%3Dsnowgate%%3A%s", b->id);
        assert_int_equal(g_count_in_sn("sc_request", q), 1);
        snprintf(q, sizeof(q), "request%%3D%s", b->sys_id);
        assert_int_equal(g_count_in_sn("sc_req_item", q), 1);
        bool live = !b->reject && !b->timed;
        assert_int_equal(h_pg_has(&pg, "analytics", b->role, "sales.batch", "SELECT"), live);
        assert_int_equal(h_pg_has(&pg, "analytics", b->role, "sales.batch", "INSERT"),
                         live && strcmp(b->privilege, "write") == 0);
        if (live)
            g_wait_sn_field(b->sys_id, "request_state", "closed_complete");
    }
}

static void test_kill9_batch_seed_1(void **state)
{
    (void)state;
    run_batch(1);
}

static void test_kill9_batch_seed_2(void **state)
{
    (void)state;
    run_batch(2);
}

static void test_kill9_batch_seed_3(void **state)
{
    (void)state;
    run_batch(3);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grant_approved_in_servicenow_then_expires, start,
                                        stop),
        cmocka_unit_test_setup_teardown(test_write_on_tricky_name_then_revoke, start, stop),
        cmocka_unit_test_setup_teardown(test_expiry_keeps_what_another_grant_needs, start, stop),
        cmocka_unit_test_setup_teardown(test_missing_role_fails_on_both_sides, start, stop),
        cmocka_unit_test_setup_teardown(test_cancelled_in_servicenow, start, stop),
        cmocka_unit_test_setup_teardown(test_decision_needs_approver_and_our_record, start, stop),
        cmocka_unit_test_setup_teardown(test_cancel_while_fulfilling, start, stop),
        cmocka_unit_test_setup_teardown(test_revoke_cancelled_in_servicenow, start, stop),
        cmocka_unit_test_setup_teardown(test_approval_set_by_someone_else, start, stop),
        cmocka_unit_test_setup_teardown(test_one_of_two_approvals, start, stop),
        cmocka_unit_test_setup_teardown(test_requester_approves_in_servicenow, start, stop),
        cmocka_unit_test_setup_teardown(test_approver_unknown_to_snowgate, start, stop),
        cmocka_unit_test_setup_teardown(test_reserved_db_roles, start, stop),
        cmocka_unit_test_setup_teardown(test_expiry_revokes_from_the_account_granted, start, stop),
        cmocka_unit_test_setup_teardown(test_overlapping_expiries_on_a_shared_role, start, stop),
        cmocka_unit_test_setup_teardown(test_revoke_after_role_cleared, start, stop),
        cmocka_unit_test_setup_teardown(test_revoke_reaches_the_account_granted, start, stop),
        cmocka_unit_test_setup_teardown(test_conflicting_decisions, start, stop),
        cmocka_unit_test_setup_teardown(test_all_webhooks_dropped, start, stop),
        cmocka_unit_test_setup_teardown(test_kill9_batch_seed_1, start, stop),
        cmocka_unit_test_setup_teardown(test_kill9_batch_seed_2, start, stop),
        cmocka_unit_test_setup_teardown(test_kill9_batch_seed_3, start, stop),
    };
    /* SG_TEST_FILTER=test_name (cmocka's wildcards) runs only the cases it matches. */
    if (getenv("SG_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SG_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_start, group_stop);
}
