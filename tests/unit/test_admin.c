/*
 * Unit tests of the management API core (src/admin.c) and the store model
 * (src/store.c): requests against a store, the changes they write, applied
 * the way the module applies them.
 */

#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "admin.h"


static apigw_store_t  *st;
static char            last_body[65536];
static int             last_status;
static const char     *last_allow;      /* static in admin.c */
static const char     *last_type;
static size_t          last_nmuts;
static const char     *public_url = "http://gw.example:9001";


/* one request; its changes are committed to `st` (version + 1) */
static json_t *
req(const char *method, const char *target, const char *body)
{
    char                 path[1024];
    const char          *q;
    json_t              *j;
    apigw_admin_req_t    r;
    apigw_admin_resp_t   resp;

    memset(&r, 0, sizeof(r));
    q = strchr(target, '?');
    snprintf(path, sizeof(path), "%.*s",
             (int) (q ? (size_t) (q - target) : strlen(target)), target);

    r.method = method;
    r.method_len = strlen(method);
    r.path = path;
    r.path_len = strlen(path);
    r.query = q ? q + 1 : NULL;
    r.query_len = q ? strlen(q + 1) : 0;
    r.body = body;
    r.body_len = body ? strlen(body) : 0;
    r.public_url = public_url;
    r.request_id = "rid";

    apigw_admin_handle(st, &r, &resp);

    last_allow = resp.allow;
    last_type = resp.content_type;
    last_nmuts = resp.muts.n;

    if (resp.muts.n) {
        CHECK(apigw_store_apply(st, &resp.muts) == 0);
        apigw_store_set_version(st, apigw_store_version(st) + 1);
    }

    last_status = resp.status;
    snprintf(last_body, sizeof(last_body), "%s",
             resp.body ? resp.body : "");

    j = resp.body ? json_loads(resp.body, JSON_DECODE_ANY, NULL) : NULL;
    apigw_admin_resp_free(&resp);

    return j;
}


static const char *
jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}


#define DOC(base, path)                                                      \
    "{\"swagger\":\"2.0\",\"info\":{\"title\":\"T\",\"version\":\"1\"},"     \
    "\"basePath\":\"" base "\",\"paths\":{\"" path "\":{\"get\":{"           \
    "\"operationId\":\"op\",\"responses\":{\"default\":{\"description\":"    \
    "\"d\"}},\"x-openwhisk\":{\"namespace\":\"guest\",\"action\":\"a\","     \
    "\"url\":\"http://127.0.0.1:3233/api/v1/web/guest/default/a.http\"}}}}}"


/* a URL: UTF-8 percent-encoded, escapes kept as written */
TEST(test_managed_url_encoded)
{
    json_t  *j;

    j = req("POST", "/v2/t9/apis", DOC("/b\\u00fccher%20y", "/a"));
    CHECK_INT(last_status, 200);
    CHECK_STR(jstr(j, "managed_url"),
              "http://gw.example:9001/api/t9/b%C3%BCcher%20y");
    json_decref(j);
}


TEST(test_v2_create_get_delete)
{
    json_t      *j, *l;
    char         t[256];
    const char  *id;

    j = req("POST", "/v2/t1/apis", DOC("/club/", "/books/{isbn}"));
    CHECK_INT(last_status, 200);
    id = jstr(j, "artifact_id");
    CHECK(id && strlen(id) == 36);
    CHECK_STR(jstr(j, "managed_url"), "http://gw.example:9001/api/t1/club");
    CHECK_STR(jstr(json_object_get(j, "open_api_doc"), "basePath"),
              "/club/");
    CHECK(apigw_store_get(st, "tenant:t1") != NULL);

    snprintf(t, sizeof(t), "/v2/t1/apis/%s", id);
    l = req("GET", t, NULL);
    CHECK_INT(last_status, 200);
    CHECK_STR(jstr(l, "artifact_id"), id);
    json_decref(l);

    l = req("GET", "/v2/t1/apis?basePath=%2Fclub", NULL);
    CHECK_INT(json_array_size(l), 1);
    json_decref(l);
    l = req("GET", "/v2/t1/apis?basePath=/club/", NULL);
    CHECK_INT(json_array_size(l), 0);
    json_decref(l);

    /* other tenants cannot see or change it */
    snprintf(t, sizeof(t), "/v2/t2/apis/%s", id);
    json_decref(req("DELETE", t, NULL));
    CHECK_INT(last_status, 404);

    snprintf(t, sizeof(t), "/v2/t1/apis/%s", id);
    json_decref(req("DELETE", t, NULL));
    CHECK_INT(last_status, 204);
    CHECK(last_body[0] == '\0');
    json_decref(req("DELETE", t, NULL));
    CHECK_INT(last_status, 404);
    CHECK(strstr(last_body, "Unknown API id") != NULL);

    json_decref(j);
}


