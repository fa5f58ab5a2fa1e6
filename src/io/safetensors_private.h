/* safetensors internals shared by the reader and the writer (private). */
#ifndef XTC_SAFETENSORS_PRIVATE_H
#define XTC_SAFETENSORS_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* same order as safetensors' 100 MB limit */
#define ST_MAX_NAME   1024
#define ST_MAX_INT    9007199254740992.0 /* 2^53: the largest range where doubles hold every integer */
#define ST_MAX_U53    ((uint64_t)1 << 53)
#define ST_META_KEY   "__metadata__"

/* Prefix of every per-tensor message; names are cut so the reason still fits in the message. */
#define TQ "tensor \"%.200s\": "

/* Offset of the first byte that is not well-formed UTF-8 (overlongs and surrogates excluded,
 * as Rust's from_utf8), or n when all of s is valid. */
size_t xtc_safetensors_utf8_invalid_at(const uint8_t *s, size_t n);

/* "[a, b, c]" into buf. */
const char *xtc_safetensors_fmt_shape(char *buf, size_t cap, const int64_t *shape, int ndim);

#endif
