/* xtc check: the calls of a model case. Forward calls map the stored inputs
 * onto struct xtc_inputs; the wrapper calls (ar_loss, xl_ar_loss, generate,
 * xl_generate, continuous_ar_loss) replay x-transformers' AutoregressiveWrapper,
 * XLAutoregressiveWrapper and ContinuousAutoregressiveWrapper on top of xtc_model_forward (golden README §8, §9);
 * beam_search calls (tests/golden_extra/README.md) run xtc_beam_search. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ------------------------------------------------------------------ helpers */

static int forward(struct check *c, const struct xtc_inputs *in, struct xtc_outputs *out) {
    struct xtc_error err = {0};
    if (xtc_model_forward(c->model, in, out, &err) != XTC_OK)
        return check_fail(c, "%s", err.msg);
    return 0;
}

static int wrapper_kwargs(struct check *c, const cJSON *call, int64_t *ignore, int64_t *pad) {
    *ignore = -100;
    *pad = 0;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(call, "wrapper"), "kwargs");
    for (const cJSON *v = w ? w->child : NULL; v; v = v->next) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 1e15)
            return check_fail(c, "wrapper keyword '%s' must be an integer", v->string);
        if (strcmp(v->string, "ignore_index") == 0)
            *ignore = (int64_t)v->valuedouble;
        else if (strcmp(v->string, "pad_value") == 0)
            *pad = (int64_t)v->valuedouble;
        else
            return check_fail(c, "unsupported wrapper keyword '%s'", v->string);
    }
    return 0;
}

static int check_targets(struct check *c, const int64_t *x, int64_t n, int64_t V, int64_t ignore) {
    for (int64_t i = 0; i < n; i++)
        if (x[i] != ignore && (x[i] < 0 || x[i] >= V))
            return check_fail(c, "token %lld at index %lld is outside the vocabulary (num_tokens %lld)",
                              (long long)x[i], (long long)i, (long long)V);
    return 0;
}

static const struct xtc_net_config *decoder_net(const struct xtc_config *cfg) { return &cfg->net; }

static bool list_has(const cJSON *list, const char *name) {
    for (const cJSON *v = list ? list->child : NULL; v; v = v->next)
        if (cJSON_IsString(v) && strcmp(v->valuestring, name) == 0)
            return true;
    return false;
}

static int expect_inputs(struct check *c, const cJSON *call, int K, const char *const *allowed, int n_allowed) {
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(call, "inputs");
    if (!cJSON_IsArray(inputs))
        return check_fail(c, "calls[%d].inputs must be a list of names", K);
    for (const cJSON *v = inputs->child; v; v = v->next) {
        bool ok = false;
        for (int i = 0; cJSON_IsString(v) && i < n_allowed; i++)
            ok |= strcmp(v->valuestring, allowed[i]) == 0;
        if (!ok)
            return check_fail(c, "calls[%d]: input '%s' is not accepted by this call", K,
                              cJSON_IsString(v) ? v->valuestring : "?");
    }
    return 0;
}

/* ------------------------------------------------------------------ gradients */

/* Runs the backward of the last forward with cotangent dout (accumulating when
 * accumulate), for the calls of grad cases. */
static int backward(struct check *c, const float *dout, bool accumulate) {
    struct xtc_error err = {0};
    if ((!accumulate && xtc_model_zero_grad(c->model, &err) != XTC_OK) ||
        xtc_model_backward(c->model, dout, &err) != XTC_OK)
        return check_fail(c, "backward: %s", err.msg);
    return 0;
}

/* Compares callK.grad.P for every parameter P listed in case.json, and callK.grad_in.NAME
 * for the call's grad_inputs. */
