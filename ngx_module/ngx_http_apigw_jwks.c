/*
 * JWKS kept fresh in the background.  Every jwks_uri and OIDC discovery
 * URL the specs name is a source with a slot in a shared-memory zone: the
 * slot holds the last good JWKS text and a version.  A timer in every
 * worker (twice a second) picks up new versions (parsing the text once into
 * its own keys) and, when a refresh is due, claims the slot's fetch under
 * the zone's mutex so that one worker fetches for all: on schedule
 * (apigw_jwks_refresh), after a failure, and when a token names an unknown
 * kid, but never more often than the minimum interval per source.  Until a
 * first fetch succeeds there are no keys and tokens are refused (401).
 */

#include "ngx_http_apigw_module.h"
#include "ngx_http_apigw_http.h"
#include "ngx_http_apigw_jwks.h"

#include <jansson.h>


#define NGX_HTTP_APIGW_JWKS_SLOTS     64
#define NGX_HTTP_APIGW_JWKS_URL_MAX   1024
#define NGX_HTTP_APIGW_ISSUER_MAX     256
#define NGX_HTTP_APIGW_FETCH_STALE    60       /* a claimed fetch expires */


typedef struct {
    u_char                      hash[32];
    ngx_uint_t                  used;
    ngx_uint_t                  version;
    ngx_uint_t                  fetching;
    ngx_uint_t                  refresh_requested;
    ngx_uint_t                  fetches;
    time_t                      fetch_started;
    time_t                      last_attempt;
    time_t                      next_refresh;
    u_char                     *text;
    size_t                      len;
    size_t                      jwks_url_len;
    size_t                      issuer_len;
    u_char                      jwks_url[NGX_HTTP_APIGW_JWKS_URL_MAX];
    u_char                      issuer[NGX_HTTP_APIGW_ISSUER_MAX];
} ngx_http_apigw_jwks_slot_t;


typedef struct {
    ngx_http_apigw_jwks_slot_t  slots[NGX_HTTP_APIGW_JWKS_SLOTS];
} ngx_http_apigw_jwks_shm_t;


typedef struct {
    ngx_http_apigw_main_conf_t *amcf;
    ngx_http_apigw_jwks_shm_t  *sh;
    ngx_slab_pool_t            *shpool;
} ngx_http_apigw_jwks_zone_t;


struct ngx_http_apigw_jwks_src_s {
    ngx_str_t                   url;
    ngx_http_apigw_url_t        u;
    ngx_uint_t                  discovery;
    u_char                      hash[32];
    ngx_int_t                   slot;          /* -1: none */
    ngx_http_apigw_jwks_zone_t *zone;
    ngx_http_apigw_main_conf_t *amcf;

    /* per worker */
    ngx_uint_t                  version;
    apigw_jwks_t               *keys;
    uint32_t                    gen;           /* the key set's digest */
    char                        issuer[NGX_HTTP_APIGW_ISSUER_MAX];
    ngx_http_apigw_url_t        jwks_u;
    u_char                      jwks_url[NGX_HTTP_APIGW_JWKS_URL_MAX];
    ngx_uint_t                  busy;          /* a fetch of ours runs */
};


static ngx_int_t ngx_http_apigw_jwks_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_apigw_jwks_tick(ngx_event_t *ev);
static void ngx_http_apigw_jwks_fetch(ngx_http_apigw_jwks_src_t *src,
    ngx_http_apigw_url_t *u, ngx_uint_t discovery);
static void ngx_http_apigw_jwks_done(ngx_http_apigw_http_t *h);


static ngx_event_t       ngx_http_apigw_jwks_timer;


char *
ngx_http_apigw_jwks_refresh(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apigw_main_conf_t *amcf = conf;

    time_t      t;
    ngx_str_t  *value;

    if (amcf->jwks_refresh) {
        return "is duplicate";
    }

    value = cf->args->elts;

    t = ngx_parse_time(&value[1], 1);
    if (t == (time_t) NGX_ERROR || t < 1) {
        return "has an invalid interval";
    }

    amcf->jwks_refresh = t;

    if (cf->args->nelts == 3) {
        t = ngx_parse_time(&value[2], 1);
        if (t == (time_t) NGX_ERROR || t < 1) {
            return "has an invalid minimum interval";
        }

        if (t > amcf->jwks_refresh) {
            return "has a minimum interval longer than the interval";
        }

        amcf->jwks_min_refresh = t;
    }

    return NGX_CONF_OK;
}


