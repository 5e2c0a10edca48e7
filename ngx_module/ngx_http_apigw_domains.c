/*
 * apigw custom domains: a tenant's domains (store records "tenant:{id}"
 * with "domains", and "cert:{domain}" with its certificate) compiled into
 * one hash table per worker whenever the store changes, off the request
 * path (a certificate is decoded once, when it first appears).  A request
 * whose Host is such a domain is routed by the tenant's APIs without the
 * /api/{tenant} prefix (one probe, then one for the wildcard "*.parent").
 *
 * TLS: "apigw_ssl_domains on" installs a certificate callback in the
 * server's SSL_CTX that puts the decoded certificate, chain and key of the
 * SNI name on the connection (the server's ssl_certificate is the
 * default); or, without it, $apigw_ssl_certificate and
 * $apigw_ssl_certificate_key give the PEM for nginx's
 * "ssl_certificate data:$apigw_ssl_certificate" (nginx decodes it on
 * every handshake).
 */

#include "ngx_http_apigw_store.h"
#include "cert.h"


typedef struct {
    ngx_str_t   cert_file;
    ngx_str_t   key_file;
    ngx_str_t   cert;          /* PEM read at configuration time */
    ngx_str_t   key;
    ngx_flag_t  ssl_domains;   /* apigw_ssl_domains */
} ngx_http_apigw_domains_srv_conf_t;


/* one domain of the table */
typedef struct {
    char             *tenant;
    json_t           *chain_pem;   /* the store's string, referenced */
    json_t           *key_rec;     /* the store's key: PEM, or sealed */
    json_t           *key_pem;     /* the PEM (key_rec when in clear) */
#if (NGX_HTTP_SSL)
    X509             *cert;        /* decoded once */
    STACK_OF(X509)   *chain;
    EVP_PKEY         *pkey;
#endif
} ngx_http_apigw_domain_t;


static ngx_int_t ngx_http_apigw_domains_add_variables(ngx_conf_t *cf);
static void *ngx_http_apigw_domains_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_apigw_domains_merge_srv_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_apigw_domains_init_process(ngx_cycle_t *cycle);
static void ngx_http_apigw_domains_rebuild(const apigw_store_t *s,
    void *data);
static void ngx_http_apigw_domain_key_free(json_t *pem);
static ngx_int_t ngx_http_apigw_ssl_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_apigw_domains_postconf(ngx_conf_t *cf);


/* domain -> ngx_http_apigw_domain_t * (as an integer); this worker's */
static json_t  *ngx_http_apigw_domtab;

#define ngx_http_apigw_dom(j)  ((ngx_http_apigw_domain_t *) (uintptr_t)    \
                                json_integer_value(j))
#define ngx_http_apigw_dom_has_cert(j)                                       \
    (ngx_http_apigw_dom(j)->chain_pem && ngx_http_apigw_dom(j)->key_pem)


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

    { ngx_string("apigw_ssl_domains"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_apigw_domains_srv_conf_t, ssl_domains),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_apigw_domains_module_ctx = {
    ngx_http_apigw_domains_add_variables,  /* preconfiguration */
    ngx_http_apigw_domains_postconf,       /* postconfiguration */

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
    ngx_http_apigw_domains_srv_conf_t  *conf;

    /* ngx_pcalloc(): the strings are empty (unset) */
    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_apigw_domains_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->ssl_domains = NGX_CONF_UNSET;

    return conf;
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

    char          err[256];
    apigw_cert_t  crt;

    ngx_conf_merge_value(conf->ssl_domains, prev->ssl_domains, 0);

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

        /*
         * what nginx will load at every handshake that falls back to it:
         * a pair that does not load would fail each one, and nginx logs
         * the key's text with the failure
         */
        if (apigw_cert_check((char *) conf->cert.data, conf->cert.len,
                             (char *) conf->key.data, conf->key.len, NULL, 0,
                             &crt, err, sizeof(err))
            != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "apigw: \"apigw_ssl_default_certificate\" "
                               "\"%V\" with its key \"%V\": %s",
                               &conf->cert_file, &conf->key_file, err);
            return NGX_CONF_ERROR;
        }

        apigw_cert_free(&crt);
    }

    return NGX_CONF_OK;
}


#if (NGX_HTTP_SSL)
static int ngx_http_apigw_ssl_cert_cb(ngx_ssl_conn_t *ssl, void *arg);
#endif


