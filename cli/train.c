/* xtc train: byte-level language-model training (x-transformers' enwik8
 * recipe) with a progress line, validation, a CSV log, an SVG loss plot,
 * atomic checkpoints and exact resume. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "xtc/xtc.h"

#define CMD "train"

/* A small byte-level GPT with rotary positions: trains to readable text in minutes on 2 cores. */
static const char *default_config =
    "{\"class\": \"TransformerWrapper\", \"kwargs\": {\"num_tokens\": 256, \"max_seq_len\": 128, "
    "\"attn_layers\": {\"class\": \"Decoder\", \"kwargs\": {\"dim\": 128, \"depth\": 4, \"heads\": 4, "
    "\"attn_dim_head\": 32, \"rotary_pos_emb\": true, \"rotary_emb_dim\": 32}}}}";

static const char *default_data[] = {"/usr/share/games/fortunes", "/usr/share/common-licenses"};

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void hms(char *buf, size_t n, double s) {
    long t = s > 0 && isfinite(s) ? (long)(s + 0.5) : 0;
    snprintf(buf, n, "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A file, or every regular non-binary file of a directory in name order, concatenated. */
static uint8_t *read_corpus(const char *path, size_t *len) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "xtc train: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *names[4096];
    int n = 0;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) && n < 4096) {
            size_t l = strlen(e->d_name);
            if (e->d_name[0] == '.' || (l > 4 && strcmp(e->d_name + l - 4, ".dat") == 0))
                continue; /* fortune's .dat index files are binary */
            char *full = malloc(strlen(path) + l + 2);
            sprintf(full, "%s/%s", path, e->d_name);
            struct stat fs;
            if (lstat(full, &fs) == 0 && S_ISREG(fs.st_mode))
                names[n++] = full;
            else
                free(full);
        }
        if (d)
            closedir(d);
        qsort(names, (size_t)n, sizeof names[0], cmp_str);
    } else {
        names[n++] = strdup(path);
    }
    uint8_t *buf = NULL;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(names[i], "rb");
        if (f) {
            uint8_t chunk[65536];
            size_t r;
            while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
                uint8_t *p = realloc(buf, total + r);
                if (!p)
                    break;
                buf = p;
                memcpy(buf + total, chunk, r);
                total += r;
            }
            fclose(f);
        }
        free(names[i]);
    }
    if (!buf || total == 0) {
        fprintf(stderr, "xtc train: %s holds no readable text\n", path);
        free(buf);
        return NULL;
    }
    *len = total;
    return buf;
}

struct curve {
    double *x, *y;
    int n, cap;
};

static void curve_add(struct curve *c, double x, double y) {
    if (c->n == c->cap) {
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

static void write_plot(const char *out, const struct curve *train, const struct curve *val) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/loss.svg", out);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    struct xtc_cli_series s[2] = {{"train", "#1f77b4", train->x, train->y, train->n},
                                  {"validation", "#d62728", val->x, val->y, val->n}};
    int bad = xtc_cli_plot_svg(f, s, 2, "xtc train: loss");
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0)
        unlink(tmp);
}

