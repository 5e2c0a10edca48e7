/*
 * Backend URIs: the operation's backend path with its {param} placeholders
 * filled in, the request path appended when the backend asks for it, and
 * the query.  Every function here has the two-pass contract: it returns the
 * length of the whole output and writes at most `size` bytes of it.
 */

#include <string.h>

#include "apigw.h"


typedef struct {
    char    *buf;
    size_t   size;
    size_t   n;
    char     last;       /* the last byte output, written or not */
} uri_out_t;


static const char  uri_hex[] = "0123456789ABCDEF";


static void
uri_put(uri_out_t *o, const char *s, size_t len)
{
    if (o->n < o->size) {
        memcpy(o->buf + o->n, s, o->size - o->n < len ? o->size - o->n : len);
    }

    if (len) {
        o->last = s[len - 1];
    }

    o->n += len;
}


static void
uri_putc(uri_out_t *o, char c)
{
    if (o->n < o->size) {
        o->buf[o->n] = c;
    }

    o->last = c;
    o->n++;
}


static int
uri_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}


/* RFC 3986 pchar minus pct-encoded: unreserved, sub-delims, ":", "@" */
static int
uri_pchar(unsigned char c)
{
    if (uri_unreserved(c)) {
        return 1;
    }

    switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')':
    case '*': case '+': case ',': case ';': case '=': case ':': case '@':
        return 1;
    }

    return 0;
}


/*
 * Encode s, keeping the bytes keep() accepts.  A value that is exactly "."
 * or ".." is encoded entirely: spliced into a backend path as a segment of
 * its own, it must not be a dot segment the backend would resolve (a mixed
 * template like "{name}.json" can capture "..").
 */
static void
uri_encode(uri_out_t *o, const char *s, size_t len, int (*keep)(unsigned char))
{
    int            dots;
    size_t         i;
    unsigned char  c;

    dots = (len == 1 && s[0] == '.')
           || (len == 2 && s[0] == '.' && s[1] == '.');

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (keep(c) && !dots) {
            uri_putc(o, (char) c);

        } else {
            uri_putc(o, '%');
            uri_putc(o, uri_hex[c >> 4]);
            uri_putc(o, uri_hex[c & 0xf]);
        }
    }
}


size_t
apigw_encode_segment(const char *s, size_t len, char *buf, size_t size)
{
    uri_out_t  o;

    o.buf = buf;
    o.size = size;
    o.n = 0;
    o.last = '\0';

    uri_encode(&o, s, len, uri_pchar);

    return o.n;
}


/*
 * Copy template t[0 .. len) with each {name} replaced by the encoded value
 * of that path parameter.  In the template's query only unreserved bytes
 * are kept: a value holding "&" or "=" must not add query parameters.
 */
static void
uri_template(uri_out_t *o, const char *t, size_t len, const apigw_match_t *m,
    int (*keep)(unsigned char))
{
    size_t                i, j, k;
    const apigw_param_t  *p;

    for (i = 0; i < len; i++) {
        if (t[i] != '{') {
            uri_putc(o, t[i]);
            continue;
        }

        for (j = i + 1; j < len && t[j] != '}' && t[j] != '{'; j++) {
            /* void */
        }

        p = NULL;

        if (j < len && t[j] == '}' && m != NULL) {
            for (k = 0; k < m->nparams; k++) {
                if (m->params[k].name_len == j - i - 1
                    && memcmp(m->params[k].name, t + i + 1, j - i - 1) == 0)
                {
                    p = &m->params[k];
                    break;
                }
            }
        }

        if (p == NULL) {
            /* not a known parameter: the "{" is literal */
            uri_putc(o, '{');
            continue;
        }

        uri_encode(o, p->value, p->value_len, keep);
        i = j;
    }
}


size_t
apigw_backend_uri(const apigw_operation_t *op, const apigw_match_t *m,
    const apigw_path_t *path, size_t first, const char *query,
    size_t query_len, char *buf, size_t size)
{
    size_t       i, tlen, plen, start;
    uri_out_t    o;
    const char  *t, *q;

    o.buf = buf;
    o.size = size;
    o.n = 0;
    o.last = '\0';

    t = op->backend.path ? op->backend.path : "";
    q = strchr(t, '?');
    tlen = strlen(t);
    plen = q ? (size_t) (q - t) : tlen;

    /* the path part of the template */

    uri_template(&o, t, plen, m, uri_pchar);

    /* the request path below the prefix */

    if (op->backend.append_path && path != NULL) {
        if (first > path->n) {
            first = path->n;
        }

        for (i = first; i < path->n; i++) {
            /* "/base/" + "/x" is "/base/x": no empty segment is made */
            if (i > first || o.last != '/') {
                uri_putc(&o, '/');
            }

            uri_encode(&o, path->seg[i], path->len[i], uri_pchar);
        }

        if (path->trailing_slash && o.last != '/') {
            uri_putc(&o, '/');
        }
    }

    if (o.n == 0) {
        uri_putc(&o, '/');
    }

    /* the query: the template's first, then the request's */

    if (q) {
        start = o.n;
        uri_template(&o, q, tlen - plen, m, uri_unreserved);

        if (query_len) {
            if (o.n - start > 1 && o.last != '&') {
                uri_putc(&o, '&');
            }

            uri_put(&o, query, query_len);
        }

    } else if (query_len) {
        uri_putc(&o, '?');
        uri_put(&o, query, query_len);
    }

    return o.n;
}
