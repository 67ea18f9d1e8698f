/* End to end: snowsim's Table API over HTTP, row by row of the reference (section 3), with
 * its error cases, ACLs, rate limits, faults and persistence. */
#include "e2e/harness.h"

#include "core/crypto.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "sim/records.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static h_sim sim;

static int start(void **state)
{
    (void)state;
    h_sim_start(&sim, NULL, NULL);
    return 0;
}

static int stop(void **state)
{
    (void)state;
    h_sim_stop(&sim);
    return 0;
}

static const char *result_str(sg_json *j, const char *field)
{
    return sg_json_get_str(sg_json_get(j, "result"), field);
}

static void expect_error(sg_json *j, const char *message, const char *detail)
{
    assert_non_null(j);
    assert_string_equal(sg_json_get_str(j, "status"), "failure");
    sg_json *e = sg_json_get(j, "error");
    assert_string_equal(sg_json_get_str(e, "message"), message);
    if (detail)
        assert_string_equal(sg_json_get_str(e, "detail"), detail);
    else
        assert_int_equal(sg_json_typeof(sg_json_get(e, "detail")), SG_JSON_NULL);
}

static void test_crud(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    sg_http_response r;
    const char *body = "{\"short_description\":\"Access to analytics.orders\",\"priority\":2,"
                       "\"correlation_id\":\"snowgate:42\",\"no_such_field\":\"ignored\"}";
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/v2/table/sc_request", admin, body, &j, &r),
                     201);
    const char *loc = sg_http_response_header(&r, "Location");
    const char *id = result_str(j, "sys_id");
    assert_true(sim_is_sys_id(id));
    char want_loc[512];
    snprintf(want_loc, sizeof(want_loc), "%s/api/now/v2/table/sc_request/%s", sim.p.url, id);
    assert_string_equal(loc, want_loc);
    assert_string_equal(sg_http_response_header(&r, "Content-Type"),
                        "application/json;charset=UTF-8");
    sg_http_response_free(&r);
    assert_true(sg_str_startswith(result_str(j, "number"), "REQ001"));
    assert_string_equal(result_str(j, "priority"), "2"); /* every value is a string */
    assert_string_equal(result_str(j, "active"), "true");
    assert_string_equal(result_str(j, "sys_mod_count"), "0");
    assert_string_equal(result_str(j, "sys_class_name"), "sc_request");
    assert_string_equal(result_str(j, "sys_created_by"), "admin");
    assert_string_equal(result_str(j, "approval"), "not requested");
    assert_null(sg_json_get(sg_json_get(j, "result"), "no_such_field"));
    /* References are {link, value}; opened_by defaults to the caller. */
    sg_json *ob = sg_json_get(sg_json_get(j, "result"), "opened_by");
    assert_string_equal(sg_json_get_str(ob, "value"), "6816f79cc0a8016401c5a33be04be441");
    assert_non_null(strstr(sg_json_get_str(ob, "link"), "/api/now/v2/table/sys_user/6816f79c"));
    /* An empty reference is a plain "". */
    assert_string_equal(result_str(j, "assigned_to"), "");
    char *sys_id = sg_xstrdup(id);
    sg_json_decref(j);

    char path[256];
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s", sys_id);
    assert_int_equal(h_call("GET", sim.p.url, path, admin, NULL, &j, NULL), 200);
    assert_string_equal(result_str(j, "correlation_id"), "snowgate:42");
    sg_json_decref(j);

    assert_int_equal(h_call("PATCH", sim.p.url, path, admin,
                            "{\"approval\":\"approved\",\"work_notes\":\"approved by x\"}", &j,
                            NULL),
                     200);
    assert_string_equal(result_str(j, "approval"), "approved");
    assert_string_equal(result_str(j, "sys_mod_count"), "1");
    assert_string_equal(result_str(j, "work_notes"), ""); /* journal fields read as "" */
    sg_json_decref(j);
    /* The work note is in sys_journal_field. */
    char q[512];
    snprintf(q, sizeof(q), "/api/now/table/sys_journal_field?sysparm_query=element_id%%3D%s",
             sys_id);
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    assert_string_equal(sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "value"),
                        "approved by x");
    sg_json_decref(j);

    assert_int_equal(h_call("PUT", sim.p.url, path, admin, "{\"description\":\"d\"}", &j, NULL),
                     200);
    assert_string_equal(result_str(j, "description"), "d");
    assert_string_equal(result_str(j, "sys_mod_count"), "2");
    sg_json_decref(j);

    /* The record is also a task. */
    snprintf(path, sizeof(path), "/api/now/table/task/%s", sys_id);
    assert_int_equal(h_call("GET", sim.p.url, path, admin, NULL, &j, NULL), 200);
    assert_string_equal(result_str(j, "sys_class_name"), "sc_request");
    sg_json_decref(j);

    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s", sys_id);
    assert_int_equal(h_call("DELETE", sim.p.url, path, admin, NULL, &j, &r), 204);
    assert_int_equal(r.body.len, 0);
    sg_http_response_free(&r);
    assert_int_equal(h_call("GET", sim.p.url, path, admin, NULL, &j, NULL), 404);
    expect_error(j, "No Record found",
                 "Record doesn't exist or ACL restricts the record retrieval");
    sg_json_decref(j);
    assert_int_equal(h_call("DELETE", sim.p.url, path, admin, NULL, &j, NULL), 404);
    sg_json_decref(j);
    assert_int_equal(h_call("PATCH", sim.p.url, path, admin, "{}", &j, NULL), 404);
    sg_json_decref(j);
    free(sys_id);
}

