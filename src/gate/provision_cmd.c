/* provision_cmd: `snowgate servicenow provision`: the ServiceNow admin's side of the setup
 * guide, done end to end through real ServiceNow endpoints only (the Table API, sys_upload.do
 * and the CI/CD update set API), then snowgate's Connect and test. Safe to re-run (it updates
 * what exists), except that after a COLLISION a re-run overwrites the local change. */
#include "core/cli.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/proc.h"
#include "core/str.h"
#include "gate/commands.h"
#include "gate/servicenow/client.h"
#include "gate/servicenow/preview.h"
#include "gate/servicenow/updateset.h"
#include "http/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct prov {
    const char *instance, *snowgate;
    const char *category; /* --catalog-category: a sys_id, or NULL */
    char *sn_auth;        /* Authorization: Basic ... (ServiceNow admin) */
    char *sg_auth;        /* Authorization: Bearer ... (snowgate admin) */
    sg_http_client_opts opts;
    /* The step of docs/servicenow-setup.md under way (1 to 5) and its name: each progress
     * line and a failure's message carry them, so that they match the guide. */
    int step;
    const char *step_name;
    sg_buf detail; /* lines printed after a failure's message (the problems found) */
} prov;

/* Room for everything a failure can list: SG_PREVIEW_MAX_PROBLEMS problems of under 800 bytes
 * each, or the row check's lines (up to five of some 200 bytes for each row read, bounded by
 * SG_PREVIEW_MAX_ROWS, and one for each of snowgate's rows), plus the advice after them. */
#define DETAIL_MAX (256 * 1024)

static void begin_step(prov *p, int step, const char *name)
{
    p->step = step;
    p->step_name = name;
}

static void say(prov *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(prov *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("[%d] ", p->step);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

/* A JSON call; *out gets the parsed body. Fails on transport errors and on statuses other
 * than `want` (0: any 2xx), with the body's error message. */
static int call(prov *p, bool to_snowgate, const char *method, const char *path, const char *body,
                long want, sg_json **out)
{
    char *url = sg_xasprintf("%s%s", to_snowgate ? p->snowgate : p->instance, path);
    const char *hdrs[] = {"Accept: application/json", "Content-Type: application/json",
                          to_snowgate ? p->sg_auth : p->sn_auth, NULL};
    sg_http_response r;
    int rc = sg_http_request(&p->opts, method, url, hdrs, body, body ? strlen(body) : 0, &r);
    if (rc != SG_OK) {
        free(url);
        return rc;
    }
    sg_json *j = NULL;
    sg_json_parse(sg_buf_str(&r.body), r.body.len, 16 * 1024 * 1024, 0, &j);
    bool ok = want ? r.status == want : r.status >= 200 && r.status < 300;
    if (!ok) {
        /* The instance's own words, made safe for a terminal. */
        char m[200], d[200];
        sg_str_sanitize(m, sizeof(m), sg_json_get_str(sg_json_get(j, "error"), "message"));
        sg_str_sanitize(d, sizeof(d), sg_json_get_str(sg_json_get(j, "error"), "detail"));
        rc = sg_err_set(r.status == 401 ? SG_EAUTH : SG_ENET, "%s %s answered HTTP %ld%s%s%s%s",
                        method, url, r.status, m[0] ? ": " : "", m, d[0] ? " - " : "", d);
        sg_json_decref(j);
        j = NULL;
    }
    free(url);
    sg_http_response_free(&r);
    if (out)
        *out = j;
    else
        sg_json_decref(j);
    return rc;
}

static const char *first_sys_id(sg_json *j)
{
    return sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id");
}

static int oauth_app(prov *p, char client_id[64], char secret[65])
{
    sg_json *j = NULL;
    int rc = call(p, false, "GET",
                  "/api/now/table/oauth_entity?sysparm_query=name%3Dsnowgate%20OAuth%20App"
                  "&sysparm_fields=sys_id,client_id",
                  NULL, 200, &j);
    if (rc != SG_OK)
        return rc;
    sg_random_hex(secret, 32);
    char redirect[400];
    snprintf(redirect, sizeof(redirect), "%s/oauth-callback", p->snowgate);
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "name", "snowgate OAuth App");
    sg_json_set_str(body, "client_secret", secret);
    sg_json_set_str(body, "redirect_url", redirect);
    sg_json_set_str(body, "active", "true");
    char *text = sg_json_dump(body);
    sg_json_decref(body);
    const char *existing = first_sys_id(j);
    if (existing && !sn_is_sys_id(existing)) {
        sg_wipe(text, strlen(text));
        free(text);
        sg_json_decref(j);
        return sg_err_set(SG_ENET,
                          "the instance answered an OAuth app sys_id that is not a sys_id");
    }
    sg_json *res = NULL;
    if (existing) {
        char path[128];
        snprintf(path, sizeof(path), "/api/now/table/oauth_entity/%s", existing);
        rc = call(p, false, "PATCH", path, text, 200, &res);
    } else {
        rc = call(p, false, "POST", "/api/now/table/oauth_entity", text, 201, &res);
    }
    sg_wipe(text, strlen(text));
    free(text);
    sg_json_decref(j);
    if (rc == SG_OK) {
        sg_str_sanitize(client_id, 64, sg_json_get_str(sg_json_get(res, "result"), "client_id"));
        say(p, "OAuth app 'snowgate OAuth App' %s (client_id %s, redirect %s)",
            existing ? "updated" : "created", client_id, redirect);
    }
    sg_json_decref(res);
    return rc;
}

static int configure_snowgate(prov *p, const char *client_id, const char *secret)
{
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "instance_url", p->instance);
    sg_json_set_str(body, "client_id", client_id);
    sg_json_set_str(body, "client_secret", secret);
    char *text = sg_json_dump(body);
    sg_json_decref(body);
    int rc = call(p, true, "PUT", "/api/v1/integrations/servicenow", text, 200, NULL);
    sg_wipe(text, strlen(text));
    free(text);
    if (rc == SG_OK)
        say(p, "snowgate knows the instance and the OAuth client");
    return rc;
}

