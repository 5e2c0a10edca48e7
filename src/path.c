/*
 * Request path normalisation: split at "/", percent-decode each segment,
 * resolve "." and "..".  What comes out is what the router matches and what
 * the security checks see, so every way of spelling a dot segment must be
 * resolved here, and nothing may be resolved twice.
 */

#include <stdint.h>
#include <string.h>

#include "apigw.h"


int
apigw_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* the bytes that end a plain segment: "/", and "%" or NUL */
static const unsigned char  apigw_path_stop[256] = {
    ['\0'] = 1, ['%'] = 1, ['/'] = 1
};


int
apigw_path_parse(const char *raw, size_t len, char *scratch,
    apigw_path_t *out)
{
    int            hi, lo;
    char          *d;
    size_t         i, start, w, dlen, over;
    unsigned char  c, esc, dot;

    out->n = 0;
    out->trailing_slash = 0;

    if (len == 0 || raw[0] != '/') {
        return APIGW_PATH_INVALID;
    }

    /*
     * A segment without "%" is used where it lies in `raw`; only escaped
     * segments are decoded, into scratch at `w`.  A decoded segment is
     * never longer than its raw text, so scratch (len bytes) always has
     * room.  `over` counts segments beyond APIGW_MAX_SEGMENTS that were
     * not stored: ".." can still pop them, so "/a/.../x/.." of 65
     * segments normalises to 64 and is fine.
     */

    w = 0;
    over = 0;
    dot = 0;    /* the last segment was "." or "..": "/a/b/.." is "/a/" */
    i = 1;

    while (i <= len) {
        start = i;

        /* "%" and NUL stop the fast scan: the slow path decodes or rejects */

        while (i < len && !apigw_path_stop[(unsigned char) raw[i]]) {
            i++;
        }

        esc = (i < len && raw[i] != '/');

        while (i < len && raw[i] != '/') {
            i++;
        }

        /* raw[start .. i) is one segment; raw[i] is "/" or the end */

        if (i == start) {
            i++;
            continue;
        }

        if (!esc) {
            d = (char *) raw + start;
            dlen = i - start;
            goto decoded;
        }

        d = scratch + w;
        dlen = 0;

        for ( /* void */ ; start < i; start++) {
            c = (unsigned char) raw[start];

            if (c == '%') {
                if (i - start < 3) {
                    goto invalid;
                }

                hi = apigw_hex((unsigned char) raw[start + 1]);
                lo = apigw_hex((unsigned char) raw[start + 2]);

                if (hi < 0 || lo < 0) {
                    goto invalid;
                }

                c = (unsigned char) (hi << 4 | lo);
                start += 2;
            }

            if (c == '\0') {
                goto invalid;
            }

            d[dlen++] = (char) c;
        }

    decoded:

        i++;
        dot = 1;

        if (dlen == 1 && d[0] == '.') {
            continue;
        }

        if (dlen == 2 && d[0] == '.' && d[1] == '.') {
            if (over) {
                over--;

            } else if (out->n) {
                out->n--;

                /* scratch is a stack: a popped decoded segment is its top */
                if ((uintptr_t) out->seg[out->n] >= (uintptr_t) scratch
                    && (uintptr_t) out->seg[out->n] < (uintptr_t) scratch + w)
                {
                    w = (size_t) (out->seg[out->n] - scratch);
                }

            } else {
                goto invalid;       /* above the root */
            }

            continue;
        }

        dot = 0;

        if (over || out->n == APIGW_MAX_SEGMENTS) {
            over++;
            continue;
        }

        out->seg[out->n] = d;
        out->len[out->n] = dlen;
        out->n++;

        if (d == scratch + w) {
            w += dlen;
        }
    }

    if (over) {
        out->n = 0;
        return APIGW_PATH_TOO_DEEP;
    }

    out->trailing_slash = (out->n > 0 && (raw[len - 1] == '/' || dot));

    return APIGW_PATH_OK;

invalid:

    out->n = 0;

    return APIGW_PATH_INVALID;
}
