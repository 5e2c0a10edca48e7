/*
 * apigw: policies bound to plain web actions through the management API
 * (records "webaction:{ns}[/{pkg}[/{action}]]", src/wabind.c), without an
 * OpenAPI document.
 *
 * Every worker compiles the bindings off the request path whenever its
 * store changes, into one immutable table swapped whole (a request keeps
 * the generation it matched until it ends).  A web-action request then
 * runs the credentials and rate-limit stages with the most specific
 * binding's operation (its `security` and `limits`), while the backend
 * stays the web action's.  Bearer schemes take their keys from the
 * apigw_oauth2_provider of their name, else "default"
 * (ngx_http_apigw_auth_prepare()); API keys are the store's
 * (ngx_http_apigw_keyfeed.c) and the keys file's.
 */

#include "ngx_http_apigw_module.h"
#include "ngx_http_apigw_store.h"

#include "auth.h"
#include "wabind.h"


typedef struct {
    ngx_uint_t                  refs;
    apigw_wabtab_t             *tab;
    ngx_pool_t                 *pool;       /* bearer copies */
} ngx_http_apigw_wabind_gen_t;


static void ngx_http_apigw_wabind_changed(const apigw_store_t *s,
    void *data);
static void ngx_http_apigw_wabind_release(void *data);
static json_t *ngx_http_apigw_wabind_effective(json_t *recs,
    const char *tenant, const char *path, json_t *policy, char *limits_of);

/* a binding path's room: "webaction:" and three segments */
#define NGX_HTTP_APIGW_WABIND_KEY  (3 * APIGW_WABIND_MAX_NAME + 16)


static ngx_http_apigw_wabind_gen_t  *ngx_http_apigw_wabind_gen;
/* the binding records the table was built from */
static json_t                       *ngx_http_apigw_wabind_recs;


static ngx_http_apigw_admin_main_conf_t *
ngx_http_apigw_wabind_store(ngx_cycle_t *cycle)
{
    ngx_http_apigw_admin_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_apigw_admin_module);

    return (amcf && amcf->store.len) ? amcf : NULL;
}


