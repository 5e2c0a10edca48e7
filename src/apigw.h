/*
 * apigw core: the API model, problems, path normalisation, the router and
 * backend URL building.  Plain C, no nginx headers: this is what the nginx
 * module, the `apigw` command-line tool, the unit tests and the fuzz targets
 * share.
 *
 * Ownership: everything reachable from an apigw_api_t is malloc()ed and is
 * released by apigw_api_free().  The router keeps pointers into the APIs it
 * was given; free the router before the APIs.
 */

#ifndef APIGW_H
#define APIGW_H

#include <stddef.h>
#include <stdint.h>


#define APIGW_MAX_SEGMENTS   64        /* deeper request paths are 404 */
#define APIGW_MAX_PARAMS     32        /* path parameters per template */


/* HTTP methods an OpenAPI operation can have. */
typedef enum {
    APIGW_M_GET = 0,
    APIGW_M_PUT,
    APIGW_M_POST,
    APIGW_M_DELETE,
    APIGW_M_OPTIONS,
    APIGW_M_HEAD,
    APIGW_M_PATCH,
    APIGW_M_TRACE,
    APIGW_M_COUNT
} apigw_method_e;

#define APIGW_M_NONE  APIGW_M_COUNT

const char *apigw_method_name(apigw_method_e m);           /* "GET" */
/* case-insensitive; APIGW_M_NONE when unknown */
apigw_method_e apigw_method_parse(const char *s, size_t len);


/* ---- problems: every import error or warning, with a JSON pointer ---- */

typedef struct {
    char    *file;       /* as given by the caller, may be NULL */
    char    *pointer;    /* RFC 6901 JSON pointer, "" for the root */
    char    *message;
    int      warning;    /* 1: warning (does not fail a check) */
} apigw_problem_t;

typedef struct {
    apigw_problem_t  *items;
    size_t            n;
    size_t            cap;
    size_t            nerrors;   /* items with warning == 0 */
    size_t            nwarnings; /* warnings kept */
    size_t            dropped;   /* warnings past APIGW_WARNINGS_MAX */
} apigw_problems_t;

