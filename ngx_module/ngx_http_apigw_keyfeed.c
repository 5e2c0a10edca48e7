/*
 * apigw: the management store's API keys and subscriptions in every
 * worker's key table.  After each change of the worker's copy of the
 * store (and at start) a new table is built off the request path: the
 * apigw_keys_file entries, the store's API keys that are not revoked, and
 * its v2 subscriptions (apigw_keytab_from_store(), src/keyfeed.c), then
 * swapped in; requests in flight keep the table they looked at until they
 * end.  A deleted or revoked key is gone from the table at the next
 * change notification (the embedded store's poll, or Redis pub/sub).
 */

#include "ngx_http_apigw_module.h"
#include "ngx_http_apigw_store.h"
#include "auth.h"


static void ngx_http_apigw_keyfeed_change(const apigw_store_t *s,
    void *data);


ngx_int_t
ngx_http_apigw_keyfeed_init_process(ngx_cycle_t *cycle)
{
    ngx_http_apigw_main_conf_t        *amcf;
    ngx_http_apigw_admin_main_conf_t  *smcf;

    if ((ngx_process != NGX_PROCESS_WORKER
         && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_http_cycle_get_module_main_conf(cycle, ngx_http_core_module)
           == NULL)
    {
        return NGX_OK;
    }

    smcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_apigw_admin_module);
    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_apigw_module);

    if (smcf == NULL || smcf->store.len == 0 || amcf == NULL) {
        return NGX_OK;              /* the keys file alone */
    }

    if (ngx_http_apigw_store_on_change(ngx_http_apigw_keyfeed_change, amcf)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the store may have been loaded before this module's turn */
    if (ngx_http_apigw_store_current()) {
        ngx_http_apigw_keyfeed_change(ngx_http_apigw_store_current(), amcf);
    }

    return NGX_OK;
}


static void
ngx_http_apigw_keyfeed_change(const apigw_store_t *s, void *data)
{
    apigw_keytab_t  *t;

    (void) data;

    /* the keys file's entries are looked up in their own (re-read) table */
    t = apigw_keytab_from_store(s, NULL);

    if (t == NULL) {
        /* the previous table stays: better stale than none at all */
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "apigw: out of memory building the key table; "
                      "the previous one stays in use");
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "apigw: key table rebuilt: %uz entries",
                   apigw_keytab_count(t));

    ngx_http_apigw_auth_set_keytab(t);
}
