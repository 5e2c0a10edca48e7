/*
 * apigw management API (see admin.h).  Shapes and statuses follow
 * openwhisk-apigateway where it is right, and fix its defects: every
 * error is JSON with a numeric status, a duplicate basePath is 409, a bad
 * document is 400 listing every problem with its JSON pointer, and every
 * call acts only within the tenant of its URL.
 */

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <stdarg.h>
#include <ctype.h>
#include <time.h>
#include <strings.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "apigw.h"
#include "admin.h"
#include "auth.h"
#include "wabind.h"
#include "cert.h"
#include "../openapi/oa.h"
#include "../ratelimit/ratelimit.h"


#define ADMIN_MAX_SEGS     8
#define ADMIN_MAX_QUERY    32
#define ADMIN_MAX_ID       128
#define ADMIN_KEY_PREFIX   "apigw_"
#define ADMIN_PREFIX_LEN   14      /* "apigw_" + 8 hex digits */


typedef struct {
    char    *name;
    char    *value;
} admin_qp_t;

typedef struct {
    const apigw_store_t      *s;
    const apigw_admin_req_t  *req;
    apigw_admin_resp_t       *resp;
    char                     *seg[ADMIN_MAX_SEGS];
    size_t                    nseg;
    admin_qp_t                q[ADMIN_MAX_QUERY];
    size_t                    nq;
    char                      method[16];
} admin_t;


static const char *admin_json_type = "application/json";
static const char *admin_text_type = "text/plain";


/* ---- responses ---- */

static void
admin_set_body(apigw_admin_resp_t *resp, int status, char *body,
    const char *type)
{
    free(resp->body);
    resp->status = status;
    resp->body = body;
    resp->body_len = body ? strlen(body) : 0;
    resp->content_type = type;
    resp->allow = NULL;
}


static void
admin_verror(apigw_admin_resp_t *resp, const char *rid, int status,
    json_t *errors, const char *fmt, va_list ap)
{
    char    msg[1024], *body;
    json_t  *o;

    memcpy(msg, "Error: ", 7);
    vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);

    o = json_pack("{s:i,s:s}", "status", status, "message", msg);

    if (o == NULL) {
        /* not UTF-8 (a name from the URL): without the odd bytes */
        for (body = msg; *body; body++) {
            if ((unsigned char) *body >= 0x80) {
                *body = '?';
            }
        }

        o = json_pack("{s:i,s:s}", "status", status, "message", msg);
    }

    if (o && rid) {
        json_object_set_new(o, "request_id", json_string(rid));
    }

    if (o && errors) {
        json_object_set(o, "errors", errors);
    }

    body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);

    if (body == NULL) {
        /* out of memory: a static body */
        status = 503;
        body = strdup("{\"status\":503,"
                      "\"message\":\"Error: Out of memory.\"}");
    }

    admin_set_body(resp, status, body, admin_json_type);

    /* an error never writes */
    apigw_muts_free(&resp->muts);
}


void
apigw_admin_error(apigw_admin_resp_t *resp, const char *request_id,
    int status, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    admin_verror(resp, request_id, status, NULL, fmt, ap);
    va_end(ap);
}


static int
admin_err(admin_t *a, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int admin_v1_req_mapping_check(admin_t *a, const char *path,
    const char *verb, size_t pi, json_t *value);
static int admin_v1_rate_limit_check(admin_t *a, const char *path,
    const char *verb, size_t pi, json_t *value);
static void admin_v1_rate_limits(json_t *value, json_t *out);
static void admin_v1_security(json_t *doc, json_t *o, json_t *sec);


static int
admin_err(admin_t *a, int status, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    admin_verror(a->resp, a->req->request_id, status, NULL, fmt, ap);
    va_end(ap);

    return -1;
}


/* the same, with {"pointer","message"} problems; takes no reference */
static int
admin_err_list(admin_t *a, int status, json_t *errors, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
admin_err_list(admin_t *a, int status, json_t *errors, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    admin_verror(a->resp, a->req->request_id, status, errors, fmt, ap);
    va_end(ap);

    return -1;
}


/*
 * 405 with `allow` (static), the methods the path serves: HEAD wherever
 * GET is, OPTIONS everywhere (answered 204 with it: apigw_admin_handle())
 */
static int
admin_verb(admin_t *a, const char *allow)
{
    admin_err(a, 405, "Invalid verb.");
    a->resp->allow = allow;

    return -1;
}


static int
admin_oom(admin_t *a)
{
    return admin_err(a, 503, "Out of memory.");
}


/*
 * The fewest significant digits (at least `digits`, at most 17) that give
 * every real of v back exactly: jansson writes %.17g, which shows a
 * document's 0.1 as 0.10000000000000001.
 */
static int
admin_real_digits(json_t *v, int digits, int depth)
{
    char         buf[40];
    size_t       i;
    double       d;
    json_t      *e;
    const char  *k;

    if (digits >= 17 || depth > 4096) {
        return 17;
    }

    switch (json_typeof(v)) {

    case JSON_REAL:
        d = json_real_value(v);

        for ( ;  digits < 17; digits++) {
            snprintf(buf, sizeof(buf), "%.*g", digits, d);
            if (strtod(buf, NULL) == d) {
                break;
            }
        }

        return digits;

    case JSON_OBJECT:
        json_object_foreach(v, k, e) {
            digits = admin_real_digits(e, digits, depth + 1);
        }

        return digits;

    case JSON_ARRAY:
        json_array_foreach(v, i, e) {
            digits = admin_real_digits(e, digits, depth + 1);
        }

        return digits;

    default:
        return digits;
    }
}


int
apigw_json_real_digits(json_t *v)
{
    return admin_real_digits(v, 1, 0);
}


/* takes the reference to v */
static int
admin_json(admin_t *a, int status, json_t *v)
{
    int    digits;
    char  *body;

    if (v == NULL) {
        return admin_oom(a);
    }

    digits = admin_real_digits(v, 1, 0);

    body = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY
                         | JSON_REAL_PRECISION(digits));
    json_decref(v);

    if (body == NULL) {
        return admin_oom(a);
    }

    admin_set_body(a->resp, status, body, admin_json_type);

    return 0;
}


static int
admin_text(admin_t *a, int status, const char *text)
{
    char  *body;

    body = strdup(text);
    if (body == NULL) {
        return admin_oom(a);
    }

    admin_set_body(a->resp, status, body, admin_text_type);

    return 0;
}


static int
admin_no_content(admin_t *a)
{
    admin_set_body(a->resp, 204, NULL, NULL);
    return 0;
}


/* takes the reference to v (NULL: delete) */
static int
admin_write(admin_t *a, const char *key, json_t *v)
{
    if (apigw_muts_add(&a->resp->muts, key, v) != 0) {
        return admin_oom(a);
    }

    return 0;
}


/* ---- request parsing ---- */

/* a percent-decoded copy ("+" is a space in a query); NULL on bad input */
static char *
admin_decode(const char *s, size_t len, int query)
{
    int     h, l;
    char   *out, *p;
    size_t  i;

    out = malloc(len + 1);
    if (out == NULL) {
        return NULL;
    }

    p = out;

    for (i = 0; i < len; i++) {
        if (s[i] == '%') {
            h = i + 1 < len ? apigw_hex((unsigned char) s[i + 1]) : -1;
            l = i + 2 < len ? apigw_hex((unsigned char) s[i + 2]) : -1;

            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                free(out);
                return NULL;
            }

            *p++ = (char) (h << 4 | l);
            i += 2;

        } else if (s[i] == '+' && query) {
            *p++ = ' ';

        } else if (s[i] == '\0') {
            free(out);
            return NULL;

        } else {
            *p++ = s[i];
        }
    }

    *p = '\0';

    return out;
}


static int
admin_parse(admin_t *a)
{
    size_t       i, start, end, len, eq;
    const char  *p, *q;

    len = a->req->method_len < sizeof(a->method) - 1
          ? a->req->method_len : sizeof(a->method) - 1;

    for (i = 0; i < len; i++) {
        a->method[i] = (char) toupper((unsigned char) a->req->method[i]);
    }

    a->method[len] = '\0';

    p = a->req->path;
    len = a->req->path_len;

    for (i = 0; i < len; /* void */ ) {
        while (i < len && p[i] == '/') {
            i++;
        }

        if (i == len) {
            break;
        }

        start = i;

        while (i < len && p[i] != '/') {
            i++;
        }

        if (a->nseg == ADMIN_MAX_SEGS) {
            return admin_err(a, 404, "Not found.");
        }

        a->seg[a->nseg] = admin_decode(p + start, i - start, 0);
        if (a->seg[a->nseg] == NULL) {
            return admin_err(a, 400, "Invalid request path.");
        }

        a->nseg++;
    }

    q = a->req->query;
    len = q ? a->req->query_len : 0;

    for (i = 0; i < len; i = end + 1) {
        start = i;

        for (end = i; end < len && q[end] != '&'; end++) { /* void */ }

        if (end == start) {
            continue;
        }

        if (a->nq == ADMIN_MAX_QUERY) {
            return admin_err(a, 400, "Too many query parameters.");
        }

        for (eq = start; eq < end && q[eq] != '='; eq++) { /* void */ }

        a->q[a->nq].name = admin_decode(q + start, eq - start, 1);
        a->q[a->nq].value = eq < end
                            ? admin_decode(q + eq + 1, end - eq - 1, 1)
                            : strdup("");

        if (a->q[a->nq].name == NULL || a->q[a->nq].value == NULL) {
            free(a->q[a->nq].name);
            free(a->q[a->nq].value);
            return admin_err(a, 400, "Invalid query string.");
        }

        a->nq++;
    }

    return 0;
}


/* the last value of a query parameter, or NULL */
static const char *
admin_arg(admin_t *a, const char *name)
{
    size_t       i;
    const char  *v;

    v = NULL;

    for (i = 0; i < a->nq; i++) {
        if (strcmp(a->q[i].name, name) == 0) {
            v = a->q[i].value;
        }
    }

    return v;
}


/* HEAD is GET: the same answer, without the body (nginx drops it) */
static int
admin_is(admin_t *a, const char *m)
{
    return strcmp(a->method, m) == 0
           || (strcmp(m, "GET") == 0 && strcmp(a->method, "HEAD") == 0);
}


static int
admin_valid_id(const char *s, int dots)
{
    size_t  n;

    for (n = 0; s[n]; n++) {
        if (!(isalnum((unsigned char) s[n]) || s[n] == '-' || s[n] == '_'
              || (dots && (s[n] == '.' || s[n] == '@'))))
        {
            return 0;
        }
    }

    return n > 0 && n <= ADMIN_MAX_ID;
}


static json_t *
admin_body_json(admin_t *a)
{
    json_t        *v;
    json_error_t   je;

    if (a->req->body == NULL || a->req->body_len == 0) {
        admin_err(a, 400, "Missing request body");
        return NULL;
    }

    v = json_loadb(a->req->body, a->req->body_len, JSON_REJECT_DUPLICATES,
                   &je);
    if (v == NULL) {
        admin_err(a, 400, "Invalid JSON in request body: line %d: %s",
                  je.line, je.text);
        return NULL;
    }

    if (!json_is_object(v)) {
        json_decref(v);
        admin_err(a, 400, "The request body must be a JSON object.");
        return NULL;
    }

    return v;
}


static const char *
admin_str(json_t *o, const char *key)
{
    json_t  *v;

    v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}


/* ---- records ---- */

static json_t *
admin_api(admin_t *a, const char *tenant, const char *id)
{
    char         key[ADMIN_MAX_ID + 8];
    json_t      *v;
    const char  *t;

    if (strlen(id) > ADMIN_MAX_ID) {
        return NULL;
    }

    snprintf(key, sizeof(key), "api:%s", id);
    v = apigw_store_get(a->s, key);

    t = admin_str(v, "tenant");
    if (v == NULL || t == NULL || (tenant && strcmp(t, tenant) != 0)) {
        return NULL;
    }

    return v;
}


/*
 * 1: a tenant other than `tenant` binds in the namespace ns, or, with
 * `owners`, has it as its namespace
 */
static int
admin_ns_taken(admin_t *a, const char *tenant, const char *ns, int owners)
{
    json_t      *v;
    const char  *k, *t, *n;

    json_object_foreach(apigw_store_records(a->s), k, v) {
        if (strncmp(k, "webaction:", 10) == 0) {
            t = admin_str(v, "tenant");

        } else if (owners && strncmp(k, "tenant:", 7) == 0) {
            t = k + 7;

        } else {
            continue;
        }

        n = admin_str(v, "namespace");

        if (t && n && strcmp(t, tenant) != 0 && strcmp(n, ns) == 0) {
            return 1;
        }
    }

    return 0;
}


/* 1: the wildcard name w ("*.a.b") covers the name n ("x.a.b") */
static int
admin_wildcard_covers(const char *w, const char *n)
{
    const char  *dot;

    if (w[0] != '*' || w[1] != '.') {
        return 0;
    }

    dot = strchr(n, '.');

    return dot != NULL && dot != n && strcmp(dot + 1, w + 2) == 0;
}


/*
 * 1: another tenant has the domain lc, or a name a wildcard of either
 * covers: a domain belongs to one tenant, and the certificate of a
 * wildcard would serve the names it covers
 */
