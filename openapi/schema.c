/*
 * Schemas and request validation data compiled at import: JSON Schema /
 * OpenAPI schema objects to apigw_schema_t graphs (local $refs, recursive
 * ones included, become pointers; patterns are compiled once, JIT where
 * available), and per operation the parameters and declared body media
 * types (apigw_validation_t).  x-apigw-validate (root or operation) is
 * read here too.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "oa.h"
#include "validate.h"


#define SC_MAX_DEPTH    256        /* schema nesting at compile time */
/*
 * Deeper than this, a $ref's target not compiled yet is compiled later,
 * from the top (sc_drain()): a long chain or a big graph of $refs (a
 * domain model) costs no nesting, only a schema's own nesting does.
 */
#define SC_DEFER_DEPTH  32


typedef struct {
    json_t           *node;
    apigw_schema_t   *schema;
} sc_memo_t;

typedef struct {
    oa_ctx_t            *c;
    int                  oas30;
    apigw_schema_set_t  *set;
    sc_memo_t           *memo;      /* open addressing on node pointers */
    size_t               mcap;
    size_t               mn;
    size_t               depth;
    sc_memo_t           *defer;     /* $ref node, its target's schema */
    size_t               ndefer;
    size_t               dcap;
    unsigned             draining;
} sc_t;


static apigw_schema_t *sc_compile(sc_t *s, json_t *node);
static apigw_schema_t *sc_compile_one(sc_t *s, json_t *node);
static int sc_fill(sc_t *s, json_t *node, apigw_schema_t *sc);


static size_t
sc_hash(json_t *node, size_t cap)
{
    uintptr_t  h;

    h = (uintptr_t) node;
    h ^= h >> 17;
    h *= (uintptr_t) 0x9E3779B97F4A7C15ULL;

    return (size_t) (h >> 7) & (cap - 1);
}


static apigw_schema_t *
sc_memo_get(sc_t *s, json_t *node)
{
    size_t  i;

    if (s->mcap == 0) {
        return NULL;
    }

    for (i = sc_hash(node, s->mcap); s->memo[i].node;
         i = (i + 1) & (s->mcap - 1))
    {
        if (s->memo[i].node == node) {
            return s->memo[i].schema;
        }
    }

    return NULL;
}


static int
sc_memo_put(sc_t *s, json_t *node, apigw_schema_t *schema)
{
    size_t      i, cap;
    sc_memo_t  *old, *m;

    if ((s->mn + 1) * 2 > s->mcap) {
        cap = s->mcap ? s->mcap * 2 : 64;
        m = calloc(cap, sizeof(sc_memo_t));
        if (m == NULL) {
            return -1;
        }

        old = s->memo;
        s->memo = m;

        for (i = 0; i < s->mcap; i++) {
            if (old[i].node) {
                size_t  k = sc_hash(old[i].node, cap);

                while (m[k].node) {
                    k = (k + 1) & (cap - 1);
                }

                m[k] = old[i];
            }
        }

        free(old);
        s->mcap = cap;
    }

    for (i = sc_hash(node, s->mcap); s->memo[i].node;
         i = (i + 1) & (s->mcap - 1))
    { }

    s->memo[i].node = node;
    s->memo[i].schema = schema;
    s->mn++;

    return 0;
}


static apigw_schema_t *
sc_new(sc_t *s)
{
    apigw_schema_t  *sc;

    sc = calloc(1, sizeof(apigw_schema_t));
    if (sc == NULL) {
        s->c->oom = 1;
        return NULL;
    }

    sc->max_length = SIZE_MAX;
    sc->max_items = SIZE_MAX;
    sc->max_props = SIZE_MAX;
    sc->next = s->set->all;
    s->set->all = sc;

    return sc;
}


static void
sc_regex_free(apigw_regex_t *re)
{
    pcre2_match_data_free(re->match);
    pcre2_code_free(re->code);
    free(re->source);
}


static int
sc_class_escape(const char *p, const char *end)
{
    return end - p >= 2 && p[0] == '\\' && p[1] != '\0'
           && strchr("dDsSwW", p[1]) != NULL;
}


/*
 * ECMA-262's web reading (Annex B) of a range with a class escape at
 * either end, "[\w-.]": the escape, "-" and the other end, each as itself.
 * PCRE2 refuses it ("invalid range"), so such a "-" is escaped.  NULL:
 * nothing to change (or out of memory).
 */
static char *
sc_regex_annex_b(const char *src, size_t len)
{
    int          in, cls, changed;
    char        *out, *w;
    const char  *p, *end, *start;

    out = malloc(2 * len + 1);
    if (out == NULL) {
        return NULL;
    }

    p = src;
    end = src + len;
    w = out;
    in = 0;
    cls = 0;        /* the last atom of the class was a class escape */
    changed = 0;
    start = NULL;

    while (p < end) {
        if (*p == '\\' && end - p >= 2) {
            cls = in && sc_class_escape(p, end);
            *w++ = *p++;
            *w++ = *p++;
            continue;
        }

        if (!in) {
            if (*p == '[') {
                in = 1;
                cls = 0;
                start = p + 1 + (end - p > 1 && p[1] == '^');
            }

            *w++ = *p++;
            continue;
        }

        if (*p == ']') {
            in = 0;
            *w++ = *p++;
            continue;
        }

        if (*p == '-' && p != start && end - p >= 2 && p[1] != ']'
            && (cls || sc_class_escape(p + 1, end)))
        {
            *w++ = '\\';
            changed = 1;
        }

        cls = 0;
        *w++ = *p++;
    }

    *w = '\0';

    if (!changed) {
        free(out);
        return NULL;
    }

    return out;
}


/*
 * Compile a pattern; an invalid one is an error at `key`.  1: a pattern
 * ECMA-262 takes but PCRE2 cannot compile (a quantifier over 65535, a lone
 * surrogate escape, one too large, "\p{XDigit}", which ECMA-262 reads as
 * "p{XDigit}" but without the "u" flag only): warned about, and not
 * checked.
 */