/* Reloads an existing CSV log up to `step` (a resumed run continues it). */
static void load_csv(const char *path, int64_t step, struct curve *train, struct curve *val, FILE **out) {
    FILE *f = fopen(path, "r");
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
    if (*out) {
        if (klen)
            fputs(keep, *out);
        else
            fputs("step,train_loss,val_loss,lr,grad_norm,tokens_per_s,elapsed_s\n", *out);
        fflush(*out);
    }
    free(keep);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: xtc train [options]\n\n"
            "Byte-level language modelling on a text file (or a directory of text files), the way\n"
            "x-transformers' enwik8 example does it. Without options: a small rotary GPT on the fortunes\n"
            "corpus (Debian package 'fortunes'), else on /usr/share/common-licenses.\n\n"
            "  --config FILE      model config (x-transformers constructor call as JSON); default: built in\n"
            "  --data PATH        text file or directory                   --out DIR   run directory (default run)\n"
            "  --steps N (600)    --batch B (16)    --seq-len T (128)    --accum N (1)\n"
            "  --lr X (2e-3)      --min-lr X (2e-4)  --warmup N (50)     --weight-decay X (0.01)\n"
            "  --grad-clip X (0.5)  --seed N (42)  --threads N (all)\n"
            "  --eval-every N (50)  --eval-batches N (8)  --save-every N (100)  --log-every N (10)\n"
            "  --xl N             Transformer-XL training: crops of N segments of max_seq_len, memories\n"
            "                     carried between segments (XLAutoregressiveWrapper); needs max_mem_len\n"
            "  --resume           continue DIR/latest exactly (same losses as an uninterrupted run)\n"
            "  --sample N (300)   bytes of text sampled from the model at the end (0: none)\n\n"
            "Writes DIR/log.csv, DIR/loss.svg and DIR/checkpoint-STEP (config.json + model.safetensors,\n"
            "loadable by x-transformers; train_state.safetensors) with DIR/latest pointing at the newest.\n");
}

static bool put_byte(const int64_t *tokens, int64_t batch, void *user) {
    (void)batch, (void)user;
    putchar(tokens[0] < 256 ? (int)tokens[0] : '?');
    fflush(stdout);
    return true;
}

/* A sampled continuation of a prompt (KV cache, temperature 0.8, top-k 40). */
static void print_sample(xtc_model_t m, const uint8_t *prompt, size_t plen, int n, uint64_t seed) {
    int64_t *ids = malloc(sizeof(int64_t) * (plen + 1)), *out = malloc(sizeof(int64_t) * (size_t)n);
    struct xtc_gen_options o;
    xtc_gen_options_default(&o);
    o.max_new_tokens = n, o.temperature = 0.8f, o.top_k = 40, o.seed = seed;
    if (ids && out && plen > 0) {
        for (size_t i = 0; i < plen; i++)
            ids[i] = prompt[i];
        printf("\n--- sample (temperature 0.8, top-k 40) ---\n%.*s", (int)plen, (const char *)prompt);
        int64_t steps;
        struct xtc_error err;
        if (xtc_generate(m, ids, 1, (int64_t)plen, &o, put_byte, NULL, out, &steps, NULL, &err) != XTC_OK)
            fprintf(stderr, "\nsampling failed: %s", err.msg);
        printf("\n---\n");
    }
    free(ids);
    free(out);
}

int xtc_cli_train(int argc, char **argv) {
    struct xtc_train_options o;
    xtc_train_options_default(&o);
    o.steps = 600, o.batch = 16, o.seq_len = 128, o.lr = 2e-3f, o.min_lr = 2e-4f, o.warmup = 50;
    const char *config_path = NULL, *data = NULL, *out = "run";
    int eval_every = 50, eval_batches = 8, save_every = 100, log_every = 10, threads = 0, sample = 300;
    bool resume = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--resume")) {
            resume = true;
        } else if (OPT("--config")) {
            config_path = v;
        } else if (OPT("--data")) {
            data = v;
        } else if (OPT("--out")) {
            out = v;
        } else if (OPT("--steps")) {
            bad = xtc_cli_parse_i64(CMD, a, v, 0, INT64_MAX, &o.steps);
        } else if (OPT("--batch")) {
            bad = xtc_cli_parse_i64(CMD, a, v, 1, 65536, &o.batch);
        } else if (OPT("--seq-len")) {
            bad = xtc_cli_parse_i64(CMD, a, v, 1, 1 << 20, &o.seq_len);
        } else if (OPT("--accum")) {
            bad = xtc_cli_parse_int(CMD, a, v, 1, 65536, &o.accum);
        } else if (OPT("--lr")) {
            bad = xtc_cli_parse_float(CMD, a, v, 0, HUGE_VAL, &o.lr);
        } else if (OPT("--min-lr")) {
            bad = xtc_cli_parse_float(CMD, a, v, 0, HUGE_VAL, &o.min_lr);
        } else if (OPT("--warmup")) {
            bad = xtc_cli_parse_i64(CMD, a, v, 0, INT64_MAX, &o.warmup);
        } else if (OPT("--weight-decay")) {
            bad = xtc_cli_parse_float(CMD, a, v, 0, HUGE_VAL, &o.weight_decay);
        } else if (OPT("--grad-clip")) {
            bad = xtc_cli_parse_float(CMD, a, v, 0, HUGE_VAL, &o.grad_clip);
        } else if (OPT("--seed")) {
            bad = xtc_cli_parse_u64(CMD, a, v, &o.seed);
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
        } else if (OPT("--xl")) {
            bad = xtc_cli_parse_int(CMD, a, v, 0, 4096, &o.xl_segments);
        } else if (OPT("--sample")) {
            bad = xtc_cli_parse_int(CMD, a, v, 0, 1 << 24, &sample);
        } else {
            fprintf(stderr, "xtc train: unknown or incomplete option '%s' (see --help)\n", a);
            return 2;
        }
