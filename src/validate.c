/*
 * Request validation at run time: parameter values (path, query, header,
 * cookie, with their styles) and JSON bodies checked against compiled
 * schemas (validate.h).  A check allocates nothing per keyword.  Work is
 * bounded: every schema node
 * visited costs a step from a budget proportional to the input size, and
 * recursion is capped, so hostile schemas or bodies cannot make it
 * superlinear or exhaust the stack.
 *
 * Bodies are parsed by src/vjson.c into a flat node array (no allocation
 * per value).  Integers beyond the 64-bit range are valid JSON: they are
 * kept as doubles marked `big`, are still integers for "type", compare by
 * value against bounds, and fail format int32 / int64; they never produce
 * an error of the gateway itself.
 */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "validate.h"


#define V_STEPS_PER_BYTE  64
#define V_STEPS_MIN       100000
#define V_NODES           128       /* a body's nodes on the stack first */

#ifdef __GNUC__
#define V_NOINLINE  __attribute__((noinline))
#define V_INLINE    inline __attribute__((always_inline))
#else
#define V_NOINLINE
#define V_INLINE    inline
#endif


/*
 * The JSON pointer of the value being checked, as a stack of its tokens:
 * rendered only for an error.  Each token takes at least its "/" of the
 * APIGW_VERR_NAME - 1 bytes a pointer is cut to, so deeper ones are only
 * counted.
 */
#define V_PATH_MAX  (APIGW_VERR_NAME - 1)

typedef struct {
    const char       *key;        /* NULL: an array index, in len */
    size_t            len;
} v_token_t;

typedef struct {
    apigw_vresult_t  *res;
    int               in;
    const char       *name;       /* parameter name, or NULL (body) */
    size_t            name_len;
    size_t            ntokens;    /* in path, or beyond V_PATH_MAX */
    unsigned          quiet;      /* inside anyOf / oneOf / not */
    unsigned          depth;
    int               stop;       /* cap or budget reached */
    size_t            steps;
    size_t            budget;
    size_t            rx;         /* the patterns' budget left */
    v_token_t         path[V_PATH_MAX];   /* not initialised */
} vc_t;


static const char  *v_in_names[] = {
    "path", "query", "header", "cookie", "body"
};


void
apigw_vresult_init(apigw_vresult_t *res)
{
    res->status = 0;
    res->n = 0;
    res->total = 0;
}


/* the JSON pointer of the current position into ptr; its length */
static size_t
v_pointer(const vc_t *vc, char *ptr, size_t size)
{
    char         buf[24];
    size_t       plen, cap, t, i, len;
    const char  *key;

    plen = 0;
    cap = size - 1;

    for (t = 0; t < vc->ntokens && t < V_PATH_MAX && plen < cap; t++) {
        key = vc->path[t].key;
        len = vc->path[t].len;

        if (key == NULL) {
            /* an index, in decimal */
            key = buf;
            len = (size_t) (apigw_utoa(buf, len) - buf);
        }

        ptr[plen++] = '/';

        /* "~" is "~0", "/" is "~1"; an escape that does not fit ends it */
        for (i = 0; i < len && plen < cap; i++) {
            if (key[i] == '~' || key[i] == '/') {
                if (plen + 2 > cap) {
                    break;
                }
                ptr[plen++] = '~';
                ptr[plen++] = key[i] == '~' ? '0' : '1';
                continue;
            }
            ptr[plen++] = key[i];
        }
    }

    ptr[plen] = '\0';

    return plen;
}


/* the first n bytes of s without a UTF-8 character cut at their end */
static size_t
v_utf8_whole(const char *s, size_t n)
{
    size_t          i, need;
    unsigned char   c;

    for (i = n; i > 0 && n - i < 4; i--) {
        c = (unsigned char) s[i - 1];

        if ((c & 0xc0) != 0x80) {
            need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            return n - (i - 1) < need ? i - 1 : n;
        }
    }

    return n;
}


/* the length of s, at most max bytes, ending on a whole UTF-8 character */
static int
v_utf8_cut(const char *s, size_t max)
{
    size_t  n;

    n = strlen(s);

    return (int) v_utf8_whole(s, n < max ? n : max);
}


