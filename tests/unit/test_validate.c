/*
 * Request validation: schemas compiled from OpenAPI documents, parameters
 * in every location and style, media types, JSON bodies, the error list.
 *
 * `test_validate --suite DIR` runs the JSON Schema Test Suite's draft 4
 * files of DIR instead (tests/unit/test_json_schema_suite.py fetches the
 * suite and calls this); see SUITE_FILES and SUITE_SKIP for what is run.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apigw.h"
#include "validate.h"
#include "unit.h"


#define OW  "https://ow.example.com"


static apigw_problems_t  P;


static apigw_api_t *
imp(const char *doc)
{
    apigw_import_opts_t  o;

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    memset(&o, 0, sizeof(o));
    o.openwhisk_url = OW;

    return apigw_import_buffer(doc, strlen(doc), &o, &P);
}


static int
has_error(const char *ptr, const char *msg)
{
    size_t  i;

    for (i = 0; i < P.n; i++) {
        if (!P.items[i].warning && strcmp(P.items[i].pointer, ptr) == 0
            && strstr(P.items[i].message, msg) != NULL)
        {
            return 1;
        }
    }

    for (i = 0; i < P.n; i++) {
        fprintf(stderr, "  have: %s: %s\n", P.items[i].pointer,
                P.items[i].message);
    }

    return 0;
}


static apigw_operation_t *
op_of(apigw_api_t *api, apigw_method_e m, const char *path)
{
    size_t  i;

    for (i = 0; api && i < api->nops; i++) {
        if (api->ops[i].method == m && strcmp(api->ops[i].path, path) == 0) {
            return &api->ops[i];
        }
    }

    return NULL;
}


/* a request: query, headers "Name: value\n...", body content type */
typedef struct {
    apigw_param_t     path[4];
    size_t            npath;
    apigw_kv_t        h[8];
    size_t            nh;
    apigw_vrequest_t  req;
} req_t;


static void
req_init(req_t *r, const char *query, const char *ct, int has_body)
{
    memset(r, 0, sizeof(*r));
    r->req.query = query;
    r->req.query_len = query ? strlen(query) : 0;
    r->req.content_type = ct;
    r->req.content_type_len = ct ? strlen(ct) : 0;
    r->req.has_body = has_body;
    r->req.path = r->path;
    r->req.headers = r->h;
}


static void
req_path(req_t *r, const char *name, const char *value)
{
    r->path[r->npath].name = name;
    r->path[r->npath].name_len = strlen(name);
    r->path[r->npath].value = value;
    r->path[r->npath].value_len = strlen(value);
    r->req.npath = ++r->npath;
}


static void
req_header(req_t *r, const char *name, const char *value)
{
    r->h[r->nh].name = name;
    r->h[r->nh].name_len = strlen(name);
    r->h[r->nh].value = value;
    r->h[r->nh].value_len = strlen(value);
    r->req.nheaders = ++r->nh;
}


static int
res_has(const apigw_vresult_t *res, int in, const char *name,
    const char *reason)
{
    size_t  i;

    for (i = 0; i < res->n; i++) {
        if (res->items[i].in == in && strcmp(res->items[i].name, name) == 0
            && strstr(res->items[i].reason, reason) != NULL)
        {
            return 1;
        }
    }

    for (i = 0; i < res->n; i++) {
        fprintf(stderr, "  have: in %d \"%s\": %s\n", res->items[i].in,
                res->items[i].name, res->items[i].reason);
    }

    return 0;
}


static const char  *DOC30 =
    "{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"t\",\"version\":\"1\"},"
    "\"x-openwhisk\":{\"namespace\":\"ns\",\"package\":\"p\","
    "\"action\":\"a\",\"url\":\"" OW "\"},"
    "\"paths\":{\"/items/{id}\":{"
    "\"parameters\":[{\"name\":\"id\",\"in\":\"path\",\"required\":true,"
    "\"schema\":{\"type\":\"integer\",\"minimum\":1,\"format\":\"int32\"}}],"
    "\"get\":{\"parameters\":["
    "{\"name\":\"limit\",\"in\":\"query\",\"schema\":{\"type\":\"integer\","
    "\"maximum\":100}},"
    "{\"name\":\"tags\",\"in\":\"query\",\"schema\":{\"type\":\"array\","
    "\"items\":{\"type\":\"string\",\"enum\":[\"a\",\"b\"]}}},"
    "{\"name\":\"ids\",\"in\":\"query\",\"explode\":false,"
    "\"schema\":{\"type\":\"array\",\"maxItems\":2,"
    "\"items\":{\"type\":\"integer\"}}},"
    "{\"name\":\"q\",\"in\":\"query\",\"required\":true,"
    "\"schema\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}},"
    "{\"name\":\"X-Trace\",\"in\":\"header\",\"schema\":{\"type\":\"string\","
    "\"format\":\"uuid\"}},"
    "{\"name\":\"session\",\"in\":\"cookie\",\"required\":true,"
    "\"schema\":{\"type\":\"string\",\"pattern\":\"^[a-f0-9]+$\"}}]},"
    "\"put\":{\"requestBody\":{\"required\":true,\"content\":{"
    "\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/"
    "Node\"}},\"text/plain\":{}}}}}},"
    "\"components\":{\"schemas\":{\"Node\":{\"type\":\"object\","
    "\"required\":[\"name\"],\"additionalProperties\":false,"
    "\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":3},"
    "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/"
    "schemas/Node\"}},\"when\":{\"type\":\"string\",\"format\":\"date\","
    "\"nullable\":true}}}}}}";


static const char  *DOC_UNTYPED =
    "{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"t\",\"version\":\"1\"},"
    "\"x-openwhisk\":{\"namespace\":\"ns\",\"package\":\"p\","
    "\"action\":\"a\",\"url\":\"" OW "\"},"
    "\"paths\":{\"/u\":{\"get\":{\"parameters\":["
    "{\"name\":\"n\",\"in\":\"query\",\"schema\":{\"enum\":[1,2,3]}},"
    "{\"name\":\"m\",\"in\":\"query\",\"schema\":{\"oneOf\":["
    "{\"type\":\"integer\"},{\"type\":\"boolean\"}]}},"
    "{\"name\":\"s\",\"in\":\"query\",\"schema\":{\"anyOf\":["
    "{\"type\":\"integer\",\"minimum\":10},"
    "{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"}]}},"
    "{\"name\":\"r\",\"in\":\"query\",\"schema\":{\"$ref\":"
    "\"#/components/schemas/Level\"}}]}}},"
    "\"components\":{\"schemas\":{\"Level\":{\"enum\":[0.5,true]}}}}";


/* a schema without "type": the value converts as its alternatives say */
TEST(test_params_untyped)
{
    req_t                req;
    apigw_api_t         *api;
    apigw_vresult_t      res;
    apigw_operation_t   *op;
    apigw_validation_t  *v;

    api = imp(DOC_UNTYPED);
    CHECK(api != NULL);
    op = api ? op_of(api, APIGW_M_GET, "/u") : NULL;
    CHECK(op != NULL);
    if (op == NULL) {
        apigw_api_free(api);
        return;
    }

    v = apigw_op_validation(op);
    CHECK(v != NULL);

    req_init(&req, "n=2&m=true&s=12&r=0.5", NULL, 0);
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_OK);

    req_init(&req, "n=3&m=7&s=abc&r=true", NULL, 0);
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_OK);

    req_init(&req, "n=4&m=x&s=5&r=1", NULL, 0);
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK_INT(res.status, 400);
    CHECK_INT(res.total, 4);
    CHECK(res_has(&res, APIGW_IN_QUERY, "n", "allowed values"));
    CHECK(res_has(&res, APIGW_IN_QUERY, "r", "allowed values"));

    apigw_api_free(api);
}


