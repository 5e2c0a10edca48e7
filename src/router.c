/*
 * The router: every operation template of every API, compiled into one tree
 * of path segments.
 *
 * A segment of a template is one of
 *
 *   literal   "books"        exact, case-sensitive bytes (percent-escapes in
 *                            the template are decoded, as the request is)
 *   mixed     "{id}.json"    literals and parameters alternating, at least
 *                            one literal; each parameter takes a non-empty
 *                            substring, the earlier ones as short as possible
 *   param     "{id}"         the whole segment
 *
 * uniformly stored as lit[0] P lit[1] P ... P lit[k]: k parameters and k + 1
 * literals, of which only the first and the last may be empty.  Two
 * templates that differ only in parameter names compile to the same nodes.
 *
 * Children of a node are tried literal first (one at most can match: a
 * hash lookup), then mixed ones (most literal bytes first), then the
 * parameter child; a failure deeper down backtracks to the next candidate.
 * Every node is reached by exactly one path from the root, so a match
 * visits each node at most once: the cost is bounded by the tree size and,
 * thanks to the hash, does not grow with the number of literal siblings
 * (10,000 APIs under the root cost what one does).  Matching allocates
 * nothing.
 */

#include <stdlib.h>
#include <string.h>

#include "apigw.h"


typedef struct {
    const char  *s;
    size_t       len;
} rt_str_t;


typedef struct {
    size_t       k;          /* parameters */
    size_t       chars;      /* literal bytes, for the mixed priority */
    rt_str_t     lit[];      /* k + 1, then the decoded literal bytes */
} rt_seg_t;


/* One operation at its node: the parameter names, in path order. */
typedef struct {
    const apigw_operation_t  *op;
    const apigw_api_t        *api;
    size_t                    nparams;
    rt_str_t                  name[];
} rt_route_t;


typedef struct rt_node_s  rt_node_t;

#define RT_DELETED  ((size_t) -1)

/*
 * A slot of a node's hash table of literal children (open addressing,
 * linear probing, at most half full): node NULL is a free slot, or a
 * deleted one when len is RT_DELETED.  The key bytes and the hash are kept
 * in the slot so that a probe touches the child only on a real match.
 */
typedef struct {
    const char    *s;
    size_t         len;
    rt_node_t     *node;
    uint32_t       hash;
} rt_lit_t;

struct rt_node_s {
    rt_seg_t      *seg;                      /* NULL for the root */
    rt_lit_t      *lits;                     /* hash table */
    size_t         nlits;                    /* live children */
    size_t         ulits;                    /* live + deleted slots */
    size_t         clits;                    /* slots, a power of 2 */
    rt_node_t    **mixed;                    /* priority order */
    size_t         nmixed;
    size_t         cmixed;
    rt_node_t     *param;
    rt_route_t    *route[APIGW_M_COUNT];
    rt_route_t   **slash;                    /* "/a/" templates, or NULL */
};


struct apigw_router_s {
    rt_node_t      root;
    size_t         count;
};


/* A template being added. */
typedef struct {
    rt_seg_t      *seg[APIGW_MAX_SEGMENTS];
    size_t         nseg;
    int            slash;    /* ends with "/" after a segment */
    rt_str_t       name[APIGW_MAX_PARAMS];
    size_t         nparams;
} rt_tpl_t;


/* The state of one match. */
typedef struct {
    const apigw_path_t   *path;
    apigw_method_e        method;
    apigw_match_t        *m;
    const rt_node_t      *other;     /* first node with other methods */
    unsigned              allow;     /* the methods of every such node */
    size_t                nvals;
} rt_ctx_t;


/* FNV-1a */
static uint32_t
rt_hash(const char *s, size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 16777619u;
    }

    return h;
}


static int
rt_seg_equal(const rt_seg_t *a, const rt_seg_t *b)
{
    size_t  i;

    if (a->k != b->k || a->chars != b->chars) {
        return 0;
    }

    for (i = 0; i <= a->k; i++) {
        if (a->lit[i].len != b->lit[i].len
            || memcmp(a->lit[i].s, b->lit[i].s, a->lit[i].len) != 0)
        {
            return 0;
        }
    }

    return 1;
}


