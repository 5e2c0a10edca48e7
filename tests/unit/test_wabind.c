/*
 * Policies bound to web actions: path checks, policy compilation (with
 * problems pointing into the policy) and the most-specific lookup.
 */

#include <stdlib.h>

#include <jansson.h>

#include "apigw.h"
#include "auth.h"
#include "wabind.h"
#include "../ratelimit/ratelimit.h"
#include "unit.h"


static const char *KEY_POLICY =
    "{\"securitySchemes\":{\"k\":{\"type\":\"apiKey\",\"in\":\"header\","
    "\"name\":\"X-Api-Key\"}},\"security\":[{\"k\":[]}]}";

static const char *RL_POLICY =
    "{\"x-apigw-rate-limit\":[{\"rate\":2,\"per\":\"minute\","
    "\"key\":\"global\"}]}";


static apigw_api_t *
compile(const char *path, const char *pol, apigw_problems_t *p)
{
    apigw_problems_init(p);
    return apigw_wabind_compile("t1", path, NULL, pol, strlen(pol), p);
}


static int
has_pointer(const apigw_problems_t *p, const char *ptr)
{
    size_t  i;

    for (i = 0; i < p->n; i++) {
        if (strcmp(p->items[i].pointer, ptr) == 0 && !p->items[i].warning) {
            return 1;
        }
    }

    return 0;
}


TEST(wabind_paths)
{
    CHECK(apigw_wabind_path_check("guest") == NULL);
    CHECK(apigw_wabind_path_check("guest/default") == NULL);
    CHECK(apigw_wabind_path_check("guest/demo/hello") == NULL);
    CHECK(apigw_wabind_path_check("user@example.com_dev/p/a-b.c") == NULL);
    CHECK(apigw_wabind_path_check("") != NULL);
    CHECK(apigw_wabind_path_check("a//b") != NULL);
    CHECK(apigw_wabind_path_check("a/b/c/d") != NULL);
    CHECK(apigw_wabind_path_check("a/b/") != NULL);
    CHECK(apigw_wabind_path_check("a/../b") != NULL);
    CHECK(apigw_wabind_path_check("a/b/hello.json") != NULL);
    /* a name starts with a letter, a digit or "_" */
    CHECK(apigw_wabind_path_check("guest/-x") != NULL);
    CHECK(apigw_wabind_path_check("guest/@x") != NULL);
    CHECK(apigw_wabind_path_check("guest/_x/9y") == NULL);
    CHECK(apigw_wabind_path_check("a/b%2Fc") != NULL);
}


TEST(wabind_compile_key)
{
    apigw_api_t       *api;
    apigw_problems_t   p;

    api = compile("guest/demo", KEY_POLICY, &p);
    CHECK(api != NULL);
    CHECK_INT(p.nerrors, 0);

    if (api) {
        CHECK_INT(api->nops, 1);
        CHECK(api->ops[0].security != NULL);
        CHECK(api->ops[0].limits == NULL);
        CHECK_STR(api->base_path, "/_webactions/t1/guest/demo");
        CHECK_INT(api->auth->nschemes, 1);
        CHECK_INT(api->auth->schemes[0].type, APIGW_SCHEME_APIKEY);
        apigw_api_free(api);
    }

    apigw_problems_free(&p);
}


TEST(wabind_compile_limits_and_bearer)
{
    apigw_api_t       *api;
    apigw_problems_t   p;

    api = compile("guest", RL_POLICY, &p);
    CHECK(api != NULL);

    if (api) {
        CHECK(api->ops[0].security == NULL);
        CHECK(api->ops[0].limits != NULL && api->ops[0].limits->n == 1);
        CHECK(api->ops[0].limits->items[0].scope_id != NULL);
        apigw_api_free(api);
    }

    apigw_problems_free(&p);

    api = compile("guest", "{\"securitySchemes\":{\"idp\":{\"type\":\"http\","
                  "\"scheme\":\"bearer\",\"x-apigw-jwt\":{\"issuer\":\"i\"}}},"
                  "\"security\":[{\"idp\":[\"read\"]}]}", &p);
    CHECK(api != NULL);

    if (api) {
        CHECK_INT(api->auth->schemes[0].type, APIGW_SCHEME_BEARER);
        CHECK_STR(api->auth->schemes[0].jwt.provider, "idp");
        CHECK_STR(api->auth->schemes[0].jwt.issuer, "i");
        apigw_api_free(api);
    }

    apigw_problems_free(&p);
}