static int compare_grads(struct check *c, const cJSON *call, int K, int64_t B, int64_t n, int64_t m,
                         int64_t mem_len) {
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(c->root, "parameters");
    if (!cJSON_IsArray(params))
        return check_fail(c, "case.json: a grad case lists its \"parameters\"");
    int n_params = xtc_model_param_count(c->model);
    for (const cJSON *v = params->child; v; v = v->next) {
        if (!cJSON_IsString(v))
            return check_fail(c, "case.json: parameter names must be strings");
        struct xtc_param_info info = {0};
        for (int i = 0; i < n_params && !info.name; i++) {
            struct xtc_param_info pi = xtc_model_param(c->model, i);
            if (strcmp(pi.name, v->valuestring) == 0)
                info = pi;
        }
        if (!info.name)
            return check_fail(c, "case.json lists parameter %s, which this model does not have", v->valuestring);
        if (check_compare_tol(c, K, "grad", info.name, info.grad, info.ndim, info.shape, c->grad_atol, c->grad_rtol))
            return 1;
    }
    const struct xtc_config *cfg = xtc_model_config(c->model);
    int64_t dim = cfg->net.layers.dim, dim_x = cfg->net.wrap.continuous ? cfg->net.wrap.dim_in : dim;
    struct xtc_input_grads ig;
    xtc_model_input_grads(c->model, &ig);
    const cJSON *gin = cJSON_GetObjectItemCaseSensitive(call, "grad_inputs");
    for (const cJSON *v = gin ? gin->child : NULL; v; v = v->next) {
        const char *name = cJSON_IsString(v) ? v->valuestring : "";
        int mi = -1;
        int rc;
        if (!strcmp(name, "context"))
            rc = check_compare_tol(c, K, "grad_in", name, ig.context, 3,
                                   (int64_t[]){B, m, cfg->net.layers.dim_context}, c->grad_atol, c->grad_rtol);
        else if (!strcmp(name, "x"))
            rc = check_compare_tol(c, K, "grad_in", name, ig.x, 3, (int64_t[]){B, n, dim_x}, c->grad_atol,
                                   c->grad_rtol);
        else if (sscanf(name, "mems.%d", &mi) == 1 && mi >= 0 && mi < ig.n_mems)
            rc = check_compare_tol(c, K, "grad_in", name, ig.mems[mi], 3, (int64_t[]){B, mem_len, dim}, c->grad_atol,
                                   c->grad_rtol);
        else
            rc = check_fail(c, "calls[%d]: no gradient for input '%s'", K, name);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ forward calls */

static int parse_index(const char *name, const char *prefix, int limit) {
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0)
        return -1;
    char *end;
    long i = strtol(name + n, &end, 10);
    if (*end || end == name + n || i < 0 || i >= limit)
        return -2;
    return (int)i;
}

static int forward_call(struct check *c, const cJSON *call, int K) {
    const struct xtc_config *cfg = xtc_model_config(c->model);
    const struct xtc_net_config *net = &cfg->net;
    bool xt = cfg->model_class == XTC_MODEL_XTRANSFORMER, tokens = net->has_wrapper && !net->wrap.continuous;
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(call, "inputs");
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(call, "outputs");
    const cJSON *kwargs = cJSON_GetObjectItemCaseSensitive(call, "kwargs");
    if (!cJSON_IsArray(inputs) || !cJSON_IsArray(outputs))
        return check_fail(c, "calls[%d] needs \"inputs\" and \"outputs\" lists", K);
    struct xtc_inputs in = {0};
    for (const cJSON *v = kwargs ? kwargs->child : NULL; v; v = v->next) {
        if (strcmp(v->string, "return_mems") == 0 && cJSON_IsBool(v))
            in.return_mems = cJSON_IsTrue(v);
        else
            return check_fail(c, "calls[%d]: unsupported forward keyword '%s'", K, v->string);
    }
    const struct xtc_safetensors_entry *e;
    void *d;
    int64_t B, dim = net->layers.dim;
    /* the sequence first: it fixes B and n for the other inputs */
    if (xt) {
        if (!list_has(inputs, "src") || !list_has(inputs, "tgt"))
            return check_fail(c, "calls[%d]: XTransformer takes src and tgt", K);
        if (check_input(c, K, "src", K_I64, 2, NULL, &e, &d))
            return 1;
        B = e->shape[0];
        in.src = d;
        in.src_len = e->shape[1];
        if (check_input(c, K, "tgt", K_I64, 2, (int64_t[]){B, -1}, &e, &d))
            return 1;
        in.tokens = d;
        in.len = e->shape[1];
    } else {
        if (!list_has(inputs, "x"))
            return check_fail(c, "calls[%d]: input x is required", K);
        int64_t dim_x = net->wrap.continuous ? net->wrap.dim_in : dim;
        if (check_input(c, K, "x", tokens ? K_I64 : K_F32, tokens ? 2 : 3, (int64_t[]){-1, -1, dim_x}, &e, &d))
            return 1;
        B = e->shape[0];
        in.len = e->shape[1];
        if (tokens)
            in.tokens = d;
        else
            in.x = d;
    }
    in.batch = B;
    const float *mems[64] = {0};
    const uint8_t *mem_masks[64] = {0};
    int n_mems = 0, n_mem_masks = 0;
    for (const cJSON *v = inputs->child; v; v = v->next) {
        const char *name = cJSON_IsString(v) ? v->valuestring : "";
        if (!strcmp(name, "x") || !strcmp(name, "src") || !strcmp(name, "tgt"))
            continue;
        if (!strcmp(name, "mask")) {
            if (check_input(c, K, name, K_BOOL, 2, (int64_t[]){B, xt ? in.src_len : in.len}, &e, &d))
                return 1;
            if (xt)
                in.src_mask = d;
            else
                in.mask = d;
        } else if (!strcmp(name, "pos") || !strcmp(name, "context_pos")) {
            const struct xtc_safetensors_entry *pe = check_io_entry(c, K, "in", name);
            int nd = pe && pe->ndim == 2 ? 2 : 1;
            if (check_input(c, K, name, K_I64, nd, (int64_t[]){nd == 2 ? B : -1, -1}, &e, &d))
                return 1;
            if (name[0] == 'p') {
                in.pos = d;
                in.pos_len = e->shape[nd - 1];
                in.pos_batched = nd == 2;
            } else {
                in.context_pos = d;
                in.context_pos_batched = nd == 2;
                if (in.context && e->shape[nd - 1] != in.context_len)
                    return check_fail(c, "call%d.in.context_pos has %lld positions for a context of %lld", K,
                                      (long long)e->shape[nd - 1], (long long)in.context_len);
                in.context_len = e->shape[nd - 1];
            }
        } else if (!strcmp(name, "context")) {
            if (check_input(c, K, name, K_F32, 3, (int64_t[]){B, -1, net->layers.dim_context}, &e, &d))
                return 1;
            if (in.context_pos && e->shape[1] != in.context_len)
                return check_fail(c, "call%d.in.context has %lld positions but context_pos %lld", K,
                                  (long long)e->shape[1], (long long)in.context_len);
            in.context = d;
            in.context_len = e->shape[1];
        } else if (!strcmp(name, "context_mask")) {
            if (check_input(c, K, name, K_BOOL, 2, (int64_t[]){B, in.context ? in.context_len : -1}, &e, &d))
                return 1;
            in.context_mask = d;
            if (!in.context)
                in.context_len = e->shape[1];
        } else if (parse_index(name, "mems.", 64) != -1) {
            int i = parse_index(name, "mems.", 64);
            if (i < 0 || mems[i])
                return check_fail(c, "calls[%d]: bad memory input '%s'", K, name);
            if (check_input(c, K, name, K_F32, 3, (int64_t[]){B, n_mems ? in.mem_len : -1, dim}, &e, &d))
                return 1;
            mems[i] = d;
            in.mem_len = e->shape[1];
            n_mems++;
        } else if (parse_index(name, "mem_masks.", 64) != -1) {
            int i = parse_index(name, "mem_masks.", 64);
            if (i < 0 || mem_masks[i])
                return check_fail(c, "calls[%d]: bad memory-mask input '%s'", K, name);
            if (check_input(c, K, name, K_BOOL, 2, (int64_t[]){B, -1}, &e, &d))
                return 1;
            mem_masks[i] = d;
            n_mem_masks++;
        } else {
            return check_fail(c, "calls[%d]: unsupported input '%s'", K, name);
        }
    }
    for (int i = 0; i < n_mems; i++)
        if (!mems[i])
            return check_fail(c, "calls[%d]: mems.%d is missing (mems must be numbered from 0)", K, i);
    if (n_mem_masks) {
        if (n_mem_masks != n_mems)
            return check_fail(c, "calls[%d]: %d mem_masks for %d mems", K, n_mem_masks, n_mems);
        for (int i = 0; i < n_mems; i++) {
            const struct xtc_safetensors_entry *me;
            char mname[32];
            snprintf(mname, sizeof mname, "mem_masks.%d", i);
            if (!(me = check_io_entry(c, K, "in", mname)) || me->shape[1] != in.mem_len)
                return check_fail(c, "call%d.in.%s must be (batch, %lld) like mems.%d", K, mname,
                                  (long long)in.mem_len, i);
        }
        in.mem_masks = mem_masks;
    }
    in.mems = n_mems ? mems : NULL;
    in.n_mems = n_mems;
    in.save_for_backward = c->grad;

    struct xtc_outputs out;
    if (forward(c, &in, &out))
        return 1;
    for (const cJSON *v = outputs->child; v; v = v->next) {
        const char *name = cJSON_IsString(v) ? v->valuestring : "";
        int mi = parse_index(name, "mems.", 64);
        int rc;
        if (!strcmp(name, "logits") || !strcmp(name, "out"))
            rc = check_compare(c, K, name, out.logits, 3, (int64_t[]){B, in.len, out.out_dim});
        else if (!strcmp(name, "loss") && xt)
            rc = check_compare(c, K, name, &out.loss, 0, NULL);
        else if (!strcmp(name, "encoder_out") && xt)
            rc = check_compare(c, K, name, out.encoder_out, 3, (int64_t[]){B, in.src_len, dim});
        else if (mi >= 0 && mi < out.n_mems)
            rc = check_compare(c, K, name, out.mems[mi], 3, (int64_t[]){B, out.mem_len, dim});
        else
            rc = check_fail(c, "calls[%d]: output '%s' is not produced by this call", K, name);
        if (rc)
            return rc;
    }
    if (!c->grad)
        return 0;
    /* S = sum(first output * dout): dout is the cotangent of the first output */
    const struct xtc_safetensors_entry *de = check_io_entry(c, K, "in", "dout");
    int64_t first_numel = xt ? 1 : B * in.len * out.out_dim;
    if (!de || de->dtype != XTC_DTYPE_F32 || (int64_t)de->numel != first_numel)
        return check_fail(c, "call%d.in.dout must be F32 with the first output's shape", K);
    float *dout = check_own(c, sizeof(float) * (size_t)first_numel);
    struct xtc_error err = {0};
    if (!dout || xtc_safetensors_read_f32(de, dout, &err) != XTC_OK)
        return check_fail(c, "call%d.in.dout: %s", K, dout ? err.msg : "out of memory");
    if (backward(c, dout, false))
        return 1;
    return compare_grads(c, call, K, B, in.len, in.context_len, in.mem_len);
}

/* ------------------------------------------------------------------ AutoregressiveWrapper loss */

static int ar_loss_call(struct check *c, const cJSON *call, int K) {
    const struct xtc_net_config *net = decoder_net(xtc_model_config(c->model));
    const struct xtc_safetensors_entry *e;
    void *d;
    int64_t ignore, pad, V = net->wrap.logits_dim; /* the logits' width; targets must be below it */
    if (expect_inputs(c, call, K, (const char *[]){"x"}, 1) || wrapper_kwargs(c, call, &ignore, &pad) ||
        check_input(c, K, "x", K_I64, 2, NULL, &e, &d))
        return 1;
    const int64_t *x = d;
    int64_t B = e->shape[0], n = e->shape[1];
    if (n < 2)
        return check_fail(c, "ar_loss needs at least 2 tokens per row");
    /* tokens are ids; xtc_cross_entropy checks that targets are below logits_dim */
    if (check_targets(c, x, B * n, net->wrap.num_tokens, ignore))
        return 1;
    int64_t *inp = check_own(c, sizeof(int64_t) * (size_t)(B * n));
    float *logits = check_own(c, sizeof(float) * (size_t)(B * (n - 1) * V));
    if (!inp || !logits)
        return check_fail(c, "out of memory");
    for (int64_t i = 0; i < B * n; i++)
        inp[i] = x[i] == ignore ? pad : x[i];
    struct xtc_inputs in = {.batch = B, .len = n, .tokens = inp, .save_for_backward = c->grad};
    struct xtc_outputs out;
    if (forward(c, &in, &out))
        return 1;
    int64_t *tgt = check_own(c, sizeof(int64_t) * (size_t)(B * (n - 1)));
    float *dlogits = check_own(c, sizeof(float) * (size_t)(B * (n - 1) * V));
    float *dfull = check_own(c, sizeof(float) * (size_t)(B * n * V));
    if (!tgt || !dlogits || !dfull)
        return check_fail(c, "out of memory");
    for (int64_t b = 0; b < B; b++) {
        memcpy(logits + b * (n - 1) * V, out.logits + b * n * V, sizeof(float) * (size_t)((n - 1) * V));
        memcpy(tgt + b * (n - 1), x + b * n + 1, sizeof(int64_t) * (size_t)(n - 1));
    }
    float loss;
    int64_t kept;
    struct xtc_error err = {0};
    if (xtc_cross_entropy(logits, tgt, B * (n - 1), V, ignore, 1.0f, &loss, dlogits, &kept, &err) != XTC_OK)
        return check_fail(c, "%s", err.msg);
    if (!kept)
        loss = NAN; /* torch's mean over no targets */
    if (check_compare(c, K, "loss", &loss, 0, NULL) ||
        check_compare(c, K, "logits", logits, 3, (int64_t[]){B, n - 1, V}))
        return 1;
    if (!c->grad)
        return 0;
    /* logits = net(inp)[:, :-1]: the last position gets no gradient (dfull is zeroed) */
    for (int64_t b = 0; b < B; b++)
        memcpy(dfull + b * n * V, dlogits + b * (n - 1) * V, sizeof(float) * (size_t)((n - 1) * V));
    return backward(c, dfull, false) || compare_grads(c, call, K, B, n, 0, 0);
}

/* ------------------------------------------------------------------ ContinuousAutoregressiveWrapper loss */

/* loss = MSE(net(x[:, :-1], mask = mask[:, :-1]), x[:, 1:]) over the rows the sliced mask keeps
 * (ContinuousAutoregressiveWrapper.forward with its default loss_fn); x gets gradient both as
 * the network's input and as the target. */
static int continuous_ar_loss_call(struct check *c, const cJSON *call, int K) {
    const struct xtc_config *cfg = xtc_model_config(c->model);
    const struct xtc_net_config *net = &cfg->net;
    if (cfg->model_class != XTC_MODEL_CONTINUOUS_WRAPPER)
        return check_fail(c, "continuous_ar_loss needs a ContinuousTransformerWrapper");
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(call, "wrapper"), "kwargs");
    if (w && w->child)
        return check_fail(c, "unsupported wrapper keyword '%s' (only the default MSE loss)", w->child->string);
    int64_t D = net->wrap.dim_in;
    if (net->wrap.logits_dim != D)
        return check_fail(c, "continuous_ar_loss: the targets x[:, 1:] need dim_out == dim_in (%lld, %lld)",
                          (long long)net->wrap.logits_dim, (long long)D);
    const struct xtc_safetensors_entry *e;
    void *d;
    if (expect_inputs(c, call, K, (const char *[]){"x", "mask"}, 2) ||
        check_input(c, K, "x", K_F32, 3, (int64_t[]){-1, -1, D}, &e, &d))
        return 1;
    const float *x = d;
    int64_t B = e->shape[0], n = e->shape[1], N = n - 1;
    if (n < 2)
        return check_fail(c, "continuous_ar_loss needs at least 2 positions per row");
    const uint8_t *mask = NULL;
    if (check_io_entry(c, K, "in", "mask")) {
        if (check_input(c, K, "mask", K_BOOL, 2, (int64_t[]){B, n}, &e, &d))
            return 1;
        mask = d;
    }
    float *inp = check_own(c, sizeof(float) * (size_t)(B * N * D));
    float *tgt = check_own(c, sizeof(float) * (size_t)(B * N * D));
    float *dpred = check_own(c, sizeof(float) * (size_t)(B * N * D));
    float *dx = check_own(c, sizeof(float) * (size_t)(B * n * D));
    uint8_t *m = mask ? check_own(c, (size_t)(B * N)) : NULL;
    if (!inp || !tgt || !dpred || !dx || (mask && !m))
        return check_fail(c, "out of memory");
    for (int64_t b = 0; b < B; b++) {
        memcpy(inp + b * N * D, x + b * n * D, sizeof(float) * (size_t)(N * D));
        memcpy(tgt + b * N * D, x + (b * n + 1) * D, sizeof(float) * (size_t)(N * D));
        if (m)
            memcpy(m + b * N, mask + b * n, (size_t)N);
    }
    struct xtc_inputs in = {.batch = B, .len = N, .x = inp, .mask = m, .save_for_backward = c->grad};
    struct xtc_outputs out;
    if (forward(c, &in, &out))
        return 1;
    float loss;
    int64_t kept;
    struct xtc_error err = {0};
    if (xtc_mse_loss(out.logits, tgt, m, B * N, D, 1.0f, &loss, dpred, &kept, &err) != XTC_OK)
        return check_fail(c, "%s", err.msg);
    if (!kept)
        loss = NAN; /* torch's mean over no rows */
    if (check_compare(c, K, "loss", &loss, 0, NULL) || check_compare(c, K, "out", out.logits, 3, (int64_t[]){B, N, D}))
        return 1;
    if (!c->grad)
        return 0;
    if (backward(c, dpred, false))
        return 1;
    /* d x = [d input ; 0] - [0 ; d pred] (the target side of the MSE) */
    struct xtc_input_grads ig;
    xtc_model_input_grads(c->model, &ig);
    memset(dx, 0, sizeof(float) * (size_t)(B * n * D));
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < N * D; i++) {
            dx[b * n * D + i] += ig.x[b * N * D + i];
            dx[(b * n + 1) * D + i] -= dpred[b * N * D + i];
        }
    cJSON *params_only = cJSON_Duplicate(call, 1);
    if (!params_only)
        return check_fail(c, "out of memory");
    bool want_dx = list_has(cJSON_GetObjectItemCaseSensitive(call, "grad_inputs"), "x");
    cJSON_DeleteItemFromObjectCaseSensitive(params_only, "grad_inputs");
    int rc = compare_grads(c, params_only, K, B, N, 0, 0);
    cJSON_Delete(params_only);
    if (!rc && want_dx)
        rc = check_compare_tol(c, K, "grad_in", "x", dx, 3, (int64_t[]){B, n, D}, c->grad_atol, c->grad_rtol);
    return rc;
}

