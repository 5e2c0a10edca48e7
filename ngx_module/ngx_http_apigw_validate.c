/*
 * apigw request validation, the nginx side: parameters and media types
 * are checked in the content handler; a declared-JSON body with a schema
 * is collected in memory by a request body filter (up to
 * apigw_validate_body_max, else 413), checked, and then handed to the
 * proxy as the request body.  Every other body keeps streaming.
 */

#include "ngx_http_apigw_module.h"
#include "validate.h"


typedef struct {
    u_char                     *buf;
    size_t                      len;
    size_t                      cap;
    size_t                      max;
    unsigned                    collecting:1;
} ngx_http_apigw_vbody_t;


static ngx_int_t ngx_http_apigw_validate_reject(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx, apigw_vresult_t *res);
static void ngx_http_apigw_validate_body_done(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_validate_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_request_body_filter_pt  ngx_http_next_request_body_filter;


void
ngx_http_apigw_validate_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_apigw_validate_body_filter;
}


/*
 * Returns NGX_DECLINED to go on with the pipeline, NGX_DONE when the body
 * is being read (ngx_http_apigw_invoke() follows once it is checked), or
 * the result of sending an error.
 */

ngx_int_t
ngx_http_apigw_validate(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx)
{
    int                         vrc;
    ngx_int_t                   rc;
    ngx_uint_t                  i, n, has_body;
    apigw_kv_t                 *kv;
    ngx_list_part_t            *part;
    ngx_table_elt_t            *h;
    apigw_vresult_t             res;
    apigw_vrequest_t            req;
    const apigw_operation_t    *op;
    ngx_http_apigw_vbody_t     *vb;
    ngx_http_apigw_loc_conf_t  *alcf;
    const apigw_validation_t   *v;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apigw_module);
    op = ctx->op;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    has_body = r->headers_in.content_length_n > 0 || r->headers_in.chunked;

    if (!apigw_validation_on(op, alcf->validate)) {
        /* a mapping of the body needs it whole, unchecked */
        if (!(op->map_body && has_body)) {
            return NGX_DECLINED;
        }

        goto collect;
    }

    v = apigw_op_validation(op);

    ngx_memzero(&req, sizeof(apigw_vrequest_t));

    req.path = ctx->match->params;
    req.npath = ctx->match->nparams;
    req.query = (char *) r->args.data;
    req.query_len = r->args.len;
    req.has_body = has_body;

    if (r->headers_in.content_type) {
        req.content_type = (char *) r->headers_in.content_type->value.data;
        req.content_type_len = r->headers_in.content_type->value.len;
    }

    if (v->nparams) {
        n = 0;
        for (part = &r->headers_in.headers.part; part; part = part->next) {
            n += part->nelts;
        }

        kv = ngx_palloc(r->pool, (n ? n : 1) * sizeof(apigw_kv_t));
        if (kv == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        n = 0;
        for (part = &r->headers_in.headers.part; part; part = part->next) {
            h = part->elts;
            for (i = 0; i < part->nelts; i++) {
                kv[n].name = (char *) h[i].key.data;
                kv[n].name_len = h[i].key.len;
                kv[n].value = (char *) h[i].value.data;
                kv[n].value_len = h[i].value.len;
                n++;
            }
        }

        req.headers = kv;
        req.nheaders = n;
    }

    vrc = apigw_validate_request(v, &req, &res);

    if (vrc == APIGW_V_REJECT) {
        return ngx_http_apigw_validate_reject(r, ctx, &res);
    }

    if (vrc == APIGW_V_OK && !(op->map_body && has_body)) {
        return NGX_DECLINED;
    }

collect:

    /* APIGW_V_BODY: a JSON body to read and check (or to map) */

    if (r->headers_in.content_length_n > (off_t) alcf->validate_body_max) {
        /* as client_max_body_size does: no "100 Continue" for a refusal */
        r->expect_tested = 1;
        return ngx_http_apigw_send_error(r, ctx,
                                         NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         NULL);
    }

    vb = ngx_pcalloc(r->pool, sizeof(ngx_http_apigw_vbody_t));
    if (vb == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    vb->max = alcf->validate_body_max;
    vb->collecting = 1;
    ctx->validate = vb;

    /* the router's result must outlive this stack frame */

    if (ngx_http_apigw_keep_match(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_apigw_validate_body_done);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_apigw_validate_body_done(ngx_http_request_t *r)
{
    int                         vrc;
    ngx_int_t                   rc;
    ngx_str_t                   ct;
    apigw_vresult_t             res;
    ngx_http_apigw_ctx_t       *ctx;
    ngx_http_apigw_vbody_t     *vb;
    ngx_http_apigw_loc_conf_t  *alcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_module);
    vb = ctx->validate;

    if (r->connection->error || vb->collecting) {
        /* the client went away, or the body never ended */
        ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
        return;
    }

    ngx_str_null(&ct);

    if (r->headers_in.content_type) {
        ct = r->headers_in.content_type->value;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apigw_module);

    /* collected for a mapping only: not checked */
    vrc = APIGW_V_OK;

    if (apigw_validation_on(ctx->op, alcf->validate)) {
        vrc = apigw_validate_body(apigw_op_validation(ctx->op),
                                  (char *) ct.data, ct.len, (char *) vb->buf,
                                  vb->len, &res);
    }

    if (vrc == APIGW_V_REJECT) {
        rc = ngx_http_apigw_validate_reject(r, ctx, &res);

    } else {
        rc = ngx_http_apigw_invoke(r);
    }

    ngx_http_finalize_request(r, rc);
}


const char *
ngx_http_apigw_collected_body(ngx_http_request_t *r, size_t *len)
{
    ngx_http_apigw_ctx_t    *ctx;
    ngx_http_apigw_vbody_t  *vb;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_module);
    vb = ctx ? ctx->validate : NULL;

    if (vb == NULL || vb->collecting) {
        *len = 0;
        return NULL;
    }

    *len = vb->len;

    return (char *) vb->buf;
}


/*
 * The body of a request being validated, collected into one buffer; it is
 * passed on (to be saved as the request body) only once it is complete,
 * so nginx never writes it to a temporary file.
 */

static ngx_int_t
ngx_http_apigw_validate_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    u_char                  *p;
    size_t                   size, cap;
    ngx_buf_t               *b;
    ngx_uint_t               last;
    ngx_chain_t             *cl, out;
    ngx_http_apigw_ctx_t    *ctx;
    ngx_http_apigw_vbody_t  *vb;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_module);
    vb = ctx ? ctx->validate : NULL;

    if (vb == NULL || !vb->collecting) {
        return ngx_http_next_request_body_filter(r, in);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        size = b->last - b->pos;

        if (size > vb->max - vb->len) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "apigw: request body to validate is larger than "
                          "apigw_validate_body_max (%uz)", vb->max);
            r->keepalive = 0;
            r->lingering_close = 1;
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }

        if (size > vb->cap - vb->len) {
            cap = vb->cap ? vb->cap * 2 : 4096;

            if (r->headers_in.content_length_n > 0 && vb->cap == 0) {
                cap = (size_t) r->headers_in.content_length_n;
            }

            while (cap < vb->len + size) {
                cap *= 2;
            }

            if (cap > vb->max) {
                cap = vb->max;
            }

            p = ngx_pnalloc(r->pool, cap);
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (vb->len) {
                ngx_memcpy(p, vb->buf, vb->len);
            }

            vb->buf = p;
            vb->cap = cap;
        }

        if (size) {
            ngx_memcpy(vb->buf + vb->len, b->pos, size);
            vb->len += size;
            b->pos = b->last;
        }

        if (b->last_buf) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    vb->collecting = 0;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (vb->len) {
        b->temporary = 1;
        b->start = vb->buf;
        b->pos = vb->buf;
        b->last = vb->buf + vb->len;
        b->end = b->last;
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_request_body_filter(r, &out);
}


