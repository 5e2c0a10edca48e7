/*
 * apigw's outbound HTTP/1.1 client: one request per connection
 * ("Connection: close"), connect / TLS handshake (certificate and host
 * name verified) / send / receive on nginx's event loop, the response
 * parsed by llhttp, a timeout on every step, a cap on the body.
 */

#include "ngx_http_apigw_module.h"
#include "ngx_http_apigw_http.h"

#include <llhttp.h>


#define NGX_HTTP_APIGW_HTTP_CA  "/etc/ssl/certs/ca-certificates.crt"


static void ngx_http_apigw_http_finish(ngx_http_apigw_http_t *h,
    ngx_uint_t ok);
static void ngx_http_apigw_http_write(ngx_event_t *wev);
static void ngx_http_apigw_http_read(ngx_event_t *rev);
#if (NGX_HTTP_SSL)
static void ngx_http_apigw_http_handshake(ngx_connection_t *c);
#endif
static void ngx_http_apigw_http_send(ngx_http_apigw_http_t *h);
static int ngx_http_apigw_http_on_headers(llhttp_t *p);
static int ngx_http_apigw_http_on_body(llhttp_t *p, const char *at,
    size_t len);
static int ngx_http_apigw_http_on_complete(llhttp_t *p);


static llhttp_settings_t  ngx_http_apigw_http_settings;
static ngx_uint_t         ngx_http_apigw_http_settings_done;



/* ---- URLs ---- */

