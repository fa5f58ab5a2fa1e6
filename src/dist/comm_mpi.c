/* The MPI communicator (Open MPI, MPICH): MPI_Iallreduce for the gradient buckets,
 * MPI_Ireduce_scatter for those of a sharded optimiser, blocking collectives for the rest. Errors come back as statuses (MPI_ERRORS_RETURN on
 * a duplicate of MPI_COMM_WORLD, so nothing xtc does changes the world's handler).
 * Compiled only when CMake finds MPI. MPI counts are ints: larger transfers go in
 * pieces where that is exact (broadcast, the f64 sums); a gradient bucket is kept
 * below INT_MAX floats by the trainer. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "dist/comm.h"

#define MAX_REQUESTS 4096

struct slot {
    MPI_Request req;
    double done_at; /* 0 while in flight */
    bool used;
    /* a reduce-scatter in place: MPI leaves this rank's part at buf, its place is buf + at;
     * MPI reads the counts until the operation completes */
    float *buf;
    size_t at, count;
    int *counts;
};

struct mpi_comm {
    MPI_Comm comm;
    bool finalize; /* we started MPI, so we end it */
    struct slot slots[MAX_REQUESTS];
};

static struct mpi_comm *impl(struct xtc_comm *c) { return c->impl; }

static xtc_status mpi_fail(struct xtc_error *err, int code, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, msg, &len);
    XTC_FAIL(err, XTC_ERR_BACKEND, "MPI %s failed: %s", what, msg);
}

#define MPI_TRY(call, what)                    \
    do {                                       \
        int rc_ = (call);                      \
        if (rc_ != MPI_SUCCESS)                \
            return mpi_fail(err, rc_, (what)); \
    } while (0)

static xtc_status free_slot(struct mpi_comm *m, int *i, struct xtc_error *err) {
    *i = 0;
    while (*i < MAX_REQUESTS && m->slots[*i].used)
        (*i)++;
    if (*i == MAX_REQUESTS)
        XTC_FAIL(err, XTC_ERR_ARG, "more than %d collectives in flight", MAX_REQUESTS);
    m->slots[*i] = (struct slot){.used = false};
    return XTC_OK;
}

static xtc_status mpi_allreduce_start(struct xtc_comm *c, float *buf, size_t n, int *req, struct xtc_error *err) {
    struct mpi_comm *m = impl(c);
    if (n > INT_MAX)
        XTC_FAIL(err, XTC_ERR_ARG, "all-reduce of %zu floats: at most INT_MAX at once", n);
    int i;
    XTC_TRY(free_slot(m, &i, err));
    MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, m->comm, &m->slots[i].req), "Iallreduce");
    m->slots[i].used = true;
    *req = i;
    return XTC_OK;
}

static xtc_status int_counts(const struct xtc_comm *c, const size_t *counts, int *cnt, int *displ,
                             struct xtc_error *err);

static xtc_status mpi_reduce_scatter_start(struct xtc_comm *c, float *buf, const size_t *counts, int *req,
                                           struct xtc_error *err) {
    struct mpi_comm *m = impl(c);
    int i;
    XTC_TRY(free_slot(m, &i, err));
    struct slot *s = &m->slots[i];
    s->counts = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (!s->counts)
        XTC_FAIL(err, XTC_ERR_NOMEM, "reduce-scatter counts");
    xtc_status rc = int_counts(c, counts, s->counts, s->counts + c->size, err);
    int e = rc == XTC_OK ? MPI_Ireduce_scatter(MPI_IN_PLACE, buf, s->counts, MPI_FLOAT, MPI_SUM, m->comm, &s->req)
                         : MPI_SUCCESS;
    if (rc != XTC_OK || e != MPI_SUCCESS) {
        free(s->counts);
        s->counts = NULL;
        return rc != XTC_OK ? rc : mpi_fail(err, e, "Ireduce_scatter");
    }
    s->used = true;
    s->buf = buf;
    s->at = (size_t)s->counts[c->size + c->rank];
    s->count = counts[c->rank];
    *req = i;
    return XTC_OK;
}