/* Downloads the update set XML snowgate generates for this integration into *xml. */
static int download_update_set(prov *p, sg_http_response *xml)
{
    char *url = sg_xasprintf("%s/api/v1/integrations/servicenow/update-set%s%s", p->snowgate,
                             p->category ? "?category=" : "", p->category ? p->category : "");
    const char *hdrs[] = {p->sg_auth, NULL};
    int rc = sg_http_request(&p->opts, "GET", url, hdrs, NULL, 0, xml);
    free(url);
    if (rc != SG_OK)
        return rc;
    if (xml->status != 200) {
        rc = sg_err_set(SG_ENET, "snowgate answered HTTP %ld to the update set download",
                        xml->status);
        sg_http_response_free(xml);
        return rc;
    }
    say(p, "downloaded 'snowgate Update Set.xml' (%zu bytes)", xml->body.len);
    return SG_OK;
}

/* The XML with a per-run nonce at the start of the set's description (the header's
 * <description>, before any row), so that provision can tell the retrieved set it uploaded from
 * any other named snowgate. NULL when the header has no description. */
static char *with_nonce(const sg_buf *xml, const char *nonce, size_t *len)
{
    const char *s = sg_buf_str(xml);
    const char *head = strstr(s, "<sys_remote_update_set");
    const char *row = strstr(s, "<sys_update_xml");
    const char *d = head ? strstr(head, "<description>") : NULL;
    if (!d || (row && d > row))
        return NULL;
    d += strlen("<description>");
    char *out = sg_xasprintf("%.*ssnowgate provision run %s. %s", (int)(d - s), s, nonce, d);
    *len = strlen(out);
    return out;
}

/* The retrieved set's sys_id from sys_upload.do's redirect (Location: ...?sys_id=<id>), into id;
 * "" when the answer names none. */
static void id_from_location(const sg_http_response *r, char id[33])
{
    id[0] = '\0';
    const char *loc = sg_http_response_header(r, "Location");
    const char *q = loc ? strstr(loc, "sys_id=") : NULL;
    if (!q)
        return;
    q += strlen("sys_id=");
    char cand[33];
    snprintf(cand, sizeof(cand), "%.32s", q);
    if (sn_is_sys_id(cand) && (q[32] == '\0' || q[32] == '&'))
        memcpy(id, cand, 33);
}

/* Finds the retrieved set that this run uploaded: the one sys_upload.do named, or else the one
 * loaded set whose description holds the nonce; either way it must be named snowgate, be loaded
 * and hold the nonce. */
static int find_uploaded(prov *p, const char *nonce, char id[33])
{
    char path[400];
    if (id[0])
        snprintf(path, sizeof(path),
                 "/api/now/table/sys_remote_update_set?sysparm_query=sys_id%%3D%s"
                 "&sysparm_fields=sys_id,name,state,description&sysparm_limit=2",
                 id);
    else
        snprintf(path, sizeof(path),
                 "/api/now/table/sys_remote_update_set?sysparm_query=descriptionLIKE%s"
                 "%%5Estate%%3Dloaded&sysparm_fields=sys_id,name,state,description"
                 "&sysparm_limit=2",
                 nonce);
    sg_json *j = NULL;
    int rc = call(p, false, "GET", path, NULL, 200, &j);
    if (rc != SG_OK)
        return rc;
    sg_json *res = sg_json_get(j, "result");
    sg_json *set = sg_json_array_get(res, 0);
    const char *found = sg_json_get_str(set, "sys_id");
    const char *desc = sg_json_get_str(set, "description");
    if (sg_json_array_size(res) != 1 || !sn_is_sys_id(found) || (id[0] && strcmp(found, id) != 0))
        rc = sg_err_set(SG_ENOTFOUND, "the uploaded update set is not among the retrieved ones "
                                      "(none, or more than one, holds this run's mark)");
    else if (!desc || !strstr(desc, nonce) ||
             strcmp(sg_json_get_str(set, "name") ? sg_json_get_str(set, "name") : "", "snowgate") !=
                 0 ||
             strcmp(sg_json_get_str(set, "state") ? sg_json_get_str(set, "state") : "", "loaded") !=
                 0)
        rc = sg_err_set(SG_ECONFLICT,
                        "retrieved update set %s is not the one this run uploaded "
                        "(its name, state or description differ)",
                        found);
    else
        memcpy(id, found, 33);
    sg_json_decref(j);
    return rc;
}

/* Uploads the XML, marked with a per-run nonce, through sys_upload.do, as the UI's "Import
 * Update Set from XML" does, and finds the new retrieved update set: id gets its sys_id. */
