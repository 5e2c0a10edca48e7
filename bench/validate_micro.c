/*
 * The cost of one JSON body validation, outside nginx: the bench's spec
 * and 1 KB body (bench/bench.py) imported as the module does, then
 * apigw_validate_request() and apigw_validate_body() called N times.  Run
 * it under callgrind twice and divide the difference by the difference of
 * N (imports and start-up cancel out).  Not built by the Makefile:
 *
 *   mkdir -p /tmp/vm && /usr/bin/python3 -c "import sys; \
 *       sys.path.insert(0, 'bench'); import bench; \
 *       bench.spec('/tmp/vm/spec.yaml', 9000); \
 *       open('/tmp/vm/body.json', 'w').write(bench.body_1k())"
 *   make core
 *   gcc $(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS) \
 *       -Isrc bench/validate_micro.c build/libapigw.a \
 *       $(pkg-config --libs jansson yaml-0.1 libpcre2-8 libcrypto) \
 *       -o /tmp/vm/micro
 *   for n in 100 1100; do valgrind --tool=callgrind \
 *       --callgrind-out-file=/tmp/vm/cg.$n /tmp/vm/micro /tmp/vm/spec.yaml \
 *       /tmp/vm/body.json $n; done
 *   callgrind_annotate --inclusive=yes /tmp/vm/cg.100 | grep validate_body
 *   callgrind_annotate --inclusive=yes /tmp/vm/cg.1100 | grep validate_body
 *
 * Exits non-zero when the body is not valid (the bench's body must be).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apigw.h"
#include "validate.h"


int
main(int argc, char **argv)
{
    int                  rc;
    long                 i, n;
    char                *body;
    size_t               len, k;
    FILE                *f;
    apigw_api_t         *api;
    apigw_vresult_t      res;
    apigw_problems_t     probs;
    apigw_vrequest_t     req;
    apigw_operation_t   *op;
    apigw_import_opts_t  o;
    apigw_validation_t  *v;

    if (argc != 4) {
        fprintf(stderr, "usage: %s SPEC BODY N\n", argv[0]);
        return 2;
    }

    f = fopen(argv[2], "rb");
    if (f == NULL) {
        perror(argv[2]);
        return 1;
    }

    body = malloc(1 << 20);
    len = body ? fread(body, 1, 1 << 20, f) : 0;
    fclose(f);

    memset(&o, 0, sizeof(o));
    apigw_problems_init(&probs);
    api = apigw_import_file(argv[1], &o, &probs);

    if (api == NULL) {
        for (k = 0; k < probs.n; k++) {
            fprintf(stderr, "%s: %s\n", probs.items[k].pointer,
                    probs.items[k].message);
        }
        return 1;
    }

    op = NULL;
    for (k = 0; k < api->nops; k++) {
        if (api->ops[k].operation_id
            && strcmp(api->ops[k].operation_id, "postBody") == 0)
        {
            op = &api->ops[k];
        }
    }

    if (op == NULL || apigw_op_validation(op) == NULL) {
        fprintf(stderr, "no operation postBody with validation\n");
        return 1;
    }

    v = apigw_op_validation(op);

    memset(&req, 0, sizeof(req));
    req.content_type = "application/json";
    req.content_type_len = sizeof("application/json") - 1;
    req.has_body = 1;

    n = atol(argv[3]);
    rc = APIGW_V_OK;

    for (i = 0; i < n; i++) {
        if (apigw_validate_request(v, &req, &res) != APIGW_V_BODY) {
            fprintf(stderr, "the request is not APIGW_V_BODY\n");
            return 1;
        }

        rc = apigw_validate_body(v, req.content_type, req.content_type_len,
                                 body, len, &res);
        if (rc != APIGW_V_OK) {
            break;
        }
    }

    for (k = 0; k < res.n; k++) {
        fprintf(stderr, "%s: %s\n", res.items[k].name, res.items[k].reason);
    }

    apigw_api_free(api);
    apigw_problems_free(&probs);
    free(body);

    return rc == APIGW_V_OK ? 0 : 1;
}