static int
rt_seg_is_param(const rt_seg_t *seg)
{
    return seg->k == 1 && seg->chars == 0;
}


/*
 * Compile one template segment, raw bytes s[0 .. len).  Parameter names go
 * to tpl->name[].  Returns NULL, or why the segment is not well formed;
 * *out is NULL then, or on OOM.
 */
static const char *
rt_seg_compile(const char *s, size_t len, rt_tpl_t *tpl, rt_seg_t **out)
{
    int            hi, lo;
    char          *bytes;
    size_t         i, j, k, n, max, start[APIGW_MAX_PARAMS + 1];
    size_t         end[APIGW_MAX_PARAMS + 1];
    rt_seg_t      *seg;
    rt_str_t       names[APIGW_MAX_PARAMS];
    unsigned char  c;

    *out = NULL;

    /* room for every "{" as a parameter, and the bytes undecoded */

    for (i = 0, max = 0; i < len && max <= APIGW_MAX_PARAMS; i++) {
        max += (s[i] == '{');
    }

    seg = malloc(sizeof(rt_seg_t) + (max + 1) * sizeof(rt_str_t) + len);
    if (seg == NULL) {
        return NULL;
    }

    bytes = (char *) &seg->lit[max + 1];
    k = 0;
    n = 0;
    start[0] = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '}') {
            free(seg);
            return "unbalanced \"}\"";
        }

        if (c == '{') {
            for (j = i + 1; j < len && s[j] != '}' && s[j] != '{'; j++) {
                /* void */
            }

            if (j == len || s[j] == '{') {
                free(seg);
                return "unbalanced \"{\"";
            }

            if (j == i + 1) {
                free(seg);
                return "empty parameter name \"{}\"";
            }

            if (k > 0 && n == start[k]) {
                free(seg);
                return "two parameters with nothing between them";
            }

            if (tpl->nparams + k == APIGW_MAX_PARAMS) {
                free(seg);
                return "too many path parameters";
            }

            names[k].s = s + i + 1;
            names[k].len = j - i - 1;
            end[k] = n;
            k++;
            start[k] = n;
            i = j;
            continue;
        }

        if (c == '%' && len - i >= 3) {
            hi = apigw_hex((unsigned char) s[i + 1]);
            lo = apigw_hex((unsigned char) s[i + 2]);

            if (hi >= 0 && lo >= 0) {
                c = (unsigned char) (hi << 4 | lo);

                if (c == '\0') {
                    free(seg);
                    return "\"%00\" can never match";
                }

                i += 2;
            }
        }

        /* an invalid escape is kept literally: it matches "%25..." */

        bytes[n++] = (char) c;
    }

    end[k] = n;

    if (k == 0 && ((n == 1 && bytes[0] == '.')
                   || (n == 2 && bytes[0] == '.' && bytes[1] == '.')))
    {
        free(seg);
        return "a \".\" or \"..\" segment can never match";
    }

    seg->k = k;
    seg->chars = n;

    for (i = 0; i <= k; i++) {
        seg->lit[i].s = bytes + start[i];
        seg->lit[i].len = end[i] - start[i];
    }

    memcpy(&tpl->name[tpl->nparams], names, k * sizeof(rt_str_t));
    tpl->nparams += k;

    *out = seg;

    return NULL;
}


static void
rt_tpl_free(rt_tpl_t *tpl)
{
    size_t  i;

    for (i = 0; i < tpl->nseg; i++) {
        free(tpl->seg[i]);
    }

    tpl->nseg = 0;
}


/*
 * Compile a template string (the base path, then the operation path) into
 * tpl.  Empty segments are dropped, as they are from requests: "/a//b/" is
 * "/a/b", but for its trailing "/", which tells it from "/a/b" when a
 * document has both.  Returns NULL or an error message; oom is set on OOM.
 */
