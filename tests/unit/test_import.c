/*
 * The OpenAPI importer: Swagger 2.0 / OpenAPI 3.0 / 3.1, JSON and YAML,
 * backends, CORS, $refs, and every problem with its pointer.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apigw.h"
#include "unit.h"


#define OW  "https://ow.example.com"


static apigw_problems_t  P;


static apigw_api_t *
imp_opts(const char *doc, const char *file, const char *ow, size_t max)
{
    apigw_import_opts_t  o;

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    memset(&o, 0, sizeof(o));
    o.file = file;
    o.openwhisk_url = ow;
    o.max_size = max;

    return apigw_import_buffer(doc, strlen(doc), &o, &P);
}


static apigw_api_t *
imp(const char *doc)
{
    return imp_opts(doc, NULL, OW, 0);
}


/* How many problems have exactly this pointer and contain `msg`. */
static size_t
count(int warning, const char *ptr, const char *msg)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < P.n; i++) {
        n += P.items[i].warning == warning
             && strcmp(P.items[i].pointer, ptr) == 0
             && strstr(P.items[i].message, msg) != NULL;
    }

    return n;
}


/* A problem with exactly this pointer whose message contains `msg`. */
static int
has(int warning, const char *ptr, const char *msg)
{
    size_t  i;

    if (count(warning, ptr, msg)) {
        return 1;
    }

    fprintf(stderr, "  no %s at \"%s\" containing \"%s\"; have:\n",
            warning ? "warning" : "error", ptr, msg);

    for (i = 0; i < P.n; i++) {
        fprintf(stderr, "    %s%s: %s\n", P.items[i].warning ? "w " : "e ",
                P.items[i].pointer, P.items[i].message);
    }

    return 0;
}


static const char *
hdr(const apigw_operation_t *op, const char *name)
{
    size_t  i;

    for (i = 0; i < op->backend.nheaders; i++) {
        if (strcmp(op->backend.headers[i].name, name) == 0) {
            return op->backend.headers[i].value;
        }
    }

    return NULL;
}


/* ---- whole documents ---- */

/* OpenAPI 3 servers on a path item or an operation: below the base path,
   routed there; elsewhere, said */
TEST(test_servers_override)
{
    apigw_api_t  *api;

    apigw_problems_free(&P);
    apigw_problems_init(&P);

    api = imp("{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"s\","
              "\"version\":\"1\"},\"servers\":[{\"url\":"
              "\"https://h/v1\"}],\"x-apigw-backend\":{\"url\":"
              "\"http://b/\"},\"paths\":{\"/r\":{\"servers\":[{\"url\":"
              "\"https://r/v1/rep\"}],\"get\":{\"responses\":{}},"
              "\"post\":{\"servers\":[{\"url\":\"/v1\"}],"
              "\"responses\":{}}},\"/u\":{\"put\":{\"servers\":[{"
              "\"url\":\"https://u/files\"}],\"responses\":{}}}}}");
    CHECK(api != NULL);

    if (api && api->nops == 3) {
        CHECK_STR(api->base_path, "/v1");
        CHECK_STR(api->ops[0].path, "/rep/r");
        CHECK_STR(api->ops[1].path, "/r");
        CHECK_STR(api->ops[2].path, "/u");
    }

    CHECK(has(1, "/paths/~1u/put", "is not below the API's base path"));
    apigw_api_free(api);
}


/* warnings are capped on their own: errors after many still show */
TEST(test_problem_caps)
{
    int               i;
    apigw_problems_t  p;

    apigw_problems_init(&p);

    for (i = 0; i < 12000; i++) {
        apigw_problem_add(&p, 1, "f", "/w", "warning %d", i);
    }

    apigw_problem_add(&p, 0, "f", "/e", "the error");

    CHECK_INT(p.nerrors, 1);
    CHECK_INT(p.nwarnings, 1000);
    CHECK_INT(p.dropped, 11000);
    CHECK_INT(p.n, 1001);
    CHECK(p.n == 1001 && !p.items[1000].warning
          && strcmp(p.items[1000].message, "the error") == 0);

    apigw_problems_free(&p);
}


TEST(test_wsk_swagger)
{
    apigw_api_t              *api;
    const apigw_operation_t  *op;
    apigw_import_opts_t       o = { NULL, NULL, 0, 0 };

    apigw_problems_free(&P);
    api = apigw_import_file("specs/wsk-club.json", &o, &P);

    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    if (api == NULL) {
        return;
    }

    CHECK_STR(api->file, "specs/wsk-club.json");
    CHECK_STR(api->title, "Book Club");
    CHECK_STR(api->version, "1.0.0");
    CHECK_INT(api->spec_version, APIGW_SPEC_SWAGGER2);
    CHECK_STR(api->base_path, "/club");
    CHECK_INT(api->cors.mode, APIGW_CORS_ENABLED);
    CHECK(api->cors.origins == NULL);
    CHECK_INT(api->cors.max_age, -1);
    CHECK_INT(api->nops, 2);

    op = &api->ops[0];
    CHECK_INT(op->method, APIGW_M_GET);
    CHECK_STR(op->path, "/books/{isbn}");
    CHECK_STR(op->operation_id, "getBooksIsbn");
    CHECK_STR(op->pointer, "/paths/~1books~1{isbn}/get");
    CHECK(op->api == api);
    CHECK_STR(op->backend.url, "https://openwhisk.example.com/api/v1/web/"
              "guest/default/getBooks.http$(request.path)");
    CHECK_STR(op->backend.scheme, "https");
    CHECK_STR(op->backend.host, "openwhisk.example.com");
    CHECK_INT(op->backend.port, 443);
    CHECK_STR(op->backend.authority, "openwhisk.example.com");
    CHECK_STR(op->backend.path, "/api/v1/web/guest/default/getBooks.http");
    CHECK_INT(op->backend.append_path, 1);
    CHECK(op->backend.method == NULL);
    CHECK_INT(op->backend.nheaders, 1);
    CHECK_STR(hdr(op, "X-Require-Whisk-Auth"), "s3cr3t");
    CHECK_STR(op->backend.source, "x-gateway-configuration");

    op = &api->ops[1];
    CHECK_INT(op->method, APIGW_M_POST);
    CHECK_STR(op->path, "/books");
    CHECK_STR(op->pointer, "/paths/~1books/post");
    CHECK_STR(op->backend.url, "https://openwhisk.example.com/api/v1/web/"
              "guest/default/addBook.json");
    CHECK_STR(op->backend.path, "/api/v1/web/guest/default/addBook.json");
    CHECK_INT(op->backend.append_path, 0);
    CHECK_STR(op->backend.method, "POST");
    CHECK_INT(op->backend.nheaders, 0);

    apigw_api_free(api);
}


/* The document `wsk api create` stores, built as the CLI builds it. */
TEST(test_wsk_ibm_configuration)
{
    apigw_api_t  *api;

    api = imp(
        "{\"swagger\":\"2.0\",\"basePath\":\"/hello\","
        "\"info\":{\"title\":\"/hello\",\"version\":\"1.0.0\"},"
        "\"paths\":{\"/world\":{\"get\":{\"operationId\":\"getWorld\","
        "\"responses\":{\"default\":{\"description\":\"Default response\"}},"
        "\"x-openwhisk\":{\"namespace\":\"guest\",\"package\":\"\","
        "\"action\":\"hello\",\"url\":\"https://h/api/v1/web/guest/default/"
        "hello.json\"}}}},"
        "\"x-ibm-configuration\":{\"assembly\":{\"execute\":[{"
        "\"operation-switch\":{\"case\":[{\"operations\":[\"getWorld\"],"
        "\"execute\":[{\"invoke\":{\"target-url\":\"https://h/api/v1/web/"
        "guest/default/hello.json\",\"verb\":\"keep\"}},"
        "{\"set-variable\":{\"actions\":[{\"set\":"
        "\"message.headers.X-Require-Whisk-Auth\",\"value\":12345}]}}]}]}}]},"
        "\"cors\":{\"enabled\":false}}}");

    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    if (api == NULL) {
        return;
    }

    CHECK_INT(api->cors.mode, APIGW_CORS_DISABLED);
    CHECK_STR(api->ops[0].backend.source, "x-ibm-configuration");
    CHECK_STR(api->ops[0].backend.url,
              "https://h/api/v1/web/guest/default/hello.json");
    CHECK_STR(api->ops[0].backend.host, "h");
    CHECK_INT(api->ops[0].backend.append_path, 0);
    CHECK_STR(hdr(&api->ops[0], "X-Require-Whisk-Auth"), "12345");

    apigw_api_free(api);
}


TEST(test_oas30_yaml)
{
    apigw_api_t              *api;
    const apigw_operation_t  *op;
    apigw_import_opts_t       o = { "petstore.yaml", OW "/", 0, 0 };

    apigw_problems_free(&P);
    api = apigw_import_file("specs/petstore-30.yaml", &o, &P);

    CHECK(api != NULL);
    CHECK_INT(P.nerrors, 0);
    CHECK_INT(P.n, 0);
    if (api == NULL) {
        return;
    }

    CHECK_STR(api->file, "petstore.yaml");
    CHECK_STR(api->title, "Pet Store");
    CHECK_STR(api->version, "2.1");
    CHECK_INT(api->spec_version, APIGW_SPEC_OAS30);
    CHECK_STR(api->base_path, "/v2");
    CHECK_INT(api->cors.mode, APIGW_CORS_UNSET);
    CHECK_INT(api->nops, 4);

    /* root x-apigw-backend, path-level $ref parameter */
    op = &api->ops[0];
    CHECK_INT(op->method, APIGW_M_GET);
    CHECK_STR(op->path, "/pets/{petId}");
    CHECK_STR(op->operation_id, "showPetById");
    CHECK_STR(op->backend.source, "x-apigw-backend");
    CHECK_STR(op->backend.url, "http://pets.internal:8080/pets/{petId}");
    CHECK_STR(op->backend.scheme, "http");
    CHECK_STR(op->backend.host, "pets.internal");
    CHECK_INT(op->backend.port, 8080);
    CHECK_STR(op->backend.authority, "pets.internal:8080");
    CHECK_STR(op->backend.path, "/pets/{petId}");
    CHECK(op->backend.method == NULL);
    CHECK_INT(op->backend.append_path, 0);

    /* operation x-apigw-backend over the root one; IPv6 */
    op = &api->ops[1];
    CHECK_INT(op->method, APIGW_M_DELETE);
    CHECK_STR(op->pointer, "/paths/~1pets~1{petId}/delete");
    CHECK_STR(op->backend.host, "2001:db8::1");
    CHECK_STR(op->backend.authority, "[2001:db8::1]:9443");
    CHECK_INT(op->backend.port, 9443);
    CHECK_STR(op->backend.scheme, "https");
    CHECK_STR(op->backend.path, "/v1/pets/{petId}?hard=1");
    CHECK_STR(op->backend.method, "POST");

    /* x-openwhisk over the root x-apigw-backend */
    op = &api->ops[2];
    CHECK_STR(op->path, "/pets");
    CHECK_STR(op->backend.source, "x-openwhisk");
    CHECK_STR(op->backend.url, OW "/api/v1/web/pet%20shop/default/list.http");
    CHECK_STR(op->backend.path, "/api/v1/web/pet%20shop/default/list.http");
    CHECK_STR(op->backend.host, "ow.example.com");
    CHECK_INT(op->backend.append_path, 1);
    CHECK(op->backend.method == NULL);

    op = &api->ops[3];
    CHECK_INT(op->method, APIGW_M_POST);
    CHECK_STR(op->backend.url, OW "/api/v1/web/petshop/api/create.json");
    CHECK_INT(op->backend.append_path, 0);

    apigw_api_free(api);
}