static int
admin_domain_clash(admin_t *a, const char *tenant, const char *lc)
{
    size_t       j;
    json_t      *v, *d;
    const char  *k, *n;

    json_object_foreach(apigw_store_records(a->s), k, v) {
        if (strncmp(k, "tenant:", 7) != 0 || strcmp(k + 7, tenant) == 0) {
            continue;
        }

        json_array_foreach(json_object_get(v, "domains"), j, d) {
            n = json_string_value(d);

            if (n && (strcmp(n, lc) == 0 || admin_wildcard_covers(n, lc)
                      || admin_wildcard_covers(lc, n)))
            {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * The URL of a base path: bytes a URL cannot hold as they are (UTF-8, a
 * space) percent-encoded; "%" is left alone, since a base path with
 * escapes already has them as the spec wrote them.
 */
static char *
admin_managed_url(admin_t *a, const char *tenant, const char *base)
{
    char                *u, *p;
    size_t               n, i;
    unsigned char        ch;
    static const char    hex[] = "0123456789ABCDEF";

    if (strcmp(base, "/") == 0) {
        base = "";
    }

    n = strlen(a->req->public_url) + strlen(tenant) + 3 * strlen(base) + 8;
    u = malloc(n);
    if (u == NULL) {
        return NULL;
    }

    p = u + snprintf(u, n, "%s/api/%s", a->req->public_url, tenant);

    for (i = 0; base[i]; i++) {
        ch = (unsigned char) base[i];

        if (ch <= 0x20 || ch >= 0x7f || strchr("\"<>\\^`{|}#?", ch)) {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 0xf];

        } else {
            *p++ = (char) ch;
        }
    }

    *p = '\0';

    return u;
}


/* {"artifact_id","managed_url","open_api_doc"} of a record */
static json_t *
admin_v2_view(admin_t *a, json_t *rec)
{
    char    *url;
    json_t  *o;

    url = admin_managed_url(a, admin_str(rec, "tenant"),
                            admin_str(rec, "basePath"));
    if (url == NULL) {
        return NULL;
    }

    o = json_pack("{s:s,s:s,s:O}", "artifact_id", admin_str(rec, "id"),
                  "managed_url", url, "open_api_doc",
                  json_object_get(rec, "doc"));
    free(url);

    return o;
}


/*
 * Import a document (JSON or YAML), collecting every problem as
 * {"pointer","message"}; on success the JSON form of the document, the
 * normalised basePath and title, and the backend authorities.
 */

/* 400 with every problem; takes the reference to errs */
/* the errors (not the warnings) as [{pointer, message}], or NULL */
static json_t *
admin_problem_list(const apigw_problems_t *probs)
{
    size_t   i;
    json_t  *errs, *e;

    errs = json_array();

    for (i = 0; errs && i < probs->n; i++) {
        if (probs->items[i].warning) {
            continue;
        }

        e = json_pack("{s:s,s:s}", "pointer",
                      probs->items[i].pointer ? probs->items[i].pointer : "",
                      "message", probs->items[i].message
                                 ? probs->items[i].message : "");
        if (e) {
            json_array_append_new(errs, e);
        }
    }

    return errs;
}


static void
admin_problems(admin_t *a, json_t *errs, const char *first)
{
    char    *body, msg[700];
    json_t  *o;

    snprintf(msg, sizeof(msg), "Error: Invalid API document: %s", first);

    o = json_pack("{s:i,s:s,s:o}", "status", 400, "message", msg,
                  "errors", errs);
    if (o && a->req->request_id) {
        json_object_set_new(o, "request_id",
                            json_string(a->req->request_id));
    }

    body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);

    if (body == NULL) {
        admin_oom(a);
        return;
    }

    admin_set_body(a->resp, 400, body, admin_json_type);
    apigw_muts_free(&a->resp->muts);
}


typedef struct {
    json_t  *doc;
    char     base[1024];
    char     title[512];
    json_t  *hosts;
} admin_doc_t;


static int admin_routes_clash(admin_t *a, const char *tenant,
    const char *except, apigw_api_t *api);


/*
 * The document of an API `except` of `tenant` (NULL: a new one): compiled
 * as the gateway will, and routed with the tenant's other APIs, so that a
 * write is refused rather than acknowledged and then left out.
 */
static int
admin_import(admin_t *a, const char *buf, size_t len, const char *tenant,
    const char *except, admin_doc_t *d)
{
    size_t                i, j;
    json_t               *errs;
    char                  hp[600];
    oa_ctx_t              c;
    apigw_api_t          *api;
    apigw_problems_t      probs;
    apigw_import_opts_t   opts;

    memset(d, 0, sizeof(admin_doc_t));
    memset(&opts, 0, sizeof(opts));
    opts.openwhisk_url = a->req->openwhisk_url;
    opts.max_size = len + 1;

    if (buf == NULL || len == 0) {
        return admin_err(a, 400, "Missing request body");
    }

    apigw_problems_init(&probs);

    api = apigw_import_buffer(buf, len, &opts, &probs);

    if (api == NULL) {
        errs = admin_problem_list(&probs);
        apigw_problems_free(&probs);

        if (errs == NULL) {
            return admin_oom(a);
        }

        snprintf(hp, sizeof(hp), "%s",
                 json_array_size(errs)
                 ? admin_str(json_array_get(errs, 0), "message")
                 : "invalid document");

        admin_problems(a, errs, hp);

        return -1;
    }

    apigw_problems_free(&probs);

    /* as a static spec's fail `nginx -t`: refused, not 503 at run time */
    for (i = 0; !a->req->global_limits && i < api->nops; i++) {
        for (j = 0; api->ops[i].limits && j < api->ops[i].limits->n; j++) {
            if (api->ops[i].limits->items[j].store != APIGW_RL_STORE_LOCAL) {
                errs = json_pack("[{s:s,s:s}]", "pointer",
                                 api->ops[i].pointer ? api->ops[i].pointer
                                                     : "",
                                 "message", "a rate limit with store redis "
                                 "or hybrid needs apigw_limit_redis on the "
                                 "gateway, which has none");
                apigw_api_free(api);

                if (errs == NULL) {
                    return admin_oom(a);
                }

                admin_problems(a, errs, "a rate limit with store redis or "
                               "hybrid needs apigw_limit_redis on the "
                               "gateway, which has none");
                return -1;
            }
        }
    }

    if (admin_routes_clash(a, tenant, except, api) != 0) {
        apigw_api_free(api);
        return -1;
    }

    /* cut, they would name another API (or none): refused instead */
    if (strlen(api->base_path) >= sizeof(d->base)
        || (api->title && strlen(api->title) >= sizeof(d->title)))
    {
        apigw_api_free(api);
        return admin_err(a, 400, "basePath may have at most %d and the "
                         "title at most %d characters.",
                         (int) sizeof(d->base) - 1,
                         (int) sizeof(d->title) - 1);
    }

    snprintf(d->base, sizeof(d->base), "%s",
             api->base_path[0] ? api->base_path : "/");
    snprintf(d->title, sizeof(d->title), "%s",
             api->title ? api->title : "");

    d->hosts = json_array();

    for (i = 0; d->hosts && i < api->nops; i++) {
        if (api->ops[i].backend.url == NULL) {
            continue;
        }

        snprintf(hp, sizeof(hp), "%s|%d", api->ops[i].backend.host,
                 api->ops[i].backend.port);

        for (j = 0; j < json_array_size(d->hosts); j++) {
            if (strcmp(json_string_value(json_array_get(d->hosts, j)), hp)
                == 0)
            {
                break;
            }
        }

        if (j == json_array_size(d->hosts)) {
            json_array_append_new(d->hosts, json_string(hp));
        }
    }

    apigw_api_free(api);

    /* the document as JSON (YAML converted) */
    memset(&c, 0, sizeof(c));
    apigw_problems_init(&probs);
    c.opts = &opts;
    c.probs = &probs;

    d->doc = oa_parse(&c, buf, len);

    free(c.ptr.buf);
    apigw_problems_free(&probs);

    if (d->doc == NULL || d->hosts == NULL) {
        json_decref(d->doc);
        json_decref(d->hosts);
        return admin_oom(a);
    }

    return 0;
}


/*
 * The next unit of a base path as the router sees it: "/" (256) between
 * segments, else a byte, percent-decoded ("%2F" a byte of its segment).
 */
static int
admin_base_unit(const char **p)
{
    int          hi, lo;
    const char  *s;

    s = *p;

    if (*s == '/') {
        *p = s + 1;
        return 256;
    }

    if (s[0] == '%' && s[1] && s[2]) {
        hi = apigw_hex((unsigned char) s[1]);
        lo = apigw_hex((unsigned char) s[2]);

        if (hi >= 0 && lo >= 0) {
            *p = s + 3;
            return hi << 4 | lo;
        }
    }

    *p = s + 1;

    return (unsigned char) *s;
}


/* two (normalised) base paths that route the same requests */
static int
admin_base_same(const char *x, const char *y)
{
    while (*x && *y) {
        if (admin_base_unit(&x) != admin_base_unit(&y)) {
            return 0;
        }
    }

    return *x == '\0' && *y == '\0';
}


/*
 * One base path a segment-wise prefix of the other (as routed): only then
 * can their APIs' routes be the same template.  "/" prefixes every one.
 */
static int
admin_base_overlap(const char *x, const char *y)
{
    if (strcmp(x, "/") == 0 || x[0] == '\0'
        || strcmp(y, "/") == 0 || y[0] == '\0')
    {
        return 1;
    }

    /* unit by unit, as routed: "%61" is "a", whichever is longer */
    while (*x && *y) {
        if (admin_base_unit(&x) != admin_base_unit(&y)) {
            return 0;
        }
    }

    return (*x == '\0' && (*y == '\0' || *y == '/'))
           || (*y == '\0' && *x == '/');
}


/* a stored API's routes (its document compiled for them), or NULL */
static apigw_api_t *
admin_stored_routes(admin_t *a, json_t *rec, const char *file)
{
    char                 *text;
    apigw_api_t          *api;
    apigw_problems_t      probs;
    apigw_import_opts_t   opts;

    text = json_dumps(json_object_get(rec, "doc"), JSON_COMPACT);
    if (text == NULL) {
        return NULL;
    }

    memset(&opts, 0, sizeof(opts));
    opts.file = file;
    opts.openwhisk_url = a->req->openwhisk_url;
    opts.routes_only = 1;
    opts.max_size = strlen(text) + 1;

    apigw_problems_init(&probs);
    api = apigw_import_buffer(text, strlen(text), &opts, &probs);
    apigw_problems_free(&probs);
    free(text);

    return api;
}


/* the API of the record has an operation named op (operationId, or
   "METHOD /path" for one without) */
static int
admin_api_has_op(admin_t *a, json_t *rec, const char *op)
{
    int           found;
    char          name[1024];
    size_t        i;
    apigw_api_t  *api;

    api = admin_stored_routes(a, rec, NULL);
    if (api == NULL) {
        return 1;                    /* not to be told: not refused */
    }

    found = 0;

    for (i = 0; i < api->nops && !found; i++) {
        if (api->ops[i].operation_id) {
            found = strcmp(api->ops[i].operation_id, op) == 0;

        } else {
            snprintf(name, sizeof(name), "%s %s",
                     apigw_method_name(api->ops[i].method),
                     api->ops[i].path);
            found = strcmp(name, op) == 0;
        }
    }

    apigw_api_free(api);

    return found;
}


/* 400: the document's own routes clash; 409: with another API's */
static int
admin_routes_clash(admin_t *a, const char *tenant, const char *except,
    apigw_api_t *api)
{
    int                rc;
    char               msg[600];
    size_t             i, n;
    json_t            *v, *errs;
    const char        *k, *id, *base;
    apigw_api_t       *other, **others;
    apigw_router_t    *rt;
    apigw_problems_t   probs;

    rt = apigw_router_create();
    others = calloc(json_object_size(apigw_store_records(a->s)) + 1,
                    sizeof(apigw_api_t *));

    if (rt == NULL || others == NULL) {
        apigw_router_free(rt);
        free(others);
        return admin_oom(a);
    }

    apigw_problems_init(&probs);
    rc = 0;
    n = 0;

    if (apigw_router_add(rt, api, &probs) != 0) {
        errs = admin_problem_list(&probs);

        if (errs == NULL) {
            rc = admin_oom(a);

        } else {
            admin_problems(a, errs, probs.n && probs.items[0].message
                                    ? probs.items[0].message
                                    : "routes clash");
            rc = -1;
        }

        goto done;
    }

    /* the others' routes only: what clashes is a method and a template */
    json_object_foreach(apigw_store_records(a->s), k, v) {
        id = admin_str(v, "id");
        base = admin_str(v, "basePath");

        if (strncmp(k, "api:", 4) != 0 || id == NULL || base == NULL
            || (except && strcmp(id, except) == 0)
            || strcmp(admin_str(v, "tenant") ? admin_str(v, "tenant") : "",
                      tenant ? tenant : "") != 0
            || !admin_base_overlap(base, api->base_path)
            /* the same basePath: 409 for that, by the caller */
            || admin_base_same(base, api->base_path[0] ? api->base_path
                                                       : "/"))
        {
            continue;
        }

        /* a stored document the gateway cannot compile is not routed */
        other = admin_stored_routes(a, v, id);
        if (other == NULL) {
            continue;
        }

        others[n++] = other;

        if (apigw_router_add(rt, other, &probs) != 0) {
            snprintf(msg, sizeof(msg), "%s",
                     probs.n && probs.items[probs.n - 1].message
                     ? probs.items[probs.n - 1].message : "");
            rc = admin_err(a, 409, "Routes clash with API %s: %s", id, msg);
            goto done;
        }
    }

done:

    apigw_problems_free(&probs);
    apigw_router_free(rt);

    for (i = 0; i < n; i++) {
        apigw_api_free(others[i]);
    }

    free(others);

    return rc;
}


/* another API of the tenant with this basePath (as routed), or NULL */
static const char *
admin_base_taken(admin_t *a, const char *tenant, const char *base,
    const char *except)
{
    json_t      *v;
    const char  *k, *id;

    json_object_foreach(apigw_store_records(a->s), k, v) {
        if (strncmp(k, "api:", 4) != 0) {
            continue;
        }

        id = admin_str(v, "id");

        if (id && except && strcmp(id, except) == 0) {
            continue;
        }

        if (strcmp(admin_str(v, "tenant") ? admin_str(v, "tenant") : "",
                   tenant) == 0
            && admin_base_same(admin_str(v, "basePath")
                               ? admin_str(v, "basePath") : "", base))
        {
            return id ? id : "";
        }
    }

    return NULL;
}


/* the tenant record, created with the API when it does not exist */
static int
admin_ensure_tenant(admin_t *a, const char *tenant)
{
    char     key[ADMIN_MAX_ID + 8];
    json_t  *t;

    snprintf(key, sizeof(key), "tenant:%s", tenant);

    if (apigw_store_get(a->s, key)) {
        return 0;
    }

    t = json_pack("{s:s,s:s,s:s,s:[]}", "id", tenant, "namespace", tenant,
                  "instance", "", "domains");
    if (t == NULL) {
        return admin_oom(a);
    }

    return admin_write(a, key, t);
}


static json_t *
admin_api_record(const char *id, const char *tenant, admin_doc_t *d)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "id", id,
                     "tenant", tenant, "basePath", d->base, "name", d->title,
                     "doc", d->doc, "hosts", d->hosts);
}


