/*
 * apigw core: credentials.  The security model the importer builds from
 * OpenAPI `security` and security schemes, the API key store (src/keys.c),
 * JWK / JWKS parsing and JWT verification with OpenSSL (src/jwt.c).
 * Plain C, no nginx headers.
 *
 * Ownership: an apigw_auth_t (api->auth) owns the schemes and every
 * requirement list; operations point into it.  Freed by apigw_api_free().
 */

#ifndef APIGW_AUTH_H
#define APIGW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "apigw.h"


/* ---- security schemes and requirements ---- */

typedef enum {
    APIGW_SCHEME_APIKEY = 1,      /* apiKey: header, query or cookie */
    APIGW_SCHEME_CLIENT_SECRET,   /* compat clientSecret: id + secret */
    APIGW_SCHEME_BEARER,          /* http bearer, oauth2, openIdConnect */
    APIGW_SCHEME_UNSUPPORTED      /* http basic, mutualTLS: fails closed */
} apigw_scheme_type_e;

#define APIGW_IN_HEADER   0
#define APIGW_IN_QUERY    1
#define APIGW_IN_COOKIE   2

/* JWS algorithms; bit (1 << alg) in masks */
typedef enum {
    APIGW_JWA_NONE = 0,
    APIGW_JWA_HS256, APIGW_JWA_HS384, APIGW_JWA_HS512,
    APIGW_JWA_RS256, APIGW_JWA_RS384, APIGW_JWA_RS512,
    APIGW_JWA_PS256, APIGW_JWA_PS384, APIGW_JWA_PS512,
    APIGW_JWA_ES256, APIGW_JWA_ES384, APIGW_JWA_ES512,
    APIGW_JWA_EDDSA,
    APIGW_JWA_COUNT
} apigw_jwa_e;

#define APIGW_JWA_HS_MASK  (0x7u << APIGW_JWA_HS256)
#define APIGW_JWA_ASYM_MASK                                                  \
    (((1u << APIGW_JWA_COUNT) - 1) & ~APIGW_JWA_HS_MASK & ~1u)

apigw_jwa_e apigw_jwa_parse(const char *s, size_t len); /* NONE: unknown */
const char *apigw_jwa_name(apigw_jwa_e a);

#define APIGW_LEEWAY_DEFAULT  30
#define APIGW_LEEWAY_MAX      300

/*
 * How bearer tokens of a scheme are checked: a JWT against a key set
 * (jwks_file, jwks_uri, or found through OIDC discovery, or an HS secret),
 * or an opaque token by RFC 7662 introspection.
 */
typedef struct {
    char            *issuer;           /* NULL: not checked */
    char           **audiences;        /* aud must hold one of them */
    size_t           naudiences;
    char            *jwks_uri;
    char            *jwks_file;
    char            *discovery_url;    /* openIdConnectUrl */
    char            *secret_file;      /* HS* secret (raw bytes) */
    unsigned         algorithms;       /* allowed; 0: every asymmetric one */
    long             leeway;           /* seconds */
    char           **required_claims;
    size_t           nrequired_claims;
    char            *introspection_endpoint;
    char            *userinfo_endpoint;  /* GET with the token: 200 = valid */
    char            *client_id;        /* for introspection */
    char            *client_secret_file;
    char            *provider;         /* compat oauth2 provider name */
    int              leeway_set;       /* x-apigw-jwt gave leeway */
} apigw_jwt_conf_t;

typedef struct {
    char               *name;          /* the scheme's key */
    apigw_scheme_type_e type;
    int                 in;            /* APIGW_IN_*: apiKey, clientSecret */
    char               *param;         /* apiKey name; client id field */
    char               *param2;        /* client secret field */
    int                 in2;           /* APIGW_IN_*: the secret's */
    apigw_jwt_conf_t    jwt;           /* APIGW_SCHEME_BEARER */
    int                 has_jwt_conf;  /* x-apigw-jwt given */
    void               *ext;           /* the embedding's data */
} apigw_scheme_t;

