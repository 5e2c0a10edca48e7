/*
 * A very small unit-test harness: TEST() functions, CHECK*() assertions,
 * RUN() in main(), UNIT_DONE() prints "FILE: N passed, N failed".
 */

#ifndef APIGW_UNIT_H
#define APIGW_UNIT_H

#include <stdio.h>
#include <string.h>

static int  unit_passed, unit_failed, unit_cur_failed;

#define TEST(name)  static void name(void)

#define CHECK(c)                                                             \
    do {                                                                     \
        if (!(c)) {                                                          \
            unit_cur_failed++;                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n",                     \
                    __FILE__, __LINE__, #c);                                 \
        }                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                      \
    do {                                                                     \
        const char *unit_a_ = (a), *unit_b_ = (b);                           \
        if (unit_a_ == NULL || unit_b_ == NULL                               \
            || strcmp(unit_a_, unit_b_) != 0)                                \
        {                                                                    \
            unit_cur_failed++;                                               \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == %s\n"            \
                    "    got:      \"%s\"\n    expected: \"%s\"\n",          \
                    __FILE__, __LINE__, #a, #b,                              \
                    unit_a_ ? unit_a_ : "(null)",                            \
                    unit_b_ ? unit_b_ : "(null)");                           \
        }                                                                    \
    } while (0)

#define CHECK_INT(a, b)                                                      \
    do {                                                                     \
        long long unit_a_ = (long long) (a), unit_b_ = (long long) (b);      \
        if (unit_a_ != unit_b_) {                                            \
            unit_cur_failed++;                                               \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %s"              \
                    " (got %lld, expected %lld)\n",                          \
                    __FILE__, __LINE__, #a, #b, unit_a_, unit_b_);           \
        }                                                                    \
    } while (0)

#define RUN(name)                                                            \
    do {                                                                     \
        unit_cur_failed = 0;                                                 \
        name();                                                              \
        if (unit_cur_failed) {                                               \
            unit_failed++;                                                   \
            fprintf(stderr, "FAIL %s\n", #name);                             \
        } else {                                                             \
            unit_passed++;                                                   \
        }                                                                    \
    } while (0)

#define UNIT_DONE()                                                          \
    (printf("%s: %d passed, %d failed\n", __FILE__, unit_passed,             \
            unit_failed),                                                    \
     unit_failed ? 1 : 0)

#endif /* APIGW_UNIT_H */
