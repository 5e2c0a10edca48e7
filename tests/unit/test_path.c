/*
 * apigw_path_parse(): splitting, decoding and dot-segment resolution.
 */

#include <stdlib.h>

#include "apigw.h"
#include "unit.h"


/*
 * The parse of raw as "[seg][seg]" (+ "/" when trailing_slash), or
 * "INVALID" / "TOO_DEEP".  The raw bytes are copied into a buffer of
 * exactly their length, so ASan would see a read past the end.
 */
static const char *
norm_n(const char *raw, size_t len)
{
    int            rc;
    char          *copy, *scratch;
    size_t         i, n;
    apigw_path_t   p;
    static char    out[8192];

    copy = malloc(len ? len : 1);
    scratch = malloc(len ? len : 1);
    memcpy(copy, raw, len);

    rc = apigw_path_parse(copy, len, scratch, &p);

    if (rc == APIGW_PATH_INVALID) {
        snprintf(out, sizeof(out), "INVALID");

    } else if (rc == APIGW_PATH_TOO_DEEP) {
        snprintf(out, sizeof(out), "TOO_DEEP");

    } else {
        n = 0;
        for (i = 0; i < p.n; i++) {
            out[n++] = '[';
            memcpy(out + n, p.seg[i], p.len[i]);
            n += p.len[i];
            out[n++] = ']';
        }
        if (p.trailing_slash) {
            out[n++] = '/';
        }
        out[n] = '\0';
    }

    free(copy);
    free(scratch);

    return out;
}


static const char *
norm(const char *raw)
{
    return norm_n(raw, strlen(raw));
}


TEST(test_basic)
{
    CHECK_STR(norm("/"), "");
    CHECK_STR(norm("/a"), "[a]");
    CHECK_STR(norm("/a/b/c"), "[a][b][c]");
    CHECK_STR(norm("/a/b/"), "[a][b]/");
    CHECK_STR(norm("/books/123"), "[books][123]");
    CHECK_STR(norm("/A/b"), "[A][b]");
}


TEST(test_must_start_with_slash)
{
    CHECK_STR(norm(""), "INVALID");
    CHECK_STR(norm("a/b"), "INVALID");
    CHECK_STR(norm("*"), "INVALID");
    CHECK_STR(norm("%2Fa"), "INVALID");
    CHECK_STR(norm("\\a"), "INVALID");
}


TEST(test_empty_segments)
{
    CHECK_STR(norm("//a///b"), "[a][b]");
    CHECK_STR(norm("//"), "");
    CHECK_STR(norm("///"), "");
    CHECK_STR(norm("/a//"), "[a]/");
    CHECK_STR(norm("//a//b//"), "[a][b]/");
}


TEST(test_dot_segments)
{
    CHECK_STR(norm("/./a"), "[a]");
    CHECK_STR(norm("/a/."), "[a]/");         /* RFC 3986 5.2.4 */
    CHECK_STR(norm("/a/./"), "[a]/");
    CHECK_STR(norm("/a/b/.."), "[a]/");
    CHECK_STR(norm("/a/b/../"), "[a]/");
    CHECK_STR(norm("/a/b/../c"), "[a][c]");
    CHECK_STR(norm("/a/%2e"), "[a]/");
    CHECK_STR(norm("/api/../admin"), "[admin]");
    CHECK_STR(norm("/a/b/../../c"), "[c]");
    CHECK_STR(norm("/a/../.."), "INVALID");
    CHECK_STR(norm("/.."), "INVALID");
    CHECK_STR(norm("/../a"), "INVALID");
    CHECK_STR(norm("/a/.."), "");
    CHECK_STR(norm("/a/../"), "");
    CHECK_STR(norm("/."), "");
    CHECK_STR(norm("/./"), "");
    /* not dot segments */
    CHECK_STR(norm("/.../a"), "[...][a]");
    CHECK_STR(norm("/a./.b/..c"), "[a.][.b][..c]");
}


TEST(test_encoded_dots)
{
    CHECK_STR(norm("/a/%2e%2e/b"), "[b]");
    CHECK_STR(norm("/a/%2E%2E/b"), "[b]");
    CHECK_STR(norm("/a/%2E./b"), "[b]");
    CHECK_STR(norm("/a/.%2e/b"), "[b]");
    CHECK_STR(norm("/a/%2e/b"), "[a][b]");
    CHECK_STR(norm("/%2e%2e"), "INVALID");
    CHECK_STR(norm("/api/%2e%2e/admin"), "[admin]");
    CHECK_STR(norm("/a/%2e%2e%2e"), "[a][...]");
}


