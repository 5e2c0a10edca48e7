/*
 * The OpenAPI importer: Swagger 2.0, OpenAPI 3.0 and 3.1 documents, JSON or
 * YAML, to an apigw_api_t.  Every problem is reported with a JSON pointer;
 * the walk goes on after errors so that one run lists them all.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "oa.h"


static const char  *oa_methods[APIGW_M_COUNT] = {
    "get", "put", "post", "delete", "options", "head", "patch", "trace"
};


static int
oa_bad_char(int ch)
{
    return ch <= 0x20 || ch == 0x7f || ch == '?' || ch == '#';
}


/*
 * A base path normalised: a leading "/", no trailing "/", no empty or "."
 * segments; "/" becomes "".  Returns NULL (with *err) when invalid.
 */
static char *
oa_base_normalise(oa_ctx_t *c, const char *s, size_t len, const char **err)
{
    char    *out, *p;
    size_t   i, n;

    *err = NULL;

    for (i = 0; i < len; i++) {
        if (oa_bad_char((unsigned char) s[i]) || s[i] == '\0') {
            *err = "must not contain \"?\", \"#\", whitespace or control "
                   "characters";
            return NULL;
        }

        if (s[i] == '{' || s[i] == '}') {
            *err = "must not contain parameters";
            return NULL;
        }
    }

    out = malloc(len + 2);
    if (out == NULL) {
        c->oom = 1;
        return NULL;
    }

    p = out;
    i = 0;

    while (i < len) {
        while (i < len && s[i] == '/') {
            i++;
        }

        for (n = 0; i + n < len && s[i + n] != '/'; n++) { }

        if (n == 0 || (n == 1 && s[i] == '.')) {
            i += n;
            continue;
        }

        if (n == 2 && s[i] == '.' && s[i + 1] == '.') {
            free(out);
            *err = "must not contain \"..\" segments";
            return NULL;
        }

        *p++ = '/';
        memcpy(p, s + i, n);
        p += n;
        i += n;
    }

    *p = '\0';

    return out;
}


static void
oa_version(oa_ctx_t *c)
{
    json_t      *v;
    const char  *s, *key;

    key = "openapi";
    v = json_object_get(c->root, key);

    if (v == NULL) {
        key = "swagger";
        v = json_object_get(c->root, key);
    }

    if (v == NULL) {
        oa_error(c, "not an OpenAPI document: no \"openapi\" or \"swagger\" "
                 "field");
        return;
    }

    /* `swagger: 2.0` unquoted in YAML is a number */
    if (json_is_number(v)) {
        if (key[0] == 's' && json_number_value(v) == 2.0) {
            oa_warn_at(c, key, "should be the string \"2.0\"");
            c->api->spec_version = APIGW_SPEC_SWAGGER2;
            return;
        }

        if (key[0] == 'o' && json_number_value(v) == 3.0) {
            oa_warn_at(c, key, "should be a string such as \"3.0.3\"");
            c->api->spec_version = APIGW_SPEC_OAS30;
            return;
        }

        if (key[0] == 'o' && json_number_value(v) == 3.1) {
            oa_warn_at(c, key, "should be a string such as \"3.1.0\"");
            c->api->spec_version = APIGW_SPEC_OAS31;
            return;
        }
    }

    if (!json_is_string(v)) {
        oa_error_at(c, key, "must be a string, not %s", oa_type_name(v));
        return;
    }

    s = json_string_value(v);

    if (key[0] == 's') {
        if (strcmp(s, "2.0") == 0) {
            c->api->spec_version = APIGW_SPEC_SWAGGER2;
            return;
        }

    } else if (strncmp(s, "3.0", 3) == 0 && (s[3] == '\0' || s[3] == '.')) {
        c->api->spec_version = APIGW_SPEC_OAS30;
        return;

    } else if (strncmp(s, "3.1", 3) == 0 && (s[3] == '\0' || s[3] == '.')) {
        c->api->spec_version = APIGW_SPEC_OAS31;
        return;
    }

    oa_error_at(c, key, "unsupported version \"%s\" (supported: swagger "
                "2.0, openapi 3.0.x and 3.1.x)", s);
}


