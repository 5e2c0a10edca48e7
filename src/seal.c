/*
 * apigw sealed secrets: AES-256-GCM under the operator's key (seal.h).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "auth.h"
#include "seal.h"
#include "store.h"


#define SEAL_NONCE  12
#define SEAL_TAG    16
#define SEAL_MAX    (1024 * 1024)       /* far above any PEM key */


static const char  seal_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static void
seal_err(char *err, size_t errlen, const char *msg)
{
    if (errlen) {
        (void) snprintf(err, errlen, "%s", msg);
    }
}


int
apigw_seal_key(const char *text, size_t len, apigw_seal_key_t *k, char *err,
    size_t errlen)
{
    int                hi, lo;
    char               hex[65];
    size_t             i;
    static const char  label[] = "apigw seal key id";

    while (len && strchr(" \t\r\n", text[len - 1])) {
        len--;
    }

    while (len && strchr(" \t\r\n", text[0])) {
        text++;
        len--;
    }

    if (len != 2 * APIGW_SEAL_KEY_LEN) {
        seal_err(err, errlen, "must hold 32 bytes as 64 hex digits "
                 "(openssl rand -hex 32)");
        return -1;
    }

    for (i = 0; i < APIGW_SEAL_KEY_LEN; i++) {
        hi = apigw_hex((unsigned char) text[2 * i]);
        lo = apigw_hex((unsigned char) text[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(k->key, sizeof(k->key));
            seal_err(err, errlen, "must hold 32 bytes as 64 hex digits "
                     "(openssl rand -hex 32)");
            return -1;
        }

        k->key[i] = (unsigned char) (hi << 4 | lo);
    }

    /* an id that names the key without helping to find it */
    apigw_store_sha256_hex(label, sizeof(label) - 1, k->key, sizeof(k->key),
                           hex);
    memcpy(k->id, hex, 8);
    k->id[8] = '\0';
    OPENSSL_cleanse(hex, sizeof(hex));

    return 0;
}


int
apigw_sealed(const char *s, size_t len)
{
    return len >= sizeof(APIGW_SEAL_PREFIX) - 1
           && memcmp(s, APIGW_SEAL_PREFIX, sizeof(APIGW_SEAL_PREFIX) - 1)
              == 0;
}


/* one AES-256-GCM pass: enc 1 seals (tag out), 0 opens (tag in) */
static int
seal_gcm(int enc, const unsigned char *key, const unsigned char *nonce,
    const char *aad, const unsigned char *in, size_t len, unsigned char *out,
    unsigned char *tag)
{
    int              n, ok;
    EVP_CIPHER_CTX  *c;

    c = EVP_CIPHER_CTX_new();
    if (c == NULL) {
        return -1;
    }

    ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1
         && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE, NULL)
            == 1
         && EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1
         && EVP_CipherUpdate(c, NULL, &n, (const unsigned char *) aad,
                             (int) strlen(aad)) == 1
         && (len == 0
             || EVP_CipherUpdate(c, out, &n, in, (int) len) == 1)
         && (enc
             || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag)
                == 1)
         && EVP_CipherFinal_ex(c, out + len, &n) == 1
         && (!enc
             || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag)
                == 1);

    EVP_CIPHER_CTX_free(c);

    return ok ? 0 : -1;
}


char *
apigw_seal(const apigw_seal_key_t *k, const char *aad, const char *in,
    size_t len)
{
    char           *out, *p;
    size_t          i, n, plen;
    uint32_t        acc;
    unsigned        bits;
    unsigned char  *raw;

    if (len > SEAL_MAX) {
        return NULL;
    }

    n = SEAL_NONCE + len + SEAL_TAG;
    raw = malloc(n);
    plen = sizeof(APIGW_SEAL_PREFIX) - 1 + 9;
    out = malloc(plen + (n * 4 + 2) / 3 + 1);

    if (raw == NULL || out == NULL
        || RAND_bytes(raw, SEAL_NONCE) != 1
        || seal_gcm(1, k->key, raw, aad, (const unsigned char *) in, len,
                    raw + SEAL_NONCE, raw + SEAL_NONCE + len)
           != 0)
    {
        free(raw);
        free(out);
        return NULL;
    }

    memcpy(out, APIGW_SEAL_PREFIX, sizeof(APIGW_SEAL_PREFIX) - 1);
    memcpy(out + sizeof(APIGW_SEAL_PREFIX) - 1, k->id, 8);
    out[plen - 1] = ':';

    p = out + plen;
    acc = 0;
    bits = 0;

    for (i = 0; i < n; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;

        while (bits >= 6) {
            bits -= 6;
            *p++ = seal_b64[(acc >> bits) & 63];
        }

        acc &= (1u << bits) - 1;
    }

    if (bits) {
        *p++ = seal_b64[(acc << (6 - bits)) & 63];
    }

    *p = '\0';

    free(raw);

    return out;
}


char *
apigw_unseal(const apigw_seal_key_t *k, const char *aad, const char *in,
    size_t len, size_t *out_len, char *err, size_t errlen)
{
    long            n;
    char           *out;
    size_t          plen, m;
    unsigned char  *raw;

    plen = sizeof(APIGW_SEAL_PREFIX) - 1 + 9;

    if (!apigw_sealed(in, len) || len < plen || in[plen - 1] != ':') {
        seal_err(err, errlen, "is not a sealed value");
        return NULL;
    }

    if (CRYPTO_memcmp(in + sizeof(APIGW_SEAL_PREFIX) - 1, k->id, 8) != 0) {
        seal_err(err, errlen, "was encrypted with another "
                 "apigw_store_encryption_key");
        return NULL;
    }

    in += plen;
    len -= plen;

    if (len > (SEAL_NONCE + SEAL_MAX + SEAL_TAG) / 3 * 4 + 4) {
        seal_err(err, errlen, "is too long");
        return NULL;
    }

    raw = malloc(len / 4 * 3 + 3);
    if (raw == NULL) {
        seal_err(err, errlen, "could not be decrypted: out of memory");
        return NULL;
    }

    n = apigw_b64url_decode(in, len, raw);

    if (n < SEAL_NONCE + SEAL_TAG) {
        free(raw);
        seal_err(err, errlen, "is not a sealed value");
        return NULL;
    }

    m = (size_t) n - SEAL_NONCE - SEAL_TAG;
    out = malloc(m + 1);

    if (out == NULL
        || seal_gcm(0, k->key, raw, aad, raw + SEAL_NONCE, m,
                    (unsigned char *) out, raw + SEAL_NONCE + m)
           != 0)
    {
        if (out) {
            OPENSSL_cleanse(out, m + 1);
        }

        free(out);
        free(raw);
        seal_err(err, errlen, "does not decrypt: altered, or not this "
                 "record's");
        return NULL;
    }

    free(raw);
    out[m] = '\0';
    *out_len = m;

    return out;
}


void
apigw_unsealed_free(char *p, size_t len)
{
    if (p) {
        OPENSSL_cleanse(p, len);
        free(p);
    }
}