TEST(test_oas31_json)
{
    apigw_api_t              *api;
    const apigw_operation_t  *op;
    apigw_import_opts_t       o = { NULL, NULL, 0, 0 };

    apigw_problems_free(&P);
    api = apigw_import_file("specs/oas31.json", &o, &P);

    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    if (api == NULL) {
        return;
    }

    CHECK_INT(api->spec_version, APIGW_SPEC_OAS31);
    CHECK_STR(api->base_path, "/api");
    CHECK_INT(api->nops, 2);

    CHECK_INT(api->cors.mode, APIGW_CORS_ENABLED);
    CHECK_INT(api->cors.norigins, 2);
    if (api->cors.norigins == 2) {
        CHECK_STR(api->cors.origins[0], "https://app.example.com");
        CHECK_STR(api->cors.origins[1], "https://admin.example.com:8443");
    }
    CHECK_STR(api->cors.methods, "GET, POST");
    CHECK_STR(api->cors.headers, "X-Api-Key, Content-Type");
    CHECK_STR(api->cors.expose, "X-Request-ID");
    CHECK_INT(api->cors.credentials, 1);
    CHECK_INT(api->cors.max_age, 600);

    op = &api->ops[0];
    CHECK_STR(op->path, "/files/{name}.json");
    CHECK_STR(op->backend.path, "/store/{name}.json");
    CHECK_STR(op->backend.authority, "files:9000");

    op = &api->ops[1];
    CHECK_INT(op->method, APIGW_M_HEAD);
    CHECK_STR(op->path, "/v{n}/status");
    CHECK(op->operation_id == NULL);
    CHECK_STR(op->backend.path, "");
    CHECK_STR(op->backend.authority, "status");
    CHECK_INT(op->backend.port, 80);

    apigw_api_free(api);
}


/* ---- base paths ---- */

static void
check_base(const char *doc, const char *expect)
{
    apigw_api_t  *api;

    api = imp(doc);
    CHECK(api != NULL);

    if (api == NULL) {
        has(0, "?", "?");
        return;
    }

    CHECK_STR(api->base_path, expect);
    apigw_api_free(api);
}


#define SW(x)  "{\"swagger\":\"2.0\",\"info\":{\"title\":\"t\"," \
               "\"version\":\"1\"},\"paths\":{}" x "}"
#define O3(x)  "{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\"," \
               "\"version\":\"1\"},\"paths\":{}" x "}"

TEST(test_base_path)
{
    check_base(SW(""), "");
    check_base(SW(",\"basePath\":\"/\""), "");
    check_base(SW(",\"basePath\":\"club/\""), "/club");
    check_base(SW(",\"basePath\":\"/a//b/./\""), "/a/b");
    check_base(O3(""), "");
    check_base(O3(",\"servers\":[]"), "");
    check_base(O3(",\"servers\":[{\"url\":\"/\"}]"), "");
    check_base(O3(",\"servers\":[{\"url\":\"v1/\"}]"), "/v1");
    check_base(O3(",\"servers\":[{\"url\":\"https://h.example.com\"}]"), "");
    check_base(O3(",\"servers\":[{\"url\":\"//h.example.com/x/y\"}]"),
               "/x/y");
    check_base(O3(",\"servers\":[{\"url\":\"{s}\",\"variables\":{\"s\":"
                  "{\"default\":\"http://h:1/a/b/\"}}}]"), "/a/b");
    check_base(O3(",\"servers\":[{\"$ref\":\"#/x-s\"}],\"x-s\":"
                  "{\"url\":\"/ref\"}"), "/ref");
}


TEST(test_base_path_errors)
{
    CHECK(imp(SW(",\"basePath\":\"/a b\"")) == NULL);
    CHECK(has(0, "/basePath", "whitespace"));

    CHECK(imp(SW(",\"basePath\":\"/a/{x}\"")) == NULL);
    CHECK(has(0, "/basePath", "must not contain parameters"));

    CHECK(imp(SW(",\"basePath\":\"/a?b\"")) == NULL);
    CHECK(has(0, "/basePath", "\"?\""));

    CHECK(imp(SW(",\"basePath\":\"/a/../b\"")) == NULL);
    CHECK(has(0, "/basePath", "\"..\""));

    CHECK(imp(SW(",\"basePath\":7")) == NULL);
    CHECK(has(0, "/basePath", "must be a string, not a number"));

    CHECK(imp(O3(",\"servers\":[{\"url\":\"https://{h}/v1\"}]")) == NULL);
    CHECK(has(0, "/servers/0/url", "undefined server variable \"h\""));

    CHECK(imp(O3(",\"servers\":[{\"url\":\"/{v}\",\"variables\":{\"v\":"
                 "{\"enum\":[\"a\"]}}}]")) == NULL);
    CHECK(has(0, "/servers/0/variables/v", "\"default\""));

    CHECK(imp(O3(",\"servers\":[{\"url\":\"/v1?x=1\"}]")) == NULL);
    CHECK(has(0, "/servers/0/url", "must not contain"));

    CHECK(imp(O3(",\"servers\":[{\"url\":\"/{v}\",\"variables\":{\"v\":"
                 "{\"default\":\"{x}\"}}}]")) == NULL);
    CHECK(has(0, "/servers/0/url", "must not contain parameters"));

    CHECK(imp(O3(",\"servers\":{}")) == NULL);
    CHECK(has(0, "/servers", "must be an array, not an object"));

    CHECK(imp(O3(",\"servers\":[5]")) == NULL);
    CHECK(has(0, "/servers/0", "must be an object, not a number"));

    CHECK(imp(O3(",\"servers\":[{}]")) == NULL);
    CHECK(has(0, "/servers/0", "missing required field \"url\""));
}


/* ---- versions, info ---- */

TEST(test_versions)
{
    apigw_api_t  *api;

    CHECK(imp("{\"info\":{}}") == NULL);
    CHECK(has(0, "", "not an OpenAPI document"));

    CHECK(imp("{\"swagger\":\"1.2\",\"paths\":{}}") == NULL);
    CHECK(has(0, "/swagger", "unsupported version \"1.2\""));

    CHECK(imp("{\"openapi\":\"4.0.0\",\"paths\":{}}") == NULL);
    CHECK(has(0, "/openapi", "unsupported version"));

    CHECK(imp("{\"openapi\":[],\"paths\":{}}") == NULL);
    CHECK(has(0, "/openapi", "must be a string, not an array"));

    CHECK(imp("[1,2]") == NULL);
    CHECK(has(0, "", "must be an object, not an array"));

    api = imp("{\"openapi\":\"3.0.3\",\"paths\":{}}");
    CHECK(api != NULL);
    CHECK(has(1, "", "missing \"info\""));
    if (api) {
        CHECK_STR(api->title, "");
        CHECK_STR(api->version, "");
        CHECK_INT(api->spec_version, APIGW_SPEC_OAS30);
        CHECK_INT(api->nops, 0);
    }
    apigw_api_free(api);

    /* 3.1 may have no paths (webhooks only); 3.0 and 2.0 must */
    api = imp("{\"openapi\":\"3.1.0\",\"info\":{\"title\":\"w\","
              "\"version\":\"1\"}}");
    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    apigw_api_free(api);

    CHECK(imp("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"w\","
              "\"version\":\"1\"}}") == NULL);
    CHECK(has(0, "", "missing required field \"paths\""));

    CHECK(imp("{\"swagger\":\"2.0\",\"info\":\"x\",\"paths\":[]}") == NULL);
    CHECK(has(0, "/info", "must be an object, not a string"));
    CHECK(has(0, "/paths", "must be an object, not an array"));

    /* unquoted YAML numbers where strings belong: warnings */
    api = imp("swagger: 2.0\ninfo: {title: t, version: 1.0}\npaths: {}\n");
    CHECK(api != NULL);
    CHECK(has(1, "/swagger", "should be the string \"2.0\""));
    CHECK(has(1, "/info/version", "should be a string"));
    if (api) {
        CHECK_INT(api->spec_version, APIGW_SPEC_SWAGGER2);
        CHECK_STR(api->version, "1.0");
    }
    apigw_api_free(api);

    api = imp("openapi: 3.1.1\ninfo: {title: 'x', version: \"1\"}\n");
    CHECK(api != NULL);
    if (api) {
        CHECK_INT(api->spec_version, APIGW_SPEC_OAS31);
        CHECK_STR(api->title, "x");
    }
    apigw_api_free(api);
}


/* ---- operations, templates, parameters ---- */

