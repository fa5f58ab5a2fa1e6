/* oneDNN matmul primitives, created once per product shape (backend/cpu/matmul_dnnl.h).
 *
 * A primitive descriptor costs ~0.1 ms to create (and oneDNN's own cache hashes the whole
 * descriptor each time), a training step makes a few hundred products of a dozen shapes: a
 * small table keyed by the shape keeps each primitive for the process's life. Memory objects
 * and the stream are made per call: on the CPU they only wrap pointers. */
#include "backend/cpu/matmul_dnnl.h"

#include "core/cpu.h"

#ifdef XTC_HAVE_DNNL
#include <dnnl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* 64 shapes: a training step uses ~3 per kind of linear layer, its row chunks included */
#define CACHE_SIZE 64

struct key {
    int t;
    int64_t M, N, K, lda, ldb, ldc;
    bool transA, transB, accumulate, bias;
};

struct entry {
    struct key key;
    dnnl_primitive_t prim; /* NULL: oneDNN refused this shape */
    dnnl_memory_desc_t a, b, c, bias;
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t g_engine;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry g_cache[CACHE_SIZE];
static int g_n;
static bool g_bf16;
static char g_version[32];

static bool same_key(const struct key *x, const struct key *y) {
    return x->t == y->t && x->M == y->M && x->N == y->N && x->K == y->K && x->lda == y->lda && x->ldb == y->ldb &&
           x->ldc == y->ldc && x->transA == y->transA && x->transB == y->transB && x->accumulate == y->accumulate &&
           x->bias == y->bias;
}

/* The descriptors and primitive of a product of shape k; e->prim stays NULL when refused. */
static void create(struct entry *e, const struct key *k) {
    memset(e, 0, sizeof *e);
    e->key = *k;
    dnnl_data_type_t dt = k->t == XTC_MM_BF16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t da = {k->M, k->K}, db = {k->K, k->N}, dc = {k->M, k->N}, dbias = {1, k->N};
    dnnl_dims_t sa = {k->transA ? 1 : k->lda, k->transA ? k->lda : 1};
    dnnl_dims_t sb = {k->transB ? 1 : k->ldb, k->transB ? k->ldb : 1};
    dnnl_dims_t sc = {k->ldc, 1}, sbias = {k->N, 1};
    if (dnnl_memory_desc_init_by_strides(&e->a, 2, da, dt, sa) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&e->b, 2, db, dt, sb) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&e->c, 2, dc, dnnl_f32, sc) != dnnl_success ||
        dnnl_memory_desc_init_by_strides(&e->bias, 2, dbias, dnnl_f32, sbias) != dnnl_success)
        return;
    dnnl_matmul_desc_t desc;
    if (dnnl_matmul_desc_init(&desc, &e->a, &e->b, k->bias ? &e->bias : NULL, &e->c) != dnnl_success)
        return;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    bool ok = dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && k->accumulate) /* C += product: the sum post-op reads the old C */
        ok = dnnl_post_ops_create(&ops) == dnnl_success && dnnl_post_ops_append_sum(ops, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, ops) == dnnl_success;
    if (ok && dnnl_primitive_desc_create(&pd, &desc, attr, g_engine, NULL) == dnnl_success) {
        if (dnnl_primitive_create(&e->prim, pd) != dnnl_success)
            e->prim = NULL;
        dnnl_primitive_desc_destroy(pd);
    }
    if (ops)
        dnnl_post_ops_destroy(ops);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
}

static void init(void) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(g_version, sizeof g_version, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) {
        g_engine = NULL;
        return;
    }
    /* probe: oneDNN 2.x refuses bf16 below AVX-512 */
    struct key k = {.t = XTC_MM_BF16, .M = 16, .N = 16, .K = 16, .lda = 16, .ldb = 16, .ldc = 16};
    struct entry e;
    create(&e, &k);
    g_bf16 = e.prim != NULL;
    if (e.prim)
        dnnl_primitive_destroy(e.prim);
}

/* The cached entry of k (created on first use), or a temporary one in *tmp when the table is
 * full (the caller destroys tmp->prim). */
static const struct entry *lookup(const struct key *k, struct entry *tmp) {
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < g_n; i++)
        if (same_key(&g_cache[i].key, k)) {
            pthread_mutex_unlock(&g_lock);
            return &g_cache[i];
        }
    const struct entry *e = tmp;
    if (g_n < CACHE_SIZE) {
        create(&g_cache[g_n], k);
        e = &g_cache[g_n++]; /* entries never move nor go: readers need no lock */
    } else {
        create(tmp, k);
    }
    pthread_mutex_unlock(&g_lock);
    return e;
}

static bool execute(const struct entry *e, const struct xtc_mm *mm) {
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL, mbias = NULL;
    dnnl_stream_t s = NULL;
    bool ok = dnnl_memory_create(&ma, &e->a, g_engine, (void *)mm->A) == dnnl_success &&
              dnnl_memory_create(&mb, &e->b, g_engine, (void *)mm->B) == dnnl_success &&
              dnnl_memory_create(&mc, &e->c, g_engine, mm->C) == dnnl_success &&
              (!mm->bias || dnnl_memory_create(&mbias, &e->bias, g_engine, (void *)mm->bias) == dnnl_success) &&
              dnnl_stream_create(&s, g_engine, dnnl_stream_default_flags) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[4] = {
            {DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}, {DNNL_ARG_BIAS, mbias}};
        ok = dnnl_primitive_execute(e->prim, s, mm->bias ? 4 : 3, args) == dnnl_success &&
             dnnl_stream_wait(s) == dnnl_success;
    }
    if (s)
        dnnl_stream_destroy(s);
    dnnl_memory_t all[4] = {ma, mb, mc, mbias};
    for (int i = 0; i < 4; i++)
        if (all[i])
            dnnl_memory_destroy(all[i]);
    return ok;
}

bool xtc_dnnl_matmul(const struct xtc_mm *mm) {
    pthread_once(&g_once, init);
    if (!g_engine || (mm->t == XTC_MM_BF16 && !g_bf16) || mm->M <= 0 || mm->N <= 0 || mm->K <= 0)
        return false;
    struct key k = {.t = mm->t, .M = mm->M, .N = mm->N, .K = mm->K, .lda = mm->lda, .ldb = mm->ldb, .ldc = mm->ldc,
                    .transA = mm->transA, .transB = mm->transB, .accumulate = mm->accumulate, .bias = mm->bias != NULL};
    struct entry tmp = {0};
    const struct entry *e = lookup(&k, &tmp);
    bool ok = e->prim && execute(e, mm);
    if (tmp.prim)
        dnnl_primitive_destroy(tmp.prim);
    return ok;
}

bool xtc_dnnl_bf16_native(void) {
    pthread_once(&g_once, init);
    return g_bf16 && xtc_cpu_level() >= XTC_CPU_AVX512_BF16;
}

const char *xtc_dnnl_version(void) {
    pthread_once(&g_once, init);
    return g_version;
}

#else /* built without oneDNN */

bool xtc_dnnl_matmul(const struct xtc_mm *mm) {
    (void)mm;
    return false;
}
bool xtc_dnnl_bf16_native(void) { return false; }
const char *xtc_dnnl_version(void) { return "none"; }

#endif
