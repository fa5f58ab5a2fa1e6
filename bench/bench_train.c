/* xtc_bench_train: time full training steps (fp32, or bf16 products with --dtype bf16:
 * xtc_model_set_compute_dtype) of a TransformerWrapper decoder.
 *
 *   xtc_bench_train CONFIG_JSON_FILE|MODEL_DIR --batch B --seq T [--steps N] [--warmup W] [--threads N]
 *                   [--seed S] [--init-seed S] [--dump-tokens FILE] [--tokens FILE] [--dtype f32|bf16]
 *
 * One step is what x-transformers' AutoregressiveWrapper(model)(x) + loss.backward() + clip_grad_norm_(1.0)
 * + AdamW.step() does on a (B, T) batch: forward on the T tokens, next-token cross-entropy of the first T - 1
 * positions against tokens 1..T-1 (mean over B x (T - 1)), backward, global gradient-norm clipping at 1.0,
 * AdamW (lr 1e-4, betas 0.9 / 0.99, eps 1e-8, weight decay 0.01 on every parameter).
 *
 * The model is built from a config JSON file with x-transformers' initialisation (xtc_model_create, --init-seed),
 * or loaded from a model directory (config.json + model.safetensors). Each step gets its own random batch:
 * (W + N) batches of token ids from a seeded splitmix64 (--seed), or read from --tokens (raw int64,
 * (W + N, B, T)); --dump-tokens writes them. W warm-up steps, then N timed steps (CLOCK_MONOTONIC); prints
 *   tokens_per_s=... ms_per_step=... peak_rss_mb=... params=... loss_first=... loss_last=... batch=B seq=T threads=N kernels=LEVEL
 * tokens_per_s counts the B x T tokens fed per step; peak_rss_mb is the peak RSS of the process (VmHWM);
 * loss_first / loss_last are the losses of the first and the last step (warm-up included). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_kernels.h"
#include "bench_util.h"
#include "xtc/xtc.h"

#define PROG "xtc_bench_train"

static void usage(FILE *f) {
    fprintf(f, "usage: " PROG " CONFIG_JSON_FILE|MODEL_DIR --batch B --seq T [--steps N] [--warmup W] [--threads N]\n"
               "                       [--seed S] [--init-seed S] [--dump-tokens FILE] [--tokens FILE] [--dtype f32|bf16]\n");
}
static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, PROG ": cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb, cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        fprintf(stderr, PROG ": cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    const char *src = NULL, *dump = NULL, *tok_in = NULL, *dtype = "f32";
    long batch = -1, seq = -1, steps = 10, warmup = 2, threads = 0, seed = 1234, init_seed = 0;
    const struct bench_opt opts[] = {
        {"--batch", .i = &batch, .min = 1},
        {"--seq", .i = &seq, .min = 2},
        {"--steps", .i = &steps, .min = 1},
        {"--warmup", .i = &warmup, .min = 0},
        {"--threads", .i = &threads, .min = 1},
        {"--seed", .i = &seed, .min = 0},
        {"--init-seed", .i = &init_seed, .min = 0},
        {"--dump-tokens", .s = &dump, .what = "a file name"},
        {"--tokens", .s = &tok_in, .what = "a file name"},
        {"--dtype", .s = &dtype, .what = "f32 or bf16"},
    };
    int rc = bench_parse_args(PROG, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &src, usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!src || batch < 0 || seq < 0 || (strcmp(dtype, "f32") != 0 && strcmp(dtype, "bf16") != 0)) {
        usage(stderr);
        return 2;
    }
    if (threads > 0)
        xtc_threads_set((int)threads);

    xtc_model_t m = NULL;
    struct xtc_error err;
    struct stat sb;
    if (stat(src, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        if (xtc_model_load_dir(&m, src, &err) != XTC_OK) {
            fprintf(stderr, PROG ": %s\n", err.msg);
            return 1;
        }
    } else {
        size_t len;
        char *json = read_all(src, &len);
        if (!json)
            return 1;
        xtc_status st = xtc_model_create(&m, json, len, (uint64_t)init_seed, &err);
        free(json);
        if (st != XTC_OK) {
            fprintf(stderr, PROG ": %s\n", err.msg);
            return 1;
        }
    }
    if (xtc_model_set_compute_dtype(m, dtype[0] == 'b' ? XTC_DTYPE_BF16 : XTC_DTYPE_F32, &err) != XTC_OK) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        xtc_model_free(m);
        return 1;
    }
    const struct xtc_config *cfg = xtc_model_config(m);
    if (cfg->model_class != XTC_MODEL_TRANSFORMER_WRAPPER) {
        fprintf(stderr, PROG ": only TransformerWrapper models are supported (token inputs)\n");
        xtc_model_free(m);
        return 1;
    }
    int64_t V = cfg->net.wrap.num_tokens, B = batch, T = seq, N = B * T;
    long total_steps = warmup + steps;
    size_t ntok = (size_t)total_steps * (size_t)N;
    int64_t *tokens = malloc(ntok * sizeof *tokens), *targets = malloc((size_t)N * sizeof *targets);
    float *dlogits = malloc((size_t)N * (size_t)V * sizeof *dlogits);
    struct xtc_adamw opt = {0};
    int status = 0;
    if (!tokens || !targets || !dlogits) {
        fprintf(stderr, PROG ": out of memory\n");
        status = 1;
        goto done;
    }
    if (tok_in) {
        FILE *f = fopen(tok_in, "rb");
        size_t got = f ? fread(tokens, sizeof *tokens, ntok, f) : 0;
        if (f)
            fclose(f);
        if (got != ntok) {
            fprintf(stderr, PROG ": %s: need %zu int64 token ids\n", tok_in, ntok);
            status = 1;
            goto done;
        }
        for (size_t i = 0; i < ntok; i++)
            if (tokens[i] < 0 || tokens[i] >= V) {
                fprintf(stderr, PROG ": %s: token id out of range\n", tok_in);
                status = 1;
                goto done;
            }
    } else {
        uint64_t st = (uint64_t)seed;
        for (size_t i = 0; i < ntok; i++)
            tokens[i] = (int64_t)(bench_rand(&st) % (uint64_t)V);
    }
    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (!f || fwrite(tokens, sizeof *tokens, ntok, f) != ntok || fclose(f) != 0) {
            fprintf(stderr, PROG ": cannot write %s\n", dump);
            status = 1;
            goto done;
        }
    }

    /* The trainable parameters are the first ones of one contiguous block, gradients likewise. */
    if (xtc_model_zero_grad(m, &err) != XTC_OK) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        status = 1;
        goto done;
    }
    size_t n_train = 0;
    for (int i = 0; i < xtc_model_param_count(m); i++) {
        struct xtc_param_info p = xtc_model_param(m, i);
        if (p.is_buffer)
            continue;
        size_t numel = 1;
        for (int d = 0; d < p.ndim; d++)
            numel *= (size_t)p.shape[d];
        n_train += numel;
    }
    float *params = xtc_model_param_data(m, 0), *grads = xtc_model_param_grad(m, 0);
    if ((int64_t)n_train != xtc_model_num_params(m)) {
        fprintf(stderr, PROG ": parameter count mismatch (%zu vs %lld)\n", n_train, (long long)xtc_model_num_params(m));
        status = 1;
        goto done;
    }
    if (xtc_adamw_init(&opt, n_train, 0.9f, 0.99f, 1e-8f, 0.01f, &err) != XTC_OK) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        status = 1;
        goto done;
    }

    float loss_first = 0, loss_last = 0;
    double t0 = 0;
    for (long s = 0; s < total_steps; s++) {
        if (s == warmup)
            t0 = bench_now();
        const int64_t *x = tokens + (size_t)s * (size_t)N;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < T; i++)
                targets[b * T + i] = i + 1 < T ? x[b * T + i + 1] : -100; /* the last position is not scored */
        struct xtc_inputs in = {.batch = B, .len = T, .tokens = x, .save_for_backward = true};
        struct xtc_outputs out;
        float loss;
        if (xtc_model_zero_grad(m, &err) != XTC_OK || xtc_model_forward(m, &in, &out, &err) != XTC_OK ||
            xtc_cross_entropy(out.logits, targets, N, V, -100, 1.0f, &loss, dlogits, NULL, &err) != XTC_OK ||
            xtc_model_backward(m, dlogits, &err) != XTC_OK) {
            fprintf(stderr, PROG ": step %ld: %s\n", s, err.msg);
            status = 1;
            goto done;
        }
        xtc_clip_grad_norm(grads, n_train, 1.0);
        xtc_adamw_step(&opt, params, grads, 1e-4f);
        if (s == 0)
            loss_first = loss;
        loss_last = loss;
    }
    double per_step = (bench_now() - t0) / (double)steps;
    printf("tokens_per_s=%.2f ms_per_step=%.3f peak_rss_mb=%.1f params=%zu loss_first=%.6f loss_last=%.6f "
           "batch=%ld seq=%ld dtype=%s threads=%d kernels=%s\n",
           (double)N / per_step, 1e3 * per_step, bench_peak_rss_mb(), n_train, loss_first, loss_last, batch, seq, dtype,
           xtc_threads_get(), bench_kernels());
done:
    xtc_adamw_free(&opt);
    free(tokens);
    free(targets);
    free(dlogits);
    xtc_model_free(m);
    return status;
}