TEST(test_params)
{
    char                *qs;
    size_t               k;
    req_t                req;
    apigw_api_t         *api;
    apigw_vresult_t      res;
    apigw_operation_t   *op;
    apigw_validation_t  *v;

    api = imp(DOC30);
    CHECK(api != NULL);
    op = op_of(api, APIGW_M_GET, "/items/{id}");
    CHECK(op != NULL);
    if (op == NULL) {
        apigw_api_free(api);
        return;
    }

    v = apigw_op_validation(op);
    CHECK(v != NULL);
    CHECK_INT(v->nparams, 7);
    CHECK_INT(apigw_validation_on(op, 0), 0);
    CHECK_INT(apigw_validation_on(op, 1), 1);

    /* valid */
    req_init(&req, "q=ab&tags=a&tags=b&ids=1,2&limit=100", NULL, 0);
    req_path(&req, "id", "7");
    req_header(&req, "x-trace", "123e4567-e89b-12d3-a456-426614174000");
    req_header(&req, "Cookie", "a=1; session=beef ; z=2");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_OK);
    CHECK_INT(res.total, 0);

    /* everything wrong at once */
    req_init(&req, "q=a&tags=a&tags=c&ids=1,x,3&limit=101", NULL, 0);
    req_path(&req, "id", "0");
    req_header(&req, "X-Trace", "nope");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK_INT(res.status, 400);
    CHECK(res_has(&res, APIGW_IN_PATH, "id", "must be >= 1"));
    CHECK(res_has(&res, APIGW_IN_QUERY, "q", "at least 2 characters"));
    CHECK(res_has(&res, APIGW_IN_QUERY, "tags/1", "allowed values"));
    CHECK(res_has(&res, APIGW_IN_QUERY, "ids", "at most 2 items"));
    CHECK(res_has(&res, APIGW_IN_QUERY, "ids/1", "must be integer"));
    CHECK(res_has(&res, APIGW_IN_QUERY, "limit", "must be <= 100"));
    CHECK(res_has(&res, APIGW_IN_HEADER, "X-Trace", "valid uuid"));
    CHECK(res_has(&res, APIGW_IN_COOKIE, "session", "is required"));

    /* Unicode: code points, not bytes; percent-decoded; int32 */
    req_init(&req, "q=%C3%A9t%C3%A9&limit=abc", NULL, 0);
    req_path(&req, "id", "4294967296");
    req_header(&req, "Cookie", "session=XYZ");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK_INT(res.total, 3);
    CHECK(res_has(&res, APIGW_IN_PATH, "id", "valid int32"));
    CHECK(res_has(&res, APIGW_IN_QUERY, "limit", "must be integer"));
    CHECK(res_has(&res, APIGW_IN_COOKIE, "session", "must match"));

    /* every copy of a scalar is checked: the backend may take any */
    req_init(&req, "q=ab&limit=5&limit=6", NULL, 0);
    req_path(&req, "id", "1");
    req_header(&req, "X-Trace", "123e4567-e89b-12d3-a456-426614174000");
    req_header(&req, "x-trace", "123e4567-e89b-12d3-a456-426614174001");
    req_header(&req, "Cookie", "session=ab; session=cd");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_OK);

    req_init(&req, "q=ab&limit=5&q=abcd&limit=1000&limit=x", NULL, 0);
    req_path(&req, "id", "1");
    req_header(&req, "X-Trace", "123e4567-e89b-12d3-a456-426614174000");
    req_header(&req, "X-Trace", "nope");
    req_header(&req, "Cookie", "session=ab");
    req_header(&req, "Cookie", "session=XY");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK_INT(res.status, 400);
    CHECK_INT(res.total, 4);
    CHECK(res_has(&res, APIGW_IN_QUERY, "limit", "must be <= 100"));
    CHECK(res_has(&res, APIGW_IN_QUERY, "q", "at most 3 characters"));
    CHECK(res_has(&res, APIGW_IN_HEADER, "X-Trace", "valid uuid"));
    CHECK(res_has(&res, APIGW_IN_COOKIE, "session", "must match"));

    /* more copies than are collected: none goes unchecked */
    qs = malloc(300 * 8 + 16);
    CHECK(qs != NULL);
    if (qs != NULL) {
        strcpy(qs, "q=ab");
        for (k = 0; k < 300; k++) {
            strcat(qs, k == 299 ? "&limit=1000" : "&limit=5");
        }
        req_init(&req, qs, NULL, 0);
        req_path(&req, "id", "1");
        req_header(&req, "Cookie", "session=ab");
        CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
        CHECK(res_has(&res, APIGW_IN_QUERY, "limit", "repeated more than"));
        free(qs);
    }

    /* invalid UTF-8 after decoding */
    req_init(&req, "q=%FF%FE", NULL, 0);
    req_path(&req, "id", "1");
    req_header(&req, "Cookie", "session=ab");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK(res_has(&res, APIGW_IN_QUERY, "q", "UTF-8"));

    apigw_api_free(api);
}


/* object parameters and deepObject: presence where it shows, no type */
TEST(test_params_objects)
{
    req_t                req;
    apigw_api_t         *api;
    apigw_vresult_t      res;
    apigw_operation_t   *op;
    apigw_validation_t  *v;

    api = imp("{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"paths\":{\"/o\":{\"get\":{"
              "\"x-apigw-backend\":{\"url\":\"http://127.0.0.1:1/\"},"
              "\"responses\":{},\"parameters\":["
              "{\"name\":\"f\",\"in\":\"query\",\"required\":true,"
              "\"style\":\"deepObject\",\"schema\":{\"type\":\"object\"}},"
              "{\"name\":\"pt\",\"in\":\"query\",\"required\":true,"
              "\"explode\":false,\"schema\":{\"type\":\"object\"}},"
              "{\"name\":\"o\",\"in\":\"query\",\"required\":true,"
              "\"schema\":{\"type\":\"object\"}},"
              "{\"name\":\"X-Pt\",\"in\":\"header\",\"required\":true,"
              "\"schema\":{\"type\":\"object\"}}]}}}}");
    CHECK(api != NULL);
    op = api ? op_of(api, APIGW_M_GET, "/o") : NULL;
    CHECK(op != NULL);
    if (op == NULL) {
        apigw_api_free(api);
        return;
    }

    v = apigw_op_validation(op);

    req_init(&req, "f[x]=1&pt=x,1,y,2&x=1&y=2", NULL, 0);
    req_header(&req, "X-Pt", "x,1,y,2");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_OK);
    req_init(&req, "f%5Bx%5D=1&pt=x,1", NULL, 0);
    req_header(&req, "X-Pt", "x,1");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_OK);

    /* missing where missing shows */
    req_init(&req, "fx=1&ptx=1", NULL, 0);
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK_INT(res.total, 3);
    CHECK(res_has(&res, APIGW_IN_QUERY, "f", "is required"));
    CHECK(res_has(&res, APIGW_IN_QUERY, "pt", "is required"));
    CHECK(res_has(&res, APIGW_IN_HEADER, "X-Pt", "is required"));

    apigw_api_free(api);
}


/* array path parameters in the label and matrix styles, both explodes */
TEST(test_params_path_styles)
{
    req_t                req;
    size_t               i;
    apigw_api_t         *api;
    apigw_vresult_t      res;
    apigw_operation_t   *op;
    apigw_validation_t  *v;
    static const struct {
        const char  *style, *explode, *value;
        int          ok;
    } cases[] = {
        { "matrix", "true", ";id=3;id=4;id=5", 1 },
        { "matrix", "true", ";id=3", 1 },
        { "matrix", "true", ";id=3;id=x", 0 },
        { "matrix", "false", ";id=3,4,5", 1 },
        { "matrix", "false", ";id=3,x", 0 },
        { "label", "true", ".3.4.5", 1 },
        { "label", "false", ".3,4,5", 1 },
        { "label", "true", ".3.x", 0 },
        /* the style's prefix and, for matrix, the parameter's own name */
        { "matrix", "true", "3", 0 },
        { "matrix", "false", "3,4", 0 },
        { "matrix", "false", ";x=3", 0 },
        { "matrix", "true", ";id=3;x=4", 0 },
        { "matrix", "true", ";idx=3", 0 },
        { "label", "true", "3.4", 0 },
        { "label", "false", "3", 0 },
    };
    char  doc[1024];

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(doc, sizeof(doc),
                 "{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"t\","
                 "\"version\":\"1\"},\"paths\":{\"/m/{id}\":{\"get\":{"
                 "\"x-apigw-backend\":{\"url\":\"http://127.0.0.1:1/\"},"
                 "\"responses\":{},\"parameters\":[{\"name\":\"id\","
                 "\"in\":\"path\",\"required\":true,\"style\":\"%s\","
                 "\"explode\":%s,\"schema\":{\"type\":\"array\","
                 "\"items\":{\"type\":\"integer\"}}}]}}}}",
                 cases[i].style, cases[i].explode);
        api = imp(doc);
        op = api ? op_of(api, APIGW_M_GET, "/m/{id}") : NULL;
        CHECK(op != NULL);
        if (op == NULL) {
            apigw_api_free(api);
            continue;
        }

        v = apigw_op_validation(op);
        req_init(&req, NULL, NULL, 0);
        req_path(&req, "id", cases[i].value);
        if ((apigw_validate_request(v, &req.req, &res) == APIGW_V_OK)
            != cases[i].ok)
        {
            fprintf(stderr, "case %zu: %s\n", i, cases[i].value);
            CHECK(0);
        }

        apigw_api_free(api);
    }
}


TEST(test_body)
{
    char                 json[2048];
    size_t               n;
    req_t                req;
    apigw_api_t         *api;
    apigw_vresult_t      res;
    apigw_operation_t   *op;
    apigw_validation_t  *v;
    const char          *b;

    api = imp(DOC30);
    op = op_of(api, APIGW_M_PUT, "/items/{id}");
    CHECK(op != NULL);
    if (op == NULL) {
        apigw_api_free(api);
        return;
    }

    v = apigw_op_validation(op);

    req_init(&req, NULL, "application/json; charset=utf-8", 1);
    req_path(&req, "id", "1");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_BODY);

    req_init(&req, NULL, "text/plain", 1);
    req_path(&req, "id", "1");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_OK);

    req_init(&req, NULL, "application/xml", 1);
    req_path(&req, "id", "1");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK_INT(res.status, 415);

    /* the reason goes into a JSON body: never bytes that are not UTF-8 */
    req_init(&req, NULL, "text/caf\xe9s", 1);
    req_path(&req, "id", "1");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK_INT(res.status, 415);
    CHECK(res_has(&res, APIGW_IN_BODY, "Content-Type", "(not UTF-8)"));

    req_init(&req, NULL, NULL, 0);
    req_path(&req, "id", "1");
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK(res_has(&res, APIGW_IN_BODY, "", "body is required"));

#define BODY(s)                                                              \
    apigw_validate_body(v, "application/json", 16, s, strlen(s), &res)

    CHECK_INT(BODY("{\"name\":\"abc\",\"kids\":[{\"name\":\"x\","
                   "\"kids\":[{\"name\":\"y\",\"when\":null}]}],"
                   "\"when\":\"2024-02-29\"}"), APIGW_V_OK);

    b = "{\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\",\"kids\":[{\"kids\":"
        "[{\"name\":\"abcd\",\"extra\":1}]}],\"when\":\"2023-02-29\"}";
    CHECK_INT(BODY(b), APIGW_V_REJECT);
    CHECK_INT(res.total, 4);
    CHECK(res_has(&res, APIGW_IN_BODY, "/kids/0/name", "is required"));
    CHECK(res_has(&res, APIGW_IN_BODY, "/kids/0/kids/0/name", "at most 3"));
    CHECK(res_has(&res, APIGW_IN_BODY, "/kids/0/kids/0/extra",
                  "not allowed"));
    CHECK(res_has(&res, APIGW_IN_BODY, "/when", "valid date"));

    CHECK_INT(BODY("{\"name\": \"a\",,}"), APIGW_V_REJECT);
    CHECK(res_has(&res, APIGW_IN_BODY, "", "malformed JSON at byte offset 13"));

    /* beyond int64: an integer still, never an error of ours */
    CHECK_INT(BODY("{\"name\":\"a\",\"kids\":123456789012345678901234567890}"),
              APIGW_V_REJECT);
    CHECK(res_has(&res, APIGW_IN_BODY, "/kids", "must be array"));

    n = apigw_vresult_json(&res, json, sizeof(json));
    json[n < sizeof(json) ? n : sizeof(json) - 1] = '\0';
    CHECK_STR(json, "[{\"in\":\"body\",\"pointer\":\"/kids\","
                    "\"reason\":\"must be array\"}]");

    apigw_api_free(api);
}


