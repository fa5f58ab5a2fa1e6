/* Flash attention on the CPU: the forward keeps each query tile's softmax online over blocks of
 * keys (running max and sum per row, the output rescaled when the max grows) and saves every
 * row's log-sum-exp; the backward recomputes each block's probabilities as exp(logit - lse),
 * with no max or sum pass, and takes the row sums its softmax gradient needs from the forward's
 * output (delta = dO . O). All products are FMA micro-kernels on operands packed once per head:
 * the keys transposed in panels of 16, the values, queries and output gradients in rows padded
 * to a multiple of 16 floats. The algorithm below is written once; its products and row passes
 * (block max, exponentials, sums, rescaling, the backward's dS) go through a table of vector
 * primitives (attention_flash.h) chosen once per call from the kernel level: at avx2, 6 x 16
 * micro-kernels (two 8-float vectors per row) and 8-float row passes in AVX2 intrinsics, below;
 * from avx512 on, 12 x 16 micro-kernels (one 16-float vector per row) and 16-float row passes
 * (attention_flash_v16.c, one source in vector extensions, also built for AVX2 for the tests).
 * The packed layouts are the same at both levels. Against the query tiles through BLAS
 * (attention_tiled.c) this removes what BLAS does again for every tile: repacking the keys and
 * values it reads, zeroing its outputs first, and the backward's second softmax.
 *
 * It runs what the tiled kernels run minus the options with paths of their own: sparse top-k,
 * relative-projection bias, CoPE, data-dependent ALiBi, residual attention and talking heads go
 * to the tiled (or row-wise) kernels, and so do calls of fewer than 8 queries (decoding), CPUs
 * below AVX2, and a backward whose forward left no log-sum-exp (xtc_attn_params.lse, .out). Masks, positional bias
 * schemes (their learned tables' gradients included), soft clamps of the logits, memory key/values (blocks of keys of
 * their own, before the sequence's, with neither bias nor mask), grouped key/value heads and strided keys/values are
 * handled. Semantics are the reference's (backend/ref/attention.c); results differ by rounding (a different summation
 * order, FMA), and between the avx2 and avx512 levels by rounding only (the rows' sums over 16 lanes, two FMAs). */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "attn/attention.h"
#include "backend/cpu/attention_flash.h"
#include "backend/cpu/cpu.h"
#include "backend/cpu/vec.h"
#include "core/cpu.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FLASH_BUILT 1
/* the avx2 kernels, and the algorithm itself at every level (flash runs from level avx2 up): its
 * scalar parts run the same code whichever table it calls */
#define TARGET __attribute__((target("avx2,fma")))
#else
#define FLASH_BUILT 0
#define TARGET
#endif

enum {
    MR = XTC_FLASH_MR, /* micro-kernel rows (avx2) */
    NR = XTC_FLASH_NR, /* micro-kernel columns: two 8-float vectors (avx2), one of 16 (avx512) */
    BR = XTC_FLASH_BR, /* query rows per tile */
    BC = XTC_FLASH_BC, /* keys per block */
    MIN_T = 8,         /* fewer query rows: the tiled kernels (decoding, short continuations) */
};

static inline int64_t round_up(int64_t x, int64_t m) {
    return (x + m - 1) / m * m;
}
static inline int64_t padded_d(const struct xtc_attn_params *p) {
    return round_up(p->D, NR);
}

/* -1 until the first call, then an enum xtc_flash_mode (backend/cpu/cpu.h): XTC_FLASH_OFF, or
 * on where eligible. XTC_ATTENTION=tiled turns it off (read once; an A/B switch for
 * benchmarks), tests force it. Atomic: calls may come from several threads, each context on its
 * own. */
static atomic_int g_flash = -1;

void xtc_attention_flash_set(int mode) {
    atomic_store(&g_flash, mode == XTC_FLASH_V16_ON_AVX2 ? XTC_FLASH_V16_ON_AVX2 : mode ? XTC_FLASH_ON : XTC_FLASH_OFF);
}

static int flash_mode(void) {
    int f = atomic_load_explicit(&g_flash, memory_order_relaxed);
    if (f < 0) {
        const char *e = getenv("XTC_ATTENTION");
        atomic_compare_exchange_strong(&g_flash, &f, e && strcmp(e, "tiled") == 0 ? XTC_FLASH_OFF : XTC_FLASH_ON);
        f = atomic_load(&g_flash); /* a set wins */
    }
    return f;
}

/* Whether the flash kernels take this call's kind, whatever the CPU (scratch is sized from it). */
static bool flash_kind(const struct xtc_attn_params *p) {
    return FLASH_BUILT && p->sparse_topk == 0 && !p->rp_curves && !xtc_attn_rowwise(p) && !xtc_attn_residual(p) &&
           !p->talking_heads && p->T >= MIN_T && p->D > 0;
}

bool xtc_attention_flash_forward_ok(const struct xtc_attn_params *p) {
    return flash_kind(p) && flash_mode() != XTC_FLASH_OFF && xtc_cpu_level() >= XTC_CPU_AVX2;
}

/* The backward also needs the forward's output and log-sum-exp, packed keys and values, and
 * rows the forward did not mark: NaN (no flash forward ran) or -inf (a row that saw no key
 * averages every value, a case the tiled backward covers). */
