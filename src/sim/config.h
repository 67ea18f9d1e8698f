/* config: snowsim's settings. */
#ifndef SG_SIM_CONFIG_H
#define SG_SIM_CONFIG_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sg_sim_config {
    char *listen;
    char *data_dir;
    char *base_url;
    char *admin_password;
    char *log_level;
    char *log_format;
    int64_t http_threads;
    size_t http_max_body;
    int64_t http_timeout;
    int64_t shutdown_grace;
    bool allow_insecure_loopback;
    bool oauth_auto_consent;
    char *faults;
    char *outbound_allow;
    int64_t script_time_ms;
    size_t script_heap_max;
} sg_sim_config;

extern const sg_cfg_key sg_sim_config_keys[];

#endif
