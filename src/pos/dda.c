/* Data-dependent ALiBi (x-transformers DataDependentAlibi and PerRowDataDependentAlibi, the
 * forgetting transformer's forget gates; pos.h has the formulas). Float32 as torch computes
 * it, except the cumulative sums, which accumulate in double as torch's CPU cumsum does. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "pos/pos.h"

/* torch's log_sigmoid: min(x, 0) - log1p(exp(-|x|)); its derivative sigmoid(-x) */
static inline float logsigmoidf(float x) { return fminf(x, 0.0f) - log1pf(expf(-fabsf(x))); }
static inline float sigmoid_negf(float x) { return 1.0f / (1.0f + expf(x)); }

int xtc_dda_out_features(const struct xtc_dda *d) {
    return d->per_row ? 2 * d->H * d->dh : (d->causal ? 1 : 2) * d->H;
}

void xtc_dda_gates(const struct xtc_dda *d, const float *y, int64_t B, int64_t T, float *c) {
    const int O = xtc_dda_out_features(d);
    for (int64_t b = 0; b < B; b++)
        for (int o = 0; o < O; o++) {
            double acc = 0;
            for (int64_t t = 0; t < T; t++) {
                acc += logsigmoidf(y[(b * T + t) * O + o]) * d->post_log_scale;
                c[(b * O + o) * T + t] = (float)acc;
            }
        }
}

void xtc_dda_gates_backward(const struct xtc_dda *d, const float *y, int64_t B, int64_t T, const float *dc,
                            float *dy) {
    const int O = xtc_dda_out_features(d);
    for (int64_t b = 0; b < B; b++)
        for (int o = 0; o < O; o++) {
            double acc = 0;
            for (int64_t t = T - 1; t >= 0; t--) {
                acc += dc[(b * O + o) * T + t];
                float yv = y[(b * T + t) * O + o];
                dy[(b * T + t) * O + o] = (float)acc * d->post_log_scale * sigmoid_negf(yv);
            }
        }
}

/* per row: f_j = post_log_scale * logsigmoid(q_i . k_j * dh^-0.5) of the gate head h */
static inline float row_gate(const struct xtc_dda *d, const float *yb, int h, int64_t i, int64_t j, float *z) {
    const int O = 2 * d->H * d->dh;
    const float *qv = yb + i * O + (int64_t)h * d->dh, *kv = yb + j * O + (int64_t)(d->H + h) * d->dh;
    float s = 0;
    for (int e = 0; e < d->dh; e++)
        s += qv[e] * kv[e];
    *z = s * d->scale;
    return logsigmoidf(*z) * d->post_log_scale;
}

void xtc_dda_add_row(const struct xtc_dda *d, int64_t b, int h, int64_t i, int64_t n, float *row) {
    const int64_t T = d->T;
    if (d->per_row) {
        /* bias_j = sum_{j <= j' < i} f_j' (the gates on and above the diagonal are masked to 0) */
        const float *yb = d->table + b * T * 2 * d->H * d->dh;
        double acc = 0;
        float z;
        for (int64_t j = (i < n ? i : n) - 1; j >= 0; j--) {
            acc += row_gate(d, yb, h, i, j, &z);
            row[j] += (float)acc;
        }
        return;
    }
    const int O = xtc_dda_out_features(d);
    const float *c = d->table + (b * O + h) * T;
    if (d->causal) {
        for (int64_t j = 0; j < n; j++)
            row[j] += c[i] - c[j];
        return;
    }
    /* bidirectional: tril(c_i - c_j) + triu(r_j - r_i), r the second half of the gates */
    const float *r = d->table + (b * O + d->H + h) * T;
    for (int64_t j = 0; j < n; j++)
        row[j] += j < i ? c[i] - c[j] : j > i ? r[j] - r[i] : (c[i] - c[i]) + (r[i] - r[i]);
}

void xtc_dda_grad_row(const struct xtc_dda *d, int64_t b, int h, int64_t i, int64_t n, const float *drow) {
    const int64_t T = d->T;
    if (d->per_row) {
        const int O = 2 * d->H * d->dh;
        const float *yb = d->table + b * T * O;
        float *dyb = d->dtable + b * T * O;
        /* d f_j' = sum_{j <= j'} drow_j, for j' < i */
        double acc = 0;
        for (int64_t j = 0; j < i && j < n; j++) {
            acc += drow[j];
            float z;
            row_gate(d, yb, h, i, j, &z);
            float dz = (float)acc * d->post_log_scale * sigmoid_negf(z) * d->scale;
            const float *qv = yb + i * O + (int64_t)h * d->dh, *kv = yb + j * O + (int64_t)(d->H + h) * d->dh;
            float *dqv = dyb + i * O + (int64_t)h * d->dh, *dkv = dyb + j * O + (int64_t)(d->H + h) * d->dh;
            for (int e = 0; e < d->dh; e++) {
                dqv[e] += dz * kv[e];
                dkv[e] += dz * qv[e];
            }
        }
        return;
    }
    const int O = xtc_dda_out_features(d);
    float *dc = d->dtable + (b * O + h) * T;
    if (d->causal) {
        double s = 0;
        for (int64_t j = 0; j < n; j++) {
            s += drow[j];
            dc[j] -= drow[j];
        }
        dc[i] += (float)s;
        return;
    }
    float *dr = d->dtable + (b * O + d->H + h) * T;
    for (int64_t j = 0; j < n; j++) {
        if (j < i) {
            dc[i] += drow[j];
            dc[j] -= drow[j];
        } else if (j > i) {
            dr[j] += drow[j];
            dr[i] -= drow[j];
        }
    }
}
