/* CPU backend threads: one thread budget for OpenMP and OpenBLAS, the team primitives of the
 * decoding step and the plain parallel loop (backend/backend.h). xtc links OpenBLAS's OpenMP
 * build, so BLAS calls made outside parallel regions use the same OpenMP pool; the BLAS count
 * is still pinned explicitly in case another build is loaded. */
#include <cblas.h>
#include <omp.h>

#include "backend/cpu/cpu.h"
#include "core/threads.h"
#include "xtc/backend.h"

void xtc_threads_set(int n) {
    if (n < 1)
        n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int xtc_threads_get(void) { return omp_get_max_threads(); }

int xtc_cpu_max_threads(void) { return omp_get_max_threads(); }

void xtc_cpu_parallel_for(int64_t n, bool parallel, xtc_range_fn fn, void *arg) {
    if (n <= 0)
        return;
    if (!parallel || n == 1 || omp_in_parallel()) { /* nested regions would get one thread anyway */
        fn(arg, 0, n, 0);
        return;
    }
#pragma omp parallel
    {
        int64_t lo, hi;
        int t = omp_get_thread_num();
        xtc_thread_range(n, omp_get_num_threads(), t, 1, &lo, &hi);
        if (lo < hi)
            fn(arg, lo, hi, t);
    }
}

void xtc_cpu_team_run(int n_threads, xtc_team_body body, void *arg) {
#pragma omp parallel num_threads(n_threads)
    {
        struct xtc_team team = {.thread = omp_get_thread_num(), .n_threads = omp_get_num_threads()};
        body(&team, arg);
    }
}

/* Orphaned worksharing loops: called from inside xtc_cpu_team_run's region, each binds to
 * its team (OpenMP 5.2, 11.5), which is what the one-region decoding step needs. */
void xtc_cpu_team_for(struct xtc_team *team, int64_t n, int schedule, xtc_team_index_fn fn, void *arg) {
    switch (schedule) {
    case XTC_FOR_DYNAMIC | XTC_FOR_NOWAIT:
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t i = 0; i < n; i++)
            fn(arg, i, team);
        break;
    case XTC_FOR_DYNAMIC:
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < n; i++)
            fn(arg, i, team);
        break;
    case XTC_FOR_STATIC | XTC_FOR_NOWAIT:
#pragma omp for schedule(static) nowait
        for (int64_t i = 0; i < n; i++)
            fn(arg, i, team);
        break;
    default:
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; i++)
            fn(arg, i, team);
        break;
    }
}

void xtc_cpu_team_barrier(struct xtc_team *team) {
    (void)team;
#pragma omp barrier
}
