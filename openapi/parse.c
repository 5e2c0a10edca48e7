/*
 * Bytes to a jansson tree: JSON through jansson (duplicate keys rejected),
 * YAML through libyaml's event parser, resolved with the YAML 1.2 core
 * schema.  The YAML side keeps its own stack (no recursion), limits the
 * nesting depth and counts nodes as aliases expand them, so a "billion
 * laughs" document is rejected instead of being walked.
 */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "oa.h"


typedef struct {
    json_t       *node;      /* object or array being built */
    char         *anchor;
    size_t        count;     /* nodes below, aliases expanded, plus itself */
    char         *key;       /* mapping: pending key, NULL when expecting one */
    size_t        key_len;
    int           merge;     /* the pending key is the merge key "<<" */
    json_t       *merges;    /* mapping: sources of "<<", or NULL */
} oa_yframe_t;


typedef struct {
    json_t       *node;
    size_t        count;
} oa_yanchor_t;


typedef struct {
    oa_ctx_t      *c;
    oa_yframe_t    stack[OA_YAML_MAX_DEPTH];
    size_t         depth;
    json_t        *anchor_idx;    /* name -> index into anchors */
    oa_yanchor_t  *anchors;
    size_t         nanchors;
    size_t         anchors_cap;
    size_t         total;
    size_t         budget;
    json_t        *root;
    size_t         root_count;
} oa_yaml_t;


static void
oa_yaml_error(oa_yaml_t *y, const yaml_mark_t *m, const char *msg,
    const char *arg)
{
    oa_error(y->c, "YAML error at line %lu, column %lu: %s%s%s%s",
             (unsigned long) m->line + 1, (unsigned long) m->column + 1, msg,
             arg ? " \"" : "", arg ? arg : "", arg ? "\"" : "");
}


static int
oa_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}


static int
oa_all(const char *s, size_t n, const char *set)
{
    size_t  i;

    if (n == 0) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (s[i] == '\0' || strchr(set, s[i]) == NULL) {
            return 0;
        }
    }

    return 1;
}


/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static int
oa_is_float(const char *s, size_t n)
{
    size_t  i, d;

    i = 0;

    if (i < n && (s[i] == '-' || s[i] == '+')) {
        i++;
    }

    for (d = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++, d++) { }

    if (i < n && s[i] == '.') {
        i++;
        for ( ; i < n && s[i] >= '0' && s[i] <= '9'; i++, d++) { }
    }

    if (d == 0) {
        return 0;
    }

    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;

        if (i < n && (s[i] == '-' || s[i] == '+')) {
            i++;
        }

        for (d = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++, d++) { }

        if (d == 0) {
            return 0;
        }
    }

    return i == n;
}


/* A plain scalar resolved with the YAML 1.2 core schema. */
static json_t *
oa_yaml_plain(const char *s, size_t n)
{
    char                *end;
    double               d;
    long long            ll;
    unsigned long long   ull;
    const char          *p;
    size_t               k;

    if (n == 0 || oa_is(s, n, "~") || oa_is(s, n, "null")
        || oa_is(s, n, "Null") || oa_is(s, n, "NULL"))
    {
        return json_null();
    }

    if (oa_is(s, n, "true") || oa_is(s, n, "True") || oa_is(s, n, "TRUE")) {
        return json_true();
    }

    if (oa_is(s, n, "false") || oa_is(s, n, "False")
        || oa_is(s, n, "FALSE"))
    {
        return json_false();
    }

    /* scalars are NUL-terminated by libyaml, but may hold a NUL inside */
    if (memchr(s, '\0', n) != NULL) {
        return json_stringn_nocheck(s, n);
    }

    p = s;
    k = n;

    if (*p == '-' || *p == '+') {
        p++;
        k--;
    }

    if (oa_all(p, k, "0123456789")) {
        errno = 0;
        ll = strtoll(s, &end, 10);

        if (errno == 0 && end == s + n) {
            return json_integer(ll);
        }

        d = strtod(s, &end);
        return json_real(d);
    }

    if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')
        && oa_all(s + 2, n - 2, s[1] == 'o' ? "01234567"
                                            : "0123456789abcdefABCDEF"))
    {
        errno = 0;
        ull = strtoull(s + 2, &end, s[1] == 'o' ? 8 : 16);

        if (errno == 0 && ull <= (unsigned long long) LLONG_MAX) {
            return json_integer((json_int_t) ull);
        }

        return json_stringn_nocheck(s, n);
    }

    if (oa_is_float(s, n)) {
        d = strtod(s, &end);

        /* out of range: jansson cannot hold inf, keep the text */
        if (end == s + n && d - d == 0) {
            return json_real(d);
        }
    }

    /* .inf, .nan and the rest stay strings: JSON has no such numbers */
    return json_stringn_nocheck(s, n);
}


