/*
 * Backends and CORS: the openwhisk-apigateway / IBM assembly
 * (x-gateway-configuration, x-ibm-configuration), x-openwhisk,
 * x-apigw-backend, and x-apigw-cors.
 */

#include <stdio.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oa.h"


typedef struct {
    int               present;   /* a target was given */
    int               ok;        /* and it is valid */
    apigw_backend_t   b;         /* everything but headers and source */
    char             *ptr;       /* pointer of the URL field */
} oa_target_t;

typedef struct {
    apigw_header_t   *h;
    size_t            n;
    int               full;      /* the limit was reported */
} oa_headers_t;

typedef struct {
    oa_target_t       invoke;
    oa_headers_t      headers;
} oa_exec_t;

typedef struct {
    const char       *source;
    json_t           *props;     /* x-ibm-configuration properties */
    oa_exec_t         top;
    oa_exec_t        *cases;
    size_t            ncases;
    size_t            cases_cap;
    int              *op_case;   /* per operation; -1: no case */
    json_t           *by_id;     /* operationId -> [op index, ...] */
    json_t           *by_route;  /* "METHOD /path" -> [op index, ...] */
} oa_gw_t;


#define OA_REQUEST_PATH_1  "$(request.path)"
#define OA_REQUEST_PATH_2  "${request.path}"


static void
oa_target_free(oa_target_t *t)
{
    apigw_backend_clear(&t->b);
    free(t->ptr);
    memset(t, 0, sizeof(*t));
}


static void
oa_headers_free(oa_headers_t *h)
{
    size_t  i;

    for (i = 0; i < h->n; i++) {
        free(h->h[i].name);
        free(h->h[i].value);
    }

    free(h->h);
    memset(h, 0, sizeof(*h));
}


/* Set a header, replacing one of the same name (any case). */
static int
oa_headers_set(oa_ctx_t *c, oa_headers_t *h, const char *name,
    const char *value)
{
    char            *n, *v;
    size_t           i;
    apigw_header_t  *p;

    n = oa_strdup(c, name);
    v = oa_strdup(c, value);

    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return -1;
    }

    for (i = 0; i < h->n; i++) {
        if (strcasecmp(h->h[i].name, name) == 0) {
            free(h->h[i].name);
            free(h->h[i].value);
            h->h[i].name = n;
            h->h[i].value = v;
            return 0;
        }
    }

    p = realloc(h->h, (h->n + 1) * sizeof(apigw_header_t));
    if (p == NULL) {
        free(n);
        free(v);
        c->oom = 1;
        return -1;
    }

    h->h = p;
    h->h[h->n].name = n;
    h->h[h->n].value = v;
    h->n++;

    return 0;
}


static int
oa_tchar(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
           || (ch >= '0' && ch <= '9') || (ch && strchr("!#$%&'*+-.^_`|~",
                                                       ch));
}


int
oa_token(const char *s)
{
    if (*s == '\0') {
        return 0;
    }

    for ( ; *s; s++) {
        if (!oa_tchar((unsigned char) *s)) {
            return 0;
        }
    }

    return 1;
}


/*
 * Parse a backend URL at the current pointer (the URL field): a trailing
 * $(request.path) or ${request.path} sets append_path; other $(name)
 * variables come from x-ibm-configuration properties.
 */
static void
oa_target_url(oa_ctx_t *c, oa_gw_t *gw, const char *url, oa_target_t *t)
{
    char        *x, *tmp;
    size_t       len, n, cap, i, k, nn, lens[APIGW_MAX_PARAMS];
    json_t      *prop;
    const char  *err, *e, *val, *names[APIGW_MAX_PARAMS];

    t->present = 1;
    t->ptr = oa_strdup(c, c->ptr.buf);

    len = strlen(url);
    n = strlen(OA_REQUEST_PATH_1);

    if (len >= n && (strcmp(url + len - n, OA_REQUEST_PATH_1) == 0
                     || strcmp(url + len - n, OA_REQUEST_PATH_2) == 0))
    {
        t->b.append_path = 1;
        len -= n;
    }

    /* expand $(property) variables */
    cap = len + 1;
    x = malloc(cap);
    if (x == NULL) {
        c->oom = 1;
        return;
    }

    for (i = 0, k = 0; i < len; i++) {
        if (url[i] != '$' || i + 1 >= len
            || (url[i + 1] != '(' && url[i + 1] != '{'))
        {
            x[k++] = url[i];
            continue;
        }

        e = memchr(url + i, url[i + 1] == '(' ? ')' : '}', len - i);

        if (e == NULL) {
            oa_error(c, "unterminated variable in \"%s\"", url);
            free(x);
            return;
        }

        nn = (size_t) (e - url - i - 2);
        prop = gw && gw->props
               ? json_object_getn(gw->props, url + i + 2, nn) : NULL;
        val = json_is_object(prop)
              ? json_string_value(json_object_get(prop, "value")) : NULL;

        if (val == NULL) {
            oa_error(c, "unsupported variable \"%.*s\" in \"%s\" (only "
                     "$(request.path) at the end, and x-ibm-configuration "
                     "properties)", (int) (nn + 3), url + i, url);
            free(x);
            return;
        }

        cap += strlen(val);
        tmp = realloc(x, cap);
        if (tmp == NULL) {
            free(x);
            c->oom = 1;
            return;
        }

        x = tmp;
        memcpy(x + k, val, strlen(val));
        k += strlen(val);
        i = (size_t) (e - url);
    }

    x[k] = '\0';

    err = oa_url_split(x, k, &t->b);

    if (err == NULL) {
        err = oa_template_scan(t->b.path, strlen(t->b.path), names, lens,
                               APIGW_MAX_PARAMS, &nn);
    }

    if (err != NULL) {
        /* user information may be a password: not repeated */
        if (strchr(x, '@') != NULL) {
            oa_error(c, "bad backend URL: %s", err);
        } else {
            oa_error(c, "bad backend URL \"%s\": %s", x, err);
        }

        free(x);
        return;
    }

    /* for display: expanded, with the $(request.path) token as written */
    n = strlen(url + len);
    tmp = realloc(x, k + n + 1);
    if (tmp == NULL) {
        free(x);
        c->oom = 1;
        return;
    }

    memcpy(tmp + k, url + len, n + 1);
    t->b.url = tmp;
    t->ok = 1;
}


static int
oa_verb(oa_ctx_t *c, json_t *obj, const char *key, char **method)
{
    const char      *s;
    apigw_method_e   m;

    *method = NULL;

    if (oa_get_string(c, obj, key, 0, &s) != 0) {
        return -1;
    }

    if (s == NULL || strcasecmp(s, "keep") == 0) {
        return 0;
    }

    m = apigw_method_parse(s, strlen(s));

    if (m == APIGW_M_NONE) {
        oa_error_at(c, key, "unknown verb \"%s\" (GET, PUT, POST, DELETE, "
                    "OPTIONS, HEAD, PATCH, TRACE or keep)", s);
        return -1;
    }

    *method = oa_strdup(c, apigw_method_name(m));

    return 0;
}


