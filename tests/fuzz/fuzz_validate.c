/*
 * libFuzzer target: the schema compiler and the validator, with both the
 * schema and the instance fuzzed.  Input: a flags byte, the schema (JSON),
 * a NUL byte, then the instance; the instance is checked as a JSON body
 * and, as text, as a query parameter in the style the flags pick.  The
 * body parser is also checked against jansson: both accept the same texts,
 * but for what jansson cannot hold (integers beyond 64 bits), nesting at
 * the depth limit, and raw NUL bytes (jansson ends the text there), and
 * read the same values (strings byte for byte, numbers bit for bit); and
 * against itself with its nodes starting in a small buffer.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apigw.h"
#include "validate.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* node b holds the value jansson read as a */
static void
same(const json_t *a, const apigw_jnode_t *b)
{
    size_t                i;
    json_t               *x;
    double                d;
    const apigw_jnode_t  *c;

    switch (json_typeof(a)) {
    case JSON_OBJECT:
        if (b->type != APIGW_J_OBJECT) {
            __builtin_trap();
        }
        if (b->count != json_object_size(a)) {
            return;                 /* a key twice: jansson keeps one */
        }
        for (c = b + 1, i = 0; i < b->count; i++, c += 1 + c[1].size) {
            x = json_object_getn(a, c->s, c->len);
            if (c->type != APIGW_J_KEY || x == NULL) {
                __builtin_trap();
            }
            same(x, c + 1);
        }
        return;

    case JSON_ARRAY:
        if (b->type != APIGW_J_ARRAY || b->count != json_array_size(a)) {
            __builtin_trap();
        }
        for (c = b + 1, i = 0; i < b->count; i++, c += c->size) {
            same(json_array_get(a, i), c);
        }
        return;

    case JSON_STRING:
        if (b->type != APIGW_J_STRING || b->len != json_string_length(a)
            || memcmp(b->s, json_string_value(a), b->len) != 0)
        {
            __builtin_trap();
        }
        return;

    case JSON_INTEGER:
        if (b->type != APIGW_J_INT || b->i != json_integer_value(a)) {
            __builtin_trap();
        }
        return;

    case JSON_REAL:
        d = json_real_value(a);
        if (b->type != APIGW_J_REAL || memcmp(&b->d, &d, sizeof(d)) != 0) {
            __builtin_trap();
        }
        return;

    case JSON_TRUE:
        if (b->type != APIGW_J_TRUE) {
            __builtin_trap();
        }
        return;

    case JSON_FALSE:
        if (b->type != APIGW_J_FALSE) {
            __builtin_trap();
        }
        return;

    case JSON_NULL:
        if (b->type != APIGW_J_NULL) {
            __builtin_trap();
        }
        return;
    }
}


/* the same parse, the nodes first in a buffer of n */
static void
buffered(const uint8_t *data, size_t size, int rc, const apigw_jdoc_t *doc,
    size_t n)
{
    size_t          i;
    apigw_jdoc_t    d;
    apigw_jnode_t   buf[3];

    if (apigw_json_parse_buf((const char *) data, size, &d, buf, n) != rc
        || (rc == -1 && (d.err_offset != doc->err_offset
                         || strcmp(d.err, doc->err) != 0))
        || (rc == 0 && d.n != doc->n))
    {
        __builtin_trap();
    }

    for (i = 0; rc == 0 && i < d.n; i++) {
        if (d.nodes[i].type != doc->nodes[i].type
            || d.nodes[i].size != doc->nodes[i].size
            || d.nodes[i].count != doc->nodes[i].count
            || d.nodes[i].len != doc->nodes[i].len
            || d.nodes[i].i != doc->nodes[i].i
            || memcmp(&d.nodes[i].d, &doc->nodes[i].d, sizeof(double)) != 0
            || (d.nodes[i].len
                && memcmp(d.nodes[i].s, doc->nodes[i].s, d.nodes[i].len)
                   != 0))
        {
            __builtin_trap();
        }
    }

    apigw_jdoc_free(&d);
}


