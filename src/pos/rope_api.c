/* Public standalone RoPE (include/xtc/rope.h): rotate a strided 4-D view
 * x: (B, H, T, D) in F32, BF16 or F16.
 *
 * Shape letters: B batch, H heads, T sequence, D head_dim, R rotated features
 * (rot_dim), K = R / 2 frequencies.
 *
 * References: RoFormer (Su et al. 2021); x-transformers RotaryEmbedding +
 * apply_rotary_pos_emb (angles, interpolation, NTK rescale); the textbook
 * compute_rope(x, cos, sin) and precompute_rope_params of LLMs-from-scratch
 * (xtc_rope_apply_table, xtc_rope_tables).
 *
 * All angle and rotation arithmetic lives in rotary.c (xtc_rotary_init,
 * xtc_rotary_cos_sin, xtc_rotary_rotate); this file validates, gathers
 * per-position cos/sin rows once per call, and walks the strided views:
 * widen one head vector to float32 (exact), rotate it, round once, store. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/checked.h"
#include "core/status.h"
#include "pos/pos.h"
#include "xtc/backend.h"
#include "xtc/rope.h"

/* Below this many elements the OpenMP fork/join costs more than the work. */
#define ROPE_PARALLEL_MIN 65536

void xtc_rope_params_default(struct xtc_rope_params *p) {
    if (!p)
        return;
    p->rot_dim = 0;
    p->base = 10000.0;
    p->interpolation_factor = 1.0;
    p->base_rescale_factor = 1.0;
    p->layout = XTC_ROPE_HALF_SPLIT;
}

// --------------------------------------------------------------- strided access

static bool dtype_supported(enum xtc_dtype dt) {
    return dt == XTC_DTYPE_F32 || dt == XTC_DTYPE_BF16 || dt == XTC_DTYPE_F16;
}

/* Address of element off (in elements, may be negative) of a view. */
static char *elem_ptr(void *data, size_t esize, int64_t off) {
    return (char *)data + off * (int64_t)esize;
}

/* Widens n elements at stride s into dst (float32, exact). memcpy because
 * views over safetensors buffers may be unaligned. */
static void load_row(float *dst, const void *src, enum xtc_dtype dt, int64_t s, int n) {
    if (dt == XTC_DTYPE_F32) {
        for (int i = 0; i < n; i++)
            memcpy(&dst[i], (const char *)src + (int64_t)i * s * 4, 4);
        return;
    }
    for (int i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, (const char *)src + (int64_t)i * s * 2, 2);
        dst[i] = dt == XTC_DTYPE_BF16 ? xtc_bf16_to_f32(h) : xtc_f16_to_f32(h);
    }
}

/* Rounds n floats once to dt and stores them at stride s. */
static void store_row(void *dst, const float *src, enum xtc_dtype dt, int64_t s, int n) {
    if (dt == XTC_DTYPE_F32) {
        for (int i = 0; i < n; i++)
            memcpy((char *)dst + (int64_t)i * s * 4, &src[i], 4);
        return;
    }
    for (int i = 0; i < n; i++) {
        uint16_t h = dt == XTC_DTYPE_BF16 ? xtc_f32_to_bf16(src[i]) : xtc_f32_to_f16(src[i]);
        memcpy((char *)dst + (int64_t)i * s * 2, &h, 2);
    }
}

/* Pass-through features are copied bit for bit (never widened and narrowed,
 * which would rewrite NaN payloads), like torch.cat((t_rot, t_pass)). */
static void copy_row(void *dst, int64_t sd, const void *src, int64_t ss, size_t esize, int n) {
    for (int i = 0; i < n; i++)
        memcpy((char *)dst + (int64_t)i * sd * (int64_t)esize, (const char *)src + (int64_t)i * ss * (int64_t)esize,
               esize);
}

// --------------------------------------------------------------- validation