/*
 * A time: seconds as a number ("timeout": 30, as IBM's invoke has it), or
 * a string with a unit ("500ms", "30s", "2m"); more than 0, at most a
 * day.  Returns milliseconds, or 0 after an error at `key`.
 */
static long
oa_time(oa_ctx_t *c, json_t *v, const char *key)
{
    char        *end;
    size_t       old;
    long         ms;
    double       d, unit;
    const char  *s;

    old = key ? oa_ptr_push(c, key) : 0;
    ms = 0;

    if (json_is_number(v)) {
        d = json_number_value(v) * 1000;

    } else if (json_is_string(v)) {
        s = json_string_value(v);
        d = strtod(s, &end);
        unit = strcmp(end, "ms") == 0 ? 1
               : strcmp(end, "s") == 0 || *end == '\0' ? 1000
               : strcmp(end, "m") == 0 ? 60000 : -1;

        if (end == s || unit < 0 || isspace((unsigned char) s[0])
            || s[0] == '+')
        {
            oa_error(c, "must be a time: seconds, or a number and ms, s "
                     "or m (\"500ms\", \"30s\")");
            goto done;
        }

        d *= unit;

    } else {
        oa_error(c, "must be a number of seconds or a string such as "
                 "\"30s\", not %s", oa_type_name(v));
        goto done;
    }

    if (!(d >= 1 && d <= 86400000)) {
        oa_error(c, "must be from 1ms to a day");
        goto done;
    }

    ms = (long) d;

done:

    if (key) {
        oa_ptr_pop(c, old);
    }

    return ms;
}


/*
 * x-apigw-timeout: a time (to send to and read from the backend, as
 * apigw_backend_timeout), or {read, connect}.
 */
static void
oa_timeouts(oa_ctx_t *c, json_t *v, apigw_backend_t *b)
{
    json_t      *e;
    const char  *k;

    if (!json_is_object(v)) {
        b->timeout_ms = oa_time(c, v, NULL);
        return;
    }

    json_object_foreach(v, k, e) {
        if (strcmp(k, "read") == 0) {
            b->timeout_ms = oa_time(c, e, k);

        } else if (strcmp(k, "connect") == 0) {
            b->connect_timeout_ms = oa_time(c, e, k);

        } else if (strncmp(k, "x-", 2) != 0) {
            oa_warn_at(c, k, "unknown field; ignored (read, connect)");
        }
    }
}


/* invoke: {target-url, verb, timeout} at the current pointer */
static void
oa_invoke(oa_ctx_t *c, oa_gw_t *gw, json_t *inv, oa_target_t *t)
{
    char        *method;
    size_t       old;
    const char  *url;

    t->present = 1;

    if (!json_is_object(inv)) {
        oa_error(c, "must be an object, not %s", oa_type_name(inv));
        return;
    }

    if ((oa_verb(c, inv, "verb", &method)
         | oa_get_string(c, inv, "target-url", 1, &url)) != 0)
    {
        /* the URL is still checked, for its own problems */
        if (url != NULL) {
            old = oa_ptr_push(c, "target-url");
            oa_target_url(c, gw, url, t);
            oa_ptr_pop(c, old);
            t->ok = 0;
        }

        free(method);
        return;
    }

    old = oa_ptr_push(c, "target-url");
    oa_target_url(c, gw, url, t);
    oa_ptr_pop(c, old);

    t->b.method = method;

    /* IBM's invoke: seconds */
    if (json_object_get(inv, "timeout") != NULL) {
        t->b.timeout_ms = oa_time(c, json_object_get(inv, "timeout"),
                                  "timeout");
    }
}


/*
 * Headers a spec cannot set: the gateway writes them itself (Host from the
 * backend URL, the framing, hop-by-hop ones, X-Forwarded-*), so a value set
 * here would never reach the backend.  Said in `apigw check`, not dropped
 * silently.  The request-id header is the configuration's (it may be
 * renamed), so it is not known here.
 */
static const char  *oa_gateway_headers[] = {
    "host", "content-length", "transfer-encoding", "connection",
    "keep-alive", "te", "trailer", "upgrade", "proxy-connection",
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
    "x-forwarded-port", "x-forwarded-url", NULL
};


static int
oa_gateway_header(const char *name)
{
    const char  **g;

    for (g = oa_gateway_headers; *g; g++) {
        if (strcasecmp(name, *g) == 0) {
            return 1;
        }
    }

    return 0;
}


/* set-variable: {actions: [{set: "message.headers.NAME", value}]} */
static void
oa_set_variable(oa_ctx_t *c, json_t *sv, oa_headers_t *h)
{
    char        *text;
    size_t       i, old, old2;
    json_t      *actions, *a, *v;
    const char  *set, *name, *value;

    if (!json_is_object(sv)) {
        oa_error(c, "must be an object, not %s", oa_type_name(sv));
        return;
    }

    if (oa_get_array(c, sv, "actions", 1, &actions) != 0) {
        return;
    }

    old = oa_ptr_push(c, "actions");

    json_array_foreach(actions, i, a) {
        old2 = oa_ptr_push_index(c, i);

        if (!json_is_object(a)) {
            oa_error(c, "must be an object, not %s", oa_type_name(a));
            goto next;
        }

        if (json_object_get(a, "set") == NULL
            && (json_object_get(a, "add") || json_object_get(a, "clear")))
        {
            oa_warn(c, "only \"set\" actions are supported; ignored");
            goto next;
        }

        if (oa_get_string(c, a, "set", 1, &set) != 0) {
            goto next;
        }

        v = json_object_get(a, "value");
        text = NULL;

        if (v == NULL) {
            oa_error(c, "missing required field \"value\"");
            goto next;
        }

        if (json_is_string(v)) {
            value = json_string_value(v);

        } else if (json_is_number(v)) {
            text = oa_number_text(v);
            if (text == NULL) {
                c->oom = 1;
                goto next;
            }
            value = text;

        } else if (json_is_boolean(v)) {
            value = json_is_true(v) ? "true" : "false";

        } else {
            oa_error_at(c, "value", "must be a string, not %s",
                        oa_type_name(v));
            goto next;
        }

        if (strncmp(set, "message.headers.", 16) != 0) {
            oa_warn_at(c, "set", "only message.headers.NAME targets are "
                       "supported; \"%s\" is ignored", set);
            free(text);
            goto next;
        }

        name = set + 16;

        if (!oa_token(name)) {
            oa_error_at(c, "set", "\"%s\" is not a valid header name", name);

        } else if (oa_gateway_header(name)) {
            oa_warn_at(c, "set", "\"%s\" is set by the gateway itself; "
                       "ignored", name);

        } else if (strlen(value) != json_string_length(v)
                   && json_is_string(v))
        {
            oa_error_at(c, "value", "header values must not contain NUL");

        } else if (strpbrk(value, "\r\n") != NULL) {
            oa_error_at(c, "value", "header values must not contain line "
                        "breaks");

        } else if (h->n >= OA_MAX_HEADERS && !h->full) {
            oa_error(c, "more than %d injected headers", OA_MAX_HEADERS);
            h->full = 1;

        } else if (!h->full) {
            oa_headers_set(c, h, name, value);

            /* kept: apigw_request_id_header may name another one */
            if (strcasecmp(name, "X-Request-ID") == 0) {
                oa_warn_at(c, "set", "\"%s\" is the gateway's request id "
                           "(unless apigw_request_id_header names another "
                           "header): not sent then", name);
            }
        }

        free(text);

    next:
        oa_ptr_pop(c, old2);
    }

    oa_ptr_pop(c, old);
}


