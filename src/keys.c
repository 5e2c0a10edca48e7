/*
 * The API key store: an immutable open-addressing table keyed by the
 * SHA-256 of a key (or of a client id), built once from a list and swapped
 * whole.  A lookup hashes the presented key, probes the table by the
 * hash's first bytes and compares the full hashes with CRYPTO_memcmp(), so
 * neither keys nor the time taken reveal anything.  Keys are never stored.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SHA256_Init() and friends are deprecated in OpenSSL 3, as in nginx */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "apigw.h"
#include "auth.h"


#define APIGW_KEYS_FILE_MAX  (64 * 1024 * 1024)


struct apigw_keytab_s {
    apigw_key_t   *keys;
    size_t         n;
    uint32_t      *slots;       /* index + 1; 0: empty */
    uint32_t      *next;        /* index + 1 of the next with the same
                                   hash; 0: the last */
    size_t         mask;
    char          *strings;     /* every entry's strings, one block */
};


/*
 * SHA-256 of a || b, through the low-level interface: EVP's per-call
 * dispatch (engine and provider checks, context resets) costs more than
 * hashing a key does (185 ns against 73 ns for 20 bytes, here).
 */
static void
apigw_sha256_2(const void *a, size_t alen, const void *b, size_t blen,
    unsigned char out[32])
{
    SHA256_CTX  c;

    if (SHA256_Init(&c) != 1
        || SHA256_Update(&c, a, alen) != 1
        || (blen && SHA256_Update(&c, b, blen) != 1)
        || SHA256_Final(out, &c) != 1)
    {
        memset(out, 0, 32);
    }

    /* SHA256_Final() has wiped the input block; the rest is the digest */
}


void
apigw_sha256(const void *data, size_t len, unsigned char out[32])
{
    apigw_sha256_2(data, len, NULL, 0, out);
}


void
apigw_sha256_hex(const void *data, size_t len, char out[65])
{
    size_t         i;
    unsigned char  h[32];
    static const char  hex[] = "0123456789abcdef";

    apigw_sha256(data, len, h);

    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[h[i] >> 4];
        out[2 * i + 1] = hex[h[i] & 0xf];
    }

    out[64] = '\0';
}


/* client ids are hashed in their own domain: never equal to a key's hash */
static void
apigw_client_hash(const char *id, size_t len, unsigned char out[32])
{
    apigw_sha256_2("client", sizeof("client"), id, len, out);
}


void
apigw_keytab_client_hash(const char *id, size_t len, unsigned char out[32])
{
    apigw_client_hash(id, len, out);
}


static uint64_t
apigw_slot_of(const unsigned char h[32])
{
    uint64_t  v;

    memcpy(&v, h, sizeof(v));
    return v;
}


static size_t
apigw_len(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}


static char *
apigw_copy(char **p, const char *s)
{
    char    *d;
    size_t   n;

    if (s == NULL) {
        return NULL;
    }

    n = strlen(s) + 1;
    d = memcpy(*p, s, n);
    *p += n;

    return d;
}


void
apigw_keytab_free(apigw_keytab_t *t)
{
    if (t == NULL) {
        return;
    }

    if (t->keys) {
        OPENSSL_cleanse(t->keys, t->n * sizeof(apigw_key_t));
    }

    free(t->strings);
    free(t->keys);
    free(t->slots);
    free(t->next);
    free(t);
}


apigw_keytab_t *
apigw_keytab_build(const apigw_key_t *keys, size_t n)
{
    return apigw_keytab_build_ex(keys, n, 0);
}


