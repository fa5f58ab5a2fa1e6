/* Unit tests for src/io/safetensors.c: a write -> read round trip over every
 * dtype kind, then one malformed file per defect (each must fail with
 * XTC_ERR_FORMAT and a message), built in memory so the test is self-contained.
 *
 * Optional: `test_safetensors GOLDEN_DIR [BAD_DIR]` also opens every
 * GOLDEN_DIR/<case>/<file>.safetensors (must parse and read back) and the
 * safetensors-family cases of BAD_DIR (must be rejected). */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xtc/safetensors.h"

static int g_fail, g_checks;

#define CHECK(cond, ...)                                               \
    do {                                                               \
        g_checks++;                                                    \
        if (!(cond)) {                                                 \
            g_fail++;                                                  \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                              \
            fprintf(stderr, "\n");                                     \
        }                                                              \
    } while (0)

// --- building files in memory

/* 8-byte LE length (given explicitly) + header text + data_len bytes of 0x5a. */
static uint8_t *build_raw(uint64_t n_field, const char *hdr, size_t data_len, size_t *out_len) {
    size_t h = strlen(hdr);
    size_t len = 8 + h + data_len;
    uint8_t *p = malloc(len ? len : 1);
    if (!p) {
        fprintf(stderr, "out of memory in test\n");
        exit(2);
    }
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(n_field >> (8 * i));
    memcpy(p + 8, hdr, h);
    memset(p + 8 + h, 0x5a, data_len);
    *out_len = len;
    return p;
}

/* Parses bytes and expects XTC_ERR_FORMAT with a message containing `needle` (may be NULL). */
static void expect_bad_bytes(const char *what, const void *bytes, size_t len, const char *needle) {
    xtc_safetensors_t st = NULL;
    struct xtc_error err = {0};
    xtc_status rc = xtc_safetensors_parse(&st, bytes, len, &err);
    CHECK(rc == XTC_ERR_FORMAT, "%s: expected XTC_ERR_FORMAT, got %d (%s)", what, (int)rc, err.msg);
    CHECK(st == NULL, "%s: handle set on failure", what);
    CHECK(err.msg[0] != '\0', "%s: empty message", what);
    if (needle)
        CHECK(strstr(err.msg, needle) != NULL, "%s: message \"%s\" does not mention \"%s\"", what, err.msg, needle);
    if (getenv("XTC_TEST_VERBOSE"))
        fprintf(stderr, "  %-34s -> %s\n", what, err.msg);
    xtc_safetensors_free(st);
}

static void expect_bad(const char *what, const char *hdr, size_t data_len, const char *needle) {
    size_t len;
    uint8_t *p = build_raw(strlen(hdr), hdr, data_len, &len);
    expect_bad_bytes(what, p, len, needle);
    free(p);
}

static xtc_safetensors_t expect_good(const char *what, const char *hdr, size_t data_len) {
    size_t len;
    uint8_t *p = build_raw(strlen(hdr), hdr, data_len, &len);
    xtc_safetensors_t st = NULL;
    struct xtc_error err = {0};
    xtc_status rc = xtc_safetensors_parse(&st, p, len, &err);
    free(p);
    CHECK(rc == XTC_OK && st, "%s: expected success, got %d (%s)", what, (int)rc, err.msg);
    return st;
}

// --- round trip

