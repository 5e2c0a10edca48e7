/*
 * Rate limits from the document: x-apigw-rate-limit (root: API scope by
 * default; operation: operation scope), and the compat
 * x-gateway-rate-limit, else x-ibm-rate-limit (the same scopes).  Each
 * operation gets the root limits and its own; all of them must pass.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oa.h"
#include "../ratelimit/ratelimit.h"


static void
oa_limits_from(oa_ctx_t *c, json_t *holder, const char *base, int op_level,
    apigw_rl_set_t *out)
{
    char        ptr[1024];
    json_t     *v;
    const char *compat;

    v = json_object_get(holder, "x-apigw-rate-limit");
    if (v) {
        snprintf(ptr, sizeof(ptr), "%s/x-apigw-rate-limit", base);
        (void) apigw_rl_parse_apigw(v, op_level, c->probs, c->file, ptr, out);
    }

    compat = "x-gateway-rate-limit";
    v = json_object_get(holder, compat);
    if (v == NULL) {
        compat = "x-ibm-rate-limit";
        v = json_object_get(holder, compat);
    }

    if (v) {
        snprintf(ptr, sizeof(ptr), "%s/%s", base, compat);
        (void) apigw_rl_parse_compat(v, op_level, c->probs, c->file, ptr,
                                     out);
    }
}


void
oa_rate_limits(oa_ctx_t *c)
{
    size_t           i, j;
    apigw_rl_set_t   root, *s;
    apigw_operation_t  *op;

    memset(&root, 0, sizeof(root));

    oa_limits_from(c, c->root, "", 0, &root);

    for (i = 0; i < c->api->nops; i++) {
        op = &c->api->ops[i];

        s = calloc(1, sizeof(apigw_rl_set_t));
        if (s == NULL) {
            c->oom = 1;
            break;
        }

        for (j = 0; j < root.n; j++) {
            if (apigw_rl_set_add(s, &root.items[j]) != 0) {
                c->oom = 1;
            }
        }

        if (c->info[i].op) {
            oa_limits_from(c, c->info[i].op, op->pointer, 1, s);
        }

        if (s->n == 0) {
            apigw_rl_set_free(s);
            continue;
        }

        if (apigw_rl_attach(s, op) != 0) {
            c->oom = 1;
        }

        op->limits = s;
    }

    for (j = 0; j < root.n; j++) {
        apigw_rl_limit_clear(&root.items[j]);
    }

    free(root.items);
}
