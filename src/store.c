/*
 * apigw config store model: records in a JSON object, a version, the
 * serialised forms (snapshot and journal lines), and small crypto helpers.
 */

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

#include "store.h"


struct apigw_store_s {
    json_t    *records;
    uint64_t   version;
};


apigw_store_t *
apigw_store_create(void)
{
    apigw_store_t  *s;

    s = calloc(1, sizeof(apigw_store_t));
    if (s == NULL) {
        return NULL;
    }

    s->records = json_object();
    if (s->records == NULL) {
        free(s);
        return NULL;
    }

    return s;
}


void
apigw_store_free(apigw_store_t *s)
{
    if (s) {
        json_decref(s->records);
        free(s);
    }
}


uint64_t
apigw_store_version(const apigw_store_t *s)
{
    return s->version;
}


void
apigw_store_set_version(apigw_store_t *s, uint64_t v)
{
    s->version = v;
}


json_t *
apigw_store_get(const apigw_store_t *s, const char *key)
{
    return json_object_get(s->records, key);
}


int
apigw_store_put(apigw_store_t *s, const char *key, json_t *value)
{
    return json_object_set_new(s->records, key, value);
}


void
apigw_store_del(apigw_store_t *s, const char *key)
{
    json_object_del(s->records, key);
}


size_t
apigw_store_count(const apigw_store_t *s)
{
    return json_object_size(s->records);
}


json_t *
apigw_store_records(const apigw_store_t *s)
{
    return s->records;
}


int
apigw_store_foreach(const apigw_store_t *s, const char *prefix,
    apigw_store_cb cb, void *data)
{
    int          rc;
    size_t       plen;
    json_t      *v;
    const char  *k;

    plen = prefix ? strlen(prefix) : 0;

    json_object_foreach(s->records, k, v) {
        if (plen && strncmp(k, prefix, plen) != 0) {
            continue;
        }

        rc = cb(k, v, data);
        if (rc) {
            return rc;
        }
    }

    return 0;
}


int
apigw_store_apply(apigw_store_t *s, const apigw_muts_t *m)
{
    size_t  i;

    for (i = 0; i < m->n; i++) {
        if (m->items[i].value) {
            if (json_object_set(s->records, m->items[i].key,
                                m->items[i].value)
                != 0)
            {
                return -1;
            }

        } else {
            json_object_del(s->records, m->items[i].key);
        }
    }

    return 0;
}


char *
apigw_store_dump(const apigw_store_t *s)
{
    char    *out;
    json_t  *root;

    root = json_pack("{s:I,s:O}", "version", (json_int_t) s->version,
                     "records", s->records);
    if (root == NULL) {
        return NULL;
    }

    out = json_dumps(root, JSON_COMPACT);
    json_decref(root);

    return out;
}


static void
apigw_snap_put(apigw_snap_t *sn, const char *p, size_t n)
{
    char    *nb;
    size_t   cap;

    if (sn->failed) {
        return;
    }

    if (sn->len + n + 1 > sn->cap) {
        cap = sn->cap ? sn->cap : 4096;

        while (cap < sn->len + n + 1) {
            cap *= 2;
        }

        nb = realloc(sn->buf, cap);
        if (nb == NULL) {
            sn->failed = 1;
            return;
        }

        sn->buf = nb;
        sn->cap = cap;
    }

    memcpy(sn->buf + sn->len, p, n);
    sn->len += n;
    sn->buf[sn->len] = '\0';
}


void
apigw_snap_init(apigw_snap_t *sn, uint64_t version)
{
    char  head[64];

    memset(sn, 0, sizeof(apigw_snap_t));
    sn->first = 1;

    apigw_snap_put(sn, head,
                   (size_t) snprintf(head, sizeof(head),
                                     "{\"version\":%llu,\"records\":{",
                                     (unsigned long long) version));
}


