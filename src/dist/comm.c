/* The public communicator calls, the choice between MPI and a job of one, and the
 * single-process implementation (every collective is the identity). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "dist/comm.h"

double xtc_comm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// --- one process

static xtc_status single_allreduce_start(struct xtc_comm *c, float *buf, size_t n, int *req, struct xtc_error *err) {
    (void)c, (void)buf, (void)n, (void)err;
    *req = 0;
    return XTC_OK;
}

static xtc_status single_wait(struct xtc_comm *c, int req, double *done_at, struct xtc_error *err) {
    (void)c, (void)req, (void)err;
    *done_at = xtc_comm_now();
    return XTC_OK;
}

static xtc_status single_allreduce_f64(struct xtc_comm *c, double *buf, size_t n, struct xtc_error *err) {
    (void)c, (void)buf, (void)n, (void)err;
    return XTC_OK;
}

static xtc_status single_reduce_scatter(struct xtc_comm *c, const float *send, float *recv, const size_t *counts,
                                        struct xtc_error *err) {
    (void)c, (void)err;
    if (recv != send)
        memmove(recv, send, sizeof(float) * counts[0]);
    return XTC_OK;
}

static xtc_status single_reduce_scatter_start(struct xtc_comm *c, float *buf, const size_t *counts, int *req,
                                              struct xtc_error *err) {
    (void)c, (void)buf, (void)counts, (void)err;
    *req = 0;
    return XTC_OK;
}

static xtc_status single_gather(struct xtc_comm *c, const float *send, float *recv, const size_t *counts, int root,
                                struct xtc_error *err) {
    (void)root;
    return single_reduce_scatter(c, send, recv, counts, err);
}

static xtc_status single_allgather(struct xtc_comm *c, const float *send, float *recv, const size_t *counts,
                                   struct xtc_error *err) {
    return single_reduce_scatter(c, send, recv, counts, err);
}

static xtc_status single_broadcast(struct xtc_comm *c, void *buf, size_t bytes, int root, struct xtc_error *err) {
    (void)c, (void)buf, (void)bytes, (void)root, (void)err;
    return XTC_OK;
}

static xtc_status single_barrier(struct xtc_comm *c, struct xtc_error *err) {
    (void)c, (void)err;
    return XTC_OK;
}

static void single_abort(struct xtc_comm *c, int code, const char *msg) { (void)c, (void)code, (void)msg; }
static void single_free(struct xtc_comm *c) { (void)c; }

static const struct xtc_comm_ops single_ops = {
    .name = "single",
    .allreduce_start = single_allreduce_start,
    .wait = single_wait,
    .allreduce_f64 = single_allreduce_f64,
    .reduce_scatter = single_reduce_scatter,
    .reduce_scatter_start = single_reduce_scatter_start,
    .allgather = single_allgather,
    .gather = single_gather,
    .scatter = single_gather,
    .broadcast = single_broadcast,
    .barrier = single_barrier,
    .abort = single_abort,
    .free = single_free,
};

xtc_status xtc_comm_single_init(struct xtc_comm *c, struct xtc_error *err) {
    (void)err;
    *c = (struct xtc_comm){.ops = &single_ops, .rank = 0, .size = 1};
    return XTC_OK;
}

// --- the public calls

bool xtc_comm_has_mpi(void) {
#ifdef XTC_HAVE_MPI
    return true;
#else
    return false;
#endif
}

int xtc_comm_launched_size(void) {
    /* Open MPI, then PMI (MPICH's hydra, Slurm) and PMIx */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        char *end;
        long n = v ? strtol(v, &end, 10) : 0;
        if (v && *v && !*end && n >= 1 && n <= 1 << 24)
            return (int)n;
    }
    return 1;
}

static bool launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

xtc_status xtc_comm_create_single(xtc_comm_t *out, struct xtc_error *err) {
    if (!out)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_comm_create_single: NULL argument");
    *out = NULL;
    struct xtc_comm *c = calloc(1, sizeof *c);
    if (!c)
        XTC_FAIL(err, XTC_ERR_NOMEM, "communicator");
    xtc_comm_single_init(c, err);
    *out = c;
    return XTC_OK;
}

xtc_status xtc_comm_create(xtc_comm_t *out, struct xtc_error *err) {
    if (!out)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_comm_create: NULL argument");
    *out = NULL;
    int n = xtc_comm_launched_size();
#ifdef XTC_HAVE_MPI
    if (launched_by_mpi()) {
        struct xtc_comm *c = calloc(1, sizeof *c);
        if (!c)
            XTC_FAIL(err, XTC_ERR_NOMEM, "communicator");
        xtc_status rc = xtc_comm_mpi_init(c, err);
        if (rc != XTC_OK) {
            free(c);
            return rc;
        }
        *out = c;
        return XTC_OK;
    }
#else
    (void)launched_by_mpi;
    if (n > 1)
        XTC_FAIL(err, XTC_ERR_UNSUPPORTED,
                 "started by mpirun as one of %d processes, but this xtc was built without MPI: each process would "
                 "train alone. Rebuild with MPI (Debian: apt-get install openmpi-bin libopenmpi-dev, then cmake again) "
                 "or run one process", n);
#endif
    (void)n;
    return xtc_comm_create_single(out, err);
}

int xtc_comm_rank(const struct xtc_comm *c) { return c ? c->rank : 0; }
int xtc_comm_size(const struct xtc_comm *c) { return c ? c->size : 1; }
const char *xtc_comm_name(const struct xtc_comm *c) { return c ? c->ops->name : "single"; }

xtc_status xtc_comm_any(xtc_comm_t c, bool flag, bool *any, struct xtc_error *err) {
    if (!c || !any)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_comm_any: NULL argument");
    double v = flag ? 1.0 : 0.0;
    XTC_TRY(c->ops->allreduce_f64(c, &v, 1, err));
    *any = v > 0;
    return XTC_OK;
}

xtc_status xtc_comm_barrier(xtc_comm_t c, struct xtc_error *err) {
    if (!c)
        XTC_FAIL(err, XTC_ERR_ARG, "xtc_comm_barrier: NULL argument");
    return c->ops->barrier(c, err);
}

void xtc_comm_abort(xtc_comm_t c, int code, const char *msg) {
    if (c)
        c->ops->abort(c, code, msg);
}

void xtc_comm_free(xtc_comm_t c) {
    if (!c)
        return;
    c->ops->free(c);
    free(c);
}
