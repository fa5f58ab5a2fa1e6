/* xtc — training: losses (and, as they land, optimisers and the training loop). */
#ifndef XTC_TRAIN_H
#define XTC_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xtc/dist.h"
#include "xtc/export.h"
#include "xtc/model.h"
#include "xtc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Cross-entropy of logits (N, V) against targets (N), averaged over the kept
 * targets (target != ignore_index), as F.cross_entropy(..., ignore_index).
 * *loss gets that mean (0 when nothing is kept) and *n_kept the count.
 * With dlogits (N, V) not NULL, it receives d(scale * loss) / d logits
 * (overwritten; ignored rows get 0) — scale is the weight of this loss in the
 * caller's objective (1 for a plain loss, segment_len / total for XL segments).
 * Errors: XTC_ERR_ARG (NULL, a target outside 0..V-1 that is not ignore_index, N x V floats
 * past PTRDIFF_MAX bytes).
 * Thread safety: reentrant. */
XTC_API xtc_status xtc_cross_entropy(const float *logits, const int64_t *targets, int64_t N, int64_t V,
                                     int64_t ignore_index, float scale, float *loss, float *dlogits, int64_t *n_kept,
                                     struct xtc_error *err);

/* Mean squared error of pred (N, D) against target (N, D) over the kept rows (mask[i] true;
 * every row when mask is NULL): the loss of x-transformers' ContinuousAutoregressiveWrapper
 * (nn.MSELoss(reduction='none'), then loss[mask].mean()). *loss gets the mean over the kept
 * rows' N_kept x D elements (0 when nothing is kept, where torch gives NaN) and *n_kept the
 * kept rows. With dpred (N, D) not NULL, it receives d(scale * loss) / d pred (overwritten;
 * dropped rows get 0). Errors: XTC_ERR_ARG (NULL, N x D floats past PTRDIFF_MAX bytes).
 * Thread safety: reentrant. */
XTC_API xtc_status xtc_mse_loss(const float *pred, const float *target, const uint8_t *mask, int64_t N, int64_t D,
                                float scale, float *loss, float *dpred, int64_t *n_kept, struct xtc_error *err);

/* ------------------------------------------------------------------ Transformer-XL loss */

/* Buffers of the Transformer-XL loss for one model, batch size and largest segment:
 * segment inputs and targets, logit gradients and the double-buffered memories, so
 * that training steps allocate nothing. Errors: XTC_ERR_ARG (also batch x segment beyond the
 * 2^28 tokens of a forward call, or batch x (segment + max_mem_len) beyond its 2^30 keys),
 * XTC_ERR_UNSUPPORTED (not a
 * TransformerWrapper with logits), XTC_ERR_NOMEM. Free with xtc_xl_workspace_free
 * (NULL is fine). A workspace serves one call at a time. */
typedef struct xtc_xl_workspace *xtc_xl_workspace_t;
XTC_API xtc_status xtc_xl_workspace_create(xtc_xl_workspace_t *out, const struct xtc_model *m, int64_t batch,
                                           int64_t segment, struct xtc_error *err);
XTC_API void xtc_xl_workspace_free(xtc_xl_workspace_t w);

struct xtc_xl_loss_options {
    int64_t segment;      /* tokens per segment: max_seq_len for XLAutoregressiveWrapper; n - 1 gives the
                             plain next-token loss of one segment */
    int64_t ignore_index; /* targets equal to it are not scored (they are still fed as tokens) */
    float scale;          /* weight of this loss in the caller's objective (gradients of scale * loss) */
    bool backward;        /* accumulate parameter gradients (the model's gradient block must exist:
                             xtc_model_zero_grad) */
};

/* XLAutoregressiveWrapper(net)(x) of x-transformers 2.31.10 for x (batch, n) token ids:
 * inputs x[:, :-1], targets x[:, 1:], split into segments; each segment runs with the
 * (detached) memories of the one before, truncated to max_mem_len, and adds
 *     (len_c / (n - 1)) * mean over rows of (row's mean -log p over its kept targets)
 * (a row that keeps nothing adds 0 and still counts). *loss gets the total; logits
 * (batch, n - 1, logits_dim) receives every segment's logits when not NULL. With
 * o->backward the gradient of o->scale * loss is accumulated into the model's parameter
 * gradients. With bf16 products (xtc_model_set_compute_dtype) the weights are rounded once for
 * all segments. Errors: XTC_ERR_ARG (shapes, token ids, targets), and those of
 * xtc_model_forward / xtc_model_backward. Not thread-safe on one model. */
