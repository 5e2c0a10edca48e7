/*
 * apigw Redis store: many nodes share one Redis.
 *
 * Key schema (all under "apigw:"):
 *
 *     apigw:version    string   the store's version; INCR'ed by every commit
 *     apigw:records    hash     record key (src/store.h) -> JSON text
 *     apigw:changes    zset     key of every record, scored by the version
 *                               of its last change
 *     apigw:deleted    zset     key of a deleted record, scored by the
 *                               version that deleted it, so that every node
 *                               learns of the deletion; those older than
 *                               NGX_HTTP_APIGW_RS_KEEP versions are dropped
 *     apigw:pruned     string   the version up to which they were dropped
 *     apigw:events     channel  PUBLISHed the new version on every commit
 *
 * A write: WATCH apigw:version, GET it; when it is the version the request
 * was answered against, MULTI, HSET/HDEL apigw:records, ZADD/ZREM
 * apigw:changes and apigw:deleted, drop the old deletions, SET
 * apigw:version, PUBLISH, EXEC.  Another writer in between makes EXEC fail
 * (or the version differ): the worker brings its copy up to date and the
 * request is answered again, so two writes never mix.  Writes of one
 * worker go one at a time (WATCH is per connection).
 *
 * Every worker subscribes to apigw:events and, on a message or a
 * (re)connection, reads what changed since its version (ZRANGEBYSCORE of
 * both sets, then HMGET apigw:records), then compiles the changed APIs off
 * the request path.  A worker further behind than apigw:pruned (away while
 * more than NGX_HTTP_APIGW_RS_KEEP writes were made) cannot learn every
 * deletion that way: it reads all the records instead and drops what it
 * holds beyond them.  The data plane never reads Redis: while Redis is
 * down it serves the last configuration and writes answer 503; the adapter
 * reconnects by itself and the worker resynchronises.
 */

#include "ngx_http_apigw_store.h"


#define NGX_HTTP_APIGW_RS_TIMEOUT  5000

/* versions of deletions kept: a node further behind reads everything */
#define NGX_HTTP_APIGW_RS_KEEP     1000


typedef struct ngx_http_apigw_rs_job_s  ngx_http_apigw_rs_job_t;

struct ngx_http_apigw_rs_job_s {
    ngx_http_apigw_rs_job_t        *next;
    apigw_muts_t                   *muts;
    uint64_t                        base;
    ngx_http_apigw_store_done_pt    done;
    void                           *data;
};


static void ngx_http_apigw_rs_state(ngx_http_apigw_redis_t *rd,
    ngx_uint_t up, void *data);
static void ngx_http_apigw_rs_message(ngx_str_t *channel,
    ngx_str_t *message, void *data);
static void ngx_http_apigw_rs_sync(void);
static void ngx_http_apigw_rs_sync_start(void);
static void ngx_http_apigw_rs_changes(redisReply *reply, void *data);
static void ngx_http_apigw_rs_values(redisReply *reply, void *data);
static void ngx_http_apigw_rs_synced(void);
static ngx_int_t ngx_http_apigw_rs_drop_rest(void);
static int ngx_http_apigw_rs_rest(const char *key, json_t *value,
    void *data);
static void ngx_http_apigw_rs_sync_done(ngx_int_t ok);
static void ngx_http_apigw_rs_next(void);
static void ngx_http_apigw_rs_version(redisReply *reply, void *data);
static size_t ngx_http_apigw_rs_args(const char **argv, size_t *lens, ...);
static size_t ngx_http_apigw_rs_keys_args(apigw_muts_t *m, ngx_uint_t set,
    const char *cmd, const char *zset, const char *score,
    const char **argv, size_t *lens);
static void ngx_http_apigw_rs_exec(redisReply *reply, void *data);
static void ngx_http_apigw_rs_finish(ngx_int_t rc);


static ngx_http_apigw_redis_t   *ngx_http_apigw_rs_cmd;
static ngx_http_apigw_redis_t   *ngx_http_apigw_rs_sub;
static ngx_log_t                *ngx_http_apigw_rs_log;

static ngx_uint_t                ngx_http_apigw_rs_syncing;
static ngx_uint_t                ngx_http_apigw_rs_resync;
static ngx_uint_t                ngx_http_apigw_rs_full;
static ngx_uint_t                ngx_http_apigw_rs_keep;   /* no drop */
static ngx_uint_t                ngx_http_apigw_rs_loaded;
/*
 * apigw:epoch: set (NX) by the first write to a Redis that has no store,
 * so a worker notices a FLUSHALL even once the versions have passed its
 * own again
 */