static oa_exec_t *
oa_case_add(oa_ctx_t *c, oa_gw_t *gw)
{
    size_t      cap;
    oa_exec_t  *p;

    if (gw->ncases == gw->cases_cap) {
        cap = gw->cases_cap ? gw->cases_cap * 2 : 8;
        p = realloc(gw->cases, cap * sizeof(oa_exec_t));
        if (p == NULL) {
            c->oom = 1;
            return NULL;
        }
        gw->cases = p;
        gw->cases_cap = cap;
    }

    p = &gw->cases[gw->ncases++];
    memset(p, 0, sizeof(*p));

    return p;
}


static void oa_switch(oa_ctx_t *c, oa_gw_t *gw, json_t *sw);


/* An assembly execute list at the current pointer. */
static void
oa_execute(oa_ctx_t *c, oa_gw_t *gw, json_t *list, oa_exec_t *ex, int top)
{
    size_t       i, old, old2;
    json_t      *e, *v;
    const char  *k;

    json_array_foreach(list, i, e) {
        old = oa_ptr_push_index(c, i);

        if (!json_is_object(e)) {
            oa_error(c, "must be an object, not %s", oa_type_name(e));
            oa_ptr_pop(c, old);
            continue;
        }

        json_object_foreach(e, k, v) {
            if (k[0] == 'x' && k[1] == '-') {
                continue;
            }

            old2 = oa_ptr_push(c, k);

            if (strcmp(k, "invoke") == 0) {
                if (ex->invoke.present) {
                    oa_warn(c, "only the first invoke is used; ignored");
                } else {
                    oa_invoke(c, gw, v, &ex->invoke);
                }

            } else if (strcmp(k, "set-variable") == 0) {
                oa_set_variable(c, v, &ex->headers);

            } else if (strcmp(k, "operation-switch") == 0 && top) {
                oa_switch(c, gw, v);

            } else {
                oa_warn(c, "\"%s\" is not supported here; ignored", k);
            }

            oa_ptr_pop(c, old2);
        }

        oa_ptr_pop(c, old);
    }
}


static void
oa_case_cover(oa_gw_t *gw, json_t *idx, size_t ci)
{
    size_t   i;
    json_t  *v;

    json_array_foreach(idx, i, v) {
        if (gw->op_case[json_integer_value(v)] < 0) {
            gw->op_case[json_integer_value(v)] = (int) ci;
        }
    }
}


/* operation-switch: {case: [{operations: [...], execute: [...]}]} */
static void
oa_switch(oa_ctx_t *c, oa_gw_t *gw, json_t *sw)
{
    char            *key;
    size_t           i, j, ci, old, old2, old3, base;
    json_t          *cases, *cs, *ops, *o, *exec, *idx;
    oa_exec_t       *ex;
    const char      *verb, *path;
    apigw_method_e   m;

    if (!json_is_object(sw)) {
        oa_error(c, "must be an object, not %s", oa_type_name(sw));
        return;
    }

    if (json_object_get(sw, "otherwise") != NULL) {
        oa_warn_at(c, "otherwise", "not supported: operations no case "
                   "covers use x-openwhisk or x-apigw-backend");
    }

    if (oa_get_array(c, sw, "case", 1, &cases) != 0) {
        return;
    }

    old = oa_ptr_push(c, "case");

    json_array_foreach(cases, i, cs) {
        old2 = oa_ptr_push_index(c, i);

        if (!json_is_object(cs)) {
            oa_error(c, "must be an object, not %s", oa_type_name(cs));
            oa_ptr_pop(c, old2);
            continue;
        }

        if ((oa_get_array(c, cs, "operations", 1, &ops)
             | oa_get_array(c, cs, "execute", 1, &exec)) != 0)
        {
            oa_ptr_pop(c, old2);
            continue;
        }

        ex = oa_case_add(c, gw);
        if (ex == NULL) {
            oa_ptr_pop(c, old2);
            break;
        }

        ci = gw->ncases - 1;

        old3 = oa_ptr_push(c, "execute");
        oa_execute(c, gw, exec, ex, 0);
        oa_ptr_pop(c, old3);

        old3 = oa_ptr_push(c, "operations");
        base = c->ptr.len;

        json_array_foreach(ops, j, o) {
            if (json_is_string(o)) {
                idx = json_object_get(gw->by_id, json_string_value(o));

                if (idx == NULL) {
                    oa_ptr_push_index(c, j);
                    oa_error(c, "unknown operationId \"%s\"",
                             json_string_value(o));
                    oa_ptr_pop(c, base);
                    continue;
                }

                oa_case_cover(gw, idx, ci);
                continue;
            }

            oa_ptr_push_index(c, j);

            if (!json_is_object(o)) {
                oa_error(c, "must be an operationId or {verb, path}, not "
                         "%s", oa_type_name(o));
                oa_ptr_pop(c, base);
                continue;
            }

            if ((oa_get_string(c, o, "verb", 1, &verb)
                 | oa_get_string(c, o, "path", 1, &path)) != 0)
            {
                oa_ptr_pop(c, base);
                continue;
            }

            m = apigw_method_parse(verb, strlen(verb));
            key = malloc(strlen(path) + 16);

            if (key == NULL) {
                c->oom = 1;
                oa_ptr_pop(c, base);
                continue;
            }

            sprintf(key, "%s %s", apigw_method_name(m), path);
            idx = m == APIGW_M_NONE ? NULL
                                    : json_object_get(gw->by_route, key);
            free(key);

            if (idx == NULL) {
                oa_error(c, "no operation %s %s", verb, path);
            } else {
                oa_case_cover(gw, idx, ci);
            }

            oa_ptr_pop(c, base);
        }

        oa_ptr_pop(c, old3);
        oa_ptr_pop(c, old2);
    }

    oa_ptr_pop(c, old);
}


static int
oa_index_add(json_t *map, const char *key, size_t i)
{
    json_t  *a;

    a = json_object_get(map, key);

    if (a == NULL) {
        a = json_array();
        if (a == NULL || json_object_set_new(map, key, a) != 0) {
            return -1;
        }
    }

    return json_array_append_new(a, json_integer((json_int_t) i));
}


static json_t *
oa_gw_conf(oa_ctx_t *c, const char **source)
{
    json_t  *conf;

    *source = "x-gateway-configuration";
    conf = json_object_get(c->root, *source);

    if (conf == NULL) {
        *source = "x-ibm-configuration";
        conf = json_object_get(c->root, *source);
    }

    return conf;
}


