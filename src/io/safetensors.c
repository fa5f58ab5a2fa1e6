/* safetensors files (format version 1): the validating reader.
 *
 * Layout: u64 little-endian header length N | N bytes of UTF-8 JSON | data buffer.
 * The writer is in safetensors_write.c.
 * Files are untrusted. Every size and offset read from a file is checked with
 * overflow-safe arithmetic against the file size before anything is allocated
 * from it or any tensor is handed out (the checks gguf.cpp does and llama2.c's
 * read_checkpoint doesn't). The JSON goes through cJSON, which keeps numbers as
 * doubles: integers are accepted only when integral and <= 2^53, where a
 * double is exact, so no value is silently rounded into range.
 *
 * Reference: huggingface/safetensors (Rust) `Metadata::validate`; this reader
 * is stricter in two places: duplicate keys (serde keeps the last one) and
 * unknown fields inside an entry are errors. */
#define _POSIX_C_SOURCE 200809L

#include "xtc/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/status.h"
#include "io/safetensors_private.h"

/* Tensor data is little-endian and is copied out with memcpy, so the host must
 * be little-endian too; a big-endian port would byte-swap in the readers. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "xtc's safetensors reader assumes a little-endian host"
#endif
_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE binary32/binary64 expected");


struct xtc_safetensors {
    uint8_t *file;       /* whole file: an mmap'd view or a malloc'd copy */
    size_t file_size;
    int mapped;
    cJSON *root;         /* owns the names and metadata strings */
    const cJSON *meta;   /* the "__metadata__" object, or NULL */
    size_t n;
    struct xtc_safetensors_entry *entries;        /* file order */
    const struct xtc_safetensors_entry **by_name; /* sorted by strcmp, for bsearch */
};

// --- small helpers

/* Offset of the first byte that is not well-formed UTF-8 (overlongs and
 * surrogates excluded, as Rust's from_utf8), or n when all of s is valid. */
size_t xtc_safetensors_utf8_invalid_at(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (n - i < len)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

static int is_json_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int dtype_from_name(const char *s, enum xtc_dtype *out) {
    for (int d = 0; d < XTC_DTYPE_COUNT; d++) {
        if (strcmp(s, xtc_dtype_name((enum xtc_dtype)d)) == 0) {
            *out = (enum xtc_dtype)d;
            return 1;
        }
    }
    return 0;
}

static const char *json_kind(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "not a JSON value";
}

/* Reads a non-negative integer <= 2^53. On failure returns why, for the message. */
static const char *json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v))
        return "not a number";
    double d = v->valuedouble;
    if (d != d)
        return "not a number";
    if (d < 0)
        return "negative";
    if (!(d <= ST_MAX_INT))
        return "larger than 2^53";
    uint64_t u = (uint64_t)d;
    if ((double)u != d)
        return "not an integer";
    *out = u;
    return NULL;
}

/* "[64, 31]" into buf (truncated if needed; shapes have at most 8 dims). */
const char *xtc_safetensors_fmt_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t at = 0;
    buf[0] = '\0';
    at += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (at < cap)
        snprintf(buf + at, cap - at, "]");
    return buf;
}

