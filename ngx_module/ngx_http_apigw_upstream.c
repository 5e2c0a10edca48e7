/*
 * apigw backend wiring.
 *
 * Backends are requested through nginx's own proxy module: `apigw;` sets up
 * `proxy_pass https://apigw_backend` in its location, the upstream{} block
 * that apigw creates once per http{}.
 * That upstream's balancer takes the peer from the matched operation (its
 * addresses were resolved at configuration time) and is wrapped by the
 * stock keepalive module, whose cache is keyed by peer address, so every
 * backend gets connection reuse without an upstream{} of its own.
 */

#include "ngx_http_apigw_module.h"


typedef struct {
    ngx_http_apigw_ctx_t  *ctx;
    ngx_uint_t             tried;
} ngx_http_apigw_peer_data_t;


/* around the keepalive module's peer functions */
typedef struct {
    ngx_http_request_t              *request;
    void                            *data;
    ngx_event_get_peer_pt            get;
    ngx_event_free_peer_pt           free;
#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt    set_session;
    ngx_event_save_peer_session_pt   save_session;
#endif
} ngx_http_apigw_cache_peer_data_t;


static ngx_int_t ngx_http_apigw_upstream_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_apigw_upstream_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_apigw_upstream_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_apigw_upstream_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_apigw_upstream_set_session(
    ngx_peer_connection_t *pc, void *data);
static void ngx_http_apigw_upstream_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif

static ngx_int_t ngx_http_apigw_cache_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_apigw_cache_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_apigw_cache_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static ngx_uint_t ngx_http_apigw_cache_usable(ngx_http_request_t *r,
    ngx_connection_t *c);
static void ngx_http_apigw_cache_close(ngx_connection_t *c);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_apigw_cache_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_apigw_cache_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif


/*
 * Parse directives from a string in the current configuration context, the
 * way `nginx -g` parameters are parsed, so that apigw configures the proxy
 * module with the proxy module's own directive handlers.
 */

char *
ngx_http_apigw_conf_inject(ngx_conf_t *cf, ngx_str_t *text)
{
    char             *rv;
    ngx_buf_t         b;
    ngx_array_t      *args;
    ngx_conf_file_t   conf_file, *prev;

    ngx_memzero(&b, sizeof(ngx_buf_t));

    b.start = text->data;
    b.pos = text->data;
    b.last = text->data + text->len;
    b.end = b.last;
    b.temporary = 1;

    ngx_memzero(&conf_file, sizeof(ngx_conf_file_t));

    conf_file.file.fd = NGX_INVALID_FILE;
    conf_file.buffer = &b;

    prev = cf->conf_file;
    args = cf->args;

    if (prev) {
        /* errors then name the line of the apigw directive */
        conf_file.file.name = prev->file.name;
        conf_file.line = prev->line;
    }

    cf->args = ngx_array_create(cf->temp_pool, 8, sizeof(ngx_str_t));
    if (cf->args == NULL) {
        cf->args = args;
        return NGX_CONF_ERROR;
    }

    cf->conf_file = &conf_file;

    rv = ngx_conf_parse(cf, NULL);

    cf->conf_file = prev;
    cf->args = args;

    return rv;
}


/*
 * Create `upstream apigw_backend { apigw_balancer; keepalive N; }` with
 * the upstream module's own block handler, as if it had been written in
 * the http{} block.
 */

