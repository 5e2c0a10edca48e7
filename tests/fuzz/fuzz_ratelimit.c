/*
 * libFuzzer target: rate-limit policy parsing.  The first byte picks the
 * parser (x-apigw-rate-limit at root or operation level, the compat
 * x-gateway-rate-limit, the v1 rateLimit value, directive arguments split
 * on spaces); the rest is the JSON or the argument text.  Parsed limits go
 * through attach, identity, policy formatting and the Redis commands.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "apigw.h"
#include "../../ratelimit/ratelimit.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* shared by the runs, as a worker's is by its requests */
static apigw_rl_expiry_t  memo;


static void
fuzz_use(apigw_rl_set_t *s)
{
    char                buf[APIGW_RL_MAX_KEY + APIGW_RL_REDIS_BUF];
    char                id[APIGW_RL_MAX_KEY];
    size_t              i, n;
    apigw_api_t         api;
    apigw_rl_cmd_t      c[APIGW_RL_REDIS_CMDS];
    apigw_rl_state_t    st;
    apigw_rl_result_t   r;
    apigw_operation_t   op;

    memset(&api, 0, sizeof(api));
    memset(&st, 0, sizeof(st));
    st.a = 1795694400000000LL;
    st.pa = 3;
    st.pb = st.a;
    (void) apigw_rl_hybrid_take(&st, st.a);
    memset(&op, 0, sizeof(op));
    api.base_path = "/b";
    op.api = &api;
    op.path = "/p/{x}";

    if (apigw_rl_attach(s, &op) != 0) {
        return;
    }

    for (i = 0; i < s->n; i++) {
        n = apigw_rl_identity(&s->items[i], "t", 1, s->items[i].key, "k{}%",
                              4, id, sizeof(id));
        if (n == 0) {
            continue;
        }

        (void) apigw_rl_policy_format(&s->items[i], 31, buf, sizeof(buf));
        (void) apigw_rl_redis_decide(&s->items[i], id, n, 1795694400000000LL,
                                     &memo, buf, sizeof(buf), c);
        /* a full batch: n * T of the parsed limit must not overflow */
        (void) apigw_rl_redis_decide_n(&s->items[i], id, n,
                                       1795694400000000LL, APIGW_RL_BATCH_MAX,
                                       &memo, buf, sizeof(buf), c);
        (void) apigw_rl_redis_eval(&s->items[i], 1795694400000000LL,
                                   "1795694400000001", 16, &r);
        (void) apigw_rl_redis_sync(&s->items[i], id, n, &st,
                                   1795694400000000LL, buf, sizeof(buf), c);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 argc;
    char               *text, *p, *argv[32];
    json_t             *j;
    apigw_rl_set_t     *s;
    apigw_rl_limit_t    l;
    apigw_problems_t    probs;
    char                err[256];

    if (size < 1 || size > 65536) {
        return 0;
    }

    text = malloc(size);
    if (text == NULL) {
        return 0;
    }

    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';

    {
        int64_t  v;

        /* a Redis reply's number (a score or an integer as text) */
        (void) apigw_rl_redis_number((const char *) data, size, &v);
    }

    s = calloc(1, sizeof(apigw_rl_set_t));
    apigw_problems_init(&probs);

    if (s == NULL) {
        free(text);
        return 0;
    }

    if (data[0] % 5 == 4) {
        argc = 0;
        for (p = strtok(text, " "); p && argc < 32; p = strtok(NULL, " ")) {
            argv[argc++] = p;
        }

        if (apigw_rl_parse_args(argc, (const char **) argv, &l, err,
                                sizeof(err)) == 0)
        {
            (void) apigw_rl_set_add(s, &l);
            apigw_rl_limit_clear(&l);
        }

    } else {
        j = json_loadb(text, size - 1, JSON_DECODE_ANY, NULL);

        if (j) {
            switch (data[0] % 5) {
            case 0:
            case 1:
                (void) apigw_rl_parse_apigw(j, data[0] % 5, &probs, "f",
                                            "/x", s);
                break;
            case 2:
                (void) apigw_rl_parse_compat(j, 0, &probs, "f", "/x", s);
                break;
            default:
                (void) apigw_rl_parse_v1(j, &probs, "f", "/x", s);
                break;
            }

            json_decref(j);
        }
    }

    fuzz_use(s);

    apigw_rl_set_free(s);
    apigw_problems_free(&probs);
    free(text);

    return 0;
}
