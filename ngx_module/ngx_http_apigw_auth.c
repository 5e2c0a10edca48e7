/*
 * apigw: credentials at the edge.  One stage of the content handler, run
 * after the operation is matched and before the backend request is built:
 * the operation's security requirements (an OR of alternatives, each an AND
 * of schemes) are checked against the request's API key, client id and
 * secret, or bearer token.  A failure answers 401 (with WWW-Authenticate)
 * or 403 and the backend is never called; a success sets $apigw_consumer,
 * the identity headers, and strips the credentials when asked to.
 *
 * API keys are looked up in the key table (apigw_keys_file, or one
 * installed at run time by ngx_http_apigw_auth_set_keytab()); bearer JWTs
 * are verified by the core (src/jwt.c) against the scheme's keys, and the
 * verified ones are remembered per worker until they expire.
 */

#include "ngx_http_apigw_module.h"
#include "ngx_http_apigw_jwks.h"
#include "ngx_http_apigw_http.h"
#include "ngx_http_apigw_tokcache.h"
#include "ngx_http_apigw_thread.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>


#define NGX_HTTP_APIGW_ID_CONSUMER  0
#define NGX_HTTP_APIGW_ID_SUBJECT   1
#define NGX_HTTP_APIGW_ID_SCOPES    2
#define NGX_HTTP_APIGW_ID_CLAIM     3

#define NGX_HTTP_APIGW_TOKCACHE     4096     /* entries per worker */
#define NGX_HTTP_APIGW_MAX_TERMS    8        /* terms per alternative */
#define NGX_HTTP_APIGW_ACTIVE_MAX   300      /* introspection: positive */
#define NGX_HTTP_APIGW_INACTIVE     10       /* and negative cache, s */
#define NGX_HTTP_APIGW_USERINFO     60       /* a userinfo answer, s */


typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   lc;
    ngx_uint_t                  hash;     /* nginx's, of lc */
    ngx_uint_t                  kind;
    char                       *claim;
} ngx_http_apigw_identity_t;


/* a bearer scheme's run-time data, in apigw_scheme_t.ext */
typedef struct {
    apigw_jwks_t               *keys;         /* static: file or secret */
    ngx_http_apigw_jwks_src_t  *src;          /* fetched: jwks_uri, OIDC */
    apigw_jwt_policy_t          pol;
    ngx_http_apigw_url_t       *introspect;   /* RFC 7662 endpoint */
    ngx_uint_t                  userinfo;     /* it is a userinfo URL */
    ngx_str_t                   basic;        /* its client credentials */
    ngx_ssl_t                  *ssl;
    ngx_shm_zone_t             *cache;        /* "apigw_tokens" */
    uint64_t                    id;           /* the scheme, in the cache */
} ngx_http_apigw_bearer_t;


/* a request waiting for an introspection answer (ctx->auth) */
typedef struct {
    ngx_http_request_t         *r;
    ngx_http_apigw_http_t      *h;
    ngx_http_apigw_bearer_t    *bearer;
    const apigw_scheme_t       *scheme;
    u_char                      hash[32];
    ngx_uint_t                  failed;       /* no answer: 503 */
    unsigned                    starting:1;
    unsigned                    answered:1;
} ngx_http_apigw_wait_t;


/* what the checks of one alternative found */
typedef struct {
    const apigw_key_t          *key;
    ngx_str_t                   subject;
    ngx_str_t                   scopes;
    const char                 *payload;
} ngx_http_apigw_found_t;


typedef struct {
    ngx_uint_t                  status;       /* 0: none yet */
    const char                 *reason;
    const apigw_scheme_t       *scheme;
    const char                 *scope;
    ngx_uint_t                  rank;
    ngx_uint_t                  bad_token;    /* a bearer token refused */
} ngx_http_apigw_fail_t;


static ngx_uint_t ngx_http_apigw_header_safe(ngx_str_t *v);
static ngx_int_t ngx_http_apigw_redact_query(ngx_pool_t *pool,
    ngx_str_t *line,
    const apigw_security_t *sec);
static ngx_int_t ngx_http_apigw_auth_term(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx, const apigw_sec_term_t *t,
    ngx_http_apigw_found_t *f, ngx_http_apigw_fail_t *fail);
static ngx_int_t ngx_http_apigw_auth_reject(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx, const apigw_security_t *sec,
    ngx_http_apigw_fail_t *fail);
static char *ngx_http_apigw_bearer_conf(ngx_conf_t *cf, apigw_api_t *api,
    apigw_scheme_t *s);
static ngx_int_t ngx_http_apigw_auth_headers(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf, const apigw_sec_alt_t *alt,
    ngx_http_apigw_found_t *f);


/* a run-time key table and the requests using it (+1: installed) */
typedef struct {
    apigw_keytab_t             *t;
    ngx_uint_t                  refs;
} ngx_http_apigw_keyref_t;


static void ngx_http_apigw_keytab_release(void *data);


static ngx_http_apigw_keyref_t  *ngx_http_apigw_keytab_runtime;
static apigw_keytab_t        *ngx_http_apigw_keytab_file;   /* re-read */

static ngx_http_apigw_identity_t  ngx_http_apigw_identity_default[] = {
    { ngx_string("X-Apigw-Consumer"), ngx_string("x-apigw-consumer"), 0,
      NGX_HTTP_APIGW_ID_CONSUMER, NULL },
    { ngx_string("X-Apigw-Subject"), ngx_string("x-apigw-subject"), 0,
      NGX_HTTP_APIGW_ID_SUBJECT, NULL },
    { ngx_string("X-Apigw-Scopes"), ngx_string("x-apigw-scopes"), 0,
      NGX_HTTP_APIGW_ID_SCOPES, NULL }
};


/*
 * Install a new key table in this worker (the management store's change
 * handler, ngx_http_apigw_keyfeed.c, builds one after every change).  A
 * request pins the table it looked at until it ends ($apigw_consumer
 * points into it), so the old one is freed when its last request is
 * done.  NULL goes back to the apigw_keys_file table.
 */

void
ngx_http_apigw_auth_set_keytab(apigw_keytab_t *t)
{
    ngx_http_apigw_keyref_t  *ref, *old;

    ref = NULL;

    if (t) {
        ref = ngx_alloc(sizeof(ngx_http_apigw_keyref_t), ngx_cycle->log);
        if (ref == NULL) {
            apigw_keytab_free(t);   /* the current table stays */
            return;
        }

        ref->t = t;
        ref->refs = 1;
    }

    old = ngx_http_apigw_keytab_runtime;
    ngx_http_apigw_keytab_runtime = ref;

    ngx_http_apigw_keytab_release(old);
}


static void
ngx_http_apigw_keytab_release(void *data)
{
    ngx_http_apigw_keyref_t  *ref = data;

    if (ref == NULL || --ref->refs) {
        return;
    }

    apigw_keytab_free(ref->t);
    ngx_free(ref);
}


/* the store's table, pinned for the request; NULL without a store */
static const apigw_keytab_t *
ngx_http_apigw_keytab(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_apigw_keyref_t  *ref;

    if (ctx->keytab) {
        ref = ctx->keytab;
        return ref->t;
    }

    ref = ngx_http_apigw_keytab_runtime;

    if (ref) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NULL;            /* fails closed */
        }

        ref->refs++;
        cln->handler = ngx_http_apigw_keytab_release;
        cln->data = ref;
        ctx->keytab = ref;

        return ref->t;
    }

    return NULL;
}


/* the apigw_keys_file table, as last read by this worker */

static const apigw_keytab_t *
ngx_http_apigw_keytab_static(ngx_http_request_t *r)
{
    ngx_http_apigw_main_conf_t  *amcf;

    if (ngx_http_apigw_keytab_file) {
        return ngx_http_apigw_keytab_file;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apigw_module);

    return amcf->keytab;
}


/* ---- the stage ---- */

