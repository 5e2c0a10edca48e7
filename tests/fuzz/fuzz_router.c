/*
 * The router and backend URIs.  Input: byte 0 chooses the mode and the
 * method, byte 1 the `first` offset, the rest is
 *
 *   fixed mode (bit 7 clear):     the request target "path[?query]",
 *                                 matched against a router built once;
 *   template mode (bit 7 set):    "target\n" then lines "<m>template", each
 *                                 an operation of method <m> % 8, added as
 *                                 one API to a fresh router.
 *
 * Whatever the router answers is checked against a brute-force reference
 * (every template tried on its own, with full backtracking): 0 when some
 * matching template has the method (HEAD: or GET), 405 when templates match
 * but none has it, else 404; the captured values are the reference's
 * (earlier parameters shortest).  The backend URI obeys the two-pass
 * contract and its path never has a dot segment or a raw unsafe byte.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apigw.h"


#define MAX_OPS   24
#define REF_LEN   256          /* longer segments: no reference check */

#define die(...)  do { fprintf(stderr, __VA_ARGS__); abort(); } while (0)


typedef struct {
    apigw_method_e   m;
    const char      *path;
    const char      *backend;
    int              append;
} opdef_t;


static const opdef_t  api1_ops[] = {
    { APIGW_M_GET, "/", "", 0 },
    { APIGW_M_GET, "/books", "/web/ns/pkg/books.json", 1 },
    { APIGW_M_GET, "/books/{id}", "/web/ns/pkg/book?id={id}", 0 },
    { APIGW_M_PUT, "/books/{id}", "/b/{id}", 1 },
    { APIGW_M_GET, "/books/{id}.json", "/b/{id}.json?x=1", 1 },
    { APIGW_M_GET, "/books/new", "/new/", 1 },
    { APIGW_M_POST, "/books/{id}/pages/{page}", "/p/{page}/{id}", 0 },
    { APIGW_M_GET, "/f/{a}.{b}", "/f/{b}/{a}", 0 },
    { APIGW_M_GET, "/f/v{n}", "/v?n={n}&m={n}", 0 },
    { APIGW_M_GET, "/f/{name}.tar.gz", "/{name}", 1 },
    { APIGW_M_DELETE, "/g/{a}-{b}-{c}", "/{c}/{b}/{a}", 1 },
    { APIGW_M_GET, "/a/{x}/c", "?only={x}", 0 },
    { APIGW_M_GET, "/a/b/d", "", 1 },
    { APIGW_M_HEAD, "/h", "/h", 0 },
    { APIGW_M_OPTIONS, "/h", "/h?", 1 },
    { APIGW_M_PATCH, "/{any}", "/{any}{unknown}", 1 },
    { APIGW_M_GET, "/caf%C3%A9/{x}", "/c/{x}", 1 },
    { 0, NULL, NULL, 0 }
};

static const opdef_t  api2_ops[] = {
    { APIGW_M_GET, "/items", "/i", 1 },
    { APIGW_M_PATCH, "/items/{id}", "/i/{id}/{tenant}", 1 },
    { APIGW_M_TRACE, "/t", NULL, 0 },
    { APIGW_M_GET, "/{a}/{b}/{c}", "/{a}{b}{c}", 0 },
    { 0, NULL, NULL, 0 }
};


static apigw_router_t  *fixed;
static apigw_api_t     *fixed_apis[2];


static char *
xstrndup(const char *s, size_t n)
{
    char  *p;

    p = malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';

    return p;
}


static apigw_api_t *
mkapi(const char *base, size_t nops)
{
    apigw_api_t  *api;

    api = calloc(1, sizeof(apigw_api_t));
    api->file = xstrndup("fuzz.yaml", 9);
    api->base_path = xstrndup(base, strlen(base));
    api->ops = calloc(nops ? nops : 1, sizeof(apigw_operation_t));
    api->nops = nops;

    return api;
}


