/* Allocation of large, long-lived blocks (private): parameters and their bf16 copy,
 * gradients, optimiser state. */
#ifndef XTC_CORE_ALLOC_H
#define XTC_CORE_ALLOC_H

#include <stddef.h>

/* Zeroed memory, 64-byte aligned, and backed by transparent huge pages where the kernel
 * offers them (2 MiB aligned and advised with MADV_HUGEPAGE). Free with free(). NULL when
 * out of memory. */
void *xtc_alloc_large(size_t bytes);

#endif