static ngx_int_t
ngx_http_apigw_url_split(ngx_pool_t *pool, ngx_str_t *url,
    ngx_http_apigw_url_t *u, ngx_url_t *nu)
{
    u_char  *p, *last, *host_end, *path;

    ngx_memzero(u, sizeof(ngx_http_apigw_url_t));
    ngx_memzero(nu, sizeof(ngx_url_t));

    u->url = *url;
    p = url->data;
    last = p + url->len;

    if (url->len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        u->tls = 1;
        p += 8;
        nu->default_port = 443;

    } else if (url->len > 7
               && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
    {
        p += 7;
        nu->default_port = 80;

    } else {
        return NGX_ERROR;
    }

    path = ngx_strlchr(p, last, '/');
    host_end = path ? path : last;

    if (host_end == p || ngx_strlchr(p, host_end, '@')
        || ngx_strlchr(p, host_end, '?') || ngx_strlchr(p, host_end, '#'))
    {
        return NGX_ERROR;
    }

    u->host.data = p;
    u->host.len = host_end - p;

    if (path) {
        u->uri.data = path;
        u->uri.len = last - path;

        if (ngx_strlchr(path, last, '#')) {
            u->uri.len = ngx_strlchr(path, last, '#') - path;
        }

    } else {
        ngx_str_set(&u->uri, "/");
    }

    nu->url = u->host;

    return NGX_OK;
}


char *
ngx_http_apigw_url_parse(ngx_conf_t *cf, ngx_str_t *url,
    ngx_http_apigw_url_t *u)
{
    ngx_url_t  nu;

    if (ngx_http_apigw_url_split(cf->pool, url, u, &nu) != NGX_OK) {
        return "is not an http(s) URL";
    }

    if (ngx_parse_url(cf->pool, &nu) != NGX_OK || nu.naddrs == 0) {
        return nu.err ? nu.err : "host not found";
    }

    u->addr = &nu.addrs[0];
    u->sni = nu.host;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_apigw_url_parse_runtime(ngx_pool_t *pool, ngx_str_t *url,
    ngx_http_apigw_url_t *u)
{
    ngx_url_t  nu;

    if (ngx_http_apigw_url_split(pool, url, u, &nu) != NGX_OK) {
        return NGX_ERROR;
    }

    /* no blocking resolution in a worker: numeric hosts only */
    nu.no_resolve = 1;

    if (ngx_parse_url(pool, &nu) != NGX_OK || nu.naddrs == 0) {
        return NGX_ERROR;
    }

    u->addr = &nu.addrs[0];
    u->sni = nu.host;

    return NGX_OK;
}


#if (NGX_HTTP_SSL)

ngx_ssl_t *
ngx_http_apigw_http_ssl(ngx_conf_t *cf)
{
    ngx_str_t                    ca;
    ngx_ssl_t                   *ssl;
    ngx_pool_cleanup_t          *cln;
    ngx_http_apigw_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apigw_module);

    if (amcf->http_ssl) {
        return amcf->http_ssl;
    }

    ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (ssl == NULL) {
        return NULL;
    }

    ssl->log = cf->log;

    if (ngx_ssl_create(ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL) != NGX_OK) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(ssl);
        return NULL;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = ssl;

    if (amcf->http_trusted.len) {
        ca = amcf->http_trusted;

    } else {
        ngx_str_set(&ca, NGX_HTTP_APIGW_HTTP_CA);
    }

    if (ngx_ssl_trusted_certificate(cf, ssl, &ca, 9) != NGX_OK) {
        return NULL;
    }

    amcf->http_ssl = ssl;

    return ssl;
}

#else

ngx_ssl_t *
ngx_http_apigw_http_ssl(ngx_conf_t *cf)
{
    return NULL;
}

#endif


/* ---- requests ---- */

ngx_http_apigw_http_t *
ngx_http_apigw_http_create(ngx_log_t *log)
{
    ngx_pool_t             *pool;
    ngx_http_apigw_http_t  *h;

    pool = ngx_create_pool(4096, log);
    if (pool == NULL) {
        return NULL;
    }

    h = ngx_pcalloc(pool, sizeof(ngx_http_apigw_http_t));
    if (h == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    h->pool = pool;
    h->log = log;
    h->timeout = 5000;
    h->max_body = 256 * 1024;

    return h;
}


void
ngx_http_apigw_http_free(ngx_http_apigw_http_t *h)
{
    if (h->pc.connection) {
        ngx_close_connection(h->pc.connection);
        h->pc.connection = NULL;
    }

    ngx_destroy_pool(h->pool);
}


void
ngx_http_apigw_http_start(ngx_http_apigw_http_t *h)
{
    size_t             len;
    ngx_int_t          rc;
    llhttp_t          *p;
    ngx_buf_t         *b;
    ngx_connection_t  *c;

    if (!ngx_http_apigw_http_settings_done) {
        llhttp_settings_init(&ngx_http_apigw_http_settings);
        ngx_http_apigw_http_settings.on_headers_complete =
            ngx_http_apigw_http_on_headers;
        ngx_http_apigw_http_settings.on_body = ngx_http_apigw_http_on_body;
        ngx_http_apigw_http_settings.on_message_complete =
            ngx_http_apigw_http_on_complete;
        ngx_http_apigw_http_settings_done = 1;
    }

    if (h->method.len == 0) {
        ngx_str_set(&h->method, "GET");
    }

    p = ngx_pcalloc(h->pool, sizeof(llhttp_t));
    if (p == NULL) {
        ngx_http_apigw_http_finish(h, 0);
        return;
    }

    llhttp_init(p, HTTP_RESPONSE, &ngx_http_apigw_http_settings);
    p->data = h;
    h->parser = p;

    /* the request, in one buffer */

    len = h->method.len + 1 + h->url->uri.len + sizeof(" HTTP/1.1\r\n") - 1
          + sizeof("Host: \r\n") - 1 + h->url->host.len
          + sizeof("Connection: close\r\n") - 1
          + sizeof("Accept: application/json\r\n") - 1
          + sizeof("User-Agent: apigw\r\n") - 1
          + sizeof("\r\n") - 1;

    if (h->authorization.len) {
        len += sizeof("Authorization: \r\n") - 1 + h->authorization.len;
    }

    if (h->body.len || h->method.len != 3) {
        len += sizeof("Content-Type: \r\n") - 1 + h->content_type.len
               + sizeof("Content-Length: \r\n") - 1 + NGX_SIZE_T_LEN
               + h->body.len;
    }

    b = ngx_create_temp_buf(h->pool, len);
    if (b == NULL) {
        ngx_http_apigw_http_finish(h, 0);
        return;
    }

    b->last = ngx_sprintf(b->last, "%V %V HTTP/1.1\r\nHost: %V\r\n"
                          "Connection: close\r\n"
                          "Accept: application/json\r\n"
                          "User-Agent: apigw\r\n",
                          &h->method, &h->url->uri, &h->url->host);

    if (h->authorization.len) {
        b->last = ngx_sprintf(b->last, "Authorization: %V\r\n",
                              &h->authorization);
    }

    if (h->body.len || h->method.len != 3) {
        b->last = ngx_sprintf(b->last, "Content-Type: %V\r\n"
                              "Content-Length: %uz\r\n\r\n%V",
                              &h->content_type, h->body.len, &h->body);
    } else {
        b->last = ngx_cpymem(b->last, "\r\n", 2);
    }

    h->out = b;

    /* connect */

    h->pc.sockaddr = h->url->addr->sockaddr;
    h->pc.socklen = h->url->addr->socklen;
    h->pc.name = &h->url->addr->name;
    h->pc.get = ngx_event_get_peer;
    h->pc.log = h->log;
    h->pc.log_error = NGX_ERROR_ERR;
    h->pc.tries = 1;

    rc = ngx_event_connect_peer(&h->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, h->log, 0,
                      "apigw: cannot connect to \"%V\"", &h->url->url);
        ngx_http_apigw_http_finish(h, 0);
        return;
    }

    c = h->pc.connection;
    c->data = h;
    c->pool = h->pool;
    c->read->handler = ngx_http_apigw_http_read;
    c->write->handler = ngx_http_apigw_http_write;

    ngx_add_timer(c->write, h->timeout);
    ngx_add_timer(c->read, h->timeout);

    if (rc == NGX_OK) {
        ngx_http_apigw_http_write(c->write);
    }
}


static void
ngx_http_apigw_http_finish(ngx_http_apigw_http_t *h, ngx_uint_t ok)
{
    ngx_connection_t  *c;

    if (h->finished) {
        return;
    }

    h->finished = 1;

    if (!ok) {
        h->status = 0;
    }

    c = h->pc.connection;

    if (c) {
#if (NGX_HTTP_SSL)
        if (c->ssl) {
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }
#endif
        ngx_close_connection(c);
        h->pc.connection = NULL;
    }

    h->handler(h);
}


static void
ngx_http_apigw_http_write(ngx_event_t *wev)
{
    u_char                 *sni;
    ngx_connection_t       *c;
    ngx_http_apigw_http_t  *h;

    c = wev->data;
    h = c->data;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_ERR, h->log, NGX_ETIMEDOUT,
                      "apigw: \"%V\" timed out", &h->url->url);
        ngx_http_apigw_http_finish(h, 0);
        return;
    }

