/*
 * JWKS and OIDC discovery sources fetched in the background and shared by
 * the workers through the "apigw_jwks" zone (ngx_http_apigw_jwks.c).
 */

#ifndef _NGX_HTTP_APIGW_JWKS_H_INCLUDED_
#define _NGX_HTTP_APIGW_JWKS_H_INCLUDED_


#include "auth.h"


typedef struct ngx_http_apigw_jwks_src_s  ngx_http_apigw_jwks_src_t;


/* at configuration: the source for a jwks_uri or an openIdConnectUrl */
ngx_http_apigw_jwks_src_t *ngx_http_apigw_jwks_source(ngx_conf_t *cf,
    const char *url, ngx_uint_t discovery);

/* in a worker: the current keys (NULL until a first fetch succeeded) */
apigw_jwks_t *ngx_http_apigw_jwks_keys(ngx_http_apigw_jwks_src_t *src);
/* changes when the key set's content does (not on every refresh) */
uint32_t ngx_http_apigw_jwks_gen(ngx_http_apigw_jwks_src_t *src);
/* the issuer a discovery document named, or NULL */
const char *ngx_http_apigw_jwks_issuer(ngx_http_apigw_jwks_src_t *src);
/* a token named a kid the keys do not have: refresh (rate-limited) */
void ngx_http_apigw_jwks_unknown_kid(ngx_http_apigw_jwks_src_t *src);


#endif /* _NGX_HTTP_APIGW_JWKS_H_INCLUDED_ */