ngx_int_t
ngx_http_apigw_auth(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    ngx_http_apigw_loc_conf_t *alcf)
{
    ngx_int_t                rc;
    ngx_uint_t               i, k;
    ngx_http_apigw_fail_t    fail;
    ngx_http_apigw_found_t   found;
    const apigw_sec_alt_t   *alt;
    const apigw_security_t  *sec;

    sec = ctx->op->security;

    ngx_memzero(&fail, sizeof(ngx_http_apigw_fail_t));
    ngx_memzero(&found, sizeof(ngx_http_apigw_found_t));

    if (sec == NULL) {
        /* open: the client still cannot send identity headers */
        if (ngx_http_apigw_auth_headers(r, alcf, NULL, &found) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_DECLINED;
    }

    /*
     * Every query credential of the requirement leaves the logged request
     * line first: a check that stops early (an AND with its first term
     * missing, a client id missing) never reads the others.
     */
    if (r->args.len) {
        if (ngx_http_apigw_redact_request(r, ctx->op->api) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* and from the backend's URI (ngx_http_apigw_redact_upstream) */
        ctx->redact = sec;
    }

    for (i = 0; i < sec->nalts; i++) {
        alt = &sec->alts[i];
        ngx_memzero(&found, sizeof(ngx_http_apigw_found_t));

        for (k = 0; k < alt->nterms; k++) {
            rc = ngx_http_apigw_auth_term(r, ctx, &alt->terms[k], &found,
                                          &fail);
            if (rc == NGX_ERROR) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (rc == NGX_AGAIN) {
                /* introspection: the handler runs again with the answer */
                r->main->count++;
                return NGX_DONE;
            }

            if (rc == NGX_HTTP_SERVICE_UNAVAILABLE) {
                return ngx_http_apigw_send_error(r, ctx,
                                               NGX_HTTP_SERVICE_UNAVAILABLE,
                                               "introspection_failed");
            }

            if (rc != NGX_OK) {
                break;
            }
        }

        if (k == alt->nterms && alt->nterms) {
            if (found.key) {
                /* copied: the keys file's table may be re-read */
                ctx->consumer.len = ngx_strlen(found.key->consumer);
                ctx->consumer.data = ngx_pnalloc(r->pool,
                                                 ctx->consumer.len);
                if (ctx->consumer.data == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                ngx_memcpy(ctx->consumer.data, found.key->consumer,
                           ctx->consumer.len);

            } else if (ngx_http_apigw_header_safe(&found.subject)) {
                /* $apigw_consumer may go into a response header */
                ctx->consumer = found.subject;
            }

            if (ngx_http_apigw_auth_headers(r, alcf, alt, &found) != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return NGX_DECLINED;
        }
    }

    return ngx_http_apigw_auth_reject(r, ctx, sec, &fail);
}


/* 1: a value that can go into a header (not empty, no control chars) */
static ngx_uint_t
ngx_http_apigw_header_safe(ngx_str_t *v)
{
    size_t  i;

    for (i = 0; i < v->len; i++) {
        if (v->data[i] < 0x20 || v->data[i] == 0x7f) {
            return 0;
        }
    }

    return v->len != 0;
}


/*
 * Remember the most telling failure: a 403 (the caller is known but not
 * allowed) wins over a credential that was sent and refused, which wins
 * over one that is missing; otherwise the first one.
 */

static ngx_int_t
ngx_http_apigw_fail(ngx_http_apigw_fail_t *fail, ngx_uint_t status,
    const char *reason, const apigw_scheme_t *s, const char *scope)
{
    size_t      len;
    ngx_uint_t  rank;

    /*
     * 3: known but not allowed; 2: sent and refused (a token without a
     * required claim too); 1: not sent; 0: a scheme apigw cannot check,
     * which says nothing about what the client sent
     */
    len = ngx_strlen(reason);
    rank = status == NGX_HTTP_FORBIDDEN ? 3
           : ngx_strncmp(reason, "scheme_", 7) == 0 ? 0
           : len > 8 && ngx_strcmp(reason + len - 8, "_missing") == 0
             && ngx_strcmp(reason, "token_claim_missing") != 0 ? 1
           : 2;

    if (rank == 2 && s && s->type == APIGW_SCHEME_BEARER) {
        fail->bad_token = 1;
    }

    if (fail->status == 0 || rank > fail->rank) {
        fail->rank = rank;
        fail->status = status;
        fail->reason = reason;
        fail->scheme = s;
        fail->scope = scope;
    }

    return NGX_DECLINED;
}


/*
 * Credentials in the query and in cookies are found and stripped by the
 * same scanners, names compared exactly (query and cookie names are
 * case-sensitive; a query name percent-decoded), so that what
 * authenticated is what apigw_strip_credentials removes.
 */

/* the next "name[=value]" of a query string into pair; 0 at the end */
static ngx_uint_t
ngx_http_apigw_next_arg(u_char **pos, u_char *last, ngx_str_t *pair,
    ngx_str_t *name, ngx_str_t *value)
{
    u_char  *p, *end, *eq;

    for (p = *pos; p < last && *p == '&'; p++) { /* void */ }

    if (p == last) {
        *pos = p;
        return 0;
    }

    end = ngx_strlchr(p, last, '&');
    if (end == NULL) {
        end = last;
    }

    pair->data = p;
    pair->len = end - p;

    eq = ngx_strlchr(p, end, '=');

    name->data = p;
    name->len = (eq ? eq : end) - p;
    value->data = eq ? eq + 1 : end;
    value->len = end - value->data;

    *pos = end;

    return 1;
}


/* 1: a query name, percent-encoded or with '+' for spaces, is name */
static ngx_uint_t
ngx_http_apigw_arg_is(ngx_str_t *raw, const char *name, size_t len)
{
    u_char      c, *p, *last;
    size_t      i;
    ngx_int_t   hi, lo;

    p = raw->data;
    last = p + raw->len;

    for (i = 0; p < last; i++) {
        c = *p++;

        if (c == '+') {
            c = ' ';

        } else if (c == '%' && last - p >= 2) {
            hi = ngx_hextoi(p, 1);
            lo = ngx_hextoi(p + 1, 1);

            if (hi != NGX_ERROR && lo != NGX_ERROR) {
                c = (u_char) (hi * 16 + lo);
                p += 2;
            }
        }

        if (i == len || (u_char) name[i] != c) {
            return 0;
        }
    }

    return i == len;
}


/*
 * The next cookie of a Cookie header value (RFC 6265: "; " between
 * pairs; blanks around names and values trimmed, a quoted value
 * unquoted; a pair without "=" has an empty name); 0 at the end.
 */
static ngx_uint_t
ngx_http_apigw_next_cookie(u_char **pos, u_char *last, ngx_str_t *pair,
    ngx_str_t *name, ngx_str_t *value)
{
    u_char  *p, *start, *end, *eq, *n, *v;

    p = *pos;

    while (p < last && (*p == ' ' || *p == '\t' || *p == ';')) {
        p++;
    }

    if (p == last) {
        *pos = p;
        return 0;
    }

    start = p;
    end = ngx_strlchr(p, last, ';');
    if (end == NULL) {
        end = last;
    }

    *pos = end;

    while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    pair->data = start;
    pair->len = end - start;

    eq = ngx_strlchr(start, end, '=');

    if (eq == NULL) {
        name->data = start;
        name->len = 0;
        value->data = start;
        value->len = end - start;
        return 1;
    }

    for (n = eq; n > start && (n[-1] == ' ' || n[-1] == '\t'); n--) {
        /* void */
    }

    for (v = eq + 1; v < end && (*v == ' ' || *v == '\t'); v++) {
        /* void */
    }

    if (end - v >= 2 && *v == '"' && end[-1] == '"') {
        v++;
        end--;
    }

    name->data = start;
    name->len = n - start;
    value->data = v;
    value->len = end - v;

    return 1;
}


/*
 * A line with a URI (the request line, which nginx puts into every error
 * log line of the request and the access log's $request; the backend's
 * URI, in the error log's "upstream:"), with the values of the named
 * query argument (NULL: of every one) replaced by "***".
 */
static ngx_int_t
ngx_http_apigw_redact_arg(ngx_pool_t *pool, ngx_str_t *line,
    const char *name, size_t len)
{
    u_char     *p, *last, *q, *dst, *np;
    ngx_str_t   pair, n, v;

    p = ngx_strlchr(line->data, line->data + line->len, '?');
    if (p == NULL) {
        return NGX_OK;
    }

    last = ngx_strlchr(p, line->data + line->len, ' ');
    if (last == NULL) {
        last = line->data + line->len;
    }

    /* "k=v" to "k=***": at most 2 bytes more for every 3 */
    np = ngx_pnalloc(pool, 2 * line->len);
    if (np == NULL) {
        return NGX_ERROR;
    }

    p++;
    dst = ngx_cpymem(np, line->data, p - line->data);
    q = p;

    while (ngx_http_apigw_next_arg(&p, last, &pair, &n, &v)) {
        dst = ngx_cpymem(dst, q, pair.data - q);

        if (v.len && (name == NULL || ngx_http_apigw_arg_is(&n, name, len)))
        {
            dst = ngx_cpymem(dst, n.data, n.len);
            dst = ngx_cpymem(dst, "=***", 4);

        } else {
            dst = ngx_cpymem(dst, pair.data, pair.len);
        }

        q = p;
    }

    dst = ngx_cpymem(dst, q, line->data + line->len - q);

    line->data = np;
    line->len = dst - np;

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_redact_query(ngx_pool_t *pool, ngx_str_t *line,
    const apigw_security_t *sec)
{
    ngx_uint_t             i, k;
    const apigw_scheme_t  *s;

    for (i = 0; i < sec->nalts; i++) {
        for (k = 0; k < sec->alts[i].nterms; k++) {
            s = sec->alts[i].terms[k].scheme;

            if (s->type == APIGW_SCHEME_BEARER) {
                continue;
            }

            if (s->param && s->in == APIGW_IN_QUERY
                && ngx_http_apigw_redact_arg(pool, line, s->param,
                                             ngx_strlen(s->param))
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

            if (s->param2 && s->in2 == APIGW_IN_QUERY
                && ngx_http_apigw_redact_arg(pool, line, s->param2,
                                             ngx_strlen(s->param2))
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/*
 * The logged request line of a request that apigw answers before its
 * operation's credentials are looked at (a preflight, a 405, a 404) must
 * not keep a key either: the values of every query credential of the API
 * are hidden, and, for a request that no API claims, every query value.
 */
ngx_int_t
ngx_http_apigw_redact_request(ngx_http_request_t *r, const apigw_api_t *api)
{
    ngx_str_t             *line;
    ngx_uint_t             i;
    const apigw_scheme_t  *s;

    line = &r->request_line;

    if (api) {
        for (i = 0; api->auth && i < api->auth->nschemes; i++) {
            s = &api->auth->schemes[i];

            if ((s->param && s->in == APIGW_IN_QUERY
                 && ngx_http_apigw_redact_arg(r->pool, line, s->param,
                                              ngx_strlen(s->param))
                    != NGX_OK)
                || (s->param2 && s->in2 == APIGW_IN_QUERY
                    && ngx_http_apigw_redact_arg(r->pool, line, s->param2,
                                                 ngx_strlen(s->param2))
                       != NGX_OK))
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    return ngx_http_apigw_redact_arg(r->pool, line, NULL, 0);
}


/*
 * The backend's URI as nginx logs it ("upstream:" of an error log line):
 * u->uri points into the request made, which keeps the query as it is.
 */
ngx_int_t
ngx_http_apigw_redact_upstream(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx)
{
    if (ctx->redact == NULL || r->upstream == NULL
        || r->upstream->uri.len == 0)
    {
        return NGX_OK;
    }

    return ngx_http_apigw_redact_query(r->pool, &r->upstream->uri,
                                       ctx->redact);
}


/*
 * A credential from a header, the query or a cookie; NGX_DECLINED: none.
 * Only for the terms of the requirement ngx_http_apigw_redact_query() has
 * hidden in the logged request line.
 */
static ngx_int_t
ngx_http_apigw_credential(ngx_http_request_t *r, int in, const char *name,
    ngx_str_t *value)
{
    u_char           *dst, *src, *p, *last;
    size_t            len;
    ngx_str_t         n, v, pair;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;
    ngx_list_part_t  *part;

    len = ngx_strlen(name);

    switch (in) {

    case APIGW_IN_QUERY:
        value->data = NULL;
        p = r->args.data;
        last = p + r->args.len;

        while (ngx_http_apigw_next_arg(&p, last, &pair, &n, &v)) {
            if (ngx_http_apigw_arg_is(&n, name, len)) {
                if (value->data) {
                    /* which one would the backend read? neither */
                    return NGX_ABORT;
                }

                *value = v;
            }
        }

        if (value->data == NULL) {
            return NGX_DECLINED;
        }

        if (ngx_strlchr(value->data, value->data + value->len, '%')) {
            dst = ngx_pnalloc(r->pool, value->len);
            if (dst == NULL) {
                return NGX_ERROR;
            }

            src = value->data;
            value->data = dst;
            ngx_unescape_uri(&dst, &src, value->len, NGX_UNESCAPE_URI);
            value->len = dst - value->data;
        }

        /* the logged request line has it hidden already (redact_query) */
        break;

    case APIGW_IN_COOKIE:
        value->data = NULL;

        for (part = &r->headers_in.headers.part; part; part = part->next) {
            h = part->elts;

            for (i = 0; i < part->nelts; i++) {
                if (h[i].hash == 0 || h[i].key.len != sizeof("Cookie") - 1
                    || ngx_strncasecmp(h[i].key.data, (u_char *) "Cookie",
                                       sizeof("Cookie") - 1) != 0)
                {
                    continue;
                }

                p = h[i].value.data;
                last = p + h[i].value.len;

                while (ngx_http_apigw_next_cookie(&p, last, &pair, &n, &v)) {
                    if (n.len == len && ngx_strncmp(n.data, name, len) == 0) {
                        if (value->data) {
                            return NGX_ABORT;
                        }

                        *value = v;
                    }
                }
            }
        }

        if (value->data == NULL) {
            return NGX_DECLINED;
        }

        break;

    default:
        value->len = 0;
        value->data = NULL;

        for (part = &r->headers_in.headers.part; part; part = part->next) {
            h = part->elts;

            for (i = 0; i < part->nelts; i++) {
                if (h[i].hash && h[i].key.len == len
                    && ngx_strncasecmp(h[i].key.data, (u_char *) name, len)
                       == 0)
                {
                    if (value->data) {
                        /* which one would the backend read? neither */
                        return NGX_ABORT;
                    }

                    *value = h[i].value;
                }
            }
        }

        if (value->data == NULL) {
            return NGX_DECLINED;
        }
    }

    return value->len ? NGX_OK : NGX_DECLINED;
}


static void
ngx_http_apigw_key_target(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    apigw_key_target_t *tg, u_char *buf, size_t size)
{
    const apigw_operation_t  *op;

    op = ctx->op;

    tg->base_path = op->api->base_path;
    tg->path = op->path;

    if (ctx->opx && ctx->opx->key_api) {
        /* a managed API: keys name its tenant and artifact id */
        tg->tenant = ctx->opx->key_tenant;
        tg->api_id = ctx->opx->key_api;

    } else {
        /* a web-action binding is its tenant's (ngx_http_apigw_wabind.c) */
        tg->tenant = op->api->tenant ? op->api->tenant : "";
        tg->api_id = op->api->base_path[0] ? op->api->base_path : "/";
    }

    if (op->operation_id) {
        tg->op_id = op->operation_id;

    } else {
        ngx_snprintf(buf, size - 1, "%s %s%Z", apigw_method_name(op->method),
                     op->path);
        buf[size - 1] = '\0';
        tg->op_id = (char *) buf;
    }
}


/* the request's key target, then the store's keys and the keys file's */

static const apigw_key_t *
ngx_http_apigw_key_lookup(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    int kind, ngx_str_t *id, ngx_str_t *secret, apigw_key_target_t *tg,
    u_char *buf, size_t size, int *st)
{
    size_t              slen;
    u_char              h[32];
    const char         *sdata;
    const apigw_key_t  *k;

    ngx_http_apigw_key_target(r, ctx, tg, buf, size);

    sdata = secret ? (char *) secret->data : NULL;
    slen = secret ? secret->len : 0;

    apigw_keytab_hash(kind, (char *) id->data, id->len, h);

    k = apigw_keytab_lookup_hash(ngx_http_apigw_keytab(r, ctx), kind, h,
                                 sdata, slen, tg, st);

    if (*st == APIGW_KEY_UNKNOWN) {
        k = apigw_keytab_lookup_hash(ngx_http_apigw_keytab_static(r), kind,
                                     h, sdata, slen, tg, st);
    }

    return k;
}


static ngx_int_t
ngx_http_apigw_auth_apikey(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    const apigw_scheme_t *s, ngx_http_apigw_found_t *f,
    ngx_http_apigw_fail_t *fail)
{
    int                  st;
    u_char               buf[512];
    ngx_int_t            rc;
    ngx_str_t            v;
    apigw_key_target_t   tg;
    const apigw_key_t   *k;

    rc = ngx_http_apigw_credential(r, s->in, s->param, &v);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_ABORT) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "credential_duplicate", s, NULL);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "key_missing", s, NULL);
    }

    k = ngx_http_apigw_key_lookup(r, ctx, APIGW_KEY_API, &v, NULL, &tg, buf,
                                  sizeof(buf), &st);

    if (st == APIGW_KEY_UNKNOWN) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "apigw: unknown API key in \"%s\"", s->param);
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "key_invalid", s, NULL);
    }

    if (st == APIGW_KEY_REVOKED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "apigw: revoked API key \"%s\"", k->key_id);
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "key_revoked", s, NULL);
    }

    if (st != APIGW_KEY_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "apigw: API key \"%s\" is not subscribed to \"%s\"",
                      k->key_id, tg.api_id);
        return ngx_http_apigw_fail(fail, NGX_HTTP_FORBIDDEN,
                                   "not_subscribed", s, NULL);
    }

    if (f->key == NULL) {
        f->key = k;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_auth_client(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    const apigw_scheme_t *s, ngx_http_apigw_found_t *f,
    ngx_http_apigw_fail_t *fail)
{
    int                  st;
    u_char               buf[512];
    ngx_int_t            rc;
    ngx_str_t            id, secret;
    apigw_key_target_t   tg;
    const apigw_key_t   *k;

    rc = ngx_http_apigw_credential(r, s->in, s->param, &id);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_ABORT) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "credential_duplicate", s, NULL);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "client_id_missing", s, NULL);
    }

    rc = ngx_http_apigw_credential(r, s->in2, s->param2, &secret);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_ABORT) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "credential_duplicate", s, NULL);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "client_secret_missing", s, NULL);
    }

    k = ngx_http_apigw_key_lookup(r, ctx, APIGW_KEY_CLIENT, &id, &secret,
                                  &tg, buf, sizeof(buf), &st);

    if (st == APIGW_KEY_UNKNOWN || st == APIGW_KEY_REVOKED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "apigw: client id and secret do not match");
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "client_invalid", s, NULL);
    }

    if (st != APIGW_KEY_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "apigw: client \"%s\" is not subscribed to \"%s\"",
                      k->key_id, tg.api_id);
        return ngx_http_apigw_fail(fail, NGX_HTTP_FORBIDDEN,
                                   "not_subscribed", s, NULL);
    }

    if (f->key == NULL) {
        f->key = k;
    }

    return NGX_OK;
}