#if (NGX_HTTP_SSL)
    if (h->url->tls && c->ssl == NULL) {
        if (h->ssl == NULL
            || ngx_ssl_create_connection(h->ssl, c,
                                         NGX_SSL_BUFFER|NGX_SSL_CLIENT)
               != NGX_OK)
        {
            ngx_http_apigw_http_finish(h, 0);
            return;
        }

        /* SNI needs a NUL-terminated name */
        sni = ngx_pnalloc(h->pool, h->url->sni.len + 1);
        if (sni == NULL) {
            ngx_http_apigw_http_finish(h, 0);
            return;
        }

        (void) ngx_cpystrn(sni, h->url->sni.data, h->url->sni.len + 1);

        if (SSL_set_tlsext_host_name(c->ssl->connection, (char *) sni) == 0)
        {
            ngx_http_apigw_http_finish(h, 0);
            return;
        }

        c->log->action = "TLS handshake with an identity provider";

        if (ngx_ssl_handshake(c) == NGX_AGAIN) {
            c->ssl->handler = ngx_http_apigw_http_handshake;
            return;
        }

        ngx_http_apigw_http_handshake(c);
        return;
    }
#else
    if (h->url->tls) {
        ngx_http_apigw_http_finish(h, 0);
        return;
    }
#endif

    ngx_http_apigw_http_send(h);
}


#if (NGX_HTTP_SSL)

