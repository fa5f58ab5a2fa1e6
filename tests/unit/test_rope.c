/* Unit tests for the public RoPE API (include/xtc/rope.h) and the half-precision
 * conversions (include/xtc/tensor.h).
 *
 * Shape letters: B batch, H heads, T seq, D head_dim, R rotated features.
 * The references are plain double-precision loops written here, independent of
 * rotary.c. The golden function cases (tests/golden/rope_fn_*) run through
 * `xtc check` with the other golden cases, not here.
 *
 * main() returns non-zero if any check fails and names every failed check. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xtc/rope.h"
#include "xtc/status.h"
#include "xtc/tensor.h"

static int g_checks, g_failed;

#define CHECK(cond, ...)                                            \
    do {                                                            \
        g_checks++;                                                 \
        if (!(cond)) {                                              \
            g_failed++;                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
            fprintf(stderr, __VA_ARGS__);                           \
            fputc('\n', stderr);                                    \
        }                                                           \
    } while (0)

// --------------------------------------------------------------- helpers

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static uint32_t rng_u32(void) {
    /* xorshift64*: deterministic, good enough for test data */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1Dull) >> 32);
}

/* uniform in [-1, 1) */
static float rng_unit(void) { return (float)((double)rng_u32() / 2147483648.0 - 1.0); }

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static struct xtc_tensor view4(enum xtc_dtype dt, void *data, int64_t B, int64_t H, int64_t T, int64_t D) {
    int64_t shape[4] = {B, H, T, D};
    return xtc_tensor_make(dt, 4, shape, data);
}

/* Double-precision RoPE on a contiguous (B, H, T, D) array (x-transformers angles:
 * theta = pos * base'^(-2k/R) / interp, base' = base * rescale^(R/(R-2))). */
static void ref_rope(double *out, const float *x, int64_t B, int64_t H, int64_t T, int D, int R, double base,
                     double interp, double rescale, enum xtc_rope_layout layout, const int64_t *pos) {
    double bb = base;
    if (rescale != 1.0)
        bb *= pow(rescale, (double)R / (double)(R - 2));
    int K = R / 2;
    for (int64_t row = 0; row < B * H * T; row++) {
        int64_t t = row % T;
        double p = pos ? (double)pos[t] : (double)t;
        const float *xr = x + row * D;
        double *o = out + row * D;
        for (int i = 0; i < D; i++)
            o[i] = xr[i];
        for (int k = 0; k < K; k++) {
            double th = p * pow(bb, -2.0 * k / R) / interp;
            int i1 = layout == XTC_ROPE_INTERLEAVED ? 2 * k : k;
            int i2 = layout == XTC_ROPE_INTERLEAVED ? 2 * k + 1 : k + K;
            double a = xr[i1], b = xr[i2];
            o[i1] = a * cos(th) - b * sin(th);
            o[i2] = b * cos(th) + a * sin(th);
        }
    }
}

static double max_abs_diff_fd(const float *got, const double *want, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= m))
            m = d; /* NaN propagates as a failure */
    }
    return m;
}

static size_t count_bit_diffs_u32(const float *a, const float *b, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += f32_bits(a[i]) != f32_bits(b[i]);
    return c;
}

/* distance in units in the last place between two 16-bit floats of the same format */
static int ulp16(uint16_t a, uint16_t b) {
    int oa = (a & 0x8000) ? -(int)(a & 0x7FFF) : (int)a;
    int ob = (b & 0x8000) ? -(int)(b & 0x7FFF) : (int)b;
    return abs(oa - ob);
}

static void fill_unit(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = rng_unit();
}

static const char *layout_name(enum xtc_rope_layout l) {
    return l == XTC_ROPE_INTERLEAVED ? "interleaved" : "half-split";
}

// --------------------------------------------------------------- (1) fp32 vs double reference

static void test_fp32_reference(void) {
    struct {
        int64_t B, H, T;
        int D, R;
        double base, interp, rescale;
        bool explicit_pos;
    } cases[] = {
        {2, 3, 7, 16, 0, 10000.0, 1.0, 1.0, false},  /* all features */
        {1, 2, 5, 24, 8, 10000.0, 1.0, 1.0, false},  /* partial rot_dim */
        {2, 1, 6, 32, 16, 500.0, 1.0, 1.0, true},    /* explicit positions, other base */
        {1, 3, 9, 16, 12, 10000.0, 2.5, 1.0, true},  /* interpolation */
        {2, 2, 8, 16, 0, 10000.0, 1.0, 4.0, false},  /* NTK rescale */
        {1, 1, 4, 8, 4, 10000.0, 2.0, 2.0, true},    /* both, partial */
        {1, 1, 3, 2, 0, 10.0, 1.0, 1.0, false},      /* D = 2 */
    };
    int64_t pos[16] = {3, -2, 0, 17, 5, 9, 1, 12, 20, 4, 8, 2, 11, 6, 14, 7};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        for (int li = 0; li < 2; li++) {
            enum xtc_rope_layout layout = li ? XTC_ROPE_INTERLEAVED : XTC_ROPE_HALF_SPLIT;
            int64_t B = cases[ci].B, H = cases[ci].H, T = cases[ci].T;
            int D = cases[ci].D, R = cases[ci].R ? cases[ci].R : D;
            size_t n = (size_t)(B * H * T * D);
            float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
            double *want = malloc(n * sizeof *want);
            fill_unit(x, n);
            struct xtc_rope_params p;
            xtc_rope_params_default(&p);
            p.rot_dim = cases[ci].R;
            p.base = cases[ci].base;
            p.interpolation_factor = cases[ci].interp;
            p.base_rescale_factor = cases[ci].rescale;
            p.layout = layout;
            const int64_t *ps = cases[ci].explicit_pos ? pos : NULL;
            struct xtc_tensor tx = view4(XTC_DTYPE_F32, x, B, H, T, D), ty = view4(XTC_DTYPE_F32, y, B, H, T, D);
            struct xtc_error err = {0};
            xtc_status st = xtc_rope_apply(&ty, &tx, &p, ps, &err);
            CHECK(st == XTC_OK, "fp32 case %zu %s: status %d (%s)", ci, layout_name(layout), st, err.msg);
            ref_rope(want, x, B, H, T, D, R, p.base, p.interpolation_factor, p.base_rescale_factor, layout, ps);
            double e = max_abs_diff_fd(y, want, n);
            CHECK(e < 1e-5, "fp32 case %zu %s: max abs err %.3g >= 1e-5", ci, layout_name(layout), e);
            /* pass-through features are copied exactly */
            bool pass_exact = true;
            for (size_t row = 0; row < n / (size_t)D; row++)
                for (int i = R; i < D; i++)
                    pass_exact &= f32_bits(y[row * D + i]) == f32_bits(x[row * D + i]);
            CHECK(pass_exact, "fp32 case %zu %s: pass-through features changed", ci, layout_name(layout));
            free(x);
            free(y);
            free(want);
        }
    }
}

