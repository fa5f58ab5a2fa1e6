/* Small helpers for the CLI: reading files, and strict parsing of option values. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xtc/file.h"

char *xtc_cli_read_file(const char *path, size_t *len, char *err, size_t err_len) {
    struct xtc_error e = {0};
    char *text = xtc_file_read_text(path, (size_t)64 << 20, len, &e);
    if (!text)
        snprintf(err, err_len, "%s", e.msg);
    return text;
}

/* ------------------------------------------------------------------ option values */

/* Whole-string parsing: no leading blanks (strtol and strtod would skip them), no trailing
 * characters, no overflow. Integers are decimal; floats are anything strtod reads that is
 * finite ("1e-3", "0.5"), never "nan" or "inf". */

int xtc_cli_bad_value(const char *cmd, const char *flag, const char *s, const char *what) {
    fprintf(stderr, "xtc %s: %s: '%s' %s\n", cmd, flag, s ? s : "", what);
    return 2;
}

int xtc_cli_parse_i64(const char *cmd, const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    if (!s || !*s || isspace((unsigned char)*s))
        return xtc_cli_bad_value(cmd, flag, s, "is not an integer");
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end)
        return xtc_cli_bad_value(cmd, flag, s, "is not an integer");
    if (errno == ERANGE || v < lo || v > hi) {
        char what[96];
        if (hi == INT64_MAX || hi == INT_MAX) /* no bound of the option's own, only the type's */
            snprintf(what, sizeof what, "is out of range (must be >= %lld)", (long long)lo);
        else
            snprintf(what, sizeof what, "is out of range (must be between %lld and %lld)", (long long)lo,
                     (long long)hi);
        return xtc_cli_bad_value(cmd, flag, s, what);
    }
    *out = v;
    return 0;
}

int xtc_cli_parse_int(const char *cmd, const char *flag, const char *s, int lo, int hi, int *out) {
    int64_t v;
    int rc = xtc_cli_parse_i64(cmd, flag, s, lo, hi, &v);
    if (rc == 0)
        *out = (int)v;
    return rc;
}

int xtc_cli_parse_u64(const char *cmd, const char *flag, const char *s, uint64_t *out) {
    /* strtoull accepts "-1" (and wraps it): only digits may follow an optional '+' */
    const char *d = s && *s == '+' ? s + 1 : s;
    if (!d || !isdigit((unsigned char)*d))
        return xtc_cli_bad_value(cmd, flag, s, "is not a non-negative integer");
    char *end;
    errno = 0;
    unsigned long long v = strtoull(d, &end, 10);
    if (*end)
        return xtc_cli_bad_value(cmd, flag, s, "is not a non-negative integer");
    if (errno == ERANGE)
        return xtc_cli_bad_value(cmd, flag, s, "is out of range (must be below 2^64)");
    *out = v;
    return 0;
}

int xtc_cli_parse_float(const char *cmd, const char *flag, const char *s, double lo, double hi, float *out) {
    if (!s || !*s || isspace((unsigned char)*s))
        return xtc_cli_bad_value(cmd, flag, s, "is not a number");
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return xtc_cli_bad_value(cmd, flag, s, "is not a number");
    if (!(v >= lo && v <= hi) || !isfinite((float)v)) {
        char what[96];
        if (hi == HUGE_VAL)
            snprintf(what, sizeof what, "is out of range (must be >= %g)", lo);
        else
            snprintf(what, sizeof what, "is out of range (must be between %g and %g)", lo, hi);
        return xtc_cli_bad_value(cmd, flag, s, what);
    }
    *out = (float)v;
    return 0;
}

int xtc_cli_parse_tokens(const char *cmd, const char *flag, const char *s, int64_t **ids, int64_t *n) {
    *ids = NULL;
    *n = 0;
    size_t cap = 1;
    for (const char *p = s; p && *p; p++)
        cap += *p == ',';
    int64_t *out = malloc(sizeof(int64_t) * cap);
    if (!out) {
        fprintf(stderr, "xtc %s: out of memory\n", cmd);
        return 1;
    }
    char item[32];
    for (const char *p = s ? s : ""; ; ) {
        size_t len = 0;
        while (p[len] && p[len] != ',')
            len++;
        int64_t v = 0;
        int rc = 0;
        if (len == 0 || len >= sizeof item) {
            rc = xtc_cli_bad_value(cmd, flag, s, "is not a comma-separated list of token ids");
        } else {
            snprintf(item, sizeof item, "%.*s", (int)len, p);
            rc = xtc_cli_parse_i64(cmd, flag, item, 0, INT64_MAX, &v);
        }
        if (rc) {
            free(out);
            return rc;
        }
        out[(*n)++] = v;
        if (!p[len])
            break;
        p += len + 1;
    }
    *ids = out;
    return 0;
}