static u_char                    ngx_http_apigw_rs_epoch[33];
static u_char                    ngx_http_apigw_rs_mine[33];
static u_char                    ngx_http_apigw_rs_next_epoch[33];
static uint64_t                  ngx_http_apigw_rs_since;
static uint64_t                  ngx_http_apigw_rs_target;
static char                    **ngx_http_apigw_rs_keys;
static size_t                    ngx_http_apigw_rs_nkeys;

/* writes, one at a time; a conflicted one waits for the sync */
static ngx_http_apigw_rs_job_t  *ngx_http_apigw_rs_jobs;
static ngx_http_apigw_rs_job_t  *ngx_http_apigw_rs_active;
static ngx_uint_t                ngx_http_apigw_rs_conflict;

/* where the last failure was noticed, for the log */
static ngx_uint_t                ngx_http_apigw_rs_where;

static ngx_str_t  ngx_http_apigw_rs_channel = ngx_string("apigw:events");


ngx_int_t
ngx_http_apigw_rstore_init(ngx_cycle_t *cycle,
    ngx_http_apigw_admin_main_conf_t *amcf)
{
    ngx_http_apigw_rs_log = cycle->log;

    ngx_http_apigw_rs_cmd = ngx_http_apigw_redis_create(cycle, &amcf->redis,
                                                        "store");
    ngx_http_apigw_rs_sub = ngx_http_apigw_redis_create(cycle, &amcf->redis,
                                                        "store events");

    if (ngx_http_apigw_rs_cmd == NULL || ngx_http_apigw_rs_sub == NULL) {
        return NGX_ERROR;
    }

    ngx_http_apigw_redis_on_state(ngx_http_apigw_rs_cmd,
                                  ngx_http_apigw_rs_state, NULL);
    ngx_http_apigw_redis_on_state(ngx_http_apigw_rs_sub,
                                  ngx_http_apigw_rs_state, NULL);

    return ngx_http_apigw_redis_subscribe(ngx_http_apigw_rs_sub,
                                          &ngx_http_apigw_rs_channel,
                                          ngx_http_apigw_rs_message, NULL);
}


ngx_uint_t
ngx_http_apigw_rstore_loaded(void)
{
    return ngx_http_apigw_rs_loaded;
}


ngx_uint_t
ngx_http_apigw_rstore_ready(void)
{
    return ngx_http_apigw_rs_cmd
           && ngx_http_apigw_redis_ready(ngx_http_apigw_rs_cmd);
}


void
ngx_http_apigw_rstore_exit(void)
{
    if (ngx_http_apigw_rs_sub) {
        ngx_http_apigw_redis_destroy(ngx_http_apigw_rs_sub);
        ngx_http_apigw_rs_sub = NULL;
    }

    if (ngx_http_apigw_rs_cmd) {
        ngx_http_apigw_redis_destroy(ngx_http_apigw_rs_cmd);
        ngx_http_apigw_rs_cmd = NULL;
    }
}


/* either connection (re)established: what may have been missed is read */
static void
ngx_http_apigw_rs_state(ngx_http_apigw_redis_t *rd, ngx_uint_t up,
    void *data)
{
    if (up) {
        ngx_http_apigw_rs_sync();
    }
}


static void
ngx_http_apigw_rs_message(ngx_str_t *channel, ngx_str_t *message,
    void *data)
{
    ngx_int_t  v;

    v = ngx_atoi(message->data, message->len);

    /*
     * Our own write, or one read already.  Not any older version: after a
     * FLUSHALL the versions start again below ours, and those writes
     * must be read too (the sync notices that Redis went back in time).
     */
    if (v != NGX_ERROR
        && (uint64_t) v == apigw_store_version(
                               ngx_http_apigw_store_current()))
    {
        return;
    }

    ngx_http_apigw_rs_sync();
}


/* ---- reading changes ---- */

/*
 * One thing at a time on the command connection: a sync's MULTI/EXEC
 * inside a write's WATCH would end the WATCH, so a sync waits for the
 * write and a write for the sync.
 */

static void
ngx_http_apigw_rs_sync(void)
{
    if (ngx_http_apigw_rs_syncing || ngx_http_apigw_rs_active) {
        ngx_http_apigw_rs_resync = 1;
        return;
    }

    ngx_http_apigw_rs_sync_start();
}


