/* xtc — training: losses (and, as they land, optimisers and the training loop). */
#ifndef XTC_TRAIN_H
#define XTC_TRAIN_H

#include <stdint.h>

#include "xtc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cross-entropy of logits (N, V) against targets (N), averaged over the kept
 * targets (target != ignore_index), as F.cross_entropy(..., ignore_index).
 * *loss gets that mean (0 when nothing is kept) and *n_kept the count.
 * With dlogits (N, V) not NULL, it receives d(scale * loss) / d logits
 * (overwritten; ignored rows get 0) — scale is the weight of this loss in the
 * caller's objective (1 for a plain loss, segment_len / total for XL segments).
 * Errors: XTC_ERR_ARG (NULL, a target outside 0..V-1 that is not ignore_index).
 * Thread safety: reentrant. */
xtc_status xtc_cross_entropy(const float *logits, const int64_t *targets, int64_t N, int64_t V, int64_t ignore_index,
                             float scale, float *loss, float *dlogits, int64_t *n_kept, struct xtc_error *err);

#ifdef __cplusplus
}
#endif
#endif
