/* The precision of a model's products in forward and backward calls
 * (xtc_model_set_compute_dtype): fp32, or bf16 products with fp32 everything else
 * (backend/autocast.h). Each context keeps its own rounded copy of the weights, so contexts
 * on several threads never share one. A forward call with bf16 products rounds the weights
 * into it again, unless the context is pinned (xtc_context_autocast_pin) and the copy was
 * made since the pin: the trainer pins around a step's micro-batches and XL segments, whose
 * weights cannot change, so the copy is made once per optimiser step and is never stale
 * after one; outside pins every call rounds, as the public API lets callers change weights
 * between calls. A backward reads the copy its forward used, as PyTorch's autocast keeps the
 * bf16 weights it cast in the forward. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "model/model.h"

xtc_status xtc_model_set_compute_dtype(xtc_model_t m, enum xtc_dtype dtype, struct xtc_error *err) {
    if (!m)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_set_compute_dtype: NULL model");
    if (dtype != XTC_DTYPE_F32 && dtype != XTC_DTYPE_BF16)
        XTC_FAIL(err, XTC_ERR_ARG, "compute dtype %s: only F32 and BF16 products exist", xtc_dtype_name(dtype));
    m->compute_bf16 = dtype == XTC_DTYPE_BF16;
    return XTC_OK;
}

struct round_job {
    const float *src;
    uint16_t *bf16;
    float *f32;
};

static void round_range(void *arg, int64_t lo, int64_t hi, int tid) {
    (void)tid;
    const struct round_job *j = arg;
    if (j->bf16)
        for (int64_t i = lo; i < hi; i++)
            j->bf16[i] = xtc_bf16_bits(j->src[i]);
    else
        for (int64_t i = lo; i < hi; i++)
            j->f32[i] = xtc_bf16_round(j->src[i]);
}

static atomic_bool g_refresh_always;

void xtc_context_autocast_force_refresh(bool always) { atomic_store(&g_refresh_always, always); }

void xtc_context_autocast_pin(struct xtc_context *ctx) {
    if (ctx->ac_pins++ == 0)
        ctx->ac_valid = false; /* the weights may have changed since the last copy */
}

void xtc_context_autocast_unpin(struct xtc_context *ctx) {
    if (ctx->ac_pins > 0 && --ctx->ac_pins == 0)
        ctx->ac_valid = false; /* the caller may change them now (the optimiser step) */
}

xtc_status xtc_context_autocast_refresh(struct xtc_context *ctx, struct xtc_error *err) {
    const struct xtc_model *m = ctx->m;
    struct xtc_autocast *ac = &ctx->ac;
    const enum xtc_autocast_path path = xtc_autocast_path_default();
    /* pinned: the copy made since the pin serves while it is of the path's type and block */
    if (ctx->ac_pins > 0 && ctx->ac_valid && ac->path == path && ac->base == m->data && ac->n == m->n_floats &&
        !atomic_load(&g_refresh_always))
        return XTC_OK;
    ctx->ac_valid = false;
    const size_t n = m->n_floats ? m->n_floats : 1;
    /* the copy in the path's type (a forced path may change between calls) */
    if (path == XTC_AUTOCAST_DNNL_BF16 && !ctx->ac_bf16) {
        free(ctx->ac_f32);
        ctx->ac_f32 = NULL;
        ctx->ac_bf16 = xtc_alloc_large(sizeof(uint16_t) * n);
    } else if (path != XTC_AUTOCAST_DNNL_BF16 && !ctx->ac_f32) {
        free(ctx->ac_bf16);
        ctx->ac_bf16 = NULL;
        ctx->ac_f32 = xtc_alloc_large(sizeof(float) * n);
    }
    /* scratch: one row of the widest product's two operands fits (matrices are in the block,
     * so their widths sum to at most n + 1), up to XTC_AUTOCAST_SCRATCH_BYTES */
    size_t want = sizeof(float) * (n + 1);
    want = want < ((size_t)1 << 20) ? (size_t)1 << 20 : want > XTC_AUTOCAST_SCRATCH_BYTES ? XTC_AUTOCAST_SCRATCH_BYTES : want;
    if ((!ctx->ac_bf16 && !ctx->ac_f32) || !xtc_autocast_scratch(ac, want))
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the bf16 copy of the weights (%zu floats)", n);
    struct round_job job = {.src = m->data, .bf16 = ctx->ac_bf16, .f32 = ctx->ac_f32};
    xtc_backend_get()->parallel_for((int64_t)m->n_floats, m->n_floats > 65536, round_range, &job);
    ac->path = path;
    ac->base = m->data;
    ac->n = m->n_floats;
    ac->w_bf16 = ctx->ac_bf16;
    ac->w_f32 = ctx->ac_f32;
    ctx->ac_valid = ctx->ac_pins > 0;
    ctx->ac_refreshes++;
    return XTC_OK;
}

struct xtc_autocast *xtc_context_autocast_begin(struct xtc_context *ctx) {
    ctx->ac.failed[0] = '\0';
    return xtc_autocast_set(&ctx->ac);
}

xtc_status xtc_context_autocast_end(struct xtc_context *ctx, struct xtc_autocast *prev, xtc_status st,
                                    struct xtc_error *err) {
    xtc_autocast_set(prev);
    if (st == XTC_OK && ctx->ac.failed[0]) {
        ctx->last.valid = false;
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "bf16 products: %s", ctx->ac.failed);
    }
    return st;
}

void xtc_context_autocast_release(struct xtc_context *ctx) {
    xtc_autocast_release(&ctx->ac);
    free(ctx->ac_bf16);
    free(ctx->ac_f32);
    ctx->ac_bf16 = NULL;
    ctx->ac_f32 = NULL;
    ctx->ac_valid = false;
    memset(&ctx->ac, 0, sizeof ctx->ac);
}