static void test_round_trip(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);

    float f32[6] = {1.5f, -2.0f, 0.25f, 3.0e-8f, 1e30f, -0.0f};
    int64_t i64[4] = {0, -1, INT64_MAX, INT64_MIN};
    uint8_t bools[5] = {0, 1, 0, 2, 1};
    uint16_t bf16[3] = {0x3F80, 0xC020, 0x3E20}; /* 1.0, -2.5, 0.15625 */
    uint16_t f16[3] = {0x3C00, 0xB800, 0x0001};  /* 1.0, -0.5, 2^-24 (subnormal) */
    float scalar = 3.5f;
    double f64[2] = {0.1, -1e300};
    int32_t i32[3] = {7, -8, 2147483647};
    int16_t i16[2] = {-300, 300};
    int8_t i8[2] = {-128, 127};
    uint8_t u8[3] = {0, 200, 255};
    struct xtc_safetensors_tensor t[] = {
        {.name = "w.f32", .dtype = XTC_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = f32},
        {.name = "ids", .dtype = XTC_DTYPE_I64, .ndim = 1, .shape = {4}, .data = i64},
        {.name = "mask", .dtype = XTC_DTYPE_BOOL, .ndim = 2, .shape = {1, 5}, .data = bools},
        {.name = "x.bf16", .dtype = XTC_DTYPE_BF16, .ndim = 1, .shape = {3}, .data = bf16},
        {.name = "x.f16", .dtype = XTC_DTYPE_F16, .ndim = 1, .shape = {3}, .data = f16},
        {.name = "loss", .dtype = XTC_DTYPE_F32, .ndim = 0, .data = &scalar},
        {.name = "empty", .dtype = XTC_DTYPE_F32, .ndim = 2, .shape = {0, 4}, .data = NULL},
        {.name = "d.f64", .dtype = XTC_DTYPE_F64, .ndim = 1, .shape = {2}, .data = f64},
        {.name = "n.i32", .dtype = XTC_DTYPE_I32, .ndim = 1, .shape = {3}, .data = i32},
        {.name = "n.i16", .dtype = XTC_DTYPE_I16, .ndim = 1, .shape = {2}, .data = i16},
        {.name = "n.i8", .dtype = XTC_DTYPE_I8, .ndim = 1, .shape = {2}, .data = i8},
        {.name = "n.u8", .dtype = XTC_DTYPE_U8, .ndim = 1, .shape = {3}, .data = u8},
        {.name = "odd \"name\"\n\\", .dtype = XTC_DTYPE_U8, .ndim = 1, .shape = {1}, .data = u8},
    };
    size_t nt = sizeof t / sizeof t[0];
    const char *meta[] = {"format", "pt", "case", "unit \"round\" trip\n"};
    struct xtc_error err = {0};
    xtc_status rc = xtc_safetensors_write(path, t, nt, meta, 2, &err);
    CHECK(rc == XTC_OK, "write: %d %s", (int)rc, err.msg);

    /* header length: 8 + N is a multiple of 8 */
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "reopen %s", path);
    uint8_t head[8] = {0};
    if (f) {
        CHECK(fread(head, 1, 8, f) == 8, "short read");
        fclose(f);
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | head[i];
    CHECK((8 + n) % 8 == 0, "header length %" PRIu64 " not padded", n);

    xtc_safetensors_t st = NULL;
    rc = xtc_safetensors_open(&st, path, &err);
    CHECK(rc == XTC_OK && st, "open: %d %s", (int)rc, err.msg);
    if (!st)
        return;
    CHECK(xtc_safetensors_count(st) == nt, "count %zu", xtc_safetensors_count(st));
    CHECK(xtc_safetensors_entry(st, nt) == NULL, "entry past the end");
    for (size_t i = 0; i < nt && i < xtc_safetensors_count(st); i++) {
        const struct xtc_safetensors_entry *e = xtc_safetensors_entry(st, i);
        CHECK(strcmp(e->name, t[i].name) == 0, "order: entry %zu is %s", i, e->name);
        CHECK(xtc_safetensors_find(st, t[i].name) == e, "find %s", t[i].name);
        CHECK(e->dtype == t[i].dtype && e->ndim == t[i].ndim, "dtype/ndim of %s", t[i].name);
        for (int d = 0; d < t[i].ndim; d++)
            CHECK(e->shape[d] == t[i].shape[d], "shape of %s", t[i].name);
    }
    CHECK(xtc_safetensors_find(st, "nope") == NULL, "find missing");
    CHECK(xtc_safetensors_find(st, "") == NULL, "find empty");
    const char *v = xtc_safetensors_metadata(st, "format");
    CHECK(v && strcmp(v, "pt") == 0, "metadata format");
    v = xtc_safetensors_metadata(st, "case");
    CHECK(v && strcmp(v, "unit \"round\" trip\n") == 0, "metadata case");
    CHECK(xtc_safetensors_metadata(st, "missing") == NULL, "metadata missing");

    float fo[8];
    int64_t io[8];
    uint8_t bo[8];
    const struct xtc_safetensors_entry *e = xtc_safetensors_find(st, "w.f32");
    CHECK(e && e->numel == 6 && e->nbytes == 24, "w.f32 sizes");
    CHECK(e && xtc_safetensors_read_f32(e, fo, &err) == XTC_OK && memcmp(fo, f32, sizeof f32) == 0, "w.f32 values");
    CHECK(e && xtc_safetensors_read_i64(e, io, &err) == XTC_ERR_FORMAT && strstr(err.msg, "w.f32") &&
              strstr(err.msg, "F32"),
          "F32 read as i64 must fail naming tensor and dtype: %s", err.msg);
    CHECK(e && xtc_safetensors_read_bool(e, bo, &err) == XTC_ERR_FORMAT, "F32 read as bool must fail");

    e = xtc_safetensors_find(st, "ids");
    CHECK(e && xtc_safetensors_read_i64(e, io, &err) == XTC_OK && memcmp(io, i64, sizeof i64) == 0, "ids values");
    CHECK(e && xtc_safetensors_read_f32(e, fo, &err) == XTC_ERR_FORMAT && strstr(err.msg, "I64"), "I64 read as f32: %s",
          err.msg);

    e = xtc_safetensors_find(st, "mask");
    CHECK(e && e->numel == 5 && xtc_safetensors_read_bool(e, bo, &err) == XTC_OK, "mask read");
    CHECK(bo[0] == 0 && bo[1] == 1 && bo[2] == 0 && bo[3] == 1 && bo[4] == 1, "mask values (nonzero -> 1)");
    CHECK(e && xtc_safetensors_read_i64(e, io, &err) == XTC_OK && io[3] == 1, "BOOL read as i64");

    e = xtc_safetensors_find(st, "x.bf16");
    CHECK(e && e->nbytes == 6 && xtc_safetensors_read_f32(e, fo, &err) == XTC_OK, "bf16 read");
    CHECK(fo[0] == 1.0f && fo[1] == -2.5f && fo[2] == 0.15625f, "bf16 values %g %g %g", fo[0], fo[1], fo[2]);
    e = xtc_safetensors_find(st, "x.f16");
    CHECK(e && xtc_safetensors_read_f32(e, fo, &err) == XTC_OK, "f16 read");
    CHECK(fo[0] == 1.0f && fo[1] == -0.5f && fo[2] == 5.9604644775390625e-8f, "f16 values %g %g %g", fo[0], fo[1],
          fo[2]);

    e = xtc_safetensors_find(st, "loss");
    CHECK(e && e->ndim == 0 && e->numel == 1 && e->nbytes == 4, "scalar sizes");
    CHECK(e && xtc_safetensors_read_f32(e, fo, &err) == XTC_OK && fo[0] == 3.5f, "scalar value");

    e = xtc_safetensors_find(st, "empty");
    CHECK(e && e->numel == 0 && e->nbytes == 0, "zero-size sizes");
    CHECK(e && xtc_safetensors_read_f32(e, NULL, &err) == XTC_OK, "zero-size read into NULL");

    e = xtc_safetensors_find(st, "d.f64");
    CHECK(e && xtc_safetensors_read_f32(e, fo, &err) == XTC_OK && fo[0] == 0.1f && fo[1] == -INFINITY, "f64 -> f32");
    e = xtc_safetensors_find(st, "n.i32");
    CHECK(e && xtc_safetensors_read_i64(e, io, &err) == XTC_OK && io[0] == 7 && io[1] == -8 && io[2] == 2147483647,
          "i32");
    e = xtc_safetensors_find(st, "n.i16");
    CHECK(e && xtc_safetensors_read_i64(e, io, &err) == XTC_OK && io[0] == -300 && io[1] == 300, "i16");
    e = xtc_safetensors_find(st, "n.i8");
    CHECK(e && xtc_safetensors_read_i64(e, io, &err) == XTC_OK && io[0] == -128 && io[1] == 127, "i8");
    e = xtc_safetensors_find(st, "n.u8");
    CHECK(e && xtc_safetensors_read_i64(e, io, &err) == XTC_OK && io[1] == 200 && io[2] == 255, "u8 as i64");
    CHECK(e && xtc_safetensors_read_bool(e, bo, &err) == XTC_OK && bo[0] == 0 && bo[1] == 1, "u8 as bool");
    CHECK(xtc_safetensors_find(st, "odd \"name\"\n\\") != NULL, "escaped name round trip");
    xtc_safetensors_free(st);

    /* writer argument errors leave the previous file intact */
    struct xtc_safetensors_tensor bad[2] = {t[0], t[1]};
    bad[1].name = "w.f32";
    CHECK(xtc_safetensors_write(path, bad, 2, NULL, 0, &err) == XTC_ERR_ARG && strstr(err.msg, "w.f32"),
          "duplicate name: %s", err.msg);
    bad[1] = t[1];
    bad[1].name = "__metadata__";
    CHECK(xtc_safetensors_write(path, bad, 2, NULL, 0, &err) == XTC_ERR_ARG, "__metadata__ as tensor name");
    bad[1].name = "";
    CHECK(xtc_safetensors_write(path, bad, 2, NULL, 0, &err) == XTC_ERR_ARG, "empty name");
    bad[1] = t[1];
    bad[1].shape[0] = -4;
    CHECK(xtc_safetensors_write(path, bad, 2, NULL, 0, &err) == XTC_ERR_ARG, "negative dim");
    bad[1] = t[1];
    bad[1].dtype = XTC_DTYPE_COUNT;
    CHECK(xtc_safetensors_write(path, bad, 2, NULL, 0, &err) == XTC_ERR_ARG, "bad dtype");
    bad[1] = t[1];
    bad[1].ndim = 2, bad[1].shape[0] = INT64_C(1) << 40, bad[1].shape[1] = INT64_C(1) << 40;
    CHECK(xtc_safetensors_write(path, bad, 2, NULL, 0, &err) == XTC_ERR_ARG, "numel overflow");
    const char *dup_meta[] = {"k", "a", "k", "b"};
    CHECK(xtc_safetensors_write(path, t, 1, dup_meta, 2, &err) == XTC_ERR_ARG, "duplicate metadata key");
    rc = xtc_safetensors_open(&st, path, &err);
    CHECK(rc == XTC_OK && xtc_safetensors_count(st) == nt, "previous file survives failed writes");
    xtc_safetensors_free(st);

    /* no metadata, no tensors: still a valid file */
    char path2[4200];
    snprintf(path2, sizeof path2, "%s/empty.safetensors", dir);
    CHECK(xtc_safetensors_write(path2, NULL, 0, NULL, 0, &err) == XTC_OK, "write empty: %s", err.msg);
    rc = xtc_safetensors_open(&st, path2, &err);
    CHECK(rc == XTC_OK && xtc_safetensors_count(st) == 0 && !xtc_safetensors_metadata(st, "format"), "open empty");
    xtc_safetensors_free(st);
    unlink(path2);

    /* I/O errors */
    snprintf(path2, sizeof path2, "%s/no/such/dir/x.safetensors", dir);
    CHECK(xtc_safetensors_write(path2, t, 1, NULL, 0, &err) == XTC_ERR_IO && err.msg[0], "write to missing dir");
    CHECK(xtc_safetensors_open(&st, path2, &err) == XTC_ERR_IO && st == NULL && err.msg[0], "open missing file");
    CHECK(xtc_safetensors_open(&st, dir, &err) == XTC_ERR_IO, "open a directory");
    snprintf(path2, sizeof path2, "%s/zero.safetensors", dir);
    f = fopen(path2, "wb");
    if (f)
        fclose(f);
    CHECK(xtc_safetensors_open(&st, path2, &err) == XTC_ERR_FORMAT && strstr(err.msg, "too short"), "open empty file");
    unlink(path2);

    /* temp files never stay behind */
    DIR *dp = opendir(dir);
    int stray = 0;
    struct dirent *de;
    while (dp && (de = readdir(dp)))
        stray += strstr(de->d_name, ".tmp.") != NULL;
    if (dp)
        closedir(dp);
    CHECK(stray == 0, "%d temporary files left in %s", stray, dir);
    unlink(path);
}

