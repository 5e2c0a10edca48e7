/*
 * JSON pointers that follow the importer's walk, problems reported at them,
 * typed field access and local $ref resolution.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oa.h"


static int
oa_ptr_reserve(oa_ctx_t *c, size_t extra)
{
    char    *p;
    size_t   cap;

    if (c->ptr.len + extra + 1 <= c->ptr.cap) {
        return 0;
    }

    cap = c->ptr.cap ? c->ptr.cap : 128;

    while (cap < c->ptr.len + extra + 1) {
        cap *= 2;
    }

    p = realloc(c->ptr.buf, cap);
    if (p == NULL) {
        c->oom = 1;
        return -1;
    }

    c->ptr.buf = p;
    c->ptr.cap = cap;

    return 0;
}


size_t
oa_ptr_push_n(oa_ctx_t *c, const char *key, size_t len)
{
    size_t  old, i, extra;

    old = c->ptr.len;
    extra = 1;

    for (i = 0; i < len; i++) {
        extra += (key[i] == '~' || key[i] == '/') ? 2 : 1;
    }

    if (oa_ptr_reserve(c, extra) != 0) {
        return old;
    }

    c->ptr.buf[c->ptr.len++] = '/';

    for (i = 0; i < len; i++) {
        if (key[i] == '~') {
            c->ptr.buf[c->ptr.len++] = '~';
            c->ptr.buf[c->ptr.len++] = '0';

        } else if (key[i] == '/') {
            c->ptr.buf[c->ptr.len++] = '~';
            c->ptr.buf[c->ptr.len++] = '1';

        } else {
            c->ptr.buf[c->ptr.len++] = key[i];
        }
    }

    c->ptr.buf[c->ptr.len] = '\0';

    return old;
}


size_t
oa_ptr_push(oa_ctx_t *c, const char *key)
{
    return oa_ptr_push_n(c, key, strlen(key));
}


size_t
oa_ptr_push_index(oa_ctx_t *c, size_t i)
{
    char  num[32];

    snprintf(num, sizeof(num), "%zu", i);

    return oa_ptr_push(c, num);
}


void
oa_ptr_pop(oa_ctx_t *c, size_t len)
{
    if (c->ptr.buf != NULL && len <= c->ptr.len) {
        c->ptr.len = len;
        c->ptr.buf[len] = '\0';
    }
}


void
oa_ptr_set(oa_ctx_t *c, const char *s)
{
    size_t  n;

    n = strlen(s);
    c->ptr.len = 0;

    if (oa_ptr_reserve(c, n) != 0) {
        if (c->ptr.buf != NULL) {
            c->ptr.buf[0] = '\0';
        }
        return;
    }

    memcpy(c->ptr.buf, s, n + 1);
    c->ptr.len = n;
}


char *
oa_ptr_escape(const char *key, size_t len)
{
    char    *s, *p;
    size_t   i;

    s = malloc(len * 2 + 1);
    if (s == NULL) {
        return NULL;
    }

    for (p = s, i = 0; i < len; i++) {
        if (key[i] == '~') {
            *p++ = '~'; *p++ = '0';

        } else if (key[i] == '/') {
            *p++ = '~'; *p++ = '1';

        } else {
            *p++ = key[i];
        }
    }

    *p = '\0';

    return s;
}


void
oa_vproblem(oa_ctx_t *c, int warning, const char *key, const char *fmt,
    va_list ap)
{
    int      n;
    char    *msg;
    size_t   old;
    va_list  aq;

    va_copy(aq, ap);
    n = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);

    if (n < 0) {
        return;
    }

    msg = malloc((size_t) n + 1);
    if (msg == NULL) {
        c->oom = 1;
        return;
    }

    vsnprintf(msg, (size_t) n + 1, fmt, ap);

    old = c->ptr.len;

    if (key != NULL) {
        oa_ptr_push(c, key);
    }

    apigw_problem_add(c->probs, warning, c->file,
                      c->ptr.buf ? c->ptr.buf : "", "%s", msg);

    oa_ptr_pop(c, old);
    free(msg);
}


void
oa_error(oa_ctx_t *c, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    oa_vproblem(c, 0, NULL, fmt, ap);
    va_end(ap);
}


void
oa_warn(oa_ctx_t *c, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    oa_vproblem(c, 1, NULL, fmt, ap);
    va_end(ap);
}


void
oa_error_at(oa_ctx_t *c, const char *key, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    oa_vproblem(c, 0, key, fmt, ap);
    va_end(ap);
}


void
oa_warn_at(oa_ctx_t *c, const char *key, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    oa_vproblem(c, 1, key, fmt, ap);
    va_end(ap);
}


const char *
oa_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "an object";
    case JSON_ARRAY:   return "an array";
    case JSON_STRING:  return "a string";
    case JSON_INTEGER:
    case JSON_REAL:    return "a number";
    case JSON_TRUE:
    case JSON_FALSE:   return "a boolean";
    default:           return "null";
    }
}


char *
oa_strndup(oa_ctx_t *c, const char *s, size_t n)
{
    char  *p;

    p = malloc(n + 1);
    if (p == NULL) {
        c->oom = 1;
        return NULL;
    }

    memcpy(p, s, n);
    p[n] = '\0';

    return p;
}


char *
oa_strdup(oa_ctx_t *c, const char *s)
{
    return oa_strndup(c, s, strlen(s));
}


static json_t *
oa_get_typed(oa_ctx_t *c, json_t *obj, const char *key, int required,
    json_type type, const char *what, int *rc)
{
    json_t  *v;

    *rc = 0;
    v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (v == NULL) {
        if (required) {
            oa_error(c, "missing required field \"%s\"", key);
            *rc = -1;
        }
        return NULL;
    }

    if (json_typeof(v) != type) {
        oa_error_at(c, key, "must be %s, not %s", what, oa_type_name(v));
        *rc = -1;
        return NULL;
    }

    return v;
}


int
oa_get_string(oa_ctx_t *c, json_t *obj, const char *key, int required,
    const char **out)
{
    int      rc;
    json_t  *v;

    v = oa_get_typed(c, obj, key, required, JSON_STRING, "a string", &rc);
    *out = v ? json_string_value(v) : NULL;

    return rc;
}


int
oa_get_object(oa_ctx_t *c, json_t *obj, const char *key, int required,
    json_t **out)
{
    int  rc;

    *out = oa_get_typed(c, obj, key, required, JSON_OBJECT, "an object",
                        &rc);
    return rc;
}


int
oa_get_array(oa_ctx_t *c, json_t *obj, const char *key, int required,
    json_t **out)
{
    int  rc;

    *out = oa_get_typed(c, obj, key, required, JSON_ARRAY, "an array", &rc);
    return rc;
}


int
oa_get_bool(oa_ctx_t *c, json_t *obj, const char *key, int *out)
{
    json_t  *v;

    v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (v == NULL) {
        return 0;
    }

    if (!json_is_boolean(v)) {
        oa_error_at(c, key, "must be a boolean, not %s", oa_type_name(v));
        return -1;
    }

    *out = json_is_true(v);

    return 0;
}


char *
oa_number_text(json_t *v)
{
    char    buf[64];
    double  d;

    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%lld",
                 (long long) json_integer_value(v));

    } else {
        d = json_real_value(v);
        snprintf(buf, sizeof(buf), "%.15g", d);

        if (strtod(buf, NULL) != d) {
            snprintf(buf, sizeof(buf), "%.17g", d);
        }

        /* 1.0 stays "1.0", not "1" */
        if (strspn(buf, "-0123456789") == strlen(buf)) {
            strcat(buf, ".0");
        }
    }

    return strdup(buf);
}



