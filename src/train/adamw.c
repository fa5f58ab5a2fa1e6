/* AdamW as torch.optim.AdamW (single-tensor path), gradient-norm clipping as
 * torch.nn.utils.clip_grad_norm_, and the warm-up + cosine learning-rate schedule. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/alloc.h"
#include "core/status.h"
#include "xtc/train.h"

xtc_status xtc_adamw_init(struct xtc_adamw *opt, size_t n, float beta1, float beta2, float eps, float weight_decay,
                          struct xtc_error *err) {
    memset(opt, 0, sizeof *opt);
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || !(weight_decay >= 0))
        XTC_FAIL(err, XTC_ERR_ARG, "AdamW: betas must be in [0, 1), eps > 0, weight_decay >= 0");
    if (n > (size_t)PTRDIFF_MAX / sizeof(float))
        XTC_FAIL(err, XTC_ERR_ARG, "AdamW: %zu parameters x %zu bytes exceeds PTRDIFF_MAX", n, sizeof(float));
    opt->m = xtc_alloc_large(sizeof(float) * (n ? n : 1));
    opt->v = xtc_alloc_large(sizeof(float) * (n ? n : 1));
    if (!opt->m || !opt->v) {
        xtc_adamw_free(opt);
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the AdamW state of %zu parameters", n);
    }
    opt->n = n;
    opt->beta1 = beta1;
    opt->beta2 = beta2;
    opt->eps = eps;
    opt->weight_decay = weight_decay;
    return XTC_OK;
}

void xtc_adamw_free(struct xtc_adamw *opt) {
    free(opt->m);
    free(opt->v);
    opt->m = opt->v = NULL;
}

void xtc_adamw_step(struct xtc_adamw *opt, float *params, const float *grads, float lr) {
    opt->t++;
    /* torch computes the bias corrections in double (python floats) */
    double bc1 = 1.0 - pow(opt->beta1, (double)opt->t);
    double bc2 = 1.0 - pow(opt->beta2, (double)opt->t);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float decay = 1.0f - lr * opt->weight_decay;
    struct xtc_adamw_consts k = {.beta1 = opt->beta1, .beta2 = opt->beta2, .eps = opt->eps,
                                 .step_size = step_size, .bc2_sqrt = bc2_sqrt, .decay = decay};
    xtc_backend_get()->adamw_update(params, grads, opt->m, opt->v, opt->n, &k);
}

double xtc_clip_grad_norm(float *grads, size_t n, double max_norm) {
    const struct xtc_backend *be = xtc_backend_get();
    double norm = sqrt(be->grad_sumsq(grads, n));
    if (max_norm > 0 && isfinite(norm)) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0)
            be->grad_scale(grads, n, (float)coef);
    }
    return norm;
}

float xtc_lr_schedule(int64_t step, int64_t warmup, int64_t total, float lr, float min_lr) {
    if (step < warmup)
        return lr * (float)(step + 1) / (float)warmup;
    if (total <= warmup)
        return lr;
    double progress = (double)(step - warmup) / (double)(total - warmup);
    if (progress > 1)
        progress = 1;
    return (float)(min_lr + 0.5 * (lr - min_lr) * (1.0 + cos(3.14159265358979323846 * progress)));
}