static void
mkop(apigw_api_t *api, size_t i, apigw_method_e m, const char *path,
    size_t len, const char *backend, int append)
{
    apigw_operation_t  *op;

    op = &api->ops[i];
    op->method = m;
    op->path = xstrndup(path, len);
    op->pointer = xstrndup("/paths/x", 8);
    op->api = api;

    if (backend) {
        op->backend.url = xstrndup(backend, strlen(backend));
        op->backend.path = xstrndup(backend, strlen(backend));
        op->backend.append_path = append;
    }
}


static apigw_api_t *
mkapi_defs(const char *base, const opdef_t *defs)
{
    size_t        i, n;
    apigw_api_t  *api;

    for (n = 0; defs[n].path; n++) {
        /* void */
    }

    api = mkapi(base, n);

    for (i = 0; i < n; i++) {
        mkop(api, i, defs[i].m, defs[i].path, strlen(defs[i].path),
             defs[i].backend, defs[i].append);
    }

    return api;
}


/* ---- the reference matcher ---- */

typedef struct {
    int          param;
    char         lit[REF_LEN * 4];
    size_t       len;
} piece_t;

static unsigned  memo[2 * APIGW_MAX_PARAMS + 2][REF_LEN + 1];
static unsigned  memo_gen;


static int
hexval(int c)
{
    return (c >= '0' && c <= '9') ? c - '0'
           : (c >= 'a' && c <= 'f') ? c - 'a' + 10
           : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}


/* A well-formed template segment (the router accepted it) into pieces. */
static size_t
ref_pieces(const char *t, size_t len, piece_t *pc)
{
    size_t  i, np;

    np = 0;

    for (i = 0; i < len; i++) {
        if (t[i] == '{') {
            while (t[i] != '}') {
                i++;
            }
            pc[np++].param = 1;
            continue;
        }

        if (np == 0 || pc[np - 1].param) {
            pc[np].param = 0;
            pc[np].len = 0;
            np++;
        }

        if (t[i] == '%' && len - i >= 3 && hexval(t[i + 1]) >= 0
            && hexval(t[i + 2]) >= 0)
        {
            pc[np - 1].lit[pc[np - 1].len++] =
                (char) (hexval(t[i + 1]) * 16 + hexval(t[i + 2]));
            i += 2;

        } else {
            pc[np - 1].lit[pc[np - 1].len++] = t[i];
        }
    }

    return np;
}


/*
 * Backtracking, longest parameter values first (the router takes inner
 * literals at their last occurrence), failures memoised.
 */
static int
ref_match(const piece_t *pc, size_t np, size_t k, const char *s, size_t len,
    size_t pos, size_t *cap)
{
    size_t  e;

    if (k == np) {
        return pos == len;
    }

    if (memo[k][pos] == memo_gen) {
        return 0;
    }

    if (pc[k].param) {
        for (e = len; e > pos; e--) {
            cap[0] = pos;
            cap[1] = e;
            if (ref_match(pc, np, k + 1, s, len, e, cap + 2)) {
                return 1;
            }
        }

    } else if (len - pos >= pc[k].len
               && memcmp(s + pos, pc[k].lit, pc[k].len) == 0
               && ref_match(pc, np, k + 1, s, len, pos + pc[k].len, cap))
    {
        return 1;
    }

    memo[k][pos] = memo_gen;

    return 0;
}


/*
 * Does the operation's template match path segments [first, n)?  1 yes,
 * 0 no, -1 unknown (too long to check).  The captured values, in order,
 * go to vals.
 */