static int
sc_regex(sc_t *s, const char *key, json_t *v, apigw_regex_t *re)
{
    int                     err, err2;
    char                    msg[256], *alt;
    uint32_t                opts;
    PCRE2_SIZE              off, off2;
    pcre2_code             *code;
    pcre2_compile_context  *cctx;

    memset(re, 0, sizeof(*re));

    if (!json_is_string(v)) {
        oa_error_at(s->c, key, "must be a string, not %s", oa_type_name(v));
        return -1;
    }

    cctx = pcre2_compile_context_create(NULL);
    if (cctx == NULL) {
        s->c->oom = 1;
        return -1;
    }

    /* ECMA-262 \uXXXX escapes */
    (void) pcre2_set_compile_extra_options(cctx, PCRE2_EXTRA_ALT_BSUX);

    /*
     * ECMA-262 semantics: "$" only at the very end (not before a final
     * newline); \d, \w, \s and \b ASCII (no PCRE2_UCP); code points;
     * "[]" matches nothing and "[^]" any character
     */
    opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALLOW_EMPTY_CLASS;

    code = pcre2_compile((PCRE2_SPTR) json_string_value(v),
                         json_string_length(v), opts, &err, &off, cctx);

    if (code == NULL && err == PCRE2_ERROR_CLASS_INVALID_RANGE) {
        alt = sc_regex_annex_b(json_string_value(v), json_string_length(v));

        if (alt != NULL) {
            /* a failure reports the pattern as written: err, off */
            code = pcre2_compile((PCRE2_SPTR) alt, PCRE2_ZERO_TERMINATED,
                                 opts, &err2, &off2, cctx);
            free(alt);
        }
    }

    pcre2_compile_context_free(cctx);

    if (code == NULL) {
        pcre2_get_error_message(err, (PCRE2_UCHAR *) msg, sizeof(msg));

        if (err == PCRE2_ERROR_QUANTIFIER_TOO_BIG
            || err == PCRE2_ERROR_PATTERN_TOO_LARGE
            || err == PCRE2_ERROR_UNICODE_DISALLOWED_CODE_POINT
            || err == PCRE2_ERROR_PARENTHESES_NEST_TOO_DEEP
            || err == PCRE2_ERROR_TOO_MANY_CAPTURES
            || err == PCRE2_ERROR_HEAP_FAILED
            || err == PCRE2_ERROR_UNKNOWN_UNICODE_PROPERTY
            || err == PCRE2_ERROR_MALFORMED_UNICODE_PROPERTY)
        {
            oa_warn_at(s->c, key, "the regular expression \"%s\" is beyond "
                       "what PCRE2 compiles (%s at offset %zu): not checked",
                       json_string_value(v), msg, (size_t) off);
            return 1;
        }

        oa_error_at(s->c, key, "invalid regular expression \"%s\": %s at "
                    "offset %zu", json_string_value(v), msg, (size_t) off);
        return -1;
    }

    (void) pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);

    re->code = code;
    re->match = pcre2_match_data_create_from_pattern(code, NULL);
    re->source = strdup(json_string_value(v));

    if (re->match == NULL || re->source == NULL) {
        sc_regex_free(re);
        memset(re, 0, sizeof(*re));
        s->c->oom = 1;
        return -1;
    }

    return 0;
}


static int
sc_type_bit(const char *t)
{
    static const struct { const char *name; int bit; }  types[] = {
        { "null", APIGW_T_NULL }, { "boolean", APIGW_T_BOOLEAN },
        { "object", APIGW_T_OBJECT }, { "array", APIGW_T_ARRAY },
        { "number", APIGW_T_NUMBER }, { "string", APIGW_T_STRING },
        { "integer", APIGW_T_INTEGER }, { NULL, 0 }
    };
    int  i;

    for (i = 0; types[i].name; i++) {
        if (strcmp(types[i].name, t) == 0) {
            return types[i].bit;
        }
    }

    return 0;
}


/* A non-negative integer keyword (minLength, ...). */
static void
sc_count(sc_t *s, json_t *node, const char *key, size_t *out)
{
    json_t  *v;
    double   d;

    v = json_object_get(node, key);
    if (v == NULL) {
        return;
    }

    d = json_is_number(v) ? json_number_value(v) : -1;

    if (d < 0 || (d < 1e18 && d != (double) (long long) d)) {
        oa_warn_at(s->c, key, "must be a non-negative integer; ignored");
        return;
    }

    *out = d >= 1e18 ? SIZE_MAX : (size_t) d;
}


/* a bound: an integer one exactly (long double holds any int64) */
static int
sc_bound(sc_t *s, json_t *node, const char *key, long double *out)
{
    json_t  *v;

    v = json_object_get(node, key);
    if (v == NULL) {
        return 0;
    }

    if (!json_is_number(v)) {
        oa_warn_at(s->c, key, "must be a number; ignored");
        return 0;
    }

    *out = json_is_integer(v) ? (long double) json_integer_value(v)
                              : (long double) json_real_value(v);

    return 1;
}


static int
sc_number(sc_t *s, json_t *node, const char *key, double *out)
{
    long double  v;

    if (!sc_bound(s, node, key, &v)) {
        return 0;
    }

    *out = (double) v;

    return 1;
}