static int upload_update_set(prov *p, const sg_buf *xml, char id[33])
{
    char nonce[33];
    sg_random_hex(nonce, 16);
    size_t marked_len = 0;
    char *marked = with_nonce(xml, nonce, &marked_len);
    if (!marked)
        return sg_err_set(SG_EINVAL, "snowgate's update set has no description to mark");
    sg_buf body = SG_BUF_INIT(0);
    char boundary[40];
    char rnd[17];
    sg_random_hex(rnd, 8);
    snprintf(boundary, sizeof(boundary), "snowgate%s", rnd);
    sg_buf_printf(&body,
                  "--%s\r\nContent-Disposition: form-data; name=\"sysparm_target\"\r\n\r\n"
                  "sys_remote_update_set\r\n--%s\r\nContent-Disposition: form-data; "
                  "name=\"attachFile\"; filename=\"snowgate Update Set.xml\"\r\n"
                  "Content-Type: text/xml\r\n\r\n",
                  boundary, boundary);
    sg_buf_append(&body, marked, marked_len);
    free(marked);
    sg_buf_printf(&body, "\r\n--%s--\r\n", boundary);
    char ct[96];
    snprintf(ct, sizeof(ct), "Content-Type: multipart/form-data; boundary=%s", boundary);
    const char *up_hdrs[] = {p->sn_auth, ct, NULL};
    char *url = sg_xasprintf("%s/sys_upload.do", p->instance);
    sg_http_response up;
    int rc = sg_http_request(&p->opts, "POST", url, up_hdrs, body.data, body.len, &up);
    free(url);
    sg_buf_free(&body);
    if (rc != SG_OK)
        return rc;
    long st = up.status;
    id_from_location(&up, id);
    sg_http_response_free(&up);
    if (st != 302 && st != 200)
        return sg_err_set(SG_ENET, "sys_upload.do answered HTTP %ld; is the user an admin?", st);
    return find_uploaded(p, nonce, id);
}

/* Starts a CI/CD update set action ("preview" or "commit", ServiceNow's /api/sn_cicd) and polls
 * its progress until it ends (bounded): label gets the final status_label, error the progress'
 * error. */
static int run_update_set_action(prov *p, const char *what, const char *id, char label[32],
                                 char error[256])
{
    char path[160];
    snprintf(path, sizeof(path), "/api/sn_cicd/update_set/%s/%s", what, id);
    sg_json *j = NULL;
    int rc = call(p, false, "POST", path, NULL, 200, &j);
    if (rc != SG_OK)
        return rc;
    const char *progress = sg_json_get_str(
        sg_json_get(sg_json_get(sg_json_get(j, "result"), "links"), "progress"), "id");
    if (!sn_is_sys_id(progress))
        rc = sg_err_set(SG_ENET, "the update set %s answered no progress id", what);
    else
        snprintf(path, sizeof(path), "/api/sn_cicd/progress/%s", progress);
    sg_json_decref(j);
    snprintf(label, 32, "Pending");
    error[0] = '\0';
    for (int k = 0;
         rc == SG_OK && k < 600 && (strcmp(label, "Pending") == 0 || strcmp(label, "Running") == 0);
         k++) {
        if (k > 0)
            sleep(1);
        rc = call(p, false, "GET", path, NULL, 200, &j);
        if (rc != SG_OK)
            break;
        sg_json *res = sg_json_get(j, "result");
        sg_str_sanitize(label, 32, sg_json_get_str(res, "status_label"));
        sg_str_sanitize(error, 256, sg_json_get_str(res, "error"));
        sg_json_decref(j);
    }
    if (rc == SG_OK && strcmp(label, "Successful") != 0)
        rc = sg_err_set(SG_ECONFLICT, "update set %s %s: %s", what, label,
                        error[0] ? error : "see the update set in ServiceNow");
    return rc;
}

/* One preview problem as judged; its text is sanitized. */
typedef struct judged {
    char sys_id[33];
    char status[24];
    char desc[201];
    char why[480];
    sg_preview_verdict v;
} judged;

typedef struct problems {
    judged list[SG_PREVIEW_MAX_PROBLEMS];
    size_t n;
} problems;

/* The payload of the problem's sys_update_xml row when that row belongs to the set (NULL
 * otherwise); the caller frees it. */
static int remote_payload(prov *p, const char *set_id, const char *row_id, char **payload)
{
    *payload = NULL;
    if (!sn_is_sys_id(row_id))
        return SG_OK;
    char path[200];
    snprintf(path, sizeof(path),
             "/api/now/table/sys_update_xml/%s?sysparm_fields=payload,remote_update_set"
             "&sysparm_exclude_reference_link=true",
             row_id);
    sg_json *j = NULL;
    int rc = call(p, false, "GET", path, NULL, 200, &j);
    if (rc != SG_OK)
        return rc;
    sg_json *res = sg_json_get(j, "result");
    const char *set = sg_json_get_str(res, "remote_update_set");
    const char *pl = sg_json_get_str(res, "payload");
    if (set && strcmp(set, set_id) == 0 && pl)
        *payload = sg_xstrdup(pl);
    sg_json_decref(j);
    return SG_OK;
}

/* Reads one problem, its row's payload, and judges it into *out. */
static int judge_one(prov *p, const char *set_id, sg_json *o, const sg_preview_ours *ours,
                     judged *out)
{
    sg_preview_problem pp = {.sys_id = sg_json_get_str(o, "sys_id"),
                             .description = sg_json_get_str(o, "description"),
                             .remote_update = sg_json_get_str(o, "remote_update"),
                             .missing_item = sg_json_get_str(o, "missing_item"),
                             .missing_item_table = sg_json_get_str(o, "missing_item_table"),
                             .payload = NULL};
    char *payload = NULL;
    int rc = remote_payload(p, set_id, pp.remote_update, &payload);
    if (rc != SG_OK)
        return rc;
    pp.payload = payload;
    out->v = sg_preview_judge(&pp, ours, out->why, sizeof(out->why));
    free(payload);
    sg_str_sanitize(out->sys_id, sizeof(out->sys_id), pp.sys_id);
    sg_str_sanitize(out->status, sizeof(out->status), sg_json_get_str(o, "status"));
    sg_str_sanitize(out->desc, sizeof(out->desc), pp.description);
    return SG_OK;
}

