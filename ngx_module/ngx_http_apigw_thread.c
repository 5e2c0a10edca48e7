/*
 * Blocking work (a look at the keys file, a journal write and its fsync, a
 * host name lookup) runs in threads started when a task is posted, which
 * end as soon as no task is left.  nginx's thread pools keep their threads
 * for the worker's life (the default pool: 32 per worker, for a keys file
 * looked at once a second), and while a process has a second thread the
 * kernel takes and drops a reference on the file behind every descriptor
 * a system call names, as the descriptor table is shared: about 30 ns on
 * each recv() and writev() of every request on the bench machine.  As in
 * nginx's pools, tasks may finish in any order; their completion handlers
 * run in the event loop, woken through an eventfd.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <dlfcn.h>
#include <sys/eventfd.h>

#include "ngx_http_apigw_thread.h"


#if (NGX_THREADS)

#define NGX_HTTP_APIGW_THREADS    32        /* at once, as nginx's pool */
#define NGX_HTTP_APIGW_MAX_QUEUE  65536


typedef struct {
    ngx_thread_task_t   *first;
    ngx_thread_task_t  **last;
} ngx_http_apigw_tasks_t;


static ngx_int_t ngx_http_apigw_thread_init(ngx_log_t *log);
static void *ngx_http_apigw_thread_cycle(void *data);
static void ngx_http_apigw_thread_done(ngx_event_t *ev);
static void ngx_http_apigw_thread_hold(ngx_event_t *ev);


static ngx_connection_t       *ngx_http_apigw_thread_conn;    /* eventfd */
static ngx_thread_mutex_t      ngx_http_apigw_thread_mtx;
static ngx_thread_cond_t       ngx_http_apigw_thread_gone;
static ngx_http_apigw_tasks_t  ngx_http_apigw_thread_queue;
static ngx_http_apigw_tasks_t  ngx_http_apigw_thread_finished;
static ngx_uint_t              ngx_http_apigw_thread_waiting;
static ngx_uint_t              ngx_http_apigw_thread_running;
static ngx_uint_t              ngx_http_apigw_thread_busy;
static ngx_uint_t              ngx_http_apigw_thread_task_id;
/* in the worker: posted, completion handler not run yet */
static ngx_uint_t              ngx_http_apigw_thread_pending;
static ngx_event_t             ngx_http_apigw_thread_timer;
/* a timer's data: nginx's debug log reads its "fd" */
static ngx_connection_t        ngx_http_apigw_thread_dumb;


/* the worker's first task: nothing is started for a worker that has none */

static ngx_int_t
ngx_http_apigw_thread_init(ngx_log_t *log)
{
    int                fd;
    Dl_info            info, nginx;
    ngx_connection_t  *c;

    if (ngx_thread_mutex_create(&ngx_http_apigw_thread_mtx, log) != NGX_OK
        || ngx_thread_cond_create(&ngx_http_apigw_thread_gone, log)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_apigw_thread_queue.first = NULL;
    ngx_http_apigw_thread_queue.last = &ngx_http_apigw_thread_queue.first;
    ngx_http_apigw_thread_finished.first = NULL;
    ngx_http_apigw_thread_finished.last =
                                       &ngx_http_apigw_thread_finished.first;

    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno, "eventfd() failed");
        return NGX_ERROR;
    }

    c = ngx_get_connection(fd, ngx_cycle->log);
    if (c == NULL) {
        (void) close(fd);
        return NGX_ERROR;
    }

    c->read->handler = ngx_http_apigw_thread_done;
    c->read->log = ngx_cycle->log;

    /* level-triggered: a wake-up is never lost */
    if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK) {
        ngx_close_connection(c);
        return NGX_ERROR;
    }

    ngx_http_apigw_thread_conn = c;

    /*
     * A finished thread still runs a few of this module's instructions
     * after its last unlock, while the worker may already be leaving, and
     * the cycle pool's cleanup dlclose()s the module before exit():
     * the module stays mapped for the rest of the process's life (one
     * compiled into nginx is there anyway).
     */
    if (dladdr((void *) ngx_http_apigw_thread_cycle, &info) == 0
        || ((dladdr((void *) &ngx_cycle, &nginx) == 0
             || nginx.dli_fbase != info.dli_fbase)
            && dlopen(info.dli_fname, RTLD_NOW|RTLD_NOLOAD|RTLD_NODELETE)
               == NULL))
    {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "apigw: the module could not be pinned: %s",
                      dlerror());
        ngx_close_connection(c);
        ngx_http_apigw_thread_conn = NULL;
        return NGX_ERROR;
    }

    ngx_http_apigw_thread_dumb.fd = (ngx_socket_t) -1;
    ngx_http_apigw_thread_timer.handler = ngx_http_apigw_thread_hold;
    ngx_http_apigw_thread_timer.data = &ngx_http_apigw_thread_dumb;
    ngx_http_apigw_thread_timer.log = ngx_cycle->log;

    return NGX_OK;
}