TEST(test_decoding)
{
    CHECK_STR(norm("/a%20b"), "[a b]");
    CHECK_STR(norm("/caf%C3%A9"), "[caf\xC3\xA9]");
    CHECK_STR(norm("/%41%62"), "[Ab]");
    CHECK_STR(norm("/%7e"), "[~]");
    CHECK_STR(norm("/%25"), "[%]");
    CHECK_STR(norm("/%2541"), "[%41]");        /* decoded once only */
    CHECK_STR(norm("/a+b"), "[a+b]");          /* "+" is not a space */
    CHECK_STR(norm("/a\\b"), "[a\\b]");        /* backslash is a byte */
    CHECK_STR(norm("/..\\a"), "[..\\a]");
    CHECK_STR(norm("/a/..\\"), "[a][..\\]");
    CHECK_STR(norm("/%5C..%5C"), "[\\..\\]");
    CHECK_STR(norm("/%01%1F%7F"), "[\x01\x1F\x7F]");
    CHECK_STR(norm("/\x01"), "[\x01]");
}


TEST(test_encoded_slash)
{
    apigw_path_t  p;
    char          scratch[64];
    const char   *raw = "/a%2Fb/c%2f";

    CHECK_STR(norm("/a%2Fb"), "[a/b]");
    CHECK_STR(norm("/a%2F..%2Fb"), "[a/../b]");
    CHECK_STR(norm("/%2F"), "[/]");
    CHECK_STR(norm("/%2F%2F"), "[//]");
    CHECK_STR(norm("/x/..%2F"), "[x][../]");
    CHECK_STR(norm("/%2e%2e%2f"), "[../]");

    CHECK_INT(apigw_path_parse(raw, strlen(raw), scratch, &p), APIGW_PATH_OK);
    CHECK_INT(p.n, 2);
    CHECK_INT(p.len[0], 3);
    CHECK(memcmp(p.seg[0], "a/b", 3) == 0);
    CHECK_INT(p.len[1], 2);
    CHECK(memcmp(p.seg[1], "c/", 2) == 0);
    CHECK_INT(p.trailing_slash, 0);   /* the raw path ends with "f" */
}


TEST(test_bad_escapes)
{
    CHECK_STR(norm("/%00"), "INVALID");
    CHECK_STR(norm("/a%00b"), "INVALID");
    CHECK_STR(norm("/%G1"), "INVALID");
    CHECK_STR(norm("/%1G"), "INVALID");
    CHECK_STR(norm("/%4"), "INVALID");
    CHECK_STR(norm("/%"), "INVALID");
    CHECK_STR(norm("/a%"), "INVALID");
    CHECK_STR(norm("/%/a"), "INVALID");
    CHECK_STR(norm("/%4/1"), "INVALID");
    CHECK_STR(norm("/a/%zz/b"), "INVALID");
    CHECK_STR(norm("/ok/then/%x"), "INVALID");
    /* an error anywhere wins, even after a dropped segment */
    CHECK_STR(norm("/a/../%GG"), "INVALID");
}


TEST(test_raw_nul_and_length)
{
    /* a raw NUL is as invalid as a decoded one */
    CHECK_STR(norm_n("/a\0b", 4), "INVALID");
    CHECK_STR(norm_n("/a/b", 2), "[a]");           /* only len bytes */
    CHECK_STR(norm_n("/a/b", 3), "[a]/");
    CHECK_STR(norm_n("/a%2", 4), "INVALID");       /* escape cut by len */
    CHECK_STR(norm_n("/a%20", 4), "INVALID");
}


static const char *
deep(size_t n, const char *tail)
{
    size_t       i;
    static char  buf[1024];

    buf[0] = '\0';

    for (i = 0; i < n; i++) {
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/s%zu", i);
    }

    snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s", tail);

    return buf;
}


