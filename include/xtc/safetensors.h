/* xtc — safetensors files: a validating reader and an atomic writer.
 *
 * Format (version 1): u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "value", ...}}, then the data buffer.
 *
 * Files are untrusted. xtc_safetensors_open/parse validate everything before
 * any tensor is handed out: N against the file size, JSON syntax, every
 * entry's fields and types, dtype names, non-negative integral shapes, element
 * counts and byte sizes without 64-bit overflow, begin <= end <= buffer size,
 * (end - begin) == numel * dtype size, no duplicate names, no two tensors
 * overlapping, the tensors covering the data buffer exactly, and metadata
 * values being strings. No allocation is made from an unvalidated size. */
#ifndef XTC_SAFETENSORS_H
#define XTC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "xtc/export.h"
#include "xtc/status.h"
#include "xtc/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xtc_safetensors *xtc_safetensors_t;

/* One tensor of a file. `data` points into memory the handle owns (possibly
 * unaligned: read it with memcpy or the xtc_safetensors_read_* helpers). */
struct xtc_safetensors_entry {
    const char *name;
    enum xtc_dtype dtype;
    int ndim;
    int64_t shape[XTC_MAX_DIMS];
    uint64_t numel;
    uint64_t nbytes;
    const void *data;
};

/* Opens and validates a file. On success *out owns the file's contents until
 * xtc_safetensors_free. Errors: XTC_ERR_IO (cannot open/read), XTC_ERR_FORMAT
 * (any violation of the format; the message names the tensor and the field).
 * Thread safety: a handle may be read from several threads at once.
 * The file is mapped read-only (MAP_PRIVATE): truncating it on disk while the
 * handle is open can fault (SIGBUS) on the next read of its data. */
XTC_API xtc_status xtc_safetensors_open(xtc_safetensors_t *out, const char *path, struct xtc_error *err);

/* Same as open, from a buffer in memory (copied). Used by the fuzzer. */
XTC_API xtc_status xtc_safetensors_parse(xtc_safetensors_t *out, const void *buf, size_t len, struct xtc_error *err);

/* Frees the handle; NULL is allowed. */
XTC_API void xtc_safetensors_free(xtc_safetensors_t st);

/* Number of tensors (metadata excluded) and the i-th one, in file order. */
XTC_API size_t xtc_safetensors_count(const struct xtc_safetensors *st);
XTC_API const struct xtc_safetensors_entry *xtc_safetensors_entry(const struct xtc_safetensors *st, size_t i);

/* The tensor called name, or NULL. */
XTC_API const struct xtc_safetensors_entry *xtc_safetensors_find(const struct xtc_safetensors *st, const char *name);

/* The metadata value for key, or NULL. */
XTC_API const char *xtc_safetensors_metadata(const struct xtc_safetensors *st, const char *key);

/* Copies an entry's elements into dst (numel elements) converting to the
 * destination type: F32/F16/BF16/F64 -> float; I64/I32/I16/I8/U8/BOOL -> int64;
 * BOOL/U8 -> uint8 (bool). Mismatched kinds (e.g. float data into int64) are
 * XTC_ERR_FORMAT with a message naming the tensor and both dtypes. */
XTC_API xtc_status xtc_safetensors_read_f32(const struct xtc_safetensors_entry *e, float *dst, struct xtc_error *err);
XTC_API xtc_status xtc_safetensors_read_i64(const struct xtc_safetensors_entry *e, int64_t *dst, struct xtc_error *err);
XTC_API xtc_status xtc_safetensors_read_bool(const struct xtc_safetensors_entry *e, uint8_t *dst,
                                             struct xtc_error *err);

/* A tensor to write: contiguous row-major data of numel(shape) elements. */
struct xtc_safetensors_tensor {
    const char *name;
    enum xtc_dtype dtype;
    int ndim;
    int64_t shape[XTC_MAX_DIMS];
    const void *data;
};

/* Writes tensors (in the given order) and metadata pairs (meta_kv[2i] = key,
 * meta_kv[2i+1] = value) to path atomically: a temporary file in the same
 * directory, fsync, rename. The previous file at path survives any failure.
 * Errors: XTC_ERR_ARG (bad names/shapes, duplicates), XTC_ERR_IO. */
XTC_API xtc_status xtc_safetensors_write(const char *path, const struct xtc_safetensors_tensor *tensors,
                                         size_t n_tensors, const char *const *meta_kv, size_t n_meta,
                                         struct xtc_error *err);

#ifdef __cplusplus
}
#endif
#endif