/* "apigw_ssl_domains on": the certificate callback in the server's ctx */
static ngx_int_t
ngx_http_apigw_domains_postconf(ngx_conf_t *cf)
{
    ngx_uint_t                           s;
    ngx_http_core_srv_conf_t           **cscfp;
    ngx_http_core_main_conf_t           *cmcf;
    ngx_http_apigw_domains_srv_conf_t   *dscf, *http;
#if (NGX_HTTP_SSL)
    ngx_http_ssl_srv_conf_t             *sscf;
#endif

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;
    http = ngx_http_conf_get_module_srv_conf(cf,
                                             ngx_http_apigw_domains_module);

    for (s = 0; s < cmcf->servers.nelts; s++) {
        dscf = cscfp[s]->ctx->srv_conf[ngx_http_apigw_domains_module
                                       .ctx_index];

        if (dscf->ssl_domains != 1) {
            continue;
        }

#if (NGX_HTTP_SSL)
        sscf = cscfp[s]->ctx->srv_conf[ngx_http_ssl_module.ctx_index];

        /* on for all of http{}: its plain-http servers have no handshake */
        if (sscf->ssl.ctx == NULL && sscf->certificates == NULL
            && http->ssl_domains == 1)
        {
            continue;
        }

        if (sscf->ssl.ctx == NULL || sscf->certificate_values) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "apigw: \"apigw_ssl_domains\" in %s:%ui needs "
                          "the server's default \"ssl_certificate\" (a "
                          "file, no variables)", cscfp[s]->file_name,
                          cscfp[s]->line);
            return NGX_ERROR;
        }

        SSL_CTX_set_cert_cb(sscf->ssl.ctx, ngx_http_apigw_ssl_cert_cb, NULL);
#else
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "apigw: \"apigw_ssl_domains\" needs nginx with SSL");
        return NGX_ERROR;
#endif
    }

    return NGX_OK;
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


static void
ngx_http_apigw_domain_free(ngx_http_apigw_domain_t *d)
{
    if (d == NULL) {
        return;
    }

    free(d->tenant);
    json_decref(d->chain_pem);
    json_decref(d->key_rec);
    ngx_http_apigw_domain_key_free(d->key_pem);
#if (NGX_HTTP_SSL)
    X509_free(d->cert);
    sk_X509_pop_free(d->chain, X509_free);
    EVP_PKEY_free(d->pkey);
#endif
    ngx_free(d);
}


static void
ngx_http_apigw_domtab_free(json_t *tab)
{
    json_t      *v;
    const char  *k;

    json_object_foreach(tab, k, v) {
        ngx_http_apigw_domain_free(ngx_http_apigw_dom(v));
    }

    json_decref(tab);
}


static int
ngx_http_apigw_domains_tenant(const char *key, json_t *rec, void *data)
{
    json_t *tab = data;

    size_t                    i;
    json_t                   *d, *old;
    ngx_http_apigw_domain_t  *e, *prev;

    json_array_foreach(json_object_get(rec, "domains"), i, d) {
        if (!json_is_string(d)) {
            continue;
        }

        e = ngx_calloc(sizeof(ngx_http_apigw_domain_t), ngx_cycle->log);
        if (e == NULL) {
            return -1;
        }

        e->tenant = strdup(key + sizeof("tenant:") - 1);

        /* read before the set below frees the old integer */
        old = json_object_get(tab, json_string_value(d));
        prev = old ? ngx_http_apigw_dom(old) : NULL;

        if (e->tenant == NULL
            || json_object_set_new(tab, json_string_value(d),
                                   json_integer((json_int_t) (uintptr_t) e))
               != 0)
        {
            ngx_http_apigw_domain_free(e);
            return -1;
        }

        /* a store written by hand: the last tenant wins */
        ngx_http_apigw_domain_free(prev);
    }

    return 0;
}


#if (NGX_HTTP_SSL)