/* Exact integers (|d| <= 2^53) in full, where %g would round them; others as %.17g. */
static const char *fmt_num(char *buf, size_t cap, double d) {
    if (d >= -ST_MAX_INT && d <= ST_MAX_INT && d == (double)(long long)d)
        snprintf(buf, cap, "%lld", (long long)d);
    else
        snprintf(buf, cap, "%.17g", d);
    return buf;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_entry_name(const void *a, const void *b) {
    const struct xtc_safetensors_entry *x = *(const struct xtc_safetensors_entry *const *)a;
    const struct xtc_safetensors_entry *y = *(const struct xtc_safetensors_entry *const *)b;
    return strcmp(x->name, y->name);
}

// --- header validation

struct span {
    uint64_t begin, end;
    const char *name;
};

static int cmp_span(const void *a, const void *b) {
    const struct span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static xtc_status parse_metadata(struct xtc_safetensors *st, const cJSON *m, struct xtc_error *err) {
    if (st->meta)
        XTC_FAIL(err, XTC_ERR_FORMAT, "header holds \"" ST_META_KEY "\" twice");
    if (!cJSON_IsObject(m))
        XTC_FAIL(err, XTC_ERR_FORMAT, ST_META_KEY " must be an object of strings, got %s", json_kind(m));
    st->meta = m;
    size_t n = 0;
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!c->string)
            XTC_FAIL(err, XTC_ERR_FORMAT, ST_META_KEY " holds an entry without a key");
        if (!cJSON_IsString(c) || !c->valuestring)
            XTC_FAIL(err, XTC_ERR_FORMAT, ST_META_KEY " value of \"%.200s\" must be a string, got %s", c->string,
                     json_kind(c));
        n++;
    }
    if (n < 2)
        return XTC_OK;
    /* Duplicate keys would make the lookup ambiguous; sorting keeps this O(n log n) on hostile headers.
     * n <= header length: every key takes at least a few header bytes. */
    const char **keys = malloc(n * sizeof *keys);
    if (!keys)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory for %zu metadata keys", n);
    size_t i = 0;
    for (const cJSON *c = m->child; c; c = c->next)
        keys[i++] = c->string;
    qsort(keys, n, sizeof *keys, cmp_str_ptr);
    for (i = 1; i < n; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            xtc_error_set(err, XTC_ERR_FORMAT, ST_META_KEY " holds the key \"%.200s\" twice", keys[i]);
            free(keys);
            return XTC_ERR_FORMAT;
        }
    }
    free(keys);
    return XTC_OK;
}

/* "shape": at most XTC_MAX_DIMS integers in [0, 2^53], into e->shape / e->ndim. */
static xtc_status parse_shape(struct xtc_safetensors_entry *e, const cJSON *shape, struct xtc_error *err) {
    const char *name = e->name;
    if (!cJSON_IsArray(shape))
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "shape must be an array, got %s", name, json_kind(shape));
    for (const cJSON *c = shape->child; c; c = c->next) {
        if (e->ndim == XTC_MAX_DIMS)
            XTC_FAIL(err, XTC_ERR_FORMAT, TQ "shape has more than %d dimensions", name, XTC_MAX_DIMS);
        uint64_t v = 0;
        const char *why = json_uint(c, &v);
        if (why && cJSON_IsNumber(c)) {
            char num[40];
            XTC_FAIL(err, XTC_ERR_FORMAT, TQ "shape[%d] = %s is %s (dims must be integers in [0, 2^53])", name,
                     e->ndim, fmt_num(num, sizeof num, c->valuedouble), why);
        }
        if (why)
            XTC_FAIL(err, XTC_ERR_FORMAT, TQ "shape[%d] is %s, not a number", name, e->ndim, json_kind(c));
        e->shape[e->ndim++] = (int64_t)v;
    }
    return XTC_OK;
}

/* "data_offsets": exactly [begin, end] with begin <= end <= buf_len. */
static xtc_status parse_offsets(uint64_t be[2], const cJSON *offs, const char *name, uint64_t buf_len,
                                struct xtc_error *err) {
    if (!cJSON_IsArray(offs))
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "data_offsets must be an array, got %s", name, json_kind(offs));
    int k = 0;
    for (const cJSON *c = offs->child; c; c = c->next, k++) {
        if (k == 2)
            XTC_FAIL(err, XTC_ERR_FORMAT, TQ "data_offsets must hold exactly 2 numbers, it holds %d", name,
                     cJSON_GetArraySize(offs));
        const char *why = json_uint(c, &be[k]);
        if (why)
            XTC_FAIL(err, XTC_ERR_FORMAT, TQ "data_offsets[%d] is %s (offsets are integers in [0, 2^53])", name, k,
                     why);
    }
    if (k != 2)
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "data_offsets must hold exactly 2 numbers, it holds %d", name, k);
    if (be[1] < be[0])
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", name, be[0],
                 be[1]);
    if (be[1] > buf_len)
        XTC_FAIL(err, XTC_ERR_FORMAT,
                 TQ "data_offsets [%" PRIu64 ", %" PRIu64 "] run past the end of the %" PRIu64 "-byte data buffer",
                 name, be[0], be[1], buf_len);
    return XTC_OK;
}

