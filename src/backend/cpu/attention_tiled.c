/* Attention in query tiles through BLAS: for each (batch, head) and tile of TQ
 * query rows, the logits tile (TQ x (K+S)) is one sgemm, the softmax is row-wise,
 * and the values are one more sgemm; the backward recomputes the tile and uses
 * four sgemms. Memory is O(TQ x S) per thread, never T x S. Same semantics as
 * the row-wise reference (backend/ref/attention.c), which it is tested against.
 * Shape letters as in attention.h. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <string.h>

#include "attn/attention.h"
#include "backend/cpu/cpu.h"
#include "backend/cpu/dispatch.h"
#include "backend/cpu/vec.h"
#include "backend/ref/ref.h"
#include "pos/pos.h"

#define TQ 64
#define TQ_BACKWARD_MAX 256

/* Rows per tile of the forward: TQ (its tile of probabilities is TQ x S floats, 1 MB at
 * S = 4096; taller tiles made the forward slower, see tile_rows_backward). */
static inline int64_t tile_rows(int64_t T) { return T < TQ ? T : TQ; }

/* Rows per tile of the backward: TQ, or T / 16 up to TQ_BACKWARD_MAX on long sequences. Its
 * products accumulate dK and dV (S x D each) and repack the keys and values once per tile, a
 * pass over all of them per tile; taller tiles make fewer, at the cost of a larger scratch
 * (three R x S tiles per thread: linear in S for a given R, and R stops growing at T = 4096)
 * and of the hidden triangle a causal tile still computes (at T / 16 rows ~3% of the work).
 * In one-thread A/B runs at T = 4096 (rotary small GPT), 256 rows took ~8% less time per
 * training step than 64, while a forward with 256-row tiles was ~5% slower. */
static inline int64_t tile_rows_backward(int64_t T) {
    int64_t r = T / 16 < TQ ? TQ : T / 16 > TQ_BACKWARD_MAX ? TQ_BACKWARD_MAX : T / 16;
    return T < r ? T : r;
}

/* One query (decoding): a BLAS call per head costs more than its few thousand
 * multiply-adds, so the two products are plain vectorizable loops. */

/* row[j] = scale * (q . k_j) for the Sv keys of stride ldk (inlined into probs_tile's versions) */
XTC_KERNEL_BODY void one_query_scores_body(float *restrict row, const float *restrict q, const float *restrict k,
                                           int64_t ldk, int64_t Sv, int D, float scale) {
    for (int64_t j = 0; j < Sv; j++) {
        const float *restrict kj = k + j * ldk;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int d = 0; d < D; d++)
            s += q[d] * kj[d];
        row[j] = s * scale;
    }
}

/* o = sum_j p[j] v_j over the Sv values of stride ldv (accumulated when acc) */
XTC_KERNEL_BODY void one_query_values_body(float *restrict o, const float *restrict p, const float *restrict v,
                                           int64_t ldv, int64_t Sv, int D, bool acc) {
    if (!acc)
        memset(o, 0, sizeof(float) * (size_t)D);
    for (int64_t j = 0; j < Sv; j++) {
        const float *restrict vj = v + j * ldv;
        float pj = p[j];
#pragma omp simd
        for (int d = 0; d < D; d++)
            o[d] += pj * vj[d];
    }
}
XTC_DISPATCH_VOID(one_query_values,
                  (float *restrict o, const float *restrict p, const float *restrict v, int64_t ldv, int64_t Sv, int D,
                   bool acc),
                  (o, p, v, ldv, Sv, D, acc))

/* The logits' gradient of one row, in place: dr[j] = p[j] (dr[j] - sum_j p[j] dr[j]) g[j], 0 where
 * g[j] is 0 (a masked constant); the sum in double. A kernel of its own so the AVX2 build
 * vectorizes it: it runs over every visible key of every query row. */
XTC_KERNEL_BODY void softmax_grad_row_body(float *restrict dr, const float *restrict pr, const float *restrict gr,
                                           int64_t Wv) {
    double dsum = 0;
#pragma omp simd reduction(+ : dsum)
    for (int64_t j = 0; j < Wv; j++)
        dsum += (double)pr[j] * dr[j];
#pragma omp simd
    for (int64_t j = 0; j < Wv; j++) {
        float v = pr[j] * (float)((double)dr[j] - dsum) * gr[j];
        dr[j] = gr[j] == 0.0f ? 0.0f : v;
    }
}
XTC_DISPATCH_VOID(softmax_grad_row,
                  (float *restrict dr, const float *restrict pr, const float *restrict gr, int64_t Wv),
                  (dr, pr, gr, Wv))