static void
oa_gateway(oa_ctx_t *c, oa_gw_t *gw)
{
    char               *key;
    size_t              i, old;
    json_t             *conf, *assembly, *exec;
    apigw_operation_t  *op;

    conf = oa_gw_conf(c, &gw->source);

    if (conf == NULL) {
        return;
    }

    old = oa_ptr_push(c, gw->source);

    if (!json_is_object(conf)) {
        oa_error(c, "must be an object, not %s", oa_type_name(conf));
        goto done;
    }

    gw->props = json_object_get(conf, "properties");

    if (oa_get_object(c, conf, "assembly", 0, &assembly) != 0
        || assembly == NULL)
    {
        goto done;
    }

    oa_ptr_push(c, "assembly");

    if (oa_get_array(c, assembly, "execute", 0, &exec) != 0 || exec == NULL)
    {
        goto done;
    }

    gw->op_case = malloc((c->api->nops + 1) * sizeof(int));
    gw->by_id = json_object();
    gw->by_route = json_object();

    if (gw->op_case == NULL || gw->by_id == NULL || gw->by_route == NULL) {
        c->oom = 1;
        goto done;
    }

    for (i = 0; i < c->api->nops; i++) {
        gw->op_case[i] = -1;
    }

    for (i = 0; i < c->api->nops; i++) {
        op = &c->api->ops[i];

        if (op->path == NULL) {
            continue;           /* out of memory, already reported */
        }

        if (op->operation_id != NULL
            && oa_index_add(gw->by_id, op->operation_id, i) != 0)
        {
            /* not UTF-8: a case cannot name it either */
        }

        key = malloc(strlen(op->path) + 16);
        if (key == NULL) {
            c->oom = 1;
            goto done;
        }

        sprintf(key, "%s %s", apigw_method_name(op->method), op->path);
        oa_index_add(gw->by_route, key, i);
        free(key);
    }

    oa_ptr_push(c, "execute");
    oa_execute(c, gw, exec, &gw->top, 1);

done:
    oa_ptr_pop(c, old);
}


/* "{name}" placeholders of the backend path must be the operation's. */
static int
oa_check_params(oa_ctx_t *c, const apigw_operation_t *op,
    const oa_target_t *t)
{
    int          rc;
    char        *saved;
    size_t       i, k, n, m, lens[APIGW_MAX_PARAMS], olens[APIGW_MAX_PARAMS];
    const char  *names[APIGW_MAX_PARAMS], *onames[APIGW_MAX_PARAMS];

    if (oa_template_scan(t->b.path, strlen(t->b.path), names, lens,
                         APIGW_MAX_PARAMS, &n) != NULL
        || oa_template_scan(op->path, strlen(op->path), onames, olens,
                            APIGW_MAX_PARAMS, &m) != NULL)
    {
        return -1;
    }

    rc = 0;
    saved = NULL;

    for (i = 0; i < n; i++) {
        for (k = 0; k < m; k++) {
            if (olens[k] == lens[i]
                && memcmp(onames[k], names[i], lens[i]) == 0)
            {
                break;
            }
        }

        if (k < m) {
            continue;
        }

        if (saved == NULL) {
            saved = oa_strdup(c, c->ptr.buf);
            if (saved == NULL) {
                return -1;
            }
            oa_ptr_set(c, t->ptr);
        }

        oa_error(c, "\"{%.*s}\" is not a path parameter of %s %s",
                 (int) lens[i], names[i], apigw_method_name(op->method),
                 op->path);
        rc = -1;
    }

    if (saved != NULL) {
        oa_ptr_set(c, saved);
        free(saved);
    }

    return rc;
}


static char *
oa_dup_or_null(oa_ctx_t *c, const char *s)
{
    return s ? oa_strdup(c, s) : NULL;
}


/* The operation's backend from a parsed target and header lists. */
static void
oa_materialize(oa_ctx_t *c, apigw_operation_t *op, const oa_target_t *t,
    const char *source, const oa_headers_t *h1, const oa_headers_t *h2)
{
    size_t            i;
    oa_headers_t      h;
    apigw_backend_t  *b;

    if (!t->ok || oa_check_params(c, op, t) != 0) {
        return;
    }

    b = &op->backend;
    b->url = oa_dup_or_null(c, t->b.url);
    b->scheme = oa_dup_or_null(c, t->b.scheme);
    b->host = oa_dup_or_null(c, t->b.host);
    b->authority = oa_dup_or_null(c, t->b.authority);
    b->path = oa_dup_or_null(c, t->b.path);
    b->method = oa_dup_or_null(c, t->b.method);
    b->port = t->b.port;
    b->append_path = t->b.append_path;
    b->source = source;
    b->timeout_ms = t->b.timeout_ms;

    /* the backend's answer has no body, the client's request wants one */
    if (b->method && strcmp(b->method, "HEAD") == 0
        && op->method != APIGW_M_HEAD)
    {
        oa_error(c, "backend verb HEAD answers without a body: only a head "
                 "operation may use it");
    }

    memset(&h, 0, sizeof(h));

    for (i = 0; h1 && i < h1->n; i++) {
        oa_headers_set(c, &h, h1->h[i].name, h1->h[i].value);
    }

    for (i = 0; h2 && i < h2->n; i++) {
        oa_headers_set(c, &h, h2->h[i].name, h2->h[i].value);
    }

    b->headers = h.h;
    b->nheaders = h.n;
}


static int
oa_ow_ext(const char *s)
{
    static const char  *exts[] = { "http", "json", "html", "svg", "text",
                                   NULL };
    const char        **e;

    for (e = exts; *e; e++) {
        if (strcmp(*e, s) == 0) {
            return 1;
        }
    }

    return 0;
}


/* The configured OpenWhisk base URL, checked once per document. */
static int
oa_ow_base_ok(oa_ctx_t *c, const char *base)
{
    const char       *err;
    apigw_backend_t   b;

    if (c->ow_checked) {
        return c->ow_ok;
    }

    c->ow_checked = 1;

    /* a placeholder the nginx configuration fills in (apigw check) */
    if (base[0] == '$' && base[1] == '(') {
        c->ow_ok = 1;
        return 1;
    }

    memset(&b, 0, sizeof(b));
    err = oa_url_split(base, strlen(base), &b);
    apigw_backend_clear(&b);

    if (err != NULL) {
        apigw_problem_add(c->probs, 0, c->file, "", "bad OpenWhisk URL "
                          "\"%s\": %s", base, err);
        return 0;
    }

    c->ow_ok = 1;

    return 1;
}


/*
 * An OpenWhisk entity name ([\w][\w@ .&-]* not ending in a space, at
 * most 256): anything else names no web action ("a/b", ".", "..").
 */
