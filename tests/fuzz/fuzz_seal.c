/*
 * apigw_unseal() (the sealed private keys read back from the store, which
 * on Redis other nodes and anyone with access to it can write) on arbitrary
 * bytes: the record's name, a NUL, then the value.  No crash, no leak; the
 * input sealed again always opens to itself.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seal.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                     err[256], aad[64], *o, *s;
    size_t                   n, alen;
    const char              *in, *nul;
    static int               ready;
    static apigw_seal_key_t  k;

    if (!ready) {
        if (apigw_seal_key("000102030405060708090a0b0c0d0e0f"
                           "101112131415161718191a1b1c1d1e1f", 64, &k, err,
                           sizeof(err))
            != 0)
        {
            abort();
        }

        ready = 1;
    }

    nul = memchr(data, '\0', size < sizeof(aad) ? size : sizeof(aad));
    alen = nul ? (size_t) (nul - (const char *) data) : 0;
    memcpy(aad, data, alen);
    aad[alen] = '\0';
    in = nul ? nul + 1 : (const char *) data;
    size -= nul ? alen + 1 : 0;

    o = apigw_unseal(&k, aad, in, size, &n, err, sizeof(err));
    apigw_unsealed_free(o, o ? n : 0);

    s = apigw_seal(&k, aad, in, size);
    if (s == NULL) {
        abort();
    }

    o = apigw_unseal(&k, aad, s, strlen(s), &n, err, sizeof(err));
    if (o == NULL || n != size || memcmp(o, in, size) != 0) {
        abort();
    }

    apigw_unsealed_free(o, n);
    free(s);

    return 0;
}
