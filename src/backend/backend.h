/* The compute backend interface (private side of xtc/backend.h): every operation the model
 * runs, its scratch and its threads, behind one table of function pointers.
 *
 * Two implementations: `cpu` (backend/cpu/: OpenBLAS, OpenMP, SIMD kernels; the default) and
 * `ref` (backend/ref/: the scalar reference kernels, one thread, no BLAS, double sums where
 * they matter), chosen at run time (xtc_backend_get). Callers above this folder never call
 * BLAS, OpenMP or intrinsics: the ops' private headers (ops/ops.h, attn/attention.h)
 * dispatch to the selected table, once per op call (never per element).
 *
 * A new backend (CUDA) is one more folder that fills this table; entries it does not speed
 * up may point to the ref kernels, as the cpu table does for embedding and the soft clamp.
 * The semantics, shapes and gradient rule of each entry are those of the op it implements
 * (ops/ops.h, attn/attention.h). */
#ifndef XTC_BACKEND_BACKEND_H
#define XTC_BACKEND_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xtc/config.h"

struct xtc_attn_params;
struct xtc_glu_params;

/* The gain of a norm: y = n(x) * (offset + g[c]) for feature c; (offset + g[0]) for every
 * feature when `scalar` (ScaleNorm); offset alone when g is NULL (SimpleRMSNorm). The stack's
 * norms store their gain as scale - 1 (offset 1: x-transformers' norm_add_unit_offset), the
 * feed-forward's post-activation LayerNorm stores the scale itself (offset 0). A norm's
 * backward accumulates into dg of the same layout as g (one float when scalar). */
struct xtc_norm_gain {
    const float *g;
    float offset;
    bool scalar;
};

static inline double xtc_norm_gain_at(const struct xtc_norm_gain *p, int64_t c) {
    return (double)p->offset + (p->g ? (double)p->g[p->scalar ? 0 : c] : 0.0);
}

/* One matrix of the parameter block in int8 (backend/cpu/matvec_q8.c): the matrix at float
 * offset `offset`, rows of `cols`, its int8 values row by row and its block scales. */
struct xtc_q8_matrix {
    int64_t offset, rows, cols;
    const int8_t *q;
    const float *scale;
};

/* The weights products read: a parameter block in fp32, and optionally its bfloat16 copy
 * (same offsets) or int8 copies of its matrices (sorted by offset), which are then read
 * instead in the matrix-vector regime. */
struct xtc_matvec_weights {
    const float *base;
    const uint16_t *bf16;
    const struct xtc_q8_matrix *q8;
    int n_q8;
};

/* mw's int8 copy of the matrix that starts at w with rows of Cin, or NULL (binary search:
 * a decoding step makes a few products per layer). */
