/* mysql: the MariaDB/MySQL connector. GRANT and REVOKE on a table, view or database to the
 * person's account ('user'@'host'), then a check in information_schema that the change is
 * really there.
 *
 * Names reach SQL only as backtick-quoted identifiers (backticks doubled) and values only as
 * string literals escaped by the client library for the connection's character set
 * (utf8mb4). The server's address passes the same outbound guard as HTTP, and TLS must verify
 * the server unless the loopback test flag is on. The library reads no option file, never
 * sends a local file (LOCAL INFILE is off), and runs one statement per call. */
#include "gate/governance/privileges.h"
#include "gate/connectors/connectors.h"
#include "gate/connectors/shared.h"

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/url.h"
#include "gate/limits.h"
#include "gate/secrets.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <mysql.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define MY_CONNECT_TIMEOUT_S 10
#define MY_IO_TIMEOUT_S      15
#define MY_LOCK_TIMEOUT_S    10
#define MY_DEFAULT_PORT      3306
#define MY_MAX_NAME          256 /* bytes of an identifier (MariaDB: 64 characters) */
#define MY_SYSTEM_CA_BUNDLE  "/etc/ssl/certs/ca-certificates.crt"
/* Authentication plugins the client may answer with: none sends the password in clear. */
#define MY_AUTH_PLUGINS "mysql_native_password,client_ed25519,caching_sha2_password"

/* ---- the DSN: "host=H [port=P] user=U [ssl_mode=verify-full|disable] [ssl_ca=FILE]" ---- */

typedef struct my_dsn {
    char host[256], user[129], ssl_ca[1024];
    unsigned port;
    bool verify; /* ssl_mode=verify-full (the default) */
} my_dsn;

static int parse_dsn(const char *dsn, bool insecure, my_dsn *out)
{
    memset(out, 0, sizeof(*out));
    out->port = MY_DEFAULT_PORT;
    out->verify = true;
    bool seen_host = false, seen_port = false, seen_user = false, seen_mode = false,
         seen_ca = false;
    const char *p = dsn;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *end = p + strcspn(p, " \t");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq || eq == p)
            return sg_err_set(SG_EINVAL,
                              "\"dsn\" is key=value pairs separated by spaces, e.g. "
                              "\"host=db.example.com user=snowgate_grantor\"; '%.*s' is not one",
                              (int)(end - p), p);
        size_t klen = (size_t)(eq - p), vlen = (size_t)(end - eq - 1);
        const char *v = eq + 1;
        if (vlen == 0)
            return sg_err_set(SG_EINVAL,
                              "the dsn's %.*s is empty; give %.*s=VALUE, or leave it out",
                              (int)klen, p, (int)klen, p);
        for (size_t i = 0; i < vlen; i++)
            if ((unsigned char)v[i] < 0x20 || v[i] == '\'' || v[i] == '"' || v[i] == '\\')
                return sg_err_set(SG_EINVAL,
                                  "the dsn's %.*s has a quote, a backslash or a control "
                                  "character; none is needed (values are never quoted)",
                                  (int)klen, p);
#define KEY(k) (klen == strlen(k) && strncmp(p, (k), klen) == 0)
#define ONCE(flag)                                                                                 \
    do {                                                                                           \
        if (flag)                                                                                  \
            return sg_err_set(SG_EINVAL, "\"dsn\" gives %.*s twice", (int)klen, p);                \
        flag = true;                                                                               \
    } while (0)
        if (KEY("password") || KEY("passwd") || KEY("pwd")) {
            return sg_err_set(SG_EINVAL, "keep the password out of \"dsn\": send it as "
                                         "\"password\", which is stored encrypted");
        } else if (KEY("host")) {
            ONCE(seen_host);
            if (vlen >= sizeof(out->host))
                return sg_err_set(SG_EINVAL, "the dsn's host is longer than %zu bytes",
                                  sizeof(out->host) - 1);
            memcpy(out->host, v, vlen);
        } else if (KEY("port")) {
            ONCE(seen_port);
            unsigned long port = 0;
            for (size_t i = 0; i < vlen; i++) {
                if (!isdigit((unsigned char)v[i]) || port > 65535)
                    return sg_err_set(SG_EINVAL, "the dsn's port must be a number, 1 to 65535");
                port = port * 10 + (unsigned long)(v[i] - '0');
            }
            if (port == 0 || port > 65535)
                return sg_err_set(SG_EINVAL, "the dsn's port must be a number, 1 to 65535");
            out->port = (unsigned)port;
        } else if (KEY("user")) {
            ONCE(seen_user);
            if (vlen >= sizeof(out->user))
                return sg_err_set(SG_EINVAL, "the dsn's user is longer than %zu bytes",
                                  sizeof(out->user) - 1);
            memcpy(out->user, v, vlen);
        } else if (KEY("ssl_mode")) {
            ONCE(seen_mode);
            if (vlen == 11 && strncmp(v, "verify-full", 11) == 0)
                out->verify = true;
            else if (vlen == 7 && strncmp(v, "disable", 7) == 0)
                out->verify = false;
            else
                return sg_err_set(SG_EINVAL,
                                  "ssl_mode is verify-full (the default) or disable (only with "
                                  "the loopback test flag, allow_insecure_loopback, to a "
                                  "loopback address)");
        } else if (KEY("ssl_ca")) {
            ONCE(seen_ca);
            if (v[0] != '/')
                return sg_err_set(SG_EINVAL, "ssl_ca is the absolute path of a CA file");
            if (vlen >= sizeof(out->ssl_ca))
                return sg_err_set(SG_EINVAL, "the dsn's ssl_ca is longer than %zu bytes",
                                  sizeof(out->ssl_ca) - 1);
            memcpy(out->ssl_ca, v, vlen);
        } else if (KEY("socket")) {
            return sg_err_set(SG_EDENIED, "the dsn connects through a local socket; give the "
                                          "database server's host name");
        } else {
            return sg_err_set(SG_EINVAL,
                              "\"dsn\" key '%.*s' is unknown; a mysql dsn has host, port, user, "
                              "ssl_mode and ssl_ca",
                              (int)klen, p);
        }
