/* Tests for gate/servicenow/sync: what a request's approval records say (who decided, and
 * whether the decision may be applied), from Table API answers written out by hand. */
#include "e2e/harness.h"

#include "core/err.h"
#include "gate/servicenow/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQ  "0123456789abcdef0123456789abcdef"
#define CORR "snowgate:00000000000000000000000000000001"

/* One approval row as the sync reads it: state, approver user_name, who wrote it last, and
 * the request's own approval. */
typedef struct row {
    const char *state, *approver, *by, *request_approval;
} row;

static sg_json *rows(const row *r, size_t n)
{
    sg_json *list = sg_json_array();
    for (size_t i = 0; i < n; i++) {
        sg_json *a = sg_json_object();
        char id[33], uid[33], mail[128];
        snprintf(id, sizeof(id), "%032zx", i + 1);
        snprintf(uid, sizeof(uid), "%032zx", i + 0x100);
        snprintf(mail, sizeof(mail), "%s@example.com", r[i].approver);
        sg_json_set_str(a, "sys_id", id);
        sg_json_set_str(a, "state", r[i].state);
        sg_json_set_str(a, "sys_updated_by", r[i].by);
        sg_json_set_str(a, "sysapproval", REQ);
        sg_json_set_str(a, "approver", uid);
        sg_json_set_str(a, "approver.user_name", r[i].approver);
        sg_json_set_str(a, "approver.email", mail);
        sg_json_set_str(a, "sysapproval.approval", r[i].request_approval);
        sg_json_set_str(a, "sysapproval.correlation_id", CORR);
        sg_json_append(list, a);
    }
    return list;
}

static void weigh(const row *r, size_t n, sg_sync_verdict *v)
{
    sg_json *list = rows(r, n);
    assert_int_equal(sg_sync_weigh_approvals(list, REQ, CORR, v), SG_OK);
    sg_json_decref(list);
}

/* The one legitimate shape: every approval approved by its own approver. Credited to the
 * newest, named after them, nothing refused. */
static void test_all_approved_by_their_approvers(void **state)
{
    (void)state;
    static const row r[] = {{"approved", "carol", "carol", "approved"},
                            {"approved", "dave", "dave", "approved"},
                            {"not_required", "erin", "admin", "approved"}};
    sg_sync_verdict v;
    weigh(r, 3, &v);
    assert_string_equal(v.decision, "approved");
    assert_string_equal(v.who, "carol");
    assert_string_equal(v.who_email, "carol@example.com");
    assert_string_equal(v.who_id, "00000000000000000000000000000100");
    assert_string_equal(v.approval_id, "00000000000000000000000000000001");
    assert_string_equal(v.actor, "servicenow:carol");
    assert_string_equal(v.refused, "");
}

/* An admin (or any itil user) set carol's approval to approved: refused, named after the
 * admin who did it. The newest or an older approval, either way. */
static void test_approval_set_by_someone_else(void **state)
{
    (void)state;
    static const row newest[] = {{"approved", "carol", "admin", "approved"}};
    sg_sync_verdict v;
    weigh(newest, 1, &v);
    assert_string_equal(v.decision, "approved");
    assert_non_null(strstr(v.refused, "approval of carol was set to approved by admin"));
    assert_string_equal(v.actor, "servicenow:admin");

    static const row older[] = {{"approved", "dave", "dave", "approved"},
                                {"approved", "carol", "admin", "approved"}};
    weigh(older, 2, &v);
    assert_non_null(strstr(v.refused, "approval of carol was set to approved by admin"));

    /* Nobody named on either side is not a match. */
    static const row unnamed[] = {{"approved", "", "", "approved"}};
    weigh(unnamed, 1, &v);
    assert_non_null(strstr(v.refused, "refused"));
    assert_string_equal(v.actor, "servicenow");
}

/* One of two approvals approved: ServiceNow's aggregate still says requested, so there is no
 * decision at all; a request that reads approved anyway (set by hand) is refused while
 * another approval is awaited or rejected. */
