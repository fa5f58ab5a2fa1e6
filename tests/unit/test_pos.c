/* Unit tests for the positional tables of src/pos/pos.h: ALiBi slopes, T5
 * buckets, rotary inverse frequencies / XPOS scales / rotations, scaled
 * sinusoidal embeddings.
 *
 * References: double-precision formulas written here (reference §B.4-B.6),
 * plus constants printed by x-transformers 2.26.4 / torch (float32) and pasted
 * as literals where the float32 rounding order is part of the contract (T5
 * buckets, rotary cos/sin at large positions, XPOS factors). The Python that
 * produced them is quoted next to each table.
 *
 * main() returns non-zero if any check fails. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pos/pos.h"
#include "xtc/config.h"

static uint64_t g_rng = 0x13198A2E03707344ull;

static double rng_unit(void) {
    /* xorshift64*, uniform in [-1, 1) */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (double)((g_rng * 0x2545F4914F6CDD1Dull) >> 11) / 4503599627370496.0 - 1.0;
}

// --------------------------------------------------------------- ALiBi

/* AlibiPositionalBias._get_slopes, transcribed in double:
 *   def get_slopes_power_of_2(n): start = 2**(-2**-(log2(n)-3)); return [start*start**i for i in range(n)]
 *   if log2(heads).is_integer(): return get_slopes_power_of_2(heads)
 *   c = 2**floor(log2(heads)); return pow2(c) + pow2(2c)[0::2][:heads-c] */
static void pow2_slopes(double *out, int n) {
    double start = pow(2.0, -pow(2.0, -(log2((double)n) - 3.0)));
    for (int i = 0; i < n; i++)
        out[i] = start * pow(start, (double)i);
}

static void ref_alibi_slopes(double *out, int n_alibi, int n_heads) {
    double tmp[4096];
    for (int h = 0; h < n_heads; h++)
        out[h] = 0.0; /* heads past alibi_num_heads are padded with 0 */
    double l2 = log2((double)n_alibi);
    if (l2 == floor(l2)) {
        pow2_slopes(out, n_alibi);
        return;
    }
    int c = 1 << (int)floor(l2);
    pow2_slopes(out, c);
    pow2_slopes(tmp, 2 * c);
    for (int i = 0; i < n_alibi - c; i++)
        out[c + i] = tmp[2 * i];
}

static void test_alibi(void) {
    float s[64];
    /* powers of two: 2^(-8(h+1)/n) is exact in float, so equality is required */
    xtc_alibi_slopes(s, 4, 4);
    CHECK(s[0] == 0x1p-2f && s[1] == 0x1p-4f && s[2] == 0x1p-6f && s[3] == 0x1p-8f,
          "alibi heads 4: %g %g %g %g, want 2^-2, 2^-4, 2^-6, 2^-8", (double)s[0], (double)s[1], (double)s[2],
          (double)s[3]);
    xtc_alibi_slopes(s, 8, 8);
    bool ok = true;
    for (int h = 0; h < 8; h++)
        ok &= s[h] == ldexpf(1.0f, -(h + 1));
    CHECK(ok, "alibi heads 8 must be 2^-1 .. 2^-8 exactly");
    xtc_alibi_slopes(s, 1, 1);
    CHECK(s[0] == 0x1p-8f, "alibi heads 1: %g, want 2^-8", (double)s[0]);

    /* every (alibi_num_heads, heads) pair below: non-powers of two use the interleaved formula */
    const int cases[][2] = {{6, 6}, {3, 3}, {12, 12}, {5, 5}, {7, 7}, {24, 24}, {16, 16}, {2, 2},
                            {3, 8}, {4, 6}, {1, 4}, {6, 16}, {12, 13}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int na = cases[ci][0], nh = cases[ci][1];
        double want[64];
        for (int h = 0; h < 64; h++)
            s[h] = -1.0f;
        xtc_alibi_slopes(s, na, nh);
        ref_alibi_slopes(want, na, nh);
        char name[64];
        snprintf(name, sizeof name, "alibi slopes alibi_num_heads=%d heads=%d", na, nh);
        /* python and xtc both compute in double and round once to float: at most 1 ulp (2^-23 rel) apart */
        xtc_check_close(name, s, want, (size_t)nh, 0, 1.2e-7);
        bool zeros = true;
        for (int h = na; h < nh; h++)
            zeros &= s[h] == 0.0f;
        CHECK(zeros, "%s: heads >= alibi_num_heads must be exactly 0", name);
        CHECK(s[nh] == -1.0f, "%s: wrote past heads", name);
    }
    /* the spot values of heads 6 written out: 2^-2, 2^-4, 2^-6, 2^-8 then 2^-1, 2^-3 */
    xtc_alibi_slopes(s, 6, 6);
    CHECK(s[4] == 0x1p-1f && s[5] == 0x1p-3f, "alibi heads 6 extra slopes %g %g, want 0.5 0.125", (double)s[4],
          (double)s[5]);
}

// --------------------------------------------------------------- T5 buckets