#undef KEY
#undef ONCE
        p = end;
    }
    if (!out->host[0])
        return sg_err_set(SG_EINVAL, "a mysql \"dsn\" needs host=, e.g. \"host=db.example.com "
                                     "user=snowgate_grantor\"");
    if (strchr(out->host, ',') || strchr(out->host, '/') || strchr(out->host, '@'))
        return sg_err_set(SG_EINVAL, "the dsn's host must be one host name or address (no list, "
                                     "socket path or user@)");
    if (!out->user[0])
        return sg_err_set(SG_EINVAL, "a mysql \"dsn\" needs user= (the account that grants)");
    if (!out->verify && !insecure)
        return sg_err_set(SG_EDENIED, "ssl_mode=disable does not verify the database server and "
                                      "needs the loopback test flag (allow_insecure_loopback); "
                                      "use verify-full (the default when ssl_mode is left out)");
    return SG_OK;
}

int sg_mysql_check_dsn(const char *dsn, bool allow_insecure_loopback)
{
    my_dsn d;
    return parse_dsn(dsn, allow_insecure_loopback, &d);
}

/* ---- connecting ---- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_rc;

static void lib_init(void)
{
    /* mysql_init would do this on first use, but not safely from several threads at once. */
    lib_rc = mysql_library_init(0, NULL, NULL);
}

/* Whether the server's error number is worth retrying: lost or refused connections, lock
 * waits, deadlocks, a server shutting down, a killed or timed-out statement. */
static bool transient(unsigned err)
{
    if (err >= 2000 && err < 3000) /* client-side: connection and protocol */
        return true;
    static const unsigned codes[] = {1040, 1053, 1077, 1152, 1153, 1154, 1155, 1156, 1157, 1158,
                                     1159, 1160, 1161, 1205, 1213, 1317, 1927, 1969, 3024, 4031};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i] == err)
            return true;
    return false;
}

/* Connects as the DSN's user with the connection's sealed password. The address is pinned:
 * with TLS verification the library connects by name (the certificate is checked against the
 * name, and Connector/C has no separate server-name option), so the address it reached is
 * checked against those resolved and admitted here before any statement runs; without TLS it
 * connects to the pinned address itself. */
