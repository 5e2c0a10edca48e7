/*
 * The router: priorities, backtracking, mixed segments, HEAD, 405, base
 * paths, the `first` offset, duplicate and malformed templates, and many
 * APIs.  The APIs are built by hand (no importer).
 */

#include <stdlib.h>
#include <time.h>

#include "apigw.h"
#include "unit.h"


#define GET      APIGW_M_GET
#define HEAD     APIGW_M_HEAD
#define POST     APIGW_M_POST
#define PUT      APIGW_M_PUT
#define DELETE   APIGW_M_DELETE
#define OPTIONS  APIGW_M_OPTIONS
#define PATCH    APIGW_M_PATCH
#define TRACE    APIGW_M_TRACE


typedef struct {
    apigw_method_e   method;
    const char      *path;
    const char      *id;
} opdef_t;


static char *
xstrdup(const char *s)
{
    char  *p;

    p = malloc(strlen(s) + 1);
    strcpy(p, s);

    return p;
}


/* An API as the importer would make it; ops end with a NULL path. */
static apigw_api_t *
mkapi(const char *file, const char *base, const opdef_t *ops)
{
    size_t              i, n, j, k;
    char                ptr[512], lower[16];
    const char         *name;
    apigw_api_t        *api;
    apigw_operation_t  *op;

    for (n = 0; ops[n].path; n++) {
        /* void */
    }

    api = calloc(1, sizeof(apigw_api_t));
    api->file = file ? xstrdup(file) : NULL;
    api->title = xstrdup("test");
    api->version = xstrdup("1");
    api->spec_version = APIGW_SPEC_OAS30;
    api->base_path = xstrdup(base);
    api->ops = calloc(n ? n : 1, sizeof(apigw_operation_t));
    api->nops = n;

    for (i = 0; i < n; i++) {
        op = &api->ops[i];
        op->method = ops[i].method;
        op->path = xstrdup(ops[i].path);
        op->operation_id = ops[i].id ? xstrdup(ops[i].id) : NULL;
        op->api = api;

        /* "/paths/~1a~1{x}/get" */
        k = (size_t) snprintf(ptr, sizeof(ptr), "/paths/");
        for (j = 0; ops[i].path[j] && k < sizeof(ptr) - 8; j++) {
            if (ops[i].path[j] == '/') {
                ptr[k++] = '~';
                ptr[k++] = '1';
            } else {
                ptr[k++] = ops[i].path[j];
            }
        }
        name = apigw_method_name(ops[i].method);
        for (j = 0; name[j] && j < sizeof(lower) - 1; j++) {
            lower[j] = (char) (name[j] | 0x20);
        }
        lower[j] = '\0';
        snprintf(ptr + k, sizeof(ptr) - k, "/%s", lower);
        op->pointer = xstrdup(ptr);
    }

    return api;
}


/*
 * The match of method + raw path, described: "404", "405 GET, HEAD" or
 * "<operationId> name=value ...".
 */
static const char *
rmatch(apigw_router_t *rt, apigw_method_e method, const char *raw,
    size_t first)
{
    size_t         i, n;
    char           scratch[4096];
    apigw_path_t   p;
    apigw_match_t  m;
    static char    out[4096];

    if (apigw_path_parse(raw, strlen(raw), scratch, &p) != APIGW_PATH_OK) {
        return "BAD PATH";
    }

    apigw_router_match(rt, method, &p, first, &m);

    if (m.status == 404) {
        return (m.op == NULL && m.api == NULL && m.nparams == 0)
               ? "404" : "404 with junk";
    }

    if (m.status == 405) {
        n = (size_t) snprintf(out, sizeof(out), "405 ");
        apigw_allow_format(m.allow, out + n, sizeof(out) - n);
        return m.api ? out : "405 without api";
    }

    if (m.status != 0 || m.op == NULL || m.api != m.op->api) {
        return "bad status";
    }

    n = (size_t) snprintf(out, sizeof(out), "%s",
                          m.op->operation_id ? m.op->operation_id : "?");

    for (i = 0; i < m.nparams; i++) {
        n += (size_t) snprintf(out + n, sizeof(out) - n, " %.*s=%.*s",
                               (int) m.params[i].name_len, m.params[i].name,
                               (int) m.params[i].value_len,
                               m.params[i].value);
    }

    return out;
}


static apigw_router_t *
router_with(const char *base, const opdef_t *ops, apigw_api_t **api)
{
    apigw_router_t    *rt;
    apigw_problems_t   probs;

    apigw_problems_init(&probs);
    rt = apigw_router_create();
    *api = mkapi("t.yaml", base, ops);
    CHECK_INT(apigw_router_add(rt, *api, &probs), 0);
    CHECK_INT(probs.n, 0);
    apigw_problems_free(&probs);

    return rt;
}


