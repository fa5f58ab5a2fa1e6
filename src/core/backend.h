/* CPU backend switches (private side of xtc/backend.h). */
#ifndef XTC_CORE_BACKEND_H
#define XTC_CORE_BACKEND_H

#include <stdbool.h>

/* true when the scalar reference kernels are selected */
bool xtc_cpu_reference(void);

#endif