/* An error at the current position; in quiet mode only counted. */
static size_t
v_fail(vc_t *vc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static size_t
v_fail(vc_t *vc, const char *fmt, ...)
{
    char             ptr[APIGW_VERR_NAME];
    size_t           n, plen;
    va_list          ap;
    apigw_verror_t  *e;

    if (vc->quiet) {
        return 1;
    }

    vc->res->total++;

    if (vc->res->n == APIGW_VERR_MAX) {
        vc->stop = 1;
        return 1;
    }

    e = &vc->res->items[vc->res->n++];
    e->in = vc->in;

    n = 0;
    if (vc->name) {
        n = vc->name_len < sizeof(e->name) - 1 ? vc->name_len
                                               : sizeof(e->name) - 1;
        memcpy(e->name, vc->name, n);
    }

    plen = vc->ntokens ? v_pointer(vc, ptr, sizeof(ptr)) : 0;

    if (plen && n < sizeof(e->name) - 1) {
        size_t  k = plen;

        if (vc->name) {
            /* "ids/2": the item of a parameter */
            k--;
            if (k > sizeof(e->name) - 1 - n) {
                k = sizeof(e->name) - 1 - n;
            }
            e->name[n++] = '/';
            k = k > sizeof(e->name) - 1 - n ? sizeof(e->name) - 1 - n : k;
            memcpy(e->name + n, ptr + 1, k);

        } else {
            k = k > sizeof(e->name) - 1 - n ? sizeof(e->name) - 1 - n : k;
            memcpy(e->name + n, ptr, k);
        }

        n += k;
    }

    e->name_len = v_utf8_whole(e->name, n);    /* JSON: whole characters */
    e->name[e->name_len] = '\0';

    va_start(ap, fmt);
    n = (size_t) vsnprintf(e->reason, sizeof(e->reason), fmt, ap);
    va_end(ap);

    if (n >= sizeof(e->reason)) {
        e->reason[v_utf8_whole(e->reason, sizeof(e->reason) - 1)] = '\0';
    }

    return 1;
}


/* enter "/key" (len: an index when key is NULL); the depth to pop to */
static size_t
v_push(vc_t *vc, const char *key, size_t len)
{
    if (vc->ntokens < V_PATH_MAX) {
        vc->path[vc->ntokens].key = key;
        vc->path[vc->ntokens].len = len;
    }

    return vc->ntokens++;
}


static void
v_pop(vc_t *vc, size_t old)
{
    vc->ntokens = old;
}


/* ---- helpers ---- */

/* without libm: integral-part helpers for finite doubles */
static int
v_integral(double d)
{
    if (!isfinite(d)) {
        return 0;
    }

    if (d >= 4.5e15 || d <= -4.5e15) {
        return 1;                  /* no fraction bits left */
    }

    return d == (double) (long long) d;
}


static double
v_abs(double d)
{
    return d < 0 ? -d : d;
}


static double
v_round(double d)
{
    if (!isfinite(d) || d >= 4.5e15 || d <= -4.5e15) {
        return d;
    }

    return (double) (long long) (d < 0 ? d - 0.5 : d + 0.5);
}

static size_t
v_utf8_count(const char *s, size_t len)
{
    size_t  i, n;

    for (n = 0, i = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


static int
v_utf8_valid(const char *s, size_t len)
{
    int                   n;
    size_t                i;
    unsigned              c, cp, min;
    const unsigned char  *p = (const unsigned char *) s;

    for (i = 0; i < len; ) {
        c = p[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1; cp = c & 0x1f; min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2; cp = c & 0x0f; min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3; cp = c & 0x07; min = 0x10000;
        } else {
            return 0;
        }

        if (i + (size_t) n >= len) {
            return 0;                       /* truncated sequence */
        }

        for (i++; n > 0; n--, i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (p[i] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


int
apigw_utf8_valid(const char *s, size_t len)
{
    return v_utf8_valid(s, len);
}


/* the type bits of a node's type */
static const unsigned char  v_types[] = {
    [APIGW_J_NULL] = APIGW_T_NULL,
    [APIGW_J_TRUE] = APIGW_T_BOOLEAN,
    [APIGW_J_FALSE] = APIGW_T_BOOLEAN,
    [APIGW_J_INT] = APIGW_T_INTEGER | APIGW_T_NUMBER,
    [APIGW_J_REAL] = APIGW_T_NUMBER,
    [APIGW_J_STRING] = APIGW_T_STRING,
    [APIGW_J_ARRAY] = APIGW_T_ARRAY,
    [APIGW_J_OBJECT] = APIGW_T_OBJECT,
    [APIGW_J_KEY] = 0
};


static unsigned
v_type_of(const apigw_schema_t *s, const apigw_jnode_t *j)
{
    /* integers beyond 64 bits (see the top of the file) */
    if (j->big && j->type == APIGW_J_REAL) {
        return APIGW_T_INTEGER | APIGW_T_NUMBER;
    }

    /* 3.1 (JSON Schema 2020-12): 1.0 and 1e2 are integers too */
    if (j->type == APIGW_J_REAL && (s->flags & APIGW_S_WHOLE_INT)
        && j->d == floor(j->d) && fabs(j->d) < 9007199254740992.0)
    {
        return APIGW_T_INTEGER | APIGW_T_NUMBER;
    }

    return v_types[j->type];
}


static const char *
v_types_text(unsigned types, char *buf, size_t size)
{
    static const struct { unsigned bit; const char *name; }  names[] = {
        { APIGW_T_OBJECT, "object" }, { APIGW_T_ARRAY, "array" },
        { APIGW_T_STRING, "string" }, { APIGW_T_NUMBER, "number" },
        { APIGW_T_INTEGER, "integer" }, { APIGW_T_BOOLEAN, "boolean" },
        { APIGW_T_NULL, "null" }
    };
    size_t  i, n;

    n = 0;
    buf[0] = '\0';

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if ((types & names[i].bit)
            && !(names[i].bit == APIGW_T_INTEGER
                 && (types & APIGW_T_NUMBER)))
        {
            n += (size_t) snprintf(buf + n, n < size ? size - n : 0, "%s%s",
                                   n ? " or " : "", names[i].name);
            if (n >= size) {
                break;
            }
        }
    }

    return buf;
}


/* a schema's enum / const value (jansson) against an instance node */
static int
v_equal(const json_t *a, const apigw_jnode_t *b, unsigned depth)
{
    size_t                i, n;
    json_t               *x;
    const apigw_jnode_t  *c;

    if (depth > APIGW_VDEPTH_MAX) {
        return 0;
    }

    switch (json_typeof(a)) {
    case JSON_INTEGER:
        if (b->type == APIGW_J_INT) {
            return json_integer_value(a) == b->i;
        }
        return b->type == APIGW_J_REAL
               && (double) json_integer_value(a) == b->d;

    case JSON_REAL:
        return (b->type == APIGW_J_REAL && json_real_value(a) == b->d)
               || (b->type == APIGW_J_INT
                   && json_real_value(a) == (double) b->i);

    case JSON_STRING:
        return b->type == APIGW_J_STRING
               && json_string_length(a) == b->len
               && memcmp(json_string_value(a), b->s, b->len) == 0;

    case JSON_TRUE:
        return b->type == APIGW_J_TRUE;

    case JSON_FALSE:
        return b->type == APIGW_J_FALSE;

    case JSON_NULL:
        return b->type == APIGW_J_NULL;

    case JSON_ARRAY:
        n = json_array_size(a);
        if (b->type != APIGW_J_ARRAY || b->count != n) {
            return 0;
        }
        for (c = b + 1, i = 0; i < n; i++, c += c->size) {
            if (!v_equal(json_array_get(a, i), c, depth + 1)) {
                return 0;
            }
        }
        return 1;

    case JSON_OBJECT:
        if (b->type != APIGW_J_OBJECT || b->count != json_object_size(a)) {
            return 0;
        }
        for (c = b + 1, i = 0; i < b->count; i++, c += 1 + c[1].size) {
            x = json_object_getn(a, c->s, c->len);
            if (x == NULL || !v_equal(x, c + 1, depth + 1)) {
                return 0;
            }
        }
        return 1;
    }

    return 0;
}


static int
v_digits(const char *s, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return 1;
}


static int
v_num2(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}


static int
v_date_ok(const char *s, size_t len)
{
    int  y, m, d, dim;
    static const int  days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                 30, 31 };

    if (len != 10 || s[4] != '-' || s[7] != '-' || !v_digits(s, 4)
        || !v_digits(s + 5, 2) || !v_digits(s + 8, 2))
    {
        return 0;
    }

    y = v_num2(s) * 100 + v_num2(s + 2);
    m = v_num2(s + 5);
    d = v_num2(s + 8);

    if (m < 1 || m > 12 || d < 1) {
        return 0;
    }

    dim = days[m - 1];
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        dim = 29;
    }

    return d <= dim;
}


/* RFC 3339 date-time: 2024-02-29T12:30:00(.123)?(Z|+01:00) */
static int
v_date_time_ok(const char *s, size_t len)
{
    size_t  i;

    if (len < 20 || !v_date_ok(s, 10) || (s[10] != 'T' && s[10] != 't')) {
        return 0;
    }

    s += 11;
    len -= 11;

    if (len < 9 || s[2] != ':' || s[5] != ':' || !v_digits(s, 2)
        || !v_digits(s + 3, 2) || !v_digits(s + 6, 2)
        || v_num2(s) > 23 || v_num2(s + 3) > 59 || v_num2(s + 6) > 60)
    {
        return 0;
    }

    i = 8;

    if (s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) { }
        if (i == 9) {
            return 0;
        }
    }

    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        return i + 1 == len;
    }

    if (i + 6 != len || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':'
        || !v_digits(s + i + 1, 2) || !v_digits(s + i + 4, 2)
        || v_num2(s + i + 1) > 23 || v_num2(s + i + 4) > 59)
    {
        return 0;
    }

    return 1;
}


/* hexadecimal digits */
static const unsigned char  v_hex[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1
};


static int
v_uuid_ok(const char *s, size_t len)
{
    size_t                i;
    unsigned              ok;
    const unsigned char  *p = (const unsigned char *) s;

    if (len != 36 || p[8] != '-' || p[13] != '-' || p[18] != '-'
        || p[23] != '-')
    {
        return 0;
    }

    ok = 1;

    /* 8-4-4-4-12 */
    for (i = 0; i < 8; i++) {
        ok &= v_hex[p[i]] & v_hex[p[i + 28]];
    }

    for (i = 0; i < 4; i++) {
        ok &= v_hex[p[i + 9]] & v_hex[p[i + 14]] & v_hex[p[i + 19]]
              & v_hex[p[i + 24]];
    }

    return ok;
}


static const char *
v_fmt_name(int f)
{
    switch (f) {
    case APIGW_FMT_INT32:     return "int32";
    case APIGW_FMT_INT64:     return "int64";
    case APIGW_FMT_UUID:      return "uuid";
    case APIGW_FMT_DATE:      return "date";
    default:                  return "date-time";
    }
}


/*
 * A pattern's match is bounded (PCRE2's own limit is 10 million steps,
 * tens of milliseconds): a pattern that backtracks without end on some
 * input ("^(a+)+$") stops at V_REGEX_LIMIT, and the request with it.
 * PCRE2 does not tell what a match spent, and a match that gives up just
 * below the limit is only a "no match" (inside anyOf, no error at all):
 * each match is first given V_REGEX_FIRST(len), far more than a pattern
 * that does not backtrack needs, and only past that the full limit, and
 * each is charged what it was given, from a budget of V_RX_PER_BYTE per
 * byte of input (at least one full match): the patterns' work is bounded
 * by the input's size whatever the patterns and the input are.
 */
#define V_REGEX_LIMIT       100000
#define V_REGEX_FIRST(len)  (16 + 2 * (len))
#define V_RX_PER_BYTE       32

static pcre2_match_context  *v_mctx;


static int
v_regex_run(vc_t *vc, const apigw_regex_t *re, const char *s, size_t len,
    size_t limit)
{
    int  rc;

    vc->rx -= limit;
    pcre2_set_match_limit(v_mctx, (uint32_t) limit);

    /* what pcre2_match() does for a JIT-compiled pattern, minus checks */
    rc = s != NULL ? pcre2_jit_match(re->code, (PCRE2_SPTR) s, len, 0,
                                     PCRE2_NO_UTF_CHECK, re->match, v_mctx)
                   : PCRE2_ERROR_JIT_BADOPTION;

    if (rc == PCRE2_ERROR_JIT_BADOPTION) {
        rc = pcre2_match(re->code, (PCRE2_SPTR) s, len, 0, PCRE2_NO_UTF_CHECK,
                         re->match, v_mctx);
    }

    return rc;
}


/* 1: matches, 0: does not, -1: could not be evaluated (vc stopped) */
static int
v_regex(vc_t *vc, const apigw_regex_t *re, const char *s, size_t len)
{
    int     rc;
    size_t  first, limit;

    if (v_mctx == NULL) {
        v_mctx = pcre2_match_context_create(NULL);
        if (v_mctx == NULL) {
            vc->stop = 1;
            return -1;
        }

        pcre2_set_depth_limit(v_mctx, V_REGEX_LIMIT);
    }

    vc->steps += 1 + len / 8;

    first = len < V_REGEX_LIMIT / 2 ? V_REGEX_FIRST(len) : V_REGEX_LIMIT;
    if (first > V_REGEX_LIMIT) {
        first = V_REGEX_LIMIT;
    }

    limit = first < vc->rx ? first : vc->rx;
    rc = limit ? v_regex_run(vc, re, s, len, limit) : PCRE2_ERROR_MATCHLIMIT;

    if (rc == PCRE2_ERROR_MATCHLIMIT && limit == first
        && first < V_REGEX_LIMIT && vc->rx)
    {
        limit = vc->rx < V_REGEX_LIMIT ? vc->rx : V_REGEX_LIMIT;
        rc = v_regex_run(vc, re, s, len, limit);
    }

    if (rc >= 0) {
        return 1;
    }

    if (rc == PCRE2_ERROR_NOMATCH) {
        return 0;
    }

    vc->stop = 1;
    vc->quiet = 0;                 /* always reported */

    return -1;
}


/* a and b, n bytes each, are equal; short ones without a call */
static inline int
v_same(const char *a, const char *b, size_t n)
{
    uint32_t  x, y, x2, y2;
    uint64_t  u, v, u2, v2;

    if (n >= 8) {
        if (n > 16) {
            return memcmp(a, b, n) == 0;
        }

        /* the first and the last 8 bytes, overlapping */
        memcpy(&u, a, 8);
        memcpy(&v, b, 8);
        memcpy(&u2, a + n - 8, 8);
        memcpy(&v2, b + n - 8, 8);

        return ((u ^ v) | (u2 ^ v2)) == 0;
    }

    if (n >= 4) {
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        memcpy(&x2, a + n - 4, 4);
        memcpy(&y2, b + n - 4, 4);

        return ((x ^ y) | (x2 ^ y2)) == 0;
    }

    while (n--) {
        if (a[n] != b[n]) {
            return 0;
        }
    }

    return 1;
}


/* a property name's hash: all its bytes, 8 or 4 at a time, multiplied */
static uint32_t
v_hash(const char *s, size_t len)
{
    uint32_t  x, y;
    uint64_t  h, w;

    h = len;

    if (len >= 8) {
        for ( /* void */ ; len > 8; s += 8, len -= 8) {
            memcpy(&w, s, 8);
            h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        }

        memcpy(&w, s + len - 8, 8);
        h ^= w;

    } else if (len >= 4) {
        memcpy(&x, s, 4);
        memcpy(&y, s + len - 4, 4);
        h ^= (uint64_t) x << 32 | y;

    } else if (len) {
        h ^= (uint64_t) (unsigned char) s[0] << 16
             | (uint64_t) (unsigned char) s[len / 2] << 8
             | (unsigned char) s[len - 1];
    }

    /* products carry only upwards: fold the high half down, again */
    h *= 0x9e3779b97f4a7c15ULL;
    h ^= h >> 32;
    h *= 0x9e3779b97f4a7c15ULL;

    return (uint32_t) (h >> 32);
}


int
apigw_schema_index_props(apigw_schema_t *s)
{
    size_t     i, h, size;
    uint32_t  *t;

    if (s->nprops == 0 || s->nprops > UINT32_MAX / 4) {
        return 0;                  /* binary search */
    }

    /* at most half full: short probes */
    for (size = 4; size < s->nprops * 2; size *= 2) { }

    t = calloc(size + s->nprops + 1, sizeof(uint32_t));
    if (t == NULL) {
        return -1;
    }

    for (i = 0; i < s->nprops; i++) {
        h = v_hash(s->props[i].name, s->props[i].len) & (size - 1);

        while (t[h]) {
            h = (h + 1) & (size - 1);
        }

        t[h] = (uint32_t) i + 1;
    }

    free(s->ptab);
    s->ptab = t;
    s->pmask = size - 1;
    s->pnext = t + size;

    return 0;
}


static const apigw_sprop_t *
v_prop(const apigw_schema_t *s, const char *k, size_t len)
{
    int                   r;
    size_t                lo, hi, mid, n;
    uint32_t              x;
    const apigw_sprop_t  *p;

    if (s->ptab != NULL) {
        for (n = v_hash(k, len) & s->pmask; (x = s->ptab[n]) != 0;
             n = (n + 1) & s->pmask)
        {
            p = &s->props[x - 1];

            if (p->len == len && v_same(p->name, k, len)) {
                return p;
            }
        }

        return NULL;
    }

    lo = 0;
    hi = s->nprops;

    while (lo < hi) {
        mid = (lo + hi) / 2;
        p = &s->props[mid];
        n = p->len < len ? p->len : len;
        r = memcmp(p->name, k, n);
        if (r == 0) {
            r = (p->len > len) - (p->len < len);
        }
        if (r == 0) {
            return p;
        }
        if (r < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    return NULL;
}


/*
 * v_prop(), but first the property that followed *prev the last time (an
 * object's keys mostly come in the same order); *prev becomes the one
 * found.
 */
static const apigw_sprop_t *
v_prop_after(const apigw_schema_t *s, size_t *prev, const char *k,
    size_t len)
{
    uint32_t              g;
    const apigw_sprop_t  *p;

    if (s->pnext == NULL) {
        return v_prop(s, k, len);
    }

    g = s->pnext[*prev];

    if (g != 0) {
        p = &s->props[g - 1];

        if (p->len == len && v_same(p->name, k, len)) {
            *prev = g - 1;
            return p;
        }
    }

    p = v_prop(s, k, len);

    if (p != NULL) {
        g = (uint32_t) (p - s->props);
        s->pnext[*prev] = g + 1;
        *prev = g;
    }

    return p;
}


/* ---- the checker ---- */

static V_INLINE size_t v_check(vc_t *vc, const apigw_schema_t *s,
    const apigw_jnode_t *j);


#define V_FAIL(...)                                                          \
    do {                                                                     \
        e += v_fail(vc, __VA_ARGS__);                                        \
        if (vc->quiet || vc->stop) {                                         \
            goto done;                                                       \
        }                                                                    \
    } while (0)

#define V_SUB(s_, j_)                                                        \
    do {                                                                     \
        e += v_check(vc, s_, j_);                                            \
        if ((e && vc->quiet) || vc->stop) {                                  \
            goto done;                                                       \
        }                                                                    \
    } while (0)


static size_t
v_string(vc_t *vc, const apigw_schema_t *s, const char *str, size_t len)
{
    int     m;
    size_t  e, n;

    e = 0;

    /* a code point is 1 to 4 bytes: count only when the bytes can't tell */
    if ((s->min_length && len < s->min_length * 4)
        || (s->max_length != SIZE_MAX && len > s->max_length))
    {
        n = v_utf8_count(str, len);

        if (n < s->min_length) {
            V_FAIL("must be at least %zu characters long", s->min_length);
        }

        if (n > s->max_length) {
            V_FAIL("must be at most %zu characters long", s->max_length);
        }
    }

    if (s->pattern) {
        m = v_regex(vc, s->pattern, str, len);

        if (m == 0) {
            V_FAIL("must match the pattern \"%.*s\"",
                   v_utf8_cut(s->pattern->source, 100), s->pattern->source);
        } else if (m < 0) {
            V_FAIL("the pattern \"%.*s\" could not be evaluated within "
                   "its limits", v_utf8_cut(s->pattern->source, 100),
                   s->pattern->source);
        }
    }

    if ((s->format == APIGW_FMT_UUID && !v_uuid_ok(str, len))
        || (s->format == APIGW_FMT_DATE && !v_date_ok(str, len))
        || (s->format == APIGW_FMT_DATE_TIME && !v_date_time_ok(str, len)))
    {
        V_FAIL("is not a valid %s", v_fmt_name(s->format));
    }

done:

    return e;
}


/* a bound as the document wrote it: an integer exactly, else 15 digits */
static const char *
v_bound_text(long double b, char buf[48])
{
    if (b == floorl(b) && fabsl(b) < 1e19L) {
        snprintf(buf, 48, "%.0Lf", b);

    } else {
        snprintf(buf, 48, "%.15Lg", b);
    }

    return buf;
}


static size_t
v_number(vc_t *vc, const apigw_schema_t *s, const apigw_jnode_t *j)
{
    char         nb[48];
    size_t       e;
    double       q;
    long double  d;

    e = 0;

    d = j->type == APIGW_J_INT ? (long double) j->i : (long double) j->d;

    if (s->flags & APIGW_S_MIN) {
        if ((s->flags & APIGW_S_XMIN) ? d <= s->minimum : d < s->minimum) {
            V_FAIL("must be %s %s", (s->flags & APIGW_S_XMIN) ? ">" : ">=",
                   v_bound_text(s->minimum, nb));
        }
    }

    if (s->flags & APIGW_S_MAX) {
        if ((s->flags & APIGW_S_XMAX) ? d >= s->maximum : d > s->maximum) {
            V_FAIL("must be %s %s", (s->flags & APIGW_S_XMAX) ? "<" : "<=",
                   v_bound_text(s->maximum, nb));
        }
    }

    if ((s->flags & APIGW_S_XMIN_NUM) && d <= s->xminimum) {
        V_FAIL("must be > %s", v_bound_text(s->xminimum, nb));
    }

    if ((s->flags & APIGW_S_XMAX_NUM) && d >= s->xmaximum) {
        V_FAIL("must be < %s", v_bound_text(s->xmaximum, nb));
    }

    if (s->flags & APIGW_S_MULTIPLE) {
        if (j->type == APIGW_J_INT && v_integral(s->multiple_of)
            && s->multiple_of < 9e18)
        {
            if (j->i % (long long) s->multiple_of != 0) {
                V_FAIL("must be a multiple of %.15g", s->multiple_of);
            }

        } else {
            /*
             * d / m is off a whole number by rounding (~1e-15 of it), not
             * by more: 1e-12 of it tells 10000000.001 from a multiple of
             * 0.01, and accepts 99999.99
             */
            q = (double) d / s->multiple_of;

            if (!isfinite(q)
                || v_abs(q - v_round(q)) > 1e-12 * (v_abs(q) > 1 ? v_abs(q)
                                                                 : 1))
            {
                V_FAIL("must be a multiple of %.15g", s->multiple_of);
            }
        }
    }

    if (s->format == APIGW_FMT_INT32 || s->format == APIGW_FMT_INT64) {
        if (j->type == APIGW_J_INT) {
            if (s->format == APIGW_FMT_INT32
                && (j->i < -2147483648LL || j->i > 2147483647LL))
            {
                V_FAIL("is not a valid int32");
            }

        } else {
            /* a fraction, or an integer beyond the 64-bit range */
            V_FAIL("is not a valid %s", v_fmt_name(s->format));
        }
    }

done:

    return e;
}


static size_t
v_object(vc_t *vc, const apigw_schema_t *s, const apigw_jnode_t *j)
{
    int                   matched, m;
    size_t                e, i, k, old, n, prev, fk, rl;
    v_token_t            *tok;
    const apigw_jnode_t  *c, *fc, *key, *val;
    const apigw_sprop_t  *p;

    e = 0;
    n = j->count;

    if (n < s->min_props) {
        V_FAIL("must have at least %zu properties", s->min_props);
    }

    if (n > s->max_props) {
        V_FAIL("must have at most %zu properties", s->max_props);
    }

    /* keys mostly come in the order names are required in: each search
       starts after the key the last one found */
    fk = 0;
    fc = j + 1;

    for (i = 0; i < s->nrequired; i++) {
        rl = s->required_len[i];

        for (c = fc, k = fk; k < n; k++, c += 1 + c[1].size) {
            if (c->len == rl && v_same(c->s, s->required[i], rl)) {
                goto found;
            }
        }

        for (c = j + 1, k = 0; k < fk; k++, c += 1 + c[1].size) {
            if (c->len == rl && v_same(c->s, s->required[i], rl)) {
                goto found;
            }
        }

        old = v_push(vc, s->required[i], rl);
        e += v_fail(vc, "is required");
        v_pop(vc, old);

        if (vc->quiet || vc->stop) {
            goto done;
        }

        continue;

    found:

        fk = k + 1;
        fc = c + 1 + c[1].size;

        if (fk == n) {
            fk = 0;
            fc = j + 1;
        }
    }

    if (s->nprops == 0 && s->npprops == 0 && s->additional == NULL
        && !(s->flags & APIGW_S_NO_ADDL))
    {
        goto done;
    }

    prev = s->nprops;

    /* one token for all the keys, in place */
    old = v_push(vc, NULL, 0);
    tok = old < V_PATH_MAX ? &vc->path[old] : NULL;

    for (c = j + 1, k = 0; k < n; k++, c = val + val->size) {
        key = c;
        val = c + 1;
        matched = 0;

        if (tok != NULL) {
            tok->key = key->s;
            tok->len = key->len;
        }

        p = v_prop_after(s, &prev, key->s, key->len);
        if (p != NULL) {
            matched = 1;
            e += v_check(vc, p->schema, val);
        }

        for (i = 0; i < s->npprops && !(e && vc->quiet) && !vc->stop; i++) {
            m = v_regex(vc, &s->pprops[i].re, key->s, key->len);

            if (m == 1) {
                matched = 1;
                e += v_check(vc, s->pprops[i].schema, val);

            } else if (m < 0) {
                e += v_fail(vc, "the pattern \"%.*s\" could not be "
                            "evaluated within its limits",
                            v_utf8_cut(s->pprops[i].re.source, 100),
                            s->pprops[i].re.source);
            }
        }

        if (!matched && !(e && vc->quiet) && !vc->stop) {
            if (s->flags & APIGW_S_NO_ADDL) {
                e += v_fail(vc, "is not allowed (additionalProperties)");

            } else if (s->additional) {
                e += v_check(vc, s->additional, val);
            }
        }

        if ((e && vc->quiet) || vc->stop) {
            break;
        }
    }

    v_pop(vc, old);

done:

    return e;
}


static size_t
v_array(vc_t *vc, const apigw_schema_t *s, const apigw_jnode_t *j)
{
    size_t                e, i, n, old;
    v_token_t            *tok;
    const apigw_jnode_t  *c;

    e = 0;
    n = j->count;

    if (n < s->min_items) {
        V_FAIL("must have at least %zu items", s->min_items);
    }

    if (n > s->max_items) {
        V_FAIL("must have at most %zu items", s->max_items);
    }

    if (s->items) {
        /* one token for all the indexes, in place */
        old = v_push(vc, NULL, 0);
        tok = old < V_PATH_MAX ? &vc->path[old] : NULL;

        for (c = j + 1, i = 0; i < n; i++, c += c->size) {
            if (tok != NULL) {
                tok->len = i;
            }

            e += v_check(vc, s->items, c);

            if ((e && vc->quiet) || vc->stop) {
                break;
            }
        }

        v_pop(vc, old);
    }

done:

    return e;
}


/* "must be ..." (apart: v_check() needs no buffer on its stack) */
static V_NOINLINE size_t
v_fail_types(vc_t *vc, unsigned types)
{
    char  buf[64];

    return v_fail(vc, "must be %s", v_types_text(types, buf, sizeof(buf)));
}


/* a schema with any of the keywords APIGW_S_PLAIN rules out */
static V_NOINLINE size_t
v_check_full(vc_t *vc, const apigw_schema_t *s, const apigw_jnode_t *j)
{
    size_t    e, i, n, first, second;
    unsigned  t;

    e = 0;

    vc->depth++;

    if (s->flags & APIGW_S_FALSE) {
        V_FAIL("is not allowed");
    }

    if (s->ref) {
        V_SUB(s->ref, j);
    }

    t = v_type_of(s, j);

    if (t == APIGW_T_NULL && (s->flags & APIGW_S_NULLABLE)) {
        goto composites;
    }

    if (s->types && !(s->types & t)) {
        e += v_fail_types(vc, s->types);
        if (vc->quiet || vc->stop) {
            goto done;
        }
        goto composites;
    }

    if (s->enum_) {
        n = json_array_size(s->enum_);

        for (i = 0; i < n; i++) {
            if (v_equal(json_array_get(s->enum_, i), j, 0)) {
                break;
            }
        }

        if (i == n) {
            V_FAIL("must be one of the allowed values");
        }
    }

    if ((s->flags & APIGW_S_CONST) && !v_equal(s->const_, j, 0)) {
        V_FAIL("must be equal to the constant");
    }

    switch (j->type) {
    case APIGW_J_STRING:
        e += v_string(vc, s, j->s, j->len);
        break;
    case APIGW_J_INT:
    case APIGW_J_REAL:
        e += v_number(vc, s, j);
        break;
    case APIGW_J_OBJECT:
        e += v_object(vc, s, j);
        break;
    case APIGW_J_ARRAY:
        e += v_array(vc, s, j);
        break;
    default:
        break;
    }

    if ((e && vc->quiet) || vc->stop) {
        goto done;
    }

composites:

    for (i = 0; i < s->nall_of; i++) {
        V_SUB(s->all_of[i], j);
    }

    if (s->nany_of) {
        vc->quiet++;
        for (i = 0; i < s->nany_of && !vc->stop; i++) {
            if (v_check(vc, s->any_of[i], j) == 0) {
                break;
            }
        }
        vc->quiet -= vc->quiet != 0;   /* 0: a stop, reported */

        if (vc->stop) {
            e++;                   /* what stopped it is reported */
            goto done;
        }

        if (i == s->nany_of) {
            V_FAIL("must match at least one schema of anyOf");
        }
    }

    if (s->none_of) {
        n = 0;
        first = second = 0;

        vc->quiet++;
        for (i = 0; i < s->none_of && n < 2 && !vc->stop; i++) {
            if (v_check(vc, s->one_of[i], j) == 0) {
                if (n++ == 0) {
                    first = i;
                } else {
                    second = i;
                }
            }
        }
        vc->quiet -= vc->quiet != 0;   /* 0: a stop, reported */

        if (vc->stop) {
            e++;                   /* what stopped it is reported */
            goto done;
        }

        if (n == 0) {
            V_FAIL("must match exactly one schema of oneOf; it matches none");
        }

        if (n > 1) {
            V_FAIL("must match exactly one schema of oneOf; it matches "
                   "more (#%zu and #%zu)", first, second);
        }
    }

    if (s->not_) {
        vc->quiet++;
        n = v_check(vc, s->not_, j);
        vc->quiet -= vc->quiet != 0;   /* 0: a stop, reported */

        if (vc->stop) {
            e++;                   /* what stopped it is reported */
            goto done;
        }

        if (n == 0) {
            V_FAIL("must not match the schema of not");
        }
    }

done:

    vc->depth--;

    return e;
}


/* v_check() but for its inline case, the step counted */
static V_NOINLINE size_t
v_check_node(vc_t *vc, const apigw_schema_t *s, const apigw_jnode_t *j)
{
    size_t    e;
    unsigned  t;

    if (vc->steps > vc->budget) {
        vc->quiet = 0;             /* always reported */
        e = v_fail(vc, "is too complex to validate");
        vc->stop = 1;
        return e;
    }

    if (vc->depth >= APIGW_VDEPTH_MAX) {
        return v_fail(vc, "is nested too deeply to validate");
    }

    if (!(s->flags & APIGW_S_PLAIN)) {
        return v_check_full(vc, s, j);
    }

    /* the common case: the type, then the keywords of the type */

    t = v_type_of(s, j);

    if (t == APIGW_T_NULL && (s->flags & APIGW_S_NULLABLE)) {
        return 0;
    }

    if (s->types && !(s->types & t)) {
        return v_fail_types(vc, s->types);
    }

    vc->depth++;

    switch (j->type) {
    case APIGW_J_STRING:
        /* v_string() has nothing to check for most strings */
        e = (s->min_length && j->len < s->min_length * 4)
            || j->len > s->max_length || s->pattern || s->format
            ? v_string(vc, s, j->s, j->len) : 0;
        break;
    case APIGW_J_INT:
    case APIGW_J_REAL:
        e = v_number(vc, s, j);
        break;
    case APIGW_J_OBJECT:
        e = v_object(vc, s, j);
        break;
    case APIGW_J_ARRAY:
        e = v_array(vc, s, j);
        break;
    default:
        e = 0;
        break;
    }

    vc->depth--;

    return e;
}


/*
 * A value against a schema: inline for what most are, a string, number,
 * boolean or null against a schema of the short path.
 */
static V_INLINE size_t
v_check(vc_t *vc, const apigw_schema_t *s, const apigw_jnode_t *j)
{
    unsigned  t;

    if (vc->stop) {
        return 0;
    }

    if (++vc->steps > vc->budget || vc->depth >= APIGW_VDEPTH_MAX
        || !(s->flags & APIGW_S_PLAIN) || j->type == APIGW_J_OBJECT
        || j->type == APIGW_J_ARRAY)
    {
        return v_check_node(vc, s, j);
    }

    if (j->type == APIGW_J_STRING) {
        if (s->types && !(s->types & APIGW_T_STRING)) {
            return v_fail_types(vc, s->types);
        }

        /* v_string() has nothing to check for most strings */
        return (s->min_length && j->len < s->min_length * 4)
               || j->len > s->max_length || s->pattern || s->format
               ? v_string(vc, s, j->s, j->len) : 0;
    }

    t = v_type_of(s, j);

    if (t == APIGW_T_NULL && (s->flags & APIGW_S_NULLABLE)) {
        return 0;
    }

    if (s->types && !(s->types & t)) {
        return v_fail_types(vc, s->types);
    }

    if (j->type == APIGW_J_INT || j->type == APIGW_J_REAL) {
        return v_number(vc, s, j);
    }

    return 0;
}


static void
v_init(vc_t *vc, apigw_vresult_t *res, int in, size_t size)
{
    /* not the path: it is written before it is read */
    vc->res = res;
    vc->in = in;
    vc->name = NULL;
    vc->name_len = 0;
    vc->ntokens = 0;
    vc->quiet = 0;
    vc->depth = 0;
    vc->stop = 0;
    vc->steps = 0;
    vc->budget = size > (SIZE_MAX - V_STEPS_MIN) / V_STEPS_PER_BYTE
                 ? SIZE_MAX : V_STEPS_MIN + size * V_STEPS_PER_BYTE;
    vc->rx = size > (SIZE_MAX - V_REGEX_LIMIT) / V_RX_PER_BYTE
             ? SIZE_MAX : V_REGEX_LIMIT + size * V_RX_PER_BYTE;
}


size_t
apigw_schema_check(const apigw_schema_t *s, const void *json,
    apigw_vresult_t *res)
{
    vc_t          vc;
    char         *text;
    size_t        e;
    apigw_jdoc_t  doc;

    /* through text: the body parser is what requests see */
    text = json_dumps(json, JSON_ENCODE_ANY | JSON_COMPACT);
    if (text == NULL) {
        return 0;
    }

    v_init(&vc, res, APIGW_IN_BODY, strlen(text));

    if (apigw_json_parse(text, strlen(text), &doc) != 0) {
        e = v_fail(&vc, "malformed JSON at byte offset %zu: %s",
                   doc.err_offset, doc.err ? doc.err : "out of memory");
    } else {
        e = v_check(&vc, s, doc.nodes);
    }

    apigw_jdoc_free(&doc);
    free(text);

    return e;
}


/* ---- parameters ---- */

static unsigned
p_json_types(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return APIGW_T_INTEGER;
    case JSON_REAL:
        return APIGW_T_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE:
        return APIGW_T_BOOLEAN;
    case JSON_NULL:
        return APIGW_T_NULL;
    case JSON_STRING:
        return APIGW_T_STRING;
    case JSON_ARRAY:
        return APIGW_T_ARRAY;
    default:
        return APIGW_T_OBJECT;
    }
}


/*
 * The types a parameter's value converts to: through $ref and allOf; for
 * a schema without "type", what its anyOf / oneOf alternatives or its
 * enum / const values are (enum: [1, 2] wants the number 1, not "1").
 */
static unsigned
p_types_at(const apigw_schema_t *s, unsigned depth)
{
    size_t    i;
    json_t   *v;
    unsigned  k, t;

    for (k = 0; s && k < 16; k++) {
        if (s->types) {
            return s->types;
        }

        for (i = 0; i < s->nall_of; i++) {
            if (s->all_of[i]->types) {
                return s->all_of[i]->types;
            }
        }

        t = 0;

        if (depth < 8) {
            for (i = 0; i < s->nany_of; i++) {
                t |= p_types_at(s->any_of[i], depth + 1);
            }

            for (i = 0; i < s->none_of; i++) {
                t |= p_types_at(s->one_of[i], depth + 1);
            }
        }

        if (s->enum_) {
            json_array_foreach((json_t *) s->enum_, i, v) {
                t |= p_json_types(v);
            }
        }

        if ((s->flags & APIGW_S_CONST) && s->const_) {
            t |= p_json_types(s->const_);
        }

        if (t) {
            return t;
        }

        s = s->ref;
    }

    return 0;
}


static unsigned
p_types(const apigw_schema_t *s)
{
    return p_types_at(s, 0);
}


static const apigw_schema_t *
p_items(const apigw_schema_t *s)
{
    unsigned  k;

    for (k = 0; s && k < 16; k++) {
        if (s->items) {
            return s->items;
        }
        s = s->ref;
    }

    return NULL;
}


static int
p_is_int(const char *s, size_t len)
{
    size_t  i;

    i = (len && (s[0] == '-' || s[0] == '+')) ? 1 : 0;

    return i < len && v_digits(s + i, len - i);
}


static int
p_is_number(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!strchr("0123456789+-.eE", s[i])) {
            return 0;
        }
    }

    return len > 0;
}


/*
 * A value as the JSON it stands for, by the schema's types.  Integer
 * syntax beyond 64 bits becomes a big REAL, as in bodies; a fraction is a
 * number only where the schema allows one.
 */
static void
p_scalar(unsigned types, const char *v, size_t len, apigw_jnode_t *n)
{
    char      buf[512], *end;
    double    d;
    long long i;

    memset(n, 0, sizeof(*n));
    n->size = 1;

    if ((types & (APIGW_T_INTEGER | APIGW_T_NUMBER))
        && len < sizeof(buf) && p_is_number(v, len)
        && (p_is_int(v, len) || (types & APIGW_T_NUMBER)))
    {
        memcpy(buf, v, len);
        buf[len] = '\0';

        if (p_is_int(v, len)) {
            errno = 0;
            i = strtoll(buf, &end, 10);
            if (errno == 0 && *end == '\0') {
                n->type = APIGW_J_INT;
                n->i = i;
                return;
            }
        }

        d = strtod(buf, &end);
        if (*end == '\0' && isfinite(d)) {
            n->type = APIGW_J_REAL;
            n->d = d;
            n->big = (unsigned char) p_is_int(v, len);
            return;
        }
    }

    if (types & APIGW_T_BOOLEAN) {
        if (len == 4 && memcmp(v, "true", 4) == 0) {
            n->type = APIGW_J_TRUE;
            return;
        }
        if (len == 5 && memcmp(v, "false", 5) == 0) {
            n->type = APIGW_J_FALSE;
            return;
        }
    }

    if ((types & APIGW_T_NULL)
        && ((len == 4 && memcmp(v, "null", 4) == 0) || len == 0))
    {
        n->type = APIGW_J_NULL;
        return;
    }

    /* a string; or the wrong type, which the check reports */
    n->type = APIGW_J_STRING;
    n->s = v;
    n->len = len;
}


/*
 * A parameter's value as nodes: one, or an array and its items.  Returns
 * the number of nodes written to `out` (cap `max`), or 0 when there are
 * more items than that.
 */
static size_t
p_value(const apigw_vparam_t *p, const char *v, size_t len,
    const char *const *multi, const size_t *mlens, size_t nmulti,
    apigw_jnode_t *out, size_t max)
{
    char                   delim;
    size_t                 i, k, n, start;
    unsigned               types, itypes;
    const apigw_schema_t  *items;

    types = p_types(p->schema);

    if (p->style == APIGW_STYLE_LABEL && len && v[0] == '.') {
        v++;
        len--;

    } else if (p->style == APIGW_STYLE_MATRIX && len && v[0] == ';') {
        /* ";name=value" */
        for (i = 0; i < len && v[i] != '='; i++) { }
        i = i < len ? i + 1 : len;
        v += i;
        len -= i;
    }

    if (!(types & APIGW_T_ARRAY)) {
        p_scalar(types, v, len, &out[0]);
        return 1;
    }

    items = p_items(p->schema);
    itypes = p_types(items);

    memset(&out[0], 0, sizeof(apigw_jnode_t));
    out[0].type = APIGW_J_ARRAY;
    n = 1;

    if (multi != NULL) {
        /* form, explode: one item per occurrence */
        for (i = 0; i < nmulti; i++) {
            if (n == max) {
                return 0;
            }
            p_scalar(itypes, multi[i], mlens[i], &out[n++]);
        }

    } else if (len) {
        switch (p->style) {
        case APIGW_STYLE_SPACE: delim = ' '; break;
        case APIGW_STYLE_PIPE:  delim = '|'; break;
        case APIGW_STYLE_TAB:   delim = '\t'; break;
        case APIGW_STYLE_LABEL: delim = p->explode ? '.' : ','; break;
        case APIGW_STYLE_MATRIX: delim = p->explode ? ';' : ','; break;
        default:                delim = ','; break;
        }

        for (start = 0, i = 0; i <= len; i++) {
            if (i == len || v[i] == delim) {
                if (n == max) {
                    return 0;
                }

                /* matrix, explode: ";id=3;id=4", the first "id=" gone */
                if (delim == ';' && start > 0) {
                    for (k = start; k < i && v[k] != '='; k++) { }
                    start = k < i ? k + 1 : start;
                }

                p_scalar(itypes, v + start, i - start, &out[n++]);
                start = i + 1;
            }
        }
    }

    out[0].count = (uint32_t) (n - 1);
    out[0].size = (uint32_t) n;

    return n;
}


/* form decoding: %XX and "+"; out has room for len bytes */
static size_t
p_decode(const char *s, size_t len, char *out)
{
    int     hi, lo;
    size_t  i, n;

    for (n = 0, i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[n++] = ' ';

        } else if (s[i] == '%' && i + 2 < len
                   && (hi = apigw_hex((unsigned char) s[i + 1])) >= 0
                   && (lo = apigw_hex((unsigned char) s[i + 2])) >= 0)
        {
            out[n++] = (char) (hi * 16 + lo);
            i += 2;

        } else {
            out[n++] = s[i];
        }
    }

    return n;
}