ngx_http_apigw_jwks_src_t *
ngx_http_apigw_jwks_source(ngx_conf_t *cf, const char *url,
    ngx_uint_t discovery)
{
    char                        *rv;
    ngx_str_t                    name;
    ngx_uint_t                   i;
    ngx_shm_zone_t              *zone;
    ngx_http_apigw_jwks_src_t  **srcs, *src;
    ngx_http_apigw_jwks_zone_t  *z;
    ngx_http_apigw_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apigw_module);

    if (amcf->jwks_sources == NULL) {
        amcf->jwks_sources = ngx_array_create(cf->pool, 4,
                                      sizeof(ngx_http_apigw_jwks_src_t *));
        if (amcf->jwks_sources == NULL) {
            return NULL;
        }

        z = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_jwks_zone_t));
        if (z == NULL) {
            return NULL;
        }

        z->amcf = amcf;

        ngx_str_set(&name, "apigw_jwks");
        zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize
                                     + sizeof(ngx_http_apigw_jwks_shm_t)
                                     + NGX_HTTP_APIGW_JWKS_SLOTS
                                       * APIGW_JWKS_MAX_SIZE / 4,
                                     &ngx_http_apigw_module);
        if (zone == NULL) {
            return NULL;
        }

        zone->init = ngx_http_apigw_jwks_init_zone;
        zone->data = z;
        amcf->jwks_zone = zone;
    }

    srcs = amcf->jwks_sources->elts;

    for (i = 0; i < amcf->jwks_sources->nelts; i++) {
        if (srcs[i]->discovery == discovery
            && srcs[i]->url.len == ngx_strlen(url)
            && ngx_strncmp(srcs[i]->url.data, url, srcs[i]->url.len) == 0)
        {
            return srcs[i];
        }
    }

    if (amcf->jwks_sources->nelts == NGX_HTTP_APIGW_JWKS_SLOTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apigw: more than %d JWKS / discovery URLs",
                           NGX_HTTP_APIGW_JWKS_SLOTS);
        return NULL;
    }

    src = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_jwks_src_t));
    if (src == NULL) {
        return NULL;
    }

    src->url.len = ngx_strlen(url);
    src->url.data = ngx_pstrdup(cf->pool, &(ngx_str_t) { src->url.len,
                                                        (u_char *) url });
    if (src->url.data == NULL) {
        return NULL;
    }

    rv = ngx_http_apigw_url_parse(cf, &src->url, &src->u);
    if (rv != NGX_CONF_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "apigw: %s \"%V\" %s",
                           discovery ? "openIdConnectUrl" : "jwks_uri",
                           &src->url, rv);
        return NULL;
    }

    if (src->u.tls && ngx_http_apigw_http_ssl(cf) == NULL) {
        return NULL;
    }

    src->discovery = discovery;
    src->slot = -1;
    src->amcf = amcf;
    src->zone = amcf->jwks_zone->data;

    /* the slot is keyed by kind and URL, so it survives a reload */
    apigw_sha256(src->url.data, src->url.len, src->hash);
    src->hash[0] ^= (u_char) discovery;

    srcs = ngx_array_push(amcf->jwks_sources);
    if (srcs == NULL) {
        return NULL;
    }

    *srcs = src;

    return src;
}


