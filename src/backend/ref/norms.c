/* LayerNorm, RMSNorm and l2 normalisation, reference kernels: one row at a time, sums in
 * double. LayerNorm as x-transformers 2.x defines it (reference B.2): no bias, eps 1e-5,
 * times the gain (struct xtc_norm_gain: the stack's unit-offset gamma + 1, or the
 * post-activation LayerNorm's gamma). RMSNorm: x / max(||x||, 1e-12) * sqrt(C) * gain, not the
 * eps-inside-the-sqrt RMSNorm of Llama; ScaleNorm (one scalar gain) and SimpleRMSNorm (none)
 * are the same kernel. The backward kernels take row / feature ranges so that the cpu backend
 * runs them in parallel. */
#include <math.h>

#include "backend/ref/ref.h"

void xtc_ref_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const struct xtc_norm_gain *gain,
                               int64_t N, int64_t C) {
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
        for (int64_t c = 0; c < C; c++)
            out[i * C + c] = (float)((x[c] - m) * r * xtc_norm_gain_at(gain, c));
        if (mean)
            mean[i] = (float)m;
        if (rstd)
            rstd[i] = (float)r;
    }
}

void xtc_ref_layernorm_backward_rows(float *dinp, const float *dout, const float *inp, const struct xtc_norm_gain *gain,
                                     const float *mean, const float *rstd, int64_t C, int64_t i0, int64_t i1) {
    /* y = xhat * gain, xhat = (x - mean) * rstd
     * dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * gain */
    for (int64_t i = i0; i < i1; i++) {
        const float *x = inp + i * C, *dy = dout + i * C;
        double m = mean[i], r = rstd[i], s1 = 0, s2 = 0;
        for (int64_t c = 0; c < C; c++) {
            double dxh = dy[c] * xtc_norm_gain_at(gain, c);
            s1 += dxh;
            s2 += dxh * (x[c] - m) * r;
        }
        s1 /= (double)C;
        s2 /= (double)C;
        float *dx = dinp + i * C;
        for (int64_t c = 0; c < C; c++) {
            double xh = (x[c] - m) * r;
            double dxh = dy[c] * xtc_norm_gain_at(gain, c);
            dx[c] += (float)(r * (dxh - s1 - xh * s2));
        }
    }
}

void xtc_ref_layernorm_dgamma_cols(float *dgamma, const float *dout, const float *inp, const float *mean,
                                   const float *rstd, int64_t N, int64_t C, bool scalar, int64_t c0, int64_t c1) {
    /* dgamma += dy * xhat, summed over rows per feature (and over features when scalar) */
    double all = 0;
    for (int64_t c = c0; c < c1; c++) {
        double g = 0;
        for (int64_t i = 0; i < N; i++)
            g += (double)dout[i * C + c] * (inp[i * C + c] - mean[i]) * rstd[i];
        if (scalar)
            all += g;
        else
            dgamma[c] += (float)g;
    }
    if (scalar)
        dgamma[0] += (float)all;
}

void xtc_ref_layernorm_backward(float *dinp, float *dgamma, const float *dout, const float *inp,
                                const struct xtc_norm_gain *gain, const float *mean, const float *rstd, int64_t N,
                                int64_t C) {
    xtc_ref_layernorm_backward_rows(dinp, dout, inp, gain, mean, rstd, C, 0, N);
    if (dgamma && gain->g)
        xtc_ref_layernorm_dgamma_cols(dgamma, dout, inp, mean, rstd, N, C, gain->scalar, 0, C);
}

/* 1 / max(||x||, 1e-12) of a row of C values (F.normalize's clamp), summed in double */
static double inv_norm(const float *x, int64_t C) {
    double ss = 0;
    for (int64_t c = 0; c < C; c++)
        ss += (double)x[c] * x[c];
    double norm = sqrt(ss);
    return 1.0 / (norm > 1e-12 ? norm : 1e-12);
}

