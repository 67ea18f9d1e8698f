/* my_server: a throwaway MariaDB server per test program. */
#include "e2e/my_server.h"

#include "e2e/harness.h"

#include "core/buf.h"
#include "core/mem.h"

#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_script(h_my *my, const char *cmd)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", my->port);
    const char *argv[] = {SG_SOURCE_DIR "/tests/e2e/mariadb-server.sh", cmd, my->dir, port, NULL};
    sg_buf err = SG_BUF_INIT(0);
    int st = h_run(argv, NULL, 120000, NULL, &err);
    if (st != 0)
        fail_msg("mariadb-server.sh %s failed (%d): %s", cmd, st, sg_buf_str(&err));
    sg_buf_free(&err);
}

void h_my_start(h_my *my)
{
    memset(my, 0, sizeof(*my));
    my->dir = h_tmpdir("my");
    my->port = h_free_port();
    snprintf(my->sock, sizeof(my->sock), "%s/my/sock", my->dir);
    run_script(my, "start");
}

void h_my_down(h_my *my)
{
    run_script(my, "stop");
}

void h_my_up(h_my *my)
{
    run_script(my, "start");
}

void h_my_stop(h_my *my)
{
    if (!my->dir)
        return;
    const char *argv[] = {SG_SOURCE_DIR "/tests/e2e/mariadb-server.sh", "stop", my->dir, NULL};
    h_run(argv, NULL, 60000, NULL, NULL);
    h_rmdir(my->dir);
    free(my->dir);
    my->dir = NULL;
}

static MYSQL *connect_as_root(const h_my *my)
{
    MYSQL *m = mysql_init(NULL);
    if (!m)
        fail_msg("mysql_init failed");
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(m, NULL, "root", "", NULL, 0, my->sock, 0))
        fail_msg("cannot connect to the test MariaDB: %s", mysql_error(m));
    return m;
}

void h_my_exec(const h_my *my, const char *sql)
{
    MYSQL *m = connect_as_root(my);
    if (mysql_query(m, sql) != 0)
        fail_msg("%s: %s", sql, mysql_error(m));
    mysql_free_result(mysql_store_result(m));
    mysql_close(m);
}

char *h_my_value(const h_my *my, const char *sql)
{
    MYSQL *m = connect_as_root(my);
    if (mysql_query(m, sql) != 0)
        fail_msg("%s: %s", sql, mysql_error(m));
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    char *v = sg_xstrdup(row && row[0] ? row[0] : "");
    mysql_free_result(r);
    mysql_close(m);
    return v;
}

static void put_literal(MYSQL *m, sg_buf *b, const char *s)
{
    char *esc = sg_xmalloc(2 * strlen(s) + 1);
    unsigned long n = mysql_real_escape_string(m, esc, s, (unsigned long)strlen(s));
    sg_buf_putc(b, '\'');
    sg_buf_append(b, esc, n);
    sg_buf_putc(b, '\'');
    free(esc);
}

static bool count_is_one(const h_my *my, const char *user, const char *view, const char *db,
                         const char *table, const char *privilege)
{
    MYSQL *m = connect_as_root(my);
    sg_buf sql = SG_BUF_INIT(0), grantee = SG_BUF_INIT(0);
    sg_buf_printf(&grantee, "'%s'@'%%'", user);
    sg_buf_printf(&sql, "SELECT COUNT(*) FROM information_schema.%s WHERE GRANTEE = BINARY ", view);
    put_literal(m, &sql, sg_buf_str(&grantee));
    sg_buf_puts(&sql, " AND TABLE_SCHEMA = BINARY ");
    put_literal(m, &sql, db);
    if (table) {
        sg_buf_puts(&sql, " AND TABLE_NAME = BINARY ");
        put_literal(m, &sql, table);
    }
    sg_buf_puts(&sql, " AND PRIVILEGE_TYPE = ");
    put_literal(m, &sql, privilege);
    mysql_close(m);
    char *v = h_my_value(my, sg_buf_str(&sql));
    bool one = strcmp(v, "1") == 0;
    free(v);
    sg_buf_free(&sql);
    sg_buf_free(&grantee);
    return one;
}

bool h_my_has(const h_my *my, const char *user, const char *db, const char *table,
              const char *privilege)
{
    return count_is_one(my, user, "TABLE_PRIVILEGES", db, table, privilege);
}

bool h_my_has_schema(const h_my *my, const char *user, const char *db, const char *privilege)
{
    return count_is_one(my, user, "SCHEMA_PRIVILEGES", db, NULL, privilege);
}
