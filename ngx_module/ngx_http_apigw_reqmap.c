/*
 * Request mapping (x-apigw-request-mapping; openwhisk-apigateway's v1
 * reqMapping policy), applied in order just before the request goes to
 * the backend: headers in nginx's own list, the query as decoded pairs
 * written back only when changed, the top-level fields of a JSON body
 * (collected by ngx_http_apigw_validate.c for an operation that maps its
 * body), and path parameters for the backend URL's {name}.
 */

#include "ngx_http_apigw_module.h"
#include "validate.h"

#include <jansson.h>


typedef struct {
    ngx_http_request_t         *r;
    ngx_http_apigw_ctx_t       *ctx;
    ngx_http_apigw_loc_conf_t  *alcf;
    ngx_array_t                *query;        /* ngx_keyval_t, decoded */
    json_t                     *body;         /* an object, or NULL */
    json_t                    **raw;          /* the body's numbers */
    size_t                      raw_cap;      /* a power of 2, or 0 */
    unsigned                    query_set:1;
    unsigned                    body_set:1;
} ngx_http_apigw_map_t;


/* what a request's mapping holds until the request ends */
typedef struct {
    json_t                     *body;
    json_t                    **raw;          /* one reference each */
    size_t                      raw_cap;
} ngx_http_apigw_map_hold_t;


static ngx_int_t ngx_http_apigw_map_get(ngx_http_apigw_map_t *mc, int loc,
    const char *name, json_t **out);
static ngx_int_t ngx_http_apigw_map_put(ngx_http_apigw_map_t *mc, int loc,
    const char *name, json_t *v);
static ngx_int_t ngx_http_apigw_map_del(ngx_http_apigw_map_t *mc, int loc,
    const char *name);
static ngx_int_t ngx_http_apigw_map_all(ngx_http_apigw_map_t *mc, int from,
    int to);
static ngx_int_t ngx_http_apigw_map_query(ngx_http_apigw_map_t *mc);
static ngx_int_t ngx_http_apigw_map_body(ngx_http_apigw_map_t *mc);
static ngx_int_t ngx_http_apigw_map_text(ngx_http_apigw_map_t *mc,
    json_t *v, ngx_str_t *out);
static void ngx_http_apigw_map_cleanup(void *data);
static ngx_int_t ngx_http_apigw_map_dump(ngx_http_apigw_map_t *mc,
    json_t *v, ngx_str_t *out);


/* a header of that name, in any case */
static ngx_inline ngx_uint_t
ngx_http_apigw_map_named(ngx_table_elt_t *h, const char *name, size_t len)
{
    return h->key.len == len
           && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0;
}


/*
 * NGX_OK (args is the query to send: the client's, or the one mapped),
 * NGX_DECLINED: the request cannot be mapped (a value that cannot be a
 * header, a body that is not a JSON object): 400; NGX_ERROR.
 */