/* The same for an unnormalised row pr (the probabilities are s pr) whose every logit had a
 * gradient factor of 1 or was masked (pr 0 there, so its gradient is 0 without a factor). */
XTC_KERNEL_BODY void softmax_grad_row_scaled_body(float *restrict dr, const float *restrict pr, float s, int64_t Wv) {
    double dsum = 0;
#pragma omp simd reduction(+ : dsum)
    for (int64_t j = 0; j < Wv; j++)
        dsum += (double)pr[j] * dr[j];
    dsum *= s;
#pragma omp simd
    for (int64_t j = 0; j < Wv; j++)
        dr[j] = s * pr[j] * (float)((double)dr[j] - dsum);
}
XTC_DISPATCH_VOID(softmax_grad_row_scaled, (float *restrict dr, const float *restrict pr, float s, int64_t Wv),
                  (dr, pr, s, Wv))

static size_t tiled_scratch(const struct xtc_attn_params *p) {
    if (xtc_attn_rowwise(p)) /* CoPE and data-dependent ALiBi run the row-wise reference kernels: their scratch on every thread */
        return xtc_attention_ref_scratch(p) * (size_t)omp_get_max_threads();
    int64_t W = p->K + p->S, R = tile_rows_backward(p->T); /* >= the forward's */
    /* per thread: logits/probabilities, their gradient, the logits' gradient factors, dmem_k, dmem_v, dbias,
     * top-k's row, with a straight-through top-k the probabilities without the drop, then the backward's
     * 1 / row sums, scaled dO rows and row flags (the forward's 1 / row sums sit after top-k's row) */
    size_t per = (size_t)(2 * R * W + R * W + 2 * (int64_t)p->G * p->K * p->D + p->dbias_n + W + 16 + R * p->D + 2 * R +
                          (p->topk_straight_through ? R * W : 0));
    /* residual attention runs the reference backward on the whole scratch: with top-k it needs 5 rows */
    size_t ref = xtc_attention_ref_scratch(p);
    return (per > ref ? per : ref) * (size_t)omp_get_max_threads();
}

size_t xtc_attention_tiled_scratch(const struct xtc_attn_params *p) {
    size_t t = tiled_scratch(p), f = xtc_attention_flash_scratch(p);
    return t > f ? t : f;
}

/* Logits of rows i0..i0+n of head h into P (n x W, W = K + S), then softmax per row.
 * Only keys [0, Sv) are computed, Sv the keys any row of the tile may see (causal tiles
 * skip the hidden upper triangle); columns past K + Sv are then zero and unused. A row
 * whose every key is hidden averages all K + S values, as torch does with -FLT_MAX
 * logits: a tile holding such a row is computed over all S keys. When gfac is not NULL it
 * receives each logit's gradient factor: 0 where the logit is a masked constant, else the
 * soft clamp's derivative (1 without one); logits sparse_topk drops are masked constants too.
 * When rowinv is not NULL the rows are left unnormalised (exp(logit - max)) and rowinv[r]
 * receives 1 / the row's sum, 0 for a zeroed row: the forward scales its n x D output rows
 * instead of the n x (K + Sv) probabilities, a pass over the tile less. When hidden is not
 * NULL, hidden[r] tells whether row r saw no key at all (its logits all masked constants).
 * tmp: W floats. Zeroed rows become all zero. Returns Sv. */
