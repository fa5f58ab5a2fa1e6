/* Training checkpoints: DIR/checkpoint-STEP/ holds config.json and
 * model.safetensors (an x-transformers-loadable model) and
 * train_state.safetensors (AdamW moments, step, random state, options, corpus
 * fingerprint). DIR/latest is a symbolic link replaced by an atomic rename only
 * once the new checkpoint is complete and synced, and the checkpoint it names is
 * never touched before then, so a crash (kill -9) at any moment leaves
 * DIR/latest naming a complete checkpoint. DIR/.lock (flock) keeps a second
 * writer out of the run directory. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <inttypes.h>
#include <stdbool.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"
#include "xtc/status.h"
#include "io/config_json.h"
#include "io/json.h"
#include "io/atomic_file.h"
#include "model/model.h"
#include "train/trainer.h"
#include "xtc/safetensors.h"

#define STATE_FORMAT "xtc-train-state-1"

/* dir + "/" + name into out; false (and an empty string) when it does not fit */
static bool path_join(char *out, size_t n, const char *dir, const char *name) {
    int r = snprintf(out, n, "%s/%s", dir, name);
    if (r < 0 || (size_t)r >= n) {
        out[0] = '\0';
        return false;
    }
    return true;
}

static const char *const ckpt_files[] = {"config.json", "model.safetensors", "train_state.safetensors"};

/* Removes a checkpoint directory written by us: our files and the temporary files of an
 * interrupted atomic write (NAME.tmp.XXXXXX); anything else keeps the directory. */
static void remove_checkpoint(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    char f[PATH_MAX];
    while (d && (e = readdir(d)) != NULL) {
        for (size_t i = 0; i < sizeof ckpt_files / sizeof ckpt_files[0]; i++) {
            size_t n = strlen(ckpt_files[i]);
            if (strncmp(e->d_name, ckpt_files[i], n) == 0 && (e->d_name[n] == '\0' || e->d_name[n] == '.') &&
                path_join(f, sizeof f, path, e->d_name))
                unlink(f);
        }
    }
    if (d)
        closedir(d);
    rmdir(path);
}

// --- run directory: lock and clean-up

/* checkpoint-DIGITS or checkpoint-DIGITS-DIGITS: the names xtc_trainer_save gives */
static bool is_checkpoint_name(const char *s) {
    if (strncmp(s, "checkpoint-", 11) != 0 || !isdigit((unsigned char)s[11]))
        return false;
    s += 11;
    while (isdigit((unsigned char)*s))
        s++;
    if (*s == '-' && isdigit((unsigned char)s[1]))
        for (s++; isdigit((unsigned char)*s);)
            s++;
    return *s == '\0';
}

/* The checkpoint DIR/latest names, when it is one of ours and exists; "" otherwise. */
static void latest_target(const char *dir, char *name, size_t n) {
    char link[PATH_MAX], path[PATH_MAX];
    struct stat sb;
    name[0] = '\0';
    if (!path_join(link, sizeof link, dir, "latest"))
        return;
    ssize_t r = readlink(link, name, n - 1);
    name[r > 0 ? r : 0] = '\0';
    if (!is_checkpoint_name(name) || !path_join(path, sizeof path, dir, name) || stat(path, &sb) != 0 ||
        !S_ISDIR(sb.st_mode))
        name[0] = '\0';
}

/* Removes what an interrupted save left (temporary checkpoint directories and links, also
 * those of older releases: NAME.tmp) and, when DIR/latest names a checkpoint, the other
 * checkpoints. Only xtc's names are touched; the caller holds the lock. */
static void clean_run_dir(const char *dir) {
    char keep[256], path[PATH_MAX];
    latest_target(dir, keep, sizeof keep);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        if (!path_join(path, sizeof path, dir, s))
            continue;
        if (strncmp(s, "latest.tmp", 10) == 0)
            unlink(path);
        else if (strncmp(s, "checkpoint-", 11) == 0 && strstr(s, ".tmp"))
            remove_checkpoint(path);
        else if (keep[0] && is_checkpoint_name(s) && strcmp(s, keep) != 0)
            remove_checkpoint(path);
    }
    if (d)
        closedir(d);
}