/* ---- /v2/{tenant}/apis ---- */

/* filters and paging of openwhisk-apigateway (tenants.lua) */
static int
admin_page(admin_t *a, json_t *all)
{
    char        *end;
    long         limit, skip;
    size_t       i;
    json_t      *out;
    const char  *l, *s;

    l = admin_arg(a, "limit");
    s = admin_arg(a, "skip");

    if ((l == NULL || strcmp(l, "undefined") == 0)
        && (s == NULL || strcmp(s, "undefined") == 0))
    {
        return admin_json(a, 200, all);
    }

    skip = 0;

    if (s) {
        skip = strtol(s, &end, 10);
        if (*s == '\0' || *end != '\0' || skip < 0) {
            skip = 0;
        }
    }

    if (l == NULL) {
        limit = (long) json_array_size(all);

    } else {
        limit = strtol(l, &end, 10);
        if (*l == '\0' || *end != '\0' || limit < 1) {
            json_decref(all);
            return admin_json(a, 200, json_array());
        }
    }

    out = json_array();
    if (out == NULL) {
        json_decref(all);
        return admin_oom(a);
    }

    for (i = (size_t) skip;
         i < json_array_size(all) && (long) json_array_size(out) < limit;
         i++)
    {
        json_array_append(out, json_array_get(all, i));
    }

    json_decref(all);

    return admin_json(a, 200, out);
}


static int
admin_v2_list(admin_t *a, const char *tenant)
{
    json_t      *v, *all, *view;
    const char  *k, *base, *title;

    base = admin_arg(a, "basePath");
    if (base == NULL) {
        base = admin_arg(a, "filter[where][basePath]");
    }

    title = admin_arg(a, "title");
    if (title == NULL) {
        title = admin_arg(a, "filter[where][name]");
    }

    all = json_array();
    if (all == NULL) {
        return admin_oom(a);
    }

    json_object_foreach(apigw_store_records(a->s), k, v) {
        if (strncmp(k, "api:", 4) != 0
            || strcmp(admin_str(v, "tenant") ? admin_str(v, "tenant") : "",
                      tenant) != 0
            || json_object_get(v, "v1"))
        {
            continue;
        }

        if (base && strcmp(admin_str(v, "basePath"), base) != 0) {
            continue;
        }

        if (title && strcmp(admin_str(v, "name"), title) != 0) {
            continue;
        }

        view = admin_v2_view(a, v);
        if (view == NULL || json_array_append_new(all, view) != 0) {
            json_decref(all);
            return admin_oom(a);
        }
    }

    return admin_page(a, all);
}


static int
admin_v2_put(admin_t *a, const char *tenant, const char *id)
{
    char         uuid[37], key[ADMIN_MAX_ID + 8];
    json_t      *rec, *old;
    admin_doc_t  d;

    old = NULL;

    if (id) {
        old = admin_api(a, tenant, id);
        if (old == NULL || json_object_get(old, "v1")) {
            return admin_err(a, 404, "Unknown API id %s", id);
        }

    } else {
        if (apigw_uuid4(uuid) != 0) {
            return admin_oom(a);
        }

        id = uuid;
    }

    if (admin_import(a, a->req->body, a->req->body_len, tenant, id, &d)
        != 0)
    {
        return -1;
    }

    if (admin_base_taken(a, tenant, d.base, id)) {
        json_decref(d.doc);
        json_decref(d.hosts);
        return admin_err(a, 409, "basePath not unique for given tenant.");
    }

    rec = admin_api_record(id, tenant, &d);
    if (rec == NULL) {
        return admin_oom(a);
    }

    snprintf(key, sizeof(key), "api:%s", id);

    if (admin_ensure_tenant(a, tenant) != 0
        || admin_write(a, key, json_incref(rec)) != 0)
    {
        json_decref(rec);
        return -1;
    }

    old = admin_v2_view(a, rec);
    json_decref(rec);

    return admin_json(a, 200, old);
}


/* removes an API and what hangs off it (subscriptions) */
static int
admin_delete_api(admin_t *a, const char *tenant, const char *id)
{
    char         key[ADMIN_MAX_ID + 8], pfx[2 * ADMIN_MAX_ID + 16];
    json_t      *v;
    const char  *k;

    snprintf(key, sizeof(key), "api:%s", id);
    snprintf(pfx, sizeof(pfx), "sub:%s:%s:", tenant, id);

    if (admin_write(a, key, NULL) != 0) {
        return -1;
    }

    /*
     * its subscriptions, and the keys scoped to it or to one of its
     * operations: they admit nothing any more, and must not come back to
     * life if an API is created again under the same id (v1 PUT names it)
     */
    json_object_foreach(apigw_store_records(a->s), k, v) {
        if ((strncmp(k, pfx, strlen(pfx)) == 0
             || (strncmp(k, "key:", 4) == 0
                 && admin_str(v, "api_id")
                 && strcmp(admin_str(v, "api_id"), id) == 0
                 && strcmp(admin_str(v, "tenant"), tenant) == 0))
            && admin_write(a, k, NULL) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
admin_v2_apis(admin_t *a, const char *tenant)
{
    json_t      *rec;
    const char  *id;

    id = a->nseg > 3 ? a->seg[3] : NULL;

    if (a->nseg > 5) {
        return admin_err(a, 404, "Not found.");
    }

    if (a->nseg == 5) {
        if (strcmp(a->seg[4], "openapi") != 0) {
            return admin_err(a, 404, "Not found.");
        }

        if (!admin_is(a, "GET")) {
            return admin_verb(a, "GET, HEAD, OPTIONS");
        }

        rec = admin_api(a, tenant, id);
        if (rec == NULL || json_object_get(rec, "v1")) {
            return admin_err(a, 404, "Unknown api id %s", id);
        }

        return admin_json(a, 200, json_incref(json_object_get(rec, "doc")));
    }

    if (id == NULL) {
        if (admin_is(a, "GET")) {
            return admin_v2_list(a, tenant);
        }

        if (admin_is(a, "POST")) {
            return admin_v2_put(a, tenant, NULL);
        }

        return admin_verb(a, "GET, HEAD, POST, OPTIONS");
    }

    if (admin_is(a, "GET")) {
        rec = admin_api(a, tenant, id);
        if (rec == NULL || json_object_get(rec, "v1")) {
            return admin_err(a, 404, "Unknown api id %s", id);
        }

        return admin_json(a, 200, admin_v2_view(a, rec));
    }

    if (admin_is(a, "PUT")) {
        return admin_v2_put(a, tenant, id);
    }

    if (admin_is(a, "DELETE")) {
        /* v1 APIs are v1's own, as they are for GET and PUT */
        rec = admin_api(a, tenant, id);
        if (rec == NULL || json_object_get(rec, "v1")) {
            return admin_err(a, 404, "Unknown API id %s", id);
        }

        if (admin_delete_api(a, tenant, id) != 0) {
            return -1;
        }

        return admin_no_content(a);
    }

    return admin_verb(a, "GET, HEAD, PUT, DELETE, OPTIONS");
}


/* ---- /v2/{tenant}/subscriptions ---- */

/*
 * What a listing shows of a subscription: its client id, or for an API
 * key (stored as its hash) the key's fingerprint, "key-" and 16 hex
 * digits, which DELETE takes as well as the key.
 */
static const char *
admin_sub_name(json_t *rec, char buf[65])
{
    const char     *id;
    unsigned char   h[32];

    id = admin_str(rec, "client_id");
    if (id) {
        return id;
    }

    id = admin_str(rec, "key_sha256");
    if (id == NULL || apigw_hex32(id, strlen(id), h) != 0) {
        return "";
    }

    apigw_key_fingerprint(h, buf);

    return buf;
}


/* the record of a subscription named by client id, key or fingerprint */
static int
admin_sub_find(admin_t *a, const char *tenant, const char *artifact,
    const char *name, char *key, size_t size)
{
    char         hash[65], fp[65], *found;
    size_t       n;
    json_t      *v;
    const char  *k;

    snprintf(key, size, "sub:%s:%s:%s", tenant, artifact, name);
    if (apigw_store_get(a->s, key)) {
        return 0;                   /* a client id (or an older record) */
    }

    apigw_store_sha256_hex(NULL, 0, name, strlen(name), hash);
    snprintf(key, size, "sub:%s:%s:key-%s", tenant, artifact, hash);
    if (apigw_store_get(a->s, key)) {
        return 0;                   /* the key itself */
    }

    if (strlen(name) != APIGW_KEY_FP_LEN || strncmp(name, "key-", 4) != 0) {
        return -1;
    }

    /* a fingerprint: the one key record of the API that has it */
    snprintf(key, size, "sub:%s:%s:key-", tenant, artifact);
    n = strlen(key);
    found = NULL;

    json_object_foreach(apigw_store_records(a->s), k, v) {
        if (strncmp(k, key, n) == 0
            && strcmp(admin_sub_name(v, fp), name) == 0)
        {
            if (found) {
                return -1;          /* ambiguous: the key is needed */
            }

            found = (char *) k;
        }
    }

    if (found == NULL || strlen(found) >= size) {
        return -1;
    }

    strcpy(key, found);

    return 0;
}

static int
admin_v2_subs(admin_t *a, const char *tenant)
{
    char         key[3 * ADMIN_MAX_ID + 16], salt[33], hash[65];
    char         msg[3 * ADMIN_MAX_ID + 64];
    json_t      *body, *rec, *v, *out;
    const char  *client, *artifact, *secret, *k;

    if (a->nseg > 4) {
        return admin_err(a, 404, "Not found.");
    }

    if (a->nseg == 3 && (admin_is(a, "POST") || admin_is(a, "PUT"))) {
        body = admin_body_json(a);
        if (body == NULL) {
            return -1;
        }

        client = admin_str(body, "client_id");
        artifact = admin_str(body, "artifact_id");
        secret = admin_str(body, "client_secret");

        if (client == NULL || client[0] == '\0') {
            json_decref(body);
            return admin_err(a, 400,
                             "\"client_id\" missing from request body.");
        }

        /* a secret that is not a string is not "no secret" */
        if (json_object_get(body, "client_secret")
            && (secret == NULL || secret[0] == '\0'))
        {
            json_decref(body);
            return admin_err(a, 400,
                             "\"client_secret\" must be a non-empty string.");
        }

        if (artifact == NULL || artifact[0] == '\0') {
            json_decref(body);
            return admin_err(a, 400,
                             "\"artifact_id\" missing from request body.");
        }

        if (!admin_valid_id(client, 1)) {
            json_decref(body);
            return admin_err(a, 400, "Invalid client_id.");
        }

        if (admin_api(a, tenant, artifact) == NULL) {
            admin_err(a, 404, "Unknown API id %s", artifact);
            json_decref(body);
            return -1;
        }

        if (secret) {
            rec = json_pack("{s:s,s:s,s:s}", "tenant", tenant, "artifact_id",
                            artifact, "client_id", client);

            if (rec && apigw_random_hex(salt, 16) != 0) {
                json_decref(rec);
                json_decref(body);
                return admin_oom(a);
            }

            if (rec) {
                apigw_store_sha256_hex(salt, 32, secret, strlen(secret),
                                       hash);
                json_object_set_new(rec, "secret_salt", json_string(salt));
                json_object_set_new(rec, "secret_sha256", json_string(hash));
            }

            snprintf(key, sizeof(key), "sub:%s:%s:%s", tenant, artifact,
                     client);

        } else {
            /* the client id is an API key: kept as its hash only */
            apigw_store_sha256_hex(NULL, 0, client, strlen(client), hash);
            rec = json_pack("{s:s,s:s,s:s}", "tenant", tenant, "artifact_id",
                            artifact, "key_sha256", hash);
            snprintf(key, sizeof(key), "sub:%s:%s:key-%s", tenant, artifact,
                     hash);
        }
        snprintf(msg, sizeof(msg),
                 "{\"message\":\"Subscription '%s' created for API '%s'\"}",
                 client, artifact);
        json_decref(body);

        if (rec == NULL) {
            return admin_oom(a);
        }

        if (admin_write(a, key, rec) != 0) {
            return -1;
        }

        return admin_json(a, 200, json_loads(msg, 0, NULL));
    }

    artifact = admin_arg(a, "artifact_id");

    if (a->nseg == 3 && admin_is(a, "GET")) {
        if (artifact == NULL || artifact[0] == '\0') {
            return admin_err(a, 400, "Missing artifact_id");
        }

        out = json_array();
        if (out == NULL) {
            return admin_oom(a);
        }

        snprintf(key, sizeof(key), "sub:%s:%s:", tenant, artifact);

        json_object_foreach(apigw_store_records(a->s), k, v) {
            if (strncmp(k, key, strlen(key)) == 0) {
                json_array_append_new(out,
                                      json_string(admin_sub_name(v, hash)));
            }
        }

        return admin_json(a, 200, out);
    }

    if (admin_is(a, "DELETE")) {
        if (a->nseg < 4) {
            return admin_err(a, 400, "Missing client_id");
        }

        if (artifact == NULL || artifact[0] == '\0') {
            return admin_err(a, 400, "Missing artifact_id");
        }

        if (strlen(artifact) > ADMIN_MAX_ID
            || strlen(a->seg[3]) > ADMIN_MAX_ID)
        {
            return admin_err(a, 404, "Subscription doesn't exist");
        }

        if (admin_sub_find(a, tenant, artifact, a->seg[3], key,
                           sizeof(key))
            != 0)
        {
            return admin_err(a, 404, "Subscription doesn't exist");
        }

        if (admin_write(a, key, NULL) != 0) {
            return -1;
        }

        return admin_no_content(a);
    }

    /* DELETE without a client id is a 400, not a method of the list */
    return admin_verb(a, a->nseg == 3 ? "GET, HEAD, POST, PUT, OPTIONS"
                                      : "DELETE, OPTIONS");
}


/* ---- /v2/{tenant}/keys: apigw's API keys ---- */

static json_t *
admin_key_view(json_t *rec)
{
    json_t  *o;

    o = json_deep_copy(rec);
    if (o) {
        json_object_del(o, "sha256");
    }

    return o;
}


static int
admin_v2_keys(admin_t *a, const char *tenant)
{
    char         id[37], secret[41], key[ADMIN_MAX_ID + 8];
    char         full[64], hash[65], prefix[ADMIN_PREFIX_LEN + 1];
    json_t      *body, *rec, *v, *out;
    const char  *consumer, *api, *op, *k, *filter;

    if (a->nseg > 5 || (a->nseg == 5 && strcmp(a->seg[4], "revoke") != 0)) {
        return admin_err(a, 404, "Not found.");
    }

    if (a->nseg == 3 && admin_is(a, "POST")) {
        body = admin_body_json(a);
        if (body == NULL) {
            return -1;
        }

        consumer = admin_str(body, "consumer");
        api = admin_str(body, "api_id");
        op = admin_str(body, "operation");

        if (consumer == NULL || consumer[0] == '\0') {
            json_decref(body);
            return admin_err(a, 400,
                             "\"consumer\" missing from request body.");
        }

        if (strlen(consumer) > 256) {
            json_decref(body);
            return admin_err(a, 400, "\"consumer\" is longer than 256 "
                             "bytes.");
        }

        if ((json_object_get(body, "api_id") && api == NULL)
            || (json_object_get(body, "operation") && op == NULL))
        {
            json_decref(body);
            return admin_err(a, 400,
                             "\"api_id\" and \"operation\" are strings.");
        }

        if (op && api == NULL) {
            json_decref(body);
            return admin_err(a, 400,
                             "An operation scope needs \"api_id\".");
        }

        if (api && admin_api(a, tenant, api) == NULL) {
            admin_err(a, 404, "Unknown API id %s", api);
            json_decref(body);
            return -1;
        }

        /* a key for an operation the API does not have would never work */
        if (op && !admin_api_has_op(a, admin_api(a, tenant, api), op)) {
            admin_err(a, 400, "API %s has no operation \"%.200s\" (its "
                      "operationId, or METHOD /path).", api, op);
            json_decref(body);
            return -1;
        }

        if (apigw_uuid4(id) != 0 || apigw_random_hex(secret, 20) != 0) {
            json_decref(body);
            return admin_oom(a);
        }

        snprintf(full, sizeof(full), ADMIN_KEY_PREFIX "%s", secret);
        memcpy(prefix, full, ADMIN_PREFIX_LEN);
        prefix[ADMIN_PREFIX_LEN] = '\0';
        apigw_store_sha256_hex(NULL, 0, full, strlen(full), hash);

        rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "id", id,
                        "tenant", tenant, "prefix", prefix, "sha256", hash,
                        "consumer", consumer, "revoked", 0);
        if (rec && api) {
            json_object_set_new(rec, "api_id", json_string(api));
        }

        if (rec && op) {
            json_object_set_new(rec, "operation", json_string(op));
        }

        json_decref(body);

        if (rec == NULL) {
            return admin_oom(a);
        }

        snprintf(key, sizeof(key), "key:%s", id);

        if (admin_write(a, key, json_incref(rec)) != 0) {
            json_decref(rec);
            return -1;
        }

        /* the only time the key is shown */
        v = admin_key_view(rec);
        json_decref(rec);

        if (v) {
            json_object_set_new(v, "key", json_string(full));
        }

        return admin_json(a, 201, v);
    }

    if (a->nseg == 3 && admin_is(a, "GET")) {
        filter = admin_arg(a, "api_id");

        out = json_array();
        if (out == NULL) {
            return admin_oom(a);
        }

        json_object_foreach(apigw_store_records(a->s), k, v) {
            if (strncmp(k, "key:", 4) == 0
                && strcmp(admin_str(v, "tenant"), tenant) == 0
                && (filter == NULL
                    || (admin_str(v, "api_id")
                        && strcmp(admin_str(v, "api_id"), filter) == 0)))
            {
                json_array_append_new(out, admin_key_view(v));
            }
        }

        return admin_json(a, 200, out);
    }

    if (a->nseg < 4) {
        return admin_verb(a, "GET, HEAD, POST, OPTIONS");
    }

    rec = NULL;

    if (strlen(a->seg[3]) <= ADMIN_MAX_ID) {
        snprintf(key, sizeof(key), "key:%s", a->seg[3]);
        rec = apigw_store_get(a->s, key);
    }

    if (rec == NULL || strcmp(admin_str(rec, "tenant"), tenant) != 0) {
        return admin_err(a, 404, "Unknown key id %s", a->seg[3]);
    }

    if (a->nseg == 5) {
        if (!admin_is(a, "POST")) {
            return admin_verb(a, "POST, OPTIONS");
        }

        rec = json_deep_copy(rec);
        if (rec == NULL) {
            return admin_oom(a);
        }

        json_object_set_new(rec, "revoked", json_true());

        if (admin_write(a, key, json_incref(rec)) != 0) {
            json_decref(rec);
            return -1;
        }

        v = admin_key_view(rec);
        json_decref(rec);

        return admin_json(a, 200, v);
    }

    if (admin_is(a, "GET")) {
        return admin_json(a, 200, admin_key_view(rec));
    }

    if (admin_is(a, "DELETE")) {
        if (admin_write(a, key, NULL) != 0) {
            return -1;
        }

        return admin_no_content(a);
    }

    return admin_verb(a, "GET, HEAD, DELETE, OPTIONS");
}


static int admin_v2_domains(admin_t *a, const char *tenant);
static int admin_drop_certs(admin_t *a, json_t *old, json_t *now);
static int admin_drop_foreign_cert(admin_t *a, const char *tenant,
    const char *domain);


/* ---- /v2/{tenant}: the tenant and its custom domains ---- */

/* the syntax of a domain's name in a path or a record: what GET and DELETE
 * take, so that a name stored before the rules of apigw_domain_invalid()
 * can still be looked at and removed */
static int
admin_valid_domain(const char *d)
{
    size_t  i, n;

    n = strlen(d);

    if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-' || d[n - 1] == '.') {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (!(islower((unsigned char) d[i]) || isdigit((unsigned char) d[i])
              || d[i] == '-' || d[i] == '.'
              || (d[i] == '*' && i == 0 && d[1] == '.')))
        {
            return 0;
        }

        if (d[i] == '.' && d[i + 1] == '.') {
            return 0;
        }
    }

    return 1;
}


