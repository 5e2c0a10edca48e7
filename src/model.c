/*
 * The API model's small shared pieces: methods, problems, freeing, JSON
 * string escaping.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apigw.h"
#include "validate.h"
#include "../ratelimit/ratelimit.h"
#include "auth.h"


#define APIGW_PROBLEMS_MAX  10000
/* a big document's warnings (an operation without a backend each) must
   not crowd its errors out */
#define APIGW_WARNINGS_MAX  1000


static const char *apigw_method_names[APIGW_M_COUNT] = {
    "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"
};


const char *
apigw_method_name(apigw_method_e m)
{
    return (unsigned) m < APIGW_M_COUNT ? apigw_method_names[m] : "";
}


apigw_method_e
apigw_method_parse(const char *s, size_t len)
{
    unsigned  i;

    for (i = 0; i < APIGW_M_COUNT; i++) {
        if (strlen(apigw_method_names[i]) == len
            && strncasecmp(apigw_method_names[i], s, len) == 0)
        {
            return (apigw_method_e) i;
        }
    }

    return APIGW_M_NONE;
}


void
apigw_problems_init(apigw_problems_t *p)
{
    memset(p, 0, sizeof(*p));
}


void
apigw_problems_free(apigw_problems_t *p)
{
    size_t  i;

    for (i = 0; i < p->n; i++) {
        free(p->items[i].file);
        free(p->items[i].pointer);
        free(p->items[i].message);
    }

    free(p->items);
    memset(p, 0, sizeof(*p));
}


static char *
apigw_strdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}


void
apigw_problem_add(apigw_problems_t *p, int warning, const char *file,
    const char *pointer, const char *fmt, ...)
{
    int               n;
    char             *msg;
    va_list           ap;
    size_t            cap;
    apigw_problem_t  *items, *pr;

    if (!warning) {
        p->nerrors++;        /* counted even when the text is dropped */

    } else if (p->nwarnings >= APIGW_WARNINGS_MAX) {
        p->dropped++;
        return;
    }

    if (p->n >= APIGW_PROBLEMS_MAX) {
        return;
    }

    if (p->n == p->cap) {
        cap = p->cap ? p->cap * 2 : 8;
        items = realloc(p->items, cap * sizeof(apigw_problem_t));
        if (items == NULL) {
            return;
        }
        p->items = items;
        p->cap = cap;
    }

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);

    if (n < 0) {
        return;
    }

    msg = malloc((size_t) n + 1);
    if (msg == NULL) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(msg, (size_t) n + 1, fmt, ap);
    va_end(ap);

    pr = &p->items[p->n++];
    pr->file = apigw_strdup_or_null(file);
    pr->pointer = strdup(pointer ? pointer : "");
    pr->message = msg;
    pr->warning = warning;
    p->nwarnings += warning != 0;
}


size_t
apigw_problem_format(const apigw_problem_t *pr, char *buf, size_t size)
{
    int  n;

    n = snprintf(buf, size, "%s%s%s%s: %s",
                 pr->file ? pr->file : "", pr->file ? ": " : "",
                 pr->warning ? "warning: " : "",
                 pr->pointer[0] ? pr->pointer : "/", pr->message);

    return n < 0 ? 0 : (size_t) n;
}


void
apigw_backend_clear(apigw_backend_t *b)
{
    size_t  i;

    free(b->url);
    free(b->scheme);
    free(b->host);
    free(b->authority);
    free(b->path);
    free(b->method);

    for (i = 0; i < b->nheaders; i++) {
        free(b->headers[i].name);
        free(b->headers[i].value);
    }

    free(b->headers);
    memset(b, 0, sizeof(*b));
}


void
apigw_cors_clear(apigw_cors_t *cors)
{
    size_t  i;

    for (i = 0; i < cors->norigins; i++) {
        free(cors->origins[i]);
    }

    free(cors->origins);
    free(cors->methods);
    free(cors->headers);
    free(cors->expose);
}


void
apigw_api_free(apigw_api_t *api)
{
    size_t  i, k;

    if (api == NULL) {
        return;
    }

    for (i = 0; i < api->nops; i++) {
        free(api->ops[i].path);
        free(api->ops[i].operation_id);
        free(api->ops[i].pointer);
        apigw_backend_clear(&api->ops[i].backend);
        apigw_validation_free(api->ops[i].validation);
        apigw_rl_set_free(api->ops[i].limits);
        apigw_cors_clear(&api->ops[i].cors);

        for (k = 0; k < api->ops[i].nmaps; k++) {
            free(api->ops[i].maps[k].from_name);
            free(api->ops[i].maps[k].value);
            free(api->ops[i].maps[k].to_name);
        }

        free(api->ops[i].maps);
    }

    apigw_cors_clear(&api->cors);
    apigw_auth_free(api->auth);
    free(api->ops);
    free(api->file);
    free(api->title);
    free(api->version);
    free(api->base_path);
    free(api);
}


size_t
apigw_json_escape(const char *s, size_t len, char *buf, size_t size)
{
    size_t          i, n, k;
    char            esc[8];
    unsigned char   c;
    static const char  hex[] = "0123456789abcdef";

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        switch (c) {
        case '"':  memcpy(esc, "\\\"", 2); k = 2; break;
        case '\\': memcpy(esc, "\\\\", 2); k = 2; break;
        case '\n': memcpy(esc, "\\n", 2); k = 2; break;
        case '\r': memcpy(esc, "\\r", 2); k = 2; break;
        case '\t': memcpy(esc, "\\t", 2); k = 2; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
                esc[4] = hex[c >> 4]; esc[5] = hex[c & 0xf];
                k = 6;
            } else {
                esc[0] = (char) c;
                k = 1;
            }
        }

        if (n + k <= size) {
            memcpy(buf + n, esc, k);
        }

        n += k;
    }

    return n;
}