void xtc_trainer_unlock(struct xtc_trainer *t) {
    if (t && t->lock_fd >= 0) {
        close(t->lock_fd); /* releases the flock */
        t->lock_fd = -1;
    }
}

/* Takes DIR/.lock; *fd gets the descriptor holding it. */
static xtc_status lock_run_dir(const char *dir, int *fd, struct stat *dir_sb, struct xtc_error *err) {
    char path[PATH_MAX];
    if (!dir[0])
        XTC_FAIL(err, XTC_ERR_ARG, "the run directory path is empty");
    if (!path_join(path, sizeof path, dir, ".lock"))
        XTC_FAIL(err, XTC_ERR_ARG, "run directory path too long: %s", dir);
    if (stat(dir, dir_sb) != 0)
        XTC_FAIL(err, XTC_ERR_IO, "run directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(dir_sb->st_mode))
        XTC_FAIL(err, XTC_ERR_IO, "run directory %s is not a directory", dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0)
        XTC_FAIL(err, XTC_ERR_IO, "cannot create the run lock %s: %s", path, strerror(errno));
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(f);
        if (e == EWOULDBLOCK)
            XTC_FAIL(err, XTC_ERR_IO, "another xtc train is using %s (it holds %s)", dir, path);
        XTC_FAIL(err, XTC_ERR_IO, "cannot lock %s: %s", path, strerror(e));
    }
    *fd = f;
    return XTC_OK;
}

static void adopt_lock(struct xtc_trainer *t, int fd, const struct stat *sb) {
    xtc_trainer_unlock(t);
    t->lock_fd = fd;
    t->lock_dev = sb->st_dev;
    t->lock_ino = sb->st_ino;
}

xtc_status xtc_trainer_use_dir(xtc_trainer_t t, const char *dir, struct xtc_error *err) {
    if (!t || !dir)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_trainer_use_dir: NULL argument");
    struct stat sb;
    if (t->lock_fd >= 0 && stat(dir, &sb) == 0 && sb.st_dev == t->lock_dev && sb.st_ino == t->lock_ino)
        return XTC_OK; /* already ours */
    int fd;
    XTC_TRY(lock_run_dir(dir, &fd, &sb, err));
    adopt_lock(t, fd, &sb);
    clean_run_dir(dir);
    return XTC_OK;
}

/* fsync of a directory, reported (file systems that cannot sync directories say EINVAL: fine) */
static xtc_status sync_dir(const char *dir, struct xtc_error *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        XTC_FAIL(err, XTC_ERR_IO, "cannot open %s to sync it: %s", dir, strerror(errno));
    int r = fsync(fd), e = errno;
    close(fd);
    if (r != 0 && e != EINVAL)
        XTC_FAIL(err, XTC_ERR_IO, "cannot sync %s: %s", dir, strerror(e));
    return XTC_OK;
}

static char *options_json(const struct xtc_train_options *o) {
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
    cJSON_AddNumberToObject(j, "batch", (double)o->batch);
    cJSON_AddNumberToObject(j, "seq_len", (double)o->seq_len);
    cJSON_AddNumberToObject(j, "accum", o->accum);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    cJSON_AddNumberToObject(j, "warmup", (double)o->warmup);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "min_lr", o->min_lr);
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(j, "beta1", o->beta1);
    cJSON_AddNumberToObject(j, "beta2", o->beta2);
    cJSON_AddNumberToObject(j, "eps", o->eps);
    cJSON_AddNumberToObject(j, "grad_clip", o->grad_clip);
    cJSON_AddNumberToObject(j, "val_fraction", o->val_fraction);
    cJSON_AddStringToObject(j, "seed", seed);
    cJSON_AddNumberToObject(j, "xl_segments", o->xl_segments);
    cJSON_AddStringToObject(j, "dtype", xtc_dtype_name(o->dtype));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static xtc_status parse_options(const char *text, struct xtc_train_options *o, struct xtc_error *err) {
    cJSON *j;
    if (!text)
        XTC_FAIL(err, XTC_ERR_FORMAT, "train_state.safetensors: the options metadata is missing");
    XTC_TRY(xtc_json_parse_strict(text, strlen(text), "train_state.safetensors: options metadata", &j, err));
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        XTC_FAIL(err, XTC_ERR_FORMAT, "train_state.safetensors: the options metadata must be a JSON object");
    }
    xtc_train_options_default(o);
    xtc_status rc = XTC_OK;
    const double I53 = 9007199254740992.0; /* 2^53: every integer up to it is exact in a double */
    /* every field a number of its kind (integers integral), within what its C type holds (the
     * ranges that make sense are the trainer's check), the seed a decimal string */
