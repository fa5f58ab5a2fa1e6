/* xtc — element types and strided tensor views.
 *
 * A struct xtc_tensor never owns its data: it is a view (dtype, shape,
 * strides in elements, pointer) over memory owned by someone else. */
#ifndef XTC_TENSOR_H
#define XTC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "xtc/export.h"

#ifdef __cplusplus
extern "C" {
#endif

enum xtc_dtype {
    XTC_DTYPE_F32,
    XTC_DTYPE_F16,
    XTC_DTYPE_BF16,
    XTC_DTYPE_F64,
    XTC_DTYPE_I64,
    XTC_DTYPE_I32,
    XTC_DTYPE_I16,
    XTC_DTYPE_I8,
    XTC_DTYPE_U8,
    XTC_DTYPE_BOOL,
    XTC_DTYPE_COUNT
};

#define XTC_MAX_DIMS 8

struct xtc_tensor {
    enum xtc_dtype dtype;
    int ndim;
    int64_t shape[XTC_MAX_DIMS];
    int64_t stride[XTC_MAX_DIMS]; /* in elements, not bytes */
    void *data;
};

/* Bytes per element (BOOL is one byte). 0 for an invalid dtype. */
XTC_API size_t xtc_dtype_size(enum xtc_dtype dtype);
/* safetensors name of a dtype ("F32", "BF16", "BOOL", ...). */
XTC_API const char *xtc_dtype_name(enum xtc_dtype dtype);

/* Contiguous (row-major) view of data with the given shape. An invalid request (ndim outside
 * 0..XTC_MAX_DIMS, shape NULL, or more elements than int64 counts) gives ndim -1. */
XTC_API struct xtc_tensor xtc_tensor_make(enum xtc_dtype dtype, int ndim, const int64_t *shape, void *data);

/* Half-precision conversions. Widening is exact; narrowing rounds to nearest even
 * (NaN stays NaN, overflow becomes infinity), as PyTorch's .to(dtype) does. */
XTC_API float xtc_bf16_to_f32(uint16_t h);
XTC_API uint16_t xtc_f32_to_bf16(float f);
XTC_API float xtc_f16_to_f32(uint16_t h);
XTC_API uint16_t xtc_f32_to_f16(float f);

#ifdef __cplusplus
}
#endif
#endif
