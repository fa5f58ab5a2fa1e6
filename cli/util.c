/* Small helpers for the CLI: files, strict numbers. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

char *xtc_cli_read_file(const char *path, size_t *len, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "cannot open %s", path);
        return NULL;
    }
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (64L << 20) && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) != NULL) {
        *len = fread(buf, 1, (size_t)n, f);
        buf[*len] = '\0';
    }
    fclose(f);
    if (!buf)
        snprintf(err, err_len, "cannot read %s (unreadable or larger than 64 MiB)", path);
    return buf;
}

/* ------------------------------------------------------------------ strict numbers */

int xtc_cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE || v < lo || v > hi)
        return -1;
    *out = (int64_t)v;
    return 0;
}

int xtc_cli_parse_u64(const char *s, uint64_t *out) {
    if (!s || !isdigit((unsigned char)*s)) /* strtoull would take "-1" as 2^64 - 1 */
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno == ERANGE)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int xtc_cli_parse_f32(const char *s, double lo, double hi, float *out) {
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v) || !(v >= lo && v <= hi))
        return -1;
    *out = (float)v;
    return 0;
}