TEST(test_operations_order)
{
    apigw_api_t  *api;

    api = imp("openapi: 3.0.0\ninfo: {title: t, version: '1'}\n"
              "x-apigw-backend: {url: 'http://b'}\n"
              "paths:\n"
              "  /z/:\n"
              "    trace: {}\n"
              "    x-foo: {get: 1}\n"
              "    summary: s\n"
              "    post: {}\n"
              "    get: {}\n"
              "  x-ext: {}\n"
              "  /a~b:\n"
              "    patch: {}\n"
              "    GET: {}\n"
              "  /:\n"
              "    options: {}\n"
              "    head: {}\n"
              "    put: {}\n"
              "    delete: {}\n");
    CHECK(api != NULL);
    CHECK_INT(P.nerrors, 0);
    CHECK(has(1, "/paths/~1a~0b/GET", "lower case"));
    /* imported, but nginx answers TRACE itself */
    CHECK(has(1, "/paths/~1z~1/trace", "can never be called"));
    if (api == NULL) {
        return;
    }

    CHECK_INT(api->nops, 8);
    CHECK_INT(api->ops[0].method, APIGW_M_TRACE);
    CHECK_STR(api->ops[0].path, "/z/");     /* as written */
    CHECK_STR(api->ops[0].pointer, "/paths/~1z~1/trace");
    CHECK_INT(api->ops[1].method, APIGW_M_POST);
    CHECK_INT(api->ops[2].method, APIGW_M_GET);
    CHECK_INT(api->ops[3].method, APIGW_M_PATCH);
    CHECK_STR(api->ops[3].path, "/a~b");
    CHECK_STR(api->ops[3].pointer, "/paths/~1a~0b/patch");
    CHECK_INT(api->ops[4].method, APIGW_M_OPTIONS);
    CHECK_STR(api->ops[4].path, "/");
    CHECK_STR(api->ops[4].pointer, "/paths/~1/options");
    CHECK_INT(api->ops[5].method, APIGW_M_HEAD);
    CHECK_INT(api->ops[6].method, APIGW_M_PUT);
    CHECK_INT(api->ops[7].method, APIGW_M_DELETE);

    apigw_api_free(api);
}


TEST(test_templates)
{
    apigw_api_t  *api;

    api = imp("swagger: '2.0'\ninfo: {title: t, version: '1'}\n"
              "x-apigw-backend: {url: 'http://b'}\n"
              "paths:\n"
              "  /f/{id}.json:\n"
              "    get: {parameters: [{name: id, in: path}]}\n"
              "  /v{n}/x/{a_b.c-d}:\n"
              "    get: {parameters: [{name: n, in: path},"
              " {name: a_b.c-d, in: path}]}\n");
    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    if (api) {
        CHECK_STR(api->ops[0].path, "/f/{id}.json");
        CHECK_STR(api->ops[1].path, "/v{n}/x/{a_b.c-d}");
    }
    apigw_api_free(api);

    CHECK(imp("swagger: '2.0'\ninfo: {title: t, version: '1'}\n"
              "paths:\n"
              "  /a/{b:\n    get: {}\n"
              "  /a}:\n    get: {}\n"
              "  /c/{}:\n    get: {}\n"
              "  /d/{a*}:\n    get: {}\n"
              "  /e/{a{b}}:\n    get: {}\n"
              "  nope:\n    get: {}\n"
              "  /sp ace:\n    get: {}\n"
              "  /q?x=1:\n    get: {}\n"
              "  /h#frag:\n    get: {}\n"
              "  /n:\n    get: 7\n"
              "  /m: []\n") == NULL);
    CHECK(has(0, "/paths/~1a~1{b", "unbalanced \"{\""));
    CHECK(has(0, "/paths/~1a}", "unbalanced \"}\""));
    CHECK(has(0, "/paths/~1c~1{}", "empty parameter name"));
    CHECK(has(0, "/paths/~1d~1{a*}", "parameter names may hold only"));
    CHECK(has(0, "/paths/~1e~1{a{b}}", "unbalanced"));
    CHECK(has(0, "/paths/nope", "must start with \"/\""));
    CHECK(has(0, "/paths/~1sp ace", "whitespace"));
    CHECK(has(1, "/paths/~1q?x=1", "can never match"));
    CHECK(has(1, "/paths/~1h#frag", "can never match"));
    CHECK(has(0, "/paths/~1n/get", "must be an object, not a number"));
    CHECK(has(0, "/paths/~1m", "must be an object, not an array"));
    CHECK_INT(P.nerrors, 9);
}


TEST(test_parameters)
{
    apigw_api_t  *api;

    api = imp(
        "openapi: 3.0.0\ninfo: {title: t, version: '1'}\n"
        "x-apigw-backend: {url: 'http://b'}\n"
        "components:\n"
        "  parameters:\n"
        "    a~1b c: {name: id, in: path, required: true}\n"
        "    Q: {name: q, in: query}\n"
        "paths:\n"
        "  /a/{id}:\n"
        "    parameters:\n"
        "      - $ref: '#/components/parameters/a~01b%20c'\n"
        "      - {name: ghost, in: path}\n"
        "    get:\n"
        "      parameters: [{$ref: '#/components/parameters/Q'}]\n"
        "    put:\n"
        "      parameters: [{name: id, in: path, schema: {type: integer}}]\n"
        "  /b/{x}/{y}:\n"
        "    get:\n"
        "      parameters:\n"
        "        - {name: y, in: path}\n"
        "        - {name: x, in: query}\n"
        "        - {name: z, in: path}\n");
    CHECK(api != NULL);
    CHECK_INT(P.nerrors, 0);
    CHECK(has(1, "/paths/~1a~1{id}/parameters/1",
              "path parameter \"ghost\" is not in the path template"));
    CHECK(has(1, "/paths/~1b~1{x}~1{y}/get",
              "path parameter \"x\" is not declared (in: path)"));
    CHECK(has(1, "/paths/~1b~1{x}~1{y}/get/parameters/2",
              "path parameter \"z\" is not in the path template"));
    CHECK_INT(P.n, 3);
    CHECK(api && api->nops == 3);
    apigw_api_free(api);

    CHECK(imp("swagger: '2.0'\ninfo: {title: t, version: '1'}\n"
              "paths:\n"
              "  /a:\n"
              "    parameters: {name: x}\n"
              "    get:\n"
              "      parameters: [5, {in: query}, {name: 1, in: path},"
              " {name: n, in: cookie}, {$ref: '#/nowhere'},"
              " {$ref: 7}, {$ref: '#/paths/~1a/get/parameters/6'},"
              " {$ref: '#/a~2b'}, {$ref: '#/a%zz'}]\n") == NULL);
    CHECK(has(0, "/paths/~1a/parameters", "must be an array, not an object"));
    CHECK(has(0, "/paths/~1a/get/parameters/0",
              "must be an object, not a number"));
    CHECK(has(0, "/paths/~1a/get/parameters/1",
              "missing required field \"name\""));
    CHECK(has(0, "/paths/~1a/get/parameters/2/name",
              "must be a string, not a number"));
    CHECK(has(0, "/paths/~1a/get/parameters/3/in",
              "unknown parameter location \"cookie\""));
    CHECK(has(0, "/paths/~1a/get/parameters/4/$ref",
              "\"#/nowhere\" does not resolve"));
    CHECK(has(0, "/paths/~1a/get/parameters/5/$ref",
              "must be a string, not a number"));
    CHECK(has(0, "/paths/~1a/get/parameters/6/$ref", "cyclic reference"));
    CHECK(has(0, "/paths/~1a/get/parameters/7/$ref",
              "not a valid JSON pointer"));
    CHECK(has(0, "/paths/~1a/get/parameters/8/$ref",
              "bad percent-encoding"));
    CHECK_INT(P.nerrors, 10);
}


TEST(test_refs)
{
    apigw_api_t  *api;

    /* a path item by $ref: the operation's pointer is where it lives */
    api = imp("openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"
              "x-apigw-backend: {url: 'http://b'}\n"
              "paths:\n"
              "  /a: {$ref: '#/x-items/0'}\n"
              "  /b: {$ref: '#/paths/~1a'}\n"
              "  /c: {$ref: 'other.yaml#/paths/~1c'}\n"
              "x-items:\n"
              "  - get: {operationId: g, parameters: "
              "[{$ref: 'https://x/p.json'}]}\n");
    CHECK(api != NULL);
    CHECK_INT(P.nerrors, 0);
    CHECK(has(1, "/paths/~1c/$ref", "external reference"));
    CHECK(has(1, "/x-items/0/get/parameters/0/$ref", "external reference"));
    if (api) {
        CHECK_INT(api->nops, 2);
        CHECK_STR(api->ops[0].path, "/a");
        CHECK_STR(api->ops[0].pointer, "/x-items/0/get");
        CHECK_STR(api->ops[1].path, "/b");
        CHECK_STR(api->ops[1].pointer, "/x-items/0/get");
    }
    apigw_api_free(api);

    /*
     * said once, though the parameters are read twice (the operation,
     * then its request validation)
     */
    api = imp("swagger: '2.0'\ninfo: {title: t, version: '1'}\n"
              "x-apigw-backend: {url: 'http://b'}\n"
              "paths:\n"
              "  /a:\n"
              "    parameters: [{$ref: 'p.yaml#/q'}]\n"
              "    get: {parameters: [{$ref: 'p.yaml#/r'}]}\n");
    CHECK(api != NULL);
    CHECK_INT(P.nerrors, 0);
    CHECK_INT(count(1, "/paths/~1a/parameters/0/$ref", "external"), 1);
    CHECK_INT(count(1, "/paths/~1a/get/parameters/0/$ref", "external"), 1);
    CHECK_INT(P.n, 2);
    apigw_api_free(api);

    /* cycles: a -> b -> a, and a self-reference */
    CHECK(imp("openapi: 3.0.0\ninfo: {title: t, version: '1'}\n"
              "paths:\n"
              "  /a: {$ref: '#/paths/~1b'}\n"
              "  /b: {$ref: '#/paths/~1a'}\n"
              "  /c: {$ref: '#/paths/~1c'}\n"
              "  /d: {$ref: '#'}\n") == NULL);
    CHECK(has(0, "/paths/~1b/$ref", "cyclic reference \"#/paths/~1a\""));
    CHECK(has(0, "/paths/~1a/$ref", "cyclic reference \"#/paths/~1b\""));
    CHECK(has(0, "/paths/~1c/$ref", "cyclic reference"));
    CHECK_INT(P.nerrors, 3);

    /* a long chain is cut, not followed forever */
    CHECK(imp("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"paths\":{\"/a\":{\"$ref\":\"#/r/0\"}},"
              "\"r\":[{\"$ref\":\"#/r/1\"},{\"$ref\":\"#/r/2\"},"
              "{\"$ref\":\"#/r/3\"},{\"$ref\":\"#/r/4\"},{\"$ref\":\"#/r/5\"},"
              "{\"$ref\":\"#/r/6\"},{\"$ref\":\"#/r/7\"},{\"$ref\":\"#/r/8\"},"
              "{\"$ref\":\"#/r/9\"},{\"$ref\":\"#/r/10\"},"
              "{\"$ref\":\"#/r/11\"},{\"$ref\":\"#/r/12\"},"
              "{\"$ref\":\"#/r/13\"},{\"$ref\":\"#/r/14\"},"
              "{\"$ref\":\"#/r/15\"},{\"$ref\":\"#/r/16\"},"
              "{\"$ref\":\"#/r/17\"},{\"$ref\":\"#/r/18\"},"
              "{\"$ref\":\"#/r/19\"},{\"$ref\":\"#/r/20\"},"
              "{\"$ref\":\"#/r/21\"},{\"$ref\":\"#/r/22\"},"
              "{\"$ref\":\"#/r/23\"},{\"$ref\":\"#/r/24\"},"
              "{\"$ref\":\"#/r/25\"},{\"$ref\":\"#/r/26\"},"
              "{\"$ref\":\"#/r/27\"},{\"$ref\":\"#/r/28\"},"
              "{\"$ref\":\"#/r/29\"},{\"$ref\":\"#/r/30\"},"
              "{\"$ref\":\"#/r/31\"},{\"$ref\":\"#/r/32\"},"
              "{\"$ref\":\"#/r/33\"},{}]}") == NULL);
    CHECK(has(0, "/r/31/$ref", "$ref chain longer than 32"));

    /* the root as a path item; an array index with a leading zero */
    CHECK(imp("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"paths\":{\"/a\":{\"$ref\":\"#/x/01\"}},"
              "\"x\":[{},{}]}") == NULL);
    CHECK(has(0, "/paths/~1a/$ref", "does not resolve"));
}


