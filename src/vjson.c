/*
 * The JSON parser of request validation: RFC 8259 text to a flat array of
 * nodes (apigw_jnode_t) in one allocation that grows, plus one buffer for
 * strings that had escapes; other strings point into the text.  No
 * allocation per value, so a body is parsed in time linear in its size.
 * Errors carry the byte offset of the offending byte.
 */

#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "validate.h"


typedef struct {
    const unsigned char  *p;
    const unsigned char  *start;
    const unsigned char  *end;
    apigw_jdoc_t         *doc;
    char                 *sb;        /* next free byte of doc->strbuf */
    size_t                text_len;
} jp_t;


static int
jp_fail(jp_t *j, const unsigned char *at, const char *msg)
{
    j->doc->err = msg;
    j->doc->err_offset = (size_t) (at - j->start);

    return -1;
}


/* JSON's whitespace */
static const unsigned char  jp_space[256] = {
    ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [' '] = 1
};


static inline const unsigned char *
jp_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && jp_space[*p]) {
        p++;
    }

    return p;
}


#ifdef __GNUC__
#define JP_NOINLINE  __attribute__((noinline))
#else
#define JP_NOINLINE
#endif


/* room for one more node; -1: out of memory */
static JP_NOINLINE int
jp_grow(jp_t *j)
{
    size_t          cap;
    apigw_jdoc_t   *doc;
    apigw_jnode_t  *n;

    doc = j->doc;

    /* a guess from the size first: one allocation for most bodies */
    cap = doc->cap * 2;
    if (cap < j->text_len / 8 + 16) {
        cap = j->text_len / 8 + 16;
    }

    if (doc->buf != NULL && doc->nodes == doc->buf) {
        /* out of the caller's buffer */
        n = malloc(cap * sizeof(apigw_jnode_t));
        if (n != NULL) {
            memcpy(n, doc->buf, doc->n * sizeof(apigw_jnode_t));
        }

    } else {
        n = realloc(doc->nodes, cap * sizeof(apigw_jnode_t));
    }

    if (n == NULL) {
        doc->oom = 1;
        return -1;
    }

    doc->nodes = n;
    doc->cap = cap;

    return 0;
}


static int
jp_hex4(const unsigned char *p, unsigned *out)
{
    int       i;
    unsigned  v, c;

    for (v = 0, i = 0; i < 4; i++) {
        c = p[i];
        if (c >= '0' && c <= '9') {
            c -= '0';
        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;
        } else {
            return -1;
        }
        v = v * 16 + c;
    }

    *out = v;

    return 0;
}


/* the length of a valid UTF-8 sequence at p, or 0 */
static size_t
jp_utf8(const unsigned char *p, const unsigned char *end)
{
    size_t    n, i;
    unsigned  c, cp, min;

    c = *p;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2; cp = c & 0x1f; min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3; cp = c & 0x0f; min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4; cp = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }

    if ((size_t) (end - p) < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }

    return n;
}


static char *
jp_put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char) cp;
    } else if (cp < 0x800) {
        *o++ = (char) (0xc0 | (cp >> 6));
        *o++ = (char) (0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char) (0xe0 | (cp >> 12));
        *o++ = (char) (0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char) (0x80 | (cp & 0x3f));
    } else {
        *o++ = (char) (0xf0 | (cp >> 18));
        *o++ = (char) (0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char) (0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char) (0x80 | (cp & 0x3f));
    }

    return o;
}


