/* The vector primitives of the flash attention kernels (private to attention_flash.c and
 * attention_flash_v16.c). The algorithm (blocking, online softmax, masks, bias, memory
 * key/values, the backward) is written once, in attention_flash.c; it calls its products and
 * row passes through one of these tables, chosen once per call from the kernel level:
 * - avx2 (attention_flash.c): 6 x 16 micro-kernels and 8-float row passes in AVX2 + FMA
 *   intrinsics;
 * - avx512 (attention_flash_v16.c): 12 x 16 micro-kernels and 16-float row passes, one
 *   source in GCC/clang vector extensions, also built for AVX2 (avx512_on_avx2) for the tests.
 * Every table reads and writes the same layouts: keys (and the backward's values) transposed in
 * panels of XTC_FLASH_NR keys, the other operands in rows padded to Dp, a multiple of
 * XTC_FLASH_NR floats; logits and probability blocks of XTC_FLASH_BR x XTC_FLASH_BC, row
 * stride XTC_FLASH_BC. */
#ifndef XTC_ATTENTION_FLASH_H
#define XTC_ATTENTION_FLASH_H

#include <stdbool.h>
#include <stdint.h>

enum {
    XTC_FLASH_MR = 6,  /* the products' row counts are multiples of this */
    XTC_FLASH_NR = 16, /* keys per panel; Dp is a multiple of it */
    XTC_FLASH_BR = 48, /* query rows per tile (a multiple of MR) */
    XTC_FLASH_BC = 48, /* keys per block (a multiple of MR and NR: the backward's dK / dV rows are keys) */
};

struct xtc_flash_kernels {
    /* The logits block Sb (m x nb, stride BC; m a multiple of MR) = X (m x D rows, stride ldx)
     * times the transposed keys' panels from key j0 on: Kt (panels of D x 16). Writes whole
     * panels: columns up to nb rounded up to 16. */
    void (*logits_block)(float *Sb, const float *X, int64_t ldx, const float *Kt, int64_t j0, int64_t nb, int64_t m,
                         int D);
    /* C (m x Dp, m a multiple of MR, stride Dp) = or += A (m x kn: A(r, k) = A[r ar + k ak])
     * B (kn x Dp, stride Dp) */
    void (*mm_rows)(float *C, const float *A, int64_t ar, int64_t ak, const float *B, int64_t m, int64_t kn, int64_t Dp,
                    bool acc);
    /* The forward's row passes over rows r < n of a logits block (stride BC) of nb keys. Each
     * first fills its rows from nb up to whole vectors with -FLT_MAX (weight 0). rows_max: each
     * row's max into bmax[r] (a NaN logit is skipped: it reaches the sum instead); rows_exp_sum:
     * the row replaced by exp(logit - mx[r]), its sum into sum[r]; scale_rows: the output
     * accumulator's rows (n x Dp) times alpha[r] where alpha[r] is not 1. */
    void (*rows_max)(float *Sb, int64_t n, int64_t nb, float *bmax);
    void (*rows_exp_sum)(float *Sb, int64_t n, int64_t nb, const float *mx, float *sum);
    void (*scale_rows)(float *Oa, int64_t Dp, int64_t n, const float *alpha);
    /* The backward's row pass over rows r < n: the logits in Sb become probabilities exp(logit -
     * L[r]), dP's rows dS = P (dP - delta[r]), times the soft clamp's derivative 1 - (logit /
     * c)^2 when c > 0 (0 where masked); both rows zero from whole vectors of nb up to BC (the
     * products read up to a whole panel, or MR keys). */
    void (*rows_grad)(float *Sb, float *dP, int64_t n, int64_t nb, const float *L, const float *delta, float c);
};

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XTC_FLASH_V16 1
/* attention_flash_v16.c: the avx512 table, run at kernel level avx512 or above, and the same
 * source built for AVX2 + FMA, which the tests run on any machine with level avx2
 * (xtc_attention_flash_set(XTC_FLASH_V16_ON_AVX2), backend/cpu/cpu.h). */
extern const struct xtc_flash_kernels xtc_flash_kernels_avx512;
extern const struct xtc_flash_kernels xtc_flash_kernels_avx512_on_avx2;
#endif

#endif