/* Printed with x-transformers 2.26.4:
 *   f = RelativePositionBias._relative_position_bucket
 *   f(torch.tensor(T5_RELS), causal=c, num_buckets=nb, max_distance=md)
 * rel = key pos - query pos. Includes 0, +-1, the exact/log boundary, distances whose
 * log ratio is an exact integer in real arithmetic (where float32 rounding decides),
 * max_distance itself and far beyond it. */
static const int64_t T5_RELS[] = {0,    1,    -1,   2,     -2,     3,      -3,      4,       -4,
                                  5,    -5,   7,    -7,    8,      -8,     9,       -9,      15,
                                  -15,  16,   -16,  17,    -17,    20,     -20,     27,      -27,
                                  31,   -31,  32,   -32,   40,     -40,    63,      -63,     64,
                                  -64,  100,  -100, 127,   -127,   128,    -128,    129,     -129,
                                  200,  -200, 256,  -256,  1000,   -1000,  100000,  -100000, 1000000000000,
                                  -1000000000000};
#define T5_N (sizeof T5_RELS / sizeof T5_RELS[0])

static const struct {
    bool causal;
    int num_buckets, max_distance;
    int want[T5_N];
} T5_CASES[] = {
    {true, 32, 128, {0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 7, 0, 8, 0, 9, 0, 15, 0, 16, 0, 16, 0, 17, 0, 20, 0,
                     21, 0, 21, 0, 23, 0, 26, 0, 26, 0, 30, 0, 31, 0, 31, 0, 31, 0, 31, 0, 31, 0, 31, 0, 31, 0, 31}},
    {false, 32, 128, {0, 17, 1, 18, 2, 19, 3, 20, 4, 21, 5, 23, 7, 24, 8, 24, 8, 25, 9, 26, 10, 26, 10, 26, 10, 27, 11,
                      27, 11, 28, 12, 28, 12, 29, 13, 30, 14, 31, 15, 31, 15, 31, 15, 31, 15, 31, 15, 31, 15, 31, 15,
                      31, 15, 31, 15}},
    {true, 8, 20, {0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 4, 0, 5, 0, 5, 0, 6, 0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 0,
                   7, 0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 0, 7, 0, 7}},
    {false, 8, 20, {0, 5, 1, 6, 2, 6, 2, 6, 2, 6, 2, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7,
                    3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3, 7, 3}},
    {true, 16, 64, {0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 7, 0, 8, 0, 8, 0, 10, 0, 10, 0, 10, 0, 11, 0, 12, 0,
                    13, 0, 13, 0, 14, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15, 0, 15}},
    {false, 16, 64, {0, 9, 1, 10, 2, 11, 3, 12, 4, 12, 4, 12, 4, 13, 5, 13, 5, 13, 5, 14, 6, 14, 6, 14, 6, 14, 6, 14,
                     6, 15, 7, 15, 7, 15, 7, 15, 7, 15, 7, 15, 7, 15, 7, 15, 7, 15, 7, 15, 7, 15, 7, 15, 7, 15, 7}},
    {false, 6, 9, {0, 4, 1, 4, 1, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5,
                   2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 2}},
    {true, 4, 5, {0, 0, 1, 0, 2, 0, 2, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0,
                  3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 3}},
};

static void test_t5_buckets(void) {
    for (size_t ci = 0; ci < sizeof T5_CASES / sizeof T5_CASES[0]; ci++) {
        int bad = 0;
        for (size_t i = 0; i < T5_N; i++) {
            int got = xtc_t5_bucket(T5_RELS[i], T5_CASES[ci].causal, T5_CASES[ci].num_buckets,
                                    T5_CASES[ci].max_distance);
            if (got != T5_CASES[ci].want[i] && bad++ < 4)
                fprintf(stderr, "  t5 bucket causal=%d buckets=%d max_distance=%d rel=%lld: got %d want %d\n",
                        T5_CASES[ci].causal, T5_CASES[ci].num_buckets, T5_CASES[ci].max_distance,
                        (long long)T5_RELS[i], got, T5_CASES[ci].want[i]);
        }
        CHECK(bad == 0, "t5 buckets causal=%d buckets=%d max_distance=%d: %d of %zu wrong", T5_CASES[ci].causal,
              T5_CASES[ci].num_buckets, T5_CASES[ci].max_distance, bad, T5_N);
    }
    /* structural properties over a dense range: buckets in [0, nb), monotone in distance per side */
    for (int causal = 0; causal < 2; causal++) {
        int prev_pos = -1, prev_neg = -1;
        bool in_range = true, monotone = true;
        for (int64_t d = 0; d < 3000; d++) {
            int bn = xtc_t5_bucket(-d, causal, 32, 128); /* key before the query */
            int bp = xtc_t5_bucket(d, causal, 32, 128);
            in_range &= bn >= 0 && bn < 32 && bp >= 0 && bp < 32;
            monotone &= bn >= prev_neg && (d == 0 || bp >= prev_pos);
            prev_neg = bn;
            prev_pos = bp;
            if (causal)
                in_range &= bp == 0; /* causal: every future key shares bucket 0 */
        }
        CHECK(in_range && monotone, "t5 buckets (causal=%d) out of range or not monotone in distance", causal);
    }
}

