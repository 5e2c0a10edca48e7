/*
 * apigw: hiredis (0.14) on nginx's event loop.
 *
 * One connection per worker and purpose (commands, or a pub/sub
 * subscriber), connected in the background from init_process to a numeric
 * address or a unix socket resolved at configuration time.  It reconnects
 * by itself with capped exponential backoff and per-worker jitter, sends
 * AUTH and SELECT first on every connection, and gives every command a
 * deadline on an nginx timer (hiredis 0.14 has none).  Nothing here blocks.
 */

#ifndef _NGX_HTTP_APIGW_REDIS_H_INCLUDED_
#define _NGX_HTTP_APIGW_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


typedef struct ngx_http_apigw_redis_s      ngx_http_apigw_redis_t;
typedef struct ngx_http_apigw_redis_cmd_s  ngx_http_apigw_redis_cmd_t;


/* what "redis://[:password@]host[:port][/db]" or "unix:/path" configures */
typedef struct {
    ngx_str_t                   url;         /* for logs, password elided */
    ngx_addr_t                  addr;        /* numeric, config-time */
    ngx_str_t                   host;        /* numeric text, for hiredis */
    in_port_t                   port;
    ngx_str_t                   unix_path;   /* or a unix socket */
    ngx_str_t                   user;        /* Redis 6 ACL user */
    ngx_str_t                   password;    /* empty: no AUTH */
    ngx_uint_t                  db;
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  command_timeout;
} ngx_http_apigw_redis_conf_t;


/*
 * A reply, or NULL when the command failed: not connected, timed out,
 * connection lost.  Called exactly once per command unless cancelled.
 * The reply belongs to hiredis and is freed after the callback returns.
 */
typedef void (*ngx_http_apigw_redis_reply_pt)(redisReply *reply, void *data);

/* a (re)connection is up and AUTH/SELECT went through, or it went down */
typedef void (*ngx_http_apigw_redis_state_pt)(ngx_http_apigw_redis_t *rd,
    ngx_uint_t up, void *data);

/* a pub/sub message on a subscribed channel */
typedef void (*ngx_http_apigw_redis_message_pt)(ngx_str_t *channel,
    ngx_str_t *message, void *data);


/*
 * Parses the URL at configuration time (no DNS at run time: a host name is
 * resolved here, once).  Query options: connect_timeout=, timeout=.
 * Returns NGX_CONF_OK or an error string for the directive.
 */
char *ngx_http_apigw_redis_parse(ngx_conf_t *cf, ngx_str_t *url,
    ngx_http_apigw_redis_conf_t *rcf);

/* starts connecting (call from init_process); NULL on allocation failure */
ngx_http_apigw_redis_t *ngx_http_apigw_redis_create(ngx_cycle_t *cycle,
    ngx_http_apigw_redis_conf_t *rcf, const char *purpose);
/* commands wait for a first connection instead of failing (see .c) */
void ngx_http_apigw_redis_queue_connecting(ngx_http_apigw_redis_t *rd);

void ngx_http_apigw_redis_on_state(ngx_http_apigw_redis_t *rd,
    ngx_http_apigw_redis_state_pt handler, void *data);

ngx_uint_t ngx_http_apigw_redis_ready(ngx_http_apigw_redis_t *rd);

/*
 * Queues one command (binary-safe argv).  Commands queued in the same event
 * loop iteration leave in one write: that is the pipeline.  A NULL handler
 * means "no reply wanted" (e.g. MULTI/queued parts of a transaction; give
 * the handler to EXEC).  timeout 0 takes the connection's default.
 * Returns NULL when not connected (the caller decides fail open/closed at
 * once), otherwise a handle for ngx_http_apigw_redis_hold().
 */
ngx_http_apigw_redis_cmd_t *ngx_http_apigw_redis_command(
    ngx_http_apigw_redis_t *rd, ngx_http_apigw_redis_reply_pt handler,
    void *data, ngx_msec_t timeout, int argc, const char **argv,
    const size_t *argvlen);

/*
 * The last error Redis answered to a command without a handler (a queued
 * part of a transaction: "OOM command not allowed ..."), or "".
 */
const char *ngx_http_apigw_redis_last_error(ngx_http_apigw_redis_t *rd);

/*
 * A request waits on this command: a worker shutting down gracefully
 * (reload, quit) waits for its answer or timeout, as for a proxied
 * request, instead of exiting under it.
 */
void ngx_http_apigw_redis_hold(ngx_http_apigw_redis_cmd_t *cmd);

/*
 * Turns rd into a subscriber of "channel" (call once, before or after it is
 * up; it resubscribes after every reconnect, and the state handler's "up"
 * tells the owner to resynchronise whatever it may have missed).
 */
ngx_int_t ngx_http_apigw_redis_subscribe(ngx_http_apigw_redis_t *rd,
    ngx_str_t *channel, ngx_http_apigw_redis_message_pt handler, void *data);

/* closes at worker exit; pending handlers get NULL */
void ngx_http_apigw_redis_destroy(ngx_http_apigw_redis_t *rd);


#endif /* _NGX_HTTP_APIGW_REDIS_H_INCLUDED_ */
