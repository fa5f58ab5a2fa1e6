/* The flash attention kernels' vector primitives at kernel level avx512 (and above): the
 * products and row passes of attention_flash.h's table in vectors of 16 floats. The algorithm
 * that calls them is attention_flash.c's, the same at every level.
 *
 * Written once in GCC/clang vector extensions (vector_size(64) types), not intrinsics, and
 * compiled twice from the same bodies, as matvec_v16.c is:
 * - _avx512: target AVX-512 F, BW, VL + FMA, one zmm register per vector; what level avx512
 *   runs (attention_flash.c chooses it);
 * - _avx512_on_avx2: target AVX2 + FMA, where the compiler lowers each 16-float vector to two
 *   ymm halves doing the same lane operations; run by the tests only
 *   (xtc_attention_flash_set(XTC_FLASH_V16_ON_AVX2)), so this source is tested on any x86-64
 *   with AVX2.
 *
 * The products are 12 x 16 micro-kernels: one vector of 16 accumulators per row (a panel of 16
 * keys, or 16 columns of Dp), twelve rows, so per k one load of B and twelve FMAs whose A
 * operand is a broadcast from memory (AVX-512's embedded broadcast); 12 of the 32 zmm
 * registers accumulate, against 12 of 16 ymm for AVX2's 6 x 16, which needs two loads per k.
 * A product of m rows (a multiple of 6, as the packing pads them) ends with a 6-row kernel
 * where m is not a multiple of 12. The packed layouts are the avx2 kernels': only this code
 * differs between the levels.
 *
 * The row passes (block max, exponentials and their sum, the output's rescaling, the
 * backward's probabilities and dS) run on 16 keys at a time. Their exponential is the avx2
 * kernels' (exp_nonpos, attention_flash.c): the same Cody-Waite reduction and polynomial with
 * FMAs, rounded to the nearest integer by adding 1.5 * 2^23 (whose low mantissa bits then hold
 * n, giving 2^n without a conversion).
 *
 * Multiply-adds are contracted into FMAs (one rounding each), as the intrinsics kernels do:
 * the pragmas below ask for it, GCC's because it contracts nothing in ISO C mode, clang's to
 * make its default explicit. Both builds contract the same operations. Each element of a product
 * is the avx2 micro-kernel's chain of FMAs in the same order, so the logits are the same bits;
 * results differ from the avx2 level by rounding only: the rows' sums over 16 lanes instead of
 * 8, and two contractions the intrinsics leave unfused (the exponential's x log2(e) before its
 * rounding, which may pick the neighbouring n, and the soft clamp's derivative 1 - t^2). */
#include <float.h>
#include <string.h>

#include "backend/cpu/attention_flash.h"

#ifdef XTC_FLASH_V16

#ifdef __clang__
#pragma STDC FP_CONTRACT ON
#else
#pragma GCC optimize("fp-contract=fast")
#endif

#define BODY static inline __attribute__((always_inline))
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))
#define TARGET_AVX2 __attribute__((target("avx2,fma")))

enum { NR = XTC_FLASH_NR, BC = XTC_FLASH_BC, W = 16 /* floats per vector */ };
_Static_assert(BC % W == 0 && NR == W, "a row of a block is whole vectors, a panel one vector wide");

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));

/* Unaligned loads and stores: memcpy is one vector move at either target. Macros rather than
 * functions: no vector ever crosses a function boundary (its passing convention differs per
 * target). */
#define LOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define STORE(p, v) memcpy((p), &(v), sizeof(v))
#define SPLAT(x) ((v16f){0} + (x))
/* m ? a : b per lane, m a comparison's result (-1 or 0 per lane) */
#define SELECT(m, a, b) ((v16f)(((v16i)(a) & (m)) | ((v16i)(b) & ~(m))))

static inline int64_t round_up(int64_t x, int64_t m) {
    return (x + m - 1) / m * m;
}

/* y = e^x for x <= 0, 0 below -87.3 (masked logits), NaN passed through: exp_nonpos of
 * attention_flash.c, lane for lane. The clamps are selects whose false side is x, so a NaN
 * stays NaN as in the intrinsics' max / min. */
#define EXP_NONPOS(y, x)                                                                                               \
    do {                                                                                                               \
        const v16f x_ = (x), lo_ = SPLAT(-87.3365447505531f), magic_ = SPLAT(12582912.0f); /* 1.5 * 2^23 */            \
        const v16i below_ = x_ < lo_;                                                                                  \
        v16f xc_ = SELECT(below_, lo_, x_);                                                                            \
        xc_ = SELECT(xc_ > SPLAT(0.0f), SPLAT(0.0f), xc_);                                                             \
        const v16f t_ = xc_ * 1.44269504088896341f + magic_; /* n in the low bits: round to nearest even */            \
        const v16f n_ = t_ - magic_;                                                                                   \
        v16f r_ = xc_ - n_ * 0.693359375f;                                                                             \
        r_ = r_ - n_ * -2.12194440e-4f;                                                                                \
        v16f q_ = SPLAT(1.9875691500e-4f);                                                                             \
        q_ = q_ * r_ + 1.3981999507e-3f;                                                                               \
        q_ = q_ * r_ + 8.3334519073e-3f;                                                                               \
        q_ = q_ * r_ + 4.1665795894e-2f;                                                                               \
        q_ = q_ * r_ + 1.6666665459e-1f;                                                                               \
        q_ = q_ * r_ + 5.0000001201e-1f;                                                                               \
        const v16f rr_ = r_ * r_;                                                                                      \
        q_ = (q_ * rr_ + r_) + 1.0f;                                                                                   \
        const v16u e_ = ((v16u)t_ - (v16u)magic_ + 127u) << 23; /* unsigned: a NaN's bits wrap harmlessly */           \
        (y) = SELECT(below_, SPLAT(0.0f), q_ * (v16f)e_);                                                              \
    } while (0)