static int connect_db(sg_app *app, const char *name, const char *id, const char *config,
                      const char *sealed, MYSQL **out, int64_t *retry_after)
{
    *out = NULL;
    bool insecure = app->cfg.allow_insecure_loopback;
    sg_json *cfg = NULL;
    const char *dsn = NULL;
    char *password = NULL;
    MYSQL *m = NULL;
    my_dsn d;
    sg_pinned pin;
    int rc = SG_OK;
    if (sg_json_parse(config, strlen(config), 0, 0, &cfg) == SG_OK)
        dsn = sg_json_get_str(cfg, "dsn");
    rc = dsn ? parse_dsn(dsn, insecure, &d)
             : sg_err_set(SG_EINVAL, "connection '%s' has no dsn", name);
    if (rc == SG_OK) {
        char port[8];
        snprintf(port, sizeof(port), "%u", d.port);
        rc = sg_connector_pin(d.host, port, insecure, &pin);
    }
    /* Without TLS, only to a loopback address (the test flag is on: parse_dsn checked). */
    if (rc == SG_OK && !d.verify && !pin.first_loopback)
        rc = sg_err_set(SG_EDENIED,
                        "ssl_mode=disable is only for a loopback address, and database host %s "
                        "is %s; use verify-full",
                        d.host, pin.first);
    if (rc == SG_EINVAL || rc == SG_EDENIED)
        *retry_after = SG_JOBS_NO_RETRY;
    char binding[96];
    snprintf(binding, sizeof(binding), "connections:%s:secret", id);
    if (rc == SG_OK && sealed && *sealed)
        rc = sg_secrets_open_value(&app->secrets, binding, sealed, &password);
    if (rc != SG_OK)
        goto cleanup;
    pthread_once(&lib_once, lib_init);
    if (lib_rc != 0) {
        rc = sg_err_set(SG_EINTERNAL, "the MariaDB client library did not initialise");
        goto cleanup;
    }
    m = mysql_init(NULL);
    if (!m) {
        rc = sg_err_set(SG_EINTERNAL, "the MariaDB client library is out of memory");
        goto cleanup;
    }
    unsigned timeout = MY_CONNECT_TIMEOUT_S, io = MY_IO_TIMEOUT_S, off = 0;
    unsigned tcp = MYSQL_PROTOCOL_TCP; /* never a local socket, whatever the host is called */
    my_bool yes = 1;
    int bad = 0;
    bad |= mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &tcp);
    bad |= mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    bad |= mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &io);
    bad |= mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &io);
    bad |= mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &off);
    bad |= mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    bad |= mysql_optionsv(m, MARIADB_OPT_RESTRICTED_AUTH, MY_AUTH_PLUGINS);
    bad |= mysql_optionsv(m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "snowgate");
    if (d.verify) {
        bad |= mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes);
        bad |= mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
        bad |= mysql_optionsv(m, MYSQL_OPT_SSL_CA, d.ssl_ca[0] ? d.ssl_ca : MY_SYSTEM_CA_BUNDLE);
    }
    if (bad) {
        rc = sg_err_set(SG_EINTERNAL, "the MariaDB client library refused an option: %s",
                        mysql_error(m));
        goto cleanup;
    }
    const char *host = d.verify ? d.host : pin.first;
    if (!mysql_real_connect(m, host, d.user, password ? password : "", NULL, d.port, NULL, 0)) {
        unsigned e = mysql_errno(m);
        if (e == 1045 || e == 1044 || e == 1698) {
            rc = sg_err_set(SG_EINVAL,
                            "the database of connection '%s' refused the login of %s: %s; "
                            "check the dsn's user and the connection's password",
                            name, d.user, mysql_error(m));
            *retry_after = SG_JOBS_NO_RETRY;
        } else {
            rc = sg_err_set(SG_EUNAVAIL, "cannot connect to the database of connection '%s': %s",
                            name, mysql_error(m));
        }
        goto cleanup;
    }
    /* The address the library reached must be one resolved and admitted above. */
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    bool admitted = false;
    if (getpeername((int)mysql_get_socket(m), (struct sockaddr *)&peer, &plen) == 0)
        admitted = sg_pinned_has(&pin, &peer);
    if (!admitted) {
        rc = sg_err_set(SG_EUNAVAIL,
                        "the database host %s answered from an address other than the one "
                        "checked (its DNS changed meanwhile); not using it",
                        d.host);
        goto cleanup;
    }
    /* Never create an account by GRANT (MariaDB would, with no password, without this mode;
     * MySQL 8 never does and has no such mode), and do not wait long on locks. */
    if (mysql_get_server_version(m) < 80000 || strstr(mysql_get_server_info(m), "MariaDB")) {
        if (mysql_query(m, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_CREATE_USER')")) {
            rc = sg_err_set(SG_EUNAVAIL, "cannot set the session's sql_mode: %s", mysql_error(m));
            goto cleanup;
        }
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %d, innodb_lock_wait_timeout = %d",
             MY_LOCK_TIMEOUT_S, MY_LOCK_TIMEOUT_S);
    if (mysql_query(m, sql)) {
        rc = sg_err_set(SG_EUNAVAIL, "cannot set the session's lock timeouts: %s", mysql_error(m));
        goto cleanup;
    }
    *out = m;
    m = NULL;
cleanup:
    if (m)
        mysql_close(m);
    sg_secrets_free_plain(password);
    sg_json_decref(cfg);
    return rc;
}

/* ---- quoting ---- */

/* Appends `name` (backticks doubled) to b; with pattern, also escapes the wildcards _ and % of
 * a database-level grant, where a name is a pattern. Refuses an empty or overlong name. */
static int put_ident(sg_buf *b, const char *name, bool pattern)
{
    size_t n = strlen(name);
    if (n == 0 || n > MY_MAX_NAME)
        return sg_err_set(SG_EINVAL, "the name '%s' is empty or longer than %d bytes", name,
                          MY_MAX_NAME);
    if (pattern && strchr(name, '\\'))
        return sg_err_set(SG_EINVAL,
                          "database name '%s' has a backslash, which a database-level grant "
                          "reads as an escape; grant on its tables instead",
                          name);
    sg_buf_putc(b, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            sg_buf_putc(b, '`');
        else if (pattern && (*p == '_' || *p == '%'))
            sg_buf_putc(b, '\\');
        sg_buf_putc(b, *p);
    }
    sg_buf_putc(b, '`');
    return SG_OK;
}

/* Appends value as a string literal, escaped by the library for the connection. */
static void put_literal(MYSQL *m, sg_buf *b, const char *value)
{
    size_t n = strlen(value);
    char *esc = sg_xmalloc(2 * n + 1);
    unsigned long len = mysql_real_escape_string(m, esc, value, (unsigned long)n);
    sg_buf_putc(b, '\'');
    sg_buf_append(b, esc, len);
    sg_buf_putc(b, '\'');
    free(esc);
}

/* The account of a db_role: "user@host", or "user" for 'user'@'%'. The host is lower-cased,
 * as MariaDB stores it. */
typedef struct my_account {
    char user[128], host[256];
} my_account;

