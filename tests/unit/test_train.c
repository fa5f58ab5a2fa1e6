/* Training: AdamW, clipping and the schedule against PyTorch's numbers; the
 * trainer's determinism, exact resume (plain and Transformer-XL), crash safety
 * of checkpoints (kill -9 during saves) and its error messages. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "corpus_text.h"
#include "xtc/xtc.h"

static const char *tiny_config =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, \"max_mem_len\": 16, "
    "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, \"heads\": 2, "
    "\"attn_dim_head\": 16, \"rotary_pos_emb\": true, \"rotary_emb_dim\": 16, \"attn_num_mem_kv\": 1}}}}";

static void test_optimizer(void) {
    /* torch.optim.AdamW(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1), three steps */
    float p[3] = {1.0f, -2.0f, 0.5f};
    const float grads[3][3] = {{0.1f, -0.3f, 0.0f}, {0.2f, 0.1f, -1.0f}, {-0.05f, 0.4f, 2.0f}};
    const double want[3][3] = {{0.989000022, -1.98800004, 0.499500006},
                               {0.978372335, -1.98200262, 0.506425142},
                               {0.971504033, -1.98311245, 0.502787173}};
    struct xtc_adamw opt;
    struct xtc_error err;
    CHECK(xtc_adamw_init(&opt, 3, 0.9f, 0.99f, 1e-8f, 0.1f, &err) == XTC_OK, "adamw init");
    for (int s = 0; s < 3; s++) {
        xtc_adamw_step(&opt, p, grads[s], 0.01f);
        /* float32 vs torch's float32: a few ulps of the moments' rounding */
        CHECK(xtc_check_close("adamw step", p, want[s], 3, 2e-7, 2e-6) == 0, "AdamW step %d", s + 1);
    }
    xtc_adamw_free(&opt);
    CHECK(xtc_adamw_init(&opt, 3, 1.5f, 0.99f, 1e-8f, 0.1f, &err) == XTC_ERR_ARG && err.msg[0], "beta1 >= 1 rejected");

    /* torch.nn.utils.clip_grad_norm_([3, 4, 0], 1.0) -> norm 5, grads [0.6, 0.8, 0] (coef 1 / (5 + 1e-6)) */
    float g[3] = {3, 4, 0};
    double norm = xtc_clip_grad_norm(g, 3, 1.0);
    const double gw[3] = {0.599999905, 0.799999833, 0};
    CHECK(norm == 5.0, "grad norm %g", norm);
    CHECK(xtc_check_close("clipped", g, gw, 3, 1e-7, 0) == 0, "clipped grads");
    float h[2] = {0.3f, 0.4f};
    xtc_clip_grad_norm(h, 2, 1.0);
    CHECK(h[0] == 0.3f && h[1] == 0.4f, "no clipping below the threshold");

    /* warm-up: (step + 1) / warmup * lr; cosine from lr to min_lr over the rest */
    CHECK(fabsf(xtc_lr_schedule(0, 10, 110, 1e-3f, 1e-4f) - 1e-4f) < 1e-9f, "warmup start");
    CHECK(fabsf(xtc_lr_schedule(9, 10, 110, 1e-3f, 1e-4f) - 1e-3f) < 1e-9f, "warmup end");
    CHECK(fabsf(xtc_lr_schedule(10, 10, 110, 1e-3f, 1e-4f) - 1e-3f) < 1e-9f, "cosine start");
    CHECK(fabsf(xtc_lr_schedule(60, 10, 110, 1e-3f, 1e-4f) - 5.5e-4f) < 1e-8f, "cosine middle");
    CHECK(fabsf(xtc_lr_schedule(110, 10, 110, 1e-3f, 1e-4f) - 1e-4f) < 1e-9f, "cosine end");
}

static struct xtc_train_options tiny_options(int xl) {
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.batch = 3, o.seq_len = 16, o.steps = 8, o.warmup = 2, o.lr = 3e-3f, o.xl_segments = xl;
    return o;
}

