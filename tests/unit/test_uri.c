/*
 * Backend URIs: template parameters, appended request paths, queries, the
 * segment encoding, and the two-pass contract.
 */

#include <stdlib.h>

#include "apigw.h"
#include "unit.h"


static apigw_match_t  no_params;


/*
 * The backend URI as a string.  Checks the two-pass contract on the way:
 * the length asked for is the length written, a short buffer is not
 * overrun, and exact-size buffers are used so ASan sees any overflow.
 */
static const char *
uri_full(const char *tpl, int append, const apigw_match_t *m,
    const char *raw, size_t first, const char *query)
{
    char               *buf, scratch[1024];
    size_t              len, n, half, qlen;
    apigw_path_t        p, *pp;
    apigw_operation_t   op;
    static char         out[4096];

    memset(&op, 0, sizeof(op));
    op.backend.path = (char *) tpl;
    op.backend.append_path = append;

    pp = NULL;

    if (raw) {
        if (apigw_path_parse(raw, strlen(raw), scratch, &p) != APIGW_PATH_OK)
        {
            return "BAD PATH";
        }
        pp = &p;
    }

    qlen = query ? strlen(query) : 0;

    len = apigw_backend_uri(&op, m, pp, first, query, qlen, NULL, 0);

    buf = malloc(len + 1);
    buf[len] = '#';
    n = apigw_backend_uri(&op, m, pp, first, query, qlen, buf, len);
    CHECK_INT(n, len);
    CHECK(buf[len] == '#');

    memcpy(out, buf, len);
    out[len] = '\0';

    /* a short buffer: the same length returned, a prefix written */
    half = len / 2;
    memset(buf, '#', len + 1);
    n = apigw_backend_uri(&op, m, pp, first, query, qlen, buf, half);
    CHECK_INT(n, len);
    CHECK(memcmp(buf, out, half) == 0);
    CHECK(buf[half] == '#');

    free(buf);

    return out;
}


static const char *
uri(const char *tpl, int append, const char *raw, size_t first,
    const char *query)
{
    return uri_full(tpl, append, &no_params, raw, first, query);
}


static const char *
enc(const char *s, size_t len)
{
    char         *buf;
    size_t        n, m;
    static char   out[4096];

    n = apigw_encode_segment(s, len, NULL, 0);
    buf = malloc(n ? n : 1);
    m = apigw_encode_segment(s, len, buf, n);
    CHECK_INT(m, n);
    memcpy(out, buf, n);
    out[n] = '\0';
    free(buf);

    return out;
}


static void
param(apigw_match_t *m, const char *name, const char *value)
{
    m->params[m->nparams].name = name;
    m->params[m->nparams].name_len = strlen(name);
    m->params[m->nparams].value = value;
    m->params[m->nparams].value_len = strlen(value);
    m->nparams++;
}


TEST(test_encode_segment)
{
    char    buf[8];
    size_t  n;

    CHECK_STR(enc("", 0), "");
    CHECK_STR(enc("abc", 3), "abc");
    CHECK_STR(enc("AZaz09-._~", 10), "AZaz09-._~");
    CHECK_STR(enc("!$&'()*+,;=:@", 13), "!$&'()*+,;=:@");
    CHECK_STR(enc("a b", 3), "a%20b");
    CHECK_STR(enc("a/b", 3), "a%2Fb");
    CHECK_STR(enc("?#[]", 4), "%3F%23%5B%5D");
    CHECK_STR(enc("%", 1), "%25");
    CHECK_STR(enc("%41", 3), "%2541");
    CHECK_STR(enc("\"<>\\^`{|}", 9), "%22%3C%3E%5C%5E%60%7B%7C%7D");
    CHECK_STR(enc("caf\xC3\xA9", 5), "caf%C3%A9");
    CHECK_STR(enc("\x00\x01\x1F\x7F\xFF", 5), "%00%01%1F%7F%FF");
    CHECK_STR(enc("\n\r\t", 3), "%0A%0D%09");

    /* never a dot segment */
    CHECK_STR(enc(".", 1), "%2E");
    CHECK_STR(enc("..", 2), "%2E%2E");
    CHECK_STR(enc("...", 3), "...");
    CHECK_STR(enc(".a", 2), ".a");
    CHECK_STR(enc("a..", 3), "a..");

    /* two-pass */
    CHECK_INT(apigw_encode_segment("a b", 3, NULL, 0), 5);
    memset(buf, '#', sizeof(buf));
    n = apigw_encode_segment("a b", 3, buf, 2);
    CHECK_INT(n, 5);
    CHECK(memcmp(buf, "a%#", 3) == 0);
    memset(buf, '#', sizeof(buf));
    n = apigw_encode_segment("a b", 3, buf, 4);
    CHECK(memcmp(buf, "a%20#", 5) == 0);
}


