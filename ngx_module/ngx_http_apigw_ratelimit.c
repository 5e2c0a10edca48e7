/*
 * apigw: rate limits and quotas.
 *
 * Local limits live in the apigw_zone shared-memory zone (rbtree + LRU,
 * limit_req style), shared by every worker and kept across reloads; the
 * lock is held only for the arithmetic of one request's limits.  Global
 * limits are one pipelined MULTI/EXEC per limit on the worker's Redis
 * connection (ratelimit/gcra.c has the commands and the argument); the
 * request waits for the replies and then runs the rest of the pipeline.
 * Hybrid limits are decided in the zone like local ones, on a view of
 * Redis' state that a timer in every worker pushes and pulls each
 * apigw_limit_sync for the states touched since; a view too old is not
 * used (the request waits for Redis as with store=redis).
 */

#include "ngx_http_apigw_ratelimit.h"
#include "ngx_http_apigw_redis.h"
#include "../ratelimit/ratelimit.h"


#define NGX_HTTP_APIGW_ZONE_DEFAULT_SIZE  (10 * 1024 * 1024)
#define NGX_HTTP_APIGW_RL_LOG_INTERVAL    10        /* seconds */
#define NGX_HTTP_APIGW_RL_SYNC_DEFAULT    100       /* ms */
#define NGX_HTTP_APIGW_RL_SYNC_BATCH      1024      /* states per tick */

#define NGX_HTTP_APIGW_RL_HDR_DRAFT       1         /* RateLimit-* */
#define NGX_HTTP_APIGW_RL_HDR_X           2         /* X-RateLimit-* */


typedef struct {
    ngx_http_apigw_redis_conf_t      redis;
    ngx_flag_t                       redis_set;
    ngx_msec_t                       sync;          /* apigw_limit_sync */
    ngx_int_t                        consumer_index;
    ngx_int_t                        tenant_index;
} ngx_http_apigw_rl_main_t;


typedef struct {
    apigw_rl_set_t                  *defaults;      /* apigw_rate_limit */
    ngx_uint_t                       headers;       /* _HDR_ bits */
} ngx_http_apigw_rl_loc_t;


typedef struct {
    ngx_rbtree_node_t                node;          /* key: murmur2 */
    ngx_queue_t                      queue;
    ngx_queue_t                      sync;          /* hybrid: to push */
    apigw_rl_state_t                 st;
    int64_t                          t;             /* hybrid: the limit */
    int64_t                          dvt;
    u_char                           kind;
    u_char                           calendar;
    u_char                           queued;
    u_short                          len;
    u_char                           data[1];
} ngx_http_apigw_rl_node_t;


/* one state's push or pull in flight (worker memory) */
typedef struct {
    ngx_http_apigw_zone_t           *zone;
    apigw_rl_limit_t                 limit;         /* kind, t, dvt, ... */
    apigw_rl_state_t                 st;            /* as taken */
    int64_t                          sent;
    ngx_uint_t                       push;          /* else a read */
    uint32_t                         hash;          /* the node's key */
    size_t                           len;
    char                             ident[1];
} ngx_http_apigw_rl_job_t;


typedef struct ngx_http_apigw_rl_req_s  ngx_http_apigw_rl_req_t;
typedef struct ngx_http_apigw_rl_batch_s  ngx_http_apigw_rl_batch_t;

typedef struct {
    ngx_http_apigw_rl_req_t         *rq;
    ngx_uint_t                       i;
    ngx_http_apigw_rl_batch_t       *batch;         /* waiting on its reply */
} ngx_http_apigw_rl_slot_t;

/*
 * The requests of one event-loop pass for one Redis counter: decided by
 * one transaction for all (apigw_rl_redis_decide_n()), sent when the pass
 * ends.  A hot key (a global limit, a busy consumer) then costs Redis and
 * the worker one transaction per pass, not one per request.
 */
struct ngx_http_apigw_rl_batch_s {
    ngx_http_apigw_rl_batch_t       *next;          /* open, or free */
    ngx_http_apigw_rl_batch_t       *hnext;         /* the bucket's next */
    const apigw_rl_limit_t          *limit;
    int64_t                          now;           /* the first's */
    int64_t                          window;        /* a quota's */
    uint32_t                         hash;
    ngx_uint_t                       refund;        /* refunds, no members */
    ngx_uint_t                       n;             /* members, refunds */
    /* NULL: that request went away (its share is counted all the same) */
    ngx_http_apigw_rl_slot_t        *member[APIGW_RL_BATCH_MAX];
    size_t                           len;
    char                             ident[APIGW_RL_MAX_KEY];
};

#define NGX_HTTP_APIGW_RL_BUCKETS  64
#define NGX_HTTP_APIGW_RL_FREE_MAX  256

struct ngx_http_apigw_rl_req_s {
    ngx_http_request_t              *request;
    ngx_http_apigw_ctx_t            *ctx;
    ngx_http_apigw_zone_t           *zone;
    int64_t                          now;
    ngx_uint_t                       n;
    ngx_uint_t                       headers;
    ngx_uint_t                       pending;
    const char                      *policy;        /* RateLimit-Policy */
    /* n of each, in the same allocation: most operations have one limit,
       and 16 of everything would take a pool block of its own */
    apigw_rl_result_t               *res;
    ngx_http_apigw_rl_slot_t        *slot;
    const apigw_rl_limit_t         **limits;
    const char                     **ident;
    size_t                          *ilen;
    u_char                          *counted;
    u_char                          *deferred;
    u_char                          *fallback;
    u_char                          *nodata;
    unsigned                         local:1;       /* local ones taken */
    unsigned                         suspended:1;
    unsigned                         rejected:1;
    unsigned                         unavailable:1;
};


static ngx_int_t ngx_http_apigw_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_apigw_rl_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_apigw_rl_lock(void *data);
static void ngx_http_apigw_rl_unlock(void *data);
static apigw_rl_state_t *ngx_http_apigw_rl_lookup(void *data,
    const char *key, size_t len, int64_t now);
static ngx_http_apigw_rl_main_t *ngx_http_apigw_rl_main(ngx_conf_t *cf);
static ngx_http_apigw_rl_loc_t *ngx_http_apigw_rl_loc(ngx_conf_t *cf,
    ngx_http_apigw_loc_conf_t *alcf);
static void ngx_http_apigw_rl_set_cleanup(void *data);
static apigw_rl_set_t *ngx_http_apigw_rl_defaults(ngx_http_request_t *r,
    ngx_http_apigw_rl_loc_t *rll, const apigw_operation_t *op);
static char *ngx_http_apigw_rl_ops(ngx_conf_t *cf,
    ngx_http_apigw_loc_conf_t *alcf, apigw_api_t *api,
    ngx_uint_t *local, ngx_uint_t *redis);
static int64_t ngx_http_apigw_rl_now(void);
static void ngx_http_apigw_rl_store(ngx_http_apigw_zone_t *zone,
    apigw_rl_store_t *st);
static ngx_int_t ngx_http_apigw_rl_key(ngx_http_request_t *r,
    ngx_http_apigw_rl_req_t *rq, ngx_uint_t i);
static void ngx_http_apigw_rl_redis_send(ngx_http_apigw_rl_req_t *rq,
    ngx_uint_t i);
static void ngx_http_apigw_rl_flush(ngx_event_t *ev);
static void ngx_http_apigw_rl_batch_send(ngx_http_apigw_rl_batch_t *b);
static void ngx_http_apigw_rl_batch_fail(ngx_http_apigw_rl_batch_t *b,
    const char *why);
static void ngx_http_apigw_rl_batch_free(ngx_http_apigw_rl_batch_t *b);
static ngx_http_apigw_rl_slot_t *ngx_http_apigw_rl_detach(
    ngx_http_apigw_rl_batch_t *b, ngx_uint_t j);
static void ngx_http_apigw_rl_reply(redisReply *reply, void *data);
static void ngx_http_apigw_rl_resume(ngx_http_apigw_rl_req_t *rq);
static void ngx_http_apigw_rl_redis_state(ngx_http_apigw_redis_t *rd,
    ngx_uint_t up, void *data);
static void ngx_http_apigw_rl_fail(ngx_http_apigw_rl_req_t *rq,
    ngx_uint_t i, const char *why);
static ngx_int_t ngx_http_apigw_rl_conclude(ngx_http_apigw_rl_req_t *rq);
static void ngx_http_apigw_rl_cleanup(void *data);
static ngx_int_t ngx_http_apigw_rl_add_header(ngx_http_request_t *r,
    const char *name, size_t nlen, u_char *value, size_t vlen);


static void ngx_http_apigw_rl_touch(void *data, apigw_rl_state_t *s,
    const apigw_rl_limit_t *l);
static void ngx_http_apigw_rl_sync(ngx_event_t *ev);
static void ngx_http_apigw_rl_synced(redisReply *reply, void *data);
static void ngx_http_apigw_rl_view(ngx_http_apigw_rl_req_t *rq,
    ngx_uint_t i, int64_t value);