/* A vector's 16 lanes reduced in a fixed tree order (the same in both builds) */
static inline float hmax16(const float t[16]) {
    float h[8];
    for (int i = 0; i < 8; i++)
        h[i] = t[i] > t[i + 8] ? t[i] : t[i + 8];
    for (int i = 0; i < 4; i++)
        h[i] = h[i] > h[i + 4] ? h[i] : h[i + 4];
    const float a = h[0] > h[2] ? h[0] : h[2], b = h[1] > h[3] ? h[1] : h[3];
    return a > b ? a : b;
}
static inline float hsum16(const float t[16]) {
    float h[8];
    for (int i = 0; i < 8; i++)
        h[i] = t[i] + t[i + 8];
    for (int i = 0; i < 4; i++)
        h[i] += h[i + 4];
    return (h[0] + h[2]) + (h[1] + h[3]);
}

// --- products

/* C (R x 16, row stride ldc; R = 12 or 6) = (acc ? C : 0) + sum_k A(r, k) B[k][0..16),
 * A(r, k) = A[r ar + k ak], B rows ldb apart. R constant once inlined: the accumulators stay
 * in registers. */
BODY void mk_body(float *restrict C, int64_t ldc, const float *restrict A, int64_t ar, int64_t ak,
                  const float *restrict B, int64_t ldb, int64_t kn, bool acc, int R) {
    v16f c[12];
    for (int r = 0; r < R; r++) {
        if (acc)
            LOAD(c[r], C + r * ldc);
        else
            c[r] = SPLAT(0.0f);
    }
    for (int64_t k = 0; k < kn; k++) {
        v16f b;
        LOAD(b, B + k * ldb);
        const float *a = A + k * ak;
        for (int r = 0; r < R; r++)
            c[r] = a[r * ar] * b + c[r];
    }
    for (int r = 0; r < R; r++)
        STORE(C + r * ldc, c[r]);
}

/* Rows [0, m) of a product (m a multiple of XTC_FLASH_MR, 6) in micro-kernels of 12 rows, then
 * one of 6 where m is not a multiple of 12: KERNEL(R) computes rows r0 .. r0 + R of every column
 * block. */
#define ROWS_12_6(m, KERNEL)                                                                                           \
    do {                                                                                                               \
        int64_t r0 = 0;                                                                                                \
        for (; r0 + 12 <= (m); r0 += 12)                                                                               \
            KERNEL(12);                                                                                                \
        if (r0 < (m))                                                                                                  \
            KERNEL(6);                                                                                                 \
    } while (0)

BODY void mm_rows_body(float *C, const float *A, int64_t ar, int64_t ak, const float *B, int64_t m, int64_t kn,
                       int64_t Dp, bool acc) {
#define MM_KERNEL(R)                                                                                                   \
    for (int64_t c = 0; c < Dp; c += NR)                                                                               \
    mk_body(C + r0 * Dp + c, Dp, A + r0 * ar, ar, ak, B + c, Dp, kn, acc, R)
    ROWS_12_6(m, MM_KERNEL);
#undef MM_KERNEL
}

BODY void logits_block_body(float *Sb, const float *X, int64_t ldx, const float *Kt, int64_t j0, int64_t nb, int64_t m,
                            int D) {
#define LOGITS_KERNEL(R)                                                                                               \
    for (int64_t c = 0; c < nb; c += NR)                                                                               \
    mk_body(Sb + r0 * BC + c, BC, X + r0 * ldx, ldx, 1, Kt + (j0 + c) * D, NR, D, false, R)
    ROWS_12_6(m, LOGITS_KERNEL);
#undef LOGITS_KERNEL
}

// --- the forward's row passes

BODY void rows_max_body(float *Sb, int64_t n, int64_t nb, float *bmax) {
    const int64_t nw = round_up(nb, W);
    for (int64_t r = 0; r < n; r++) {
        float *row = Sb + r * BC;
        for (int64_t j = nb; j < nw; j++) /* whole vectors: the keys past the block weigh 0 */
            row[j] = -FLT_MAX;
        v16f vm = SPLAT(-FLT_MAX);
        for (int64_t j = 0; j < nw; j += W) {
            v16f y;
            LOAD(y, row + j);
            vm = SELECT(y > vm, y, vm); /* a NaN logit reaches the sum instead */
        }
        float t[16];
        memcpy(t, &vm, sizeof t);
        bmax[r] = hmax16(t);
    }
}

