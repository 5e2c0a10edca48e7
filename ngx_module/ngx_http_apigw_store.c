/*
 * apigw embedded store and live reconfiguration.
 *
 * The records (see src/store.h) live in a shared-memory zone: a red-black
 * tree by key, and a queue ordered by the version of their last change, so
 * a worker copies only what changed since the version it has.  Deleted
 * records stay as tombstones (key only) so every worker learns of the
 * deletion.  Writes are durable before they are acknowledged: a journal
 * line (one JSON object per committed change) is appended and fsync()ed,
 * then the zone is updated; when the journal grows past the snapshot it is
 * folded into a new snapshot written to a temporary file, fsync()ed and
 * renamed.  That file work runs in a thread (ngx_http_apigw_thread.c), so a
 * slow disk holds no worker's connections, and without the zone's lock, which
 * the workers' synchronisation needs: writers, of all workers, take turns
 * on a lock of their own.  The master loads snapshot and journal when the
 * zone is created, so the store survives restarts; reloads keep the zone.
 *
 * Every worker keeps its own parsed copy of the records and, compiled from
 * it off the request path (an nginx timer, default every 100 ms, compares
 * the zone's version with its own), one router per tenant of the dynamic
 * APIs.  The data plane matches /api/{tenant}/... against it.  A compiled
 * API lives until the last request that matched it ends.
 */

#include "ngx_http_apigw_store.h"

#include <sys/file.h>


typedef struct {
    ngx_rbtree_node_t           node;       /* key: crc32 of the key */
    ngx_queue_t                 queue;      /* by rev */
    uint64_t                    rev;
    u_char                     *text;       /* NULL: deleted */
    size_t                      text_len;
    size_t                      key_len;
    u_char                      key[1];
} ngx_http_apigw_rec_t;


struct ngx_http_apigw_shm_s {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;
    volatile uint64_t           version;
    off_t                       journal_size;
    off_t                       snapshot_size;
    ngx_uint_t                  records;
    ngx_uint_t                  tombstones; /* deleted records kept */
    uint64_t                    pruned;     /* none kept from before */
    /*
     * what the writer in turn reserved and has not used yet (the texts',
     * then the records'): freed by the next one if it died meanwhile
     */
    void                      **pend;
    size_t                      npend;
    ngx_uint_t                  full;       /* a change did not fit */
    ngx_shmtx_sh_t              wlock;
    ngx_shmtx_t                 writer;     /* one writer at a time */
};


/* one write on its way to the disk */
typedef struct {
#if (NGX_THREADS)
    ngx_thread_task_t           task;
#endif
    ngx_event_t                 done;       /* without a thread pool */
    ngx_log_t                  *log;
    ngx_http_apigw_store_done_pt handler;
    void                       *data;
    uint64_t                    base;
    ngx_int_t                   rc;
    ngx_err_t                   err;
    const char                 *failed;     /* for the log */
    ngx_str_t                  *file;
    ngx_uint_t                  full;
    ngx_uint_t                  refused;    /* no room in the zone */
    off_t                       dropped;
    char                       *line;
    size_t                      line_len;
    size_t                      n;
    char                      **keys;
    char                      **texts;
    json_t                    **values;
    /* the zone's memory for them, taken before the journal line */
    u_char                    **room;      /* texts' copies */
    void                      **nodes;     /* records not in the zone yet */
} ngx_http_apigw_commit_t;


/* one compiled dynamic API */
typedef struct {
    char                       *id;
    char                       *tenant;
    apigw_api_t                *api;
    ngx_pool_t                 *pool;       /* opx, addresses */
    ngx_uint_t                  refs;
} ngx_http_apigw_dyn_api_t;


/* one tenant's router and the APIs in it */
typedef struct {
    apigw_router_t             *router;
    ngx_http_apigw_dyn_api_t  **apis;
    ngx_uint_t                  napis;
    ngx_uint_t                  refs;
} ngx_http_apigw_dyn_gen_t;


typedef struct {
    ngx_http_apigw_store_change_pt   handler;
    void                            *data;
} ngx_http_apigw_change_t;


static ngx_int_t ngx_http_apigw_journal_owner(
    ngx_http_apigw_admin_main_conf_t *amcf, ngx_log_t *log);
static ngx_int_t ngx_http_apigw_store_load(
    ngx_http_apigw_admin_main_conf_t *amcf, ngx_log_t *log,
    apigw_store_t **out, off_t *sizes);
static ngx_http_apigw_rec_t *ngx_http_apigw_rec_lookup(
    ngx_http_apigw_shm_t *sh, u_char *key, size_t len, uint32_t hash);
static ngx_int_t ngx_http_apigw_store_lock(
    ngx_http_apigw_admin_main_conf_t *amcf, ngx_log_t *log);
static ngx_int_t ngx_http_apigw_reserve(ngx_http_apigw_commit_t *c);
static void ngx_http_apigw_prune(ngx_http_apigw_shm_t *sh,
    ngx_slab_pool_t *shpool);
static void ngx_http_apigw_pend_free(ngx_http_apigw_shm_t *sh,
    ngx_slab_pool_t *shpool);
static void ngx_http_apigw_unreserve(ngx_http_apigw_commit_t *c);
static ngx_int_t ngx_http_apigw_rec_set(ngx_http_apigw_shm_t *sh,
    ngx_slab_pool_t *shpool, const char *key, u_char *text, size_t len,
    uint64_t rev, u_char *room, void *node);
static void ngx_http_apigw_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_apigw_store_poll(ngx_event_t *ev);
static void ngx_http_apigw_dyn_compile(ngx_log_t *log);
static void ngx_http_apigw_dyn_api_release(ngx_http_apigw_dyn_api_t *d);
static void ngx_http_apigw_dyn_gen_release(void *data);
static void ngx_http_apigw_commit_write(ngx_http_apigw_commit_t *c);
static void ngx_http_apigw_writer_lock(void);
static void ngx_http_apigw_compact(ngx_http_apigw_commit_t *c, char *text,
    size_t len);
#if (NGX_THREADS)
static void ngx_http_apigw_commit_thread(void *data, ngx_log_t *log);
#endif
static void ngx_http_apigw_commit_done(ngx_event_t *ev);
static void ngx_http_apigw_commit_free(ngx_http_apigw_commit_t *c);


static ngx_http_apigw_admin_main_conf_t  *ngx_http_apigw_amcf;
static ngx_http_apigw_shm_t              *ngx_http_apigw_sh;
static ngx_slab_pool_t                   *ngx_http_apigw_shpool;
static apigw_store_t                     *ngx_http_apigw_local;
static ngx_fd_t                           ngx_http_apigw_journal_fd
                                              = NGX_INVALID_FILE;
/* the last journal write failed (disk full, permissions, ...) */
static ngx_uint_t                         ngx_http_apigw_store_write_failed;
static json_t                            *ngx_http_apigw_pending;
static json_t                            *ngx_http_apigw_dyn_apis;
static json_t                            *ngx_http_apigw_dyn_by_tenant;
static json_t                            *ngx_http_apigw_dyn_tenants;
static ngx_event_t                        ngx_http_apigw_poll_ev;
static ngx_array_t                       *ngx_http_apigw_changes;
static ngx_uint_t                         ngx_http_apigw_changed;


#define ngx_http_apigw_ptr(j)  ((void *) (uintptr_t) json_integer_value(j))
#define ngx_http_apigw_jptr(p) json_integer((json_int_t) (uintptr_t) (p))


/* ---- the zone ---- */

/*
 * One nginx at a time per store: another one (a binary upgrade, USR2,
 * runs the old and the new side by side) would have a zone of its own
 * and append to the same journal, each cutting the other's lines off.
 * The lock (PATH.lock) is held by this master and its workers until the
 * last of them exits; not passed to a new binary (O_CLOEXEC).
 */
