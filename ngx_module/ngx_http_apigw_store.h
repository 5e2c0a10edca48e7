/*
 * apigw dynamic configuration: the store (embedded: shared memory + a
 * journal file; see ngx_http_apigw_store.c), the management API handler,
 * and the per-worker compiled routes of the dynamic APIs that the data
 * plane serves under /api/{tenant}/{basePath}.
 */

#ifndef _NGX_HTTP_APIGW_STORE_H_INCLUDED_
#define _NGX_HTTP_APIGW_STORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#if (NGX_THREADS)
#include "ngx_http_apigw_thread.h"
#endif

#include "apigw.h"
#include "store.h"
#include "admin.h"
#include "seal.h"
#include "ngx_http_apigw_module.h"
#include "ngx_http_apigw_redis.h"


typedef struct ngx_http_apigw_shm_s  ngx_http_apigw_shm_t;


typedef struct {
    ngx_str_t                   store;        /* "file:PATH" as given */
    ngx_str_t                   path;         /* snapshot file */
    ngx_str_t                   journal;      /* PATH.journal */
    size_t                      zone_size;
    ngx_shm_zone_t             *zone;
    ngx_str_t                   public_url;
    ngx_msec_t                  poll;
    ngx_str_t                   openwhisk_url;
    ngx_cycle_t                *cycle;
    ngx_flag_t                  use_redis;
    ngx_http_apigw_redis_conf_t redis;
    apigw_seal_key_t           *seal;         /* private keys at rest */
    ngx_msec_t                  resolve;      /* apigw_store_resolve */
} ngx_http_apigw_admin_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  server_errors;  /* in the server's conf */
    ngx_array_t                *tokens;       /* u_char[65] sha-256 hex */
    size_t                      max_body;
} ngx_http_apigw_admin_loc_conf_t;


extern ngx_module_t  ngx_http_apigw_admin_module;


/*
 * The addresses of a host name (`len` bytes, NUL-terminated) from the
 * system's resolver (/etc/hosts, DNS), IPv4 first as ngx_parse_url() orders
 * them.  It blocks: called in a thread of the lookup pool, it touches no
 * nginx state.  rc: NGX_OK, NGX_DECLINED (no such name, or one that cannot
 * be: too long, a NUL in it), NGX_BUSY (the lookup failed for now).
 */
#define NGX_HTTP_APIGW_ADDRS  32

typedef struct {
    ngx_int_t                   rc;
    ngx_uint_t                  naddrs;
    size_t                      len[NGX_HTTP_APIGW_ADDRS];
    u_char                      addr[NGX_HTTP_APIGW_ADDRS]
                                    [NGX_SOCKADDR_STRLEN];
} ngx_http_apigw_addrs_t;

void ngx_http_apigw_getaddrs(const u_char *name, size_t len,
    ngx_http_apigw_addrs_t *a);

/* a backend host that is an IPv4 or IPv6 address, not a name to look up */
ngx_uint_t ngx_http_apigw_host_is_addr(u_char *host, size_t len);


/* the stored APIs' backend host names looked up again (resolve.c) */
ngx_int_t ngx_http_apigw_resolve_init(ngx_cycle_t *cycle,
    ngx_http_apigw_admin_main_conf_t *amcf);
json_t *ngx_http_apigw_resolve_get(const char *host);

/* the dynamic API `id` compiled again at the next refresh */
void ngx_http_apigw_dyn_recompile(const char *id);


/* the worker's current store (records); NULL without "apigw_store" */
const apigw_store_t *ngx_http_apigw_store_current(void);

/*
 * Called in every worker after its store changed (and once when
 * registered, or at the first synchronisation), off the request path: e.g.
 * the credentials code rebuilds its key table with
 * apigw_store_foreach_key() / apigw_store_foreach_sub().  Register from an
 * init_process handler (the worker's cycle pool keeps the registration).
 */
typedef void (*ngx_http_apigw_store_change_pt)(const apigw_store_t *s,
    void *data);
