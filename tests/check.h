/* Shared helpers for the unit tests (header-only: a test helper, not a library module).
 *
 *   CHECK(cond, fmt, ...)        counts a check; on failure prints file:line and the message.
 *   xtc_check_close(name, got, want, n, atol, rtol)
 *                                float results against a double reference: element i passes when
 *                                |got - want| <= atol + rtol * |want| (torch.allclose), NaN only
 *                                matches NaN and infinities only the same infinity. On failure it
 *                                prints the first mismatching index, the max abs and max rel error,
 *                                and returns non-zero.
 *   xtc_check_close_f(...)       the same with a float reference.
 *   xtc_check_report(test_name)  prints the summary; its value is main()'s exit status
 *                                (non-zero when any check failed).
 *
 * Every tolerance passed to xtc_check_close must sit next to a comment saying why (STYLE.md). */
#ifndef XTC_TESTS_CHECK_H
#define XTC_TESTS_CHECK_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

static int xtc_checks_run, xtc_checks_failed;

#define CHECK(cond, ...)                                                     \
    do {                                                                     \
        xtc_checks_run++;                                                    \
        if (!(cond)) {                                                       \
            xtc_checks_failed++;                                             \
            fprintf(stderr, "FAIL %s:%d: (%s) ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
        }                                                                    \
    } while (0)

static inline int xtc_check_close_impl(const char *name, const float *got, const float *want_f, const double *want_d,
                                       size_t n, double atol, double rtol) {
    size_t n_bad = 0, first = (size_t)-1;
    double max_abs = 0, max_rel = 0;
    for (size_t i = 0; i < n; i++) {
        double g = (double)got[i], w = want_d ? want_d[i] : (double)want_f[i];
        bool ok;
        double d;
        if (isnan(w) || isnan(g)) {
            ok = isnan(w) && isnan(g);
            d = ok ? 0 : INFINITY;
        } else if (isinf(w) || isinf(g)) {
            ok = g == w;
            d = ok ? 0 : INFINITY;
        } else {
            d = fabs(g - w);
            ok = d <= atol + rtol * fabs(w);
        }
        double rel = d == 0 ? 0 : d / fabs(w);
        if (d > max_abs)
            max_abs = d;
        if (rel > max_rel)
            max_rel = rel;
        if (!ok) {
            if (n_bad == 0)
                first = i;
            n_bad++;
        }
    }
    xtc_checks_run++;
    if (n_bad == 0)
        return 0;
    xtc_checks_failed++;
    double w0 = want_d ? want_d[first] : (double)want_f[first];
    fprintf(stderr,
            "FAIL %s: %zu of %zu elements differ (atol %.3g, rtol %.3g); first at [%zu]: got %.9g want %.9g; "
            "max abs err %.3g, max rel err %.3g\n",
            name, n_bad, n, atol, rtol, first, (double)got[first], w0, max_abs, max_rel);
    return 1;
}

static inline int xtc_check_close(const char *name, const float *got, const double *want, size_t n, double atol,
                                  double rtol) {
    return xtc_check_close_impl(name, got, NULL, want, n, atol, rtol);
}

static inline int xtc_check_close_f(const char *name, const float *got, const float *want, size_t n, double atol,
                                    double rtol) {
    return xtc_check_close_impl(name, got, want, NULL, n, atol, rtol);
}

static inline int xtc_check_report(const char *test_name) {
    if (xtc_checks_failed) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", test_name, xtc_checks_failed, xtc_checks_run);
        return 1;
    }
    printf("%s: all %d checks passed\n", test_name, xtc_checks_run);
    return 0;
}

#endif
