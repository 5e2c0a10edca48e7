/*
 * apigw: plain web actions without an OpenAPI document, as OpenWhisk's
 * own edge serves them: `/api/v1/web/...` passed through, and vanity hosts
 * `{namespace}.{domain}` mapped onto `/api/v1/web/{namespace}/...`.
 */

#include "ngx_http_apigw_module.h"


/* a host name's characters: letters, digits, "-" and "." */
static ngx_uint_t
ngx_http_apigw_host_chars(ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (!(isalnum(s->data[i]) || s->data[i] == '-' || s->data[i] == '.'))
        {
            return 0;
        }
    }

    return 1;
}


char *
ngx_http_apigw_vanity_domain(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_apigw_loc_conf_t  *alcf = conf;

    char                        **vd;
    ngx_str_t                    *value, *d;
    ngx_uint_t                    i;
    ngx_http_apigw_main_conf_t   *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_apigw_module);

    if (alcf->vanity_domains == NULL) {
        alcf->vanity_domains = ngx_array_create(cf->pool, 2,
                                                sizeof(ngx_str_t));
        if (alcf->vanity_domains == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0 || value[i].len > 253
            || value[i].data[0] == '.'
            || value[i].data[value[i].len - 1] == '.'
            || !ngx_http_apigw_host_chars(&value[i]))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid vanity domain \"%V\": a domain "
                               "name like \"example.net\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        /* the management API keeps tenants off them */
        if (amcf->vanity == NULL) {
            amcf->vanity = ngx_array_create(cf->pool, 2, sizeof(char *));
            if (amcf->vanity == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        vd = ngx_array_push(amcf->vanity);
        if (vd == NULL) {
            return NGX_CONF_ERROR;
        }

        *vd = (char *) value[i].data;

        d = ngx_array_push(alcf->vanity_domains);
        if (d == NULL) {
            return NGX_CONF_ERROR;
        }

        d->len = value[i].len;
        d->data = ngx_pnalloc(cf->pool, d->len);
        if (d->data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_strlow(d->data, value[i].data, d->len);
    }

    return NGX_CONF_OK;
}


/* the web-action API of a location, built once at configuration */

char *
ngx_http_apigw_webaction_conf(ngx_conf_t *cf, ngx_http_apigw_loc_conf_t *alcf,
    ngx_array_t *resolved)
{
    char                *url;
    ngx_uint_t           i;
    const char          *err;
    apigw_api_t         *api;
    ngx_pool_cleanup_t  *cln;

    if (alcf->web_actions != 1 && alcf->vanity_domains == NULL) {
        return NGX_CONF_OK;
    }

    if (alcf->openwhisk_url.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"apigw_web_actions\" and \"apigw_vanity_domain\""
                           " need \"apigw_openwhisk_url\"");
        return NGX_CONF_ERROR;
    }

    url = (char *) ngx_pnalloc(cf->temp_pool, alcf->openwhisk_url.len + 1);
    if (url == NULL) {
        return NGX_CONF_ERROR;
    }

    (void) ngx_cpystrn((u_char *) url, alcf->openwhisk_url.data,
                       alcf->openwhisk_url.len + 1);

    api = apigw_webaction_api(url, &err);
    if (api == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"apigw_openwhisk_url\" \"%V\": %s",
                           &alcf->openwhisk_url, err);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        apigw_api_free(api);
        return NGX_CONF_ERROR;
    }

    cln->handler = (ngx_pool_cleanup_pt) apigw_api_free;
    cln->data = api;

    alcf->webaction_api = api;

    for (i = 0; i < api->nops; i++) {
        if (ngx_http_apigw_compile_op(cf, alcf, &api->ops[i], resolved)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * NGX_OK and the vanity operation in m when the Host is "{ns}.{domain}" of
 * one of the location's vanity domains.
 */

ngx_int_t
ngx_http_apigw_vanity(ngx_http_request_t *r, ngx_http_apigw_loc_conf_t *alcf,
    apigw_path_t *path, apigw_match_t *m)
{
    size_t      ns;
    ngx_str_t  *host, *d;
    ngx_uint_t  i;

    host = &r->headers_in.server;       /* lower case, no port */
    d = alcf->vanity_domains->elts;

    for (i = 0; i < alcf->vanity_domains->nelts; i++) {

        ns = apigw_vanity_namespace((char *) host->data, host->len,
                                    (char *) d[i].data, d[i].len);
        if (ns == 0) {
            continue;
        }

        m->status = 0;
        m->api = alcf->webaction_api;
        m->op = apigw_webaction_op(alcf->webaction_api,
                                   path->n ? APIGW_WEBACTION_VANITY
                                           : APIGW_WEBACTION_VANITY_INDEX);
        m->params[0].name = "ns";
        m->params[0].name_len = 2;
        m->params[0].value = (char *) host->data;
        m->params[0].value_len = ns;
        m->nparams = 1;

        return NGX_OK;
    }

    return NGX_DECLINED;
}
