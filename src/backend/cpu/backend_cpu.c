/* The CPU backend's table: OpenBLAS products, OpenMP threads, SIMD kernels. Ops it does not
 * speed up (embedding, l2 normalisation, the soft clamp) run the reference kernels. */
#include "backend/cpu/cpu.h"
#include "backend/cpu/matvec.h"
#include "backend/ref/ref.h"

const struct xtc_backend xtc_backend_cpu = {
    .name = "cpu",
    .fused_decode = true,
    .max_threads = xtc_cpu_max_threads,
    .parallel_for = xtc_cpu_parallel_for,
    .team_run = xtc_cpu_team_run,
    .team_for = xtc_cpu_team_for,
    .team_barrier = xtc_cpu_team_barrier,
    .linear_forward = xtc_cpu_linear_forward,
    .linear_backward = xtc_cpu_linear_backward,
    .matvec = xtc_cpu_matvec,
    .layernorm_forward = xtc_cpu_layernorm_forward,
    .layernorm_backward = xtc_cpu_layernorm_backward,
    .rmsnorm_forward = xtc_cpu_rmsnorm_forward,
    .rmsnorm_backward = xtc_cpu_rmsnorm_backward,
    .l2norm_rows = xtc_ref_l2norm_rows,
    .l2norm_backward = xtc_ref_l2norm_backward,
    .act_forward = xtc_cpu_act_forward,
    .act_backward = xtc_cpu_act_backward,
    .glu_forward = xtc_cpu_glu_forward,
    .glu_span = xtc_cpu_glu_span,
    .glu_backward = xtc_cpu_glu_backward,
    .softclamp_forward = xtc_ref_softclamp_forward,
    .softclamp_backward = xtc_ref_softclamp_backward,
    .embedding_forward = xtc_ref_embedding_forward,
    .embedding_backward = xtc_ref_embedding_backward,
    .crossentropy_forward = xtc_cpu_crossentropy_forward,
    .crossentropy_backward = xtc_cpu_crossentropy_backward,
    .attention_scratch = xtc_attention_tiled_scratch,
    .attention_forward = xtc_attention_forward_tiled,
    .attention_forward_head = xtc_attention_forward_head,
    .attention_backward = xtc_attention_backward_tiled,
    .adamw_update = xtc_cpu_adamw_update,
    .grad_sumsq = xtc_cpu_grad_sumsq,
    .grad_scale = xtc_cpu_grad_scale,
};
