/*
 * apigw: hiredis (0.14) on nginx's event loop.
 *
 * The adapter follows the pitfalls of gateway-practice.md section 5.2:
 * reads are looped while the socket holds data (hiredis reads 16 KiB per
 * call and edge-triggered epoll will not fire again); the fd belongs to
 * hiredis, so cleanup frees the nginx connection without closing it;
 * hiredis may free the context inside any call, so the long-lived rd is
 * re-checked after each one; addresses are numeric, resolved at
 * configuration time.
 */

#include <sys/ioctl.h>

#include "ngx_http_apigw_redis.h"
#include "apigw.h"
#include <hiredis/sds.h>


#define NGX_HTTP_APIGW_REDIS_BACKOFF_MIN   50
#define NGX_HTTP_APIGW_REDIS_BACKOFF_MAX   500
#define NGX_HTTP_APIGW_REDIS_READ_LOOPS    64


struct ngx_http_apigw_redis_cmd_s {
    ngx_http_apigw_redis_t            *rd;
    ngx_http_apigw_redis_reply_pt      handler;   /* NULL: none, or done */
    void                              *data;
    ngx_event_t                        timer;
    ngx_msec_t                         sent;
    ngx_http_apigw_redis_cmd_t        *next;      /* free list */
};


struct ngx_http_apigw_redis_s {
    ngx_http_apigw_redis_conf_t       *conf;
    const char                        *purpose;
    ngx_log_t                         *log;

    redisAsyncContext                 *ac;
    ngx_connection_t                  *conn;

    ngx_event_t                        reconnect;
    ngx_event_t                        connect_timer;
    ngx_msec_t                         backoff;
    ngx_msec_t                         last_reply;
    char                               last_error[104];

    ngx_http_apigw_redis_state_pt      state_handler;
    void                              *state_data;

    ngx_str_t                          channel;    /* subscriber: channel */
    ngx_http_apigw_redis_message_pt    message_handler;
    void                              *message_data;

    ngx_http_apigw_redis_cmd_t        *free;
    ngx_uint_t                         pending;

    unsigned                           ready:1;
    unsigned                           failing:1;  /* logged already */
    unsigned                           exiting:1;
    unsigned                           queue_connecting:1;
};