static void create_requests(const char *const *admin, int n)
{
    for (int i = 0; i < n; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"short_description\":\"item %d\",\"priority\":%d,\"correlation_id\":\"%s%d\"}",
                 i, i % 4 + 1, i % 2 ? "snowgate:" : "other:", i);
        sg_json *j = NULL;
        assert_int_equal(
            h_call("POST", sim.p.url, "/api/now/table/sc_request", admin, body, &j, NULL), 201);
        sg_json_decref(j);
    }
}

static void test_list_and_params(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    create_requests(admin, 5);
    sg_json *j = NULL;
    sg_http_response r;

    /* Pagination: X-Total-Count is the whole match; Link is first, prev, next, last. */
    assert_int_equal(h_call("GET", sim.p.url,
                            "/api/now/table/sc_request?sysparm_query=correlation_idSTARTSWITH"
                            "snowgate%3A&sysparm_limit=1&sysparm_offset=0",
                            admin, NULL, &j, &r),
                     200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    assert_string_equal(sg_http_response_header(&r, "X-Total-Count"), "2");
    const char *link = sg_http_response_header(&r, "Link");
    const char *first = strstr(link, "rel=\"first\""), *prev = strstr(link, "rel=\"prev\"");
    const char *next = strstr(link, "rel=\"next\""), *last = strstr(link, "rel=\"last\"");
    assert_true(first && prev && next && last && first < prev && prev < next && next < last);
    assert_non_null(strstr(link, "sysparm_limit=1&sysparm_offset=-1>;rel=\"prev\""));
    assert_non_null(strstr(link, "sysparm_offset=1>;rel=\"last\""));
    assert_non_null(strstr(link, "sysparm_query=correlation_idSTARTSWITHsnowgate%3A"));
    sg_http_response_free(&r);
    sg_json_decref(j);
    /* On the last page there is no next. */
    assert_int_equal(h_call("GET", sim.p.url,
                            "/api/now/table/sc_request?sysparm_limit=2&sysparm_offset=4", admin,
                            NULL, &j, &r),
                     200);
    assert_null(strstr(sg_http_response_header(&r, "Link"), "rel=\"next\""));
    sg_http_response_free(&r);
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url,
                            "/api/now/table/sc_request?sysparm_suppress_pagination_header=true&"
                            "sysparm_no_count=true",
                            admin, NULL, &j, &r),
                     200);
    assert_null(sg_http_response_header(&r, "Link"));
    assert_null(sg_http_response_header(&r, "X-Total-Count"));
    sg_http_response_free(&r);
    sg_json_decref(j);

    /* Raw (unencoded) query, OR, ORDERBYDESC, dot-walked sysparm_fields. */
    assert_int_equal(h_call("GET", sim.p.url,
                            "/api/now/table/sc_request?sysparm_query=priority=1^ORpriority=2^"
                            "ORDERBYDESCshort_description&sysparm_fields=short_description,"
                            "opened_by.user_name,bogus",
                            admin, NULL, &j, NULL),
                     200);
    sg_json *res = sg_json_get(j, "result");
    assert_int_equal(sg_json_array_size(res), 3); /* items 0, 1, 4 */
    sg_json *row = sg_json_array_get(res, 0);
    assert_string_equal(sg_json_get_str(row, "short_description"), "item 4");
    assert_string_equal(sg_json_get_str(row, "opened_by.user_name"), "admin");
    assert_int_equal(sg_json_object_size(row), 2);
    sg_json_decref(j);

    /* Display values: true and all; reference links excluded. */
    assert_int_equal(h_call("GET", sim.p.url,
                            "/api/now/table/sc_request?sysparm_limit=1&sysparm_display_value=true"
                            "&sysparm_fields=opened_by,number",
                            admin, NULL, &j, NULL),
                     200);
    row = sg_json_array_get(sg_json_get(j, "result"), 0);
    assert_string_equal(sg_json_get_str(sg_json_get(row, "opened_by"), "display_value"),
                        "System Administrator");
    assert_non_null(sg_json_get_str(sg_json_get(row, "opened_by"), "link"));
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url,
                            "/api/now/table/sc_request?sysparm_limit=1&sysparm_display_value=all"
                            "&sysparm_exclude_reference_link=true&sysparm_fields=opened_by,number",
                            admin, NULL, &j, NULL),
                     200);
    row = sg_json_array_get(sg_json_get(j, "result"), 0);
    sg_json *ob = sg_json_get(row, "opened_by");
    assert_string_equal(sg_json_get_str(ob, "value"), "6816f79cc0a8016401c5a33be04be441");
    assert_string_equal(sg_json_get_str(ob, "display_value"), "System Administrator");
    assert_null(sg_json_get(ob, "link"));
    assert_non_null(sg_json_get_str(sg_json_get(row, "number"), "display_value"));
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url,
                            "/api/now/table/sc_request?sysparm_limit=1&"
                            "sysparm_exclude_reference_link=true&sysparm_fields=opened_by",
                            admin, NULL, &j, NULL),
                     200);
    row = sg_json_array_get(sg_json_get(j, "result"), 0);
    assert_string_equal(sg_json_get_str(row, "opened_by"), "6816f79cc0a8016401c5a33be04be441");
    sg_json_decref(j);

    /* Name-value pairs filter too. */
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/sc_request?priority=3", admin, NULL, &j, NULL),
        200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);

    /* No results: [] on v2 and the unversioned path, 404 on v1. */
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/v2/table/sc_request?number=nope", admin, NULL, &j, NULL),
        200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 0);
    sg_json_decref(j);
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/v1/table/sc_request?number=nope", admin, NULL, &j, NULL),
        404);
    expect_error(j, "No Record found",
                 "Records matching query not found. Check query parameter or offset parameter");
    sg_json_decref(j);

    /* HEAD answers like GET, without a body. */
    assert_int_equal(
        h_call("HEAD", sim.p.url, "/api/now/table/sc_request?sysparm_limit=1", admin, NULL, &j, &r),
        200);
    assert_int_equal(r.body.len, 0);
    sg_http_response_free(&r);
}

