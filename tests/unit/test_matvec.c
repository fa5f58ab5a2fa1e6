/* Decoding's matrix-vector kernels (backend/cpu/matvec.c, matvec_q8.c, matvec_v16.c) against a double-precision
 * reference: fp32, bfloat16 and int8 weights (the int8 format's quantization checked too), every row count of the
 * matrix-vector regime (1..4) and short prompts (9, 16 rows), output ranges that do not start or end on the kernels'
 * 4-row blocks, inputs whose length is not a multiple of the vector width or of the bf16 kernels' 4096-element chunks,
 * with and without bias, into an output with a wider row stride; at every kernel level up to the one in force
 * (xtc/cpu.h: each level the machine has unless XTC_CPU caps it, forced through xtc_cpu_set_max_level; on an AVX-512
 * machine the avx512 kernels of matvec_v16.c, and the avx2 ones below them), through the explicitly portable entries,
 * and (on any machine with AVX2) through the AVX2 builds of matvec_v16.c's sources (the avx512_bf16 kernel's with its
 * dot-product instruction emulated), so that the avx512 kernels' code is checked on machines without AVX-512 too. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/matvec.h"
#include "check.h"
#include "core/q8.h"
#include "xtc/cpu.h"
#include "xtc/tensor.h"

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*s >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

/* the entries one_case calls */
enum entry {
    DISPATCH,      /* xtc_matvec_*: the kernels of the level in force */
    PORTABLE,      /* xtc_matvec_*_portable */
    AVX512_ON_AVX2,    /* xtc_matvec_*_avx512_on_avx2: matvec_v16.c's source built for AVX2 */
    AVX512BF16_ON_AVX2 /* bf16: xtc_matvec_bf16_avx512bf16_on_avx2 (VDPBF16PS emulated); f32, int8: as above */
};
static enum entry entry;
/* at level avx512: products compared bit for bit with the AVX2 build of the same source */
static int n_twins, n_twins_same;

static void run_f32(float *out, int64_t ldo, const float *x, int64_t N, const float *w, const float *bias, int64_t Cin,
                    int64_t o0, int64_t o1) {
#ifdef XTC_MATVEC_AVX512
    if (entry == AVX512_ON_AVX2 || entry == AVX512BF16_ON_AVX2) {
        xtc_matvec_f32_avx512_on_avx2(out, ldo, x, N, w, bias, Cin, o0, o1);
        return;
    }
#endif
    (entry == PORTABLE ? xtc_matvec_f32_portable : xtc_matvec_f32)(out, ldo, x, N, w, bias, Cin, o0, o1);
}

static void run_bf16(float *out, int64_t ldo, const float *x, int64_t N, const uint16_t *w, const float *bias,
                     int64_t Cin, int64_t o0, int64_t o1) {
#ifdef XTC_MATVEC_AVX512
    if (entry == AVX512_ON_AVX2) {
        xtc_matvec_bf16_avx512_on_avx2(out, ldo, x, N, w, bias, Cin, o0, o1);
        return;
    }
    if (entry == AVX512BF16_ON_AVX2) {
        xtc_matvec_bf16_avx512bf16_on_avx2(out, ldo, x, N, w, bias, Cin, o0, o1);
        return;
    }
#endif
    (entry == PORTABLE ? xtc_matvec_bf16_portable : xtc_matvec_bf16)(out, ldo, x, N, w, bias, Cin, o0, o1);
}

static void run_q8(float *out, int64_t ldo, const float *x, int64_t N, const int8_t *q, const float *sc,
                   const float *bias, int64_t Cin, int64_t o0, int64_t o1) {
#ifdef XTC_MATVEC_AVX512
    if (entry == AVX512_ON_AVX2 || entry == AVX512BF16_ON_AVX2) {
        xtc_matvec_q8_avx512_on_avx2(out, ldo, x, N, q, sc, bias, Cin, o0, o1);
        return;
    }
#endif
    (entry == PORTABLE ? xtc_matvec_q8_portable : xtc_matvec_q8)(out, ldo, x, N, q, sc, bias, Cin, o0, o1);
}