static void
differential(const uint8_t *data, size_t size)
{
    int            mine;
    json_t        *j;
    apigw_jdoc_t   doc;
    json_error_t   err;

    mine = apigw_json_parse((const char *) data, size, &doc);
    buffered(data, size, mine, &doc, 1 + size % 3);

    if (memchr(data, '\0', size) != NULL) {
        apigw_jdoc_free(&doc);
        return;                     /* jansson stops at a NUL byte */
    }

    j = json_loadb((const char *) data, size,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

    if (mine == 0 && j == NULL
        && json_error_code(&err) != json_error_numeric_overflow
        && strstr(err.text, "depth") == NULL)
    {
        __builtin_trap();           /* we accept what jansson rejects */
    }

    if (mine == -1 && j != NULL && strcmp(doc.err, "nesting too deep") != 0)
    {
        __builtin_trap();           /* we reject what jansson accepts */
    }

    if (mine == 0 && j != NULL) {
        same(j, doc.nodes);
    }

    json_decref(j);
    apigw_jdoc_free(&doc);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  rc;
    char                 out[8192];
    json_t              *root;
    uint8_t              flags;
    size_t               slen;
    const uint8_t       *nul;
    json_error_t         err;
    apigw_schema_t      *s;
    apigw_vmedia_t       media;
    apigw_vparam_t       param;
    apigw_vresult_t      res;
    apigw_problems_t     probs;
    apigw_vrequest_t     req;
    apigw_validation_t   v;
    apigw_schema_set_t  *set;

    if (size < 2) {
        return 0;
    }

    flags = data[0];
    data++;
    size--;

    nul = memchr(data, '\0', size);
    slen = nul ? (size_t) (nul - data) : size;

    root = json_loadb((const char *) data, slen, JSON_DECODE_ANY, &err);
    if (root == NULL) {
        return 0;
    }

    apigw_problems_init(&probs);
    s = apigw_schema_compile(root, flags & 1, &set, &probs);
    apigw_problems_free(&probs);
    json_decref(root);

    if (s == NULL) {
        return 0;
    }

    data += nul ? slen + 1 : slen;
    size -= nul ? slen + 1 : slen;

    differential(data, size);

    memset(&v, 0, sizeof(v));
    memset(&media, 0, sizeof(media));
    memset(&param, 0, sizeof(param));

    media.type = (char *) "application/json";
    media.json = 1;
    media.schema = s;

    param.name = (char *) "p";
    param.len = 1;
    param.in = APIGW_IN_QUERY;
    param.style = (flags >> 1) % (APIGW_STYLE_OTHER + 1);
    param.explode = (flags >> 5) & 1;
    param.required = (flags >> 6) & 1;
    param.schema = s;

    v.mode = 1;
    v.media = &media;
    v.nmedia = 1;
    v.params = &param;
    v.nparams = 1;
    v.body_required = flags >> 7;

    (void) apigw_validate_body(&v, "application/json", 16,
                               (const char *) data, size, &res);
    (void) apigw_vresult_json(&res, out, sizeof(out));

    memset(&req, 0, sizeof(req));
    req.query = (const char *) data;
    req.query_len = size;
    req.has_body = 1;
    req.content_type = "application/vnd.x+json; charset=utf-8";
    req.content_type_len = strlen(req.content_type);

    (void) apigw_validate_request(&v, &req, &res);
    (void) apigw_vresult_json(&res, out, sizeof(out));

    /* the instance's start as a Content-Type: the media types' quick match
       (with their lengths) finds what the full one does */
    v.nparams = 0;
    req.content_type = (const char *) data;
    req.content_type_len = size < 40 ? size : 40;

    rc = apigw_validate_request(&v, &req, &res);
    media.len = 16;
    if (apigw_validate_request(&v, &req, &res) != rc) {
        __builtin_trap();
    }

    apigw_schema_set_free(set);

    return 0;
}