#define NUM(field, type, integral, lim)                                                                    \
    if (rc == XTC_OK && strcmp(v->string, #field) == 0) {                                                  \
        double x_ = cJSON_IsNumber(v) ? v->valuedouble : NAN;                                              \
        if (!(fabs(x_) <= (lim)) || (integral && x_ != floor(x_)))                                         \
            rc = xtc_error_set(err, XTC_ERR_FORMAT, "train_state.safetensors: option '%s' must be %s (|x| <= %g)", \
                               #field, integral ? "an integer" : "a finite number", (double)(lim));        \
        else                                                                                               \
            o->field = (type)x_;                                                                           \
        continue;                                                                                          \
    }
    for (const cJSON *v = j->child; v && rc == XTC_OK; v = v->next) {
        NUM(batch, int64_t, 1, I53)
        NUM(seq_len, int64_t, 1, I53)
        NUM(accum, int, 1, INT_MAX)
        NUM(steps, int64_t, 1, I53)
        NUM(warmup, int64_t, 1, I53)
        NUM(lr, float, 0, FLT_MAX)
        NUM(min_lr, float, 0, FLT_MAX)
        NUM(weight_decay, float, 0, FLT_MAX)
        NUM(beta1, float, 0, FLT_MAX)
        NUM(beta2, float, 0, FLT_MAX)
        NUM(eps, float, 0, FLT_MAX)
        NUM(grad_clip, float, 0, FLT_MAX)
        NUM(val_fraction, double, 0, DBL_MAX)
        NUM(xl_segments, int, 1, INT_MAX)
        if (strcmp(v->string, "dtype") == 0) { /* absent in states written before mixed precision: F32 */
            if (cJSON_IsString(v) && strcmp(v->valuestring, "F32") == 0)
                o->dtype = XTC_DTYPE_F32;
            else if (cJSON_IsString(v) && strcmp(v->valuestring, "BF16") == 0)
                o->dtype = XTC_DTYPE_BF16;
            else
                rc = xtc_error_set(err, XTC_ERR_FORMAT, "train_state.safetensors: option 'dtype' must be \"F32\" or \"BF16\"");
            continue;
        }
        if (strcmp(v->string, "seed") == 0) {
            char *end = NULL;
            errno = 0;
            if (cJSON_IsString(v) && v->valuestring[0] >= '0' && v->valuestring[0] <= '9')
                o->seed = strtoull(v->valuestring, &end, 10);
            if (!end || *end || errno)
                rc = xtc_error_set(err, XTC_ERR_FORMAT, "train_state.safetensors: option 'seed' must be a decimal "
                                                        "string of an unsigned 64-bit integer");
            continue;
        }
        /* states of newer versions may carry more options: a key this version does not know */
        rc = xtc_error_set(err, XTC_ERR_FORMAT, "train_state.safetensors: unknown option '%s'", v->string);
    }
#undef NUM
    cJSON_Delete(j);
    return rc;
}

static xtc_status write_state(const struct xtc_trainer *t, const char *dir, const float *m, const float *v,
                              struct xtc_error *err) {
    char *opts = options_json(&t->o);
    if (!opts)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating the options");
    char step[32], adam_t[32], rng[4][32], bytes[32], hash[32], ranks[16];
    snprintf(step, sizeof step, "%lld", (long long)t->step);
    snprintf(adam_t, sizeof adam_t, "%lld", (long long)t->opt.t);
    snprintf(bytes, sizeof bytes, "%zu", t->len);
    snprintf(hash, sizeof hash, "%" PRIu64, t->corpus_hash);
    snprintf(ranks, sizeof ranks, "%d", t->dp.size);
    for (int i = 0; i < 4; i++)
        snprintf(rng[i], sizeof rng[i], "%" PRIu64, t->rng.s[i]);
    const char *meta[] = {"format", STATE_FORMAT, "step", step, "adam_t", adam_t, "rng0", rng[0], "rng1", rng[1],
                          "rng2", rng[2], "rng3", rng[3], "options", opts, "corpus_bytes", bytes,
                          "corpus_fnv1a64", hash, "ranks", ranks};
    struct xtc_safetensors_tensor st[2] = {
        {.name = "adam.m", .dtype = XTC_DTYPE_F32, .ndim = 1, .shape = {(int64_t)t->model->n_trainable}, .data = m},
        {.name = "adam.v", .dtype = XTC_DTYPE_F32, .ndim = 1, .shape = {(int64_t)t->model->n_trainable}, .data = v},
    };
    char path[PATH_MAX];
    xtc_status rc = path_join(path, sizeof path, dir, "train_state.safetensors")
                        ? xtc_safetensors_write(path, st, 2, meta, sizeof meta / sizeof meta[0] / 2, err)
                        : xtc_error_set(err, XTC_ERR_ARG, "path too long: %s", dir);
    free(opts);
    return rc;
}

/* The protocol (each step durable before the next):
 *   1. write checkpoint-STEP.tmp-XXXXXX/ completely, every file and the directory synced;
 *   2. rename it to checkpoint-STEP (checkpoint-STEP-N when that name is taken: the
 *      checkpoint latest names may be the same step, and it must stay intact);
 *   3. point latest.tmp-PID at it, rename that over latest, sync DIR;
 *   4. only now remove superseded checkpoints.
 * A crash before 3 leaves latest and its checkpoint as they were (plus an orphan that the
 * next start removes); after 3 latest names the new, complete checkpoint. */
xtc_status xtc_trainer_save(xtc_trainer_t t, const char *dir, struct xtc_error *err) {
    if (!t || !dir)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_trainer_save: NULL argument");
    return t->dp.size > 1 ? xtc_dp_save(t, dir, err) : xtc_trainer_save_local(t, dir, t->opt.m, t->opt.v, err);
}

xtc_status xtc_trainer_save_local(struct xtc_trainer *t, const char *dir, const float *m, const float *v,
                                  struct xtc_error *err) {
    XTC_TRY(xtc_trainer_use_dir(t, dir, err));
    char name[96], tmp_name[128], link_name[64], final[PATH_MAX], tmp[PATH_MAX], link_tmp[PATH_MAX], link[PATH_MAX];
    snprintf(name, sizeof name, "checkpoint-%08lld", (long long)t->step);
    snprintf(tmp_name, sizeof tmp_name, "%s.tmp-XXXXXX", name);
    snprintf(link_name, sizeof link_name, "latest.tmp-%ld", (long)getpid());
    if (!path_join(final, sizeof final, dir, name) || !path_join(tmp, sizeof tmp, dir, tmp_name) ||
        !path_join(link, sizeof link, dir, "latest") || !path_join(link_tmp, sizeof link_tmp, dir, link_name))
        XTC_FAIL(err, XTC_ERR_ARG, "checkpoint directory path too long: %s", dir);

    if (!mkdtemp(tmp))
        XTC_FAIL(err, XTC_ERR_IO, "cannot create a checkpoint in %s: %s", dir, strerror(errno));
    chmod(tmp, 0755); /* mkdtemp makes 0700; checkpoints are ordinary readable directories */
    xtc_status rc = xtc_model_save_dir(t->model, tmp, err);
    if (rc == XTC_OK)
        rc = write_state(t, tmp, m, v, err);
    if (rc == XTC_OK)
        rc = sync_dir(tmp, err);
    if (rc != XTC_OK) {
        remove_checkpoint(tmp);
        return rc;
    }
    struct stat sb;
    for (int k = 1; lstat(final, &sb) == 0; k++) {
        snprintf(name, sizeof name, "checkpoint-%08lld-%d", (long long)t->step, k);
        if (!path_join(final, sizeof final, dir, name)) {
            remove_checkpoint(tmp);
            XTC_FAIL(err, XTC_ERR_ARG, "checkpoint directory path too long: %s", dir);
        }
    }
    if (rename(tmp, final) != 0) {
        rc = xtc_error_set(err, XTC_ERR_IO, "cannot move checkpoint %s into place: %s", final, strerror(errno));
        remove_checkpoint(tmp);
        return rc;
    }
    unlink(link_tmp);
    if (symlink(name, link_tmp) != 0 || rename(link_tmp, link) != 0) {
        rc = xtc_error_set(err, XTC_ERR_IO, "cannot point %s at %s: %s", link, name, strerror(errno));
        unlink(link_tmp);
        remove_checkpoint(final); /* latest still names the previous checkpoint */
        return rc;
    }
    XTC_TRY(sync_dir(dir, err));
    clean_run_dir(dir);
    return XTC_OK;
}

/* Same configuration: both parse to the same JSON tree (key order and spacing aside
 * only in as far as cJSON prints them the same). */
static bool same_config(const char *a, const char *b) {
    /* with the release-dependent defaults written out on both sides (checkpoints state them) */
    char *ea = xtc_config_json_explicit(a, strlen(a)), *eb = xtc_config_json_explicit(b, strlen(b));
    cJSON *ja = ea ? cJSON_Parse(ea) : NULL, *jb = eb ? cJSON_Parse(eb) : NULL;
    bool same = ja && jb && cJSON_Compare(ja, jb, true);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    free(ea);
    free(eb);
    return same;
}

/* Decimal digits only: strtoull alone would take "-1" (as 2^64 - 1) and leading blanks. */
static xtc_status read_meta_u64(const struct xtc_safetensors *st, const char *key, uint64_t *v, uint64_t max,
                                struct xtc_error *err) {
    const char *s = xtc_safetensors_metadata(st, key);
    char *end;
    if (!s)
        XTC_FAIL(err, XTC_ERR_FORMAT, "train_state.safetensors: metadata '%s' is missing", key);
    errno = 0;
    *v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    if (s[0] < '0' || s[0] > '9' || errno || *end || *v > max)
        XTC_FAIL(err, XTC_ERR_FORMAT, "train_state.safetensors: metadata '%s' is not a number in 0 .. %" PRIu64 " ('%.40s')",
                 key, max, s);
    return XTC_OK;
}

/* Finds the checkpoint to resume: DIR/latest of a run directory (locked: *lock_fd >= 0), or
 * DIR itself when it is a checkpoint. */
static xtc_status find_checkpoint(const char *run, char *dir, size_t n, int *lock_fd, struct stat *run_sb,
                                  struct xtc_error *err) {
    char link[PATH_MAX], target[PATH_MAX];
    struct stat sb;
    *lock_fd = -1;
    if (!run[0])
        XTC_FAIL(err, XTC_ERR_ARG, "the checkpoint directory path is empty");
    if (!path_join(link, sizeof link, run, "latest") || !path_join(dir, n, run, "latest"))
        XTC_FAIL(err, XTC_ERR_ARG, "checkpoint path too long: %s", run);
    if (lstat(link, &sb) != 0) {
        char state[PATH_MAX];
        if (path_join(state, sizeof state, run, "train_state.safetensors") && stat(state, &sb) == 0) {
            snprintf(dir, n, "%s", run); /* a checkpoint directory itself */
            return XTC_OK;
        }
        XTC_FAIL(err, XTC_ERR_IO, "%s holds no checkpoint to resume (%s: %s)", run, link, strerror(errno));
    }
    XTC_TRY(lock_run_dir(run, lock_fd, run_sb, err));
    xtc_status rc = XTC_OK;
    ssize_t r = readlink(link, target, sizeof target - 1);
    target[r > 0 ? r : 0] = '\0';
    if (stat(link, &sb) != 0)
        rc = xtc_error_set(err, XTC_ERR_IO, "cannot resume: %s points to '%s', which %s", link, target,
                           errno == ENOENT ? "does not exist (the run directory is damaged)" : strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        rc = xtc_error_set(err, XTC_ERR_IO, "cannot resume: %s is not a checkpoint directory", link);
    if (rc != XTC_OK) {
        close(*lock_fd);
        *lock_fd = -1;
        return rc;
    }
    clean_run_dir(run);
    return XTC_OK;
}

/* First non-finite (or, for second moments, negative) value of a moment tensor; n when none. */
static size_t bad_moment(const float *x, size_t n, bool second) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || (second && x[i] < 0))
            return i;
    return n;
}

