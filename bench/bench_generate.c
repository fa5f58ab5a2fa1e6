/* xtc_bench_generate: time greedy generation with the KV cache (xtc_generate).
 *
 *   xtc_bench_generate MODEL_DIR --batch B --prompt P --new N [--iters K] [--warmup W] [--threads N]
 *                      [--seed S] [--no-cache] [--dtype f32|bf16|int8] [--dump FILE]
 *
 * Prompts: (B, P) token ids from a seeded splitmix64 (--seed). One call = xtc_generate of N new tokens after the
 * prompts (greedy, temperature 0, KV cache on unless --no-cache), prompt processing included, as
 * x-transformers' AutoregressiveWrapper.generate(prompts, N, cache_kv=True, temperature=0.). W warm-up calls,
 * then the mean of K timed calls (CLOCK_MONOTONIC); prints
 *   tokens_per_s=... ms_per_call=... ms_per_token=... peak_rss_mb=... batch=B prompt=P new=N threads=N kernels=LEVEL
 * tokens_per_s = B x N generated tokens / seconds per call. With --dump FILE the prompts are written to FILE.prompts
 * (int64 (B, P)) and the generated tokens of the first call to FILE (int64 (B, N)). --dtype bf16 / int8 decodes
 * with bfloat16 / int8 weights (xtc_model_set_decode_dtype). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_kernels.h"
#include "bench_util.h"
#include "xtc/xtc.h"

#define PROG "xtc_bench_generate"

static void usage(FILE *f) {
    fprintf(f, "usage: " PROG " MODEL_DIR --batch B --prompt P --new N [--iters K] [--warmup W] [--threads N]\n"
               "                          [--seed S] [--no-cache] [--dtype f32|bf16|int8] [--dump FILE]\n");
}
int main(int argc, char **argv) {
    const char *dir = NULL, *dump = NULL, *dtype = "f32";
    long batch = -1, prompt = -1, nnew = -1, iters = 5, warmup = 1, threads = 0, seed = 1234;
    int no_cache = 0;
    const struct bench_opt opts[] = {
        {"--batch", .i = &batch, .min = 1},
        {"--prompt", .i = &prompt, .min = 1},
        {"--new", .i = &nnew, .min = 1},
        {"--iters", .i = &iters, .min = 1},
        {"--warmup", .i = &warmup, .min = 0},
        {"--threads", .i = &threads, .min = 1},
        {"--seed", .i = &seed, .min = 0},
        {"--no-cache", .flag = &no_cache},
        {"--dtype", .s = &dtype, .what = "f32, bf16 or int8"},
        {"--dump", .s = &dump, .what = "a file name"},
    };
    int rc = bench_parse_args(PROG, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &dir, usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (strcmp(dtype, "f32") && strcmp(dtype, "bf16") && strcmp(dtype, "int8")) {
        fprintf(stderr, PROG ": --dtype takes f32, bf16 or int8\n");
        return 2;
    }
    const int cache = !no_cache;
    const enum xtc_dtype dt = !strcmp(dtype, "bf16") ? XTC_DTYPE_BF16 : !strcmp(dtype, "int8") ? XTC_DTYPE_I8 : XTC_DTYPE_F32;
    if (!dir || batch < 0 || prompt < 0 || nnew < 0) {
        usage(stderr);
        return 2;
    }
    if (threads > 0)
        xtc_threads_set((int)threads);

    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_load_dir(&m, dir, &err) != XTC_OK) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        return 1;
    }
    if (dt != XTC_DTYPE_F32 && xtc_model_set_decode_dtype(m, dt, &err) != XTC_OK) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        xtc_model_free(m);
        return 1;
    }
    const struct xtc_config *cfg = xtc_model_config(m);
    if (cfg->model_class != XTC_MODEL_TRANSFORMER_WRAPPER) {
        fprintf(stderr, PROG ": only TransformerWrapper models are supported\n");
        xtc_model_free(m);
        return 1;
    }
    int64_t V = cfg->net.wrap.num_tokens, B = batch, P = prompt, S = nnew;
    int64_t *prompts = malloc((size_t)(B * P) * sizeof *prompts), *out = malloc((size_t)(B * S) * sizeof *out);
    int status = 0;
    if (!prompts || !out) {
        fprintf(stderr, PROG ": out of memory\n");
        status = 1;
        goto done;
    }
    uint64_t st = (uint64_t)seed;
    for (int64_t i = 0; i < B * P; i++)
        prompts[i] = (int64_t)(bench_rand(&st) % (uint64_t)V);

    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = S;
    o.temperature = 0.0f;
    o.cache_kv = cache != 0;
    double t0 = 0;
    for (long it = 0; it < warmup + iters; it++) {
        if (it == warmup)
            t0 = bench_now();
        int64_t n = 0;
        if (xtc_generate(m, prompts, B, P, &o, NULL, NULL, out, &n, NULL, &err) != XTC_OK) {
            fprintf(stderr, PROG ": %s\n", err.msg);
            status = 1;
            goto done;
        }
        if (n != S) {
            fprintf(stderr, PROG ": generated %lld steps, expected %lld\n", (long long)n, (long long)S);
            status = 1;
            goto done;
        }
        if (it == 0 && dump) {
            char ppath[4096];
            snprintf(ppath, sizeof ppath, "%s.prompts", dump);
            if (bench_write_file(PROG, dump, out, (size_t)(B * S) * sizeof *out) ||
                bench_write_file(PROG, ppath, prompts, (size_t)(B * P) * sizeof *prompts)) {
                status = 1;
                goto done;
            }
        }
    }
    double per_call = (bench_now() - t0) / (double)iters;
    printf("tokens_per_s=%.2f ms_per_call=%.3f ms_per_token=%.4f peak_rss_mb=%.1f batch=%ld prompt=%ld new=%ld "
           "threads=%d kernels=%s\n",
           (double)(B * S) / per_call, 1e3 * per_call, 1e3 * per_call / (double)S, bench_peak_rss_mb(), batch, prompt,
           nnew, xtc_threads_get(), bench_kernels());
done:
    free(prompts);
    free(out);
    xtc_model_free(m);
    return status;
}