/* ---- backends ---- */

#define PREC_DOC(conf)                                                       \
    "{\"swagger\":\"2.0\",\"info\":{\"title\":\"t\",\"version\":\"1\"},"    \
    "\"x-apigw-backend\":{\"url\":\"http://root/r\"},"                      \
    "\"paths\":{\"/a\":{"                                                   \
    "\"get\":{\"operationId\":\"a1\","                                      \
    " \"x-openwhisk\":{\"namespace\":\"n\",\"action\":\"a\"},"              \
    " \"x-apigw-backend\":{\"url\":\"http://op/a1\"}},"                     \
    "\"put\":{\"operationId\":\"a2\","                                      \
    " \"x-openwhisk\":{\"namespace\":\"n\",\"action\":\"a\"},"              \
    " \"x-apigw-backend\":{\"url\":\"http://op/a2\"}},"                     \
    "\"post\":{\"operationId\":\"a3\","                                     \
    " \"x-apigw-backend\":{\"url\":\"http://op/a3\"}},"                     \
    "\"delete\":{\"operationId\":\"a4\"}}}" conf "}"

TEST(test_precedence)
{
    apigw_api_t  *api;

    /* a case covers a1 only: the others fall through */
    api = imp(PREC_DOC(",\"x-gateway-configuration\":{\"assembly\":"
        "{\"execute\":[{\"operation-switch\":{\"case\":[{\"operations\":"
        "[\"a1\"],\"execute\":[{\"invoke\":{\"target-url\":\"http://gw/a1\","
        "\"verb\":\"keep\"}}]}]}}]}}"));
    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    if (api) {
        CHECK_STR(api->ops[0].backend.url, "http://gw/a1");
        CHECK_STR(api->ops[0].backend.source, "x-gateway-configuration");
        CHECK_STR(api->ops[1].backend.url,
                  OW "/api/v1/web/n/default/a.json");
        CHECK_STR(api->ops[1].backend.source, "x-openwhisk");
        CHECK_STR(api->ops[2].backend.url, "http://op/a3");
        CHECK_STR(api->ops[2].backend.source, "x-apigw-backend");
        CHECK_STR(api->ops[3].backend.url, "http://root/r");
        CHECK_STR(api->ops[3].backend.path, "/r");
    }
    apigw_api_free(api);

    /* a top-level invoke covers every operation */
    api = imp(PREC_DOC(",\"x-ibm-configuration\":{\"assembly\":"
        "{\"execute\":[{\"invoke\":{\"target-url\":\"http://all/x\"}}]}}"));
    CHECK(api != NULL);
    if (api) {
        CHECK_STR(api->ops[0].backend.url, "http://all/x");
        CHECK_STR(api->ops[3].backend.url, "http://all/x");
        CHECK_STR(api->ops[3].backend.source, "x-ibm-configuration");
        CHECK(api->ops[3].backend.method == NULL);
    }
    apigw_api_free(api);

    /* x-gateway-configuration wins over x-ibm-configuration */
    api = imp(PREC_DOC(",\"x-ibm-configuration\":{\"assembly\":"
        "{\"execute\":[{\"invoke\":{\"target-url\":\"http://ibm\"}}]}},"
        "\"x-gateway-configuration\":{\"assembly\":"
        "{\"execute\":[{\"invoke\":{\"target-url\":\"http://gw\"}}]}}"));
    CHECK(api != NULL);
    if (api) {
        CHECK_STR(api->ops[2].backend.url, "http://gw");
        CHECK_STR(api->ops[2].backend.source, "x-gateway-configuration");
    }
    apigw_api_free(api);

    /* without any: no backend, a warning */
    api = imp(SW(""));
    apigw_api_free(api);
    api = imp("{\"swagger\":\"2.0\",\"info\":{\"title\":\"t\",\"version\":"
              "\"1\"},\"paths\":{\"/a\":{\"get\":{}}}}");
    CHECK(api != NULL);
    CHECK(has(1, "/paths/~1a/get", "no backend; requests get 501"));
    if (api) {
        CHECK(api->ops[0].backend.url == NULL);
        CHECK(api->ops[0].backend.source == NULL);
    }
    apigw_api_free(api);
}


#define GW(exec)                                                             \
    "{\"swagger\":\"2.0\",\"info\":{\"title\":\"t\",\"version\":\"1\"},"    \
    "\"paths\":{\"/a/{id}\":{\"parameters\":[{\"name\":\"id\","             \
    "\"in\":\"path\"}],\"get\":{\"operationId\":\"g\"},"                    \
    "\"post\":{\"operationId\":\"p\"}}},"                                   \
    "\"x-gateway-configuration\":{\"assembly\":{\"execute\":" exec "}}}"

TEST(test_gateway_verbs_headers)
{
    apigw_api_t  *api;

    api = imp(GW("["
        "{\"set-variable\":{\"actions\":["
        "  {\"set\":\"message.headers.X-Top\",\"value\":\"top\"},"
        "  {\"set\":\"message.headers.X-Over\",\"value\":\"top\"},"
        "  {\"set\":\"request.path\",\"value\":\"x\"},"
        "  {\"set\":\"message.headers.Host\",\"value\":\"h\"},"
        "  {\"set\":\"message.headers.x-forwarded-FOR\",\"value\":\"1\"}]}},"
        "{\"operation-switch\":{\"case\":["
        "  {\"operations\":[\"g\"],\"execute\":["
        "    {\"invoke\":{\"target-url\":\"http://b/get/{id}${request.path}\","
        "     \"verb\":\"KEEP\"}},"
        "    {\"set-variable\":{\"actions\":["
        "     {\"set\":\"message.headers.x-over\",\"value\":\"case\"},"
        "     {\"set\":\"message.headers.X-Bool\",\"value\":true}]}}]},"
        "  {\"operations\":[{\"verb\":\"POST\",\"path\":\"/a/{id}\"}],"
        "   \"execute\":["
        "    {\"invoke\":{\"target-url\":\"http://b/post\",\"verb\":\"put\"}},"
        "    {\"invoke\":{\"target-url\":\"http://b/second\"}},"
        "    {\"gatewayscript\":{}}]},"
        "  {\"operations\":[\"g\"],\"execute\":["
        "    {\"invoke\":{\"target-url\":\"http://b/never\"}}]}]}}]"));
    CHECK(api != NULL);
    CHECK_INT(P.nerrors, 0);
    CHECK(has(1, "/x-gateway-configuration/assembly/execute/0/set-variable/"
              "actions/2/set", "\"request.path\" is ignored"));
    CHECK(has(1, "/x-gateway-configuration/assembly/execute/0/set-variable/"
              "actions/3/set", "\"Host\" is set by the gateway itself"));
    CHECK(has(1, "/x-gateway-configuration/assembly/execute/0/set-variable/"
              "actions/4/set", "\"x-forwarded-FOR\" is set by the gateway"));
    CHECK(has(1, "/x-gateway-configuration/assembly/execute/1/"
              "operation-switch/case/1/execute/1/invoke",
              "only the first invoke is used"));
    CHECK(has(1, "/x-gateway-configuration/assembly/execute/1/"
              "operation-switch/case/1/execute/2/gatewayscript",
              "not supported"));
    CHECK_INT(P.n, 5);

    if (api) {
        CHECK_STR(api->ops[0].backend.url, "http://b/get/{id}${request.path}");
        CHECK_STR(api->ops[0].backend.path, "/get/{id}");
        CHECK_INT(api->ops[0].backend.append_path, 1);
        CHECK(api->ops[0].backend.method == NULL);
        CHECK_INT(api->ops[0].backend.nheaders, 3);
        CHECK_STR(hdr(&api->ops[0], "X-Top"), "top");
        CHECK_STR(hdr(&api->ops[0], "x-over"), "case");
        CHECK(hdr(&api->ops[0], "X-Over") == NULL);
        CHECK_STR(hdr(&api->ops[0], "X-Bool"), "true");

        CHECK_STR(api->ops[1].backend.url, "http://b/post");
        CHECK_STR(api->ops[1].backend.method, "PUT");
        CHECK_INT(api->ops[1].backend.append_path, 0);
        CHECK_INT(api->ops[1].backend.nheaders, 2);
        CHECK_STR(hdr(&api->ops[1], "X-Over"), "top");
    }
    apigw_api_free(api);
}