static xtc_status check_corpus(const struct xtc_safetensors *st, const char *path, const uint8_t *corpus,
                               size_t len, unsigned flags, struct xtc_error *err) {
    const char *bytes = xtc_safetensors_metadata(st, "corpus_bytes");
    const char *hash = xtc_safetensors_metadata(st, "corpus_fnv1a64");
    if (!bytes || !hash) {
        xtc_log(XTC_LOG_WARN, "%s records no corpus fingerprint (an older xtc wrote it): the corpus is not checked",
                path);
        return XTC_OK;
    }
    uint64_t want_len, want_hash;
    XTC_TRY(read_meta_u64(st, "corpus_bytes", &want_len, UINT64_MAX, err));
    XTC_TRY(read_meta_u64(st, "corpus_fnv1a64", &want_hash, UINT64_MAX, err));
    uint64_t h = xtc_corpus_fingerprint(corpus, len);
    if ((want_len != len || want_hash != h) && !(flags & XTC_RESUME_ANY_CORPUS))
        XTC_FAIL(err, XTC_ERR_CONFIG,
                 "cannot resume from %s: it was trained on another corpus (%" PRIu64 " bytes, fingerprint %016" PRIx64
                 "; this one has %zu bytes, fingerprint %016" PRIx64 ")",
                 path, want_len, want_hash, len, h);
    return XTC_OK;
}

