/*
 * Policies bound to plain web actions (see wabind.h).  The policy is
 * wrapped into an OpenAPI 3.0 document of one operation and imported, so
 * security schemes, requirements and rate limits mean exactly what they
 * mean in a spec, and problems carry pointers into the policy.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apigw.h"
#include "auth.h"
#include "wabind.h"
#include "../ratelimit/ratelimit.h"


struct apigw_wabtab_s {
    apigw_wabind_t  *items;
    size_t           n;
    size_t           cap;
    uint32_t        *slots;       /* index + 1; 0: empty */
    size_t           mask;
};


/* ---- paths ---- */

static int
apigw_wabind_name_ok(const char *s, size_t len)
{
    size_t  i;

    /* OpenWhisk's \A([\w]|[\w][\w@ .-]*[\w@.-]+)\z */
    if (len == 0 || len > APIGW_WABIND_MAX_NAME
        || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')
             || (s[0] >= '0' && s[0] <= '9') || s[0] == '_')
        || s[len - 1] == ' ')
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '@'
              || s[i] == '.' || s[i] == ' ' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* the length without a web-action extension OpenWhisk strips */
static size_t
apigw_wabind_strip_ext(const char *s, size_t len)
{
    size_t       i, k, n;
    static const char  *ext[] = { "json", "html", "http", "svg", "text" };

    for (i = len; i > 0; i--) {
        if (s[i - 1] == '.') {
            break;
        }
    }

    if (i == 0) {
        return len;
    }

    n = len - i;

    for (k = 0; k < sizeof(ext) / sizeof(ext[0]); k++) {
        if (strlen(ext[k]) == n && memcmp(s + i, ext[k], n) == 0) {
            return i - 1;
        }
    }

    return len;
}


const char *
apigw_wabind_path_check(const char *path)
{
    size_t       n, len;
    const char  *p, *e;

    n = 0;

    for (p = path; ; p = e + 1) {
        e = strchr(p, '/');
        len = e ? (size_t) (e - p) : strlen(p);

        if (!apigw_wabind_name_ok(p, len)) {
            return "a path segment is not an OpenWhisk name (letters, "
                   "digits, \"_\", \"@\", \".\", \" \", \"-\"; at most 256)";
        }

        n++;

        if (e == NULL) {
            break;
        }
    }

    if (n > 3) {
        return "a binding is for {namespace}, {namespace}/{package} or "
               "{namespace}/{package}/{action}";
    }

    if (n == 3 && apigw_wabind_strip_ext(p, len) != len) {
        return "the action name must not carry an extension";
    }

    return NULL;
}


/* ---- compiling a policy ---- */

/* problems of the import, with pointers mapped back into the policy */
static void
apigw_wabind_map_problems(apigw_problems_t *from, apigw_problems_t *to)
{
    size_t            i;
    const char       *ptr;
    apigw_problem_t  *pr;
    static const char  schemes[] = "/components/securitySchemes";

    for (i = 0; i < from->n; i++) {
        pr = &from->items[i];
        ptr = pr->pointer ? pr->pointer : "";

        if (strncmp(ptr, schemes, sizeof(schemes) - 1) == 0) {
            ptr += sizeof("/components") - 1;

        } else if (strncmp(ptr, "/security", 9) != 0
                   && strncmp(ptr, "/x-apigw-rate-limit", 19) != 0)
        {
            ptr = "";
        }

        apigw_problem_add(to, pr->warning, NULL, ptr, "%s", pr->message);
    }
}


