/* Transformer-XL segment-recurrent loss (x-transformers XLAutoregressiveWrapper.forward,
 * 2.31.10; golden README §9): inputs x[:, :-1], targets x[:, 1:], split along time into
 * segments of `segment` tokens; each segment runs with the memories of the one before
 * (detached: its gradient flows through its own computation only) and scores
 *     (n_c / N) * mean over rows of (mean of the row's kept targets' -log p)
 * (a row with nothing kept adds 0 and still counts). One loop for the trainer (segment =
 * max_seq_len, or the whole crop for plain autoregressive training) and the checker.
 * Shape letters: B batch, N predicted positions, S segment, V vocab, C dim, L max_mem_len. */
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/status.h"
#include "model/model.h"
#include "xtc/train.h"

struct xtc_xl_workspace {
    int64_t B, S, L, C, V;
    int n_self;
    int64_t *inp, *tgt; /* (B, S) one segment's inputs and targets */
    float *dlogits;     /* (B, S, V) */
    float **mems;       /* 2 * n_self buffers (B, L, C): the memories a segment reads, and those it writes */
};

void xtc_xl_workspace_free(xtc_xl_workspace_t w) {
    if (!w)
        return;
    for (int i = 0; w->mems && i < 2 * w->n_self; i++)
        free(w->mems[i]);
    free(w->mems);
    free(w->inp);
    free(w->tgt);
    free(w->dlogits);
    free(w);
}

xtc_status xtc_xl_workspace_create(xtc_xl_workspace_t *out, const struct xtc_model *m, int64_t batch,
                                   int64_t segment, struct xtc_error *err) {
    if (!out || !m || batch < 1 || segment < 1)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_xl_workspace_create: invalid arguments (batch %lld, segment %lld)",
                 (long long)batch, (long long)segment);
    *out = NULL;
    const struct xtc_net_config *c = &m->cfg.net;
    if (m->cfg.model_class != XTC_MODEL_TRANSFORMER_WRAPPER || c->wrap.return_only_embed)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED, "the Transformer-XL loss needs a TransformerWrapper with logits");
    /* one segment is one forward call: its query and key rows are bounded as the call's are, which
     * keeps the logits (rows x V <= 2^52 floats) and the memories (batch x L x C <= 2^46) small */
    int64_t rows, key_rows, L = c->wrap.max_mem_len;
    if (xtc_count_over(batch, segment, XTC_MAX_ROWS, &rows) ||
        xtc_count_over(batch, segment + L, XTC_MAX_KEY_ROWS, &key_rows))
        XTC_FAIL(err, XTC_ERR_ARG,
                 "xtc_xl_workspace_create: batch %lld x (segment %lld + max_mem_len %lld) exceeds "
                 "the rows of a forward call (2^28 tokens, 2^30 keys)",
                 (long long)batch, (long long)segment, (long long)L);
    struct xtc_xl_workspace *w = calloc(1, sizeof *w);
    if (!w)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating a Transformer-XL workspace");
    *w = (struct xtc_xl_workspace){
        .B = batch, .S = segment, .L = L, .C = c->layers.dim, .V = c->wrap.logits_dim, .n_self = m->net.stack.n_self};
    size_t logits = sizeof(float) * (size_t)rows * (size_t)w->V;
    size_t mem = sizeof(float) * (size_t)batch * (size_t)w->L * (size_t)w->C;
    w->inp = malloc(sizeof(int64_t) * (size_t)rows);
    w->tgt = malloc(sizeof(int64_t) * (size_t)rows);
    w->dlogits = malloc(logits);
    w->mems = calloc((size_t)(2 * w->n_self) + 1, sizeof(float *));
    bool ok = w->inp && w->tgt && w->dlogits && w->mems;
    for (int i = 0; ok && w->L > 0 && i < 2 * w->n_self; i++)
        ok = (w->mems[i] = malloc(mem ? mem : 1)) != NULL;
    if (!ok) {
        xtc_xl_workspace_free(w);
        XTC_FAIL(err, XTC_ERR_NOMEM,
                 "out of memory allocating a Transformer-XL workspace for batch %lld, segment %lld (%zu-byte logits)",
                 (long long)batch, (long long)segment, logits);
    }
    *out = w;
    return XTC_OK;
}

/* One segment's loss: the mean over rows of each row's mean over its kept targets, with
 * d(scale * that) / d logits into w->dlogits when wanted. */
