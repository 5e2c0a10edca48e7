/*
 * The verified-token cache shared by the workers ("apigw_tokens" zone,
 * ngx_http_apigw_tokcache.c).
 */

#ifndef _NGX_HTTP_APIGW_TOKCACHE_H_INCLUDED_
#define _NGX_HTTP_APIGW_TOKCACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


typedef struct {
    time_t                      exp;
    ngx_uint_t                  inactive;      /* introspection said no */
    ngx_uint_t                  introspected;
    uint32_t                    gen;           /* key set it was checked by */
    ngx_str_t                   sub;           /* NUL-terminated when set */
    ngx_str_t                   scopes;
    ngx_str_t                   payload;
} ngx_http_apigw_tokval_t;


/* the zone (created on first call of a configuration) */
ngx_shm_zone_t *ngx_http_apigw_tokcache_zone(ngx_conf_t *cf);

/* NGX_OK: found and not expired, strings copied into `pool` */
ngx_int_t ngx_http_apigw_tokcache_get(ngx_shm_zone_t *zone,
    ngx_pool_t *pool, uint64_t scheme, const u_char *hash,
    ngx_http_apigw_tokval_t *out);
void ngx_http_apigw_tokcache_put(ngx_shm_zone_t *zone, uint64_t scheme,
    const u_char *hash, ngx_http_apigw_tokval_t *in);


#endif /* _NGX_HTTP_APIGW_TOKCACHE_H_INCLUDED_ */
