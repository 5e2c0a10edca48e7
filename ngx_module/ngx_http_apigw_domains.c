/*
 * apigw custom domains: a tenant's domains (store records "tenant:{id}"
 * with "domains", and "cert:{domain}" with its certificate) compiled into
 * one hash table per worker whenever the store changes, off the request
 * path.  A request whose Host is such a domain is routed by the tenant's
 * APIs without the /api/{tenant} prefix (one probe, then one for the
 * wildcard "*.parent"); in a TLS handshake, $apigw_ssl_certificate and
 * $apigw_ssl_certificate_key give the PEM of the SNI name's certificate,
 * or the server's apigw_ssl_default_certificate, for
 *
 *     ssl_certificate     data:$apigw_ssl_certificate;
 *     ssl_certificate_key data:$apigw_ssl_certificate_key;
 *
 * nginx evaluates them for every handshake (ngx_http_ssl_certificate()):
 * the PEM is kept ready in the table, never read or built per handshake.
 */

#include "ngx_http_apigw_store.h"


typedef struct {
    ngx_str_t   cert_file;
    ngx_str_t   key_file;
    ngx_str_t   cert;          /* PEM read at configuration time */
    ngx_str_t   key;
} ngx_http_apigw_domains_srv_conf_t;


static ngx_int_t ngx_http_apigw_domains_add_variables(ngx_conf_t *cf);
static void *ngx_http_apigw_domains_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_apigw_domains_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_apigw_domains_init_process(ngx_cycle_t *cycle);
static void ngx_http_apigw_domains_rebuild(const apigw_store_t *s,
    void *data);
static ngx_int_t ngx_http_apigw_ssl_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* domain -> {"t": tenant, "c": chain PEM, "k": key PEM}; this worker's */
static json_t  *ngx_http_apigw_domtab;