static void ngx_http_apigw_redis_connect(ngx_http_apigw_redis_t *rd);
static void ngx_http_apigw_redis_schedule(ngx_http_apigw_redis_t *rd);
static void ngx_http_apigw_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_apigw_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_apigw_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_apigw_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_apigw_redis_hello(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_apigw_redis_auth(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_uint_t ngx_http_apigw_redis_refused(redisAsyncContext *ac,
    redisReply *reply, ngx_http_apigw_redis_t *rd);
static void ngx_http_apigw_redis_subscribed(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_apigw_redis_set_state(ngx_http_apigw_redis_t *rd,
    ngx_uint_t up);
static void ngx_http_apigw_redis_fail(ngx_http_apigw_redis_t *rd,
    const char *what);
static ngx_int_t ngx_http_apigw_redis_send(ngx_http_apigw_redis_t *rd,
    ngx_http_apigw_redis_cmd_t *cmd, int argc, const char **argv,
    const size_t *argvlen);
static void ngx_http_apigw_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_apigw_redis_cmd_timeout(ngx_event_t *ev);
static void ngx_http_apigw_redis_cmd_free(ngx_http_apigw_redis_cmd_t *cmd);

static void ngx_http_apigw_redis_read_handler(ngx_event_t *ev);
static void ngx_http_apigw_redis_write_handler(ngx_event_t *ev);
static void ngx_http_apigw_redis_add_read(void *privdata);
static void ngx_http_apigw_redis_del_read(void *privdata);
static void ngx_http_apigw_redis_add_write(void *privdata);
static void ngx_http_apigw_redis_del_write(void *privdata);
static void ngx_http_apigw_redis_cleanup(void *privdata);


/* ---- configuration ---- */

static ngx_int_t
ngx_http_apigw_redis_unescape(ngx_conf_t *cf, ngx_str_t *s)
{
    u_char  *dst, *src;

    if (ngx_strlchr(s->data, s->data + s->len, '%') == NULL) {
        return NGX_OK;
    }

    dst = ngx_pnalloc(cf->pool, s->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    src = s->data;
    s->data = dst;
    ngx_unescape_uri(&dst, &src, s->len, 0);
    s->len = dst - s->data;

    return NGX_OK;
}


char *
ngx_http_apigw_redis_parse(ngx_conf_t *cf, ngx_str_t *url,
    ngx_http_apigw_redis_conf_t *rcf)
{
    u_char     *p, *last, *q, *at, *slash, *amp, *eq;
    size_t      len;
    ngx_int_t   n;
    ngx_str_t   name, value;
    ngx_url_t   u;

    ngx_memzero(rcf, sizeof(ngx_http_apigw_redis_conf_t));
    rcf->connect_timeout = 1000;
    rcf->command_timeout = 500;

    p = url->data;
    last = url->data + url->len;

    q = ngx_strlchr(p, last, '?');

    if (q) {
        /* options: connect_timeout=1s&timeout=200ms&db=N */

        for (name.data = q + 1; name.data < last; name.data = amp + 1) {
            amp = ngx_strlchr(name.data, last, '&');
            if (amp == NULL) {
                amp = last;
            }

            eq = ngx_strlchr(name.data, amp, '=');
            if (eq == NULL) {
                return "has an option without a value";
            }

            name.len = eq - name.data;
            value.data = eq + 1;
            value.len = amp - value.data;

            if (name.len == 15
                && ngx_strncmp(name.data, "connect_timeout", 15) == 0)
            {
                rcf->connect_timeout = ngx_parse_time(&value, 0);
                if (rcf->connect_timeout == (ngx_msec_t) NGX_ERROR
                    || rcf->connect_timeout == 0)
                {
                    return "has an invalid connect_timeout";
                }

            } else if (name.len == 7
                       && ngx_strncmp(name.data, "timeout", 7) == 0)
            {
                rcf->command_timeout = ngx_parse_time(&value, 0);
                if (rcf->command_timeout == (ngx_msec_t) NGX_ERROR
                    || rcf->command_timeout == 0)
                {
                    return "has an invalid timeout";
                }

            } else if (name.len == 2 && ngx_strncmp(name.data, "db", 2) == 0) {
                n = ngx_atoi(value.data, value.len);
                if (n == NGX_ERROR) {
                    return "has an invalid db";
                }
                rcf->db = n;

            } else {
                return "has an unknown option";
            }
        }

        last = q;
    }

    if (last - p > 5 && ngx_strncmp(p, "unix:", 5) == 0) {
        rcf->unix_path.len = last - p - 5;
        rcf->unix_path.data = ngx_pnalloc(cf->pool, rcf->unix_path.len + 1);
        if (rcf->unix_path.data == NULL) {
            return NGX_CONF_ERROR;
        }
        ngx_cpystrn(rcf->unix_path.data, p + 5, rcf->unix_path.len + 1);
        rcf->url.data = p;
        rcf->url.len = last - p;
        return NGX_CONF_OK;
    }

    if (last - p < 8 || ngx_strncasecmp(p, (u_char *) "redis://", 8) != 0) {
        return "must start with \"redis://\" or \"unix:\"";
    }

    p += 8;

    /* [[user]:password@] */

    at = NULL;
    for (q = p; q < last && *q != '/'; q++) {
        if (*q == '@') {
            at = q;
        }
    }

    if (at) {
        q = ngx_strlchr(p, at, ':');

        if (q == NULL) {
            rcf->password.data = p;
            rcf->password.len = at - p;

        } else {
            rcf->user.data = p;
            rcf->user.len = q - p;
            rcf->password.data = q + 1;
            rcf->password.len = at - q - 1;
        }

        /* userinfo is percent-encoded (RFC 3986 3.2.1): "/", "?", "@" */
        if (ngx_http_apigw_redis_unescape(cf, &rcf->user) != NGX_OK
            || ngx_http_apigw_redis_unescape(cf, &rcf->password) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        p = at + 1;
    }

    slash = ngx_strlchr(p, last, '/');

    if (slash && slash + 1 < last) {
        n = ngx_atoi(slash + 1, last - slash - 1);
        if (n == NGX_ERROR) {
            return "has an invalid database number";
        }
        rcf->db = n;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url.data = p;
    u.url.len = (slash ? slash : last) - p;
    u.default_port = 6379;

    /* resolved here, once: hiredis would call getaddrinfo() per connect */

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        return u.err ? u.err : "has an invalid address";
    }

    if (u.naddrs == 0) {
        return "has a host that does not resolve";
    }

    rcf->addr = u.addrs[0];
    rcf->port = u.port;

    len = NGX_SOCKADDR_STRLEN;
    rcf->host.data = ngx_pnalloc(cf->pool, len + 1);
    if (rcf->host.data == NULL) {
        return NGX_CONF_ERROR;
    }
    rcf->host.len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                                  rcf->host.data, len, 0);
    rcf->host.data[rcf->host.len] = '\0';

    /* the URL as logs show it: never the password */

    rcf->url.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 32);
    if (rcf->url.data == NULL) {
        return NGX_CONF_ERROR;
    }
    rcf->url.len = ngx_sprintf(rcf->url.data, "redis://%V:%d/%ui",
                               &rcf->host, (int) rcf->port, rcf->db)
                   - rcf->url.data;

    return NGX_CONF_OK;
}


/* ---- life cycle ---- */

ngx_http_apigw_redis_t *
ngx_http_apigw_redis_create(ngx_cycle_t *cycle,
    ngx_http_apigw_redis_conf_t *rcf, const char *purpose)
{
    ngx_http_apigw_redis_t  *rd;

    rd = ngx_calloc(sizeof(ngx_http_apigw_redis_t), cycle->log);
    if (rd == NULL) {
        return NULL;
    }

    rd->conf = rcf;
    rd->purpose = purpose;
    rd->log = cycle->log;

    rd->reconnect.handler = ngx_http_apigw_redis_reconnect_handler;
    rd->reconnect.data = rd;
    rd->reconnect.log = cycle->log;
    rd->reconnect.cancelable = 1;

    rd->connect_timer.handler = ngx_http_apigw_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = cycle->log;
    rd->connect_timer.cancelable = 1;

    ngx_http_apigw_redis_connect(rd);

    return rd;
}


void
ngx_http_apigw_redis_queue_connecting(ngx_http_apigw_redis_t *rd)
{
    rd->queue_connecting = 1;
}


void
ngx_http_apigw_redis_on_state(ngx_http_apigw_redis_t *rd,
    ngx_http_apigw_redis_state_pt handler, void *data)
{
    rd->state_handler = handler;
    rd->state_data = data;
}


/* commands can be sent: connected, or queued behind a first connection */

ngx_uint_t
ngx_http_apigw_redis_ready(ngx_http_apigw_redis_t *rd)
{
    return rd->ac != NULL
           && (rd->ready || (rd->queue_connecting && !rd->failing));
}


ngx_int_t
ngx_http_apigw_redis_subscribe(ngx_http_apigw_redis_t *rd,
    ngx_str_t *channel, ngx_http_apigw_redis_message_pt handler, void *data)
{
    const char  *argv[2];
    size_t       argvlen[2];

    rd->channel.data = ngx_alloc(channel->len, rd->log);
    if (rd->channel.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(rd->channel.data, channel->data, channel->len);
    rd->channel.len = channel->len;
    rd->message_handler = handler;
    rd->message_data = data;

    if (rd->ac && rd->ready) {
        /* already up as a command connection: subscribe now */
        argv[0] = "SUBSCRIBE";
        argvlen[0] = 9;
        argv[1] = (const char *) rd->channel.data;
        argvlen[1] = rd->channel.len;

        rd->ready = 0;

        if (redisAsyncCommandArgv(rd->ac, ngx_http_apigw_redis_subscribed,
                                  rd, 2, argv, argvlen)
            != REDIS_OK)
        {
            ngx_http_apigw_redis_fail(rd, "SUBSCRIBE");
        }
    }

    return NGX_OK;
}


void
ngx_http_apigw_redis_destroy(ngx_http_apigw_redis_t *rd)
{
    ngx_http_apigw_redis_cmd_t  *cmd;

    rd->exiting = 1;

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->ac) {
        /* pending handlers are called with NULL; cleanup frees conn */
        redisAsyncFree(rd->ac);
    }

    while (rd->free) {
        cmd = rd->free;
        rd->free = cmd->next;
        ngx_free(cmd);
    }

    if (rd->channel.data) {
        ngx_free(rd->channel.data);
    }

    /* commands still waiting for a reply hold rd: keep it if any */
    if (rd->pending == 0) {
        ngx_free(rd);
    }
}


static void
ngx_http_apigw_redis_connect(ngx_http_apigw_redis_t *rd)
{
    const char                   *argv[3];
    size_t                        argvlen[3];
    ngx_connection_t             *c;
    redisAsyncContext            *ac;
    ngx_http_apigw_redis_conf_t  *rcf;
    u_char                        db[NGX_INT_T_LEN];

    rcf = rd->conf;

    if (rcf->unix_path.len) {
        ac = redisAsyncConnectUnix((char *) rcf->unix_path.data);

    } else {
        ac = redisAsyncConnect((char *) rcf->host.data, rcf->port);
    }

    if (ac == NULL) {
        ngx_http_apigw_redis_fail(rd, "connect");
        ngx_http_apigw_redis_schedule(rd);
        return;
    }

    if (ac->err) {
        ngx_http_apigw_redis_fail(rd, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_apigw_redis_schedule(rd);
        return;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_apigw_redis_schedule(rd);
        return;
    }

    c->data = rd;
    c->log = rd->log;
    c->read->log = rd->log;
    c->write->log = rd->log;
    c->read->handler = ngx_http_apigw_redis_read_handler;
    c->write->handler = ngx_http_apigw_redis_write_handler;

    rd->ac = ac;
    rd->conn = c;
    rd->ready = 0;

    ac->data = rd;
    ac->ev.data = rd;
    ac->ev.addRead = ngx_http_apigw_redis_add_read;
    ac->ev.delRead = ngx_http_apigw_redis_del_read;
    ac->ev.addWrite = ngx_http_apigw_redis_add_write;
    ac->ev.delWrite = ngx_http_apigw_redis_del_write;
    ac->ev.cleanup = ngx_http_apigw_redis_cleanup;

    redisAsyncSetConnectCallback(ac, ngx_http_apigw_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_apigw_redis_disconnected);

    /*
     * hiredis keeps the order: AUTH and SELECT go first, then PING marks
     * the connection ready (and queuing them starts the connect).
     */

    if (rcf->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;

        if (rcf->user.len) {
            argv[1] = (const char *) rcf->user.data;
            argvlen[1] = rcf->user.len;
            argv[2] = (const char *) rcf->password.data;
            argvlen[2] = rcf->password.len;

        } else {
            argv[1] = (const char *) rcf->password.data;
            argvlen[1] = rcf->password.len;
        }

        redisAsyncCommandArgv(ac, ngx_http_apigw_redis_auth, rd,
                              rcf->user.len ? 3 : 2, argv, argvlen);
    }

    if (rcf->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%ui", rcf->db) - db;

        redisAsyncCommandArgv(ac, ngx_http_apigw_redis_auth, rd, 2, argv,
                              argvlen);
    }

    if (rd->ac) {
        redisAsyncCommand(rd->ac, ngx_http_apigw_redis_hello, rd, "PING");
    }

    if (rd->ac) {
        ngx_add_timer(&rd->connect_timer, rcf->connect_timeout);
    }
}


static void
ngx_http_apigw_redis_schedule(ngx_http_apigw_redis_t *rd)
{
    ngx_msec_t  delay;

    if (rd->exiting || rd->reconnect.timer_set) {
        return;
    }

    /* capped exponential backoff, jittered so workers do not stampede */

    if (rd->backoff == 0) {
        rd->backoff = NGX_HTTP_APIGW_REDIS_BACKOFF_MIN;

    } else {
        rd->backoff = ngx_min(rd->backoff * 2,
                              NGX_HTTP_APIGW_REDIS_BACKOFF_MAX);
    }

    delay = rd->backoff + (ngx_msec_t) ngx_random() % (rd->backoff / 2 + 1);

    ngx_add_timer(&rd->reconnect, delay);
}


static void
ngx_http_apigw_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_apigw_redis_t  *rd = ev->data;

    if (rd->exiting || rd->ac) {
        return;
    }

    ngx_http_apigw_redis_connect(rd);
}


static void
ngx_http_apigw_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_apigw_redis_t  *rd = ev->data;

    if (rd->ac && !rd->ready) {
        ngx_http_apigw_redis_fail(rd, "connect timed out");
        redisAsyncFree(rd->ac);
    }
}


static void
ngx_http_apigw_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_apigw_redis_t  *rd = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context next; cleanup schedules a retry */
        ngx_http_apigw_redis_fail(rd, ac->errstr);
    }
}