static int
oa_ow_name_ok(const char *s)
{
    size_t  i, n;

    n = strlen(s);

    if (n == 0 || n > 256 || !(isalnum((unsigned char) s[0]) || s[0] == '_')
        || s[n - 1] == ' ')
    {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if (!(isalnum((unsigned char) s[i]) || strchr("_@ .&-", s[i]))) {
            return 0;
        }
    }

    return 1;
}


/* x-openwhisk: {namespace, package?, action, url?, response-type?} */
static void
oa_openwhisk(oa_ctx_t *c, apigw_operation_t *op, json_t *ow)
{
    int           bad;
    char         *ns, *pkg, *act, *url;
    size_t        n, old;
    const char   *sns, *spkg, *sact, *surl, *rt, *base, *p;
    oa_target_t   t;

    memset(&t, 0, sizeof(t));

    if (!json_is_object(ow)) {
        oa_error(c, "must be an object, not %s", oa_type_name(ow));
        return;
    }

    bad = oa_get_string(c, ow, "url", 0, &surl)
          | oa_get_string(c, ow, "response-type", 0, &rt);

    if (rt != NULL && !oa_ow_ext(rt)) {
        oa_error_at(c, "response-type", "must be one of http, json, html, "
                    "svg, text");
        bad = -1;
    }

    if (surl != NULL && surl[0] != '\0') {
        if (bad) {
            return;
        }

        old = oa_ptr_push(c, "url");
        oa_target_url(c, NULL, surl, &t);
        oa_ptr_pop(c, old);

        /* a web action URL with the .http extension wants the path */
        if (t.ok && ((rt != NULL && strcmp(rt, "http") == 0)
                     || (rt == NULL && (n = strcspn(t.b.path, "?")) >= 5
                         && memcmp(t.b.path + n - 5, ".http", 5) == 0)))
        {
            t.b.append_path = 1;
        }

        oa_materialize(c, op, &t, "x-openwhisk", NULL, NULL);
        oa_target_free(&t);
        return;
    }

    bad |= oa_get_string(c, ow, "namespace", 1, &sns)
           | oa_get_string(c, ow, "package", 0, &spkg)
           | oa_get_string(c, ow, "action", 1, &sact);

    if (bad) {
        return;
    }

    base = c->opts->openwhisk_url;

    if (base == NULL) {
        oa_error(c, "x-openwhisk without \"url\" needs the OpenWhisk API "
                 "host: set the apigw_openwhisk_url directive "
                 "(apigw_store_openwhisk_url for the management API's APIs, "
                 "--openwhisk-url for the apigw tool)");
        return;
    }

    if (!oa_ow_base_ok(c, base)) {
        return;
    }

    if (spkg == NULL || spkg[0] == '\0') {
        spkg = "default";
    }

    if (sns[0] == '\0' || sact[0] == '\0') {
        oa_error(c, "\"namespace\" and \"action\" must not be empty");
        return;
    }

    if (strcmp(sns, "_") == 0) {
        /* a web action URL names its namespace: "_" is no default there */
        oa_error_at(c, "namespace", "\"_\" names no namespace in a web "
                    "action's URL: give the namespace's name");
        bad = -1;

    } else if (!oa_ow_name_ok(sns)) {
        oa_error_at(c, "namespace", "\"%s\" is not an OpenWhisk name", sns);
        bad = -1;
    }

    if (strcmp(spkg, "default") != 0 && !oa_ow_name_ok(spkg)) {
        oa_error_at(c, "package", "\"%s\" is not an OpenWhisk name", spkg);
        bad = -1;
    }

    if (!oa_ow_name_ok(sact)) {
        oa_error_at(c, "action", "\"%s\" is not an OpenWhisk name (an "
                    "action in a package is named by \"package\")", sact);
        bad = -1;
    }

    if (bad) {
        return;
    }

    ns = oa_encode_segment(sns);
    pkg = oa_encode_segment(spkg);
    act = oa_encode_segment(sact);
    rt = rt ? rt : "json";

    n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        n--;
    }

    url = NULL;

    if (ns && pkg && act) {
        url = malloc(n + strlen(ns) + strlen(pkg) + strlen(act) + strlen(rt)
                     + 32);
    }

    if (url == NULL) {
        c->oom = 1;
        goto done;
    }

    sprintf(url, "%.*s/api/v1/web/%s/%s/%s.%s", (int) n, base, ns, pkg, act,
            rt);

    if (base[0] == '$' && base[1] == '(') {
        p = url + n;
        t.present = 1;
        t.ok = 1;
        t.b.url = url;
        t.b.scheme = oa_strdup(c, "https");
        t.b.host = oa_strdup(c, "");
        t.b.authority = oa_strdup(c, "");
        t.b.port = 443;
        t.b.path = oa_strdup(c, p);
        t.ptr = oa_strdup(c, c->ptr.buf);

    } else {
        oa_target_url(c, NULL, url, &t);
        free(url);
    }

    t.b.append_path = strcmp(rt, "http") == 0;

    oa_materialize(c, op, &t, "x-openwhisk", NULL, NULL);

done:
    oa_target_free(&t);
    free(ns);
    free(pkg);
    free(act);
}


/* x-apigw-backend: {url, method?} at the current pointer */
static void
oa_apigw_backend(oa_ctx_t *c, json_t *v, oa_target_t *t)
{
    char        *method;
    size_t       old;
    const char  *url;

    t->present = 1;

    if (!json_is_object(v)) {
        oa_error(c, "must be an object, not %s", oa_type_name(v));
        return;
    }

    if ((oa_get_string(c, v, "url", 1, &url)
         | oa_verb(c, v, "method", &method)) != 0)
    {
        free(method);
        return;
    }

    old = oa_ptr_push(c, "url");
    oa_target_url(c, NULL, url, t);
    oa_ptr_pop(c, old);

    t->b.method = method;
}