XTC_API xtc_status xtc_xl_loss(xtc_model_t m, const int64_t *x, int64_t batch, int64_t n,
                               const struct xtc_xl_loss_options *o, xtc_xl_workspace_t w, float *loss, float *logits,
                               struct xtc_error *err);

/* ------------------------------------------------------------------ optimiser */

/* Adam / AdamW exactly as torch.optim.AdamW (decoupled weight decay; weight_decay 0 is Adam):
 *   p -= lr * wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). */
struct xtc_adamw {
    float beta1, beta2, eps, weight_decay;
    int64_t t;  /* steps taken */
    size_t n;   /* floats in m and v */
    float *m, *v;
};
/* Errors: XTC_ERR_ARG (hyperparameters, n floats past PTRDIFF_MAX bytes), XTC_ERR_NOMEM. */
XTC_API xtc_status xtc_adamw_init(struct xtc_adamw *opt, size_t n, float beta1, float beta2, float eps,
                                  float weight_decay, struct xtc_error *err);
XTC_API void xtc_adamw_free(struct xtc_adamw *opt);
/* One update of params (n floats) with grads, learning rate lr. */
XTC_API void xtc_adamw_step(struct xtc_adamw *opt, float *params, const float *grads, float lr);

/* Scales grads (n floats) so that their global L2 norm is at most max_norm, as
 * torch.nn.utils.clip_grad_norm_ (coefficient max_norm / (norm + 1e-6), capped at 1).
 * Returns the norm before clipping; max_norm <= 0 only measures. */
XTC_API double xtc_clip_grad_norm(float *grads, size_t n, double max_norm);

/* Linear warm-up over `warmup` steps to lr, then cosine decay to min_lr at `total` steps. */
XTC_API float xtc_lr_schedule(int64_t step, int64_t warmup, int64_t total, float lr, float min_lr);

/* ------------------------------------------------------------------ trainer */

/* Byte-level language modelling on a text corpus, as x-transformers' enwik8
 * example: random crops of seq_len + 1 bytes, next-byte cross-entropy, a
 * held-out tail of the corpus for validation. With xl_segments > 0 every crop
 * holds xl_segments * max_seq_len + 1 bytes and is trained segment by segment
 * with Transformer-XL memories, loss weighted by segment length
 * (XLAutoregressiveWrapper). */
struct xtc_train_options {
    int64_t batch, seq_len;
    int accum;                 /* micro-batches per optimiser step */
    int64_t steps, warmup;
    float lr, min_lr, weight_decay, beta1, beta2, eps, grad_clip;
    double val_fraction;       /* tail of the corpus held out */
    uint64_t seed;
    int xl_segments;           /* 0: plain autoregressive training */
    enum xtc_dtype dtype;      /* products: XTC_DTYPE_F32 (default) or XTC_DTYPE_BF16, mixed precision
                                  with fp32 master weights and AdamW (xtc_model_set_compute_dtype) */
};
XTC_API void xtc_train_options_default(struct xtc_train_options *o);

typedef struct xtc_trainer *xtc_trainer_t;

struct xtc_step_stats {
    int64_t step;   /* steps done after this one */
    float loss;     /* mean training loss of the step (nats per byte) */
    float lr;
    double grad_norm;
    int64_t tokens; /* bytes predicted in this step */
};

/* Takes ownership of model (freed with the trainer, also on failure); copies the corpus.
 * Errors: XTC_ERR_ARG (options, batch x seq_len (batch x max_seq_len with xl_segments) beyond the
 * 2^28 tokens of a forward call, corpus shorter than one crop plus the validation tail,
 * a model whose vocabulary cannot hold bytes, abs positions shorter than seq_len). */
XTC_API xtc_status xtc_trainer_create(xtc_trainer_t *out, xtc_model_t model, const uint8_t *corpus, size_t len,
                                      const struct xtc_train_options *o, struct xtc_error *err);