static void mpi_progress(struct xtc_comm *c) {
    struct mpi_comm *m = impl(c);
    for (int i = 0; i < MAX_REQUESTS; i++) {
        struct slot *s = &m->slots[i];
        int flag = 0;
        if (s->used && s->done_at == 0 && MPI_Test(&s->req, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag)
            s->done_at = xtc_comm_now();
    }
}

static xtc_status mpi_wait(struct xtc_comm *c, int req, double *done_at, struct xtc_error *err) {
    struct mpi_comm *m = impl(c);
    if (req < 0 || req >= MAX_REQUESTS || !m->slots[req].used)
        XTC_FAIL(err, XTC_ERR_ARG, "wait on an unknown request %d", req);
    struct slot *s = &m->slots[req];
    s->used = false;
    int rc = MPI_SUCCESS;
    if (s->done_at == 0) /* after a completed MPI_Test the request is MPI_REQUEST_NULL already */
        rc = MPI_Wait(&s->req, MPI_STATUS_IGNORE);
    free(s->counts);
    s->counts = NULL;
    if (rc != MPI_SUCCESS)
        return mpi_fail(err, rc, "Wait");
    if (s->done_at == 0)
        s->done_at = xtc_comm_now();
    if (s->buf && s->at > 0 && s->count > 0)
        memmove(s->buf + s->at, s->buf, sizeof(float) * s->count);
    *done_at = s->done_at;
    return XTC_OK;
}

static xtc_status mpi_allreduce_f64(struct xtc_comm *c, double *buf, size_t n, struct xtc_error *err) {
    for (size_t at = 0; at < n; at += INT_MAX) {
        int k = n - at < INT_MAX ? (int)(n - at) : INT_MAX;
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, buf + at, k, MPI_DOUBLE, MPI_SUM, impl(c)->comm), "Allreduce");
    }
    return XTC_OK;
}

/* per-rank counts and displacements as MPI's ints */
static xtc_status int_counts(const struct xtc_comm *c, const size_t *counts, int *cnt, int *displ,
                             struct xtc_error *err) {
    size_t at = 0;
    for (int r = 0; r < c->size; r++) {
        if (counts[r] > INT_MAX || at > INT_MAX)
            XTC_FAIL(err, XTC_ERR_ARG, "a shard of %zu floats at %zu: MPI counts are ints", counts[r], at);
        cnt[r] = (int)counts[r];
        displ[r] = (int)at;
        at += counts[r];
    }
    return XTC_OK;
}

static xtc_status mpi_reduce_scatter(struct xtc_comm *c, const float *send, float *recv, const size_t *counts,
                                     struct xtc_error *err) {
    int *cnt = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (!cnt)
        XTC_FAIL(err, XTC_ERR_NOMEM, "reduce-scatter counts");
    xtc_status rc = int_counts(c, counts, cnt, cnt + c->size, err);
    int e = rc == XTC_OK ? MPI_Reduce_scatter(send, recv, cnt, MPI_FLOAT, MPI_SUM, impl(c)->comm) : MPI_SUCCESS;
    free(cnt);
    if (e != MPI_SUCCESS)
        return mpi_fail(err, e, "Reduce_scatter");
    return rc;
}

static xtc_status mpi_allgather(struct xtc_comm *c, const float *send, float *recv, const size_t *counts,
                                struct xtc_error *err) {
    int *cnt = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (!cnt)
        XTC_FAIL(err, XTC_ERR_NOMEM, "all-gather counts");
    xtc_status rc = int_counts(c, counts, cnt, cnt + c->size, err);
    /* send may be this rank's part of recv already */
    const void *src = rc == XTC_OK && send == recv + cnt[c->size + c->rank] ? MPI_IN_PLACE : (const void *)send;
    int e = rc == XTC_OK ? MPI_Allgatherv(src, cnt[c->rank], MPI_FLOAT, recv, cnt, cnt + c->size, MPI_FLOAT,
                                          impl(c)->comm)
                         : MPI_SUCCESS;
    free(cnt);
    if (e != MPI_SUCCESS)
        return mpi_fail(err, e, "Allgatherv");
    return rc;
}