ngx_int_t
ngx_http_apigw_reqmap(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    ngx_str_t *args)
{
    u_char                     *p;
    size_t                      i, len;
    json_t                     *v;
    ngx_str_t                   out;
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_uint_t                  k;
    ngx_chain_t                *cl;
    ngx_keyval_t               *kv;
    ngx_pool_cleanup_t         *cln;
    ngx_http_apigw_map_hold_t  *hold;
    const apigw_map_t          *m;
    ngx_http_apigw_map_t        mc;

    *args = r->args;

    ngx_memzero(&mc, sizeof(ngx_http_apigw_map_t));
    mc.r = r;
    mc.ctx = ctx;
    mc.alcf = ngx_http_get_module_loc_conf(r, ngx_http_apigw_module);

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_apigw_map_hold_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(cln->data, sizeof(ngx_http_apigw_map_hold_t));
    cln->handler = ngx_http_apigw_map_cleanup;

    if (ctx->op->map_body) {
        rc = ngx_http_apigw_map_body(&mc);

        hold = cln->data;
        hold->body = mc.body;
        hold->raw = mc.raw;
        hold->raw_cap = mc.raw_cap;

        if (rc != NGX_OK) {
            return rc;
        }
    }

    for (i = 0; i < ctx->op->nmaps; i++) {
        m = &ctx->op->maps[i];
        v = NULL;

        if (m->action == APIGW_MAP_REMOVE) {
            rc = strcmp(m->from_name, "*") == 0
                 ? ngx_http_apigw_map_all(&mc, m->from, 0)
                 : ngx_http_apigw_map_del(&mc, m->from, m->from_name);
            goto done;
        }

        if (strcmp(m->to_name, "*") == 0) {
            rc = ngx_http_apigw_map_all(&mc, m->from, m->to);
            goto done;
        }

        if (m->action == APIGW_MAP_DEFAULT) {
            rc = ngx_http_apigw_map_get(&mc, m->to, m->to_name, &v);
            json_decref(v);
            v = NULL;

            if (rc != NGX_DECLINED) {
                goto done;          /* present (or an error) */
            }
        }

        if (m->from == APIGW_MAP_VALUE) {
            v = json_loads(m->value, JSON_DECODE_ANY, NULL);
            rc = v ? NGX_OK : NGX_ERROR;

        } else {
            rc = ngx_http_apigw_map_get(&mc, m->from, m->from_name, &v);
        }

        if (rc == NGX_DECLINED) {
            rc = NGX_OK;            /* nothing to move */
            goto done;
        }

        if (rc == NGX_OK) {
            rc = ngx_http_apigw_map_put(&mc, m->to, m->to_name, v);
        }

        if (rc == NGX_OK && m->action == APIGW_MAP_TRANSFORM
            && !(m->from == m->to && strcmp(m->from_name, m->to_name) == 0))
        {
            rc = ngx_http_apigw_map_del(&mc, m->from, m->from_name);
        }

    done:

        json_decref(v);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (mc.query_set) {
        kv = mc.query->elts;
        len = 0;

        for (k = 0; k < mc.query->nelts; k++) {
            len += 3 * (kv[k].key.len + kv[k].value.len) + 2;
        }

        p = ngx_pnalloc(r->pool, len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        args->data = p;

        for (k = 0; k < mc.query->nelts; k++) {
            if (k) {
                *p++ = '&';
            }

            p += apigw_encode_component((char *) kv[k].key.data,
                                        kv[k].key.len, (char *) p,
                                        3 * kv[k].key.len);
            *p++ = '=';
            p += apigw_encode_component((char *) kv[k].value.data,
                                        kv[k].value.len, (char *) p,
                                        3 * kv[k].value.len);
        }

        args->len = p - args->data;
    }

    if (!mc.body_set) {
        return NGX_OK;
    }

    /* the body sent on: the object as JSON, or none once it is empty */
    len = 0;
    b = NULL;

    if (json_object_size(mc.body)) {
        rc = ngx_http_apigw_map_dump(&mc, mc.body, &out);
        if (rc != NGX_OK) {
            return rc;
        }

        len = out.len;

        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->pos = out.data;
        b->last = out.data + out.len;
        b->start = b->pos;
        b->end = b->last;
        b->memory = 1;
        b->last_buf = 1;
        b->last_in_chain = 1;
    }

    if (r->request_body == NULL) {
        r->request_body = ngx_pcalloc(r->pool,
                                      sizeof(ngx_http_request_body_t));
        if (r->request_body == NULL) {
            return NGX_ERROR;
        }
    }

    cl = NULL;

    if (b) {
        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_ERROR;
        }

        cl->buf = b;
        cl->next = NULL;
    }

    r->request_body->bufs = cl;
    r->headers_in.content_length_n = len;
    r->headers_in.chunked = 0;

    return NGX_OK;
}


static void
ngx_http_apigw_map_cleanup(void *data)
{
    ngx_http_apigw_map_hold_t *hold = data;

    size_t  i;

    json_decref(hold->body);

    /* held, so that no other value took a number's address meanwhile */
    for (i = 0; i < hold->raw_cap; i++) {
        json_decref(hold->raw[i]);
    }
}


/* the body's numbers stay as the client wrote them: a set of their nodes */

static ngx_uint_t
ngx_http_apigw_map_raw_slot(ngx_http_apigw_map_t *mc, json_t *v)
{
    ngx_uint_t  i;

    i = (ngx_uint_t) (((uintptr_t) v >> 4) * 0x9E3779B97F4A7C15ULL >> 20);

    for (i &= mc->raw_cap - 1; mc->raw[i] && mc->raw[i] != v;
         i = (i + 1) & (mc->raw_cap - 1))
    {
        /* void */
    }

    return i;
}


static ngx_uint_t
ngx_http_apigw_map_is_raw(ngx_http_apigw_map_t *mc, json_t *v)
{
    return mc->raw_cap && json_is_string(v)
           && mc->raw[ngx_http_apigw_map_raw_slot(mc, v)] == v;
}


/* jansson values of the parsed body (apigw's own parser: numbers as text) */

static json_t *
ngx_http_apigw_map_build(ngx_http_apigw_map_t *mc, const apigw_jnode_t *n,
    size_t *i)
{
    json_t               *v, *e;
    uint32_t              k;
    const apigw_jnode_t  *node, *key;

    node = &n[(*i)++];

    switch (node->type) {

    case APIGW_J_NULL:
        return json_null();

    case APIGW_J_TRUE:
        return json_true();

    case APIGW_J_FALSE:
        return json_false();

    case APIGW_J_INT:
    case APIGW_J_REAL:
        /*
         * known by its address, and held (one more reference) while the
         * request lives: a number removed or replaced by a mapping is not
         * freed, so no string made later can take its address and be
         * written unquoted
         */
        v = json_stringn_nocheck(node->s, node->len);
        if (v != NULL) {
            mc->raw[ngx_http_apigw_map_raw_slot(mc, v)] = json_incref(v);
        }
        return v;

    case APIGW_J_STRING:
        return json_stringn_nocheck(node->s, node->len);

    case APIGW_J_ARRAY:
        v = json_array();

        for (k = 0; v && k < node->count; k++) {
            e = ngx_http_apigw_map_build(mc, n, i);

            if (json_array_append_new(v, e) != 0) {
                json_decref(v);
                return NULL;
            }
        }

        return v;

    default: /* APIGW_J_OBJECT */
        v = json_object();

        for (k = 0; v && k < node->count; k++) {
            key = &n[(*i)++];
            e = ngx_http_apigw_map_build(mc, n, i);

            /* a name twice: which would the backend read?  a NUL: no
               header or query name */
            if (e == NULL || json_object_getn(v, key->s, key->len) != NULL
                || memchr(key->s, '\0', key->len) != NULL
                || json_object_setn_new_nocheck(v, key->s, key->len, e) != 0)
            {
                json_decref(e);
                json_decref(v);
                return NULL;
            }
        }

        return v;
    }
}


/* the JSON object of the request body; an empty one without a body */
static ngx_int_t
ngx_http_apigw_map_body(ngx_http_apigw_map_t *mc)
{
    size_t         len, k, nums;
    const char    *text;
    apigw_jdoc_t   doc;

    text = ngx_http_apigw_collected_body(mc->r, &len);

    if (text == NULL || len == 0) {
        mc->body = json_object();
        return mc->body ? NGX_OK : NGX_ERROR;
    }

    if (apigw_json_parse(text, len, &doc) != 0
        || doc.nodes[0].type != APIGW_J_OBJECT)
    {
        apigw_jdoc_free(&doc);
        ngx_log_error(NGX_LOG_INFO, mc->r->connection->log, 0,
                      "apigw: the request body to map is not a JSON object");
        return doc.oom ? NGX_ERROR : NGX_DECLINED;
    }

    for (nums = 0, k = 0; k < doc.n; k++) {
        nums += doc.nodes[k].type == APIGW_J_INT
                || doc.nodes[k].type == APIGW_J_REAL;
    }

    if (nums) {
        for (mc->raw_cap = 16; mc->raw_cap < 2 * nums; mc->raw_cap *= 2) {
            /* void */
        }

        mc->raw = ngx_pcalloc(mc->r->pool, mc->raw_cap * sizeof(json_t *));
        if (mc->raw == NULL) {
            apigw_jdoc_free(&doc);
            return NGX_ERROR;
        }
    }

    k = 0;
    mc->body = ngx_http_apigw_map_build(mc, doc.nodes, &k);
    apigw_jdoc_free(&doc);

    if (mc->body == NULL) {
        ngx_log_error(NGX_LOG_INFO, mc->r->connection->log, 0,
                      "apigw: the request body to map has a name twice "
                      "or one with a NUL");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* ---- the body as JSON: the client's numbers as they came ---- */

typedef struct {
    u_char   *p;
    size_t    len;
    size_t    cap;
    ngx_uint_t  bad;                  /* a value that is not UTF-8 */
} ngx_http_apigw_jbuf_t;


/* room for n more bytes */
static u_char *
ngx_http_apigw_jbuf_room(ngx_http_apigw_jbuf_t *b, size_t n)
{
    u_char  *np;

    if (b->len + n > b->cap) {
        b->cap = ngx_max(2 * b->cap, b->len + n + 256);
        np = realloc(b->p, b->cap);
        if (np == NULL) {
            return NULL;
        }
        b->p = np;
    }

    return b->p + b->len;
}


static ngx_int_t
ngx_http_apigw_jbuf_add(ngx_http_apigw_jbuf_t *b, const void *s, size_t n)
{
    u_char  *p;

    p = ngx_http_apigw_jbuf_room(b, n);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s, n);
    b->len += n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_jbuf_str(ngx_http_apigw_jbuf_t *b, const char *s, size_t n)
{
    u_char  *p;
    size_t   k;

    /* a header or query value may not be UTF-8: no JSON string then */
    if (!apigw_utf8_valid(s, n)) {
        b->bad = 1;
        return NGX_OK;
    }

    k = apigw_json_escape(s, n, NULL, 0);

    p = ngx_http_apigw_jbuf_room(b, k + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *p++ = '"';
    (void) apigw_json_escape(s, n, (char *) p, k);
    p[k] = '"';
    b->len += k + 2;

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_jbuf_value(ngx_http_apigw_map_t *mc, ngx_http_apigw_jbuf_t *b,
    json_t *v, ngx_uint_t depth)
{
    char        *text;
    size_t       i, n, klen;
    json_t      *e;
    ngx_int_t    rc;
    const char  *k;

    if (depth > APIGW_JSON_MAX_DEPTH) {
        b->bad = 1;
        return NGX_OK;
    }

    switch (json_typeof(v)) {

    case JSON_STRING:
        if (ngx_http_apigw_map_is_raw(mc, v)) {
            return ngx_http_apigw_jbuf_add(b, json_string_value(v),
                                           json_string_length(v));
        }

        return ngx_http_apigw_jbuf_str(b, json_string_value(v),
                                       json_string_length(v));

    case JSON_OBJECT:
        if (ngx_http_apigw_jbuf_add(b, "{", 1) != NGX_OK) {
            return NGX_ERROR;
        }

        n = 0;

        json_object_keylen_foreach(v, k, klen, e) {
            if ((n++ && ngx_http_apigw_jbuf_add(b, ",", 1) != NGX_OK)
                || ngx_http_apigw_jbuf_str(b, k, klen) != NGX_OK
                || ngx_http_apigw_jbuf_add(b, ":", 1) != NGX_OK
                || ngx_http_apigw_jbuf_value(mc, b, e, depth + 1) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return ngx_http_apigw_jbuf_add(b, "}", 1);

    case JSON_ARRAY:
        if (ngx_http_apigw_jbuf_add(b, "[", 1) != NGX_OK) {
            return NGX_ERROR;
        }

        json_array_foreach(v, i, e) {
            if ((i && ngx_http_apigw_jbuf_add(b, ",", 1) != NGX_OK)
                || ngx_http_apigw_jbuf_value(mc, b, e, depth + 1) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return ngx_http_apigw_jbuf_add(b, "]", 1);

    default:
        /* true, false, null, and the spec's own numbers */
        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT
                             | JSON_REAL_PRECISION(apigw_json_real_digits(v)));
        if (text == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_http_apigw_jbuf_add(b, text, ngx_strlen(text));
        free(text);

        return rc;
    }
}


/* NGX_DECLINED: a value cannot be JSON (not UTF-8) */
static ngx_int_t
ngx_http_apigw_map_dump(ngx_http_apigw_map_t *mc, json_t *v, ngx_str_t *out)
{
    ngx_int_t              rc;
    ngx_http_apigw_jbuf_t  b;

    ngx_memzero(&b, sizeof(ngx_http_apigw_jbuf_t));

    rc = ngx_http_apigw_jbuf_value(mc, &b, v, 0);

    if (rc == NGX_OK && b.bad) {
        rc = NGX_DECLINED;
    }

    if (rc == NGX_OK) {
        out->len = b.len;
        out->data = ngx_pnalloc(mc->r->pool, b.len ? b.len : 1);

        if (out->data == NULL) {
            rc = NGX_ERROR;
        } else {
            ngx_memcpy(out->data, b.p, b.len);
        }
    }

    free(b.p);

    return rc;
}


static ngx_int_t
ngx_http_apigw_map_query(ngx_http_apigw_map_t *mc)
{
    u_char        *p, *last, *amp, *eq, *dst, *src;
    size_t         j;
    ngx_str_t      part[2], *out;
    ngx_uint_t     i;
    ngx_keyval_t  *kv;

    if (mc->query) {
        return NGX_OK;
    }

    mc->query = ngx_array_create(mc->r->pool, 8, sizeof(ngx_keyval_t));
    if (mc->query == NULL) {
        return NGX_ERROR;
    }

    p = mc->r->args.data;
    last = p + mc->r->args.len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            p++;
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');

        part[0].data = p;
        part[0].len = (eq ? eq : amp) - p;
        part[1].data = eq ? eq + 1 : amp;
        part[1].len = eq ? (size_t) (amp - eq - 1) : 0;

        kv = ngx_array_push(mc->query);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        /* form decoding: "+" is a space, then %XX */
        for (i = 0; i < 2; i++) {
            out = i ? &kv->value : &kv->key;
            out->data = ngx_pnalloc(mc->r->pool, part[i].len + 1);
            if (out->data == NULL) {
                return NGX_ERROR;
            }

            for (j = 0; j < part[i].len; j++) {
                out->data[j] = part[i].data[j] == '+' ? ' '
                                                       : part[i].data[j];
            }

            src = out->data;
            dst = out->data;
            ngx_unescape_uri(&dst, &src, part[i].len, 0);
            out->len = dst - out->data;
        }

        p = amp;
    }

    return NGX_OK;
}


/* NGX_DECLINED: not there */
static ngx_int_t
ngx_http_apigw_map_get(ngx_http_apigw_map_t *mc, int loc, const char *name,
    json_t **out)
{
    size_t             len;
    ngx_uint_t         i;
    ngx_keyval_t      *kv;
    ngx_table_elt_t   *h;
    ngx_list_part_t   *part;
    apigw_match_t     *m;

    len = ngx_strlen(name);
    *out = NULL;

    switch (loc) {

    case APIGW_MAP_HEADER:
        for (part = &mc->r->headers_in.headers.part; part; part = part->next)
        {
            h = part->elts;

            for (i = 0; i < part->nelts; i++) {
                if (ngx_http_apigw_map_named(&h[i], name, len)) {
                    *out = json_stringn_nocheck((char *) h[i].value.data,
                                                h[i].value.len);
                    return *out ? NGX_OK : NGX_ERROR;
                }
            }
        }

        return NGX_DECLINED;

    case APIGW_MAP_QUERY:
        if (ngx_http_apigw_map_query(mc) != NGX_OK) {
            return NGX_ERROR;
        }

        kv = mc->query->elts;

        for (i = 0; i < mc->query->nelts; i++) {
            if (kv[i].key.len == len
                && ngx_strncmp(kv[i].key.data, name, len) == 0)
            {
                *out = json_stringn_nocheck((char *) kv[i].value.data,
                                            kv[i].value.len);
                return *out ? NGX_OK : NGX_ERROR;
            }
        }

        return NGX_DECLINED;

    case APIGW_MAP_BODY:
        *out = json_object_get(mc->body, name);

        if (*out == NULL) {
            return NGX_DECLINED;
        }

        json_incref(*out);
        return NGX_OK;

    default: /* APIGW_MAP_PATH */
        m = mc->ctx->match;

        for (i = 0; i < m->nparams; i++) {
            if (m->params[i].name_len == len
                && ngx_strncmp(m->params[i].name, name, len) == 0)
            {
                *out = json_stringn_nocheck(m->params[i].value,
                                            m->params[i].value_len);
                return *out ? NGX_OK : NGX_ERROR;
            }
        }

        return NGX_DECLINED;
    }
}


/* a value as text: a string as it is, anything else as JSON */
static ngx_int_t
ngx_http_apigw_map_text(ngx_http_apigw_map_t *mc, json_t *v, ngx_str_t *out)
{
    char  *s;

    if (json_is_string(v)) {
        /* a body's number too: its text */
        out->data = (u_char *) json_string_value(v);
        out->len = json_string_length(v);

    } else {
        return ngx_http_apigw_map_dump(mc, v, out);
    }

    /* copied: the JSON value goes before the request does */
    s = (char *) out->data;
    out->data = ngx_pnalloc(mc->r->pool, out->len ? out->len : 1);

    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, s, out->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_map_put(ngx_http_apigw_map_t *mc, int loc, const char *name,
    json_t *v)
{
    u_char           *lc, *copy;
    size_t            i, len;
    ngx_int_t         rc;
    ngx_str_t         text;
    ngx_keyval_t     *kv;
    apigw_match_t    *m;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);

    if (loc == APIGW_MAP_BODY) {
        /* a header, query or path value that is not UTF-8 is no JSON */
        if (json_is_string(v)
            && !apigw_utf8_valid(json_string_value(v), json_string_length(v)))
        {
            return NGX_DECLINED;
        }

        if (!apigw_utf8_valid(name, len)) {
            return NGX_DECLINED;
        }

        mc->body_set = 1;
        return json_object_set(mc->body, name, v) == 0 ? NGX_OK : NGX_ERROR;
    }

    /* the request id is the gateway's (also when it is renamed) */
    if (loc == APIGW_MAP_HEADER && len == mc->alcf->request_id_header.len
        && ngx_strncasecmp((u_char *) name, mc->alcf->request_id_header.data,
                           len) == 0)
    {
        return NGX_OK;
    }

    rc = ngx_http_apigw_map_text(mc, v, &text);
    if (rc != NGX_OK) {
        return rc;
    }

    /* a body field's name goes with the body ("*" clears it): copied */
    copy = ngx_pnalloc(mc->r->pool, len ? len : 1);
    if (copy == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(copy, name, len);

    switch (loc) {

    case APIGW_MAP_HEADER:
        /* a query or body value with CR, LF or NUL is no header value */
        for (i = 0; i < text.len; i++) {
            if (text.data[i] == CR || text.data[i] == LF
                || text.data[i] == '\0')
            {
                return NGX_DECLINED;
            }
        }

        if (ngx_http_apigw_map_del(mc, loc, name) != NGX_OK) {
            return NGX_ERROR;
        }

        h = ngx_list_push(&mc->r->headers_in.headers);
        lc = ngx_pnalloc(mc->r->pool, len);

        if (h == NULL || lc == NULL) {
            return NGX_ERROR;
        }

        h->key.data = copy;
        h->key.len = len;
        h->hash = ngx_hash_strlow(lc, copy, len);
        h->lowcase_key = lc;
        h->value = text;

        return NGX_OK;

    case APIGW_MAP_QUERY:
        if (ngx_http_apigw_map_del(mc, loc, name) != NGX_OK) {
            return NGX_ERROR;
        }

        kv = ngx_array_push(mc->query);
        if (kv == NULL) {
            return NGX_ERROR;
        }

        kv->key.data = copy;
        kv->key.len = len;
        kv->value = text;
        mc->query_set = 1;

        return NGX_OK;

    default: /* APIGW_MAP_PATH: a parameter the import checked is there */
        m = mc->ctx->match;

        for (i = 0; i < m->nparams; i++) {
            if (m->params[i].name_len == len
                && ngx_strncmp(m->params[i].name, name, len) == 0)
            {
                m->params[i].value = (char *) text.data;
                m->params[i].value_len = text.len;
            }
        }

        return NGX_OK;
    }
}


static ngx_int_t
ngx_http_apigw_map_del(ngx_http_apigw_map_t *mc, int loc, const char *name)
{
    size_t            len;
    ngx_uint_t        i, j, n;
    ngx_list_t        headers;
    ngx_keyval_t     *kv;
    ngx_table_elt_t  *h, *nh;
    ngx_list_part_t  *part;

    len = ngx_strlen(name);

    switch (loc) {

    case APIGW_MAP_HEADER:
        /* nginx's list has no removal: copied without them, if any */
        n = 0;
        j = 0;

        for (part = &mc->r->headers_in.headers.part; part; part = part->next)
        {
            h = part->elts;
            n += part->nelts;

            for (i = 0; i < part->nelts; i++) {
                j += ngx_http_apigw_map_named(&h[i], name, len);
            }
        }

        if (j == 0) {
            return NGX_OK;
        }

        if (ngx_list_init(&headers, mc->r->pool, n + 1,
                          sizeof(ngx_table_elt_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (part = &mc->r->headers_in.headers.part; part; part = part->next)
        {
            h = part->elts;

            for (i = 0; i < part->nelts; i++) {
                if (ngx_http_apigw_map_named(&h[i], name, len)) {
                    continue;
                }

                nh = ngx_list_push(&headers);
                if (nh == NULL) {
                    return NGX_ERROR;
                }

                *nh = h[i];
            }
        }

        /* a copied ngx_list_t must not keep pointing at the local's part */
        mc->r->headers_in.headers = headers;

        if (headers.last == &headers.part) {
            mc->r->headers_in.headers.last =
                &mc->r->headers_in.headers.part;
        }

        return NGX_OK;

    case APIGW_MAP_QUERY:
        if (ngx_http_apigw_map_query(mc) != NGX_OK) {
            return NGX_ERROR;
        }

        kv = mc->query->elts;

        for (i = 0, j = 0; i < mc->query->nelts; i++) {
            if (kv[i].key.len == len
                && ngx_strncmp(kv[i].key.data, name, len) == 0)
            {
                mc->query_set = 1;
                continue;
            }

            kv[j++] = kv[i];
        }

        mc->query->nelts = j;

        return NGX_OK;

    case APIGW_MAP_BODY:
        if (json_object_get(mc->body, name)) {
            mc->body_set = 1;
            (void) json_object_del(mc->body, name);
        }

        return NGX_OK;

    default:
        return NGX_OK;          /* a path parameter stays */
    }
}


/* "*": the whole query into the body or back; to 0: removed */
static ngx_int_t
ngx_http_apigw_map_all(ngx_http_apigw_map_t *mc, int from, int to)
{
    json_t        *v;
    ngx_int_t      rc;
    ngx_uint_t     i;
    const char    *k;
    ngx_keyval_t  *kv;

    if (from == APIGW_MAP_QUERY) {
        if (ngx_http_apigw_map_query(mc) != NGX_OK) {
            return NGX_ERROR;
        }

        kv = mc->query->elts;

        for (i = 0; to && i < mc->query->nelts; i++) {
            v = json_stringn_nocheck((char *) kv[i].value.data,
                                     kv[i].value.len);
            k = (char *) ngx_pnalloc(mc->r->pool, kv[i].key.len + 1);

            if (v == NULL || k == NULL) {
                json_decref(v);
                return NGX_ERROR;
            }

            ngx_cpystrn((u_char *) k, kv[i].key.data, kv[i].key.len + 1);

            /* a query name with a NUL is no body field: dropped */
            rc = ngx_strlen(k) == kv[i].key.len
                 ? ngx_http_apigw_map_put(mc, to, k, v) : NGX_OK;
            json_decref(v);

            if (rc != NGX_OK) {
                return rc;
            }
        }

        if (mc->query->nelts) {
            mc->query->nelts = 0;
            mc->query_set = 1;
        }

        return NGX_OK;
    }

    /* the body */

    if (to) {
        json_object_foreach(mc->body, k, v) {
            rc = ngx_http_apigw_map_put(mc, to, k, v);
            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    if (json_object_size(mc->body)) {
        json_object_clear(mc->body);
        mc->body_set = 1;
    }

    return NGX_OK;
}
