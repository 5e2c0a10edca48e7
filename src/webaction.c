/*
 * Plain web actions behind apigw, without an OpenAPI document: the
 * OpenWhisk edge's own routes (`/api/v1/web/...`) and vanity hosts
 * (`{namespace}.{domain}`), compiled into a small API whose operations
 * carry the backend URL templates, so they go through the same backend
 * URI building, balancer and headers as any OpenAPI operation.
 */

#include <stdlib.h>
#include <string.h>

#include "apigw.h"


static const struct {
    const char  *id;
    const char  *path;        /* appended to the OpenWhisk URL's path */
    int          append;
} apigw_webaction_ops[] = {
    /* /api/v1/web/{ns}/{pkg}/{action}... as received */
    { "web", "/api/v1/web", 1 },
    /* vanity host: {ns}.domain/{pkg}/{action}... */
    { "vanity", "/api/v1/web/{ns}", 1 },
    /* vanity host root */
    { "vanity-index", "/api/v1/web/{ns}/public/index.html", 0 },
};


apigw_api_t *
apigw_webaction_api(const char *openwhisk_url, const char **err)
{
    char               *url;
    size_t              i, n, blen;
    apigw_api_t        *api;
    apigw_backend_t     base;
    apigw_operation_t  *op;

    *err = NULL;

    memset(&base, 0, sizeof(apigw_backend_t));

    *err = apigw_backend_parse(openwhisk_url, &base);
    if (*err) {
        return NULL;
    }

    if (base.append_path || strchr(base.path, '{') || strchr(base.path, '?'))
    {
        apigw_backend_clear(&base);
        *err = "the OpenWhisk URL must not have parameters or a query";
        return NULL;
    }

    n = sizeof(apigw_webaction_ops) / sizeof(apigw_webaction_ops[0]);

    api = calloc(1, sizeof(apigw_api_t));
    if (api == NULL) {
        goto nomem;
    }

    api->title = strdup("web actions");
    api->base_path = strdup("/api/v1/web");
    api->ops = calloc(n, sizeof(apigw_operation_t));

    if (api->title == NULL || api->base_path == NULL || api->ops == NULL) {
        goto nomem;
    }

    api->nops = n;

    /* "https://ow.example/prefix/" + "/api/v1/web": no doubled slash */
    blen = strlen(base.path);
    if (blen && base.path[blen - 1] == '/') {
        blen--;
    }

    for (i = 0; i < n; i++) {
        op = &api->ops[i];
        op->api = api;
        op->method = APIGW_M_NONE;
        op->operation_id = strdup(apigw_webaction_ops[i].id);
        op->path = strdup("/");
        op->pointer = strdup("");

        op->backend = base;
        op->backend.url = strdup(base.url);
        op->backend.scheme = strdup(base.scheme);
        op->backend.host = strdup(base.host);
        op->backend.authority = strdup(base.authority);
        op->backend.append_path = apigw_webaction_ops[i].append;
        op->backend.source = "openwhisk";

        url = malloc(blen + strlen(apigw_webaction_ops[i].path) + 1);
        if (url) {
            memcpy(url, base.path, blen);
            strcpy(url + blen, apigw_webaction_ops[i].path);
        }

        op->backend.path = url;

        if (op->operation_id == NULL || op->path == NULL
            || op->pointer == NULL || op->backend.url == NULL
            || op->backend.scheme == NULL || op->backend.host == NULL
            || op->backend.authority == NULL || url == NULL)
        {
            goto nomem;
        }
    }

    apigw_backend_clear(&base);

    return api;

nomem:

    apigw_backend_clear(&base);
    apigw_api_free(api);
    *err = "out of memory";
    return NULL;
}


const apigw_operation_t *
apigw_webaction_op(const apigw_api_t *api, int which)
{
    return &api->ops[which];
}


int
apigw_webaction_path(const apigw_path_t *p)
{
    /* "/api/v1/web/{ns}/..."; the edge itself answers fewer segments */
    return p->n >= 4
           && p->len[0] == 3 && memcmp(p->seg[0], "api", 3) == 0
           && p->len[1] == 2 && memcmp(p->seg[1], "v1", 2) == 0
           && p->len[2] == 3 && memcmp(p->seg[2], "web", 3) == 0;
}


size_t
apigw_vanity_namespace(const char *host, size_t len, const char *domain,
    size_t dlen)
{
    size_t  i, n;

    /* host is "{ns}.{domain}", compared without case */

    if (dlen == 0 || len < dlen + 2) {
        return 0;
    }

    n = len - dlen - 1;

    if (host[n] != '.' || strncasecmp(host + n + 1, domain, dlen) != 0) {
        return 0;
    }

    /* the stock edge's namespace label: [0-9a-zA-Z-]+ */

    for (i = 0; i < n; i++) {
        if (!((host[i] >= '0' && host[i] <= '9')
              || (host[i] >= 'a' && host[i] <= 'z')
              || (host[i] >= 'A' && host[i] <= 'Z') || host[i] == '-'))
        {
            return 0;
        }
    }

    return n;
}