/* 400 (or 415) with the DESIGN.md error object and its "errors" list */

static ngx_int_t
ngx_http_apigw_validate_reject(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx, apigw_vresult_t *res)
{
    size_t        el, il, ml, len;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_uint_t    status;
    ngx_chain_t   out;
    const char   *message, *reason;

    if (res->status == 500) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (res->status == NGX_HTTP_UNSUPPORTED_MEDIA_TYPE) {
        status = NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;
        message = "Error: Unsupported media type.";
        reason = "unsupported_media_type";

    } else {
        status = NGX_HTTP_BAD_REQUEST;
        message = "Error: Request validation failed.";
        reason = "invalid_request";
    }

    ctx->reason.data = (u_char *) reason;
    ctx->reason.len = ngx_strlen(reason);
    ctx->own_response = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    el = apigw_vresult_json(res, NULL, 0);
    il = apigw_json_escape((char *) ctx->request_id.data,
                           ctx->request_id.len, NULL, 0);
    ml = ngx_strlen(message);

    len = sizeof("{\"status\":,\"message\":\"\",\"request_id\":\"\","
                 "\"errors\":}\n") - 1
          + NGX_INT_T_LEN + ml + il + el;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"status\":%ui,\"message\":\"%s\","
                          "\"request_id\":\"", status, message);
    b->last += apigw_json_escape((char *) ctx->request_id.data,
                                 ctx->request_id.len, (char *) b->last, il);
    b->last = ngx_cpymem(b->last, "\",\"errors\":",
                         sizeof("\",\"errors\":") - 1);
    b->last += apigw_vresult_json(res, (char *) b->last, el);
    b->last = ngx_cpymem(b->last, "}\n", 2);

    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