static void test_input_display_value_and_passwords(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/now/table/sys_user?sysparm_input_display_value=true", admin,
               "{\"user_name\":\"maria\",\"first_name\":\"Maria\",\"last_name\":\"Diaz\","
               "\"user_password\":\"Secr3t-pw!\",\"manager\":\"System Administrator\"}",
               &j, NULL),
        201);
    assert_string_equal(result_str(j, "user_password"), "");
    assert_string_equal(sg_json_get_str(sg_json_get(sg_json_get(j, "result"), "manager"), "value"),
                        "6816f79cc0a8016401c5a33be04be441");
    assert_string_equal(result_str(j, "name"), "Maria Diaz");
    sg_json_decref(j);
    /* The new password works, the wrong one does not; neither is stored in clear. */
    char *maria = h_basic("maria", "Secr3t-pw!");
    char *wrong = h_basic("maria", "nope");
    const char *h1[] = {maria, NULL}, *h2[] = {wrong, NULL};
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sc_catalog", h1, NULL, &j, NULL),
                     200);
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sc_catalog", h2, NULL, &j, NULL),
                     401);
    expect_error(j, "User Not Authenticated", "Required to provide Auth information");
    sg_json_decref(j);
    free(maria);
    free(wrong);
    char db[512];
    snprintf(db, sizeof(db), "%s/snowsim.db", sim.dir);
    sg_buf raw = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(db, &raw), SG_OK);
    assert_null(memmem(raw.data, raw.len, "Secr3t-pw!", 10));
    assert_null(memmem(raw.data, raw.len, "admin-Pw1", 9));
    sg_buf_free(&raw);
}

