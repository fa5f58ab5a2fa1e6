/* libFuzzer target for the safetensors reader: parse arbitrary bytes, and when
 * they are accepted, read every entry back through the typed helpers into
 * buffers sized from the validated entry. Any crash, sanitizer report, leak,
 * or a rejection without a message is a bug.
 *
 * Build with -DXTC_FUZZ=ON (clang), or by hand:
 *   clang -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc tests/fuzz/fuzz_safetensors.c
 *         src/io/safetensors.c src/core/status.c src/core/dtype.c -lcjson -lm
 * Seed it with the golden and bad safetensors files (tests/golden, tests/bad). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xtc/safetensors.h"

static void read_entry(const struct xtc_safetensors *st, const struct xtc_safetensors_entry *e) {
    if (xtc_safetensors_find(st, e->name) != e)
        __builtin_trap();
    /* numel * 8 <= 8 * file size: validated sizes only */
    size_t n = e->numel ? (size_t)e->numel : 1;
    float *f = malloc(n * sizeof *f);
    int64_t *i = malloc(n * sizeof *i);
    uint8_t *b = malloc(n * sizeof *b);
    if (f && i && b) {
        struct xtc_error err;
        /* each reader either converts or rejects the dtype with a message */
        int ok = 0;
        err.msg[0] = '\0';
        if (xtc_safetensors_read_f32(e, f, &err) == XTC_OK)
            ok++;
        else if (!err.msg[0])
            __builtin_trap();
        err.msg[0] = '\0';
        if (xtc_safetensors_read_i64(e, i, &err) == XTC_OK)
            ok++;
        else if (!err.msg[0])
            __builtin_trap();
        err.msg[0] = '\0';
        if (xtc_safetensors_read_bool(e, b, &err) == XTC_OK)
            ok++;
        else if (!err.msg[0])
            __builtin_trap();
        if (ok == 0)
            __builtin_trap(); /* every valid dtype has at least one reader */
    }
    free(f);
    free(i);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    xtc_safetensors_t st = NULL;
    struct xtc_error err;
    err.msg[0] = '\0';
    xtc_status rc = xtc_safetensors_parse(&st, data, size, &err);
    if (rc != XTC_OK) {
        if (st || !err.msg[0] || (rc != XTC_ERR_FORMAT && rc != XTC_ERR_NOMEM))
            __builtin_trap();
        return 0;
    }
    for (size_t k = 0; k < xtc_safetensors_count(st); k++)
        read_entry(st, xtc_safetensors_entry(st, k));
    if (xtc_safetensors_entry(st, xtc_safetensors_count(st)) != NULL)
        __builtin_trap();
    const char *v = xtc_safetensors_metadata(st, "format");
    if (v)
        (void)strlen(v);
    xtc_safetensors_free(st);
    return 0;
}
