/* Language-model losses (x-transformers AutoregressiveWrapper / XLAutoregressiveWrapper
 * use F.cross_entropy with ignore_index, one mean over all kept targets) and the
 * ContinuousAutoregressiveWrapper's default loss (mean squared error over the kept rows). */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/checked.h"
#include "core/status.h"
#include "ops/ops.h"
#include "xtc/train.h"

xtc_status xtc_cross_entropy(const float *logits, const int64_t *targets, int64_t N, int64_t V, int64_t ignore_index,
                             float scale, float *loss, float *dlogits, int64_t *n_kept, struct xtc_error *err) {
    if (!logits || !targets || !loss || N < 0 || V < 1)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_cross_entropy: invalid arguments");
    /* logits (N, V) is an array in memory: its size bounds every row offset i * V */
    size_t n, bytes;
    if (xtc_mul_overflow(N, V, &n) || xtc_bytes_overflow((int64_t)n, sizeof(float), &bytes))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_cross_entropy: N %lld x V %lld logits exceed PTRDIFF_MAX bytes", (long long)N,
                 (long long)V);
    for (int64_t i = 0; i < N; i++)
        if (targets[i] != ignore_index && (targets[i] < 0 || targets[i] >= V))
            XTC_FAIL(err, XTC_ERR_ARG, "target %lld at row %lld is neither one of the %lld classes of the logits "
                     "(num_tokens, or logits_dim when it differs) nor ignore_index",
                     (long long)targets[i], (long long)i, (long long)V);
    int64_t kept = 0;
    double mean = xtc_crossentropy_forward(logits, targets, N, V, ignore_index, &kept);
    *loss = kept ? (float)mean : 0.0f;
    if (n_kept)
        *n_kept = kept;
    if (dlogits)
        xtc_crossentropy_backward(dlogits, logits, targets, N, V, ignore_index, kept ? scale / (float)kept : 0.0f);
    return XTC_OK;
}

xtc_status xtc_mse_loss(const float *pred, const float *target, const uint8_t *mask, int64_t N, int64_t D, float scale,
                        float *loss, float *dpred, int64_t *n_kept, struct xtc_error *err) {
    if (!pred || !target || !loss || N < 0 || D < 1)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_mse_loss: invalid arguments");
    size_t n, bytes;
    if (xtc_mul_overflow(N, D, &n) || xtc_bytes_overflow((int64_t)n, sizeof(float), &bytes))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_mse_loss: N %lld x D %lld values exceed PTRDIFF_MAX bytes", (long long)N,
                 (long long)D);
    int64_t kept = 0;
    double sum = 0;
    for (int64_t i = 0; i < N; i++) {
        if (mask && !mask[i])
            continue;
        kept++;
        for (int64_t j = 0; j < D; j++) {
            double d = (double)pred[i * D + j] - (double)target[i * D + j];
            sum += d * d;
        }
    }
    double count = (double)kept * (double)D;
    *loss = kept ? (float)(sum / count) : 0.0f;
    if (n_kept)
        *n_kept = kept;
    if (dpred) /* loss = sum (pred - target)^2 / count */
        for (int64_t i = 0; i < N; i++) {
            bool keep = kept && (!mask || mask[i]);
            for (int64_t j = 0; j < D; j++) {
                double diff = (double)pred[i * D + j] - (double)target[i * D + j];
                dpred[i * D + j] = keep ? (float)(2.0 * scale * diff / count) : 0.0f;
            }
        }
    return XTC_OK;
}
