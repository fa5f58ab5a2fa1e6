/* xtc — reading the small text files xtc takes (configs, case files). */
#ifndef XTC_FILE_H
#define XTC_FILE_H

#include <stddef.h>

#include "xtc/export.h"
#include "xtc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The whole of path (at most max_bytes), NUL-terminated, in a new buffer the caller frees;
 * *len gets its length. Only a regular file (after symlinks) is read: a FIFO would block, a
 * device never end, a directory is refused by name (the open itself never waits). Returns
 * NULL with XTC_ERR_IO (the message names the file and the errno, or what the file is),
 * or XTC_ERR_NOMEM, in err. Thread safety: reentrant. */
XTC_API char *xtc_file_read_text(const char *path, size_t max_bytes, size_t *len, struct xtc_error *err);

#ifdef __cplusplus
}
#endif
#endif
