/* Training runs are never lost: the run-directory lock, the checkpoint protocol when
 * the same step is saved again (kill -9 at random moments), clean-up of what an
 * interrupted run left, the corpus fingerprint, and training states whose AdamW
 * moments are not finite (or negative second moments) refused with the tensor named. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
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
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, "
    "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 16, \"depth\": 1, \"heads\": 2, "
    "\"attn_dim_head\": 8}}}}";

static xtc_trainer_t new_trainer(const uint8_t *corpus, size_t len) {
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.batch = 2, o.seq_len = 16, o.steps = 1000000, o.warmup = 2;
    xtc_model_t m;
    xtc_trainer_t t = NULL;
    struct xtc_error err;
    if (xtc_model_create(&m, tiny_config, strlen(tiny_config), 1, &err) != XTC_OK ||
        xtc_trainer_create(&t, m, corpus, len, &o, &err) != XTC_OK)
        fprintf(stderr, "trainer: %s\n", err.msg);
    return t;
}

static void rm_rf(const char *dir) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup %s", dir);
}

static bool exists(const char *dir, const char *name) {
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return lstat(p, &sb) == 0;
}

/* A second trainer (here: in the same process; a second process the same) cannot write
 * into a run directory another one uses; once the first is freed it can. */
static void test_lock(const uint8_t *corpus, size_t len) {
    char dir[] = "/tmp/xtc-lock-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    struct xtc_error err;
    xtc_trainer_t a = new_trainer(corpus, len), b = new_trainer(corpus, len), r = NULL;
    CHECK(a && b, "trainers");
    CHECK(xtc_trainer_save(a, dir, &err) == XTC_OK, "first writer saves: %s", err.msg);
    CHECK(xtc_trainer_save(b, dir, &err) == XTC_ERR_IO && strstr(err.msg, "another xtc train is using"),
          "second writer refused: %s", err.msg);
    CHECK(xtc_trainer_resume(&r, dir, NULL, corpus, len, NULL, &err) == XTC_ERR_IO &&
              strstr(err.msg, "another xtc train is using"),
          "resume while another trainer uses the directory refused: %s", err.msg);
    xtc_trainer_free(r);
    CHECK(xtc_trainer_use_dir(a, dir, &err) == XTC_OK, "the holder may use its directory again: %s", err.msg);
    CHECK(xtc_trainer_save(a, dir, &err) == XTC_OK, "the holder saves again: %s", err.msg);
    xtc_trainer_free(a);
    CHECK(xtc_trainer_save(b, dir, &err) == XTC_OK, "after the first is freed, the second saves: %s", err.msg);
    CHECK(xtc_trainer_use_dir(b, "", &err) == XTC_ERR_ARG, "empty run directory path refused");
    /* resuming needs a checkpoint: DIR/latest missing or dangling is an error that says so */
    char empty[] = "/tmp/xtc-nolatest-XXXXXX", link[256];
    CHECK(mkdtemp(empty) != NULL, "mkdtemp");
    CHECK(xtc_trainer_resume(&r, empty, NULL, corpus, len, NULL, &err) == XTC_ERR_IO &&
              strstr(err.msg, "holds no checkpoint"),
          "resume without DIR/latest refused: %s", err.msg);
    snprintf(link, sizeof link, "%s/latest", empty);
    CHECK(symlink("checkpoint-00000099", link) == 0, "dangling latest");
    CHECK(xtc_trainer_resume(&r, empty, NULL, corpus, len, NULL, &err) == XTC_ERR_IO && strstr(err.msg, "does not exist"),
          "resume with a dangling DIR/latest refused: %s", err.msg);
    rm_rf(empty);
    xtc_trainer_free(b);
    rm_rf(dir);
}