/* cap, budget and depth limits */
/* patterns ECMA-262 takes and PCRE2 cannot compile: warned, not checked
   (and no name is "additional" beside a patternProperties one of them) */
TEST(test_patterns_beyond_pcre2)
{
    json_t              *root, *j;
    json_error_t         err;
    apigw_schema_t      *s;
    apigw_vresult_t      res;
    apigw_schema_set_t  *set;

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    root = json_loads("{\"type\":\"object\",\"properties\":{"
                      "\"a\":{\"type\":\"string\",\"pattern\":"
                      "\"^.{0,262144}$\"},\"b\":{\"pattern\":"
                      "\"[\\\\uD800-\\\\uDBFF]\"},\"c\":{\"pattern\":"
                      "\"^[a-z]+$\"}},\"patternProperties\":{"
                      "\"^x.{0,70000}$\":{\"type\":\"integer\"}},"
                      "\"additionalProperties\":false}", 0, &err);
    CHECK(root != NULL);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);
    CHECK_INT(P.nerrors, 0);
    CHECK(P.n == 3 && P.items[0].warning
          && strstr(P.items[0].message, "beyond what PCRE2 compiles"));

    j = json_pack("{s:s,s:s,s:s,s:s}", "a", "anything", "b", "x",
                  "c", "abc", "xyz", "not checked either");
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 0);
    json_decref(j);

    /* the patterns PCRE2 compiles are still checked */
    j = json_pack("{s:s}", "c", "ABC");
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 1);
    json_decref(j);

    apigw_schema_set_free(set);
    json_decref(root);

    /* a pattern that is invalid for ECMA-262 too stays an error */
    root = json_loads("{\"pattern\":\"([\"}", 0, &err);
    CHECK(apigw_schema_compile(root, 1, &set, &P) == NULL);
    json_decref(root);
}


/* 1 when {name: v} breaks schema s, 0 when it passes */
static int
prop_check(const apigw_schema_t *s, const char *name, const char *v)
{
    int               rc;
    json_t           *j;
    apigw_vresult_t   res;

    j = json_pack("{s:s}", name, v);
    apigw_vresult_init(&res);
    rc = apigw_schema_check(s, j, &res);
    json_decref(j);

    return rc;
}


/*
 * Patterns of real documents: "[\\w-.]" (a range with a class escape at an
 * end) is ECMA-262's web reading of "\\w", "-" and ".", checked as such;
 * "\\p{XDigit}" (Java's) is warned about and not checked.
 */
TEST(test_patterns_annex_b)
{
    json_t              *root;
    json_error_t         err;
    apigw_schema_t      *s;
    apigw_schema_set_t  *set;
    size_t               i;
    static const struct { const char *name, *v; int bad; }  cases[] = {
        { "a", "a-b.c", 0 }, { "a", "x9_", 0 }, { "a", "a b", 1 },
        { "a", "a/b", 1 }, { "a", "", 1 }, { "a", "-", 0 }, { "a", ".", 0 },
        /* "[.-\\d]": ".", "-" or a digit; not the range "." to "9" */
        { "b", "-", 0 }, { "b", "7", 0 }, { "b", "/", 1 },
        /* not checked: anything goes */
        { "c", "lower case", 0 },
        /* a "-" outside a class and an escaped one are left alone */
        { "d", "_-y", 0 }, { "d", "_-a", 1 }, { "d", "--z", 0 },
    };

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    root = json_loads("{\"type\":\"object\",\"properties\":{"
                      "\"a\":{\"type\":\"string\",\"pattern\":"
                      "\"^[\\\\w-.]+$\"},"
                      "\"b\":{\"pattern\":\"^[.-\\\\d]$\"},"
                      "\"c\":{\"pattern\":\"^[\\\\p{XDigit}]+$\"},"
                      "\"d\":{\"pattern\":\"^[\\\\w\\\\-]-[x-z]$\"}}}",
                      0, &err);
    CHECK(root != NULL);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);
    CHECK_INT(P.nerrors, 0);
    CHECK(P.n == 1 && P.items[0].warning
          && strstr(P.items[0].message, "\\p{XDigit}") != NULL
          && strstr(P.items[0].message, "not checked") != NULL);

    if (s == NULL) {
        json_decref(root);
        return;
    }

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_INT(prop_check(s, cases[i].name, cases[i].v), cases[i].bad);
    }

    apigw_schema_set_free(set);
    json_decref(root);

    /* a range that is wrong with or without Annex B stays an error */
    root = json_loads("{\"pattern\":\"[z-a\\\\w-.]\"}", 0, &err);
    CHECK(apigw_schema_compile(root, 1, &set, &P) == NULL);
    json_decref(root);
}


/* a chain of 300 $refs (a big domain model) is no nesting: it compiles,
   in both dialects, and validates to its end */
TEST(test_ref_chain)
{
    int                  i, d;
    char                 name[32];
    json_t              *root, *defs, *a, *j, *cur;
    apigw_schema_t      *s;
    apigw_vresult_t      res;
    apigw_schema_set_t  *set;

    for (d = 0; d < 2; d++) {
        apigw_problems_free(&P);
        apigw_problems_init(&P);

        root = json_pack("{s:s}", "$ref", "#/definitions/A0");
        defs = json_object();

        for (i = 0; i < 300; i++) {
            snprintf(name, sizeof(name), "#/definitions/A%d", i + 1);
            a = json_pack("{s:s,s:{s:{s:s}}}", "type", "object",
                          "properties", "id", "type", "integer");
            if (i < 299) {
                json_object_set_new(json_object_get(a, "properties"), "next",
                                    json_pack("{s:s}", "$ref", name));
            }
            snprintf(name, sizeof(name), "A%d", i);
            json_object_set_new(defs, name, a);
        }

        json_object_set_new(root, "definitions", defs);

        s = apigw_schema_compile(root, d, &set, &P);
        CHECK(s != NULL);
        CHECK_INT(P.nerrors, 0);

        /* 250 levels down, a string where an integer goes */
        j = json_object();
        cur = j;
        for (i = 0; i < 250; i++) {
            a = json_object();
            json_object_set_new(cur, "next", a);
            cur = a;
        }
        json_object_set_new(cur, "id", json_string("x"));

        apigw_vresult_init(&res);
        CHECK_INT(apigw_schema_check(s, j, &res), 1);
        CHECK(res.n == 1 && strncmp(res.items[0].name, "/next/next/", 11)
                            == 0
              && strstr(res.items[0].reason, "integer") != NULL);

        json_object_set_new(cur, "id", json_integer(5));
        apigw_vresult_init(&res);
        CHECK_INT(apigw_schema_check(s, j, &res), 0);

        json_decref(j);
        apigw_schema_set_free(set);
        json_decref(root);
    }
}


