/*
 * apigw: the command-line tool.
 *
 *   apigw check [--openwhisk-url URL] FILE...   import, list every problem
 *   apigw routes [--openwhisk-url URL] FILE     the compiled operations
 *   apigw version | --help
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apigw.h"
#include "auth.h"


#ifndef APIGW_VERSION
#define APIGW_VERSION  "0.1.0"
#endif

/*
 * Without --openwhisk-url, x-openwhisk operations get this placeholder in
 * their URL: nginx supplies the real value (apigw_openwhisk_url).
 */
#define CLI_OPENWHISK_PLACEHOLDER  "$(apigw_openwhisk_url)"


static const char  cli_usage[] =
    "usage: apigw check [--openwhisk-url URL] FILE...\n"
    "       apigw routes [--openwhisk-url URL] FILE\n"
    "       apigw hash-key [KEY]\n"
    "       apigw version\n"
    "       apigw --help\n";

static const char  cli_help[] =
    "\n"
    "  check    import OpenAPI / Swagger documents (JSON or YAML), print\n"
    "           every problem and route conflict; exit 0 when there are no\n"
    "           errors, 1 otherwise\n"
    "  routes   print each operation: method, full path, backend method,\n"
    "           backend URL and injected headers (secrets masked)\n"
    "  hash-key print the SHA-256 (hex) of an API key or client secret\n"
    "           for an apigw_keys_file; the key is read from standard\n"
    "           input (one line) unless given\n"
    "\n"
    "  --openwhisk-url URL   the OpenWhisk API host for x-openwhisk\n"
    "                        operations without a url (nginx:\n"
    "                        apigw_openwhisk_url); default: a placeholder\n";


static int
cli_usage_error(const char *msg)
{
    if (msg != NULL) {
        fprintf(stderr, "apigw: %s\n", msg);
    }

    fputs(cli_usage, stderr);

    return 2;
}


static void
cli_print_problems(FILE *out, const apigw_problems_t *p, size_t from)
{
    char    *buf;
    size_t   i, n;

    for (i = from; i < p->n; i++) {
        n = apigw_problem_format(&p->items[i], NULL, 0);
        buf = malloc(n + 1);

        if (buf == NULL) {
            fprintf(out, "%s\n", p->items[i].message);
            continue;
        }

        apigw_problem_format(&p->items[i], buf, n + 1);
        fprintf(out, "%s\n", buf);
        free(buf);
    }
}


/* as nginx -t has apigw_openwhisk_url: http(s), no query or fragment */
static int
cli_base_url_ok(const char *u)
{
    return (strncasecmp(u, "http://", 7) == 0 && u[7])
           || (strncasecmp(u, "https://", 8) == 0 && u[8]);
}


/*
 * The options common to both commands; returns the index of the first
 * file or -1 after a usage error.
 */
static int
cli_options(int argc, char **argv, int first, const char **ow_url)
{
    int  i;

    *ow_url = CLI_OPENWHISK_PLACEHOLDER;

    for (i = first; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            return i + 1;
        }

        if (strcmp(argv[i], "--openwhisk-url") == 0) {
            if (i + 1 >= argc) {
                cli_usage_error("--openwhisk-url needs a URL");
                return -1;
            }
            *ow_url = argv[++i];

        } else if (strncmp(argv[i], "--openwhisk-url=", 16) == 0) {
            *ow_url = argv[i] + 16;

        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "apigw: unknown option \"%s\"\n", argv[i]);
            fputs(cli_usage, stderr);
            return -1;

        } else {
            return i;
        }

        if (!cli_base_url_ok(*ow_url) || strpbrk(*ow_url, "?#")) {
            cli_usage_error("--openwhisk-url needs an http:// or https:// "
                            "URL without a query or fragment");
            return -1;
        }
    }

    return i;
}