static const char *
ngx_http_apigw_jwt_reason(apigw_jwt_status_e st)
{
    switch (st) {
    case APIGW_JWT_MALFORMED:   return "token_malformed";
    case APIGW_JWT_TOO_LARGE:   return "token_too_large";
    case APIGW_JWT_ALG:         return "token_algorithm";
    case APIGW_JWT_KID_UNKNOWN: return "token_unknown_kid";
    case APIGW_JWT_NO_KEYS:     return "token_no_keys";
    case APIGW_JWT_SIGNATURE:   return "token_signature";
    case APIGW_JWT_EXPIRED:     return "token_expired";
    case APIGW_JWT_NOT_YET:     return "token_not_yet_valid";
    case APIGW_JWT_ISSUER:      return "token_issuer";
    case APIGW_JWT_AUDIENCE:    return "token_audience";
    case APIGW_JWT_CLAIM:       return "token_claim_missing";
    default:                    return "token_invalid";
    }
}


static void
ngx_http_apigw_introspect_cleanup(void *data)
{
    ngx_http_apigw_wait_t  *w = data;

    if (w->h) {
        w->h->data = NULL;          /* the request is gone */
    }
}


/* an introspection answer into the token cache */
/* an introspection answer's aud (a string or an array) names one of ours */
static ngx_uint_t
ngx_http_apigw_aud_ok(json_t *aud, const apigw_jwt_policy_t *pol)
{
    size_t       i, k;
    json_t      *e;
    const char  *a;

    for (i = 0; i < (json_is_array(aud) ? json_array_size(aud) : 1); i++) {
        e = json_is_array(aud) ? json_array_get(aud, i) : aud;
        a = json_string_value(e);

        for (k = 0; a && k < pol->naudiences; k++) {
            if (ngx_strcmp(a, pol->audiences[k]) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * The scheme's checks hold for an opaque token's answer as for a JWT:
 * iss equal to the issuer, aud holding one of the audiences, and every
 * required claim there, when configured.  An answer that cannot show
 * them (userinfo seldom has iss or aud) refuses the token.
 */
static ngx_uint_t
ngx_http_apigw_answer_ok(json_t *doc, const apigw_jwt_policy_t *pol)
{
    size_t       i;
    const char  *str;

    if (pol->issuer) {
        str = json_string_value(json_object_get(doc, "iss"));
        if (str == NULL || ngx_strcmp(str, pol->issuer) != 0) {
            return 0;
        }
    }

    if (pol->naudiences
        && !ngx_http_apigw_aud_ok(json_object_get(doc, "aud"), pol))
    {
        return 0;
    }

    for (i = 0; i < pol->nrequired_claims; i++) {
        if (json_object_get(doc, pol->required_claims[i]) == NULL) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_apigw_introspect_store(ngx_http_apigw_wait_t *w,
    ngx_http_apigw_http_t *h)
{
    char                      idbuf[32];
    char                     *payload;
    double                    d;
    time_t                    now, exp;
    json_t                   *doc, *v;
    ngx_uint_t                bad;
    const char               *str;
    ngx_http_apigw_tokval_t   val;

    doc = json_loadb((char *) h->rbody, h->rlen, JSON_REJECT_DUPLICATES,
                     NULL);

    if (!json_is_object(doc)) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "apigw: introspection of scheme \"%s\": not a JSON "
                      "object", w->scheme->name);
        json_decref(doc);
        w->failed = 1;
        return;
    }

    now = ngx_time();
    ngx_memzero(&val, sizeof(ngx_http_apigw_tokval_t));
    val.introspected = 1;

    if (w->bearer->userinfo && !ngx_http_apigw_answer_ok(doc, &w->bearer->pol))
    {
        goto inactive;
    }

    if (w->bearer->userinfo) {
        /* the provider accepted the token: who it is, for a minute */
        val.exp = now + NGX_HTTP_APIGW_USERINFO;

        v = json_object_get(doc, "sub");
        if (v == NULL) {
            v = json_object_get(doc, "id");
        }
        if (v == NULL) {
            v = json_object_get(doc, "login");
        }

        if (json_is_integer(v)) {
            snprintf(idbuf, sizeof(idbuf), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
            val.sub.data = (u_char *) idbuf;
            val.sub.len = ngx_strlen(idbuf);

        } else if (json_is_string(v)) {
            val.sub.data = (u_char *) json_string_value(v);
            val.sub.len = json_string_length(v);
        }

        str = json_string_value(json_object_get(doc, "scope"));
        if (str) {
            val.scopes.data = (u_char *) str;
            val.scopes.len = ngx_strlen(str);
        }

        payload = json_dumps(doc, JSON_COMPACT);
        if (payload) {
            val.payload.data = (u_char *) payload;
            val.payload.len = ngx_strlen(payload);
        }

        ngx_http_apigw_tokcache_put(w->bearer->cache, w->bearer->id,
                                    w->hash, &val);
        free(payload);
        json_decref(doc);
        return;
    }

    /* RFC 7662: exp a number; anything else makes the answer unusable */
    v = json_object_get(doc, "exp");
    exp = 0;
    bad = v && !json_is_number(v);

    if (json_is_number(v)) {
        d = json_number_value(v);
        bad = d < (double) now;
        exp = d < (double) (now + NGX_HTTP_APIGW_ACTIVE_MAX) ? (time_t) d : 0;
    }

    if (!ngx_http_apigw_answer_ok(doc, &w->bearer->pol)) {
        bad = 1;
    }

    if (!json_is_true(json_object_get(doc, "active")) || bad) {
        goto inactive;
    }

    /* positive answers until exp, and never longer than the cap */
    val.exp = now + NGX_HTTP_APIGW_ACTIVE_MAX;
    if (exp && exp < val.exp) {
        val.exp = exp;
    }

    str = json_string_value(json_object_get(doc, "sub"));
    if (str == NULL) {
        str = json_string_value(json_object_get(doc, "client_id"));
    }

    if (str) {
        val.sub.data = (u_char *) str;
        val.sub.len = ngx_strlen(str);
    }

    str = json_string_value(json_object_get(doc, "scope"));
    if (str) {
        val.scopes.data = (u_char *) str;
        val.scopes.len = ngx_strlen(str);
    }

    payload = json_dumps(doc, JSON_COMPACT);
    if (payload) {
        val.payload.data = (u_char *) payload;
        val.payload.len = ngx_strlen(payload);
    }

    ngx_http_apigw_tokcache_put(w->bearer->cache, w->bearer->id, w->hash,
                                &val);

    free(payload);
    json_decref(doc);
    return;

inactive:

    /* negative answers briefly */
    val.inactive = 1;
    val.exp = now + NGX_HTTP_APIGW_INACTIVE;
    ngx_http_apigw_tokcache_put(w->bearer->cache, w->bearer->id, w->hash,
                                &val);
    json_decref(doc);
}


static void
ngx_http_apigw_introspect_done(ngx_http_apigw_http_t *h)
{
    ngx_http_apigw_tokval_t  val;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_apigw_wait_t  *w;

    w = h->data;

    if (w == NULL) {
        ngx_http_apigw_http_free(h);
        return;
    }

    w->h = NULL;

    if (h->status == 200) {
        ngx_http_apigw_introspect_store(w, h);

    } else if (w->bearer->userinfo && h->status >= 400 && h->status < 500) {
        /* the provider refused the token */
        ngx_memzero(&val, sizeof(ngx_http_apigw_tokval_t));
        val.introspected = 1;
        val.inactive = 1;
        val.exp = ngx_time() + NGX_HTTP_APIGW_INACTIVE;
        ngx_http_apigw_tokcache_put(w->bearer->cache, w->bearer->id, w->hash,
                                    &val);

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "apigw: introspection of scheme \"%s\" failed "
                      "(status %ui)", w->scheme->name, h->status);
        w->failed = 1;
    }

    ngx_http_apigw_http_free(h);

    if (w->starting) {
        w->answered = 1;              /* ngx_http_apigw_introspect() goes on */
        return;
    }

    /* the content handler runs again and finds the answer in the cache */

    r = w->r;
    c = r->connection;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/* the introspection this request made for this token and scheme, or NULL */
static ngx_http_apigw_wait_t *
ngx_http_apigw_asked(ngx_http_apigw_ctx_t *ctx, const apigw_scheme_t *s,
    const u_char *hash)
{
    ngx_http_apigw_wait_t  *w;

    w = ctx->auth;

    if (w && w->scheme == s && ngx_memcmp(w->hash, hash, 32) == 0) {
        return w;
    }

    return NULL;
}


/*
 * NGX_OK: the answer is in the cache; NGX_AGAIN: asked, the handler will
 * run again; NGX_HTTP_SERVICE_UNAVAILABLE: no answer.
 */
static ngx_int_t
ngx_http_apigw_introspect(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    const apigw_scheme_t *s, ngx_http_apigw_bearer_t *b, ngx_str_t *tok,
    u_char *hash)
{
    u_char                 *p;
    size_t                  len;
    ngx_pool_cleanup_t     *cln;
    ngx_http_apigw_http_t  *h;
    ngx_http_apigw_wait_t  *w;

    w = ngx_http_apigw_asked(ctx, s, hash);

    if (w) {
        /* asked already for this request */
        return w->failed ? NGX_HTTP_SERVICE_UNAVAILABLE : NGX_OK;
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_apigw_wait_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    w->r = r;
    w->scheme = s;
    w->bearer = b;
    ngx_memcpy(w->hash, hash, 32);
    ctx->auth = w;

    h = ngx_http_apigw_http_create(ngx_cycle->log);
    if (h == NULL) {
        return NGX_ERROR;
    }

    if (b->userinfo) {
        /* GET url with "Authorization: Bearer <token>" */
        h->authorization.len = sizeof("Bearer ") - 1 + tok->len;
        h->authorization.data = ngx_pnalloc(h->pool, h->authorization.len);
        if (h->authorization.data == NULL) {
            ngx_http_apigw_http_free(h);
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_cpymem(h->authorization.data, "Bearer ",
                              sizeof("Bearer ") - 1),
                   tok->data, tok->len);
        goto start;
    }

    len = sizeof("token=&token_type_hint=access_token") - 1
          + tok->len + 2 * ngx_escape_uri(NULL, tok->data, tok->len,
                                          NGX_ESCAPE_ARGS);

    p = ngx_pnalloc(h->pool, len);
    if (p == NULL) {
        ngx_http_apigw_http_free(h);
        return NGX_ERROR;
    }

    h->body.data = p;
    p = ngx_cpymem(p, "token=", 6);
    p = (u_char *) ngx_escape_uri(p, tok->data, tok->len, NGX_ESCAPE_ARGS);
    p = ngx_cpymem(p, "&token_type_hint=access_token",
                   sizeof("&token_type_hint=access_token") - 1);
    h->body.len = p - h->body.data;

    ngx_str_set(&h->method, "POST");
    ngx_str_set(&h->content_type, "application/x-www-form-urlencoded");
    h->authorization = b->basic;

start:

    h->url = b->introspect;
    h->ssl = b->ssl;
    h->max_body = 64 * 1024;
    h->timeout = 5000;
    h->handler = ngx_http_apigw_introspect_done;
    h->data = w;

    w->h = h;
    cln->handler = ngx_http_apigw_introspect_cleanup;
    cln->data = w;

    w->starting = 1;
    ngx_http_apigw_http_start(h);
    w->starting = 0;

    if (w->answered) {
        return w->failed ? NGX_HTTP_SERVICE_UNAVAILABLE : NGX_OK;
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_apigw_bearer_found(ngx_http_request_t *r, const apigw_sec_term_t *t,
    ngx_http_apigw_tokval_t *val, ngx_http_apigw_found_t *f,
    ngx_http_apigw_fail_t *fail)
{
    u_char  *p, *q;
    size_t   i, k, len;

    for (i = 0; i < t->nscopes; i++) {
        if (apigw_scope_has((char *) val->scopes.data, t->scopes[i])) {
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "apigw: token lacks scope \"%s\"", t->scopes[i]);

        /* RFC 6750 3: the scopes needed, those that fit a quoted string */

        len = 1;
        for (k = 0; k < t->nscopes; k++) {
            len += ngx_strlen(t->scopes[k]) + 1;
        }

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        q = p;

        for (k = 0; k < t->nscopes; k++) {
            if (ngx_strchr(t->scopes[k], '"')
                || ngx_strchr(t->scopes[k], '\\'))
            {
                continue;
            }

            if (q != p) {
                *q++ = ' ';
            }

            q = ngx_cpystrn(q, (u_char *) t->scopes[k], len - (q - p));
        }

        *q = '\0';

        return ngx_http_apigw_fail(fail, NGX_HTTP_FORBIDDEN,
                                   "insufficient_scope", t->scheme,
                                   (char *) p);
    }

    /* the strings are the request's (copied from the cache or the JWT) */

    if (f->subject.len == 0) {
        f->subject = val->sub;
    }

    if (f->scopes.len == 0) {
        f->scopes = val->scopes;
    }

    if (f->payload == NULL && val->payload.len) {
        f->payload = (char *) val->payload.data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_pstr(ngx_pool_t *pool, ngx_str_t *dst, const char *src)
{
    size_t  len;

    if (src == NULL) {
        return NGX_OK;
    }

    len = ngx_strlen(src);

    dst->data = ngx_pnalloc(pool, len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, len + 1);
    dst->len = len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_auth_bearer(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    const apigw_sec_term_t *t, ngx_http_apigw_found_t *f,
    ngx_http_apigw_fail_t *fail)
{
    u_char                      hash[32];
    ngx_str_t                   v;
    ngx_int_t                   rc;
    apigw_jwt_status_e          st;
    apigw_jwt_result_t          res;
    apigw_jwt_policy_t          pol;
    const apigw_scheme_t       *s;
    ngx_http_apigw_tokval_t     val;
    ngx_http_apigw_bearer_t    *b;
    ngx_http_apigw_loc_conf_t  *alcf;

    s = t->scheme;
    b = s->ext;

    rc = ngx_http_apigw_credential(r, APIGW_IN_HEADER, "Authorization",
                                   &v);

    if (rc == NGX_ABORT) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "credential_duplicate", s, NULL);
    }

    if (rc != NGX_OK
        || v.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(v.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "token_missing", s, NULL);
    }

    v.data += sizeof("Bearer ") - 1;
    v.len -= sizeof("Bearer ") - 1;

    while (v.len && v.data[0] == ' ') {
        v.data++;
        v.len--;
    }

    if (v.len == 0) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "token_missing", s, NULL);
    }

    if (v.len > APIGW_JWT_MAX_SIZE) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "token_too_large", s, NULL);
    }

    if (b == NULL) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "token_no_keys", s, NULL);
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apigw_module);

    apigw_sha256(v.data, v.len, hash);
    ngx_memzero(&val, sizeof(ngx_http_apigw_tokval_t));

    rc = NGX_DECLINED;

    if (alcf->token_cache || b->introspect) {
        rc = ngx_http_apigw_tokcache_get(b->cache, r->pool, b->id, hash,
                                         &val);
        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK && !val.introspected
            && (!alcf->token_cache
                || (b->src && val.gen != ngx_http_apigw_jwks_gen(b->src))))
        {
            /* verified by a key set that has changed since: again */
            rc = NGX_DECLINED;
        }
    }

    /* opaque tokens (or every token, without keys): RFC 7662 */

    if (rc != NGX_OK && b->introspect
        && ((b->keys == NULL && b->src == NULL)
            || ngx_strlchr(v.data, v.data + v.len, '.') == NULL))
    {
        rc = ngx_http_apigw_introspect(r, ctx, s, b, &v, hash);

        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_apigw_tokcache_get(b->cache, r->pool, b->id, hash,
                                         &val);
        if (rc != NGX_OK) {
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }
    }

    if (rc == NGX_OK) {
        /* an answer of introspection for this very request is no hit */
        ctx->token_cache = ngx_http_apigw_asked(ctx, s, hash)
                           ? NGX_HTTP_APIGW_TOKEN_MISS
                           : NGX_HTTP_APIGW_TOKEN_HIT;

        if (val.inactive) {
            return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                       "token_inactive", s, NULL);
        }

        return ngx_http_apigw_bearer_found(r, t, &val, f, fail);
    }

    ctx->token_cache = NGX_HTTP_APIGW_TOKEN_MISS;

    if (b->src) {
        pol = b->pol;

        if (pol.issuer == NULL) {
            /* from discovery; none yet means no keys either */
            pol.issuer = ngx_http_apigw_jwks_issuer(b->src);
        }

        st = apigw_jwt_verify((char *) v.data, v.len,
                              ngx_http_apigw_jwks_keys(b->src), &pol,
                              (long) ngx_time(), &res);

        if (st == APIGW_JWT_KID_UNKNOWN) {
            ngx_http_apigw_jwks_unknown_kid(b->src);
        }

    } else {
        st = apigw_jwt_verify((char *) v.data, v.len, b->keys, &b->pol,
                              (long) ngx_time(), &res);
    }

    if (st != APIGW_JWT_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "apigw: bearer token refused for scheme \"%s\": %s",
                      s->name, apigw_jwt_status_name(st));
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   ngx_http_apigw_jwt_reason(st), s, NULL);
    }

    val.exp = (time_t) res.exp;
    val.gen = b->src ? ngx_http_apigw_jwks_gen(b->src) : 0;

    if (ngx_http_apigw_pstr(r->pool, &val.sub, res.sub) != NGX_OK
        || ngx_http_apigw_pstr(r->pool, &val.scopes, res.scopes) != NGX_OK
        || ngx_http_apigw_pstr(r->pool, &val.payload, res.payload) != NGX_OK)
    {
        apigw_jwt_result_free(&res);
        return NGX_ERROR;
    }

    apigw_jwt_result_free(&res);

    if (alcf->token_cache) {
        ngx_http_apigw_tokcache_put(b->cache, b->id, hash, &val);
    }

    return ngx_http_apigw_bearer_found(r, t, &val, f, fail);
}