static void
ngx_http_apigw_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_apigw_redis_t  *rd = ac->data;

    if (status != REDIS_OK && !rd->exiting) {
        ngx_http_apigw_redis_fail(rd, ac->errstr);
    }
}


static void
ngx_http_apigw_redis_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply              *reply = r;
    ngx_http_apigw_redis_t  *rd = privdata;

    if (reply == NULL) {
        return;
    }

    /* wrong password or database: the PING after fails as well */
    (void) ngx_http_apigw_redis_refused(ac, reply, rd);
}


/* an error answer to the connection's set-up: logged once, dropped */

static ngx_uint_t
ngx_http_apigw_redis_refused(redisAsyncContext *ac, redisReply *reply,
    ngx_http_apigw_redis_t *rd)
{
    if (reply->type != REDIS_REPLY_ERROR) {
        return 0;
    }

    if (!rd->failing) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "apigw redis %s \"%V\": %*s, retrying",
                      rd->purpose, &rd->conf->url, (size_t) reply->len,
                      reply->str);
        rd->failing = 1;
    }

    redisAsyncDisconnect(ac);

    return 1;
}


static void
ngx_http_apigw_redis_hello(redisAsyncContext *ac, void *r, void *privdata)
{
    const char              *argv[2];
    size_t                   argvlen[2];
    redisReply              *reply = r;
    ngx_http_apigw_redis_t  *rd = privdata;

    /*
     * A refused AUTH or SELECT has disconnected already: the PING queued
     * behind it must not count as a connection (and reset the backoff)
     */
    if (reply == NULL || (ac->c.flags & REDIS_DISCONNECTING)) {
        return;
    }

    /* e.g. NOAUTH: the server wants a password we were not given */
    if (ngx_http_apigw_redis_refused(ac, reply, rd)) {
        return;
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    rd->backoff = 0;
    rd->last_reply = ngx_current_msec;

    if (rd->channel.len == 0) {
        ngx_http_apigw_redis_set_state(rd, 1);
        return;
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = (const char *) rd->channel.data;
    argvlen[1] = rd->channel.len;

    redisAsyncCommandArgv(ac, ngx_http_apigw_redis_subscribed, rd, 2, argv,
                          argvlen);
}


static void
ngx_http_apigw_redis_subscribed(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply              *reply = r;
    ngx_str_t                channel, message;
    ngx_http_apigw_redis_t  *rd = privdata;

    (void) ac;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    rd->last_reply = ngx_current_msec;

    if (reply->element[0]->len == 9
        && ngx_strncmp(reply->element[0]->str, "subscribe", 9) == 0)
    {
        /* subscribed: now the owner resynchronises what it missed */
        ngx_http_apigw_redis_set_state(rd, 1);
        return;
    }

    if (reply->element[0]->len == 7
        && ngx_strncmp(reply->element[0]->str, "message", 7) == 0
        && reply->element[1]->type == REDIS_REPLY_STRING
        && reply->element[2]->type == REDIS_REPLY_STRING
        && rd->message_handler)
    {
        channel.data = (u_char *) reply->element[1]->str;
        channel.len = reply->element[1]->len;
        message.data = (u_char *) reply->element[2]->str;
        message.len = reply->element[2]->len;

        rd->message_handler(&channel, &message, rd->message_data);
    }
}


static void
ngx_http_apigw_redis_set_state(ngx_http_apigw_redis_t *rd, ngx_uint_t up)
{
    if (up) {
        if (rd->failing) {
            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "apigw redis %s \"%V\": connected", rd->purpose,
                          &rd->conf->url);
            rd->failing = 0;
        }

        rd->ready = 1;

    } else {
        if (!rd->ready) {
            return;
        }

        rd->ready = 0;
    }

    if (rd->state_handler) {
        rd->state_handler(rd, up, rd->state_data);
    }
}


/* logged once per outage, not per attempt */

static void
ngx_http_apigw_redis_fail(ngx_http_apigw_redis_t *rd, const char *what)
{
    if (rd->failing || rd->exiting) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "apigw redis %s \"%V\": %s", rd->purpose,
                       &rd->conf->url, what ? what : "error");
        return;
    }

    rd->failing = 1;

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "apigw redis %s \"%V\": %s, retrying", rd->purpose,
                  &rd->conf->url, what ? what : "error");
}


