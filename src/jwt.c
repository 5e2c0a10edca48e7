/*
 * JWK / JWKS to OpenSSL keys, and JWT (compact JWS) verification with
 * OpenSSL directly (libjwt 1.10 takes the algorithm from the token, has no
 * PS / EdDSA and compares HMACs with strcmp).
 *
 * The algorithm is pinned: it must be allowed by the policy, by the key's
 * type and by the key's own "alg"; "none" never verifies.  ES signatures
 * are raw r||s of the exact length (a DER signature is refused) and are
 * converted to DER for OpenSSL.  Parsing is strict: base64url without
 * padding or whitespace, JSON without duplicate keys, size caps before any
 * crypto.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "apigw.h"
#include "auth.h"


static const char  *apigw_jwa_names[APIGW_JWA_COUNT] = {
    "none",
    "HS256", "HS384", "HS512",
    "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512",
    "EdDSA"
};


apigw_jwa_e
apigw_jwa_parse(const char *s, size_t len)
{
    int  i;

    for (i = 1; i < APIGW_JWA_COUNT; i++) {
        if (strlen(apigw_jwa_names[i]) == len
            && memcmp(apigw_jwa_names[i], s, len) == 0)
        {
            return (apigw_jwa_e) i;
        }
    }

    return APIGW_JWA_NONE;
}


const char *
apigw_jwa_name(apigw_jwa_e a)
{
    return (unsigned) a < APIGW_JWA_COUNT ? apigw_jwa_names[a] : "?";
}


const char *
apigw_jwt_status_name(apigw_jwt_status_e s)
{
    static const char  *names[] = {
        "ok", "malformed", "too_large", "algorithm", "unknown_kid",
        "no_keys", "signature", "expired", "not_yet_valid", "issuer",
        "audience", "claim_missing", "out_of_memory"
    };

    return (unsigned) s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}


/* ---- base64url ---- */

long
apigw_b64url_decode(const char *s, size_t len, unsigned char *out)
{
    size_t    i, n;
    int       v;
    uint32_t  acc;
    unsigned  bits;

    if (len % 4 == 1) {
        return -1;
    }

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) s[i];

        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '-') {
            v = 62;
        } else if (c == '_') {
            v = 63;
        } else {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    /* the unused low bits of the last character must be zero (canonical) */
    if (acc != 0) {
        return -1;
    }

    return (long) n;
}


/* decode a JSON member holding base64url into a new buffer */
static unsigned char *
apigw_b64_member(json_t *obj, const char *key, size_t *len)
{
    long            n;
    json_t         *v;
    const char     *s;
    unsigned char  *buf;

    v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        return NULL;
    }

    s = json_string_value(v);

    if (json_string_length(v) == 0 || json_string_length(v) > 8192) {
        return NULL;
    }

    buf = malloc(json_string_length(v));
    if (buf == NULL) {
        return NULL;
    }

    n = apigw_b64url_decode(s, json_string_length(v), buf);
    if (n <= 0) {
        free(buf);
        return NULL;
    }

    *len = (size_t) n;
    return buf;
}


/* ---- JWK ---- */

static EVP_PKEY *
apigw_jwk_rsa(json_t *jwk)
{
    size_t           nl, el;
    BIGNUM          *n, *e;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    EVP_PKEY_CTX    *ctx;
    unsigned char   *nb, *eb;
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    params = NULL;
    ctx = NULL;
    n = NULL;
    e = NULL;
    bld = NULL;

    nb = apigw_b64_member(jwk, "n", &nl);
    eb = apigw_b64_member(jwk, "e", &el);

    /* 2048 bits at least; e at most 64 bits */
    if (nb == NULL || eb == NULL || nl < 256 || nl > 1024 || el > 8) {
        goto done;
    }

    n = BN_bin2bn(nb, (int) nl, NULL);
    e = BN_bin2bn(eb, (int) el, NULL);
    bld = OSSL_PARAM_BLD_new();

    /* the modulus's own size: leading zero bytes do not make it longer */
    if (n == NULL || BN_num_bits(n) < 2048 || e == NULL || bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
    {
        goto done;
    }

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);

    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    {
        pkey = NULL;
    }

done:

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(nb);
    free(eb);

    return pkey;
}