ngx_int_t ngx_http_apigw_store_on_change(ngx_http_apigw_store_change_pt h,
    void *data);

/*
 * The data plane's hook: a request path /api/{tenant}/... matched against
 * the tenant's dynamic APIs.  Sets *m and *first (the first path segment
 * below the tenant) when a dynamic API has the path; keeps the compiled
 * API alive until the request ends.
 */
ngx_int_t ngx_http_apigw_dyn_match(ngx_http_request_t *r,
    apigw_method_e method, const apigw_path_t *path, apigw_match_t *m,
    size_t *first);

ngx_int_t ngx_http_apigw_dyn_match_tenant(ngx_http_request_t *r,
    const char *tenant, size_t len, apigw_method_e method,
    const apigw_path_t *path, size_t start, apigw_match_t *m);

/* store internals shared by the admin handler */
ngx_int_t ngx_http_apigw_store_sync(ngx_log_t *log);
/*
 * Commits muts made against `base`, the file work in a thread:
 * done() gets NGX_OK (durable, and in the zone and this worker's copy),
 * NGX_DECLINED (another writer got in first: sync and run the request
 * again) or NGX_ERROR (not durable; nothing changed).  NGX_ERROR returned
 * at once: the journal is not writable, or the pool's queue is full.
 */
typedef void (*ngx_http_apigw_store_done_pt)(void *data, ngx_int_t rc);
/* 1: the embedded store's journal is open and its last write worked */
ngx_uint_t ngx_http_apigw_store_writable(void);
ngx_int_t ngx_http_apigw_store_commit(apigw_muts_t *muts, uint64_t base,
    ngx_http_apigw_store_done_pt handler, void *data, ngx_log_t *log);
ngx_int_t ngx_http_apigw_store_init_zone(ngx_shm_zone_t *zone, void *data);
ngx_int_t ngx_http_apigw_store_init_process(ngx_cycle_t *cycle);
void ngx_http_apigw_store_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_apigw_resolve_hosts(ngx_http_request_t *r, json_t *rec,
    json_t *known, ngx_str_t *name, ngx_str_t *err);


/* the worker's copy of the store, for the Redis store */
void ngx_http_apigw_local_apply(const char *key, json_t *value);
void ngx_http_apigw_local_set_version(uint64_t version);
void ngx_http_apigw_dyn_refresh(ngx_log_t *log);
ngx_uint_t ngx_http_apigw_store_redis(void);

/* ngx_http_apigw_store_redis.c */
ngx_int_t ngx_http_apigw_rstore_init(ngx_cycle_t *cycle,
    ngx_http_apigw_admin_main_conf_t *amcf);
void ngx_http_apigw_rstore_exit(void);
ngx_uint_t ngx_http_apigw_rstore_ready(void);
/* this worker has read the store once (before that it knows no API) */
ngx_uint_t ngx_http_apigw_rstore_loaded(void);
/*
 * Commits muts made against `base` with WATCH/MULTI/EXEC; done() gets
 * NGX_OK (committed and applied locally), NGX_DECLINED (another writer
 * got in first; the local copy has been brought up to date: run the
 * request again), NGX_AGAIN (the local copy changed before the write
 * was tried: run it again) or NGX_ERROR (Redis unavailable).  NGX_ERROR
 * returned at once: not connected.
 */
ngx_int_t ngx_http_apigw_rstore_commit(apigw_muts_t *muts, uint64_t base,
    ngx_http_apigw_store_done_pt done, void *data);


/* ngx_http_apigw_metrics.c */
ngx_int_t ngx_http_apigw_metrics_zone(ngx_conf_t *cf);
ngx_int_t ngx_http_apigw_metrics_log(ngx_http_request_t *r);
void ngx_http_apigw_metrics_store(ngx_uint_t ok);
ngx_buf_t *ngx_http_apigw_metrics_text(ngx_http_request_t *r,
    uint64_t version);


#endif /* _NGX_HTTP_APIGW_STORE_H_INCLUDED_ */