static ngx_int_t
ngx_http_apigw_store_lock(ngx_http_apigw_admin_main_conf_t *amcf,
    ngx_log_t *log)
{
    int                 fd;
    u_char              path[NGX_MAX_PATH];
    static ngx_uint_t   locked;

    if (locked) {
        return NGX_OK;
    }

    if (amcf->path.len + sizeof(".lock") > sizeof(path)) {
        return NGX_OK;
    }

    ngx_sprintf(path, "%V.lock%Z", &amcf->path);

    fd = open((char *) path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "apigw: cannot open \"%s\"", path);
        return NGX_ERROR;
    }

    if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "apigw: the store \"%V\" is in use by another nginx "
                      "(a binary upgrade runs both: the embedded store "
                      "takes a stop and a start; the Redis store does not)",
                      &amcf->path);
        close(fd);
        return NGX_ERROR;
    }

    /* kept open: the lock lasts as long as this nginx */
    locked = 1;

    return NGX_OK;
}


/* the running configuration (a reload) has a zone of that name */
static ngx_uint_t
ngx_http_apigw_store_zone_running(ngx_http_apigw_admin_main_conf_t *amcf,
    ngx_shm_zone_t *zone)
{
    ngx_uint_t        i;
    ngx_cycle_t      *old;
    ngx_shm_zone_t   *z;
    ngx_list_part_t  *part;

    old = amcf->cycle ? amcf->cycle->old_cycle : NULL;

    if (old == NULL || ngx_is_init_cycle(old)) {
        return 0;
    }

    for (part = &old->shared_memory.part; part; part = part->next) {
        z = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (z[i].tag == zone->tag
                && z[i].shm.name.len == zone->shm.name.len
                && ngx_strncmp(z[i].shm.name.data, zone->shm.name.data,
                               zone->shm.name.len) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


ngx_int_t
ngx_http_apigw_store_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_apigw_admin_main_conf_t *amcf = zone->data;
    ngx_http_apigw_admin_main_conf_t *old;

    off_t                  sizes[2];
    char                  *text;
    json_t                *v;
    const char            *k;
    apigw_store_t         *st;
    ngx_slab_pool_t       *shpool;
    ngx_http_apigw_shm_t  *sh;

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (data) {
        /*
         * a reload: the zone and its records carry over; not to another
         * file, which would get the writes while the zone holds this one
         */
        old = data;

        if (old->path.len != amcf->path.len
            || ngx_strncmp(old->path.data, amcf->path.data, old->path.len)
               != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                          "apigw: the store file cannot change on a reload "
                          "(\"%V\" to \"%V\"): restart nginx",
                          &old->path, &amcf->path);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    /*
     * A new zone while the workers of the running configuration write to
     * the old one: both would append to the journal, and each cut the
     * other's lines off as unfinished writes.  A new zone_size= takes a
     * restart.
     */
    if (ngx_http_apigw_store_zone_running(amcf, zone)) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "apigw: the store's zone_size= cannot change on a "
                      "reload: restart nginx");
        return NGX_ERROR;
    }

    if (!ngx_test_config && ngx_http_apigw_store_lock(amcf, zone->shm.log)
                            != NGX_OK)
    {
        return NGX_ERROR;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_apigw_shm_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_apigw_rbtree_insert);
    ngx_queue_init(&sh->queue);

    if (ngx_shmtx_create(&sh->writer, &sh->wlock, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    shpool->log_nomem = 0;

    if (ngx_http_apigw_store_load(amcf, zone->shm.log, &st, sizes)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sh->version = apigw_store_version(st);
    sh->snapshot_size = sizes[0];
    sh->journal_size = sizes[1];

    json_object_foreach(apigw_store_records(st), k, v) {
        text = json_dumps(v, JSON_COMPACT);
        if (text == NULL
            || ngx_http_apigw_rec_set(sh, shpool, k, (u_char *) text,
                                      ngx_strlen(text), sh->version, NULL,
                                      NULL)
               != NGX_OK)
        {
            free(text);
            apigw_store_free(st);
            ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                          "apigw: the store does not fit in the zone; "
                          "give apigw_store a larger zone_size=");
            return NGX_ERROR;
        }

        free(text);
    }

    if (ngx_http_apigw_journal_owner(amcf, zone->shm.log) != NGX_OK) {
        apigw_store_free(st);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_NOTICE, zone->shm.log, 0,
                  "apigw: store \"%V\" loaded: version %uL, %ui records",
                  &amcf->path, sh->version, sh->records);

    apigw_store_free(st);

    return NGX_OK;
}


/*
 * The master creates the journal and gives it to the workers' user, so
 * that writes work when nginx starts as root; compaction also needs the
 * directory writable by that user (it renames a new snapshot into it).
 */

static ngx_int_t
ngx_http_apigw_journal_owner(ngx_http_apigw_admin_main_conf_t *amcf,
    ngx_log_t *log)
{
    int               fd;
    ngx_err_t         err;
    ngx_core_conf_t  *ccf;

    fd = open((char *) amcf->journal.data, O_WRONLY | O_APPEND | O_CREAT,
              0600);
    if (fd == -1) {
        err = ngx_errno;

        /* no such directory: nginx could never start with it */
        if (err == NGX_ENOENT || err == NGX_ENOTDIR) {
            ngx_log_error(NGX_LOG_EMERG, log, err,
                          "apigw: cannot create \"%V\"", &amcf->journal);
            return NGX_ERROR;
        }

        /* a test run as another user, say */
        ngx_log_error(NGX_LOG_WARN, log, err,
                      "apigw: cannot create \"%V\"", &amcf->journal);
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(amcf->cycle->conf_ctx,
                                           ngx_core_module);

    if (geteuid() == 0 && ccf && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
        && fchown(fd, ccf->user, -1) == -1)
    {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "apigw: chown \"%V\" failed", &amcf->journal);
    }

    close(fd);

    return NGX_OK;
}


/*
 * snapshot + journal, and their sizes; a torn last journal line (a crash)
 * is cut off
 */
static ngx_int_t
ngx_http_apigw_store_load(ngx_http_apigw_admin_main_conf_t *amcf,
    ngx_log_t *log, apigw_store_t **out, off_t *sizes)
{
    int             fd;
    char            err[256], *buf, *p, *nl, *end;
    size_t          n;
    ssize_t         r;
    struct stat     sb;
    apigw_store_t  *st;
    ngx_uint_t      pass;
    ngx_str_t      *name;

    st = NULL;
    sizes[0] = 0;
    sizes[1] = 0;

    for (pass = 0; pass < 2; pass++) {
        name = pass ? &amcf->journal : &amcf->path;

        fd = open((char *) name->data, O_RDONLY);

        if (fd == -1) {
            if (errno != ENOENT) {
                ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                              "apigw: cannot open the store \"%V\"", name);
                apigw_store_free(st);
                return NGX_ERROR;
            }

            if (pass == 0) {
                st = apigw_store_create();
                if (st == NULL) {
                    return NGX_ERROR;
                }
            }

            continue;
        }

        if (fstat(fd, &sb) == -1) {
            close(fd);
            apigw_store_free(st);
            return NGX_ERROR;
        }

        n = (size_t) sb.st_size;
        buf = malloc(n + 1);
        if (buf == NULL) {
            close(fd);
            apigw_store_free(st);
            return NGX_ERROR;
        }

        for (p = buf; p < buf + n; p += r) {
            r = read(fd, p, buf + n - p);
            if (r <= 0) {
                break;
            }
        }

        close(fd);
        n = p - buf;
        buf[n] = '\0';
        sizes[pass] = n;

        if (pass == 0) {
            st = apigw_store_load(buf, n, err, sizeof(err));
            free(buf);

            if (st == NULL) {
                ngx_log_error(NGX_LOG_EMERG, log, 0,
                              "apigw: the store \"%V\" is damaged: %s",
                              name, err);
                return NGX_ERROR;
            }

            continue;
        }

        end = buf + n;

        for (p = buf; p < end; p = nl + 1) {
            nl = memchr(p, '\n', end - p);

            if (nl == NULL) {
                /* torn write: keep the complete lines only */
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "apigw: dropping an incomplete last line of "
                              "\"%V\"", name);
                sizes[pass] = p - buf;

                if (truncate((char *) name->data, p - buf) == -1) {
                    ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                                  "apigw: truncate \"%V\" failed", name);
                    free(buf);
                    apigw_store_free(st);
                    return NGX_ERROR;
                }

                break;
            }

            if (nl > p && apigw_store_replay(st, p, nl - p) != 0) {
                ngx_log_error(NGX_LOG_EMERG, log, 0,
                              "apigw: the store journal \"%V\" is damaged "
                              "at byte %uz", name, (size_t) (p - buf));
                free(buf);
                apigw_store_free(st);
                return NGX_ERROR;
            }
        }

        free(buf);
    }

    *out = st;

    return NGX_OK;
}


