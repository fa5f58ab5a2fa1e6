/* CPU backend settings: one thread budget for OpenMP and OpenBLAS, and the
 * reference-kernel switch. xtc links OpenBLAS's OpenMP build,
 * so BLAS calls made outside parallel regions use the same OpenMP pool; the
 * BLAS count is still pinned explicitly in case another build is loaded. */
#include <cblas.h>
#include <omp.h>
#include <stdatomic.h>

#include "core/backend.h"
#include "xtc/backend.h"

void xtc_threads_set(int n) {
    if (n < 1)
        n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int xtc_threads_get(void) { return omp_get_max_threads(); }

/* Reference-kernel switch: read on every dispatch, written rarely (tests, debugging). Atomic so
 * that setting it while other threads run models is not a data race; a relaxed load is an
 * ordinary load on the machines xtc targets, so dispatch costs the same. */
static atomic_bool g_use_reference;

void xtc_backend_cpu_set_reference(int use_reference) {
    atomic_store_explicit(&g_use_reference, use_reference != 0, memory_order_relaxed);
}

bool xtc_cpu_reference(void) { return atomic_load_explicit(&g_use_reference, memory_order_relaxed); }