BODY void rows_exp_sum_body(float *Sb, int64_t n, int64_t nb, const float *mx, float *sum) {
    const int64_t nw = round_up(nb, W);
    for (int64_t r = 0; r < n; r++) {
        float *row = Sb + r * BC;
        for (int64_t j = nb; j < nw; j++)
            row[j] = -FLT_MAX;
        v16f vs = SPLAT(0.0f);
        for (int64_t j = 0; j < nw; j += W) {
            v16f y, e;
            LOAD(y, row + j);
            EXP_NONPOS(e, y - mx[r]);
            STORE(row + j, e);
            vs = vs + e;
        }
        float t[16];
        memcpy(t, &vs, sizeof t);
        sum[r] = hsum16(t);
    }
}

BODY void scale_rows_body(float *Oa, int64_t Dp, int64_t n, const float *alpha) {
    for (int64_t r = 0; r < n; r++) {
        if (alpha[r] == 1.0f)
            continue;
        float *o = Oa + r * Dp;
        for (int64_t d = 0; d < Dp; d += W) {
            v16f v;
            LOAD(v, o + d);
            v = v * alpha[r];
            STORE(o + d, v);
        }
    }
}

// --- the backward's row pass

BODY void rows_grad_body(float *Sb, float *dP, int64_t n, int64_t nb, const float *L, const float *delta, float c) {
    const int64_t nw = round_up(nb, W);
    for (int64_t r = 0; r < n; r++) {
        float *pr = Sb + r * BC, *dr = dP + r * BC;
        for (int64_t j = nb; j < nw; j++) /* whole vectors: the keys past the block weigh 0 */
            pr[j] = -FLT_MAX;
        for (int64_t j = 0; j < nw; j += W) { /* masked logits (-FLT_MAX) get 0 */
            v16f y, e, d;
            LOAD(y, pr + j);
            LOAD(d, dr + j);
            EXP_NONPOS(e, y - L[r]);
            STORE(pr + j, e);
            /* dS = P (dP - delta), times the soft clamp's derivative 1 - (y / c)^2, 0 where masked */
            v16f ds = e * (d - delta[r]);
            if (c > 0) {
                const v16f t = y / c;
                ds = ds * (1.0f - t * t);
                ds = SELECT(y == SPLAT(-FLT_MAX), SPLAT(0.0f), ds);
            }
            STORE(dr + j, ds);
        }
        for (int64_t j = nw; j < BC; j++) /* the products read up to a whole panel, or MR keys */
            pr[j] = dr[j] = 0.0f;
    }
}

// --- the two builds of each body, and their tables

#define INSTANTIATE(target, suffix)                                                                                    \
    target static void logits_block_##suffix(float *Sb, const float *X, int64_t ldx, const float *Kt, int64_t j0,      \
                                             int64_t nb, int64_t m, int D) {                                           \
        logits_block_body(Sb, X, ldx, Kt, j0, nb, m, D);                                                               \
    }                                                                                                                  \
    target static void mm_rows_##suffix(float *C, const float *A, int64_t ar, int64_t ak, const float *B, int64_t m,   \
                                        int64_t kn, int64_t Dp, bool acc) {                                            \
        mm_rows_body(C, A, ar, ak, B, m, kn, Dp, acc);                                                                 \
    }                                                                                                                  \
    target static void rows_max_##suffix(float *Sb, int64_t n, int64_t nb, float *bmax) {                              \
        rows_max_body(Sb, n, nb, bmax);                                                                                \
    }                                                                                                                  \
    target static void rows_exp_sum_##suffix(float *Sb, int64_t n, int64_t nb, const float *mx, float *sum) {          \
        rows_exp_sum_body(Sb, n, nb, mx, sum);                                                                         \
    }                                                                                                                  \
    target static void scale_rows_##suffix(float *Oa, int64_t Dp, int64_t n, const float *alpha) {                     \
        scale_rows_body(Oa, Dp, n, alpha);                                                                             \
    }                                                                                                                  \
    target static void rows_grad_##suffix(float *Sb, float *dP, int64_t n, int64_t nb, const float *L,                 \
                                          const float *delta, float c) {                                               \
        rows_grad_body(Sb, dP, n, nb, L, delta, c);                                                                    \
    }                                                                                                                  \
    const struct xtc_flash_kernels xtc_flash_kernels_##suffix = {                                                      \
        .logits_block = logits_block_##suffix,                                                                         \
        .mm_rows = mm_rows_##suffix,                                                                                   \
        .rows_max = rows_max_##suffix,                                                                                 \
        .rows_exp_sum = rows_exp_sum_##suffix,                                                                         \
        .scale_rows = scale_rows_##suffix,                                                                             \
        .rows_grad = rows_grad_##suffix,                                                                               \
    };

INSTANTIATE(TARGET_AVX512, avx512)
INSTANTIATE(TARGET_AVX2, avx512_on_avx2)

#endif