static void one_case(int64_t N, int64_t Cin, int64_t Cout, int64_t o0, int64_t o1, int with_bias) {
    uint64_t seed = (uint64_t)(N * 1000003 + Cin * 101 + Cout);
    const int64_t ldo = Cout + 3;
    float *w = malloc(sizeof(float) * (size_t)(Cout * Cin)), *x = malloc(sizeof(float) * (size_t)(N * Cin));
    uint16_t *w16 = malloc(sizeof(uint16_t) * (size_t)(Cout * Cin));
    const int64_t nb = xtc_q8_blocks(Cin);
    int8_t *q8 = malloc((size_t)(Cout * Cin));
    float *sc = malloc(sizeof(float) * (size_t)(Cout * nb));
    float *bias = malloc(sizeof(float) * (size_t)Cout), *out = malloc(sizeof(float) * (size_t)(N * ldo));
    float *got = malloc(sizeof(float) * (size_t)(N * (o1 - o0)));
    double *want = malloc(sizeof(double) * (size_t)(N * (o1 - o0)));
    for (int64_t i = 0; i < Cout * Cin; i++) {
        w[i] = frand(&seed);
        w16[i] = xtc_f32_to_bf16(w[i]);
    }
    for (int64_t i = 0; i < N * Cin; i++)
        x[i] = frand(&seed);
    for (int64_t i = 0; i < Cout; i++)
        bias[i] = frand(&seed);
    for (int64_t o = 0; o < Cout; o++)
        CHECK(xtc_q8_quantize_row(q8 + o * Cin, sc + o * nb, w + o * Cin, Cin), "finite rows quantize");
    for (int pass = 0; pass < 3; pass++) { /* 0: fp32 weights, 1: bf16 weights, 2: int8 weights */
        for (int64_t i = 0; i < N * ldo; i++)
            out[i] = -12345.0f; /* outside [o0, o1) must stay untouched */
        if (pass == 0)
            run_f32(out, ldo, x, N, w, with_bias ? bias : NULL, Cin, o0, o1);
        else if (pass == 1)
            run_bf16(out, ldo, x, N, w16, with_bias ? bias : NULL, Cin, o0, o1);
        else
            run_q8(out, ldo, x, N, q8, sc, with_bias ? bias : NULL, Cin, o0, o1);
#ifdef XTC_MATVEC_AVX512
        if (entry == DISPATCH && xtc_cpu_level() >= XTC_CPU_AVX512) {
            float *twin = malloc(sizeof(float) * (size_t)(N * ldo));
            for (int64_t i = 0; i < N * ldo; i++)
                twin[i] = -12345.0f;
            /* the build of the source the level in force runs */
            entry = pass == 1 && xtc_cpu_level() >= XTC_CPU_AVX512_BF16 ? AVX512BF16_ON_AVX2 : AVX512_ON_AVX2;
            if (pass == 0)
                run_f32(twin, ldo, x, N, w, with_bias ? bias : NULL, Cin, o0, o1);
            else if (pass == 1)
                run_bf16(twin, ldo, x, N, w16, with_bias ? bias : NULL, Cin, o0, o1);
            else
                run_q8(twin, ldo, x, N, q8, sc, with_bias ? bias : NULL, Cin, o0, o1);
            entry = DISPATCH;
            n_twins++;
            n_twins_same += memcmp(twin, out, sizeof(float) * (size_t)(N * ldo)) == 0;
            free(twin);
        }
#endif
        int untouched = 1;
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < ldo; o++) {
                float v = out[n * ldo + o];
                if (o >= o0 && o < o1) {
                    double s = with_bias ? bias[o] : 0.0;
                    for (int64_t k = 0; k < Cin; k++) {
                        const double wk = pass == 2   ? (double)sc[o * nb + k / XTC_Q8_BLOCK] * q8[o * Cin + k]
                                          : pass == 1 ? xtc_bf16_to_f32(w16[o * Cin + k])
                                                      : w[o * Cin + k];
                        s += wk * x[n * Cin + k];
                    }
                    got[n * (o1 - o0) + o - o0] = v;
                    want[n * (o1 - o0) + o - o0] = s;
                } else {
                    untouched &= v == -12345.0f;
                }
            }
        char name[128];
        snprintf(name, sizeof name, "%s %s N=%lld Cin=%lld rows %lld..%lld bias %d",
                 entry == PORTABLE         ? "portable entry"
                 : entry == AVX512_ON_AVX2 ? "avx512 source on avx2"
                 : entry == AVX512BF16_ON_AVX2 ? "avx512_bf16 source on avx2"
                                           : xtc_cpu_level_name(xtc_cpu_level()),
                 pass == 2 ? "int8" : pass ? "bf16" : "f32", (long long)N, (long long)Cin, (long long)o0, (long long)o1, with_bias);
        CHECK(untouched, "%s: only the requested outputs are written", name);
        /* fp32 sums of Cin products of values in [-1, 1] in another order than the double
         * reference: error ~ sqrt(Cin) * 6e-8 * |terms|, well under 1e-5 * Cin; the avx512_bf16
         * kernel's x in two bf16 halves adds up to 2^-16 |term| each: ~ sqrt(Cin) * 4e-6, under
         * it too (x as bf16 alone, 2^-9 |term|, would not be) */
        CHECK(xtc_check_close(name, got, want, (size_t)(N * (o1 - o0)), 1e-5 * (double)Cin, 1e-5) == 0, "%s", name);
    }
    free(w), free(x), free(w16), free(bias), free(out), free(got), free(want), free(q8), free(sc);
}

