/*
 * Request validation from the OpenAPI document: parameters (path, query,
 * header, cookie), declared body media types and JSON bodies checked
 * against their schemas.  Schemas are compiled at import (openapi/schema.c)
 * into apigw_schema_t graphs; src/validate.c checks values against them.
 * Plain C, no nginx headers.
 *
 * Not thread-safe: a compiled pattern keeps its own PCRE2 match data, and
 * an object schema the order its properties came in last, so a compiled
 * validation is used by one thread at a time (an nginx worker).
 */

#ifndef APIGW_VALIDATE_H
#define APIGW_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "apigw.h"


#define APIGW_VERR_MAX       20     /* violations reported per request */
#define APIGW_VERR_NAME      192    /* name or JSON pointer, truncated */
#define APIGW_VERR_REASON    192
#define APIGW_VDEPTH_MAX     1000   /* schema recursion per value */

/* parameter / error locations */
enum {
    APIGW_IN_PATH = 0,
    APIGW_IN_QUERY,
    APIGW_IN_HEADER,
    APIGW_IN_COOKIE,
    APIGW_IN_BODY
};

/* JSON types, a bit each; "integer" is a subset of "number" */
#define APIGW_T_NULL     0x01
#define APIGW_T_BOOLEAN  0x02
#define APIGW_T_OBJECT   0x04
#define APIGW_T_ARRAY    0x08
#define APIGW_T_NUMBER   0x10
#define APIGW_T_STRING   0x20
#define APIGW_T_INTEGER  0x40

enum {
    APIGW_FMT_NONE = 0,
    APIGW_FMT_INT32,
    APIGW_FMT_INT64,
    APIGW_FMT_UUID,
    APIGW_FMT_DATE,
    APIGW_FMT_DATE_TIME
};

/* apigw_schema_t.flags */
#define APIGW_S_MIN        0x0001
#define APIGW_S_MAX        0x0002
#define APIGW_S_XMIN       0x0004    /* minimum is exclusive */
#define APIGW_S_XMAX       0x0008
#define APIGW_S_MULTIPLE   0x0010
#define APIGW_S_NO_ADDL    0x0020    /* additionalProperties: false */
#define APIGW_S_NULLABLE   0x0040    /* OpenAPI 3.0 nullable: true */
#define APIGW_S_FALSE      0x0080    /* the schema `false` / not: {} */
#define APIGW_S_CONST      0x0100
#define APIGW_S_XMIN_NUM   0x0200    /* 3.1 numeric exclusiveMinimum */
#define APIGW_S_XMAX_NUM   0x0400
#define APIGW_S_PLAIN      0x0800    /* none of false, $ref, enum, const,
                                        allOf, anyOf, oneOf, not */
#define APIGW_S_WHOLE_INT  0x1000    /* 3.1: 1.0 is an integer */

typedef struct apigw_schema_s  apigw_schema_t;

typedef struct {
    char                  *name;
    size_t                 len;
    apigw_schema_t        *schema;
} apigw_sprop_t;

typedef struct {
    void                  *code;      /* pcre2_code * */
    void                  *match;     /* pcre2_match_data * */
    char                  *source;
} apigw_regex_t;

typedef struct {
    apigw_regex_t          re;
    apigw_schema_t        *schema;
} apigw_spattern_t;

