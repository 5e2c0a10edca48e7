/*
 * Small helpers of the request path shared by apigw's nginx files.
 */

#ifndef _NGX_HTTP_APIGW_UTIL_H_INCLUDED_
#define _NGX_HTTP_APIGW_UTIL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the decimal digits of v at p: what ngx_sprintf("%uL") does, at a tenth */
static ngx_inline u_char *
ngx_http_apigw_utoa(u_char *p, uint64_t v)
{
    u_char   tmp[NGX_INT64_LEN], *t;

    t = tmp + sizeof(tmp);

    do {
        *--t = (u_char) ('0' + v % 10);
        v /= 10;
    } while (v);

    return ngx_cpymem(p, t, tmp + sizeof(tmp) - t);
}


#endif /* _NGX_HTTP_APIGW_UTIL_H_INCLUDED_ */