static ngx_http_apigw_redis_t  *ngx_http_apigw_rl_redis;
/* apigw_limit_redis is configured: store redis and hybrid can work */
static ngx_uint_t               ngx_http_apigw_rl_global;
/* which keys' expiry this worker sent lately (ratelimit.h) */
static apigw_rl_expiry_t        ngx_http_apigw_rl_expiry;
static ngx_event_t              ngx_http_apigw_rl_sync_ev;
/*
 * This pass's batches of decisions [0] and of refunds [1], by the hash of
 * their identity, and all of them.
 */
static ngx_http_apigw_rl_batch_t  *ngx_http_apigw_rl_bucket[2][
                                                NGX_HTTP_APIGW_RL_BUCKETS];
static ngx_http_apigw_rl_batch_t  *ngx_http_apigw_rl_open[2];
static ngx_http_apigw_rl_batch_t  *ngx_http_apigw_rl_free;
static ngx_uint_t                  ngx_http_apigw_rl_nfree;
static ngx_event_t                 ngx_http_apigw_rl_flush_ev;
/* the timer's data: nginx's debug log reads its "fd" */
static ngx_connection_t         ngx_http_apigw_rl_sync_dumb;
static ngx_msec_t               ngx_http_apigw_rl_sync_ms;
static ngx_http_apigw_zone_t   *ngx_http_apigw_rl_sync_zone;
static time_t                   ngx_http_apigw_rl_logged;
static ngx_uint_t               ngx_http_apigw_rl_failures;
static time_t                   ngx_http_apigw_rl_nomem_logged;


/* ---- the zone ---- */

char *
ngx_http_apigw_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ssize_t                      size;
    ngx_str_t                   *value;
    ngx_shm_zone_t              *zone;
    ngx_http_apigw_zone_t       *ctx;
    ngx_http_apigw_main_conf_t  *amcf = conf;

    if (amcf->zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid apigw_zone size \"%V\" (at least %uz)",
                           &value[2], 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_zone_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    zone = ngx_shared_memory_add(cf, &value[1], size, &ngx_http_apigw_module);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apigw_zone \"%V\" is already declared",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    zone->init = ngx_http_apigw_zone_init;
    zone->data = ctx;
    amcf->zone = zone;

    return NGX_CONF_OK;
}


ngx_shm_zone_t *
ngx_http_apigw_zone_get(ngx_conf_t *cf)
{
    ngx_str_t                    name = ngx_string("apigw");
    ngx_shm_zone_t              *zone;
    ngx_http_apigw_zone_t       *ctx;
    ngx_http_apigw_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apigw_module);

    if (amcf->zone) {
        return amcf->zone;
    }

    zone = ngx_shared_memory_add(cf, &name, NGX_HTTP_APIGW_ZONE_DEFAULT_SIZE,
                                 &ngx_http_apigw_module);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data == NULL) {
        ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_zone_t));
        if (ctx == NULL) {
            return NULL;
        }

        zone->init = ngx_http_apigw_zone_init;
        zone->data = ctx;
    }

    amcf->zone = zone;

    return zone;
}


/* reload-safe: a zone kept across reloads keeps its counters */

static ngx_int_t
ngx_http_apigw_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_apigw_zone_t  *octx = data;

    size_t                  len;
    ngx_http_apigw_zone_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_http_apigw_zone_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(ctx->sh, sizeof(ngx_http_apigw_zone_sh_t));
    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rl_rbtree, &ctx->sh->rl_sentinel,
                    ngx_http_apigw_rl_rbtree_insert);
    ngx_queue_init(&ctx->sh->rl_queue);
    ngx_queue_init(&ctx->sh->rl_sync);

    len = sizeof(" in apigw_zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in apigw_zone \"%V\"%Z",
                &shm_zone->shm.name);

    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_apigw_rl_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_apigw_rl_node_t   *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = (ngx_http_apigw_rl_node_t *) node;
            t = (ngx_http_apigw_rl_node_t *) temp;

            p = (ngx_memn2cmp(n->data, t->data, n->len, t->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* ---- the counter store on the zone (apigw_rl_store_t) ---- */

static void
ngx_http_apigw_rl_lock(void *data)
{
    ngx_http_apigw_zone_t  *zone = data;

    ngx_shmtx_lock(&zone->shpool->mutex);
}


static void
ngx_http_apigw_rl_unlock(void *data)
{
    ngx_http_apigw_zone_t  *zone = data;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


static void
ngx_http_apigw_rl_delete(ngx_http_apigw_zone_t *zone,
    ngx_http_apigw_rl_node_t *lr)
{
    ngx_queue_remove(&lr->queue);

    if (lr->queued) {
        ngx_queue_remove(&lr->sync);
    }

    ngx_rbtree_delete(&zone->sh->rl_rbtree, &lr->node);
    ngx_slab_free_locked(zone->shpool, lr);
    zone->sh->rl_nodes--;
}


/* the state of key, or NULL; hash is its ngx_murmur_hash2() */

static ngx_http_apigw_rl_node_t *
ngx_http_apigw_rl_find(ngx_http_apigw_zone_t *zone, const char *key,
    size_t len, uint32_t hash)
{
    ngx_int_t                  rc;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_apigw_rl_node_t  *lr;

    node = zone->sh->rl_rbtree.root;
    sentinel = zone->sh->rl_rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        lr = (ngx_http_apigw_rl_node_t *) node;

        rc = ngx_memn2cmp((u_char *) key, lr->data, len, (size_t) lr->len);

        if (rc == 0) {
            return lr;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static apigw_rl_state_t *
ngx_http_apigw_rl_lookup(void *data, const char *key, size_t len,
    int64_t now)
{
    size_t                     size;
    uint32_t                   hash;
    ngx_int_t                  i;
    ngx_queue_t               *q;
    ngx_http_apigw_zone_t     *zone = data;
    ngx_http_apigw_rl_node_t  *lr;

    hash = ngx_murmur_hash2((u_char *) key, len);

    lr = ngx_http_apigw_rl_find(zone, key, len, hash);

    if (lr) {
        ngx_queue_remove(&lr->queue);
        ngx_queue_insert_head(&zone->sh->rl_queue, &lr->queue);
        return &lr->st;
    }

    /*
     * New: first let up to two idle states at the LRU tail go.  The states
     * this request already holds (at most APIGW_RL_MAX_LIMITS, at the LRU
     * head) are never the tail while more nodes than that exist.
     */

    for (i = 0; i < 2 && zone->sh->rl_nodes > APIGW_RL_MAX_LIMITS; i++) {
        q = ngx_queue_last(&zone->sh->rl_queue);
        lr = ngx_queue_data(q, ngx_http_apigw_rl_node_t, queue);

        if (lr->st.expire > now || lr->queued || lr->st.flags) {
            break;                  /* live, or hybrid with a push due */
        }

        ngx_http_apigw_rl_delete(zone, lr);
    }

    size = offsetof(ngx_http_apigw_rl_node_t, data) + len;

    lr = ngx_slab_alloc_locked(zone->shpool, size);

    /* memory pressure: evict the least recently used, live or not */

    for (i = 0; lr == NULL && i < 8; i++) {
        if (zone->sh->rl_nodes <= APIGW_RL_MAX_LIMITS) {
            break;
        }

        q = ngx_queue_last(&zone->sh->rl_queue);
        ngx_http_apigw_rl_delete(zone,
                            ngx_queue_data(q, ngx_http_apigw_rl_node_t, queue));

        lr = ngx_slab_alloc_locked(zone->shpool, size);
    }

    if (lr == NULL) {
        return NULL;
    }

    lr->node.key = hash;
    lr->len = (u_short) len;
    lr->queued = 0;
    ngx_memcpy(lr->data, key, len);
    ngx_memzero(&lr->st, sizeof(apigw_rl_state_t));

    ngx_rbtree_insert(&zone->sh->rl_rbtree, &lr->node);
    ngx_queue_insert_head(&zone->sh->rl_queue, &lr->queue);
    zone->sh->rl_nodes++;

    return &lr->st;
}


static void
ngx_http_apigw_rl_store(ngx_http_apigw_zone_t *zone, apigw_rl_store_t *st)
{
    st->data = zone;
    st->lock = ngx_http_apigw_rl_lock;
    st->unlock = ngx_http_apigw_rl_unlock;
    st->lookup = ngx_http_apigw_rl_lookup;
    st->touch = ngx_http_apigw_rl_touch;
    st->offline = 0;

    /* a view is trusted for three sync periods (a push and its reply) */
    st->fresh = (int64_t) ngx_http_apigw_rl_sync_ms * 3000;
}


/* a hybrid state decided here: pushed (or pulled) at the next sync */

static void
ngx_http_apigw_rl_touch(void *data, apigw_rl_state_t *s,
    const apigw_rl_limit_t *l)
{
    ngx_http_apigw_zone_t     *zone = data;
    ngx_http_apigw_rl_node_t  *lr;

    lr = (ngx_http_apigw_rl_node_t *)
             ((u_char *) s - offsetof(ngx_http_apigw_rl_node_t, st));

    if (lr->queued) {
        return;
    }

    lr->t = l->t;
    lr->dvt = l->dvt;
    lr->kind = (u_char) l->kind;
    lr->calendar = (u_char) l->calendar;
    lr->queued = 1;
    ngx_queue_insert_tail(&zone->sh->rl_sync, &lr->sync);
}


/* ---- directives ---- */

static ngx_http_apigw_rl_main_t *
ngx_http_apigw_rl_main(ngx_conf_t *cf)
{
    ngx_http_apigw_main_conf_t  *amcf;
    ngx_http_apigw_rl_main_t    *rlm;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apigw_module);

    if (amcf->rl) {
        return amcf->rl;
    }

    rlm = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_rl_main_t));
    if (rlm == NULL) {
        return NULL;
    }

    rlm->consumer_index = NGX_ERROR;
    rlm->tenant_index = NGX_ERROR;
    rlm->sync = NGX_CONF_UNSET_MSEC;
    amcf->rl = rlm;

    return rlm;
}


static ngx_http_apigw_rl_loc_t *
ngx_http_apigw_rl_loc(ngx_conf_t *cf, ngx_http_apigw_loc_conf_t *alcf)
{
    ngx_http_apigw_rl_loc_t  *rll;

    if (alcf->rl) {
        return alcf->rl;
    }

    rll = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_rl_loc_t));
    if (rll == NULL) {
        return NULL;
    }

    rll->headers = NGX_CONF_UNSET_UINT;
    alcf->rl = rll;

    return rll;
}