/* a document's numbers come back as they were written, and exactly */
TEST(test_doc_numbers)
{
    json_t  *j, *x;

    j = req("POST", "/v2/tn/apis",
            "{\"swagger\":\"2.0\",\"info\":{\"title\":\"T\",\"version\":\"1\","
            "\"x-n\":[0.1,3.14159,1.0,1e300,-2.5e-7]},\"basePath\":\"/num\","
            "\"paths\":{}}");
    CHECK_INT(last_status, 200);
    CHECK(strstr(last_body, "[0.1,3.14159,1.0,1e300,-2.5e-7]") != NULL);
    json_decref(j);

    j = req("POST", "/v2/tn/apis",
            "{\"swagger\":\"2.0\",\"info\":{\"title\":\"T\",\"version\":\"1\","
            "\"x-n\":[0.30000000000000004,0.1]},\"basePath\":\"/num2\","
            "\"paths\":{}}");
    CHECK_INT(last_status, 200);
    x = json_object_get(json_object_get(json_object_get(j, "open_api_doc"),
                                        "info"), "x-n");
    CHECK(json_real_value(json_array_get(x, 0)) == 0.30000000000000004);
    CHECK(json_real_value(json_array_get(x, 1)) == 0.1);
    json_decref(j);
}


TEST(test_v2_conflict_and_errors)
{
    json_t  *j;

    json_decref(req("POST", "/v2/c/apis", DOC("/x", "/a")));
    CHECK_INT(last_status, 200);
    json_decref(req("POST", "/v2/c/apis", DOC("/x", "/b")));
    CHECK_INT(last_status, 409);

    json_decref(req("POST", "/v2/c/apis", NULL));
    CHECK_INT(last_status, 400);
    CHECK(strstr(last_body, "Missing request body") != NULL);

    j = req("POST", "/v2/c/apis", "{\"swagger\":\"2.0\",\"paths\":5}");
    CHECK_INT(last_status, 400);
    CHECK(json_array_size(json_object_get(j, "errors")) >= 1);
    CHECK_INT(json_integer_value(json_object_get(j, "status")), 400);
    CHECK_STR(jstr(j, "request_id"), "rid");
    json_decref(j);

    json_decref(req("GET", "/v2/bad%20t/apis", NULL));
    CHECK_INT(last_status, 400);
    json_decref(req("GET", "/v2/c/apis/%zz", NULL));
    CHECK_INT(last_status, 400);
    json_decref(req("GET", "/v2/c/apis/%00", NULL));
    CHECK_INT(last_status, 400);
    json_decref(req("GET", "/v3/c/apis", NULL));
    CHECK_INT(last_status, 404);
    json_decref(req("TRACE", "/v2/c/apis", NULL));
    CHECK_INT(last_status, 405);
    json_decref(req("GET", "/v2/c/apis/\xff\xfe", NULL));
    CHECK_INT(last_status, 404);
    CHECK(strstr(last_body, "\"status\":404") != NULL);

    /* the same base as routed: percent-decoded, but for "%2F" */
    json_decref(req("POST", "/v2/tp/apis", DOC("/pc%41", "/a")));
    CHECK_INT(last_status, 200);
    json_decref(req("POST", "/v2/tp/apis", DOC("/pcA", "/a")));
    CHECK_INT(last_status, 409);
    json_decref(req("POST", "/v2/tp/apis", DOC("/pc%61", "/a")));
    CHECK_INT(last_status, 200);
    json_decref(req("POST", "/v2/tp/apis", DOC("/x%2Fy", "/a")));
    CHECK_INT(last_status, 200);
    json_decref(req("POST", "/v2/tp/apis", DOC("/x/y", "/a")));
    CHECK_INT(last_status, 200);
    json_decref(req("POST", "/v2/tp/apis", DOC("/x%2fy", "/a")));
    CHECK_INT(last_status, 409);
}


#define DOC2(base, p1, p2)                                                   \
    "{\"swagger\":\"2.0\",\"info\":{\"title\":\"T\",\"version\":\"1\"},"     \
    "\"basePath\":\"" base "\",\"paths\":{\"" p1 "\":{\"get\":{"             \
    "\"x-apigw-backend\":{\"url\":\"http://127.0.0.1:1/\"}}},"              \
    "\"" p2 "\":{\"get\":{\"x-apigw-backend\":{\"url\":"                   \
    "\"http://127.0.0.1:1/\"}}}}}"


/* routes the gateway could not serve are refused, not left out later */
TEST(test_route_clashes)
{
    char         t[256];
    json_t      *j;
    const char  *id;

    /* within the document: 400, with the pointer */
    j = req("POST", "/v2/rc/apis", DOC2("/club", "/books", "//books"));
    CHECK_INT(last_status, 400);
    CHECK(strstr(last_body, "same path template") != NULL);
    CHECK(json_array_size(json_object_get(j, "errors")) >= 1);
    json_decref(j);
    json_decref(req("POST", "/v2/rc/apis", DOC2("/club", "/b/{x}", "/b/{y}")));
    CHECK_INT(last_status, 400);

    /* with another API of the tenant, either way round: 409 */
    j = req("POST", "/v2/rc/apis", DOC2("/club", "/books", "/x"));
    CHECK_INT(last_status, 200);
    id = jstr(j, "artifact_id");
    json_decref(req("POST", "/v2/rc/apis", DOC2("/club/books", "/", "/y")));
    CHECK_INT(last_status, 409);
    CHECK(strstr(last_body, "Routes clash with API") != NULL);
    json_decref(req("POST", "/v2/rc/apis", DOC2("/", "/club/x", "/z")));
    CHECK_INT(last_status, 409);
    json_decref(req("POST", "/v2/rc/apis", DOC2("/club/books", "/y", "/z")));
    CHECK_INT(last_status, 200);

    /* ... but not with itself (an update), another tenant's or a base
     * that only starts with the same characters */
    snprintf(t, sizeof(t), "/v2/rc/apis/%s", id);
    json_decref(req("PUT", t, DOC2("/club", "/books", "/w")));
    CHECK_INT(last_status, 200);
    json_decref(req("POST", "/v2/rc2/apis", DOC2("/club/books", "/", "/y")));
    CHECK_INT(last_status, 200);
    json_decref(req("POST", "/v2/rc/apis", DOC2("/clubs", "/books", "/x")));
    CHECK_INT(last_status, 200);

    /* a base path written percent-encoded is the same, as routed */
    json_decref(req("POST", "/v2/rc3/apis", DOC2("/abc/d", "/", "/e")));
    CHECK_INT(last_status, 200);
    json_decref(req("POST", "/v2/rc3/apis", DOC2("/%61%62%63", "/d", "/f")));
    CHECK_INT(last_status, 409);

    /* an update that would clash with a neighbour: 409, nothing changed */
    json_decref(req("PUT", t, DOC2("/club", "/books/y", "/w")));
    CHECK_INT(last_status, 409);
    CHECK_INT(last_nmuts, 0);

    json_decref(j);
}


