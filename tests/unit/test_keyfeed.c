/*
 * The key table built from the management store (src/keyfeed.c), salted
 * client secrets, entries sharing a hash, and apigw_keytab_lookup().
 */

#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "apigw.h"
#include "auth.h"
#include "store.h"


static apigw_key_target_t
target(const char *tenant, const char *api, const char *op)
{
    apigw_key_target_t  tg;

    tg.tenant = tenant;
    tg.api_id = api;
    tg.op_id = op;
    tg.base_path = NULL;
    tg.path = NULL;

    return tg;
}


/* a client entry with secret = SHA-256(salt || secret) */
static void
salted(apigw_key_t *k, const char *id, const char *salt, const char *secret,
    const char *api)
{
    char  hex[65];

    memset(k, 0, sizeof(*k));
    k->kind = APIGW_KEY_CLIENT;
    apigw_keytab_client_hash(id, strlen(id), k->hash);
    apigw_store_sha256_hex(salt, strlen(salt), secret, strlen(secret), hex);
    CHECK(apigw_hex32(hex, 64, k->secret) == 0);
    memcpy(k->salt, salt, strlen(salt));
    k->salt_len = strlen(salt);
    k->key_id = (char *) id;
    k->consumer = (char *) id;
    k->tenant = (char *) "t1";
    k->scope = APIGW_KEY_SCOPE_API;
    k->scope_value = (char *) api;
}


TEST(test_salted_client)
{
    int                  st;
    apigw_key_t          k[3];
    apigw_keytab_t      *t;
    apigw_key_target_t   a, b, c, other;
    const apigw_key_t   *f;

    /* one client id on two APIs with different secrets, another client */
    salted(&k[0], "app", "0123456789abcdef0123456789abcdef", "s3cret", "A");
    salted(&k[1], "app", "fedcba9876543210fedcba9876543210", "other", "B");
    salted(&k[2], "bob", "aaaa", "pw", "A");

    /* a shared hash is refused without APIGW_KEYTAB_SHARED */
    CHECK(apigw_keytab_build(k, 3) == NULL);

    t = apigw_keytab_build_ex(k, 3, APIGW_KEYTAB_SHARED);
    CHECK(t != NULL);
    CHECK_INT(apigw_keytab_count(t), 3);

    a = target("t1", "A", "get");
    b = target("t1", "B", "get");
    c = target("t1", "C", "get");
    other = target("t2", "A", "get");

    f = apigw_keytab_lookup(t, APIGW_KEY_CLIENT, "app", 3, "s3cret", 6, &a,
                            &st);
    CHECK_INT(st, APIGW_KEY_OK);
    CHECK(f != NULL && f->scope_value && strcmp(f->scope_value, "A") == 0);

    f = apigw_keytab_lookup(t, APIGW_KEY_CLIENT, "app", 3, "other", 5, &b,
                            &st);
    CHECK_INT(st, APIGW_KEY_OK);
    CHECK(f != NULL && strcmp(f->scope_value, "B") == 0);

    /* the right secret of API A used on API B: known, not subscribed */
    f = apigw_keytab_lookup(t, APIGW_KEY_CLIENT, "app", 3, "s3cret", 6, &b,
                            &st);
    CHECK_INT(st, APIGW_KEY_NOT_SUBSCRIBED);
    CHECK(f != NULL);

    /* wrong secrets, unsalted hash of the secret, unknown id */
    apigw_keytab_lookup(t, APIGW_KEY_CLIENT, "app", 3, "s3creT", 6, &a, &st);
    CHECK_INT(st, APIGW_KEY_UNKNOWN);
    apigw_keytab_lookup(t, APIGW_KEY_CLIENT, "app", 3, "", 0, &a, &st);
    CHECK_INT(st, APIGW_KEY_UNKNOWN);
    apigw_keytab_lookup(t, APIGW_KEY_CLIENT, "ap", 2, "s3cret", 6, &a, &st);
    CHECK_INT(st, APIGW_KEY_UNKNOWN);
    apigw_keytab_lookup(t, APIGW_KEY_CLIENT, "app", 3, "0123456789abcdef"
                        "0123456789abcdefs3cret", 38, &a, &st);
    CHECK_INT(st, APIGW_KEY_UNKNOWN);

    /* another API, another tenant */
    apigw_keytab_lookup(t, APIGW_KEY_CLIENT, "bob", 3, "pw", 2, &c, &st);
    CHECK_INT(st, APIGW_KEY_NOT_SUBSCRIBED);
    apigw_keytab_lookup(t, APIGW_KEY_CLIENT, "bob", 3, "pw", 2, &other, &st);
    CHECK_INT(st, APIGW_KEY_NOT_SUBSCRIBED);
    apigw_keytab_lookup(t, APIGW_KEY_CLIENT, "bob", 3, "pw", 2, &a, &st);
    CHECK_INT(st, APIGW_KEY_OK);

    /* a client id is not an API key */
    apigw_keytab_lookup(t, APIGW_KEY_API, "app", 3, NULL, 0, &a, &st);
    CHECK_INT(st, APIGW_KEY_UNKNOWN);

    /* the first entry's salt is used by the old interface too */
    CHECK(apigw_keytab_find_client(t, "app", 3, "s3cret", 6) != NULL);
    CHECK(apigw_keytab_find_client(t, "app", 3, "s3creT", 6) == NULL);

    apigw_keytab_free(t);

    /* an over-long salt is refused */
    k[2].salt_len = sizeof(k[2].salt) + 1;
    CHECK(apigw_keytab_build_ex(k, 3, APIGW_KEYTAB_SHARED) == NULL);
}