xtc_status xtc_train_state_read_meta(const struct xtc_safetensors *st, const char *path, const uint8_t *corpus,
                                     size_t len, unsigned flags, const struct xtc_train_options *o,
                                     struct xtc_train_state_meta *meta, struct xtc_error *err) {
    const char *fmt = xtc_safetensors_metadata(st, "format");
    if (!fmt || strcmp(fmt, STATE_FORMAT) != 0)
        XTC_FAIL(err, XTC_ERR_FORMAT, "%s is not an xtc training state (%s)", path, STATE_FORMAT);
    XTC_TRY(parse_options(xtc_safetensors_metadata(st, "options"), &meta->opts, err));
    if (flags & XTC_RESUME_OPTIONS)
        meta->opts = *o;
    else if (o)
        meta->opts.steps = o->steps;
    XTC_TRY(check_corpus(st, path, corpus, len, flags, err));
    XTC_TRY(read_meta_u64(st, "step", &meta->step, INT64_MAX, err));
    XTC_TRY(read_meta_u64(st, "adam_t", &meta->adam_t, INT64_MAX, err));
    for (int i = 0; i < 4; i++) {
        char key[8];
        snprintf(key, sizeof key, "rng%d", i);
        XTC_TRY(read_meta_u64(st, key, &meta->rng[i], UINT64_MAX, err));
    }
    meta->ranks = 0; /* informative only (any number of ranks resumes): states before it lack it */
    if (xtc_safetensors_metadata(st, "ranks"))
        XTC_TRY(read_meta_u64(st, "ranks", &meta->ranks, 1 << 24, err));
    if (!(meta->rng[0] | meta->rng[1] | meta->rng[2] | meta->rng[3]))
        XTC_FAIL(err, XTC_ERR_FORMAT, "%s: the random generator's state is all zeros (it would only give zeros)",
                 path);
    return XTC_OK;
}