static void
ngx_http_apigw_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_int_t              rc;
    ngx_rbtree_node_t    **p;
    ngx_http_apigw_rec_t  *a, *b;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            a = (ngx_http_apigw_rec_t *) node;
            b = (ngx_http_apigw_rec_t *) temp;

            rc = ngx_memn2cmp(a->key, b->key, a->key_len, b->key_len);
            p = (rc < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_apigw_rec_t *
ngx_http_apigw_rec_lookup(ngx_http_apigw_shm_t *sh, u_char *key, size_t len,
    uint32_t hash)
{
    ngx_int_t              rc;
    ngx_rbtree_node_t     *node, *sentinel;
    ngx_http_apigw_rec_t  *rec;

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        rec = (ngx_http_apigw_rec_t *) node;
        rc = ngx_memn2cmp(key, rec->key, len, rec->key_len);

        if (rc == 0) {
            return rec;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* under the lock; text NULL: a tombstone */
static ngx_int_t
ngx_http_apigw_rec_set(ngx_http_apigw_shm_t *sh, ngx_slab_pool_t *shpool,
    const char *key, u_char *text, size_t len, uint64_t rev, u_char *room,
    void *node)
{
    size_t                 klen;
    u_char                *copy;
    uint32_t               hash;
    ngx_http_apigw_rec_t  *rec;

    klen = ngx_strlen(key);
    hash = ngx_crc32_short((u_char *) key, klen);

    copy = NULL;

    if (text) {
        copy = room ? room : ngx_slab_alloc_locked(shpool, len ? len : 1);
        if (copy == NULL) {
            if (node) {
                ngx_slab_free_locked(shpool, node);
            }
            return NGX_ERROR;
        }

        ngx_memcpy(copy, text, len);
    }

    rec = ngx_http_apigw_rec_lookup(sh, (u_char *) key, klen, hash);

    if (rec != NULL && node != NULL) {
        /* reserved for a key an earlier change of the write added */
        ngx_slab_free_locked(shpool, node);
    }

    if (rec == NULL) {
        rec = node ? node
                   : ngx_slab_alloc_locked(shpool,
                                           sizeof(ngx_http_apigw_rec_t)
                                           + klen);
        if (rec == NULL) {
            if (copy) {
                ngx_slab_free_locked(shpool, copy);
            }
            return NGX_ERROR;
        }

        rec->node.key = hash;
        rec->key_len = klen;
        ngx_memcpy(rec->key, key, klen);
        rec->text = NULL;
        rec->rev = 0;
        rec->text_len = 0;

        ngx_rbtree_insert(&sh->rbtree, &rec->node);

    } else {
        ngx_queue_remove(&rec->queue);
    }

    if (rec->text) {
        ngx_slab_free_locked(shpool, rec->text);
        sh->records--;

    } else if (rec->rev) {
        sh->tombstones--;
    }

    if (copy) {
        sh->records++;

    } else {
        sh->tombstones++;
    }

    rec->text = copy;
    rec->text_len = len;
    rec->rev = rev;
    ngx_queue_insert_tail(&sh->queue, &rec->queue);

    return NGX_OK;
}


/* ---- the worker ---- */

ngx_int_t
ngx_http_apigw_store_init_process(ngx_cycle_t *cycle)
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

    ngx_http_apigw_amcf = amcf;

    if (amcf->zone) {
        ngx_http_apigw_shpool = (ngx_slab_pool_t *) amcf->zone->shm.addr;
        ngx_http_apigw_sh = ngx_http_apigw_shpool->data;
    }

    ngx_http_apigw_local = apigw_store_create();
    ngx_http_apigw_pending = json_object();
    ngx_http_apigw_dyn_apis = json_object();
    ngx_http_apigw_dyn_by_tenant = json_object();
    ngx_http_apigw_dyn_tenants = json_object();

    if (ngx_http_apigw_local == NULL || ngx_http_apigw_pending == NULL
        || ngx_http_apigw_dyn_apis == NULL
        || ngx_http_apigw_dyn_by_tenant == NULL
        || ngx_http_apigw_dyn_tenants == NULL)
    {
        return NGX_ERROR;
    }

    if (amcf->use_redis) {
        if (ngx_http_apigw_rstore_init(cycle, amcf) != NGX_OK) {
            return NGX_ERROR;
        }

        goto timer;
    }

    ngx_http_apigw_journal_fd = ngx_open_file(amcf->journal.data,
                                              NGX_FILE_APPEND,
                                              NGX_FILE_CREATE_OR_OPEN,
                                              NGX_FILE_DEFAULT_ACCESS);

    if (ngx_http_apigw_journal_fd == NGX_INVALID_FILE) {
        /* reads and the data plane still work; writes answer 503 */
        ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno,
                      "apigw: cannot open the store journal \"%V\" for "
                      "writing", &amcf->journal);
    }

    ngx_http_apigw_changed = 1;

    if (ngx_http_apigw_store_sync(cycle->log) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_apigw_dyn_compile(cycle->log);

timer:

    if (ngx_http_apigw_resolve_init(cycle, amcf) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_apigw_poll_ev.handler = ngx_http_apigw_store_poll;
    ngx_http_apigw_poll_ev.log = cycle->log;
    ngx_http_apigw_poll_ev.data = amcf;
    ngx_http_apigw_poll_ev.cancelable = 1;

    ngx_add_timer(&ngx_http_apigw_poll_ev, amcf->poll);

    return NGX_OK;
}


void
ngx_http_apigw_store_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_apigw_amcf && ngx_http_apigw_amcf->use_redis) {
        ngx_http_apigw_rstore_exit();
    }

    if (ngx_http_apigw_journal_fd != NGX_INVALID_FILE) {
        (void) ngx_close_file(ngx_http_apigw_journal_fd);
        ngx_http_apigw_journal_fd = NGX_INVALID_FILE;
    }
}


static void
ngx_http_apigw_store_poll(ngx_event_t *ev)
{
    ngx_http_apigw_admin_main_conf_t *amcf = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (!amcf->use_redis
        && ngx_http_apigw_sh->version
           != apigw_store_version(ngx_http_apigw_local))
    {
        (void) ngx_http_apigw_store_sync(ev->log);
    }

    ngx_http_apigw_dyn_compile(ev->log);

    ngx_add_timer(ev, amcf->poll);
}


const apigw_store_t *
ngx_http_apigw_store_current(void)
{
    return ngx_http_apigw_local;
}


ngx_int_t
ngx_http_apigw_store_on_change(ngx_http_apigw_store_change_pt h, void *data)
{
    ngx_http_apigw_change_t  *c;

    if (ngx_http_apigw_changes == NULL) {
        ngx_http_apigw_changes = ngx_array_create(ngx_cycle->pool, 4,
                                             sizeof(ngx_http_apigw_change_t));
        if (ngx_http_apigw_changes == NULL) {
            return NGX_ERROR;
        }
    }

    c = ngx_array_push(ngx_http_apigw_changes);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->handler = h;
    c->data = data;

    if (ngx_http_apigw_local) {
        h(ngx_http_apigw_local, data);
    }

    return NGX_OK;
}


typedef struct {
    char    *key;
    char    *text;
    size_t   len;
} ngx_http_apigw_copy_t;


static void ngx_http_apigw_local_set(const char *key, json_t *v);


void
ngx_http_apigw_local_apply(const char *key, json_t *value)
{
    ngx_http_apigw_local_set(key, value);
}


void
ngx_http_apigw_local_set_version(uint64_t version)
{
    apigw_store_set_version(ngx_http_apigw_local, version);
}


void
ngx_http_apigw_dyn_refresh(ngx_log_t *log)
{
    ngx_http_apigw_dyn_compile(log);
}


ngx_uint_t
ngx_http_apigw_store_redis(void)
{
    return ngx_http_apigw_amcf && ngx_http_apigw_amcf->use_redis;
}


ngx_uint_t
ngx_http_apigw_store_unread(void)
{
    return ngx_http_apigw_store_redis() && !ngx_http_apigw_rstore_loaded();
}


static void
ngx_http_apigw_local_set(const char *key, json_t *v)
{
    if (v) {
        (void) apigw_store_put(ngx_http_apigw_local, key, v);
    } else {
        apigw_store_del(ngx_http_apigw_local, key);
    }

    if (ngx_strncmp(key, "api:", 4) == 0) {
        (void) json_object_set_new(ngx_http_apigw_pending, key + 4,
                                   json_true());
    }

    ngx_http_apigw_changed = 1;
}


void
ngx_http_apigw_dyn_recompile(const char *id)
{
    (void) json_object_set_new(ngx_http_apigw_pending, id, json_true());
}


/* copies what changed in the zone since this worker's version */
ngx_int_t
ngx_http_apigw_store_sync(ngx_log_t *log)
{
    size_t                  n, cap, i;
    json_t                 *v, *gone, *seen;
    uint64_t                mine, version;
    ngx_uint_t              full;
    const char             *k;
    ngx_queue_t            *q;
    json_error_t            je;
    ngx_http_apigw_rec_t   *rec;
    ngx_http_apigw_copy_t  *c, *nc;

    if (ngx_http_apigw_amcf->use_redis) {
        /* kept current by the change notifications */
        return NGX_OK;
    }

    mine = apigw_store_version(ngx_http_apigw_local);

    n = 0;
    cap = 16;
    c = malloc(cap * sizeof(ngx_http_apigw_copy_t));
    if (c == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&ngx_http_apigw_shpool->mutex);

    version = ngx_http_apigw_sh->version;

    /* deletions this worker has not seen may be gone: every record */
    full = mine < ngx_http_apigw_sh->pruned;

    for (q = ngx_queue_last(&ngx_http_apigw_sh->queue);
         q != ngx_queue_sentinel(&ngx_http_apigw_sh->queue);
         q = ngx_queue_prev(q))
    {
        rec = ngx_queue_data(q, ngx_http_apigw_rec_t, queue);

        if (rec->rev <= mine && !full) {
            break;
        }

        if (n == cap) {
            cap *= 2;
            nc = realloc(c, cap * sizeof(ngx_http_apigw_copy_t));
            if (nc == NULL) {
                goto failed;
            }
            c = nc;
        }

        c[n].key = malloc(rec->key_len + 1);
        c[n].text = rec->text ? malloc(rec->text_len + 1) : NULL;
        c[n].len = rec->text_len;

        if (c[n].key == NULL || (rec->text && c[n].text == NULL)) {
            free(c[n].key);
            free(c[n].text);
            goto failed;
        }

        ngx_memcpy(c[n].key, rec->key, rec->key_len);
        c[n].key[rec->key_len] = '\0';

        if (rec->text) {
            ngx_memcpy(c[n].text, rec->text, rec->text_len);
        }

        n++;
    }

    ngx_shmtx_unlock(&ngx_http_apigw_shpool->mutex);

    if (full) {
        /* what this worker holds beyond the zone's records was deleted */
        gone = json_array();
        seen = json_object();

        for (i = 0; seen && i < n; i++) {
            if (json_object_set_new(seen, c[i].key, json_null()) != 0) {
                json_decref(seen);
                seen = NULL;
            }
        }

        if (gone == NULL || seen == NULL) {
            json_decref(gone);
            json_decref(seen);
            goto failed_copied;
        }

        json_object_foreach(apigw_store_records(ngx_http_apigw_local), k,
                            v)
        {
            if (json_object_get(seen, k) == NULL
                && json_array_append_new(gone, json_string(k)) != 0)
            {
                json_decref(gone);
                json_decref(seen);
                goto failed_copied;
            }
        }

        json_decref(seen);

        json_array_foreach(gone, i, v) {
            ngx_http_apigw_local_set(json_string_value(v), NULL);
        }

        json_decref(gone);

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "apigw: deleted records were pruned before this "
                      "worker saw them: every record read");
    }

    /* oldest first */
    for (i = n; i-- > 0; /* void */) {
        v = NULL;

        if (c[i].text) {
            v = json_loadb(c[i].text, c[i].len, 0, &je);
            if (v == NULL) {
                ngx_log_error(NGX_LOG_ALERT, log, 0,
                              "apigw: bad store record \"%s\": %s",
                              c[i].key, je.text);
            }
        }

        if (v || c[i].text == NULL) {
            ngx_http_apigw_local_set(c[i].key, v);
        }

        free(c[i].key);
        free(c[i].text);
    }

    free(c);

    apigw_store_set_version(ngx_http_apigw_local, version);

    return NGX_OK;

failed:

    ngx_shmtx_unlock(&ngx_http_apigw_shpool->mutex);

failed_copied:

    for (i = 0; i < n; i++) {
        free(c[i].key);
        free(c[i].text);
    }

    free(c);

    return NGX_ERROR;
}