TEST(test_paging)
{
    json_t  *l;
    int      i;

    for (i = 0; i < 4; i++) {
        char doc[1024];
        snprintf(doc, sizeof(doc),
                 "{\"swagger\":\"2.0\",\"info\":{\"title\":\"T\","
                 "\"version\":\"1\"},\"basePath\":\"/p%d\",\"paths\":{}}",
                 i);
        json_decref(req("POST", "/v2/pg/apis", doc));
        CHECK_INT(last_status, 200);
    }

    l = req("GET", "/v2/pg/apis?limit=undefined&skip=undefined", NULL);
    CHECK_INT(json_array_size(l), 4);
    json_decref(l);
    l = req("GET", "/v2/pg/apis?limit=2&skip=1", NULL);
    CHECK_INT(json_array_size(l), 2);
    CHECK_STR(jstr(json_object_get(json_array_get(l, 0), "open_api_doc"),
                   "basePath"), "/p1");
    json_decref(l);
    l = req("GET", "/v2/pg/apis?limit=undefined&skip=2", NULL);
    CHECK_INT(json_array_size(l), 0);
    json_decref(l);
    l = req("GET", "/v2/pg/apis?skip=3", NULL);
    CHECK_INT(json_array_size(l), 1);
    json_decref(l);
    l = req("GET", "/v2/pg/apis?limit=-1", NULL);
    CHECK_INT(json_array_size(l), 0);
    json_decref(l);
}


TEST(test_keys_hashed)
{
    json_t      *j, *rec;
    char         key[256], hash[65];
    int          n;

    j = req("POST", "/v2/k/keys", "{\"consumer\":\"alice\"}");
    CHECK_INT(last_status, 201);
    CHECK(jstr(j, "key") != NULL);
    snprintf(key, sizeof(key), "key:%s", jstr(j, "id"));
    rec = apigw_store_get(st, key);
    CHECK(rec != NULL);
    CHECK(json_object_get(rec, "key") == NULL);
    apigw_store_sha256_hex(NULL, 0, jstr(j, "key"), strlen(jstr(j, "key")),
                           hash);
    CHECK_STR(jstr(rec, "sha256"), hash);
    CHECK(strncmp(jstr(j, "key"), jstr(rec, "prefix"),
                  strlen(jstr(rec, "prefix"))) == 0);
    json_decref(j);

    (void) n;
}


static int
count_key(const apigw_key_info_t *k, void *data)
{
    (void) k;
    (*(int *) data)++;
    return 0;
}


static int
count_sub(const apigw_sub_info_t *s, void *data)
{
    char  h[65];

    if (s->secret_salt) {
        apigw_store_sha256_hex(s->secret_salt, strlen(s->secret_salt), "pw",
                               2, h);
        CHECK_STR(h, s->secret_sha256);
    }

    (*(int *) data)++;
    return 0;
}


TEST(test_credentials_iterators)
{
    json_t  *j;
    int      n;
    char     body[256], t[256];

    j = req("POST", "/v2/it/apis", DOC("/it", "/a"));
    snprintf(body, sizeof(body),
             "{\"client_id\":\"c1\",\"artifact_id\":\"%s\","
             "\"client_secret\":\"pw\"}", jstr(j, "artifact_id"));
    json_decref(req("POST", "/v2/it/subscriptions", body));
    CHECK_INT(last_status, 200);
    CHECK(strstr(last_body, "Subscription 'c1' created") != NULL);

    n = 0;
    apigw_store_foreach_sub(st, count_sub, &n);
    CHECK_INT(n, 1);

    n = 0;
    apigw_store_foreach_key(st, count_key, &n);
    json_decref(req("POST", "/v2/it/keys", "{\"consumer\":\"b\"}"));
    {
        int m = 0;
        apigw_store_foreach_key(st, count_key, &m);
        CHECK_INT(m, n + 1);
    }

    /* keys scoped to the API or one of its operations, and one not */
    snprintf(body, sizeof(body), "{\"consumer\":\"c\",\"api_id\":\"%s\"}",
             jstr(j, "artifact_id"));
    json_decref(req("POST", "/v2/it/keys", body));
    CHECK_INT(last_status, 201);
    snprintf(body, sizeof(body), "{\"consumer\":\"d\",\"api_id\":\"%s\","
             "\"operation\":\"op\"}", jstr(j, "artifact_id"));
    json_decref(req("POST", "/v2/it/keys", body));
    CHECK_INT(last_status, 201);
    n = 0;
    apigw_store_foreach_key(st, count_key, &n);

    /* deleting the API removes its subscriptions and its keys */
    snprintf(t, sizeof(t), "/v2/it/apis/%s", jstr(j, "artifact_id"));
    json_decref(req("DELETE", t, NULL));
    CHECK_INT(last_status, 204);
    {
        int m = 0;
        apigw_store_foreach_key(st, count_key, &m);
        CHECK_INT(m, n - 2);
    }
    n = 0;
    apigw_store_foreach_sub(st, count_sub, &n);
    CHECK_INT(n, 0);
    json_decref(j);
}