static xtc_status mpi_gather(struct xtc_comm *c, const float *send, float *recv, const size_t *counts, int root,
                             struct xtc_error *err) {
    int *cnt = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (!cnt)
        XTC_FAIL(err, XTC_ERR_NOMEM, "gather counts");
    xtc_status rc = int_counts(c, counts, cnt, cnt + c->size, err);
    int e = rc == XTC_OK ? MPI_Gatherv(send, cnt[c->rank], MPI_FLOAT, recv, cnt, cnt + c->size, MPI_FLOAT, root,
                                       impl(c)->comm)
                         : MPI_SUCCESS;
    free(cnt);
    if (e != MPI_SUCCESS)
        return mpi_fail(err, e, "Gatherv");
    return rc;
}

static xtc_status mpi_scatter(struct xtc_comm *c, const float *send, float *recv, const size_t *counts, int root,
                              struct xtc_error *err) {
    int *cnt = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (!cnt)
        XTC_FAIL(err, XTC_ERR_NOMEM, "scatter counts");
    xtc_status rc = int_counts(c, counts, cnt, cnt + c->size, err);
    int e = rc == XTC_OK ? MPI_Scatterv(send, cnt, cnt + c->size, MPI_FLOAT, recv, cnt[c->rank], MPI_FLOAT, root,
                                        impl(c)->comm)
                         : MPI_SUCCESS;
    free(cnt);
    if (e != MPI_SUCCESS)
        return mpi_fail(err, e, "Scatterv");
    return rc;
}

static xtc_status mpi_broadcast(struct xtc_comm *c, void *buf, size_t bytes, int root, struct xtc_error *err) {
    for (size_t at = 0; at < bytes; at += INT_MAX) {
        int k = bytes - at < INT_MAX ? (int)(bytes - at) : INT_MAX;
        MPI_TRY(MPI_Bcast((char *)buf + at, k, MPI_BYTE, root, impl(c)->comm), "Bcast");
    }
    return XTC_OK;
}

static xtc_status mpi_barrier(struct xtc_comm *c, struct xtc_error *err) {
    MPI_TRY(MPI_Barrier(impl(c)->comm), "Barrier");
    return XTC_OK;
}

static void mpi_abort(struct xtc_comm *c, int code, const char *msg) {
    if (msg)
        xtc_log(XTC_LOG_ERROR, "rank %d of %d ends the job: %s", c->rank, c->size, msg);
    MPI_Abort(MPI_COMM_WORLD, code);
}

static void mpi_free(struct xtc_comm *c) {
    struct mpi_comm *m = impl(c);
    if (!m)
        return;
    MPI_Comm_free(&m->comm);
    if (m->finalize)
        MPI_Finalize();
    free(m);
    c->impl = NULL;
}

static const struct xtc_comm_ops mpi_ops = {
    .name = "mpi",
    .allreduce_start = mpi_allreduce_start,
    .progress = mpi_progress,
    .wait = mpi_wait,
    .allreduce_f64 = mpi_allreduce_f64,
    .reduce_scatter = mpi_reduce_scatter,
    .reduce_scatter_start = mpi_reduce_scatter_start,
    .allgather = mpi_allgather,
    .gather = mpi_gather,
    .scatter = mpi_scatter,
    .broadcast = mpi_broadcast,
    .barrier = mpi_barrier,
    .abort = mpi_abort,
    .free = mpi_free,
};

xtc_status xtc_comm_mpi_init(struct xtc_comm *c, struct xtc_error *err) {
    struct mpi_comm *m = calloc(1, sizeof *m);
    if (!m)
        XTC_FAIL(err, XTC_ERR_NOMEM, "MPI communicator");
    int inited = 0, rc = MPI_Initialized(&inited);
    if (rc == MPI_SUCCESS && !inited) {
        /* only the thread that made the communicator calls MPI (OpenMP threads never do) */
        int provided;
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        m->finalize = rc == MPI_SUCCESS;
    }
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_dup(MPI_COMM_WORLD, &m->comm);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_set_errhandler(m->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_rank(m->comm, &c->rank);
    if (rc == MPI_SUCCESS)
        rc = MPI_Comm_size(m->comm, &c->size);
    if (rc != MPI_SUCCESS) {
        free(m);
        return mpi_fail(err, rc, "initialisation");
    }
    c->ops = &mpi_ops;
    c->impl = m;
    return XTC_OK;
}