/* Every element offset of the walk, sum_i idx[i] * stride[i] * esize, lies within +-span bytes;
 * a span that fits in ptrdiff_t keeps all of them free of overflow (a view wider than that
 * cannot describe memory anyway). Sizes are >= 1 here. */
static bool span_fits(int ndim, const int64_t *shape, const int64_t *stride, size_t esize) {
    uint64_t span = 0, p;
    for (int i = 0; i < ndim; i++) {
        uint64_t a = stride[i] < 0 ? -(uint64_t)stride[i] : (uint64_t)stride[i];
        if (__builtin_mul_overflow((uint64_t)(shape[i] - 1), a, &p) || __builtin_add_overflow(span, p, &span))
            return false;
    }
    return span <= (uint64_t)PTRDIFF_MAX / esize;
}

/* Checks one (B, H, T, D) operand; name is "x" or "out". */
static xtc_status check_view(const struct xtc_tensor *t, const char *name, struct xtc_error *err) {
    if (!t)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: %s is NULL", name);
    if (t->ndim != 4)
        XTC_FAIL(err, XTC_ERR_SHAPE, "rope: %s must be 4-D (batch, heads, seq, head_dim), got ndim %d", name,
                 t->ndim);
    if (!dtype_supported(t->dtype))
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "rope: %s dtype %s not supported (F32, BF16, F16)", name,
                 xtc_dtype_name(t->dtype));
    for (int i = 0; i < 4; i++)
        if (t->shape[i] < 1)
            XTC_FAIL(err, XTC_ERR_SHAPE, "rope: %s shape[%d] = %lld, sizes must be positive", name, i,
                     (long long)t->shape[i]);
    if (t->shape[3] > INT32_MAX)
        XTC_FAIL(err, XTC_ERR_SHAPE, "rope: head_dim %lld too large", (long long)t->shape[3]);
    int64_t n = 1;
    for (int i = 0; i < 4; i++)
        if (__builtin_mul_overflow(n, t->shape[i], &n))
            XTC_FAIL(err, XTC_ERR_SHAPE, "rope: %s has %lld x %lld x %lld x %lld elements, more than 2^63", name,
                     (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2], (long long)t->shape[3]);
    if (!span_fits(4, t->shape, t->stride, xtc_dtype_size(t->dtype)))
        XTC_FAIL(err, XTC_ERR_SHAPE,
                 "rope: %s shape (%lld, %lld, %lld, %lld) with strides (%lld, %lld, %lld, %lld) spans more than "
                 "PTRDIFF_MAX bytes",
                 name, (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2], (long long)t->shape[3],
                 (long long)t->stride[0], (long long)t->stride[1], (long long)t->stride[2], (long long)t->stride[3]);
    if (!t->data)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: %s->data is NULL", name);
    return XTC_OK;
}

/* Validates out against x: shapes and dtype equal, head_dim even. */
static xtc_status check_pair(const struct xtc_tensor *out, const struct xtc_tensor *x, struct xtc_error *err) {
    XTC_TRY(check_view(x, "x", err));
    XTC_TRY(check_view(out, "out", err));
    for (int i = 0; i < 4; i++)
        if (out->shape[i] != x->shape[i])
            XTC_FAIL(err, XTC_ERR_SHAPE, "rope: out shape (%lld, %lld, %lld, %lld) differs from x (%lld, %lld, %lld, %lld)",
                     (long long)out->shape[0], (long long)out->shape[1], (long long)out->shape[2],
                     (long long)out->shape[3], (long long)x->shape[0], (long long)x->shape[1],
                     (long long)x->shape[2], (long long)x->shape[3]);
    if (out->dtype != x->dtype)
        XTC_FAIL(err, XTC_ERR_SHAPE, "rope: out dtype %s differs from x dtype %s", xtc_dtype_name(out->dtype),
                 xtc_dtype_name(x->dtype));
    if (x->shape[3] % 2)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: head_dim %lld is odd: rotary pairs need an even head_dim",
                 (long long)x->shape[3]);
    return XTC_OK;
}

