/* fulfilment: the fulfil and expire jobs, the expiry sweep and manual completion. */
#include "gate/governance/fulfilment.h"
#include "gate/limits.h"

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "gate/connectors/connectors.h"
#include "gate/governance/audit.h"
#include "gate/governance/privileges.h"
#include "gate/governance/requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every job that changes access on an asset (a grant's or revoke's fulfilment, an expiry)
 * runs in the serial "access:<asset id>": one at a time, never two at once, whatever the
 * number of workers or replicas.
 *
 * Why: each such job reads what the other live grants on the asset need (other_grants, at its
 * start), runs the connector, and records the result later. Two of them at once on grants that
 * overlap on one account would each see the other still live and both leave the privilege in
 * place (two expiries), or an expiry would take back what a grant being applied at the same
 * moment just gave (a fulfil and an expiry), or a revoke would end a grant applied after its
 * REVOKE ran. Run one after another, each job reads the state the previous one committed, and
 * nothing else moves a grant out of `fulfilled` or into it while it runs (manual connections
 * run no connector), so what it read is still true when it records its result.
 *
 * The serial is per asset, not per (asset, account): the account of a grant is fixed only when
 * its fulfilment starts, and a revoke touches several accounts. The cost: a job retrying on an
 * asset holds the later ones on that asset back until it succeeds or dies. */
static int enqueue_access_job(sg_conn *c, const char *kind, const char *id, int64_t run_at,
                              const char *key)
{
    char asset_id[33] = "", serial[48];
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(id)};
    int rc = sg_conn_query(c, "SELECT asset_id FROM requests WHERE id = ?1", k, 1, &r);
    if (rc != SG_OK)
        return rc;
    int step = sg_rows_next(r);
    if (step == 1)
        sg_strlcpy(asset_id, sg_rows_text(r, 0), sizeof(asset_id));
    sg_rows_free(r);
    if (step < 0)
        return step;
    if (step == 0)
        return sg_err_set(SG_ENOTFOUND, "request %s not found", id);
    snprintf(serial, sizeof(serial), "access:%s", asset_id);
    /* The order within the serial does not matter (each job reads the state it starts from);
     * jobs.c breaks ties by id, so two enqueued in the same millisecond do not run at once. */
    return sg_jobs_enqueue_serial(c, kind, id, run_at, key, serial, sg_now_ms(), NULL);
}

int sg_fulfil_enqueue(sg_conn *c, const char *id)
{
    char key[64];
    snprintf(key, sizeof(key), "fulfil:%s", id);
    return enqueue_access_job(c, "request.fulfil", id, (int64_t)time(NULL), key);
}

/* The most database accounts one revoke takes privileges back from: the person's grants on
 * one asset, made while their database role was one or another. */
#define MAX_ENDED_ACCOUNTS 16

/* What the grants a revoke ends gave, on one database account. */
typedef struct ended_on {
    char account[SG_MAX_DB_ROLE + 1];
    sg_privs privs;
} ended_on;

/* Sized from limits.h: everything stored fits, and load() refuses what does not (a value
 * written behind snowgate's back) rather than cut it. */
typedef struct req_info {
    char state[16], action[16], kind[16], asset[SG_MAX_ASSET_NAME + 1];
    char beneficiary[SG_MAX_USER_NAME + 1], connection[SG_MAX_CONNECTION_NAME + 1];
    char asset_id[33];
    int64_t duration_s; /* 0: no expiry */
    char owners[SG_MAX_OWNERS_STORED + 1];
    char privilege[16], connection_id[33];
    /* The connection's JSON config, whole (owned; ri_clear frees it): discovery patterns make
     * it as large as create and PATCH accept, with no fixed bound here. */
    char *config;
    char sealed[SG_MAX_SEALED_STORED + 1]; /* the connection's sealed secret, or "" */
    char asset_type[16];
    char db_role[SG_MAX_DB_ROLE + 1]; /* the beneficiary's database role now, or "" */
    /* The account the grant was applied to (requests.granted_account), or "" when none was
     * recorded: not claimed yet, a kind without accounts, or fulfilled before migration 0021. */
    char granted_account[SG_MAX_DB_ROLE + 1];
    /* The account this grant's privileges are on: granted_account, or for a grant that has
     * none recorded, db_role (the best there is for grants fulfilled before 0021). */
    char account[SG_MAX_DB_ROLE + 1];
    bool accounts; /* the connector grants to a database account (needs_db_role) */
    /* A grant: what the other live grants that hold the same privileges give, which its
     * expiry must leave. On a kind with accounts, those on the same account, whoever they are
     * for (users sharing a role share the privileges); otherwise the same person's. A revoke:
     * what all the grants it ends gave. */
    sg_privs others;
    /* A revoke on a kind with accounts: what the grants it ends gave, per account. */
    ended_on ended[MAX_ENDED_ACCOUNTS];
    size_t nended;
} req_info;