void
oa_backends(oa_ctx_t *c)
{
    int                 ci;
    char               *saved;
    size_t              i, old;
    json_t             *opj, *v;
    oa_gw_t             gw;
    oa_exec_t          *ex;
    oa_target_t         root, t;
    apigw_backend_t     deflt;
    apigw_operation_t  *op;

    memset(&gw, 0, sizeof(gw));
    memset(&root, 0, sizeof(root));

    oa_gateway(c, &gw);

    v = json_object_get(c->root, "x-apigw-backend");

    if (v != NULL) {
        old = oa_ptr_push(c, "x-apigw-backend");
        oa_apigw_backend(c, v, &root);
        oa_ptr_pop(c, old);
    }

    saved = oa_strdup(c, c->ptr.buf ? c->ptr.buf : "");
    if (saved == NULL) {
        goto done;
    }

    for (i = 0; i < c->api->nops; i++) {
        op = &c->api->ops[i];
        opj = c->info[i].op;

        if (op->pointer == NULL || op->path == NULL) {
            continue;           /* out of memory, already reported */
        }

        oa_ptr_set(c, op->pointer);

        ci = gw.op_case ? gw.op_case[i] : -1;
        ex = ci >= 0 ? &gw.cases[ci] : NULL;

        if (ex != NULL && ex->invoke.present) {
            oa_materialize(c, op, &ex->invoke, gw.source,
                           &gw.top.headers, &ex->headers);
            continue;
        }

        if (gw.top.invoke.present) {
            oa_materialize(c, op, &gw.top.invoke, gw.source,
                           &gw.top.headers, ex ? &ex->headers : NULL);
            continue;
        }

        v = json_object_get(opj, "x-openwhisk");

        if (v != NULL) {
            old = oa_ptr_push(c, "x-openwhisk");
            oa_openwhisk(c, op, v);
            oa_ptr_pop(c, old);
            continue;
        }

        v = json_object_get(opj, "x-apigw-backend");

        if (v != NULL) {
            memset(&t, 0, sizeof(t));
            old = oa_ptr_push(c, "x-apigw-backend");
            oa_apigw_backend(c, v, &t);
            oa_materialize(c, op, &t, "x-apigw-backend", NULL, NULL);
            oa_ptr_pop(c, old);
            oa_target_free(&t);
            continue;
        }

        if (root.present) {
            oa_materialize(c, op, &root, "x-apigw-backend", NULL, NULL);
            continue;
        }

        oa_warn(c, "no backend; requests get 501");
    }

    /* x-apigw-timeout: the operation's, else the document's */
    memset(&deflt, 0, sizeof(apigw_backend_t));
    v = json_object_get(c->root, "x-apigw-timeout");

    if (v != NULL) {
        oa_ptr_set(c, "");
        old = oa_ptr_push(c, "x-apigw-timeout");
        oa_timeouts(c, v, &deflt);
        oa_ptr_pop(c, old);
    }

    for (i = 0; i < c->api->nops; i++) {
        op = &c->api->ops[i];
        v = json_object_get(c->info[i].op, "x-apigw-timeout");

        if (op->pointer == NULL) {
            continue;
        }

        if (op->backend.timeout_ms == 0) {
            op->backend.timeout_ms = deflt.timeout_ms;
        }

        op->backend.connect_timeout_ms = deflt.connect_timeout_ms;

        if (v != NULL) {
            oa_ptr_set(c, op->pointer);
            old = oa_ptr_push(c, "x-apigw-timeout");
            oa_timeouts(c, v, &op->backend);
            oa_ptr_pop(c, old);
        }
    }

    oa_ptr_set(c, saved);
    free(saved);

done:

    oa_target_free(&root);
    oa_target_free(&gw.top.invoke);
    oa_headers_free(&gw.top.headers);

    for (i = 0; i < gw.ncases; i++) {
        oa_target_free(&gw.cases[i].invoke);
        oa_headers_free(&gw.cases[i].headers);
    }

    free(gw.cases);
    free(gw.op_case);
    json_decref(gw.by_id);
    json_decref(gw.by_route);
}


/* ---- CORS ---- */

static char *
oa_join(oa_ctx_t *c, char **items, size_t n)
{
    char    *s, *p;
    size_t   i, len;

    for (len = 1, i = 0; i < n; i++) {
        len += strlen(items[i]) + 2;
    }

    s = malloc(len);
    if (s == NULL) {
        c->oom = 1;
        return NULL;
    }

    for (p = s, i = 0; i < n; i++) {
        p += sprintf(p, "%s%s", i ? ", " : "", items[i]);
    }

    *p = '\0';

    return s;
}


static int
oa_cors_item(oa_ctx_t *c, int methods, char *item, char **items, size_t *n)
{
    apigw_method_e  m;

    if (methods) {
        m = apigw_method_parse(item, strlen(item));

        if (m == APIGW_M_NONE) {
            oa_error(c, "unknown method \"%s\"", item);
            return -1;
        }

        items[(*n)++] = (char *) apigw_method_name(m);
        return 0;
    }

    if (!oa_token(item)) {
        oa_error(c, "\"%s\" is not a valid header name", item);
        return -1;
    }

    items[(*n)++] = item;

    return 0;
}


/*
 * A list given as an array of strings or as a comma-separated string:
 * methods (canonical names) or header names, joined with ", ".
 */
static void
oa_cors_list(oa_ctx_t *c, json_t *obj, const char *key, int methods,
    char **out)
{
    char    *copy, *item, *save, **items;
    size_t   i, n, len, old, old2;
    json_t  *v, *e;

    v = json_object_get(obj, key);
    if (v == NULL) {
        return;
    }

    old = oa_ptr_push(c, key);
    copy = NULL;
    items = NULL;
    n = 0;

    if (json_is_array(v)) {
        items = calloc(json_array_size(v) + 1, sizeof(char *));
        if (items == NULL) {
            c->oom = 1;
            goto failed;
        }

        json_array_foreach(v, i, e) {
            old2 = oa_ptr_push_index(c, i);

            if (!json_is_string(e)) {
                oa_error(c, "must be a string, not %s", oa_type_name(e));
                goto failed;
            }

            if (oa_cors_item(c, methods, (char *) json_string_value(e),
                             items, &n)
                != 0)
            {
                goto failed;
            }

            oa_ptr_pop(c, old2);
        }

    } else if (json_is_string(v)) {
        copy = oa_strdup(c, json_string_value(v));
        items = calloc(json_string_length(v) + 1, sizeof(char *));
        if (copy == NULL || items == NULL) {
            c->oom = 1;
            goto failed;
        }

        for (item = strtok_r(copy, ",", &save); item != NULL;
             item = strtok_r(NULL, ",", &save))
        {
            item += strspn(item, " \t");
            len = strlen(item);

            while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
            {
                item[--len] = '\0';
            }

            if (len > 0 && oa_cors_item(c, methods, item, items, &n) != 0) {
                goto failed;
            }
        }

    } else {
        oa_error(c, "must be an array or a string, not %s", oa_type_name(v));
        goto failed;
    }

    *out = n ? oa_join(c, items, n) : NULL;

failed:

    oa_ptr_pop(c, old);
    free(items);
    free(copy);
}


/* scheme://host[:port], nothing else */
static int
oa_origin_valid(const char *s)
{
    const char  *p;

    p = strstr(s, "://");

    if (p == NULL || p == s || p[3] == '\0') {
        return 0;
    }

    if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789+.-") != (size_t) (p - s))
    {
        return 0;
    }

    for (p += 3; *p; p++) {
        if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == '/'
            || *p == ',' || *p == '?' || *p == '#' || *p == '"')
        {
            return 0;
        }
    }

    return 1;
}


