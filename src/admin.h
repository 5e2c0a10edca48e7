/*
 * apigw management API as a pure function: a request and the current store
 * in, the response and the records to write out.  The caller (the nginx
 * module) commits the changes to the store (durably) before it sends the
 * response, and runs the request again on a newer store when another
 * writer got in first.
 *
 * openwhisk-apigateway compatible: /v2/{tenant}/apis,
 * /v2/{tenant}/subscriptions, /v1/tenants, /v1/apis, /v1/subscriptions,
 * /v1/health-check; apigw's own: /v2/{tenant} (tenant and its domains),
 * /v2/{tenant}/keys (API keys), /v2/{tenant}/apis/{id}/openapi, /health.
 *
 * Plain C, no nginx headers.
 */

#ifndef APIGW_ADMIN_H
#define APIGW_ADMIN_H

#include "store.h"
#include "seal.h"


typedef struct {
    const char  *method;
    size_t       method_len;
    const char  *path;          /* as received, without the query */
    size_t       path_len;
    const char  *query;         /* may be NULL */
    size_t       query_len;
    const char  *body;          /* may be NULL */
    size_t       body_len;
    const char  *public_url;    /* managed URLs start with it; no "/" end */
    const char  *openwhisk_url; /* for x-openwhisk without "url"; or NULL */
    const char  *request_id;    /* for error bodies; may be NULL */
    const char  *store;         /* "file", "redis"; for /health */
    int          store_up;      /* the store takes writes */
    int          store_unread;  /* not read yet (Redis down at start) */
    int          global_limits; /* limits with store redis or hybrid work */
    /* private keys of custom domains are stored sealed with it; or NULL */
    const apigw_seal_key_t  *seal;
    /* apigw_vanity_domain's domains: no tenant's, nor below them */
    const char *const       *vanity;
    size_t                   nvanity;
} apigw_admin_req_t;

typedef struct {
    int            status;
    char          *body;          /* malloc()ed, NULL for none */
    size_t         body_len;
    const char    *content_type;  /* static */
    const char    *allow;         /* static: Allow of a 405 or an OPTIONS */
    apigw_muts_t   muts;          /* to commit before answering */
} apigw_admin_resp_t;

/* fills resp (always: an error response on failure) */
void apigw_admin_handle(const apigw_store_t *s, const apigw_admin_req_t *req,
    apigw_admin_resp_t *resp);
void apigw_admin_resp_free(apigw_admin_resp_t *resp);

/* an error body in resp: {"status":N,"message":"Error: ...",...} */
void apigw_admin_error(apigw_admin_resp_t *resp, const char *request_id,
    int status, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/*
 * NULL when `name` (lower case) may be claimed as a custom domain, else
 * why not: IP literals, localhost names, single labels, "*.{one label}",
 * empty labels or labels over 63 characters or with a '-' at either end,
 * names over 253 characters
 */
const char *apigw_domain_invalid(const char *name);

/* the v1 model object of an API record as a Swagger 2.0 document */
json_t *apigw_admin_v1_to_swagger(json_t *v1);

#endif /* APIGW_ADMIN_H */
