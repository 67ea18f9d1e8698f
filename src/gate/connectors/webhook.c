/* webhook: the webhook connector, for any system snowgate has no connector for. It posts a
 * Standard Webhooks-signed JSON message of what to change. The message id is stable per request
 * and step, so a receiver can drop the redeliveries a retry causes. */
#include "gate/connectors/connectors.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/str.h"
#include "core/url.h"
#include "core/webhook_sig.h"
#include "gate/limits.h"
#include "gate/governance/privileges.h"
#include "gate/secrets.h"
#include "http/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *message(const sg_access_change *ch)
{
    sg_json *body = sg_json_object();
    sg_json_set_str(body, "type", ch->grant ? "access.grant" : "access.revoke");
    sg_json_set_str(body, "request", ch->request_id);
    sg_json_set_str(body, "asset", ch->asset);
    sg_json_set_str(body, "for", ch->beneficiary);
    sg_json_set_str(body, "privilege", ch->privilege);
    /* Exactly the change fulfilment worked out: at expiry, only what no other live grant of the
     * person still gives (the level alone would take away what another grant needs). */
    sg_privs set = 0;
    if (!sg_privs_parse(ch->privileges, &set)) {
        sg_json_decref(body);
        return NULL;
    }
    sg_json_set(body, "privileges", sg_privs_json(set));
    if (ch->duration_s > 0 && ch->grant)
        sg_json_set_int(body, "duration_seconds", ch->duration_s);
    char *text = sg_json_dump(body);
    sg_json_decref(body);
    return text;
}

static int post(sg_app *app, const sg_access_change *ch, const char *url, const char *text,
                const char *signature, const char *msg_id, int64_t ts, int64_t *retry_after)
{
    char h_id[128], h_ts[64], h_sig[256];
    snprintf(h_id, sizeof(h_id), "webhook-id: %s", msg_id);
    snprintf(h_ts, sizeof(h_ts), "webhook-timestamp: %lld", (long long)ts);
    snprintf(h_sig, sizeof(h_sig), "webhook-signature: %s", signature);
    const char *hdrs[] = {"Content-Type: application/json", h_id, h_ts, h_sig, NULL};
    sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
    o.allow_insecure_loopback = app->cfg.allow_insecure_loopback;
    o.timeout_ms = 20000;
    o.max_response = 64 * 1024;
    sg_http_response res = {0};
    int rc = sg_http_request(&o, "POST", url, hdrs, text, strlen(text), &res);
    if (rc == SG_OK && (res.status < 200 || res.status > 299)) {
        bool again = res.status == 429 || res.status >= 500;
        const char *ra = sg_http_response_header(&res, "Retry-After");
        int64_t secs = 0;
        if (again && ra && sg_parse_i64(ra, 0, 86400, "Retry-After", &secs) == SG_OK)
            *retry_after = secs;
        if (!again)
            *retry_after = SG_JOBS_NO_RETRY;
        rc = sg_err_set(again ? SG_EUNAVAIL : SG_EINVAL,
                        "the webhook receiver of connection '%s' answered HTTP %ld", ch->connection,
                        res.status);
    }
    sg_http_response_free(&res);
    return rc;
}

static int wh_apply(sg_app *app, const sg_access_change *ch, int64_t *retry_after)
{
    sg_json *cfg = NULL;
    const char *url = NULL;
    if (sg_json_parse(ch->config, strlen(ch->config), 0, 0, &cfg) == SG_OK)
        url = sg_json_get_str(cfg, "url");
    char binding[96], *secret = NULL;
    snprintf(binding, sizeof(binding), "connections:%s:secret", ch->connection_id);
    int rc = !url ? sg_err_set(SG_EINVAL, "connection '%s' has no url", ch->connection)
             : !ch->sealed || !ch->sealed[0]
                 ? sg_err_set(SG_EINVAL, "connection '%s' has no secret", ch->connection)
                 : sg_secrets_open_value(&app->secrets, binding, ch->sealed, &secret);
    char *text = message(ch);
    if (rc == SG_OK && !text)
        rc = sg_err_set(SG_EINTERNAL, "a privilege outside the model was asked for");
    char msg_id[96];
    snprintf(msg_id, sizeof(msg_id), "%s:%s", ch->request_id, ch->step);
    int64_t ts = (int64_t)time(NULL);
    sg_buf sig = SG_BUF_INIT(0);
    if (rc == SG_OK)
        rc = sg_webhook_sig_sign(secret, msg_id, ts, text, strlen(text), &sig);
    sg_secrets_free_plain(secret);
    if (rc == SG_OK)
        rc = post(app, ch, url, text, sg_buf_str(&sig), msg_id, ts, retry_after);
    sg_buf_free(&sig);
    free(text);
    sg_json_decref(cfg);
    return rc;
}

/* A Standard Webhooks secret: base64 (after an optional whsec_) of at least 16 bytes. */
static bool secret_ok(const char *secret)
{
    sg_buf key = SG_BUF_INIT(0);
    bool ok = secret && sg_webhook_sig_key(secret, &key) == SG_OK && key.len >= 16;
    sg_buf_free(&key);
    return ok;
}

/* A new connection's settings: "url" (through the outbound guard) and "secret" (sealed). */
static int wh_check_config(sg_app *app, const sg_json *in, sg_json *cfg, const char **secret)
{
    const char *url = sg_json_get_str(in, "url");
    *secret = sg_json_get_str(in, "secret");
    if (url && strlen(url) > SG_MAX_URL)
        return sg_err_set(SG_EINVAL, "\"url\" is %zu bytes; the most is %d", strlen(url),
                          SG_MAX_URL);
    if (!url || sg_url_guard(url, app->cfg.allow_insecure_loopback) != SG_OK)
        return sg_err_set(SG_EINVAL,
                          "a webhook connection needs an https \"url\" on a public host: %s",
                          url ? sg_err_msg() : "none given");
    if (!secret_ok(*secret))
        return sg_err_set(SG_EINVAL,
                          "a webhook connection needs a Standard Webhooks \"secret\": whsec_ "
                          "and the base64 of 16 or more random bytes (e.g. whsec_$(openssl "
                          "rand -base64 32))");
    sg_json_set_str(cfg, "url", url);
    return SG_OK;
}

const sg_connector sg_connector_webhook = {
    .kind = "webhook",
    .secret_field = "secret",
    .check_config = wh_check_config,
    .apply = wh_apply,
};