struct apigw_schema_s {
    unsigned               types;     /* APIGW_T_*; 0: any */
    unsigned               flags;     /* APIGW_S_* */
    int                    format;    /* APIGW_FMT_* */
    /* long double: an int64 bound (2^53 + 1) is exact, a double's not */
    long double            minimum, maximum, xminimum, xmaximum;
    double                 multiple_of;
    size_t                 min_length, max_length;       /* code points */
    size_t                 min_items, max_items;
    size_t                 min_props, max_props;
    apigw_regex_t         *pattern;
    apigw_sprop_t         *props;     /* sorted by name */
    size_t                 nprops;
    uint32_t              *ptab;      /* props by name hash (index + 1, 0:
                                         free), or NULL: binary search */
    size_t                 pmask;     /* ptab has pmask + 1 slots */
    uint32_t              *pnext;     /* in ptab's allocation: for each
                                         property (and the start, at
                                         nprops) the one that came next
                                         last time (index + 1, 0: none),
                                         tried before the hash */
    char                 **required;
    size_t                *required_len;
    size_t                 nrequired;
    apigw_spattern_t      *pprops;    /* patternProperties */
    size_t                 npprops;
    apigw_schema_t        *additional;   /* NULL: anything */
    apigw_schema_t        *items;        /* NULL: anything */
    apigw_schema_t       **all_of, **any_of, **one_of;
    size_t                 nall_of, nany_of, none_of;
    apigw_schema_t        *not_;
    apigw_schema_t        *ref;       /* $ref target, checked as well */
    void                  *enum_;     /* json_t array, or NULL */
    void                  *const_;    /* json_t, with APIGW_S_CONST */
    apigw_schema_t        *next;      /* every schema of a set, for free */
};

/* All schemas compiled from one document; shared by its operations. */
typedef struct {
    apigw_schema_t        *all;
    unsigned               refs;
} apigw_schema_set_t;


/* ---- compiled per-operation validation (apigw_operation_t.validation) */

enum {
    APIGW_STYLE_SIMPLE = 0,    /* path, header; Swagger 2.0 csv */
    APIGW_STYLE_FORM,          /* query, cookie */
    APIGW_STYLE_LABEL,
    APIGW_STYLE_MATRIX,
    APIGW_STYLE_SPACE,         /* spaceDelimited; ssv */
    APIGW_STYLE_PIPE,          /* pipeDelimited; pipes */
    APIGW_STYLE_TAB,           /* Swagger 2.0 tsv */
    APIGW_STYLE_OTHER          /* deepObject, content: not checked */
};

typedef struct {
    char                  *name;
    size_t                 len;
    int                    in;        /* APIGW_IN_* */
    int                    style;
    int                    explode;
    int                    required;
    apigw_schema_t        *schema;    /* NULL: presence only */
} apigw_vparam_t;

typedef struct {
    char                  *type;      /* "application/json", "*\/\*", ... */
    int                    json;      /* a JSON media type */
    apigw_schema_t        *schema;    /* NULL: not checked */
    size_t                 len;       /* of type, when it has no blank
                                         (and no upper case), else 0 */
} apigw_vmedia_t;

typedef struct {
    int                    mode;      /* -1: the directive; 0 off; 1 on */
    apigw_vparam_t        *params;
    size_t                 nparams;
    apigw_vmedia_t        *media;     /* declared request body types */
    size_t                 nmedia;
    int                    body_required;
    int                    any_media; /* no list: every type accepted */
    apigw_schema_set_t    *set;
} apigw_validation_t;


/* ---- results ---- */

typedef struct {
    int                    in;
    char                   name[APIGW_VERR_NAME];    /* or JSON pointer */
    char                   reason[APIGW_VERR_REASON];
    size_t                 name_len;  /* a body member's name: NUL too */
} apigw_verror_t;

typedef struct {
    int                    status;    /* 0, 400, 413, 415 */
    size_t                 n;         /* items filled */
    size_t                 total;     /* violations found (may be > n) */
    apigw_verror_t         items[APIGW_VERR_MAX];
} apigw_vresult_t;

typedef struct {
    const char            *name;
    size_t                 name_len;
    const char            *value;
    size_t                 value_len;
} apigw_kv_t;

typedef struct {
    const apigw_param_t   *path;      /* from the router match */
    size_t                 npath;
    const char            *query;     /* raw, without "?"; may be NULL */
    size_t                 query_len;
    const apigw_kv_t      *headers;   /* every request header */
    size_t                 nheaders;
    const char            *content_type;   /* NULL: none */
    size_t                 content_type_len;
    int                    has_body;  /* a body follows (length or chunked) */
} apigw_vrequest_t;

#define APIGW_V_OK      0     /* valid; the body needs no check */
#define APIGW_V_REJECT  1     /* res->status and res->items say why */
#define APIGW_V_BODY    2     /* valid so far: check the JSON body next */