TEST(wabind_compile_problems)
{
    apigw_api_t       *api;
    apigw_problems_t   p;

    /* every problem, each with its pointer into the policy */
    api = compile("guest", "{\"securitySchemes\":{\"k\":{\"type\":\"apiKey\","
                  "\"in\":\"nowhere\",\"name\":\"X\"},\"j\":{\"type\":\"http\","
                  "\"scheme\":\"bearer\",\"x-apigw-jwt\":{\"jwks_file\":"
                  "\"/etc/shadow\"}}},\"security\":[{\"nope\":[]}],"
                  "\"extra\":1}", &p);
    CHECK(api == NULL);
    CHECK(has_pointer(&p, "/extra"));
    CHECK(has_pointer(&p, "/securitySchemes/j"));
    CHECK(has_pointer(&p, "/security/0/nope"));
    apigw_problems_free(&p);

    /* the importer's own problems, mapped back */
    api = compile("guest", "{\"securitySchemes\":{\"k\":{\"type\":\"apiKey\","
                  "\"in\":\"nowhere\",\"name\":\"X\"}},\"security\":[{\"k\":"
                  "[]}],\"x-apigw-rate-limit\":[{\"rate\":-1}]}", &p);
    CHECK(api == NULL);
    CHECK(has_pointer(&p, "/securitySchemes/k/in")
          || has_pointer(&p, "/securitySchemes/k"));
    CHECK(p.nerrors >= 2);
    apigw_problems_free(&p);

    /* a URL the gateway would call is never a tenant's to name; a
       misspelt check is refused, not dropped */
    api = compile("guest", "{\"securitySchemes\":{\"j\":{\"type\":\"http\","
                  "\"scheme\":\"bearer\",\"x-apigw-jwt\":{\"userinfo_endpoint\""
                  ":\"http://10.0.0.1/\"}}},\"security\":[{\"j\":[]}]}", &p);
    CHECK(api == NULL);
    CHECK(has_pointer(&p, "/securitySchemes/j"));
    apigw_problems_free(&p);

    api = compile("guest", "{\"securitySchemes\":{\"a\":{\"type\":\"http\","
                  "\"scheme\":\"bearer\",\"x-apigw-jwt\":{\"audience\":\"x\""
                  "}}},\"security\":[{\"a\":[]}]}", &p);
    CHECK(api == NULL);
    CHECK(has_pointer(&p, "/securitySchemes/a/x-apigw-jwt/audience"));
    apigw_problems_free(&p);

    api = compile("guest", "[]", &p);
    CHECK(api == NULL && p.nerrors == 1);
    apigw_problems_free(&p);

    api = compile("guest", "{", &p);
    CHECK(api == NULL && p.nerrors == 1);
    apigw_problems_free(&p);

    api = compile("guest", "{}", &p);
    CHECK(api == NULL && has_pointer(&p, ""));
    apigw_problems_free(&p);

    api = compile("a/b/c/d", KEY_POLICY, &p);
    CHECK(api == NULL);
    apigw_problems_free(&p);
}


static const char *
match(apigw_wabtab_t *t, const char *ns, const char *pkg, const char *act)
{
    const apigw_wabind_t  *b;

    b = apigw_wabtab_match(t, ns, strlen(ns), pkg, pkg ? strlen(pkg) : 0,
                           act, act ? strlen(act) : 0);

    return b ? b->path : "-";
}


TEST(wabind_table)
{
    apigw_wabtab_t    *t;
    apigw_problems_t   p;

    t = apigw_wabtab_create(4);
    CHECK(t != NULL);

    CHECK_INT(apigw_wabtab_add(t, "guest", "t1",
                               compile("guest", KEY_POLICY, &p)), 0);
    apigw_problems_free(&p);
    CHECK_INT(apigw_wabtab_add(t, "guest/demo", "t1",
                               compile("guest/demo", KEY_POLICY, &p)), 0);
    apigw_problems_free(&p);
    CHECK_INT(apigw_wabtab_add(t, "guest/demo/hello", "t1",
                               compile("guest/demo/hello", RL_POLICY, &p)), 0);
    apigw_problems_free(&p);
    /* a duplicate is refused (and its API freed) */
    CHECK_INT(apigw_wabtab_add(t, "guest", "t1",
                               compile("guest", KEY_POLICY, &p)), -1);
    apigw_problems_free(&p);
    CHECK_INT(apigw_wabtab_count(t), 3);

    CHECK_STR(match(t, "guest", "demo", "hello"), "guest/demo/hello");
    CHECK_STR(match(t, "guest", "demo", "hello.json"), "guest/demo/hello");
    CHECK_STR(match(t, "guest", "demo", "hello.http"), "guest/demo/hello");
    CHECK_STR(match(t, "guest", "demo", "hello.svg"), "guest/demo/hello");
    /* an unknown extension is part of the name */
    CHECK_STR(match(t, "guest", "demo", "hello.zip"), "guest/demo");
    CHECK_STR(match(t, "guest", "demo", "other"), "guest/demo");
    CHECK_STR(match(t, "guest", "demo", NULL), "guest/demo");
    CHECK_STR(match(t, "guest", "default", "hello"), "guest");
    CHECK_STR(match(t, "guest", NULL, NULL), "guest");
    CHECK_STR(match(t, "other", "demo", "hello"), "-");
    CHECK_STR(match(t, "Guest", "demo", "hello"), "-");
    CHECK_STR(match(t, "gues", NULL, NULL), "-");
    CHECK_STR(match(t, "guest", "dem", "hello"), "guest");

    /* the tenant travels with the API, for the key scope */
    CHECK_STR(apigw_wabtab_match(t, "guest", 5, NULL, 0, NULL, 0)
              ->api->tenant, "t1");

    apigw_wabtab_free(t);

    CHECK_STR(match(NULL, "guest", NULL, NULL), "-");
}