XTC_KERNEL_BODY int64_t probs_tile_body(const struct xtc_attn_params *p, const float *q, const float *k, int64_t b,
                                        int h, int64_t i0, int64_t n, float *P, float *gfac, float *tmp, bool any_key,
                                        float *rowinv, bool *hidden) {
    const int64_t T = p->T, S = p->S, K = p->K, W = K + S;
    const int D = p->D, hk = h % p->G;
    const int64_t HD = (int64_t)p->H * D, GD = (int64_t)p->G * D;
    const float *Q = q + (b * T + i0) * HD + (int64_t)h * D;
    const float *Kb = k + b * (p->k_bstride ? p->k_bstride : S) * GD + (int64_t)hk * D;
    int64_t Sv = p->causal && i0 + n + S - T < S ? i0 + n + S - T : S;
    const uint8_t *km = p->key_mask ? p->key_mask + b * S : NULL;
    for (int pass = 0; pass < 2; pass++) {
        if (K > 0 && n == 1)
            one_query_scores_body(P, Q, p->mem_k + (int64_t)hk * K * D, D, K, D, p->scale);
        else if (K > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)K, D, p->scale, Q, (int)HD,
                        p->mem_k + (int64_t)hk * K * D, D, 0.0f, P, (int)W);
        if (Sv > 0 && n == 1) /* one query (decoding) */
            one_query_scores_body(P + K, Q, Kb, GD, Sv, D, p->scale);
        else if (Sv > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)Sv, D, p->scale, Q, (int)HD, Kb, (int)GD,
                        0.0f, P + K, (int)W);
        bool all_hidden_row = false;
        for (int64_t r = 0; r < n; r++) {
            int64_t i = i0 + r;
            float *row = P + r * W;
            float *gr = gfac ? gfac + r * W : NULL;
            if (xtc_attn_row_zeroed(p, b, i, any_key)) {
                memset(row, 0, sizeof(float) * (size_t)W);
                if (gr)
                    memset(gr, 0, sizeof(float) * (size_t)W);
                if (rowinv)
                    rowinv[r] = 0.0f;
                if (hidden)
                    hidden[r] = false;
                continue;
            }
            int64_t last = p->causal ? i + S - T : S - 1;
            if (p->bias.scheme)
                xtc_attn_bias_row(p, b, h, i, Sv, row + K);
            if (p->rp_curves)
                xtc_attn_relproj_row(p, b, h, i, Sv, row + K);
            const float c = p->softclamp;
            if (c > 0) /* memory key/value logits included: Attend clamps the whole row */
                for (int64_t j = 0; j < K + Sv; j++)
                    row[j] = c * tanhf(row[j] / c);
            if (gr)
                for (int64_t j = 0; j < K + Sv; j++) /* y = c tanh(s / c): dy/ds = 1 - (y / c)^2 */
                    gr[j] = c > 0 ? 1.0f - (row[j] / c) * (row[j] / c) : 1.0f;
            bool any = K > 0;
            if (km) {
                for (int64_t j = 0; j < Sv; j++) {
                    bool masked = j > last || !km[j];
                    if (masked)
                        row[K + j] = -FLT_MAX; /* replaced, not added to */
                    any |= !masked;
                    if (gr && masked)
                        gr[K + j] = 0.0f;
                }
            } else { /* only the causal mask: the keys past `last`, a few per row of a long tile */
                int64_t vis = last + 1 < Sv ? (last + 1 > 0 ? last + 1 : 0) : Sv;
                any |= vis > 0;
                for (int64_t j = vis; j < Sv; j++) {
                    row[K + j] = -FLT_MAX;
                    if (gr)
                        gr[K + j] = 0.0f;
                }
            }
            if (p->sparse_topk > 0 && xtc_attn_topk_row(row, K + Sv, p->sparse_topk, tmp) > -FLT_MAX)
                for (int64_t j = 0; gr && j < K + Sv; j++)
                    if (row[j] == -FLT_MAX)
                        gr[j] = 0.0f;
            all_hidden_row |= !any;
            if (hidden)
                hidden[r] = !any;
            int64_t Wv = K + Sv;
            float mx = -FLT_MAX;
#pragma omp simd reduction(max : mx)
            for (int64_t j = 0; j < Wv; j++)
                mx = row[j] > mx ? row[j] : mx;
            float sum = 0;
#pragma omp simd reduction(+ : sum)
            for (int64_t j = 0; j < Wv; j++) {
                row[j] = xtc_vec_expf(row[j] - mx);
                sum += row[j];
            }
            float inv = 1.0f / sum;
            if (rowinv)
                rowinv[r] = inv;
            else
#pragma omp simd
                for (int64_t j = 0; j < Wv; j++)
                    row[j] *= inv;
        }
        if (!all_hidden_row || Sv == S)
            break;
        Sv = S; /* torch spreads such a row over every key: redo the tile over all of them */
    }
    return Sv;
}
/* each version inlines the one-query scores of its own level */
XTC_DISPATCH(int64_t, probs_tile,
             (const struct xtc_attn_params *p, const float *q, const float *k, int64_t b, int h, int64_t i0, int64_t n,
              float *P, float *gfac, float *tmp, bool any_key, float *rowinv, bool *hidden),
             (p, q, k, b, h, i0, n, P, gfac, tmp, any_key, rowinv, hidden))