/* Frees what load() took. A req_info starts zeroed; load() clears it before it reads. */
static void ri_clear(req_info *ri)
{
    free(ri->config);
    ri->config = NULL;
}

/* Adds privs on account to ri->ended. */
static int add_ended(req_info *ri, const char *account, sg_privs privs)
{
    for (size_t i = 0; i < ri->nended; i++)
        if (strcmp(ri->ended[i].account, account) == 0) {
            ri->ended[i].privs |= privs;
            return SG_OK;
        }
    if (ri->nended == MAX_ENDED_ACCOUNTS)
        return sg_err_set(SG_EINVAL,
                          "%s's grants on %s were applied to more than %d database accounts; "
                          "revoke them by hand and end the grants one by one",
                          ri->beneficiary, ri->asset, MAX_ENDED_ACCOUNTS);
    if (sg_strlcpy(ri->ended[ri->nended].account, account, sizeof(ri->ended[0].account)) >=
        sizeof(ri->ended[0].account))
        return sg_err_set(SG_EINVAL, "a stored database account is longer than %d bytes",
                          SG_MAX_DB_ROLE);
    ri->ended[ri->nended++].privs = privs;
    return SG_OK;
}

/* The effective account of a grant: the one recorded, else its beneficiary's role now. */
#define GRANT_ACCOUNT "COALESCE(r.granted_account, u.db_role)"

static int other_grants(sg_conn *c, const char *id, req_info *ri)
{
    sg_rows *r = NULL;
    bool revoke = strcmp(ri->action, "revoke") == 0;
    bool by_account = ri->accounts && !revoke && ri->account[0];
    sg_val k[] = {SG_VTEXT(ri->asset_id), SG_VTEXT(id),
                  SG_VTEXT(by_account ? ri->account : ri->beneficiary)};
    int rc =
        sg_conn_query(c,
                      by_account ? "SELECT r.privilege, " GRANT_ACCOUNT " FROM requests r LEFT "
                                   "JOIN users u ON u.name = r.beneficiary WHERE r.asset_id = ?1 "
                                   "AND r.action = 'grant' AND r.state = 'fulfilled' AND r.id <> "
                                   "?2 AND " GRANT_ACCOUNT " = ?3"
                                 : "SELECT r.privilege, " GRANT_ACCOUNT " FROM requests r LEFT "
                                   "JOIN users u ON u.name = r.beneficiary WHERE r.asset_id = ?1 "
                                   "AND r.action = 'grant' AND r.state = 'fulfilled' AND r.id <> "
                                   "?2 AND r.beneficiary = ?3",
                      k, 3, &r);
    if (rc != SG_OK)
        return rc;
    while (rc == SG_OK && (rc = sg_rows_next(r)) == 1) {
        sg_privs p = sg_privs_of_level(sg_rows_text(r, 0));
        ri->others |= p;
        rc = SG_OK;
        if (revoke && ri->accounts && !sg_rows_null(r, 1) && *sg_rows_text(r, 1))
            rc = add_ended(ri, sg_rows_text(r, 1), p);
    }
    sg_rows_free(r);
    return rc < 0 ? rc : SG_OK;
}

/* Copies column i of r into out, or fails naming the column: never a silent cut. */
static int take(sg_rows *r, int i, const char *what, char *out, size_t size)
{
    const char *v = sg_rows_null(r, i) ? "" : sg_rows_text(r, i);
    if (sg_strlcpy(out, v, size) >= size)
        return sg_err_set(SG_EINVAL,
                          "the stored %s is %zu bytes, more than the %zu snowgate allows "
                          "(src/gate/limits.h); it was not written through snowgate: correct it",
                          what, strlen(v), size - 1);
    return SG_OK;
}