#define P_MULTI_MAX  256

typedef struct {
    const char  *v[P_MULTI_MAX];
    size_t       len[P_MULTI_MAX];
    size_t       n;
    unsigned     more;      /* more than P_MULTI_MAX copies */
} p_found_t;


/* every "name=value" of the query for one parameter, decoded into buf */
static void
p_query(const apigw_vrequest_t *req, const apigw_vparam_t *p, char *buf,
    p_found_t *f)
{
    char        *out;
    size_t       klen, vlen, n;
    const char  *q, *end, *amp, *eq;

    f->n = 0;
    f->more = 0;

    if (req->query == NULL) {
        return;
    }

    q = req->query;
    end = q + req->query_len;
    out = buf;

    while (q < end) {
        amp = memchr(q, '&', (size_t) (end - q));
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(q, '=', (size_t) (amp - q));

        klen = (size_t) ((eq ? eq : amp) - q);
        n = p_decode(q, klen, out);

        /* deepObject: "name[prop]=v" is the parameter present */
        if (p->style == APIGW_STYLE_OTHER && n > p->len
            && out[p->len] == '[' && memcmp(out, p->name, p->len) == 0)
        {
            n = p->len;
        }

        if (n == p->len && memcmp(out, p->name, n) == 0) {
            if (f->n == P_MULTI_MAX) {
                f->more = 1;
                return;
            }

            vlen = eq ? (size_t) (amp - eq - 1) : 0;
            n = eq ? p_decode(eq + 1, vlen, out) : 0;
            f->v[f->n] = out;
            f->len[f->n] = n;
            f->n++;
            out += n;
        }

        q = amp + 1;
    }
}


