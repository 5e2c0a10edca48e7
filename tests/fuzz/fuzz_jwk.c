/*
 * apigw_jwks_parse() (JWKS documents and single JWKs) and the keys file
 * parser on arbitrary bytes: no crash, no leak; every key parsed is usable.
 */

#include <stdlib.h>
#include <string.h>

#include "apigw.h"
#include "auth.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char               err[128];
    size_t             i, skipped;
    apigw_jwks_t      *ks;
    apigw_keytab_t    *t;
    apigw_problems_t   probs;

    ks = apigw_jwks_parse((const char *) data, size, &skipped, err,
                          sizeof(err));

    if (ks) {
        for (i = 0; i < ks->n; i++) {
            if ((ks->keys[i].pkey == NULL) == (ks->keys[i].secret == NULL)
                || ks->keys[i].algs == 0)
            {
                abort();
            }
        }
        apigw_jwks_free(ks);
    }

    apigw_problems_init(&probs);
    t = apigw_keytab_parse((const char *) data, size, "f", &probs);
    if (t == NULL && probs.nerrors == 0) {
        abort();
    }
    apigw_keytab_free(t);
    apigw_problems_free(&probs);

    return 0;
}