// --- malformed headers

#define E1(name, body) "{\"" name "\":" body "}"

static void test_header_length(void) {
    uint8_t one[1] = {0};
    expect_bad_bytes("empty file", one, 0, "too short");
    expect_bad_bytes("empty file (NULL)", NULL, 0, "too short");
    uint8_t five[5] = {2, 0, 0, 0, 0};
    expect_bad_bytes("5-byte file", five, 5, "too short");

    const char *h = "{}";
    size_t len;
    uint8_t *p = build_raw(UINT64_C(1) << 63, h, 0, &len);
    expect_bad_bytes("header length 2^63", p, len, "header length");
    free(p);
    p = build_raw(UINT64_MAX, h, 0, &len);
    expect_bad_bytes("header length 2^64-1", p, len, "header length");
    free(p);
    p = build_raw(UINT64_MAX - 7, h, 0, &len); /* 8 + N wraps to 0 */
    expect_bad_bytes("header length 2^64-8", p, len, "header length");
    free(p);
    p = build_raw(0, h, 16, &len);
    expect_bad_bytes("header length 0", p, len, "header length");
    free(p);
    p = build_raw(2 + 16 + 8, h, 16, &len); /* N = file size: runs 8 bytes past the end */
    expect_bad_bytes("header length = file size", p, len, "past the end");
    free(p);
    p = build_raw(3, h, 0, &len); /* one byte past the end */
    expect_bad_bytes("header length = rest + 1", p, len, "past the end");
    free(p);

    /* a header over 100 MiB is refused before it is parsed, even when the file is that long */
    size_t big = ((size_t)100 << 20) + 8;
    uint8_t *q = calloc(1, 8 + big);
    if (q) {
        for (int i = 0; i < 8; i++)
            q[i] = (uint8_t)((uint64_t)big >> (8 * i));
        expect_bad_bytes("header length > 100 MiB", q, 8 + big, "limit");
        free(q);
    }
}