static void
ngx_http_apigw_rl_set_cleanup(void *data)
{
    apigw_rl_set_free(data);
}


/* apigw_rate_limit rate=100r/m [burst=N] [key=..] ...; (repeatable) */

char *
ngx_http_apigw_rate_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apigw_loc_conf_t  *alcf = conf;

    int                       rc;
    char                      err[256], **argv;
    ngx_str_t                *value;
    ngx_uint_t                i;
    apigw_rl_limit_t          l;
    ngx_pool_cleanup_t       *cln;
    ngx_http_apigw_rl_loc_t  *rll;

    rll = ngx_http_apigw_rl_loc(cf, alcf);
    if (rll == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    argv = ngx_palloc(cf->temp_pool, cf->args->nelts * sizeof(char *));
    if (argv == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        argv[i - 1] = (char *) value[i].data;     /* NUL-terminated */
    }

    if (apigw_rl_parse_args(cf->args->nelts - 1, (const char **) argv, &l,
                            err, sizeof(err))
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "apigw_rate_limit: %s", err);
        return NGX_CONF_ERROR;
    }

    if (rll->defaults == NULL) {
        rll->defaults = calloc(1, sizeof(apigw_rl_set_t));
        cln = ngx_pool_cleanup_add(cf->pool, 0);

        if (rll->defaults == NULL || cln == NULL) {
            free(rll->defaults);
            rll->defaults = NULL;
            apigw_rl_limit_clear(&l);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_apigw_rl_set_cleanup;
        cln->data = rll->defaults;
    }

    rc = apigw_rl_set_add(rll->defaults, &l);

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           rc == -2 ? "apigw_rate_limit: id \"%s\" names "
                                      "another limit too"
                                    : "apigw_rate_limit: more than 16 "
                                      "limits (%s)", l.id);
        apigw_rl_limit_clear(&l);
        return NGX_CONF_ERROR;
    }

    apigw_rl_limit_clear(&l);

    return NGX_CONF_OK;
}


/* apigw_rate_limit_headers draft | x | both | off; */