TEST(test_gateway_errors)
{
    CHECK(imp(GW("["
        "{\"operation-switch\":{\"case\":["
        "  {\"operations\":[\"nope\", 5, {\"verb\":\"get\",\"path\":\"/b\"}],"
        "   \"execute\":[{\"invoke\":{\"target-url\":\"http://b\","
        "    \"verb\":\"fetch\"}}]},"
        "  {\"operations\":[\"g\"],\"execute\":[{\"invoke\":"
        "   {\"target-url\":\"http://b/$(nope)/x\"}}]},"
        "  {\"operations\":[\"p\"],\"execute\":[{\"invoke\":"
        "   {\"target-url\":\"http://b/{zz}\"}}, {\"set-variable\":"
        "   {\"actions\":[{\"set\":\"message.headers.Bad Name\",\"value\":"
        "\"v\"},{\"set\":\"message.headers.X\",\"value\":\"a\\r\\nb\"},"
        "{\"set\":\"message.headers.Y\"},{\"set\":\"message.headers.Z\","
        "\"value\":[]},{\"value\":\"v\"}]}}]},"
        "  {\"execute\":[]},"
        "  7],"
        " \"otherwise\":[]}},"
        "{\"invoke\":{\"verb\":\"get\"}},"
        "{\"invoke\":7},"
        "5]")) == NULL);

#define SWP  "/x-gateway-configuration/assembly/execute/0/operation-switch"
    CHECK(has(0, SWP "/case/0/operations/0", "unknown operationId \"nope\""));
    CHECK(has(0, SWP "/case/0/operations/1", "must be an operationId"));
    CHECK(has(0, SWP "/case/0/operations/2", "no operation get /b"));
    CHECK(has(0, SWP "/case/0/execute/0/invoke/verb",
              "unknown verb \"fetch\""));
    CHECK(has(0, SWP "/case/1/execute/0/invoke/target-url",
              "unsupported variable \"$(nope)\""));
    CHECK(has(0, SWP "/case/2/execute/0/invoke/target-url",
              "\"{zz}\" is not a path parameter of POST /a/{id}"));
    CHECK(has(0, SWP "/case/2/execute/1/set-variable/actions/0/set",
              "\"Bad Name\" is not a valid header name"));
    CHECK(has(0, SWP "/case/2/execute/1/set-variable/actions/1/value",
              "line breaks"));
    CHECK(has(0, SWP "/case/2/execute/1/set-variable/actions/2",
              "missing required field \"value\""));
    CHECK(has(0, SWP "/case/2/execute/1/set-variable/actions/3/value",
              "must be a string, not an array"));
    CHECK(has(0, SWP "/case/2/execute/1/set-variable/actions/4",
              "missing required field \"set\""));
    CHECK(has(0, SWP "/case/3", "missing required field \"operations\""));
    CHECK(has(0, SWP "/case/4", "must be an object, not a number"));
    CHECK(has(1, SWP "/otherwise", "not supported"));
    CHECK(has(0, "/x-gateway-configuration/assembly/execute/1/invoke",
              "missing required field \"target-url\""));
    CHECK(has(1, "/x-gateway-configuration/assembly/execute/2/invoke",
              "only the first invoke"));
    CHECK(has(0, "/x-gateway-configuration/assembly/execute/3",
              "must be an object, not a number"));
    CHECK_INT(P.nerrors, 15);

    CHECK(imp(GW("{}")) == NULL);
    CHECK(has(0, "/x-gateway-configuration/assembly/execute",
              "must be an array, not an object"));

    CHECK(imp(SW(",\"x-ibm-configuration\":[]")) == NULL);
    CHECK(has(0, "/x-ibm-configuration", "must be an object, not an array"));

    CHECK(imp(SW(",\"x-ibm-configuration\":{\"assembly\":5,\"cors\":"
                 "{\"enabled\":\"yes\"}}")) == NULL);
    CHECK(has(0, "/x-ibm-configuration/assembly",
              "must be an object, not a number"));
    CHECK(has(0, "/x-ibm-configuration/cors/enabled",
              "must be a boolean, not a string"));

    CHECK(imp(SW(",\"x-ibm-configuration\":{\"cors\":true}")) == NULL);
    CHECK(has(0, "/x-ibm-configuration/cors",
              "must be an object, not a boolean"));
}


TEST(test_ibm_properties)
{
    apigw_api_t  *api;

    api = imp("swagger: '2.0'\ninfo: {title: t, version: '1'}\n"
              "paths: {/a: {get: {}}}\n"
              "x-ibm-configuration:\n"
              "  properties:\n"
              "    target-url: {value: 'https://svc.example.com:8443/base'}\n"
              "  assembly:\n"
              "    execute:\n"
              "      - invoke:\n"
              "          target-url: $(target-url)$(request.path)\n"
              "          verb: post\n");
    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    if (api) {
        CHECK_STR(api->ops[0].backend.url,
                  "https://svc.example.com:8443/base$(request.path)");
        CHECK_STR(api->ops[0].backend.path, "/base");
        CHECK_INT(api->ops[0].backend.port, 8443);
        CHECK_INT(api->ops[0].backend.append_path, 1);
        CHECK_STR(api->ops[0].backend.method, "POST");
    }
    apigw_api_free(api);
}


#define OWDOC(x)                                                             \
    "{\"swagger\":\"2.0\",\"info\":{\"title\":\"t\",\"version\":\"1\"},"    \
    "\"paths\":{\"/a\":{\"get\":{\"x-openwhisk\":" x "}}}}"

TEST(test_openwhisk)
{
    apigw_api_t  *api;

    api = imp_opts(OWDOC("{\"namespace\":\"a b@c.d_dev\",\"package\":"
                         "\"p@1\",\"action\":\"x y\",\"response-type\":"
                         "\"svg\"}"),
                   NULL, "http://ow:3233/base/", 0);
    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    if (api) {
        CHECK_STR(api->ops[0].backend.url, "http://ow:3233/base/api/v1/web/"
                  "a%20b@c.d_dev/p@1/x%20y.svg");
        CHECK_STR(api->ops[0].backend.authority, "ow:3233");
        CHECK_STR(api->ops[0].backend.path, "/base/api/v1/web/a%20b@c.d_dev/"
                  "p@1/x%20y.svg");
        CHECK_INT(api->ops[0].backend.append_path, 0);
        CHECK_STR(api->ops[0].backend.source, "x-openwhisk");
    }
    apigw_api_free(api);

    /* "&" is in OpenWhisk's names: r&d/q&a (a sub-delimiter: kept) */
    api = imp_opts(OWDOC("{\"namespace\":\"n\",\"package\":\"r&d\","
                         "\"action\":\"q&a\"}"), NULL, "http://ow", 0);
    CHECK(api != NULL);
    if (api) {
        CHECK_STR(api->ops[0].backend.path, "/api/v1/web/n/r&d/q&a.json");
    }
    apigw_api_free(api);

    /* names OpenWhisk has no entity for, each reported */
    CHECK(imp_opts(OWDOC("{\"namespace\":\"_\",\"action\":\"a\"}"), NULL,
                   "http://ow", 0) == NULL);
    CHECK(has(0, "/paths/~1a/get/x-openwhisk/namespace", "names no namespace"));
    CHECK(imp_opts(OWDOC("{\"namespace\":\"../n\",\"package\":\".\","
                         "\"action\":\"a/b\"}"), NULL, "http://ow", 0)
          == NULL);
    CHECK_INT(P.nerrors, 3);
    CHECK(has(0, "/paths/~1a/get/x-openwhisk/package", "not an OpenWhisk"));
    CHECK(imp_opts(OWDOC("{\"namespace\":\"n\",\"action\":\"ä\"}"), NULL,
                   "http://ow", 0) == NULL);
    CHECK(has(0, "/paths/~1a/get/x-openwhisk/action", "not an OpenWhisk"));

    /* the url wins; .http wants the request path */
    api = imp_opts(OWDOC("{\"namespace\":\"n\",\"action\":\"a\",\"url\":"
                         "\"https://x/api/v1/web/n/default/a.http\"}"),
                   NULL, NULL, 0);
    CHECK(api != NULL);
    if (api) {
        CHECK_STR(api->ops[0].backend.url,
                  "https://x/api/v1/web/n/default/a.http");
        CHECK_INT(api->ops[0].backend.append_path, 1);
    }
    apigw_api_free(api);

    /* the CLI's placeholder */
    api = imp_opts(OWDOC("{\"namespace\":\"n\",\"action\":\"a\","
                         "\"response-type\":\"http\"}"),
                   NULL, "$(apigw_openwhisk_url)", 0);
    CHECK(api != NULL);
    if (api) {
        CHECK_STR(api->ops[0].backend.url,
                  "$(apigw_openwhisk_url)/api/v1/web/n/default/a.http");
        CHECK_STR(api->ops[0].backend.path, "/api/v1/web/n/default/a.http");
        CHECK_INT(api->ops[0].backend.append_path, 1);
    }
    apigw_api_free(api);

    CHECK(imp_opts(OWDOC("{\"namespace\":\"n\",\"action\":\"a\"}"), "f.json",
                   NULL, 0) == NULL);
    CHECK(has(0, "/paths/~1a/get/x-openwhisk", "apigw_openwhisk_url"));
    CHECK(has(0, "/paths/~1a/get/x-openwhisk", "--openwhisk-url"));
    CHECK_STR(P.items[0].file, "f.json");

    CHECK(imp(OWDOC("{\"namespace\":\"n\",\"action\":\"a\","
                    "\"response-type\":\"xml\"}")) == NULL);
    CHECK(has(0, "/paths/~1a/get/x-openwhisk/response-type",
              "must be one of http, json, html, svg, text"));

    CHECK(imp(OWDOC("{\"package\":5}")) == NULL);
    CHECK(has(0, "/paths/~1a/get/x-openwhisk",
              "missing required field \"namespace\""));
    CHECK(has(0, "/paths/~1a/get/x-openwhisk",
              "missing required field \"action\""));
    CHECK(has(0, "/paths/~1a/get/x-openwhisk/package",
              "must be a string, not a number"));

    CHECK(imp(OWDOC("\"guest/hello\"")) == NULL);
    CHECK(has(0, "/paths/~1a/get/x-openwhisk",
              "must be an object, not a string"));

    CHECK(imp_opts(OWDOC("{\"namespace\":\"n\",\"action\":\"a\"}"), NULL,
                   "ftp://ow", 0) == NULL);
    CHECK(has(0, "", "bad OpenWhisk URL \"ftp://ow\""));
}


