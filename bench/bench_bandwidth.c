/* xtc_bench_bandwidth: the memory read bandwidth of this machine, the bound of a decoding step
 * that streams weights too large for the caches (bench.py's generation suite divides the bytes
 * a step reads by it).
 *
 *   xtc_bench_bandwidth [--mb M] [--iters K] [--threads T]
 *
 * Sums a buffer of M MiB (default 1024: far beyond any cache) as floats with T threads (default
 * 2), each thread reading its contiguous part, with vectorized 8-way accumulators; one warm-up
 * pass, then K timed passes (default 10); prints
 *   gbps_best=... gbps_mean=... mb=M threads=T
 * in 10^9 bytes per second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "bench_util.h"

#define PROG "xtc_bench_bandwidth"

static float sum_part(const float *restrict p, size_t n) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

int main(int argc, char **argv) {
    long mb = 1024, iters = 10, threads = 2;
    for (int i = 1; i < argc; i += 2) {
        long *dst = !strcmp(argv[i], "--mb") ? &mb : !strcmp(argv[i], "--iters") ? &iters
                  : !strcmp(argv[i], "--threads") ? &threads : NULL;
        if (!dst || bench_parse_int(PROG, argv[i], i + 1 < argc ? argv[i + 1] : NULL, 1, dst)) {
            fprintf(stderr, "usage: " PROG " [--mb M] [--iters K] [--threads T]\n");
            return 2;
        }
    }
    size_t n = (size_t)mb << 18; /* floats */
    float *buf = malloc(n * sizeof *buf);
    if (!buf) {
        fprintf(stderr, PROG ": cannot allocate %ld MiB\n", mb);
        return 1;
    }
#pragma omp parallel for num_threads((int)threads) schedule(static)
    for (size_t i = 0; i < n; i++) /* first touch by the thread that will read it */
        buf[i] = (float)(i & 7);
    double best = 1e30, total = 0, sink = 0;
    for (long it = 0; it <= iters; it++) {
        double t0 = bench_now(), s = 0;
#pragma omp parallel num_threads((int)threads) reduction(+ : s)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            size_t lo = n * (size_t)t / (size_t)nt, hi = n * (size_t)(t + 1) / (size_t)nt;
            s += sum_part(buf + lo, hi - lo);
        }
        double dt = bench_now() - t0;
        sink += s;
        if (it == 0)
            continue; /* warm-up */
        best = dt < best ? dt : best;
        total += dt;
    }
    double bytes = (double)n * sizeof *buf;
    printf("gbps_best=%.2f gbps_mean=%.2f mb=%ld threads=%ld%s\n", bytes / best / 1e9, bytes * (double)iters / total / 1e9,
           mb, threads, sink == -1 ? " " : ""); /* sink: keep the sums alive */
    free(buf);
    return 0;
}