/* printable ASCII but '"' and '\\': taken as they are */
static const unsigned char  jp_plain[256] = {
#define JP_R16(v)  v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    JP_R16(0), JP_R16(0),
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,        /* ' ' .. '/' */
    JP_R16(1), JP_R16(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,        /* 'P' .. '_' */
    JP_R16(1), JP_R16(1),
    JP_R16(0), JP_R16(0), JP_R16(0), JP_R16(0),
    JP_R16(0), JP_R16(0), JP_R16(0), JP_R16(0)
#undef JP_R16
};


#define JP_ONES   0x0101010101010101ULL
#define JP_HIGHS  0x8080808080808080ULL

#if defined(__GNUC__) && defined(__BYTE_ORDER__)                             \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JP_CTZ(m)  __builtin_ctzll(m)
#endif


/*
 * The first byte from p on that is not plain (jp_plain), or end: '"',
 * '\\', below 0x20 or from 0x80.  With x = byte ^ 0x02, '"' is 0x20 and
 * the bytes below 0x20 stay below it, but 0x20 and 0x21 go above: so it is
 * '\\' or x below 0x21, with bytes from 0x80 below too as signed ones.
 *
 * Eight bytes at a time in a word w, y = w ^ 0x02..: (y - 0x21..) sets the
 * high bit of each byte below 0x21, (b - 0x01..) of each byte of b = w ^
 * '\\'.. that is 0, w itself of each byte from 0x80.  Other bytes get their
 * high bit set only by a borrow (or are from 0x80 anyway), and borrows
 * only start at a byte sought and go up: so a word without one gives 0,
 * and the lowest flagged byte, the first in memory on little-endian
 * machines, is the first one.
 */
static inline const unsigned char *
jp_plain_run(const unsigned char *p, const unsigned char *end)
{
    uint64_t  w, y, b, m;

#ifdef __SSE2__
    int       bits;
    __m128i   x;

    while (end - p >= 16) {
        x = _mm_loadu_si128((const __m128i *) (const void *) p);
        x = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\\')),
                         _mm_cmplt_epi8(_mm_xor_si128(x, _mm_set1_epi8(2)),
                                        _mm_set1_epi8(0x21)));
        bits = _mm_movemask_epi8(x);

        if (bits != 0) {
            return p + __builtin_ctz((unsigned) bits);
        }

        p += 16;
    }
#endif

    while (end - p >= 8) {
        memcpy(&w, p, 8);
        y = w ^ (JP_ONES * 0x02);
        b = w ^ (JP_ONES * '\\');
        m = ((y - JP_ONES * 0x21) | (b - JP_ONES) | w) & JP_HIGHS;

        if (m != 0) {
#ifdef JP_CTZ
            return p + (JP_CTZ(m) >> 3);
#else
            break;
#endif
        }

        p += 8;
    }

    while (p < end && jp_plain[*p]) {
        p++;
    }

    return p;
}


/* the rest of a string from p, its first byte that is not plain */
static int
jp_string_rest(jp_t *j, long k, const unsigned char *s,
    const unsigned char *p)
{
    char                 *o;
    size_t                u;
    unsigned              cp, lo;
    const unsigned char  *q;

    /* no escapes */
    for ( ;; ) {
        if (p == j->end || *p == '"' || *p == '\\') {
            break;
        }

        if (*p < 0x20) {
            return jp_fail(j, p, "control character in a string");
        }

        u = jp_utf8(p, j->end);
        if (u == 0) {
            return jp_fail(j, p, "invalid UTF-8");
        }

        p = jp_plain_run(p + u, j->end);
    }

    if (p == j->end) {
        return jp_fail(j, p, "unterminated string");
    }

    if (*p == '"') {
        j->doc->nodes[k].s = (const char *) s;
        j->doc->nodes[k].len = (size_t) (p - s);
        j->p = p + 1;
        return 0;
    }

    /* escapes: unescape into the string buffer */

    if (j->doc->strbuf == NULL) {
        j->doc->strbuf = malloc(j->text_len + 1);
        if (j->doc->strbuf == NULL) {
            j->doc->oom = 1;
            return -1;
        }
        j->sb = j->doc->strbuf;
    }

    o = j->sb;
    memcpy(o, s, (size_t) (p - s));
    o += p - s;

    for ( ;; ) {
        q = jp_plain_run(p, j->end);
        memcpy(o, p, (size_t) (q - p));
        o += q - p;
        p = q;

        if (p == j->end || *p == '"') {
            break;
        }

        if (*p == '\\') {
            q = p;
            if (j->end - p < 2) {
                return jp_fail(j, p, "unterminated string");
            }
            p++;
            switch (*p) {
            case '"':  *o++ = '"'; p++; break;
            case '\\': *o++ = '\\'; p++; break;
            case '/':  *o++ = '/'; p++; break;
            case 'b':  *o++ = '\b'; p++; break;
            case 'f':  *o++ = '\f'; p++; break;
            case 'n':  *o++ = '\n'; p++; break;
            case 'r':  *o++ = '\r'; p++; break;
            case 't':  *o++ = '\t'; p++; break;
            case 'u':
                if (j->end - p < 5 || jp_hex4(p + 1, &cp) != 0) {
                    return jp_fail(j, q, "invalid \\u escape");
                }
                p += 5;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (j->end - p < 6 || p[0] != '\\' || p[1] != 'u'
                        || jp_hex4(p + 2, &lo) != 0
                        || lo < 0xdc00 || lo > 0xdfff)
                    {
                        return jp_fail(j, q, "invalid surrogate pair");
                    }
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return jp_fail(j, q, "invalid surrogate pair");
                }
                o = jp_put_utf8(o, cp);
                break;
            default:
                return jp_fail(j, q, "invalid escape");
            }
            continue;
        }

        if (*p < 0x20) {
            return jp_fail(j, p, "control character in a string");
        }

        u = jp_utf8(p, j->end);
        if (u == 0) {
            return jp_fail(j, p, "invalid UTF-8");
        }
        memcpy(o, p, u);
        o += u;
        p += u;
    }

    if (p == j->end) {
        return jp_fail(j, p, "unterminated string");
    }

    j->doc->nodes[k].s = j->sb;
    j->doc->nodes[k].len = (size_t) (o - j->sb);
    j->sb = o;
    j->p = p + 1;

    return 0;
}