/* Query rows i0..i0+n of head h (n <= tile_rows(T)); P: the thread's scratch. */
static void forward_tile(float *out, const float *q, const float *k, const float *v, const struct xtc_attn_params *p,
                         int64_t b, int h, int64_t i0, int64_t n, bool any, float *P) {
    const int64_t T = p->T, S = p->S, K = p->K, W = K + S;
    const int D = p->D, hk = h % p->G;
    const int64_t HD = (int64_t)p->H * D, GD = (int64_t)p->G * D, R = tile_rows(T);
    const float *Vb = v + b * (p->v_bstride ? p->v_bstride : S) * GD + (int64_t)hk * D;
    {
        float *inv = P + R * W + W; /* after probs_tile's W floats of tmp */
        int64_t Sv = probs_tile(p, q, k, b, h, i0, n, P, NULL, P + R * W, any, inv, NULL);
        float *O = out + (b * T + i0) * HD + (int64_t)h * D;
        if (Sv > 0 && n == 1)
            one_query_values(O, P + K, Vb, GD, Sv, D, false);
        else if (Sv > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, D, (int)Sv, 1.0f, P + K, (int)W, Vb,
                        (int)GD, 0.0f, O, (int)HD);
        else
            for (int64_t r = 0; r < n; r++)
                memset(O + r * HD, 0, sizeof(float) * (size_t)D);
        if (K > 0 && n == 1)
            one_query_values(O, P, p->mem_v + (int64_t)hk * K * D, D, K, D, true);
        else if (K > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, D, (int)K, 1.0f, P, (int)W,
                        p->mem_v + (int64_t)hk * K * D, D, 1.0f, O, (int)HD);
        for (int64_t r = 0; r < n; r++)
#pragma omp simd
            for (int d = 0; d < D; d++)
                O[r * HD + d] *= inv[r];
    }
}

void xtc_attention_forward_head(float *out, const float *q, const float *k, const float *v,
                                const struct xtc_attn_params *p, int64_t b, int h, float *P) {
    /* CoPE reads a whole row (all heads' with talking heads), residual attention writes whole
     * rows: the row-wise reference */
    if (xtc_attn_rowwise(p) || xtc_attn_residual(p)) {
        xtc_attention_forward_head_ref(out, q, k, v, p, b, h, P);
        return;
    }
    const int64_t T = p->T, R = tile_rows(T);
    bool any = xtc_attn_any_visible_key(p, b);
    for (int64_t i0 = 0; i0 < T; i0 += R)
        forward_tile(out, q, k, v, p, b, h, i0, T - i0 < R ? T - i0 : R, any, P);
}

