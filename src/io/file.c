/* Whole small text files, regular files only (xtc/file.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"
#include "xtc/file.h"

char *xtc_file_read_text(const char *path, size_t max_bytes, size_t *len, struct xtc_error *err) {
    if (!path || !len) {
        xtc_error_set(err, XTC_ERR_ARG, "xtc_file_read_text: NULL argument");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* O_NONBLOCK: a FIFO must not block the open */
    struct stat sb;
    char *buf = NULL;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        xtc_error_set(err, XTC_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    } else if (!S_ISREG(sb.st_mode)) {
        xtc_error_set(err, XTC_ERR_IO, "%s is not a regular file", path);
    } else if ((size_t)sb.st_size > max_bytes) {
        xtc_error_set(err, XTC_ERR_IO, "%s is larger than %zu bytes", path, max_bytes);
    } else if (!(buf = malloc((size_t)sb.st_size + 1))) {
        xtc_error_set(err, XTC_ERR_NOMEM, "out of memory reading %s (%lld bytes)", path, (long long)sb.st_size);
    } else {
        size_t n = 0;
        ssize_t r = 1;
        while (n < (size_t)sb.st_size && (r = read(fd, buf + n, (size_t)sb.st_size - n)) > 0)
            n += (size_t)r;
        if (r < 0) {
            xtc_error_set(err, XTC_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            *len = n;
        }
    }
    if (fd >= 0)
        close(fd);
    return buf;
}
