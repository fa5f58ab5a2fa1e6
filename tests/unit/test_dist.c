/* The communicator without a launcher: a job of one process (its collectives change
 * nothing, a trainer shared over it trains exactly as one alone), the launcher's size read
 * from the environment, and a build without MPI refusing to start as one of several
 * processes (each would train a model of its own). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "xtc/xtc.h"

static const char *tiny_config =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 16, "
    "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 16, \"depth\": 1, \"heads\": 2, "
    "\"attn_dim_head\": 8}}}}";

static xtc_trainer_t make(const uint8_t *corpus, size_t len) {
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.batch = 2, o.seq_len = 16, o.accum = 2, o.steps = 3;
    xtc_model_t m;
    xtc_trainer_t t = NULL;
    struct xtc_error err;
    if (xtc_model_create(&m, tiny_config, strlen(tiny_config), o.seed, &err) != XTC_OK ||
        xtc_trainer_create(&t, m, corpus, len, &o, &err) != XTC_OK)
        fprintf(stderr, "%s\n", err.msg);
    return t;
}

static void test_single(void) {
    xtc_comm_t c;
    struct xtc_error err;
    CHECK(xtc_comm_create_single(&c, &err) == XTC_OK, "single communicator");
    CHECK(xtc_comm_rank(c) == 0 && xtc_comm_size(c) == 1 && strcmp(xtc_comm_name(c), "single") == 0,
          "rank 0 of 1, named single");
    bool any = true;
    CHECK(xtc_comm_any(c, false, &any, &err) == XTC_OK && !any, "any(false) is false");
    CHECK(xtc_comm_any(c, true, &any, &err) == XTC_OK && any, "any(true) is true");
    CHECK(xtc_comm_barrier(c, &err) == XTC_OK, "barrier");
    xtc_comm_abort(c, 1, "one process: returns"); /* a job of one: nothing to end */

    /* a trainer shared over a job of one trains bit for bit as before */
    size_t len = 20000;
    uint8_t *corpus = malloc(len);
    for (size_t i = 0; i < len; i++)
        corpus[i] = (uint8_t)("abcdefgh ij\n"[(i * 7 + i / 13) % 12]);
    xtc_trainer_t a = make(corpus, len), b = make(corpus, len);
    CHECK(a && b && xtc_trainer_share(&b, c, corpus, len, &err) == XTC_OK && b, "share over one process");
    struct xtc_step_stats sa, sb;
    for (int i = 0; a && b && i < 3; i++)
        CHECK(xtc_trainer_step(a, &sa, &err) == XTC_OK && xtc_trainer_step(b, &sb, &err) == XTC_OK &&
                  sa.loss == sb.loss && sa.tokens == sb.tokens, "step %d the same", i + 1);
    if (a && b) {
        xtc_model_t ma = xtc_trainer_model(a), mb = xtc_trainer_model(b);
        CHECK(memcmp(xtc_model_param_data(ma, 0), xtc_model_param_data(mb, 0),
                     sizeof(float) * (size_t)xtc_model_num_params(ma)) == 0, "the same parameters");
        struct xtc_comm_stats cs;
        xtc_trainer_comm_stats(b, &cs);
        CHECK(cs.ranks == 1 && cs.steps == 0, "no communication for one process");
    }
    xtc_trainer_t none = NULL;
    CHECK(xtc_trainer_share(&none, c, corpus, len, &err) != XTC_OK && err.msg[0] && !none,
          "rank 0 without a trainer: an error");
    xtc_trainer_free(a);
    xtc_trainer_free(b);
    free(corpus);
    xtc_comm_free(c);
}

static void test_launcher(void) {
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMI_SIZE");
    unsetenv("PMIX_SIZE");
    unsetenv("MPI_LOCALNRANKS");
    CHECK(xtc_comm_launched_size() == 1, "not launched: one process");
    setenv("OMPI_COMM_WORLD_SIZE", "3", 1);
    CHECK(xtc_comm_launched_size() == 3, "Open MPI's size read");
    setenv("OMPI_COMM_WORLD_SIZE", "3x", 1);
    CHECK(xtc_comm_launched_size() == 1, "a malformed size is ignored");
    if (xtc_comm_has_mpi()) {
        unsetenv("OMPI_COMM_WORLD_SIZE");
        printf("built with MPI: the refusal of a build without it is not tested here\n");
        return;
    }
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    xtc_comm_t c = NULL;
    struct xtc_error err;
    CHECK(xtc_comm_create(&c, &err) == XTC_ERR_UNSUPPORTED && !c && strstr(err.msg, "built without MPI"),
          "without MPI, 2 launched processes refused: %s", err.msg);
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
    CHECK(xtc_comm_create(&c, &err) == XTC_OK && xtc_comm_size(c) == 1, "one launched process runs alone");
    xtc_comm_free(c);
    unsetenv("OMPI_COMM_WORLD_SIZE");
}

int main(void) {
    test_single();
    test_launcher();
    return xtc_check_report("test_dist");
}