bool xtc_attention_flash_backward_ok(const struct xtc_attn_params *p) {
    if (!xtc_attention_flash_forward_ok(p) || !p->out || !p->lse || (p->k_bstride && p->k_bstride != p->S) ||
        (p->v_bstride && p->v_bstride != p->S))
        return false;
    const int64_t n = p->B * p->H * p->T;
    for (int64_t i = 0; i < n; i++)
        if (p->lse[i] != p->lse[i] || p->lse[i] == -INFINITY)
            return false;
    return true;
}

/* Keys of the memory key/values rounded up to whole blocks (0 without them). */
static inline int64_t mem_rows(const struct xtc_attn_params *p) {
    return round_up(p->K, BC);
}

/* Per-thread floats of the forward (query tile, logits block, output accumulator, row max and
 * sum) and of the backward (for the sequence's keys and then the memory key/values: keys
 * transposed, values transposed, keys in rows, dK / dV accumulators; packed queries, dO and dQ of
 * one head, delta, two blocks; last the private sums: the bias table's gradient, dmem_k, dmem_v),
 * and the forward's shared packs (keys transposed and values of every (batch row, key/value
 * head), then of the memory key/values of every key/value head). */
/* Whether the forward's work items are whole groups of heads (batch row, key/value head), each
 * thread packing the keys and values of its group in its own scratch: when there are enough
 * groups to share out. With few (one long sequence), the items are (head, query tile) and every
 * group's keys and values are packed up front in shared scratch, which grows with B: packing per
 * group keeps a large batch's scratch at one group per thread. */
static bool fwd_per_group(const struct xtc_attn_params *p) {
    return p->B * p->G >= 4 * (int64_t)omp_get_max_threads();
}
static size_t fwd_per_thread(const struct xtc_attn_params *p) {
    const int64_t Dp = padded_d(p), group = fwd_per_group(p) ? round_up(p->S, BC) * (p->D + Dp) : 0;
    return (size_t)(BR * Dp + BR * BC + BR * Dp + 2 * BR + 16 + group);
}
static size_t bwd_private(const struct xtc_attn_params *p) {
    return (size_t)(p->dbias_n + 2 * (int64_t)p->G * p->K * p->D + 16);
}
static size_t bwd_per_thread(const struct xtc_attn_params *p) {
    const int64_t Dp = padded_d(p), Sp = round_up(p->S, BC) + mem_rows(p), Tp = round_up(p->T, BR);
    return (size_t)(2 * Sp * p->D + 3 * Sp * Dp + 3 * Tp * Dp + Tp + 2 * BR * BC) + bwd_private(p);
}
static size_t fwd_shared(const struct xtc_attn_params *p) {
    const int64_t Dp = padded_d(p), Sp = round_up(p->S, BC);
    return (size_t)(((fwd_per_group(p) ? 0 : p->B * Sp) + mem_rows(p)) * p->G * (p->D + Dp));
}
static size_t per_thread(const struct xtc_attn_params *p) {
    size_t f = fwd_per_thread(p), b = bwd_per_thread(p);
    return f > b ? f : b;
}

size_t xtc_attention_flash_scratch(const struct xtc_attn_params *p) {
    if (!flash_kind(p))
        return 0;
    return per_thread(p) * (size_t)omp_get_max_threads() + fwd_shared(p);
}

#if FLASH_BUILT

/* C (6 x 16, row stride ldc) = (acc ? C : 0) + sum_k A(r, k) B[k][0..16), A(r, k) = A[r ar + k ak],
 * B rows ldb apart. Twelve accumulators, two loads and six broadcasts per k. */
