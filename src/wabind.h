/*
 * apigw core: policies bound to plain web actions without an OpenAPI
 * document ("bind your own secure key").  A binding covers a namespace,
 * a package of it or one action; its policy is written in the shapes an
 * OpenAPI document has:
 *
 *   {"securitySchemes": {...}, "security": [...],
 *    "x-apigw-rate-limit": [...]}
 *
 * and is compiled by the same importer into an API of one operation,
 * whose `security` and `limits` the credentials and rate-limit stages
 * enforce exactly as for an OpenAPI operation.  A table of bindings is
 * built off the request path and looked up by one hash probe per level
 * (action, then package, then namespace: the most specific wins).
 *
 * Plain C, no nginx headers.
 */

#ifndef APIGW_WABIND_H
#define APIGW_WABIND_H

#include "apigw.h"


#define APIGW_WABIND_MAX_NAME  256     /* bytes per path segment */

/*
 * Checks a binding path "ns", "ns/pkg" or "ns/pkg/action" (OpenWhisk
 * entity names: letters, digits, "_", "@", ".", " ", "-"; no extension on
 * the action).  NULL when valid, else why not.
 */
const char *apigw_wabind_path_check(const char *path);

/*
 * The policy a binding has in effect (a new reference): what it leaves
 * out is the nearest of its ancestors' (`up`: the package's, then the
 * namespace's; NULL where there is none): `security` (with the schemes it
 * names, the binding's own schemes winning) and `x-apigw-rate-limit`.  So
 * a rate limit on one action does not open it, and `"security": []` keeps
 * the package's limits.  *limits_from: the index in `up` the rate limits
 * came from, else nup.
 */
struct json_t *apigw_wabind_inherit(struct json_t *policy,
    struct json_t *const *up, size_t nup, size_t *limits_from);

/*
 * Compiles a policy (JSON text) for `path` of `tenant` into an API of one
 * operation (ops[0]) with `security` and `limits`; the limits count on the
 * counters of the binding `limits_of` (the one they were inherited from;
 * NULL: `path`'s own).  Every problem goes to
 * `probs` with its JSON pointer into the policy; NULL when there was any
 * error.
 */
apigw_api_t *apigw_wabind_compile(const char *tenant, const char *path,
    const char *limits_of, const char *policy, size_t len,
    apigw_problems_t *probs);


/* ---- the table ---- */

typedef struct {
    char         *path;        /* "ns/pkg/action" */
    char         *tenant;
    apigw_api_t  *api;         /* owned */
} apigw_wabind_t;

typedef struct apigw_wabtab_s  apigw_wabtab_t;

/* room for `n` bindings */
apigw_wabtab_t *apigw_wabtab_create(size_t n);
/* takes ownership of api (also on failure); -1: OOM, full or duplicate */
int apigw_wabtab_add(apigw_wabtab_t *t, const char *path, const char *tenant,
    apigw_api_t *api);
size_t apigw_wabtab_count(const apigw_wabtab_t *t);
void apigw_wabtab_free(apigw_wabtab_t *t);

/*
 * The most specific binding for a request of action `action` (may carry
 * an extension: ".json", ".html", ".http", ".svg", ".text" is dropped) of
 * package `pkg` of namespace `ns`; pkg and action may be NULL (shorter
 * paths).  NULL: none.
 */
const apigw_wabind_t *apigw_wabtab_match(const apigw_wabtab_t *t,
    const char *ns, size_t nslen, const char *pkg, size_t pkglen,
    const char *action, size_t alen);

#endif /* APIGW_WABIND_H */