#define BE(x)                                                                \
    "{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\",\"version\":\"1\"},"  \
    "\"paths\":{\"/a/{id}\":{\"get\":{\"parameters\":[{\"name\":\"id\","    \
    "\"in\":\"path\"}],\"x-apigw-backend\":" x "}}}}"

static void
check_url(const char *url, const char *msg)
{
    char  doc[512];

    snprintf(doc, sizeof(doc), BE("{\"url\":\"%s\"}"), url);
    CHECK(imp(doc) == NULL);
    CHECK(has(0, "/paths/~1a~1{id}/get/x-apigw-backend/url", msg));
}


TEST(test_backend_urls)
{
    apigw_api_t  *api;

    api = imp(BE("{\"url\":\"HTTPS://Api.Example.com:8443?x={id}\","
                 "\"method\":\"delete\"}"));
    CHECK(api != NULL);
    if (api) {
        CHECK_STR(api->ops[0].backend.scheme, "https");
        CHECK_STR(api->ops[0].backend.host, "Api.Example.com");
        CHECK_STR(api->ops[0].backend.authority, "Api.Example.com:8443");
        CHECK_INT(api->ops[0].backend.port, 8443);
        CHECK_STR(api->ops[0].backend.path, "/?x={id}");
        CHECK_STR(api->ops[0].backend.method, "DELETE");
    }
    apigw_api_free(api);

    api = imp(BE("{\"url\":\"http://[::1]/\"}"));
    CHECK(api != NULL);
    if (api) {
        CHECK_STR(api->ops[0].backend.host, "::1");
        CHECK_STR(api->ops[0].backend.authority, "[::1]");
        CHECK_INT(api->ops[0].backend.port, 80);
        CHECK_STR(api->ops[0].backend.path, "/");
    }
    apigw_api_free(api);

    check_url("ftp://h/x", "the scheme must be http or https");
    check_url("/relative", "not an absolute URL");
    check_url("http://", "the URL has no host");
    check_url("http://u:p@h/", "user information");
    check_url("http://h:0/", "the port must be 1-65535");
    check_url("http://h:99999/", "the port must be 1-65535");
    check_url("http://h:8x/", "invalid port");
    check_url("http://h/#top", "fragments");
    check_url("http://h/a b", "whitespace");
    check_url("http://{id}.h/", "parameters are not allowed in the host");
    check_url("http://h/{nope}", "\"{nope}\" is not a path parameter");
    check_url("http://h/{a", "unbalanced");
    check_url("http://[zz]/", "invalid IPv6 address");
    check_url("http://h!/", "invalid character in the host name");

    CHECK(imp(BE("{\"url\":\"http://h\",\"method\":\"GRAB\"}")) == NULL);
    CHECK(has(0, "/paths/~1a~1{id}/get/x-apigw-backend/method",
              "unknown verb \"GRAB\""));

    CHECK(imp(BE("[]")) == NULL);
    CHECK(has(0, "/paths/~1a~1{id}/get/x-apigw-backend",
              "must be an object, not an array"));

    CHECK(imp(BE("{}")) == NULL);
    CHECK(has(0, "/paths/~1a~1{id}/get/x-apigw-backend",
              "missing required field \"url\""));

    /* the root backend: its placeholders are checked per operation */
    CHECK(imp("{\"swagger\":\"2.0\",\"info\":{\"title\":\"t\",\"version\":"
              "\"1\"},\"x-apigw-backend\":{\"url\":\"http://h/{id}\"},"
              "\"paths\":{\"/a/{id}\":{\"get\":{}},\"/b\":{\"get\":{}}}}")
          == NULL);
    CHECK(has(0, "/x-apigw-backend/url",
              "\"{id}\" is not a path parameter of GET /b"));
    CHECK_INT(P.nerrors, 1);
}


/* x-apigw-timeout (root, operation, {read, connect}), IBM invoke's */
TEST(test_timeouts)
{
    apigw_api_t  *api;

    api = imp("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"x-apigw-timeout\":2.5,"
              "\"x-apigw-backend\":{\"url\":\"http://h/\"},\"paths\":{"
              "\"/a\":{\"get\":{}},"
              "\"/b\":{\"get\":{\"x-apigw-timeout\":\"500ms\"}},"
              "\"/c\":{\"get\":{\"x-apigw-timeout\":{\"connect\":\"1m\"}}}}}");
    CHECK(api != NULL);
    if (api) {
        CHECK_INT(api->ops[0].backend.timeout_ms, 2500);
        CHECK_INT(api->ops[0].backend.connect_timeout_ms, 0);
        CHECK_INT(api->ops[1].backend.timeout_ms, 500);
        CHECK_INT(api->ops[2].backend.timeout_ms, 2500);
        CHECK_INT(api->ops[2].backend.connect_timeout_ms, 60000);
    }
    apigw_api_free(api);

    api = imp("{\"swagger\":\"2.0\",\"info\":{\"title\":\"t\",\"version\":"
              "\"1\"},\"paths\":{\"/a\":{\"get\":{}}},"
              "\"x-ibm-configuration\":{\"assembly\":{\"execute\":[{"
              "\"invoke\":{\"target-url\":\"http://h/x\",\"timeout\":60}}]}}}");
    CHECK(api != NULL);
    if (api) {
        CHECK_INT(api->ops[0].backend.timeout_ms, 60000);
    }
    apigw_api_free(api);

    CHECK(imp(BE("{\"url\":\"http://h/\"},\"x-apigw-timeout\":0")) == NULL);
    CHECK(has(0, "/paths/~1a~1{id}/get/x-apigw-timeout",
              "must be from 1ms to a day"));
    CHECK(imp(BE("{\"url\":\"http://h/\"},\"x-apigw-timeout\":\"5 s\""))
          == NULL);
    CHECK(has(0, "/paths/~1a~1{id}/get/x-apigw-timeout", "must be a time"));
    CHECK(imp(BE("{\"url\":\"http://h/\"},\"x-apigw-timeout\":"
                 "{\"read\":true}")) == NULL);
    CHECK(has(0, "/paths/~1a~1{id}/get/x-apigw-timeout/read",
              "must be a number of seconds"));

    /* request mappings: kept in order, the body flagged */
    api = imp(BE("{\"url\":\"http://h/{id}\"},\"x-apigw-request-mapping\":["
                 "{\"action\":\"transform\",\"from\":{\"location\":"
                 "\"query\",\"name\":\"*\"},\"to\":{\"location\":"
                 "\"body\",\"name\":\"*\"}},{\"action\":\"insert\","
                 "\"from\":{\"value\":5},\"to\":{\"location\":\"path\","
                 "\"name\":\"id\"}},{\"action\":\"remove\",\"from\":"
                 "{\"location\":\"header\",\"name\":\"X-A\"}}]"));
    CHECK(api != NULL);
    if (api) {
        CHECK_INT(api->ops[0].nmaps, 3);
        CHECK(api->ops[0].map_body);
        CHECK_INT(api->ops[0].maps[0].from, APIGW_MAP_QUERY);
        CHECK_INT(api->ops[0].maps[0].to, APIGW_MAP_BODY);
        CHECK_INT(api->ops[0].maps[1].from, APIGW_MAP_VALUE);
        CHECK_STR(api->ops[0].maps[1].value, "5");
        CHECK_INT(api->ops[0].maps[2].action, APIGW_MAP_REMOVE);
        CHECK_STR(api->ops[0].maps[2].from_name, "X-A");
    }
    apigw_api_free(api);

    CHECK(imp(BE("{\"url\":\"http://h/\"},\"x-apigw-request-mapping\":["
                 "{\"action\":\"insert\",\"from\":{\"value\":\"x\"},"
                 "\"to\":{\"location\":\"query\",\"name\":\"*\"}}]"))
          == NULL);
    CHECK(has(0, "/paths/~1a~1{id}/get/x-apigw-request-mapping/0",
              "transform from \"*\" to \"*\" only"));

    /* a HEAD backend for a GET: the client would get no body */
    CHECK(imp(BE("{\"url\":\"http://h/\",\"method\":\"HEAD\"}")) == NULL);
    CHECK(has(0, "/paths/~1a~1{id}/get/x-apigw-backend",
              "only a head operation"));
}


/* ---- CORS ---- */