/* Large enough for the OpenMP path; must equal per-(b, h) slices done serially. */
static void test_parallel_path(void) {
    const int64_t B = 2, H = 8, T = 64;
    const int D = 128;
    size_t n = (size_t)(B * H * T * D), row = (size_t)(T * D);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *z = malloc(n * sizeof *z);
    double *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * rng_unit();
    for (int li = 0; li < 2; li++) {
        struct xtc_rope_params p;
        xtc_rope_params_default(&p);
        p.layout = li ? XTC_ROPE_INTERLEAVED : XTC_ROPE_HALF_SPLIT;
        p.rot_dim = 96;
        struct xtc_tensor tx = view4(XTC_DTYPE_F32, x, B, H, T, D), ty = view4(XTC_DTYPE_F32, y, B, H, T, D);
        CHECK(xtc_rope_apply(&ty, &tx, &p, NULL, NULL) == XTC_OK, "parallel %s: status", layout_name(p.layout));
        for (int64_t bh = 0; bh < B * H; bh++) {
            struct xtc_tensor sx = view4(XTC_DTYPE_F32, x + bh * row, 1, 1, T, D);
            struct xtc_tensor sz = view4(XTC_DTYPE_F32, z + bh * row, 1, 1, T, D);
            CHECK(xtc_rope_apply(&sz, &sx, &p, NULL, NULL) == XTC_OK, "parallel slice status");
        }
        CHECK(count_bit_diffs_u32(y, z, n) == 0, "parallel %s: differs from serial slices", layout_name(p.layout));
        ref_rope(want, x, B, H, T, D, 96, 10000.0, 1.0, 1.0, p.layout, NULL);
        double e = max_abs_diff_fd(y, want, n);
        CHECK(e < 1e-5, "parallel %s: max abs err %.3g", layout_name(p.layout), e);
    }
    free(x);
    free(y);
    free(z);
    free(want);
}

// --------------------------------------------------------------- (2) strided views

static void test_strided(void) {
    const int64_t B = 2, H = 3, T = 5;
    const int D = 16;
    size_t n = (size_t)(B * H * T * D);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    fill_unit(x, n);
    for (int li = 0; li < 2; li++) {
        struct xtc_rope_params p;
        xtc_rope_params_default(&p);
        p.layout = li ? XTC_ROPE_INTERLEAVED : XTC_ROPE_HALF_SPLIT;
        p.rot_dim = 12;
        struct xtc_tensor tx = view4(XTC_DTYPE_F32, x, B, H, T, D), ty = view4(XTC_DTYPE_F32, y, B, H, T, D);
        CHECK(xtc_rope_apply(&ty, &tx, &p, NULL, NULL) == XTC_OK, "strided: contiguous status");

        /* (B, T, H, D) buffer viewed as (B, H, T, D) by permuting strides */
        float *xp = malloc(n * sizeof *xp), *yp = malloc(n * sizeof *yp);
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t t = 0; t < T; t++)
                    memcpy(xp + ((b * T + t) * H + h) * D, x + ((b * H + h) * T + t) * D, sizeof(float) * D);
        struct xtc_tensor vx = tx, vy = ty;
        vx.data = xp;
        vy.data = yp;
        vx.stride[0] = vy.stride[0] = T * H * D;
        vx.stride[1] = vy.stride[1] = D;
        vx.stride[2] = vy.stride[2] = H * D;
        CHECK(xtc_rope_apply(&vy, &vx, &p, NULL, NULL) == XTC_OK, "strided: permuted status");
        size_t bad = 0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t t = 0; t < T; t++)
                    bad += count_bit_diffs_u32(yp + ((b * T + t) * H + h) * D, y + ((b * H + h) * T + t) * D, D);
        CHECK(bad == 0, "strided %s: (B,T,H,D) permuted view differs in %zu elements", layout_name(p.layout), bad);

        /* non-contiguous: every feature at stride 2, each row padded, T walked backwards;
         * the gaps must stay untouched */
        const int64_t sd = 2, st = 2 * D + 3, sh = T * st, sb = H * sh + 1;
        size_t big = (size_t)(B * sb + 8);
        float *xs = malloc(big * sizeof *xs), *ys = malloc(big * sizeof *ys);
        for (size_t i = 0; i < big; i++)
            xs[i] = ys[i] = -777.0f;
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t t = 0; t < T; t++)
                    for (int d = 0; d < D; d++)
                        xs[b * sb + h * sh + (T - 1 - t) * st + d * sd] = x[((b * H + h) * T + t) * D + d];
        struct xtc_tensor nx = tx, ny = ty;
        nx.data = xs + (T - 1) * st;
        ny.data = ys + (T - 1) * st;
        int64_t strides[4] = {sb, sh, -st, sd};
        memcpy(nx.stride, strides, sizeof strides);
        memcpy(ny.stride, strides, sizeof strides);
        CHECK(xtc_rope_apply(&ny, &nx, &p, NULL, NULL) == XTC_OK, "strided: non-contiguous status");
        bad = 0;
        size_t touched = 0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t t = 0; t < T; t++)
                    for (int d = 0; d < D; d++) {
                        size_t at = (size_t)(b * sb + h * sh + (T - 1 - t) * st + d * sd);
                        bad += f32_bits(ys[at]) != f32_bits(y[((b * H + h) * T + t) * D + d]);
                        ys[at] = -777.0f;
                        touched++;
                    }
        size_t gaps_changed = 0;
        for (size_t i = 0; i < big; i++)
            gaps_changed += ys[i] != -777.0f;
        CHECK(bad == 0 && touched == n, "strided %s: non-contiguous view differs in %zu elements",
              layout_name(p.layout), bad);
        CHECK(gaps_changed == 0, "strided %s: %zu elements outside the view were written", layout_name(p.layout),
              gaps_changed);
        free(xp);
        free(yp);
        free(xs);
        free(ys);
    }
    free(x);
    free(y);
}