static int parse_account(const char *db_role, my_account *a)
{
    memset(a, 0, sizeof(*a));
    const char *at = strrchr(db_role, '@');
    size_t ulen = at ? (size_t)(at - db_role) : strlen(db_role);
    const char *host = at ? at + 1 : "%";
    if (ulen == 0 || ulen >= sizeof(a->user) || !*host || strlen(host) >= sizeof(a->host))
        return sg_err_set(SG_EINVAL,
                          "database role '%s' is not a MariaDB account: give user or user@host "
                          "(an empty user is the anonymous account, never granted to)",
                          db_role);
    for (size_t i = 0; i < ulen; i++)
        if ((unsigned char)db_role[i] < 0x20 || db_role[i] == 0x7f)
            return sg_err_set(SG_EINVAL, "database role has a control character");
    memcpy(a->user, db_role, ulen);
    for (size_t i = 0; host[i]; i++) {
        if ((unsigned char)host[i] < 0x20 || host[i] == 0x7f)
            return sg_err_set(SG_EINVAL, "database role has a control character");
        a->host[i] = (char)tolower((unsigned char)host[i]);
    }
    return SG_OK;
}

/* An account a grant may go to: user or user@host (parse_account), and none of the accounts
 * the server keeps for itself (root, and the system accounts MariaDB and MySQL make), nor
 * PUBLIC, which MariaDB 10.11 reads as every account. Any host, any case. */
static int my_check_account(const char *db_role)
{
    my_account a;
    int rc = parse_account(db_role, &a);
    if (rc != SG_OK)
        return rc;
    static const char *const reserved[] = {
        "root",        "mysql.sys",        "mysql.session", "mysql.infoschema",
        "mariadb.sys", "debian-sys-maint", "public",        "current_user",
        "current_role"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcasecmp(a.user, reserved[i]) == 0)
            return sg_err_set(
                SG_EINVAL, "database account '%s' is %s, which %s; it is never granted to", db_role,
                reserved[i],
                strcasecmp(a.user, "root") == 0           ? "holds every privilege already"
                : strcasecmp(a.user, "public") == 0       ? "MariaDB reads as every account"
                : strncasecmp(a.user, "current_", 8) == 0 ? "MariaDB reads as whoever is connected"
                                                          : "the server keeps for itself");
    return SG_OK;
}

/* The asset: "db.table", or "db" for a database-level grant (asset type schema). A name with
 * a dot inside a part is refused: "a.b.t" could be table t of database a.b or table b.t of
 * database a (discovery skips such objects), and the system schemas are never granted on. */
typedef struct my_name {
    char db[MY_MAX_NAME + 1], rel[MY_MAX_NAME + 1];
    bool schema;
} my_name;

static int split_name(const char *asset, const char *type, my_name *n)
{
    memset(n, 0, sizeof(*n));
    n->schema = type && strcmp(type, "schema") == 0;
    if (type && strcmp(type, "table") != 0 && strcmp(type, "view") != 0 && !n->schema)
        return sg_err_set(SG_EINVAL,
                          "asset '%s' is a %s; the mysql connector grants on tables, views and "
                          "schemas (databases)",
                          asset, type);
    const char *dot = strchr(asset, '.');
    size_t dlen = dot ? (size_t)(dot - asset) : strlen(asset);
    if (n->schema && dot)
        return sg_err_set(SG_EINVAL,
                          "schema asset '%s' has a dot; a mysql schema asset is the database's "
                          "name alone, and a database whose name has a dot cannot be granted "
                          "on (its name would be ambiguous)",
                          asset);
    if (!n->schema && (!dot || !dot[1]))
        return sg_err_set(SG_EINVAL,
                          "asset '%s' is not database.table as the mysql connector needs", asset);
    if (!n->schema && strchr(dot + 1, '.'))
        return sg_err_set(SG_EINVAL,
                          "asset '%s' is ambiguous: it could be a table of database '%.*s' or of "
                          "a database whose name has a dot; the mysql connector grants only on "
                          "database.table names without a dot inside a part",
                          asset, (int)dlen, asset);
    if (dlen == 0 || dlen > MY_MAX_NAME || (dot && strlen(dot + 1) > MY_MAX_NAME))
        return sg_err_set(SG_EINVAL, "a name in asset '%s' is empty or longer than %d bytes", asset,
                          MY_MAX_NAME);
    memcpy(n->db, asset, dlen);
    if (dot)
        sg_strlcpy(n->rel, dot + 1, sizeof(n->rel));
    static const char *const system[] = {"mysql", "sys", "information_schema", "performance_schema",
                                         NULL};
    for (size_t i = 0; system[i]; i++)
        if (strcasecmp(n->db, system[i]) == 0)
            return sg_err_set(SG_EINVAL,
                              "asset '%s' is in the system schema %s, which snowgate never "
                              "grants on",
                              asset, n->db);
    return SG_OK;
}

/* ---- running statements ---- */

/* Runs sql; on failure sets the error with what was attempted, and for an error retrying
 * cannot fix, *retry_after = SG_JOBS_NO_RETRY. *err receives the server's error number. */