static void
ngx_http_apigw_rs_sync_start(void)
{
    u_char         since[NGX_INT64_LEN + 2];
    size_t         slen, lens[5];
    const char    *argv[5];

    if (!ngx_http_apigw_redis_ready(ngx_http_apigw_rs_cmd)) {
        return;                 /* the "up" state handler comes back */
    }

    ngx_http_apigw_rs_syncing = 1;
    ngx_http_apigw_rs_resync = 0;
    ngx_http_apigw_rs_since = apigw_store_version(
                                  ngx_http_apigw_store_current());

    /*
     * MULTI: the version and the changes at that version, together; when
     * reading everything, all the records' keys
     */
    argv[0] = "MULTI";
    lens[0] = 5;

    if (ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd, NULL, NULL, 0,
                                     1, argv, lens)
        == NULL)
    {
        ngx_http_apigw_rs_where = 192;
        ngx_http_apigw_rs_sync_done(0);
        return;
    }

    argv[0] = "GET";
    lens[0] = 3;
    argv[1] = "apigw:version";
    lens[1] = sizeof("apigw:version") - 1;

    (void) ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd, NULL, NULL, 0,
                                        2, argv, lens);

    argv[1] = "apigw:pruned";
    lens[1] = sizeof("apigw:pruned") - 1;

    (void) ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd, NULL, NULL, 0,
                                        2, argv, lens);

    argv[1] = "apigw:epoch";
    lens[1] = sizeof("apigw:epoch") - 1;

    (void) ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd, NULL, NULL, 0,
                                        2, argv, lens);

    slen = ngx_sprintf(since, "(%uL", ngx_http_apigw_rs_since) - since;

    argv[0] = "ZRANGEBYSCORE";
    lens[0] = sizeof("ZRANGEBYSCORE") - 1;
    argv[1] = "apigw:changes";
    lens[1] = sizeof("apigw:changes") - 1;
    argv[2] = ngx_http_apigw_rs_full ? "-inf" : (char *) since;
    lens[2] = ngx_http_apigw_rs_full ? 4 : slen;
    argv[3] = "+inf";
    lens[3] = 4;

    (void) ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd, NULL, NULL, 0,
                                        4, argv, lens);

    argv[1] = "apigw:deleted";
    lens[1] = sizeof("apigw:deleted") - 1;
    argv[2] = (char *) since;
    lens[2] = slen;

    (void) ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd, NULL, NULL, 0,
                                        4, argv, lens);

    argv[0] = "EXEC";
    lens[0] = 4;

    if (ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd,
                                     ngx_http_apigw_rs_changes, NULL,
                                     NGX_HTTP_APIGW_RS_TIMEOUT, 1, argv,
                                     lens)
        == NULL)
    {
        ngx_http_apigw_rs_where = 227;
        ngx_http_apigw_rs_sync_done(0);
    }
}