static void
apigw_wabind_check(json_t *pol, apigw_problems_t *probs)
{
    char          ptr[600];
    size_t        i, k;
    json_t       *v, *schemes, *sec, *alt, *x;
    const char   *key, *name, *type;
    static const char  *sources[] = {
        "jwks_uri", "jwks_file", "secret_file", "introspection_endpoint",
        "userinfo_endpoint", "client_id", "client_secret_file"
    };

    json_object_foreach(pol, key, v) {
        if (strcmp(key, "securitySchemes") != 0
            && strcmp(key, "security") != 0
            && strcmp(key, "x-apigw-rate-limit") != 0)
        {
            snprintf(ptr, sizeof(ptr), "/%.500s", key);
            apigw_problem_add(probs, 0, NULL, ptr, "unknown member: a policy "
                              "has \"securitySchemes\", \"security\" and "
                              "\"x-apigw-rate-limit\"");
        }
    }

    schemes = json_object_get(pol, "securitySchemes");

    if (schemes && !json_is_object(schemes)) {
        apigw_problem_add(probs, 0, NULL, "/securitySchemes",
                          "must be an object");
        schemes = NULL;
    }

    json_object_foreach(schemes, name, v) {
        snprintf(ptr, sizeof(ptr), "/securitySchemes/%.400s", name);

        if (!json_is_object(v)) {
            continue;                   /* the importer says what is wrong */
        }

        type = json_string_value(json_object_get(v, "type"));

        /* no file, URL or secret of the gateway named by a tenant */
        if (type && strcmp(type, "openIdConnect") == 0) {
            apigw_problem_add(probs, 0, NULL, ptr, "openIdConnect is not "
                              "accepted in a binding: use a bearer scheme "
                              "whose keys come from the apigw_oauth2_provider"
                              " of the scheme's name (else \"default\")");
        }

        x = json_object_get(v, "x-apigw-jwt");

        for (k = 0; json_is_object(x)
                    && k < sizeof(sources) / sizeof(sources[0]); k++)
        {
            if (json_object_get(x, sources[k])) {
                apigw_problem_add(probs, 0, NULL, ptr, "x-apigw-jwt: "
                                  "\"%s\" is not accepted in a binding: key "
                                  "sources come from the apigw_oauth2_provider"
                                  " of the scheme's name (else \"default\")",
                                  sources[k]);
            }
        }
    }

    sec = json_object_get(pol, "security");

    if (sec && !json_is_array(sec)) {
        apigw_problem_add(probs, 0, NULL, "/security", "must be an array");
        return;
    }

    json_array_foreach(sec, i, alt) {
        json_object_foreach(alt, name, v) {
            if (json_object_get(schemes, name) == NULL) {
                snprintf(ptr, sizeof(ptr), "/security/%zu/%.400s", i, name);
                apigw_problem_add(probs, 0, NULL, ptr, "security scheme "
                                  "\"%.200s\" is not in \"securitySchemes\"",
                                  name);
            }
        }
    }

    if (sec == NULL && json_object_get(pol, "x-apigw-rate-limit") == NULL) {
        apigw_problem_add(probs, 0, NULL, "", "a policy needs \"security\" "
                          "or \"x-apigw-rate-limit\"");
    }
}


json_t *
apigw_wabind_inherit(json_t *policy, json_t *const *up, size_t nup,
    size_t *limits_from)
{
    size_t       i;
    json_t      *out, *from, *schemes, *own, *v;
    const char  *k;

    *limits_from = nup;

    out = json_is_object(policy) ? json_deep_copy(policy) : json_object();
    if (out == NULL) {
        return NULL;
    }

    if (json_object_get(out, "security") == NULL) {
        for (i = 0; i < nup; i++) {
            from = up[i];

            if (json_is_object(from)
                && json_object_get(from, "security") != NULL)
            {
                break;
            }
        }

        if (i < nup) {
            schemes = json_deep_copy(json_object_get(from,
                                                     "securitySchemes"));
            if (!json_is_object(schemes)) {
                json_decref(schemes);
                schemes = json_object();
            }

            /* the binding's own schemes win over the ancestor's */
            own = json_object_get(out, "securitySchemes");

            json_object_foreach(own, k, v) {
                if (schemes) {
                    (void) json_object_set(schemes, k, v);
                }
            }

            if (schemes == NULL
                || json_object_set_new(out, "securitySchemes", schemes) != 0
                || json_object_set(out, "security",
                                   json_object_get(from, "security")) != 0)
            {
                json_decref(out);
                return NULL;
            }
        }
    }

    if (json_object_get(out, "x-apigw-rate-limit") == NULL) {
        for (i = 0; i < nup; i++) {
            v = json_is_object(up[i])
                ? json_object_get(up[i], "x-apigw-rate-limit") : NULL;

            if (v != NULL) {
                if (json_object_set(out, "x-apigw-rate-limit", v) != 0) {
                    json_decref(out);
                    return NULL;
                }

                *limits_from = i;
                break;
            }
        }
    }

    return out;
}