/* ------------------------------------------------------------------ XLAutoregressiveWrapper loss */

static int xl_ar_loss_call(struct check *c, const cJSON *call, int K) {
    const struct xtc_net_config *net = decoder_net(xtc_model_config(c->model));
    const struct xtc_safetensors_entry *e;
    void *d;
    /* V: the logits' width (targets below it); inputs are token ids (below num_tokens) */
    int64_t ignore, pad, V = net->wrap.logits_dim, M = net->wrap.max_seq_len, Vt = net->wrap.num_tokens;
    if (expect_inputs(c, call, K, (const char *[]){"x"}, 1) || wrapper_kwargs(c, call, &ignore, &pad) ||
        check_input(c, K, "x", K_I64, 2, NULL, &e, &d))
        return 1;
    const int64_t *x = d;
    int64_t B = e->shape[0], n = e->shape[1], N = n - 1;
    if (N < 1 || M < 1)
        return check_fail(c, "xl_ar_loss needs at least 2 tokens and max_seq_len >= 1");
    /* inputs x[:, :-1] are fed as they are (no pad replacement), so they must be token ids */
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < N; i++)
            if (x[b * n + i] < 0 || x[b * n + i] >= Vt)
                return check_fail(c, "x[%lld, %lld] = %lld is fed as a token but is not a token id", (long long)b,
                                  (long long)i, (long long)x[b * n + i]);
    if (check_targets(c, x, B * n, Vt, ignore))
        return 1;
    float *logits = check_own(c, sizeof(float) * (size_t)(B * N * V));
    if (!logits)
        return check_fail(c, "out of memory");
    struct xtc_error err = {0};
    xtc_xl_workspace_t ws = NULL;
    struct xtc_xl_loss_options o = {.segment = M, .ignore_index = ignore, .scale = 1.0f, .backward = c->grad};
    float loss;
    xtc_status rc = xtc_xl_workspace_create(&ws, c->model, B, M, &err);
    if (rc == XTC_OK && c->grad)
        rc = xtc_model_zero_grad(c->model, &err);
    if (rc == XTC_OK)
        rc = xtc_xl_loss(c->model, x, B, n, &o, ws, &loss, logits, &err);
    xtc_xl_workspace_free(ws);
    if (rc != XTC_OK)
        return check_fail(c, "%s", err.msg);
    if (check_compare(c, K, "loss", &loss, 0, NULL) || check_compare(c, K, "logits", logits, 3, (int64_t[]){B, N, V}))
        return 1;
    return c->grad ? compare_grads(c, call, K, B, n, 0, 0) : 0;
}

