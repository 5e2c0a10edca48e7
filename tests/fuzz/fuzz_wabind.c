/*
 * libFuzzer target: web-action policy bindings (src/wabind.c).  The input's
 * first line is the binding path, the rest the policy; a compiled binding
 * is put in a table and looked up with request segments cut from the path
 * (with and without an extension).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apigw.h"
#include "wabind.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char              *buf, *nl, *seg[3], act[300];
    size_t             i, n, len[3];
    apigw_api_t       *api;
    apigw_wabtab_t    *t;
    apigw_problems_t   probs;

    buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);
    buf[size] = '\0';

    nl = memchr(buf, '\n', size);
    if (nl == NULL || memchr(buf, '\0', size)) {
        free(buf);
        return 0;
    }

    *nl = '\0';

    (void) apigw_wabind_path_check(buf);

    apigw_problems_init(&probs);
    api = apigw_wabind_compile("tenant", buf, NULL, nl + 1,
                               size - (size_t) (nl + 1 - buf), &probs);
    apigw_problems_free(&probs);

    t = apigw_wabtab_create(1);

    if (api && t && apigw_wabtab_add(t, buf, "tenant", api) == 0) {
        n = 0;
        seg[0] = buf;

        for (i = 0; buf[i] && n < 3; i++) {
            if (buf[i] == '/') {
                len[n] = (size_t) (buf + i - seg[n]);
                n++;
                if (n < 3) {
                    seg[n] = buf + i + 1;
                }
            }
        }

        if (n < 3) {
            len[n] = strlen(seg[n]);
            n++;
        }

        if (apigw_wabtab_match(t, seg[0], len[0], n > 1 ? seg[1] : NULL,
                               n > 1 ? len[1] : 0, n > 2 ? seg[2] : NULL,
                               n > 2 ? len[2] : 0) == NULL)
        {
            abort();                  /* a binding matches its own path */
        }

        if (n > 2 && len[2] < 200) {
            memcpy(act, seg[2], len[2]);
            memcpy(act + len[2], ".json", 5);

            if (apigw_wabtab_match(t, seg[0], len[0], seg[1], len[1], act,
                                   len[2] + 5) == NULL)
            {
                abort();
            }
        }

    } else if (api && t == NULL) {
        apigw_api_free(api);
    }

    apigw_wabtab_free(t);
    free(buf);

    return 0;
}