/* ---- commands ---- */

ngx_http_apigw_redis_cmd_t *
ngx_http_apigw_redis_command(ngx_http_apigw_redis_t *rd,
    ngx_http_apigw_redis_reply_pt handler, void *data, ngx_msec_t timeout,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_http_apigw_redis_cmd_t  *cmd;

    /*
     * Where asked (ngx_http_apigw_redis_queue_connecting()), commands of a
     * worker still making its first connection queue behind its AUTH,
     * SELECT and PING (hiredis keeps the order) rather than failing.
     */

    if (!ngx_http_apigw_redis_ready(rd) || rd->channel.len) {
        return NULL;
    }

    cmd = rd->free;

    if (cmd) {
        rd->free = cmd->next;

    } else {
        cmd = ngx_alloc(sizeof(ngx_http_apigw_redis_cmd_t), rd->log);
        if (cmd == NULL) {
            return NULL;
        }
    }

    ngx_memzero(cmd, sizeof(ngx_http_apigw_redis_cmd_t));
    cmd->rd = rd;
    cmd->handler = handler;
    cmd->data = data;
    cmd->timer.handler = ngx_http_apigw_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = rd->log;
    cmd->timer.cancelable = 1;
    cmd->sent = ngx_current_msec;

    if (ngx_http_apigw_redis_send(rd, cmd, argc, argv, argvlen) != NGX_OK) {
        cmd->next = rd->free;
        rd->free = cmd;
        return NULL;
    }

    rd->pending++;

    if (handler) {
        ngx_add_timer(&cmd->timer,
                      timeout ? timeout : rd->conf->command_timeout);
    }

    return cmd;
}


