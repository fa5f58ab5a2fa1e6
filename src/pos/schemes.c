/* The positional bias schemes xtc knows, and the generic parts of their use.
 * Adding a scheme: its file (one struct xtc_bias_scheme), a line here, its config keys. */
#include <string.h>
#include <stdlib.h>

#include "pos/pos.h"
#include "xtc/config.h"

const struct xtc_bias_scheme *const xtc_bias_schemes[] = {&xtc_alibi_scheme, &xtc_t5_scheme, &xtc_dynamic_bias_scheme,
                                                            NULL};

xtc_status xtc_pos_bias_init(struct xtc_pos_bias *pb, const struct xtc_layers_config *c, struct xtc_error *err) {
    memset(pb, 0, sizeof *pb);
    for (int i = 0; xtc_bias_schemes[i]; i++) {
        const struct xtc_bias_scheme *sc = xtc_bias_schemes[i];
        if (!sc->enabled(c))
            continue;
        pb->scheme = sc;
        pb->heads = c->heads;
        pb->causal = c->causal;
        return sc->init ? sc->init(pb, c, err) : XTC_OK;
    }
    return XTC_OK;
}

void xtc_pos_bias_free(struct xtc_pos_bias *pb) {
    free(pb->slopes);
    pb->slopes = NULL;
}

struct xtc_attn_bias xtc_pos_bias_for_call(const struct xtc_pos_bias *pb, const float *table, const int64_t *pos,
                                           bool pos_batched) {
    struct xtc_attn_bias a = {.scheme = pb->scheme, .data = pb->scheme && pb->scheme->table_fill ? table : pb->slopes};
    if (pb->scheme && pb->scheme->takes_explicit_pos) {
        a.pos = pos;
        a.pos_batched = pos_batched;
    }
    return a;
}