static const char *
rt_tpl_compile_str(const char *s, rt_tpl_t *tpl, int *oom)
{
    size_t       i, start, len;
    rt_seg_t    *seg;
    const char  *err;

    if (s == NULL) {
        return NULL;
    }

    len = strlen(s);
    i = 0;

    while (i < len) {
        if (s[i] == '/') {
            i++;
            continue;
        }

        start = i;

        while (i < len && s[i] != '/') {
            i++;
        }

        if (tpl->nseg == APIGW_MAX_SEGMENTS) {
            return "more path segments than a request can have";
        }

        err = rt_seg_compile(s + start, i - start, tpl, &seg);

        if (err) {
            return err;
        }

        if (seg == NULL) {
            *oom = 1;
            return "out of memory";
        }

        tpl->seg[tpl->nseg++] = seg;
    }

    if (len) {
        tpl->slash = (s[len - 1] == '/' && tpl->nseg > 0);
    }

    return NULL;
}


/* The literal child for bytes s[0 .. len), or NULL. */
static rt_node_t *
rt_lit_find(const rt_node_t *node, const char *s, size_t len)
{
    size_t           i, mask;
    uint32_t         h;
    const rt_lit_t  *e;

    if (node->nlits == 0) {
        return NULL;
    }

    h = rt_hash(s, len);
    mask = node->clits - 1;

    /* there is always a free slot: the table is at most half used */

    for (i = h & mask; /* void */ ; i = (i + 1) & mask) {
        e = &node->lits[i];

        if (e->node == NULL) {
            if (e->len == RT_DELETED) {
                continue;
            }

            return NULL;
        }

        if (e->hash == h && e->len == len && memcmp(e->s, s, len) == 0) {
            return e->node;
        }
    }
}


static void
rt_lit_place(rt_lit_t *t, size_t cap, rt_node_t *child, uint32_t h)
{
    size_t  i;

    for (i = h & (cap - 1); t[i].node != NULL || t[i].len == RT_DELETED;
         i = (i + 1) & (cap - 1))
    {
        /* void */
    }

    t[i].s = child->seg->lit[0].s;
    t[i].len = child->seg->lit[0].len;
    t[i].node = child;
    t[i].hash = h;
}


static int
rt_lit_insert(rt_node_t *node, rt_node_t *child)
{
    size_t     i, cap;
    rt_lit_t  *t;

    if ((node->ulits + 1) * 2 > node->clits) {
        /* grow, or just drop the deleted slots */
        for (cap = 4; cap < (node->nlits + 1) * 2; cap *= 2) {
            /* void */
        }

        t = calloc(cap, sizeof(rt_lit_t));
        if (t == NULL) {
            return -1;
        }

        for (i = 0; i < node->clits; i++) {
            if (node->lits[i].node) {
                rt_lit_place(t, cap, node->lits[i].node, node->lits[i].hash);
            }
        }

        free(node->lits);
        node->lits = t;
        node->clits = cap;
        node->ulits = node->nlits;
    }

    rt_lit_place(node->lits, node->clits, child,
                 rt_hash(child->seg->lit[0].s, child->seg->lit[0].len));
    node->nlits++;
    node->ulits++;

    return 0;
}


static rt_node_t *
rt_child_find(const rt_node_t *node, const rt_seg_t *seg, size_t *pos)
{
    size_t  i;

    if (seg->k == 0) {
        return rt_lit_find(node, seg->lit[0].s, seg->lit[0].len);
    }

    if (rt_seg_is_param(seg)) {
        return node->param;
    }

    /* mixed: after every one with at least as many literal bytes */

    *pos = node->nmixed;

    for (i = 0; i < node->nmixed; i++) {
        if (rt_seg_equal(node->mixed[i]->seg, seg)) {
            return node->mixed[i];
        }

        if (*pos == node->nmixed && node->mixed[i]->seg->chars < seg->chars) {
            *pos = i;
        }
    }

    return NULL;
}


static int
rt_array_insert(rt_node_t ***arr, size_t *n, size_t *cap, size_t pos,
    rt_node_t *child)
{
    size_t       c;
    rt_node_t  **a;

    if (*n == *cap) {
        c = *cap ? *cap * 2 : 4;
        a = realloc(*arr, c * sizeof(rt_node_t *));
        if (a == NULL) {
            return -1;
        }
        *arr = a;
        *cap = c;
    }

    memmove(*arr + pos + 1, *arr + pos, (*n - pos) * sizeof(rt_node_t *));
    (*arr)[pos] = child;
    (*n)++;

    return 0;
}