static int run(MYSQL *m, const char *what, const char *sql, unsigned *err, int64_t *retry_after)
{
    *err = 0;
    if (mysql_real_query(m, sql, strlen(sql)) == 0) {
        MYSQL_RES *r = mysql_store_result(m);
        mysql_free_result(r);
        return SG_OK;
    }
    *err = mysql_errno(m);
    if (transient(*err))
        return sg_err_set(SG_EUNAVAIL, "MariaDB failed %s: %s (error %u)", what, mysql_error(m),
                          *err);
    *retry_after = SG_JOBS_NO_RETRY;
    return sg_err_set(SG_EINVAL, "MariaDB refused %s: %s (error %u)", what, mysql_error(m), *err);
}

/* The first column of each row of a query, as a privilege set (unknown names are ignored). */
static int query_privs(MYSQL *m, const char *what, const char *sql, sg_privs *out,
                       int64_t *retry_after)
{
    *out = 0;
    if (mysql_real_query(m, sql, strlen(sql)) != 0) {
        unsigned e = mysql_errno(m);
        if (transient(e))
            return sg_err_set(SG_EUNAVAIL, "MariaDB failed %s: %s", what, mysql_error(m));
        *retry_after = SG_JOBS_NO_RETRY;
        return sg_err_set(SG_EINVAL, "MariaDB refused %s: %s (error %u)", what, mysql_error(m), e);
    }
    MYSQL_RES *r = mysql_store_result(m);
    if (!r)
        return sg_err_set(SG_EUNAVAIL, "MariaDB failed %s: %s", what, mysql_error(m));
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r)) != NULL) {
        if (!row[0])
            continue;
        const char *names[] = {row[0], NULL};
        sg_privs one = 0;
        if (sg_privs_parse(names, &one))
            *out |= one;
    }
    mysql_free_result(r);
    return SG_OK;
}

/* Whether the account exists (mysql.user; the grantor needs SELECT on mysql.* for this and
 * to read other accounts' rows in information_schema). */
static int account_exists(MYSQL *m, const my_account *a, bool *out, int64_t *retry_after)
{
    sg_buf sql = SG_BUF_INIT(0);
    sg_buf_puts(&sql, "SELECT COUNT(*) FROM mysql.user WHERE User = BINARY ");
    put_literal(m, &sql, a->user);
    sg_buf_puts(&sql, " AND Host = BINARY ");
    put_literal(m, &sql, a->host);
    int rc = SG_OK;
    *out = false;
    if (mysql_real_query(m, sg_buf_str(&sql), sql.len) != 0) {
        unsigned e = mysql_errno(m);
        if (transient(e)) {
            rc = sg_err_set(SG_EUNAVAIL, "MariaDB failed the account check: %s", mysql_error(m));
        } else {
            *retry_after = SG_JOBS_NO_RETRY;
            rc = sg_err_set(SG_EINVAL,
                            "MariaDB refused the account check: %s (error %u); the grantor "
                            "needs SELECT on mysql.* to check accounts and grants "
                            "(GRANT SELECT ON mysql.* TO the dsn's user)",
                            mysql_error(m), e);
        }
    } else {
        MYSQL_RES *r = mysql_store_result(m);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        if (!row)
            rc = sg_err_set(SG_EUNAVAIL, "MariaDB failed the account check: %s", mysql_error(m));
        else
            *out = row[0] && strcmp(row[0], "0") != 0;
        mysql_free_result(r);
    }
    sg_buf_free(&sql);
    return rc;
}

/* The privileges of the model the account holds directly on the object (TABLE_PRIVILEGES for
 * a table, SCHEMA_PRIVILEGES for a database), and through wider grants (the database's and
 * global ones, for a table; global ones, for a database). */
static int held(MYSQL *m, const my_account *a, const my_name *n, sg_privs *direct, sg_privs *wider,
                int64_t *retry_after)
{
    sg_buf grantee = SG_BUF_INIT(0), sql = SG_BUF_INIT(0), pat = SG_BUF_INIT(0);
    sg_buf_printf(&grantee, "'%s'@'%s'", a->user, a->host);
    /* The database as SCHEMA_PRIVILEGES shows a database-level grant: its pattern form. */
    for (const char *p = n->db; *p; p++) {
        if (*p == '_' || *p == '%')
            sg_buf_putc(&pat, '\\');
        sg_buf_putc(&pat, *p);
    }
    int rc = SG_OK;
    sg_privs db_level = 0, global = 0;
    if (!n->schema) {
        sg_buf_puts(&sql, "SELECT PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES "
                          "WHERE GRANTEE = BINARY ");
        put_literal(m, &sql, sg_buf_str(&grantee));
        sg_buf_puts(&sql, " AND TABLE_SCHEMA = BINARY ");
        put_literal(m, &sql, n->db);
        sg_buf_puts(&sql, " AND TABLE_NAME = BINARY ");
        put_literal(m, &sql, n->rel);
        rc = query_privs(m, "the privilege check", sg_buf_str(&sql), direct, retry_after);
        sg_buf_reset(&sql);
    }
    if (rc == SG_OK) {
        sg_buf_puts(&sql, "SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES "
                          "WHERE GRANTEE = BINARY ");
        put_literal(m, &sql, sg_buf_str(&grantee));
        sg_buf_puts(&sql, " AND TABLE_SCHEMA = BINARY ");
        put_literal(m, &sql, sg_buf_str(&pat));
        rc = query_privs(m, "the privilege check", sg_buf_str(&sql), &db_level, retry_after);
        sg_buf_reset(&sql);
    }
    if (rc == SG_OK) {
        sg_buf_puts(&sql, "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES "
                          "WHERE GRANTEE = BINARY ");
        put_literal(m, &sql, sg_buf_str(&grantee));
        rc = query_privs(m, "the privilege check", sg_buf_str(&sql), &global, retry_after);
    }
    if (n->schema)
        *direct = db_level;
    *wider = (n->schema ? 0 : db_level) | global;
    sg_buf_free(&grantee);
    sg_buf_free(&sql);
    sg_buf_free(&pat);
    return rc;
}