const char *
apigw_domain_invalid(const char *d)
{
    char             a6[16];
    size_t           i, n, len, labels;
    const char      *p, *l, *last;
    struct in_addr   a4;

    n = strlen(d);

    if (n == 0) {
        return "the name is empty";
    }

    /* IP literals are the gateway's own addresses, never a tenant's */
    if (d[0] == '[' || strchr(d, ':')) {
        return "an IP address is not a domain name";
    }

    if (n > 253) {
        return "the name is longer than 253 characters";
    }

    for (i = 0; i < n; i++) {
        if (!(islower((unsigned char) d[i]) || isdigit((unsigned char) d[i])
              || d[i] == '-' || d[i] == '.'
              || (d[i] == '*' && i == 0 && d[1] == '.')))
        {
            return "only a-z, 0-9, '-' and '.' are allowed, and '*.' at "
                   "the start";
        }
    }

    /* inet_aton() takes "127.1" and "0x7f.0.0.1" too */
    if (inet_aton(d, &a4) != 0 || inet_pton(AF_INET6, d, a6) == 1) {
        return "an IP address is not a domain name";
    }

    p = d[0] == '*' ? d + 2 : d;
    labels = 0;
    last = p;

    for (l = p; ; l += len + 1) {
        len = strcspn(l, ".");

        if (len == 0) {
            return "a label is empty";
        }

        if (len > 63) {
            return "a label is longer than 63 characters";
        }

        if (l[0] == '-' || l[len - 1] == '-') {
            return "a label starts or ends with '-'";
        }

        labels++;
        last = l;

        if (l[len] == '\0') {
            break;
        }
    }

    /* a numeric top label is an address in some resolver's reading */
    if (strspn(last, "0123456789") == strlen(last)) {
        return "an IP address is not a domain name";
    }

    len = strlen(p);

    if (strcmp(p, "localhost") == 0
        || (len > 10 && strcmp(p + len - 10, ".localhost") == 0))
    {
        return "localhost names are the gateway's own";
    }

    if (labels < 2) {
        return d[0] == '*' ? "a wildcard must cover a name of two labels or "
                             "more"
                           : "a single-label name is not a domain";
    }

    return NULL;
}


/*
 * 1 when domain `d` (valid, lower case) covers the host of
 * apigw_public_url: a tenant with it would route the gateway's own host,
 * /api/{other tenant}/... included, by its APIs
 */
static int
admin_public_host(admin_t *a, const char *d)
{
    size_t       n, dl, i, vl;
    const char  *u, *h, *e, *at, *dot;

    /* a vanity domain, or a name below it: the gateway's vanity hosts */
    dl = strlen(d);

    for (i = 0; i < a->req->nvanity; i++) {
        vl = strlen(a->req->vanity[i]);

        if (strcasecmp(d, a->req->vanity[i]) == 0
            || (dl > vl + 1 && d[dl - vl - 1] == '.'
                && strcasecmp(d + dl - vl, a->req->vanity[i]) == 0))
        {
            return 1;
        }
    }

    u = a->req->public_url;

    if (u == NULL) {
        return 0;
    }

    h = strstr(u, "://");
    h = h ? h + 3 : u;
    e = h + strcspn(h, "/?#");

    at = memchr(h, '@', e - h);
    if (at) {
        h = at + 1;
    }

    if (h < e && *h == '[') {
        return 0;               /* an IPv6 literal: no domain is one */
    }

    n = strcspn(h, ":/?#");
    if (h + n > e) {
        n = e - h;
    }

    while (n && h[n - 1] == '.') {
        n--;
    }

    dl = strlen(d);

    if (d[0] == '*') {
        /* "*.example.com" covers "gw.example.com" */
        dot = memchr(h, '.', n);
        if (dot == NULL) {
            return 0;
        }

        n -= dot - h;
        h = dot;
        d++;
        dl--;
    }

    return dl == n && strncasecmp(h, d, n) == 0;
}


static int
admin_v2_tenant(admin_t *a, const char *tenant)
{
    char         key[ADMIN_MAX_ID + 8], ns[ADMIN_MAX_ID + 8], lc[256];
    size_t       i, j;
    json_t      *rec, *body, *doms, *d, *v, *o;
    const char  *k, *s, *why;

    snprintf(key, sizeof(key), "tenant:%s", tenant);
    rec = apigw_store_get(a->s, key);

    if (admin_is(a, "GET")) {
        if (rec == NULL) {
            return admin_err(a, 404, "Unknown tenant id %s", tenant);
        }

        return admin_json(a, 200, json_incref(rec));
    }

    /*
     * Everything of the tenant goes, its record or not: APIs, keys and
     * subscriptions may be made for a tenant id that was never PUT.
     */
    if (admin_is(a, "DELETE")) {
        i = 0;

        json_object_foreach(apigw_store_records(a->s), k, v) {
            s = admin_str(v, "tenant");

            if (strcmp(k, key) == 0 || (s && strcmp(s, tenant) == 0)) {
                if (admin_write(a, k, NULL) != 0) {
                    return -1;
                }

                i++;
            }
        }

        if (i == 0) {
            return admin_err(a, 404, "Unknown tenant id %s", tenant);
        }

        return admin_no_content(a);
    }

    if (!admin_is(a, "PUT")) {
        return admin_verb(a, "GET, HEAD, PUT, DELETE, OPTIONS");
    }

    body = admin_body_json(a);
    if (body == NULL) {
        return -1;
    }

    doms = json_object_get(body, "domains");

    if (doms && !json_is_array(doms)) {
        json_decref(body);
        return admin_err(a, 400, "\"domains\" must be an array of names.");
    }

    o = json_array();
    if (o == NULL) {
        json_decref(body);
        return admin_oom(a);
    }

    json_array_foreach(doms, i, d) {
        s = json_is_string(d) ? json_string_value(d) : NULL;

        if (s == NULL || strlen(s) >= sizeof(lc)) {
            json_decref(o);
            json_decref(body);
            return admin_err(a, 400, "Invalid domain at /domains/%zu.", i);
        }

        for (j = 0; s[j]; j++) {
            lc[j] = (char) tolower((unsigned char) s[j]);
        }

        lc[j] = '\0';

        why = apigw_domain_invalid(lc);

        if (why) {
            json_decref(o);
            json_decref(body);
            return admin_err(a, 400, "Invalid domain at /domains/%zu: %s.",
                             i, why);
        }

        if (admin_public_host(a, lc)) {
            json_decref(o);
            json_decref(body);
            return admin_err(a, 409, "Domain %s is the gateway's own host.",
                             lc);
        }

        /* the same name twice (in any case) is one */
        json_array_foreach(o, j, d) {
            if (strcmp(json_string_value(d), lc) == 0) {
                break;
            }
        }

        if (j < json_array_size(o)) {
            continue;
        }

        if (admin_domain_clash(a, tenant, lc)) {
            json_decref(o);
            json_decref(body);
            return admin_err(a, 409, "Domain %s belongs to another tenant.",
                             lc);
        }

        json_array_append_new(o, json_string(lc));

        if (admin_drop_foreign_cert(a, tenant, lc) != 0) {
            json_decref(o);
            json_decref(body);
            return -1;
        }
    }

    s = admin_str(body, "namespace");

    /*
     * a namespace another tenant is, has or binds is not this one's (its
     * own id always is)
     */
    if (s != NULL && strcmp(s, tenant) != 0) {
        snprintf(ns, sizeof(ns), "tenant:%.*s", ADMIN_MAX_ID, s);

        if (apigw_store_get(a->s, ns) || admin_ns_taken(a, tenant, s, 1)) {
            admin_err(a, 409, "Namespace %s belongs to another tenant.", s);
            json_decref(o);
            json_decref(body);
            return -1;
        }
    }

    v = json_pack("{s:s,s:s,s:s,s:o}", "id", tenant,
                  "namespace", s ? s : (rec && admin_str(rec, "namespace")
                                        ? admin_str(rec, "namespace")
                                        : tenant),
                  "instance", admin_str(body, "instance")
                              ? admin_str(body, "instance")
                              : (rec && admin_str(rec, "instance")
                                 ? admin_str(rec, "instance") : ""),
                  "domains", doms ? o : (json_decref(o),
                      rec && json_object_get(rec, "domains")
                      ? json_incref(json_object_get(rec, "domains"))
                      : json_array()));
    json_decref(body);

    if (v == NULL) {
        return admin_oom(a);
    }

    if (rec && admin_drop_certs(a, json_object_get(rec, "domains"),
                                json_object_get(v, "domains")) != 0)
    {
        json_decref(v);
        return -1;
    }

    if (admin_write(a, key, json_incref(v)) != 0) {
        json_decref(v);
        return -1;
    }

    return admin_json(a, 200, v);
}