static int load_into(sg_conn *c, const char *id, req_info *out);

/* Reads request id into out (zeroed or loaded before: a store retry loads again); on success
 * the caller ri_clear()s it, on failure it holds nothing. */
static int load(sg_conn *c, const char *id, req_info *out)
{
    ri_clear(out);
    memset(out, 0, sizeof(*out));
    int rc = load_into(c, id, out);
    if (rc != SG_OK)
        ri_clear(out);
    return rc;
}

static int load_into(sg_conn *c, const char *id, req_info *out)
{
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(id)};
    int rc = sg_conn_query(c,
                           "SELECT r.state, r.action, c.kind, a.name, r.beneficiary, c.name, "
                           "a.id, r.duration_s, a.owners, r.privilege, c.id, c.config, c.secret, "
                           "a.type, u.db_role, r.granted_account FROM requests r JOIN assets a ON "
                           "a.id = r.asset_id JOIN connections c ON c.id = a.connection_id LEFT "
                           "JOIN users u ON u.name = r.beneficiary WHERE r.id = ?1",
                           k, 1, &r);
    if (rc != SG_OK)
        return rc;
    if (sg_rows_next(r) != 1) {
        sg_rows_free(r);
        return sg_err_set(SG_ENOTFOUND, "request %s not found", id);
    }
    out->duration_s = sg_rows_null(r, 7) ? 0 : sg_rows_int(r, 7);
#define TAKE(i, what, field) (rc == SG_OK ? take(r, i, what, out->field, sizeof(out->field)) : rc)
    rc = TAKE(0, "request state", state);
    rc = TAKE(1, "request action", action);
    rc = TAKE(2, "connection kind", kind);
    rc = TAKE(3, "asset name", asset);
    rc = TAKE(4, "user name", beneficiary);
    rc = TAKE(5, "connection name", connection);
    rc = TAKE(6, "asset id", asset_id);
    rc = TAKE(8, "asset owners", owners);
    rc = TAKE(9, "privilege", privilege);
    rc = TAKE(10, "connection id", connection_id);
    out->config = sg_xstrdup(sg_rows_null(r, 11) ? "" : sg_rows_text(r, 11));
    rc = TAKE(12, "connection secret", sealed);
    rc = TAKE(13, "asset type", asset_type);
    rc = TAKE(14, "database role", db_role);
    rc = TAKE(15, "granted account", granted_account);
#undef TAKE
    sg_rows_free(r);
    if (rc != SG_OK)
        return rc;
    const sg_connector *conn = sg_connector_find(out->kind);
    out->accounts = conn && conn->needs_db_role;
    sg_strlcpy(out->account, out->granted_account[0] ? out->granted_account : out->db_role,
               sizeof(out->account));
    return other_grants(c, id, out);
}

/* approved -> fulfilled, with the expiry time for a time-bound grant; a fulfilled revoke also
 * ends the person's grants on that asset. One transaction. */
typedef struct done_ctx {
    const char *id, *actor, *note;
    const char *account; /* the database account a grant was applied to, or NULL */
    bool skipped;        /* the request had already moved on */
} done_ctx;

static int record_done(sg_conn *c, done_ctx *d);

/* The fulfil job's last step: record_done and the job's own end, in one commit. A crash
 * before it leaves both undone (the job is taken over when its lease runs out, and runs the
 * idempotent GRANT again); after it, both are done: there is no moment when the request is
 * fulfilled and its job still running, which cost a commit of its own. */
typedef struct finish_ctx {
    done_ctx d;
    const sg_job *job;
    bool lost; /* the lease was lost: another worker took the job over */
} finish_ctx;

static int finish_tx(sg_conn *c, void *ctx)
{
    finish_ctx *f = ctx;
    int rc = record_done(c, &f->d);
    return rc == SG_OK ? sg_jobs_done_in(c, f->job, &f->lost) : rc;
}

static int record_done_with(sg_conn *c, done_ctx *d, const req_info *rip);

