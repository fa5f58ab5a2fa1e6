/* Matrix-vector products for decoding (private): a few input rows against a weight
 * matrix in PyTorch's (out, in) layout, over a range of output features, so that
 * threads can split one product without a BLAS call each. */
#ifndef XTC_MATVEC_H
#define XTC_MATVEC_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/q8.h"

/* out[n * ldo + o] = bias[o] + sum_k w[o * Cin + k] * inp[n * Cin + k] for n < N and
 * o in [o0, o1); bias may be NULL. Each weight row is read from memory once for all N
 * rows (it stays in L1 between them), which is what decoding is bound by. */
void xtc_matvec_f32(float *out, int64_t ldo, const float *inp, int64_t N, const float *w, const float *bias,
                    int64_t Cin, int64_t o0, int64_t o1);

/* The same with bfloat16 weights (half the bytes to read; products and sums in fp32). */
void xtc_matvec_bf16(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w, const float *bias,
                     int64_t Cin, int64_t o0, int64_t o1);

/* The portable versions (the compiler vectorizes them): what runs below kernel level avx2
 * (core/cpu.h); the avx2 kernels are in matvec.c and matvec_q8.c, the avx512 ones below. */
void xtc_matvec_f32_portable(float *out, int64_t ldo, const float *inp, int64_t N, const float *w, const float *bias,
                             int64_t Cin, int64_t o0, int64_t o1);
void xtc_matvec_bf16_portable(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w,
                              const float *bias, int64_t Cin, int64_t o0, int64_t o1);

/* int8 weights (core/q8.h; matvec_q8.c): xtc_matvec_f32 with the weights of rows of Cin as int8 q (row o at q + o * Cin) and scales
 * (row o's at scale + o * xtc_q8_blocks(Cin)); fp32 products and sums. */
void xtc_matvec_q8(float *out, int64_t ldo, const float *inp, int64_t N, const int8_t *q, const float *scale,
                   const float *bias, int64_t Cin, int64_t o0, int64_t o1);
void xtc_matvec_q8_portable(float *out, int64_t ldo, const float *inp, int64_t N, const int8_t *q, const float *scale,
                            const float *bias, int64_t Cin, int64_t o0, int64_t o1);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XTC_MATVEC_AVX512 1
/* matvec_v16.c: the kernels of level avx512, one source in 16-float vectors built twice.
 * The _avx512 build runs only at kernel level avx512 or above (xtc_cpu_level); the
 * _avx512_on_avx2 build of the same source (AVX2 + FMA) is for the tests, which run it on any
 * machine with level avx2. */
void xtc_matvec_f32_avx512(float *out, int64_t ldo, const float *inp, int64_t N, const float *w, const float *bias,
                           int64_t Cin, int64_t o0, int64_t o1);
void xtc_matvec_bf16_avx512(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w, const float *bias,
                            int64_t Cin, int64_t o0, int64_t o1);
void xtc_matvec_q8_avx512(float *out, int64_t ldo, const float *inp, int64_t N, const int8_t *q, const float *scale,
                          const float *bias, int64_t Cin, int64_t o0, int64_t o1);
/* Level avx512_bf16's bf16 kernel (VDPBF16PS dot products, x in two bf16 halves), and its source
 * built for AVX2 with the instruction emulated exactly (for the tests). */
void xtc_matvec_bf16_avx512bf16(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w,
                                const float *bias, int64_t Cin, int64_t o0, int64_t o1);
void xtc_matvec_bf16_avx512bf16_on_avx2(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w,
                                        const float *bias, int64_t Cin, int64_t o0, int64_t o1);
void xtc_matvec_f32_avx512_on_avx2(float *out, int64_t ldo, const float *inp, int64_t N, const float *w,
                                   const float *bias, int64_t Cin, int64_t o0, int64_t o1);
void xtc_matvec_bf16_avx512_on_avx2(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w,
                                    const float *bias, int64_t Cin, int64_t o0, int64_t o1);
void xtc_matvec_q8_avx512_on_avx2(float *out, int64_t ldo, const float *inp, int64_t N, const int8_t *q,
                                  const float *scale, const float *bias, int64_t Cin, int64_t o0, int64_t o1);
#endif

/* xtc_matvec_f32 for weights w inside mw's block (or anywhere when mw is NULL or has no copy);
 * a matrix without an int8 copy (a slice, say) is read in fp32. */
static inline void xtc_matvec(const struct xtc_matvec_weights *mw, float *out, int64_t ldo, const float *inp,
                              int64_t N, const float *w, const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
    if (mw && mw->bf16) {
        xtc_matvec_bf16(out, ldo, inp, N, mw->bf16 + (w - mw->base), bias, Cin, o0, o1);
        return;
    }
    const struct xtc_q8_matrix *m8 = mw && mw->q8 ? xtc_q8_find(mw, w, Cin) : NULL;
    if (m8 && o1 <= m8->rows)
        xtc_matvec_q8(out, ldo, inp, N, m8->q, m8->scale, bias, Cin, o0, o1);
    else
        xtc_matvec_f32(out, ldo, inp, N, w, bias, Cin, o0, o1);
}

/* The same, out of line: the cpu backend's matvec entry. */
void xtc_cpu_matvec(const struct xtc_matvec_weights *mw, float *out, int64_t ldo, const float *inp, int64_t N,
                    const float *w, const float *bias, int64_t Cin, int64_t o0, int64_t o1);

#endif
