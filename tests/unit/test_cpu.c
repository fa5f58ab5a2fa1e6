/* The kernel level (include/xtc/cpu.h, src/core/cpu.c): detection, the cap through the API,
 * names, the description line and the kernel table; and XTC_CPU, read from this process's
 * environment: the ctest entries cpu/xtc_cpu_portable, cpu/xtc_cpu_avx2, cpu/xtc_cpu_unknown
 * and cpu/xtc_cpu_above run this test again with XTC_CPU=portable, avx2, an unknown name, and
 * "amx" (above this machine's level unless it has AMX). With XTC_CPU=avx2 on an AVX-512
 * machine the decoding product must really run the avx2 kernel (bit for bit the API cap's),
 * within rounding of the avx512 one. With XTC_CPU=portable the dispatching decoding product
 * must really run the portable code: bit for bit what level portable gives through the API,
 * and (on a machine with AVX2) different bits from the AVX2 kernel, within rounding of it; and
 * the compiler-vectorized product (matvec.c's dot products, a body compiled per level by
 * dispatch.h) must equal its baseline build bit for bit, its AVX2 build within rounding. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/matvec.h"
#include "check.h"
#include "core/cpu.h"
#include "xtc/cpu.h"
#include "xtc/status.h"

static char g_logged[1024];

static void on_log(enum xtc_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == XTC_LOG_WARN && !g_logged[0])
        snprintf(g_logged, sizeof g_logged, "%s", msg);
}

enum { N = 3, CIN = 1037, COUT = 24 };

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

static void product(float *out, const float *x, const float *w) {
    xtc_matvec_f32(out, COUT, x, N, w, NULL, CIN, 0, COUT);
}

static void product_c(float *out, const float *x, const float *w) {
    xtc_matvec_f32_portable(out, COUT, x, N, w, NULL, CIN, 0, COUT);
}

/* the decoding product at the level in force, at level portable through the API, at avx2 */
static void portable_really_runs(void) {
    static float w[COUT * CIN], x[N * CIN], env_out[N * COUT], port[N * COUT], avx2[N * COUT];
    static float env_c[N * COUT], port_c[N * COUT], avx2_c[N * COUT];
    uint64_t seed = 7;
    for (int i = 0; i < COUT * CIN; i++)
        w[i] = frand(&seed);
    for (int i = 0; i < N * CIN; i++)
        x[i] = frand(&seed);
    product(env_out, x, w);
    product_c(env_c, x, w);
    CHECK(xtc_cpu_set_max_level(XTC_CPU_PORTABLE) == XTC_CPU_PORTABLE, "the cap lowers the level");
    product(port, x, w);
    product_c(port_c, x, w);
    CHECK(memcmp(env_out, port, sizeof port) == 0, "XTC_CPU=portable runs the portable product, bit for bit");
    CHECK(memcmp(env_c, port_c, sizeof port_c) == 0, "XTC_CPU=portable runs the baseline build, bit for bit");
    if (xtc_cpu_detected_level() >= XTC_CPU_AVX2) {
        CHECK(xtc_cpu_set_max_level(XTC_CPU_AVX2) == XTC_CPU_AVX2, "the API lifts the environment's cap");
        product(avx2, x, w);
        product_c(avx2_c, x, w);
        /* fp32 sums of 1037 products of values in [-1, 1] in two orders: within 1e-5 * Cin */
        CHECK(xtc_check_close_f("avx2 vs portable", avx2, port, N * COUT, 1e-5 * CIN, 1e-5) == 0,
              "the AVX2 kernel agrees within rounding");
        CHECK(memcmp(avx2, port, sizeof port) != 0, "the AVX2 kernel is other code (FMA, other sum order)");
        /* the same bound: one sum, another lane split */
        CHECK(xtc_check_close_f("avx2 build vs baseline", avx2_c, port_c, N * COUT, 1e-5 * CIN, 1e-5) == 0,
              "the AVX2 build agrees within rounding");
        /* not a check: whether the two builds' sums split differently is the compiler's choice
         * (sanitizer builds vectorize neither the same way) */
        printf("test_cpu: the AVX2 build of the portable product %s the baseline's bits\n",
               memcmp(avx2_c, port_c, sizeof port_c) ? "differs from" : "equals");
    }
}

/* XTC_CPU=avx2 (on an AVX-512 machine: the lower path, forced): the product at the level in
 * force is the avx2 kernel's, bit for bit; the avx512 kernel above it agrees within rounding. */
static void avx2_really_runs(void) {
    static float w[COUT * CIN], x[N * CIN], env_out[N * COUT], avx2[N * COUT], avx512[N * COUT];
    uint64_t seed = 11;
    for (int i = 0; i < COUT * CIN; i++)
        w[i] = frand(&seed);
    for (int i = 0; i < N * CIN; i++)
        x[i] = frand(&seed);
    product(env_out, x, w);
    CHECK(xtc_cpu_set_max_level(XTC_CPU_AVX2) == XTC_CPU_AVX2, "the API sets the same cap");
    product(avx2, x, w);
    CHECK(memcmp(env_out, avx2, sizeof avx2) == 0, "XTC_CPU=avx2 runs the avx2 product, bit for bit");
    if (xtc_cpu_detected_level() >= XTC_CPU_AVX512) {
        CHECK(xtc_cpu_set_max_level(XTC_CPU_AVX512) == XTC_CPU_AVX512, "the API lifts the environment's cap");
        product(avx512, x, w);
        /* as in portable_really_runs: two sum orders of 1037 products */
        CHECK(xtc_check_close_f("avx512 vs avx2", avx512, avx2, N * COUT, 1e-5 * CIN, 1e-5) == 0,
              "the avx512 kernel agrees within rounding");
        printf("test_cpu: the avx512 product %s the avx2 one's bits\n",
               memcmp(avx512, avx2, sizeof avx2) ? "differs from" : "equals");
    }
}