/* ------------------------------------------------------------------ greedy generation */

struct gen {
    int64_t B, t, steps, V, cap;
    int64_t *out;    /* (B, cap) running sequences, prompt first */
    float *step_logits; /* (B, steps, V) */
    int64_t *window; /* (B, cap) */
};

static int gen_kwargs(struct check *c, const cJSON *call, int64_t *seq_len, bool *has_eos, int64_t *eos, bool *cached) {
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(call, "kwargs");
    const cJSON *sl = cJSON_GetObjectItemCaseSensitive(kw, "seq_len");
    const cJSON *temp = cJSON_GetObjectItemCaseSensitive(kw, "temperature");
    const cJSON *eo = cJSON_GetObjectItemCaseSensitive(kw, "eos_token");
    const cJSON *ck = cJSON_GetObjectItemCaseSensitive(kw, "cache_kv");
    if (!cJSON_IsNumber(sl) || sl->valuedouble < 0 || sl->valuedouble > 1 << 20 ||
        sl->valuedouble != floor(sl->valuedouble))
        return check_fail(c, "generate: seq_len must be a non-negative integer");
    if (temp && (!cJSON_IsNumber(temp) || temp->valuedouble != 0))
        return check_fail(c, "generate: only greedy decoding (temperature 0) can be compared with torch");
    *seq_len = (int64_t)sl->valuedouble;
    *has_eos = eo && cJSON_IsNumber(eo);
    *eos = *has_eos ? (int64_t)eo->valuedouble : 0;
    *cached = !ck || cJSON_IsTrue(ck);
    return 0;
}

