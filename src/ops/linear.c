/* Linear layer through OpenBLAS: the one place that calls cblas_sgemm.
 * PyTorch stores weights as (out, in), so out = inp @ w^T. */
#include <cblas.h>

#include "ops/ops.h"

void xtc_linear_forward(float *out, const float *inp, const float *w, const float *bias, int64_t N, int64_t Cin,
                        int64_t Cout) {
    if (N == 0 || Cout == 0)
        return;
    float beta = 0.0f;
    if (bias) {
        for (int64_t i = 0; i < N; i++)
            for (int64_t o = 0; o < Cout; o++)
                out[i * Cout + o] = bias[o];
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)Cout, (int)Cin, 1.0f, inp, (int)Cin, w, (int)Cin,
                beta, out, (int)Cout);
}