static EVP_PKEY *
apigw_jwk_ec(json_t *jwk, const char *crv, apigw_jwa_e *alg)
{
    size_t           xl, yl, cl;
    EVP_PKEY        *pkey;
    OSSL_PARAM      *params;
    const char      *group;
    EVP_PKEY_CTX    *ctx;
    unsigned char   *x, *y, pub[1 + 2 * 66];
    OSSL_PARAM_BLD  *bld;

    if (strcmp(crv, "P-256") == 0) {
        group = "prime256v1"; cl = 32; *alg = APIGW_JWA_ES256;
    } else if (strcmp(crv, "P-384") == 0) {
        group = "secp384r1"; cl = 48; *alg = APIGW_JWA_ES384;
    } else if (strcmp(crv, "P-521") == 0) {
        group = "secp521r1"; cl = 66; *alg = APIGW_JWA_ES512;
    } else {
        return NULL;
    }

    pkey = NULL;
    params = NULL;
    ctx = NULL;
    bld = NULL;

    x = apigw_b64_member(jwk, "x", &xl);
    y = apigw_b64_member(jwk, "y", &yl);

    if (x == NULL || y == NULL || xl != cl || yl != cl) {
        goto done;
    }

    pub[0] = 0x04;
    memcpy(pub + 1, x, cl);
    memcpy(pub + 1 + cl, y, cl);

    bld = OSSL_PARAM_BLD_new();

    if (bld == NULL
        || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            group, 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             pub, 1 + 2 * cl)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
    {
        goto done;
    }

    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

    /* fromdata checks that the point is on the curve */
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    {
        pkey = NULL;
    }

done:

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);

    return pkey;
}


static void
apigw_jwk_clear(apigw_jwk_t *k)
{
    free(k->kid);
    EVP_PKEY_free(k->pkey);

    if (k->secret) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }

    memset(k, 0, sizeof(*k));
}


/* 0: a usable key in *k; -1: skipped */
static int
apigw_jwk_one(json_t *jwk, apigw_jwk_t *k)
{
    size_t       xl, i;
    json_t      *v, *op;
    const char  *kty, *crv;
    apigw_jwa_e  ecalg = APIGW_JWA_NONE;
    unsigned char  *x;

    memset(k, 0, sizeof(*k));

    if (!json_is_object(jwk)) {
        return -1;
    }

    v = json_object_get(jwk, "use");
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), "sig"))) {
        return -1;
    }

    /* key_ops, when given, must allow verification (RFC 7517 4.3) */
    v = json_object_get(jwk, "key_ops");
    if (v) {
        if (!json_is_array(v)) {
            return -1;
        }

        json_array_foreach(v, i, op) {
            if (json_is_string(op)
                && strcmp(json_string_value(op), "verify") == 0)
            {
                break;
            }
        }

        if (i == json_array_size(v)) {
            return -1;
        }
    }

    kty = json_string_value(json_object_get(jwk, "kty"));
    if (kty == NULL) {
        return -1;
    }

    v = json_object_get(jwk, "alg");
    if (v) {
        if (!json_is_string(v)) {
            return -1;
        }

        k->alg = apigw_jwa_parse(json_string_value(v),
                                 json_string_length(v));
        if (k->alg == APIGW_JWA_NONE) {
            return -1;
        }
    }

    v = json_object_get(jwk, "kid");
    if (v) {
        if (!json_is_string(v) || json_string_length(v) > 128) {
            return -1;
        }

        k->kid = strdup(json_string_value(v));
        if (k->kid == NULL) {
            return -1;
        }
    }

    if (strcmp(kty, "RSA") == 0) {
        k->algs = (0x7u << APIGW_JWA_RS256) | (0x7u << APIGW_JWA_PS256);
        k->pkey = apigw_jwk_rsa(jwk);

    } else if (strcmp(kty, "EC") == 0) {
        crv = json_string_value(json_object_get(jwk, "crv"));
        if (crv) {
            k->pkey = apigw_jwk_ec(jwk, crv, &ecalg);
            k->algs = 1u << ecalg;
        }

    } else if (strcmp(kty, "OKP") == 0) {
        crv = json_string_value(json_object_get(jwk, "crv"));
        if (crv && strcmp(crv, "Ed25519") == 0) {
            x = apigw_b64_member(jwk, "x", &xl);
            if (x && xl == 32) {
                k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519,
                                                      NULL, x, xl);
            }
            free(x);
            k->algs = 1u << APIGW_JWA_EDDSA;
        }

    } else if (strcmp(kty, "oct") == 0) {
        k->secret = apigw_b64_member(jwk, "k", &k->secret_len);
        k->algs = APIGW_JWA_HS_MASK;

        /* at least as long as the shortest HMAC output */
        if (k->secret && k->secret_len < 32) {
            OPENSSL_cleanse(k->secret, k->secret_len);
            free(k->secret);
            k->secret = NULL;
        }
    }

    if ((k->pkey == NULL && k->secret == NULL)
        || (k->alg != APIGW_JWA_NONE && !(k->algs & (1u << k->alg))))
    {
        apigw_jwk_clear(k);
        return -1;
    }

    return 0;
}


