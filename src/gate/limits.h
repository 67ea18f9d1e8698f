/* limits: every size limit on what snowgate stores, in one place. Input longer than a limit is
 * refused where it enters (400, naming the limit); the buffers that later hold these values are
 * sized from here and checked at compile time, so nothing is ever cut short silently. */
#ifndef SG_GATE_LIMITS_H
#define SG_GATE_LIMITS_H

/* Names, in bytes. */
#define SG_MAX_USER_NAME       100
#define SG_MAX_CONNECTION_NAME 100
#define SG_MAX_ASSET_NAME      255
#define SG_MAX_DB_ROLE         63 /* PostgreSQL's identifier limit */

/* An asset's owners: how many, each a user name. */
#define SG_MAX_OWNERS 50

/* Connection settings, in bytes. */
#define SG_MAX_DSN    1000 /* a postgres connection's dsn */
#define SG_MAX_URL    1000 /* a webhook connection's url */
#define SG_MAX_SECRET 1000 /* a connection's password or signing secret */

/* What those become when stored: the secret is sealed (base64 of the secret, nonce and tag,
 * with a short prefix), the owners a JSON list of quoted, escaped names. (The config, with its
 * discovery patterns, has no fixed bound: fulfilment reads it whole.) */
#define SG_MAX_SEALED_STORED (64 + 4 * (SG_MAX_SECRET + 64) / 3)
#define SG_MAX_OWNERS_STORED (2 + SG_MAX_OWNERS * (3 + 6 * SG_MAX_USER_NAME))

#endif