TEST(test_revoked_chain)
{
    int                  st;
    apigw_key_t          k[2];
    apigw_keytab_t      *t;
    apigw_key_target_t   a;
    const apigw_key_t   *f;

    memset(k, 0, sizeof(k));
    apigw_sha256("key", 3, k[0].hash);
    memcpy(k[1].hash, k[0].hash, 32);
    k[0].kind = k[1].kind = APIGW_KEY_API;
    k[0].key_id = (char *) "old";
    k[0].revoked = 1;
    k[1].key_id = (char *) "new";
    k[1].scope = APIGW_KEY_SCOPE_API;
    k[1].scope_value = (char *) "B";

    t = apigw_keytab_build_ex(k, 2, APIGW_KEYTAB_SHARED);
    CHECK(t != NULL);

    a = target("", "A", "x");
    f = apigw_keytab_lookup(t, APIGW_KEY_API, "key", 3, NULL, 0, &a, &st);
    CHECK_INT(st, APIGW_KEY_NOT_SUBSCRIBED);   /* a live entry wins */
    CHECK(f != NULL && strcmp(f->key_id, "new") == 0);

    a = target("", "B", "x");
    f = apigw_keytab_lookup(t, APIGW_KEY_API, "key", 3, NULL, 0, &a, &st);
    CHECK_INT(st, APIGW_KEY_OK);
    CHECK(f != NULL && strcmp(f->key_id, "new") == 0);

    apigw_keytab_free(t);

    t = apigw_keytab_build_ex(k, 1, 0);
    f = apigw_keytab_lookup(t, APIGW_KEY_API, "key", 3, NULL, 0, &a, &st);
    CHECK_INT(st, APIGW_KEY_REVOKED);
    CHECK(f != NULL && strcmp(f->key_id, "old") == 0);
    apigw_keytab_free(t);

    /* an empty table, and none at all */
    f = apigw_keytab_lookup(NULL, APIGW_KEY_API, "key", 3, NULL, 0, &a, &st);
    CHECK(f == NULL);
    CHECK_INT(st, APIGW_KEY_UNKNOWN);
}


static void
put(apigw_store_t *s, const char *key, const char *json)
{
    json_t  *v;

    v = json_loads(json, 0, NULL);
    CHECK(v != NULL);
    CHECK(apigw_store_put(s, key, v) == 0);
}