/* the texts and the journal line made here: the thread gets no jansson value */

ngx_uint_t
ngx_http_apigw_store_writable(void)
{
    return ngx_http_apigw_journal_fd != NGX_INVALID_FILE
           && !ngx_http_apigw_store_write_failed;
}


ngx_int_t
ngx_http_apigw_store_commit(apigw_muts_t *muts, uint64_t base,
    ngx_http_apigw_store_done_pt handler, void *data, ngx_log_t *log)
{
    size_t                    i;
    ngx_http_apigw_commit_t  *c;

    if (ngx_http_apigw_journal_fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "apigw: the store journal is not writable");
        return NGX_ERROR;
    }

    c = ngx_calloc(sizeof(ngx_http_apigw_commit_t), log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->log = log;
    c->handler = handler;
    c->data = data;
    c->base = base;
    c->n = muts->n;

    c->keys = ngx_calloc(muts->n * sizeof(char *), log);
    c->texts = ngx_calloc(muts->n * sizeof(char *), log);
    c->values = ngx_calloc(muts->n * sizeof(json_t *), log);
    c->room = ngx_calloc(muts->n * sizeof(u_char *), log);
    c->nodes = ngx_calloc(muts->n * sizeof(void *), log);

    if (c->keys == NULL || c->texts == NULL || c->values == NULL
        || c->room == NULL || c->nodes == NULL)
    {
        goto failed;
    }

    for (i = 0; i < muts->n; i++) {
        c->keys[i] = strdup(muts->items[i].key);
        if (c->keys[i] == NULL) {
            goto failed;
        }

        if (muts->items[i].value == NULL) {
            continue;
        }

        c->values[i] = json_incref(muts->items[i].value);
        c->texts[i] = json_dumps(muts->items[i].value, JSON_COMPACT);
        if (c->texts[i] == NULL) {
            goto failed;
        }
    }

    c->line = apigw_muts_journal(muts, base + 1);
    if (c->line == NULL) {
        goto failed;
    }

    c->line_len = ngx_strlen(c->line);
    c->line[c->line_len++] = '\n';          /* replaces the NUL */

    c->done.handler = ngx_http_apigw_commit_done;
    c->done.data = c;
    c->done.log = log;

#if (NGX_THREADS)
    c->task.ctx = c;
    c->task.handler = ngx_http_apigw_commit_thread;
    c->task.event.handler = ngx_http_apigw_commit_done;
    c->task.event.data = c;
    c->task.event.log = log;

    if (ngx_http_apigw_thread_post(&c->task, log) != NGX_OK) {
        goto failed;
    }

#else

    /* nginx built without threads: here, answered from the event loop */

    ngx_http_apigw_commit_write(c);
    ngx_post_event(&c->done, &ngx_posted_events);

#endif

    return NGX_OK;

failed:

    ngx_http_apigw_commit_free(c);

    return NGX_ERROR;
}


