/*
 * apigw metrics: counters in a shared-memory zone, written at the end of
 * every data-plane request (log phase: a few atomic adds, one hash
 * lookup), read by `GET /metrics` on the admin listener in the Prometheus
 * text format.
 *
 * Series by tenant, API and operation live in a fixed table (two tenants
 * may give their APIs the same title); when it is full, further ones are
 * counted under api="other", so memory stays bounded.
 */

#include "ngx_http_apigw_store.h"


#define NGX_HTTP_APIGW_M_SERIES    4096
#define NGX_HTTP_APIGW_M_REASONS   64
#define NGX_HTTP_APIGW_M_NAME      96
#define NGX_HTTP_APIGW_M_BUCKETS   12


typedef struct {
    ngx_atomic_t        used;            /* 0 free, 1 claimed, 2 ready */
    uint32_t            hash;
    u_char              tenant[NGX_HTTP_APIGW_M_NAME];
    u_char              api[NGX_HTTP_APIGW_M_NAME];
    u_char              op[NGX_HTTP_APIGW_M_NAME];
    ngx_atomic_t        count[6];        /* 1xx..5xx, other */
} ngx_http_apigw_m_series_t;


typedef struct {
    ngx_atomic_t        used;
    u_char              reason[40];
    ngx_atomic_t        count;
} ngx_http_apigw_m_reason_t;


typedef struct {
    ngx_http_apigw_m_series_t   series[NGX_HTTP_APIGW_M_SERIES];
    ngx_http_apigw_m_reason_t   reasons[NGX_HTTP_APIGW_M_REASONS];
    ngx_atomic_t                bucket[NGX_HTTP_APIGW_M_BUCKETS + 1];
    ngx_atomic_t                latency_ms_sum;
    ngx_atomic_t                latency_count;
    ngx_atomic_t                store_writes;
    ngx_atomic_t                store_errors;
} ngx_http_apigw_m_t;


/* bucket bounds, milliseconds */
static ngx_msec_t  ngx_http_apigw_m_bounds[NGX_HTTP_APIGW_M_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};


static ngx_shm_zone_t  *ngx_http_apigw_m_zone;


