/* Many contexts on one model: two threads generating (greedy and sampled, plain and
 * Transformer-XL, and beam search) and running forward calls in their own contexts on
 * one shared model give exactly what the same calls give one after another. Run under
 * ThreadSanitizer in CI (cmake -DXTC_SANITIZE_THREAD=ON), where any shared write would
 * be reported. Uses only the public API. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xtc/xtc.h"

enum job_kind { JOB_GENERATE, JOB_GENERATE_XL, JOB_BEAMS, JOB_FORWARD };

struct job {
    xtc_model_t m;
    enum job_kind kind;
    uint64_t seed;
    float temperature;
    int64_t tokens[2 * 24];  /* results */
    float scores[8], logits[2 * 12 * 48];
    xtc_status rc;
    char msg[sizeof(struct xtc_error)];
};

static const int64_t prompts[2 * 5] = {1, 7, 3, 9, 2, 5, 5, 11, 30, 4};

static void *run_job(void *arg) {
    struct job *j = arg;
    struct xtc_error err = {0};
    if (j->kind == JOB_GENERATE || j->kind == JOB_GENERATE_XL) {
        struct xtc_gen_options o;
        xtc_gen_options_default(&o);
        o.max_new_tokens = 24;
        o.temperature = j->temperature;
        o.top_k = 10;
        o.seed = j->seed;
        int64_t n = 0;
        j->rc = (j->kind == JOB_GENERATE ? xtc_generate : xtc_generate_xl)(j->m, prompts, 2, 5, &o, NULL, NULL,
                                                                          j->tokens, &n, NULL, &err);
        if (j->rc == XTC_OK && n != 24)
            j->rc = XTC_ERR_ARG;
    } else if (j->kind == JOB_BEAMS) {
        struct xtc_beam_options o;
        xtc_beam_options_default(&o);
        o.beams = 4;
        o.max_new_tokens = 6;
        j->rc = xtc_beam_search(j->m, prompts, 2, 5, &o, j->tokens, j->scores, &err);
    } else {
        /* a forward in a context of this thread: outputs belong to it until its next call */
        xtc_context_t ctx = NULL;
        j->rc = xtc_context_create(&ctx, j->m, &err);
        int64_t toks[2 * 12];
        for (int i = 0; i < 24; i++)
            toks[i] = (i * 7 + (int)j->seed) % 48;
        struct xtc_inputs in = {.batch = 2, .len = 12, .tokens = toks};
        struct xtc_outputs out;
        for (int rep = 0; j->rc == XTC_OK && rep < 3; rep++)
            j->rc = xtc_context_forward(ctx, &in, &out, &err);
        if (j->rc == XTC_OK)
            memcpy(j->logits, out.logits, sizeof j->logits);
        xtc_context_free(ctx);
    }
    snprintf(j->msg, sizeof j->msg, "%s", err.msg);
    return NULL;
}

static void same(const char *name, const struct job *a, const struct job *b) {
    CHECK(a->rc == XTC_OK && b->rc == XTC_OK, "%s: both ran (%s / %s)", name, a->msg, b->msg);
    CHECK(memcmp(a->tokens, b->tokens, sizeof a->tokens) == 0, "%s: concurrent tokens equal the sequential ones", name);
    CHECK(memcmp(a->scores, b->scores, sizeof a->scores) == 0, "%s: concurrent beam scores equal", name);
    CHECK(memcmp(a->logits, b->logits, sizeof a->logits) == 0, "%s: concurrent logits equal the sequential ones", name);
}

/* Runs jobs a and b one after another, then both at once, and compares. */
static void pair(const char *name, xtc_model_t m, struct job proto_a, struct job proto_b) {
    struct job seq[2] = {proto_a, proto_b}, con[2] = {proto_a, proto_b};
    seq[0].m = seq[1].m = con[0].m = con[1].m = m;
    run_job(&seq[0]);
    run_job(&seq[1]);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, run_job, &con[i]) == 0, "%s: thread %d started", name, i);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    char label[96];
    for (int i = 0; i < 2; i++) {
        snprintf(label, sizeof label, "%s (thread %d)", name, i);
        same(label, &seq[i], &con[i]);
    }
}

int main(void) {
    /* one OpenMP thread per caller: the concurrency under test is the callers' (and
     * ThreadSanitizer does not see libgomp's own synchronisation between its workers) */
    xtc_threads_set(1);
    const char *cfg =
        "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 48, \"max_seq_len\": 8, \"max_mem_len\": 6, "
        "\"use_abs_pos_emb\": false, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, "
        "\"heads\": 4, \"attn_dim_head\": 8, \"rotary_pos_emb\": true, \"attn_kv_heads\": 2, \"attn_num_mem_kv\": 1}}}}";
    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_create(&m, cfg, strlen(cfg), 3, &err) != XTC_OK) {
        fprintf(stderr, "model: %s\n", err.msg);
        return 1;
    }
    pair("greedy + sampled generation", m, (struct job){.kind = JOB_GENERATE},
         (struct job){.kind = JOB_GENERATE, .temperature = 0.9f, .seed = 7});
    pair("XL generation + generation", m, (struct job){.kind = JOB_GENERATE_XL},
         (struct job){.kind = JOB_GENERATE, .temperature = 1.0f, .seed = 11});
    pair("beam search + forward", m, (struct job){.kind = JOB_BEAMS}, (struct job){.kind = JOB_FORWARD, .seed = 5});
    pair("two forwards", m, (struct job){.kind = JOB_FORWARD, .seed = 1}, (struct job){.kind = JOB_FORWARD, .seed = 2});
    xtc_model_free(m);
    return xtc_check_report("test_threads");
}