static int record_done(sg_conn *c, done_ctx *d)
{
    req_info ri = {0};
    int rc = load(c, d->id, &ri);
    if (rc != SG_OK)
        return rc;
    rc = record_done_with(c, d, &ri);
    ri_clear(&ri);
    return rc;
}

static int record_done_with(sg_conn *c, done_ctx *d, const req_info *rip)
{
    const req_info ri = *rip; /* a shallow copy: rip keeps ownership */
    int rc;
    if (strcmp(ri.state, "approved") != 0 && strcmp(ri.state, "fulfilling") != 0) {
        d->skipped = true;
        return SG_OK;
    }
    rc = sg_request_move(c, d->id, "fulfilled", d->actor, SG_ORIGIN_SNOWGATE, d->note);
    if (rc != SG_OK)
        return rc;
    /* The account the privileges went to, in the commit that says they are in force (claim_tx
     * has normally fixed it already): the expiry and a revoke take them back from there. */
    if (d->account && *d->account && strcmp(ri.action, "grant") == 0) {
        sg_val v[] = {SG_VTEXT(d->account), SG_VTEXT(d->id)};
        rc = sg_conn_exec(c,
                          "UPDATE requests SET granted_account = COALESCE(granted_account, ?1) "
                          "WHERE id = ?2",
                          v, 2, NULL);
        if (rc != SG_OK)
            return rc;
    }
    if (ri.duration_s > 0) {
        char exp[32];
        sg_iso_from_unix((int64_t)time(NULL) + ri.duration_s, exp);
        sg_val v[] = {SG_VTEXT(exp), SG_VTEXT(d->id)};
        rc = sg_conn_exec(c, "UPDATE requests SET expires_at = ?1 WHERE id = ?2", v, 2, NULL);
        if (rc != SG_OK)
            return rc;
    }
    if (strcmp(ri.action, "revoke") != 0)
        return SG_OK;
    sg_rows *r = NULL;
    sg_val k[] = {SG_VTEXT(ri.asset_id), SG_VTEXT(ri.beneficiary)};
    rc = sg_conn_query(c,
                       "SELECT id FROM requests WHERE asset_id = ?1 AND beneficiary = ?2 AND "
                       "action = 'grant' AND state = 'fulfilled'",
                       k, 2, &r);
    if (rc != SG_OK)
        return rc;
    /* Every grant it ends, a page at a time: collect first (the statement must be finished
     * before the rows change); a moved grant is no longer 'fulfilled', so the next page is
     * the rest. */
    char note[96];
    snprintf(note, sizeof(note), "revoked by request %s", d->id);
    for (;;) {
        char ids[64][33];
        size_t n = 0;
        int step = 0;
        while (n < 64 && (step = sg_rows_next(r)) == 1)
            sg_strlcpy(ids[n++], sg_rows_text(r, 0), 33);
        sg_rows_free(r);
        r = NULL;
        if (step < 0)
            return step;
        for (size_t i = 0; rc == SG_OK && i < n; i++)
            rc = sg_request_move(c, ids[i], "revoked", d->actor, SG_ORIGIN_SNOWGATE, note);
        if (rc != SG_OK || n < 64)
            return rc;
        rc = sg_conn_query(c,
                           "SELECT id FROM requests WHERE asset_id = ?1 AND beneficiary = ?2 AND "
                           "action = 'grant' AND state = 'fulfilled'",
                           k, 2, &r);
        if (rc != SG_OK)
            return rc;
    }
}

typedef struct read_ctx {
    const char *id;
    req_info ri;
} read_ctx;

static int read_tx(sg_conn *c, void *ctx)
{
    read_ctx *x = ctx;
    return load(c, x->id, &x->ri);
}

/* The request as it stands now, outside any transaction. */
static int read_info(sg_app *app, const char *id, req_info *out)
{
    read_ctx x = {.id = id};
    int rc = sg_store_read(app->store, read_tx, &x);
    *out = x.ri;
    return rc;
}

