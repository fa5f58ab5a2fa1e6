/* Cross-entropy, reference kernel: F.cross_entropy with ignore_index, mean over kept targets,
 * log-sum-exp with libm in double, rows in order. */
#include <math.h>

#include "backend/ref/ref.h"
#include "core/lse.h"


double xtc_ref_crossentropy_forward(const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                    int64_t ignore_index, int64_t *n_kept) {
    double total = 0;
    int64_t kept = 0;
    for (int64_t i = 0; i < N; i++) {
        if (targets[i] == ignore_index)
            continue;
        const float *row = logits + i * V;
        total += xtc_row_logsumexp(row, V) - row[targets[i]];
        kept++;
    }
    if (n_kept)
        *n_kept = kept;
    return kept ? total / (double)kept : NAN;
}

void xtc_ref_crossentropy_backward(float *dlogits, const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                   int64_t ignore_index, float scale) {
    /* (softmax - onehot) * scale; ignored rows get 0 */
    for (int64_t i = 0; i < N; i++) {
        float *d = dlogits + i * V;
        if (targets[i] == ignore_index) {
            for (int64_t v = 0; v < V; v++)
                d[v] = 0;
            continue;
        }
        const float *row = logits + i * V;
        double lse = xtc_row_logsumexp(row, V);
        for (int64_t v = 0; v < V; v++)
            d[v] = (float)(exp((double)row[v] - lse) * scale);
        d[targets[i]] -= scale;
    }
}