/* A list of schemas (allOf, anyOf, oneOf). */
static int
sc_list(sc_t *s, json_t *node, const char *key, apigw_schema_t ***out,
    size_t *n)
{
    int      err;
    size_t   i, old;
    json_t  *v, *it;

    err = 0;
    v = json_object_get(node, key);
    if (v == NULL) {
        return 0;
    }

    if (!json_is_array(v) || json_array_size(v) == 0) {
        oa_error_at(s->c, key, "must be a non-empty array of schemas");
        return -1;
    }

    *out = calloc(json_array_size(v), sizeof(apigw_schema_t *));
    if (*out == NULL) {
        s->c->oom = 1;
        return -1;
    }

    old = oa_ptr_push(s->c, key);

    json_array_foreach(v, i, it) {
        size_t  o2 = oa_ptr_push_index(s->c, i);

        (*out)[i] = sc_compile(s, it);
        oa_ptr_pop(s->c, o2);

        /* on to the next: every problem is reported, not the first */
        if ((*out)[i] == NULL) {
            err = 1;

            if (s->c->oom) {
                break;
            }
        }

        *n = i + 1;
    }

    oa_ptr_pop(s->c, old);

    return err ? -1 : 0;
}


static apigw_schema_t *
sc_child(sc_t *s, json_t *node, const char *key, int *err)
{
    size_t           old;
    json_t          *v;
    apigw_schema_t  *sc;

    v = json_object_get(node, key);
    if (v == NULL) {
        return NULL;
    }

    old = oa_ptr_push(s->c, key);
    sc = sc_compile(s, v);
    oa_ptr_pop(s->c, old);

    if (sc == NULL) {
        *err = 1;
    }

    return sc;
}


static int
sc_prop_cmp(const void *a, const void *b)
{
    const apigw_sprop_t  *x = a, *y = b;
    size_t                n;
    int                   r;

    n = x->len < y->len ? x->len : y->len;
    r = memcmp(x->name, y->name, n);

    return r ? r : (x->len > y->len) - (x->len < y->len);
}


/*
 * 1: the property of that name is readOnly: "required" does not hold for
 * it in a request (OpenAPI 3.0.3: it takes effect on the response only),
 * and apigw validates requests
 */
static int
sc_read_only(sc_t *s, json_t *node, const char *name, size_t len)
{
    int      ro;
    char    *saved;
    json_t  *p, *t;

    p = json_object_getn(json_object_get(node, "properties"), name, len);

    if (!json_is_object(p)) {
        return 0;
    }

    if (json_is_true(json_object_get(p, "readOnly"))) {
        return 1;
    }

    if (json_object_get(p, "$ref") == NULL) {
        return 0;
    }

    t = oa_deref_quiet(s->c, p, &saved);
    if (t == NULL) {
        return 0;
    }

    ro = json_is_true(json_object_get(t, "readOnly"));
    oa_deref_done(s->c, saved);

    return ro;
}


static int
sc_object_keywords(sc_t *s, json_t *node, apigw_schema_t *sc)
{
    int          err, lenient;
    size_t       i, n, old, klen;
    json_t      *v, *it;
    const char  *k;

    err = 0;
    lenient = 0;

    v = json_object_get(node, "properties");

    if (v != NULL && !json_is_object(v)) {
        oa_warn_at(s->c, "properties", "must be an object; ignored");

    } else if (v != NULL && json_object_size(v)) {
        sc->props = calloc(json_object_size(v), sizeof(apigw_sprop_t));
        if (sc->props == NULL) {
            s->c->oom = 1;
            return -1;
        }

        old = oa_ptr_push(s->c, "properties");

        json_object_keylen_foreach(v, k, klen, it) {
            size_t          o2 = oa_ptr_push_n(s->c, k, klen);
            apigw_sprop_t  *p = &sc->props[sc->nprops];

            p->name = malloc(klen + 1);
            if (p->name == NULL) {
                s->c->oom = 1;
                err = 1;
                oa_ptr_pop(s->c, o2);
                break;
            }

            memcpy(p->name, k, klen);
            p->name[klen] = '\0';
            p->len = klen;
            sc->nprops++;

            p->schema = sc_compile(s, it);
            oa_ptr_pop(s->c, o2);

            /* on to the next: every problem is reported, not the first */
            if (p->schema == NULL) {
                err = 1;

                if (s->c->oom) {
                    break;
                }
            }
        }

        oa_ptr_pop(s->c, old);

        qsort(sc->props, sc->nprops, sizeof(apigw_sprop_t), sc_prop_cmp);

        if (apigw_schema_index_props(sc) != 0) {
            s->c->oom = 1;
            return -1;
        }
    }

    v = json_object_get(node, "required");

    /* `required: true` of Swagger 2.0 parameters is no schema keyword */
    if (json_is_array(v) && json_array_size(v)) {
        sc->required = calloc(json_array_size(v), sizeof(char *));
        sc->required_len = calloc(json_array_size(v), sizeof(size_t));
        if (sc->required == NULL || sc->required_len == NULL) {
            s->c->oom = 1;
            return -1;
        }

        json_array_foreach(v, i, it) {
            if (!json_is_string(it)) {
                oa_warn_at(s->c, "required", "must be an array of strings; "
                           "item %zu ignored", i);
                continue;
            }

            if (sc_read_only(s, node, json_string_value(it),
                             json_string_length(it)))
            {
                continue;
            }

            /* all of it: a name may hold "\u0000" */
            sc->required[sc->nrequired] = oa_strndup(s->c,
                                                     json_string_value(it),
                                                     json_string_length(it));
            if (sc->required[sc->nrequired] == NULL) {
                return -1;
            }

            sc->required_len[sc->nrequired] = json_string_length(it);

            sc->nrequired++;
        }
    }

    v = json_object_get(node, "patternProperties");

    if (json_is_object(v) && json_object_size(v)) {
        n = json_object_size(v);
        sc->pprops = calloc(n, sizeof(apigw_spattern_t));
        if (sc->pprops == NULL) {
            s->c->oom = 1;
            return -1;
        }

        old = oa_ptr_push(s->c, "patternProperties");

        json_object_foreach(v, k, it) {
            apigw_spattern_t  *pp = &sc->pprops[sc->npprops];
            json_t            *src = json_string(k);
            int                rc;

            rc = src ? sc_regex(s, k, src, &pp->re) : -1;

            if (rc == 1) {
                /* its names cannot be told: none is "additional" */
                json_decref(src);
                lenient = 1;
                continue;
            }

            if (rc != 0) {
                json_decref(src);
                err = 1;

                if (src == NULL || s->c->oom) {
                    break;
                }

                continue;
            }

            json_decref(src);
            sc->npprops++;

            {
                size_t  o2 = oa_ptr_push(s->c, k);

                pp->schema = sc_compile(s, it);
                oa_ptr_pop(s->c, o2);
            }

            if (pp->schema == NULL) {
                err = 1;

                if (s->c->oom) {
                    break;
                }
            }
        }

        oa_ptr_pop(s->c, old);
    }

    v = json_object_get(node, "additionalProperties");

    if (lenient) {
        /* not checked */

    } else if (json_is_false(v)) {
        sc->flags |= APIGW_S_NO_ADDL;

    } else if (json_is_object(v)) {
        sc->additional = sc_child(s, node, "additionalProperties", &err);
    }

    sc_count(s, node, "minProperties", &sc->min_props);
    sc_count(s, node, "maxProperties", &sc->max_props);

    return err ? -1 : 0;
}


