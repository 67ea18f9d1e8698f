/* sim_helpers: update set building and import for snowsim tests. */
#include "e2e/sim_helpers.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *payload_for(const us_record *r, const char *action)
{
    sg_xml_writer *w = sg_xml_writer_new();
    sg_xml_start(w, "record_update");
    sg_xml_attribute(w, "table", r->table);
    sg_xml_start(w, r->table);
    sg_xml_attribute(w, "action", action);
    for (int i = 0; r->fields[i]; i += 2) {
        if (strcmp(r->fields[i], "script") == 0 || strcmp(r->fields[i], "operation_script") == 0) {
            sg_xml_start(w, r->fields[i]);
            sg_xml_write_cdata(w, r->fields[i + 1]);
            sg_xml_end(w);
        } else {
            sg_xml_element(w, r->fields[i], r->fields[i + 1]);
        }
    }
    sg_xml_element(w, "sys_id", r->sys_id);
    sg_xml_element(w, "sys_class_name", r->table);
    sg_xml_element(w, "sys_updated_on", "2024-01-01 00:00:00");
    sg_xml_end(w);
    sg_xml_end(w);
    char *out = NULL;
    assert_int_equal(sg_xml_writer_finish(w, &out, NULL), SG_OK);
    return out;
}

char *us_build(const char *name, const us_record *records, int n)
{
    sg_xml_writer *w = sg_xml_writer_new();
    char set_id[33];
    sim_new_sys_id(set_id);
    sg_xml_start(w, "unload");
    sg_xml_attribute(w, "unload_date", "2024-01-01 00:00:00");
    sg_xml_start(w, "sys_remote_update_set");
    sg_xml_attribute(w, "action", "INSERT_OR_UPDATE");
    sg_xml_element(w, "application", "global");
    sg_xml_element(w, "name", name);
    sg_xml_element(w, "state", "loaded");
    sg_xml_element(w, "sys_id", set_id);
    sg_xml_end(w);
    for (int i = 0; i < n; i++) {
        const char *action = records[i].action ? records[i].action : "INSERT_OR_UPDATE";
        char *payload = records[i].raw_payload ? sg_xstrdup(records[i].raw_payload)
                                               : payload_for(&records[i], action);
        char row_id[33], uname[128];
        sim_new_sys_id(row_id);
        snprintf(uname, sizeof(uname), "%s_%s", records[i].table, records[i].sys_id);
        sg_xml_start(w, "sys_update_xml");
        sg_xml_attribute(w, "action", "INSERT_OR_UPDATE");
        sg_xml_element(w, "action", action);
        sg_xml_element(w, "category", "customer");
        sg_xml_element(w, "name", uname);
        sg_xml_start(w, "payload");
        sg_xml_write_cdata(w, payload);
        sg_xml_end(w);
        sg_xml_start(w, "remote_update_set");
        sg_xml_attribute(w, "display_value", name);
        sg_xml_write_text(w, set_id);
        sg_xml_end(w);
        sg_xml_element(w, "sys_id", row_id);
        sg_xml_element(w, "table", records[i].table);
        sg_xml_element(w, "type", "Record");
        sg_xml_end(w);
        free(payload);
    }
    sg_xml_end(w);
    char *out = NULL;
    assert_int_equal(sg_xml_writer_finish(w, &out, NULL), SG_OK);
    return out;
}

char *us_upload(const h_sim *s, const char *xml, size_t len, long *status)
{
    sg_buf body = SG_BUF_INIT(0);
    const char *b = "sgTestBoundary7x";
    sg_buf_printf(&body,
                  "--%s\r\nContent-Disposition: form-data; name=\"sysparm_target\"\r\n\r\n"
                  "sys_remote_update_set\r\n--%s\r\nContent-Disposition: form-data; "
                  "name=\"attachFile\"; filename=\"update.xml\"\r\nContent-Type: text/xml\r\n\r\n",
                  b, b);
    sg_buf_append(&body, xml, len);
    sg_buf_printf(&body, "\r\n--%s--\r\n", b);
    char ct[96];
    snprintf(ct, sizeof(ct), "Content-Type: multipart/form-data; boundary=%s", b);
    const char *hdrs[] = {s->admin_auth, ct, NULL};
    char *url = sg_xasprintf("%s/sys_upload.do", s->p.url);
    sg_http_client_opts o = SG_HTTP_CLIENT_OPTS_INIT;
    o.allow_insecure_loopback = true;
    sg_http_response r;
    assert_int_equal(sg_http_request(&o, "POST", url, hdrs, body.data, body.len, &r), SG_OK);
    free(url);
    sg_buf_free(&body);
    *status = r.status;
    char *id = NULL;
    const char *loc = sg_http_response_header(&r, "Location");
    const char *p = loc ? strstr(loc, "sys_id=") : NULL;
    if (p)
        id = sg_xstrndup(p + 7, 32);
    sg_http_response_free(&r);
    return id;
}

char *us_cicd(const h_sim *s, const char *what, const char *id, const char *query)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/sn_cicd/update_set/%s/%s%s", what, id, query ? query : "");
    const char *admin[] = {s->admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("POST", s->p.url, path, admin, NULL, &j, NULL), 200);
    sg_json *res = sg_json_get(j, "result");
    /* Poll the progress record, as a client written for a real instance does. */
    const char *pid = sg_json_get_str(sg_json_get(sg_json_get(res, "links"), "progress"), "id");
    snprintf(path, sizeof(path), "/api/sn_cicd/progress/%s", pid);
    sg_json *p = NULL;
    assert_int_equal(h_call("GET", s->p.url, path, admin, NULL, &p, NULL), 200);
    char *label = sg_xstrdup(sg_json_get_str(sg_json_get(p, "result"), "status_label"));
    sg_json_decref(p);
    sg_json_decref(j);
    return label;
}

int us_resolve(const h_sim *s, const char *id, const char *status)
{
    const char *admin[] = {s->admin_auth, NULL};
    char path[256];
    snprintf(path, sizeof(path),
             "/api/now/table/sys_update_preview_problem?sysparm_query=remote_update_set%%3D%s"
             "&sysparm_fields=sys_id",
             id);
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", s->p.url, path, admin, NULL, &j, NULL), 200);
    sg_json *list = sg_json_get(j, "result");
    int n = (int)sg_json_array_size(list);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "/api/now/table/sys_update_preview_problem/%s",
                 sg_json_get_str(sg_json_array_get(list, i), "sys_id"));
        char body[64];
        snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
        sg_json *r = NULL;
        assert_int_equal(h_call("PATCH", s->p.url, path, admin, body, &r, NULL), 200);
        sg_json_decref(r);
    }
    sg_json_decref(j);
    return n;
}
