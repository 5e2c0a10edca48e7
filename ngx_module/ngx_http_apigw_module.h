/*
 * apigw nginx glue: shared declarations of the module's files.
 */

#ifndef _NGX_HTTP_APIGW_MODULE_H_INCLUDED_
#define _NGX_HTTP_APIGW_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "apigw.h"


/* the upstream{} apigw creates; its balancer picks the operation's peer */
#define NGX_HTTP_APIGW_UPSTREAM  "apigw_backend"


typedef struct {
    ngx_flag_t                  upstream_created;
    ngx_uint_t                  keepalive;
    /* apigw's upstream{}, and its peer init as the keepalive module left it */
    ngx_http_upstream_srv_conf_t    *upstream;
    ngx_http_upstream_init_peer_pt   keepalive_init_peer;
    ngx_shm_zone_t             *zone;       /* apigw_zone: shared state */
    void                       *rl;         /* ngx_http_apigw_ratelimit.c */
    /* apigw_keytab_t * from apigw_keys_file (ngx_http_apigw_auth.c) */
    void                       *keytab;
    /* JWKS / discovery sources, their zone (ngx_http_apigw_jwks.c) */
    ngx_array_t                *jwks_sources;
    ngx_shm_zone_t             *jwks_zone;
    void                       *http_ssl;     /* ngx_ssl_t *, outbound */
    time_t                      jwks_refresh;
    time_t                      jwks_min_refresh;
    ngx_array_t                *providers;    /* apigw_oauth2_provider */
    ngx_array_t                *provider_schemes;  /* compiled, for APIs
                                                      of the store */
    ngx_str_t                   http_trusted; /* CAs for outbound calls */
    /* CA bundles loaded once per configuration, shared by locations */
    ngx_array_t                *trust_stores;
    ngx_str_t                   keys_file;    /* watched for changes */
    ngx_file_uniq_t             keys_uniq;
    time_t                      keys_mtime;
    off_t                       keys_size;
    ngx_array_t                *vanity;       /* char *: every location's
                                                 apigw_vanity_domain */
} ngx_http_apigw_main_conf_t;


/* per operation, kept in apigw_operation_t.ext */
typedef struct {
    ngx_addr_t                 *addrs;       /* resolved at configuration */
    ngx_uint_t                  naddrs;
    ngx_uint_t                  https;       /* TLS to the backend */
    ngx_str_t                   host;        /* Host: authority */
    ngx_str_t                   sni;         /* TLS server name */
    ngx_str_t                   method;      /* fixed verb, or empty */
    ngx_str_t                   api_name;    /* $apigw_api */
    ngx_str_t                   op_name;     /* $apigw_operation */
    /* managed APIs: what API keys are scoped to (tenant, artifact id);
       NULL for static specs (tenant "", the base path) */
    const char                 *key_tenant;
    const char                 *key_api;
    /* managed APIs: the pool the operation lives in, and the scope ids of
       the apigw_rate_limit defaults, by APIGW_RL_SCOPE_*, made on first
       use (ngx_http_apigw_ratelimit.c) */
    ngx_pool_t                 *pool;
    char                       *rl_scope_id[4];
} ngx_http_apigw_op_t;


/* the request id and the hop-by-hop headers of ngx_http_apigw_module.c */
#define NGX_HTTP_APIGW_HOPS  7


typedef struct {
    ngx_flag_t                  enable;
    /*
     * set in a server{}'s own location configuration when one of its
     * locations has "apigw": errors nginx answers before any location is
     * matched (bad request line or URI, headers too large, ...) are JSON
     */
    ngx_flag_t                  server_errors;
    ngx_array_t                *specs;            /* ngx_str_t file names */
    ngx_str_t                   openwhisk_url;
    ngx_msec_t                  backend_timeout;
    ngx_msec_t                  backend_connect_timeout;
    ngx_flag_t                  ssl_verify;
    ngx_str_t                   ssl_trusted_certificate;
    ngx_str_t                   request_id_header;
    ngx_str_t                   request_id_lc;    /* lower-cased */
    /* response headers of the backend not sent on */
    ngx_str_t                   hide[NGX_HTTP_APIGW_HOPS];
    ngx_uint_t                  request_id_hash;  /* nginx's, of _lc */

    apigw_router_t             *router;
    ngx_array_t                *apis;             /* apigw_api_t * */

    ngx_flag_t                  web_actions;
    ngx_array_t                *vanity_domains;   /* ngx_str_t, lower case */
    apigw_api_t                *webaction_api;

    ngx_http_handler_pt         proxy_handler;

    ngx_flag_t                  validate;         /* apigw_validate */
    size_t                      validate_body_max;
    void                       *rl;       /* ngx_http_apigw_ratelimit.c */
    /* credentials (ngx_http_apigw_auth.c) */
    ngx_flag_t                  strip_credentials;
    ngx_array_t                *identity;     /* identity headers */
    ngx_flag_t                  token_cache;  /* verified JWTs cached */
} ngx_http_apigw_loc_conf_t;


