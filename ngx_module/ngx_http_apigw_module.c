/*
 * apigw: OpenAPI documents as a front door for serverless web actions.
 *
 * This file holds the directives, the configuration lifecycle, the content
 * handler (route, preflight, map, hand over to the proxy module), the
 * variables, and the header/body filters that add X-Request-ID and CORS
 * and turn nginx's own error pages into JSON.  The gateway logic itself
 * lives in the core (src/, openapi/), which knows nothing of nginx.
 */

#include "ngx_http_apigw_module.h"
#include "ngx_http_apigw_ratelimit.h"
#include "ngx_http_apigw_thread.h"

#include <openssl/rand.h>
#if (NGX_LINUX)
#include <malloc.h>
#endif


#define NGX_HTTP_APIGW_DEFAULT_CA  "/etc/ssl/certs/ca-certificates.crt"
#define NGX_HTTP_APIGW_CORS_METHODS                                          \
    "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS"
#define NGX_HTTP_APIGW_REQUEST_ID_MAX  200


static ngx_int_t ngx_http_apigw_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_init_process(ngx_cycle_t *cycle);
static void ngx_http_apigw_exit_process(ngx_cycle_t *cycle);
static void ngx_http_apigw_new_request_id(u_char *p);
static void ngx_http_apigw_hex64(u_char *p, uint64_t v);
static ngx_int_t ngx_http_apigw_create_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_process_status(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_hide_backend(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf);
static void ngx_http_apigw_client_request_line(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx);
static const apigw_cors_t *ngx_http_apigw_preflight_cors(
    ngx_http_request_t *r, apigw_match_t *m, const apigw_path_t *path);
static ngx_int_t ngx_http_apigw_preflight(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx, apigw_match_t *m, const apigw_cors_t *cors);
static ngx_int_t ngx_http_apigw_request_id(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf, ngx_http_apigw_ctx_t *ctx);
static ngx_int_t ngx_http_apigw_backend_headers(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf, const apigw_backend_t *b);
static ngx_uint_t ngx_http_apigw_is_request_id(
    ngx_http_apigw_loc_conf_t *alcf, const char *name, size_t len);
static ngx_uint_t ngx_http_apigw_hop_by_hop(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf, ngx_table_elt_t *h);
static ngx_table_elt_t *ngx_http_apigw_find_header(ngx_http_request_t *r,
    const char *lc, size_t len);
static ngx_int_t ngx_http_apigw_add_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_apigw_cors_origin(ngx_http_request_t *r,
    const apigw_cors_t *cors, ngx_str_t *origin, ngx_uint_t *vary);
static ngx_int_t ngx_http_apigw_cors_headers(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx, const apigw_cors_t *cors);
static void ngx_http_apigw_strip_cors(ngx_http_request_t *r);
static ngx_buf_t *ngx_http_apigw_error_body(ngx_http_request_t *r,
    ngx_uint_t status, const char *message, ngx_str_t *request_id);

static ngx_int_t ngx_http_apigw_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_apigw_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);

static ngx_int_t ngx_http_apigw_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_apigw_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_apigw_init(ngx_conf_t *cf);
static void *ngx_http_apigw_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_apigw_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_apigw_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_apigw_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_apigw_compile(ngx_conf_t *cf,
    ngx_http_apigw_loc_conf_t *alcf);
static char *ngx_http_apigw_backend_conf(ngx_conf_t *cf,
    ngx_http_apigw_loc_conf_t *alcf);
static void ngx_http_apigw_cleanup(void *data);
#if (NGX_HTTP_SSL)
static char *ngx_http_apigw_trust(ngx_conf_t *cf, ngx_ssl_t *ssl,
    ngx_str_t *file);
#endif