static int
ref_template(const apigw_api_t *api, const apigw_operation_t *op,
    const apigw_path_t *p, size_t first, const char **val, size_t *vlen,
    size_t *nval)
{
    int          r;
    size_t       si, part, i, j, start, np, k, cap[2 * APIGW_MAX_PARAMS];
    const char  *t;
    static piece_t  pc[2 * APIGW_MAX_PARAMS + 2];

    si = first;
    *nval = 0;
    r = 1;

    for (part = 0; part < 2; part++) {
        t = part ? op->path : api->base_path;

        for (i = 0; t[i]; /* void */) {
            if (t[i] == '/') {
                i++;
                continue;
            }

            for (start = i; t[i] && t[i] != '/'; i++) {
                /* void */
            }

            if (si >= p->n) {
                return 0;
            }

            if (p->len[si] > REF_LEN || i - start > sizeof(pc[0].lit)) {
                r = -1;
                si++;
                continue;
            }

            np = ref_pieces(t + start, i - start, pc);
            memo_gen++;

            if (!ref_match(pc, np, 0, p->seg[si], p->len[si], 0, cap)) {
                return 0;
            }

            for (j = 0, k = 0; j < np; j++) {
                if (pc[j].param) {
                    val[*nval] = p->seg[si] + cap[2 * k];
                    vlen[*nval] = cap[2 * k + 1] - cap[2 * k];
                    (*nval)++;
                    k++;
                }
            }

            si++;
        }
    }

    return si == p->n ? r : 0;
}


/*
 * The template's shape as the router files it (segments, parameters
 * unnamed) into out, and whether it ends with "/" after a segment (the
 * operation path's last byte decides, else the base path's).  -1: too
 * long to tell.
 */
static int
ref_shape(const apigw_api_t *api, const apigw_operation_t *op, char *out,
    size_t size, int *slash)
{
    size_t       part, i, n;
    const char  *t;

    n = 0;
    *slash = 0;

    for (part = 0; part < 2; part++) {
        t = part ? op->path : api->base_path;

        for (i = 0; t[i]; i++) {
            if (t[i] == '/') {
                continue;
            }

            if (n + 4 >= size) {
                return -1;
            }

            if (i == 0 || t[i - 1] == '/') {
                out[n++] = '/';
            }

            if (t[i] == '{') {
                while (t[i] != '}') {
                    i++;
                }
                out[n++] = '{';
                out[n++] = '}';
                continue;
            }

            out[n++] = t[i];
        }

        if (i) {
            *slash = (t[i - 1] == '/' && n > 0);
        }
    }

    out[n] = '\0';

    return 0;
}


static int
has_method(unsigned mask, apigw_method_e m)
{
    return (mask & (1u << m))
           || (m == APIGW_M_HEAD && (mask & (1u << APIGW_M_GET)));
}