#if (NGX_THREADS)

static void
ngx_http_apigw_commit_thread(void *data, ngx_log_t *log)
{
    ngx_http_apigw_commit_write(data);
}

#endif


/* under the zone's mutex */
static void
ngx_http_apigw_prune(ngx_http_apigw_shm_t *sh, ngx_slab_pool_t *shpool)
{
    ngx_queue_t           *q, *next;
    ngx_http_apigw_rec_t  *rec;

    for (q = ngx_queue_head(&sh->queue);
         q != ngx_queue_sentinel(&sh->queue);
         q = next)
    {
        next = ngx_queue_next(q);
        rec = ngx_queue_data(q, ngx_http_apigw_rec_t, queue);

        if (rec->text) {
            continue;
        }

        ngx_queue_remove(&rec->queue);
        ngx_rbtree_delete(&sh->rbtree, &rec->node);
        ngx_slab_free_locked(shpool, rec);
    }

    sh->tombstones = 0;
    sh->pruned = sh->version;
}


/* the zone's memory for a write's records, or NGX_ERROR: it is full */
static ngx_int_t
ngx_http_apigw_reserve(ngx_http_apigw_commit_t *c)
{
    size_t                 i, klen;
    ngx_uint_t             again;
    ngx_slab_pool_t       *shpool;
    ngx_http_apigw_shm_t  *sh;

    sh = ngx_http_apigw_sh;
    shpool = ngx_http_apigw_shpool;
    again = 1;

    ngx_shmtx_lock(&shpool->mutex);

    /* the writer before (this one has the turn now) died mid-write */
    ngx_http_apigw_pend_free(sh, shpool);

retry:

    sh->pend = ngx_slab_calloc_locked(shpool, 2 * c->n * sizeof(void *));
    if (sh->pend == NULL) {
        goto full;
    }

    sh->npend = 2 * c->n;

    for (i = 0; i < c->n; i++) {
        klen = ngx_strlen(c->keys[i]);

        if (c->texts[i]) {
            c->room[i] = ngx_slab_alloc_locked(shpool,
                                               ngx_strlen(c->texts[i]) + 1);
            if (c->room[i] == NULL) {
                goto full;
            }

            sh->pend[i] = c->room[i];
        }

        if (ngx_http_apigw_rec_lookup(sh, (u_char *) c->keys[i], klen,
                                      ngx_crc32_short((u_char *) c->keys[i],
                                                      klen))
            == NULL)
        {
            c->nodes[i] = ngx_slab_alloc_locked(shpool,
                                           sizeof(ngx_http_apigw_rec_t)
                                           + klen);
            if (c->nodes[i] == NULL) {
                goto full;
            }

            sh->pend[c->n + i] = c->nodes[i];
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;

full:

    ngx_http_apigw_pend_free(sh, shpool);

    for (i = 0; i < c->n; i++) {
        c->room[i] = NULL;
        c->nodes[i] = NULL;
    }

    /* deleted records may hold the room: they go (workers read all) */
    if (again && sh->tombstones) {
        again = 0;
        ngx_http_apigw_prune(sh, shpool);
        goto retry;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_ERROR;
}


/* under the zone's mutex: what the writer in turn reserved, unused */
static void
ngx_http_apigw_pend_free(ngx_http_apigw_shm_t *sh, ngx_slab_pool_t *shpool)
{
    size_t  i;

    if (sh->pend == NULL) {
        return;
    }

    for (i = 0; i < sh->npend; i++) {
        if (sh->pend[i]) {
            ngx_slab_free_locked(shpool, sh->pend[i]);
        }
    }

    ngx_slab_free_locked(shpool, sh->pend);
    sh->pend = NULL;
    sh->npend = 0;
}


static void
ngx_http_apigw_unreserve(ngx_http_apigw_commit_t *c)
{
    size_t  i;

    ngx_shmtx_lock(&ngx_http_apigw_shpool->mutex);

    ngx_http_apigw_pend_free(ngx_http_apigw_sh, ngx_http_apigw_shpool);

    for (i = 0; i < c->n; i++) {
        c->room[i] = NULL;
        c->nodes[i] = NULL;
    }

    ngx_shmtx_unlock(&ngx_http_apigw_shpool->mutex);
}


/*
 * In a thread: no nginx log (the request's is the event loop's), no
 * jansson value of the worker's; shared memory under its locks only.
 */

static void
ngx_http_apigw_commit_write(ngx_http_apigw_commit_t *c)
{
    off_t                  size;
    char                  *snap;
    size_t                 i, len;
    ssize_t                w;
    uint64_t               version;
    ngx_int_t              rc;
    ngx_queue_t           *q;
    struct stat            sb;
    apigw_snap_t           sn;
    ngx_http_apigw_rec_t  *rec;
    ngx_http_apigw_shm_t  *sh;

    sh = ngx_http_apigw_sh;

    ngx_http_apigw_writer_lock();

    ngx_shmtx_lock(&ngx_http_apigw_shpool->mutex);
    version = sh->version;
    size = sh->journal_size;
    ngx_shmtx_unlock(&ngx_http_apigw_shpool->mutex);

    if (version != c->base) {
        c->rc = NGX_DECLINED;
        goto done;
    }

    /*
     * a writer that died between its write and the zone's update left a
     * line that was never acknowledged nor applied: it goes, or a restart
     * would take it for the version this write is about to be
     */
    if (fstat(ngx_http_apigw_journal_fd, &sb) == 0 && sb.st_size > size) {
        if (ftruncate(ngx_http_apigw_journal_fd, size) == -1) {
            c->err = ngx_errno;
            c->failed = "cutting an unfinished write off the store journal";
            c->file = &ngx_http_apigw_amcf->journal;
            c->rc = NGX_ERROR;
            goto done;
        }

        c->dropped = sb.st_size - size;
    }

    /*
     * room in the zone first: a write that does not fit is refused, not
     * journaled, acknowledged and then seen by this worker only
     */
    if (ngx_http_apigw_reserve(c) != NGX_OK) {
        c->failed = "storing a write (the zone is full: raise zone_size= "
                    "of apigw_store)";
        c->file = &ngx_http_apigw_amcf->journal;
        c->refused = 1;
        c->rc = NGX_ERROR;
        goto done;
    }

    w = write(ngx_http_apigw_journal_fd, c->line, c->line_len);

    if (w != (ssize_t) c->line_len || fsync(ngx_http_apigw_journal_fd) == -1)
    {
        /* a short write sets no errno: on a file, the disk is full */
        c->err = (w == -1 || w == (ssize_t) c->line_len) ? ngx_errno
                                                         : NGX_ENOSPC;
        ngx_http_apigw_unreserve(c);
        c->failed = "writing the store journal";
        c->file = &ngx_http_apigw_amcf->journal;
        c->rc = NGX_ERROR;

        /* cut a partial line so that the journal stays readable */
        if (w > 0 && ftruncate(ngx_http_apigw_journal_fd, size) == -1) {
            c->err = ngx_errno;
            c->failed = "cutting a partial line off the store journal";
            c->file = &ngx_http_apigw_amcf->journal;
        }

        goto done;
    }

    /* durable: now visible */

    snap = NULL;
    len = 0;

    ngx_shmtx_lock(&ngx_http_apigw_shpool->mutex);

    sh->journal_size += c->line_len;

    for (i = 0; i < c->n; i++) {
        rc = ngx_http_apigw_rec_set(sh, ngx_http_apigw_shpool, c->keys[i],
                                    (u_char *) c->texts[i],
                                    c->texts[i] ? ngx_strlen(c->texts[i])
                                                : 0,
                                    c->base + 1, c->room[i], c->nodes[i]);
        c->room[i] = NULL;
        c->nodes[i] = NULL;

        if (sh->pend) {
            sh->pend[i] = NULL;
            sh->pend[c->n + i] = NULL;
        }

        if (rc != NGX_OK) {
            /*
             * the journal has it, so a restart has it; the workers see
             * the part that fitted, and the zone is no longer a whole
             * snapshot
             */
            sh->full = 1;
            c->full = 1;
        }
    }

    ngx_http_apigw_pend_free(sh, ngx_http_apigw_shpool);

    sh->version = c->base + 1;

    /*
     * Deleted records are kept so that every worker learns of the
     * deletion; once there are more of them than records (and at least a
     * thousand) they go, and a worker that had not seen them reads every
     * record instead (ngx_http_apigw_store_sync())
     */
    if (sh->tombstones > 1024 && sh->tombstones > sh->records) {
        ngx_http_apigw_prune(sh, ngx_http_apigw_shpool);
    }

    if (!sh->full
        && sh->journal_size > 1024 * 1024
        && sh->journal_size > sh->snapshot_size)
    {
        apigw_snap_init(&sn, sh->version);

        for (q = ngx_queue_head(&sh->queue);
             q != ngx_queue_sentinel(&sh->queue);
             q = ngx_queue_next(q))
        {
            rec = ngx_queue_data(q, ngx_http_apigw_rec_t, queue);

            if (rec->text) {
                apigw_snap_add(&sn, (char *) rec->key, rec->key_len,
                               (char *) rec->text, rec->text_len);
            }
        }

        snap = apigw_snap_end(&sn, &len);

        if (snap == NULL) {
            c->failed = "folding the journal into a snapshot (no memory)";
            c->file = &ngx_http_apigw_amcf->journal;
        }
    }

    ngx_shmtx_unlock(&ngx_http_apigw_shpool->mutex);

    c->rc = NGX_OK;

    if (snap) {
        ngx_http_apigw_compact(c, snap, len);
        free(snap);
    }

done:

    ngx_shmtx_unlock(&sh->writer);
}


/*
 * Writers of all workers take turns; a worker that died holding the turn
 * (the master frees only the zone's own lock) loses it.
 */

static void
ngx_http_apigw_writer_lock(void)
{
    ngx_pid_t    pid;
    ngx_uint_t   i;
    ngx_shmtx_t  *mtx;

    mtx = &ngx_http_apigw_sh->writer;

    for (i = 1; !ngx_shmtx_trylock(mtx); i++) {

        if (i % 1000 == 0) {
            pid = (ngx_pid_t) *mtx->lock;

            if (pid && kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
                (void) ngx_shmtx_force_unlock(mtx, pid);
            }
        }

        ngx_msleep(1);
    }
}


/* with the writers' turn: the snapshot = the zone's records */
static void
ngx_http_apigw_compact(ngx_http_apigw_commit_t *c, char *text, size_t len)
{
    int         fd;
    char        tmp[NGX_MAX_PATH];
    ssize_t     w;
    ngx_str_t  *path;

    path = &ngx_http_apigw_amcf->path;

    ngx_snprintf((u_char *) tmp, sizeof(tmp), "%V.tmp%Z", path);

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1) {
        c->err = ngx_errno;
        c->failed = "creating the new store snapshot";
        c->file = &ngx_http_apigw_amcf->path;
        return;
    }

    w = write(fd, text, len);

    if (w != (ssize_t) len || fsync(fd) == -1) {
        c->err = ngx_errno;
        c->failed = "writing the new store snapshot";
        c->file = &ngx_http_apigw_amcf->path;
        close(fd);
        unlink(tmp);
        return;
    }

    close(fd);

    if (rename(tmp, (char *) path->data) == -1) {
        c->err = ngx_errno;
        c->failed = "renaming the new store snapshot";
        c->file = &ngx_http_apigw_amcf->path;
        unlink(tmp);
        return;
    }

    /* the snapshot has it all: the journal starts over */
    if (ftruncate(ngx_http_apigw_journal_fd, 0) == -1
        || fsync(ngx_http_apigw_journal_fd) == -1)
    {
        c->err = ngx_errno;
        c->failed = "truncating the store journal";
        c->file = &ngx_http_apigw_amcf->journal;
        return;
    }

    ngx_shmtx_lock(&ngx_http_apigw_shpool->mutex);
    ngx_http_apigw_sh->snapshot_size = len;
    ngx_http_apigw_sh->journal_size = 0;
    ngx_shmtx_unlock(&ngx_http_apigw_shpool->mutex);
}


static void
ngx_http_apigw_commit_done(ngx_event_t *ev)
{
    ngx_http_apigw_commit_t *c = ev->data;

    size_t  i;

    if (c->failed) {
        ngx_log_error(NGX_LOG_ERR, c->log, c->err, "apigw: %s \"%V\" failed",
                      c->failed, c->file);
    }

    /*
     * /health tells what the last write found on the disk: a write that
     * lost the race to another worker, or found no room in the zone, says
     * nothing about it
     */
    if (c->rc != NGX_DECLINED && !c->refused) {
        ngx_http_apigw_store_write_failed = (c->rc != NGX_OK);
    }

    if (c->dropped) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "apigw: dropped %O bytes of an unfinished write (a "
                      "worker that died) off the store journal \"%V\"",
                      c->dropped, &ngx_http_apigw_amcf->journal);
    }

    if (c->full) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "apigw: the store zone is full; raise zone_size= of "
                      "apigw_store and restart");
    }

    if (c->rc == NGX_OK) {

        /* unless this worker's timer has copied it from the zone already */

        if (apigw_store_version(ngx_http_apigw_local) == c->base) {
            for (i = 0; i < c->n; i++) {
                ngx_http_apigw_local_set(c->keys[i], c->values[i]);
                c->values[i] = NULL;
            }

            apigw_store_set_version(ngx_http_apigw_local, c->base + 1);
        }

        /* this worker serves the change at once */
        ngx_http_apigw_dyn_refresh(c->log);
    }

    /* NGX_ABORT: refused, the zone is full */
    c->handler(c->data, c->refused ? NGX_ABORT : c->rc);

    ngx_http_apigw_commit_free(c);
}