static void
ngx_http_apigw_rs_changes(redisReply *reply, void *data)
{
    size_t        i, n;
    size_t       *lens;
    ngx_int_t     v, pruned;
    ngx_uint_t    lost;
    redisReply   *ver, *prn, *epo, *keys, *gone, *e;
    const char  **argv;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 5)
    {
        ngx_http_apigw_rs_where = 244;
        ngx_http_apigw_rs_sync_done(0);
        return;
    }

    ver = reply->element[0];
    prn = reply->element[1];
    epo = reply->element[2];
    keys = reply->element[3];
    gone = reply->element[4];

    /*
     * another epoch than the one this worker read (a FLUSHALL, and writes
     * since): Redis went back in time even when its version is past ours
     */
    lost = 0;

    if (epo->type == REDIS_REPLY_STRING && epo->len == 32) {
        lost = ngx_http_apigw_rs_epoch[0]
               && ngx_strncmp(ngx_http_apigw_rs_epoch, epo->str, 32) != 0;

        /* taken on once this sync has read what it belongs to */
        ngx_memcpy(ngx_http_apigw_rs_next_epoch, epo->str, 32);
    }

    v = 0;
    pruned = 0;

    if (ver->type == REDIS_REPLY_STRING) {
        v = ngx_atoi((u_char *) ver->str, ver->len);
    }

    if (prn->type == REDIS_REPLY_STRING) {
        pruned = ngx_atoi((u_char *) prn->str, prn->len);
    }

    if (v == NGX_ERROR || pruned == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_http_apigw_rs_log, 0,
                      "apigw: bad apigw:version or apigw:pruned in Redis");
        ngx_http_apigw_rs_where = 258;
        ngx_http_apigw_rs_sync_done(0);
        return;
    }

    if (!ngx_http_apigw_rs_full && !lost
        && ngx_http_apigw_rs_since < (uint64_t) pruned)
    {
        /* deletions we have not seen may be gone: read everything */
        ngx_log_error(NGX_LOG_NOTICE, ngx_http_apigw_rs_log, 0,
                      "apigw: Redis store: version %uL is older than the "
                      "deletions kept (from %i on); reading every record",
                      ngx_http_apigw_rs_since, pruned);
        ngx_http_apigw_rs_full = 1;
        ngx_http_apigw_rs_sync_start();

        if (!ngx_http_apigw_rs_syncing) {
            ngx_http_apigw_rs_where = 262;
            ngx_http_apigw_rs_sync_done(0);
        }

        return;
    }

    if (((uint64_t) v < ngx_http_apigw_rs_since || lost)
        && !ngx_http_apigw_rs_full)
    {
        /*
         * Redis went back in time: restarted without its data, flushed, or
         * another server.  What this worker holds keeps serving (dropping
         * every API would be worse); an operator has to restore Redis.
         * Everything Redis has now is read on top of it (the changes
         * since our version would miss the writes made since the loss),
         * and this worker goes on from Redis's version.
         */
        ngx_log_error(NGX_LOG_CRIT, ngx_http_apigw_rs_log, 0,
                      "apigw: the Redis store is at version %i, %s "
                      "this worker's %uL: Redis lost data (restarted "
                      "without persistence, flushed, or another server?); "
                      "the APIs held here keep serving, restore Redis from "
                      "a backup", v,
                      lost ? "another store than" : "behind",
                      ngx_http_apigw_rs_since);

        ngx_http_apigw_rs_full = 1;
        ngx_http_apigw_rs_keep = 1;
        ngx_http_apigw_rs_sync_start();

        if (!ngx_http_apigw_rs_syncing) {
            ngx_http_apigw_rs_where = 263;
            ngx_http_apigw_rs_sync_done(0);
        }

        return;
    }

    ngx_http_apigw_rs_target = v;

    if (!ngx_http_apigw_rs_full && gone->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < gone->elements; i++) {
            e = gone->element[i];

            if (e->type == REDIS_REPLY_STRING) {
                /* a NUL in a key is no key of ours: ignored */
                if (ngx_strlen(e->str) == e->len) {
                    ngx_http_apigw_local_apply(e->str, NULL);
                }
            }
        }
    }

    if (keys->type != REDIS_REPLY_ARRAY || keys->elements == 0) {
        ngx_http_apigw_rs_synced();
        return;
    }

    n = keys->elements;

    ngx_http_apigw_rs_keys = ngx_alloc(n * sizeof(char *),
                                       ngx_http_apigw_rs_log);
    argv = ngx_alloc((n + 2) * sizeof(char *), ngx_http_apigw_rs_log);
    lens = ngx_alloc((n + 2) * sizeof(size_t), ngx_http_apigw_rs_log);

    if (ngx_http_apigw_rs_keys == NULL || argv == NULL || lens == NULL) {
        goto failed;
    }

    ngx_http_apigw_rs_nkeys = 0;

    argv[0] = "HMGET";
    lens[0] = 5;
    argv[1] = "apigw:records";
    lens[1] = sizeof("apigw:records") - 1;

    for (i = 0; i < n; i++) {
        if (keys->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }

        ngx_http_apigw_rs_keys[ngx_http_apigw_rs_nkeys] =
            strndup(keys->element[i]->str, keys->element[i]->len);

        if (ngx_http_apigw_rs_keys[ngx_http_apigw_rs_nkeys] == NULL) {
            goto failed;
        }

        argv[2 + ngx_http_apigw_rs_nkeys] =
            ngx_http_apigw_rs_keys[ngx_http_apigw_rs_nkeys];
        lens[2 + ngx_http_apigw_rs_nkeys] = keys->element[i]->len;
        ngx_http_apigw_rs_nkeys++;
    }

    if (ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd,
                                     ngx_http_apigw_rs_values, NULL,
                                     NGX_HTTP_APIGW_RS_TIMEOUT,
                                     (int) (2 + ngx_http_apigw_rs_nkeys),
                                     argv, lens)
        == NULL)
    {
        goto failed;
    }

    ngx_free(argv);
    ngx_free(lens);

    return;

failed:

    if (argv) {
        ngx_free(argv);
    }

    if (lens) {
        ngx_free(lens);
    }

    ngx_http_apigw_rs_where = 332;
    ngx_http_apigw_rs_sync_done(0);
}


