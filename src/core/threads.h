/* Splitting work between the threads of a parallel region (private). */
#ifndef XTC_CORE_THREADS_H
#define XTC_CORE_THREADS_H

#include <stdint.h>

/* Part i of n parts of [0, len): boundaries are multiples of `align` (but the end), so that
 * threads writing neighbouring parts of an output row do not share cache lines. */
static inline void xtc_thread_range(int64_t len, int n, int i, int64_t align, int64_t *lo, int64_t *hi) {
    int64_t blocks = (len + align - 1) / align;
    int64_t b0 = blocks * i / n, b1 = blocks * (i + 1) / n;
    *lo = b0 * align < len ? b0 * align : len;
    *hi = b1 * align < len ? b1 * align : len;
}

#endif
