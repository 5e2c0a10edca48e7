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


/*
 * Byte classes as tables: one load per byte on the request path.
 * URI_UNRESERVED: ALPHA DIGIT - . _ ~; URI_PCHAR adds RFC 3986's
 * sub-delims, ":" and "@" (pchar minus pct-encoded).
 */
#define URI_UNRESERVED  1
#define URI_PCHAR       2

#define U  (URI_UNRESERVED | URI_PCHAR)
#define P  URI_PCHAR

static const unsigned char  uri_class[256] = {
    /* 0x00 - 0x1f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /*  !  "  #  $  %  &  '  (  )  *  +  ,  -  .  / */
    0, P, 0, 0, P, 0, P, P, P, P, P, P, P, U, U, 0,
    /* 0-9 : ; < = > ? */
    U, U, U, U, U, U, U, U, U, U, P, P, 0, P, 0, 0,
    /* @ A-O */
    P, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,
    /* P-Z [ \ ] ^ _ */
    U, U, U, U, U, U, U, U, U, U, U, 0, 0, 0, 0, U,
    /* ` a-o */
    0, U, U, U, U, U, U, U, U, U, U, U, U, U, U, U,
    /* p-z { | } ~ DEL */
    U, U, U, U, U, U, U, U, U, U, U, 0, 0, 0, U, 0,
    /* 0x80 - 0xff: none */
};

#undef U
#undef P


/*
 * Encode s, keeping the bytes of class `keep`.  A value that is exactly
 * "." or ".." is encoded entirely: spliced into a backend path as a
 * segment of its own, it must not be a dot segment the backend would
 * resolve (a mixed template like "{name}.json" can capture "..").
 */
static void
uri_encode(uri_out_t *o, const char *s, size_t len, unsigned keep)
{
    char           esc[3];
    size_t         i, run;
    unsigned char  c;

    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
    {
        keep = 0;
    }

    esc[0] = '%';

    for (i = 0; i < len; i = run + 1) {

        /* copy the run of kept bytes at once */
        for (run = i; run < len && (uri_class[(unsigned char) s[run]] & keep);
             run++)
        {
            /* void */
        }

        uri_put(o, s + i, run - i);

        if (run == len) {
            break;
        }

        c = (unsigned char) s[run];
        esc[1] = uri_hex[c >> 4];
        esc[2] = uri_hex[c & 0xf];
        uri_put(o, esc, 3);
    }
}


static size_t
uri_encode_buf(const char *s, size_t len, char *buf, size_t size,
    unsigned keep)
{
    uri_out_t  o;

    o.buf = buf;
    o.size = size;
    o.n = 0;
    o.last = '\0';

    uri_encode(&o, s, len, keep);

    return o.n;
}


size_t
apigw_encode_segment(const char *s, size_t len, char *buf, size_t size)
{
    return uri_encode_buf(s, len, buf, size, URI_PCHAR);
}


size_t
apigw_encode_component(const char *s, size_t len, char *buf, size_t size)
{
    return uri_encode_buf(s, len, buf, size, URI_UNRESERVED);
}


/*
 * Copy template t[0 .. len) with each {name} replaced by the encoded value
 * of that path parameter.  In the template's query only unreserved bytes
 * are kept: a value holding "&" or "=" must not add query parameters.
 */
static void
uri_template(uri_out_t *o, const char *t, size_t len, const apigw_match_t *m,
    unsigned keep)
{
    size_t                i, j, k;
    const char           *b;
    const apigw_param_t  *p;

    for (i = 0; i < len; i++) {

        /* the literal run up to the next "{" at once */
        b = memchr(t + i, '{', len - i);
        j = b ? (size_t) (b - t) : len;

        uri_put(o, t + i, j - i);

        if (j == len) {
            break;
        }

        i = j;

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

    uri_template(&o, t, plen, m, URI_PCHAR);

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

            uri_encode(&o, path->seg[i], path->len[i], URI_PCHAR);
        }

        /* a request for the root "/" (the parser flags no slash there) */
        if ((path->trailing_slash || path->n == 0) && o.last != '/') {
            uri_putc(&o, '/');
        }
    }

    if (o.n == 0) {
        uri_putc(&o, '/');
    }

    /* the query: the template's first, then the request's */

    if (q) {
        start = o.n;
        uri_template(&o, q, tlen - plen, m, URI_UNRESERVED);

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
