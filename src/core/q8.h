/* The int8 weight format of decoding (xtc_model_set_decode_dtype XTC_DTYPE_I8): each row
 * of a matrix is cut into blocks of XTC_Q8_BLOCK weights from the row's start (the last one
 * may be short), and a block is stored as int8 values q with one fp32 scale
 * s = max|w| / 127, w ~ s q rounded to nearest: a weight's error is at most s / 2. */
#ifndef XTC_CORE_Q8_H
#define XTC_CORE_Q8_H

#include <stdbool.h>
#include <stdint.h>

#define XTC_Q8_BLOCK 32

/* the blocks of a row of cols weights */
static inline int64_t xtc_q8_blocks(int64_t cols) { return (cols + XTC_Q8_BLOCK - 1) / XTC_Q8_BLOCK; }

/* Quantizes one row: q[cols], scale[xtc_q8_blocks(cols)]. False when the row holds inf or
 * NaN (no scale represents them). */
bool xtc_q8_quantize_row(int8_t *q, float *scale, const float *w, int64_t cols);

#endif