/* Validates one tensor entry against the data buffer of buf_len bytes and fills e and sp. */
static xtc_status parse_entry(struct xtc_safetensors_entry *e, struct span *sp, const cJSON *obj, const uint8_t *buf,
                              uint64_t buf_len, struct xtc_error *err) {
    const char *name = obj->string;
    size_t name_len = strlen(name);
    if (name_len == 0)
        XTC_FAIL(err, XTC_ERR_FORMAT, "a tensor has an empty name");
    if (name_len > ST_MAX_NAME)
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "name is %zu bytes long (at most %d allowed)", name, name_len, ST_MAX_NAME);
    if (!cJSON_IsObject(obj))
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "entry must be an object, got %s", name, json_kind(obj));

    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *c = obj->child; c; c = c->next) {
        const cJSON **slot = NULL;
        if (c->string && strcmp(c->string, "dtype") == 0)
            slot = &dtype;
        else if (c->string && strcmp(c->string, "shape") == 0)
            slot = &shape;
        else if (c->string && strcmp(c->string, "data_offsets") == 0)
            slot = &offs;
        else
            XTC_FAIL(err, XTC_ERR_FORMAT, TQ "unknown field \"%.100s\"", name, c->string ? c->string : "");
        if (*slot)
            XTC_FAIL(err, XTC_ERR_FORMAT, TQ "field \"%s\" appears twice", name, c->string);
        *slot = c;
    }
    if (!dtype)
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "missing field \"dtype\"", name);
    if (!shape)
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "missing field \"shape\"", name);
    if (!offs)
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "missing field \"data_offsets\"", name);

    *e = (struct xtc_safetensors_entry){.name = name};
    if (!cJSON_IsString(dtype) || !dtype->valuestring)
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "dtype must be a string, got %s", name, json_kind(dtype));
    if (!dtype_from_name(dtype->valuestring, &e->dtype))
        XTC_FAIL(err, XTC_ERR_FORMAT,
                 TQ "unknown dtype \"%.40s\" (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL)", name,
                 dtype->valuestring);

    XTC_TRY(parse_shape(e, shape, err));
    uint64_t be[2];
    XTC_TRY(parse_offsets(be, offs, name, buf_len, err));

    char sh[160];
    uint64_t numel = 1, nbytes = 0;
    for (int i = 0; i < e->ndim; i++) {
        if (__builtin_mul_overflow(numel, (uint64_t)e->shape[i], &numel))
            XTC_FAIL(err, XTC_ERR_FORMAT, TQ "shape %s has more than 2^64 elements", name,
                     xtc_safetensors_fmt_shape(sh, sizeof sh, e->shape, e->ndim));
    }
    size_t esize = xtc_dtype_size(e->dtype);
    if (__builtin_mul_overflow(numel, (uint64_t)esize, &nbytes))
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "shape %s of %s needs more than 2^64 bytes", name,
                 xtc_safetensors_fmt_shape(sh, sizeof sh, e->shape, e->ndim), xtc_dtype_name(e->dtype));
    if (nbytes != be[1] - be[0])
        XTC_FAIL(err, XTC_ERR_FORMAT, TQ "shape %s of %s needs %" PRIu64 " bytes, data_offsets span %" PRIu64, name,
                 xtc_safetensors_fmt_shape(sh, sizeof sh, e->shape, e->ndim), xtc_dtype_name(e->dtype), nbytes,
                 be[1] - be[0]);
    e->numel = numel;
    e->nbytes = nbytes;
    e->data = buf + be[0]; /* be[0] <= buf_len, so at most one past the end for a 0-byte tensor */
    *sp = (struct span){be[0], be[1], name};
    return XTC_OK;
}

/* Non-empty spans sorted by begin must tile [0, buf_len) exactly: this finds overlaps, gaps and unused bytes. */
static xtc_status check_spans(struct span *sp, size_t n, uint64_t buf_len, struct xtc_error *err) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].end > sp[i].begin)
            sp[m++] = sp[i];
    }
    if (m > 1)
        qsort(sp, m, sizeof *sp, cmp_span);
    uint64_t at = 0;
    for (size_t i = 0; i < m; i++) {
        /* spans before i tile [0, at) and sp[i - 1] ends at `at`, so an overlap is always with sp[i - 1] */
        if (sp[i].begin < at)
            XTC_FAIL(err, XTC_ERR_FORMAT,
                     TQ "data_offsets [%" PRIu64 ", %" PRIu64 "] overlap those of tensor \"%.200s\" [%" PRIu64
                        ", %" PRIu64 "]",
                     sp[i].name, sp[i].begin, sp[i].end, sp[i - 1].name, sp[i - 1].begin, sp[i - 1].end);
        if (sp[i].begin > at)
            XTC_FAIL(err, XTC_ERR_FORMAT,
                     "data buffer bytes [%" PRIu64 ", %" PRIu64 ") belong to no tensor (gap before tensor \"%.200s\")",
                     at, sp[i].begin, sp[i].name);
        at = sp[i].end;
    }
    if (at != buf_len)
        XTC_FAIL(err, XTC_ERR_FORMAT,
                 "data buffer has %" PRIu64 " trailing bytes no tensor uses (tensors end at %" PRIu64
                 ", the buffer is %" PRIu64 " bytes)",
                 buf_len - at, at, buf_len);
    return XTC_OK;
}

