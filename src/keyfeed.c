/*
 * The management store's credentials as a key table: what every worker
 * builds (off the request path) after its copy of the store changed.
 *
 *   key:{id}                  an API key (SHA-256 only) of a tenant,
 *                             scoped to the tenant, an API (its artifact
 *                             id) or one operation of it
 *   v1sub:{tenant}:...        a v1 subscription {key, scope, apiId or
 *                             resource}: the key is an API key of the
 *                             tenant, of one API, or of one resource (a
 *                             path of the tenant's APIs, every method)
 *   sub:{tenant}:{api}:{id}   a v2 subscription: without a secret the
 *                             client id is an API key of that API (the
 *                             apiKey scheme), kept as its SHA-256; with
 *                             one, a client id and secret pair
 *                             (clientSecret), the secret kept as
 *                             SHA-256(salt || secret)
 *
 * Every entry carries its tenant, so a key never works on another
 * tenant's API.  A subscribed key's consumer is its fingerprint
 * (apigw_key_fingerprint()): one counter per key, and no key in clear
 * in a header, a counter name or a log.  Entries may share a hash (a
 * client subscribed to several APIs): the table keeps them all.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "apigw.h"
#include "auth.h"
#include "store.h"


typedef struct {
    apigw_key_t  *keys;
    size_t        n;
    size_t        cap;
    int           oom;
    char        **owned;            /* strings made here: freed at the end */
    size_t        nowned;
    size_t        capowned;
} apigw_keyfeed_t;


static apigw_key_t *
apigw_keyfeed_push(apigw_keyfeed_t *f)
{
    size_t        cap;
    apigw_key_t  *nk;

    if (f->n == f->cap) {
        cap = f->cap ? f->cap * 2 : 64;
        nk = realloc(f->keys, cap * sizeof(apigw_key_t));
        if (nk == NULL) {
            f->oom = 1;
            return NULL;
        }

        f->keys = nk;
        f->cap = cap;
    }

    nk = &f->keys[f->n++];
    memset(nk, 0, sizeof(apigw_key_t));

    return nk;
}


/* a key's fingerprint, owned by the feed until the table is built */
static char *
apigw_keyfeed_fingerprint(apigw_keyfeed_t *f, const unsigned char hash[32])
{
    char    *fp, **no;
    size_t   cap;

    if (f->nowned == f->capowned) {
        cap = f->capowned ? f->capowned * 2 : 64;
        no = realloc(f->owned, cap * sizeof(char *));
        if (no == NULL) {
            f->oom = 1;
            return NULL;
        }

        f->owned = no;
        f->capowned = cap;
    }

    fp = malloc(APIGW_KEY_FP_LEN + 1);
    if (fp == NULL) {
        f->oom = 1;
        return NULL;
    }

    apigw_key_fingerprint(hash, fp);
    f->owned[f->nowned++] = fp;

    return fp;
}


/* the strings of an entry are borrowed from the store while building */
static int
apigw_keyfeed_key(const apigw_key_info_t *ki, void *data)
{
    apigw_keyfeed_t  *f = data;

    char         *v;
    size_t        len;
    apigw_key_t  *k, tmp;

    if (apigw_hex32(ki->sha256, strlen(ki->sha256), tmp.hash) != 0) {
        return 0;                   /* not ours: skipped */
    }

    k = apigw_keyfeed_push(f);
    if (k == NULL) {
        return 1;
    }

    memcpy(k->hash, tmp.hash, 32);
    k->kind = APIGW_KEY_API;
    k->key_id = (char *) ki->id;
    k->consumer = (char *) (ki->consumer ? ki->consumer : ki->id);
    k->prefix = (char *) ki->prefix;
    k->tenant = (char *) ki->tenant;

    if (ki->api_id && ki->operation) {
        len = strlen(ki->api_id) + strlen(ki->operation) + 2;
        v = malloc(len);
        if (v == NULL) {
            f->n--;
            f->oom = 1;
            return 1;
        }

        strcpy(v, ki->api_id);
        strcat(v, "#");
        strcat(v, ki->operation);

        k->scope = APIGW_KEY_SCOPE_OPERATION;
        k->scope_value = v;         /* owned: freed after the build */

    } else if (ki->api_id) {
        k->scope = APIGW_KEY_SCOPE_API;
        k->scope_value = (char *) ki->api_id;

    } else {
        k->scope = APIGW_KEY_SCOPE_TENANT;
        k->scope_value = (char *) ki->tenant;
    }

    return 0;
}


