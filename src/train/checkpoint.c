/* Training checkpoints: DIR/checkpoint-STEP/ holds config.json and
 * model.safetensors (an x-transformers-loadable model) and
 * train_state.safetensors (AdamW moments, step, random state, options).
 * DIR/latest is a symbolic link replaced by an atomic rename only once the new
 * checkpoint is complete and synced, so a crash (kill -9) at any moment leaves
 * DIR/latest naming a complete checkpoint. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"
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
    /* every field a number of its kind (integers integral), the seed a decimal string */
#define NUM(field, type, integral)                                                                   \
    if (rc == XTC_OK && strcmp(v->string, #field) == 0) {                                            \
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || (integral && v->valuedouble != floor(v->valuedouble))) \
            rc = xtc_error_set(err, XTC_ERR_FORMAT, "train_state.safetensors: option '%s' must be %s", #field, \
                               integral ? "an integer" : "a finite number");                          \
        else                                                                                         \
            o->field = (type)v->valuedouble;                                                         \
        continue;                                                                                    \
    }
    for (const cJSON *v = j->child; v && rc == XTC_OK; v = v->next) {
        NUM(batch, int64_t, 1)
        NUM(seq_len, int64_t, 1)
        NUM(accum, int, 1)
        NUM(steps, int64_t, 1)
        NUM(warmup, int64_t, 1)
        NUM(lr, float, 0)
        NUM(min_lr, float, 0)
        NUM(weight_decay, float, 0)
        NUM(beta1, float, 0)
        NUM(beta2, float, 0)
        NUM(eps, float, 0)
        NUM(grad_clip, float, 0)
        NUM(val_fraction, double, 0)
        NUM(xl_segments, int, 1)
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

xtc_status xtc_trainer_save(xtc_trainer_t t, const char *dir, struct xtc_error *err) {
    if (!t || !dir)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_trainer_save: NULL argument");
    char name[64], final[PATH_MAX], tmp[PATH_MAX], link_tmp[PATH_MAX], link[PATH_MAX], old[PATH_MAX] = "";
    snprintf(name, sizeof name, "checkpoint-%08lld", (long long)t->step);
    char tmp_name[80];
    snprintf(tmp_name, sizeof tmp_name, "%s.tmp", name);
    if (!path_join(final, sizeof final, dir, name) || !path_join(tmp, sizeof tmp, dir, tmp_name) ||
        !path_join(link, sizeof link, dir, "latest") || !path_join(link_tmp, sizeof link_tmp, dir, "latest.tmp"))
        XTC_FAIL(err, XTC_ERR_ARG, "checkpoint directory path too long: %s", dir);
    ssize_t n = readlink(link, old, sizeof old - 1);
    old[n > 0 ? n : 0] = '\0';

    remove_checkpoint(tmp); /* left over from an interrupted save */
    if (mkdir(tmp, 0755) != 0)
        XTC_FAIL(err, XTC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    xtc_status rc = xtc_model_save_dir(t->model, tmp, err);
    char *opts = rc == XTC_OK ? options_json(&t->o) : NULL;
    if (rc == XTC_OK && !opts)
        rc = xtc_error_set(err, XTC_ERR_NOMEM, "options");
    if (rc == XTC_OK) {
        char step[32], adam_t[32], rng[4][32];
        snprintf(step, sizeof step, "%lld", (long long)t->step);
        snprintf(adam_t, sizeof adam_t, "%lld", (long long)t->opt.t);
        for (int i = 0; i < 4; i++)
            snprintf(rng[i], sizeof rng[i], "%" PRIu64, t->rng.s[i]);
        const char *meta[] = {"format", STATE_FORMAT, "step", step, "adam_t", adam_t, "rng0", rng[0], "rng1", rng[1],
                              "rng2", rng[2], "rng3", rng[3], "options", opts};
        struct xtc_safetensors_tensor st[2] = {
            {.name = "adam.m", .dtype = XTC_DTYPE_F32, .ndim = 1, .shape = {(int64_t)t->opt.n}, .data = t->opt.m},
            {.name = "adam.v", .dtype = XTC_DTYPE_F32, .ndim = 1, .shape = {(int64_t)t->opt.n}, .data = t->opt.v},
        };
        char path[PATH_MAX];
        path_join(path, sizeof path, tmp, "train_state.safetensors");
        rc = xtc_safetensors_write(path, st, 2, meta, sizeof meta / sizeof meta[0] / 2, err);
    }
    free(opts);
    if (rc != XTC_OK) {
        remove_checkpoint(tmp);
        return rc;
    }
    xtc_sync_dir(tmp);
    if (strcmp(old, name) == 0) /* saving the same step twice: the new copy replaces it */
        old[0] = '\0';
    remove_checkpoint(final);
    unlink(link_tmp);
    if (rename(tmp, final) != 0 || symlink(name, link_tmp) != 0 || rename(link_tmp, link) != 0) {
        rc = xtc_error_set(err, XTC_ERR_IO, "cannot publish checkpoint %s: %s", final, strerror(errno));
        unlink(link_tmp);
        return rc;
    }
    xtc_sync_dir(dir);
    if (old[0] && strchr(old, '/') == NULL && strncmp(old, "checkpoint-", 11) == 0) {
        char prev[PATH_MAX];
        if (path_join(prev, sizeof prev, dir, old))
            remove_checkpoint(prev);
    }
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

static xtc_status read_meta_u64(const struct xtc_safetensors *st, const char *key, uint64_t *v, struct xtc_error *err) {
    const char *s = xtc_safetensors_metadata(st, key);
    char *end;
    if (!s)
        XTC_FAIL(err, XTC_ERR_FORMAT, "train_state.safetensors: metadata '%s' is missing", key);
    errno = 0;
    *v = strtoull(s, &end, 10);
    if (errno || *end || end == s)
        XTC_FAIL(err, XTC_ERR_FORMAT, "train_state.safetensors: metadata '%s' is not a number", key);
    return XTC_OK;
}

xtc_status xtc_trainer_resume(xtc_trainer_t *out, const char *checkpoint_dir, const char *config_json,
                              const uint8_t *corpus, size_t len, const struct xtc_train_options *o,
                              struct xtc_error *err) {
    if (!out || !checkpoint_dir || !corpus)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_trainer_resume: NULL argument");
    *out = NULL;
    char dir[PATH_MAX], path[PATH_MAX];
    struct stat sb;
    if (!path_join(path, sizeof path, checkpoint_dir, "latest"))
        XTC_FAIL(err, XTC_ERR_ARG, "checkpoint path too long");
    snprintf(dir, sizeof dir, "%s", stat(path, &sb) == 0 ? path : checkpoint_dir);
    xtc_model_t model;
    XTC_TRY(xtc_model_load_dir(&model, dir, err));
    if (config_json && !same_config(config_json, model->config_json)) {
        xtc_model_free(model);
        XTC_FAIL(err, XTC_ERR_CONFIG,
                 "cannot resume from %s: its model configuration differs from the one given (start a new run in "
                 "another directory, or resume with the checkpoint's config.json)",
                 dir);
    }
    path_join(path, sizeof path, dir, "train_state.safetensors");
    xtc_safetensors_t st = NULL;
    xtc_status rc = xtc_safetensors_open(&st, path, err);
    const char *fmt = rc == XTC_OK ? xtc_safetensors_metadata(st, "format") : NULL;
    if (rc == XTC_OK && (!fmt || strcmp(fmt, STATE_FORMAT) != 0))
        rc = xtc_error_set(err, XTC_ERR_FORMAT, "%s is not an xtc training state (%s)", path, STATE_FORMAT);
    struct xtc_train_options opts;
    if (rc == XTC_OK)
        rc = parse_options(xtc_safetensors_metadata(st, "options"), &opts, err);
    if (rc == XTC_OK && o)
        opts.steps = o->steps;
    uint64_t step = 0, adam_t = 0, rng[4];
    if (rc == XTC_OK)
        rc = read_meta_u64(st, "step", &step, err);
    if (rc == XTC_OK)
        rc = read_meta_u64(st, "adam_t", &adam_t, err);
    for (int i = 0; i < 4 && rc == XTC_OK; i++) {
        char key[8];
        snprintf(key, sizeof key, "rng%d", i);
        rc = read_meta_u64(st, key, &rng[i], err);
    }
    if (rc != XTC_OK) {
        xtc_safetensors_free(st);
        xtc_model_free(model);
        return rc;
    }
    size_t n_trainable = model->n_trainable;
    struct xtc_trainer *t = NULL;
    rc = xtc_trainer_make(&t, model, corpus, len, &opts, err); /* owns model from here */
    const struct xtc_safetensors_entry *m = rc == XTC_OK ? xtc_safetensors_find(st, "adam.m") : NULL;
    const struct xtc_safetensors_entry *v = rc == XTC_OK ? xtc_safetensors_find(st, "adam.v") : NULL;
    if (rc == XTC_OK && (!m || !v || m->numel != n_trainable || v->numel != n_trainable))
        rc = xtc_error_set(err, XTC_ERR_FORMAT, "%s: optimiser state does not match the model (%zu parameters)", path,
                           n_trainable);
    if (rc == XTC_OK)
        rc = xtc_safetensors_read_f32(m, t->opt.m, err);
    if (rc == XTC_OK)
        rc = xtc_safetensors_read_f32(v, t->opt.v, err);
    xtc_safetensors_free(st);
    if (rc != XTC_OK) {
        xtc_trainer_free(t);
        return rc;
    }
    t->step = (int64_t)step;
    t->opt.t = (int64_t)adam_t;
    memcpy(t->rng.s, rng, sizeof rng);
    *out = t;
    return XTC_OK;
}