static void test_header_text(void) {
    expect_bad("header not JSON", "this is plain text, not json!!", 0, "JSON");
    expect_bad("header is a JSON array", "[1, 2, 3]", 0, "object");
    expect_bad("header is a JSON string", "\"abc\"", 0, "object");
    expect_bad("trailing garbage", "{}  x", 0, "whitespace");
    expect_bad("two JSON objects", "{}{}", 0, "whitespace");
    expect_bad("truncated JSON", "{\"a\":{\"dtype\":\"F32\"", 0, "JSON");
    /* raw NUL bytes are never valid JSON text; cJSON would stop at them */
    size_t len;
    uint8_t *p = build_raw(4, "{}  ", 0, &len);
    p[8 + 2] = 0;
    expect_bad_bytes("NUL byte in header", p, len, "NUL");
    free(p);
    expect_bad("invalid UTF-8", "{\"__metadata__\":{\"k\":\"\xff\"}}", 0, "UTF-8");
    expect_bad("overlong UTF-8", "{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", 0, "UTF-8");
    expect_bad("key without object", "{\"a\"}", 0, "JSON");
}

static void good_header_text(void) {
    xtc_safetensors_t st = expect_good("space padding", "{}      ", 0);
    xtc_safetensors_free(st);
    st = expect_good("newline padding", "{}\n \t\r", 0);
    xtc_safetensors_free(st);
    st = expect_good("UTF-8 name",
                     "{\"w\xc3\xa9ight\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
    CHECK(st && xtc_safetensors_find(st, "w\xc3\xa9ight"), "UTF-8 name lookup");
    xtc_safetensors_free(st);
    /* zero-length tensors may sit anywhere inside the buffer, even between others */
    st = expect_good("zero-length anywhere",
                     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"z\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
                     "\"y\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[12,12]},"
                     "\"b\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[8,9]},"
                     "\"c\":{\"dtype\":\"BF16\",\"shape\":[1,1,1,1,1,1,1,1],\"data_offsets\":[10,12]},"
                     "\"d\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[9,10]},"
                     "\"__metadata__\":{}}",
                     12);
    CHECK(xtc_safetensors_count(st) == 6, "6 tensors");
    const struct xtc_safetensors_entry *e = xtc_safetensors_find(st, "z");
    CHECK(e && e->numel == 0 && e->ndim == 2, "zero-size entry");
    e = xtc_safetensors_find(st, "c");
    CHECK(e && e->ndim == 8 && e->numel == 1, "8-dim entry");
    e = xtc_safetensors_find(st, "b");
    uint8_t b = 0;
    CHECK(e && e->ndim == 0 && xtc_safetensors_read_bool(e, &b, NULL) == XTC_OK && b == 1, "scalar U8 0x5a -> 1");
    xtc_safetensors_free(st);
    st = expect_good("exponent-form integers",
                     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4e0],\"data_offsets\":[0,0.4e1]}}", 4);
    xtc_safetensors_free(st);
}