static void
put_key(apigw_store_t *s, const char *id, const char *tenant,
    const char *key, const char *api, const char *op, int revoked)
{
    char     hex[65], rk[128];
    json_t  *v;

    apigw_store_sha256_hex(NULL, 0, key, strlen(key), hex);
    v = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "id", id, "tenant", tenant,
                  "prefix", "ak_", "sha256", hex, "consumer", id,
                  "revoked", revoked);
    if (api) {
        json_object_set_new(v, "api_id", json_string(api));
    }
    if (op) {
        json_object_set_new(v, "operation", json_string(op));
    }

    snprintf(rk, sizeof(rk), "key:%s", id);
    CHECK(apigw_store_put(s, rk, v) == 0);
}


static void
put_sub(apigw_store_t *s, const char *tenant, const char *api,
    const char *client, const char *secret)
{
    char     hex[65], rk[256];
    json_t  *v;
    const char  *salt = "00112233445566778899aabbccddeeff";

    v = json_pack("{s:s,s:s,s:s}", "tenant", tenant, "artifact_id", api,
                  "client_id", client);
    if (secret) {
        apigw_store_sha256_hex(salt, strlen(salt), secret, strlen(secret),
                               hex);
        json_object_set_new(v, "secret_salt", json_string(salt));
        json_object_set_new(v, "secret_sha256", json_string(hex));
    }

    snprintf(rk, sizeof(rk), "sub:%s:%s:%s", tenant, api, client);
    CHECK(apigw_store_put(s, rk, v) == 0);
}


/* a subscription of an API key as the management API writes it */
static void
put_key_sub(apigw_store_t *s, const char *tenant, const char *api,
    const char *key)
{
    char     hex[65], rk[256];
    json_t  *v;

    apigw_store_sha256_hex(NULL, 0, key, strlen(key), hex);
    v = json_pack("{s:s,s:s,s:s}", "tenant", tenant, "artifact_id", api,
                  "key_sha256", hex);
    snprintf(rk, sizeof(rk), "sub:%s:%s:key-%s", tenant, api, hex);
    CHECK(apigw_store_put(s, rk, v) == 0);
}


static int
status_of(const apigw_keytab_t *t, int kind, const char *id,
    const char *secret, const char *tenant, const char *api, const char *op)
{
    int                 st;
    apigw_key_target_t  tg;

    tg = target(tenant, api, op);
    apigw_keytab_lookup(t, kind, id, strlen(id), secret,
                        secret ? strlen(secret) : 0, &tg, &st);

    return st;
}


