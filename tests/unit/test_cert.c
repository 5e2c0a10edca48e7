/*
 * apigw_cert_check(): certificates made here with OpenSSL (a CA, leaves
 * with SAN names, expired and future ones), checked for every refusal
 * reason and for the normalised output.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"
#include "unit.h"


static EVP_PKEY *
key_new(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}


static X509 *
cert_new(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer,
    EVP_PKEY *issuer_key, long from, long to, int ca)
{
    X509            *x;
    X509V3_CTX       ctx;
    X509_EXTENSION  *ext;

    x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long) rand());
    X509_gmtime_adj(X509_getm_notBefore(x), from);
    X509_gmtime_adj(X509_getm_notAfter(x), to);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *) cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
                                   : X509_get_subject_name(x));

    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);

    if (san) {
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }

    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                              ca ? "critical,CA:TRUE" : "CA:FALSE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);

    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());

    return x;
}


static char *
pem_cert(X509 *x)
{
    BIO   *b;
    char  *p, *s;
    long   n;

    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    n = BIO_get_mem_data(b, &p);
    s = strndup(p, (size_t) n);
    BIO_free(b);

    return s;
}


static char *
pem_key(EVP_PKEY *k, int traditional)
{
    BIO   *b;
    char  *p, *s;
    long   n;

    b = BIO_new(BIO_s_mem());

    if (traditional) {
        PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL,
                                             NULL);
    } else {
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    }

    n = BIO_get_mem_data(b, &p);
    s = strndup(p, (size_t) n);
    BIO_free(b);

    return s;
}


static char *
cat(const char *a, const char *b)
{
    char  *s;

    s = malloc(strlen(a) + strlen(b) + 1);
    strcpy(s, a);
    strcat(s, b);

    return s;
}


static EVP_PKEY  *ca_key, *leaf_key, *other_key;
static X509      *ca, *leaf;
static char      *ca_pem, *leaf_pem, *key_pem;

#define DAY  86400L


static int
check(const char *chain, const char *key, const char *domain,
    apigw_cert_t *c, char *err)
{
    return apigw_cert_check(chain, strlen(chain), key, strlen(key), domain,
                            time(NULL), c, err, 256);
}


TEST(test_good_pair)
{
    char          err[256], *chain;
    apigw_cert_t  c;

    CHECK_INT(check(leaf_pem, key_pem, "api.example.test", &c, err), 0);
    CHECK_STR(c.subject, "CN=api.example.test");
    CHECK_STR(c.issuer, "CN=Unit CA");
    CHECK_STR(c.names, "api.example.test, www.example.test");
    CHECK_INT(c.ncerts, 1);
    CHECK_INT(strlen(c.fingerprint), 32 * 3 - 1);
    CHECK(strstr(c.key, "-----BEGIN PRIVATE KEY-----") == c.key);
    CHECK(strcmp(c.chain, leaf_pem) == 0);
    apigw_cert_free(&c);

    /* the second name; the CA after the leaf; junk around the PEM goes */
    chain = cat("subject=junk\n", leaf_pem);
    chain = cat(chain, ca_pem);
    CHECK_INT(check(chain, key_pem, "www.example.test", &c, err), 0);
    CHECK_INT(c.ncerts, 2);
    CHECK(strstr(c.chain, "junk") == NULL);
    apigw_cert_free(&c);
    free(chain);

    /* a traditional (SEC1) key is accepted and stored as PKCS#8 */
    chain = pem_key(leaf_key, 1);
    CHECK(strstr(chain, "EC PRIVATE KEY") != NULL);
    CHECK_INT(check(leaf_pem, chain, "api.example.test", &c, err), 0);
    CHECK(strstr(c.key, "-----BEGIN PRIVATE KEY-----") == c.key);
    apigw_cert_free(&c);
    free(chain);
}


