/*
 * apigw's own outbound HTTP/1.1 client (JWKS, OIDC discovery, token
 * introspection): one request per connection, on nginx's event loop, TLS
 * verified, responses parsed with llhttp.
 */

#ifndef _NGX_HTTP_APIGW_HTTP_H_INCLUDED_
#define _NGX_HTTP_APIGW_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>


typedef struct ngx_http_apigw_http_s  ngx_http_apigw_http_t;

typedef void (*ngx_http_apigw_http_handler_pt)(ngx_http_apigw_http_t *h);


/* a URL resolved at configuration time */
typedef struct {
    ngx_str_t                   url;
    ngx_addr_t                 *addr;
    ngx_str_t                   host;        /* Host header, host[:port] */
    ngx_str_t                   sni;         /* host name, for TLS */
    ngx_str_t                   uri;         /* path and query */
    ngx_uint_t                  tls;
} ngx_http_apigw_url_t;


struct ngx_http_apigw_http_s {
    /* set by the caller */
    ngx_http_apigw_url_t       *url;
    ngx_str_t                   method;      /* default GET */
    ngx_str_t                   content_type;
    ngx_str_t                   body;
    ngx_str_t                   authorization;
    ngx_ssl_t                  *ssl;         /* for https URLs */
    ngx_msec_t                  timeout;
    size_t                      max_body;
    ngx_http_apigw_http_handler_pt  handler;
    void                       *data;

    /* the result: status 0 when the exchange failed */
    ngx_uint_t                  status;
    u_char                     *rbody;
    size_t                      rlen;

    /* private */
    ngx_pool_t                 *pool;
    ngx_log_t                  *log;
    ngx_peer_connection_t       pc;
    ngx_buf_t                  *out;
    void                       *parser;
    size_t                      rcap;
    unsigned                    complete:1;
    unsigned                    finished:1;
};


/*
 * Parse and resolve an http(s) URL at configuration time (host names are
 * resolved now, the way proxy_pass does).  NGX_CONF_OK or an error text.
 */
char *ngx_http_apigw_url_parse(ngx_conf_t *cf, ngx_str_t *url,
    ngx_http_apigw_url_t *u);

/* an http(s) URL with a numeric host, at run time; NGX_ERROR if not */
ngx_int_t ngx_http_apigw_url_parse_runtime(ngx_pool_t *pool, ngx_str_t *url,
    ngx_http_apigw_url_t *u);

ngx_http_apigw_http_t *ngx_http_apigw_http_create(ngx_log_t *log);
/* start; the handler is called exactly once (maybe from inside start) */
void ngx_http_apigw_http_start(ngx_http_apigw_http_t *h);
/* free everything (call from the handler or after it ran) */
void ngx_http_apigw_http_free(ngx_http_apigw_http_t *h);

/* the TLS context for outbound calls, created on first use */
ngx_ssl_t *ngx_http_apigw_http_ssl(ngx_conf_t *cf);


#endif /* _NGX_HTTP_APIGW_HTTP_H_INCLUDED_ */
