/* Helpers shared by the benchmark tools (bench_util.c). */
#ifndef XTC_BENCH_UTIL_H
#define XTC_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* *out = integer in s (>= lo), the whole string; prints "PROG: OPT: 'S' is not an integer >= lo"
 * (or "PROG: OPT needs an integer >= lo" when s is NULL) and returns -1 otherwise. */
int bench_parse_int(const char *prog, const char *opt, const char *s, long lo, long *out);

/* One option of a tool: an integer >= min into *i, a string into *s (`what` names the value in
 * the message when it is missing), or a flag that sets *flag to 1. */
struct bench_opt {
    const char *name;
    long *i;
    long min;
    const char **s;
    const char *what;
    int *flag;
};

/* Parses argv against the n options and one positional argument (*pos). -h / --help prints
 * usage to stdout. Returns 0 to go on, 1 after --help, 2 after an error (message and usage
 * printed to stderr). */
int bench_parse_args(const char *prog, int argc, char **argv, const struct bench_opt *opts, int n, const char **pos,
                     void (*usage)(FILE *));

/* Peak resident set size in MiB: VmHWM of /proc/self/status. getrusage's ru_maxrss is the fallback
 * only: Linux carries it across execve, so a process started by a big parent (bench.py, which
 * imports torch) would report the parent's peak. */
double bench_peak_rss_mb(void);

/* Monotonic seconds. */
double bench_now(void);

/* splitmix64: fixed-seed token ids, identical on every platform. */
uint64_t bench_rand(uint64_t *state);

/* Writes bytes to path; prints "PROG: cannot write ..." and returns -1 on failure. */
int bench_write_file(const char *prog, const char *path, const void *data, size_t bytes);

#endif
