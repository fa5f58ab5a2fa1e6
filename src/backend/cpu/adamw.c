/* AdamW update and gradient-norm sums on the CPU: the reference kernels
 * (backend/ref/adamw.c) over parallel ranges; the sum of squares keeps the reference's
 * fixed chunks summed in chunk order, so it is the same for any thread count, which keeps
 * resumed runs bit-identical. */
#include <omp.h>

#include "backend/cpu/cpu.h"
#include "backend/ref/ref.h"
#include "core/threads.h"

void xtc_cpu_adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                          const struct xtc_adamw_consts *k) {
#pragma omp parallel if (n > 65536)
    {
        int64_t lo, hi;
        xtc_thread_range((int64_t)n, omp_get_num_threads(), omp_get_thread_num(), 16, &lo, &hi);
        xtc_ref_adamw_range(params, grads, m, v, k, (size_t)lo, (size_t)hi);
    }
}

double xtc_cpu_grad_sumsq(const float *grads, size_t n) {
    size_t n_chunks = (n + XTC_NORM_CHUNK - 1) / XTC_NORM_CHUNK;
    double ss = 0;
    double part[64];
    for (size_t c0 = 0; c0 < n_chunks; c0 += 64) {
        size_t c1 = c0 + 64 < n_chunks ? c0 + 64 : n_chunks;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (size_t c = c0; c < c1; c++)
            part[c - c0] = xtc_ref_sumsq_chunk(grads, n, c);
        for (size_t c = c0; c < c1; c++)
            ss += part[c - c0];
    }
    return ss;
}

void xtc_cpu_grad_scale(float *grads, size_t n, float c) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++)
        grads[i] *= c;
}