static int gen_alloc(struct check *c, struct gen *g) {
    /* B and t come from a validated tensor of the case file and steps <= 2^20, but a small file
     * can still name a (B, steps, V) that no size_t holds */
    size_t seq, rows, logits;
    g->cap = g->t + g->steps;
    if (__builtin_mul_overflow((size_t)g->B, (size_t)g->cap, &seq) || seq > SIZE_MAX / sizeof(int64_t) ||
        __builtin_mul_overflow((size_t)g->B, (size_t)(g->steps ? g->steps : 1), &rows) ||
        __builtin_mul_overflow(rows, (size_t)g->V, &logits) || logits > SIZE_MAX / sizeof(float))
        return check_fail(c, "generate: batch %lld x (%lld + %lld tokens) x logits_dim %lld is too large",
                          (long long)g->B, (long long)g->t, (long long)g->steps, (long long)g->V);
    g->out = check_own(c, sizeof(int64_t) * seq);
    g->window = check_own(c, sizeof(int64_t) * seq);
    g->step_logits = check_own(c, sizeof(float) * logits);
    return g->out && g->window && g->step_logits ? 0 : check_fail(c, "out of memory for generation of %zu tokens", seq);
}

/* Copies out[:, from:from+len] into g->window (B, len). */
static const int64_t *gen_window(struct gen *g, int64_t from, int64_t len) {
    for (int64_t b = 0; b < g->B; b++)
        memcpy(g->window + b * len, g->out + b * g->cap + from, sizeof(int64_t) * (size_t)len);
    return g->window;
}