static void
ngx_http_apigw_rs_values(redisReply *reply, void *data)
{
    size_t         i;
    json_t        *v;
    redisReply    *e;
    json_error_t   je;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != ngx_http_apigw_rs_nkeys)
    {
        ngx_http_apigw_rs_where = 347;
        ngx_http_apigw_rs_sync_done(0);
        return;
    }

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type == REDIS_REPLY_STRING) {
            v = json_loadb(e->str, e->len, 0, &je);

            if (v == NULL) {
                ngx_log_error(NGX_LOG_ERR, ngx_http_apigw_rs_log, 0,
                              "apigw: bad record \"%s\" in Redis: %s",
                              ngx_http_apigw_rs_keys[i], je.text);
                continue;
            }

            ngx_http_apigw_local_apply(ngx_http_apigw_rs_keys[i], v);

        } else {
            ngx_http_apigw_local_apply(ngx_http_apigw_rs_keys[i], NULL);
        }
    }

    /*
     * values may be newer than the version read with the keys: the next
     * sync reads them again, which is harmless
     */
    ngx_http_apigw_rs_synced();
}


/* what was read is applied: this worker is at the version read */

static void
ngx_http_apigw_rs_synced(void)
{
    if (ngx_http_apigw_rs_full && !ngx_http_apigw_rs_keep
        && ngx_http_apigw_rs_drop_rest() != NGX_OK)
    {
        ngx_http_apigw_rs_where = 407;
        ngx_http_apigw_rs_sync_done(0);
        return;
    }

    ngx_http_apigw_local_set_version(ngx_http_apigw_rs_target);
    ngx_http_apigw_rs_loaded = 1;

    if (ngx_http_apigw_rs_next_epoch[0]) {
        ngx_memcpy(ngx_http_apigw_rs_epoch, ngx_http_apigw_rs_next_epoch, 32);
    }
    ngx_http_apigw_rs_sync_done(1);
}


/* after reading every record: what we hold beyond them was deleted */

static ngx_int_t
ngx_http_apigw_rs_drop_rest(void)
{
    size_t     i;
    json_t    *ctx[2], *key;
    ngx_int_t  rc;

    rc = NGX_ERROR;
    ctx[0] = json_object();     /* the keys in Redis */
    ctx[1] = json_array();      /* ours that are not */

    if (ctx[0] == NULL || ctx[1] == NULL) {
        goto done;
    }

    for (i = 0; i < ngx_http_apigw_rs_nkeys; i++) {
        if (json_object_set_new(ctx[0], ngx_http_apigw_rs_keys[i],
                                json_null())
            != 0)
        {
            goto done;
        }
    }

    if (apigw_store_foreach(ngx_http_apigw_store_current(), NULL,
                            ngx_http_apigw_rs_rest, ctx)
        != 0)
    {
        goto done;
    }

    json_array_foreach(ctx[1], i, key) {
        ngx_http_apigw_local_apply(json_string_value(key), NULL);
    }

    rc = NGX_OK;

done:

    json_decref(ctx[0]);
    json_decref(ctx[1]);

    return rc;
}


static int
ngx_http_apigw_rs_rest(const char *key, json_t *value, void *data)
{
    json_t  **ctx = data;

    if (json_object_get(ctx[0], key)) {
        return 0;
    }

    return json_array_append_new(ctx[1], json_string(key));
}


static void
ngx_http_apigw_rs_sync_done(ngx_int_t ok)
{
    size_t  i;

    for (i = 0; i < ngx_http_apigw_rs_nkeys; i++) {
        free(ngx_http_apigw_rs_keys[i]);
    }

    if (ngx_http_apigw_rs_keys) {
        ngx_free(ngx_http_apigw_rs_keys);
    }

    ngx_http_apigw_rs_keys = NULL;
    ngx_http_apigw_rs_nkeys = 0;
    ngx_http_apigw_rs_syncing = 0;
    ngx_http_apigw_rs_full = 0;
    ngx_http_apigw_rs_keep = 0;

    if (ok) {
        /* compile now: changes reach the data plane at once */
        ngx_http_apigw_dyn_refresh(ngx_http_apigw_rs_log);
    }

    if (ngx_http_apigw_rs_conflict) {
        /* the write that lost can be answered again now */
        ngx_http_apigw_rs_conflict = 0;
        ngx_http_apigw_rs_finish(ok ? NGX_DECLINED : NGX_ERROR);
        return;
    }

    if (ngx_http_apigw_rs_resync) {
        ngx_http_apigw_rs_sync();
        return;
    }

    ngx_http_apigw_rs_next();
}


