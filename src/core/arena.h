/* Bump allocator for activations. With XTC_ARENA_POISON set in the environment every
 * commit fills the arena with NaN bytes, so that a read before a write shows (the
 * sanitizer test run sets it). The variable is read once per process, at the first
 * commit; changing the environment later has no effect. A forward pass first runs its allocation
 * sequence against a measuring arena (base == NULL) to learn the size, reserves
 * once, then allocates for real: no malloc inside the computation.
 */
#ifndef XTC_ARENA_H
#define XTC_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include "xtc/status.h"

struct xtc_arena {
    char *base;
    size_t cap, used;
    bool measuring;
    bool overflow; /* the measured sizes did not fit in size_t: commit fails */
};

/* Starts a measuring pass: allocations only count bytes. */
void xtc_arena_measure(struct xtc_arena *a);
/* Ensures capacity for the measured size (grows, never shrinks) and rewinds. XTC_ERR_NOMEM
 * when the allocation fails or the measured total overflowed. */
xtc_status xtc_arena_commit(struct xtc_arena *a, struct xtc_error *err);
/* 64-byte aligned floats; NULL while measuring. */
float *xtc_arena_floats(struct xtc_arena *a, size_t n);
void xtc_arena_free(struct xtc_arena *a);

#endif
