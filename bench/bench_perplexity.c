/* xtc_bench_perplexity: what low-precision decoding weights cost in quality, side by side
 * with fp32 in one run.
 *
 *   xtc_bench_perplexity MODEL_DIR --text FILE [--bytes N] [--threads N]
 *
 * The last N bytes of FILE (default 8192; `xtc train` holds out the end of its corpus) are
 * byte tokens, cut into windows of max_seq_len. Each window is decoded one token at a time
 * through the KV cache, so every product reads the decoding weights (xtc_model_set_decode_dtype),
 * and the logits of each step score the next byte. For each of f32, bf16 and int8 prints
 *   dtype=D nll=... ppl=... bits_per_byte=... ppl_vs_f32=... ms_per_token=... tokens=... threads=N
 * (nll: mean negative log-likelihood in nats, ppl = e^nll; ppl_vs_f32: this dtype's perplexity
 * over fp32's, the quality cost). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "xtc/xtc.h"

#define PROG "xtc_bench_perplexity"

static void usage(FILE *f) { fprintf(f, "usage: " PROG " MODEL_DIR --text FILE [--bytes N] [--threads N]\n"); }

/* -log softmax(logits)[target] in double */
static double nll_of(const float *logits, int64_t V, int64_t target) {
    double mx = logits[0], s = 0;
    for (int64_t v = 1; v < V; v++)
        mx = logits[v] > mx ? logits[v] : mx;
    for (int64_t v = 0; v < V; v++)
        s += exp((double)logits[v] - mx);
    return log(s) + mx - (double)logits[target];
}

/* Mean NLL of the windows of tok[n] decoded step by step; seconds in *secs. */
static int score(xtc_model_t m, const int64_t *tok, int64_t n, int64_t window, double *nll, double *secs,
                 int64_t *scored, struct xtc_error *err) {
    xtc_kv_cache_t cache;
    if (xtc_kv_cache_create(&cache, m, 1, window, err) != XTC_OK)
        return -1;
    double sum = 0, t0 = bench_now();
    int64_t count = 0;
    for (int64_t w0 = 0; w0 + 1 < n; w0 += window) {
        const int64_t len = n - w0 < window ? n - w0 : window;
        xtc_kv_cache_reset(cache);
        for (int64_t i = 0; i + 1 < len; i++) {
            struct xtc_inputs in = {.batch = 1, .len = 1, .tokens = tok + w0 + i, .cache = cache};
            struct xtc_outputs out;
            if (xtc_model_forward(m, &in, &out, err) != XTC_OK) {
                xtc_kv_cache_free(cache);
                return -1;
            }
            sum += nll_of(out.logits, out.out_dim, tok[w0 + i + 1]);
            count++;
        }
    }
    *secs = bench_now() - t0;
    xtc_kv_cache_free(cache);
    *nll = sum / (double)count;
    *scored = count;
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *text = NULL;
    long nbytes = 8192, threads = 0;
    const struct bench_opt opts[] = {
        {"--text", .s = &text, .what = "a file name"},
        {"--bytes", .i = &nbytes, .min = 2},
        {"--threads", .i = &threads, .min = 1},
    };
    int rc = bench_parse_args(PROG, argc, argv, opts, (int)(sizeof opts / sizeof opts[0]), &dir, usage);
    if (rc)
        return rc == 1 ? 0 : 2;
    if (!dir || !text) {
        usage(stderr);
        return 2;
    }
    if (threads > 0)
        xtc_threads_set((int)threads);
    FILE *f = fopen(text, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, PROG ": cannot read %s\n", text);
        if (f)
            fclose(f);
        return 1;
    }
    long size = ftell(f);
    const long take = size < nbytes ? size : nbytes;
    unsigned char *bytes = malloc((size_t)(take > 0 ? take : 1));
    int64_t *tok = malloc(sizeof(int64_t) * (size_t)(take > 0 ? take : 1));
    if (size < 2 || !bytes || !tok || fseek(f, size - take, SEEK_SET) != 0 ||
        fread(bytes, 1, (size_t)take, f) != (size_t)take) {
        fprintf(stderr, PROG ": cannot read %ld bytes of %s\n", take, text);
        fclose(f);
        free(bytes), free(tok);
        return 1;
    }
    fclose(f);
    for (long i = 0; i < take; i++)
        tok[i] = bytes[i];
    free(bytes);

    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_load_dir(&m, dir, &err) != XTC_OK) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        free(tok);
        return 1;
    }
    const struct xtc_config *cfg = xtc_model_config(m);
    int status = 0;
    if (cfg->model_class != XTC_MODEL_TRANSFORMER_WRAPPER || cfg->net.wrap.num_tokens < 256) {
        fprintf(stderr, PROG ": a TransformerWrapper over at least 256 tokens (bytes) is needed\n");
        status = 1;
    }
    const enum xtc_dtype dts[] = {XTC_DTYPE_F32, XTC_DTYPE_BF16, XTC_DTYPE_I8};
    const char *names[] = {"f32", "bf16", "int8"};
    double ppl_f32 = 0;
    for (int d = 0; status == 0 && d < 3; d++) {
        double nll, secs;
        int64_t scored;
        if (xtc_model_set_decode_dtype(m, dts[d], &err) != XTC_OK ||
            score(m, tok, take, cfg->net.wrap.max_seq_len, &nll, &secs, &scored, &err) != 0) {
            fprintf(stderr, PROG ": %s: %s\n", names[d], err.msg);
            status = 1;
            break;
        }
        const double ppl = exp(nll);
        if (d == 0)
            ppl_f32 = ppl;
        printf("dtype=%s nll=%.6f ppl=%.4f bits_per_byte=%.4f ppl_vs_f32=%.5f ms_per_token=%.3f tokens=%lld "
               "threads=%d\n",
               names[d], nll, ppl, nll / log(2.0), ppl / ppl_f32, 1e3 * secs / (double)scored, (long long)scored,
               xtc_threads_get());
    }
    xtc_model_free(m);
    free(tok);
    return status;
}
