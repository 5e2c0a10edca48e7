/*
 * The security model: security schemes (Swagger 2 securityDefinitions,
 * OpenAPI 3 components.securitySchemes, the openwhisk-apigateway compat
 * forms, apigw's x-apigw-jwt) and the requirements of every operation
 * (root `security`, per-operation override, `[]` / `{}` open; an OR of
 * alternatives, each an AND of schemes with scopes).
 *
 * A requirement naming an unknown or unsupported scheme fails closed: that
 * alternative can never be satisfied.
 */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oa.h"
#include "auth.h"


static void
oa_strv_free(char **v, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(v[i]);
    }

    free(v);
}


static void
oa_scheme_clear(apigw_scheme_t *s)
{
    apigw_jwt_conf_t  *j;

    j = &s->jwt;

    free(s->name);
    free(s->param);
    free(s->param2);
    free(j->issuer);
    oa_strv_free(j->audiences, j->naudiences);
    free(j->jwks_uri);
    free(j->jwks_file);
    free(j->discovery_url);
    free(j->secret_file);
    oa_strv_free(j->required_claims, j->nrequired_claims);
    free(j->introspection_endpoint);
    free(j->userinfo_endpoint);
    free(j->client_id);
    free(j->client_secret_file);
    free(j->provider);
}


static void
oa_security_list_free(apigw_security_t *sec)
{
    size_t  i, k;

    if (sec == NULL) {
        return;
    }

    for (i = 0; i < sec->nalts; i++) {
        for (k = 0; k < sec->alts[i].nterms; k++) {
            oa_strv_free(sec->alts[i].terms[k].scopes,
                         sec->alts[i].terms[k].nscopes);
        }
        free(sec->alts[i].terms);
    }

    free(sec->alts);
    free(sec);
}


void
apigw_auth_free(apigw_auth_t *auth)
{
    size_t  i;

    if (auth == NULL) {
        return;
    }

    for (i = 0; i < auth->nschemes; i++) {
        oa_scheme_clear(&auth->schemes[i]);
    }

    for (i = 0; i < auth->nreqs; i++) {
        oa_security_list_free(auth->reqs[i]);
    }

    free(auth->schemes);
    free(auth->reqs);
    free(auth);
}


/* a string or an array of strings; -1 after a problem */
static int
oa_strv(oa_ctx_t *c, json_t *obj, const char *key, char ***out, size_t *n)
{
    size_t   i;
    json_t  *v, *e;

    v = json_object_get(obj, key);
    if (v == NULL) {
        return 0;
    }

    if (json_is_string(v)) {
        *out = calloc(1, sizeof(char *));
        if (*out == NULL || ((*out)[0] = oa_strdup(c, json_string_value(v)))
                            == NULL)
        {
            c->oom = 1;
            return -1;
        }
        *n = 1;
        return 0;
    }

    if (!json_is_array(v)) {
        oa_error_at(c, key, "must be a string or an array of strings, not "
                    "%s", oa_type_name(v));
        return -1;
    }

    *out = calloc(json_array_size(v) + 1, sizeof(char *));
    if (*out == NULL) {
        c->oom = 1;
        return -1;
    }

    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            oa_error_at(c, key, "must be an array of strings");
            return -1;
        }

        (*out)[(*n)++] = oa_strdup(c, json_string_value(e));
    }

    return 0;
}