TEST(test_cors)
{
    apigw_api_t  *api;

    /* an operation's own: over the API's, for that operation only */
    api = imp("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"x-apigw-cors\":true,"
              "\"x-apigw-backend\":{\"url\":\"http://h/\"},\"paths\":{"
              "\"/a\":{\"get\":{}},"
              "\"/b\":{\"get\":{\"x-apigw-cors\":false}},"
              "\"/c\":{\"get\":{\"x-apigw-cors\":{\"origins\":"
              "[\"https://x.example\"],\"max_age\":5}}}}}");
    CHECK(api != NULL);
    if (api) {
        CHECK(api->op_cors);
        CHECK(apigw_op_cors(api, &api->ops[0]) == &api->cors);
        CHECK_INT(apigw_op_cors(api, &api->ops[1])->mode,
                  APIGW_CORS_DISABLED);
        CHECK_INT(apigw_op_cors(api, &api->ops[2])->mode,
                  APIGW_CORS_ENABLED);
        CHECK_INT(api->ops[2].cors.norigins, 1);
        CHECK_INT(api->ops[2].cors.max_age, 5);
        CHECK_INT(api->ops[1].cors.max_age, -1);
        CHECK(apigw_op_cors(api, NULL) == &api->cors);
    }
    apigw_api_free(api);

    CHECK(imp(BE("{\"url\":\"http://h/\"},\"x-apigw-cors\":{\"origins\":"
                 "[\"nope\"]}")) == NULL);
    CHECK(has(0, "/paths/~1a~1{id}/get/x-apigw-cors/origins/0",
              "is not an origin"));

    api = imp(SW(",\"x-apigw-cors\":false,\"x-gateway-configuration\":"
                 "{\"cors\":{\"enabled\":true}}"));
    CHECK(api && api->cors.mode == APIGW_CORS_DISABLED);
    apigw_api_free(api);

    api = imp(SW(",\"x-apigw-cors\":true"));
    CHECK(api && api->cors.mode == APIGW_CORS_ENABLED);
    CHECK(api && api->cors.origins == NULL && api->cors.max_age == -1);
    apigw_api_free(api);

    api = imp(SW(",\"x-gateway-configuration\":{\"cors\":{}}"));
    CHECK(api && api->cors.mode == APIGW_CORS_UNSET);
    apigw_api_free(api);

    api = imp(SW(",\"x-ibm-configuration\":{\"cors\":{\"enabled\":true}},"
                 "\"x-apigw-cors\":{\"origins\":\"*\",\"methods\":"
                 "\"get,  put ,\",\"headers\":[\"X-A\",\"X-B\"],"
                 "\"max_age\":0}"));
    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    if (api) {
        CHECK_INT(api->cors.mode, APIGW_CORS_ENABLED);
        CHECK(api->cors.origins == NULL);
        CHECK_STR(api->cors.methods, "GET, PUT");
        CHECK_STR(api->cors.headers, "X-A, X-B");
        CHECK(api->cors.expose == NULL);
        CHECK_INT(api->cors.credentials, 0);
        CHECK_INT(api->cors.max_age, 0);
    }
    apigw_api_free(api);

    api = imp(SW(",\"x-apigw-cors\":{\"origins\":\"https://one.example\","
                 "\"credentials\":false,\"origin\":\"typo\"}"));
    /* a misspelt member is an error: "origin" would mean any origin */
    CHECK(api == NULL);
    CHECK(has(0, "/x-apigw-cors/origin", "unknown field \"origin\""));
    apigw_api_free(api);

    /* "*" among origins: any origin */
    api = imp(SW(",\"x-apigw-cors\":{\"origins\":[\"https://a.b\",\"*\"]}"));
    CHECK(api && api->cors.origins == NULL && api->cors.norigins == 0);
    apigw_api_free(api);

    CHECK(imp(SW(",\"x-apigw-cors\":{\"origins\":[\"https://a.b/\",5],"
                 "\"methods\":[\"GET\",\"FETCH\"],\"headers\":\"X A\","
                 "\"expose_headers\":{},\"credentials\":\"yes\","
                 "\"max_age\":-5}")) == NULL);
    CHECK(has(0, "/x-apigw-cors/origins/0", "is not an origin"));
    CHECK(has(0, "/x-apigw-cors/origins/1", "must be a string"));
    CHECK(has(0, "/x-apigw-cors/methods/1", "unknown method \"FETCH\""));
    CHECK(has(0, "/x-apigw-cors/headers", "\"X A\" is not a valid header"));
    CHECK(has(0, "/x-apigw-cors/expose_headers",
              "must be an array or a string, not an object"));
    CHECK(has(0, "/x-apigw-cors/credentials", "must be a boolean"));
    CHECK(has(0, "/x-apigw-cors/max_age", "whole number"));
    CHECK_INT(P.nerrors, 7);

    CHECK(imp(SW(",\"x-apigw-cors\":\"yes\"")) == NULL);
    CHECK(has(0, "/x-apigw-cors", "must be an object or a boolean"));

    CHECK(imp(SW(",\"x-apigw-cors\":{\"origins\":[]}")) == NULL);
    CHECK(has(0, "/x-apigw-cors/origins", "must not be empty"));

    /* apigw's operation extensions on a path item: refused, not ignored */
    CHECK(imp("{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"paths\":{\"/a\":{\"x-apigw-rate-limit\":"
              "{\"rate\":1,\"per\":\"hour\"},\"x-other\":1,\"get\":{"
              "\"x-apigw-backend\":{\"url\":\"http://h/\"},\"responses\":"
              "{\"200\":{\"description\":\"ok\"}}}}}}") == NULL);
    CHECK(has(0, "/paths/~1a/x-apigw-rate-limit", "not read on a path item"));
    CHECK_INT(P.nerrors, 1);

    /* credentials go to listed origins only: not to "*", not to any */
    CHECK(imp(SW(",\"x-apigw-cors\":{\"credentials\":true}")) == NULL);
    CHECK(has(0, "/x-apigw-cors/credentials", "needs a list of origins"));
    CHECK(imp(SW(",\"x-apigw-cors\":{\"origins\":\"*\","
                 "\"credentials\":true}")) == NULL);
    CHECK(has(0, "/x-apigw-cors/credentials", "needs a list of origins"));
    CHECK(imp(SW(",\"x-apigw-cors\":{\"origins\":[\"https://a.b\",\"*\"],"
                 "\"credentials\":true}")) == NULL);
    CHECK(has(0, "/x-apigw-cors/credentials", "needs a list of origins"));
    api = imp(SW(",\"x-apigw-cors\":{\"origins\":[\"https://a.b\"],"
                 "\"credentials\":true}"));
    CHECK(api && api->cors.credentials == 1 && api->cors.norigins == 1);
    apigw_api_free(api);
}


/* ---- parsing ---- */

TEST(test_json_errors)
{
    apigw_api_t  *api;

    CHECK(imp("{\"swagger\":\"2.0\",\n \"paths\":{},\n \"paths\":{}}")
          == NULL);
    CHECK(has(0, "", "JSON error at line 3"));
    CHECK(has(0, "", "duplicate object key"));
    CHECK_INT(P.n, 1);

    CHECK(imp("{\"swagger\":\"2.0\",\n  \"paths\": {,}}") == NULL);
    CHECK(has(0, "", "JSON error at line 2, column"));

    CHECK(imp("") == NULL);
    CHECK(has(0, "", "the document is empty"));

    CHECK(imp("   \n") == NULL);
    CHECK(has(0, "", "the document is empty"));

    /* a BOM, and a number too big for 64 bits in an example */
    api = imp("\xef\xbb\xbf{\"swagger\":\"2.0\",\"info\":{\"title\":\"t\","
              "\"version\":\"1\"},\"paths\":{},\"x-n\":"
              "123456789012345678901234567890}");
    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    apigw_api_free(api);
}


TEST(test_yaml)
{
    apigw_api_t  *api;

    /* anchors, aliases, merge keys, core-schema scalars */
    api = imp("swagger: \"2.0\"\n"
              "info: {title: &t 'My API', version: \"1\"}\n"
              "x-defaults: &be\n"
              "  url: http://backend:8080/x\n"
              "  method: put\n"
              "paths:\n"
              "  /a:\n"
              "    get:\n"
              "      operationId: *t\n"
              "      x-apigw-backend: *be\n"
              "    post:\n"
              "      x-apigw-backend:\n"
              "        <<: *be\n"
              "        method: keep\n"
              "  /b:\n"
              "    put:\n"
              "      x-apigw-backend: {<<: [*be], url: 'http://other'}\n"
              "x-scalars: [null, Null, true, FALSE, 0o17, 0x1F, -1.5e3, .inf,"
              " 12:30, '1', !!str 5]\n");
    CHECK(api != NULL);
    CHECK_INT(P.nerrors, 0);
    if (api) {
        CHECK_STR(api->title, "My API");
        CHECK_STR(api->ops[0].operation_id, "My API");
        CHECK_STR(api->ops[0].backend.url, "http://backend:8080/x");
        CHECK_STR(api->ops[0].backend.method, "PUT");
        CHECK_STR(api->ops[1].backend.url, "http://backend:8080/x");
        CHECK(api->ops[1].backend.method == NULL);
        CHECK_STR(api->ops[2].backend.url, "http://other");
        CHECK_STR(api->ops[2].backend.method, "PUT");
    }
    apigw_api_free(api);

    /* operationId: 123 is a number in YAML, "123" a string */
    CHECK(imp("swagger: '2.0'\ninfo: {title: t, version: '1'}\n"
              "paths: {/a: {get: {operationId: 123}}}\n") == NULL);
    CHECK(has(0, "/paths/~1a/get/operationId",
              "must be a string, not a number"));

    api = imp("swagger: '2.0'\ninfo: {title: t, version: '1'}\n"
              "paths: {/a: {get: {operationId: yes}}, /b: {get: "
              "{operationId: '123'}}}\n"
              "x-apigw-backend: {url: 'http://b'}\n");
    CHECK(api != NULL);
    if (api) {
        CHECK_STR(api->ops[0].operation_id, "yes");
        CHECK_STR(api->ops[1].operation_id, "123");
    }
    apigw_api_free(api);

    CHECK(imp("swagger: '2.0'\npaths:\n  a: [\n") == NULL);
    CHECK(has(0, "", "YAML error at line"));

    CHECK(imp("swagger: '2.0'\ninfo: {title: t}\ninfo: {title: u}\n")
          == NULL);
    CHECK(has(0, "", "YAML error at line 3, column 1: duplicate key "
              "\"info\""));

    /* "\0" in a double-quoted scalar, and a raw NUL in a plain one */
    CHECK(imp("swagger: '2.0'\nbasePath: \"/n\\0x\"\n") == NULL);
    CHECK(has(0, "", "a NUL character (\\0) in a string is not "
              "supported"));

    CHECK(imp("swagger: '2.0'\nx: *nope\n") == NULL);
    CHECK(has(0, "", "undefined or recursive alias \"nope\""));

    CHECK(imp("swagger: '2.0'\nx: &a [1, *a]\n") == NULL);
    CHECK(has(0, "", "undefined or recursive alias \"a\""));

    CHECK(imp("swagger: '2.0'\n? [a, b]\n: c\n") == NULL);
    CHECK(has(0, "", "a collection as a mapping key is not supported"));

    CHECK(imp("swagger: '2.0'\nx: {<<: 5}\n") == NULL);
    CHECK(has(0, "", "a merge key (<<) needs a mapping"));

    CHECK(imp("a: 1\n---\nb: 2\n") == NULL);
    CHECK(has(0, "", "only one YAML document"));

    CHECK(imp("just a string\n") == NULL);
    CHECK(has(0, "", "must be an object, not a string"));

    /* a .yaml file name means YAML even when it starts with "{" */
    api = imp_opts("{swagger: '2.0', info: {title: t, version: '1'}, "
                   "paths: {}}", "api.yaml", NULL, 0);
    CHECK(api != NULL);
    apigw_api_free(api);
}