xtc_status xtc_train_state_read_moments(const struct xtc_safetensors *st, const char *path, size_t n, float *m,
                                        float *v, struct xtc_error *err) {
    const struct xtc_safetensors_entry *em = xtc_safetensors_find(st, "adam.m");
    const struct xtc_safetensors_entry *ev = xtc_safetensors_find(st, "adam.v");
    if (!em || !ev || em->numel != n || ev->numel != n)
        XTC_FAIL(err, XTC_ERR_FORMAT, "%s: optimiser state does not match the model (%zu parameters)", path, n);
    XTC_TRY(xtc_safetensors_read_f32(em, m, err));
    XTC_TRY(xtc_safetensors_read_f32(ev, v, err));
    size_t bad_m = bad_moment(m, n, false), bad_v = bad_moment(v, n, true);
    if (bad_m < n)
        XTC_FAIL(err, XTC_ERR_FORMAT, "%s: adam.m[%zu] is %g (first moments must be finite)", path, bad_m,
                 (double)m[bad_m]);
    if (bad_v < n)
        XTC_FAIL(err, XTC_ERR_FORMAT, "%s: adam.v[%zu] is %g (second moments must be finite and >= 0)", path, bad_v,
                 (double)v[bad_v]);
    return XTC_OK;
}

xtc_status xtc_trainer_resume(xtc_trainer_t *out, const char *checkpoint_dir, const char *config_json,
                              const uint8_t *corpus, size_t len, const struct xtc_train_options *o,
                              struct xtc_error *err) {
    return xtc_trainer_resume_ex(out, checkpoint_dir, config_json, corpus, len, o, 0, err);
}

