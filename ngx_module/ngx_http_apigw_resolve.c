/*
 * apigw: the backend host names of stored APIs, looked up again.
 *
 * The management API looks a name up when an API is written and stores the
 * addresses with it, so every worker and node compiles the API without
 * DNS.  Addresses change (load balancers, failovers, cloud endpoints):
 * every apigw_store_resolve interval each worker looks the stored APIs'
 * names up again, all of them in one thread task (the system's resolver
 * blocks; ngx_http_apigw_thread.c), and recompiles, off the request path,
 * the APIs whose addresses changed.  A name that cannot be looked up for
 * now, or no longer exists, keeps the addresses it had: serving the last
 * known backend beats serving none.  Each change and each failing name is
 * logged once, not every round.
 */

#include "ngx_http_apigw_store.h"


#define NGX_HTTP_APIGW_RESOLVE_MAX  1024      /* names per round */


typedef struct {
    u_char                  *name;
    ngx_http_apigw_addrs_t   addrs;
} ngx_http_apigw_resolve_name_t;


typedef struct {
#if (NGX_THREADS)
    ngx_thread_task_t                task;
#endif
    ngx_uint_t                       n;
    ngx_http_apigw_resolve_name_t    names[1];
} ngx_http_apigw_resolve_round_t;


static void ngx_http_apigw_resolve_timer(ngx_event_t *ev);
#if (NGX_THREADS)
static void ngx_http_apigw_resolve_thread(void *data, ngx_log_t *log);
static void ngx_http_apigw_resolve_done(ngx_event_t *ev);
#endif
static void ngx_http_apigw_resolve_apply(ngx_http_apigw_resolve_round_t *rd,
    ngx_log_t *log);
static int ngx_http_apigw_resolve_names(const char *key, json_t *rec,
    void *data);
static int ngx_http_apigw_resolve_mark(const char *key, json_t *rec,
    void *data);
static json_t *ngx_http_apigw_resolve_sorted(json_t *list);


static ngx_event_t   ngx_http_apigw_resolve_ev;   /* data: amcf */
static ngx_uint_t    ngx_http_apigw_resolve_busy;

/* host name -> [address, ...] (sorted), as last looked up here */
static json_t       *ngx_http_apigw_resolved;

/* host names whose last lookup failed (logged once) */
static json_t       *ngx_http_apigw_resolve_failed;


void
ngx_http_apigw_getaddrs(const u_char *name, size_t len,
    ngx_http_apigw_addrs_t *a)
{
    int               rc;
    ngx_uint_t        pass;
    struct addrinfo   hints, *res, *rp;

    a->naddrs = 0;

    /* no host name is longer (RFC 1035) or holds a NUL */
    if (len > 255 || ngx_strlen(name) != len) {
        a->rc = NGX_DECLINED;
        return;
    }

    ngx_memzero(&hints, sizeof(struct addrinfo));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;

    rc = getaddrinfo((char *) name, NULL, &hints, &res);

    if (rc != 0) {
        a->rc = (rc == EAI_NONAME
#ifdef EAI_NODATA
                 || rc == EAI_NODATA
#endif
                ) ? NGX_DECLINED : NGX_BUSY;
        return;
    }

    /* IPv4 first, the order of ngx_parse_url() */

    for (pass = 0; pass < 2; pass++) {
        for (rp = res; rp; rp = rp->ai_next) {

            if (rp->ai_family != (pass ? AF_INET6 : AF_INET)
                || a->naddrs == NGX_HTTP_APIGW_ADDRS)
            {
                continue;
            }

            a->len[a->naddrs] = ngx_sock_ntop(rp->ai_addr, rp->ai_addrlen,
                                              a->addr[a->naddrs],
                                              NGX_SOCKADDR_STRLEN, 0);
            a->naddrs++;
        }
    }

    freeaddrinfo(res);

    a->rc = a->naddrs ? NGX_OK : NGX_DECLINED;
}


ngx_uint_t
ngx_http_apigw_host_is_addr(u_char *host, size_t len)
{
#if (NGX_HAVE_INET6)
    u_char  buf[16];
#endif

    if (ngx_inet_addr(host, len) != INADDR_NONE) {
        return 1;
    }

#if (NGX_HAVE_INET6)
    if (ngx_inet6_addr(host, len, buf) == NGX_OK) {
        return 1;
    }
#endif

    return 0;
}


ngx_int_t
ngx_http_apigw_resolve_init(ngx_cycle_t *cycle,
    ngx_http_apigw_admin_main_conf_t *amcf)
{
#if (NGX_THREADS)
    if (amcf->resolve == 0) {
        return NGX_OK;
    }

    ngx_http_apigw_resolved = json_object();
    ngx_http_apigw_resolve_failed = json_object();

    if (ngx_http_apigw_resolved == NULL
        || ngx_http_apigw_resolve_failed == NULL)
    {
        return NGX_ERROR;
    }

    ngx_http_apigw_resolve_ev.handler = ngx_http_apigw_resolve_timer;
    ngx_http_apigw_resolve_ev.log = cycle->log;
    ngx_http_apigw_resolve_ev.data = amcf;
    ngx_http_apigw_resolve_ev.cancelable = 1;

    /* the stored addresses may be old: the first round comes soon */
    ngx_add_timer(&ngx_http_apigw_resolve_ev, 1000);
#endif

    return NGX_OK;
}