static void test_other_approvals_pending_or_rejected(void **state)
{
    (void)state;
    static const row half[] = {{"approved", "carol", "carol", "requested"},
                               {"requested", "dave", "system", "requested"}};
    sg_sync_verdict v;
    weigh(half, 2, &v);
    assert_null(v.decision);
    assert_string_equal(v.refused, "");

    static const row by_hand[] = {{"approved", "carol", "carol", "approved"},
                                  {"requested", "dave", "system", "approved"}};
    weigh(by_hand, 2, &v);
    assert_string_equal(v.decision, "approved");
    assert_non_null(strstr(v.refused, "the approval of dave is requested"));

    static const row rejected[] = {{"approved", "carol", "carol", "approved"},
                                   {"rejected", "dave", "dave", "approved"}};
    weigh(rejected, 2, &v);
    assert_non_null(strstr(v.refused, "the approval of dave is rejected"));
}

/* A rejection rests on the one credited: its approver's own counts (others do not matter),
 * one set by someone else is refused. */
static void test_rejections(void **state)
{
    (void)state;
    static const row ok[] = {{"rejected", "dave", "dave", "rejected"},
                             {"approved", "carol", "admin", "rejected"}};
    sg_sync_verdict v;
    weigh(ok, 2, &v);
    assert_string_equal(v.decision, "rejected");
    assert_string_equal(v.who, "dave");
    assert_string_equal(v.refused, "");

    static const row forged[] = {{"rejected", "dave", "bob", "rejected"}};
    weigh(forged, 1, &v);
    assert_string_equal(v.decision, "rejected");
    assert_non_null(strstr(v.refused, "approval of dave was set to rejected by bob"));
    assert_string_equal(v.actor, "servicenow:bob");
}

/* No approval in the request's state (approved by hand with none, or no decision): nothing
 * named, the record itself is read. */
static void test_nothing_settled(void **state)
{
    (void)state;
    sg_sync_verdict v;
    weigh(NULL, 0, &v);
    assert_null(v.decision);
    static const row none[] = {{"rejected", "dave", "dave", "approved"}};
    weigh(none, 1, &v);
    assert_null(v.decision);
    static const row open[] = {{"approved", "carol", "carol", "requested"}};
    weigh(open, 1, &v);
    assert_null(v.decision);
}

/* A full page could hide a pending or rejected approval: refused. */
static void test_too_many_approvals(void **state)
{
    (void)state;
    row *r = calloc(SG_SYNC_APPROVALS_MAX, sizeof(*r));
    for (size_t i = 0; i < SG_SYNC_APPROVALS_MAX; i++)
        r[i] = (row){"approved", "carol", "carol", "approved"};
    sg_sync_verdict v;
    weigh(r, SG_SYNC_APPROVALS_MAX, &v);
    assert_non_null(strstr(v.refused, "more than snowgate reads"));
    weigh(r, SG_SYNC_APPROVALS_MAX - 1, &v);
    assert_string_equal(v.refused, "");
    free(r);
}

/* Rows of another record, or rows that disagree on the request's approval, are an error:
 * never acted on. */
static void test_foreign_rows(void **state)
{
    (void)state;
    static const row r[] = {{"approved", "carol", "carol", "approved"},
                            {"approved", "dave", "dave", "requested"}};
    sg_json *list = rows(r, 2);
    sg_sync_verdict v;
    assert_int_equal(sg_sync_weigh_approvals(list, REQ, CORR, &v), SG_EINVAL);
    assert_int_equal(sg_sync_weigh_approvals(list, "ffffffffffffffffffffffffffffffff", CORR, &v),
                     SG_EINVAL);
    sg_json_decref(list);
    list = rows(r, 1);
    assert_int_equal(sg_sync_weigh_approvals(list, REQ, "snowgate:other", &v), SG_EINVAL);
    sg_json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_approved_by_their_approvers),
        cmocka_unit_test(test_approval_set_by_someone_else),
        cmocka_unit_test(test_other_approvals_pending_or_rejected),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_nothing_settled),
        cmocka_unit_test(test_too_many_approvals),
        cmocka_unit_test(test_foreign_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
