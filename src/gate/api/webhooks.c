/* webhooks: POST /webhooks/servicenow, ServiceNow's signed events. Anything unsigned or forged
 * gets a bare 401; a valid event is stored before the 2xx. */
#include "gate/api/api.h"

#include "core/err.h"
#include "core/log.h"
#include "gate/servicenow/webhook.h"

#include <time.h>

/* The answer for a stored (or refused) event. */
static int reply_stored(sg_http_req *req, int rc, bool duplicate)
{
    if (rc == SG_EUNAVAIL) { /* the store is closing: snowgate is stopping */
        sg_http_set_header(req, "Retry-After", "1");
        return sg_http_reply_status(req, 503, "unavailable", "snowgate is stopping; try again");
    }
    if (rc != SG_OK) {
        sg_log_error("webhook not stored", "error", sg_err_msg());
        return sg_http_reply_error(req, rc,
                                   "internal error; see the server log with this "
                                   "request_id");
    }
    /* Made on the committer thread for every event of a group: no JSON library, no copy. */
    if (duplicate)
        return sg_http_reply_static(req, 200, "application/json", "{\"status\":\"duplicate\"}");
    return sg_http_reply_static(req, 202, "application/json", "{\"status\":\"accepted\"}");
}

/* On the store's committer thread, once the event is durable: answer, and let the connection
 * go on. */
static void on_stored(void *ud, int rc, bool duplicate)
{
    sg_http_req *req = ud;
    sg_log_set_request_id(sg_http_request_id(req));
    reply_stored(req, rc, duplicate);
    sg_log_set_request_id(NULL);
    sg_http_resume(req);
}

/* Stores a verified event and answers once it is durable: with the connection suspended
 * while it waits for its group commit, where it can be. */
static int store_and_reply(sg_http_req *req, sg_app *app, const char *id, const char *body,
                           size_t len)
{
    if (sg_http_suspend(req)) {
        int rc = sg_webhook_store_async(app, id, body, len, on_stored, req);
        if (rc != SG_OK) {
            reply_stored(req, rc, false);
            sg_http_resume(req);
        }
        return SG_HTTP_SUSPENDED;
    }
    bool duplicate = false;
    int rc = sg_webhook_store(app, id, body, len, &duplicate);
    return reply_stored(req, rc, duplicate);
}

static int refuse(sg_http_req *req, int rc)
{
    if (rc == SG_EAUTH || rc == SG_ENOTFOUND) /* reveal nothing, not even whether we are set up */
        return sg_http_reply_status(req, 401, "unauthorized", "invalid webhook signature");
    return rc;
}

static int webhook_checked_in_store(sg_http_req *req, void *appv);

/* Verifies and stores one delivery. quick: on the I/O thread, with the cached secret alone;
 * what it cannot settle moves to the handler pool for the full check, which may read the
 * store (a signature the cached secret does not match, the previous secret, the periodic
 * recheck). */
static int receive(sg_http_req *req, sg_app *app, bool quick)
{
    size_t len = 0;
    const char *body = sg_http_body(req, &len);
    const char *id = sg_http_header(req, "webhook-id");
    const char *ts = sg_http_header(req, "webhook-timestamp");
    const char *sig = sg_http_header(req, "webhook-signature");
    int64_t now = (int64_t)time(NULL);
    int rc;
    if (quick) {
        bool settled = false;
        rc = sg_webhook_verify_quick(app, id, ts, sig, body, len, now, &settled);
        if (!settled)
            return sg_http_run_in_pool(req, webhook_checked_in_store);
    } else {
        rc = sg_webhook_verify(app, id, ts, sig, body, len, now);
    }
    if (rc != SG_OK)
        return refuse(req, rc);
    return store_and_reply(req, app, id, body, len);
}

static int webhook_checked_in_store(sg_http_req *req, void *appv)
{
    return receive(req, appv, false);
}

/* A quick route (SG_HTTP_QUICK): the signature is checked on the I/O thread against the
 * cached secret, then the connection is suspended while the event waits for its group commit,
 * so many deliveries share each fsync without a thread each; no I/O thread waits on the
 * store. */
int api_webhooks_servicenow(sg_http_req *req, void *appv)
{
    return receive(req, appv, true);
}