/* Applies set to account through connector k, and checks it; note gets the connector's remark. */
static int apply_one(sg_app *app, const sg_connector *k, const req_info *ri, const char *id,
                     const char *step, bool grant, sg_privs set, const char *account, char *note,
                     size_t note_len, int64_t *retry_after)
{
    const char *privs[SG_PRIVS_MAX + 1];
    sg_privs_names(set, privs);
    sg_access_change ch = {
        .request_id = id,
        .step = step,
        .grant = grant,
        .privilege = ri->privilege,
        .privileges = privs,
        .asset = ri->asset,
        .asset_type = ri->asset_type,
        .beneficiary = ri->beneficiary,
        .db_role = account && *account ? account : NULL,
        .duration_s = ri->duration_s,
        .connection = ri->connection,
        .connection_id = ri->connection_id,
        .config = ri->config,
        .sealed = ri->sealed,
    };
    note[0] = '\0';
    int rc = k->apply(app, &ch, retry_after);
    if (rc == SG_OK && k->verify)
        rc = k->verify(app, &ch, note, note_len, retry_after);
    return rc;
}

/* A revoke on a kind with accounts: the person's role now loses what the revoke names, and
 * every account the grants it ends were applied to loses what they gave there (an admin may
 * have changed the role since). Other people's grants on a shared account are not kept: a
 * revoke takes back what it names. */
static int revoke_accounts(sg_app *app, const sg_connector *k, const req_info *ri, const char *id,
                           char *note, size_t note_len, int64_t *retry_after)
{
    ended_on targets[MAX_ENDED_ACCOUNTS + 1];
    size_t n = 0;
    char skipped[400] = "";
    /* The role now, unless it is empty or refused while the grants it ends sit on recorded
     * accounts: those are revoked, and the role is skipped with a note. With nothing recorded
     * a refused role still goes to the connector, which says why. */
    bool role_ok = ri->db_role[0] && (!k->check_account || k->check_account(ri->db_role) == SG_OK);
    if (ri->db_role[0] && (role_ok || ri->nended == 0)) {
        sg_strlcpy(targets[0].account, ri->db_role, sizeof(targets[0].account));
        targets[n++].privs = sg_privs_of_level(ri->privilege);
    } else if (ri->db_role[0])
        snprintf(skipped, sizeof(skipped), "%s's database role now, '%s', was left alone: %s",
                 ri->beneficiary, ri->db_role, sg_err_msg());
    else if (ri->nended > 0)
        snprintf(skipped, sizeof(skipped),
                 "%s has no database role now; only the accounts the grants went to were "
                 "revoked",
                 ri->beneficiary);
    for (size_t i = 0; i < ri->nended; i++) {
        size_t j = 0;
        while (j < n && strcmp(targets[j].account, ri->ended[i].account) != 0)
            j++;
        if (j == n)
            targets[n++] = (ended_on){.privs = 0};
        sg_strlcpy(targets[j].account, ri->ended[i].account, sizeof(targets[j].account));
        targets[j].privs |= ri->ended[i].privs;
    }
    if (n == 0) /* no role and nothing granted: the connector says what is missing */
        return apply_one(app, k, ri, id, "fulfil", false, sg_privs_of_level(ri->privilege), NULL,
                         note, note_len, retry_after);
    sg_strlcpy(note, skipped, note_len);
    for (size_t i = 0; i < n; i++) {
        char remark[300];
        int rc = apply_one(app, k, ri, id, "fulfil", false, targets[i].privs, targets[i].account,
                           remark, sizeof(remark), retry_after);
        if (rc != SG_OK)
            return rc;
        if (remark[0] && strlen(note) + strlen(remark) + 3 < note_len) {
            if (note[0])
                sg_strlcat(note, "; ", note_len);
            sg_strlcat(note, remark, note_len);
        }
    }
    return SG_OK;
}

/* Runs the change through the request's connector. A fulfilled grant adds its privileges to
 * the account it was claimed for; a revoke removes what it names and what the grants it ends
 * gave; an expiry removes, from the account the grant was applied to, only what no other live
 * grant on that account still needs. */
static int run_connector(sg_app *app, const req_info *ri, const char *id, const char *step,
                         bool grant, char *note, size_t note_len, int64_t *retry_after)
{
    note[0] = '\0';
    const sg_connector *k = sg_connector_find(ri->kind);
    if (!k || !k->apply)
        return sg_err_set(SG_EINTERNAL, "no connector applies changes for kind '%s'", ri->kind);
    bool fulfil = strcmp(step, "fulfil") == 0;
    if (fulfil && !grant && ri->accounts)
        return revoke_accounts(app, k, ri, id, note, note_len, retry_after);
    sg_privs set = sg_privs_of_level(ri->privilege);
    if (fulfil && !grant)
        set |= ri->others;
    if (strcmp(step, "expire") == 0)
        set &= ~ri->others;
    return apply_one(app, k, ri, id, step, grant, set, ri->accounts ? ri->account : ri->db_role,
                     note, note_len, retry_after);
}

