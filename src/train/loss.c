/* Language-model losses (x-transformers AutoregressiveWrapper / XLAutoregressiveWrapper
 * use F.cross_entropy with ignore_index, one mean over all kept targets). */
#include <math.h>
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
            XTC_FAIL(err, XTC_ERR_ARG, "target %lld at row %lld is not a token id (vocabulary %lld) nor ignore_index",
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
