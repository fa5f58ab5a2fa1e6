/* T5 relative position bias (Raffel et al. 2020), x-transformers
 * RelativePositionBias: a learned (num_buckets, heads) table indexed by the
 * bucket of the distance, times sqrt(dim_head) (reference B.6). The
 * logarithmic buckets are computed in float32 and truncated, as torch does. */
#include <math.h>

#include "pos/pos.h"

int xtc_t5_bucket(int64_t rel, bool causal, int num_buckets, int max_distance) {
    int ret = 0;
    int64_t n = -rel;
    if (!causal) {
        num_buckets /= 2;
        if (n < 0)
            ret += num_buckets;
        n = n < 0 ? -n : n;
    } else {
        n = n > 0 ? n : 0;
    }
    int max_exact = num_buckets / 2;
    if (n < max_exact)
        return ret + (int)n;
    /* max_exact + (log(n.float() / max_exact) / math.log(max_distance / max_exact) * (nb - max_exact)).long() */
    float ratio = (float)n / (float)max_exact;
    float l = logf(ratio) / (float)log((double)max_distance / (double)max_exact);
    float scaled = l * (float)(num_buckets - max_exact);
    int64_t large = max_exact + (int64_t)scaled;
    if (large > num_buckets - 1)
        large = num_buckets - 1;
    return ret + (int)large;
}
