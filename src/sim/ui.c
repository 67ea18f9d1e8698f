/* ui: snowsim's own web pages, at the URLs a real instance uses, so the demo's ServiceNow side
 * can be used by hand:
 *   /login.do, /logout.do                 sign in and out (the glide_session_store cookie);
 *   /navpage.do                           My approvals: what awaits the signed-in user, with
 *                                         Approve and Reject;
 *   /<table>_list.do?sysparm_query=...    a read-only list of any table;
 *   /<table>.do?sys_id=...                a read-only record, its journal and its approvals;
 *   POST /sysapproval_approver.do         the Approve and Reject buttons.
 * Every read goes through the same ACLs as the Table API, and a decision is an update of the
 * sysapproval_approver record through the business rules and the approval engine, exactly as a
 * Table API PATCH would be. Forms carry the session's sysparm_ck. */
#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "http/client.h"
#include "http/form.h"
#include "sim/acl.h"
#include "sim/oauth.h"
#include "sim/query.h"
#include "sim/rules.h"
#include "sim/sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_ROWS 20
#define MAX_COLS  8

static const char STYLE[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2328}"
    "header{display:flex;gap:20px;align-items:center;background:#293e40;color:#fff;"
    "padding:10px 20px}header a{color:#fff;text-decoration:none}.brand{font-weight:700}"
    "header nav{display:flex;gap:14px;flex:1}.who{opacity:.85}"
    "main{max-width:1100px;margin:20px auto;padding:0 20px}"
    "h1{font-size:20px;margin:0 0 14px}h2{font-size:16px;margin:22px 0 8px}"
    "table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 3px #0002}"
    "th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e3e6ea;vertical-align:top}"
    "th{background:#eef0f3;font-weight:600}a{color:#1f5fae}"
    ".card{background:#fff;box-shadow:0 1px 3px #0002;border-radius:6px;padding:14px 16px;"
    "margin-bottom:14px}.card h2{margin:0 0 6px}.meta{color:#5b6670;font-size:13px}"
    ".desc{white-space:pre-wrap;margin:8px 0}textarea{width:100%;box-sizing:border-box;"
    "min-height:54px}button{padding:6px 16px;margin:8px 8px 0 0;cursor:pointer}"
    ".approve{background:#2e7d32;color:#fff;border:0}.reject{background:#c62828;color:#fff;"
    "border:0}.note{background:#e8f4fd;padding:8px 12px;border-radius:4px}"
    ".err{color:#b00020}.field{width:220px;color:#5b6670}.tables{columns:3}"
    ".entry{border-left:3px solid #c5ccd3;padding:4px 10px;margin:6px 0;background:#fff}"
    "form.filter{display:flex;gap:8px;margin-bottom:10px}form.filter input{flex:1;padding:6px}"
    "#record td{white-space:pre-wrap}form.filter "
    "button{margin:0}.login{max-width:360px;margin:10vh auto}"
    ".login input{width:100%;padding:8px;box-sizing:border-box}";

/* A page under construction: who is signed in and the HTML so far. */
typedef struct ui {
    sg_sim *sim;
    sg_http_req *req;
    sim_session s;
    sim_user u;
    sg_buf b;
} ui;

static void head(ui *x, const char *title, bool signed_in)
{
    sg_buf *b = &x->b;
    sg_buf_puts(b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width\"><title>");
    sg_buf_html(b, title);
    sg_buf_printf(b, " | snowsim</title><style>%s</style>", STYLE);
    if (signed_in)
        sg_buf_printf(b, "<meta name=\"sysparm_ck\" content=\"%s\">", x->s.csrf);
    sg_buf_puts(b, "</head><body>");
    if (signed_in) {
        sg_buf_puts(b, "<header><a class=\"brand\" href=\"/navpage.do\">snowsim</a><nav>"
                       "<a href=\"/navpage.do\">My approvals</a>"
                       "<a href=\"/sc_request_list.do\">Requests</a>"
                       "<a href=\"/sysapproval_approver_list.do\">Approvals</a>"
                       "<a href=\"/sys_journal_field_list.do\">Journal</a>"
                       "<a href=\"/navpage.do#tables\">Tables</a></nav><span class=\"who\">");
        sg_buf_html(b, x->u.user_name);
        sg_buf_puts(b, " &middot; <a href=\"/logout.do\" id=\"logout\">Log out</a></span>"
                       "</header>");
    }
    sg_buf_puts(b, "<main><h1>");
    sg_buf_html(b, title);
    sg_buf_puts(b, "</h1>");
}