// --------------------------------------------------------------- rotary tables

static void test_rotary_init(void) {
    struct xtc_error err;
    struct {
        int r;
        double rescale, interp;
    } cases[] = {{32, 1, 1}, {8, 1, 1}, {5, 1, 1}, {1, 1, 1}, {2, 1, 1}, {16, 4, 1}, {7, 2.5, 3}, {64, 8, 1}};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int r = cases[ci].r;
        struct xtc_rotary_config c = {.rotary_emb_dim = r, .base = 10000, .base_rescale_factor = cases[ci].rescale,
                                      .interpolation_factor = cases[ci].interp, .xpos = true, .xpos_scale_base = 512,
                                      .layout = XTC_ROPE_INTERLEAVED};
        struct xtc_rotary rot;
        memset(&err, 0, sizeof err);
        xtc_status rc = xtc_rotary_init(&rot, &c, &err);
        CHECK(rc == XTC_OK, "rotary_init r=%d rescale=%g: %d %s", r, cases[ci].rescale, (int)rc, err.msg);
        if (rc != XTC_OK)
            continue;
        int nf = (r + 1) / 2; /* an odd r rotates r + 1 features: arange(0, r, 2) has ceil(r/2) entries */
        CHECK(rot.n_freq == nf && rot.rot_dim == 2 * nf, "rotary r=%d: n_freq %d rot_dim %d, want %d %d", r,
              rot.n_freq, rot.rot_dim, nf, 2 * nf);
        CHECK(rot.interp == (float)cases[ci].interp, "rotary r=%d: interp %g", r, (double)rot.interp);
        double base = 10000.0 * pow(cases[ci].rescale, cases[ci].rescale != 1 ? (double)r / (r - 2) : 0.0);
        double want[64], wscale[64];
        for (int k = 0; k < nf; k++) {
            want[k] = pow(base, -2.0 * k / r);
            wscale[k] = (2.0 * k + 0.4 * r) / (1.4 * r);
        }
        char name[96];
        snprintf(name, sizeof name, "rotary inv_freq r=%d rescale=%g", r, cases[ci].rescale);
        /* float32 like torch: base rounded to float (2^-24 rel, amplified by the exponent <= 1) and a
         * float powf (a few ulp): well inside 1e-6 relative */
        xtc_check_close(name, rot.inv_freq, want, (size_t)nf, 0, 1e-6);
        snprintf(name, sizeof name, "rotary xpos scale r=%d", r);
        xtc_check_close(name, rot.xpos_scale, wscale, (size_t)nf, 0, 1.2e-7); /* one rounding to float */
        xtc_rotary_free(&rot);
        CHECK(rot.inv_freq == NULL && rot.xpos_scale == NULL, "rotary_free must clear the table pointers");
    }
    xtc_rotary_free(NULL); /* allowed */

    /* no XPOS: no scale table */
    struct xtc_rotary_config c = {.rotary_emb_dim = 8, .base = 10000, .base_rescale_factor = 1,
                                  .interpolation_factor = 1, .layout = XTC_ROPE_HALF_SPLIT};
    struct xtc_rotary rot;
    CHECK(xtc_rotary_init(&rot, &c, NULL) == XTC_OK && rot.xpos_scale == NULL && rot.layout == XTC_ROPE_HALF_SPLIT,
          "rotary without xpos must have no scale table and keep the layout");
    xtc_rotary_free(&rot);

    /* errors: XTC_ERR_CONFIG with a message, tables left NULL */
    struct {
        const char *what;
        int r;
        double base, rescale, interp, xpos_base;
        bool xpos;
        const char *needle;
    } bad[] = {
        {"rescale with r == 2 (exponent r/(r-2))", 2, 10000, 2.0, 1, 512, false, "rotary_base_rescale_factor"},
        {"interpolation < 1", 8, 10000, 1, 0.5, 512, false, "rotary_interpolation_factor"},
        {"interpolation 0", 8, 10000, 1, 0.0, 512, false, "rotary_interpolation_factor"},
        {"interpolation NaN", 8, 10000, 1, NAN, 512, false, "rotary_interpolation_factor"},
        {"r == 0", 0, 10000, 1, 1, 512, false, "rotary_emb_dim"},
        {"r < 0", -4, 10000, 1, 1, 512, false, "rotary_emb_dim"},
        {"base 0", 8, 0, 1, 1, 512, false, "base"},
        {"negative rescale", 8, 10000, -2, 1, 512, false, "rotary_base_rescale_factor"},
        {"xpos scale base 0", 8, 10000, 1, 1, 0, true, "rotary_xpos_scale_base"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct xtc_rotary_config bc = {.rotary_emb_dim = bad[i].r, .base = bad[i].base,
                                       .base_rescale_factor = bad[i].rescale, .interpolation_factor = bad[i].interp,
                                       .xpos = bad[i].xpos, .xpos_scale_base = bad[i].xpos_base};
        memset(&err, 0, sizeof err);
        memset(&rot, 0x5a, sizeof rot);
        xtc_status rc = xtc_rotary_init(&rot, &bc, &err);
        CHECK(rc == XTC_ERR_CONFIG, "rotary_init %s: got %d, want XTC_ERR_CONFIG", bad[i].what, (int)rc);
        CHECK(err.code == XTC_ERR_CONFIG && strstr(err.msg, bad[i].needle), "rotary_init %s: message '%s' lacks '%s'",
              bad[i].what, err.msg, bad[i].needle);
        CHECK(rot.inv_freq == NULL && rot.xpos_scale == NULL, "rotary_init %s: tables set on failure", bad[i].what);
        xtc_rotary_free(&rot); /* safe after a failed init */
    }
}