TEST(test_from_store)
{
    int                  st;
    char                 fp[APIGW_KEY_FP_LEN + 1];
    size_t               i;
    unsigned char        h[32];
    apigw_key_t          fk;
    apigw_store_t       *s;
    apigw_keytab_t      *t, *base;
    apigw_key_target_t   tg;
    const apigw_key_t   *f;

    s = apigw_store_create();
    CHECK(s != NULL);

    put(s, "tenant:t1", "{\"id\":\"t1\"}");
    put_key(s, "k-tenant", "t1", "ak_tenant", NULL, NULL, 0);
    put_key(s, "k-api", "t1", "ak_api", "X", NULL, 0);
    put_key(s, "k-op", "t1", "ak_op", "X", "getThing", 0);
    put_key(s, "k-gone", "t1", "ak_gone", NULL, NULL, 1);
    put_key(s, "k-bad", "t1", "ak_bad", NULL, NULL, 0);
    /* a malformed hash is skipped, not a failure */
    json_object_set_new(apigw_store_get(s, "key:k-bad"), "sha256",
                        json_string("nothex"));
    put_key(s, "k-t2", "t2", "ak_t2", NULL, NULL, 0);
    put_key_sub(s, "t1", "X", "plain-client");
    /* a record of an older apigw, with the key in clear */
    put_sub(s, "t1", "Y", "plain-client", NULL);
    put_sub(s, "t1", "X", "secret-client", "s3cret");
    put_sub(s, "t1", "Y", "secret-client", "different");

    /* a keys-file entry stays in the table */
    memset(&fk, 0, sizeof(fk));
    apigw_sha256("static", 6, fk.hash);
    fk.kind = APIGW_KEY_API;
    fk.key_id = (char *) "static";
    fk.consumer = (char *) "static";
    base = apigw_keytab_build(&fk, 1);
    CHECK(base != NULL);

    t = apigw_keytab_from_store(s, base);
    CHECK(t != NULL);
    CHECK_INT(apigw_keytab_count(t), 1 + 4 + 4);

    /* tenant scope: every API of the tenant, not another tenant */
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_tenant", NULL, "t1", "X", "a"),
              APIGW_KEY_OK);
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_tenant", NULL, "t1", "Z", "a"),
              APIGW_KEY_OK);
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_tenant", NULL, "t2", "X", "a"),
              APIGW_KEY_NOT_SUBSCRIBED);
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_tenant", NULL, "", "/", "a"),
              APIGW_KEY_NOT_SUBSCRIBED);

    /* API scope */
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_api", NULL, "t1", "X", "a"),
              APIGW_KEY_OK);
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_api", NULL, "t1", "Y", "a"),
              APIGW_KEY_NOT_SUBSCRIBED);
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_api", NULL, "t2", "X", "a"),
              APIGW_KEY_NOT_SUBSCRIBED);

    /* operation scope */
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_op", NULL, "t1", "X",
                        "getThing"), APIGW_KEY_OK);
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_op", NULL, "t1", "X",
                        "putThing"), APIGW_KEY_NOT_SUBSCRIBED);
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_op", NULL, "t1", "Y",
                        "getThing"), APIGW_KEY_NOT_SUBSCRIBED);

    /* revoked, malformed, never created */
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_gone", NULL, "t1", "X", "a"),
              APIGW_KEY_UNKNOWN);
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_bad", NULL, "t1", "X", "a"),
              APIGW_KEY_UNKNOWN);
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_nope", NULL, "t1", "X", "a"),
              APIGW_KEY_UNKNOWN);

    /* a subscription without a secret: the client id is an API key */
    CHECK_INT(status_of(t, APIGW_KEY_API, "plain-client", NULL, "t1", "X",
                        "a"), APIGW_KEY_OK);
    CHECK_INT(status_of(t, APIGW_KEY_API, "plain-client", NULL, "t1", "Y",
                        "a"), APIGW_KEY_OK);
    CHECK_INT(status_of(t, APIGW_KEY_API, "plain-client", NULL, "t1", "Z",
                        "a"), APIGW_KEY_NOT_SUBSCRIBED);
    CHECK_INT(status_of(t, APIGW_KEY_CLIENT, "plain-client", "", "t1", "X",
                        "a"), APIGW_KEY_UNKNOWN);
    /* ... known by its fingerprint, in both forms of the record */
    apigw_sha256("plain-client", 12, h);
    apigw_key_fingerprint(h, fp);
    for (i = 0; i < 2; i++) {
        tg = target("t1", i ? "Y" : "X", "a");
        f = apigw_keytab_lookup(t, APIGW_KEY_API, "plain-client", 12, NULL,
                                0, &tg, &st);
        CHECK(f != NULL && strcmp(f->consumer, fp) == 0
              && strcmp(f->key_id, fp) == 0);
    }

    /* with a secret: a client id + secret pair, per API */
    CHECK_INT(status_of(t, APIGW_KEY_CLIENT, "secret-client", "s3cret", "t1",
                        "X", "a"), APIGW_KEY_OK);
    CHECK_INT(status_of(t, APIGW_KEY_CLIENT, "secret-client", "different",
                        "t1", "Y", "a"), APIGW_KEY_OK);
    CHECK_INT(status_of(t, APIGW_KEY_CLIENT, "secret-client", "s3cret", "t1",
                        "Y", "a"), APIGW_KEY_NOT_SUBSCRIBED);
    CHECK_INT(status_of(t, APIGW_KEY_CLIENT, "secret-client", "wrong", "t1",
                        "X", "a"), APIGW_KEY_UNKNOWN);
    CHECK_INT(status_of(t, APIGW_KEY_API, "secret-client", NULL, "t1", "X",
                        "a"), APIGW_KEY_UNKNOWN);

    /* the consumer of a key is its record's */
    tg = target("t1", "X", "a");
    f = apigw_keytab_lookup(t, APIGW_KEY_API, "ak_api", 6, NULL, 0, &tg,
                            &st);
    CHECK(f != NULL && strcmp(f->consumer, "k-api") == 0);
    CHECK(f != NULL && f->prefix && strcmp(f->prefix, "ak_") == 0);

    /* the keys file's entry */
    CHECK_INT(status_of(t, APIGW_KEY_API, "static", NULL, "t1", "X", "a"),
              APIGW_KEY_OK);

    apigw_keytab_free(t);

    /* revocation: the next table no longer has it */
    json_object_set_new(apigw_store_get(s, "key:k-api"), "revoked",
                        json_true());
    apigw_store_del(s, "sub:t1:X:secret-client");

    t = apigw_keytab_from_store(s, NULL);
    CHECK(t != NULL);
    CHECK_INT(status_of(t, APIGW_KEY_API, "ak_api", NULL, "t1", "X", "a"),
              APIGW_KEY_UNKNOWN);
    CHECK_INT(status_of(t, APIGW_KEY_CLIENT, "secret-client", "s3cret", "t1",
                        "X", "a"), APIGW_KEY_UNKNOWN);
    CHECK_INT(status_of(t, APIGW_KEY_CLIENT, "secret-client", "different",
                        "t1", "Y", "a"), APIGW_KEY_OK);
    CHECK_INT(status_of(t, APIGW_KEY_API, "static", NULL, "t1", "X", "a"),
              APIGW_KEY_UNKNOWN);
    apigw_keytab_free(t);

    /* no store: the base alone */
    t = apigw_keytab_from_store(NULL, base);
    CHECK_INT(apigw_keytab_count(t), 1);
    apigw_keytab_free(t);

    apigw_keytab_free(base);
    apigw_store_free(s);
}