/*
 * The command in RESP, made here: hiredis's own formatting (sdscatfmt and
 * a reallocation per argument) costs more than the rest of a rate-limit
 * decision on the gateway's side.
 */

static ngx_int_t
ngx_http_apigw_redis_send(ngx_http_apigw_redis_t *rd,
    ngx_http_apigw_redis_cmd_t *cmd, int argc, const char **argv,
    const size_t *argvlen)
{
    int         i, rc;
    u_char     *buf, *p, stack[512];
    size_t      len;

    len = 1 + NGX_INT_T_LEN + 2;

    for (i = 0; i < argc; i++) {
        len += 1 + NGX_SIZE_T_LEN + 2 + argvlen[i] + 2;
    }

    if (len <= sizeof(stack)) {
        buf = stack;

    } else {
        buf = ngx_alloc(len, rd->log);
        if (buf == NULL) {
            return NGX_ERROR;
        }
    }

    p = buf;
    *p++ = '*';
    p = (u_char *) apigw_utoa((char *) p, argc);
    *p++ = CR; *p++ = LF;

    for (i = 0; i < argc; i++) {
        *p++ = '$';
        p = (u_char *) apigw_utoa((char *) p, argvlen[i]);
        *p++ = CR; *p++ = LF;
        p = ngx_cpymem(p, argv[i], argvlen[i]);
        *p++ = CR; *p++ = LF;
    }

    rc = redisAsyncFormattedCommand(rd->ac, ngx_http_apigw_redis_reply, cmd,
                                    (char *) buf, p - buf);

    if (buf != stack) {
        ngx_free(buf);
    }

    return rc == REDIS_OK ? NGX_OK : NGX_ERROR;
}


