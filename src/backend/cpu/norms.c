/* LayerNorm and RMSNorm on the CPU: rows in parallel, each row's sums as `omp simd`
 * reductions (in double: the fp32 reference's own error is what the golden tolerances are
 * made of). The backward passes run in parallel, rows for dinp, then blocks of features for
 * the parameter grad, so threads never share a write. Definitions as in backend/ref/norms.c. */
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

/* dx += the gradient of one row: the reference's arithmetic (backend/ref/norms.c), its two
 * sums as `omp simd` reductions */
static void layernorm_backward_row(float *dx, const float *dy, const float *x, const struct xtc_norm_gain *gain,
                                   double m, double r, int64_t C) {
    const float *restrict g = gain->g && !gain->scalar ? gain->g : NULL;
    const double off = gain->offset, g0 = xtc_norm_gain_at(gain, 0);
    double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
    for (int64_t c = 0; c < C; c++) {
        const double dxh = dy[c] * (g ? off + (double)g[c] : g0);
        s1 += dxh;
        s2 += dxh * (x[c] - m) * r;
    }
    s1 /= (double)C;
    s2 /= (double)C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
        const double dxh = dy[c] * (g ? off + (double)g[c] : g0);
        dx[c] += (float)(r * (dxh - s1 - (x[c] - m) * r * s2));
    }
}

/* Columns of a per-feature gain's gradient one thread sums: 16 floats, a cache line of each row */
#define DGAIN_COLS 16

/* dg[c] += sum over rows i of dy * (x - sub[i]) * f[i] * scale for c in [c0, c0 + n), n <=
 * DGAIN_COLS (sub NULL: 0): the gain gradient of LayerNorm (sub mean, f rstd, scale 1) and of
 * RMSNorm (f rnorm, scale sqrt(C)), each column summed in the reference's order and arithmetic
 * (subtracting 0 and multiplying by 1 are exact: the same bits), the columns side by side so
 * that each row is read a cache line at a time instead of a float per line */
static void dgain_block(float *dg, const float *dout, const float *inp, const float *sub, const float *f, double scale,
                        int64_t N, int64_t C, int64_t c0, int64_t n) {
    double acc[DGAIN_COLS] = {0};
    for (int64_t i = 0; i < N; i++) {
        const float *dy = dout + i * C + c0, *x = inp + i * C + c0;
        const float si = sub ? sub[i] : 0.0f;
        const double fi = f[i];
#pragma omp simd
        for (int64_t j = 0; j < n; j++)
            acc[j] += (double)dy[j] * (x[j] - si) * fi * scale;
    }
    for (int64_t j = 0; j < n; j++)
        dg[c0 + j] += (float)acc[j];
}

static void dgain(float *dg, const float *dout, const float *inp, const float *sub, const float *f, double scale,
                  int64_t N, int64_t C) {
    const int64_t blocks = (C + DGAIN_COLS - 1) / DGAIN_COLS;
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t c0 = b * DGAIN_COLS;
        dgain_block(dg, dout, inp, sub, f, scale, N, C, c0, C - c0 < DGAIN_COLS ? C - c0 : DGAIN_COLS);
    }
}

void xtc_cpu_layernorm_backward(float *dinp, float *dgamma, const float *dout, const float *inp,
                                const struct xtc_norm_gain *gain, const float *mean, const float *rstd, int64_t N,
                                int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t i = 0; i < N; i++)
        layernorm_backward_row(dinp + i * C, dout + i * C, inp + i * C, gain, mean[i], rstd[i], C);
    if (!dgamma || !gain->g)
        return;
    if (gain->scalar) { /* one sum into one float: no split that would not race */
        xtc_ref_layernorm_dgamma_cols(dgamma, dout, inp, mean, rstd, N, C, true, 0, C);
        return;
    }
    dgain(dgamma, dout, inp, mean, rstd, 1.0, N, C);
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

/* dx += the gradient of one row: the reference's arithmetic, its sums as `omp simd` reductions */
static void rmsnorm_backward_row(float *dx, const float *dy, const float *x, const struct xtc_norm_gain *gain, double r,
                                 int64_t C) {
    const float *restrict g = gain->g && !gain->scalar ? gain->g : NULL;
    const double off = gain->offset, g0 = xtc_norm_gain_at(gain, 0), scale = sqrt((double)C);
    double dot = 0, ss = 0;
#pragma omp simd reduction(+ : dot, ss)
    for (int64_t c = 0; c < C; c++) {
        dot += dy[c] * (g ? off + (double)g[c] : g0) * x[c];
        ss += (double)x[c] * x[c];
    }
    const bool clamped = sqrt(ss) <= 1e-12; /* r is then a constant: no term through the norm */
    const double k = clamped ? 0.0 : r * r * dot;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
        const double v = dy[c] * (g ? off + (double)g[c] : g0);
        dx[c] += (float)(scale * r * (v - x[c] * k));
    }
}

void xtc_cpu_rmsnorm_backward(float *dinp, float *dg, const float *dout, const float *inp,
                              const struct xtc_norm_gain *gain, const float *rnorm, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (N * C > 32768)
    for (int64_t i = 0; i < N; i++)
        rmsnorm_backward_row(dinp + i * C, dout + i * C, inp + i * C, gain, rnorm[i], C);
    if (!dg || !gain->g)
        return;
    if (gain->scalar) { /* ScaleNorm: one sum into one float */
        xtc_ref_rmsnorm_dg_cols(dg, dout, inp, rnorm, N, C, true, 0, C);
        return;
    }
    dgain(dg, dout, inp, NULL, rnorm, sqrt((double)C), N, C);
}
