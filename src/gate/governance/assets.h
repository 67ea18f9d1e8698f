/* assets: data sources (connections) and the governed data assets in them. */
#ifndef SG_GATE_ASSETS_H
#define SG_GATE_ASSETS_H

#include "core/json.h"
#include "gate/app.h"

/* Creates a connection from {"name","kind", its kind's settings ("dsn"+"password" or
 * "url"+"secret"), and for a kind that discovers "include", "exclude", "default_owner",
 * "discovery_interval"}. A postgres DSN's password
 * and a webhook's secret are sealed; neither is ever returned. *out is the connection as the
 * API shows it. */
int sg_connection_create(sg_app *app, const char *actor, const sg_json *in, sg_json **out);
int sg_connection_list(sg_app *app, sg_json **out);
/* Reads connection `ref` (its id or name) in c: *out is on its row, with the columns id, name,
 * kind, config and then `more` (SQL, a constant of the caller's), for the caller to free.
 * SG_ENOTFOUND when there is none. */
int sg_connection_row(sg_conn *c, const char *ref, const char *more, sg_rows **out);
/* Changes the discovery settings of connection `ref` (its id or name) as actor, from any of
 * {"include", "exclude", "default_owner", "discovery_interval"}, checked as at creation: a list
 * given replaces the old one ([] or null removes it), a default owner (a snowgate user) replaces
 * the old one (null removes it), an interval replaces the old one (0: only when asked). Other
 * keys are refused (SG_EINVAL), as is a kind that cannot discover. A run already queued or
 * running keeps the settings it started with. Audited as connection.changed; *out is the
 * connection as the API shows it. SG_ENOTFOUND for no such connection. */
int sg_connection_update(sg_app *app, const char *actor, const char *ref, const sg_json *in,
                         sg_json **out);
/* The connection whose id or name is ref, with its discovery state ("discovery": the last run,
 * with "state" queued, running, done or failed, "percent", "counts", "error"). SG_ENOTFOUND. */
int sg_connection_get(sg_app *app, const char *ref, sg_json **out);

/* Creates an asset from {"name","type","connection","owners":[user names],"description"}. */
int sg_asset_create(sg_app *app, const char *actor, const sg_json *in, sg_json **out);
/* Lists assets; q filters by a case-insensitive substring of the name (NULL: all); state is
 * active (NULL: the default), gone (discovery no longer finds them) or all. */
int sg_asset_list(sg_app *app, const char *q, const char *state, sg_json **out);

/* Checks a qualified asset name such as analytics.public.orders: 1 to 3 dot-separated parts,
 * each a letter or underscore then letters, digits, underscores or dollars (63 at most), so it
 * can be quoted safely for SQL and never carries ServiceNow query syntax. */
int sg_asset_name_check(const char *name);

#endif
