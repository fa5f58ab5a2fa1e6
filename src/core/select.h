/* The k-th largest of n floats by quickselect (expected O(n)), shared by the top-k sampling
 * filter and sparse top-k attention. */
#ifndef XTC_CORE_SELECT_H
#define XTC_CORE_SELECT_H

#include <stdint.h>

/* 1 <= k <= n; x is reordered (descending around position k - 1) and x[k - 1] returned. */
static inline float xtc_kth_largest_inplace(float *x, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        float pivot = x[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (x[i] > pivot)
                i++;
            while (x[j] < pivot)
                j--;
            if (i <= j) {
                float t = x[i];
                x[i++] = x[j];
                x[j--] = t;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            break;
    }
    return x[want];
}

#endif