/* Whether the account exists; for a revoke, an account that is gone has nothing left to
 * revoke (dropping an account drops its grants). */
static int account_check(MYSQL *m, const sg_access_change *ch, const my_account *a, bool *exists,
                         int64_t *retry_after)
{
    int rc = account_exists(m, a, exists, retry_after);
    if (rc == SG_OK && !*exists && ch->grant) {
        *retry_after = SG_JOBS_NO_RETRY;
        return sg_err_set(SG_EINVAL,
                          "MariaDB account '%s'@'%s' of %s does not exist; create it, or set "
                          "their account with `snowgate user set %s --db-role USER@HOST`, then "
                          "replay the job",
                          a->user, a->host, ch->beneficiary, ch->beneficiary);
    }
    return rc;
}

/* The privileges to change (none: nothing left to revoke, other grants need all of it). */
static int wanted(const sg_access_change *ch, sg_privs *want)
{
    *want = 0;
    if (!sg_privs_parse(ch->privileges, want))
        return sg_err_set(SG_EINTERNAL, "a privilege outside the model was asked for");
    return SG_OK;
}

static int apply_sql(MYSQL *m, const sg_access_change *ch, const my_name *n, const my_account *a,
                     int64_t *retry_after)
{
    sg_privs want = 0;
    int rc = wanted(ch, &want);
    if (rc != SG_OK || !want)
        return rc;
    char privs[64];
    sg_privs_text(want, privs);
    bool exists = false;
    rc = account_check(m, ch, a, &exists, retry_after);
    if (rc != SG_OK)
        return rc;
    if (!exists) {
        sg_log_info("REVOKE skipped: the account no longer exists", "asset", ch->asset, "role",
                    ch->db_role);
        return SG_OK;
    }
    sg_buf sql = SG_BUF_INIT(0);
    sg_buf_printf(&sql, "%s %s ON ", ch->grant ? "GRANT" : "REVOKE", privs);
    rc = put_ident(&sql, n->db, n->schema);
    if (rc == SG_OK && n->schema) {
        sg_buf_puts(&sql, ".*");
    } else if (rc == SG_OK) {
        sg_buf_putc(&sql, '.');
        rc = put_ident(&sql, n->rel, false);
    }
    if (rc != SG_OK) {
        *retry_after = SG_JOBS_NO_RETRY;
        sg_buf_free(&sql);
        return rc;
    }
    sg_buf_puts(&sql, ch->grant ? " TO " : " FROM ");
    put_literal(m, &sql, a->user);
    sg_buf_putc(&sql, '@');
    put_literal(m, &sql, a->host);
    char what[600];
    snprintf(what, sizeof(what), "%s %s on %s for '%s'@'%s'", ch->grant ? "GRANT" : "REVOKE", privs,
             ch->asset, a->user, a->host);
    unsigned err = 0;
    int64_t retry_before = *retry_after;
    rc = run(m, what, sg_buf_str(&sql), &err, retry_after);
    sg_buf_free(&sql);
    /* 1141/1147: there is no such grant. A revoke of what is not held has nothing to do; the
     * check (verify) still runs. */
    if (rc != SG_OK && !ch->grant && (err == 1141 || err == 1147)) {
        *retry_after = retry_before;
        rc = SG_OK;
    }
    if (rc != SG_OK && err == 1146)
        rc = sg_err_set(SG_EINVAL,
                        "MariaDB has no table %s (error 1146): register the asset "
                        "again under its new name, or recreate the table, then replay "
                        "the job",
                        ch->asset);
    if (rc == SG_OK)
        sg_log_info(ch->grant ? "GRANT applied" : "REVOKE applied", "privileges", privs, "asset",
                    ch->asset, "role", ch->db_role);
    return rc;
}

/* The check in information_schema: a grant must be effective; a revoke must leave no direct
 * grant behind, and what still reaches the account through a wider grant is worth a note. */
