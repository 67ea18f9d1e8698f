/* Tests for gate/governance/requests: the state machine's transition table, exhaustively. */
#include "e2e/harness.h"

#include "gate/governance/requests.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_terminal_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
