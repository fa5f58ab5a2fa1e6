/* AdamW update and gradient-norm sums, reference kernels (torch.optim.AdamW single-tensor
 * path, torch.nn.utils.clip_grad_norm_). The ranges let the cpu backend split them. */
#include <math.h>

#include "backend/ref/ref.h"

void xtc_ref_adamw_range(float *params, const float *grads, float *m, float *v, const struct xtc_adamw_consts *k,
                         size_t i0, size_t i1) {
    /* locals: the stores below may not alias them, so the loop vectorizes */
    const float b1 = k->beta1, b2 = k->beta2, eps = k->eps, decay = k->decay, step = k->step_size, bc = k->bc2_sqrt;
    for (size_t i = i0; i < i1; i++) {
        float g = grads[i];
        float p = params[i] * decay;
        m[i] = m[i] * b1 + (1.0f - b1) * g; /* lerp_(grad, 1 - beta1) */
        v[i] = v[i] * b2 + (1.0f - b2) * g * g;
        float denom = sqrtf(v[i]) / bc + eps;
        params[i] = p - step * (m[i] / denom);
    }
}

void xtc_ref_adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                          const struct xtc_adamw_consts *k) {
    xtc_ref_adamw_range(params, grads, m, v, k, 0, n);
}

double xtc_ref_sumsq_chunk(const float *grads, size_t n, size_t c) {
    size_t i0 = c * XTC_NORM_CHUNK, i1 = i0 + XTC_NORM_CHUNK < n ? i0 + XTC_NORM_CHUNK : n;
    double s = 0;
    for (size_t i = i0; i < i1; i++)
        s += (double)grads[i] * grads[i];
    return s;
}

double xtc_ref_grad_sumsq(const float *grads, size_t n) {
    /* fixed chunks summed in chunk order: the same result as the cpu backend's for any thread count */
    double ss = 0;
    for (size_t c = 0; c < (n + XTC_NORM_CHUNK - 1) / XTC_NORM_CHUNK; c++)
        ss += xtc_ref_sumsq_chunk(grads, n, c);
    return ss;
}

void xtc_ref_grad_scale(float *grads, size_t n, float c) {
    for (size_t i = 0; i < n; i++)
        grads[i] *= c;
}