static void
check(apigw_router_t *rt, apigw_api_t **apis, size_t napis,
    apigw_method_e method, const apigw_path_t *p, size_t first,
    const char *query, size_t qlen)
{
    int                       r, unknown, slash, oslash;
    char                     *buf, allow[128], shape[1024], other[1024];
    size_t                    a, i, j, len, n, nval, vlen[APIGW_MAX_PARAMS];
    unsigned                  any;
    const char               *val[APIGW_MAX_PARAMS], *q;
    apigw_match_t             m;
    const apigw_operation_t  *op, *o;

    apigw_router_match(rt, method, p, first, &m);

    /* the reference: every operation on its own */

    any = 0;
    unknown = 0;

    for (a = 0; a < napis; a++) {
        for (i = 0; i < apis[a]->nops; i++) {
            r = ref_template(apis[a], &apis[a]->ops[i], p, first, val, vlen,
                             &nval);
            if (r < 0) {
                unknown = 1;
            } else if (r) {
                any |= 1u << apis[a]->ops[i].method;
            }
        }
    }

    if (!unknown) {
        if (has_method(any, method) ? m.status != 0
            : any ? m.status != 405 : m.status != 404)
        {
            die("status %d, reference methods %#x\n", m.status, any);
        }
    }

    if (m.status == 404) {
        if (m.op || m.api || m.nparams || m.allow) {
            die("404 with a result\n");
        }
        return;
    }

    if (m.status == 405) {
        if (m.op || m.api == NULL || m.allow == 0
            || has_method(m.allow, method)
            || (!unknown && (m.allow & ~any & ~(1u << APIGW_M_HEAD))))
        {
            die("bad 405: allow %#x, reference %#x\n", m.allow, any);
        }

        len = apigw_allow_format(m.allow, NULL, 0);
        if (len >= sizeof(allow)
            || apigw_allow_format(m.allow, allow, sizeof(allow)) != len
            || strlen(allow) != len)
        {
            die("allow format\n");
        }
        return;
    }

    if (m.status != 0) {
        die("status %d\n", m.status);
    }

    op = m.op;

    if (op == NULL || m.api != op->api
        || !(op->method == method
             || (method == APIGW_M_HEAD && op->method == APIGW_M_GET))
        || m.nparams > APIGW_MAX_PARAMS)
    {
        die("bad match\n");
    }

    r = ref_template(op->api, op, p, first, val, vlen, &nval);

    if (r == 0 || (r == 1 && nval != m.nparams)) {
        die("the matched template does not match\n");
    }

    /*
     * "/a" and "/a/" are two templates: the one spelt as the request is
     * wins at the node both are filed under, the other serves only when
     * the request's own spelling has no route for the method
     */
    if (ref_shape(op->api, op, shape, sizeof(shape), &slash) == 0
        && slash != (int) p->trailing_slash)
    {
        for (i = 0; i < op->api->nops; i++) {
            o = &op->api->ops[i];

            if (o != op
                && (o->method == method
                    || (method == APIGW_M_HEAD && o->method == APIGW_M_GET))
                && ref_shape(op->api, o, other, sizeof(other), &oslash) == 0
                && oslash == (int) p->trailing_slash
                && strcmp(shape, other) == 0)
            {
                die("the other spelling won over the request's own\n");
            }
        }
    }

    for (i = 0; i < m.nparams; i++) {
        if (m.params[i].value_len == 0
            || m.params[i].name_len == 0
            || (r == 1 && (m.params[i].value != val[i]
                           || m.params[i].value_len != vlen[i])))
        {
            die("param %zu differs from the reference\n", i);
        }

        for (j = first; j < p->n; j++) {
            if (m.params[i].value >= p->seg[j]
                && m.params[i].value + m.params[i].value_len
                   <= p->seg[j] + p->len[j])
            {
                break;
            }
        }

        if (j == p->n) {
            die("param value outside the path\n");
        }
    }

    /* the backend URI: two passes agree, nothing written past size */

    len = apigw_backend_uri(op, &m, p, first, query, qlen, NULL, 0);
    buf = malloc(len + 1);
    n = apigw_backend_uri(op, &m, p, first, query, qlen, buf, len);

    if (n != len || len == 0 || buf[0] != '/') {
        die("backend uri: %zu != %zu\n", n, len);
    }

    n = apigw_backend_uri(op, &m, p, first, query, qlen, buf, len / 2);
    if (n != len) {
        die("backend uri short: %zu != %zu\n", n, len);
    }

    n = apigw_backend_uri(op, &m, p, first, query, qlen, buf, len);

    /* the path part: safe bytes only, no dot segment */

    q = memchr(buf, '?', len);
    n = q ? (size_t) (q - buf) : len;

    for (i = 0; i < n; i++) {
        if ((unsigned char) buf[i] <= 0x20 || (unsigned char) buf[i] >= 0x7f
            || buf[i] == '#')
        {
            die("unsafe byte %#x in the backend path\n", buf[i]);
        }
    }

    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && buf[j] != '/'; j++) {
            /* void */
        }

        if ((j - i == 2 && buf[i + 1] == '.')
            || (j - i == 3 && buf[i + 1] == '.' && buf[i + 2] == '.'))
        {
            die("dot segment in the backend path\n");
        }
    }

    free(buf);
}