/* decodes the PEM of a record (validated when it was uploaded) */
static ngx_int_t
ngx_http_apigw_domain_decode(ngx_http_apigw_domain_t *e)
{
    BIO   *b;
    X509  *x;

    b = BIO_new_mem_buf(json_string_value(e->chain_pem),
                        (int) json_string_length(e->chain_pem));
    if (b == NULL) {
        return NGX_ERROR;
    }

    e->cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    e->chain = sk_X509_new_null();

    while (e->cert && e->chain
           && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
    {
        if (!sk_X509_push(e->chain, x)) {
            X509_free(x);
            break;
        }
    }

    BIO_free(b);
    ERR_clear_error();

    b = BIO_new_mem_buf(json_string_value(e->key_pem),
                        (int) json_string_length(e->key_pem));
    if (b == NULL) {
        return NGX_ERROR;
    }

    e->pkey = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *) "");
    BIO_free(b);
    ERR_clear_error();

    if (e->cert == NULL || e->chain == NULL || e->pkey == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}

#endif


/*
 * The PEM of a stored private key: the stored string itself, or, sealed,
 * opened with apigw_store_encryption_key into worker memory (wiped when the
 * table lets it go).  NULL (logged, never the key) when it does not open.
 */

static json_t *
ngx_http_apigw_domain_key(const char *key, json_t *k)
{
    char                              *pem, err[128];
    size_t                             len;
    json_t                            *v;
    ngx_http_apigw_admin_main_conf_t  *amcf;

    if (!apigw_sealed(json_string_value(k), json_string_length(k))) {
        return json_incref(k);
    }

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_apigw_admin_module);

    if (amcf == NULL || amcf->seal == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "apigw: the private key of \"%s\" is encrypted and "
                      "apigw_store_encryption_key is not set", key);
        return NULL;
    }

    pem = apigw_unseal(amcf->seal, key, json_string_value(k),
                       json_string_length(k), &len, err, sizeof(err));
    if (pem == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "apigw: the private key of \"%s\" %s", key, err);
        return NULL;
    }

    v = json_stringn_nocheck(pem, len);
    apigw_unsealed_free(pem, len);

    return v;
}


static void
ngx_http_apigw_domain_key_free(json_t *pem)
{
    char  *p;

    /* the last reference to an opened key: wiped before it is freed */
    if (pem && pem->refcount == 1) {
        p = (char *) json_string_value(pem);
        ngx_explicit_memzero(p, json_string_length(pem));
    }

    json_decref(pem);
}


static int
ngx_http_apigw_domains_cert(const char *key, json_t *rec, void *data)
{
    json_t *tab = data;

    json_t                   *c, *k, *prev;
    const char               *domain;
    ngx_http_apigw_domain_t  *e, *p;

    domain = key + sizeof("cert:") - 1;
    e = ngx_http_apigw_dom(json_object_get(tab, domain));
    c = json_object_get(rec, "chain");
    k = json_object_get(rec, "key");

    if (e == NULL || !json_is_string(c) || !json_is_string(k)
        || !json_is_string(json_object_get(rec, "tenant"))
        || ngx_strcmp(json_string_value(json_object_get(rec, "tenant")),
                      e->tenant) != 0)
    {
        /* no such domain, or a record left by an earlier owner */
        return 0;
    }

    /* unchanged since the last table: what it opened and decoded is reused */
    prev = json_object_get(ngx_http_apigw_domtab, domain);
    p = prev ? ngx_http_apigw_dom(prev) : NULL;

    if (p && p->key_pem && p->chain_pem == c && p->key_rec == k) {
        e->chain_pem = json_incref(c);
        e->key_rec = json_incref(k);
        e->key_pem = p->key_pem;
        p->key_pem = NULL;
#if (NGX_HTTP_SSL)
        e->cert = p->cert;
        e->chain = p->chain;
        e->pkey = p->pkey;
        p->cert = NULL;
        p->chain = NULL;
        p->pkey = NULL;
#endif
        return 0;
    }

    e->key_pem = ngx_http_apigw_domain_key(key, k);
    if (e->key_pem == NULL) {
        /* served with the server's own certificate */
        return 0;
    }

    /* the PEM strings are the store's, referenced, not copied */
    e->chain_pem = json_incref(c);
    e->key_rec = json_incref(k);

#if (NGX_HTTP_SSL)

    if (ngx_http_apigw_domain_decode(e) != NGX_OK) {
        /* never the PEM in the log */
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "apigw: the certificate of \"%s\" cannot be used",
                      domain);
        X509_free(e->cert);
        sk_X509_pop_free(e->chain, X509_free);
        EVP_PKEY_free(e->pkey);
        e->cert = NULL;
        e->chain = NULL;
        e->pkey = NULL;
        json_decref(e->chain_pem);
        json_decref(e->key_rec);
        ngx_http_apigw_domain_key_free(e->key_pem);
        e->chain_pem = NULL;
        e->key_rec = NULL;
        e->key_pem = NULL;
    }

