/* Atomic file replacement (private): temporary file in the same directory,
 * fsync, rename, fsync of the directory. Readers see the old file or the new
 * one, never a torn one, also when the process is killed midway. */
#ifndef XTC_ATOMIC_FILE_H
#define XTC_ATOMIC_FILE_H

#include <stddef.h>

#include "xtc/status.h"

struct xtc_chunk {
    const void *data;
    size_t len;
};

/* Writes the chunks one after the other as the new content of path. */
xtc_status xtc_write_chunks_atomic(const char *path, const struct xtc_chunk *chunks, size_t n,
                                   struct xtc_error *err);
xtc_status xtc_write_file_atomic(const char *path, const void *data, size_t len, struct xtc_error *err);
/* fsync of a directory, so that renames inside it are durable. */
void xtc_sync_dir(const char *dir);

#endif
