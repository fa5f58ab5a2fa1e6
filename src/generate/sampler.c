/* Samplers (x-transformers autoregressive_wrapper: top_k, top_p, min_p filters on
 * the logits, then softmax(logits / temperature) and a multinomial draw; greedy
 * argmax at temperature 0). The random state is the caller's (xoshiro256**). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/select.h"
#include "generate/decode.h"
#include "core/status.h"
#include "xtc/generate.h"

void xtc_gen_options_default(struct xtc_gen_options *o) {
    *o = (struct xtc_gen_options){.max_new_tokens = 64, .temperature = 0.0f, .top_k = 0, .top_p = 1.0f,
                                  .min_p = 0.0f, .eos_token = -1, .pad_value = 0, .seed = 0, .cache_kv = true};
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* k-th largest value of x (n floats), 1 <= k <= n; tmp holds n floats. */
static float kth_largest(const float *x, int64_t n, int64_t k, float *tmp) {
    memcpy(tmp, x, sizeof(float) * (size_t)n);
    return xtc_kth_largest_inplace(tmp, n, k);
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

xtc_status xtc_gen_options_check(const struct xtc_gen_options *o, int64_t V, const char *fn, struct xtc_error *err) {
    if (!o)
        XTC_FAIL(err, XTC_ERR_ARG, "%s: no options", fn);
    /* an eos that is no token id would never stop anything, silently */
    if (o->eos_token >= V)
        XTC_FAIL(err, XTC_ERR_ARG, "%s: eos_token %lld is not a token id (num_tokens %lld; < 0: none)", fn,
                 (long long)o->eos_token, (long long)V);
    if (o->max_new_tokens < 0 || o->max_new_tokens > XTC_GEN_MAX_NEW_TOKENS)
        XTC_FAIL(err, XTC_ERR_ARG, "%s: max_new_tokens %lld must be between 0 and %lld", fn,
                 (long long)o->max_new_tokens, (long long)XTC_GEN_MAX_NEW_TOKENS);
    if (!(o->temperature >= 0) || !isfinite(o->temperature))
        XTC_FAIL(err, XTC_ERR_ARG, "%s: temperature %g must be a finite number >= 0 (0: greedy)", fn,
                 (double)o->temperature);
    if (o->top_k < 0)
        XTC_FAIL(err, XTC_ERR_ARG, "%s: top_k %d must be >= 0 (0: off)", fn, o->top_k);
    if (!(o->top_p > 0 && o->top_p <= 1))
        XTC_FAIL(err, XTC_ERR_ARG, "%s: top_p %g must be in (0, 1] (1: off)", fn, (double)o->top_p);
    if (!(o->min_p >= 0 && o->min_p < 1))
        XTC_FAIL(err, XTC_ERR_ARG, "%s: min_p %g must be in [0, 1) (0: off)", fn, (double)o->min_p);
    return XTC_OK;
}

void xtc_filter_logits(float *l, int64_t V, const struct xtc_gen_options *o, float *tmp) {
    float mx = l[argmax(l, V)];
    if (o->top_k > 0 && o->top_k < V) {
        float thres = kth_largest(l, V, o->top_k, tmp);
        for (int64_t i = 0; i < V; i++)
            if (l[i] < thres)
                l[i] = -INFINITY;
    }
    if (o->top_p < 1.0f || o->min_p > 0.0f) {
        /* probabilities at temperature 1, as the filters see them */
        double sum = 0;
        for (int64_t i = 0; i < V; i++)
            sum += isinf(l[i]) ? 0 : exp((double)l[i] - mx);
        if (o->min_p > 0.0f) {
            /* keep p >= min_p * p_max, i.e. logit >= max + log(min_p) */
            float cut = mx + logf(o->min_p);
            for (int64_t i = 0; i < V; i++)
                if (l[i] < cut)
                    l[i] = -INFINITY;
        }
        if (o->top_p < 1.0f) {
            /* keep the most likely tokens until their mass first exceeds top_p */
            for (int64_t i = 0; i < V; i++)
                tmp[i] = l[i];
            qsort(tmp, (size_t)V, sizeof(float), cmp_desc);
            double cum = 0;
            float cut = tmp[0];
            for (int64_t i = 0; i < V && !isinf(tmp[i]); i++) {
                cut = tmp[i];
                cum += exp((double)tmp[i] - mx) / sum;
                if (cum > o->top_p)
                    break;
            }
            for (int64_t i = 0; i < V; i++)
                if (l[i] < cut)
                    l[i] = -INFINITY;
        }
    }
}

int64_t xtc_sample(const float *logits, int64_t V, const struct xtc_gen_options *o, uint64_t rng_state[4],
                   float *scratch) {
    if (o->temperature <= 0)
        return argmax(logits, V);
    float *l = scratch, *tmp = scratch + V;
    memcpy(l, logits, sizeof(float) * (size_t)V);
    float mx = l[argmax(l, V)];
    xtc_filter_logits(l, V, o, tmp);
    double total = 0;
    for (int64_t i = 0; i < V; i++) {
        double p = isinf(l[i]) ? 0.0 : exp(((double)l[i] - mx) / o->temperature);
        tmp[i] = (float)p;
        total += p;
    }
    struct xtc_rng rng;
    memcpy(rng.s, rng_state, sizeof rng.s);
    double u = xtc_rng_uniform(&rng) * total;
    memcpy(rng_state, rng.s, sizeof rng.s);
    int64_t last = 0;
    for (int64_t i = 0; i < V; i++) {
        if (tmp[i] <= 0)
            continue;
        last = i;
        u -= tmp[i];
        if (u < 0)
            return i;
    }
    return last;
}

xtc_status xtc_logits_check(const float *l, int64_t V, int64_t step, int64_t row, struct xtc_error *err) {
    int64_t finite = 0;
    for (int64_t v = 0; v < V; v++) {
        if (isnan(l[v]) || l[v] == INFINITY)
            XTC_FAIL(err, XTC_ERR_NUMERIC,
                     "generation step %lld, row %lld: the logits are not finite (token %lld: %g); the model's "
                     "weights or inputs overflow float32",
                     (long long)step, (long long)row, (long long)v, (double)l[v]);
        finite += l[v] != -INFINITY;
    }
    if (!finite)
        XTC_FAIL(err, XTC_ERR_NUMERIC, "generation step %lld, row %lld: every logit is -inf (no token to choose)",
                 (long long)step, (long long)row);
    return XTC_OK;
}

xtc_status xtc_decode_step(const float *logits, int64_t len, const struct xtc_decode_rows *d, int64_t s,
                           uint64_t rng[4], struct xtc_error *err) {
    for (int64_t b = 0; b < d->B; b++)
        XTC_TRY(xtc_logits_check(logits + (b * len + len - 1) * d->V, d->V, s, b, err));
    for (int64_t b = 0; b < d->B; b++) {
        const float *last = logits + (b * len + len - 1) * d->V;
        if (d->step_logits)
            memcpy(d->step_logits + (b * d->S + s) * d->V, last, sizeof(float) * (size_t)d->V);
        int64_t tok = xtc_sample(last, d->V, d->o, rng, d->scratch);
        d->seq[b * d->cap + d->at] = tok;
        d->out[b * d->S + s] = tok;
        d->step_tokens[b] = tok;
    }
    return XTC_OK;
}