/* A password2 system property: the Table API stores and returns its ciphertext, never the
 * clear text; the ciphertext written back is kept as it is; a string property stays in clear. */
static void test_password2_properties(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sys_properties", admin,
                            "{\"name\":\"x_test.secret\",\"type\":\"password2\","
                            "\"value\":\"s3cret-value\"}",
                            &j, NULL),
                     201);
    char *id = sg_xstrdup(result_str(j, "sys_id"));
    char *sealed = sg_xstrdup(result_str(j, "value"));
    sg_json_decref(j);
    assert_true(*sealed);
    assert_string_not_equal(sealed, "s3cret-value");
    char path[128], body[512];
    snprintf(path, sizeof(path), "/api/now/table/sys_properties/%s", id);
    assert_int_equal(h_call("GET", sim.p.url, path, admin, NULL, &j, NULL), 200);
    assert_string_equal(result_str(j, "value"), sealed);
    assert_string_equal(result_str(j, "type"), "password2");
    sg_json_decref(j);
    /* Neither the display value nor a query by the clear text gives it away. */
    char q[256];
    snprintf(q, sizeof(q), "%s?sysparm_display_value=true", path);
    assert_int_equal(h_call("GET", sim.p.url, q, admin, NULL, &j, NULL), 200);
    assert_string_equal(result_str(j, "value"), sealed);
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sys_properties?value=s3cret-value",
                            admin, NULL, &j, NULL),
                     200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 0);
    sg_json_decref(j);

    /* A client that writes back the value it read changes nothing. */
    snprintf(body, sizeof(body), "{\"value\":\"%s\"}", sealed);
    assert_int_equal(h_call("PATCH", sim.p.url, path, admin, body, &j, NULL), 200);
    assert_string_equal(result_str(j, "value"), sealed);
    assert_string_equal(result_str(j, "sys_mod_count"), "0");
    sg_json_decref(j);
    /* A new clear text is stored sealed, under a fresh nonce. */
    assert_int_equal(h_call("PATCH", sim.p.url, path, admin, "{\"value\":\"n3w-value\"}", &j, NULL),
                     200);
    assert_true(*result_str(j, "value"));
    assert_string_not_equal(result_str(j, "value"), "n3w-value");
    assert_string_not_equal(result_str(j, "value"), sealed);
    assert_string_equal(result_str(j, "sys_mod_count"), "1");
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, path, admin, NULL, &j, NULL), 200);
    assert_string_not_equal(result_str(j, "value"), "n3w-value");
    sg_json_decref(j);

    /* A string property is returned in clear, as before; made password2, it is sealed. */
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sys_properties", admin,
                            "{\"name\":\"x_test.plain\",\"value\":\"plain-value\"}", &j, NULL),
                     201);
    assert_string_equal(result_str(j, "type"), "string");
    assert_string_equal(result_str(j, "value"), "plain-value");
    char *plain_id = sg_xstrdup(result_str(j, "sys_id"));
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sys_properties?name=x_test.plain",
                            admin, NULL, &j, NULL),
                     200);
    assert_string_equal(sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "value"),
                        "plain-value");
    sg_json_decref(j);
    snprintf(path, sizeof(path), "/api/now/table/sys_properties/%s", plain_id);
    assert_int_equal(h_call("PATCH", sim.p.url, path, admin, "{\"type\":\"password2\"}", &j, NULL),
                     200);
    assert_true(*result_str(j, "value"));
    assert_string_not_equal(result_str(j, "value"), "plain-value");
    sg_json_decref(j);

    /* The clear texts never reach the disk. */
    char db[512];
    snprintf(db, sizeof(db), "%s/snowsim.db", sim.dir);
    sg_buf raw = SG_BUF_INIT(0);
    assert_int_equal(h_read_file(db, &raw), SG_OK);
    assert_null(memmem(raw.data, raw.len, "s3cret-value", 12));
    assert_null(memmem(raw.data, raw.len, "n3w-value", 9));
    sg_buf_free(&raw);
    free(plain_id);
    free(sealed);
    free(id);
}

