/* xtc info / xtc forward: inspect a model directory and run one forward pass (token ids, or
 * float inputs from a safetensors or .npy file). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "xtc/xtc.h"

static void print_log(enum xtc_log_level level, const char *msg, void *user) {
    (void)user;
    if (level >= XTC_LOG_WARN)
        fprintf(stderr, "%s: %s\n", level == XTC_LOG_WARN ? "warning" : "error", msg);
}

static const char *class_name(enum xtc_model_class c) {
    switch (c) {
    case XTC_MODEL_TRANSFORMER_WRAPPER: return "TransformerWrapper";
    case XTC_MODEL_ENCODER: return "Encoder";
    case XTC_MODEL_DECODER: return "Decoder";
    case XTC_MODEL_CROSS_ATTENDER: return "CrossAttender";
    case XTC_MODEL_XTRANSFORMER: return "XTransformer";
    case XTC_MODEL_CONTINUOUS_WRAPPER: return "ContinuousTransformerWrapper";
    }
    return "?";
}

static const char *norm_name(enum xtc_norm_kind k) {
    switch (k) {
    case XTC_NORM_LAYERNORM: return "LayerNorm";
    case XTC_NORM_RMSNORM: return "RMSNorm";
    case XTC_NORM_SCALENORM: return "ScaleNorm";
    case XTC_NORM_SIMPLE_RMSNORM: return "SimpleRMSNorm";
    }
    return "?";
}

static const char *act_name(enum xtc_ff_activation a) {
    switch (a) {
    case XTC_FF_GELU: return "GELU";
    case XTC_FF_SWISH: return "SiLU";
    case XTC_FF_RELU_SQUARED: return "ReLU^2";
    }
    return "?";
}

static void describe(const struct xtc_net_config *n, const char *label) {
    const struct xtc_layers_config *l = &n->layers;
    printf("%s: %s, dim %d, depth %d, heads %d x %d (kv heads %d), ff x%g %s%s%s%s, %s %s%s\n", label,
           l->only_cross ? "cross-attender" : l->causal ? "decoder" : "encoder", l->dim, l->depth, l->heads,
           l->dim_head, l->kv_heads, l->ff_mult, act_name(l->ff_activation), l->ff_glu ? " GLU" : "",
           l->ff_no_bias ? " no-bias" : "", l->ff_post_act_ln ? " post-act-LN" : "", norm_name(l->norm),
           !l->pre_norm ? "post-norm" : l->sandwich_norm ? "sandwich" : "pre-norm",
           l->pre_norm && !l->final_norm ? " (no final norm)" : "");
    printf("  positions:");
    if (n->has_wrapper && n->wrap.use_abs_pos_emb)
        printf(" %s", n->wrap.scaled_sinu_pos_emb ? "scaled-sinusoidal" : "learned-absolute");
    if (l->rotary)
        printf(" rotary(dim %d%s%s)", l->rotary_emb_dim, l->rotary_xpos ? ", xpos" : "",
               l->rotary_layout == XTC_ROPE_HALF_SPLIT ? ", half-split" : "");
    if (l->polar)
        printf(" polar(PoPE)");
    if (l->rotary && l->rotate_num_heads < l->heads)
        printf(" rotary-heads(last %d of %d)", l->rotate_num_heads, l->heads);
    if (l->alibi)
        printf(" alibi(%d of %d heads%s)", l->alibi_n_slopes > 0 ? l->alibi_n_slopes : l->alibi_num_heads, l->heads,
               l->alibi_n_slopes > 0 ? ", given slopes" : "");
    if (l->rel_pos_bias)
        printf(" t5(%d buckets, max distance %d)", l->rel_pos_num_buckets, l->rel_pos_max_distance);
    if (l->dynamic_pos_bias)
        printf(" dynamic-bias(mlp depth %d%s%s)", l->dynamic_pos_bias_mlp_depth,
               l->dynamic_pos_bias_log_distance ? ", log distance" : "", l->dynamic_pos_bias_norm ? ", norm" : "");
    if (l->cross_attend)
        printf(" cross-attention(context dim %d)", l->dim_context);
    if (l->num_mem_kv)
        printf(" mem-kv %d", l->num_mem_kv);
    if (l->macaron || l->only_attn || l->weight_tie_layers || l->use_layerscale || l->scale_residual ||
        l->scale_residual_constant != 1 || l->gate_residual || l->residual_attn || l->cross_residual_attn ||
        l->shift_tokens > 0) {
        printf("\n  blocks:");
        if (l->macaron)
            printf(" macaron");
        if (l->only_attn)
            printf(" attention-only");
        if (l->weight_tie_layers)
            printf(" weight-tied");
        if (l->use_layerscale)
            printf(" layerscale");
        if (l->scale_residual)
            printf(" residual-scale");
        if (l->scale_residual_constant != 1)
            printf(" residual x%g", l->scale_residual_constant);
        if (l->gate_residual)
            printf(" gru-gated-residual");
        if (l->residual_attn || l->cross_residual_attn)
            printf(" residual-attention(%s%s)", l->residual_attn ? "self" : "",
                   l->residual_attn && l->cross_residual_attn ? ", cross" : l->cross_residual_attn ? "cross" : "");
        if (l->shift_tokens > 0)
            printf(" shift-tokens %d", l->shift_tokens);
    }
    if (n->has_wrapper && n->wrap.continuous)
        printf("\n  float inputs: dim_in %d%s, dim_out %d%s, max_seq_len %d, memory tokens %d, max_mem_len %d",
               n->wrap.dim_in, n->wrap.project_in ? " (project_in)" : "", n->wrap.logits_dim,
               n->wrap.return_only_embed ? "" : " (project_out)", n->wrap.max_seq_len, n->wrap.num_memory_tokens,
               n->wrap.max_mem_len);
    else if (n->has_wrapper)
        printf("\n  vocabulary %d, max_seq_len %d, memory tokens %d, max_mem_len %d%s", n->wrap.num_tokens,
               n->wrap.max_seq_len, n->wrap.num_memory_tokens, n->wrap.max_mem_len,
               n->wrap.tie_embedding ? ", tied embedding" : "");
    printf("\n");
}

/* The CPU line and the code each kernel family runs (xtc_cpu_describe, xtc_cpu_kernels). */
static void describe_cpu(void) {
    char line[512];
    xtc_cpu_describe(line, sizeof line);
    printf("cpu: %s\n", line);
    struct xtc_cpu_kernel k[16];
    int n = xtc_cpu_kernels(k, 16);
    for (int i = 0; i < n && i < 16; i++)
        printf("  %-46s %s\n", k[i].family, k[i].path);
    if (strcmp(xtc_backend_name(), "cpu") != 0)
        printf("  (backend %s: the scalar reference kernels run instead)\n", xtc_backend_name());
}

