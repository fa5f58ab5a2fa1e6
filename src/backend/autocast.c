/* The per-thread mixed-precision state and its scratch (backend/autocast.h). */
#include "backend/autocast.h"

#include <stdlib.h>

#include <stdatomic.h>

#include "backend/cpu/matmul_dnnl.h"
#include "core/alloc.h"

static atomic_int g_forced = -1;

enum xtc_autocast_path xtc_autocast_path_default(void) {
    int f = atomic_load(&g_forced);
    if (f >= 0)
        return (enum xtc_autocast_path)f;
    return xtc_dnnl_bf16_native() ? XTC_AUTOCAST_DNNL_BF16 : XTC_AUTOCAST_EMULATED;
}

void xtc_autocast_force_path(int path) { atomic_store(&g_forced, path < 0 ? -1 : path); }

static _Thread_local struct xtc_autocast *g_current;

struct xtc_autocast *xtc_autocast_get(void) { return g_current; }

struct xtc_autocast *xtc_autocast_set(struct xtc_autocast *ac) {
    struct xtc_autocast *old = g_current;
    g_current = ac;
    return old;
}

void *xtc_autocast_scratch(struct xtc_autocast *a, size_t bytes) {
    if (bytes <= a->scratch_bytes)
        return a->scratch;
    free(a->scratch);
    a->scratch = xtc_alloc_large(bytes);
    a->scratch_bytes = a->scratch ? bytes : 0;
    return a->scratch;
}

void xtc_autocast_release(struct xtc_autocast *a) {
    free(a->scratch);
    a->scratch = NULL;
    a->scratch_bytes = 0;
}
