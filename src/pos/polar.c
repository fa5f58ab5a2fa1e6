/* Polar positional embedding (PoPE, arXiv 2509.10534), x-transformers PolarEmbedding +
 * apply_polar_pos_emb: a head vector x (D) at position p becomes
 *     [softplus(x) * cos(a) ; softplus(x) * sin(a)]   (2 D),
 * a[d] = p * inv_freq[d] for queries and p * inv_freq[d] + phase[h][d] for keys, with
 * inv_freq[d] = 1 / 10000^(d / D) over all D features (not D / 2 as rotary) and phase the
 * learned bias (heads, 1, D) clamped to [-2 pi, 0]. The logit of query i and key j is then
 * sum_d softplus(q_d) softplus(k_d) cos(a_i[d] - a_j[d]) times the usual dim_head^-0.5.
 * Everything in float32 as torch computes it: the angle p * inv_freq is one float product,
 * the key's phase one float sum. */
#include <math.h>
#include <stdlib.h>

#include "core/status.h"
#include "pos/pos.h"

#define TWO_PI 6.283185307179586

xtc_status xtc_polar_init(struct xtc_polar *pp, int dim_head, struct xtc_error *err) {
    pp->D = dim_head;
    pp->inv_freq = malloc(sizeof(float) * (size_t)dim_head);
    if (!pp->inv_freq)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the polar frequencies");
    /* 1. / (base ** (arange(0, dim).float() / dim)): float32 quotient, power and reciprocal */
    for (int d = 0; d < dim_head; d++)
        pp->inv_freq[d] = 1.0f / powf(10000.0f, (float)d / (float)dim_head);
    return XTC_OK;
}

void xtc_polar_free(struct xtc_polar *pp) {
    free(pp->inv_freq);
    pp->inv_freq = NULL;
}

/* learned_bias.clamp(-2 pi, 0) */
static inline float clamp_phase(float b) {
    const float lo = (float)-TWO_PI;
    return b < lo ? lo : b > 0.0f ? 0.0f : b;
}

/* F.softplus (beta 1, threshold 20: the identity above it) and its derivative */
static inline float softplus(float x) {
    return x > 20.0f ? x : log1pf(expf(x));
}
static inline float softplus_grad(float x) {
    return x > 20.0f ? 1.0f : 1.0f / (1.0f + expf(-x));
}

static inline float angle(const struct xtc_polar *pp, int64_t pos, const float *phase, int d) {
    float a = (float)pos * pp->inv_freq[d];
    return phase ? a + clamp_phase(phase[d]) : a;
}

void xtc_polar_apply(const struct xtc_polar *pp, float *out, const float *x, int64_t pos, const float *phase) {
    const int D = pp->D;
    for (int d = 0; d < D; d++) {
        float s = softplus(x[d]), a = angle(pp, pos, phase, d);
        /* float32 cos / sin of the float32 angle, as torch takes them (glibc's are within 1 ulp; the
         * double versions cost twice the decoding step) */
        out[d] = s * cosf(a);
        out[D + d] = s * sinf(a);
    }
}

void xtc_polar_backward(const struct xtc_polar *pp, float *dx, const float *dout, const float *x, int64_t pos,
                        const float *phase, float *dphase) {
    const int D = pp->D;
    for (int d = 0; d < D; d++) {
        const float a = angle(pp, pos, phase, d);
        const double c = cosf(a), sn = sinf(a);
        double dc = dout[d], ds = dout[D + d];
        dx[d] += (float)(softplus_grad(x[d]) * (dc * c + ds * sn));
        /* clamp passes the gradient where the phase lies inside [-2 pi, 0], ends included (torch) */
        if (dphase && phase[d] >= (float)-TWO_PI && phase[d] <= 0.0f)
            dphase[d] += (float)(softplus(x[d]) * (ds * c - dc * sn));
    }
}