char *
ngx_http_apigw_create_upstream(ngx_conf_t *cf,
    ngx_http_apigw_main_conf_t *amcf)
{
    char                 *rv;
    u_char               *p;
    ngx_str_t            *value, text;
    ngx_conf_t            save;
    ngx_command_t        *cmd;
    ngx_http_conf_ctx_t   hctx, *lctx;

    if (amcf->upstream_created) {
        return NGX_CONF_OK;
    }

    for (cmd = ngx_http_upstream_module.commands; cmd->name.len; cmd++) {
        if (ngx_strcmp(cmd->name.data, "upstream") == 0) {
            break;
        }
    }

    if (cmd->name.len == 0) {
        return "cannot find the \"upstream\" directive";
    }

    p = ngx_pnalloc(cf->pool, 64);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    text.data = p;
    text.len = ngx_sprintf(p, "apigw_balancer; keepalive %ui;",
                           amcf->keepalive)
               - p;

    save = *cf;

    lctx = cf->ctx;
    hctx.main_conf = lctx->main_conf;
    hctx.srv_conf = lctx->srv_conf;
    hctx.loc_conf = lctx->loc_conf;

    cf->ctx = &hctx;
    cf->cmd_type = NGX_HTTP_MAIN_CONF;

    cf->args = ngx_array_create(cf->temp_pool, 2, sizeof(ngx_str_t));
    if (cf->args == NULL) {
        *cf = save;
        return NGX_CONF_ERROR;
    }

    value = ngx_array_push_n(cf->args, 2);
    if (value == NULL) {
        *cf = save;
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&value[0], "upstream");
    ngx_str_set(&value[1], NGX_HTTP_APIGW_UPSTREAM);

    /* the block handler parses its body from the current conf_file */
    {
        ngx_buf_t         b;
        ngx_conf_file_t   conf_file;

        ngx_memzero(&b, sizeof(ngx_buf_t));
        b.start = text.data;
        b.pos = text.data;
        b.last = text.data + text.len;
        b.end = b.last;
        b.temporary = 1;

        ngx_memzero(&conf_file, sizeof(ngx_conf_file_t));
        conf_file.file.fd = NGX_INVALID_FILE;
        conf_file.buffer = &b;

        if (save.conf_file) {
            conf_file.file.name = save.conf_file->file.name;
            conf_file.line = save.conf_file->line;
        }

        cf->conf_file = &conf_file;

        rv = cmd->set(cf, cmd, NULL);
    }

    *cf = save;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    amcf->upstream_created = 1;

    return NGX_CONF_OK;
}


/* `apigw_balancer` inside apigw's upstream{} */