static void
oa_info(oa_ctx_t *c)
{
    json_t      *info, *v;
    size_t       old;
    const char  *s;

    c->api->title = oa_strdup(c, "");
    c->api->version = oa_strdup(c, "");

    if (oa_get_object(c, c->root, "info", 0, &info) != 0) {
        return;
    }

    if (info == NULL) {
        oa_warn(c, "missing \"info\": the API has no title");
        return;
    }

    old = oa_ptr_push(c, "info");

    if (oa_get_string(c, info, "title", 0, &s) == 0) {
        if (s != NULL) {
            free(c->api->title);
            c->api->title = oa_strdup(c, s);

        } else {
            oa_warn(c, "missing \"title\"");
        }
    }

    v = json_object_get(info, "version");

    if (v == NULL) {
        oa_warn(c, "missing \"version\"");

    } else if (json_is_string(v)) {
        free(c->api->version);
        c->api->version = oa_strdup(c, json_string_value(v));

    } else if (json_is_number(v)) {
        /* `version: 1.0` unquoted in YAML */
        oa_warn_at(c, "version", "should be a string, not a number");
        free(c->api->version);
        c->api->version = oa_number_text(v);
        if (c->api->version == NULL) {
            c->oom = 1;
        }

    } else {
        oa_error_at(c, "version", "must be a string, not %s",
                    oa_type_name(v));
    }

    oa_ptr_pop(c, old);
}


/*
 * The path of holder's servers[0].url with its variables substituted
 * (normalised as a base path), or NULL: no servers, or reported.
 */
static char *
oa_server_path(oa_ctx_t *c, json_t *holder)
{
    char        *url, *saved, *base, *tmp;
    size_t       old, old3, n, cap, len;
    json_t      *servers, *srv, *vars, *var;
    const char  *s, *e, *def, *err, *p;

    base = NULL;

    if (oa_get_array(c, holder, "servers", 0, &servers) != 0
        || servers == NULL || json_array_size(servers) == 0)
    {
        return NULL;
    }

    old = oa_ptr_push(c, "servers");
    oa_ptr_push_index(c, 0);

    srv = oa_deref(c, json_array_get(servers, 0), &saved);

    if (srv == NULL) {
        goto done;
    }

    if (!json_is_object(srv)) {
        oa_error(c, "must be an object, not %s", oa_type_name(srv));
        goto deref_done;
    }

    if (oa_get_string(c, srv, "url", 1, &s) != 0
        || oa_get_object(c, srv, "variables", 0, &vars) != 0)
    {
        goto deref_done;
    }

    cap = strlen(s) + 1;
    url = malloc(cap);
    if (url == NULL) {
        c->oom = 1;
        goto deref_done;
    }

    len = 0;

    for ( ; *s; s++) {
        if (*s == '{' && (e = strchr(s, '}')) != NULL) {
            var = vars ? json_object_getn(vars, s + 1, (size_t) (e - s - 1))
                       : NULL;

            if (var == NULL) {
                oa_error_at(c, "url", "undefined server variable \"%.*s\"",
                            (int) (e - s - 1), s + 1);
                free(url);
                goto deref_done;
            }

            def = json_is_object(var)
                  ? json_string_value(json_object_get(var, "default"))
                  : NULL;

            if (def == NULL) {
                old3 = oa_ptr_push(c, "variables");
                oa_ptr_push_n(c, s + 1, (size_t) (e - s - 1));
                oa_error(c, "a server variable needs a string \"default\"");
                oa_ptr_pop(c, old3);
                free(url);
                goto deref_done;
            }

            n = strlen(def);
            cap += n;
            tmp = realloc(url, cap);
            if (tmp == NULL) {
                free(url);
                c->oom = 1;
                goto deref_done;
            }
            url = tmp;
            memcpy(url + len, def, n);
            len += n;
            s = e;
            continue;
        }

        url[len++] = *s;
    }

    url[len] = '\0';

    /* scheme://authority/path or //authority/path: keep the path */
    p = url;
    for (e = url; *e && *e != ':' && *e != '/' && *e != '?' && *e != '#';
         e++)
    { }

    if (e[0] == ':' && e[1] == '/' && e[2] == '/') {
        p = e + 3;
        p += strcspn(p, "/?#");

    } else if (url[0] == '/' && url[1] == '/') {
        p = url + 2;
        p += strcspn(p, "/?#");
    }

    base = oa_base_normalise(c, p, strlen(p), &err);

    if (base == NULL && err != NULL) {
        oa_error_at(c, "url", "the path of the server URL \"%s\" %s", url,
                    err);
    }

    free(url);

deref_done:
    oa_deref_done(c, saved);
done:
    oa_ptr_pop(c, old);

    return base;
}