static int
oa_yaml_budget(oa_yaml_t *y, size_t add, const yaml_mark_t *m)
{
    if (add > y->budget || y->total > y->budget - add) {
        oa_yaml_error(y, m, "the document expands to too many nodes "
                      "(aliases)", NULL);
        return -1;
    }

    y->total += add;

    return 0;
}


static int
oa_yaml_anchor(oa_yaml_t *y, const char *name, json_t *node, size_t count)
{
    size_t         cap;
    json_t        *idx;
    oa_yanchor_t  *a;

    idx = json_object_get(y->anchor_idx, name);

    if (idx != NULL) {
        a = &y->anchors[json_integer_value(idx)];
        json_decref(a->node);
        a->node = json_incref(node);
        a->count = count;
        return 0;
    }

    if (y->nanchors == y->anchors_cap) {
        cap = y->anchors_cap ? y->anchors_cap * 2 : 16;
        a = realloc(y->anchors, cap * sizeof(oa_yanchor_t));
        if (a == NULL) {
            y->c->oom = 1;
            return -1;
        }
        y->anchors = a;
        y->anchors_cap = cap;
    }

    if (json_object_set_new(y->anchor_idx, name,
                            json_integer((json_int_t) y->nanchors)) != 0)
    {
        y->c->oom = 1;
        return -1;
    }

    a = &y->anchors[y->nanchors++];
    a->node = json_incref(node);
    a->count = count;

    return 0;
}


/* Attach a finished node (reference taken over) to its parent. */
static int
oa_yaml_attach(oa_yaml_t *y, json_t *v, size_t count, const yaml_mark_t *m)
{
    size_t        i;
    json_t       *e;
    oa_yframe_t  *f;

    if (v == NULL) {
        y->c->oom = 1;
        return -1;
    }

    if (y->depth == 0) {
        json_decref(y->root);
        y->root = v;
        y->root_count = count;
        return 0;
    }

    f = &y->stack[y->depth - 1];
    f->count += count;

    if (json_is_array(f->node)) {
        if (json_array_append_new(f->node, v) != 0) {
            y->c->oom = 1;
            return -1;
        }
        return 0;
    }

    if (f->merge) {
        f->merge = 0;
        free(f->key);
        f->key = NULL;

        if (f->merges == NULL) {
            f->merges = json_array();
            if (f->merges == NULL) {
                json_decref(v);
                y->c->oom = 1;
                return -1;
            }
        }

        if (json_is_object(v)) {
            json_array_append_new(f->merges, v);
            return 0;
        }

        if (json_is_array(v)) {
            json_array_foreach(v, i, e) {
                if (!json_is_object(e)) {
                    json_decref(v);
                    oa_yaml_error(y, m, "a merge key (<<) needs mappings",
                                  NULL);
                    return -1;
                }
                json_array_append(f->merges, e);
            }

            json_decref(v);
            return 0;
        }

        json_decref(v);
        oa_yaml_error(y, m, "a merge key (<<) needs a mapping", NULL);
        return -1;
    }

    if (json_object_setn_new_nocheck(f->node, f->key, f->key_len, v) != 0) {
        y->c->oom = 1;
        free(f->key);
        f->key = NULL;
        return -1;
    }

    free(f->key);
    f->key = NULL;

    return 0;
}


static void
oa_yaml_merge(oa_yframe_t *f)
{
    size_t       i, klen;
    json_t      *src, *v;
    const char  *k;

    json_array_foreach(f->merges, i, src) {
        json_object_keylen_foreach(src, k, klen, v) {
            if (json_object_getn(f->node, k, klen) == NULL) {
                json_object_setn_nocheck(f->node, k, klen, v);
            }
        }
    }
}


static void
oa_yaml_cleanup(oa_yaml_t *y)
{
    size_t  i;

    while (y->depth > 0) {
        y->depth--;
        json_decref(y->stack[y->depth].node);
        json_decref(y->stack[y->depth].merges);
        free(y->stack[y->depth].key);
        free(y->stack[y->depth].anchor);
    }

    for (i = 0; i < y->nanchors; i++) {
        json_decref(y->anchors[i].node);
    }

    free(y->anchors);
    json_decref(y->anchor_idx);
}


