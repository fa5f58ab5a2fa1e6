/* Rotary position embedding (RoFormer), XPOS (Sun et al. 2022), position
 * interpolation (Chen et al. 2023) and NTK-aware base rescaling, as in
 * x-transformers' RotaryEmbedding and apply_rotary_pos_emb.
 *
 * Angles are built in float32 exactly as torch does ((float)pos * inv_freq,
 * then / interpolation_factor) so that checkpoints match to the last bits;
 * cos/sin themselves are evaluated in double and rounded once. */
#include "pos/pos.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/status.h"

/* cos/sin of positions [lo, hi), n_freq each: trigonometry once per position, not once per call */
struct xtc_rotary_cache {
    int64_t lo, hi;
    float *cos, *sin;
};

#define CACHE_MAX_POSITIONS (1 << 16)

static bool cache_build(struct xtc_rotary *r, int64_t lo, int64_t hi);

xtc_status xtc_rotary_init(struct xtc_rotary *r, const struct xtc_rotary_config *c, struct xtc_error *err) {
    *r = (struct xtc_rotary){0};
    int rd = c->rotary_emb_dim;
    if (rd < 1)
        XTC_FAIL(err, XTC_ERR_CONFIG, "rotary_emb_dim must be at least 1 (got %d)", rd);
    if (!(c->base > 0))
        XTC_FAIL(err, XTC_ERR_CONFIG, "rotary base must be positive (got %g)", c->base);
    if (!(c->interpolation_factor >= 1.0))
        XTC_FAIL(err, XTC_ERR_CONFIG, "rotary_interpolation_factor must be >= 1 (got %g)", c->interpolation_factor);
    if (!(c->base_rescale_factor > 0))
        XTC_FAIL(err, XTC_ERR_CONFIG, "rotary_base_rescale_factor must be positive (got %g)", c->base_rescale_factor);
    if (c->xpos && !(c->xpos_scale_base > 0))
        XTC_FAIL(err, XTC_ERR_CONFIG, "rotary_xpos_scale_base must be positive (got %g)", c->xpos_scale_base);
    double base = c->base;
    if (c->base_rescale_factor != 1.0) {
        /* x-transformers raises ZeroDivisionError here for r == 2 even with factor 1;
         * xtc only needs the exponent when the factor is not 1. */
        if (rd == 2)
            XTC_FAIL(err, XTC_ERR_CONFIG, "rotary_base_rescale_factor needs rotary_emb_dim > 2 (exponent r/(r-2))");
        base *= pow(c->base_rescale_factor, (double)rd / (double)(rd - 2));
    }
    int n = (rd + 1) / 2;
    r->n_freq = n;
    r->rot_dim = 2 * n;
    r->interp = (float)c->interpolation_factor;
    r->xpos_scale_base = (float)c->xpos_scale_base;
    r->layout = c->layout;
    r->inv_freq = malloc(sizeof(float) * (size_t)n);
    if (!r->inv_freq)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the rotary tables");
    /* torch: 1. / (base ** (arange(0, r, 2).float() / r)), base a python float */
    float fbase = (float)base;
    for (int k = 0; k < n; k++) {
        float e = (float)(2 * k) / (float)rd;
        r->inv_freq[k] = 1.0f / powf(fbase, e);
    }
    if (c->xpos) {
        r->xpos_scale = malloc(sizeof(float) * (size_t)n);
        if (!r->xpos_scale) {
            xtc_rotary_free(r);
            XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the rotary tables");
        }
        /* (arange(0, r, 2) + 0.4 * r) / (1.4 * r) */
        for (int k = 0; k < n; k++)
            r->xpos_scale[k] = (float)((2.0 * k + 0.4 * rd) / (1.4 * rd));
    }
    if (!cache_build(r, c->cache_lo, c->cache_hi)) {
        xtc_rotary_free(r);
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the rotary cos/sin tables for positions %lld..%lld",
                 (long long)c->cache_lo, (long long)c->cache_hi - 1);
    }
    return XTC_OK;
}