/* Reads every problem of the set, whatever its status, and judges each. */
static int judge_problems(prov *p, const char *set_id, const sg_preview_ours *ours, problems *out)
{
    char path[320];
    snprintf(path, sizeof(path),
             "/api/now/table/sys_update_preview_problem"
             "?sysparm_fields=sys_id,description,status,remote_update,missing_item,"
             "missing_item_table"
             "&sysparm_exclude_reference_link=true&sysparm_limit=%d"
             "&sysparm_query=remote_update_set%%3D%s%%5EORDERBYsys_id",
             SG_PREVIEW_MAX_PROBLEMS + 1, set_id);
    sg_json *j = NULL;
    int rc = call(p, false, "GET", path, NULL, 200, &j);
    if (rc != SG_OK)
        return rc;
    sg_json *res = sg_json_get(j, "result");
    size_t n = sg_json_array_size(res);
    out->n = 0;
    if (!res || sg_json_typeof(res) != SG_JSON_ARRAY)
        rc = sg_err_set(SG_ENET, "the preview problems' answer has no result array");
    else if (n > SG_PREVIEW_MAX_PROBLEMS)
        rc = sg_err_set(SG_ECONFLICT,
                        "the update set's preview found over %d problems: look at them in "
                        "ServiceNow (Retrieved Update Sets > snowgate), resolve them, and run "
                        "provision again",
                        SG_PREVIEW_MAX_PROBLEMS);
    for (size_t i = 0; rc == SG_OK && i < n; i++)
        rc = judge_one(p, set_id, sg_json_array_get(res, i), ours, &out->list[out->n++]);
    sg_json_decref(j);
    return rc;
}

static bool all_acceptable(const problems *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->list[i].v != SG_PREVIEW_ACCEPTABLE)
            return false;
    return true;
}

/* Lists the problems, each with its verdict and why, into p->detail. */
static void list_problems(prov *p, const problems *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        const judged *q = &ps->list[i];
        sg_buf_printf(&p->detail, "  problem %zu of %zu: %s \"%s\" (status: %s)\n      why: %s\n",
                      i + 1, ps->n, sg_preview_verdict_name(q->v), q->desc,
                      q->status[0] ? q->status : "none", q->why);
    }
}

/* Fails with the problems listed and what to do about each verdict; set_id is this run's
 * retrieved set, which stays on the instance uncommitted. */
static int refuse(prov *p, const char *set_id, const problems *ps, bool accept)
{
    bool acceptable = all_acceptable(ps);
    list_problems(p, ps);
    if (acceptable)
        sg_buf_printf(&p->detail,
                      "What to do: every problem above is ACCEPTABLE. Re-run with "
                      "--accept-preview-problems to mark them ignored, as an admin would in "
                      "ServiceNow, and commit. If the missing record is the category given with "
                      "--catalog-category, check that sys_id against the instance's sc_category "
                      "(a typo, or an id from another instance) and run again.\n");
    else
        sg_buf_printf(
            &p->detail,
            "What to do (snowgate never accepts a REFUSED or COLLISION problem itself, %s):\n"
            "  REFUSED: the set on the instance was changed after snowgate uploaded it (a row "
            "that is not snowgate's, or a record of snowgate's missing from it), or the problem "
            "is of a kind snowgate does not judge: find out who changed the set, or what the "
            "problem means, before running provision again.\n"
            "  COLLISION: the record was changed on the instance after snowgate generated its "
            "version. Compare the two in ServiceNow. Running provision again uploads snowgate's "
            "version anew, newer than the local change, so the next preview does not report the "
            "collision and the commit overwrites the local change: save that change first if "
            "you need it.\n"
            "  If only ACCEPTABLE problems are left, re-run with --accept-preview-problems.\n",
            accept ? "not even with --accept-preview-problems"
                   : "and --accept-preview-problems does not change that");
    sg_buf_printf(&p->detail,
                  "Nothing was committed. This run's retrieved set (sys_remote_update_set %s, "
                  "named snowgate) stays on the instance, loaded and not committed, and provision "
                  "never uses it again: each run imports and previews a new set, so what you mark "
                  "in this set's preview does not carry over. Delete it in ServiceNow (System "
                  "Update Sets > Retrieved Update Sets). A new run uploads a fresh set: ACCEPTABLE "
                  "problems stop it here again unless it is given --accept-preview-problems; "
                  "after a COLLISION it commits and overwrites the local change (above). See "
                  "docs/servicenow-setup.md, \"When the preview finds problems\".\n",
                  set_id);
    return sg_err_set(SG_ECONFLICT,
                      "the update set's preview found %zu problem(s)%s; nothing was committed",
                      ps->n, acceptable ? "" : ", and not all of them can be accepted");
}

/* Marks each (acceptable) problem ignored, as the admin's "Accept remote update" does; the
 * step's line and the accepted problems are printed once all are marked. */