static int
oa_yaml_event(oa_yaml_t *y, yaml_event_t *ev, int *docs)
{
    int            plain;
    char          *key;
    json_t        *v, *idx;
    size_t         n, count;
    const char    *s, *tag;
    oa_yframe_t   *f;
    oa_yanchor_t  *a;

    f = y->depth ? &y->stack[y->depth - 1] : NULL;

    switch (ev->type) {

    case YAML_DOCUMENT_START_EVENT:
        if (*docs > 0) {
            oa_yaml_error(y, &ev->start_mark, "only one YAML document is "
                          "allowed", NULL);
            return -1;
        }
        return 0;

    case YAML_DOCUMENT_END_EVENT:
        (*docs)++;
        return 0;

    case YAML_ALIAS_EVENT:
        s = (const char *) ev->data.alias.anchor;

        if (f != NULL && json_is_object(f->node) && f->key == NULL) {
            oa_yaml_error(y, &ev->start_mark, "an alias as a mapping key is "
                          "not supported", NULL);
            return -1;
        }

        idx = json_object_get(y->anchor_idx, s);
        if (idx == NULL) {
            oa_yaml_error(y, &ev->start_mark, "undefined or recursive alias",
                          s);
            return -1;
        }

        a = &y->anchors[json_integer_value(idx)];

        if (oa_yaml_budget(y, a->count, &ev->start_mark) != 0) {
            return -1;
        }

        return oa_yaml_attach(y, json_incref(a->node), a->count,
                              &ev->start_mark);

    case YAML_SCALAR_EVENT:
        s = (const char *) ev->data.scalar.value;
        n = ev->data.scalar.length;
        tag = (const char *) ev->data.scalar.tag;

        if (oa_yaml_budget(y, 1, &ev->start_mark) != 0) {
            return -1;
        }

        /*
         * A NUL inside a string would be read as its end by everything
         * downstream ("/a\0b" served as "/a"), as JSON input refuses it
         */
        if (memchr(s, '\0', n) != NULL) {
            oa_yaml_error(y, &ev->start_mark, "a NUL character (\\0) in a "
                          "string is not supported", NULL);
            return -1;
        }

        if (f != NULL && json_is_object(f->node) && f->key == NULL) {
            if (json_object_getn(f->node, s, n) != NULL) {
                oa_yaml_error(y, &ev->start_mark, "duplicate key", s);
                return -1;
            }

            key = malloc(n + 1);
            if (key == NULL) {
                y->c->oom = 1;
                return -1;
            }

            memcpy(key, s, n + 1);
            f->key = key;
            f->key_len = n;
            f->merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                       && oa_is(s, n, "<<");
            return 0;
        }

        /* quoted and block scalars, !!str and "!" are strings */
        plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                && (tag == NULL || (strcmp(tag, YAML_STR_TAG) != 0
                                    && strcmp(tag, "!") != 0));

        v = plain ? oa_yaml_plain(s, n) : json_stringn_nocheck(s, n);

        if (v != NULL && ev->data.scalar.anchor != NULL
            && oa_yaml_anchor(y, (const char *) ev->data.scalar.anchor, v, 1)
               != 0)
        {
            json_decref(v);
            return -1;
        }

        return oa_yaml_attach(y, v, 1, &ev->start_mark);

    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (f != NULL && json_is_object(f->node) && f->key == NULL) {
            oa_yaml_error(y, &ev->start_mark, "a collection as a mapping "
                          "key is not supported", NULL);
            return -1;
        }

        if (y->depth == OA_YAML_MAX_DEPTH) {
            oa_yaml_error(y, &ev->start_mark, "nesting deeper than 256 "
                          "levels", NULL);
            return -1;
        }

        if (oa_yaml_budget(y, 1, &ev->start_mark) != 0) {
            return -1;
        }

        f = &y->stack[y->depth];
        memset(f, 0, sizeof(*f));
        f->count = 1;

        if (ev->type == YAML_SEQUENCE_START_EVENT) {
            f->node = json_array();
            s = (const char *) ev->data.sequence_start.anchor;

        } else {
            f->node = json_object();
            s = (const char *) ev->data.mapping_start.anchor;
        }

        if (f->node == NULL) {
            y->c->oom = 1;
            return -1;
        }

        y->depth++;

        if (s != NULL) {
            f->anchor = strdup(s);
            if (f->anchor == NULL) {
                y->c->oom = 1;
                return -1;
            }
        }

        return 0;

    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (f == NULL) {
            return 0;
        }

        if (f->merges != NULL) {
            oa_yaml_merge(f);
            json_decref(f->merges);
            f->merges = NULL;
        }

        v = f->node;
        count = f->count;
        f->node = NULL;
        free(f->key);
        f->key = NULL;
        y->depth--;

        if (f->anchor != NULL) {
            if (oa_yaml_anchor(y, f->anchor, v, count) != 0) {
                free(f->anchor);
                f->anchor = NULL;
                json_decref(v);
                return -1;
            }

            free(f->anchor);
            f->anchor = NULL;
        }

        return oa_yaml_attach(y, v, count, &ev->start_mark);

    default:
        return 0;
    }
}