/* B * H * T * D (check_view made sure it fits). */
static int64_t numel4(const struct xtc_tensor *t) {
    return t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3];
}

static bool same_view(const struct xtc_tensor *a, const struct xtc_tensor *b) {
    if (a->data != b->data)
        return false;
    for (int i = 0; i < 4; i++)
        if (a->stride[i] != b->stride[i])
            return false;
    return true;
}

// --------------------------------------------------------------- the walk

/* Per-position rotation coefficients, gathered once per call so the (b, h)
 * loop does no trigonometry. For position t (row t of each K-float array):
 * the first member of pair k uses (c1, s1), the second (c2, s2). The two
 * agree (split == false) for angle tables, and then one xtc_rotary_rotate
 * call does the row; tables whose halves differ need one call per member. */
struct rope_coef {
    int K;
    float *c1, *s1, *c2, *s2; /* (T, K) each; c2/s2 alias c1/s1 when no table differs */
    bool *split;              /* (T), NULL when no row is split */
};

struct rope_walk {
    const struct xtc_tensor *out, *x;
    const struct rope_coef *cf;
    enum xtc_rope_layout layout;
    float *scratch;
};

/* (b, h) pairs [lo, hi) of rope_walk, on thread tid */
static void rope_walk_range(void *arg, int64_t lo, int64_t hi, int tid) {
    const struct rope_walk *a = arg;
    const struct xtc_tensor *out = a->out, *x = a->x;
    const struct rope_coef *cf = a->cf;
    const enum xtc_rope_layout layout = a->layout;
    const int64_t H = x->shape[1], T = x->shape[2];
    const int D = (int)x->shape[3], K = cf->K, R = 2 * cf->K;
    const size_t es = xtc_dtype_size(x->dtype);
    const bool in_place = same_view(out, x);
    /* second-member index of pair k inside the rotated block */
    const int second = layout == XTC_ROPE_INTERLEAVED ? 1 : K;
    const int step = layout == XTC_ROPE_INTERLEAVED ? 2 : 1;
    /* v: the widened head vector; w: a second copy for split table rows */
    float *v = a->scratch + (size_t)tid * 2 * (size_t)D, *w = v + D;
    for (int64_t bh = lo; bh < hi; bh++) {
        const int64_t b = bh / H, h = bh % H;
        for (int64_t t = 0; t < T; t++) {
            const int64_t xo = b * x->stride[0] + h * x->stride[1] + t * x->stride[2];
            const int64_t oo = b * out->stride[0] + h * out->stride[1] + t * out->stride[2];
            const char *xp = elem_ptr(x->data, es, xo);
            char *op = elem_ptr(out->data, es, oo);
            load_row(v, xp, x->dtype, x->stride[3], R);
            const size_t row = (size_t)t * (size_t)K;
            if (cf->split && cf->split[t]) {
                /* member 1 from a rotation with (c1, s1), member 2 with (c2, s2) */
                memcpy(w, v, sizeof(float) * (size_t)R);
                xtc_rotary_rotate(v, cf->c1 + row, cf->s1 + row, NULL, K, layout);
                xtc_rotary_rotate(w, cf->c2 + row, cf->s2 + row, NULL, K, layout);
                for (int k = 0; k < K; k++)
                    v[k * step + second] = w[k * step + second];
            } else {
                xtc_rotary_rotate(v, cf->c1 + row, cf->s1 + row, NULL, K, layout);
            }
            store_row(op, v, x->dtype, out->stride[3], R);
            if (R < D && !in_place)
                copy_row(elem_ptr(out->data, es, oo + R * out->stride[3]), out->stride[3],
                         elem_ptr(x->data, es, xo + R * x->stride[3]), x->stride[3], es, D - R);
        }
    }
}