/* What an interrupted run leaves is removed at start; what is not xtc's stays. */
static void test_cleanup(const uint8_t *corpus, size_t len) {
    char dir[] = "/tmp/xtc-clean-XXXXXX", p[512];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    struct xtc_error err;
    xtc_trainer_t t = new_trainer(corpus, len);
    CHECK(t && xtc_trainer_save(t, dir, &err) == XTC_OK, "save: %s", err.msg);
    xtc_trainer_free(t);
    const char *junk[] = {"checkpoint-00000007.tmp-abcdef", "checkpoint-00000003", "checkpoint-00000003-2"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, junk[i]);
        CHECK(mkdir(p, 0755) == 0, "mkdir %s", p);
        snprintf(p, sizeof p, "%s/%s/model.safetensors", dir, junk[i]);
        FILE *f = fopen(p, "w");
        CHECK(f && fclose(f) == 0, "write %s", p);
    }
    snprintf(p, sizeof p, "%s/latest.tmp-99999", dir);
    CHECK(symlink("checkpoint-00000003", p) == 0, "orphan link");
    snprintf(p, sizeof p, "%s/checkpoint-notes", dir);
    CHECK(mkdir(p, 0755) == 0, "a directory of the user's");
    t = NULL;
    CHECK(xtc_trainer_resume(&t, dir, tiny_config, corpus, len, NULL, &err) == XTC_OK, "resume: %s", err.msg);
    for (int i = 0; i < 3; i++)
        CHECK(!exists(dir, junk[i]), "%s removed at start", junk[i]);
    CHECK(!exists(dir, "latest.tmp-99999"), "orphaned latest.tmp-* removed");
    CHECK(exists(dir, "checkpoint-notes") && exists(dir, "checkpoint-00000000"), "the rest kept");
    xtc_trainer_free(t);
    rm_rf(dir);
}

/* A child saves the same step again and again (a periodic save followed by the save of an
 * interrupt, a resumed run saving at once); it is killed with SIGKILL at random moments.
 * Every time DIR/latest must name a complete checkpoint that resumes. */
static void test_kill_during_resave(const uint8_t *corpus, size_t len) {
    char dir[] = "/tmp/xtc-resave-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    struct xtc_error err;
    xtc_trainer_t t = new_trainer(corpus, len);
    CHECK(t && xtc_trainer_save(t, dir, &err) == XTC_OK, "first checkpoint: %s", err.msg);
    xtc_trainer_free(t);
    uint64_t s = (uint64_t)time(NULL) * 2654435761u;
    int failures = 0;
    for (int round = 0; round < 40 && failures == 0; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            xtc_trainer_t ct;
            struct xtc_error cerr;
            if (xtc_trainer_resume(&ct, dir, NULL, corpus, len, NULL, &cerr) != XTC_OK) {
                fprintf(stderr, "child: %s\n", cerr.msg);
                _exit(3);
            }
            for (;;)
                if (xtc_trainer_save(ct, dir, &cerr) != XTC_OK) {
                    fprintf(stderr, "child: %s\n", cerr.msg);
                    _exit(4);
                }
        }
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        struct timespec ts = {0, 5000000L + (long)((s >> 33) % 60000000L)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status), "child was killed (not failed: status %d)", status);
        xtc_trainer_t r = NULL;
        xtc_status rc = xtc_trainer_resume(&r, dir, tiny_config, corpus, len, NULL, &err);
        CHECK(rc == XTC_OK, "after kill -9 in round %d (%.1f ms) the latest checkpoint resumes: %s", round,
              ts.tv_nsec / 1e6, err.msg);
        failures += rc != XTC_OK;
        xtc_trainer_free(r);
    }
    rm_rf(dir);
}