static void
oa_jwt_conf(oa_ctx_t *c, json_t *t, apigw_scheme_t *s)
{
    size_t             i, old;
    char             **algs;
    size_t             nalgs;
    json_t            *x, *v;
    const char        *str;
    apigw_jwa_e        a;
    apigw_jwt_conf_t  *j;
    static const struct {
        const char  *key;
        size_t       off;
    } strs[] = {
        { "issuer", offsetof(apigw_jwt_conf_t, issuer) },
        { "jwks_uri", offsetof(apigw_jwt_conf_t, jwks_uri) },
        { "jwks_file", offsetof(apigw_jwt_conf_t, jwks_file) },
        { "secret_file", offsetof(apigw_jwt_conf_t, secret_file) },
        { "introspection_endpoint",
          offsetof(apigw_jwt_conf_t, introspection_endpoint) },
        { "userinfo_endpoint",
          offsetof(apigw_jwt_conf_t, userinfo_endpoint) },
        { "client_id", offsetof(apigw_jwt_conf_t, client_id) },
        { "client_secret_file",
          offsetof(apigw_jwt_conf_t, client_secret_file) },
        { NULL, 0 }
    };

    j = &s->jwt;
    j->leeway = APIGW_LEEWAY_DEFAULT;

    if (oa_get_object(c, t, "x-apigw-jwt", 0, &x) != 0 || x == NULL) {
        return;
    }

    s->has_jwt_conf = 1;
    old = oa_ptr_push(c, "x-apigw-jwt");

    /* a misspelt check ("audience") would be no check: refused */
    json_object_foreach(x, str, v) {
        for (i = 0; strs[i].key && strcmp(strs[i].key, str) != 0; i++) {
            /* void */
        }

        if (strs[i].key == NULL && strcmp(str, "audiences") != 0
            && strcmp(str, "required_claims") != 0
            && strcmp(str, "algorithms") != 0 && strcmp(str, "leeway") != 0)
        {
            oa_error_at(c, str, "unknown field \"%s\": x-apigw-jwt has "
                        "issuer, audiences, algorithms, leeway, "
                        "required_claims, jwks_uri, jwks_file, secret_file, "
                        "introspection_endpoint, userinfo_endpoint, "
                        "client_id and client_secret_file", str);
        }
    }

    for (i = 0; strs[i].key; i++) {
        if (oa_get_string(c, x, strs[i].key, 0, &str) == 0 && str) {
            *(char **) ((char *) j + strs[i].off) = oa_strdup(c, str);
        }
    }

    oa_strv(c, x, "audiences", &j->audiences, &j->naudiences);
    oa_strv(c, x, "required_claims", &j->required_claims,
            &j->nrequired_claims);

    algs = NULL;
    nalgs = 0;

    if (oa_strv(c, x, "algorithms", &algs, &nalgs) == 0) {
        for (i = 0; i < nalgs; i++) {
            a = apigw_jwa_parse(algs[i], strlen(algs[i]));
            if (a == APIGW_JWA_NONE) {
                oa_error_at(c, "algorithms", "unsupported algorithm \"%s\"",
                            algs[i]);
            } else {
                j->algorithms |= 1u << a;
            }
        }
    }

    oa_strv_free(algs, nalgs);

    v = json_object_get(x, "leeway");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0
            || json_integer_value(v) > APIGW_LEEWAY_MAX)
        {
            oa_error_at(c, "leeway", "must be an integer of seconds, 0 to %d",
                        APIGW_LEEWAY_MAX);
        } else {
            j->leeway = (long) json_integer_value(v);
            j->leeway_set = 1;
        }
    }

    /*
     * One key source: the module uses the first of jwks_file, secret_file,
     * jwks_uri and discovery, and an openIdConnect scheme's issuer comes
     * from its discovery document only when that is what gives the keys.
     */

    if ((j->jwks_file != NULL) + (j->secret_file != NULL)
        + (j->jwks_uri != NULL) > 1)
    {
        oa_error(c, "jwks_file, secret_file and jwks_uri exclude each other "
                 "(several keys, HS secrets too: a jwks_file)");

    } else if (j->discovery_url && j->issuer == NULL
               && (j->jwks_file || j->secret_file || j->jwks_uri))
    {
        oa_error(c, "an openIdConnect scheme with its own jwks_file, "
                 "secret_file or jwks_uri needs an issuer (the discovered "
                 "one is not used)");
    }

    if ((j->algorithms & APIGW_JWA_HS_MASK) && j->secret_file == NULL
        && j->jwks_file == NULL)
    {
        oa_error(c, "HS algorithms need a secret_file (or a jwks_file "
                 "with an \"oct\" key)");
    }

    if (j->jwks_uri == NULL && j->jwks_file == NULL && j->secret_file == NULL
        && j->introspection_endpoint == NULL && j->discovery_url == NULL
        && j->userinfo_endpoint == NULL)
    {
        oa_warn(c, "no key source (jwks_uri, jwks_file, secret_file, "
                "introspection_endpoint): the global issuers are used");
    }

    oa_ptr_pop(c, old);
}