/* Rotates the first 2K features of each (b, h, t) vector of x into out. */
static void rope_walk(const struct xtc_tensor *out, const struct xtc_tensor *x, const struct rope_coef *cf,
                      enum xtc_rope_layout layout, float *scratch) {
    struct rope_walk a = {.out = out, .x = x, .cf = cf, .layout = layout, .scratch = scratch};
    xtc_backend_get()->parallel_for(x->shape[0] * x->shape[1], numel4(x) > ROPE_PARALLEL_MIN, rope_walk_range, &a);
}

/* Scratch for rope_walk: two D-float rows per thread that may run it. */
static float *alloc_scratch(int D) {
    size_t n_threads = (size_t)xtc_threads_get(); /* at least any backend's thread count */
    return malloc(sizeof(float) * 2 * (size_t)D * n_threads);
}

// --------------------------------------------------------------- xtc_rope_apply

xtc_status xtc_rope_apply(const struct xtc_tensor *out, const struct xtc_tensor *x, const struct xtc_rope_params *p,
                          const int64_t *pos, struct xtc_error *err) {
    if (!p)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: params is NULL");
    XTC_TRY(check_pair(out, x, err));
    const int D = (int)x->shape[3];
    const int64_t T = x->shape[2];
    if (p->rot_dim < 0 || p->rot_dim % 2)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: rot_dim %d must be even and non-negative (0 means head_dim)", p->rot_dim);
    if (p->rot_dim > D)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: rot_dim %d exceeds head_dim %d", p->rot_dim, D);
    const int R = p->rot_dim ? p->rot_dim : D;
    if (!(p->base > 0) || !isfinite(p->base))
        XTC_FAIL(err, XTC_ERR_ARG, "rope: base must be positive and finite (got %g)", p->base);
    if (!(p->interpolation_factor >= 1.0) || !isfinite(p->interpolation_factor))
        XTC_FAIL(err, XTC_ERR_ARG, "rope: interpolation_factor must be >= 1 (got %g)", p->interpolation_factor);
    if (!(p->base_rescale_factor > 0) || !isfinite(p->base_rescale_factor))
        XTC_FAIL(err, XTC_ERR_ARG, "rope: base_rescale_factor must be positive (got %g)", p->base_rescale_factor);
    if (p->base_rescale_factor != 1.0 && R == 2)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: base_rescale_factor needs rot_dim > 2 (exponent R/(R-2))");
    if (p->layout != XTC_ROPE_INTERLEAVED && p->layout != XTC_ROPE_HALF_SPLIT)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: unknown layout %d", (int)p->layout);

    struct xtc_rotary rot;
    struct xtc_rotary_config rc = {
        .rotary_emb_dim = R,
        .base = p->base,
        .base_rescale_factor = p->base_rescale_factor,
        .interpolation_factor = p->interpolation_factor,
        .xpos = false,
        .xpos_scale_base = 512.0,
        .layout = p->layout,
    };
    XTC_TRY(xtc_rotary_init(&rot, &rc, err));
    const int K = rot.n_freq;

    /* cos/sin of every position once: (T, K) each */
    float *tab = NULL, *scratch = NULL;
    if ((uint64_t)T > SIZE_MAX / (2 * sizeof(float) * (size_t)K)) {
        xtc_rotary_free(&rot);
        XTC_FAIL(err, XTC_ERR_NOMEM, "rope: seq length %lld too large for the angle table", (long long)T);
    }
    tab = malloc(2 * sizeof(float) * (size_t)T * (size_t)K);
    scratch = alloc_scratch(D);
    if (!tab || !scratch) {
        free(tab);
        free(scratch);
        xtc_rotary_free(&rot);
        XTC_FAIL(err, XTC_ERR_NOMEM, "rope: out of memory allocating the angle tables of %lld positions", (long long)T);
    }
    float *c = tab, *s = tab + (size_t)T * (size_t)K;
    for (int64_t t = 0; t < T; t++)
        xtc_rotary_cos_sin(&rot, pos ? pos[t] : t, c + (size_t)t * (size_t)K, s + (size_t)t * (size_t)K);
    xtc_rotary_free(&rot);

    struct rope_coef cf = {.K = K, .c1 = c, .s1 = s, .c2 = c, .s2 = s, .split = NULL};
    rope_walk(out, x, &cf, p->layout, scratch);
    free(scratch);
    free(tab);
    return XTC_OK;
}

