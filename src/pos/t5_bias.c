/* T5 relative position bias (Raffel et al. 2020), x-transformers
 * RelativePositionBias: a learned (num_buckets, heads) table indexed by the
 * bucket of the distance, times sqrt(dim_head) (reference B.6). The
 * logarithmic buckets are computed in float32 and truncated, as torch does.
 * Per call the stack expands it into a (heads, 2S - 1) table by relative
 * distance rel = key pos - query pos (right-aligned positions), index rel + S - 1. */
#include <math.h>

#include "core/status.h"
#include "pos/pos.h"
#include "xtc/config.h"

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

void xtc_t5_table_fill(float *table, const float *emb, int H, int64_t S, bool causal, int num_buckets,
                       int max_distance, float scale) {
    for (int64_t r = 0; r < 2 * S - 1; r++) {
        int bucket = xtc_t5_bucket(r - (S - 1), causal, num_buckets, max_distance);
        for (int h = 0; h < H; h++)
            table[(int64_t)h * (2 * S - 1) + r] = emb[(int64_t)bucket * H + h] * scale;
    }
}

static bool enabled(const struct xtc_layers_config *c) { return c->rel_pos_bias; }

static xtc_status init(struct xtc_pos_bias *pb, const struct xtc_layers_config *c, struct xtc_error *err) {
    (void)err;
    pb->num_buckets = c->rel_pos_num_buckets;
    pb->max_distance = c->rel_pos_max_distance;
    pb->scale = (float)sqrt((double)c->dim_head); /* AttentionLayers passes scale = dim_head ** 0.5 */
    return XTC_OK;
}

static int param(const struct xtc_pos_bias *pb, int i, const char **name, int64_t shape[4]) {
    if (i > 0)
        return 0;
    *name = "rel_pos.relative_attention_bias.weight";
    shape[0] = pb->num_buckets;
    shape[1] = pb->heads;
    return 2;
}

static int64_t table_floats(const struct xtc_pos_bias *pb, int64_t S) { return (int64_t)pb->heads * (2 * S - 1); }

static void table_fill(const struct xtc_pos_bias *pb, int64_t S, float *table) {
    xtc_t5_table_fill(table, pb->params[0], pb->heads, S, pb->causal, pb->num_buckets, pb->max_distance, pb->scale);
}

static void add_row(const struct xtc_attn_bias *a, int h, int64_t qp, const int64_t *kp, int64_t k0, int64_t n,
                    int64_t S, float *row) {
    (void)kp; /* explicit positions are refused for T5 (takes_explicit_pos is false) */
    const float *t = a->data + (int64_t)h * (2 * S - 1) + (k0 - qp) + S - 1;
    for (int64_t j = 0; j < n; j++)
        row[j] += t[j];
}

static void grad_row(const struct xtc_attn_bias *a, int h, int64_t qp, const int64_t *kp, int64_t k0, int64_t n,
                     int64_t S, const float *drow, float *dtable) {
    (void)a, (void)kp;
    float *t = dtable + (int64_t)h * (2 * S - 1) + (k0 - qp) + S - 1;
    for (int64_t j = 0; j < n; j++)
        t[j] += drow[j];
}

static void table_backward(const struct xtc_pos_bias *pb, int64_t S, const float *table, float *dtable,
                           float *const *dparams) {
    (void)table;
    /* table[h][rel] = emb[bucket(rel)][h] * scale */
    const int H = pb->heads;
    for (int64_t r = 0; r < 2 * S - 1; r++) {
        int bucket = xtc_t5_bucket(r - (S - 1), pb->causal, pb->num_buckets, pb->max_distance);
        for (int h = 0; h < H; h++)
            dparams[0][(int64_t)bucket * H + h] += dtable[(int64_t)h * (2 * S - 1) + r] * pb->scale;
    }
}

const struct xtc_bias_scheme xtc_t5_scheme = {
    .name = "T5 relative position bias", .enabled = enabled, .init = init, .param = param, .table_floats = table_floats,
    .table_fill = table_fill, .add_row = add_row, .grad_row = grad_row, .table_backward = table_backward,
};