const char *
ngx_http_apigw_redis_last_error(ngx_http_apigw_redis_t *rd)
{
    return rd ? rd->last_error : "";
}


void
ngx_http_apigw_redis_hold(ngx_http_apigw_redis_cmd_t *cmd)
{
    cmd->timer.cancelable = 0;
}


static void
ngx_http_apigw_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_apigw_redis_cmd_t     *cmd = privdata;
    ngx_http_apigw_redis_reply_pt   handler;

    (void) ac;

    if (r) {
        cmd->rd->last_reply = ngx_current_msec;
    }

    if (cmd->handler == NULL && r
        && ((redisReply *) r)->type == REDIS_REPLY_ERROR)
    {
        (void) snprintf(cmd->rd->last_error, sizeof(cmd->rd->last_error),
                        "%.*s", (int) ngx_min(((redisReply *) r)->len, 100),
                        ((redisReply *) r)->str);
    }

    handler = cmd->handler;
    cmd->handler = NULL;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (handler) {
        handler(r, cmd->data);
    }

    ngx_http_apigw_redis_cmd_free(cmd);
}


static void
ngx_http_apigw_redis_cmd_timeout(ngx_event_t *ev)
{
    ngx_http_apigw_redis_cmd_t     *cmd = ev->data;
    ngx_http_apigw_redis_t         *rd;
    ngx_http_apigw_redis_reply_pt   handler;

    ngx_msec_t                      sent;

    rd = cmd->rd;
    sent = cmd->sent;
    handler = cmd->handler;
    cmd->handler = NULL;

    if (handler) {
        handler(NULL, cmd->data);
    }

    /*
     * No reply at all since this command left, for a whole default
     * timeout: the connection is stuck (a half-open TCP, a paused server).
     * Drop it; pending commands are answered with NULL and it reconnects.
     */

    if (rd->ac
        && (ngx_msec_int_t) (rd->last_reply - sent) < 0
        && ngx_current_msec - sent >= rd->conf->command_timeout)
    {
        ngx_http_apigw_redis_fail(rd, "no reply");
        redisAsyncFree(rd->ac);
    }
}


