/*
 * libFuzzer target: the OpenAPI importer on arbitrary bytes (JSON when the
 * input starts with "{" or "[", YAML otherwise), everything freed after.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "apigw.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apigw_api_t          *api;
    apigw_problems_t      probs;
    apigw_import_opts_t   opts;

    apigw_problems_init(&probs);

    memset(&opts, 0, sizeof(opts));
    opts.file = NULL;
    opts.openwhisk_url = "https://openwhisk.example.com";
    opts.max_size = 1024 * 1024;

    /* half the inputs without an OpenWhisk URL: that error path too */
    if (size > 0 && (data[size - 1] & 1)) {
        opts.openwhisk_url = NULL;
    }

    api = apigw_import_buffer((const char *) data, size, &opts, &probs);

    apigw_api_free(api);
    apigw_problems_free(&probs);

    return 0;
}