void xtc_ref_rmsnorm_forward(float *out, float *rnorm, const float *inp, const struct xtc_norm_gain *gain, int64_t N,
                             int64_t C) {
    double scale = sqrt((double)C);
    for (int64_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        double r = inv_norm(x, C);
        for (int64_t c = 0; c < C; c++)
            out[i * C + c] = (float)(x[c] * r * scale * xtc_norm_gain_at(gain, c));
        if (rnorm)
            rnorm[i] = (float)r;
    }
}

void xtc_ref_rmsnorm_backward_rows(float *dinp, const float *dout, const float *inp, const struct xtc_norm_gain *gain,
                                   const float *rnorm, int64_t C, int64_t i0, int64_t i1) {
    /* y = x * r * sqrt(C) * gain, r = 1 / ||x|| (constant once the 1e-12 clamp is active)
     * dx = sqrt(C) * r * (dy gain - x r^2 sum(dy gain x)) */
    double scale = sqrt((double)C);
    for (int64_t i = i0; i < i1; i++) {
        const float *x = inp + i * C, *dy = dout + i * C;
        double r = rnorm[i], dot = 0, ss = 0;
        for (int64_t c = 0; c < C; c++) {
            dot += dy[c] * xtc_norm_gain_at(gain, c) * x[c];
            ss += (double)x[c] * x[c];
        }
        bool clamped = sqrt(ss) <= 1e-12;
        float *dx = dinp + i * C;
        for (int64_t c = 0; c < C; c++) {
            double v = dy[c] * xtc_norm_gain_at(gain, c);
            if (!clamped)
                v -= x[c] * r * r * dot;
            dx[c] += (float)(scale * r * v);
        }
    }
}

void xtc_ref_rmsnorm_dg_cols(float *dg, const float *dout, const float *inp, const float *rnorm, int64_t N, int64_t C,
                             bool scalar, int64_t c0, int64_t c1) {
    double scale = sqrt((double)C), all = 0;
    for (int64_t c = c0; c < c1; c++) {
        double s = 0;
        for (int64_t i = 0; i < N; i++)
            s += (double)dout[i * C + c] * inp[i * C + c] * rnorm[i] * scale;
        if (scalar)
            all += s;
        else
            dg[c] += (float)s;
    }
    if (scalar)
        dg[0] += (float)all;
}

void xtc_ref_rmsnorm_backward(float *dinp, float *dg, const float *dout, const float *inp,
                              const struct xtc_norm_gain *gain, const float *rnorm, int64_t N, int64_t C) {
    xtc_ref_rmsnorm_backward_rows(dinp, dout, inp, gain, rnorm, C, 0, N);
    if (dg && gain->g)
        xtc_ref_rmsnorm_dg_cols(dg, dout, inp, rnorm, N, C, gain->scalar, 0, C);
}

void xtc_ref_l2norm_rows(float *x, int64_t N, int64_t C) {
    for (int64_t i = 0; i < N; i++) {
        float *row = x + i * C;
        double r = inv_norm(row, C);
        for (int64_t c = 0; c < C; c++)
            row[c] = (float)(row[c] * r);
    }
}

void xtc_ref_l2norm_backward(float *dx, const float *x, int64_t N, int64_t C) {
    /* y = x / n  =>  dx = (dy - y (y . dy)) / n, n = max(||x||, 1e-12) */
    for (int64_t i = 0; i < N; i++) {
        const float *row = x + i * C;
        float *d = dx + i * C;
        double ss = 0, dot = 0;
        for (int64_t c = 0; c < C; c++)
            ss += (double)row[c] * row[c];
        double n = sqrt(ss);
        bool clamped = n <= 1e-12;
        n = clamped ? 1e-12 : n;
        for (int64_t c = 0; c < C; c++)
            dot += (double)d[c] * row[c] / n;
        for (int64_t c = 0; c < C; c++)
            d[c] = (float)((d[c] - (clamped ? 0.0 : row[c] / n * dot)) / n);
    }
}
