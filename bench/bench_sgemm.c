/* xtc_bench_sgemm: the fp32 matrix-multiply ceiling of this machine, through the OpenBLAS build xtc links.
 *
 *   xtc_bench_sgemm [--n N] [--iters K] [--threads T]
 *
 * Times cblas_sgemm (row-major, no transposes, alpha 1, beta 0) of two N x N matrices (default 2048) with T
 * threads (OpenMP + OpenBLAS, default 2): one warm-up call, then K timed calls (default 10); prints
 *   gflops_best=... gflops_mean=... ms_best=... n=N threads=T
 * counting 2 N^3 floating-point operations per call. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>
#include <omp.h>

#include "bench_util.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f) { fprintf(f, "usage: xtc_bench_sgemm [--n N] [--iters K] [--threads T]\n"); }

int main(int argc, char **argv) {
    long n = 2048, iters = 10, threads = 2;
    const struct bench_opt opts[] = {
        {"--n", .i = &n, .min = 1},
        {"--iters", .i = &iters, .min = 1},
        {"--threads", .i = &threads, .min = 1},
    };
    const char *pos = NULL;
    int rc = bench_parse_args("xtc_bench_sgemm", argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &pos, usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (pos) {
        fprintf(stderr, "xtc_bench_sgemm: unexpected argument '%s'\n", pos);
        usage(stderr);
        return 2;
    }
    omp_set_num_threads((int)threads);
    openblas_set_num_threads((int)threads);
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "xtc_bench_sgemm: out of memory\n");
        return 1;
    }
    unsigned s = 1;
    for (size_t i = 0; i < nn; i++) {
        s = s * 1103515245u + 12345u;
        a[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
        s = s * 1103515245u + 12345u;
        b[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
    double best = 1e30, total = 0;
    for (long it = 0; it <= iters; it++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a, (int)n, b, (int)n,
                    0.0f, c, (int)n);
        double dt = now_s() - t0;
        if (it == 0)
            continue; /* warm-up */
        total += dt;
        if (dt < best)
            best = dt;
    }
    double flops = 2.0 * (double)n * (double)n * (double)n;
    printf("gflops_best=%.2f gflops_mean=%.2f ms_best=%.3f n=%ld threads=%ld check=%g\n", flops / best * 1e-9,
           flops / (total / (double)iters) * 1e-9, 1e3 * best, n, threads, (double)c[nn / 2]);
    free(a);
    free(b);
    free(c);
    return 0;
}