static int send(ui *x, int status)
{
    sg_buf_puts(&x->b, "</main></body></html>");
    sg_http_set_header(x->req, "Content-Security-Policy",
                       "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                       "frame-ancestors 'none'");
    sg_http_set_header(x->req, "X-Frame-Options", "DENY");
    sg_http_set_header(x->req, "Referrer-Policy", "same-origin");
    sg_http_set_header(x->req, "Cache-Control", "no-store");
    int rc = sg_http_reply(x->req, status, "text/html;charset=UTF-8", x->b.data, x->b.len);
    sg_buf_free(&x->b);
    return rc;
}

static int redirect(sg_http_req *req, const char *location)
{
    sg_http_set_header(req, "Location", location);
    sg_http_set_header(req, "Cache-Control", "no-store");
    return sg_http_reply(req, 303, "text/plain", "", 0);
}

static int message_page(ui *x, int status, const char *title, const char *message)
{
    head(x, title, x->u.sys_id[0] != '\0');
    sg_buf_puts(&x->b, "<p class=\"err\" role=\"alert\">");
    sg_buf_html(&x->b, message);
    sg_buf_puts(&x->b, "</p><p><a href=\"/navpage.do\">Back to My approvals</a></p>");
    return send(x, status);
}

/* A local path to go back to after signing in: "/..." but not "//host" or a scheme. */
static bool safe_goto(const char *g)
{
    if (!g || g[0] != '/' || g[1] == '/' || g[1] == '\\')
        return false;
    for (const char *p = g; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == '\\' || *p == 0x7f)
            return false;
    return strlen(g) < 2048;
}

static void add_query(void *ctx, const char *key, const char *value)
{
    sg_buf *b = ctx;
    char *k = sg_http_escape(key), *v = sg_http_escape(value);
    sg_buf_printf(b, "%c%s=%s", b->len ? '&' : '?', k, v);
    free(k);
    free(v);
}

/* Signs the browser in or sends it to the login page (and back here afterwards). */
static bool enter(sg_sim *sim, sg_http_req *req, ui *x)
{
    memset(x, 0, sizeof(*x));
    x->sim = sim;
    x->req = req;
    x->b = (sg_buf)SG_BUF_INIT(0);
    int rc = SG_EAUTH;
    if (sim_session_of(sim, req, &x->s)) {
        sim_db_rdlock(sim->db);
        rc = sim_auth_load_user(sim->db, x->s.user_id, &x->u);
        sim_db_unlock(sim->db);
    }
    if (rc == SG_OK)
        return true;
    sg_buf q = SG_BUF_INIT(0);
    sg_http_query_each(req, add_query, &q);
    char *here = sg_xasprintf("%s%s", sg_http_path(req), sg_buf_str(&q));
    char *esc = sg_http_escape(here);
    char *loc = sg_xasprintf("/login.do?sysparm_goto=%s", esc);
    redirect(req, loc);
    free(loc);
    free(esc);
    free(here);
    sg_buf_free(&q);
    return false;
}

void sim_html_hidden(sg_buf *b, const char *name, const char *value)
{
    sg_buf_puts(b, "<input type=\"hidden\" name=\"");
    sg_buf_html(b, name);
    sg_buf_puts(b, "\" value=\"");
    sg_buf_html(b, value);
    sg_buf_puts(b, "\">");
}

/* ---- signing in and out ---- */

static int login_page(sg_http_req *req, const char *go, const char *error)
{
    ui x = {.req = req, .b = SG_BUF_INIT(0)};
    head(&x, "Log in", false);
    sg_buf *b = &x.b;
    /* head() opened <main>; the form sits in a narrow card inside it. */
    sg_buf_puts(b, "<div class=\"card login\">");
    if (error) {
        sg_buf_puts(b, "<p class=\"err\" role=\"alert\">");
        sg_buf_html(b, error);
        sg_buf_puts(b, "</p>");
    }
    sg_buf_puts(b, "<form method=\"post\" action=\"/login.do\">");
    sim_html_hidden(b, "sysparm_goto", safe_goto(go) ? go : "/navpage.do");
    sg_buf_puts(b, "<label for=\"user_name\">User name</label>"
                   "<input type=\"text\" id=\"user_name\" name=\"user_name\" autofocus "
                   "autocomplete=\"username\"><label for=\"user_password\">Password</label>"
                   "<input type=\"password\" id=\"user_password\" name=\"user_password\" "
                   "autocomplete=\"current-password\">"
                   "<button type=\"submit\" id=\"sysverb_login\">Log in</button></form></div>");
    return send(&x, error ? 401 : 200);
}

int api_ui_login_page(sg_http_req *req, void *simv)
{
    (void)simv;
    return login_page(req, sg_http_query(req, "sysparm_goto"), NULL);
}

int sim_ui_login(sg_sim *sim, sg_http_req *req, const sg_form *f)
{
    const char *user = sg_form_get(f, "user_name"), *pw = sg_form_get(f, "user_password");
    const char *go = sg_form_get(f, "sysparm_goto");
    sim_user u;
    if (!user || !*user || !pw || sim_auth_password(sim->auth, user, pw, &u) != SG_OK)
        return login_page(req, go, "User name or password invalid");
    sim_session s;
    sim_session_new(sim, req, u.sys_id, &s);
    return redirect(req, safe_goto(go) ? go : "/navpage.do");
}

int api_ui_logout(sg_http_req *req, void *simv)
{
    sim_session_end(simv, req);
    return redirect(req, "/login.do");
}

int api_ui_home(sg_http_req *req, void *simv)
{
    (void)simv;
    return redirect(req, "/navpage.do");
}

/* ---- values ---- */

/* Writes a field's value: a reference as a link to its record, showing its display value. */
static void cell(ui *x, const sim_rec *r, const char *path, const sim_qctx *qc)
{
    const sim_field *fd = sim_field_resolve(r->t, path);
    if (!fd || fd->type == SIM_PASSWORD || fd->type == SIM_JOURNAL)
        return;
    char *v = sim_field_value(qc, r, path);
    if (fd->type == SIM_REFERENCE && *v) {
        const sim_table *rt = sim_dict_table(fd->ref);
        sim_rec *target = rt ? sim_db_get(x->sim->db, rt, v) : NULL;
        if (target) {
            const char *disp = rt->display ? sim_rec_get(target, rt->display) : "";
            if (!*disp && sim_dict_field(target->t, "user_name"))
                disp = sim_rec_get(target, "user_name"); /* a user without a full name */
            sg_buf_printf(&x->b, "<a href=\"/%s.do?sys_id=%s\">", target->t->name, target->sys_id);
            sg_buf_html(&x->b, *disp ? disp : target->sys_id);
            sg_buf_puts(&x->b, "</a>");
        } else {
            sg_buf_html(&x->b, v);
        }
    } else {
        sg_buf_html(&x->b, v);
    }
    free(v);
}

static bool field_readable(ui *x, const sim_rec *r, const char *path)
{
    char top[128];
    snprintf(top, sizeof(top), "%.*s", (int)strcspn(path, "."), path);
    return sim_acl_can(x->sim->db, &x->u, r->t, "read", r, top, NULL, NULL);
}

static const char *const *default_columns(const sim_table *t)
{
    static const struct {
        const char *table;
        const char *cols[MAX_COLS + 1];
    } known[] = {
        {"sysapproval_approver",
         {"sysapproval", "sysapproval.short_description", "approver", "state", "sys_updated_on"}},
        {"sc_request",
         {"number", "short_description", "requested_for", "approval", "request_state",
          "correlation_id", "sys_created_on"}},
        {"sc_req_item",
         {"number", "cat_item", "request", "requested_for", "approval", "stage", "sys_created_on"}},
        {"sys_journal_field",
         {"name", "element", "element_id", "value", "sys_created_by", "sys_created_on"}},
        {"sys_user", {"user_name", "name", "email", "active", "sys_created_on"}},
        {"sys_user_has_role", {"user", "role", "sys_created_on"}},
        {"sys_script", {"name", "collection", "when", "active", "sys_updated_on"}},
        {"sys_remote_update_set", {"name", "state", "commit_date", "sys_created_on"}},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(known[i].table, t->name) == 0)
            return known[i].cols;
    return NULL;
}

/* The list's columns: sysparm_fields, or the table's usual ones, or its display field and
 * first own fields. `first` (a record of the list, may be NULL) names a dynamic table's. */
static int columns(const sim_table *t, const char *fields, const sim_rec *first,
                   char cols[MAX_COLS][128])
{
    int n = 0;
    if (fields && *fields) {
        const char *p = fields;
        while (*p && n < MAX_COLS) {
            size_t len = strcspn(p, ",");
            snprintf(cols[n], 128, "%.*s", (int)(len < 127 ? len : 127), p);
            if (cols[n][0] && sim_field_resolve(t, cols[n]))
                n++;
            p += len + (p[len] == ',');
        }
        if (n)
            return n;
    }
    const char *const *known = default_columns(t);
    if (known) {
        for (; *known && n < MAX_COLS; known++)
            sg_strlcpy(cols[n++], *known, 128);
        return n;
    }
    if (t->display)
        sg_strlcpy(cols[n++], t->display, 128);
    for (size_t i = 0; i < t->nfields && n < MAX_COLS - 1; i++) {
        const sim_field *f = &t->fields[i];
        if (f->type == SIM_PASSWORD || f->type == SIM_JOURNAL ||
            (t->display && strcmp(f->name, t->display) == 0))
            continue;
        sg_strlcpy(cols[n++], f->name, 128);
    }
    if (t->dynamic && first)
        for (void *it = sg_json_iter(first->f); it && n < MAX_COLS - 1;
             it = sg_json_iter_next(first->f, it))
            if (!sim_dict_is_sys_field(sg_json_iter_key(it)))
                sg_strlcpy(cols[n++], sg_json_iter_key(it), 128);
    sg_strlcpy(cols[n++], "sys_updated_on", 128);
    return n;
}

/* ---- lists ---- */

typedef struct collect_ctx {
    ui *x;
    sim_query *q;
    sim_qctx qc;
    sim_rec **recs;
    size_t n, cap;
    size_t hidden;    /* matched but not readable: "removed by security constraints" */
    bool comments_ok; /* journal entries of the record being shown */
} collect_ctx;

static bool collect(void *ctx, sim_rec *r)
{
    collect_ctx *c = ctx;
    /* Comments on a record are shown to whoever may read the record (as the activity
     * stream does); everything else needs its own read ACL. */
    bool comment = c->comments_ok && strcmp(sim_rec_get(r, "element"), "comments") == 0;
    if (!comment && !sim_acl_can(c->x->sim->db, &c->x->u, r->t, "read", r, NULL, NULL, NULL)) {
        c->hidden++;
        return true;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->recs = sg_xrealloc(c->recs, c->cap * sizeof(*c->recs));
    }
    c->recs[c->n++] = r;
    return true;
}

/* Collects the readable records of t matching q, newest first unless q orders them. */
static void query(ui *x, const sim_table *t, const char *q, bool comments_ok, collect_ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->x = x;
    c->comments_ok = comments_ok;
    c->qc = (sim_qctx){x->sim->db, x->u.sys_id, x->u.user_name, NULL};
    sim_query_parse(q, t, &c->q);
    sim_query_each(c->q, &c->qc, collect, c);
    if (q && strstr(q, "ORDERBY"))
        sim_query_sort(c->q, &c->qc, c->recs, c->n);
    else
        for (size_t i = 0; i < c->n / 2; i++) {
            sim_rec *tmp = c->recs[i];
            c->recs[i] = c->recs[c->n - 1 - i];
            c->recs[c->n - 1 - i] = tmp;
        }
}

static void query_free(collect_ctx *c)
{
    sim_query_free(c->q);
    free(c->recs);
}

static void table_rows(ui *x, sim_rec **recs, size_t from, size_t to, char cols[][128], int ncols,
                       const sim_qctx *qc)
{
    sg_buf *b = &x->b;
    sg_buf_puts(b, "<table><thead><tr>");
    for (int i = 0; i < ncols; i++) {
        sg_buf_puts(b, "<th>");
        sg_buf_html(b, cols[i]);
        sg_buf_puts(b, "</th>");
    }
    sg_buf_puts(b, "</tr></thead><tbody>");
    for (size_t i = from; i < to; i++) {
        sim_rec *r = recs[i];
        sg_buf_printf(b, "<tr data-sys-id=\"%s\">", r->sys_id);
        for (int j = 0; j < ncols; j++) {
            sg_buf_puts(b, "<td>");
            if (j == 0)
                sg_buf_printf(b, "<a class=\"open\" href=\"/%s.do?sys_id=%s\">", r->t->name,
                              r->sys_id);
            bool ok = field_readable(x, r, cols[j]);
            if (ok)
                cell(x, r, cols[j], qc);
            if (j == 0) {
                const char *v = ok ? sim_rec_get(r, cols[j]) : "";
                if (!*v || strchr(cols[j], '.'))
                    sg_buf_puts(b, " (open)");
                sg_buf_puts(b, "</a>");
            }
            sg_buf_puts(b, "</td>");
        }
        sg_buf_puts(b, "</tr>");
    }
    sg_buf_puts(b, "</tbody></table>");
}

static int list_page(ui *x, const sim_table *t)
{
    const char *q = sg_http_query(x->req, "sysparm_query");
    int64_t first = 1;
    const char *fr = sg_http_query(x->req, "sysparm_first_row");
    if (fr && *fr && sg_parse_i64(fr, 1, INT32_MAX, "sysparm_first_row", &first) != SG_OK)
        first = 1;
    char title[160];
    snprintf(title, sizeof(title), "%s list", t->name);
    head(x, title, true);
    sg_buf *b = &x->b;
    sg_buf_printf(b,
                  "<form class=\"filter\" method=\"get\" action=\"/%s_list.do\">"
                  "<input name=\"sysparm_query\" aria-label=\"Encoded query\" "
                  "placeholder=\"encoded query, e.g. active=true^ORDERBYDESCsys_created_on\" "
                  "value=\"",
                  t->name);
    sg_buf_html(b, q ? q : "");
    sg_buf_puts(b, "\"><button type=\"submit\">Filter</button></form>");

    collect_ctx c;
    sim_db_rdlock(x->sim->db);
    query(x, t, q, false, &c);
    char cols[MAX_COLS][128];
    int ncols = columns(t, sg_http_query(x->req, "sysparm_fields"), c.n ? c.recs[0] : NULL, cols);
    size_t from = (size_t)first - 1 < c.n ? (size_t)first - 1 : c.n;
    size_t to = from + PAGE_ROWS < c.n ? from + PAGE_ROWS : c.n;
    if (c.n)
        sg_buf_printf(b, "<p class=\"meta\" id=\"count\">Rows %zu to %zu of %zu</p>", from + 1, to,
                      c.n);
    else
        sg_buf_puts(b, "<p class=\"meta\" id=\"count\">No records to display</p>");
    table_rows(x, c.recs, from, to, cols, ncols, &c.qc);
    sim_db_unlock(x->sim->db);
    if (c.hidden)
        sg_buf_printf(b,
                      "<p class=\"meta\">Number of rows removed from this list by Security "
                      "constraints: %zu</p>",
                      c.hidden);
    char *eq = sg_http_escape(q ? q : "");
    if (from > 0)
        sg_buf_printf(b,
                      "<a href=\"/%s_list.do?sysparm_query=%s&amp;sysparm_first_row=%zu\" "
                      "rel=\"prev\">Previous</a> ",
                      t->name, eq, from >= PAGE_ROWS ? from - PAGE_ROWS + 1 : 1);
    if (to < c.n)
        sg_buf_printf(b,
                      "<a href=\"/%s_list.do?sysparm_query=%s&amp;sysparm_first_row=%zu\" "
                      "rel=\"next\">Next</a>",
                      t->name, eq, to + 1);
    free(eq);
    query_free(&c);
    return send(x, 200);
}

/* ---- records ---- */

typedef struct form_ctx {
    ui *x;
    const sim_rec *r;
    const sim_qctx *qc;
} form_ctx;

static void field_row(void *ctx, const sim_field *fd)
{
    form_ctx *c = ctx;
    /* Empty fields are left out: the page shows what the record holds. */
    if (fd->type == SIM_PASSWORD || fd->type == SIM_JOURNAL || !*sim_rec_get(c->r, fd->name) ||
        !field_readable(c->x, c->r, fd->name))
        return;
    sg_buf_puts(&c->x->b, "<tr><th class=\"field\">");
    sg_buf_html(&c->x->b, fd->name);
    sg_buf_printf(&c->x->b, "</th><td data-field=\"%s\">", fd->name);
    cell(c->x, c->r, fd->name, c->qc);
    sg_buf_puts(&c->x->b, "</td></tr>");
}

/* The journal (work notes, comments) of a record, newest first. */
static void journal(ui *x, const sim_rec *r)
{
    char q[96];
    snprintf(q, sizeof(q), "element_id=%s", r->sys_id);
    collect_ctx c;
    query(x, sim_dict_table("sys_journal_field"), q, true, &c);
    sg_buf *b = &x->b;
    sg_buf_puts(b, "<h2>Activity</h2><div id=\"activity\">");
    if (!c.n)
        sg_buf_puts(b, "<p class=\"meta\">No work notes or comments.</p>");
    for (size_t i = 0; i < c.n; i++) {
        sg_buf_puts(b, "<div class=\"entry\"><div class=\"meta\">");
        sg_buf_html(b, sim_rec_get(c.recs[i], "sys_created_by"));
        sg_buf_puts(b, " &middot; ");
        sg_buf_html(b, sim_rec_get(c.recs[i], "element"));
        sg_buf_puts(b, " &middot; ");
        sg_buf_html(b, sim_rec_get(c.recs[i], "sys_created_on"));
        sg_buf_puts(b, " UTC</div><div class=\"desc\">");
        sg_buf_html(b, sim_rec_get(c.recs[i], "value"));
        sg_buf_puts(b, "</div></div>");
    }
    sg_buf_puts(b, "</div>");
    query_free(&c);
}

/* The approvals of a task, as a related list. */
static void approvals_of(ui *x, const sim_rec *task)
{
    char q[96];
    snprintf(q, sizeof(q), "sysapproval=%s", task->sys_id);
    const sim_table *t = sim_dict_table("sysapproval_approver");
    collect_ctx c;
    query(x, t, q, false, &c);
    sg_buf_puts(&x->b, "<h2>Approvers</h2>");
    char cols[MAX_COLS][128] = {"approver", "state", "sys_updated_on"};
    if (c.n)
        table_rows(x, c.recs, 0, c.n, cols, 3, &c.qc);
    else
        sg_buf_puts(&x->b, "<p class=\"meta\">No approvals.</p>");
    query_free(&c);
}

static bool awaits(const ui *x, const sim_rec *approval)
{
    return strcmp(approval->t->name, "sysapproval_approver") == 0 &&
           strcmp(sim_rec_get(approval, "approver"), x->u.sys_id) == 0 &&
           strcmp(sim_rec_get(approval, "state"), "requested") == 0;
}

/* Approve and Reject, with a comment (required to reject, as on an instance). */
static void decision_form(ui *x, const sim_rec *approval, const char *back)
{
    sg_buf *b = &x->b;
    sg_buf_puts(b, "<form method=\"post\" action=\"/sysapproval_approver.do\" class=\"decide\">");
    sim_html_hidden(b, "sys_id", approval->sys_id);
    sim_html_hidden(b, "sysparm_ck", x->s.csrf);
    sim_html_hidden(b, "sysparm_goto", back);
    sg_buf_printf(b,
                  "<label for=\"comments-%s\" class=\"meta\">Comments (required to reject)"
                  "</label><textarea id=\"comments-%s\" name=\"comments\"></textarea>",
                  approval->sys_id, approval->sys_id);
    sg_buf_puts(b, "<button type=\"submit\" class=\"approve\" name=\"sys_action\" "
                   "value=\"approve\">Approve</button><button type=\"submit\" class=\"reject\" "
                   "name=\"sys_action\" value=\"reject\">Reject</button></form>");
}

static int record_page(ui *x, const sim_table *t)
{
    const char *id = sg_http_query(x->req, "sys_id");
    sim_db_rdlock(x->sim->db);
    sim_rec *r = id ? sim_db_get(x->sim->db, t, id) : NULL;
    if (!r || !sim_acl_can(x->sim->db, &x->u, r->t, "read", r, NULL, NULL, NULL)) {
        sim_db_unlock(x->sim->db);
        return message_page(x, 404, "Record not found",
                            "No record with this sys_id, or you may not read it.");
    }
    char title[200];
    const char *disp = r->t->display ? sim_rec_get(r, r->t->display) : "";
    snprintf(title, sizeof(title), "%s %s", r->t->name, *disp ? disp : r->sys_id);
    head(x, title, true);
    sg_buf *b = &x->b;
    sg_buf_printf(b, "<p class=\"meta\"><a href=\"/%s_list.do\">All %s records</a></p>", r->t->name,
                  r->t->name);
    if (awaits(x, r)) {
        sg_buf_puts(b, "<div class=\"card\">");
        char back[96];
        snprintf(back, sizeof(back), "/sysapproval_approver.do?sys_id=%s", r->sys_id);
        decision_form(x, r, back);
        sg_buf_puts(b, "</div>");
    }
    sim_qctx qc = {x->sim->db, x->u.sys_id, x->u.user_name, NULL};
    form_ctx fc = {x, r, &qc};
    sg_buf_puts(b, "<table id=\"record\"><tbody>");
    sg_buf_printf(b, "<tr><th class=\"field\">sys_id</th><td data-field=\"sys_id\">%s</td></tr>",
                  r->sys_id);
    if (r->t->dynamic)
        for (void *it = sg_json_iter(r->f); it; it = sg_json_iter_next(r->f, it)) {
            const char *k = sg_json_iter_key(it);
            const sim_field *fd = sim_dict_is_sys_field(k) ? NULL : sim_dict_field(r->t, k);
            if (fd)
                field_row(&fc, fd);
        }
    sim_dict_each_field(r->t, field_row, &fc);
    sg_buf_puts(b, "</tbody></table>");
    if (sim_dict_is_a(r->t, sim_dict_table("task")))
        approvals_of(x, r);
    journal(x, r);
    sim_db_unlock(x->sim->db);
    return send(x, 200);
}

/* ---- My approvals ---- */

static void approval_card(ui *x, const sim_rec *a)
{
    sg_buf *b = &x->b;
    sim_rec *task = sim_db_get(x->sim->db, sim_dict_table("task"), sim_rec_get(a, "sysapproval"));
    sg_buf_printf(b, "<section class=\"card approval\" data-sys-id=\"%s\"><h2>", a->sys_id);
    if (task) {
        sg_buf_printf(b, "<a href=\"/%s.do?sys_id=%s\">", task->t->name, task->sys_id);
        sg_buf_html(b, sim_rec_get(task, "number"));
        sg_buf_puts(b, "</a> ");
        sg_buf_html(b, sim_rec_get(task, "short_description"));
    } else {
        sg_buf_puts(b, "(the record to approve is gone)");
    }
    sg_buf_puts(b, "</h2><div class=\"meta\">");
    if (task && sim_dict_field(task->t, "requested_for")) {
        const char *who = sim_rec_get(task, "requested_for");
        sim_rec *u = *who ? sim_db_get(x->sim->db, sim_dict_table("sys_user"), who) : NULL;
        sg_buf_puts(b, "Requested for ");
        sg_buf_html(b, u ? sim_rec_get(u, "user_name") : "(nobody)");
        sg_buf_puts(b, " &middot; ");
    }
    sg_buf_puts(b, "awaiting your approval since ");
    sg_buf_html(b, sim_rec_get(a, "sys_created_on"));
    sg_buf_printf(b,
                  " UTC &middot; <a href=\"/sysapproval_approver.do?sys_id=%s\">approval "
                  "record</a></div>",
                  a->sys_id);
    if (task) {
        sg_buf_puts(b, "<div class=\"desc\">");
        sg_buf_html(b, sim_rec_get(task, "description"));
        sg_buf_puts(b, "</div>");
    }
    decision_form(x, a, "/navpage.do");
    sg_buf_puts(b, "</section>");
}

static void table_index(ui *x)
{
    sg_buf *b = &x->b;
    sg_buf_puts(b, "<h2 id=\"tables\">Tables</h2><ul class=\"tables\">");
    for (const sim_table *const *t = sim_dict_tables(); *t; t++)
        sg_buf_printf(b, "<li><a href=\"/%s_list.do\">%s</a></li>", (*t)->name, (*t)->name);
    sg_buf_puts(b, "</ul>");
}

int api_ui_navpage(sg_http_req *req, void *simv)
{
    ui x;
    if (!enter(simv, req, &x))
        return SG_OK;
    head(&x, "My approvals", true);
    sg_buf *b = &x.b;
    sim_db_rdlock(x.sim->db);
    const char *done = sg_http_query(req, "sysparm_done");
    sim_rec *d = done && sim_is_sys_id(done)
                     ? sim_db_get(x.sim->db, sim_dict_table("sysapproval_approver"), done)
                     : NULL;
    if (d && strcmp(sim_rec_get(d, "approver"), x.u.sys_id) == 0) {
        sim_rec *task =
            sim_db_get(x.sim->db, sim_dict_table("task"), sim_rec_get(d, "sysapproval"));
        sg_buf_puts(b, "<p class=\"note\" role=\"status\">");
        sg_buf_html(b, task ? sim_rec_get(task, "number") : "The approval");
        sg_buf_puts(b, " ");
        sg_buf_html(b, sim_rec_get(d, "state"));
        sg_buf_puts(b, ".</p>");
    }
    /* The same query and ACLs as the Approvals list, newest first. */
    char q[96];
    snprintf(q, sizeof(q), "approver=%s^state=requested", x.u.sys_id);
    collect_ctx mc;
    query(&x, sim_dict_table("sysapproval_approver"), q, false, &mc);
    if (!mc.n)
        sg_buf_puts(b, "<p id=\"none\">Nothing awaits your approval.</p>");
    for (size_t i = 0; i < mc.n; i++)
        approval_card(&x, mc.recs[i]);
    query_free(&mc);
    table_index(&x);
    sim_db_unlock(x.sim->db);
    return send(&x, 200);
}

/* ---- /<table>_list.do, /<table>.do ---- */

int api_ui_page(sg_http_req *req, void *simv)
{
    ui x;
    const char *page = sg_http_param(req, "page");
    size_t n = strlen(page);
    bool list = n > 8 && strcmp(page + n - 8, "_list.do") == 0;
    bool form = !list && n > 3 && strcmp(page + n - 3, ".do") == 0;
    if (!list && !form) {
        x = (ui){.req = req, .b = SG_BUF_INIT(0)};
        return message_page(&x, 404, "Page not found", "snowsim has no page at this address.");
    }
    if (!enter(simv, req, &x))
        return SG_OK;
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)(n - (list ? 8 : 3)), page);
    const sim_table *t = sim_dict_table(name);
    if (!t)
        return message_page(&x, 404, "Page not found", "No table has this name.");
    return list ? list_page(&x, t) : record_page(&x, t);
}

