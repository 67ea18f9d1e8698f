/* Tests for gate/governance/requests: the state machine's transition table, exhaustively; and
 * who a decision made in ServiceNow may count for. */
#include "e2e/harness.h"

#include "gate/governance/requests.h"

#include <stdio.h>
#include <string.h>

static const char *const states[] = {"pending", "approved", "fulfilling", "fulfilled", "expired",
                                     "revoked", "rejected", "cancelled",  "failed"};
#define NSTATES (sizeof(states) / sizeof(states[0]))

/* The allowed moves, written out independently of the module's own table. */
static bool allowed(const char *from, const char *to)
{
    static const char *const ok[][2] = {
        {"pending", "approved"},    {"pending", "rejected"},     {"pending", "cancelled"},
        {"pending", "failed"},      {"approved", "fulfilled"},   {"approved", "cancelled"},
        {"approved", "failed"},     {"fulfilled", "expired"},    {"fulfilled", "revoked"},
        {"approved", "fulfilling"}, {"fulfilling", "fulfilled"}, {"fulfilling", "failed"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(ok[i][0], from) == 0 && strcmp(ok[i][1], to) == 0)
            return true;
    return false;
}

static void test_every_pair(void **state)
{
    (void)state;
    for (size_t i = 0; i < NSTATES; i++) {
        assert_true(sg_request_state_valid(states[i]));
        for (size_t j = 0; j < NSTATES; j++)
            if (sg_request_can_move(states[i], states[j]) != allowed(states[i], states[j]))
                fail_msg("%s -> %s", states[i], states[j]);
    }
}

static void test_terminal_states(void **state)
{
    (void)state;
    static const char *const terminal[] = {"expired", "revoked", "rejected", "cancelled", "failed"};
    for (size_t i = 0; i < 5; i++)
        for (size_t j = 0; j < NSTATES; j++)
            assert_false(sg_request_can_move(terminal[i], states[j]));
    assert_false(sg_request_state_valid("Pending"));
    assert_false(sg_request_state_valid(""));
    assert_false(sg_request_state_valid(NULL));
    assert_false(sg_request_can_move("pending", "bogus"));
}

static sg_sn_match match(const char *name, sg_role role, bool linked, bool disabled)
{
    sg_sn_match m = {.role = role, .linked = linked, .disabled = disabled};
    snprintf(m.name, sizeof(m.name), "%s", name);
    return m;
}

#define OWNERS "[\"olga\"]"

static const char *refusal(const sg_sn_match *m, size_t n)
{
    return sg_request_sn_refusal(m, n, "rita", "bea", OWNERS);
}

/* An approver who maps to one enabled owner, steward or admin counts; nobody else does. */
static void test_sn_approver_who_may_decide(void **state)
{
    (void)state;
    sg_sn_match m[3];
    m[0] = match("olga", SG_ROLE_MEMBER, false, false); /* owner of the asset, by email */
    assert_null(refusal(m, 1));
    m[0] = match("sam", SG_ROLE_STEWARD, true, false);
    assert_null(refusal(m, 1));
    m[0] = match("ada", SG_ROLE_ADMIN, false, false);
    assert_null(refusal(m, 1));
    /* A member who owns nothing here. */
    m[0] = match("mo", SG_ROLE_MEMBER, true, false);
    assert_non_null(strstr(refusal(m, 1), "not an owner of the asset, a steward or an admin"));
    /* Nobody in snowgate. */
    assert_non_null(strstr(refusal(m, 0), "is no snowgate user"));
    /* Disabled. */
    m[0] = match("sam", SG_ROLE_STEWARD, true, true);
    assert_non_null(strstr(refusal(m, 1), "disabled"));
}

/* The requester or the beneficiary, however the account maps to them (linked or by email,
 * enabled or not, beside anyone else), is a self-approval. */
static void test_sn_self_approval(void **state)
{
    (void)state;
    sg_sn_match m[2];
    m[0] = match("rita", SG_ROLE_ADMIN, true, false);
    assert_non_null(strstr(refusal(m, 1), "self-approval"));
    m[0] = match("bea", SG_ROLE_STEWARD, false, false);
    assert_non_null(strstr(refusal(m, 1), "self-approval"));
    m[0] = match("sam", SG_ROLE_STEWARD, true, false);
    m[1] = match("rita", SG_ROLE_MEMBER, false, true);
    assert_non_null(strstr(refusal(m, 2), "self-approval"));
}

/* A link wins over an email; two users by the same email (or two links) are ambiguous. */
static void test_sn_link_before_email(void **state)
{
    (void)state;
    sg_sn_match m[3];
    m[0] = match("mo", SG_ROLE_MEMBER, true, false);
    m[1] = match("sam", SG_ROLE_STEWARD, false, false);
    assert_non_null(strstr(refusal(m, 2), "not an owner"));
    m[0] = match("sam", SG_ROLE_STEWARD, true, false);
    m[1] = match("mo", SG_ROLE_MEMBER, false, false);
    assert_null(refusal(m, 2));
    m[0] = match("sam", SG_ROLE_STEWARD, false, false);
    m[1] = match("ada", SG_ROLE_ADMIN, false, false);
    assert_non_null(strstr(refusal(m, 2), "more than one snowgate user"));
    m[0] = match("sam", SG_ROLE_STEWARD, true, false);
    m[1] = match("ada", SG_ROLE_ADMIN, true, false);
    m[2] = match("olga", SG_ROLE_MEMBER, false, false);
    assert_non_null(strstr(refusal(m, 3), "more than one snowgate user"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_terminal_states),
        cmocka_unit_test(test_sn_approver_who_may_decide),
        cmocka_unit_test(test_sn_self_approval),
        cmocka_unit_test(test_sn_link_before_email),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