static void test_other_corpus(const uint8_t *corpus, size_t len) {
    char dir[] = "/tmp/xtc-corpus-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    struct xtc_error err;
    xtc_trainer_t t = new_trainer(corpus, len);
    CHECK(t && xtc_trainer_save(t, dir, &err) == XTC_OK, "save: %s", err.msg);
    xtc_trainer_free(t);
    uint8_t *other = xtc_test_corpus(len, 99);
    t = NULL;
    CHECK(xtc_trainer_resume(&t, dir, NULL, other, len, NULL, &err) == XTC_ERR_CONFIG &&
              strstr(err.msg, "another corpus"),
          "another corpus of the same size is refused: %s", err.msg);
    CHECK(xtc_trainer_resume(&t, dir, NULL, corpus, len - 1, NULL, &err) == XTC_ERR_CONFIG,
          "a shorter corpus is refused: %s", err.msg);
    CHECK(xtc_trainer_resume_ex(&t, dir, NULL, other, len, NULL, XTC_RESUME_ANY_CORPUS, &err) == XTC_OK,
          "XTC_RESUME_ANY_CORPUS accepts it: %s", err.msg);
    xtc_trainer_free(t);
    CHECK(xtc_corpus_fingerprint((const uint8_t *)"a", 1) == 0xaf63dc4c8601ec8cULL, "FNV-1a 64 of 'a'");
    free(other);
    rm_rf(dir);
}

/* Sets element i of tensor name in a safetensors file to value (the header names the offsets). */
static int poke_f32(const char *path, const char *name, size_t i, float value) {
    FILE *f = fopen(path, "r+b");
    unsigned char n8[8];
    if (!f || fread(n8, 1, 8, f) != 8)
        return 1;
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--)
        hlen = hlen << 8 | n8[k];
    char *h = calloc(1, hlen + 1);
    int bad = !h || fread(h, 1, hlen, f) != hlen;
    cJSON *j = bad ? NULL : cJSON_Parse(h);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, name);
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    bad = bad || !cJSON_IsArray(off) || fseek(f, (long)(8 + hlen + (uint64_t)cJSON_GetArrayItem(off, 0)->valuedouble +
                                                      4 * i), SEEK_SET) != 0 ||
          fwrite(&value, 4, 1, f) != 1;
    cJSON_Delete(j);
    free(h);
    return fclose(f) != 0 || bad;
}

static void test_bad_moments(const uint8_t *corpus, size_t len) {
    struct {
        const char *tensor;
        float value;
    } cases[] = {{"adam.v", NAN}, {"adam.v", -1.0f}, {"adam.v", INFINITY}, {"adam.m", NAN}, {"adam.m", -INFINITY}};
    for (int c = 0; c < 5; c++) {
        char dir[] = "/tmp/xtc-moments-XXXXXX", path[512];
        CHECK(mkdtemp(dir) != NULL, "mkdtemp");
        struct xtc_error err;
        xtc_trainer_t t = new_trainer(corpus, len);
        struct xtc_step_stats st;
        CHECK(t && xtc_trainer_step(t, &st, &err) == XTC_OK && xtc_trainer_save(t, dir, &err) == XTC_OK, "save: %s",
              err.msg);
        xtc_trainer_free(t);
        snprintf(path, sizeof path, "%s/latest/train_state.safetensors", dir);
        CHECK(poke_f32(path, cases[c].tensor, 5, cases[c].value) == 0, "patch %s", path);
        t = NULL;
        CHECK(xtc_trainer_resume(&t, dir, NULL, corpus, len, NULL, &err) == XTC_ERR_FORMAT &&
                  strstr(err.msg, cases[c].tensor) && strstr(err.msg, "[5]"),
              "%s[5] = %g refused on resume, naming the tensor: %s", cases[c].tensor, (double)cases[c].value,
              err.msg);
        xtc_trainer_free(t);
        rm_rf(dir);
    }
}

int main(void) {
    size_t len = 4000;
    uint8_t *corpus = xtc_test_corpus(len, 7);
    test_lock(corpus, len);
    test_cleanup(corpus, len);
    test_other_corpus(corpus, len);
    test_bad_moments(corpus, len);
    test_kill_during_resave(corpus, len);
    free(corpus);
    return xtc_check_report("test_train_safety");
}