static int accept_all(prov *p, const char *set_id, const problems *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->list[i].v != SG_PREVIEW_ACCEPTABLE || !sn_is_sys_id(ps->list[i].sys_id))
            return sg_err_set(SG_EINTERNAL, "a problem to accept is not acceptable");
    for (size_t i = 0; i < ps->n; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/api/now/table/sys_update_preview_problem/%s",
                 ps->list[i].sys_id);
        int rc = call(p, false, "PATCH", path, "{\"status\":\"ignored\"}", 200, NULL);
        if (rc != SG_OK) {
            const char *descs[SG_PREVIEW_MAX_PROBLEMS], *ids[SG_PREVIEW_MAX_PROBLEMS];
            for (size_t k = 0; k < i; k++) {
                descs[k] = ps->list[k].desc;
                ids[k] = ps->list[k].sys_id;
            }
            sg_preview_accept_failed(&p->detail, descs, ids, i, ps->n);
            sg_buf_printf(&p->detail,
                          "This run's retrieved set (sys_remote_update_set %s, named snowgate) "
                          "stays on the instance, loaded and not committed, and provision never "
                          "uses it again: delete it in ServiceNow (System Update Sets > Retrieved "
                          "Update Sets).\n",
                          set_id);
            return sg_err_wrap(rc, "marking preview problem %zu of %zu (%s) ignored failed", i + 1,
                               ps->n, ps->list[i].sys_id);
        }
    }
    say(p,
        "update set previewed: %zu problem(s), each about a record snowgate does not need; "
        "accepted:",
        ps->n);
    for (size_t i = 0; i < ps->n; i++)
        printf("      accepted: \"%s\"\n        (%s)\n", ps->list[i].desc, ps->list[i].why);
    fflush(stdout);
    return SG_OK;
}

/* After accepting: the same problems, all ignored, and nothing new. */
static int recheck(prov *p, const char *id, const sg_preview_ours *ours, const problems *accepted)
{
    problems *now = sg_xcalloc(1, sizeof(*now));
    int rc = judge_problems(p, id, ours, now);
    bool same = rc == SG_OK && now->n == accepted->n && all_acceptable(now);
    for (size_t i = 0; same && i < now->n; i++)
        same = strcmp(now->list[i].status, "ignored") == 0 &&
               strcmp(now->list[i].sys_id, accepted->list[i].sys_id) == 0;
    if (rc == SG_OK && !same)
        rc = sg_err_wrap(refuse(p, id, now, true),
                         "after accepting, a re-check found other problems");
    free(now);
    return rc;
}

#define ROWS_PAGE 100

/* Every sys_update_xml row of the set, page by page, into *out (a JSON array of row objects).
 * Bounded: it stops past SG_PREVIEW_MAX_ROWS rows, more than snowgate's set can have. */
static int list_rows(prov *p, const char *set_id, sg_json **out)
{
    sg_json *all = sg_json_array();
    int rc = SG_OK;
    for (size_t offset = 0; rc == SG_OK && sg_json_array_size(all) <= SG_PREVIEW_MAX_ROWS;
         offset += ROWS_PAGE) {
        char path[400];
        snprintf(path, sizeof(path),
                 "/api/now/table/sys_update_xml?sysparm_query=remote_update_set%%3D%s"
                 "%%5EORDERBYsys_id&sysparm_fields=sys_id,action,name,table,type,payload"
                 "&sysparm_exclude_reference_link=true&sysparm_limit=%d&sysparm_offset=%zu",
                 set_id, ROWS_PAGE, offset);
        sg_json *j = NULL;
        rc = call(p, false, "GET", path, NULL, 200, &j);
        if (rc != SG_OK)
            break;
        sg_json *res = sg_json_get(j, "result");
        size_t n = sg_json_array_size(res);
        if (!res || sg_json_typeof(res) != SG_JSON_ARRAY)
            rc = sg_err_set(SG_ENET, "the update set rows' answer has no result array");
        for (size_t i = 0; rc == SG_OK && i < n; i++)
            sg_json_append(all, sg_json_incref(sg_json_array_get(res, i)));
        sg_json_decref(j);
        if (n < ROWS_PAGE)
            break;
    }
    if (rc != SG_OK) {
        sg_json_decref(all);
        all = NULL;
    }
    *out = all;
    return rc;
}

/* Compares the rows read with snowgate's own (sg_preview_rows_match); the differences go to
 * p->detail. */
static bool rows_are_ours(prov *p, const sg_preview_ours *ours, sg_json *rows)
{
    size_t n = sg_json_array_size(rows);
    sg_preview_row *v = sg_xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        sg_json *o = sg_json_array_get(rows, i);
        v[i] = (sg_preview_row){.sys_id = sg_json_get_str(o, "sys_id"),
                                .action = sg_json_get_str(o, "action"),
                                .name = sg_json_get_str(o, "name"),
                                .table = sg_json_get_str(o, "table"),
                                .type = sg_json_get_str(o, "type"),
                                .payload = sg_json_get_str(o, "payload")};
    }
    bool same = sg_preview_rows_match(ours, v, n, &p->detail);
    free(v);
    return same;
}

/* The last step before the commit: the set on the instance holds exactly the rows snowgate
 * generated, whatever the preview found. *checked gets the rows read. */
static int check_rows(prov *p, const char *id, const sg_preview_ours *ours, sg_json **checked)
{
    *checked = NULL;
    sg_json *rows = NULL;
    int rc = list_rows(p, id, &rows);
    if (rc != SG_OK)
        return rc;
    if (!rows_are_ours(p, ours, rows)) {
        sg_json_decref(rows);
        sg_buf_printf(&p->detail,
                      "Nothing was committed. Someone or something changed the retrieved update "
                      "set (sys_remote_update_set %s) after snowgate uploaded it: find out who. "
                      "Delete that retrieved set in ServiceNow (System Update Sets > Retrieved "
                      "Update Sets) and run provision again.\n",
                      id);
        return sg_err_set(SG_ECONFLICT,
                          "the update set on the instance is not the one snowgate uploaded: its "
                          "rows differ from snowgate's (listed below); delete the retrieved set "
                          "and run provision again");
    }
    say(p, "update set checked: its %zu rows are the ones snowgate generated",
        sg_json_array_size(rows));
    *checked = rows;
    return SG_OK;
}