TEST(test_limits)
{
    int                  i;
    char                *big;
    size_t               n;
    json_t              *root, *j;
    json_error_t         err;
    apigw_schema_t      *s;
    apigw_vresult_t      res;
    apigw_schema_set_t  *set;

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    root = json_loads("{\"type\":\"array\",\"items\":{\"type\":\"string\"}}",
                      0, &err);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);

    j = json_array();
    for (i = 0; i < 100; i++) {
        json_array_append_new(j, json_integer(i));
    }

    apigw_vresult_init(&res);
    n = apigw_schema_check(s, j, &res);
    CHECK_INT(res.n, APIGW_VERR_MAX);
    CHECK(res.total > APIGW_VERR_MAX);
    CHECK(n > 0);
    json_decref(j);
    apigw_schema_set_free(set);
    json_decref(root);

    /*
     * a pattern that backtracks without end on its input: stopped at its
     * match limit, once, and the request refused; the other keys are not
     * tried (each would cost as much)
     */
    root = json_loads("{\"type\":\"object\",\"patternProperties\":"
                      "{\"^(a+)+$\":{}},\"properties\":{\"s\":{\"type\":"
                      "\"string\",\"pattern\":\"^(a+)+$\"}}}", 0, &err);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);
    j = json_object();
    for (i = 0; i < 50; i++) {
        char  k[64];

        snprintf(k, sizeof(k), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!%d", i);
        json_object_set_new(j, k, json_integer(i));
    }
    apigw_vresult_init(&res);
    CHECK(apigw_schema_check(s, j, &res) > 0);
    CHECK_INT(res.n, 1);
    CHECK(strstr(res.items[0].reason, "could not be evaluated within its "
                 "limits") != NULL);
    json_decref(j);
    j = json_pack("{s:s}", "s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!");
    apigw_vresult_init(&res);
    CHECK(apigw_schema_check(s, j, &res) > 0);
    CHECK(strstr(res.items[0].reason, "within its limits") != NULL);
    json_decref(j);
    j = json_pack("{s:s}", "s", "aaaa");
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 0);
    json_decref(j);
    apigw_schema_set_free(set);
    json_decref(root);

    /*
     * a pattern that backtracks a lot, but below the limit, on every item:
     * each match is "no match" inside anyOf (no error), so only the
     * patterns' budget (by input size) stops the request; patterns that do
     * not backtrack, several per string, fit in it with room to spare
     */
    root = json_loads("{\"type\":\"array\",\"items\":{\"anyOf\":["
                      "{\"type\":\"string\",\"pattern\":\"^(a|aa)*$\"},"
                      "{\"type\":\"string\"}]}}", 0, &err);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);
    j = json_array();
    for (i = 0; i < 2000; i++) {
        json_array_append_new(j, json_string("aaaaaaaaaaaaaaaaaaaaaa!"));
    }
    apigw_vresult_init(&res);
    CHECK(apigw_schema_check(s, j, &res) > 0);
    CHECK_INT(res.n, 1);
    CHECK(strstr(res.items[0].reason, "within its limits") != NULL);
    json_decref(j);
    j = json_pack("[s,s,s]", "aaaaaaaaaaaaaaaaaaaaaa!", "aaaa", "b");
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 0);
    json_decref(j);
    apigw_schema_set_free(set);
    json_decref(root);

    root = json_loads("{\"type\":\"array\",\"items\":{\"allOf\":["
                      "{\"pattern\":\"^[a-z0-9-]+$\"},"
                      "{\"pattern\":\"^([a-z0-9]+-?)*$\"},"
                      "{\"pattern\":\"[0-9]$\"}],"
                      "\"type\":\"string\"}}", 0, &err);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);
    j = json_array();
    for (i = 0; i < 20000; i++) {
        json_array_append_new(j, json_string(i % 2 ? "a1" :
                                             "hello-world-1234567890"));
    }
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 0);
    json_decref(j);
    apigw_schema_set_free(set);
    json_decref(root);

    /* multipleOf of a fraction: rounding noise passes, a digit more not */
    {
        static const struct { double m, d; int ok; } mo[] = {
            { 0.01, 99999.99, 1 }, { 0.01, 0.07, 1 }, { 0.1, 12345678.9, 1 },
            { 0.1, 0.3, 1 }, { 0.05, 1.15, 1 }, { 0.01, 10000000.001, 0 },
            { 0.01, 123456789.123, 0 }, { 1, 0.0000000001, 0 },
            { 1, 5000000.0001, 0 }, { 0.5, 1.0000000001, 0 }, { 0.1, 0.35, 0 }
        };
        char  sch[64];
        int   k;

        for (k = 0; k < (int) (sizeof(mo) / sizeof(mo[0])); k++) {
            snprintf(sch, sizeof(sch), "{\"multipleOf\":%.17g}", mo[k].m);
            root = json_loads(sch, 0, &err);
            s = apigw_schema_compile(root, 1, &set, &P);
            j = json_real(mo[k].d);
            apigw_vresult_init(&res);
            if ((apigw_schema_check(s, j, &res) == 0) != mo[k].ok) {
                fprintf(stderr, "multipleOf %g, %.17g\n", mo[k].m, mo[k].d);
                CHECK(0);
            }
            json_decref(j);
            apigw_schema_set_free(set);
            json_decref(root);
        }
    }

    /* ECMA-262's empty classes: "[^]" is any character, "[]" none */
    root = json_loads("{\"properties\":{\"a\":{\"pattern\":\"^[^]*$\"},"
                      "\"b\":{\"pattern\":\"x[]\"}}}", 0, &err);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);
    j = json_pack("{s:s}", "a", "line\nline");
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 0);
    json_decref(j);
    j = json_pack("{s:s}", "b", "x");
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 1);
    json_decref(j);
    apigw_schema_set_free(set);
    json_decref(root);

    /* 64-bit bounds are exact (2^53 + 1 has no double) */
    root = json_loads("{\"minimum\":9007199254740993,"
                      "\"maximum\":9223372036854775807}", 0, &err);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);
    j = json_integer(9007199254740993LL);
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 0);
    json_decref(j);
    j = json_integer(9007199254740992LL);
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 1);
    CHECK_STR(res.items[0].reason, "must be >= 9007199254740993");
    json_decref(j);
    j = json_integer(9223372036854775807LL);
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 0);
    json_decref(j);
    apigw_schema_set_free(set);
    json_decref(root);

    /* 3.1 counts 1.0 an integer (JSON Schema 2020-12), 3.0 does not */
    for (i = 0; i < 2; i++) {
        root = json_loads("{\"type\":\"integer\",\"maximum\":100}", 0,
                          &err);
        s = apigw_schema_compile(root, i, &set, &P);
        CHECK(s != NULL);
        j = json_real(1.0);
        apigw_vresult_init(&res);
        CHECK_INT(apigw_schema_check(s, j, &res), (size_t) i);
        json_decref(j);
        j = json_real(1.5);
        apigw_vresult_init(&res);
        CHECK_INT(apigw_schema_check(s, j, &res), 1);
        json_decref(j);
        j = json_real(200.0);
        apigw_vresult_init(&res);
        CHECK_INT(apigw_schema_check(s, j, &res), 1);
        json_decref(j);
        apigw_schema_set_free(set);
        json_decref(root);
    }

    /* nullable is 3.0's: 3.1 takes null only as a type */
    for (i = 0; i < 2; i++) {
        root = json_loads("{\"type\":\"string\",\"nullable\":true}", 0,
                          &err);
        s = apigw_schema_compile(root, i, &set, &P);
        CHECK(s != NULL);
        j = json_null();
        apigw_vresult_init(&res);
        CHECK_INT(apigw_schema_check(s, j, &res), (size_t) (i == 0));
        json_decref(j);
        apigw_schema_set_free(set);
        json_decref(root);
    }

    root = json_loads("{\"type\":[\"string\",\"null\"]}", 0, &err);
    s = apigw_schema_compile(root, 0, &set, &P);
    CHECK(s != NULL);
    j = json_null();
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 0);
    json_decref(j);
    apigw_schema_set_free(set);
    json_decref(root);

    /* a readOnly property is not required in a request, $ref'd too */
    root = json_loads("{\"definitions\":{\"id\":{\"type\":\"integer\","
                      "\"readOnly\":true}},\"type\":\"object\","
                      "\"required\":[\"id\",\"rid\",\"name\"],"
                      "\"properties\":{\"id\":{\"type\":\"integer\","
                      "\"readOnly\":true},\"rid\":{\"$ref\":"
                      "\"#/definitions/id\"},\"name\":{\"type\":\"string\"}}}",
                      0, &err);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);
    j = json_pack("{s:s}", "name", "x");
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 0);
    json_decref(j);
    j = json_object();
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 1);
    CHECK(strstr(res.items[0].name, "name") != NULL);
    json_decref(j);
    apigw_schema_set_free(set);
    json_decref(root);

    /* recursion through a $ref without consuming the value */
    root = json_loads("{\"definitions\":{\"a\":{\"allOf\":[{\"$ref\":"
                      "\"#/definitions/a\"}]}},\"$ref\":\"#/definitions/a\"}",
                      0, &err);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);
    j = json_integer(1);
    apigw_vresult_init(&res);
    CHECK(apigw_schema_check(s, j, &res) > 0);
    CHECK(strstr(res.items[0].reason, "too") != NULL);
    json_decref(j);
    apigw_schema_set_free(set);
    json_decref(root);

    /* a deep body against a recursive schema */
    root = json_loads("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}", 0,
                      &err);
    s = apigw_schema_compile(root, 1, &set, &P);
    CHECK(s != NULL);

    big = malloc(2 * 900 + 1);
    memset(big, '[', 900);
    memset(big + 900, ']', 900);
    big[1800] = '\0';
    j = json_loads(big, 0, &err);
    CHECK(j != NULL);
    apigw_vresult_init(&res);
    CHECK_INT(apigw_schema_check(s, j, &res), 0);
    json_decref(j);
    free(big);
    apigw_schema_set_free(set);
    json_decref(root);
}


/* every bad schema of a document is reported, not the first */
TEST(test_compile_errors_all)
{
    apigw_api_t  *api;

    apigw_problems_free(&P);
    apigw_problems_init(&P);
    api = imp("{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"x-apigw-validate\":true,\"paths\":"
              "{\"/d\":{\"post\":{\"x-apigw-backend\":{\"url\":"
              "\"http://127.0.0.1:1/\"},\"responses\":{},\"requestBody\":"
              "{\"content\":{\"application/json\":{\"schema\":{"
              "\"type\":\"object\",\"properties\":{\"a\":{\"pattern\":"
              "\"(x\"},\"b\":{\"pattern\":\"(y\"},\"c\":{\"$ref\":"
              "\"#/nope\"}},\"patternProperties\":{\"(p\":{},\"(q\":{}},"
              "\"allOf\":[{\"pattern\":\"(r\"},{\"pattern\":\"(s\"}]"
              "}}}}}}}}");
    CHECK(api == NULL);
    CHECK_INT(P.nerrors, 7);
    apigw_api_free(api);
}


TEST(test_compile_errors)
{
    apigw_api_t  *api;

    api = imp("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"paths\":{\"/a\":{\"get\":{"
              "\"x-openwhisk\":{\"namespace\":\"n\",\"action\":\"a\"},"
              "\"parameters\":[{\"name\":\"p\",\"in\":\"query\","
              "\"schema\":{\"pattern\":\"a(b\"}}]}}}}");
    CHECK(api == NULL);
    CHECK(has_error("/paths/~1a/get/parameters/0/schema/pattern",
                    "invalid regular expression"));

    api = imp("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"paths\":{\"/a\":{\"post\":{"
              "\"x-openwhisk\":{\"namespace\":\"n\",\"action\":\"a\"},"
              "\"requestBody\":{\"content\":{\"application/json\":{"
              "\"schema\":{\"$ref\":\"#/nowhere\"}}}}}}}}");
    CHECK(api == NULL);
    CHECK(has_error("/paths/~1a/post/requestBody/content/application~1json"
                    "/schema/$ref", "does not resolve"));

    /* x-apigw-validate: false skips the operation; must be boolean */
    api = imp("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"x-apigw-validate\":true,"
              "\"paths\":{\"/a\":{\"get\":{\"x-apigw-validate\":false,"
              "\"x-openwhisk\":{\"namespace\":\"n\",\"action\":\"a\"},"
              "\"parameters\":[{\"name\":\"p\",\"in\":\"query\","
              "\"schema\":{\"pattern\":\"a(b\"}}]},"
              "\"put\":{\"x-openwhisk\":{\"namespace\":\"n\",\"action\":\"a\"}"
              "}}}}");
    CHECK(api != NULL);
    if (api) {
        CHECK_INT(apigw_validation_on(op_of(api, APIGW_M_GET, "/a"), 1), 0);
        CHECK_INT(apigw_validation_on(op_of(api, APIGW_M_PUT, "/a"), 0), 1);
        apigw_api_free(api);
    }

    api = imp("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"x-apigw-validate\":\"yes\","
              "\"paths\":{}}");
    CHECK(api == NULL);
    CHECK(has_error("/x-apigw-validate", "must be a boolean"));
}