// --------------------------------------------------------------- (3) in place

static void test_in_place(void) {
    const int64_t B = 2, H = 2, T = 6;
    const int D = 20;
    size_t n = (size_t)(B * H * T * D);
    for (int dti = 0; dti < 3; dti++) {
        enum xtc_dtype dt = dti == 0 ? XTC_DTYPE_F32 : dti == 1 ? XTC_DTYPE_BF16 : XTC_DTYPE_F16;
        size_t es = xtc_dtype_size(dt);
        unsigned char *x = malloc(n * es), *y = malloc(n * es);
        for (size_t i = 0; i < n; i++) {
            float v = rng_unit();
            if (dt == XTC_DTYPE_F32) {
                memcpy(x + i * 4, &v, 4);
            } else {
                uint16_t h = dt == XTC_DTYPE_BF16 ? xtc_f32_to_bf16(v) : xtc_f32_to_f16(v);
                memcpy(x + i * 2, &h, 2);
            }
        }
        for (int li = 0; li < 2; li++) {
            struct xtc_rope_params p;
            xtc_rope_params_default(&p);
            p.layout = li ? XTC_ROPE_INTERLEAVED : XTC_ROPE_HALF_SPLIT;
            p.rot_dim = 14;
            unsigned char *z = malloc(n * es);
            memcpy(z, x, n * es);
            struct xtc_tensor tx = view4(dt, x, B, H, T, D), ty = view4(dt, y, B, H, T, D),
                              tz = view4(dt, z, B, H, T, D);
            CHECK(xtc_rope_apply(&ty, &tx, &p, NULL, NULL) == XTC_OK, "in-place: out-of-place status");
            CHECK(xtc_rope_apply(&tz, &tz, &p, NULL, NULL) == XTC_OK, "in-place: in-place status");
            CHECK(memcmp(y, z, n * es) == 0, "in-place %s %s: differs from out-of-place", xtc_dtype_name(dt),
                  layout_name(p.layout));
            free(z);
        }
        free(x);
        free(y);
    }
}

// --------------------------------------------------------------- (4) bf16 / fp16

