/* safetensors writer: the header (exact integers, names checked), then the file
 * written atomically (io/atomic_file.c: temporary file, fsync, rename). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/atomic_file.h"
#include "io/safetensors_private.h"
#include "xtc/safetensors.h"

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Growable string for the header; `oom` latches the first allocation failure. */
struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n) {
    if (b->oom)
        return;
    if (n > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s) {
    sb_put(b, s, strlen(s));
}

/* A JSON string literal; s is valid UTF-8 (checked by the caller), so only quotes,
 * backslashes and control characters need escaping. */
static void sb_json_string(struct sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const char *q = s; *q; q++) {
        unsigned char c = (unsigned char)*q;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, q, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static xtc_status check_write_name(const char *s, const char *what, struct xtc_error *err) {
    if (!s)
        XTC_FAIL(err, XTC_ERR_ARG, "%s is NULL", what);
    size_t len = strlen(s);
    if (len == 0 || len > ST_MAX_NAME)
        XTC_FAIL(err, XTC_ERR_ARG, "%s \"%.200s\" must be 1 to %d bytes long", what, s, ST_MAX_NAME);
    if (xtc_safetensors_utf8_invalid_at((const uint8_t *)s, len) != len)
        XTC_FAIL(err, XTC_ERR_ARG, "%s \"%.200s\" is not valid UTF-8", what, s);
    return XTC_OK;
}

/* Names must be unique so that the file reads back (duplicates are a format error there). */
static xtc_status check_unique(const char **names, size_t n, const char *what, struct xtc_error *err) {
    if (n < 2)
        return XTC_OK;
    qsort(names, n, sizeof *names, cmp_str_ptr);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(names[i - 1], names[i]) == 0)
            XTC_FAIL(err, XTC_ERR_ARG, "duplicate %s \"%.200s\"", what, names[i]);
    }
    return XTC_OK;
}

/* Validates the arguments and builds the padded header; sizes[i] receives tensor i's byte size. */
static xtc_status build_header(struct sbuf *b, uint64_t *sizes, const char **scratch,
                               const struct xtc_safetensors_tensor *t, size_t n, const char *const *meta_kv,
                               size_t n_meta, struct xtc_error *err) {
    for (size_t i = 0; i < n_meta; i++) {
        XTC_TRY(check_write_name(meta_kv[2 * i], "metadata key", err));
        if (!meta_kv[2 * i + 1])
            XTC_FAIL(err, XTC_ERR_ARG, "metadata value of \"%.200s\" is NULL", meta_kv[2 * i]);
        size_t vlen = strlen(meta_kv[2 * i + 1]);
        if (xtc_safetensors_utf8_invalid_at((const uint8_t *)meta_kv[2 * i + 1], vlen) != vlen)
            XTC_FAIL(err, XTC_ERR_ARG, "metadata value of \"%.200s\" is not valid UTF-8", meta_kv[2 * i]);
        scratch[i] = meta_kv[2 * i];
    }
    XTC_TRY(check_unique(scratch, n_meta, "metadata key", err));

    char num[48], sh[160];
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        XTC_TRY(check_write_name(t[i].name, "tensor name", err));
        if (strcmp(t[i].name, ST_META_KEY) == 0)
            XTC_FAIL(err, XTC_ERR_ARG, "a tensor cannot be named \"" ST_META_KEY "\"");
        if ((unsigned)t[i].dtype >= XTC_DTYPE_COUNT)
            XTC_FAIL(err, XTC_ERR_ARG, TQ "invalid dtype %d", t[i].name, (int)t[i].dtype);
        if (t[i].ndim < 0 || t[i].ndim > XTC_MAX_DIMS)
            XTC_FAIL(err, XTC_ERR_ARG, TQ "ndim %d outside [0, %d]", t[i].name, t[i].ndim, XTC_MAX_DIMS);
        uint64_t numel = 1, nbytes, end;
        for (int d = 0; d < t[i].ndim; d++) {
            if (t[i].shape[d] < 0 || (uint64_t)t[i].shape[d] > ST_MAX_U53)
                XTC_FAIL(err, XTC_ERR_ARG, TQ "shape %s: dims must be in [0, 2^53]", t[i].name,
                         xtc_safetensors_fmt_shape(sh, sizeof sh, t[i].shape, t[i].ndim));
            if (__builtin_mul_overflow(numel, (uint64_t)t[i].shape[d], &numel))
                XTC_FAIL(err, XTC_ERR_ARG, TQ "shape %s has more than 2^64 elements", t[i].name,
                         xtc_safetensors_fmt_shape(sh, sizeof sh, t[i].shape, t[i].ndim));
        }
        if (__builtin_mul_overflow(numel, (uint64_t)xtc_dtype_size(t[i].dtype), &nbytes) || nbytes > SIZE_MAX ||
            __builtin_add_overflow(offset, nbytes, &end) || end > ST_MAX_U53)
            XTC_FAIL(err, XTC_ERR_ARG, TQ "tensor data too large", t[i].name);
        if (!t[i].data && nbytes > 0)
            XTC_FAIL(err, XTC_ERR_ARG, TQ "data is NULL", t[i].name);
        sizes[i] = nbytes;
        scratch[i] = t[i].name;
        offset += nbytes;
    }
    XTC_TRY(check_unique(scratch, n, "tensor name", err));

    sb_put(b, "{", 1);
    if (n_meta > 0) {
        sb_str(b, "\"" ST_META_KEY "\":{");
        for (size_t i = 0; i < n_meta; i++) {
            if (i)
                sb_put(b, ",", 1);
            sb_json_string(b, meta_kv[2 * i]);
            sb_put(b, ":", 1);
            sb_json_string(b, meta_kv[2 * i + 1]);
        }
        sb_put(b, "}", 1);
    }
    offset = 0;
    for (size_t i = 0; i < n; i++) {
        if (i || n_meta > 0)
            sb_put(b, ",", 1);
        sb_json_string(b, t[i].name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, xtc_dtype_name(t[i].dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            /* integers printed exactly, not through cJSON's double formatting */
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t[i].shape[d]);
            sb_str(b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset, offset + sizes[i]);
        sb_str(b, num);
        offset += sizes[i];
    }
    sb_put(b, "}", 1);
    /* spaces so that 8 + N is a multiple of 8, like the Python writer */
    while (!b->oom && (8 + b->len) % 8 != 0)
        sb_put(b, " ", 1);
    if (b->oom)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory for the header");
    if (b->len > ST_MAX_HEADER)
        XTC_FAIL(err, XTC_ERR_ARG, "header would be %zu bytes, more than readers accept (%" PRIu64 ")", b->len,
                 ST_MAX_HEADER);
    return XTC_OK;
}

