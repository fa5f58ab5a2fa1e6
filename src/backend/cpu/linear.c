/* Linear layer on the CPU: OpenBLAS sgemm, or for a few rows (decoding) the matrix-vector
 * kernels of matvec.c split over threads. PyTorch stores weights as (out, in), so
 * out = inp @ w^T. */
#include <cblas.h>
#include <omp.h>

#include "backend/autocast.h"
#include "backend/cpu/cpu.h"
#include "backend/cpu/matvec.h"
#include "core/threads.h"

void xtc_cpu_linear_forward(float *out, const float *inp, const float *w, const float *bias, int64_t N, int64_t Cin,
                            int64_t Cout, const struct xtc_matvec_weights *mw) {
    if (N == 0 || Cout == 0)
        return;
    struct xtc_autocast *ac = xtc_autocast_get();
    if (ac && xtc_cpu_linear_forward_bf16(ac, out, inp, w, bias, N, Cin, Cout))
        return;
    if (N <= 4) {
        /* decoding: a few rows. sgemm would repack the whole weight matrix for them (most of
         * a decoding step's time); a matrix-vector product reads each weight once. Threads
         * split the output features (inside a parallel region this runs on the calling thread). */
#pragma omp parallel if (Cout * Cin > 32768)
        {
            int64_t lo, hi;
            xtc_thread_range(Cout, omp_get_num_threads(), omp_get_thread_num(), 16, &lo, &hi);
            xtc_matvec(mw, out, Cout, inp, N, w, bias, Cin, lo, hi);
        }
        return;
    }
    float beta = 0.0f;
    if (bias) {
#pragma omp parallel for schedule(static) if (N * Cout > 65536)
        for (int64_t i = 0; i < N; i++)
            for (int64_t o = 0; o < Cout; o++)
                out[i * Cout + o] = bias[o];
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)Cout, (int)Cin, 1.0f, inp, (int)Cin, w, (int)Cin,
                beta, out, (int)Cout);
}

void xtc_cpu_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                             int64_t N, int64_t Cin, int64_t Cout, int accumulate) {
    if (N == 0 || Cout == 0 || Cin == 0)
        return;
    struct xtc_autocast *ac = xtc_autocast_get();
    if (ac && xtc_cpu_linear_backward_bf16(ac, dinp, dw, db, dout, inp, w, N, Cin, Cout, accumulate))
        return;
    /* out = inp @ w^T  =>  dinp = dout @ w,  dw = dout^T @ inp,  db = sum_rows(dout) */
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)Cin, (int)Cout, 1.0f, dout, (int)Cout, w,
                    (int)Cin, accumulate ? 1.0f : 0.0f, dinp, (int)Cin);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Cout, (int)Cin, (int)N, 1.0f, dout, (int)Cout, inp,
                    (int)Cin, 1.0f, dw, (int)Cin);
    if (db)
        for (int64_t i = 0; i < N; i++)
            for (int64_t o = 0; o < Cout; o++)
                db[o] += dout[i * Cout + o];
}
