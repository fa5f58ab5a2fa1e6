/* Matrix products through oneDNN (the bf16 x bf16 -> fp32 products of mixed-precision
 * training, backend/cpu/linear_bf16.c). Without oneDNN in the build, or where the CPU has no
 * bf16 products of its own, nothing here runs and the caller emulates. */
#ifndef XTC_BACKEND_CPU_MATMUL_DNNL_H
#define XTC_BACKEND_CPU_MATMUL_DNNL_H

#include <stdbool.h>
#include <stdint.h>

enum xtc_mm_type { XTC_MM_BF16, XTC_MM_F32 };

/* A product C = op(A) op(B) [+ C] [+ bias]:
 *   op(A) is M x K, element (i, k) at A[transA ? k * lda + i : i * lda + k];
 *   op(B) is K x N, element (k, j) at B[transB ? j * ldb + k : k * ldb + j];
 *   C (M x N, fp32) at C[i * ldc + j]; accumulate adds the old C; bias (N floats) or NULL.
 * A and B hold elements of type t (uint16_t bf16 or float). */
struct xtc_mm {
    enum xtc_mm_type t;
    int64_t M, N, K, lda, ldb, ldc;
    bool transA, transB, accumulate;
    const void *A, *B;
    float *C;
    const float *bias;
};

/* Runs the product; false when oneDNN has none for it (not built in, the type unsupported by
 * this CPU, a stride it refuses, or an oneDNN error): the caller computes it another way.
 * Primitives are created once per shape and kept (oneDNN primitives may run on several
 * threads at once). Thread-safe. */
bool xtc_dnnl_matmul(const struct xtc_mm *mm);

/* Whether oneDNN runs bf16 products on this CPU (it has none below AVX-512 in oneDNN 2.x),
 * and the kernel level allows them (xtc_cpu_level() >= avx512_bf16: XTC_CPU=avx2 forces the
 * emulation). */
bool xtc_dnnl_bf16_native(void);

/* "oneDNN 2.6.3" or "none" (not built in). */
const char *xtc_dnnl_version(void);

#endif