/* ---- $ref ---- */

static int
oa_hex(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }

    ch |= 0x20;

    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }

    return -1;
}


/* Percent-decode a URI fragment; NULL on a bad escape or a NUL byte. */
static char *
oa_fragment_decode(oa_ctx_t *c, const char *s)
{
    int      hi, lo;
    char    *out, *p;
    size_t   n;

    n = strlen(s);
    out = malloc(n + 1);
    if (out == NULL) {
        c->oom = 1;
        return NULL;
    }

    for (p = out; *s; s++) {
        if (*s != '%') {
            *p++ = *s;
            continue;
        }

        hi = oa_hex((unsigned char) s[1]);
        lo = hi < 0 ? -1 : oa_hex((unsigned char) s[2]);

        if (lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }

        *p++ = (char) (hi * 16 + lo);
        s += 2;
    }

    *p = '\0';

    return out;
}


/*
 * Walk a JSON pointer from the root.  Returns NULL when it does not
 * resolve; *bad is set when the pointer itself is malformed.
 */
json_t *
oa_pointer_walk(oa_ctx_t *c, json_t *root, const char *ptr, int *bad)
{
    char        *tok, *p;
    size_t       n, i, idx;
    json_t      *cur;
    const char  *s, *e;

    *bad = 0;
    cur = root;

    if (*ptr == '\0') {
        return cur;
    }

    if (*ptr != '/') {
        *bad = 1;
        return NULL;
    }

    tok = malloc(strlen(ptr) + 1);
    if (tok == NULL) {
        c->oom = 1;
        return NULL;
    }

    s = ptr;

    while (*s == '/' && cur != NULL) {
        s++;
        e = strchr(s, '/');
        n = e ? (size_t) (e - s) : strlen(s);

        for (p = tok, i = 0; i < n; i++) {
            if (s[i] != '~') {
                *p++ = s[i];
                continue;
            }

            if (i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
                *p++ = s[i + 1] == '0' ? '~' : '/';
                i++;
                continue;
            }

            *bad = 1;
            free(tok);
            return NULL;
        }

        *p = '\0';

        if (json_is_object(cur)) {
            cur = json_object_getn(cur, tok, (size_t) (p - tok));

        } else if (json_is_array(cur)) {
            if (p == tok || (tok[0] == '0' && p - tok > 1)
                || strspn(tok, "0123456789") != (size_t) (p - tok)
                || p - tok > 9)
            {
                cur = NULL;

            } else {
                idx = (size_t) strtoul(tok, NULL, 10);
                cur = json_array_get(cur, idx);
            }

        } else {
            cur = NULL;
        }

        s += n;
    }

    free(tok);

    return cur;
}


