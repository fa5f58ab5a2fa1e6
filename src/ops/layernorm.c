/* LayerNorm as x-transformers 2.x defines it (reference B.2): no bias, eps 1e-5,
 * unit-offset gain (the stored gamma starts at 0 and the scale is gamma + 1).
 * Statistics in double: the fp32 reference's own error is what the golden
 * tolerances are made of, so the closer to exact the better. */
#include <math.h>

#include "ops/ops.h"

void xtc_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *gamma, int64_t N,
                           int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        double m = 0, v = 0;
        for (int64_t c = 0; c < C; c++)
            m += x[c];
        m /= (double)C;
        for (int64_t c = 0; c < C; c++)
            v += (x[c] - m) * (x[c] - m);
        v /= (double)C;
        double r = 1.0 / sqrt(v + 1e-5);
        float *y = out + i * C;
        for (int64_t c = 0; c < C; c++)
            y[c] = (float)((x[c] - m) * r * (1.0 + (double)gamma[c]));
        if (mean)
            mean[i] = (float)m;
        if (rstd)
            rstd[i] = (float)r;
    }
}
