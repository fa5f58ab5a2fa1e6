/* libFuzzer target for xtc check's case files as a whole: the input is case.json, io.safetensors
 * and model.safetensors joined by PART (below), run through check_case_parts as `xtc check`
 * runs a case directory: the strict JSON check, the case's fields, the model (configuration and
 * weights), every call's kwargs, inputs and outputs, the calls themselves, the comparisons.
 * Mismatches are expected (the fuzzer changes numbers); a crash, sanitizer report, leak or a
 * failure without a message is a bug. Size cap: cases with more than 64 KiB of inputs or
 * 128 KiB of weights, or a number above 1024 in the model or above 64 in the
 * calls (lengths, beams, tokens to generate), are skipped, so the fuzzer's time goes to
 * parsing rather than to large computations. Seeds: tests/fuzz/corpus/case, made by scripts/make_fuzz_seeds.py. */
#define _GNU_SOURCE /* memmem */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xtc/xtc.h"

static const char PART[] = "\n--xtc-case-part--\n";

static const uint8_t *find(const uint8_t *p, size_t n, size_t *at) {
    const uint8_t *q = memmem(p, n, PART, sizeof PART - 1);
    if (q)
        *at = (size_t)(q - p);
    return q ? q + sizeof PART - 1 : NULL;
}

/* A number above cap in j or below it (NULL: none). */
static int too_big(const cJSON *j, double cap) {
    if (!j)
        return 0;
    if (cJSON_IsNumber(j) && !(j->valuedouble <= cap))
        return 1;
    for (const cJSON *c = j->child; c; c = c->next)
        if (too_big(c, cap))
            return 1;
    return 0;
}

static void quiet(enum xtc_log_level level, const char *msg, void *user) {
    (void)level, (void)msg, (void)user;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t a, b;
    const uint8_t *io = find(data, size, &a);
    const uint8_t *model = io ? find(io, size - (size_t)(io - data), &b) : NULL;
    if (!model)
        return 0;
    size_t io_len = b, model_len = size - (size_t)(model - data);
    if (io_len > 65536 || model_len > 131072)
        return 0;
    cJSON *j = cJSON_ParseWithLength((const char *)data, a);
    int skip = !j || too_big(cJSON_GetObjectItemCaseSensitive(j, "model"), 1024) ||
               too_big(cJSON_GetObjectItemCaseSensitive(j, "calls"), 64);
    cJSON_Delete(j);
    if (skip && j)
        return 0;
    xtc_log_set(quiet, NULL);
    struct xtc_error err = {0};
    xtc_safetensors_t io_st = NULL, weights = NULL;
    if (xtc_safetensors_parse(&io_st, io, io_len, &err) != XTC_OK ||
        xtc_safetensors_parse(&weights, model, model_len, &err) != XTC_OK) {
        if (!err.msg[0])
            __builtin_trap();
        xtc_safetensors_free(io_st);
        return 0;
    }
    struct check c;
    memset(&c, 0, sizeof c);
    c.name = "fuzz";
    if (check_case_parts(&c, (const char *)data, a, io_st, weights) != 0 && !c.msg[0])
        __builtin_trap();
    check_free_case(&c);
    xtc_safetensors_free(weights);
    return 0;
}