void xtc_attention_forward_tiled(float *out, const float *q, const float *k, const float *v,
                                 const struct xtc_attn_params *p, float *scratch) {
    if (xtc_attention_flash_forward_ok(p)) {
        xtc_attention_forward_flash(out, q, k, v, p, scratch);
        return;
    }
    if (xtc_attn_residual(p)) { /* residual attention: the reference kernel only */
        xtc_attention_forward_ref(out, q, k, v, p, scratch);
        return;
    }
    const int64_t B = p->B, T = p->T, S = p->S, K = p->K;
    const int H = p->H, D = p->D;
    const size_t per = xtc_attention_tiled_scratch(p) / (size_t)omp_get_max_threads();
    /* one decoding step is a few microseconds of work: waking threads would cost more */
    const bool parallel = (double)B * H * T * (K + S) * D > 2e5;
    if (xtc_attn_rowwise(p)) { /* whole rows per (batch row, head): the reference's kernel */
#pragma omp parallel for collapse(2) schedule(static) if (parallel)
        for (int64_t b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                xtc_attention_forward_head(out, q, k, v, p, b, h, scratch + per * (size_t)omp_get_thread_num());
        return;
    }
    /* One work item per (batch row, head, tile), handed out one at a time: a long sequence at
     * batch 1 has fewer heads than a thread count may divide evenly (or a thread loses its core
     * for a while). The tiles of one head are consecutive items (its keys and values stay in the
     * cache), the last, costlier causal tiles first. Each item writes its own output rows, the
     * same values whichever thread runs it. */
    const int64_t R = tile_rows(T), nt = (T + R - 1) / R, BH = B * H;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
    for (int64_t it = 0; it < nt * BH; it++) {
        const int64_t i0 = (nt - 1 - it % nt) * R, b = it / nt / H;
        const int h = (int)(it / nt % H);
        forward_tile(out, q, k, v, p, b, h, i0, T - i0 < R ? T - i0 : R, xtc_attn_any_visible_key(p, b),
                     scratch + per * (size_t)omp_get_thread_num());
    }
}

void xtc_attention_backward_tiled(float *dq, float *dk, float *dv, float *dmem_k, float *dmem_v, float *dbias,
                                  const float *dout, const float *q, const float *k, const float *v,
                                  const struct xtc_attn_params *p, float *scratch) {
    if (xtc_attention_flash_backward_ok(p)) {
        xtc_attention_backward_flash(dq, dk, dv, dmem_k, dmem_v, dbias, dout, q, k, v, p, scratch);
        return;
    }
    if (xtc_attn_rowwise(p) || xtc_attn_residual(p)) { /* the row-wise reference, on one thread */
        xtc_attention_backward_ref(dq, dk, dv, dmem_k, dmem_v, dbias, dout, q, k, v, p, scratch);
        return;
    }
    const int64_t B = p->B, T = p->T, S = p->S, K = p->K, W = K + S;
    const int H = p->H, G = p->G, D = p->D;
    const int64_t HD = (int64_t)H * D, GD = (int64_t)G * D, R = tile_rows_backward(T);
    const int nth = omp_get_max_threads();
    const size_t per = xtc_attention_tiled_scratch(p) / (size_t)nth;
    const int64_t nmem = (int64_t)G * K * D, nbias = dbias && p->bias.scheme && p->bias.scheme->grad_row ? p->dbias_n : 0;
    const bool st = p->topk_straight_through && p->sparse_topk > 0;
    struct xtc_attn_params full = *p;
    full.sparse_topk = 0;
    memset(dk, 0, sizeof(float) * (size_t)(B * S * GD));
    memset(dv, 0, sizeof(float) * (size_t)(B * S * GD));
    int team = 1;
    const bool parallel = (double)B * H * T * (K + S) * D > 2e5;
    /* each thread owns dq rows of its (b, h), dk/dv of its (b, kv head) and private dmem / dbias sums */
#pragma omp parallel num_threads(nth) if (parallel)
    {
        float *P = scratch + per * (size_t)omp_get_thread_num();
        float *dP = P + R * W, *gfac = dP + R * W, *my_dmk = gfac + R * W, *my_dmv = my_dmk + nmem;
        float *my_dbias = my_dmv + nmem;
        /* straight-through top-k: the logits' gradient goes through the softmax without the drop (Pf) */
        float *Pf = st ? my_dbias + nbias + W : NULL;
        /* without a soft clamp or a straight-through top-k every logit's gradient factor is 1 or
         * it was masked (its probability 0): the tile stays unnormalised (rinv: 1 / row sums), no
         * factors are written, dO is scaled for dV (dOs) and 1 / sum goes into the row gradient */
        const bool plain = !st && !(p->softclamp > 0);
        float *rinv = my_dbias + nbias + W + (st ? R * W : 0), *dOs = rinv + R;
        bool *hid = (bool *)(dOs + R * D);
        memset(my_dmk, 0, sizeof(float) * (size_t)(2 * nmem + nbias));
#pragma omp single
        team = omp_get_num_threads(); /* the threads that really run: only their sums exist */
#pragma omp for collapse(2) schedule(static)
        for (int64_t b = 0; b < B; b++)
            for (int hk = 0; hk < G; hk++) {
                bool any = xtc_attn_any_visible_key(p, b);
                float *dK = dk + b * S * GD + (int64_t)hk * D, *dV = dv + b * S * GD + (int64_t)hk * D;
                const float *Kb = k + b * S * GD + (int64_t)hk * D, *Vb = v + b * S * GD + (int64_t)hk * D;
                for (int h = hk; h < H; h += G)
                    for (int64_t i0 = 0; i0 < T; i0 += R) {
                        int64_t n = T - i0 < R ? T - i0 : R;
                        int64_t Sv = probs_tile(p, q, k, b, h, i0, n, P, st || plain ? NULL : gfac, my_dbias + nbias,
                                                any, plain ? rinv : NULL, plain ? hid : NULL);
                        if (st) /* the same Sv: the top-k drop never changes which keys a tile sees */
                            probs_tile(&full, q, k, b, h, i0, n, Pf, gfac, my_dbias + nbias, any, NULL, NULL);
                        const int64_t Wv = K + Sv;
                        const float *Pg = st ? Pf : P; /* the probabilities the logits' gradient goes through */
                        const float *dO = dout + (b * T + i0) * HD + (int64_t)h * D;
                        const float *Q = q + (b * T + i0) * HD + (int64_t)h * D;
                        float *dQ = dq + (b * T + i0) * HD + (int64_t)h * D;
                        const float *dOv = dO; /* the dO the values' gradients take: P^T dOv */
                        int ldov = (int)HD;
                        if (plain) {
                            for (int64_t r = 0; r < n; r++)
                                for (int d = 0; d < D; d++)
                                    dOs[r * D + d] = dO[r * HD + d] * rinv[r];
                            dOv = dOs, ldov = D;
                        }
                        /* dP = dO V^T (memory part first) */
                        if (K > 0)
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)K, D, 1.0f, dO,
                                        (int)HD, p->mem_v + (int64_t)hk * K * D, D, 0.0f, dP, (int)W);
                        if (Sv > 0) {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)Sv, D, 1.0f, dO, (int)HD,
                                        Vb, (int)GD, 0.0f, dP + K, (int)W);
                            /* dV += P^T dO */
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Sv, D, (int)n, 1.0f, P + K,
                                        (int)W, dOv, ldov, 1.0f, dV, (int)GD);
                        }
                        /* dmem_v += P[:, :K]^T dO */
                        if (K > 0)
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, D, (int)n, 1.0f, P, (int)W,
                                        dOv, ldov, 1.0f, my_dmv + (int64_t)hk * K * D, D);
                        /* dS = P (dP - sum_j P dP) times the gradient factor (0 where the logit was a
                         * masked constant) */
                        for (int64_t r = 0; r < n; r++) {
                            const float *pr = Pg + r * W;
                            float *dr = dP + r * W, *gr = gfac + r * W;
                            if (!plain)
                                softmax_grad_row(dr, pr, gr, Wv);
                            else if (hid[r] || rinv[r] == 0.0f) /* every logit masked, or a zeroed row */
                                memset(dr, 0, sizeof(float) * (size_t)Wv);
                            else
                                softmax_grad_row_scaled(dr, pr, rinv[r], Wv);
                            if (nbias > 0)
                                xtc_attn_bias_grad_row(p, b, h, i0 + r, Sv, dr + K, my_dbias);
                            if (p->rp_dcurves) /* rows of one (b, h) belong to one thread */
                                xtc_attn_relproj_grad_row(p, b, h, i0 + r, Sv, dr + K);
                        }
                        /* dQ = scale dS K;  dK += scale dS^T Q;  dmem_k += scale dS[:, :K]^T Q */
                        if (Sv > 0)
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, D, (int)Sv, p->scale,
                                        dP + K, (int)W, Kb, (int)GD, 0.0f, dQ, (int)HD);
                        else
                            for (int64_t r = 0; r < n; r++)
                                memset(dQ + r * HD, 0, sizeof(float) * (size_t)D);
                        if (K > 0)
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, D, (int)K, p->scale, dP,
                                        (int)W, p->mem_k + (int64_t)hk * K * D, D, 1.0f, dQ, (int)HD);
                        if (Sv > 0)
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Sv, D, (int)n, p->scale, dP + K,
                                        (int)W, Q, (int)HD, 1.0f, dK, (int)GD);
                        if (K > 0)
                            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, D, (int)n, p->scale, dP,
                                        (int)W, Q, (int)HD, 1.0f, my_dmk + (int64_t)hk * K * D, D);
                    }
            }
    }
    /* private sums reduced in thread order: deterministic for a given thread count */
    for (int t = 0; t < team; t++) {
        const float *base = scratch + per * (size_t)t + 3 * R * W;
        for (int64_t i = 0; dmem_k && i < nmem; i++)
            dmem_k[i] += base[i];
        for (int64_t i = 0; dmem_v && i < nmem; i++)
            dmem_v[i] += base[nmem + i];
        for (int64_t i = 0; i < nbias; i++)
            dbias[i] += base[2 * nmem + i];
    }
}