int xtc_cli_info(int argc, char **argv) {
    const char *dir = NULL;
    bool cpu = false, bad = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cpu") == 0)
            cpu = true;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: xtc info MODEL_DIR | xtc info --cpu [MODEL_DIR]\n"
                   "  --cpu  the CPU, the kernel level (XTC_CPU=portable|avx2|... caps it) and the code\n"
                   "         each kernel family runs\n");
            return 0;
        } else if (argv[i][0] == '-' || dir)
            bad = true;
        else
            dir = argv[i];
    }
    if (bad || (!dir && !cpu)) {
        fprintf(stderr, "usage: xtc info MODEL_DIR | xtc info --cpu [MODEL_DIR]\n");
        return 2;
    }
    xtc_log_set(print_log, NULL);
    if (cpu)
        describe_cpu();
    if (!dir)
        return 0;
    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_load_dir(&m, dir, &err) != XTC_OK) {
        fprintf(stderr, "xtc info: %s\n", err.msg);
        return 1;
    }
    const struct xtc_config *c = xtc_model_config(m);
    printf("%s with %lld parameters\n", class_name(c->model_class), (long long)xtc_model_num_params(m));
    if (c->model_class == XTC_MODEL_XTRANSFORMER)
        describe(&c->enc, "encoder");
    describe(&c->net, c->model_class == XTC_MODEL_XTRANSFORMER ? "decoder" : "stack");
    xtc_model_free(m);
    return 0;
}

