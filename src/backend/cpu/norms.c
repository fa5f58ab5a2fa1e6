/* LayerNorm and RMSNorm on the CPU: rows in parallel, each row's sums as `omp simd`
 * reductions (in double: the fp32 reference's own error is what the golden tolerances are
 * made of). The backward passes run the reference's row and column kernels (backend/ref)
 * in parallel: rows for dinp, then features for the parameter grad, so threads never share
 * a write. Definitions as in backend/ref/norms.c. */
#include <math.h>

#include "backend/cpu/cpu.h"
#include "backend/ref/ref.h"

/* y may be x (in place): each element is read before it is written */
static void layernorm_row(float *y, float *mean, float *rstd, const float *x, const struct xtc_norm_gain *gain,
                          int64_t C) {
    const float *restrict g = gain->g;
    const double off = gain->offset;
    double m = 0, v = 0;
#pragma omp simd reduction(+ : m)
    for (int64_t c = 0; c < C; c++)
        m += x[c];
    m /= (double)C;
#pragma omp simd reduction(+ : v)
    for (int64_t c = 0; c < C; c++)
        v += (x[c] - m) * (x[c] - m);
    v /= (double)C;
    double r = 1.0 / sqrt(v + 1e-5);
    if (g && !gain->scalar) {
#pragma omp simd
        for (int64_t c = 0; c < C; c++)
            y[c] = (float)((x[c] - m) * r * (off + (double)g[c]));
    } else {
        double k = r * xtc_norm_gain_at(gain, 0);
#pragma omp simd
        for (int64_t c = 0; c < C; c++)
            y[c] = (float)((x[c] - m) * k);
    }
    if (mean)
        *mean = (float)m;
    if (rstd)
        *rstd = (float)r;
}

void xtc_cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const struct xtc_norm_gain *gain,
                               int64_t N, int64_t C) {
    if (N * C <= 32768) { /* a few rows (decoding, maybe inside a parallel region): no team to start */
        for (int64_t i = 0; i < N; i++)
            layernorm_row(out + i * C, mean ? mean + i : NULL, rstd ? rstd + i : NULL, inp + i * C, gain, C);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++)
        layernorm_row(out + i * C, mean ? mean + i : NULL, rstd ? rstd + i : NULL, inp + i * C, gain, C);
}

void xtc_cpu_layernorm_backward(float *dinp, float *dgamma, const float *dout, const float *inp,
                                const struct xtc_norm_gain *gain, const float *mean, const float *rstd, int64_t N,
                                int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t i = 0; i < N; i++)
        xtc_ref_layernorm_backward_rows(dinp, dout, inp, gain, mean, rstd, C, i, i + 1);
    if (!dgamma || !gain->g)
        return;
    if (gain->scalar) { /* one sum into one float: no split that would not race */
        xtc_ref_layernorm_dgamma_cols(dgamma, dout, inp, mean, rstd, N, C, true, 0, C);
        return;
    }
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t c = 0; c < C; c++)
        xtc_ref_layernorm_dgamma_cols(dgamma, dout, inp, mean, rstd, N, C, false, c, c + 1);
}

/* y may be x (in place), as for layernorm_row */
static void rmsnorm_row(float *y, float *rnorm, const float *x, const struct xtc_norm_gain *gain, int64_t C) {
    const float *restrict g = gain->g;
    const double off = gain->offset;
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < C; c++)
        ss += (double)x[c] * x[c];
    double norm = sqrt(ss), scale = sqrt((double)C);
    double r = 1.0 / (norm > 1e-12 ? norm : 1e-12);
    if (g && !gain->scalar) {
#pragma omp simd
        for (int64_t c = 0; c < C; c++)
            y[c] = (float)(x[c] * r * scale * (off + (double)g[c]));
    } else {
        double k = r * scale * xtc_norm_gain_at(gain, 0);
#pragma omp simd
        for (int64_t c = 0; c < C; c++)
            y[c] = (float)(x[c] * k);
    }
    if (rnorm)
        *rnorm = (float)r;
}

void xtc_cpu_rmsnorm_forward(float *out, float *rnorm, const float *inp, const struct xtc_norm_gain *gain, int64_t N,
                             int64_t C) {
    if (N * C <= 32768) { /* a few rows (decoding, maybe inside a parallel region): no team to start */
        for (int64_t i = 0; i < N; i++)
            rmsnorm_row(out + i * C, rnorm ? rnorm + i : NULL, inp + i * C, gain, C);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++)
        rmsnorm_row(out + i * C, rnorm ? rnorm + i : NULL, inp + i * C, gain, C);
}

void xtc_cpu_rmsnorm_backward(float *dinp, float *dg, const float *dout, const float *inp,
                              const struct xtc_norm_gain *gain, const float *rnorm, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t i = 0; i < N; i++)
        xtc_ref_rmsnorm_backward_rows(dinp, dout, inp, gain, rnorm, C, i, i + 1);
    if (!dg || !gain->g)
        return;
    if (gain->scalar) { /* ScaleNorm: one sum into one float */
        xtc_ref_rmsnorm_dg_cols(dg, dout, inp, rnorm, N, C, true, 0, C);
        return;
    }
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t c = 0; c < C; c++)
        xtc_ref_rmsnorm_dg_cols(dg, dout, inp, rnorm, N, C, false, c, c + 1);
}