static xtc_status parse_tensors(struct xtc_safetensors *st, const uint8_t *buf, uint64_t buf_len,
                                struct xtc_error *err) {
    size_t n = 0;
    for (const cJSON *c = st->root->child; c; c = c->next) {
        if (!c->string)
            XTC_FAIL(err, XTC_ERR_FORMAT, "header object holds a value without a key");
        if (strcmp(c->string, ST_META_KEY) == 0)
            XTC_TRY(parse_metadata(st, c, err));
        else
            n++;
    }
    if (n == 0)
        return check_spans(NULL, 0, buf_len, err);

    /* n <= header length (each entry takes several header bytes), so these sizes are bounded by the file. */
    st->entries = calloc(n, sizeof *st->entries);
    st->by_name = malloc(n * sizeof *st->by_name);
    struct span *sp = malloc(n * sizeof *sp);
    if (!st->entries || !st->by_name || !sp) {
        free(sp);
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory for %zu tensor entries", n);
    }
    size_t i = 0;
    for (const cJSON *c = st->root->child; c; c = c->next) {
        if (strcmp(c->string, ST_META_KEY) == 0)
            continue;
        xtc_status rc = parse_entry(&st->entries[i], &sp[i], c, buf, buf_len, err);
        if (rc != XTC_OK) {
            free(sp);
            return rc;
        }
        st->by_name[i] = &st->entries[i];
        i++;
    }
    st->n = n;

    qsort(st->by_name, n, sizeof *st->by_name, cmp_entry_name);
    for (i = 1; i < n; i++) {
        if (strcmp(st->by_name[i - 1]->name, st->by_name[i]->name) == 0) {
            free(sp);
            XTC_FAIL(err, XTC_ERR_FORMAT, TQ "duplicate tensor name (the header holds this key twice)",
                     st->by_name[i]->name);
        }
    }
    xtc_status rc = check_spans(sp, n, buf_len, err);
    free(sp);
    return rc;
}