static int
sc_keywords(sc_t *s, json_t *node, apigw_schema_t *sc)
{
    int          err, bit, rc;
    size_t       i;
    json_t      *v, *it;
    const char  *f;

    err = 0;

    v = json_object_get(node, "type");

    if (json_is_string(v)) {
        bit = sc_type_bit(json_string_value(v));
        if (bit == 0) {
            oa_warn_at(s->c, "type", "unknown type \"%s\"; ignored",
                       json_string_value(v));
        }
        sc->types = bit;

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, it) {
            bit = json_is_string(it) ? sc_type_bit(json_string_value(it)) : 0;
            if (bit == 0) {
                oa_warn_at(s->c, "type", "unknown type at index %zu; "
                           "ignored", i);
            }
            sc->types |= bit;
        }

    } else if (v != NULL) {
        oa_warn_at(s->c, "type", "must be a string or an array; ignored");
    }

    /* OpenAPI 3.0's; 3.1 (JSON Schema) spells it type: [..., "null"] */
    if (json_is_true(json_object_get(node, "nullable"))) {
        if (s->oas30) {
            sc->flags |= APIGW_S_NULLABLE;

        } else {
            oa_warn_at(s->c, "nullable", "not an OpenAPI 3.1 keyword (null "
                       "is a type there: type: [..., \"null\"]); ignored");
        }
    }

    /* JSON Schema 2020-12 (OpenAPI 3.1): a number with no fraction */
    if (!s->oas30) {
        sc->flags |= APIGW_S_WHOLE_INT;
    }

    v = json_object_get(node, "enum");

    if (json_is_array(v)) {
        sc->enum_ = json_incref(v);

    } else if (v != NULL) {
        oa_warn_at(s->c, "enum", "must be an array; ignored");
    }

    v = json_object_get(node, "const");

    if (v != NULL) {
        sc->const_ = json_incref(v);
        sc->flags |= APIGW_S_CONST;
    }

    if (sc_bound(s, node, "minimum", &sc->minimum)) {
        sc->flags |= APIGW_S_MIN;
    }

    if (sc_bound(s, node, "maximum", &sc->maximum)) {
        sc->flags |= APIGW_S_MAX;
    }

    v = json_object_get(node, "exclusiveMinimum");

    if (json_is_true(v)) {
        sc->flags |= APIGW_S_XMIN;

    } else if (json_is_number(v)
               && sc_bound(s, node, "exclusiveMinimum", &sc->xminimum))
    {
        sc->flags |= APIGW_S_XMIN_NUM;
    }

    v = json_object_get(node, "exclusiveMaximum");

    if (json_is_true(v)) {
        sc->flags |= APIGW_S_XMAX;

    } else if (json_is_number(v)
               && sc_bound(s, node, "exclusiveMaximum", &sc->xmaximum))
    {
        sc->flags |= APIGW_S_XMAX_NUM;
    }

    if (sc_number(s, node, "multipleOf", &sc->multiple_of)) {
        if (sc->multiple_of > 0) {
            sc->flags |= APIGW_S_MULTIPLE;

        } else {
            oa_warn_at(s->c, "multipleOf", "must be greater than 0; "
                       "ignored");
        }
    }

    sc_count(s, node, "minLength", &sc->min_length);
    sc_count(s, node, "maxLength", &sc->max_length);
    sc_count(s, node, "minItems", &sc->min_items);
    sc_count(s, node, "maxItems", &sc->max_items);

    v = json_object_get(node, "pattern");

    if (v != NULL) {
        sc->pattern = calloc(1, sizeof(apigw_regex_t));
        if (sc->pattern == NULL) {
            s->c->oom = 1;
            return -1;
        }

        rc = sc_regex(s, "pattern", v, sc->pattern);

        if (rc != 0) {
            free(sc->pattern);
            sc->pattern = NULL;
            err |= rc < 0;
        }
    }

    f = json_string_value(json_object_get(node, "format"));

    if (f != NULL) {
        sc->format = strcmp(f, "int32") == 0 ? APIGW_FMT_INT32
                   : strcmp(f, "int64") == 0 ? APIGW_FMT_INT64
                   : strcmp(f, "uuid") == 0 ? APIGW_FMT_UUID
                   : strcmp(f, "date") == 0 ? APIGW_FMT_DATE
                   : strcmp(f, "date-time") == 0 ? APIGW_FMT_DATE_TIME
                   : APIGW_FMT_NONE;
    }

    if (sc_object_keywords(s, node, sc) != 0) {
        err = 1;
    }

    v = json_object_get(node, "items");

    if (json_is_object(v) || json_is_boolean(v)) {
        sc->items = sc_child(s, node, "items", &err);

    } else if (v != NULL) {
        oa_warn_at(s->c, "items", "only a single schema is supported; "
                   "ignored");
    }

    if (sc_list(s, node, "allOf", &sc->all_of, &sc->nall_of) != 0
        || sc_list(s, node, "anyOf", &sc->any_of, &sc->nany_of) != 0
        || sc_list(s, node, "oneOf", &sc->one_of, &sc->none_of) != 0)
    {
        err = 1;
    }

    sc->not_ = sc_child(s, node, "not", &err);

    return err ? -1 : 0;
}