static int gen_compare(struct check *c, int K, struct gen *g, int64_t s) {
    int64_t *tokens = check_own(c, sizeof(int64_t) * (size_t)(g->B * (s ? s : 1)));
    float *logits = check_own(c, sizeof(float) * (size_t)(g->B * (s ? s : 1) * g->V));
    if (!tokens || !logits)
        return check_fail(c, "out of memory");
    for (int64_t b = 0; b < g->B; b++) {
        memcpy(tokens + b * s, g->out + b * g->cap + g->t, sizeof(int64_t) * (size_t)s);
        memcpy(logits + b * s * g->V, g->step_logits + b * g->steps * g->V, sizeof(float) * (size_t)(s * g->V));
    }
    return check_compare_i64(c, K, "tokens", tokens, g->B * s) ||
           check_compare(c, K, "step_logits", logits, 3, (int64_t[]){g->B, s, g->V});
}

static int generate_call(struct check *c, const cJSON *call, int K) {
    const struct xtc_config *cfg = xtc_model_config(c->model);
    bool xt = cfg->model_class == XTC_MODEL_XTRANSFORMER;
    const struct xtc_net_config *net = decoder_net(cfg);
    const struct xtc_safetensors_entry *e;
    void *d;
    int64_t seq_len, eos, ignore, pad;
    bool has_eos, cached;
    if (gen_kwargs(c, call, &seq_len, &has_eos, &eos, &cached) || wrapper_kwargs(c, call, &ignore, &pad))
        return 1;
    if (expect_inputs(c, call, K, (const char *[]){"prompts", "src", "mask"}, xt ? 3 : 1) ||
        check_input(c, K, "prompts", K_I64, 2, NULL, &e, &d))
        return 1;
    struct gen g = {.B = e->shape[0], .t = e->shape[1], .steps = seq_len, .V = net->wrap.logits_dim};
    if (g.t < 1)
        return check_fail(c, "generate: empty prompt");
    if (check_targets(c, d, g.B * g.t, net->wrap.num_tokens, INT64_MIN) || gen_alloc(c, &g))
        return 1;
    for (int64_t b = 0; b < g.B; b++)
        memcpy(g.out + b * g.cap, (int64_t *)d + b * g.t, sizeof(int64_t) * (size_t)g.t);
    struct xtc_inputs base = {.batch = g.B};
    if (xt) {
        if (check_input(c, K, "src", K_I64, 2, (int64_t[]){g.B, -1}, &e, &d))
            return 1;
        base.src = d;
        base.src_len = e->shape[1];
        if (check_io_entry(c, K, "in", "mask")) {
            if (check_input(c, K, "mask", K_BOOL, 2, (int64_t[]){g.B, base.src_len}, &e, &d))
                return 1;
            base.src_mask = d;
        }
    }
    /* the library's decoding loop, with or without its KV cache */
    struct xtc_gen_options go;
    xtc_gen_options_default(&go);
    go.max_new_tokens = seq_len;
    go.eos_token = has_eos ? eos : -1;
    go.pad_value = pad;
    go.cache_kv = cached;
    int64_t s = 0;
    struct xtc_error err = {0};
    const int64_t *prompts = gen_window(&g, 0, g.t); /* contiguous (B, t) */
    int64_t *tokens = check_own(c, sizeof(int64_t) * (size_t)(g.B * (seq_len ? seq_len : 1)));
    if (!tokens)
        return check_fail(c, "out of memory");
    xtc_status rc = xt ? xtc_generate_seq2seq(c->model, base.src, base.src_mask, base.src_len, prompts, g.B, g.t, &go,
                                              NULL, NULL, tokens, &s, g.step_logits, &err)
                       : xtc_generate(c->model, prompts, g.B, g.t, &go, NULL, NULL, tokens, &s, g.step_logits, &err);
    if (rc != XTC_OK)
        return check_fail(c, "generate: %s", err.msg);
    for (int64_t b = 0; b < g.B; b++)
        memcpy(g.out + b * g.cap + g.t, tokens + b * seq_len, sizeof(int64_t) * (size_t)s);
    return gen_compare(c, K, &g, s);
}

