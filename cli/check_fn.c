/* xtc check: function cases (model class "function"): the textbook half-split
 * compute_rope(x, cos, sin) through the standalone RoPE API (golden README §7). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Widens an F32/BF16/F16 entry into floats. */
static int widen(struct check *c, const struct xtc_safetensors_entry *e, float **out) {
    *out = check_own(c, sizeof(float) * (size_t)e->numel);
    struct xtc_error err = {0};
    if (!*out)
        return check_fail(c, "out of memory");
    if (xtc_safetensors_read_f32(e, *out, &err) != XTC_OK)
        return check_fail(c, "%s", err.msg);
    return 0;
}

int check_function_call(struct check *c, const cJSON *model, const cJSON *call, int K) {
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(model, "kwargs");
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(kw, "function");
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(kw, "convention");
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(kw, "head_dim");
    if (!cJSON_IsString(fn) || strcmp(fn->valuestring, "compute_rope") != 0)
        return check_fail(c, "unknown function case (expected kwargs.function = \"compute_rope\")");
    /* every keyword known and of its type: a typo must not silently become a default */
    static const char *known[] = {"function", "convention", "theta_base", "head_dim", "context_length", "table_dtype"};
    for (const cJSON *v = kw ? kw->child : NULL; v; v = v->next) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(known[i], v->string) != 0)
            i++;
        if (i == sizeof known / sizeof known[0])
            return check_fail(c, "compute_rope: unknown keyword '%s'", v->string);
        bool number = i == 2 || i == 3 || i == 4;
        if (number ? !cJSON_IsNumber(v) : !cJSON_IsString(v))
            return check_fail(c, "compute_rope: keyword '%s' must be a %s", v->string, number ? "number" : "string");
    }
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(kw, "context_length");
    const cJSON *tdt = cJSON_GetObjectItemCaseSensitive(kw, "table_dtype");
    enum xtc_rope_layout layout = XTC_ROPE_HALF_SPLIT;
    if (cJSON_IsString(conv) && strcmp(conv->valuestring, "interleaved") == 0)
        layout = XTC_ROPE_INTERLEAVED;
    else if (!cJSON_IsString(conv) || strcmp(conv->valuestring, "half_split") != 0)
        return check_fail(c, "compute_rope: convention must be \"half_split\" or \"interleaved\"");
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(call, "inputs");
    int n_inputs = cJSON_GetArraySize(inputs);
    if (!cJSON_IsArray(inputs) || n_inputs != 3)
        return check_fail(c, "compute_rope takes the inputs x, cos, sin");
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(call, "outputs");
    if (!cJSON_IsArray(outputs) || cJSON_GetArraySize(outputs) != 1 || !cJSON_IsString(outputs->child) ||
        strcmp(outputs->child->valuestring, "out") != 0)
        return check_fail(c, "compute_rope has one output, \"out\"");
    const struct xtc_safetensors_entry *x = check_io_entry(c, K, "in", "x");
    const struct xtc_safetensors_entry *cs = check_io_entry(c, K, "in", "cos");
    const struct xtc_safetensors_entry *sn = check_io_entry(c, K, "in", "sin");
    const struct xtc_safetensors_entry *want = check_io_entry(c, K, "out", "out");
    if (!x || !cs || !sn || !want)
        return check_fail(c, "io.safetensors lacks call%d.in.x / in.cos / in.sin / out.out", K);
    if (x->ndim != 4 || cs->ndim != 2 || sn->ndim != 2)
        return check_fail(c, "compute_rope: x must be (batch, heads, seq, head_dim), cos/sin (context, head_dim)");
    if (cJSON_IsNumber(hd) && hd->valuedouble != (double)x->shape[3])
        return check_fail(c, "compute_rope: head_dim %g in case.json, %lld in x", hd->valuedouble,
                          (long long)x->shape[3]);
    if (cJSON_IsNumber(ctx) && (ctx->valuedouble != (double)cs->shape[0] || x->shape[2] > cs->shape[0]))
        return check_fail(c, "compute_rope: context_length %g in case.json, cos/sin tables of %lld positions, x of %lld",
                          ctx->valuedouble, (long long)cs->shape[0], (long long)x->shape[2]);
    if (cs->shape[1] != x->shape[3])
        return check_fail(c, "compute_rope: cos/sin tables of width %lld for a head_dim of %lld",
                          (long long)cs->shape[1], (long long)x->shape[3]);
    if (cJSON_IsString(tdt) && strcmp(tdt->valuestring, "F32") != 0)
        return check_fail(c, "compute_rope: table_dtype '%s' (the tables are F32)", tdt->valuestring);
    if (want->dtype != x->dtype || want->ndim != 4 || memcmp(want->shape, x->shape, sizeof(int64_t) * 4) != 0)
        return check_fail(c, "compute_rope: the stored output must have x's dtype and shape");
    if (cs->dtype != XTC_DTYPE_F32 || sn->dtype != XTC_DTYPE_F32)
        return check_fail(c, "compute_rope: cos/sin tables must be F32");
    if (memcmp(cs->shape, sn->shape, sizeof(int64_t) * 2) != 0)
        return check_fail(c, "compute_rope: cos and sin tables differ in shape");

    /* copies: safetensors data may be unaligned; the API takes aligned, typed views */
    size_t esz = xtc_dtype_size(x->dtype);
    void *xbuf = check_own(c, esz * (size_t)x->numel), *obuf = check_own(c, esz * (size_t)x->numel);
    float *cbuf, *sbuf;
    if (!xbuf || !obuf || widen(c, cs, &cbuf) || widen(c, sn, &sbuf))
        return 1;
    memcpy(xbuf, x->data, esz * (size_t)x->numel);
    struct xtc_tensor xt = xtc_tensor_make(x->dtype, 4, x->shape, xbuf);
    struct xtc_tensor ot = xtc_tensor_make(x->dtype, 4, x->shape, obuf);
    struct xtc_tensor ct = xtc_tensor_make(XTC_DTYPE_F32, 2, cs->shape, cbuf);
    struct xtc_tensor st = xtc_tensor_make(XTC_DTYPE_F32, 2, sn->shape, sbuf);
    struct xtc_error err = {0};
    if (xtc_rope_apply_table(&ot, &xt, &ct, &st, layout, &err) != XTC_OK)
        return check_fail(c, "compute_rope: %s", err.msg);
    /* compare in float: the output was rounded once to x's dtype */
    struct xtc_safetensors_entry got = *want;
    got.data = obuf;
    float *gotf;
    if (widen(c, &got, &gotf))
        return 1;
    return check_compare(c, K, "out", gotf, 4, x->shape);
}
