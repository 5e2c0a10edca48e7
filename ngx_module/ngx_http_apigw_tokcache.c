/*
 * The verified-token cache, in the "apigw_tokens" shared memory zone so
 * that all workers share it: an rbtree keyed by the SHA-256 of the token
 * (and the scheme it was checked for), an LRU queue, entries until the
 * token's exp (or the introspection answer's lifetime), or until the
 * fetched key set that verified them changes (a key withdrawn at the IdP
 * withdraws the tokens it signed).  Expired entries
 * are dropped a few at a time on insert; the oldest is evicted when the
 * zone is full.  The lock is held only for memory work.
 */

#include "ngx_http_apigw_module.h"
#include "ngx_http_apigw_tokcache.h"


#define NGX_HTTP_APIGW_TOKCACHE_SIZE  (4 * 1024 * 1024)


typedef struct {
    ngx_rbtree_node_t           node;
    ngx_queue_t                 queue;
    u_char                      hash[32];
    uint64_t                    scheme;
    time_t                      exp;
    unsigned                    inactive:1;
    unsigned                    introspected:1;
    uint32_t                    gen;
    uint32_t                    sub_len;
    uint32_t                    scopes_len;
    uint32_t                    payload_len;
    u_char                      data[1];
} ngx_http_apigw_tok_node_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
} ngx_http_apigw_tok_sh_t;


typedef struct {
    ngx_http_apigw_tok_sh_t    *sh;
    ngx_slab_pool_t            *shpool;
} ngx_http_apigw_tok_zone_t;


/*
 * Entries are ordered by the token's hash, then by the scheme: one token
 * accepted by several schemes (one IdP in front of many APIs) has an entry
 * for each, and each is found.
 */
static ngx_int_t
ngx_http_apigw_tok_cmp(const u_char *hash, uint64_t scheme,
    ngx_http_apigw_tok_node_t *n)
{
    ngx_int_t  rc;

    rc = ngx_memcmp(hash, n->hash, 32);

    if (rc != 0) {
        return rc;
    }

    if (scheme == n->scheme) {
        return 0;
    }

    return scheme < n->scheme ? -1 : 1;
}


static void
ngx_http_apigw_tok_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_apigw_tok_node_t  *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = (ngx_http_apigw_tok_node_t *) node;
            t = (ngx_http_apigw_tok_node_t *) temp;

            p = (ngx_http_apigw_tok_cmp(n->hash, n->scheme, t) < 0)
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


static ngx_int_t
ngx_http_apigw_tok_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_apigw_tok_zone_t  *octx = data;

    ngx_http_apigw_tok_zone_t  *z;

    z = shm_zone->data;
    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (octx) {
        z->sh = octx->sh;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        z->sh = z->shpool->data;
        return NGX_OK;
    }

    z->sh = ngx_slab_alloc(z->shpool, sizeof(ngx_http_apigw_tok_sh_t));
    if (z->sh == NULL) {
        return NGX_ERROR;
    }

    z->shpool->data = z->sh;
    z->shpool->log_nomem = 0;

    ngx_rbtree_init(&z->sh->rbtree, &z->sh->sentinel,
                    ngx_http_apigw_tok_insert);
    ngx_queue_init(&z->sh->lru);

    return NGX_OK;
}


ngx_shm_zone_t *
ngx_http_apigw_tokcache_zone(ngx_conf_t *cf)
{
    ngx_str_t                   name;
    ngx_shm_zone_t             *zone;
    ngx_http_apigw_tok_zone_t  *z;

    ngx_str_set(&name, "apigw_tokens");

    zone = ngx_shared_memory_add(cf, &name, NGX_HTTP_APIGW_TOKCACHE_SIZE,
                                 &ngx_http_apigw_module);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data == NULL) {
        z = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_tok_zone_t));
        if (z == NULL) {
            return NULL;
        }

        zone->init = ngx_http_apigw_tok_init_zone;
        zone->data = z;
    }

    return zone;
}


