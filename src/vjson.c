/*
 * The JSON parser of request validation: RFC 8259 text to a flat array of
 * nodes (apigw_jnode_t) in one allocation that grows, plus one buffer for
 * strings that had escapes; other strings point into the text.  No
 * allocation per value, so a body is parsed in time linear in its size.
 * Errors carry the byte offset of the offending byte.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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


static void
jp_ws(jp_t *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n'
                             || *j->p == '\r'))
    {
        j->p++;
    }
}


static long
jp_node(jp_t *j)
{
    size_t          cap;
    apigw_jnode_t  *n;

    if (j->doc->n == j->doc->cap) {
        /* a guess from the size first: one allocation for most bodies */
        cap = j->doc->cap ? j->doc->cap * 2 : j->text_len / 8 + 16;
        n = realloc(j->doc->nodes, cap * sizeof(apigw_jnode_t));
        if (n == NULL) {
            j->doc->oom = 1;
            return -1;
        }
        j->doc->nodes = n;
        j->doc->cap = cap;
    }

    n = &j->doc->nodes[j->doc->n];
    memset(n, 0, sizeof(*n));
    n->size = 1;

    return (long) j->doc->n++;
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


/* a string at j->p (the opening quote) into node `k` */
static int
jp_string(jp_t *j, long k)
{
    char                 *o;
    size_t                u;
    unsigned              cp, lo;
    const unsigned char  *p, *s, *q;

    p = j->p + 1;
    s = p;

    /* the fast path: no escapes */
    while (p < j->end && *p != '"' && *p != '\\') {
        if (jp_plain[*p]) {
            p++;
            continue;
        }
        if (*p < 0x20) {
            return jp_fail(j, p, "control character in a string");
        }
        u = jp_utf8(p, j->end);
        if (u == 0) {
            return jp_fail(j, p, "invalid UTF-8");
        }
        p += u;
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

    while (p < j->end && *p != '"') {
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

        if (*p < 0x80) {
            *o++ = (char) *p++;
            continue;
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


static int
jp_value(jp_t *j, unsigned depth)
{
    long                  k, key;
    uint32_t              count;
    const unsigned char  *at;

    jp_ws(j);

    if (j->p == j->end) {
        return jp_fail(j, j->p, "unexpected end of input");
    }

    k = jp_node(j);
    if (k < 0) {
        return -1;
    }

    at = j->p;

    switch (*j->p) {
    case '{':
    case '[':
        if (depth >= APIGW_JSON_MAX_DEPTH) {
            return jp_fail(j, at, "nesting too deep");
        }

        j->doc->nodes[k].type = *at == '{' ? APIGW_J_OBJECT : APIGW_J_ARRAY;
        j->p++;
        count = 0;
        jp_ws(j);

        if (j->p < j->end && *j->p == (*at == '{' ? '}' : ']')) {
            j->p++;
            break;
        }

        for ( ;; ) {
            if (*at == '{') {
                jp_ws(j);
                if (j->p == j->end || *j->p != '"') {
                    return jp_fail(j, j->p, "expected a property name");
                }
                key = jp_node(j);
                if (key < 0) {
                    return -1;
                }
                j->doc->nodes[key].type = APIGW_J_KEY;
                if (jp_string(j, key) != 0) {
                    return -1;
                }
                jp_ws(j);
                if (j->p == j->end || *j->p != ':') {
                    return jp_fail(j, j->p, "expected ':'");
                }
                j->p++;
            }

            if (jp_value(j, depth + 1) != 0) {
                return -1;
            }

            count++;
            jp_ws(j);

            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }

            if (j->p < j->end && *j->p == (*at == '{' ? '}' : ']')) {
                j->p++;
                break;
            }

            return jp_fail(j, j->p, j->p == j->end ? "unexpected end of input"
                                                   : "expected ',' or a "
                                                     "closing bracket");
        }

        j->doc->nodes[k].count = count;
        j->doc->nodes[k].size = (uint32_t) (j->doc->n - (size_t) k);
        break;

    case '"':
        j->doc->nodes[k].type = APIGW_J_STRING;
        return jp_string(j, k);

    case 't':
        if (j->end - j->p < 4 || memcmp(j->p, "true", 4) != 0) {
            return jp_fail(j, at, "invalid literal");
        }
        j->doc->nodes[k].type = APIGW_J_TRUE;
        j->p += 4;
        break;

    case 'f':
        if (j->end - j->p < 5 || memcmp(j->p, "false", 5) != 0) {
            return jp_fail(j, at, "invalid literal");
        }
        j->doc->nodes[k].type = APIGW_J_FALSE;
        j->p += 5;
        break;

    case 'n':
        if (j->end - j->p < 4 || memcmp(j->p, "null", 4) != 0) {
            return jp_fail(j, at, "invalid literal");
        }
        j->doc->nodes[k].type = APIGW_J_NULL;
        j->p += 4;
        break;

    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
            return jp_number(j, k);
        }
        return jp_fail(j, at, "unexpected character");
    }

    return 0;
}


int
apigw_json_parse(const char *text, size_t len, apigw_jdoc_t *doc)
{
    jp_t  j;

    memset(doc, 0, sizeof(*doc));

    j.start = (const unsigned char *) text;
    j.p = j.start;
    j.end = j.start + len;
    j.doc = doc;
    j.sb = NULL;
    j.text_len = len;

    if (jp_value(&j, 0) != 0) {
        return doc->oom ? -2 : -1;
    }

    jp_ws(&j);

    if (j.p != j.end) {
        jp_fail(&j, j.p, "unexpected data after the value");
        return -1;
    }

    return 0;
}


void
apigw_jdoc_free(apigw_jdoc_t *doc)
{
    free(doc->nodes);
    free(doc->strbuf);
    memset(doc, 0, sizeof(*doc));
}
