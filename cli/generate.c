/* xtc generate: streams a model's continuation of a prompt, or prints the best beam(s) of a
 * beam search. Byte-level models (num_tokens 256..512) print bytes; other models print token ids. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "xtc/xtc.h"

#define CMD "generate"

struct stream {
    bool bytes;
    int64_t n;
};

static bool print_token(const int64_t *tokens, int64_t batch, void *user) {
    struct stream *s = user;
    (void)batch;
    if (s->bytes && tokens[0] < 256)
        putchar((int)tokens[0]);
    else
        printf("%s%lld", s->n ? " " : "", (long long)tokens[0]);
    fflush(stdout);
    s->n++;
    return true;
}

static void warn(enum xtc_log_level level, const char *msg, void *user) {
    (void)user;
    if (level >= XTC_LOG_WARN)
        fprintf(stderr, "warning: %s\n", msg);
}

/* "--opt takes ..." for a value that is not a number of the option's range; returns 2. */
static void print_tokens(const int64_t *t, int64_t n, bool bytes) {
    for (int64_t i = 0; i < n; i++) {
        if (bytes && t[i] < 256)
            putchar((int)t[i]);
        else
            printf("%s%lld", i ? " " : "", (long long)t[i]);
    }
}

/* Beam search from one prompt: the best beam after the prompt, or every beam with its score. */
static xtc_status beam_search(xtc_model_t m, const int64_t *ids, int64_t n, const struct xtc_beam_options *bo,
                              bool all, bool bytes, const char *prompt, int64_t *steps, struct xtc_error *err) {
    int64_t K = bo->beams, S = bo->max_new_tokens;
    int64_t *tok = malloc(sizeof(int64_t) * (size_t)(K * (S ? S : 1)));
    float *score = malloc(sizeof(float) * (size_t)K);
    xtc_status rc = XTC_ERR_NOMEM;
    if (tok && score)
        rc = xtc_beam_search(m, ids, 1, n, bo, tok, score, err);
    else
        snprintf(err->msg, sizeof err->msg, "out of memory for %lld beams", (long long)K);
    if (rc == XTC_OK) {
        for (int64_t k = 0; k < (all ? K : 1); k++) {
            if (all)
                printf("beam %lld  score %.4f  ", (long long)k, score[k]);
            if (bytes && prompt)
                fputs(prompt, stdout);
            print_tokens(tok + k * S, S, bytes);
            if (all && k + 1 < K)
                printf("\n");
        }
        *steps = S;
    }
    free(tok);
    free(score);
    return rc;
}

int xtc_cli_generate(int argc, char **argv) {
    const char *dir = NULL, *prompt = NULL, *tokens = NULL, *dtype = "f32";
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = 200;
    o.temperature = 0.8f;
    o.seed = (uint64_t)time(NULL);
    int64_t beams = 0;
    bool stochastic = false, all_beams = false;
    const char *sampler_flag = NULL; /* the last sampling option given (unused by plain beam search) */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: xtc generate MODEL_DIR (--prompt TEXT | --tokens 1,2,3) [options]\n\n"
                   "  --max-tokens N (200)   --temperature T (0.8; 0 = greedy)   --top-k K (0 = off)\n"
                   "  --top-p P (1 = off)    --min-p P (0 = off)   --seed N (time)   --eos ID   --no-cache\n"
                   "  --dtype f32|bf16|int8 (f32: weights read by decoding steps; bf16 halves the bytes, int8\n"
                   "                   reads 1.125 bytes a weight: int8 with a scale per 32 weights)\n"
                   "  --beams N              beam search with N beams (1..1024; x-transformers beam_search):\n"
                   "                         prints the best beam (sampling options need --stochastic)\n"
                   "  --stochastic           with --beams: propose each beam's children by Gumbel top-k at\n"
                   "                         --temperature after --top-k/--top-p/--min-p (--seed)\n"
                   "  --all-beams            with --beams: print every beam with its score (summed log-probs)\n\n"
                   "Streams the continuation (bytes for byte-level models, else token ids) and reports\n"
                   "tokens/s. The KV cache is on unless --no-cache. Beam search prints when it is done.\n");
            return 0;
        } else if (OPT("--prompt")) {
            prompt = v;
        } else if (OPT("--tokens")) {
            tokens = v;
        } else if (OPT("--max-tokens")) {
            bad = xtc_cli_parse_i64(CMD, a, v, 0, 1 << 30, &o.max_new_tokens);
        } else if (OPT("--temperature")) {
            sampler_flag = a;
            bad = xtc_cli_parse_float(CMD, a, v, 0, HUGE_VAL, &o.temperature);
        } else if (OPT("--top-k")) {
            sampler_flag = a;
            bad = xtc_cli_parse_int(CMD, a, v, 0, INT_MAX, &o.top_k);
        } else if (OPT("--top-p")) {
            sampler_flag = a;
            bad = xtc_cli_parse_float(CMD, a, v, 0, 1, &o.top_p);
            if (!bad && o.top_p == 0) /* top-p keeps the smallest set with mass >= p: p must be > 0 */
                bad = xtc_cli_bad_value(CMD, a, v, "is out of range (must be > 0 and at most 1)");
        } else if (OPT("--min-p")) {
            sampler_flag = a;
            bad = xtc_cli_parse_float(CMD, a, v, 0, 1, &o.min_p);
            if (!bad && o.min_p == 1)
                bad = xtc_cli_bad_value(CMD, a, v, "is out of range (must be at least 0 and below 1)");
        } else if (OPT("--seed")) {
            sampler_flag = a;
            bad = xtc_cli_parse_u64(CMD, a, v, &o.seed);
        } else if (OPT("--eos")) {
            bad = xtc_cli_parse_i64(CMD, a, v, 0, INT64_MAX, &o.eos_token);
        } else if (OPT("--beams")) {
            bad = xtc_cli_parse_i64(CMD, a, v, 1, 1024, &beams);
        } else if (!strcmp(a, "--stochastic")) {
            stochastic = true;
        } else if (!strcmp(a, "--all-beams")) {
            all_beams = true;
        } else if (!strcmp(a, "--no-cache")) {
            o.cache_kv = false;
        } else if (OPT("--dtype")) {
            dtype = v;
        } else if (a[0] != '-' && !dir) {
            dir = a;
        } else {
            fprintf(stderr, "xtc generate: %s '%s' (see --help)\n",
                    a[0] == '-' && !v ? "option without its value, or unknown:" : "unexpected argument", a);
            return 2;
        }