static void
p_header(const apigw_vrequest_t *req, const char *name, size_t len,
    p_found_t *f)
{
    size_t  i;

    f->n = 0;
    f->more = 0;

    for (i = 0; i < req->nheaders; i++) {
        if (req->headers[i].name_len == len
            && strncasecmp(req->headers[i].name, name, len) == 0)
        {
            if (f->n == P_MULTI_MAX) {
                f->more = 1;
                return;
            }

            f->v[f->n] = req->headers[i].value;
            f->len[f->n] = req->headers[i].value_len;
            f->n++;
        }
    }
}


static void
p_cookie(const apigw_vrequest_t *req, const apigw_vparam_t *p, p_found_t *f)
{
    size_t       i;
    p_found_t    h;
    const char  *s, *end, *semi, *eq, *k;

    p_header(req, "cookie", 6, &h);
    f->n = 0;
    f->more = h.more;

    for (i = 0; i < h.n && !f->more; i++) {
        s = h.v[i];
        end = s + h.len[i];

        while (s < end) {
            semi = memchr(s, ';', (size_t) (end - s));
            if (semi == NULL) {
                semi = end;
            }

            for (k = s; k < semi && (*k == ' ' || *k == '\t'); k++) { }
            eq = memchr(k, '=', (size_t) (semi - k));

            if (eq && (size_t) (eq - k) == p->len
                && memcmp(k, p->name, p->len) == 0)
            {
                if (f->n == P_MULTI_MAX) {
                    f->more = 1;
                    return;
                }

                f->v[f->n] = eq + 1;
                f->len[f->n] = (size_t) (semi - eq - 1);
                while (f->len[f->n]
                       && (f->v[f->n][f->len[f->n] - 1] == ' '
                           || f->v[f->n][f->len[f->n] - 1] == '\t'))
                {
                    f->len[f->n]--;
                }
                f->n++;
            }

            s = semi + 1;
        }
    }
}


