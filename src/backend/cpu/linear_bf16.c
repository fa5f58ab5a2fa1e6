/* Linear layers with bf16 products (backend/autocast.h) on the CPU: the activations' rows are
 * rounded in chunks into the autocast scratch, the weights come rounded from the context's
 * copy, and each product runs through oneDNN (bf16 operands) or sgemm (the same values as
 * fp32). Chunks bound the scratch (the logits' gradient of a 50k vocabulary is 200 KB a
 * row); the weight gradient sums over rows, so it is accumulated chunk by chunk. */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "backend/autocast.h"
#include "backend/cpu/cpu.h"
#include "backend/cpu/matmul_dnnl.h"

static size_t elem_bytes(const struct xtc_autocast *ac) {
    return ac->path == XTC_AUTOCAST_DNNL_BF16 ? sizeof(uint16_t) : sizeof(float);
}

/* Rows per chunk when a chunk holds `cols` rounded values a row (0: not one row fits). */
static int64_t chunk_rows(const struct xtc_autocast *ac, int64_t N, int64_t cols) {
    int64_t r = (int64_t)(ac->scratch_bytes / elem_bytes(ac)) / (cols > 0 ? cols : 1);
    return r > N ? N : r;
}

/* dst (rows x cols, contiguous) = src rows (row stride ld) rounded to bf16, stored in the
 * path's operand type */
static void round_rows(const struct xtc_autocast *ac, void *dst, const float *src, int64_t rows, int64_t cols,
                       int64_t ld) {
    const int64_t n = rows * cols;
    if (ac->path == XTC_AUTOCAST_DNNL_BF16) {
        uint16_t *d = dst;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                d[i * cols + j] = xtc_bf16_bits(src[i * ld + j]);
    } else {
        float *d = dst;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++)
                d[i * cols + j] = xtc_bf16_round(src[i * ld + j]);
    }
}

/* One product (matmul_dnnl.h's struct xtc_mm with the path's operand type). */
static void product(struct xtc_autocast *ac, struct xtc_mm mm) {
    if (ac->path == XTC_AUTOCAST_EMULATED) {
        float beta = mm.accumulate ? 1.0f : 0.0f;
        if (mm.bias) {
#pragma omp parallel for schedule(static) if (mm.M * mm.N > 65536)
            for (int64_t i = 0; i < mm.M; i++)
                for (int64_t j = 0; j < mm.N; j++)
                    mm.C[i * mm.ldc + j] = (beta != 0.0f ? mm.C[i * mm.ldc + j] : 0.0f) + mm.bias[j];
            beta = 1.0f;
        }
        cblas_sgemm(CblasRowMajor, mm.transA ? CblasTrans : CblasNoTrans, mm.transB ? CblasTrans : CblasNoTrans,
                    (int)mm.M, (int)mm.N, (int)mm.K, 1.0f, mm.A, (int)mm.lda, mm.B, (int)mm.ldb, beta, mm.C,
                    (int)mm.ldc);
        return;
    }
    mm.t = ac->path == XTC_AUTOCAST_DNNL_BF16 ? XTC_MM_BF16 : XTC_MM_F32;
    if (!xtc_dnnl_matmul(&mm) && !ac->failed[0])
        snprintf(ac->failed, sizeof ac->failed,
                 "oneDNN has no %s product of %lld x %lld x %lld here (XTC_CPU=avx512 emulates bf16 products)",
                 mm.t == XTC_MM_BF16 ? "bf16" : "fp32", (long long)mm.M, (long long)mm.K, (long long)mm.N);
}

/* The copy reserves scratch for a row of any product of the block's matrices
 * (model/compute_dtype.c): this is for a state made otherwise. */
static bool no_scratch(struct xtc_autocast *ac) {
    if (!ac->failed[0])
        snprintf(ac->failed, sizeof ac->failed, "the products' scratch holds no row of this product");
    return true;
}

/* The rounded weights (Cout x Cin) in the path's operand type, or NULL when w is not in the
 * parameter block (the product then runs in fp32). */
static const void *weights(const struct xtc_autocast *ac, const float *w) {
    if (ac->path == XTC_AUTOCAST_DNNL_BF16)
        return xtc_autocast_w_bf16(ac, w);
    return xtc_autocast_w_f32(ac, w);
}

bool xtc_cpu_linear_forward_bf16(struct xtc_autocast *ac, float *out, const float *inp, const float *w,
                                 const float *bias, int64_t N, int64_t Cin, int64_t Cout) {
    const void *wr = weights(ac, w);
    if (!wr)
        return false;
    const int64_t R = chunk_rows(ac, N, Cin);
    void *s = ac->scratch;
    if (R < 1 || !s)
        return no_scratch(ac);
    for (int64_t r0 = 0; r0 < N; r0 += R) {
        const int64_t rows = N - r0 < R ? N - r0 : R;
        round_rows(ac, s, inp + r0 * Cin, rows, Cin, Cin);
        /* out rows = S (rows x Cin) @ W^T: op(B)(k, j) = W[j * Cin + k] */
        product(ac, (struct xtc_mm){.M = rows, .N = Cout, .K = Cin, .A = s, .lda = Cin, .B = wr, .ldb = Cin,
                                    .transB = true, .C = out + r0 * Cout, .ldc = Cout, .bias = bias});
    }
    return true;
}

bool xtc_cpu_linear_backward_bf16(struct xtc_autocast *ac, float *dinp, float *dw, float *db, const float *dout,
                                  const float *inp, const float *w, int64_t N, int64_t Cin, int64_t Cout,
                                  int accumulate) {
    const void *wr = weights(ac, w);
    if (!wr)
        return false;
    const int64_t R = chunk_rows(ac, N, Cin + Cout);
    char *s = ac->scratch;
    if (R < 1 || !s)
        return no_scratch(ac);
    void *sg = s, *sx = s + (size_t)R * (size_t)Cout * elem_bytes(ac);
    for (int64_t r0 = 0; r0 < N; r0 += R) {
        const int64_t rows = N - r0 < R ? N - r0 : R;
        round_rows(ac, sg, dout + r0 * Cout, rows, Cout, Cout);
        if (dinp) /* dinp rows (=, +=) G (rows x Cout) @ W (Cout x Cin) */
            product(ac, (struct xtc_mm){.M = rows, .N = Cin, .K = Cout, .A = sg, .lda = Cout, .B = wr, .ldb = Cin,
                                        .C = dinp + r0 * Cin, .ldc = Cin, .accumulate = accumulate != 0});
        if (dw) { /* dw += G^T (Cout x rows) @ X (rows x Cin): op(A)(o, r) = G[r * Cout + o] */
            round_rows(ac, sx, inp + r0 * Cin, rows, Cin, Cin);
            product(ac, (struct xtc_mm){.M = Cout, .N = Cin, .K = rows, .A = sg, .lda = Cout, .transA = true,
                                        .B = sx, .ldb = Cin, .C = dw, .ldc = Cin, .accumulate = true});
        }
    }
    if (db) /* from the fp32 gradient: a bias sums rows, no product to round for */
        for (int64_t i = 0; i < N; i++)
            for (int64_t o = 0; o < Cout; o++)
                db[o] += dout[i * Cout + o];
    return true;
}
