/*
 * LD_PRELOAD for the integration tests: getaddrinfo() of two made-up names
 * behaves like a slow and a failing DNS server, every other name as usual.
 *   slow.apigw.test  3 s, then 127.0.0.1
 *   fail.apigw.test  EAI_AGAIN (a temporary failure)
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>


typedef int (*gai_pt)(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res);


int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
    gai_pt  real;

    real = (gai_pt) dlsym(RTLD_NEXT, "getaddrinfo");

    if (node && strcmp(node, "slow.apigw.test") == 0) {
        sleep(3);
        return real("127.0.0.1", service, hints, res);
    }

    if (node && strcmp(node, "fail.apigw.test") == 0) {
        return EAI_AGAIN;
    }

    return real(node, service, hints, res);
}