// --------------------------------------------------------------- xtc_rope_apply_table

/* Checks a cos or sin table: F32, 2-D (>= T, D). */
static xtc_status check_table(const struct xtc_tensor *tb, const char *name, int64_t T, int64_t D,
                              struct xtc_error *err) {
    if (!tb)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: %s table is NULL", name);
    if (tb->dtype != XTC_DTYPE_F32)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "rope: %s table must be F32, got %s", name, xtc_dtype_name(tb->dtype));
    if (tb->ndim != 2)
        XTC_FAIL(err, XTC_ERR_SHAPE, "rope: %s table must be 2-D (context_length, head_dim), got ndim %d", name,
                 tb->ndim);
    if (tb->shape[1] != D)
        XTC_FAIL(err, XTC_ERR_SHAPE, "rope: %s table has %lld columns, head_dim is %lld", name,
                 (long long)tb->shape[1], (long long)D);
    if (tb->shape[0] < T)
        XTC_FAIL(err, XTC_ERR_SHAPE, "rope: %s table has %lld positions, seq length is %lld", name,
                 (long long)tb->shape[0], (long long)T);
    if (!span_fits(2, tb->shape, tb->stride, sizeof(float)))
        XTC_FAIL(err, XTC_ERR_SHAPE,
                 "rope: %s table (%lld, %lld) with strides (%lld, %lld) spans more than PTRDIFF_MAX "
                 "bytes",
                 name, (long long)tb->shape[0], (long long)tb->shape[1], (long long)tb->stride[0],
                 (long long)tb->stride[1]);
    if (!tb->data)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: %s table data is NULL", name);
    return XTC_OK;
}

static float table_at(const struct xtc_tensor *tb, int64_t t, int64_t j) {
    float v;
    memcpy(&v, elem_ptr(tb->data, 4, t * tb->stride[0] + j * tb->stride[1]), sizeof v);
    return v;
}

xtc_status xtc_rope_apply_table(const struct xtc_tensor *out, const struct xtc_tensor *x, const struct xtc_tensor *cos,
                                const struct xtc_tensor *sin, enum xtc_rope_layout layout, struct xtc_error *err) {
    XTC_TRY(check_pair(out, x, err));
    const int64_t T = x->shape[2];
    const int D = (int)x->shape[3], K = D / 2;
    XTC_TRY(check_table(cos, "cos", T, D, err));
    XTC_TRY(check_table(sin, "sin", T, D, err));
    if (layout != XTC_ROPE_INTERLEAVED && layout != XTC_ROPE_HALF_SPLIT)
        XTC_FAIL(err, XTC_ERR_ARG, "rope: unknown layout %d", (int)layout);

    if ((uint64_t)T > SIZE_MAX / (4 * sizeof(float) * (size_t)K + 1))
        XTC_FAIL(err, XTC_ERR_NOMEM, "rope: seq length %lld too large", (long long)T);
    const size_t TK = (size_t)T * (size_t)K;
    float *tab = malloc(4 * sizeof(float) * TK);
    bool *split = malloc(sizeof(bool) * (size_t)T);
    float *scratch = alloc_scratch(D);
    if (!tab || !split || !scratch) {
        free(tab);
        free(split);
        free(scratch);
        XTC_FAIL(err, XTC_ERR_NOMEM, "rope: out of memory allocating the table rows of %lld positions", (long long)T);
    }
    /* out = x * cos[t] + rotate(x) * sin[t]: pair k's first member i1 and second i2
     * take their own table columns (i1 = k, i2 = k + D/2 half-split; 2k, 2k+1 interleaved) */
    struct rope_coef cf = {.K = K, .c1 = tab, .s1 = tab + TK, .c2 = tab + 2 * TK, .s2 = tab + 3 * TK, .split = split};
    bool any_split = false;
    for (int64_t t = 0; t < T; t++) {
        split[t] = false;
        for (int k = 0; k < K; k++) {
            int i1 = layout == XTC_ROPE_INTERLEAVED ? 2 * k : k;
            int i2 = layout == XTC_ROPE_INTERLEAVED ? 2 * k + 1 : k + K;
            size_t j = (size_t)t * (size_t)K + (size_t)k;
            cf.c1[j] = table_at(cos, t, i1);
            cf.s1[j] = table_at(sin, t, i1);
            cf.c2[j] = table_at(cos, t, i2);
            cf.s2[j] = table_at(sin, t, i2);
            /* bitwise compare: a NaN entry must also take the exact path */
            if (memcmp(&cf.c1[j], &cf.c2[j], sizeof(float)) || memcmp(&cf.s1[j], &cf.s2[j], sizeof(float)))
                split[t] = true;
        }
        any_split |= split[t];
    }
    if (!any_split)
        cf.split = NULL;
    rope_walk(out, x, &cf, layout, scratch);
    free(scratch);
    free(split);
    free(tab);
    return XTC_OK;
}

