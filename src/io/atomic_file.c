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

xtc_status xtc_write_file_atomic(const char *path, const void *data, size_t len, struct xtc_error *err) {
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp)
        XTC_FAIL(err, XTC_ERR_NOMEM, "path");
    snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd >= 0)
        fchmod(fd, 0644); /* mkstemp creates 0600; checkpoints are ordinary files */
    if (fd < 0) {
        xtc_status rc = xtc_error_set(err, XTC_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        left -= (size_t)w;
    }
    int ok = left == 0 && fsync(fd) == 0;
    int saved = errno;
    ok &= close(fd) == 0;
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp);
        xtc_status rc = xtc_error_set(err, XTC_ERR_IO, "cannot write %s: %s", path, strerror(saved));
        free(tmp);
        return rc;
    }
    free(tmp);
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        xtc_sync_dir(slash ? dir : ".");
        free(dir);
    }
    return XTC_OK;
}