/* one scheme of an alternative, with the scopes it must carry */
typedef struct {
    apigw_scheme_t  *scheme;
    char           **scopes;
    size_t           nscopes;
} apigw_sec_term_t;

/* an AND of terms */
typedef struct {
    apigw_sec_term_t  *terms;
    size_t             nterms;
} apigw_sec_alt_t;

/* an OR of alternatives; an empty alternative makes the whole thing open */
struct apigw_security_s {
    apigw_sec_alt_t   *alts;
    size_t             nalts;
};

struct apigw_auth_s {
    apigw_scheme_t    *schemes;
    size_t             nschemes;
    apigw_security_t **reqs;          /* every requirement list built */
    size_t             nreqs;
};

void apigw_auth_free(apigw_auth_t *auth);


/* ---- API keys ---- */

#define APIGW_KEY_SCOPE_ANY        0     /* every API */
#define APIGW_KEY_SCOPE_TENANT     1
#define APIGW_KEY_SCOPE_API        2
#define APIGW_KEY_SCOPE_OPERATION  3
#define APIGW_KEY_SCOPE_RESOURCE   4     /* a v1 resource: base path +
                                            path, no leading "/" */

#define APIGW_KEY_API     0        /* hash: SHA-256 of the key */
#define APIGW_KEY_CLIENT  1        /* hash: SHA-256 of "client\0" + id;
                                      secret: SHA-256 of the secret */

typedef struct {
    int            kind;           /* APIGW_KEY_* */
    unsigned char  hash[32];
    unsigned char  secret[32];     /* APIGW_KEY_CLIENT */
    char          *key_id;         /* client id for APIGW_KEY_CLIENT */
    char          *consumer;
    char          *prefix;         /* visible start of the key, may be NULL */
    int            scope;          /* APIGW_KEY_SCOPE_* */
    char          *scope_value;    /* tenant, API id, or "API id#op id" */
    int            revoked;
    /* APIGW_KEY_CLIENT: secret = SHA-256(salt || secret); 0: unsalted */
    unsigned char  salt[64];
    size_t         salt_len;
    /* the management store's tenant: the target's must be the same;
       NULL (the keys file): any */
    char          *tenant;
} apigw_key_t;

typedef struct apigw_keytab_s  apigw_keytab_t;

/* what a request is: matched against a key's scope */
typedef struct {
    const char  *tenant;           /* "" for static specs */
    const char  *api_id;           /* the API's base path ("/" for root);
                                      managed APIs: the artifact id */
    const char  *op_id;            /* operationId, else "METHOD /path" */
    const char  *base_path;        /* the API's ("" for "/"); NULL: none */
    const char  *path;             /* the operation's path template */
} apigw_key_target_t;

/*
 * An immutable table built from `n` entries (deep-copied).  NULL on OOM or
 * when two entries have the same hash.
 */
apigw_keytab_t *apigw_keytab_build(const apigw_key_t *keys, size_t n);
/*
 * With APIGW_KEYTAB_SHARED, entries may share a hash (a client id
 * subscribed to several APIs): a lookup sees all of them, in order.
 */
#define APIGW_KEYTAB_SHARED  1
apigw_keytab_t *apigw_keytab_build_ex(const apigw_key_t *keys, size_t n,
    int flags);
/* the table's entries (for building a bigger table from it) */
const apigw_key_t *apigw_keytab_entries(const apigw_keytab_t *t, size_t *n);
void apigw_keytab_free(apigw_keytab_t *t);
size_t apigw_keytab_count(const apigw_keytab_t *t);

/* one probe; constant-time compare of the hashes; NULL: unknown */
const apigw_key_t *apigw_keytab_find_key(const apigw_keytab_t *t,
    const char *key, size_t len);
