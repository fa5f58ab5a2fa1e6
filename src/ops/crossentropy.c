/* Cross-entropy (F.cross_entropy with ignore_index, mean over kept targets).
 * log-sum-exp in double for an exact-as-possible reference loss. */
#include <math.h>

#include "ops/ops.h"

double xtc_crossentropy_forward(const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                int64_t ignore_index, int64_t *n_kept) {
    double total = 0;
    int64_t kept = 0;
    for (int64_t i = 0; i < N; i++) {
        if (targets[i] == ignore_index)
            continue;
        const float *row = logits + i * V;
        double mx = row[0];
        for (int64_t v = 1; v < V; v++)
            mx = row[v] > mx ? row[v] : mx;
        double s = 0;
        for (int64_t v = 0; v < V; v++)
            s += exp(row[v] - mx);
        total += mx + log(s) - row[targets[i]];
        kept++;
    }
    if (n_kept)
        *n_kept = kept;
    return kept ? total / (double)kept : NAN;
}

void xtc_crossentropy_backward(float *dlogits, const float *logits, const int64_t *targets, int64_t N, int64_t V,
                               int64_t ignore_index, float scale) {
    for (int64_t i = 0; i < N; i++) {
        float *d = dlogits + i * V;
        if (targets[i] == ignore_index) {
            for (int64_t v = 0; v < V; v++)
                d[v] = 0;
            continue;
        }
        const float *row = logits + i * V;
        double mx = row[0], s = 0;
        for (int64_t v = 1; v < V; v++)
            mx = row[v] > mx ? row[v] : mx;
        for (int64_t v = 0; v < V; v++)
            s += exp(row[v] - mx);
        for (int64_t v = 0; v < V; v++)
            d[v] = (float)(exp(row[v] - mx) / s * scale);
        d[targets[i]] -= scale;
    }
}
