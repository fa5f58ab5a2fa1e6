/* RMSNorm as x-transformers defines it (reference B.2): x / max(||x||, 1e-12)
 * * sqrt(C) * (1 + g). Not the eps-inside-the-sqrt RMSNorm of Llama. */
#include <math.h>

#include "ops/ops.h"

void xtc_rmsnorm_forward(float *out, float *rnorm, const float *inp, const float *g, int64_t N, int64_t C) {
    double scale = sqrt((double)C);
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        double ss = 0;
        for (int64_t c = 0; c < C; c++)
            ss += (double)x[c] * x[c];
        double norm = sqrt(ss);
        double r = 1.0 / (norm > 1e-12 ? norm : 1e-12);
        float *y = out + i * C;
        for (int64_t c = 0; c < C; c++)
            y[c] = (float)(x[c] * r * scale * (1.0 + (double)g[c]));
        if (rnorm)
            rnorm[i] = (float)r;
    }
}

void xtc_l2norm_rows(float *x, int64_t N, int64_t C) {
    for (int64_t i = 0; i < N; i++) {
        float *row = x + i * C;
        double ss = 0;
        for (int64_t c = 0; c < C; c++)
            ss += (double)row[c] * row[c];
        double norm = sqrt(ss);
        double r = 1.0 / (norm > 1e-12 ? norm : 1e-12);
        for (int64_t c = 0; c < C; c++)
            row[c] = (float)(row[c] * r);
    }
}