void xtc_rotary_free(struct xtc_rotary *r) {
    if (!r)
        return;
    free(r->inv_freq);
    free(r->xpos_scale);
    if (r->cache) {
        free(r->cache->cos);
        free(r->cache->sin);
        free(r->cache);
    }
    r->inv_freq = r->xpos_scale = NULL;
    r->cache = NULL;
}

void xtc_rotary_cos_sin(const struct xtc_rotary *r, int64_t pos, float *cos_out, float *sin_out) {
    float p = (float)pos;
    for (int k = 0; k < r->n_freq; k++) {
        float theta = (p * r->inv_freq[k]) / r->interp;
        cos_out[k] = (float)cos((double)theta);
        sin_out[k] = (float)sin((double)theta);
    }
}

void xtc_rotary_xpos(const struct xtc_rotary *r, int64_t pos, int64_t half, float sign, float *factor) {
    /* power = (t - max_pos // 2) / scale_base in float32; scale ** power (** -1 for keys) */
    float power = (float)(pos - half) / r->xpos_scale_base;
    for (int k = 0; k < r->n_freq; k++) {
        float f = (float)pow((double)r->xpos_scale[k], (double)power);
        factor[k] = sign > 0 ? f : 1.0f / f;
    }
}

void xtc_rotary_rotate(float *x, const float *cos, const float *sin, const float *factor, int n_freq,
                       enum xtc_rope_layout layout) {
    int stride = layout == XTC_ROPE_INTERLEAVED ? 2 : 1;
    int other = layout == XTC_ROPE_INTERLEAVED ? 1 : n_freq;
    for (int k = 0; k < n_freq; k++) {
        float *a = x + k * stride, *b = a + other;
        float f = factor ? factor[k] : 1.0f;
        /* t * cos * scale + rotate_half(t) * sin * scale */
        float ya = *a * cos[k] * f + (-*b) * sin[k] * f;
        float yb = *b * cos[k] * f + (*a) * sin[k] * f;
        *a = ya;
        *b = yb;
    }
}

/* cos/sin of positions [lo, hi) at init (clamped to CACHE_MAX_POSITIONS); false when out of memory. */
static bool cache_build(struct xtc_rotary *r, int64_t lo, int64_t hi) {
    if (hi - lo > CACHE_MAX_POSITIONS)
        hi = lo + CACHE_MAX_POSITIONS;
    if (hi <= lo)
        return true;
    struct xtc_rotary_cache *n = calloc(1, sizeof *n);
    size_t count = (size_t)(hi - lo) * (size_t)r->n_freq;
    if (n) {
        n->cos = malloc(sizeof(float) * count);
        n->sin = malloc(sizeof(float) * count);
    }
    if (!n || !n->cos || !n->sin) {
        if (n)
            free(n->cos), free(n->sin);
        free(n);
        return false;
    }
    for (int64_t p = lo; p < hi; p++)
        xtc_rotary_cos_sin(r, p, n->cos + (p - lo) * r->n_freq, n->sin + (p - lo) * r->n_freq);
    n->lo = lo, n->hi = hi;
    r->cache = n;
    return true;
}

static bool cache_covers(const struct xtc_rotary *r, int64_t lo, int64_t hi) {
    return r->cache && lo >= r->cache->lo && hi <= r->cache->hi;
}

void xtc_rotary_table_fill(const struct xtc_rotary *r, const int64_t *pos, int64_t n_pos, int64_t xpos_half, float *cos,
                           float *sin, float *qfac, float *kfac) {
    int nf = r->n_freq;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (int64_t i = 0; i < n_pos; i++) {
        lo = pos[i] < lo ? pos[i] : lo;
        hi = pos[i] + 1 > hi ? pos[i] + 1 : hi;
    }
    bool cached = n_pos > 0 && cache_covers(r, lo, hi);
    for (int64_t i = 0; i < n_pos; i++) {
        if (cached) {
            memcpy(cos + i * nf, r->cache->cos + (pos[i] - r->cache->lo) * nf, sizeof(float) * (size_t)nf);
            memcpy(sin + i * nf, r->cache->sin + (pos[i] - r->cache->lo) * nf, sizeof(float) * (size_t)nf);
        } else {
            xtc_rotary_cos_sin(r, pos[i], cos + i * nf, sin + i * nf);
        }
        if (r->xpos_scale && qfac)
            xtc_rotary_xpos(r, pos[i], xpos_half, 1.0f, qfac + i * nf);
        if (r->xpos_scale && kfac)
            xtc_rotary_xpos(r, pos[i], xpos_half, -1.0f, kfac + i * nf);
    }
}