static int
cli_check(int argc, char **argv)
{
    int                   i, first, rc;
    size_t                nops, nfiles, napis, from;
    const char           *ow_url;
    apigw_api_t         **apis, *api;
    apigw_router_t       *rt;
    apigw_problems_t      probs;
    apigw_import_opts_t   opts;

    first = cli_options(argc, argv, 2, &ow_url);
    if (first < 0) {
        return 2;
    }

    if (first >= argc) {
        return cli_usage_error("check needs at least one FILE");
    }

    for (i = first; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "apigw: options go before the files: \"%s\"\n",
                    argv[i]);
            return 2;
        }
    }

    apis = calloc((size_t) (argc - first), sizeof(apigw_api_t *));
    rt = apigw_router_create();

    if (apis == NULL || rt == NULL) {
        fprintf(stderr, "apigw: out of memory\n");
        free(apis);
        apigw_router_free(rt);
        return 1;
    }

    apigw_problems_init(&probs);
    memset(&opts, 0, sizeof(opts));
    opts.openwhisk_url = ow_url;

    nops = 0;
    nfiles = 0;
    napis = 0;

    for (i = first; i < argc; i++) {
        from = probs.n;
        nfiles++;

        api = apigw_import_file(argv[i], &opts, &probs);

        if (api != NULL) {
            apis[napis++] = api;

            if (apigw_router_add(rt, api, &probs) == 0) {
                nops += api->nops;
            }
        }

        cli_print_problems(stdout, &probs, from);
    }

    if (probs.dropped) {
        printf("(%zu more warnings not shown)\n", probs.dropped);
    }

    if (probs.nerrors == 0) {
        printf("ok: %zu operation%s in %zu file%s\n", nops,
               nops == 1 ? "" : "s", nfiles, nfiles == 1 ? "" : "s");
        rc = 0;

    } else {
        printf("failed: %zu error%s\n", probs.nerrors,
               probs.nerrors == 1 ? "" : "s");
        rc = 1;
    }

    /* the router points into the APIs: free it first */
    apigw_router_free(rt);

    while (napis > 0) {
        apigw_api_free(apis[--napis]);
    }

    free(apis);
    apigw_problems_free(&probs);

    return rc;
}


