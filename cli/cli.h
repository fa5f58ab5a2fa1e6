/* xtc command-line tool: the only code that prints or exits. */
#ifndef XTC_CLI_H
#define XTC_CLI_H

int xtc_cli_check(int argc, char **argv);
int xtc_cli_info(int argc, char **argv);
int xtc_cli_forward(int argc, char **argv);

int xtc_cli_train(int argc, char **argv);
int xtc_cli_generate(int argc, char **argv);

#include <stdio.h>
struct xtc_cli_series {
    const char *label, *color;
    const double *x, *y;
    int n;
};
/* Writes an SVG line plot of the series; non-zero on a write error. */
int xtc_cli_plot_svg(FILE *f, const struct xtc_cli_series *series, int n_series, const char *title);

/* A .npy array (npy.c): float32 or float64 (converted), C order, up to 8 dimensions; the
 * floats (caller frees) and the shape, or NULL with a message in err. */
#include <stdint.h>
#include <stddef.h>
float *xtc_cli_read_npy(const char *path, int64_t *shape, int *ndim, char *err, size_t err_len);
/* The same from the file's bytes (path names it in messages). */
float *xtc_cli_parse_npy(const char *buf, size_t len, const char *path, int64_t *shape, int *ndim, char *err,
                         size_t err_len);

/* Reads a whole (small) file; NULL with a message in err on failure. Caller frees. */
char *xtc_cli_read_file(const char *path, size_t *len, char *err, size_t err_len);

/* xtc train's corpus (corpus.c): a regular file (symbolic links followed), or the regular
 * files of a directory (not recursive, hidden and .dat files skipped) concatenated in
 * byte-wise name order. NULL with a message in err on any failure (empty path, not a regular
 * file or directory, unreadable, out of memory, no text). Prints nothing. Caller frees. */
#include <stdint.h>
uint8_t *xtc_cli_read_corpus(const char *path, size_t *len, size_t *n_files, char *err, size_t err_len);

/* Strict option values (util.c), the only number parsing of the tool. The whole string must be
 * the number (decimal integers; floats as strtod reads them, finite), within [lo, hi]. On
 * failure they print a message naming the command, the flag and the value, e.g.
 *     xtc train: --steps: 'abc' is not an integer
 * and return 2 (the tool's usage-error status); 0 on success, *out untouched on failure. */
#include <stdint.h>
/* The message of a value that is not what the flag takes ("xtc CMD: FLAG: 'S' WHAT"); returns 2. */
int xtc_cli_bad_value(const char *cmd, const char *flag, const char *s, const char *what);
int xtc_cli_parse_i64(const char *cmd, const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out);
int xtc_cli_parse_int(const char *cmd, const char *flag, const char *s, int lo, int hi, int *out);
/* 0 .. 2^64 - 1 (seeds); a sign other than '+' is an error, not a wrap-around. */
int xtc_cli_parse_u64(const char *cmd, const char *flag, const char *s, uint64_t *out);
/* hi may be HUGE_VAL (no upper bound); the value must also fit a float. */
int xtc_cli_parse_float(const char *cmd, const char *flag, const char *s, double lo, double hi, float *out);
/* A comma-separated list of token ids (each 0 .. 2^63 - 1) into a new array (caller frees). */
int xtc_cli_parse_tokens(const char *cmd, const char *flag, const char *s, int64_t **ids, int64_t *n);

#endif