static ngx_int_t
ngx_http_apigw_auth_term(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    const apigw_sec_term_t *t, ngx_http_apigw_found_t *f,
    ngx_http_apigw_fail_t *fail)
{
    if (t->scheme == NULL) {
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "scheme_undefined", NULL, NULL);
    }

    switch (t->scheme->type) {

    case APIGW_SCHEME_APIKEY:
        return ngx_http_apigw_auth_apikey(r, ctx, t->scheme, f, fail);

    case APIGW_SCHEME_CLIENT_SECRET:
        return ngx_http_apigw_auth_client(r, ctx, t->scheme, f, fail);

    case APIGW_SCHEME_BEARER:
        return ngx_http_apigw_auth_bearer(r, ctx, t, f, fail);

    default:
        return ngx_http_apigw_fail(fail, NGX_HTTP_UNAUTHORIZED,
                                   "scheme_unsupported", t->scheme, NULL);
    }
}


/* ---- rejections ---- */

static ngx_int_t
ngx_http_apigw_challenge(ngx_http_request_t *r, const apigw_scheme_t *s,
    ngx_http_apigw_fail_t *fail)
{
    u_char           *p;
    size_t            len;
    ngx_table_elt_t  *h;
    const char       *in;

    len = 96 + (s->param ? ngx_strlen(s->param) : 0)
          + (s->param2 ? ngx_strlen(s->param2) : 0)
          + (fail->scope ? ngx_strlen(fail->scope) : 0);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value.data = p;

    in = s->in == APIGW_IN_QUERY ? "query"
         : s->in == APIGW_IN_COOKIE ? "cookie" : "header";

    switch (s->type) {

    case APIGW_SCHEME_BEARER:
        if (fail->status == NGX_HTTP_FORBIDDEN && fail->scope
            && fail->scheme == s)
        {
            p = ngx_snprintf(p, len, "Bearer error=\"insufficient_scope\", "
                             "scope=\"%s\"", fail->scope);

        } else if (fail->bad_token) {
            p = ngx_snprintf(p, len, "Bearer error=\"invalid_token\"");

        } else {
            p = ngx_snprintf(p, len, "Bearer");
        }
        break;

    case APIGW_SCHEME_CLIENT_SECRET:
        p = ngx_snprintf(p, len, "ClientSecret id=\"%s\", secret=\"%s\", "
                         "in=\"%s\"", s->param, s->param2, in);

        if (s->in2 != s->in) {
            p = ngx_snprintf(p, len - (p - h->value.data),
                             ", secret_in=\"%s\"",
                             s->in2 == APIGW_IN_QUERY ? "query"
                             : s->in2 == APIGW_IN_COOKIE ? "cookie"
                             : "header");
        }
        break;

    default:
        p = ngx_snprintf(p, len, "ApiKey name=\"%s\", in=\"%s\"",
                         s->param ? s->param : "", in);
        break;
    }

    h->value.len = p - h->value.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_auth_reject(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    const apigw_security_t *sec, ngx_http_apigw_fail_t *fail)
{
    ngx_uint_t             i, k, j, n;
    const apigw_scheme_t  *s, *seen[16];

    if (fail->status == 0) {
        fail->status = NGX_HTTP_UNAUTHORIZED;
        fail->reason = "unauthorized";
    }

    /* one challenge per scheme the requirement names */

    n = 0;

    for (i = 0; i < sec->nalts; i++) {
        for (k = 0; k < sec->alts[i].nterms; k++) {
            s = sec->alts[i].terms[k].scheme;

            if (s == NULL || s->type == APIGW_SCHEME_UNSUPPORTED) {
                continue;
            }

            if (fail->status == NGX_HTTP_FORBIDDEN && s != fail->scheme) {
                continue;
            }

            for (j = 0; j < n; j++) {
                if (seen[j] == s
                    || (seen[j]->type == APIGW_SCHEME_BEARER
                        && s->type == APIGW_SCHEME_BEARER))
                {
                    break;
                }
            }

            if (j < n || n == 16) {
                continue;
            }

            seen[n++] = s;

            if (fail->status == NGX_HTTP_FORBIDDEN
                && s->type != APIGW_SCHEME_BEARER)
            {
                continue;
            }

            if (ngx_http_apigw_challenge(r, s, fail) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    return ngx_http_apigw_send_error(r, ctx, fail->status, fail->reason);
}


/* ---- what the backend gets ---- */

static ngx_int_t
ngx_http_apigw_strip_arg(ngx_http_request_t *r, const char *name)
{
    u_char     *p, *last, *dst, *np;
    size_t      len;
    ngx_str_t   pair, n, v;

    len = ngx_strlen(name);

    np = ngx_pnalloc(r->pool, r->args.len);
    if (np == NULL) {
        return NGX_ERROR;
    }

    dst = np;
    p = r->args.data;
    last = p + r->args.len;

    while (ngx_http_apigw_next_arg(&p, last, &pair, &n, &v)) {
        if (ngx_http_apigw_arg_is(&n, name, len)) {
            continue;
        }

        if (dst != np) {
            *dst++ = '&';
        }

        dst = ngx_cpymem(dst, pair.data, pair.len);
    }

    r->args.data = np;
    r->args.len = dst - np;

    /* X-Forwarded-Url is made of the unparsed URI: drop it there too */

    p = ngx_strlchr(r->unparsed_uri.data,
                    r->unparsed_uri.data + r->unparsed_uri.len, '?');

    if (p) {
        len = p - r->unparsed_uri.data;

        np = ngx_pnalloc(r->pool, len + 1 + r->args.len);
        if (np == NULL) {
            return NGX_ERROR;
        }

        dst = ngx_cpymem(np, r->unparsed_uri.data, len);

        if (r->args.len) {
            *dst++ = '?';
            dst = ngx_cpymem(dst, r->args.data, r->args.len);
        }

        r->unparsed_uri.data = np;
        r->unparsed_uri.len = dst - np;
    }

    return NGX_OK;
}


/* a Cookie header value without the named cookies ("a=1; b=2") */
static ngx_int_t
ngx_http_apigw_strip_cookies(ngx_http_request_t *r, ngx_str_t *value,
    const char **names, ngx_uint_t n)
{
    u_char      *p, *last, *dst, *np;
    size_t       len;
    ngx_str_t    pair, name, v;
    ngx_uint_t   k;

    /* "a=1;b=2" comes out as "a=1; b=2": room for the added spaces */
    np = ngx_pnalloc(r->pool, 2 * value->len);
    if (np == NULL) {
        return NGX_ERROR;
    }

    dst = np;
    p = value->data;
    last = p + value->len;

    while (ngx_http_apigw_next_cookie(&p, last, &pair, &name, &v)) {
        for (k = 0; k < n; k++) {
            len = ngx_strlen(names[k]);

            if (name.len == len && ngx_strncmp(name.data, names[k], len) == 0)
            {
                break;
            }
        }

        if (k < n) {
            continue;
        }

        if (dst != np) {
            *dst++ = ';';
            *dst++ = ' ';
        }

        dst = ngx_cpymem(dst, pair.data, pair.len);
    }

    value->data = np;
    value->len = dst - np;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_apigw_named(ngx_table_elt_t *h, const char **names, ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (h->key.len == ngx_strlen(names[i])
            && ngx_strncasecmp(h->key.data, (u_char *) names[i], h->key.len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * 1: a client header under the name of an identity header.  With
 * underscores_in_headers on, X_Apigw_Subject is one too: many backends
 * (CGI, PHP, WSGI) read "-" and "_" alike.
 */
static ngx_uint_t
ngx_http_apigw_identity_named(ngx_table_elt_t *h,
    ngx_http_apigw_identity_t *id, ngx_uint_t nid, ngx_uint_t us)
{
    u_char      a, b;
    size_t      j;
    ngx_uint_t  k;

    for (k = 0; k < nid; k++) {
        if (h->key.len != id[k].lc.len) {
            continue;
        }

        if (h->hash == id[k].hash
            && ngx_strncasecmp(h->key.data, id[k].lc.data, h->key.len) == 0)
        {
            return 1;
        }

        if (!us || ngx_strlchr(h->key.data, h->key.data + h->key.len, '_')
                   == NULL)
        {
            continue;
        }

        for (j = 0; j < h->key.len; j++) {
            a = ngx_tolower(h->key.data[j]);
            b = id[k].lc.data[j];

            if (a != b && !((a == '_' || a == '-') && (b == '_' || b == '-')))
            {
                break;
            }
        }

        if (j == h->key.len) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_apigw_auth_headers(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf, const apigw_sec_alt_t *alt,
    ngx_http_apigw_found_t *f)
{
    size_t                      len;
    u_char                     *p;
    json_t                     *payload, *v;
    ngx_str_t                   value;
    ngx_uint_t                  i, k, nid, nstrip, total;
    ngx_list_t                  headers, *list;
    ngx_table_elt_t            *h, *nh;
    ngx_list_part_t            *part;
    const char                 *strip[2 * NGX_HTTP_APIGW_MAX_TERMS + 1];
    const char                 *cookies[2 * NGX_HTTP_APIGW_MAX_TERMS];
    const char                 *name;
    ngx_uint_t                  ncookies, rebuild, j, us, ndflt;
    int                         in;
    const apigw_scheme_t       *s;
    ngx_http_apigw_identity_t  *id, *dflt;
    ngx_http_core_srv_conf_t   *cscf;

    /*
     * Configured identity headers replace the defaults, but the defaults'
     * names are still removed from what the client sent: a backend written
     * for them must never read a client's X-Apigw-Consumer
     */
    ndflt = sizeof(ngx_http_apigw_identity_default)
            / sizeof(ngx_http_apigw_identity_t);

    if (alcf->identity) {
        id = alcf->identity->elts;
        nid = alcf->identity->nelts;
        dflt = ngx_http_apigw_identity_default;

    } else {
        id = ngx_http_apigw_identity_default;
        nid = ndflt;
        dflt = NULL;
    }

    /* the credentials that were used, when they are not to be forwarded */

    nstrip = 0;
    ncookies = 0;

    if (alt && alcf->strip_credentials == 1) {
        for (k = 0; k < alt->nterms && k < NGX_HTTP_APIGW_MAX_TERMS; k++) {
            s = alt->terms[k].scheme;

            if (s->type == APIGW_SCHEME_BEARER) {
                strip[nstrip++] = "Authorization";
                continue;
            }

            /* the key or client id, then the client secret */
            for (j = 0; j < 2; j++) {
                name = j ? s->param2 : s->param;
                in = j ? s->in2 : s->in;

                if (name == NULL) {
                    continue;
                }

                if (in == APIGW_IN_QUERY) {
                    if (ngx_http_apigw_strip_arg(r, name) != NGX_OK) {
                        return NGX_ERROR;
                    }

                } else if (in == APIGW_IN_HEADER) {
                    strip[nstrip++] = name;

                } else {
                    cookies[ncookies++] = name;
                }
            }
        }
    }

    if (nid == 0 && nstrip == 0 && ncookies == 0 && dflt == NULL) {
        return NGX_OK;
    }

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
    us = cscf->underscores_in_headers;

    /*
     * The usual case has nothing to remove: the identity headers are then
     * appended to the request's own list, which is not copied.
     */

    total = nid;
    rebuild = nstrip || ncookies;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        total += part->nelts;
        h = part->elts;

        for (i = 0; i < part->nelts && !rebuild; i++) {
            rebuild = ngx_http_apigw_identity_named(&h[i], id, nid, us)
                      || (dflt && ngx_http_apigw_identity_named(&h[i], dflt,
                                                                ndflt, us));
        }
    }

    if (!rebuild) {
        if (alt == NULL) {
            return NGX_OK;
        }

        list = &r->headers_in.headers;
        goto add;
    }

    if (ngx_list_init(&headers, r->pool, total, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    list = &headers;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (ngx_http_apigw_named(&h[i], strip, nstrip)) {
                continue;
            }

            if (ncookies && h[i].key.len == sizeof("Cookie") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Cookie",
                                   sizeof("Cookie") - 1) == 0)
            {
                if (ngx_http_apigw_strip_cookies(r, &h[i].value, cookies,
                                                 ncookies)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                if (h[i].value.len == 0) {
                    continue;
                }
            }

            if (ngx_http_apigw_identity_named(&h[i], id, nid, us)
                || (dflt && ngx_http_apigw_identity_named(&h[i], dflt, ndflt,
                                                          us)))
            {
                continue;        /* the client's copy of an identity header */
            }

            nh = ngx_list_push(&headers);
            if (nh == NULL) {
                return NGX_ERROR;
            }

            *nh = h[i];
        }
    }

add:

    payload = NULL;

    for (k = 0; alt && k < nid; k++) {
        value.len = 0;

        switch (id[k].kind) {

        case NGX_HTTP_APIGW_ID_CONSUMER:
            if (f->key) {
                value.data = (u_char *) f->key->consumer;
                value.len = ngx_strlen(f->key->consumer);
            } else {
                value = f->subject;
            }
            break;

        case NGX_HTTP_APIGW_ID_SUBJECT:
            value = f->subject;
            break;

        case NGX_HTTP_APIGW_ID_SCOPES:
            value = f->scopes;
            break;

        default:
            if (f->payload == NULL) {
                break;
            }

            if (payload == NULL) {
                payload = json_loads(f->payload, 0, NULL);
                if (payload == NULL) {
                    break;
                }
            }

            v = json_object_get(payload, id[k].claim);

            if (json_is_string(v)) {
                value.data = (u_char *) json_string_value(v);
                value.len = json_string_length(v);

            } else if (json_is_integer(v) || json_is_boolean(v)) {
                p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 8);
                if (p == NULL) {
                    json_decref(payload);
                    return NGX_ERROR;
                }
                value.data = p;
                value.len = json_is_boolean(v)
                            ? (size_t) (ngx_cpymem(p, json_is_true(v)
                                                   ? "true" : "false",
                                                   json_is_true(v) ? 4 : 5)
                                        - p)
                            : (size_t) (ngx_sprintf(p, "%L", (int64_t)
                                                    json_integer_value(v))
                                        - p);
            }

            break;
        }

        if (!ngx_http_apigw_header_safe(&value)) {
            continue;
        }

        len = value.len;
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            json_decref(payload);
            return NGX_ERROR;
        }

        ngx_memcpy(p, value.data, len);

        nh = ngx_list_push(list);
        if (nh == NULL) {
            json_decref(payload);
            return NGX_ERROR;
        }

        nh->hash = id[k].hash;
        nh->key = id[k].name;
        nh->lowcase_key = id[k].lc.data;
        nh->value.data = p;
        nh->value.len = len;
    }

    json_decref(payload);

    if (list == &headers) {
        /* a copied ngx_list_t must not keep pointing at the local's part */
        r->headers_in.headers = headers;

        if (headers.last == &headers.part) {
            r->headers_in.headers.last = &r->headers_in.headers.part;
        }
    }

    return NGX_OK;
}


/* ---- configuration ---- */

static void
ngx_http_apigw_keytab_cleanup(void *data)
{
    apigw_keytab_free(data);
}


char *
ngx_http_apigw_keys_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apigw_main_conf_t *amcf = conf;

    char                 buf[1024];
    size_t               n;
    ngx_str_t           *value, file;
    ngx_uint_t           i;
    apigw_keytab_t      *t;
    ngx_file_info_t      fi;
    apigw_problems_t     probs;
    ngx_pool_cleanup_t  *cln;

    if (amcf->keytab) {
        return "is duplicate";
    }

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    apigw_problems_init(&probs);

    t = apigw_keytab_load((char *) file.data, &probs);

    for (i = 0; i < probs.n; i++) {
        n = apigw_problem_format(&probs.items[i], buf, sizeof(buf));
        if (n >= sizeof(buf)) {
            n = sizeof(buf) - 1;
        }
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "apigw: %*s", n, buf);
    }

    apigw_problems_free(&probs);

    if (t == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_apigw_keytab_cleanup;
    cln->data = t;
    amcf->keytab = t;
    amcf->keys_file = file;

    if (ngx_file_info(file.data, &fi) != NGX_FILE_ERROR) {
        amcf->keys_uniq = ngx_file_uniq(&fi);
        amcf->keys_mtime = ngx_file_mtime(&fi);
        amcf->keys_size = ngx_file_size(&fi);
    }

    return NGX_CONF_OK;
}


/*
 * The keys file is looked at once a second by every worker (a stat, not
 * per request) and read again when it changed, so that a revoked key is
 * refused within a second without a reload.  Both happen in a thread
 * (ngx_http_apigw_thread.c): a slow disk or a large file never holds the
 * worker; the table is swapped in by the worker when the thread is done.
 * A file that does not parse leaves the current table in place.
 */

typedef struct {
#if (NGX_THREADS)
    ngx_thread_task_t            task;
#endif
    ngx_http_apigw_main_conf_t  *amcf;      /* the file's last identity */
    ngx_err_t                    err;       /* the stat failed */
    ngx_uint_t                   changed;
    apigw_keytab_t              *table;     /* read again, or NULL */
    apigw_problems_t             probs;
} ngx_http_apigw_keys_watch_t;


static ngx_event_t                  ngx_http_apigw_keys_timer;
static ngx_http_apigw_keys_watch_t  ngx_http_apigw_keys_watch;


/*
 * The blocking part, in a thread: only the watch and the keys_* fields of
 * the configuration, which nothing else touches meanwhile.
 */

static void
ngx_http_apigw_keys_look(void *data, ngx_log_t *log)
{
    ngx_http_apigw_keys_watch_t *w = data;

    ngx_file_info_t              fi;
    ngx_http_apigw_main_conf_t  *amcf;

    amcf = w->amcf;
    w->err = 0;
    w->changed = 0;
    w->table = NULL;

    if (ngx_file_info(amcf->keys_file.data, &fi) == NGX_FILE_ERROR) {
        w->err = ngx_errno;
        return;
    }

    if (ngx_file_uniq(&fi) == amcf->keys_uniq
        && ngx_file_mtime(&fi) == amcf->keys_mtime
        && ngx_file_size(&fi) == amcf->keys_size)
    {
        return;
    }

    w->changed = 1;
    amcf->keys_uniq = ngx_file_uniq(&fi);
    amcf->keys_mtime = ngx_file_mtime(&fi);
    amcf->keys_size = ngx_file_size(&fi);

    apigw_problems_init(&w->probs);
    w->table = apigw_keytab_load((char *) amcf->keys_file.data, &w->probs);
}


/* back in the worker: what the thread found */

static void
ngx_http_apigw_keys_apply(ngx_http_apigw_keys_watch_t *w, ngx_log_t *log)
{
    char               buf[512];
    size_t             n;
    ngx_uint_t         i;
    static ngx_uint_t  warned;

    if (w->err) {
        if (!warned) {
            /* e.g. not readable by the worker's user */
            ngx_log_error(NGX_LOG_ERR, log, w->err,
                          "apigw: keys file \"%V\" cannot be watched",
                          &w->amcf->keys_file);
            warned = 1;
        }

    } else if (w->changed) {
        for (i = 0; i < w->probs.n; i++) {
            n = apigw_problem_format(&w->probs.items[i], buf, sizeof(buf));
            if (n >= sizeof(buf)) {
                n = sizeof(buf) - 1;
            }
            ngx_log_error(NGX_LOG_ERR, log, 0, "apigw: %*s", n, buf);
        }

        apigw_problems_free(&w->probs);

        if (w->table) {
            apigw_keytab_free(ngx_http_apigw_keytab_file);
            ngx_http_apigw_keytab_file = w->table;
            w->table = NULL;

            ngx_log_error(NGX_LOG_INFO, log, 0,
                          "apigw: keys file \"%V\" reloaded (%uz entries)",
                          &w->amcf->keys_file,
                          apigw_keytab_count(ngx_http_apigw_keytab_file));

        } else {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "apigw: keys file \"%V\" not applied; the "
                          "previous keys stay in use", &w->amcf->keys_file);
        }
    }

    if (!(ngx_exiting || ngx_terminate || ngx_quit)) {
        ngx_add_timer(&ngx_http_apigw_keys_timer, 1000);
    }
}


#if (NGX_THREADS)

static void
ngx_http_apigw_keys_looked(ngx_event_t *ev)
{
    ngx_http_apigw_keys_apply(ev->data, ev->log);
}

#endif


static void
ngx_http_apigw_keys_tick(ngx_event_t *ev)
{
    ngx_http_apigw_keys_watch_t  *w;

    w = &ngx_http_apigw_keys_watch;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

#if (NGX_THREADS)
    if (ngx_http_apigw_thread_post(&w->task, ev->log) == NGX_OK) {
        return;                 /* the timer is set again when it is back */
    }
#endif

    /* nginx without threads, or the pool's queue full: here */
    ngx_http_apigw_keys_look(w, ev->log);
    ngx_http_apigw_keys_apply(w, ev->log);
}


ngx_int_t
ngx_http_apigw_keys_init_process(ngx_cycle_t *cycle,
    ngx_http_apigw_main_conf_t *amcf)
{
    ngx_http_apigw_keys_watch_t  *w;

    if (amcf->keys_file.len == 0) {
        return NGX_OK;
    }

    w = &ngx_http_apigw_keys_watch;
    w->amcf = amcf;

#if (NGX_THREADS)
    w->task.ctx = w;
    w->task.handler = ngx_http_apigw_keys_look;
    w->task.event.handler = ngx_http_apigw_keys_looked;
    w->task.event.data = w;
    w->task.event.log = cycle->log;
#endif

    ngx_http_apigw_keys_timer.handler = ngx_http_apigw_keys_tick;
    ngx_http_apigw_keys_timer.log = cycle->log;
    ngx_http_apigw_keys_timer.data = amcf;
    ngx_http_apigw_keys_timer.cancelable = 1;

    ngx_add_timer(&ngx_http_apigw_keys_timer, 1000);

    return NGX_OK;
}


char *
ngx_http_apigw_identity_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_apigw_loc_conf_t *alcf = conf;

    char                       *rv;
    ngx_str_t                  *value;
    ngx_http_apigw_identity_t  *id;

    value = cf->args->elts;

    if (alcf->identity == NGX_CONF_UNSET_PTR) {
        alcf->identity = ngx_array_create(cf->pool, 4,
                                          sizeof(ngx_http_apigw_identity_t));
        if (alcf->identity == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (cf->args->nelts == 2) {
        if (ngx_strcmp(value[1].data, "off") == 0
            && alcf->identity->nelts == 0)
        {
            return NGX_CONF_OK;
        }

        return "takes a kind and a header name, or \"off\"";
    }

    id = ngx_array_push(alcf->identity);
    if (id == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(id, sizeof(ngx_http_apigw_identity_t));

    if (ngx_strcmp(value[1].data, "consumer") == 0) {
        id->kind = NGX_HTTP_APIGW_ID_CONSUMER;

    } else if (ngx_strcmp(value[1].data, "subject") == 0) {
        id->kind = NGX_HTTP_APIGW_ID_SUBJECT;

    } else if (ngx_strcmp(value[1].data, "scopes") == 0) {
        id->kind = NGX_HTTP_APIGW_ID_SCOPES;

    } else if (ngx_strncmp(value[1].data, "claim:", 6) == 0
               && value[1].len > 6)
    {
        id->kind = NGX_HTTP_APIGW_ID_CLAIM;
        id->claim = (char *) value[1].data + 6;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid identity kind "
                           "\"%V\" (consumer, subject, scopes, claim:NAME)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_apigw_header_name_check(&value[2]);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    id->name = value[2];
    id->lc.len = value[2].len;
    id->lc.data = ngx_pnalloc(cf->pool, value[2].len);
    if (id->lc.data == NULL) {
        return NGX_CONF_ERROR;
    }

    id->hash = ngx_hash_strlow(id->lc.data, value[2].data, value[2].len);

    return NGX_CONF_OK;
}


/* once per configuration: nginx's hashes of the default identity headers */
void
ngx_http_apigw_auth_init(void)
{
    ngx_uint_t                  i;
    ngx_http_apigw_identity_t  *id;

    id = ngx_http_apigw_identity_default;

    for (i = 0; i < sizeof(ngx_http_apigw_identity_default)
                    / sizeof(ngx_http_apigw_identity_t); i++)
    {
        id[i].hash = ngx_hash_key(id[i].lc.data, id[i].lc.len);
    }
}


char *
ngx_http_apigw_auth_merge(ngx_conf_t *cf, ngx_http_apigw_loc_conf_t *prev,
    ngx_http_apigw_loc_conf_t *conf)
{
    ngx_uint_t                  i, n;
    ngx_http_apigw_identity_t  *id;

    static ngx_str_t  limits[] = {
        ngx_string("ratelimit-limit"), ngx_string("ratelimit-remaining"),
        ngx_string("ratelimit-reset"), ngx_string("ratelimit-policy"),
        ngx_string("x-ratelimit-limit"), ngx_string("x-ratelimit-remaining"),
        ngx_string("x-ratelimit-reset"), ngx_string("retry-after")
    };

    ngx_conf_merge_value(conf->strip_credentials, prev->strip_credentials,
                         0);
    ngx_conf_merge_ptr_value(conf->identity, prev->identity, NULL);
    ngx_conf_merge_value(conf->token_cache, prev->token_cache, 1);

    /*
     * the request id goes to the backend under its own name: not one the
     * identity stage removes from the request and sets, nor one the rate
     * limits set on the response
     */
    for (n = 0; n < 2; n++) {
        id = n ? ngx_http_apigw_identity_default
               : (conf->identity ? conf->identity->elts : NULL);

        for (i = 0; id && i < (n ? sizeof(ngx_http_apigw_identity_default)
                                   / sizeof(ngx_http_apigw_identity_t)
                                 : conf->identity->nelts); i++)
        {
            if (id[i].lc.len == conf->request_id_lc.len
                && ngx_strncmp(id[i].lc.data, conf->request_id_lc.data,
                               id[i].lc.len) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "apigw: \"apigw_request_id_header %V\" "
                                   "is an identity header", &id[i].name);
                return NGX_CONF_ERROR;
            }
        }
    }

    for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        if (limits[i].len == conf->request_id_lc.len
            && ngx_strncmp(limits[i].data, conf->request_id_lc.data,
                           limits[i].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "apigw: \"apigw_request_id_header\" cannot "
                               "be a rate limit header");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static void
ngx_http_apigw_jwks_cleanup(void *data)
{
    apigw_jwks_free(data);
}


static u_char *
ngx_http_apigw_read_file(ngx_conf_t *cf, const char *name, size_t max,
    size_t *len)
{
    u_char           *buf;
    ssize_t           n;
    ngx_str_t         file;
    ngx_file_t        f;
    ngx_file_info_t   fi;

    file.data = (u_char *) name;
    file.len = ngx_strlen(name);

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NULL;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));
    f.name = file;
    f.log = cf->log;

    f.fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (f.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "apigw: cannot open \"%V\"", &file);
        return NULL;
    }

    buf = NULL;

    if (ngx_fd_info(f.fd, &fi) == NGX_FILE_ERROR
        || (size_t) ngx_file_size(&fi) > max)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apigw: \"%V\" is unreadable or larger than %uz "
                           "bytes", &file, max);
        goto done;
    }

    buf = ngx_pnalloc(cf->temp_pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_file(&f, buf, ngx_file_size(&fi), 0);
    if (n == NGX_ERROR) {
        buf = NULL;
        goto done;
    }

    *len = (size_t) n;

done:

    ngx_close_file(f.fd);

    return buf;
}


/* application/x-www-form-urlencoded, as WHATWG serialises it */

static u_char *
ngx_http_apigw_form_encode(u_char *dst, u_char *src, size_t len)
{
    u_char         c;
    static u_char  hex[] = "0123456789ABCDEF";

    while (len--) {
        c = *src++;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '*')
        {
            *dst++ = c;

        } else if (c == ' ') {
            *dst++ = '+';

        } else {
            *dst++ = '%';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
        }
    }

    return dst;
}


static char *
ngx_http_apigw_introspect_conf(ngx_conf_t *cf, apigw_api_t *api,
    apigw_scheme_t *s, apigw_jwt_conf_t *j, ngx_http_apigw_bearer_t *b)
{
    char              *rv;
    u_char            *buf, *p;
    size_t             len, idl;
    ngx_str_t          url, plain;

    b->introspect = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_url_t));
    if (b->introspect == NULL) {
        return NGX_CONF_ERROR;
    }

    if (j->introspection_endpoint == NULL) {
        b->userinfo = 1;
    }

    url.data = (u_char *) (b->userinfo ? j->userinfo_endpoint
                                       : j->introspection_endpoint);
    url.len = ngx_strlen(url.data);

    rv = ngx_http_apigw_url_parse(cf, &url, b->introspect);
    if (rv != NGX_CONF_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apigw: %s: security scheme \"%s\": "
                           "%s \"%V\" %s",
                           b->userinfo ? "userinfo_endpoint"
                                       : "introspection_endpoint",
                           api->file ? api->file : "", s->name, &url, rv);
        return NGX_CONF_ERROR;
    }

    if (b->introspect->tls) {
        b->ssl = ngx_http_apigw_http_ssl(cf);
        if (b->ssl == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (j->client_id == NULL) {
        return NGX_CONF_OK;
    }

    len = 0;
    buf = NULL;

    if (j->client_secret_file) {
        buf = ngx_http_apigw_read_file(cf, j->client_secret_file, 4096, &len);
        if (buf == NULL) {
            return NGX_CONF_ERROR;
        }

        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
            len--;
        }
    }

    /*
     * Authorization: Basic base64(client_id ":" secret), each of them
     * form-urlencoded first (RFC 6749 2.3.1): a secret with "+" or "%",
     * an id with ":", reach a server that decodes them as they are
     */

    idl = ngx_strlen(j->client_id);
    plain.data = ngx_pnalloc(cf->temp_pool, 3 * (idl + len) + 1);
    if (plain.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_http_apigw_form_encode(plain.data, (u_char *) j->client_id, idl);
    *p++ = ':';
    if (len) {
        p = ngx_http_apigw_form_encode(p, buf, len);
        ngx_explicit_memzero(buf, len);
    }

    plain.len = p - plain.data;

    b->basic.len = sizeof("Basic ") - 1 + ngx_base64_encoded_length(plain.len);
    b->basic.data = ngx_pnalloc(cf->pool, b->basic.len);
    if (b->basic.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(b->basic.data, "Basic ", sizeof("Basic ") - 1);
    url.data = p;
    ngx_encode_base64(&url, &plain);
    b->basic.len = sizeof("Basic ") - 1 + url.len;

    ngx_explicit_memzero(plain.data, plain.len);

    return NGX_CONF_OK;
}


/*
 * apigw_oauth2_provider NAME key=value...: key sources and checks for
 * bearer schemes that name none themselves (the openwhisk-apigateway
 * oauth2 providers, by definition name, and "default" for the rest).
 */

char *
ngx_http_apigw_oauth2_provider(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_apigw_main_conf_t *amcf = conf;

    u_char                     *v;
    ngx_str_t                  *value, *p;
    ngx_uint_t                  i, k;
    apigw_api_t                *api;
    apigw_scheme_t             *scheme, **ps;
    static const char          *keys[] = {
        "issuer=", "audience=", "jwks_uri=", "jwks_file=", "discovery=",
        "introspection_endpoint=", "client_id=", "client_secret_file=",
        "userinfo=",
        "algorithms=", "leeway=", NULL
    };

    value = cf->args->elts;

    if (amcf->providers == NULL) {
        amcf->providers = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (amcf->providers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    p = amcf->providers->elts;

    for (i = 0; i + 1 < amcf->providers->nelts; i++) {
        if (p[i].len == 0 && p[i + 1].len == value[1].len
            && ngx_strncmp(p[i + 1].data, value[1].data, value[1].len) == 0)
        {
            return "names a provider twice";
        }
    }

    for (i = 2; i < cf->args->nelts; i++) {
        for (k = 0; keys[k]; k++) {
            if (ngx_strncmp(value[i].data, keys[k], ngx_strlen(keys[k])) == 0)
            {
                break;
            }
        }

        v = (u_char *) ngx_strchr(value[i].data, '=');

        if (keys[k] == NULL || v == NULL || v[1] == '\0') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter "
                               "\"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    /* kept as: an empty separator, the name, then the parameters */

    p = ngx_array_push_n(amcf->providers, cf->args->nelts);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    p[0].len = 0;
    p[0].data = NULL;

    for (i = 1; i < cf->args->nelts; i++) {
        p[i] = value[i];
    }

    /*
     * The provider compiled now, as a template for the bearer schemes of
     * APIs that arrive at run time (ngx_http_apigw_auth_prepare()).
     */

    api = ngx_pcalloc(cf->pool, sizeof(apigw_api_t));
    scheme = ngx_pcalloc(cf->pool, sizeof(apigw_scheme_t));
    if (api == NULL || scheme == NULL) {
        return NGX_CONF_ERROR;
    }

    scheme->name = (char *) value[1].data;
    scheme->type = APIGW_SCHEME_BEARER;
    scheme->jwt.provider = (char *) value[1].data;
    scheme->jwt.leeway = APIGW_LEEWAY_DEFAULT;

    if (ngx_http_apigw_bearer_conf(cf, api, scheme) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (amcf->provider_schemes == NULL) {
        amcf->provider_schemes = ngx_array_create(cf->pool, 4,
                                                  sizeof(apigw_scheme_t *));
        if (amcf->provider_schemes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ps = ngx_array_push(amcf->provider_schemes);
    if (ps == NULL) {
        return NGX_CONF_ERROR;
    }

    *ps = scheme;

    return NGX_CONF_OK;
}


/*
 * Bearer schemes of an API imported at run time (the management API) get
 * the keys of their apigw_oauth2_provider (by name, else "default"): key
 * sources named by tenants' documents are not fetched, nor files read.
 * The scheme's own issuer, audiences, algorithms, leeway and required
 * claims apply.  Allocations come from `pool`, which must live as long as
 * the API.  Schemes without a provider refuse tokens (401).
 */

ngx_int_t
ngx_http_apigw_auth_prepare(ngx_pool_t *pool, apigw_api_t *api)
{
    ngx_uint_t                   i, k;
    apigw_scheme_t              *s, **ps, *tmpl;
    apigw_jwt_conf_t            *j;
    ngx_http_apigw_bearer_t     *b;
    ngx_http_apigw_main_conf_t  *amcf;

    if (api->auth == NULL) {
        return NGX_OK;
    }

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_apigw_module);

    if (amcf == NULL || amcf->provider_schemes == NULL) {
        return NGX_OK;
    }

    ps = amcf->provider_schemes->elts;

    for (i = 0; i < api->auth->nschemes; i++) {
        s = &api->auth->schemes[i];

        if (s->type != APIGW_SCHEME_BEARER || s->ext) {
            continue;
        }

        tmpl = NULL;

        for (k = 0; k < amcf->provider_schemes->nelts; k++) {
            if (s->jwt.provider
                && ngx_strcmp(ps[k]->name, s->jwt.provider) == 0)
            {
                tmpl = ps[k];
                break;
            }

            if (ngx_strcmp(ps[k]->name, "default") == 0) {
                tmpl = ps[k];
            }
        }

        if (tmpl == NULL || tmpl->ext == NULL) {
            continue;
        }

        b = ngx_palloc(pool, sizeof(ngx_http_apigw_bearer_t));
        if (b == NULL) {
            return NGX_ERROR;
        }

        *b = *(ngx_http_apigw_bearer_t *) tmpl->ext;
        j = &s->jwt;

        if (j->issuer) {
            b->pol.issuer = j->issuer;
        }

        if (j->naudiences) {
            b->pol.audiences = (const char *const *) j->audiences;
            b->pol.naudiences = j->naudiences;
        }

        if (j->algorithms) {
            b->pol.algorithms = j->algorithms;
        }

        if (s->has_jwt_conf) {
            b->pol.leeway = j->leeway;
        }

        if (j->nrequired_claims) {
            b->pol.required_claims = (const char *const *) j->required_claims;
            b->pol.nrequired_claims = j->nrequired_claims;
        }

        /* another policy: its own entries in the verified-token cache */
        if (RAND_bytes((u_char *) &b->id, sizeof(b->id)) != 1) {
            b->id = (uint64_t) ngx_random() << 32 ^ (uintptr_t) b;
        }

        s->ext = b;
    }

    return NGX_OK;
}


/* the scheme's own settings, or those of its provider */
static apigw_jwt_conf_t *
ngx_http_apigw_provider_conf(ngx_conf_t *cf, apigw_scheme_t *s)
{
    char                        *v, **dst;
    ngx_str_t                   *p, name;
    ngx_uint_t                   i, k, n, found;
    apigw_jwa_e                  a;
    apigw_jwt_conf_t            *j, *src;
    ngx_http_apigw_main_conf_t  *amcf;

    src = &s->jwt;

    if (src->jwks_uri || src->jwks_file || src->secret_file
        || src->discovery_url || src->introspection_endpoint
        || src->userinfo_endpoint)
    {
        return src;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apigw_module);

    if (amcf->providers == NULL) {
        return src;
    }

    p = amcf->providers->elts;
    n = amcf->providers->nelts;

    for (found = 0; found < 2; found++) {
        if (found == 0 && src->provider == NULL) {
            continue;
        }

        name.data = (u_char *) (found == 0 ? src->provider : "default");
        name.len = ngx_strlen(name.data);

        for (i = 0; i + 1 < n; i++) {
            if (p[i].len == 0 && p[i + 1].len == name.len
                && ngx_strncmp(p[i + 1].data, name.data, name.len) == 0)
            {
                goto use;
            }
        }
    }

    return src;

use:

    j = ngx_palloc(cf->pool, sizeof(apigw_jwt_conf_t));
    if (j == NULL) {
        return NULL;
    }

    *j = *src;

    for (k = i + 2; k < n && p[k].len; k++) {
        v = ngx_strchr(p[k].data, '=') + 1;
        dst = NULL;

        if (ngx_strncmp(p[k].data, "issuer=", 7) == 0) {
            dst = src->issuer ? NULL : &j->issuer;

        } else if (ngx_strncmp(p[k].data, "audience=", 9) == 0) {
            if (src->naudiences == 0) {
                j->audiences = ngx_palloc(cf->pool, sizeof(char *));
                if (j->audiences == NULL) {
                    return NULL;
                }
                j->audiences[0] = v;
                j->naudiences = 1;
            }

        } else if (ngx_strncmp(p[k].data, "jwks_uri=", 9) == 0) {
            dst = &j->jwks_uri;

        } else if (ngx_strncmp(p[k].data, "jwks_file=", 10) == 0) {
            dst = &j->jwks_file;

        } else if (ngx_strncmp(p[k].data, "discovery=", 10) == 0) {
            dst = &j->discovery_url;

        } else if (ngx_strncmp(p[k].data, "introspection_endpoint=", 23)
                   == 0)
        {
            dst = &j->introspection_endpoint;

        } else if (ngx_strncmp(p[k].data, "userinfo=", 9) == 0) {
            dst = &j->userinfo_endpoint;

        } else if (ngx_strncmp(p[k].data, "client_id=", 10) == 0) {
            dst = &j->client_id;

        } else if (ngx_strncmp(p[k].data, "client_secret_file=", 19) == 0) {
            dst = &j->client_secret_file;

        } else if (ngx_strncmp(p[k].data, "algorithms=", 11) == 0) {
            if (src->algorithms == 0) {
                while (*v) {
                    name.data = (u_char *) v;
                    v += strcspn(v, ",");
                    name.len = (u_char *) v - name.data;
                    a = apigw_jwa_parse((char *) name.data, name.len);

                    if (a == APIGW_JWA_NONE) {
                        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                           "apigw_oauth2_provider: unknown "
                                           "algorithm \"%V\"", &name);
                        return NULL;
                    }

                    j->algorithms |= 1u << a;

                    if (*v == ',') {
                        v++;
                    }
                }
            }

        } else if (ngx_strncmp(p[k].data, "leeway=", 7) == 0) {
            if (src->leeway_set) {
                continue;              /* the scheme's own wins */
            }

            j->leeway = ngx_atoi((u_char *) v, ngx_strlen(v));

            if (j->leeway < 0 || j->leeway > APIGW_LEEWAY_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "apigw_oauth2_provider: leeway must be "
                                   "0 to %d seconds", APIGW_LEEWAY_MAX);
                return NULL;
            }
        }

        if (dst) {
            *dst = v;
        }
    }

    return j;
}


static char *
ngx_http_apigw_bearer_conf(ngx_conf_t *cf, apigw_api_t *api,
    apigw_scheme_t *s)
{
    char                     err[256];
    u_char                  *buf;
    size_t                   len;
    apigw_jwks_t            *ks;
    ngx_pool_cleanup_t      *cln;
    apigw_jwt_conf_t        *j;
    ngx_http_apigw_bearer_t *b;

    j = ngx_http_apigw_provider_conf(cf, s);
    if (j == NULL) {
        return NGX_CONF_ERROR;
    }

    b = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_bearer_t));
    if (b == NULL) {
        return NGX_CONF_ERROR;
    }

    b->pol.issuer = j->issuer;
    b->pol.audiences = (const char *const *) j->audiences;
    b->pol.naudiences = j->naudiences;
    b->pol.algorithms = j->algorithms;
    b->pol.leeway = j->leeway;
    b->pol.required_claims = (const char *const *) j->required_claims;
    b->pol.nrequired_claims = j->nrequired_claims;

    ks = NULL;

    if (j->jwks_file) {
        buf = ngx_http_apigw_read_file(cf, j->jwks_file, APIGW_JWKS_MAX_SIZE,
                                       &len);
        if (buf == NULL) {
            return NGX_CONF_ERROR;
        }

        ks = apigw_jwks_parse((char *) buf, len, NULL, err, sizeof(err));
        if (ks == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "apigw: %s: security scheme \"%s\": "
                               "jwks_file \"%s\": %s",
                               api->file ? api->file : "", s->name,
                               j->jwks_file, err);
            return NGX_CONF_ERROR;
        }

    } else if (j->secret_file) {
        buf = ngx_http_apigw_read_file(cf, j->secret_file, 4096, &len);
        if (buf == NULL) {
            return NGX_CONF_ERROR;
        }

        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
            len--;
        }

        ks = apigw_jwks_from_secret(buf, len);
        ngx_explicit_memzero(buf, len);

        if (ks == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "apigw: %s: security scheme \"%s\": the "
                               "secret in \"%s\" must be at least 32 bytes",
                               api->file ? api->file : "", s->name,
                               j->secret_file);
            return NGX_CONF_ERROR;
        }

        if (b->pol.algorithms == 0) {
            b->pol.algorithms = APIGW_JWA_HS_MASK;
        }

    } else if (j->jwks_uri || j->discovery_url) {
        b->src = ngx_http_apigw_jwks_source(cf, j->jwks_uri
                                                ? j->jwks_uri
                                                : j->discovery_url,
                                            j->jwks_uri == NULL);
        if (b->src == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "apigw: %s: security scheme \"%s\": its "
                               "%s cannot be used", api->file ? api->file
                                                              : "",
                               s->name, j->jwks_uri ? "jwks_uri"
                                                    : "openIdConnectUrl");
            return NGX_CONF_ERROR;
        }

    } else if (j->introspection_endpoint == NULL
               && j->userinfo_endpoint == NULL)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "apigw: %s: security scheme \"%s\" has no key "
                           "source apigw can use: its tokens are refused",
                           api->file ? api->file : "", s->name);
    }

    if (j->introspection_endpoint || j->userinfo_endpoint) {
        if (ngx_http_apigw_introspect_conf(cf, api, s, j, b) != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (ks) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            apigw_jwks_free(ks);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_apigw_jwks_cleanup;
        cln->data = ks;
    }

    b->keys = ks;
    s->ext = b;

    /* cache entries of an earlier configuration never match this one */
    if (RAND_bytes((u_char *) &b->id, sizeof(b->id)) != 1) {
        b->id = (uint64_t) ngx_random() << 32 ^ (uintptr_t) b;
    }

    b->cache = ngx_http_apigw_tokcache_zone(cf);
    if (b->cache == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_uint_t
ngx_http_apigw_scheme_used(const apigw_auth_t *auth, const apigw_scheme_t *s)
{
    size_t                    r, a, t;
    const apigw_security_t   *sec;

    for (r = 0; r < auth->nreqs; r++) {
        sec = auth->reqs[r];

        for (a = 0; sec && a < sec->nalts; a++) {
            for (t = 0; t < sec->alts[a].nterms; t++) {
                if (sec->alts[a].terms[t].scheme == s) {
                    return 1;
                }
            }
        }
    }

    return 0;
}


char *
ngx_http_apigw_auth_compile(ngx_conf_t *cf, ngx_http_apigw_loc_conf_t *conf)
{
    ngx_uint_t       i, k;
    apigw_api_t    **pa;
    apigw_scheme_t  *s;

    if (conf->apis == NULL) {
        return NGX_CONF_OK;
    }

    pa = conf->apis->elts;

    for (i = 0; i < conf->apis->nelts; i++) {
        if (pa[i]->auth == NULL) {
            continue;
        }

        for (k = 0; k < pa[i]->auth->nschemes; k++) {
            s = &pa[i]->auth->schemes[k];

            /* one no requirement names is never checked: nothing to fetch,
               and its host need not resolve */
            if (s->type == APIGW_SCHEME_BEARER && s->ext == NULL
                && ngx_http_apigw_scheme_used(pa[i]->auth, s))
            {
                if (ngx_http_apigw_bearer_conf(cf, pa[i], s) != NGX_CONF_OK) {
                    return NGX_CONF_ERROR;
                }
            }
        }
    }

    return NGX_CONF_OK;
}