static int
apigw_keyfeed_v1sub(const char *key, json_t *v, void *data)
{
    apigw_keyfeed_t  *f = data;

    apigw_key_t    *k, tmp;
    const char     *tenant, *scope, *sha, *api, *res;

    (void) key;

    tenant = json_string_value(json_object_get(v, "tenant"));
    scope = json_string_value(json_object_get(v, "scope"));
    sha = json_string_value(json_object_get(v, "sha256"));
    api = json_string_value(json_object_get(v, "api_id"));
    res = json_string_value(json_object_get(v, "resource"));

    if (tenant == NULL || scope == NULL || sha == NULL
        || apigw_hex32(sha, strlen(sha), tmp.hash) != 0
        || !(strcmp(scope, "tenant") == 0
             || (strcmp(scope, "api") == 0 && api != NULL)
             || (strcmp(scope, "resource") == 0 && res != NULL)))
    {
        return 0;                   /* no access rather than open */
    }

    k = apigw_keyfeed_push(f);
    if (k == NULL) {
        return 1;
    }

    memcpy(k->hash, tmp.hash, 32);
    k->kind = APIGW_KEY_API;
    k->key_id = apigw_keyfeed_fingerprint(f, tmp.hash);
    if (k->key_id == NULL) {
        f->n--;
        return 1;
    }

    k->consumer = k->key_id;
    k->prefix = (char *) json_string_value(json_object_get(v, "prefix"));
    k->tenant = (char *) tenant;

    if (strcmp(scope, "api") == 0) {
        k->scope = APIGW_KEY_SCOPE_API;
        k->scope_value = (char *) api;

    } else if (strcmp(scope, "resource") == 0) {
        k->scope = APIGW_KEY_SCOPE_RESOURCE;
        k->scope_value = (char *) res;

    } else {
        k->scope = APIGW_KEY_SCOPE_TENANT;
        k->scope_value = (char *) tenant;
    }

    return 0;
}


static int
apigw_keyfeed_sub(const apigw_sub_info_t *si, void *data)
{
    apigw_keyfeed_t  *f = data;

    size_t         slen;
    apigw_key_t   *k;
    unsigned char  secret[32], hash[32];

    slen = 0;

    if (si->secret_sha256 == NULL) {
        /* an API key: by its hash (or, in an older record, in clear) */
        if (si->key_sha256) {
            if (apigw_hex32(si->key_sha256, strlen(si->key_sha256), hash)
                != 0)
            {
                return 0;           /* unusable: no access rather than open */
            }

        } else {
            apigw_sha256(si->client_id, strlen(si->client_id), hash);
        }

    } else if (si->client_id == NULL) {
        return 0;

    } else {
        slen = si->secret_salt ? strlen(si->secret_salt) : 0;

        if (apigw_hex32(si->secret_sha256, strlen(si->secret_sha256), secret)
            != 0 || slen > sizeof(k->salt))
        {
            return 0;               /* unusable: no access rather than open */
        }
    }

    k = apigw_keyfeed_push(f);
    if (k == NULL) {
        return 1;
    }

    k->tenant = (char *) si->tenant;
    k->scope = APIGW_KEY_SCOPE_API;
    k->scope_value = (char *) si->api_id;

    if (si->secret_sha256) {
        k->key_id = (char *) si->client_id;
        k->consumer = (char *) si->client_id;
        k->kind = APIGW_KEY_CLIENT;
        apigw_keytab_client_hash(si->client_id, strlen(si->client_id),
                                 k->hash);
        memcpy(k->secret, secret, 32);
        /* the salt as stored (its hex text), as the admin hashed it */
        memcpy(k->salt, si->secret_salt ? si->secret_salt : "", slen);
        k->salt_len = slen;

    } else {
        k->kind = APIGW_KEY_API;
        memcpy(k->hash, hash, 32);
        k->key_id = apigw_keyfeed_fingerprint(f, hash);
        if (k->key_id == NULL) {
            f->n--;
            return 1;
        }

        k->consumer = k->key_id;
    }

    return 0;
}


apigw_keytab_t *
apigw_keytab_from_store(const apigw_store_t *s, const apigw_keytab_t *base)
{
    size_t              i, nbase;
    apigw_key_t        *k;
    apigw_keytab_t     *t;
    apigw_keyfeed_t     f;
    const apigw_key_t  *b;

    memset(&f, 0, sizeof(apigw_keyfeed_t));

    b = apigw_keytab_entries(base, &nbase);

    for (i = 0; i < nbase; i++) {
        k = apigw_keyfeed_push(&f);
        if (k == NULL) {
            goto failed;
        }

        *k = b[i];                  /* borrowed, deep-copied by the build */
    }

    if (s) {
        if (apigw_store_foreach_key(s, apigw_keyfeed_key, &f) != 0
            || f.oom
            || apigw_store_foreach_sub(s, apigw_keyfeed_sub, &f) != 0
            || f.oom
            || apigw_store_foreach(s, "v1sub:", apigw_keyfeed_v1sub, &f)
               != 0
            || f.oom)
        {
            goto failed;
        }
    }

    t = apigw_keytab_build_ex(f.keys, f.n, APIGW_KEYTAB_SHARED);

    goto done;

failed:

    t = NULL;

done:

    /* the operation scopes were built here; the rest is borrowed */
    for (i = nbase; i < f.n; i++) {
        if (f.keys[i].scope == APIGW_KEY_SCOPE_OPERATION) {
            free(f.keys[i].scope_value);
        }
    }

    if (f.keys) {
        OPENSSL_cleanse(f.keys, f.cap * sizeof(apigw_key_t));
        free(f.keys);
    }

    for (i = 0; i < f.nowned; i++) {
        free(f.owned[i]);
    }

    free(f.owned);

    return t;
}