static char *ngx_http_apigw(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_apigw_spec(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_apigw_keepalive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/*
 * What the proxy module is told in every apigw location.  The URL is fixed,
 * not a variable: a variable URL costs a script run, a URL parse and a
 * search of all upstream{} blocks per request.  apigw's balancer picks the
 * peer, the request line gets the backend's path and method (see
 * ngx_http_apigw_invoke()), and the balancer turns TLS off for plain http
 * backends; "https" here only makes the proxy module create the location's
 * SSL context with its own defaults and the proxy_ssl_* directives.
 */
static ngx_str_t  ngx_http_apigw_proxy_conf = ngx_string(
#if (NGX_HTTP_SSL)
    "proxy_pass https://" NGX_HTTP_APIGW_UPSTREAM ";"
    "proxy_ssl_server_name on;"
    "proxy_ssl_name $apigw_backend_sni;"
#else
    "proxy_pass http://" NGX_HTTP_APIGW_UPSTREAM ";"
#endif
    "proxy_http_version 1.1;"
    "proxy_request_buffering off;"
    "proxy_set_header Host $apigw_backend_host;"
    "proxy_set_header Connection \"\";"
    "proxy_set_header Proxy-Connection \"\";"
    "proxy_set_header Proxy-Authorization \"\";"
    "proxy_set_header Trailer \"\";"
    "proxy_set_header X-Real-IP \"\";"
    /*
     * a backend (any web action's headers) must not steer nginx: an
     * internal redirect reaches the server's internal locations; only
     * X-Accel-Buffering (streaming answers) is honoured
     */
    "proxy_ignore_headers X-Accel-Redirect X-Accel-Expires "
    "X-Accel-Limit-Rate X-Accel-Charset;"
);


static ngx_http_apigw_error_t  ngx_http_apigw_errors[] = {
    { 400, "bad_request", "Error: Bad request." },
    { 401, "unauthorized", "Error: Unauthorized" },
    { 403, "forbidden", "Error: Forbidden." },
    { 404, "not_found", "Error: Not found." },
    { 405, "method_not_allowed", "Error: Method not allowed." },
    { 408, "request_timeout", "Error: Request timed out." },
    { 411, "length_required", "Error: Length required." },
    { 413, "body_too_large", "Error: Request body too large." },
    { 414, "uri_too_long", "Error: Request URI too long." },
    { 429, "rate_limited", "Error: Rate limit exceeded" },
    { 431, "headers_too_large", "Error: Request headers too large." },
    { 494, "headers_too_large", "Error: Request headers too large." },
    { 500, "internal_error", "Error: Internal server error." },
    { 501, "not_implemented", "Error: Not implemented." },
    { 502, "backend_unavailable", "Error: Backend unavailable." },
    { 503, "unavailable", "Error: Service unavailable." },
    { 504, "backend_timeout", "Error: Backend timed out." },
    { 0, "error", "Error: Request failed." }
};


/* reasons whose message says more than their status's */
static ngx_http_apigw_error_t  ngx_http_apigw_reason_errors[] = {
    { 400, "bad_path", "Error: Invalid request path." },
    { 400, "bad_mapping", "Error: The request cannot be mapped for the "
                          "backend." },
    { 403, "cors_origin", "Error: Origin not allowed." },
    { 501, "no_backend", "Error: The operation has no backend." },
    { 0, NULL, NULL }
};


/* values nginx -t refuses rather than requests failing on them */
static char *ngx_http_apigw_header_name_post(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_apigw_positive_post(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_apigw_base_url_post(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_apigw_size_post(ngx_conf_t *cf, void *post,
    void *data);

static ngx_conf_post_t  ngx_http_apigw_header_name_p =
    { ngx_http_apigw_header_name_post };
ngx_conf_post_t  ngx_http_apigw_positive_p =
    { ngx_http_apigw_positive_post };
ngx_conf_post_t  ngx_http_apigw_base_url_p =
    { ngx_http_apigw_base_url_post };
ngx_conf_post_t  ngx_http_apigw_size_p =
    { ngx_http_apigw_size_post };


static ngx_command_t  ngx_http_apigw_commands[] = {

    { ngx_string("apigw"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_apigw,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_spec"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_apigw_spec,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_openwhisk_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, openwhisk_url),
      &ngx_http_apigw_base_url_p },

    { ngx_string("apigw_backend_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, backend_timeout),
      &ngx_http_apigw_positive_p },

    { ngx_string("apigw_backend_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, backend_connect_timeout),
      &ngx_http_apigw_positive_p },

    { ngx_string("apigw_backend_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, ssl_verify),
      NULL },

    { ngx_string("apigw_backend_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, ssl_trusted_certificate),
      NULL },

    { ngx_string("apigw_backend_keepalive"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apigw_keepalive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_request_id_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, request_id_header),
      &ngx_http_apigw_header_name_p },

    { ngx_string("apigw_web_actions"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, web_actions),
      NULL },

    { ngx_string("apigw_vanity_domain"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_apigw_vanity_domain,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_apigw_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_apigw_rate_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_rate_limit_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_apigw_rate_limit_headers,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_limit_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apigw_limit_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_limit_sync"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apigw_limit_sync,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_keys_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_apigw_keys_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_validate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, validate),
      NULL },

    { ngx_string("apigw_validate_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, validate_body_max),
      &ngx_http_apigw_size_p },

    { ngx_string("apigw_strip_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, strip_credentials),
      NULL },

    { ngx_string("apigw_token_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_apigw_loc_conf_t, token_cache),
      NULL },

    { ngx_string("apigw_identity_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_apigw_identity_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_oauth2_provider"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_apigw_oauth2_provider,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_auth_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_apigw_main_conf_t, http_trusted),
      NULL },

    { ngx_string("apigw_jwks_refresh"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_apigw_jwks_refresh,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("apigw_balancer"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS,
      ngx_http_apigw_balancer,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_apigw_module_ctx = {
    ngx_http_apigw_add_variables,          /* preconfiguration */
    ngx_http_apigw_init,                   /* postconfiguration */

    ngx_http_apigw_create_main_conf,       /* create main configuration */
    ngx_http_apigw_init_main_conf,         /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_apigw_create_loc_conf,        /* create location configuration */
    ngx_http_apigw_merge_loc_conf          /* merge location configuration */
};


ngx_module_t  ngx_http_apigw_module = {
    NGX_MODULE_V1,
    &ngx_http_apigw_module_ctx,            /* module context */
    ngx_http_apigw_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_apigw_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_apigw_exit_process,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_APIGW_VAR_BACKEND_URL = 0,
    NGX_HTTP_APIGW_VAR_BACKEND_HOST,
    NGX_HTTP_APIGW_VAR_BACKEND_SNI,
    NGX_HTTP_APIGW_VAR_BACKEND_METHOD,
    NGX_HTTP_APIGW_VAR_REQUEST_ID,
    NGX_HTTP_APIGW_VAR_API,
    NGX_HTTP_APIGW_VAR_OPERATION,
    NGX_HTTP_APIGW_VAR_REASON,
    NGX_HTTP_APIGW_VAR_FORWARDED_URL,
    NGX_HTTP_APIGW_VAR_TENANT,
    NGX_HTTP_APIGW_VAR_CONSUMER,
    NGX_HTTP_APIGW_VAR_TOKEN_CACHE
};


static ngx_http_variable_t  ngx_http_apigw_vars[] = {

    { ngx_string("apigw_backend_url"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_BACKEND_URL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_backend_host"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_BACKEND_HOST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_backend_sni"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_BACKEND_SNI, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_backend_method"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_BACKEND_METHOD, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_request_id"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_REQUEST_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_api"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_API, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_operation"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_OPERATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_reason"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_forwarded_url"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_FORWARDED_URL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_tenant"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_TENANT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_consumer"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_CONSUMER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_token_cache"), NULL, ngx_http_apigw_variable,
      NGX_HTTP_APIGW_VAR_TOKEN_CACHE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* a built-in module of every nginx that has the proxy_* directives */
extern ngx_module_t  ngx_http_proxy_module;


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_http_apigw_ctx_t *
ngx_http_apigw_get_ctx(ngx_http_request_t *r)
{
    return ngx_http_get_module_ctx(r, ngx_http_apigw_module);
}


static ngx_http_apigw_ctx_t *
ngx_http_apigw_ensure_ctx(ngx_http_request_t *r)
{
    ngx_http_apigw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_apigw_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_apigw_module);
    }

    return ctx;
}


/* ---- the content handler ---- */

static ngx_int_t
ngx_http_apigw_handler(ngx_http_request_t *r)
{
    u_char                     *raw, *q, *scratch;
    size_t                      len, first;
    ngx_int_t                   rc;
    apigw_path_t                path;
    apigw_match_t               m;
    apigw_method_e              method;
    const apigw_cors_t         *cors;
    ngx_http_apigw_ctx_t       *ctx;
    ngx_http_apigw_loc_conf_t  *alcf;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "apigw handler");

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apigw_module);

    ctx = ngx_http_apigw_ensure_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_apigw_request_id(r, alcf, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * Match on the path as received: nginx's $uri has %2F decoded into a
     * separator already, and the core must keep it inside its segment.
     */

    if (r->valid_unparsed_uri) {
        raw = r->unparsed_uri.data;
        len = r->unparsed_uri.len;

        q = ngx_strlchr(raw, raw + len, '?');
        if (q) {
            len = q - raw;
        }

    } else {
        raw = r->uri.data;
        len = r->uri.len;
    }

    scratch = ngx_pnalloc(r->pool, len + 1);
    if (scratch == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = apigw_path_parse((char *) raw, len, (char *) scratch, &path);

    if (rc == APIGW_PATH_INVALID) {
        return ngx_http_apigw_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                         "bad_path");
    }

    if (rc != APIGW_PATH_OK) {
        return ngx_http_apigw_send_error(r, ctx, NGX_HTTP_NOT_FOUND, NULL);
    }

    method = apigw_method_parse((char *) r->method_name.data,
                                r->method_name.len);

    first = 0;

    if (alcf->vanity_domains
        && ngx_http_apigw_vanity(r, alcf, &path, &m) == NGX_OK)
    {
        goto matched;
    }

    apigw_router_match(alcf->router, method, &path, 0, &m);

    /* a tenant's custom domain: its APIs without /api/{tenant} */
    if (m.status == 404
        && ngx_http_apigw_domain_match(r, method, &path, &m, &ctx->tenant)
           == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* /api/{tenant}/...: the dynamic APIs of the store */
    if (m.status == 404
        && ngx_http_apigw_dyn_match(r, method, &path, &m, &first)
           == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (m.status == 404 && alcf->web_actions == 1
        && apigw_webaction_path(&path))
    {
        /* /api/v1/web/... that no API claims: the plain web action */
        m.status = 0;
        m.api = alcf->webaction_api;
        m.op = apigw_webaction_op(alcf->webaction_api, APIGW_WEBACTION_WEB);
        m.nparams = 0;
        m.rt = NULL;
        first = 3;
    }

matched:

    ctx->api = m.api;

    /* the credentials stage hides them itself when it runs */
    if (r->args.len
        && (m.status
            || (m.api && m.api->auth
                && (m.op->ext == NULL || m.op->security == NULL
                    || (r->method & NGX_HTTP_OPTIONS))))
        && ngx_http_apigw_redact_request(r, m.api) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if ((r->method & NGX_HTTP_OPTIONS) && m.api) {
        cors = ngx_http_apigw_preflight_cors(r, &m, &path);

        if (cors && cors->mode == APIGW_CORS_ENABLED) {
            return ngx_http_apigw_preflight(r, ctx, &m, cors);
        }
    }

    if (m.status == 404) {
        /* a node that could not read its Redis store yet knows no API */
        if (ngx_http_apigw_store_unread()) {
            return ngx_http_apigw_send_error(r, ctx,
                                             NGX_HTTP_SERVICE_UNAVAILABLE,
                                             "store_unread");
        }

        return ngx_http_apigw_send_error(r, ctx, NGX_HTTP_NOT_FOUND, NULL);
    }

    if (m.status == 405) {
        u_char     buf[128];
        ngx_str_t  allow;

        allow.data = buf;
        allow.len = apigw_allow_format(m.allow, (char *) buf, sizeof(buf));

        if (allow.len > sizeof(buf)) {
            allow.len = 0;
        }

        allow.data = ngx_pstrdup(r->pool, &allow);
        if (allow.data == NULL
            || ngx_http_apigw_add_header(r, "Allow", &allow) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_apigw_send_error(r, ctx, NGX_HTTP_NOT_ALLOWED, NULL);
    }

    ctx->op = m.op;
    ctx->opx = m.op->ext;

    if (ctx->opx == NULL) {
        return ngx_http_apigw_send_error(r, ctx, NGX_HTTP_NOT_IMPLEMENTED,
                                         "no_backend");
    }

    /* a web action: the policies bound to it through the management API */
    if (m.api == alcf->webaction_api
        && ngx_http_apigw_wabind(r, ctx, &m, &path) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->match = &m;
    ctx->path = &path;
    ctx->match_kept = 0;
    ctx->path_first = first;

    /* authenticate, rate-limit, validate: each may answer or wait */

    rc = ngx_http_apigw_auth(r, ctx, alcf);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_apigw_ratelimit(r, ctx);
    }

    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_apigw_validate(r, ctx);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_apigw_invoke(r);
    }

    if (ctx->match == &m) {
        /* not kept by a stage that waits: do not leave stack pointers */
        ctx->match = NULL;
        ctx->path = NULL;
    }

    return rc;
}


/*
 * For a stage that waits (a body to read, a Redis answer): the router's
 * result moves from the handler's stack into the request's pool.  Only
 * the segments and parameters in use are copied, not the whole arrays
 * (2 KB).  The segments themselves are in the pool already.
 */
ngx_int_t
ngx_http_apigw_keep_match(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx)
{
    apigw_path_t   *path;
    apigw_match_t  *m;

    if (!ctx->match_kept) {
        m = ngx_palloc(r->pool, sizeof(apigw_match_t));
        path = ngx_palloc(r->pool, sizeof(apigw_path_t));

        if (m == NULL || path == NULL) {
            return NGX_ERROR;
        }

        m->status = ctx->match->status;
        m->op = ctx->match->op;
        m->api = ctx->match->api;
        m->allow = ctx->match->allow;
        m->nparams = ctx->match->nparams;
        m->rt = ctx->match->rt;
        m->first = ctx->match->first;
        ngx_memcpy(m->params, ctx->match->params,
                   m->nparams * sizeof(apigw_param_t));

        path->n = ctx->path->n;
        path->trailing_slash = ctx->path->trailing_slash;
        ngx_memcpy(path->seg, ctx->path->seg, path->n * sizeof(char *));
        ngx_memcpy(path->len, ctx->path->len, path->n * sizeof(size_t));

        ctx->match = m;
        ctx->path = path;
        ctx->match_kept = 1;
    }

    return NGX_OK;
}


/*
 * The rest of the pipeline: the backend URI and headers, then the proxy.
 * Called by the handler, or later by a stage that had to wait (the body
 * being read for validation); ctx->match and ctx->path must then point to
 * memory that outlives the handler's stack.
 *
 * The proxy module's URL is fixed ("proxy_pass https://apigw_backend"),
 * and with no URI part it sends r->unparsed_uri and r->method_name as they
 * are: apigw sets them to the backend's for the time the proxy module
 * builds its request, and puts the client's back afterwards, so that
 * $request_uri and $request_method still tell what the client sent.
 */

ngx_int_t
ngx_http_apigw_invoke(ngx_http_request_t *r)
{
    u_char                     *p;
    size_t                      n, size;
    ngx_int_t                   rc;
    ngx_str_t                   args;
    apigw_path_t               *path;
    apigw_match_t              *m;
    ngx_http_upstream_t        *u;
    ngx_http_apigw_ctx_t       *ctx;
    ngx_http_apigw_op_t        *opx;
    ngx_http_apigw_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apigw_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_module);

    m = ctx->match;
    path = ctx->path;
    opx = ctx->opx;

    if (ngx_http_apigw_backend_headers(r, alcf, &m->op->backend) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the request mapping, after the injected headers (v1: in order) */
    args = r->args;

    if (m->op->nmaps) {
        rc = ngx_http_apigw_reqmap(r, ctx, &args);

        if (rc == NGX_DECLINED) {
            return ngx_http_apigw_send_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                             "bad_mapping");
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /*
     * One pass into a buffer that fits unless parameters are repeated in
     * the template: encoding at most triples the path (and a path
     * parameter that a mapping set).
     */

    size = ngx_strlen(m->op->backend.path ? m->op->backend.path : "")
           + 3 * (r->uri.len + 1) * (m->op->backend.append_path ? 2 : 1)
           + args.len + 2;

    for ( ;; ) {
        p = ngx_pnalloc(r->pool, size);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        n = apigw_backend_uri(m->op, m, path, ctx->path_first,
                              (char *) args.data, args.len,
                              (char *) p, size);
        if (n <= size) {
            break;
        }

        size = n;
    }

    ctx->backend_uri.data = p;
    ctx->backend_uri.len = n;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "apigw backend \"%V\" \"%V\"", &opx->host,
                   &ctx->backend_uri);

    ctx->client_uri = r->unparsed_uri;
    ctx->client_method = r->method_name;
    ctx->client_valid_uri = r->valid_unparsed_uri;
    ctx->request_line_set = 1;

    r->unparsed_uri = ctx->backend_uri;
    r->valid_unparsed_uri = 1;

    if (opx->method.len) {
        r->method_name = opx->method;
    }

    ctx->client_http_version = r->http_version;

    rc = alcf->proxy_handler(r);

    u = r->upstream;

    if (u && u->process_header && ctx->process_header == NULL) {
        ctx->process_header = u->process_header;
        u->process_header = ngx_http_apigw_process_status;
        ctx->reinit_request = u->reinit_request;
        u->reinit_request = ngx_http_apigw_reinit_request;
    }

    if (u && u->request_bufs == NULL && u->create_request) {
        /* the request is made later (an HTTP/2 body, say): put back then */
        ctx->create_request = u->create_request;
        u->create_request = ngx_http_apigw_create_request;

    } else {
        ngx_http_apigw_client_request_line(r, ctx);
    }

    return rc;
}


static ngx_int_t
ngx_http_apigw_create_request(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_http_apigw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_module);

    rc = ctx->create_request(r);

    ngx_http_apigw_client_request_line(r, ctx);

    return rc;
}


/*
 * The proxy module takes an answer without a valid status line for an
 * HTTP/0.9 response: status 200, the bytes sent on as the body, and no
 * header at all to the client (r->http_version becomes 0.9).  A gateway
 * calls that a bad gateway.  Only the first call is apigw's: once the
 * status line is parsed the proxy module moves on to its header parser.
 */

static ngx_int_t
ngx_http_apigw_process_status(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_http_apigw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_module);

    rc = ctx->process_header(r);

    /* a status line moves the proxy module on to its header parser */

    if (rc == NGX_OK
        && r->upstream->process_header == ngx_http_apigw_process_status)
    {
        r->http_version = ctx->client_http_version;
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    return rc;
}


/* a retry puts the proxy module's status-line parser back: wrap it again */

static ngx_int_t
ngx_http_apigw_reinit_request(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_http_apigw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_module);

    rc = ctx->reinit_request(r);

    if (r->upstream->process_header == ctx->process_header) {
        r->upstream->process_header = ngx_http_apigw_process_status;
    }

    return rc;
}


static void
ngx_http_apigw_client_request_line(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx)
{
    if (!ctx->request_line_set) {
        return;
    }

    ctx->request_line_set = 0;

    r->unparsed_uri = ctx->client_uri;
    r->method_name = ctx->client_method;
    r->valid_unparsed_uri = ctx->client_valid_uri;
}


/*
 * The CORS of a preflight: the operation's that the request it announces
 * (Access-Control-Request-Method) would reach, else the API's; NULL: not
 * a preflight.
 */
static const apigw_cors_t *
ngx_http_apigw_preflight_cors(ngx_http_request_t *r, apigw_match_t *m,
    const apigw_path_t *path)
{
    ngx_table_elt_t  *h;
    apigw_match_t    *other;

    h = ngx_http_apigw_find_header(r, "access-control-request-method", 29);

    if (h == NULL) {
        return NULL;
    }

    if (!m->api->op_cors || m->rt == NULL) {
        return &m->api->cors;
    }

    other = ngx_palloc(r->pool, sizeof(apigw_match_t));
    if (other == NULL) {
        return &m->api->cors;
    }

    apigw_router_match(m->rt,
                       apigw_method_parse((char *) h->value.data,
                                          h->value.len),
                       path, m->first, other);

    if (other->status != 0 || other->api != m->api) {
        return &m->api->cors;
    }

    return apigw_op_cors(other->api, other->op);
}


static ngx_int_t
ngx_http_apigw_preflight(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    apigw_match_t *m, const apigw_cors_t *cors)
{
    u_char               buf[128];
    ngx_int_t            rc;
    ngx_str_t            origin, value;
    ngx_uint_t           vary;
    ngx_table_elt_t     *h;

    if (m->status == 404) {
        return ngx_http_apigw_send_error(r, ctx, NGX_HTTP_NOT_FOUND, NULL);
    }

    rc = ngx_http_apigw_cors_origin(r, cors, &origin, &vary);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_apigw_send_error(r, ctx, NGX_HTTP_FORBIDDEN,
                                         "cors_origin");
    }

    ctx->preflight = 1;
    ctx->reason.len = 0;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_apigw_add_header(r, "Access-Control-Allow-Origin", &origin)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (cors->methods) {
        value.data = (u_char *) cors->methods;
        value.len = ngx_strlen(cors->methods);

    } else if (m->api->op_cors
               && (h = ngx_http_apigw_find_header(
                           r, "access-control-request-method", 29))
               && apigw_method_parse((char *) h->value.data, h->value.len)
                  < APIGW_M_NONE)
    {
        /*
         * operations of a path with CORS of their own: a browser caches
         * the grant, so it is for the method asked about only
         */
        value.data = (u_char *) apigw_method_name(
                         apigw_method_parse((char *) h->value.data,
                                            h->value.len));
        value.len = ngx_strlen(value.data);

    } else if (m->status == 405 || m->allow) {
        /* what the path really allows (an OPTIONS operation's too) */
        value.len = apigw_allow_format(m->allow, (char *) buf, sizeof(buf));
        value.data = ngx_pnalloc(r->pool, sizeof(buf));
        if (value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(value.data, buf, ngx_min(value.len, sizeof(buf)));
        value.len = ngx_min(value.len, sizeof(buf));

    } else {
        ngx_str_set(&value, NGX_HTTP_APIGW_CORS_METHODS);
    }

    if (ngx_http_apigw_add_header(r, "Access-Control-Allow-Methods", &value)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (cors->headers) {
        value.data = (u_char *) cors->headers;
        value.len = ngx_strlen(cors->headers);

    } else {
        h = ngx_http_apigw_find_header(r, "access-control-request-headers",
                                       30);
        if (h) {
            value = h->value;
        } else {
            value.len = 0;
        }
    }

    if (value.len
        && ngx_http_apigw_add_header(r, "Access-Control-Allow-Headers",
                                     &value)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (cors->credentials) {
        ngx_str_set(&value, "true");
        if (ngx_http_apigw_add_header(r, "Access-Control-Allow-Credentials",
                                      &value)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (cors->max_age >= 0) {
        value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        value.len = ngx_sprintf(value.data, "%l", cors->max_age)
                    - value.data;

        if (ngx_http_apigw_add_header(r, "Access-Control-Max-Age", &value)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (vary) {
        ngx_str_set(&value, "Origin");
        if (ngx_http_apigw_add_header(r, "Vary", &value) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ctx->own_response = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


/*
 * Request ids: 32 hex digits, a per-worker random half and a bijective mix
 * of a per-worker counter, so ids are unique without a call into the
 * CSPRNG per request (as $request_id makes); they are identifiers, not
 * secrets.
 */

static u_char    ngx_http_apigw_rid_worker[16];   /* hex, set once */
static uint64_t  ngx_http_apigw_rid_key;
static uint64_t  ngx_http_apigw_rid_seq;


#if (NGX_LINUX && defined M_TRIM_THRESHOLD)

/*
 * glibc gives the heap's free top back to the kernel once it is over
 * 128 KB: a worker whose per-request allocations come and go at the top of
 * the heap then shrinks and regrows it, faulting its pages in again and
 * again (measured: 0.2 page faults and 6 to 9 us more per rate-limited
 * request on a 27 us request).  Keeping up to 8 MB of it costs little; an
 * operator's own setting wins.
 */
static void
ngx_http_apigw_heap_trim(void)
{
    char  *tunables;

    tunables = getenv("GLIBC_TUNABLES");

    if (getenv("MALLOC_TRIM_THRESHOLD_") == NULL
        && (tunables == NULL
            || ngx_strstr(tunables, "trim_threshold") == NULL))
    {
        (void) mallopt(M_TRIM_THRESHOLD, 8 * 1024 * 1024);
    }
}

#else

#define ngx_http_apigw_heap_trim()

#endif


static ngx_int_t
ngx_http_apigw_init_process(ngx_cycle_t *cycle)
{
    uint64_t  seed[2];

    /*
     * The worker's cached clock is the master's, read when it began to
     * load the configuration; with large specs that is seconds old, and
     * a timer set from it below (the Redis connect timeout) would be
     * already due.
     */
    ngx_time_update();

    ngx_http_apigw_heap_trim();

    if (RAND_bytes((u_char *) seed, sizeof(seed)) != 1) {
        seed[0] = (uint64_t) ngx_random() << 32 ^ (uint64_t) ngx_pid
                  ^ (uint64_t) ngx_time();
        seed[1] = (uint64_t) ngx_random() << 31 ^ (uintptr_t) cycle;
    }

    ngx_http_apigw_hex64(ngx_http_apigw_rid_worker, seed[0]);
    ngx_http_apigw_rid_key = seed[1];

    if (ngx_http_apigw_jwks_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_apigw_keyfeed_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_apigw_wabind_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_apigw_ratelimit_init_process(cycle);
}


static void
ngx_http_apigw_exit_process(ngx_cycle_t *cycle)
{
#if (NGX_THREADS)
    ngx_http_apigw_thread_exit(cycle);      /* the keys file's look */
#endif

    ngx_http_apigw_ratelimit_exit_process(cycle);
}


static void
ngx_http_apigw_new_request_id(u_char *p)
{
    uint64_t  z;

    z = ++ngx_http_apigw_rid_seq ^ ngx_http_apigw_rid_key;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;

    /* 32 hex digits; ngx_sprintf() costs more than the rest together */
    ngx_memcpy(p, ngx_http_apigw_rid_worker, 16);
    ngx_http_apigw_hex64(p + 16, z);
}


static void
ngx_http_apigw_hex64(u_char *p, uint64_t v)
{
    ngx_uint_t           i;
    static const u_char  hex[] = "0123456789abcdef";

    /* two digits per step */
    for (i = 16; i > 0; i -= 2) {
        p[i - 1] = hex[v & 0xf];
        p[i - 2] = hex[(v >> 4) & 0xf];
        v >>= 8;
    }
}



/*
 * The client's request id when it is sane, else apigw's own; the
 * backend gets the same value under the same header name.
 */

static ngx_int_t
ngx_http_apigw_request_id(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf, ngx_http_apigw_ctx_t *ctx)
{
    u_char                      *p, *last;
    ngx_table_elt_t             *h;
    if (ctx->request_id.len) {
        return NGX_OK;
    }

    h = ngx_http_apigw_header_in(r, alcf->request_id_lc.data,
                                 alcf->request_id_lc.len,
                                 alcf->request_id_hash);

    if (h && h->value.len && h->value.len <= NGX_HTTP_APIGW_REQUEST_ID_MAX) {

        last = h->value.data + h->value.len;

        for (p = h->value.data; p < last; p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
                  || (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_'
                  || *p == '.' || *p == ':' || *p == '+' || *p == '/'
                  || *p == '=' || *p == '@'))
            {
                break;
            }
        }

        if (p == last) {
            ctx->request_id = h->value;
            return NGX_OK;
        }
    }

    ctx->request_id.data = ngx_pnalloc(r->pool, 32);
    if (ctx->request_id.data == NULL) {
        return NGX_ERROR;
    }

    ctx->request_id.len = 32;
    ngx_http_apigw_new_request_id(ctx->request_id.data);

    if (h) {
        h->value = ctx->request_id;
        return NGX_OK;
    }

    if (alcf->enable != 1 || r != r->main) {
        return NGX_OK;
    }

    /*
     * the first header apigw adds (also for errors nginx answers before
     * the handler); HTTP/0.9: nginx has set up no header list
     */

    if (r->headers_in.headers.nalloc == 0
        && ngx_list_init(&r->headers_in.headers, r->pool, 8,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = alcf->request_id_hash;
    h->key = alcf->request_id_header;
    h->lowcase_key = alcf->request_id_lc.data;
    h->value = ctx->request_id;

    return NGX_OK;
}


/*
 * The headers the backend gets from the client's: the operation's injected
 * headers replace any the client sent under the same names, headers that
 * the client's Connection header names are hop-by-hop (RFC 9110, 7.6.1)
 * and are dropped (the proxy module itself drops only the standard ones),
 * and the X-Forwarded-* headers are apigw's own.  They are added here
 * rather than by scripted proxy_set_header lines, which cost a script run
 * per header and request.  nginx's header list has no removal, so it is
 * rebuilt only when the client sent something to replace or drop.
 */

static ngx_str_t  ngx_http_apigw_fwd_names[] = {
    ngx_string("X-Forwarded-For"),
    ngx_string("X-Forwarded-Proto"),
    ngx_string("X-Forwarded-Host"),
    ngx_string("X-Forwarded-Port"),
    ngx_string("X-Forwarded-Url"),
};

static u_char  *ngx_http_apigw_fwd_lc[] = {
    (u_char *) "x-forwarded-for",
    (u_char *) "x-forwarded-proto",
    (u_char *) "x-forwarded-host",
    (u_char *) "x-forwarded-port",
    (u_char *) "x-forwarded-url",
};

#define NGX_HTTP_APIGW_FWD_FOR  0
#define NGX_HTTP_APIGW_FWD_N    5

static ngx_uint_t  ngx_http_apigw_fwd_hash[NGX_HTTP_APIGW_FWD_N];


static ngx_int_t
ngx_http_apigw_forwarded_name(ngx_table_elt_t *h)
{
    ngx_uint_t  i;

    /* all five are "x-forwarded-" and 3 to 5 more: one length test */

    if (h->key.len < 15 || h->key.len > 17
        || ngx_strncasecmp(h->key.data, (u_char *) "x-forwarded-", 12) != 0)
    {
        return -1;
    }

    for (i = 0; i < NGX_HTTP_APIGW_FWD_N; i++) {
        if (h->key.len == ngx_http_apigw_fwd_names[i].len
            && ngx_strncasecmp(h->key.data + 12,
                               ngx_http_apigw_fwd_names[i].data + 12,
                               h->key.len - 12)
               == 0)
        {
            return i;
        }
    }

    return -1;
}


/*
 * The host of a request that named none (HTTP/1.0, 0.9): the server's
 * name, else the address the client connected to (with its port when
 * asked).
 */
static ngx_int_t
ngx_http_apigw_own_host(ngx_http_request_t *r, ngx_str_t *host,
    ngx_uint_t port)
{
    u_char                    *p;
    ngx_http_core_srv_conf_t  *cscf;

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    if (cscf->server_name.len) {
        *host = cscf->server_name;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_SOCKADDR_STRLEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    host->data = p;
    host->len = NGX_SOCKADDR_STRLEN;

    return ngx_connection_local_sockaddr(r->connection, host, port);
}


ngx_int_t
ngx_http_apigw_forwarded_url(ngx_http_request_t *r, ngx_str_t *url)
{
    u_char     *p;
    ngx_str_t   host;

    /*
     * The URL the client asked for: the authority of an absolute-form
     * request line (which wins over Host, RFC 9112 3.2.2), else its Host
     * as sent, port included; without either (HTTP/1.0, 0.9) the server's
     * name, as X-Forwarded-Host has it
     */

    if (r->http_version <= NGX_HTTP_VERSION_11 && r->host_start
        && r->uri_start > r->host_start
        && r->uri_start - r->host_start <= 255)
    {
        host.data = r->host_start;
        host.len = r->uri_start - r->host_start;

    } else if (r->headers_in.host) {
        host = r->headers_in.host->value;

    } else if (r->headers_in.server.len) {
        host = r->headers_in.server;

    } else if (ngx_http_apigw_own_host(r, &host, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    url->len = (r->connection->ssl ? 8 : 7) + host.len + r->unparsed_uri.len;

    p = ngx_pnalloc(r->pool, url->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    url->data = p;
    p = ngx_cpymem(p, r->connection->ssl ? "https://" : "http://",
                   r->connection->ssl ? 8 : 7);
    /* no Host (HTTP/1.0, 0.9): an empty one, not a NULL copied */
    if (host.len) {
        p = ngx_cpymem(p, host.data, host.len);
    }

    if (r->unparsed_uri.len) {
        ngx_memcpy(p, r->unparsed_uri.data, r->unparsed_uri.len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_forwarded_headers(ngx_http_request_t *r, ngx_str_t *xff)
{
    u_char            *p;
    ngx_str_t          v[NGX_HTTP_APIGW_FWD_N];
    ngx_uint_t         i;
    ngx_table_elt_t   *h;
    ngx_connection_t  *c;

    c = r->connection;

    /* X-Forwarded-For: the client's list, then the address it came from */

    if (xff->len) {
        v[0].len = xff->len + 2 + c->addr_text.len;
        v[0].data = ngx_pnalloc(r->pool, v[0].len);
        if (v[0].data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(v[0].data, xff->data, xff->len);
        *p++ = ','; *p++ = ' ';
        ngx_memcpy(p, c->addr_text.data, c->addr_text.len);

    } else {
        v[0] = c->addr_text;
    }

    if (c->ssl) {
        ngx_str_set(&v[1], "https");

    } else {
        ngx_str_set(&v[1], "http");
    }

    if (r->headers_in.server.len) {
        v[2] = r->headers_in.server;

    } else if (ngx_http_apigw_own_host(r, &v[2], 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_connection_local_sockaddr(c, NULL, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    v[3].data = ngx_pnalloc(r->pool, 5);
    if (v[3].data == NULL) {
        return NGX_ERROR;
    }

    v[3].len = ngx_http_apigw_utoa(v[3].data,
                                   ngx_inet_get_port(c->local_sockaddr))
               - v[3].data;

    if (ngx_http_apigw_forwarded_url(r, &v[4]) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_APIGW_FWD_N; i++) {
        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = ngx_http_apigw_fwd_hash[i];
        h->key = ngx_http_apigw_fwd_names[i];
        h->lowcase_key = ngx_http_apigw_fwd_lc[i];
        h->value = v[i];
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_backend_headers(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf, const apigw_backend_t *b)
{
    size_t                 i, k, len;
    u_char                *lc, *p;
    ngx_int_t              fwd;
    ngx_str_t              xff;
    ngx_uint_t             j, n, drop, connection, rids;
    ngx_list_t             headers;
    ngx_table_elt_t       *h, *nh;
    ngx_list_part_t       *part;
    ngx_http_apigw_ctx_t  *ctx;

    n = 0;
    drop = 0;
    connection = 0;
    rids = 0;
    xff.len = 0;
    xff.data = NULL;

    /*
     * nginx 1.22 does not keep r->headers_in.connection: look for a
     * Connection header that names more than "close" and "keep-alive"
     * (the proxy module drops Keep-Alive itself), the usual case being
     * that there is none; and for X-Forwarded-* sent by the client
     */

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
        h = part->elts;

        for (j = 0; j < part->nelts; j++) {
            if (h[j].key.len == sizeof("connection") - 1
                && ngx_strncasecmp(h[j].key.data, (u_char *) "connection",
                                   sizeof("connection") - 1) == 0
                && !(h[j].value.len == sizeof("close") - 1
                     && ngx_strncasecmp(h[j].value.data, (u_char *) "close",
                                        sizeof("close") - 1) == 0)
                && !(h[j].value.len == sizeof("keep-alive") - 1
                     && ngx_strncasecmp(h[j].value.data,
                                        (u_char *) "keep-alive",
                                        sizeof("keep-alive") - 1) == 0))
            {
                connection = 1;
            }

            if (ngx_http_apigw_named_as(&h[j], &alcf->request_id_lc)) {
                rids++;
            }

            fwd = ngx_http_apigw_forwarded_name(&h[j]);

            if (fwd == -1) {
                continue;
            }

            drop = 1;

            if (fwd != NGX_HTTP_APIGW_FWD_FOR || h[j].value.len == 0) {
                continue;
            }

            /* several X-Forwarded-For make one list, as nginx does */

            if (xff.len == 0) {
                xff = h[j].value;
                continue;
            }

            p = ngx_pnalloc(r->pool, xff.len + 2 + h[j].value.len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(p, xff.data, xff.len);
            p[xff.len] = ',';
            p[xff.len + 1] = ' ';
            ngx_memcpy(p + xff.len + 2, h[j].value.data, h[j].value.len);
            xff.data = p;
            xff.len += 2 + h[j].value.len;
        }
    }

    if (connection) {
        connection = 0;

        for (part = &r->headers_in.headers.part;
             part && !connection;
             part = part->next)
        {
            h = part->elts;

            for (j = 0; j < part->nelts; j++) {
                if (ngx_http_apigw_hop_by_hop(r, alcf, &h[j])) {
                    connection = 1;
                    break;
                }
            }
        }
    }

    if (b->nheaders == 0 && !drop && !connection && rids < 2) {
        return ngx_http_apigw_forwarded_headers(r, &xff);
    }

    /* one request id to the backend: the one decided (and kept) */
    ctx = rids > 1 ? ngx_http_get_module_ctx(r, ngx_http_apigw_module) : NULL;

    if (ngx_list_init(&headers, r->pool,
                      n + b->nheaders + NGX_HTTP_APIGW_FWD_N,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (j = 0; j < part->nelts; j++) {

            for (k = 0; k < b->nheaders; k++) {
                len = ngx_strlen(b->headers[k].name);
                if (len == h[j].key.len
                    && ngx_strncasecmp(h[j].key.data,
                                       (u_char *) b->headers[k].name, len)
                       == 0
                    && !ngx_http_apigw_is_request_id(alcf,
                                                     b->headers[k].name,
                                                     len))
                {
                    break;
                }
            }

            if (k < b->nheaders
                || (drop && ngx_http_apigw_forwarded_name(&h[j]) != -1)
                || (connection && ngx_http_apigw_hop_by_hop(r, alcf, &h[j]))
                || (ctx && h[j].value.data != ctx->request_id.data
                    && ngx_http_apigw_named_as(&h[j], &alcf->request_id_lc)))
            {
                continue;
            }

            nh = ngx_list_push(&headers);
            if (nh == NULL) {
                return NGX_ERROR;
            }

            *nh = h[j];
        }
    }

    for (i = 0; i < b->nheaders; i++) {
        len = ngx_strlen(b->headers[i].name);

        /* the request id is the gateway's: a spec's value would split it */
        if (ngx_http_apigw_is_request_id(alcf, b->headers[i].name, len)) {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        lc = ngx_pnalloc(r->pool, len);
        if (lc == NULL) {
            return NGX_ERROR;
        }

        nh->hash = ngx_hash_strlow(lc, (u_char *) b->headers[i].name, len);
        nh->key.data = (u_char *) b->headers[i].name;
        nh->key.len = len;
        nh->lowcase_key = lc;
        nh->value.data = (u_char *) b->headers[i].value;
        nh->value.len = ngx_strlen(b->headers[i].value);
    }

    /* a copied ngx_list_t must not keep pointing at the local's part */
    r->headers_in.headers = headers;

    if (headers.last == &headers.part) {
        r->headers_in.headers.last = &r->headers_in.headers.part;
    }

    return ngx_http_apigw_forwarded_headers(r, &xff);
}


static ngx_uint_t
ngx_http_apigw_is_request_id(ngx_http_apigw_loc_conf_t *alcf,
    const char *name, size_t len)
{
    return len == alcf->request_id_lc.len
           && ngx_strncasecmp((u_char *) name, alcf->request_id_lc.data, len)
              == 0;
}


static ngx_uint_t
ngx_http_apigw_hop_by_hop(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf, ngx_table_elt_t *h)
{
    u_char           *p, *last, *start, *end;
    ngx_uint_t        i;
    ngx_table_elt_t  *c;
    ngx_list_part_t  *part;

    if (h->key.len == 0
        || (h->key.len == sizeof("connection") - 1
            && ngx_strncasecmp(h->key.data, (u_char *) "connection",
                               sizeof("connection") - 1) == 0)
        || ngx_http_apigw_named_as(h, &alcf->request_id_lc))
    {
        return 0;
    }

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        c = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (c[i].key.len != sizeof("connection") - 1
                || ngx_strncasecmp(c[i].key.data, (u_char *) "connection",
                                   sizeof("connection") - 1) != 0)
            {
                continue;
            }

            /* a comma-separated list of header names */

            p = c[i].value.data;
            last = p + c[i].value.len;

            while (p < last) {
                while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
                    p++;
                }

                start = p;

                while (p < last && *p != ',') {
                    p++;
                }

                end = p;

                while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
                    end--;
                }

                if ((size_t) (end - start) == h->key.len
                    && ngx_strncasecmp(start, h->key.data, h->key.len) == 0)
                {
                    return 1;
                }
            }
        }
    }

    return 0;
}


/*
 * A request header by its lower-cased name and nginx's hash of it: the
 * parser leaves that hash in every header, so most headers are passed
 * over by one comparison (the headers apigw adds carry it too).
 */

ngx_table_elt_t *
ngx_http_apigw_header_in(ngx_http_request_t *r, u_char *lc, size_t len,
    ngx_uint_t hash)
{
    ngx_uint_t        i;
    ngx_table_elt_t  *h;
    ngx_list_part_t  *part;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].hash == hash && h[i].key.len == len
                && ngx_strncasecmp(h[i].key.data, lc, len) == 0)
            {
                return &h[i];
            }
        }
    }

    return NULL;
}


/* the same by a lower-cased name */
static ngx_table_elt_t *
ngx_http_apigw_find_header(ngx_http_request_t *r, const char *lc, size_t len)
{
    return ngx_http_apigw_header_in(r, (u_char *) lc, len,
                                    ngx_hash_key((u_char *) lc, len));
}


static ngx_int_t
ngx_http_apigw_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


/*
 * The Access-Control-Allow-Origin value: "*" for any origin without
 * credentials, else the request's Origin when it is allowed (and then the
 * response varies by Origin).  NGX_DECLINED: the origin is not allowed.
 */

static ngx_int_t
ngx_http_apigw_cors_origin(ngx_http_request_t *r, const apigw_cors_t *cors,
    ngx_str_t *origin, ngx_uint_t *vary)
{
    size_t            i, len;
    ngx_table_elt_t  *h;

    /* the answer depends on Origin, also when it is absent or refused */
    *vary = cors->norigins != 0 || cors->credentials;

    h = ngx_http_apigw_find_header(r, "origin", 6);

    if (cors->norigins == 0) {
        if (!cors->credentials || h == NULL) {
            ngx_str_set(origin, "*");
            return NGX_OK;
        }

        *origin = h->value;
        *vary = 1;
        return NGX_OK;
    }

    if (h == NULL) {
        return NGX_DECLINED;
    }

    for (i = 0; i < cors->norigins; i++) {
        len = ngx_strlen(cors->origins[i]);

        if ((len == 1 && cors->origins[i][0] == '*')
            || (len == h->value.len
                && ngx_strncasecmp(h->value.data,
                                   (u_char *) cors->origins[i], len) == 0))
        {
            *origin = h->value;
            *vary = 1;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* CORS on a response (not a preflight) of an API that enables it */

static ngx_int_t
ngx_http_apigw_cors_headers(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    const apigw_cors_t *cors)
{
    ngx_int_t            rc;
    ngx_str_t            origin, value;
    ngx_uint_t           vary;

    ngx_http_apigw_strip_cors(r);

    rc = ngx_http_apigw_cors_origin(r, cors, &origin, &vary);

    if (rc == NGX_DECLINED) {
        goto vary;
    }

    if (ngx_http_apigw_add_header(r, "Access-Control-Allow-Origin", &origin)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (cors->credentials) {
        ngx_str_set(&value, "true");
        if (ngx_http_apigw_add_header(r, "Access-Control-Allow-Credentials",
                                      &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (cors->expose) {
        value.data = (u_char *) cors->expose;
        value.len = ngx_strlen(cors->expose);

        if (ngx_http_apigw_add_header(r, "Access-Control-Expose-Headers",
                                      &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

vary:

    if (vary) {
        ngx_str_set(&value, "Origin");
        if (ngx_http_apigw_add_header(r, "Vary", &value) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_http_apigw_hide_out(ngx_http_request_t *r, const ngx_str_t *lc,
    ngx_uint_t n)
{
    ngx_uint_t        i, k;
    ngx_table_elt_t  *h;
    ngx_list_part_t  *part;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            for (k = 0; k < n; k++) {
                if (ngx_http_apigw_named_as(&h[i], &lc[k])) {
                    h[i].hash = 0;
                    break;
                }
            }
        }
    }
}


/*
 * What the backend's answer must not pass on: its own request id (apigw's
 * replaces it), hop-by-hop headers that nginx's upstream copies (it drops
 * only Connection, Keep-Alive and Transfer-Encoding itself), and what its
 * Connection header names (RFC 9110 7.6.1) but for the fields that frame
 * or describe the content, which nginx keeps pointers to.
 */

static ngx_str_t  ngx_http_apigw_hop_out[NGX_HTTP_APIGW_HOPS] = {
    ngx_null_string,           /* the request-id header, per location */
    ngx_string("proxy-connection"),
    ngx_string("te"),
    ngx_string("trailer"),     /* nginx does not pass upstream trailers */
    ngx_string("upgrade"),     /* apigw never forwards an upgrade */
    ngx_string("proxy-authenticate"),
    ngx_string("proxy-authentication-info"),
};

static ngx_str_t  ngx_http_apigw_end_to_end[] = {
    ngx_string("content-length"),
    ngx_string("content-type"),
    ngx_string("content-encoding"),
    ngx_string("transfer-encoding"),
    ngx_string("location"),
    ngx_string("date"),
    ngx_string("server"),
    ngx_null_string
};


static ngx_int_t
ngx_http_apigw_hide_backend(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf)
{
    u_char           *p, *last;
    ngx_str_t        *lc, *e;
    ngx_uint_t        n, max;
    ngx_table_elt_t  *h;

    h = r->upstream->headers_in.connection;

    if (h == NULL) {
        ngx_http_apigw_hide_out(r, alcf->hide, NGX_HTTP_APIGW_HOPS);
        return NGX_OK;
    }

    /* a name takes at least two bytes of the value (a name, a comma) */

    max = NGX_HTTP_APIGW_HOPS + h->value.len / 2 + 1;

    lc = ngx_palloc(r->pool, max * sizeof(ngx_str_t));
    if (lc == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(lc, alcf->hide, sizeof(alcf->hide));
    n = NGX_HTTP_APIGW_HOPS;

    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {
        if (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
            continue;
        }

        lc[n].data = p;

        while (p < last && *p != ',' && *p != ' ' && *p != '\t') {
            p++;
        }

        lc[n].len = p - lc[n].data;

        for (e = ngx_http_apigw_end_to_end; e->len; e++) {
            if (lc[n].len == e->len
                && ngx_strncasecmp(lc[n].data, e->data, e->len) == 0)
            {
                break;
            }
        }

        if (e->len == 0 && n < max) {
            n++;
        }
    }

    ngx_http_apigw_hide_out(r, lc, n);

    return NGX_OK;
}


static void
ngx_http_apigw_strip_cors(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_table_elt_t  *h;
    ngx_list_part_t  *part;

    for (part = &r->headers_out.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len > 15
                && ngx_strncasecmp(h[i].key.data,
                                   (u_char *) "access-control-", 15) == 0)
            {
                h[i].hash = 0;
            }
        }
    }
}


/* ---- errors: one JSON shape for everything apigw answers itself ---- */

const ngx_http_apigw_error_t *
ngx_http_apigw_error_for(ngx_uint_t status)
{
    ngx_http_apigw_error_t  *e;

    for (e = ngx_http_apigw_errors; e->status; e++) {
        if (e->status == status) {
            return e;
        }
    }

    return e;
}


static ngx_buf_t *
ngx_http_apigw_error_body(ngx_http_request_t *r, ngx_uint_t status,
    const char *message, ngx_str_t *request_id)
{
    size_t      len, ml, il;
    ngx_buf_t  *b;

    ml = apigw_json_escape(message, ngx_strlen(message), NULL, 0);
    il = apigw_json_escape((char *) request_id->data, request_id->len,
                           NULL, 0);

    len = sizeof("{\"status\":,\"message\":\"\",\"request_id\":\"\"}\n") - 1
          + NGX_INT_T_LEN + ml + il;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    b->last = ngx_sprintf(b->last, "{\"status\":%ui,\"message\":\"", status);
    b->last += apigw_json_escape(message, ngx_strlen(message),
                                 (char *) b->last, ml);
    b->last = ngx_cpymem(b->last, "\",\"request_id\":\"",
                         sizeof("\",\"request_id\":\"") - 1);
    b->last += apigw_json_escape((char *) request_id->data, request_id->len,
                                 (char *) b->last, il);
    b->last = ngx_cpymem(b->last, "\"}\n", 3);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    return b;
}


ngx_int_t
ngx_http_apigw_send_error(ngx_http_request_t *r, ngx_http_apigw_ctx_t *ctx,
    ngx_uint_t status, const char *reason)
{
    ngx_int_t                      rc;
    ngx_str_t                      any;
    ngx_buf_t                     *b;
    ngx_chain_t                    out;
    const char                    *message;
    const ngx_http_apigw_error_t  *e, *m;

    e = ngx_http_apigw_error_for(status);

    if (reason == NULL) {
        reason = e->reason;
    }

    ctx->reason.data = (u_char *) reason;
    ctx->reason.len = ngx_strlen(reason);
    ctx->own_response = 1;

    /*
     * no "100 Continue" for a body that is refused anyway (as nginx's own
     * 413): a client that waits for it sends nothing
     */
    r->expect_tested = 1;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    message = e->message;

    if (ctx->any_origin) {
        ngx_str_set(&any, "*");

        if (ngx_http_apigw_add_header(r, "Access-Control-Allow-Origin", &any)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    for (m = ngx_http_apigw_reason_errors; m->reason; m++) {
        if (ngx_strcmp(reason, m->reason) == 0) {
            message = m->message;
            break;
        }
    }

    b = ngx_http_apigw_error_body(r, status, message, &ctx->request_id);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* ---- filters ---- */

static ngx_int_t
ngx_http_apigw_header_filter(ngx_http_request_t *r)
{
    ngx_buf_t                      *b;
    const apigw_cors_t             *cors;
    ngx_http_apigw_ctx_t           *ctx;
    ngx_http_apigw_loc_conf_t      *alcf;
    const ngx_http_apigw_error_t   *e;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_apigw_module);

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    /*
     * A request that failed before a location was matched (an invalid
     * URI such as "/..", "%00" or "%zz", a bad request line, headers too
     * large) still has its server's own location configuration: in a
     * server with apigw locations its error is made JSON as well.
     */

    if (alcf->enable != 1
        && !(alcf->server_errors && r->err_status >= NGX_HTTP_BAD_REQUEST))
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_apigw_ensure_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_apigw_request_id(r, alcf, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (r->upstream && ngx_http_apigw_hide_backend(r, alcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_apigw_add_header(r, (char *) alcf->request_id_header.data,
                                  &ctx->request_id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->rl && ngx_http_apigw_ratelimit_headers(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    /* nginx's own error pages (bad gateway, body too large, ...) as JSON */

    if (r->err_status >= NGX_HTTP_BAD_REQUEST && !ctx->own_response) {

        e = ngx_http_apigw_error_for(r->err_status);

        ctx->reason.data = (u_char *) e->reason;
        ctx->reason.len = ngx_strlen(e->reason);

        b = ngx_http_apigw_error_body(r, r->err_status, e->message,
                                      &ctx->request_id);
        if (b == NULL) {
            return NGX_ERROR;
        }

        ctx->error_body = b;

        r->headers_out.content_length_n = b->last - b->pos;

        if (r->headers_out.content_length) {
            r->headers_out.content_length->hash = 0;
            r->headers_out.content_length = NULL;
        }

        ngx_str_set(&r->headers_out.content_type, "application/json");
        r->headers_out.content_type_len = sizeof("application/json") - 1;
        r->headers_out.content_type_lowcase = NULL;
        r->headers_out.charset.len = 0;
    }

    if (ctx->api && !ctx->preflight) {
        cors = apigw_op_cors(ctx->api, ctx->op);

        if (cors->mode == APIGW_CORS_ENABLED) {
            if (ngx_http_apigw_cors_headers(r, ctx, cors) != NGX_OK) {
                return NGX_ERROR;
            }

        } else if (cors->mode == APIGW_CORS_DISABLED) {
            ngx_http_apigw_strip_cors(r);
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_apigw_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t              rc;
    ngx_chain_t            out;
    ngx_http_apigw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_module);

    if (ctx == NULL || ctx->error_body == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    /* drop nginx's HTML page; send the JSON body once */

    for ( /* void */ ; in; in = in->next) {
        in->buf->pos = in->buf->last;
        in->buf->file_pos = in->buf->file_last;
    }

    if (ctx->error_sent) {
        return NGX_OK;
    }

    ctx->error_sent = 1;

    out.buf = ctx->error_body;
    out.next = NULL;

    rc = ngx_http_next_body_filter(r, &out);

    return rc;
}


/* ---- variables ---- */

static ngx_int_t
ngx_http_apigw_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_apigw_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_apigw_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t              s;
    ngx_http_apigw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_apigw_module);

    s.len = 0;
    s.data = NULL;

    if (ctx) {
        switch (data) {

        case NGX_HTTP_APIGW_VAR_BACKEND_URL:
            if (ctx->opx == NULL || ctx->backend_uri.len == 0) {
                break;
            }

            s.len = sizeof("https://") - 1 + ctx->opx->host.len
                    + ctx->backend_uri.len;
            s.data = ngx_pnalloc(r->pool, s.len);
            if (s.data == NULL) {
                return NGX_ERROR;
            }

            s.len = ngx_sprintf(s.data, "%s://%V%V",
                                ctx->opx->https ? "https" : "http",
                                &ctx->opx->host, &ctx->backend_uri)
                    - s.data;
            break;

        /* what the backend is sent: nothing before it is invoked */

        case NGX_HTTP_APIGW_VAR_BACKEND_HOST:
            if (ctx->opx && ctx->backend_uri.len) {
                s = ctx->opx->host;
            }
            break;

        case NGX_HTTP_APIGW_VAR_BACKEND_SNI:
            if (ctx->opx && ctx->backend_uri.len && ctx->opx->https) {
                s = ctx->opx->sni;
            }
            break;

        case NGX_HTTP_APIGW_VAR_BACKEND_METHOD:
            if (ctx->opx && ctx->backend_uri.len) {
                s = ctx->opx->method.len ? ctx->opx->method : r->method_name;
            }
            break;

        case NGX_HTTP_APIGW_VAR_REQUEST_ID:
            s = ctx->request_id;
            break;

        case NGX_HTTP_APIGW_VAR_API:
            if (ctx->opx) {
                s = ctx->opx->api_name;

            } else if (ctx->api) {
                s.data = (u_char *) ctx->api->title;
                s.len = ngx_strlen(ctx->api->title);
            }
            break;

        case NGX_HTTP_APIGW_VAR_OPERATION:
            if (ctx->opx) {
                s = ctx->opx->op_name;

            } else if (ctx->op && ctx->op->operation_id) {
                /* one without a backend (501) */
                s.data = (u_char *) ctx->op->operation_id;
                s.len = ngx_strlen(ctx->op->operation_id);

            } else if (ctx->op) {
                s.len = ngx_strlen(apigw_method_name(ctx->op->method)) + 1
                        + ngx_strlen(ctx->op->path);
                s.data = ngx_pnalloc(r->pool, s.len);
                if (s.data == NULL) {
                    return NGX_ERROR;
                }

                ngx_sprintf(s.data, "%s %s",
                            apigw_method_name(ctx->op->method),
                            ctx->op->path);
            }
            break;

        case NGX_HTTP_APIGW_VAR_REASON:
            s = ctx->reason;
            break;

        case NGX_HTTP_APIGW_VAR_TENANT:
            s = ctx->tenant;
            break;

        case NGX_HTTP_APIGW_VAR_CONSUMER:
            s = ctx->consumer;
            break;

        case NGX_HTTP_APIGW_VAR_TOKEN_CACHE:
            if (ctx->token_cache == NGX_HTTP_APIGW_TOKEN_HIT) {
                ngx_str_set(&s, "HIT");

            } else if (ctx->token_cache == NGX_HTTP_APIGW_TOKEN_MISS) {
                ngx_str_set(&s, "MISS");
            }
            break;

        case NGX_HTTP_APIGW_VAR_FORWARDED_URL:
            if (ngx_http_apigw_forwarded_url(r, &s) != NGX_OK) {
                return NGX_ERROR;
            }
            break;

        default:
            break;
        }
    }

    if (s.len == 0 && data == NGX_HTTP_APIGW_VAR_BACKEND_URL) {
        v->not_found = 1;
        return NGX_OK;
    }

    /* never NULL: nginx's scripts memcpy() even an empty value */
    v->data = s.data ? s.data : (u_char *) "";
    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* ---- configuration ---- */

static ngx_int_t
ngx_http_apigw_init(ngx_conf_t *cf)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_APIGW_FWD_N; i++) {
        ngx_http_apigw_fwd_hash[i] =
            ngx_hash_key(ngx_http_apigw_fwd_lc[i],
                         ngx_http_apigw_fwd_names[i].len);
    }

    ngx_http_apigw_auth_init();

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_apigw_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_apigw_body_filter;

    ngx_http_apigw_validate_init(cf);

    return NGX_OK;
}


static void *
ngx_http_apigw_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_apigw_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->upstream_created = 0;
     *     amcf->upstream = NULL;
     *     amcf->keepalive_init_peer = NULL;
     */

    amcf->keepalive = 64;

    return amcf;
}


/*
 * The upstream module has initialised apigw's upstream{} by now (it comes
 * before apigw in the module list): wrap the keepalive cache so that a
 * cached connection is only reused where it is good enough.
 */

static char *
ngx_http_apigw_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_apigw_main_conf_t *amcf = conf;

    ngx_http_apigw_upstream_wrap(amcf);

    return NGX_CONF_OK;
}


static void *
ngx_http_apigw_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_apigw_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->server_errors = 0;
     *     conf->openwhisk_url = { 0, NULL };
     *     conf->ssl_trusted_certificate = { 0, NULL };
     *     conf->request_id_header = { 0, NULL };
     *     conf->router = NULL;
     *     conf->apis = NULL;
     *     conf->proxy_handler = NULL;
     *     conf->vanity_domains = NULL;
     *     conf->webaction_api = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->specs = NGX_CONF_UNSET_PTR;
    conf->backend_timeout = NGX_CONF_UNSET_MSEC;
    conf->backend_connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->ssl_verify = NGX_CONF_UNSET;
    conf->web_actions = NGX_CONF_UNSET;
    conf->validate = NGX_CONF_UNSET;
    conf->validate_body_max = NGX_CONF_UNSET_SIZE;
    conf->strip_credentials = NGX_CONF_UNSET;
    conf->identity = NGX_CONF_UNSET_PTR;
    conf->token_cache = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_apigw_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_apigw_loc_conf_t  *prev = parent;
    ngx_http_apigw_loc_conf_t  *conf = child;

    ngx_array_t                 resolved;
    ngx_http_core_loc_conf_t   *clcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_ptr_value(conf->specs, prev->specs, NULL);
    ngx_conf_merge_str_value(conf->openwhisk_url, prev->openwhisk_url, "");
    ngx_conf_merge_msec_value(conf->backend_timeout, prev->backend_timeout,
                              70000);
    ngx_conf_merge_msec_value(conf->backend_connect_timeout,
                              prev->backend_connect_timeout, 10000);
    ngx_conf_merge_value(conf->ssl_verify, prev->ssl_verify, 1);
    ngx_conf_merge_str_value(conf->ssl_trusted_certificate,
                             prev->ssl_trusted_certificate,
                             NGX_HTTP_APIGW_DEFAULT_CA);
    ngx_conf_merge_str_value(conf->request_id_header,
                             prev->request_id_header, "X-Request-ID");
    ngx_conf_merge_value(conf->web_actions, prev->web_actions, 0);
    ngx_http_apigw_ratelimit_merge(prev, conf);

    if (conf->vanity_domains == NULL) {
        conf->vanity_domains = prev->vanity_domains;
    }
    ngx_conf_merge_value(conf->validate, prev->validate, 0);
    ngx_conf_merge_size_value(conf->validate_body_max,
                              prev->validate_body_max, 1024 * 1024);

    if (conf->request_id_lc.data == NULL) {
        conf->request_id_lc.len = conf->request_id_header.len;
        conf->request_id_lc.data = ngx_pnalloc(cf->pool,
                                               conf->request_id_header.len);
        if (conf->request_id_lc.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_strlow(conf->request_id_lc.data, conf->request_id_header.data,
                   conf->request_id_header.len);
    }

    ngx_memcpy(conf->hide, ngx_http_apigw_hop_out, sizeof(conf->hide));
    conf->hide[0] = conf->request_id_lc;

    conf->request_id_hash = ngx_hash_key(conf->request_id_lc.data,
                                         conf->request_id_lc.len);

    if (ngx_http_apigw_auth_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->enable != 1) {
        return NGX_CONF_OK;
    }

    if (conf->proxy_handler == NULL) {
        /* a location inheriting "apigw" cannot, it sets a content handler */
        conf->enable = 0;
        return NGX_CONF_OK;
    }

    /* a content handler set after "apigw" (fastcgi_pass, ...) replaced it */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != ngx_http_apigw_handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apigw: another content handler "
                           "(\"fastcgi_pass\", \"uwsgi_pass\", ...) in "
                           "location \"%V\" replaces \"apigw\"",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_apigw_compile(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&resolved, cf->temp_pool, 1, sizeof(ngx_url_t))
        != NGX_OK
        || ngx_http_apigw_webaction_conf(cf, conf, &resolved) != NGX_CONF_OK
        || ngx_http_apigw_ratelimit_conf(cf, conf) != NGX_CONF_OK
        || ngx_http_apigw_auth_compile(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    return ngx_http_apigw_backend_conf(cf, conf);
}


/*
 * Import every spec of the location and compile the router; every problem
 * is logged with its file and JSON pointer, so `nginx -t` shows them all.
 */

static char *
ngx_http_apigw_compile(ngx_conf_t *cf, ngx_http_apigw_loc_conf_t *alcf)
{
    char                 buf[1024], *ow;
    size_t               n;
    ngx_str_t           *files;
    ngx_uint_t           i, failed, level;
    ngx_array_t          resolved;
    apigw_api_t         *api, **pa;
    apigw_problems_t     probs;
    ngx_pool_cleanup_t  *cln;
    apigw_import_opts_t  opts;

    alcf->router = apigw_router_create();
    if (alcf->router == NULL) {
        return NGX_CONF_ERROR;
    }

    alcf->apis = ngx_array_create(cf->pool, 4, sizeof(apigw_api_t *));
    if (alcf->apis == NULL) {
        apigw_router_free(alcf->router);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        apigw_router_free(alcf->router);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_apigw_cleanup;
    cln->data = alcf;

    if (alcf->specs == NULL) {
        return NGX_CONF_OK;
    }

    ow = NULL;

    if (alcf->openwhisk_url.len) {
        ow = (char *) ngx_pnalloc(cf->temp_pool, alcf->openwhisk_url.len + 1);
        if (ow == NULL) {
            return NGX_CONF_ERROR;
        }

        (void) ngx_cpystrn((u_char *) ow, alcf->openwhisk_url.data,
                           alcf->openwhisk_url.len + 1);
    }

    ngx_memzero(&opts, sizeof(apigw_import_opts_t));
    opts.openwhisk_url = ow;

    apigw_problems_init(&probs);
    failed = 0;

    files = alcf->specs->elts;

    for (i = 0; i < alcf->specs->nelts; i++) {
        opts.file = (char *) files[i].data;

        api = apigw_import_file((char *) files[i].data, &opts, &probs);

        if (api == NULL) {
            failed = 1;
            continue;
        }

        pa = ngx_array_push(alcf->apis);
        if (pa == NULL) {
            apigw_api_free(api);
            apigw_problems_free(&probs);
            return NGX_CONF_ERROR;
        }

        *pa = api;

        if (apigw_router_add(alcf->router, api, &probs) != 0) {
            failed = 1;
        }
    }

    for (i = 0; i < probs.n; i++) {
        n = apigw_problem_format(&probs.items[i], buf, sizeof(buf));
        if (n >= sizeof(buf)) {
            n = sizeof(buf) - 1;
        }

        level = probs.items[i].warning ? NGX_LOG_WARN : NGX_LOG_EMERG;
        ngx_log_error(level, cf->log, 0, "apigw: %*s", n, buf);
    }

    if (probs.dropped) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "apigw: %uz more warnings not shown", probs.dropped);
    }

    apigw_problems_free(&probs);

    if (failed) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "apigw: invalid OpenAPI document(s) in \"apigw_spec\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&resolved, cf->temp_pool, 4, sizeof(ngx_url_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    pa = alcf->apis->elts;

    for (i = 0; i < alcf->apis->nelts; i++) {
        for (n = 0; n < pa[i]->nops; n++) {
            if (ngx_http_apigw_compile_op(cf, alcf, &pa[i]->ops[n], &resolved)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }
        }
    }

    return NGX_CONF_OK;
}


char *
ngx_http_apigw_compile_op(ngx_conf_t *cf, ngx_http_apigw_loc_conf_t *alcf,
    apigw_operation_t *op, ngx_array_t *resolved)
{
    u_char               *p;
    size_t                len;
    ngx_url_t            *u;
    ngx_uint_t            i;
    const char           *title;
    ngx_http_apigw_op_t  *opx;
    const apigw_backend_t  *b;

    b = &op->backend;

    if (b->url == NULL) {
        op->ext = NULL;             /* answered with 501 */
        return NGX_CONF_OK;
    }

    opx = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_op_t));
    if (opx == NULL) {
        return NGX_CONF_ERROR;
    }

    /* resolve each backend authority once per location */

    len = ngx_strlen(b->authority);
    u = resolved->elts;

    for (i = 0; i < resolved->nelts; i++) {
        if (u[i].url.len == len
            && ngx_strncmp(u[i].url.data, b->authority, len) == 0
            && u[i].default_port == (in_port_t) b->port)
        {
            break;
        }
    }

    if (i == resolved->nelts) {
        u = ngx_array_push(resolved);
        if (u == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(u, sizeof(ngx_url_t));

        u->url.data = (u_char *) b->authority;
        u->url.len = len;
        u->default_port = (in_port_t) b->port;

        if (ngx_parse_url(cf->pool, u) != NGX_OK || u->naddrs == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "apigw: %s: %s: backend \"%s\": %s",
                          op->api->file ? op->api->file : "", op->pointer,
                          b->url, u->err ? u->err : "host not found");
            return NGX_CONF_ERROR;
        }

    } else {
        u = &u[i];
    }

    opx->addrs = u->addrs;
    opx->naddrs = u->naddrs;

    opx->https = (ngx_strcmp(b->scheme, "https") == 0);

    opx->host.data = (u_char *) b->authority;
    opx->host.len = len;
    opx->sni.data = (u_char *) b->host;
    opx->sni.len = ngx_strlen(b->host);

    if (b->method) {
        opx->method.data = (u_char *) b->method;
        opx->method.len = ngx_strlen(b->method);
    }

    title = op->api->title && op->api->title[0] ? op->api->title
                                                : op->api->base_path;
    opx->api_name.data = (u_char *) title;
    opx->api_name.len = ngx_strlen(title);

    if (op->operation_id) {
        opx->op_name.data = (u_char *) op->operation_id;
        opx->op_name.len = ngx_strlen(op->operation_id);

    } else {
        len = ngx_strlen(apigw_method_name(op->method)) + 1
              + ngx_strlen(op->path);
        p = ngx_pnalloc(cf->pool, len);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        opx->op_name.data = p;
        opx->op_name.len = ngx_sprintf(p, "%s %s",
                                       apigw_method_name(op->method),
                                       op->path)
                           - p;
    }

    op->ext = opx;

    return NGX_CONF_OK;
}


/*
 * Timeouts and TLS verification of the location's proxy configuration.
 * The proxy module has merged this location already (it comes first in
 * the module list) and its location configuration starts with the public
 * ngx_http_upstream_conf_t, so apigw's directives apply whatever order
 * they were written in.
 */

static char *
ngx_http_apigw_backend_conf(ngx_conf_t *cf, ngx_http_apigw_loc_conf_t *alcf)
{
    ngx_http_upstream_conf_t  *ucf;

    ucf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_proxy_module);

    ucf->connect_timeout = alcf->backend_connect_timeout;
    ucf->send_timeout = alcf->backend_timeout;
    ucf->read_timeout = alcf->backend_timeout;

#if (NGX_HTTP_SSL)
    ucf->ssl_verify = alcf->ssl_verify;

    if (alcf->ssl_verify && ucf->ssl) {
        return ngx_http_apigw_trust(cf, ucf->ssl,
                                    &alcf->ssl_trusted_certificate);
    }
#endif

    return NGX_CONF_OK;
}


#if (NGX_HTTP_SSL)

typedef struct {
    ngx_str_t      file;
    X509_STORE    *store;
} ngx_http_apigw_trust_t;


static void
ngx_http_apigw_trust_cleanup(void *data)
{
    X509_STORE_free(data);
}


/*
 * The backend TLS trust of a location.  A CA bundle takes a quarter of a
 * second of CPU to parse, and every apigw location has its own SSL_CTX:
 * each file is loaded once per configuration into an X509_STORE that all
 * the locations' contexts share (stores are reference counted).
 */

static char *
ngx_http_apigw_trust(ngx_conf_t *cf, ngx_ssl_t *ssl, ngx_str_t *file)
{
    ngx_str_t                    name, none;
    ngx_uint_t                   i;
    X509_STORE                  *store;
    ngx_pool_cleanup_t          *cln;
    ngx_http_apigw_trust_t      *t;
    ngx_http_apigw_main_conf_t  *amcf;

    /* the verify callback and depth, as ngx_ssl_trusted_certificate() */

    ngx_str_null(&none);

    if (ngx_ssl_trusted_certificate(cf, ssl, &none, 4) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    name = *file;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apigw_module);

    if (amcf->trust_stores == NULL) {
        amcf->trust_stores = ngx_array_create(cf->pool, 1,
                                              sizeof(ngx_http_apigw_trust_t));
        if (amcf->trust_stores == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    t = amcf->trust_stores->elts;

    for (i = 0; i < amcf->trust_stores->nelts; i++) {
        if (t[i].file.len == name.len
            && ngx_strncmp(t[i].file.data, name.data, name.len) == 0)
        {
            break;
        }
    }

    if (i == amcf->trust_stores->nelts) {
        store = X509_STORE_new();
        if (store == NULL) {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            X509_STORE_free(store);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_apigw_trust_cleanup;
        cln->data = store;

        if (X509_STORE_load_file(store, (char *) name.data) != 1) {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "apigw: cannot load CA certificates from \"%s\"",
                          name.data);
            return NGX_CONF_ERROR;
        }

        ERR_clear_error();

        t = ngx_array_push(amcf->trust_stores);
        if (t == NULL) {
            return NGX_CONF_ERROR;
        }

        t->file = name;
        t->store = store;

    } else {
        t = &t[i];
    }

    SSL_CTX_set1_cert_store(ssl->ctx, t->store);

    return NGX_CONF_OK;
}

#endif


static void
ngx_http_apigw_cleanup(void *data)
{
    ngx_http_apigw_loc_conf_t  *alcf = data;

    ngx_uint_t     i;
    apigw_api_t  **pa;

    apigw_router_free(alcf->router);
    alcf->router = NULL;

    if (alcf->apis) {
        pa = alcf->apis->elts;
        for (i = 0; i < alcf->apis->nelts; i++) {
            apigw_api_free(pa[i]);
        }
        alcf->apis->nelts = 0;
    }
}


/* ---- directives ---- */

static char *
ngx_http_apigw(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apigw_loc_conf_t *alcf = conf;

    char                        *rv;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_core_srv_conf_t    *cscf;
    ngx_http_apigw_loc_conf_t   *slcf;
    ngx_http_apigw_main_conf_t  *amcf;

    if (alcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    alcf->enable = 1;

    /* the server's errors before location matching are JSON too */
    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    slcf = cscf->ctx->loc_conf[ngx_http_apigw_module.ctx_index];
    slcf->server_errors = 1;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apigw_module);

    rv = ngx_http_apigw_create_upstream(cf, amcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler (\"proxy_pass\", "
               "\"fastcgi_pass\", ...) in this location";
    }

    rv = ngx_http_apigw_conf_inject(cf, &ngx_http_apigw_proxy_conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    /* apigw routes first, then hands the request to the proxy module */
    alcf->proxy_handler = clcf->handler;
    clcf->handler = ngx_http_apigw_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_apigw_spec(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apigw_loc_conf_t *alcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, file, *f;
    ngx_glob_t   gl;

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (alcf->specs == NGX_CONF_UNSET_PTR) {
        alcf->specs = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (alcf->specs == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (strpbrk((char *) file.data, "*?[") == NULL) {
        f = ngx_array_push(alcf->specs);
        if (f == NULL) {
            return NGX_CONF_ERROR;
        }

        *f = file;
        return NGX_CONF_OK;
    }

    ngx_memzero(&gl, sizeof(ngx_glob_t));

    gl.pattern = file.data;
    gl.log = cf->log;
    gl.test = 1;

    if (ngx_open_glob(&gl) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_glob_n " \"%s\" failed", file.data);
        return NGX_CONF_ERROR;
    }

    n = 0;

    for ( ;; ) {
        if (ngx_read_glob(&gl, &file) != NGX_OK) {
            break;
        }

        f = ngx_array_push(alcf->specs);
        if (f == NULL) {
            ngx_close_glob(&gl);
            return NGX_CONF_ERROR;
        }

        /* the importer wants C strings */
        f->len = file.len;
        f->data = ngx_pnalloc(cf->pool, file.len + 1);
        if (f->data == NULL) {
            ngx_close_glob(&gl);
            return NGX_CONF_ERROR;
        }

        (void) ngx_cpystrn(f->data, file.data, file.len + 1);
        n++;
    }

    ngx_close_glob(&gl);

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "no OpenAPI document matches \"%V\"", &value[1]);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_apigw_keepalive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apigw_main_conf_t *amcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (amcf->upstream_created) {
        return "must come before the first \"apigw\" directive";
    }

    value = cf->args->elts;

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR || n == 0) {
        return "invalid value";
    }

    amcf->keepalive = n;

    return NGX_CONF_OK;
}


ngx_uint_t
ngx_http_apigw_token_ok(ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (!(isalnum(s->data[i])
              || ngx_strlchr((u_char *) "!#$%&'*+-.^_`|~",
                             (u_char *) "!#$%&'*+-.^_`|~" + 15, s->data[i])))
        {
            return 0;
        }
    }

    return s->len != 0;
}


/*
 * A header apigw sets on requests and answers: not one that frames or
 * routes the message, carries credentials or is apigw's own (two
 * Content-Length headers, a request id for a Host).
 */
char *
ngx_http_apigw_header_name_check(ngx_str_t *s)
{
    ngx_uint_t  i;

    static ngx_str_t  reserved[] = {
        ngx_string("Content-Length"), ngx_string("Transfer-Encoding"),
        ngx_string("Content-Type"), ngx_string("Content-Encoding"),
        ngx_string("Host"), ngx_string("Connection"),
        ngx_string("Keep-Alive"), ngx_string("Proxy-Connection"),
        ngx_string("TE"), ngx_string("Trailer"), ngx_string("Upgrade"),
        ngx_string("Expect"), ngx_string("Authorization"),
        ngx_string("Proxy-Authorization"), ngx_string("Proxy-Authenticate"),
        ngx_string("WWW-Authenticate"), ngx_string("Cookie"),
        ngx_string("Set-Cookie"), ngx_string("Location"),
        ngx_string("Date"), ngx_string("Server"), ngx_string("Via"),
        ngx_string("Forwarded"), ngx_string("X-Real-IP"),
        ngx_string("X-Forwarded-For"), ngx_string("X-Forwarded-Proto"),
        ngx_string("X-Forwarded-Host"), ngx_string("X-Forwarded-Port"),
        ngx_string("X-Forwarded-Url")
    };

    if (!ngx_http_apigw_token_ok(s)) {
        return "needs a header name (letters, digits and !#$%&'*+-.^_`|~)";
    }

    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (s->len == reserved[i].len
            && ngx_strncasecmp(s->data, reserved[i].data, s->len) == 0)
        {
            return "cannot be a header that frames or routes the message, "
                   "carries credentials or is set by apigw itself";
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_apigw_header_name_post(ngx_conf_t *cf, void *post, void *data)
{
    return ngx_http_apigw_header_name_check(data);
}


static char *
ngx_http_apigw_positive_post(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *ms = data;

    if (*ms == 0) {
        return "must be more than 0";
    }

    return NGX_CONF_OK;
}


/* a body limit: 0 would refuse every body ("no limit" in nginx's) */

static char *
ngx_http_apigw_size_post(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    if (*sp == 0) {
        return "must be more than 0";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_apigw_base_url_post(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *s = data;

    /* the web action's path is appended: no query or fragment before it */
    if (!((s->len > 7 && ngx_strncasecmp(s->data, (u_char *) "http://", 7)
                         == 0)
          || (s->len > 8 && ngx_strncasecmp(s->data, (u_char *) "https://", 8)
                            == 0))
        || ngx_strlchr(s->data, s->data + s->len, '?')
        || ngx_strlchr(s->data, s->data + s->len, '#'))
    {
        return "needs an http:// or https:// URL without a query or "
               "fragment";
    }

    return NGX_CONF_OK;
}