void
apigw_jwks_free(apigw_jwks_t *ks)
{
    size_t  i;

    if (ks == NULL) {
        return;
    }

    for (i = 0; i < ks->n; i++) {
        apigw_jwk_clear(&ks->keys[i]);
    }

    free(ks->keys);
    free(ks);
}


apigw_jwks_t *
apigw_jwks_parse(const char *buf, size_t len, size_t *skipped, char *err,
    size_t errlen)
{
    size_t         i, n, skip;
    json_t        *root, *keys, *one;
    apigw_jwks_t  *ks;
    json_error_t   jerr;

    skip = 0;
    ks = NULL;

    if (skipped) {
        *skipped = 0;
    }

    if (len > APIGW_JWKS_MAX_SIZE) {
        snprintf(err, errlen, "larger than %d bytes", APIGW_JWKS_MAX_SIZE);
        return NULL;
    }

    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, errlen, "invalid JSON: %s (line %d)", jerr.text,
                 jerr.line);
        return NULL;
    }

    if (!json_is_object(root)) {
        snprintf(err, errlen, "not a JSON object");
        goto done;
    }

    keys = json_object_get(root, "keys");

    if (keys == NULL && json_object_get(root, "kty")) {
        one = root;
        n = 1;

    } else if (!json_is_array(keys)) {
        snprintf(err, errlen, "no \"keys\" array");
        goto done;

    } else {
        one = NULL;
        n = json_array_size(keys);
    }

    if (n > APIGW_JWKS_MAX_KEYS) {
        snprintf(err, errlen, "more than %d keys", APIGW_JWKS_MAX_KEYS);
        goto done;
    }

    ks = calloc(1, sizeof(apigw_jwks_t));
    if (ks == NULL || (ks->keys = calloc(n ? n : 1, sizeof(apigw_jwk_t)))
                      == NULL)
    {
        snprintf(err, errlen, "out of memory");
        free(ks);
        ks = NULL;
        goto done;
    }

    for (i = 0; i < n; i++) {
        if (apigw_jwk_one(one ? one : json_array_get(keys, i),
                          &ks->keys[ks->n])
            == 0)
        {
            ks->n++;
        } else {
            skip++;
        }
    }

    if (ks->n == 0) {
        snprintf(err, errlen, "no usable key (%zu skipped)", skip);
        apigw_jwks_free(ks);
        ks = NULL;
    }

done:

    json_decref(root);

    if (skipped) {
        *skipped = skip;
    }

    return ks;
}