json_t *
oa_deref(oa_ctx_t *c, json_t *node, char **saved)
{
    int          bad;
    char        *frag;
    size_t       hops, i;
    json_t      *ref, *target, *seen[OA_REF_MAX_HOPS];
    const char  *s;

    *saved = NULL;

    for (hops = 0; ; hops++) {
        ref = json_is_object(node) ? json_object_get(node, "$ref") : NULL;

        if (ref == NULL) {
            return node;
        }

        if (!json_is_string(ref)) {
            oa_error_at(c, "$ref", "must be a string, not %s",
                        oa_type_name(ref));
            goto failed;
        }

        s = json_string_value(ref);

        if (s[0] != '#') {
            oa_warn_at(c, "$ref", "external reference \"%s\" is not "
                       "supported; the item is skipped", s);
            goto failed;
        }

        if (hops == OA_REF_MAX_HOPS) {
            oa_error_at(c, "$ref", "$ref chain longer than %d",
                        OA_REF_MAX_HOPS);
            goto failed;
        }

        seen[hops] = node;

        frag = oa_fragment_decode(c, s + 1);
        if (frag == NULL) {
            oa_error_at(c, "$ref", "bad percent-encoding in \"%s\"", s);
            goto failed;
        }

        target = oa_pointer_walk(c, c->root, frag, &bad);

        if (target == NULL) {
            if (bad) {
                oa_error_at(c, "$ref", "\"%s\" is not a valid JSON pointer "
                            "fragment", s);
            } else {
                oa_error_at(c, "$ref", "\"%s\" does not resolve", s);
            }

            free(frag);
            goto failed;
        }

        for (i = 0; i <= hops; i++) {
            if (seen[i] == target) {
                oa_error_at(c, "$ref", "cyclic reference \"%s\"", s);
                free(frag);
                goto failed;
            }
        }

        if (*saved == NULL) {
            *saved = oa_strdup(c, c->ptr.buf ? c->ptr.buf : "");
            if (*saved == NULL) {
                free(frag);
                return NULL;
            }
        }

        oa_ptr_set(c, frag);
        free(frag);
        node = target;
    }

failed:

    if (*saved != NULL) {
        oa_ptr_set(c, *saved);
        free(*saved);
        *saved = NULL;
    }

    return NULL;
}


json_t *
oa_deref_quiet(oa_ctx_t *c, json_t *node, char **saved)
{
    json_t            *t;
    apigw_problems_t  *probs, scratch;

    probs = c->probs;
    apigw_problems_init(&scratch);
    c->probs = &scratch;

    t = oa_deref(c, node, saved);

    c->probs = probs;
    apigw_problems_free(&scratch);

    return t;
}


void
oa_deref_done(oa_ctx_t *c, char *saved)
{
    if (saved != NULL) {
        oa_ptr_set(c, saved);
        free(saved);
    }
}