/* v1 subscriptions: tenant, API and resource scopes */
TEST(test_v1_subscriptions)
{
    int                  st;
    char                 hex[65], rk[128], fp[APIGW_KEY_FP_LEN + 1];
    json_t              *v;
    unsigned char        h[32];
    const apigw_key_t   *f;
    apigw_store_t       *s;
    apigw_keytab_t      *t;
    apigw_key_target_t   tg;
    size_t               i;
    static const struct {
        const char  *key, *scope, *field, *value;
    } subs[] = {
        { "v1-tenant", "tenant", NULL, NULL },
        { "v1-api", "api", "api_id", "A1" },
        { "v1-res", "resource", "resource", "club/books/{isbn}" },
        { "v1-res-slash", "resource", "resource", "/club/books" },
        { "v1-res-root", "resource", "resource", "items" },
        /* a resource scope without its resource grants nothing */
        { "v1-res-none", "resource", NULL, NULL },
    };
    static const struct {
        const char  *key, *tenant, *api, *base, *path;
        int          status;
    } cases[] = {
        { "v1-tenant", "t1", "A1", "/club", "/books", APIGW_KEY_OK },
        { "v1-api", "t1", "A1", "/club", "/books", APIGW_KEY_OK },
        /* another API of the tenant: the API-scoped key is not its */
        { "v1-api", "t1", "A2", "/club", "/books",
          APIGW_KEY_NOT_SUBSCRIBED },
        { "v1-res", "t1", "A1", "/club", "/books/{isbn}", APIGW_KEY_OK },
        { "v1-res", "t1", "A1", "/club", "/books",
          APIGW_KEY_NOT_SUBSCRIBED },
        { "v1-res", "t1", "A1", "/club", "/books/{isbn}/x",
          APIGW_KEY_NOT_SUBSCRIBED },
        { "v1-res", "t1", "A1", "", "/club/books/{isbn}", APIGW_KEY_OK },
        /* another tenant: nothing */
        { "v1-res", "t2", "A1", "/club", "/books/{isbn}",
          APIGW_KEY_NOT_SUBSCRIBED },
        /* no path known (a target without one): never a resource */
        { "v1-res", "t1", "A1", NULL, NULL, APIGW_KEY_NOT_SUBSCRIBED },
        { "v1-res-slash", "t1", "A1", "/club", "/books", APIGW_KEY_OK },
        /* a trailing "/" of the path or the resource changes nothing */
        { "v1-res-slash", "t1", "A1", "/club", "/books/", APIGW_KEY_OK },
        { "v1-res-root", "t1", "A1", "/items", "/", APIGW_KEY_OK },
        { "v1-res", "t1", "A1", "/club", "/books/{isbn}/", APIGW_KEY_OK },
        { "v1-res", "t1", "A1", "/club", "/books/",
          APIGW_KEY_NOT_SUBSCRIBED },
        { "v1-res-slash", "t1", "A1", "/other", "/books",
          APIGW_KEY_NOT_SUBSCRIBED },
        { "v1-res-root", "t1", "A1", "", "/items", APIGW_KEY_OK },
        { "v1-res-root", "t1", "A1", "/items", "", APIGW_KEY_OK },
        { "v1-res-root", "t1", "A1", "/x", "/items",
          APIGW_KEY_NOT_SUBSCRIBED },
        { "v1-res-none", "t1", "A1", "/club", "/books", APIGW_KEY_UNKNOWN },
    };

    s = apigw_store_create();
    CHECK(s != NULL);

    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        apigw_store_sha256_hex(NULL, 0, subs[i].key, strlen(subs[i].key),
                               hex);
        v = json_pack("{s:s,s:s,s:s,s:s}", "tenant", "t1", "scope",
                      subs[i].scope, "sha256", hex, "prefix", "v1-");
        if (subs[i].field) {
            json_object_set_new(v, subs[i].field,
                                json_string(subs[i].value));
        }
        snprintf(rk, sizeof(rk), "v1sub:t1:%s:%s", subs[i].scope,
                 subs[i].key);
        CHECK(apigw_store_put(s, rk, v) == 0);
    }

    t = apigw_keytab_from_store(s, NULL);
    CHECK(t != NULL);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tg = target(cases[i].tenant, cases[i].api, "getBook");
        tg.base_path = cases[i].base;
        tg.path = cases[i].path;
        apigw_keytab_lookup(t, APIGW_KEY_API, cases[i].key,
                            strlen(cases[i].key), NULL, 0, &tg, &st);
        if (st != cases[i].status) {
            fprintf(stderr, "case %zu: %s\n", i, cases[i].key);
        }
        CHECK_INT(st, cases[i].status);
    }

    /* each key is its own consumer (all share the prefix "v1-") */
    tg = target("t1", "A1", "getBook");
    f = apigw_keytab_lookup(t, APIGW_KEY_API, "v1-api", 6, NULL, 0, &tg,
                            &st);
    apigw_sha256("v1-api", 6, h);
    apigw_key_fingerprint(h, fp);
    CHECK(f != NULL && strcmp(f->consumer, fp) == 0
          && strcmp(f->key_id, fp) == 0);
    f = apigw_keytab_lookup(t, APIGW_KEY_API, "v1-tenant", 9, NULL, 0, &tg,
                            &st);
    CHECK(f != NULL && strcmp(f->consumer, fp) != 0
          && strncmp(f->consumer, "key-", 4) == 0);

    apigw_keytab_free(t);
    apigw_store_free(s);
}


TEST(test_hex32)
{
    unsigned char  h[32];

    CHECK(apigw_hex32("00112233445566778899AABBCCDDEEFF"
                      "00112233445566778899aabbccddeeff", 64, h) == 0);
    CHECK(h[0] == 0x00 && h[9] == 0x99 && h[10] == 0xaa && h[15] == 0xff);
    CHECK(h[26] == 0xaa && h[31] == 0xff);
    CHECK(apigw_hex32("00112233445566778899aabbccddeeff"
                      "00112233445566778899aabbccddeefg", 64, h) == -1);
    CHECK(apigw_hex32("00112233445566778899aabbccddeeff"
                      "00112233445566778899aabbccddee`f", 64, h) == -1);
    CHECK(apigw_hex32("0011", 4, h) == -1);
}


int
main(void)
{
    RUN(test_hex32);
    RUN(test_salted_client);
    RUN(test_revoked_chain);
    RUN(test_from_store);
    RUN(test_v1_subscriptions);
    return UNIT_DONE();
}