/*
 * The child of `node` for `seg`, created when missing.  The child takes
 * over `seg` when it is created; *used tells the caller so.
 */
static rt_node_t *
rt_child_get(rt_node_t *node, rt_seg_t *seg, int *used)
{
    int         rc;
    size_t      pos;
    rt_node_t  *child;

    *used = 0;
    pos = 0;

    child = rt_child_find(node, seg, &pos);
    if (child) {
        return child;
    }

    child = calloc(1, sizeof(rt_node_t));
    if (child == NULL) {
        return NULL;
    }

    child->seg = seg;

    if (seg->k == 0) {
        rc = rt_lit_insert(node, child);

    } else if (rt_seg_is_param(seg)) {
        node->param = child;
        rc = 0;

    } else {
        rc = rt_array_insert(&node->mixed, &node->nmixed, &node->cmixed, pos,
                             child);
    }

    if (rc != 0) {
        free(child);
        return NULL;
    }

    *used = 1;

    return child;
}


/* Free what the node holds (it may be the router's embedded root). */
static void
rt_node_free(rt_node_t *node)
{
    size_t  i;

    for (i = 0; i < node->clits; i++) {
        if (node->lits[i].node) {
            rt_node_free(node->lits[i].node);
            free(node->lits[i].node);
        }
    }

    for (i = 0; i < node->nmixed; i++) {
        rt_node_free(node->mixed[i]);
        free(node->mixed[i]);
    }

    if (node->param) {
        rt_node_free(node->param);
        free(node->param);
    }

    for (i = 0; i < APIGW_M_COUNT; i++) {
        free(node->route[i]);

        if (node->slash) {
            free(node->slash[i]);
        }
    }

    free(node->slash);
    free(node->lits);
    free(node->mixed);
    free(node->seg);
}


static int
rt_node_empty(const rt_node_t *node)
{
    size_t  i;

    for (i = 0; i < APIGW_M_COUNT; i++) {
        if (node->route[i] || (node->slash && node->slash[i])) {
            return 0;
        }
    }

    return node->nlits == 0 && node->nmixed == 0 && node->param == NULL;
}


/* Remove nodes left without operations and children (after a rollback). */
static void
rt_node_prune(rt_node_t *node)
{
    size_t      i, j;
    rt_node_t  *child;

    for (i = 0; i < node->clits; i++) {
        child = node->lits[i].node;

        if (child == NULL) {
            continue;
        }

        rt_node_prune(child);

        if (rt_node_empty(child)) {
            rt_node_free(child);
            free(child);
            node->lits[i].node = NULL;
            node->lits[i].len = RT_DELETED;
            node->nlits--;
        }
    }

    for (i = 0, j = 0; i < node->nmixed; i++) {
        rt_node_prune(node->mixed[i]);

        if (rt_node_empty(node->mixed[i])) {
            rt_node_free(node->mixed[i]);
            free(node->mixed[i]);

        } else {
            node->mixed[j++] = node->mixed[i];
        }
    }

    node->nmixed = j;

    if (node->param) {
        rt_node_prune(node->param);

        if (rt_node_empty(node->param)) {
            rt_node_free(node->param);
            free(node->param);
            node->param = NULL;
        }
    }
}


apigw_router_t *
apigw_router_create(void)
{
    return calloc(1, sizeof(apigw_router_t));
}


void
apigw_router_free(apigw_router_t *rt)
{
    if (rt == NULL) {
        return;
    }

    rt_node_free(&rt->root);
    free(rt);
}


size_t
apigw_router_count(const apigw_router_t *rt)
{
    return rt ? rt->count : 0;
}


static const char *
rt_str(const char *s)
{
    return s ? s : "";
}


/* op's template clashes with the route r has: which one and where */
static void
rt_clash(apigw_problems_t *probs, const apigw_api_t *api,
    const apigw_operation_t *op, const rt_route_t *r, const char *how)
{
    const apigw_api_t  *other;

    other = r->api;

    apigw_problem_add(probs, 0, api->file, op->pointer,
                      "%s \"%s%s\" %s %s \"%s%s\" (%s%s%s)",
                      apigw_method_name(op->method),
                      rt_str(api->base_path), rt_str(op->path), how,
                      apigw_method_name(op->method),
                      rt_str(other->base_path), rt_str(r->op->path),
                      other->file ? other->file : "",
                      other->file ? ": " : "",
                      r->op->pointer && r->op->pointer[0]
                          ? r->op->pointer : "/");
}