// --------------------------------------------------------------- xtc_rope_tables

/* LLMs-from-scratch precompute_rope_params(head_dim, theta_base, context_length):
 *   inv_freq = 1.0 / (theta_base ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
 *   angles = torch.arange(context_length)[:, None] * inv_freq[None, :]; angles = cat([angles, angles], 1)
 * The float32 inv_freq and angles are rotary.c's (same torch expression, interpolation 1). */
xtc_status xtc_rope_tables(float *cos, float *sin, int64_t context_length, int head_dim, double theta_base,
                           struct xtc_error *err) {
    if (!cos || !sin)
        XTC_FAIL(err, XTC_ERR_ARG, "rope_tables: cos and sin must not be NULL");
    if (context_length < 1)
        XTC_FAIL(err, XTC_ERR_ARG, "rope_tables: context_length must be positive (got %lld)",
                 (long long)context_length);
    if (head_dim < 2 || head_dim % 2)
        XTC_FAIL(err, XTC_ERR_ARG, "rope_tables: head_dim %d must be even and positive: rotary pairs need an even head_dim",
                 head_dim);
    if (!(theta_base > 0) || !isfinite(theta_base))
        XTC_FAIL(err, XTC_ERR_ARG, "rope_tables: theta_base must be positive and finite (got %g)", theta_base);
    size_t bytes;
    if (xtc_mul_overflow(context_length, head_dim, &bytes) || xtc_bytes_overflow((int64_t)bytes, sizeof(float), &bytes))
        XTC_FAIL(err, XTC_ERR_ARG, "rope_tables: context_length %lld x head_dim %d floats exceeds PTRDIFF_MAX bytes",
                 (long long)context_length, head_dim);

    struct xtc_rotary rot;
    struct xtc_rotary_config rc = {
        .rotary_emb_dim = head_dim,
        .base = theta_base,
        .base_rescale_factor = 1.0,
        .interpolation_factor = 1.0,
        .xpos = false,
        .xpos_scale_base = 512.0,
        .layout = XTC_ROPE_HALF_SPLIT,
    };
    XTC_TRY(xtc_rotary_init(&rot, &rc, err));
    const int K = head_dim / 2;
    for (int64_t p = 0; p < context_length; p++) {
        float *c = cos + (size_t)p * (size_t)head_dim, *s = sin + (size_t)p * (size_t)head_dim;
        xtc_rotary_cos_sin(&rot, p, c, s);
        memcpy(c + K, c, sizeof(float) * (size_t)K); /* angles repeated for the second half */
        memcpy(s + K, s, sizeof(float) * (size_t)K);
    }
    xtc_rotary_free(&rot);
    return XTC_OK;
}