static void test_entries(void) {
    expect_bad("missing dtype", E1("t.w", "{\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "\"dtype\"");
    expect_bad("missing dtype names tensor", E1("t.w", "{\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "t.w");
    expect_bad("missing shape", E1("t.w", "{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), 4, "\"shape\"");
    expect_bad("missing data_offsets", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1]}"), 4, "\"data_offsets\"");
    expect_bad("unknown field", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}"), 4,
               "\"x\"");
    expect_bad("repeated field",
               E1("t.w", "{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "twice");
    expect_bad("entry not an object", E1("t.w", "[1]"), 0, "t.w");
    expect_bad("entry is a number", E1("t.w", "5"), 0, "t.w");
    expect_bad("empty name", E1("", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "empty name");

    char big[1200], hdr[1400];
    memset(big, 'n', 1025);
    big[1025] = '\0';
    snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", big);
    expect_bad("name of 1025 bytes", hdr, 1, "1025");
    big[1024] = '\0';
    snprintf(hdr, sizeof hdr, "{\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", big);
    xtc_safetensors_free(expect_good("name of 1024 bytes", hdr, 1));

    expect_bad("unknown dtype FP32", E1("t.w", "{\"dtype\":\"FP32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4,
               "\"FP32\"");
    expect_bad("unknown dtype names tensor",
               E1("t.w", "{\"dtype\":\"FP32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "t.w");
    expect_bad("lower-case dtype", E1("t.w", "{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "f32");
    expect_bad("dtype not a string", E1("t.w", "{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "dtype");
    expect_bad("dtype null", E1("t.w", "{\"dtype\":null,\"shape\":[1],\"data_offsets\":[0,4]}"), 4, "dtype");

    expect_bad("negative dim", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[64,-32],\"data_offsets\":[0,4]}"), 4,
               "negative");
    expect_bad("fractional dim", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}"), 4,
               "integer");
    expect_bad("string dim", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}"), 4,
               "string");
    expect_bad("bool dim", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[true],\"data_offsets\":[0,4]}"), 4, "t.w");
    expect_bad("huge dim", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}"), 4, "2^53");
    expect_bad("infinite dim", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1e999],\"data_offsets\":[0,4]}"), 4, "t.w");
    expect_bad("9 dims", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}"), 4,
               "dimensions");
    expect_bad("shape not an array", E1("t.w", "{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}"), 4,
               "shape");
    expect_bad("shape an object", E1("t.w", "{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}"), 4,
               "shape");

    expect_bad("end before begin", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}"), 4,
               "end before");
    expect_bad("end past buffer", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"), 4,
               "past the end");
    expect_bad("begin past buffer", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[9,9]}"), 4,
               "past the end");
    expect_bad("3 offsets", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}"), 8,
               "exactly 2");
    expect_bad("1 offset", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}"), 4, "exactly 2");
    expect_bad("0 offsets", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[]}"), 0, "exactly 2");
    expect_bad("negative offset", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), 4,
               "negative");
    expect_bad("fractional offset", E1("t.w", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,0.5]}"), 4,
               "integer");
    expect_bad("string offset", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}"), 4,
               "number");
    expect_bad("offsets not an array", E1("t.w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":4}"), 4,
               "data_offsets");
}

