/* The rows kernel of decoding's bf16-weight products in 16-float vectors, included by
 * matvec_v16.c once per build (avx512, avx512_on_avx2, avx512bf16, avx512bf16_on_avx2): the
 * loops are the same, and the builds differ in how the input is prepared and how 32 weights
 * meet it.
 *
 * Before inclusion:
 * - BF16_ROWS_NAME, BF16_ROWS_TARGET: the function's name and target attribute;
 * - BF16_SPLIT(xs, x, n32): fills xs with x[0 .. n32) as, per 32 elements, two groups of 16
 *   32-bit words (a function: scalar code, no vectors passed);
 * - BF16_STEP(e, d, v, a, b): adds the products of 32 weights v (v16u, two bf16 per lane,
 *   w[2i] in the low half) and the input's groups a, b (v16u) to the accumulators e, d (v16f).
 * matvec_v16.c's LOAD, HSUM, PREFETCH_NEXT4, KC and bf16_f32 are in scope.
 *
 * Input rows n < N (N <= 4), output rows [o0, o1) with o1 - o0 a multiple of 4: out += the
 * products (matvec_bf16_with calls it). The input is prepared in chunks of KC elements kept
 * on the stack (64 KiB for 4 rows); a chunk covers a whole row of the usual widths (each chunk
 * is one pass over the weight rows). */
BF16_ROWS_TARGET static void BF16_ROWS_NAME(float *out, int64_t ldo, const float *inp, int64_t N, const uint16_t *w,
                                            int64_t Cin, int64_t o0, int64_t o1) {
    uint32_t xs[4 * KC];
    for (int64_t k0 = 0; k0 < Cin; k0 += KC) {
        const int64_t kc = Cin - k0 < KC ? Cin - k0 : KC, n32 = kc / 32 * 32;
        for (int64_t n = 0; n < N; n++)
            BF16_SPLIT(xs + n * KC, inp + n * Cin + k0, n32);
        for (int64_t o = o0; o < o1; o += 4)
            for (int64_t n = 0; n < N; n++) {
                const uint16_t *wo = w + o * Cin + k0;
                const float *x = inp + n * Cin + k0;
                const uint32_t *xn = xs + n * KC;
                v16f e[4] = {0}, d[4] = {0};
                for (int64_t k = 0; k < n32; k += 32) {
                    PREFETCH_NEXT4(wo, Cin, k); /* one 64-byte line holds 32 bf16 weights */
                    v16u a, b;
                    LOAD(a, xn + k);
                    LOAD(b, xn + k + 16);
                    for (int r = 0; r < 4; r++) {
                        v16u v;
                        LOAD(v, wo + r * Cin + k);
                        BF16_STEP(e[r], d[r], v, a, b);
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