static bool has_row(sg_json *rows, const char *sys_id)
{
    for (size_t i = 0; i < sg_json_array_size(rows); i++) {
        const char *s = sg_json_get_str(sg_json_array_get(rows, i), "sys_id");
        if (s && sys_id && strcmp(s, sys_id) == 0)
            return true;
    }
    return false;
}

/* After the commit: the set's rows are still the ones checked just before it (the same rows,
 * each still holding snowgate's payload, action, name, table and type); otherwise something
 * changed them between the check and the commit, and the commit may have applied that. */
static int verify_committed(prov *p, const char *id, const sg_preview_ours *ours, sg_json *checked)
{
    sg_json *rows = NULL;
    int rc = list_rows(p, id, &rows);
    if (rc != SG_OK)
        return sg_err_wrap(rc, "the update set was committed, but its rows could not be read "
                               "again to confirm they did not change after snowgate's check");
    bool same = rows_are_ours(p, ours, rows);
    for (size_t i = 0; i < sg_json_array_size(checked); i++) {
        sg_json *o = sg_json_array_get(checked, i);
        if (!has_row(rows, sg_json_get_str(o, "sys_id"))) {
            char sid[33], name[81];
            sg_buf_printf(&p->detail, "  sys_update_xml %s (%s) is gone\n",
                          sg_str_sanitize(sid, sizeof(sid), sg_json_get_str(o, "sys_id")),
                          sg_str_sanitize(name, sizeof(name), sg_json_get_str(o, "name")));
            same = false;
        }
    }
    sg_json_decref(rows);
    if (same)
        return SG_OK;
    sg_buf_printf(&p->detail,
                  "THE COMMIT MAY HAVE APPLIED RECORDS SNOWGATE DID NOT GENERATE. Review the "
                  "records named above on the instance (and the committed update set, "
                  "sys_remote_update_set %s), undo what snowgate did not generate, find out who "
                  "changed the set, and run provision again.\n",
                  id);
    return sg_err_set(SG_ECONFLICT,
                      "the update set's rows changed between snowgate's check and the commit "
                      "(listed below); the set was committed");
}

/* Previews the set; with problems, judges them and accepts them (only with accept, and only
 * when every one is acceptable) or refuses; then commits. */
static int preview_and_commit(prov *p, const char *id, const sg_preview_ours *ours, bool accept)
{
    char label[32], error[256];
    int rc = run_update_set_action(p, "preview", id, label, error);
    problems *ps = sg_xcalloc(1, sizeof(*ps));
    if (rc == SG_OK)
        rc = judge_problems(p, id, ours, ps);
    if (rc == SG_OK && ps->n == 0)
        say(p, "update set previewed: no problems");
    else if (rc == SG_OK && (!accept || !all_acceptable(ps)))
        rc = refuse(p, id, ps, accept);
    else if (rc == SG_OK)
        rc = accept_all(p, id, ps);
    if (rc == SG_OK && ps->n > 0)
        rc = recheck(p, id, ours, ps);
    free(ps);
    /* Last, right before the commit: the set's rows are exactly snowgate's. */
    sg_json *checked = NULL;
    if (rc == SG_OK)
        rc = check_rows(p, id, ours, &checked);
    if (rc == SG_OK)
        rc = run_update_set_action(p, "commit", id, label, error);
    if (rc == SG_OK)
        say(p, "update set committed: %s", label);
    if (rc == SG_OK)
        rc = verify_committed(p, id, ours, checked);
    sg_json_decref(checked);
    return rc;
}

static int import_update_set(prov *p, bool accept)
{
    sg_http_response xml;
    int rc = download_update_set(p, &xml);
    if (rc != SG_OK)
        return rc;
    sg_preview_ours *ours = NULL;
    char id[33];
    rc = sg_preview_ours_parse(sg_buf_str(&xml.body), xml.body.len, &ours);
    if (rc == SG_OK)
        rc = upload_update_set(p, &xml.body, id);
    sg_http_response_free(&xml);
    if (rc == SG_OK) {
        say(p, "update set imported (sys_remote_update_set %s)", id);
        rc = preview_and_commit(p, id, ours, accept);
    }
    sg_preview_ours_free(ours);
    return rc;
}