static void
ngx_http_apigw_http_handshake(ngx_connection_t *c)
{
    long                    rc;
    ngx_http_apigw_http_t  *h;

    h = c->data;

    if (!c->ssl->handshaked) {
        ngx_http_apigw_http_finish(h, 0);
        return;
    }

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK) {
        ngx_log_error(NGX_LOG_ERR, h->log, 0,
                      "apigw: \"%V\": certificate verify error: (%l:%s)",
                      &h->url->url, rc, X509_verify_cert_error_string(rc));
        ngx_http_apigw_http_finish(h, 0);
        return;
    }

    if (ngx_ssl_check_host(c, &h->url->sni) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, h->log, 0,
                      "apigw: \"%V\": certificate does not match \"%V\"",
                      &h->url->url, &h->url->sni);
        ngx_http_apigw_http_finish(h, 0);
        return;
    }

    c->read->handler = ngx_http_apigw_http_read;
    c->write->handler = ngx_http_apigw_http_write;

    ngx_http_apigw_http_send(h);
}

#endif


static void
ngx_http_apigw_http_send(ngx_http_apigw_http_t *h)
{
    ssize_t            n;
    ngx_buf_t         *b;
    ngx_connection_t  *c;

    c = h->pc.connection;
    b = h->out;

    while (b->pos < b->last) {
        n = c->send(c, b->pos, b->last - b->pos);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_apigw_http_finish(h, 0);
            }
            return;
        }

        if (n <= 0) {
            ngx_http_apigw_http_finish(h, 0);
            return;
        }

        b->pos += n;
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->write->handler = ngx_http_apigw_http_write;

    if (c->read->ready) {
        ngx_http_apigw_http_read(c->read);
    }
}


static void
ngx_http_apigw_http_read(ngx_event_t *rev)
{
    u_char                  buf[8192];
    ssize_t                 n;
    llhttp_errno_t          err;
    ngx_connection_t       *c;
    ngx_http_apigw_http_t  *h;

    c = rev->data;
    h = c->data;

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_ERR, h->log, NGX_ETIMEDOUT,
                      "apigw: \"%V\" timed out", &h->url->url);
        ngx_http_apigw_http_finish(h, 0);
        return;
    }

    if (h->out && h->out->pos < h->out->last) {
        /* still sending (or connecting) */
        if (ngx_handle_read_event(rev, 0) != NGX_OK) {
            ngx_http_apigw_http_finish(h, 0);
        }
        return;
    }

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_http_apigw_http_finish(h, 0);
            }
            return;
        }

        if (n == NGX_ERROR) {
            ngx_http_apigw_http_finish(h, 0);
            return;
        }

        if (n == 0) {
            /*
             * A body delimited by the end of the connection is complete
             * now: on_message_complete has paused the parser
             */
            err = llhttp_finish(h->parser);
            ngx_http_apigw_http_finish(h, (err == HPE_OK || err == HPE_PAUSED)
                                          && h->complete);
            return;
        }

        err = llhttp_execute(h->parser, (char *) buf, n);

        if (h->complete) {
            ngx_http_apigw_http_finish(h, 1);
            return;
        }

        if (err != HPE_OK) {
            ngx_log_error(NGX_LOG_ERR, h->log, 0,
                          "apigw: \"%V\": bad response: %s", &h->url->url,
                          llhttp_errno_name(err));
            ngx_http_apigw_http_finish(h, 0);
            return;
        }
    }
}


static int
ngx_http_apigw_http_on_headers(llhttp_t *p)
{
    ngx_http_apigw_http_t  *h = p->data;

    h->status = p->status_code;

    return 0;
}


static int
ngx_http_apigw_http_on_body(llhttp_t *p, const char *at, size_t len)
{
    u_char                 *nb;
    size_t                  cap;
    ngx_http_apigw_http_t  *h = p->data;

    if (h->rlen + len > h->max_body) {
        return -1;
    }

    if (h->rlen + len > h->rcap) {
        cap = ngx_max(h->rcap * 2, h->rlen + len);
        cap = ngx_min(cap, h->max_body);

        nb = ngx_pnalloc(h->pool, cap);
        if (nb == NULL) {
            return -1;
        }

        if (h->rlen) {
            ngx_memcpy(nb, h->rbody, h->rlen);
        }

        h->rbody = nb;
        h->rcap = cap;
    }

    ngx_memcpy(h->rbody + h->rlen, at, len);
    h->rlen += len;

    return 0;
}


static int
ngx_http_apigw_http_on_complete(llhttp_t *p)
{
    ngx_http_apigw_http_t  *h = p->data;

    h->complete = 1;

    return HPE_PAUSED;
}