static void test_half(enum xtc_dtype dt) {
    const int64_t B = 2, H = 3, T = 9;
    const int D = 32;
    size_t n = (size_t)(B * H * T * D);
    uint16_t *x = malloc(n * 2), *y = malloc(n * 2);
    float *xf = malloc(n * 4), *yf = malloc(n * 4);
    double *want = malloc(n * sizeof *want);
    bool bf = dt == XTC_DTYPE_BF16;
    for (size_t i = 0; i < n; i++) {
        float v = 3.0f * rng_unit();
        x[i] = bf ? xtc_f32_to_bf16(v) : xtc_f32_to_f16(v);
        xf[i] = bf ? xtc_bf16_to_f32(x[i]) : xtc_f16_to_f32(x[i]);
    }
    x[D - 1] = bf ? 0x7F81 : 0x7D01; /* a signaling NaN among the pass-through features */
    xf[D - 1] = bf ? xtc_bf16_to_f32(x[D - 1]) : xtc_f16_to_f32(x[D - 1]);
    int64_t pos[9] = {0, 4, 1, 7, 3, 12, 2, 5, 6};
    for (int li = 0; li < 2; li++) {
        for (int ri = 0; ri < 2; ri++) {
            struct xtc_rope_params p;
            xtc_rope_params_default(&p);
            p.layout = li ? XTC_ROPE_INTERLEAVED : XTC_ROPE_HALF_SPLIT;
            p.rot_dim = ri ? 24 : 0;
            p.interpolation_factor = ri ? 1.5 : 1.0;
            int R = p.rot_dim ? p.rot_dim : D;
            struct xtc_tensor tx = view4(dt, x, B, H, T, D), ty = view4(dt, y, B, H, T, D);
            struct xtc_tensor tf = view4(XTC_DTYPE_F32, xf, B, H, T, D), tg = view4(XTC_DTYPE_F32, yf, B, H, T, D);
            struct xtc_error err = {0};
            xtc_status st = xtc_rope_apply(&ty, &tx, &p, pos, &err);
            CHECK(st == XTC_OK, "%s: status %d %s", xtc_dtype_name(dt), st, err.msg);
            CHECK(xtc_rope_apply(&tg, &tf, &p, pos, NULL) == XTC_OK, "%s: f32 status", xtc_dtype_name(dt));
            ref_rope(want, xf, B, H, T, D, R, p.base, p.interpolation_factor, 1.0, p.layout, pos);
            size_t not_single_round = 0, far = 0;
            for (size_t i = 0; i < n; i++) {
                if ((int)(i % D) >= R)
                    continue;
                /* rounded once from the float32 result of the widened input */
                uint16_t r = bf ? xtc_f32_to_bf16(yf[i]) : xtc_f32_to_f16(yf[i]);
                not_single_round += r != y[i];
                /* and within 1 ulp of the rounded double reference (or float32 noise near 0) */
                float wf = (float)want[i];
                uint16_t w = bf ? xtc_f32_to_bf16(wf) : xtc_f32_to_f16(wf);
                float got = bf ? xtc_bf16_to_f32(y[i]) : xtc_f16_to_f32(y[i]);
                far += ulp16(w, y[i]) > 1 && fabs(got - want[i]) > 1e-6;
            }
            CHECK(not_single_round == 0, "%s %s R=%d: %zu outputs differ from round(f32 result)", xtc_dtype_name(dt),
                  layout_name(p.layout), R, not_single_round);
            CHECK(far == 0, "%s %s R=%d: %zu outputs more than 1 ulp from the double reference", xtc_dtype_name(dt),
                  layout_name(p.layout), R, far);
            size_t pass_changed = 0;
            for (size_t row = 0; row < n / (size_t)D; row++)
                for (int i = R; i < D; i++)
                    pass_changed += y[row * D + i] != x[row * D + i];
            CHECK(pass_changed == 0, "%s %s: %zu pass-through features changed (NaN payload included)",
                  xtc_dtype_name(dt), layout_name(p.layout), pass_changed);
        }
    }
    free(x);
    free(y);
    free(xf);
    free(yf);
    free(want);
}

// --------------------------------------------------------------- (5) tables

static void test_tables(void) {
    const int64_t B = 2, H = 2, T = 7, CTX = 10;
    const int D = 16, K = D / 2;
    size_t n = (size_t)(B * H * T * D);
    float *cs = malloc(sizeof(float) * CTX * D), *sn = malloc(sizeof(float) * CTX * D);
    struct xtc_error err = {0};
    xtc_status st = xtc_rope_tables(cs, sn, CTX, D, 10000.0, &err);
    CHECK(st == XTC_OK, "rope_tables status %d %s", st, err.msg);

    /* values: angle[p, k] = angle[p, k + D/2] = p * base^(-2k/D) */
    double terr = 0;
    bool halves = true;
    for (int64_t p = 0; p < CTX; p++)
        for (int k = 0; k < K; k++) {
            double th = (double)p * pow(10000.0, -2.0 * k / D);
            terr = fmax(terr, fabs(cs[p * D + k] - cos(th)));
            terr = fmax(terr, fabs(sn[p * D + k] - sin(th)));
            halves &= f32_bits(cs[p * D + k]) == f32_bits(cs[p * D + k + K]);
            halves &= f32_bits(sn[p * D + k]) == f32_bits(sn[p * D + k + K]);
        }
    CHECK(terr < 3e-6, "rope_tables: max error vs double %.3g", terr);
    CHECK(halves, "rope_tables: second half does not repeat the first");

    float *x = malloc(n * 4), *y = malloc(n * 4), *z = malloc(n * 4);
    fill_unit(x, n);
    int64_t tshape[2] = {CTX, D};
    struct xtc_tensor tc = xtc_tensor_make(XTC_DTYPE_F32, 2, tshape, cs), ts = xtc_tensor_make(XTC_DTYPE_F32, 2, tshape, sn);
    struct xtc_tensor tx = view4(XTC_DTYPE_F32, x, B, H, T, D), ty = view4(XTC_DTYPE_F32, y, B, H, T, D),
                      tz = view4(XTC_DTYPE_F32, z, B, H, T, D);
    struct xtc_rope_params p;
    xtc_rope_params_default(&p);

    /* half-split table == xtc_rope_apply half-split */
    CHECK(xtc_rope_apply_table(&ty, &tx, &tc, &ts, XTC_ROPE_HALF_SPLIT, &err) == XTC_OK, "apply_table: %s", err.msg);
    CHECK(xtc_rope_apply(&tz, &tx, &p, NULL, NULL) == XTC_OK, "apply: status");
    double e = 0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs(y[i] - z[i]));
    CHECK(e <= 1e-6, "apply_table half-split vs apply: max diff %.3g", e);

    /* interleaved tables (each angle twice, adjacent), stored transposed (strided) */
    float *ci = malloc(sizeof(float) * CTX * D), *si = malloc(sizeof(float) * CTX * D);
    for (int64_t q = 0; q < CTX; q++)
        for (int k = 0; k < K; k++)
            for (int m = 0; m < 2; m++) {
                ci[(2 * k + m) * CTX + q] = cs[q * D + k];
                si[(2 * k + m) * CTX + q] = sn[q * D + k];
            }
    struct xtc_tensor tci = tc, tsi = ts;
    tci.data = ci;
    tsi.data = si;
    tci.stride[0] = tsi.stride[0] = 1;
    tci.stride[1] = tsi.stride[1] = CTX;
    p.layout = XTC_ROPE_INTERLEAVED;
    CHECK(xtc_rope_apply_table(&ty, &tx, &tci, &tsi, XTC_ROPE_INTERLEAVED, &err) == XTC_OK, "apply_table: %s",
          err.msg);
    CHECK(xtc_rope_apply(&tz, &tx, &p, NULL, NULL) == XTC_OK, "apply: status");
    e = 0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs(y[i] - z[i]));
    CHECK(e <= 1e-6, "apply_table interleaved (strided table) vs apply: max diff %.3g", e);

    /* arbitrary tables whose halves differ: exactly out = x*cos[t] + rotate(x)*sin[t] */
    float *cr = malloc(sizeof(float) * CTX * D), *sr = malloc(sizeof(float) * CTX * D);
    fill_unit(cr, (size_t)(CTX * D));
    fill_unit(sr, (size_t)(CTX * D));
    struct xtc_tensor tcr = tc, tsr = ts;
    tcr.data = cr;
    tsr.data = sr;
    double *want = malloc(n * sizeof *want);
    for (int li = 0; li < 2; li++) {
        enum xtc_rope_layout layout = li ? XTC_ROPE_INTERLEAVED : XTC_ROPE_HALF_SPLIT;
        CHECK(xtc_rope_apply_table(&ty, &tx, &tcr, &tsr, layout, &err) == XTC_OK, "apply_table: %s", err.msg);
        for (int64_t row = 0; row < B * H * T; row++) {
            int64_t t = row % T;
            const float *xr = x + row * D;
            for (int i = 0; i < D; i++) {
                double rot;
                if (layout == XTC_ROPE_HALF_SPLIT)
                    rot = i < K ? -(double)xr[i + K] : (double)xr[i - K];
                else
                    rot = i % 2 == 0 ? -(double)xr[i + 1] : (double)xr[i - 1];
                want[row * D + i] = (double)xr[i] * cr[t * D + i] + rot * sr[t * D + i];
            }
        }
        e = max_abs_diff_fd(y, want, n);
        CHECK(e < 1e-6, "apply_table %s with arbitrary tables: max err %.3g", layout_name(layout), e);
    }

    /* bf16 x through the table: one rounding of the float32 result */
    uint16_t *xb = malloc(n * 2), *yb = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        xb[i] = xtc_f32_to_bf16(x[i]);
        x[i] = xtc_bf16_to_f32(xb[i]);
    }
    struct xtc_tensor bx = view4(XTC_DTYPE_BF16, xb, B, H, T, D), by = view4(XTC_DTYPE_BF16, yb, B, H, T, D);
    CHECK(xtc_rope_apply_table(&by, &bx, &tc, &ts, XTC_ROPE_HALF_SPLIT, &err) == XTC_OK, "apply_table bf16: %s",
          err.msg);
    CHECK(xtc_rope_apply_table(&ty, &tx, &tc, &ts, XTC_ROPE_HALF_SPLIT, &err) == XTC_OK, "apply_table f32: %s",
          err.msg);
    size_t mism = 0;
    for (size_t i = 0; i < n; i++)
        mism += xtc_f32_to_bf16(y[i]) != yb[i];
    CHECK(mism == 0, "apply_table bf16: %zu outputs differ from round(f32 result)", mism);

    free(xb);
    free(yb);
    free(want);
    free(cr);
    free(sr);
    free(ci);
    free(si);
    free(x);
    free(y);
    free(z);
    free(cs);
    free(sn);
}