int main(void) {
    xtc_log_set(on_log, NULL); /* before the first call, which reads XTC_CPU */
    const char *env = getenv("XTC_CPU");
    const enum xtc_cpu_level detected = xtc_cpu_detected_level(), level = xtc_cpu_level();
    CHECK(detected >= XTC_CPU_PORTABLE && detected < XTC_CPU_BEST, "detected level %d", (int)detected);
    CHECK(detected == xtc_cpu_level_of(xtc_cpu_features()), "one decision");
    char line[512];
    size_t len = xtc_cpu_describe(line, sizeof line);
    CHECK(len > 0 && len == strlen(line), "describe: %s", line);
    printf("test_cpu: %s\n", line);
    int parsed = env ? xtc_cpu_level_parse(env) : -1;
    if (!env || !*env) {
        CHECK(level == detected && !g_logged[0], "no XTC_CPU: the CPU's best level, nothing logged");
    } else if (parsed < 0) {
        CHECK(level == detected, "unknown XTC_CPU=%s ignored", env);
        CHECK(strstr(g_logged, env) && strstr(g_logged, "unknown"), "unknown XTC_CPU reported: '%s'", g_logged);
        CHECK(strstr(line, "ignored") != NULL, "the description says it was ignored");
    } else if (parsed > (int)detected && parsed != XTC_CPU_BEST) {
        CHECK(level == detected, "XTC_CPU=%s above the CPU: its best level", env);
        CHECK(strstr(g_logged, "at most") != NULL, "XTC_CPU above the CPU reported: '%s'", g_logged);
    } else {
        CHECK(level == (parsed == XTC_CPU_BEST ? detected : (enum xtc_cpu_level)parsed) && !g_logged[0],
              "XTC_CPU=%s caps the level silently", env);
        CHECK(strstr(line, "XTC_CPU=") != NULL, "the description names the cap");
        if (parsed == XTC_CPU_PORTABLE)
            portable_really_runs();
        else if (parsed == XTC_CPU_AVX2)
            avx2_really_runs();
    }

    /* the API cap: every level up to the detected one, above it the detected one */
    for (int l = XTC_CPU_PORTABLE; l <= XTC_CPU_BEST; l++) {
        enum xtc_cpu_level got = xtc_cpu_set_max_level((enum xtc_cpu_level)l);
        enum xtc_cpu_level want = l < (int)detected ? (enum xtc_cpu_level)l : detected;
        CHECK(got == want && xtc_cpu_level() == want, "cap %s: level %s", xtc_cpu_level_name(l),
              xtc_cpu_level_name(got));
        CHECK(xtc_cpu_level_parse(xtc_cpu_level_name(l)) == l, "name %s parses back", xtc_cpu_level_name(l));
        struct xtc_cpu_kernel k[16];
        int n = xtc_cpu_kernels(k, 16);
        bool named = n > 1;
        for (int i = 0; i < n && i < 16; i++)
            named &= k[i].family && k[i].path && *k[i].path;
        CHECK(named, "cap %s: every kernel family has a path", xtc_cpu_level_name(l));
        /* the matvec families have code for portable, avx2 and avx512, bf16 weights for
         * avx512_bf16 too; above, the best of those */
        for (int i = 0; i < 3; i++) {
            const enum xtc_cpu_level top = i == 1 ? XTC_CPU_AVX512_BF16 : XTC_CPU_AVX512;
            const char *want_path = xtc_cpu_level_name(got < top ? got : top);
            CHECK(strncmp(k[i].path, want_path, strlen(want_path)) == 0 && k[i].path[strlen(want_path)] == ' ',
                  "cap %s: %s runs %s", xtc_cpu_level_name(l), k[i].family, k[i].path);
        }
    }
    CHECK(xtc_cpu_set_max_level((enum xtc_cpu_level)(-3)) == detected &&
              xtc_cpu_set_max_level((enum xtc_cpu_level)99) == detected,
          "out-of-range caps mean none");
    CHECK(xtc_cpu_level_parse("AVX2") == XTC_CPU_AVX2 && xtc_cpu_level_parse("avx") == -1 &&
              xtc_cpu_level_parse("") == -1 && xtc_cpu_level_parse("avx2x") == -1,
          "parsing: case-insensitive, whole names only");
    CHECK(strcmp(xtc_cpu_level_name((enum xtc_cpu_level)42), "?") == 0, "unknown level name");
    char tiny[8];
    len = xtc_cpu_describe(line, sizeof line);
    CHECK(xtc_cpu_describe(tiny, sizeof tiny) == len && strlen(tiny) == 7, "describe truncates like snprintf");
    return xtc_check_report("test_cpu");
}