apigw_keytab_t *
apigw_keytab_build_ex(const apigw_key_t *keys, size_t n, int flags)
{
    char            *p;
    size_t           i, cap, s, last, total;
    apigw_key_t     *k;
    apigw_keytab_t  *t;

    if (n > 0xfffffff0u) {
        return NULL;
    }

    /* the strings in one block: a rebuild of 100,000 entries is not
       500,000 malloc() calls */
    total = 1;

    for (i = 0; i < n; i++) {
        total += apigw_len(keys[i].key_id) + apigw_len(keys[i].consumer)
                 + apigw_len(keys[i].prefix) + apigw_len(keys[i].scope_value)
                 + apigw_len(keys[i].tenant);

        if (keys[i].salt_len > sizeof(keys[i].salt)) {
            return NULL;
        }
    }

    t = calloc(1, sizeof(apigw_keytab_t));
    if (t == NULL) {
        return NULL;
    }

    for (cap = 16; cap < 2 * n; cap *= 2) { /* void */ }

    t->keys = calloc(n ? n : 1, sizeof(apigw_key_t));
    t->slots = calloc(cap, sizeof(uint32_t));
    t->next = calloc(n ? n : 1, sizeof(uint32_t));
    t->strings = malloc(total);
    t->mask = cap - 1;

    if (t->keys == NULL || t->slots == NULL || t->next == NULL
        || t->strings == NULL)
    {
        apigw_keytab_free(t);
        return NULL;
    }

    p = t->strings;

    for (i = 0; i < n; i++) {
        k = &t->keys[t->n];
        *k = keys[i];
        k->key_id = apigw_copy(&p, keys[i].key_id);
        k->consumer = apigw_copy(&p, keys[i].consumer);
        k->prefix = apigw_copy(&p, keys[i].prefix);
        k->scope_value = apigw_copy(&p, keys[i].scope_value);
        k->tenant = apigw_copy(&p, keys[i].tenant);
        t->n++;

        s = apigw_slot_of(k->hash) & t->mask;

        while (t->slots[s]) {
            if (memcmp(t->keys[t->slots[s] - 1].hash, k->hash, 32) == 0) {
                if (!(flags & APIGW_KEYTAB_SHARED)) {
                    apigw_keytab_free(t);    /* duplicate */
                    return NULL;
                }

                /* appended to the chain of that hash */
                for (last = t->slots[s] - 1; t->next[last];
                     last = t->next[last] - 1)
                { /* void */ }

                t->next[last] = (uint32_t) (i + 1);
                break;
            }
            s = (s + 1) & t->mask;
        }

        if (t->slots[s] == 0) {
            t->slots[s] = (uint32_t) (i + 1);
        }
    }

    return t;
}


size_t
apigw_keytab_count(const apigw_keytab_t *t)
{
    return t ? t->n : 0;
}


const apigw_key_t *
apigw_keytab_entries(const apigw_keytab_t *t, size_t *n)
{
    *n = t ? t->n : 0;
    return t ? t->keys : NULL;
}


static const apigw_key_t *
apigw_keytab_probe(const apigw_keytab_t *t, const unsigned char h[32],
    int kind)
{
    size_t              s;
    const apigw_key_t  *k;

    if (t == NULL) {
        return NULL;
    }

    s = apigw_slot_of(h) & t->mask;

    while (t->slots[s]) {
        k = &t->keys[t->slots[s] - 1];

        if (CRYPTO_memcmp(k->hash, h, 32) == 0) {
            return k->kind == kind ? k : NULL;
        }

        s = (s + 1) & t->mask;
    }

    return NULL;
}


const apigw_key_t *
apigw_keytab_find_hash(const apigw_keytab_t *t, const unsigned char h[32])
{
    return apigw_keytab_probe(t, h, APIGW_KEY_API);
}


const apigw_key_t *
apigw_keytab_find_key(const apigw_keytab_t *t, const char *key, size_t len)
{
    unsigned char  h[32];

    apigw_sha256(key, len, h);

    return apigw_keytab_probe(t, h, APIGW_KEY_API);
}


/* 1: sha256(salt || secret) is the entry's secret; constant time */
static int
apigw_secret_ok(const apigw_key_t *k, const char *secret, size_t slen)
{
    int            ok;
    unsigned char  sh[32];

    apigw_sha256_2(k->salt, k->salt_len, secret, slen, sh);

    ok = CRYPTO_memcmp(k->secret, sh, 32) == 0;
    OPENSSL_cleanse(sh, sizeof(sh));

    return ok;
}


const apigw_key_t *
apigw_keytab_find_client(const apigw_keytab_t *t, const char *id,
    size_t idlen, const char *secret, size_t slen)
{
    unsigned char       h[32];
    const apigw_key_t  *k;

    apigw_client_hash(id, idlen, h);

    k = apigw_keytab_probe(t, h, APIGW_KEY_CLIENT);

    if (k == NULL || !apigw_secret_ok(k, secret, slen)) {
        return NULL;
    }

    return k;
}