TEST(test_v1_model)
{
    json_t  *t, *a, *doc;
    char     body[2048];

    t = req("PUT", "/v1/tenants", "{\"namespace\":\"g\",\"instance\":\"i\"}");
    CHECK_INT(last_status, 200);
    snprintf(body, sizeof(body),
             "{\"name\":\"H\",\"basePath\":\"hello/\",\"tenantId\":\"%s\","
             "\"resources\":{\"/w\":{\"cors\":{\"origin\":\"true\"},"
             "\"operations\":{\"get\":{\"backendMethod\":\"POST\","
             "\"backendUrl\":\"http://127.0.0.1:1/x\"}}}}}", jstr(t, "id"));
    a = req("POST", "/v1/apis", body);
    CHECK_INT(last_status, 200);
    CHECK_STR(jstr(a, "basePath"), "/hello");

    doc = apigw_admin_v1_to_swagger(a);
    CHECK(doc != NULL);
    CHECK(json_object_get(json_object_get(json_object_get(doc, "paths"),
                                          "/w"), "get") != NULL);
    json_decref(doc);
    json_decref(a);
    json_decref(t);
}


/* POST /v1/apis with a rateLimit policy `value` on GET /w~x/y */
static json_t *
v1_rate_limit(const char *tenant, const char *base, const char *value)
{
    char  body[2048];

    snprintf(body, sizeof(body),
             "{\"name\":\"R\",\"basePath\":\"%s\",\"tenantId\":\"%s\","
             "\"resources\":{\"/w~x/y\":{\"operations\":{\"GET\":{"
             "\"backendMethod\":\"GET\","
             "\"backendUrl\":\"http://127.0.0.1:1/x\",\"policies\":["
             "{\"type\":\"reqMapping\",\"value\":[]},"
             "{\"type\":\"rateLimit\",\"value\":%s}]}}}}}", base, tenant,
             value);

    return req("POST", "/v1/apis", body);
}


static const char *
v1_problem(json_t *r, size_t i, const char *what)
{
    return jstr(json_array_get(json_object_get(r, "errors"), i), what);
}


/* the policy's value in the document v1_rate_limit() submits */
#define V1_PTR  "/resources/~1w~0x~1y/operations/GET/policies/1/value"

TEST(test_v1_rate_limit_errors)
{
    json_t      *t, *r, *doc, *l;
    const char  *tid;

    t = req("PUT", "/v1/tenants", "{\"namespace\":\"rl\",\"instance\":\"i\"}");
    CHECK_INT(last_status, 200);
    tid = jstr(t, "id");

    /* a string is not a number: 400 naming the field, with its pointer
       into the submitted document (it was an import error pointing into
       the translated one, x-apigw-rate-limit/0/per) */
    r = v1_rate_limit(tid, "/r1", "{\"interval\":\"60\",\"rate\":5}");
    CHECK_INT(last_status, 400);
    CHECK_STR(jstr(r, "message"), "Error: Invalid rateLimit policy for "
              "'GET /w~x/y': interval must be a positive integer of seconds "
              "(1 to 31622400), not a string.");
    CHECK_INT(json_array_size(json_object_get(r, "errors")), 1);
    CHECK_STR(v1_problem(r, 0, "pointer"), V1_PTR "/interval");
    json_decref(r);

    /* every problem, in a list too */
    r = v1_rate_limit(tid, "/r2", "[{\"interval\":60,\"rate\":5},"
                      "{\"interval\":60.5,\"rate\":\"5\"},{\"rate\":1.5}]");
    CHECK_INT(last_status, 400);
    CHECK_STR(jstr(r, "message"), "Error: Invalid rateLimit policy for "
              "'GET /w~x/y': interval must be a positive integer of seconds "
              "(1 to 31622400), not 60.5.");
    CHECK_INT(json_array_size(json_object_get(r, "errors")), 4);
    CHECK_STR(v1_problem(r, 0, "pointer"), V1_PTR "/1/interval");
    CHECK_STR(v1_problem(r, 1, "pointer"), V1_PTR "/1/rate");
    CHECK_STR(v1_problem(r, 1, "message"), "must be a positive integer "
              "(1 to 1000000000), not a string");
    CHECK_STR(v1_problem(r, 2, "pointer"), V1_PTR "/2/interval");
    CHECK_STR(v1_problem(r, 2, "message"), "is required: a positive integer "
              "of seconds (1 to 31622400)");
    CHECK_STR(v1_problem(r, 3, "pointer"), V1_PTR "/2/rate");
    CHECK_STR(v1_problem(r, 3, "message"), "must be a positive integer "
              "(1 to 1000000000), not 1.5");
    json_decref(r);

    r = v1_rate_limit(tid, "/r3", "{\"interval\":60,\"rate\":true}");
    CHECK_INT(last_status, 400);
    CHECK_STR(jstr(r, "message"), "Error: Invalid rateLimit policy for "
              "'GET /w~x/y': rate must be a positive integer "
              "(1 to 1000000000), not a boolean.");
    json_decref(r);

    /* integral numbers are integers (as everywhere else): 60.0 is 60 */
    r = v1_rate_limit(tid, "/r4", "{\"interval\":60.0,\"rate\":5.0}");
    CHECK_INT(last_status, 200);

    doc = apigw_admin_v1_to_swagger(r);
    l = json_array_get(json_object_get(json_object_get(json_object_get(
            json_object_get(doc, "paths"), "/w~x/y"), "get"),
            "x-apigw-rate-limit"), 0);
    CHECK(json_is_integer(json_object_get(l, "per")));
    CHECK_INT(json_integer_value(json_object_get(l, "per")), 60);
    CHECK_INT(json_integer_value(json_object_get(l, "rate")), 5);
    json_decref(doc);
    json_decref(r);
    json_decref(t);
}