/* A model over float inputs (ContinuousTransformerWrapper, bare stacks): x (B, T, width) and an
 * optional mask (B, T) from a safetensors file, or x alone from a .npy file; prints the output's shape and writes it as "out". */
static int forward_floats(const char *dir, const char *input, const char *out_path) {
    xtc_safetensors_t st = NULL;
    xtc_model_t m = NULL;
    float *x = NULL;
    uint8_t *mask = NULL;
    int rc = 1;
    struct xtc_error err = {0};
    const struct xtc_safetensors_entry *ex = NULL, *em = NULL;
    int64_t xshape[8] = {0};
    int xdim = 0;
    const size_t ilen = strlen(input);
    const bool npy = ilen >= 4 && strcmp(input + ilen - 4, ".npy") == 0;
    if (npy) { /* x alone, no mask */
        char msg[512];
        x = xtc_cli_read_npy(input, xshape, &xdim, msg, sizeof msg);
        if (!x) {
            fprintf(stderr, "xtc forward: %s\n", msg);
            return 1;
        }
    } else {
        if (xtc_safetensors_open(&st, input, &err) != XTC_OK) {
            fprintf(stderr, "xtc forward: %s\n", err.msg);
            return 1;
        }
        ex = xtc_safetensors_find(st, "x");
        em = xtc_safetensors_find(st, "mask");
        if (ex) {
            xdim = ex->ndim;
            for (int d = 0; d < xdim && d < 8; d++)
                xshape[d] = ex->shape[d];
        }
    }
    if ((!npy && !ex) || xdim != 3 || xshape[0] < 1 || xshape[1] < 1) {
        fprintf(stderr, "xtc forward: %s needs %s of shape (batch, len, width)\n", input,
                npy ? "an array" : "a tensor \"x\"");
        goto done;
    }
    int64_t B = xshape[0], T = xshape[1];
    if (em && (em->ndim != 2 || em->shape[0] != B || em->shape[1] != T || em->dtype != XTC_DTYPE_BOOL)) {
        fprintf(stderr, "xtc forward: \"mask\" must be BOOL (%lld, %lld) like x\n", (long long)B, (long long)T);
        goto done;
    }
    if (xtc_model_load_dir(&m, dir, &err) != XTC_OK) {
        fprintf(stderr, "xtc forward: %s\n", err.msg);
        goto done;
    }
    const struct xtc_config *c = xtc_model_config(m);
    int64_t width = c->model_class == XTC_MODEL_CONTINUOUS_WRAPPER ? c->net.wrap.dim_in : c->net.layers.dim;
    bool floats = c->model_class == XTC_MODEL_CONTINUOUS_WRAPPER || !c->net.has_wrapper;
    if (!floats || c->model_class == XTC_MODEL_XTRANSFORMER || c->net.layers.cross_attend) {
        fprintf(stderr, "xtc forward: --input is for models over float inputs without cross-attention "
                        "(ContinuousTransformerWrapper, Encoder, Decoder); this one takes --tokens or --text\n");
        goto done;
    }
    if (xshape[2] != width) {
        fprintf(stderr, "xtc forward: x has width %lld, the model takes %lld\n", (long long)xshape[2],
                (long long)width);
        goto done;
    }
    if (!npy)
        x = malloc(sizeof(float) * (size_t)ex->numel);
    mask = em ? malloc((size_t)em->numel) : NULL;
    if (!x || (em && !mask)) {
        fprintf(stderr, "xtc forward: out of memory for the inputs\n");
        goto done;
    }
    if ((!npy && xtc_safetensors_read_f32(ex, x, &err) != XTC_OK) ||
        (em && xtc_safetensors_read_bool(em, mask, &err) != XTC_OK)) {
        fprintf(stderr, "xtc forward: %s\n", err.msg);
        goto done;
    }
    struct xtc_inputs in = {.batch = B, .len = T, .x = x, .mask = mask};
    struct xtc_outputs out;
    if (xtc_model_forward(m, &in, &out, &err) != XTC_OK) {
        fprintf(stderr, "xtc forward: %s\n", err.msg);
        goto done;
    }
    int64_t D = out.out_dim;
    printf("output shape [%lld, %lld, %lld]; last position of row 0:", (long long)B, (long long)T, (long long)D);
    for (int64_t j = 0; j < D && j < 8; j++)
        printf(" %.6g", out.logits[(T - 1) * D + j]);
    printf("%s\n", D > 8 ? " ..." : "");
    if (out_path) {
        struct xtc_safetensors_tensor t = {
            .name = "out", .dtype = XTC_DTYPE_F32, .ndim = 3, .shape = {B, T, D}, .data = out.logits};
        static const char *meta[] = {"format", "pt", "producer", "xtc forward"};
        if (xtc_safetensors_write(out_path, &t, 1, meta, 2, &err) != XTC_OK) {
            fprintf(stderr, "xtc forward: %s\n", err.msg);
            goto done;
        }
        printf("wrote %s (out, shape [%lld, %lld, %lld])\n", out_path, (long long)B, (long long)T, (long long)D);
    }
    rc = 0;
done:
    free(x);
    free(mask);
    xtc_model_free(m);
    xtc_safetensors_free(st);
    return rc;
}