/* a key as a JSON string: the texts are JSON already */
void
apigw_snap_add(apigw_snap_t *sn, const char *key, size_t klen,
    const char *text, size_t len)
{
    char                 esc[6];
    size_t               i, run;
    unsigned char        c;
    static const char    hex[] = "0123456789abcdef";

    apigw_snap_put(sn, sn->first ? "\"" : ",\"", sn->first ? 1 : 2);
    sn->first = 0;

    run = 0;

    for (i = 0; i < klen; i++) {
        c = (unsigned char) key[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }

        apigw_snap_put(sn, key + run, i - run);
        run = i + 1;

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char) c;
            apigw_snap_put(sn, esc, 2);
            continue;
        }

        memcpy(esc, "\\u00", 4);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 0xf];
        apigw_snap_put(sn, esc, 6);
    }

    apigw_snap_put(sn, key + run, klen - run);
    apigw_snap_put(sn, "\":", 2);
    apigw_snap_put(sn, text, len);
}


char *
apigw_snap_end(apigw_snap_t *sn, size_t *len)
{
    apigw_snap_put(sn, "}}", 2);

    if (sn->failed) {
        free(sn->buf);
        sn->buf = NULL;
        return NULL;
    }

    *len = sn->len;

    return sn->buf;
}


apigw_store_t *
apigw_store_load(const char *buf, size_t len, char *err, size_t errlen)
{
    json_t         *root, *recs, *ver, *v;
    const char     *k;
    json_error_t    je;
    apigw_store_t  *s;

    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        snprintf(err, errlen, "line %d: %s", je.line, je.text);
        return NULL;
    }

    recs = json_object_get(root, "records");
    ver = json_object_get(root, "version");

    if (!json_is_object(root) || !json_is_object(recs)
        || !json_is_integer(ver) || json_integer_value(ver) < 0)
    {
        snprintf(err, errlen, "not an apigw store document");
        json_decref(root);
        return NULL;
    }

    json_object_foreach(recs, k, v) {
        if (!json_is_object(v)) {
            snprintf(err, errlen, "record \"%.64s\" is not an object", k);
            json_decref(root);
            return NULL;
        }
    }

    s = calloc(1, sizeof(apigw_store_t));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        json_decref(root);
        return NULL;
    }

    s->records = json_incref(recs);
    s->version = (uint64_t) json_integer_value(ver);
    json_decref(root);

    return s;
}


char *
apigw_muts_journal(const apigw_muts_t *m, uint64_t version)
{
    char    *out;
    size_t   i;
    json_t  *root, *set, *del;

    root = json_object();
    set = json_object();
    del = json_array();

    if (root == NULL || set == NULL || del == NULL) {
        goto failed;
    }

    for (i = 0; i < m->n; i++) {
        if (m->items[i].value) {
            if (json_object_set(set, m->items[i].key, m->items[i].value)) {
                goto failed;
            }

        } else if (json_array_append_new(del,
                                         json_string(m->items[i].key)))
        {
            goto failed;
        }
    }

    if (json_object_set_new(root, "version", json_integer(version))
        || json_object_set_new(root, "set", set)
        || json_object_set_new(root, "del", del))
    {
        set = del = NULL;
        goto failed;
    }

    out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;

failed:

    json_decref(root);
    json_decref(set);
    json_decref(del);
    return NULL;
}


int
apigw_store_replay(apigw_store_t *s, const char *line, size_t len)
{
    size_t        i;
    json_t       *root, *set, *del, *ver, *v;
    const char   *k;
    json_error_t  je;

    root = json_loadb(line, len, 0, &je);
    if (root == NULL) {
        return -1;
    }

    ver = json_object_get(root, "version");
    set = json_object_get(root, "set");
    del = json_object_get(root, "del");

    if (!json_is_integer(ver) || !json_is_object(set)
        || !json_is_array(del))
    {
        json_decref(root);
        return -1;
    }

    if ((uint64_t) json_integer_value(ver) <= s->version) {
        /* in the snapshot already (a crash between the snapshot's rename
         * and the journal's truncation) */
        json_decref(root);
        return 0;
    }

    json_array_foreach(del, i, v) {
        if (json_is_string(v)) {
            json_object_del(s->records, json_string_value(v));
        }
    }

    json_object_foreach(set, k, v) {
        if (json_is_object(v)) {
            json_object_set(s->records, k, v);
        }
    }

    s->version = (uint64_t) json_integer_value(ver);
    json_decref(root);

    return 0;
}


void
apigw_muts_init(apigw_muts_t *m)
{
    memset(m, 0, sizeof(apigw_muts_t));
}


void
apigw_muts_free(apigw_muts_t *m)
{
    size_t  i;

    for (i = 0; i < m->n; i++) {
        free(m->items[i].key);
        json_decref(m->items[i].value);
    }

    free(m->items);
    memset(m, 0, sizeof(apigw_muts_t));
}