/* Continues from a checkpoint written by xtc_trainer_save: model, optimiser state, step
 * and random state, so the losses continue bit for bit. checkpoint_dir is a run directory
 * (DIR/latest names the checkpoint; the trainer takes DIR's run lock as xtc_trainer_use_dir
 * does) or a checkpoint directory itself. config_json, when not NULL, must equal the
 * checkpoint's configuration. The options are the checkpoint's, except `steps`, taken from
 * o when o is not NULL. The corpus must be the one the checkpoint was trained on (its size
 * and fingerprint are in the state; states written before xtc recorded them are accepted
 * with a warning). Errors: XTC_ERR_ARG (NULL), XTC_ERR_IO (DIR/latest missing or dangling,
 * another process holds the lock, unreadable files), XTC_ERR_CONFIG (another
 * configuration or corpus), XTC_ERR_FORMAT (a damaged state: also non-finite AdamW moments
 * or negative second moments, named in the message). */
XTC_API xtc_status xtc_trainer_resume(xtc_trainer_t *out, const char *checkpoint_dir, const char *config_json,
                                      const uint8_t *corpus, size_t len, const struct xtc_train_options *o,
                                      struct xtc_error *err);

/* Flags of xtc_trainer_resume_ex. */
enum {
    XTC_RESUME_OPTIONS = 1,    /* every option from o (not NULL), not only `steps`: the caller overrides them */
    XTC_RESUME_ANY_CORPUS = 2, /* accept a corpus other than the checkpoint's */
};
/* xtc_trainer_resume with flags (0 is xtc_trainer_resume). */
XTC_API xtc_status xtc_trainer_resume_ex(xtc_trainer_t *out, const char *checkpoint_dir, const char *config_json,
                                         const uint8_t *corpus, size_t len, const struct xtc_train_options *o,
                                         unsigned flags, struct xtc_error *err);

/* 64-bit FNV-1a of the corpus bytes: the fingerprint training states record. */
XTC_API uint64_t xtc_corpus_fingerprint(const uint8_t *corpus, size_t len);

/* Makes DIR the trainer's run directory: takes DIR/.lock (flock, exclusive, not waiting)
 * and holds it until the trainer is freed or uses another directory, then removes what an
 * interrupted run left in DIR: temporaries (checkpoint-*.tmp-*, latest.tmp-*) and, when
 * DIR/latest names a checkpoint, xtc's other checkpoints (checkpoint-STEP[-N]).
 * xtc_trainer_save and xtc_trainer_resume call it; call it first to hold the directory
 * for the whole run. DIR must exist. Errors: XTC_ERR_ARG (empty path), XTC_ERR_IO
 * ("another xtc train is using DIR" when another trainer or process holds the lock, or
 * the lock file cannot be created: the message names the errno). */
XTC_API xtc_status xtc_trainer_use_dir(xtc_trainer_t t, const char *dir, struct xtc_error *err);

/* One optimiser step. With bf16 products its accum micro-batches (and their XL segments)
 * share one rounded copy of the weights, made by the first forward call. XTC_ERR_ARG with a
 * message when the loss or the gradients are not finite: the parameters are left as they
 * were before the step. */
XTC_API xtc_status xtc_trainer_step(xtc_trainer_t t, struct xtc_step_stats *stats, struct xtc_error *err);

/* Mean validation loss over n_batches fixed held-out batches (the same every call). */
XTC_API xtc_status xtc_trainer_evaluate(xtc_trainer_t t, int n_batches, float *loss, struct xtc_error *err);

/* Writes a checkpoint: DIR/checkpoint-STEP/{config.json, model.safetensors,
 * train_state.safetensors} (checkpoint-STEP-N when checkpoint-STEP exists, e.g. the same
 * step saved twice). The checkpoint is written completely into a temporary directory
 * (every file and the directory synced), renamed into place, then DIR/latest is switched to
 * it with an atomic rename and DIR synced; only then are superseded checkpoints removed. The
 * checkpoint DIR/latest names is never removed or modified before latest has moved, so a
 * crash at any moment leaves DIR/latest naming a complete checkpoint. Takes DIR's run lock
 * (xtc_trainer_use_dir). DIR must exist. Errors: XTC_ERR_ARG, XTC_ERR_IO (message with the
 * errno: EROFS, EACCES, ENOSPC ...; another process using DIR), XTC_ERR_NOMEM. */
XTC_API xtc_status xtc_trainer_save(xtc_trainer_t t, const char *dir, struct xtc_error *err);

/* ------------------------------------------------------------------ several processes */