// --------------------------------------------------------------- (6) errors

static void expect_err(xtc_status got, xtc_status want, const struct xtc_error *err, const char *what) {
    CHECK(got == want, "error case '%s': status %d (%s), expected %d (%s)", what, got, xtc_status_str(got), want,
          xtc_status_str(want));
    CHECK(err->msg[0] != '\0', "error case '%s': empty message", what);
    if (getenv("XTC_TEST_VERBOSE"))
        fprintf(stderr, "  %s -> %s\n", what, err->msg);
}

static void test_errors(void) {
    float buf[2 * 2 * 4 * 16] = {0}, tab[3 * 16] = {0};
    struct xtc_rope_params p;
    xtc_rope_params_default(&p);
    struct xtc_error err;
    struct xtc_tensor x = view4(XTC_DTYPE_F32, buf, 2, 2, 4, 16), bad;

#define RESET() memset(&err, 0, sizeof err)
    RESET();
    bad = view4(XTC_DTYPE_F32, buf, 2, 2, 4, 15);
    expect_err(xtc_rope_apply(&bad, &bad, &p, NULL, &err), XTC_ERR_ARG, &err, "odd head_dim");
    CHECK(strstr(err.msg, "head_dim 15 is odd") != NULL, "odd head_dim message: '%s'", err.msg);
    RESET();
    p.rot_dim = 18;
    expect_err(xtc_rope_apply(&x, &x, &p, NULL, &err), XTC_ERR_ARG, &err, "rot_dim > D");
    RESET();
    p.rot_dim = 7;
    expect_err(xtc_rope_apply(&x, &x, &p, NULL, &err), XTC_ERR_ARG, &err, "odd rot_dim");
    RESET();
    p.rot_dim = -2;
    expect_err(xtc_rope_apply(&x, &x, &p, NULL, &err), XTC_ERR_ARG, &err, "negative rot_dim");
    p.rot_dim = 0;
    RESET();
    int64_t s3[3] = {4, 4, 16};
    bad = xtc_tensor_make(XTC_DTYPE_F32, 3, s3, buf);
    expect_err(xtc_rope_apply(&bad, &bad, &p, NULL, &err), XTC_ERR_SHAPE, &err, "ndim 3");
    RESET();
    bad = view4(XTC_DTYPE_I64, buf, 1, 2, 4, 16);
    expect_err(xtc_rope_apply(&bad, &bad, &p, NULL, &err), XTC_ERR_UNSUPPORTED, &err, "dtype I64");
    RESET();
    bad = view4(XTC_DTYPE_F32, buf, 2, 2, 3, 16);
    expect_err(xtc_rope_apply(&bad, &x, &p, NULL, &err), XTC_ERR_SHAPE, &err, "shape mismatch");
    RESET();
    bad = view4(XTC_DTYPE_BF16, buf, 2, 2, 4, 16);
    expect_err(xtc_rope_apply(&bad, &x, &p, NULL, &err), XTC_ERR_SHAPE, &err, "dtype mismatch");
    RESET();
    bad = view4(XTC_DTYPE_F32, buf, 2, 0, 4, 16);
    expect_err(xtc_rope_apply(&bad, &bad, &p, NULL, &err), XTC_ERR_SHAPE, &err, "zero size");
    RESET();
    p.interpolation_factor = 0.5;
    expect_err(xtc_rope_apply(&x, &x, &p, NULL, &err), XTC_ERR_ARG, &err, "interpolation 0.5");
    p.interpolation_factor = 1.0;
    RESET();
    p.base = 0.0;
    expect_err(xtc_rope_apply(&x, &x, &p, NULL, &err), XTC_ERR_ARG, &err, "base 0");
    p.base = NAN;
    RESET();
    expect_err(xtc_rope_apply(&x, &x, &p, NULL, &err), XTC_ERR_ARG, &err, "base NaN");
    p.base = 10000.0;
    RESET();
    p.rot_dim = 2;
    p.base_rescale_factor = 2.0;
    expect_err(xtc_rope_apply(&x, &x, &p, NULL, &err), XTC_ERR_ARG, &err, "NTK with rot_dim 2");
    xtc_rope_params_default(&p);
    RESET();
    expect_err(xtc_rope_apply(NULL, &x, &p, NULL, &err), XTC_ERR_ARG, &err, "NULL out");
    RESET();
    expect_err(xtc_rope_apply(&x, &x, NULL, NULL, &err), XTC_ERR_ARG, &err, "NULL params");
    RESET();
    bad = x;
    bad.data = NULL;
    expect_err(xtc_rope_apply(&bad, &bad, &p, NULL, &err), XTC_ERR_ARG, &err, "NULL data");
    CHECK(xtc_rope_apply(&x, &x, NULL, NULL, NULL) == XTC_ERR_ARG, "NULL err pointer is allowed");

    int64_t ts[2] = {3, 16}, ts2[2] = {8, 14};
    struct xtc_tensor tshort = xtc_tensor_make(XTC_DTYPE_F32, 2, ts, tab);
    RESET();
    expect_err(xtc_rope_apply_table(&x, &x, &tshort, &tshort, XTC_ROPE_HALF_SPLIT, &err), XTC_ERR_SHAPE, &err,
               "table too short");
    float tab2[8 * 14] = {0};
    struct xtc_tensor tnarrow = xtc_tensor_make(XTC_DTYPE_F32, 2, ts2, tab2);
    RESET();
    expect_err(xtc_rope_apply_table(&x, &x, &tnarrow, &tnarrow, XTC_ROPE_HALF_SPLIT, &err), XTC_ERR_SHAPE, &err,
               "table width != head_dim");
    RESET();
    expect_err(xtc_rope_apply_table(&x, &x, NULL, &tshort, XTC_ROPE_HALF_SPLIT, &err), XTC_ERR_ARG, &err,
               "NULL cos table");
    RESET();
    bad = view4(XTC_DTYPE_F32, buf, 1, 1, 4, 15);
    expect_err(xtc_rope_apply_table(&bad, &bad, &tshort, &tshort, XTC_ROPE_HALF_SPLIT, &err), XTC_ERR_ARG, &err,
               "table: odd head_dim");
    RESET();
    expect_err(xtc_rope_tables(tab, tab2, 3, 15, 10000.0, &err), XTC_ERR_ARG, &err, "tables: odd head_dim");
    RESET();
    expect_err(xtc_rope_tables(tab, tab2, 0, 16, 10000.0, &err), XTC_ERR_ARG, &err, "tables: context 0");
    RESET();
    expect_err(xtc_rope_tables(tab, tab2, 3, 16, -1.0, &err), XTC_ERR_ARG, &err, "tables: negative base");
    RESET();
    expect_err(xtc_rope_tables(NULL, tab2, 3, 16, 10000.0, &err), XTC_ERR_ARG, &err, "tables: NULL");
#undef RESET
}