static void test_bad_input(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sc_request", NULL, NULL, &j, NULL),
                     401);
    expect_error(j, "User Not Authenticated", "Required to provide Auth information");
    sg_json_decref(j);
    const char *bearer[] = {"Authorization: Bearer not-a-token", NULL};
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sc_request", bearer, NULL, &j, NULL),
                     401);
    sg_json_decref(j);
    const char *garbage[] = {"Authorization: Basic !!!", NULL};
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sc_request", garbage, NULL, &j, NULL),
                     401);
    sg_json_decref(j);
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/no_such_table", admin, NULL, &j, NULL), 400);
    expect_error(j, "Invalid table no_such_table", NULL);
    sg_json_decref(j);
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/now/table/sc_request", admin, "{\"a\":", &j, NULL), 400);
    expect_error(j, "Exception while reading request", "The payload is not valid JSON.");
    sg_json_decref(j);
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/now/table/sc_request", admin, "\"text\"", &j, NULL), 400);
    sg_json_decref(j);
    /* Several records in one POST: only the first is processed. */
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/incident", admin,
                            "[{\"short_description\":\"one\"},{\"short_description\":\"two\"}]", &j,
                            NULL),
                     201);
    assert_string_equal(result_str(j, "short_description"), "one");
    sg_json_decref(j);
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/incident", admin,
                            "{\"sys_id\":\"NOT-A-SYS-ID\"}", &j, NULL),
                     400);
    sg_json_decref(j);
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/incident/not-a-sys-id", admin, NULL, &j, NULL),
        404);
    sg_json_decref(j);
    /* Paths that name no resource answer as ServiceNow does. */
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/incident/..%2F..%2Fetc", admin, NULL, &j, NULL),
        400);
    expect_error(j, "Requested URI does not represent any resource", NULL);
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/v9/table/incident", admin, NULL, &j, NULL),
                     400);
    sg_json_decref(j);
    /* Hostile queries are data. */
    static const char *const hostile[] = {
        "/api/now/table/incident?sysparm_query=%27%3B%20DROP%20TABLE%20records%3B%20--",
        "/api/now/table/incident?sysparm_query=^OR^NQ^ORDERBY^ORDERBYDESC^RLQUERY",
        "/api/now/table/incident?sysparm_query=short_descriptionBETWEEN@@@",
        "/api/now/table/incident?sysparm_query=caller_id.manager.manager.manager.user_name=x",
        "/api/now/table/incident?sysparm_limit=-5&sysparm_offset=abc",
        "/api/now/table/incident?sysparm_fields=,,,caller_id.,.",
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        assert_int_equal(h_call("GET", sim.p.url, hostile[i], admin, NULL, &j, NULL), 200);
        sg_json_decref(j);
    }
    /* An oversized body is refused, and the instance carries on. */
    char *big = sg_xmalloc(11 * 1024 * 1024);
    memset(big, ' ', 11 * 1024 * 1024 - 1);
    big[0] = '{';
    big[11 * 1024 * 1024 - 2] = '}';
    big[11 * 1024 * 1024 - 1] = '\0';
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/incident", admin, big, &j, NULL),
                     413);
    sg_json_decref(j);
    free(big);
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/incident?sysparm_limit=1", admin, NULL, &j, NULL),
        200);
    sg_json_decref(j);
}

