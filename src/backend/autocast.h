/* Mixed-precision products (xtc_model_set_compute_dtype BF16): while a context's forward or
 * backward runs with it, every linear layer's three products (the forward, the input gradient
 * and the weight gradient) take bfloat16 operands, round to nearest even, with fp32 sums and
 * fp32 results, as PyTorch's bf16 autocast does for nn.Linear. Everything else (norms,
 * activations, attention, the loss, gradients, the optimiser and the master weights) stays fp32.
 *
 * The state is per thread, as torch's autocast state: the context sets it around its call
 * (model/context.c) and the backends' linear kernels read it once per product; the layer code
 * between them is the same for both precisions. The weights are rounded into the context's
 * copy by every forward call, or once for a pinned span of calls (a training step:
 * model/model.h): the cpu backend reads that copy (bf16 values for oneDNN, the same values
 * widened back to fp32 for the emulation through sgemm), the ref backend rounds the master
 * weights itself. */
#ifndef XTC_BACKEND_AUTOCAST_H
#define XTC_BACKEND_AUTOCAST_H

#include <stddef.h>
#include <stdint.h>

/* How the cpu backend runs the products: oneDNN on bf16 operands where the CPU has bf16
 * products (xtc_dnnl_bf16_native); otherwise sgemm on the same values widened back to fp32,
 * which gives the same products up to the order of the fp32 sums (the product of two bf16
 * values is exact in fp32). XTC_AUTOCAST_DNNL_F32 runs the native path's code, oneDNN
 * included, on the fp32-widened operands: how a CPU without bf16 tests that code. */
enum xtc_autocast_path { XTC_AUTOCAST_EMULATED, XTC_AUTOCAST_DNNL_BF16, XTC_AUTOCAST_DNNL_F32 };

struct xtc_autocast {
    enum xtc_autocast_path path;
    const float *base; /* the fp32 parameter block */
    size_t n;          /* its floats */
    /* the block rounded to bf16, same offsets: as bf16 (XTC_AUTOCAST_DNNL_BF16) or widened
     * back to fp32 (the other paths) */
    const uint16_t *w_bf16;
    const float *w_f32;
    /* set when a product could not run (oneDNN refused it): the call then fails with it */
    char failed[160];
    /* grow-only scratch of the products' rounded operands, used by the calling thread only */
    void *scratch;
    size_t scratch_bytes;
};

/* The state of the calling thread (NULL: fp32 products). */
struct xtc_autocast *xtc_autocast_get(void);
/* Sets it (NULL clears); returns the one it replaces. */
struct xtc_autocast *xtc_autocast_set(struct xtc_autocast *ac);

/* The path a new context copy takes on this machine (the test hook below aside). */
enum xtc_autocast_path xtc_autocast_path_default(void);
/* Tests: the path of later copies (-1: the default again). */
void xtc_autocast_force_path(int path);

/* Scratch the products may use, reserved with the copy (so that products never allocate):
 * a row chunk of a product's operands is at most this many bytes. */
#define XTC_AUTOCAST_SCRATCH_BYTES ((size_t)64 << 20)

/* a's scratch of at least bytes (64-byte aligned; its contents are not kept), or NULL (no memory) */
void *xtc_autocast_scratch(struct xtc_autocast *a, size_t bytes);
void xtc_autocast_release(struct xtc_autocast *a);

/* f rounded to bfloat16 (to nearest even), as bits: xtc_f32_to_bf16, inlined for the products'
 * operand loops (NaN becomes 0x7FC0 as there). */
static inline uint16_t xtc_bf16_bits(float f) {
    union {
        float f;
        uint32_t u;
    } v = {.f = f};
    if ((v.u & 0x7FFFFFFFu) > 0x7F800000u)
        return 0x7FC0;
    return (uint16_t)((v.u + 0x7FFFu + ((v.u >> 16) & 1u)) >> 16);
}

/* Round to bfloat16 and back: the value a bf16 operand stands for (widening is exact). */
static inline float xtc_bf16_round(float f) {
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)xtc_bf16_bits(f) << 16};
    return v.f;
}

/* The rounded copy of weights w (Cout x Cin) if they lie in a's block, else NULL. */
static inline const float *xtc_autocast_w_f32(const struct xtc_autocast *a, const float *w) {
    return a->w_f32 && w >= a->base && w < a->base + a->n ? a->w_f32 + (w - a->base) : NULL;
}
static inline const uint16_t *xtc_autocast_w_bf16(const struct xtc_autocast *a, const float *w) {
    return a->w_bf16 && w >= a->base && w < a->base + a->n ? a->w_bf16 + (w - a->base) : NULL;
}

#endif
