/* pg_server: a throwaway PostgreSQL server per test program. */
#include "e2e/pg_server.h"

#include "e2e/harness.h"

#include "core/err.h"
#include "core/mem.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void h_pg_start(h_pg *pg)
{
    memset(pg, 0, sizeof(*pg));
    pg->dir = h_tmpdir("pg");
    pg->port = h_free_port();
    snprintf(pg->sock, sizeof(pg->sock), "%s/pg/sock", pg->dir);
    char port[16];
    snprintf(port, sizeof(port), "%d", pg->port);
    const char *argv[] = {SG_SOURCE_DIR "/tests/e2e/pg-server.sh", "start", pg->dir, port, NULL};
    sg_buf err = SG_BUF_INIT(0);
    int st = h_run(argv, NULL, 120000, NULL, &err);
    if (st != 0)
        fail_msg("could not start PostgreSQL (%d): %s", st, sg_buf_str(&err));
    sg_buf_free(&err);
}

void h_pg_stop(h_pg *pg)
{
    const char *argv[] = {SG_SOURCE_DIR "/tests/e2e/pg-server.sh", "stop", pg->dir, NULL};
    h_run(argv, NULL, 60000, NULL, NULL);
    h_rmdir(pg->dir);
    free(pg->dir);
    pg->dir = NULL;
}

static PGconn *connect_as_superuser(const h_pg *pg, const char *db)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", pg->port);
    const char *kw[] = {"host", "port", "user", "dbname", NULL};
    const char *val[] = {pg->sock, port, "postgres", db, NULL};
    PGconn *c = PQconnectdbParams(kw, val, 0);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("cannot connect to the test PostgreSQL: %s", PQerrorMessage(c));
    return c;
}

void h_pg_exec(const h_pg *pg, const char *db, const char *sql)
{
    PGconn *c = connect_as_superuser(pg, db);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

char *h_pg_value(const h_pg *pg, const char *db, const char *sql, int nparams,
                 const char *const *params)
{
    PGconn *c = connect_as_superuser(pg, db);
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    char *v = sg_xstrdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
    return v;
}

struct h_pg_session {
    PGconn *conn;
};

h_pg_session *h_pg_hold(const h_pg *pg, const char *db, const char *sql)
{
    h_pg_session *s = sg_xcalloc(1, sizeof(*s));
    s->conn = connect_as_superuser(pg, db);
    PGresult *r = PQexec(s->conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(s->conn));
    PQclear(r);
    return s;
}

void h_pg_release(h_pg_session *s)
{
    if (!s)
        return;
    PQfinish(s->conn);
    free(s);
}

bool h_pg_has(const h_pg *pg, const char *db, const char *role, const char *table,
              const char *privilege)
{
    const char *p[] = {role, table, privilege};
    char *v = h_pg_value(pg, db, "SELECT has_table_privilege($1, $2, $3)", 3, p);
    bool has = strcmp(v, "t") == 0;
    free(v);
    return has;
}

void h_pg_analytics(const h_pg *pg, const char *password, const char *const *tables,
                    const char *const *roles)
{
    h_pg_exec(pg, "postgres", "DROP DATABASE IF EXISTS analytics WITH (FORCE)");
    h_pg_exec(pg, "postgres", "DROP ROLE IF EXISTS snowgate_grantor");
    h_pg_exec(pg, "postgres", "CREATE DATABASE analytics");
    sg_buf sql = SG_BUF_INIT(0);
    sg_buf_printf(&sql, "CREATE ROLE snowgate_grantor LOGIN PASSWORD '%s';", password);
    for (const char *const *r = roles; r && *r; r++)
        sg_buf_printf(&sql, " CREATE ROLE %s NOLOGIN;", *r);
    h_pg_exec(pg, "postgres", sg_buf_str(&sql));
    sg_buf_reset(&sql);
    sg_buf_puts(&sql, "CREATE SCHEMA sales; GRANT USAGE ON SCHEMA sales TO snowgate_grantor;");
    for (const char *const *r = roles; r && *r; r++)
        sg_buf_printf(&sql, " GRANT USAGE ON SCHEMA sales TO %s;", *r);
    for (const char *const *t = tables; t && *t; t++)
        sg_buf_printf(&sql,
                      " CREATE TABLE sales.%s (id int); ALTER TABLE sales.%s OWNER TO "
                      "snowgate_grantor;",
                      *t, *t);
    h_pg_exec(pg, "analytics", sg_buf_str(&sql));
    sg_buf_free(&sql);
}

static h_pg store_pg;
static int store_dbs;

static void stop_store_pg(void)
{
    if (store_pg.dir)
        h_pg_stop(&store_pg);
}

bool h_store_is_postgres(void)
{
    const char *s = getenv("SG_TEST_STORE");
    return s && strcmp(s, "postgres") == 0;
}

const h_pg *h_store_pg(void)
{
    return store_pg.dir ? &store_pg : NULL;
}

char *h_store_url(const char *dir, const char *name)
{
    if (!h_store_is_postgres())
        return sg_xasprintf("sqlite:%s/%s.db", dir, name);
    if (!store_pg.dir) {
        h_pg_start(&store_pg);
        atexit(stop_store_pg);
        h_pg_exec(&store_pg, "postgres", "CREATE ROLE sgstore LOGIN PASSWORD 'store-Pw-1'");
    }
    char db[64], sql[160];
    snprintf(db, sizeof(db), "%s_%d", name, ++store_dbs);
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\" OWNER sgstore", db);
    h_pg_exec(&store_pg, "postgres", sql);
    return sg_xasprintf("postgres://sgstore:store-Pw-1@127.0.0.1:%d/%s", store_pg.port, db);
}

void h_store_fresh(h_store *s, const char *tag, const sg_embed_file *migrations)
{
    s->dir = h_tmpdir(tag);
    char *url = h_store_url(s->dir, tag);
    sg_store_opts o = SG_STORE_OPTS_INIT;
    o.url = url;
    o.migrations = migrations;
    int rc = sg_store_open(&o, &s->st);
    free(url);
    if (rc != SG_OK)
        fail_msg("cannot open a fresh store: %s", sg_err_msg());
    /* The audit chain's key, as sg_app_open sets it: a fixed one for the fixtures. */
    static const uint8_t key[SG_STORE_MAC_KEY_LEN] = "unit-test audit chain key, 32 b";
    sg_store_set_mac_key(s->st, key);
}

void h_store_done(h_store *s)
{
    sg_store_close(s->st);
    h_rmdir(s->dir);
    free(s->dir);
    s->st = NULL;
    s->dir = NULL;
}