static void test_acls_for_non_admin(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sys_user", admin,
                            "{\"user_name\":\"ivan\",\"user_password\":\"Ivan-pw1\"}", &j, NULL),
                     201);
    char *ivan_id = sg_xstrdup(result_str(j, "sys_id"));
    sg_json_decref(j);
    char *ivan = h_basic("ivan", "Ivan-pw1");
    const char *as_ivan[] = {ivan, NULL};
    /* No roles: the task tables are closed; denied reads hide records; writes are 403. */
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sc_request", as_ivan, NULL, &j, NULL),
                     200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 0);
    sg_json_decref(j);
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sc_request", as_ivan,
                            "{\"short_description\":\"x\"}", &j, NULL),
                     403);
    expect_error(j, "Operation Failed", "ACL Exception Insert Failed due to security constraints");
    sg_json_decref(j);
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/sys_properties", as_ivan, NULL, &j, NULL), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 0);
    sg_json_decref(j);
    /* Readable by anyone signed in. */
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sc_catalog", as_ivan, NULL, &j, NULL),
                     200);
    assert_string_equal(sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "title"),
                        "Service Catalog");
    sg_json_decref(j);

    /* Grant itil: task work opens up, and the role change applies at once. */
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/sys_user_role?name=itil", admin, NULL, &j, NULL),
        200);
    char *itil =
        sg_xstrdup(sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "sys_id"));
    sg_json_decref(j);
    char body[256];
    snprintf(body, sizeof(body), "{\"user\":\"%s\",\"role\":\"%s\"}", ivan_id, itil);
    assert_int_equal(
        h_call("POST", sim.p.url, "/api/now/table/sys_user_has_role", admin, body, &j, NULL), 201);
    sg_json_decref(j);
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sc_request", as_ivan,
                            "{\"short_description\":\"now allowed\"}", &j, NULL),
                     201);
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sc_request/%s", result_str(j, "sys_id"));
    sg_json_decref(j);
    assert_int_equal(h_call("DELETE", sim.p.url, path, as_ivan, NULL, &j, NULL), 403);
    expect_error(j, "Operation Failed", "ACL Exception Delete Failed due to security constraints");
    sg_json_decref(j);
    /* The user may read their own roles, and only theirs. */
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/sys_user_has_role", as_ivan, NULL, &j, NULL), 200);
    assert_int_equal(sg_json_array_size(sg_json_get(j, "result")), 1);
    sg_json_decref(j);
    free(itil);
    free(ivan);
    free(ivan_id);
}

static void test_rate_limit(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    sg_http_response r;
    assert_int_equal(h_call("POST", sim.p.url, "/api/now/table/sys_rate_limit_rules", admin,
                            "{\"name\":\"incident reads\",\"rate_limit\":3,\"type\":\"all_users\","
                            "\"rest_service\":\"/api/now/table/incident\"}",
                            &j, NULL),
                     201);
    char *rule = sg_xstrdup(result_str(j, "sys_id"));
    sg_json_decref(j);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/incident?sysparm_limit=1", admin,
                                NULL, &j, &r),
                         200);
        assert_string_equal(sg_http_response_header(&r, "X-RateLimit-Limit"), "3");
        assert_string_equal(sg_http_response_header(&r, "X-RateLimit-Rule"), rule);
        assert_non_null(sg_http_response_header(&r, "X-RateLimit-Reset"));
        sg_http_response_free(&r);
        sg_json_decref(j);
    }
    assert_int_equal(
        h_call("GET", sim.p.url, "/api/now/table/incident?sysparm_limit=1", admin, NULL, &j, &r),
        429);
    expect_error(j, "Rate limit exceeded",
                 "Rate limit of 3 requests per hour for Table API exceeded");
    int64_t retry = 0;
    assert_int_equal(
        sg_parse_i64(sg_http_response_header(&r, "Retry-After"), 0, 3600, "ra", &retry), SG_OK);
    sg_http_response_free(&r);
    sg_json_decref(j);
    /* Other APIs are not limited by this rule. */
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/sc_catalog", admin, NULL, &j, &r),
                     200);
    assert_null(sg_http_response_header(&r, "X-RateLimit-Rule"));
    sg_http_response_free(&r);
    sg_json_decref(j);
    char path[128];
    snprintf(path, sizeof(path), "/api/now/table/sys_rate_limit_rules/%s", rule);
    assert_int_equal(h_call("DELETE", sim.p.url, path, admin, NULL, NULL, NULL), 204);
    free(rule);
}

