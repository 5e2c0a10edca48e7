/*
 * openloop: latency at a fixed request rate, for `make bench`.
 *
 * wrk measures saturation: each connection sends its next request when the
 * last one is answered, so its latencies are those of a full queue.  The
 * latency bar (p99 added at half of saturation) needs an open loop: request
 * i is due at start + i / rate whatever happened before, requests are
 * spread evenly (no bursts), and a request's latency runs from the time it
 * was due, not from the time a free connection sent it, so a stall is
 * counted against every request it delays (no coordinated omission).
 *
 *   openloop -r RATE [-c CONNS] [-d SECONDS] [-w WARMUP] [-H 'N: v']... URL
 *
 * URL is http://HOST:PORT/PATH (IPv4 literal).  Prints one JSON object:
 * requests, errors, non-2xx, achieved rate, latency percentiles in us.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#define OL_RBUF       65536
#define OL_MAX_CONNS  1024
#define OL_DRAIN_NS   2000000000LL
/* how late the last requests due may still be sent */
#define OL_GRACE_NS   100000000LL


typedef struct {
    int        fd;
    int        busy;
    int64_t    due;            /* when the request in flight was due */
    size_t     len;            /* bytes in rbuf */
    char       rbuf[OL_RBUF];
} ol_conn_t;


static struct sockaddr_in  ol_addr;
static char               *ol_req;
static size_t              ol_req_len;


static int64_t
ol_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}


static int
ol_connect(ol_conn_t *c, int ep)
{
    int                 one = 1;
    struct epoll_event  ev;

    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) {
        return -1;
    }

    /* loopback: a blocking connect returns at once */
    if (connect(c->fd, (struct sockaddr *) &ol_addr, sizeof(ol_addr)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }

    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    ev.events = EPOLLIN;
    ev.data.ptr = c;

    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }

    c->busy = 0;
    c->len = 0;
    return 0;
}


/* a broken connection: its request, if any, is lost; open another */
static void
ol_reconnect(ol_conn_t *c, int ep)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    ol_connect(c, ep);
}


/*
 * Length of the complete response at the start of buf, 0 when more bytes
 * are needed, -1 when it cannot be read.  Content-Length or chunked.
 */
static long
ol_response(const char *buf, size_t len, int *status)
{
    long         clen, n;
    size_t       hlen, i;
    const char  *p, *e, *line;
    int          chunked;

    e = NULL;
    for (i = 3; i < len; i++) {
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n'
            && buf[i - 3] == '\r')
        {
            e = buf + i + 1;
            break;
        }
    }

    if (e == NULL) {
        return len >= OL_RBUF ? -1 : 0;
    }

    hlen = e - buf;

    if (hlen < 12 || memcmp(buf, "HTTP/1.", 7) != 0) {
        return -1;
    }

    *status = atoi(buf + 9);
    clen = -1;
    chunked = 0;

    for (line = (const char *) memchr(buf, '\n', hlen) + 1; line < e;
         line = p + 1)
    {
        p = memchr(line, '\n', e - line);
        if (p == NULL) {
            break;
        }

        if (strncasecmp(line, "content-length:", 15) == 0) {
            clen = strtol(line + 15, NULL, 10);

        } else if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
            chunked = 1;
        }
    }

    if (!chunked) {
        if (clen < 0) {
            return -1;
        }

        return (size_t) clen <= len - hlen ? (long) (hlen + clen) : 0;
    }

    /* chunks: size line, data, CRLF; the last is 0 CRLF CRLF */

    i = hlen;

    for ( ;; ) {
        p = memchr(buf + i, '\n', len - i);
        if (p == NULL) {
            return 0;
        }

        if (!isxdigit((unsigned char) buf[i])) {
            return -1;
        }

        n = strtol(buf + i, NULL, 16);
        i = p - buf + 1;

        if (n == 0) {
            return i + 2 <= len ? (long) (i + 2) : 0;
        }

        if (i + n + 2 > len) {
            return 0;
        }

        i += n + 2;
    }
}


static int
ol_cmp(const void *a, const void *b)
{
    int64_t  x = *(const int64_t *) a, y = *(const int64_t *) b;

    return (x > y) - (x < y);
}


static double
ol_pct(const int64_t *v, size_t n, double q)
{
    size_t  i;

    if (n == 0) {
        return 0;
    }

    i = (size_t) (q * (double) (n - 1) + 0.5);
    return (double) v[i] / 1000.0;
}


