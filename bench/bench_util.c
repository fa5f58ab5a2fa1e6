/* Helpers shared by the benchmark tools: argument parsing, timing, memory, random tokens. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int bench_parse_int(const char *prog, const char *opt, const char *s, long lo, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s ? s : "", &end, 10);
    if (!s || errno || end == s || *end || v < lo || isspace((unsigned char)*s)) {
        if (s)
            fprintf(stderr, "%s: %s: '%s' is not an integer >= %ld\n", prog, opt, s, lo);
        else
            fprintf(stderr, "%s: %s needs an integer >= %ld\n", prog, opt, lo);
        return -1;
    }
    *out = v;
    return 0;
}

int bench_parse_args(const char *prog, int argc, char **argv, const struct bench_opt *opts, int n, const char **pos,
                     void (*usage)(FILE *)) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        }
        const struct bench_opt *o = NULL;
        for (int k = 0; k < n && !o; k++)
            o = strcmp(a, opts[k].name) ? NULL : &opts[k];
        if (!o && (a[0] == '-' || *pos)) {
            fprintf(stderr, "%s: unexpected argument '%s'\n", prog, a);
            usage(stderr);
            return 2;
        }
        if (!o) {
            *pos = a;
        } else if (o->flag) {
            *o->flag = 1;
        } else if (o->i) {
            if (bench_parse_int(prog, a, v, o->min, o->i))
                return 2;
            i++;
        } else {
            if (!v) {
                fprintf(stderr, "%s: %s needs %s\n", prog, a, o->what);
                return 2;
            }
            *o->s = v, i++;
        }
    }
    return 0;
}

double bench_peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return (double)kb / 1024.0;
}

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t bench_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int bench_write_file(const char *prog, const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    return 0;
}