static void test_faults(void **state)
{
    (void)state;
    const char *admin[] = {sim.admin_auth, NULL};
    sg_json *j = NULL;
    sg_http_response r;
    assert_int_equal(h_call("PUT", sim.p.url, "/api/x_snowsim/faults", admin,
                            "{\"rules\":[{\"path\":\"/api/now/table/incident\",\"kind\":\"status\","
                            "\"status\":503,\"count\":2},{\"path\":\"/api/now/table/task\","
                            "\"kind\":\"ratelimit\",\"retry_after\":7,\"count\":1},"
                            "{\"path\":\"/api/now/table/sc_task\",\"kind\":\"drop\",\"count\":1}]}",
                            &j, NULL),
                     200);
    sg_json_decref(j);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/incident", admin, NULL, &j, NULL),
                         503);
        sg_json_decref(j);
    }
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/incident", admin, NULL, &j, NULL),
                     200);
    sg_json_decref(j);
    assert_int_equal(h_call("GET", sim.p.url, "/api/now/table/task", admin, NULL, &j, &r), 429);
    assert_string_equal(sg_http_response_header(&r, "Retry-After"), "7");
    sg_http_response_free(&r);
    sg_json_decref(j);
    char *url = sg_xasprintf("%s/api/now/table/sc_task", sim.p.url);
    const char *hdrs[] = {sim.admin_auth, NULL};
    assert_int_equal(h_http("GET", url, hdrs, NULL, &r), SG_ENET);
    free(url);
    /* Only admin may set faults; bad rules are refused with the reason. */
    assert_int_equal(
        h_call("PUT", sim.p.url, "/api/x_snowsim/faults", NULL, "{\"rules\":[]}", &j, NULL), 401);
    sg_json_decref(j);
    assert_int_equal(h_call("PUT", sim.p.url, "/api/x_snowsim/faults", admin,
                            "{\"rules\":[{\"kind\":\"explode\"}]}", &j, NULL),
                     400);
    sg_json_decref(j);
    assert_int_equal(
        h_call("PUT", sim.p.url, "/api/x_snowsim/faults", admin, "{\"rules\":[]}", &j, NULL), 200);
    sg_json_decref(j);
}

static void test_faults_flag(void **state)
{
    (void)state;
    h_sim s;
    const char *extra[] = {"--faults",
                           "{\"rules\":[{\"path\":\"/oauth_token.do\",\"kind\":\"status\","
                           "\"status\":502}]}",
                           NULL};
    h_sim_start(&s, NULL, extra);
    sg_json *j = NULL;
    assert_int_equal(h_call("POST", s.p.url, "/oauth_token.do", NULL, NULL, &j, NULL), 502);
    sg_json_decref(j);
    h_sim_stop(&s);
    /* A malformed rule set stops the start with the reason. */
    char *dir = h_tmpdir("simbadfaults");
    const char *argv[] = {SG_BUILD_DIR "/snowsim",
                          "--listen",
                          "127.0.0.1:0",
                          "--data",
                          dir,
                          "--admin-password",
                          "x",
                          "--faults",
                          "{\"rules\":[{\"kind\":1}]}",
                          NULL};
    sg_buf err = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, NULL, 20000, NULL, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "--faults: faults: rule 0: kind must be"));
    sg_buf_free(&err);
    h_rmdir(dir);
    free(dir);
}