#endif

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
        ngx_http_apigw_domtab_free(tab);
        return;
    }

    ngx_http_apigw_domtab_free(ngx_http_apigw_domtab);
    ngx_http_apigw_domtab = tab;
}


/*
 * The entry of a lower-case host name: exact, then "*." + its parent.  For
 * a TLS name (cert), the first of them that has a certificate: a name
 * claimed without one is still served by its wildcard's.
 */
static json_t *
ngx_http_apigw_domain_find(const u_char *name, size_t len, ngx_uint_t cert)
{
    u_char   buf[256];
    u_char  *dot;
    json_t  *e;

    if (ngx_http_apigw_domtab == NULL || len == 0) {
        return NULL;
    }

    e = json_object_getn(ngx_http_apigw_domtab, (const char *) name, len);
    if (e && (!cert || ngx_http_apigw_dom_has_cert(e))) {
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

    e = json_object_getn(ngx_http_apigw_domtab, (const char *) buf,
                         name + len - dot + 1);

    return (e && (!cert || ngx_http_apigw_dom_has_cert(e))) ? e : NULL;
}


/*
 * The SNI name in lower case, without the one trailing dot a client may
 * send (Host has it removed by nginx); 0 when there is none or it is too
 * long for a DNS name.
 */
static size_t
ngx_http_apigw_sni_name(const char *name, u_char *buf, size_t size)
{
    size_t  i, len;

    if (name == NULL) {
        return 0;
    }

    len = ngx_strlen(name);

    if (len && name[len - 1] == '.') {
        len--;
    }

    if (len >= size) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        buf[i] = ngx_tolower(name[i]);
    }

    return len;
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
    json_t                   *e;
    ngx_str_t                 host, id;
    ngx_int_t                 rc;
    ngx_http_apigw_domain_t  *d;

    host = r->headers_in.server;    /* lower case, without the port */

    e = ngx_http_apigw_domain_find(host.data, host.len, 0);
    if (e == NULL) {
        return NGX_DECLINED;
    }

    d = ngx_http_apigw_dom(e);
    id.data = (u_char *) d->tenant;
    id.len = ngx_strlen(d->tenant);

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
    size_t                              len;
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

    len = ngx_http_apigw_sni_name(name, buf, sizeof(buf));

    if (len) {
        e = ngx_http_apigw_domain_find(buf, len, 1);

        if (e) {
            pem = data ? ngx_http_apigw_dom(e)->key_pem
                       : ngx_http_apigw_dom(e)->chain_pem;
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


#if (NGX_HTTP_SSL)

/*
 * The certificate callback of "apigw_ssl_domains on": the SNI name's
 * certificate, chain and key (decoded when the table was built) replace
 * the server's default ones on this connection; other names keep them.
 */

static int
ngx_http_apigw_ssl_cert_cb(ngx_ssl_conn_t *ssl, void *arg)
{
    u_char                    buf[256];
    size_t                    len;
    json_t                   *e;
    const char               *name;
    ngx_connection_t         *c;
    ngx_http_apigw_domain_t  *d;

    name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

    len = ngx_http_apigw_sni_name(name, buf, sizeof(buf));
    if (len == 0) {
        return 1;
    }

    e = ngx_http_apigw_domain_find(buf, len, 1);
    d = e ? ngx_http_apigw_dom(e) : NULL;

    if (d == NULL || d->cert == NULL) {
        return 1;
    }

    /* only this certificate: the default could win on key type */
    SSL_certs_clear(ssl);

    if (SSL_use_certificate(ssl, d->cert) != 1
        || SSL_set1_chain(ssl, d->chain) != 1
        || SSL_use_PrivateKey(ssl, d->pkey) != 1)
    {
        c = ngx_ssl_get_connection(ssl);
        ngx_ssl_error(NGX_LOG_ERR, c->log, 0,
                      "apigw: cannot use the certificate of \"%*s\"",
                      len, buf);
        return 0;
    }

    return 1;
}

#endif