/*
 * A worker shutting down gracefully leaves once no timer is left, and a
 * request waiting for a task (a management API write, say) has none: a
 * timer is kept while tasks are in flight, so that their completion
 * handlers still answer.
 */

static void
ngx_http_apigw_thread_hold(ngx_event_t *ev)
{
    if (ngx_http_apigw_thread_pending) {
        ngx_add_timer(ev, 60000);
    }
}


ngx_int_t
ngx_http_apigw_thread_post(ngx_thread_task_t *task, ngx_log_t *log)
{
    int                 err;
    sigset_t            set, old;
    pthread_t           tid;
    pthread_attr_t      attr;
    ngx_thread_task_t **t;

    if (task->event.active) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "apigw: task #%ui already active", task->id);
        return NGX_ERROR;
    }

    if (ngx_http_apigw_thread_conn == NULL
        && ngx_http_apigw_thread_init(log) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_thread_mutex_lock(&ngx_http_apigw_thread_mtx, log) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_apigw_thread_waiting >= NGX_HTTP_APIGW_MAX_QUEUE) {
        (void) ngx_thread_mutex_unlock(&ngx_http_apigw_thread_mtx, log);
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "apigw: %ui thread tasks waiting",
                      ngx_http_apigw_thread_waiting);
        return NGX_ERROR;
    }

    task->event.active = 1;
    task->id = ngx_http_apigw_thread_task_id++;
    task->next = NULL;

    *ngx_http_apigw_thread_queue.last = task;
    ngx_http_apigw_thread_queue.last = &task->next;
    ngx_http_apigw_thread_waiting++;

    if (ngx_http_apigw_thread_pending++ == 0) {
        ngx_add_timer(&ngx_http_apigw_thread_timer, 60000);
    }

    /* a thread that is not running a task takes the next one */
    if (ngx_http_apigw_thread_waiting
        <= ngx_http_apigw_thread_running - ngx_http_apigw_thread_busy
        || ngx_http_apigw_thread_running == NGX_HTTP_APIGW_THREADS)
    {
        (void) ngx_thread_mutex_unlock(&ngx_http_apigw_thread_mtx, log);
        return NGX_OK;
    }

    /* the thread starts with the worker's signals blocked */
    sigfillset(&set);
    sigdelset(&set, SIGILL);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);

    err = pthread_attr_init(&attr);
    if (err == 0) {
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void) pthread_sigmask(SIG_BLOCK, &set, &old);
        err = pthread_create(&tid, &attr, ngx_http_apigw_thread_cycle, NULL);
        (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
        (void) pthread_attr_destroy(&attr);
    }

    if (err == 0) {
        ngx_http_apigw_thread_running++;

    } else {
        ngx_log_error(NGX_LOG_ALERT, log, err, "pthread_create() failed");

        if (ngx_http_apigw_thread_running == 0) {
            /* no thread would ever take it */
            for (t = &ngx_http_apigw_thread_queue.first; *t != task;
                 t = &(*t)->next)
            {
                /* void */
            }

            *t = task->next;
            if (ngx_http_apigw_thread_queue.last == &task->next) {
                ngx_http_apigw_thread_queue.last = t;
            }

            ngx_http_apigw_thread_waiting--;
            task->event.active = 0;

            if (--ngx_http_apigw_thread_pending == 0) {
                ngx_del_timer(&ngx_http_apigw_thread_timer);
            }

            (void) ngx_thread_mutex_unlock(&ngx_http_apigw_thread_mtx, log);
            return NGX_ERROR;
        }
    }

    (void) ngx_thread_mutex_unlock(&ngx_http_apigw_thread_mtx, log);

    return NGX_OK;
}