static int
oa_in(oa_ctx_t *c, json_t *t, int *in)
{
    const char  *s;

    *in = APIGW_IN_HEADER;

    if (oa_get_string(c, t, "in", 0, &s) != 0) {
        return -1;
    }

    if (s == NULL || strcmp(s, "header") == 0) {
        return 0;
    }

    if (strcmp(s, "query") == 0) {
        *in = APIGW_IN_QUERY;
        return 0;
    }

    if (strcmp(s, "cookie") == 0) {
        *in = APIGW_IN_COOKIE;
        return 0;
    }

    oa_error_at(c, "in", "must be \"header\", \"query\" or \"cookie\"");
    return -1;
}


static void
oa_scheme(oa_ctx_t *c, const char *key, json_t *t, apigw_scheme_t *s)
{
    const char  *type, *str;

    s->name = oa_strdup(c, key);
    s->type = APIGW_SCHEME_UNSUPPORTED;
    s->jwt.leeway = APIGW_LEEWAY_DEFAULT;

    if (oa_get_string(c, t, "type", 0, &type) != 0 || type == NULL) {
        return;
    }

    if (c->api->spec_version == APIGW_SPEC_SWAGGER2
        && strcmp(type, "http") == 0)
    {
        return;                  /* not a Swagger 2 type: reported */
    }

    if (strcmp(type, "apiKey") == 0) {
        s->type = APIGW_SCHEME_APIKEY;
        oa_in(c, t, &s->in);

        if (oa_get_string(c, t, "name", 1, &str) == 0 && str) {
            if (str[0] == '\0') {
                oa_error_at(c, "name", "must not be empty");
            }
            s->param = oa_strdup(c, str);
        }

    } else if (strcmp(type, "http") == 0) {
        if (oa_get_string(c, t, "scheme", 1, &str) == 0 && str
            && strcasecmp(str, "bearer") == 0)
        {
            s->type = APIGW_SCHEME_BEARER;
            oa_jwt_conf(c, t, s);

        } else {
            oa_warn(c, "http scheme \"%s\" is not supported: operations "
                    "requiring it are refused", str ? str : "");
        }

    } else if (strcmp(type, "oauth2") == 0) {
        s->type = APIGW_SCHEME_BEARER;
        s->jwt.provider = oa_strdup(c, key);
        oa_jwt_conf(c, t, s);

    } else if (strcmp(type, "openIdConnect") == 0) {
        s->type = APIGW_SCHEME_BEARER;

        if (oa_get_string(c, t, "openIdConnectUrl", 1, &str) == 0 && str) {
            s->jwt.discovery_url = oa_strdup(c, str);
        }

        oa_jwt_conf(c, t, s);

    } else {
        oa_warn(c, "security scheme type \"%s\" is not supported: "
                "operations requiring it are refused", type);
    }
}


static apigw_scheme_t *
oa_scheme_find(apigw_auth_t *auth, const char *name)
{
    size_t  i;

    for (i = 0; i < auth->nschemes; i++) {
        if (auth->schemes[i].name && strcmp(auth->schemes[i].name, name) == 0)
        {
            return &auth->schemes[i];
        }
    }

    return NULL;
}


/* compat: client_id + client_secret apiKey definitions are one scheme */
static apigw_scheme_t *
oa_scheme_lookup(apigw_auth_t *auth, const char *name, int compat_client)
{
    if (compat_client
        && (strcmp(name, "client_id") == 0
            || strcmp(name, "client_secret") == 0))
    {
        return oa_scheme_find(auth, "client_id");
    }

    return oa_scheme_find(auth, name);
}