/* ---- /v2/{tenant}/domains: custom domains and their certificates ---- */

/* the id of the tenant whose record lists `domain`, or NULL */
static const char *
admin_domain_owner(admin_t *a, const char *domain)
{
    size_t       j;
    json_t      *v, *d;
    const char  *k;

    json_object_foreach(apigw_store_records(a->s), k, v) {
        if (strncmp(k, "tenant:", 7) != 0) {
            continue;
        }

        json_array_foreach(json_object_get(v, "domains"), j, d) {
            if (json_is_string(d) && strcmp(json_string_value(d), domain) == 0)
            {
                return k + 7;
            }
        }
    }

    return NULL;
}


/* what the API shows of a certificate record: never the key */
static json_t *
admin_cert_view(json_t *rec)
{
    if (rec == NULL) {
        return json_null();
    }

    return json_pack("{s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:O?}",
                     "subject", admin_str(rec, "subject"),
                     "issuer", admin_str(rec, "issuer"),
                     "not_before", admin_str(rec, "not_before"),
                     "not_after", admin_str(rec, "not_after"),
                     "fingerprint_sha256", admin_str(rec, "fingerprint"),
                     "names", admin_str(rec, "names"),
                     "chain_length", json_object_get(rec, "chain_length"));
}


/* the certificate record of a domain of `tenant`, or NULL */
static json_t *
admin_cert_rec(admin_t *a, const char *tenant, const char *domain)
{
    char         key[300];
    json_t      *rec;
    const char  *t;

    snprintf(key, sizeof(key), "cert:%s", domain);
    rec = apigw_store_get(a->s, key);
    t = admin_str(rec, "tenant");

    return (t && strcmp(t, tenant) == 0) ? rec : NULL;
}


static json_t *
admin_domain_view(admin_t *a, const char *tenant, const char *domain)
{
    return json_pack("{s:s,s:s,s:o}", "domain", domain, "tenant", tenant,
                     "certificate",
                     admin_cert_view(admin_cert_rec(a, tenant, domain)));
}


/* a certificate left by an earlier owner of the domain goes */
static int
admin_drop_foreign_cert(admin_t *a, const char *tenant, const char *domain)
{
    char  key[300];

    snprintf(key, sizeof(key), "cert:%s", domain);

    if (apigw_store_get(a->s, key) && !admin_cert_rec(a, tenant, domain)) {
        return admin_write(a, key, NULL);
    }

    return 0;
}


/* deletes the certificates of the domains in `old` but not in `now` */
static int
admin_drop_certs(admin_t *a, json_t *old, json_t *now)
{
    char     key[300];
    size_t   i, j;
    json_t  *d, *e;
    int      kept;

    json_array_foreach(old, i, d) {
        if (!json_is_string(d)) {
            continue;
        }

        kept = 0;

        json_array_foreach(now, j, e) {
            if (json_equal(d, e)) {
                kept = 1;
                break;
            }
        }

        snprintf(key, sizeof(key), "cert:%s", json_string_value(d));

        if (!kept && apigw_store_get(a->s, key)
            && admin_write(a, key, NULL) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
admin_v2_certificate(admin_t *a, const char *tenant, const char *domain)
{
    char          key[300], err[512], *sealed;
    json_t       *rec, *body, *v;
    const char   *chain, *pkey;
    apigw_cert_t  c;

    snprintf(key, sizeof(key), "cert:%s", domain);
    rec = admin_cert_rec(a, tenant, domain);

    if (admin_is(a, "GET")) {
        if (rec == NULL) {
            return admin_err(a, 404, "No certificate for domain %s.", domain);
        }

        return admin_json(a, 200, admin_domain_view(a, tenant, domain));
    }

    if (admin_is(a, "DELETE")) {
        if (rec == NULL) {
            return admin_err(a, 404, "No certificate for domain %s.", domain);
        }

        if (admin_write(a, key, NULL) != 0) {
            return -1;
        }

        return admin_no_content(a);
    }

    if (!admin_is(a, "PUT")) {
        return admin_verb(a, "GET, HEAD, PUT, DELETE, OPTIONS");
    }

    body = admin_body_json(a);
    if (body == NULL) {
        return -1;
    }

    chain = admin_str(body, "certificate");
    pkey = admin_str(body, "private_key");

    if (chain == NULL || pkey == NULL) {
        json_decref(body);
        return admin_err(a, 400, "\"certificate\" (the PEM chain, leaf "
                         "first) and \"private_key\" (PEM) are required.");
    }

    if (apigw_cert_check(chain, json_string_length(
                             json_object_get(body, "certificate")),
                         pkey, json_string_length(
                             json_object_get(body, "private_key")),
                         domain, time(NULL), &c, err, sizeof(err))
        != 0)
    {
        json_decref(body);
        return admin_err(a, 400, "Invalid certificate: %s.", err);
    }

    json_decref(body);

    /* sealed for this record: a copy of the store holds no usable key */
    sealed = NULL;

    if (a->req->seal) {
        sealed = apigw_seal(a->req->seal, key, c.key, strlen(c.key));
        if (sealed == NULL) {
            apigw_cert_free(&c);
            return admin_oom(a);
        }
    }

    v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i}",
                  "tenant", tenant, "domain", domain,
                  "chain", c.chain, "key", sealed ? sealed : c.key,
                  "subject", c.subject, "issuer", c.issuer,
                  "not_before", c.not_before, "not_after", c.not_after,
                  "fingerprint", c.fingerprint, "names", c.names,
                  "chain_length", c.ncerts);
    apigw_cert_free(&c);
    free(sealed);

    if (v == NULL) {
        return admin_oom(a);
    }

    if (admin_write(a, key, v) != 0) {
        return -1;
    }

    v = json_pack("{s:s,s:s,s:o}", "domain", domain, "tenant", tenant,
                  "certificate", admin_cert_view(v));

    return admin_json(a, 200, v);
}


static int
admin_v2_domains(admin_t *a, const char *tenant)
{
    char         key[ADMIN_MAX_ID + 8], lc[256], ck[300];
    size_t       i, j;
    json_t      *rec, *doms, *d, *v, *list;
    const char  *owner, *s;

    snprintf(key, sizeof(key), "tenant:%s", tenant);
    rec = apigw_store_get(a->s, key);
    doms = json_object_get(rec, "domains");

    if (a->nseg == 3) {
        if (!admin_is(a, "GET")) {
            return admin_verb(a, "GET, HEAD, OPTIONS");
        }

        if (rec == NULL) {
            return admin_err(a, 404, "Unknown tenant id %s", tenant);
        }

        list = json_array();
        if (list == NULL) {
            return admin_oom(a);
        }

        json_array_foreach(doms, i, d) {
            if (json_is_string(d)) {
                json_array_append_new(list, admin_domain_view(a, tenant,
                                                    json_string_value(d)));
            }
        }

        return admin_json(a, 200, list);
    }

    s = a->seg[3];

    if (strlen(s) >= sizeof(lc)) {
        return admin_err(a, 400, "Invalid domain: the name is longer than "
                         "253 characters.");
    }

    for (j = 0; s[j]; j++) {
        lc[j] = (char) tolower((unsigned char) s[j]);
    }

    lc[j] = '\0';

    if (!admin_valid_domain(lc)) {
        /* a claim says why */
        s = (a->nseg == 4 && admin_is(a, "PUT"))
            ? apigw_domain_invalid(lc) : NULL;

        return s ? admin_err(a, 400, "Invalid domain: %s.", s)
                 : admin_err(a, 400, "Invalid domain.");
    }

    owner = admin_domain_owner(a, lc);

    if (a->nseg == 5 && strcmp(a->seg[4], "certificate") == 0) {
        if (owner == NULL || strcmp(owner, tenant) != 0) {
            return admin_err(a, 404, "Unknown domain %s for tenant %s.", lc,
                             tenant);
        }

        return admin_v2_certificate(a, tenant, lc);
    }

    if (a->nseg != 4) {
        return admin_err(a, 404, "Not found.");
    }

    if (admin_is(a, "GET")) {
        if (owner == NULL || strcmp(owner, tenant) != 0) {
            return admin_err(a, 404, "Unknown domain %s for tenant %s.", lc,
                             tenant);
        }

        return admin_json(a, 200, admin_domain_view(a, tenant, lc));
    }

    if (admin_is(a, "PUT")) {
        s = apigw_domain_invalid(lc);

        if (s) {
            return admin_err(a, 400, "Invalid domain: %s.", s);
        }

        if (admin_public_host(a, lc)) {
            return admin_err(a, 409, "Domain %s is the gateway's own host.",
                             lc);
        }

        if ((owner && strcmp(owner, tenant) != 0)
            || admin_domain_clash(a, tenant, lc))
        {
            return admin_err(a, 409, "Domain %s belongs to another tenant.",
                             lc);
        }

        if (owner == NULL) {
            v = rec ? json_deep_copy(rec)
                    : json_pack("{s:s,s:s,s:s,s:[]}", "id", tenant,
                                "namespace", tenant, "instance", "",
                                "domains");
            if (v == NULL) {
                return admin_oom(a);
            }

            if (!json_is_array(json_object_get(v, "domains"))) {
                json_object_set_new(v, "domains", json_array());
            }

            json_array_append_new(json_object_get(v, "domains"),
                                  json_string(lc));

            if (admin_write(a, key, v) != 0
                || admin_drop_foreign_cert(a, tenant, lc) != 0)
            {
                return -1;
            }
        }

        return admin_json(a, 200, json_pack("{s:s,s:s,s:n}", "domain", lc,
                                            "tenant", tenant,
                                            "certificate"));
    }

    if (admin_is(a, "DELETE")) {
        if (owner == NULL || strcmp(owner, tenant) != 0) {
            return admin_err(a, 404, "Unknown domain %s for tenant %s.", lc,
                             tenant);
        }

        v = json_deep_copy(rec);
        if (v == NULL) {
            return admin_oom(a);
        }

        list = json_object_get(v, "domains");

        json_array_foreach(list, i, d) {
            if (json_is_string(d) && strcmp(json_string_value(d), lc) == 0) {
                json_array_remove(list, i);
                break;
            }
        }

        if (admin_write(a, key, v) != 0) {
            return -1;
        }

        snprintf(ck, sizeof(ck), "cert:%s", lc);

        if (apigw_store_get(a->s, ck) && admin_write(a, ck, NULL) != 0) {
            return -1;
        }

        return admin_no_content(a);
    }

    return admin_verb(a, "GET, HEAD, PUT, DELETE, OPTIONS");
}


/*
 * ---- /v2/{tenant}/webactions/{ns}[/{pkg}[/{action}]]: policies bound to
 * plain web actions (src/wabind.c), records "webaction:{path}" ----
 */

static int
admin_v2_webactions(admin_t *a, const char *tenant)
{
    char         path[3 * APIGW_WABIND_MAX_NAME + 3], key[sizeof(path) + 16];
    char        *text, msg[700];
    size_t       i, n;
    json_t      *rec, *v, *o, *errs, *pol;
    const char  *k, *s, *err, *ns;
    apigw_api_t       *api;
    apigw_problems_t   probs;

    if (a->nseg == 3) {
        if (!admin_is(a, "GET")) {
            return admin_verb(a, "GET, HEAD, OPTIONS");
        }

        o = json_array();

        json_object_foreach(apigw_store_records(a->s), k, v) {
            s = admin_str(v, "tenant");

            if (o && strncmp(k, "webaction:", 10) == 0 && s
                && strcmp(s, tenant) == 0)
            {
                json_array_append(o, v);
            }
        }

        return admin_json(a, 200, o);
    }

    if (a->nseg > 6) {
        return admin_err(a, 404, "Not found.");
    }

    n = 0;

    for (i = 3; i < a->nseg; i++) {
        if (strchr(a->seg[i], '/')
            || strlen(a->seg[i]) > APIGW_WABIND_MAX_NAME)
        {
            return admin_err(a, 400, "Invalid web action path.");
        }

        n += snprintf(path + n, sizeof(path) - n, "%s%s", n ? "/" : "",
                      a->seg[i]);
    }

    err = apigw_wabind_path_check(path);
    if (err) {
        return admin_err(a, 400, "Invalid web action path: %s.", err);
    }

    snprintf(key, sizeof(key), "webaction:%s", path);
    rec = apigw_store_get(a->s, key);

    s = admin_str(rec, "tenant");
    if (rec && (s == NULL || strcmp(s, tenant) != 0)) {
        rec = NULL;                      /* another tenant's: not here */
    }

    if (admin_is(a, "GET") || admin_is(a, "DELETE")) {
        if (rec == NULL) {
            return admin_err(a, 404, "No policy bound to %s", path);
        }

        if (admin_is(a, "GET")) {
            return admin_json(a, 200, json_incref(rec));
        }

        if (admin_write(a, key, NULL) != 0) {
            return -1;
        }

        return admin_no_content(a);
    }

    if (!admin_is(a, "PUT")) {
        return admin_verb(a, "GET, HEAD, PUT, DELETE, OPTIONS");
    }

    /*
     * No other tenant binds in the namespace (nor, unless the namespace
     * is this tenant's too, is or has it): 409; and it is the tenant's
     * own: 403.  A v1 tenant (namespace + instance) and the v2 tenant of
     * the same name both own it: the first to bind in it has it.
     */

    snprintf(key, sizeof(key), "tenant:%s", tenant);
    ns = admin_str(apigw_store_get(a->s, key), "namespace");

    /* a tenant with no record yet: its namespace is its id */
    if (ns == NULL || ns[0] == '\0') {
        ns = tenant;
    }

    if (admin_ns_taken(a, tenant, a->seg[3], strcmp(ns, a->seg[3]) != 0)) {
        return admin_err(a, 409, "Namespace %s belongs to another tenant.",
                         a->seg[3]);
    }

    if (strcmp(ns, a->seg[3]) != 0) {
        return admin_err(a, 403, "Namespace %s does not belong to tenant %s.",
                         a->seg[3], tenant);
    }

    if (a->req->body == NULL || a->req->body_len == 0) {
        return admin_err(a, 400, "Missing request body");
    }

    apigw_problems_init(&probs);
    api = apigw_wabind_compile(tenant, path, NULL, a->req->body,
                               a->req->body_len, &probs);

    if (api == NULL) {
        errs = json_array();

        for (i = 0; errs && i < probs.n; i++) {
            if (probs.items[i].warning) {
                continue;
            }

            json_array_append_new(errs, json_pack("{s:s,s:s}",
                "pointer", probs.items[i].pointer ? probs.items[i].pointer
                                                  : "",
                "message", probs.items[i].message ? probs.items[i].message
                                                  : ""));
        }

        apigw_problems_free(&probs);

        snprintf(msg, sizeof(msg), "Error: Invalid policy: %s",
                 json_array_size(errs)
                 ? admin_str(json_array_get(errs, 0), "message")
                 : "invalid policy");

        o = json_pack("{s:i,s:s,s:o}", "status", 400, "message", msg,
                      "errors", errs ? errs : json_array());
        if (o && a->req->request_id) {
            json_object_set_new(o, "request_id",
                                json_string(a->req->request_id));
        }

        text = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);

        if (text == NULL) {
            return admin_oom(a);
        }

        admin_set_body(a->resp, 400, text, admin_json_type);
        return -1;
    }

    apigw_problems_free(&probs);
    apigw_api_free(api);

    pol = json_loadb(a->req->body, a->req->body_len, 0, NULL);

    v = json_pack("{s:s,s:s,s:s,s:o}", "tenant", tenant, "path", path,
                  "namespace", a->seg[3], "policy", pol);
    if (v == NULL) {
        return admin_oom(a);
    }

    snprintf(key, sizeof(key), "webaction:%s", path);

    if (admin_write(a, key, json_incref(v)) != 0) {
        json_decref(v);
        return -1;
    }

    return admin_json(a, rec ? 200 : 201, v);
}