ngx_int_t
ngx_http_apigw_wabind_init_process(ngx_cycle_t *cycle)
{
    if ((ngx_process != NGX_PROCESS_WORKER
         && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_http_apigw_wabind_store(cycle) == NULL)
    {
        return NGX_OK;
    }

    return ngx_http_apigw_store_on_change(ngx_http_apigw_wabind_changed,
                                          NULL);
}


/* ---- compiling, off the request path ---- */

static void
ngx_http_apigw_wabind_changed(const apigw_store_t *s, void *data)
{
    char                         *text, buf[512];
    char                          limits_of[NGX_HTTP_APIGW_WABIND_KEY];
    size_t                        i, n, len;
    json_t                       *v, *recs, *eff;
    ngx_log_t                    *log;
    const char                   *k, *tenant, *path;
    apigw_api_t                  *api;
    apigw_problems_t              probs;
    ngx_http_apigw_wabind_gen_t  *g, *old;

    log = ngx_cycle->log;

    /* any change of the store calls here: rebuild only when ours changed */

    recs = json_object();
    if (recs == NULL) {
        return;
    }

    json_object_foreach(apigw_store_records(s), k, v) {
        if (ngx_strncmp(k, "webaction:", 10) == 0) {
            (void) json_object_set(recs, k, v);
        }
    }

    if (ngx_http_apigw_wabind_recs
        && json_equal(recs, ngx_http_apigw_wabind_recs))
    {
        json_decref(recs);
        return;
    }

    n = json_object_size(recs);

    g = NULL;

    if (n) {
        g = ngx_calloc(sizeof(ngx_http_apigw_wabind_gen_t), log);
        if (g == NULL) {
            json_decref(recs);
            return;
        }

        g->refs = 1;
        g->tab = apigw_wabtab_create(n);
        g->pool = ngx_create_pool(1024, log);

        if (g->tab == NULL || g->pool == NULL) {
            ngx_http_apigw_wabind_release(g);
            json_decref(recs);
            return;
        }

        json_object_foreach(recs, k, v) {
            tenant = json_string_value(json_object_get(v, "tenant"));
            path = json_string_value(json_object_get(v, "path"));
            eff = tenant && path
                  ? ngx_http_apigw_wabind_effective(recs, tenant, path,
                                                    json_object_get(v,
                                                                "policy"),
                                                    limits_of)
                  : NULL;
            text = eff ? json_dumps(eff, JSON_COMPACT) : NULL;
            json_decref(eff);

            if (tenant == NULL || path == NULL || text == NULL) {
                free(text);
                ngx_log_error(NGX_LOG_ERR, log, 0, "apigw: invalid stored "
                              "web-action binding \"%s\"", k);
                continue;
            }

            apigw_problems_init(&probs);
            api = apigw_wabind_compile(tenant, path,
                                       limits_of[0] ? limits_of : NULL,
                                       text, ngx_strlen(text), &probs);
            free(text);

            for (i = 0; api == NULL && i < probs.n; i++) {
                len = apigw_problem_format(&probs.items[i], buf, sizeof(buf));
                ngx_log_error(NGX_LOG_ERR, log, 0, "apigw: web-action "
                              "binding \"%s\": %*s", path,
                              ngx_min(len, sizeof(buf) - 1), buf);
            }

            apigw_problems_free(&probs);

            if (api == NULL) {
                continue;
            }

            /* out of memory: its bearer schemes refuse tokens (closed) */
            if (ngx_http_apigw_auth_prepare(g->pool, api) != NGX_OK) {
                ngx_log_error(NGX_LOG_ERR, log, 0, "apigw: web-action "
                              "binding \"%s\": out of memory", path);
            }

            if (apigw_wabtab_add(g->tab, path, tenant, api) != 0) {
                ngx_log_error(NGX_LOG_ERR, log, 0, "apigw: web-action "
                              "binding \"%s\" not installed", path);
            }
        }
    }

    old = ngx_http_apigw_wabind_gen;
    ngx_http_apigw_wabind_gen = g;

    json_decref(ngx_http_apigw_wabind_recs);
    ngx_http_apigw_wabind_recs = recs;

    if (old) {
        ngx_http_apigw_wabind_release(old);
    }
}


/*
 * A binding's policy with what it leaves out taken from its package's and
 * namespace's bindings of the same tenant (apigw_wabind_inherit());
 * limits_of: the path of the binding its rate limits came from, or "".
 */
static json_t *
ngx_http_apigw_wabind_effective(json_t *recs, const char *tenant,
    const char *path, json_t *policy, char *limits_of)
{
    char         key[NGX_HTTP_APIGW_WABIND_KEY], *slash;
    size_t       nup, from, len[2];
    json_t      *up[2], *r, *eff;
    const char  *t;

    nup = 0;
    limits_of[0] = '\0';

    if (ngx_strlen(path) < sizeof(key) - 12) {
        ngx_sprintf((u_char *) key, "webaction:%s%Z", path);

        /* "ns/pkg/action": "ns/pkg", then "ns" (none, or this tenant's) */
        while (nup < 2 && (slash = strrchr(key, '/')) != NULL) {
            *slash = '\0';
            r = json_object_get(recs, key);
            t = json_string_value(json_object_get(r, "tenant"));

            if (r == NULL || (t && ngx_strcmp(t, tenant) == 0)) {
                len[nup] = slash - key - (sizeof("webaction:") - 1);
                up[nup++] = json_object_get(r, "policy");
            }
        }
    }

    eff = apigw_wabind_inherit(policy, up, nup, &from);

    /* the ancestor's path is the start of this one's */
    if (eff && from < nup) {
        ngx_memcpy(limits_of, path, len[from]);
        limits_of[len[from]] = '\0';
    }

    return eff;
}


static void
ngx_http_apigw_wabind_release(void *data)
{
    ngx_http_apigw_wabind_gen_t *g = data;

    if (--g->refs) {
        return;
    }

    apigw_wabtab_free(g->tab);

    if (g->pool) {
        ngx_destroy_pool(g->pool);
    }

    ngx_free(g);
}


/* ---- the request's binding ---- */

ngx_int_t
ngx_http_apigw_wabind(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    apigw_match_t *m, apigw_path_t *path)
{
    size_t                        nslen, pkglen, alen;
    const char                   *ns, *pkg, *act;
    ngx_pool_cleanup_t           *cln;
    const apigw_wabind_t         *b;
    ngx_http_apigw_wabind_gen_t  *g;

    g = ngx_http_apigw_wabind_gen;

    /* OPTIONS is OpenWhisk's, never checked (its default CORS answer) */
    if (g == NULL || (r->method & NGX_HTTP_OPTIONS)) {
        return NGX_OK;
    }

    pkg = NULL;
    act = NULL;
    pkglen = 0;
    alen = 0;

    if (m->op == apigw_webaction_op(m->api, APIGW_WEBACTION_WEB)) {
        /* /api/v1/web/{ns}/{pkg}/{action}... */
        ns = path->seg[3];
        nslen = path->len[3];

        if (path->n > 4) {
            pkg = path->seg[4];
            pkglen = path->len[4];
        }

        if (path->n > 5) {
            act = path->seg[5];
            alen = path->len[5];
        }

    } else {
        /* {ns}.domain/{pkg}/{action}..., {ns}.domain/ */
        ns = m->params[0].value;
        nslen = m->params[0].value_len;

        if (m->op == apigw_webaction_op(m->api,
                                        APIGW_WEBACTION_VANITY_INDEX))
        {
            pkg = "public";
            pkglen = 6;
            act = "index.html";
            alen = 10;

        } else {
            if (path->n > 0) {
                pkg = path->seg[0];
                pkglen = path->len[0];
            }

            if (path->n > 1) {
                act = path->seg[1];
                alen = path->len[1];
            }
        }
    }

    b = apigw_wabtab_match(g->tab, ns, nslen, pkg, pkglen, act, alen);
    if (b == NULL) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    /* the binding outlives a store change until the request ends */
    g->refs++;
    cln->handler = ngx_http_apigw_wabind_release;
    cln->data = g;

    ctx->op = &b->api->ops[0];

    /* apigw's refusals readable by pages, as OpenWhisk's answers are */
    ctx->any_origin = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "apigw web action binding \"%s\"", b->path);

    return NGX_OK;
}
