/*
 * apigw: rate limits and quotas in nginx, and the shared-memory zone
 * (apigw_zone) that holds their counters.
 */

#ifndef _NGX_HTTP_APIGW_RATELIMIT_H_INCLUDED_
#define _NGX_HTTP_APIGW_RATELIMIT_H_INCLUDED_


#include "ngx_http_apigw_module.h"


/*
 * The zone's shared header.  slots[] are for other features that keep
 * state in the same zone: each takes an index, allocates its own root
 * with ngx_slab_alloc() under shpool->mutex, and finds it again after a
 * reload (the header survives reloads).
 */

#define NGX_HTTP_APIGW_ZONE_SLOTS  8

typedef struct {
    ngx_rbtree_t                rl_rbtree;      /* rate-limit states */
    ngx_rbtree_node_t           rl_sentinel;
    ngx_queue_t                 rl_queue;       /* LRU, most recent first */
    ngx_uint_t                  rl_nodes;
    void                       *slots[NGX_HTTP_APIGW_ZONE_SLOTS];
    ngx_queue_t                 rl_sync;        /* hybrid: to push */
} ngx_http_apigw_zone_sh_t;

typedef struct {
    ngx_http_apigw_zone_sh_t   *sh;
    ngx_slab_pool_t            *shpool;
} ngx_http_apigw_zone_t;


/* apigw_zone name size; */
char *ngx_http_apigw_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
/* adds the default zone ("apigw", 10m) when none was configured */
ngx_shm_zone_t *ngx_http_apigw_zone_get(ngx_conf_t *cf);

char *ngx_http_apigw_rate_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_apigw_rate_limit_headers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_apigw_limit_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_apigw_limit_sync(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* merge_loc_conf: inherit; and after the specs are compiled: attach */
void ngx_http_apigw_ratelimit_merge(ngx_http_apigw_loc_conf_t *prev,
    ngx_http_apigw_loc_conf_t *conf);
char *ngx_http_apigw_ratelimit_conf(ngx_conf_t *cf,
    ngx_http_apigw_loc_conf_t *alcf);

ngx_int_t ngx_http_apigw_ratelimit_init_process(ngx_cycle_t *cycle);
/* 1: apigw_limit_redis is set (a worker's view, after init_process) */
ngx_uint_t ngx_http_apigw_rl_global_limits(void);
/* closes the worker's Redis connection (a graceful exit leaves none) */
void ngx_http_apigw_ratelimit_exit_process(ngx_cycle_t *cycle);

/*
 * The pipeline stage: NGX_DECLINED (go on), NGX_DONE (suspended for
 * Redis; the request goes on with ngx_http_apigw_invoke() or gets its
 * 429/503 later), or the status/rc of a response sent.
 */
ngx_int_t ngx_http_apigw_ratelimit(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx);

/* RateLimit-* (and X-RateLimit-*, Retry-After) from the header filter */
ngx_int_t ngx_http_apigw_ratelimit_headers(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx);


#endif /* _NGX_HTTP_APIGW_RATELIMIT_H_INCLUDED_ */