static void test_sizes(void) {
    /* 16 * (2^60 + 1) = 2^64 + 16 wraps to 16 elements = 128 bytes of I64, exactly the span */
    expect_bad("numel wraps to the span",
               E1("call0.in.x", "{\"dtype\":\"I64\",\"shape\":[16,1152921504606846977],\"data_offsets\":[0,128]}"),
               128, "call0.in.x");
    /* 2^32 * 2^32 = 2^64 wraps to 0: a 0-byte span */
    expect_bad("numel wraps to 0",
               E1("t.w", "{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}"), 0,
               "2^64");
    /* 2^31 * 2^31 = 2^62 elements fit, but * 4 bytes = 2^64 wraps to 0 */
    expect_bad("bytes wrap to 0",
               E1("t.w", "{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,0]}"), 0,
               "2^64");
    /* the same wrap with every dim <= 2^53: 2^60 + 1 = (2^20 + 1)(2^40 - 2^20 + 1) */
    expect_bad("numel wraps to the span, small dims",
               E1("t.w", "{\"dtype\":\"I64\",\"shape\":[16,1048577,1099510579201],\"data_offsets\":[0,128]}"),
               128, "2^64");
    /* 2^61 + 2 elements of I64 fit, but bytes = 2^64 + 16 wraps to 16, the span */
    expect_bad("bytes wrap to the span",
               E1("t.w", "{\"dtype\":\"I64\",\"shape\":[2,1048577,1099510579201],\"data_offsets\":[0,16]}"), 16,
               "2^64");
    expect_bad("size mismatch",
               E1("to_logits.weight", "{\"dtype\":\"F32\",\"shape\":[64,31],\"data_offsets\":[0,8192]}"), 8192,
               "needs 7936 bytes, data_offsets span 8192");
    expect_bad("size mismatch names tensor",
               E1("to_logits.weight", "{\"dtype\":\"F32\",\"shape\":[64,31],\"data_offsets\":[0,8192]}"), 8192,
               "to_logits.weight");
    expect_bad("scalar with 0 bytes", E1("s", "{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,0]}"), 0, "needs 4");
    /* a zero dim makes numel 0 even next to a huge one */
    xtc_safetensors_free(
        expect_good("zero dim beside 2^53",
                    E1("z", "{\"dtype\":\"F64\",\"shape\":[0,9007199254740992],\"data_offsets\":[0,0]}"), 0));
}

