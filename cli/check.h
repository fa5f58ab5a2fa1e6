/* xtc check internals (CLI-private): one case at a time, one call at a time. */
#ifndef XTC_CLI_CHECK_H
#define XTC_CLI_CHECK_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "xtc/xtc.h"

#define MAX_CALL_TENSORS 64

struct check {
    const char *name;
    cJSON *root;
    xtc_safetensors_t io;
    xtc_model_t model;
    double atol, rtol;
    double grad_atol, grad_rtol; /* grad cases */
    bool grad;
    double worst;
    char worst_at[160];
    int n_compared;
    char skipped[512];
    void *owned[MAX_CALL_TENSORS * 16]; /* buffers of the current call */
    int n_owned;
    char msg[1024];
};

enum kind { K_F32, K_I64, K_BOOL };

/* Records a failure message; returns 1. */
int check_fail(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds "what" to the case's list of things not yet checked. */
void check_note_skip(struct check *c, const char *what);
/* A zeroed buffer freed when the current call ends; NULL when out of memory. */
void *check_own(struct check *c, size_t bytes);
const struct xtc_safetensors_entry *check_io_entry(struct check *c, int call, const char *part, const char *name);
/* Fetches callK.in.NAME of kind k and rank ndim (dims of -1 in shape are free). */
int check_input(struct check *c, int call, const char *name, enum kind k, int ndim, const int64_t *shape,
                const struct xtc_safetensors_entry **entry, void **data);
/* Compares floats with callK.out.NAME under the case's tolerance. */
int check_compare(struct check *c, int call, const char *name, const float *got, int ndim, const int64_t *shape);
/* Compares floats with callK.PART.NAME (PART: out, grad, grad_in) under atol/rtol. */
int check_compare_tol(struct check *c, int call, const char *part, const char *name, const float *got, int ndim,
                      const int64_t *shape, double atol, double rtol);
/* Integer outputs (generated tokens) must match exactly. */
int check_compare_i64(struct check *c, int call, const char *name, const int64_t *got, int64_t n);

/* Runs one case from its parts: case.json's text, io.safetensors (owned by c from here) and
 * model.safetensors (only read). 0 when every output matched; 1 with the message in c->msg.
 * check_free_case releases what the case holds. */
int check_case_parts(struct check *c, const char *text, size_t len, xtc_safetensors_t io,
                     const struct xtc_safetensors *weights);
void check_free_case(struct check *c);

int check_model_call(struct check *c, const cJSON *call, int K);
int check_function_call(struct check *c, const cJSON *model, const cJSON *call, int K);

#endif
