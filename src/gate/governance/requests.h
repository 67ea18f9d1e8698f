/* requests: access requests and their state machine.
 *
 *   pending -> approved -> fulfilling -> fulfilled -> expired | revoked
 *   pending -> rejected | cancelled | failed;  approved -> cancelled | failed | fulfilled
 *   fulfilling -> failed   (fulfilling: the connector may have run; no cancelling any more)
 *
 * Every transition is checked against that table, stored in the request's history and
 * appended to the audit log in the same transaction. The first decision wins: a later,
 * different decision is recorded as a conflict and never applied. */
#ifndef SG_GATE_REQUESTS_H
#define SG_GATE_REQUESTS_H
#include "core/json.h"
#include "gate/app.h"
#include "gate/governance/users.h"

#define SG_REQUEST_MAX_DURATION (366 * 86400)

/* True when the state machine allows from -> to. */
bool sg_request_can_move(const char *from, const char *to);
/* The SQL privileges a privilege level maps to: read -> ["SELECT"]; write -> ["SELECT",
 * "INSERT", "UPDATE", "DELETE"]. The caller owns the array. */
sg_json *sg_request_privileges(const char *privilege);
/* Whether u decides requests on an asset with these owners (a JSON array of user names):
 * its owners, stewards and admins do. */
bool sg_request_may_decide(const sg_user *u, const char *owners);
/* A snowgate user that a ServiceNow approver's account maps to: the user linked to that
 * account, or a user who is not linked and has its email (ignoring case; never an empty one). */
typedef struct sg_sn_match {
    char name[128];
    sg_role role;
    bool linked;   /* matched by the linked account, not by email */
    bool disabled; /* disabled in snowgate */
} sg_sn_match;
/* Why a decision that ServiceNow credits to an approver must not be applied, or NULL when it
 * may: m[0..n) are the snowgate users the approver's account maps to. Refused when any of them
 * is the requester or the beneficiary (a self-approval), when none is (or, by email, more than
 * one is) a snowgate user, when that user is disabled, or when they do not decide requests on
 * an asset with these owners (sg_request_may_decide). A linked match wins over matches by
 * email. The reason is a static string. Pure; thread-safe. */
const char *sg_request_sn_refusal(const sg_sn_match *m, size_t n, const char *requester,
                                  const char *beneficiary, const char *owners);
/* True for a state the machine knows. */
bool sg_request_state_valid(const char *s);

/* Creates a request from {"asset","action","privilege","justification","duration"?,"for"?}.
 * *out is the request as GET shows it. */
int sg_request_create(sg_app *app, const sg_user *caller, const sg_json *in, sg_json **out);
/* The request with its history. SG_ENOTFOUND when it does not exist or the caller may not
 * see it (requester, beneficiary, the asset's owners, stewards and admins may). */
int sg_request_get(sg_app *app, const sg_user *caller, const char *id, sg_json **out);
/* A page of a list: at most `limit` items, after the cursor of the previous page. */
#define SG_PAGE_DEFAULT 100
#define SG_PAGE_MAX     500
typedef struct sg_page {
    int limit;
    char after_at[40], after_id[33]; /* the cursor, or empty for the first page */
    char next[80];                   /* out: the next page's cursor, "" after the last */
} sg_page;
/* From the query parameters `limit` and `after` (either may be NULL); SG_EINVAL says why. */
int sg_page_parse(const char *limit, const char *after, sg_page *out);

/* The requests the caller may see, newest first; state filters (NULL: all); mine keeps those
 * the caller asked for or that are for them. */
int sg_request_list(sg_app *app, const sg_user *caller, const char *state, bool mine, sg_page *page,
                    sg_json **out);
/* Pending requests the caller may decide (not their own), newest first. */
int sg_request_inbox(sg_app *app, const sg_user *caller, sg_page *page, sg_json **out);
/* Grants in force (fulfilled grant requests), the caller's own unless steward or admin. */
int sg_request_grants(sg_app *app, const sg_user *caller, sg_page *page, sg_json **out);
/* Every request state, in the order of the state machine. */
#define SG_REQUEST_NSTATES 9
extern const char *const sg_request_states[SG_REQUEST_NSTATES];

/* How many requests are in each state (indexed as sg_request_states), and how many are linked
 * to ServiceNow; read from counters the store keeps, inside the caller's transaction. */
