/*
 * apigw_cert_check() (certificate chains and private keys uploaded through
 * the management API) on arbitrary bytes: the input is the chain, a NUL,
 * then the key.  No crash, no leak; an accepted pair has every field.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          err[512];
    const char   *key, *nul;
    size_t        clen, klen;
    apigw_cert_t  c;

    nul = memchr(data, '\0', size);

    if (nul) {
        clen = (size_t) (nul - (const char *) data);
        key = nul + 1;
        klen = size - clen - 1;

    } else {
        clen = size;
        key = "";
        klen = 0;
    }

    if (apigw_cert_check((const char *) data, clen, key, klen,
                         "fuzz.example.test", (time_t) 2000000000, &c, err,
                         sizeof(err))
        == 0)
    {
        if (c.chain == NULL || c.key == NULL || c.fingerprint == NULL
            || c.names == NULL || c.ncerts < 1)
        {
            abort();
        }

        apigw_cert_free(&c);

    } else if (err[0] == '\0') {
        abort();
    }

    return 0;
}