#undef OPT
        if (bad)
            return bad;
    }
    if (!beams && (stochastic || all_beams)) {
        fprintf(stderr, "xtc generate: --stochastic and --all-beams go with --beams N\n");
        return 2;
    }
    if (beams && !stochastic && sampler_flag) {
        fprintf(stderr, "xtc generate: %s has no effect on beam search without --stochastic (beams are ranked by "
                        "their log-probabilities)\n", sampler_flag);
        return 2;
    }
    if (strcmp(dtype, "f32") && strcmp(dtype, "bf16") && strcmp(dtype, "int8")) {
        fprintf(stderr, "xtc generate: --dtype takes f32, bf16 or int8, not '%s'\n", dtype);
        return 2;
    }
    if (prompt && !prompt[0]) {
        fprintf(stderr, "xtc generate: --prompt is empty (generation needs at least one token)\n");
        return 2;
    }
    if (beams && o.eos_token >= 0) {
        fprintf(stderr, "xtc generate: beam search takes no --eos (x-transformers does not support it either)\n");
        return 2;
    }
    if (prompt && tokens) {
        fprintf(stderr, "xtc generate: --prompt and --tokens are mutually exclusive (give one)\n");
        return 2;
    }
    if (!dir || (!prompt && !tokens)) {
        fprintf(stderr, "usage: xtc generate MODEL_DIR (--prompt TEXT | --tokens 1,2,3) [options]\n");
        return 2;
    }
    int64_t *ids = NULL, n = 0;
    if (!prompt && xtc_cli_parse_tokens(CMD, "--tokens", tokens, &ids, &n))
        return 2;
    xtc_log_set(warn, NULL);
    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_load_dir(&m, dir, &err) != XTC_OK) {
        fprintf(stderr, "xtc generate: %s\n", err.msg);
        free(ids);
        return 1;
    }
    const enum xtc_dtype dt = !strcmp(dtype, "bf16") ? XTC_DTYPE_BF16 : !strcmp(dtype, "int8") ? XTC_DTYPE_I8 : XTC_DTYPE_F32;
    if (xtc_model_set_decode_dtype(m, dt, &err) != XTC_OK) {
        fprintf(stderr, "xtc generate: %s\n", err.msg);
        free(ids), xtc_model_free(m);
        return 1;
    }
    int64_t V = xtc_model_config(m)->net.wrap.num_tokens;
    if (o.eos_token >= V) {
        fprintf(stderr, "xtc generate: --eos %lld is not a token id of this model (num_tokens %lld)\n",
                (long long)o.eos_token, (long long)V);
        free(ids), xtc_model_free(m);
        return 2;
    }
    if (prompt) {
        n = (int64_t)strlen(prompt);
        ids = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
        for (int64_t i = 0; ids && i < n; i++)
            ids[i] = (unsigned char)prompt[i];
    }
    int64_t *out = malloc(sizeof(int64_t) * (size_t)(o.max_new_tokens > 0 ? o.max_new_tokens : 1));
    if (n < 1 || !ids || !out) { /* an empty prompt is the caller's mistake; a failed allocation is not */
        if (n < 1)
            fprintf(stderr, "xtc generate: the prompt must be non-empty text or a list of integers\n");
        else
            fprintf(stderr, "xtc generate: out of memory for a prompt of %lld tokens and %lld new ones\n",
                    (long long)n, (long long)o.max_new_tokens);
        free(ids), free(out), xtc_model_free(m);
        return n < 1 ? 2 : 1;
    }
    struct stream st = {.bytes = V >= 256 && V <= 512};
    if (st.bytes && prompt && !beams)
        fputs(prompt, stdout);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t steps = 0;
    xtc_status rc;
    if (beams) {
        struct xtc_beam_options bo;
        xtc_beam_options_default(&bo);
        bo.beams = (int)beams, bo.stochastic = stochastic, bo.temperature = o.temperature, bo.top_k = o.top_k;
        bo.top_p = o.top_p, bo.min_p = o.min_p, bo.seed = o.seed, bo.cache_kv = o.cache_kv;
        bo.max_new_tokens = o.max_new_tokens;
        rc = beam_search(m, ids, n, &bo, all_beams, st.bytes, prompt, &steps, &err);
    } else {
        rc = xtc_generate(m, ids, 1, n, &o, print_token, &st, out, &steps, NULL, &err);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("\n");
    if (rc != XTC_OK)
        fprintf(stderr, "xtc generate: %s\n", err.msg);
    else
        fprintf(stderr, "%lld tokens in %.2f s: %.1f tokens/s (%s%s)\n", (long long)steps, sec, steps / sec,
                o.cache_kv ? "KV cache" : "no cache", beams ? ", each step runs every beam" : "");
    free(ids), free(out);
    xtc_model_free(m);
    return rc == XTC_OK ? 0 : 1;
}