apigw_jwks_t *
apigw_jwks_from_secret(const unsigned char *s, size_t len)
{
    apigw_jwks_t  *ks;

    if (len < 32) {
        return NULL;
    }

    ks = calloc(1, sizeof(apigw_jwks_t));
    if (ks == NULL) {
        return NULL;
    }

    ks->keys = calloc(1, sizeof(apigw_jwk_t));
    if (ks->keys == NULL || (ks->keys[0].secret = malloc(len)) == NULL) {
        apigw_jwks_free(ks);
        return NULL;
    }

    memcpy(ks->keys[0].secret, s, len);
    ks->keys[0].secret_len = len;
    ks->keys[0].algs = APIGW_JWA_HS_MASK;
    ks->n = 1;

    return ks;
}


/* ---- JWT ---- */

static const EVP_MD *
apigw_jwa_md(apigw_jwa_e a)
{
    switch (a) {
    case APIGW_JWA_HS256: case APIGW_JWA_RS256: case APIGW_JWA_PS256:
    case APIGW_JWA_ES256:
        return EVP_sha256();
    case APIGW_JWA_HS384: case APIGW_JWA_RS384: case APIGW_JWA_PS384:
    case APIGW_JWA_ES384:
        return EVP_sha384();
    case APIGW_JWA_HS512: case APIGW_JWA_RS512: case APIGW_JWA_PS512:
    case APIGW_JWA_ES512:
        return EVP_sha512();
    default:
        return NULL;
    }
}


static int
apigw_jwt_hmac(const apigw_jwk_t *k, apigw_jwa_e alg, const char *in,
    size_t inl, const unsigned char *sig, size_t sigl)
{
    unsigned int   ml;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (k->secret == NULL
        || HMAC(apigw_jwa_md(alg), k->secret, (int) k->secret_len,
                (const unsigned char *) in, inl, mac, &ml) == NULL)
    {
        return -1;
    }

    if (ml != sigl || CRYPTO_memcmp(mac, sig, ml) != 0) {
        return -1;
    }

    return 0;
}


static int
apigw_jwt_pkey(const apigw_jwk_t *k, apigw_jwa_e alg, const char *in,
    size_t inl, const unsigned char *sig, size_t sigl)
{
    int              ok, der_len;
    size_t           cl;
    BIGNUM          *r, *s;
    EVP_MD_CTX      *md;
    ECDSA_SIG       *es;
    EVP_PKEY_CTX    *pctx;
    const EVP_MD    *dg;
    unsigned char   *der;

    if (k->pkey == NULL) {
        return -1;
    }

    ok = 0;
    der = NULL;
    dg = apigw_jwa_md(alg);

    if (alg >= APIGW_JWA_ES256 && alg <= APIGW_JWA_ES512) {
        cl = alg == APIGW_JWA_ES256 ? 32 : alg == APIGW_JWA_ES384 ? 48 : 66;

        if (sigl != 2 * cl) {
            return -1;
        }

        r = BN_bin2bn(sig, (int) cl, NULL);
        s = BN_bin2bn(sig + cl, (int) cl, NULL);
        es = ECDSA_SIG_new();

        if (r == NULL || s == NULL || es == NULL || BN_is_zero(r)
            || BN_is_zero(s) || !ECDSA_SIG_set0(es, r, s))
        {
            BN_free(r);
            BN_free(s);
            ECDSA_SIG_free(es);
            return -1;
        }

        der_len = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);

        if (der_len <= 0) {
            return -1;
        }

        sig = der;
        sigl = (size_t) der_len;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        OPENSSL_free(der);
        return -1;
    }

    pctx = NULL;

    if (EVP_DigestVerifyInit(md, &pctx, alg == APIGW_JWA_EDDSA ? NULL : dg,
                             NULL, k->pkey) == 1)
    {
        if (alg >= APIGW_JWA_PS256 && alg <= APIGW_JWA_PS512) {
            if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING)
                    <= 0
                || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                    RSA_PSS_SALTLEN_DIGEST)
                    <= 0
                || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, dg) <= 0)
            {
                goto done;
            }
        }

        ok = EVP_DigestVerify(md, sig, sigl, (const unsigned char *) in,
                              inl) == 1;
    }