/* ---- writing ---- */

ngx_int_t
ngx_http_apigw_rstore_commit(apigw_muts_t *muts, uint64_t base,
    ngx_http_apigw_store_done_pt done, void *data)
{
    ngx_http_apigw_rs_job_t  *job, **p;

    if (!ngx_http_apigw_redis_ready(ngx_http_apigw_rs_cmd)) {
        return NGX_ERROR;
    }

    job = ngx_calloc(sizeof(ngx_http_apigw_rs_job_t), ngx_http_apigw_rs_log);
    if (job == NULL) {
        return NGX_ERROR;
    }

    job->muts = muts;
    job->base = base;
    job->done = done;
    job->data = data;

    for (p = &ngx_http_apigw_rs_jobs; *p; p = &(*p)->next) { /* void */ }

    *p = job;

    if (ngx_http_apigw_rs_active == NULL) {
        ngx_http_apigw_rs_next();
    }

    return NGX_OK;
}


static void
ngx_http_apigw_rs_next(void)
{
    size_t        lens[2];
    const char   *argv[2];

    if (ngx_http_apigw_rs_active || ngx_http_apigw_rs_syncing
        || ngx_http_apigw_rs_jobs == NULL)
    {
        return;
    }

    ngx_http_apigw_rs_active = ngx_http_apigw_rs_jobs;
    ngx_http_apigw_rs_jobs = ngx_http_apigw_rs_active->next;

    if (ngx_http_apigw_rs_active->base
        != apigw_store_version(ngx_http_apigw_store_current()))
    {
        /* answered against an older copy: answer it again (not a lost race) */
        ngx_http_apigw_rs_finish(NGX_AGAIN);
        return;
    }

    argv[0] = "WATCH";
    lens[0] = 5;
    argv[1] = "apigw:version";
    lens[1] = sizeof("apigw:version") - 1;

    if (ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd, NULL, NULL, 0, 2,
                                     argv, lens)
        == NULL)
    {
        ngx_http_apigw_rs_where = 485;
        ngx_http_apigw_rs_finish(NGX_ERROR);
        return;
    }

    argv[0] = "GET";
    lens[0] = 3;

    if (ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd,
                                     ngx_http_apigw_rs_version, NULL, 0, 2,
                                     argv, lens)
        == NULL)
    {
        ngx_http_apigw_rs_where = 497;
        ngx_http_apigw_rs_finish(NGX_ERROR);
    }
}


static void
ngx_http_apigw_rs_version(redisReply *reply, void *data)
{
    char                     **texts;
    char                       ver[NGX_INT64_LEN + 1];
    char                       old[NGX_INT64_LEN + 1];
    size_t                     i, n, nset, ndel, *lens;
    uint64_t                   v;
    ngx_int_t                  cur;
    const char               **argv;
    apigw_muts_t              *m;
    ngx_http_apigw_rs_job_t   *job;
    static const char         *unwatch[1] = { "UNWATCH" };
    static size_t              unwatch_len[1] = { 7 };
    static const char         *discard[1] = { "DISCARD" };
    static size_t              discard_len[1] = { 7 };
    ngx_uint_t                 multi;

    job = ngx_http_apigw_rs_active;
    texts = NULL;
    multi = 0;

    if (reply == NULL
        || (reply->type != REDIS_REPLY_STRING
            && reply->type != REDIS_REPLY_NIL))
    {
        ngx_http_apigw_rs_where = 528;
        ngx_http_apigw_rs_finish(NGX_ERROR);
        return;
    }

    cur = 0;

    if (reply->type == REDIS_REPLY_STRING) {
        cur = ngx_atoi((u_char *) reply->str, reply->len);
    }

    if (cur == NGX_ERROR || (uint64_t) cur != job->base) {
        /* another writer: catch up, then the request is answered again */
        argv = (const char **) unwatch;
        lens = unwatch_len;
        (void) ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd, NULL,
                                            NULL, 0, 1, argv, lens);

        ngx_http_apigw_rs_conflict = 1;
        ngx_http_apigw_rs_sync_start();

        if (!ngx_http_apigw_rs_syncing) {
            /* could not even start */
            ngx_http_apigw_rs_conflict = 0;
            ngx_http_apigw_rs_where = 551;
            ngx_http_apigw_rs_finish(NGX_ERROR);
        }

        return;
    }

    m = job->muts;
    v = job->base + 1;
    (void) ngx_sprintf((u_char *) ver, "%uL%Z", v);

    nset = 0;
    ndel = 0;

    for (i = 0; i < m->n; i++) {
        if (m->items[i].value) {
            nset++;
        } else {
            ndel++;
        }
    }

    n = 2 + 2 * m->n + 2;
    argv = ngx_alloc(n * sizeof(char *), ngx_http_apigw_rs_log);
    lens = ngx_alloc(n * sizeof(size_t), ngx_http_apigw_rs_log);
    texts = ngx_calloc(m->n * sizeof(char *), ngx_http_apigw_rs_log);

    if (argv == NULL || lens == NULL || texts == NULL) {
        goto failed;
    }

    for (i = 0; i < m->n; i++) {
        if (m->items[i].value) {
            texts[i] = json_dumps(m->items[i].value, JSON_COMPACT);
            if (texts[i] == NULL) {
                goto failed;
            }
        }
    }

