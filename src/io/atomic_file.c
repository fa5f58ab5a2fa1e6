/* Atomic file replacement (see atomic_file.h). */
#define _POSIX_C_SOURCE 200809L
#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

void xtc_sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* write(2) until done; 0 on success */
static int write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t w = write(fd, p, chunk);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

xtc_status xtc_write_chunks_atomic(const char *path, const struct xtc_chunk *chunks, size_t n,
                                   struct xtc_error *err) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        XTC_FAIL(err, XTC_ERR_NOMEM, "out of memory allocating a temporary path");
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        xtc_status rc = xtc_error_set(err, XTC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    /* mkstemp creates 0600; checkpoints and models are ordinary readable files */
    int ok = fchmod(fd, 0644) == 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = chunks[i].len == 0 || write_all(fd, chunks[i].data, chunks[i].len) == 0;
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    ok &= close(fd) == 0;
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp);
        xtc_status rc = xtc_error_set(err, XTC_ERR_IO, "cannot write %s: %s", path, strerror(saved ? saved : EIO));
        free(tmp);
        return rc;
    }
    free(tmp);
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        xtc_sync_dir(slash ? (dir[0] ? dir : "/") : ".");
        free(dir);
    }
    return XTC_OK;
}

xtc_status xtc_write_file_atomic(const char *path, const void *data, size_t len, struct xtc_error *err) {
    struct xtc_chunk c = {data, len};
    return xtc_write_chunks_atomic(path, &c, 1, err);
}