TEST(test_plain)
{
    CHECK_STR(uri("", 0, NULL, 0, NULL), "/");
    CHECK_STR(uri(NULL, 0, NULL, 0, NULL), "/");
    CHECK_STR(uri("", 0, "/a/b", 0, NULL), "/");
    CHECK_STR(uri("/", 0, NULL, 0, NULL), "/");
    CHECK_STR(uri("/api/v1/web/ns/pkg/act.json", 0, "/x/y", 0, NULL),
              "/api/v1/web/ns/pkg/act.json");
    CHECK_STR(uri("/api/v1/web/ns/pkg/act.json", 0, "/x/y", 0, "a=1&b"),
              "/api/v1/web/ns/pkg/act.json?a=1&b");
    CHECK_STR(uri("", 0, NULL, 0, "a=1"), "/?a=1");
    CHECK_STR(uri("/x", 0, NULL, 0, ""), "/x");
    /* the query passes byte for byte */
    CHECK_STR(uri("/x", 0, NULL, 0, "q=a%20b+c&d=%2F"), "/x?q=a%20b+c&d=%2F");
}


TEST(test_params)
{
    apigw_match_t  m;

    memset(&m, 0, sizeof(m));
    param(&m, "id", "a b");
    param(&m, "pid", "x/y");
    param(&m, "dots", "..");
    param(&m, "e", "");

    CHECK_STR(uri_full("/users/{id}/posts/{pid}", 0, &m, NULL, 0, NULL),
              "/users/a%20b/posts/x%2Fy");
    CHECK_STR(uri_full("/u/{id}/{id}", 0, &m, NULL, 0, NULL),
              "/u/a%20b/a%20b");
    CHECK_STR(uri_full("/u/{id}.json", 0, &m, NULL, 0, NULL),
              "/u/a%20b.json");
    CHECK_STR(uri_full("/u/pre{pid}post", 0, &m, NULL, 0, NULL),
              "/u/prex%2Fypost");
    CHECK_STR(uri_full("/u/{dots}/x", 0, &m, NULL, 0, NULL),
              "/u/%2E%2E/x");
    CHECK_STR(uri_full("/u/{e}/x", 0, &m, NULL, 0, NULL), "/u//x");

    /* unknown names and stray braces stay as they are */
    CHECK_STR(uri_full("/u/{nope}", 0, &m, NULL, 0, NULL), "/u/{nope}");
    CHECK_STR(uri_full("/u/{i}", 0, &m, NULL, 0, NULL), "/u/{i}");
    CHECK_STR(uri_full("/u/{idx}", 0, &m, NULL, 0, NULL), "/u/{idx}");
    CHECK_STR(uri_full("/u/{id", 0, &m, NULL, 0, NULL), "/u/{id");
    CHECK_STR(uri_full("/u/{{id}", 0, &m, NULL, 0, NULL), "/u/{a%20b");
    CHECK_STR(uri_full("/u/{}", 0, &m, NULL, 0, NULL), "/u/{}");
    CHECK_STR(uri_full("/u/id}", 0, &m, NULL, 0, NULL), "/u/id}");
    CHECK_STR(uri_full("/u/{id}", 0, NULL, NULL, 0, NULL), "/u/{id}");

    /* the value "{id}" is not expanded again */
    memset(&m, 0, sizeof(m));
    param(&m, "a", "{b}");
    param(&m, "b", "x");
    CHECK_STR(uri_full("/{a}/{b}", 0, &m, NULL, 0, NULL), "/%7Bb%7D/x");
}