int xtc_cli_forward(int argc, char **argv) {
    const char *dir = NULL, *tokens = NULL, *text = NULL, *out_path = NULL, *input = NULL;
    int top = 5;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (OPT("--tokens")) {
            tokens = v;
        } else if (OPT("--text")) {
            text = v;
        } else if (OPT("--input")) {
            input = v;
        } else if (OPT("--top")) {
            if (xtc_cli_parse_int("forward", a, v, 1, INT_MAX, &top))
                return 2;
        } else if (OPT("--out")) {
            out_path = v;
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: xtc forward MODEL_DIR (--tokens 1,2,3 | --text TEXT | --input FILE) [--top K]\n"
                   "                   [--out FILE [--force]]\n\n"
                   "Runs one forward pass and prints the K most likely next tokens.\n"
                   "--input feeds a model over float inputs (ContinuousTransformerWrapper, Encoder, Decoder):\n"
                   "FILE.safetensors holds \"x\" F32 (batch, len, width) and optionally \"mask\" BOOL (batch, len);\n"
                   "FILE.npy (numpy.save) holds x alone, float32 or float64, C order;\n"
                   "--out then writes the output as tensor \"out\".\n"
                   "--out writes the logits (or embeddings) as FILE.safetensors: tensor \"logits\" (1, n, dim);\n"
                   "an existing FILE is only replaced with --force.\n"
                   "--text feeds the bytes of TEXT (for byte-level models, num_tokens >= 256).\n");
            return 0;
        } else if (a[0] != '-' && !dir) {
            dir = a;
        } else {
            fprintf(stderr, "xtc forward: %s '%s' (see --help)\n",
                    a[0] == '-' && !v ? "option without its value, or unknown:" : "unexpected argument", a);
            return 2;
        }