/* The int8 format: every weight within half a step (scale / 2) of scale x q, q never -128, the
 * largest magnitude of a block exact up to rounding; zero and tiny blocks; inf and NaN refused. */
static void quantization(void) {
    uint64_t seed = 99;
    for (int64_t cols = 1; cols <= 100; cols += 33) {
        float w[100], s[4];
        int8_t q[100];
        for (int64_t k = 0; k < cols; k++)
            w[k] = frand(&seed) * (k % 7 == 0 ? 100.0f : 1.0f);
        CHECK(xtc_q8_quantize_row(q, s, w, cols), "cols %lld quantizes", (long long)cols);
        int ok = 1;
        for (int64_t k = 0; k < cols; k++) {
            const double sk = s[k / XTC_Q8_BLOCK], d = fabs((double)w[k] - sk * q[k]);
            ok &= d <= sk * 0.5 * (1 + 1e-6) && q[k] != -128;
        }
        CHECK(ok, "cols %lld: |w - s q| <= s / 2", (long long)cols);
    }
    float z[40] = {0}, s[2] = {-1, -1};
    int8_t q[40];
    z[3] = 1e-42f; /* a denormal block: 127 / max|w| would overflow */
    CHECK(xtc_q8_quantize_row(q, s, z, 40) && q[3] != 0 && fabs((double)s[0] * q[3] - 1e-42) <= s[0] * 0.5 + 1e-45 &&
              s[1] == 0 && q[39] == 0,
          "zero and denormal blocks");
    z[35] = INFINITY;
    CHECK(!xtc_q8_quantize_row(q, s, z, 40), "inf refused");
    z[35] = NAN;
    CHECK(!xtc_q8_quantize_row(q, s, z, 40), "NaN refused");
}

/* Every input size, row count and output range of one pass of main's loop. */
static void all_cases(void) {
    const int64_t cins[] = {1, 7, 15, 16, 31, 32, 33, 64, 256, 512, 513, 1037};
    for (size_t c = 0; c < sizeof cins / sizeof cins[0]; c++)
        for (int64_t N = 1; N <= 4; N++) {
            one_case(N, cins[c], 24, 0, 24, 1);
            one_case(N, cins[c], 24, 3, 17, 0);
            one_case(N, cins[c], 24, 5, 6, 1);
        }
    for (int64_t N = 1; N <= 4; N += 3) /* past one 4096-element chunk of the bf16 kernels */
        one_case(N, 4096 + 37, 8, 0, 8, 1);
    for (int64_t N = 9; N <= 16; N += 7) /* short prompts: more rows than one pass of the bf16 kernels takes */
        one_case(N, 256, 24, 3, 17, 1);
}

int main(void) {
    quantization();
    const enum xtc_cpu_level top = xtc_cpu_level();
    printf("test_matvec: kernel levels portable..%s\n", xtc_cpu_level_name(top));
    /* levels 0..top through the dispatching entries (each level's own kernels: the cap forces
     * the lower ones), then the portable entries at the top level */
    for (int l = XTC_CPU_PORTABLE; l <= (int)top; l++) {
        xtc_cpu_set_max_level((enum xtc_cpu_level)l);
        all_cases();
    }
    entry = PORTABLE;
    all_cases();
#ifdef XTC_MATVEC_AVX512
    /* the avx512 kernels' source, built for AVX2: wherever AVX2 is, whatever the cap */
    if (xtc_cpu_detected_level() >= XTC_CPU_AVX2) {
        entry = AVX512_ON_AVX2;
        all_cases();
        entry = AVX512BF16_ON_AVX2;
        all_cases();
    } else {
        printf("test_matvec: no AVX2 here: matvec_v16.c's AVX2 build not run\n");
    }
#endif
    /* not a check: the two builds run the same lane operations in the same order, so they
     * should agree bit for bit, but only the bounds above are promised */
    if (n_twins)
        printf("test_matvec: avx512 kernels equal their AVX2 build bit for bit in %d of %d products\n", n_twins_same,
               n_twins);
    return xtc_check_report("test_matvec");
}