static void test_layout(void) {
    expect_bad("overlap",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, "overlap");
    expect_bad("same span twice",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
               8, "overlap");
    expect_bad("span inside another",
               "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}}",
               8, "overlap");
    expect_bad("gap",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
               12, "gap");
    expect_bad("gap at the start", E1("a", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}"), 8, "gap");
    expect_bad("trailing bytes", E1("a", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"), 8, "trailing");
    expect_bad("no tensors, buffer not empty", "{\"__metadata__\":{}}", 4, "trailing");
    expect_bad("duplicate name",
               "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               8, "duplicate");
    expect_bad("duplicate name is named",
               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"layer.0.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
               "\"layer.0.w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
               12, "layer.0.w");
}

static void test_metadata(void) {
    expect_bad("metadata non-string value", "{\"__metadata__\":{\"format\":1}}", 0, "format");
    expect_bad("metadata null value", "{\"__metadata__\":{\"format\":null}}", 0, "format");
    expect_bad("metadata not an object", "{\"__metadata__\":\"pt\"}", 0, "__metadata__");
    expect_bad("metadata an array", "{\"__metadata__\":[\"pt\"]}", 0, "__metadata__");
    expect_bad("metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "twice");
    expect_bad("metadata key twice", "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\"}}", 0, "\"a\"");
}

// --- optional: real files

static int read_all_entries(const struct xtc_safetensors *st) {
    for (size_t i = 0; i < xtc_safetensors_count(st); i++) {
        const struct xtc_safetensors_entry *e = xtc_safetensors_entry(st, i);
        size_t n = e->numel ? (size_t)e->numel : 1;
        void *buf = malloc(n * 8);
        if (!buf)
            return -1;
        xtc_status rc;
        if (e->dtype == XTC_DTYPE_F32 || e->dtype == XTC_DTYPE_F16 || e->dtype == XTC_DTYPE_BF16 ||
            e->dtype == XTC_DTYPE_F64)
            rc = xtc_safetensors_read_f32(e, buf, NULL);
        else if (e->dtype == XTC_DTYPE_BOOL)
            rc = xtc_safetensors_read_bool(e, buf, NULL);
        else
            rc = xtc_safetensors_read_i64(e, buf, NULL);
        free(buf);
        if (rc != XTC_OK || xtc_safetensors_find(st, e->name) != e)
            return -1;
    }
    return 0;
}

static void test_golden_dir(const char *root) {
    DIR *d = opendir(root);
    CHECK(d != NULL, "cannot open %s", root);
    if (!d)
        return;
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        static const char *const names[] = {"model.safetensors", "io.safetensors"};
        for (int k = 0; k < 2; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s/%s", root, de->d_name, names[k]);
            struct stat sb;
            if (stat(path, &sb) != 0)
                continue;
            xtc_safetensors_t st = NULL;
            struct xtc_error err = {0};
            xtc_status rc = xtc_safetensors_open(&st, path, &err);
            CHECK(rc == XTC_OK, "golden %s: %s", path, err.msg);
            CHECK(rc != XTC_OK || read_all_entries(st) == 0, "golden %s: reading entries", path);
            CHECK(rc != XTC_OK || xtc_safetensors_metadata(st, "format"), "golden %s: no format metadata", path);
            xtc_safetensors_free(st);
            files++;
        }
    }
    closedir(d);
    CHECK(files > 0, "no safetensors files under %s", root);
    fprintf(stderr, "golden: %d files opened from %s\n", files, root);
}

static void test_bad_dir(const char *root) {
    static const char *const cases[] = {
        "model_empty_file/model.safetensors",          "model_header_len_2p63/model.safetensors",
        "model_entry_missing_dtype/model.safetensors", "model_unknown_dtype/model.safetensors",
        "model_overlapping_tensors/model.safetensors", "model_truncated_buffer/model.safetensors",
        "model_shape_disagrees_with_bytes/model.safetensors", "model_negative_shape_dim/model.safetensors",
        "model_duplicate_tensor_name/model.safetensors", "model_metadata_non_string_value/model.safetensors",
        "io_header_not_json/io.safetensors",           "io_offsets_end_before_begin/io.safetensors",
        "io_shape_product_overflows/io.safetensors",
    };
    int n = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", root, cases[i]);
        xtc_safetensors_t st = NULL;
        struct xtc_error err = {0};
        xtc_status rc = xtc_safetensors_open(&st, path, &err);
        CHECK(rc == XTC_ERR_FORMAT && err.msg[0], "bad %s: got %d (%s)", cases[i], (int)rc, err.msg);
        fprintf(stderr, "  bad %-52s -> %s\n", cases[i], err.msg);
        xtc_safetensors_free(st);
        n++;
    }
    fprintf(stderr, "bad: %d files checked from %s\n", n, root);
}

int main(int argc, char **argv) {
    char dir[] = "/tmp/xtc_test_st_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_round_trip(dir);
    rmdir(dir);
    test_header_length();
    test_header_text();
    good_header_text();
    test_entries();
    test_sizes();
    test_layout();
    test_metadata();
    if (argc > 1)
        test_golden_dir(argv[1]);
    if (argc > 2)
        test_bad_dir(argv[2]);
    if (g_fail) {
        fprintf(stderr, "test_safetensors: %d of %d checks FAILED\n", g_fail, g_checks);
        return 1;
    }
    printf("test_safetensors: all %d checks passed\n", g_checks);
    return 0;
}
