/* ratelimit: in-memory hourly counters keyed by rule and user. */
#include "sim/ratelimit.h"

#include "core/mem.h"
#include "core/str.h"
#include "sim/sim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RL_SLOTS 1024

typedef struct slot {
    char rule[33];
    char user[33];
    long hour;
    long count;
} slot;

struct sim_ratelimit {
    pthread_mutex_t mu;
    slot slots[RL_SLOTS];
};

sim_ratelimit *sim_ratelimit_new(void)
{
    sim_ratelimit *rl = sg_xcalloc(1, sizeof(*rl));
    pthread_mutex_init(&rl->mu, NULL);
    return rl;
}

void sim_ratelimit_free(sim_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

typedef struct pick {
    sim_db *db;
    const sim_user *u;
    const char *path;
    sim_rec *best;
    int best_rank; /* 3 single user, 2 role, 1 all users */
    int64_t best_limit;
} pick;

static bool each_rule(void *ctx, sim_rec *r)
{
    pick *p = ctx;
    if (strcmp(sim_rec_get(r, "active"), "true") != 0)
        return true;
    const char *svc = sim_rec_get(r, "rest_service");
    if (*svc && !sg_str_startswith(p->path, svc))
        return true;
    const char *type = sim_rec_get(r, "type");
    int rank = 0;
    if (strcmp(type, "single_user") == 0) {
        if (strcmp(sim_rec_get(r, "user"), p->u->sys_id) == 0)
            rank = 3;
    } else if (strcmp(type, "role") == 0) {
        sim_rec *role = sim_db_get(p->db, sim_dict_table("sys_user_role"), sim_rec_get(r, "role"));
        if (role && sim_user_has_role(p->u, sim_rec_get(role, "name")))
            rank = 2;
    } else if (strcmp(type, "all_users") == 0) {
        rank = 1;
    }
    if (!rank)
        return true;
    int64_t limit = 0;
    sg_parse_i64(sim_rec_get(r, "rate_limit"), 0, INT64_MAX, "rate_limit", &limit);
    if (rank > p->best_rank || (rank == p->best_rank && limit < p->best_limit)) {
        p->best = r;
        p->best_rank = rank;
        p->best_limit = limit;
    }
    return true;
}

bool sim_ratelimit_check(sim_ratelimit *rl, sim_db *db, const sim_user *u, sg_http_req *req)
{
    pick p = {db, u, sg_http_path(req), NULL, 0, 0};
    char rule_id[33] = "";
    sim_db_rdlock(db);
    sim_db_each(db, sim_dict_table("sys_rate_limit_rules"), each_rule, &p);
    if (p.best)
        sg_strlcpy(rule_id, p.best->sys_id, sizeof(rule_id));
    sim_db_unlock(db);
    if (!rule_id[0])
        return true;
    time_t now = time(NULL);
    long hour = (long)(now / 3600);
    long count = 0;
    pthread_mutex_lock(&rl->mu);
    slot *s = NULL, *free_slot = NULL;
    for (int i = 0; i < RL_SLOTS && !s; i++) {
        slot *x = &rl->slots[i];
        if (strcmp(x->rule, rule_id) == 0 && strcmp(x->user, u->sys_id) == 0)
            s = x;
        else if (!free_slot && (x->rule[0] == '\0' || x->hour != hour))
            free_slot = x;
    }
    if (!s)
        s = free_slot ? free_slot : &rl->slots[(unsigned)now % RL_SLOTS];
    if (s->hour != hour || strcmp(s->rule, rule_id) != 0 || strcmp(s->user, u->sys_id) != 0) {
        sg_strlcpy(s->rule, rule_id, sizeof(s->rule));
        sg_strlcpy(s->user, u->sys_id, sizeof(s->user));
        s->hour = hour;
        s->count = 0;
    }
    count = ++s->count;
    pthread_mutex_unlock(&rl->mu);

    char limit[24], reset[24];
    snprintf(limit, sizeof(limit), "%lld", (long long)p.best_limit);
    snprintf(reset, sizeof(reset), "%lld", (long long)(hour + 1) * 3600);
    sg_http_set_header(req, "X-RateLimit-Limit", limit);
    sg_http_set_header(req, "X-RateLimit-Reset", reset);
    sg_http_set_header(req, "X-RateLimit-Rule", rule_id);
    if (count <= p.best_limit)
        return true;
    char retry[24], detail[160];
    snprintf(retry, sizeof(retry), "%lld", (long long)((hour + 1) * 3600 - now));
    sg_http_set_header(req, "Retry-After", retry);
    snprintf(detail, sizeof(detail), "Rate limit of %lld requests per hour for %s exceeded",
             (long long)p.best_limit,
             sg_str_startswith(p.path, "/api/now/table") ? "Table API" : "this API");
    sim_reply_error(req, 429, "Rate limit exceeded", detail);
    return false;
}