/*
 * The schema of a $ref's target: compiled now, or, deep in a chain of
 * $refs, an empty one now, filled from the top later (sc_drain()).
 */
static apigw_schema_t *
sc_target(sc_t *s, json_t *node, json_t *target)
{
    apigw_schema_t  *sc;

    sc = sc_memo_get(s, target);
    if (sc != NULL) {
        return sc;
    }

    if (s->depth < SC_DEFER_DEPTH || !json_is_object(target)) {
        s->depth++;
        sc = sc_compile(s, target);
        s->depth--;
        return sc;
    }

    if (s->ndefer == s->dcap) {
        size_t      cap = s->dcap ? s->dcap * 2 : 16;
        sc_memo_t  *d = realloc(s->defer, cap * sizeof(sc_memo_t));

        if (d == NULL) {
            s->c->oom = 1;
            return NULL;
        }

        s->defer = d;
        s->dcap = cap;
    }

    sc = sc_new(s);
    if (sc == NULL || sc_memo_put(s, target, sc) != 0) {
        s->c->oom = 1;
        return NULL;
    }

    s->defer[s->ndefer].node = node;
    s->defer[s->ndefer].schema = sc;
    s->ndefer++;

    return sc;
}


/* the deferred targets, each from the top, with its own pointer */
static void
sc_drain(sc_t *s)
{
    char       *saved;
    json_t     *target;
    sc_memo_t   d;

    s->draining = 1;

    while (s->ndefer && !s->c->oom) {
        d = s->defer[--s->ndefer];

        target = oa_deref(s->c, d.node, &saved);
        if (target == NULL) {
            continue;
        }

        s->depth = 1;
        (void) sc_fill(s, target, d.schema);
        s->depth = 0;

        oa_deref_done(s->c, saved);
    }

    s->draining = 0;
}


static apigw_schema_t *
sc_compile(sc_t *s, json_t *node)
{
    apigw_schema_t  *sc;

    if (s->depth || s->draining) {
        return sc_compile_one(s, node);
    }

    sc = sc_compile_one(s, node);
    sc_drain(s);

    return sc;
}


static apigw_schema_t *
sc_compile_one(sc_t *s, json_t *node)
{
    char            *saved;
    json_t          *target, *ref;
    apigw_schema_t  *sc;

    sc = sc_memo_get(s, node);
    if (sc != NULL) {
        return sc;
    }

    if (s->depth >= SC_MAX_DEPTH) {
        oa_error(s->c, "schema nested deeper than %d levels", SC_MAX_DEPTH);
        return NULL;
    }

    if (json_is_boolean(node)) {
        sc = sc_new(s);
        if (sc == NULL || sc_memo_put(s, node, sc) != 0) {
            s->c->oom = 1;
            return NULL;
        }

        if (json_is_false(node)) {
            sc->flags |= APIGW_S_FALSE;
        }

        return sc;
    }

    if (!json_is_object(node)) {
        oa_error(s->c, "a schema must be an object, not %s",
                 oa_type_name(node));
        return NULL;
    }

    ref = json_object_get(node, "$ref");

    if (ref != NULL && s->oas30) {
        /* OpenAPI 3.0 / draft 4: a $ref replaces its siblings */
        target = oa_deref(s->c, node, &saved);

        if (target == NULL) {
            if (json_is_string(ref) && json_string_value(ref)[0] != '#') {
                /* external: warned about; accept anything */
                sc = sc_new(s);
                return sc != NULL && sc_memo_put(s, node, sc) == 0 ? sc
                                                                   : NULL;
            }

            return NULL;
        }

        sc = sc_target(s, node, target);

        oa_deref_done(s->c, saved);

        if (sc != NULL && sc_memo_put(s, node, sc) != 0) {
            s->c->oom = 1;
            return NULL;
        }

        return sc;
    }

    sc = sc_new(s);
    if (sc == NULL || sc_memo_put(s, node, sc) != 0) {
        s->c->oom = 1;
        return NULL;
    }

    return sc_fill(s, node, sc) == 0 ? sc : NULL;
}


/* an object schema's keywords into sc (made and remembered already) */
static int
sc_fill(sc_t *s, json_t *node, apigw_schema_t *sc)
{
    char    *saved;
    json_t  *target, *ref;

    if (json_is_false(node)) {
        sc->flags |= APIGW_S_FALSE;
        return 0;
    }

    if (!json_is_object(node)) {
        return 0;                      /* true */
    }

    ref = json_object_get(node, "$ref");

    s->depth++;

    if (ref != NULL && !s->oas30) {
        /* 3.1: a $ref applies beside its siblings */
        target = oa_deref(s->c, node, &saved);

        if (target != NULL) {
            sc->ref = sc_target(s, node, target);
            oa_deref_done(s->c, saved);

            if (sc->ref == NULL) {
                s->depth--;
                return -1;
            }

        } else if (!json_is_string(ref) || json_string_value(ref)[0] == '#')
        {
            s->depth--;
            return -1;
        }
    }

    if (sc_keywords(s, node, sc) != 0) {
        s->depth--;
        return -1;
    }

    s->depth--;

    /* the checker's shortcut past these */
    if (!(sc->flags & (APIGW_S_FALSE | APIGW_S_CONST)) && sc->ref == NULL
        && sc->enum_ == NULL && sc->nall_of == 0 && sc->nany_of == 0
        && sc->none_of == 0 && sc->not_ == NULL)
    {
        sc->flags |= APIGW_S_PLAIN;
    }

    return 0;
}


