/*
 * apigw management API: the `apigw_admin` content handler and the store
 * directives.  The request is answered by the core (src/admin.c) against
 * this worker's copy of the store; its changes are committed durably to
 * the store (ngx_http_apigw_store.c) before the response goes out, and the
 * request is run again when another writer got in first, so two writers
 * never mix their changes.
 */

#include "ngx_http_apigw_store.h"
#include "ngx_http_apigw_ratelimit.h"


/* a write that lost to another worker is answered again on the newer copy */
#define NGX_HTTP_APIGW_ADMIN_RETRIES  1024


typedef struct {
    ngx_str_t            request_id;
    unsigned             own_response:1;
    unsigned             error_sent:1;
    ngx_buf_t           *error_body;
    ngx_http_request_t  *request;
    apigw_admin_req_t    req;
    apigw_admin_resp_t   resp;
    ngx_uint_t           tries;     /* lost races */
    ngx_uint_t           stale;     /* answered on an outdated copy */
    json_t              *known;     /* backend host names looked up */
} ngx_http_apigw_admin_ctx_t;


/* a backend host name looked up with the system's resolver */
typedef struct {
#if (NGX_THREADS)
    ngx_thread_task_t    task;
#endif
    ngx_http_request_t      *request;
    ngx_http_apigw_addrs_t   addrs;
    size_t                   name_len;
    u_char                   name[1];   /* NUL-terminated */
} ngx_http_apigw_admin_lookup_t;


static ngx_int_t ngx_http_apigw_admin_handler(ngx_http_request_t *r);
static void ngx_http_apigw_admin_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_admin_metrics(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_admin_run(ngx_http_request_t *r,
    u_char *body, size_t len);
static ngx_int_t ngx_http_apigw_admin_attempt(ngx_http_request_t *r);
static void ngx_http_apigw_admin_committed(void *data, ngx_int_t rc);
static void ngx_http_apigw_admin_stored(void *data, ngx_int_t rc);
static ngx_int_t ngx_http_apigw_admin_wait(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_admin_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_admin_lookup(ngx_http_request_t *r,
    ngx_str_t *name);
static ngx_int_t ngx_http_apigw_admin_looked_up(ngx_http_request_t *r,
    ngx_http_apigw_admin_lookup_t *lk);
#if (NGX_THREADS)
static void ngx_http_apigw_admin_lookup_thread(void *data, ngx_log_t *log);
static void ngx_http_apigw_admin_lookup_done(ngx_event_t *ev);
#endif
static void ngx_http_apigw_admin_resp_cleanup(void *data);
static ngx_int_t ngx_http_apigw_admin_send_resp(ngx_http_request_t *r,
    apigw_admin_resp_t *resp);
static ngx_int_t ngx_http_apigw_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, const char *type, u_char *body, size_t len);
static ngx_int_t ngx_http_apigw_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *message);
static ngx_http_apigw_admin_ctx_t *ngx_http_apigw_admin_ctx(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_admin_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_admin_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);

