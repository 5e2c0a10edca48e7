/*
 * Custom-domain certificates checked with OpenSSL (see cert.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert.h"


/* refuses encrypted keys: nothing could decrypt them at handshake time */
static int
cert_no_password(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;

    return -1;
}


static char *
cert_bio_string(BIO *b)
{
    char  *p, *s;
    long   n;

    n = BIO_get_mem_data(b, &p);
    if (n < 0) {
        return NULL;
    }

    s = malloc((size_t) n + 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, p, (size_t) n);
    s[n] = '\0';

    return s;
}


static char *
cert_name(const X509_NAME *name)
{
    BIO   *b;
    char  *s;

    b = BIO_new(BIO_s_mem());
    if (b == NULL) {
        return NULL;
    }

    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(b);
        return NULL;
    }

    s = cert_bio_string(b);
    BIO_free(b);

    return s;
}


static char *
cert_time(const ASN1_TIME *t)
{
    char       buf[32];
    struct tm  tm;

    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return NULL;
    }

    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);

    return strdup(buf);
}


static char *
cert_fingerprint(X509 *x)
{
    char           *s, *p;
    unsigned int    i, n;
    unsigned char   md[EVP_MAX_MD_SIZE];

    if (X509_digest(x, EVP_sha256(), md, &n) != 1) {
        return NULL;
    }

    s = malloc(n * 3 + 1);
    if (s == NULL) {
        return NULL;
    }

    p = s;

    for (i = 0; i < n; i++) {
        p += sprintf(p, "%s%02X", i ? ":" : "", md[i]);
    }

    return s;
}


/* the SAN DNS names, ", " separated; 1 in *wild when one equals domain */
static char *
cert_names(X509 *x, const char *domain, int *wild)
{
    int                     i, n;
    char                   *s, *ns;
    size_t                  len, nlen;
    const char             *d;
    GENERAL_NAME           *g;
    GENERAL_NAMES          *gens;

    *wild = 0;
    len = 0;

    s = strdup("");
    if (s == NULL) {
        return NULL;
    }

    gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    n = gens ? sk_GENERAL_NAME_num(gens) : 0;

    for (i = 0; i < n; i++) {
        g = sk_GENERAL_NAME_value(gens, i);

        if (g->type != GEN_DNS) {
            continue;
        }

        d = (const char *) ASN1_STRING_get0_data(g->d.dNSName);
        nlen = (size_t) ASN1_STRING_length(g->d.dNSName);

        if (memchr(d, '\0', nlen) != NULL) {
            continue;
        }

        if (nlen == strlen(domain) && strncasecmp(d, domain, nlen) == 0) {
            *wild = 1;
        }

        ns = realloc(s, len + nlen + 3);
        if (ns == NULL) {
            free(s);
            GENERAL_NAMES_free(gens);
            return NULL;
        }

        s = ns;

        if (len) {
            memcpy(s + len, ", ", 2);
            len += 2;
        }

        memcpy(s + len, d, nlen);
        len += nlen;
        s[len] = '\0';
    }

    GENERAL_NAMES_free(gens);

    return s;
}