/* A person applies changes on this connection (a manual one): snowgate runs nothing. */
static bool by_hand(const req_info *ri)
{
    const sg_connector *k = sg_connector_find(ri->kind);
    return k && !k->apply;
}

/* approved -> fulfilling, before the connector runs, in one transaction with the read of what
 * to apply: from then on the request cannot be cancelled, so a change the connector makes
 * always ends up recorded (fulfilled, with its expiry) or the request failed. A request already
 * fulfilling is a retry (after a crash, a lost lease or a retryable failure): it runs again,
 * since GRANT and REVOKE are idempotent. */
typedef struct claim_ctx {
    const char *id;
    req_info ri;
    bool go; /* out: run the connector */
} claim_ctx;

static int claim_tx(sg_conn *c, void *ctx)
{
    claim_ctx *x = ctx;
    int rc = load(c, x->id, &x->ri);
    if (rc != SG_OK)
        return rc;
    if (by_hand(&x->ri) ||
        (strcmp(x->ri.state, "approved") != 0 && strcmp(x->ri.state, "fulfilling") != 0))
        return SG_OK; /* a person applies it; or already fulfilled, cancelled or failed */
    x->go = true;
    /* The account the grant goes to is fixed here, before the connector runs: a retry (after a
     * crash, or once an admin changed the person's role) applies it to the same account, and
     * the expiry takes it back from there. */
    if (x->ri.accounts && strcmp(x->ri.action, "grant") == 0 && !x->ri.granted_account[0] &&
        x->ri.db_role[0]) {
        sg_val v[] = {SG_VTEXT(x->ri.db_role), SG_VTEXT(x->id)};
        rc = sg_conn_exec(c, "UPDATE requests SET granted_account = ?1 WHERE id = ?2", v, 2, NULL);
        if (rc != SG_OK)
            return rc;
        sg_strlcpy(x->ri.granted_account, x->ri.db_role, sizeof(x->ri.granted_account));
    }
    if (strcmp(x->ri.state, "fulfilling") == 0)
        return SG_OK;
    rc = sg_request_move(c, x->id, "fulfilling", "snowgate", SG_ORIGIN_SNOWGATE,
                         "being applied; it can no longer be cancelled");
    if (rc == SG_OK)
        sg_strlcpy(x->ri.state, "fulfilling", sizeof(x->ri.state));
    return rc;
}

static int fulfil_job(sg_app *app, const sg_job *job, int64_t *retry_after, claim_ctx *xp);

int sg_fulfil_job(sg_app *app, const sg_job *job, int64_t *retry_after)
{
    claim_ctx x = {.id = job->payload};
    int rc = fulfil_job(app, job, retry_after, &x);
    ri_clear(&x.ri);
    return rc;
}

static int fulfil_job(sg_app *app, const sg_job *job, int64_t *retry_after, claim_ctx *xp)
{
    claim_ctx x = *xp; /* shallow: xp keeps ownership of what claim_tx loads into it */
    struct timespec t0 = sg_mono_now();
    char ms[32];
    int rc = sg_store_tx(app->store, claim_tx, xp);
    x = *xp;
    sg_log_debug("fulfilment claimed", "ms", sg_ms_since(&t0, ms));
    if (rc == SG_ENOTFOUND)
        return SG_OK; /* nothing to do for a request that does not exist */
    if (rc != SG_OK)
        return rc;
    const req_info ri = x.ri;
    if (!x.go) {
        if (by_hand(&ri) && strcmp(ri.state, "approved") == 0)
            sg_log_info("request approved; waiting for a person to apply it and mark it done",
                        "request", job->payload, "connection", ri.connection);
        return SG_OK;
    }
    char remark[300], note[600];
    t0 = sg_mono_now();
    rc = run_connector(app, &ri, job->payload, "fulfil", strcmp(ri.action, "grant") == 0, remark,
                       sizeof(remark), retry_after);
    sg_log_debug("connector ran", "connection", ri.connection, "ms", sg_ms_since(&t0, ms));
    if (rc != SG_OK)
        return rc;
    snprintf(note, sizeof(note), "applied through the %s connection '%s'%s%s", ri.kind,
             ri.connection, remark[0] ? "; " : "", remark);
    finish_ctx f = {
        {job->payload, "snowgate", note, ri.accounts ? ri.account : NULL, false}, job, false};
    t0 = sg_mono_now();
    rc = sg_store_tx(app->store, finish_tx, &f);
    sg_log_debug("fulfilment recorded", "ms", sg_ms_since(&t0, ms));
    if (rc != SG_OK)
        return rc;
    if (f.lost)
        sg_log_warn("job finished after its lease was lost");
    return SG_JOB_FINISHED;
}