TEST(test_billion_laughs)
{
    clock_t       t0;
    apigw_api_t  *api;

    t0 = clock();
    api = imp("swagger: '2.0'\n"
              "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
              "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
              "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
              "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
              "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
              "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
              "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
              "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
              "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n");
    CHECK(api == NULL);
    CHECK(has(0, "", "expands to too many nodes"));
    CHECK((clock() - t0) / CLOCKS_PER_SEC < 2);

    /* a few thousand expanded nodes are fine */
    api = imp("swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n"
              "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
              "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
              "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n");
    CHECK(api != NULL);
    apigw_api_free(api);
}


TEST(test_deep_nesting)
{
    char    *doc;
    size_t   i, n;

    n = 100000;
    doc = malloc(n + 64);
    if (doc == NULL) {
        CHECK(0);
        return;
    }

    memcpy(doc, "{\"swagger\":\"2.0\",\"x\":", 21);
    for (i = 0; i < n; i++) {
        doc[21 + i] = '[';
    }
    doc[21 + n] = '\0';

    CHECK(imp(doc) == NULL);
    CHECK(has(0, "", "maximum parsing depth"));

    memcpy(doc, "swagger: '2.0'\nx:    ", 21);
    CHECK(imp(doc) == NULL);
    CHECK(has(0, "", "nesting deeper than 256 levels"));

    for (i = 0; i < n; i++) {
        doc[21 + i] = i % 2 ? ' ' : '-';
    }
    doc[21 + n] = '\0';
    CHECK(imp(doc) == NULL);
    CHECK_INT(P.nerrors, 1);

    free(doc);
}


TEST(test_big_document)
{
    char         *doc, *p;
    size_t        i, n, cap;
    apigw_api_t  *api;

    /* about 10 MB of operations */
    n = 70000;
    cap = 16 * 1024 * 1024;
    doc = malloc(cap);
    if (doc == NULL) {
        CHECK(0);
        return;
    }

    p = doc;
    p += sprintf(p, "{\"swagger\":\"2.0\",\"info\":{\"title\":\"big\","
                 "\"version\":\"1\"},\"basePath\":\"/big\","
                 "\"x-apigw-backend\":{\"url\":\"http://b/{id}\"},"
                 "\"paths\":{");

    for (i = 0; i < n; i++) {
        p += sprintf(p, "%s\"/items%zu/{id}\":{\"get\":{\"operationId\":"
                     "\"get%zu\",\"parameters\":[{\"name\":\"id\",\"in\":"
                     "\"path\",\"required\":true,\"type\":\"string\"}],"
                     "\"x-pad\":\"....................\"}}",
                     i ? "," : "", i, i);
    }

    p += sprintf(p, "}}");

    CHECK((size_t) (p - doc) > 10 * 1000 * 1000);

    api = imp(doc);
    CHECK(api != NULL);
    CHECK_INT(P.n, 0);
    if (api) {
        CHECK_INT(api->nops, n);
        CHECK_STR(api->ops[n - 1].path, "/items69999/{id}");
        CHECK_STR(api->ops[n - 1].operation_id, "get69999");
        CHECK_STR(api->ops[n - 1].backend.path, "/{id}");
    }
    apigw_api_free(api);

    /* over the limit: one problem, nothing parsed */
    api = imp_opts(doc, NULL, NULL, 1024 * 1024);
    CHECK(api == NULL);
    CHECK_INT(P.n, 1);
    CHECK(has(0, "", "the limit is 1048576"));

    free(doc);
}


TEST(test_all_problems_and_types)
{
    /* odd types everywhere: every one reported, none stops the rest */
    CHECK(imp_opts("{\"swagger\":\"2.0\",\"info\":{\"title\":[],"
                   "\"version\":{}},\"basePath\":false,"
                   "\"x-apigw-backend\":5,\"x-apigw-cors\":[],"
                   "\"paths\":{\"/a\":5,\"/b\":{\"get\":[],\"put\":"
                   "{\"operationId\":{},\"parameters\":5,\"x-openwhisk\":[],"
                   "\"x-apigw-backend\":{\"url\":5}}}}}", "t.json", OW, 0)
          == NULL);
    CHECK(has(0, "/info/title", "must be a string, not an array"));
    CHECK(has(0, "/info/version", "must be a string, not an object"));
    CHECK(has(0, "/basePath", "must be a string, not a boolean"));
    CHECK(has(0, "/x-apigw-backend", "must be an object, not a number"));
    CHECK(has(0, "/x-apigw-cors", "must be an object or a boolean"));
    CHECK(has(0, "/paths/~1a", "must be an object, not a number"));
    CHECK(has(0, "/paths/~1b/get", "must be an object, not an array"));
    CHECK(has(0, "/paths/~1b/put/operationId", "must be a string"));
    CHECK(has(0, "/paths/~1b/put/parameters", "must be an array"));
    CHECK(has(0, "/paths/~1b/put/x-openwhisk", "must be an object"));
    CHECK_INT(P.nerrors, 10);
    CHECK_STR(P.items[0].file, "t.json");
}


TEST(test_security)
{
    apigw_api_t  *api;

    api = imp("openapi: 3.0.0\ninfo: {title: t, version: '1'}\n"
              "x-apigw-backend: {url: 'http://b'}\n"
              "security: [{key: []}, {}]\n"
              "components:\n"
              "  securitySchemes:\n"
              "    key: {$ref: '#/x-schemes/key'}\n"
              "    jwt: {type: http, scheme: bearer}\n"
              "    ext: {$ref: 'schemes.yaml#/oauth'}\n"
              "x-schemes:\n"
              "  key: {type: apiKey, in: header, name: X-Api-Key}\n"
              "paths:\n"
              "  /a: {get: {security: [{jwt: [read]}, {nope: []}]}}\n");
    CHECK(api != NULL);
    CHECK_INT(P.nerrors, 0);
    CHECK(has(1, "/components/securitySchemes/ext/$ref",
              "external reference"));
    CHECK(has(1, "/paths/~1a/get/security/1/nope",
              "no security scheme \"nope\" is defined"));
    CHECK_INT(P.n, 2);
    apigw_api_free(api);

    CHECK(imp("swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n"
              "securityDefinitions:\n"
              "  a: {type: http}\n"
              "  b: {$ref: '#/nowhere'}\n"
              "  c: 5\n"
              "  d: {name: x}\n"
              "security: {a: []}\n") == NULL);
    CHECK(has(0, "/securityDefinitions/a/type",
              "unknown security scheme type \"http\""));
    CHECK(has(0, "/securityDefinitions/b/$ref", "does not resolve"));
    CHECK(has(0, "/securityDefinitions/c", "must be an object"));
    CHECK(has(0, "/securityDefinitions/d", "missing required field \"type\""));
    CHECK(has(0, "/security", "must be an array, not an object"));
    CHECK_INT(P.nerrors, 5);

    CHECK(imp("openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"
              "components: {securitySchemes: []}\n"
              "security: [5, {a: 5}]\n") == NULL);
    CHECK(has(0, "/components/securitySchemes", "must be an object"));
    CHECK(has(0, "/security/0", "must be an object"));
    CHECK(has(0, "/security/1/a", "must be an array of scopes"));

    /* a scope that is not a string is an error, never a scope less */
    CHECK(imp("openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"
              "components: {securitySchemes: {a: {type: http, "
              "scheme: bearer}}}\n"
              "security: [{a: [read, 7, {x: 1}]}]\n") == NULL);
    CHECK(has(0, "/security/0/a/1", "must be a scope name (a string)"));
    CHECK(has(0, "/security/0/a/2", "must be a scope name (a string)"));
    CHECK_INT(P.nerrors, 2);
}


TEST(test_duplicate_operation_ids)
{
    apigw_api_t  *api;

    api = imp("swagger: '2.0'\ninfo: {title: t, version: '1'}\n"
              "x-apigw-backend: {url: 'http://b'}\n"
              "paths:\n  /a: {get: {operationId: x}, put: {operationId: x}}\n"
              "x-gateway-configuration:\n"
              "  assembly:\n"
              "    execute:\n"
              "      - operation-switch:\n"
              "          case:\n"
              "            - operations: [x]\n"
              "              execute: [{invoke: {target-url: 'http://gw'}}]\n");
    CHECK(api != NULL);
    CHECK(has(1, "/paths/~1a/put/operationId",
              "duplicate operationId \"x\" (also at /paths/~1a/get)"));
    if (api) {
        CHECK_STR(api->ops[0].backend.url, "http://gw");
        CHECK_STR(api->ops[1].backend.url, "http://gw");
    }
    apigw_api_free(api);
}


TEST(test_files)
{
    apigw_api_t          *api;
    apigw_import_opts_t   o = { NULL, NULL, 0, 0 };

    apigw_problems_free(&P);
    api = apigw_import_file("specs/does-not-exist.json", &o, &P);
    CHECK(api == NULL);
    CHECK(has(0, "", "cannot open: No such file or directory"));
    CHECK_STR(P.items[0].file, "specs/does-not-exist.json");

    apigw_problems_free(&P);
    api = apigw_import_file("specs", &o, &P);
    CHECK(api == NULL);
    CHECK(has(0, "", "is a directory"));

    apigw_problems_free(&P);
    o.max_size = 100;
    api = apigw_import_file("specs/wsk-club.json", &o, &P);
    CHECK(api == NULL);
    CHECK(has(0, "", "the limit is 100"));
}


int
main(void)
{
    apigw_problems_init(&P);

    RUN(test_wsk_swagger);
    RUN(test_wsk_ibm_configuration);
    RUN(test_oas30_yaml);
    RUN(test_oas31_json);
    RUN(test_base_path);
    RUN(test_base_path_errors);
    RUN(test_versions);
    RUN(test_operations_order);
    RUN(test_templates);
    RUN(test_parameters);
    RUN(test_refs);
    RUN(test_precedence);
    RUN(test_gateway_verbs_headers);
    RUN(test_gateway_errors);
    RUN(test_ibm_properties);
    RUN(test_openwhisk);
    RUN(test_backend_urls);
    RUN(test_timeouts);
    RUN(test_cors);
    RUN(test_json_errors);
    RUN(test_yaml);
    RUN(test_billion_laughs);
    RUN(test_deep_nesting);
    RUN(test_problem_caps);
    RUN(test_servers_override);
    RUN(test_big_document);
    RUN(test_all_problems_and_types);
    RUN(test_security);
    RUN(test_duplicate_operation_ids);
    RUN(test_files);

    apigw_problems_free(&P);

    return UNIT_DONE();
}
