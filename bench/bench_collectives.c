/* Time of the collectives data-parallel training uses, on this job's transport: an all-reduce
 * of a model's gradients (replicated AdamW state), and the reduce-scatter + all-gather pair of
 * the sharded one (ZeRO-1). docs/SCALING.md uses the figures.
 *   mpirun -np N xtc_bench_collectives [FLOATS ...]   (default: the small GPT's and the 124M
 *   model's parameter counts)
 * Prints, per size, the best and the median of the rounds (after two warm-up rounds) and the
 * bus bandwidth of the best: 2 (N - 1) / N x bytes / time for the all-reduce, (N - 1) / N x
 * bytes / time for each half, the bytes a ring moves per rank. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* best and median seconds of `rounds` timed calls of op */
static void timeit(int op, float *buf, float *part, size_t n, int ranks, int rounds, double *best, double *median) {
    double *t = malloc(sizeof(double) * (size_t)rounds);
    int *counts = malloc(sizeof(int) * (size_t)ranks);
    for (int r = 0; r < ranks; r++)
        counts[r] = (int)(n / (size_t)ranks);
    for (int k = -2; k < rounds; k++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        if (op == 0)
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        else if (op == 1)
            MPI_Reduce_scatter(buf, part, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        else
            MPI_Allgather(part, counts[0], MPI_FLOAT, buf, counts[0], MPI_FLOAT, MPI_COMM_WORLD);
        double dt = MPI_Wtime() - t0;
        /* the slowest rank's time is the collective's */
        MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (k >= 0)
            t[k] = dt;
    }
    qsort(t, (size_t)rounds, sizeof(double), cmp);
    *best = t[0];
    *median = t[rounds / 2];
    free(t);
    free(counts);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    /* trainable parameters: the small GPT of the tests and the 124M model of bench/bench.py */
    size_t sizes[16] = {3349760, 162463488};
    int n_sizes = 2;
    if (argc > 1) {
        n_sizes = argc - 1 < 16 ? argc - 1 : 16;
        for (int i = 0; i < n_sizes; i++)
            sizes[i] = strtoull(argv[i + 1], NULL, 10);
    }
    if (rank == 0)
        printf("%d ranks; best / median of the timed rounds; bus GB/s of the best\n", ranks);
    for (int i = 0; i < n_sizes; i++) {
        size_t n = sizes[i] / (size_t)ranks * (size_t)ranks;
        float *buf = calloc(n, sizeof(float)), *part = calloc(n / (size_t)ranks, sizeof(float));
        if (!buf || !part) {
            fprintf(stderr, "out of memory for %zu floats\n", n);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        int rounds = n > 50000000 ? 5 : 20;
        static const char *names[] = {"all-reduce", "reduce-scatter", "all-gather"};
        for (int op = 0; op < 3; op++) {
            double best, median;
            timeit(op, buf, part, n, ranks, rounds, &best, &median);
            double bytes = (double)n * sizeof(float), f = (double)(ranks - 1) / ranks * (op == 0 ? 2 : 1);
            if (rank == 0)
                printf("%-14s %12zu floats (%7.1f MB): %10.3f ms best, %10.3f ms median, %6.2f GB/s bus\n", names[op], n,
                       bytes / 1e6, best * 1e3, median * 1e3, f * bytes / best / 1e9);
        }
        free(buf);
        free(part);
    }
    MPI_Finalize();
    return 0;
}