static xtc_status segment_loss(struct xtc_xl_workspace *w, const float *logits, int64_t len, int64_t ignore,
                               float scale, bool grad, double *loss, struct xtc_error *err) {
    double sum = 0;
    for (int64_t b = 0; b < w->B; b++) {
        float row;
        XTC_TRY(xtc_cross_entropy(logits + b * len * w->V, w->tgt + b * len, len, w->V, ignore,
                                  scale / (float)w->B, &row, grad ? w->dlogits + b * len * w->V : NULL, NULL, err));
        sum += row;
    }
    *loss = sum / (double)w->B;
    return XTC_OK;
}

/* The segments of xtc_xl_loss, its arguments checked. */
static xtc_status segments(xtc_model_t m, const int64_t *x, int64_t batch, int64_t n,
                           const struct xtc_xl_loss_options *o, struct xtc_xl_workspace *w, float *loss,
                           float *logits, struct xtc_error *err) {
    const int64_t B = batch, N = n - 1, S = o->segment, V = w->V, C = w->C;
    int64_t mem_len = 0;
    int cur = 0; /* mems[cur * n_self + l]: the memories the next segment reads */
    double total = 0;
    for (int64_t s = 0; s < N; s += S) {
        int64_t len = N - s < S ? N - s : S;
        for (int64_t b = 0; b < B; b++) {
            memcpy(w->inp + b * len, x + b * n + s, sizeof(int64_t) * (size_t)len);
            memcpy(w->tgt + b * len, x + b * n + s + 1, sizeof(int64_t) * (size_t)len);
        }
        struct xtc_inputs in = {.batch = B, .len = len, .tokens = w->inp, .save_for_backward = o->backward,
                                .return_mems = w->L > 0 && s + S < N};
        if (mem_len > 0) {
            in.mems = (const float *const *)(w->mems + cur * w->n_self);
            in.n_mems = w->n_self;
            in.mem_len = mem_len;
        }
        struct xtc_outputs out;
        XTC_TRY(xtc_model_forward(m, &in, &out, err));
        for (int64_t b = 0; logits && b < B; b++)
            memcpy(logits + (b * N + s) * V, out.logits + b * len * V, sizeof(float) * (size_t)(len * V));
        double seg_loss, wgt = (double)len / (double)N; /* segments weighted by length */
        XTC_TRY(segment_loss(w, out.logits, len, o->ignore_index, (float)wgt * o->scale, o->backward, &seg_loss, err));
        total += wgt * seg_loss;
        if (in.return_mems) /* copied before the backward reuses the activation arena */
            for (int l = 0; l < w->n_self; l++)
                memcpy(w->mems[(1 - cur) * w->n_self + l], out.mems[l], sizeof(float) * (size_t)(B * out.mem_len * C));
        if (o->backward)
            XTC_TRY(xtc_model_backward(m, w->dlogits, err));
        if (in.return_mems) { /* detached: the next segment reads them as constants */
            cur = 1 - cur;
            mem_len = out.mem_len;
        }
    }
    *loss = (float)total;
    return XTC_OK;
}

xtc_status xtc_xl_loss(xtc_model_t m, const int64_t *x, int64_t batch, int64_t n,
                       const struct xtc_xl_loss_options *o, xtc_xl_workspace_t w, float *loss, float *logits,
                       struct xtc_error *err) {
    if (!m || !x || !o || !w || !loss)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_xl_loss: NULL argument");
    if (batch != w->B || n < 2 || o->segment < 1 || o->segment > w->S)
        XTC_FAIL(err, XTC_ERR_ARG,
                 "xtc_xl_loss: batch %lld, length %lld, segment %lld do not fit the workspace (batch %lld, segment "
                 "at most %lld; at least 2 tokens)", (long long)batch, (long long)n, (long long)o->segment,
                 (long long)w->B, (long long)w->S);
    /* x is (batch, n) and logits (batch, n - 1, V): arrays that must fit in memory, which bounds
     * every index below */
    size_t x_bytes, logit_bytes;
    if (xtc_mul_overflow(batch, n, &x_bytes) || xtc_bytes_overflow((int64_t)x_bytes, sizeof(int64_t), &x_bytes) ||
        xtc_mul_overflow(batch * (n - 1), w->V, &logit_bytes) ||
        xtc_bytes_overflow((int64_t)logit_bytes, sizeof(float), &logit_bytes))
        XTC_FAIL(err, XTC_ERR_ARG,
                 "xtc_xl_loss: batch %lld x length %lld x logits_dim %lld logits exceed PTRDIFF_MAX bytes",
                 (long long)batch, (long long)n, (long long)w->V);
    /* the weights stay as they are until the last segment's backward: with bf16 products they
     * are rounded once for all segments (compute_dtype.c) */
    xtc_context_autocast_pin(&m->base);
    xtc_status rc = segments(m, x, batch, n, o, w, loss, logits, err);
    xtc_context_autocast_unpin(&m->base);
    return rc;
}