static ngx_command_t  ngx_http_apigw_domains_commands[] = {

    { ngx_string("apigw_ssl_default_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_apigw_domains_srv_conf_t, cert_file),
      NULL },

    { ngx_string("apigw_ssl_default_certificate_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_apigw_domains_srv_conf_t, key_file),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_apigw_domains_module_ctx = {
    ngx_http_apigw_domains_add_variables,  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_apigw_domains_create_srv_conf, /* create server configuration */
    ngx_http_apigw_domains_merge_srv_conf, /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_apigw_domains_module = {
    NGX_MODULE_V1,
    &ngx_http_apigw_domains_module_ctx,    /* module context */
    ngx_http_apigw_domains_commands,       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_apigw_domains_init_process,   /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_apigw_domains_vars[] = {

    { ngx_string("apigw_ssl_certificate"), NULL,
      ngx_http_apigw_ssl_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("apigw_ssl_certificate_key"), NULL,
      ngx_http_apigw_ssl_variable, 1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* ---- configuration ---- */

static ngx_int_t
ngx_http_apigw_domains_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_apigw_domains_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_apigw_domains_create_srv_conf(ngx_conf_t *cf)
{
    /* ngx_pcalloc(): the strings are empty (unset) */
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_domains_srv_conf_t));
}


/* the whole file, NUL-terminated; configuration time only */
static char *
ngx_http_apigw_domains_read(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *out)
{
    ssize_t          n;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *name;
    file.log = cf->log;
    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apigw: \"%V\" cannot be read or is larger "
                           "than 1m", name);
        (void) ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    out->len = (size_t) ngx_file_size(&fi);
    out->data = ngx_pnalloc(cf->pool, out->len + 1);

    if (out->data == NULL) {
        (void) ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&file, out->data, out->len, 0);
    (void) ngx_close_file(file.fd);

    if (n != (ssize_t) out->len
        || ngx_strnstr(out->data, "-----BEGIN ", out->len) == NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apigw: \"%V\" is not a PEM file", name);
        return NGX_CONF_ERROR;
    }

    out->data[out->len] = '\0';

    return NGX_CONF_OK;
}


static char *
ngx_http_apigw_domains_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_apigw_domains_srv_conf_t *prev = parent;
    ngx_http_apigw_domains_srv_conf_t *conf = child;

    if (conf->cert_file.len == 0 && conf->key_file.len == 0) {
        conf->cert_file = prev->cert_file;
        conf->key_file = prev->key_file;
        conf->cert = prev->cert;
        conf->key = prev->key;
    }

    if ((conf->cert_file.len == 0) != (conf->key_file.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "apigw: \"apigw_ssl_default_certificate\" and "
                           "\"apigw_ssl_default_certificate_key\" go "
                           "together");
        return NGX_CONF_ERROR;
    }

    if (conf->cert_file.len && conf->cert.len == 0) {
        if (ngx_http_apigw_domains_read(cf, &conf->cert_file, &conf->cert)
            != NGX_CONF_OK
            || ngx_http_apigw_domains_read(cf, &conf->key_file, &conf->key)
               != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* ---- the table ---- */

static ngx_int_t
ngx_http_apigw_domains_init_process(ngx_cycle_t *cycle)
{
    ngx_http_apigw_admin_main_conf_t  *amcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_apigw_admin_module);

    if (amcf == NULL || amcf->store.len == 0) {
        return NGX_OK;
    }

    return ngx_http_apigw_store_on_change(ngx_http_apigw_domains_rebuild,
                                          NULL);
}


static int
ngx_http_apigw_domains_tenant(const char *key, json_t *rec, void *data)
{
    json_t *tab = data;

    size_t   i;
    json_t  *d, *e;

    json_array_foreach(json_object_get(rec, "domains"), i, d) {
        if (!json_is_string(d)) {
            continue;
        }

        e = json_pack("{s:s}", "t", key + sizeof("tenant:") - 1);

        if (e == NULL || json_object_set_new(tab, json_string_value(d), e)
                         != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
ngx_http_apigw_domains_cert(const char *key, json_t *rec, void *data)
{
    json_t *tab = data;

    json_t  *e, *c, *k;

    e = json_object_get(tab, key + sizeof("cert:") - 1);
    c = json_object_get(rec, "chain");
    k = json_object_get(rec, "key");

    /* the PEM strings are shared with the store's record, not copied */
    if (e && json_is_string(c) && json_is_string(k)) {
        if (json_object_set(e, "c", c) != 0
            || json_object_set(e, "k", k) != 0)
        {
            return -1;
        }
    }

    return 0;
}


static void
ngx_http_apigw_domains_rebuild(const apigw_store_t *s, void *data)
{
    json_t  *tab;

    tab = json_object();

    if (tab == NULL
        || apigw_store_foreach(s, "tenant:", ngx_http_apigw_domains_tenant,
                               tab) != 0
        || apigw_store_foreach(s, "cert:", ngx_http_apigw_domains_cert, tab)
           != 0)
    {
        /* keep the table we have */
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "apigw: out of memory building the domain table");
        json_decref(tab);
        return;
    }

    json_decref(ngx_http_apigw_domtab);
    ngx_http_apigw_domtab = tab;
}


/* the entry of a lower-case host name: exact, then "*." + its parent */
static json_t *
ngx_http_apigw_domain_find(const u_char *name, size_t len)
{
    u_char   buf[256];
    u_char  *dot;
    json_t  *e;

    if (ngx_http_apigw_domtab == NULL || len == 0) {
        return NULL;
    }

    e = json_object_getn(ngx_http_apigw_domtab, (const char *) name, len);
    if (e) {
        return e;
    }

    dot = ngx_strlchr((u_char *) name, (u_char *) name + len, '.');

    if (dot == NULL || dot == name
        || (size_t) (name + len - dot) + 1 > sizeof(buf))
    {
        return NULL;
    }

    buf[0] = '*';
    ngx_memcpy(buf + 1, dot, name + len - dot);

    return json_object_getn(ngx_http_apigw_domtab, (const char *) buf,
                            name + len - dot + 1);
}


/*
 * The data plane's hook: NGX_OK and *m when the request's Host is a
 * tenant's domain and one of its APIs has the path; the tenant (for
 * $apigw_tenant) copied into the request's pool.
 */

ngx_int_t
ngx_http_apigw_domain_match(ngx_http_request_t *r, apigw_method_e method,
    const apigw_path_t *path, apigw_match_t *m, ngx_str_t *tenant)
{
    json_t     *e, *t;
    ngx_str_t   host, id;
    ngx_int_t   rc;

    host = r->headers_in.server;    /* lower case, without the port */

    e = ngx_http_apigw_domain_find(host.data, host.len);
    if (e == NULL) {
        return NGX_DECLINED;
    }

    t = json_object_get(e, "t");
    id.data = (u_char *) json_string_value(t);
    id.len = json_string_length(t);

    rc = ngx_http_apigw_dyn_match_tenant(r, (char *) id.data, id.len,
                                         method, path, 0, m);
    if (rc != NGX_OK) {
        return rc;
    }

    tenant->data = ngx_pstrdup(r->pool, &id);
    if (tenant->data == NULL) {
        return NGX_ERROR;
    }

    tenant->len = id.len;

    return NGX_OK;
}


/* ---- the certificate variables ---- */

static ngx_int_t
ngx_http_apigw_ssl_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
#if (NGX_HTTP_SSL)

    u_char                             *p, buf[256];
    size_t                              i, len;
    json_t                             *e, *pem;
    const char                         *name;
    ngx_str_t                          *def;
    ngx_http_apigw_domains_srv_conf_t  *dscf;

    if (r->connection->ssl == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    pem = NULL;
    name = SSL_get_servername(r->connection->ssl->connection,
                              TLSEXT_NAMETYPE_host_name);

    if (name) {
        len = ngx_strlen(name);

        if (len < sizeof(buf)) {
            for (i = 0; i < len; i++) {
                buf[i] = ngx_tolower(name[i]);
            }

            e = ngx_http_apigw_domain_find(buf, len);
            pem = json_object_get(e, data ? "k" : "c");
        }
    }

    if (pem) {
        p = (u_char *) json_string_value(pem);
        len = json_string_length(pem);

    } else {
        dscf = ngx_http_get_module_srv_conf(r, ngx_http_apigw_domains_module);
        def = data ? &dscf->key : &dscf->cert;

        if (def->len == 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        p = def->data;
        len = def->len;
    }

    v->data = p;
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;

#else

    v->not_found = 1;
    return NGX_OK;

#endif
}
