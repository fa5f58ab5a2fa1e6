/* xtc train: byte-level language-model training (x-transformers' enwik8
 * recipe) with a progress line, validation, a CSV log, an SVG loss plot,
 * atomic checkpoints and exact resume. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "xtc/xtc.h"

static const char *dtype_arg(enum xtc_dtype d) { return d == XTC_DTYPE_BF16 ? "bf16" : "f32"; }

#define CMD "train"

/* A small byte-level GPT with rotary positions: trains to readable text in minutes on 2 cores. */
static const char *default_config =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 128, "
    "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 128, \"depth\": 4, \"heads\": 4, "
    "\"attn_dim_head\": 32, \"rotary_pos_emb\": true, \"rotary_emb_dim\": 32}}}}";

static const char *default_data[] = {"/usr/share/games/fortunes", "/usr/share/common-licenses"};

/* SIGINT / SIGTERM: the first lets the current step finish, then the run saves and exits
 * with 130; later ones change nothing (saves run with both signals blocked). */
static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* A checkpoint save with SIGINT and SIGTERM held back until it is complete. */
static xtc_status save_blocked(xtc_trainer_t t, const char *out, struct xtc_error *err) {
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    xtc_status rc = xtc_trainer_save(t, out, err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* What to tell a user whose run failed: the checkpoint DIR/latest names, only when it
 * exists and loads (its model and its training state open). */
static void report_last_good(const char *out) {
    char link[4200], target[4200] = "", state[8400];
    snprintf(link, sizeof link, "%s/latest", out);
    ssize_t r = readlink(link, target, sizeof target - 1);
    target[r > 0 ? r : 0] = '\0';
    snprintf(state, sizeof state, "%s/train_state.safetensors", link);
    struct xtc_error err;
    xtc_model_t m = NULL;
    xtc_safetensors_t st = NULL;
    bool ok = r > 0 && xtc_model_load_dir(&m, link, &err) == XTC_OK && xtc_safetensors_open(&st, state, &err) == XTC_OK;
    xtc_model_free(m);
    xtc_safetensors_free(st);
    if (ok)
        fprintf(stderr, "the last good checkpoint is %s/%s (continue with --resume)\n", out, target);
    else
        fprintf(stderr, "no usable checkpoint was saved in %s\n", out);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void hms(char *buf, size_t n, double s) {
    long t = s > 0 && isfinite(s) ? (long)(s + 0.5) : 0;
    snprintf(buf, n, "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

struct curve {
    double *x, *y;
    int n, cap;
};

static void curve_add(struct curve *c, double x, double y) {
    if (c->n == c->cap) {
        if (c->cap > INT_MAX / 2)
            return; /* the plot keeps its first 2^30 points */
        int cap = c->cap ? 2 * c->cap : 256;
        double *nx = realloc(c->x, sizeof(double) * (size_t)cap), *ny = nx ? realloc(c->y, sizeof(double) * (size_t)cap) : NULL;
        if (!nx || !ny) {
            c->x = nx ? nx : c->x;
            return;
        }
        c->x = nx, c->y = ny, c->cap = cap;
    }
    c->x[c->n] = x, c->y[c->n] = y, c->n++;
}

/* Writes DIR/loss.svg (atomically); non-zero with a message on failure. */
static int write_plot(const char *out, const struct curve *train, const struct curve *val) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/loss.svg", out);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "xtc train: cannot write %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    struct xtc_cli_series s[2] = {{"train", "#1f77b4", train->x, train->y, train->n},
                                  {"validation", "#d62728", val->x, val->y, val->n}};
    errno = 0;
    int bad = xtc_cli_plot_svg(f, s, 2, "xtc train: loss");
    int e = errno;
    if (fclose(f) != 0 && !bad)
        bad = 1, e = errno;
    if (!bad && rename(tmp, path) != 0)
        bad = 1, e = errno;
    if (bad) {
        fprintf(stderr, "xtc train: writing %s failed: %s\n", path, strerror(e ? e : EIO));
        unlink(tmp);
    }
    return bad;
}

/* Reloads an existing CSV log up to `step` (a resumed run continues it) and opens it for
 * writing; non-zero with a message when it cannot be written. */
static int load_csv(const char *path, int64_t step, struct curve *train, struct curve *val, FILE **out) {
    FILE *f = step >= 0 ? fopen(path, "r") : NULL; /* a new run starts a new log */
    struct stat sb;
    if (f && (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))) { /* /dev/full would read forever */
        fclose(f);
        f = NULL;
    }
    char line[512];
    char *keep = NULL;
    size_t klen = 0;
    while (f && fgets(line, sizeof line, f)) {
        long long s;
        double tl, vl;
        if (sscanf(line, "%lld,%lf,%lf", &s, &tl, &vl) >= 2 && s <= step) {
            if (isfinite(tl))
                curve_add(train, (double)s, tl);
            if (sscanf(line, "%lld,%lf,%lf", &s, &tl, &vl) == 3 && isfinite(vl))
                curve_add(val, (double)s, vl);
        } else if (strncmp(line, "step,", 5) != 0) {
            continue;
        }
        size_t l = strlen(line);
        char *p = realloc(keep, klen + l + 1);
        if (!p)
            break;
        keep = p;
        memcpy(keep + klen, line, l + 1);
        klen += l;
    }
    if (f)
        fclose(f);
    *out = fopen(path, "w");
    int bad = !*out;
    if (*out) {
        if (klen)
            fputs(keep, *out);
        else
            fputs("step,train_loss,val_loss,lr,grad_norm,tokens_per_s,elapsed_s\n", *out);
        bad = fflush(*out) != 0 || ferror(*out);
    }
    if (bad)
        fprintf(stderr, "xtc train: cannot write %s: %s\n", path, strerror(errno));
    free(keep);
    return bad;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: xtc train [options]\n\n"
            "Byte-level language modelling on a text file (or a directory of text files), the way\n"
            "x-transformers' enwik8 example does it. Without options: a small rotary GPT on the fortunes\n"
            "corpus (Debian package 'fortunes'), else on /usr/share/common-licenses.\n\n"
            "  --config FILE      model config (x-transformers constructor call as JSON); default: built in\n"
            "  --data PATH        a text file, or a directory: its regular files (symbolic links followed; not\n"
            "                     recursive; hidden and .dat files skipped) concatenated in byte-wise name order\n"
            "  --out DIR (run)    run directory (created if missing); locked while a run uses it\n"
            "  --steps N (600)    --batch B (16)    --seq-len T (128)    --accum N (1)\n"
            "  --lr X (2e-3)      --min-lr X (2e-4)  --warmup N (50)     --weight-decay X (0.01)\n"
            "  --grad-clip X (0.5)  --seed N (42)  --threads N (all)\n"
            "  --eval-every N (50)  --eval-batches N (8)  --save-every N (100)  --log-every N (10)\n"
            "  --dtype f32|bf16   precision of the products (f32): bf16 rounds the linear layers' operands to\n"
            "                     bfloat16 and sums in fp32 (mixed precision; weights, AdamW, norms and the\n"
            "                     loss stay fp32); native through oneDNN where the CPU has bf16, else emulated\n"
            "  --xl N             Transformer-XL training: crops of N segments of max_seq_len, memories\n"
            "                     carried between segments (XLAutoregressiveWrapper); needs max_mem_len\n"
            "  --resume           continue DIR/latest exactly (same losses as an uninterrupted run); an error\n"
            "                     when DIR/latest is missing or dangling. The options are the checkpoint's:\n"
            "                     --steps may change (extends the run); any other training option that\n"
            "                     differs from the checkpoint's is refused, and so is another corpus\n"
            "  --override-options with --resume: train on with the options given instead of the checkpoint's\n"
            "  --override-corpus  with --resume: accept a corpus other than the one the checkpoint was trained on\n"
            "  --force            start a new run in a DIR that holds one (or its log or plot): without it\n"
            "                     that is refused; the old checkpoints go when the new run saves its first\n"
            "  --sample N (300)   bytes of text sampled from the model at the end (0: none)\n"
            "  --no-zero          under mpirun: every process keeps the whole AdamW state (default: sharded)\n\n"
            "Writes DIR/log.csv, DIR/loss.svg and DIR/checkpoint-STEP (config.json + model.safetensors,\n"
            "loadable by x-transformers; train_state.safetensors) with DIR/latest pointing at the newest.\n"
            "Ctrl-C (SIGINT) or SIGTERM: the current step finishes, a checkpoint is saved, exit status 130;\n"
            "further signals cannot interrupt the save. Exit status 1 when anything asked for failed (a\n"
            "checkpoint, the log, the plot, the sample), 2 for usage errors.\n\n"
            "Several processes: mpirun -np N xtc train ... trains one model on N processes (an xtc built with\n"
            "MPI). --batch and --accum are per process: a step's global batch is N x accum x batch crops, the\n"
            "stream of one process with --accum accum x N. Rank 0 alone writes DIR and prints; a checkpoint\n"
            "resumes on any number of processes. The AdamW state is sharded (ZeRO-1): each process keeps\n"
            "the moments of 1/N of the parameters. --no-zero: every process keeps the whole state.\n"
            );
}

static bool put_byte(const int64_t *tokens, int64_t batch, void *user) {
    (void)batch, (void)user;
    putchar(tokens[0] < 256 ? (int)tokens[0] : '?');
    fflush(stdout);
    return true;
}

/* A sampled continuation of a prompt (KV cache, temperature 0.8, top-k 40). */
static int print_sample(xtc_model_t m, const uint8_t *prompt, size_t plen, int n, uint64_t seed) {
    int64_t *ids = malloc(sizeof(int64_t) * (plen + 1)), *out = malloc(sizeof(int64_t) * (size_t)n);
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = n, o.temperature = 0.8f, o.top_k = 40, o.seed = seed;
    int status = 0;
    if (!ids || !out) {
        fprintf(stderr, "xtc train: sampling failed: out of memory\n");
        status = 1;
    } else if (plen > 0) {
        for (size_t i = 0; i < plen; i++)
            ids[i] = prompt[i];
        printf("\n--- sample (temperature 0.8, top-k 40) ---\n%.*s", (int)plen, (const char *)prompt);
        int64_t steps;
        struct xtc_error err;
        if (xtc_generate(m, ids, 1, (int64_t)plen, &o, put_byte, NULL, out, &steps, NULL, &err) != XTC_OK) {
            fprintf(stderr, "\nxtc train: sampling failed: %s\n", err.msg);
            status = 1;
        }
        printf("\n---\n");
    }
    free(ids);
    free(out);
    return status;
}

struct loop_settings {
    int eval_every, eval_batches, save_every, log_every, sample;
    bool no_zero; /* several processes: every one keeps the whole AdamW state */
};

/* One line of DIR/log.csv; a failure is reported once and makes the run's status non-zero. */
static void log_line(FILE *csv, const char *path, bool *failed, const char *fmt, ...) {
    if (!csv)
        return; /* not rank 0 of a job: rank 0 writes the log */
    va_list ap;
    va_start(ap, fmt);
    errno = 0;
    int bad = vfprintf(csv, fmt, ap) < 0 || fflush(csv) != 0;
    va_end(ap);
    if (bad && !*failed)
        fprintf(stderr, "xtc train: writing %s failed: %s (training goes on; the log is incomplete)\n", path,
                strerror(errno ? errno : EIO));
    *failed |= bad;
}

static int local_failure(xtc_comm_t comm, int status);

/* An error inside the training loop: rank 0 reports it with the last good checkpoint, another
 * process names itself. In a job of several the whole job ends: the others may be waiting for
 * this process in a collective of the step or of the evaluation. */
static int loop_failure(xtc_comm_t comm, const char *out, const char *msg) {
    if (xtc_comm_rank(comm) == 0) {
        fprintf(stderr, "xtc train: %s\n", msg);
        report_last_good(out);
    } else {
        fprintf(stderr, "xtc train: process %d of %d: %s\n", xtc_comm_rank(comm), xtc_comm_size(comm), msg);
    }
    return local_failure(comm, 1);
}

/* Steps, evaluation, log, plot and checkpoints until o.steps or a signal; the exit status. */
static int train_loop(xtc_trainer_t t, xtc_comm_t comm, const char *out, const char *data, const uint8_t *corpus,
                      size_t len, size_t n_files, bool resuming, const struct loop_settings *ls) {
    struct xtc_train_options o = *xtc_trainer_options(t);
    xtc_model_t m = xtc_trainer_model(t);
    struct xtc_error err;
    /* in a job of several processes every call of the trainer is collective and fails alike
     * everywhere; rank 0 alone writes the log and the plot and reports */
    const bool lead = xtc_comm_rank(comm) == 0;
    const int ranks = xtc_comm_size(comm);
    printf("model: %lld parameters | corpus %s: %zu bytes in %zu file%s, fingerprint %016llx (%.0f%% held out) | "
           "batch %lld x %lld bytes%s | %s products | %d threads\n",
           (long long)xtc_model_num_params(m), data, len, n_files, n_files == 1 ? "" : "s",
           (unsigned long long)xtc_corpus_fingerprint(corpus, len), o.val_fraction * 100, (long long)o.batch,
           (long long)o.seq_len, o.xl_segments ? " (Transformer-XL segments)" : "", dtype_arg(o.dtype),
           xtc_threads_get());
    struct xtc_comm_stats cs;
    xtc_trainer_comm_stats(t, &cs);
    if (ranks > 1)
        printf("%d processes (%s): each takes %lld x %d of every global batch of %lld crops; a blocking %s of the "
               "gradients takes %.1f ms\n", ranks, xtc_comm_name(comm), (long long)o.batch, o.accum,
               (long long)o.batch * o.accum * ranks, cs.sharded ? "reduce-scatter" : "sum", cs.blocking_s * 1e3);
    printf("optimiser state (AdamW m, v): %.2f MB per process", cs.opt_bytes / 1e6);
    if (cs.sharded)
        printf(", sharded over %d processes (ZeRO-1; %.2f MB unsharded)", ranks, cs.opt_bytes_full / 1e6);
    printf("\n");
    if (resuming)
        printf("resuming %s/latest at step %lld\n", out, (long long)xtc_trainer_step_count(t));
    if (resuming && cs.checkpoint_ranks > 0 && cs.checkpoint_ranks != ranks)
        printf("note: the checkpoint was trained on %d process%s, this run has %d: the global batch is now %lld "
               "crops\n", cs.checkpoint_ranks, cs.checkpoint_ranks == 1 ? "" : "es", ranks,
               (long long)o.batch * o.accum * ranks);

    char csv_path[4200];
    snprintf(csv_path, sizeof csv_path, "%s/log.csv", out);
    struct curve train_c = {0}, val_c = {0};
    FILE *csv = NULL;
    if (lead && load_csv(csv_path, resuming ? xtc_trainer_step_count(t) : -1, &train_c, &val_c, &csv)) {
        if (csv)
            fclose(csv);
        free(train_c.x), free(train_c.y), free(val_c.x), free(val_c.y);
        return 1;
    }
    install_signals();

    int status = 0;
    bool log_failed = false, plot_failed = false;
    double t0 = now(), tokens_since = 0, t_since = now();
    float val = NAN;
    int64_t start_step = xtc_trainer_step_count(t), saved_step = resuming ? start_step : -1;
    if (start_step == 0) {
        if (xtc_trainer_evaluate(t, ls->eval_batches, &val, &err) != XTC_OK) {
            status = loop_failure(comm, out, err.msg);
        } else {
            printf("step %5d/%lld | val %.4f (%.3f bits/byte)\n", 0, (long long)o.steps, val, val / log(2.0));
            curve_add(&val_c, 0, val);
            log_line(csv, csv_path, &log_failed, "0,nan,%.6f,0,0,0,0\n", val);
        }
    }
    bool stop = false;
    while (status == 0 && xtc_trainer_step_count(t) < o.steps) {
        /* a signal reaches the processes of a job at different moments: they stop together */
        if (xtc_comm_any(comm, g_stop != 0, &stop, &err) != XTC_OK) {
            fprintf(stderr, "xtc train: %s\n", err.msg);
            status = 1;
            break;
        }
        if (stop)
            break;
        struct xtc_step_stats st;
        if (xtc_trainer_step(t, &st, &err) != XTC_OK) {
            status = loop_failure(comm, out, err.msg);
            break;
        }
        tokens_since += (double)st.tokens;
        val = NAN;
        if (st.step % ls->eval_every == 0 || st.step == o.steps) {
            if (xtc_trainer_evaluate(t, ls->eval_batches, &val, &err) != XTC_OK) {
                status = loop_failure(comm, out, err.msg);
                break;
            }
            curve_add(&val_c, (double)st.step, val);
        }
        curve_add(&train_c, (double)st.step, st.loss);
        double el = now() - t0, tps = tokens_since / (now() - t_since);
        log_line(csv, csv_path, &log_failed, "%lld,%.6f,%.6f,%.6g,%.4f,%.0f,%.2f\n", (long long)st.step, st.loss, val,
                 st.lr, st.grad_norm, tps, el);
        if (st.step % ls->log_every == 0 || isfinite(val) || st.step == o.steps) {
            char e[32], eta[32];
            hms(e, sizeof e, el);
            hms(eta, sizeof eta, el / (double)(st.step - start_step) * (double)(o.steps - st.step));
            printf("step %5lld/%lld | loss %.4f", (long long)st.step, (long long)o.steps, st.loss);
            if (isfinite(val))
                printf(" | val %.4f (%.3f bits/byte)", val, val / log(2.0));
            printf(" | lr %.2e | %.0f tok/s", st.lr, tps);
            if (ranks > 1) {
                xtc_trainer_comm_stats(t, &cs);
                double per = cs.steps ? 1e3 / (double)cs.steps : 0;
                printf(" | %d ranks, sums %.1f ms exposed / %.1f in flight per step", ranks, cs.exposed_s * per,
                       cs.in_flight_s * per);
            }
            printf(" | %s elapsed | ETA %s\n", e, eta);
            fflush(stdout);
            tokens_since = 0, t_since = now();
        }
        if (lead && isfinite(val) && !plot_failed)
            plot_failed = write_plot(out, &train_c, &val_c) != 0;
        if (st.step % ls->save_every == 0 || st.step == o.steps) {
            if (save_blocked(t, out, &err) != XTC_OK) {
                if (lead) {
                    fprintf(stderr, "xtc train: saving a checkpoint failed: %s\n", err.msg);
                    report_last_good(out);
                }
                status = 1;
                break;
            }
            saved_step = st.step;
        }
    }
    if (status == 0 && !stop && g_stop)
        stop = true; /* after the last step, which is saved: reported as an interrupted run, as before */
    if (stop && status == 0) {
        int64_t step = xtc_trainer_step_count(t);
        if (saved_step == step || save_blocked(t, out, &err) == XTC_OK) {
            printf("interrupted: saved %s/latest at step %lld (continue with --resume)\n", out, (long long)step);
            status = 130;
        } else {
            if (lead) {
                fprintf(stderr, "xtc train: interrupted, and saving a checkpoint failed: %s\n", err.msg);
                report_last_good(out);
            }
            status = 1;
        }
    }
    if (lead && !plot_failed)
        plot_failed = write_plot(out, &train_c, &val_c) != 0;
    if (ranks > 1 && lead) {
        xtc_trainer_comm_stats(t, &cs);
        if (cs.steps > 0)
            printf("communication: %d ranks, %d %s of %.1f MB in all per step; waited %.2f ms per step after "
                   "the backward (exposed) of %.2f ms in flight; without overlap a step would wait %.2f ms\n",
                   ranks, cs.buckets, cs.sharded ? "reduce-scatters" : "all-reduces", cs.bytes / 1e6,
                   cs.exposed_s * 1e3 / (double)cs.steps, cs.in_flight_s * 1e3 / (double)cs.steps,
                   cs.blocking_s * 1e3);
        if (cs.steps > 0 && cs.sharded)
            printf("optimiser: AdamW state %.2f MB per process (%.2f MB unsharded); all-gather of the parameters "
                   "%.2f ms per step\n", cs.opt_bytes / 1e6, cs.opt_bytes_full / 1e6,
                   cs.allgather_s * 1e3 / (double)cs.steps);
    }
    if (status == 0 && lead) {
        printf("done: %s/latest (config.json + model.safetensors), log %s, plot %s/loss.svg\n", out, csv_path, out);
        if (ls->sample > 0) {
            /* the first line of the held-out text as the prompt */
            size_t at = len - (size_t)(len * o.val_fraction), plen = 0;
            while (at + plen < len && plen < 48 && corpus[at + plen] != '\n')
                plen++;
            status = print_sample(m, corpus + at, plen, ls->sample, o.seed);
        }
    }
    if (csv && fclose(csv) != 0 && !log_failed) {
        fprintf(stderr, "xtc train: writing %s failed: %s\n", csv_path, strerror(errno));
        log_failed = true;
    }
    free(train_c.x), free(train_c.y), free(val_c.x), free(val_c.y);
    if (status == 0 && (log_failed || plot_failed))
        status = 1;
    return status;
}

/* --dtype f32|bf16; 2 (a usage error, after saying why) for anything else */
static int parse_dtype(const char *a, const char *v, enum xtc_dtype *out) {
    if (!strcmp(v, "f32") || !strcmp(v, "bf16")) {
        *out = v[0] == 'b' ? XTC_DTYPE_BF16 : XTC_DTYPE_F32;
        return 0;
    }
    fprintf(stderr, "xtc train: %s must be f32 or bf16 (got '%s')\n", a, v);
    return 2;
}

/* The training options a user gave explicitly: on --resume they must equal the checkpoint's
 * (or --override-options). steps may always change: it extends (or shortens) a run. */
enum { G_STEPS, G_BATCH, G_SEQ_LEN, G_ACCUM, G_LR, G_MIN_LR, G_WARMUP, G_WEIGHT_DECAY, G_GRAD_CLIP, G_SEED, G_XL, G_DTYPE, G_N };

/* Prints each given option that differs from the checkpoint's; returns how many differ.
 * With apply, *merged gets the checkpoint's options with the given ones in their place. */
static int diff_options(const bool *given, const struct xtc_train_options *o, const struct xtc_train_options *ck,
                        struct xtc_train_options *merged, const char *how) {
    int n = 0;
    *merged = *ck;
#define DIFF(g, field, flag, fmt, cast)                                                                     \
    if (given[g] && o->field != ck->field) {                                                                 \
        fprintf(stderr, "xtc train: %s " fmt " %s the checkpoint's " fmt "\n", flag, (cast)o->field, how,   \
                (cast)ck->field);                                                                            \
        merged->field = o->field;                                                                            \
        n++;                                                                                                 \
    }
    DIFF(G_BATCH, batch, "--batch", "%lld", long long)
    DIFF(G_SEQ_LEN, seq_len, "--seq-len", "%lld", long long)
    DIFF(G_ACCUM, accum, "--accum", "%d", int)
    DIFF(G_LR, lr, "--lr", "%g", double)
    DIFF(G_MIN_LR, min_lr, "--min-lr", "%g", double)
    DIFF(G_WARMUP, warmup, "--warmup", "%lld", long long)
    DIFF(G_WEIGHT_DECAY, weight_decay, "--weight-decay", "%g", double)
    DIFF(G_GRAD_CLIP, grad_clip, "--grad-clip", "%g", double)
    DIFF(G_SEED, seed, "--seed", "%llu", unsigned long long)
    DIFF(G_XL, xl_segments, "--xl", "%d", int)
#undef DIFF
    if (given[G_DTYPE] && o->dtype != ck->dtype) {
        fprintf(stderr, "xtc train: --dtype %s %s the checkpoint's %s\n", dtype_arg(o->dtype), how, dtype_arg(ck->dtype));
        merged->dtype = o->dtype;
        n++;
    }
    merged->steps = given[G_STEPS] ? o->steps : ck->steps;
    return n;
}

/* --resume: the run DIR/latest names, with the options checked against the checkpoint's. */
static int resume_run(xtc_trainer_t *t, const char *out, const char *config, const uint8_t *corpus, size_t len,
                      const struct xtc_train_options *o, const bool *given, bool override_options,
                      bool override_corpus) {
    char latest[4200];
    struct stat sb;
    snprintf(latest, sizeof latest, "%s/latest", out);
    if (lstat(latest, &sb) != 0) {
        fprintf(stderr, "xtc train: --resume: %s holds no run to continue (%s: %s)\n", out, latest, strerror(errno));
        return 1;
    }
    struct xtc_error err;
    unsigned flags = override_corpus ? XTC_RESUME_ANY_CORPUS : 0;
    if (xtc_trainer_resume_ex(t, out, config, corpus, len, given[G_STEPS] ? o : NULL, flags, &err) != XTC_OK) {
        fprintf(stderr, "xtc train: %s\n", err.msg);
        if (strstr(err.msg, "another corpus"))
            fprintf(stderr, "xtc train: resume with the corpus it was trained on, or pass --override-corpus\n");
        return 1;
    }
    struct xtc_train_options merged;
    int n = diff_options(given, o, xtc_trainer_options(*t), &merged,
                         override_options ? "overrides" : "differs from");
    if (n == 0)
        return 0;
    if (!override_options) {
        fprintf(stderr, "xtc train: refusing to resume %s with other options: drop them, or pass --override-options "
                        "to train on with the new values\n", out);
        xtc_trainer_free(*t);
        *t = NULL;
        return 2;
    }
    xtc_trainer_free(*t); /* releases the lock: resume_ex takes it again */
    *t = NULL;
    if (xtc_trainer_resume_ex(t, out, config, corpus, len, &merged, flags | XTC_RESUME_OPTIONS, &err) != XTC_OK) {
        fprintf(stderr, "xtc train: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* A new run in DIR (created when missing): refused when DIR already holds one. */
/* What a new run would overwrite in DIR: another run (latest), its log or its plot. */
static const char *const run_files[] = {"latest", "log.csv", "loss.svg"};

static int new_run(xtc_trainer_t *t, const char *out, const char *config, const uint8_t *corpus, size_t len,
                   const struct xtc_train_options *o, bool force) {
    struct xtc_error err;
    xtc_model_t m;
    if (xtc_model_create(&m, config, strlen(config), o->seed, &err) != XTC_OK ||
        xtc_trainer_create(t, m, corpus, len, o, &err) != XTC_OK || xtc_trainer_use_dir(*t, out, &err) != XTC_OK) {
        fprintf(stderr, "xtc train: %s\n", err.msg);
        xtc_trainer_free(*t);
        *t = NULL;
        return 1;
    }
    /* checked with the directory locked: no other xtc train can be writing them */
    char path[4200];
    struct stat sb;
    for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", out, run_files[i]);
        if (lstat(path, &sb) != 0)
            continue;
        if (!force) {
            fprintf(stderr,
                    "xtc train: %s already holds %s; use --resume to continue that run, --force to start a new one "
                    "over it, or choose another --out\n",
                    out, i == 0 ? "a run" : run_files[i]);
            xtc_trainer_free(*t);
            *t = NULL;
            return 1;
        }
        /* --force: the old run stops being resumable now; its checkpoints are removed when the
         * new run's first checkpoint is complete (the usual clean-up of superseded ones) */
        if (i == 0 && unlink(path) != 0) {
            fprintf(stderr, "xtc train: cannot remove %s: %s\n", path, strerror(errno));
            xtc_trainer_free(*t);
            *t = NULL;
            return 1;
        }
    }
    return 0;
}

static int usage_error(const char *msg) {
    fprintf(stderr, "xtc train: %s (see --help)\n", msg);
    return 2;
}

/* A failure of this process alone while the others may wait for it in a collective: in a
 * job of several it ends the whole job (with this status); alone it returns the status. */
static int local_failure(xtc_comm_t comm, int status) {
    if (xtc_comm_size(comm) > 1)
        xtc_comm_abort(comm, status, NULL);
    return status;
}

/* One process's part of a run: every rank reads the corpus; rank 0 alone makes or resumes
 * the trainer in the run directory, then hands it to the others (xtc_trainer_share). */
static int run_rank(xtc_comm_t comm, const char *config_path, const char *data, const char *out,
                    const struct xtc_train_options *o, const bool *given, bool resume, bool override_options,
                    bool override_corpus, bool force, const struct loop_settings *ls) {
    const int rank = xtc_comm_rank(comm), ranks = xtc_comm_size(comm);
    for (size_t i = 0; !data && i < sizeof default_data / sizeof default_data[0]; i++)
        if (access(default_data[i], R_OK) == 0)
            data = default_data[i];
    if (!data) {
        fprintf(stderr, "xtc train: no --data given and no default corpus found (apt-get install fortunes)\n");
        return local_failure(comm, 2);
    }
    size_t len = 0, n_files = 0;
    char errbuf[512];
    uint8_t *corpus = xtc_cli_read_corpus(data, &len, &n_files, errbuf, sizeof errbuf);
    if (!corpus) {
        fprintf(stderr, "xtc train: %s\n", errbuf);
        return local_failure(comm, 1);
    }
    char *config = NULL;
    if (config_path) {
        size_t clen;
        config = xtc_cli_read_file(config_path, &clen, errbuf, sizeof errbuf);
        if (!config) {
            fprintf(stderr, "xtc train: %s\n", errbuf);
            free(corpus);
            return local_failure(comm, 1);
        }
    }
    xtc_trainer_t t = NULL;
    int status = 0;
    if (rank == 0) {
        /* the run directory: created (one level) when missing; its lock, taken by the trainer, is
         * held for the whole run and keeps a second xtc train out */
        struct stat sb;
        if (!resume && mkdir(out, 0755) != 0 && (errno != EEXIST || stat(out, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
            fprintf(stderr, "xtc train: cannot create the output directory %s: %s\n", out,
                    errno == EEXIST ? "it exists and is not a directory" : strerror(errno));
            status = 1;
        } else {
            status = resume ? resume_run(&t, out, config, corpus, len, o, given, override_options, override_corpus)
                            : new_run(&t, out, config ? config : default_config, corpus, len, o, force);
        }
    }
    struct xtc_error err;
    if (ranks > 1 &&
        xtc_trainer_share_ex(&t, comm, corpus, len, ls->no_zero ? XTC_SHARE_REPLICATE_OPTIMIZER : 0, &err) != XTC_OK) {
        if (status == 0) /* rank 0's own failure is reported already */
            fprintf(stderr, "xtc train: rank %d: %s\n", rank, err.msg);
        status = status ? status : 1;
    }
    if (status == 0)
        status = train_loop(t, comm, out, data, corpus, len, n_files, resume, ls);
    xtc_trainer_free(t);
    free(corpus);
    free(config);
    return status;
}

int xtc_cli_train(int argc, char **argv) {
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.steps = 600, o.batch = 16, o.seq_len = 128, o.lr = 2e-3f, o.min_lr = 2e-4f, o.warmup = 50;
    const char *config_path = NULL, *data = NULL, *out = "run";
    int eval_every = 50, eval_batches = 8, save_every = 100, log_every = 10, threads = 0, sample = 300;
    bool resume = false, override_options = false, override_corpus = false, force = false, given[G_N] = {false};
    bool no_zero = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
#define GIVEN(g) (given[g] = true, 0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--resume")) {
            resume = true;
        } else if (!strcmp(a, "--force")) {
            force = true;
        } else if (!strcmp(a, "--override-options")) {
            override_options = true;
        } else if (!strcmp(a, "--override-corpus")) {
            override_corpus = true;
        } else if (!strcmp(a, "--no-zero")) {
            no_zero = true;
        } else if (OPT("--config")) {
            config_path = v;
        } else if (OPT("--data")) {
            data = v;
        } else if (OPT("--out")) {
            out = v;
        } else if (OPT("--steps")) {
            bad = GIVEN(G_STEPS) + xtc_cli_parse_i64(CMD, a, v, 0, INT64_MAX, &o.steps);
        } else if (OPT("--batch")) {
            bad = GIVEN(G_BATCH) + xtc_cli_parse_i64(CMD, a, v, 1, 65536, &o.batch);
        } else if (OPT("--seq-len")) {
            bad = GIVEN(G_SEQ_LEN) + xtc_cli_parse_i64(CMD, a, v, 1, 1 << 20, &o.seq_len);
        } else if (OPT("--accum")) {
            bad = GIVEN(G_ACCUM) + xtc_cli_parse_int(CMD, a, v, 1, 65536, &o.accum);
        } else if (OPT("--lr")) {
            bad = GIVEN(G_LR) + xtc_cli_parse_float(CMD, a, v, 0, HUGE_VAL, &o.lr);
        } else if (OPT("--min-lr")) {
            bad = GIVEN(G_MIN_LR) + xtc_cli_parse_float(CMD, a, v, 0, HUGE_VAL, &o.min_lr);
        } else if (OPT("--warmup")) {
            bad = GIVEN(G_WARMUP) + xtc_cli_parse_i64(CMD, a, v, 0, INT64_MAX, &o.warmup);
        } else if (OPT("--weight-decay")) {
            bad = GIVEN(G_WEIGHT_DECAY) + xtc_cli_parse_float(CMD, a, v, 0, HUGE_VAL, &o.weight_decay);
        } else if (OPT("--grad-clip")) {
            bad = GIVEN(G_GRAD_CLIP) + xtc_cli_parse_float(CMD, a, v, 0, HUGE_VAL, &o.grad_clip);
        } else if (OPT("--seed")) {
            bad = GIVEN(G_SEED) + xtc_cli_parse_u64(CMD, a, v, &o.seed);
        } else if (OPT("--threads")) {
            bad = xtc_cli_parse_int(CMD, a, v, 0, 4096, &threads);
        } else if (OPT("--eval-every")) {
            bad = xtc_cli_parse_int(CMD, a, v, 1, INT_MAX, &eval_every);
        } else if (OPT("--eval-batches")) {
            bad = xtc_cli_parse_int(CMD, a, v, 1, INT_MAX, &eval_batches);
        } else if (OPT("--save-every")) {
            bad = xtc_cli_parse_int(CMD, a, v, 1, INT_MAX, &save_every);
        } else if (OPT("--log-every")) {
            bad = xtc_cli_parse_int(CMD, a, v, 1, INT_MAX, &log_every);
        } else if (OPT("--dtype")) {
            bad = GIVEN(G_DTYPE) + parse_dtype(a, v, &o.dtype);
        } else if (OPT("--xl")) {
            bad = GIVEN(G_XL) + xtc_cli_parse_int(CMD, a, v, 0, 4096, &o.xl_segments);
        } else if (OPT("--sample")) {
            bad = xtc_cli_parse_int(CMD, a, v, 0, 1 << 24, &sample);
        } else {
            fprintf(stderr, "xtc train: unknown or incomplete option '%s' (see --help)\n", a);
            return 2;
        }
#undef GIVEN
#undef OPT
        if (bad)
            return bad;
    }
    if (!out[0])
        return usage_error("--out: the run directory path is empty");
    if (data && !data[0])
        return usage_error("--data: the corpus path is empty");
    if (config_path && !config_path[0])
        return usage_error("--config: the config path is empty");
    if (force && resume)
        return usage_error("--force starts a new run over an old one; it cannot be combined with --resume");
    if ((override_options || override_corpus) && !resume)
        return usage_error(override_options ? "--override-options needs --resume" : "--override-corpus needs --resume");
    if (threads > 0)
        xtc_threads_set(threads);
    /* mpirun -np N: N processes train one model; a process started alone is a job of one */
    struct xtc_error err;
    xtc_comm_t comm;
    if (xtc_comm_create(&comm, &err) != XTC_OK) {
        fprintf(stderr, "xtc train: %s\n", err.msg);
        return 1;
    }
    const int rank = xtc_comm_rank(comm);
    if (rank > 0 && !freopen("/dev/null", "w", stdout)) /* rank 0 prints the progress */
        fprintf(stderr, "xtc train: rank %d: cannot silence its output: %s\n", rank, strerror(errno));
    int status = run_rank(comm, config_path, data, out, &o, given, resume, override_options, override_corpus, force,
                          &(struct loop_settings){eval_every, eval_batches, save_every, log_every, sample, no_zero});
    xtc_comm_free(comm);
    return status;
}

