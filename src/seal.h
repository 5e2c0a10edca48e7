/*
 * apigw sealed secrets: what the store must keep but not in clear (the
 * private keys of custom domains) is kept as AES-256-GCM under the
 * operator's key (apigw_store_encryption_key), bound to the record it
 * belongs to (the additional authenticated data), so a copy of the store
 * (a snapshot, a journal, a Redis dump or replica) holds no usable key and
 * a sealed value moved to another record does not open.
 *
 *     apigw-sealed:1:<key id>:<base64url(nonce[12] | ciphertext | tag[16])>
 *
 * The key id (8 hex digits of a SHA-256 of the key) tells "sealed under
 * another key" apart from "tampered with".
 *
 * Plain C, no nginx headers.
 */

#ifndef APIGW_SEAL_H
#define APIGW_SEAL_H

#include <stddef.h>


#define APIGW_SEAL_KEY_LEN  32
#define APIGW_SEAL_PREFIX   "apigw-sealed:1:"


typedef struct {
    unsigned char  key[APIGW_SEAL_KEY_LEN];
    char           id[9];      /* 8 hex digits */
} apigw_seal_key_t;


/*
 * A key from the text of a key file: 64 hex digits, surrounding white
 * space ignored (what `openssl rand -hex 32` writes).  0, or -1 with the
 * reason in err.
 */
int apigw_seal_key(const char *text, size_t len, apigw_seal_key_t *k,
    char *err, size_t errlen);

/* the value looks sealed (whatever its key) */
int apigw_sealed(const char *s, size_t len);

/* a malloc()ed NUL-terminated sealed text, or NULL (out of memory) */
char *apigw_seal(const apigw_seal_key_t *k, const char *aad, const char *in,
    size_t len);

/*
 * The malloc()ed plain text (NUL-terminated, its length in *out_len), or
 * NULL with the reason in err: not sealed, sealed under another key, or
 * tampered with (or sealed for another record).  Never the text in err.
 */
char *apigw_unseal(const apigw_seal_key_t *k, const char *aad,
    const char *in, size_t len, size_t *out_len, char *err, size_t errlen);

/* zeroes and frees what apigw_unseal() returned */
void apigw_unsealed_free(char *p, size_t len);

#endif /* APIGW_SEAL_H */
