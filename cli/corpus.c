/* xtc train's corpus: a regular file, or every regular file of a directory (not
 * recursive; symbolic links followed; hidden files and fortune's binary .dat
 * indexes skipped) concatenated in byte-wise name order. Anything else (a FIFO,
 * a device, a socket) is refused before it is opened for reading, so nothing
 * blocks; a read error or running out of memory is an error, never a shorter corpus. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Messages go to the caller's buffer (the reader is also run by a fuzz target); returns 1. */
__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static const char *kind(mode_t m) {
    return S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) || S_ISBLK(m) ? "a device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Appends one regular file; non-zero (message in err) on any failure. */
static int append_file(struct buf *b, const char *path, char *err, size_t err_len) {
    /* O_NONBLOCK: a FIFO swapped in after the stat opens without waiting for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        fail(err, err_len, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    if (!S_ISREG(sb.st_mode)) {
        fail(err, err_len, "%s is %s: only regular files (or directories of them) are corpora", path, kind(sb.st_mode));
        close(fd);
        return 1;
    }
    for (;;) {
        if (b->cap - b->len < 65536) {
            size_t want = b->len + (size_t)sb.st_size + 65536, cap = b->cap ? b->cap : 65536;
            while (cap < want && cap < SIZE_MAX / 2)
                cap *= 2;
            uint8_t *p = realloc(b->p, cap);
            if (!p) {
                fail(err, err_len, "out of memory reading %s (%zu bytes read so far)", path, b->len);
                close(fd);
                return 1;
            }
            b->p = p, b->cap = cap;
        }
        ssize_t r = read(fd, b->p + b->len, b->cap - b->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fail(err, err_len, "error reading %s: %s", path, strerror(errno));
            close(fd);
            return 1;
        }
        if (r == 0)
            break;
        b->len += (size_t)r;
    }
    close(fd);
    return 0;
}

/* The regular files of dir, sorted, into *out (*n of them); non-zero (message in err) on failure. */
static int list_dir(const char *dir, char ***out, size_t *n, char *err, size_t err_len) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return fail(err, err_len, "cannot read the directory %s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    int bad = 0;
    errno = 0;
    while (!bad && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || (l > 4 && strcmp(e->d_name + l - 4, ".dat") == 0))
            continue; /* hidden files; fortune's .dat index files are binary */
        char *full = malloc(strlen(dir) + l + 2);
        if (!full) {
            bad = 1;
            break;
        }
        sprintf(full, "%s/%s", dir, e->d_name);
        struct stat fs;
        if (stat(full, &fs) != 0 || !S_ISREG(fs.st_mode)) { /* follows symbolic links */
            free(full);
            errno = 0;
            continue;
        }
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 256;
            char **p = realloc(names, nc * sizeof *names);
            if (!p) {
                free(full);
                bad = 1;
                break;
            }
            names = p, cap = nc;
        }
        names[(*n)++] = full;
        errno = 0;
    }
    if (!bad && errno != 0) {
        fail(err, err_len, "error listing %s: %s", dir, strerror(errno));
        bad = 2;
    }
    closedir(d);
    if (bad) {
        if (bad == 1)
            fail(err, err_len, "out of memory listing %s", dir);
        for (size_t i = 0; i < *n; i++)
            free(names[i]);
        free(names);
        *n = 0;
        return 1;
    }
    if (*n)
        qsort(names, *n, sizeof names[0], cmp_str);
    *out = names;
    return 0;
}

uint8_t *xtc_cli_read_corpus(const char *path, size_t *len, size_t *n_files, char *err, size_t err_len) {
    struct stat sb;
    *n_files = 0;
    if (!path[0]) {
        fail(err, err_len, "the corpus path is empty");
        return NULL;
    }
    if (stat(path, &sb) != 0) {
        fail(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    struct buf b = {0};
    int bad = 0;
    if (S_ISDIR(sb.st_mode)) {
        size_t n;
        char **names;
        if (list_dir(path, &names, &n, err, err_len) != 0)
            return NULL;
        for (size_t i = 0; i < n; i++) {
            bad = bad || append_file(&b, names[i], err, err_len);
            free(names[i]);
        }
        free(names);
        *n_files = n;
    } else if (S_ISREG(sb.st_mode)) {
        bad = append_file(&b, path, err, err_len);
        *n_files = 1;
    } else {
        fail(err, err_len, "%s is %s: only regular files (or directories of them) are corpora", path, kind(sb.st_mode));
        return NULL;
    }
    if (!bad && b.len == 0)
        fail(err, err_len, "%s holds no text (%zu files read)", path, *n_files);
    if (bad || b.len == 0) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