/* ------------------------------------------------------------------ XL generation */

static int xl_generate_call(struct check *c, const cJSON *call, int K) {
    const struct xtc_net_config *net = decoder_net(xtc_model_config(c->model));
    const struct xtc_safetensors_entry *e;
    void *d;
    int64_t seq_len, eos, ignore, pad;
    bool has_eos, cached;
    if (gen_kwargs(c, call, &seq_len, &has_eos, &eos, &cached) || wrapper_kwargs(c, call, &ignore, &pad))
        return 1;
    if (has_eos)
        return check_fail(c, "xl_generate with eos_token is not supported by the checker");
    if (expect_inputs(c, call, K, (const char *[]){"prompts"}, 1) ||
        check_input(c, K, "prompts", K_I64, 2, NULL, &e, &d))
        return 1;
    struct gen g = {.B = e->shape[0], .t = e->shape[1], .steps = seq_len, .V = net->wrap.logits_dim};
    int64_t M = net->wrap.max_seq_len;
    if (g.t < 1 || M < 1)
        return check_fail(c, "xl_generate needs a prompt and max_seq_len >= 1");
    if (check_targets(c, d, g.B * g.t, net->wrap.num_tokens, INT64_MIN) || gen_alloc(c, &g))
        return 1;
    for (int64_t b = 0; b < g.B; b++)
        memcpy(g.out + b * g.cap, (int64_t *)d + b * g.t, sizeof(int64_t) * (size_t)g.t);
    struct xtc_gen_options go;
    xtc_gen_options_default(&go);
    go.max_new_tokens = seq_len;
    int64_t steps = 0;
    struct xtc_error err = {0};
    int64_t *tokens = check_own(c, sizeof(int64_t) * (size_t)(g.B * (seq_len ? seq_len : 1)));
    if (!tokens)
        return check_fail(c, "out of memory");
    /* the KV cache must not change the numbers: both paths are compared with the reference */
    for (int cache = 1; cache >= 0; cache--) {
        go.cache_kv = cache;
        if (xtc_generate_xl(c->model, gen_window(&g, 0, g.t), g.B, g.t, &go, NULL, NULL, tokens, &steps,
                            g.step_logits, &err) != XTC_OK)
            return check_fail(c, "xl_generate (%s): %s", cache ? "cached" : "uncached", err.msg);
        for (int64_t b = 0; b < g.B; b++)
            memcpy(g.out + b * g.cap + g.t, tokens + b * seq_len, sizeof(int64_t) * (size_t)steps);
        if (gen_compare(c, K, &g, seq_len))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ beam search */

/* kwargs of AutoregressiveWrapper.beam_search that the checker can replay: greedy proposals
 * (stochastic false: torch's Gumbel draws cannot be matched), no eos, no filter, the window. */
static int beam_kwargs(struct check *c, const cJSON *call, int K, struct xtc_beam_options *o) {
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(call, "kwargs");
    bool have_len = false, have_beams = false;
    for (const cJSON *v = kw ? kw->child : NULL; v; v = v->next) {
        const char *k = v->string;
        bool integer = cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
        if (!strcmp(k, "seq_len") && integer && v->valuedouble >= 0 && v->valuedouble <= 1 << 20)
            o->max_new_tokens = (int64_t)v->valuedouble, have_len = true;
        else if (!strcmp(k, "beams") && integer && v->valuedouble >= 1 && v->valuedouble <= 1024)
            o->beams = (int)v->valuedouble, have_beams = true;
        else if (!strcmp(k, "cache_kv") && cJSON_IsBool(v))
            o->cache_kv = cJSON_IsTrue(v);
        else if (!strcmp(k, "temperature") && cJSON_IsNumber(v) && v->valuedouble >= 0)
            o->temperature = (float)v->valuedouble; /* unused without stochastic */
        else if ((!strcmp(k, "stochastic") && cJSON_IsFalse(v)) ||
                 (!strcmp(k, "return_beams_and_scores") && cJSON_IsTrue(v)) ||
                 (!strcmp(k, "eos_token") && cJSON_IsNull(v)) ||
                 (!strcmp(k, "restrict_to_max_seq_len") && cJSON_IsTrue(v)) ||
                 (!strcmp(k, "filter_logits_fn") && cJSON_IsString(v) && !strcmp(v->valuestring, "identity")))
            continue;
        else
            return check_fail(c, "calls[%d]: beam_search keyword '%s' has a value the checker cannot replay", K, k);
    }
    if (!have_len || !have_beams)
        return check_fail(c, "calls[%d]: beam_search needs integer kwargs seq_len and beams", K);
    return 0;
}

static int beam_search_call(struct check *c, const cJSON *call, int K) {
    const struct xtc_net_config *net = decoder_net(xtc_model_config(c->model));
    const struct xtc_safetensors_entry *e;
    void *d;
    int64_t ignore, pad;
    struct xtc_beam_options o;
    xtc_beam_options_default(&o);
    if (beam_kwargs(c, call, K, &o) || wrapper_kwargs(c, call, &ignore, &pad))
        return 1;
    o.pad_value = pad;
    if (expect_inputs(c, call, K, (const char *[]){"prompts", "prompt_lens"}, 2) ||
        check_input(c, K, "prompts", K_I64, 2, NULL, &e, &d))
        return 1;
    const int64_t *prompts = d;
    int64_t B = e->shape[0], T = e->shape[1], N = o.beams, S = o.max_new_tokens;
    if (list_has(cJSON_GetObjectItemCaseSensitive(call, "inputs"), "prompt_lens")) {
        if (check_input(c, K, "prompt_lens", K_I64, 1, (int64_t[]){B}, &e, &d))
            return 1;
        o.prompt_lens = d;
    }
    if (check_targets(c, prompts, B * T, net->wrap.num_tokens, INT64_MIN))
        return 1;
    /* stored as (b, beams, s) and (b, beams): x-transformers' (beams, b, s) and (beams, b) transposed */
    const struct xtc_safetensors_entry *te = check_io_entry(c, K, "out", "tokens");
    if (!te || te->ndim != 3 || te->shape[0] != B || te->shape[1] != N || te->shape[2] != S)
        return check_fail(c, "call%d.out.tokens must be I64 (%lld, %lld, %lld)", K, (long long)B, (long long)N,
                          (long long)S);
    int64_t *tokens = check_own(c, sizeof(int64_t) * (size_t)(B * N * (S ? S : 1)));
    float *scores = check_own(c, sizeof(float) * (size_t)(B * N));
    if (!tokens || !scores)
        return check_fail(c, "out of memory");
    struct xtc_error err = {0};
    if (xtc_beam_search(c->model, prompts, B, T, &o, tokens, scores, &err) != XTC_OK)
        return check_fail(c, "beam_search: %s", err.msg);
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(call, "outputs");
    if (!outputs || !outputs->child) /* a call that compares nothing would pass whatever it computed */
        return check_fail(c, "calls[%d]: a beam_search call needs \"outputs\" (tokens, scores)", K);
    for (const cJSON *v = outputs->child; v; v = v->next) {
        const char *name = cJSON_IsString(v) ? v->valuestring : "";
        int rc;
        if (!strcmp(name, "tokens"))
            rc = check_compare_i64(c, K, name, tokens, B * N * S);
        else if (!strcmp(name, "scores"))
            rc = check_compare(c, K, name, scores, 2, (int64_t[]){B, N});
        else
            rc = check_fail(c, "calls[%d]: output '%s' is not produced by beam_search", K, name);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ dispatch */

int check_model_call(struct check *c, const cJSON *call, int K) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(call, "type");
    int rc;
    if (!type)
        rc = forward_call(c, call, K);
    else if (!cJSON_IsString(type))
        rc = check_fail(c, "calls[%d].type must be a string", K);
    else if (!strcmp(type->valuestring, "ar_loss"))
        rc = ar_loss_call(c, call, K);
    else if (!strcmp(type->valuestring, "xl_ar_loss"))
        rc = xl_ar_loss_call(c, call, K);
    else if (!strcmp(type->valuestring, "continuous_ar_loss"))
        rc = continuous_ar_loss_call(c, call, K);
    else if (!strcmp(type->valuestring, "generate"))
        rc = generate_call(c, call, K);
    else if (!strcmp(type->valuestring, "xl_generate"))
        rc = xl_generate_call(c, call, K);
    else if (!strcmp(type->valuestring, "beam_search"))
        rc = beam_search_call(c, call, K);
    else
        rc = check_fail(c, "calls[%d]: unknown call type '%s'", K, type->valuestring);
    return rc;
}