/* ---- dispatch ---- */

static int admin_v1(admin_t *a);


static int
admin_route(admin_t *a)
{
    const char  *tenant;

    if (a->nseg == 1 && strcmp(a->seg[0], "health") == 0) {
        if (!admin_is(a, "GET")) {
            return admin_verb(a, "GET, HEAD, OPTIONS");
        }

        /*
         * 200 while the data plane serves, even when writes cannot go;
         * 503 until the store was read once: this node knows no API yet
         */
        return admin_json(a, a->req->store_unread ? 503 : 200,
                          json_pack("{s:s,s:s,s:b,s:I,s:I}",
                          "status", a->req->store_unread ? "unavailable"
                                                         : "ok",
                          "store", a->req->store ? a->req->store : "memory",
                          "store_writable", a->req->store_up,
                          "version", (json_int_t) apigw_store_version(a->s),
                          "records", (json_int_t) apigw_store_count(a->s)));
    }

    /* an empty list or 404 would say there is no such API */
    if (a->req->store_unread
        && !(a->nseg == 1 && strcmp(a->seg[0], "metrics") == 0))
    {
        return admin_err(a, 503, "The store is unavailable.");
    }

    /* GET and HEAD of /metrics: the module's (ngx_http_apigw_admin.c) */
    if (a->nseg == 1 && strcmp(a->seg[0], "metrics") == 0
        && !admin_is(a, "GET"))
    {
        return admin_verb(a, "GET, HEAD, OPTIONS");
    }

    if (a->nseg >= 2 && strcmp(a->seg[0], "v1") == 0) {
        return admin_v1(a);
    }

    if (a->nseg < 2 || strcmp(a->seg[0], "v2") != 0) {
        return admin_err(a, 404, "Not found.");
    }

    tenant = a->seg[1];

    if (!admin_valid_id(tenant, 0)) {
        return admin_err(a, 400, "Invalid tenant id.");
    }

    /* its managed URLs would be /api/v1/...: OpenWhisk's web actions */
    if (strcmp(tenant, "v1") == 0) {
        return admin_err(a, 400, "Tenant id v1 is reserved: /api/v1/ is "
                         "where web actions are served.");
    }

    if (a->nseg == 2) {
        return admin_v2_tenant(a, tenant);
    }

    if (strcmp(a->seg[2], "apis") == 0) {
        return admin_v2_apis(a, tenant);
    }

    if (strcmp(a->seg[2], "subscriptions") == 0) {
        return admin_v2_subs(a, tenant);
    }

    if (strcmp(a->seg[2], "keys") == 0) {
        return admin_v2_keys(a, tenant);
    }

    if (strcmp(a->seg[2], "webactions") == 0) {
        return admin_v2_webactions(a, tenant);
    }

    if (strcmp(a->seg[2], "domains") == 0) {
        return admin_v2_domains(a, tenant);
    }

    return admin_err(a, 404, "Not found.");
}


void
apigw_admin_handle(const apigw_store_t *s, const apigw_admin_req_t *req,
    apigw_admin_resp_t *resp)
{
    size_t       i;
    admin_t      a;
    const char  *allow;

    memset(resp, 0, sizeof(apigw_admin_resp_t));
    memset(&a, 0, sizeof(admin_t));

    a.s = s;
    a.req = req;
    a.resp = resp;

    if (admin_parse(&a) == 0) {
        (void) admin_route(&a);
    }

    /* OPTIONS: no handler serves it, and its 405 says what the path does */
    if (admin_is(&a, "OPTIONS") && resp->status == 405 && resp->allow) {
        allow = resp->allow;
        admin_set_body(resp, 204, NULL, NULL);
        resp->allow = allow;
    }

    /* neither HEAD (answered as GET) nor OPTIONS ever writes */
    if ((admin_is(&a, "HEAD") || admin_is(&a, "OPTIONS")) && resp->muts.n) {
        apigw_admin_error(resp, req->request_id, 500, "Internal error.");
    }

    if (resp->status == 0) {
        apigw_admin_error(resp, req->request_id, 503, "Out of memory.");
    }

    for (i = 0; i < a.nseg; i++) {
        free(a.seg[i]);
    }

    for (i = 0; i < a.nq; i++) {
        free(a.q[i].name);
        free(a.q[i].value);
    }
}


void
apigw_admin_resp_free(apigw_admin_resp_t *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->allow = NULL;
    apigw_muts_free(&resp->muts);
}


/* ---- v1 ---- */

static const char *admin_v1_verbs[] = {
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", NULL
};


static int
admin_v1_verb(const char *v)
{
    size_t  i;

    for (i = 0; admin_v1_verbs[i]; i++) {
        if (strcasecmp(v, admin_v1_verbs[i]) == 0) {
            return 1;
        }
    }

    return 0;
}


static json_t *
admin_v1_tenant_view(json_t *t)
{
    return json_pack("{s:s,s:s,s:s}", "id", admin_str(t, "id"),
                     "namespace", admin_str(t, "namespace")
                                  ? admin_str(t, "namespace") : "",
                     "instance", admin_str(t, "instance")
                                 ? admin_str(t, "instance") : "");
}


static json_t *
admin_tenant(admin_t *a, const char *id)
{
    char  key[ADMIN_MAX_ID + 8];

    if (strlen(id) > ADMIN_MAX_ID) {
        return NULL;
    }

    snprintf(key, sizeof(key), "tenant:%s", id);

    return apigw_store_get(a->s, key);
}


/* validation.lua, in its order; 0 or an error response */
static int
admin_v1_validate(admin_t *a, json_t *body)
{
    size_t       i;
    json_t      *res, *r, *ops, *op, *pol, *p, *sec;
    const char  *path, *verb, *s, *type, *scope;

    if (admin_str(body, "name") == NULL) {
        return admin_err(a, 400, "Missing field 'name' in request body.");
    }

    s = admin_str(body, "basePath");
    if (s == NULL) {
        return admin_err(a, 400,
                         "Missing field 'basePath' in request body.");
    }

    if (strchr(s, '\'')) {
        return admin_err(a, 400, "basePath contains illegal character \"'\".");
    }

    s = admin_str(body, "tenantId");
    if (s == NULL) {
        return admin_err(a, 400,
                         "Missing field 'tenantId' in request body.");
    }

    if (admin_tenant(a, s) == NULL) {
        return admin_err(a, 404, "Unknown tenant id %s", s);
    }

    res = json_object_get(body, "resources");
    if (res == NULL) {
        return admin_err(a, 400,
                         "Missing field 'resources' in request body.");
    }

    if (!json_is_object(res) || json_object_size(res) == 0) {
        return admin_err(a, 400, "Empty resources object.");
    }

    json_object_foreach(res, path, r) {
        if (strchr(path, '\'')) {
            return admin_err(a, 400, "resource path contains illegal "
                             "character \"'\".");
        }

        if (path[0] != '/') {
            return admin_err(a, 400, "Resource path must begin with '/'.");
        }

        ops = json_object_get(r, "operations");
        if (!json_is_object(ops) || json_object_size(ops) == 0) {
            return admin_err(a, 400, "Missing or empty field 'operations' "
                             "or in resource path object.");
        }

        json_object_foreach(ops, verb, op) {
            if (!admin_v1_verb(verb)) {
                return admin_err(a, 400, "Resource verb '%s' not "
                                 "supported.", verb);
            }

            s = admin_str(op, "backendMethod");
            if (s == NULL) {
                return admin_err(a, 400, "Missing field 'backendMethod' "
                                 "for '%s' operation.", verb);
            }

            if (!admin_v1_verb(s)) {
                return admin_err(a, 400, "backendMethod '%s' not "
                                 "supported.", s);
            }

            if (admin_str(op, "backendUrl") == NULL) {
                return admin_err(a, 400, "Missing field 'backendUrl' "
                                 "for '%s' operation.", verb);
            }

            pol = json_object_get(op, "policies");

            json_array_foreach(pol, i, p) {
                type = admin_str(p, "type");

                if (type == NULL || json_object_get(p, "value") == NULL) {
                    return admin_err(a, 400, "Missing field in policy "
                                     "object. Need \"type\" and \"value\".");
                }

                if (strcmp(type, "reqMapping") && strcmp(type, "rateLimit")
                    && strcmp(type, "backendRouting"))
                {
                    return admin_err(a, 400, "Invalid type in policy object. "
                                     "Valid: [\"reqMapping\",\"rateLimit\","
                                     "\"backendRouting\"]");
                }

                if (strcmp(type, "rateLimit") == 0
                    && admin_v1_rate_limit_check(a, path, verb, i,
                                                 json_object_get(p, "value"))
                       != 0)
                {
                    return -1;
                }

                if (strcmp(type, "reqMapping") == 0
                    && admin_v1_req_mapping_check(a, path, verb, i,
                                                  json_object_get(p, "value"))
                       != 0)
                {
                    return -1;
                }
            }

            sec = json_object_get(op, "security");

            json_array_foreach(sec, i, p) {
                type = admin_str(p, "type");
                scope = admin_str(p, "scope");

                if (type == NULL || scope == NULL) {
                    return admin_err(a, 400, "Missing field in security "
                                     "object. Need \"type\" and \"scope\".");
                }

                if (strcmp(scope, "tenant") && strcmp(scope, "api")
                    && strcmp(scope, "resource"))
                {
                    return admin_err(a, 400, "Invalid scope in security "
                                     "object. Valid: [\"tenant\",\"api\","
                                     "\"resource\"]");
                }
            }
        }
    }

    return 0;
}


/*
 * A v1 rateLimit policy's value (policies[pi] of `verb` of resource `path`):
 * one {interval, rate, scope, subscription} or a list of them.  A bad one
 * is 400 with every problem, each with its pointer into the submitted
 * document: /resources/~1world/operations/GET/policies/0/value/interval.
 */
/* a v1 reqMapping location: header, query, body or path */
static int
admin_v1_map_location(json_t *end, int need_name, const char *path,
    const char **why)
{
    char         tmpl[300];
    const char  *loc, *name;
    static const char  *locs[] = { "header", "query", "body", "path", NULL };
    size_t       k;

    loc = admin_str(end, "location");
    name = admin_str(end, "name");

    for (k = 0; loc && locs[k] && strcmp(loc, locs[k]) != 0; k++) {
        /* void */
    }

    if (loc == NULL || locs[k] == NULL) {
        *why = "location: must be header, query, body or path";
        return -1;
    }

    if (need_name && (name == NULL || name[0] == '\0')) {
        *why = "name: must be a non-empty string";
        return -1;
    }

    if (name && strcmp(name, "*") == 0 && (k == 0 || k == 3)) {
        *why = "name: \"*\" (all of them) is for query and body only";
        return -1;
    }

    if (k == 0 && name && strcmp(name, "*") != 0 && !oa_token(name)) {
        *why = "name: must be a header name (letters, digits and "
               "!#$%&'*+-.^_`|~)";
        return -1;
    }

    if (k == 3 && name) {
        snprintf(tmpl, sizeof(tmpl), "{%.290s}", name);

        if (strstr(path, tmpl) == NULL) {
            *why = "name: must be a parameter of the resource's path";
            return -1;
        }
    }

    return 0;
}


/*
 * The v1 reqMapping policy's value, checked where the client wrote it: its
 * problems point into the submitted body, not into the document made of it
 */