static xtc_trainer_t new_trainer(const uint8_t *corpus, size_t len, const struct xtc_train_options *o) {
    xtc_model_t m;
    struct xtc_error err;
    if (xtc_model_create(&m, tiny_config, strlen(tiny_config), o->seed, &err) != XTC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    xtc_trainer_t t;
    if (xtc_trainer_create(&t, m, corpus, len, o, &err) != XTC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    return t;
}

static int run_steps(xtc_trainer_t t, int n, float *losses) {
    struct xtc_error err;
    for (int i = 0; i < n; i++) {
        struct xtc_step_stats st;
        if (xtc_trainer_step(t, &st, &err) != XTC_OK) {
            fprintf(stderr, "step: %s\n", err.msg);
            return 1;
        }
        losses[i] = st.loss;
    }
    return 0;
}

static void test_resume(const uint8_t *corpus, size_t len, int xl) {
    struct xtc_train_options o = tiny_options(xl);
    float a[8], b[8], c[8];
    xtc_trainer_t t = new_trainer(corpus, len, &o);
    CHECK(t && run_steps(t, 8, a) == 0, "uninterrupted run (xl %d)", xl);
    xtc_trainer_free(t);
    t = new_trainer(corpus, len, &o);
    CHECK(t && run_steps(t, 8, c) == 0 && memcmp(a, c, sizeof a) == 0, "same seed, same losses (xl %d)", xl);
    xtc_trainer_free(t);

    char dir[] = "/tmp/xtc-train-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    struct xtc_error err;
    t = new_trainer(corpus, len, &o);
    CHECK(t && run_steps(t, 4, b) == 0, "first half");
    CHECK(xtc_trainer_save(t, dir, &err) == XTC_OK, "save: %s", err.msg);
    xtc_trainer_free(t);
    CHECK(xtc_trainer_resume(&t, dir, tiny_config, corpus, len, NULL, &err) == XTC_OK, "resume: %s", err.msg);
    CHECK(xtc_trainer_step_count(t) == 4, "resumed at step 4");
    CHECK(run_steps(t, 4, b + 4) == 0, "second half");
    CHECK(memcmp(a, b, sizeof a) == 0, "resumed losses equal the uninterrupted run bit for bit (xl %d)", xl);
    /* the saved model is a plain model directory */
    char path[256];
    snprintf(path, sizeof path, "%s/latest", dir);
    xtc_model_t m;
    CHECK(xtc_model_load_dir(&m, path, &err) == XTC_OK, "checkpoint loads as a model: %s", err.msg);
    xtc_model_free(m);
    /* a different configuration cannot resume */
    xtc_trainer_free(t);
    const char *other = "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, "
                        "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 1}}}}";
    t = NULL;
    CHECK(xtc_trainer_resume(&t, dir, other, corpus, len, NULL, &err) == XTC_ERR_CONFIG && strstr(err.msg, "differs"),
          "resume with another config is refused with a message");
    xtc_trainer_free(t);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

/* A tied model's checkpoint states tie_embedding_scale (its default changed in x-transformers
 * 2.30.5), loads as the same model, and resumes with the config it was started from. */
static void test_tied_config_explicit(const uint8_t *corpus, size_t len) {
    const char *tied = "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, "
                       "\"tie_embedding\": true, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": "
                       "{\"dim\": 16, \"depth\": 1, \"heads\": 2, \"attn_dim_head\": 8}}}}";
    struct xtc_train_options o = tiny_options(0);
    struct xtc_error err;
    xtc_model_t m;
    xtc_trainer_t t = NULL;
    CHECK(xtc_model_create(&m, tied, strlen(tied), 1, &err) == XTC_OK, "tied model: %s", err.msg);
    CHECK(xtc_trainer_create(&t, m, corpus, len, &o, &err) == XTC_OK, "tied trainer: %s", err.msg);
    char dir[] = "/tmp/xtc-tied-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(t && xtc_trainer_save(t, dir, &err) == XTC_OK, "save: %s", err.msg);
    xtc_trainer_free(t);
    char path[256], text[4096] = {0};
    snprintf(path, sizeof path, "%s/latest/config.json", dir);
    FILE *f = fopen(path, "r");
    CHECK(f && fread(text, 1, sizeof text - 1, f) > 0, "read %s", path);
    if (f)
        fclose(f);
    const char *k = strstr(text, "\"tie_embedding_scale\"");
    CHECK(k && fabs(strtod(strchr(k, ':') + 1, NULL) - 0.25) < 1e-12, "config.json states tie_embedding_scale 0.25: %s",
          text);
    t = NULL;
    CHECK(xtc_trainer_resume(&t, dir, tied, corpus, len, NULL, &err) == XTC_OK,
          "resume with the config as first given: %s", err.msg);
    xtc_trainer_free(t);
    snprintf(path, sizeof path, "rm -rf %s", dir);
    CHECK(system(path) == 0, "cleanup");
}

/* A child saves checkpoints in a loop; it is killed with SIGKILL at random moments.
 * Every time, DIR/latest must name a complete checkpoint that resumes. */
static void test_kill_during_save(const uint8_t *corpus, size_t len) {
    char dir[] = "/tmp/xtc-kill-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    struct xtc_train_options o = tiny_options(0);
    o.steps = 1000000;
    struct xtc_error err;
    xtc_trainer_t t = new_trainer(corpus, len, &o);
    CHECK(t && xtc_trainer_save(t, dir, &err) == XTC_OK, "first checkpoint");
    xtc_trainer_free(t);
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            xtc_trainer_t ct;
            struct xtc_error cerr;
            if (xtc_trainer_resume(&ct, dir, NULL, corpus, len, NULL, &cerr) != XTC_OK) {
                fprintf(stderr, "child: %s\n", cerr.msg);
                _exit(3);
            }
            for (;;) {
                struct xtc_step_stats st;
                if (xtc_trainer_step(ct, &st, &cerr) != XTC_OK || xtc_trainer_save(ct, dir, &cerr) != XTC_OK) {
                    fprintf(stderr, "child: %s\n", cerr.msg);
                    _exit(4);
                }
            }
        }
        struct timespec ts = {0, 20000000L + 37000000L * round};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status), "child was killed (not failed: status %d)", status);
        xtc_trainer_t r = NULL;
        CHECK(xtc_trainer_resume(&r, dir, tiny_config, corpus, len, NULL, &err) == XTC_OK,
              "after kill -9 in round %d the latest checkpoint resumes: %s", round, err.msg);
        xtc_trainer_free(r);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

static void test_errors(const uint8_t *corpus, size_t len) {
    struct xtc_train_options o = tiny_options(0);
    struct xtc_error err;
    xtc_model_t m;
    xtc_trainer_t t = NULL;
    CHECK(xtc_model_create(&m, tiny_config, strlen(tiny_config), 1, &err) == XTC_OK, "init");
    CHECK(xtc_trainer_create(&t, m, corpus, 30, &o, &err) == XTC_ERR_ARG && strstr(err.msg, "too short"),
          "a corpus shorter than a crop is refused: %s", err.msg);
    t = new_trainer(corpus, len, &o);
    CHECK(xtc_trainer_save(t, "/nonexistent-dir/run", &err) == XTC_ERR_IO && err.msg[0],
          "an unwritable directory is reported: %s", err.msg);
    /* a NaN weight: the step fails with a message and leaves the parameters as they were */
    xtc_model_t tm = xtc_trainer_model(t);
    float *p0 = NULL, *p1 = NULL;
    for (int i = 0; i < xtc_model_param_count(tm); i++) {
        struct xtc_param_info pi = xtc_model_param(tm, i);
        if (strcmp(pi.name, "attn_layers.final_norm.gamma") == 0)
            p0 = xtc_model_param_data(tm, i); /* every position reads it */
        if (strcmp(pi.name, "to_logits.weight") == 0)
            p1 = xtc_model_param_data(tm, i);
    }
    CHECK(p0 && p1, "parameters found");
    if (!p0 || !p1) {
        xtc_trainer_free(t);
        return;
    }
    float saved = p0[0];
    p0[0] = NAN;
    float before = p1[0];
    struct xtc_step_stats st;
    CHECK(xtc_trainer_step(t, &st, &err) == XTC_ERR_ARG && strstr(err.msg, "not finite"),
          "non-finite loss stops the step: %s", err.msg);
    CHECK(p1[0] == before, "parameters unchanged after a failed step");
    p0[0] = saved;
    xtc_trainer_free(t);
}

/* Training through every norm slot and feed-forward variant: a few steps of plain and of
 * Transformer-XL training lower the loss (the trainer runs the same backward as the golden
 * gradient checks). */
static void test_block_options(const uint8_t *corpus, size_t len) {
    static const char *configs[] = {
        "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, "
        "\"max_mem_len\": 16, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, "
        "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_pos_emb\": true, \"pre_norm\": false, "
        "\"use_scalenorm\": true, \"ff_glu\": true, \"ff_swish\": true, \"ff_no_bias\": true}}}}",
        "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, "
        "\"max_mem_len\": 16, \"use_abs_pos_emb\": false, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": "
        "{\"dim\": 32, \"depth\": 2, \"heads\": 4, \"attn_dim_head\": 8, \"alibi_pos_bias\": true, "
        "\"sandwich_norm\": true, \"use_simple_rmsnorm\": true, \"ff_relu_squared\": true, "
        "\"ff_post_act_ln\": true, \"attn_num_mem_kv\": 1}}}}",
        /* the block options: LayerScale, residual scales, tied blocks, residual attention, shifts */
        "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, "
        "\"max_mem_len\": 16, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 32, \"depth\": 2, "
        "\"heads\": 2, \"attn_dim_head\": 16, \"rotary_pos_emb\": true, \"macaron\": true, "
        "\"use_layerscale\": true, \"layerscale_init_value\": 0.25, \"scale_residual\": true, "
        "\"weight_tie_layers\": true, \"residual_attn\": true, \"shift_tokens\": 1}}}}",
        "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, "
        "\"max_mem_len\": 16, \"use_abs_pos_emb\": false, \"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": "
        "{\"dim\": 32, \"depth\": 2, \"heads\": 4, \"attn_dim_head\": 8, \"alibi_pos_bias\": true, "
        "\"gate_residual\": true, \"scale_residual_constant\": 0.5, \"only_attn\": true}}}}",
    };
    for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++)
        for (int xl = 0; xl <= 2; xl += 2) {
            struct xtc_train_options o = tiny_options(xl);
            o.steps = 30, o.warmup = 3, o.lr = 3e-3f;
            xtc_model_t m = NULL;
            xtc_trainer_t t = NULL;
            struct xtc_error err = {0};
            xtc_status rc = xtc_model_create(&m, configs[k], strlen(configs[k]), o.seed, &err);
            if (rc == XTC_OK)
                rc = xtc_trainer_create(&t, m, corpus, len, &o, &err);
            CHECK(rc == XTC_OK, "block options config %zu: %s", k, err.msg);
            if (rc != XTC_OK)
                continue;
            /* fresh LayerScale gains: layerscale_init_value - 1 (unit offset); residual scales 1 */
            int seen = 0;
            for (int i = 0; i < xtc_model_param_count(m); i++) {
                struct xtc_param_info pi = xtc_model_param(m, i);
                const float *d = xtc_model_param_data(m, i);
                if (strcmp(pi.name, "attn_layers.layers.0.1.gamma") == 0) {
                    CHECK(d[0] == -0.75f, "layerscale init %g, want -0.75", d[0]);
                    seen++;
                }
                if (strstr(pi.name, ".residual_scale")) {
                    CHECK(d[0] == 1.0f, "%s init %g, want 1", pi.name, d[0]);
                    seen++;
                }
            }
            CHECK(k != 2 || seen == 1 + 3, "config 2: %d LayerScale / residual scale tensors (tied: one block of 3)",
                  seen);
            float losses[30];
            CHECK(run_steps(t, 30, losses) == 0, "block options config %zu (xl %d): steps", k, xl);
            float first = (losses[0] + losses[1] + losses[2]) / 3, last = (losses[27] + losses[28] + losses[29]) / 3;
            /* a byte-level model on a corpus of 11 words: 30 steps cut the loss well below its start */
            CHECK(isfinite(last) && last < first - 0.5f, "block options config %zu (xl %d): loss %.3f -> %.3f", k, xl,
                  first, last);
            printf("  block options config %zu (xl %d): loss %.3f -> %.3f\n", k, xl, first, last);
            xtc_trainer_free(t);
        }
}