/*
 * A valid JSON number of at most 15 significant digits whose exponent,
 * the fraction's digits off, is within 22: the digits and the power of
 * ten are exact doubles, so one division or multiplication, rounded once,
 * is the nearest double, which strtod() gives (Clinger's fast path).  Not
 * where doubles are computed in a wider format.  0: not such a number.
 */
static int
jp_double(const unsigned char *p, const unsigned char *end, double *out)
{
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    int            neg, eneg, digits, frac, x;
    double         d;
    uint64_t       m;

    static const double  pow10[] = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
    };

    neg = *p == '-';
    p += neg;
    m = 0;
    digits = 0;
    frac = 0;

    for ( /* void */ ; p < end && *p >= '0' && *p <= '9'; p++) {
        if (m != 0 || *p != '0') {
            if (++digits > 15) {
                return 0;
            }
            m = m * 10 + (uint64_t) (*p - '0');
        }
    }

    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            if (++frac > 400) {
                return 0;
            }
            if (m != 0 || *p != '0') {
                if (++digits > 15) {
                    return 0;
                }
                m = m * 10 + (uint64_t) (*p - '0');
            }
        }
    }

    x = 0;

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        eneg = 0;
        if (*p == '+' || *p == '-') {
            eneg = *p == '-';
            p++;
        }
        for ( /* void */ ; p < end && *p >= '0' && *p <= '9'; p++) {
            if (x > 1000) {
                return 0;
            }
            x = x * 10 + (*p - '0');
        }
        x = eneg ? -x : x;
    }

    x -= frac;

    if (m == 0) {
        d = 0;                      /* whatever the exponent */

    } else if (x >= 0 && x <= 22) {
        d = (double) m * pow10[x];

    } else if (x < 0 && x >= -22) {
        d = (double) m / pow10[-x];

    } else {
        return 0;
    }

    *out = neg ? -d : d;

    return 1;
#else
    (void) p;
    (void) end;
    (void) out;

    return 0;
#endif
}