/* torch float32 values, printed with:
 *   r = RotaryEmbedding(8, interpolation_factor=interp); f, _ = r(torch.tensor(ROT_POS)); f = f[0, :, ::2]
 *   f.cos(), f.sin()
 * At position 100003 a double-precision angle differs from torch's float32 angle by ~1e-3 rad,
 * so these pin down "angles in float32 as torch computes them". */
static const int64_t ROT_POS[6] = {0, 1, 7, 1000, 100003, -5};
static const float ROT_COS[2][6][4] = {
    {{1.000000000e+00f, 1.000000000e+00f, 1.000000000e+00f, 1.000000000e+00f},
     {5.403023362e-01f, 9.950041771e-01f, 9.999499917e-01f, 9.999995232e-01f},
     {7.539022565e-01f, 7.648422122e-01f, 9.975510240e-01f, 9.999755025e-01f},
     {5.623790622e-01f, 8.623188734e-01f, -8.390715122e-01f, 5.403023362e-01f},
     {9.843148589e-01f, -8.194255233e-01f, 5.373501182e-01f, 8.638371229e-01f},
     {2.836622000e-01f, 8.775825500e-01f, 9.987502694e-01f, 9.999874830e-01f}},
    {{1.000000000e+00f, 1.000000000e+00f, 1.000000000e+00f, 1.000000000e+00f},
     {9.210609794e-01f, 9.992001057e-01f, 9.999920130e-01f, 9.999999404e-01f},
     {-9.422223568e-01f, 9.610554576e-01f, 9.996080399e-01f, 9.999960661e-01f},
     {-5.252963305e-01f, -6.669380665e-01f, -6.536436081e-01f, 9.210609794e-01f},
     {-7.648168206e-01f, -6.429711580e-01f, -5.150533915e-01f, -6.678329110e-01f},
     {-4.161468446e-01f, 9.800665975e-01f, 9.998000264e-01f, 9.999980330e-01f}},
};
static const float ROT_SIN[2][6][4] = {
    {{0.000000000e+00f, 0.000000000e+00f, 0.000000000e+00f, 0.000000000e+00f},
     {8.414709568e-01f, 9.983342141e-02f, 9.999833070e-03f, 9.999999311e-04f},
     {6.569865942e-01f, 6.442176700e-01f, 6.994284689e-02f, 6.999942940e-03f},
     {8.268795609e-01f, -5.063656569e-01f, -5.440211296e-01f, 8.414709568e-01f},
     {-1.764208525e-01f, -5.731856823e-01f, 8.433592319e-01f, -5.037712455e-01f},
     {9.589242935e-01f, -4.794255495e-01f, -4.997916520e-02f, -4.999979399e-03f}},
    {{0.000000000e+00f, 0.000000000e+00f, 0.000000000e+00f, 0.000000000e+00f},
     {3.894183636e-01f, 3.998933360e-02f, 3.999989014e-03f, 4.000000190e-04f},
     {3.349882066e-01f, 2.763556540e-01f, 2.799634263e-02f, 2.799996408e-03f},
     {-8.509193659e-01f, 7.451131344e-01f, -7.568024993e-01f, 3.894183636e-01f},
     {6.442478299e-01f, -7.658904195e-01f, -8.571581244e-01f, 7.443112135e-01f},
     {-9.092974067e-01f, -1.986693293e-01f, -1.999866590e-02f, -1.999998698e-03f}},
};

/* XPOS query factors from torch:
 *   r = RotaryEmbedding(6, use_xpos=True, scale_base=64); _, s = r(torch.tensor(XPOS_POS)); s[0, :, ::2]
 * (max_pos = 38, half = 19); key factors are their reciprocals. */
static const int64_t XPOS_POS[6] = {-4, -1, 0, 3, 10, 37};
static const float XPOS_Q[6][3] = {
    {1.568644166e+00f, 1.261601090e+00f, 1.102660775e+00f}, {1.479180813e+00f, 1.223934889e+00f, 1.088694453e+00f},
    {1.450508237e+00f, 1.211631060e+00f, 1.084078431e+00f}, {1.367782354e+00f, 1.175456762e+00f, 1.070347548e+00f},
    {1.192640543e+00f, 1.095194459e+00f, 1.038981199e+00f}, {7.030413747e-01f, 8.337148428e-01f, 9.263702035e-01f},
};

