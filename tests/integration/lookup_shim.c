/*
 * LD_PRELOAD for the integration tests: getaddrinfo() of made-up names
 * behaves like a slow, a failing and a changing DNS server, every other name
 * as usual.
 *   slow.apigw.test  3 s, then 127.0.0.1
 *   fail.apigw.test  EAI_AGAIN (a temporary failure)
 *   flip.apigw.test  what the file $APIGW_SHIM_FLIP says now: an address,
 *                    "none" (EAI_NONAME) or "again" (EAI_AGAIN)
 * and fsync() takes $APIGW_SHIM_SLOW_FSYNC seconds more: a slow disk.
 * With $APIGW_SHIM_SLOW_EXIT set (milliseconds), a thread other than the
 * process's first returns that much later from pthread_mutex_unlock(), and
 * dlclose() returns that much later too: a thread finishing while the
 * worker unloads its modules on the way out.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


typedef int (*gai_pt)(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res);
typedef int (*fsync_pt)(int fd);
typedef int (*unlock_pt)(pthread_mutex_t *m);
typedef int (*dlclose_pt)(void *handle);


/* nginx clears the workers' environment: read when the master starts */
static char      flip_file[4096];
static unsigned  slow_fsync;
static unsigned  slow_exit;          /* ms */
static unlock_pt   real_unlock;
static dlclose_pt  real_dlclose;


__attribute__((constructor)) static void
shim_init(void)
{
    const char  *f = getenv("APIGW_SHIM_FLIP");
    const char  *s = getenv("APIGW_SHIM_SLOW_FSYNC");
    const char  *e = getenv("APIGW_SHIM_SLOW_EXIT");

    real_unlock = (unlock_pt) dlsym(RTLD_NEXT, "pthread_mutex_unlock");
    real_dlclose = (dlclose_pt) dlsym(RTLD_NEXT, "dlclose");

    if (e) {
        slow_exit = (unsigned) atoi(e);
    }

    if (f) {
        snprintf(flip_file, sizeof(flip_file), "%s", f);
    }

    if (s) {
        slow_fsync = (unsigned) atoi(s);
    }
}


int
pthread_mutex_unlock(pthread_mutex_t *m)
{
    int  rc;

    rc = real_unlock(m);

    if (slow_exit && gettid() != getpid()) {
        usleep(slow_exit * 1000);
    }

    return rc;
}


int
dlclose(void *handle)
{
    int  rc;

    rc = real_dlclose(handle);

    if (slow_exit) {
        usleep(slow_exit * 2000);
    }

    return rc;
}


int
fsync(int fd)
{
    fsync_pt  real;

    real = (fsync_pt) dlsym(RTLD_NEXT, "fsync");

    if (slow_fsync) {
        sleep(slow_fsync);
    }

    return real(fd);
}


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

    if (node && strcmp(node, "flip.apigw.test") == 0) {
        char   now[64] = "";
        FILE  *f;

        f = flip_file[0] ? fopen(flip_file, "r") : NULL;
        if (f) {
            if (fgets(now, sizeof(now), f) == NULL) {
                now[0] = '\0';
            }
            fclose(f);
        }

        now[strcspn(now, " \r\n")] = '\0';

        if (strcmp(now, "none") == 0 || now[0] == '\0') {
            return EAI_NONAME;
        }

        if (strcmp(now, "again") == 0) {
            return EAI_AGAIN;
        }

        return real(now, service, hints, res);
    }

    return real(node, service, hints, res);
}