TEST(test_journal_roundtrip)
{
    char           *dump, err[128], *line;
    apigw_store_t  *copy;
    apigw_muts_t    m;

    dump = apigw_store_dump(st);
    CHECK(dump != NULL);
    copy = apigw_store_load(dump, strlen(dump), err, sizeof(err));
    CHECK(copy != NULL);
    CHECK_INT(apigw_store_count(copy), apigw_store_count(st));
    CHECK_INT(apigw_store_version(copy), apigw_store_version(st));

    apigw_muts_init(&m);
    apigw_muts_add(&m, "x:1", json_pack("{s:s}", "a", "b\\\"c"));
    apigw_muts_add(&m, "tenant:t1", NULL);
    line = apigw_muts_journal(&m, 777);
    CHECK(apigw_store_replay(copy, line, strlen(line)) == 0);
    CHECK_INT(apigw_store_version(copy), 777);
    CHECK_STR(jstr(apigw_store_get(copy, "x:1"), "a"), "b\\\"c");
    CHECK(apigw_store_get(copy, "tenant:t1") == NULL);
    CHECK(apigw_store_replay(copy, "{\"version\":1", 12) != 0);
    /* an old line (already in the snapshot) changes nothing */
    CHECK(apigw_store_replay(copy, "{\"version\":5,\"set\":{\"x:1\":{}},"
                             "\"del\":[]}", 39) == 0);
    CHECK_STR(jstr(apigw_store_get(copy, "x:1"), "a"), "b\\\"c");
    CHECK_INT(apigw_store_version(copy), 777);
    CHECK(apigw_store_load("[]", 2, err, sizeof(err)) == NULL);

    free(line);
    free(dump);
    apigw_muts_free(&m);
    apigw_store_free(copy);
}


/* the snapshot the embedded store builds from its shared memory's texts */
TEST(test_snapshot_from_texts)
{
    char           *text, err[128], key[600];
    size_t          i, len;
    json_t         *v;
    const char     *k;
    apigw_snap_t    sn;
    apigw_store_t  *copy;
    static const char  *keys[] = {
        "api:t:1", "key:\"quoted\"", "back\\slash", "ctl\x01\n\t\x1f",
        "utf8:\xc3\xa9\xe2\x82\xac", "", "del\x7f"
    };

    apigw_snap_init(&sn, 12345678901ULL);

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        v = json_pack("{s:i,s:s}", "n", (int) i, "k", keys[i]);
        text = json_dumps(v, JSON_COMPACT);
        apigw_snap_add(&sn, keys[i], strlen(keys[i]), text, strlen(text));
        free(text);
        json_decref(v);
    }

    /* a long key: the buffer grows past its first size */
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    for (i = 0; i < 20; i++) {
        key[0] = (char) ('a' + i);
        apigw_snap_add(&sn, key, strlen(key), "{\"a\":[1,2,3]}", 13);
    }

    text = apigw_snap_end(&sn, &len);
    CHECK(text != NULL);
    CHECK_INT(len, strlen(text));

    copy = apigw_store_load(text, len, err, sizeof(err));
    CHECK(copy != NULL);
    CHECK_INT(apigw_store_version(copy), 12345678901ULL);
    CHECK_INT(apigw_store_count(copy), 7 + 20);

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        v = apigw_store_get(copy, keys[i]);
        CHECK(v != NULL);
        CHECK_INT(json_integer_value(json_object_get(v, "n")), (int) i);
        CHECK_STR(jstr(v, "k"), keys[i]);
    }

    json_object_foreach(apigw_store_records(copy), k, v) {
        if (strlen(k) == sizeof(key) - 1) {
            CHECK(json_array_size(json_object_get(v, "a")) == 3);
        }
    }

    free(text);
    apigw_store_free(copy);

    /* no records */
    apigw_snap_init(&sn, 0);
    text = apigw_snap_end(&sn, &len);
    CHECK_STR(text, "{\"version\":0,\"records\":{}}");
    free(text);
}