static int
oa_reqs_add(oa_ctx_t *c, apigw_auth_t *auth, apigw_security_t *sec)
{
    apigw_security_t  **r;

    r = realloc(auth->reqs, (auth->nreqs + 1) * sizeof(apigw_security_t *));
    if (r == NULL) {
        c->oom = 1;
        oa_security_list_free(sec);
        return -1;
    }

    auth->reqs = r;
    auth->reqs[auth->nreqs++] = sec;
    return 0;
}


/*
 * A `security` array into a requirement list; NULL when it is open ([] or
 * holds {}), *present set when the field exists.
 */
static apigw_security_t *
oa_requirement(oa_ctx_t *c, apigw_auth_t *auth, json_t *list,
    int compat_client)
{
    size_t             i, k, n;
    json_t            *req, *scopes, *e;
    const char        *name;
    apigw_scheme_t    *s;
    apigw_sec_alt_t   *alt;
    apigw_sec_term_t  *term;
    apigw_security_t  *sec;

    if (!json_is_array(list) || json_array_size(list) == 0) {
        return NULL;
    }

    json_array_foreach(list, i, req) {
        if (!json_is_object(req) || json_object_size(req) == 0) {
            return NULL;                     /* an open alternative */
        }
    }

    sec = calloc(1, sizeof(apigw_security_t));
    if (sec == NULL
        || (sec->alts = calloc(json_array_size(list),
                               sizeof(apigw_sec_alt_t))) == NULL)
    {
        free(sec);
        c->oom = 1;
        return NULL;
    }

    if (oa_reqs_add(c, auth, sec) != 0) {
        return NULL;
    }

    json_array_foreach(list, i, req) {
        alt = &sec->alts[sec->nalts++];

        alt->terms = calloc(json_object_size(req), sizeof(apigw_sec_term_t));
        if (alt->terms == NULL) {
            c->oom = 1;
            return sec;
        }

        json_object_foreach(req, name, scopes) {
            s = oa_scheme_lookup(auth, name, compat_client);

            /* the same compat client scheme twice in one alternative */
            for (k = 0; k < alt->nterms; k++) {
                if (s && alt->terms[k].scheme == s) {
                    break;
                }
            }

            if (k < alt->nterms) {
                continue;
            }

            term = &alt->terms[alt->nterms++];
            term->scheme = s;              /* NULL: never satisfied */

            if (!json_is_array(scopes) || json_array_size(scopes) == 0) {
                continue;
            }

            n = json_array_size(scopes);
            term->scopes = calloc(n, sizeof(char *));
            if (term->scopes == NULL) {
                c->oom = 1;
                return sec;
            }

            json_array_foreach(scopes, k, e) {
                if (json_is_string(e)) {
                    term->scopes[term->nscopes++] =
                        oa_strdup(c, json_string_value(e));
                }
            }
        }
    }

    return sec;
}


/* openwhisk-apigateway: every definition applies, ANDed, to every op */
static apigw_security_t *
oa_requirement_all(oa_ctx_t *c, apigw_auth_t *auth)
{
    size_t             i;
    apigw_sec_alt_t   *alt;
    apigw_security_t  *sec;

    if (auth->nschemes == 0) {
        return NULL;
    }

    sec = calloc(1, sizeof(apigw_security_t));
    if (sec == NULL || (sec->alts = calloc(1, sizeof(apigw_sec_alt_t)))
                       == NULL
        || (sec->alts[0].terms = calloc(auth->nschemes,
                                        sizeof(apigw_sec_term_t))) == NULL)
    {
        if (sec) {
            free(sec->alts);
        }
        free(sec);
        c->oom = 1;
        return NULL;
    }

    sec->nalts = 1;
    alt = &sec->alts[0];

    for (i = 0; i < auth->nschemes; i++) {
        alt->terms[alt->nterms++].scheme = &auth->schemes[i];
    }

    if (oa_reqs_add(c, auth, sec) != 0) {
        return NULL;
    }

    return sec;
}


