/* store_cmd: `snowgate migrate` (apply schema migrations explicitly, for rolling upgrades) and
 * `snowgate store copy` (move an installation from one store to another, e.g. SQLite to
 * PostgreSQL, then verify counts and the audit hash chain). */
#include "core/buf.h"
#include "core/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/proc.h"
#include "core/str.h"
#include "gate/app.h"
#include "gate/commands.h"
#include "gate/governance/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const sg_embed_file sg_gate_migrations[];

static const sg_cli_flag migrate_flags[] = {
    {"data", "data_dir", "DIR", "data directory (as for serve)"},
    {"store", "store.url", "URL", "store location (as for serve)"},
    {"config", NULL, "FILE", "INI config file"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec migrate_spec = {
    "snowgate",
    "migrate",
    "Apply pending schema migrations and report the schema version. Refuses a schema newer "
    "than this binary knows. With several replicas: run it once, from the new version, before "
    "the new replicas start (they run with store.migrate = false).",
    NULL,
    migrate_flags,
    sg_gate_config_keys,
    "SNOWGATE_",
};

int sg_cmd_migrate(int argc, char **argv, char **envp)
{
    sg_app app;
    sg_cli_result cli;
    memset(&app, 0, sizeof(app));
    int status = sg_cli_parse(&migrate_spec, argc, argv, envp, &app.cfg, &cli);
    if (status >= 0)
        return status;
    sg_log_init(SG_LOG_WARN, SG_LOG_JSON, 2);
    /* First as it is, to report where it started; then migrated. */
    int before = 0, after = 0, latest = 0;
    int rc = sg_app_open_store(&app, false, false);
    if (rc == SG_OK)
        rc = sg_store_schema(app.store, &before, &latest);
    sg_store_close(app.store);
    app.store = NULL;
    if (rc == SG_OK)
        rc = sg_app_open_store(&app, true, true);
    if (rc == SG_OK)
        rc = sg_store_schema(app.store, &after, &latest);
    if (rc == SG_OK) {
        const char *be = sg_store_backend(app.store);
        if (before == 0 && after == latest && before != after)
            printf("schema version %d (%s): created\n", after, be);
        else if (before != after)
            printf("schema version %d -> %d (%s): %d migration%s applied\n", before, after, be,
                   after - before, after - before == 1 ? "" : "s");
        else
            printf("schema version %d (%s): up to date\n", after, be);
    } else {
        fprintf(stderr, "snowgate migrate: %s\n", sg_err_msg());
    }
    sg_store_close(app.store);
    app.store = NULL;
    sg_cfg_free(sg_gate_config_keys, &app.cfg);
    return rc == SG_OK ? SG_EXIT_OK : SG_EXIT_FAIL;
}

/* ---- store copy ---- */

/* Every table, parents before children (foreign keys). Tables kept by triggers
 * (request_counts) and the schema's own (schema_migrations) are not copied: the target
 * builds them itself, and the verification compares them. */
static const char *const copied[] = {
    "settings",
    "users",
    "api_tokens",
    "integrations",
    "webhook_events",
    "account_links",
    "oauth_states",
    "audit_log",
    "jobs",
    "connections",
    "assets",
    "requests",
    "request_history",
    "sessions",
    "login_failures",
    NULL,
};
static const char *const derived[] = {"schema_migrations", "request_counts", NULL};

static bool listed(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static int count(sg_conn *c, const char *table, int64_t *n)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
    return sg_conn_query_int(c, sql, NULL, 0, n);
}

/* What a store holds: every copied table's rows, and the requests its counters count. */
typedef struct tally {
    int64_t counts[32];
    int64_t by_state; /* sum of request_counts.n */
} tally;

static int counts_of(sg_conn *c, void *ctx)
{
    tally *v = ctx;
    for (size_t i = 0; copied[i]; i++) {
        int rc = count(c, copied[i], &v->counts[i]);
        if (rc != SG_OK)
            return rc;
    }
    return sg_conn_query_int(c, "SELECT COALESCE(SUM(n), 0) FROM request_counts", NULL, 0,
                             &v->by_state);
}

typedef struct copy_ctx {
    sg_store *src, *dst;
    sg_conn *from;
    tally source;          /* as copied, in the source's snapshot */
    sg_audit_report audit; /* the source's chain, verified before the copy */
    int64_t total, done;
    bool tty;
    int shown; /* the last percentage drawn */
} copy_ctx;

static void progress(copy_ctx *x, const char *table, int64_t n, int64_t of, bool force)
{
    int pct = x->total ? (int)(x->done * 100 / x->total) : 100;
    if (!x->tty) {
        if (force)
            fprintf(stderr, "copied %-16s %lld rows (%d%%)\n", table, (long long)n, pct);
        return;
    }
    if (!force && pct == x->shown)
        return;
    x->shown = pct;
    char bar[41];
    int fill = pct * 40 / 100;
    for (int i = 0; i < 40; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[40] = '\0';
    fprintf(stderr, "\r[%s] %3d%%  %-16s %lld/%lld   ", bar, pct, table, (long long)n,
            (long long)of);
    fflush(stderr);
}

/* The tables a store holds, to catch one that `copied` does not know. */
static int tables_of(sg_conn *c, const char *backend, char ***out, size_t *n)
{
    const char *sql = strcmp(backend, "postgres") == 0
                          ? "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                          : "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT "
                            "LIKE 'sqlite_%'";
    sg_rows *r = NULL;
    int rc = sg_conn_query(c, sql, NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    *out = NULL;
    *n = 0;
    int step;
    while ((step = sg_rows_next(r)) == 1) {
        *out = sg_xrealloc(*out, (*n + 1) * sizeof(char *));
        (*out)[(*n)++] = sg_xstrdup(sg_rows_text(r, 0));
    }
    sg_rows_free(r);
    return step < 0 ? step : SG_OK;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static int copy_table(copy_ctx *x, sg_conn *to, const char *table, int64_t rows)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT * FROM %s", table);
    sg_rows *r = NULL;
    int rc = sg_conn_query(x->from, sql, NULL, 0, &r);
    if (rc != SG_OK)
        return rc;
    sg_buf ins = SG_BUF_INIT(0);
    sg_val vals[64];
    int cols = 0, step;
    int64_t n = 0;
    while ((step = sg_rows_next(r)) == 1) {
        if (n == 0) {
            cols = sg_rows_columns(r);
            if (cols > 64) {
                rc = sg_err_set(SG_EINTERNAL, "table %s has too many columns", table);
                break;
            }
            sg_buf_printf(&ins, "INSERT INTO %s (", table);
            for (int i = 0; i < cols; i++)
                sg_buf_printf(&ins, "%s%s", i ? ", " : "", sg_rows_name(r, i));
            sg_buf_puts(&ins, ") VALUES (");
            for (int i = 0; i < cols; i++)
                sg_buf_printf(&ins, "%s?%d", i ? ", " : "", i + 1);
            sg_buf_puts(&ins, ")");
        }
        /* Values travel as text; each backend converts to the column's type. */
        for (int i = 0; i < cols; i++)
            vals[i] = sg_rows_null(r, i) ? SG_VNULL : SG_VTEXT(sg_rows_text(r, i));
        rc = sg_conn_exec(to, sg_buf_str(&ins), vals, (size_t)cols, NULL);
        if (rc != SG_OK) {
            sg_err_wrap(rc, "copying %s", table);
            break;
        }
        n++;
        x->done++;
        progress(x, table, n, rows, false);
    }
    sg_rows_free(r);
    sg_buf_free(&ins);
    if (rc == SG_OK && step < 0)
        rc = step;
    if (rc == SG_OK && n != rows)
        rc = sg_err_set(SG_ECONFLICT,
                        "%s changed during the copy (%lld rows, then %lld); stop "
                        "snowgate and copy again",
                        table, (long long)rows, (long long)n);
    if (rc == SG_OK)
        progress(x, table, n, rows, true);
    return rc;
}

static int copy_into(sg_conn *to, void *ctx)
{
    copy_ctx *x = ctx;
    for (size_t i = 0; copied[i]; i++) {
        int64_t there = 0;
        int rc = count(to, copied[i], &there);
        if (rc != SG_OK)
            return rc;
        if (there)
            return sg_err_set(SG_ECONFLICT,
                              "the target already holds data (%s has %lld rows); copy into an "
                              "empty database",
                              copied[i], (long long)there);
    }
    for (size_t i = 0; copied[i]; i++) {
        int rc = copy_table(x, to, copied[i], x->source.counts[i]);
        if (rc != SG_OK)
            return rc;
    }
    return SG_OK;
}

static int copy_from(sg_conn *from, void *ctx)
{
    copy_ctx *x = ctx;
    x->from = from;
    char **tables = NULL;
    size_t nt = 0;
    int rc = tables_of(from, sg_store_backend(x->src), &tables, &nt);
    for (size_t i = 0; rc == SG_OK && i < nt; i++)
        if (!listed(copied, tables[i]) && !listed(derived, tables[i]))
            rc = sg_err_set(SG_EINTERNAL,
                            "table %s is not known to store copy; this snowgate cannot copy "
                            "this store",
                            tables[i]);
    free_list(tables, nt);
    if (rc == SG_OK)
        rc = counts_of(from, &x->source);
    for (size_t i = 0; rc == SG_OK && copied[i]; i++)
        x->total += x->source.counts[i];
    if (rc == SG_OK)
        rc = sg_store_tx(x->dst, copy_into, x);
    return rc;
}

/* The target against what was copied: counts, request counts and the audit chain. */
static int verify(copy_ctx *x)
{
    const tally *a = &x->source;
    tally b = {{0}, 0};
    int rc = sg_store_read(x->dst, counts_of, &b);
    for (size_t i = 0; rc == SG_OK && copied[i]; i++)
        if (a->counts[i] != b.counts[i])
            rc = sg_err_set(SG_ECONFLICT, "verification failed: %s has %lld rows, the source %lld",
                            copied[i], (long long)b.counts[i], (long long)a->counts[i]);
    if (rc == SG_OK && a->by_state != b.by_state)
        rc = sg_err_set(SG_ECONFLICT, "verification failed: request counts differ (%lld, %lld)",
                        (long long)b.by_state, (long long)a->by_state);
    sg_audit_report rb = {0};
    if (rc == SG_OK)
        rc = sg_audit_verify(x->dst, &rb);
    if (rc == SG_OK && (x->audit.entries != rb.entries || strcmp(x->audit.head, rb.head) != 0))
        rc = sg_err_set(SG_ECONFLICT, "verification failed: the audit chain's head differs");
    if (rc == SG_OK)
        printf("verified: %lld rows in %zu tables, request counts match, audit chain intact "
               "(%lld entries, head %s)\n",
               (long long)x->total, sizeof(copied) / sizeof(copied[0]) - 1, (long long)rb.entries,
               rb.head);
    return rc;
}

static int open_at(const char *url, bool migrate, sg_store **out)
{
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrations = sg_gate_migrations;
    o.migrate = migrate;
    o.pool_size = 2;
    int rc = sg_store_open(&o, out);
    if (rc != SG_OK)
        return rc;
    int cur = 0, latest = 0;
    rc = sg_store_schema(*out, &cur, &latest);
    if (rc == SG_OK && cur != latest)
        rc = sg_err_set(SG_ECONFLICT,
                        "the source's schema is version %d, this snowgate's %d: run 'snowgate "
                        "migrate --store %s' first",
                        cur, latest, strstr(url, "://") ? "URL" : url);
    return rc;
}

static const sg_cli_flag copy_flags[] = {
    {"from", NULL, "URL", "the store to copy (sqlite:PATH or postgres://...); stop snowgate first"},
    {"to", NULL, "URL", "the empty store to fill (postgres://... or sqlite:PATH); migrated here"},
    {"master-key", NULL, "FILE",
     "the installation's master key: the audit chain is checked with it"},
    {NULL, NULL, NULL, NULL},
};

static const sg_cli_spec copy_spec = {
    "snowgate",
    "store copy",
    "Copy every row from one store to another (an empty one), in one transaction, then verify "
    "row counts and the audit hash chain on both sides (its HMACs need --master-key). Keep the "
    "same master key: the copied secrets are sealed with it.",
    NULL,
    copy_flags,
    NULL,
    "SNOWGATE_",
};

static int copy_cmd(int argc, char **argv, char **envp)
{
    sg_cli_result cli;
    int status = sg_cli_parse(&copy_spec, argc, argv, envp, NULL, &cli);
    if (status >= 0)
        return status;
    const char *from = sg_cli_get(&cli, "from"), *to = sg_cli_get(&cli, "to");
    const char *key_file = sg_cli_get(&cli, "master-key");
    if (!from || !to || !key_file) {
        fprintf(stderr, "snowgate store copy: --from, --to and --master-key are required\n");
        sg_cli_usage(&copy_spec, stderr);
        return SG_EXIT_USAGE;
    }
    if (strcmp(from, to) == 0) {
        fprintf(stderr, "snowgate store copy: --from and --to are the same store\n");
        return SG_EXIT_USAGE;
    }
    sg_log_init(SG_LOG_WARN, SG_LOG_JSON, 2);
    copy_ctx x = {.tty = isatty(2) == 1, .shown = -1};
    sg_secrets secrets;
    uint8_t key[SG_STORE_MAC_KEY_LEN];
    int rc = SG_OK;
    /* sg_secrets_open would create a missing key, and a new key verifies nothing. */
    if (access(key_file, F_OK) != 0)
        rc = sg_err_set(SG_EINVAL, "master key '%s' does not exist", key_file);
    if (rc == SG_OK && (rc = sg_secrets_open(key_file, &secrets)) == SG_OK) {
        rc = sg_audit_derive_key(&secrets, key);
        sg_secrets_close(&secrets);
    }
    if (rc == SG_OK && (rc = open_at(from, false, &x.src)) != SG_OK)
        sg_err_wrap(rc, "source");
    if (rc == SG_OK)
        sg_store_set_mac_key(x.src, key);
    /* A source that does not verify is not copied: the copy would look intact. */
    if (rc == SG_OK && (rc = sg_audit_verify(x.src, &x.audit)) != SG_OK)
        sg_err_wrap(rc, "source");
    if (rc == SG_OK && (rc = open_at(to, true, &x.dst)) != SG_OK)
        sg_err_wrap(rc, "target");
    if (rc == SG_OK)
        sg_store_set_mac_key(x.dst, key);
    sg_wipe(key, sizeof(key));
    if (rc == SG_OK)
        rc = sg_store_read(x.src, copy_from, &x);
    if (x.tty)
        fputc('\n', stderr);
    if (rc == SG_OK)
        rc = verify(&x);
    if (rc != SG_OK)
        fprintf(stderr, "snowgate store copy: %s\n", sg_err_msg());
    sg_store_close(x.src);
    sg_store_close(x.dst);
    return rc == SG_OK ? SG_EXIT_OK : SG_EXIT_FAIL;
}

int sg_cmd_store(int argc, char **argv, char **envp)
{
    if (argc >= 2 && strcmp(argv[1], "copy") == 0)
        return copy_cmd(argc - 1, argv + 1, envp);
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    fprintf(help ? stdout : stderr,
            "Usage: snowgate store copy --from URL --to URL --master-key FILE\n\n"
            "  copy   move an installation to another store (SQLite to PostgreSQL), verified\n");
    return help ? SG_EXIT_OK : SG_EXIT_USAGE;
}