static ngx_int_t
ngx_http_apigw_jwks_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_apigw_jwks_zone_t *octx = data;

    ngx_uint_t                   i, k, fr;
    ngx_slab_pool_t             *shpool;
    ngx_http_apigw_jwks_src_t  **srcs;
    ngx_http_apigw_jwks_zone_t  *z;
    ngx_http_apigw_jwks_slot_t  *sl;

    z = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    z->shpool = shpool;

    if (octx) {
        z->sh = octx->sh;

    } else if (shm_zone->shm.exists) {
        z->sh = shpool->data;

    } else {
        z->sh = ngx_slab_calloc(shpool, sizeof(ngx_http_apigw_jwks_shm_t));
        if (z->sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = z->sh;
        shpool->log_nomem = 0;
    }

    srcs = z->amcf->jwks_sources->elts;

    ngx_shmtx_lock(&shpool->mutex);

    for (i = 0; i < z->amcf->jwks_sources->nelts; i++) {
        fr = NGX_HTTP_APIGW_JWKS_SLOTS;

        for (k = 0; k < NGX_HTTP_APIGW_JWKS_SLOTS; k++) {
            sl = &z->sh->slots[k];

            if (sl->used && ngx_memcmp(sl->hash, srcs[i]->hash, 32) == 0) {
                break;
            }

            if (!sl->used && fr == NGX_HTTP_APIGW_JWKS_SLOTS) {
                fr = k;
            }
        }

        if (k == NGX_HTTP_APIGW_JWKS_SLOTS) {
            k = fr;

            if (k == NGX_HTTP_APIGW_JWKS_SLOTS) {
                /* every slot taken by URLs of earlier configurations */
                for (k = 0; k < NGX_HTTP_APIGW_JWKS_SLOTS; k++) {
                    if (z->sh->slots[k].fetching == 0) {
                        break;
                    }
                }
            }

            if (k < NGX_HTTP_APIGW_JWKS_SLOTS) {
                sl = &z->sh->slots[k];

                if (sl->text) {
                    ngx_slab_free_locked(shpool, sl->text);
                }

                ngx_memzero(sl, sizeof(ngx_http_apigw_jwks_slot_t));
                ngx_memcpy(sl->hash, srcs[i]->hash, 32);
                sl->used = 1;
            }
        }

        srcs[i]->slot = k < NGX_HTTP_APIGW_JWKS_SLOTS ? (ngx_int_t) k : -1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_http_apigw_jwks_init_process(ngx_cycle_t *cycle)
{
    ngx_http_apigw_main_conf_t  *amcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_apigw_module);

    if (amcf == NULL) {
        return NGX_OK;
    }

    if (ngx_http_apigw_keys_init_process(cycle, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (amcf->jwks_sources == NULL) {
        return NGX_OK;
    }

    if (amcf->jwks_refresh == 0) {
        amcf->jwks_refresh = 300;
    }

    if (amcf->jwks_min_refresh == 0) {
        amcf->jwks_min_refresh = 10;
    }

    ngx_http_apigw_jwks_timer.handler = ngx_http_apigw_jwks_tick;
    ngx_http_apigw_jwks_timer.log = cycle->log;
    ngx_http_apigw_jwks_timer.data = amcf;
    ngx_http_apigw_jwks_timer.cancelable = 1;

    /* the first look right away: keys another worker fetched, or a fetch */
    ngx_add_timer(&ngx_http_apigw_jwks_timer, 1);

    return NGX_OK;
}


static void
ngx_http_apigw_jwks_apply(ngx_http_apigw_jwks_src_t *src, u_char *text,
    size_t len, ngx_uint_t version)
{
    char           err[128];
    apigw_jwks_t  *ks;

    ks = apigw_jwks_parse((char *) text, len, NULL, err, sizeof(err));

    if (ks == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "apigw: JWKS of \"%V\": %s", &src->url, err);
        return;
    }

    apigw_jwks_free(src->keys);
    src->keys = ks;
    src->version = version;
    src->gen = ngx_murmur_hash2(text, len);
}


/* the discovered JWKS URL: same host as the discovery URL, or numeric */
static ngx_int_t
ngx_http_apigw_jwks_discovered_url(ngx_http_apigw_jwks_src_t *src,
    u_char *url, size_t len)
{
    ngx_str_t  s;

    if (src->jwks_u.url.len == len
        && ngx_strncmp(src->jwks_url, url, len) == 0)
    {
        return NGX_OK;
    }

    ngx_memcpy(src->jwks_url, url, len);
    s.data = src->jwks_url;
    s.len = len;

    if (ngx_http_apigw_url_parse_runtime(ngx_cycle->pool, &s, &src->jwks_u)
        == NGX_OK)
    {
        return NGX_OK;
    }

    ngx_memzero(&src->jwks_u, sizeof(ngx_http_apigw_url_t));

    /* reuse the discovery URL's address when the authority matches */

    {
        u_char   *p, *last, *path;
        size_t    skip;

        p = url;
        last = url + len;
        skip = (len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0)
               ? 8 : (len > 7
                      && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
                     ? 7 : 0;

        if (skip == 0 || (skip == 8) != (src->u.tls != 0)) {
            return NGX_ERROR;
        }

        p += skip;
        path = ngx_strlchr(p, last, '/');

        if (path == NULL || (size_t) (path - p) != src->u.host.len
            || ngx_strncasecmp(p, src->u.host.data, src->u.host.len) != 0)
        {
            return NGX_ERROR;
        }

        src->jwks_u = src->u;
        src->jwks_u.url = s;
        src->jwks_u.uri.data = path;
        src->jwks_u.uri.len = last - path;
    }

    return NGX_OK;
}


static void
ngx_http_apigw_jwks_tick(ngx_event_t *ev)
{
    u_char                      *text;
    size_t                       len;
    time_t                       now;
    ngx_uint_t                   i, version, fetch, discovery;
    ngx_http_apigw_url_t        *u;
    ngx_http_apigw_jwks_src_t  **srcs, *src;
    ngx_http_apigw_jwks_slot_t  *sl;
    ngx_http_apigw_main_conf_t  *amcf;

    amcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    now = ngx_time();
    srcs = amcf->jwks_sources->elts;

    for (i = 0; i < amcf->jwks_sources->nelts; i++) {
        src = srcs[i];

        if (src->slot < 0) {
            continue;
        }

        sl = &src->zone->sh->slots[src->slot];
        text = NULL;
        len = 0;
        fetch = 0;
        version = 0;

        ngx_shmtx_lock(&src->zone->shpool->mutex);

        if (sl->version != src->version && sl->text) {
            text = ngx_alloc(sl->len, ev->log);
            if (text) {
                ngx_memcpy(text, sl->text, sl->len);
                len = sl->len;
                version = sl->version;
            }

            if (sl->issuer_len) {
                ngx_memcpy(src->issuer, sl->issuer, sl->issuer_len);
                src->issuer[sl->issuer_len] = '\0';
            }
        }

        if (sl->jwks_url_len
            && ngx_http_apigw_jwks_discovered_url(src, sl->jwks_url,
                                                  sl->jwks_url_len)
               != NGX_OK)
        {
            sl->jwks_url_len = 0;
        }

        if (!src->busy
            && (!sl->fetching
                || now - sl->fetch_started > NGX_HTTP_APIGW_FETCH_STALE)
            && (now >= sl->next_refresh
                || (sl->refresh_requested
                    && now - sl->last_attempt >= amcf->jwks_min_refresh)))
        {
            sl->fetching = 1;
            sl->fetch_started = now;
            sl->last_attempt = now;
            sl->refresh_requested = 0;
            fetch = 1;
        }

        ngx_shmtx_unlock(&src->zone->shpool->mutex);

        if (text) {
            ngx_http_apigw_jwks_apply(src, text, len, version);
            ngx_free(text);
        }

        if (fetch) {
            /* discovery first when the JWKS URL is not known (or due) */
            discovery = src->discovery;
            u = &src->u;
            ngx_http_apigw_jwks_fetch(src, u, discovery);
        }
    }

    ngx_add_timer(ev, 500);
}


static void
ngx_http_apigw_jwks_fetch(ngx_http_apigw_jwks_src_t *src,
    ngx_http_apigw_url_t *u, ngx_uint_t discovery)
{
    ngx_http_apigw_http_t  *h;

    h = ngx_http_apigw_http_create(ngx_cycle->log);
    if (h == NULL) {
        return;
    }

    h->url = u;
    h->ssl = src->amcf->http_ssl;
    h->handler = ngx_http_apigw_jwks_done;
    h->data = src;
    h->max_body = APIGW_JWKS_MAX_SIZE;
    h->timeout = 5000;
    h->content_type.len = discovery;       /* remembered: which step */

    src->busy = 1;

    ngx_http_apigw_http_start(h);
}


static void
ngx_http_apigw_jwks_failed(ngx_http_apigw_jwks_src_t *src, const char *why)
{
    ngx_http_apigw_jwks_slot_t  *sl;

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "apigw: fetching keys from \"%V\" failed: %s; the last "
                  "good keys stay in use", &src->url, why);

    sl = &src->zone->sh->slots[src->slot];

    ngx_shmtx_lock(&src->zone->shpool->mutex);
    sl->fetching = 0;
    sl->next_refresh = ngx_time() + src->amcf->jwks_min_refresh;
    ngx_shmtx_unlock(&src->zone->shpool->mutex);

    src->busy = 0;
}


static void
ngx_http_apigw_jwks_done(ngx_http_apigw_http_t *h)
{
    char                        err[128];
    u_char                     *text;
    size_t                      len;
    json_t                     *doc, *ju, *iss;
    ngx_uint_t                  discovery;
    apigw_jwks_t               *ks;
    ngx_http_apigw_jwks_src_t  *src;
    ngx_http_apigw_jwks_slot_t *sl;

    src = h->data;
    discovery = h->content_type.len;
    sl = &src->zone->sh->slots[src->slot];

    if (h->status != 200) {
        ngx_http_apigw_jwks_failed(src, h->status ? "status not 200"
                                                  : "no response");
        ngx_http_apigw_http_free(h);
        return;
    }

    if (discovery) {
        doc = json_loadb((char *) h->rbody, h->rlen, JSON_REJECT_DUPLICATES,
                         NULL);
        ju = json_object_get(doc, "jwks_uri");
        iss = json_object_get(doc, "issuer");

        if (!json_is_string(ju) || !json_is_string(iss)
            || json_string_length(ju) >= NGX_HTTP_APIGW_JWKS_URL_MAX
            || json_string_length(iss) >= NGX_HTTP_APIGW_ISSUER_MAX
            || ngx_http_apigw_jwks_discovered_url(src,
                                   (u_char *) json_string_value(ju),
                                   json_string_length(ju)) != NGX_OK)
        {
            json_decref(doc);
            ngx_http_apigw_jwks_failed(src, "bad discovery document (a "
                                       "jwks_uri on another host must "
                                       "have a numeric address)");
            ngx_http_apigw_http_free(h);
            return;
        }

        ngx_shmtx_lock(&src->zone->shpool->mutex);
        sl->jwks_url_len = json_string_length(ju);
        ngx_memcpy(sl->jwks_url, json_string_value(ju), sl->jwks_url_len);
        sl->issuer_len = json_string_length(iss);
        ngx_memcpy(sl->issuer, json_string_value(iss), sl->issuer_len);
        ngx_shmtx_unlock(&src->zone->shpool->mutex);

        ngx_memcpy(src->issuer, json_string_value(iss),
                   json_string_length(iss));
        src->issuer[json_string_length(iss)] = '\0';

        json_decref(doc);
        ngx_http_apigw_http_free(h);

        ngx_http_apigw_jwks_fetch(src, &src->jwks_u, 0);
        return;
    }

    ks = apigw_jwks_parse((char *) h->rbody, h->rlen, NULL, err,
                          sizeof(err));
    if (ks == NULL) {
        ngx_http_apigw_jwks_failed(src, err);
        ngx_http_apigw_http_free(h);
        return;
    }

    apigw_jwks_free(ks);

    ngx_shmtx_lock(&src->zone->shpool->mutex);

    text = ngx_slab_alloc_locked(src->zone->shpool, h->rlen);

    if (text) {
        ngx_memcpy(text, h->rbody, h->rlen);

        if (sl->text) {
            ngx_slab_free_locked(src->zone->shpool, sl->text);
        }

        sl->text = text;
        sl->len = h->rlen;
        sl->version++;
        sl->fetches++;
        sl->next_refresh = ngx_time() + src->amcf->jwks_refresh;
    } else {
        sl->next_refresh = ngx_time() + src->amcf->jwks_min_refresh;
    }

    sl->fetching = 0;

    ngx_shmtx_unlock(&src->zone->shpool->mutex);

    src->busy = 0;

    if (text == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "apigw: no room in the \"apigw_jwks\" zone for the "
                      "keys of \"%V\"", &src->url);
        ngx_http_apigw_http_free(h);
        return;
    }

    len = h->rlen;
    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "apigw: keys of \"%V\" refreshed (%uz bytes)", &src->url,
                  len);

    /* use them at once in this worker; the others see the version */
    ngx_shmtx_lock(&src->zone->shpool->mutex);
    text = ngx_alloc(sl->len, ngx_cycle->log);
    if (text) {
        ngx_memcpy(text, sl->text, sl->len);
        len = sl->len;
    }
    discovery = sl->version;
    ngx_shmtx_unlock(&src->zone->shpool->mutex);

    if (text) {
        ngx_http_apigw_jwks_apply(src, text, len, discovery);
        ngx_free(text);
    }

    ngx_http_apigw_http_free(h);
}


apigw_jwks_t *
ngx_http_apigw_jwks_keys(ngx_http_apigw_jwks_src_t *src)
{
    return src->keys;
}


uint32_t
ngx_http_apigw_jwks_gen(ngx_http_apigw_jwks_src_t *src)
{
    return src->gen;
}


const char *
ngx_http_apigw_jwks_issuer(ngx_http_apigw_jwks_src_t *src)
{
    return src->issuer[0] ? src->issuer : NULL;
}


void
ngx_http_apigw_jwks_unknown_kid(ngx_http_apigw_jwks_src_t *src)
{
    ngx_http_apigw_jwks_slot_t  *sl;

    if (src->slot < 0) {
        return;
    }

    sl = &src->zone->sh->slots[src->slot];

    ngx_shmtx_lock(&src->zone->shpool->mutex);
    sl->refresh_requested = 1;
    ngx_shmtx_unlock(&src->zone->shpool->mutex);
}