void
apigw_schema_set_free(apigw_schema_set_t *set)
{
    size_t           i;
    apigw_schema_t  *sc, *next;

    if (set == NULL) {
        return;
    }

    for (sc = set->all; sc; sc = next) {
        next = sc->next;

        for (i = 0; i < sc->nprops; i++) {
            free(sc->props[i].name);
        }

        for (i = 0; i < sc->nrequired; i++) {
            free(sc->required[i]);
        }

        for (i = 0; i < sc->npprops; i++) {
            sc_regex_free(&sc->pprops[i].re);
        }

        if (sc->pattern) {
            sc_regex_free(sc->pattern);
            free(sc->pattern);
        }

        free(sc->props);
        free(sc->ptab);
        free(sc->required);
        free(sc->required_len);
        free(sc->pprops);
        free(sc->all_of);
        free(sc->any_of);
        free(sc->one_of);
        json_decref(sc->enum_);
        json_decref(sc->const_);
        free(sc);
    }

    free(set);
}


static void
sc_init(sc_t *s, oa_ctx_t *c, int oas30)
{
    memset(s, 0, sizeof(*s));
    s->c = c;
    s->oas30 = oas30;
}


apigw_schema_t *
apigw_schema_compile(void *root, int oas30, apigw_schema_set_t **set,
    apigw_problems_t *probs)
{
    sc_t             s;
    size_t           nerrors;
    oa_ctx_t         c;
    apigw_schema_t  *sc;

    memset(&c, 0, sizeof(c));
    c.probs = probs;
    c.root = root;
    oa_ptr_set(&c, "");
    nerrors = probs->nerrors;

    sc_init(&s, &c, oas30);

    s.set = calloc(1, sizeof(apigw_schema_set_t));
    if (s.set == NULL) {
        free(c.ptr.buf);
        apigw_problem_add(probs, 0, NULL, "", "out of memory");
        return NULL;
    }

    s.set->refs = 1;
    sc = sc_compile(&s, root);

    free(s.memo);
    free(s.defer);
    free(c.ptr.buf);

    if (c.oom) {
        apigw_problem_add(probs, 0, NULL, "", "out of memory");
    }

    if (sc == NULL || probs->nerrors != nerrors || c.oom) {
        apigw_schema_set_free(s.set);
        *set = NULL;
        return NULL;
    }

    *set = s.set;

    return sc;
}


void
apigw_validation_free(apigw_validation_t *v)
{
    size_t  i;

    if (v == NULL) {
        return;
    }

    for (i = 0; i < v->nparams; i++) {
        free(v->params[i].name);
    }

    for (i = 0; i < v->nmedia; i++) {
        free(v->media[i].type);
    }

    free(v->params);
    free(v->media);

    if (v->set && --v->set->refs == 0) {
        apigw_schema_set_free(v->set);
    }

    free(v);
}


/* ---- per operation ---- */

static int
oa_in_code(const char *in)
{
    return strcmp(in, "path") == 0 ? APIGW_IN_PATH
         : strcmp(in, "query") == 0 ? APIGW_IN_QUERY
         : strcmp(in, "header") == 0 ? APIGW_IN_HEADER
         : strcmp(in, "cookie") == 0 ? APIGW_IN_COOKIE
         : -1;
}


static int
oa_style_code(const char *st)
{
    return strcmp(st, "simple") == 0 ? APIGW_STYLE_SIMPLE
         : strcmp(st, "form") == 0 ? APIGW_STYLE_FORM
         : strcmp(st, "label") == 0 ? APIGW_STYLE_LABEL
         : strcmp(st, "matrix") == 0 ? APIGW_STYLE_MATRIX
         : strcmp(st, "spaceDelimited") == 0 ? APIGW_STYLE_SPACE
         : strcmp(st, "pipeDelimited") == 0 ? APIGW_STYLE_PIPE
         : APIGW_STYLE_OTHER;
}


typedef struct {
    apigw_validation_t  *v;
    json_t              *body_schema;    /* Swagger 2.0 in: body */
    char                *body_ptr;
    int                  body_required;
    int                  form;           /* Swagger 2.0 in: formData */
    size_t               pcap;
} oa_vbuild_t;


