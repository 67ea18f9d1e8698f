/* config: the table of snowsim settings (env SNOWSIM_*). */
#include "sim/config.h"

#include <stddef.h>

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"json", "logfmt", NULL};

#define F(field) offsetof(sg_sim_config, field)

const sg_cfg_key sg_sim_config_keys[] = {
    {"listen", SG_CFG_LISTEN, F(listen), "127.0.0.1:8443", 0, 0, NULL,
     "address and port to serve on (port 0 picks a free one)"},
    {"data_dir", SG_CFG_STR, F(data_dir), "./snowsim-data", 0, 0, NULL,
     "directory for the instance's records"},
    {"base_url", SG_CFG_URL, F(base_url), NULL, 0, 0, NULL,
     "the instance URL clients use (default http://LISTEN)"},
    {"admin_password", SG_CFG_STR, F(admin_password), NULL, 0, 0, NULL,
     "password of the built-in 'admin' user"},
    {"log.level", SG_CFG_ENUM, F(log_level), "info", 0, 0, log_levels,
     "debug, info, warn or error"},
    {"log.format", SG_CFG_ENUM, F(log_format), "json", 0, 0, log_formats, "json or logfmt"},
    {"http.threads", SG_CFG_INT, F(http_threads), "8", 1, 256, NULL,
     "handler threads: requests run here, at most this many at once (the others queue)"},
    {"http.max_body", SG_CFG_SIZE, F(http_max_body), "10M", 1024, 256 * 1024 * 1024, NULL,
     "largest accepted request body"},
    {"http.timeout", SG_CFG_INT, F(http_timeout), "30", 1, 3600, NULL,
     "idle connection timeout in seconds"},
    {"shutdown_grace", SG_CFG_INT, F(shutdown_grace), "10", 0, 600, NULL,
     "seconds in-flight requests get to finish on shutdown"},
    {"allow_insecure_loopback", SG_CFG_BOOL, F(allow_insecure_loopback), "false", 0, 0, NULL,
     "tests and demo only: scripts may call http and loopback URLs"},
    {"oauth_auto_consent", SG_CFG_BOOL, F(oauth_auto_consent), "false", 0, 0, NULL,
     "tests only: /oauth_auth.do skips the login and consent pages for the admin user"},
    {"faults", SG_CFG_STR, F(faults), NULL, 0, 0, NULL,
     "fault injection rules as JSON (see docs/snowsim.md)"},
    {"outbound_allow", SG_CFG_STR, F(outbound_allow), NULL, 0, 0, NULL,
     "comma-separated URL prefixes scripts may call (empty: any the outbound guard allows)"},
    {"script.time_ms", SG_CFG_INT, F(script_time_ms), "5000", 10, 600000, NULL,
     "time limit of one script run, in milliseconds"},
    {"script.heap_max", SG_CFG_SIZE, F(script_heap_max), "64M", 1024 * 1024,
     (int64_t)1024 * 1024 * 1024, NULL, "memory limit of one script run"},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL},
};