static void test_rotary_angles(void) {
    for (int ii = 0; ii < 2; ii++) {
        double interp = ii ? 2.5 : 1.0;
        struct xtc_rotary_config c = {.rotary_emb_dim = 8, .base = 10000, .base_rescale_factor = 1,
                                      .interpolation_factor = interp};
        struct xtc_rotary rot;
        if (xtc_rotary_init(&rot, &c, NULL) != XTC_OK) {
            CHECK(false, "rotary_init r=8");
            continue;
        }
        float cs[6 * 4], sn[6 * 4];
        for (int i = 0; i < 6; i++)
            xtc_rotary_cos_sin(&rot, ROT_POS[i], cs + 4 * i, sn + 4 * i);
        char name[64];
        /* torch's float32 cos/sin vs libm in double rounded once: a few float ulp at |v| <= 1 */
        snprintf(name, sizeof name, "rotary cos vs torch interp=%g", interp);
        xtc_check_close_f(name, cs, &ROT_COS[ii][0][0], 24, 1e-6, 0);
        snprintf(name, sizeof name, "rotary sin vs torch interp=%g", interp);
        xtc_check_close_f(name, sn, &ROT_SIN[ii][0][0], 24, 1e-6, 0);

        /* small positions against double angles: the float32 angle is off by about pos * 2^-24 rad */
        double wc[64 * 4], ws[64 * 4];
        float gc[64 * 4], gs[64 * 4];
        int64_t pos[64];
        for (int i = 0; i < 64; i++) {
            pos[i] = i - 20;
            for (int k = 0; k < 4; k++) {
                double th = (double)pos[i] * pow(10000.0, -2.0 * k / 8) / interp;
                wc[4 * i + k] = cos(th);
                ws[4 * i + k] = sin(th);
            }
        }
        /* table_fill must agree with cos_sin row by row; qfac/kfac may be NULL without XPOS */
        xtc_rotary_table_fill(&rot, pos, 64, 0, gc, gs, NULL, NULL);
        snprintf(name, sizeof name, "rotary table cos interp=%g", interp);
        xtc_check_close(name, gc, wc, 256, 1e-5, 0); /* |pos| <= 43: angle error <= 43 * 6e-8 = 2.6e-6 */
        snprintf(name, sizeof name, "rotary table sin interp=%g", interp);
        xtc_check_close(name, gs, ws, 256, 1e-5, 0);
        xtc_rotary_free(&rot);
    }

    /* XPOS */
    struct xtc_rotary_config c = {.rotary_emb_dim = 6, .base = 10000, .base_rescale_factor = 1,
                                  .interpolation_factor = 1, .xpos = true, .xpos_scale_base = 64};
    struct xtc_rotary rot;
    if (xtc_rotary_init(&rot, &c, NULL) != XTC_OK) {
        CHECK(false, "rotary_init xpos");
        return;
    }
    int64_t half = xtc_rotary_xpos_half(XPOS_POS, 6);
    CHECK(half == 19, "xpos half of max 37: %lld, want 19", (long long)half);
    float q[18], k[18], cs[18], sn[18], q2[18], k2[18];
    double wk[18];
    for (int i = 0; i < 6; i++) {
        xtc_rotary_xpos(&rot, XPOS_POS[i], half, 1.0f, q + 3 * i);
        xtc_rotary_xpos(&rot, XPOS_POS[i], half, -1.0f, k + 3 * i);
        for (int j = 0; j < 3; j++)
            wk[3 * i + j] = 1.0 / (double)XPOS_Q[i][j];
    }
    /* torch float32 pow vs double pow rounded once: a couple of ulp at values ~1 */
    xtc_check_close_f("xpos query factors vs torch", q, &XPOS_Q[0][0], 18, 0, 5e-7);
    xtc_check_close("xpos key factors = 1 / query factors", k, wk, 18, 0, 5e-7);
    xtc_rotary_table_fill(&rot, XPOS_POS, 6, half, cs, sn, q2, k2);
    CHECK(memcmp(q, q2, sizeof q) == 0 && memcmp(k, k2, sizeof k) == 0, "table_fill xpos factors differ from xpos()");
    xtc_rotary_free(&rot);
}