void
oa_security_model(oa_ctx_t *c, json_t *schemes)
{
    int                 compat_client, compat_all, any;
    char               *saved;
    size_t              i, n, old, old2;
    json_t             *v, *t, *id, *sec, *list;
    const char         *k, *str;
    apigw_auth_t       *auth;
    apigw_scheme_t     *s;
    apigw_security_t   *root;

    auth = calloc(1, sizeof(apigw_auth_t));
    if (auth == NULL) {
        c->oom = 1;
        return;
    }

    c->api->auth = auth;

    n = json_is_object(schemes) ? json_object_size(schemes) : 0;

    if (n) {
        auth->schemes = calloc(n, sizeof(apigw_scheme_t));
        if (auth->schemes == NULL) {
            c->oom = 1;
            return;
        }
    }

    /*
     * openwhisk-apigateway's clientSecret: apiKey definitions named
     * client_id and client_secret are one check of the pair
     */

    id = n ? json_object_get(schemes, "client_id") : NULL;
    sec = n ? json_object_get(schemes, "client_secret") : NULL;
    compat_client = c->api->spec_version == APIGW_SPEC_SWAGGER2
                    && json_is_object(id) && json_is_object(sec)
                    && json_is_string(json_object_get(id, "type"))
                    && strcmp(json_string_value(json_object_get(id, "type")),
                              "apiKey") == 0;

    old = c->ptr.len;
    oa_ptr_push(c, c->api->spec_version == APIGW_SPEC_SWAGGER2
                   ? "securityDefinitions" : "components");
    if (c->api->spec_version != APIGW_SPEC_SWAGGER2) {
        oa_ptr_push(c, "securitySchemes");
    }

    if (n) {
        json_object_foreach(schemes, k, v) {
            if (compat_client && strcmp(k, "client_secret") == 0) {
                continue;
            }

            /* the importer reported bad references already */
            old2 = oa_ptr_push(c, k);
            t = oa_deref_quiet(c, v, &saved);

            if (t != NULL && json_is_object(t)) {
                s = &auth->schemes[auth->nschemes++];
                oa_scheme(c, k, t, s);

                if (compat_client && strcmp(k, "client_id") == 0) {
                    s->type = APIGW_SCHEME_CLIENT_SECRET;
                    str = json_string_value(json_object_get(sec, "name"));
                    s->param2 = oa_strdup(c, str ? str : "X-Client-Secret");
                    if (oa_in(c, sec, &s->in2) != 0) {
                        s->type = APIGW_SCHEME_UNSUPPORTED;
                    }

                    if (s->param == NULL) {
                        s->param = oa_strdup(c, "X-Client-ID");
                    }
                }
            }

            if (t != NULL) {
                oa_deref_done(c, saved);
            }

            oa_ptr_pop(c, old2);
        }
    }

    oa_ptr_pop(c, old);

    /* requirements */

    list = json_object_get(c->root, "security");
    any = list != NULL;

    for (i = 0; i < c->api->nops && !any; i++) {
        any = c->info[i].op
              && json_object_get(c->info[i].op, "security") != NULL;
    }

    compat_all = !any && c->api->spec_version == APIGW_SPEC_SWAGGER2
                 && auth->nschemes
                 && (json_object_get(c->root, "x-gateway-configuration")
                     || json_object_get(c->root, "x-ibm-configuration"));

    if (compat_all) {
        root = oa_requirement_all(c, auth);

    } else {
        root = oa_requirement(c, auth, list, compat_client);
    }

    for (i = 0; i < c->api->nops; i++) {
        list = c->info[i].op ? json_object_get(c->info[i].op, "security")
                             : NULL;

        c->api->ops[i].security = list
                                  ? oa_requirement(c, auth, list,
                                                   compat_client)
                                  : root;
    }
}