static int verify_sql(MYSQL *m, const sg_access_change *ch, const my_name *n, const my_account *a,
                      char *note, size_t note_len, int64_t *retry_after)
{
    sg_privs want = 0;
    int rc = wanted(ch, &want);
    if (rc != SG_OK || !want)
        return rc;
    bool exists = false;
    rc = account_check(m, ch, a, &exists, retry_after);
    if (rc != SG_OK)
        return rc;
    if (!exists) {
        if (note)
            snprintf(note, note_len, "account '%s'@'%s' no longer exists, nor its grants", a->user,
                     a->host);
        return SG_OK;
    }
    sg_privs direct = 0, wider = 0;
    rc = held(m, a, n, &direct, &wider, retry_after);
    if (rc != SG_OK)
        return rc;
    char text[64];
    if (ch->grant && (direct & want) != want) {
        sg_privs_text(want & ~direct, text);
        return sg_err_set(SG_EUNAVAIL,
                          "after GRANT, '%s'@'%s' still lacks %s on %s in "
                          "information_schema",
                          a->user, a->host, text, ch->asset);
    }
    if (!ch->grant && (direct & want)) {
        sg_privs_text(direct & want, text);
        *retry_after = SG_JOBS_NO_RETRY;
        return sg_err_set(SG_EINVAL,
                          "after REVOKE, '%s'@'%s' still holds %s on %s in information_schema",
                          a->user, a->host, text, ch->asset);
    }
    char privs[64];
    sg_privs_text(want, privs);
    sg_log_info(ch->grant ? "GRANT verified" : "REVOKE verified", "privileges", privs, "asset",
                ch->asset, "role", ch->db_role);
    if (!ch->grant && (wider & want) && note) {
        sg_privs_text(wider & want, text);
        snprintf(note, note_len,
                 "'%s'@'%s' still has %s on %s through a database-level or global grant", a->user,
                 a->host, text, ch->asset);
    }
    return SG_OK;
}

/* The checks before any SQL: the person's account and the asset's name parts. */
static int prepare(const sg_access_change *ch, my_account *a, my_name *n, int64_t *retry_after)
{
    if (!ch->db_role || !*ch->db_role) {
        *retry_after = SG_JOBS_NO_RETRY;
        return sg_err_set(SG_EINVAL,
                          "%s has no database account; set it with `snowgate user set %s "
                          "--db-role USER@HOST`, then replay the job",
                          ch->beneficiary, ch->beneficiary);
    }
    /* The last guard, for an account stored before the check existed, or behind snowgate's
     * back. */
    if (my_check_account(ch->db_role) != SG_OK) {
        char why[300];
        sg_strlcpy(why, sg_err_msg(), sizeof(why));
        *retry_after = SG_JOBS_NO_RETRY;
        return sg_err_set(SG_EINVAL,
                          "%s; nothing was granted to %s: set their account with `snowgate user "
                          "set %s --db-role USER@HOST`, then replay the job",
                          why, ch->beneficiary, ch->beneficiary);
    }
    int rc = parse_account(ch->db_role, a);
    if (rc == SG_OK)
        rc = split_name(ch->asset, ch->asset_type, n);
    if (rc != SG_OK)
        *retry_after = SG_JOBS_NO_RETRY;
    return rc;
}

static int my_apply(sg_app *app, const sg_access_change *ch, int64_t *retry_after)
{
    my_account a;
    my_name n;
    int rc = prepare(ch, &a, &n, retry_after);
    MYSQL *m = NULL;
    if (rc == SG_OK)
        rc = connect_db(app, ch->connection, ch->connection_id, ch->config, ch->sealed, &m,
                        retry_after);
    if (rc == SG_OK)
        rc = apply_sql(m, ch, &n, &a, retry_after);
    if (m)
        mysql_close(m);
    return rc;
}

static int my_verify(sg_app *app, const sg_access_change *ch, char *note, size_t note_len,
                     int64_t *retry_after)
{
    if (note && note_len)
        note[0] = '\0';
    my_account a;
    my_name n;
    int rc = prepare(ch, &a, &n, retry_after);
    MYSQL *m = NULL;
    if (rc == SG_OK)
        rc = connect_db(app, ch->connection, ch->connection_id, ch->config, ch->sealed, &m,
                        retry_after);
    if (rc == SG_OK)
        rc = verify_sql(m, ch, &n, &a, note, note_len, retry_after);
    if (m)
        mysql_close(m);
    return rc;
}

static int my_test_login(sg_app *app, const sg_connection_ref *c)
{
    MYSQL *m = NULL;
    int64_t retry_after = 0;
    int rc = connect_db(app, c->name, c->id, c->config, c->sealed, &m, &retry_after);
    if (rc != SG_OK)
        return rc;
    if (mysql_query(m, "SELECT 1") != 0)
        rc = sg_err_set(SG_EUNAVAIL, "connection '%s' logged in but cannot query: %s", c->name,
                        mysql_error(m));
    else
        mysql_free_result(mysql_store_result(m));
    mysql_close(m);
    return rc;
}

/* A new connection's settings: "dsn" (checked) and "password" (sealed). */
static int my_check_config(sg_app *app, const sg_json *in, sg_json *cfg, const char **secret)
{
    const char *dsn = sg_json_get_str(in, "dsn");
    *secret = sg_json_get_str(in, "password");
    int rc = SG_OK;
    if (!dsn || !*dsn)
        rc = sg_err_set(SG_EINVAL, "a mysql connection needs \"dsn\", e.g. "
                                   "\"host=db.example.com user=snowgate_grantor\"");
    else if (strlen(dsn) > SG_MAX_DSN)
        rc = sg_err_set(SG_EINVAL, "\"dsn\" is %zu bytes; the most is %d", strlen(dsn), SG_MAX_DSN);
    else if ((rc = sg_mysql_check_dsn(dsn, app->cfg.allow_insecure_loopback)) == SG_OK)
        sg_json_set_str(cfg, "dsn", dsn);
    return rc;
}