TEST(test_refusals)
{
    char          err[256], *k, *chain;
    X509         *x;
    apigw_cert_t  c;

    k = pem_key(other_key, 0);
    CHECK_INT(check(leaf_pem, k, "api.example.test", &c, err), -1);
    CHECK(strstr(err, "does not match") != NULL);
    free(k);

    CHECK_INT(check(leaf_pem, key_pem, "other.test", &c, err), -1);
    CHECK(strstr(err, "does not cover other.test") != NULL);
    CHECK_INT(check(leaf_pem, key_pem, "*.example.test", &c, err), -1);
    CHECK(strstr(err, "does not cover") != NULL);

    CHECK_INT(check("garbage", key_pem, "api.example.test", &c, err), -1);
    CHECK(strstr(err, "certificate 1 of the chain does not parse") != NULL);
    CHECK_INT(check(leaf_pem, "garbage", "api.example.test", &c, err), -1);
    CHECK(strstr(err, "private key does not parse") != NULL);
    CHECK_INT(apigw_cert_check(leaf_pem, 0, key_pem, strlen(key_pem),
                               "api.example.test", time(NULL), &c, err, 256),
              -1);

    /* expired, and not valid yet */
    x = cert_new(leaf_key, "api.example.test", "DNS:api.example.test", ca,
                 ca_key, -10 * DAY, -DAY, 0);
    chain = pem_cert(x);
    CHECK_INT(check(chain, key_pem, "api.example.test", &c, err), -1);
    CHECK(strstr(err, "certificate 1 of the chain has expired") != NULL);
    free(chain);
    X509_free(x);

    x = cert_new(leaf_key, "api.example.test", "DNS:api.example.test", ca,
                 ca_key, DAY, 10 * DAY, 0);
    chain = pem_cert(x);
    CHECK_INT(check(chain, key_pem, "api.example.test", &c, err), -1);
    CHECK(strstr(err, "not valid yet") != NULL);
    free(chain);
    X509_free(x);

    /* out of order: the key's certificate is the second */
    chain = cat(ca_pem, leaf_pem);
    CHECK_INT(check(chain, key_pem, "api.example.test", &c, err), -1);
    CHECK(strstr(err, "certificate 2 of the chain is the private key's")
          != NULL);
    free(chain);

    /* an encrypted key */
    {
        BIO   *b;
        char  *p;
        long   n;

        b = BIO_new(BIO_s_mem());
        PEM_write_bio_PrivateKey(b, leaf_key, EVP_aes_256_cbc(), NULL, 0,
                                 NULL, (void *) "secret");
        n = BIO_get_mem_data(b, &p);
        k = strndup(p, (size_t) n);
        BIO_free(b);
        CHECK_INT(check(leaf_pem, k, "api.example.test", &c, err), -1);
        CHECK(strstr(err, "private key does not parse") != NULL);
        free(k);
    }

    /* what TLS would refuse: a 1024-bit RSA key, a SHA-1 signature */
    {
        EVP_PKEY  *weak;

        weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
        x = cert_new(weak, "api.example.test", "DNS:api.example.test", ca,
                     ca_key, -DAY, DAY, 0);
        chain = pem_cert(x);
        k = pem_key(weak, 0);
        CHECK_INT(check(chain, k, "api.example.test", &c, err), -1);
        CHECK(strstr(err, "certificate 1 of the chain has a key too weak")
              != NULL);
        free(chain);
        free(k);
        X509_free(x);
        EVP_PKEY_free(weak);

        x = cert_new(leaf_key, "api.example.test", "DNS:api.example.test",
                     ca, ca_key, -DAY, DAY, 0);
        X509_sign(x, ca_key, EVP_sha1());
        chain = pem_cert(x);
        CHECK_INT(check(chain, key_pem, "api.example.test", &c, err), -1);
        CHECK(strstr(err, "certificate 1 of the chain is signed with a "
                          "digest too weak") != NULL);
        free(chain);
        X509_free(x);
    }

    /* no SAN: the CN counts (X509_check_host's fallback) */
    x = cert_new(leaf_key, "cn.example.test", NULL, ca, ca_key, -DAY, DAY, 0);
    chain = pem_cert(x);
    CHECK_INT(check(chain, key_pem, "cn.example.test", &c, err), 0);
    apigw_cert_free(&c);
    free(chain);
    X509_free(x);
}


TEST(test_wildcard)
{
    char          err[256], *chain;
    X509         *x;
    apigw_cert_t  c;

    x = cert_new(leaf_key, "*.wild.test", "DNS:*.wild.test", ca, ca_key,
                 -DAY, DAY, 0);
    chain = pem_cert(x);
    CHECK_INT(check(chain, key_pem, "*.wild.test", &c, err), 0);
    apigw_cert_free(&c);
    CHECK_INT(check(chain, key_pem, "a.wild.test", &c, err), 0);
    apigw_cert_free(&c);
    CHECK_INT(check(chain, key_pem, "a.b.wild.test", &c, err), -1);
    CHECK_INT(check(chain, key_pem, "*.other.test", &c, err), -1);
    free(chain);
    X509_free(x);
}


int
main(void)
{
    srand(7);
    ca_key = key_new();
    leaf_key = key_new();
    other_key = key_new();
    ca = cert_new(ca_key, "Unit CA", NULL, NULL, NULL, -DAY, 10 * DAY, 1);
    leaf = cert_new(leaf_key, "api.example.test",
                    "DNS:api.example.test,DNS:www.example.test", ca, ca_key,
                    -DAY, 2 * DAY, 0);
    ca_pem = pem_cert(ca);
    leaf_pem = pem_cert(leaf);
    key_pem = pem_key(leaf_key, 0);

    RUN(test_good_pair);
    RUN(test_refusals);
    RUN(test_wildcard);

    return UNIT_DONE();
}