static void test_xpos_half(void) {
    struct {
        int64_t pos[4];
        int n;
        int64_t want;
    } cases[] = {
        {{0, 1, 2, 3}, 4, 2},     /* P = 4 */
        {{0, 1, 2, 4}, 4, 2},     /* P = 5 -> 2 */
        {{3, 0, 1, 2}, 4, 2},     /* the maximum anywhere */
        {{0}, 1, 0},              /* P = 1 */
        {{1}, 1, 1},              /* P = 2 */
        {{-1}, 1, 0},             /* P = 0 */
        {{-2}, 1, -1},            /* P = -1: python -1 // 2 = -1 (C division would give 0) */
        {{-4, -3}, 2, -1},        /* P = -2 */
        {{-4}, 1, -2},            /* P = -3: -3 // 2 = -2 */
        {{-5, -8, -6}, 3, -2},    /* P = -4 */
        {{-7}, 1, -3},            /* P = -6 */
        {{-8}, 1, -4},            /* P = -7: floor(-3.5) = -4 */
        {{-20, 5, -3}, 3, 3},     /* P = 6 */
        {{1000001}, 1, 500001},   /* P = 1000002 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = xtc_rotary_xpos_half(cases[i].pos, cases[i].n);
        CHECK(got == cases[i].want, "xpos_half case %zu (max %lld): got %lld, want %lld", i,
              (long long)cases[i].pos[0], (long long)got, (long long)cases[i].want);
    }
}

/* (a, b) -> ((a cos - b sin) f, (b cos + a sin) f) on pairs (2k, 2k+1) or (k, k + n). */
static void ref_rotate(double *y, const float *x, const float *cs, const float *sn, const float *f, int nf, int len,
                       enum xtc_rope_layout layout) {
    for (int i = 0; i < len; i++)
        y[i] = x[i];
    for (int k = 0; k < nf; k++) {
        int ia = layout == XTC_ROPE_INTERLEAVED ? 2 * k : k;
        int ib = layout == XTC_ROPE_INTERLEAVED ? 2 * k + 1 : k + nf;
        double a = x[ia], b = x[ib], fk = f ? f[k] : 1.0;
        y[ia] = (a * cs[k] - b * sn[k]) * fk;
        y[ib] = (b * cs[k] + a * sn[k]) * fk;
    }
}

static void test_rotary_rotate(void) {
    enum { NF = 5, LEN = 2 * NF + 3 }; /* 3 pass-through features after the rotated ones */
    for (int li = 0; li < 2; li++) {
        enum xtc_rope_layout layout = li ? XTC_ROPE_HALF_SPLIT : XTC_ROPE_INTERLEAVED;
        const char *ln = li ? "half-split" : "interleaved";
        for (int with_f = 0; with_f < 2; with_f++) {
            float x[LEN], y[LEN], cs[NF], sn[NF], sn_neg[NF], f[NF], finv[NF];
            double want[LEN];
            for (int i = 0; i < LEN; i++)
                x[i] = (float)(2.0 * rng_unit());
            for (int k = 0; k < NF; k++) {
                double th = 3.0 * rng_unit();
                cs[k] = (float)cos(th);
                sn[k] = (float)sin(th);
                sn_neg[k] = -sn[k];
                f[k] = (float)(1.0 + 0.5 * rng_unit());
                finv[k] = 1.0f / f[k];
            }
            memcpy(y, x, sizeof x);
            xtc_rotary_rotate(y, cs, sn, with_f ? f : NULL, NF, layout);
            ref_rotate(want, x, cs, sn, with_f ? f : NULL, NF, LEN, layout);
            char name[96];
            snprintf(name, sizeof name, "rotary_rotate %s factor=%d", ln, with_f);
            /* float products of |x| <= 2 values: a few 2^-24 relative roundings */
            xtc_check_close(name, y, want, LEN, 1e-6, 1e-6);
            CHECK(memcmp(y + 2 * NF, x + 2 * NF, 3 * sizeof(float)) == 0, "%s: features past 2*n_freq changed",
                  name);
            /* rotation by -theta (sin negated), with the factor undone, gives the input back */
            xtc_rotary_rotate(y, cs, sn_neg, with_f ? finv : NULL, NF, layout);
            snprintf(name, sizeof name, "rotary_rotate %s factor=%d then -theta", ln, with_f);
            xtc_check_close_f(name, y, x, LEN, 2e-6, 2e-6); /* two rotations' roundings (cos^2 + sin^2 != 1 in float) */
        }
    }
    /* the layouts pair different features: on the same input they must differ */
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8], cs[4] = {0, 0, 0, 0}, sn[4] = {1, 1, 1, 1};
    memcpy(b, a, sizeof a);
    xtc_rotary_rotate(a, cs, sn, NULL, 4, XTC_ROPE_INTERLEAVED);
    xtc_rotary_rotate(b, cs, sn, NULL, 4, XTC_ROPE_HALF_SPLIT);
    /* 90 degrees: interleaved (1,2)->(-2,1); half-split (1,5)->(-5,1) */
    CHECK(a[0] == -2 && a[1] == 1 && b[0] == -5 && b[4] == 1, "rotary 90-degree layouts: %g %g | %g %g",
          (double)a[0], (double)a[1], (double)b[0], (double)b[4]);
}

// --------------------------------------------------------------- sinusoidal

static void test_sinusoidal(void) {
    const int dims[] = {8, 2, 64, 10};
    const int64_t positions[] = {0, 1, 3, 17, 63, -5};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        int C = dims[di], half = C / 2;
        for (size_t pi = 0; pi < sizeof positions / sizeof positions[0]; pi++) {
            int64_t p = positions[pi];
            float scale = (float)(1.0 / sqrt((double)C)) * 1.7f;
            float out[64];
            double want[64];
            for (int k = 0; k < half; k++) {
                double w = pow(10000.0, -(double)k / half);
                want[k] = sin((double)p * w) * scale;
                want[half + k] = cos((double)p * w) * scale;
            }
            for (int k = 0; k < C; k++)
                out[k] = 0.0f;
            xtc_sinusoidal_add(out, p, C, scale);
            char name[64];
            snprintf(name, sizeof name, "sinusoidal C=%d pos=%lld", C, (long long)p);
            /* float32 frequencies and angles as torch: angle error ~ |pos| * 2^-23 <= 8e-6 rad */
            xtc_check_close(name, out, want, (size_t)C, 2e-5 * scale, 0);
            /* the scale's gradient: the dot product with the embedding at scale 1 */
            float d[64];
            double dot_want = 0;
            for (int k = 0; k < C; k++) {
                d[k] = (float)(k % 5) - 2.0f;
                dot_want += d[k] * want[k] / scale;
            }
            double dot = xtc_sinusoidal_dot(d, p, C);
            CHECK(fabs(dot - dot_want) <= 1e-4 * (1.0 + fabs(dot_want)), "%s dot %g, want %g", name, dot, dot_want);
        }
    }
}

