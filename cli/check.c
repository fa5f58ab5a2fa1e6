/* xtc check: runs golden cases produced by x-transformers (case.json +
 * model.safetensors + io.safetensors, format in tests/golden/README.md) and
 * compares every output with the stored tolerance. Malformed cases must be
 * rejected with a message and an exit status of 1. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "cli.h"
#include "xtc/xtc.h"

int check_fail(struct check *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    return 1;
}

void check_note_skip(struct check *c, const char *what) {
    if (strstr(c->skipped, what))
        return;
    size_t n = strlen(c->skipped);
    snprintf(c->skipped + n, sizeof c->skipped - n, "%s%s", n ? "; " : "", what);
}

void *check_own(struct check *c, size_t bytes) {
    if (c->n_owned == (int)(sizeof c->owned / sizeof c->owned[0]))
        return NULL;
    void *p = calloc(1, bytes ? bytes : 1);
    if (p)
        c->owned[c->n_owned++] = p;
    return p;
}

static void release_call(struct check *c) {
    for (int i = 0; i < c->n_owned; i++)
        free(c->owned[i]);
    c->n_owned = 0;
}

/* ------------------------------------------------------------------ io tensors */

static const char *kind_name(enum kind k) { return k == K_F32 ? "F32" : k == K_I64 ? "I64" : "BOOL"; }

const struct xtc_safetensors_entry *check_io_entry(struct check *c, int call, const char *part, const char *name) {
    char key[256];
    snprintf(key, sizeof key, "call%d.%s.%s", call, part, name);
    return xtc_safetensors_find(c->io, key);
}

/* Fetches callK.in.NAME with dtype kind and rank ndim (dims with -1 are free) into a new buffer. */
int check_input(struct check *c, int call, const char *name, enum kind k, int ndim, const int64_t *shape,
                const struct xtc_safetensors_entry **entry, void **data) {
    const struct xtc_safetensors_entry *e = check_io_entry(c, call, "in", name);
    if (!e)
        return check_fail(c, "io.safetensors has no call%d.in.%s", call, name);
    enum xtc_dtype want = k == K_F32 ? XTC_DTYPE_F32 : k == K_I64 ? XTC_DTYPE_I64 : XTC_DTYPE_BOOL;
    if (e->dtype != want)
        return check_fail(c, "call%d.in.%s is %s; expected %s", call, name, xtc_dtype_name(e->dtype), kind_name(k));
    if (e->ndim != ndim)
        return check_fail(c, "call%d.in.%s has %d dimensions; expected %d", call, name, e->ndim, ndim);
    for (int d = 0; d < ndim; d++)
        if (shape && shape[d] >= 0 && e->shape[d] != shape[d])
            return check_fail(c, "call%d.in.%s has size %lld in dimension %d; expected %lld", call, name,
                         (long long)e->shape[d], d, (long long)shape[d]);
    size_t bytes = (size_t)e->numel * (k == K_BOOL ? 1 : 8);
    void *buf = check_own(c, bytes);
    if (!buf)
        return check_fail(c, "out of memory reading call%d.in.%s", call, name);
    struct xtc_error err = {0};
    xtc_status rc = k == K_F32   ? xtc_safetensors_read_f32(e, buf, &err)
                    : k == K_I64 ? xtc_safetensors_read_i64(e, buf, &err)
                                 : xtc_safetensors_read_bool(e, buf, &err);
    if (rc != XTC_OK)
        return check_fail(c, "%s", err.msg);
    *entry = e;
    *data = buf;
    return 0;
}

/* Compares got (numel floats, shape ours) with callK.PART.NAME. */
int check_compare_tol(struct check *c, int call, const char *part, const char *name, const float *got, int ndim,
                      const int64_t *shape, double atol, double rtol) {
    const struct xtc_safetensors_entry *e = check_io_entry(c, call, part, name);
    if (!e)
        return check_fail(c, "io.safetensors has no call%d.%s.%s", call, part, name);
    bool same = e->ndim == ndim;
    for (int d = 0; same && d < ndim; d++)
        same = e->shape[d] == shape[d];
    bool floating = e->dtype == XTC_DTYPE_F32 || e->dtype == XTC_DTYPE_BF16 || e->dtype == XTC_DTYPE_F16;
    if (!same || !floating)
        return check_fail(c, "call%d.%s.%s: stored %s tensor of another shape than the one xtc computes", call, part,
                          name, xtc_dtype_name(e->dtype));
    if (!got)
        return check_fail(c, "call%d.%s.%s: xtc produced no such tensor", call, part, name);
    float *want = check_own(c, sizeof(float) * (size_t)e->numel);
    struct xtc_error err = {0};
    if (!want || xtc_safetensors_read_f32(e, want, &err) != XTC_OK)
        return check_fail(c, "call%d.%s.%s: %s", call, part, name, want ? err.msg : "out of memory");
    double worst = 0;
    uint64_t at = 0;
    for (uint64_t i = 0; i < e->numel; i++) {
        double tol = atol + rtol * fabs((double)want[i]);
        double r = fabs((double)got[i] - (double)want[i]) / tol;
        if (!(r <= worst)) { /* also catches NaN */
            worst = isnan(r) ? INFINITY : r;
            at = i;
        }
    }
    c->n_compared++;
    if (worst > c->worst || c->n_compared == 1) {
        c->worst = worst;
        snprintf(c->worst_at, sizeof c->worst_at, "call%d.%s.%s[%llu]", call, part, name, (unsigned long long)at);
    }
    if (worst > 1.0)
        return check_fail(c, "call%d.%s.%s[%llu] = %.8g, expected %.8g (%.3g x tolerance)", call, part, name,
                          (unsigned long long)at, got[at], want[at], worst);
    return 0;
}

