/* xtc — compute backends. The CPU backend (OpenBLAS + OpenMP) is the reference
 * and the default. */
#ifndef XTC_BACKEND_H
#define XTC_BACKEND_H

#ifdef __cplusplus
extern "C" {
#endif

/* Sets the one thread budget shared by xtc's OpenMP loops and OpenBLAS (n >= 1),
 * so the two never oversubscribe the cores. The default is OpenMP's
 * (OMP_NUM_THREADS, else the number of cores). Process-wide; call it before
 * running models, not while another thread is inside the library. */
void xtc_set_num_threads(int n);

/* The current budget. */
int xtc_get_num_threads(void);

/* Selects the plain scalar reference kernels instead of the fast ones (ggml's use_ref):
 * slower, kept to test the fast paths against and to debug. Process-wide. */
void xtc_backend_cpu_set_reference(int use_reference);

#ifdef __cplusplus
}
#endif
#endif