static ngx_int_t
ngx_http_apigw_m_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    if (data) {
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    zone->data = ngx_slab_calloc(shpool, sizeof(ngx_http_apigw_m_t));
    if (zone->data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_apigw_metrics_zone(ngx_conf_t *cf)
{
    ngx_str_t  name;

    ngx_str_set(&name, "apigw_metrics");

    ngx_http_apigw_m_zone = ngx_shared_memory_add(cf, &name,
                                 sizeof(ngx_http_apigw_m_t) + 64 * 1024,
                                 &ngx_http_apigw_admin_module);
    if (ngx_http_apigw_m_zone == NULL) {
        return NGX_ERROR;
    }

    ngx_http_apigw_m_zone->init = ngx_http_apigw_m_init_zone;

    return NGX_OK;
}


static ngx_http_apigw_m_t *
ngx_http_apigw_m(void)
{
    return ngx_http_apigw_m_zone ? ngx_http_apigw_m_zone->data : NULL;
}


/* a label's length in a series: cut on whole UTF-8 characters, as a
   scrape must stay UTF-8 */
static size_t
ngx_http_apigw_m_cut(ngx_str_t *name)
{
    size_t  n;

    n = ngx_min(name->len, NGX_HTTP_APIGW_M_NAME - 1);

    while (n && n < name->len && (name->data[n] & 0xc0) == 0x80) {
        n--;
    }

    return n;
}


static ngx_http_apigw_m_series_t *
ngx_http_apigw_m_series(ngx_http_apigw_m_t *m, ngx_str_t *tenant,
    ngx_str_t *api, ngx_str_t *op)
{
    size_t                      tl, al, ol;
    uint32_t                    hash;
    ngx_uint_t                  i, n;
    ngx_http_apigw_m_series_t  *s;

    tl = ngx_http_apigw_m_cut(tenant);
    al = ngx_http_apigw_m_cut(api);
    ol = ngx_http_apigw_m_cut(op);

    ngx_crc32_init(hash);
    ngx_crc32_update(&hash, tenant->data, tl);
    ngx_crc32_update(&hash, (u_char *) "\0", 1);
    ngx_crc32_update(&hash, api->data, al);
    ngx_crc32_update(&hash, (u_char *) "\0", 1);
    ngx_crc32_update(&hash, op->data, ol);
    ngx_crc32_final(hash);

    for (n = 0; n < 64; n++) {
        i = (hash + n) % NGX_HTTP_APIGW_M_SERIES;
        s = &m->series[i];

        if (s->used == 2) {
            if (s->hash == hash
                && ngx_strncmp(s->tenant, tenant->data, tl) == 0
                && s->tenant[tl] == '\0'
                && ngx_strncmp(s->api, api->data, al) == 0
                && s->api[al] == '\0'
                && ngx_strncmp(s->op, op->data, ol) == 0
                && s->op[ol] == '\0')
            {
                return s;
            }

            continue;
        }

        if (s->used == 0 && ngx_atomic_cmp_set(&s->used, 0, 1)) {
            s->hash = hash;
            ngx_memcpy(s->tenant, tenant->data, tl);
            s->tenant[tl] = '\0';
            ngx_memcpy(s->api, api->data, al);
            s->api[al] = '\0';
            ngx_memcpy(s->op, op->data, ol);
            s->op[ol] = '\0';
            ngx_memory_barrier();
            s->used = 2;
            return s;
        }
    }

    return NULL;
}


static void
ngx_http_apigw_m_reason(ngx_http_apigw_m_t *m, ngx_str_t *reason)
{
    size_t                      len;
    ngx_uint_t                  i;
    ngx_http_apigw_m_reason_t  *e;

    len = ngx_min(reason->len, sizeof(e->reason) - 1);

    for (i = 0; i < NGX_HTTP_APIGW_M_REASONS; i++) {
        e = &m->reasons[i];

        if (e->used == 2) {
            if (ngx_strncmp(e->reason, reason->data, len) == 0
                && e->reason[len] == '\0')
            {
                (void) ngx_atomic_fetch_add(&e->count, 1);
                return;
            }

            continue;
        }

        if (e->used == 0 && ngx_atomic_cmp_set(&e->used, 0, 1)) {
            ngx_memcpy(e->reason, reason->data, len);
            e->reason[len] = '\0';
            ngx_memory_barrier();
            e->used = 2;
            (void) ngx_atomic_fetch_add(&e->count, 1);
            return;
        }
    }
}


/* log phase: one data-plane request */
ngx_int_t
ngx_http_apigw_metrics_log(ngx_http_request_t *r)
{
    ngx_str_t                   tenant, api, op, other;
    ngx_msec_t                  ms;
    ngx_uint_t                  i, cls;
    ngx_http_apigw_m_t         *m;
    ngx_http_apigw_ctx_t       *ctx;
    ngx_http_upstream_state_t  *st;
    ngx_http_apigw_m_series_t  *s;

    m = ngx_http_apigw_m();
    if (m == NULL || r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_apigw_get_ctx(r);
    if (ctx == NULL || ctx->request_id.len == 0) {
        return NGX_OK;
    }

    if (ctx->opx) {
        api = ctx->opx->api_name;
        op = ctx->opx->op_name;

    } else if (ctx->api) {
        api.data = (u_char *) (ctx->api->title ? ctx->api->title : "");
        api.len = ngx_strlen(api.data);
        ngx_str_set(&op, "");

    } else {
        ngx_str_set(&api, "");
        ngx_str_set(&op, "");
    }

    if (ctx->tenant.len) {
        tenant = ctx->tenant;

    } else {
        ngx_str_set(&tenant, "");           /* a spec's API; data not NULL */
    }

    s = ngx_http_apigw_m_series(m, &tenant, &api, &op);

    if (s == NULL) {
        ngx_str_set(&other, "other");
        s = ngx_http_apigw_m_series(m, &other, &other, &other);
    }

    cls = r->headers_out.status / 100;
    cls = (cls >= 1 && cls <= 5) ? cls - 1 : 5;

    if (s) {
        (void) ngx_atomic_fetch_add(&s->count[cls], 1);
    }

    if (ctx->reason.len) {
        ngx_http_apigw_m_reason(m, &ctx->reason);
    }

    if (r->upstream_states && r->upstream_states->nelts) {
        st = r->upstream_states->elts;
        ms = 0;

        for (i = 0; i < r->upstream_states->nelts; i++) {
            if (st[i].status) {
                ms += st[i].response_time;
            }
        }

        for (i = 0; i < NGX_HTTP_APIGW_M_BUCKETS; i++) {
            if (ms <= ngx_http_apigw_m_bounds[i]) {
                break;
            }
        }

        (void) ngx_atomic_fetch_add(&m->bucket[i], 1);
        (void) ngx_atomic_fetch_add(&m->latency_ms_sum, ms);
        (void) ngx_atomic_fetch_add(&m->latency_count, 1);
    }

    return NGX_OK;
}


void
ngx_http_apigw_metrics_store(ngx_uint_t ok)
{
    ngx_http_apigw_m_t  *m;

    m = ngx_http_apigw_m();
    if (m == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(ok ? &m->store_writes : &m->store_errors, 1);
}


/* a label value: \, " and newline escaped */
static u_char *
ngx_http_apigw_m_label(u_char *p, u_char *s)
{
    for ( /* void */ ; *s; s++) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = *s;

        } else if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = *s;
        }
    }

    return p;
}


/* the Prometheus text; NULL on allocation failure */
ngx_buf_t *
ngx_http_apigw_metrics_text(ngx_http_request_t *r, uint64_t version)
{
    u_char                     *p;
    size_t                      len;
    uint64_t                    cum;
    ngx_buf_t                  *b;
    ngx_uint_t                  i, c;
    ngx_http_apigw_m_t         *m;
    static const char          *classes[6] = {
        "1xx", "2xx", "3xx", "4xx", "5xx", "other"
    };

    m = ngx_http_apigw_m();

    len = 4096 + NGX_HTTP_APIGW_M_REASONS * 128
          + NGX_HTTP_APIGW_M_BUCKETS * 96;

    if (m) {
        for (i = 0; i < NGX_HTTP_APIGW_M_SERIES; i++) {
            if (m->series[i].used == 2) {
                /* three labels, each at worst escaped to twice its size */
                len += 6 * (128 + 6 * NGX_HTTP_APIGW_M_NAME);
            }
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    p = ngx_sprintf(p, "# HELP apigw_config_version The version of the "
                    "configuration this worker serves.\n"
                    "# TYPE apigw_config_version gauge\n"
                    "apigw_config_version %uL\n", version);

    if (m == NULL) {
        b->last = p;
        return b;
    }

    p = ngx_sprintf(p, "# HELP apigw_requests_total Data-plane requests "
                    "by tenant, API, operation and status class.\n"
                    "# TYPE apigw_requests_total counter\n");

    for (i = 0; i < NGX_HTTP_APIGW_M_SERIES; i++) {
        if (m->series[i].used != 2) {
            continue;
        }

        for (c = 0; c < 6; c++) {
            if (m->series[i].count[c] == 0) {
                continue;
            }

            p = ngx_cpymem(p, "apigw_requests_total{tenant=\"", 29);
            p = ngx_http_apigw_m_label(p, m->series[i].tenant);
            p = ngx_cpymem(p, "\",api=\"", 7);
            p = ngx_http_apigw_m_label(p, m->series[i].api);
            p = ngx_cpymem(p, "\",operation=\"", 13);
            p = ngx_http_apigw_m_label(p, m->series[i].op);
            p = ngx_sprintf(p, "\",class=\"%s\"} %uA\n", classes[c],
                            m->series[i].count[c]);
        }
    }

    p = ngx_sprintf(p, "# HELP apigw_denials_total Requests apigw answered "
                    "itself with an error, by reason.\n"
                    "# TYPE apigw_denials_total counter\n");

    for (i = 0; i < NGX_HTTP_APIGW_M_REASONS; i++) {
        if (m->reasons[i].used == 2) {
            p = ngx_cpymem(p, "apigw_denials_total{reason=\"", 28);
            p = ngx_http_apigw_m_label(p, m->reasons[i].reason);
            p = ngx_sprintf(p, "\"} %uA\n", m->reasons[i].count);
        }
    }

    p = ngx_sprintf(p, "# HELP apigw_backend_latency_seconds Backend "
                    "response time.\n"
                    "# TYPE apigw_backend_latency_seconds histogram\n");

    cum = 0;

    for (i = 0; i < NGX_HTTP_APIGW_M_BUCKETS; i++) {
        cum += m->bucket[i];
        p = ngx_sprintf(p, "apigw_backend_latency_seconds_bucket"
                        "{le=\"%ui.%03ui\"} %uL\n",
                        ngx_http_apigw_m_bounds[i] / 1000,
                        ngx_http_apigw_m_bounds[i] % 1000, cum);
    }

    cum += m->bucket[NGX_HTTP_APIGW_M_BUCKETS];

    p = ngx_sprintf(p, "apigw_backend_latency_seconds_bucket{le=\"+Inf\"} "
                    "%uL\n"
                    "apigw_backend_latency_seconds_sum %uA.%03uA\n"
                    "apigw_backend_latency_seconds_count %uA\n",
                    cum, m->latency_ms_sum / 1000, m->latency_ms_sum % 1000,
                    m->latency_count);

    p = ngx_sprintf(p, "# HELP apigw_store_operations_total Store writes "
                    "by result.\n"
                    "# TYPE apigw_store_operations_total counter\n"
                    "apigw_store_operations_total{result=\"ok\"} %uA\n"
                    "apigw_store_operations_total{result=\"error\"} %uA\n"
                    "# HELP apigw_store_errors_total Store writes that "
                    "failed.\n"
                    "# TYPE apigw_store_errors_total counter\n"
                    "apigw_store_errors_total %uA\n",
                    m->store_writes, m->store_errors, m->store_errors);

    b->last = p;

    return b;
}