/* the same, given the key's SHA-256 (to look in several tables) */
const apigw_key_t *apigw_keytab_find_hash(const apigw_keytab_t *t,
    const unsigned char hash[32]);
/* the client's entry when the secret matches, else NULL */
const apigw_key_t *apigw_keytab_find_client(const apigw_keytab_t *t,
    const char *id, size_t idlen, const char *secret, size_t slen);
/* 1: the key's scope covers the target */
int apigw_key_allows(const apigw_key_t *k, const apigw_key_target_t *tg);

/* apigw_keytab_lookup() outcomes */
#define APIGW_KEY_OK              0
#define APIGW_KEY_UNKNOWN         1  /* no entry, or no secret matched */
#define APIGW_KEY_REVOKED         2
#define APIGW_KEY_NOT_SUBSCRIBED  3  /* known, valid, another scope */

/*
 * The entry of an API key (kind APIGW_KEY_API; secret unused) or a client
 * id and secret (APIGW_KEY_CLIENT) that covers the target, looking at
 * every entry with that hash; secrets compared in constant time.  *status
 * says why when none does; the entry returned then (may be NULL) is one
 * that was refused, for the log.
 */
const apigw_key_t *apigw_keytab_lookup(const apigw_keytab_t *t, int kind,
    const char *id, size_t idlen, const char *secret, size_t slen,
    const apigw_key_target_t *tg, int *status);
/* the same in parts: the table hash of a key or client id, hashed once
   for several tables */
void apigw_keytab_hash(int kind, const char *id, size_t len,
    unsigned char h[32]);
const apigw_key_t *apigw_keytab_lookup_hash(const apigw_keytab_t *t,
    int kind, const unsigned char h[32], const char *secret, size_t slen,
    const apigw_key_target_t *tg, int *status);

/* the table hash of a client id */
void apigw_keytab_client_hash(const char *id, size_t len,
    unsigned char out[32]);
/* 64 hex digits into 32 bytes; 0 or -1 */
int apigw_hex32(const char *s, size_t len, unsigned char out[32]);

/*
 * The name of a key known only by its hash (a subscription's): "key-" and
 * the first 16 hex digits of its SHA-256.  It is what $apigw_consumer, the
 * backend and the rate-limit counters see, never the key itself.
 */
#define APIGW_KEY_FP_LEN  20
void apigw_key_fingerprint(const unsigned char hash[32],
    char out[APIGW_KEY_FP_LEN + 1]);

/*
 * The management store's credentials as a key table (src/keyfeed.c):
 * `base`'s entries (the keys file; may be NULL), then every API key
 * record that is not revoked (scoped to its tenant, API or operation),
 * and every v2 subscription: without a secret its client id is an API
 * key of that API, with one a client id + salted secret.  NULL on OOM.
 */
struct apigw_store_s;
apigw_keytab_t *apigw_keytab_from_store(const struct apigw_store_s *s,
    const apigw_keytab_t *base);

/*
 * The keys file (see README): lines of
 *   key <sha256-hex> [id=ID] [consumer=C] [prefix=P] [scope=S] [revoked]
 *   client <client-id> <sha256-hex-of-secret> [consumer=C] [scope=S] [revoked]
 * S: tenant:<name> | api:<base path> | operation:<base path>#<op id>.
 * Problems (file:line) go to `probs`; NULL when there was any error.
 */
apigw_keytab_t *apigw_keytab_load(const char *path, apigw_problems_t *probs);
apigw_keytab_t *apigw_keytab_parse(const char *buf, size_t len,
    const char *file, apigw_problems_t *probs);

void apigw_sha256(const void *data, size_t len, unsigned char out[32]);
/* 64 lower-case hex digits and a NUL */
void apigw_sha256_hex(const void *data, size_t len, char out[65]);


/* ---- JWK / JWKS ---- */