TEST(test_domain_names)
{
    char          n[300];
    size_t        i;
    const char   *ok[] = {
        "api.example.com", "*.example.com", "a.b", "x-y.example.com",
        "123.example.com", "example.c0m", "xn--bcher-kva.example", NULL
    };
    const char   *bad[][2] = {
        { "", "empty" },
        { "127.0.0.1", "IP address" },
        { "10.1.2.3", "IP address" },
        { "127.1", "IP address" },
        { "0x7f.0.0.1", "IP address" },
        { "0x7f000001", "IP address" },
        { "1.2.3.4.5", "IP address" },
        { "::1", "IP address" },
        { "[::1]", "IP address" },
        { "fe80::1", "IP address" },
        { "localhost", "localhost" },
        { "x.localhost", "localhost" },
        { "*.localhost", "localhost" },
        { "*.x.localhost", "localhost" },
        { "com", "single-label" },
        { "*.com", "wildcard" },
        { "*", "only a-z" },
        { "*.", "empty" },
        { "a..b", "empty" },
        { ".a.b", "empty" },
        { "a.b.", "empty" },
        { "-a.example", "'-'" },
        { "a-.example", "'-'" },
        { "a.-example", "'-'" },
        { "a_b.example", "only a-z" },
        { "x.*.example", "only a-z" },
        { "A.example", "only a-z" },
        { NULL, NULL }
    };

    for (i = 0; ok[i]; i++) {
        if (apigw_domain_invalid(ok[i]) != NULL) {
            fprintf(stderr, "refused: %s\n", ok[i]);
        }

        CHECK(apigw_domain_invalid(ok[i]) == NULL);
    }

    for (i = 0; bad[i][0]; i++) {
        if (apigw_domain_invalid(bad[i][0]) == NULL
            || strstr(apigw_domain_invalid(bad[i][0]), bad[i][1]) == NULL)
        {
            fprintf(stderr, "taken or wrong reason: %s\n", bad[i][0]);
        }

        CHECK(apigw_domain_invalid(bad[i][0]) != NULL
              && strstr(apigw_domain_invalid(bad[i][0]), bad[i][1]));
    }

    /* a label of 63 is fine, 64 is not */
    memset(n, 'a', 63);
    strcpy(n + 63, ".example");
    CHECK(apigw_domain_invalid(n) == NULL);
    memset(n, 'a', 64);
    strcpy(n + 64, ".example");
    CHECK(strstr(apigw_domain_invalid(n), "63") != NULL);

    /* 253 in all is fine, 254 is not: labels of 49 and dots */
    for (i = 0; i < 253; i++) {
        n[i] = (i % 50 == 49) ? '.' : 'a';
    }

    n[253] = '\0';
    CHECK(apigw_domain_invalid(n) == NULL);
    n[253] = 'a';
    n[254] = '\0';
    CHECK(strstr(apigw_domain_invalid(n), "253") != NULL);
}


TEST(test_domain_claims)
{
    json_t  *j;

    /* the public host is gw.example (req()'s apigw_public_url) */
    json_decref(req("PUT", "/v2/d1/domains/GW.example", NULL));
    CHECK_INT(last_status, 409);
    CHECK(strstr(last_body, "gateway's own host") != NULL);
    json_decref(req("PUT", "/v2/d1", "{\"domains\":[\"gw.example\"]}"));
    CHECK_INT(last_status, 409);

    /* a wildcard over it, the port and a user part ignored */
    public_url = "https://u@GW.Corp.example.:8443";
    json_decref(req("PUT", "/v2/d1/domains/*.corp.example", NULL));
    CHECK_INT(last_status, 409);
    json_decref(req("PUT", "/v2/d1", "{\"domains\":[\"gw.corp.example\"]}"));
    CHECK_INT(last_status, 409);
    public_url = "http://gw.example:9001";

    json_decref(req("PUT", "/v2/d1/domains/127.0.0.1", NULL));
    CHECK_INT(last_status, 400);
    CHECK(strstr(last_body, "Invalid domain: an IP address") != NULL);
    json_decref(req("PUT", "/v2/d1/domains/localhost", NULL));
    CHECK_INT(last_status, 400);
    json_decref(req("PUT", "/v2/d1/domains/com", NULL));
    CHECK_INT(last_status, 400);
    json_decref(req("PUT", "/v2/d1/domains/*.com", NULL));
    CHECK_INT(last_status, 400);
    json_decref(req("PUT", "/v2/d1",
                    "{\"domains\":[\"ok.example.com\",\"localhost\"]}"));
    CHECK_INT(last_status, 400);
    CHECK(strstr(last_body, "/domains/1: localhost") != NULL);
    CHECK(apigw_store_get(st, "tenant:d1") == NULL);

    /* near the public host, not it */
    json_decref(req("PUT", "/v2/d1/domains/api.gw.example", NULL));
    CHECK_INT(last_status, 200);
    j = req("PUT", "/v2/d1", "{\"domains\":[\"www.example.org\"]}");
    CHECK_INT(last_status, 200);
    json_decref(j);

    /* a name stored before the rules can still be removed */
    json_decref(req("DELETE", "/v2/d1/domains/localhost", NULL));
    CHECK_INT(last_status, 404);
}


/* one request: its status and Allow (NULL: none); it writes nothing */
static void
allow_check(int line, const char *method, const char *path, int status,
    const char *allow)
{
    json_decref(req(method, path, NULL));

    if (last_status != status || last_nmuts != 0
        || (allow == NULL) != (last_allow == NULL)
        || (allow && strcmp(allow, last_allow) != 0))
    {
        unit_cur_failed++;
        fprintf(stderr, "%s:%d: %s %s: %d \"%s\" (%zu writes), expected "
                "%d \"%s\"\n", __FILE__, line, method, path, last_status,
                last_allow ? last_allow : "(none)", last_nmuts, status,
                allow ? allow : "(none)");
    }
}