const apigw_key_t *
apigw_keytab_lookup(const apigw_keytab_t *t, int kind, const char *id,
    size_t idlen, const char *secret, size_t slen,
    const apigw_key_target_t *tg, int *status)
{
    unsigned char  h[32];

    apigw_keytab_hash(kind, id, idlen, h);

    return apigw_keytab_lookup_hash(t, kind, h, secret, slen, tg, status);
}


void
apigw_keytab_hash(int kind, const char *id, size_t len, unsigned char h[32])
{
    if (kind == APIGW_KEY_CLIENT) {
        apigw_client_hash(id, len, h);

    } else {
        apigw_sha256(id, len, h);
    }
}


const apigw_key_t *
apigw_keytab_lookup_hash(const apigw_keytab_t *t, int kind,
    const unsigned char h[32], const char *secret, size_t slen,
    const apigw_key_target_t *tg, int *status)
{
    const apigw_key_t  *k, *refused;

    *status = APIGW_KEY_UNKNOWN;
    refused = NULL;

    for (k = apigw_keytab_probe(t, h, kind);
         k != NULL;
         k = t->next[k - t->keys] ? &t->keys[t->next[k - t->keys] - 1] : NULL)
    {
        if (kind == APIGW_KEY_CLIENT && !apigw_secret_ok(k, secret, slen)) {
            continue;
        }

        if (k->revoked) {
            if (*status == APIGW_KEY_UNKNOWN) {
                *status = APIGW_KEY_REVOKED;
                refused = k;
            }
            continue;
        }

        if (apigw_key_allows(k, tg)) {
            *status = APIGW_KEY_OK;
            return k;
        }

        *status = APIGW_KEY_NOT_SUBSCRIBED;
        refused = k;
    }

    return refused;
}


/*
 * openwhisk-apigateway's v1 resource scope: the resource is the API's
 * base path and the operation's path joined, without the leading "/"
 * ("club/books/{isbn}"), whatever its method
 */
static int
apigw_key_resource(const char *v, const apigw_key_target_t *tg)
{
    size_t       n, lp;
    const char  *base, *path;

    if (tg->base_path == NULL || tg->path == NULL) {
        return 0;
    }

    base = tg->base_path;
    path = tg->path;

    while (*v == '/') {
        v++;
    }

    while (*base == '/') {
        base++;
    }

    n = strlen(base);

    if (n == 0) {
        while (*path == '/') {
            path++;
        }

    } else if (strncmp(v, base, n) != 0) {
        return 0;

    } else {
        v += n;
    }

    /* "books" and "books/" name one resource, as the v1 gateway has it */
    n = strlen(v);
    lp = strlen(path);
    n -= (n && v[n - 1] == '/');
    lp -= (lp && path[lp - 1] == '/');

    return n == lp && memcmp(v, path, n) == 0;
}


int
apigw_key_allows(const apigw_key_t *k, const apigw_key_target_t *tg)
{
    size_t       n;
    const char  *v, *hash;

    v = k->scope_value ? k->scope_value : "";

    /* a managed key never crosses its tenant */
    if (k->tenant && (tg->tenant == NULL || strcmp(k->tenant, tg->tenant)))
    {
        return 0;
    }

    switch (k->scope) {

    case APIGW_KEY_SCOPE_ANY:
        return 1;

    case APIGW_KEY_SCOPE_TENANT:
        return tg->tenant && strcmp(v, tg->tenant) == 0;

    case APIGW_KEY_SCOPE_API:
        return tg->api_id && strcmp(v, tg->api_id) == 0;

    case APIGW_KEY_SCOPE_OPERATION:
        hash = strchr(v, '#');
        if (hash == NULL || tg->api_id == NULL || tg->op_id == NULL) {
            return 0;
        }

        n = hash - v;
        return strlen(tg->api_id) == n && strncmp(v, tg->api_id, n) == 0
               && strcmp(hash + 1, tg->op_id) == 0;

    case APIGW_KEY_SCOPE_RESOURCE:
        return apigw_key_resource(v, tg);
    }

    return 0;
}


/* ---- the keys file ---- */

