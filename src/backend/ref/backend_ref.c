/* The reference backend's table, and its threads: one, so a team is the calling thread,
 * a team loop a plain loop and a barrier nothing. */
#include "backend/ref/ref.h"

static int ref_max_threads(void) { return 1; }

static void ref_parallel_for(int64_t n, bool parallel, xtc_range_fn fn, void *arg) {
    (void)parallel;
    if (n > 0)
        fn(arg, 0, n, 0);
}

static void ref_team_run(int n_threads, xtc_team_body body, void *arg) {
    (void)n_threads;
    struct xtc_team team = {.thread = 0, .n_threads = 1};
    body(&team, arg);
}

static void ref_team_for(struct xtc_team *team, int64_t n, int schedule, xtc_team_index_fn fn, void *arg) {
    (void)schedule;
    for (int64_t i = 0; i < n; i++)
        fn(arg, i, team);
}

static void ref_team_barrier(struct xtc_team *team) { (void)team; }

const struct xtc_backend xtc_backend_ref = {
    .name = "ref",
    .fused_decode = true, /* one thread: the team is the caller */
    .max_threads = ref_max_threads,
    .parallel_for = ref_parallel_for,
    .team_run = ref_team_run,
    .team_for = ref_team_for,
    .team_barrier = ref_team_barrier,
    .linear_forward = xtc_ref_linear_forward,
    .linear_backward = xtc_ref_linear_backward,
    .matvec = xtc_ref_matvec,
    .layernorm_forward = xtc_ref_layernorm_forward,
    .layernorm_backward = xtc_ref_layernorm_backward,
    .rmsnorm_forward = xtc_ref_rmsnorm_forward,
    .rmsnorm_backward = xtc_ref_rmsnorm_backward,
    .l2norm_rows = xtc_ref_l2norm_rows,
    .l2norm_backward = xtc_ref_l2norm_backward,
    .act_forward = xtc_ref_act_forward,
    .act_backward = xtc_ref_act_backward,
    .glu_forward = xtc_ref_glu_forward,
    .glu_span = xtc_ref_glu_span,
    .glu_backward = xtc_ref_glu_backward,
    .softclamp_forward = xtc_ref_softclamp_forward,
    .softclamp_backward = xtc_ref_softclamp_backward,
    .embedding_forward = xtc_ref_embedding_forward,
    .embedding_backward = xtc_ref_embedding_backward,
    .crossentropy_forward = xtc_ref_crossentropy_forward,
    .crossentropy_backward = xtc_ref_crossentropy_backward,
    .attention_scratch = xtc_attention_ref_scratch,
    .attention_forward = xtc_attention_forward_ref,
    .attention_forward_head = xtc_attention_forward_head_ref,
    .attention_backward = xtc_attention_backward_ref,
    .adamw_update = xtc_ref_adamw_update,
    .grad_sumsq = xtc_ref_grad_sumsq,
    .grad_scale = xtc_ref_grad_scale,
};
