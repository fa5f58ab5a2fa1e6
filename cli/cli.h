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

/* Reads a whole (small) file; NULL with a message in err on failure. Caller frees. */
char *xtc_cli_read_file(const char *path, size_t *len, char *err, size_t err_len);

/* Strict numbers for option values: the whole string is one number (no sign or space before it
 * for unsigned, no trailing characters, no overflow) within [lo, hi]; floats must be finite.
 * 0 on success; -1 leaves *out unchanged. */
#include <stdint.h>
int xtc_cli_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
int xtc_cli_parse_u64(const char *s, uint64_t *out);
int xtc_cli_parse_f32(const char *s, double lo, double hi, float *out);

#endif
