/*
 * apigw custom-domain certificates: a PEM chain and private key checked
 * with OpenSSL when the management API receives them (the key matches the
 * leaf, the chain parses and is in order, nothing has expired, the leaf
 * covers the domain), and returned in a normalised PEM form that nginx
 * loads without surprises.
 *
 * Plain C, no nginx headers.
 */

#ifndef APIGW_CERT_H
#define APIGW_CERT_H

#include <stddef.h>
#include <time.h>


#define APIGW_CERT_MAX_CHAIN  (256 * 1024)
#define APIGW_CERT_MAX_KEY    (64 * 1024)


typedef struct {
    char  *chain;          /* the certificates, PEM, leaf first */
    char  *key;            /* the private key, PKCS#8 PEM */
    char  *subject;        /* RFC 2253 */
    char  *issuer;
    char  *not_before;     /* ISO 8601, UTC */
    char  *not_after;
    char  *fingerprint;    /* SHA-256 of the leaf (DER), AA:BB:... */
    char  *names;          /* JSON array text of the SAN DNS names */
    int    ncerts;
} apigw_cert_t;


/*
 * 0 and *out filled (apigw_cert_free() it), or -1 with the reason in err
 * (a sentence without the PEM text).  `domain` is lower case; "*.x.y"
 * needs the same wildcard in the certificate; NULL: any.  `now` is the
 * current time; 0: validity dates not checked.
 */
int apigw_cert_check(const char *chain, size_t chain_len, const char *key,
    size_t key_len, const char *domain, time_t now, apigw_cert_t *out,
    char *err, size_t errlen);

void apigw_cert_free(apigw_cert_t *c);

#endif /* APIGW_CERT_H */
