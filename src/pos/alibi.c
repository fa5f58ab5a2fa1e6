/* ALiBi (Press et al. 2021), x-transformers AlibiPositionalBias: head h < n_alibi
 * gets bias -slope_h * |k_pos - q_pos|; the remaining heads get 0. Slopes for a
 * power-of-two count n are 2^(-8(h+1)/n); otherwise those of the largest power
 * of two c below n, followed by every other slope of 2c (reference B.5). */
#include <math.h>

#include "pos/pos.h"

static double pow2_slope(int n, int h) {
    /* start = 2 ** (-2 ** -(log2(n) - 3)); slope_h = start ** (h + 1) */
    double start = pow(2.0, -pow(2.0, -(log2((double)n) - 3.0)));
    return pow(start, h + 1);
}

void xtc_alibi_slopes(float *slopes, int n_alibi, int n_heads) {
    int c = 1;
    while (c * 2 <= n_alibi)
        c *= 2;
    for (int h = 0; h < n_heads; h++) {
        double s = 0;
        if (h < c)
            s = pow2_slope(c, h);
        else if (h < n_alibi)
            s = pow2_slope(2 * c, 2 * (h - c));
        slopes[h] = (float)s;
    }
}