/* POST /sysapproval_approver.do: Approve or Reject. */
int api_ui_action(sg_http_req *req, void *simv)
{
    ui x;
    if (!enter(simv, req, &x))
        return SG_OK;
    if (strcmp(sg_http_param(req, "page"), "sysapproval_approver.do") != 0)
        return message_page(&x, 405, "Read only", "Only approvals can be changed here.");
    size_t len = 0;
    const char *body = sg_http_body(req, &len);
    sg_form *f = NULL;
    if (sg_form_parse(body, len, &f) != SG_OK)
        return message_page(&x, 400, "Bad form", "The form data is malformed.");
    const char *ck = sg_form_get(f, "sysparm_ck"), *id = sg_form_get(f, "sys_id");
    const char *action = sg_form_get(f, "sys_action"), *comments = sg_form_get(f, "comments");
    const char *go = sg_form_get(f, "sysparm_goto");
    int rc;
    if (!ck || strlen(ck) != 32 || !sg_ct_equal(ck, x.s.csrf, 32)) {
        rc = message_page(&x, 403, "Session expired",
                          "This form is from an older session; reload the page and try again.");
        goto done;
    }
    bool approve = action && strcmp(action, "approve") == 0;
    if (!approve && !(action && strcmp(action, "reject") == 0)) {
        rc = message_page(&x, 400, "Bad form", "sys_action must be approve or reject.");
        goto done;
    }
    if (!approve && (!comments || !*comments)) {
        rc = message_page(&x, 400, "Comments required",
                          "Comments are required when rejecting an approval.");
        goto done;
    }
    const char *problem = NULL;
    char rule_error[256] = "";
    sim_db_wrlock(x.sim->db);
    sim_rec *r = id ? sim_db_get(x.sim->db, sim_dict_table("sysapproval_approver"), id) : NULL;
    if (!r || !sim_acl_can(x.sim->db, &x.u, r->t, "read", r, NULL, NULL, NULL))
        problem = "No such approval, or you may not read it.";
    else if (!sim_acl_can(x.sim->db, &x.u, r->t, "write", r, NULL, NULL, NULL))
        problem = "You may not decide this approval.";
    else if (strcmp(sim_rec_get(r, "state"), "requested") != 0)
        problem = "This approval is already decided.";
    if (!problem) {
        sg_json *v = sg_json_object();
        sg_json_set_str(v, "state", approve ? "approved" : "rejected");
        if (comments && *comments)
            sg_json_set_str(v, "comments", comments);
        int ur = sim_rules_update(x.sim, &x.u, r, v, 0);
        sg_json_decref(v);
        if (ur != SG_OK) {
            snprintf(rule_error, sizeof(rule_error), "%s", sg_err_msg());
            problem = rule_error;
        }
    }
    sim_db_unlock(x.sim->db);
    if (problem) {
        rc = message_page(&x, 409, "Not decided", problem);
        goto done;
    }
    char loc[160];
    if (go && strcmp(go, "/navpage.do") == 0)
        snprintf(loc, sizeof(loc), "/navpage.do?sysparm_done=%s", id);
    else
        snprintf(loc, sizeof(loc), "/sysapproval_approver.do?sys_id=%s", id);
    rc = redirect(req, loc);
done:
    sg_form_free(f);
    return rc;
}