static int
admin_v1_req_mapping_check(admin_t *a, const char *path, const char *verb,
    size_t pi, json_t *value)
{
    char              *epath, *everb, ptr[600], first[700];
    size_t             j;
    json_t            *m, *from, *to, *errs, *e;
    const char        *act, *why, *part;

    epath = oa_ptr_escape(path, strlen(path));
    everb = oa_ptr_escape(verb, strlen(verb));

    if (epath == NULL || everb == NULL) {
        free(epath);
        free(everb);
        return admin_oom(a);
    }

    errs = json_array();
    if (errs == NULL) {
        free(epath);
        free(everb);
        return admin_oom(a);
    }

    first[0] = '\0';

    if (!json_is_array(value)) {
        snprintf(ptr, sizeof(ptr),
                 "/resources/%.200s/operations/%.20s/policies/%zu/value",
                 epath, everb, pi);
        e = json_pack("{s:s,s:s}", "pointer", ptr, "message",
                      "must be an array of {action, from, to}");
        json_array_append_new(errs, e);
        snprintf(first, sizeof(first), "reqMapping of '%s %s' must be an "
                 "array of {action, from, to}", verb, path);
    }

    json_array_foreach(json_is_array(value) ? value : NULL, j, m) {
        why = NULL;
        part = "";
        act = admin_str(m, "action");
        from = json_object_get(m, "from");
        to = json_object_get(m, "to");

        if (!json_is_object(m)) {
            why = "must be an object {action, from, to}";

        } else if (act == NULL
                   || (strcmp(act, "insert") && strcmp(act, "remove")
                       && strcmp(act, "transform") && strcmp(act, "default")))
        {
            part = "/action";
            why = "must be insert, remove, transform or default";

        } else if (!json_is_object(from)) {
            part = "/from";
            why = "must be an object {location, name} or {value}";

        } else if ((strcmp(act, "insert") == 0
                    || strcmp(act, "default") == 0)
                   && json_object_get(from, "value") != NULL)
        {
            if (!json_is_string(json_object_get(from, "value"))
                && !json_is_number(json_object_get(from, "value"))
                && !json_is_boolean(json_object_get(from, "value")))
            {
                part = "/from/value";
                why = "must be a string, a number or a boolean";
            }

        } else if (admin_v1_map_location(from, 1, path, &why) != 0) {
            part = "/from";
        }

        if (why == NULL && strcmp(act, "remove") != 0) {
            if (!json_is_object(to)) {
                part = "/to";
                why = "must be an object {location, name}";

            } else if (admin_v1_map_location(to, 1, path, &why) != 0) {
                part = "/to";
            }
        }

        if (why == NULL) {
            continue;
        }

        snprintf(ptr, sizeof(ptr), "/resources/%.200s/operations/%.20s/"
                 "policies/%zu/value/%zu%s", epath, everb, pi, j, part);
        e = json_pack("{s:s,s:s}", "pointer", ptr, "message", why);
        if (e) {
            json_array_append_new(errs, e);
        }

        if (first[0] == '\0') {
            snprintf(first, sizeof(first), "reqMapping %zu of '%s %s': %s%s "
                     "%s", j, verb, path, part[0] ? part + 1 : "",
                     part[0] ? ":" : "", why);
        }
    }

    free(epath);
    free(everb);

    if (json_array_size(errs) == 0) {
        json_decref(errs);
        return 0;
    }

    admin_problems(a, errs, first);

    return -1;
}


static int
admin_v1_rate_limit_check(admin_t *a, const char *path, const char *verb,
    size_t pi, json_t *value)
{
    int                rc;
    char              *epath, *everb, *base, *ptr;
    size_t             i, n, len;
    json_t            *v, *errs, *e;
    const char        *field;
    apigw_rl_set_t     set;
    apigw_problems_t   probs;

    n = json_is_array(value) ? json_array_size(value) : 1;

    if (n == 0) {
        return admin_err(a, 400, "Empty rateLimit policy for '%s %s'.",
                         verb, path);
    }

    epath = oa_ptr_escape(path, strlen(path));
    everb = oa_ptr_escape(verb, strlen(verb));
    len = (epath ? strlen(epath) : 0) + (everb ? strlen(everb) : 0) + 100;
    base = malloc(len);
    ptr = malloc(len);

    if (epath == NULL || everb == NULL || base == NULL || ptr == NULL) {
        free(epath);
        free(everb);
        free(base);
        free(ptr);
        return admin_oom(a);
    }

    snprintf(base, len, "/resources/%s/operations/%s/policies/%zu/value",
             epath, everb, pi);
    free(epath);
    free(everb);

    memset(&set, 0, sizeof(set));
    apigw_problems_init(&probs);

    for (i = 0; i < n; i++) {
        if (json_is_array(value)) {
            v = json_array_get(value, i);
            snprintf(ptr, len, "%s/%zu", base, i);

        } else {
            v = value;
            snprintf(ptr, len, "%s", base);
        }

        (void) apigw_rl_parse_v1(v, &probs, NULL, ptr, &set);
    }

    while (set.n) {
        apigw_rl_limit_clear(&set.items[--set.n]);
    }

    free(set.items);
    free(ptr);

    if (probs.nerrors == 0) {
        free(base);
        apigw_problems_free(&probs);
        return 0;
    }

    errs = json_array();

    for (i = 0; errs && i < probs.n; i++) {
        e = json_pack("{s:s,s:s}", "pointer",
                      probs.items[i].pointer ? probs.items[i].pointer : "",
                      "message",
                      probs.items[i].message ? probs.items[i].message : "");
        if (e) {
            json_array_append_new(errs, e);
        }
    }

    /* the first problem in words: "interval must be ..." */
    field = probs.n && probs.items[0].pointer ? probs.items[0].pointer : "";
    len = strlen(base);
    field = strncmp(field, base, len) == 0 ? field + len : "";

    if (json_is_array(value) && *field == '/') {
        field += strcspn(field + 1, "/") + 1;
    }

    field += *field == '/';

    rc = admin_err_list(a, 400, errs, "Invalid rateLimit policy for '%s %s': "
                        "%s%s%s.", verb, path, field, *field ? " " : "",
                        probs.n && probs.items[0].message
                        ? probs.items[0].message : "invalid");

    json_decref(errs);
    free(base);
    apigw_problems_free(&probs);

    return rc;
}


/*
 * A v1 rateLimit policy as x-apigw-rate-limit items: `rate` per `interval`
 * seconds with the default burst (rate - 1), scope resource = operation,
 * subscription = per consumer, else one global counter.
 */
static void
admin_v1_rate_limits(json_t *value, json_t *out)
{
    size_t       i, n;
    json_t      *v, *l;
    const char  *scope;

    n = json_is_array(value) ? json_array_size(value) : 1;

    for (i = 0; i < n; i++) {
        v = json_is_array(value) ? json_array_get(value, i) : value;

        scope = admin_str(v, "scope") ? admin_str(v, "scope") : "api";
        if (strcmp(scope, "resource") == 0) {
            scope = "operation";
        }

        /* checked: whole numbers; 60.0 is written 60, which "per" needs */
        l = json_pack("{s:I,s:I,s:s,s:s}",
                      "rate", (json_int_t) json_number_value(
                                  json_object_get(v, "rate")),
                      "per", (json_int_t) json_number_value(
                                 json_object_get(v, "interval")),
                      "scope", scope,
                      "key", json_is_false(json_object_get(v,
                                                           "subscription"))
                             ? "global" : "consumer");
        if (l) {
            json_array_append_new(out, l);
        }
    }
}


/*
 * v1 security entries (all must pass) as schemes of the operation: apiKey
 * in a header (default X-Api-Key) or the query, whose keys are the v1
 * subscriptions (tenant or api scope).  Other types name a scheme that is
 * not defined, which the credentials stage refuses (401): what is asked
 * for and not understood never opens an operation.
 */
static void
admin_v1_security(json_t *doc, json_t *o, json_t *sec)
{
    char         name[160];
    size_t       i;
    json_t      *defs, *req, *e;
    const char  *type, *hdr, *loc;

    defs = json_object_get(doc, "securityDefinitions");
    if (defs == NULL) {
        defs = json_object();
        json_object_set_new(doc, "securityDefinitions", defs);
    }

    req = json_object();

    json_array_foreach(sec, i, e) {
        type = admin_str(e, "type") ? admin_str(e, "type") : "";

        if (strcmp(type, "apiKey") != 0) {
            snprintf(name, sizeof(name), "v1-unsupported-%.100s", type);
            json_object_set_new(req, name, json_array());
            continue;
        }

        hdr = admin_str(e, "header") ? admin_str(e, "header") : "X-Api-Key";
        loc = admin_str(e, "location") ? admin_str(e, "location") : "header";
        loc = strcmp(loc, "query") == 0 ? "query" : "header";

        snprintf(name, sizeof(name), "v1-%s-%.120s", loc, hdr);

        json_object_set_new(defs, name, json_pack("{s:s,s:s,s:s}",
                            "type", "apiKey", "in", loc, "name", hdr));
        json_object_set_new(req, name, json_array());
    }

    json_object_set_new(o, "security", json_pack("[o]", req));
}


/*
 * The v1 model as a Swagger 2.0 document the importer understands: one
 * operation-switch case per operation (invoke + reqMapping header
 * inserts as set-variable), CORS from the first resource that sets it.
 */

json_t *
apigw_admin_v1_to_swagger(json_t *v1)
{
    char         id[32];
    size_t       n, i;
    json_t      *doc, *paths, *cases, *res, *r, *ops, *op, *pm, *o, *ex;
    json_t      *acts, *maps, *all, *p, *m, *cors, *methods;
    const char  *path, *verb, *url, *origin;
    char         lc[16];

    doc = json_pack("{s:s,s:{s:s,s:s},s:s,s:{}}", "swagger", "2.0",
                    "info", "title", admin_str(v1, "name")
                                     ? admin_str(v1, "name") : "",
                    "version", "1.0.0",
                    "basePath", admin_str(v1, "basePath")
                                ? admin_str(v1, "basePath") : "/",
                    "paths");
    cases = json_array();

    if (doc == NULL || cases == NULL) {
        json_decref(doc);
        json_decref(cases);
        return NULL;
    }

    paths = json_object_get(doc, "paths");
    res = json_object_get(v1, "resources");
    n = 0;

    json_object_foreach(res, path, r) {
        /*
         * CORS is the resource's: "true" any origin, "false" the
         * backend's CORS headers removed, another string that origin
         * only, none: the backend's pass through
         */
        origin = admin_str(json_object_get(r, "cors"), "origin");
        methods = json_object_get(json_object_get(r, "cors"), "methods");
        cors = NULL;

        if (origin && strcmp(origin, "false") == 0) {
            cors = json_false();

        } else if (origin) {
            cors = json_object();

            if (cors && strcmp(origin, "true") != 0) {
                json_object_set_new(cors, "origins", json_pack("[s]",
                                                               origin));
            }

            if (cors && methods) {
                json_object_set(cors, "methods", methods);
            }
        }

        pm = json_object();
        json_object_set_new(paths, path, pm);

        ops = json_object_get(r, "operations");

        json_object_foreach(ops, verb, op) {
            snprintf(id, sizeof(id), "v1op%zu", n++);

            for (i = 0; verb[i] && i < sizeof(lc) - 1; i++) {
                lc[i] = (char) tolower((unsigned char) verb[i]);
            }

            lc[i] = '\0';

            o = json_pack("{s:s,s:{s:{s:s}}}", "operationId", id,
                          "responses", "default", "description", "ok");
            json_object_set_new(pm, lc, o);

            if (o && cors) {
                json_object_set(o, "x-apigw-cors", cors);
            }

            if (o && json_array_size(json_object_get(op, "security"))) {
                admin_v1_security(doc, o, json_object_get(op, "security"));
            }

            json_array_foreach(json_object_get(op, "policies"), i, p) {
                if (o && admin_str(p, "type")
                    && strcmp(admin_str(p, "type"), "rateLimit") == 0)
                {
                    if (json_object_get(o, "x-apigw-rate-limit") == NULL) {
                        json_object_set_new(o, "x-apigw-rate-limit",
                                            json_array());
                    }

                    admin_v1_rate_limits(json_object_get(p, "value"),
                                         json_object_get(o,
                                                         "x-apigw-rate-limit"));
                }
            }

            url = admin_str(op, "backendUrl");

            if (url == NULL || url[0] == '\0') {
                continue;
            }

            ex = json_pack("[{s:{s:s,s:s}}]", "invoke", "target-url", url,
                           "verb", admin_str(op, "backendMethod")
                                   ? admin_str(op, "backendMethod")
                                   : "keep");

            acts = json_array();
            maps = json_array();
            all = json_array();

            json_array_foreach(json_object_get(op, "policies"), i, p) {
                if (strcmp(admin_str(p, "type") ? admin_str(p, "type") : "",
                           "reqMapping") != 0)
                {
                    continue;
                }

                {
                    size_t   j;
                    json_t  *to, *from;
                    char     set[300];

                    json_array_foreach(json_object_get(p, "value"), j, m) {
                        to = json_object_get(m, "to");
                        from = json_object_get(m, "from");
                        json_array_append(all, m);

                        /* the rest: apigw's request mapping, in order */
                        if (strcmp(admin_str(m, "action")
                                   ? admin_str(m, "action") : "", "insert")
                            || strcmp(admin_str(to, "location")
                                      ? admin_str(to, "location") : "",
                                      "header")
                            || admin_str(to, "name") == NULL
                            || !json_is_string(json_object_get(from,
                                                               "value")))
                        {
                            json_array_append(maps, m);
                            continue;
                        }

                        snprintf(set, sizeof(set), "message.headers.%s",
                                 admin_str(to, "name"));
                        json_array_append_new(acts, json_pack("{s:s,s:O}",
                                              "set", set, "value",
                                              json_object_get(from,
                                                              "value")));
                    }
                }
            }

            /*
             * header inserts alone are injected headers; with other
             * actions every one is a mapping, so that they keep their
             * order (an insert after a transform of the same header)
             */
            if (json_array_size(maps)) {
                json_decref(maps);
                json_array_clear(acts);
                maps = all;

            } else {
                json_decref(all);
            }

            if (json_array_size(acts)) {
                json_array_append_new(ex, json_pack("{s:{s:o}}",
                                      "set-variable", "actions", acts));
            } else {
                json_decref(acts);
            }

            if (json_array_size(maps)) {
                json_object_set_new(o, "x-apigw-request-mapping", maps);
            } else {
                json_decref(maps);
            }

            json_array_append_new(cases, json_pack("{s:[s],s:o}",
                                  "operations", id, "execute", ex));
        }

        json_decref(cors);
    }

    o = json_pack("{s:{s:[{s:{s:o}}]}}", "assembly", "execute",
                  "operation-switch", "case", cases);

    if (o == NULL) {
        json_decref(doc);
        return NULL;
    }

    json_object_set_new(doc, "x-gateway-configuration", o);

    return doc;
}