/* Makes the processes of comm train one model (a collective: every rank calls it).
 * Rank 0 brings the trainer (*t, new or resumed); every other rank passes *t == NULL and
 * gets a trainer with rank 0's configuration, options, parameters, AdamW state, step and
 * random state (only rank 0 reads or writes the run directory). Every rank brings the same
 * corpus (checked by fingerprint). Rank 0 with *t == NULL tells the others that the run
 * could not start: every rank then fails. From then on every call of the trainer is
 * collective:
 *   - xtc_trainer_step: each of the N ranks takes its own accum * batch crops of a global
 *     batch of N * accum * batch (every rank draws the whole batch from the shared
 *     generator, so the crops are disjoint and the stream is that of one process with
 *     accum * N); gradients are summed in buckets while the backward pass of the last
 *     micro-batch goes on, each scaled so that N ranks equal one process with accum * N;
 *   - xtc_trainer_evaluate: the held-out batches are shared out;
 *   - xtc_trainer_save: rank 0 writes after every rank has checked that its parameters
 *     equal rank 0's; every rank returns rank 0's result.
 * The AdamW state is sharded (ZeRO-1): each rank keeps the moments m and v of 1/N of the
 * parameters; the gradient buckets are reduce-scattered (still while the backward goes on),
 * clipping uses the norm of every rank's shard, each rank updates its shard and the
 * parameters are all-gathered. The results equal those of a replicated state within float
 * rounding of the sums. A checkpoint holds the whole state (rank 0 gathers it), so its format
 * does not depend on N, and resuming on another N shards it anew.
 * A checkpoint resumes on any number of ranks (the global batch is N * accum * batch).
 * Errors: XTC_ERR_ARG (NULL comm; *t not NULL on rank > 0), XTC_ERR_CONFIG (another corpus
 * on some rank), XTC_ERR_BACKEND, XTC_ERR_NOMEM; on failure every rank's *t is freed and
 * NULL. comm must outlive the trainer. */
XTC_API xtc_status xtc_trainer_share(xtc_trainer_t *t, xtc_comm_t comm, const uint8_t *corpus, size_t len,
                                     struct xtc_error *err);

/* Flags of xtc_trainer_share_ex (rank 0's are the job's). */
enum {
    XTC_SHARE_REPLICATE_OPTIMIZER = 1u << 0, /* every rank keeps the whole AdamW state (all-reduce of the
                                                gradients, no all-gather): xtc_trainer_share before ZeRO-1 */
};
/* xtc_trainer_share with flags (0: as xtc_trainer_share). */
XTC_API xtc_status xtc_trainer_share_ex(xtc_trainer_t *t, xtc_comm_t comm, const uint8_t *corpus, size_t len,
                                        unsigned flags, struct xtc_error *err);

/* Communication of a trainer shared by several ranks (zeros for one process). */
struct xtc_comm_stats {
    int ranks;
    int buckets;          /* gradient all-reduces per step */
    double bytes;         /* gradient bytes each rank sends into the sum per step */
    int64_t steps;        /* steps measured */
    double exposed_s;     /* time the steps waited for their sums after the backward pass */
    double in_flight_s;   /* time from each step's first bucket until its last sum was seen complete */
    double blocking_s;    /* one blocking sum of every gradient, measured when the trainer was shared:
                             what a step would wait without overlap */
    int checkpoint_ranks; /* ranks the resumed checkpoint was trained on (0: a new run, or unknown) */
    bool sharded;         /* ZeRO-1: the AdamW state is split between the ranks */
    double opt_bytes;     /* AdamW moments held by the rank holding the most (also for one process) */
    double opt_bytes_full; /* the same state unsharded (what each rank holds without ZeRO-1) */
    double allgather_s;   /* time the steps spent all-gathering the updated parameters (sharded) */
};
XTC_API void xtc_trainer_comm_stats(const struct xtc_trainer *t, struct xtc_comm_stats *s);

XTC_API xtc_model_t xtc_trainer_model(xtc_trainer_t t);
XTC_API const struct xtc_train_options *xtc_trainer_options(const struct xtc_trainer *t);
XTC_API int64_t xtc_trainer_step_count(const struct xtc_trainer *t);
XTC_API void xtc_trainer_free(xtc_trainer_t t);

#ifdef __cplusplus
}
#endif
#endif