#define P_ITEMS_MAX  1024

/*
 * A label value starts with "."; in a matrix value every ";" piece is the
 * parameter's own name, alone or with "=value" (RFC 6570 3.2.7), and
 * only an exploded array has more than one piece: ";id=3" for "id", not
 * ";other=3" or a bare "3".
 */
static int
p_style_ok(const apigw_vparam_t *p, const char *v, size_t len)
{
    size_t  i, start, n;

    if (p->style == APIGW_STYLE_LABEL) {
        return len > 0 && v[0] == '.';
    }

    if (p->style != APIGW_STYLE_MATRIX) {
        return 1;
    }

    if (len == 0 || v[0] != ';') {
        return 0;
    }

    for (start = 1, i = 1; i <= len; i++) {
        if (i < len && v[i] != ';') {
            continue;
        }

        n = i - start;

        if (n < p->len || memcmp(v + start, p->name, p->len) != 0
            || (n > p->len && v[start + p->len] != '='))
        {
            return 0;
        }

        if (!p->explode || !(p_types(p->schema) & APIGW_T_ARRAY)) {
            /* one piece: the rest, ";" included, is the value */
            return 1;
        }

        start = i + 1;
    }

    return 1;
}


static void
p_check(const apigw_vparam_t *p, const char *v, size_t len,
    const p_found_t *multi, apigw_vresult_t *res)
{
    size_t          i, n;
    vc_t            vc;
    apigw_jnode_t  *nodes, one;

    v_init(&vc, res, p->in, len);
    vc.name = p->name;
    vc.name_len = p->len;

    if (multi) {
        for (i = 0; i < multi->n; i++) {
            if (!v_utf8_valid(multi->v[i], multi->len[i])) {
                v_fail(&vc, "is not valid UTF-8");
                return;
            }
        }

    } else if (!v_utf8_valid(v, len)) {
        v_fail(&vc, "is not valid UTF-8");
        return;
    }

    if (!multi && !p_style_ok(p, v, len)) {
        v_fail(&vc, p->style == APIGW_STYLE_LABEL
                    ? "is not in the label style (\".value\")"
                    : "is not in the matrix style (\";%s=value\")",
               p->name);
        return;
    }

    if (!(p_types(p->schema) & APIGW_T_ARRAY)) {
        (void) p_value(p, v, len, NULL, NULL, 0, &one, 1);
        (void) v_check(&vc, p->schema, &one);
        return;
    }

    nodes = malloc(P_ITEMS_MAX * sizeof(apigw_jnode_t));
    if (nodes == NULL) {
        v_fail(&vc, "could not be checked (out of memory)");
        return;
    }

    n = p_value(p, v, len, multi ? multi->v : NULL,
                multi ? multi->len : NULL, multi ? multi->n : 0, nodes,
                P_ITEMS_MAX);

    if (n == 0) {
        v_fail(&vc, "has more than %d items", P_ITEMS_MAX - 1);
    } else {
        (void) v_check(&vc, p->schema, nodes);
    }

    free(nodes);
}