// --------------------------------------------------------------- (7) conversions

static void check_bf16(uint32_t in, uint16_t want, const char *what) {
    uint16_t got = xtc_f32_to_bf16(f32_from_bits(in));
    CHECK(got == want, "bf16(%s = 0x%08X) = 0x%04X, expected 0x%04X", what, (unsigned)in, got, want);
}

static void check_f16(float in, uint16_t want, const char *what) {
    uint16_t got = xtc_f32_to_f16(in);
    CHECK(got == want, "f16(%s = %.9g, 0x%08X) = 0x%04X, expected 0x%04X", what, in, (unsigned)f32_bits(in), got,
          want);
}

static bool is_nan16(uint16_t h, bool bf) {
    return bf ? ((h & 0x7F80) == 0x7F80 && (h & 0x7F)) : ((h & 0x7C00) == 0x7C00 && (h & 0x3FF));
}

/* Property check of one narrowing: the result is a nearest value, ties go to the even one. */
static bool nearest_even_ok(float f, uint16_t h, bool bf) {
    if (isnan(f))
        return is_nan16(h, bf);
    float (*widen)(uint16_t) = bf ? xtc_bf16_to_f32 : xtc_f16_to_f32;
    double v = f, g = widen(h);
    if (is_nan16(h, bf) || (signbit(g) != signbit(v) && g != 0))
        return false;
    uint16_t inf = bf ? 0x7F80 : 0x7C00;
    double maxf = widen(inf - 1), half_ulp_max = bf ? ldexp(1.0, 127 - 8) : 16.0;
    if (fabs(v) >= maxf + half_ulp_max) /* overflow: tie at max + half ulp goes to inf (max is odd) */
        return (h & 0x7FFF) == inf;
    if (isinf(g))
        return false;
    uint16_t mag = h & 0x7FFF, sign = h & 0x8000;
    double err = fabs(g - v);
    /* both neighbours of the result must be no closer, and an exact tie needs an even result */
    for (int dlt = -1; dlt <= 1; dlt += 2) {
        int nm = (int)mag + dlt;
        if (nm < 0 || nm >= (int)inf)
            continue;
        double nb = widen((uint16_t)(sign | (uint16_t)nm));
        double ne = fabs(nb - v);
        if (ne < err || (ne == err && (mag & 1)))
            return false;
    }
    if (mag == 0) { /* the other neighbour of zero is the smallest value of the other sign */
        double ne = fabs(widen((uint16_t)((sign ^ 0x8000) | 1)) - v);
        if (ne < err)
            return false;
    }
    return true;
}