static void
ngx_http_apigw_redis_cmd_free(ngx_http_apigw_redis_cmd_t *cmd)
{
    ngx_http_apigw_redis_t  *rd = cmd->rd;

    rd->pending--;

    if (rd->exiting) {
        ngx_free(cmd);

        if (rd->pending == 0 && rd->ac == NULL) {
            ngx_free(rd);
        }

        return;
    }

    cmd->next = rd->free;
    rd->free = cmd;
}


/* ---- events ---- */

static void
ngx_http_apigw_redis_read_handler(ngx_event_t *ev)
{
    int                      n;
    ngx_uint_t               i;
    ngx_connection_t        *c = ev->data;
    ngx_http_apigw_redis_t  *rd = c->data;

    for (i = 0; i < NGX_HTTP_APIGW_REDIS_READ_LOOPS; i++) {

        redisAsyncHandleRead(rd->ac);

        /* hiredis may have freed the context (and our connection) */
        if (rd->ac == NULL || rd->conn != c) {
            return;
        }

        /* hiredis reads 16 KiB a call: drain what edge triggering hides */
        if (ioctl(c->fd, FIONREAD, &n) == -1 || n <= 0) {
            return;
        }
    }

    ngx_post_event(c->read, &ngx_posted_events);
}


static void
ngx_http_apigw_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c = ev->data;
    ngx_http_apigw_redis_t  *rd = c->data;

    redisAsyncHandleWrite(rd->ac);

    if (rd->ac == NULL || rd->conn != c) {
        return;
    }

    /* output left: the socket is full, wait for the next edge */
    if (rd->ac->c.obuf && sdslen(rd->ac->c.obuf) > 0) {
        c->write->ready = 0;
    }
}


static void
ngx_http_apigw_redis_add_read(void *privdata)
{
    ngx_http_apigw_redis_t  *rd = privdata;
    ngx_connection_t        *c = rd->conn;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT,
                          (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                          ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_http_apigw_redis_fail(rd, "add read event");
        }
    }
}


static void
ngx_http_apigw_redis_del_read(void *privdata)
{
    ngx_http_apigw_redis_t  *rd = privdata;
    ngx_connection_t        *c = rd->conn;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_apigw_redis_add_write(void *privdata)
{
    ngx_http_apigw_redis_t  *rd = privdata;
    ngx_connection_t        *c = rd->conn;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT,
                          (ngx_event_flags & NGX_USE_CLEAR_EVENT)
                          ? NGX_CLEAR_EVENT : NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_http_apigw_redis_fail(rd, "add write event");
            return;
        }
    }

    /* edge-triggered: a socket already writable will not signal again */
    if (c->write->ready && !c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }
}


static void
ngx_http_apigw_redis_del_write(void *privdata)
{
    ngx_http_apigw_redis_t  *rd = privdata;
    ngx_connection_t        *c = rd->conn;

    if (c->write->active && !(ngx_event_flags & NGX_USE_CLEAR_EVENT)) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    /* with edge triggering the write event stays: it costs nothing idle */
}


static void
ngx_http_apigw_redis_cleanup(void *privdata)
{
    ngx_http_apigw_redis_t  *rd = privdata;
    ngx_connection_t        *c = rd->conn;

    /* the context is going; hiredis closes the fd itself after this */

    if (c) {
        if (c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, 0);
        }

        if (c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
        }

        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
    }

    rd->conn = NULL;
    rd->ac = NULL;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    ngx_http_apigw_redis_set_state(rd, 0);

    ngx_http_apigw_redis_schedule(rd);
}
