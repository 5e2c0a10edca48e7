/*
 * Backend URLs split into the model's fields, path templates checked, path
 * segments percent-encoded.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "oa.h"


static int
oa_name_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
           || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.'
           || ch == '-';
}


const char *
oa_template_scan(const char *s, size_t len, const char **names,
    size_t *lens, size_t max, size_t *n)
{
    size_t  i, j;

    *n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '}') {
            return "unbalanced \"}\"";
        }

        if (s[i] != '{') {
            continue;
        }

        for (j = i + 1; j < len && s[j] != '}'; j++) {
            if (s[j] == '{' || s[j] == '/') {
                return "unbalanced \"{\"";
            }

            if (!oa_name_char((unsigned char) s[j])) {
                return "parameter names may hold only letters, digits, "
                       "\"_\", \".\" and \"-\"";
            }
        }

        if (j == len) {
            return "unbalanced \"{\"";
        }

        if (j == i + 1) {
            return "empty parameter name \"{}\"";
        }

        if (*n == max) {
            return "too many parameters";
        }

        names[*n] = s + i + 1;
        lens[*n] = j - i - 1;
        (*n)++;
        i = j;
    }

    return NULL;
}


static int
oa_host_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
           || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'
           || ch == '_' || ch == '~';
}


const char *
oa_url_split(const char *url, size_t len, apigw_backend_t *b)
{
    int          port;
    size_t       i, n, slen, hlen;
    const char  *p, *end, *auth, *aend, *host, *hend, *portp;
    char        *path;

    end = url + len;

    for (i = 0; i < len; i++) {
        if ((unsigned char) url[i] <= 0x20 || url[i] == 0x7f) {
            return "the URL contains whitespace or control characters";
        }
    }

    if (memchr(url, '#', len) != NULL) {
        return "fragments (\"#\") are not allowed in backend URLs";
    }

    for (p = url; p < end && *p != ':' && *p != '/'; p++) { }

    if (p + 3 > end || p[0] != ':' || p[1] != '/' || p[2] != '/'
        || p == url)
    {
        return "not an absolute URL (scheme://host/path)";
    }

    slen = (size_t) (p - url);

    if (!((slen == 4 && strncasecmp(url, "http", 4) == 0)
          || (slen == 5 && strncasecmp(url, "https", 5) == 0)))
    {
        return "the scheme must be http or https";
    }

    auth = p + 3;

    for (aend = auth; aend < end && *aend != '/' && *aend != '?'; aend++) {
        if (*aend == '@') {
            return "user information in backend URLs is not supported";
        }

        if (*aend == '{' || *aend == '}') {
            return "parameters are not allowed in the host or port";
        }
    }

    if (aend == auth) {
        return "the URL has no host";
    }

    portp = NULL;

    if (*auth == '[') {
        host = auth + 1;

        for (hend = host; hend < aend && *hend != ']'; hend++) {
            if (!((*hend >= '0' && *hend <= '9')
                  || ((*hend | 0x20) >= 'a' && (*hend | 0x20) <= 'f')
                  || *hend == ':' || *hend == '.'))
            {
                return "invalid IPv6 address";
            }
        }

        if (hend == aend || hend == host) {
            return "invalid IPv6 address";
        }

        if (hend + 1 < aend) {
            if (hend[1] != ':') {
                return "invalid characters after the IPv6 address";
            }
            portp = hend + 2;
        }

    } else {
        host = auth;

        for (hend = host; hend < aend && *hend != ':'; hend++) {
            if (!oa_host_char((unsigned char) *hend)) {
                return "invalid character in the host name";
            }
        }

        if (hend == host) {
            return "the URL has no host";
        }

        if (hend < aend) {
            portp = hend + 1;
        }
    }

    port = slen == 5 ? 443 : 80;

    if (portp != NULL) {
        if (portp == aend || aend - portp > 5) {
            return "invalid port";
        }

        port = 0;

        for (p = portp; p < aend; p++) {
            if (*p < '0' || *p > '9') {
                return "invalid port";
            }
            port = port * 10 + (*p - '0');
        }

        if (port < 1 || port > 65535) {
            return "the port must be 1-65535";
        }
    }

    hlen = (size_t) (hend - host);
    n = (size_t) (end - aend);

    b->scheme = malloc(slen + 1);
    b->host = malloc(hlen + 1);
    b->authority = malloc((size_t) (aend - auth) + 1);
    path = malloc(n + 2);

    if (b->scheme == NULL || b->host == NULL || b->authority == NULL
        || path == NULL)
    {
        free(path);
        return "out of memory";
    }

    for (i = 0; i < slen; i++) {
        b->scheme[i] = (char) (url[i] | 0x20);
    }
    b->scheme[slen] = '\0';

    memcpy(b->host, host, hlen);
    b->host[hlen] = '\0';

    memcpy(b->authority, auth, (size_t) (aend - auth));
    b->authority[aend - auth] = '\0';

    b->port = port;

    /* "http://h?q" has the path "/?q" */
    i = 0;
    if (n > 0 && *aend == '?') {
        path[i++] = '/';
    }

    memcpy(path + i, aend, n);
    path[i + n] = '\0';
    b->path = path;

    return NULL;
}


char *
oa_encode_segment(const char *s)
{
    char          *out, *p;
    unsigned char  ch;
    static const char  hex[] = "0123456789ABCDEF";

    out = malloc(strlen(s) * 3 + 1);
    if (out == NULL) {
        return NULL;
    }

    for (p = out; *s; s++) {
        ch = (unsigned char) *s;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9') || strchr("-._~!$&'()*+,;=:@", ch))
        {
            *p++ = (char) ch;

        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 0xf];
        }
    }

    *p = '\0';

    return out;
}


const char *
apigw_backend_parse(const char *url, apigw_backend_t *b)
{
    const char  *err;

    memset(b, 0, sizeof(apigw_backend_t));

    err = oa_url_split(url, strlen(url), b);

    if (err == NULL) {
        b->url = strdup(url);
        if (b->url == NULL) {
            err = "out of memory";
        }
    }

    if (err) {
        apigw_backend_clear(b);
    }

    return err;
}