static void
oa_cors_origins(oa_ctx_t *c, json_t *obj, apigw_cors_t *cors)
{
    int           any;
    size_t        i, old, old2;
    json_t       *v, *e;
    const char   *s;

    v = json_object_get(obj, "origins");

    if (v == NULL) {
        return;
    }

    old = oa_ptr_push(c, "origins");

    if (json_is_string(v)) {
        s = json_string_value(v);

        if (strcmp(s, "*") != 0) {
            if (!oa_origin_valid(s)) {
                oa_error(c, "\"%s\" is not an origin (scheme://host[:port])",
                         s);

            } else {
                cors->origins = malloc(sizeof(char *));
                if (cors->origins == NULL) {
                    c->oom = 1;
                } else {
                    cors->origins[0] = oa_strdup(c, s);
                    cors->norigins = 1;
                }
            }
        }

        oa_ptr_pop(c, old);
        return;
    }

    if (!json_is_array(v)) {
        oa_error(c, "must be an array or \"*\", not %s", oa_type_name(v));
        oa_ptr_pop(c, old);
        return;
    }

    if (json_array_size(v) == 0) {
        oa_error(c, "must not be empty");
        oa_ptr_pop(c, old);
        return;
    }

    cors->origins = calloc(json_array_size(v), sizeof(char *));
    if (cors->origins == NULL) {
        c->oom = 1;
        oa_ptr_pop(c, old);
        return;
    }

    any = 0;

    json_array_foreach(v, i, e) {
        old2 = oa_ptr_push_index(c, i);

        if (!json_is_string(e)) {
            oa_error(c, "must be a string, not %s", oa_type_name(e));

        } else if (strcmp(json_string_value(e), "*") == 0) {
            any = 1;

        } else if (!oa_origin_valid(json_string_value(e))) {
            oa_error(c, "\"%s\" is not an origin (scheme://host[:port])",
                     json_string_value(e));

        } else {
            cors->origins[cors->norigins] =
                oa_strdup(c, json_string_value(e));

            if (cors->origins[cors->norigins] != NULL) {
                cors->norigins++;
            }
        }

        oa_ptr_pop(c, old2);
    }

    if (any || cors->norigins == 0) {
        for (i = 0; i < cors->norigins; i++) {
            free(cors->origins[i]);
        }

        free(cors->origins);
        cors->origins = NULL;
        cors->norigins = 0;
    }

    oa_ptr_pop(c, old);
}


static void
oa_apigw_cors(oa_ctx_t *c, json_t *v, apigw_cors_t *cors)
{
    int            b;
    double         d;
    json_t        *e;
    const char    *k;

    if (json_is_boolean(v)) {
        cors->mode = json_is_true(v) ? APIGW_CORS_ENABLED
                                     : APIGW_CORS_DISABLED;
        return;
    }

    if (!json_is_object(v)) {
        oa_error(c, "must be an object or a boolean, not %s",
                 oa_type_name(v));
        return;
    }

    cors->mode = APIGW_CORS_ENABLED;

    json_object_foreach(v, k, e) {
        if (strcmp(k, "origins") != 0 && strcmp(k, "methods") != 0
            && strcmp(k, "headers") != 0 && strcmp(k, "expose_headers") != 0
            && strcmp(k, "credentials") != 0 && strcmp(k, "max_age") != 0
            && strncmp(k, "x-", 2) != 0)
        {
            /* a misspelt "origins" would silently mean any origin */
            oa_error_at(c, k, "unknown field \"%s\": x-apigw-cors has "
                        "origins, methods, headers, expose_headers, "
                        "credentials and max_age", k);
        }
    }

    oa_cors_origins(c, v, cors);
    oa_cors_list(c, v, "methods", 1, &cors->methods);
    oa_cors_list(c, v, "headers", 0, &cors->headers);
    oa_cors_list(c, v, "expose_headers", 0, &cors->expose);

    b = 0;
    if (oa_get_bool(c, v, "credentials", &b) == 0) {
        cors->credentials = b;
    }

    /* echoing any origin with credentials lets every site act as the user */
    if (cors->credentials && cors->norigins == 0) {
        oa_error_at(c, "credentials", "needs a list of origins (not \"*\"):"
                    " credentials are granted to listed origins only");
    }

    e = json_object_get(v, "max_age");

    if (e != NULL) {
        d = json_is_number(e) ? json_number_value(e) : -1;

        if (d < 0 || d > 2147483647.0 || d != (double) (long) d) {
            oa_error_at(c, "max_age", "must be a whole number of seconds "
                        "(0 or more)");
        } else {
            cors->max_age = (long) d;
        }
    }
}


void
oa_cors(oa_ctx_t *c)
{
    int          en;
    size_t       old;
    json_t      *conf, *cors, *v;
    const char  *source;

    conf = oa_gw_conf(c, &source);
    cors = json_is_object(conf) ? json_object_get(conf, "cors") : NULL;

    if (cors != NULL) {
        old = oa_ptr_push(c, source);
        oa_ptr_push(c, "cors");

        if (!json_is_object(cors)) {
            oa_error(c, "must be an object, not %s", oa_type_name(cors));

        } else if (json_object_get(cors, "enabled") != NULL
                   && oa_get_bool(c, cors, "enabled", &en) == 0)
        {
            c->api->cors.mode = en ? APIGW_CORS_ENABLED
                                   : APIGW_CORS_DISABLED;
        }

        oa_ptr_pop(c, old);
    }

    v = json_object_get(c->root, "x-apigw-cors");

    if (v != NULL) {
        old = oa_ptr_push(c, "x-apigw-cors");
        oa_apigw_cors(c, v, &c->api->cors);
        oa_ptr_pop(c, old);
    }
}


/* ---- request mapping ---- */

