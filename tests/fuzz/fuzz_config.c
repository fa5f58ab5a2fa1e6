/* libFuzzer target for model configurations: arbitrary bytes through the strict JSON check
 * and the config parser, and, for configurations that parse and describe a small model
 * (the size cap keeps the fuzzer from spending its time allocating), model construction
 * and one forward call. Any crash, sanitizer report, leak, or a rejection without a
 * message is a bug. Seed it with the configs of tests/golden and tests/golden_extra
 * (tests/fuzz/README.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xtc/xtc.h"

/* A rough count of the floats a model holds: embeddings, head, the blocks and the position
 * tables (rotary tables cover -max_mem_len .. max_seq_len). */
static double size_of(const struct xtc_net_config *n) {
    const struct xtc_layers_config *l = &n->layers;
    double C = l->dim, per_layer = 4.0 * C * l->heads * l->dim_head + 3.0 * C * l->ff_inner + 4.0 * C;
    double emb = n->has_wrapper ? (double)n->wrap.num_tokens * C * 2 + (double)n->wrap.max_seq_len * C : 0;
    double tables = n->has_wrapper ? ((double)n->wrap.max_seq_len + n->wrap.max_mem_len) * l->dim_head * 4 : 0;
    /* the forward's attention over memory tokens + 4 tokens, as floats of work */
    double keys = (n->has_wrapper ? n->wrap.num_memory_tokens : 0) + 4.0 + l->num_mem_kv;
    double attention = keys * keys * l->heads * l->dim_head * l->depth;
    return emb + tables + attention + per_layer * l->depth * (l->cross_attend ? 2 : 1) +
           (double)l->rel_pos_num_buckets * l->heads;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    struct xtc_error err;
    err.msg[0] = '\0';
    if (xtc_json_validate(text, size, "fuzz", &err) != XTC_OK) {
        if (!err.msg[0])
            __builtin_trap();
        return 0;
    }
    struct xtc_config cfg;
    err.msg[0] = '\0';
    if (xtc_config_parse(&cfg, text, size, &err) != XTC_OK) {
        if (!err.msg[0])
            __builtin_trap();
        return 0;
    }
    if (size_of(&cfg.net) > 1e5 || size_of(&cfg.enc) > 1e5)
        return 0;
    xtc_model_t m;
    if (xtc_model_create(&m, text, size, 1, &err) != XTC_OK) {
        if (!err.msg[0])
            __builtin_trap();
        return 0;
    }
    /* one small forward of whatever the model takes; errors must carry a message */
    const struct xtc_net_config *n = &xtc_model_config(m)->net;
    int64_t toks[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    float x[8 * 64] = {0};
    struct xtc_inputs in = {.batch = 1, .len = 4, .tokens = toks};
    if (!n->has_wrapper && n->layers.dim <= 128)
        in.x = x, in.tokens = NULL;
    struct xtc_outputs out;
    err.msg[0] = '\0';
    if (xtc_model_forward(m, &in, &out, &err) != XTC_OK && !err.msg[0])
        __builtin_trap();
    xtc_model_free(m);
    return 0;
}
