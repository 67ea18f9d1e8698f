/* ui: the web UI, plain HTML, CSS and ES modules from web/, embedded in the binary at build
 * time. Every file carries a strong ETag (its SHA-256) and is revalidated on each load; every
 * answer carries a strict Content-Security-Policy (no inline script or style) and the usual
 * security headers (the server adds X-Content-Type-Options to every answer). */
#include "gate/api/api.h"

#include "core/crypto.h"
#include "core/embed.h"
#include "core/err.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

extern const sg_embed_file sg_gate_web[];

#define MAX_FILES 64

static char etags[MAX_FILES][40];
static pthread_once_t etags_once = PTHREAD_ONCE_INIT;

static void compute_etags(void)
{
    for (size_t i = 0; i < MAX_FILES && sg_gate_web[i].path; i++) {
        uint8_t d[SG_SHA256_LEN];
        char hex[2 * SG_SHA256_LEN + 1];
        sg_sha256(sg_gate_web[i].data, sg_gate_web[i].len, d);
        sg_hex_encode(d, 16, hex);
        snprintf(etags[i], sizeof(etags[i]), "\"%.32s\"", hex);
    }
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

void api_security_headers(sg_app *app, sg_http_req *req)
{
    sg_http_set_header(req, "Content-Security-Policy",
                       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' "
                       "data:; connect-src 'self'; font-src 'self'; form-action 'self'; "
                       "frame-ancestors 'none'; base-uri 'none'");
    sg_http_set_header(req, "X-Frame-Options", "DENY");
    sg_http_set_header(req, "Referrer-Policy", "same-origin");
    sg_http_set_header(req, "Cross-Origin-Opener-Policy", "same-origin");
    sg_http_set_header(req, "Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    if (app->cfg.public_url && strncmp(app->cfg.public_url, "https://", 8) == 0)
        sg_http_set_header(req, "Strict-Transport-Security", "max-age=31536000");
}

static int serve(sg_app *app, sg_http_req *req, const char *path)
{
    pthread_once(&etags_once, compute_etags);
    size_t i = 0;
    while (i < MAX_FILES && sg_gate_web[i].path && strcmp(sg_gate_web[i].path, path) != 0)
        i++;
    api_security_headers(app, req);
    if (i == MAX_FILES || !sg_gate_web[i].path)
        return sg_err_set(SG_ENOTFOUND, "no such page: %s", path);
    sg_http_set_header(req, "ETag", etags[i]);
    sg_http_set_header(req, "Cache-Control", "no-cache");
    const char *inm = sg_http_header(req, "If-None-Match");
    if (inm && strstr(inm, etags[i]))
        return sg_http_reply(req, 304, NULL, NULL, 0);
    return sg_http_reply(req, 200, content_type(path), sg_gate_web[i].data, sg_gate_web[i].len);
}

int api_ui_index(sg_http_req *req, void *app)
{
    return serve(app, req, "index.html");
}

int api_ui_file(sg_http_req *req, void *app)
{
    const char *file = sg_http_param(req, "file");
    if (!file || strchr(file, '/') || strcmp(file, "index.html") == 0)
        return sg_err_set(SG_ENOTFOUND, "no such file");
    return serve(app, req, file);
}
