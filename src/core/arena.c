/* Bump allocator (see arena.h). */
#include "core/arena.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define ARENA_ALIGN 64

/* XTC_ARENA_POISON, read from the environment once per process (at the first commit), not on
 * every call: -1 until read, then 0 or 1. Two threads committing first may both read it; they
 * store the same value, so a relaxed atomic is enough. */
static atomic_int g_poison = -1;

static bool poison_enabled(void) {
    int v = atomic_load_explicit(&g_poison, memory_order_relaxed);
    if (v < 0) {
        v = getenv("XTC_ARENA_POISON") != NULL;
        atomic_store_explicit(&g_poison, v, memory_order_relaxed);
    }
    return v != 0;
}

void xtc_arena_measure(struct xtc_arena *a) {
    a->measuring = true;
    a->overflow = false;
    a->used = 0;
}

xtc_status xtc_arena_commit(struct xtc_arena *a, struct xtc_error *err) {
    size_t need = a->used;
    a->measuring = false;
    a->used = 0;
    if (a->overflow)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory: the activations of this call need more than %zu bytes",
                 (size_t)SIZE_MAX);
    if (need <= a->cap) {
        if (a->base && poison_enabled())
            memset(a->base, 0xff, a->cap); /* NaN everywhere: reads before writes show up */
        return XTC_OK;
    }
    free(a->base);
    a->base = aligned_alloc(ARENA_ALIGN, (need + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
    a->cap = a->base ? need : 0;
    if (a->base && poison_enabled())
        memset(a->base, 0xff, a->cap);
    if (!a->base)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating %zu bytes of activations", need);
    return XTC_OK;
}

float *xtc_arena_floats(struct xtc_arena *a, size_t n) {
    /* Each request is bounded by the call's validated sizes, but a deep stack sums thousands of
     * them: a total that wraps would plan a small block, so it saturates and commit refuses it. */
    size_t bytes, at = a->used;
    if (n > (SIZE_MAX - ARENA_ALIGN) / sizeof(float) ||
        __builtin_add_overflow(a->used, (n * sizeof(float) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN, &bytes)) {
        a->overflow = true;
        a->used = SIZE_MAX;
        return NULL;
    }
    a->used = bytes;
    if (a->measuring || !a->base)
        return NULL;
    return (float *)(a->base + at);
}

void xtc_arena_free(struct xtc_arena *a) {
    free(a->base);
    *a = (struct xtc_arena){0};
}