/* ---------------------------------------------------------------- dynamic bias */

/* L = sum_{h, r} R[h][r] table[h][r]: the scheme's backward against central differences
 * (eps 1e-2 on float32 kernels; the MLP is smooth, so truncation stays near 1e-4 and the
 * float rounding of L, divided by 2 eps, near 5e-4). */
static double dpb_loss(const struct xtc_pos_bias *pb, int64_t S, float *table, const float *R, int64_t n) {
    xtc_dynamic_bias_scheme.table_fill(pb, S, table);
    double l = 0;
    for (int64_t i = 0; i < n; i++)
        l += (double)R[i] * table[i];
    return l;
}

static void test_dynamic_bias_grad(bool norm, bool log_distance, int depth) {
    struct xtc_layers_config c = {.dim = 20, .heads = 3, .dynamic_pos_bias = true, .dynamic_pos_bias_norm = norm,
                                  .dynamic_pos_bias_log_distance = log_distance, .dynamic_pos_bias_mlp_depth = depth};
    struct xtc_pos_bias pb;
    CHECK(xtc_pos_bias_init(&pb, &c, NULL) == XTC_OK && pb.scheme == &xtc_dynamic_bias_scheme, "dynamic bias init");
    const struct xtc_bias_scheme *sc = pb.scheme;
    const int64_t S = 5, n = sc->table_floats(&pb, S), work = sc->work_floats(&pb, S);
    float *grads[XTC_BIAS_MAX_PARAMS] = {0};
    int64_t sizes[XTC_BIAS_MAX_PARAMS] = {0};
    int np = 0;
    const char *name;
    int64_t shape[4];
    for (int nd; (nd = sc->param(&pb, np, &name, shape)) > 0; np++) {
        sizes[np] = nd == 2 ? shape[0] * shape[1] : shape[0];
        pb.params[np] = malloc(sizeof(float) * (size_t)sizes[np]);
        grads[np] = calloc((size_t)sizes[np], sizeof(float));
        for (int64_t i = 0; i < sizes[np]; i++)
            pb.params[np][i] = (float)(0.6 * rng_unit() + (strstr(name, "gamma") || strstr(name, ".1.weight") ? 1 : 0));
    }
    CHECK(np == 2 * (depth + 1) + (norm ? 2 * depth - 1 : 0), "dynamic bias depth %d norm %d: %d tensors", depth, norm,
          np);
    float *table = malloc(sizeof(float) * (size_t)(n + work)), *dtable = malloc(sizeof(float) * (size_t)(n + work));
    float *R = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        R[i] = (float)rng_unit();
    dpb_loss(&pb, S, table, R, n);
    memcpy(dtable, R, sizeof(float) * (size_t)n);
    sc->table_backward(&pb, S, table, dtable, grads);
    double worst = 0;
    for (int p = 0; p < np; p++)
        for (int64_t i = 0; i < sizes[p]; i++) {
            const float keep = pb.params[p][i], eps = 1e-2f;
            pb.params[p][i] = keep + eps;
            double lp = dpb_loss(&pb, S, table, R, n);
            pb.params[p][i] = keep - eps;
            double lm = dpb_loss(&pb, S, table, R, n);
            pb.params[p][i] = keep;
            double fd = (lp - lm) / (2.0 * eps), err = fabs(fd - grads[p][i]) / (1.0 + fabs(fd));
            worst = err > worst ? err : worst;
        }
    CHECK(worst < 3e-3, "dynamic bias depth %d norm %d log %d: worst gradient error %g against central differences",
          depth, norm, log_distance, worst);
    for (int p = 0; p < np; p++)
        free(pb.params[p]), free(grads[p]);
    free(table), free(dtable), free(R);
    xtc_pos_bias_free(&pb);
}