TEST(test_literal_and_params)
{
    apigw_api_t     *api;
    apigw_router_t  *rt;
    static const opdef_t  ops[] = {
        { GET, "/books", "list" },
        { GET, "/books/{id}", "get" },
        { GET, "/books/new", "new" },
        { GET, "/books/{id}/pages/{page}", "page" },
        { 0, NULL, NULL }
    };

    rt = router_with("", ops, &api);

    CHECK_INT(apigw_router_count(rt), 4);
    CHECK_STR(rmatch(rt, GET, "/books", 0), "list");
    CHECK_STR(rmatch(rt, GET, "/books/", 0), "list");
    CHECK_STR(rmatch(rt, GET, "//books//", 0), "list");
    CHECK_STR(rmatch(rt, GET, "/books/12", 0), "get id=12");
    CHECK_STR(rmatch(rt, GET, "/books/new", 0), "new");
    CHECK_STR(rmatch(rt, GET, "/books/New", 0), "get id=New");
    CHECK_STR(rmatch(rt, GET, "/Books", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/books/7/pages/3", 0), "page id=7 page=3");
    CHECK_STR(rmatch(rt, GET, "/books/new/pages/3", 0),
              "page id=new page=3");
    CHECK_STR(rmatch(rt, GET, "/books/7/pages", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/books/7/pages/3/x", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/nope", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/books/x/../new", 0), "new");

    apigw_router_free(rt);
    apigw_api_free(api);
}


TEST(test_backtracking)
{
    apigw_api_t     *api;
    apigw_router_t  *rt;
    static const opdef_t  ops[] = {
        { GET, "/a/{x}/c", "param" },
        { GET, "/a/b/d", "lit" },
        { GET, "/p/{x}/{y}/z", "deep" },
        { GET, "/p/q/{y}/w", "mid" },
        { GET, "/p/q/r/v", "full" },
        { 0, NULL, NULL }
    };

    rt = router_with("", ops, &api);

    CHECK_STR(rmatch(rt, GET, "/a/b/c", 0), "param x=b");
    CHECK_STR(rmatch(rt, GET, "/a/b/d", 0), "lit");
    CHECK_STR(rmatch(rt, GET, "/a/z/c", 0), "param x=z");
    CHECK_STR(rmatch(rt, GET, "/a/b/e", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/a/z/d", 0), "404");

    /* two levels of backtracking: the captured values must be reset */
    CHECK_STR(rmatch(rt, GET, "/p/q/r/z", 0), "deep x=q y=r");
    CHECK_STR(rmatch(rt, GET, "/p/q/r/w", 0), "mid y=r");
    CHECK_STR(rmatch(rt, GET, "/p/q/r/v", 0), "full");
    CHECK_STR(rmatch(rt, GET, "/p/q/s/v", 0), "404");

    apigw_router_free(rt);
    apigw_api_free(api);
}


/* 405's Allow: the methods of every template that matches the path */
TEST(test_allow_of_every_template)
{
    apigw_api_t     *api;
    apigw_router_t  *rt;
    static const opdef_t  ops[] = {
        { GET, "/a/{x}", "px" },
        { POST, "/a/{y}/", "py" },
        { GET, "/a/lit", "lit" },
        { 0, NULL, NULL }
    };

    rt = router_with("", ops, &api);

    CHECK_STR(rmatch(rt, POST, "/a/lit", 0), "py y=lit");
    CHECK_STR(rmatch(rt, DELETE, "/a/lit", 0), "405 GET, HEAD, POST");
    CHECK_STR(rmatch(rt, DELETE, "/a/foo", 0), "405 GET, HEAD, POST");

    apigw_router_free(rt);
    apigw_api_free(api);
}


TEST(test_mixed_segments)
{
    apigw_api_t     *api;
    apigw_router_t  *rt;
    static const opdef_t  ops[] = {
        { GET, "/f/{id}", "whole" },
        { GET, "/f/{a}.{b}", "ab" },
        { GET, "/f/v{n}", "v" },
        { GET, "/f/{id}.json", "json" },
        { GET, "/f/{name}.tar.gz", "targz" },
        { GET, "/f/list", "list" },
        { GET, "/g/{a}-{b}-{c}", "abc" },
        { GET, "/g/pre{x}post", "prepost" },
        { GET, "/m/{a}.json/x", "mx" },
        { GET, "/m/{b}/y", "my" },
        { 0, NULL, NULL }
    };

    rt = router_with("", ops, &api);

    CHECK_STR(rmatch(rt, GET, "/f/list", 0), "list");
    CHECK_STR(rmatch(rt, GET, "/f/x.json", 0), "json id=x");
    CHECK_STR(rmatch(rt, GET, "/f/x.y.json", 0), "json id=x.y");
    CHECK_STR(rmatch(rt, GET, "/f/a.tar.gz", 0), "targz name=a");
    CHECK_STR(rmatch(rt, GET, "/f/v2", 0), "v n=2");
    CHECK_STR(rmatch(rt, GET, "/f/vv", 0), "v n=v");
    CHECK_STR(rmatch(rt, GET, "/f/x.y", 0), "ab a=x b=y");
    CHECK_STR(rmatch(rt, GET, "/f/x.y.z", 0), "ab a=x.y b=z");
    CHECK_STR(rmatch(rt, GET, "/f/plain", 0), "whole id=plain");
    /* every parameter needs at least one byte */
    CHECK_STR(rmatch(rt, GET, "/f/.json", 0), "whole id=.json");
    CHECK_STR(rmatch(rt, GET, "/f/v", 0), "whole id=v");
    CHECK_STR(rmatch(rt, GET, "/f/x.", 0), "whole id=x.");
    CHECK_STR(rmatch(rt, GET, "/f/.x", 0), "whole id=.x");
    CHECK_STR(rmatch(rt, GET, "/f/..json", 0), "json id=.");
    CHECK_STR(rmatch(rt, GET, "/f/a%2Fb.json", 0), "json id=a/b");

    CHECK_STR(rmatch(rt, GET, "/g/1-2-3", 0), "abc a=1 b=2 c=3");
    CHECK_STR(rmatch(rt, GET, "/g/1-2-3-4", 0), "abc a=1-2 b=3 c=4");
    CHECK_STR(rmatch(rt, GET, "/g/1--3", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/g/1--3-4", 0), "abc a=1- b=3 c=4");
    CHECK_STR(rmatch(rt, GET, "/g/1-2--4", 0), "abc a=1 b=2- c=4");
    CHECK_STR(rmatch(rt, GET, "/f/report.final.pdf", 0),
              "ab a=report.final b=pdf");
    CHECK_STR(rmatch(rt, GET, "/g/1-2", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/g/prepost", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/g/preXpost", 0), "prepost x=X");
    CHECK_STR(rmatch(rt, GET, "/g/prepostpost", 0), "prepost x=post");
    CHECK_STR(rmatch(rt, GET, "/g/prexpos", 0), "404");

    /* a mixed segment that fails deeper down backtracks to the param */
    CHECK_STR(rmatch(rt, GET, "/m/q.json/x", 0), "mx a=q");
    CHECK_STR(rmatch(rt, GET, "/m/q.json/y", 0), "my b=q.json");

    apigw_router_free(rt);
    apigw_api_free(api);
}


TEST(test_mixed_priority_order)
{
    apigw_api_t     *api;
    apigw_router_t  *rt;
    static const opdef_t  ops[] = {
        /* added fewest literal bytes first: order must not depend on it */
        { GET, "/x/{a}{b}", NULL },
        { 0, NULL, NULL }
    };
    static const opdef_t  ops2[] = {
        { GET, "/x/{a}.{b}", "one" },
        { GET, "/x/{a}.j{b}", "two" },
        { GET, "/x/{a}.json", "five" },
        { 0, NULL, NULL }
    };
    apigw_problems_t  probs;

    /* (this one is malformed; see test_malformed) */
    apigw_problems_init(&probs);
    rt = apigw_router_create();
    api = mkapi("bad.yaml", "", ops);
    CHECK_INT(apigw_router_add(rt, api, &probs), 1);
    apigw_problems_free(&probs);
    apigw_router_free(rt);
    apigw_api_free(api);

    rt = router_with("", ops2, &api);
    CHECK_STR(rmatch(rt, GET, "/x/a.json", 0), "five a=a");
    CHECK_STR(rmatch(rt, GET, "/x/a.jsn", 0), "two a=a b=sn");
    CHECK_STR(rmatch(rt, GET, "/x/a.xml", 0), "one a=a b=xml");
    CHECK_STR(rmatch(rt, GET, "/x/axml", 0), "404");
    apigw_router_free(rt);
    apigw_api_free(api);
}


TEST(test_head_and_405)
{
    apigw_api_t     *api;
    apigw_router_t  *rt;
    char             buf[128];
    static const opdef_t  ops[] = {
        { GET, "/r", "r-get" },
        { POST, "/r", "r-post" },
        { HEAD, "/h", "h-head" },
        { GET, "/h", "h-get" },
        { PUT, "/z/lit", "z-lit-put" },
        { GET, "/z/{p}", "z-p-get" },
        { DELETE, "/d", "d-del" },
        { OPTIONS, "/d", "d-opt" },
        { TRACE, "/d", "d-trace" },
        { PATCH, "/d", "d-patch" },
        { HEAD, "/only-head", "oh" },
        { 0, NULL, NULL }
    };

    rt = router_with("", ops, &api);

    CHECK_STR(rmatch(rt, GET, "/r", 0), "r-get");
    CHECK_STR(rmatch(rt, HEAD, "/r", 0), "r-get");
    CHECK_STR(rmatch(rt, POST, "/r", 0), "r-post");
    CHECK_STR(rmatch(rt, DELETE, "/r", 0), "405 GET, HEAD, POST");
    CHECK_STR(rmatch(rt, PUT, "/r/", 0), "405 GET, HEAD, POST");
    CHECK_STR(rmatch(rt, HEAD, "/h", 0), "h-head");
    CHECK_STR(rmatch(rt, GET, "/h", 0), "h-get");

    /* the first node in priority order that has the method */
    CHECK_STR(rmatch(rt, GET, "/z/lit", 0), "z-p-get p=lit");
    CHECK_STR(rmatch(rt, HEAD, "/z/lit", 0), "z-p-get p=lit");
    CHECK_STR(rmatch(rt, PUT, "/z/lit", 0), "z-lit-put");
    CHECK_STR(rmatch(rt, PUT, "/z/other", 0), "405 GET, HEAD");
    /* 405: every method the path is served with (GET by /z/{p}) */
    CHECK_STR(rmatch(rt, DELETE, "/z/lit", 0), "405 GET, HEAD, PUT");

    CHECK_STR(rmatch(rt, GET, "/d", 0),
              "405 PATCH, DELETE, OPTIONS, TRACE");
    CHECK_STR(rmatch(rt, HEAD, "/d", 0),
              "405 PATCH, DELETE, OPTIONS, TRACE");
    CHECK_STR(rmatch(rt, TRACE, "/d", 0), "d-trace");
    /* HEAD does not serve GET */
    CHECK_STR(rmatch(rt, GET, "/only-head", 0), "405 HEAD");
    CHECK_STR(rmatch(rt, HEAD, "/only-head", 0), "oh");

    CHECK_STR(rmatch(rt, GET, "/z", 0), "404");    /* inner node */

    /* a method apigw does not know: 405 on a known path, 404 elsewhere */
    CHECK_STR(rmatch(rt, APIGW_M_NONE, "/r", 0), "405 GET, HEAD, POST");
    CHECK_STR(rmatch(rt, APIGW_M_NONE, "/nope", 0), "404");

    /* allow_format adds HEAD to GET even when the mask lacks it */
    apigw_allow_format(1u << GET, buf, sizeof(buf));
    CHECK_STR(buf, "GET, HEAD");

    apigw_router_free(rt);
    apigw_api_free(api);
}


TEST(test_head_prefers_priority)
{
    apigw_api_t     *api;
    apigw_router_t  *rt;
    static const opdef_t  ops[] = {
        { GET, "/a/lit", "lit-get" },
        { HEAD, "/a/{x}", "param-head" },
        { 0, NULL, NULL }
    };

    /* HEAD falls back to GET per node: the literal node serves it */
    rt = router_with("", ops, &api);
    CHECK_STR(rmatch(rt, HEAD, "/a/lit", 0), "lit-get");
    CHECK_STR(rmatch(rt, HEAD, "/a/b", 0), "param-head x=b");
    CHECK_STR(rmatch(rt, GET, "/a/b", 0), "405 HEAD");
    apigw_router_free(rt);
    apigw_api_free(api);
}


TEST(test_allow_format)
{
    char    buf[128];
    size_t  n;

    n = apigw_allow_format(0, buf, sizeof(buf));
    CHECK_INT(n, 0);
    CHECK_STR(buf, "");

    apigw_allow_format(1u << POST, buf, sizeof(buf));
    CHECK_STR(buf, "POST");

    apigw_allow_format(1u << HEAD, buf, sizeof(buf));
    CHECK_STR(buf, "HEAD");

    apigw_allow_format((1u << APIGW_M_COUNT) - 1, buf, sizeof(buf));
    CHECK_STR(buf, "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE");

    apigw_allow_format(1u << TRACE | 1u << GET | 1u << DELETE, buf,
                       sizeof(buf));
    CHECK_STR(buf, "GET, HEAD, DELETE, TRACE");

    /* two-pass: the length, then at most size bytes */
    n = apigw_allow_format(1u << GET | 1u << PUT, NULL, 0);
    CHECK_INT(n, strlen("GET, HEAD, PUT"));

    memset(buf, 'X', sizeof(buf));
    n = apigw_allow_format(1u << GET | 1u << PUT, buf, 5);
    CHECK_INT(n, 14);
    CHECK(memcmp(buf, "GET, X", 6) == 0);

    memset(buf, 'X', sizeof(buf));
    n = apigw_allow_format(1u << GET | 1u << PUT, buf, 14);
    CHECK(memcmp(buf, "GET, HEAD, PUTX", 15) == 0);
}


TEST(test_base_paths)
{
    size_t            i;
    apigw_api_t      *a1, *a2, *a3;
    apigw_router_t   *rt;
    apigw_problems_t  probs;
    static const opdef_t  ops1[] = {
        { GET, "/items", "v1-items" },
        { GET, "/items/{id}", "v1-item" },
        { 0, NULL, NULL }
    };
    static const opdef_t  ops2[] = {
        { GET, "/items", "v2-items" },
        { 0, NULL, NULL }
    };
    static const opdef_t  ops3[] = {
        { GET, "/", "t-root" },
        { POST, "/{thing}", "t-thing" },
        { 0, NULL, NULL }
    };

    apigw_problems_init(&probs);
    rt = apigw_router_create();
    a1 = mkapi("v1.yaml", "/v1", ops1);
    a2 = mkapi("v2.yaml", "/v2/beta", ops2);
    a3 = mkapi("t.yaml", "/t/{tenant}", ops3);
    CHECK_INT(apigw_router_add(rt, a1, &probs), 0);
    CHECK_INT(apigw_router_add(rt, a2, &probs), 0);
    CHECK_INT(apigw_router_add(rt, a3, &probs), 0);
    CHECK_INT(probs.n, 0);
    CHECK_INT(apigw_router_count(rt), 5);

    CHECK_STR(rmatch(rt, GET, "/v1/items", 0), "v1-items");
    CHECK_STR(rmatch(rt, GET, "/v1/items/9", 0), "v1-item id=9");
    CHECK_STR(rmatch(rt, GET, "/v2/beta/items", 0), "v2-items");
    CHECK_STR(rmatch(rt, GET, "/v2/items", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/items", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/v1", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/t/acme", 0), "t-root tenant=acme");
    CHECK_STR(rmatch(rt, GET, "/t/acme/", 0), "t-root tenant=acme");
    CHECK_STR(rmatch(rt, POST, "/t/acme/x", 0),
              "t-thing tenant=acme thing=x");
    CHECK_STR(rmatch(rt, GET, "/t/acme/x", 0), "405 POST");

    /* the API of the match is the right one; names point into templates */
    {
        char           scratch[64];
        apigw_path_t   p;
        apigw_match_t  m;

        apigw_path_parse("/t/acme/x", 9, scratch, &p);
        apigw_router_match(rt, POST, &p, 0, &m);
        CHECK_INT(m.status, 0);
        CHECK(m.api == a3);
        CHECK(m.op == &a3->ops[1]);
        CHECK_INT(m.nparams, 2);
        CHECK(m.params[0].name == a3->base_path + 4);
        CHECK(m.params[1].name == a3->ops[1].path + 2);
        CHECK(m.params[0].value == p.seg[1]);
        CHECK(m.params[1].value == p.seg[2]);

        apigw_router_match(rt, GET, &p, 0, &m);
        CHECK_INT(m.status, 405);
        CHECK(m.api == a3);
        CHECK(m.op == NULL);
        CHECK_INT(m.allow, 1u << POST);
    }

    for (i = 0; i < probs.n; i++) {
        fprintf(stderr, "%s\n", probs.items[i].message);
    }

    apigw_problems_free(&probs);
    apigw_router_free(rt);
    apigw_api_free(a1);
    apigw_api_free(a2);
    apigw_api_free(a3);
}


TEST(test_root)
{
    apigw_api_t      *a1, *a2;
    apigw_router_t   *rt;
    apigw_problems_t  probs;
    static const opdef_t  ops1[] = {
        { GET, "/", "root" },
        { 0, NULL, NULL }
    };
    static const opdef_t  ops2[] = {
        { GET, "", "svc" },
        { PUT, "/", "svc-put" },
        { 0, NULL, NULL }
    };

    apigw_problems_init(&probs);
    rt = apigw_router_create();
    a1 = mkapi(NULL, "", ops1);
    a2 = mkapi(NULL, "/svc", ops2);
    CHECK_INT(apigw_router_add(rt, a1, &probs), 0);
    CHECK_INT(apigw_router_add(rt, a2, &probs), 0);

    CHECK_STR(rmatch(rt, GET, "/", 0), "root");
    CHECK_STR(rmatch(rt, GET, "//", 0), "root");
    CHECK_STR(rmatch(rt, GET, "/a/..", 0), "root");
    CHECK_STR(rmatch(rt, POST, "/", 0), "405 GET, HEAD");
    CHECK_STR(rmatch(rt, GET, "/x", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/svc", 0), "svc");
    CHECK_STR(rmatch(rt, GET, "/svc/", 0), "svc");
    CHECK_STR(rmatch(rt, PUT, "/svc", 0), "svc-put");

    apigw_problems_free(&probs);
    apigw_router_free(rt);
    apigw_api_free(a1);
    apigw_api_free(a2);
}


TEST(test_decoded_params)
{
    apigw_api_t     *api;
    apigw_router_t  *rt;
    static const opdef_t  ops[] = {
        { GET, "/items/{id}", "item" },
        { GET, "/caf%C3%A9/{x}", "cafe" },
        { GET, "/a%2Fb", "slash" },
        { GET, "/sp ace", "space" },
        { 0, NULL, NULL }
    };

    rt = router_with("", ops, &api);

    CHECK_STR(rmatch(rt, GET, "/items/a%20b%2Fc", 0), "item id=a b/c");
    CHECK_STR(rmatch(rt, GET, "/items/%E2%82%AC", 0),
              "item id=\xE2\x82\xAC");
    CHECK_STR(rmatch(rt, GET, "/items/a%2F..", 0), "item id=a/..");
    /* template literals are decoded too: both spellings match */
    CHECK_STR(rmatch(rt, GET, "/caf%c3%a9/1", 0), "cafe x=1");
    CHECK_STR(rmatch(rt, GET, "/caf\xC3\xA9/1", 0), "cafe x=1");
    CHECK_STR(rmatch(rt, GET, "/a%2fb", 0), "slash");
    CHECK_STR(rmatch(rt, GET, "/a/b", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/sp%20ace", 0), "space");

    apigw_router_free(rt);
    apigw_api_free(api);
}


TEST(test_first_offset)
{
    char             scratch[256];
    const char      *raw;
    apigw_api_t     *api;
    apigw_path_t     p;
    apigw_match_t    m;
    apigw_router_t  *rt;
    static const opdef_t  ops[] = {
        { GET, "/items/{id}", "item" },
        { GET, "/", "root" },
        { 0, NULL, NULL }
    };

    rt = router_with("/v1", ops, &api);

    CHECK_STR(rmatch(rt, GET, "/api/tenant1/v1/items/5", 2), "item id=5");
    CHECK_STR(rmatch(rt, GET, "/api/tenant1/v1/items/5", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/api/tenant1/v1/items/5", 1), "404");
    CHECK_STR(rmatch(rt, GET, "/api/tenant1/v1", 2), "root");
    CHECK_STR(rmatch(rt, GET, "/api/tenant1/v1", 3), "404");
    CHECK_STR(rmatch(rt, GET, "/api/tenant1/v1", 4), "404");

    raw = "/api/t/v1/items/x%2Fy";
    apigw_path_parse(raw, strlen(raw), scratch, &p);
    apigw_router_match(rt, GET, &p, 2, &m);
    CHECK_INT(m.status, 0);
    CHECK_INT(m.nparams, 1);
    CHECK(m.params[0].value == p.seg[4]);
    CHECK_INT(m.params[0].value_len, 3);

    apigw_router_free(rt);
    apigw_api_free(api);
}


static int
has_problem(const apigw_problems_t *probs, const char *file,
    const char *pointer, const char *needle)
{
    size_t  i;

    for (i = 0; i < probs->n; i++) {
        if (probs->items[i].warning
            || (file && (probs->items[i].file == NULL
                         || strcmp(probs->items[i].file, file) != 0))
            || strcmp(probs->items[i].pointer, pointer) != 0
            || strstr(probs->items[i].message, needle) == NULL)
        {
            continue;
        }

        return 1;
    }

    for (i = 0; i < probs->n; i++) {
        fprintf(stderr, "    problem: %s: %s: %s\n",
                probs->items[i].file ? probs->items[i].file : "-",
                probs->items[i].pointer, probs->items[i].message);
    }

    return 0;
}


TEST(test_duplicates)
{
    apigw_api_t      *a1, *a2, *a3, *a4;
    apigw_router_t   *rt;
    apigw_problems_t  probs;
    static const opdef_t  ops1[] = {
        { GET, "/a/{x}", "a1" },
        { POST, "/a/{y}", "a1-post" },      /* other method: fine */
        { GET, "/b", "b1" },
        { GET, "/m/{p}.json", "m1" },
        { 0, NULL, NULL }
    };
    static const opdef_t  ops2[] = {
        { GET, "/a/{y}", "a2" },            /* duplicate of a1 */
        { GET, "/c", "c2" },
        { GET, "/m/{q}.json", "m2" },       /* duplicate of m1 */
        { GET, "/m/{q}.jsonx", "m3" },      /* not a duplicate */
        { 0, NULL, NULL }
    };
    static const opdef_t  ops3[] = {
        { PUT, "/x/{id}/", "x-1" },
        { PUT, "/x/{other}//", "x-2" },     /* same route, in one API */
        { 0, NULL, NULL }
    };
    static const opdef_t  ops4[] = {
        { GET, "/a/b", "under-base" },      /* base "" + "/a/b" */
        { 0, NULL, NULL }
    };

    apigw_problems_init(&probs);
    rt = apigw_router_create();
    a1 = mkapi("one.yaml", "", ops1);
    a2 = mkapi("two.yaml", "", ops2);
    a3 = mkapi("three.yaml", "/t", ops3);
    a4 = mkapi("four.yaml", "/a", (const opdef_t[]) {
        { GET, "/b", "ab" }, { 0, NULL, NULL } });

    CHECK_INT(apigw_router_add(rt, a1, &probs), 0);
    CHECK_INT(apigw_router_count(rt), 4);

    CHECK_INT(apigw_router_add(rt, a2, &probs), 2);
    CHECK_INT(probs.nerrors, 2);
    CHECK(has_problem(&probs, "two.yaml", "/paths/~1a~1{y}/get",
                      "GET \"/a/{y}\" is the same path template as GET "
                      "\"/a/{x}\" (one.yaml: /paths/~1a~1{x}/get)"));
    CHECK(has_problem(&probs, "two.yaml", "/paths/~1m~1{q}.json/get",
                      "\"/m/{p}.json\" (one.yaml: /paths/~1m~1{p}.json/get)"));

    /* all or nothing: none of two.yaml's routes stayed */
    CHECK_INT(apigw_router_count(rt), 4);
    CHECK_STR(rmatch(rt, GET, "/c", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/m/z.jsonx", 0), "404");
    CHECK_STR(rmatch(rt, GET, "/a/1", 0), "a1 x=1");
    CHECK_STR(rmatch(rt, GET, "/m/z.json", 0), "m1 p=z");

    apigw_problems_free(&probs);
    apigw_problems_init(&probs);
    CHECK_INT(apigw_router_add(rt, a3, &probs), 1);
    CHECK(has_problem(&probs, "three.yaml", "/paths/~1x~1{other}~1~1/put",
                      "PUT \"/t/x/{other}//\" is the same path template as "
                      "PUT \"/t/x/{id}/\" (three.yaml: "
                      "/paths/~1x~1{id}~1/put)"));
    CHECK_STR(rmatch(rt, PUT, "/t/x/1", 0), "404");

    /* base path + operation path make the template */
    apigw_problems_free(&probs);
    apigw_problems_init(&probs);
    CHECK_INT(apigw_router_add(rt, a4, &probs), 0);
    CHECK_STR(rmatch(rt, GET, "/a/b", 0), "ab");
    apigw_api_free(a3);
    a3 = mkapi("three.yaml", "", ops4);
    CHECK_INT(apigw_router_add(rt, a3, &probs), 1);
    CHECK(has_problem(&probs, "three.yaml", "/paths/~1a~1b/get",
                      "GET \"/a/b\" is the same path template as GET "
                      "\"/a/b\" (four.yaml: /paths/~1b/get)"));
    CHECK_INT(apigw_router_count(rt), 5);

    /* the same API twice: every operation is a duplicate */
    apigw_problems_free(&probs);
    apigw_problems_init(&probs);
    CHECK_INT(apigw_router_add(rt, a1, &probs), 4);
    CHECK_INT(apigw_router_count(rt), 5);
    CHECK_STR(rmatch(rt, GET, "/a/1", 0), "a1 x=1");

    apigw_problems_free(&probs);
    apigw_router_free(rt);
    apigw_api_free(a1);
    apigw_api_free(a2);
    apigw_api_free(a3);
    apigw_api_free(a4);
}


/*
 * "/a" and "/a/" are two paths of OpenAPI: a document with both routes
 * each request to the one spelt as it is, and a document with one of them
 * serves both spellings with it.
 */
TEST(test_trailing_slash)
{
    apigw_api_t        *a1, *a2;
    apigw_router_t     *rt;
    apigw_problems_t    probs;
    static const opdef_t  ops1[] = {
        { GET, "/address", "plain" },
        { GET, "/address/", "slash" },
        { POST, "/address/", "post-slash" },
        { GET, "/books/{id}/", "book-slash" },
        { GET, "/only", "only" },
        { PUT, "/v/{id}", "v-plain" },
        { PUT, "/v/{id}/", "v-slash" },
        { 0, NULL, NULL }
    };
    static const opdef_t  ops2[] = {
        { GET, "/{x}/", "x-slash" },          /* rolled back with the rest */
        { DELETE, "/address//", "del" },
        { GET, "/address//", "dup" },         /* "/address/" again */
        { 0, NULL, NULL }
    };

    apigw_problems_init(&probs);
    rt = apigw_router_create();
    a1 = mkapi("one.yaml", "/api", ops1);
    a2 = mkapi("two.yaml", "/api", ops2);

    CHECK_INT(apigw_router_add(rt, a1, &probs), 0);
    CHECK_INT(probs.n, 0);
    CHECK_INT(apigw_router_count(rt), 7);

    CHECK_STR(rmatch(rt, GET, "/api/address", 0), "plain");
    CHECK_STR(rmatch(rt, GET, "/api/address/", 0), "slash");
    CHECK_STR(rmatch(rt, GET, "/api//address//", 0), "slash");
    CHECK_STR(rmatch(rt, GET, "/api/address/.", 0), "slash");
    CHECK_STR(rmatch(rt, GET, "/api/address/x/..", 0), "slash");
    CHECK_STR(rmatch(rt, GET, "/api/address/x/../.", 0), "slash");
    CHECK_STR(rmatch(rt, GET, "/api/address%2F", 0), "404");
    CHECK_STR(rmatch(rt, HEAD, "/api/address", 0), "plain");
    CHECK_STR(rmatch(rt, HEAD, "/api/address/", 0), "slash");

    /* a method only one spelling has serves the other spelling too */
    CHECK_STR(rmatch(rt, POST, "/api/address", 0), "post-slash");
    CHECK_STR(rmatch(rt, DELETE, "/api/address", 0), "405 GET, HEAD, POST");
    CHECK_STR(rmatch(rt, DELETE, "/api/address/", 0),
              "405 GET, HEAD, POST");
    CHECK_STR(rmatch(rt, GET, "/api/books/7", 0), "book-slash id=7");
    CHECK_STR(rmatch(rt, GET, "/api/books/7/", 0), "book-slash id=7");
    CHECK_STR(rmatch(rt, GET, "/api/only/", 0), "only");
    CHECK_STR(rmatch(rt, PUT, "/api/v/1", 0), "v-plain id=1");
    CHECK_STR(rmatch(rt, PUT, "/api/v/1/", 0), "v-slash id=1");

    /* the same spelling twice is a duplicate; a failed add leaves nothing */
    CHECK_INT(apigw_router_add(rt, a2, &probs), 1);
    CHECK(has_problem(&probs, "two.yaml", "/paths/~1address~1~1/get",
                      "GET \"/api/address//\" is the same path template as "
                      "GET \"/api/address/\" (one.yaml: "
                      "/paths/~1address~1/get)"));
    CHECK_INT(apigw_router_count(rt), 7);
    CHECK_STR(rmatch(rt, GET, "/api/zz/", 0), "404");
    CHECK_STR(rmatch(rt, DELETE, "/api/address/", 0),
              "405 GET, HEAD, POST");
    CHECK_STR(rmatch(rt, GET, "/api/address/", 0), "slash");
    CHECK_STR(rmatch(rt, GET, "/api/address", 0), "plain");

    /* from another API, the other spelling would take requests: a clash */
    apigw_problems_free(&probs);
    apigw_problems_init(&probs);
    apigw_api_free(a2);
    a2 = mkapi("three.yaml", "/api/only", (const opdef_t[]) {
        { GET, "/", "only-slash" }, { POST, "/", "only-post" },
        { 0, NULL, NULL } });
    CHECK_INT(apigw_router_add(rt, a2, &probs), 1);
    CHECK(has_problem(&probs, "three.yaml", "/paths/~1/get",
                      "GET \"/api/only/\" differs only by a trailing \"/\" "
                      "from GET \"/api/only\" (one.yaml: /paths/~1only/get)"));
    CHECK_STR(rmatch(rt, POST, "/api/only/", 0), "405 GET, HEAD");
    CHECK_STR(rmatch(rt, GET, "/api/only/", 0), "only");

    apigw_problems_free(&probs);
    apigw_router_free(rt);
    apigw_api_free(a1);
    apigw_api_free(a2);
}


TEST(test_malformed)
{
    size_t            i;
    apigw_api_t      *api;
    apigw_router_t   *rt;
    apigw_problems_t  probs;
    char              many[512];
    static const struct {
        const char  *path;
        const char  *why;
    } bad[] = {
        { "/a/{x", "unbalanced \"{\"" },
        { "/a/x}", "unbalanced \"}\"" },
        { "/a/{x}}", "unbalanced \"}\"" },
        { "/a/{}", "empty parameter name" },
        { "/a/{a}{b}", "two parameters with nothing between them" },
        { "/a/x{a}{b}y", "two parameters with nothing between them" },
        { "/a/{a{b}}", "unbalanced \"{\"" },
        { "/a/./b", "can never match" },
        { "/a/..", "can never match" },
        { "/a/%2e%2E", "can never match" },
        { "/a/%00", "can never match" },
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        opdef_t  ops[2] = { { GET, bad[i].path, "bad" }, { 0, NULL, NULL } };

        apigw_problems_init(&probs);
        rt = apigw_router_create();
        api = mkapi("bad.yaml", "", ops);

        CHECK_INT(apigw_router_add(rt, api, &probs), 1);
        CHECK_INT(probs.nerrors, 1);
        CHECK(probs.n == 1 && strcmp(probs.items[0].pointer,
                                     api->ops[0].pointer) == 0);
        CHECK(probs.n == 1 && strstr(probs.items[0].message, bad[i].why));
        CHECK(probs.n == 1 && strstr(probs.items[0].message, bad[i].path));
        CHECK_INT(apigw_router_count(rt), 0);

        apigw_problems_free(&probs);
        apigw_router_free(rt);
        apigw_api_free(api);
    }

    /* in the base path too */
    {
        opdef_t  ops[2] = { { GET, "/x", "x" }, { 0, NULL, NULL } };

        apigw_problems_init(&probs);
        rt = apigw_router_create();
        api = mkapi("bad.yaml", "/{tenant", ops);
        CHECK_INT(apigw_router_add(rt, api, &probs), 1);
        CHECK(probs.n == 1 && strstr(probs.items[0].message, "/{tenant/x"));
        apigw_problems_free(&probs);
        apigw_router_free(rt);
        apigw_api_free(api);
    }

    /* 33 parameters; 65 segments */
    {
        opdef_t  ops[2] = { { GET, many, "many" }, { 0, NULL, NULL } };

        many[0] = '\0';
        for (i = 0; i < 33; i++) {
            snprintf(many + strlen(many), sizeof(many) - strlen(many),
                     "/{p%zu}", i);
        }

        apigw_problems_init(&probs);
        rt = apigw_router_create();
        api = mkapi("bad.yaml", "", ops);
        CHECK_INT(apigw_router_add(rt, api, &probs), 1);
        CHECK(probs.n == 1
              && strstr(probs.items[0].message, "too many path parameters"));
        apigw_problems_free(&probs);
        apigw_router_free(rt);
        apigw_api_free(api);

        /* 32 is fine */
        *strrchr(many, '/') = '\0';
        apigw_problems_init(&probs);
        rt = apigw_router_create();
        api = mkapi("ok.yaml", "", ops);
        CHECK_INT(apigw_router_add(rt, api, &probs), 0);
        apigw_problems_free(&probs);
        apigw_router_free(rt);
        apigw_api_free(api);

        many[0] = '\0';
        for (i = 0; i < 65; i++) {
            strcat(many, "/s");
        }

        apigw_problems_init(&probs);
        rt = apigw_router_create();
        api = mkapi("bad.yaml", "", ops);
        CHECK_INT(apigw_router_add(rt, api, &probs), 1);
        CHECK(probs.n == 1
              && strstr(probs.items[0].message, "more path segments"));
        apigw_problems_free(&probs);
        apigw_router_free(rt);
        apigw_api_free(api);
    }

    /* a bad operation keeps the good ones of its API out too */
    {
        static const opdef_t  ops[] = {
            { GET, "/good", "good" },
            { GET, "/bad/{", "bad" },
            { 0, NULL, NULL }
        };

        apigw_problems_init(&probs);
        rt = apigw_router_create();
        api = mkapi("bad.yaml", "", ops);
        CHECK_INT(apigw_router_add(rt, api, &probs), 1);
        CHECK_STR(rmatch(rt, GET, "/good", 0), "404");
        CHECK_INT(apigw_router_count(rt), 0);
        apigw_problems_free(&probs);
        apigw_router_free(rt);
        apigw_api_free(api);
    }

    /* an invalid escape in a template is a literal "%" */
    {
        static const opdef_t  ops[] = {
            { GET, "/p%zz", "pct" },
            { 0, NULL, NULL }
        };

        rt = router_with("", ops, &api);
        CHECK_STR(rmatch(rt, GET, "/p%25zz", 0), "pct");
        apigw_router_free(rt);
        apigw_api_free(api);
    }
}


TEST(test_32_params)
{
    size_t           i;
    char             tpl[512], raw[512];
    apigw_api_t     *api;
    apigw_router_t  *rt;
    const char      *r;
    opdef_t          ops[2] = { { GET, tpl, "many" }, { 0, NULL, NULL } };

    tpl[0] = '\0';
    raw[0] = '\0';

    for (i = 0; i < 16; i++) {
        snprintf(tpl + strlen(tpl), sizeof(tpl) - strlen(tpl),
                 "/{a%zu}-{b%zu}", i, i);
        snprintf(raw + strlen(raw), sizeof(raw) - strlen(raw),
                 "/x%zu-y%zu", i, i);
    }

    rt = router_with("", ops, &api);
    r = rmatch(rt, GET, raw, 0);
    CHECK(strncmp(r, "many a0=x0 b0=y0 a1=x1", 22) == 0);
    CHECK(strstr(r, " a15=x15 b15=y15") != NULL);
    apigw_router_free(rt);
    apigw_api_free(api);
}


TEST(test_rollback_many)
{
    size_t            i, round;
    char              raw[64], want[64];
    opdef_t           ops[202];
    char              paths[202][32], ids[202][32];
    apigw_api_t      *a, *b, *c;
    apigw_router_t   *rt;
    apigw_problems_t  probs;

    a = b = c = NULL;

    /* a: /k0 .. /k99; b: /n0 .. /n99 and a duplicate of /k50 */
    for (round = 0; round < 2; round++) {
        for (i = 0; i < 100; i++) {
            snprintf(paths[i], sizeof(paths[i]), "/%c%zu",
                     round ? 'n' : 'k', i);
            snprintf(ids[i], sizeof(ids[i]), "%c%zu", round ? 'n' : 'k', i);
            ops[i].method = GET;
            ops[i].path = paths[i];
            ops[i].id = ids[i];
        }

        ops[100].method = GET;
        ops[100].path = round ? "/k50" : "/k-extra/{x}";
        ops[100].id = "extra";
        ops[101].path = NULL;

        if (round == 0) {
            a = mkapi("a.yaml", "", ops);
        } else {
            b = mkapi("b.yaml", "", ops);
            ops[100].path = NULL;
            c = mkapi("c.yaml", "", ops);
        }
    }

    apigw_problems_init(&probs);
    rt = apigw_router_create();
    CHECK_INT(apigw_router_add(rt, a, &probs), 0);
    CHECK_INT(apigw_router_add(rt, b, &probs), 1);
    CHECK_INT(apigw_router_count(rt), 101);

    for (i = 0; i < 100; i++) {
        snprintf(raw, sizeof(raw), "/k%zu", i);
        snprintf(want, sizeof(want), "k%zu", i);
        CHECK_STR(rmatch(rt, GET, raw, 0), want);
        snprintf(raw, sizeof(raw), "/n%zu", i);
        CHECK_STR(rmatch(rt, GET, raw, 0), "404");
    }

    CHECK_STR(rmatch(rt, GET, "/k-extra/1", 0), "extra x=1");

    /* the deleted slots are reused or dropped; lookups still work */
    CHECK_INT(apigw_router_add(rt, c, &probs), 0);
    CHECK_INT(apigw_router_count(rt), 201);

    for (i = 0; i < 100; i++) {
        snprintf(raw, sizeof(raw), "/k%zu", i);
        snprintf(want, sizeof(want), "k%zu", i);
        CHECK_STR(rmatch(rt, GET, raw, 0), want);
        snprintf(raw, sizeof(raw), "/n%zu", i);
        snprintf(want, sizeof(want), "n%zu", i);
        CHECK_STR(rmatch(rt, GET, raw, 0), want);
    }

    apigw_problems_free(&probs);
    apigw_router_free(rt);
    apigw_api_free(a);
    apigw_api_free(b);
    apigw_api_free(c);
}






TEST(test_many_apis)
{
    size_t            i, n;
    char              base[64], raw[128], want[64];
    apigw_api_t     **apis;
    apigw_router_t   *small, *big;
    apigw_problems_t  probs;
    static const opdef_t  ops[] = {
        { GET, "/items", "items" },
        { GET, "/items/{id}", "item" },
        { POST, "/items/{id}/{action}.json", "act" },
        { 0, NULL, NULL }
    };

    n = 10000;
    apis = calloc(n, sizeof(apigw_api_t *));
    apigw_problems_init(&probs);
    big = apigw_router_create();
    small = apigw_router_create();

    /* added in a scrambled order, so the sorted insert is exercised */
    for (i = 0; i < n; i++) {
        snprintf(base, sizeof(base), "/api%zu", (i * 7919) % n);
        apis[i] = mkapi(NULL, base, ops);
        free(apis[i]->ops[0].operation_id);
        apis[i]->ops[0].operation_id = malloc(32);
        snprintf(apis[i]->ops[0].operation_id, 32, "items-%zu",
                 (i * 7919) % n);
        CHECK_INT(apigw_router_add(big, apis[i], &probs), 0);

        if (i < 10) {
            apigw_router_add(small, apis[i], &probs);
        }
    }

    CHECK_INT(probs.n, 0);
    CHECK_INT(apigw_router_count(big), 3 * n);

    for (i = 0; i < n; i += 997) {
        snprintf(raw, sizeof(raw), "/api%zu/items", i);
        snprintf(want, sizeof(want), "items-%zu", i);
        CHECK_STR(rmatch(big, GET, raw, 0), want);
    }

    CHECK_STR(rmatch(big, GET, "/api9999/items/42", 0), "item id=42");
    CHECK_STR(rmatch(big, POST, "/api5000/items/42/go.json", 0),
              "act id=42 action=go");
    CHECK_STR(rmatch(big, PUT, "/api0/items/42", 0), "405 GET, HEAD");
    CHECK_STR(rmatch(big, GET, "/api10000/items", 0), "404");
    CHECK_STR(rmatch(big, GET, "/api/items", 0), "404");


    apigw_problems_free(&probs);
    apigw_router_free(big);
    apigw_router_free(small);

    for (i = 0; i < n; i++) {
        apigw_api_free(apis[i]);
    }

    free(apis);
}


TEST(test_edge_calls)
{
    char             scratch[16];
    apigw_path_t     p;
    apigw_match_t    m;
    apigw_router_t  *rt;

    rt = apigw_router_create();
    apigw_path_parse("/", 1, scratch, &p);
    apigw_router_match(rt, GET, &p, 0, &m);
    CHECK_INT(m.status, 404);
    apigw_router_match(NULL, GET, &p, 0, &m);
    CHECK_INT(m.status, 404);
    apigw_router_match(rt, APIGW_M_NONE, &p, 0, &m);
    CHECK_INT(m.status, 404);
    CHECK_INT(apigw_router_count(rt), 0);
    CHECK_INT(apigw_router_count(NULL), 0);
    apigw_router_free(rt);
    apigw_router_free(NULL);
}


int
main(void)
{
    RUN(test_literal_and_params);
    RUN(test_backtracking);
    RUN(test_allow_of_every_template);
    RUN(test_mixed_segments);
    RUN(test_mixed_priority_order);
    RUN(test_head_and_405);
    RUN(test_head_prefers_priority);
    RUN(test_allow_format);
    RUN(test_base_paths);
    RUN(test_root);
    RUN(test_decoded_params);
    RUN(test_first_offset);
    RUN(test_duplicates);
    RUN(test_trailing_slash);
    RUN(test_malformed);
    RUN(test_32_params);
    RUN(test_rollback_many);
    RUN(test_many_apis);
    RUN(test_edge_calls);

    return UNIT_DONE();
}