typedef struct {
    ngx_str_t                   request_id;
    ngx_str_t                   backend_uri;      /* path and query */
    ngx_str_t                   reason;           /* $apigw_reason */
    ngx_str_t                   origin;           /* request Origin */
    const apigw_api_t          *api;
    const apigw_operation_t    *op;
    ngx_http_apigw_op_t        *opx;
    ngx_uint_t                  peer;             /* next address to try */
    ngx_buf_t                  *error_body;       /* replaces nginx's page */
    unsigned                    own_response:1;
    unsigned                    error_sent:1;
    unsigned                    preflight:1;
    unsigned                    any_origin:1;     /* errors: ACAO "*" */

    /* the router's result, for ngx_http_apigw_invoke() */
    apigw_match_t              *match;
    apigw_path_t               *path;
    size_t                      path_first;       /* segments not appended */
    void                       *validate;         /* validation state */
    void                       *rl;         /* rate limits of the request */
    ngx_str_t                   consumer;         /* $apigw_consumer */
    void                       *auth;     /* ngx_http_apigw_auth.c state */
    void                       *keytab;   /* the key table pinned */
    ngx_str_t                   tenant;           /* $apigw_tenant */
    /* the client's request line while the backend's is set */
    ngx_str_t                   client_uri;
    ngx_str_t                   client_method;
    ngx_int_t                 (*create_request)(ngx_http_request_t *r);
    /* the proxy module's, around which apigw refuses HTTP/0.9 answers */
    ngx_int_t                 (*process_header)(ngx_http_request_t *r);
    ngx_int_t                 (*reinit_request)(ngx_http_request_t *r);
    ngx_uint_t                  client_http_version;
    unsigned                    client_valid_uri:1;
    unsigned                    request_line_set:1;
    unsigned                    token_cache:2;    /* $apigw_token_cache */
    unsigned                    match_kept:1;     /* match, path: pool */
    /* whose query credentials are hidden in what nginx logs */
    const apigw_security_t     *redact;
} ngx_http_apigw_ctx_t;


#define NGX_HTTP_APIGW_TOKEN_HIT   1
#define NGX_HTTP_APIGW_TOKEN_MISS  2


extern ngx_module_t  ngx_http_apigw_module;


#define ngx_http_apigw_utoa(p, v)  (u_char *) apigw_utoa((char *) (p), (v))


char *ngx_http_apigw_create_upstream(ngx_conf_t *cf,
    ngx_http_apigw_main_conf_t *amcf);
char *ngx_http_apigw_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_apigw_conf_inject(ngx_conf_t *cf, ngx_str_t *text);
void ngx_http_apigw_upstream_wrap(ngx_http_apigw_main_conf_t *amcf);

typedef struct {
    ngx_uint_t   status;
    const char  *reason;        /* $apigw_reason */
    const char  *message;
} ngx_http_apigw_error_t;

/* the reason and message of a status (a catch-all for unknown ones) */
const ngx_http_apigw_error_t *ngx_http_apigw_error_for(ngx_uint_t status);
ngx_int_t ngx_http_apigw_send_error(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx, ngx_uint_t status, const char *reason);
ngx_http_apigw_ctx_t *ngx_http_apigw_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_apigw_forwarded_url(ngx_http_request_t *r, ngx_str_t *url);
/* response headers of any of these lower-case names are not sent */
void ngx_http_apigw_hide_out(ngx_http_request_t *r, const ngx_str_t *lc,
    ngx_uint_t n);

/* 1: s is an RFC 9110 token, as a header name must be */
ngx_uint_t ngx_http_apigw_token_ok(ngx_str_t *s);
char *ngx_http_apigw_header_name_check(ngx_str_t *s);

/* post handlers of directives: more than 0; an http(s) URL to append to */
extern ngx_conf_post_t  ngx_http_apigw_positive_p;
extern ngx_conf_post_t  ngx_http_apigw_size_p;
extern ngx_conf_post_t  ngx_http_apigw_base_url_p;