char *
ngx_http_apigw_rate_limit_headers(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_apigw_loc_conf_t  *alcf = conf;

    ngx_str_t                *value;
    ngx_http_apigw_rl_loc_t  *rll;

    rll = ngx_http_apigw_rl_loc(cf, alcf);
    if (rll == NULL) {
        return NGX_CONF_ERROR;
    }

    if (rll->headers != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "draft") == 0) {
        rll->headers = NGX_HTTP_APIGW_RL_HDR_DRAFT;

    } else if (ngx_strcmp(value[1].data, "x") == 0) {
        rll->headers = NGX_HTTP_APIGW_RL_HDR_X;

    } else if (ngx_strcmp(value[1].data, "both") == 0) {
        rll->headers = NGX_HTTP_APIGW_RL_HDR_DRAFT | NGX_HTTP_APIGW_RL_HDR_X;

    } else if (ngx_strcmp(value[1].data, "off") == 0) {
        rll->headers = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\": draft, x, both or off",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* apigw_limit_redis redis://[:password@]host[:port][/db][?timeout=..]; */

char *
ngx_http_apigw_limit_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char                      *rv;
    ngx_str_t                 *value;
    ngx_http_apigw_rl_main_t  *rlm;

    rlm = ngx_http_apigw_rl_main(cf);
    if (rlm == NULL) {
        return NGX_CONF_ERROR;
    }

    if (rlm->redis_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rv = ngx_http_apigw_redis_parse(cf, &value[1], &rlm->redis);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rlm->redis_set = 1;

    return NGX_CONF_OK;
}


/* apigw_limit_sync 100ms; how often hybrid limits meet Redis */

char *
ngx_http_apigw_limit_sync(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                 *value;
    ngx_msec_t                 ms;
    ngx_http_apigw_rl_main_t  *rlm;

    rlm = ngx_http_apigw_rl_main(cf);
    if (rlm == NULL) {
        return NGX_CONF_ERROR;
    }

    if (rlm->sync != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ms = ngx_parse_time(&value[1], 0);

    if (ms == (ngx_msec_t) NGX_ERROR || ms < 10 || ms > 60000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid apigw_limit_sync \"%V\" (10ms to 60s)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    rlm->sync = ms;

    return NGX_CONF_OK;
}


void
ngx_http_apigw_ratelimit_merge(ngx_http_apigw_loc_conf_t *prev,
    ngx_http_apigw_loc_conf_t *conf)
{
    ngx_http_apigw_rl_loc_t  *p, *c;

    p = prev->rl;
    c = conf->rl;

    if (c == NULL) {
        conf->rl = p;
        return;
    }

    if (p == NULL) {
        return;
    }

    if (c->defaults == NULL) {
        c->defaults = p->defaults;
    }

    if (c->headers == NGX_CONF_UNSET_UINT) {
        c->headers = p->headers;
    }
}


/*
 * The apigw_rate_limit defaults for an operation of a managed API without
 * limits of its own, in the request's pool: the managed APIs are compiled
 * once for every location, each location has its own defaults.  Their
 * scope ids depend on the operation alone: made once, kept with it.
 * NULL: none.
 */
static apigw_rl_set_t *
ngx_http_apigw_rl_defaults(ngx_http_request_t *r,
    ngx_http_apigw_rl_loc_t *rll, const apigw_operation_t *op)
{
    int                   scope;
    char                 *sid, **cached;
    size_t                i, len;
    ngx_pool_t           *pool;
    apigw_rl_set_t       *d, *s;
    ngx_http_apigw_op_t  *opx;

    d = rll->defaults;

    if (d == NULL || d->n == 0) {
        return NULL;
    }

    s = ngx_palloc(r->pool, sizeof(apigw_rl_set_t));
    if (s == NULL) {
        return (apigw_rl_set_t *) NGX_ERROR;
    }

    *s = *d;
    s->items = ngx_palloc(r->pool, d->n * sizeof(apigw_rl_limit_t));
    if (s->items == NULL) {
        return (apigw_rl_set_t *) NGX_ERROR;
    }

    opx = op->ext;

    for (i = 0; i < d->n; i++) {
        s->items[i] = d->items[i];
        scope = d->items[i].scope;

        cached = (opx && opx->pool && scope >= 0 && scope < 4)
                 ? &opx->rl_scope_id[scope] : NULL;

        if (cached && *cached) {
            s->items[i].scope_id = *cached;
            continue;
        }

        sid = apigw_rl_scope_id(scope, op);
        if (sid == NULL) {
            return (apigw_rl_set_t *) NGX_ERROR;
        }

        pool = cached ? opx->pool : r->pool;
        len = ngx_strlen(sid) + 1;
        s->items[i].scope_id = ngx_pnalloc(pool, len);

        if (s->items[i].scope_id) {
            ngx_memcpy(s->items[i].scope_id, sid, len);
        }

        free(sid);

        if (s->items[i].scope_id == NULL) {
            return (apigw_rl_set_t *) NGX_ERROR;
        }

        if (cached) {
            *cached = s->items[i].scope_id;
        }
    }

    return s;
}


/*
 * After the location's specs are compiled: operations without limits of
 * their own get the apigw_rate_limit defaults; the zone is created when
 * needed; a Redis limit without apigw_limit_redis fails `nginx -t`.
 */

char *
ngx_http_apigw_ratelimit_conf(ngx_conf_t *cf, ngx_http_apigw_loc_conf_t *alcf)
{
    ngx_str_t                  name;
    ngx_uint_t                 i, local, redis;
    apigw_api_t              **pa;
    ngx_http_apigw_rl_loc_t   *rll;
    ngx_http_apigw_rl_main_t  *rlm;

    local = 0;
    redis = 0;

    if (alcf->apis) {
        pa = alcf->apis->elts;

        for (i = 0; i < alcf->apis->nelts; i++) {
            if (ngx_http_apigw_rl_ops(cf, alcf, pa[i], &local, &redis)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }
        }
    }

    if (alcf->webaction_api
        && ngx_http_apigw_rl_ops(cf, alcf, alcf->webaction_api, &local,
                                 &redis)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the defaults apply to managed APIs too, at run time */
    rll = alcf->rl;

    if (rll && rll->defaults && rll->defaults->n) {
        if (apigw_rl_set_policy(rll->defaults) != 0) {
            return NGX_CONF_ERROR;
        }

        for (i = 0; i < rll->defaults->n; i++) {
            if (rll->defaults->items[i].store != APIGW_RL_STORE_LOCAL) {
                redis++;
            }
        }
    }

    /*
     * Even without a limit now: APIs added later through the management
     * API may bring theirs, so every apigw location has the zone.
     */

    rlm = ngx_http_apigw_rl_main(cf);
    if (rlm == NULL) {
        return NGX_CONF_ERROR;
    }

    if (redis && !rlm->redis_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apigw: rate limits with store redis or hybrid "
                           "need \"apigw_limit_redis\" in http{}");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_apigw_zone_get(cf) == NULL) {
        return NGX_CONF_ERROR;
    }

    if (rlm->consumer_index == NGX_ERROR) {
        ngx_str_set(&name, "apigw_consumer");
        rlm->consumer_index = ngx_http_get_variable_index(cf, &name);

        ngx_str_set(&name, "apigw_tenant");
        rlm->tenant_index = ngx_http_get_variable_index(cf, &name);

        if (rlm->consumer_index == NGX_ERROR
            || rlm->tenant_index == NGX_ERROR)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_apigw_rl_ops(ngx_conf_t *cf, ngx_http_apigw_loc_conf_t *alcf,
    apigw_api_t *api, ngx_uint_t *local, ngx_uint_t *redis)
{
    size_t                    j, k;
    apigw_rl_set_t           *s, *defaults;
    apigw_operation_t        *op;
    const apigw_rl_limit_t   *l;

    defaults = alcf->rl ? ((ngx_http_apigw_rl_loc_t *) alcf->rl)->defaults
                        : NULL;

    for (j = 0; j < api->nops; j++) {
        op = &api->ops[j];

        if (op->limits == NULL && defaults && defaults->n) {
            s = calloc(1, sizeof(apigw_rl_set_t));
            if (s == NULL) {
                return NGX_CONF_ERROR;
            }

            op->limits = s;             /* freed with the API */

            for (k = 0; k < defaults->n; k++) {
                if (apigw_rl_set_add(s, &defaults->items[k]) != 0) {
                    return NGX_CONF_ERROR;
                }
            }

            if (apigw_rl_attach(s, op) != 0) {
                return NGX_CONF_ERROR;
            }
        }

        if (op->limits == NULL) {
            continue;
        }

        for (k = 0; k < op->limits->n; k++) {
            l = &op->limits->items[k];

            /* room for the key value in an identity, whatever it is */
            if (ngx_strlen(l->id) + ngx_strlen(l->scope_id) + 200
                > APIGW_RL_MAX_KEY)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "apigw: %s: %s: the path is too long "
                                   "for a rate limit", api->file
                                   ? api->file : "", op->pointer);
                return NGX_CONF_ERROR;
            }

            if (l->store != APIGW_RL_STORE_LOCAL) {
                (*redis)++;
            } else {
                (*local)++;
            }
        }
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_apigw_ratelimit_init_process(ngx_cycle_t *cycle)
{
    ngx_http_apigw_rl_main_t    *rlm;
    ngx_http_apigw_main_conf_t  *amcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_apigw_module);
    if (amcf == NULL || amcf->rl == NULL) {
        return NGX_OK;
    }

    rlm = amcf->rl;

    ngx_http_apigw_rl_sync_ms = rlm->sync == NGX_CONF_UNSET_MSEC
                                ? NGX_HTTP_APIGW_RL_SYNC_DEFAULT : rlm->sync;

    if (!rlm->redis_set) {
        return NGX_OK;
    }

    ngx_http_apigw_rl_global = 1;

    ngx_http_apigw_rl_flush_ev.handler = ngx_http_apigw_rl_flush;
    ngx_http_apigw_rl_flush_ev.data = &ngx_http_apigw_rl_sync_dumb;
    ngx_http_apigw_rl_flush_ev.log = cycle->log;
    ngx_http_apigw_rl_sync_dumb.fd = (ngx_socket_t) -1;

    ngx_http_apigw_rl_redis = ngx_http_apigw_redis_create(cycle, &rlm->redis,
                                                          "rate limits");
    if (ngx_http_apigw_rl_redis == NULL) {
        /* the limits' on-redis-failure modes decide meanwhile */
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "apigw: no Redis connection for rate limits");

    } else {
        /* a new worker's first requests wait for its connection */
        ngx_http_apigw_redis_queue_connecting(ngx_http_apigw_rl_redis);
        ngx_http_apigw_redis_on_state(ngx_http_apigw_rl_redis,
                                      ngx_http_apigw_rl_redis_state, NULL);
    }

    /* every worker syncs: whichever fires first takes the queue */

    if (amcf->zone) {
        ngx_http_apigw_rl_sync_zone = amcf->zone->data;
        ngx_http_apigw_rl_sync_ev.handler = ngx_http_apigw_rl_sync;
        ngx_http_apigw_rl_sync_ev.data = &ngx_http_apigw_rl_sync_dumb;
        ngx_http_apigw_rl_sync_ev.log = cycle->log;
        ngx_http_apigw_rl_sync_ev.cancelable = 1;
        ngx_add_timer(&ngx_http_apigw_rl_sync_ev, ngx_http_apigw_rl_sync_ms);
    }

    return NGX_OK;
}


void
ngx_http_apigw_ratelimit_exit_process(ngx_cycle_t *cycle)
{
    (void) cycle;

    if (ngx_http_apigw_rl_sync_ev.timer_set) {
        ngx_del_timer(&ngx_http_apigw_rl_sync_ev);
    }

    if (ngx_http_apigw_rl_flush_ev.posted) {
        ngx_delete_posted_event(&ngx_http_apigw_rl_flush_ev);
    }

    if (ngx_http_apigw_rl_redis) {
        /* pushes in flight are answered NULL: pending again for others */
        ngx_http_apigw_redis_destroy(ngx_http_apigw_rl_redis);
        ngx_http_apigw_rl_redis = NULL;
    }
}


/* ---- the pipeline stage ---- */

static int64_t
ngx_http_apigw_rl_now(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}


static ngx_table_elt_t *
ngx_http_apigw_rl_header_in(ngx_http_request_t *r, const char *lc)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(lc);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) lc, len) == 0)
        {
            return &h[i];
        }
    }
}


/* limit i's counter identity: consumer, header or address, or global */

static ngx_int_t
ngx_http_apigw_rl_key(ngx_http_request_t *r, ngx_http_apigw_rl_req_t *rq,
    ngx_uint_t i)
{
    int                          kind;
    u_char                      *buf;
    size_t                       n;
    ngx_str_t                    key, tenant;
    ngx_table_elt_t             *h;
    const apigw_rl_limit_t      *l;
    ngx_http_variable_value_t   *vv;
    ngx_http_apigw_rl_main_t    *rlm;
    ngx_http_apigw_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apigw_module);
    rlm = amcf->rl;
    l = rq->limits[i];

    kind = l->key;
    key.len = 0;
    key.data = NULL;

    if (kind == APIGW_RL_KEY_CONSUMER) {
        vv = ngx_http_get_indexed_variable(r, rlm->consumer_index);

        if (vv && !vv->not_found && vv->len) {
            key.data = vv->data;
            key.len = vv->len;

        } else {
            kind = APIGW_RL_KEY_ADDRESS;     /* nobody identified */
        }

    } else if (kind == APIGW_RL_KEY_HEADER) {
        h = ngx_http_apigw_rl_header_in(r, l->header);

        if (h && h->value.len) {
            key = h->value;

        } else {
            kind = APIGW_RL_KEY_ADDRESS;
        }
    }

    if (kind == APIGW_RL_KEY_ADDRESS) {
        key = r->connection->addr_text;       /* realip applied */
    }

    tenant.len = 0;
    tenant.data = NULL;

    if (l->scope == APIGW_RL_SCOPE_TENANT) {
        vv = ngx_http_get_indexed_variable(r, rlm->tenant_index);

        if (vv && !vv->not_found) {
            tenant.data = vv->data;
            tenant.len = vv->len;
        }
    }

    buf = ngx_pnalloc(r->pool, APIGW_RL_MAX_KEY);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    n = apigw_rl_identity(l, (char *) tenant.data, tenant.len, kind,
                          (char *) key.data, key.len, (char *) buf,
                          APIGW_RL_MAX_KEY);

    if (n == 0) {
        /* a tenant name too long to fit: hash it in with the key */
        n = apigw_rl_identity(l, "", 0, APIGW_RL_KEY_HEADER,
                              (char *) tenant.data, tenant.len,
                              (char *) buf, APIGW_RL_MAX_KEY);
        if (n == 0) {
            return NGX_ERROR;
        }
    }

    rq->ident[i] = (char *) buf;
    rq->ilen[i] = n;

    return NGX_OK;
}


