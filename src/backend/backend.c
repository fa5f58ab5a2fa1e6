/* Backend selection: the process default (XTC_BACKEND, read once) and the reference switch
 * of xtc/backend.h. */
#include "backend/backend.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "xtc/backend.h"

/* 0: not read yet; else 1 + index in backends[] */
static const struct xtc_backend *const backends[] = {&xtc_backend_cpu, &xtc_backend_ref};
enum { N_BACKENDS = sizeof backends / sizeof backends[0] };

/* The default, from XTC_BACKEND the first time it is needed. Two threads may both read the
 * environment on the first calls: they store the same value. */
static atomic_int g_default;
/* xtc_backend_cpu_set_reference: 1 selects ref, 0 the default */
static atomic_bool g_use_reference;

static int default_index(void) {
    int d = atomic_load_explicit(&g_default, memory_order_relaxed);
    if (d)
        return d - 1;
    const char *e = getenv("XTC_BACKEND");
    int idx = 0;
    for (int i = 0; e && i < N_BACKENDS; i++)
        if (strcmp(e, backends[i]->name) == 0)
            idx = i;
    atomic_store_explicit(&g_default, idx + 1, memory_order_relaxed);
    return idx;
}

const struct xtc_backend *xtc_backend_get(void) {
    if (atomic_load_explicit(&g_use_reference, memory_order_relaxed))
        return &xtc_backend_ref;
    return backends[default_index()];
}

void xtc_backend_cpu_set_reference(int use_reference) {
    atomic_store_explicit(&g_use_reference, use_reference != 0, memory_order_relaxed);
}

const char *xtc_backend_name(void) { return xtc_backend_get()->name; }

size_t xtc_backend_attention_scratch(const struct xtc_attn_params *p, size_t *per_thread) {
    size_t total = 0, per = 0;
    for (int i = 0; i < N_BACKENDS; i++) {
        size_t n = backends[i]->attention_scratch(p), nt = (size_t)backends[i]->max_threads();
        total = n > total ? n : total;
        per = n / nt > per ? n / nt : per;
    }
    if (per_thread)
        *per_thread = per;
    return total;
}
