/* xtc_bench_forward: time xtc_model_forward on random token ids.
 *
 *   xtc_bench_forward MODEL_DIR --batch B --seq T [--iters N] [--warmup W] [--threads N] [--seed S] [--dump FILE]
 *
 * Runs W warm-up calls, then N timed calls (CLOCK_MONOTONIC), and prints one line:
 *   tokens_per_s=... ms_per_call=... batch=B seq=T threads=N
 * With --dump FILE the logits of an extra, untimed first call are written to FILE as raw float32 (B, T, out_dim),
 * and the token ids to FILE.tokens as raw int64 (B, T), so a reference run can use the same input. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <omp.h>

#include "xtc/xtc.h"

static void usage(FILE *f) {
    fprintf(f, "usage: xtc_bench_forward MODEL_DIR --batch B --seq T [--iters N] [--warmup W] [--threads N]\n"
               "                         [--seed S] [--dump FILE]\n");
}

static int parse_int(const char *opt, const char *s, long lo, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s ? s : "", &end, 10);
    if (!s || errno || end == s || *end || v < lo) {
        fprintf(stderr, "xtc_bench_forward: %s needs an integer >= %ld\n", opt, lo);
        return -1;
    }
    *out = v;
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* splitmix64: fixed-seed token ids, identical on every platform. */
static uint64_t next_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int write_file(const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes) {
        fprintf(stderr, "xtc_bench_forward: cannot write %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "xtc_bench_forward: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *dump = NULL;
    long batch = -1, seq = -1, iters = 10, warmup = 2, threads = 0, seed = 1234;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--batch")) {
            rc = parse_int(a, v, 1, &batch), i++;
        } else if (!strcmp(a, "--seq")) {
            rc = parse_int(a, v, 1, &seq), i++;
        } else if (!strcmp(a, "--iters")) {
            rc = parse_int(a, v, 1, &iters), i++;
        } else if (!strcmp(a, "--warmup")) {
            rc = parse_int(a, v, 0, &warmup), i++;
        } else if (!strcmp(a, "--threads")) {
            rc = parse_int(a, v, 1, &threads), i++;
        } else if (!strcmp(a, "--seed")) {
            rc = parse_int(a, v, 0, &seed), i++;
        } else if (!strcmp(a, "--dump")) {
            if (!v) {
                fprintf(stderr, "xtc_bench_forward: --dump needs a file name\n");
                return 2;
            }
            dump = v, i++;
        } else if (a[0] == '-' || dir) {
            fprintf(stderr, "xtc_bench_forward: unexpected argument '%s'\n", a);
            usage(stderr);
            return 2;
        } else {
            dir = a;
        }
        if (rc)
            return 2;
    }
    if (!dir || batch < 0 || seq < 0) {
        usage(stderr);
        return 2;
    }
    if (threads > 0) {
        omp_set_num_threads((int)threads);
        openblas_set_num_threads((int)threads);
    }

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
        tokens[i] = (int64_t)(next_rand(&st) % (uint64_t)vocab);

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
            if (write_file(dump, out.logits, n * (size_t)out.out_dim * sizeof(float)) ||
                write_file(tpath, tokens, n * sizeof *tokens))
                status = 1;
        }
    }
    for (long i = 0; i < warmup && !status; i++)
        if (xtc_model_forward(m, &in, &out, &err) != XTC_OK) {
            fprintf(stderr, "xtc_bench_forward: %s\n", err.msg);
            status = 1;
        }
    if (!status) {
        double t0 = now_s();
        for (long i = 0; i < iters && !status; i++)
            if (xtc_model_forward(m, &in, &out, &err) != XTC_OK) {
                fprintf(stderr, "xtc_bench_forward: %s\n", err.msg);
                status = 1;
            }
        double per_call = (now_s() - t0) / (double)iters;
        if (!status)
            printf("tokens_per_s=%.1f ms_per_call=%.3f batch=%ld seq=%ld threads=%d\n", (double)n / per_call,
                   1e3 * per_call, batch, seq, omp_get_max_threads());
    }
    free(tokens);
    xtc_model_free(m);
    return status;
}