/* Validates st->file (file_size bytes) and builds the entries. */
static xtc_status st_validate(struct xtc_safetensors *st, struct xtc_error *err) {
    const uint8_t *p = st->file;
    size_t size = st->file_size;
    if (size < 8)
        XTC_FAIL(err, XTC_ERR_FORMAT, "file too short (%zu bytes, less than the 8-byte header length)", size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | p[i];
    if (n == 0)
        XTC_FAIL(err, XTC_ERR_FORMAT, "header length is 0");
    /* compared against size - 8 so that 8 + n cannot overflow */
    if (n > (uint64_t)(size - 8))
        XTC_FAIL(err, XTC_ERR_FORMAT, "header length %" PRIu64 " runs past the end of the file (%zu bytes)", n, size);
    if (n > ST_MAX_HEADER)
        XTC_FAIL(err, XTC_ERR_FORMAT, "header length %" PRIu64 " exceeds the limit of %" PRIu64 " bytes", n,
                 ST_MAX_HEADER);
    const uint8_t *h = p + 8;
    if (memchr(h, 0, (size_t)n))
        XTC_FAIL(err, XTC_ERR_FORMAT, "header contains a NUL byte");
    size_t bad = xtc_safetensors_utf8_invalid_at(h, (size_t)n);
    if (bad != n)
        XTC_FAIL(err, XTC_ERR_FORMAT, "header is not valid UTF-8 (at byte %zu)", bad);

    /* A NUL-terminated private copy: cJSON never sees bytes past the header, even on a mapped file. */
    char *hdr = malloc((size_t)n + 1);
    if (!hdr)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory for a %" PRIu64 "-byte header", n);
    memcpy(hdr, h, (size_t)n);
    hdr[n] = '\0';
    const char *end = NULL;
    st->root = cJSON_ParseWithLengthOpts(hdr, (size_t)n, &end, 0);
    if (!st->root) {
        size_t at = end ? (size_t)(end - hdr) : 0;
        free(hdr);
        XTC_FAIL(err, XTC_ERR_FORMAT, "header is not valid JSON (error near byte %zu of %" PRIu64 ")", at, n);
    }
    for (const char *q = end; q < hdr + n; q++) {
        if (!is_json_space(*q)) {
            size_t at = (size_t)(q - hdr);
            free(hdr);
            XTC_FAIL(err, XTC_ERR_FORMAT, "header has bytes other than whitespace after the JSON object (byte %zu)",
                     at);
        }
    }
    free(hdr);
    if (!cJSON_IsObject(st->root))
        XTC_FAIL(err, XTC_ERR_FORMAT, "header must be a JSON object, got %s", json_kind(st->root));
    return parse_tensors(st, h + n, (uint64_t)(size - 8 - n), err);
}

// --- reader API

xtc_status xtc_safetensors_open(xtc_safetensors_t *out, const char *path, struct xtc_error *err) {
    if (!out || !path)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_safetensors_open: NULL argument");
    *out = NULL;
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the open */
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        XTC_FAIL(err, XTC_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        XTC_FAIL(err, XTC_ERR_IO, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        XTC_FAIL(err, XTC_ERR_IO, "not a regular file");
    }
    if (sb.st_size < 8) {
        close(fd);
        XTC_FAIL(err, XTC_ERR_FORMAT, "file too short (%lld bytes, less than the 8-byte header length)",
                 (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        XTC_FAIL(err, XTC_ERR_IO, "file too large to map (%lld bytes)", (long long)sb.st_size);
    }
    size_t size = (size_t)sb.st_size;
    /* Read-only private mapping: weights are paged in on demand (llama2.c). */
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        XTC_FAIL(err, XTC_ERR_IO, "cannot map: %s", strerror(map_errno));
    struct xtc_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        munmap(map, size);
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory");
    }
    st->file = map;
    st->file_size = size;
    st->mapped = 1;
    xtc_status rc = st_validate(st, err);
    if (rc != XTC_OK) {
        xtc_safetensors_free(st);
        return rc;
    }
    *out = st;
    return XTC_OK;
}

xtc_status xtc_safetensors_parse(xtc_safetensors_t *out, const void *buf, size_t len, struct xtc_error *err) {
    if (!out || (!buf && len > 0))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_safetensors_parse: NULL argument");
    *out = NULL;
    if (len < 8)
        XTC_FAIL(err, XTC_ERR_FORMAT, "file too short (%zu bytes, less than the 8-byte header length)", len);
    struct xtc_safetensors *st = calloc(1, sizeof *st);
    if (!st)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory");
    st->file = malloc(len);
    if (!st->file) {
        free(st);
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory for a %zu-byte file", len);
    }
    memcpy(st->file, buf, len);
    st->file_size = len;
    xtc_status rc = st_validate(st, err);
    if (rc != XTC_OK) {
        xtc_safetensors_free(st);
        return rc;
    }
    *out = st;
    return XTC_OK;
}

void xtc_safetensors_free(xtc_safetensors_t st) {
    if (!st)
        return;
    if (st->mapped)
        munmap(st->file, st->file_size);
    else
        free(st->file);
    cJSON_Delete(st->root);
    free(st->entries);
    free(st->by_name);
    free(st);
}

size_t xtc_safetensors_count(const struct xtc_safetensors *st) {
    return st ? st->n : 0;
}

const struct xtc_safetensors_entry *xtc_safetensors_entry(const struct xtc_safetensors *st, size_t i) {
    return st && i < st->n ? &st->entries[i] : NULL;
}

static int cmp_key_entry(const void *key, const void *elem) {
    return strcmp((const char *)key, (*(const struct xtc_safetensors_entry *const *)elem)->name);
}

const struct xtc_safetensors_entry *xtc_safetensors_find(const struct xtc_safetensors *st, const char *name) {
    if (!st || !name || st->n == 0)
        return NULL;
    const struct xtc_safetensors_entry *const *hit =
        bsearch(name, st->by_name, st->n, sizeof *st->by_name, cmp_key_entry);
    return hit ? *hit : NULL;
}

const char *xtc_safetensors_metadata(const struct xtc_safetensors *st, const char *key) {
    if (!st || !st->meta || !key)
        return NULL;
    for (const cJSON *c = st->meta->child; c; c = c->next) {
        if (strcmp(c->string, key) == 0)
            return c->valuestring;
    }
    return NULL;
}

// --- typed reads (memcpy per element: data may be unaligned)

/* Entries are public structs a caller could fill by hand: check they are self-consistent before copying. */
static xtc_status read_check(const struct xtc_safetensors_entry *e, const void *dst, struct xtc_error *err) {
    if (!e || (!dst && e->numel > 0))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_safetensors_read: NULL argument");
    uint64_t nbytes;
    if ((unsigned)e->dtype >= XTC_DTYPE_COUNT ||
        __builtin_mul_overflow(e->numel, (uint64_t)xtc_dtype_size(e->dtype), &nbytes) || nbytes != e->nbytes ||
        (!e->data && nbytes > 0) || nbytes > SIZE_MAX)
        XTC_FAIL(err, XTC_ERR_ARG, TQ "entry is inconsistent (dtype, numel, nbytes or data)",
                 e->name ? e->name : "");
    return XTC_OK;
}

static xtc_status wrong_kind(const struct xtc_safetensors_entry *e, const char *want, struct xtc_error *err) {
    XTC_FAIL(err, XTC_ERR_FORMAT, TQ "dtype %s cannot be read as %s", e->name ? e->name : "",
             xtc_dtype_name(e->dtype), want);
}

xtc_status xtc_safetensors_read_f32(const struct xtc_safetensors_entry *e, float *dst, struct xtc_error *err) {
    XTC_TRY(read_check(e, dst, err));
    const uint8_t *src = e->data;
    size_t n = (size_t)e->numel;
    switch (e->dtype) {
    case XTC_DTYPE_F32:
        if (n)
            memcpy(dst, src, n * sizeof(float));
        return XTC_OK;
    case XTC_DTYPE_F16:
    case XTC_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = e->dtype == XTC_DTYPE_F16 ? xtc_f16_to_f32(h) : xtc_bf16_to_f32(h);
        }
        return XTC_OK;
    case XTC_DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d; /* IEEE rounding; out-of-range values become +-inf */
        }
        return XTC_OK;
    default:
        return wrong_kind(e, "float (expected F32, F16, BF16 or F64)", err);
    }
}

xtc_status xtc_safetensors_read_i64(const struct xtc_safetensors_entry *e, int64_t *dst, struct xtc_error *err) {
    XTC_TRY(read_check(e, dst, err));
    const uint8_t *src = e->data;
    size_t n = (size_t)e->numel;
    switch (e->dtype) {
    case XTC_DTYPE_I64:
        if (n)
            memcpy(dst, src, n * sizeof(int64_t));
        return XTC_OK;
    case XTC_DTYPE_I32:
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, src + 4 * i, 4);
            dst[i] = v;
        }
        return XTC_OK;
    case XTC_DTYPE_I16:
        for (size_t i = 0; i < n; i++) {
            int16_t v;
            memcpy(&v, src + 2 * i, 2);
            dst[i] = v;
        }
        return XTC_OK;
    case XTC_DTYPE_I8:
        for (size_t i = 0; i < n; i++) {
            int8_t v;
            memcpy(&v, src + i, 1);
            dst[i] = v;
        }
        return XTC_OK;
    case XTC_DTYPE_U8:
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i];
        return XTC_OK;
    case XTC_DTYPE_BOOL:
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i] != 0;
        return XTC_OK;
    default:
        return wrong_kind(e, "integer (expected I64, I32, I16, I8, U8 or BOOL)", err);
    }
}

xtc_status xtc_safetensors_read_bool(const struct xtc_safetensors_entry *e, uint8_t *dst, struct xtc_error *err) {
    XTC_TRY(read_check(e, dst, err));
    if (e->dtype != XTC_DTYPE_BOOL && e->dtype != XTC_DTYPE_U8)
        return wrong_kind(e, "bool (expected BOOL or U8)", err);
    /* torch reads any nonzero byte as true; normalise so callers can compare with 1 */
    const uint8_t *src = e->data;
    for (size_t i = 0; i < (size_t)e->numel; i++)
        dst[i] = src[i] != 0;
    return XTC_OK;
}
