/* Large blocks on huge pages. Decoding streams every weight once per token: with 4 KiB
 * pages a 13 MB model spans 3,300 pages, more than the TLB holds, and each step walks the
 * page tables again (measured: a decoding step at half the speed of the same products on
 * huge pages). Linux's default THP mode is `madvise`, so the advice is needed. */
#define _DEFAULT_SOURCE
#include "core/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((size_t)2 << 20)

void *xtc_alloc_large(size_t bytes) {
    if (bytes == 0)
        bytes = 1;
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : 64;
    if (bytes > SIZE_MAX - align)
        return NULL;
    size_t n = (bytes + align - 1) / align * align;
    void *p = aligned_alloc(align, n);
    if (!p)
        return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == HUGE_PAGE)
        (void)madvise(p, n, MADV_HUGEPAGE); /* advice only: without THP the pages stay small */
#endif
    memset(p, 0, n); /* first touch after the advice, so the kernel can fault in huge pages */
    return p;
}
