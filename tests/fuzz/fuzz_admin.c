/*
 * libFuzzer target: the management API on arbitrary requests.  The input's
 * first line is "METHOD TARGET" (target with an optional query), the rest
 * is the body; the changes a request makes are applied to a store kept
 * across inputs (reset when it grows), so later inputs meet earlier
 * records.  Inputs starting with "#" go to the store loaders instead.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "auth.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static apigw_store_t  *fuzz_store;

static void fuzz_keytab(const char *body, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                 *buf, *nl, *sp, *q, err[128];
    apigw_store_t        *s;
    apigw_admin_req_t     r;
    apigw_admin_resp_t    resp;

    if (fuzz_store == NULL || apigw_store_count(fuzz_store) > 200) {
        apigw_store_free(fuzz_store);
        fuzz_store = apigw_store_create();
    }

    buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);
    buf[size] = '\0';

    if (size && buf[0] == '#') {
        s = apigw_store_load(buf + 1, size - 1, err, sizeof(err));
        apigw_store_free(s);
        (void) apigw_store_replay(fuzz_store, buf + 1, size - 1);
        free(buf);
        return 0;
    }

    memset(&r, 0, sizeof(r));

    nl = memchr(buf, '\n', size);
    sp = memchr(buf, ' ', nl ? (size_t) (nl - buf) : size);

    if (nl == NULL || sp == NULL) {
        free(buf);
        return 0;
    }

    r.method = buf;
    r.method_len = sp - buf;
    r.path = sp + 1;
    r.path_len = nl - (sp + 1);

    q = memchr(r.path, '?', r.path_len);
    if (q) {
        r.query = q + 1;
        r.query_len = nl - (q + 1);
        r.path_len = q - r.path;
    }

    r.body = nl + 1;
    r.body_len = size - (nl + 1 - buf);
    r.public_url = "http://gw.example";
    r.openwhisk_url = (size & 1) ? "https://ow.example" : NULL;
    r.request_id = "fuzz";

    apigw_admin_handle(fuzz_store, &r, &resp);

    if (resp.status < 200 || resp.status > 599
        || (resp.status != 204 && resp.body == NULL))
    {
        abort();
    }

    /*
     * a 405 names the methods of its path, and only OPTIONS's 204 does
     * too; 500: a HEAD or an OPTIONS would have written
     */
    if ((resp.status == 405 && resp.allow == NULL)
        || (resp.allow && resp.status != 405 && resp.status != 204)
        || resp.status == 500)
    {
        abort();
    }

    if (resp.muts.n) {
        (void) apigw_store_apply(fuzz_store, &resp.muts);
        fuzz_keytab(r.body, r.body_len);
    }

    apigw_admin_resp_free(&resp);
    free(buf);

    return 0;
}


/* the credentials' key table built from what the requests stored */
static void
fuzz_keytab(const char *body, size_t len)
{
    int                  st;
    apigw_keytab_t      *t;
    apigw_key_target_t   tg;

    t = apigw_keytab_from_store(fuzz_store, NULL);
    if (t == NULL) {
        abort();                    /* only on OOM */
    }

    tg.tenant = "t";
    tg.api_id = "a";
    tg.op_id = "getA";

    (void) apigw_keytab_lookup(t, APIGW_KEY_API, body, len, NULL, 0, &tg,
                               &st);
    (void) apigw_keytab_lookup(t, APIGW_KEY_CLIENT, body, len / 2,
                               body + len / 2, len - len / 2, &tg, &st);

    apigw_keytab_free(t);
}
