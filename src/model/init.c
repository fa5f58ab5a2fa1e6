/* Fresh parameters, initialised as x-transformers 2.26.4 initialises them
 * (reference B.1 step 4): token embedding Kaiming-normal (std sqrt(2 / dim)),
 * learned positions, memory tokens, memory key/values and the T5 table N(0, 1),
 * Linear weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's
 * default), unit-offset norm gains 0 (ff_post_act_ln's, which has no offset, 1), the
 * scaled-sinusoidal scale dim^-0.5, LayerScale gains layerscale_init_value - 1 (unit offset),
 * residual scales 1.
 * Persistent buffers (rotary tables) come from the configuration. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"
#include "model/model.h"

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* LayerScale's gain, `[prefix]layers.N.1.gamma` (the norms' are layers.N.0.K.gamma) */
static bool is_layerscale(const char *name) {
    const char *p = strstr(name, "layers.");
    int l, end = 0;
    while (p && strstr(p + 1, "layers."))
        p = strstr(p + 1, "layers.");
    return p && sscanf(p, "layers.%d.1.gamma%n", &l, &end) == 1 && end > 0 && p[end] == '\0';
}

void xtc_params_init(struct xtc_model *m, uint64_t seed) {
    struct xtc_rng rng;
    xtc_rng_seed(&rng, seed);
    for (int i = 0; i < m->n_params; i++) {
        const struct xtc_param *p = &m->params[i];
        float *x = m->data + p->offset;
        if (p->is_buffer)
            continue;
        int64_t fan_in = p->ndim >= 2 ? p->shape[p->ndim - 1] : 1;
        const struct xtc_config *cfg = &m->cfg;
        bool l2emb = (cfg->net.has_wrapper && cfg->net.wrap.l2norm_embed) || (cfg->enc.has_wrapper && cfg->enc.wrap.l2norm_embed);
        if (l2emb && (ends_with(p->name, "token_emb.emb.weight") || ends_with(p->name, "pos_emb.emb.weight"))) {
            for (size_t j = 0; j < p->numel; j++) /* TokenEmbedding / TransformerWrapper.init_ with l2norm_embed */
                x[j] = (float)(xtc_rng_normal(&rng) * 1e-5);
        } else if (ends_with(p->name, "qk_norm_q_scale") || ends_with(p->name, "qk_norm_k_scale")) {
            float v = (float)pow((double)p->shape[2], 0.25); /* dim_head ** 0.25 */
            for (size_t j = 0; j < p->numel; j++)
                x[j] = v;
        } else if (ends_with(p->name, "head_scale_params") || ends_with(p->name, "post_emb_norm.gamma")) {
            for (size_t j = 0; j < p->numel; j++) /* no unit offset: these start at 1 */
                x[j] = 1.0f;
        } else if (ends_with(p->name, "talking_heads.weight")) {
            memset(x, 0, sizeof(float) * p->numel); /* nn.init.dirac_: the identity across heads */
            for (int64_t h = 0; h < p->shape[0]; h++)
                x[h * p->shape[0] + h] = 1.0f;
        } else if (ends_with(p->name, "to_v_head_gate.weight")) {
            memset(x, 0, sizeof(float) * p->numel); /* nn.init.constant_(weight, 0) */
        } else if (ends_with(p->name, "to_v_head_gate.bias")) {
            for (size_t j = 0; j < p->numel; j++) /* nn.init.constant_(bias, 10): the gates start open */
                x[j] = 10.0f;
        } else if (ends_with(p->name, "to_v_gate.weight") || ends_with(p->name, "to_v_gate.up.weight") ||
                   ends_with(p->name, "to_output_gate.weight") || ends_with(p->name, "to_output_gate.up.weight")) {
            memset(x, 0, sizeof(float) * p->numel); /* LoRALinear without rank: init_zero_, sigmoid(0) = 0.5 */
        } else if (ends_with(p->name, "token_emb.emb.weight")) {
            double std = sqrt(2.0 / (double)fan_in);
            for (size_t j = 0; j < p->numel; j++)
                x[j] = (float)(xtc_rng_normal(&rng) * std);
        } else if (ends_with(p->name, "pos_emb.emb.weight") || ends_with(p->name, "memory_tokens") ||
                   ends_with(p->name, ".mem_k") || ends_with(p->name, ".mem_v") ||
                   ends_with(p->name, "relative_attention_bias.weight")) {
            for (size_t j = 0; j < p->numel; j++)
                x[j] = (float)xtc_rng_normal(&rng);
        } else if (ends_with(p->name, "rel_proj_pos_bias.distance_bank")) {
            for (size_t j = 0; j < p->numel; j++) /* torch.randn(...) * 0.02 */
                x[j] = (float)(xtc_rng_normal(&rng) * 0.02);
        } else if (ends_with(p->name, "polar_pos_emb.learned_bias")) {
            /* zeros (polar_bias_uniform_init, which would draw U(-2 pi, 0), fails in x-transformers) */
            memset(x, 0, sizeof(float) * p->numel);
        } else if (ends_with(p->name, "pos_emb.scale")) {
            x[0] = (float)(1.0 / sqrt((double)m->cfg.net.wrap.emb_dim)); /* ScaledSinusoidalEmbedding(emb_dim) */
        } else if (strstr(p->name, "rel_pos.mlp.") && (ends_with(p->name, ".1.gamma") || ends_with(p->name, ".1.weight"))) {
            for (size_t j = 0; j < p->numel; j++) /* the dynamic bias' norms: gains start at 1, no unit offset */
                x[j] = 1.0f;
        } else if (strstr(p->name, "rel_pos.mlp.") && ends_with(p->name, ".1.bias")) {
            memset(x, 0, sizeof(float) * p->numel);
        } else if (is_layerscale(p->name)) {
            /* LayerScale with unit offset: init_value - 1, so the scale gamma + 1 starts at init_value */
            const bool enc = strncmp(p->name, "encoder.", 8) == 0 && m->cfg.enc.has_wrapper;
            const double v = (enc ? m->cfg.enc.layers : m->cfg.net.layers).layerscale_init_value - 1.0;
            for (size_t j = 0; j < p->numel; j++)
                x[j] = (float)v;
        } else if (ends_with(p->name, ".residual_scale")) {
            for (size_t j = 0; j < p->numel; j++) /* Residual: torch.ones(dim) */
                x[j] = 1.0f;
        } else if (ends_with(p->name, ".ff.1.gamma")) {
            /* ff_post_act_ln's LayerNorm stores the scale itself (no unit offset) */
            for (size_t j = 0; j < p->numel; j++)
                x[j] = 1.0f;
        } else if (ends_with(p->name, ".gamma") || ends_with(p->name, ".g")) {
            memset(x, 0, sizeof(float) * p->numel);
        } else {
            /* Linear weight (out, in) or bias (out): both U(-1/sqrt(in), 1/sqrt(in)) */
            if (p->ndim == 1 && i > 0 && m->params[i - 1].ndim == 2)
                fan_in = m->params[i - 1].shape[1];
            double bound = 1.0 / sqrt((double)fan_in);
            for (size_t j = 0; j < p->numel; j++)
                x[j] = (float)((2.0 * xtc_rng_uniform(&rng) - 1.0) * bound);
        }
    }
}