int
main(int argc, char **argv)
{
    int                 opt, ep, nconns, st, nev, i, sending;
    char               *url, *host, *path, *hdrs, *colon;
    long                resp;
    double              rate, dur, warm;
    size_t              nlat, hlen, cap;
    ssize_t             n;
    int64_t             t0, iv, now, end, warm_end, next_due, wake, *lat;
    uint64_t            sent, errors, non2xx, expired, window, due;
    ol_conn_t          *conns, *c;
    struct timespec     ts;
    struct epoll_event  evs[64];

    rate = 0;
    nconns = 64;
    dur = 5;
    warm = 1;
    hdrs = calloc(1, 1);
    hlen = 0;

    while ((opt = getopt(argc, argv, "r:c:d:w:H:")) != -1) {
        switch (opt) {
        case 'r': rate = atof(optarg); break;
        case 'c': nconns = atoi(optarg); break;
        case 'd': dur = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'H':
            hdrs = realloc(hdrs, hlen + strlen(optarg) + 3);
            hlen += sprintf(hdrs + hlen, "%s\r\n", optarg);
            break;
        default:
            goto usage;
        }
    }

    if (optind != argc - 1 || rate <= 0 || nconns < 1
        || nconns > OL_MAX_CONNS || dur <= 0 || warm < 0)
    {
        goto usage;
    }

    url = strdup(argv[optind]);
    if (strncmp(url, "http://", 7) != 0) {
        goto usage;
    }

    host = url + 7;
    path = strchr(host, '/');
    colon = strchr(host, ':');
    if (path == NULL || colon == NULL || colon > path) {
        goto usage;
    }

    ol_req = malloc(strlen(argv[optind]) * 2 + hlen + 64);
    ol_req_len = sprintf(ol_req, "GET %s HTTP/1.1\r\nHost: %.*s\r\n%s\r\n",
                         path, (int) (path - host), host, hdrs);

    *path = '\0';
    *colon = '\0';
    ol_addr.sin_family = AF_INET;
    ol_addr.sin_port = htons(atoi(colon + 1));
    if (inet_pton(AF_INET, host, &ol_addr.sin_addr) != 1) {
        goto usage;
    }

    ep = epoll_create1(0);

    conns = calloc(nconns, sizeof(ol_conn_t));
    for (i = 0; i < nconns; i++) {
        if (ol_connect(&conns[i], ep) != 0) {
            perror("openloop: connect");
            return 1;
        }
    }

    iv = (int64_t) (1e9 / rate);
    t0 = ol_now() + 10000000;      /* 10 ms to settle */
    warm_end = t0 + (int64_t) (warm * 1e9);
    end = warm_end + (int64_t) (dur * 1e9);

    cap = rate * dur * 1.1 < 1 << 22 ? (size_t) (rate * dur * 1.1) + 16
                                     : 1 << 22;
    lat = malloc(cap * sizeof(int64_t));
    nlat = 0;
    sent = errors = non2xx = expired = window = 0;

    for ( ;; ) {
        now = ol_now();

        /* send every due request that has a free connection */

        next_due = t0 + (int64_t) sent * iv;

        while (next_due <= now && next_due < end && now < end + OL_GRACE_NS) {
            c = NULL;
            for (i = 0; i < nconns; i++) {
                if (!conns[i].busy && conns[i].fd >= 0) {
                    c = &conns[i];
                    break;
                }
            }

            if (c == NULL) {
                break;           /* it waits, and its wait counts */
            }

            if (write(c->fd, ol_req, ol_req_len) != (ssize_t) ol_req_len) {
                errors++;
                ol_reconnect(c, ep);
                continue;
            }

            c->busy = 1;
            c->due = next_due;
            sent++;
            next_due = t0 + (int64_t) sent * iv;
        }

        sending = next_due < end && now < end + OL_GRACE_NS;

        if (!sending) {
            for (i = 0; i < nconns; i++) {
                if (conns[i].busy) {
                    break;
                }
            }

            if (i == nconns || now > end + OL_DRAIN_NS) {
                break;
            }
        }

        /* sleep until the next due request, at ns resolution */

        wake = (sending ? next_due : end + OL_DRAIN_NS) - ol_now();
        if (wake < 0) {
            wake = 0;
        }

        ts.tv_sec = wake / 1000000000LL;
        ts.tv_nsec = wake % 1000000000LL;

        nev = epoll_pwait2(ep, evs, 64, &ts, NULL);

        for (i = 0; i < nev; i++) {
            c = evs[i].data.ptr;

            n = read(c->fd, c->rbuf + c->len, OL_RBUF - c->len);

            if (n <= 0) {
                if (n < 0 && errno == EAGAIN) {
                    continue;
                }

                if (c->busy) {
                    errors++;
                }

                ol_reconnect(c, ep);
                continue;
            }

            c->len += n;

            resp = ol_response(c->rbuf, c->len, &st);

            if (resp == 0) {
                continue;
            }

            if (resp < 0 || !c->busy) {
                errors++;
                ol_reconnect(c, ep);
                continue;
            }

            now = ol_now();

            if (st < 200 || st > 299) {
                non2xx++;
            }

            if (now >= warm_end && now < end) {
                window++;
            }

            if (c->due >= warm_end && nlat < cap) {
                lat[nlat++] = now - c->due;
            }

            memmove(c->rbuf, c->rbuf + resp, c->len - resp);
            c->len -= resp;
            c->busy = 0;
        }
    }

    for (i = 0; i < nconns; i++) {
        if (conns[i].busy) {
            expired++;
        }
    }

    qsort(lat, nlat, sizeof(int64_t), ol_cmp);

    /* requests due in the run that no connection was free to send */
    due = (uint64_t) ((end - t0 + iv - 1) / iv);

    printf("{\"offered\": %.0f, \"throughput\": %.0f, \"requests\": %llu, "
           "\"unsent\": %llu, \"measured\": %zu, \"errors\": %llu, "
           "\"non2xx\": %llu, \"unanswered\": %llu, "
           "\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, "
           "\"p999\": %.1f, \"max\": %.1f}\n",
           rate, (double) window / dur, (unsigned long long) sent,
           (unsigned long long) (due > sent ? due - sent : 0), nlat,
           (unsigned long long) errors, (unsigned long long) non2xx,
           (unsigned long long) expired,
           ol_pct(lat, nlat, 0.50), ol_pct(lat, nlat, 0.90),
           ol_pct(lat, nlat, 0.99), ol_pct(lat, nlat, 0.999),
           nlat ? (double) lat[nlat - 1] / 1000.0 : 0.0);

    return (errors || expired) ? 2 : 0;

usage:
    fprintf(stderr, "usage: openloop -r RATE [-c CONNS] [-d SECONDS] "
            "[-w WARMUP] [-H 'Name: value']... http://IPV4:PORT/PATH\n");
    return 1;
}