TEST(test_swagger2)
{
    req_t                req;
    apigw_api_t         *api;
    apigw_vresult_t      res;
    apigw_validation_t  *v;

    api = imp("{\"swagger\":\"2.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"x-openwhisk\":{\"namespace\":\"n\","
              "\"action\":\"a\"},\"consumes\":[\"application/json\"],"
              "\"paths\":{\"/a\":{\"post\":{\"parameters\":["
              "{\"name\":\"n\",\"in\":\"query\",\"type\":\"array\","
              "\"collectionFormat\":\"pipes\",\"items\":{\"type\":"
              "\"integer\",\"maximum\":5}},"
              "{\"name\":\"b\",\"in\":\"body\",\"required\":true,"
              "\"schema\":{\"type\":\"object\",\"required\":[\"x\"]}}]},"
              "\"put\":{\"consumes\":[],\"parameters\":[{\"name\":\"f\","
              "\"in\":\"formData\",\"type\":\"string\"}]}}}}");
    CHECK(api != NULL);
    if (api == NULL) {
        return;
    }

    v = apigw_op_validation(op_of(api, APIGW_M_POST, "/a"));
    req_init(&req, "n=1|2|9", "application/json", 1);
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK(res_has(&res, APIGW_IN_QUERY, "n/2", "must be <= 5"));

    req_init(&req, "n=1|2", "application/json", 1);
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_BODY);
    CHECK_INT(apigw_validate_body(v, "application/json", 16, "{}", 2, &res),
              APIGW_V_REJECT);
    CHECK(res_has(&res, APIGW_IN_BODY, "/x", "is required"));

    v = apigw_op_validation(op_of(api, APIGW_M_PUT, "/a"));
    req_init(&req, NULL, "application/json", 1);
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_REJECT);
    CHECK_INT(res.status, 415);
    req_init(&req, NULL, "multipart/form-data; boundary=x", 1);
    CHECK_INT(apigw_validate_request(v, &req.req, &res), APIGW_V_OK);

    apigw_api_free(api);
}


/* a required name holding a NUL (YAML "\0", JSON "\u0000"): all of it */
TEST(test_required_nul)
{
    json_t              *root;
    json_error_t         err;
    apigw_vmedia_t       media;
    apigw_vresult_t      res;
    apigw_validation_t   v;
    apigw_schema_set_t  *set;

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    root = json_loads("{\"required\":[\"a\\u0000bc\"]}", JSON_ALLOW_NUL,
                      &err);
    CHECK(root != NULL);

    memset(&v, 0, sizeof(v));
    memset(&media, 0, sizeof(media));
    media.type = (char *) "application/json";
    media.json = 1;
    media.schema = apigw_schema_compile(root, 1, &set, &P);
    CHECK(media.schema != NULL);
    v.mode = 1;
    v.media = &media;
    v.nmedia = 1;

#define NUL_BODY(b)                                                          \
    apigw_validate_body(&v, "application/json", 16, b, sizeof(b) - 1, &res)

    CHECK_INT(NUL_BODY("{\"a\\u0000bc\":1}"), APIGW_V_OK);
    CHECK_INT(NUL_BODY("{\"a\\u0000bd\":1}"), APIGW_V_REJECT);
    CHECK(res_has(&res, APIGW_IN_BODY, "/a", "is required"));

#undef NUL_BODY

    apigw_schema_set_free(set);
    json_decref(root);
}


/*
 * body checked against schema (compiled as OpenAPI 3.0 when oas30): the
 * apigw_validate_body() result, or -1 when the schema does not compile
 */
static int
run_body(const char *schema, int oas30, const char *body, size_t len,
    apigw_vresult_t *res)
{
    int                  rc;
    json_t              *root;
    json_error_t         err;
    apigw_vmedia_t       media;
    apigw_validation_t   v;
    apigw_schema_set_t  *set;

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    root = json_loads(schema, 0, &err);
    memset(&v, 0, sizeof(v));
    memset(&media, 0, sizeof(media));
    media.type = (char *) "application/json";
    media.schema = root ? apigw_schema_compile(root, oas30, &set, &P) : NULL;

    if (media.schema == NULL) {
        json_decref(root);
        return -1;
    }

    v.mode = 1;
    v.media = &media;
    v.nmedia = 1;

    rc = apigw_validate_body(&v, "application/json", 16, body, len, res);

    apigw_schema_set_free(set);
    json_decref(root);

    return rc;
}


/* the first error's pointer when `body` is checked against `schema` */
static int
ptr_case(const char *schema, const char *body, const char *want)
{
    int              ok, rc;
    apigw_vresult_t  res;

    rc = run_body(schema, 1, body, strlen(body), &res);

    if (rc < 0) {
        fprintf(stderr, "  schema %s does not compile\n", schema);
        return 0;
    }

    ok = rc == APIGW_V_REJECT
         && res.n > 0 && strcmp(res.items[0].name, want) == 0;

    if (!ok) {
        fprintf(stderr, "  pointer \"%s\", not \"%s\"\n",
                res.n ? res.items[0].name : "(none)", want);
    }

    return ok;
}


/* pointers: escapes, indexes, nesting, and cut at APIGW_VERR_NAME - 1 */
TEST(test_pointers)
{
    int          i;
    char        *body, want[APIGW_VERR_NAME];
    size_t       n;
    const char  *any3;

    CHECK(ptr_case("{\"properties\":{\"a~b\":{\"properties\":{\"c/d\":"
                   "{\"items\":{\"properties\":{\"e\":{\"type\":"
                   "\"integer\"}}}}}}}}",
                   "{\"a~b\":{\"c/d\":[{},{},{\"e\":\"x\"}]}}",
                   "/a~0b/c~1d/2/e"));
    CHECK(ptr_case("{\"items\":{\"type\":\"integer\"}}",
                   "[0,1,2,3,4,5,6,7,8,9,10,11,12,\"x\"]", "/13"));
    CHECK(ptr_case("{\"properties\":{\"\":{\"required\":[\"~/~\"]}}}",
                   "{\"\":{}}", "//~0~1~0"));
    CHECK(ptr_case("{\"additionalProperties\":{\"type\":\"integer\"}}",
                   "{\"a\":1,\"b\\u00e9\\/\":\"x\"}", "/b\xc3\xa9~1"));

    /* 300 deep: "/0" tokens to the cut, then only "/" fits */
    body = malloc(1024);
    n = 0;
    for (i = 0; i < 300; i++) {
        body[n++] = '[';
    }
    body[n++] = '1';
    for (i = 0; i < 300; i++) {
        body[n++] = ']';
    }
    body[n] = '\0';

    for (n = 0, i = 0; i < 95; i++) {
        want[n++] = '/';
        want[n++] = '0';
    }
    want[n++] = '/';
    want[n] = '\0';

    CHECK(ptr_case("{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}}", body,
                   want));

    /* an escape that does not fit ends its token; the next one's "/" fits */
    any3 = "{\"additionalProperties\":{\"additionalProperties\":"
           "{\"additionalProperties\":{\"type\":\"integer\"}}}}";

    n = 0;
    body[n++] = '{';
    body[n++] = '"';
    memset(body + n, 'a', 188);
    n += 188;
    memcpy(body + n, "\":{\"~\":{\"b\":\"x\"}}}", 19);
    n += 19;
    body[n] = '\0';

    want[0] = '/';
    memset(want + 1, 'a', 188);
    memcpy(want + 189, "//", 3);

    CHECK(ptr_case(any3, body, want));

    /* a plain character still fits where an escape does not */
    memcpy(body + 2 + 188, "\":{\"x~\":{\"b\":\"x\"}}}", 20);
    memcpy(want + 189, "/x", 3);

    CHECK(ptr_case(any3, body, want));

    free(body);
}


/* 1: body is valid against schema, 0: not, -1: the schema failed */
static int
body_ok(const char *schema, const char *body, size_t len)
{
    int              rc;
    apigw_vresult_t  res;

    rc = run_body(schema, 0, body, len, &res);

    return rc < 0 ? -1 : rc == APIGW_V_OK;
}