typedef struct fail_ctx {
    const char *id, *reason;
} fail_ctx;

static int fail_tx(sg_conn *c, void *ctx)
{
    fail_ctx *f = ctx;
    char state[16] = "";
    req_info ri = {0};
    int rc = load(c, f->id, &ri);
    if (rc != SG_OK)
        return rc;
    ri_clear(&ri); /* only the names below are read */
    sg_strlcpy(state, ri.state, sizeof(state));
    if (!sg_request_can_move(state, "failed"))
        return SG_OK;
    /* Fulfilling: an earlier attempt may have applied the change before this one failed. */
    char reason[1400];
    if (strcmp(state, "fulfilling") == 0)
        snprintf(reason, sizeof(reason),
                 "%s; an earlier attempt may have applied it: check %s's access to %s in %s",
                 f->reason, ri.account[0] ? ri.account : ri.beneficiary, ri.asset, ri.connection);
    else
        snprintf(reason, sizeof(reason), "%s", f->reason);
    rc = sg_request_move(c, f->id, "failed", "snowgate", SG_ORIGIN_SNOWGATE, reason);
    if (rc != SG_OK)
        return rc;
    sg_val v[] = {SG_VTEXT(reason), SG_VTEXT(f->id)};
    return sg_conn_exec(c, "UPDATE requests SET reason = ?1 WHERE id = ?2", v, 2, NULL);
}

void sg_fulfil_gave_up(sg_app *app, const sg_job *job, const char *reason)
{
    fail_ctx f = {job->payload, reason};
    if (sg_store_tx(app->store, fail_tx, &f) != SG_OK)
        sg_log_error("could not mark the request failed", "request", job->payload, "reason",
                     sg_err_msg());
}

typedef struct expire_ctx {
    const char *id;
    bool by_hand;
    const char *remark;
} expire_ctx;

static int expire_tx(sg_conn *c, void *ctx)
{
    expire_ctx *x = ctx;
    req_info ri = {0};
    int rc = load(c, x->id, &ri);
    if (rc == SG_ENOTFOUND)
        return SG_OK;
    ri_clear(&ri); /* only the names below are read */
    if (rc != SG_OK || strcmp(ri.state, "fulfilled") != 0)
        return rc; /* already expired or revoked: idempotent */
    char note[640];
    if (x->by_hand)
        snprintf(note, sizeof(note),
                 "the grant's time is up; remove %s's access to %s in %s by hand (%s "
                 "connection)",
                 ri.beneficiary, ri.asset, ri.connection, ri.kind);
    else
        snprintf(note, sizeof(note), "the grant's time is up; revoked through %s%s%s%s%s%s",
                 ri.connection, ri.accounts ? " from database account '" : "",
                 ri.accounts ? ri.account : "", ri.accounts ? "'" : "", x->remark[0] ? "; " : "",
                 x->remark);
    return sg_request_move(c, x->id, "expired", "snowgate", SG_ORIGIN_EXPIRY, note);
}