/* PoPE (xtc_polar_apply / xtc_polar_backward) against double-precision formulas: the map itself,
 * softplus's identity above 20, the phase clamp to [-2 pi, 0] (saturated phases pass no
 * gradient), and the gradients against central differences of L = sum(w * out). */
static void test_polar(void) {
    enum { D = 6 };
    const double TWO_PI_D = 6.283185307179586;
    struct xtc_polar pp;
    struct xtc_error err = {0};
    CHECK(xtc_polar_init(&pp, D, &err) == XTC_OK, "polar_init: %s", err.msg);
    for (int d = 0; d < D; d++)
        CHECK(fabs(pp.inv_freq[d] - pow(10000.0, -(double)d / D)) <= 1e-6 * pp.inv_freq[d], "polar inv_freq[%d] %g", d,
              (double)pp.inv_freq[d]);
    const float x[D] = {-3.0f, -0.5f, 0.0f, 0.7f, 2.5f, 25.0f};       /* 25: softplus is the identity */
    const float phase[D] = {-7.0f, -6.0f, -1.0f, -0.25f, 0.5f, 0.0f}; /* -7 and 0.5 are clamped */
    const int64_t pos = 13;
    float out[2 * D], w[2 * D];
    for (int e = 0; e < 2 * D; e++)
        w[e] = (float)rng_unit();
    for (int keys = 0; keys < 2; keys++) {
        const float *ph = keys ? phase : NULL;
        xtc_polar_apply(&pp, out, x, pos, ph);
        double worst = 0;
        for (int d = 0; d < D; d++) {
            double s = x[d] > 20 ? x[d] : log1p(exp((double)x[d]));
            double b = ph ? fmin(fmax((double)ph[d], -TWO_PI_D), 0.0) : 0.0;
            double a = (double)pos * pp.inv_freq[d] + b;
            worst = fmax(worst, fabs(out[d] - s * cos(a)) + fabs(out[D + d] - s * sin(a)));
        }
        CHECK(worst < 1e-5, "polar map (keys %d): worst error %g", keys, worst);
        float dx[D] = {0}, dph[D] = {0};
        xtc_polar_backward(&pp, dx, w, x, pos, ph, ph ? dph : NULL);
        for (int d = 0; d < D; d++) {
            /* L(x) = sum_e w[e] out[e]: central differences in double through the same formula */
            const double h = 1e-3;
            double lp = 0, lm = 0, pp_ = 0, pm = 0;
            for (int sgn = -1; sgn <= 1; sgn += 2) {
                double xv = x[d] + sgn * h;
                double s = xv > 20 ? xv : log1p(exp(xv));
                double b = ph ? fmin(fmax((double)ph[d], -TWO_PI_D), 0.0) : 0.0;
                double a = (double)pos * pp.inv_freq[d] + b;
                double l = w[d] * s * cos(a) + w[D + d] * s * sin(a);
                *(sgn < 0 ? &lm : &lp) = l;
                if (ph) {
                    double s0 = x[d] > 20 ? x[d] : log1p(exp((double)x[d]));
                    double bv = fmin(fmax((double)ph[d] + sgn * h, -TWO_PI_D), 0.0);
                    double av = (double)pos * pp.inv_freq[d] + bv;
                    *(sgn < 0 ? &pm : &pp_) = w[d] * s0 * cos(av) + w[D + d] * s0 * sin(av);
                }
            }
            double gx = (lp - lm) / (2 * h);
            CHECK(fabs(dx[d] - gx) < 1e-3 * (1 + fabs(gx)), "polar dx[%d] (keys %d): %g, want %g", d, keys,
                  (double)dx[d], gx);
            if (ph) {
                /* torch's clamp passes the gradient inside [-2 pi, 0], ends included (phase 0 here) */
                bool inside = ph[d] >= -TWO_PI_D && ph[d] <= 0.0f;
                double s0 = x[d] > 20 ? x[d] : log1p(exp((double)x[d]));
                double a0 = (double)pos * pp.inv_freq[d] + (double)ph[d];
                double gp = inside ? s0 * (w[D + d] * cos(a0) - w[d] * sin(a0)) : 0.0;
                if (inside && ph[d] < -h) /* strictly inside: central differences agree */
                    CHECK(fabs((pp_ - pm) / (2 * h) - gp) < 1e-3 * (1 + fabs(gp)), "polar dphase[%d] formula", d);
                CHECK(fabs(dph[d] - gp) < 1e-3 * (1 + fabs(gp)), "polar dphase[%d]: %g, want %g", d, (double)dph[d], gp);
            }
        }
    }
    xtc_polar_free(&pp);
    CHECK(pp.inv_freq == NULL, "polar_free must clear the table");
}

int main(void) {
    test_alibi();
    test_t5_buckets();
    test_rotary_init();
    test_rotary_angles();
    test_xpos_half();
    test_rotary_rotate();
    test_sinusoidal();
    test_dynamic_bias_grad(false, false, 2);
    test_dynamic_bias_grad(true, true, 3);
    test_dynamic_bias_grad(true, false, 1);
    test_polar();
    return xtc_check_report("test_pos");
}