static void
ngx_http_apigw_commit_free(ngx_http_apigw_commit_t *c)
{
    size_t  i;

    for (i = 0; i < c->n; i++) {
        if (c->keys) {
            free(c->keys[i]);
        }

        if (c->texts) {
            free(c->texts[i]);
        }

        if (c->values) {
            json_decref(c->values[i]);
        }
    }

    ngx_free(c->keys);
    ngx_free(c->texts);

    if (c->room) {
        ngx_free(c->room);
    }

    if (c->nodes) {
        ngx_free(c->nodes);
    }
    ngx_free(c->values);
    free(c->line);
    ngx_free(c);
}


/* ---- compiled dynamic APIs ---- */

static ngx_int_t
ngx_http_apigw_dyn_addrs(ngx_pool_t *pool, json_t *rec,
    apigw_operation_t *op, ngx_http_apigw_op_t *opx)
{
    u_char           buf[600];
    size_t           i, n;
    json_t          *list, *a;
    ngx_addr_t      *addrs;
    const apigw_backend_t  *b;

    b = &op->backend;

    addrs = ngx_pcalloc(pool, sizeof(ngx_addr_t));
    if (addrs == NULL) {
        return NGX_ERROR;
    }

    if (ngx_parse_addr(pool, addrs, (u_char *) b->host,
                       ngx_strlen(b->host))
        == NGX_OK)
    {
        ngx_inet_set_port(addrs->sockaddr, (in_port_t) b->port);
        opx->addrs = addrs;
        opx->naddrs = 1;
        goto name;
    }

    /*
     * a host name: the addresses this worker looked up last, else those
     * looked up when the API was written
     */

    list = ngx_http_apigw_resolve_get(b->host);

    if (list == NULL) {
        n = ngx_snprintf(buf, sizeof(buf) - 1, "%s|%d", b->host, b->port)
            - buf;
        buf[n] = '\0';

        list = json_object_get(json_object_get(rec, "resolved"),
                               (char *) buf);
    }

    n = json_array_size(list);

    if (n == 0) {
        return NGX_DECLINED;
    }

    addrs = ngx_pcalloc(pool, n * sizeof(ngx_addr_t));
    if (addrs == NULL) {
        return NGX_ERROR;
    }

    opx->naddrs = 0;

    json_array_foreach(list, i, a) {
        if (!json_is_string(a)
            || ngx_parse_addr(pool, &addrs[opx->naddrs],
                              (u_char *) json_string_value(a),
                              json_string_length(a))
               != NGX_OK)
        {
            continue;
        }

        ngx_inet_set_port(addrs[opx->naddrs].sockaddr, (in_port_t) b->port);
        opx->naddrs++;
    }

    if (opx->naddrs == 0) {
        return NGX_DECLINED;
    }

    opx->addrs = addrs;

name:

    /* the peer's name in logs */
    for (i = 0; i < opx->naddrs; i++) {
        opx->addrs[i].name.data = (u_char *) b->authority;
        opx->addrs[i].name.len = ngx_strlen(b->authority);
    }

    return NGX_OK;
}