int check_compare(struct check *c, int call, const char *name, const float *got, int ndim, const int64_t *shape) {
    return check_compare_tol(c, call, "out", name, got, ndim, shape, c->atol, c->rtol);
}

int check_compare_i64(struct check *c, int call, const char *name, const int64_t *got, int64_t n) {
    const struct xtc_safetensors_entry *e = check_io_entry(c, call, "out", name);
    if (!e)
        return check_fail(c, "io.safetensors has no call%d.out.%s", call, name);
    if (e->dtype != XTC_DTYPE_I64 || (int64_t)e->numel != n)
        return check_fail(c, "call%d.out.%s: %lld tokens stored, %lld generated", call, name, (long long)e->numel,
                     (long long)n);
    int64_t *want = check_own(c, sizeof(int64_t) * (size_t)n);
    struct xtc_error err = {0};
    if (!want || xtc_safetensors_read_i64(e, want, &err) != XTC_OK)
        return check_fail(c, "call%d.out.%s: %s", call, name, want ? err.msg : "out of memory");
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i])
            return check_fail(c, "call%d.out.%s[%lld] = %lld, expected %lld", call, name, (long long)i, (long long)got[i],
                         (long long)want[i]);
    c->n_compared++;
    return 0;
}

/* ------------------------------------------------------------------ cases */

/* Every call is an object whose "kwargs" (and "wrapper", "wrapper.kwargs", "generation") are
 * objects and whose "inputs" / "outputs" / "grad_inputs" are lists of names, before anything
 * reads them (a call's keyword loop compares member names: an array has none). */
static int check_calls_shape(struct check *c, const cJSON *calls) {
    int K = 0;
    for (const cJSON *call = calls->child; call; call = call->next, K++) {
        if (!cJSON_IsObject(call))
            return check_fail(c, "case.json: calls[%d] must be an object", K);
        static const char *objects[] = {"kwargs", "wrapper", "generation"};
        for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(call, objects[i]);
            if (v && !cJSON_IsObject(v))
                return check_fail(c, "case.json: calls[%d].%s must be an object", K, objects[i]);
        }
        const cJSON *wk = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(call, "wrapper"), "kwargs");
        if (wk && !cJSON_IsObject(wk))
            return check_fail(c, "case.json: calls[%d].wrapper.kwargs must be an object", K);
        static const char *lists[] = {"inputs", "outputs", "grad_inputs"};
        for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(call, lists[i]);
            if (!v)
                continue;
            if (!cJSON_IsArray(v))
                return check_fail(c, "case.json: calls[%d].%s must be a list of names", K, lists[i]);
            for (const cJSON *n = v->child; n; n = n->next)
                if (!cJSON_IsString(n))
                    return check_fail(c, "case.json: calls[%d].%s must hold names (strings)", K, lists[i]);
        }
    }
    return 0;
}

