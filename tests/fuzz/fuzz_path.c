/*
 * apigw_path_parse() on arbitrary bytes, against a plain reference
 * implementation, plus invariants: no empty, "." or ".." segment, no NUL,
 * segments inside the scratch buffer, and re-encoding the result parses
 * back to the same segments.
 */

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "apigw.h"


#define REF_MAX  4096


/* The obvious implementation: unlimited depth, one malloc per segment. */
static int
ref_parse(const uint8_t *d, size_t len, char **seg, size_t *slen, size_t *n,
    int *dot)
{
    int     hi, lo;
    char   *buf;
    size_t  i, j, start, k;

    *n = 0;
    *dot = 0;      /* the last segment was "." or "..": a trailing "/" */

    if (len == 0 || d[0] != '/') {
        return APIGW_PATH_INVALID;
    }

    for (i = 0; i < len; i = j) {
        start = i + 1;

        for (j = start; j < len && d[j] != '/'; j++) {
            /* void */
        }

        if (j == start) {
            continue;
        }

        buf = malloc(j - start);
        k = 0;

        for (i = start; i < j; i++) {
            if (d[i] == '%') {
                if (i + 2 >= j) {
                    free(buf);
                    return APIGW_PATH_INVALID;
                }

                hi = (d[i + 1] >= '0' && d[i + 1] <= '9') ? d[i + 1] - '0'
                     : (d[i + 1] >= 'a' && d[i + 1] <= 'f') ? d[i + 1] - 87
                     : (d[i + 1] >= 'A' && d[i + 1] <= 'F') ? d[i + 1] - 55
                     : -1;
                lo = (d[i + 2] >= '0' && d[i + 2] <= '9') ? d[i + 2] - '0'
                     : (d[i + 2] >= 'a' && d[i + 2] <= 'f') ? d[i + 2] - 87
                     : (d[i + 2] >= 'A' && d[i + 2] <= 'F') ? d[i + 2] - 55
                     : -1;

                if (hi < 0 || lo < 0) {
                    free(buf);
                    return APIGW_PATH_INVALID;
                }

                buf[k++] = (char) (hi * 16 + lo);
                i += 2;

            } else {
                buf[k++] = (char) d[i];
            }

            if (buf[k - 1] == '\0') {
                free(buf);
                return APIGW_PATH_INVALID;
            }
        }

        *dot = (k == 1 && buf[0] == '.')
               || (k == 2 && buf[0] == '.' && buf[1] == '.');

        if (k == 1 && buf[0] == '.') {
            free(buf);

        } else if (k == 2 && buf[0] == '.' && buf[1] == '.') {
            free(buf);

            if (*n == 0) {
                return APIGW_PATH_INVALID;
            }

            (*n)--;
            free(seg[*n]);

        } else {
            seg[*n] = buf;
            slen[*n] = k;
            (*n)++;
        }
    }

    return APIGW_PATH_OK;
}


/* segments lie in scratch (decoded) or in the raw path (as they were) */
static int
within(const char *seg, size_t len, const char *buf, size_t size)
{
    return (uintptr_t) seg >= (uintptr_t) buf
           && (uintptr_t) seg + len <= (uintptr_t) buf + size;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            rc, rc2, rrc, dot;
    char          *raw, *scratch, *enc, *scratch2;
    char          *rseg[REF_MAX];
    size_t         i, j, e, rlen[REF_MAX], rn;
    apigw_path_t   p, p2;

    if (size > REF_MAX) {
        return 0;
    }

    /* exact-size copies: ASan sees any read or write past len */
    raw = malloc(size ? size : 1);
    memcpy(raw, data, size);
    scratch = malloc(size ? size : 1);

    rc = apigw_path_parse(raw, size, scratch, &p);

    if (rc != APIGW_PATH_OK && rc != APIGW_PATH_INVALID
        && rc != APIGW_PATH_TOO_DEEP)
    {
        abort();
    }

    /* the reference */

    rrc = ref_parse(data, size, rseg, rlen, &rn, &dot);

    if (rrc == APIGW_PATH_OK && rn > APIGW_MAX_SEGMENTS) {
        rrc = APIGW_PATH_TOO_DEEP;
    }

    if (rc != rrc) {
        fprintf(stderr, "rc %d, reference %d\n", rc, rrc);
        abort();
    }

    if (rc != APIGW_PATH_OK) {
        if (p.n != 0) {
            abort();
        }
        goto done;
    }

    if (p.n != rn || p.n > APIGW_MAX_SEGMENTS) {
        abort();
    }

    if (p.trailing_slash != (p.n > 0 && (data[size - 1] == '/' || dot))) {
        abort();
    }

    for (i = 0; i < p.n; i++) {
        if (p.len[i] == 0
            || (p.len[i] == 1 && p.seg[i][0] == '.')
            || (p.len[i] == 2 && p.seg[i][0] == '.' && p.seg[i][1] == '.')
            || memchr(p.seg[i], '\0', p.len[i]) != NULL
            || !(within(p.seg[i], p.len[i], scratch, size)
                 || within(p.seg[i], p.len[i], raw, size))
            || p.len[i] != rlen[i]
            || memcmp(p.seg[i], rseg[i], p.len[i]) != 0)
        {
            abort();
        }
    }

    /* re-encoded, it parses to the same segments */

    e = 1;
    for (i = 0; i < p.n; i++) {
        e += 1 + apigw_encode_segment(p.seg[i], p.len[i], NULL, 0);
    }

    enc = malloc(e);
    scratch2 = malloc(e);
    j = 0;

    for (i = 0; i < p.n; i++) {
        enc[j++] = '/';
        j += apigw_encode_segment(p.seg[i], p.len[i], enc + j, e - j);
    }

    if (p.n == 0 || p.trailing_slash) {
        enc[j++] = '/';
    }

    rc2 = apigw_path_parse(enc, j, scratch2, &p2);

    if (rc2 != APIGW_PATH_OK || p2.n != p.n
        || p2.trailing_slash != p.trailing_slash)
    {
        abort();
    }

    for (i = 0; i < p.n; i++) {
        if (p2.len[i] != p.len[i]
            || memcmp(p2.seg[i], p.seg[i], p.len[i]) != 0)
        {
            abort();
        }
    }

    free(enc);
    free(scratch2);

done:

    for (i = 0; i < rn; i++) {
        free(rseg[i]);
    }

    free(raw);
    free(scratch);

    return 0;
}