int
apigw_muts_add(apigw_muts_t *m, const char *key, json_t *value)
{
    size_t        cap;
    apigw_mut_t  *items;

    if (m->n == m->cap) {
        cap = m->cap ? m->cap * 2 : 8;
        items = realloc(m->items, cap * sizeof(apigw_mut_t));
        if (items == NULL) {
            json_decref(value);
            return -1;
        }

        m->items = items;
        m->cap = cap;
    }

    m->items[m->n].key = strdup(key);
    if (m->items[m->n].key == NULL) {
        json_decref(value);
        return -1;
    }

    m->items[m->n].value = value;
    m->n++;

    return 0;
}


/* ---- helpers ---- */

void
apigw_store_sha256_hex(const void *salt, size_t slen, const void *data,
    size_t len, char *out)
{
    unsigned int    n, i;
    unsigned char   md[EVP_MAX_MD_SIZE];
    EVP_MD_CTX     *ctx;
    static const char  hex[] = "0123456789abcdef";

    n = 0;
    ctx = EVP_MD_CTX_new();

    if (ctx == NULL
        || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1
        || (slen && EVP_DigestUpdate(ctx, salt, slen) != 1)
        || EVP_DigestUpdate(ctx, data, len) != 1
        || EVP_DigestFinal_ex(ctx, md, &n) != 1)
    {
        n = 0;
    }

    EVP_MD_CTX_free(ctx);

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }

    out[2 * n] = '\0';
}


int
apigw_const_eq(const char *a, const char *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}


int
apigw_random_hex(char *out, size_t n)
{
    size_t          i;
    unsigned char   buf[64];
    static const char  hex[] = "0123456789abcdef";

    if (n > sizeof(buf) || RAND_bytes(buf, (int) n) != 1) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 0xf];
    }

    out[2 * n] = '\0';

    return 0;
}


int
apigw_uuid4(char *out)
{
    unsigned char  b[16];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        return -1;
    }

    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;

    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
             b[10], b[11], b[12], b[13], b[14], b[15]);

    return 0;
}


static const char *
apigw_jstr(json_t *o, const char *key)
{
    json_t  *v;

    v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}


int
apigw_store_foreach_key(const apigw_store_t *s, apigw_key_cb cb, void *data)
{
    int                rc;
    json_t            *v;
    const char        *k;
    apigw_key_info_t   ki;

    json_object_foreach(s->records, k, v) {
        if (strncmp(k, "key:", 4) != 0
            || json_is_true(json_object_get(v, "revoked")))
        {
            continue;
        }

        ki.id = apigw_jstr(v, "id");
        ki.tenant = apigw_jstr(v, "tenant");
        ki.prefix = apigw_jstr(v, "prefix");
        ki.sha256 = apigw_jstr(v, "sha256");
        ki.consumer = apigw_jstr(v, "consumer");
        ki.api_id = apigw_jstr(v, "api_id");
        ki.operation = apigw_jstr(v, "operation");

        if (ki.id == NULL || ki.tenant == NULL || ki.sha256 == NULL) {
            continue;
        }

        rc = cb(&ki, data);
        if (rc) {
            return rc;
        }
    }

    return 0;
}


int
apigw_store_foreach_sub(const apigw_store_t *s, apigw_sub_cb cb, void *data)
{
    int                rc;
    json_t            *v;
    const char        *k;
    apigw_sub_info_t   si;

    json_object_foreach(s->records, k, v) {
        if (strncmp(k, "sub:", 4) != 0) {
            continue;
        }

        si.tenant = apigw_jstr(v, "tenant");
        si.api_id = apigw_jstr(v, "artifact_id");
        si.client_id = apigw_jstr(v, "client_id");
        si.key_sha256 = apigw_jstr(v, "key_sha256");
        si.secret_salt = apigw_jstr(v, "secret_salt");
        si.secret_sha256 = apigw_jstr(v, "secret_sha256");

        if (si.tenant == NULL || si.api_id == NULL
            || (si.client_id == NULL && si.key_sha256 == NULL))
        {
            continue;
        }

        rc = cb(&si, data);
        if (rc) {
            return rc;
        }
    }

    return 0;
}
