/* assets: data sources (connections) and the governed data assets in them. */
#ifndef SG_GATE_ASSETS_H
#define SG_GATE_ASSETS_H

#include "core/json.h"
#include "gate/app.h"

/* Creates a connection from {"name","kind","dsn"|"url"+"secret"}. A postgres DSN's password
 * and a webhook's secret are sealed; neither is ever returned. *out is the connection as the
 * API shows it. */
int sg_connection_create(sg_app *app, const char *actor, const sg_json *in, sg_json **out);
int sg_connection_list(sg_app *app, sg_json **out);

/* Creates an asset from {"name","type","connection","owners":[user names],"description"}. */
int sg_asset_create(sg_app *app, const char *actor, const sg_json *in, sg_json **out);
/* Lists assets; q filters by a case-insensitive substring of the name (NULL: all). */
int sg_asset_list(sg_app *app, const char *q, sg_json **out);

/* Checks a qualified asset name such as analytics.public.orders: 1 to 3 dot-separated parts,
 * each a letter or underscore then letters, digits, underscores or dollars (63 at most), so it
 * can be quoted safely for SQL and never carries ServiceNow query syntax. */
int sg_asset_name_check(const char *name);

#endif