#define RS_CMD(argc)                                                          \
    if (ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd, NULL, NULL, 0,    \
                                     (int) (argc), argv, lens)                \
        == NULL)                                                              \
    {                                                                         \
        goto failed;                                                          \
    }

    argv[0] = "MULTI";
    lens[0] = 5;
    RS_CMD(1);
    multi = 1;

    if (nset) {
        argv[0] = "HSET";
        lens[0] = 4;
        argv[1] = "apigw:records";
        lens[1] = sizeof("apigw:records") - 1;
        n = 2;

        for (i = 0; i < m->n; i++) {
            if (texts[i]) {
                argv[n] = m->items[i].key;
                lens[n++] = ngx_strlen(m->items[i].key);
                argv[n] = texts[i];
                lens[n++] = ngx_strlen(texts[i]);
            }
        }

        RS_CMD(n);
    }

    if (ndel) {
        argv[0] = "HDEL";
        lens[0] = 4;
        argv[1] = "apigw:records";
        lens[1] = sizeof("apigw:records") - 1;
        n = 2;

        for (i = 0; i < m->n; i++) {
            if (m->items[i].value == NULL) {
                argv[n] = m->items[i].key;
                lens[n++] = ngx_strlen(m->items[i].key);
            }
        }

        RS_CMD(n);
    }

    /* a record is in one of the two sets: changed (and there), deleted */

    if (nset) {
        RS_CMD(ngx_http_apigw_rs_keys_args(m, 1, "ZADD", "apigw:changes",
                                           ver, argv, lens));
        RS_CMD(ngx_http_apigw_rs_keys_args(m, 1, "ZREM", "apigw:deleted",
                                           NULL, argv, lens));
    }

    if (ndel) {
        RS_CMD(ngx_http_apigw_rs_keys_args(m, 0, "ZADD", "apigw:deleted",
                                           ver, argv, lens));
        RS_CMD(ngx_http_apigw_rs_keys_args(m, 0, "ZREM", "apigw:changes",
                                           NULL, argv, lens));
    }

    if (v > NGX_HTTP_APIGW_RS_KEEP) {
        (void) ngx_sprintf((u_char *) old, "%uL%Z",
                           v - NGX_HTTP_APIGW_RS_KEEP);

        RS_CMD(ngx_http_apigw_rs_args(argv, lens, "ZREMRANGEBYSCORE",
                                      "apigw:deleted", "-inf", old, NULL));
        RS_CMD(ngx_http_apigw_rs_args(argv, lens, "SET", "apigw:pruned", old,
                                      NULL));
    }

    RS_CMD(ngx_http_apigw_rs_args(argv, lens, "SET", "apigw:version", ver,
                                  NULL));
    /* a new one with every write: after a FLUSHALL the first one wins */
    if (apigw_random_hex((char *) ngx_http_apigw_rs_mine, 16) != 0) {
        goto failed;
    }

    RS_CMD(ngx_http_apigw_rs_args(argv, lens, "SET", "apigw:epoch",
                                  (char *) ngx_http_apigw_rs_mine, "NX",
                                  NULL));
    RS_CMD(ngx_http_apigw_rs_args(argv, lens, "PUBLISH", "apigw:events", ver,
                                  NULL));

    argv[0] = "EXEC";
    lens[0] = 4;

    if (ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd,
                                     ngx_http_apigw_rs_exec, NULL,
                                     NGX_HTTP_APIGW_RS_TIMEOUT, 1, argv,
                                     lens)
        == NULL)
    {
        goto failed;
    }