/* what this worker looked up last for `host`, or NULL */

json_t *
ngx_http_apigw_resolve_get(const char *host)
{
    return ngx_http_apigw_resolved
           ? json_object_get(ngx_http_apigw_resolved, host) : NULL;
}


static void
ngx_http_apigw_resolve_timer(ngx_event_t *ev)
{
#if (NGX_THREADS)
    u_char                            *p;
    size_t                             size;
    json_t                            *names, *v;
    ngx_uint_t                         i;
    const char                        *name;
    const apigw_store_t               *s;
    ngx_http_apigw_resolve_round_t    *rd;
    ngx_http_apigw_admin_main_conf_t  *amcf;

    amcf = ev->data;
    s = ngx_http_apigw_store_current();

    if (ngx_http_apigw_resolve_busy || s == NULL || ngx_exiting) {
        goto next;
    }

    /* the distinct names of every stored API's backends */

    names = json_object();
    if (names == NULL) {
        goto next;
    }

    if (apigw_store_foreach(s, "api:", ngx_http_apigw_resolve_names, names)
        != 0
        || json_object_size(names) == 0)
    {
        json_decref(names);
        goto next;
    }

    size = sizeof(ngx_http_apigw_resolve_round_t)
           + json_object_size(names) * sizeof(ngx_http_apigw_resolve_name_t);

    json_object_foreach(names, name, v) {
        size += ngx_strlen(name) + 1;
    }

    rd = ngx_calloc(size, ev->log);
    if (rd == NULL) {
        json_decref(names);
        goto next;
    }

    p = (u_char *) &rd->names[json_object_size(names)];
    i = 0;

    json_object_foreach(names, name, v) {
        rd->names[i].name = p;
        p = ngx_cpymem(p, name, ngx_strlen(name) + 1);
        i++;
    }

    rd->n = i;
    json_decref(names);

    rd->task.ctx = rd;
    rd->task.handler = ngx_http_apigw_resolve_thread;
    rd->task.event.handler = ngx_http_apigw_resolve_done;
    rd->task.event.data = rd;
    rd->task.event.log = ev->log;

    if (ngx_http_apigw_thread_post(&rd->task, ev->log) != NGX_OK) {
        ngx_free(rd);
        goto next;
    }

    /* the timer is set again when the round is back */
    ngx_http_apigw_resolve_busy = 1;

    return;

next:

    if (!ngx_exiting) {
        ngx_add_timer(ev, amcf->resolve);
    }
#endif
}


/* the hosts ("host|port") of a record's backends that are names */

static int
ngx_http_apigw_resolve_names(const char *key, json_t *rec, void *data)
{
    json_t *names = data;

    u_char  *bar, *p;
    size_t   i, len;
    json_t  *h;

    json_array_foreach(json_object_get(rec, "hosts"), i, h) {
        if (!json_is_string(h)
            || json_object_size(names) >= NGX_HTTP_APIGW_RESOLVE_MAX)
        {
            continue;
        }

        p = (u_char *) json_string_value(h);
        bar = (u_char *) strrchr((char *) p, '|');

        if (bar == NULL) {
            continue;
        }

        len = bar - p;

        if (len == 0 || ngx_http_apigw_host_is_addr(p, len)) {
            continue;
        }

        if (json_object_setn_new(names, (char *) p, len, json_true()) != 0) {
            return -1;
        }
    }

    return 0;
}


#if (NGX_THREADS)

/* a thread's part: no nginx state but the round's own memory */

static void
ngx_http_apigw_resolve_thread(void *data, ngx_log_t *log)
{
    ngx_http_apigw_resolve_round_t *rd = data;

    ngx_uint_t  i;

    for (i = 0; i < rd->n; i++) {
        ngx_http_apigw_getaddrs(rd->names[i].name,
                                ngx_strlen(rd->names[i].name),
                                &rd->names[i].addrs);
    }
}


static void
ngx_http_apigw_resolve_done(ngx_event_t *ev)
{
    ngx_http_apigw_resolve_round_t *rd = ev->data;

    ngx_http_apigw_admin_main_conf_t  *amcf;

    amcf = ngx_http_apigw_resolve_ev.data;
    ngx_http_apigw_resolve_busy = 0;

    ngx_http_apigw_resolve_apply(rd, ev->log);
    ngx_free(rd);

    if (!ngx_exiting) {
        ngx_add_timer(&ngx_http_apigw_resolve_ev, amcf->resolve);
    }
}

#endif


/*
 * The round's answers: a name whose addresses differ from what it had is
 * remembered with its new ones, and the APIs that use it are recompiled
 * unless they have those addresses already.
 */