int
apigw_validation_on(const apigw_operation_t *op, int directive)
{
    const apigw_validation_t  *v = op->validation;

    if (v == NULL) {
        return 0;
    }

    return v->mode == -1 ? directive : v->mode;
}


/* "type/subtype" of a Content-Type value, lower case, into buf */
static size_t
m_base(const char *ct, size_t len, char *buf, size_t size)
{
    size_t  i, n;

    for (i = 0; i < len && (ct[i] == ' ' || ct[i] == '\t'); i++) { }

    for (n = 0; i < len && ct[i] != ';' && ct[i] != ' ' && ct[i] != '\t'
         && n < size - 1; i++)
    {
        buf[n++] = (ct[i] >= 'A' && ct[i] <= 'Z') ? ct[i] | 0x20 : ct[i];
    }

    buf[n] = '\0';

    return n;
}


static int
m_is_json(const char *t, size_t n)
{
    const char  *slash;

    slash = memchr(t, '/', n);
    if (slash == NULL) {
        return 0;
    }

    n -= (size_t) (slash + 1 - t);
    t = slash + 1;

    return (n == 4 && memcmp(t, "json", 4) == 0)
           || (n > 5 && memcmp(t + n - 5, "+json", 5) == 0);
}


/* "application/\*" or "application/\*+json": one "*" in the subtype */
static int
m_glob(const char *pat, const char *t, size_t n)
{
    size_t       pl, pre, suf;
    const char  *star;

    star = strchr(pat, '*');
    if (star == NULL) {
        return 0;
    }

    pl = strlen(pat);
    pre = (size_t) (star - pat);
    suf = pl - pre - 1;

    return memchr(pat, '/', pre) != NULL
           && n >= pre + suf
           && memcmp(pat, t, pre) == 0
           && memcmp(star + 1, t + n - suf, suf) == 0
           && memchr(t + pre, '/', n - pre - suf) == NULL;
}