apigw_api_t *
apigw_wabind_compile(const char *tenant, const char *path,
    const char *limits_of, const char *policy, size_t len,
    apigw_problems_t *probs)
{
    int                   rc;
    char                 *text, *base, *own;
    size_t                i, n, blen;
    json_t               *pol, *doc, *v;
    const char           *err;
    apigw_api_t          *api;
    apigw_scheme_t       *s;
    json_error_t          je;
    apigw_problems_t      ip;
    apigw_import_opts_t   opts;

    err = apigw_wabind_path_check(path);
    if (err == NULL && limits_of) {
        err = apigw_wabind_path_check(limits_of);
    }

    if (err) {
        apigw_problem_add(probs, 0, NULL, "", "%s", err);
        return NULL;
    }

    pol = json_loadb(policy, len, JSON_REJECT_DUPLICATES, &je);
    if (pol == NULL) {
        apigw_problem_add(probs, 0, NULL, "", "invalid JSON: line %d: %s",
                          je.line, je.text);
        return NULL;
    }

    if (!json_is_object(pol)) {
        json_decref(pol);
        apigw_problem_add(probs, 0, NULL, "", "a policy is a JSON object");
        return NULL;
    }

    n = probs->nerrors;
    apigw_wabind_check(pol, probs);

    if (probs->nerrors != n) {
        json_decref(pol);
        return NULL;
    }

    doc = json_pack("{s:s,s:{s:s,s:s},s:{s:{s:{s:s,s:{s:{s:s}}}}}}",
                    "openapi", "3.0.3",
                    "info", "title", path, "version", "1",
                    "paths", "/", "get", "operationId", path,
                    "responses", "200", "description", "ok");
    if (doc == NULL) {
        json_decref(pol);
        apigw_problem_add(probs, 0, NULL, "", "out of memory");
        return NULL;
    }

    v = json_object_get(pol, "securitySchemes");
    if (v) {
        json_object_set_new(doc, "components",
                            json_pack("{s:O}", "securitySchemes", v));
    }

    v = json_object_get(pol, "security");
    if (v) {
        json_object_set(doc, "security", v);
    }

    v = json_object_get(pol, "x-apigw-rate-limit");
    if (v) {
        json_object_set(doc, "x-apigw-rate-limit", v);
    }

    json_decref(pol);

    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    if (text == NULL) {
        apigw_problem_add(probs, 0, NULL, "", "out of memory");
        return NULL;
    }

    memset(&opts, 0, sizeof(apigw_import_opts_t));
    opts.file = path;
    opts.max_size = strlen(text) + 1;

    apigw_problems_init(&ip);
    api = apigw_import_buffer(text, strlen(text), &opts, &ip);
    free(text);

    /* only errors: warnings are about the wrapper (no backend, ...) */
    if (api == NULL) {
        n = ip.n;
        ip.n = 0;
        for (i = 0; i < n; i++) {
            if (!ip.items[i].warning) {
                ip.items[ip.n++] = ip.items[i];
            } else {
                free(ip.items[i].file);
                free(ip.items[i].pointer);
                free(ip.items[i].message);
            }
        }

        apigw_wabind_map_problems(&ip, probs);
        apigw_problems_free(&ip);

        if (probs->nerrors == 0) {
            apigw_problem_add(probs, 0, NULL, "", "invalid policy");
        }

        return NULL;
    }

    apigw_problems_free(&ip);

    if (api->nops != 1) {
        apigw_api_free(api);
        apigw_problem_add(probs, 0, NULL, "", "invalid policy");
        return NULL;
    }

    /* bearer keys come from the provider named like the scheme */
    for (i = 0; api->auth && i < api->auth->nschemes; i++) {
        s = &api->auth->schemes[i];

        if (s->type == APIGW_SCHEME_BEARER && s->jwt.provider == NULL) {
            s->jwt.provider = strdup(s->name);
            if (s->jwt.provider == NULL) {
                goto nomem;
            }
        }
    }

    /*
     * A base path of its own: API-scoped counters are the binding's.
     * Limits taken from a package or namespace count on that binding's
     * counters (its base path and name), so that opening one action
     * does not give it an allowance besides the package's.
     */
    if (limits_of == NULL) {
        limits_of = path;
    }

    blen = strlen(tenant) + strlen(path) + strlen(limits_of)
           + sizeof("/_webactions//");
    base = malloc(blen);
    if (base == NULL) {
        goto nomem;
    }

    own = api->file;
    api->file = (char *) limits_of;
    snprintf(base, blen, "/_webactions/%s/%s", tenant, limits_of);
    free(api->base_path);
    api->base_path = base;

    rc = api->ops[0].limits ? apigw_rl_attach(api->ops[0].limits,
                                              &api->ops[0])
                            : 0;

    api->file = own;
    snprintf(base, blen, "/_webactions/%s/%s", tenant, path);

    if (rc != 0) {
        goto nomem;
    }

    return api;

nomem:

    apigw_api_free(api);
    apigw_problem_add(probs, 0, NULL, "", "out of memory");
    return NULL;
}