static void *
ngx_http_apigw_thread_cycle(void *data)
{
    uint64_t            one;
    ngx_log_t          *log;
    ngx_thread_task_t  *task;

    log = ngx_cycle->log;
    one = 1;

    if (ngx_thread_mutex_lock(&ngx_http_apigw_thread_mtx, log) != NGX_OK) {
        return NULL;
    }

    for ( ;; ) {
        task = ngx_http_apigw_thread_queue.first;

        if (task == NULL) {
            /* nothing left: the worker is single-threaded again */
            if (--ngx_http_apigw_thread_running == 0) {
                (void) ngx_thread_cond_signal(&ngx_http_apigw_thread_gone,
                                              log);
            }

            (void) ngx_thread_mutex_unlock(&ngx_http_apigw_thread_mtx, log);
            return NULL;
        }

        ngx_http_apigw_thread_queue.first = task->next;
        if (task->next == NULL) {
            ngx_http_apigw_thread_queue.last =
                                          &ngx_http_apigw_thread_queue.first;
        }

        ngx_http_apigw_thread_waiting--;
        ngx_http_apigw_thread_busy++;

        (void) ngx_thread_mutex_unlock(&ngx_http_apigw_thread_mtx, log);

        task->handler(task->ctx, log);

        (void) ngx_thread_mutex_lock(&ngx_http_apigw_thread_mtx, log);

        ngx_http_apigw_thread_busy--;

        task->next = NULL;
        *ngx_http_apigw_thread_finished.last = task;
        ngx_http_apigw_thread_finished.last = &task->next;

        /* a counter of 2^64 - 2 cannot be reached: it never fails */
        if (write(ngx_http_apigw_thread_conn->fd, &one, sizeof(one)) == -1) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "apigw: write() to eventfd failed");
        }
    }
}


static void
ngx_http_apigw_thread_done(ngx_event_t *ev)
{
    uint64_t            n;
    ngx_event_t        *event;
    ngx_connection_t   *c;
    ngx_thread_task_t  *task;

    c = ev->data;

    /* level-triggered: an empty counter (EAGAIN) is harmless */
    if (read(c->fd, &n, sizeof(n)) == -1 && ngx_errno != NGX_EAGAIN) {
        ngx_log_error(NGX_LOG_ALERT, ev->log, ngx_errno,
                      "apigw: read() from eventfd failed");
    }

    if (ngx_thread_mutex_lock(&ngx_http_apigw_thread_mtx, ev->log)
        != NGX_OK)
    {
        return;
    }

    task = ngx_http_apigw_thread_finished.first;
    ngx_http_apigw_thread_finished.first = NULL;
    ngx_http_apigw_thread_finished.last =
                                       &ngx_http_apigw_thread_finished.first;

    (void) ngx_thread_mutex_unlock(&ngx_http_apigw_thread_mtx, ev->log);

    while (task) {
        event = &task->event;
        task = task->next;

        event->complete = 1;
        event->active = 0;

        if (--ngx_http_apigw_thread_pending == 0
            && ngx_http_apigw_thread_timer.timer_set)
        {
            ngx_del_timer(&ngx_http_apigw_thread_timer);
        }

        event->handler(event);
    }
}


/*
 * Called by the exit handlers of the modules that post tasks, before they
 * release what a task may use; like nginx's pools, it waits for the tasks
 * already running.  Tasks still waiting are dropped.
 */

void
ngx_http_apigw_thread_exit(ngx_cycle_t *cycle)
{
    if (ngx_http_apigw_thread_conn == NULL) {
        return;
    }

    if (ngx_thread_mutex_lock(&ngx_http_apigw_thread_mtx, cycle->log)
        != NGX_OK)
    {
        return;
    }

    ngx_http_apigw_thread_queue.first = NULL;
    ngx_http_apigw_thread_queue.last = &ngx_http_apigw_thread_queue.first;
    ngx_http_apigw_thread_waiting = 0;

    while (ngx_http_apigw_thread_running) {
        if (ngx_thread_cond_wait(&ngx_http_apigw_thread_gone,
                                 &ngx_http_apigw_thread_mtx, cycle->log)
            != NGX_OK)
        {
            break;
        }
    }

    (void) ngx_thread_mutex_unlock(&ngx_http_apigw_thread_mtx, cycle->log);

    if (ngx_http_apigw_thread_timer.timer_set) {
        ngx_del_timer(&ngx_http_apigw_thread_timer);
    }

    ngx_close_connection(ngx_http_apigw_thread_conn);
    ngx_http_apigw_thread_conn = NULL;
}

#endif
