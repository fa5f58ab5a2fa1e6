/* The communicator interface: the collectives data-parallel training needs, one
 * table per implementation (comm_single.c, comm_mpi.c; a NCCL one would take
 * device pointers for the float buffers). The gradient sum is split into a start
 * and a wait so that a backward pass can go on while earlier buckets travel.
 * Every entry returns an xtc_status with a message; none prints or exits (abort
 * excepted, which the caller asks for explicitly). */
#ifndef XTC_DIST_COMM_H
#define XTC_DIST_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "xtc/dist.h"

struct xtc_comm;

struct xtc_comm_ops {
    const char *name;
    /* In-place sum over all ranks of buf[0 .. n), started; *req names it for progress / wait.
     * buf must stay untouched until wait returns. */
    xtc_status (*allreduce_start)(struct xtc_comm *c, float *buf, size_t n, int *req, struct xtc_error *err);
    /* Lets started operations advance (MPI progresses non-blocking collectives only inside
     * MPI calls) and notes when each completes. Optional (NULL). */
    void (*progress)(struct xtc_comm *c);
    /* Waits for a started operation; *done_at gets the monotonic time it was first seen
     * complete (by progress or by this wait). */
    xtc_status (*wait)(struct xtc_comm *c, int req, double *done_at, struct xtc_error *err);
    /* Blocking in-place sums of a few doubles (losses, flags). */
    xtc_status (*allreduce_f64)(struct xtc_comm *c, double *buf, size_t n, struct xtc_error *err);
    /* send holds counts[0] + ... + counts[size-1] floats; recv gets this rank's part of their
     * sum over ranks (counts[rank] floats). For an optimiser whose state is sharded. */
    xtc_status (*reduce_scatter)(struct xtc_comm *c, const float *send, float *recv, const size_t *counts,
                                 struct xtc_error *err);
    /* The sharded optimiser's gradient sum: buf holds counts[0] + ... + counts[size-1] floats
     * and is summed over ranks in place, but each rank receives only its own part: once wait
     * returns, buf + counts[0] + ... + counts[rank-1] holds this rank's counts[rank] floats of
     * the sum, at the place they had in buf (the rest of buf is left undefined). Started like
     * allreduce_start; counts may be reused once it returns. */
    xtc_status (*reduce_scatter_start)(struct xtc_comm *c, float *buf, const size_t *counts, int *req,
                                       struct xtc_error *err);
    /* recv gets every rank's counts[r] floats of send, in rank order. */
    xtc_status (*allgather)(struct xtc_comm *c, const float *send, float *recv, const size_t *counts,
                            struct xtc_error *err);
    /* root's recv gets every rank's counts[r] floats of send, in rank order (recv is read only on
     * root). For writing a sharded state whole. */
    xtc_status (*gather)(struct xtc_comm *c, const float *send, float *recv, const size_t *counts, int root,
                         struct xtc_error *err);
    /* recv gets this rank's counts[rank] floats of root's send (the ranks' parts in rank order;
     * send is read only on root). For sharding a state read whole. */
    xtc_status (*scatter)(struct xtc_comm *c, const float *send, float *recv, const size_t *counts, int root,
                          struct xtc_error *err);
    /* bytes of buf from root to every rank. */
    xtc_status (*broadcast)(struct xtc_comm *c, void *buf, size_t bytes, int root, struct xtc_error *err);
    xtc_status (*barrier)(struct xtc_comm *c, struct xtc_error *err);
    void (*abort)(struct xtc_comm *c, int code, const char *msg);
    void (*free)(struct xtc_comm *c);
};

struct xtc_comm {
    const struct xtc_comm_ops *ops;
    int rank, size;
    void *impl;
};

/* Monotonic seconds, for the communication timings. */
double xtc_comm_now(void);

xtc_status xtc_comm_single_init(struct xtc_comm *c, struct xtc_error *err);
#ifdef XTC_HAVE_MPI
xtc_status xtc_comm_mpi_init(struct xtc_comm *c, struct xtc_error *err);
#endif

#endif