/* a request's limit state, with its arrays of n zeroed entries */

static ngx_http_apigw_rl_req_t *
ngx_http_apigw_rl_req(ngx_pool_t *pool, ngx_uint_t n)
{
    u_char                   *p;
    ngx_http_apigw_rl_req_t  *rq;

    p = ngx_pcalloc(pool, sizeof(ngx_http_apigw_rl_req_t)
                          + n * (sizeof(apigw_rl_result_t)
                                 + sizeof(ngx_http_apigw_rl_slot_t)
                                 + sizeof(apigw_rl_limit_t *)
                                 + sizeof(char *) + sizeof(size_t)
                                 + 4));
    if (p == NULL) {
        return NULL;
    }

    /* the widest alignment first: all but the flags are 8-byte aligned */

    rq = (ngx_http_apigw_rl_req_t *) p;
    p += sizeof(ngx_http_apigw_rl_req_t);

    rq->n = n;
    rq->res = (apigw_rl_result_t *) p;
    p += n * sizeof(apigw_rl_result_t);
    rq->slot = (ngx_http_apigw_rl_slot_t *) p;
    p += n * sizeof(ngx_http_apigw_rl_slot_t);
    rq->limits = (const apigw_rl_limit_t **) p;
    p += n * sizeof(apigw_rl_limit_t *);
    rq->ident = (const char **) p;
    p += n * sizeof(char *);
    rq->ilen = (size_t *) p;
    p += n * sizeof(size_t);
    rq->counted = p;
    rq->deferred = p + n;
    rq->fallback = p + 2 * n;
    rq->nodata = p + 3 * n;

    return rq;
}


