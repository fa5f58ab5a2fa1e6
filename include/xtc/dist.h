/* xtc — processes training one model together (data parallelism).
 *
 * A communicator (xtc_comm_t) joins the processes of a job: the trainer uses it to
 * share out every global batch and to sum gradients (xtc_trainer_share). A job
 * started by mpirun (Open MPI, MPICH) uses MPI when libxtc was built with it; a
 * process started on its own is a job of one. */
#ifndef XTC_DIST_H
#define XTC_DIST_H

#include <stdbool.h>

#include "xtc/export.h"
#include "xtc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xtc_comm *xtc_comm_t;

/* True when this libxtc was built with MPI. */
XTC_API bool xtc_comm_has_mpi(void);

/* How many processes the launcher says the job has (OMPI_COMM_WORLD_SIZE, PMI_SIZE,
 * PMIX_SIZE...): 1 for a process not started by an MPI launcher. Reads the environment only. */
XTC_API int xtc_comm_launched_size(void);

/* The communicator of this process's job: MPI (initialised here, finalised by
 * xtc_comm_free) when an MPI launcher started the process and libxtc has MPI, else a
 * job of one process. Errors: XTC_ERR_UNSUPPORTED (started by mpirun as one of several
 * processes, but libxtc was built without MPI: each process would train alone),
 * XTC_ERR_BACKEND (MPI failed to start), XTC_ERR_NOMEM. One per process; not thread-safe. */
XTC_API xtc_status xtc_comm_create(xtc_comm_t *out, struct xtc_error *err);

/* A job of one process, whatever the environment says (tests, embedding programs). */
XTC_API xtc_status xtc_comm_create_single(xtc_comm_t *out, struct xtc_error *err);

XTC_API int xtc_comm_rank(const struct xtc_comm *c);         /* 0 .. size - 1 */
XTC_API int xtc_comm_size(const struct xtc_comm *c);
XTC_API const char *xtc_comm_name(const struct xtc_comm *c); /* "single", "mpi" */

/* *any = whether flag is true on at least one process (a collective: every process calls
 * it). Lets a job stop at the same step everywhere. Errors: XTC_ERR_BACKEND. */
XTC_API xtc_status xtc_comm_any(xtc_comm_t c, bool flag, bool *any, struct xtc_error *err);

/* Waits until every process has reached it. Errors: XTC_ERR_BACKEND. */
XTC_API xtc_status xtc_comm_barrier(xtc_comm_t c, struct xtc_error *err);

/* Ends every process of the job with exit status code, after msg (may be NULL) reaches
 * the launcher; the one call of libxtc that does not return, for a caller that cannot go
 * on while the other processes wait for it in a collective. A job of one process returns
 * without doing anything: the caller exits as it would anyway. */
XTC_API void xtc_comm_abort(xtc_comm_t c, int code, const char *msg);

/* Finalises MPI when xtc_comm_create started it. NULL is fine. */
XTC_API void xtc_comm_free(xtc_comm_t c);

#ifdef __cplusplus
}
#endif
#endif