TEST(test_depth)
{
    int           rc;
    char          scratch[1024];
    const char   *raw;
    apigw_path_t  p;

    raw = deep(64, "");
    rc = apigw_path_parse(raw, strlen(raw), scratch, &p);
    CHECK_INT(rc, APIGW_PATH_OK);
    CHECK_INT(p.n, 64);
    CHECK(p.len[63] == 3 && memcmp(p.seg[63], "s63", 3) == 0);

    raw = deep(64, "/");
    rc = apigw_path_parse(raw, strlen(raw), scratch, &p);
    CHECK_INT(rc, APIGW_PATH_OK);
    CHECK_INT(p.trailing_slash, 1);

    raw = deep(65, "");
    CHECK_INT(apigw_path_parse(raw, strlen(raw), scratch, &p),
              APIGW_PATH_TOO_DEEP);
    CHECK_INT(p.n, 0);

    raw = deep(200, "");
    CHECK_INT(apigw_path_parse(raw, strlen(raw), scratch, &p),
              APIGW_PATH_TOO_DEEP);

    /* 65 segments with ".." back to 64: fine, the 65th is popped */
    raw = deep(65, "/..");
    rc = apigw_path_parse(raw, strlen(raw), scratch, &p);
    CHECK_INT(rc, APIGW_PATH_OK);
    CHECK_INT(p.n, 64);
    CHECK(p.len[63] == 3 && memcmp(p.seg[63], "s63", 3) == 0);

    raw = deep(66, "/../../x");
    CHECK_INT(apigw_path_parse(raw, strlen(raw), scratch, &p),
              APIGW_PATH_TOO_DEEP);

    raw = deep(66, "/../../../x");
    rc = apigw_path_parse(raw, strlen(raw), scratch, &p);
    CHECK_INT(rc, APIGW_PATH_OK);
    CHECK_INT(p.n, 64);
    CHECK(p.len[63] == 1 && p.seg[63][0] == 'x');

    /* dots and empty segments do not count */
    raw = deep(64, "/././/");
    CHECK_INT(apigw_path_parse(raw, strlen(raw), scratch, &p),
              APIGW_PATH_OK);

    /* an invalid escape beyond the limit is still invalid */
    raw = deep(70, "/%G0");
    CHECK_INT(apigw_path_parse(raw, strlen(raw), scratch, &p),
              APIGW_PATH_INVALID);
}


TEST(test_trailing_slash)
{
    CHECK_STR(norm("/a/"), "[a]/");
    CHECK_STR(norm("/a"), "[a]");
    CHECK_STR(norm("/"), "");               /* no segment: no flag */
    CHECK_STR(norm("/a/b/.."), "[a]/");     /* as "/a/b/../" */
    CHECK_STR(norm("/a/b/../c/"), "[a][c]/");
    CHECK_STR(norm("/a/b/../"), "[a]/");
    CHECK_STR(norm("/a%2F"), "[a/]");       /* decoded "/" is not one */
}


TEST(test_scratch_reuse)
{
    /*
     * Escaped segments are decoded into scratch, and after ".." the popped
     * one's room is reused; plain segments point into the raw path.
     */
    char          scratch[64];
    const char   *raw = "/a%41aa/b%42bb/../c%41/d/e%45/../f";
    apigw_path_t  p;

    CHECK_INT(apigw_path_parse(raw, strlen(raw), scratch, &p), APIGW_PATH_OK);
    CHECK_INT(p.n, 4);
    CHECK(p.len[0] == 4 && memcmp(p.seg[0], "aAaa", 4) == 0);
    CHECK(p.len[1] == 2 && memcmp(p.seg[1], "cA", 2) == 0);
    CHECK(p.len[2] == 1 && memcmp(p.seg[2], "d", 1) == 0);
    CHECK(p.len[3] == 1 && memcmp(p.seg[3], "f", 1) == 0);
    CHECK(p.seg[0] == scratch && p.seg[1] == scratch + 4);
    CHECK(p.seg[2] == raw + 23 && p.seg[3] == raw + strlen(raw) - 1);
}


int
main(void)
{
    RUN(test_basic);
    RUN(test_must_start_with_slash);
    RUN(test_empty_segments);
    RUN(test_dot_segments);
    RUN(test_encoded_dots);
    RUN(test_decoding);
    RUN(test_encoded_slash);
    RUN(test_bad_escapes);
    RUN(test_raw_nul_and_length);
    RUN(test_depth);
    RUN(test_trailing_slash);
    RUN(test_scratch_reuse);

    return UNIT_DONE();
}
