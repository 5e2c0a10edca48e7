/*
 * apigw_seal() / apigw_unseal(): the private keys of custom domains as the
 * store keeps them.  Round trips, the record binding, another key,
 * tampering at every position, truncation and the key file's text.
 */

#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "seal.h"
#include "unit.h"


static const char  hex1[] =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
static const char  hex2[] =
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";


TEST(test_key_text)
{
    char              err[128];
    apigw_seal_key_t  k, k2;

    CHECK_INT(apigw_seal_key(hex1, strlen(hex1), &k, err, sizeof(err)), 0);
    CHECK_INT(k.key[0], 0x00);
    CHECK_INT(k.key[1], 0x11);
    CHECK_INT(k.key[31], 0xff);
    CHECK_INT(strlen(k.id), 8);

    /* upper case and surrounding white space: the same key */
    CHECK_INT(apigw_seal_key("  00112233445566778899AABBCCDDEEFF"
                             "00112233445566778899aabbccddeeff \r\n", 70,
                             &k2, err, sizeof(err)), 0);
    CHECK(memcmp(k.key, k2.key, 32) == 0);
    CHECK_STR(k.id, k2.id);

    CHECK_INT(apigw_seal_key(hex2, strlen(hex2), &k2, err, sizeof(err)), 0);
    CHECK(strcmp(k.id, k2.id) != 0);

    /* too short, too long, not hex, empty */
    CHECK_INT(apigw_seal_key(hex2, 62, &k2, err, sizeof(err)), -1);
    CHECK(strstr(err, "64 hex digits") != NULL);
    CHECK_INT(apigw_seal_key("00112233445566778899aabbccddeeff00112233445566"
                             "778899aabbccddeeff00", 66, &k2, err,
                             sizeof(err)), -1);
    CHECK_INT(apigw_seal_key("0011223344556677889xaabbccddeeff001122334455"
                             "66778899aabbccddeeff", 64, &k2, err,
                             sizeof(err)), -1);
    CHECK_INT(apigw_seal_key("", 0, &k2, err, sizeof(err)), -1);
    CHECK_INT(apigw_seal_key("\n\n", 2, &k2, err, sizeof(err)), -1);
}


static void
round_trip(const apigw_seal_key_t *k, const char *text, size_t len)
{
    char    err[128], *s, *o;
    size_t  n;

    s = apigw_seal(k, "cert:api.example.test", text, len);
    CHECK(s != NULL);
    if (s == NULL) {
        return;
    }

    CHECK(apigw_sealed(s, strlen(s)));
    CHECK(strncmp(s + strlen(APIGW_SEAL_PREFIX), k->id, 8) == 0);
    /* never the text itself */
    CHECK(len < 8 || memmem(s, strlen(s), text, 8) == NULL);

    o = apigw_unseal(k, "cert:api.example.test", s, strlen(s), &n, err,
                     sizeof(err));
    CHECK(o != NULL);
    if (o) {
        CHECK_INT(n, len);
        CHECK(memcmp(o, text, len) == 0);
        CHECK_INT(o[n], '\0');
        apigw_unsealed_free(o, n);
    }

    free(s);
}


TEST(test_round_trip)
{
    char              err[128], *big;
    size_t            i;
    apigw_seal_key_t  k;

    CHECK_INT(apigw_seal_key(hex1, strlen(hex1), &k, err, sizeof(err)), 0);

    round_trip(&k, "", 0);
    round_trip(&k, "x", 1);
    round_trip(&k, "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEG"
               "CCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n", 98);

    /* every length around the base64 boundaries, and a large one */
    big = malloc(65536);
    for (i = 0; i < 65536; i++) {
        big[i] = (char) (i * 7 + 3);
    }

    for (i = 1; i < 40; i++) {
        round_trip(&k, big, i);
    }

    round_trip(&k, big, 65536);
    free(big);
}


TEST(test_nonce_is_fresh)
{
    char              err[128], *a, *b;
    apigw_seal_key_t  k;

    CHECK_INT(apigw_seal_key(hex1, strlen(hex1), &k, err, sizeof(err)), 0);
    a = apigw_seal(&k, "cert:a", "the same text", 13);
    b = apigw_seal(&k, "cert:a", "the same text", 13);
    CHECK(a && b && strcmp(a, b) != 0);
    free(a);
    free(b);
}


TEST(test_refusals)
{
    char              err[128], *s, *t, *o;
    size_t            i, n, len;
    apigw_seal_key_t  k, k2;

    CHECK_INT(apigw_seal_key(hex1, strlen(hex1), &k, err, sizeof(err)), 0);
    CHECK_INT(apigw_seal_key(hex2, strlen(hex2), &k2, err, sizeof(err)), 0);

    s = apigw_seal(&k, "cert:a.test", "secret key text", 15);
    CHECK(s != NULL);
    if (s == NULL) {
        return;
    }
    len = strlen(s);

    /* another record: the binding */
    o = apigw_unseal(&k, "cert:b.test", s, len, &n, err, sizeof(err));
    CHECK(o == NULL);
    CHECK(strstr(err, "not this record's") != NULL);

    /* another key: said as such */
    o = apigw_unseal(&k2, "cert:a.test", s, len, &n, err, sizeof(err));
    CHECK(o == NULL);
    CHECK(strstr(err, "another apigw_store_encryption_key") != NULL);

    /* any character of the body changed */
    t = strdup(s);
    for (i = strlen(APIGW_SEAL_PREFIX) + 9; i < len; i++) {
        t[i] = t[i] == 'A' ? 'B' : 'A';
        o = apigw_unseal(&k, "cert:a.test", t, len, &n, err, sizeof(err));
        CHECK(o == NULL);
        apigw_unsealed_free(o, o ? n : 0);
        t[i] = s[i];
    }
    free(t);

    /* every truncation */
    for (i = 0; i < len; i++) {
        o = apigw_unseal(&k, "cert:a.test", s, i, &n, err, sizeof(err));
        CHECK(o == NULL);
        apigw_unsealed_free(o, o ? n : 0);
    }

    /* not sealed at all: a PEM in clear, junk after the prefix */
    o = apigw_unseal(&k, "cert:a.test", "-----BEGIN PRIVATE KEY-----", 27,
                     &n, err, sizeof(err));
    CHECK(o == NULL);
    CHECK(strstr(err, "not a sealed value") != NULL);
    CHECK(!apigw_sealed("-----BEGIN", 10));
    o = apigw_unseal(&k, "cert:a.test", "apigw-sealed:1:", 15, &n, err,
                     sizeof(err));
    CHECK(o == NULL);

    free(s);
}


int
main(void)
{
    RUN(test_key_text);
    RUN(test_round_trip);
    RUN(test_nonce_is_fresh);
    RUN(test_refusals);

    return UNIT_DONE();
}
