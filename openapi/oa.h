/*
 * The OpenAPI importer's internals: the import context, JSON pointers that
 * follow the walk, typed field access with problems, $ref resolution, the
 * JSON / YAML parsers and the backend extensions.  Not part of the core API.
 */

#ifndef APIGW_OA_H
#define APIGW_OA_H

#include <stdarg.h>
#include <jansson.h>

#include "apigw.h"


#define OA_DEFAULT_MAX_SIZE  (16 * 1024 * 1024)
#define OA_YAML_MAX_DEPTH    256
#define OA_YAML_MIN_BUDGET   1000000   /* expanded YAML nodes (aliases) */
#define OA_REF_MAX_HOPS      32
#define OA_MAX_HEADERS       64


/* A JSON pointer built while walking the document. */
typedef struct {
    char    *buf;
    size_t   len;
    size_t   cap;
} oa_ptr_t;


/* Per operation data needed while resolving backends. */
typedef struct {
    json_t  *op;                  /* the operation object */
} oa_opinfo_t;


typedef struct {
    const apigw_import_opts_t  *opts;
    apigw_problems_t           *probs;
    const char                 *file;
    json_t                     *root;
    oa_ptr_t                    ptr;
    apigw_api_t                *api;
    size_t                      ops_cap;
    oa_opinfo_t                *info;     /* parallel to api->ops */
    int                         oom;
    int                         ow_checked;  /* openwhisk_url validated */
    int                         ow_ok;
    size_t                      nerrors0;   /* probs->nerrors at start */
} oa_ctx_t;


/* pointer.c: pointers, problems, typed access, $ref */

size_t oa_ptr_push(oa_ctx_t *c, const char *key);
size_t oa_ptr_push_n(oa_ctx_t *c, const char *key, size_t len);
size_t oa_ptr_push_index(oa_ctx_t *c, size_t i);
void oa_ptr_pop(oa_ctx_t *c, size_t len);
void oa_ptr_set(oa_ctx_t *c, const char *s);
char *oa_ptr_escape(const char *key, size_t len);
/* an HTTP token (a header name): RFC 9110 tchars, at least one */
int oa_token(const char *s);

void oa_vproblem(oa_ctx_t *c, int warning, const char *key, const char *fmt,
    va_list ap);
void oa_error(oa_ctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void oa_warn(oa_ctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A problem at the child `key` of the current pointer. */
void oa_error_at(oa_ctx_t *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void oa_warn_at(oa_ctx_t *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *oa_type_name(const json_t *v);
/* A number as text: "12", "1.5", "1.0"; NULL on OOM. */
char *oa_number_text(json_t *v);
char *oa_strdup(oa_ctx_t *c, const char *s);
char *oa_strndup(oa_ctx_t *c, const char *s, size_t n);

/*
 * Typed fields of the object `obj` (the current pointer).  Return 0 when
 * the field is absent (*out NULL) or fine, -1 after adding a problem.
 */
int oa_get_string(oa_ctx_t *c, json_t *obj, const char *key, int required,
    const char **out);
int oa_get_object(oa_ctx_t *c, json_t *obj, const char *key, int required,
    json_t **out);
int oa_get_array(oa_ctx_t *c, json_t *obj, const char *key, int required,
    json_t **out);
int oa_get_bool(oa_ctx_t *c, json_t *obj, const char *key, int *out);

/*
 * Follow a local $ref chain from `node`.  Returns `node` when it is no
 * reference, the target when it is (the context's pointer then points at
 * the target; *saved holds the old one for oa_deref_done()), or NULL after
 * an error (bad, dangling, cyclic) or a warning (external reference).
 */
json_t *oa_deref(oa_ctx_t *c, json_t *node, char **saved);
/* the same, reporting nothing: for a second pass over what was reported */
json_t *oa_deref_quiet(oa_ctx_t *c, json_t *node, char **saved);
void oa_deref_done(oa_ctx_t *c, char *saved);
/* A JSON pointer from `root`; NULL when it does not resolve (*bad: bad) */
json_t *oa_pointer_walk(oa_ctx_t *c, json_t *root, const char *ptr,
    int *bad);


/* parse.c: bytes to JSON */

json_t *oa_parse(oa_ctx_t *c, const char *buf, size_t len);


/* url.c */

/* Split an absolute http(s) URL; returns NULL or a problem text. */
const char *oa_url_split(const char *url, size_t len, apigw_backend_t *b);
/* Percent-encode one path segment into a new string. */
char *oa_encode_segment(const char *s);

/*
 * Check a path template's {name} placeholders: balanced braces, names of
 * [A-Za-z0-9_.-]+, at most `max` of them.  Collects the names (pointers
 * into `s`).  Returns NULL or a problem text.
 */
const char *oa_template_scan(const char *s, size_t len, const char **names,
    size_t *lens, size_t max, size_t *n);


/* backend.c */

void oa_cors(oa_ctx_t *c);
void oa_op_cors(oa_ctx_t *c);
void oa_request_mappings(oa_ctx_t *c);
void oa_backends(oa_ctx_t *c);


/* schema.c: request validation data of every operation */

void oa_validation(oa_ctx_t *c);


/* limits.c */

void oa_rate_limits(oa_ctx_t *c);
/* security.c: schemes and requirements into api->auth, op->security */

void oa_security_model(oa_ctx_t *c, json_t *schemes);

#endif /* APIGW_OA_H */