static int
oa_vparam_add(oa_ctx_t *c, sc_t *s, oa_vbuild_t *b, json_t *p, int op_level)
{
    int              in, style, explode;
    size_t           i, old;
    json_t          *v, *sch;
    const char      *name, *ins, *st;
    apigw_vparam_t  *vp, *np;

    name = json_string_value(json_object_get(p, "name"));
    ins = json_string_value(json_object_get(p, "in"));

    if (name == NULL || ins == NULL) {
        return 0;                  /* reported by the importer */
    }

    if (strcmp(ins, "body") == 0) {
        b->body_schema = json_object_get(p, "schema");
        b->body_required = json_is_true(json_object_get(p, "required"));
        free(b->body_ptr);
        b->body_ptr = oa_strdup(c, c->ptr.buf);
        return 0;
    }

    if (strcmp(ins, "formData") == 0) {
        b->form = 1;
        return 0;
    }

    in = oa_in_code(ins);
    if (in < 0) {
        return 0;
    }

    /* OpenAPI 3: these header parameters are ignored */
    if (in == APIGW_IN_HEADER
        && (strcasecmp(name, "Accept") == 0
            || strcasecmp(name, "Content-Type") == 0
            || strcasecmp(name, "Authorization") == 0))
    {
        return 0;
    }

    /* an operation's parameter overrides the path item's */
    vp = NULL;

    for (i = 0; i < b->v->nparams; i++) {
        if (b->v->params[i].in == in
            && strcmp(b->v->params[i].name, name) == 0)
        {
            if (!op_level) {
                return 0;
            }
            vp = &b->v->params[i];
            free(vp->name);
            break;
        }
    }

    if (vp == NULL) {
        if (b->v->nparams == b->pcap) {
            b->pcap = b->pcap ? b->pcap * 2 : 8;
            np = realloc(b->v->params, b->pcap * sizeof(apigw_vparam_t));
            if (np == NULL) {
                c->oom = 1;
                return -1;
            }
            b->v->params = np;
        }

        vp = &b->v->params[b->v->nparams++];
    }

    memset(vp, 0, sizeof(*vp));

    vp->name = oa_strdup(c, name);
    if (vp->name == NULL) {
        return -1;
    }

    vp->len = strlen(name);
    vp->in = in;
    vp->required = in == APIGW_IN_PATH
                   || json_is_true(json_object_get(p, "required"));

    if (c->api->spec_version == APIGW_SPEC_SWAGGER2) {
        /* the parameter object is its own schema */
        st = json_string_value(json_object_get(p, "collectionFormat"));
        style = APIGW_STYLE_SIMPLE;
        explode = 0;

        if (st != NULL) {
            if (strcmp(st, "ssv") == 0) {
                style = APIGW_STYLE_SPACE;
            } else if (strcmp(st, "tsv") == 0) {
                style = APIGW_STYLE_TAB;
            } else if (strcmp(st, "pipes") == 0) {
                style = APIGW_STYLE_PIPE;
            } else if (strcmp(st, "multi") == 0) {
                style = APIGW_STYLE_FORM;
                explode = 1;
            }
        }

        vp->style = style;
        vp->explode = explode;
        vp->schema = sc_compile(s, p);

        return vp->schema ? 0 : -1;
    }

    st = json_string_value(json_object_get(p, "style"));

    style = st ? oa_style_code(st)
          : (in == APIGW_IN_QUERY || in == APIGW_IN_COOKIE)
            ? APIGW_STYLE_FORM : APIGW_STYLE_SIMPLE;

    v = json_object_get(p, "explode");
    explode = json_is_boolean(v) ? json_is_true(v)
                                 : style == APIGW_STYLE_FORM;

    vp->style = style;
    vp->explode = explode;

    sch = json_object_get(p, "schema");

    if (sch == NULL || json_object_get(p, "content") != NULL) {
        vp->style = sch ? vp->style : APIGW_STYLE_OTHER;
        return 0;
    }

    old = oa_ptr_push(c, "schema");
    vp->schema = sc_compile(s, sch);
    oa_ptr_pop(c, old);

    return vp->schema ? 0 : -1;
}


static void
oa_vparams(oa_ctx_t *c, sc_t *s, oa_vbuild_t *b, json_t *holder,
    const char *holder_ptr, int op_level)
{
    char    *saved, *keep;
    size_t   i, old;
    json_t  *list, *p, *t;

    list = json_object_get(holder, "parameters");
    if (!json_is_array(list)) {
        return;
    }

    keep = oa_strdup(c, c->ptr.buf);
    if (keep == NULL) {
        return;
    }

    if (holder_ptr != NULL) {
        oa_ptr_set(c, holder_ptr);
    }

    old = oa_ptr_push(c, "parameters");

    json_array_foreach(list, i, p) {
        size_t  o2 = oa_ptr_push_index(c, i);

        /* the importer reported bad references already */
        t = oa_deref_quiet(c, p, &saved);

        if (json_is_object(t)) {
            (void) oa_vparam_add(c, s, b, t, op_level);
        }

        if (t != NULL) {
            oa_deref_done(c, saved);
        }

        oa_ptr_pop(c, o2);
    }

    oa_ptr_pop(c, old);
    oa_ptr_set(c, keep);
    free(keep);
}


static int
oa_vmedia_add(oa_ctx_t *c, apigw_validation_t *v, const char *type,
    size_t *cap)
{
    size_t           n;
    char            *t, *e;
    apigw_vmedia_t  *m;

    if (v->nmedia == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        m = realloc(v->media, *cap * sizeof(apigw_vmedia_t));
        if (m == NULL) {
            c->oom = 1;
            return -1;
        }
        v->media = m;
    }

    /* "application/json; charset=utf-8" -> "application/json" */
    n = strcspn(type, ";");
    while (n && (type[n - 1] == ' ' || type[n - 1] == '\t')) {
        n--;
    }

    t = oa_strndup(c, type, n);
    if (t == NULL) {
        return -1;
    }

    for (e = t; *e; e++) {
        if (*e >= 'A' && *e <= 'Z') {
            *e |= 0x20;
        }
    }

    m = &v->media[v->nmedia++];
    memset(m, 0, sizeof(*m));
    m->type = t;
    m->json = strcmp(t, "application/json") == 0
              || (n > 5 && strcmp(t + n - 5, "+json") == 0);
    m->len = strpbrk(t, " \t") == NULL ? strlen(t) : 0;

    return 0;
}


static void
oa_vbody3(oa_ctx_t *c, sc_t *s, apigw_validation_t *v, json_t *op)
{
    char        *saved;
    size_t       old, o2, o3, cap;
    json_t      *rb, *content, *mt, *sch;
    const char  *k;

    rb = json_object_get(op, "requestBody");
    if (rb == NULL) {
        return;
    }

    old = oa_ptr_push(c, "requestBody");
    rb = oa_deref(c, rb, &saved);

    if (!json_is_object(rb)) {
        if (rb != NULL) {
            oa_error(c, "must be an object, not %s", oa_type_name(rb));
            oa_deref_done(c, saved);
        }
        oa_ptr_pop(c, old);
        return;
    }

    v->body_required = json_is_true(json_object_get(rb, "required"));
    content = json_object_get(rb, "content");
    cap = 0;

    if (json_is_object(content) && json_object_size(content)) {
        v->any_media = 0;
        o2 = oa_ptr_push(c, "content");

        json_object_foreach(content, k, mt) {
            if (oa_vmedia_add(c, v, k, &cap) != 0) {
                break;
            }

            sch = json_is_object(mt) ? json_object_get(mt, "schema") : NULL;

            if (sch != NULL) {
                o3 = oa_ptr_push(c, k);
                oa_ptr_push(c, "schema");
                v->media[v->nmedia - 1].schema = sc_compile(s, sch);
                oa_ptr_pop(c, o3);
            }
        }

        oa_ptr_pop(c, o2);
    }

    oa_deref_done(c, saved);
    oa_ptr_pop(c, old);
}