int
apigw_cert_check(const char *chain, size_t chain_len, const char *key,
    size_t key_len, const char *domain, time_t now, apigw_cert_t *out,
    char *err, size_t errlen)
{
    int               i, n, wild, rc, secbits;
    BIO              *in, *pem;
    X509             *x;
    EVP_PKEY         *pkey;
    unsigned long     e;
    STACK_OF(X509)   *certs;

    memset(out, 0, sizeof(apigw_cert_t));

    rc = -1;
    in = NULL;
    pem = NULL;
    pkey = NULL;

    certs = sk_X509_new_null();
    if (certs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    ERR_clear_error();

    if (chain_len == 0 || chain_len > APIGW_CERT_MAX_CHAIN) {
        snprintf(err, errlen, "the certificate chain is empty or larger "
                 "than %d bytes", APIGW_CERT_MAX_CHAIN);
        goto done;
    }

    if (key_len == 0 || key_len > APIGW_CERT_MAX_KEY) {
        snprintf(err, errlen, "the private key is empty or larger than "
                 "%d bytes", APIGW_CERT_MAX_KEY);
        goto done;
    }

    in = BIO_new_mem_buf(chain, (int) chain_len);
    if (in == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    for ( ;; ) {
        x = PEM_read_bio_X509(in, NULL, cert_no_password, NULL);

        if (x == NULL) {
            e = ERR_peek_last_error();

            if (sk_X509_num(certs) > 0
                && ERR_GET_LIB(e) == ERR_LIB_PEM
                && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
            {
                ERR_clear_error();
                break;               /* the end of the chain */
            }

            snprintf(err, errlen, "certificate %d of the chain does not "
                     "parse as a PEM X.509 certificate",
                     sk_X509_num(certs) + 1);
            goto done;
        }

        if (!sk_X509_push(certs, x)) {
            X509_free(x);
            snprintf(err, errlen, "out of memory");
            goto done;
        }

        if (sk_X509_num(certs) > 16) {
            snprintf(err, errlen, "the chain has more than 16 certificates");
            goto done;
        }
    }

    BIO_free(in);
    in = BIO_new_mem_buf(key, (int) key_len);
    if (in == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    pkey = PEM_read_bio_PrivateKey(in, NULL, cert_no_password, NULL);
    ERR_clear_error();

    if (pkey == NULL) {
        snprintf(err, errlen, "the private key does not parse as an "
                 "unencrypted PEM private key");
        goto done;
    }

    x = sk_X509_value(certs, 0);

    if (X509_check_private_key(x, pkey) != 1) {
        ERR_clear_error();

        /* the key's certificate further down: the chain is out of order */
        for (i = 1; i < sk_X509_num(certs); i++) {
            if (X509_check_private_key(sk_X509_value(certs, i), pkey) == 1)
            {
                snprintf(err, errlen, "certificate %d of the chain is the "
                         "private key's: the chain must start with it "
                         "(leaf first, then each issuer)", i + 1);
                goto done;
            }

            ERR_clear_error();
        }

        snprintf(err, errlen, "the private key does not match the "
                 "certificate");
        goto done;
    }

    n = sk_X509_num(certs);

    for (i = 0; i < n; i++) {
        x = sk_X509_value(certs, i);

        if (now && X509_cmp_time(X509_get0_notAfter(x), &now) <= 0) {
            snprintf(err, errlen, "certificate %d of the chain has expired",
                     i + 1);
            goto done;
        }

        if (now && X509_cmp_time(X509_get0_notBefore(x), &now) >= 0) {
            snprintf(err, errlen, "certificate %d of the chain is not valid "
                     "yet", i + 1);
            goto done;
        }

        /*
         * what OpenSSL's default security level (2) refuses at handshake
         * time: keys under 112 bits of security (RSA 2048, P-224), and
         * signatures with SHA-1 or MD5 (a self-signed root's do not count)
         */
        if (X509_get0_pubkey(x) == NULL
            || EVP_PKEY_get_security_bits(X509_get0_pubkey(x)) < 112)
        {
            snprintf(err, errlen, "certificate %d of the chain has a key "
                     "too weak for TLS (under 112 bits of security: RSA "
                     "keys need 2048 bits, EC keys P-256)", i + 1);
            goto done;
        }

        if (X509_check_issued(x, x) != X509_V_OK
            && (X509_get_signature_info(x, NULL, NULL, &secbits, NULL) != 1
                || secbits < 112))
        {
            ERR_clear_error();
            snprintf(err, errlen, "certificate %d of the chain is signed "
                     "with a digest too weak for TLS (SHA-1 or MD5)", i + 1);
            goto done;
        }

        if (i + 1 < n
            && X509_check_issued(sk_X509_value(certs, i + 1), x)
               != X509_V_OK)
        {
            snprintf(err, errlen, "certificate %d of the chain is not the "
                     "issuer of certificate %d (leaf first, then each "
                     "issuer)", i + 2, i + 1);
            goto done;
        }
    }

    x = sk_X509_value(certs, 0);

    out->names = cert_names(x, domain ? domain : "", &wild);
    if (out->names == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    if (domain != NULL
        && (domain[0] == '*' ? !wild
            : X509_check_host(x, domain, strlen(domain), 0, NULL) != 1))
    {
        ERR_clear_error();
        snprintf(err, errlen, "the certificate does not cover %s (subject "
                 "alternative names: %s)", domain,
                 out->names[0] ? out->names : "none");
        goto done;
    }

    /* the normalised PEM: no comments, text dumps or extra blocks */

    pem = BIO_new(BIO_s_mem());
    if (pem == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    for (i = 0; i < n; i++) {
        if (PEM_write_bio_X509(pem, sk_X509_value(certs, i)) != 1) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }

    out->chain = cert_bio_string(pem);

    BIO_free(pem);
    pem = BIO_new(BIO_s_mem());

    if (pem == NULL
        || PEM_write_bio_PrivateKey(pem, pkey, NULL, NULL, 0, NULL, NULL)
           != 1)
    {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    out->key = cert_bio_string(pem);
    out->subject = cert_name(X509_get_subject_name(x));
    out->issuer = cert_name(X509_get_issuer_name(x));
    out->not_before = cert_time(X509_get0_notBefore(x));
    out->not_after = cert_time(X509_get0_notAfter(x));
    out->fingerprint = cert_fingerprint(x);
    out->ncerts = n;

    if (out->chain == NULL || out->key == NULL || out->subject == NULL
        || out->issuer == NULL || out->not_before == NULL
        || out->not_after == NULL || out->fingerprint == NULL)
    {
        snprintf(err, errlen, "out of memory");
        goto done;
    }

    rc = 0;

done:

    if (rc != 0) {
        apigw_cert_free(out);
    }

    ERR_clear_error();
    BIO_free(in);
    BIO_free(pem);
    EVP_PKEY_free(pkey);
    sk_X509_pop_free(certs, X509_free);

    return rc;
}


void
apigw_cert_free(apigw_cert_t *c)
{
    if (c->key) {
        OPENSSL_cleanse(c->key, strlen(c->key));
    }

    free(c->chain);
    free(c->key);
    free(c->subject);
    free(c->issuer);
    free(c->not_before);
    free(c->not_after);
    free(c->fingerprint);
    free(c->names);
    memset(c, 0, sizeof(apigw_cert_t));
}