static int service_user(prov *p, char password[65])
{
    sg_json *j = NULL;
    int rc = call(
        p, false, "GET",
        "/api/now/table/sys_user?sysparm_query=user_name%3Dsnowgate.service&sysparm_fields=sys_id",
        NULL, 200, &j);
    if (rc != SG_OK)
        return rc;
    char uid[33] = "";
    const char *found = first_sys_id(j);
    if (found && !sn_is_sys_id(found)) {
        sg_json_decref(j);
        return sg_err_set(SG_ENET, "the instance answered a sys_user sys_id that is not a sys_id");
    }
    if (found)
        memcpy(uid, found, sizeof(uid));
    sg_json_decref(j);
    sg_random_hex(password, 24);
    char body[256];
    snprintf(body, sizeof(body),
             "{\"user_name\":\"snowgate.service\",\"first_name\":\"snowgate\",\"last_name\":"
             "\"service\",\"web_service_access_only\":\"true\",\"user_password\":\"%s\"}",
             password);
    sg_json *res = NULL;
    bool existed = uid[0] != '\0';
    if (existed) {
        char path[160];
        snprintf(path, sizeof(path), "/api/now/table/sys_user/%s?sysparm_input_display_value=true",
                 uid);
        rc = call(p, false, "PATCH", path, body, 200, &res);
    } else {
        rc = call(p, false, "POST", "/api/now/table/sys_user?sysparm_input_display_value=true",
                  body, 201, &res);
        const char *created = sg_json_get_str(sg_json_get(res, "result"), "sys_id");
        if (rc == SG_OK && !sn_is_sys_id(created))
            rc = sg_err_set(SG_ENET, "the instance answered a new sys_user sys_id that is not a "
                                     "sys_id");
        else if (rc == SG_OK)
            memcpy(uid, created, sizeof(uid));
    }
    sg_wipe(body, sizeof(body));
    sg_json_decref(res);
    if (rc != SG_OK)
        return rc;
    say(p, "user snowgate.service %s, with a new random password", existed ? "updated" : "created");
    rc = call(p, false, "GET",
              "/api/now/table/sys_user_role?sysparm_query=name%3D" SG_SN_ROLE
              "&sysparm_fields=sys_id",
              NULL, 200, &j);
    if (rc != SG_OK)
        return rc;
    char role[33] = "";
    const char *role_id = first_sys_id(j);
    bool role_ok = sn_is_sys_id(role_id);
    if (role_ok)
        memcpy(role, role_id, sizeof(role));
    sg_json_decref(j);
    if (!role_id)
        return sg_err_set(SG_ENOTFOUND,
                          "role " SG_SN_ROLE " not found: was the update set committed?");
    if (!role_ok)
        return sg_err_set(SG_ENET, "the instance answered a role sys_id that is not a sys_id");
    char q[256];
    snprintf(q, sizeof(q),
             "/api/now/table/"
             "sys_user_has_role?sysparm_query=user%%3D%s%%5Erole%%3D%s&sysparm_fields=sys_id",
             uid, role);
    rc = call(p, false, "GET", q, NULL, 200, &j);
    if (rc != SG_OK)
        return rc;
    bool has = first_sys_id(j) != NULL;
    sg_json_decref(j);
    if (!has) {
        snprintf(body, sizeof(body), "{\"user\":\"%s\",\"role\":\"%s\"}", uid, role);
        rc = call(p, false, "POST", "/api/now/table/sys_user_has_role", body, 201, NULL);
        if (rc != SG_OK)
            return rc;
    }
    say(p, "snowgate.service holds " SG_SN_ROLE);
    return SG_OK;
}

static int connect_and_test(prov *p, const char *password)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"username\":\"snowgate.service\",\"password\":\"%s\"}",
             password);
    sg_json *j = NULL;
    char *url = sg_xasprintf("%s/api/v1/integrations/servicenow/connect", p->snowgate);
    const char *hdrs[] = {"Content-Type: application/json", p->sg_auth, NULL};
    sg_http_response r;
    int rc = sg_http_request(&p->opts, "POST", url, hdrs, body, strlen(body), &r);
    sg_wipe(body, sizeof(body));
    free(url);
    if (rc != SG_OK)
        return rc;
    sg_json_parse(sg_buf_str(&r.body), r.body.len, 0, 0, &j);
    sg_json *checks = sg_json_get(j, "checks");
    for (size_t i = 0; i < sg_json_array_size(checks); i++) {
        sg_json *c = sg_json_array_get(checks, i);
        bool ok = false;
        bool known = sg_json_get_bool(c, "ok", &ok);
        /* snowgate's words, made safe for a terminal like the instance's (NULL: ""). */
        char name[64], msg[400], fix[400];
        sg_str_sanitize(name, sizeof(name), sg_json_get_str(c, "name"));
        sg_str_sanitize(msg, sizeof(msg), sg_json_get_str(c, "message"));
        sg_str_sanitize(fix, sizeof(fix), sg_json_get_str(c, "fix"));
        printf("    %-22s %s  %s\n", name, !known ? "skip" : ok ? "ok  " : "FAIL", msg);
        if (known && !ok && fix[0])
            printf("    %-22s      fix: %s\n", "", fix);
    }
    const char *status = sg_json_get_str(j, "status");
    if (r.status == 200 && status && strcmp(status, "connected") == 0)
        say(p, "Connect and test: CONNECTED");
    else {
        char shown[64];
        sg_str_sanitize(shown, sizeof(shown), status ? status : "?");
        rc = sg_err_set(SG_ECONFLICT, "Connect and test did not pass (HTTP %ld, status %s)",
                        r.status, shown);
    }
    sg_json_decref(j);
    sg_http_response_free(&r);
    return rc;
}

