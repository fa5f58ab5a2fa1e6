/* The bf16-weight matrix-vector kernel of level avx512_bf16, whose products are bf16 dot
 * products (VDPBF16PS): included twice by matvec_v16.c, once with the instruction and once
 * with an exact emulation of it in plain 16-float vectors (for the tests, on any AVX2 machine).
 *
 * Before inclusion: BF16DOT_SUFFIX (the name bf16dot_rows_SUFFIX), BF16DOT_TARGET (its target
 * attribute) and BF16DOT(acc, w, x): acc (v16f) += per 32-bit lane, w's high bf16 x x's high bf16, then w's low
 * bf16 x x's low bf16 (v16u operands, two bf16 per lane). matvec_v16.c's macros (LOAD, HSUM,
 * PREFETCH_NEXT4, KC), bf16_f32 and split_bf16 are in scope.
 *
 * The instruction multiplies bf16 by bf16, so x is given as two bf16 halves (split_bf16:
 * x = hi + lo up to 2^-16 relative): two dot products per 32 weights instead of a shift, an
 * AND and two FMAs, and x keeps about 16 bits; bf16 x alone would add an error as large as
 * the weights' own rounding. Pairs of weights and of x's halves are in memory order, which
 * is the lane order the instruction pairs, so nothing is shuffled. */

#define BF16DOT_CAT2(a, b) a##_##b
#define BF16DOT_CAT(a, b) BF16DOT_CAT2(a, b)

/* Input rows n < N (N <= 4), output rows [o0, o1) with o1 - o0 a multiple of 4: out += the
 * products (bf16_rows_body's contract; matvec_bf16_with calls it). */
BF16DOT_TARGET static void BF16DOT_CAT(bf16dot_rows, BF16DOT_SUFFIX)(float *out, int64_t ldo, const float *inp, int64_t N,
                                                    const uint16_t *w, int64_t Cin, int64_t o0, int64_t o1) {
    uint32_t xh[4 * KC / 2], xl[4 * KC / 2]; /* per row, KC / 2 pairs of each half */
    for (int64_t k0 = 0; k0 < Cin; k0 += KC) {
        const int64_t kc = Cin - k0 < KC ? Cin - k0 : KC, n32 = kc / 32 * 32;
        for (int64_t n = 0; n < N; n++)
            split_bf16(xh + n * KC / 2, xl + n * KC / 2, inp + n * Cin + k0, n32 / 2);
        for (int64_t o = o0; o < o1; o += 4)
            for (int64_t n = 0; n < N; n++) {
                const uint16_t *wo = w + o * Cin + k0;
                const float *x = inp + n * Cin + k0;
                const uint32_t *hs = xh + n * KC / 2, *ls = xl + n * KC / 2;
                v16f e[4] = {0}, d[4] = {0};
                for (int64_t k = 0; k < n32; k += 32) {
                    PREFETCH_NEXT4(wo, Cin, k); /* one 64-byte line holds 32 bf16 weights */
                    v16u xhv, xlv;
                    LOAD(xhv, hs + k / 2);
                    LOAD(xlv, ls + k / 2);
                    for (int r = 0; r < 4; r++) {
                        v16u v;
                        LOAD(v, wo + r * Cin + k);
                        BF16DOT(e[r], v, xhv);
                        BF16DOT(d[r], v, xlv);
                    }
                }
                for (int r = 0; r < 4; r++) {
                    const v16f ed = e[r] + d[r];
                    float s;
                    HSUM(s, ed);
                    for (int64_t k = n32; k < kc; k++)
                        s += bf16_f32(wo[r * Cin + k]) * x[k];
                    out[n * ldo + o + r] += s;
                }
            }
    }
}

#undef BF16DOT_CAT
#undef BF16DOT_CAT2
