/*
 * Plain web actions: the web-action API's backend URIs (passthrough,
 * vanity, vanity root) and the vanity host match.
 */

#include <stdlib.h>

#include "apigw.h"
#include "unit.h"


static const char *
uri(const apigw_api_t *api, int which, const char *raw, size_t first,
    const char *ns, const char *query)
{
    char            scratch[1024];
    size_t          n;
    apigw_path_t    p;
    apigw_match_t   m;
    static char     out[2048];

    memset(&m, 0, sizeof(m));

    if (ns) {
        m.params[0].name = "ns";
        m.params[0].name_len = 2;
        m.params[0].value = ns;
        m.params[0].value_len = strlen(ns);
        m.nparams = 1;
    }

    if (apigw_path_parse(raw, strlen(raw), scratch, &p) != APIGW_PATH_OK) {
        return "BAD PATH";
    }

    n = apigw_backend_uri(apigw_webaction_op(api, which), &m, &p, first,
                          query, query ? strlen(query) : 0, out,
                          sizeof(out) - 1);
    out[n] = '\0';
    return out;
}


TEST(webaction_passthrough)
{
    const char   *err;
    apigw_api_t  *api;

    api = apigw_webaction_api("http://127.0.0.1:3233", &err);
    CHECK(api != NULL);
    CHECK_STR(apigw_webaction_op(api, APIGW_WEBACTION_WEB)->backend.authority,
              "127.0.0.1:3233");

    CHECK_STR(uri(api, APIGW_WEBACTION_WEB,
                  "/api/v1/web/guest/default/hello.json", 3, NULL, NULL),
              "/api/v1/web/guest/default/hello.json");
    /* normalised, %2F kept inside its segment, query kept */
    CHECK_STR(uri(api, APIGW_WEBACTION_WEB,
                  "/api//v1/./web/guest/pkg/a.http/x%2Fy/", 3, NULL, "a=1"),
              "/api/v1/web/guest/pkg/a.http/x%2Fy/?a=1");

    apigw_api_free(api);
}


TEST(webaction_prefixed_openwhisk_url)
{
    const char   *err;
    apigw_api_t  *api;

    api = apigw_webaction_api("https://ow.example:8443/edge/", &err);
    CHECK(api != NULL);
    CHECK_STR(apigw_webaction_op(api, 0)->backend.scheme, "https");
    CHECK_STR(uri(api, APIGW_WEBACTION_WEB, "/api/v1/web/ns/p/a", 3, NULL,
                  NULL),
              "/edge/api/v1/web/ns/p/a");
    apigw_api_free(api);

    CHECK(apigw_webaction_api("ftp://x", &err) == NULL && err != NULL);
    CHECK(apigw_webaction_api("http://x/{a}", &err) == NULL && err != NULL);
    CHECK(apigw_webaction_api("http://x/?q=1", &err) == NULL && err != NULL);
}


TEST(webaction_vanity)
{
    const char   *err;
    apigw_api_t  *api;

    api = apigw_webaction_api("http://127.0.0.1:3233", &err);
    CHECK(api != NULL);

    CHECK_STR(uri(api, APIGW_WEBACTION_VANITY, "/public/index.html", 0,
                  "guest", NULL),
              "/api/v1/web/guest/public/index.html");
    CHECK_STR(uri(api, APIGW_WEBACTION_VANITY, "/pkg/act.http/a/b", 0,
                  "guest", "x=%20"),
              "/api/v1/web/guest/pkg/act.http/a/b?x=%20");
    /* dot segments cannot climb out of the namespace */
    CHECK_STR(uri(api, APIGW_WEBACTION_VANITY, "/../other/pkg/a", 0,
                  "guest", NULL),
              "BAD PATH");
    CHECK_STR(uri(api, APIGW_WEBACTION_VANITY, "/x/../pkg/a", 0,
                  "guest", NULL),
              "/api/v1/web/guest/pkg/a");
    CHECK_STR(uri(api, APIGW_WEBACTION_VANITY_INDEX, "/", 0, "guest", NULL),
              "/api/v1/web/guest/public/index.html");

    apigw_api_free(api);
}


TEST(webaction_path)
{
    char          scratch[256];
    apigw_path_t  p;

    CHECK(apigw_path_parse("/api/v1/web/ns/p/a", 18, scratch, &p) == 0);
    CHECK(apigw_webaction_path(&p));
    CHECK(apigw_path_parse("/api/v1/web/ns", 14, scratch, &p) == 0);
    CHECK(apigw_webaction_path(&p));
    CHECK(apigw_path_parse("/api/v1/web", 11, scratch, &p) == 0);
    CHECK(!apigw_webaction_path(&p));
    CHECK(apigw_path_parse("/api/v1/webx/ns", 15, scratch, &p) == 0);
    CHECK(!apigw_webaction_path(&p));
    CHECK(apigw_path_parse("/api/v2/web/ns", 14, scratch, &p) == 0);
    CHECK(!apigw_webaction_path(&p));
}


TEST(vanity_namespace)
{
    CHECK(apigw_vanity_namespace("guest.example.net", 17, "example.net", 11)
          == 5);
    CHECK(apigw_vanity_namespace("Guest-1.EXAMPLE.net", 19, "example.net",
                                 11) == 7);
    /* one label only, the edge's charset only */
    CHECK(apigw_vanity_namespace("a.b.example.net", 15, "example.net", 11)
          == 0);
    CHECK(apigw_vanity_namespace("a_b.example.net", 15, "example.net", 11)
          == 0);
    CHECK(apigw_vanity_namespace("example.net", 11, "example.net", 11) == 0);
    CHECK(apigw_vanity_namespace(".example.net", 12, "example.net", 11) == 0);
    CHECK(apigw_vanity_namespace("guestexample.net", 16, "example.net", 11)
          == 0);
    CHECK(apigw_vanity_namespace("guest.example.org", 17, "example.net", 11)
          == 0);
}


int
main(void)
{
    RUN(webaction_passthrough);
    RUN(webaction_prefixed_openwhisk_url);
    RUN(webaction_vanity);
    RUN(webaction_path);
    RUN(vanity_namespace);
    return UNIT_DONE();
}