static const sg_cli_flag flags[] = {
    {"instance", NULL, "URL", "the ServiceNow instance, e.g. https://dev12345.service-now.com"},
    {"admin-user", NULL, "USER", "a ServiceNow admin user name"},
    {"admin-password-stdin", NULL, NULL, "read that admin's password from standard input"},
    {"snowgate", NULL, "URL", "snowgate's public URL, as ServiceNow reaches it"},
    {"token", NULL, "TOKEN", "a snowgate admin API token (snowgate user add ... --role admin)"},
    {"accept-preview-problems", NULL, NULL,
     "accept (mark ignored) the update set's preview problems when every one is only a "
     "reference, in a record snowgate generated, to a record snowgate does not need and the set "
     "does not carry (by default snowgate's own set has none; with --catalog-category naming a "
     "category the instance lacks, that reference is one: see docs/servicenow-setup.md); any "
     "other problem still stops provision, which then lists them"},
    {"catalog-category", NULL, "SYS_ID",
     "file snowgate's catalog item under this existing category of the instance (an "
     "sc_category sys_id, best one of the 'snowgate Data Access' catalog) instead of adding "
     "snowgate's own 'Data access' category"},
    {"allow-insecure-loopback", NULL, NULL, "tests and demo only: allow http and loopback URLs"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec spec = {
    "snowgate",
    "servicenow provision",
    "Set up ServiceNow for snowgate as a ServiceNow admin would: OAuth app, update set (import, "
    "preview, commit), service user and role, then Connect and test. Safe to re-run (it updates "
    "what exists), except that after a COLLISION a re-run overwrites the local change. When the "
    "preview finds problems, provision lists each with its verdict (ACCEPTABLE, REFUSED or "
    "COLLISION) and why, commits nothing, and says what to do; with --accept-preview-problems "
    "it accepts them when all are ACCEPTABLE, checks again and commits. Each line and a "
    "failure name the step of docs/servicenow-setup.md (1 to 5); what each verdict means and what "
    "to do: docs/servicenow-setup.md#when-the-preview-finds-problems.",
    NULL,
    flags,
    NULL,
    NULL,
};

static int provision(int argc, char **argv, char **envp)
{
    sg_cli_result cli;
    int status = sg_cli_parse(&spec, argc, argv, envp, NULL, &cli);
    if (status >= 0)
        return status;
    prov p;
    memset(&p, 0, sizeof(p));
    p.detail = (sg_buf)SG_BUF_INIT(DETAIL_MAX);
    p.instance = sg_cli_get(&cli, "instance");
    p.snowgate = sg_cli_get(&cli, "snowgate");
    const char *user = sg_cli_get(&cli, "admin-user");
    const char *token = sg_cli_get(&cli, "token");
    p.category = sg_cli_get(&cli, "catalog-category");
    if (p.category && !sn_is_sys_id(p.category)) {
        fprintf(stderr, "snowgate servicenow provision: --catalog-category must be the sys_id (32 "
                        "hex digits) of a catalog category on the instance (sc_category)\n");
        return SG_EXIT_USAGE;
    }
    if (!p.instance || !p.snowgate || !user || !token) {
        fprintf(stderr, "snowgate servicenow provision: --instance, --admin-user, --snowgate and "
                        "--token are required\n\n");
        sg_cli_usage(&spec, stderr);
        return SG_EXIT_USAGE;
    }
    char password[512] = "";
    if (sg_cli_get(&cli, "admin-password-stdin")) {
        if (!fgets(password, sizeof(password), stdin)) {
            fprintf(stderr, "snowgate servicenow provision: no password on standard input\n");
            return SG_EXIT_USAGE;
        }
        password[strcspn(password, "\r\n")] = '\0';
    } else if (isatty(0)) {
        char *pw = getpass("ServiceNow admin password: ");
        snprintf(password, sizeof(password), "%s", pw ? pw : "");
    } else {
        fprintf(stderr, "snowgate servicenow provision: pass --admin-password-stdin and pipe the "
                        "ServiceNow admin password\n");
        return SG_EXIT_USAGE;
    }
    sg_log_init(SG_LOG_ERROR, SG_LOG_JSON, 2);
    p.opts = (sg_http_client_opts)SG_HTTP_CLIENT_OPTS_INIT;
    p.opts.allow_insecure_loopback = sg_cli_get(&cli, "allow-insecure-loopback") != NULL;
    p.opts.timeout_ms = 60000;
    sg_buf raw = SG_BUF_INIT(0), b64 = SG_BUF_INIT(0);
    sg_buf_printf(&raw, "%s:%s", user, password);
    sg_base64_encode(raw.data, raw.len, false, &b64);
    p.sn_auth = sg_xasprintf("Authorization: Basic %s", sg_buf_str(&b64));
    p.sg_auth = sg_xasprintf("Authorization: Bearer %s", token);
    sg_buf_wipe(&raw);
    sg_buf_wipe(&b64);
    sg_wipe(password, sizeof(password));

    char client_id[64] = "", secret[65] = "", svc_password[65] = "";
    begin_step(&p, 1, "the OAuth app");
    int rc = oauth_app(&p, client_id, secret);
    if (rc == SG_OK) {
        begin_step(&p, 2, "instance and client");
        rc = configure_snowgate(&p, client_id, secret);
    }
    if (rc == SG_OK) {
        begin_step(&p, 3, "the update set");
        rc = import_update_set(&p, sg_cli_get(&cli, "accept-preview-problems") != NULL);
    }
    if (rc == SG_OK) {
        begin_step(&p, 4, "the service account");
        rc = service_user(&p, svc_password);
    }
    if (rc == SG_OK) {
        begin_step(&p, 5, "Connect and test");
        rc = connect_and_test(&p, svc_password);
    }
    sg_wipe(secret, sizeof(secret));
    sg_wipe(svc_password, sizeof(svc_password));
    sg_wipe(p.sn_auth, strlen(p.sn_auth));
    sg_wipe(p.sg_auth, strlen(p.sg_auth));
    free(p.sn_auth);
    free(p.sg_auth);
    if (rc != SG_OK) {
        fprintf(stderr, "snowgate servicenow provision: step %d (%s) failed: %s\n%s", p.step,
                p.step_name, sg_err_msg(), sg_buf_str(&p.detail));
        sg_buf_free(&p.detail);
        return SG_EXIT_FAIL;
    }
    sg_buf_free(&p.detail);
    printf("done: snowgate is connected to %s\n", p.instance);
    return SG_EXIT_OK;
}

int sg_cmd_servicenow(int argc, char **argv, char **envp)
{
    if (argc >= 2 && strcmp(argv[1], "provision") == 0)
        return provision(argc - 1, argv + 1, envp);
    /* --help shows provision's own help (the man page is made from it). */
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        sg_cli_usage(&spec, stdout);
        return SG_EXIT_OK;
    }
    fprintf(stderr, "Usage: snowgate servicenow provision --instance URL --admin-user U "
                    "[--admin-password-stdin] --snowgate URL --token T "
                    "[--accept-preview-problems] [--catalog-category SYS_ID]\n");
    return SG_EXIT_USAGE;
}
