/* backend: what a store backend implements. Private to src/store/. */
#ifndef SG_STORE_BACKEND_H
#define SG_STORE_BACKEND_H

#include "store/store.h"

/* read: a consistent snapshot. write: serialized with every other writer (of every process).
 * row: a writer that relies on its own row locks (SELECT ... FOR UPDATE SKIP LOCKED). */
typedef enum sg_tx_mode { SG_TX_READ, SG_TX_WRITE, SG_TX_ROW } sg_tx_mode;

typedef struct sg_store_ops {
    const char *name;
    int (*open)(const sg_store_opts *opts, void **db_out);
    void (*close)(void *db);
    int (*acquire)(void *db, sg_conn **out);
    void (*release)(void *db, sg_conn *c);
    int (*begin)(sg_conn *c, sg_tx_mode mode);
    int (*commit)(sg_conn *c);
    void (*rollback)(sg_conn *c);
    int (*exec_script)(sg_conn *c, const char *sql);
    int (*exec)(sg_conn *c, const char *sql, const sg_val *params, size_t n, int64_t *changes);
    int (*query)(sg_conn *c, const char *sql, const sg_val *params, size_t n, sg_rows **out);
    int (*next)(sg_rows *r);
    int (*columns)(const sg_rows *r);
    const char *(*column_name)(const sg_rows *r, int col);
    bool (*is_null)(const sg_rows *r, int col);
    int64_t (*get_int)(const sg_rows *r, int col);
    const char *(*get_text)(const sg_rows *r, int col);
    const void *(*get_blob)(const sg_rows *r, int col, size_t *len);
    void (*rows_free)(sg_rows *r);
    /* Whether this process holds the leadership (taking it when free); see store.h. */
    bool (*leader)(void *db);
} sg_store_ops;

/* Every sg_conn and sg_rows starts with this, so store.c can find the backend. */
typedef struct sg_conn_base {
    const sg_store_ops *be;
    const sg_store *st; /* a connection's: the store lending it (set by store.c) */
} sg_conn_base;

extern const sg_store_ops sg_store_sqlite;
extern const sg_store_ops sg_store_postgres;

#endif