static void
oa_vbody2(oa_ctx_t *c, sc_t *s, oa_vbuild_t *b, json_t *op)
{
    size_t               i, cap;
    json_t              *consumes, *it;
    apigw_schema_t      *sch;
    apigw_validation_t  *v;

    v = b->v;
    v->body_required = b->body_required;
    sch = NULL;

    if (b->body_schema != NULL && b->body_ptr != NULL) {
        oa_ptr_set(c, b->body_ptr);
        oa_ptr_push(c, "schema");
        sch = sc_compile(s, b->body_schema);
    }

    consumes = json_object_get(op, "consumes");
    if (consumes == NULL) {
        consumes = json_object_get(c->root, "consumes");
    }

    cap = 0;

    if (json_is_array(consumes) && json_array_size(consumes)) {
        v->any_media = 0;

        json_array_foreach(consumes, i, it) {
            if (json_is_string(it)
                && oa_vmedia_add(c, v, json_string_value(it), &cap) == 0)
            {
                v->media[v->nmedia - 1].schema = sch;
            }
        }

    } else if (b->form) {
        v->any_media = 0;

        if (oa_vmedia_add(c, v, "application/x-www-form-urlencoded", &cap)
            != 0
            || oa_vmedia_add(c, v, "multipart/form-data", &cap) != 0)
        {
            return;
        }

    } else if (sch != NULL) {
        /* no consumes: any type; JSON bodies are checked */
        if (oa_vmedia_add(c, v, "*/*", &cap) == 0) {
            v->media[0].schema = sch;
        }
    }
}


static int
oa_validate_flag(oa_ctx_t *c, json_t *obj, int dflt)
{
    json_t  *v;

    v = json_object_get(obj, "x-apigw-validate");

    if (v == NULL) {
        return dflt;
    }

    if (!json_is_boolean(v)) {
        oa_error_at(c, "x-apigw-validate", "must be a boolean, not %s",
                    oa_type_name(v));
        return dflt;
    }

    return json_is_true(v);
}


/* The parent of an operation's pointer: its path item. */
static json_t *
oa_path_item_of(oa_ctx_t *c, const char *opptr, char **itemptr)
{
    int          bad;
    char        *p, *slash;
    json_t      *t;

    p = oa_strdup(c, opptr);
    if (p == NULL) {
        return NULL;
    }

    slash = strrchr(p, '/');
    if (slash == NULL) {
        free(p);
        return NULL;
    }

    *slash = '\0';

    t = oa_pointer_walk(c, c->root, p, &bad);
    *itemptr = p;

    return t;
}


void
oa_validation(oa_ctx_t *c)
{
    int                  api_mode, mode;
    char                *itemptr, *keep;
    size_t               i, nerr;
    json_t              *op, *item;
    sc_t                 s;
    oa_vbuild_t          b;
    apigw_operation_t   *o;
    apigw_validation_t  *v;

    if (c->probs->nerrors != c->nerrors0) {
        return;                    /* the import fails: spare the walk */
    }

    keep = oa_strdup(c, c->ptr.buf);
    if (keep == NULL) {
        return;
    }

    api_mode = oa_validate_flag(c, c->root, -1);

    sc_init(&s, c, c->api->spec_version != APIGW_SPEC_OAS31);

    s.set = calloc(1, sizeof(apigw_schema_set_t));
    if (s.set == NULL) {
        c->oom = 1;
        free(keep);
        return;
    }

    s.set->refs = 1;                /* ours until the end of the walk */

    for (i = 0; i < c->api->nops; i++) {
        o = &c->api->ops[i];
        op = c->info[i].op;

        if (o->pointer == NULL || !json_is_object(op)) {
            continue;
        }

        oa_ptr_set(c, o->pointer);
        mode = oa_validate_flag(c, op, api_mode);

        if (mode == 0) {
            v = calloc(1, sizeof(apigw_validation_t));
            if (v == NULL) {
                c->oom = 1;
                break;
            }
            o->validation = v;
            continue;
        }

        v = calloc(1, sizeof(apigw_validation_t));
        if (v == NULL) {
            c->oom = 1;
            break;
        }

        v->mode = mode;
        v->any_media = 1;
        v->set = s.set;
        s.set->refs++;
        o->validation = v;

        memset(&b, 0, sizeof(b));
        b.v = v;
        nerr = c->probs->nerrors;

        itemptr = NULL;
        item = oa_path_item_of(c, o->pointer, &itemptr);

        if (json_is_object(item)) {
            char  *saved;

            /* a $ref'd path item: its parameters are in the target */
            oa_ptr_set(c, itemptr);
            item = oa_deref(c, item, &saved);

            if (item != NULL) {
                oa_vparams(c, &s, &b, item, NULL, 0);
                oa_deref_done(c, saved);
            }
        }

        free(itemptr);
        oa_ptr_set(c, o->pointer);
        oa_vparams(c, &s, &b, op, o->pointer, 1);

        oa_ptr_set(c, o->pointer);

        if (c->api->spec_version == APIGW_SPEC_SWAGGER2) {
            oa_vbody2(c, &s, &b, op);
        } else {
            oa_vbody3(c, &s, v, op);
        }

        free(b.body_ptr);

        if (c->probs->nerrors != nerr) {
            continue;
        }

        if (mode == -1 && v->nparams == 0 && v->nmedia == 0) {
            /* nothing declared: nothing to check */
            apigw_validation_free(v);
            o->validation = NULL;
        }
    }

    free(s.memo);
    free(s.defer);

    if (--s.set->refs == 0) {
        apigw_schema_set_free(s.set);
    }

    oa_ptr_set(c, keep);
    free(keep);
}