static ngx_http_apigw_dyn_api_t *
ngx_http_apigw_dyn_api_create(ngx_log_t *log, const char *id, json_t *rec)
{
    u_char                     *p;
    char                       *text, buf[512];
    size_t                      i, len;
    ngx_int_t                   rc;
    const char                 *tenant, *title;
    apigw_api_t                *api;
    apigw_operation_t          *op;
    apigw_problems_t            probs;
    ngx_http_apigw_op_t        *opx;
    apigw_import_opts_t         opts;
    ngx_http_apigw_dyn_api_t   *d;

    tenant = json_string_value(json_object_get(rec, "tenant"));
    if (tenant == NULL) {
        return NULL;
    }

    text = json_dumps(json_object_get(rec, "doc"), JSON_COMPACT);
    if (text == NULL) {
        return NULL;
    }

    ngx_memzero(&opts, sizeof(apigw_import_opts_t));
    opts.file = id;
    opts.max_size = ngx_strlen(text) + 1;

    if (ngx_http_apigw_amcf->openwhisk_url.len) {
        opts.openwhisk_url = (char *) ngx_http_apigw_amcf->openwhisk_url.data;
    }

    apigw_problems_init(&probs);
    api = apigw_import_buffer(text, ngx_strlen(text), &opts, &probs);
    free(text);

    if (api == NULL) {
        for (i = 0; i < probs.n; i++) {
            len = apigw_problem_format(&probs.items[i], buf, sizeof(buf));
            ngx_log_error(NGX_LOG_ERR, log, 0, "apigw: stored API %*s",
                          ngx_min(len, sizeof(buf) - 1), buf);
        }

        apigw_problems_free(&probs);
        return NULL;
    }

    apigw_problems_free(&probs);

    d = ngx_calloc(sizeof(ngx_http_apigw_dyn_api_t), log);
    if (d == NULL) {
        apigw_api_free(api);
        return NULL;
    }

    /* the pool outlives the request that may have compiled it */
    d->pool = ngx_create_pool(1024, ngx_cycle->log);
    d->id = strdup(id);
    d->tenant = strdup(tenant);
    d->api = api;
    d->refs = 1;

    if (d->pool == NULL || d->id == NULL || d->tenant == NULL) {
        goto failed;
    }

    title = api->title && api->title[0] ? api->title
                                        : (api->base_path[0]
                                           ? api->base_path : "/");

    for (i = 0; i < api->nops; i++) {
        op = &api->ops[i];
        op->ext = NULL;

        if (op->backend.url == NULL) {
            continue;
        }

        opx = ngx_pcalloc(d->pool, sizeof(ngx_http_apigw_op_t));
        if (opx == NULL) {
            goto failed;
        }

        opx->pool = d->pool;

        rc = ngx_http_apigw_dyn_addrs(d->pool, rec, op, opx);

        if (rc == NGX_ERROR) {
            goto failed;
        }

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "apigw: stored API %s: %s: backend host \"%s\" "
                          "has no address; the operation answers 501",
                          id, op->pointer, op->backend.host);
            continue;
        }

        opx->https = (ngx_strcmp(op->backend.scheme, "https") == 0);

        opx->host.data = (u_char *) op->backend.authority;
        opx->host.len = ngx_strlen(op->backend.authority);
        opx->sni.data = (u_char *) op->backend.host;
        opx->sni.len = ngx_strlen(op->backend.host);

        if (op->backend.method) {
            opx->method.data = (u_char *) op->backend.method;
            opx->method.len = ngx_strlen(op->backend.method);
        }

        opx->api_name.data = (u_char *) title;
        opx->api_name.len = ngx_strlen(title);

        if (op->operation_id) {
            opx->op_name.data = (u_char *) op->operation_id;
            opx->op_name.len = ngx_strlen(op->operation_id);

        } else {
            len = ngx_strlen(op->path) + 10;
            p = ngx_pnalloc(d->pool, len);
            if (p == NULL) {
                goto failed;
            }

            opx->op_name.data = p;
            opx->op_name.len = ngx_snprintf(p, len, "%s %s",
                                            apigw_method_name(op->method),
                                            op->path)
                               - p;
        }

        /* API keys and subscriptions name the artifact id */
        opx->key_tenant = d->tenant;
        opx->key_api = d->id;

        op->ext = opx;
    }

    return d;

failed:

    ngx_http_apigw_dyn_api_release(d);
    return NULL;
}


static void
ngx_http_apigw_dyn_api_release(ngx_http_apigw_dyn_api_t *d)
{
    if (--d->refs) {
        return;
    }

    apigw_api_free(d->api);

    if (d->pool) {
        ngx_destroy_pool(d->pool);
    }

    free(d->id);
    free(d->tenant);
    ngx_free(d);
}


static void
ngx_http_apigw_dyn_gen_release(void *data)
{
    ngx_http_apigw_dyn_gen_t *g = data;

    ngx_uint_t  i;

    if (--g->refs) {
        return;
    }

    apigw_router_free(g->router);

    for (i = 0; i < g->napis; i++) {
        ngx_http_apigw_dyn_api_release(g->apis[i]);
    }

    ngx_free(g->apis);
    ngx_free(g);
}


static void
ngx_http_apigw_dyn_tenant(ngx_log_t *log, const char *tenant)
{
    char                       buf[512];
    size_t                     i, n, len;
    json_t                    *apis, *v, *old;
    const char                *k;
    apigw_problems_t           probs;
    ngx_http_apigw_dyn_gen_t  *g;
    ngx_http_apigw_dyn_api_t  *d;

    apis = json_object_get(ngx_http_apigw_dyn_by_tenant, tenant);
    n = json_object_size(apis);

    old = json_object_get(ngx_http_apigw_dyn_tenants, tenant);

    g = NULL;

    if (n) {
        g = ngx_calloc(sizeof(ngx_http_apigw_dyn_gen_t), log);
        if (g == NULL) {
            return;
        }

        g->refs = 1;
        g->router = apigw_router_create();
        g->apis = ngx_alloc(n * sizeof(ngx_http_apigw_dyn_api_t *), log);

        if (g->router == NULL || g->apis == NULL) {
            ngx_http_apigw_dyn_gen_release(g);
            return;
        }

        apigw_problems_init(&probs);

        json_object_foreach(apis, k, v) {
            d = ngx_http_apigw_ptr(v);

            /* an API whose routes collide with another's is left out */
            if (apigw_router_add(g->router, d->api, &probs) != 0) {
                for (i = 0; i < probs.n; i++) {
                    len = apigw_problem_format(&probs.items[i], buf,
                                               sizeof(buf));
                    ngx_log_error(NGX_LOG_WARN, log, 0, "apigw: tenant "
                                  "\"%s\": API %s: %*s", tenant, d->id,
                                  ngx_min(len, sizeof(buf) - 1), buf);
                }

                apigw_problems_free(&probs);
                apigw_problems_init(&probs);
            }

            d->refs++;
            g->apis[g->napis++] = d;
        }

        apigw_problems_free(&probs);
    }

    if (old) {
        ngx_http_apigw_dyn_gen_release(ngx_http_apigw_ptr(old));
    }

    if (g) {
        (void) json_object_set_new(ngx_http_apigw_dyn_tenants, tenant,
                                   ngx_http_apigw_jptr(g));
    } else {
        json_object_del(ngx_http_apigw_dyn_tenants, tenant);
    }
}