/* uuid: each position; patterns (through the JIT when there is one) */
TEST(test_formats)
{
    int          ok;
    char         body[64];
    size_t       i, k;
    const char  *u = "\"123e4567-e89b-12d3-a456-426614174000\"";

    static const char  bad[] = { 'g', 'G', '-', ' ', 'z', '/', ':', '@',
                                 '`', '\x7f' };

    CHECK_INT(body_ok("{\"format\":\"uuid\"}", u, strlen(u)), 1);
    CHECK_INT(body_ok("{\"format\":\"uuid\"}",
                      "\"ABCDEF01-abcd-ABCD-0123-456789abcdef\"", 38), 1);
    CHECK_INT(body_ok("{\"format\":\"uuid\"}", "\"\"", 2), 0);
    CHECK_INT(body_ok("{\"format\":\"uuid\"}",
                      "\"123e4567-e89b-12d3-a456-4266141740001\"", 39), 0);
    CHECK_INT(body_ok("{\"format\":\"uuid\"}",
                      "\"123e4567-e89b-12d3-a456-42661417400\"", 37), 0);

    for (i = 1; i < 37; i++) {
        for (k = 0; k < sizeof(bad); k++) {
            memcpy(body, u, 39);
            body[i] = bad[k];
            ok = body_ok("{\"format\":\"uuid\"}", body, 38);
            if (ok != (bad[k] == '-' && (i == 9 || i == 14 || i == 19
                                          || i == 24)))
            {
                CHECK(0 && "uuid");
                fprintf(stderr, "  %s: %d\n", body, ok);
            }
        }

        /* a digit where a dash goes */
        if (i == 9 || i == 14 || i == 19 || i == 24) {
            memcpy(body, u, 39);
            body[i] = 'a';
            CHECK_INT(body_ok("{\"format\":\"uuid\"}", body, 38), 0);
        }
    }

    CHECK_INT(body_ok("{\"pattern\":\"^[0-9]{5}$\"}", "\"12345\"", 7), 1);
    CHECK_INT(body_ok("{\"pattern\":\"^[0-9]{5}$\"}", "\"1234a\"", 7), 0);
    CHECK_INT(body_ok("{\"pattern\":\"^a.b$\"}", "\"a\\u0000b\"", 10), 1);
    CHECK_INT(body_ok("{\"pattern\":\"^.$\"}", "\"\xc3\xa9\"", 4), 1);

    /* ECMA-262: "$" not before a final newline */
    CHECK_INT(body_ok("{\"pattern\":\"^[A-Z]{3}$\"}", "\"ABC\"", 5), 1);
    CHECK_INT(body_ok("{\"pattern\":\"^[A-Z]{3}$\"}", "\"ABC\\n\"", 7), 0);

    /* ECMA-262: \d, \w and \b are ASCII */
    CHECK_INT(body_ok("{\"pattern\":\"^\\\\d+$\"}", "\"12\"", 4), 1);
    CHECK_INT(body_ok("{\"pattern\":\"^\\\\d+$\"}",
                      "\"\xd9\xa1\xd9\xa2\"", 6), 0);
    CHECK_INT(body_ok("{\"pattern\":\"^\\\\w$\"}", "\"\xc3\xa9\"", 4), 0);
    CHECK_INT(body_ok("{\"pattern\":\"\\\\bx\"}", "\"\xc3\xa9x\"", 5), 1);

    /* ECMA-262 \uXXXX escapes */
    CHECK_INT(body_ok("{\"pattern\":\"^\\\\u0041+$\"}", "\"AAA\"", 5), 1);
    CHECK_INT(body_ok("{\"pattern\":\"^\\\\u0041+$\"}", "\"AAB\"", 5), 0);
    CHECK_INT(body_ok("{\"pattern\":\"^\\\\u00e9$\"}", "\"\xc3\xa9\"", 4),
              1);
    CHECK_INT(body_ok("{\"pattern\":\"^.$\"}", "\"\"", 2), 0);
    CHECK_INT(body_ok("{\"pattern\":\"^$\"}", "\"\"", 2), 1);
}


/* properties by hash, and by binary search without the table */
TEST(test_prop_lookup)
{
    int                  i, k, pass;
    char                 body[64], want[64];
    size_t               n;
    json_t              *root;
    json_error_t         err;
    apigw_vmedia_t       media;
    apigw_vresult_t      res;
    apigw_schema_t      *s;
    apigw_validation_t   v;
    apigw_schema_set_t  *set;

#define V_LONG  "_and_a_longer_name"

    static char         schema[65536];
    static const char  *sfx[] = { "", "x", V_LONG };

    /* "p0".."p199", "p0x".., "p0_and_a_longer_name".., "": each its number */
    n = (size_t) snprintf(schema, sizeof(schema),
                          "{\"additionalProperties\":false,\"properties\":{"
                          "\"\":{\"minimum\":-1,\"maximum\":-1}");
    for (i = 0; i < 200; i++) {
        n += (size_t) snprintf(schema + n, sizeof(schema) - n,
                               ",\"p%d\":{\"minimum\":%d,\"maximum\":%d}"
                               ",\"p%dx\":{\"minimum\":%d,\"maximum\":%d}"
                               ",\"p%d%s\":{\"minimum\":%d,\"maximum\":%d}",
                               i, i, i, i, i + 1000, i + 1000, i, V_LONG,
                               i + 2000, i + 2000);
    }
    snprintf(schema + n, sizeof(schema) - n, "}}");

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    root = json_loads(schema, 0, &err);
    CHECK(root != NULL);
    s = root ? apigw_schema_compile(root, 1, &set, &P) : NULL;
    CHECK(s != NULL);
    if (s == NULL) {
        json_decref(root);
        return;
    }

    CHECK_INT(s->nprops, 601);
    CHECK(s->ptab != NULL);

    memset(&v, 0, sizeof(v));
    memset(&media, 0, sizeof(media));
    media.type = (char *) "application/json";
    media.schema = s;
    v.mode = 1;
    v.media = &media;
    v.nmedia = 1;

#define B(b_)                                                                \
    apigw_validate_body(&v, "application/json", 16, b_, strlen(b_), &res)

    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < 200; i++) {
            for (k = 0; k < 3; k++) {
                snprintf(body, sizeof(body), "{\"p%d%s\":%d}", i,
                         sfx[k], i + k * 1000);
                CHECK_INT(B(body), APIGW_V_OK);

                snprintf(body, sizeof(body), "{\"p%d%s\":%d}", i,
                         sfx[k], i + k * 1000 + 1);
                snprintf(want, sizeof(want), "/p%d%s", i, sfx[k]);
                CHECK_INT(B(body), APIGW_V_REJECT);
                CHECK(res_has(&res, APIGW_IN_BODY, want, "must be <="));
            }
        }

        CHECK_INT(B("{\"\":-1}"), APIGW_V_OK);
        CHECK_INT(B("{\"\":0}"), APIGW_V_REJECT);
        CHECK(res_has(&res, APIGW_IN_BODY, "/", "must be <="));

        /* not properties: near misses */
        CHECK_INT(B("{\"p200\":1,\"p1y\":1,\"P1\":1,\"p\":1,\"n\":1,"
                    "\"p10xx\":1}"), APIGW_V_REJECT);
        CHECK_INT(res.total, 6);
        CHECK(res_has(&res, APIGW_IN_BODY, "/p10xx", "not allowed"));

        /* again without the table (and the order with it) */
        free(s->ptab);
        s->ptab = NULL;
        s->pnext = NULL;
    }

#undef B
#undef V_LONG

    apigw_schema_set_free(set);
    json_decref(root);
}


/* errors as "in pointer: reason; ..." */
static void
errors_text(const apigw_vresult_t *res, char *buf, size_t size)
{
    size_t  i, n;

    buf[0] = '\0';

    for (i = 0, n = 0; i < res->n && n < size; i++) {
        n += (size_t) snprintf(buf + n, size - n, "%s%s: %s", i ? "; " : "",
                               res->items[i].name, res->items[i].reason);
    }
}


/* the order properties came in last time is only a guess */
TEST(test_prop_order)
{
    char                 got[1024];
    size_t               i, k, n, pass;
    json_t              *root;
    json_error_t         err;
    apigw_vmedia_t       media;
    apigw_vresult_t      res;
    apigw_validation_t   v;
    apigw_schema_set_t  *set;

    static const struct {
        const char  *body;
        const char  *errors;
    } cases[] = {
        { "{\"a\":1,\"b\":2,\"c\":3}", "" },
        { "{\"a\":1,\"c\":\"x\",\"b\":2}", "/c: must be integer" },
        { "{\"b\":\"x\",\"a\":\"y\"}",
          "/b: must be integer; /a: must be integer" },
        { "{\"a\":1,\"zz\":1,\"b\":\"x\"}",
          "/zz: is not allowed (additionalProperties); /b: must be integer" },
        { "{\"a\":1,\"a\":\"x\"}", "/a: must be integer" },
        { "{\"e\":1,\"d\":1,\"c\":1,\"b\":1,\"a\":\"q\"}",
          "/a: must be integer" },
        { "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":\"q\"}",
          "/e: must be integer" },
        { "{\"ab\":1,\"b\":\"x\",\"\":2}",
          "/ab: is not allowed (additionalProperties); /b: must be integer; "
          "/: is not allowed (additionalProperties)" },
        { "{\"t\":{\"t\":{\"a\":\"x\"},\"a\":2},\"a\":1}",
          "/t/t/a: must be integer" },
        { "{\"t\":{\"a\":\"x\",\"t\":{\"b\":\"y\"}},\"b\":\"z\"}",
          "/t/a: must be integer; /t/t/b: must be integer; "
          "/b: must be integer" },
    };

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    root = json_loads("{\"additionalProperties\":false,\"properties\":{"
                      "\"a\":{\"type\":\"integer\"},"
                      "\"b\":{\"type\":\"integer\"},"
                      "\"c\":{\"type\":\"integer\"},"
                      "\"d\":{\"type\":\"integer\"},"
                      "\"e\":{\"type\":\"integer\"},"
                      "\"t\":{\"$ref\":\"#\"}}}", 0, &err);
    CHECK(root != NULL);

    memset(&v, 0, sizeof(v));
    memset(&media, 0, sizeof(media));
    media.type = (char *) "application/json";
    media.schema = root ? apigw_schema_compile(root, 1, &set, &P) : NULL;
    CHECK(media.schema != NULL);
    if (media.schema == NULL) {
        json_decref(root);
        return;
    }

    v.mode = 1;
    v.media = &media;
    v.nmedia = 1;

    /* each after several others: whatever order came before */
    n = sizeof(cases) / sizeof(cases[0]);

    for (pass = 0; pass < 3; pass++) {
        for (i = 0; i < n; i++) {
            k = (i * 7 + pass) % n;
            (void) apigw_validate_body(&v, "application/json", 16,
                                       cases[k].body, strlen(cases[k].body),
                                       &res);
            errors_text(&res, got, sizeof(got));
            CHECK_STR(got, cases[k].errors);
        }
    }

    apigw_schema_set_free(set);
    json_decref(root);
}