int check_case_parts(struct check *c, const char *text, size_t len, xtc_safetensors_t io,
                     const struct xtc_safetensors *weights) {
    c->io = io;
    /* strict JSON: one document, no repeated key (messages with the byte offset or key path) */
    struct xtc_error jerr = {0};
    if (xtc_json_validate(text, len, "case.json", &jerr) != XTC_OK)
        return check_fail(c, "%s", jerr.msg);
    c->root = cJSON_ParseWithLength(text, len);
    if (!c->root)
        return check_fail(c, "case.json is not valid JSON");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(c->root, "model");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(c->root, "calls");
    const cJSON *tol = cJSON_GetObjectItemCaseSensitive(c->root, "tolerance");
    const cJSON *atol = cJSON_GetObjectItemCaseSensitive(tol, "atol");
    const cJSON *rtol = cJSON_GetObjectItemCaseSensitive(tol, "rtol");
    if (!cJSON_IsObject(model) || !cJSON_IsArray(calls) || !cJSON_IsNumber(atol) || !cJSON_IsNumber(rtol))
        return check_fail(c, "case.json needs \"model\", \"calls\" and \"tolerance\" {atol, rtol}");
    c->atol = atol->valuedouble;
    c->rtol = rtol->valuedouble;
    if (!(c->atol >= 0) || !(c->rtol >= 0))
        return check_fail(c, "case.json: tolerances must be non-negative numbers");
    c->grad = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->root, "grad"));
    if (c->grad) {
        const cJSON *gt = cJSON_GetObjectItemCaseSensitive(c->root, "grad_tolerance");
        const cJSON *ga = cJSON_GetObjectItemCaseSensitive(gt, "atol");
        const cJSON *gr = cJSON_GetObjectItemCaseSensitive(gt, "rtol");
        if (!cJSON_IsNumber(ga) || !cJSON_IsNumber(gr) || !(ga->valuedouble >= 0) || !(gr->valuedouble >= 0))
            return check_fail(c, "case.json: a grad case needs \"grad_tolerance\" {atol, rtol}");
        c->grad_atol = ga->valuedouble;
        c->grad_rtol = gr->valuedouble;
    }

    struct xtc_error err = {0};
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(model, "class");
    bool is_function = cJSON_IsString(cls) && strcmp(cls->valuestring, "function") == 0;
    if (is_function) {
        /* a function case has no model: its model file holds metadata only, and must still be valid */
        size_t n = xtc_safetensors_count(weights);
        if (n)
            return check_fail(c, "model.safetensors of a function case must hold no tensors (found %zu)", n);
    } else {
        char *json = cJSON_PrintUnformatted(model);
        if (!json)
            return check_fail(c, "out of memory");
        xtc_status rc = xtc_model_load_safetensors(&c->model, json, strlen(json), weights, &err);
        free(json);
        if (rc != XTC_OK)
            return check_fail(c, "%s%s", rc == XTC_ERR_CONFIG ? "" : "model.safetensors: ", err.msg);
    }
    if (check_calls_shape(c, calls))
        return 1;
    int K = 0;
    for (const cJSON *call = calls->child; call; call = call->next, K++) {
        int rc = is_function ? check_function_call(c, model, call, K) : check_model_call(c, call, K);
        release_call(c);
        if (rc)
            return rc;
    }
    if (K == 0)
        return check_fail(c, "case.json lists no calls");
    return 0;
}

static int run_case(struct check *c, const char *dir) {
    char path[4096], errbuf[512];
    snprintf(path, sizeof path, "%s/case.json", dir);
    size_t len = 0;
    char *text = xtc_cli_read_file(path, &len, errbuf, sizeof errbuf);
    if (!text)
        return check_fail(c, "%s", errbuf);
    struct xtc_error err = {0};
    xtc_safetensors_t io = NULL, weights = NULL;
    int rc = 1;
    snprintf(path, sizeof path, "%s/io.safetensors", dir);
    if (xtc_safetensors_open(&io, path, &err) != XTC_OK) {
        check_fail(c, "io.safetensors: %s", err.msg);
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (xtc_safetensors_open(&weights, path, &err) != XTC_OK)
            check_fail(c, "model.safetensors: %s", err.msg);
        else
            rc = check_case_parts(c, text, len, io, weights), io = NULL; /* owned by c from here */
    }
    xtc_safetensors_free(io);
    xtc_safetensors_free(weights);
    free(text);
    return rc;
}

void check_free_case(struct check *c) {
    release_call(c);
    cJSON_Delete(c->root);
    xtc_safetensors_free(c->io);
    xtc_model_free(c->model);
}

static void log_to_stderr(enum xtc_log_level level, const char *msg, void *user) {
    bool *verbose = user;
    if (level >= XTC_LOG_WARN && *verbose)
        fprintf(stderr, "  %s: %s\n", level == XTC_LOG_WARN ? "warning" : "error", msg);
}

int xtc_cli_check(int argc, char **argv) {
    bool verbose = false;
    int n_dirs = 0, n_failed = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: xtc check [-v] CASE_DIR...\n\n"
                   "Runs x-transformers golden cases (case.json, model.safetensors, io.safetensors) and\n"
                   "prints, per case, the worst error as a fraction of the case's tolerance.\n"
                   "Exit status 1 if any case fails or is malformed.\n"
                   "  -v  also print library warnings (e.g. rotary dimension below 32)\n");
            return 0;
        }
        if (strcmp(argv[i], "-v") == 0)
            verbose = true;
    }
    xtc_log_set(log_to_stderr, &verbose);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        struct stat sb;
        if (stat(argv[i], &sb) == 0 && !S_ISDIR(sb.st_mode)) {
            /* a shell glob over tests/golden also matches README.md and friends */
            fprintf(stderr, "skipping %s: not a case directory\n", argv[i]);
            continue;
        }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", argv[i]);
        for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
            dir[n - 1] = '\0';
        const char *name = strrchr(dir, '/');
        name = name ? name + 1 : dir;
        struct check c = {.name = name};
        int rc = run_case(&c, dir);
        n_dirs++;
        if (rc) {
            n_failed++;
            fprintf(stderr, "FAIL  %s: %s\n", name, c.msg);
        } else {
            printf("PASS  %-36s worst %.3f of tolerance (%s)%s%s\n", name, c.worst, c.worst_at,
                   c.skipped[0] ? "; not yet checked: " : "", c.skipped);
        }
        check_free_case(&c);
    }
    if (n_dirs == 0) {
        fprintf(stderr, "usage: xtc check [-v] CASE_DIR...\n");
        return 2;
    }
    if (n_dirs > 1)
        printf("%d of %d cases passed\n", n_dirs - n_failed, n_dirs);
    return n_failed ? 1 : 0;
}