int sg_expire_job(sg_app *app, const sg_job *job, int64_t *retry_after)
{
    req_info ri = {0};
    int rc = read_info(app, job->payload, &ri);
    if (rc != SG_OK || strcmp(ri.state, "fulfilled") != 0) {
        ri_clear(&ri);
        return rc == SG_ENOTFOUND ? SG_OK : rc;
    }
    char remark[300] = "";
    bool hand = by_hand(&ri);
    if (!hand)
        rc = run_connector(app, &ri, job->payload, "expire", false, remark, sizeof(remark),
                           retry_after);
    ri_clear(&ri);
    if (rc != SG_OK)
        return rc;
    expire_ctx x = {job->payload, hand, remark};
    return sg_store_tx(app->store, expire_tx, &x);
}

void sg_expire_gave_up(sg_app *app, const sg_job *job, const char *reason)
{
    char note[700];
    snprintf(note, sizeof(note),
             "the grant's time is up but revoking failed: %s; remove the access by hand, or fix "
             "the cause and replay the dead job",
             reason);
    if (sg_request_flag(app, job->payload, "snowgate", SG_ORIGIN_EXPIRY, "expired", note) != SG_OK)
        sg_log_error("could not record the failed expiry", "request", job->payload, "reason",
                     sg_err_msg());
}

typedef struct sweep_ctx {
    int64_t now;
} sweep_ctx;

static int sweep_tx(sg_conn *c, void *ctx)
{
    sweep_ctx *s = ctx;
    char now[32];
    sg_iso_from_unix(s->now, now);
    sg_rows *r = NULL;
    sg_val v[] = {SG_VTEXT(now)};
    int rc = sg_conn_query(c,
                           "SELECT id FROM requests WHERE state = 'fulfilled' AND expires_at IS "
                           "NOT NULL AND expires_at <= ?1 LIMIT 500",
                           v, 1, &r);
    if (rc != SG_OK)
        return rc;
    char ids[500][33];
    size_t n = 0;
    while (n < 500 && sg_rows_next(r) == 1)
        sg_strlcpy(ids[n++], sg_rows_text(r, 0), 33);
    sg_rows_free(r);
    for (size_t i = 0; rc == SG_OK && i < n; i++) {
        char key[64];
        snprintf(key, sizeof(key), "expire:%.32s", ids[i]);
        rc = enqueue_access_job(c, "request.expire", ids[i], s->now, key);
    }
    return rc;
}

int sg_expiry_sweep(sg_app *app, int64_t now)
{
    sweep_ctx s = {now};
    return sg_store_tx(app->store, sweep_tx, &s);
}

typedef struct mark_ctx {
    const sg_user *caller;
    const char *id, *comment;
} mark_ctx;

static int mark_tx(sg_conn *c, void *ctx)
{
    mark_ctx *m = ctx;
    req_info ri = {0};
    int rc = load(c, m->id, &ri);
    if (rc != SG_OK)
        return rc;
    ri_clear(&ri); /* only the names below are read */
    if (!sg_request_may_decide(m->caller, ri.owners))
        return sg_err_set(SG_EFORBIDDEN,
                          "only the owners of %s, stewards and admins mark its "
                          "requests done",
                          ri.asset);
    if (!by_hand(&ri))
        return sg_err_set(SG_ECONFLICT,
                          "%s is on the %s connection '%s', which snowgate "
                          "fulfils itself",
                          ri.asset, ri.kind, ri.connection);
    if (strcmp(ri.state, "approved") != 0)
        return sg_err_set(SG_ECONFLICT,
                          "request %s is %s; only approved requests are marked "
                          "done",
                          m->id, ri.state);
    char note[4200];
    snprintf(note, sizeof(note), "applied by hand%s%s", m->comment && *m->comment ? ": " : "",
             m->comment ? m->comment : "");
    done_ctx d = {m->id, m->caller->name, note, NULL, false};
    return record_done(c, &d);
}

int sg_fulfil_mark_done(sg_app *app, const sg_user *caller, const char *id, const char *comment,
                        sg_json **out)
{
    *out = NULL;
    if (comment && strlen(comment) > 4000)
        return sg_err_set(SG_EINVAL, "\"comment\" is longer than 4000 bytes");
    mark_ctx m = {caller, id, comment};
    int rc = sg_store_tx(app->store, mark_tx, &m);
    if (rc == SG_ENOTFOUND)
        return sg_err_set(SG_ENOTFOUND, "request %s not found", id);
    if (rc != SG_OK)
        return rc;
    return sg_request_get(app, caller, id, out);
}