TARGET static inline void mk(float *restrict C, int64_t ldc, const float *restrict A, int64_t ar, int64_t ak,
                             const float *restrict B, int64_t ldb, int64_t kn, bool acc) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (acc) {
        c00 = _mm256_loadu_ps(C), c01 = _mm256_loadu_ps(C + 8);
        c10 = _mm256_loadu_ps(C + ldc), c11 = _mm256_loadu_ps(C + ldc + 8);
        c20 = _mm256_loadu_ps(C + 2 * ldc), c21 = _mm256_loadu_ps(C + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(C + 3 * ldc), c31 = _mm256_loadu_ps(C + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(C + 4 * ldc), c41 = _mm256_loadu_ps(C + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(C + 5 * ldc), c51 = _mm256_loadu_ps(C + 5 * ldc + 8);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    }
    const float *a0 = A, *a1 = A + ar, *a2 = A + 2 * ar, *a3 = A + 3 * ar, *a4 = A + 4 * ar, *a5 = A + 5 * ar;
    for (int64_t k = 0; k < kn; k++) {
        const __m256 b0 = _mm256_loadu_ps(B + k * ldb), b1 = _mm256_loadu_ps(B + k * ldb + 8);
        const int64_t o = k * ak;
        __m256 a = _mm256_broadcast_ss(a0 + o);
        c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(a1 + o);
        c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(a2 + o);
        c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(a3 + o);
        c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(a4 + o);
        c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(a5 + o);
        c50 = _mm256_fmadd_ps(a, b0, c50), c51 = _mm256_fmadd_ps(a, b1, c51);
    }
    _mm256_storeu_ps(C, c00), _mm256_storeu_ps(C + 8, c01);
    _mm256_storeu_ps(C + ldc, c10), _mm256_storeu_ps(C + ldc + 8, c11);
    _mm256_storeu_ps(C + 2 * ldc, c20), _mm256_storeu_ps(C + 2 * ldc + 8, c21);
    _mm256_storeu_ps(C + 3 * ldc, c30), _mm256_storeu_ps(C + 3 * ldc + 8, c31);
    _mm256_storeu_ps(C + 4 * ldc, c40), _mm256_storeu_ps(C + 4 * ldc + 8, c41);
    _mm256_storeu_ps(C + 5 * ldc, c50), _mm256_storeu_ps(C + 5 * ldc + 8, c51);
}

/* e^x for x <= 0 (x - the row's max, or its log-sum-exp), 0 below -87.3 (masked logits:
 * -FLT_MAX - m; zeroed rows' lse +inf), NaN passed through. The Cody-Waite reduction and
 * polynomial of xtc_vec_expf (vec.h) with FMAs, and no clamp above: the compiled version's two
 * clamps, NaN blend and unfused multiply-adds cost as much as the logits' products. */
TARGET static inline __m256 exp_nonpos(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.3365447505531f);
    const __m256 xc = _mm256_min_ps(_mm256_setzero_ps(), _mm256_max_ps(lo, x)); /* NaN stays NaN */
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 q = _mm256_set1_ps(1.9875691500e-4f);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.3981999507e-3f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(8.3334519073e-3f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(4.1665795894e-2f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.6666665459e-1f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(5.0000001201e-1f));
    q = _mm256_add_ps(_mm256_fmadd_ps(q, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    const __m256 y = _mm256_mul_ps(q, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), y);
}

TARGET static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
TARGET static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* C (m x Dp, m a multiple of MR, stride Dp) = or += A (m x kn: A(r, k) = A[r ar + k ak]) B (kn x Dp, stride Dp) */
TARGET static void mm_rows(float *C, const float *A, int64_t ar, int64_t ak, const float *B, int64_t m, int64_t kn,
                           int64_t Dp, bool acc) {
    for (int64_t r = 0; r < m; r += MR)
        for (int64_t c = 0; c < Dp; c += NR)
            mk(C + r * Dp + c, Dp, A + r * ar, ar, ak, B + c, Dp, kn, acc);
}

/* The logits block (m x nb, stride BC; m a multiple of MR) = X (m x D rows, stride ldx) times
 * the transposed keys' panels from key j0 on: Kt (S / 16 panels of D x 16). */
TARGET static void logits_block(float *Sb, const float *X, int64_t ldx, const float *Kt, int64_t j0, int64_t nb,
                                int64_t m, int D) {
    for (int64_t r = 0; r < m; r += MR)
        for (int64_t c = 0; c < nb; c += NR)
            mk(Sb + r * BC + c, BC, X + r * ldx, ldx, 1, Kt + (j0 + c) * D, NR, D, false);
}

/* The row passes of attention_flash.h's table, 8 keys at a time (each row padded to whole vectors). */
TARGET static void rows_max(float *Sb, int64_t n, int64_t nb, float *bmax) {
    const int64_t nb8 = round_up(nb, 8);
    for (int64_t r = 0; r < n; r++) {
        float *row = Sb + r * BC;
        for (int64_t j = nb; j < nb8; j++) /* whole vectors: the keys past the block weigh 0 */
            row[j] = -FLT_MAX;
        __m256 vm = _mm256_set1_ps(-FLT_MAX);
        for (int64_t j = 0; j < nb8; j += 8)
            vm = _mm256_max_ps(_mm256_loadu_ps(row + j), vm); /* a NaN logit reaches the sum instead */
        bmax[r] = hmax8(vm);
    }
}

TARGET static void rows_exp_sum(float *Sb, int64_t n, int64_t nb, const float *mx, float *sum) {
    const int64_t nb8 = round_up(nb, 8);
    for (int64_t r = 0; r < n; r++) {
        float *row = Sb + r * BC;
        for (int64_t j = nb; j < nb8; j++)
            row[j] = -FLT_MAX;
        const __m256 vmax = _mm256_set1_ps(mx[r]);
        __m256 vs = _mm256_setzero_ps();
        for (int64_t j = 0; j < nb8; j += 8) {
            const __m256 e = exp_nonpos(_mm256_sub_ps(_mm256_loadu_ps(row + j), vmax));
            _mm256_storeu_ps(row + j, e);
            vs = _mm256_add_ps(vs, e);
        }
        sum[r] = hsum8(vs);
    }
}

TARGET static void scale_rows(float *Oa, int64_t Dp, int64_t n, const float *alpha) {
    for (int64_t r = 0; r < n; r++) {
        if (alpha[r] == 1.0f)
            continue;
        float *o = Oa + r * Dp;
        const float a = alpha[r];
#pragma omp simd
        for (int64_t d = 0; d < Dp; d++)
            o[d] *= a;
    }
}

TARGET static void rows_grad(float *Sb, float *dP, int64_t n, int64_t nb, const float *L, const float *delta, float c) {
    const int64_t nb8 = round_up(nb, 8);
    const __m256 vc = _mm256_set1_ps(c > 0 ? c : 1.0f);
    for (int64_t r = 0; r < n; r++) {
        float *pr = Sb + r * BC, *dr = dP + r * BC;
        for (int64_t j = nb; j < nb8; j++) /* whole vectors: the keys past the block weigh 0 */
            pr[j] = -FLT_MAX;
        const __m256 li = _mm256_set1_ps(L[r]), di = _mm256_set1_ps(delta[r]);
        for (int64_t j = 0; j < nb8; j += 8) { /* masked logits (-FLT_MAX) get 0 */
            const __m256 y = _mm256_loadu_ps(pr + j), e = exp_nonpos(_mm256_sub_ps(y, li));
            _mm256_storeu_ps(pr + j, e);
            /* dS = P (dP - delta), times the soft clamp's derivative 1 - (y / c)^2, 0 where masked */
            __m256 ds = _mm256_mul_ps(e, _mm256_sub_ps(_mm256_loadu_ps(dr + j), di));
            if (c > 0) {
                const __m256 t = _mm256_div_ps(y, vc);
                ds = _mm256_mul_ps(ds, _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(t, t)));
                ds = _mm256_andnot_ps(_mm256_cmp_ps(y, _mm256_set1_ps(-FLT_MAX), _CMP_EQ_OQ), ds);
            }
            _mm256_storeu_ps(dr + j, ds);
        }
        for (int64_t j = nb8; j < BC; j++) /* the products read up to a whole panel, or MR keys */
            pr[j] = dr[j] = 0.0f;
    }
}

static const struct xtc_flash_kernels kernels_avx2 = {
    .logits_block = logits_block,
    .mm_rows = mm_rows,
    .rows_max = rows_max,
    .rows_exp_sum = rows_exp_sum,
    .scale_rows = scale_rows,
    .rows_grad = rows_grad,
};

/* The table of the level in force (the tests may ask for the avx512 source's AVX2 build). Chosen
 * once per call: a call runs one level's code throughout. */
static const struct xtc_flash_kernels *flash_kernels(void) {
#ifdef XTC_FLASH_V16
    if (flash_mode() == XTC_FLASH_V16_ON_AVX2)
        return &xtc_flash_kernels_avx512_on_avx2;
    if (xtc_cpu_level() >= XTC_CPU_AVX512)
        return &xtc_flash_kernels_avx512;
#endif
    return &kernels_avx2;
}

/* Kt: keys [0, S) of stride ldk transposed into panels of 16 (panel p: D rows of keys 16p ..
 * 16p + 15), zero past S up to Sp; rows: X (n x D, stride ldx) into n x Dp rows, zero-padded to
 * np rows and Dp columns (scaled by s). */
static void pack_panels(float *Kt, const float *K, int64_t ldk, int64_t S, int64_t Sp, int D) {
    for (int64_t p0 = 0; p0 < Sp; p0 += NR) {
        float *P = Kt + p0 * D;
        for (int d = 0; d < D; d++)
            for (int c = 0; c < NR; c++)
                P[d * NR + c] = p0 + c < S ? K[(p0 + c) * ldk + d] : 0.0f;
    }
}
static void pack_rows(float *Xp, const float *X, int64_t ldx, int64_t n, int64_t np, int D, int64_t Dp, float s) {
    for (int64_t r = 0; r < np; r++) {
        float *o = Xp + r * Dp;
        if (r < n)
            for (int d = 0; d < D; d++)
                o[d] = X[r * ldx + d] * s;
        for (int64_t d = r < n ? D : 0; d < Dp; d++)
            o[d] = 0.0f;
    }
}

/* The logits of row i (batch row b, head h) for keys [j0, j0 + nb) of kind ks: the sequence's
 * get their bias, every logit the soft clamp (Attend clamps the whole row, memory key/values
 * included), then the sequence's masked keys -FLT_MAX (replaced, as every kernel does). */
TARGET static void logits_row(const struct xtc_attn_params *p, bool seq, int64_t b, int h, int64_t i, int64_t j0,
                              int64_t nb, float *row) {
    const int64_t S = p->S, T = p->T;
    if (seq && p->bias.scheme)
        xtc_attn_bias_seg(p, b, h, i, j0, nb, row);
    const float c = p->softclamp;
    if (c > 0)
        for (int64_t j = 0; j < nb; j++)
            row[j] = c * tanhf(row[j] / c);
    if (!seq)
        return;
    int64_t vis = nb; /* keys [j0, j0 + vis) pass the causal mask */
    if (p->causal) {
        const int64_t last = i + S - T;
        vis = last + 1 - j0 < 0 ? 0 : last + 1 - j0 < nb ? last + 1 - j0 : nb;
        for (int64_t j = vis; j < nb; j++)
            row[j] = -FLT_MAX;
    }
    if (p->key_mask) {
        const uint8_t *km = p->key_mask + b * S + j0;
        for (int64_t j = 0; j < vis; j++)
            if (!km[j])
                row[j] = -FLT_MAX;
    }
}

/* Keys of one kind, packed: the sequence's (bias and masks apply) or the memory key/values
 * (neither), n of them. Kt: transposed in panels; Vp: values in rows of Dp (forward); Vt: values
 * transposed, Kp: keys in rows, dKa / dVa: their gradients' accumulators (backward). */
struct keys {
    const float *Kt, *Vp, *Vt, *Kp;
    float *dKa, *dVa;
    int64_t n;
    bool seq;
};

/* One block of nb keys from j0 into the running softmax of query rows i0 .. i0 + n (m padded):
 * logits, bias and masks, the block's max and exponentials, the rows' sums and outputs rescaled
 * where the max grew, then Oa += P V. */
TARGET static void forward_block(const struct xtc_flash_kernels *fk, const struct xtc_attn_params *p, int64_t b, int h,
                                 int64_t i0, int64_t n, int64_t m, const float *Qp, const struct keys *ks, int64_t j0,
                                 int64_t nb, float *Sb, float *Oa, float *mx, float *l) {
    const int64_t Dp = padded_d(p);
    float bmax[BR], alpha[BR], sum[BR];
    fk->logits_block(Sb, Qp, Dp, ks->Kt, j0, nb, m, p->D);
    if (ks->seq || p->softclamp > 0)
        for (int64_t r = 0; r < n; r++)
            logits_row(p, ks->seq, b, h, i0 + r, j0, nb, Sb + r * BC);
    fk->rows_max(Sb, n, nb, bmax);
    for (int64_t r = 0; r < n; r++) {
        const float mnew = bmax[r] > mx[r] ? bmax[r] : mx[r];
        alpha[r] = 1.0f;
        if (mnew != mx[r]) { /* the running sum and output were relative to a smaller max */
            alpha[r] = xtc_vec_expf(mx[r] - mnew);
            l[r] *= alpha[r];
            mx[r] = mnew;
        }
    }
    fk->rows_exp_sum(Sb, n, nb, mx, sum);
    for (int64_t r = 0; r < n; r++)
        l[r] += sum[r];
    fk->scale_rows(Oa, Dp, n, alpha);
    for (int64_t r = n; r < m; r++) /* the padding rows: no weight */
        memset(Sb + r * BC, 0, sizeof(float) * (size_t)nb);
    fk->mm_rows(Oa, Sb, BC, 1, ks->Vp + j0 * Dp, m, nb, Dp, true);
}

/* Rows i0 .. i0 + n of head h. seq, mem: the (b, h % G) packs of the sequence's keys and of the
 * memory key/values. ws: fwd_per_thread floats. */
TARGET static void forward_tile(const struct xtc_flash_kernels *fk, float *out, float *lse, const float *q,
                                const struct keys *seq, const struct keys *mem, const struct xtc_attn_params *p,
                                int64_t b, int h, int64_t i0, int64_t n, bool any_key, float *ws) {
    const int64_t T = p->T, S = p->S, HD = (int64_t)p->H * p->D, Dp = padded_d(p);
    const int D = p->D;
    const int64_t m = round_up(n, MR);
    float *Qp = ws, *Sb = Qp + BR * Dp, *Oa = Sb + BR * BC, *mx = Oa + BR * Dp, *l = mx + BR;
    pack_rows(Qp, q + (b * T + i0) * HD + (int64_t)h * D, HD, n, m, D, Dp, p->scale);
    memset(Oa, 0, sizeof(float) * (size_t)(m * Dp));
    for (int64_t r = 0; r < n; r++)
        mx[r] = -FLT_MAX, l[r] = 0.0f;
    for (int64_t j0 = 0; j0 < mem->n; j0 += BC)
        forward_block(fk, p, b, h, i0, n, m, Qp, mem, j0, mem->n - j0 < BC ? mem->n - j0 : BC, Sb, Oa, mx, l);
    /* the sequence's keys any row of the tile may see */
    const int64_t Sv = p->causal ? (i0 + n + S - T < S ? (i0 + n + S - T > 0 ? i0 + n + S - T : 0) : S) : S;
    for (int64_t j0 = 0; j0 < Sv; j0 += BC)
        forward_block(fk, p, b, h, i0, n, m, Qp, seq, j0, Sv - j0 < BC ? Sv - j0 : BC, Sb, Oa, mx, l);
    float *O = out + (b * T + i0) * HD + (int64_t)h * D;
    float *L = lse ? lse + ((b * p->H + h) * T + i0) : NULL;
    for (int64_t r = 0; r < n; r++) {
        float *o = O + r * HD;
        if (xtc_attn_row_zeroed(p, b, i0 + r, any_key)) {
            memset(o, 0, sizeof(float) * (size_t)D);
            if (L)
                L[r] = INFINITY; /* the backward's exp(logit - lse) is then 0: no gradient */
        } else if (mx[r] == -FLT_MAX && l[r] == l[r]) {
            /* every key hidden from this row: torch's softmax of -FLT_MAX logits is uniform over
             * all S keys, including those the causal mask kept out of this tile */
            memset(o, 0, sizeof(float) * (size_t)D);
            for (int64_t j = 0; j < S; j++) /* (no memory key/values: they would be visible) */
                for (int d = 0; d < D; d++)
                    o[d] += seq->Vp[j * Dp + d];
            for (int d = 0; d < D; d++)
                o[d] /= (float)S;
            if (L)
                L[r] = -INFINITY; /* the backward leaves such a call to the tiled kernels */
        } else {
            const float inv = 1.0f / l[r];
            for (int d = 0; d < D; d++)
                o[d] = Oa[r * Dp + d] * inv;
            if (L)
                L[r] = mx[r] + logf(l[r]);
        }
    }
}

/* Kt (panels) then Vp (rows of Dp) of n keys and values (rows ld apart) into w, np keys long */
static void pack_forward(float *w, const float *K, const float *V, int64_t ld, int64_t n, int64_t np, int D,
                         int64_t Dp) {
    pack_panels(w, K, ld, n, np, D);
    pack_rows(w + np * D, V, ld, n, np, D, Dp, 1.0f);
}

TARGET void xtc_attention_forward_flash(float *out, const float *q, const float *k, const float *v,
                                        const struct xtc_attn_params *p, float *scratch) {
    const int64_t B = p->B, T = p->T, S = p->S, K = p->K, Dp = padded_d(p), Sp = round_up(S, BC), Km = mem_rows(p);
    const int H = p->H, G = p->G, D = p->D;
    const int64_t GD = (int64_t)G * D, pack = Sp * (D + Dp);
    const int64_t kst = p->k_bstride ? p->k_bstride : S, vst = p->v_bstride ? p->v_bstride : S;
    const size_t per = per_thread(p);
    const bool per_group = fwd_per_group(p);
    /* shared: every hk's memory key/values, then (without per_group) every (b, hk)'s keys and values */
    float *shared_mem = scratch + per * (size_t)omp_get_max_threads(), *shared = shared_mem + G * Km * (D + Dp);
    const int64_t nt = (T + BR - 1) / BR, BH = B * H, npack = G + (per_group ? 0 : B * G);
    const bool parallel = (double)B * H * T * (K + S) * D > 2e5;
    const struct xtc_flash_kernels *fk = flash_kernels();
#pragma omp parallel if (parallel)
    {
#pragma omp for schedule(static)
        for (int64_t it = 0; it < npack; it++) {
            const int hk = (int)(it % G);
            if (it < G && K > 0)
                pack_forward(shared_mem + hk * Km * (D + Dp), p->mem_k + (int64_t)hk * K * D,
                             p->mem_v + (int64_t)hk * K * D, D, K, Km, D, Dp);
            else if (it >= G) {
                const int64_t b = it / G - 1;
                pack_forward(shared + (b * G + hk) * pack, k + b * kst * GD + (int64_t)hk * D,
                             v + b * vst * GD + (int64_t)hk * D, GD, S, Sp, D, Dp);
            }
        }
        float *ws = scratch + per * (size_t)omp_get_thread_num();
        float *mine = per_group ? ws + (per - (size_t)pack) : NULL; /* after the tile's scratch */
        if (per_group) {
            /* one group of heads per item: its keys and values packed once, in the thread's scratch */
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < B * G; it++) {
                const int64_t b = it / G;
                const int hk = (int)(it % G);
                pack_forward(mine, k + b * kst * GD + (int64_t)hk * D, v + b * vst * GD + (int64_t)hk * D, GD, S, Sp, D,
                             Dp);
                const float *Mt = shared_mem + hk * Km * (D + Dp);
                const struct keys seq = {.Kt = mine, .Vp = mine + Sp * D, .n = S, .seq = true};
                const struct keys mem = {.Kt = Mt, .Vp = Mt + Km * D, .n = K, .seq = false};
                for (int h = hk; h < H; h += G)
                    for (int64_t i0 = 0; i0 < T; i0 += BR)
                        forward_tile(fk, out, p->lse, q, &seq, &mem, p, b, h, i0, T - i0 < BR ? T - i0 : BR,
                                     xtc_attn_any_visible_key(p, b), ws);
            }
        } else {
            /* (batch row, head, tile) items one at a time, the last (costlier, causal) tiles of a
             * head first; each writes its own rows, the same values whichever thread runs it */
#pragma omp for schedule(dynamic, 1)
            for (int64_t it = 0; it < nt * BH; it++) {
                const int64_t i0 = (nt - 1 - it % nt) * BR, b = it / nt / H;
                const int h = (int)(it / nt % H), hk = h % G;
                const float *Kt = shared + (b * G + hk) * pack, *Mt = shared_mem + hk * Km * (D + Dp);
                const struct keys seq = {.Kt = Kt, .Vp = Kt + Sp * D, .n = S, .seq = true};
                const struct keys mem = {.Kt = Mt, .Vp = Mt + Km * D, .n = K, .seq = false};
                forward_tile(fk, out, p->lse, q, &seq, &mem, p, b, h, i0, T - i0 < BR ? T - i0 : BR,
                             xtc_attn_any_visible_key(p, b), ws);
            }
        }
    }
}

/* Packs one kind of keys for the backward: keys transposed and in rows, values transposed (n
 * of them from K, V with rows ld apart, into np), and zeroes their gradients' accumulators. */
static void pack_keys(struct keys *ks, float *w, const float *K, const float *V, int64_t ld, int64_t n, int64_t np,
                      int D, int64_t Dp, bool seq) {
    float *Kt = w, *Vt = Kt + np * D, *Kp = Vt + np * D, *dKa = Kp + np * Dp, *dVa = dKa + np * Dp;
    pack_panels(Kt, K, ld, n, np, D);
    pack_panels(Vt, V, ld, n, np, D);
    pack_rows(Kp, K, ld, n, np, D, Dp, 1.0f);
    memset(dKa, 0, sizeof(float) * (size_t)(2 * np * Dp));
    *ks = (struct keys){.Kt = Kt, .Vt = Vt, .Kp = Kp, .dKa = dKa, .dVa = dVa, .n = n, .seq = seq};
}

/* The gradients of head h's query rows from one block of nb keys from j0 (of kind ks): each
 * query tile that sees the block recomputes its probabilities from the saved log-sum-exp,
 * then dV, dK += and dQa += (dQ without the scale). Qp, dOp, dQa: the head's packed rows. */
TARGET static void backward_block(const struct xtc_flash_kernels *fk, const struct xtc_attn_params *p, int64_t b, int h,
                                  const struct keys *ks, int64_t j0, int64_t nb, const float *Qp, const float *dOp,
                                  float *dQa, const float *L, const float *delta, float *Sb, float *dP, float *dbias) {
    const int64_t T = p->T, S = p->S, Dp = padded_d(p), mk_rows = round_up(nb, MR);
    const int D = p->D;
    const bool clamp = p->softclamp > 0;
    /* the first query row that sees key j0 (causal: i + S - T >= j0), at a tile boundary */
    int64_t first = p->causal && ks->seq ? j0 - (S - T) : 0;
    first = first < 0 ? 0 : first / BR * BR;
    for (int64_t i0 = first; i0 < T; i0 += BR) {
        const int64_t n = T - i0 < BR ? T - i0 : BR, m = round_up(n, MR);
        fk->logits_block(Sb, Qp + i0 * Dp, Dp, ks->Kt, j0, nb, m, D);
        fk->logits_block(dP, dOp + i0 * Dp, Dp, ks->Vt, j0, nb, m, D); /* dP = dO V^T */
        if (ks->seq || clamp)
            for (int64_t r = 0; r < n; r++)
                logits_row(p, ks->seq, b, h, i0 + r, j0, nb, Sb + r * BC);
        /* P = exp(logit - lse), dS = P (dP - delta) (times the soft clamp's derivative) */
        fk->rows_grad(Sb, dP, n, nb, L + i0, delta + i0, clamp ? p->softclamp : 0.0f);
        for (int64_t r = 0; dbias && ks->seq && r < n; r++)
            xtc_attn_bias_grad_seg(p, b, h, i0 + r, j0, nb, dP + r * BC, dbias);
        for (int64_t r = n; r < m; r++) { /* padding rows: no probability, no gradient */
            memset(Sb + r * BC, 0, sizeof(float) * BC);
            memset(dP + r * BC, 0, sizeof(float) * BC);
        }
        /* dV += P^T dO, dK += dS^T (scale Q), dQ += dS K (scaled at the end) */
        fk->mm_rows(ks->dVa + j0 * Dp, Sb, 1, BC, dOp + i0 * Dp, mk_rows, n, Dp, true);
        fk->mm_rows(ks->dKa + j0 * Dp, dP, 1, BC, Qp + i0 * Dp, mk_rows, n, Dp, true);
        fk->mm_rows(dQa + i0 * Dp, dP, BC, 1, ks->Kp + j0 * Dp, m, nb, Dp, true);
    }
}

/* Every head h of key/value head hk in batch row b. ws: bwd_per_thread floats; priv: the
 * thread's private sums (dbias when learned, then dmem_k, dmem_v). */
TARGET static void backward_group(const struct xtc_flash_kernels *fk, float *dq, float *dk, float *dv, float *priv,
                                  bool dbias, const float *dout, const float *q, const float *k, const float *v,
                                  const struct xtc_attn_params *p, int64_t b, int hk, float *ws) {
    const int64_t T = p->T, S = p->S, K = p->K, Dp = padded_d(p), Sp = round_up(S, BC), Km = mem_rows(p);
    const int64_t Tp = round_up(T, BR);
    const int H = p->H, G = p->G, D = p->D;
    const int64_t HD = (int64_t)H * D, GD = (int64_t)G * D;
    struct keys seq, mem;
    pack_keys(&seq, ws, k + b * S * GD + (int64_t)hk * D, v + b * S * GD + (int64_t)hk * D, GD, S, Sp, D, Dp, true);
    float *w = ws + 2 * Sp * D + 3 * Sp * Dp;
    pack_keys(&mem, w, p->mem_k + (int64_t)hk * K * D, p->mem_v + (int64_t)hk * K * D, D, K, Km, D, Dp, false);
    w += 2 * Km * D + 3 * Km * Dp;
    float *Qp = w, *dOp = Qp + Tp * Dp, *dQa = dOp + Tp * Dp, *delta = dQa + Tp * Dp;
    float *Sb = delta + Tp, *dP = Sb + BR * BC;
    for (int h = hk; h < H; h += G) {
        const float *Qh = q + b * T * HD + (int64_t)h * D, *dOh = dout + b * T * HD + (int64_t)h * D;
        const float *Oh = p->out + b * T * HD + (int64_t)h * D, *L = p->lse + (b * H + h) * T;
        pack_rows(Qp, Qh, HD, T, Tp, D, Dp, p->scale); /* the scale is in Q: dK = dS^T (scale Q) */
        pack_rows(dOp, dOh, HD, T, Tp, D, Dp, 1.0f);
        memset(dQa, 0, sizeof(float) * (size_t)(Tp * Dp));
        for (int64_t i = 0; i < T; i++) { /* delta_i = sum_j P_ij dP_ij = dO_i . O_i */
            double s = 0;
            for (int d = 0; d < D; d++)
                s += (double)dOh[i * HD + d] * Oh[i * HD + d];
            delta[i] = (float)s;
        }
        for (int64_t j0 = 0; j0 < K; j0 += BC)
            backward_block(fk, p, b, h, &mem, j0, K - j0 < BC ? K - j0 : BC, Qp, dOp, dQa, L, delta, Sb, dP, NULL);
        for (int64_t j0 = 0; j0 < S; j0 += BC)
            backward_block(fk, p, b, h, &seq, j0, S - j0 < BC ? S - j0 : BC, Qp, dOp, dQa, L, delta, Sb, dP,
                           dbias ? priv : NULL);
        float *dQ = dq + b * T * HD + (int64_t)h * D;
        for (int64_t i = 0; i < T; i++)
            for (int d = 0; d < D; d++)
                dQ[i * HD + d] = p->scale * dQa[i * Dp + d];
    }
    float *dK = dk + b * S * GD + (int64_t)hk * D, *dV = dv + b * S * GD + (int64_t)hk * D;
    for (int64_t j = 0; j < S; j++)
        for (int d = 0; d < D; d++) {
            dK[j * GD + d] = seq.dKa[j * Dp + d];
            dV[j * GD + d] = seq.dVa[j * Dp + d];
        }
    /* the memory key/values are shared by every batch row: into the thread's sums */
    float *dmk = priv + p->dbias_n + (int64_t)hk * K * D, *dmv = dmk + (int64_t)G * K * D;
    for (int64_t j = 0; j < K; j++)
        for (int d = 0; d < D; d++) {
            dmk[j * D + d] += mem.dKa[j * Dp + d];
            dmv[j * D + d] += mem.dVa[j * Dp + d];
        }
}

void xtc_attention_backward_flash(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                  const float *dout, const float *q, const float *k, const float *v,
                                  const struct xtc_attn_params *p, float *scratch) {
    const int64_t B = p->B, nmem = (int64_t)p->G * p->K * p->D;
    const int G = p->G;
    const size_t per = per_thread(p);
    const bool learned = dbias && p->bias.scheme && p->bias.scheme->grad_row && p->dbias_n > 0;
    const size_t off = bwd_per_thread(p) - bwd_private(p); /* the thread's private sums */
    const size_t nprivate = (size_t)(p->dbias_n + 2 * nmem);
    int team = 1;
    const bool parallel = (double)B * p->H * p->T * (p->K + p->S) * p->D > 2e5;
    const struct xtc_flash_kernels *fk = flash_kernels();
#pragma omp parallel if (parallel)
    {
        float *ws = scratch + per * (size_t)omp_get_thread_num();
        memset(ws + off, 0, sizeof(float) * nprivate);
#pragma omp single
        team = omp_get_num_threads(); /* the threads that really run: only their sums exist */
#pragma omp for collapse(2) schedule(static)
        for (int64_t b = 0; b < B; b++)
            for (int hk = 0; hk < G; hk++)
                backward_group(fk, dq, dk, dv, ws + off, learned, dout, q, k, v, p, b, hk, ws);
    }
    /* private sums reduced in thread order: deterministic for a given thread count */
    for (int t = 0; t < team; t++) {
        const float *base = scratch + per * (size_t)t + off;
        for (int64_t i = 0; learned && i < p->dbias_n; i++)
            dbias[i] += base[i];
        for (int64_t i = 0; dmem_k && i < nmem; i++)
            dmem_k[i] += base[p->dbias_n + i];
        for (int64_t i = 0; dmem_v && i < nmem; i++)
            dmem_v[i] += base[p->dbias_n + nmem + i];
    }
}

#else /* no AVX2 build: never eligible (flash_kind is false) */

void xtc_attention_forward_flash(float *out, const float *q, const float *k, const float *v,
                                 const struct xtc_attn_params *p, float *scratch) {
    (void)out, (void)q, (void)k, (void)v, (void)p, (void)scratch;
}

void xtc_attention_backward_flash(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                  const float *dout, const float *q, const float *k, const float *v,
                                  const struct xtc_attn_params *p, float *scratch) {
    (void)dq, (void)dk, (void)dv, (void)dmem_k, (void)dmem_v, (void)dbias, (void)dout, (void)q, (void)k, (void)v;
    (void)p, (void)scratch;
}

#endif