static json_t *
oa_parse_yaml(oa_ctx_t *c, const char *buf, size_t len)
{
    int             done, docs, rc;
    json_t         *root;
    oa_yaml_t      *y;
    yaml_event_t    ev;
    yaml_parser_t   parser;

    y = calloc(1, sizeof(oa_yaml_t));
    if (y == NULL) {
        c->oom = 1;
        return NULL;
    }

    y->c = c;
    y->budget = OA_YAML_MIN_BUDGET + len;
    y->anchor_idx = json_object();

    if (y->anchor_idx == NULL || !yaml_parser_initialize(&parser)) {
        json_decref(y->anchor_idx);
        free(y);
        c->oom = 1;
        return NULL;
    }

    yaml_parser_set_input_string(&parser, (const unsigned char *) buf, len);

    done = 0;
    docs = 0;
    rc = 0;

    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            if (parser.error == YAML_MEMORY_ERROR) {
                c->oom = 1;

            } else if (parser.context != NULL) {
                oa_error(c, "YAML error at line %lu, column %lu: %s %s "
                         "(line %lu, column %lu)",
                         (unsigned long) parser.problem_mark.line + 1,
                         (unsigned long) parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "syntax error",
                         parser.context,
                         (unsigned long) parser.context_mark.line + 1,
                         (unsigned long) parser.context_mark.column + 1);

            } else {
                oa_error(c, "YAML error at line %lu, column %lu: %s",
                         (unsigned long) parser.problem_mark.line + 1,
                         (unsigned long) parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "syntax error");
            }

            rc = -1;
            break;
        }

        done = ev.type == YAML_STREAM_END_EVENT;
        rc = oa_yaml_event(y, &ev, &docs);
        yaml_event_delete(&ev);

        if (rc != 0) {
            break;
        }
    }

    yaml_parser_delete(&parser);

    root = y->root;
    oa_yaml_cleanup(y);
    free(y);

    if (rc != 0) {
        json_decref(root);
        return NULL;
    }

    if (root == NULL) {
        oa_error(c, "the document is empty");
    }

    return root;
}


static json_t *
oa_parse_json(oa_ctx_t *c, const char *buf, size_t len)
{
    json_t        *root;
    json_error_t   err;

    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);

    /* valid JSON may hold integers beyond 64 bits, in examples */
    if (root == NULL && strstr(err.text, "too big") != NULL) {
        root = json_loadb(buf, len,
                          JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                          &err);
    }

    if (root == NULL) {
        oa_error(c, "JSON error at line %d, column %d: %s", err.line,
                 err.column, err.text);
    }

    return root;
}


static int
oa_has_suffix(const char *s, const char *suffix)
{
    size_t  n, m;

    n = strlen(s);
    m = strlen(suffix);

    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}


json_t *
oa_parse(oa_ctx_t *c, const char *buf, size_t len)
{
    size_t  i;

    /* a UTF-8 byte order mark: jansson refuses it, libyaml skips it */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        buf += 3;
        len -= 3;
    }

    if (c->file == NULL
        || (!oa_has_suffix(c->file, ".yaml")
            && !oa_has_suffix(c->file, ".yml")))
    {
        for (i = 0; i < len; i++) {
            if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r'
                && buf[i] != '\n')
            {
                break;
            }
        }

        if (i < len && (buf[i] == '{' || buf[i] == '[')) {
            return oa_parse_json(c, buf, len);
        }
    }

    return oa_parse_yaml(c, buf, len);
}