TEST(test_append_path)
{
    const char  *t = "/api/v1/web/ns/pkg/act.http";

    CHECK_STR(uri(t, 1, "/api/t/base/a/b%20c", 3, NULL),
              "/api/v1/web/ns/pkg/act.http/a/b%20c");
    CHECK_STR(uri(t, 1, "/api/t/base/a/b%20c/", 3, NULL),
              "/api/v1/web/ns/pkg/act.http/a/b%20c/");
    CHECK_STR(uri(t, 1, "/api/t/base", 3, NULL),
              "/api/v1/web/ns/pkg/act.http");
    CHECK_STR(uri(t, 1, "/api/t/base/", 3, NULL),
              "/api/v1/web/ns/pkg/act.http/");
    CHECK_STR(uri(t, 1, "/a/b", 0, "x=1"),
              "/api/v1/web/ns/pkg/act.http/a/b?x=1");
    CHECK_STR(uri(t, 1, "/a/b", 0, NULL), "/api/v1/web/ns/pkg/act.http/a/b");
    CHECK_STR(uri(t, 1, "/a/b", 1, NULL), "/api/v1/web/ns/pkg/act.http/b");
    CHECK_STR(uri(t, 1, "/a/b", 2, NULL), "/api/v1/web/ns/pkg/act.http");
    CHECK_STR(uri(t, 1, "/a/b", 9, NULL), "/api/v1/web/ns/pkg/act.http");
    CHECK_STR(uri(t, 1, "/a/b/", 2, NULL), "/api/v1/web/ns/pkg/act.http/");
    CHECK_STR(uri(t, 1, NULL, 0, NULL), "/api/v1/web/ns/pkg/act.http");
    /* a request for "/" (a base path "/"): the action's path is "/" */
    CHECK_STR(uri(t, 1, "/", 0, NULL), "/api/v1/web/ns/pkg/act.http/");
    CHECK_STR(uri(t, 1, "/", 0, "q=1"), "/api/v1/web/ns/pkg/act.http/?q=1");

    /* segments are re-encoded: a decoded "/" stays one segment */
    CHECK_STR(uri(t, 1, "/a%2Fb/%2e%2e%2F/c%3Fd", 0, NULL),
              "/api/v1/web/ns/pkg/act.http/a%2Fb/..%2F/c%3Fd");
    CHECK_STR(uri(t, 1, "/x/../y/./z", 0, NULL),
              "/api/v1/web/ns/pkg/act.http/y/z");
    CHECK_STR(uri(t, 1, "/caf\xC3\xA9/%7e", 0, NULL),
              "/api/v1/web/ns/pkg/act.http/caf%C3%A9/~");

    /* an empty template */
    CHECK_STR(uri("", 1, "/a/b", 0, NULL), "/a/b");
    CHECK_STR(uri("", 1, "/a/b/", 0, NULL), "/a/b/");
    CHECK_STR(uri("", 1, "/", 0, NULL), "/");
    CHECK_STR(uri("", 1, "/a", 1, NULL), "/");
    CHECK_STR(uri("", 1, "/a/", 1, NULL), "/");
    CHECK_STR(uri("", 1, "/a", 1, "q"), "/?q");

    /* a template ending with "/" does not make "//" */
    CHECK_STR(uri("/base/", 1, "/a/b", 0, NULL), "/base/a/b");
    CHECK_STR(uri("/base/", 1, "/a/", 0, NULL), "/base/a/");
    CHECK_STR(uri("/base/", 1, "/a", 1, NULL), "/base/");
    CHECK_STR(uri("/base/", 1, "/a/", 1, NULL), "/base/");
    CHECK_STR(uri("/", 1, "/a", 0, NULL), "/a");
}