static xtc_status write_file(const char *path, const struct sbuf *hdr, const struct xtc_safetensors_tensor *t,
                             const uint64_t *sizes, size_t n, struct xtc_error *err) {
    struct xtc_chunk *chunks = malloc(sizeof *chunks * (n + 2));
    if (!chunks)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the write list of %zu tensors", n);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)hdr->len >> (8 * i));
    chunks[0] = (struct xtc_chunk){len8, 8};
    chunks[1] = (struct xtc_chunk){hdr->p, hdr->len};
    for (size_t i = 0; i < n; i++)
        chunks[2 + i] = (struct xtc_chunk){t[i].data, (size_t)sizes[i]};
    xtc_status rc = xtc_write_chunks_atomic(path, chunks, n + 2, err);
    free(chunks);
    return rc;
}

xtc_status xtc_safetensors_write(const char *path, const struct xtc_safetensors_tensor *tensors, size_t n_tensors,
                                 const char *const *meta_kv, size_t n_meta, struct xtc_error *err) {
    if (!path || !*path || (!tensors && n_tensors > 0) || (!meta_kv && n_meta > 0))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_safetensors_write: NULL argument");
    size_t n_scratch = n_tensors > n_meta ? n_tensors : n_meta;
    /* sizes, names and the write list (two chunks more than tensors) must have countable sizes */
    if (n_tensors > SIZE_MAX / sizeof(struct xtc_chunk) - 2 || n_scratch > SIZE_MAX / sizeof(char *) ||
        n_meta > SIZE_MAX / 2)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_safetensors_write: %zu tensors and %zu metadata pairs are too many", n_tensors,
                 n_meta);
    uint64_t *sizes = malloc((n_tensors ? n_tensors : 1) * sizeof *sizes);
    const char **scratch = malloc((n_scratch ? n_scratch : 1) * sizeof *scratch);
    struct sbuf hdr = {0};
    xtc_status rc;
    if (!sizes || !scratch)
        rc = xtc_error_set(err, XTC_ERR_NOMEM, "out of memory for %zu tensors", n_tensors);
    else
        rc = build_header(&hdr, sizes, scratch, tensors, n_tensors, meta_kv, n_meta, err);
    if (rc == XTC_OK)
        rc = write_file(path, &hdr, tensors, sizes, n_tensors, err);
    free(hdr.p);
    free(scratch);
    free(sizes);
    return rc;
}