#define ALLOW(m, p, s, a)  allow_check(__LINE__, m, p, s, a)


/* HEAD: the GET's status, type and body (nginx drops it), no write */
static void
head_check(int line, const char *path)
{
    int          status;
    char         body[sizeof(last_body)];
    const char  *type, *allow;

    json_decref(req("GET", path, NULL));
    status = last_status;
    type = last_type;
    allow = last_allow;
    memcpy(body, last_body, sizeof(body));

    json_decref(req("HEAD", path, NULL));

    if (last_status != status || last_type != type || last_allow != allow
        || strcmp(last_body, body) != 0 || last_nmuts != 0)
    {
        unit_cur_failed++;
        fprintf(stderr, "%s:%d: HEAD %s: %d %s (%zu writes), GET: %d %s\n",
                __FILE__, line, path, last_status, last_body, last_nmuts,
                status, body);
    }
}

#define HEAD_AS_GET(p)  head_check(__LINE__, p)


/* a 405 names the methods of its path; OPTIONS answers them; HEAD is GET */
TEST(test_allow_head_options)
{
    json_t  *j;
    char     api[128], oa[160], key[128], rev[160], v1api[128], v1t[128];
    char     v1ta[160], body[512];

    j = req("POST", "/v2/al/apis", DOC("/al", "/a"));
    CHECK_INT(last_status, 200);
    snprintf(api, sizeof(api), "/v2/al/apis/%s", jstr(j, "artifact_id"));
    snprintf(oa, sizeof(oa), "%s/openapi", api);
    snprintf(body, sizeof(body), "{\"client_id\":\"c1\",\"artifact_id\":"
             "\"%s\"}", jstr(j, "artifact_id"));
    json_decref(j);
    json_decref(req("POST", "/v2/al/subscriptions", body));
    CHECK_INT(last_status, 200);

    j = req("POST", "/v2/al/keys", "{\"consumer\":\"alice\"}");
    CHECK_INT(last_status, 201);
    snprintf(key, sizeof(key), "/v2/al/keys/%s", jstr(j, "id"));
    snprintf(rev, sizeof(rev), "%s/revoke", key);
    json_decref(j);

    json_decref(req("PUT", "/v2/al/domains/api.al.example", NULL));
    CHECK_INT(last_status, 200);

    j = req("PUT", "/v1/tenants",
            "{\"namespace\":\"aln\",\"instance\":\"i\"}");
    CHECK_INT(last_status, 200);
    snprintf(v1t, sizeof(v1t), "/v1/tenants/%s", jstr(j, "id"));
    snprintf(v1ta, sizeof(v1ta), "%s/apis", v1t);
    snprintf(body, sizeof(body),
             "{\"name\":\"H\",\"basePath\":\"alv1\",\"tenantId\":\"%s\","
             "\"resources\":{\"/w\":{\"operations\":{\"get\":{"
             "\"backendMethod\":\"GET\","
             "\"backendUrl\":\"http://127.0.0.1:1/x\"}}}}}", jstr(j, "id"));
    json_decref(j);
    j = req("POST", "/v1/apis", body);
    CHECK_INT(last_status, 200);
    snprintf(v1api, sizeof(v1api), "/v1/apis/%s", jstr(j, "id"));
    json_decref(j);

    /* v2 */
    ALLOW("PATCH", "/v2/al/apis", 405, "GET, HEAD, POST, OPTIONS");
    ALLOW("DELETE", "/v2/al/apis", 405, "GET, HEAD, POST, OPTIONS");
    ALLOW("POST", api, 405, "GET, HEAD, PUT, DELETE, OPTIONS");
    ALLOW("PUT", oa, 405, "GET, HEAD, OPTIONS");
    ALLOW("FOO", "/v2/al/subscriptions", 405,
          "GET, HEAD, POST, PUT, OPTIONS");
    ALLOW("GET", "/v2/al/subscriptions/c1", 405, "DELETE, OPTIONS");
    ALLOW("PUT", "/v2/al/keys", 405, "GET, HEAD, POST, OPTIONS");
    ALLOW("POST", key, 405, "GET, HEAD, DELETE, OPTIONS");
    ALLOW("GET", rev, 405, "POST, OPTIONS");
    ALLOW("HEAD", rev, 405, "POST, OPTIONS");
    ALLOW("POST", "/v2/al", 405, "GET, HEAD, PUT, DELETE, OPTIONS");
    ALLOW("PUT", "/v2/al/domains", 405, "GET, HEAD, OPTIONS");
    ALLOW("POST", "/v2/al/domains/api.al.example", 405,
          "GET, HEAD, PUT, DELETE, OPTIONS");
    ALLOW("POST", "/v2/al/domains/api.al.example/certificate", 405,
          "GET, HEAD, PUT, DELETE, OPTIONS");
    ALLOW("POST", "/v2/al/webactions", 405, "GET, HEAD, OPTIONS");
    ALLOW("POST", "/v2/al/webactions/aln/pkg/act", 405,
          "GET, HEAD, PUT, DELETE, OPTIONS");
    ALLOW("POST", "/health", 405, "GET, HEAD, OPTIONS");
    ALLOW("POST", "/metrics", 405, "GET, HEAD, OPTIONS");
    ALLOW("OPTIONS", "/metrics", 204, "GET, HEAD, OPTIONS");
    /* served by the module at /metrics exactly, not by the core */
    ALLOW("GET", "/metrics/", 404, NULL);

    /* v1 */
    ALLOW("POST", "/v1/health-check", 405, "GET, HEAD, OPTIONS");
    ALLOW("PATCH", "/v1/apis", 405, "GET, HEAD, POST, PUT, OPTIONS");
    ALLOW("PATCH", v1api, 405, "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    ALLOW("PATCH", "/v1/apis/x/tenant", 405, "GET, HEAD, OPTIONS");
    ALLOW("DELETE", "/v1/tenants", 405, "GET, HEAD, POST, PUT, OPTIONS");
    ALLOW("PATCH", v1t, 405, "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    ALLOW("PUT", v1ta, 405, "GET, HEAD, OPTIONS");
    ALLOW("GET", "/v1/subscriptions", 405, "POST, PUT, DELETE, OPTIONS");
    ALLOW("HEAD", "/v1/subscriptions", 405, "POST, PUT, DELETE, OPTIONS");
    /* no method at all there: not found */
    ALLOW("POST", "/v1/subscriptions/x", 404, NULL);

    /* no Allow but on a 405 */
    ALLOW("GET", "/v2/al/apis", 200, NULL);
    ALLOW("GET", "/nothing", 404, NULL);
    ALLOW("DELETE", "/v2/al/subscriptions", 400, NULL);

    /* OPTIONS: 204 with the same Allow, where the path exists */
    ALLOW("OPTIONS", "/v2/al/apis", 204, "GET, HEAD, POST, OPTIONS");
    CHECK(last_body[0] == '\0');
    ALLOW("OPTIONS", key, 204, "GET, HEAD, DELETE, OPTIONS");
    ALLOW("OPTIONS", rev, 204, "POST, OPTIONS");
    ALLOW("OPTIONS", "/v1/subscriptions", 204,
          "POST, PUT, DELETE, OPTIONS");
    ALLOW("OPTIONS", "/health", 204, "GET, HEAD, OPTIONS");
    ALLOW("OPTIONS", "/nothing", 404, NULL);
    ALLOW("OPTIONS", "/v2/al/keys/none", 404, NULL);

    /* HEAD is GET, including its errors, and never writes */
    HEAD_AS_GET("/v2/al/apis");
    HEAD_AS_GET("/v2/al/apis?limit=1");
    HEAD_AS_GET(api);
    HEAD_AS_GET(oa);
    HEAD_AS_GET("/v2/al/apis/none");
    HEAD_AS_GET("/v2/al/subscriptions?artifact_id=x");
    HEAD_AS_GET("/v2/al/subscriptions");
    HEAD_AS_GET("/v2/al/keys");
    HEAD_AS_GET(key);
    HEAD_AS_GET("/v2/al");
    HEAD_AS_GET("/v2/al/domains");
    HEAD_AS_GET("/v2/al/domains/api.al.example");
    HEAD_AS_GET("/v2/al/domains/api.al.example/certificate");
    HEAD_AS_GET("/v2/al/webactions");
    HEAD_AS_GET("/health");
    HEAD_AS_GET("/v1/health-check");
    HEAD_AS_GET("/v1/apis");
    HEAD_AS_GET(v1api);
    HEAD_AS_GET(v1t);
    HEAD_AS_GET(v1ta);
    HEAD_AS_GET("/v1/tenants");

    /* the key is still there, unrevoked */
    j = req("GET", key, NULL);
    CHECK_INT(last_status, 200);
    CHECK(json_is_false(json_object_get(j, "revoked")));
    json_decref(j);
}


/* a tenant never PUT (keys only) is deleted with all it has */
static void
test_delete_tenant_without_record(void)
{
    char     key[80];
    json_t  *j;

    j = req("POST", "/v2/solo/keys", "{\"consumer\":\"c\"}");
    CHECK_INT(last_status, 201);
    snprintf(key, sizeof(key), "key:%s", jstr(j, "id"));
    json_decref(j);

    CHECK(apigw_store_get(st, "tenant:solo") == NULL);
    CHECK(apigw_store_get(st, key) != NULL);

    json_decref(req("DELETE", "/v2/solo", NULL));
    CHECK_INT(last_status, 204);
    CHECK(apigw_store_get(st, key) == NULL);

    json_decref(req("DELETE", "/v2/solo", NULL));
    CHECK_INT(last_status, 404);
}


int
main(void)
{
    st = apigw_store_create();

    RUN(test_v2_create_get_delete);
    RUN(test_managed_url_encoded);
    RUN(test_doc_numbers);
    RUN(test_v2_conflict_and_errors);
    RUN(test_domain_names);
    RUN(test_domain_claims);
    RUN(test_route_clashes);
    RUN(test_paging);
    RUN(test_keys_hashed);
    RUN(test_delete_tenant_without_record);
    RUN(test_credentials_iterators);
    RUN(test_v1_model);
    RUN(test_v1_rate_limit_errors);
    RUN(test_allow_head_options);
    RUN(test_journal_roundtrip);
    RUN(test_snapshot_from_texts);

    apigw_store_free(st);

    return UNIT_DONE();
}
