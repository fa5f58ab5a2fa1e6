/* Embedding lookup (nn.Embedding), reference kernel; the cpu backend runs it too. Ids are
 * validated at the public boundary. */
#include <string.h>

#include "backend/ref/ref.h"

void xtc_ref_embedding_forward(float *out, const int64_t *ids, const float *table, int64_t N, int64_t C) {
    for (int64_t i = 0; i < N; i++)
        memcpy(out + i * C, table + ids[i] * C, sizeof(float) * (size_t)C);
}

void xtc_ref_embedding_backward(float *dtable, const float *dout, const int64_t *ids, int64_t N, int64_t C) {
    /* serial over rows: repeated ids accumulate into the same table row */
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++)
            dtable[ids[i] * C + c] += dout[i * C + c];
}