#undef OPT
        if (bad)
            return bad;
    }
    if (threads > 0)
        xtc_threads_set(threads);
    for (size_t i = 0; !data && i < sizeof default_data / sizeof default_data[0]; i++)
        if (access(default_data[i], R_OK) == 0)
            data = default_data[i];
    if (!data) {
        fprintf(stderr, "xtc train: no --data given and no default corpus found (apt-get install fortunes)\n");
        return 2;
    }
    size_t len = 0;
    uint8_t *corpus = read_corpus(data, &len);
    if (!corpus)
        return 1;
    char *config = NULL;
    char errbuf[512];
    if (config_path) {
        size_t clen;
        config = xtc_cli_read_file(config_path, &clen, errbuf, sizeof errbuf);
        if (!config) {
            fprintf(stderr, "xtc train: %s\n", errbuf);
            free(corpus);
            return 1;
        }
    }
    /* the run directory must be writable before any time is spent training */
    char probe[4200];
    mkdir(out, 0755);
    snprintf(probe, sizeof probe, "%s/.write-test", out);
    FILE *pf = fopen(probe, "w");
    if (!pf || fclose(pf) != 0) {
        fprintf(stderr, "xtc train: cannot write to the output directory %s: %s\n", out, strerror(errno));
        free(corpus);
        free(config);
        return 1;
    }
    unlink(probe);

    struct xtc_error err;
    xtc_trainer_t t = NULL;
    xtc_status rc;
    char latest[4200];
    snprintf(latest, sizeof latest, "%s/latest", out);
    bool resuming = resume && access(latest, F_OK) == 0;
    if (resuming) {
        rc = xtc_trainer_resume(&t, out, config ? config : NULL, corpus, len, &o, &err);
    } else {
        if (!resume && access(latest, F_OK) == 0) {
            fprintf(stderr, "xtc train: %s already holds a run; use --resume to continue it or choose another --out\n",
                    out);
            free(corpus);
            free(config);
            return 1;
        }
        const char *cfg = config ? config : default_config;
        xtc_model_t m;
        rc = xtc_model_create(&m, cfg, strlen(cfg), o.seed, &err);
        if (rc == XTC_OK)
            rc = xtc_trainer_create(&t, m, corpus, len, &o, &err);
    }
    if (rc != XTC_OK) {
        fprintf(stderr, "xtc train: %s\n", err.msg);
        free(corpus);
        free(config);
        return 1;
    }
    o = *xtc_trainer_options(t);
    xtc_model_t m = xtc_trainer_model(t);
    printf("model: %lld parameters | corpus %s: %zu bytes (%.0f%% held out) | batch %lld x %lld bytes%s | "
           "%d threads\n",
           (long long)xtc_model_num_params(m), data, len, o.val_fraction * 100, (long long)o.batch,
           (long long)o.seq_len, o.xl_segments ? " (Transformer-XL segments)" : "", xtc_threads_get());
    if (resuming)
        printf("resuming %s at step %lld\n", latest, (long long)xtc_trainer_step_count(t));

    char csv_path[4200];
    snprintf(csv_path, sizeof csv_path, "%s/log.csv", out);
    struct curve train_c = {0}, val_c = {0};
    FILE *csv = NULL;
    load_csv(csv_path, resuming ? xtc_trainer_step_count(t) : -1, &train_c, &val_c, &csv);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    int status = 0;
    double t0 = now(), tokens_since = 0, t_since = now();
    float val = NAN;
    int64_t start_step = xtc_trainer_step_count(t);
    if (start_step == 0 && xtc_trainer_evaluate(t, eval_batches, &val, &err) == XTC_OK) {
        printf("step %5d/%lld | val %.4f (%.3f bits/byte)\n", 0, (long long)o.steps, val, val / log(2.0));
        curve_add(&val_c, 0, val);
        if (csv) {
            fprintf(csv, "0,nan,%.6f,0,0,0,0\n", val);
            fflush(csv);
        }
    }
    while (xtc_trainer_step_count(t) < o.steps && !g_stop) {
        struct xtc_step_stats st;
        if (xtc_trainer_step(t, &st, &err) != XTC_OK) {
            fprintf(stderr, "xtc train: %s\nthe last good checkpoint is %s\n", err.msg, latest);
            status = 1;
            break;
        }
        tokens_since += (double)st.tokens;
        val = NAN;
        if (st.step % eval_every == 0 || st.step == o.steps) {
            if (xtc_trainer_evaluate(t, eval_batches, &val, &err) != XTC_OK) {
                fprintf(stderr, "xtc train: %s\n", err.msg);
                status = 1;
                break;
            }
            curve_add(&val_c, (double)st.step, val);
        }
        curve_add(&train_c, (double)st.step, st.loss);
        double el = now() - t0, tps = tokens_since / (now() - t_since);
        if (csv) {
            fprintf(csv, "%lld,%.6f,%.6f,%.6g,%.4f,%.0f,%.2f\n", (long long)st.step, st.loss, val, st.lr, st.grad_norm,
                    tps, el);
            fflush(csv);
        }
        if (st.step % log_every == 0 || isfinite(val) || st.step == o.steps) {
            char e[32], eta[32];
            hms(e, sizeof e, el);
            hms(eta, sizeof eta, el / (double)(st.step - start_step) * (double)(o.steps - st.step));
            printf("step %5lld/%lld | loss %.4f", (long long)st.step, (long long)o.steps, st.loss);
            if (isfinite(val))
                printf(" | val %.4f (%.3f bits/byte)", val, val / log(2.0));
            printf(" | lr %.2e | %.0f tok/s | %s elapsed | ETA %s\n", st.lr, tps, e, eta);
            fflush(stdout);
            tokens_since = 0, t_since = now();
        }
        if (isfinite(val))
            write_plot(out, &train_c, &val_c);
        if (st.step % save_every == 0 || st.step == o.steps) {
            if (xtc_trainer_save(t, out, &err) != XTC_OK) {
                fprintf(stderr, "xtc train: saving a checkpoint failed: %s\n", err.msg);
                status = 1;
                break;
            }
        }
    }
    if (g_stop && status == 0) {
        if (xtc_trainer_save(t, out, &err) == XTC_OK)
            printf("interrupted: saved %s at step %lld (continue with --resume)\n", latest,
                   (long long)xtc_trainer_step_count(t));
        status = 130;
    }
    write_plot(out, &train_c, &val_c);
    if (status == 0) {
        printf("done: %s/latest (config.json + model.safetensors), log %s, plot %s/loss.svg\n", out, csv_path, out);
        if (sample > 0) {
            /* the first line of the held-out text as the prompt */
            size_t at = len - (size_t)(len * o.val_fraction), plen = 0;
            while (at + plen < len && plen < 48 && corpus[at + plen] != '\n')
                plen++;
            print_sample(m, corpus + at, plen, sample, o.seed);
        }
    }
    if (csv)
        fclose(csv);
    free(train_c.x), free(train_c.y), free(val_c.x), free(val_c.y);
    xtc_trainer_free(t);
    free(corpus);
    free(config);
    return status;
}