static void
fixed_init(void)
{
    apigw_problems_t  probs;

    apigw_problems_init(&probs);
    fixed = apigw_router_create();
    fixed_apis[0] = mkapi_defs("", api1_ops);
    fixed_apis[1] = mkapi_defs("/v1/{tenant}", api2_ops);

    if (apigw_router_add(fixed, fixed_apis[0], &probs) != 0
        || apigw_router_add(fixed, fixed_apis[1], &probs) != 0)
    {
        die("fixed router: %s\n", probs.items[0].message);
    }

    apigw_problems_free(&probs);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               rc, tmode;
    char             *target, *scratch, *c;
    size_t            i, len, plen, qlen, first, nops, end;
    const char       *d, *query, *line;
    apigw_api_t      *api;
    apigw_path_t      p;
    apigw_router_t   *rt;
    apigw_method_e    method;
    apigw_problems_t  probs;

    if (fixed == NULL) {
        fixed_init();
    }

    if (size < 2 || size > 4096) {
        return 0;
    }

    tmode = data[0] & 0x80;
    method = (apigw_method_e) (data[0] % APIGW_M_COUNT);
    first = data[1] % 4;
    d = (const char *) data + 2;
    len = size - 2;

    /* the target: up to "\n" in template mode */

    if (tmode) {
        line = memchr(d, '\n', len);
        end = line ? (size_t) (line - d) : len;

    } else {
        end = len;
    }

    /* exact-size copies, so ASan sees reads past the end */
    target = malloc(end ? end : 1);
    memcpy(target, d, end);
    scratch = malloc(end ? end : 1);

    query = memchr(target, '?', end);
    plen = query ? (size_t) (query - target) : end;
    qlen = query ? end - plen - 1 : 0;
    query = query ? query + 1 : NULL;

    rc = apigw_path_parse(target, plen, scratch, &p);

    if (!tmode) {
        if (rc == APIGW_PATH_OK) {
            check(fixed, fixed_apis, 2, method, &p, first, query, qlen);
        }
        goto done;
    }

    /* template mode: one API from the lines */

    nops = 0;
    for (i = end; i < len && nops < MAX_OPS; i++) {
        nops += (d[i] == '\n' && i + 1 < len);
    }

    api = mkapi("", nops);
    nops = 0;

    for (i = end; i < len && nops < api->nops; i = end) {
        i++;
        line = d + i;
        for (end = i; end < len && d[end] != '\n'; end++) {
            /* void */
        }

        if (end == i) {
            mkop(api, nops++, APIGW_M_GET, "", 0, "/{x}", 1);
            continue;
        }

        /* NULs would end the template early: map them */
        mkop(api, nops, (apigw_method_e) ((unsigned char) line[0] % 8),
             line + 1, end - i - 1, "/be/{x}/{y}?{z}=1", line[0] & 0x40);

        for (c = api->ops[nops].path; c < api->ops[nops].path + end - i - 1;
             c++)
        {
            if (*c == '\0') {
                *c = '0';
            }
        }

        nops++;
    }

    api->nops = nops;

    apigw_problems_init(&probs);
    rt = apigw_router_create();
    rc = apigw_router_add(rt, api, &probs);

    if ((rc == 0) != (probs.nerrors == 0) || (size_t) rc != probs.nerrors
        || (rc == 0 && apigw_router_count(rt) != nops)
        || (rc != 0 && apigw_router_count(rt) != 0))
    {
        die("router_add: rc %d, %zu errors\n", rc, probs.nerrors);
    }

    if (rc == 0 && apigw_path_parse(target, plen, scratch, &p)
                   == APIGW_PATH_OK)
    {
        check(rt, &api, 1, method, &p, first, query, qlen);

    } else if (rc != 0 && apigw_path_parse(target, plen, scratch, &p)
                          == APIGW_PATH_OK)
    {
        apigw_match_t  m;

        apigw_router_match(rt, method, &p, first, &m);
        if (m.status != 404) {
            die("a rejected API matched\n");
        }
    }

    apigw_problems_free(&probs);
    apigw_router_free(rt);
    apigw_api_free(api);

done:

    free(target);
    free(scratch);

    return 0;
}