/*
 * What a binding leaves out comes from above; inherited limits count on
 * the counters of the binding they came from.
 */
TEST(wabind_inherited_limits_share_counters)
{
    size_t             from;
    json_t            *pkg, *ns, *open, *own, *none, *up[2], *eff;
    apigw_api_t       *p, *a, *b;
    apigw_problems_t   probs;

    pkg = json_loads(RL_POLICY, 0, NULL);
    ns = json_loads(KEY_POLICY, 0, NULL);
    open = json_loads("{\"security\":[]}", 0, NULL);
    own = json_loads("{\"security\":[],\"x-apigw-rate-limit\":[]}", 0,
                     NULL);
    none = json_object();
    CHECK(pkg && ns && open && own && none);

    /* the action opened: the package's limit, from up[0] */
    up[0] = pkg;
    up[1] = ns;
    eff = apigw_wabind_inherit(open, up, 2, &from);
    CHECK(eff != NULL);
    CHECK_INT((int) from, 0);
    CHECK(json_array_size(json_object_get(eff, "x-apigw-rate-limit")) == 1);
    CHECK(json_array_size(json_object_get(eff, "security")) == 0);
    json_decref(eff);

    /* no package binding: the namespace's key, no limit anywhere */
    up[0] = NULL;
    eff = apigw_wabind_inherit(none, up, 2, &from);
    CHECK(eff != NULL);
    CHECK_INT((int) from, 2);
    CHECK(json_array_size(json_object_get(eff, "security")) == 1);
    CHECK(json_object_get(eff, "x-apigw-rate-limit") == NULL);
    json_decref(eff);

    /* its own (empty) limits: nothing inherited */
    up[0] = pkg;
    eff = apigw_wabind_inherit(own, up, 2, &from);
    CHECK(eff != NULL);
    CHECK_INT((int) from, 2);
    json_decref(eff);

    apigw_problems_init(&probs);
    p = apigw_wabind_compile("t1", "ns/pkg", NULL, RL_POLICY,
                             strlen(RL_POLICY), &probs);
    a = apigw_wabind_compile("t1", "ns/pkg/a", "ns/pkg", RL_POLICY,
                             strlen(RL_POLICY), &probs);
    b = apigw_wabind_compile("t1", "ns/pkg/b", NULL, RL_POLICY,
                             strlen(RL_POLICY), &probs);
    CHECK_INT((int) probs.nerrors, 0);
    CHECK(p && a && b);

    if (p && a && b) {
        CHECK_STR(a->ops[0].limits->items[0].scope_id,
                  p->ops[0].limits->items[0].scope_id);
        CHECK(strcmp(b->ops[0].limits->items[0].scope_id,
                     p->ops[0].limits->items[0].scope_id) != 0);
        /* the binding keeps its own name and base path */
        CHECK_STR(a->base_path, "/_webactions/t1/ns/pkg/a");
        CHECK_STR(a->file, "ns/pkg/a");
    }

    apigw_api_free(p);
    apigw_api_free(a);
    apigw_api_free(b);

    /* the path limits are counted on is checked as the binding's is */
    a = apigw_wabind_compile("t1", "ns/pkg/a", "a//b", RL_POLICY,
                             strlen(RL_POLICY), &probs);
    CHECK(a == NULL);
    apigw_problems_free(&probs);

    json_decref(pkg);
    json_decref(ns);
    json_decref(open);
    json_decref(own);
    json_decref(none);
}


int
main(void)
{
    RUN(wabind_paths);
    RUN(wabind_compile_key);
    RUN(wabind_compile_limits_and_bearer);
    RUN(wabind_compile_problems);
    RUN(wabind_table);
    RUN(wabind_inherited_limits_share_counters);
    return UNIT_DONE();
}