void apigw_problems_init(apigw_problems_t *p);
void apigw_problems_free(apigw_problems_t *p);
/* printf-style; never fails (drops the problem on OOM after 10000 items) */
void apigw_problem_add(apigw_problems_t *p, int warning, const char *file,
    const char *pointer, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* "file: pointer: message" (or "file: warning: pointer: message") */
size_t apigw_problem_format(const apigw_problem_t *pr, char *buf, size_t size);


/* ---- the API model ---- */

typedef struct {
    char    *name;
    char    *value;
} apigw_header_t;

/*
 * A backend URL, split at import time.  `path` is the path-and-query part of
 * the target (starting with "/" or empty), and may hold {param}
 * placeholders that are replaced by the percent-encoded values of the
 * operation's path parameters.  `append_path` is set when the target ended
 * with $(request.path) (or ${request.path}): the request's path below the
 * API's prefix is then appended.
 */
typedef struct {
    char            *url;          /* the template as written, for display */
    char            *scheme;       /* "http" or "https" */
    char            *host;         /* host name or address, no brackets */
    int              port;         /* explicit or the scheme's default */
    char            *authority;    /* host[:port] as it goes in Host */
    char            *path;         /* "" or "/..."; may contain {name} */
    int              append_path;
    char            *method;       /* fixed verb, or NULL: keep the request's */
    apigw_header_t  *headers;      /* injected request headers */
    size_t           nheaders;
    const char      *source;       /* "x-gateway-configuration", ... */
    /* x-apigw-timeout, invoke's timeout; 0: the location's */
    long             timeout_ms;           /* to send and to read */
    long             connect_timeout_ms;
} apigw_backend_t;

/*
 * A request mapping (x-apigw-request-mapping; openwhisk-apigateway's v1
 * reqMapping policy): insert, remove, transform (move) or default (insert
 * when absent) a header, query argument, top-level field of a JSON body or
 * path parameter.  Name "*" moves or removes a whole query or body.
 */
enum {
    APIGW_MAP_INSERT = 0,
    APIGW_MAP_REMOVE,
    APIGW_MAP_TRANSFORM,
    APIGW_MAP_DEFAULT
};

enum {
    APIGW_MAP_VALUE = 0,        /* from: a literal value */
    APIGW_MAP_HEADER,
    APIGW_MAP_QUERY,
    APIGW_MAP_BODY,
    APIGW_MAP_PATH
};

typedef struct {
    int              action;       /* APIGW_MAP_INSERT, ... */
    int              from;         /* APIGW_MAP_VALUE, _HEADER, ... */
    char            *from_name;    /* or NULL for a value */
    char            *value;        /* a value as JSON ("\"x\"", "5") */
    int              to;           /* APIGW_MAP_HEADER, ...; remove: 0 */
    char            *to_name;
} apigw_map_t;

/* CORS of an API (or an operation override). */
typedef struct {
    int              mode;         /* APIGW_CORS_* */
    char           **origins;      /* NULL: any origin ("*") */
    size_t           norigins;
    char            *methods;      /* NULL: the default list */
    char            *headers;      /* NULL: echo the request's headers */
    char            *expose;       /* NULL: none */
    int              credentials;  /* Access-Control-Allow-Credentials: true */
    long             max_age;      /* -1: not sent */
} apigw_cors_t;

#define APIGW_CORS_UNSET     0     /* backend CORS headers pass through */
#define APIGW_CORS_DISABLED  1     /* backend CORS headers are removed */
#define APIGW_CORS_ENABLED   2     /* preflight at the edge, headers replaced */

typedef struct apigw_api_s  apigw_api_t;

/* credentials (src/auth.h) */
typedef struct apigw_security_s  apigw_security_t;
typedef struct apigw_auth_s      apigw_auth_t;

typedef struct {
    apigw_method_e   method;
    char            *path;         /* template below basePath: "/books/{id}" */
    char            *operation_id; /* may be NULL */
    char            *pointer;      /* "/paths/~1books~1{id}/get" */
    apigw_backend_t  backend;      /* backend.url == NULL: none (501) */
    apigw_api_t     *api;          /* back pointer */
    void            *ext;          /* the embedding's data (nginx module) */
    void            *validation;   /* apigw_validation_t (validate.h), or
                                      NULL: the document declares nothing */
    /* rate limits and quotas (root ones included), ratelimit/ratelimit.h;
       NULL: none */
    struct apigw_rl_set_s  *limits;
    /* credentials required (src/auth.h); NULL: open; points into api->auth */
    const apigw_security_t  *security;
    /* x-apigw-cors of the operation; mode APIGW_CORS_UNSET: the API's */
    apigw_cors_t     cors;
    /* x-apigw-request-mapping, in order */
    apigw_map_t     *maps;
    size_t           nmaps;
    int              map_body;     /* a mapping reads or writes the body */
} apigw_operation_t;

struct apigw_api_s {
    char               *file;       /* may be NULL */
    char               *title;
    char               *version;
    int                 spec_version;  /* APIGW_SPEC_* */
    char               *base_path;  /* normalised: "" for "/", else "/a/b" */
    apigw_cors_t        cors;
    apigw_operation_t  *ops;
    size_t              nops;
    apigw_auth_t       *auth;       /* security schemes (src/auth.h) */
    /* a web-action binding's tenant (not owned): its keys may call it */
    const char         *tenant;
    int                 op_cors;    /* an operation has its own CORS */
};


/* the CORS that applies to an operation (op may be NULL: the API's) */
static inline const apigw_cors_t *
apigw_op_cors(const apigw_api_t *api, const apigw_operation_t *op)
{
    return op && op->cors.mode != APIGW_CORS_UNSET ? &op->cors : &api->cors;
}

#define APIGW_SPEC_SWAGGER2  2
#define APIGW_SPEC_OAS30     30
#define APIGW_SPEC_OAS31     31


/* ---- the importer (openapi/) ---- */

typedef struct {
    const char  *file;          /* name used in problems; may be NULL */
    const char  *openwhisk_url; /* base for x-openwhisk; NULL: none set */
    size_t       max_size;      /* 0: 16 MiB */
    int          routes_only;   /* base path, methods and paths: no more */
} apigw_import_opts_t;

/*
 * Import a Swagger 2.0 / OpenAPI 3.0 / 3.1 document, JSON or YAML.  All
 * problems found are appended to `probs`.  Returns the API when there were
 * no errors (warnings allowed), else NULL.
 */
apigw_api_t *apigw_import_buffer(const char *buf, size_t len,
    const apigw_import_opts_t *opts, apigw_problems_t *probs);
apigw_api_t *apigw_import_file(const char *path,
    const apigw_import_opts_t *opts, apigw_problems_t *probs);
void apigw_api_free(apigw_api_t *api);
void apigw_cors_clear(apigw_cors_t *cors);  /* frees what it owns */
/* frees what a backend owns and zeroes it */
void apigw_backend_clear(apigw_backend_t *b);
/* splits an absolute http(s) URL into `b`; NULL, or the reason it failed */
const char *apigw_backend_parse(const char *url, apigw_backend_t *b);


/* ---- small helpers ---- */

/* the decimal digits of v at p; returns their end (no NUL) */
static inline char *
apigw_utoa(char *p, uint64_t v)
{
    char   tmp[20], *t;

    t = tmp + sizeof(tmp);

    do {
        *--t = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    while (t < tmp + sizeof(tmp)) {
        *p++ = *t++;
    }

    return p;
}


/* ---- request paths ---- */

/*
 * A request path split into segments, each percent-decoded, with empty
 * segments dropped and "." / ".." (also when percent-encoded) resolved.
 * A decoded "/" (from %2F) stays inside its segment.  Segments with escapes
 * are decoded into the scratch buffer given to apigw_path_parse(); the
 * others point into the raw path, which must outlive the result too.
 */
typedef struct {
    const char  *seg[APIGW_MAX_SEGMENTS];
    size_t       len[APIGW_MAX_SEGMENTS];
    size_t       n;
    int          trailing_slash;  /* the raw path ended with "/" */
} apigw_path_t;

#define APIGW_PATH_OK        0
#define APIGW_PATH_INVALID  -1    /* bad escape, NUL, above the root: 400 */
#define APIGW_PATH_TOO_DEEP -2    /* more than APIGW_MAX_SEGMENTS: 404 */

/* the value of a hexadecimal digit, or -1 */
int apigw_hex(unsigned char c);

/*
 * `raw` is the path part of the request target (no query), as received.
 * `scratch` must hold at least `len` bytes.
 */
int apigw_path_parse(const char *raw, size_t len, char *scratch,
    apigw_path_t *out);


/* ---- plain web actions (src/webaction.c) ---- */

#define APIGW_WEBACTION_WEB           0  /* /api/v1/web/... as received */
#define APIGW_WEBACTION_VANITY        1  /* {ns}.domain/...: param "ns" */
#define APIGW_WEBACTION_VANITY_INDEX  2  /* {ns}.domain/ */

/* an API of the three web-action routes to `openwhisk_url` */
apigw_api_t *apigw_webaction_api(const char *openwhisk_url,
    const char **err);
const apigw_operation_t *apigw_webaction_op(const apigw_api_t *api,
    int which);
/* the path is /api/v1/web/{ns}/... */
int apigw_webaction_path(const apigw_path_t *p);
/* length of the namespace when host is "{ns}.{domain}", else 0 */
size_t apigw_vanity_namespace(const char *host, size_t len,
    const char *domain, size_t dlen);


/* ---- the router ---- */

typedef struct apigw_router_s  apigw_router_t;

typedef struct {
    const char  *name;             /* points into the operation's template */
    size_t       name_len;
    const char  *value;            /* points into the apigw_path_t */
    size_t       value_len;
} apigw_param_t;

typedef struct {
    int                       status;    /* 0: matched, 404, 405 */
    const apigw_operation_t  *op;        /* status 0 */
    const apigw_api_t        *api;       /* status 0 or 405 */
    unsigned                  allow;     /* 405, or an OPTIONS operation:
                                            bit (1 << method) */
    apigw_param_t             params[APIGW_MAX_PARAMS];
    size_t                    nparams;
    /* what matched it: for the same path with another method */
    const apigw_router_t     *rt;
    size_t                    first;
} apigw_match_t;

apigw_router_t *apigw_router_create(void);
void apigw_router_free(apigw_router_t *rt);

/*
 * Add every operation of `api` (base path + operation path).  A template
 * that another API (or the same one) already has for the same method is an
 * error appended to `probs`; returns the number of errors added (0: ok).
 * Templates differing only in parameter names are the same template.
 */
int apigw_router_add(apigw_router_t *rt, apigw_api_t *api,
    apigw_problems_t *probs);

size_t apigw_router_count(const apigw_router_t *rt);   /* operations */

/*
 * Match path segments [first, path->n) and the method.  Literal segments
 * are preferred over parameters, with backtracking; a path that exists with
 * another method gives 405 with `allow`; HEAD falls back to GET.
 */
void apigw_router_match(const apigw_router_t *rt, apigw_method_e method,
    const apigw_path_t *path, size_t first, apigw_match_t *m);

/* "GET, HEAD, POST" for an allow mask (HEAD added when GET is present). */
size_t apigw_allow_format(unsigned allow, char *buf, size_t size);


/* ---- backend URLs ---- */

/*
 * The path and query sent to the backend: backend.path with {param}
 * replaced by percent-encoded values, then (append_path) the request path
 * segments [first, n) re-encoded ("/" + ... , trailing "/" kept), then "?"
 * and the query (merged with a query in the template, template first).
 * Returns the length needed; writes at most `size` bytes (no NUL).
 * Call with size 0 to learn the length.
 */
size_t apigw_backend_uri(const apigw_operation_t *op, const apigw_match_t *m,
    const apigw_path_t *path, size_t first, const char *query,
    size_t query_len, char *buf, size_t size);

/* Percent-encode one path segment (RFC 3986 pchar kept).  Same contract. */
size_t apigw_encode_segment(const char *s, size_t len, char *buf,
    size_t size);
/* ... a query name or value: only unreserved bytes kept */
size_t apigw_encode_component(const char *s, size_t len, char *buf,
    size_t size);


/* ---- small helpers ---- */

/* well-formed UTF-8 (no overlong forms, surrogates or code points past
   U+10FFFF) */
int apigw_utf8_valid(const char *s, size_t len);

/* the fewest significant digits (1 to 17) that write every real number of
   a JSON value back exactly: JSON_REAL_PRECISION() for json_dumps() */
struct json_t;
int apigw_json_real_digits(struct json_t *v);

/* JSON string escaping (no quotes added); same contract as above. */
size_t apigw_json_escape(const char *s, size_t len, char *buf, size_t size);

#endif /* APIGW_H */