static int
jp_number(jp_t *j, long k)
{
    int                   neg, integral, big;
    char                  buf[64], *tmp, *e;
    double                d;
    size_t                n;
    long long             v;
    apigw_jnode_t        *node;
    const unsigned char  *p, *s;

    p = j->p;
    s = p;
    neg = 0;
    integral = 1;
    big = 0;
    v = 0;

    if (*p == '-') {
        neg = 1;
        p++;
    }

    if (p == j->end || *p < '0' || *p > '9') {
        return jp_fail(j, p, "invalid number");
    }

    if (*p == '0') {
        p++;

    } else {
        while (p < j->end && *p >= '0' && *p <= '9') {
            /* accumulate negatively: -9223372036854775808 fits */
            if (v < (-9223372036854775807LL - 1 + (*p - '0')) / 10) {
                big = 1;
            } else {
                v = v * 10 - (*p - '0');
            }
            p++;
        }
    }

    if (p < j->end && *p == '.') {
        integral = 0;
        p++;
        if (p == j->end || *p < '0' || *p > '9') {
            return jp_fail(j, p, "invalid number");
        }
        while (p < j->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < j->end && (*p == 'e' || *p == 'E')) {
        integral = 0;
        p++;
        if (p < j->end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p == j->end || *p < '0' || *p > '9') {
            return jp_fail(j, p, "invalid number");
        }
        while (p < j->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    node = &j->doc->nodes[k];
    node->s = (const char *) s;      /* the text, as written */
    node->len = (size_t) (p - s);
    j->p = p;

    if (integral && !big) {
        if (!neg && v == -9223372036854775807LL - 1) {
            big = 1;                 /* 9223372036854775808 */
        } else {
            node->type = APIGW_J_INT;
            node->i = neg ? v : -v;
            return 0;
        }
    }

    /* a fraction, an exponent or an integer beyond 64 bits: a double */

    if (!big && jp_double(s, p, &d)) {
        node->type = APIGW_J_REAL;
        node->d = d;
        return 0;
    }

    n = (size_t) (p - s);
    tmp = n < sizeof(buf) ? buf : malloc(n + 1);
    if (tmp == NULL) {
        j->doc->oom = 1;
        return -1;
    }

    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    d = strtod(tmp, &e);

    if (tmp != buf) {
        free(tmp);
    }

    if (errno == ERANGE && (d > 1 || d < -1)) {
        return jp_fail(j, s, "number out of range");
    }

    node->type = APIGW_J_REAL;
    node->d = d;
    node->big = (unsigned char) (integral && big);

    return 0;
}


int
apigw_json_parse(const char *text, size_t len, apigw_jdoc_t *doc)
{
    return apigw_json_parse_buf(text, len, doc, NULL, 0);
}


/*
 * The string (a value or a key) whose '"' is at p, into node k: a run of
 * plain bytes up to the closing quote inline, anything else out of line.
 * Returns the byte after it, or NULL.
 */
static inline const unsigned char *
jp_string(jp_t *j, long k, apigw_jnode_t *node, const unsigned char *p,
    const unsigned char *end)
{
    const unsigned char  *s, *q;

    s = p + 1;
    q = jp_plain_run(s, end);

    if (q < end && *q == '"') {
        node->s = (const char *) s;
        node->len = (size_t) (q - s);
        return q + 1;
    }

    j->p = p;

    return jp_string_rest(j, k, s, q) == 0 ? j->p : NULL;
}


/* a new node k, zeroed but its size */
#define JP_NODE()                                                            \
    do {                                                                     \
        if (n == cap) {                                                      \
            doc->n = n;                                                      \
            if (jp_grow(&j) != 0) {                                          \
                goto failed;                                                 \
            }                                                                \
            nodes = doc->nodes;                                              \
            cap = doc->cap;                                                  \
            cn = cur >= 0 ? &nodes[cur] : NULL;                              \
        }                                                                    \
        k = (long) n++;                                                      \
        node = &nodes[k];                                                    \
        memset(node, 0, sizeof(*node));                                      \
        node->size = 1;                                                      \
    } while (0)

#define JP_FAIL(at, msg)                                                     \
    do {                                                                     \
        (void) jp_fail(&j, at, msg);                                         \
        goto failed;                                                         \
    } while (0)


/*
 * One loop, no recursion: an open array or object keeps the index of the
 * one it is in in its `i` until it is closed.  The innermost one is cur
 * (cn its node, closer its bracket).
 */
int
apigw_json_parse_buf(const char *text, size_t len, apigw_jdoc_t *doc,
    apigw_jnode_t *buf, size_t nbuf)
{
    long                  k, cur;
    size_t                n, cap;
    unsigned              depth;
    unsigned char         closer;
    jp_t                  j;
    apigw_jnode_t        *nodes, *node, *cn;
    const unsigned char  *p, *end;

    memset(doc, 0, sizeof(*doc));

    if (buf != NULL && nbuf != 0) {
        doc->nodes = buf;
        doc->buf = buf;
        doc->cap = nbuf;
    }

    j.start = (const unsigned char *) text;
    j.end = j.start + len;
    j.doc = doc;
    j.sb = NULL;
    j.text_len = len;

    nodes = doc->nodes;
    n = 0;
    cap = doc->cap;
    p = j.start;
    end = j.end;
    cur = -1;
    cn = NULL;
    closer = 0;
    depth = 0;

value:

    p = jp_ws(p, end);

    if (p == end) {
        JP_FAIL(p, "unexpected end of input");
    }

    JP_NODE();

    switch (*p) {
    case '"':
        node->type = APIGW_J_STRING;
        p = jp_string(&j, k, node, p, end);
        if (p == NULL) {
            goto failed;
        }
        break;

    case '{':
    case '[':
        if (depth >= APIGW_JSON_MAX_DEPTH) {
            JP_FAIL(p, "nesting too deep");
        }

        node->type = *p == '{' ? APIGW_J_OBJECT : APIGW_J_ARRAY;
        node->i = cur;
        cur = k;
        cn = node;
        closer = *p == '{' ? '}' : ']';
        depth++;

        p = jp_ws(p + 1, end);

        if (p < end && *p == closer) {
            p++;
            goto close;
        }

        if (closer == '}') {
            goto member;
        }

        goto value;

    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0) {
            JP_FAIL(p, "invalid literal");
        }
        node->type = APIGW_J_TRUE;
        p += 4;
        break;

    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0) {
            JP_FAIL(p, "invalid literal");
        }
        node->type = APIGW_J_FALSE;
        p += 5;
        break;

    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0) {
            JP_FAIL(p, "invalid literal");
        }
        node->type = APIGW_J_NULL;
        p += 4;
        break;

    default:
        if (*p != '-' && (*p < '0' || *p > '9')) {
            JP_FAIL(p, "unexpected character");
        }

        j.p = p;
        if (jp_number(&j, k) != 0) {
            goto failed;
        }
        p = j.p;
        break;
    }

next:

    /* after a value: the end, or a comma or the bracket of cur */

    if (cn == NULL) {
        goto done;
    }

    cn->count++;

    /* whitespace is rare before a comma */
    if (p == end || *p != ',') {
        p = jp_ws(p, end);
    }

    if (p < end && *p == ',') {
        p++;

        if (closer == '}') {
            goto member;
        }

        goto value;
    }

    if (p < end && *p == closer) {
        p++;
        goto close;
    }

    JP_FAIL(p, p == end ? "unexpected end of input"
                        : "expected ',' or a closing bracket");

close:

    cn->size = (uint32_t) (n - (size_t) cur);
    cur = (long) cn->i;
    cn->i = 0;
    depth--;

    if (cur >= 0) {
        cn = &nodes[cur];
        closer = cn->type == APIGW_J_OBJECT ? '}' : ']';

    } else {
        cn = NULL;
    }

    goto next;

member:

    p = jp_ws(p, end);

    if (p == end || *p != '"') {
        JP_FAIL(p, "expected a property name");
    }

    JP_NODE();
    node->type = APIGW_J_KEY;
    p = jp_string(&j, k, node, p, end);
    if (p == NULL) {
        goto failed;
    }

    if (p == end || *p != ':') {
        p = jp_ws(p, end);

        if (p == end || *p != ':') {
            JP_FAIL(p, "expected ':'");
        }
    }

    p++;

    goto value;

done:

    doc->n = n;
    p = jp_ws(p, end);

    if (p != end) {
        (void) jp_fail(&j, p, "unexpected data after the value");
        return -1;
    }

    return 0;

failed:

    doc->n = n;

    return doc->oom ? -2 : -1;
}


void
apigw_jdoc_free(apigw_jdoc_t *doc)
{
    if (doc->nodes != doc->buf) {
        free(doc->nodes);
    }

    free(doc->strbuf);
    memset(doc, 0, sizeof(*doc));
}