/* required names searched from after the last one found */
TEST(test_required_order)
{
    char                 got[1024];
    size_t               i;
    json_t              *root;
    json_error_t         err;
    apigw_vmedia_t       media;
    apigw_vresult_t      res;
    apigw_validation_t   v;
    apigw_schema_set_t  *set;

    static const struct {
        const char  *body;
        const char  *errors;
    } cases[] = {
        { "{\"a\":1,\"bb\":1,\"c\":1,\"x\":1}", "" },
        { "{\"x\":1,\"c\":1,\"bb\":1,\"a\":1}", "" },
        { "{\"c\":1,\"x\":1,\"a\":1,\"bb\":1}", "" },
        { "{\"c\":1,\"a\":1}", "/x: is required; /bb: is required" },
        { "{\"bb\":1}", "/c: is required; /a: is required; /x: is required" },
        { "{}", "/c: is required; /a: is required; /x: is required; "
                "/bb: is required" },
        { "{\"x\":1,\"x\":1,\"b\":1,\"cc\":1,\"a\":1}",
          "/c: is required; /bb: is required" },
        { "{\"a\":1,\"c\":1}", "/x: is required; /bb: is required" },
    };

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    root = json_loads("{\"required\":[\"c\",\"a\",\"x\",\"bb\"]}", 0, &err);
    memset(&v, 0, sizeof(v));
    memset(&media, 0, sizeof(media));
    media.type = (char *) "application/json";
    media.schema = root ? apigw_schema_compile(root, 1, &set, &P) : NULL;
    CHECK(media.schema != NULL);
    if (media.schema == NULL) {
        json_decref(root);
        return;
    }

    v.mode = 1;
    v.media = &media;
    v.nmedia = 1;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        (void) apigw_validate_body(&v, "application/json", 16,
                                   cases[i].body, strlen(cases[i].body),
                                   &res);
        errors_text(&res, got, sizeof(got));
        CHECK_STR(got, cases[i].errors);
    }

    apigw_schema_set_free(set);
    json_decref(root);
}


/* Content-Type against the declared media types: as they are, or not */
TEST(test_media)
{
    size_t               i;
    req_t                req;
    apigw_api_t         *api;
    apigw_vresult_t      res;
    apigw_validation_t  *v;

    static const struct {
        const char  *ct;
        int          checked;      /* the JSON body is checked */
    } cases[] = {
        { "application/vnd.a+json", 1 },
        { "application/vnd.a+json; charset=utf-8", 1 },
        { "application/vnd.a+json;charset=utf-8", 1 },
        { "application/vnd.a+json\t; x=1", 1 },
        { "Application/Vnd.A+JSON", 1 },
        { " application/vnd.a+json", 1 },
        { "application/vnd.a+jsonx", 0 },
        { "application/vnd.a+jso", 0 },
        { "application/vnd.b+json", 1 },
        { "text/plain", 0 },
        { "text/plain;q=1", 0 },
        { "image/png", 0 },
        { "", 0 },
    };

    api = imp("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"paths\":{\"/a\":{\"post\":{"
              "\"x-openwhisk\":{\"namespace\":\"n\",\"action\":\"a\"},"
              "\"requestBody\":{\"content\":{"
              "\"text/plain\":{},"
              "\"Application/Vnd.A+JSON; charset=utf-8\":{\"schema\":"
              "{\"type\":\"object\"}},"
              "\"application/*+json\":{\"schema\":{\"type\":\"object\"}},"
              "\"application/*\":{},"
              "\"*/*\":{}}}}}}}");
    CHECK(api != NULL);
    if (api == NULL) {
        return;
    }

    v = apigw_op_validation(op_of(api, APIGW_M_POST, "/a"));
    CHECK(v != NULL && v->nmedia == 5);
    CHECK_STR(v->media[1].type, "application/vnd.a+json");
    CHECK_INT(v->media[1].len, 22);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        req_init(&req, NULL, cases[i].ct, 1);
        CHECK_INT(apigw_validate_request(v, &req.req, &res),
                  cases[i].checked ? APIGW_V_BODY : APIGW_V_OK);
        CHECK_INT(apigw_validate_body(v, cases[i].ct, strlen(cases[i].ct),
                                      "[]", 2, &res),
                  cases[i].checked ? APIGW_V_REJECT : APIGW_V_OK);
        if (res.total) {
            CHECK(res_has(&res, APIGW_IN_BODY, "", "must be object"));
        }
    }

    apigw_api_free(api);
}


/* the body parser: values, escapes, numbers, errors with offsets */
TEST(test_parser)
{
    int            i;
    char          *deep;
    const char    *text;
    apigw_jdoc_t   d;

    text = " {\"a\\u00e9\\ud83d\\ude00\":[1,-2.5e3,true,false,null,"
           "\"x\\n\"]} ";
    CHECK_INT(apigw_json_parse(text, strlen(text), &d), 0);
    CHECK_INT(d.n, 9);
    CHECK_INT(d.nodes[0].type, APIGW_J_OBJECT);
    CHECK_INT(d.nodes[0].count, 1);
    CHECK_INT(d.nodes[0].size, 9);
    CHECK_INT(d.nodes[1].type, APIGW_J_KEY);
    CHECK_INT(d.nodes[1].len, 7);
    CHECK(memcmp(d.nodes[1].s, "a\xc3\xa9\xf0\x9f\x98\x80", 7) == 0);
    CHECK_INT(d.nodes[2].type, APIGW_J_ARRAY);
    CHECK_INT(d.nodes[2].count, 6);
    CHECK_INT(d.nodes[3].i, 1);
    CHECK(d.nodes[4].type == APIGW_J_REAL && d.nodes[4].d == -2500.0);
    CHECK_INT(d.nodes[8].len, 2);
    apigw_jdoc_free(&d);

    CHECK_INT(apigw_json_parse("-9223372036854775808", 20, &d), 0);
    CHECK(d.nodes[0].type == APIGW_J_INT
          && d.nodes[0].i == -9223372036854775807LL - 1);
    apigw_jdoc_free(&d);

    CHECK_INT(apigw_json_parse("9223372036854775808", 19, &d), 0);
    CHECK(d.nodes[0].type == APIGW_J_REAL && d.nodes[0].big);
    apigw_jdoc_free(&d);

#define BAD(text, off, msg)                                                  \
    do {                                                                     \
        CHECK_INT(apigw_json_parse(text, sizeof(text) - 1, &d), -1);         \
        CHECK_INT(d.err_offset, off);                                        \
        CHECK(d.err && strstr(d.err, msg) != NULL);                          \
        apigw_jdoc_free(&d);                                                 \
    } while (0)

    BAD("", 0, "end of input");
    BAD("[1,]", 3, "unexpected character");
    BAD("{\"a\" 1}", 5, "expected ':'");
    BAD("01", 1, "unexpected data");
    BAD("1.", 2, "invalid number");
    BAD("-", 1, "invalid number");
    BAD("1e999", 0, "out of range");
    BAD("\"\\ud800\"", 1, "surrogate");
    BAD("\"a\x01\"", 2, "control character");
    BAD("\"\xff\"", 1, "invalid UTF-8");
    BAD("\"\xed\xa0\x80\"", 1, "invalid UTF-8");
    BAD("\"abc", 4, "unterminated");
    BAD("\"\\q\"", 1, "invalid escape");
    BAD("tru", 0, "invalid literal");
    BAD("[1] x", 4, "unexpected data");

    deep = malloc(5000);
    for (i = 0; i < 2500; i++) {
        deep[i] = '[';
        deep[4999 - i] = ']';
    }
    CHECK_INT(apigw_json_parse(deep, 5000, &d), -1);
    CHECK_INT(d.err_offset, APIGW_JSON_MAX_DEPTH);
    apigw_jdoc_free(&d);
    free(deep);
}


/*
 * text[0..len) parses as one string of want[0..wlen), or, with want NULL,
 * fails at byte offset off with msg.
 */
static int
str_case(const char *text, size_t len, const char *want, size_t wlen,
    size_t off, const char *msg)
{
    int           rc, ok;
    apigw_jdoc_t  d;

    rc = apigw_json_parse(text, len, &d);

    if (want != NULL) {
        ok = rc == 0 && d.nodes[0].type == APIGW_J_STRING
             && d.nodes[0].len == wlen
             && memcmp(d.nodes[0].s, want, wlen) == 0;
    } else {
        ok = rc == -1 && d.err_offset == off && strcmp(d.err, msg) == 0;
    }

    if (!ok) {
        fprintf(stderr, "  string case of %zu bytes: rc %d, %s at %zu\n",
                len, rc, rc ? d.err : "parsed", rc ? d.err_offset : 0);
    }

    apigw_jdoc_free(&d);

    return ok;
}


/*
 * Strings scanned many bytes at a time: each kind of byte that ends a
 * plain run at every position of a string of every length up to 70, so
 * at every offset in a 16- and 8-byte word and in the byte-wise tail.
 */
TEST(test_parser_strings)
{
    char         text[128], want[128];
    size_t       len, pos, i, n, w;
    const char  *ins;

    static const struct {
        const char  *in;          /* inserted at pos */
        const char  *out;         /* the value's bytes there; NULL: error */
        const char  *msg;
    } kinds[] = {
        { "\\n", "\n", NULL },
        { "\\\"", "\"", NULL },
        { "\\u20ac", "\xe2\x82\xac", NULL },
        { "\x7f", "\x7f", NULL },
        { "\xc3\xa9", "\xc3\xa9", NULL },
        { "\xe2\x82\xac", "\xe2\x82\xac", NULL },
        { "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80", NULL },
        { "\x01", NULL, "control character in a string" },
        { "\x1f", NULL, "control character in a string" },
        { "\xff", NULL, "invalid UTF-8" },
        { "\x80", NULL, "invalid UTF-8" },
        { "\xc3(", NULL, "invalid UTF-8" },
        { "\xed\xa0\x80", NULL, "invalid UTF-8" },
        { "\\x", NULL, "invalid escape" },
    };

    for (len = 0; len <= 70; len++) {
        /* plain: the closing quote at every position */
        text[0] = '"';
        memset(text + 1, 'a', len);
        text[len + 1] = '"';
        CHECK(str_case(text, len + 2, text + 1, len, 0, NULL));

        /* unterminated, and cut inside a UTF-8 sequence */
        CHECK(str_case(text, len + 1, NULL, 0, len + 1,
                       "unterminated string"));
        memcpy(text + 1 + len, "\xe2\x82", 2);
        CHECK(str_case(text, len + 3, NULL, 0, len + 1, "invalid UTF-8"));

        for (pos = 0; pos < len; pos++) {
            for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                ins = kinds[i].in;
                n = strlen(ins);

                text[0] = '"';
                memset(text + 1, 'a', pos);
                memcpy(text + 1 + pos, ins, n);
                memset(text + 1 + pos + n, 'b', len - pos);
                text[1 + len + n] = '"';

                if (kinds[i].out == NULL) {
                    CHECK(str_case(text, len + n + 2, NULL, 0, 1 + pos,
                                   kinds[i].msg));
                    continue;
                }

                w = strlen(kinds[i].out);
                memset(want, 'a', pos);
                memcpy(want + pos, kinds[i].out, w);
                memset(want + pos + w, 'b', len - pos);
                CHECK(str_case(text, len + n + 2, want, len + w, 0, NULL));
            }
        }
    }
}