/* the best declared media type for a request's; NULL: none */
static const apigw_vmedia_t *
m_match(const apigw_validation_t *v, const char *ct, size_t ctlen,
    char *base, size_t size)
{
    int                    score, best_score;
    size_t                 i, n;
    const char            *slash;
    const apigw_vmedia_t  *m, *best;

    if (ct == NULL) {
        ct = "application/octet-stream";
        ctlen = sizeof("application/octet-stream") - 1;
    }

    /*
     * The common case: a declared type as it is, then the end or a
     * parameter.  Its base is that type, so that is the first one found
     * below too (an exact match ranks first), unless one before it has no
     * length to compare with.
     */
    for (i = 0; i < v->nmedia && v->media[i].len != 0; i++) {
        m = &v->media[i];
        n = m->len;

        if (n < size && n <= ctlen && memcmp(ct, m->type, n) == 0
            && (n == ctlen || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t'))
        {
            memcpy(base, m->type, n + 1);
            return m;
        }
    }

    n = m_base(ct, ctlen, base, size);
    slash = memchr(base, '/', n);

    best = NULL;
    best_score = 0;

    for (i = 0; i < v->nmedia; i++) {
        m = &v->media[i];

        if (strcmp(m->type, base) == 0) {
            score = 3;
        } else if (strcmp(m->type, "*/*") == 0) {
            score = 1;
        } else if (slash && m_glob(m->type, base, n)) {
            score = 2;
        } else {
            score = 0;
        }

        if (score > best_score) {
            best = m;
            best_score = score;
        }
    }

    return best;
}


int
apigw_validate_request(const apigw_validation_t *v,
    const apigw_vrequest_t *req, apigw_vresult_t *res)
{
    char                  *buf, base[128];
    const char            *ct;
    size_t                 i, k, before;
    unsigned               obj, types;
    vc_t                   vc;
    p_found_t              f;
    const apigw_vparam_t  *p;
    const apigw_vmedia_t  *m;

    apigw_vresult_init(res);
    buf = NULL;

    for (i = 0; i < v->nparams; i++) {
        p = &v->params[i];
        f.n = 0;
        f.more = 0;

        switch (p->in) {
        case APIGW_IN_PATH:
            for (k = 0; k < req->npath; k++) {
                if (req->path[k].name_len == p->len
                    && memcmp(req->path[k].name, p->name, p->len) == 0)
                {
                    f.v[0] = req->path[k].value;
                    f.len[0] = req->path[k].value_len;
                    f.n = 1;
                    break;
                }
            }
            break;

        case APIGW_IN_QUERY:
            if (buf == NULL && req->query_len) {
                buf = malloc(req->query_len);
                if (buf == NULL) {
                    res->status = 500;
                    return APIGW_V_REJECT;
                }
            }
            if (buf != NULL) {
                p_query(req, p, buf, &f);
            }
            break;

        case APIGW_IN_HEADER:
            p_header(req, p->name, p->len, &f);
            break;

        case APIGW_IN_COOKIE:
            p_cookie(req, p, &f);
            break;
        }

        /*
         * An object parameter is serialised by properties ("x,1,y,2", or
         * "x=1&y=2" for a form with explode, which names no parameter at
         * all): checked for presence only, where presence shows
         */
        types = p->schema && p->style != APIGW_STYLE_OTHER
                ? p_types(p->schema) : 0;
        obj = types & APIGW_T_OBJECT;

        if (f.n == 0) {
            if (p->required
                && !(obj && p->explode && p->style == APIGW_STYLE_FORM))
            {
                v_init(&vc, res, p->in, 0);
                vc.name = p->name;
                vc.name_len = p->len;
                v_fail(&vc, "is required");
            }
            continue;
        }

        if (p->schema == NULL || p->style == APIGW_STYLE_OTHER || obj) {
            continue;
        }

        /* copies not collected would go unchecked */
        if (f.more) {
            v_init(&vc, res, p->in, 0);
            vc.name = p->name;
            vc.name_len = p->len;
            v_fail(&vc, "is repeated more than %d times", P_MULTI_MAX);
            continue;
        }

        if (p->explode && p->style == APIGW_STYLE_FORM
            && (types & APIGW_T_ARRAY))
        {
            p_check(p, NULL, 0, &f, res);
            continue;
        }

        /*
         * Every copy: the backend may use any of them (OpenWhisk takes
         * the last one); the first failing copy is reported
         */
        for (k = 0; k < f.n; k++) {
            before = res->total;
            p_check(p, f.v[k], f.len[k], NULL, res);

            if (res->total != before) {
                break;
            }
        }
    }

    free(buf);

    m = NULL;

    if (req->has_body && v->nmedia) {
        m = m_match(v, req->content_type, req->content_type_len, base,
                    sizeof(base));

        if (m == NULL && !v->any_media) {
            v_init(&vc, res, APIGW_IN_BODY, 0);
            vc.name = "Content-Type";
            vc.name_len = sizeof("Content-Type") - 1;
            /* the error body is JSON: no bytes that are not UTF-8 */
            ct = req->content_type == NULL ? "(none)"
                 : v_utf8_valid(base, strlen(base)) ? base : "(not UTF-8)";
            v_fail(&vc, "media type \"%.*s\" is not accepted",
                   v_utf8_cut(ct, 64), ct);

            if (res->total == 1) {
                res->status = 415;
                return APIGW_V_REJECT;
            }
        }

    } else if (!req->has_body && v->body_required) {
        v_init(&vc, res, APIGW_IN_BODY, 0);
        v_fail(&vc, "a request body is required");
    }

    if (res->total) {
        res->status = 400;
        return APIGW_V_REJECT;
    }

    if (m != NULL && m->schema != NULL
        && m_is_json(base, strlen(base)))
    {
        return APIGW_V_BODY;
    }

    return APIGW_V_OK;
}


int
apigw_validate_body(const apigw_validation_t *v, const char *content_type,
    size_t content_type_len, const char *body, size_t len,
    apigw_vresult_t *res)
{
    int                    rc;
    char                   base[128];
    vc_t                   vc;
    apigw_jdoc_t           doc;
    apigw_jnode_t          nodes[V_NODES];
    const apigw_vmedia_t  *m;

    apigw_vresult_init(res);

    m = m_match(v, content_type, content_type_len, base, sizeof(base));

    if (m == NULL || m->schema == NULL) {
        return APIGW_V_OK;
    }

    v_init(&vc, res, APIGW_IN_BODY, len);

    if (len == 0) {
        if (v->body_required) {
            v_fail(&vc, "a request body is required");
            res->status = 400;
            return APIGW_V_REJECT;
        }

        return APIGW_V_OK;
    }

    rc = apigw_json_parse_buf(body, len, &doc, nodes, V_NODES);

    if (rc == -2) {
        apigw_jdoc_free(&doc);
        res->status = 500;
        return APIGW_V_REJECT;
    }

    if (rc != 0) {
        v_fail(&vc, "malformed JSON at byte offset %zu: %s", doc.err_offset,
               doc.err);
        apigw_jdoc_free(&doc);
        res->status = 400;
        return APIGW_V_REJECT;
    }

    (void) v_check(&vc, m->schema, doc.nodes);
    apigw_jdoc_free(&doc);

    if (res->total) {
        res->status = 400;
        return APIGW_V_REJECT;
    }

    return APIGW_V_OK;
}


size_t
apigw_vresult_json(const apigw_vresult_t *res, char *buf, size_t size)
{
    size_t                 i, n, k;
    const char            *key;
    const apigw_verror_t  *e;

#define V_PUT(s_, l_)                                                        \
    do {                                                                     \
        if (n + (l_) <= size) {                                              \
            memcpy(buf + n, s_, l_);                                         \
        }                                                                    \
        n += (l_);                                                           \
    } while (0)

#define V_STR(s_)  V_PUT(s_, strlen(s_))

#define V_ESC(s_, l_)                                                        \
    do {                                                                     \
        k = apigw_json_escape(s_, l_, NULL, 0);                              \
        if (n + k <= size) {                                                 \
            apigw_json_escape(s_, l_, buf + n, k);                           \
        }                                                                    \
        n += k;                                                              \
    } while (0)

    n = 0;
    V_STR("[");

    for (i = 0; i < res->n; i++) {
        e = &res->items[i];
        key = (e->in == APIGW_IN_BODY
               && strcmp(e->name, "Content-Type") != 0) ? "pointer"
                                                        : "name";

        V_STR(i ? ",{\"in\":\"" : "{\"in\":\"");
        V_STR(v_in_names[e->in]);
        V_STR("\",\"");
        V_STR(key);
        V_STR("\":\"");
        V_ESC(e->name, e->name_len);
        V_STR("\",\"reason\":\"");
        V_ESC(e->reason, strlen(e->reason));
        V_STR("\"}");
    }

    V_STR("]");

    return n;
}