TEST(test_template_query)
{
    apigw_match_t  m;

    CHECK_STR(uri("/x?fixed=1", 0, NULL, 0, "a=2"), "/x?fixed=1&a=2");
    CHECK_STR(uri("/x?fixed=1", 0, NULL, 0, NULL), "/x?fixed=1");
    CHECK_STR(uri("/x?fixed=1", 0, NULL, 0, ""), "/x?fixed=1");
    CHECK_STR(uri("/x?", 0, NULL, 0, "a=2"), "/x?a=2");
    CHECK_STR(uri("/x?", 0, NULL, 0, NULL), "/x?");
    CHECK_STR(uri("/x?a=1&", 0, NULL, 0, "b=2"), "/x?a=1&b=2");
    CHECK_STR(uri("?q=1", 0, NULL, 0, NULL), "/?q=1");
    CHECK_STR(uri("?q=1", 0, NULL, 0, "r=2"), "/?q=1&r=2");
    CHECK_STR(uri("/x?a=?b", 0, NULL, 0, "c"), "/x?a=?b&c");

    /* the appended path goes before the template's query */
    CHECK_STR(uri("/x?fixed=1", 1, "/a/b/", 0, "a=2"),
              "/x/a/b/?fixed=1&a=2");
    CHECK_STR(uri("?q=1", 1, "/a", 0, NULL), "/a?q=1");
    CHECK_STR(uri("?q=1", 1, "/", 0, "z"), "/?q=1&z");

    /* parameters in the query: only unreserved bytes kept */
    memset(&m, 0, sizeof(m));
    param(&m, "id", "a&b=c d/e");
    param(&m, "n", "7");
    CHECK_STR(uri_full("/o/{n}?id={id}&n={n}", 0, &m, NULL, 0, "z=1"),
              "/o/7?id=a%26b%3Dc%20d%2Fe&n=7&z=1");
    CHECK_STR(uri_full("/o/{id}?id={id}", 0, &m, NULL, 0, NULL),
              "/o/a&b=c%20d%2Fe?id=a%26b%3Dc%20d%2Fe");
}


TEST(test_with_router)
{
    char               scratch[256];
    size_t             len, n;
    const char        *raw;
    apigw_api_t       *api;
    apigw_path_t       p;
    apigw_match_t      m;
    apigw_router_t    *rt;
    apigw_problems_t   probs;
    char               buf[256];

    api = calloc(1, sizeof(apigw_api_t));
    api->base_path = strdup("/v1");
    api->ops = calloc(1, sizeof(apigw_operation_t));
    api->nops = 1;
    api->ops[0].method = APIGW_M_GET;
    api->ops[0].path = strdup("/files/{name}.{ext}");
    api->ops[0].pointer = strdup("/paths/~1files~1{name}.{ext}/get");
    api->ops[0].backend.path = strdup("/web/ns/pkg/files.http?n={name}");
    api->ops[0].backend.append_path = 1;
    api->ops[0].api = api;

    apigw_problems_init(&probs);
    rt = apigw_router_create();
    CHECK_INT(apigw_router_add(rt, api, &probs), 0);

    raw = "/api/tenant/v1/files/my%20doc.tar.gz/";
    CHECK_INT(apigw_path_parse(raw, strlen(raw), scratch, &p), APIGW_PATH_OK);
    apigw_router_match(rt, APIGW_M_GET, &p, 2, &m);
    CHECK_INT(m.status, 0);

    len = apigw_backend_uri(m.op, &m, &p, 2, "x=1", 3, NULL, 0);
    n = apigw_backend_uri(m.op, &m, &p, 2, "x=1", 3, buf, sizeof(buf));
    CHECK_INT(n, len);
    buf[n < sizeof(buf) ? n : 0] = '\0';
    /* the last dot splits name and ext */
    CHECK_STR(buf, "/web/ns/pkg/files.http/v1/files/my%20doc.tar.gz/"
                   "?n=my%20doc.tar&x=1");

    apigw_problems_free(&probs);
    apigw_router_free(rt);
    apigw_api_free(api);
}


int
main(void)
{
    RUN(test_encode_segment);
    RUN(test_plain);
    RUN(test_params);
    RUN(test_append_path);
    RUN(test_template_query);
    RUN(test_with_router);

    return UNIT_DONE();
}
