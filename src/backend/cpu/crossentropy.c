/* Cross-entropy on the CPU (F.cross_entropy with ignore_index, mean over kept targets;
 * definitions as in backend/ref/crossentropy.c). Rows run in parallel; per-thread sums are
 * combined in thread order, so the loss is reproducible for a given thread count (exact
 * resume needs that). exp is summed in float with the vectorizable exp of vec.h. */
#include <math.h>
#include <omp.h>

#include "backend/cpu/cpu.h"
#include "backend/cpu/vec.h"
#include "backend/ref/ref.h"

#define MAX_THREADS 256

/* log-sum-exp of one row (max subtracted) */
static double row_lse(const float *row, int64_t V) {
    float mx = row[0];
    for (int64_t v = 1; v < V; v++)
        mx = row[v] > mx ? row[v] : mx;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t v = 0; v < V; v++)
        s += xtc_vec_expf(row[v] - mx);
    return mx + log((double)s);
}

double xtc_cpu_crossentropy_forward(const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                    int64_t ignore_index, int64_t *n_kept) {
    double part[MAX_THREADS] = {0};
    int64_t kept_part[MAX_THREADS] = {0};
    int nth = omp_get_max_threads() < MAX_THREADS ? omp_get_max_threads() : MAX_THREADS;
#pragma omp parallel num_threads(nth) if (N * V > 65536)
    {
        int t = omp_get_thread_num();
#pragma omp for schedule(static)
        for (int64_t i = 0; i < N; i++) {
            if (targets[i] == ignore_index)
                continue;
            const float *row = logits + i * V;
            part[t] += row_lse(row, V) - row[targets[i]];
            kept_part[t]++;
        }
    }
    double total = 0;
    int64_t kept = 0;
    for (int t = 0; t < nth; t++) {
        total += part[t];
        kept += kept_part[t];
    }
    if (n_kept)
        *n_kept = kept;
    return kept ? total / (double)kept : NAN;
}

void xtc_cpu_crossentropy_backward(float *dlogits, const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                   int64_t ignore_index, float scale) {
#pragma omp parallel for schedule(static) if (N * V > 65536)
    for (int64_t i = 0; i < N; i++) {
        float *d = dlogits + i * V;
        if (targets[i] == ignore_index) { /* zeros, as the reference writes them */
            xtc_ref_crossentropy_backward(d, logits + i * V, targets + i, 1, V, ignore_index, scale);
            continue;
        }
        const float *row = logits + i * V;
        float l = (float)row_lse(row, V);
#pragma omp simd
        for (int64_t v = 0; v < V; v++)
            d[v] = xtc_vec_expf(row[v] - l) * scale;
        d[targets[i]] -= scale;
    }
}