/* the validation of `op`, or NULL when the document declares nothing */
#define apigw_op_validation(op)  ((apigw_validation_t *) (op)->validation)

/* on for this operation, given the directive's value (0/1) */
int apigw_validation_on(const apigw_operation_t *op, int directive);

/*
 * Parameters and the body's media type.  With APIGW_V_BODY the caller
 * reads the body (it is declared JSON with a schema) and calls
 * apigw_validate_body().
 */
int apigw_validate_request(const apigw_validation_t *v,
    const apigw_vrequest_t *req, apigw_vresult_t *res);
int apigw_validate_body(const apigw_validation_t *v,
    const char *content_type, size_t content_type_len, const char *body,
    size_t len, apigw_vresult_t *res);

/*
 * A JSON value against a schema (the JSON Schema Test Suite and the fuzz
 * target use this).  Violations are added to res (in = APIGW_IN_BODY).
 * Returns the number of violations.
 */
size_t apigw_schema_check(const apigw_schema_t *s, const void *json,
    apigw_vresult_t *res);

/* The "errors" array, JSON text; same contract as apigw_json_escape(). */
size_t apigw_vresult_json(const apigw_vresult_t *res, char *buf,
    size_t size);

void apigw_vresult_init(apigw_vresult_t *res);


/* ---- the body parser (src/vjson.c) ---- */

#define APIGW_JSON_MAX_DEPTH  2048

enum {
    APIGW_J_NULL = 0,
    APIGW_J_TRUE,
    APIGW_J_FALSE,
    APIGW_J_INT,
    APIGW_J_REAL,
    APIGW_J_STRING,
    APIGW_J_ARRAY,
    APIGW_J_OBJECT,
    APIGW_J_KEY                    /* an object member's name */
};

/*
 * One value.  An array's items follow it; an object's members follow it
 * as a KEY node then the value.  The next sibling of node i is at
 * i + nodes[i].size.
 */
typedef struct {
    unsigned char          type;      /* APIGW_J_* */
    unsigned char          big;       /* REAL: an integer beyond 64 bits */
    uint32_t               size;      /* nodes in the subtree, itself too */
    uint32_t               count;     /* items or members */
    const char            *s;         /* STRING, KEY: not NUL-terminated */
    size_t                 len;
    long long              i;         /* INT */
    double                 d;         /* REAL */
} apigw_jnode_t;

typedef struct {
    apigw_jnode_t         *nodes;
    size_t                 n;
    size_t                 cap;
    apigw_jnode_t         *buf;       /* the caller's, not freed */
    char                  *strbuf;    /* unescaped strings */
    const char            *err;       /* after a failed parse */
    size_t                 err_offset;
    int                    oom;
} apigw_jdoc_t;

/* 0: parsed; -1: malformed (err, err_offset); -2: out of memory */
int apigw_json_parse(const char *text, size_t len, apigw_jdoc_t *doc);
/* the same, the first nodes in buf (n of them), then on the heap */
int apigw_json_parse_buf(const char *text, size_t len, apigw_jdoc_t *doc,
    apigw_jnode_t *buf, size_t n);
void apigw_jdoc_free(apigw_jdoc_t *doc);


/* ---- compiling (openapi/schema.c) ---- */

/*
 * A schema given as a jansson document `root` (refs resolve against it);
 * `oas30`: OpenAPI 3.0 / draft 4 rules ($ref siblings ignored, boolean
 * exclusive bounds, nullable).  Problems go to probs with pointers.
 * Returns NULL on errors.  Free with apigw_schema_set_free().
 */
apigw_schema_t *apigw_schema_compile(void *root, int oas30,
    apigw_schema_set_t **set, apigw_problems_t *probs);
void apigw_schema_set_free(apigw_schema_set_t *set);

/* ptab for the sorted props of a schema being compiled; -1: no memory */
int apigw_schema_index_props(apigw_schema_t *s);

void apigw_validation_free(apigw_validation_t *v);

#endif /* APIGW_VALIDATE_H */
