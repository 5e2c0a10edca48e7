/*
 * apigw nginx glue: threads for blocking work, there only while it lasts.
 */

#ifndef _NGX_HTTP_APIGW_THREAD_H_INCLUDED_
#define _NGX_HTTP_APIGW_THREAD_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#if (NGX_THREADS)

#include <ngx_thread_pool.h>


/* as ngx_thread_task_post(): task->event.handler runs in the worker */
ngx_int_t ngx_http_apigw_thread_post(ngx_thread_task_t *task,
    ngx_log_t *log);
void ngx_http_apigw_thread_exit(ngx_cycle_t *cycle);

#endif

#endif /* _NGX_HTTP_APIGW_THREAD_H_INCLUDED_ */
