/* libFuzzer target for .npy arrays (`xtc forward --input FILE.npy`, cli/npy.c): arbitrary bytes
 * through the parser. Besides crashes and sanitizer reports, it checks what acceptance
 * promises: a message on every refusal, at most 8 dimensions, and as many float32 / float64
 * values after the header as the shape says (so the floats returned are all of the file's).
 * Seeds: tests/fuzz/corpus/npy (numpy.save of small arrays). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int64_t shape[8];
    int ndim = -1;
    char err[512] = "";
    float *x = xtc_cli_parse_npy((const char *)data, size, "fuzz.npy", shape, &ndim, err, sizeof err);
    if (!x) {
        TRAP_UNLESS(err[0]);
        return 0;
    }
    TRAP_UNLESS(ndim >= 0 && ndim <= 8);
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        TRAP_UNLESS(shape[d] >= 0);
        n *= (uint64_t)shape[d];
    }
    /* the data: the last n * 4 or n * 8 bytes of the input */
    TRAP_UNLESS(n * 4 < size || n == 0);
    volatile float sink = 0;
    for (uint64_t i = 0; i < n; i++)
        sink += x[i]; /* every value readable (ASan checks the allocation) */
    (void)sink;
    free(x);
    return 0;
}
