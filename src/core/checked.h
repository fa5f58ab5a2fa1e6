/* Checked size arithmetic: every allocation size computed from caller input goes
 * through these, so that a product that wraps becomes an error instead of a small
 * buffer. They return true on overflow (or a negative factor). */
#ifndef XTC_CORE_CHECKED_H
#define XTC_CORE_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool xtc_mul_overflow(int64_t a, int64_t b, size_t *out) {
    if (a < 0 || b < 0)
        return true;
    return __builtin_mul_overflow((uint64_t)a, (uint64_t)b, out);
}

static inline bool xtc_mul3_overflow(size_t a, size_t b, size_t c, size_t *out) {
    size_t ab;
    return __builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, out);
}

/* a * b as int64 for counts that index arrays: true when negative or past limit. */
static inline bool xtc_count_over(int64_t a, int64_t b, int64_t limit, int64_t *out) {
    int64_t p;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &p) || p > limit)
        return true;
    *out = p;
    return false;
}

/* Bytes of n elements of `size` bytes: true when that does not fit in ptrdiff_t (no single
 * object can be larger, and pointer differences over it must stay defined). */
static inline bool xtc_bytes_overflow(int64_t n, size_t size, size_t *out) {
    return xtc_mul_overflow(n, (int64_t)size, out) || *out > (size_t)PTRDIFF_MAX;
}

#endif