static inline const struct xtc_q8_matrix *xtc_q8_find(const struct xtc_matvec_weights *mw, const float *w,
                                                      int64_t Cin) {
    const int64_t at = w - mw->base;
    int lo = 0, hi = mw->n_q8;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (mw->q8[mid].offset < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < mw->n_q8 && mw->q8[lo].offset == at && mw->q8[lo].cols == Cin ? &mw->q8[lo] : NULL;
}

/* AdamW's per-step constants (train/adamw.c computes them as torch does). */
struct xtc_adamw_consts {
    float beta1, beta2, eps;
    float step_size; /* lr / (1 - beta1^t) */
    float bc2_sqrt;  /* sqrt(1 - beta2^t) */
    float decay;     /* 1 - lr * weight_decay */
};

/* ------------------------------------------------------------ threads
 * A team is the set of threads of one parallel region (team_run): each thread runs body
 * with its own xtc_team; team_for splits a loop among the team's threads (every thread of
 * the team must reach it), team_barrier waits for all of them. The decoding step is one
 * such region per step (layers/stack_decode.c). parallel_for is the plain loop over
 * independent iterations: fn gets a contiguous range [lo, hi) and the running thread's
 * index tid (< max_threads()), serially (one call over [0, n), tid 0) when `parallel` is
 * false or inside a team. */
struct xtc_team {
    int thread;    /* 0 .. n_threads - 1 */
    int n_threads; /* threads that really run */
};
typedef void (*xtc_team_body)(struct xtc_team *team, void *arg);
typedef void (*xtc_team_index_fn)(void *arg, int64_t i, struct xtc_team *team);
typedef void (*xtc_range_fn)(void *arg, int64_t lo, int64_t hi, int tid);

enum {
    XTC_FOR_STATIC = 0,  /* equal contiguous blocks */
    XTC_FOR_DYNAMIC = 1, /* one iteration at a time, to whichever thread is free */
    XTC_FOR_NOWAIT = 2,  /* no barrier at the end of the loop */
};

struct xtc_backend {
    const char *name;
    /* the stack may run a decoding step in one team region with matvec and
     * attention_forward_head (layers/stack_decode.c); otherwise it runs the full forward */
    bool fused_decode;

    /* threads */
    int (*max_threads)(void);
    void (*parallel_for)(int64_t n, bool parallel, xtc_range_fn fn, void *arg);
    void (*team_run)(int n_threads, xtc_team_body body, void *arg);
    void (*team_for)(struct xtc_team *team, int64_t n, int schedule, xtc_team_index_fn fn, void *arg);
    void (*team_barrier)(struct xtc_team *team);

    /* products: out = inp @ w^T + bias (w (Cout, Cin)), mw's bf16 copy read when it has
     * one in the matrix-vector regime; its backward; and the decoding product over output
     * features [o0, o1) on the calling thread */
    void (*linear_forward)(float *out, const float *inp, const float *w, const float *bias, int64_t N, int64_t Cin,
                           int64_t Cout, const struct xtc_matvec_weights *mw);
    void (*linear_backward)(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                            int64_t N, int64_t Cin, int64_t Cout, int accumulate);
    void (*matvec)(const struct xtc_matvec_weights *mw, float *out, int64_t ldo, const float *inp, int64_t N,
                   const float *w, const float *bias, int64_t Cin, int64_t o0, int64_t o1);

    /* norms */
    void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp, const struct xtc_norm_gain *gain,
                              int64_t N, int64_t C);
    void (*layernorm_backward)(float *dinp, float *dgamma, const float *dout, const float *inp,
                               const struct xtc_norm_gain *gain, const float *mean, const float *rstd, int64_t N,
                               int64_t C);
    void (*rmsnorm_forward)(float *out, float *rnorm, const float *inp, const struct xtc_norm_gain *gain, int64_t N,
                            int64_t C);
    void (*rmsnorm_backward)(float *dinp, float *dg, const float *dout, const float *inp,
                             const struct xtc_norm_gain *gain, const float *rnorm, int64_t N, int64_t C);
    void (*l2norm_rows)(float *x, int64_t N, int64_t C);
    void (*l2norm_backward)(float *dx, const float *x, int64_t N, int64_t C);

    /* activations */
    void (*act_forward)(float *out, const float *inp, int64_t n, enum xtc_ff_activation act);
    void (*act_backward)(float *dinp, const float *dout, const float *inp, int64_t n, enum xtc_ff_activation act);
    void (*glu_forward)(float *out, const float *inp, int64_t N, int64_t C, const struct xtc_glu_params *p);
    void (*glu_span)(float *out, const float *value, const float *gate, int64_t n, const struct xtc_glu_params *p);
    void (*glu_backward)(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C,
                         const struct xtc_glu_params *p);
    void (*softclamp_forward)(float *x, int64_t n, float b);
    void (*softclamp_backward)(float *dx, const float *y, int64_t n, float b);

    /* embedding */
    void (*embedding_forward)(float *out, const int64_t *ids, const float *table, int64_t N, int64_t C);
    void (*embedding_backward)(float *dtable, const float *dout, const int64_t *ids, int64_t N, int64_t C);

    /* loss */
    double (*crossentropy_forward)(const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                   int64_t ignore_index, int64_t *n_kept);
    void (*crossentropy_backward)(float *dlogits, const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                  int64_t ignore_index, float scale);

    /* attention: scratch floats the kernels need (all threads), the forward, the forward of
     * one (batch row, query head) on the calling thread (scratch: attention_scratch /
     * max_threads floats; NULL without fused_decode), the backward */
    size_t (*attention_scratch)(const struct xtc_attn_params *p);
    void (*attention_forward)(float *out, const float *q, const float *k, const float *v,
                              const struct xtc_attn_params *p, float *scratch);
    void (*attention_forward_head)(float *out, const float *q, const float *k, const float *v,
                                   const struct xtc_attn_params *p, int64_t b, int h, float *P);
    void (*attention_backward)(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                               const float *dout, const float *q, const float *k, const float *v,
                               const struct xtc_attn_params *p, float *scratch);

    /* optimiser: one AdamW update of n parameters; the sum of squares of n gradients (fixed
     * 16384-element chunks summed in order: the same for any thread count); grads *= c */
    void (*adamw_update)(float *params, const float *grads, float *m, float *v, size_t n,
                         const struct xtc_adamw_consts *k);
    double (*grad_sumsq)(const float *grads, size_t n);
    void (*grad_scale)(float *grads, size_t n, float c);
};

extern const struct xtc_backend xtc_backend_cpu;
extern const struct xtc_backend xtc_backend_ref;

/* The selected backend: ref after xtc_backend_cpu_set_reference(1), else the process
 * default (XTC_BACKEND=ref|cpu, read once, at the first call; cpu when unset). */
const struct xtc_backend *xtc_backend_get(void);

/* Attention scratch for a plan that any backend may run (the selection may change between
 * calls): the largest total, and in *per_thread the largest per-thread share. */
size_t xtc_backend_attention_scratch(const struct xtc_attn_params *p, size_t *per_thread);

#endif