/* 1: the header's name is lc (a lower-case name), in any case */
static ngx_inline ngx_uint_t
ngx_http_apigw_named_as(const ngx_table_elt_t *h, const ngx_str_t *lc)
{
    return h->key.len == lc->len
           && ngx_strncasecmp(h->key.data, lc->data, lc->len) == 0;
}
ngx_table_elt_t *ngx_http_apigw_header_in(ngx_http_request_t *r, u_char *lc,
    size_t len, ngx_uint_t hash);
char *ngx_http_apigw_compile_op(ngx_conf_t *cf,
    ngx_http_apigw_loc_conf_t *alcf, apigw_operation_t *op,
    ngx_array_t *resolved);

char *ngx_http_apigw_vanity_domain(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_apigw_webaction_conf(ngx_conf_t *cf,
    ngx_http_apigw_loc_conf_t *alcf, ngx_array_t *resolved);
ngx_int_t ngx_http_apigw_vanity(ngx_http_request_t *r,
    ngx_http_apigw_loc_conf_t *alcf, apigw_path_t *path, apigw_match_t *m);
ngx_int_t ngx_http_apigw_invoke(ngx_http_request_t *r);
ngx_int_t ngx_http_apigw_keep_match(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx);

/* ngx_http_apigw_validate.c */
ngx_int_t ngx_http_apigw_validate(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx);
void ngx_http_apigw_validate_init(ngx_conf_t *cf);
/* the body collected for the operation (validation, a mapping), or NULL */
const char *ngx_http_apigw_collected_body(ngx_http_request_t *r,
    size_t *len);
/* request mapping (ngx_http_apigw_reqmap.c) */
ngx_int_t ngx_http_apigw_reqmap(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx, ngx_str_t *args);

/* credentials (ngx_http_apigw_auth.c) */
ngx_int_t ngx_http_apigw_redact_request(ngx_http_request_t *r,
    const apigw_api_t *api);
ngx_int_t ngx_http_apigw_redact_upstream(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx);
ngx_int_t ngx_http_apigw_auth(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx, ngx_http_apigw_loc_conf_t *alcf);
void ngx_http_apigw_auth_init(void);
char *ngx_http_apigw_auth_merge(ngx_conf_t *cf,
    ngx_http_apigw_loc_conf_t *prev, ngx_http_apigw_loc_conf_t *conf);
/* installs a new key table (apigw_keytab_build()) in this worker */
struct apigw_keytab_s;
void ngx_http_apigw_auth_set_keytab(struct apigw_keytab_s *t);
/* bearer schemes of an API imported at run time get their provider */
ngx_int_t ngx_http_apigw_auth_prepare(ngx_pool_t *pool, apigw_api_t *api);
char *ngx_http_apigw_auth_compile(ngx_conf_t *cf,
    ngx_http_apigw_loc_conf_t *conf);
char *ngx_http_apigw_keys_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_apigw_oauth2_provider(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_apigw_keys_init_process(ngx_cycle_t *cycle,
    ngx_http_apigw_main_conf_t *amcf);
ngx_int_t ngx_http_apigw_jwks_init_process(ngx_cycle_t *cycle);
char *ngx_http_apigw_jwks_refresh(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_apigw_identity_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
/* ngx_http_apigw_keyfeed.c: the store's keys in every worker's table */
ngx_int_t ngx_http_apigw_keyfeed_init_process(ngx_cycle_t *cycle);
/* web-action bindings (ngx_http_apigw_wabind.c) */
ngx_int_t ngx_http_apigw_wabind_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_apigw_wabind(ngx_http_request_t *r,
    ngx_http_apigw_ctx_t *ctx, apigw_match_t *m, apigw_path_t *path);
/* ngx_http_apigw_store.c: the dynamic APIs under /api/{tenant}/ */
ngx_int_t ngx_http_apigw_dyn_match(ngx_http_request_t *r,
    apigw_method_e method, const apigw_path_t *path, apigw_match_t *m,
    size_t *first);
/* a Redis store this worker could not read yet: it knows no API */
ngx_uint_t ngx_http_apigw_store_unread(void);

/* ngx_http_apigw_domains.c: a tenant's APIs on its custom domains */
ngx_int_t ngx_http_apigw_domain_match(ngx_http_request_t *r,
    apigw_method_e method, const apigw_path_t *path, apigw_match_t *m,
    ngx_str_t *tenant);


#endif /* _NGX_HTTP_APIGW_MODULE_H_INCLUDED_ */