/* basePath as stored: "/" + trimmed of leading and one trailing "/" */
static void
admin_v1_base(const char *in, char *out, size_t size)
{
    size_t  n;

    while (*in == '/') {
        in++;
    }

    n = strlen(in);

    if (n && in[n - 1] == '/') {
        n--;
    }

    snprintf(out, size, "/%.*s", (int) n, in);
}


static int
admin_v1_api_put(admin_t *a, const char *id)
{
    char          uuid[37], key[ADMIN_MAX_ID + 8], base[1024], *text, *url;
    json_t       *body, *doc, *rec, *t, *old;
    const char   *tenant;
    admin_doc_t   d;

    body = admin_body_json(a);
    if (body == NULL) {
        return -1;
    }

    if (id == NULL) {
        id = admin_str(body, "id");
    }

    if (id) {
        old = admin_api(a, NULL, id);
        if (old == NULL || json_object_get(old, "v1") == NULL) {
            admin_err(a, 404, "Unknown API id %s", id);
            json_decref(body);
            return -1;
        }

        snprintf(uuid, sizeof(uuid), "%.36s", id);
        if (strlen(id) > 36) {
            json_decref(body);
            return admin_err(a, 404, "Unknown API id");
        }

    } else if (apigw_uuid4(uuid) != 0) {
        json_decref(body);
        return admin_oom(a);
    }

    if (admin_v1_validate(a, body) != 0) {
        json_decref(body);
        return -1;
    }

    tenant = admin_str(body, "tenantId");
    t = admin_tenant(a, tenant);

    admin_v1_base(admin_str(body, "basePath"), base, sizeof(base));

    if (admin_base_taken(a, tenant, base, uuid)) {
        json_decref(body);
        return admin_err(a, 409, "basePath not unique for given tenant.");
    }

    doc = apigw_admin_v1_to_swagger(body);
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);

    if (text == NULL) {
        json_decref(body);
        return admin_oom(a);
    }

    if (admin_import(a, text, strlen(text), tenant, uuid, &d) != 0) {
        free(text);
        json_decref(body);
        return -1;
    }

    free(text);

    url = admin_managed_url(a, tenant, base);

    json_object_set_new(body, "id", json_string(uuid));
    json_object_set_new(body, "basePath", json_string(base));
    json_object_set_new(body, "tenantNamespace",
                        json_string(admin_str(t, "namespace")
                                    ? admin_str(t, "namespace") : ""));
    json_object_set_new(body, "tenantInstance",
                        json_string(admin_str(t, "instance")
                                    ? admin_str(t, "instance") : ""));
    json_object_set_new(body, "managedUrl", url ? json_string(url) : NULL);
    free(url);

    rec = admin_api_record(uuid, tenant, &d);
    if (rec == NULL) {
        json_decref(body);
        return admin_oom(a);
    }

    json_object_set(rec, "v1", body);
    snprintf(key, sizeof(key), "api:%s", uuid);

    if (admin_write(a, key, rec) != 0) {
        json_decref(body);
        return -1;
    }

    return admin_json(a, 200, body);
}


/* v1 objects of a tenant (or all), filtered as tenants.lua does */
static json_t *
admin_v1_list(admin_t *a, const char *tenant)
{
    json_t      *all, *v, *o;
    const char  *k, *base, *title;

    base = admin_arg(a, "filter[where][basePath]");
    if (base == NULL) {
        base = admin_arg(a, "basePath");
    }

    title = admin_arg(a, "filter[where][name]");
    if (title == NULL) {
        title = admin_arg(a, "title");
    }

    all = json_array();

    json_object_foreach(apigw_store_records(a->s), k, v) {
        o = json_object_get(v, "v1");

        if (strncmp(k, "api:", 4) != 0 || o == NULL || all == NULL
            || (tenant && strcmp(admin_str(v, "tenant"), tenant) != 0)
            || (base && strcmp(admin_str(v, "basePath"), base) != 0)
            || (title && strcmp(admin_str(v, "name"), title) != 0))
        {
            continue;
        }

        json_array_append(all, o);
    }

    return all;
}


static int
admin_v1_apis(admin_t *a)
{
    json_t      *rec;
    const char  *id;

    id = a->nseg > 2 ? a->seg[2] : NULL;

    if (admin_is(a, "PUT") || admin_is(a, "POST")) {
        if (a->nseg > 3) {
            return admin_err(a, 400, "Invalid request");
        }

        return admin_v1_api_put(a, id);
    }

    if (admin_is(a, "GET")) {
        if (id == NULL) {
            return admin_json(a, 200, admin_v1_list(a, NULL));
        }

        rec = admin_api(a, NULL, id);

        if (rec == NULL || json_object_get(rec, "v1") == NULL) {
            return admin_err(a, 404, "Unknown api id %s", id);
        }

        if (a->nseg == 3) {
            return admin_json(a, 200,
                              json_incref(json_object_get(rec, "v1")));
        }

        if (a->nseg == 4 && strcmp(a->seg[3], "tenant") == 0) {
            rec = admin_tenant(a, admin_str(rec, "tenant"));
            if (rec == NULL) {
                return admin_err(a, 404, "Unknown tenant id");
            }

            return admin_json(a, 200, admin_v1_tenant_view(rec));
        }

        return admin_err(a, 400, "Invalid request");
    }

    if (admin_is(a, "DELETE")) {
        if (id == NULL) {
            return admin_err(a, 400, "No id specified.");
        }

        rec = admin_api(a, NULL, id);
        if (rec == NULL || json_object_get(rec, "v1") == NULL) {
            return admin_err(a, 404, "Unknown API id %s", id);
        }

        if (admin_delete_api(a, admin_str(rec, "tenant"), id) != 0) {
            return -1;
        }

        return admin_json(a, 200, json_object());
    }

    /*
     * DELETE: a 400 without an id; on {id}/tenant it deletes the API, as
     * in openwhisk-apigateway, but is no method of that path
     */
    switch (a->nseg) {
    case 2:
        return admin_verb(a, "GET, HEAD, POST, PUT, OPTIONS");
    case 3:
        return admin_verb(a, "GET, HEAD, POST, PUT, DELETE, OPTIONS");
    default:
        return admin_verb(a, "GET, HEAD, OPTIONS");
    }
}


static int
admin_v1_tenants(admin_t *a)
{
    char         uuid[37], key[ADMIN_MAX_ID + 8];
    json_t      *body, *v, *out, *rec;
    const char  *k, *ns, *in, *id, *fns, *fin;

    id = a->nseg > 2 ? a->seg[2] : NULL;

    if ((admin_is(a, "PUT") || admin_is(a, "POST")) && a->nseg <= 3) {
        body = admin_body_json(a);
        if (body == NULL) {
            return -1;
        }

        ns = admin_str(body, "namespace");
        in = admin_str(body, "instance");

        if (ns == NULL) {
            json_decref(body);
            return admin_err(a, 400,
                             "\"namespace\" missing from request body.");
        }

        if (in == NULL) {
            json_decref(body);
            return admin_err(a, 400,
                             "\"instance\" missing from request body.");
        }

        if (id) {
            rec = admin_tenant(a, id);
            if (rec == NULL) {
                admin_err(a, 404, "Unknown Tenant id %s", id);
                json_decref(body);
                return -1;
            }

            rec = json_deep_copy(rec);

        } else {
            /* idempotent: an existing namespace + instance is returned */
            json_object_foreach(apigw_store_records(a->s), k, v) {
                if (strncmp(k, "tenant:", 7) == 0
                    && admin_str(v, "namespace")
                    && strcmp(admin_str(v, "namespace"), ns) == 0
                    && strcmp(admin_str(v, "instance")
                              ? admin_str(v, "instance") : "", in) == 0)
                {
                    json_decref(body);
                    return admin_json(a, 200, admin_v1_tenant_view(v));
                }
            }

            if (apigw_uuid4(uuid) != 0) {
                json_decref(body);
                return admin_oom(a);
            }

            id = uuid;
            rec = json_pack("{s:s,s:[]}", "id", id, "domains");
        }

        if (rec == NULL) {
            json_decref(body);
            return admin_oom(a);
        }

        json_object_set_new(rec, "namespace", json_string(ns));
        json_object_set_new(rec, "instance", json_string(in));
        json_decref(body);

        snprintf(key, sizeof(key), "tenant:%s", id);

        if (admin_write(a, key, json_incref(rec)) != 0) {
            json_decref(rec);
            return -1;
        }

        v = admin_v1_tenant_view(rec);
        json_decref(rec);

        return admin_json(a, 200, v);
    }

    if (admin_is(a, "GET") && id == NULL) {
        fns = admin_arg(a, "filter[where][namespace]");
        fin = admin_arg(a, "filter[where][instance]");

        out = json_array();
        if (out == NULL) {
            return admin_oom(a);
        }

        json_object_foreach(apigw_store_records(a->s), k, v) {
            if (strncmp(k, "tenant:", 7) != 0
                || (fns && strcmp(admin_str(v, "namespace")
                                  ? admin_str(v, "namespace") : "", fns))
                || (fns && fin && strcmp(admin_str(v, "instance")
                                         ? admin_str(v, "instance") : "",
                                         fin)))
            {
                continue;
            }

            json_array_append_new(out, admin_v1_tenant_view(v));
        }

        return admin_json(a, 200, out);
    }

    if (id == NULL) {
        return admin_verb(a, "GET, HEAD, POST, PUT, OPTIONS");
    }

    rec = admin_tenant(a, id);

    if (admin_is(a, "GET")) {
        if (rec == NULL) {
            return admin_err(a, 404, "Unknown tenant id %s", id);
        }

        if (a->nseg == 3) {
            return admin_json(a, 200, admin_v1_tenant_view(rec));
        }

        if (a->nseg == 4 && strcmp(a->seg[3], "apis") == 0) {
            return admin_page(a, admin_v1_list(a, id));
        }

        return admin_err(a, 400, "Invalid request");
    }

    if (admin_is(a, "DELETE") && a->nseg == 3) {
        if (rec == NULL) {
            return admin_err(a, 404, "Unknown tenant id %s", id);
        }

        snprintf(key, sizeof(key), "tenant:%s", id);

        json_object_foreach(apigw_store_records(a->s), k, v) {
            ns = admin_str(v, "tenant");

            if (strcmp(k, key) == 0 || (ns && strcmp(ns, id) == 0)) {
                if (admin_write(a, k, NULL) != 0) {
                    return -1;
                }
            }
        }

        return admin_json(a, 200, json_object());
    }

    return admin_verb(a, a->nseg == 3 ? "GET, HEAD, POST, PUT, DELETE, OPTIONS"
                                      : "GET, HEAD, OPTIONS");
}


/* v1 subscriptions: API keys by scope, stored hashed */
static int
admin_v1_subs(admin_t *a)
{
    char         key[1024], hash[65], prefix[9];
    json_t      *body, *rec;
    const char  *k, *scope, *tenant, *res, *api, *target;

    if (a->nseg != 2) {
        return admin_err(a, 404, "Not found.");
    }

    if (!(admin_is(a, "PUT") || admin_is(a, "POST")
          || admin_is(a, "DELETE")))
    {
        return admin_verb(a, "POST, PUT, DELETE, OPTIONS");
    }

    body = admin_body_json(a);
    if (body == NULL) {
        return -1;
    }

    k = admin_str(body, "key");
    scope = admin_str(body, "scope");
    tenant = admin_str(body, "tenantId");
    res = admin_str(body, "resource");
    api = admin_str(body, "apiId");

    if (k == NULL || k[0] == '\0') {
        json_decref(body);
        return admin_err(a, 400, "\"key\" missing from request body.");
    }

    if (tenant == NULL || !admin_valid_id(tenant, 0)) {
        json_decref(body);
        return admin_err(a, 400, "\"tenantId\" missing from request body.");
    }

    if (scope == NULL
        || (strcmp(scope, "tenant") && strcmp(scope, "resource")
            && strcmp(scope, "api")))
    {
        json_decref(body);
        return admin_err(a, 400, "Invalid scope");
    }

    target = "";

    if (strcmp(scope, "resource") == 0) {
        if (res == NULL) {
            json_decref(body);
            return admin_err(a, 400,
                             "\"resource\" missing from request body.");
        }
        target = res;

    } else if (strcmp(scope, "api") == 0) {
        if (api == NULL) {
            json_decref(body);
            return admin_err(a, 400, "\"apiId\" missing from request body.");
        }
        target = api;
    }

    apigw_store_sha256_hex(NULL, 0, k, strlen(k), hash);
    /* a hint for listings; never most of a short key */
    snprintf(prefix, sizeof(prefix), "%.4s", strlen(k) >= 16 ? k : "");
    snprintf(key, sizeof(key), "v1sub:%s:%s:%.600s:%s", tenant, scope, target,
             hash);

    if (admin_is(a, "DELETE")) {
        json_decref(body);

        if (apigw_store_get(a->s, key) == NULL) {
            return admin_err(a, 404, "Subscription doesn't exist");
        }

        if (admin_write(a, key, NULL) != 0) {
            return -1;
        }

        return admin_text(a, 200, "Subscription deleted.");
    }

    rec = json_pack("{s:s,s:s,s:s,s:s}", "tenant", tenant, "scope", scope,
                    "sha256", hash, "prefix", prefix);
    if (rec && *target) {
        json_object_set_new(rec, strcmp(scope, "api") == 0 ? "api_id"
                                                           : "resource",
                            json_string(target));
    }

    json_decref(body);

    if (rec == NULL) {
        return admin_oom(a);
    }

    if (admin_write(a, key, rec) != 0) {
        return -1;
    }

    return admin_text(a, 200, "Subscription created.");
}


static int
admin_v1(admin_t *a)
{
    if (strcmp(a->seg[1], "health-check") == 0 && a->nseg == 2) {
        if (!admin_is(a, "GET")) {
            return admin_verb(a, "GET, HEAD, OPTIONS");
        }

        return admin_text(a, 200, "Status: Gateway ready.");
    }

    if (strcmp(a->seg[1], "apis") == 0 && a->nseg <= 4) {
        return admin_v1_apis(a);
    }

    if (strcmp(a->seg[1], "tenants") == 0 && a->nseg <= 4) {
        return admin_v1_tenants(a);
    }

    if (strcmp(a->seg[1], "subscriptions") == 0) {
        return admin_v1_subs(a);
    }

    return admin_err(a, 404, "Not found.");
}