static ngx_int_t ngx_http_apigw_admin_init(ngx_conf_t *cf);
static void *ngx_http_apigw_admin_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_apigw_admin_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_apigw_admin_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_apigw_admin_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_apigw_admin_init_process(ngx_cycle_t *cycle);
static void ngx_http_apigw_admin_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_apigw_admin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apigw_admin_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apigw_admin_tokens(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apigw_admin_seal_key(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void ngx_http_apigw_admin_seal_cleanup(void *data);


static ngx_command_t  ngx_http_apigw_admin_commands[] = {

    { ngx_string("apigw_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_apigw_admin_store,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_public_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apigw_admin_main_conf_t, public_url),
      &ngx_http_apigw_base_url_p },

    { ngx_string("apigw_store_poll"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apigw_admin_main_conf_t, poll),
      &ngx_http_apigw_positive_p },

    { ngx_string("apigw_store_resolve"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apigw_admin_main_conf_t, resolve),
      NULL },

    { ngx_string("apigw_store_openwhisk_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apigw_admin_main_conf_t, openwhisk_url),
      &ngx_http_apigw_base_url_p },

    { ngx_string("apigw_store_encryption_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apigw_admin_seal_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_apigw_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_admin_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_apigw_admin_tokens,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_admin_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_admin_loc_conf_t, max_body),
      &ngx_http_apigw_size_p },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_apigw_admin_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_apigw_admin_init,             /* postconfiguration */

    ngx_http_apigw_admin_create_main_conf, /* create main configuration */
    ngx_http_apigw_admin_init_main_conf,   /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_apigw_admin_create_loc_conf,  /* create location configuration */
    ngx_http_apigw_admin_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_apigw_admin_module = {
    NGX_MODULE_V1,
    &ngx_http_apigw_admin_module_ctx,      /* module context */
    ngx_http_apigw_admin_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_apigw_admin_init_process,     /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_apigw_admin_exit_process,     /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* ---- the handler ---- */

/* GET /health, GET /v1/health-check: for load balancers, no token */
static ngx_uint_t
ngx_http_apigw_admin_health(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return 0;
    }

    return (r->uri.len == 7 && ngx_strncmp(r->uri.data, "/health", 7) == 0)
           || (r->uri.len == 16
               && ngx_strncmp(r->uri.data, "/v1/health-check", 16) == 0);
}


/*
 * The secret of an Authorization header: a bearer token (v2 callers), or
 * the password of Basic credentials (v1 callers send gwUser:gwPwd); a
 * copy in the pool, which the caller wipes.
 */
static ngx_int_t
ngx_http_apigw_admin_secret(ngx_http_request_t *r, ngx_str_t *auth,
    ngx_str_t *secret)
{
    u_char     *p, *last, *colon;
    ngx_str_t   src;

    if (auth == NULL || auth->len <= 6) {
        return NGX_DECLINED;
    }

    p = auth->data;
    last = auth->data + auth->len;

    if (auth->len > 7 && ngx_strncasecmp(p, (u_char *) "Bearer ", 7) == 0) {
        p += 7;
        while (p < last && *p == ' ') {
            p++;
        }

        secret->len = last - p;
        secret->data = ngx_pnalloc(r->pool, secret->len + 1);
        if (secret->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(secret->data, p, secret->len);
        return NGX_OK;
    }

    if (ngx_strncasecmp(p, (u_char *) "Basic ", 6) != 0) {
        return NGX_DECLINED;
    }

    p += 6;
    while (p < last && *p == ' ') {
        p++;
    }

    src.data = p;
    src.len = last - p;

    secret->data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(src.len));
    if (secret->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64(secret, &src) != NGX_OK) {
        return NGX_DECLINED;
    }

    colon = ngx_strlchr(secret->data, secret->data + secret->len, ':');
    if (colon == NULL) {
        ngx_explicit_memzero(secret->data, secret->len);
        return NGX_DECLINED;
    }

    /* the user name before it is not secret: left as it is */
    secret->len -= colon + 1 - secret->data;
    secret->data = colon + 1;

    return NGX_OK;
}


/*
 * A subscription's client id is, for an apiKey scheme, the key itself
 * (openwhisk-apigateway's design): the client id of a path
 * ".../subscriptions/{client_id}" is logged as three asterisks
 */
static ngx_int_t
ngx_http_apigw_admin_redact(ngx_http_request_t *r)
{
    u_char     *p, *s, *e, *last, *np, *d;
    ngx_str_t  *line;

    static u_char  sub[] = "/subscriptions/";

    line = &r->request_line;
    last = line->data + line->len;

    p = ngx_strlcasestrn(line->data, last, sub, sizeof(sub) - 2);
    if (p == NULL) {
        return NGX_OK;
    }

    s = p + sizeof(sub) - 1;

    for (e = s; e < last && *e != ' ' && *e != '?' && *e != '/'; e++) {
        /* void */
    }

    if (e == s) {
        return NGX_OK;
    }

    np = ngx_pnalloc(r->pool, line->len + 3);
    if (np == NULL) {
        return NGX_ERROR;
    }

    d = ngx_cpymem(np, line->data, s - line->data);
    d = ngx_cpymem(d, "***", 3);
    d = ngx_cpymem(d, e, last - e);

    line->data = np;
    line->len = d - np;

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_admin_handler(ngx_http_request_t *r)
{
    u_char                            hash[65];
    ngx_int_t                         rc;
    ngx_uint_t                        i, ok;
    ngx_str_t                        *auth, secret;
    ngx_http_apigw_admin_ctx_t       *ctx;
    ngx_http_apigw_admin_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apigw_admin_module);

    ctx = ngx_http_apigw_admin_ctx(r);
    if (ctx == NULL || ngx_http_apigw_admin_redact(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* closed without tokens; "apigw_admin_token_file off": open */
    if ((alcf->tokens == NULL || alcf->tokens->nelts)
        && !ngx_http_apigw_admin_health(r))
    {
        ok = 0;
        auth = r->headers_in.authorization
               ? &r->headers_in.authorization->value : NULL;

        if (alcf->tokens
            && ngx_http_apigw_admin_secret(r, auth, &secret) == NGX_OK)
        {
            apigw_store_sha256_hex(NULL, 0, secret.data, secret.len,
                                   (char *) hash);
            ngx_explicit_memzero(secret.data, secret.len);

            for (i = 0; i < alcf->tokens->nelts; i++) {
                /* every token compared, in constant time */
                ok |= apigw_const_eq((char *) hash,
                                     (char *) alcf->tokens->elts + 65 * i,
                                     64);
            }
        }

        if (!ok) {
            r->headers_out.www_authenticate = ngx_list_push(
                                                  &r->headers_out.headers);
            if (r->headers_out.www_authenticate == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            r->headers_out.www_authenticate->hash = 1;
            ngx_str_set(&r->headers_out.www_authenticate->key,
                        "WWW-Authenticate");
            ngx_str_set(&r->headers_out.www_authenticate->value,
                        "Bearer realm=\"apigw\"");

            return ngx_http_apigw_admin_error(r, NGX_HTTP_UNAUTHORIZED,
                                              "Error: Unauthorized");
        }
    }

    if (r->uri.len == 8 && ngx_strncmp(r->uri.data, "/metrics", 8) == 0
        && (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
    {
        return ngx_http_apigw_admin_metrics(r);
    }

    if (r->headers_in.content_length_n > (off_t) alcf->max_body) {
        return ngx_http_apigw_admin_error(r,
                                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "Error: Request body too large.");
    }

    if (r->method & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH
                     |NGX_HTTP_DELETE))
    {
        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_apigw_admin_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    /* 400 for a broken chunked body, as nginx's own handlers answer */
    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_apigw_admin_run(r, NULL, 0);
}


static ngx_int_t
ngx_http_apigw_admin_metrics(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    const apigw_store_t         *st;
    ngx_http_apigw_admin_ctx_t  *ctx;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    st = ngx_http_apigw_store_current();

    b = ngx_http_apigw_metrics_text(r, st ? apigw_store_version(st) : 0);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_apigw_admin_ctx(r);
    ctx->own_response = 1;

    /* send() adds a newline: the text has its own */
    return ngx_http_apigw_admin_send(r, NGX_HTTP_OK,
                                     "text/plain; version=0.0.4",
                                     b->pos, b->last - b->pos - 1);
}


static void
ngx_http_apigw_admin_body(ngx_http_request_t *r)
{
    u_char       *body, *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    len = 0;

    if (r->request_body == NULL) {
        ngx_http_finalize_request(r, ngx_http_apigw_admin_run(r, NULL, 0));
        return;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    body = ngx_pnalloc(r->pool, len + 1);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p = body;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            /* a large body on the admin path: read back from its file */
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            p += n;

        } else if (b->last > b->pos) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    *p = '\0';

    ngx_http_finalize_request(r, ngx_http_apigw_admin_run(r, body, len));
}


static ngx_int_t
ngx_http_apigw_admin_run(ngx_http_request_t *r, u_char *body, size_t len)
{
    u_char                            *url, *rid, *ow;
    size_t                             i;
    apigw_admin_req_t                 *req;
    ngx_pool_cleanup_t                *cln;
    ngx_http_apigw_admin_ctx_t        *ctx;
    ngx_http_apigw_main_conf_t        *gmcf;
    ngx_http_apigw_admin_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apigw_admin_module);
    ctx = ngx_http_apigw_admin_ctx(r);

    if (ngx_http_apigw_store_current() == NULL) {
        return ngx_http_apigw_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "Error: No store.");
    }

    url = ngx_pnalloc(r->pool, amcf->public_url.len + 1);
    rid = ngx_pnalloc(r->pool, ctx->request_id.len + 1);
    ow = ngx_pnalloc(r->pool, amcf->openwhisk_url.len + 1);
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (url == NULL || rid == NULL || ow == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_apigw_admin_resp_cleanup;
    cln->data = ctx;

    (void) ngx_cpystrn(url, amcf->public_url.data, amcf->public_url.len + 1);
    (void) ngx_cpystrn(rid, ctx->request_id.data, ctx->request_id.len + 1);
    (void) ngx_cpystrn(ow, amcf->openwhisk_url.data,
                       amcf->openwhisk_url.len + 1);

    req = &ctx->req;
    ctx->request = r;

    req->method = (char *) r->method_name.data;
    req->method_len = r->method_name.len;
    req->path = (char *) r->uri.data;
    req->path_len = r->uri.len;

    if (r->valid_unparsed_uri) {
        /* percent-encoded ids stay intact */
        req->path = (char *) r->unparsed_uri.data;
        req->path_len = r->unparsed_uri.len;

        for (i = 0; i < req->path_len; i++) {
            if (req->path[i] == '?') {
                req->path_len = i;
                break;
            }
        }
    }

    req->query = (char *) r->args.data;
    req->query_len = r->args.len;
    req->body = (char *) body;
    req->body_len = len;
    req->public_url = (char *) url;
    req->openwhisk_url = amcf->openwhisk_url.len ? (char *) ow : NULL;
    req->request_id = (char *) rid;
    req->seal = amcf->seal;
    req->global_limits = ngx_http_apigw_rl_global_limits() ? 1 : 0;

    gmcf = ngx_http_get_module_main_conf(r, ngx_http_apigw_module);

    if (gmcf->vanity) {
        req->vanity = (const char *const *) gmcf->vanity->elts;
        req->nvanity = gmcf->vanity->nelts;
    }

    if (ngx_http_apigw_store_redis()) {
        req->store = "redis";
        req->store_up = ngx_http_apigw_rstore_ready() ? 1 : 0;
        req->store_unread = ngx_http_apigw_rstore_loaded() ? 0 : 1;

    } else {
        req->store = "file";
        req->store_up = ngx_http_apigw_store_writable() ? 1 : 0;
    }

    return ngx_http_apigw_admin_attempt(r);
}


/*
 * Answer the request against this worker's copy of the store and commit
 * its changes, asynchronously: the embedded store's file work in a
 * thread, Redis on its connection.  On a conflict with another writer
 * it is answered again on the newer copy (ngx_http_apigw_admin_committed).
 */

static ngx_int_t
ngx_http_apigw_admin_attempt(ngx_http_request_t *r)
{
    size_t                       i;
    uint64_t                     base;
    ngx_int_t                    rc;
    ngx_str_t                    err, name;
    apigw_admin_resp_t          *resp;
    ngx_http_apigw_admin_ctx_t  *ctx;

    ctx = ngx_http_apigw_admin_ctx(r);
    resp = &ctx->resp;

    apigw_admin_resp_free(resp);

    if (ngx_http_apigw_store_sync(r->connection->log) != NGX_OK) {
        return ngx_http_apigw_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "Error: The store is unavailable.");
    }

    apigw_admin_handle(ngx_http_apigw_store_current(), &ctx->req, resp);

    for (i = 0; i < resp->muts.n; i++) {
        if (resp->muts.items[i].value == NULL
            || ngx_strncmp(resp->muts.items[i].key, "api:", 4) != 0)
        {
            continue;
        }

        rc = ngx_http_apigw_resolve_hosts(r, resp->muts.items[i].value,
                                          ctx->known, &name, &err);

        if (rc == NGX_AGAIN) {
            return ngx_http_apigw_admin_lookup(r, &name);
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED || rc == NGX_BUSY) {
            apigw_admin_error(resp, ctx->req.request_id,
                              rc == NGX_DECLINED ? 400 : 503, "%.*s",
                              (int) err.len, err.data);
            break;
        }
    }

    if (resp->muts.n == 0) {
        return ngx_http_apigw_admin_send_resp(r, resp);
    }

    base = apigw_store_version(ngx_http_apigw_store_current());

    if (ngx_http_apigw_store_redis()) {
        rc = ngx_http_apigw_rstore_commit(&resp->muts, base,
                                          ngx_http_apigw_admin_committed,
                                          ctx);
        if (rc != NGX_OK) {
            return ngx_http_apigw_admin_error(r,
                                          NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "Error: The store is unavailable.");
        }

        r->main->count++;
        return NGX_DONE;
    }

    rc = ngx_http_apigw_store_commit(&resp->muts, base,
                                     ngx_http_apigw_admin_stored, ctx,
                                     r->connection->log);
    if (rc != NGX_OK) {
        ngx_http_apigw_metrics_store(0);
        return ngx_http_apigw_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "Error: The store is unavailable.");
    }

    return ngx_http_apigw_admin_wait(r);
}


/* waiting for a thread: the request and its pool live until it is back */
static ngx_int_t
ngx_http_apigw_admin_wait(ngx_http_request_t *r)
{
    r->main->blocked++;
    r->main->count++;

    return NGX_DONE;
}


/* back from the thread: NGX_DECLINED when the request was ended meanwhile */
static ngx_int_t
ngx_http_apigw_admin_resume(ngx_http_request_t *r)
{
    ngx_connection_t  *c;

    c = r->connection;

    r->main->blocked--;

    if (!c->error) {
        return NGX_OK;
    }

    /* it was terminated: it ends now */
    ngx_http_finalize_request(r, NGX_ERROR);
    ngx_http_run_posted_requests(c);

    return NGX_DECLINED;
}


static void
ngx_http_apigw_admin_stored(void *data, ngx_int_t rc)
{
    ngx_http_apigw_admin_ctx_t *ctx = data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    if (ngx_http_apigw_admin_resume(r) != NGX_OK) {
        /* no one to answer: the write is counted all the same */
        if (rc != NGX_DECLINED) {
            ngx_http_apigw_metrics_store(rc == NGX_OK);
        }

        return;
    }

    ngx_http_apigw_admin_committed(data, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_apigw_admin_committed(void *data, ngx_int_t rc)
{
    ngx_http_apigw_admin_ctx_t *ctx = data;

    ngx_http_request_t  *r;

    r = ctx->request;

    if (rc == NGX_OK || rc == NGX_ERROR || rc == NGX_ABORT) {
        ngx_http_apigw_metrics_store(rc == NGX_OK);
    }

    if (rc == NGX_OK) {
        rc = ngx_http_apigw_admin_send_resp(r, &ctx->resp);

    } else if (rc == NGX_ABORT) {
        /* the embedded store's zone has no room: nothing was written */
        rc = ngx_http_apigw_admin_error(r, 507,
                                        "Error: The store is full.");

    } else if ((rc == NGX_DECLINED
                && ++ctx->tries <= NGX_HTTP_APIGW_ADMIN_RETRIES)
               || (rc == NGX_AGAIN && ++ctx->stale < 1000))
    {
        rc = ngx_http_apigw_admin_attempt(r);

        if (rc == NGX_DONE) {
            /* waiting again: the earlier reference goes */
            ngx_http_finalize_request(r, NGX_DONE);
            return;
        }

    } else {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "apigw: store write failed after %ui attempts",
                      ctx->tries + 1);
        rc = ngx_http_apigw_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "Error: The store is unavailable.");
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * A backend host name of an API being written is looked up with the
 * system's resolver (/etc/hosts, DNS), which blocks: in a thread
 * (ngx_http_apigw_thread.c), the request waiting as it does for Redis, so
 * the worker goes on serving.  The request is then answered again from the
 * start, with the addresses known.
 */

static ngx_int_t
ngx_http_apigw_admin_lookup(ngx_http_request_t *r, ngx_str_t *name)
{
    ngx_http_apigw_admin_lookup_t     *lk;

    lk = ngx_calloc(sizeof(ngx_http_apigw_admin_lookup_t) + name->len,
                    r->connection->log);
    if (lk == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lk->request = r;
    lk->name_len = name->len;
    ngx_memcpy(lk->name, name->data, name->len);

#if (NGX_THREADS)
    lk->task.ctx = lk;
    lk->task.handler = ngx_http_apigw_admin_lookup_thread;
    lk->task.event.handler = ngx_http_apigw_admin_lookup_done;
    lk->task.event.data = lk;
    lk->task.event.log = r->connection->log;

    if (ngx_http_apigw_thread_post(&lk->task, r->connection->log) != NGX_OK) {
        ngx_free(lk);
        return ngx_http_apigw_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "Error: Too many requests queued.");
    }

    return ngx_http_apigw_admin_wait(r);

#else

    /* nginx built without threads: here */

    ngx_http_apigw_getaddrs(lk->name, lk->name_len, &lk->addrs);

    if (ngx_http_apigw_admin_looked_up(r, lk) != NGX_OK) {
        ngx_free(lk);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_free(lk);

    return ngx_http_apigw_admin_attempt(r);
#endif
}


static ngx_int_t
ngx_http_apigw_admin_looked_up(ngx_http_request_t *r,
    ngx_http_apigw_admin_lookup_t *lk)
{
    json_t                      *list;
    ngx_uint_t                   i;
    ngx_http_apigw_admin_ctx_t  *ctx;

    ctx = ngx_http_apigw_admin_ctx(r);

    if (ctx->known == NULL) {
        ctx->known = json_object();
        if (ctx->known == NULL) {
            return NGX_ERROR;
        }
    }

    if (lk->addrs.rc == NGX_BUSY) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "apigw: backend host \"%*s\" could not be looked up",
                      lk->name_len, lk->name);
        list = json_null();

    } else {
        list = json_array();
        if (list == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < lk->addrs.naddrs; i++) {
            if (json_array_append_new(list,
                    json_stringn((char *) lk->addrs.addr[i],
                                 lk->addrs.len[i]))
                != 0)
            {
                json_decref(list);
                return NGX_ERROR;
            }
        }
    }

    if (json_object_setn_new(ctx->known, (char *) lk->name, lk->name_len,
                             list)
        != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


#if (NGX_THREADS)

static void
ngx_http_apigw_admin_lookup_thread(void *data, ngx_log_t *log)
{
    ngx_http_apigw_admin_lookup_t *lk = data;

    ngx_http_apigw_getaddrs(lk->name, lk->name_len, &lk->addrs);
}


static void
ngx_http_apigw_admin_lookup_done(ngx_event_t *ev)
{
    ngx_http_apigw_admin_lookup_t *lk = ev->data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = lk->request;
    c = r->connection;

    if (ngx_http_apigw_admin_resume(r) != NGX_OK) {
        ngx_free(lk);
        return;
    }

    rc = ngx_http_apigw_admin_looked_up(r, lk);
    ngx_free(lk);

    if (rc == NGX_OK) {
        rc = ngx_http_apigw_admin_attempt(r);

    } else {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* NGX_DONE: waiting again; the earlier reference goes */
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}

#endif


static void
ngx_http_apigw_admin_resp_cleanup(void *data)
{
    ngx_http_apigw_admin_ctx_t *ctx = data;

    apigw_admin_resp_free(&ctx->resp);
    json_decref(ctx->known);
}


/* the core's answer, with the Allow of a 405 or an OPTIONS */
static ngx_int_t
ngx_http_apigw_admin_send_resp(ngx_http_request_t *r,
    apigw_admin_resp_t *resp)
{
    ngx_table_elt_t  *h;

    if (resp->allow) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        h->value.data = (u_char *) resp->allow;
        h->value.len = ngx_strlen(resp->allow);
    }

    return ngx_http_apigw_admin_send(r, resp->status, resp->content_type,
                                     (u_char *) resp->body, resp->body_len);
}


static ngx_int_t
ngx_http_apigw_admin_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, u_char *body, size_t len)
{
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_chain_t                  out;
    ngx_table_elt_t             *h;
    ngx_http_apigw_admin_ctx_t  *ctx;

    ctx = ngx_http_apigw_admin_ctx(r);
    ctx->own_response = 1;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Request-ID");
    h->value = ctx->request_id;

    r->headers_out.status = status;

    if (body == NULL) {
        r->header_only = 1;
        r->headers_out.content_length_n = 0;
        return ngx_http_send_header(r);
    }

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, body, len);
    *b->last++ = '\n';
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.content_length_n = b->last - b->pos;
    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_apigw_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *message)
{
    u_char                      *p;
    size_t                       len;
    ngx_http_apigw_admin_ctx_t  *ctx;

    ctx = ngx_http_apigw_admin_ctx(r);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    len = sizeof("{\"status\":,\"message\":\"\",\"request_id\":\"\"}") - 1
          + NGX_INT_T_LEN + ngx_strlen(message) + ctx->request_id.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_sprintf(p, "{\"status\":%ui,\"message\":\"%s\","
                      "\"request_id\":\"%V\"}", status, message,
                      &ctx->request_id)
          - p;

    return ngx_http_apigw_admin_send(r, status, "application/json", p, len);
}


static ngx_http_apigw_admin_ctx_t *
ngx_http_apigw_admin_ctx(ngx_http_request_t *r)
{
    ngx_http_apigw_admin_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_admin_module);

    if (ctx) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_apigw_admin_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request_id.data = ngx_pnalloc(r->pool, 33);
    if (ctx->request_id.data == NULL) {
        return NULL;
    }

    if (apigw_random_hex((char *) ctx->request_id.data, 16) != 0) {
        ngx_sprintf(ctx->request_id.data, "%016xL%016xL",
                    (uint64_t) ngx_random(), (uint64_t) r->connection->number);
    }

    ctx->request_id.len = 32;

    ngx_http_set_ctx(r, ctx, ngx_http_apigw_admin_module);

    return ctx;
}


/* ---- nginx's own errors in admin locations (413, 400, ...) as JSON ---- */

static ngx_int_t
ngx_http_apigw_admin_header_filter(ngx_http_request_t *r)
{
    u_char                           *p;
    size_t                            len;
    ngx_buf_t                        *b;
    const char                       *msg;
    ngx_table_elt_t                  *h;
    ngx_http_apigw_admin_ctx_t       *ctx;
    ngx_http_apigw_admin_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apigw_admin_module);

    if (r != r->main
        || (alcf->enable != 1 && !alcf->server_errors)
        || r->headers_out.status < NGX_HTTP_BAD_REQUEST)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_apigw_admin_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ctx->own_response) {
        return ngx_http_next_header_filter(r);
    }

    /* the client's errors said as on the data plane, the rest generic */
    msg = (r->headers_out.status < NGX_HTTP_INTERNAL_SERVER_ERROR)
          ? ngx_http_apigw_error_for(r->headers_out.status)->message
          : "Error: Request failed.";

    len = sizeof("{\"status\":,\"message\":\"\",\"request_id\":\"\"}\n") - 1
          + NGX_INT_T_LEN + ngx_strlen(msg) + ctx->request_id.len;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = b->last;
    b->last = ngx_sprintf(p, "{\"status\":%ui,\"message\":\"%s\","
                          "\"request_id\":\"%V\"}\n",
                          r->headers_out.status, msg, &ctx->request_id);
    b->last_buf = 1;
    b->last_in_chain = 1;
    ctx->error_body = b;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Request-ID");
    h->value = ctx->request_id;

    r->headers_out.content_length_n = b->last - b->pos;
    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_apigw_admin_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                  out;
    ngx_http_apigw_admin_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_admin_module);

    if (ctx == NULL || ctx->error_body == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    for ( /* void */ ; in; in = in->next) {
        in->buf->pos = in->buf->last;
        in->buf->file_pos = in->buf->file_last;
    }

    if (ctx->error_sent) {
        return NGX_OK;
    }

    ctx->error_sent = 1;

    out.buf = ctx->error_body;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/* ---- configuration ---- */

static ngx_int_t
ngx_http_apigw_admin_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_apigw_metrics_log;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_apigw_admin_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_apigw_admin_body_filter;

    return NGX_OK;
}


static void *
ngx_http_apigw_admin_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_apigw_admin_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_admin_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    amcf->poll = NGX_CONF_UNSET_MSEC;
    amcf->resolve = NGX_CONF_UNSET_MSEC;
    amcf->zone_size = NGX_CONF_UNSET_SIZE;

    return amcf;
}


static char *
ngx_http_apigw_admin_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_apigw_admin_main_conf_t *amcf = conf;

    ngx_conf_init_msec_value(amcf->poll, 100);
    ngx_conf_init_msec_value(amcf->resolve, 30000);

    if (amcf->public_url.len == 0) {
        ngx_str_set(&amcf->public_url, "http://127.0.0.1:8080");
    }

    while (amcf->public_url.len
           && amcf->public_url.data[amcf->public_url.len - 1] == '/')
    {
        amcf->public_url.len--;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_apigw_admin_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_apigw_admin_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_admin_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = NGX_CONF_UNSET;
    conf->tokens = NGX_CONF_UNSET_PTR;
    conf->max_body = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_http_apigw_admin_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_apigw_admin_loc_conf_t  *prev = parent;
    ngx_http_apigw_admin_loc_conf_t  *conf = child;

    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_apigw_admin_main_conf_t  *amcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_ptr_value(conf->tokens, prev->tokens, NULL);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body,
                              5 * 1024 * 1024);

    if (conf->enable != 1) {
        return NGX_CONF_OK;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_apigw_admin_module);
    if (amcf->store.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"apigw_admin\" needs \"apigw_store\" in http{}");
        return NGX_CONF_ERROR;
    }

    /* chunked bodies over the limit are cut by nginx (413, made JSON) */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->client_max_body_size = conf->max_body;

    /* bodies are read into memory (bounded by the limit), never a file */
    clcf->client_body_buffer_size = conf->max_body;
    clcf->client_body_in_file_only = 0;          /* "off" */

    if (conf->tokens == NULL) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "apigw: the management API in location \"%V\" "
                           "has no \"apigw_admin_token_file\": it refuses "
                           "every request but the health checks (\"off\" "
                           "opens it)", &clcf->name);

    } else if (conf->tokens->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "apigw: the management API in location \"%V\" "
                           "is open (\"apigw_admin_token_file off\"): "
                           "anyone who reaches it can change every API",
                           &clcf->name);
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_apigw_admin_init_process(ngx_cycle_t *cycle)
{
    ngx_time_update();      /* see ngx_http_apigw_init_process() */

    return ngx_http_apigw_store_init_process(cycle);
}


static void
ngx_http_apigw_admin_exit_process(ngx_cycle_t *cycle)
{
#if (NGX_THREADS)
    ngx_http_apigw_thread_exit(cycle);      /* before the journal goes */
#endif

    ngx_http_apigw_store_exit_process(cycle);
}


static char *
ngx_http_apigw_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apigw_admin_loc_conf_t *alcf = conf;

    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_core_srv_conf_t         *cscf;
    ngx_http_apigw_admin_loc_conf_t  *slcf;

    if (alcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    alcf->enable = 1;

    /* errors nginx answers before a location is matched: JSON too */
    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    slcf = cscf->ctx->loc_conf[ngx_http_apigw_admin_module.ctx_index];
    slcf->server_errors = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = ngx_http_apigw_admin_handler;

    return NGX_CONF_OK;
}


/* apigw_store file:PATH [zone_size=SIZE] */
static char *
ngx_http_apigw_admin_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apigw_admin_main_conf_t *amcf = conf;

    ssize_t     size;
    ngx_str_t  *value, name, s;

    if (amcf->store.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    amcf->store = value[1];

    size = 64 * 1024 * 1024;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "zone_size=", 10) != 0) {
            return "has an unknown parameter";
        }

        s.data = value[2].data + 10;
        s.len = value[2].len - 10;

        size = ngx_parse_size(&s);
        if (size == NGX_ERROR || size < 1024 * 1024) {
            return "has an invalid zone_size= (at least 1m)";
        }
    }

    amcf->zone_size = size;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "file:", 5) == 0) {
        amcf->path.data = value[1].data + 5;
        amcf->path.len = value[1].len - 5;

        if (ngx_conf_full_name(cf->cycle, &amcf->path, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if ((value[1].len > 8
                && ngx_strncmp(value[1].data, "redis://", 8) == 0)
               || (value[1].len > 5
                   && ngx_strncmp(value[1].data, "unix:", 5) == 0))
    {
        amcf->use_redis = 1;
        amcf->cycle = cf->cycle;

        if (ngx_http_apigw_metrics_zone(cf) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (cf->args->nelts == 3) {
            return "zone_size= is for file: stores";
        }

        return ngx_http_apigw_redis_parse(cf, &value[1], &amcf->redis);

    } else {
        return "must be \"file:PATH\" or \"redis://...\"";
    }

    amcf->journal.len = amcf->path.len + sizeof(".journal") - 1;
    amcf->journal.data = ngx_pnalloc(cf->pool, amcf->journal.len + 1);
    if (amcf->journal.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(amcf->journal.data, "%V.journal%Z", &amcf->path);

    ngx_str_set(&name, "apigw_store");

    if (ngx_http_apigw_metrics_zone(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    amcf->zone = ngx_shared_memory_add(cf, &name, size,
                                       &ngx_http_apigw_admin_module);
    if (amcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (amcf->zone->data) {
        return "is duplicate";
    }

    amcf->cycle = cf->cycle;
    amcf->zone->init = ngx_http_apigw_store_init_zone;
    amcf->zone->data = amcf;

    return NGX_CONF_OK;
}


/*
 * A small file of secrets read at configuration time (by the master, so it
 * may be readable by root only) into cf->temp_pool: NULL and *err, or the
 * text (its length in *len), which the caller wipes.
 */

static u_char *
ngx_http_apigw_admin_read_secret(ngx_conf_t *cf, ngx_str_t *name,
    size_t *len, char **err)
{
    u_char           *p;
    ssize_t           n;
    ngx_str_t         file;
    ngx_file_t        f;
    ngx_file_info_t   fi;

    file = *name;
    *err = NGX_CONF_ERROR;

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NULL;
    }

    ngx_memzero(&f, sizeof(ngx_file_t));
    f.name = file;
    f.log = cf->log;

    f.fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (f.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", file.data);
        return NULL;
    }

    if (ngx_fd_info(f.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 65536)
    {
        ngx_close_file(f.fd);
        *err = "file is unreadable or too large";
        return NULL;
    }

    if (fi.st_mode & S_IROTH) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%s\" is readable by any user "
                           "(chmod o-r it)", file.data);
    }

    p = ngx_pnalloc(cf->temp_pool, ngx_file_size(&fi) + 1);
    if (p == NULL) {
        ngx_close_file(f.fd);
        return NULL;
    }

    n = ngx_read_file(&f, p, ngx_file_size(&fi), 0);
    ngx_close_file(f.fd);

    if (n != ngx_file_size(&fi)) {
        ngx_explicit_memzero(p, ngx_file_size(&fi));
        *err = "file could not be read";
        return NULL;
    }

    *len = n;

    return p;
}


/* one token per line; kept as SHA-256 only */
static char *
ngx_http_apigw_admin_tokens(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apigw_admin_loc_conf_t *alcf = conf;

    u_char     *p, *last, *start, *end, *h;
    char       *err;
    size_t      n;
    ngx_str_t  *value;

    if (alcf->tokens != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        /* open: no token asked for */
        alcf->tokens = ngx_array_create(cf->pool, 1, 65);
        return alcf->tokens ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    p = ngx_http_apigw_admin_read_secret(cf, &value[1], &n, &err);
    if (p == NULL) {
        return err;
    }

    alcf->tokens = ngx_array_create(cf->pool, 2, 65);
    if (alcf->tokens == NULL) {
        return NGX_CONF_ERROR;
    }

    last = p + n;

    while (p < last) {
        start = p;

        while (p < last && *p != '\n') {
            p++;
        }

        end = p++;

        while (end > start && (end[-1] == '\r' || end[-1] == ' '
                               || end[-1] == '\t'))
        {
            end--;
        }

        while (start < end && (*start == ' ' || *start == '\t')) {
            start++;
        }

        if (start == end || *start == '#') {
            continue;
        }

        h = ngx_array_push(alcf->tokens);
        if (h == NULL) {
            return NGX_CONF_ERROR;
        }

        apigw_store_sha256_hex(NULL, 0, start, end - start, (char *) h);

        /* the clear text does not stay in memory longer than needed */
        ngx_explicit_memzero(start, end - start);
    }

    if (alcf->tokens->nelts == 0) {
        return "file has no token";
    }

    return NGX_CONF_OK;
}


/* apigw_store_encryption_key FILE: 32 bytes as 64 hex digits */
static char *
ngx_http_apigw_admin_seal_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_apigw_admin_main_conf_t *amcf = conf;

    u_char              *p;
    char                *err;
    size_t               n;
    ngx_str_t           *value;
    ngx_pool_cleanup_t  *cln;
    char                 reason[128];

    if (amcf->seal) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = ngx_http_apigw_admin_read_secret(cf, &value[1], &n, &err);
    if (p == NULL) {
        return err;
    }

    cln = ngx_pool_cleanup_add(cf->pool, sizeof(apigw_seal_key_t));
    if (cln == NULL) {
        ngx_explicit_memzero(p, n);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_apigw_admin_seal_cleanup;

    if (apigw_seal_key((char *) p, n, cln->data, reason, sizeof(reason))
        != 0)
    {
        ngx_explicit_memzero(p, n);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" %s", &value[1],
                           reason);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(p, n);
    amcf->seal = cln->data;

    return NGX_CONF_OK;
}


static void
ngx_http_apigw_admin_seal_cleanup(void *data)
{
    ngx_explicit_memzero(data, sizeof(apigw_seal_key_t));
}