int64_t xtc_rotary_xpos_half(const int64_t *pos, int64_t n) {
    int64_t mx = INT64_MIN;
    for (int64_t i = 0; i < n; i++)
        mx = pos[i] > mx ? pos[i] : mx;
    int64_t P = mx + 1;
    /* python floor division (max_pos // 2) also for negative P */
    return P >= 0 ? P / 2 : -((-P + 1) / 2);
}

void xtc_rotary_tables_fill(const struct xtc_rotary *r, struct xtc_rotary_tables *rt, const int64_t *pos,
                            int64_t first, int64_t *pos_out) {
    int64_t n = rt->nb * rt->Lp;
    if (pos)
        memcpy(pos_out, pos, sizeof(int64_t) * (size_t)n);
    else
        for (int64_t j = 0; j < n; j++)
            pos_out[j] = first + j;
    int64_t half = xtc_rotary_xpos_half(pos_out, n);
    xtc_rotary_table_fill(r, pos_out, n, half, rt->cos, rt->sin, rt->qfac, rt->kfac);
    if (!r->xpos_scale)
        rt->qfac = rt->kfac = NULL;
}

struct rotate_rows {
    const struct xtc_rotary *r;
    float *x;
    int64_t L;
    int nh, h0, D;
    const struct xtc_rotary_tables *rt;
    bool keys;
    float sign;
};

/* positions [lo, hi) of the B * L (batch row, position) pairs */
static void rotate_rows_range(void *arg, int64_t lo, int64_t hi, int tid) {
    const struct rotate_rows *a = arg;
    const struct xtc_rotary_tables *rt = a->rt;
    const int nf = a->r->n_freq;
    const float *fac = a->keys ? rt->kfac : rt->qfac;
    (void)tid;
    for (int64_t bj = lo; bj < hi; bj++) {
        int64_t t = xtc_rotary_table_row(rt, bj / a->L, a->L, bj % a->L);
        const float *sn = rt->sin + t * nf;
        float tmp[nf > 0 ? nf : 1];
        if (a->sign < 0) {
            for (int f = 0; f < nf; f++)
                tmp[f] = -sn[f];
            sn = tmp;
        }
        for (int h = a->h0; h < a->nh; h++)
            xtc_rotary_rotate(a->x + (bj * a->nh + h) * a->D, rt->cos + t * nf, sn, fac ? fac + t * nf : NULL, nf,
                              a->r->layout);
    }
}

void xtc_rotary_rotate_rows(const struct xtc_rotary *r, float *x, int64_t B, int64_t L, int nh, int h0, int D,
                            const struct xtc_rotary_tables *rt, bool keys, float sign) {
    struct rotate_rows a = {.r = r, .x = x, .L = L, .nh = nh, .h0 = h0, .D = D, .rt = rt, .keys = keys, .sign = sign};
    xtc_backend_get()->parallel_for(B * L, B * L * nh * D > 32768, rotate_rows_range, &a);
}

void xtc_rotary_rotate_head(const struct xtc_rotary *r, float *x, const struct xtc_rotary_tables *rt, int64_t b,
                            int64_t L, int64_t j, bool keys) {
    int nf = r->n_freq;
    int64_t t = xtc_rotary_table_row(rt, b, L, j);
    const float *fac = keys ? rt->kfac : rt->qfac;
    xtc_rotary_rotate(x, rt->cos + t * nf, rt->sin + t * nf, fac ? fac + t * nf : NULL, nf, r->layout);
}
