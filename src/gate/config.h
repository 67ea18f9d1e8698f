/* config: snowgate's settings, their defaults, and where each comes from. */
#ifndef SG_GATE_CONFIG_H
#define SG_GATE_CONFIG_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sg_gate_config {
    char *listen;
    char *data_dir;
    char *public_url;
    char *store_url;
    int64_t store_pool;
    int64_t store_statement_timeout;
    bool store_migrate;
    char *log_level;
    char *log_format;
    int64_t http_threads;
    int64_t http_io_threads;
    size_t http_max_body;
    int64_t http_timeout;
    char *http_trusted_proxies;
    int64_t http_max_per_client;
    int64_t http_header_timeout;
    int64_t shutdown_grace;
    bool allow_insecure_loopback;
    char *master_key_file;
    int64_t webhook_timeout;
    int64_t webhook_secret_grace;
    int64_t test_interval;
    int64_t reconcile_interval;
    int64_t job_lease;
    int64_t job_workers;
    int64_t refresh_lifespan;
    char *metrics_token;
    char *metrics_listen;
} sg_gate_config;

/* The key table: names, types, defaults and help, in the order the docs list them. */
extern const sg_cfg_key sg_gate_config_keys[];

#endif