typedef struct sg_request_counts {
    int64_t by_state[SG_REQUEST_NSTATES];
    int64_t total, linked;
} sg_request_counts;
int sg_request_count(sg_conn *c, sg_request_counts *out);

/* {"total", "linked_to_servicenow", "by_state": {state: n}} for stewards and admins (from
 * sg_request_count), so it costs the same for ten requests or ten million. */
int sg_request_summary(sg_app *app, const sg_user *caller, sg_json **out);
/* Approves (approve true) or rejects a pending request as caller. Self-decisions are
 * SG_EFORBIDDEN; a decision on a request that is no longer pending is SG_ECONFLICT, and a
 * different decision than the one that stands is recorded as a conflict first. */
int sg_request_decide(sg_app *app, const sg_user *caller, const char *id, bool approve,
                      const char *comment, sg_json **out);
/* Cancels a pending or approved request as caller. A grant: its requester, its beneficiary or
 * an admin. A revoke: its requester or an admin only, since its beneficiary is the person
 * losing the access. A request being fulfilled is SG_ECONFLICT. */
int sg_request_cancel(sg_app *app, const sg_user *caller, const char *id, const char *comment,
                      sg_json **out);
/* A decision made in ServiceNow, applied with origin servicenow and no snowgate caller.
 * to: "approved", "rejected" or "cancelled". actor names the ServiceNow user in the history
 * ("servicenow:<user_name>", or "servicenow" when ServiceNow did not say). An approval or
 * rejection counts only when refused is NULL or empty (the caller's own verdict on
 * ServiceNow's records: who really decided, the other approvals), it names its approver
 * (approver_sys_id, the sys_user sys_id, and approver_email), and sg_request_sn_refusal finds
 * no fault with the snowgate users that approver maps to. Otherwise it is refused: recorded
 * once as a conflict (request.decision_refused) while the request is pending, and
 * SG_EFORBIDDEN. A grant's cancellation is applied; a revoke's only with `as`, the linked
 * snowgate user, when that user is its requester or an admin (SG_EFORBIDDEN otherwise,
 * nothing recorded: the caller records the refusal once). Later, different decisions are
 * conflicts as in sg_request_decide. */
typedef struct sg_sn_decision {
    const char *to, *actor, *approver_sys_id, *approver_email, *comment;
    const char *refused;
    const sg_user *as;
} sg_sn_decision;
int sg_request_decide_from_servicenow(sg_app *app, const char *id, const sg_sn_decision *d,
                                      sg_json **out);
/* The approver's comment on a decision `to` ("approved" or "rejected") that ServiceNow made and
 * sg_request_decide_from_servicenow applied as `actor`: read after it (so that reading it never
 * delays the grant), and set on the request and on that decision's history entry when they have
 * none yet. Audited as request.decision_comment. A request decided otherwise, or whose comment
 * is already set, is left as it is (SG_OK). */
int sg_request_comment_from_servicenow(sg_app *app, const char *id, const char *to,
                                       const char *actor, const char *comment);
/* Where a transition or refused decision came from, stored with it in request_history: a
 * person or job in snowgate, ServiceNow (never written back to it), or the expiry sweep. */
#define SG_ORIGIN_SNOWGATE   "snowgate"
#define SG_ORIGIN_SERVICENOW "servicenow"
#define SG_ORIGIN_EXPIRY     "expiry"
/* Records a decision that is refused and not applied (e.g. a self-approval made in
 * ServiceNow) as a conflict in the request's history and the audit log. */
int sg_request_flag(sg_app *app, const char *id, const char *actor, const char *origin,
                    const char *attempted, const char *note);
/* sg_request_flag, unless the same refusal (attempted state and note) is already on record: for
 * a refusal that every later re-read of the same ServiceNow record would repeat. */
int sg_request_flag_once(sg_app *app, const char *id, const char *actor, const char *origin,
                         const char *attempted, const char *note);
/* Moves a request inside the caller's transaction after checking the state machine;
 * SG_ECONFLICT when the move is not allowed from the current state. origin (SG_ORIGIN_*) is
 * stored with the history entry; only moves not from ServiceNow are written back to it. */
int sg_request_move(sg_conn *c, const char *id, const char *to, const char *actor,
                    const char *origin, const char *note);
#endif