static void
ngx_http_apigw_resolve_apply(ngx_http_apigw_resolve_round_t *rd,
    ngx_log_t *log)
{
    char                           *text;
    json_t                         *list, *old, *changed[2];
    ngx_uint_t                      i, j;
    const char                     *name;
    ngx_http_apigw_resolve_name_t  *nm;

    changed[0] = json_object();     /* name: [old addresses] or null */
    changed[1] = json_object();     /* names that APIs now use anew */

    if (changed[0] == NULL || changed[1] == NULL) {
        json_decref(changed[0]);
        json_decref(changed[1]);
        return;
    }

    for (i = 0; i < rd->n; i++) {
        nm = &rd->names[i];

        if (nm->addrs.rc != NGX_OK) {
            if (json_object_get(ngx_http_apigw_resolve_failed,
                                (char *) nm->name) == NULL)
            {
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "apigw: backend host \"%s\" %s; its last "
                              "known addresses are kept", nm->name,
                              nm->addrs.rc == NGX_DECLINED
                              ? "is not found any more"
                              : "could not be looked up");
                (void) json_object_set_new(ngx_http_apigw_resolve_failed,
                                           (char *) nm->name, json_true());
            }

            continue;
        }

        (void) json_object_del(ngx_http_apigw_resolve_failed,
                               (char *) nm->name);

        list = json_array();
        if (list == NULL) {
            break;
        }

        for (j = 0; j < nm->addrs.naddrs; j++) {
            (void) json_array_append_new(list,
                       json_stringn((char *) nm->addrs.addr[j],
                                    nm->addrs.len[j]));
        }

        list = ngx_http_apigw_resolve_sorted(list);
        if (list == NULL) {
            break;
        }

        old = json_object_get(ngx_http_apigw_resolved, (char *) nm->name);

        if (old && json_equal(old, list)) {
            json_decref(list);
            continue;
        }

        (void) json_object_set(changed[0], (char *) nm->name,
                               old ? old : json_null());
        (void) json_object_set_new(ngx_http_apigw_resolved,
                                   (char *) nm->name, list);
    }

    if (json_object_size(changed[0])) {
        (void) apigw_store_foreach(ngx_http_apigw_store_current(), "api:",
                                   ngx_http_apigw_resolve_mark, changed);
    }

    if (json_object_size(changed[1])) {
        json_object_foreach(changed[1], name, list) {
            text = json_dumps(json_object_get(ngx_http_apigw_resolved, name),
                              JSON_COMPACT);
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "apigw: backend host \"%s\" now has the addresses "
                          "%s", name, text ? text : "(?)");
            free(text);
        }

        ngx_http_apigw_dyn_refresh(log);
    }

    json_decref(changed[0]);
    json_decref(changed[1]);
}


/* an API using a changed name, compiled with other addresses: again */

static int
ngx_http_apigw_resolve_mark(const char *key, json_t *rec, void *data)
{
    json_t **changed = data;

    int          differ, again;
    char        *bar, host[256];
    size_t       i, len;
    json_t      *h, *was, *now, *stored;
    const char  *s;

    again = 0;

    json_array_foreach(json_object_get(rec, "hosts"), i, h) {
        s = json_string_value(h);
        bar = s ? strrchr(s, '|') : NULL;

        if (bar == NULL || (size_t) (bar - s) >= sizeof(host)) {
            continue;
        }

        len = bar - s;
        ngx_memcpy(host, s, len);
        host[len] = '\0';

        /* compiled with the name's previous answer, else the record's */
        was = json_object_get(changed[0], host);

        if (was == NULL) {
            continue;
        }

        now = json_object_get(ngx_http_apigw_resolved, host);

        if (json_is_null(was)) {
            stored = ngx_http_apigw_resolve_sorted(json_deep_copy(
                         json_object_get(json_object_get(rec, "resolved"),
                                         s)));
            differ = !json_equal(stored, now);
            json_decref(stored);

        } else {
            differ = !json_equal(was, now);
        }

        if (differ) {
            again = 1;
            (void) json_object_set_new(changed[1], host, json_true());
        }
    }

    if (again) {
        ngx_http_apigw_dyn_recompile(key + sizeof("api:") - 1);
    }

    return 0;
}


static int
ngx_http_apigw_resolve_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t **) a),
                  json_string_value(*(json_t **) b));
}


/* the list's strings in order (DNS rotates them); takes the reference */

static json_t *
ngx_http_apigw_resolve_sorted(json_t *list)
{
    size_t    i, n;
    json_t   *sorted, **v;

    n = json_array_size(list);

    if (list == NULL || n < 2) {
        return list;
    }

    v = ngx_alloc(n * sizeof(json_t *), ngx_cycle->log);
    sorted = json_array();

    if (v == NULL || sorted == NULL) {
        if (v) {
            ngx_free(v);
        }

        json_decref(sorted);
        json_decref(list);
        return NULL;
    }

    for (i = 0; i < n; i++) {
        v[i] = json_array_get(list, i);

        if (!json_is_string(v[i])) {
            v[i] = json_string("");
            json_array_set_new(list, i, v[i]);
        }
    }

    qsort(v, n, sizeof(json_t *), ngx_http_apigw_resolve_cmp);

    for (i = 0; i < n; i++) {
        (void) json_array_append(sorted, v[i]);
    }

    ngx_free(v);
    json_decref(list);

    return sorted;
}