/* numbers: what the parser reads is what strtod() reads */
TEST(test_parser_numbers)
{
    int            i, j, k, nd, dot, bad;
    char           text[64];
    double         want;
    uint64_t       r;
    apigw_jdoc_t   d;

    static const char  *fixed[] = {
        "0.1", "97.5", "-0.0", "0.0", "0e999", "-0E-999", "1e22", "1e23",
        "1e-22", "1e-23", "123456789012345.6", "12345678901234.5",
        "0.000000000000000000001", "1.7976931348623157e308", "5e-324",
        "2.2250738585072014e-308", "123.456e-2", "-999999999999999e7",
        "0.30000000000000004", "9007199254740993.0", "1E+2", "1.5e0",
        "0.00000000000000000000000000000000000000000000000001e50",
        "100000000000000000000000000000000.0e-10", "4.35", "-17.25e-3"
    };

#define NFIXED  (int) (sizeof(fixed) / sizeof(fixed[0]))

    bad = 0;
    r = 88172645463325252ULL;

    for (i = 0; i < NFIXED + 50000; i++) {
        if (i < NFIXED) {
            snprintf(text, sizeof(text), "%s", fixed[i]);

        } else {
            /* -?d{1,18}, a point inside or none, an exponent or none */
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;

            k = (r & 1) ? snprintf(text, sizeof(text), "-") : 0;
            nd = 1 + (int) ((r >> 1) % 18);
            dot = nd > 1 && (r >> 6) % 3 ? 1 + (int) ((r >> 8) % (nd - 1))
                                         : 0;

            for (j = 0; j < nd; j++) {
                if (dot && j == dot) {
                    text[k++] = '.';
                }
                text[k++] = (char) ('0' + (r >> (12 + 2 * j)) % 10);
            }
            text[k] = '\0';

            if (((r >> 60) & 1) || strchr(text, '.') == NULL) {
                snprintf(text + k, sizeof(text) - (size_t) k, "e%d",
                         (int) ((r >> 50) % 61) - 30);
            }
        }

        if (apigw_json_parse(text, strlen(text), &d) != 0
            || d.nodes[0].type != APIGW_J_REAL)
        {
            apigw_jdoc_free(&d);
            continue;              /* "01.5": not JSON */
        }

        want = strtod(text, NULL);

        if (memcmp(&d.nodes[0].d, &want, sizeof(want)) != 0 && bad++ < 10) {
            fprintf(stderr, "  %s: %.17g, not %.17g\n", text, d.nodes[0].d,
                    want);
        }

        apigw_jdoc_free(&d);
    }

#undef NFIXED

    CHECK_INT(bad, 0);
}


/* the nodes in the caller's buffer, then on the heap: the same */
TEST(test_parser_buffer)
{
    int            i;
    char           text[8192];
    size_t         n, k;
    apigw_jdoc_t   a, b;
    apigw_jnode_t  buf[8];

    n = 0;
    text[n++] = '[';
    for (i = 0; i < 300; i++) {
        n += (size_t) snprintf(text + n, sizeof(text) - n,
                               "%s{\"k%d\":[%d,\"v\\n\"]}", i ? "," : "", i,
                               i);
    }
    text[n++] = ']';

    for (k = 1; k <= 8; k++) {
        CHECK_INT(apigw_json_parse(text, n, &a), 0);
        CHECK_INT(apigw_json_parse_buf(text, n, &b, buf, k), 0);
        CHECK_INT(a.n, 1 + 300 * 5);
        CHECK_INT(b.n, a.n);
        CHECK(b.nodes != buf);
        CHECK_INT(b.nodes[a.n - 1].len, 2);
        CHECK(memcmp(b.nodes[a.n - 1].s, "v\n", 2) == 0);

        for (i = 0; i < (int) a.n; i++) {
            if (a.nodes[i].type != b.nodes[i].type
                || a.nodes[i].size != b.nodes[i].size
                || a.nodes[i].count != b.nodes[i].count
                || a.nodes[i].i != b.nodes[i].i)
            {
                CHECK(0 && "nodes differ");
                break;
            }
        }

        apigw_jdoc_free(&a);
        apigw_jdoc_free(&b);
    }

    /* all of it in the buffer: nothing allocated */
    CHECK_INT(apigw_json_parse_buf("[1,[]]", 6, &b, buf, 8), 0);
    CHECK(b.nodes == buf);
    CHECK_INT(b.n, 3);
    CHECK_INT(b.nodes[0].size, 3);
    CHECK_INT(b.nodes[0].count, 2);
    CHECK_INT(b.nodes[2].i, 0);
    apigw_jdoc_free(&b);

    CHECK_INT(apigw_json_parse_buf("[1,", 3, &b, buf, 8), -1);
    CHECK_INT(b.err_offset, 3);
    apigw_jdoc_free(&b);
}


/* ---- the JSON Schema Test Suite (draft 4) ---- */

static const char  *SUITE_FILES[] = {
    "type", "properties", "required", "additionalProperties", "items",
    "enum", "minimum", "maximum", "minLength", "maxLength", "pattern",
    "allOf", "anyOf", "oneOf", "not", "ref", "minItems", "maxItems",
    "minProperties", "maxProperties", "multipleOf", "patternProperties",
    "default", NULL
};

/*
 * Not supported, deliberately: tuple `items` (an array of schemas) and
 * remote references (other documents, `id` scopes, the meta-schema).
 * Files not run at all: additionalItems, dependencies, uniqueItems
 * (not OpenAPI request checks apigw makes), refRemote, definitions (both
 * fetch remote documents), optional/ (formats of draft 4).
 */
static const char  *SUITE_SKIP[] = {
    "items/an array of schemas for items",
    "ref/relative pointer ref to array",
    "ref/remote ref, containing refs itself",
    NULL
};


static int
suite_skipped(const char *file, const char *group)
{
    char  key[512];
    int   i;

    snprintf(key, sizeof(key), "%s/%s", file, group);

    for (i = 0; SUITE_SKIP[i]; i++) {
        if (strcmp(SUITE_SKIP[i], key) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
run_suite(const char *dir)
{
    int                  i, ok, failed, passed, skipped;
    char                 path[1024];
    size_t               g, t;
    json_t              *doc, *grp, *test;
    json_error_t         err;
    apigw_schema_t      *s;
    apigw_vresult_t      res;
    apigw_schema_set_t  *set;

    failed = passed = skipped = 0;

    for (i = 0; SUITE_FILES[i]; i++) {
        snprintf(path, sizeof(path), "%s/%s.json", dir, SUITE_FILES[i]);

        doc = json_load_file(path, JSON_DECODE_ANY, &err);
        if (doc == NULL) {
            fprintf(stderr, "%s: %s\n", path, err.text);
            return 1;
        }

        json_array_foreach(doc, g, grp) {
            const char  *desc = json_string_value(json_object_get(grp,
                                                  "description"));
            json_t      *tests = json_object_get(grp, "tests");

            if (suite_skipped(SUITE_FILES[i], desc)) {
                skipped += (int) json_array_size(tests);
                continue;
            }

            apigw_problems_free(&P);
            apigw_problems_init(&P);

            s = apigw_schema_compile(json_object_get(grp, "schema"), 1, &set,
                                     &P);
            if (s == NULL) {
                fprintf(stderr, "FAIL %s / %s: does not compile\n",
                        SUITE_FILES[i], desc);
                failed += (int) json_array_size(tests);
                continue;
            }

            json_array_foreach(tests, t, test) {
                apigw_vresult_init(&res);
                ok = apigw_schema_check(s, json_object_get(test, "data"),
                                        &res) == 0;

                if (ok == json_is_true(json_object_get(test, "valid"))) {
                    passed++;
                    continue;
                }

                failed++;
                fprintf(stderr, "FAIL %s / %s / %s: expected %s\n",
                        SUITE_FILES[i], desc,
                        json_string_value(json_object_get(test,
                                                          "description")),
                        ok ? "invalid" : "valid");
            }

            apigw_schema_set_free(set);
        }

        json_decref(doc);
    }

    printf("JSON Schema Test Suite (draft 4): %d passed, %d failed, "
           "%d skipped\n", passed, failed, skipped);

    return failed ? 1 : 0;
}


int
main(int argc, char **argv)
{
    apigw_problems_init(&P);

    if (argc == 3 && strcmp(argv[1], "--suite") == 0) {
        return run_suite(argv[2]);
    }

    RUN(test_params);
    RUN(test_params_objects);
    RUN(test_params_path_styles);
    RUN(test_params_untyped);
    RUN(test_body);
    RUN(test_patterns_beyond_pcre2);
    RUN(test_patterns_annex_b);
    RUN(test_ref_chain);
    RUN(test_limits);
    RUN(test_compile_errors);
    RUN(test_compile_errors_all);
    RUN(test_swagger2);
    RUN(test_required_nul);
    RUN(test_pointers);
    RUN(test_formats);
    RUN(test_prop_lookup);
    RUN(test_prop_order);
    RUN(test_required_order);
    RUN(test_media);
    RUN(test_parser);
    RUN(test_parser_strings);
    RUN(test_parser_numbers);
    RUN(test_parser_buffer);

    apigw_problems_free(&P);

    return UNIT_DONE();
}
