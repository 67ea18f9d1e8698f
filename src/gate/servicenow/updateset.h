/* updateset: the update set XML that installs snowgate's ServiceNow side, generated for one
 * integration, with the structure of real exports (see ../shared/servicenow-reference.md §8). */
#ifndef SG_GATE_SN_UPDATESET_H
#define SG_GATE_SN_UPDATESET_H

#include <stddef.h>

typedef struct sg_updateset_opts {
    const char *webhook_url; /* <public-url>/webhooks/servicenow */
    const char *seed;        /* makes sys_ids stable for one integration (its client_id) */
    const char *export_time; /* "yyyy-MM-dd HH:mm:ss"; NULL for now */
    /* The sys_id of a category of the instance's own to put the catalog item in, instead of
     * snowgate's "Data access" category (then not in the set); NULL: snowgate's own. A sys_id
     * (sn_is_sys_id), checked by the caller. */
    const char *category;
} sg_updateset_opts;

/* Generates the document. *out is the caller's (free()). */
int sg_updateset_generate(const sg_updateset_opts *o, char **out, size_t *len);

/* Names in the update set, for the checks and the docs. */
#define SG_SN_ROLE          "snowgate_service_account_role"
#define SG_SN_CATALOG       "snowgate Data Access"
#define SG_SN_ITEM          "Data access request"
#define SG_SN_RULE          "snowgate Business Rule"
#define SG_SN_PROP_URL      "x_snowgate.webhook_url"
#define SG_SN_PROP_SECRET   "x_snowgate.webhook_secret"
#define SG_SN_USERINFO_PATH "/api/snc/oauth_userinfo"
#define SG_SN_SECRET_PATH   "/api/snc/snowgate_webhook_secret"

#endif