/*
 * Adding is all or nothing: every operation is inserted, and when any of
 * them was in error the ones inserted are taken out again, so a rejected
 * API leaves no pointers behind in the router.
 */
int
apigw_router_add(apigw_router_t *rt, apigw_api_t *api,
    apigw_problems_t *probs)
{
    int                 oom, used, nerr;
    size_t              i, j;
    rt_tpl_t            tpl;
    rt_node_t          *node;
    rt_route_t         *route, *twin, **table, ***added;
    const char         *err, *file;
    apigw_operation_t  *op;

    nerr = 0;
    file = api->file;

    /* the table each operation's route went into, for a rollback */
    added = calloc(api->nops ? api->nops : 1, sizeof(rt_route_t **));
    if (added == NULL) {
        apigw_problem_add(probs, 0, file, "", "out of memory");
        return 1;
    }

    for (i = 0; i < api->nops; i++) {
        op = &api->ops[i];
        oom = 0;
        tpl.nseg = 0;
        tpl.nparams = 0;
        tpl.slash = 0;

        if ((unsigned) op->method >= APIGW_M_COUNT) {
            apigw_problem_add(probs, 0, file, op->pointer,
                              "unknown method for path \"%s%s\"",
                              rt_str(api->base_path), rt_str(op->path));
            nerr++;
            continue;
        }

        err = rt_tpl_compile_str(api->base_path, &tpl, &oom);

        if (err == NULL) {
            err = rt_tpl_compile_str(op->path, &tpl, &oom);
        }

        if (err) {
            apigw_problem_add(probs, 0, file, op->pointer,
                              "path template \"%s%s\": %s",
                              rt_str(api->base_path), rt_str(op->path), err);
            rt_tpl_free(&tpl);
            nerr++;
            continue;
        }

        node = &rt->root;

        for (j = 0; j < tpl.nseg; j++) {
            node = rt_child_get(node, tpl.seg[j], &used);

            if (node == NULL) {
                break;
            }

            if (used) {
                tpl.seg[j] = NULL;
            }
        }

        if (node == NULL) {
            rt_tpl_free(&tpl);
            apigw_problem_add(probs, 0, file, op->pointer, "out of memory");
            nerr++;
            continue;
        }

        rt_tpl_free(&tpl);   /* the segments the tree did not take */

        if (tpl.slash && node->slash == NULL) {
            node->slash = calloc(APIGW_M_COUNT, sizeof(rt_route_t *));

            if (node->slash == NULL) {
                apigw_problem_add(probs, 0, file, op->pointer,
                                  "out of memory");
                nerr++;
                continue;
            }
        }

        table = tpl.slash ? node->slash : node->route;
        route = table[op->method];

        /*
         * "/a" and "/a/" may both be in one document, which routes each
         * spelling to its own operation; from two APIs, one would take the
         * other's requests of the spelling it lacks: a clash.
         */
        twin = tpl.slash ? node->route[op->method]
                         : node->slash ? node->slash[op->method] : NULL;

        if (route || (twin && twin->api != api)) {
            rt_clash(probs, api, op, route ? route : twin,
                     route ? "is the same path template as"
                           : "differs only by a trailing \"/\" from");
            nerr++;
            continue;
        }

        route = malloc(sizeof(rt_route_t) + tpl.nparams * sizeof(rt_str_t));
        if (route == NULL) {
            apigw_problem_add(probs, 0, file, op->pointer, "out of memory");
            nerr++;
            continue;
        }

        route->op = op;
        route->api = api;
        route->nparams = tpl.nparams;
        memcpy(route->name, tpl.name, tpl.nparams * sizeof(rt_str_t));

        table[op->method] = route;
        added[i] = table;
    }

    if (nerr) {
        for (i = 0; i < api->nops; i++) {
            if (added[i]) {
                free(added[i][api->ops[i].method]);
                added[i][api->ops[i].method] = NULL;
            }
        }

        rt_node_prune(&rt->root);

    } else {
        rt->count += api->nops;
    }

    free(added);

    return nerr;
}


