/*
 * apigw config store model: every dynamic object (tenants, APIs with their
 * OpenAPI document, subscriptions, API keys) is a record, a JSON object
 * under a string key, and the whole store has a version counter that every
 * committed change increments.  The embedded (file + shared memory) and
 * the Redis stores persist exactly these records; the management API
 * (admin.h) reads a store and answers with the records to write.
 *
 * Record keys:
 *
 *     tenant:{tenant}                      {"id","namespace","instance",
 *                                           "domains":[...]}
 *     api:{id}                             {"id","tenant","basePath","name",
 *                                           "doc":{...},"v1":{...}?,
 *                                           "resolved":{authority:[addr]}}
 *     sub:{tenant}:{api id}:{client id}    {"tenant","artifact_id",
 *                                           "client_id","secret_salt"?,
 *                                           "secret_sha256"?}
 *     key:{id}                             {"id","tenant","prefix","sha256",
 *                                           "consumer","api_id"?,
 *                                           "operation"?,"revoked"}
 *     v1sub:{tenant}:{scope}:{..}:{sha256} {"tenant","scope","api_id"?,
 *                                           "resource"?,"sha256","prefix"}
 *
 * Plain C, no nginx headers.
 */

#ifndef APIGW_STORE_H
#define APIGW_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>


typedef struct apigw_store_s  apigw_store_t;

/* one change: value NULL deletes the key */
typedef struct {
    char    *key;
    json_t  *value;
} apigw_mut_t;

typedef struct {
    apigw_mut_t  *items;
    size_t        n;
    size_t        cap;
} apigw_muts_t;


apigw_store_t *apigw_store_create(void);
void apigw_store_free(apigw_store_t *s);

uint64_t apigw_store_version(const apigw_store_t *s);
void apigw_store_set_version(apigw_store_t *s, uint64_t v);

/* borrowed reference or NULL */
json_t *apigw_store_get(const apigw_store_t *s, const char *key);
/* takes the reference to `value`; 0 or -1 (OOM) */
int apigw_store_put(apigw_store_t *s, const char *key, json_t *value);
void apigw_store_del(apigw_store_t *s, const char *key);
size_t apigw_store_count(const apigw_store_t *s);

/* the records as one JSON object (borrowed; iterate, never modify) */
json_t *apigw_store_records(const apigw_store_t *s);

/* every record whose key starts with `prefix`; stop when cb returns != 0 */
typedef int (*apigw_store_cb)(const char *key, json_t *value, void *data);
int apigw_store_foreach(const apigw_store_t *s, const char *prefix,
    apigw_store_cb cb, void *data);

/* applies the changes (values are copied by reference) */
int apigw_store_apply(apigw_store_t *s, const apigw_muts_t *m);

/*
 * Serialisation: {"version":N,"records":{key:value,...}} (compact JSON).
 * Load returns NULL and a message in err (size errlen) on bad input.
 */
char *apigw_store_dump(const apigw_store_t *s);
apigw_store_t *apigw_store_load(const char *buf, size_t len, char *err,
    size_t errlen);

/*
 * The same document written piece by piece from records kept elsewhere as
 * compact JSON texts (the embedded store's shared memory), with malloc()
 * only, so a thread can build it: init, one add per record, end, which
 * returns the text (free() it) or NULL when memory ran out.
 */
typedef struct {
    char      *buf;
    size_t     len;
    size_t     cap;
    int        failed;
    int        first;
} apigw_snap_t;

void apigw_snap_init(apigw_snap_t *sn, uint64_t version);
void apigw_snap_add(apigw_snap_t *sn, const char *key, size_t klen,
    const char *text, size_t len);
char *apigw_snap_end(apigw_snap_t *sn, size_t *len);

/*
 * A journal line: {"version":N,"set":{k:v},"del":[k]} for appending to
 * the embedded store's log; apigw_store_replay() applies one line (and
 * sets the version; a line not newer than the store is skipped), 0 or -1
 * on a bad line.
 */
char *apigw_muts_journal(const apigw_muts_t *m, uint64_t version);
int apigw_store_replay(apigw_store_t *s, const char *line, size_t len);


void apigw_muts_init(apigw_muts_t *m);
void apigw_muts_free(apigw_muts_t *m);
/* takes the reference to value (NULL: delete); 0 or -1 */
int apigw_muts_add(apigw_muts_t *m, const char *key, json_t *value);


/* ---- helpers shared with the credentials code ---- */

/* lower-case hex SHA-256 of (salt || data) into out[65] */
void apigw_store_sha256_hex(const void *salt, size_t slen, const void *data,
    size_t len, char *out);
/* 1 when equal, constant time for equal lengths */
int apigw_const_eq(const char *a, const char *b, size_t len);
/* `n` random bytes as 2n hex digits + NUL into out; 0 or -1 */
int apigw_random_hex(char *out, size_t n);
/* a random UUID v4 into out[37]; 0 or -1 */
int apigw_uuid4(char *out);


/*
 * API keys and subscriptions for the credentials code: called for every
 * API key record that is not revoked.  `sha256` is the hex SHA-256 of the
 * key, `api_id` / `operation` NULL when the key is scoped wider.
 */
typedef struct {
    const char  *id;
    const char  *tenant;
    const char  *prefix;
    const char  *sha256;
    const char  *consumer;
    const char  *api_id;
    const char  *operation;
} apigw_key_info_t;

typedef int (*apigw_key_cb)(const apigw_key_info_t *k, void *data);
int apigw_store_foreach_key(const apigw_store_t *s, apigw_key_cb cb,
    void *data);

typedef struct {
    const char  *tenant;
    const char  *api_id;
    const char  *client_id;        /* NULL for an API key's */
    const char  *key_sha256;       /* an API key's: hex sha256(key) */
    const char  *secret_salt;      /* NULL: no secret */
    const char  *secret_sha256;    /* hex sha256(salt || secret) */
} apigw_sub_info_t;

typedef int (*apigw_sub_cb)(const apigw_sub_info_t *s, void *data);
int apigw_store_foreach_sub(const apigw_store_t *s, apigw_sub_cb cb,
    void *data);

#endif /* APIGW_STORE_H */