#undef OPT
    }
    if ((tokens != NULL) + (text != NULL) + (input != NULL) > 1) {
        fprintf(stderr, "xtc forward: --text, --tokens and --input are mutually exclusive (give one)\n");
        return 2;
    }
    if (!dir || (!tokens && !text && !input)) {
        fprintf(stderr, "usage: xtc forward MODEL_DIR (--tokens 1,2,3 | --text TEXT | --input FILE) [--top K] "
                        "[--out FILE [--force]]\n");
        return 2;
    }
    if (text && !text[0]) {
        fprintf(stderr, "xtc forward: --text is empty (a forward pass needs at least one token)\n");
        return 2;
    }
    if (out_path && !out_path[0]) {
        fprintf(stderr, "xtc forward: --out: the output path is empty\n");
        return 2;
    }
    if (force && !out_path) {
        fprintf(stderr, "xtc forward: --force only applies to --out\n");
        return 2;
    }
    struct stat sb;
    if (out_path && !force && lstat(out_path, &sb) == 0) {
        fprintf(stderr, "xtc forward: %s exists; use --force to replace it\n", out_path);
        return 2;
    }
    xtc_log_set(print_log, NULL);
    if (input)
        return forward_floats(dir, input, out_path);
    int64_t *ids = NULL, n = 0;
    if (text) {
        n = (int64_t)strlen(text);
        ids = malloc(sizeof(int64_t) * (size_t)n);
        if (!ids) {
            fprintf(stderr, "xtc forward: out of memory for %lld tokens\n", (long long)n);
            return 1;
        }
        for (int64_t i = 0; i < n; i++)
            ids[i] = (unsigned char)text[i];
    } else if (xtc_cli_parse_tokens("forward", "--tokens", tokens, &ids, &n)) {
        return 2;
    }
    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_load_dir(&m, dir, &err) != XTC_OK) {
        fprintf(stderr, "xtc forward: %s\n", err.msg);
        free(ids);
        return 1;
    }
    struct xtc_inputs in = {.batch = 1, .len = n, .tokens = ids};
    struct xtc_outputs out;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    xtc_status rc = xtc_model_forward(m, &in, &out, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != XTC_OK) {
        fprintf(stderr, "xtc forward: %s\n", err.msg);
        xtc_model_free(m);
        free(ids);
        return 1;
    }
    int64_t V = out.out_dim;
    if (out_path) {
        struct xtc_safetensors_tensor t = {
            .name = "logits", .dtype = XTC_DTYPE_F32, .ndim = 3, .shape = {1, n, V}, .data = out.logits};
        static const char *meta[] = {"format", "pt", "producer", "xtc forward"};
        if (xtc_safetensors_write(out_path, &t, 1, meta, 2, &err) != XTC_OK) {
            fprintf(stderr, "xtc forward: %s\n", err.msg);
            xtc_model_free(m);
            free(ids);
            return 1;
        }
        printf("wrote %s (logits, shape [1, %lld, %lld])\n", out_path, (long long)n, (long long)V);
    }
    float *last = malloc(sizeof(float) * (size_t)V); /* a copy: the output view is read-only */
    if (!last) {
        fprintf(stderr, "xtc forward: out of memory\n");
        xtc_model_free(m);
        free(ids);
        return 1;
    }
    memcpy(last, out.logits + (n - 1) * V, sizeof(float) * (size_t)V);
    double mx = last[0], sum = 0;
    for (int64_t v = 0; v < V; v++)
        mx = last[v] > mx ? last[v] : mx;
    for (int64_t v = 0; v < V; v++)
        sum += exp(last[v] - mx);
    printf("%lld tokens in %.2f ms; most likely next tokens:\n", (long long)n,
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
    bool bytes = V >= 256 && V <= 512;
    for (int k = 0; k < top && k < V; k++) {
        int64_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (last[v] > last[best])
                best = v;
        double p = exp(last[best] - mx) / sum;
        if (bytes && best < 256 && isprint((int)best))
            printf("  %2d. token %4lld  '%c'  p = %.4f\n", k + 1, (long long)best, (int)best, p);
        else
            printf("  %2d. token %4lld        p = %.4f\n", k + 1, (long long)best, p);
        last[best] = -INFINITY; /* next round finds the next best */
    }
    free(last);
    xtc_model_free(m);
    free(ids);
    return 0;
}