#undef RS_CMD

    for (i = 0; i < m->n; i++) {
        free(texts[i]);
    }

    ngx_free(texts);
    ngx_free(argv);
    ngx_free(lens);

    return;

failed:

    if (multi) {
        (void) ngx_http_apigw_redis_command(ngx_http_apigw_rs_cmd, NULL,
                                            NULL, 0, 1, discard,
                                            discard_len);
    }

    if (texts) {
        for (i = 0; i < m->n; i++) {
            free(texts[i]);
        }
        ngx_free(texts);
    }

    if (argv) {
        ngx_free(argv);
    }

    if (lens) {
        ngx_free(lens);
    }

    ngx_http_apigw_rs_where = 715;
    ngx_http_apigw_rs_finish(NGX_ERROR);
}


/* a command of NUL-terminated words (NULL last) into argv/lens: argc */

static size_t
ngx_http_apigw_rs_args(const char **argv, size_t *lens, ...)
{
    size_t       n;
    va_list      ap;
    const char  *w;

    va_start(ap, lens);

    for (n = 0; (w = va_arg(ap, const char *)) != NULL; n++) {
        argv[n] = w;
        lens[n] = ngx_strlen(w);
    }

    va_end(ap);

    return n;
}


/* CMD SET [score] key ...: the keys of the records set (or deleted) */

static size_t
ngx_http_apigw_rs_keys_args(apigw_muts_t *m, ngx_uint_t set,
    const char *cmd, const char *zset, const char *score,
    const char **argv, size_t *lens)
{
    size_t  i, n;

    n = ngx_http_apigw_rs_args(argv, lens, cmd, zset, NULL);

    for (i = 0; i < m->n; i++) {
        if ((m->items[i].value != NULL) != set) {
            continue;
        }

        if (score) {
            argv[n] = score;
            lens[n++] = ngx_strlen(score);
        }

        argv[n] = m->items[i].key;
        lens[n++] = ngx_strlen(m->items[i].key);
    }

    return n;
}


static void
ngx_http_apigw_rs_exec(redisReply *reply, void *data)
{
    size_t                    i;
    apigw_muts_t             *m;
    ngx_http_apigw_rs_job_t  *job;

    job = ngx_http_apigw_rs_active;

    if (reply == NULL) {
        /* connection lost or timed out: the outcome is unknown */
        ngx_http_apigw_rs_where = 730;
        ngx_http_apigw_rs_finish(NGX_ERROR);
        return;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        /* the WATCHed version changed: another writer got in first */
        ngx_http_apigw_rs_conflict = 1;
        ngx_http_apigw_rs_sync_start();

        if (!ngx_http_apigw_rs_syncing) {
            ngx_http_apigw_rs_conflict = 0;
            ngx_http_apigw_rs_where = 741;
            ngx_http_apigw_rs_finish(NGX_ERROR);
        }

        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        ngx_http_apigw_rs_where = 748;
        ngx_http_apigw_rs_finish(NGX_ERROR);
        return;
    }

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_http_apigw_rs_log, 0,
                          "apigw: Redis store write: %*s",
                          reply->element[i]->len, reply->element[i]->str);
            ngx_http_apigw_rs_where = 757;
            ngx_http_apigw_rs_finish(NGX_ERROR);
            return;
        }
    }

    /* committed: our copy + these changes is the new version */
    m = job->muts;

    for (i = 0; i < m->n; i++) {
        ngx_http_apigw_local_apply(m->items[i].key,
                                   m->items[i].value
                                   ? json_incref(m->items[i].value) : NULL);
    }

    ngx_http_apigw_local_set_version(job->base + 1);
    ngx_http_apigw_dyn_refresh(ngx_http_apigw_rs_log);

    ngx_http_apigw_rs_finish(NGX_OK);
}


static void
ngx_http_apigw_rs_finish(ngx_int_t rc)
{
    ngx_http_apigw_rs_job_t  *job;

    job = ngx_http_apigw_rs_active;
    ngx_http_apigw_rs_active = NULL;

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_http_apigw_rs_log, 0,
                      "apigw: Redis store write failed (%ui)",
                      ngx_http_apigw_rs_where);
    }

    if (job) {
        job->done(job->data, rc);
        ngx_free(job);
    }

    if (ngx_http_apigw_rs_resync) {
        ngx_http_apigw_rs_sync();
        return;
    }

    ngx_http_apigw_rs_next();
}