done:

    EVP_MD_CTX_free(md);
    OPENSSL_free(der);

    return ok ? 0 : -1;
}


static json_t *
apigw_jwt_json(const char *s, size_t len)
{
    long            n;
    json_t         *j;
    unsigned char  *buf;

    buf = malloc(len / 4 * 3 + 3);
    if (buf == NULL) {
        return NULL;
    }

    n = apigw_b64url_decode(s, len, buf);
    if (n <= 0) {
        free(buf);
        return NULL;
    }

    j = json_loadb((char *) buf, (size_t) n, JSON_REJECT_DUPLICATES, NULL);
    free(buf);

    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }

    return j;
}


/* a NumericDate claim: -1 absent, -2 not a number, else 0 and *out */
static int
apigw_jwt_time(json_t *payload, const char *name, double *out)
{
    json_t  *v;

    v = json_object_get(payload, name);
    if (v == NULL) {
        return -1;
    }

    if (!json_is_number(v)) {
        return -2;
    }

    *out = json_number_value(v);
    return 0;
}


int
apigw_scope_has(const char *scopes, const char *scope)
{
    size_t       n;
    const char  *p, *e;

    if (scopes == NULL) {
        return 0;
    }

    n = strlen(scope);

    for (p = scopes; *p; p = e) {
        while (*p == ' ') {
            p++;
        }

        e = p;
        while (*e && *e != ' ') {
            e++;
        }

        if ((size_t) (e - p) == n && n && memcmp(p, scope, n) == 0) {
            return 1;
        }
    }

    return 0;
}


static char *
apigw_jwt_scopes(json_t *payload)
{
    char    *s, *p;
    size_t   i, len;
    json_t  *v, *e;

    /* "scope" (a string, or an array as some IdPs send it), else "scp" */

    v = json_object_get(payload, "scope");
    if (!json_is_string(v) && !json_is_array(v)) {
        v = json_object_get(payload, "scp");
    }

    if (json_is_string(v)) {
        return strdup(json_string_value(v));
    }

    if (!json_is_array(v)) {
        return NULL;
    }

    len = 1;
    json_array_foreach(v, i, e) {
        if (json_is_string(e)) {
            len += json_string_length(e) + 1;
        }
    }

    s = malloc(len);
    if (s == NULL) {
        return NULL;
    }

    p = s;
    json_array_foreach(v, i, e) {
        if (json_is_string(e) && json_string_length(e)
            && strchr(json_string_value(e), ' ') == NULL)
        {
            if (p != s) {
                *p++ = ' ';
            }
            memcpy(p, json_string_value(e), json_string_length(e));
            p += json_string_length(e);
        }
    }

    *p = '\0';
    return s;
}


static int
apigw_jwt_aud_ok(json_t *payload, const apigw_jwt_policy_t *pol)
{
    size_t   i, k;
    json_t  *aud, *e;

    aud = json_object_get(payload, "aud");

    for (k = 0; k < pol->naudiences; k++) {
        if (json_is_string(aud)) {
            if (strcmp(json_string_value(aud), pol->audiences[k]) == 0) {
                return 1;
            }

        } else if (json_is_array(aud)) {
            json_array_foreach(aud, i, e) {
                if (json_is_string(e)
                    && strcmp(json_string_value(e), pol->audiences[k]) == 0)
                {
                    return 1;
                }
            }
        }
    }

    return 0;
}


void
apigw_jwt_result_free(apigw_jwt_result_t *r)
{
    free(r->sub);
    free(r->scopes);
    free(r->client_id);
    free(r->payload);
    memset(r, 0, sizeof(*r));
}


