/*
 * A minimal test harness: each test file is one executable; main() calls
 * RUN(test) for each test function. A failed CHECK reports file:line and the
 * values, marks the test failed and returns from it. Exit code 77 = skipped.
 */
#ifndef VMIC_TEST_HARNESS_H
#define VMIC_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vmic/base.h>

static int harness_failures;
static int harness_current_failed;

#define TEST_SKIP 77

#define FAIL_(...)                                                        \
    do {                                                                  \
        fprintf(stderr, "  FAIL %s:%d: ", __FILE__, __LINE__);            \
        fprintf(stderr, __VA_ARGS__);                                     \
        fprintf(stderr, "\n");                                            \
        harness_current_failed = 1;                                       \
        return;                                                           \
    } while (0)

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) FAIL_("%s", #cond);                                  \
    } while (0)

#define CHECK_MSG(cond, ...)                                              \
    do {                                                                  \
        if (!(cond)) FAIL_(__VA_ARGS__);                                  \
    } while (0)

#define CHECK_EQ(a, b)                                                    \
    do {                                                                  \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                  \
        if (a_ != b_)                                                     \
            FAIL_("%s == %s: 0x%" PRIx64 " != 0x%" PRIx64, #a, #b, a_, b_); \
    } while (0)

#define CHECK_STR(a, b)                                                   \
    do {                                                                  \
        const char *a_ = (a), *b_ = (b);                                  \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                            \
            FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", \
                  b_ ? b_ : "(null)");                                    \
    } while (0)

/* The call must succeed; on failure print vmic's own message. */
#define CHECK_OK(expr)                                                    \
    do {                                                                  \
        vmic_status s_ = (expr);                                          \
        if (s_ != VMIC_OK)                                                \
            FAIL_("%s -> %s: %s", #expr, vmic_status_name(s_), vmic_errmsg()); \
    } while (0)

/* The call must fail with exactly this status. */
#define CHECK_ERR(expr, code)                                             \
    do {                                                                  \
        vmic_status s_ = (expr);                                          \
        if (s_ != (code))                                                 \
            FAIL_("%s -> %s, expected %s (%s)", #expr, vmic_status_name(s_), \
                  vmic_status_name(code), vmic_errmsg());                 \
    } while (0)

/* The last error message must contain this text. */
#define CHECK_ERRMSG(needle)                                              \
    do {                                                                  \
        if (!strstr(vmic_errmsg(), (needle)))                             \
            FAIL_("message \"%s\" lacks \"%s\"", vmic_errmsg(), (needle)); \
    } while (0)

#define RUN(fn)                                                           \
    do {                                                                  \
        harness_current_failed = 0;                                       \
        fn();                                                             \
        fprintf(stderr, "%s %s\n", harness_current_failed ? "FAIL" : "ok  ", #fn); \
        harness_failures += harness_current_failed;                       \
    } while (0)

#define HARNESS_RESULT() (harness_failures ? 1 : 0)

#endif
