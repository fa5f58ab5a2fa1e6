/* The weights decoding steps read (xtc_model_set_decode_dtype): the fp32 parameter block
 * itself, a bfloat16 copy of it (same offsets), or int8 copies of its matrices (core/q8.h).
 * A decoding step is bound by reading the weights, so fewer bytes a weight is the speed-up;
 * prompt processing and training keep reading the fp32 block. */
#include <stdlib.h>

#include "core/alloc.h"
#include "core/q8.h"
#include "core/status.h"
#include "model/model.h"
#include "ops/ops.h"

static void point_stacks(struct xtc_model *m) {
    struct xtc_matvec_weights w = {.base = m->data, .bf16 = m->data_bf16, .q8 = m->q8, .n_q8 = m->n_q8};
    m->net.stack.decode_w = w;
    m->enc.stack.decode_w = w;
}

void xtc_model_drop_decode_weights(struct xtc_model *m) {
    free(m->data_bf16);
    free(m->q8);
    free(m->q8_values);
    free(m->q8_scales);
    m->data_bf16 = NULL, m->q8 = NULL, m->q8_values = NULL, m->q8_scales = NULL;
    m->n_q8 = 0;
    point_stacks(m);
}

/* the bfloat16 copy of parameters [lo, hi) */
static void to_bf16_range(void *arg, int64_t lo, int64_t hi, int tid) {
    struct xtc_model *m = arg;
    (void)tid;
    for (int64_t i = lo; i < hi; i++)
        m->data_bf16[i] = xtc_f32_to_bf16(m->data[i]);
}

static xtc_status make_bf16(struct xtc_model *m, struct xtc_error *err) {
    m->data_bf16 = xtc_alloc_large(sizeof(uint16_t) * (m->n_floats ? m->n_floats : 1));
    if (!m->data_bf16)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating a bfloat16 copy of %zu parameters", m->n_floats);
    const int64_t n = (int64_t)m->n_floats;
    xtc_backend_get()->parallel_for(n, n > 65536, to_bf16_range, m);
    return XTC_OK;
}

/* the rows of matrix i of the int8 copy, quantized by threads */
struct q8_job {
    struct xtc_model *m;
    const struct xtc_q8_matrix *mat;
    int bad; /* a row held inf or NaN */
};

static void q8_rows(void *arg, int64_t lo, int64_t hi, int tid) {
    struct q8_job *j = arg;
    const struct xtc_q8_matrix *x = j->mat;
    const int64_t nb = xtc_q8_blocks(x->cols);
    (void)tid;
    for (int64_t r = lo; r < hi; r++)
        if (!xtc_q8_quantize_row((int8_t *)x->q + r * x->cols, (float *)x->scale + r * nb,
                                 j->m->data + x->offset + r * x->cols, x->cols))
            __atomic_store_n(&j->bad, 1, __ATOMIC_RELAXED);
}

static int by_offset(const void *a, const void *b) {
    const int64_t x = ((const struct xtc_q8_matrix *)a)->offset, y = ((const struct xtc_q8_matrix *)b)->offset;
    return (x > y) - (x < y);
}

/* int8 copies of the trainable matrices (2-D parameters: the products' weights; vectors and
 * buffers are never read by a product). */
static xtc_status make_q8(struct xtc_model *m, struct xtc_error *err) {
    size_t values = 0, scales = 0;
    int n = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct xtc_param *p = &m->params[i];
        if (p->is_buffer || p->ndim != 2 || p->numel == 0)
            continue;
        n++;
        values += p->numel;
        scales += (size_t)p->shape[0] * (size_t)xtc_q8_blocks(p->shape[1]);
    }
    m->q8 = calloc((size_t)(n ? n : 1), sizeof *m->q8);
    m->q8_values = xtc_alloc_large(values ? values : 1);
    m->q8_scales = xtc_alloc_large(sizeof(float) * (scales ? scales : 1));
    if (!m->q8 || !m->q8_values || !m->q8_scales)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating an int8 copy of %zu weights", values);
    size_t at_v = 0, at_s = 0;
    for (int i = 0; i < m->n_params; i++) {
        const struct xtc_param *p = &m->params[i];
        if (p->is_buffer || p->ndim != 2 || p->numel == 0)
            continue;
        struct xtc_q8_matrix *x = &m->q8[m->n_q8++];
        *x = (struct xtc_q8_matrix){.offset = (int64_t)p->offset, .rows = p->shape[0], .cols = p->shape[1],
                                    .q = m->q8_values + at_v, .scale = m->q8_scales + at_s};
        at_v += p->numel;
        at_s += (size_t)p->shape[0] * (size_t)xtc_q8_blocks(p->shape[1]);
        struct q8_job job = {.m = m, .mat = x};
        xtc_backend_get()->parallel_for(x->rows, p->numel > 65536, q8_rows, &job);
        if (job.bad)
            XTC_FAIL(err, XTC_ERR_NUMERIC, "%s holds inf or NaN: it has no int8 form", p->name);
    }
    qsort(m->q8, (size_t)m->n_q8, sizeof *m->q8, by_offset); /* xtc_q8_find searches by offset */
    return XTC_OK;
}

xtc_status xtc_model_set_decode_dtype(xtc_model_t m, enum xtc_dtype dtype, struct xtc_error *err) {
    if (!m)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_model_set_decode_dtype: NULL model");
    if (dtype != XTC_DTYPE_F32 && dtype != XTC_DTYPE_BF16 && dtype != XTC_DTYPE_I8)
        XTC_FAIL(err, XTC_ERR_ARG, "decoding weights can be F32, BF16 or I8, not %s", xtc_dtype_name(dtype));
    xtc_model_drop_decode_weights(m);
    xtc_status st = XTC_OK;
    if (dtype == XTC_DTYPE_BF16)
        st = make_bf16(m, err);
    else if (dtype == XTC_DTYPE_I8)
        st = make_q8(m, err);
    if (st != XTC_OK)
        xtc_model_drop_decode_weights(m); /* as before the call: fp32 */
    point_stacks(m);
    return st;
}