/* applies the pending API changes: new routers for the tenants touched */
static void
ngx_http_apigw_dyn_compile(ngx_log_t *log)
{
    char                       key[512];
    json_t                    *dirty, *v, *rec, *set, *tmp;
    const char                *id, *t;
    ngx_uint_t                 i;
    ngx_http_apigw_change_t   *ch;
    ngx_http_apigw_dyn_api_t  *d, *old;

    if (ngx_http_apigw_changed && ngx_http_apigw_changes) {
        ch = ngx_http_apigw_changes->elts;
        for (i = 0; i < ngx_http_apigw_changes->nelts; i++) {
            ch[i].handler(ngx_http_apigw_local, ch[i].data);
        }
    }

    ngx_http_apigw_changed = 0;

    if (json_object_size(ngx_http_apigw_pending) == 0) {
        return;
    }

    dirty = json_object();
    if (dirty == NULL) {
        return;
    }

    json_object_foreach_safe(ngx_http_apigw_pending, tmp, id, v) {
        old = NULL;
        v = json_object_get(ngx_http_apigw_dyn_apis, id);

        if (v) {
            old = ngx_http_apigw_ptr(v);
            json_object_set_new(dirty, old->tenant, json_true());
            json_object_del(json_object_get(ngx_http_apigw_dyn_by_tenant,
                                            old->tenant), id);
            json_object_del(ngx_http_apigw_dyn_apis, id);
        }

        ngx_snprintf((u_char *) key, sizeof(key) - 1, "api:%s%Z", id);
        rec = apigw_store_get(ngx_http_apigw_local, key);

        d = rec ? ngx_http_apigw_dyn_api_create(log, id, rec) : NULL;

        if (d) {
            t = d->tenant;
            json_object_set_new(dirty, t, json_true());
            json_object_set_new(ngx_http_apigw_dyn_apis, id,
                                ngx_http_apigw_jptr(d));

            set = json_object_get(ngx_http_apigw_dyn_by_tenant, t);
            if (set == NULL) {
                set = json_object();
                json_object_set_new(ngx_http_apigw_dyn_by_tenant, t, set);
            }

            json_object_set_new(set, id, ngx_http_apigw_jptr(d));
        }

        if (old) {
            ngx_http_apigw_dyn_api_release(old);
        }

        json_object_del(ngx_http_apigw_pending, id);
    }

    json_object_foreach(dirty, t, v) {
        ngx_http_apigw_dyn_tenant(log, t);
    }

    json_decref(dirty);
}


ngx_int_t
ngx_http_apigw_dyn_match(ngx_http_request_t *r, apigw_method_e method,
    const apigw_path_t *path, apigw_match_t *m, size_t *first)
{
    json_t                    *v;
    apigw_match_t              tm;
    ngx_pool_cleanup_t        *cln;
    ngx_http_apigw_ctx_t      *ctx;
    ngx_http_apigw_dyn_gen_t  *g;

    /*
     * /api/v1/... are OpenWhisk's URLs (web actions and the bindings that
     * secure them): never a tenant's, even one a store kept from before
     * the management API refused the name
     */
    if (ngx_http_apigw_dyn_tenants == NULL
        || path->n < 2 || path->len[0] != 3
        || ngx_strncmp(path->seg[0], "api", 3) != 0
        || (path->len[1] == 2 && ngx_strncmp(path->seg[1], "v1", 2) == 0))
    {
        return NGX_DECLINED;
    }

    v = json_object_getn(ngx_http_apigw_dyn_tenants, path->seg[1],
                         path->len[1]);
    if (v == NULL) {
        return NGX_DECLINED;
    }

    g = ngx_http_apigw_ptr(v);

    apigw_router_match(g->router, method, path, 2, &tm);

    if (tm.status == 404) {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    /* the compiled API outlives a reconfiguration until the request ends */
    g->refs++;
    cln->handler = ngx_http_apigw_dyn_gen_release;
    cln->data = g;

    *m = tm;
    *first = 2;

    ctx = ngx_http_apigw_get_ctx(r);
    if (ctx) {
        ctx->tenant.data = (u_char *) path->seg[1];
        ctx->tenant.len = path->len[1];
    }

    return NGX_OK;
}


/*
 * Addresses of the backend hosts of an API record that are names, stored
 * in the record as "resolved" so that every worker and node compiles it
 * without DNS.  The admin handler looks the names up off the event loop
 * and passes what it knows in `known` (name: [address, ...], [] for no
 * such name, null for a failed lookup); NGX_AGAIN with `name` set asks
 * for one more.  NGX_DECLINED: no such name, NGX_BUSY: the lookup failed;
 * `err` says which host.
 */

ngx_int_t
ngx_http_apigw_resolve_hosts(ngx_http_request_t *r, json_t *rec,
    json_t *known, ngx_str_t *name, ngx_str_t *err)
{
    u_char      *bar;
    size_t       i, len;
    json_t      *hosts, *h, *res, *list;
    ngx_int_t    rc;

    hosts = json_object_get(rec, "hosts");
    res = NULL;

    json_array_foreach(hosts, i, h) {
        if (!json_is_string(h)) {
            continue;
        }

        bar = (u_char *) strrchr(json_string_value(h), '|');
        if (bar == NULL) {
            continue;
        }

        len = bar - (u_char *) json_string_value(h);

        if (ngx_http_apigw_host_is_addr((u_char *) json_string_value(h),
                                        len))
        {
            continue;
        }

        list = known ? json_object_getn(known, json_string_value(h), len)
                     : NULL;

        if (list == NULL) {
            name->data = (u_char *) json_string_value(h);
            name->len = len;
            json_decref(res);
            return NGX_AGAIN;
        }

        if (json_array_size(list) == 0) {
            rc = json_is_array(list) ? NGX_DECLINED : NGX_BUSY;

            err->data = ngx_pnalloc(r->pool, len + 64);
            if (err->data == NULL) {
                json_decref(res);
                return NGX_ERROR;
            }

            err->len = ngx_sprintf(err->data,
                                   rc == NGX_DECLINED
                                   ? "Backend host \"%*s\" not found."
                                   : "Backend host \"%*s\" could not be "
                                     "looked up.",
                                   len, json_string_value(h))
                       - err->data;
            json_decref(res);
            return rc;
        }

        if (res == NULL) {
            res = json_object();
            if (res == NULL) {
                return NGX_ERROR;
            }
        }

        if (json_object_set(res, json_string_value(h), list) != 0) {
            json_decref(res);
            return NGX_ERROR;
        }
    }

    if (res) {
        json_object_set_new(rec, "resolved", res);
    }

    return NGX_OK;
}


/*
 * A path matched against one tenant's dynamic APIs from segment `start`
 * (0 on the tenant's custom domain); as ngx_http_apigw_dyn_match().
 */

ngx_int_t
ngx_http_apigw_dyn_match_tenant(ngx_http_request_t *r, const char *tenant,
    size_t len, apigw_method_e method, const apigw_path_t *path,
    size_t start, apigw_match_t *m)
{
    json_t                    *v;
    apigw_match_t              tm;
    ngx_pool_cleanup_t        *cln;
    ngx_http_apigw_dyn_gen_t  *g;

    if (ngx_http_apigw_dyn_tenants == NULL) {
        return NGX_DECLINED;
    }

    v = json_object_getn(ngx_http_apigw_dyn_tenants, tenant, len);
    if (v == NULL) {
        return NGX_DECLINED;
    }

    g = ngx_http_apigw_ptr(v);

    apigw_router_match(g->router, method, path, start, &tm);

    if (tm.status == 404) {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    g->refs++;
    cln->handler = ngx_http_apigw_dyn_gen_release;
    cln->data = g;

    *m = tm;

    return NGX_OK;
}