/* The last occurrence of needle in hay[from .. to), or (size_t) -1. */
static size_t
rt_rfind(const char *hay, size_t from, size_t to, const rt_str_t *needle)
{
    size_t  i;

    if (to < from || to - from < needle->len) {
        return (size_t) -1;
    }

    for (i = to - needle->len + 1; i-- > from; ) {
        if (hay[i] == needle->s[0]
            && memcmp(hay + i, needle->s, needle->len) == 0)
        {
            return i;
        }
    }

    return (size_t) -1;
}


/*
 * Match a mixed segment, capturing its parameters at ctx->nvals.  The
 * inner literals are taken at their last occurrences, right to left, so
 * that "{name}.{ext}" takes "report.final.pdf" as "report.final" and
 * "pdf", as a file name reads: whatever precedes a literal ends with a
 * parameter, which can absorb any extra bytes, so a later split never
 * loses a match an earlier one would find.  O(len * literals), without
 * backtracking.
 */
static int
rt_mixed_match(const rt_seg_t *seg, const char *s, size_t len,
    rt_ctx_t *ctx)
{
    size_t          j, lo, q, pos;
    apigw_param_t  *v;

    if (len < seg->chars + seg->k
        || ctx->nvals + seg->k > APIGW_MAX_PARAMS
        || memcmp(s, seg->lit[0].s, seg->lit[0].len) != 0
        || memcmp(s + len - seg->lit[seg->k].len, seg->lit[seg->k].s,
                  seg->lit[seg->k].len) != 0)
    {
        return 0;
    }

    lo = seg->lit[0].len;
    q = len - seg->lit[seg->k].len;       /* the end of parameter j */
    v = &ctx->m->params[ctx->nvals];

    for (j = seg->k - 1; j >= 1; j--) {
        /* parameter j (after literal j) and j - 1 both non-empty */
        if (q < lo + 1 + seg->lit[j].len + 1) {
            return 0;
        }

        pos = rt_rfind(s, lo + 1, q - 1, &seg->lit[j]);

        if (pos == (size_t) -1) {
            return 0;
        }

        v[j].value = s + pos + seg->lit[j].len;
        v[j].value_len = q - (pos + seg->lit[j].len);
        q = pos;
    }

    if (q <= lo) {
        return 0;
    }

    v[0].value = s + lo;
    v[0].value_len = q - lo;
    ctx->nvals += seg->k;

    return 1;
}


/* The route of a method in one table of a node; HEAD falls back to GET. */
static const rt_route_t *
rt_route(rt_route_t *const *table, apigw_method_e method)
{
    const rt_route_t  *r;

    if (table == NULL || (unsigned) method >= APIGW_M_COUNT) {
        return NULL;
    }

    r = table[method];

    if (r == NULL && method == APIGW_M_HEAD) {
        r = table[APIGW_M_GET];
    }

    return r;
}


/* The methods a node serves, with or without a trailing "/". */
static unsigned
rt_methods(const rt_node_t *node)
{
    size_t    n;
    unsigned  allow;

    allow = 0;

    for (n = 0; n < APIGW_M_COUNT; n++) {
        if (node->route[n] || (node->slash && node->slash[n])) {
            allow |= 1u << n;
        }
    }

    return allow;
}


