/* Attention (x-transformers Attention + Attend, reference B.3 / B.10): the plain
 * row-at-a-time version that every faster kernel is tested against. One query
 * row's logits live in a per-thread scratch row, so memory is O(S) per thread,
 * never a T x S matrix. */
#include "attn/attention.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "pos/pos.h"

static inline float dot(const float *restrict a, const float *restrict b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static inline float bias_at(const struct xtc_attn_bias *bias, int64_t b, int h, int64_t i, int64_t j, int64_t S,
                            int64_t T) {
    int64_t qp, kp;
    if (bias->pos) {
        const int64_t *pb = bias->pos + (bias->pos_batched ? b * T : 0);
        qp = pb[i];
        kp = pb[j];
    } else {
        qp = S - T + i;
        kp = j;
    }
    int64_t rel = kp - qp;
    if (bias->kind == XTC_BIAS_ALIBI)
        return -bias->slopes[h] * (float)(rel < 0 ? -rel : rel);
    return bias->t5[(int64_t)h * (2 * S - 1) + rel + S - 1];
}

void xtc_attention_forward(float *out, const float *q, const float *k, const float *v,
                           const struct xtc_attn_params *p, float *scratch) {
    const int64_t B = p->B, T = p->T, S = p->S, K = p->K;
    const int H = p->H, G = p->G, D = p->D;
    const int64_t qstride = (int64_t)H * D, kstride = (int64_t)G * D;
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            float *row = scratch + (int64_t)omp_get_thread_num() * (K + S);
            int hk = h % G;
            const uint8_t *km = p->key_mask ? p->key_mask + b * S : NULL;
            bool any_key = !km;
            for (int64_t j = 0; km && j < S; j++)
                any_key |= km[j] != 0;
            for (int64_t i = 0; i < T; i++) {
                float *o = out + (b * T + i) * qstride + (int64_t)h * D;
                if (!any_key || (p->query_mask && !p->query_mask[b * T + i])) {
                    memset(o, 0, sizeof(float) * (size_t)D);
                    continue;
                }
                const float *qv = q + (b * T + i) * qstride + (int64_t)h * D;
                /* memory key/values: never masked, zero positional bias */
                for (int64_t j = 0; j < K; j++)
                    row[j] = dot(qv, p->mem_k + ((int64_t)hk * K + j) * D, D) * p->scale;
                int64_t last = p->causal ? i + S - T : S - 1; /* last visible key */
                float mx = -FLT_MAX;
                for (int64_t j = 0; j < S; j++) {
                    float s;
                    if (j > last || (km && !km[j])) {
                        s = -FLT_MAX;
                    } else {
                        s = dot(qv, k + (b * S + j) * kstride + (int64_t)hk * D, D) * p->scale;
                        if (p->bias.kind != XTC_BIAS_NONE)
                            s += bias_at(&p->bias, b, h, i, j, S, T);
                    }
                    row[K + j] = s;
                }
                for (int64_t j = 0; j < K + S; j++)
                    mx = row[j] > mx ? row[j] : mx;
                double sum = 0;
                for (int64_t j = 0; j < K + S; j++) {
                    row[j] = expf(row[j] - mx);
                    sum += row[j];
                }
                float inv = (float)(1.0 / sum);
                memset(o, 0, sizeof(float) * (size_t)D);
                for (int64_t j = 0; j < K + S; j++) {
                    float w = row[j] * inv;
                    if (w == 0.0f)
                        continue;
                    const float *vv = j < K ? p->mem_v + ((int64_t)hk * K + j) * D
                                            : v + (b * S + (j - K)) * kstride + (int64_t)hk * D;
                    for (int d = 0; d < D; d++)
                        o[d] += w * vv[d];
                }
            }
        }
    }
}

void xtc_t5_table_fill(float *table, const float *emb, int H, int64_t S, bool causal, int num_buckets,
                       int max_distance, float scale) {
    for (int64_t r = 0; r < 2 * S - 1; r++) {
        int bucket = xtc_t5_bucket(r - (S - 1), causal, num_buckets, max_distance);
        for (int h = 0; h < H; h++)
            table[(int64_t)h * (2 * S - 1) + r] = emb[(int64_t)bucket * H + h] * scale;
    }
}