static int
apigw_nibble(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


int
apigw_hex32(const char *s, size_t len, unsigned char out[32])
{
    size_t  i;
    int     hi, lo;

    if (len != 64) {
        return -1;
    }

    for (i = 0; i < 32; i++) {
        hi = apigw_nibble((unsigned char) s[2 * i]);
        lo = apigw_nibble((unsigned char) s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[i] = (unsigned char) (hi << 4 | lo);
    }

    return 0;
}


void
apigw_key_fingerprint(const unsigned char hash[32],
    char out[APIGW_KEY_FP_LEN + 1])
{
    size_t             i;
    static const char  hex[] = "0123456789abcdef";

    memcpy(out, "key-", 4);

    for (i = 0; i < 8; i++) {
        out[4 + 2 * i] = hex[hash[i] >> 4];
        out[5 + 2 * i] = hex[hash[i] & 0xf];
    }

    out[APIGW_KEY_FP_LEN] = '\0';
}


static void
apigw_key_clear(apigw_key_t *k)
{
    free(k->key_id);
    free(k->consumer);
    free(k->prefix);
    free(k->scope_value);
    free(k->tenant);
    memset(k, 0, sizeof(*k));
}


/* one line split in place into words; returns -1 with a problem text */
static const char *
apigw_key_line(char **w, size_t nw, apigw_key_t *k)
{
    size_t       i, first;
    char        *v;
    const char  *kind;

    memset(k, 0, sizeof(*k));
    kind = w[0];

    if (strcmp(kind, "key") == 0) {
        if (nw < 2 || apigw_hex32(w[1], strlen(w[1]), k->hash) != 0) {
            return "\"key\" needs the key's SHA-256 as 64 hex digits "
                   "(apigw hash-key)";
        }
        k->kind = APIGW_KEY_API;
        first = 2;

    } else if (strcmp(kind, "client") == 0) {
        if (nw < 3 || w[1][0] == '\0'
            || apigw_hex32(w[2], strlen(w[2]), k->secret) != 0)
        {
            return "\"client\" needs a client id and the secret's SHA-256 "
                   "as 64 hex digits";
        }
        k->kind = APIGW_KEY_CLIENT;
        apigw_client_hash(w[1], strlen(w[1]), k->hash);
        k->key_id = strdup(w[1]);
        first = 3;

    } else {
        return "unknown entry (expected \"key\" or \"client\")";
    }

    for (i = first; i < nw; i++) {
        if (strcmp(w[i], "revoked") == 0) {
            k->revoked = 1;
            continue;
        }

        v = strchr(w[i], '=');
        if (v == NULL || v[1] == '\0') {
            return "fields are name=value or \"revoked\"";
        }

        *v++ = '\0';

        if (strcmp(w[i], "id") == 0 && k->kind == APIGW_KEY_API) {
            free(k->key_id);
            k->key_id = strdup(v);

        } else if (strcmp(w[i], "consumer") == 0) {
            free(k->consumer);
            k->consumer = strdup(v);

        } else if (strcmp(w[i], "prefix") == 0) {
            free(k->prefix);
            k->prefix = strdup(v);

        } else if (strcmp(w[i], "scope") == 0) {
            free(k->scope_value);
            k->scope_value = NULL;

            if (strncmp(v, "tenant:", 7) == 0) {
                k->scope = APIGW_KEY_SCOPE_TENANT;
                k->scope_value = strdup(v + 7);

            } else if (strncmp(v, "api:", 4) == 0) {
                k->scope = APIGW_KEY_SCOPE_API;
                k->scope_value = strdup(v + 4);

            } else if (strncmp(v, "operation:", 10) == 0
                       && strchr(v + 10, '#') != NULL)
            {
                k->scope = APIGW_KEY_SCOPE_OPERATION;
                k->scope_value = strdup(v + 10);

                /* the file is split on blanks: "GET%20/path" */
                if (k->scope_value) {
                    char  *r, *o;

                    r = o = strchr(k->scope_value, '#');

                    while (*r) {
                        if (r[0] == '%' && r[1] == '2' && r[2] == '0') {
                            *o++ = ' ';
                            r += 3;
                        } else {
                            *o++ = *r++;
                        }
                    }

                    *o = '\0';
                }

            } else {
                return "scope must be tenant:NAME, api:BASEPATH or "
                       "operation:BASEPATH#OPERATION";
            }

        } else {
            return "unknown field";
        }
    }

    if (k->consumer == NULL && k->key_id == NULL
        && k->kind == APIGW_KEY_API)
    {
        /* a key with no name: its fingerprint, one counter per key */
        k->consumer = malloc(APIGW_KEY_FP_LEN + 1);
        if (k->consumer) {
            apigw_key_fingerprint(k->hash, k->consumer);
        }

    } else if (k->consumer == NULL) {
        k->consumer = strdup(k->key_id ? k->key_id : "");
    }

    if (k->key_id == NULL) {
        k->key_id = strdup(k->consumer);
    }

    return NULL;
}


apigw_keytab_t *
apigw_keytab_parse(const char *buf, size_t len, const char *file,
    apigw_problems_t *probs)
{
    char            *text, *line, *next, *p, *w[16], *save;
    char             ptr[32];
    size_t           nw, n, cap, lineno, errors;
    const char      *err;
    apigw_key_t     *keys, *nk, k;
    apigw_keytab_t  *t;

    text = malloc(len + 1);
    if (text == NULL) {
        apigw_problem_add(probs, 0, file, "", "out of memory");
        return NULL;
    }

    memcpy(text, buf, len);
    text[len] = '\0';

    keys = NULL;
    n = 0;
    cap = 0;
    errors = 0;
    lineno = 0;

    for (line = text; line != NULL; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }

        /* a comment starts a word: "#" inside a scope value is kept */
        for (p = line; *p; p++) {
            if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                break;
            }
        }

        if (strlen(line) != strcspn(line, "\r")) {
            line[strcspn(line, "\r")] = '\0';
        }

        nw = 0;
        for (p = strtok_r(line, " \t", &save);
             p != NULL && nw < 16;
             p = strtok_r(NULL, " \t", &save))
        {
            w[nw++] = p;
        }

        if (nw == 0) {
            continue;
        }

        snprintf(ptr, sizeof(ptr), "line %zu", lineno);

        if (p != NULL) {
            apigw_problem_add(probs, 0, file, ptr, "too many fields");
            errors++;
            continue;
        }

        err = apigw_key_line(w, nw, &k);

        if (err == NULL && (k.key_id == NULL || k.consumer == NULL)) {
            err = "out of memory";
        }

        if (err) {
            apigw_problem_add(probs, 0, file, ptr, "%s", err);
            apigw_key_clear(&k);
            errors++;
            continue;
        }

        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            nk = realloc(keys, cap * sizeof(apigw_key_t));
            if (nk == NULL) {
                apigw_key_clear(&k);
                errors++;
                apigw_problem_add(probs, 0, file, ptr, "out of memory");
                break;
            }
            keys = nk;
        }

        keys[n++] = k;
    }

    t = NULL;

    if (errors == 0) {
        t = apigw_keytab_build(keys, n);
        if (t == NULL) {
            apigw_problem_add(probs, 0, file, "", "two entries have the "
                              "same key or client id (or out of memory)");
        }
    }

    while (n) {
        apigw_key_clear(&keys[--n]);
    }

    free(keys);
    free(text);

    return t;
}


apigw_keytab_t *
apigw_keytab_load(const char *path, apigw_problems_t *probs)
{
    FILE            *f;
    char            *buf;
    long             size;
    size_t           n;
    apigw_keytab_t  *t;

    f = fopen(path, "rb");
    if (f == NULL) {
        apigw_problem_add(probs, 0, path, "", "cannot open: %s",
                          strerror(errno));
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || size > APIGW_KEYS_FILE_MAX || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        apigw_problem_add(probs, 0, path, "", "cannot read (or larger "
                          "than %d bytes)", APIGW_KEYS_FILE_MAX);
        return NULL;
    }

    buf = malloc(size + 1);
    if (buf == NULL) {
        fclose(f);
        apigw_problem_add(probs, 0, path, "", "out of memory");
        return NULL;
    }

    n = fread(buf, 1, size, f);
    fclose(f);

    t = apigw_keytab_parse(buf, n, path, probs);
    free(buf);

    return t;
}
