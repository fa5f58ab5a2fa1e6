/* NumPy .npy arrays for `xtc forward --input` (numpy.save of a float32 or float64 array, C
 * order). The file is untrusted: the magic, version, header length, the header's three keys
 * and the shape are checked against each other and against the file's size before any data
 * is read. Format: "\x93NUMPY", major, minor, a little-endian header length (2 bytes in
 * version 1, 4 in versions 2 and 3), then a Python dict literal padded with spaces and '\n',
 * e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 7, 5), }. Little-endian hosts. */
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define NPY_MAX_DIMS 8

/* the value text after 'key': in the header h (NULL when absent) */
static const char *npy_value(const char *h, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(h, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    return p;
}

/* the shape tuple "(a, b, c)" at p: *ndim sizes, each >= 0 and their product <= 2^40 */
static int npy_shape(const char *p, int64_t *shape, int *ndim) {
    if (*p++ != '(')
        return -1;
    *ndim = 0;
    while (1) {
        while (*p == ' ')
            p++;
        if (*p == ')')
            return 0;
        if (*ndim == NPY_MAX_DIMS || *p < '0' || *p > '9')
            return -1;
        int64_t v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
            if (v > ((int64_t)1 << 40))
                return -1;
        }
        shape[(*ndim)++] = v;
        while (*p == ' ')
            p++;
        if (*p == ',')
            p++;
        else if (*p != ')')
            return -1;
    }
}

float *xtc_cli_parse_npy(const char *buf, size_t len, const char *path, int64_t *shape, int *ndim, char *err,
                         size_t err_len) {
    float *out = NULL;
    const unsigned char *u = (const unsigned char *)buf;
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
        snprintf(err, err_len, "%s: not a .npy file (no \\x93NUMPY magic)", path);
        goto done;
    }
    const int major = u[6];
    size_t hlen, start;
    if (major == 1) {
        hlen = (size_t)u[8] | (size_t)u[9] << 8;
        start = 10;
    } else if ((major == 2 || major == 3) && len >= 12) {
        hlen = (size_t)u[8] | (size_t)u[9] << 8 | (size_t)u[10] << 16 | (size_t)u[11] << 24;
        start = 12;
    } else {
        snprintf(err, err_len, "%s: .npy version %d.%d is not supported (1, 2 or 3)", path, major, u[7]);
        goto done;
    }
    if (hlen > len - start || hlen > 65536) {
        snprintf(err, err_len, "%s: .npy header of %zu bytes runs past the file (%zu bytes)", path, hlen, len);
        goto done;
    }
    char h[65537];
    memcpy(h, buf + start, hlen);
    h[hlen] = '\0';
    if (strlen(h) != hlen) {
        snprintf(err, err_len, "%s: .npy header holds a NUL byte", path);
        goto done;
    }
    const char *descr = npy_value(h, "descr"), *order = npy_value(h, "fortran_order"), *sh = npy_value(h, "shape");
    if (!descr || !order || !sh) {
        snprintf(err, err_len, "%s: .npy header lacks descr, fortran_order or shape", path);
        goto done;
    }
    int f64;
    if (!strncmp(descr, "'<f4'", 5) || !strncmp(descr, "'|f4'", 5))
        f64 = 0;
    else if (!strncmp(descr, "'<f8'", 5))
        f64 = 1;
    else {
        snprintf(err, err_len, "%s: .npy dtype must be little-endian float32 or float64 ('<f4' or '<f8')", path);
        goto done;
    }
    if (strncmp(order, "False", 5) != 0) {
        snprintf(err, err_len, "%s: .npy array in Fortran order: save a C-ordered array", path);
        goto done;
    }
    if (npy_shape(sh, shape, ndim) != 0) {
        snprintf(err, err_len, "%s: .npy shape is not a tuple of up to %d sizes", path, NPY_MAX_DIMS);
        goto done;
    }
    uint64_t n = 1;
    for (int d = 0; d < *ndim; d++) {
        n *= (uint64_t)shape[d];
        if (n > ((uint64_t)1 << 40)) {
            snprintf(err, err_len, "%s: .npy array too large", path);
            goto done;
        }
    }
    const size_t esize = f64 ? 8 : 4, data = start + hlen;
    if (n * esize != len - data) {
        snprintf(err, err_len, "%s: .npy data is %zu bytes, the shape needs %llu", path, len - data,
                 (unsigned long long)(n * esize));
        goto done;
    }
    out = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!out) {
        snprintf(err, err_len, "%s: out of memory for %llu floats", path, (unsigned long long)n);
        goto done;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (f64) {
            double v;
            memcpy(&v, buf + data + 8 * i, 8);
            if (v > FLT_MAX || v < -FLT_MAX) { /* inf stays inf; a finite value past float's range has none */
                if (v == v && v - v == 0) {
                    snprintf(err, err_len, "%s: .npy value %g at %llu is beyond float32", path, v, (unsigned long long)i);
                    free(out);
                    out = NULL;
                    goto done;
                }
            }
            out[i] = (float)v;
        } else {
            memcpy(&out[i], buf + data + 4 * i, 4);
        }
    }
done:
    return out;
}

float *xtc_cli_read_npy(const char *path, int64_t *shape, int *ndim, char *err, size_t err_len) {
    size_t len = 0;
    char *buf = xtc_cli_read_file(path, &len, err, err_len);
    if (!buf)
        return NULL;
    float *out = xtc_cli_parse_npy(buf, len, path, shape, ndim, err, err_len);
    free(buf);
    return out;
}