ngx_int_t
ngx_http_apigw_ratelimit(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx)
{
    size_t                       k;
    ngx_uint_t                   i, nlocal, ndeferred;
    apigw_rl_set_t              *s;
    apigw_rl_store_t             st;
    apigw_rl_result_t            res[APIGW_RL_MAX_LIMITS];
    const char                  *keys[APIGW_RL_MAX_LIMITS];
    size_t                       lens[APIGW_RL_MAX_LIMITS];
    const apigw_rl_limit_t      *ls[APIGW_RL_MAX_LIMITS];
    ngx_uint_t                   idx[APIGW_RL_MAX_LIMITS];
    int                          nomem, allowed;
    ngx_pool_cleanup_t          *cln;
    ngx_http_apigw_rl_req_t     *rq;
    ngx_http_apigw_rl_loc_t     *rll;
    ngx_http_apigw_loc_conf_t   *alcf;
    ngx_http_apigw_main_conf_t  *amcf;

    if (ctx->rl) {
        return NGX_DECLINED;               /* decided already */
    }

    s = ctx->op ? ctx->op->limits : NULL;
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apigw_module);

    if ((s == NULL || s->n == 0) && ctx->op && ctx->tenant.len && alcf->rl) {
        /* a managed API's operation: the location's defaults */
        s = ngx_http_apigw_rl_defaults(r, alcf->rl, ctx->op);
        if (s == (apigw_rl_set_t *) NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (s == NULL || s->n == 0 || ctx->rl) {
        return NGX_DECLINED;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_apigw_module);

    if (amcf->zone == NULL || amcf->rl == NULL) {
        return NGX_DECLINED;               /* not compiled in this conf */
    }

    rq = ngx_http_apigw_rl_req(r->pool, ngx_min(s->n, APIGW_RL_MAX_LIMITS));
    if (rq == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rll = alcf->rl;

    rq->request = r;
    rq->ctx = ctx;
    rq->zone = amcf->zone->data;
    rq->now = ngx_http_apigw_rl_now();
    rq->policy = apigw_rl_set_policy_at(s, rq->now);
    rq->headers = (rll && rll->headers != NGX_CONF_UNSET_UINT)
                  ? rll->headers : NGX_HTTP_APIGW_RL_HDR_DRAFT;

    ctx->rl = rq;

    nlocal = 0;
    ndeferred = 0;

    for (i = 0; i < rq->n; i++) {
        rq->limits[i] = &s->items[i];

        if (ngx_http_apigw_rl_key(r, rq, i) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (s->items[i].store != APIGW_RL_STORE_REDIS) {   /* or hybrid */
            idx[nlocal] = i;
            ls[nlocal] = rq->limits[i];
            keys[nlocal] = rq->ident[i];
            lens[nlocal] = rq->ilen[i];
            nlocal++;
        }
    }

    /* local limits: all of them under one lock, all or nothing */

    if (nlocal) {
        ngx_http_apigw_rl_store(rq->zone, &st);

        allowed = apigw_rl_check(&st, ls, keys, lens, nlocal, rq->now, res,
                                 &nomem);

        for (k = 0; k < nlocal; k++) {
            rq->res[idx[k]] = res[k];

            if (res[k].deferred) {
                rq->deferred[idx[k]] = 1;
                ndeferred++;
            }
        }

        if (nomem && ngx_time() - ngx_http_apigw_rl_nomem_logged
                     >= NGX_HTTP_APIGW_RL_LOG_INTERVAL)
        {
            ngx_http_apigw_rl_nomem_logged = ngx_time();
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "apigw: apigw_zone is full: a rate limit was not "
                          "applied; make the zone larger");
        }

        if (!allowed) {
            rq->rejected = 1;
            return ngx_http_apigw_send_error(r, ctx, 429, "rate_limited");
        }

        rq->local = 1;
    }

    if (nlocal == rq->n && ndeferred == 0) {
        return NGX_DECLINED;
    }

    /*
     * global limits: each joins the batch of its counter, sent as one
     * transaction when this event-loop pass ends (all in one write)
     */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_apigw_rl_cleanup;
    cln->data = rq;

    for (i = 0; i < rq->n; i++) {
        if (rq->limits[i]->store == APIGW_RL_STORE_REDIS || rq->deferred[i]) {
            ngx_http_apigw_rl_redis_send(rq, i);
        }
    }

    if (rq->pending == 0) {
        return ngx_http_apigw_rl_conclude(rq);
    }

    /* wait for Redis; the match and path live on the handler's stack */

    if (ngx_http_apigw_keep_match(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;     /* cleanup cancels */
    }

    rq->suspended = 1;
    r->main->count++;

    return NGX_DONE;
}


/*
 * This pass's batch of decisions (refund 0) or of refunds (1) for a
 * counter, opened if there is none (or the one there is, full); NULL when
 * out of memory.
 */
static ngx_http_apigw_rl_batch_t *
ngx_http_apigw_rl_batch(ngx_uint_t refund, const apigw_rl_limit_t *l,
    const char *ident, size_t len, int64_t now)
{
    int64_t                     window, end;
    uint32_t                    hash;
    ngx_uint_t                  max;
    ngx_http_apigw_rl_batch_t  *b, **bucket;

    hash = ngx_murmur_hash2((u_char *) ident, len);
    bucket = &ngx_http_apigw_rl_bucket[refund][hash
                                              % NGX_HTTP_APIGW_RL_BUCKETS];
    /* a quota's counter is the window's: a pass may span midnight */
    window = l->kind == APIGW_RL_RATE ? 0
                                      : apigw_quota_window(l->calendar, now,
                                                           &end);
    max = refund ? APIGW_RL_REFUND_MAX : APIGW_RL_BATCH_MAX;

    /* a full one is passed over: the new one goes first in the bucket */

    for (b = *bucket; b; b = b->hnext) {
        if (b->hash == hash && b->limit == l && b->len == len
            && b->window == window && b->n < max
            && ngx_memcmp(b->ident, ident, len) == 0)
        {
            return b;
        }
    }

    b = ngx_http_apigw_rl_free;

    if (b) {
        ngx_http_apigw_rl_free = b->next;
        ngx_http_apigw_rl_nfree--;

    } else {
        b = ngx_alloc(sizeof(ngx_http_apigw_rl_batch_t), ngx_cycle->log);
        if (b == NULL) {
            return NULL;
        }
    }

    b->limit = l;
    b->now = now;
    b->window = window;
    b->hash = hash;
    b->refund = refund;
    b->n = 0;
    b->len = len;
    ngx_memcpy(b->ident, ident, len);               /* <= APIGW_RL_MAX_KEY */

    b->hnext = *bucket;
    *bucket = b;
    b->next = ngx_http_apigw_rl_open[refund];
    ngx_http_apigw_rl_open[refund] = b;

    /* posted events run once this pass's I/O events are handled */
    if (!ngx_http_apigw_rl_flush_ev.posted) {
        ngx_post_event(&ngx_http_apigw_rl_flush_ev, &ngx_posted_events);
    }

    return b;
}


/* limit i joins this pass's batch for its counter */

static void
ngx_http_apigw_rl_redis_send(ngx_http_apigw_rl_req_t *rq, ngx_uint_t i)
{
    ngx_http_apigw_rl_batch_t  *b;

    if (ngx_http_apigw_rl_redis == NULL
        || !ngx_http_apigw_redis_ready(ngx_http_apigw_rl_redis))
    {
        ngx_http_apigw_rl_fail(rq, i, "not connected");
        return;
    }

    b = ngx_http_apigw_rl_batch(0, rq->limits[i], rq->ident[i], rq->ilen[i],
                                rq->now);
    if (b == NULL) {
        ngx_http_apigw_rl_fail(rq, i, "out of memory");
        return;
    }

    /*
     * All were read by the worker before the pass began: they are decided
     * as if they came at once, when the first was taken up (a later time
     * for some would refuse one that one after the other would admit).
     */
    if (rq->now < b->now) {
        b->now = rq->now;
    }

    rq->slot[i].rq = rq;
    rq->slot[i].i = i;
    rq->slot[i].batch = b;
    b->member[b->n++] = &rq->slot[i];
    rq->pending++;
}


static void
ngx_http_apigw_rl_flush(ngx_event_t *ev)
{
    ngx_uint_t                  k;
    ngx_http_apigw_rl_batch_t  *b, *next;

    (void) ev;

    /*
     * Refunds first, so that the decisions after them see the counters
     * given back.  What the sends resume may open batches of the next pass.
     */

    ngx_memzero(ngx_http_apigw_rl_bucket, sizeof(ngx_http_apigw_rl_bucket));

    for (k = 2; k-- > 0; /* void */) {
        b = ngx_http_apigw_rl_open[k];
        ngx_http_apigw_rl_open[k] = NULL;

        for ( /* void */ ; b; b = next) {
            next = b->next;
            ngx_http_apigw_rl_batch_send(b);
        }
    }
}


static void
ngx_http_apigw_rl_batch_send(ngx_http_apigw_rl_batch_t *b)
{
    int                          n, k;
    char                         buf[APIGW_RL_REDIS_BUF + APIGW_RL_MAX_KEY];
    ngx_uint_t                   m, j;
    apigw_rl_cmd_t               cmds[APIGW_RL_REDIS_CMDS];
    ngx_http_apigw_redis_cmd_t  *c;

    if (b->refund) {
        /* fire and forget, as a refund always was */

        if (ngx_http_apigw_rl_redis
            && ngx_http_apigw_redis_ready(ngx_http_apigw_rl_redis)
            && apigw_rl_redis_undo_n(b->limit, b->ident, b->len, b->now,
                                     b->n, buf, sizeof(buf), cmds)
               > 0)
        {
            (void) ngx_http_apigw_redis_command(ngx_http_apigw_rl_redis,
                                                NULL, NULL, 0, cmds[0].argc,
                                                cmds[0].argv, cmds[0].len);
        }

        ngx_http_apigw_rl_batch_free(b);
        return;
    }

    /* requests that went away before the send take no share */

    for (j = 0, m = 0; j < b->n; j++) {
        if (b->member[j]) {
            b->member[m++] = b->member[j];
        }
    }

    b->n = m;

    if (m == 0) {
        ngx_http_apigw_rl_batch_free(b);
        return;
    }

    if (ngx_http_apigw_rl_redis == NULL
        || !ngx_http_apigw_redis_ready(ngx_http_apigw_rl_redis))
    {
        ngx_http_apigw_rl_batch_fail(b, "not connected");
        return;
    }

    n = apigw_rl_redis_decide_n(b->limit, b->ident, b->len, b->now, m,
                                &ngx_http_apigw_rl_expiry, buf, sizeof(buf),
                                cmds);
    if (n < 0) {
        ngx_http_apigw_rl_batch_fail(b, "key too long");
        return;
    }

    c = NULL;

    for (k = 0; k < n; k++) {
        /* MULTI and the queued commands answer "QUEUED": no handler */
        c = ngx_http_apigw_redis_command(ngx_http_apigw_rl_redis,
                                         k == n - 1 ? ngx_http_apigw_rl_reply
                                                    : NULL,
                                         b, 0, cmds[k].argc, cmds[k].argv,
                                         cmds[k].len);
        if (c == NULL) {
            ngx_http_apigw_rl_batch_fail(b, "not connected");
            return;
        }
    }

    /* a reload's old worker waits for this answer, not exits under it */
    ngx_http_apigw_redis_hold(c);
}


/* Redis decides none of the batch: each request's failure mode does */

static void
ngx_http_apigw_rl_batch_fail(ngx_http_apigw_rl_batch_t *b, const char *why)
{
    ngx_uint_t                 j;
    ngx_http_apigw_rl_slot_t  *slot;

    for (j = 0; j < b->n; j++) {
        slot = ngx_http_apigw_rl_detach(b, j);

        if (slot) {
            ngx_http_apigw_rl_fail(slot->rq, slot->i, why);
            ngx_http_apigw_rl_resume(slot->rq);
        }
    }

    ngx_http_apigw_rl_batch_free(b);
}


/* member j leaves the batch (its reply is in); NULL: it went away */

static ngx_http_apigw_rl_slot_t *
ngx_http_apigw_rl_detach(ngx_http_apigw_rl_batch_t *b, ngx_uint_t j)
{
    ngx_http_apigw_rl_slot_t  *slot;

    slot = b->member[j];

    if (slot) {
        b->member[j] = NULL;
        slot->batch = NULL;
        slot->rq->pending--;
    }

    return slot;
}


static void
ngx_http_apigw_rl_batch_free(ngx_http_apigw_rl_batch_t *b)
{
    /* kept for the next pass, but not as many as a burst of keys made */

    if (ngx_http_apigw_rl_nfree >= NGX_HTTP_APIGW_RL_FREE_MAX) {
        ngx_free(b);
        return;
    }

    b->next = ngx_http_apigw_rl_free;
    ngx_http_apigw_rl_free = b;
    ngx_http_apigw_rl_nfree++;
}


/*
 * A connection that went down may have taken expiries noted as sent with
 * it, and a Redis that came back may have lost its keys: all are due again.
 */
static void
ngx_http_apigw_rl_redis_state(ngx_http_apigw_redis_t *rd, ngx_uint_t up,
    void *data)
{
    ngx_memzero(&ngx_http_apigw_rl_expiry, sizeof(apigw_rl_expiry_t));
}


/* why a reply decided nothing: Redis's own error, when it said one */

static const char *
ngx_http_apigw_rl_why(redisReply *reply, char *buf, size_t size)
{
    size_t       k;
    redisReply  *e;

    if (reply == NULL) {
        return "no reply in time";
    }

    e = reply->type == REDIS_REPLY_ERROR ? reply : NULL;

    for (k = 0; e == NULL && reply->type == REDIS_REPLY_ARRAY
                && k < reply->elements; k++)
    {
        if (reply->element[k]->type == REDIS_REPLY_ERROR) {
            e = reply->element[k];
        }
    }

    if (e == NULL || e->str == NULL) {
        return "unexpected reply";
    }

    /* EXECABORT: what refused the queued command tells more */
    if (e->len >= 9 && ngx_strncmp(e->str, "EXECABORT", 9) == 0
        && ngx_http_apigw_redis_last_error(ngx_http_apigw_rl_redis)[0])
    {
        (void) snprintf(buf, size, "Redis: %s",
                        ngx_http_apigw_redis_last_error(
                                                   ngx_http_apigw_rl_redis));
        return buf;
    }

    /* "OOM command not allowed ...", "READONLY You can't write ..." */
    (void) snprintf(buf, size, "Redis: %.*s", (int) ngx_min(e->len, 100),
                    e->str);

    return buf;
}


static void
ngx_http_apigw_rl_reply(redisReply *reply, void *data)
{
    ngx_http_apigw_rl_batch_t  *b = data;

    int                        rc, ok;
    char                       why[128];
    int64_t                    last, value;
    ngx_uint_t                 i, j, refused;
    redisReply                *v;
    const apigw_rl_limit_t    *l;
    ngx_http_apigw_rl_req_t   *rq;
    ngx_http_apigw_rl_slot_t  *slot;

    l = b->limit;
    ok = 0;
    last = 0;

    /* EXEC's replies: ZADD, ZINCRBY[, PEXPIRE] or INCRBY[, PEXPIREAT] */

    if (reply && reply->type == REDIS_REPLY_ARRAY
        && reply->elements >= (l->kind == APIGW_RL_RATE ? 2 : 1))
    {
        if (l->kind == APIGW_RL_RATE) {
            v = reply->element[1];                 /* ZINCRBY: the TAT */

            ok = v->type == REDIS_REPLY_STRING
                 && apigw_rl_redis_number(v->str, v->len, &last) == 0;

        } else {
            v = reply->element[0];                 /* INCRBY: the count */

            if (v->type == REDIS_REPLY_INTEGER) {
                last = v->integer;
                ok = 1;
            }
        }
    }

    /* member j has what it would have had j-th of n one after the other */

    refused = 0;

    for (j = 0; j < b->n; j++) {
        slot = ngx_http_apigw_rl_detach(b, j);

        if (slot == NULL) {
            continue;                          /* the request went away */
        }

        rq = slot->rq;
        i = slot->i;

        rc = -1;
        value = apigw_rl_batch_value(l, last, b->n, j);

        if (ok) {
            rc = l->kind == APIGW_RL_RATE
                 ? apigw_gcra_eval(l, b->now, value, &rq->res[i])
                 : apigw_quota_eval(l, b->now, value, &rq->res[i]);
        }

        if (rc >= 0 && rq->deferred[i]) {
            /* the view is Redis' once the refunds of those before are in */
            ngx_http_apigw_rl_view(rq, i,
                                   value - (int64_t) refused
                                           * apigw_rl_step(l));
        }

        if (rc == 0) {
            refused++;
        }

        if (rc < 0) {
            /*
             * No reply (a timeout): Redis may still run the transaction.
             * A refund sent on the same connection would run after it, so
             * the request can be given back like a counted one when
             * refused.
             */
            rq->counted[i] = (reply == NULL);

            ngx_http_apigw_rl_fail(rq, i,
                                   ngx_http_apigw_rl_why(reply, why,
                                                         sizeof(why)));
        } else {
            rq->counted[i] = 1;

            if (rc == 0) {
                rq->rejected = 1;
            }
        }

        ngx_http_apigw_rl_resume(rq);
    }

    ngx_http_apigw_rl_batch_free(b);
}


/* the request's last limit has decided: the rest of the pipeline */

static void
ngx_http_apigw_rl_resume(ngx_http_apigw_rl_req_t *rq)
{
    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (rq->pending || !rq->suspended) {
        return;
    }

    r = rq->request;
    c = r->connection;

    /* validate, then map and invoke */

    rc = ngx_http_apigw_rl_conclude(rq);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_apigw_validate(r, rq->ctx);
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_apigw_invoke(r);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* Redis did not decide limit i: its on-redis-failure mode does */

static void
ngx_http_apigw_rl_fail(ngx_http_apigw_rl_req_t *rq, ngx_uint_t i,
    const char *why)
{
    int                      nomem;
    apigw_rl_store_t         st;
    const apigw_rl_limit_t  *l;

    l = rq->limits[i];

    ngx_http_apigw_rl_failures++;

    if (ngx_time() - ngx_http_apigw_rl_logged
        >= NGX_HTTP_APIGW_RL_LOG_INTERVAL)
    {
        ngx_log_error(NGX_LOG_WARN, rq->request->connection->log, 0,
                      "apigw: global rate limit without Redis (%s): %ui "
                      "decision(s) made by on-redis-failure since the last "
                      "message", why, ngx_http_apigw_rl_failures);
        ngx_http_apigw_rl_logged = ngx_time();
        ngx_http_apigw_rl_failures = 0;
    }

    switch (l->on_failure) {

    case APIGW_RL_FAIL_OPEN:
        rq->nodata[i] = 1;
        rq->res[i].allowed = 1;
        break;

    case APIGW_RL_FAIL_CLOSED:
        rq->nodata[i] = 1;
        rq->unavailable = 1;
        break;

    default:
        ngx_http_apigw_rl_store(rq->zone, &st);
        st.offline = 1;             /* hybrid ones too: this node alone */

        if (apigw_rl_check(&st, &l, &rq->ident[i], &rq->ilen[i], 1, rq->now,
                           &rq->res[i], &nomem))
        {
            rq->fallback[i] = 1;

        } else {
            rq->rejected = 1;
        }
        break;
    }
}


/*
 * Every limit has decided.  A request turned away consumes nothing: the
 * Redis counters are given back (fire and forget, in the next write) and
 * so are the local ones.
 */

static ngx_int_t
ngx_http_apigw_rl_conclude(ngx_http_apigw_rl_req_t *rq)
{
    ngx_uint_t                  i;
    apigw_rl_store_t            st;
    ngx_http_request_t         *r;
    ngx_http_apigw_rl_batch_t  *b;

    r = rq->request;

    if (!rq->rejected && !rq->unavailable) {
        return NGX_DECLINED;
    }

    ngx_http_apigw_rl_store(rq->zone, &st);

    for (i = 0; i < rq->n; i++) {

        /* the refunds of a pass go together, one command per counter */

        if (rq->counted[i] && ngx_http_apigw_rl_redis
            && ngx_http_apigw_redis_ready(ngx_http_apigw_rl_redis))
        {
            b = ngx_http_apigw_rl_batch(1, rq->limits[i], rq->ident[i],
                                        rq->ilen[i], rq->now);
            if (b) {
                b->n++;
            }
        }

        /* a hybrid view set from Redis' answer gets the refund too */

        if ((rq->fallback[i]
             || (rq->local && rq->limits[i]->store != APIGW_RL_STORE_REDIS
                 && !rq->deferred[i])
             || (rq->deferred[i] && rq->counted[i]))
            && rq->res[i].allowed)
        {
            st.offline = rq->fallback[i] || rq->deferred[i];
            apigw_rl_refund(&st, &rq->limits[i], &rq->ident[i], &rq->ilen[i],
                            1, rq->now);
        }
    }

    if (rq->rejected) {
        return ngx_http_apigw_send_error(r, rq->ctx, 429, "rate_limited");
    }

    return ngx_http_apigw_send_error(r, rq->ctx,
                                     NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "rate_limit_unavailable");
}


static void
ngx_http_apigw_rl_cleanup(void *data)
{
    ngx_http_apigw_rl_req_t  *rq = data;

    ngx_uint_t                  i, j;
    ngx_http_apigw_rl_batch_t  *b;

    /* the batch's reply (or send) passes over a request that went away */

    for (i = 0; i < rq->n; i++) {
        b = rq->slot[i].batch;

        if (b == NULL) {
            continue;
        }

        for (j = 0; j < b->n; j++) {
            if (b->member[j] == &rq->slot[i]) {
                b->member[j] = NULL;
            }
        }

        rq->slot[i].batch = NULL;
    }
}


/* ---- hybrid limits: push and pull ---- */

/* a push that did not leave or was not answered: pending again, queued */

static void
ngx_http_apigw_rl_requeue(ngx_http_apigw_zone_t *zone,
    ngx_http_apigw_rl_node_t *lr)
{
    apigw_rl_hybrid_failed(&lr->st);

    if (!lr->queued) {
        lr->queued = 1;
        ngx_queue_insert_tail(&zone->sh->rl_sync, &lr->sync);
    }
}


/*
 * The sync tick: every state decided here since the last tick is pushed
 * (what this node admitted, as one transaction) or, when nothing was
 * admitted, read; the replies become the new views.  States are taken
 * under the zone lock; the commands are made after it and leave in one
 * write.
 */

static void
ngx_http_apigw_rl_sync(ngx_event_t *ev)
{
    int                          n;
    int64_t                      now;
    ngx_uint_t                   i, k, njobs, nfailed;
    ngx_queue_t                 *q;
    apigw_rl_cmd_t               cmds[APIGW_RL_REDIS_CMDS];
    ngx_http_apigw_zone_t       *zone;
    ngx_http_apigw_rl_job_t     *job;
    ngx_http_apigw_rl_node_t    *lr;
    ngx_http_apigw_redis_cmd_t  *c;
    char                         buf[APIGW_RL_REDIS_BUF + APIGW_RL_MAX_KEY];

    static ngx_http_apigw_rl_job_t  *jobs[NGX_HTTP_APIGW_RL_SYNC_BATCH];

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, ngx_http_apigw_rl_sync_ms);

    zone = ngx_http_apigw_rl_sync_zone;

    if (ngx_http_apigw_rl_redis == NULL
        || !ngx_http_apigw_redis_ready(ngx_http_apigw_rl_redis)
        || ngx_queue_empty(&zone->sh->rl_sync))
    {
        return;                     /* pending waits for Redis */
    }

    now = ngx_http_apigw_rl_now();
    njobs = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < NGX_HTTP_APIGW_RL_SYNC_BATCH; i++) {

        if (ngx_queue_empty(&zone->sh->rl_sync)) {
            break;
        }

        q = ngx_queue_head(&zone->sh->rl_sync);
        lr = ngx_queue_data(q, ngx_http_apigw_rl_node_t, sync);
        ngx_queue_remove(q);

        if (!apigw_rl_hybrid_take(&lr->st, now)) {
            /* the last push is unanswered: this one waits a tick */
            ngx_queue_insert_tail(&zone->sh->rl_sync, q);
            continue;
        }

        lr->queued = 0;

        job = ngx_alloc(offsetof(ngx_http_apigw_rl_job_t, ident) + lr->len,
                        ev->log);
        if (job == NULL) {
            ngx_http_apigw_rl_requeue(zone, lr);
            break;
        }

        ngx_memzero(&job->limit, sizeof(apigw_rl_limit_t));
        job->zone = zone;
        job->limit.kind = lr->kind;
        job->limit.calendar = lr->calendar;
        job->limit.t = lr->t;
        job->limit.dvt = lr->dvt;
        job->st = lr->st;
        job->sent = now;
        job->hash = (uint32_t) lr->node.key;
        job->len = lr->len;
        ngx_memcpy(job->ident, lr->data, lr->len);

        jobs[njobs++] = job;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    nfailed = 0;

    for (i = 0; i < njobs; i++) {
        job = jobs[i];

        n = apigw_rl_redis_sync(&job->limit, job->ident, job->len, &job->st,
                                now, buf, sizeof(buf), cmds);

        job->push = (n > 1);

        for (k = 0; n > 0 && k < (ngx_uint_t) n; k++) {
            c = ngx_http_apigw_redis_command(ngx_http_apigw_rl_redis,
                                             k == (ngx_uint_t) n - 1
                                             ? ngx_http_apigw_rl_synced
                                             : NULL,
                                             k == (ngx_uint_t) n - 1
                                             ? job : NULL,
                                             0, cmds[k].argc, cmds[k].argv,
                                             cmds[k].len);
            if (c == NULL) {
                /* not connected after all: not sent, or not whole */
                n = -1;
            }
        }

        if (n <= 0) {
            jobs[nfailed++] = job;
        }
    }

    if (nfailed == 0) {
        return;
    }

    /* what did not leave is pending again */

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < nfailed; i++) {
        lr = ngx_http_apigw_rl_find(zone, jobs[i]->ident, jobs[i]->len,
                                    jobs[i]->hash);

        if (lr) {
            ngx_http_apigw_rl_requeue(zone, lr);
        }

        ngx_free(jobs[i]);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* the reply to a push or a read: the view of one state */

static void
ngx_http_apigw_rl_synced(redisReply *reply, void *data)
{
    ngx_http_apigw_rl_job_t  *job = data;

    size_t                     k;
    int64_t                    value;
    ngx_int_t                  ok;
    redisReply                *v;
    ngx_http_apigw_zone_t     *zone;
    ngx_http_apigw_rl_node_t  *lr;

    ok = 0;
    value = 0;
    v = reply;

    if (v && job->push) {
        /* EXEC: ZSCORE is the third reply (rates), INCRBY the first */
        k = job->limit.kind == APIGW_RL_RATE ? 2 : 0;
        v = (v->type == REDIS_REPLY_ARRAY && v->elements > k)
            ? v->element[k] : NULL;
    }

    if (v) {
        switch (v->type) {

        case REDIS_REPLY_NIL:
            ok = 1;                             /* Redis has none */
            break;

        case REDIS_REPLY_INTEGER:
            value = v->integer;
            ok = 1;
            break;

        case REDIS_REPLY_STRING:
            ok = apigw_rl_redis_number(v->str, v->len, &value) == 0;
            break;

        default:
            break;
        }
    }

    zone = job->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    lr = ngx_http_apigw_rl_find(zone, job->ident, job->len, job->hash);

    if (lr) {
        if (ok) {
            apigw_rl_hybrid_pulled(&job->limit, &lr->st, value, job->sent,
                                   1);

        } else {
            ngx_http_apigw_rl_requeue(zone, lr);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_free(job);
}


/*
 * A hybrid limit decided by Redis (its view was too old): what Redis
 * holds now, refused requests given back, becomes this node's view.
 */

static void
ngx_http_apigw_rl_view(ngx_http_apigw_rl_req_t *rq, ngx_uint_t i,
    int64_t value)
{
    apigw_rl_state_t        *s;
    const apigw_rl_limit_t  *l;

    l = rq->limits[i];

    if (!rq->res[i].allowed) {
        value -= apigw_rl_step(l);                       /* the refund */
    }

    ngx_shmtx_lock(&rq->zone->shpool->mutex);

    s = ngx_http_apigw_rl_lookup(rq->zone, rq->ident[i], rq->ilen[i],
                                 rq->now);
    if (s) {
        apigw_rl_hybrid_pulled(l, s, value, rq->now, 0);
    }

    ngx_shmtx_unlock(&rq->zone->shpool->mutex);
}


/* ---- response headers ---- */

static ngx_int_t
ngx_http_apigw_rl_add_header(ngx_http_request_t *r, const char *name,
    size_t nlen, u_char *value, size_t vlen)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = nlen;
    h->value.data = value;
    h->value.len = vlen;

    return NGX_OK;
}


#define ngx_http_apigw_rl_hdr(r, name, v, vl)                                \
    ngx_http_apigw_rl_add_header(r, name, sizeof(name) - 1, v, vl)


ngx_int_t
ngx_http_apigw_ratelimit_headers(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx)
{
    u_char                   *p, *buf, *v;
    int64_t                   secs;
    ngx_str_t                 val[4];
    ngx_int_t                 best;
    ngx_uint_t                i;
    apigw_rl_result_t        *res, *b;
    ngx_http_apigw_rl_req_t  *rq;
    static const ngx_str_t    hide[] = {
        ngx_string("ratelimit-limit"), ngx_string("ratelimit-remaining"),
        ngx_string("ratelimit-reset"), ngx_string("ratelimit-policy"),
        ngx_string("x-ratelimit-limit"), ngx_string("x-ratelimit-remaining"),
        ngx_string("x-ratelimit-reset")
    };

    rq = ctx->rl;

    if (rq == NULL || rq->n == 0) {
        return NGX_OK;
    }

    /* the most restrictive: the one that refused, else the lowest
       remaining (ties: the longest reset) */

    best = -1;
    res = rq->res;

    for (i = 0; i < rq->n; i++) {
        if (rq->nodata[i] || res[i].limit == 0) {
            continue;
        }

        if (best < 0) {
            best = i;
            continue;
        }

        b = &res[best];

        if (rq->rejected) {
            if (!res[i].allowed
                && (b->allowed || res[i].retry_after > b->retry_after))
            {
                best = i;
            }
            continue;
        }

        if (res[i].remaining < b->remaining
            || (res[i].remaining == b->remaining && res[i].reset > b->reset))
        {
            best = i;
        }
    }

    if ((rq->rejected || rq->unavailable) && r->headers_out.status >= 400) {
        secs = 1;

        if (best >= 0 && !res[best].allowed) {
            secs = (res[best].retry_after + 999999) / 1000000;
            if (secs < 1) {
                secs = 1;
            }
        }

        v = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (v == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_apigw_rl_hdr(r, "Retry-After", v,
                                  ngx_sprintf(v, "%L", secs) - v)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* a 503 for want of Redis gave the others back: no numbers to tell */

    if (best < 0 || rq->headers == 0
        || (rq->unavailable && !rq->rejected
            && r->headers_out.status == NGX_HTTP_SERVICE_UNAVAILABLE))
    {
        return NGX_OK;
    }

    b = &res[best];

    if (r->upstream) {
        /* the gateway's limit replaces the backend's own headers */
        ngx_http_apigw_hide_out(r, hide, sizeof(hide) / sizeof(hide[0]));
    }

    /* Limit, Remaining, Reset in one buffer; the policies are ready */

    buf = ngx_pnalloc(r->pool, 3 * NGX_INT64_LEN);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = buf;

    val[0].data = p;
    p = ngx_http_apigw_utoa(p, b->limit > 0 ? b->limit : 0);
    val[0].len = p - val[0].data;

    val[1].data = p;
    p = ngx_http_apigw_utoa(p, b->remaining > 0 ? b->remaining : 0);
    val[1].len = p - val[1].data;

    val[2].data = p;
    p = ngx_http_apigw_utoa(p, b->reset > 0 ? (b->reset + 999999) / 1000000
                                            : 0);
    val[2].len = p - val[2].data;

    val[3].data = (u_char *) rq->policy;
    val[3].len = ngx_strlen(rq->policy);

    if ((rq->headers & NGX_HTTP_APIGW_RL_HDR_DRAFT)
        && (ngx_http_apigw_rl_hdr(r, "RateLimit-Limit", val[0].data,
                                  val[0].len) != NGX_OK
            || ngx_http_apigw_rl_hdr(r, "RateLimit-Remaining", val[1].data,
                                     val[1].len) != NGX_OK
            || ngx_http_apigw_rl_hdr(r, "RateLimit-Reset", val[2].data,
                                     val[2].len) != NGX_OK
            || ngx_http_apigw_rl_hdr(r, "RateLimit-Policy", val[3].data,
                                     val[3].len) != NGX_OK))
    {
        return NGX_ERROR;
    }

    if ((rq->headers & NGX_HTTP_APIGW_RL_HDR_X)
        && (ngx_http_apigw_rl_hdr(r, "X-RateLimit-Limit", val[0].data,
                                  val[0].len) != NGX_OK
            || ngx_http_apigw_rl_hdr(r, "X-RateLimit-Remaining", val[1].data,
                                     val[1].len) != NGX_OK
            || ngx_http_apigw_rl_hdr(r, "X-RateLimit-Reset", val[2].data,
                                     val[2].len) != NGX_OK))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_uint_t
ngx_http_apigw_rl_global_limits(void)
{
    return ngx_http_apigw_rl_global;
}