/* GRANT here is on tables, views and databases (schema assets), and a view cannot be
 * written. */
static int my_check_request(const sg_connection_ref *c, const char *asset, const char *type,
                            const char *privilege)
{
    if (strcmp(type, "table") != 0 && strcmp(type, "view") != 0 && strcmp(type, "schema") != 0)
        return sg_err_set(SG_EINVAL,
                          "asset '%s' is a %s; its mysql connection '%s' grants on tables, views "
                          "and schemas (databases) only",
                          asset, type, c->name);
    if (strcmp(type, "view") == 0 && strcmp(privilege, "write") == 0)
        return sg_err_set(SG_EINVAL, "asset '%s' is a view, which cannot be written; request read",
                          asset);
    my_name n;
    return split_name(asset, type, &n);
}

/* ---- discovery ----
 * The databases (schema assets, named by the database), tables and views (database.table) the
 * grantor can see, never the system schemas, in name order, with TABLE_COMMENT as the
 * description. MariaDB has no owners: the run's default owner applies. */

/* Streams a catalog query to fn: columns schema, name (NULL for a database), type, comment. */
static int stream(MYSQL *m, const char *sql, sg_discover_fn fn, void *ctx)
{
    if (mysql_real_query(m, sql, strlen(sql)) != 0)
        return sg_err_set(transient(mysql_errno(m)) ? SG_EUNAVAIL : SG_EINVAL,
                          "MariaDB refused to list its catalog: %s (error %u)", mysql_error(m),
                          mysql_errno(m));
    MYSQL_RES *r = mysql_use_result(m);
    if (!r)
        return sg_err_set(SG_EUNAVAIL, "MariaDB failed to list its catalog: %s", mysql_error(m));
    int rc = SG_OK;
    MYSQL_ROW row;
    sg_buf name = SG_BUF_INIT(0);
    while (rc == SG_OK && (row = mysql_fetch_row(r)) != NULL) {
        if (!row[0] || !row[2])
            continue;
        bool view = strcmp(row[2], "VIEW") == 0;
        const char *type = view ? "view" : strcmp(row[2], "SCHEMA") == 0 ? "schema" : "table";
        sg_buf_reset(&name);
        if (row[1])
            sg_buf_printf(&name, "%s.%s", row[0], row[1]);
        else
            sg_buf_puts(&name, row[0]);
        /* A view's TABLE_COMMENT is the word VIEW, not a comment. */
        sg_discovered d = {sg_buf_str(&name), type, !view && row[3] ? row[3] : "", ""};
        rc = fn(ctx, &d);
    }
    if (rc == SG_OK && mysql_errno(m))
        rc =
            sg_err_set(SG_EUNAVAIL, "MariaDB failed while listing its catalog: %s", mysql_error(m));
    /* Stopped early: the rest of the rows must be read before the result is freed. */
    while (rc != SG_OK && mysql_fetch_row(r) != NULL)
        ;
    mysql_free_result(r);
    sg_buf_free(&name);
    return rc;
}

static int my_discover(sg_app *app, const sg_connection_ref *c, const sg_discover_opts *opts,
                       sg_discover_fn fn, void *ctx)
{
    (void)opts; /* the caller filters: patterns are globs, not LIKE */
    MYSQL *m = NULL;
    int64_t retry_after = 0;
    int rc = connect_db(app, c->name, c->id, c->config, c->sealed, &m, &retry_after);
    if (rc != SG_OK)
        return rc;
        /* System schemas are never governed assets. Base tables, system-versioned tables and
         * views; sequences and temporary tables are not. */
#define MY_NOT_SYSTEM "('mysql', 'information_schema', 'performance_schema', 'sys')"
#define MY_STR(x)     #x
#define MY_XSTR(x)    MY_STR(x)
#define MY_COMMENT    MY_XSTR(SG_DISCOVER_MAX_COMMENT)
    rc = stream(m,
                "SELECT SCHEMA_NAME, NULL, 'SCHEMA', '' FROM information_schema.SCHEMATA "
                "WHERE SCHEMA_NAME NOT IN " MY_NOT_SYSTEM " ORDER BY SCHEMA_NAME",
                fn, ctx);
    if (rc == SG_OK)
        rc = stream(m,
                    "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, LEFT(TABLE_COMMENT, " MY_COMMENT
                    ") FROM "
                    "information_schema.TABLES WHERE TABLE_SCHEMA NOT IN " MY_NOT_SYSTEM
                    " AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED', 'VIEW') "
                    "ORDER BY TABLE_SCHEMA, TABLE_NAME",
                    fn, ctx);
#undef MY_NOT_SYSTEM
#undef MY_COMMENT
    mysql_close(m);
    return rc;
}

const sg_connector sg_connector_mysql = {
    .kind = "mysql",
    .alias = "mariadb",
    .secret_field = "password",
    .needs_db_role = true,
    .check_account = my_check_account,
    .name_parts = 2,
    .check_config = my_check_config,
    .check_request = my_check_request,
    .test_login = my_test_login,
    .discover = my_discover,
    .apply = my_apply,
    .verify = my_verify,
};