static void test_persistence(void **state)
{
    (void)state;
    char *dir = h_tmpdir("simpersist");
    h_sim s;
    h_sim_start(&s, dir, NULL);
    const char *admin[] = {s.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("POST", s.p.url, "/api/now/table/incident", admin,
                            "{\"short_description\":\"survives\"}", &j, NULL),
                     201);
    assert_string_equal(result_str(j, "number"), "INC0010001");
    sg_json_decref(j);
    h_sim_stop(&s);
    /* Restart on the same data: the record is there, and numbering carries on. */
    h_sim_start(&s, dir, NULL);
    const char *admin2[] = {s.admin_auth, NULL};
    assert_int_equal(
        h_call("GET", s.p.url, "/api/now/table/incident?number=INC0010001", admin2, NULL, &j, NULL),
        200);
    assert_string_equal(
        sg_json_get_str(sg_json_array_get(sg_json_get(j, "result"), 0), "short_description"),
        "survives");
    sg_json_decref(j);
    assert_int_equal(h_call("POST", s.p.url, "/api/now/table/incident", admin2, "{}", &j, NULL),
                     201);
    assert_string_equal(result_str(j, "number"), "INC0010002");
    sg_json_decref(j);
    h_sim_stop(&s);
    h_rmdir(dir);
    free(dir);

    /* A fresh instance without an admin password refuses to start, saying why. */
    char *empty = h_tmpdir("simnopw");
    const char *argv[] = {
        SG_BUILD_DIR "/snowsim", "--listen", "127.0.0.1:0", "--data", empty, NULL};
    const char *env[] = {"SNOWSIM_ADMIN_PASSWORD=", NULL};
    sg_buf err = SG_BUF_INIT(0);
    assert_int_equal(h_run(argv, env, 20000, NULL, &err), 1);
    assert_non_null(strstr(sg_buf_str(&err), "--admin-password"));
    sg_buf_free(&err);
    h_rmdir(empty);
    free(empty);
}

/* The instance key: created 0600 beside the records; refused when others can read it, and
 * refused when it is not the key the data dir's password2 values were sealed with. */
static void test_instance_key(void **state)
{
    (void)state;
    char *dir = h_tmpdir("simkey");
    char key[512];
    snprintf(key, sizeof(key), "%s/instance.key", dir);
    h_sim s;
    h_sim_start(&s, dir, NULL);
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    const char *admin[] = {s.admin_auth, NULL};
    sg_json *j = NULL;
    assert_int_equal(h_call("POST", s.p.url, "/api/now/table/sys_properties", admin,
                            "{\"name\":\"x_test.secret\",\"type\":\"password2\","
                            "\"value\":\"s3cret-value\"}",
                            &j, NULL),
                     201);
    sg_json_decref(j);
    h_sim_stop(&s);

    const char *argv[] = {SG_BUILD_DIR "/snowsim", "--listen",  "127.0.0.1:0", "--data", dir,
                          "--admin-password",      "admin-Pw1", NULL};
    char want[2048];
    sg_buf err = SG_BUF_INIT(0);
    assert_int_equal(chmod(key, 0644), 0);
    assert_int_equal(h_run(argv, NULL, 20000, NULL, &err), 1);
    snprintf(want, sizeof(want), "instance key '%s' is readable by other users; run: chmod 600 %s",
             key, key);
    if (!strstr(sg_buf_str(&err), want))
        fail_msg("want \"%s\" in: %s", want, sg_buf_str(&err));
    sg_buf_reset(&err);

    /* Another key would read every sealed value as clear text: refused, saying what to do. */
    uint8_t other[32];
    assert_int_equal(sg_random(other, sizeof(other)), SG_OK);
    assert_int_equal(h_write_file(key, (const char *)other, sizeof(other)), SG_OK);
    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(h_run(argv, NULL, 20000, NULL, &err), 1);
    snprintf(want, sizeof(want),
             "instance key '%s': 1 password2 property in this data dir was sealed with another "
             "instance key; put back the instance.key it was sealed with",
             key);
    if (!strstr(sg_buf_str(&err), want))
        fail_msg("want \"%s\" in: %s", want, sg_buf_str(&err));
    sg_buf_free(&err);
    h_rmdir(dir);
    free(dir);
}

int main(void)
{
    sg_http_client_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crud, start, stop),
        cmocka_unit_test_setup_teardown(test_list_and_params, start, stop),
        cmocka_unit_test_setup_teardown(test_input_display_value_and_passwords, start, stop),
        cmocka_unit_test_setup_teardown(test_password2_properties, start, stop),
        cmocka_unit_test_setup_teardown(test_bad_input, start, stop),
        cmocka_unit_test_setup_teardown(test_acls_for_non_admin, start, stop),
        cmocka_unit_test_setup_teardown(test_rate_limit, start, stop),
        cmocka_unit_test_setup_teardown(test_faults, start, stop),
        cmocka_unit_test(test_faults_flag),
        cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_instance_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