static ngx_http_apigw_tok_node_t *
ngx_http_apigw_tok_lookup(ngx_http_apigw_tok_sh_t *sh, uint64_t scheme,
    const u_char *hash)
{
    ngx_int_t                   rc;
    ngx_rbtree_key_t            key;
    ngx_rbtree_node_t          *node, *sentinel;
    ngx_http_apigw_tok_node_t  *n;

    ngx_memcpy(&key, hash, sizeof(key));

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        n = (ngx_http_apigw_tok_node_t *) node;
        rc = ngx_http_apigw_tok_cmp(hash, scheme, n);

        if (rc == 0) {
            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_apigw_tok_delete(ngx_http_apigw_tok_zone_t *z,
    ngx_http_apigw_tok_node_t *n)
{
    ngx_queue_remove(&n->queue);
    ngx_rbtree_delete(&z->sh->rbtree, &n->node);
    ngx_slab_free_locked(z->shpool, n);
}


static ngx_int_t
ngx_http_apigw_tok_copy(ngx_pool_t *pool, ngx_str_t *dst, u_char *src,
    size_t len)
{
    if (len == 0) {
        dst->len = 0;
        dst->data = NULL;
        return NGX_OK;
    }

    dst->data = ngx_pnalloc(pool, len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, len);
    dst->data[len] = '\0';
    dst->len = len;

    return NGX_OK;
}


ngx_int_t
ngx_http_apigw_tokcache_get(ngx_shm_zone_t *zone, ngx_pool_t *pool,
    uint64_t scheme, const u_char *hash, ngx_http_apigw_tokval_t *out)
{
    ngx_int_t                   rc;
    ngx_http_apigw_tok_node_t  *n;
    ngx_http_apigw_tok_zone_t  *z;

    z = zone->data;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_http_apigw_tok_lookup(z->sh, scheme, hash);

    if (n && ngx_time() > n->exp) {
        ngx_http_apigw_tok_delete(z, n);
        n = NULL;
    }

    if (n) {
        ngx_queue_remove(&n->queue);
        ngx_queue_insert_head(&z->sh->lru, &n->queue);

        out->exp = n->exp;
        out->inactive = n->inactive;
        out->introspected = n->introspected;
        out->gen = n->gen;

        if (ngx_http_apigw_tok_copy(pool, &out->sub, n->data, n->sub_len)
               == NGX_OK
            && ngx_http_apigw_tok_copy(pool, &out->scopes,
                                       n->data + n->sub_len, n->scopes_len)
               == NGX_OK
            && ngx_http_apigw_tok_copy(pool, &out->payload,
                                       n->data + n->sub_len + n->scopes_len,
                                       n->payload_len)
               == NGX_OK)
        {
            rc = NGX_OK;

        } else {
            rc = NGX_ERROR;
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


void
ngx_http_apigw_tokcache_put(ngx_shm_zone_t *zone, uint64_t scheme,
    const u_char *hash, ngx_http_apigw_tokval_t *in)
{
    size_t                      size;
    time_t                      now;
    ngx_uint_t                  i;
    ngx_queue_t                *q;
    ngx_http_apigw_tok_node_t  *n;
    ngx_http_apigw_tok_zone_t  *z;

    z = zone->data;
    now = ngx_time();

    size = offsetof(ngx_http_apigw_tok_node_t, data)
           + in->sub.len + in->scopes.len + in->payload.len;

    if (size > NGX_HTTP_APIGW_TOKCACHE_SIZE / 16) {
        return;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    n = ngx_http_apigw_tok_lookup(z->sh, scheme, hash);
    if (n) {
        ngx_http_apigw_tok_delete(z, n);
    }

    /* drop up to two expired entries from the tail */

    for (i = 0; i < 2 && !ngx_queue_empty(&z->sh->lru); i++) {
        q = ngx_queue_last(&z->sh->lru);
        n = ngx_queue_data(q, ngx_http_apigw_tok_node_t, queue);

        if (n->exp >= now) {
            break;
        }

        ngx_http_apigw_tok_delete(z, n);
    }

    n = ngx_slab_alloc_locked(z->shpool, size);

    while (n == NULL && !ngx_queue_empty(&z->sh->lru)) {
        q = ngx_queue_last(&z->sh->lru);
        ngx_http_apigw_tok_delete(z,
            ngx_queue_data(q, ngx_http_apigw_tok_node_t, queue));

        n = ngx_slab_alloc_locked(z->shpool, size);
    }

    if (n == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return;
    }

    ngx_memcpy(&n->node.key, hash, sizeof(ngx_rbtree_key_t));
    ngx_memcpy(n->hash, hash, 32);
    n->scheme = scheme;
    n->exp = in->exp;
    n->inactive = in->inactive;
    n->introspected = in->introspected;
    n->gen = in->gen;
    n->sub_len = (uint32_t) in->sub.len;
    n->scopes_len = (uint32_t) in->scopes.len;
    n->payload_len = (uint32_t) in->payload.len;

    /* empty strings may have no data: memcpy(dst, NULL, 0) is undefined */

    if (in->sub.len) {
        ngx_memcpy(n->data, in->sub.data, in->sub.len);
    }

    if (in->scopes.len) {
        ngx_memcpy(n->data + in->sub.len, in->scopes.data, in->scopes.len);
    }

    if (in->payload.len) {
        ngx_memcpy(n->data + in->sub.len + in->scopes.len,
                   in->payload.data, in->payload.len);
    }

    ngx_rbtree_insert(&z->sh->rbtree, &n->node);
    ngx_queue_insert_head(&z->sh->lru, &n->queue);

    ngx_shmtx_unlock(&z->shpool->mutex);
}