/* a {name} of the operation's path template */
static int
oa_path_param(const apigw_operation_t *op, const char *name)
{
    size_t       i, n, lens[APIGW_MAX_PARAMS];
    const char  *names[APIGW_MAX_PARAMS];

    if (op->path == NULL
        || oa_template_scan(op->path, strlen(op->path), names, lens,
                            APIGW_MAX_PARAMS, &n) != NULL)
    {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (lens[i] == strlen(name) && memcmp(names[i], name, lens[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
oa_map_location(oa_ctx_t *c, json_t *end, const char *key, char **name)
{
    int          loc;
    size_t       old;
    const char  *l, *n;

    old = oa_ptr_push(c, key);
    loc = -1;
    *name = NULL;

    if (!json_is_object(end)) {
        oa_error(c, "must be an object, not %s", oa_type_name(end));
        goto done;
    }

    if ((oa_get_string(c, end, "location", 1, &l)
         | oa_get_string(c, end, "name", 1, &n)) != 0)
    {
        goto done;
    }

    loc = strcmp(l, "header") == 0 ? APIGW_MAP_HEADER
          : strcmp(l, "query") == 0 ? APIGW_MAP_QUERY
          : strcmp(l, "body") == 0 ? APIGW_MAP_BODY
          : strcmp(l, "path") == 0 ? APIGW_MAP_PATH : -1;

    if (loc == -1) {
        oa_error_at(c, "location", "must be header, query, body or path");
        goto done;
    }

    if (n[0] == '\0' || (loc == APIGW_MAP_HEADER && !oa_token(n))) {
        oa_error_at(c, "name", "\"%s\" is not a %s name", n, l);
        loc = -1;
        goto done;
    }

    /* the gateway writes these (a renamed request id: the data plane) */
    if (loc == APIGW_MAP_HEADER
        && (oa_gateway_header(n) || strcasecmp(n, "X-Request-ID") == 0))
    {
        oa_error_at(c, "name", "\"%s\" is a header the gateway sets", n);
        loc = -1;
        goto done;
    }

    /* "*": a whole query or body, not the headers (Host, framing) */
    if (strcmp(n, "*") == 0
        && loc != APIGW_MAP_QUERY && loc != APIGW_MAP_BODY)
    {
        oa_error_at(c, "name", "\"*\" is for the query or the body");
        loc = -1;
        goto done;
    }

    *name = oa_strdup(c, n);

done:

    oa_ptr_pop(c, old);

    return loc;
}


/*
 * x-apigw-request-mapping: [{action, from: {name, location} | {value},
 * to: {name, location}}], openwhisk-apigateway's reqMapping: applied in
 * order, before the request goes to the backend.
 */
static void
oa_request_mapping(oa_ctx_t *c, apigw_operation_t *op, json_t *list)
{
    size_t        i, old, n;
    json_t       *e, *from, *to, *v;
    const char   *a;
    apigw_map_t  *m;

    if (!json_is_array(list)) {
        oa_error(c, "must be an array, not %s", oa_type_name(list));
        return;
    }

    op->maps = calloc(json_array_size(list) + 1, sizeof(apigw_map_t));
    if (op->maps == NULL) {
        c->oom = 1;
        return;
    }

    json_array_foreach(list, i, e) {
        old = oa_ptr_push_index(c, i);
        m = &op->maps[op->nmaps];
        memset(m, 0, sizeof(apigw_map_t));

        if (!json_is_object(e)) {
            oa_error(c, "must be an object, not %s", oa_type_name(e));
            goto next;
        }

        if (oa_get_string(c, e, "action", 1, &a) != 0) {
            goto next;
        }

        m->action = strcmp(a, "insert") == 0 ? APIGW_MAP_INSERT
                    : strcmp(a, "remove") == 0 ? APIGW_MAP_REMOVE
                    : strcmp(a, "transform") == 0 ? APIGW_MAP_TRANSFORM
                    : strcmp(a, "default") == 0 ? APIGW_MAP_DEFAULT : -1;

        if (m->action == -1) {
            oa_error_at(c, "action", "must be insert, remove, transform or "
                        "default");
            goto next;
        }

        from = json_object_get(e, "from");
        to = json_object_get(e, "to");

        if (m->action == APIGW_MAP_REMOVE) {
            /* what goes: "from" (openwhisk-apigateway), or "to" */
            if (from == NULL && to == NULL) {
                oa_error(c, "missing required field \"from\"");
                goto next;
            }

            m->from = oa_map_location(c, from ? from : to,
                                      from ? "from" : "to", &m->from_name);
            if (m->from == -1) {
                goto next;
            }

            if (m->from == APIGW_MAP_PATH) {
                oa_error(c, "a path parameter cannot be removed");
                goto next;
            }

            op->map_body |= m->from == APIGW_MAP_BODY;
            op->nmaps++;
            goto next;
        }

        if (!json_is_object(from)) {
            oa_error_at(c, "from", from ? "must be an object"
                                        : "missing required field");
            goto next;
        }

        v = json_object_get(from, "value");

        if (v != NULL && m->action != APIGW_MAP_TRANSFORM) {
            if (!(json_is_string(v) || json_is_number(v)
                  || json_is_boolean(v)))
            {
                oa_error_at(c, "from", "value must be a string, number or "
                            "boolean");
                goto next;
            }

            m->from = APIGW_MAP_VALUE;
            m->value = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            if (m->value == NULL) {
                c->oom = 1;
                goto next;
            }

        } else {
            m->from = oa_map_location(c, from, "from", &m->from_name);
            if (m->from == -1) {
                goto next;
            }
        }

        if (!json_is_object(to)) {
            oa_error_at(c, "to", to ? "must be an object"
                                    : "missing required field");
            goto next;
        }

        m->to = oa_map_location(c, to, "to", &m->to_name);
        if (m->to == -1) {
            goto next;
        }

        n = 0;

        if (m->from_name && strcmp(m->from_name, "*") == 0) {
            n++;
        }

        if (strcmp(m->to_name, "*") == 0) {
            n++;
        }

        /* "*" moves a whole query or body into the other one */
        if (n == 1 || (n == 2 && m->action != APIGW_MAP_TRANSFORM)) {
            oa_error(c, "\"*\" is a whole query or body: transform from "
                     "\"*\" to \"*\" only");
            goto next;
        }

        if (m->to == APIGW_MAP_PATH && m->action == APIGW_MAP_DEFAULT) {
            oa_error(c, "a path parameter always has a value: no default");
            goto next;
        }

        if (m->to == APIGW_MAP_PATH && oa_path_param(op, m->to_name) == 0) {
            oa_error_at(c, "to", "\"%s\" is not a path parameter of the "
                        "operation", m->to_name);
            goto next;
        }

        if (m->from == APIGW_MAP_PATH
            && oa_path_param(op, m->from_name) == 0)
        {
            oa_error_at(c, "from", "\"%s\" is not a path parameter of the "
                        "operation", m->from_name);
            goto next;
        }

        op->map_body |= m->from == APIGW_MAP_BODY || m->to == APIGW_MAP_BODY;
        op->nmaps++;

    next:

        if (op->nmaps == 0 || &op->maps[op->nmaps - 1] != m) {
            free(m->from_name);
            free(m->value);
            free(m->to_name);
            memset(m, 0, sizeof(apigw_map_t));
        }

        oa_ptr_pop(c, old);
    }
}


/* x-apigw-request-mapping of every operation */
void
oa_request_mappings(oa_ctx_t *c)
{
    size_t              i, old;
    json_t             *v;
    apigw_operation_t  *op;

    for (i = 0; i < c->api->nops; i++) {
        op = &c->api->ops[i];
        v = json_object_get(c->info[i].op, "x-apigw-request-mapping");

        if (v == NULL || op->pointer == NULL) {
            continue;
        }

        oa_ptr_set(c, op->pointer);
        old = oa_ptr_push(c, "x-apigw-request-mapping");
        oa_request_mapping(c, op, v);
        oa_ptr_pop(c, old);
        oa_ptr_set(c, "");
    }
}


/* an operation's own x-apigw-cors (the v1 model's CORS is per resource) */
void
oa_op_cors(oa_ctx_t *c)
{
    size_t              i, old;
    json_t             *v;
    apigw_operation_t  *op;

    for (i = 0; i < c->api->nops; i++) {
        op = &c->api->ops[i];
        v = json_object_get(c->info[i].op, "x-apigw-cors");
        op->cors.max_age = -1;

        if (v == NULL || op->pointer == NULL) {
            continue;
        }

        oa_ptr_set(c, op->pointer);
        old = oa_ptr_push(c, "x-apigw-cors");
        oa_apigw_cors(c, v, &op->cors);
        oa_ptr_pop(c, old);
        oa_ptr_set(c, "");

        c->api->op_cors = 1;
    }
}
