/*
 * apigw_jwt_verify() on arbitrary tokens against a fixed key set (RSA,
 * EC P-256, Ed25519, an HS secret): no crash, no leak, and a token that
 * verifies carries the claims the policy demands.
 */

#include <stdlib.h>
#include <string.h>

#include "apigw.h"
#include "auth.h"


static const char  jwks_text[] =
    "{\"keys\": [{\"kty\": \"RSA\", \"n\": \"4q60iDZs2MEdI49azDji-AH7"
    "M4UhSKRT4CtS8iAME5vWnyNFFDLS_hbvSvPqnYAhlimeDJIV_3wdepryDReLGfqc"
    "cvwCTBwdjwcY_L00MLNM8p4FJ0pROL24aBlf4IDTVe3tBO1ClY7e45BlmlCUEF3S"
    "aF2vBiFVopk8PXqJ0cSr5Hf1TjC7h9tS8yzEvXERsyJg--wU4PkEsrHPROEMGfGs"
    "F3NQkfJM8kGUaxeaZg5OIq2XeHyscZMjwp6O7o4EOLL1IsiTjrWrrXky0wp9rY5T"
    "FEcWPvWhTh0OOuTWAFLO2puDDqXooT5gIqDl7Q5z4aHG7L4e8zESw5lQMpBaNQ\""
    ", \"e\": \"AQAB\", \"kid\": \"r\", \"use\": \"sig\"}, {\"kty\": "
    "\"EC\", \"crv\": \"P-256\", \"x\": \"8NmaitS6HpnlMm22skatyZ0hp5l"
    "CF4WHwY9VJJG-eDg\", \"y\": \"vA8X9JM9UG2POk6PYKRO36GWVpn3rjNA_bs"
    "iuxawHj8\", \"kid\": \"e\", \"use\": \"sig\"}, {\"kty\": \"OKP\""
    ", \"crv\": \"Ed25519\", \"x\": \"W8OGHRVLBxgq34lF5W691UC7L6OM1_c"
    "nkF71hAIRnX4\", \"kid\": \"d\", \"use\": \"sig\"}, {\"kty\": \"o"
    "ct\", \"k\": \"a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s\", \""
    "kid\": \"h\", \"use\": \"sig\"}]}";

static apigw_jwks_t  *jwks;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                err[128];
    const char         *aud[] = { "a" };
    apigw_jwt_result_t  res;
    apigw_jwt_policy_t  pol;

    if (jwks == NULL) {
        jwks = apigw_jwks_parse(jwks_text, sizeof(jwks_text) - 1, NULL, err,
                                sizeof(err));
        if (jwks == NULL || jwks->n != 4) {
            abort();
        }
    }

    memset(&pol, 0, sizeof(pol));
    pol.issuer = "i";
    pol.audiences = aud;
    pol.naudiences = 1;
    pol.leeway = 30;
    pol.algorithms = (size & 1) ? 0 : 0xffffu & ~1u;

    if (apigw_jwt_verify((const char *) data, size, jwks, &pol, 1700000000,
                         &res)
        == APIGW_JWT_OK)
    {
        if (res.payload == NULL || res.alg == APIGW_JWA_NONE
            || res.exp < 1700000000 - 30)
        {
            abort();
        }
        apigw_jwt_result_free(&res);
    }

    return 0;
}
