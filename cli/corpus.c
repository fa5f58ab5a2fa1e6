/* xtc train's corpus: a regular file, or every regular file of a directory (not
 * recursive; symbolic links followed; hidden files and fortune's binary .dat
 * indexes skipped) concatenated in byte-wise name order. Anything else (a FIFO,
 * a device, a socket) is refused before it is opened for reading, so nothing
 * blocks; a read error or running out of memory is an error, never a shorter corpus. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static const char *kind(mode_t m) {
    return S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) || S_ISBLK(m) ? "a device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* Appends one regular file; non-zero (message printed) on any failure. */
static int append_file(struct buf *b, const char *path) {
    /* O_NONBLOCK: a FIFO swapped in after the stat opens without waiting for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        fprintf(stderr, "xtc train: cannot read %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    if (!S_ISREG(sb.st_mode)) {
        fprintf(stderr, "xtc train: %s is %s: only regular files (or directories of them) are corpora\n", path,
                kind(sb.st_mode));
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
                fprintf(stderr, "xtc train: out of memory reading %s (%zu bytes read so far)\n", path, b->len);
                close(fd);
                return 1;
            }
            b->p = p, b->cap = cap;
        }
        ssize_t r = read(fd, b->p + b->len, b->cap - b->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "xtc train: error reading %s: %s\n", path, strerror(errno));
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

/* The regular files of dir, sorted, into *out (*n of them); non-zero (message printed) on failure. */
static int list_dir(const char *dir, char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "xtc train: cannot read the directory %s: %s\n", dir, strerror(errno));
        return 1;
    }
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
        fprintf(stderr, "xtc train: error listing %s: %s\n", dir, strerror(errno));
        bad = 2;
    }
    closedir(d);
    if (bad) {
        if (bad == 1)
            fprintf(stderr, "xtc train: out of memory listing %s\n", dir);
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

uint8_t *xtc_cli_read_corpus(const char *path, size_t *len, size_t *n_files) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "xtc train: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct buf b = {0};
    int bad = 0;
    *n_files = 0;
    if (S_ISDIR(sb.st_mode)) {
        size_t n;
        char **names;
        if (list_dir(path, &names, &n) != 0)
            return NULL;
        for (size_t i = 0; i < n; i++) {
            bad = bad || append_file(&b, names[i]);
            free(names[i]);
        }
        free(names);
        *n_files = n;
    } else if (S_ISREG(sb.st_mode)) {
        bad = append_file(&b, path);
        *n_files = 1;
    } else {
        fprintf(stderr, "xtc train: %s is %s: only regular files (or directories of them) are corpora\n", path,
                kind(sb.st_mode));
        return NULL;
    }
    if (!bad && b.len == 0)
        fprintf(stderr, "xtc train: %s holds no text (%zu files read)\n", path, *n_files);
    if (bad || b.len == 0) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