/* ---- the table ---- */

static uint32_t
apigw_wabind_hash(const char *s, size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 16777619u;
    }

    return h;
}


apigw_wabtab_t *
apigw_wabtab_create(size_t n)
{
    size_t           cap;
    apigw_wabtab_t  *t;

    if (n > 0xfffffff0u / 4) {
        return NULL;
    }

    for (cap = 16; cap < 2 * n; cap *= 2) { /* void */ }

    t = calloc(1, sizeof(apigw_wabtab_t));
    if (t == NULL) {
        return NULL;
    }

    t->items = calloc(n ? n : 1, sizeof(apigw_wabind_t));
    t->slots = calloc(cap, sizeof(uint32_t));
    t->cap = n;
    t->mask = cap - 1;

    if (t->items == NULL || t->slots == NULL) {
        apigw_wabtab_free(t);
        return NULL;
    }

    return t;
}


static const apigw_wabind_t *
apigw_wabtab_find(const apigw_wabtab_t *t, const char *key, size_t len)
{
    size_t           s;
    apigw_wabind_t  *b;

    s = apigw_wabind_hash(key, len) & t->mask;

    while (t->slots[s]) {
        b = &t->items[t->slots[s] - 1];

        if (strlen(b->path) == len && memcmp(b->path, key, len) == 0) {
            return b;
        }

        s = (s + 1) & t->mask;
    }

    return NULL;
}


int
apigw_wabtab_add(apigw_wabtab_t *t, const char *path, const char *tenant,
    apigw_api_t *api)
{
    size_t           s;
    apigw_wabind_t  *b;

    if (t->n == t->cap || apigw_wabtab_find(t, path, strlen(path))) {
        apigw_api_free(api);
        return -1;
    }

    b = &t->items[t->n];
    b->path = strdup(path);
    b->tenant = strdup(tenant);
    b->api = api;

    if (b->path == NULL || b->tenant == NULL) {
        free(b->path);
        free(b->tenant);
        apigw_api_free(api);
        memset(b, 0, sizeof(apigw_wabind_t));
        return -1;
    }

    /* the tenant of the keys that may call it (src/keys.c) */
    api->tenant = b->tenant;

    s = apigw_wabind_hash(path, strlen(path)) & t->mask;

    while (t->slots[s]) {
        s = (s + 1) & t->mask;
    }

    t->slots[s] = (uint32_t) ++t->n;

    return 0;
}


size_t
apigw_wabtab_count(const apigw_wabtab_t *t)
{
    return t ? t->n : 0;
}


void
apigw_wabtab_free(apigw_wabtab_t *t)
{
    size_t  i;

    if (t == NULL) {
        return;
    }

    for (i = 0; i < t->n; i++) {
        free(t->items[i].path);
        free(t->items[i].tenant);
        apigw_api_free(t->items[i].api);
    }

    free(t->items);
    free(t->slots);
    free(t);
}


const apigw_wabind_t *
apigw_wabtab_match(const apigw_wabtab_t *t, const char *ns, size_t nslen,
    const char *pkg, size_t pkglen, const char *action, size_t alen)
{
    char                   key[3 * APIGW_WABIND_MAX_NAME + 3];
    size_t                 n;
    const apigw_wabind_t  *b;

    if (t == NULL || t->n == 0 || nslen == 0 || nslen > APIGW_WABIND_MAX_NAME)
    {
        return NULL;
    }

    memcpy(key, ns, nslen);
    n = nslen;

    if (pkg && pkglen && pkglen <= APIGW_WABIND_MAX_NAME) {
        key[n] = '/';
        memcpy(key + n + 1, pkg, pkglen);

        if (action && alen) {
            alen = apigw_wabind_strip_ext(action, alen);
        }

        if (action && alen && alen <= APIGW_WABIND_MAX_NAME) {
            key[n + 1 + pkglen] = '/';
            memcpy(key + n + 2 + pkglen, action, alen);

            b = apigw_wabtab_find(t, key, n + 2 + pkglen + alen);
            if (b) {
                return b;
            }
        }

        b = apigw_wabtab_find(t, key, n + 1 + pkglen);
        if (b) {
            return b;
        }
    }

    return apigw_wabtab_find(t, key, n);
}
