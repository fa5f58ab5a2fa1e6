/* The CPU backend's kernels (private): OpenBLAS, OpenMP and SIMD. Each has the contract of
 * the table entry it fills (backend/backend.h) and of its op (ops/ops.h, attn/attention.h). */
#ifndef XTC_BACKEND_CPU_H
#define XTC_BACKEND_CPU_H

#include "backend/backend.h"

/* threads.c */
int xtc_cpu_max_threads(void);
void xtc_cpu_parallel_for(int64_t n, bool parallel, xtc_range_fn fn, void *arg);
void xtc_cpu_team_run(int n_threads, xtc_team_body body, void *arg);
void xtc_cpu_team_for(struct xtc_team *team, int64_t n, int schedule, xtc_team_index_fn fn, void *arg);
void xtc_cpu_team_barrier(struct xtc_team *team);

/* linear.c: sgemm, or the matrix-vector kernels for N <= 4 */
void xtc_cpu_linear_forward(float *out, const float *inp, const float *w, const float *bias, int64_t N, int64_t Cin,
                            int64_t Cout, const struct xtc_matvec_weights *mw);
void xtc_cpu_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                             int64_t N, int64_t Cin, int64_t Cout, int accumulate);

/* linear_bf16.c: the same with bf16 products (backend/autocast.h), in ac's scratch; false
 * when w is not in ac's parameter block (the caller runs the fp32 product) */
struct xtc_autocast;
bool xtc_cpu_linear_forward_bf16(struct xtc_autocast *ac, float *out, const float *inp, const float *w,
                                 const float *bias, int64_t N, int64_t Cin, int64_t Cout);
bool xtc_cpu_linear_backward_bf16(struct xtc_autocast *ac, float *dinp, float *dw, float *db, const float *dout,
                                  const float *inp, const float *w, int64_t N, int64_t Cin, int64_t Cout,
                                  int accumulate);

/* norms.c */
void xtc_cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const struct xtc_norm_gain *gain,
                               int64_t N, int64_t C);
void xtc_cpu_layernorm_backward(float *dinp, float *dgamma, const float *dout, const float *inp,
                                const struct xtc_norm_gain *gain, const float *mean, const float *rstd, int64_t N,
                                int64_t C);
void xtc_cpu_rmsnorm_forward(float *out, float *rnorm, const float *inp, const struct xtc_norm_gain *gain, int64_t N,
                             int64_t C);
void xtc_cpu_rmsnorm_backward(float *dinp, float *dg, const float *dout, const float *inp,
                              const struct xtc_norm_gain *gain, const float *rnorm, int64_t N, int64_t C);

/* activations.c: GELU and SiLU through the vectorizable erf and exp of vec.h */
void xtc_cpu_act_forward(float *out, const float *inp, int64_t n, enum xtc_ff_activation act);
void xtc_cpu_act_backward(float *dinp, const float *dout, const float *inp, int64_t n, enum xtc_ff_activation act);
void xtc_cpu_glu_forward(float *out, const float *inp, int64_t N, int64_t C, const struct xtc_glu_params *p);
void xtc_cpu_glu_span(float *out, const float *value, const float *gate, int64_t n, const struct xtc_glu_params *p);
void xtc_cpu_glu_backward(float *dinp, const float *dout, const float *inp, int64_t N, int64_t C,
                          const struct xtc_glu_params *p);

/* crossentropy.c */
double xtc_cpu_crossentropy_forward(const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                    int64_t ignore_index, int64_t *n_kept);
void xtc_cpu_crossentropy_backward(float *dlogits, const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                   int64_t ignore_index, float scale);

/* attention_tiled.c: attention in query tiles through BLAS; the row-wise reference
 * (backend/ref) is what it is tested against. scratch: xtc_attention_tiled_scratch(p) floats. */
size_t xtc_attention_tiled_scratch(const struct xtc_attn_params *p);
void xtc_attention_forward_tiled(float *out, const float *q, const float *k, const float *v,
                                 const struct xtc_attn_params *p, float *scratch);
/* The forward of one (batch row b, query head h), on the calling thread;
 * P: xtc_attention_tiled_scratch(p) / max threads floats. */
void xtc_attention_forward_head(float *out, const float *q, const float *k, const float *v,
                                const struct xtc_attn_params *p, int64_t b, int h, float *P);
void xtc_attention_backward_tiled(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                  const float *dout, const float *q, const float *k, const float *v,
                                  const struct xtc_attn_params *p, float *scratch);

/* attention_flash.c: flash attention (online softmax over key blocks, FMA micro-kernels on
 * operands packed once per head: 8-float vectors at kernel level avx2, 16-float ones from
 * avx512), what the tiled entry points run where it applies (xtc_attention_flash_forward_ok /
 * _backward_ok: AVX2 and no option with a path of its own). Its scratch:
 * xtc_attention_flash_scratch(p) floats (0 where it never applies), included in
 * xtc_attention_tiled_scratch. xtc_attention_flash_set(XTC_FLASH_OFF) keeps every call on the
 * tiled kernels (tests; XTC_ATTENTION=tiled in the environment does the same);
 * XTC_FLASH_V16_ON_AVX2 (tests) runs the avx512 kernels' source in its AVX2 build at any level
 * from avx2 (attention_flash_v16.c), so that it is tested on machines without AVX-512. */
enum xtc_flash_mode {
    XTC_FLASH_OFF = 0,
    XTC_FLASH_ON = 1,         /* where eligible, the level's kernels (the default) */
    XTC_FLASH_V16_ON_AVX2 = 2 /* where eligible, the 16-float kernels built for AVX2 */
};
size_t xtc_attention_flash_scratch(const struct xtc_attn_params *p);
bool xtc_attention_flash_forward_ok(const struct xtc_attn_params *p);
bool xtc_attention_flash_backward_ok(const struct xtc_attn_params *p);
void xtc_attention_flash_set(int mode);
void xtc_attention_forward_flash(float *out, const float *q, const float *k, const float *v,
                                 const struct xtc_attn_params *p, float *scratch);
void xtc_attention_backward_flash(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                  const float *dout, const float *q, const float *k, const float *v,
                                  const struct xtc_attn_params *p, float *scratch);

/* adamw.c */
void xtc_cpu_adamw_update(float *params, const float *grads, float *m, float *v, size_t n,
                          const struct xtc_adamw_consts *k);
double xtc_cpu_grad_sumsq(const float *grads, size_t n);
void xtc_cpu_grad_scale(float *grads, size_t n, float c);

#endif