xtc_status xtc_trainer_resume_ex(xtc_trainer_t *out, const char *checkpoint_dir, const char *config_json,
                                 const uint8_t *corpus, size_t len, const struct xtc_train_options *o,
                                 unsigned flags, struct xtc_error *err) {
    if (!out || !checkpoint_dir || !corpus || ((flags & XTC_RESUME_OPTIONS) && !o))
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_trainer_resume: NULL argument");
    *out = NULL;
    char dir[PATH_MAX], path[PATH_MAX];
    int lock_fd;
    struct stat run_sb;
    XTC_TRY(find_checkpoint(checkpoint_dir, dir, sizeof dir, &lock_fd, &run_sb, err));
    xtc_model_t model;
    xtc_status rc = xtc_model_load_dir(&model, dir, err);
    if (rc != XTC_OK) {
        if (lock_fd >= 0)
            close(lock_fd);
        return rc;
    }
    if (config_json && !same_config(config_json, model->config_json)) {
        xtc_model_free(model);
        if (lock_fd >= 0)
            close(lock_fd);
        XTC_FAIL(err, XTC_ERR_CONFIG,
                 "cannot resume from %s: its model configuration differs from the one given (start a new run in "
                 "another directory, or resume with the checkpoint's config.json)",
                 dir);
    }
    path_join(path, sizeof path, dir, "train_state.safetensors");
    xtc_safetensors_t st = NULL;
    struct xtc_train_state_meta meta;
    rc = xtc_safetensors_open(&st, path, err);
    if (rc == XTC_OK)
        rc = xtc_train_state_read_meta(st, path, corpus, len, flags, o, &meta, err);
    if (rc != XTC_OK) {
        xtc_safetensors_free(st);
        xtc_model_free(model);
        if (lock_fd >= 0)
            close(lock_fd);
        return rc;
    }
    size_t n_trainable = model->n_trainable;
    struct xtc_trainer *t = NULL;
    rc = xtc_trainer_make(&t, model, corpus, len, &meta.opts, true, err); /* owns model from here */
    if (rc == XTC_OK && lock_fd >= 0)
        adopt_lock(t, lock_fd, &run_sb); /* the trainer owns the lock from here */
    else if (lock_fd >= 0)
        close(lock_fd);
    if (rc == XTC_OK)
        rc = xtc_train_state_read_moments(st, path, n_trainable, t->opt.m, t->opt.v, err);
    xtc_safetensors_free(st);
    if (rc != XTC_OK) {
        xtc_trainer_free(t);
        return rc;
    }
    t->step = (int64_t)meta.step;
    t->opt.t = (int64_t)meta.adam_t;
    memcpy(t->rng.s, meta.rng, sizeof meta.rng);
    t->dp.ck_ranks = (int)meta.ranks;
    *out = t;
    return XTC_OK;
}
