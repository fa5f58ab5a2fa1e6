/* Element types: sizes, safetensors names, contiguous views, and the
 * bfloat16 / float16 <-> float32 conversions.
 *
 * The narrowing conversions reproduce PyTorch's scalar CPU paths bit for bit
 * (c10/util/BFloat16.h round_to_nearest_even, c10/util/Half.h
 * fp16_ieee_from_fp32_value): round to nearest, ties to even; overflow gives
 * +-inf; fp16 subnormals are rounded once, directly from float32. NaNs become
 * the canonical quiet NaN PyTorch writes: 0x7FC0 for bfloat16 (sign dropped,
 * as c10 does), sign | 0x7E00 for float16.
 * Bits move through memcpy only (no pointer type punning). */
#include <stdint.h>
#include <string.h>

#include "xtc/tensor.h"

size_t xtc_dtype_size(enum xtc_dtype dtype) {
    switch (dtype) {
    case XTC_DTYPE_F64:
    case XTC_DTYPE_I64: return 8;
    case XTC_DTYPE_F32:
    case XTC_DTYPE_I32: return 4;
    case XTC_DTYPE_F16:
    case XTC_DTYPE_BF16:
    case XTC_DTYPE_I16: return 2;
    case XTC_DTYPE_I8:
    case XTC_DTYPE_U8:
    case XTC_DTYPE_BOOL: return 1;
    case XTC_DTYPE_COUNT: break;
    }
    return 0;
}

const char *xtc_dtype_name(enum xtc_dtype dtype) {
    switch (dtype) {
    case XTC_DTYPE_F32: return "F32";
    case XTC_DTYPE_F16: return "F16";
    case XTC_DTYPE_BF16: return "BF16";
    case XTC_DTYPE_F64: return "F64";
    case XTC_DTYPE_I64: return "I64";
    case XTC_DTYPE_I32: return "I32";
    case XTC_DTYPE_I16: return "I16";
    case XTC_DTYPE_I8: return "I8";
    case XTC_DTYPE_U8: return "U8";
    case XTC_DTYPE_BOOL: return "BOOL";
    case XTC_DTYPE_COUNT: break;
    }
    return "INVALID"; /* never NULL, so it is always safe to print */
}

/* An ndim outside [0, XTC_MAX_DIMS] yields ndim = -1 and data = NULL, which
 * every xtc function rejects, instead of writing past shape[]. Dimensions
 * past ndim are left at 0. */
struct xtc_tensor xtc_tensor_make(enum xtc_dtype dtype, int ndim, const int64_t *shape, void *data) {
    struct xtc_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    if (ndim < 0 || ndim > XTC_MAX_DIMS || (ndim > 0 && !shape)) {
        t.ndim = -1;
        return t;
    }
    t.ndim = ndim;
    t.data = data;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t.shape[i] = shape[i];
        t.stride[i] = stride;
        /* keep strides meaningful for empty dims; a shape whose element count overflows is invalid */
        if (__builtin_mul_overflow(stride, shape[i] > 0 ? shape[i] : 1, &stride)) {
            memset(&t, 0, sizeof t);
            t.dtype = dtype;
            t.ndim = -1;
            return t;
        }
    }
    return t;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---------------------------------------------------------------- bfloat16 */

float xtc_bf16_to_f32(uint16_t h) {
    return f32_from_bits((uint32_t)h << 16); /* exact, NaN payloads kept (as torch) */
}

uint16_t xtc_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return 0x7FC0; /* c10 round_to_nearest_even: any NaN -> 0x7FC0 */
    /* Adding 0x7FFF + lsb rounds to nearest even; a carry out of the mantissa
     * bumps the exponent, which turns values >= max + half ulp into inf. */
    uint32_t bias = 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)((u + bias) >> 16);
}

/* ---------------------------------------------------------------- float16 */

float xtc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    if (exp == 0x1F) /* inf, or NaN made quiet as F16C's vcvtph2ps and torch do */
        return f32_from_bits(sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0));
    if (exp != 0)
        return f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
    if (man == 0)
        return f32_from_bits(sign);
    /* subnormal man * 2^-24: normalise so the leading one becomes implicit */
    int shift = 0;
    while (!(man & 0x400u)) {
        man <<= 1;
        shift++;
    }
    return f32_from_bits(sign | ((uint32_t)(113 - shift) << 23) | ((man & 0x3FFu) << 13));
}

/* Rounds m >> shift to nearest, ties to even (0 < shift < 32). */
static uint32_t shift_rne(uint32_t m, int shift) {
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u)))
        q++;
    return q;
}

uint16_t xtc_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u)
        return (uint16_t)(sign | 0x7E00u); /* NaN */
    if (a >= 0x477FF000u)
        return (uint16_t)(sign | 0x7C00u); /* >= 65520 = 65504 + half ulp; the tie goes to even = inf */
    if (a >= 0x38800000u) {
        /* normal: rebias the exponent (127 -> 15) and round 23 -> 10 mantissa bits;
         * a mantissa carry moves into the exponent, as it should */
        return (uint16_t)(sign | shift_rne(a - (112u << 23), 13));
    }
    if (a < 0x33000000u)
        return sign; /* below 2^-25, half the smallest subnormal: rounds to zero */
    /* subnormal result: value = m * 2^(e - 150), wanted round(value * 2^24) = m >> (126 - e),
     * with e in [102, 112] so the shift is 14..24 */
    uint32_t e = a >> 23;
    uint32_t m = (a & 0x7FFFFFu) | 0x800000u;
    return (uint16_t)(sign | shift_rne(m, (int)(126u - e))); /* may round up to 0x0400, the smallest normal */
}