static const rt_route_t *
rt_search(rt_ctx_t *ctx, const rt_node_t *node, size_t i)
{
    size_t               save, n;
    unsigned             methods;
    const char          *s;
    rt_node_t           *child;
    const rt_route_t    *r;
    const apigw_path_t  *path;

    path = ctx->path;

    if (i == path->n) {
        /*
         * The template spelt as the request is ("/a/" or "/a") first, then
         * the other one: a document with only one of them serves both.  An
         * unknown method (APIGW_M_NONE) has no route anywhere: 405.
         */
        if (path->trailing_slash) {
            r = rt_route(node->slash, ctx->method);
            if (r == NULL) {
                r = rt_route(node->route, ctx->method);
            }

        } else {
            r = rt_route(node->route, ctx->method);
            if (r == NULL) {
                r = rt_route(node->slash, ctx->method);
            }
        }

        if (r && ctx->method != APIGW_M_OPTIONS) {
            return r;
        }

        /* for OPTIONS (CORS) and 405: what any template of the path serves */
        methods = rt_methods(node);
        ctx->allow |= methods;

        if (r == NULL && methods && ctx->other == NULL) {
            ctx->other = node;
        }

        return r;
    }

    s = path->seg[i];
    save = ctx->nvals;

    if (node->nlits) {
        child = rt_lit_find(node, s, path->len[i]);

        if (child) {
            r = rt_search(ctx, child, i + 1);
            if (r) {
                return r;
            }
        }
    }

    for (n = 0; n < node->nmixed; n++) {
        child = node->mixed[n];

        if (rt_mixed_match(child->seg, s, path->len[i], ctx)) {
            r = rt_search(ctx, child, i + 1);
            if (r) {
                return r;
            }

            ctx->nvals = save;
        }
    }

    if (node->param && ctx->nvals < APIGW_MAX_PARAMS) {
        ctx->m->params[ctx->nvals].value = s;
        ctx->m->params[ctx->nvals].value_len = path->len[i];
        ctx->nvals++;

        r = rt_search(ctx, node->param, i + 1);
        if (r) {
            return r;
        }

        ctx->nvals = save;
    }

    return NULL;
}


void
apigw_router_match(const apigw_router_t *rt, apigw_method_e method,
    const apigw_path_t *path, size_t first, apigw_match_t *m)
{
    size_t             i;
    rt_ctx_t           ctx;
    const rt_route_t  *r;

    m->status = 404;
    m->op = NULL;
    m->api = NULL;
    m->allow = 0;
    m->nparams = 0;
    m->rt = rt;
    m->first = first;

    if (rt == NULL || first > path->n || (unsigned) method > APIGW_M_NONE) {
        return;
    }

    ctx.path = path;
    ctx.method = method;
    ctx.m = m;
    ctx.other = NULL;
    ctx.allow = 0;
    ctx.nvals = 0;

    r = rt_search(&ctx, &rt->root, first);

    if (r) {
        m->status = 0;
        m->op = r->op;
        m->api = r->api;
        m->nparams = r->nparams;
        m->allow = ctx.allow;      /* for OPTIONS only */

        for (i = 0; i < r->nparams; i++) {
            m->params[i].name = r->name[i].s;
            m->params[i].name_len = r->name[i].len;
        }

        return;
    }

    m->nparams = 0;

    if (ctx.other) {
        m->status = 405;

        for (i = 0; i < APIGW_M_COUNT && m->api == NULL; i++) {
            if (ctx.other->route[i]) {
                m->api = ctx.other->route[i]->api;

            } else if (ctx.other->slash && ctx.other->slash[i]) {
                m->api = ctx.other->slash[i]->api;
            }
        }

        m->allow |= ctx.allow;

        /* HEAD is served by GET */
        if (m->allow & (1u << APIGW_M_GET)) {
            m->allow |= 1u << APIGW_M_HEAD;
        }
    }
}


size_t
apigw_allow_format(unsigned allow, char *buf, size_t size)
{
    size_t  i, n, k;
    static const apigw_method_e  order[] = {
        APIGW_M_GET, APIGW_M_HEAD, APIGW_M_POST, APIGW_M_PUT, APIGW_M_PATCH,
        APIGW_M_DELETE, APIGW_M_OPTIONS, APIGW_M_TRACE
    };
    const char  *name;

    if (allow & (1u << APIGW_M_GET)) {
        allow |= 1u << APIGW_M_HEAD;
    }

    n = 0;

    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!(allow & (1u << order[i]))) {
            continue;
        }

        if (n) {
            if (n + 2 <= size) {
                memcpy(buf + n, ", ", 2);
            }
            n += 2;
        }

        name = apigw_method_name(order[i]);
        k = strlen(name);

        if (n + k <= size) {
            memcpy(buf + n, name, k);
        }

        n += k;
    }

    /* NUL-terminated when there is room, like snprintf() */
    if (n < size) {
        buf[n] = '\0';
    }

    return n;
}