static void test_conversions(void) {
    /* bfloat16: 1 + ties around the 8th mantissa bit */
    check_bf16(0x3F800000, 0x3F80, "1.0");
    check_bf16(0x3F808000, 0x3F80, "tie to even (down)");
    check_bf16(0x3F818000, 0x3F82, "tie to even (up)");
    check_bf16(0x3F808001, 0x3F81, "just above tie");
    check_bf16(0x3F807FFF, 0x3F80, "just below tie");
    check_bf16(0xBF818000, 0xBF82, "negative tie up");
    check_bf16(0x7F7F0000, 0x7F7F, "max finite");
    check_bf16(0x7F7F7FFF, 0x7F7F, "below max + half ulp");
    check_bf16(0x7F7F8000, 0x7F80, "max + half ulp -> inf");
    check_bf16(0x7F7FFFFF, 0x7F80, "FLT_MAX -> inf");
    check_bf16(0xFF7FFFFF, 0xFF80, "-FLT_MAX -> -inf");
    check_bf16(0x7F800000, 0x7F80, "inf");
    check_bf16(0xFF800000, 0xFF80, "-inf");
    check_bf16(0x80000000, 0x8000, "-0");
    check_bf16(0x00000001, 0x0000, "smallest f32 subnormal");
    check_bf16(0x00008000, 0x0000, "subnormal tie to even (down)");
    check_bf16(0x00018000, 0x0002, "subnormal tie to even (up)");
    check_bf16(0x00010000, 0x0001, "smallest bf16 subnormal");
    check_bf16(0x007FFFFF, 0x0080, "largest f32 subnormal rounds to min normal");
    check_bf16(0x7FC00000, 0x7FC0, "quiet NaN");
    check_bf16(0x7F800001, 0x7FC0, "signaling NaN quieted");
    check_bf16(0xFFC00001, 0x7FC0, "negative NaN (c10 canonical)");
    CHECK(f32_bits(xtc_bf16_to_f32(0x3F80)) == 0x3F800000, "bf16 widen 1.0");
    CHECK(f32_bits(xtc_bf16_to_f32(0x0001)) == 0x00010000, "bf16 widen subnormal");
    CHECK(f32_bits(xtc_bf16_to_f32(0xFF80)) == 0xFF800000, "bf16 widen -inf");
    CHECK(isnan(xtc_bf16_to_f32(0x7FC1)), "bf16 widen NaN");

    /* float16 */
    check_f16(1.0f, 0x3C00, "1.0");
    check_f16(f32_from_bits(0x3F801000), 0x3C00, "1 + 2^-11 tie to even (down)");
    check_f16(f32_from_bits(0x3F803000), 0x3C02, "1 + 3*2^-11 tie to even (up)");
    check_f16(f32_from_bits(0x3F801001), 0x3C01, "just above tie");
    check_f16(f32_from_bits(0x3F800FFF), 0x3C00, "just below tie");
    check_f16(2047.5f, 0x6800, "2047.5 tie carries into exponent");
    check_f16(-2.0f, 0xC000, "-2");
    check_f16(65504.0f, 0x7BFF, "max finite");
    check_f16(f32_from_bits(0x477FEFFF), 0x7BFF, "just below max + half ulp");
    check_f16(65520.0f, 0x7C00, "max + half ulp -> inf");
    check_f16(-65520.0f, 0xFC00, "-(max + half ulp) -> -inf");
    check_f16(1e10f, 0x7C00, "1e10 -> inf");
    check_f16(INFINITY, 0x7C00, "inf");
    check_f16(-INFINITY, 0xFC00, "-inf");
    check_f16(-0.0f, 0x8000, "-0");
    check_f16(ldexpf(1.0f, -14), 0x0400, "min normal");
    check_f16(ldexpf(1023.0f, -24), 0x03FF, "max subnormal");
    check_f16(ldexpf(2047.0f, -25), 0x0400, "max subnormal + half ulp: tie to even = min normal");
    check_f16(ldexpf(2045.0f, -25), 0x03FE, "1022.5 ulp: tie to even (down)");
    check_f16(ldexpf(1.0f, -24), 0x0001, "min subnormal");
    check_f16(ldexpf(1.0f, -25), 0x0000, "half min subnormal: tie to zero");
    check_f16(f32_from_bits(0x33000001), 0x0001, "just above half min subnormal");
    check_f16(ldexpf(3.0f, -25), 0x0002, "1.5 ulp: tie to even (up)");
    check_f16(ldexpf(5.0f, -25), 0x0002, "2.5 ulp: tie to even (down)");
    check_f16(-ldexpf(3.0f, -25), 0x8002, "negative subnormal tie");
    check_f16(ldexpf(1.0f, -26), 0x0000, "quarter min subnormal");
    check_f16(ldexpf(1.0f, -149), 0x0000, "f32 denormal");
    check_f16(-ldexpf(1.0f, -149), 0x8000, "negative f32 denormal -> -0");
    check_f16(ldexpf(1.0f, -15) + ldexpf(1.0f, -25), 0x0200, "512.5 ulp: tie to even (down)");
    check_f16(f32_from_bits(0x7FC00000), 0x7E00, "quiet NaN");
    check_f16(f32_from_bits(0x7F800001), 0x7E00, "signaling NaN quieted");
    check_f16(f32_from_bits(0xFFC00000), 0xFE00, "negative NaN keeps sign");
    CHECK(xtc_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "f16 widen min subnormal");
    CHECK(xtc_f16_to_f32(0x03FF) == ldexpf(1023.0f, -24), "f16 widen max subnormal");
    CHECK(xtc_f16_to_f32(0x8200) == -ldexpf(1.0f, -15), "f16 widen negative subnormal");
    CHECK(xtc_f16_to_f32(0x7BFF) == 65504.0f, "f16 widen max");
    CHECK(xtc_f16_to_f32(0x3555) == f32_from_bits(0x3EAAA000), "f16 widen 0x3555");
    CHECK(f32_bits(xtc_f16_to_f32(0x7C00)) == 0x7F800000, "f16 widen inf");
    CHECK(f32_bits(xtc_f16_to_f32(0x8000)) == 0x80000000, "f16 widen -0");
    CHECK(isnan(xtc_f16_to_f32(0x7D00)) && (f32_bits(xtc_f16_to_f32(0x7D00)) & 0x00400000), "f16 widen NaN quiet");

    /* exhaustive round trips: widening is exact, so narrowing must give the bits back */
    size_t bad_bf = 0, bad_f16 = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if (!is_nan16((uint16_t)h, true))
            bad_bf += xtc_f32_to_bf16(xtc_bf16_to_f32((uint16_t)h)) != h;
        if (!is_nan16((uint16_t)h, false))
            bad_f16 += xtc_f32_to_f16(xtc_f16_to_f32((uint16_t)h)) != h;
    }
    CHECK(bad_bf == 0, "bf16 round trip fails for %zu values", bad_bf);
    CHECK(bad_f16 == 0, "f16 round trip fails for %zu values", bad_f16);

    /* nearest-even property on random and on every (exponent, low-bit pattern) of float32 */
    size_t bad_near_bf = 0, bad_near_f16 = 0;
    for (int i = 0; i < 400000; i++) {
        uint32_t u = rng_u32();
        if (i & 1) /* concentrate on float16's range and its tie patterns */
            u = (u & 0x80000000u) | ((uint32_t)(96 + rng_u32() % 50) << 23) | (u & 0x7FFFFFu & (i & 2 ? 0x7FF000u : ~0u));
        float f = f32_from_bits(u);
        bad_near_bf += !nearest_even_ok(f, xtc_f32_to_bf16(f), true);
        bad_near_f16 += !nearest_even_ok(f, xtc_f32_to_f16(f), false);
    }
    CHECK(bad_near_bf == 0, "bf16 narrowing not nearest-even for %zu random inputs", bad_near_bf);
    CHECK(bad_near_f16 == 0, "f16 narrowing not nearest-even for %zu random inputs", bad_near_f16);

    /* small helpers in tensor.h */
    CHECK(xtc_dtype_size(XTC_DTYPE_BF16) == 2 && xtc_dtype_size(XTC_DTYPE_I64) == 8 &&
              xtc_dtype_size(XTC_DTYPE_BOOL) == 1 && xtc_dtype_size(XTC_DTYPE_COUNT) == 0,
          "xtc_dtype_size");
    CHECK(!strcmp(xtc_dtype_name(XTC_DTYPE_BF16), "BF16") && !strcmp(xtc_dtype_name(XTC_DTYPE_BOOL), "BOOL") &&
              xtc_dtype_name(XTC_DTYPE_COUNT) != NULL,
          "xtc_dtype_name");
    int64_t shp[3] = {2, 3, 4};
    struct xtc_tensor t = xtc_tensor_make(XTC_DTYPE_F32, 3, shp, NULL);
    CHECK(t.ndim == 3 && t.stride[0] == 12 && t.stride[1] == 4 && t.stride[2] == 1 && t.shape[1] == 3,
          "xtc_tensor_make strides");
    t = xtc_tensor_make(XTC_DTYPE_F32, XTC_MAX_DIMS + 1, shp, shp);
    CHECK(t.ndim == -1 && t.data == NULL, "xtc_tensor_make rejects ndim > XTC_MAX_DIMS");
}

int main(void) {
    test_fp32_reference();
    test_parallel_path();
    test_strided();
    test_in_place();
    test_half(XTC_DTYPE_BF16);
    test_half(XTC_DTYPE_F16);
    test_tables();
    test_errors();
    test_conversions();
    if (g_failed) {
        fprintf(stderr, "test_rope: %d of %d checks FAILED\n", g_failed, g_checks);
        return 1;
    }
    printf("test_rope: all %d checks passed\n", g_checks);
    return 0;
}