apigw_jwt_status_e
apigw_jwt_verify(const char *tok, size_t len, const apigw_jwks_t *keys,
    const apigw_jwt_policy_t *pol, long now, apigw_jwt_result_t *out)
{
    long                 sigl, leeway;
    size_t               i, hl, pl, sl, ncand, named, unknown;
    double               t;
    json_t              *hdr, *payload, *v;
    unsigned             allowed, bit;
    const char          *p1, *p2, *kid, *s;
    apigw_jwa_e          alg;
    unsigned char        sig[1024];
    apigw_jwt_status_e   rc;
    const apigw_jwk_t   *key, *k;

    memset(out, 0, sizeof(*out));
    hdr = NULL;
    payload = NULL;

    if (len > APIGW_JWT_MAX_SIZE) {
        return APIGW_JWT_TOO_LARGE;
    }

    p1 = memchr(tok, '.', len);
    if (p1 == NULL) {
        return APIGW_JWT_MALFORMED;
    }

    p2 = memchr(p1 + 1, '.', len - (p1 + 1 - tok));
    if (p2 == NULL || memchr(p2 + 1, '.', len - (p2 + 1 - tok)) != NULL) {
        return APIGW_JWT_MALFORMED;
    }

    hl = p1 - tok;
    pl = p2 - p1 - 1;
    sl = len - (p2 + 1 - tok);

    if (hl == 0 || pl == 0) {
        return APIGW_JWT_MALFORMED;
    }

    if (hl > APIGW_JWT_MAX_HEADER) {
        return APIGW_JWT_TOO_LARGE;
    }

    if (sl == 0) {
        return APIGW_JWT_ALG;            /* unsigned: alg "none" */
    }

    if (sl > (sizeof(sig) * 4 + 2) / 3) {    /* unpadded base64url */
        return APIGW_JWT_SIGNATURE;
    }

    sigl = apigw_b64url_decode(p2 + 1, sl, sig);
    if (sigl <= 0) {
        return APIGW_JWT_MALFORMED;
    }

    hdr = apigw_jwt_json(tok, hl);
    if (hdr == NULL) {
        return APIGW_JWT_MALFORMED;
    }

    rc = APIGW_JWT_MALFORMED;

    /* check the payload is well formed before any crypto */
    payload = apigw_jwt_json(p1 + 1, pl);
    if (payload == NULL) {
        goto done;
    }

    v = json_object_get(hdr, "alg");
    if (!json_is_string(v)) {
        goto done;
    }

    /* extensions we do not understand must not be ignored (RFC 7515) */
    if (json_object_get(hdr, "crit") != NULL) {
        rc = APIGW_JWT_ALG;
        goto done;
    }

    alg = apigw_jwa_parse(json_string_value(v), json_string_length(v));
    allowed = pol->algorithms ? pol->algorithms : APIGW_JWA_ASYM_MASK;
    bit = 1u << alg;

    if (alg == APIGW_JWA_NONE || !(allowed & bit)) {
        rc = APIGW_JWT_ALG;
        goto done;
    }

    kid = NULL;
    v = json_object_get(hdr, "kid");

    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) > 128) {
            goto done;
        }
        kid = json_string_value(v);
    }

    if (keys == NULL || keys->n == 0) {
        rc = APIGW_JWT_NO_KEYS;
        goto done;
    }

    /*
     * The key: by exact kid; else the only key that can do the algorithm,
     * among all keys for a token without a kid, among the keys without a
     * kid of their own (an HS secret file, a JWK without "kid") for a token
     * whose kid names none: a kid is only a hint (RFC 7515 4.1.4), and
     * many IdPs set one on HS tokens.  The algorithm must be one the key
     * allows.
     */

    key = NULL;
    ncand = 0;
    named = 0;
    unknown = 0;

    if (kid) {
        for (i = 0; i < keys->n; i++) {
            if (keys->keys[i].kid == NULL) {
                continue;
            }

            named++;

            /* one kid on keys of several types (RFC 7517 4.5): the one
               that can do the algorithm */
            if (strcmp(keys->keys[i].kid, kid) == 0) {
                k = &keys->keys[i];

                if (key == NULL) {
                    key = k;
                }

                if ((k->algs & bit)
                    && (k->alg == APIGW_JWA_NONE || k->alg == alg))
                {
                    key = k;
                    break;
                }
            }
        }

        /*
         * a kid that names none of a set whose keys have names, and that
         * no unnamed key verifies, is most likely a key the IdP has just
         * added: KID_UNKNOWN, so that the set is fetched again early
         */
        unknown = (key == NULL && named > 0);
    }

    if (key == NULL) {
        for (i = 0; i < keys->n; i++) {
            k = &keys->keys[i];

            if ((kid == NULL || k->kid == NULL) && (k->algs & bit)
                && (k->alg == APIGW_JWA_NONE || k->alg == alg))
            {
                key = k;
                ncand++;
            }
        }
    }

    if (key == NULL) {
        rc = kid ? APIGW_JWT_KID_UNKNOWN : APIGW_JWT_ALG;
        goto done;
    }

    if (ncand > 1) {
        /* ambiguous without a kid */
        rc = unknown ? APIGW_JWT_KID_UNKNOWN : APIGW_JWT_SIGNATURE;
        goto done;
    }

    if (!(key->algs & bit)
        || (key->alg != APIGW_JWA_NONE && key->alg != alg))
    {
        rc = APIGW_JWT_ALG;
        goto done;
    }

    if ((bit & APIGW_JWA_HS_MASK)
        ? apigw_jwt_hmac(key, alg, tok, p2 - tok, sig, (size_t) sigl) != 0
        : apigw_jwt_pkey(key, alg, tok, p2 - tok, sig, (size_t) sigl) != 0)
    {
        rc = unknown ? APIGW_JWT_KID_UNKNOWN : APIGW_JWT_SIGNATURE;
        goto done;
    }

    /* claims */

    leeway = pol->leeway;
    if (leeway < 0) {
        leeway = 0;
    }
    if (leeway > APIGW_LEEWAY_MAX) {
        leeway = APIGW_LEEWAY_MAX;
    }

    if (apigw_jwt_time(payload, "exp", &t) != 0) {
        rc = APIGW_JWT_EXPIRED;
        goto done;
    }

    if ((double) now > t + (double) leeway) {
        rc = APIGW_JWT_EXPIRED;
        goto done;
    }

    out->exp = t > 4e18 ? (long) 4e18 : (long) t;

    switch (apigw_jwt_time(payload, "nbf", &t)) {
    case -2:
        goto done;
    case 0:
        if ((double) now + (double) leeway < t) {
            rc = APIGW_JWT_NOT_YET;
            goto done;
        }
    }

    switch (apigw_jwt_time(payload, "iat", &t)) {
    case -2:
        goto done;
    case 0:
        if ((double) now + (double) leeway < t) {
            rc = APIGW_JWT_NOT_YET;
            goto done;
        }
    }

    if (pol->issuer) {
        s = json_string_value(json_object_get(payload, "iss"));
        if (s == NULL || strcmp(s, pol->issuer) != 0) {
            rc = APIGW_JWT_ISSUER;
            goto done;
        }
    }

    if (pol->naudiences && !apigw_jwt_aud_ok(payload, pol)) {
        rc = APIGW_JWT_AUDIENCE;
        goto done;
    }

    for (i = 0; i < pol->nrequired_claims; i++) {
        /* a claim of null is not there */
        v = json_object_get(payload, pol->required_claims[i]);

        if (v == NULL || json_is_null(v)) {
            rc = APIGW_JWT_CLAIM;
            goto done;
        }
    }

    rc = APIGW_JWT_OOM;
    out->alg = alg;

    s = json_string_value(json_object_get(payload, "sub"));
    if (s && (out->sub = strdup(s)) == NULL) {
        goto done;
    }

    s = json_string_value(json_object_get(payload, "client_id"));
    if (s == NULL) {
        s = json_string_value(json_object_get(payload, "azp"));
    }
    if (s && (out->client_id = strdup(s)) == NULL) {
        goto done;
    }

    out->scopes = apigw_jwt_scopes(payload);
    out->payload = json_dumps(payload, JSON_COMPACT);

    if (out->payload == NULL) {
        goto done;
    }

    rc = APIGW_JWT_OK;

done:

    if (rc != APIGW_JWT_OK) {
        apigw_jwt_result_free(out);
    }

    json_decref(hdr);
    json_decref(payload);

    return rc;
}