/* xtc_mse_loss: the mean over the kept rows' elements, its gradient, no kept row */
static void test_mse_loss(void) {
    const float pred[6] = {1, 2, 3, 4, 5, 6}, target[6] = {0, 2, 3, 1, 5, 8};
    const uint8_t mask[3] = {1, 0, 1};
    float loss, d[6];
    int64_t kept;
    struct xtc_error err = {0};
    CHECK(xtc_mse_loss(pred, target, NULL, 3, 2, 1.0f, &loss, d, &kept, &err) == XTC_OK && kept == 3 &&
              fabsf(loss - (1.0f + 0 + 0 + 9 + 0 + 4) / 6.0f) < 1e-6f && fabsf(d[3] - 2.0f * 3 / 6) < 1e-6f,
          "mse without mask: loss %g kept %lld", loss, (long long)kept);
    CHECK(xtc_mse_loss(pred, target, mask, 3, 2, 2.0f, &loss, d, &kept, &err) == XTC_OK && kept == 2 &&
              fabsf(loss - 5.0f / 4.0f) < 1e-6f && d[2] == 0 && d[3] == 0 && fabsf(d[5] - 2.0f * 2 * -2 / 4) < 1e-6f,
          "mse with mask: loss %g kept %lld d5 %g", loss, (long long)kept, d[5]);
    const uint8_t none[3] = {0, 0, 0};
    CHECK(xtc_mse_loss(pred, target, none, 3, 2, 1.0f, &loss, d, &kept, &err) == XTC_OK && kept == 0 && loss == 0 &&
              d[0] == 0, "mse with no kept row");
    CHECK(xtc_mse_loss(NULL, target, NULL, 3, 2, 1.0f, &loss, NULL, NULL, &err) == XTC_ERR_ARG, "mse NULL pred");
}

int main(void) {
    test_mse_loss();
    test_optimizer();
    size_t len = 6000;
    uint8_t *corpus = xtc_test_corpus(len, 7);
    test_resume(corpus, len, 0);
    test_resume(corpus, len, 2);
    test_errors(corpus, len);
    test_tied_config_explicit(corpus, len);
    test_kill_during_save(corpus, len);
    test_block_options(corpus, len);
    free(corpus);
    return xtc_check_report("test_train");
}