static int
cli_secret_name(const char *name)
{
    static const char  *words[] = { "auth", "secret", "key", "token",
                                    "password", "passwd", "cookie", NULL };
    const char        **w;
    size_t              i, n, len;

    len = strlen(name);

    for (w = words; *w; w++) {
        n = strlen(*w);

        for (i = 0; i + n <= len; i++) {
            if (strncasecmp(name + i, *w, n) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


typedef struct {
    char  *col[4];
    char  *headers;
} cli_row_t;


static char *
cli_strcat3(const char *a, const char *b, const char *c)
{
    char    *s;
    size_t   n;

    n = strlen(a) + strlen(b) + strlen(c) + 1;
    s = malloc(n);

    if (s != NULL) {
        snprintf(s, n, "%s%s%s", a, b, c);
    }

    return s;
}


static char *
cli_headers(const apigw_backend_t *b)
{
    char    *s, *p;
    size_t   i, n;

    if (b->nheaders == 0) {
        return strdup("");
    }

    for (n = 3, i = 0; i < b->nheaders; i++) {
        n += strlen(b->headers[i].name) + strlen(b->headers[i].value) + 6;
    }

    s = malloc(n);
    if (s == NULL) {
        return NULL;
    }

    p = s;
    *p++ = '[';

    for (i = 0; i < b->nheaders; i++) {
        p += sprintf(p, "%s%s: %s", i ? ", " : "", b->headers[i].name,
                     cli_secret_name(b->headers[i].name)
                     ? "***" : b->headers[i].value);
    }

    *p++ = ']';
    *p = '\0';

    return s;
}


static int
cli_routes(int argc, char **argv)
{
    int                   first, rc, bad;
    size_t                i, k, w[4], len;
    cli_row_t            *rows;
    const char           *ow_url;
    apigw_api_t          *api;
    apigw_router_t       *rt;
    apigw_problems_t      probs;
    apigw_import_opts_t   opts;
    apigw_operation_t    *op;

    first = cli_options(argc, argv, 2, &ow_url);
    if (first < 0) {
        return 2;
    }

    if (first != argc - 1) {
        return cli_usage_error("routes needs exactly one FILE");
    }

    apigw_problems_init(&probs);
    memset(&opts, 0, sizeof(opts));
    opts.openwhisk_url = ow_url;

    api = apigw_import_file(argv[first], &opts, &probs);
    rt = NULL;

    if (api != NULL) {
        rt = apigw_router_create();

        if (rt == NULL) {
            apigw_problem_add(&probs, 0, NULL, "", "out of memory");
        } else {
            apigw_router_add(rt, api, &probs);
        }
    }

    /* problems to stderr: stdout holds only the table */
    cli_print_problems(stderr, &probs, 0);

    if (probs.dropped) {
        fprintf(stderr, "(%zu more warnings not shown)\n", probs.dropped);
    }

    if (api == NULL || probs.nerrors > 0) {
        fprintf(stderr, "failed: %zu error%s\n", probs.nerrors,
                probs.nerrors == 1 ? "" : "s");
        apigw_router_free(rt);
        apigw_api_free(api);
        apigw_problems_free(&probs);
        return 1;
    }

    rows = calloc(api->nops + 1, sizeof(cli_row_t));
    bad = rows == NULL;
    memset(w, 0, sizeof(w));

    for (i = 0; !bad && i < api->nops; i++) {
        op = &api->ops[i];

        rows[i].col[0] = strdup(apigw_method_name(op->method));
        rows[i].col[1] = cli_strcat3(api->base_path, op->path, "");

        if (op->backend.url == NULL) {
            rows[i].col[2] = strdup("-");
            rows[i].col[3] = strdup("-");
            rows[i].headers = strdup("");

        } else {
            rows[i].col[2] = strdup(op->backend.method ? op->backend.method
                                                       : "keep");
            /* show where the request path goes, however it was asked */
            rows[i].col[3] = cli_strcat3(op->backend.url,
                                 op->backend.append_path
                                 && strstr(op->backend.url, "request.path")
                                    == NULL
                                 ? "$(request.path)" : "", "");
            rows[i].headers = cli_headers(&op->backend);
        }

        for (k = 0; k < 4; k++) {
            if (rows[i].col[k] == NULL) {
                bad = 1;
                break;
            }

            len = strlen(rows[i].col[k]);
            w[k] = len > w[k] ? len : w[k];
        }

        if (rows[i].headers == NULL) {
            bad = 1;
        }
    }

    rc = 0;

    if (bad) {
        fprintf(stderr, "apigw: out of memory\n");
        rc = 1;

    } else {
        for (i = 0; i < api->nops; i++) {
            if (rows[i].headers[0] != '\0') {
                printf("%-*s  %-*s  %-*s  %-*s  %s\n",
                       (int) w[0], rows[i].col[0], (int) w[1], rows[i].col[1],
                       (int) w[2], rows[i].col[2], (int) w[3], rows[i].col[3],
                       rows[i].headers);

            } else {
                printf("%-*s  %-*s  %-*s  %s\n",
                       (int) w[0], rows[i].col[0], (int) w[1], rows[i].col[1],
                       (int) w[2], rows[i].col[2], rows[i].col[3]);
            }
        }
    }

    for (i = 0; rows != NULL && i < api->nops; i++) {
        for (k = 0; k < 4; k++) {
            free(rows[i].col[k]);
        }
        free(rows[i].headers);
    }

    free(rows);
    apigw_router_free(rt);
    apigw_api_free(api);
    apigw_problems_free(&probs);

    return rc;
}


static int
cli_hash_key(int argc, char **argv)
{
    char    line[4096], hex[65];
    size_t  len;

    if (argc > 3) {
        return cli_usage_error("hash-key takes at most one KEY");
    }

    if (argc == 3) {
        len = strlen(argv[2]);
        apigw_sha256_hex(argv[2], len, hex);

    } else {
        if (fgets(line, sizeof(line), stdin) == NULL) {
            return cli_usage_error("hash-key: no key on standard input");
        }

        len = strcspn(line, "\r\n");
        apigw_sha256_hex(line, len, hex);
        memset(line, 0, sizeof(line));
    }

    if (len == 0) {
        return cli_usage_error("hash-key: the key is empty");
    }

    printf("%s\n", hex);
    return 0;
}


int
main(int argc, char **argv)
{
    const char  *cmd;

    if (argc < 2) {
        return cli_usage_error(NULL);
    }

    cmd = argv[1];

    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0
        || strcmp(cmd, "help") == 0)
    {
        fputs(cli_usage, stdout);
        fputs(cli_help, stdout);
        return 0;
    }

    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("apigw %s\n", APIGW_VERSION);
        return 0;
    }

    if (strcmp(cmd, "check") == 0) {
        return cli_check(argc, argv);
    }

    if (strcmp(cmd, "routes") == 0) {
        return cli_routes(argc, argv);
    }

    if (strcmp(cmd, "hash-key") == 0) {
        return cli_hash_key(argc, argv);
    }

    fprintf(stderr, "apigw: unknown command \"%s\"\n", cmd);
    fputs(cli_usage, stderr);

    return 2;
}