static void
oa_base_path(oa_ctx_t *c)
{
    char        *base;
    const char  *s, *err;

    c->api->base_path = oa_strdup(c, "");

    if (c->api->spec_version != APIGW_SPEC_SWAGGER2) {
        base = oa_server_path(c, c->root);

        if (base != NULL) {
            free(c->api->base_path);
            c->api->base_path = base;
        }

        return;
    }

    if (oa_get_string(c, c->root, "basePath", 0, &s) != 0 || s == NULL) {
        return;
    }

    base = oa_base_normalise(c, s, strlen(s), &err);

    if (base == NULL) {
        if (err != NULL) {
            oa_error_at(c, "basePath", "%s", err);
        }
        return;
    }

    free(c->api->base_path);
    c->api->base_path = base;
}


static int
oa_in_valid(oa_ctx_t *c, const char *in)
{
    static const char  *v3[] = { "path", "query", "header", "cookie", NULL };
    static const char  *v2[] = { "path", "query", "header", "formData",
                                 "body", NULL };
    const char        **v;

    for (v = c->api->spec_version == APIGW_SPEC_SWAGGER2 ? v2 : v3; *v; v++)
    {
        if (strcmp(*v, in) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * Check the `parameters` list of a path item or an operation: sets a bit in
 * *found for each template name declared "in: path", warns about path
 * parameters the template does not have.
 */
static int oa_op_extension(const char *k);


static void
oa_params(oa_ctx_t *c, json_t *holder, const char **names,
    const size_t *lens, size_t n, unsigned *found)
{
    int          hit;
    char        *saved;
    size_t       i, k, old, old2;
    json_t      *list, *p, *t;
    const char  *name, *in;

    if (oa_get_array(c, holder, "parameters", 0, &list) != 0
        || list == NULL)
    {
        return;
    }

    old = oa_ptr_push(c, "parameters");

    json_array_foreach(list, i, p) {
        old2 = oa_ptr_push_index(c, i);
        t = oa_deref(c, p, &saved);

        if (t == NULL) {
            oa_ptr_pop(c, old2);
            continue;
        }

        if (!json_is_object(t)) {
            oa_error(c, "must be an object, not %s", oa_type_name(t));

        } else {
            oa_get_string(c, t, "name", 1, &name);
            oa_get_string(c, t, "in", 1, &in);

            if (in != NULL && !oa_in_valid(c, in)) {
                oa_error_at(c, "in", "unknown parameter location \"%s\"",
                            in);
            }

            if (name != NULL && in != NULL && strcmp(in, "path") == 0) {
                /* a name may appear twice in a template */
                for (hit = 0, k = 0; k < n; k++) {
                    if (lens[k] == strlen(name)
                        && memcmp(names[k], name, lens[k]) == 0)
                    {
                        *found |= 1u << k;
                        hit = 1;
                    }
                }

                if (!hit) {
                    oa_warn(c, "path parameter \"%s\" is not in the path "
                            "template", name);
                }
            }
        }

        oa_deref_done(c, saved);
        oa_ptr_pop(c, old2);
    }

    oa_ptr_pop(c, old);
}


static apigw_operation_t *
oa_op_add(oa_ctx_t *c)
{
    size_t              cap;
    oa_opinfo_t        *info;
    apigw_operation_t  *ops;

    if (c->api->nops == c->ops_cap) {
        cap = c->ops_cap ? c->ops_cap * 2 : 16;

        ops = realloc(c->api->ops, cap * sizeof(apigw_operation_t));
        if (ops == NULL) {
            c->oom = 1;
            return NULL;
        }
        c->api->ops = ops;

        info = realloc(c->info, cap * sizeof(oa_opinfo_t));
        if (info == NULL) {
            c->oom = 1;
            return NULL;
        }
        c->info = info;

        c->ops_cap = cap;
    }

    memset(&c->api->ops[c->api->nops], 0, sizeof(apigw_operation_t));
    memset(&c->info[c->api->nops], 0, sizeof(oa_opinfo_t));

    return &c->api->ops[c->api->nops++];
}


static void
oa_operation(oa_ctx_t *c, apigw_method_e m, json_t *op, const char *tmpl,
    size_t tlen, const char **names, const size_t *lens, size_t n,
    unsigned found, json_t *opids)
{
    size_t              k;
    json_t             *prev;
    const char         *id;
    apigw_operation_t  *o;

    if (!json_is_object(op)) {
        oa_error(c, "must be an object, not %s", oa_type_name(op));
        return;
    }

    if (oa_get_string(c, op, "operationId", 0, &id) == 0 && id != NULL) {
        prev = json_object_get(opids, id);

        if (prev != NULL) {
            oa_warn_at(c, "operationId", "duplicate operationId \"%s\" "
                       "(also at %s)", id, json_string_value(prev));

        } else if (json_object_set_new(opids, id,
                                       json_string(c->ptr.buf)) != 0)
        {
            /* not UTF-8 or out of memory: only the check is lost */
        }
    }

    oa_params(c, op, names, lens, n, &found);

    for (k = 0; k < n; k++) {
        if (!(found & (1u << k))) {
            oa_warn(c, "path parameter \"%.*s\" is not declared "
                    "(in: path)", (int) lens[k], names[k]);
        }
    }

    o = oa_op_add(c);
    if (o == NULL) {
        return;
    }

    o->method = m;
    o->api = c->api;
    o->path = oa_strndup(c, tmpl, tlen);
    o->operation_id = id ? oa_strdup(c, id) : NULL;
    o->pointer = oa_strdup(c, c->ptr.buf);
    c->info[c->api->nops - 1].op = op;
}


static size_t
oa_segments(const char *s, size_t len)
{
    size_t  i, n;

    for (n = 0, i = 0; i < len; i++) {
        if (s[i] != '/' && (i == 0 || s[i - 1] == '/')) {
            n++;
        }
    }

    return n;
}


/*
 * An operation's (else its path item's) own servers: routed below the
 * API's base path when the server path is there ("/v1/reporting" under
 * "/v1": the template gets "/reporting" in front); another path is not
 * routed apart, and said so.  NULL: the template as it is.
 */
static char *
oa_server_template(oa_ctx_t *c, json_t *op, const char *pbase,
    const char *key, size_t tlen)
{
    char        *obase, *tmpl;
    size_t       blen, plen;
    const char  *eff, *base;

    obase = c->api->spec_version != APIGW_SPEC_SWAGGER2 && json_is_object(op)
            ? oa_server_path(c, op) : NULL;
    eff = obase ? obase : pbase;
    base = c->api->base_path ? c->api->base_path : "";
    blen = strlen(base);
    tmpl = NULL;

    if (eff == NULL || strcmp(eff, base) == 0
        || (eff[0] == '\0' && strcmp(base, "/") == 0))
    {
        goto done;
    }

    if (strncmp(eff, base, blen) != 0 || eff[blen] != '/') {
        oa_warn(c, "servers: \"%s\" is not below the API's base path "
                "\"%s\": the operation is routed under the base path", eff,
                blen ? base : "/");
        goto done;
    }

    plen = strlen(eff + blen);
    if (tlen == 1 && key[0] == '/') {
        tlen = 0;                          /* "/" below the prefix */
    }

    tmpl = malloc(plen + tlen + 1);
    if (tmpl == NULL) {
        c->oom = 1;
        goto done;
    }

    memcpy(tmpl, eff + blen, plen);
    memcpy(tmpl + plen, key, tlen);
    tmpl[plen + tlen] = '\0';

done:

    free(obase);

    return tmpl;
}


static void
oa_path_item(oa_ctx_t *c, const char *key, size_t klen, json_t *item,
    json_t *opids)
{
    char         *saved, *pbase, *tmpl;
    size_t        i, j, n, tlen, lens[APIGW_MAX_PARAMS];
    json_t       *t, *v;
    unsigned      found;
    const char   *err, *k, *names[APIGW_MAX_PARAMS];
    apigw_method_e  m;

    if (klen == 0 || key[0] != '/') {
        oa_error(c, "a path must start with \"/\"");
        return;
    }

    /* "/pets#cats", "/pets?type=cat": documents tell operations apart so */
    if (memchr(key, '?', klen) != NULL || memchr(key, '#', klen) != NULL) {
        oa_warn(c, "a path with \"?\" or \"#\" can never match a request; "
                "ignored");
        return;
    }

    for (i = 0; i < klen; i++) {
        if (oa_bad_char((unsigned char) key[i]) || key[i] == '\0') {
            oa_error(c, "a path must not contain whitespace or control "
                     "characters");
            return;
        }
    }

    err = oa_template_scan(key, klen, names, lens, APIGW_MAX_PARAMS, &n);
    if (err != NULL) {
        oa_error(c, "bad path template: %s", err);
        return;
    }

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (lens[i] == lens[j] && memcmp(names[i], names[j], lens[i]) == 0)
            {
                oa_warn(c, "parameter \"{%.*s}\" appears twice in the "
                        "template", (int) lens[i], names[i]);
            }
        }
    }

    if (oa_segments(c->api->base_path, strlen(c->api->base_path))
        + oa_segments(key, klen) > APIGW_MAX_SEGMENTS)
    {
        oa_error(c, "the path has more than %d segments",
                 APIGW_MAX_SEGMENTS);
        return;
    }

    /* "/a//" is "/a/", which OpenAPI tells from "/a" (see the router) */
    tlen = klen;
    while (tlen > 2 && key[tlen - 1] == '/' && key[tlen - 2] == '/') {
        tlen--;
    }

    t = oa_deref(c, item, &saved);
    if (t == NULL) {
        return;
    }

    if (!json_is_object(t)) {
        oa_error(c, "must be an object, not %s", oa_type_name(t));
        oa_deref_done(c, saved);
        return;
    }

    found = 0;
    oa_params(c, t, names, lens, n, &found);

    /* OpenAPI 3: a path item's own servers, for its operations */
    pbase = c->api->spec_version != APIGW_SPEC_SWAGGER2
            ? oa_server_path(c, t) : NULL;

    json_object_foreach(t, k, v) {
        m = apigw_method_parse(k, strlen(k));

        if (m == APIGW_M_NONE) {
            if (oa_op_extension(k)) {
                /* not read here: the operations would go without it */
                oa_error_at(c, k, "is not read on a path item: put it "
                            "on its operations");
            }

            continue;
        }

        if (strcmp(k, oa_methods[m]) != 0) {
            oa_warn_at(c, k, "method names are lower case; ignored");
            continue;
        }

        i = oa_ptr_push(c, k);

        if (m == APIGW_M_TRACE) {
            oa_warn(c, "nginx refuses TRACE requests (405) before any "
                    "module sees them: this operation can never be called");
        }

        tmpl = oa_server_template(c, v, pbase, key, tlen);

        if (tmpl != NULL) {
            oa_operation(c, m, v, tmpl, strlen(tmpl), names, lens, n, found,
                         opids);
            free(tmpl);

        } else {
            oa_operation(c, m, v, key, tlen, names, lens, n, found, opids);
        }

        oa_ptr_pop(c, i);
    }

    free(pbase);
    oa_deref_done(c, saved);
}


/* an extension apigw reads on operations (and at the root) */
static int
oa_op_extension(const char *k)
{
    static const char  *names[] = {
        "x-apigw-rate-limit", "x-gateway-rate-limit", "x-ibm-rate-limit",
        "x-apigw-backend", "x-apigw-cors", "x-apigw-validate",
        "x-apigw-request-mapping", "x-apigw-timeout", "x-openwhisk"
    };
    size_t  i;

    if (strncmp(k, "x-", 2) != 0) {
        return 0;
    }

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(k, names[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
oa_paths(oa_ctx_t *c)
{
    size_t       old, klen;
    json_t      *paths, *item, *opids;
    const char  *key;

    if (oa_get_object(c, c->root, "paths",
                      c->api->spec_version != APIGW_SPEC_OAS31, &paths)
        != 0 || paths == NULL)
    {
        return;
    }

    opids = json_object();
    if (opids == NULL) {
        c->oom = 1;
        return;
    }

    json_object_keylen_foreach(paths, key, klen, item) {
        if (klen >= 2 && key[0] == 'x' && key[1] == '-') {
            continue;
        }

        old = oa_ptr_push(c, "paths");
        oa_ptr_push_n(c, key, klen);
        oa_path_item(c, key, klen, item, opids);
        oa_ptr_pop(c, old);
    }

    json_decref(opids);
}


/*
 * Security schemes: resolved and checked, and the names used by security
 * requirements looked up.  The model does not hold them yet.
 */
static void
oa_security_schemes(oa_ctx_t *c, json_t **schemes)
{
    char        *saved;
    size_t       old, old2;
    json_t      *comps, *v, *t;
    const char  *k, *type, *const *ok;
    static const char  *types2[] = { "basic", "apiKey", "oauth2", NULL };
    static const char  *types3[] = { "apiKey", "http", "oauth2",
                                     "openIdConnect", "mutualTLS", NULL };

    *schemes = NULL;
    old = c->ptr.len;

    if (c->api->spec_version == APIGW_SPEC_SWAGGER2) {
        if (oa_get_object(c, c->root, "securityDefinitions", 0, schemes)
            != 0 || *schemes == NULL)
        {
            return;
        }

        oa_ptr_push(c, "securityDefinitions");

    } else {
        if (oa_get_object(c, c->root, "components", 0, &comps) != 0
            || comps == NULL)
        {
            return;
        }

        oa_ptr_push(c, "components");

        if (oa_get_object(c, comps, "securitySchemes", 0, schemes) != 0
            || *schemes == NULL)
        {
            oa_ptr_pop(c, old);
            return;
        }

        oa_ptr_push(c, "securitySchemes");
    }

    json_object_foreach(*schemes, k, v) {
        old2 = oa_ptr_push(c, k);
        t = oa_deref(c, v, &saved);

        if (t != NULL) {
            if (!json_is_object(t)) {
                oa_error(c, "must be an object, not %s", oa_type_name(t));

            } else if (oa_get_string(c, t, "type", 1, &type) == 0) {
                ok = c->api->spec_version == APIGW_SPEC_SWAGGER2
                     ? types2 : types3;

                while (*ok && strcmp(*ok, type) != 0) {
                    ok++;
                }

                if (*ok == NULL) {
                    oa_error_at(c, "type", "unknown security scheme type "
                                "\"%s\"", type);
                }
            }

            oa_deref_done(c, saved);
        }

        oa_ptr_pop(c, old2);
    }

    oa_ptr_pop(c, old);
}


/* security: [{name: [scopes]}, ...] at the current pointer's `obj` */
static void
oa_security_req(oa_ctx_t *c, json_t *obj, json_t *schemes)
{
    size_t       i, k, old, old2, old3;
    json_t      *list, *req, *scopes, *e;
    const char  *name;

    if (oa_get_array(c, obj, "security", 0, &list) != 0 || list == NULL) {
        return;
    }

    old = oa_ptr_push(c, "security");

    json_array_foreach(list, i, req) {
        old2 = oa_ptr_push_index(c, i);

        if (!json_is_object(req)) {
            oa_error(c, "must be an object, not %s", oa_type_name(req));
            oa_ptr_pop(c, old2);
            continue;
        }

        json_object_foreach(req, name, scopes) {
            if (!json_is_array(scopes)) {
                oa_error_at(c, name, "must be an array of scopes, not %s",
                            oa_type_name(scopes));
                continue;
            }

            /* a scope dropped would make the operation more open */
            json_array_foreach(scopes, k, e) {
                if (!json_is_string(e)) {
                    old3 = oa_ptr_push(c, name);
                    oa_ptr_push_index(c, k);
                    oa_error(c, "must be a scope name (a string), not %s",
                             oa_type_name(e));
                    oa_ptr_pop(c, old3);
                }
            }

            if (json_object_get(schemes, name) == NULL) {
                oa_warn_at(c, name, "no security scheme \"%s\" is defined",
                           name);
            }
        }

        oa_ptr_pop(c, old2);
    }

    oa_ptr_pop(c, old);
}


static void
oa_security(oa_ctx_t *c)
{
    size_t   i;
    char    *saved;
    json_t  *schemes;

    oa_security_schemes(c, &schemes);
    oa_security_req(c, c->root, schemes);

    saved = oa_strdup(c, c->ptr.buf);
    if (saved == NULL) {
        return;
    }

    for (i = 0; i < c->api->nops; i++) {
        if (c->api->ops[i].pointer != NULL) {
            oa_ptr_set(c, c->api->ops[i].pointer);
            oa_security_req(c, c->info[i].op, schemes);
        }
    }

    oa_ptr_set(c, saved);
    free(saved);

    oa_security_model(c, schemes);
}


apigw_api_t *
apigw_import_buffer(const char *buf, size_t len,
    const apigw_import_opts_t *opts, apigw_problems_t *probs)
{
    size_t                max, nerrors;
    oa_ctx_t              c;
    apigw_import_opts_t   none;

    memset(&none, 0, sizeof(none));
    if (opts == NULL) {
        opts = &none;
    }

    memset(&c, 0, sizeof(c));
    c.opts = opts;
    c.probs = probs;
    c.file = opts->file;
    nerrors = probs->nerrors;
    c.nerrors0 = nerrors;

    max = opts->max_size ? opts->max_size : OA_DEFAULT_MAX_SIZE;

    if (len > max) {
        apigw_problem_add(probs, 0, c.file, "", "the document is %zu bytes; "
                          "the limit is %zu", len, max);
        return NULL;
    }

    if (buf == NULL) {
        buf = "";
        len = 0;
    }

    c.root = oa_parse(&c, buf, len);

    if (c.root == NULL) {
        if (c.oom) {
            apigw_problem_add(probs, 0, c.file, "", "out of memory");
        }
        free(c.ptr.buf);
        return NULL;
    }

    oa_ptr_set(&c, "");

    c.api = calloc(1, sizeof(apigw_api_t));
    if (c.api == NULL) {
        json_decref(c.root);
        apigw_problem_add(probs, 0, c.file, "", "out of memory");
        free(c.ptr.buf);
        return NULL;
    }

    c.api->cors.max_age = -1;
    c.api->file = c.file ? oa_strdup(&c, c.file) : NULL;

    if (!json_is_object(c.root)) {
        oa_error(&c, "the document must be an object, not %s",
                 oa_type_name(c.root));

    } else {
        oa_version(&c);

        if (c.api->spec_version != 0) {
            oa_info(&c);
            oa_base_path(&c);
            oa_cors(&c);
            oa_paths(&c);

            if (!opts->routes_only) {
                oa_op_cors(&c);
                oa_request_mappings(&c);
                oa_security(&c);
                oa_backends(&c);
                oa_validation(&c);
                oa_rate_limits(&c);
            }
        }
    }

    if (c.oom) {
        apigw_problem_add(probs, 0, c.file, "", "out of memory");
    }

    json_decref(c.root);
    free(c.ptr.buf);
    free(c.info);

    if (probs->nerrors != nerrors || c.oom) {
        apigw_api_free(c.api);
        return NULL;
    }

    return c.api;
}


apigw_api_t *
apigw_import_file(const char *path, const apigw_import_opts_t *opts,
    apigw_problems_t *probs)
{
    FILE                 *f;
    char                 *buf, *tmp;
    size_t                max, n, cap;
    struct stat           st;
    apigw_api_t          *api;
    apigw_import_opts_t   o;

    memset(&o, 0, sizeof(o));
    if (opts != NULL) {
        o = *opts;
    }

    if (o.file == NULL) {
        o.file = path;
    }

    max = o.max_size ? o.max_size : OA_DEFAULT_MAX_SIZE;

    f = fopen(path, "rb");
    if (f == NULL) {
        apigw_problem_add(probs, 0, o.file, "", "cannot open: %s",
                          strerror(errno));
        return NULL;
    }

    if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
        apigw_problem_add(probs, 0, o.file, "", "cannot read: %s",
                          S_ISDIR(st.st_mode) ? "is a directory"
                                              : strerror(errno));
        fclose(f);
        return NULL;
    }

    if (S_ISREG(st.st_mode) && (size_t) st.st_size > max) {
        apigw_problem_add(probs, 0, o.file, "", "the document is %zu bytes; "
                          "the limit is %zu", (size_t) st.st_size, max);
        fclose(f);
        return NULL;
    }

    /* read up to max + 1 bytes: pipes and growing files have no size */
    cap = S_ISREG(st.st_mode) ? (size_t) st.st_size + 1 : 65536;
    if (cap > max + 1) {
        cap = max + 1;
    }

    buf = malloc(cap);
    n = 0;

    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);

        if (n < cap || n > max) {
            break;
        }

        cap = cap * 2 > max + 1 ? max + 1 : cap * 2;

        tmp = realloc(buf, cap);
        if (tmp == NULL) {
            free(buf);
            buf = NULL;
        }

        buf = tmp;
    }

    if (buf == NULL || ferror(f)) {
        apigw_problem_add(probs, 0, o.file, "", "cannot read: %s",
                          buf ? strerror(errno) : "out of memory");
        free(buf);
        fclose(f);
        return NULL;
    }

    fclose(f);

    if (n > max) {
        apigw_problem_add(probs, 0, o.file, "", "the document is larger "
                          "than %zu bytes", max);
        free(buf);
        return NULL;
    }

    api = apigw_import_buffer(buf, n, &o, probs);
    free(buf);

    return api;
}
