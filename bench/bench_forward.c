/* xtc_bench_forward: time xtc_model_forward on random token ids.
 *
 *   xtc_bench_forward MODEL_DIR --batch B --seq T [--iters N] [--warmup W] [--threads N] [--seed S] [--dump FILE]
 *
 * Runs W warm-up calls, then N timed calls (CLOCK_MONOTONIC), and prints one line:
 *   tokens_per_s=... ms_per_call=... peak_rss_mb=... batch=B seq=T threads=N kernels=LEVEL
 * (peak_rss_mb: the peak RSS of the process, VmHWM, weights and all calls included)
 * With --dump FILE the logits of an extra, untimed first call are written to FILE as raw float32 (B, T, out_dim),
 * and the token ids to FILE.tokens as raw int64 (B, T), so a reference run can use the same input. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_kernels.h"
#include "bench_util.h"
#include "xtc/xtc.h"

static void usage(FILE *f) {
    fprintf(f, "usage: xtc_bench_forward MODEL_DIR --batch B --seq T [--iters N] [--warmup W] [--threads N]\n"
               "                         [--seed S] [--dump FILE]\n");
}
int main(int argc, char **argv) {
    const char *dir = NULL, *dump = NULL;
    long batch = -1, seq = -1, iters = 10, warmup = 2, threads = 0, seed = 1234;
    const struct bench_opt opts[] = {
        {"--batch", .i = &batch, .min = 1},
        {"--seq", .i = &seq, .min = 1},
        {"--iters", .i = &iters, .min = 1},
        {"--warmup", .i = &warmup, .min = 0},
        {"--threads", .i = &threads, .min = 1},
        {"--seed", .i = &seed, .min = 0},
        {"--dump", .s = &dump, .what = "a file name"},
    };
    int rc = bench_parse_args("xtc_bench_forward", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &dir, usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!dir || batch < 0 || seq < 0) {
        usage(stderr);
        return 2;
    }
    if (threads > 0)
        xtc_threads_set((int)threads);

    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_load_dir(&m, dir, &err) != XTC_OK) {
        fprintf(stderr, "xtc_bench_forward: %s\n", err.msg);
        return 1;
    }
    const struct xtc_config *cfg = xtc_model_config(m);
    if (cfg->model_class != XTC_MODEL_TRANSFORMER_WRAPPER) {
        fprintf(stderr, "xtc_bench_forward: only TransformerWrapper models are supported (token inputs)\n");
        xtc_model_free(m);
        return 1;
    }
    long vocab = cfg->net.wrap.num_tokens;
    size_t n = (size_t)batch * (size_t)seq;
    int64_t *tokens = malloc(n * sizeof *tokens);
    if (!tokens) {
        fprintf(stderr, "xtc_bench_forward: out of memory\n");
        xtc_model_free(m);
        return 1;
    }
    uint64_t st = (uint64_t)seed;
    for (size_t i = 0; i < n; i++)
        tokens[i] = (int64_t)(bench_rand(&st) % (uint64_t)vocab);

    struct xtc_inputs in = {.batch = batch, .len = seq, .tokens = tokens};
    struct xtc_outputs out;
    int status = 0;
    /* The dump call is an extra, untimed call before the warm-up. */
    if (dump) {
        if (xtc_model_forward(m, &in, &out, &err) != XTC_OK) {
            fprintf(stderr, "xtc_bench_forward: %s\n", err.msg);
            status = 1;
        } else {
            char tpath[4096];
            snprintf(tpath, sizeof tpath, "%s.tokens", dump);
            if (bench_write_file("xtc_bench_forward", dump, out.logits, n * (size_t)out.out_dim * sizeof(float)) ||
                bench_write_file("xtc_bench_forward", tpath, tokens, n * sizeof *tokens))
                status = 1;
        }
    }
    for (long i = 0; i < warmup && !status; i++)
        if (xtc_model_forward(m, &in, &out, &err) != XTC_OK) {
            fprintf(stderr, "xtc_bench_forward: %s\n", err.msg);
            status = 1;
        }
    if (!status) {
        double t0 = bench_now();
        for (long i = 0; i < iters && !status; i++)
            if (xtc_model_forward(m, &in, &out, &err) != XTC_OK) {
                fprintf(stderr, "xtc_bench_forward: %s\n", err.msg);
                status = 1;
            }
        double per_call = (bench_now() - t0) / (double)iters;
        if (!status)
            printf("tokens_per_s=%.1f ms_per_call=%.3f peak_rss_mb=%.1f batch=%ld seq=%ld threads=%d kernels=%s\n",
                   (double)n / per_call, 1e3 * per_call, bench_peak_rss_mb(), batch, seq, xtc_threads_get(),
                   bench_kernels());
    }
    free(tokens);
    xtc_model_free(m);
    return status;
}