typedef struct {
    char           *kid;           /* NULL: none */
    apigw_jwa_e     alg;           /* from the JWK's "alg"; NONE: by type */
    unsigned        algs;          /* what the key type allows */
    void           *pkey;          /* EVP_PKEY *, NULL for oct */
    unsigned char  *secret;        /* oct */
    size_t          secret_len;
} apigw_jwk_t;

typedef struct {
    apigw_jwk_t  *keys;
    size_t        n;
} apigw_jwks_t;

#define APIGW_JWKS_MAX_SIZE   (256 * 1024)
#define APIGW_JWKS_MAX_KEYS   64

/*
 * A JWKS document ({"keys":[...]}) or a single JWK.  Keys of unknown or
 * unusable types are skipped (counted in *skipped).  NULL with a reason in
 * `err` when nothing usable was found or the document is bad.
 */
apigw_jwks_t *apigw_jwks_parse(const char *buf, size_t len, size_t *skipped,
    char *err, size_t errlen);
/* an HS secret as a key set of one */
apigw_jwks_t *apigw_jwks_from_secret(const unsigned char *s, size_t len);
void apigw_jwks_free(apigw_jwks_t *ks);


/* ---- JWT ---- */

#define APIGW_JWT_MAX_SIZE     16384
#define APIGW_JWT_MAX_HEADER   8192

typedef enum {
    APIGW_JWT_OK = 0,
    APIGW_JWT_MALFORMED,       /* not a compact JWS, bad base64url / JSON */
    APIGW_JWT_TOO_LARGE,
    APIGW_JWT_ALG,             /* none, unknown, not allowed, not the key's */
    APIGW_JWT_KID_UNKNOWN,     /* no key with that kid (refresh may help) */
    APIGW_JWT_NO_KEYS,         /* the key set is empty / not loaded */
    APIGW_JWT_SIGNATURE,
    APIGW_JWT_EXPIRED,         /* also: exp missing */
    APIGW_JWT_NOT_YET,         /* nbf or iat in the future */
    APIGW_JWT_ISSUER,
    APIGW_JWT_AUDIENCE,
    APIGW_JWT_CLAIM,           /* a required claim is missing */
    APIGW_JWT_OOM
} apigw_jwt_status_e;

const char *apigw_jwt_status_name(apigw_jwt_status_e s);

typedef struct {
    const char         *issuer;
    const char *const  *audiences;
    size_t              naudiences;
    unsigned            algorithms;    /* 0: every asymmetric algorithm */
    long                leeway;
    const char *const  *required_claims;
    size_t              nrequired_claims;
} apigw_jwt_policy_t;

typedef struct {
    char        *sub;              /* may be NULL */
    char        *scopes;           /* space-separated, may be NULL */
    char        *client_id;        /* client_id / azp, may be NULL */
    char        *payload;          /* the payload JSON (for claims) */
    long         exp;
    apigw_jwa_e  alg;
} apigw_jwt_result_t;

/*
 * Verify a compact JWS: strict base64url, no duplicate JSON keys, size
 * caps, the algorithm pinned by the key and the policy, then signature and
 * claims at time `now`.  On APIGW_JWT_OK `out` holds malloc()ed strings
 * (apigw_jwt_result_free()).  `kid` (optional, size >= 129) receives the
 * token's kid when the status is APIGW_JWT_KID_UNKNOWN.
 */
apigw_jwt_status_e apigw_jwt_verify(const char *tok, size_t len,
    const apigw_jwks_t *keys, const apigw_jwt_policy_t *pol, long now,
    apigw_jwt_result_t *out);
void apigw_jwt_result_free(apigw_jwt_result_t *r);

/* whether the space-separated `scopes` hold `scope` */
int apigw_scope_has(const char *scopes, const char *scope);

/* strict base64url (no padding, no whitespace); -1 on bad input */
long apigw_b64url_decode(const char *s, size_t len, unsigned char *out);

#endif /* APIGW_AUTH_H */