char *
ngx_http_apigw_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_upstream_server_t    *us;
    ngx_http_upstream_srv_conf_t  *uscf;

    ngx_http_apigw_main_conf_t    *amcf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apigw_module);
    amcf->upstream = uscf;

    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "load balancing method redefined");
    }

    uscf->peer.init_upstream = ngx_http_apigw_upstream_init;

    /*
     * upstream{} insists on a server; this placeholder is never used, the
     * balancer takes its peers from the matched operation
     */

    us = ngx_array_push(uscf->servers);
    if (us == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(us, sizeof(ngx_http_upstream_server_t));

    us->weight = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_apigw_upstream_init(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us)
{
    us->peer.init = ngx_http_apigw_upstream_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_upstream_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    const apigw_backend_t       *b;
    ngx_http_apigw_ctx_t        *ctx;
    ngx_http_upstream_conf_t    *ucf;
    ngx_http_apigw_peer_data_t  *pd;

    ctx = ngx_http_apigw_get_ctx(r);

    if (ctx == NULL || ctx->opx == NULL || ctx->opx->naddrs == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "apigw: \"" NGX_HTTP_APIGW_UPSTREAM "\" used outside "
                      "of an apigw location");
        return NGX_ERROR;
    }

    pd = ngx_palloc(r->pool, sizeof(ngx_http_apigw_peer_data_t));
    if (pd == NULL) {
        return NGX_ERROR;
    }

    pd->ctx = ctx;
    pd->tried = 0;

    /* the request is made (create_request runs first): nothing logged yet */
    if (ngx_http_apigw_redact_upstream(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * the operation's own timeouts (x-apigw-timeout): the location's
     * upstream settings, copied for this request; nothing has read the
     * timeouts before the connection is made
     */
    b = ctx->op ? &ctx->op->backend : NULL;

    if (b && (b->timeout_ms || b->connect_timeout_ms)) {
        ucf = ngx_palloc(r->pool, sizeof(ngx_http_upstream_conf_t));
        if (ucf == NULL) {
            return NGX_ERROR;
        }

        *ucf = *r->upstream->conf;

        if (b->timeout_ms) {
            ucf->send_timeout = (ngx_msec_t) b->timeout_ms;
            ucf->read_timeout = (ngx_msec_t) b->timeout_ms;
        }

        if (b->connect_timeout_ms) {
            ucf->connect_timeout = (ngx_msec_t) b->connect_timeout_ms;
        }

        r->upstream->conf = ucf;
    }

#if (NGX_HTTP_SSL)
    /*
     * The location's URL is "https://apigw_backend" so that the proxy
     * module made an SSL context; whether this backend speaks TLS is the
     * operation's.  Nothing before the connection reads the flag.
     */
    r->upstream->ssl = ctx->opx->https && r->upstream->conf->ssl != NULL;
#endif

    /* error log lines name the backend's scheme, not the location's */
    if (!ctx->opx->https) {
        ngx_str_set(&r->upstream->schema, "http://");
    }

    r->upstream->peer.data = pd;
    r->upstream->peer.get = ngx_http_apigw_upstream_get_peer;
    r->upstream->peer.free = ngx_http_apigw_upstream_free_peer;
    r->upstream->peer.tries = ctx->opx->naddrs;
#if (NGX_HTTP_SSL)
    r->upstream->peer.set_session = ngx_http_apigw_upstream_set_session;
    r->upstream->peer.save_session = ngx_http_apigw_upstream_save_session;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_upstream_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_apigw_peer_data_t  *pd = data;

    ngx_addr_t            *addr;
    ngx_http_apigw_op_t   *opx;

    opx = pd->ctx->opx;

    /* rotate through the addresses per worker, then fail over in order */
    if (pd->tried == 0) {
        pd->ctx->peer = (ngx_uint_t) ngx_random() % opx->naddrs;
    }

    addr = &opx->addrs[(pd->ctx->peer + pd->tried) % opx->naddrs];

    pc->sockaddr = addr->sockaddr;
    pc->socklen = addr->socklen;
    pc->name = &addr->name;
    pc->cached = 0;
    pc->connection = NULL;

    return NGX_OK;
}


static void
ngx_http_apigw_upstream_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_apigw_peer_data_t  *pd = data;

    pd->tried++;

    if (pc->tries) {
        pc->tries--;
    }
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_apigw_upstream_set_session(ngx_peer_connection_t *pc, void *data)
{
    return NGX_OK;
}


static void
ngx_http_apigw_upstream_save_session(ngx_peer_connection_t *pc, void *data)
{
    return;
}

#endif


/*
 * The keepalive module's cache is keyed by peer address alone, and apigw
 * has one upstream{} for every backend of every location.  A connection
 * made for one location could then be reused by another: an https
 * connection made without certificate verification (or verified against
 * another location's CA certificates, or with another server name) would
 * serve a location that requires verification.  So the keepalive module's
 * peer functions are wrapped once more, and a cached connection is used
 * only if this request could have made it; else it is closed and a new
 * connection is made to the same peer.
 */

void
ngx_http_apigw_upstream_wrap(ngx_http_apigw_main_conf_t *amcf)
{
    if (amcf->upstream == NULL || amcf->keepalive_init_peer) {
        return;
    }

    amcf->keepalive_init_peer = amcf->upstream->peer.init;
    amcf->upstream->peer.init = ngx_http_apigw_cache_init_peer;
}


static ngx_int_t
ngx_http_apigw_cache_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_peer_connection_t             *peer;
    ngx_http_apigw_main_conf_t        *amcf;
    ngx_http_apigw_cache_peer_data_t  *cp;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apigw_module);

    if (amcf->keepalive_init_peer(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    cp = ngx_palloc(r->pool, sizeof(ngx_http_apigw_cache_peer_data_t));
    if (cp == NULL) {
        return NGX_ERROR;
    }

    peer = &r->upstream->peer;

    cp->request = r;
    cp->data = peer->data;
    cp->get = peer->get;
    cp->free = peer->free;

    peer->data = cp;
    peer->get = ngx_http_apigw_cache_get_peer;
    peer->free = ngx_http_apigw_cache_free_peer;

#if (NGX_HTTP_SSL)
    cp->set_session = peer->set_session;
    cp->save_session = peer->save_session;

    peer->set_session = ngx_http_apigw_cache_set_session;
    peer->save_session = ngx_http_apigw_cache_save_session;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_cache_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_apigw_cache_peer_data_t  *cp = data;

    ngx_int_t          rc;
    ngx_connection_t  *c;

    rc = cp->get(pc, cp->data);

    if (rc != NGX_DONE) {
        return rc;
    }

    /* a cached connection */

    c = pc->connection;

    if (ngx_http_apigw_cache_usable(cp->request, c)) {
        return NGX_DONE;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "apigw: cached connection %p not reused", c);

    ngx_http_apigw_cache_close(c);

    pc->connection = NULL;
    pc->cached = 0;

    return NGX_OK;
}


static void
ngx_http_apigw_cache_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_apigw_cache_peer_data_t  *cp = data;

    cp->free(pc, cp->data, state);
}


/*
 * Plain connections for plain backends.  An https connection must have
 * been made with this location's SSL context (its CA certificates) for
 * this backend's server name, and when this location verifies backends,
 * its certificate must have verified and must match that name.
 */

static ngx_uint_t
ngx_http_apigw_cache_usable(ngx_http_request_t *r, ngx_connection_t *c)
{
#if (NGX_HTTP_SSL)
    SSL                   *ssl;
    ngx_str_t             *sni;
    const char            *name;
    ngx_http_upstream_t   *u;
    ngx_http_apigw_ctx_t  *ctx;

    u = r->upstream;

    if (!u->ssl) {
        return c->ssl == NULL;
    }

    ctx = ngx_http_apigw_get_ctx(r);

    if (c->ssl == NULL || u->conf->ssl == NULL || ctx == NULL
        || ctx->opx == NULL)
    {
        return 0;
    }

    ssl = c->ssl->connection;

    if (SSL_get_SSL_CTX(ssl) != u->conf->ssl->ctx) {
        return 0;
    }

    /* nginx sends no SNI for an address */

    sni = &ctx->opx->sni;
    name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

    if (name == NULL) {
        if (ngx_inet_addr(sni->data, sni->len) == INADDR_NONE
            && !(sni->len && sni->data[0] == '['))
        {
            return 0;
        }

    } else if (ngx_strlen(name) != sni->len
               || ngx_strncasecmp((u_char *) name, sni->data, sni->len) != 0)
    {
        return 0;
    }

    if (u->conf->ssl_verify) {
        if (SSL_get_verify_result(ssl) != X509_V_OK) {
            return 0;
        }

        if (ngx_ssl_check_host(c, sni) != NGX_OK) {
            return 0;
        }
    }

    return 1;

#else

    return 1;

#endif
}


static void
ngx_http_apigw_cache_close(ngx_connection_t *c)
{
#if (NGX_HTTP_SSL)

    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;

        if (ngx_ssl_shutdown(c) == NGX_AGAIN) {
            c->ssl->handler = ngx_http_apigw_cache_close;
            return;
        }
    }

#endif

    if (c->pool) {
        ngx_destroy_pool(c->pool);
    }

    ngx_close_connection(c);
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_apigw_cache_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_apigw_cache_peer_data_t  *cp = data;

    return cp->set_session(pc, cp->data);
}


static void
ngx_http_apigw_cache_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_apigw_cache_peer_data_t  *cp = data;

    cp->save_session(pc, cp->data);
}

#endif
